// Rules of removal, OID requests and the data path that no other test pinned down:
// the removal pause reason by NDIS version (R3.2), no reset between a successful
// query-remove and the remove (R5.1), an OID request's own Timeout (R6.4), no request
// while Initializing (R2.3), MiniportCancelSend (R6.10), receives (R6.13, R6.15).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rxNbl, rxPool } from '../src/drivers/buggy/kit.ts';
import {
  type NDIS_HANDLE,
  NDIS_PAUSE_MINIPORT_DEVICE_REMOVE,
  NDIS_PAUSE_NDIS_INTERNAL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisMIndicateReceiveNetBufferLists,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  type NET_BUFFER_LIST,
  OID_GEN_MEDIA_CONNECT_STATUS,
  OID_GEN_STATISTICS,
} from '../src/index.ts';
import { NdisCancelSendNetBufferLists } from '../src/ndis/protocol-api.ts';
import type { NDIS_OID_REQUEST } from '../src/ndis/types.ts';
import { fmtTime } from '../src/report/format.ts';
import { ChoiceSite, type Strategy } from '../src/sim/choice.ts';
import { World } from '../src/world.ts';
import { abortPendingOid, after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { findEvent, inOrder, irpDone, is, ns, testWorld } from './helpers/world.ts';

const statistics = (timeoutS: number) =>
  ({ kind: 'oid', device: 'nic0', oid: OID_GEN_STATISTICS, set: false, value: null, timeoutS }) as const;

const isStatistics = (req: NDIS_OID_REQUEST): boolean => req.DATA.Oid === OID_GEN_STATISTICS;

// ------------------------------------------------------------------ R3.2

/** The PauseReason of every MiniportPause a driver of NDIS 6.`minor` gets in an orderly removal. */
function removalPauseReasons(minor: number): number[] {
  const reasons: number[] = [];
  const drv = scriptedDriver(`nic-6${minor}`, {
    characteristics: (c) => {
      c.MinorNdisVersion = minor;
      const pause = c.PauseHandler;
      c.PauseHandler = (ctx, params) => {
        reasons.push(params.PauseReason);
        return pause(ctx, params);
      };
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 500 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(w.device('nic0').status, 'removed');
  return reasons;
}

test('R3.2: a removal pauses a 6.40 driver with NDIS_PAUSE_MINIPORT_DEVICE_REMOVE, an older one with NDIS_PAUSE_NDIS_INTERNAL', () => {
  assert.deepEqual(removalPauseReasons(40), [NDIS_PAUSE_MINIPORT_DEVICE_REMOVE]);
  // Below 6.40 the reason means nothing, and NDIS never promises "no restart".
  assert.deepEqual(removalPauseReasons(30), [NDIS_PAUSE_NDIS_INTERNAL]);
});

// ------------------------------------------------------------------ R5.1

/**
 * Fixed choices: PnP steps take their longest (200 µs), everything else its first
 * option. The query-remove and the remove IRP are then 200 µs apart.
 */
const slowPnp: Strategy = {
  name: 'slow-pnp',
  pick: (site, count) => (site === ChoiceSite.PnpLatency ? count - 1 : 0),
};

test('R5.1: after a successful query-remove no reset starts, though MiniportCheckForHangEx says the adapter hangs', () => {
  let world: World | null = null;
  let ticks = 0;
  const drv = scriptedDriver('qr-nic', {
    // The first tick asks for the removal so that its query-remove lands just before the
    // next tick (2 s later) and its remove IRP just after; from then on the adapter "hangs".
    checkForHang: () => {
      if (++ticks === 1)
        world!.at(world!.kernel.now + 2 * ns.s - 300 * ns.us, { kind: 'remove', device: 'nic0' });
      return ticks > 1;
    },
  });
  const w = new World({ seed: 1, strategy: slowPnp });
  world = w;
  w.addDriver(drv);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'qr-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(6 * ns.s);
  assert.equal(r.verdict, 'ok');
  const ev = w.trace.events;
  // The second tick falls between the completed query-remove and the remove IRP.
  const [, hang] = inOrder(ev, [
    ['QUERY_REMOVE succeeds', (e) => irpDone('IRP_MN_QUERY_REMOVE_DEVICE')(e) && e.data?.status === 0],
    ['hang reported', is('call', 'MiniportCheckForHangEx')],
    ['REMOVE_DEVICE', is('irp', 'IRP_MN_REMOVE_DEVICE')],
  ]);
  assert.equal(ticks, 2);
  assert.ok(findEvent(ev, is('ndis', 'reset not started (R4.11)'), hang!) > hang!);
  assert.ok(!drv.calls.includes('MiniportResetEx'), 'no reset in QueryRemoved');
  assert.equal(w.device('nic0').status, 'removed');
});

test('R5.1 (control): the same hang without a removal under way resets the adapter', () => {
  let ticks = 0;
  const drv = scriptedDriver('qr-nic', { checkForHang: () => ++ticks === 2 });
  const w = new World({ seed: 1, strategy: slowPnp });
  w.addDriver(drv);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'qr-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  assert.equal(w.run(5 * ns.s).verdict, 'ok');
  assert.deepEqual(
    drv.calls.filter((c) => c === 'MiniportResetEx'),
    ['MiniportResetEx'],
  );
});

// ------------------------------------------------------------------ R6.4

test("R6.4: a pending request whose Timeout runs out goes to MiniportCancelOidRequest; the driver's REQUEST_ABORTED completes it", () => {
  const cancelled: { id: unknown; atNs: number }[] = [];
  let world: World | null = null;
  const drv = scriptedDriver('to-nic', {
    oid: (a, req) => {
      if (!isStatistics(req)) return NDIS_STATUS_SUCCESS;
      a.state.pending = req;
      return NDIS_STATUS_PENDING;
    },
    cancelOid: (a, id) => {
      cancelled.push({ id, atNs: world!.kernel.now });
      abortPendingOid(a, id);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'to-nic' }],
    protocols: [],
    actions: [{ atNs: 100 * ns.ms, action: statistics(1) }],
  });
  world = w;
  const r = w.run(4 * ns.s);
  assert.equal(r.verdict, 'ok');
  const a = drv.adapters[0]!;
  assert.equal(cancelled.length, 1);
  // Timeout is in seconds: the cancel comes once the request (issued at 100 ms) is
  // 1 s old, and well before a second one has passed.
  const age = cancelled[0]!.atNs - 100 * ns.ms;
  assert.ok(age >= 1 * ns.s && age < 2 * ns.s, `cancelled ${age} ns after the request`);
  assert.notEqual(cancelled[0]!.id, null);
  assert.equal(a.state.pending, undefined);
  const done = w.trace.events.filter((e) => is('ndis', 'OID request completed')(e));
  assert.deepEqual(
    done.map((e) => e.data?.status),
    ['NDIS_STATUS_REQUEST_ABORTED'],
  );
});

test("a scenario's query NDIS answers itself (OID_GEN_MEDIA_CONNECT_STATUS) is completed once, with its answer in the trace, and not also 'refused'", () => {
  const drv = scriptedDriver('answered-nic', {});
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'answered-nic' }],
    protocols: [],
    actions: [
      {
        atNs: 100 * ns.ms,
        action: {
          kind: 'oid',
          device: 'nic0',
          oid: OID_GEN_MEDIA_CONNECT_STATUS,
          set: false,
          value: null,
          timeoutS: 0,
        },
      },
    ],
  });
  assert.equal(w.run(ns.s).verdict, 'ok');
  const ndisLines = w.trace.events.filter((e) => e.kind === 'ndis' && /^OID request/.test(e.what));
  assert.deepEqual(
    ndisLines.map((e) => e.what),
    ['OID request answered by NDIS', 'OID request completed'],
  );
  assert.deepEqual(ndisLines[1]!.data, {
    adapter: 'nic0',
    Oid: 'OID_GEN_MEDIA_CONNECT_STATUS',
    status: 'NDIS_STATUS_SUCCESS',
    BytesWritten: 4,
    InformationBuffer: 0,
  });
});

// ------------------------------------------------------------------ R2.3

test('R2.3: a request that arrives while MiniportInitializeEx blocks is refused, and never reaches the miniport', () => {
  const drv = scriptedDriver('slow-init', {
    initialize: () => {
      NdisMSleep(200_000);
      return NDIS_STATUS_SUCCESS;
    },
    oid: () => NDIS_STATUS_SUCCESS,
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'slow-init' }],
    protocols: [],
    actions: [{ atNs: 100 * ns.ms, action: statistics(0) }],
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  const ev = w.trace.events;
  const [, refused] = inOrder(ev, [
    ['init begins', is('call', 'MiniportInitializeEx')],
    ['request refused', is('ndis', 'OID request refused')],
  ]);
  assert.equal(ev[refused!]!.data?.status, 'NDIS_STATUS_ADAPTER_NOT_READY');
  // Initialization was still under way when the request came.
  assert.ok(findEvent(ev, is('state', 'Initializing → Paused'), refused!) > refused!);
  assert.equal(w.adapter('nic0')!.state, 'Running');
  assert.ok(!drv.calls.includes('MiniportOidRequest'));
});

// ------------------------------------------------------------------ R6.10

test('R6.10: NdisCancelSendNetBufferLists reaches MiniportCancelSend with its CancelId, and not once the adapter is halted', () => {
  const ids: unknown[] = [];
  const drv = scriptedDriver('cs-nic', {
    characteristics: (c) => {
      c.CancelSendHandler = (_ctx, id) => {
        ids.push(id);
      };
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'cs-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  w.run(500 * ns.ms);
  const b = w.adapter('nic0')!;
  assert.equal(b.state, 'Running');
  const bd = b.bindings[0]!;
  NdisCancelSendNetBufferLists(bd, 'cancel-1');
  assert.deepEqual(ids, ['cancel-1']);
  assert.equal(w.run(2 * ns.s).verdict, 'ok');
  assert.equal(b.state, 'Halted');
  // A protocol that still holds its binding handle after the halt: NDIS calls no one.
  NdisCancelSendNetBufferLists(bd, 'cancel-2');
  assert.deepEqual(ids, ['cancel-1']);
});

// ------------------------------------------------------------ R6.13, R6.15

/** Counts what MiniportReturnNetBufferLists hands back. */
function counting(extra: Hooks): Hooks {
  return {
    ...extra,
    returnNbls: (a, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next)
        a.state.returned = Number(a.state.returned ?? 0) + 1;
    },
  };
}

test('R6.13: NBLs indicated with NDIS_RECEIVE_FLAGS_RESOURCES are the miniport’s again when the call returns; none comes back through MiniportReturnNetBufferLists', () => {
  const drv = scriptedDriver(
    'res-nic',
    counting({
      initialize: (a) => {
        a.state.pool = rxPool(a);
        return NDIS_STATUS_SUCCESS;
      },
      restart: (a) => {
        after(a, 50, () => {
          const nbl = rxNbl(a, a.state.pool as NDIS_HANDLE);
          // Short of buffers: the protocol must copy, the NBL is back at once...
          NdisMIndicateReceiveNetBufferLists(a.handle, nbl, 0, 1, NDIS_RECEIVE_FLAGS_RESOURCES);
          a.state.afterResources = a.state.returned ?? 0;
          // ...so the driver may indicate it again straight away, this time lending it.
          NdisMIndicateReceiveNetBufferLists(a.handle, nbl, 0, 1, 0);
        });
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  const w = new World({ seed: 1 });
  w.addDriver(drv);
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 0, frameBytes: 64, returnDelayNs: 5 * ns.ms, statisticsEveryNs: 0 },
  });
  w.addDevice({ name: 'nic0', driver: 'res-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(500 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message ?? '');
  const a = drv.adapters[0]!;
  assert.equal(a.state.afterResources, 0, 'no return for the RESOURCES indication');
  assert.equal(a.state.returned, 1, 'the lent indication comes back once');
  const view = w.summary().protocols[0]!.bindings[0]!;
  assert.deepEqual([view.copied, view.received, view.returned], [1, 1, 1]);
  const data = w.summary().adapters[0]!.data;
  assert.deepEqual([data.indicatedWithResources, data.indicated, data.returned], [1, 1, 1]);
});

test('R6.15: a receive indicated in Restarting, once MiniportRestart was called, is legal; with the protocol still paused NDIS gives it straight back', () => {
  const drv = scriptedDriver(
    'rst-nic',
    counting({
      initialize: (a) => {
        a.state.pool = rxPool(a);
        return NDIS_STATUS_SUCCESS;
      },
      restart: (a) => {
        NdisMIndicateReceiveNetBufferLists(a.handle, rxNbl(a, a.state.pool as NDIS_HANDLE), 0, 1, 0);
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'rst-nic' }],
    actions: [{ atNs: 500 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message ?? '');
  assert.deepEqual(r.violations, []);
  const ev = w.trace.events;
  // The NBL comes back inside MiniportRestart, during the indication.
  inOrder(ev, [
    ['restart begins', is('state', 'Paused → Restarting')],
    ['MiniportRestart', is('call', 'MiniportRestart')],
    ['back to the miniport', is('call', 'MiniportReturnNetBufferLists')],
    ['MiniportRestart returns', is('return', 'MiniportRestart')],
    ['restart done', is('state', 'Restarting → Running')],
  ]);
  assert.equal(drv.adapters[0]!.state.returned, 1);
  assert.equal(w.summary().protocols[0]!.bindings[0]!.received, 0);
});

// ------------------------------------------------------------------ R6.9

test('R6.9: a send completed twice is NdisSim_SendCompleteUnexpected that says "completed twice" and when the first completion was, as a reset completed twice does', () => {
  let first = '';
  const w = new World({ seed: 1 });
  const drv = scriptedDriver('twice-nic', {
    send: (a, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
      const nbl = chain;
      NdisMSendNetBufferListsComplete(a.handle, chain, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
      first ||= fmtTime(w.machine.now);
      // The bug: a TX-done path that completes the same NBL again 1 ms later.
      after(a, 1, () =>
        NdisMSendNetBufferListsComplete(a.handle, nbl, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL),
      );
    },
  });
  w.addDriver(drv);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 10 } });
  w.addDevice({ name: 'nic0', driver: 'twice-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_SendCompleteUnexpected');
  assert.match(
    r.violations[0]?.message ?? '',
    new RegExp(
      `^NBL #\\d+ completed twice: NdisMSendNetBufferListsComplete already completed it at ${first.replace('.', '\\.')} .*; it is not a send pending on nic0 \\(R6\\.9\\)$`,
    ),
  );
});
