// System sleep and resume (src/ndis/power.ts): R1.8, R2.11, R3.1, R4.3, R4.11, R5.8.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { monitorLwf } from '../src/drivers/lwf.ts';
import {
  MediaConnectStateConnected,
  MediaConnectStateUnknown,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisHaltDeviceFailed,
  NdisHaltDevicePoweredDown,
  NdisMOidRequestComplete,
  NdisMRemoveMiniport,
  NdisMResetMiniport,
  NdisReadRegisterUlong,
  NdisRequestSetInformation,
  OID_PNP_QUERY_POWER,
  OID_PNP_SET_POWER,
  SimNicReg,
} from '../src/index.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { World, WorldAction } from '../src/world.ts';
import { after, type Hooks, pauseRemoveWorld, scriptedDriver } from './helpers/scripted.ts';
import { inOrder, irpDone, is, ns, testWorld } from './helpers/world.ts';

const call = (fn: string, k?: string, v?: string) => (e: TraceEvent) =>
  e.kind === 'call' && e.what === fn && (k === undefined || e.data?.[k] === v);
const ndis = (what: string | RegExp) => is('ndis', what);

/** A miniport that handles the power OIDs (NO_HALT_ON_SUSPEND); `d0` answers OID_PNP_SET_POWER(D0). */
function pmHooks(d0: () => number = () => NDIS_STATUS_SUCCESS, extra: Hooks = {}): Hooks {
  return {
    registrationAttributes: {
      AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
    },
    oid: (a, req) => {
      const oid = req.DATA.SET_INFORMATION.Oid;
      if (req.RequestType !== NdisRequestSetInformation) return NDIS_STATUS_SUCCESS;
      if (oid === OID_PNP_QUERY_POWER) return NDIS_STATUS_SUCCESS;
      if (oid === OID_PNP_SET_POWER) {
        const state = req.DATA.SET_INFORMATION.InformationBuffer as number;
        const seen = (a.state.powerStates as number[] | undefined) ?? [];
        seen.push(state);
        a.state.powerStates = seen;
        return state === NdisDeviceStateD0 ? d0() : NDIS_STATUS_SUCCESS;
      }
      return NDIS_STATUS_SUCCESS;
    },
    ...extra,
  };
}

/**
 * A peer miniport (device `peer`) that pends OID_PNP_SET_POWER(D3) for 1.5 s: until it
 * completes, the system is still on its way to S3, so PnP and the drivers' timers run
 * with nic0 already in D3. Once every adapter is in D3 the machine is frozen and a
 * removal or a timer waits for the wake (test/sleep-freeze.test.ts).
 */
const slowPeer = scriptedDriver(
  'pwr-slow-peer',
  pmHooks(undefined, {
    oid: (a, req) => {
      const info = req.DATA.SET_INFORMATION;
      if (
        req.RequestType === NdisRequestSetInformation &&
        info.Oid === OID_PNP_SET_POWER &&
        info.InformationBuffer === NdisDeviceStateD3
      ) {
        after(a, 1500, (x) => NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS));
        return NDIS_STATUS_PENDING;
      }
      return NDIS_STATUS_SUCCESS;
    },
  }),
);

function sleepWorld(
  name: string,
  hooks: Hooks,
  extra: { atNs: number; action: WorldAction }[] = [],
  faults = {},
  setup: (w: World) => void = () => {},
  sleepAtNs = 1 * ns.s,
  peer = false,
) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: peer ? [drv, slowPeer] : [drv],
    devices: [
      { name: 'nic0', driver: name, faults },
      ...(peer ? [{ name: 'peer', driver: slowPeer.name }] : []),
    ],
    actions: [{ atNs: sleepAtNs, action: { kind: 'sleep', state: 'S3', durationNs: 2 * ns.s } }, ...extra],
    options: { verifier: 'collect', trace: true },
  });
  setup(w);
  return { w, drv, r: w.run(sleepAtNs + 7 * ns.s) };
}

test('R2.11 NdisHaltDevicePoweredDown, R1.8: an adapter without PM capabilities is halted for sleep and initialized again on resume', () => {
  const { w, drv, r } = sleepWorld('pwr-halt', {});
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    ['sleep action', is('action', 'sleep')],
    ['power IRP', (e) => e.kind === 'irp' && e.what === 'IRP_MN_SET_POWER' && e.data?.DeviceState === 'D3'],
    ['NetEventQueryPower', call('ProtocolNetPnPEvent', 'NetEvent', 'NetEventQueryPower')],
    ['NetEventSetPower(D3)', call('ProtocolNetPnPEvent', 'Buffer', 'NdisDeviceStateD3')],
    ['protocol paused', call('ProtocolNetPnPEvent', 'NetEvent', 'NetEventPause')],
    ['MiniportPause', call('MiniportPause')],
    ['halt', call('MiniportHaltEx', 'HaltAction', 'NdisHaltDevicePoweredDown')],
    ['asleep', ndis(/^asleep/)],
    ['wake', is('action', 'wake')],
    ['re-init', call('MiniportInitializeEx')],
    ['packet filter restored', call('MiniportOidRequest', 'Oid', 'OID_GEN_CURRENT_PACKET_FILTER')],
    ['multicast restored', call('MiniportOidRequest', 'Oid', 'OID_802_3_MULTICAST_LIST')],
    ['MiniportRestart', call('MiniportRestart')],
    ['protocol restarted', call('ProtocolNetPnPEvent', 'NetEvent', 'NetEventRestart')],
    ['NetEventSetPower(D0)', call('ProtocolNetPnPEvent', 'Buffer', 'NdisDeviceStateD0')],
    ['resumed', ndis(/^resumed/)],
  ]);
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDevicePoweredDown})`));
  assert.equal(drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 2);
  const b = w.adapter('nic0')!;
  assert.equal(b.state, 'Running');
  assert.equal(w.device('nic0').problem, 0);
  // The bus driver powered the NIC down for the sleep and up again before the re-init.
  assert.equal(w.nic('nic0').vanished, false);
  assert.ok(w.trace.events.some((e) => e.kind === 'hw' && e.what === 'powered down (D3)'));
  // The second initialization is a new adapter context (R1.8).
  assert.equal(drv.adapters.length, 2);
  assert.notEqual(b.context, drv.adapters[0]);
});

test('OID_PNP_SET_POWER: a NO_HALT_ON_SUSPEND adapter gets OID_PNP_QUERY_POWER and OID_PNP_SET_POWER(D3), then D0 and MiniportRestart', () => {
  const { w, drv, r } = sleepWorld('pwr-oid', pmHooks());
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    // OID_PNP_QUERY_POWER is a query request, OID_PNP_SET_POWER a set (docs/decisions.md).
    [
      'query power',
      (e) =>
        call('MiniportOidRequest', 'Oid', 'OID_PNP_QUERY_POWER')(e) &&
        e.data?.RequestType === 'NdisRequestQueryInformation',
    ],
    ['NetEventSetPower(D3)', call('ProtocolNetPnPEvent', 'Buffer', 'NdisDeviceStateD3')],
    ['MiniportPause', call('MiniportPause')],
    [
      'set power D3',
      (e) =>
        call('MiniportOidRequest', 'Oid', 'OID_PNP_SET_POWER')(e) &&
        e.data?.RequestType === 'NdisRequestSetInformation',
    ],
    ['asleep', ndis(/^asleep/)],
    ['set power D0', call('MiniportOidRequest', 'Oid', 'OID_PNP_SET_POWER')],
    ['MiniportRestart', call('MiniportRestart')],
    ['NetEventSetPower(D0)', call('ProtocolNetPnPEvent', 'Buffer', 'NdisDeviceStateD0')],
    ['resumed', ndis(/^resumed/)],
  ]);
  assert.ok(!drv.calls.some((c) => c.startsWith('MiniportHaltEx')), 'no halt');
  assert.equal(drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 1);
  assert.deepEqual(drv.adapters[0]!.state.powerStates, [NdisDeviceStateD3, NdisDeviceStateD0]);
  assert.equal(w.adapter('nic0')!.state, 'Running');
});

test('R5.8 OID_PNP_SET_POWER(D0) failed: the device fails, MiniportHaltEx(NdisHaltDeviceFailed), Code 43', () => {
  const { w, drv, r } = sleepWorld(
    'pwr-d0fail',
    pmHooks(() => NDIS_STATUS_FAILURE),
  );
  // FAILURE is no status OID_PNP_SET_POWER may complete with (NdisOidComplete), and the
  // failed power OID marks the device failed all the same.
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisOidComplete'],
  );
  inOrder(w.trace.events, [
    ['set power D0', call('MiniportOidRequest', 'Oid', 'OID_PNP_SET_POWER')],
    ['device failed', ndis('device-failed flag set')],
    ['surprise removal', irpDone('IRP_MN_SURPRISE_REMOVAL')],
    ['halt', call('MiniportHaltEx', 'HaltAction', 'NdisHaltDeviceFailed')],
  ]);
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDeviceFailed})`));
  // The 0x15E page: a live dump with parameter 4 = 74 for a failed OID_PNP_SET_POWER (D0).
  assert.deepEqual(
    w.summary().dumps.map((d) => [d.params[3], d.reason]),
    [[74, 'OID_PNP_SET_POWER (D0) failed']],
  );
  // No MiniportRestart after the failed D0: only the one of the bring-up.
  assert.equal(drv.calls.filter((c) => c === 'MiniportRestart').length, 1);
  assert.equal(w.device('nic0').problem, 43);
});

test('R5.8 OID_PNP_SET_POWER(D3) failed: the device fails with the live dump of reason 75 (the 0x15E page), Code 43', () => {
  const hooks = pmHooks();
  const answer = hooks.oid!;
  const { w, r } = sleepWorld('pwr-d3fail', {
    ...hooks,
    oid: (a, req) =>
      req.RequestType === NdisRequestSetInformation &&
      req.DATA.SET_INFORMATION.Oid === OID_PNP_SET_POWER &&
      req.DATA.SET_INFORMATION.InformationBuffer !== NdisDeviceStateD0
        ? NDIS_STATUS_FAILURE
        : answer(a, req),
  });
  // FAILURE is not among the statuses the OID may complete with (NdisOidComplete).
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisOidComplete'],
  );
  assert.deepEqual(
    w.summary().dumps.map((d) => [d.params[3], d.reason]),
    [[75, 'OID_PNP_SET_POWER (Dx) failed']],
  );
  assert.equal(w.device('nic0').problem, 43);
});

test('R5.8 the NIC does not power up on resume: MiniportInitializeEx fails, the device fails with Code 43', () => {
  const { w, drv, r } = sleepWorld(
    'pwr-deadnic',
    {
      // A driver that checks its NIC: all ones means it is not there.
      initialize: (a) =>
        a.space !== null && NdisReadRegisterUlong(a.space.at(SimNicReg.STATUS)) === 0xffffffff
          ? NDIS_STATUS_FAILURE
          : NDIS_STATUS_SUCCESS,
    },
    [],
    { deadOnResume: true },
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    ['halt for sleep', call('MiniportHaltEx', 'HaltAction', 'NdisHaltDevicePoweredDown')],
    ['re-init', call('MiniportInitializeEx')],
    ['device failed', ndis('device-failed flag set')],
    ['surprise removal', irpDone('IRP_MN_SURPRISE_REMOVAL')],
    ['protocol unbound', call('ProtocolUnbindAdapterEx')],
  ]);
  // The failed initialization leaves nothing to halt: one halt only, for the sleep.
  assert.deepEqual(
    drv.calls.filter((c) => c.startsWith('MiniportHaltEx')),
    [`MiniportHaltEx(${NdisHaltDevicePoweredDown})`],
  );
  assert.equal(w.device('nic0').problem, 43);
  assert.equal(w.adapter('nic0')!.bindings.length, 0);
  // A failed re-initialization is not among the 0x15E page's reasons: no live dump.
  assert.deepEqual(w.summary().dumps, []);
});

test('R4.3, R4.11 no check-for-hang tick and no reset while the adapter is in D3', () => {
  const ticks: number[] = [];
  let wNow = () => 0;
  const base = pmHooks();
  const { w, drv } = sleepWorld(
    'pwr-hang',
    pmHooks(undefined, {
      checkForHang: () => {
        ticks.push(wNow());
        return false;
      },
      reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
      oid: (a, req) => {
        const s = base.oid!(a, req);
        // The driver asks for a reset from a timer it left set, which fires as the system
        // wakes, before D0 (test/sleep-freeze.test.ts): NDIS starts none.
        if (
          req.DATA.SET_INFORMATION.Oid === OID_PNP_SET_POWER &&
          req.DATA.SET_INFORMATION.InformationBuffer === NdisDeviceStateD3
        )
          after(a, 500, (x) => NdisMResetMiniport(x.handle));
        return s;
      },
    }),
    [],
    {},
    (w) => {
      wNow = () => w.kernel.now;
    },
    2.5 * ns.s,
  );
  const asleep = w.trace.events.find(ndis(/^asleep/))!.t;
  const resumed = w.trace.events.find(ndis(/^resumed/))!.t;
  assert.ok(ticks.some((t) => t < asleep));
  assert.ok(ticks.some((t) => t > resumed));
  assert.deepEqual(
    ticks.filter((t) => t > asleep && t < resumed),
    [],
  );
  inOrder(w.trace.events, [
    ['asleep', ndis(/^asleep/)],
    ['reset refused', ndis('reset not started (R4.11)')],
    ['resumed', ndis(/^resumed/)],
  ]);
  assert.ok(!drv.calls.includes('MiniportResetEx'));
});

test('R5.4 a surprise removal while asleep (power-down halt): protocols unbound, no re-initialization on resume', () => {
  const { w, drv, r } = sleepWorld(
    'pwr-sr-halt',
    {},
    [{ atNs: 2 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } }],
    {},
    undefined,
    undefined,
    true,
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.equal(drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 1);
  assert.deepEqual(
    drv.calls.filter((c) => c.startsWith('MiniportHaltEx')),
    [`MiniportHaltEx(${NdisHaltDevicePoweredDown})`],
  );
  inOrder(w.trace.events, [
    ['asleep', ndis(/^asleep/)],
    ['unbind', call('ProtocolUnbindAdapterEx')],
    ['wake', is('action', 'wake')],
    ['not resumed', ndis(/^not resumed/)],
  ]);
  assert.equal(w.adapter('nic0')!.fdoDeleted, true);
});

test('R5.4 a surprise removal while asleep (D3 by OID): the halt is NdisHaltDeviceSurpriseRemoved, no D0 request', () => {
  const { w, drv, r } = sleepWorld(
    'pwr-sr-oid',
    pmHooks(),
    [{ atNs: 2 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } }],
    {},
    undefined,
    undefined,
    true,
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.ok(drv.calls.includes('MiniportHaltEx(3)'));
  assert.deepEqual(drv.adapters[0]!.state.powerStates, [NdisDeviceStateD3]);
  assert.ok(w.trace.events.some(ndis(/^not resumed/)));
});

const haltCalls = (calls: string[]): string[] => calls.filter((c) => c.startsWith('MiniportHaltEx'));

test('R2.12, R5.18: NdisMRemoveMiniport inside MiniportPause(NDIS_PAUSE_LOW_POWER) of a sleep: the sleep halts with NdisHaltDeviceFailed, not NdisHaltDevicePoweredDown; Code 43 after the wake', () => {
  // Seed 3: PnP's state query and surprise removal come before the system reaches S3;
  // the removal finds the adapter halted: one halt, no SurpriseRemoved notification (R5.5).
  const a = pauseRemoveWorld(3);
  assert.equal(a.r.verdict, 'ok', a.r.violations.map((v) => v.message).join('; '));
  inOrder(a.w.trace.events, [
    ['sleep action', is('action', 'sleep')],
    ['MiniportPause', call('MiniportPause', 'PauseReason', 'NDIS_PAUSE_LOW_POWER')],
    ['flag', ndis('device-failed flag set')],
    ['state query', irpDone('IRP_MN_QUERY_PNP_DEVICE_STATE')],
    ['halt for the sleep', call('MiniportHaltEx', 'HaltAction', 'NdisHaltDeviceFailed')],
    [
      'surprise removal',
      (e) => e.kind === 'irp' && e.what === 'IRP_MN_SURPRISE_REMOVAL' && e.data?.phase === 'sent',
    ],
    ['wake', is('action', 'wake')],
  ]);
  assert.deepEqual(haltCalls(a.drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
  assert.ok(!a.drv.calls.includes(`MiniportDevicePnPEventNotify(${NdisDevicePnPEventSurpriseRemoved})`));
  assert.equal(a.w.device('nic0').problem, 43);
  // Seed 1: the state query waits for the wake. R5.15: the wake does not initialize the
  // failed adapter again (one MiniportInitializeEx, one halt); the removal finds it halted.
  const b = pauseRemoveWorld(1);
  assert.equal(b.r.verdict, 'ok', b.r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(haltCalls(b.drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
  assert.equal(b.drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 1, b.drv.calls.join(', '));
  inOrder(b.w.trace.events, [
    ['wake', is('action', 'wake')],
    ['no re-initialization', ndis('not initialized again: the device failed (R5.15)')],
    ['D0 IRP completed', irpDone('IRP_MN_SET_POWER')],
    ['state query', irpDone('IRP_MN_QUERY_PNP_DEVICE_STATE')],
  ]);
  assert.equal(b.w.device('nic0').problem, 43);
});

test('R5.8 NdisMRemoveMiniport while the adapter sleeps in D3: Code 43 with NdisHaltDeviceFailed', () => {
  const base = pmHooks();
  const { w, drv, r } = sleepWorld(
    'pwr-remove',
    pmHooks(undefined, {
      oid: (a, req) => {
        const s = base.oid!(a, req);
        if (
          req.DATA.SET_INFORMATION.Oid === OID_PNP_SET_POWER &&
          req.DATA.SET_INFORMATION.InformationBuffer === NdisDeviceStateD3
        )
          after(a, 500, (x) => NdisMRemoveMiniport(x.handle));
        return s;
      },
    }),
    [],
    {},
    undefined,
    undefined,
    true,
  );
  // The driver's timer is still set as OID_PNP_SET_POWER(D3) completes: that rule only.
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_SetPowerTimerSet'],
  );
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDeviceFailed})`));
  assert.equal(w.device('nic0').problem, 43);
  assert.deepEqual(drv.adapters[0]!.state.powerStates, [NdisDeviceStateD3]);
});

test('R1.8 with MSI-X: after a power-down halt the re-initialized adapter connects its messages again, and the NIC interrupts by message after resume', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [
      { name: 'nic0', driver: 'healthy-nic', msi: { messages: 4, msix: true }, wire: { rxPerSecond: 1000 } },
    ],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 2 * ns.s } }],
    options: { trace: true },
  });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  const [, , resumed] = inOrder(ev, [
    ['halt for sleep', call('MiniportHaltEx')],
    ['re-initialized', call('MiniportInitializeEx')],
    ['restarted', call('MiniportRestart')],
  ]);
  const isrAfter = ev
    .slice(resumed)
    .filter((e) => e.kind === 'call' && e.what === 'MiniportMessageInterrupt');
  const lineAfter = ev.slice(resumed).filter((e) => e.kind === 'call' && e.what === 'MiniportInterrupt');
  assert.ok(isrAfter.length > 100, `${isrAfter.length} message ISRs after resume`);
  assert.equal(lineAfter.length, 0);
  // Asleep, the NIC is dark: no ISR between the halt and the new initialization.
  const h = ev.findIndex(call('MiniportHaltEx'));
  const i = ev.findIndex(call('MiniportInitializeEx'), h);
  assert.equal(ev.slice(h, i).filter((e) => e.kind === 'call' && e.what.endsWith('Interrupt')).length, 0);
});

test('R1.8 a PnP stop while asleep: the start after it brings the device to D0, and the resume leaves the started adapter alone', () => {
  const { w, drv, r } = sleepWorld(
    'pwr-stop-asleep',
    {},
    [{ atNs: 1.5 * ns.s, action: { kind: 'stop', device: 'nic0' } }],
    {},
    undefined,
    undefined,
    true,
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const b = w.adapter('nic0')!;
  assert.equal(b.state, 'Running');
  assert.equal(b.power?.device, NdisDeviceStateD0);
  // The first initialization, and the one of the start; none on resume.
  assert.equal(drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 2);
  assert.equal(w.nic('nic0').vanished, false);
  inOrder(w.trace.events, [
    ['asleep', ndis(/^asleep/)],
    ['started in D0', ndis('in D0 again: started while asleep')],
    ['wake', is('action', 'wake')],
  ]);
  // The peer resumes; nic0 is left alone.
  assert.ok(!w.trace.events.some((e) => ndis(/^resumed/)(e) && e.data?.adapter === 'nic0'));
});

test('R1.8 a PnP stop while a NO_HALT_ON_SUSPEND adapter sleeps in D3: started again in D0, no OID_PNP_SET_POWER(D0) on resume', () => {
  const { w, drv, r } = sleepWorld(
    'pwr-stop-oid',
    pmHooks(),
    [{ atNs: 1.5 * ns.s, action: { kind: 'stop', device: 'nic0' } }],
    {},
    undefined,
    undefined,
    true,
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.equal(w.adapter('nic0')!.state, 'Running');
  assert.equal(w.adapter('nic0')!.power?.device, NdisDeviceStateD0);
  assert.deepEqual(drv.adapters[0]!.state.powerStates, [NdisDeviceStateD3]);
  assert.equal(drv.adapters[1]!.state.powerStates, undefined);
});

test('sleep: a sleep action while the system sleeps is ignored, and its wake does not end the first sleep early', () => {
  const { w, r } = sleepWorld('pwr-twice', {}, [
    { atNs: 1.5 * ns.s, action: { kind: 'sleep', state: 'S4', durationNs: 100 * ns.ms } },
  ]);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const resumed = w.trace.events.filter(ndis(/^resumed/));
  assert.equal(resumed.length, 1);
  // The first sleep lasts its 2 s: from 1 s to 3 s.
  assert.ok(resumed[0]!.t >= 3 * ns.s, `resumed at ${resumed[0]!.t}`);
  assert.ok(w.trace.events.some(is('action', 'sleep ignored: the system is asleep')));
});

test('R1.6 a shutdown while a resume is under way leaves nothing pending', () => {
  // The wake is at 3 s; the shutdown comes in the same instant, after it.
  const { r } = sleepWorld('pwr-shutdown', {}, [{ atNs: 3 * ns.s, action: { kind: 'shutdown' } }]);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(r.pending, []);
});

test('SimNic hangEvery: a NIC powered down across a tick goes on hanging after the resume', () => {
  // Every tick hangs the NIC (chance 1); the power-up clears the hang; the next tick hangs it again.
  const { w } = sleepWorld('pwr-hangevery', {}, [], {
    hangEvery: { periodNs: 50 * ns.ms, chance: { num: 1, den: 1 } },
  });
  const ev = w.trace.events;
  const up = ev.findIndex((e) => e.kind === 'hw' && e.what === 'powered up (D0)');
  assert.ok(up > 0);
  assert.ok(ev.slice(up).some((e) => e.kind === 'hw' && e.what === 'hung: heartbeat stopped'));
});

test('SimNic link: a link that comes back while the NIC is in D3 is up after the resume', () => {
  const { w, r } = sleepWorld('pwr-link', {}, [], { linkDownAtNs: 500 * ns.ms, linkDownForNs: 1 * ns.s });
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.equal(w.nic('nic0').linkUp, true);
});

test('sleep: a shutdown action while the system sleeps is ignored; the system wakes and runs on', () => {
  const { w, drv, r } = sleepWorld('pwr-shutdown-asleep', {}, [
    { atNs: 2 * ns.s, action: { kind: 'shutdown' } },
  ]);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.ok(w.trace.events.some(is('action', 'shutdown ignored: the system is asleep')));
  assert.ok(!drv.calls.some((c) => c.startsWith('MiniportShutdownEx')), drv.calls.join(', '));
  assert.equal(w.adapter('nic0')!.state, 'Running');
});

test('R6.17 an adapter NDIS puts in D3 has its link taken as unknown until the miniport indicates it again', () => {
  const seen: number[] = [];
  const drv = scriptedDriver('pwr-link', pmHooks());
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'pwr-link' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 2 * ns.s } }],
    options: { verifier: 'collect' },
  });
  for (const t of [0.9, 2, 4]) {
    w.run(t * ns.s);
    seen.push(w.adapter('nic0')!.mediaConnectState);
  }
  // Connected (the general attributes), unknown in D3, and still unknown after the
  // resume: the scripted miniport indicates no link state when it comes back.
  assert.deepEqual(seen, [MediaConnectStateConnected, MediaConnectStateUnknown, MediaConnectStateUnknown]);
});

test('R7.11 stop-filter while the system goes to sleep: no restack on an adapter in D3; its module is detached after the wake', () => {
  // nic0 is in D3 at once; the slow peer keeps the system on its way to S3 for 1.5 s,
  // while NDIS looks every 10 ms for an adapter free for the waiting restack.
  const { w, r } = sleepWorld(
    'pwr-restack',
    pmHooks(),
    [],
    {},
    (w) => {
      w.addDriver(monitorLwf);
      w.addFilter('monitor-lwf');
      w.at(ns.s + ns.ms, { kind: 'stop-filter', driver: 'monitor-lwf' });
    },
    ns.s,
    true,
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const ev = w.trace.events;
  const wake = ev.findIndex(is('action', 'wake'));
  const restack = ev.findIndex(
    (e) => e.kind === 'ndis' && e.data?.adapter === 'nic0' && /stack pauses to detach/.test(e.what),
  );
  assert.ok(wake > 0, 'no wake');
  assert.ok(restack > wake, `the restack of nic0 began at event ${restack}, before the wake at ${wake}`);
  assert.equal(w.adapter('nic0')!.filters.length, 0);
  assert.equal(w.adapter('nic0')!.state, 'Running');
});

test('R4.11, R4.5 a pended OID_PNP_QUERY_POWER never completed: no OID time-out reset in the middle of the sleep (the device still in D0); the wake of a system that never reached S3 says so', () => {
  const drv = scriptedDriver(
    'pwr-qp-stuck',
    pmHooks(undefined, {
      checkForHang: () => false,
      reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
      oid: (_a, req) => (req.DATA.Oid === OID_PNP_QUERY_POWER ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS),
    }),
  );
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 2 * ns.s } }],
    options: { verifier: 'collect', trace: true },
  });
  // Ticks every 2 s; the power OIDs get four (R4.5), so the time-out falls due at the
  // fourth (8 s) and again at the fifth. The run ends (11 s) before Driver Verifier's
  // 12 s for the pended request.
  const r = w.run(11 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    [],
  );
  assert.ok(!drv.calls.includes('MiniportResetEx'), drv.calls.join(' '));
  const refused = w.trace.events.filter(ndis('reset not started (R4.11)'));
  assert.ok(refused.length >= 2, 'the OID time-out asked for a reset and NDIS started none');
  assert.ok(refused.every((e) => e.data?.cause === 'OID request time-out'));
  const wake = w.trace.events.find(is('action', 'wake'))!;
  assert.equal(wake.data?.slept, 'never: the system did not reach S3, nic0 still on its way to D3');
  assert.ok(
    r.pending.some((p) => /^nic0: the sleep is waiting for OID_PNP_QUERY_POWER to complete$/.test(p)),
  );
});
