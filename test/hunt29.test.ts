// Stop 29's hunt in what stop 28 added (the PCI NIC and filter trials, NBL context,
// R6.14 Flags_Irql, the shrinking horizon): each test drives a driver the way the
// Microsoft docs allow, or get wrong, and expects no rule broken, or the rule.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisAdvanceNetBufferDataStart,
  NdisAllocateMdl,
  NdisAllocateNetBuffer,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferList,
  NdisAllocateNetBufferListContext,
  NdisAllocateNetBufferListPool,
  NdisAllocateNetBufferPool,
  NdisDevicePnPEventSurpriseRemoved,
  NdisFDeregisterFilterDriver,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisFreeMdl,
  NdisFreeNetBuffer,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListContext,
  NdisFreeNetBufferListPool,
  NdisFreeNetBufferPool,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisMUnmapIoSpace,
  NdisRetreatNetBufferDataStart,
  NdisRetreatNetBufferListDataStart,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
  World,
} from '../src/index.ts';
import { foldRepeats, numbersOut } from '../src/report/format.ts';
import { removedScripted, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const tag = 0x39327568; // 'hu29'

function nblPool(a: TestAdapter): NDIS_HANDLE {
  return NdisAllocateNetBufferListPool(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: false,
    ContextSize: 0,
    PoolTag: tag,
    DataSize: 0,
  })!;
}

function nbPool(a: TestAdapter): NDIS_HANDLE {
  return NdisAllocateNetBufferPool(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
    PoolTag: tag,
    DataSize: 0,
  })!;
}

/** `body` in MiniportInitializeEx of a scripted miniport on nic0 (removed at 1 s), collect mode. */
function inInit(name: string, body: (a: TestAdapter) => void) {
  return removedScripted(name, {
    initialize: (a) => {
      body(a);
      return NDIS_STATUS_SUCCESS;
    },
  }).r;
}

const rules = (r: ReturnType<typeof inInit>) => r.violations.map((v) => [v.rule, v.ddi]);

test('NdisRetreatNetBufferListDataStart that fails rolls back only what it did: memory an earlier retreat allocated, which the driver kept with an advance without FreeMdl (nf-nblapi-ndisadvancenetbufferdatastart: "NDIS retains unused MDLs for use in subsequent retreat operations"), is neither freed nor taken off the NET_BUFFER', () => {
  const seen: Record<string, unknown> = {};
  const r = inInit('retreat-keep', (a) => {
    const lp = nblPool(a);
    const bp = nbPool(a);
    const f1 = new Uint8Array(64);
    const f2 = new Uint8Array(64);
    const nbl = NdisAllocateNetBufferList(lp, 0, 0)!;
    const nb1 = NdisAllocateNetBuffer(bp, f1, 2, 40)!;
    const nb2 = NdisAllocateNetBuffer(bp, f2, 2, 30)!;
    nbl.FirstNetBuffer = nb1;
    nb1.Next = nb2;
    const freed: Uint8Array[] = [];
    const free = (m: Uint8Array) => freed.push(m);
    // nb1 gets 16 bytes of new memory in front, given back without FreeMdl: kept.
    let mdl: Uint8Array | null = null;
    const one = NdisRetreatNetBufferDataStart(nb1, 16, 0, (size) => {
      mdl = new Uint8Array(size);
      return mdl;
    });
    NdisAdvanceNetBufferDataStart(nb1, 16, false, null);
    const kept = nb1.Data;
    seen.kept = [one, kept !== f1, nb1.DataOffset, nb1.DataLength];
    // 4 bytes each: nb1 has them unused in front (no memory), nb2 needs memory and gets none.
    const failed = NdisRetreatNetBufferListDataStart(nbl, 4, 0, () => null, free);
    seen.failed = [failed, freed.length, nb1.Data === kept, nb1.DataOffset, nb1.DataLength];
    seen.nb2 = [nb2.Data === f2, nb2.DataOffset, nb2.DataLength];
    // The kept memory is still the driver's to give back: a retreat into it and an
    // advance with FreeMdl hand NetFreeMdl that MDL, and nb1 is over f1 again.
    NdisRetreatNetBufferDataStart(nb1, 16, 0, null);
    NdisAdvanceNetBufferDataStart(nb1, 16, true, free);
    seen.end = [freed.length, freed[0] === mdl, nb1.Data === f1, nb1.DataOffset, nb1.DataLength];
    NdisFreeNetBufferList(nbl);
    NdisFreeNetBuffer(nb1);
    NdisFreeNetBuffer(nb2);
    NdisFreeNetBufferPool(bp);
    NdisFreeNetBufferListPool(lp);
  });
  assert.deepEqual(seen, {
    kept: [NDIS_STATUS_SUCCESS, true, 16, 40],
    failed: [NDIS_STATUS_RESOURCES, 0, true, 16, 40],
    nb2: [true, 2, 30],
    end: [1, true, true, 2, 40],
  });
  assert.deepEqual(rules(r), []);
});

test('NdisSim_UnmapIoSpaceOutsideInitHalt (nf-ndis-ndismunmapiospace: "can be called only from a miniport driver\'s MiniportInitializeEx and MiniportHaltEx functions"): a miniport that unmaps its registers in MiniportDevicePnPEventNotify when surprise-removed is reported once, there; unmapping in MiniportHaltEx is not', () => {
  const hooks = (early: boolean) => ({
    devicePnPEventNotify: (a: TestAdapter, ev: { DevicePnPEvent: number }) => {
      if (!early || ev.DevicePnPEvent !== NdisDevicePnPEventSurpriseRemoved || a.space === null) return;
      NdisMUnmapIoSpace(a.handle, a.space, a.spaceBytes);
      a.space = null;
    },
  });
  const world = (early: boolean) =>
    testWorld({
      drivers: [scriptedDriver(early ? 'unmap-on-surprise' : 'unmap-in-halt', hooks(early))],
      devices: [{ name: 'nic0', driver: early ? 'unmap-on-surprise' : 'unmap-in-halt' }],
      actions: [{ atNs: 100 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
      options: { verifier: 'collect' },
    }).run(ns.s);
  const bad = world(true);
  assert.deepEqual(
    bad.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_UnmapIoSpaceOutsideInitHalt', 'NdisMUnmapIoSpace', 'nic0']],
  );
  assert.match(bad.violations[0]!.message, /MiniportDevicePnPEventNotify/);
  assert.deepEqual(world(false).violations, [], 'unmapped in MiniportHaltEx: no rule broken');
});

/**
 * nic0 of healthy-nic receiving 200 frames a second under `filters` (the one nearest the
 * miniport first), removed at 300 ms, run to 1 s in collect mode.
 */
function underFilters(filters: DriverModule[]) {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  for (const f of filters) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 100, returnDelayNs: ns.ms } });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 200, rxFrameBytes: 100 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(300 * ns.ms, { kind: 'remove', device: 'nic0' });
  return { w, r: w.run(ns.s) };
}

/**
 * A filter that, for each receive from below it passes on, indicates a 60-byte frame of
 * its own with NDIS_RECEIVE_FLAGS_RESOURCES (so it is the filter's again when the call
 * returns) and frees it. `own` collects its NBLs.
 */
function resourcesOriginator(own: Set<NET_BUFFER_LIST>, sent: { n: number }): DriverModule {
  return variantOfMonitorLwf('rx-origin', 'indicates frames of its own with RESOURCES', (ch) => {
    const pools = new Map<unknown, NDIS_HANDLE>();
    ch.RestartHandler = (m) => {
      m.running = true;
      pools.set(
        m,
        NdisAllocateNetBufferListPool(m.handle, {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
          ProtocolId: 0,
          fAllocateNetBuffer: true,
          ContextSize: 0,
          PoolTag: tag,
          DataSize: 0,
        })!,
      );
      return NDIS_STATUS_SUCCESS;
    };
    ch.PauseHandler = (m) => {
      m.running = false;
      NdisFreeNetBufferListPool(pools.get(m)!);
      pools.delete(m);
      return NDIS_STATUS_SUCCESS;
    };
    ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      const pool = pools.get(m);
      if (!m.running || pool === undefined) return;
      const mdl = NdisAllocateMdl(m.handle, new Uint8Array(60), 60)!;
      const x = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, mdl, 0, 60)!;
      x.SourceHandle = m.handle;
      own.add(x);
      sent.n++;
      const at = flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL;
      NdisFIndicateReceiveNetBufferLists(m.handle, x, port, 1, at | NDIS_RECEIVE_FLAGS_RESOURCES);
      own.delete(x);
      NdisFreeNetBufferList(x);
      NdisFreeMdl(mdl);
    };
    withStatusPassedOn(ch);
  });
}

/** A filter above that takes 16 bytes of context in the originator's NBLs, and frees them after the indication returns, or not. */
function contextTaker(own: Set<NET_BUFFER_LIST>, frees: boolean): DriverModule {
  return variantOfMonitorLwf(frees ? 'ctx-frees' : 'ctx-keeps', 'takes context in receives', (ch) => {
    ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      const mine: NET_BUFFER_LIST[] = [];
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
        if (own.has(x) && (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0) {
          assert.equal(NdisAllocateNetBufferListContext(x, 16, 0, tag), NDIS_STATUS_SUCCESS);
          mine.push(x);
        }
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      if (frees) for (const x of mine) NdisFreeNetBufferListContext(x, 16);
    };
    withStatusPassedOn(ch);
  });
}

test('NdisSim_NblContext for a receive a filter originates with NDIS_RECEIVE_FLAGS_RESOURCES: a filter above that keeps context space in it is reported when NdisFIndicateReceiveNetBufferLists returns and the NBL is its originator’s again; one that frees it then breaks no rule', () => {
  for (const frees of [true, false]) {
    const own = new Set<NET_BUFFER_LIST>();
    const sent = { n: 0 };
    const { r } = underFilters([resourcesOriginator(own, sent), contextTaker(own, frees)]);
    assert.ok(sent.n > 20, `${sent.n} frames of its own indicated`);
    const got = r.violations.map((v) => [v.rule, v.ddi]);
    if (frees) assert.deepEqual(got, [], 'the taker frees its space: nothing to report');
    else {
      assert.deepEqual(got[0], ['NdisSim_NblContext', 'NdisFIndicateReceiveNetBufferLists']);
      assert.match(r.violations[0]!.message, /ctx-keeps left 16 byte\(s\).*back with its owner rx-origin/);
    }
  }
});

test('NdisAllocateNetBufferListContext and NdisFreeNetBufferListContext with ContextSize 0, a multiple of sizeof(void*) as their pages ask, take and give back nothing: a filter whose per-NBL state is empty in this build breaks no rule (it was stopped as NdisSim_BadParameter)', () => {
  const seen = { status: [] as number[], received: 0 };
  const f = variantOfMonitorLwf('ctx-empty', 'keeps an empty per-NBL state', (ch) => {
    ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next, seen.received++)
        seen.status.push(NdisAllocateNetBufferListContext(x, 0, 0, tag));
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
    };
    ch.ReturnNetBufferListsHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) NdisFreeNetBufferListContext(x, 0);
      NdisFReturnNetBufferLists(m.handle, nbls, flags);
    };
    withStatusPassedOn(ch);
  });
  const { r } = underFilters([f]);
  assert.deepEqual(
    r.violations.map((v) => `${v.rule}: ${v.message}`),
    [],
  );
  assert.equal(r.bugCheck, null, 'no bug check');
  assert.ok(seen.received > 20, `${seen.received} receives`);
  assert.ok(
    seen.status.every((s) => s === NDIS_STATUS_SUCCESS),
    'NdisAllocateNetBufferListContext(0) succeeds',
  );
});

test('NdisSim_NblContext: a filter that frees its context space in a send after NdisFSendNetBufferLists returns, when the NBL is the miniport’s (or back with tcpip), is reported at NdisFreeNetBufferListContext: it does not hold the NBL then', () => {
  const seen = { sent: 0 };
  const f = variantOfMonitorLwf('ctx-after-send', 'frees its context after passing the send on', (ch) => {
    ch.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      if (!m.running) {
        for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) x.Status = NDIS_STATUS_PAUSED;
        const at = flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0;
        NdisFSendNetBufferListsComplete(m.handle, nbls, at);
        return;
      }
      const mine: NET_BUFFER_LIST[] = [];
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next, seen.sent++) {
        assert.equal(NdisAllocateNetBufferListContext(x, 16, 0, tag), NDIS_STATUS_SUCCESS);
        mine.push(x);
      }
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
      for (const x of mine) NdisFreeNetBufferListContext(x, 16);
    };
    ch.SendNetBufferListsCompleteHandler = (m, nbls, flags) =>
      NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
    withStatusPassedOn(ch);
  });
  const { r } = underFilters([f]);
  assert.ok(seen.sent > 10, `${seen.sent} sends`);
  const first = r.violations[0];
  assert.deepEqual([first?.rule, first?.ddi], ['NdisSim_NblContext', 'NdisFreeNetBufferListContext']);
  assert.match(first!.message, /ctx-after-send .*NBL #\d+, which (healthy-nic|tcpip) holds/);
});

test('filterAttach in-registration: a DriverEntry that fails after NdisFRegisterFilterDriver and deregisters first, as ndislwf does when its control device cannot be made, is not blamed (NdisSim_FilterRegistration); NdisFDeregisterFilterDriver detaches the module attached inside the registration with FilterDetach (unloading-a-filter-driver), once', () => {
  let driver: { handle: NDIS_HANDLE | null } | null = null;
  const base = variantOfMonitorLwf('fails-clean', 'deregisters, then fails DriverEntry', (_c, d) => {
    driver = d;
  });
  const f: DriverModule = {
    ...base,
    load: () => {
      const image = base.load();
      return {
        DriverEntry: (o, p) => {
          const s = image.DriverEntry(o, p);
          if (s !== NDIS_STATUS_SUCCESS) return s;
          // FilterRegisterDevice failed: undo the registration and fail.
          NdisFDeregisterFilterDriver(driver!.handle!);
          return NDIS_STATUS_FAILURE;
        },
      };
    },
  };
  for (const mandatory of [false, true]) {
    const w = new World({ seed: 1, verifier: 'collect', ndis: { filterAttach: 'in-registration' } });
    w.addDriver(healthyNic);
    w.addDriver(f);
    w.addFilter(f.name, { mandatory });
    w.addProtocol('tcpip');
    w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    const r = w.run(100 * ns.ms);
    assert.deepEqual(
      r.violations.map((v) => `${v.rule}: ${v.message}`),
      [],
      `mandatory ${mandatory}`,
    );
    const calls = w.trace.events.filter((e) => e.kind === 'call').map((e) => e.what);
    assert.equal(calls.filter((x) => x === 'FilterAttach').length, 1);
    assert.equal(calls.filter((x) => x === 'FilterDetach').length, 1, 'the module detached, once');
    assert.equal(
      w.summary().adapters[0]!.state,
      mandatory ? 'Halted' : 'Running',
      'a mandatory filter that did not load stops the stack; an optional one is left out',
    );
  }
});

test('Collect mode’s folding of repeated violations keeps drivers apart: the same rule broken by filter drivers lwf1 and lwf-2 is two summary lines, not one line of lwf1 "(×2, the same but for its numbers)"; an NBL number, a count or a time still fold', () => {
  const v = (message: string, timeNs: number) => ({
    rule: 'NdisSim_NblContext',
    ddi: 'NdisFReturnNetBufferLists',
    adapter: 'nic0',
    message,
    timeNs,
  });
  const records = [
    v('lwf1 gave NBL #3 back with 16 byte(s) of context space', 1),
    v('lwf1 gave NBL #9 back with 8 byte(s) of context space', 2),
    v('lwf2 gave NBL #4 back with 16 byte(s) of context space', 3),
    v('lwf-2 gave NBL #5 back with 16 byte(s) of context space', 4),
    v('lwf-3 gave NBL #6 back with 16 byte(s) of context space', 5),
  ];
  assert.deepEqual(
    foldRepeats(records).map((f) => [f.first.message.split(' ')[0], f.count]),
    [
      ['lwf1', 2],
      ['lwf2', 1],
      ['lwf-2', 1],
      ['lwf-3', 1],
    ],
  );
  assert.equal(
    numbersOut('filter f1@nic0 at 0.000370 s: NBL #12, 4 bytes'),
    'filter f1@nic0 at #.# s: NBL ##, # bytes',
  );
  assert.equal(numbersOut('mapped at 0xF0000020, status 0xC0000001'), 'mapped at #, status #');
});

test('NdisSim_NblContext at NdisFreeNetBufferList (nf-nblapi-ndisfreenetbufferlist: context space from NdisAllocateNetBufferListContext "you must free … before you free the NET_BUFFER_LIST", and the space NdisAllocateNetBufferList gave with ContextSize you "must not attempt to free"): both mistakes are reported; freeing the first before the NBL, and leaving the second to go with it, is not', () => {
  const cases: [string, (nbl: NET_BUFFER_LIST) => void, string[][]][] = [
    ['ctx-correct', (nbl) => NdisFreeNetBufferListContext(nbl, 8), []],
    ['ctx-left', () => {}, [['NdisSim_NblContext', 'NdisFreeNetBufferList']]],
    [
      'ctx-alloc-freed',
      (nbl) => {
        NdisFreeNetBufferListContext(nbl, 8);
        NdisFreeNetBufferListContext(nbl, 16); // the allocation's ContextSize
      },
      [['NdisSim_NblContext', 'NdisFreeNetBufferListContext']],
    ],
  ];
  for (const [name, before, expected] of cases) {
    const r = inInit(name, (a) => {
      const lp = nblPool(a);
      const nbl = NdisAllocateNetBufferList(lp, 16, 0)!;
      assert.equal(NdisAllocateNetBufferListContext(nbl, 8, 0, tag), NDIS_STATUS_SUCCESS);
      before(nbl);
      NdisFreeNetBufferList(nbl);
      NdisFreeNetBufferListPool(lp);
    });
    assert.deepEqual(rules(r), expected, name);
  }
});
