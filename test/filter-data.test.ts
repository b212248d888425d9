// The data path through filter modules (07-protocols-filters.md R7.5, R7.6;
// 06-oid-datapath.md): sends down through FilterSendNetBufferLists, completions up,
// receives up through FilterReceiveNetBufferLists, returns down; NBLs a module
// originates come back to it; ownership, state and time rules.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flakyNic } from '../src/drivers/flaky-nic.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import {
  countingLwf,
  type LwfModule,
  monitorLwf,
  variantOfMonitorLwf,
  withStatusPassedOn,
} from '../src/drivers/lwf.ts';
import { vmini } from '../src/drivers/vmini.ts';
import {
  DISPATCH_LEVEL,
  type DriverModule,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireSpinLock,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateNetBufferPool,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisFreeNetBufferPool,
  NdisFreeTimerObject,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisReleaseSpinLock,
  NdisSetTimerObject,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
  World,
} from '../src/index.ts';
import type { FilterModule } from '../src/ndis/filter.ts';
import { ns } from './helpers/world.ts';

/** A healthy-nic under `filters` (bottom first), tcpip sending and the wire receiving `rate` frames a second. */
function stack(
  filters: DriverModule[],
  o: {
    rate?: number;
    removeAt?: number;
    until?: number;
    collect?: boolean;
    returnDelayNs?: number;
    burst?: number;
  } = {},
): World {
  const w = new World({ seed: 1, verifier: o.collect === false ? 'bugcheck' : 'collect' });
  w.addDriver(healthyNic);
  for (const f of filters) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  const rate = o.rate ?? 1000;
  w.addProtocol('tcpip', {
    traffic: {
      ratePerSecond: rate,
      frameBytes: 64,
      returnDelayNs: o.returnDelayNs ?? ns.ms,
      statisticsEveryNs: 0,
    },
  });
  w.addDevice({
    name: 'nic0',
    driver: 'healthy-nic',
    wire: { rxPerSecond: rate, rxFrameBytes: 64, ...(o.burst === undefined ? {} : { rxBurst: o.burst }) },
  });
  w.at(0, { kind: 'start', device: 'nic0' });
  if (o.removeAt !== undefined) w.at(o.removeAt, { kind: 'surprise-remove', device: 'nic0' });
  w.run(o.until ?? ns.s);
  return w;
}

function module(w: World, driver: string): FilterModule {
  const m = w.ndis.filterModules.find((x) => x.driver.name === driver);
  assert.ok(m, `no module of ${driver}`);
  return m;
}

const rules = (w: World): string[] => (w.lastResult?.violations ?? []).map((v) => v.rule);

/** A pool of the module's own NBLs, made in FilterRestart the first time. */
function ownPool(h: NDIS_HANDLE): NDIS_HANDLE {
  const pool = NdisAllocateNetBufferListPool(h, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: true,
    ContextSize: 0,
    PoolTag: 0,
    DataSize: 0,
  });
  assert.ok(pool !== null);
  return pool;
}

test('FilterSendNetBufferLists, FilterReceiveNetBufferLists: counting-lwf passes every frame both ways; completions and returns come back through it; a module without data handlers is bypassed', () => {
  const w = stack([countingLwf, monitorLwf], { removeAt: 600 * ns.ms });
  assert.deepEqual(rules(w), []);
  assert.equal(w.lastResult?.verdict, 'ok');
  const view = w.summary().protocols[0]!.bindings[0]!;
  assert.ok(view.sent > 100 && view.received > 100, `sent ${view.sent} received ${view.received}`);
  assert.equal(view.sendCompleted, view.sent);
  assert.equal(view.returned, view.received);
  const m = module(w, 'counting-lwf').context as LwfModule;
  assert.equal(m.framesSent, view.sent);
  assert.equal(m.framesReceived, view.received);
  const calls = w.trace.events.filter((e) => e.kind === 'call').map((e) => `${e.actor}:${e.what}`);
  const i = calls.indexOf('counting-lwf:FilterSendNetBufferLists');
  assert.ok(i >= 0 && calls.indexOf('healthy-nic:MiniportSendNetBufferLists', i) > i);
  for (const fn of [
    'FilterSendNetBufferListsComplete',
    'FilterReceiveNetBufferLists',
    'FilterReturnNetBufferLists',
  ])
    assert.ok(calls.includes(`counting-lwf:${fn}`), fn);
  assert.ok(!calls.some((c) => c.startsWith('monitor-lwf:Filter') && /NetBufferLists/.test(c)));
  assert.equal(w.ndis.adapters[0]!.data.sent, view.sent);
});

test('R7.5 trace: the NBL and NET_BUFFER pools of a module are named by module= at their allocation and at their free in FilterDetach, as the other filter DDIs are', () => {
  const pools = { nbl: null as NDIS_HANDLE | null, nb: null as NDIS_HANDLE | null };
  const f = variantOfMonitorLwf('pool-namer', 'allocates pools with its module handle', (c) => {
    const attach = c.AttachHandler;
    c.AttachHandler = (h, ctx, p) => {
      const s = attach(h, ctx, p);
      pools.nbl = ownPool(h);
      pools.nb = NdisAllocateNetBufferPool(h, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
        PoolTag: 0,
        DataSize: 0,
      });
      return s;
    };
    c.DetachHandler = () => {
      NdisFreeNetBufferPool(pools.nb!);
      NdisFreeNetBufferListPool(pools.nbl!);
    };
  });
  const w = stack([f], { rate: 0, removeAt: 100 * ns.ms });
  assert.deepEqual(rules(w), []);
  const named = w.trace.events
    .filter((e) => e.actor === 'pool-namer' && /^Ndis(Allocate|Free)NetBuffer(List)?Pool$/.test(e.what))
    .map((e) => `${e.what}:${String(e.data?.module)}`);
  assert.deepEqual(named.sort(), [
    'NdisAllocateNetBufferListPool:pool-namer@nic0',
    'NdisAllocateNetBufferPool:pool-namer@nic0',
    'NdisFreeNetBufferListPool:pool-namer@nic0',
    'NdisFreeNetBufferPool:pool-namer@nic0',
  ]);
});

test('hot path: an adapter whose modules have no data handlers keeps the path without modules', () => {
  const w = stack([monitorLwf], { until: 200 * ns.ms });
  assert.equal(w.ndis.adapters[0]!.filterData, null);
  const w2 = stack([countingLwf], { until: 200 * ns.ms });
  assert.notEqual(w2.ndis.adapters[0]!.filterData, null);
});

/** A pass-through filter whose FilterSendNetBufferLists also sends one NBL of its own each time. */
const originator = variantOfMonitorLwf('originator', 'sends frames of its own', (c) => {
  const s = { pool: null as NDIS_HANDLE | null, ownBack: 0, foreignBack: 0 };
  (originator as unknown as { s: typeof s }).s = s;
  c.SendNetBufferListsHandler = (m, nbl, port, flags) => {
    s.pool ??= ownPool(m.handle);
    const own = NdisAllocateNetBufferAndNetBufferList(s.pool, 0, 0, new Uint8Array(60), 0, 60)!;
    own.SourceHandle = m.handle;
    NdisFSendNetBufferLists(m.handle, own, port, flags);
    NdisFSendNetBufferLists(m.handle, nbl, port, flags);
  };
  c.SendNetBufferListsCompleteHandler = (m, chain, flags) => {
    let pass: NET_BUFFER_LIST | null = null;
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
      const next: NET_BUFFER_LIST | null = x.Next;
      if (x.SourceHandle === m.handle) s.ownBack++;
      else {
        s.foreignBack++;
        x.Next = pass;
        pass = x;
      }
      x = next;
    }
    if (pass !== null) NdisFSendNetBufferListsComplete(m.handle, pass, flags);
  };
});

test('NdisFSendNetBufferLists: NBLs a module originates come back to its FilterSendNetBufferListsComplete and go no further', () => {
  const w = stack([originator, countingLwf], { until: 300 * ns.ms });
  assert.deepEqual(rules(w), []);
  const s = (originator as unknown as { s: { ownBack: number; foreignBack: number } }).s;
  const view = w.summary().protocols[0]!.bindings[0]!;
  assert.ok(s.ownBack > 50);
  assert.equal(s.foreignBack, view.sendCompleted);
  assert.equal(view.sendCompleted, view.sent);
  assert.deepEqual(view.problems, []);
  // The miniport sent both: the module's own and the protocol's.
  assert.equal(
    w.ndis.adapters[0]!.data.sent,
    view.sent + s.ownBack + (module(w, 'originator').fdata?.ownSendsOut ?? 0),
  );
  // counting-lwf, above it, saw only the protocol's.
  assert.equal((module(w, 'counting-lwf').context as LwfModule).framesSent, view.sent);
});

/**
 * A filter that originates one send per send from above from a pool of its driver:
 * allocated with its NdisFilterDriverHandle, or with NULL (nf-nblapi-ndisallocatenetbufferlistpool:
 * NdisHandle is [in, optional], a handle "obtained during caller initialization").
 */
function driverPoolOriginator(name: string, handle: 'driver' | 'null') {
  const s = { pool: null as NDIS_HANDLE | null, nbPool: null as NDIS_HANDLE | null, ownBack: 0 };
  const mod = variantOfMonitorLwf(name, 'sends frames of its own from a pool of its driver', (c, d) => {
    c.SendNetBufferListsHandler = (m, nbl, port, flags) => {
      const h = handle === 'null' ? null : d.handle;
      s.pool ??= NdisAllocateNetBufferListPool(h, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 0,
        DataSize: 0,
      });
      s.nbPool ??= NdisAllocateNetBufferPool(h, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
        PoolTag: 0,
        DataSize: 0,
      });
      const own = NdisAllocateNetBufferAndNetBufferList(s.pool!, 0, 0, new Uint8Array(60), 0, 60)!;
      own.SourceHandle = m.handle;
      NdisFSendNetBufferLists(m.handle, own, port, flags);
      NdisFSendNetBufferLists(m.handle, nbl, port, flags);
    };
    c.SendNetBufferListsCompleteHandler = (m, chain, flags) => {
      let pass: NET_BUFFER_LIST | null = null;
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        if (x.SourceHandle === m.handle) {
          s.ownBack++;
          NdisFreeNetBufferList(x);
        } else {
          x.Next = pass;
          pass = x;
        }
        x = next;
      }
      if (pass !== null) NdisFSendNetBufferListsComplete(m.handle, pass, flags);
    };
  });
  return { mod, s };
}

test('NdisAllocateNetBufferListPool and NdisAllocateNetBufferPool take the NdisFilterDriverHandle and NULL: the module that sends an NBL of the driver pool gets it back', () => {
  for (const handle of ['driver', 'null'] as const) {
    const { mod, s } = driverPoolOriginator(`pool-${handle}`, handle);
    const w = stack([mod], { until: 300 * ns.ms });
    assert.deepEqual(rules(w), [], handle);
    assert.ok(s.pool !== null && s.nbPool !== null, handle);
    assert.ok(s.ownBack > 50, `${handle}: ${s.ownBack} own sends back`);
  }
});

test('R8.11 NdisSim_LockHeldAcrossCall: a filter that holds its spin lock across NdisFSendNetBufferLists, NdisFIndicateReceiveNetBufferLists or NdisFIndicateStatus is named; the miniport that completes inside the send is not blamed for the lock', () => {
  for (const where of ['send', 'indicate', 'status'] as const) {
    const lock = new NDIS_SPIN_LOCK();
    const mod = variantOfMonitorLwf(`lock-${where}`, `holds its lock across the ${where}`, (c, d) => {
      withStatusPassedOn(c);
      const held = <T>(fn: () => T): T => {
        NdisAcquireSpinLock(lock);
        try {
          return fn();
        } finally {
          NdisReleaseSpinLock(lock);
        }
      };
      const dr = d as { locked?: boolean };
      if (!dr.locked) {
        NdisAllocateSpinLock(lock);
        dr.locked = true;
      }
      c.SendNetBufferListsHandler = (m, nbl, port, flags) =>
        where === 'send'
          ? held(() => NdisFSendNetBufferLists(m.handle, nbl, port, flags | NDIS_SEND_FLAGS_DISPATCH_LEVEL))
          : NdisFSendNetBufferLists(m.handle, nbl, port, flags);
      c.SendNetBufferListsCompleteHandler = (m, nbl, flags) =>
        NdisFSendNetBufferListsComplete(m.handle, nbl, flags);
      c.ReceiveNetBufferListsHandler = (m, nbl, port, count, flags) =>
        where === 'indicate'
          ? held(() =>
              NdisFIndicateReceiveNetBufferLists(
                m.handle,
                nbl,
                port,
                count,
                flags | NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
              ),
            )
          : NdisFIndicateReceiveNetBufferLists(m.handle, nbl, port, count, flags);
      c.ReturnNetBufferListsHandler = (m, nbl, flags) => NdisFReturnNetBufferLists(m.handle, nbl, flags);
      if (where === 'status') {
        const pass = c.StatusHandler!;
        c.StatusHandler = (m, ind) => held(() => pass(m, ind));
      }
    });
    const w = new World({ seed: 1, verifier: 'collect' });
    w.addDriver(vmini);
    w.addDriver(mod);
    w.addFilter(mod.name);
    w.addProtocol('tcpip', {
      traffic: { ratePerSecond: 500, frameBytes: 64, returnDelayNs: ns.ms, statisticsEveryNs: 0 },
    });
    w.addDevice({ name: 'vm0', driver: 'vmini', hardware: 'none' });
    // vm1 gives up after 100 frames: vmini then refuses sends inside MiniportSendNetBufferLists,
    // completing them under the filter's lock.
    w.addDevice({ name: 'vm1', driver: 'vmini', hardware: 'none', registry: { FailAfterFrames: 100 } });
    w.at(0, { kind: 'start', device: 'vm0' });
    w.at(0, { kind: 'start', device: 'vm1' });
    // A link-down on a healthy-nic: a status indication through the module.
    w.addDriver(healthyNic);
    w.addDevice({ name: 'nic0', driver: 'healthy-nic', faults: { linkDownAtNs: 100 * ns.ms } });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(300 * ns.ms, { kind: 'surprise-remove', device: 'vm0' });
    w.run(500 * ns.ms);
    const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_LockHeldAcrossCall');
    assert.ok(v.length > 0, `${where}: not reported`);
    const ddi = {
      send: 'NdisFSendNetBufferLists',
      indicate: 'NdisFIndicateReceiveNetBufferLists',
      status: 'NdisFIndicateStatus',
    }[where];
    // Each names the filter that took the lock and the DDI it called (the send's inline
    // completion reenters the filter, whose NdisFSendNetBufferListsComplete is under the lock too).
    for (const x of v)
      assert.match(
        x.message,
        new RegExp(`^lock-${where} called NdisF\\w+ holding 1 spin lock\\(s\\) it acquired`),
        x.message,
      );
    assert.ok(
      v.some((x) => x.message.startsWith(`lock-${where} called ${ddi} `)),
      `${where}: ${ddi} not named`,
    );
  }
});

test('NdisSim_ObjectFreedInUse: a filter that frees its own NBL while it is in flight is named, with where the NBL is', () => {
  const drv = variantOfMonitorLwf('frees-in-flight', 'frees its own NBL right after sending it', (c) => {
    let pool: NDIS_HANDLE | null = null;
    let done = false;
    c.SendNetBufferListsHandler = (m, nbl, port, flags) => {
      if (!done) {
        done = true;
        pool ??= ownPool(m.handle);
        const own = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, new Uint8Array(60), 0, 60)!;
        own.SourceHandle = m.handle;
        NdisFSendNetBufferLists(m.handle, own, port, flags);
        NdisFreeNetBufferList(own); // "the miniport has it now"
      }
      NdisFSendNetBufferLists(m.handle, nbl, port, flags);
    };
    c.SendNetBufferListsCompleteHandler = (m, chain, flags) => {
      let pass: NET_BUFFER_LIST | null = null;
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        if (x.SourceHandle !== m.handle) {
          x.Next = pass;
          pass = x;
        }
        x = next;
      }
      if (pass !== null) NdisFSendNetBufferListsComplete(m.handle, pass, flags);
    };
  });
  const w = stack([drv], { until: 100 * ns.ms });
  const v = (w.lastResult?.violations ?? []).filter((x) => x.rule === 'NdisSim_ObjectFreedInUse');
  assert.equal(v.length, 1);
  assert.match(
    v[0]!.message,
    /^frees-in-flight freed NBL #\d+ \(from a pool of frees-in-flight\) with NdisFreeNetBufferList while it is in flight: sent down, and not yet completed back/,
  );
});

test('NdisSim_FilterNblOwnership NdisFSendNetBufferListsComplete: a send completed twice is reported and not passed up again', () => {
  let twice = 0;
  const drv = variantOfMonitorLwf('double-complete', 'completes a send twice', (c) => {
    c.SendNetBufferListsHandler = (m, nbl, port, flags) =>
      NdisFSendNetBufferLists(m.handle, nbl, port, flags);
    c.SendNetBufferListsCompleteHandler = (m, nbl, flags) => {
      NdisFSendNetBufferListsComplete(m.handle, nbl, flags);
      if (twice++ === 0) NdisFSendNetBufferListsComplete(m.handle, nbl, flags);
    };
  });
  const w = stack([drv], { until: 200 * ns.ms });
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => x.rule),
    ['NdisSim_FilterNblOwnership'],
  );
  assert.match(v[0]!.message, /completed already|given back already/);
  const view = w.summary().protocols[0]!.bindings[0]!;
  assert.deepEqual(view.problems, []);
  assert.equal(view.sendCompleted, view.sent);
});

test('NdisSim_FilterNblOwnership NdisFSendNetBufferLists: a send passed on twice (used after it was given away) is reported', () => {
  let again = true;
  const drv = variantOfMonitorLwf('send-twice', 'passes a send on twice', (c) => {
    c.SendNetBufferListsHandler = (m, nbl, port, flags) => {
      NdisFSendNetBufferLists(m.handle, nbl, port, flags);
      if (again) {
        again = false;
        NdisFSendNetBufferLists(m.handle, nbl, port, flags);
      }
    };
    c.SendNetBufferListsCompleteHandler = (m, nbl, flags) =>
      NdisFSendNetBufferListsComplete(m.handle, nbl, flags);
  });
  const w = stack([drv], { until: 200 * ns.ms });
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => x.rule),
    ['NdisSim_FilterNblOwnership'],
  );
  assert.match(v[0]!.message, /NdisFSendNetBufferLists.*(in the miniport|back with the protocol)/);
});

test('NdisSim_FilterNblOwnership NdisFReturnNetBufferLists: a receive returned twice is reported; the miniport gets each NBL back once', () => {
  let once = true;
  const drv = variantOfMonitorLwf('return-twice', 'returns a receive twice', (c) => {
    c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) =>
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
    c.ReturnNetBufferListsHandler = (m, nbls, flags) => {
      NdisFReturnNetBufferLists(m.handle, nbls, flags);
      if (once) {
        once = false;
        NdisFReturnNetBufferLists(m.handle, nbls, flags);
      }
    };
    withStatusPassedOn(c);
  });
  const w = stack([drv], { until: 200 * ns.ms });
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => x.rule),
    ['NdisSim_FilterNblOwnership'],
  );
  assert.match(v[0]!.message, /returned already/);
  const b = w.ndis.adapters[0]!;
  assert.equal(b.data.returned + b.receivesOutstanding, b.data.indicated);
});

test('NdisFilterTimedDataSend: a send a module keeps for 30 s is a bug check (0xC4/0x92011)', () => {
  const drv = variantOfMonitorLwf('send-sink', 'queues sends and never sends them', (c) => {
    c.SendNetBufferListsHandler = () => {};
  });
  const w = stack([drv], { until: 40 * ns.s, collect: false, rate: 10 });
  const r = w.lastResult!;
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.rule, 'NdisFilterTimedDataSend');
  assert.equal(r.bugCheck?.bugCheck.params[0], 0x00092011);
  const at = r.bugCheck!.timeNs;
  assert.ok(at >= 30 * ns.s && at < 32 * ns.s, `at ${at}`);
  // Where the module got it: from the protocol above, 30 s or more before.
  assert.equal(r.bugCheck!.origin?.label, 'Got in');
  const got = /^FilterSendNetBufferLists at (\d+\.\d{6}) s \(an NBL of (\S+)\)$/.exec(r.bugCheck!.origin!.at);
  assert.ok(got !== null, r.bugCheck!.origin!.at);
  assert.ok(at - Number(got[1]) * ns.s >= 30 * ns.s, r.bugCheck!.origin!.at);
  assert.equal(got[2], 'tcpip');
});

test('NdisFilterTimedDataReceive: a receive a module keeps for 30 s is a bug check (0xC4/0x92012)', () => {
  const drv = variantOfMonitorLwf('receive-sink', 'keeps receives', (c) => {
    c.ReceiveNetBufferListsHandler = () => {};
    c.ReturnNetBufferListsHandler = () => {};
    withStatusPassedOn(c);
  });
  const w = stack([drv], { until: 40 * ns.s, collect: false, rate: 10 });
  const r = w.lastResult!;
  assert.equal(r.bugCheck?.rule, 'NdisFilterTimedDataReceive');
  assert.equal(r.bugCheck?.bugCheck.params[0], 0x00092012);
  assert.match(r.bugCheck!.origin?.at ?? '', /^FilterReceiveNetBufferLists at \d+\.\d{6} s$/);
});

test('R7.6 NdisSim_FilterPauseNotDrained: FilterPause returns SUCCESS while the module still holds receives from below', () => {
  const kept: NET_BUFFER_LIST[] = [];
  const drv = variantOfMonitorLwf('keeps-on-pause', 'forgets its receive queue in FilterPause', (c) => {
    c.ReceiveNetBufferListsHandler = (_m, nbls) => {
      kept.push(nbls);
    };
    c.ReturnNetBufferListsHandler = () => {};
    withStatusPassedOn(c);
  });
  const w = stack([drv], { removeAt: 100 * ns.ms, until: 300 * ns.ms });
  assert.ok(kept.length > 0);
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_FilterPauseNotDrained');
  assert.equal(v.length, 1);
  assert.match(v[0]!.message, /receive\(s\) from below not returned/);
});

test('R7.6 NdisSim_FilterDataState: a module that originates a send inside FilterPause (Pausing) is reported', () => {
  const drv = variantOfMonitorLwf('sends-while-pausing', 'flushes a frame of its own in FilterPause', (c) => {
    let pool: NDIS_HANDLE | null = null;
    c.SendNetBufferListsCompleteHandler = () => {};
    const restart = c.RestartHandler;
    c.RestartHandler = (m, p) => {
      pool ??= ownPool(m.handle);
      return restart(m, p);
    };
    c.PauseHandler = (m) => {
      const own = NdisAllocateNetBufferAndNetBufferList(pool!, 0, 0, new Uint8Array(60), 0, 60)!;
      own.SourceHandle = m.handle;
      NdisFSendNetBufferLists(m.handle, own, 0, 0);
      return NDIS_STATUS_SUCCESS;
    };
  });
  const w = stack([drv], { removeAt: 100 * ns.ms, until: 300 * ns.ms, rate: 0 });
  const r = rules(w);
  assert.ok(r.includes('NdisSim_FilterDataState'), r.join());
  // And the pool was never freed: the report names the callback that allocated it (R7.11).
  assert.ok(r.includes('NdisSim_ResourceNotFreed'), r.join());
  const leak = w.lastResult!.violations.find((v) => v.rule === 'NdisSim_ResourceNotFreed')!;
  assert.match(
    leak.message,
    /1 NBL pool\(s\) \(NdisFreeNetBufferListPool; allocated in FilterRestart at 0\.\d{6} s\)/,
  );
  assert.match(leak.origin!.at, /^FilterRestart at 0\.\d{6} s \(NdisAllocateNetBufferListPool\)$/);
});

test("NdisFIndicateReceiveNetBufferLists with NDIS_RECEIVE_FLAGS_RESOURCES: an own NBL is the module's again when the call returns; FilterReturnNetBufferLists is not called for it", () => {
  const s = { indicated: 0, returnsOfOwn: 0, pool: null as NDIS_HANDLE | null };
  const drv = variantOfMonitorLwf('res-indicator', 'indicates own frames with RESOURCES', (c) => {
    c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      s.pool ??= ownPool(m.handle);
      const own = NdisAllocateNetBufferAndNetBufferList(s.pool, 0, 0, new Uint8Array(60), 0, 60)!;
      own.SourceHandle = m.handle;
      NdisFIndicateReceiveNetBufferLists(m.handle, own, port, 1, flags | NDIS_RECEIVE_FLAGS_RESOURCES);
      s.indicated++;
      // Back already: it may reuse or free it at once.
      NdisFreeNetBufferList(own);
    };
    c.ReturnNetBufferListsHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
        if (x.SourceHandle === m.handle) s.returnsOfOwn++;
      NdisFReturnNetBufferLists(m.handle, nbls, flags);
    };
    withStatusPassedOn(c);
  });
  const w = stack([drv], { until: 200 * ns.ms });
  assert.deepEqual(rules(w), []);
  assert.ok(s.indicated > 10);
  assert.equal(s.returnsOfOwn, 0);
  assert.equal(module(w, 'res-indicator').fdata?.ownRecvsOut, 0);
  const view = w.summary().protocols[0]!.bindings[0]!;
  assert.ok(view.copied >= s.indicated, `copied ${view.copied}`);
});

test('NdisSim_FilterNblOwnership: an NBL that came with NDIS_RECEIVE_FLAGS_RESOURCES and that the filter kept past the return of FilterReceiveNetBufferLists is named as such, not as returned twice', () => {
  const s = { kept: null as NET_BUFFER_LIST | null, sawResources: 0 };
  const drv = variantOfMonitorLwf('res-keeper', 'keeps an NBL that came with RESOURCES', (c) => {
    // Passes the NBL it kept on later, from its send handler (as from a timer or work item).
    c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      if (s.kept !== null) {
        const k = s.kept;
        s.kept = null;
        k.Next = null;
        const atDispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
        NdisFIndicateReceiveNetBufferLists(
          m.handle,
          k,
          port,
          1,
          atDispatch ? NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL : 0,
        );
      }
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    c.SendNetBufferListsCompleteHandler = (m, nbls, flags) =>
      NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
    c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0) {
        s.sawResources++;
        if (s.sawResources === 1) {
          s.kept = nbls;
          const rest = nbls.Next;
          if (rest !== null) NdisFIndicateReceiveNetBufferLists(m.handle, rest, port, count - 1, flags);
          return;
        }
      }
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
    };
    c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
    withStatusPassedOn(c);
  });
  const w = stack([drv], { rate: 5000, returnDelayNs: 200 * ns.ms, until: 600 * ns.ms });
  assert.ok(s.sawResources > 0, 'healthy-nic indicated nothing with RESOURCES');
  const v = (w.lastResult?.violations ?? []).filter((x) => x.rule === 'NdisSim_FilterNblOwnership');
  assert.equal(v.length, 1, v.map((x) => x.message).join('\n'));
  assert.match(
    v[0]!.message,
    /came to it with NDIS_RECEIVE_FLAGS_RESOURCES, and it kept the NBL past the return of its FilterReceiveNetBufferLists/,
  );
  assert.doesNotMatch(v[0]!.message, /returned twice/);
});

test('R7.5 starting-a-filter-module, nc-ndis-filter_pause: a Paused module gets the receives the miniport still indicates while the stack pauses for a removal (after its pause, before MiniportPause); returned with NdisFReturnNetBufferLists they go back to the miniport', () => {
  const seen = new Map<string, number>();
  const tap = variantOfMonitorLwf(
    'state-tap',
    'notes its state at each receive; returns them unless running',
    (c) => {
      c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
        const st = (m.handle as unknown as FilterModule).state;
        seen.set(st, (seen.get(st) ?? 0) + count);
        if (st === 'Running') NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
        else if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0)
          NdisFReturnNetBufferLists(m.handle, nbls, flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
      };
      c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
      withStatusPassedOn(c);
    },
  );
  const w = stack([tap], { rate: 200_000, removeAt: 20 * ns.ms, until: 30 * ns.ms });
  assert.ok((seen.get('Paused') ?? 0) > 0, `states seen: ${JSON.stringify([...seen])}`);
  assert.deepEqual(rules(w), []);
  const a = w.summary().adapters[0]!;
  assert.ok(a.data.indicated > 100, String(a.data.indicated));
  assert.equal(a.data.returned, a.data.indicated, 'every receive went back to the miniport');
});

/** Drops every second NBL of a RESOURCES indication by unlinking it; `restore` puts the chain back before returning. */
function resourcesDropper(name: string, restore: boolean, seen: { chains: number }): DriverModule {
  return variantOfMonitorLwf(name, 'drops every second NBL of a RESOURCES indication', (c) => {
    c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0 || count < 2) {
        NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
        return;
      }
      seen.chains++;
      const all: NET_BUFFER_LIST[] = [];
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) all.push(x);
      const kept = all.filter((_, i) => i % 2 === 0);
      for (let i = 0; i < kept.length; i++) kept[i]!.Next = kept[i + 1] ?? null;
      NdisFIndicateReceiveNetBufferLists(m.handle, kept[0]!, port, kept.length, flags);
      if (restore) for (let i = 0; i < all.length; i++) all[i]!.Next = all[i + 1] ?? null;
    };
    c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
    withStatusPassedOn(c);
  });
}

test('NdisSim_FilterNblOwnership (R6.13): a filter that splits the chain of an NDIS_RECEIVE_FLAGS_RESOURCES indication and returns without restoring it is named when FilterReceiveNetBufferLists returns; restored, it passes and the miniport gets every NBL back (nc-ndis-filter_receive_net_buffer_lists)', () => {
  const broken = { chains: 0 };
  const w = stack([resourcesDropper('res-splitter', false, broken)], {
    rate: 5000,
    returnDelayNs: 200 * ns.ms,
    until: 600 * ns.ms,
    burst: 8,
  });
  assert.ok(broken.chains > 0, 'no RESOURCES chain of two or more NBLs came');
  const v = (w.lastResult?.violations ?? []).filter((x) => x.rule === 'NdisSim_FilterNblOwnership');
  assert.equal(v.length, broken.chains, v.map((x) => x.message).join('\n'));
  assert.match(
    v[0]!.message,
    /res-splitter.*FilterReceiveNetBufferLists returned with the chain of an NDIS_RECEIVE_FLAGS_RESOURCES indication changed/,
  );
  assert.match(v[0]!.message, /must restore the original linked list/);
  assert.deepEqual(
    rules(w).filter((r) => r !== 'NdisSim_FilterNblOwnership'),
    [],
    'the model put the chain back: the miniport is not blamed for NBLs it lost',
  );
  const fixed = { chains: 0 };
  const ok = stack([resourcesDropper('res-restorer', true, fixed)], {
    rate: 5000,
    returnDelayNs: 200 * ns.ms,
    until: 600 * ns.ms,
    burst: 8,
  });
  assert.ok(fixed.chains > 0);
  assert.deepEqual(rules(ok), []);
});

test('NdisSim_FilterDataState: a filter that puts its own NdisFilterHandle in SourceHandle of sends from above or receives from below is named when it passes them on (sending-data-from-a-filter-driver)', () => {
  const stamper = (name: string, way: 'send' | 'receive') =>
    variantOfMonitorLwf(name, 'stamps SourceHandle', (c) => {
      c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
        if (way === 'send') nbls.SourceHandle = m.handle;
        NdisFSendNetBufferLists(m.handle, nbls, port, flags);
      };
      c.SendNetBufferListsCompleteHandler = (m, nbls, flags) =>
        NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
      c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
        if (way === 'receive') nbls.SourceHandle = m.handle;
        NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      };
      c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
      withStatusPassedOn(c);
    });
  for (const way of ['send', 'receive'] as const) {
    const w = stack([stamper(`stamp-${way}`, way)], { rate: 200, until: 100 * ns.ms });
    const v = (w.lastResult?.violations ?? []).filter((x) => x.rule === 'NdisSim_FilterDataState');
    assert.ok(v.length > 0, way);
    assert.match(
      v[0]!.message,
      new RegExp(
        `stamp-${way}@nic0: 1 NBL\\(s\\) it got from ${way === 'send' ? 'above' : 'below'} carry its own NdisFilterHandle in SourceHandle`,
      ),
    );
  }
  assert.deepEqual(
    rules(stack([countingLwf], { rate: 200, until: 100 * ns.ms })),
    [],
    'passing them on untouched is fine',
  );
});

test('NdisSim_FilterRegistration: a filter with FilterReceiveNetBufferLists or FilterReturnNetBufferLists but no FilterStatus is reported at registration; the registration stands (nc-ndis-filter_receive_net_buffer_lists)', () => {
  const passOn = (c: Parameters<typeof withStatusPassedOn>[0]) => {
    c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) =>
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
    c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
  };
  const noStatus = variantOfMonitorLwf('rx-no-status', 'filters receives without FilterStatus', passOn);
  const returnOnly = variantOfMonitorLwf('return-no-status', 'FilterReturnNetBufferLists only', (c) => {
    c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
  });
  const withStatus = variantOfMonitorLwf('rx-with-status', 'filters receives, passes status on', (c) => {
    passOn(c);
    withStatusPassedOn(c);
  });
  const w = stack([noStatus, returnOnly, withStatus, countingLwf]);
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => `${x.rule} ${x.message.split(':')[0]}`),
    ['NdisSim_FilterRegistration rx-no-status', 'NdisSim_FilterRegistration return-no-status'],
  );
  assert.match(v[0]!.message, /FilterReceiveNetBufferLists without FilterStatus/);
  assert.match(v[1]!.message, /FilterReturnNetBufferLists without FilterStatus/);
  // The module attached and filters receives all the same.
  assert.equal(module(w, 'rx-no-status').state, 'Running');
  assert.ok(
    w.ndis.trace.events.some((e) => e.actor === 'rx-no-status' && e.what === 'FilterReceiveNetBufferLists'),
    'no receive reached the module',
  );
});

test('the trace names the flags of the filter and protocol data-path calls: each carries its *_DISPATCH_LEVEL flag exactly when it runs at DISPATCH (R6.14, R7.5)', () => {
  const w = stack([countingLwf]);
  assert.equal(w.lastResult?.verdict, 'ok');
  for (const [actor, what, field, flag] of [
    ['counting-lwf', 'FilterSendNetBufferLists', 'SendFlags', 'NDIS_SEND_FLAGS_DISPATCH_LEVEL'],
    [
      'counting-lwf',
      'FilterSendNetBufferListsComplete',
      'SendCompleteFlags',
      'NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL',
    ],
    ['counting-lwf', 'FilterReceiveNetBufferLists', 'ReceiveFlags', 'NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL'],
    ['counting-lwf', 'FilterReturnNetBufferLists', 'ReturnFlags', 'NDIS_RETURN_FLAGS_DISPATCH_LEVEL'],
    ['tcpip', 'ProtocolReceiveNetBufferLists', 'ReceiveFlags', 'NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL'],
    [
      'tcpip',
      'ProtocolSendNetBufferListsComplete',
      'SendCompleteFlags',
      'NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL',
    ],
  ] as const) {
    const calls = w.trace.events.filter((e) => e.kind === 'call' && e.actor === actor && e.what === what);
    assert.ok(calls.length > 10, `${what}: ${calls.length} calls`);
    for (const e of calls) {
      const v = e.data?.[field];
      const names = typeof v === 'string' ? v.split('|') : [];
      assert.equal(
        names.includes(flag),
        e.irql === DISPATCH_LEVEL,
        `${what} at IRQL ${e.irql}: ${field}=${v}`,
      );
    }
  }
});

test('nf-ndis-ndisfsendnetbufferlists: a module that passes sends on with NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK: they go down with the flag and complete; loopback is not modelled, which the model notes say once', () => {
  const flags: number[] = [];
  const asks = variantOfMonitorLwf('asks-loopback', 'asks NDIS to loop its sends back', (c) => {
    c.SendNetBufferListsHandler = (m, nbl, port, f) => {
      flags.push(f);
      NdisFSendNetBufferLists(m.handle, nbl, port, f | NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK);
    };
    c.SendNetBufferListsCompleteHandler = (m, chain, f) =>
      NdisFSendNetBufferListsComplete(m.handle, chain, f);
  });
  const w = stack([asks], { until: 200 * ns.ms });
  assert.equal(w.lastResult?.verdict, 'ok', w.lastResult?.message ?? '');
  assert.ok(flags.length > 0, 'the module saw sends');
  assert.deepEqual(
    w.lastResult?.modelNotes.filter((x) => /LOOPBACK/.test(x)),
    [
      'asks-loopback: NdisFSendNetBufferLists with NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK: loopback is not modelled, so the sends went down and no copy of them was indicated back to the sender',
    ],
  );
});

/**
 * A filter whose module allocates an NBL pool and a timer with its NdisFilterHandle when
 * it restarts the first time, and sets the timer 50 ms on in FilterPause; the timer, if
 * the module is still Paused, takes an NBL from the pool and frees it (`send`: sends it
 * instead). Both are freed in FilterDetach.
 */
function pausedAllocator(name: string, send: boolean) {
  const s = { pool: null as NDIS_HANDLE | null, timer: null as NDIS_HANDLE | null, pausedAllocs: 0 };
  const mod = variantOfMonitorLwf(name, 'allocates from its own pool while Paused', (c) => {
    c.SendNetBufferListsCompleteHandler = (_m, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        NdisFreeNetBufferList(x);
        x = next;
      }
    };
    const restart = c.RestartHandler;
    c.RestartHandler = (m, p) => {
      if (s.pool === null) {
        s.pool = ownPool(m.handle);
        s.timer = NdisAllocateTimerObject(m.handle, {
          Header: {
            Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
            Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
          },
          AllocationTag: 0x6c776170,
          TimerFunction: () => {
            if (m.running) return;
            const nbl = NdisAllocateNetBufferAndNetBufferList(s.pool!, 0, 0, new Uint8Array(60), 0, 60);
            if (nbl === null) return;
            s.pausedAllocs++;
            if (!send) {
              NdisFreeNetBufferList(nbl);
              return;
            }
            nbl.SourceHandle = m.handle;
            NdisFSendNetBufferLists(m.handle, nbl, 0, NDIS_SEND_FLAGS_DISPATCH_LEVEL);
          },
          FunctionContext: null,
        }).TimerObject;
      }
      return restart(m, p);
    };
    const pause = c.PauseHandler;
    c.PauseHandler = (m, p) => {
      // 50 ms on: within the sleep, so it runs as the machine wakes, before MiniportInitializeEx.
      NdisSetTimerObject(s.timer!, -50 * 10_000, 0, null);
      return pause(m, p);
    };
    c.DetachHandler = () => {
      NdisCancelTimerObject(s.timer!);
      NdisFreeTimerObject(s.timer!);
      NdisFreeNetBufferListPool(s.pool!);
    };
  });
  return { mod, s };
}

/** healthy-nic (halted for a sleep: NdisHaltDevicePoweredDown) under `filter`; S3 at 100 ms for 200 ms. */
function sleptStack(filter: DriverModule): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(filter);
  w.addFilter(filter.name);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'sleep', state: 'S3', durationNs: 200 * ns.ms });
  w.at(600 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run(ns.s);
  return w;
}

/** Whether the filter's timer ran between MiniportHaltEx(NdisHaltDevicePoweredDown) and the MiniportInitializeEx of the wake. */
function timerRanWhileHalted(w: World, actor: string): boolean {
  const ev = w.trace.events;
  const halt = ev.findIndex((e) => e.kind === 'call' && e.what === 'MiniportHaltEx');
  assert.ok(halt >= 0, 'healthy-nic is halted for the sleep');
  assert.equal(ev[halt]!.data?.HaltAction, 'NdisHaltDevicePoweredDown');
  const init = ev.findIndex((e, i) => i > halt && e.kind === 'call' && e.what === 'MiniportInitializeEx');
  assert.ok(init > halt, 'and initialized again on wake');
  return ev
    .slice(halt, init)
    .some((e) => e.kind === 'call' && e.actor === actor && e.what === 'NdisTimerFunction');
}

test('R7.5, R7.9, R5.20: a module stays attached (Paused) across a sleep that halts the miniport, so the NBL pool of its NdisFilterHandle stays valid: no NdisSim_StaleHandle for NdisAllocateNetBufferAndNetBufferList while the miniport is halted', () => {
  const { mod, s } = pausedAllocator('paused-allocator', false);
  const w = sleptStack(mod);
  assert.ok(timerRanWhileHalted(w, 'paused-allocator'), 'the timer ran while healthy-nic was halted');
  assert.equal(s.pausedAllocs, 1, 'and got its NBL');
  assert.deepEqual(rules(w), []);
  assert.equal(w.lastResult?.verdict, 'ok');
});

test('R7.6: a Paused module that sends an NBL of its own pool while the miniport is halted for a sleep is NdisSim_FilterDataState (the module is Paused), not NdisSim_StaleHandle (its handle is alive)', () => {
  const { mod } = pausedAllocator('paused-sender', true);
  const w = sleptStack(mod);
  assert.ok(timerRanWhileHalted(w, 'paused-sender'), 'the timer ran while healthy-nic was halted');
  const r = rules(w);
  assert.ok(r.includes('NdisSim_FilterDataState'), r.join());
  assert.ok(!r.includes('NdisSim_StaleHandle'), r.join());
});

/**
 * A filter that sends a frame of its own every 20 ms while Running, and whose FilterPause
 * returns SUCCESS at once, with its own sends possibly still out (the classic bug).
 */
const eagerPauser = variantOfMonitorLwf('eager-pauser', 'pauses without waiting for its own sends', (c) => {
  const s = { pool: null as NDIS_HANDLE | null, timer: null as NDIS_HANDLE | null };
  const attach = c.AttachHandler;
  c.AttachHandler = (h, ctx, p) => {
    const st = attach(h, ctx, p);
    s.pool = ownPool(h);
    s.timer = NdisAllocateTimerObject(h, {
      Header: {
        Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: 0,
      // The context is the module's, from NdisSetTimerObject in FilterRestart.
      TimerFunction: (_s, ctx: unknown) => {
        const m = ctx as LwfModule;
        if (!m.running) return;
        const own = NdisAllocateNetBufferAndNetBufferList(s.pool!, 0, 0, new Uint8Array(60), 0, 60)!;
        own.SourceHandle = m.handle;
        NdisFSendNetBufferLists(m.handle, own, 0, NDIS_SEND_FLAGS_DISPATCH_LEVEL);
      },
      FunctionContext: null,
    }).TimerObject;
    return st;
  };
  const restart = c.RestartHandler;
  c.RestartHandler = (m, p) => {
    const st = restart(m, p);
    NdisSetTimerObject(s.timer!, -20 * 10_000, 20, m);
    return st;
  };
  const pause = c.PauseHandler;
  c.PauseHandler = (m, p) => {
    NdisCancelTimerObject(s.timer!);
    return pause(m, p);
  };
  c.SendNetBufferListsCompleteHandler = (m, chain, flags) => {
    let pass: NET_BUFFER_LIST | null = null;
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
      const next: NET_BUFFER_LIST | null = x.Next;
      x.Next = null;
      if (x.SourceHandle === m.handle) NdisFreeNetBufferList(x);
      else {
        x.Next = pass;
        pass = x;
      }
      x = next;
    }
    if (pass !== null) NdisFSendNetBufferListsComplete(m.handle, pass, flags);
  };
  c.DetachHandler = () => {
    NdisFreeTimerObject(s.timer!);
    NdisFreeNetBufferListPool(s.pool!);
  };
});

/** flaky-nic hung at 1 s under eager-pauser, tcpip bound with no traffic, `action` at 1.2 s. */
function hungThen(action: 'stop-filter' | 'sleep' | 'surprise-remove'): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(flakyNic);
  w.addDriver(eagerPauser);
  w.addFilter('eager-pauser');
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 0, frameBytes: 64, returnDelayNs: ns.ms, statisticsEveryNs: 0 },
  });
  w.addDevice({ name: 'nic0', driver: 'flaky-nic', faults: { hangAtNs: ns.s } });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(
    1200 * ns.ms,
    action === 'stop-filter'
      ? { kind: 'stop-filter', driver: 'eager-pauser' }
      : action === 'sleep'
        ? { kind: 'sleep', state: 'S3', durationNs: 500 * ns.ms }
        : { kind: 'surprise-remove', device: 'nic0' },
  );
  w.run(3 * ns.s);
  return w;
}

test('R7.6 NdisSim_FilterPauseNotDrained, docs/model.md recipe: a SimNic hung (faults.hangAt) holds the module’s own sends; a stop-filter or a sleep before the reset pauses it with them out; a removal does not (the surprise-removal notification gets them back first)', () => {
  for (const action of ['stop-filter', 'sleep'] as const) {
    const v = hungThen(action).lastResult!.violations;
    assert.deepEqual(
      v.map((x) => x.rule),
      ['NdisSim_FilterPauseNotDrained'],
      action,
    );
    assert.match(v[0]!.message, /send\(s\) it originated not back/, action);
  }
  assert.deepEqual(rules(hungThen('surprise-remove')), []);
});

test('R7.5, R7.6 NdisSim_FilterDataState: a send the module originates inside FilterDetach is from a Detached module (detaching-a-filter-module: Detached from the start of FilterDetach)', () => {
  const f = variantOfMonitorLwf('detach-sender', 'sends a frame of its own in FilterDetach', (c) => {
    c.SendNetBufferListsCompleteHandler = (_m, chain) => NdisFreeNetBufferList(chain);
    c.DetachHandler = (m) => {
      const own = NdisAllocateNetBufferAndNetBufferList(ownPool(m.handle), 0, 0, new Uint8Array(60), 0, 60)!;
      own.SourceHandle = m.handle;
      NdisFSendNetBufferLists(m.handle, own, 0, 0);
    };
  });
  const v = stack([f], { rate: 0, removeAt: 100 * ns.ms }).lastResult!.violations;
  const state = v.filter((x) => x.rule === 'NdisSim_FilterDataState');
  assert.equal(state.length, 1);
  assert.match(state[0]!.message, /from detach-sender@nic0 while it is Detached: 1 NBL\(s\) it originated/);
});
