// Tests use the gallery's scriptable miniport (src/drivers/buggy/base.ts).

import assert from 'node:assert/strict';
import { type Hooks, scriptedDriver, type TestAdapter } from '../../src/drivers/buggy/base.ts';
import {
  type DriverModule,
  type MINIPORT_ISR,
  type NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_MINIPORT_INTERRUPT_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
  type NDIS_OID_REQUEST,
  NDIS_PM_CAPABILITIES_REVISION_2,
  NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  NdisMDeregisterInterruptEx,
  NdisMOidRequestComplete,
  NdisMRegisterInterruptEx,
  NdisMRemoveMiniport,
  NdisReadRegisterUlong,
  NdisWriteRegisterUlong,
  SimNicCtrl,
  SimNicReg,
  type WorldOptions,
} from '../../src/index.ts';
import { ns, testWorld } from './world.ts';

export {
  after,
  type Hooks,
  idleInterrupt,
  type ScriptedDriver,
  scriptedDriver,
  type TestAdapter,
  timerCharacteristics,
} from '../../src/drivers/buggy/base.ts';

/**
 * A scripted driver `name` of `hooks` with one device, nic0, removed at `removeAtNs` so
 * the driver unloads, in collect mode: every rule the run breaks is in `r.violations`.
 */
export function removedScripted(name: string, hooks: Hooks, removeAtNs = 1 * ns.s, untilNs = 2 * ns.s) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions: [{ atNs: removeAtNs, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect' },
  });
  return { w, r: w.run(untilNs), drv };
}

/**
 * A scripted driver `name` whose MiniportInterrupt returns `out`: its MiniportInitializeEx
 * swaps the scripted interrupt for one with this ISR and resets the NIC, whose RESET_DONE
 * raises the line once. Run 1 s in collect mode with `options`; the ISR ran once.
 */
export function isrAnswerRun(name: string, out: unknown, options: Partial<WorldOptions> = {}) {
  let isrs = 0;
  const drv = scriptedDriver(name, {
    initialize: (a) => {
      if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
      const r = NdisMRegisterInterruptEx(a.handle, a, {
        Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: NDIS_MINIPORT_INTERRUPT_REVISION_1 },
        InterruptHandler: ((ctx: unknown) => {
          isrs++;
          NdisReadRegisterUlong((ctx as TestAdapter).space!.at(SimNicReg.ICR)); // read to clear
          return out;
        }) as MINIPORT_ISR,
        InterruptDpcHandler: () => {},
        DisableInterruptHandler: () => {},
        EnableInterruptHandler: () => {},
      });
      a.interrupt = r.NdisInterruptHandle;
      NdisWriteRegisterUlong(a.space!.at(SimNicReg.CTRL), SimNicCtrl.RESET | SimNicCtrl.INTR_ENABLE);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    options: { verifier: 'collect', ...options },
  });
  const r = w.run(1 * ns.s);
  assert.equal(isrs, 1, 'one interrupt');
  return { w, r };
}

/**
 * A world of `drv` with one device, nic0, stopped for a rebalance at 300 ms (halted and
 * initialized again, R1.8) and removed at 600 ms, run to 1 s in collect mode.
 */
export function stoppedThenRemoved(drv: DriverModule) {
  return testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
    actions: [
      { atNs: 300 * ns.ms, action: { kind: 'stop', device: 'nic0' } },
      { atNs: 600 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
    ],
  }).run(1 * ns.s);
}

/**
 * A MiniportCancelOidRequest hook: the request the driver pended in `a.state.pending`,
 * if it is the one cancelled (`RequestId`), completes with NDIS_STATUS_REQUEST_ABORTED.
 */
export function abortPendingOid(a: TestAdapter, RequestId: unknown): void {
  const req = a.state.pending as NDIS_OID_REQUEST | undefined;
  if (req === undefined || req.RequestId !== RequestId) return;
  a.state.pending = undefined;
  NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_REQUEST_ABORTED);
}

/** General attributes of a miniport that takes bitmap and magic-packet WoL patterns, four of them (NDIS_PM_CAPABILITIES). */
export const wolPatternAttributes: Partial<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES> = {
  PowerManagementCapabilitiesEx: {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
    Flags: 0,
    SupportedWoLPacketPatterns: NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED | NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
    NumTotalWoLPatterns: 4,
  },
};

/** A driver that gives up on its adapter in MiniportPause: here only the sleep's pause. */
export function pauseRemoveWorld(seed: number) {
  const drv = scriptedDriver('pwr-pause-remove', {
    pause: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    seed,
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 2 * ns.s } }],
    options: { verifier: 'collect', trace: true },
  });
  return { w, drv, r: w.run(8 * ns.s) };
}
