// NDIS selective suspend (src/ndis/ss.ts, src/ndis/api/ss.ts): idle detection on the
// virtual clock, MiniportIdleNotification, NdisMIdleNotificationConfirm, the power OIDs,
// MiniportCancelIdleNotification on activity, NdisMIdleNotificationComplete, the held
// sends, and removal, system sleep and reset around it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setPowerState } from '../src/drivers/buggy/kit.ts';
import { driverNames } from '../src/drivers/index.ts';
import { monitorLwf } from '../src/drivers/lwf.ts';
import {
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
  NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
  NDIS_PM_CAPABILITIES_REVISION_2,
  type NDIS_PM_PARAMETERS,
  NDIS_PM_SELECTIVE_SUSPEND_ENABLED,
  NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED,
  NDIS_STATUS_BUSY,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisDeviceStateD0,
  NdisDeviceStateD2,
  NdisHaltDeviceSurpriseRemoved,
  NdisMIdleNotificationComplete,
  NdisMIdleNotificationConfirm,
  NdisMOidRequestComplete,
  NdisMRemoveMiniport,
  NdisMResetMiniport,
  NdisMSleep,
  NdisRequestSetInformation,
  NdisSetOptionalHandlers,
  NdisWriteRegisterUlong,
  OID_PM_PARAMETERS,
  OID_PNP_QUERY_POWER,
  OID_PNP_SET_POWER,
  SimNicCtrl,
  SimNicReg,
} from '../src/index.ts';
import { fmtTime } from '../src/report/format.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { WorldAction } from '../src/world.ts';
import { after, type Hooks, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { findEvent, inOrder, is, ns, testWorld } from './helpers/world.ts';

const call = (fn: string, k?: string, v?: unknown) => (e: TraceEvent) =>
  e.kind === 'call' && e.what === fn && (k === undefined || e.data?.[k] === v);
const ddi = (fn: string) => (e: TraceEvent) => e.kind === 'ddi' && e.what === fn;
const ndis = (what: string | RegExp) => is('ndis', what);
const oidCall = (name: string) => call('MiniportOidRequest', 'Oid', name);
const irp = (state: string) => (e: TraceEvent) =>
  e.kind === 'irp' && e.what === 'IRP_MN_SET_POWER' && e.data?.DeviceState === state;

interface SsScript {
  /** MiniportIdleNotification: default confirm D2 at once and return PENDING. */
  idle?: (a: TestAdapter) => number;
  /** MiniportCancelIdleNotification: default complete at once. */
  cancel?: (a: TestAdapter) => void;
  /** Leave NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED out of the general attributes. */
  noCapability?: boolean;
  /** Register no SS handlers. */
  noHandlers?: boolean;
  hooks?: Hooks;
}

/** A power-management aware miniport with selective suspend; records the power OIDs in `a.state.oids`. */
function ssDriver(name: string, s: SsScript = {}) {
  const adapters: TestAdapter[] = [];
  const oids: string[] = [];
  const drv = scriptedDriver(name, {
    registrationAttributes: {
      AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
    },
    generalAttributes: s.noCapability
      ? {}
      : {
          PowerManagementCapabilitiesEx: {
            Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
            Flags: NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED,
          },
        },
    initialize: (a) => {
      adapters.push(a);
      return NDIS_STATUS_SUCCESS;
    },
    oid: (_a, req) => {
      // OID_PNP_QUERY_POWER comes as a query request (docs/decisions.md).
      if (req.RequestType !== NdisRequestSetInformation) {
        if (req.DATA.Oid === OID_PNP_QUERY_POWER) oids.push('QUERY_POWER');
        return NDIS_STATUS_SUCCESS;
      }
      const d = req.DATA.SET_INFORMATION;
      if (d.Oid === OID_PNP_SET_POWER) oids.push(`SET_POWER(${d.InformationBuffer as number})`);
      else if (d.Oid === OID_PM_PARAMETERS)
        oids.push(`PM_PARAMETERS(0x${(d.InformationBuffer as NDIS_PM_PARAMETERS).WakeUpFlags.toString(16)})`);
      return NDIS_STATUS_SUCCESS;
    },
    characteristics: (c) => {
      if (s.noHandlers) return;
      c.SetOptionsHandler = (h) =>
        NdisSetOptionalHandlers(h, {
          Header: {
            Type: NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
            Revision: NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
          },
          IdleNotificationHandler: (a: TestAdapter, ForceIdle: boolean) => {
            assert.equal(ForceIdle, false);
            if (s.idle) return s.idle(a);
            NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
            return NDIS_STATUS_PENDING;
          },
          CancelIdleNotificationHandler: (a: TestAdapter) => {
            if (s.cancel) s.cancel(a);
            else NdisMIdleNotificationComplete(a.handle);
          },
        });
    },
    ...s.hooks,
  });
  return { drv, adapters, oids };
}

function ssWorld(
  name: string,
  s: SsScript,
  actions: { atNs: number; action: WorldAction }[],
  untilNs: number,
  registry: Record<string, number | string> = { '*SelectiveSuspend': 1, '*SSIdleTimeout': 5 },
) {
  const x = ssDriver(name, s);
  const w = testWorld({
    drivers: [x.drv],
    devices: [{ name: 'nic0', driver: name, registry }],
    actions,
    options: { verifier: 'collect', trace: true },
  });
  const r = w.run(untilNs);
  return { ...x, w, r };
}

const clean = (r: { verdict: string; violations: { rule: string; message: string }[] }) =>
  assert.equal(r.verdict, 'ok', r.violations.map((v) => `${v.rule}: ${v.message}`).join('; '));

test('MiniportIdleNotification, NdisMIdleNotificationConfirm, MiniportCancelIdleNotification, NdisMIdleNotificationComplete: idle -> confirm -> D2 -> send -> cancel -> complete -> D0, the held send goes down after', () => {
  const { w, r, oids } = ssWorld(
    'ss-full',
    {},
    [{ atNs: 9 * ns.s, action: { kind: 'send', device: 'nic0' } }],
    11 * ns.s,
  );
  clean(r);
  const ev = w.trace.events;
  const at = inOrder(ev, [
    ['monitoring starts', ndis(/selective suspend: monitoring starts/)],
    ['idle notification', call('MiniportIdleNotification', 'ForceIdle', false)],
    ['confirm', ddi('NdisMIdleNotificationConfirm')],
    ['OID_PM_PARAMETERS', oidCall('OID_PM_PARAMETERS')],
    ['OID_PNP_SET_POWER(D2)', oidCall('OID_PNP_SET_POWER')],
    ['bus to D2', irp('D2')],
    ['suspended', ndis(/selective suspend: suspended/)],
    ['send held', ndis(/send held until D0/)],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['complete', ddi('NdisMIdleNotificationComplete')],
    ['bus to D0', irp('D0')],
    ['OID_PNP_SET_POWER(D0)', oidCall('OID_PNP_SET_POWER')],
    ['back in D0', ndis(/selective suspend: back in D0/)],
    ['held send reaches the miniport', call('MiniportSendNetBufferLists')],
  ]);
  // Idle after *SSIdleTimeout (5 s) with no activity since the bring-up.
  const idleAt = ev[at[1]!]!.t;
  assert.ok(idleAt >= 5 * ns.s && idleAt < 6 * ns.s, `idle notification at ${idleAt}`);
  // No send reached the miniport between the confirmation and D0.
  assert.equal(findEvent(ev.slice(at[2]!, at[12]!), call('MiniportSendNetBufferLists')), -1);
  assert.deepEqual(oids, [
    `PM_PARAMETERS(0x${NDIS_PM_SELECTIVE_SUSPEND_ENABLED.toString(16)})`,
    `SET_POWER(${NdisDeviceStateD2})`,
    `SET_POWER(${NdisDeviceStateD0})`,
  ]);
  // Monitoring again: the adapter goes idle once more 5 s after the send.
  const second = findEvent(ev, call('MiniportIdleNotification'), at[13]!);
  assert.equal(second, -1, 'not idle again within 2 s of the send');
});

test('MiniportIdleNotification: the adapter goes idle again *SSIdleTimeout after the last activity, and *SSIdleTimeout sets the period', () => {
  const { w, r } = ssWorld(
    'ss-again',
    {},
    [{ atNs: 4 * ns.s, action: { kind: 'send', device: 'nic0' } }],
    9 * ns.s,
    { '*SelectiveSuspend': 1, '*SSIdleTimeout': 3 },
  );
  clean(r);
  const first = w.trace.events.find(call('MiniportIdleNotification'))!;
  // 3 s after the bring-up, then the send at 4 s wakes it, then idle 3 s after the send's completion.
  assert.ok(first.t >= 3 * ns.s && first.t < 4 * ns.s, `first at ${first.t}`);
  const all = w.trace.events.filter(call('MiniportIdleNotification'));
  assert.equal(all.length, 2);
  assert.ok(all[1]!.t >= 7 * ns.s && all[1]!.t < 8 * ns.s, `second at ${all[1]!.t}`);
});

test('MiniportIdleNotification is a situation the explorer counts, with the adapter state it came in', () => {
  const x = ssDriver('ss-situation', {});
  const w = testWorld({
    drivers: [x.drv],
    devices: [
      { name: 'nic0', driver: 'ss-situation', registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 3 } },
    ],
    actions: [{ atNs: 4 * ns.s, action: { kind: 'send', device: 'nic0' } }],
    options: { verifier: 'collect', trace: false, situations: true },
  });
  clean(w.run(9 * ns.s));
  assert.deepEqual([...w.situations()], [['selective suspend (MiniportIdleNotification) in Running', 2]]);
});

test('MiniportIdleNotification: nothing for an adapter that does not report NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED, nor when the driver vetoes with NDIS_STATUS_BUSY', () => {
  const off = ssWorld('ss-off', { noCapability: true }, [], 12 * ns.s);
  clean(off.r);
  assert.equal(off.w.trace.events.findIndex(call('MiniportIdleNotification')), -1);
  assert.equal(off.w.adapter('nic0')!.ss, null);

  const veto = ssWorld('ss-veto', { idle: () => NDIS_STATUS_BUSY }, [], 12 * ns.s);
  clean(veto.r);
  const calls = veto.w.trace.events.filter(call('MiniportIdleNotification'));
  // Vetoed at ~5 s, NDIS watches again: the next one ~5 s later; no power OID ever.
  assert.equal(calls.length, 2);
  assert.ok(calls[1]!.t - calls[0]!.t >= 5 * ns.s);
  assert.deepEqual(veto.oids, []);
});

test('NdisMIdleNotificationComplete: the miniport completes the notification itself in low power (a DPC-level timer); NDIS brings the adapter back to D0 without a cancel', () => {
  const { w, r, oids } = ssWorld(
    'ss-self',
    {
      idle: (a) => {
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        // Its own reason to wake 1 s later, from a timer (DISPATCH_LEVEL is allowed).
        after(a, 1000, (x) => NdisMIdleNotificationComplete(x.handle));
        return NDIS_STATUS_PENDING;
      },
    },
    [],
    7 * ns.s,
  );
  clean(r);
  inOrder(w.trace.events, [
    ['suspended', ndis(/selective suspend: suspended/)],
    ['complete', ddi('NdisMIdleNotificationComplete')],
    ['D0', irp('D0')],
    ['back', ndis(/selective suspend: back in D0/)],
  ]);
  assert.equal(w.trace.events.findIndex(call('MiniportCancelIdleNotification')), -1);
  assert.deepEqual(oids.slice(1), [`SET_POWER(${NdisDeviceStateD2})`, `SET_POWER(${NdisDeviceStateD0})`]);
});

test('NdisSim_IdleNotificationConfirm: NdisMIdleNotificationConfirm with no idle notification outstanding, and twice', () => {
  const { r } = ssWorld(
    'ss-confirm-bad',
    {
      hooks: {
        initialize: (a) => {
          NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
          return NDIS_STATUS_SUCCESS;
        },
      },
      idle: (a) => {
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        return NDIS_STATUS_PENDING;
      },
    },
    [],
    7 * ns.s,
  );
  const v = r.violations.filter((x) => x.rule === 'NdisSim_IdleNotificationConfirm');
  assert.equal(v.length, 2, r.violations.map((x) => x.message).join('; '));
  assert.match(v[0]!.message, /no selective suspend|no idle notification is outstanding/);
  assert.match(v[1]!.message, /confirmed already/);
});

test('NdisSim_IdleNotificationComplete: NdisMIdleNotificationComplete twice (and with none outstanding)', () => {
  const { r, w } = ssWorld(
    'ss-complete-twice',
    {
      cancel: (a) => {
        NdisMIdleNotificationComplete(a.handle);
        NdisMIdleNotificationComplete(a.handle);
      },
    },
    [{ atNs: 7 * ns.s, action: { kind: 'send', device: 'nic0' } }],
    9 * ns.s,
  );
  const v = r.violations.filter((x) => x.rule === 'NdisSim_IdleNotificationComplete');
  assert.equal(v.length, 1, r.violations.map((x) => x.message).join('; '));
  assert.match(v[0]!.message, /no idle notification is outstanding/);
  // The first completion still brought the adapter back to D0.
  assert.ok(w.trace.events.some(ndis(/selective suspend: back in D0/)));
});

test('NdisSim_IdleNotificationStatus: MiniportIdleNotification returns NDIS_STATUS_SUCCESS', () => {
  const { r } = ssWorld(
    'ss-success',
    {
      idle: (a) => {
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        return NDIS_STATUS_SUCCESS;
      },
    },
    [],
    7 * ns.s,
  );
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_IdleNotificationStatus'],
  );
});

test('NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED reported with *SelectiveSuspend 0, or without the handlers: a warning (Windows checks nothing at run time), no violation, and NDIS leaves selective suspend off', () => {
  const zero = ssWorld('ss-kw0', {}, [], 7 * ns.s, { '*SelectiveSuspend': 0 });
  clean(zero.r);
  const zw = zero.r.warnings.filter((x) => x.rule === 'NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED');
  assert.equal(zw.length, 1);
  assert.match(zw[0]!.message, /\*SelectiveSuspend keyword is 0/);
  assert.equal(zero.w.trace.events.findIndex(call('MiniportIdleNotification')), -1);

  const none = ssWorld('ss-nohandlers', { noHandlers: true }, [], 7 * ns.s);
  clean(none.r);
  const nw = none.r.warnings.filter((x) => x.rule === 'NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED');
  assert.equal(nw.length, 1);
  assert.match(nw[0]!.message, /registered no NDIS_MINIPORT_SS_CHARACTERISTICS/);
  assert.equal(none.w.adapter('nic0')!.ss, null);
});

test('NdisMIdleNotificationConfirm: an OID request from above while suspended is held, cancels the notification, and reaches the miniport after OID_PNP_SET_POWER(D0)', () => {
  const { w, r } = ssWorld(
    'ss-oid',
    {},
    [
      {
        atNs: 8 * ns.s,
        action: { kind: 'oid', device: 'nic0', oid: 0x0001010e, set: true, value: 1, timeoutS: 0 },
      },
    ],
    10 * ns.s,
  );
  clean(r);
  inOrder(w.trace.events, [
    ['suspended', ndis(/selective suspend: suspended/)],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['D0', oidCall('OID_PNP_SET_POWER')],
    ['the held request', oidCall('OID_GEN_CURRENT_PACKET_FILTER')],
  ]);
});

test('MiniportCancelIdleNotification: a wake-up signal of the suspended device makes NDIS cancel the notification', () => {
  const { w, r } = ssWorld(
    'ss-wake',
    {},
    [{ atNs: 8 * ns.s, action: { kind: 'wake-signal', device: 'nic0' } }],
    10 * ns.s,
  );
  clean(r);
  inOrder(w.trace.events, [
    ['suspended', ndis(/selective suspend: suspended/)],
    ['wait-wake', ndis(/IRP_MN_WAIT_WAKE completed/)],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['back', ndis(/selective suspend: back in D0/)],
  ]);
});

test('R5.4 surprise removal while selectively suspended: NDIS cancels the notification and waits for its completion before it halts the adapter; no power-up of the removed device (R5.7)', () => {
  const { w, r, drv, oids } = ssWorld(
    'ss-surprise',
    {},
    [{ atNs: 8 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } }],
    10 * ns.s,
  );
  clean(r);
  const at = inOrder(w.trace.events, [
    ['suspended', ndis(/selective suspend: suspended/)],
    [
      'surprise removed',
      call('MiniportDevicePnPEventNotify', 'DevicePnPEvent', 'NdisDevicePnPEventSurpriseRemoved'),
    ],
    ['waits', ndis(/selective suspend: waits to end/)],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['complete', ddi('NdisMIdleNotificationComplete')],
    ['back', ndis(/selective suspend: back in D0/)],
    ['pause', call('MiniportPause')],
    ['halt', call('MiniportHaltEx')],
  ]);
  // After the SurpriseRemoved notification NDIS sends the gone device no power OID and no
  // D0 IRP: the halt finds it in its IdlePowerState (docs/decisions.md, selective suspend).
  assert.equal(findEvent(w.trace.events, oidCall('OID_PNP_SET_POWER'), at[1]!), -1);
  assert.equal(
    findEvent(w.trace.events, (e) => e.kind === 'irp' && e.what === 'IRP_MN_SET_POWER', at[1]!),
    -1,
  );
  assert.ok(at[1]! < findEvent(w.trace.events, ndis(/selective suspend: device removed, not powered up/)));
  assert.deepEqual(oids.slice(2), []);
  assert.deepEqual(
    r.warnings.filter((x) => /OID_PNP_SET_POWER/.test(x.message)).map((x) => x.message),
    [],
  );
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDeviceSurpriseRemoved})`), drv.calls.join(' '));
  assert.equal(w.adapter('nic0')!.ss, null);
});

test('R5.7 surprise removal while NDIS powers the adapter down: the miniport fails the power OID with NDIS_STATUS_NOT_ACCEPTED; no device failure, the halt is NdisHaltDeviceSurpriseRemoved', () => {
  const { w, r, drv } = ssWorld(
    'ss-surprise-r57',
    {
      hooks: {
        devicePnPEventNotify: (a, ev) => {
          if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved) a.state.gone = true;
        },
        // OID_PM_PARAMETERS pends 100 ms; after the SurpriseRemoved notification every
        // request fails with NDIS_STATUS_NOT_ACCEPTED, as R5.7 asks.
        oid: (a, req) => {
          if (a.state.gone) return NDIS_STATUS_NOT_ACCEPTED;
          if (req.DATA.SET_INFORMATION.Oid !== OID_PM_PARAMETERS) return NDIS_STATUS_SUCCESS;
          after(a, 100, (x) =>
            NdisMOidRequestComplete(
              x.handle,
              req,
              x.state.gone ? NDIS_STATUS_NOT_ACCEPTED : NDIS_STATUS_SUCCESS,
            ),
          );
          return NDIS_STATUS_PENDING;
        },
      },
    },
    // Idle at ~5 s; OID_PM_PARAMETERS is pending in the miniport at 5.05 s.
    [{ atNs: 5050 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
    7 * ns.s,
  );
  clean(r);
  const at = inOrder(w.trace.events, [
    ['confirm', ddi('NdisMIdleNotificationConfirm')],
    [
      'surprise removed',
      call('MiniportDevicePnPEventNotify', 'DevicePnPEvent', 'NdisDevicePnPEventSurpriseRemoved'),
    ],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['back', ndis(/selective suspend: back in D0/)],
    ['halt', call('MiniportHaltEx')],
  ]);
  assert.equal(findEvent(w.trace.events, oidCall('OID_PNP_SET_POWER'), at[0]!), -1);
  assert.equal(findEvent(w.trace.events, ndis(/device-failed flag set/)), -1);
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDeviceSurpriseRemoved})`), drv.calls.join(' '));
});

test('R5.8 NdisMRemoveMiniport while an idle notification is outstanding (not yet confirmed): the removal waits for the completion', () => {
  let pendingOn: TestAdapter | null = null;
  const { w, r, drv } = ssWorld(
    'ss-remove',
    {
      idle: (a) => {
        // The bus has not answered yet: no confirmation; the driver gives up on the device.
        pendingOn = a;
        NdisMRemoveMiniport(a.handle);
        return NDIS_STATUS_PENDING;
      },
    },
    [],
    9 * ns.s,
  );
  assert.ok(pendingOn !== null);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    ['idle', call('MiniportIdleNotification')],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['complete', ddi('NdisMIdleNotificationComplete')],
    ['halt', call('MiniportHaltEx')],
  ]);
  // Never powered down: no power OID at all.
  assert.equal(w.trace.events.findIndex(oidCall('OID_PNP_SET_POWER')), -1);
  assert.ok(drv.calls.some((c) => c.startsWith('MiniportHaltEx')));
});

test('R4.11 NdisMResetMiniport while selectively suspended: no reset in low power', () => {
  let a0: TestAdapter | null = null;
  const { w, r } = ssWorld(
    'ss-reset',
    {
      idle: (a) => {
        a0 = a;
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        return NDIS_STATUS_PENDING;
      },
      hooks: {
        reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
        oid: (a, req) => {
          // Once in D2, the driver asks for a reset (wrongly, but NDIS must not start one).
          if (
            req.DATA.SET_INFORMATION.Oid === OID_PNP_SET_POWER &&
            req.DATA.SET_INFORMATION.InformationBuffer === NdisDeviceStateD2
          )
            NdisMResetMiniport(a.handle);
          return NDIS_STATUS_SUCCESS;
        },
      },
    },
    [],
    8 * ns.s,
  );
  assert.ok(a0 !== null);
  assert.ok(w.trace.events.some(ndis(/reset not started \(R4\.11\)/)), 'reset refused');
  assert.equal(w.trace.events.findIndex(call('MiniportResetEx')), -1);
  void r;
});

test('System sleep while selectively suspended: NDIS ends the selective suspend first, then the sleep; monitoring resumes after the wake', () => {
  const { w, r, oids } = ssWorld(
    'ss-sleep',
    {},
    [{ atNs: 7 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 2 * ns.s } }],
    16 * ns.s,
  );
  clean(r);
  inOrder(w.trace.events, [
    ['suspended', ndis(/selective suspend: suspended/)],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['back', ndis(/selective suspend: back in D0/)],
    ['query power', oidCall('OID_PNP_QUERY_POWER')],
    ['resumed', ndis(/resumed \(S0, D0\)/)],
    ['idle again', call('MiniportIdleNotification')],
  ]);
  // The sleep's own OID_PM_PARAMETERS (wake-up settings, no selective suspend) comes
  // before its OID_PNP_SET_POWER(D3) (obtaining-and-updating-power-management-parameters).
  assert.deepEqual(oids.slice(0, 6), [
    `PM_PARAMETERS(0x${NDIS_PM_SELECTIVE_SUSPEND_ENABLED.toString(16)})`,
    `SET_POWER(${NdisDeviceStateD2})`,
    `SET_POWER(${NdisDeviceStateD0})`,
    'QUERY_POWER',
    'PM_PARAMETERS(0x0)',
    'SET_POWER(4)',
  ]);
});

test('scenario YAML: the send and wake-signal actions reach a selectively suspended adapter as the World actions do', () => {
  const x = ssDriver('ss-yaml');
  const yaml = `until: 12s
verifier: collect
devices:
  - { name: nic0, driver: ss-yaml, registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 2 } }
actions:
  - { at: 4s, do: wake-signal, device: nic0 }
  - { at: 9s, do: send, device: nic0 }
`;
  const s = parseScenarioText(yaml, 'ss.yaml', [...driverNames(), x.drv.name]);
  const w = buildWorld(s, { drivers: [x.drv] });
  clean(w.run(untilNs(s)));
  const ev = w.trace.events;
  // Idle after 2 s, woken by the signal at 4 s; idle again 2 s after, woken by the send at 9 s.
  const [, wake, , send, , sent] = inOrder(ev, [
    ['suspended', ndis(/selective suspend: suspended/)],
    ['wait-wake', ndis(/IRP_MN_WAIT_WAKE completed/)],
    ['suspended again', ndis(/selective suspend: suspended/)],
    ['send held', ndis(/send held until D0/)],
    ['back in D0', ndis(/selective suspend: back in D0/)],
    ['held send reaches the miniport', call('MiniportSendNetBufferLists')],
  ]);
  assert.equal(ev[wake!]!.t >= 4 * ns.s && ev[wake!]!.t < 4.1 * ns.s, true);
  assert.equal(ev[send!]!.t >= 9 * ns.s && ev[send!]!.t < 9.1 * ns.s, true);
  assert.ok(sent! > send!);
});

test("NdisMIdleNotificationComplete: the held sends go down from NDIS's worker, not inside the driver's completion call (no re-entry into the miniport)", () => {
  // The miniport pends the notification without confirming it (no power change), and
  // the default cancel handler completes it at once, inside MiniportCancelIdleNotification:
  // the sends it was cancelled for must not run there.
  const { w, r } = ssWorld(
    'ss-reentry',
    { idle: () => NDIS_STATUS_PENDING },
    [
      { atNs: 9 * ns.s, action: { kind: 'send', device: 'nic0' } },
      { atNs: 9 * ns.s, action: { kind: 'send', device: 'nic0' } },
    ],
    11 * ns.s,
  );
  clean(r);
  const ev = w.trace.events;
  const cancel = findEvent(ev, call('MiniportCancelIdleNotification'));
  const back = findEvent(
    ev,
    (e) => e.kind === 'return' && e.what === 'MiniportCancelIdleNotification',
    cancel,
  );
  const sends = ev
    .map((e, i) => [e, i] as const)
    .filter(([e, i]) => i > cancel && e.kind === 'call' && e.what === 'MiniportSendNetBufferLists');
  assert.ok(cancel >= 0 && back > cancel);
  assert.equal(sends.length, 2);
  // Both after the cancel returned, in the order they were sent.
  for (const [, i] of sends) assert.ok(i > back, `send at ${i}, cancel returned at ${back}`);
});

test('NdisMIdleNotificationConfirm: the bus takes the NIC to the IdlePowerState the miniport confirmed (D2 here), as the SimNic reports', () => {
  const { w, r } = ssWorld('ss-d2', {}, [], 7 * ns.s);
  clean(r);
  const hw = w.trace.events.filter((e) => e.kind === 'hw' && e.what.startsWith('powered down'));
  assert.deepEqual(
    hw.map((e) => e.what),
    ['powered down (D2)'],
  );
});

test('R7.9 start-filter while selectively suspended: NDIS ends the suspension before it pauses the stack to attach the module, and watches the adapter again after the restart', () => {
  const x = ssDriver('ss-restack');
  const w = testWorld({
    drivers: [x.drv, monitorLwf],
    devices: [
      { name: 'nic0', driver: 'ss-restack', registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 5 } },
    ],
    actions: [{ atNs: 8 * ns.s, action: { kind: 'start-filter', driver: 'monitor-lwf' } }],
    options: { verifier: 'collect', trace: true },
  });
  const r = w.run(20 * ns.s);
  clean(r);
  inOrder(w.trace.events, [
    ['suspended', ndis(/selective suspend: suspended/)],
    ['start-filter', is('action', 'start-filter')],
    ['cancel', call('MiniportCancelIdleNotification')],
    ['back', ndis(/selective suspend: back in D0/)],
    ['pause', call('MiniportPause')],
    ['attach', call('FilterAttach')],
    ['restart', call('MiniportRestart')],
    ['suspended again', ndis(/selective suspend: suspended/)],
  ]);
  assert.equal(w.adapter('nic0')!.filters.length, 1);
});

// ------------------------------------------------ NDIS's watchdogs (bug-check-0x7c, 0x25/0x26)

/** ssDriver on nic0 (idle after 5 s) with NDIS options, in collect mode. */
function ssWatchdogWorld(
  name: string,
  s: SsScript,
  actions: { atNs: number; action: WorldAction }[],
  ndisOptions: { idleWatchdogNs?: number } = {},
) {
  const x = ssDriver(name, s);
  return testWorld({
    drivers: [x.drv],
    devices: [{ name: 'nic0', driver: name, registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 5 } }],
    actions,
    options: { verifier: 'collect', trace: true, ndis: ndisOptions },
  });
}

const wakeAt8s = [{ atNs: 8 * ns.s, action: { kind: 'wake-signal', device: 'nic0' } as WorldAction }];

test('NdisSim_CancelIdleWatchdog: NDIS cancelled the idle notification and NdisMIdleNotificationComplete never came: 0x7C/0x25/0x26, idleWatchdog (60 s) after MiniportCancelIdleNotification', () => {
  const w = ssWatchdogWorld('ss-cancel-stuck', { cancel: () => {} }, wakeAt8s);
  const r = w.run(120 * ns.s);
  const bc = r.bugCheck!;
  assert.equal(bc.rule, 'NdisSim_CancelIdleWatchdog');
  assert.deepEqual(bc.bugCheck.params, [0x25, 0x26, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0]);
  const cancel = w.trace.events[findEvent(w.trace.events, call('MiniportCancelIdleNotification'))]!;
  assert.equal(bc.timeNs - cancel.t, 60 * ns.s);
  // It names the notification left outstanding: when MiniportIdleNotification pended it.
  const notify = w.trace.events[findEvent(w.trace.events, call('MiniportIdleNotification'))]!;
  assert.deepEqual(bc.origin, {
    label: 'Pended by',
    at: `MiniportIdleNotification at ${fmtTime(notify.t)} (cancelled with MiniportCancelIdleNotification at ${fmtTime(cancel.t)})`,
  });
  assert.ok(bc.message.endsWith(`pended at ${fmtTime(notify.t)} is still outstanding`), bc.message);
  // The only finding: nothing else in the run is wrong.
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_CancelIdleWatchdog'],
  );
});

test('NdisSim_CancelIdleWatchdog: a completion just before the time-out is no bug check; just after, it is', () => {
  const lateBy = (ms: number) => ({
    cancel: (a: TestAdapter) => after(a, ms, (x) => NdisMIdleNotificationComplete(x.handle)),
  });
  const ok = ssWatchdogWorld('ss-cancel-2999', lateBy(2_999), wakeAt8s, { idleWatchdogNs: 3 * ns.s });
  clean(ok.run(30 * ns.s));
  const late = ssWatchdogWorld('ss-cancel-3001', lateBy(3_001), wakeAt8s, { idleWatchdogNs: 3 * ns.s });
  assert.equal(late.run(30 * ns.s).bugCheck?.rule, 'NdisSim_CancelIdleWatchdog');
});

test('NdisSim_CancelIdleWatchdog: a MiniportCancelIdleNotification that blocks past the watchdog is caught while it blocks', () => {
  const w = ssWatchdogWorld(
    'ss-cancel-blocks',
    {
      cancel: (a) => {
        NdisMSleep(4_000_000);
        NdisMIdleNotificationComplete(a.handle);
      },
    },
    wakeAt8s,
    { idleWatchdogNs: 3 * ns.s },
  );
  const r = w.run(30 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_CancelIdleWatchdog');
  assert.match(r.bugCheck!.message, /MiniportCancelIdleNotification of nic0 has not returned after 3 s/);
  assert.equal(
    r.bugCheck!.timeNs - w.trace.events[findEvent(w.trace.events, call('MiniportCancelIdleNotification'))]!.t,
    3 * ns.s,
  );
});

test('NdisSim_IdleWatchdog: a MiniportIdleNotification that does not return within idleWatchdog is 0x7C/0x25/0x25; one that returns in time is not', () => {
  const slowIdle = (a: TestAdapter) => {
    NdisMSleep(4_000_000);
    NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
    return NDIS_STATUS_PENDING;
  };
  const w = ssWatchdogWorld('ss-idle-blocks', { idle: slowIdle }, [], { idleWatchdogNs: 3 * ns.s });
  const r = w.run(30 * ns.s);
  const bc = r.bugCheck!;
  assert.equal(bc.rule, 'NdisSim_IdleWatchdog');
  assert.deepEqual(bc.bugCheck.params, [0x25, 0x25, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0]);
  assert.equal(
    bc.timeNs - w.trace.events[findEvent(w.trace.events, call('MiniportIdleNotification'))]!.t,
    3 * ns.s,
  );
  // With the default 60 s the 4 s wait is no bug check: the adapter is suspended after it.
  const ok = ssWatchdogWorld('ss-idle-slow', { idle: slowIdle }, []);
  clean(ok.run(30 * ns.s));
  assert.ok(findEvent(ok.trace.events, ndis(/selective suspend: suspended/)) >= 0);
});

test('NdisSim_IdleWatchdog: a pended idle notification is not timed: never confirmed and never cancelled, it stays outstanding without a bug check', () => {
  const w = ssWatchdogWorld('ss-idle-pends', { idle: () => NDIS_STATUS_PENDING }, [], {
    idleWatchdogNs: 3 * ns.s,
  });
  const r = w.run(200 * ns.s);
  clean(r);
  assert.equal(w.adapter('nic0')!.ss?.phase, 'notifying');
});

test('NdisMIdleNotificationComplete powers nothing up by itself: the D0 IRP_MN_SET_POWER comes from NDIS after MiniportCancelIdleNotification returns, so a register write right after the completion is NdisSim_HardwareAccessInLowPower; the same write in OID_PNP_SET_POWER(D0) is not', () => {
  const ctrl = (a: TestAdapter) => a.space!.at(SimNicReg.CTRL);
  const early = ssWorld(
    'ss-touch-early',
    {
      cancel: (a) => {
        NdisMIdleNotificationComplete(a.handle);
        NdisWriteRegisterUlong(ctrl(a), SimNicCtrl.TX_ENABLE | SimNicCtrl.RX_ENABLE);
      },
    },
    [{ atNs: 9 * ns.s, action: { kind: 'send', device: 'nic0' } }],
    11 * ns.s,
  );
  assert.deepEqual(
    early.r.violations.map((v) => v.rule),
    ['NdisSim_HardwareAccessInLowPower'],
  );
  assert.match(early.r.violations[0]!.message, /in D2.*NdisMIdleNotificationComplete powers nothing up/);
  // The D0 IRP follows the cancel handler's return, and OID_PNP_SET_POWER(D0) the IRP.
  inOrder(early.w.trace.events, [
    ['cancel', call('MiniportCancelIdleNotification')],
    ['complete', ddi('NdisMIdleNotificationComplete')],
    ['cancel returns', (e) => e.kind === 'return' && e.what === 'MiniportCancelIdleNotification'],
    ['bus to D0', irp('D0')],
    ['OID_PNP_SET_POWER(D0)', oidCall('OID_PNP_SET_POWER')],
  ]);
  const late = ssWorld(
    'ss-touch-in-d0',
    {
      hooks: {
        oid: (a, req) => {
          if (setPowerState(req) === NdisDeviceStateD0)
            NdisWriteRegisterUlong(ctrl(a), SimNicCtrl.TX_ENABLE | SimNicCtrl.RX_ENABLE);
          return NDIS_STATUS_SUCCESS;
        },
      },
    },
    [{ atNs: 9 * ns.s, action: { kind: 'send', device: 'nic0' } }],
    11 * ns.s,
  );
  clean(late.r);
  assert.ok(late.w.trace.events.some(ndis(/selective suspend: back in D0/)));
});

test('R5.8 NdisMRemoveMiniport in MiniportIdleNotification and a MiniportCancelIdleNotification that never completes: "still under way" names the wait for NdisMIdleNotificationComplete, not only the teardown step', () => {
  const { r } = ssWorld(
    'ss-remove-stuck',
    {
      idle: (a) => {
        NdisMRemoveMiniport(a.handle);
        return NDIS_STATUS_PENDING;
      },
      cancel: () => {},
    },
    [],
    20 * ns.s,
  );
  const teardown = r.pending.filter((p) => /^nic0: the (surprise )?removal /.test(p));
  assert.equal(teardown.length, 1, r.pending.join('; '));
  assert.match(
    teardown[0]!,
    /waits to pause the protocols and filter modules, before MiniportPause: waiting for NdisMIdleNotificationComplete after MiniportCancelIdleNotification/,
  );
});
