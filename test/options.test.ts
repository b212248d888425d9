// The points the rule book marks **Ambiguity** are NDIS options (docs/model.md,
// "Options for the points the docs leave open"). Each is tested both ways.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rxNbl, rxPool } from '../src/drivers/buggy/kit.ts';
import { driverNames } from '../src/drivers/index.ts';
import {
  type NDIS_OID_REQUEST,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisMIndicateReceiveNetBufferLists,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMRemoveMiniport,
  NdisMResetMiniport,
  NdisStallExecution,
  OID_GEN_CURRENT_PACKET_FILTER,
} from '../src/index.ts';
import type { NdisOptions } from '../src/ndis/ndis.ts';
import { buildWorld } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { WorldAction } from '../src/world.ts';
import { after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { findEvent, is, ns, testWorld } from './helpers/world.ts';

function run(hooks: Hooks, ndis: Partial<NdisOptions>, action: WorldAction['kind'], atNs = 100 * ns.ms) {
  const drv = scriptedDriver('opt-nic', hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs, action: { kind: action, device: 'nic0' } as WorldAction }],
    options: { ndis },
  });
  const r = w.run(2 * ns.s);
  return { w, r, drv, events: w.trace.events };
}

const callTo =
  (fn: string, p: (e: TraceEvent) => boolean = () => true) =>
  (e: TraceEvent) =>
    is('call', fn)(e) && p(e);

test('R5.6 surpriseRemovalOrder: the miniport hears of a surprise removal first by default, the protocols with protocols-first', () => {
  const order = (o: NdisOptions['surpriseRemovalOrder'] | undefined) => {
    const { events, r } = run({}, o === undefined ? {} : { surpriseRemovalOrder: o }, 'surprise-remove');
    assert.equal(r.verdict, 'ok');
    const mini = findEvent(
      events,
      callTo(
        'MiniportDevicePnPEventNotify',
        (e) => e.data?.DevicePnPEvent === 'NdisDevicePnPEventSurpriseRemoved',
      ),
    );
    const proto = findEvent(
      events,
      callTo('ProtocolNetPnPEvent', (e) => e.data?.NetEvent === 'NetEventQueryRemoveDevice'),
    );
    assert.ok(mini >= 0 && proto >= 0);
    // Protocols hear it once either way.
    const later = findEvent(
      events,
      callTo('ProtocolNetPnPEvent', (e) => e.data?.NetEvent === 'NetEventQueryRemoveDevice'),
      proto + 1,
    );
    assert.equal(later, -1);
    return mini < proto ? 'miniport-first' : 'protocols-first';
  };
  assert.equal(order(undefined), 'miniport-first');
  assert.equal(order('miniport-first'), 'miniport-first');
  assert.equal(order('protocols-first'), 'protocols-first');
});

test('R4.11 resetsAfterSurpriseRemoval: a reset requested after the SurpriseRemoved notification starts by default, not when blocked', () => {
  const hooks: Hooks = {
    devicePnPEventNotify: (a, ev) => {
      if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved) NdisMResetMiniport(a.handle);
    },
    // The pause takes 100 ms, so the requested reset comes before halting begins.
    pause: (a) => {
      after(a, 100, () => NdisMPauseComplete(a.handle));
      return NDIS_STATUS_PENDING;
    },
    reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
  };
  const on = run(hooks, {}, 'surprise-remove');
  assert.equal(on.r.verdict, 'ok');
  assert.ok(on.drv.calls.includes('MiniportResetEx'));
  const off = run(hooks, { resetsAfterSurpriseRemoval: false }, 'surprise-remove');
  assert.equal(off.r.verdict, 'ok');
  assert.ok(!off.drv.calls.includes('MiniportResetEx'));
  assert.ok(findEvent(off.events, is('ndis', 'reset not started (R4.11)')) >= 0);
});

test('R4.11 resetsAfterSurpriseRemoval: the REMOVE_DEVICE that follows a surprise removal does not block resets (an orderly one does, R5.1)', () => {
  const hooks: Hooks = {
    // The reset is requested while the pause is pending, after REMOVE_DEVICE has arrived.
    pause: (a) => {
      after(a, 50, () => NdisMResetMiniport(a.handle));
      after(a, 100, () => NdisMPauseComplete(a.handle));
      return NDIS_STATUS_PENDING;
    },
    reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
  };
  const surprise = run(hooks, {}, 'surprise-remove');
  const removeAt = findEvent(surprise.events, is('irp', 'IRP_MN_REMOVE_DEVICE'));
  const resetAt = findEvent(surprise.events, callTo('MiniportResetEx'));
  assert.ok(removeAt >= 0 && resetAt > removeAt, `remove at ${removeAt}, reset at ${resetAt}`);
  const orderly = run(hooks, {}, 'remove');
  assert.ok(!orderly.drv.calls.includes('MiniportResetEx'));
  assert.ok(findEvent(orderly.events, is('ndis', 'reset not started (R4.11)')) >= 0);
});

test('R3.4 pauseWaitsForOids: a pending OID does not hold up MiniportPause by default; with the option it does', () => {
  const hooks: Hooks = {
    oid: (a, req: NDIS_OID_REQUEST) => {
      if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return NDIS_STATUS_NOT_SUPPORTED;
      after(a, 300, () => NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS));
      return NDIS_STATUS_PENDING;
    },
  };
  const pauseVsOid = (ndis: Partial<NdisOptions>) => {
    const { events, r } = run(hooks, ndis, 'remove');
    assert.equal(r.verdict, 'ok');
    const pause = findEvent(events, callTo('MiniportPause'));
    const done = findEvent(events, is('ddi', 'NdisMOidRequestComplete'));
    assert.ok(pause >= 0 && done >= 0);
    return pause < done ? 'pause first' : 'OID first';
  };
  assert.equal(pauseVsOid({}), 'pause first');
  assert.equal(pauseVsOid({ pauseWaitsForOids: true }), 'OID first');
});

test('R3.3 receivesWhilePausing: a receive indicated inside MiniportPause is allowed by default, a violation with the option', () => {
  const hooks: Hooks = {
    pause: (a) => {
      const pool = rxPool(a);
      NdisMIndicateReceiveNetBufferLists(a.handle, rxNbl(a, pool), 0, 1, 0);
      return NDIS_STATUS_SUCCESS;
    },
  };
  const allowed = run(hooks, {}, 'remove');
  assert.equal(allowed.r.verdict, 'ok');
  assert.equal(allowed.w.summary().adapters[0]!.data.indicated, 1);
  const strict = run(hooks, { receivesWhilePausing: 'violation' }, 'remove');
  assert.equal(strict.r.bugCheck?.rule, 'NdisSim_ReceiveNotAllowed');
});

test('R1.7 receivesWhilePaused: a receive indicated inside MiniportHaltEx (Paused) is a violation by default; "returned" hands it back', () => {
  const hooks: Hooks = {
    initialize: (a) => {
      a.state.pool = rxPool(a);
      return NDIS_STATUS_SUCCESS;
    },
    // Flushes the RX ring to the protocols at halt.
    halt: (a) => NdisMIndicateReceiveNetBufferLists(a.handle, rxNbl(a, a.state.pool as never), 0, 1, 0),
    returnNbls: (a) => {
      a.state.returned = true;
    },
  };
  const strict = run(hooks, {}, 'remove');
  assert.equal(strict.r.bugCheck?.rule, 'NdisSim_ReceiveNotAllowed');
  assert.match(strict.r.bugCheck!.message, /Paused/);
  const lax = run(hooks, { receivesWhilePaused: 'returned' }, 'remove');
  assert.equal(lax.r.verdict, 'ok');
  assert.equal(lax.drv.adapters[0]!.state.returned, true);
});

test('R2.2 missingHandlerStatus: NdisMRegisterMiniportDriver without MiniportPause returns BAD_CHARACTERISTICS, or FAILURE', () => {
  const hooks: Hooks = {
    characteristics: (c) => {
      delete (c as Partial<typeof c>).PauseHandler;
    },
  };
  const result = (ndis: Partial<NdisOptions>) => {
    const { events, w } = run(hooks, ndis, 'remove');
    assert.equal(w.device('nic0').problem !== 0 || w.device('nic0').status !== 'started', true);
    const i = findEvent(events, is('ddi', 'NdisMRegisterMiniportDriver'));
    return events[i]!.data?.result;
  };
  assert.equal(result({}), 'NDIS_STATUS_BAD_CHARACTERISTICS');
  assert.equal(result({ missingHandlerStatus: 'failure' }), 'NDIS_STATUS_FAILURE');
});

test('R2.2: each handler NDIS requires, when missing, fails registration and is named', () => {
  const required = [
    'InitializeHandlerEx',
    'HaltHandlerEx',
    'UnloadHandler',
    'PauseHandler',
    'RestartHandler',
    'OidRequestHandler',
    'SendNetBufferListsHandler',
    'ReturnNetBufferListsHandler',
    'CancelSendHandler',
    'DevicePnPEventNotifyHandler',
    'ShutdownHandlerEx',
    'CancelOidRequestHandler',
  ] as const;
  for (const h of required) {
    const hooks: Hooks = {
      characteristics: (c) => {
        delete (c as Partial<typeof c>)[h];
      },
    };
    const { events, r } = run(hooks, {}, 'remove');
    const e = events[findEvent(events, is('ddi', 'NdisMRegisterMiniportDriver'))]!;
    assert.equal(e.data?.result, 'NDIS_STATUS_BAD_CHARACTERISTICS', h);
    assert.equal(e.data?.why, `${h} is missing`);
    // The refusal is the driver's bug, named by the verifier (as for a filter driver).
    assert.equal(r.bugCheck?.rule, 'NdisSim_BadCharacteristics', h);
    assert.match(
      r.bugCheck!.message,
      new RegExp(`NdisMRegisterMiniportDriver returned NDIS_STATUS_BAD_CHARACTERISTICS: ${h} is missing`),
    );
  }
});

test('R5.19 removeInHalt: NdisMRemoveMiniport inside MiniportHaltEx is a warning by default, silent with the option', () => {
  const hooks: Hooks = { halt: (a) => NdisMRemoveMiniport(a.handle) };
  const warned = run(hooks, {}, 'remove');
  assert.equal(warned.r.verdict, 'ok');
  assert.deepEqual(
    warned.r.warnings.map((x) => x.rule),
    ['R5.19'],
  );
  const silent = run(hooks, { removeInHalt: 'silent' }, 'remove');
  assert.equal(silent.r.verdict, 'ok');
  assert.equal(silent.r.warnings.length, 0);
  // Either way nothing else happens: one halt, no live dump.
  for (const x of [warned, silent]) {
    assert.equal(x.drv.calls.filter((c) => c.startsWith('MiniportHaltEx')).length, 1);
    assert.equal(x.w.ndis.dumps.length, 0);
  }
});

test('the options are scenario fields under ndis:, checked like every other field', () => {
  const yaml = (ndis: string) => `until: 1s
ndis: { ${ndis} }
devices: [{ name: nic0, driver: healthy-nic }]
`;
  const s = parseScenarioText(
    yaml(
      'surpriseRemovalOrder: protocols-first, resetsAfterSurpriseRemoval: false, pauseWaitsForOids: true, receivesWhilePausing: violation, receivesWhilePaused: returned, missingHandlerStatus: failure, removeInHalt: silent',
    ),
    'options.yaml',
    driverNames(),
  );
  const o = buildWorld(s).ndis.options;
  assert.equal(o.surpriseRemovalOrder, 'protocols-first');
  assert.equal(o.resetsAfterSurpriseRemoval, false);
  assert.equal(o.pauseWaitsForOids, true);
  assert.equal(o.receivesWhilePausing, 'violation');
  assert.equal(o.receivesWhilePaused, 'returned');
  assert.equal(o.missingHandlerStatus, 'failure');
  assert.equal(o.removeInHalt, 'silent');
  // Unset options keep their defaults.
  const d = buildWorld(parseScenarioText(yaml(''), 'options.yaml', driverNames())).ndis.options;
  assert.equal(d.surpriseRemovalOrder, 'miniport-first');
  assert.equal(d.pauseWatchdogNs, 60 * ns.s);
  assert.throws(
    () => parseScenarioText(yaml('surpriseRemovalOrder: whenever'), 'options.yaml', driverNames()),
    /options\.yaml: ndis\.surpriseRemovalOrder: expected/,
  );
});

test('R8.11 dpcWatchdog: the DPC watchdog allows 20 s of spinning at DISPATCH by default; the option shortens it', () => {
  const spinner: Hooks = {
    dpc: () => {
      for (;;) NdisStallExecution(50);
    },
  };
  const stop = (ndis: Partial<NdisOptions>) => {
    const drv = scriptedDriver('spin-nic', spinner);
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name, faults: { linkDownAtNs: 1 * ns.s } }],
      options: { ndis },
    });
    const r = w.run(60 * ns.s);
    assert.equal(r.bugCheck?.rule, 'NdisSim_DpcWatchdog');
    assert.deepEqual(r.bugCheck!.bugCheck.params.slice(0, 1), [0]);
    return { spunS: (r.bugCheck!.timeNs - 1 * ns.s) / ns.s, params: r.bugCheck!.bugCheck.params };
  };
  const d = stop({});
  assert.ok(d.spunS > 20 && d.spunS < 20.01, `${d.spunS} s`);
  assert.deepEqual(d.params, [0, 0x501, 0x500, 0]);
  const short = stop({ dpcWatchdogNs: 100 * ns.ms });
  assert.ok(short.spunS > 0.1 && short.spunS < 0.11, `${short.spunS} s`);
});
