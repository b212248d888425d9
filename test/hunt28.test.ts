// Stop 28's hunt for false positives and false negatives in what stop 27 added: NBL
// context space (NdisSim_NblContext, with pool ContextSize, RESOURCES receives and a
// filter NDIS bypasses on the way back), the NBL data-start DDIs and
// NdisAllocateNetBufferMdlAndData, the DISPATCH_LEVEL flags NDIS passes (R6.14), and
// NdisSim_StackOverflow (deep but legal nesting; the host's stack run out by the
// driver or by ndis-sim itself). Each test drives a correct driver the way real drivers
// use these DDIs (ndislwf, netvmini, ndisprot) and expects no rule broken, or a wrong
// one and expects the rule.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { after, scriptedDriver } from '../src/drivers/buggy/base.ts';
import { rxNbl, rxPool, workItem } from '../src/drivers/buggy/kit.ts';
import { echoProto } from '../src/drivers/echo-proto.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import { InternalError } from '../src/errors.ts';
import {
  type DriverModule,
  NDIS_CURRENT_IRQL,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisAdvanceNetBufferListDataStart,
  NdisAllocateMdl,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferList,
  NdisAllocateNetBufferListContext,
  NdisAllocateNetBufferListPool,
  NdisAllocateNetBufferMdlAndData,
  NdisAllocateNetBufferPool,
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
  NdisMIndicateReceiveNetBufferLists,
  NdisMSendNetBufferListsComplete,
  NdisQueueIoWorkItem,
  NdisRetreatNetBufferListDataStart,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_CONTEXT_DATA_START,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
  World,
} from '../src/index.ts';
import { filterRules } from '../src/report/rules.ts';
import { catalogue } from '../src/verifier/catalogue.ts';
import { ns } from './helpers/world.ts';

/** A run with `filters` over nic0 (the one nearest the miniport first), traffic both ways. */
function run(filters: DriverModule[], rxPerSecond = 500): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  for (const f of filters) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 200, returnDelayNs: ns.ms } });
  w.addDevice({
    name: 'nic0',
    driver: 'healthy-nic',
    wire: rxPerSecond > 0 ? { rxPerSecond, rxFrameBytes: 100 } : undefined,
  });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(300 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run(ns.s);
  return w;
}

const violations = (w: World) => (w.lastResult?.violations ?? []).map((v) => `${v.rule}: ${v.message}`);

interface Counts {
  sent: number;
  completed: number;
  received: number;
  returned: number;
  bad: number;
}
const counts = (): Counts => ({ sent: 0, completed: 0, received: 0, returned: 0, bad: 0 });

/**
 * A filter in the ndislwf mould that keeps per-NBL state in context space both ways:
 * allocated in FilterSendNetBufferLists and FilterReceiveNetBufferLists, read back and
 * freed in FilterSendNetBufferListsComplete and FilterReturnNetBufferLists.
 */
function contextLwf(name: string, mark: number, c: Counts): DriverModule {
  const stamp = (x: NET_BUFFER_LIST) => {
    assert.equal(NdisAllocateNetBufferListContext(x, 16, 16, 0x78746378), NDIS_STATUS_SUCCESS);
    const v = NET_BUFFER_LIST_CONTEXT_DATA_START(x);
    new DataView(v.buffer, v.byteOffset, 16).setUint32(0, mark, true);
  };
  const check = (x: NET_BUFFER_LIST) => {
    const v = NET_BUFFER_LIST_CONTEXT_DATA_START(x);
    if (new DataView(v.buffer, v.byteOffset, 16).getUint32(0, true) !== mark) c.bad++;
    NdisFreeNetBufferListContext(x, 16);
  };
  return variantOfMonitorLwf(name, 'keeps per-NBL state in context space both ways', (ch) => {
    ch.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next, c.sent++) stamp(x);
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    ch.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next, c.completed++) check(x);
      NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
    };
    ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next, c.received++) stamp(x);
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
    };
    ch.ReturnNetBufferListsHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next, c.returned++) check(x);
      NdisFReturnNetBufferLists(m.handle, nbls, flags);
    };
    withStatusPassedOn(ch);
  });
}

/**
 * nic0 of `nic` under one module of filter `f`, with tcpip sending 200 frames a second,
 * removed at 200 ms and run to 1 s in collect mode.
 */
function filterOverNic(nic: DriverModule, f: DriverModule) {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(nic);
  w.addDriver(f);
  w.addFilter(f.name);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 200 } });
  w.addDevice({ name: 'nic0', driver: nic.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(200 * ns.ms, { kind: 'remove', device: 'nic0' });
  return { w, r: w.run(ns.s) };
}

test('NdisSim_NblContext false positive hunt: three filters stacked, each keeping context on sends and receives and freeing it on the way back, break no rule and each reads its own bytes', () => {
  const cs = [counts(), counts(), counts()];
  const w = run([
    contextLwf('ctx-low', 1, cs[0]!),
    contextLwf('ctx-mid', 2, cs[1]!),
    contextLwf('ctx-top', 3, cs[2]!),
  ]);
  assert.deepEqual(violations(w), []);
  for (const c of cs) {
    assert.ok(c.sent > 20 && c.received > 20, `sent ${c.sent}, received ${c.received}`);
    assert.equal(c.bad, 0, 'each filter reads back its own mark');
    assert.ok(c.completed > 0 && c.returned > 0, `completed ${c.completed}, returned ${c.returned}`);
  }
});

/**
 * A filter that puts a 14-byte encapsulation header in front of each send
 * (NdisRetreatNetBufferListDataStart, NDIS allocating when the backfill is short) and
 * takes it off at completion (NdisAdvanceNetBufferListDataStart with FreeMdl).
 */
function encapLwf(
  name: string,
  seen: { lengths: number[]; restored: number; notRestored: number },
): DriverModule {
  const before = new WeakMap<NET_BUFFER_LIST, [number, number, Uint8Array | null]>();
  return variantOfMonitorLwf(name, 'adds a header to each send', (ch) => {
    ch.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
        const nb = x.FirstNetBuffer!;
        before.set(x, [nb.DataOffset, nb.DataLength, nb.Data]);
        assert.equal(NdisRetreatNetBufferListDataStart(x, 14, 32, null, null), NDIS_STATUS_SUCCESS);
        seen.lengths.push(nb.DataLength);
      }
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    ch.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
        NdisAdvanceNetBufferListDataStart(x, 14, true, null);
        const nb = x.FirstNetBuffer!;
        const [off, len, data] = before.get(x)!;
        if (nb.DataOffset === off && nb.DataLength === len && (data === null || nb.Data === data))
          seen.restored++;
        else seen.notRestored++;
      }
      NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
    };
    withStatusPassedOn(ch);
  });
}

test('NdisRetreatNetBufferListDataStart on send and NdisAdvanceNetBufferListDataStart with FreeMdl at completion give the sender its NBL back as it was: no rule broken', () => {
  const seen = { lengths: [] as number[], restored: 0, notRestored: 0 };
  const w = run([encapLwf('encap', seen)], 0);
  assert.deepEqual(violations(w), []);
  assert.ok(seen.lengths.length > 20, `${seen.lengths.length} sends`);
  assert.equal(seen.notRestored, 0, 'every NET_BUFFER is as its sender made it');
  assert.ok(seen.restored > 20);
});

/**
 * A RangeError as the host throws it when ndis-sim's own code recurses without end
 * inside a DDI: every frame on its stack is ndis-sim's (src/ndis), none the driver's.
 */
function ndisSimOwnOverflow(): RangeError {
  const e = new RangeError('Maximum call stack size exceeded');
  const own = fileURLToPath(new URL('../src/ndis/api/nblcontext.ts', import.meta.url));
  e.stack = [
    `RangeError: ${e.message}`,
    ...Array.from({ length: 10 }, (_, i) => `    at takePieces (${own}:${150 + i}:7)`),
  ].join('\n');
  return e;
}

test('NdisSim_StackOverflow is not blamed on a driver for ndis-sim’s own endless recursion: a host stack overflow with no driver frame on its stack is a crash of ndis-sim (InternalError), which the fuzz tests see', () => {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(
    scriptedDriver('innocent', {
      initialize: () => {
        // Stands for a DDI whose own code ran the host stack out.
        throw ndisSimOwnOverflow();
      },
    }),
  );
  w.addDevice({ name: 'nic0', driver: 'innocent' });
  w.at(0, { kind: 'start', device: 'nic0' });
  assert.throws(
    () => w.run(ns.s),
    (e: unknown) => e instanceof InternalError && /own code ran the host's stack out/.test(e.message),
  );
});

test('NdisSim_StackOverflow: driver code that recurses until the host stack runs out is still the driver’s kernel stack overflow, and the message says the driver recursed', () => {
  const deeper = (k: number): number => (k < 0 ? 0 : 1 + deeper(k + 1));
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(
    scriptedDriver('self-recursive', {
      initialize: () => {
        deeper(0);
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  w.addDevice({ name: 'nic0', driver: 'self-recursive' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_StackOverflow', r.bugCheck?.message);
  // It says what happened: the driver's own code recursed; NDIS did not call it back.
  assert.match(r.bugCheck!.message, /driver code in MiniportInitializeEx recursed until the stack ran out/);
  assert.doesNotMatch(r.bugCheck!.message, /Driver code and NDIS called each other/);
});

test('R6.14 NdisSim_DispatchLevelFlag is the miniport’s alone: a receive indicated at PASSIVE with NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL reaches ProtocolReceiveNetBufferLists without the flag, so echo-proto, which trusts the flag for its echo’s SendFlags, is not blamed', () => {
  const w = new World({ seed: 1, verifier: 'collect', trace: true });
  w.addDriver(
    scriptedDriver('flag-liar', {
      // It accepts echo-proto's packet filter, so the receive reaches it.
      oid: () => NDIS_STATUS_SUCCESS,
      restart: (a) => {
        const pool = rxPool(a);
        // Once echo-proto is bound, a work item, at PASSIVE, indicates claiming DISPATCH.
        after(a, 100, () =>
          NdisQueueIoWorkItem(
            workItem(a),
            () =>
              NdisMIndicateReceiveNetBufferLists(
                a.handle,
                rxNbl(a, pool),
                0,
                1,
                NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
              ),
            null,
          ),
        );
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  w.addDriver(echoProto);
  w.addProtocolDriver(echoProto.name);
  w.addDevice({ name: 'nic0', driver: 'flag-liar' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(300 * ns.ms);
  const echoed = w.trace.events.filter(
    (e) => e.kind === 'call' && e.what === 'ProtocolReceiveNetBufferLists',
  );
  assert.equal(echoed.length, 1, 'echo-proto got the receive');
  assert.doesNotMatch(
    String(echoed[0]!.data?.ReceiveFlags),
    /DISPATCH_LEVEL/,
    'NDIS passes the flag only at DISPATCH',
  );
  assert.deepEqual(
    r.violations.map((v) => `${v.rule} ${v.ddi}`),
    ['NdisSim_DispatchLevelFlag NdisMIndicateReceiveNetBufferLists'],
    violations(w).join('\n'),
  );
});

test('NdisSim_StackOverflow is not tripped by deep but legal nesting: sixteen filters, each keeping NBL context, stacked over a miniport that completes each send inside MiniportSendNetBufferLists', () => {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(
    scriptedDriver('inline-nic', {
      send: (a, chain, _port, flags) => {
        for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
        NdisMSendNetBufferListsComplete(
          a.handle,
          chain,
          flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
        );
      },
    }),
  );
  const cs: Counts[] = [];
  for (let i = 0; i < 16; i++) {
    const c = counts();
    cs.push(c);
    const f = contextLwf(`deep-${i}`, i, c);
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 500 } });
  w.addDevice({ name: 'nic0', driver: 'inline-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(200 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(ns.s);
  assert.deepEqual(violations(w), []);
  assert.equal(r.verdict, 'ok');
  assert.ok(
    cs[15]!.sent > 50 && cs[0]!.completed === cs[15]!.sent,
    `${cs[15]!.sent} sent, ${cs[0]!.completed} completed`,
  );
});

test('NBL context from a pool’s ContextSize: a filter’s own sends carry 16 bytes it reserved at allocation, the miniport takes 16 more from the pool’s preallocated space (no new block) and frees them; each reads its own bytes, no rule broken', () => {
  const seen = { own: 0, mineBack: 0, newBlocks: 0, miniport: 0 };
  const inlineNic = scriptedDriver('ctx-nic', {
    send: (a, chain, _port, flags) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
        const before = x.Context;
        assert.equal(NdisAllocateNetBufferListContext(x, 16, 0, 0x7478636e), NDIS_STATUS_SUCCESS);
        if (x.Context !== before) seen.newBlocks++;
        NET_BUFFER_LIST_CONTEXT_DATA_START(x).fill(0xee, 0, 16);
        seen.miniport++;
        NdisFreeNetBufferListContext(x, 16);
        x.Status = NDIS_STATUS_SUCCESS;
      }
      NdisMSendNetBufferListsComplete(
        a.handle,
        chain,
        flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
      );
    },
  });
  const origin = variantOfMonitorLwf('ctx-origin', 'sends a frame of its own beside each send', (ch) => {
    const pools = new Map<unknown, NDIS_HANDLE>();
    ch.RestartHandler = (m) => {
      m.running = true;
      pools.set(
        m,
        NdisAllocateNetBufferListPool(m.handle, {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
          ProtocolId: 0,
          fAllocateNetBuffer: true,
          ContextSize: 32,
          PoolTag: 0x6e696769,
          DataSize: 64,
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
    ch.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      const own = NdisAllocateNetBufferList(pools.get(m)!, 16, 0)!;
      own.SourceHandle = m.handle;
      NET_BUFFER_LIST_CONTEXT_DATA_START(own).fill(0xab, 0, 16);
      seen.own++;
      NdisFSendNetBufferLists(m.handle, own, port, flags);
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    ch.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
      let theirs: NET_BUFFER_LIST | null = null;
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        if (x.SourceHandle === m.handle) {
          if (
            NET_BUFFER_LIST_CONTEXT_DATA_START(x)
              .subarray(0, 16)
              .every((b) => b === 0xab)
          )
            seen.mineBack++;
          x.Next = null;
          NdisFreeNetBufferList(x);
        } else {
          x.Next = theirs;
          theirs = x;
        }
        x = next;
      }
      if (theirs !== null) NdisFSendNetBufferListsComplete(m.handle, theirs, flags);
    };
    withStatusPassedOn(ch);
  });
  const { w } = filterOverNic(inlineNic, origin);
  assert.deepEqual(violations(w), []);
  assert.ok(seen.own > 20, `${seen.own} own sends`);
  assert.equal(seen.mineBack, seen.own, 'the filter reads its own 16 bytes back');
  // Only the protocol's NBLs, which have no context space, needed a new block.
  assert.equal(seen.newBlocks, seen.miniport - seen.own);
});

test('NdisAllocateNetBufferMdlAndData as receive buffers: NET_BUFFERs with NDIS’s own data chained to NBLs of a pool without NET_BUFFERs, trimmed to the frame, indicated and freed on return, break no rule', () => {
  const tally = { indicated: 0, returned: 0 };
  const drv = scriptedDriver('mdldata-nic', {
    initialize: (a) => {
      a.state.nbls = NdisAllocateNetBufferListPool(a.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: false,
        ContextSize: 0,
        PoolTag: 0x6c626e72,
        DataSize: 0,
      });
      a.state.nbs = NdisAllocateNetBufferPool(a.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
        PoolTag: 0x62656e72,
        DataSize: 1514,
      });
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      const indicate = () => {
        const nbl = NdisAllocateNetBufferList(a.state.nbls as NDIS_HANDLE, 0, 0)!;
        const nb = NdisAllocateNetBufferMdlAndData(a.state.nbs as NDIS_HANDLE)!;
        nb.DataLength = 60;
        nbl.FirstNetBuffer = nb;
        nbl.SourceHandle = a.handle;
        tally.indicated++;
        NdisMIndicateReceiveNetBufferLists(a.handle, nbl, 0, 1, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
        if (tally.indicated < 20) after(a, 5, indicate);
      };
      after(a, 5, indicate);
      return NDIS_STATUS_SUCCESS;
    },
    returnNbls: (_a, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        NdisFreeNetBuffer(x.FirstNetBuffer!);
        x.FirstNetBuffer = null;
        NdisFreeNetBufferList(x);
        tally.returned++;
        x = next;
      }
    },
    halt: (a) => {
      NdisFreeNetBufferPool(a.state.nbs as NDIS_HANDLE);
      NdisFreeNetBufferListPool(a.state.nbls as NDIS_HANDLE);
    },
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(drv);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 0, returnDelayNs: ns.ms } });
  w.addDevice({ name: 'nic0', driver: 'mdldata-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(400 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run(ns.s);
  assert.deepEqual(violations(w), []);
  assert.equal(tally.indicated, 20);
  assert.equal(tally.returned, 20);
});

test('R6.14 NdisSim_DispatchLevelFlag names every DDI it is reported at: a filter that sets the DISPATCH flag on what it passes on, called at PASSIVE for a send, is reported at NdisFSendNetBufferLists, which `ndis-sim rules --ddi` finds', () => {
  const liar = variantOfMonitorLwf(
    'always-dispatch',
    'sets the DISPATCH flag on every send it passes on',
    (ch) => {
      ch.SendNetBufferListsHandler = (m, nbls, port, flags) =>
        NdisFSendNetBufferLists(m.handle, nbls, port, flags | NDIS_SEND_FLAGS_DISPATCH_LEVEL);
      withStatusPassedOn(ch);
    },
  );
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(liar);
  w.addFilter(liar.name);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  // The scenario's send action: the protocol sends at PASSIVE.
  w.at(100 * ns.ms, { kind: 'send', device: 'nic0' });
  const r = w.run(300 * ns.ms);
  const v = r.violations.find((x) => x.rule === 'NdisSim_DispatchLevelFlag');
  assert.equal(v?.ddi, 'NdisFSendNetBufferLists', violations(w).join('\n'));
  assert.deepEqual(
    filterRules([...catalogue.values()], { ddi: 'NdisFSendNetBufferLists' })
      .map((x) => x.id)
      .filter((id) => id === 'NdisSim_DispatchLevelFlag'),
    ['NdisSim_DispatchLevelFlag'],
  );
});

test('NdisSim_NblContext: a filter that takes context space in FilterReceiveNetBufferLists but has no FilterReturnNetBufferLists (so NDIS bypasses it on the way back) leaves it for the miniport: reported when the NBL is back with its owner', () => {
  const passive = variantOfMonitorLwf('ctx-no-return', 'tags receives but does not filter returns', (ch) => {
    ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
        NdisAllocateNetBufferListContext(x, 8, 0, 0x74676174);
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
    };
    ch.ReturnNetBufferListsHandler = undefined;
    withStatusPassedOn(ch);
  });
  const w = run([passive]);
  const v = w.lastResult!.violations;
  assert.ok(v.length > 10, violations(w).join('\n'));
  assert.ok(
    v.every((x) => x.rule === 'NdisSim_NblContext' && x.ddi === 'MiniportReturnNetBufferLists'),
    violations(w).join('\n'),
  );
  assert.match(v[0]!.message, /ctx-no-return left 8 byte\(s\) of context space .* NBL #\d+/);
});

/** A miniport that indicates a frame every 5 ms with NDIS_RECEIVE_FLAGS_RESOURCES, from a timer (DISPATCH). */
function resourcesNic(name: string): DriverModule {
  return scriptedDriver(name, {
    restart: (a) => {
      const pool = rxPool(a);
      const nbl = rxNbl(a, pool);
      let k = 0;
      const indicate = () => {
        NdisMIndicateReceiveNetBufferLists(
          a.handle,
          nbl,
          0,
          1,
          NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL | NDIS_RECEIVE_FLAGS_RESOURCES,
        );
        if (++k < 20) after(a, 5, indicate);
      };
      after(a, 5, indicate);
      return NDIS_STATUS_SUCCESS;
    },
  });
}

/** A filter that takes 8 bytes of context on each receive and passes it up, freeing them after (or not). */
function rxContextLwf(name: string, frees: boolean): DriverModule {
  return variantOfMonitorLwf(name, 'tags receives in context space', (ch) => {
    ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
        NdisAllocateNetBufferListContext(x, 8, 0, 0x74676174);
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      // With RESOURCES the NBLs are the filter's again once the indication returns.
      if (frees && (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0)
        for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) NdisFreeNetBufferListContext(x, 8);
    };
    ch.ReturnNetBufferListsHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) NdisFreeNetBufferListContext(x, 8);
      NdisFReturnNetBufferLists(m.handle, nbls, flags);
    };
    withStatusPassedOn(ch);
  });
}

test('NdisSim_NblContext with NDIS_RECEIVE_FLAGS_RESOURCES: a filter that frees its context space once NdisFIndicateReceiveNetBufferLists returns breaks no rule; one that never frees it is reported when the indication returns to the miniport', () => {
  for (const frees of [true, false]) {
    const name = frees ? 'rx-ctx-frees' : 'rx-ctx-keeps';
    const w = new World({ seed: 1, verifier: 'collect' });
    w.addDriver(resourcesNic('res-nic'));
    const f = rxContextLwf(name, frees);
    w.addDriver(f);
    w.addFilter(f.name);
    w.addProtocol('tcpip');
    w.addDevice({ name: 'nic0', driver: 'res-nic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(300 * ns.ms, { kind: 'remove', device: 'nic0' });
    const r = w.run(ns.s);
    if (frees) assert.deepEqual(violations(w), []);
    else {
      // One NBL, indicated 20 times: each indication's 8 bytes are reported once.
      assert.equal(r.violations.length, 20, violations(w).join('\n'));
      assert.ok(
        r.violations.every(
          (v) => v.rule === 'NdisSim_NblContext' && v.ddi === 'NdisMIndicateReceiveNetBufferLists',
        ),
        violations(w).join('\n'),
      );
      assert.match(r.violations[0]!.message, /rx-ctx-keeps left 8 byte\(s\) of context space/);
    }
  }
});

test('R6.14: every send, receive, return and completion handler NDIS calls gets the DISPATCH_LEVEL flag exactly when it runs at DISPATCH, through filters, to the built-in protocol and a protocol driver, with sends at PASSIVE and DISPATCH', () => {
  const w = new World({ seed: 2, verifier: 'collect', trace: true });
  w.addDriver(healthyNic);
  const cs = [counts(), counts()];
  for (const [i, c] of cs.entries()) {
    const f = contextLwf(`flags-${i}`, i, c);
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addDriver(echoProto);
  w.addProtocolDriver(echoProto.name);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 400, returnDelayNs: ns.ms, sendIrql: 'explore' } });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 400, rxFrameBytes: 100 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(300 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(ns.s);
  assert.deepEqual(violations(w), []);
  const flagOf: Record<string, string> = {
    MiniportSendNetBufferLists: 'SendFlags',
    FilterSendNetBufferLists: 'SendFlags',
    MiniportReturnNetBufferLists: 'ReturnFlags',
    FilterReturnNetBufferLists: 'ReturnFlags',
    FilterReceiveNetBufferLists: 'ReceiveFlags',
    ProtocolReceiveNetBufferLists: 'ReceiveFlags',
    FilterSendNetBufferListsComplete: 'SendCompleteFlags',
    ProtocolSendNetBufferListsComplete: 'SendCompleteFlags',
  };
  const seen = new Map<string, Set<number>>();
  for (const e of w.trace.events) {
    const key = e.kind === 'call' ? flagOf[e.what] : undefined;
    if (key === undefined) continue;
    const flag = /DISPATCH_LEVEL/.test(String(e.data?.[key]));
    assert.equal(flag, e.irql === 2, `${e.what} at IRQL ${e.irql} with ${key} ${String(e.data?.[key])}`);
    if (!seen.has(e.what)) seen.set(e.what, new Set());
    seen.get(e.what)!.add(e.irql);
  }
  // Every handler was called, and sends went down at both IRQLs.
  assert.deepEqual([...seen.keys()].sort(), Object.keys(flagOf).sort());
  assert.deepEqual([...seen.get('MiniportSendNetBufferLists')!].sort(), [0, 2]);
  assert.equal(r.verdict, 'ok');
});

test('NdisRetreatNetBufferListDataStart past the backfill with the driver’s NetAllocateMdl, and NdisAdvanceNetBufferListDataStart with FreeMdl: NetFreeMdl gets back exactly the MDL NetAllocateMdl gave, never the sender’s own; within the backfill it is not called; the NET_BUFFER is its sender’s again', () => {
  const seen = { given: [] as Uint8Array[], freed: [] as Uint8Array[], headers: 0, restored: 0, sent: 0 };
  const nic = scriptedDriver('header-reader', {
    send: (a, chain, _port, flags) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
        const nb = x.FirstNetBuffer!;
        if (nb.DataLength === 60 + 14 && nb.Data![nb.DataOffset] === 0x45) seen.headers++;
        x.Status = NDIS_STATUS_SUCCESS;
      }
      NdisMSendNetBufferListsComplete(
        a.handle,
        chain,
        flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
      );
    },
  });
  const f = variantOfMonitorLwf('encap-own', 'sends frames of its own with a header in front', (ch) => {
    const st = new Map<unknown, { pool: NDIS_HANDLE; mdl: Uint8Array; n: number }>();
    ch.RestartHandler = (m) => {
      m.running = true;
      const pool = NdisAllocateNetBufferListPool(m.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 0x636e6545,
        DataSize: 0,
      })!;
      st.set(m, { pool, mdl: NdisAllocateMdl(m.handle, new Uint8Array(64), 64)!, n: 0 });
      return NDIS_STATUS_SUCCESS;
    };
    ch.PauseHandler = (m) => {
      m.running = false;
      const s = st.get(m)!;
      NdisFreeMdl(s.mdl);
      NdisFreeNetBufferListPool(s.pool);
      st.delete(m);
      return NDIS_STATUS_SUCCESS;
    };
    ch.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      const s = st.get(m)!;
      // 4 bytes of backfill: a 14-byte header needs new memory every other frame;
      // the others carry 16 bytes of backfill, enough.
      const backfill = s.n++ % 2 === 0 ? 4 : 16;
      const own = NdisAllocateNetBufferAndNetBufferList(s.pool, 0, 0, s.mdl, backfill, 64 - backfill)!;
      own.FirstNetBuffer!.DataLength = 60;
      own.SourceHandle = m.handle;
      const status = NdisRetreatNetBufferListDataStart(
        own,
        14,
        0,
        (size) => {
          const mdl = NdisAllocateMdl(m.handle, new Uint8Array(size), size)!;
          seen.given.push(mdl);
          return mdl;
        },
        null,
      );
      assert.equal(status, NDIS_STATUS_SUCCESS);
      const nb = own.FirstNetBuffer!;
      nb.Data![nb.DataOffset] = 0x45;
      seen.sent++;
      NdisFSendNetBufferLists(m.handle, own, port, flags);
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    ch.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
      const s = st.get(m);
      let theirs: NET_BUFFER_LIST | null = null;
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        if (x.SourceHandle === m.handle) {
          NdisAdvanceNetBufferListDataStart(x, 14, true, (mdl) => {
            seen.freed.push(mdl);
            NdisFreeMdl(mdl);
          });
          const nb = x.FirstNetBuffer!;
          if (
            s !== undefined &&
            nb.Data === s.mdl &&
            nb.DataLength === 60 &&
            (nb.DataOffset === 4 || nb.DataOffset === 16)
          )
            seen.restored++;
          NdisFreeNetBufferList(x);
        } else {
          x.Next = theirs;
          theirs = x;
        }
        x = next;
      }
      if (theirs !== null) NdisFSendNetBufferListsComplete(m.handle, theirs, flags);
    };
    withStatusPassedOn(ch);
  });
  const { w } = filterOverNic(nic, f);
  assert.deepEqual(violations(w), []);
  assert.ok(seen.sent > 20, `${seen.sent} frames`);
  assert.equal(seen.headers, seen.sent, 'the miniport saw each header in front of the frame');
  assert.equal(seen.restored, seen.sent, 'each NET_BUFFER is its sender’s MDL at its old offset again');
  // Only the frames with 4 bytes of backfill needed memory: NetAllocateMdl for half.
  assert.equal(seen.given.length, Math.ceil(seen.sent / 2));
  assert.deepEqual(seen.freed, seen.given, 'NetFreeMdl got exactly what NetAllocateMdl gave, in order');
});

test('NdisSim_NblContext blames only the driver that left its space: a miniport that completes sends with 8 bytes of context still in use is reported, and the filter above, which frees its own 16 bytes at completion, is not', () => {
  const leaky = scriptedDriver('ctx-leaky-nic', {
    send: (a, chain, _port, flags) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
        NdisAllocateNetBufferListContext(x, 8, 0, 0x6b61656c);
        x.Status = NDIS_STATUS_SUCCESS;
      }
      NdisMSendNetBufferListsComplete(
        a.handle,
        chain,
        flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
      );
    },
  });
  const c = counts();
  const f = contextLwf('ctx-above-leak', 7, c);
  const { w, r } = filterOverNic(leaky, f);
  assert.ok(c.completed > 20, `${c.completed} completions`);
  assert.equal(r.violations.length, c.completed, violations(w).join('\n'));
  assert.ok(
    r.violations.every(
      (v) => v.ddi === 'NdisMSendNetBufferListsComplete' && /ctx-leaky-nic gave/.test(v.message),
    ),
    violations(w).join('\n'),
  );
});

test('NdisSim_NblContext, not NdisSim_BadParameter against the driver above: when a miniport leaves 8 bytes in a block NDIS added, the filter above freeing its own 16 bytes (in the block beneath) is not stopped as freeing more than is in use', () => {
  const leaky = scriptedDriver('ctx-leaky-block-nic', {
    send: (a, chain, _port, flags) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
        NdisAllocateNetBufferListContext(x, 8, 0, 0x6b61656c);
        x.Status = NDIS_STATUS_SUCCESS;
      }
      NdisMSendNetBufferListsComplete(
        a.handle,
        chain,
        flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
      );
    },
  });
  // 16 bytes and no backfill: the miniport's 8 need a block of their own.
  const f = variantOfMonitorLwf('ctx-no-backfill', 'keeps 16 bytes per send, no backfill', (ch) => {
    ch.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
        NdisAllocateNetBufferListContext(x, 16, 0, 0x78746378);
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    ch.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) NdisFreeNetBufferListContext(x, 16);
      NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
    };
    withStatusPassedOn(ch);
  });
  const { w, r } = filterOverNic(leaky, f);
  assert.equal(r.bugCheck ?? null, null, r.bugCheck?.message);
  assert.ok(r.violations.length > 20, violations(w).join('\n'));
  assert.ok(
    r.violations.every((v) => v.rule === 'NdisSim_NblContext' && /ctx-leaky-block-nic gave/.test(v.message)),
    violations(w).join('\n'),
  );
});

/** One driver's use of context space: how much it takes, the backfill it asks for, and whether it frees it, leaves it, or frees 8 bytes too many. */
interface ContextUse {
  size: number;
  back: number;
  how: 'ok' | 'leak' | 'over';
}
const contextUse: fc.Arbitrary<ContextUse> = fc.record({
  size: fc.constantFrom(8, 16, 24),
  back: fc.constantFrom(0, 8, 16),
  how: fc.constantFrom('ok' as const, 'ok' as const, 'leak' as const, 'over' as const),
});

test('NdisSim_NblContext blames only drivers that misuse their space: random stacks of filters (sends and receives) over a miniport, each taking context of random sizes and freeing it, leaving it or freeing too much; without over-frees, exactly the ones that leave it are blamed', () => {
  fc.assert(
    fc.property(
      fc.array(contextUse, { minLength: 1, maxLength: 4 }),
      fc.option(contextUse),
      fc.nat(20),
      (fs, mp, seed) => {
        const w = new World({ seed, verifier: 'collect' });
        const bad = new Set<string>();
        const leakers = new Set<string>();
        // The driver inside NdisFreeNetBufferListContext: NdisSim_BadParameter is its.
        let freeing = '';
        const use = (name: string, u: ContextUse) => {
          if (u.how !== 'ok') bad.add(name);
          if (u.how === 'leak') leakers.add(name);
          return {
            take(nbls: NET_BUFFER_LIST) {
              for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
                NdisAllocateNetBufferListContext(x, u.size, u.back, 0x66);
            },
            give(nbls: NET_BUFFER_LIST) {
              if (u.how === 'leak') return;
              freeing = name;
              for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
                NdisFreeNetBufferListContext(x, u.how === 'over' ? u.size + 8 : u.size);
            },
          };
        };
        if (mp !== null) {
          const d = use('ctx-mp', mp);
          w.addDriver(
            scriptedDriver('ctx-mp', {
              send: (a, chain, _port, flags) => {
                d.take(chain);
                d.give(chain);
                for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next)
                  x.Status = NDIS_STATUS_SUCCESS;
                NdisMSendNetBufferListsComplete(
                  a.handle,
                  chain,
                  flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
                );
              },
            }),
          );
        } else w.addDriver(healthyNic);
        fs.forEach((u, i) => {
          const name = `ctx-f${i}`;
          const d = use(name, u);
          const f = variantOfMonitorLwf(name, 'takes context both ways', (ch) => {
            ch.SendNetBufferListsHandler = (m, nbls, port, flags) => {
              d.take(nbls);
              NdisFSendNetBufferLists(m.handle, nbls, port, flags);
            };
            ch.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
              d.give(nbls);
              NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
            };
            ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
              d.take(nbls);
              NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
            };
            ch.ReturnNetBufferListsHandler = (m, nbls, flags) => {
              d.give(nbls);
              NdisFReturnNetBufferLists(m.handle, nbls, flags);
            };
            withStatusPassedOn(ch);
          });
          w.addDriver(f);
          w.addFilter(name);
        });
        w.addProtocol('tcpip', {
          traffic: { ratePerSecond: 300, returnDelayNs: ns.ms, sendIrql: 'explore' },
        });
        w.addDevice({
          name: 'nic0',
          driver: mp !== null ? 'ctx-mp' : 'healthy-nic',
          wire: mp !== null ? undefined : { rxPerSecond: 300, rxFrameBytes: 100 },
        });
        w.at(0, { kind: 'start', device: 'nic0' });
        w.at(150 * ns.ms, { kind: 'remove', device: 'nic0' });
        const r = w.run(ns.s);
        const blamed = new Set(
          r.violations.map((v) =>
            v.rule === 'NdisSim_BadParameter'
              ? freeing
              : (/^(\S+) (gave|left|freed) /.exec(v.message)?.[1] ?? `${v.rule}: ${v.message}`),
          ),
        );
        const said = violations(w).slice(0, 5).join('\n');
        for (const b of blamed) assert.ok(bad.has(b), `${b} blamed, though it uses its space right\n${said}`);
        if (bad.size === leakers.size) assert.deepEqual([...blamed].sort(), [...leakers].sort(), said);
      },
    ),
    { numRuns: 200, seed: 28 },
  );
});

test('NdisSim_NblContext blames only the driver that frees too much: an upper filter that frees 16 bytes of receive context where it took 8 is reported for taking the lower filter’s 8, and the lower filter, freeing its own 8 next, is neither blamed nor stopped (NdisSim_BadParameter)', () => {
  const rx = (name: string, take: number, back: number, free: number) =>
    variantOfMonitorLwf(name, 'takes receive context', (ch) => {
      ch.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
        for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
          NdisAllocateNetBufferListContext(x, take, back, 0x7278);
        NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      };
      ch.ReturnNetBufferListsHandler = (m, nbls, flags) => {
        for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
          NdisFreeNetBufferListContext(x, free);
        NdisFReturnNetBufferLists(m.handle, nbls, flags);
      };
      withStatusPassedOn(ch);
    });
  // The lower filter's block has room for the upper one's 8: one block of 16.
  const w = run([rx('rx-lower', 8, 8, 8), rx('rx-greedy', 8, 0, 16)]);
  const r = w.lastResult!;
  assert.equal(r.bugCheck ?? null, null, r.bugCheck?.message);
  assert.ok(r.violations.length > 20, violations(w).join('\n'));
  assert.ok(
    r.violations.every((v) =>
      /^rx-greedy freed 8 byte\(s\) of NBL #\d+'s context space that rx-lower allocated/.test(v.message),
    ),
    violations(w).join('\n'),
  );
});

test('Flags_Irql (R6.14): NDIS_CURRENT_IRQL read in MiniportSendNetBufferLists called at PASSIVE, SendFlags clear, is reported once, since the clear flag says PASSIVE; read in the miniport’s timer function, which has no such flag, it is not', () => {
  const irqls: number[] = [];
  const drv = scriptedDriver('irql-reader', {
    restart: (a) => {
      after(a, 10, () => irqls.push(NDIS_CURRENT_IRQL()));
      return NDIS_STATUS_SUCCESS;
    },
    send: (a, chain, _port, flags) => {
      irqls.push(NDIS_CURRENT_IRQL());
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
      NdisMSendNetBufferListsComplete(
        a.handle,
        chain,
        flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
      );
    },
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(drv);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 100, sendIrql: 'passive' } });
  w.addDevice({ name: 'nic0', driver: 'irql-reader' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(200 * ns.ms);
  assert.ok(irqls.length > 10 && irqls.slice(1).every((i) => i === 0), `IRQLs read: ${irqls.join(' ')}`);
  assert.equal(irqls[0], 2, 'the timer function ran at DISPATCH');
  assert.deepEqual(
    r.violations.map((v) => `${v.rule} ${v.ddi}`),
    ['Flags_Irql NDIS_CURRENT_IRQL'],
    violations(w).join('\n'),
  );
  assert.match(r.violations[0]!.message, /in MiniportSendNetBufferLists/);
});
