// Receive indications (06-oid-datapath.md R6.12, R6.13): chains the miniport hands up,
// more than one bound protocol, and chains a buggy driver breaks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rxNbl, rxPool, spinLock } from '../src/drivers/buggy/kit.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import {
  DISPATCH_LEVEL,
  NDIS_DEFAULT_PORT_NUMBER,
  type NDIS_HANDLE,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_NAMES,
  NDIS_STATUS_SUCCESS,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisMIndicateReceiveNetBufferLists,
  type NET_BUFFER_LIST,
} from '../src/index.ts';
import { flagNames } from '../src/ndis/datapath.ts';
import { World } from '../src/world.ts';
import { after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** A miniport that indicates one chain of `build`'s making 50 ms after its restart. */
function indicating(build: (next: () => NET_BUFFER_LIST) => NET_BUFFER_LIST, count: number): Hooks {
  return {
    initialize: (a) => {
      a.state.pool = rxPool(a);
      a.state.returned = 0;
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      after(a, 50, () => {
        const chain = build(() => rxNbl(a, a.state.pool as NDIS_HANDLE));
        NdisMIndicateReceiveNetBufferLists(a.handle, chain, 0, count, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
      });
      return NDIS_STATUS_SUCCESS;
    },
    returnNbls: (a, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next)
        a.state.returned = Number(a.state.returned) + 1;
    },
  };
}

function world(hooks: Hooks, protocols: string[], seed: number): { w: World; returned: () => number } {
  const drv = scriptedDriver('rx-nic', hooks);
  const w = new World({ seed });
  w.addDriver(drv);
  // Each protocol keeps the NBLs for 5 ms, one by one, before giving them back.
  for (const p of protocols)
    w.addProtocol(p, {
      traffic: { ratePerSecond: 0, frameBytes: 64, returnDelayNs: 5 * ns.ms, statisticsEveryNs: 0 },
    });
  w.addDevice({ name: 'nic0', driver: 'rx-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(300 * ns.ms, { kind: 'remove', device: 'nic0' });
  return { w, returned: () => Number(drv.adapters[0]!.state.returned) };
}

const three = (next: () => NET_BUFFER_LIST): NET_BUFFER_LIST => {
  const n1 = next();
  const n2 = next();
  n1.Next = n2;
  n2.Next = next();
  return n1;
};

test('R6.13: with two protocols bound each gets the whole chain, and the miniport gets every NBL back once', () => {
  for (const seed of [1, 2, 3, 7, 11]) {
    const { w, returned } = world(indicating(three, 3), ['p1', 'p2'], seed);
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.message ?? r.bugCheck?.message ?? ''}`);
    const views = w.summary().protocols.map((p) => p.bindings.map((v) => [v.received, v.returned]));
    assert.deepEqual(views, [[[3, 3]], [[3, 3]]], `seed ${seed}`);
    assert.equal(returned(), 3, `seed ${seed}`);
    assert.equal(w.summary().adapters[0]!.data.returned, 3);
  }
});

test('R6.12: a chain that loops back on itself is NdisSim_ReceiveIndication, not a hang', () => {
  const loop = (next: () => NET_BUFFER_LIST): NET_BUFFER_LIST => {
    const n1 = next();
    const n2 = next();
    n1.Next = n2;
    n2.Next = n1;
    return n1;
  };
  const { w } = world(indicating(loop, 3), ['tcpip'], 1);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck!.rule, 'NdisSim_ReceiveIndication');
  assert.match(r.bugCheck!.message, /loops back on itself/);
});

test('R6.12, NET_BUFFER page: a NET_BUFFER whose DataOffset + DataLength runs past its buffer (its MDL chain, 1514 bytes here) is NdisSim_ReceiveIndication; one that fills it exactly passes', () => {
  const sized = (offset: number, length: number) =>
    indicating((next) => {
      const nbl = next();
      nbl.FirstNetBuffer!.DataOffset = offset;
      nbl.FirstNetBuffer!.DataLength = length;
      return nbl;
    }, 1);
  // A jumbo frame's length taken from the hardware, into a 1514-byte receive buffer.
  const jumbo = world(sized(0, 9000), ['tcpip'], 1).w.run(1 * ns.s);
  assert.equal(jumbo.verdict, 'bugcheck');
  assert.equal(jumbo.bugCheck!.rule, 'NdisSim_ReceiveIndication');
  assert.match(
    jumbo.bugCheck!.message,
    /DataOffset \+ DataLength \(0 \+ 9000\) runs past its MDL chain of 1514 bytes/,
  );
  const offset = world(sized(14, 1501), ['tcpip'], 1).w.run(1 * ns.s);
  assert.match(offset.bugCheck?.message ?? '', /\(14 \+ 1501\) runs past/);
  const full = world(sized(14, 1500), ['tcpip'], 1).w.run(1 * ns.s);
  assert.equal(full.verdict, 'ok', full.bugCheck?.message);
});

test('R6.12, NdisMIndicateReceiveNetBufferLists page: a PortNumber other than the default port (0) of a driver that allocated no ports is NdisSim_ReceiveIndication', () => {
  const onPort = (port: number): Hooks => ({
    ...indicating((next) => next(), 1),
    restart: (a) => {
      after(a, 50, () => {
        const nbl = rxNbl(a, a.state.pool as NDIS_HANDLE);
        NdisMIndicateReceiveNetBufferLists(a.handle, nbl, port, 1, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const bad = world(onPort(1), ['tcpip'], 1).w.run(1 * ns.s);
  assert.equal(bad.verdict, 'bugcheck');
  assert.equal(bad.bugCheck!.rule, 'NdisSim_ReceiveIndication');
  assert.match(bad.bugCheck!.message, /PortNumber 1 is not a port of nic0/);
  const good = world(onPort(NDIS_DEFAULT_PORT_NUMBER), ['tcpip'], 1).w.run(1 * ns.s);
  assert.equal(good.verdict, 'ok', good.bugCheck?.message);
});

test('R8.11: a receive indicated while the driver holds its spin lock is NdisSim_LockHeldAcrossCall; released first, it passes', () => {
  const locked = (hold: boolean): Hooks => {
    const h = indicating(three, 3);
    return {
      ...h,
      restart: (a) => {
        const lock = spinLock();
        after(a, 50, () => {
          const chain = three(() => rxNbl(a, a.state.pool as NDIS_HANDLE));
          NdisDprAcquireSpinLock(lock);
          if (!hold) NdisDprReleaseSpinLock(lock);
          NdisMIndicateReceiveNetBufferLists(a.handle, chain, 0, 3, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
          if (hold) NdisDprReleaseSpinLock(lock);
        });
        return NDIS_STATUS_SUCCESS;
      },
    };
  };
  const bad = world(locked(true), ['p1'], 1).w.run(2 * ns.s);
  assert.equal(bad.bugCheck?.rule, 'NdisSim_LockHeldAcrossCall');
  assert.equal(bad.bugCheck?.ddi, 'NdisMIndicateReceiveNetBufferLists');
  assert.match(
    bad.bugCheck!.message,
    /rx-nic called NdisMIndicateReceiveNetBufferLists holding 1 spin lock\(s\) it acquired: the drivers NDIS calls from NdisMIndicateReceiveNetBufferLists may call back into rx-nic/,
  );
  assert.equal(world(locked(false), ['p1'], 1).w.run(2 * ns.s).verdict, 'ok');
});

test('the trace names the flags NDIS passes: SendFlags of MiniportSendNetBufferLists and ReturnFlags of MiniportReturnNetBufferLists carry NDIS_*_FLAGS_DISPATCH_LEVEL when the call runs at DISPATCH (R6.14), by name', () => {
  const w = new World({ seed: 2 });
  w.addDriver(healthyNic);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 200 } });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 200, rxFrameBytes: 100 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(500 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  for (const [what, field, name] of [
    ['MiniportSendNetBufferLists', 'SendFlags', 'NDIS_SEND_FLAGS_DISPATCH_LEVEL'],
    ['MiniportReturnNetBufferLists', 'ReturnFlags', 'NDIS_RETURN_FLAGS_DISPATCH_LEVEL'],
  ] as const) {
    const calls = w.trace.events.filter((e) => e.kind === 'call' && e.what === what);
    assert.ok(calls.length > 10, `${what}: ${calls.length} calls`);
    // The built-in protocol sends and returns from DPCs.
    for (const e of calls) assert.deepEqual([e.irql, e.data?.[field]], [DISPATCH_LEVEL, name], what);
  }
  // No bit is 0 (the value NDIS passes at PASSIVE); more than one bit, and a bit without a name.
  assert.equal(flagNames(0, NDIS_SEND_FLAGS_NAMES), 0);
  // More than one bit, and a bit without a name.
  assert.equal(
    flagNames(
      NDIS_SEND_FLAGS_DISPATCH_LEVEL | NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK | 0x100,
      NDIS_SEND_FLAGS_NAMES,
    ),
    'NDIS_SEND_FLAGS_DISPATCH_LEVEL|NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK|0x100',
  );
  assert.equal(flagNames(0x80000000, NDIS_SEND_FLAGS_NAMES), '0x80000000');
});

test('wire.burst: frames that arrive as a train raise one interrupt, and the SimNic miniport indicates them as one chain; the rate still counts frames', () => {
  const chains = (burst: number) => {
    const w = new World({ seed: 1 });
    w.addDriver(healthyNic);
    w.addProtocol('tcpip', { traffic: { ratePerSecond: 1, returnDelayNs: ns.ms } });
    w.addDevice({
      name: 'nic0',
      driver: 'healthy-nic',
      wire: { rxPerSecond: 8000, rxFrameBytes: 100, ...(burst === 1 ? {} : { rxBurst: burst }) },
    });
    w.at(0, { kind: 'start', device: 'nic0' });
    assert.equal(w.run(200 * ns.ms).verdict, 'ok');
    const calls = w.trace.events.filter(
      (e) => e.kind === 'call' && e.what === 'ProtocolReceiveNetBufferLists',
    );
    return {
      counts: new Set(calls.map((e) => e.data?.count)),
      frames: w.summary().adapters[0]!.data.indicated,
    };
  };
  const one = chains(1);
  const eight = chains(8);
  assert.deepEqual([...one.counts], [1]);
  assert.deepEqual([...eight.counts], [8]);
  // The same frames a second either way, give or take a train.
  assert.ok(Math.abs(one.frames - eight.frames) <= 8, `${one.frames} against ${eight.frames}`);
  assert.ok(eight.frames > 1000, `${eight.frames} frames`);
});
