// Every way an adapter goes away (05-removal.md, 02-init-halt.md): orderly removal
// with a veto and a cancel, refusal of a failed device, disable, surprise removal of
// a vanished NIC, stop and re-initialization, a failed restart, shutdown, unload.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listOf } from '../src/drivers/buggy/kit.ts';
import { flakyNic } from '../src/drivers/flaky-nic.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import {
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateTimerObject,
  NdisCloseAdapterEx,
  NdisCompleteUnbindAdapterEx,
  NdisDevicePnPEventPowerProfileChanged,
  NdisDevicePnPEventSurpriseRemoved,
  NdisFreeTimerObject,
  NdisHaltDeviceDisabled,
  NdisHaltDeviceFailed,
  NdisHaltDeviceStopped,
  NdisHaltDeviceSurpriseRemoved,
  NdisMOidRequestComplete,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisMRestartComplete,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  NdisPowerProfileAcOnLine,
  NdisSetTimerObject,
  type NET_BUFFER_LIST,
  OID_GEN_STATISTICS,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { trafficDefaults } from '../src/stack/protocol.ts';
import { type BindingContext, type BoundProtocol, bindingProtocol } from './helpers/protocol.ts';
import { after, type Hooks, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { findEvent, inOrder, irpDone, is, ns, statisticsQuery, testWorld } from './helpers/world.ts';

test('R5.1, R5.4: orderly removal: query-remove, pause, unbind, MiniportHaltEx(NdisHaltDeviceDisabled), FDO deleted', () => {
  for (const seed of [1, 2, 3]) {
    const drv = scriptedDriver('t-nic');
    const w = testWorld({
      seed,
      drivers: [drv],
      devices: [{ name: 'nic0', driver: 't-nic' }],
      actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    });
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok');
    const ev = w.trace.events;
    inOrder(ev, [
      ['QUERY_REMOVE', is('irp', 'IRP_MN_QUERY_REMOVE_DEVICE')],
      [
        'protocol hears it',
        (e) =>
          e.kind === 'call' &&
          e.what === 'ProtocolNetPnPEvent' &&
          e.data?.NetEvent === 'NetEventQueryRemoveDevice',
      ],
      ['REMOVE_DEVICE', is('irp', 'IRP_MN_REMOVE_DEVICE')],
      ['protocol paused', is('binding', 'Running → Pausing')],
      ['MiniportPause', is('call', 'MiniportPause')],
      ['unbind', is('call', 'ProtocolUnbindAdapterEx')],
      ['halt', is('call', 'MiniportHaltEx')],
      ['FDO deleted', is('ndis', 'FDO deleted')],
      ['unload', is('call', 'MiniportDriverUnload')],
    ]);
    assert.deepEqual(
      drv.calls.filter((c) => c.startsWith('MiniportHaltEx')),
      [`MiniportHaltEx(${NdisHaltDeviceDisabled})`],
    );
    assert.equal(w.device('nic0').status, 'removed');
    assert.equal(w.device('nic0').problem, 0);
  }
});

test('R5.1 (option honourProtocolVeto), R5.3: a protocol veto cancels the removal and the adapter carries on', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    protocols: [],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  w.addProtocol('vetoer', { vetoQueryRemove: true });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok');
  const ev = w.trace.events;
  inOrder(ev, [
    ['QUERY_REMOVE failed', (e) => irpDone('IRP_MN_QUERY_REMOVE_DEVICE')(e) && e.data?.status !== 0],
    ['CANCEL_REMOVE', is('irp', 'IRP_MN_CANCEL_REMOVE_DEVICE')],
    [
      'protocol hears the cancel',
      (e) => e.kind === 'call' && e.data?.NetEvent === 'NetEventCancelRemoveDevice',
    ],
  ]);
  assert.equal(findEvent(ev, is('call', 'MiniportHaltEx')), -1);
  assert.equal(w.adapter('nic0')!.state, 'Running');
  assert.equal(w.adapter('nic0')!.pnpState, 'Started');
  assert.equal(w.device('nic0').status, 'started');
});

test('R5.3, R4.11: a query NDIS accepted but the bus driver below fails (vetoBelow) is cancelled; the adapter is Started again, and resets start again', () => {
  for (const [kind, query, cancel, state] of [
    ['remove', 'IRP_MN_QUERY_REMOVE_DEVICE', 'IRP_MN_CANCEL_REMOVE_DEVICE', 'QueryRemoved'],
    ['stop', 'IRP_MN_QUERY_STOP_DEVICE', 'IRP_MN_CANCEL_STOP_DEVICE', 'QueryStopped'],
  ] as const) {
    // The NIC hangs from 3 s on (ticks at 2 and 4 s); the query comes at 1 s.
    const drv = scriptedDriver(`veto-below-${kind}`, {
      restart: (a) => {
        after(a, 3000, (x) => {
          x.state.hung = true;
        });
        return NDIS_STATUS_SUCCESS;
      },
      checkForHang: (a) => a.state.hung === true,
      reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      actions: [{ atNs: 1 * ns.s, action: { kind, device: 'nic0', vetoBelow: true } }],
    });
    const r = w.run(5 * ns.s);
    assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
    const ev = w.trace.events;
    inOrder(ev, [
      [`${query} passed by NDIS`, (e) => irpDone(query)(e) && e.data?.status === 0],
      ['failed below', is('device', /failed by the bus driver below the FDO/)],
      [cancel, irpDone(cancel)],
      ['a reset once the cancel is done', is('call', 'MiniportResetEx')],
    ]);
    assert.notEqual(w.adapter('nic0')!.pnpState, state);
    assert.equal(w.adapter('nic0')!.pnpState, 'Started', kind);
    assert.equal(findEvent(ev, is('call', 'MiniportHaltEx')), -1, kind);
    assert.equal(w.adapter('nic0')!.state, 'Running');
    assert.equal(w.device('nic0').status, 'started');
  }
  // The protocols hear the cancel of a removal (R5.3).
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0', vetoBelow: true } }],
  });
  assert.equal(w.run(2 * ns.s).verdict, 'ok');
  inOrder(w.trace.events, [
    ['query', (e) => e.kind === 'call' && e.data?.NetEvent === 'NetEventQueryRemoveDevice'],
    ['cancel', (e) => e.kind === 'call' && e.data?.NetEvent === 'NetEventCancelRemoveDevice'],
  ]);
});

test('R5.1 (option off): with honourProtocolVeto false the veto is ignored and the adapter is removed', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    protocols: [],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { ndis: { honourProtocolVeto: false } },
  });
  w.addProtocol('vetoer', { vetoQueryRemove: true });
  w.run(3 * ns.s);
  assert.equal(w.adapter('nic0')!.haltAction, NdisHaltDeviceDisabled);
  assert.equal(w.device('nic0').status, 'removed');
});

test('R5.2, R5.15: NDIS refuses query-remove once the device-failed flag is set; the failure path wins (Code 43)', () => {
  for (const seed of [1, 2, 3]) {
    let world: ReturnType<typeof testWorld> | null = null;
    const drv = scriptedDriver('t-nic', {
      initialize: (a) => {
        // A timer gives up on the adapter 1 s from now; a removal request reaches PnP
        // 10 µs before, so its QUERY_REMOVE comes after the flag is set.
        const t = NdisAllocateTimerObject(a.handle, {
          Header: {
            Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
            Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
          },
          AllocationTag: 0,
          TimerFunction: () => NdisMRemoveMiniport(a.handle),
          FunctionContext: null,
        });
        a.state.timer = t.TimerObject;
        NdisSetTimerObject(t.TimerObject!, -1 * 10_000_000, 0, null);
        world!.at(world!.kernel.now + 1 * ns.s - 10 * ns.us, { kind: 'remove', device: 'nic0' });
        return NDIS_STATUS_SUCCESS;
      },
      halt: (a) => NdisFreeTimerObject(a.state.timer as NDIS_HANDLE),
    });
    const w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 't-nic' }] });
    world = w;
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok');
    inOrder(w.trace.events, [
      ['device failed', is('ndis', 'device-failed flag set')],
      ['refused', is('ndis', 'query-remove refused: device failed (R5.2)')],
      ['QUERY_REMOVE failed', (e) => irpDone('IRP_MN_QUERY_REMOVE_DEVICE')(e) && e.data?.status !== 0],
      ['CANCEL_REMOVE', is('irp', 'IRP_MN_CANCEL_REMOVE_DEVICE')],
      ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
    ]);
    assert.equal(w.adapter('nic0')!.haltAction, NdisHaltDeviceFailed);
    assert.equal(w.device('nic0').problem, 43);
  }
});

test('R5.2 (extended to stop): NDIS refuses query-stop once the device-failed flag is set, and the trace says why; the failure path wins (Code 43)', () => {
  let world: ReturnType<typeof testWorld> | null = null;
  const drv = scriptedDriver('t-nic-stop', {
    initialize: (a) => {
      after(a, 500, () => {
        NdisMRemoveMiniport(a.handle);
      });
      // The stop request reaches PnP 10 µs before the timer: its QUERY_STOP comes after the flag.
      world!.at(world!.kernel.now + 500 * ns.ms - 10 * ns.us, { kind: 'stop', device: 'nic0' });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  world = w;
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok');
  inOrder(w.trace.events, [
    ['device failed', is('ndis', 'device-failed flag set')],
    ['refused', is('ndis', 'query-stop refused: device failed (R5.2)')],
    ['QUERY_STOP failed', (e) => irpDone('IRP_MN_QUERY_STOP_DEVICE')(e) && e.data?.status !== 0],
    ['CANCEL_STOP', is('irp', 'IRP_MN_CANCEL_STOP_DEVICE')],
    ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
  ]);
  assert.equal(w.adapter('nic0')!.haltAction, NdisHaltDeviceFailed);
  assert.equal(w.device('nic0').problem, 43);
});

test('R5.15, R2.12: a device failed in the MiniportPause of a stop (rebalance) is halted with NdisHaltDeviceFailed and not initialized again by the START_DEVICE that follows; Code 43', () => {
  const drv = scriptedDriver('t-stop-pause-remove', {
    pause: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 500 * ns.ms, action: { kind: 'stop', device: 'nic0' } }],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.equal(drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 1, drv.calls.join(', '));
  assert.deepEqual(
    drv.calls.filter((c) => c.startsWith('MiniportHaltEx')),
    [`MiniportHaltEx(${NdisHaltDeviceFailed})`],
  );
  inOrder(w.trace.events, [
    ['STOP completed', irpDone('IRP_MN_STOP_DEVICE')],
    ['START sent', (e) => e.kind === 'irp' && e.what === 'IRP_MN_START_DEVICE' && e.data?.phase === 'sent'],
    ['not initialized', is('ndis', 'not initialized again: the device failed (R5.15)')],
    ['state query', irpDone('IRP_MN_QUERY_PNP_DEVICE_STATE')],
    ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
  ]);
  assert.equal(w.device('nic0').problem, 43);
});

test('R2.12: a device failed after query-remove succeeded still halts with NdisHaltDeviceFailed', () => {
  let world: ReturnType<typeof testWorld> | null = null;
  const drv = scriptedDriver('t-nic', {
    initialize: () => {
      world!.at(world!.kernel.now + 1 * ns.s, { kind: 'remove', device: 'nic0' });
      return NDIS_STATUS_SUCCESS;
    },
    // The protocol has agreed to the removal; the driver gives up while pausing.
    pause: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 't-nic' }] });
  world = w;
  w.run(3 * ns.s);
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDeviceFailed})`));
  assert.equal(w.device('nic0').status, 'removed');
});

test('disable: orderly removal ends at Code 22 (CM_PROB_DISABLED)', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'disable', device: 'nic0' } }],
  });
  w.run(3 * ns.s);
  assert.equal(w.adapter('nic0')!.haltAction, NdisHaltDeviceDisabled);
  assert.equal(w.device('nic0').status, 'disabled');
  assert.equal(w.device('nic0').problem, 22);
});

test('R5.5–R5.7: surprise removal of a vanished NIC: notification, NOT_ACCEPTED sends, MiniportHaltEx(SurpriseRemoved), device gone', () => {
  for (const seed of [1, 2, 3, 4]) {
    const w = testWorld({
      seed,
      drivers: [healthyNic],
      devices: [{ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 2000, rxFrameBytes: 200 } }],
      actions: [{ atNs: 500 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
    });
    w.protocols[0]!.options.traffic = {
      ...trafficDefaults,
      ratePerSecond: 4000,
      frameBytes: 600,
      returnDelayNs: 1 * ns.ms,
      statisticsEveryNs: 0,
    };
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.violations.map((v) => v.message).join('; ')}`);
    // healthy-nic refuses what comes after the notification with NOT_ACCEPTED (R5.7).
    assert.deepEqual(r.warnings, [], `seed ${seed}`);
    const ev = w.trace.events;
    inOrder(ev, [
      ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
      ['notification', (e) => e.kind === 'call' && e.what === 'MiniportDevicePnPEventNotify'],
      [
        'halt',
        (e) =>
          e.kind === 'call' &&
          e.what === 'MiniportHaltEx' &&
          e.data?.HaltAction === 'NdisHaltDeviceSurpriseRemoved',
      ],
      ['REMOVE_DEVICE done', irpDone('IRP_MN_REMOVE_DEVICE')],
    ]);
    const a = w.summary().adapters[0]!;
    assert.equal(a.haltAction, 'NdisHaltDeviceSurpriseRemoved');
    assert.ok(a.data.sent > 0 && a.data.indicated > 0, 'traffic flowed before the unplug');
    assert.equal(a.data.sent, a.data.completed);
    assert.equal(a.data.indicated, a.data.returned);
    assert.equal(w.device('nic0').status, 'gone');
    assert.equal(w.device('nic0').problem, 0);
    assert.equal(w.adapter('nic0')!.haltAction, NdisHaltDeviceSurpriseRemoved);
  }
});

test('R5.7: a send or OID request that reaches the miniport after the SurpriseRemoved notification and completes other than NOT_ACCEPTED is a warning, once per kind; sends held from before it are not', () => {
  const complete = (a: TestAdapter, chain: NET_BUFFER_LIST, status: number) => {
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = status;
    NdisMSendNetBufferListsComplete(a.handle, chain, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
  };
  const unplugged = (name: string, hooks: Hooks) => {
    const drv = scriptedDriver(name, hooks);
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      actions: [
        { atNs: 400 * ns.ms, action: statisticsQuery('nic0') },
        { atNs: 500 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } },
      ],
    });
    // Sends every 50 µs: some arrive between the notification and the protocol's pause.
    w.protocols[0]!.options.traffic = {
      ...trafficDefaults,
      ratePerSecond: 20_000,
      frameBytes: 600,
      returnDelayNs: 1 * ns.ms,
      statisticsEveryNs: 0,
    };
    const r = w.run(1 * ns.s);
    assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
    // holding-nic fails the packet filter's set too (R6.1's warning): only R5.7 counts here.
    return r.warnings.filter((x) => x.rule === 'R5.7').map((x) => [x.rule, x.ddi, x.adapter]);
  };
  // A driver that never hears of the removal: it sends into the void and says SUCCESS.
  assert.deepEqual(
    unplugged('deaf-nic', {
      send: (a, chain) => complete(a, chain, NDIS_STATUS_SUCCESS),
      oid: () => NDIS_STATUS_SUCCESS,
    }),
    [
      ['R5.7', 'NdisMSendNetBufferListsComplete', 'nic0'],
      ['R5.7', 'MiniportOidRequest', 'nic0'],
    ],
  );
  // The base driver refuses both with NOT_ACCEPTED once notified.
  assert.deepEqual(unplugged('heeding-nic', {}), []);
  // Sends and the request the driver held when the notification came may finish as
  // they were going to.
  assert.deepEqual(
    unplugged('holding-nic', {
      send: (a, chain) => {
        if (a.state.surpriseRemoved === true) complete(a, chain, NDIS_STATUS_NOT_ACCEPTED);
        else listOf<NET_BUFFER_LIST>(a, 'held').push(chain);
      },
      oid: (a, req) => {
        if (a.state.surpriseRemoved === true) return NDIS_STATUS_NOT_ACCEPTED;
        if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_NOT_SUPPORTED;
        a.state.stats = req;
        return NDIS_STATUS_PENDING;
      },
      devicePnPEventNotify: (a, ev) => {
        if (ev.DevicePnPEvent !== NdisDevicePnPEventSurpriseRemoved) return;
        const held = listOf<NET_BUFFER_LIST>(a, 'held').splice(0);
        const stats = a.state.stats as NDIS_OID_REQUEST;
        assert.ok(held.length > 0 && stats !== undefined, 'sends and a request were held');
        after(a, 1, (x) => {
          for (const chain of held) complete(x, chain, NDIS_STATUS_SUCCESS);
          NdisMOidRequestComplete(x.handle, stats, NDIS_STATUS_SUCCESS);
        });
      },
    }),
    [],
  );
});

test("R5.7, R5.8, R5.13: the warning names the notification's cause: an unplugged NIC is gone, NdisMRemoveMiniport's failed-device teardown may leave it there", () => {
  const complete = (a: TestAdapter, chain: NET_BUFFER_LIST) => {
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
    NdisMSendNetBufferListsComplete(a.handle, chain, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
  };
  const warnings = (name: string, cause: 'unplug' | 'remove-miniport') => {
    const drv = scriptedDriver(name, {
      initialize: (a) => {
        if (cause === 'remove-miniport') after(a, 500, (x) => NdisMRemoveMiniport(x.handle));
        return NDIS_STATUS_SUCCESS;
      },
      // It never heeds the notification: every send and request says SUCCESS.
      send: (a, chain) => complete(a, chain),
      oid: () => NDIS_STATUS_SUCCESS,
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      actions:
        cause === 'unplug'
          ? [{ atNs: 500 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }]
          : [],
    });
    w.protocols[0]!.options.traffic = {
      ...trafficDefaults,
      ratePerSecond: 20_000,
      frameBytes: 600,
      returnDelayNs: 1 * ns.ms,
      statisticsEveryNs: 0,
    };
    const r = w.run(1 * ns.s);
    assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
    const r57 = r.warnings.filter((x) => x.rule === 'R5.7').map((x) => x.message);
    assert.ok(r57.length > 0, `${name}: no R5.7 warning`);
    return r57;
  };
  for (const m of warnings('unplugged-nic', 'unplug')) {
    assert.match(m, /the hardware was surprise-removed and is gone/);
    assert.match(m, /completes sends and OID requests with NDIS_STATUS_NOT_ACCEPTED at once/);
    assert.doesNotMatch(m, /NdisMRemoveMiniport/);
  }
  for (const m of warnings('giving-up-nic', 'remove-miniport')) {
    assert.match(m, /teardown of the failed device the driver's own NdisMRemoveMiniport asked for/);
    assert.match(m, /the hardware may still be there/);
    assert.doesNotMatch(m, /is gone|surprise-removed/);
  }
});

test('R1.8: a PnP stop halts with NdisHaltDeviceStopped and a fresh MiniportInitializeEx follows', () => {
  const drv = scriptedDriver('t-nic');
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 't-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'stop', device: 'nic0' } }],
  });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(
    drv.calls.filter((c) => c.startsWith('MiniportHaltEx') || c === 'MiniportInitializeEx'),
    ['MiniportInitializeEx', `MiniportHaltEx(${NdisHaltDeviceStopped})`, 'MiniportInitializeEx'],
  );
  assert.equal(drv.adapters.length, 2, 'a new adapter context after the stop');
  assert.notEqual(drv.adapters[0], drv.adapters[1]);
  assert.equal(w.adapter('nic0')!.state, 'Running');
  assert.equal(w.device('nic0').status, 'started');
});

test('MiniportDevicePnPEventNotify(PowerProfileChanged) follows every successful MiniportInitializeEx, before MiniportRestart, with the power source as a ULONG; a failed one gets none', () => {
  // The MINIPORT_DEVICE_PNP_EVENT_NOTIFY page: NDIS sends it once initialization is complete.
  const seen: [number, unknown, number][] = [];
  const drv = scriptedDriver('power-nic', {
    devicePnPEventNotify: (_a, ev) => {
      seen.push([ev.DevicePnPEvent, ev.InformationBuffer, ev.InformationBufferLength]);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'stop', device: 'nic0' } }],
  });
  assert.equal(w.run(3 * ns.s).verdict, 'ok');
  const profile = [NdisDevicePnPEventPowerProfileChanged, NdisPowerProfileAcOnLine, 4];
  assert.deepEqual(seen, [profile, profile], 'one per initialization, the stop re-initializes');
  const init = `MiniportDevicePnPEventNotify(${NdisDevicePnPEventPowerProfileChanged})`;
  assert.deepEqual(
    drv.calls.filter((c) => ['MiniportInitializeEx', init, 'MiniportRestart'].includes(c)).slice(0, 3),
    ['MiniportInitializeEx', init, 'MiniportRestart'],
  );
  const failing = scriptedDriver('power-fail-nic', { initialize: () => NDIS_STATUS_FAILURE });
  testWorld({ drivers: [failing], devices: [{ name: 'nic0', driver: failing.name }] }).run(1 * ns.s);
  assert.ok(
    !failing.calls.some((c) => c.startsWith('MiniportDevicePnPEventNotify')),
    failing.calls.join(', '),
  );
});

test('R1.9, R5.8: a failed MiniportRestart leaves the adapter Paused, then NDIS treats it as a device failure (Code 43)', () => {
  const drv = scriptedDriver('t-nic', { restart: () => NDIS_STATUS_FAILURE });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 't-nic' }] });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok');
  inOrder(w.trace.events, [
    ['restart fails', (e) => e.kind === 'state' && e.what === 'Restarting → Paused'],
    ['device failed', is('ndis', 'device-failed flag set')],
    ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
  ]);
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDeviceFailed})`));
  assert.equal(w.device('nic0').problem, 43);
});

test('R1.9, R2.12: a restart that fails while a removal waits for it still fails the device: the halt is Failed', () => {
  const drv = scriptedDriver('t-nic', {
    restart: (a) => {
      after(a, 100, (x) => NdisMRestartComplete(x.handle, NDIS_STATUS_FAILURE));
      return NDIS_STATUS_PENDING;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 't-nic' }],
    // The removal arrives while the restart is pending and waits for it (R1.4).
    actions: [{ atNs: 50 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok');
  inOrder(w.trace.events, [
    ['removal', is('irp', 'IRP_MN_REMOVE_DEVICE')],
    ['restart fails', (e) => e.kind === 'state' && e.what === 'Restarting → Paused'],
    ['device failed', is('ndis', 'device-failed flag set')],
  ]);
  assert.deepEqual(
    drv.calls.filter((c) => c.startsWith('MiniportHaltEx')),
    [`MiniportHaltEx(${NdisHaltDeviceFailed})`],
  );
});

test('R1.6, R2.15: shutdown calls MiniportShutdownEx on every running adapter, and nothing follows', () => {
  const drv = scriptedDriver('t-nic');
  const w = testWorld({
    drivers: [drv],
    devices: [
      { name: 'nic0', driver: 't-nic' },
      { name: 'nic1', driver: 't-nic' },
    ],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'shutdown' } }],
  });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(drv.calls.filter((c) => c === 'MiniportShutdownEx').length, 2);
  const last = drv.calls.lastIndexOf('MiniportShutdownEx');
  assert.equal(
    last,
    drv.calls.length - 1,
    `callbacks after shutdown: ${drv.calls.slice(last + 1).join(', ')}`,
  );
  assert.ok(!drv.calls.some((c) => c.startsWith('MiniportHaltEx')), 'no halt after shutdown (R1.6)');
  assert.equal(w.adapter('nic0')!.state, 'Shutdown');
  assert.equal(w.adapter('nic1')!.state, 'Shutdown');
  assert.ok(r.endNs < 2 * ns.s, 'the machine stopped at the shutdown');
});

test('R1.6, R2.15: a shutdown during a halt gets no MiniportShutdownEx; one during a pause does, and the pause never returns', () => {
  for (const during of ['halt', 'pause'] as const) {
    const seen: string[] = [];
    const sleep = (name: string) => () => {
      seen.push(`${name} begins`);
      NdisMSleep(50_000);
      seen.push(`${name} returns`);
      return NDIS_STATUS_SUCCESS;
    };
    const drv = scriptedDriver(
      't-nic',
      during === 'halt' ? { halt: sleep('halt') } : { pause: sleep('pause') },
    );
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: 't-nic' }],
      actions: [
        { atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } },
        { atNs: 1010 * ns.ms, action: { kind: 'shutdown' } },
      ],
    });
    const r = w.run(5 * ns.s);
    assert.equal(r.verdict, 'ok', during);
    // The machine is off: the sleeping callback never wakes.
    assert.deepEqual(seen, [`${during} begins`], during);
    assert.equal(
      drv.calls.filter((c) => c === 'MiniportShutdownEx').length,
      during === 'halt' ? 0 : 1,
      during,
    );
    assert.equal(w.adapter('nic0')!.state, during === 'halt' ? 'Paused' : 'Shutdown', during);
    assert.ok(
      r.pending.some((p) => p.includes('blocked in NdisMSleep')),
      during,
    );
  }
});

test('R1.6, R5.12: a shutdown in the middle of the failure path after NdisMRemoveMiniport leaves no PnP action under way: nothing follows a shutdown', () => {
  for (const afterUs of [200, 450]) {
    let world: ReturnType<typeof testWorld> | null = null;
    const drv = scriptedDriver('t-nic-off', {
      initialize: (a) => {
        after(a, 100, () => {
          NdisMRemoveMiniport(a.handle);
          world!.at(world!.kernel.now + afterUs * ns.us, { kind: 'shutdown' });
        });
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
    world = w;
    const r = w.run(1 * ns.s);
    assert.equal(r.verdict, 'ok', `${afterUs} µs`);
    // The shutdown came after PnP began the failure path and before it ended.
    const ev = w.trace.events;
    const off = findEvent(ev, is('action', 'shutdown'));
    assert.ok(findEvent(ev, is('irp', 'IRP_MN_QUERY_PNP_DEVICE_STATE')) < off, `${afterUs} µs: query first`);
    assert.equal(findEvent(ev, irpDone('IRP_MN_REMOVE_DEVICE')), -1, `${afterUs} µs: never removed`);
    assert.deepEqual(r.pending, [], `${afterUs} µs`);
    assert.deepEqual(r.unsettled, [], `${afterUs} µs`);
  }
});

test('R2.16: the driver unloads once its last adapter is removed, not before', () => {
  const drv = scriptedDriver('t-nic');
  const w = testWorld({
    drivers: [drv],
    devices: [
      { name: 'nic0', driver: 't-nic' },
      { name: 'nic1', driver: 't-nic' },
    ],
    actions: [
      { atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } },
      { atNs: 2 * ns.s, action: { kind: 'remove', device: 'nic1' } },
    ],
  });
  w.run(3 * ns.s);
  const halts = drv.calls.map((c, i) => (c.startsWith('MiniportHaltEx') ? i : -1)).filter((i) => i >= 0);
  const unload = drv.calls.indexOf('MiniportDriverUnload');
  assert.equal(halts.length, 2);
  assert.ok(unload > halts[1]!, 'unload after the second halt');
  assert.equal(drv.calls.filter((c) => c === 'MiniportDriverUnload').length, 1);
});

test('flaky-nic under traffic: removal after the reset storm balances every send and receive', () => {
  const w = testWorld({
    drivers: [flakyNic],
    devices: [
      {
        name: 'nic0',
        driver: 'flaky-nic',
        registry: { ResetLimit: 2 },
        wire: { rxPerSecond: 1000, rxFrameBytes: 300 },
        faults: { hangAtNs: 1 * ns.s, rehangAfterReset: { minNs: 1 * ns.s, maxNs: 2 * ns.s } },
      },
    ],
  });
  w.protocols[0]!.options.traffic = {
    ...trafficDefaults,
    ratePerSecond: 500,
    frameBytes: 500,
    returnDelayNs: 3 * ns.ms,
    statisticsEveryNs: 100 * ns.ms,
  };
  const r = w.run(20 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const a = w.summary().adapters[0]!;
  assert.equal(a.haltAction, 'NdisHaltDeviceFailed');
  assert.equal(a.data.sent, a.data.completed);
  assert.equal(a.data.indicated, a.data.returned);
  assert.equal(a.data.oidsRequested, a.data.oidsCompleted);
  const v = w.protocols[0]!.views[0]!;
  assert.deepEqual(v.problems, []);
  assert.equal(v.sent, v.sendCompleted);
  assert.equal(w.device('nic0').problem, 43);
});

test('R5.13, R5.21: flaky-nic answers FALSE to every MiniportCheckForHangEx once it has called NdisMRemoveMiniport, though its NIC is still hung; a protocol that holds its unbind for 5 s keeps the adapter up long enough for the hang ticks', () => {
  const p: BoundProtocol = { handle: null };
  let unbind: BindingContext | null = null;
  const slow = bindingProtocol('slow-unbind', p, 30, {
    UnbindAdapterHandlerEx: (UnbindContext, ctx) => {
      ctx.unbind = UnbindContext;
      unbind = ctx;
      return NDIS_STATUS_PENDING;
    },
  });
  const w = testWorld({
    drivers: [flakyNic, slow],
    devices: [
      {
        name: 'nic0',
        driver: 'flaky-nic',
        registry: { ResetLimit: 1 },
        faults: { hangAtNs: 1 * ns.s, rehangAfterReset: { minNs: 1 * ns.s, maxNs: 2 * ns.s } },
      },
    ],
  });
  w.addProtocolDriver(slow.name);
  // Every 100 ms: an unbind held for 5 s is completed (the close, then the unbind).
  let heldSince: number | null = null;
  const poll = () =>
    w.machine.after(
      100 * ns.ms,
      {
        fire() {
          if (unbind !== null) heldSince ??= w.machine.now;
          if (unbind !== null && w.machine.now - heldSince! >= 5 * ns.s) {
            const ctx: BindingContext = unbind;
            unbind = null;
            const c = w.kernel.enter(0, 0, 'slow-unbind', 'worker');
            const f = w.ndis.enter(null, 'slow-unbind', 'TestStep', 0);
            try {
              if (NdisCloseAdapterEx(p.handle!) !== NDIS_STATUS_PENDING)
                NdisCompleteUnbindAdapterEx(ctx.unbind!);
            } finally {
              w.ndis.leaveVoid(f, undefined);
              w.kernel.exit(c);
            }
          }
          poll();
        },
      },
      0,
      null,
    );
  poll();
  const r = w.run(30 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  const ev = w.trace.events;
  const removed = ev.findIndex((e) => e.what === 'NdisMRemoveMiniport');
  const halted = ev.findIndex((e) => e.kind === 'call' && e.what === 'MiniportHaltEx');
  assert.ok(removed > 0 && halted > removed, 'flaky-nic gave up, and was halted after');
  const between = ev.slice(removed, halted);
  const hangs = between.filter((e) => e.kind === 'return' && e.what === 'MiniportCheckForHangEx');
  assert.ok(hangs.length >= 2, `hang ticks while the unbind is held: ${hangs.length}`);
  assert.deepEqual(
    hangs.map((e) => String(e.data?.result)),
    hangs.map(() => 'false'),
  );
  assert.equal(between.filter((e) => e.kind === 'call' && e.what === 'MiniportResetEx').length, 0);
  assert.equal(w.device('nic0').problem, 43);
});

test('R1.2, R2.8: an OID completed while MiniportHaltEx waits does not start a second halt', () => {
  // NdisMSleep in the halt lets other events run; the OID that arrives meanwhile is
  // completed with CLOSING, and that completion kicks NDIS's worker for the adapter.
  let depth = 0;
  let deepest = 0;
  const drv = scriptedDriver('slow-halt', {
    halt: () => {
      deepest = Math.max(deepest, ++depth);
      NdisMSleep(50_000);
      depth--;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'slow-halt' }],
    actions: [
      { atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } },
      { atNs: 1010 * ns.ms, action: statisticsQuery('nic0') },
    ],
  });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok');
  const oid = findEvent(
    w.trace.events,
    (e) => e.what === 'OID request completed' && e.data?.status === 'NDIS_STATUS_CLOSING',
  );
  assert.ok(oid > 0, 'the OID arrived during the halt and was completed with CLOSING');
  assert.deepEqual(
    drv.calls.filter((c) => c.startsWith('MiniportHaltEx')),
    [`MiniportHaltEx(${NdisHaltDeviceDisabled})`],
  );
  assert.equal(deepest, 1);
  assert.equal(w.summary().adapters[0]!.state, 'Halted');
  assert.equal(w.device('nic0').status, 'removed');
});

test('R7.2: the protocol completes a pended pause at PASSIVE, though its last send completes at DISPATCH', () => {
  const drv = scriptedDriver('slow-send', {
    // Each send completes 20 ms later, from a timer (DISPATCH).
    send: (a, chain) => {
      after(a, 20, () => {
        for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
        NdisMSendNetBufferListsComplete(a.handle, chain, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
      });
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'slow-send' }],
    actions: [{ atNs: 200 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  w.protocols[0]!.options.traffic = {
    ...trafficDefaults,
    ratePerSecond: 1000,
    frameBytes: 64,
    returnDelayNs: 0,
    statisticsEveryNs: 0,
  };
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  const i = findEvent(w.trace.events, (e) => e.kind === 'binding' && e.what === 'Pausing → Paused');
  assert.ok(i > 0);
  assert.equal(w.trace.events[i]!.irql, 0, 'NdisCompleteNetPnPEvent is PASSIVE only');
  // The pause waited for a send that completed at DISPATCH.
  const last = w.trace.events.slice(0, i).findLast((e) => e.what === 'ProtocolSendNetBufferListsComplete');
  assert.equal(last?.irql, 2);
  assert.equal(w.device('nic0').status, 'removed');
});

test('R2.9, R4.16, R5.17, R6.5: with no protocol to hold it up, MiniportHaltEx still waits for the OID request in the miniport and for the reset in progress', () => {
  // The statistics query pends in the miniport and is completed 2 s later; the device
  // is removed at 1 s. No protocol is bound, so only NDIS's own wait holds the halt.
  const oidDrv = scriptedDriver('slow-oid-halt', {
    oid: (a, req) => {
      if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_SUCCESS;
      after(a, 2000, () => NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS));
      return NDIS_STATUS_PENDING;
    },
  });
  const o = testWorld({
    drivers: [oidDrv],
    protocols: [],
    devices: [{ name: 'so0', driver: oidDrv.name }],
    actions: [
      { atNs: 500 * ns.ms, action: statisticsQuery('so0') },
      { atNs: 1 * ns.s, action: { kind: 'remove', device: 'so0' } },
    ],
  });
  assert.equal(o.run(5 * ns.s).verdict, 'ok');
  const ev = o.trace.events;
  const oidDone = findEvent(ev, (e) => e.kind === 'ddi' && e.what === 'NdisMOidRequestComplete');
  const oidHalt = findEvent(ev, is('call', 'MiniportHaltEx'));
  assert.ok(oidDone > 0 && oidHalt > oidDone, `halt at ${oidHalt}, completion at ${oidDone}`);
  assert.ok(ev[oidHalt]!.t >= 2.5 * ns.s);

  // A reset pended at the first check-for-hang (2 s) and completed 2 s later; removal at 2.5 s.
  let hung = true;
  const resetDrv = scriptedDriver('slow-reset-halt', {
    checkForHang: () => {
      const h = hung;
      hung = false;
      return h;
    },
    reset: (a) => {
      after(a, 2000, () => NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false));
      return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
    },
  });
  const r = testWorld({
    drivers: [resetDrv],
    protocols: [],
    devices: [{ name: 'sr0', driver: resetDrv.name }],
    actions: [{ atNs: 2500 * ns.ms, action: { kind: 'remove', device: 'sr0' } }],
  });
  assert.equal(r.run(8 * ns.s).verdict, 'ok');
  const rev = r.trace.events;
  const resetDone = findEvent(rev, (e) => e.kind === 'ddi' && e.what === 'NdisMResetComplete');
  const resetHalt = findEvent(rev, is('call', 'MiniportHaltEx'));
  assert.ok(resetDone > 0 && resetHalt > resetDone, `halt at ${resetHalt}, reset completion at ${resetDone}`);
});

test('Removing a Device in a Bus Driver: at REMOVE_DEVICE the bus driver powers the NIC down, whatever its driver left running; a start powers it up again and the NIC works', () => {
  const s = parseScenarioText(
    `
seed: 1
until: 3s
protocols:
  - name: tcpip
    traffic: { rate: 200, frameBytes: 600, returnDelay: 2ms, statisticsEvery: 0s }
devices:
  - name: nic0
    driver: healthy-nic
    wire: { rxRate: 1000, frameBytes: 400 }
actions:
  - { at: 1s, do: disable, device: nic0 }
  - { at: 2s, do: start, device: nic0 }
`,
    'powered.yaml',
    driverNames(),
  );
  const w = buildWorld(s, { seed: 1 });
  const r = w.run(untilNs(s));
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  const ev = w.trace.events;
  const removed = ev.findIndex((e) => e.what === 'IRP_MN_REMOVE_DEVICE' && e.data?.phase === 'completed');
  const off = ev.findIndex((e) => e.kind === 'hw' && e.what === 'powered down (D3)');
  const on = ev.findIndex((e) => e.kind === 'hw' && e.what === 'powered up (D0)');
  const start = ev.findLastIndex((e) => e.what === 'IRP_MN_START_DEVICE' && e.data?.phase === 'sent');
  assert.ok(removed > 0 && off > removed, 'powered down as REMOVE_DEVICE completes');
  assert.ok(on > off && on < start, 'powered up before the second START_DEVICE');
  // Nothing reaches the NIC while it is off: no frame comes in between.
  const frames = (i: number) =>
    ev.slice(i).filter((e) => e.what === 'MiniportInterrupt' && e.kind === 'call').length;
  assert.equal(frames(off) - frames(on), 0, 'no interrupt while powered down');
  assert.ok(frames(on) > 100, 'the restarted NIC carries traffic again');
  assert.equal(w.summary().adapters.at(-1)!.state, 'Running');
});
