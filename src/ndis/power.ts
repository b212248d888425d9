// System sleep and resume (S0 → Sx → S0) of miniport adapters, as step machines run
// by the adapter's NDIS worker like the PnP procedures of lifecycle.ts.
//
// Going down (oid-pnp-set-power, power-management-for-old-miniport-drivers,
// handling-pnp-events-and-power-management-events-in-a-protocol-driver pages):
// protocols hear NetEventQueryPower and NetEventSetPower(D3); NDIS pauses the stack
// (R3.1; not with NO_PAUSE_ON_SUSPEND from NDIS 6.30), then either halts the miniport
// with NdisHaltDevicePoweredDown (R2.11: not power-management aware, no
// NO_HALT_ON_SUSPEND) or sends OID_PNP_QUERY_POWER and OID_PNP_SET_POWER(D3).
// Coming back: MiniportInitializeEx again (R1.8) and NDIS's own OIDs that restore the
// packet filter and multicast list, or OID_PNP_SET_POWER(D0); then MiniportRestart
// and the protocols' restart, then NetEventSetPower(D0). A failed re-initialization or
// a failed power OID marks the device failed (R5.8): Code 43, NdisHaltDeviceFailed.
// While in D3: no check-for-hang (R4.3), no reset (R4.11). Once every adapter is in
// D3 the system is asleep and the World freezes the machine until the wake (checkAsleep).

import { ns } from '../sim/limits.ts';
import type { EventTarget } from '../sim/queue.ts';
import type { Binding } from './binding.ts';
import type { MiniportBlock, PnpOp } from './block.ts';
import { type FilterModule, netEventUp } from './filter.ts';
import {
  MediaConnectStateUnknown,
  NDIS_DEVICE_POWER_STATE_NAMES,
  NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
  NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_PAUSE_LOW_POWER,
  NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisHaltDeviceFailed,
  NdisHaltDevicePoweredDown,
  NdisRequestSetInformation,
  OID_PM_PARAMETERS,
  OID_PNP_QUERY_POWER,
  OID_PNP_SET_POWER,
  STATUS_SUCCESS,
} from './generated/status.ts';
import {
  halt,
  initializeAdapter,
  LiveDumpReason,
  markDeviceFailed,
  pauseAbove,
  pauseMiniportStep,
  resetForRestart,
  restartStackStep,
} from './lifecycle.ts';
import type { Ndis } from './ndis.ts';
import { kickOids, ndisRequest, oidName, replayAddressing, submit } from './oid.ts';
import { wakeEnabledFromD3 } from './pm-caps.ts';
import { ProtocolDriverBlock } from './protocol-driver.ts';
import { cancelHangTimer, startHangTimer } from './reset.ts';
import { SituationKind, situationCode } from './situations.ts';
import { ssLowPower, ssResumeMonitoring, ssSettled, ssWaitText } from './ss.ts';
import type { NDIS_OID_REQUEST, NDIS_PM_PARAMETERS } from './types.ts';
import { wolPatternsEnabled } from './wol.ts';

/**
 * The power manager's watchdog on one IRP_MN_SET_POWER of a device (the 0x9F page,
 * parameter 1 = 0x3: "a device object has been blocking an IRP for too long a time";
 * ndis.options.powerWatchdogNs, 10 minutes by default). It fires only if the step
 * machine that sent the IRP is still the adapter's operation: the IRP is still held.
 */
class PowerIrpWatchdog implements EventTarget {
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
    readonly op: SleepOp | WakeOp,
    readonly irp: string,
  ) {}
  fire(): void {
    const b = this.block;
    if (b.op !== this.op) return;
    if (b.power !== null) b.power.irpWatchdog = null;
    const n = this.ndis;
    n.reportInDpc(
      'power',
      'NdisSim_PowerIrpWatchdog',
      'IRP_MN_SET_POWER',
      b.name,
      `${this.irp} to ${b.dev.name} not completed within ${n.options.powerWatchdogNs / ns.s} s: the adapter is still ${pendingPowerStep(b, this.op)}`,
      [`${b.dev.name} PDO`, 'nt!_TRIAGE_9F_POWER', this.irp],
    );
  }
}

function armIrpWatchdog(n: Ndis, b: MiniportBlock, op: SleepOp | WakeOp, irp: string): void {
  const p = b.power!;
  if (p.irpWatchdog !== null) p.irpWatchdog.cancelled = true;
  p.irpWatchdog = n.kernel.machine.after(
    n.options.powerWatchdogNs,
    new PowerIrpWatchdog(n, b, op, irp),
    0,
    null,
  );
}

/** The device's IRP_MN_SET_POWER completed (or the transition ended): no watchdog any more. */
function disarmIrpWatchdog(b: MiniportBlock): void {
  const p = b.power;
  if (p === null || p.irpWatchdog === null) return;
  p.irpWatchdog.cancelled = true;
  p.irpWatchdog = null;
}

/**
 * What a sleep or resume waits for at its step, in words, for the pending list and the
 * watchdog: the driver call or completion it needs.
 */
export function pendingPowerStep(b: MiniportBlock, op: SleepOp | WakeOp): string {
  switch (op.step) {
    case 'query-power':
      return ssWaitText(b) ?? 'waiting to query power';
    case 'wait-query-power':
      return 'waiting for OID_PNP_QUERY_POWER to complete';
    case 'pause-protocols':
      return 'waiting for the protocols and filters to pause';
    case 'pause-miniport':
      return 'waiting for MiniportPause to complete (NdisMPauseComplete)';
    case 'power-down':
      return b.resetInProgress
        ? 'waiting for the reset to complete before MiniportHaltEx'
        : b.oid !== null || b.oidQueue.length > 0
          ? 'waiting for the OID request in the miniport before MiniportHaltEx'
          : 'waiting to power down';
    case 'wait-pm-parameters':
      return 'waiting for OID_PM_PARAMETERS to complete';
    case 'wait-set-power':
      return `waiting for OID_PNP_SET_POWER(${op.kind === 'sleep' ? 'D3' : 'D0'}) to complete`;
    case 'wait-replay':
      return 'waiting for the packet filter and multicast list OID requests to complete';
    case 'restart':
    case 'restart-protocols':
      return 'waiting for the stack to restart';
    default:
      return `at step ${op.step}`;
  }
}

/**
 * The OID_PM_PARAMETERS NDIS sets before OID_PNP_SET_POWER(D3) of a system sleep, for an
 * adapter that reported NDIS 6.20 power management (PowerManagementCapabilitiesEx), or
 * null for one that did not. The obtaining-and-updating-power-management-parameters page:
 * "Before NDIS transitions the network adapter to the low power state, NDIS sends a set
 * request to the miniport driver that contains the combined settings"; the
 * low-power-for-wake-on-lan page: wake on LAN enabled, NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED
 * cleared. The model's protocols enable nothing, so the combined settings are NDIS's own:
 * the magic packet, which it enables from the user setting (*WakeOnMagicPacket, 1 by
 * default on the standardized-INF-keywords page) when the adapter supports it.
 */
function wakeParameters(b: MiniportBlock): NDIS_PM_PARAMETERS | null {
  const caps = b.general?.PowerManagementCapabilitiesEx;
  if (caps == null) return null;
  return combinedPmParameters(b);
}

/**
 * What NDIS leaves out of the combined settings for D3 (pm-caps.ts): the wake types whose
 * minimum wake state in NDIS_PM_CAPABILITIES rules out a wake from D3 (R2.4's attributes;
 * how-ndis-sets-the-power-policy-for-a-network-adapter), in words for the trace.
 */
function wakeTypesLeftOut(b: MiniportBlock): string[] {
  const caps = b.general?.PowerManagementCapabilitiesEx;
  if (caps == null) return [];
  return wakeEnabledFromD3(caps, combinedPmParameters(b, false)).dropped;
}

/**
 * What NDIS would set of OID_PM_PARAMETERS now: the magic packet it enables itself (above),
 * the types of the WoL patterns added to the adapter (wol.ts: their owners enable them),
 * and what the overlying drivers still bound or attached set (oid-pm-parameters: "the
 * combined settings from all of the requests that NDIS stored"), each bit enabled by
 * any of them, but for wake on link change, which NDIS clears for a system sleep
 * (low-power-for-wake-on-lan).
 */
function combinedPmParameters(b: MiniportBlock, forD3 = true): NDIS_PM_PARAMETERS {
  const caps = b.general?.PowerManagementCapabilitiesEx;
  const supported =
    typeof caps?.SupportedWoLPacketPatterns === 'number' ? caps.SupportedWoLPacketPatterns : 0;
  const keyword = b.dev.registry.get('*WakeOnMagicPacket');
  const magic = (supported & NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED) !== 0 && keyword !== 0 && keyword !== '0';
  const p: NDIS_PM_PARAMETERS = {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_PARAMETERS_REVISION_2 },
    EnabledWoLPacketPatterns: (magic ? NDIS_PM_WOL_MAGIC_PACKET_ENABLED : 0) | wolPatternsEnabled(b),
    EnabledProtocolOffloads: 0,
    WakeUpFlags: 0,
    MediaSpecificWakeUpEvents: 0,
  };
  if (b.pmSettings !== null)
    for (const [source, s] of b.pmSettings) {
      if ('gone' in source ? source.gone : source.open === null || source.open.state !== 'opened') continue;
      p.EnabledWoLPacketPatterns |= s.EnabledWoLPacketPatterns >>> 0;
      p.EnabledProtocolOffloads |= s.EnabledProtocolOffloads >>> 0;
      p.WakeUpFlags |= (s.WakeUpFlags >>> 0) & ~NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED;
      p.MediaSpecificWakeUpEvents |= (s.MediaSpecificWakeUpEvents ?? 0) >>> 0;
    }
  // Only the wake types the adapter can signal from D3, the model's sleep state (pm-caps.ts).
  return forD3 && caps != null ? wakeEnabledFromD3(caps, p).pm : p;
}

/** NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_1: the structure through WakeUpFlags. */
const pmParametersRevision1Size = 16;

/**
 * OID_PM_PARAMETERS from an overlying driver reaches NDIS, not the miniport
 * (oid-pm-parameters): a query gets the settings NDIS would set now, a set is kept for
 * the set NDIS sends before D3. Completes at once; returns the status.
 */
export function pmParametersByNdis(
  n: Ndis,
  b: MiniportBlock,
  request: NDIS_OID_REQUEST,
  source: Binding | FilterModule,
): number {
  let status: number;
  if (request.RequestType === NdisRequestSetInformation) {
    const d = request.DATA.SET_INFORMATION;
    const v = d.InformationBuffer as NDIS_PM_PARAMETERS | null;
    if (d.InformationBufferLength < pmParametersRevision1Size) {
      d.BytesNeeded = NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2;
      status = NDIS_STATUS_INVALID_LENGTH;
    } else if (typeof v !== 'object' || v === null) status = NDIS_STATUS_INVALID_DATA;
    else {
      b.pmSettings ??= new Map();
      b.pmSettings.set(source, { ...v });
      d.BytesRead = d.InformationBufferLength;
      status = NDIS_STATUS_SUCCESS;
    }
  } else {
    const d = request.DATA.QUERY_INFORMATION;
    if (d.InformationBufferLength < NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2) {
      d.BytesNeeded = NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2;
      status = NDIS_STATUS_BUFFER_TOO_SHORT;
    } else {
      d.InformationBuffer = combinedPmParameters(b);
      d.BytesWritten = NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2;
      status = NDIS_STATUS_SUCCESS;
    }
  }
  if (n.trace.on)
    n.traceNdis(b, 'OID request answered by NDIS', {
      Oid: 'OID_PM_PARAMETERS',
      request:
        request.RequestType === NdisRequestSetInformation ? 'set (kept for the low-power state)' : 'query',
      status,
    });
  return status;
}

function wakeEnabled(pm: NDIS_PM_PARAMETERS | null): boolean {
  return pm !== null && (pm.EnabledWoLPacketPatterns !== 0 || pm.WakeUpFlags !== 0);
}

/**
 * A device signals a wake while the system sleeps (the scenario's `wake-signal`): true
 * when NDIS armed it for wake-up before D3 (its OID_PM_PARAMETERS enabled one), so the
 * bus completes the IRP_MN_WAIT_WAKE and the system wakes (low-power-for-wake-on-lan).
 */
export function armedForWake(b: MiniportBlock): boolean {
  const p = b.power;
  return (
    p !== null && p.armed === true && p.device !== NdisDeviceStateD0 && !b.surpriseRemoved && !b.fdoDeleted
  );
}

/** The sleeping states a scenario can ask for. */
export type SystemSleepState = 'S3' | 'S4';

type SleepOp = Extract<PnpOp, { kind: 'sleep' }>;
type WakeOp = Extract<PnpOp, { kind: 'wake' }>;

/** True while NDIS has the adapter's device in a low-power state (R4.3, R4.11). */
export function inLowPower(b: MiniportBlock): boolean {
  return (b.power !== null && b.power.device !== NdisDeviceStateD0) || ssLowPower(b);
}

/** True while a system sleep has the device in a low-power state. */
export function asleep(b: MiniportBlock): boolean {
  return b.power !== null && b.power.device !== NdisDeviceStateD0;
}

/**
 * R2.11 and the old-miniport page: NDIS halts an adapter on suspend unless it reports
 * power management capabilities in its general attributes (PowerManagementCapabilities
 * or, from 6.20, PowerManagementCapabilitiesEx: NULL means not power-management aware)
 * or it set NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND.
 */
function haltsOnSuspend(b: MiniportBlock): boolean {
  if (((b.registration?.AttributeFlags ?? 0) & NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND) !== 0)
    return false;
  const g = b.general;
  return g === null || (g.PowerManagementCapabilities == null && g.PowerManagementCapabilitiesEx == null);
}

/**
 * The oid-pnp-set-power page: from NDIS 6.30 NDIS neither pauses nor restarts the stack
 * around a power change of a miniport that set NO_PAUSE_ON_SUSPEND, when every driver
 * above supports 6.30: the filter drivers of the modules attached and the protocol
 * drivers bound (the model's built-in protocols do). A halt still needs the pause (R1.3).
 */
function pausesOnSuspend(b: MiniportBlock, halts: boolean): boolean {
  if (halts || b.driver.ndisVersion < 630) return true;
  if (((b.registration?.AttributeFlags ?? 0) & NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND) === 0)
    return true;
  for (const f of b.filters)
    if (f.driver.chars.MajorNdisVersion * 100 + f.driver.chars.MinorNdisVersion < 630) return true;
  for (const bd of b.bindings)
    if (bd.protocol instanceof ProtocolDriverBlock && bd.protocol.ndisVersion < 630) return true;
  return false;
}

/** The power IRP of the device on the timeline (the power manager's, sent and completed). */
function tracePowerIrp(n: Ndis, b: MiniportBlock, data: Record<string, unknown>): void {
  if (!n.trace.on) return;
  const k = n.kernel;
  data.device = b.dev.name;
  n.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'power', 'irp', 'IRP_MN_SET_POWER', data);
}

/**
 * NetEventQueryPower or NetEventSetPower with `state` up the stack: the filter modules
 * that handle it, then every bound protocol (R7.7).
 */
function notifyProtocols(
  n: Ndis,
  b: MiniportBlock,
  event: 'NetEventQueryPower' | 'NetEventSetPower',
  state: number,
): void {
  netEventUp(n, b, event, state);
}

/**
 * NDIS's own OID_PNP_QUERY_POWER or OID_PNP_SET_POWER; its status lands in `op.oidDone`.
 * OID_PNP_QUERY_POWER is a query request (NdisRequestQueryInformation) whose buffer holds
 * the state, OID_PNP_SET_POWER a set (docs/decisions.md: the pages speak of "a query of
 * OID_PNP_QUERY_POWER" and "a set request of OID_PNP_SET_POWER", and netvmini answers
 * the first in its query path, the second in its set path).
 */
function powerOid(
  n: Ndis,
  b: MiniportBlock,
  op: SleepOp | WakeOp,
  oid: number,
  state: number | NDIS_PM_PARAMETERS,
): void {
  const pm = typeof state !== 'number';
  const req = ndisRequest(
    n,
    oid !== OID_PNP_QUERY_POWER,
    oid,
    state,
    pm ? NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2 : 4,
  );
  op.oidDone = null;
  const s = submit(n, b, req, {
    kind: 'ndis',
    restore: false,
    power: true,
    done: (status) => {
      if (n.trace.on)
        n.traceNdis(b, 'OID request completed', {
          Oid: oidName(oid),
          ...(pm ? {} : { state: NDIS_DEVICE_POWER_STATE_NAMES[state] }),
          status,
        });
      if (b.op !== op) {
        // A removal took over meanwhile: a transition to D3 is over.
        checkAsleep(n);
        return;
      }
      // The miniport is in D3 from its completion on (its receive engine stopped, the
      // datapath's check), before NDIS's worker takes the next step; its receive engine
      // may run again from the completion of the D0 request, as in selective suspend.
      if (oid === OID_PNP_SET_POWER && status === NDIS_STATUS_SUCCESS) {
        if (state === NdisDeviceStateD3) b.power!.device = NdisDeviceStateD3;
        b.power!.receiveOff = state === NdisDeviceStateD3;
      }
      op.oidDone = status;
      n.kick(b);
    },
  });
  if (s !== NDIS_STATUS_PENDING && b.op === op) op.oidDone = s;
}

// ------------------------------------------------------------------ sleep

/** Who hears that the system has reached S3 or S4 (the World). An object, not a closure (docs/decisions.md). */
export interface SleepListener {
  systemAsleep(state: SystemSleepState): void;
}

/**
 * The system goes to `system`: every started adapter goes to D3 (one step machine each).
 * `listener` hears once every transition has ended: the system is then in S3 or S4 and
 * nothing runs until the wake (the World freezes the machine, docs/model.md).
 */
export function sleepSystem(n: Ndis, system: SystemSleepState, listener: SleepListener): void {
  n.systemSleep = { system, listener, reached: false };
  for (const b of n.adapters) {
    if (b.fdoDeleted || b.pnpState !== 'Started') continue;
    if (b.state === 'Halted' || b.state === 'Shutdown' || asleep(b)) continue;
    if (b.op !== null) {
      // The model does not queue the power IRP behind a PnP operation (docs/model.md).
      if (n.trace.on) n.traceNdis(b, `not put to sleep: ${b.op.kind} under way`, {});
      continue;
    }
    const halts = haltsOnSuspend(b);
    b.power = {
      device: NdisDeviceStateD0,
      system,
      how: halts ? 'halt' : 'oid',
      paused: pausesOnSuspend(b, halts),
      wakeRequested: false,
      armed: false,
      receiveOff: false,
      irpWatchdog: null,
    };
    if (n.situationsOn) n.noteSituation(situationCode(SituationKind.SystemSleep, b));
    tracePowerIrp(n, b, { phase: 'sent', SystemState: system, DeviceState: 'D3' });
    if (n.trace.on)
      n.traceNdis(b, `system sleep (${system}) begins`, {
        how: halts ? 'MiniportHaltEx(NdisHaltDevicePoweredDown)' : 'OID_PNP_SET_POWER',
        pause: b.power.paused,
      });
    const op: SleepOp = { kind: 'sleep', step: 'query-power', oidDone: null };
    b.op = op;
    armIrpWatchdog(n, b, op, 'IRP_MN_SET_POWER (D3)');
    n.kick(b);
  }
  checkAsleep(n);
}

/**
 * The system reaches S3 or S4 once no adapter is on its way to D3 any more (done, failed,
 * or taken over by a removal that this or another step noticed): the last thing NDIS
 * does before the processors stop. Whatever else is under way then stops with them.
 */
export function checkAsleep(n: Ndis): void {
  const s = n.systemSleep;
  if (s === null || s.reached) return;
  for (const b of n.adapters) if (b.op !== null && b.op.kind === 'sleep') return;
  s.reached = true;
  s.listener.systemAsleep(s.system as SystemSleepState);
}

export function stepPower(n: Ndis, b: MiniportBlock, op: SleepOp | WakeOp): boolean {
  return op.kind === 'sleep' ? stepSleep(n, b, op) : stepWake(n, b, op);
}

function stepSleep(n: Ndis, b: MiniportBlock, op: SleepOp): boolean {
  const p = b.power!;
  switch (op.step) {
    case 'query-power':
      // Selective suspend ends first: NDIS cancels the idle notification and brings the
      // device to D0 (docs/decisions.md); monitoring resumes after the wake.
      if (b.ss !== null && !ssSettled(n, b)) return false;
      // IRP_MN_QUERY_POWER first. For an adapter it halts, NDIS answers it itself.
      notifyProtocols(n, b, 'NetEventQueryPower', NdisDeviceStateD3);
      if (p.how === 'halt') {
        op.step = 'set-power-protocols';
        return true;
      }
      op.step = 'wait-query-power';
      powerOid(n, b, op, OID_PNP_QUERY_POWER, NdisDeviceStateD3);
      return op.oidDone !== null;
    case 'wait-query-power':
      if (op.oidDone === null) return false;
      if (op.oidDone !== NDIS_STATUS_SUCCESS) {
        // The oid-pnp-query-power page: any other answer than SUCCESS is an error. Driver
        // Verifier's NdisOidComplete does not cover this OID: ndis-sim's own rule.
        n.verifier.report(
          'NdisSim_QueryPowerFailed',
          'MiniportOidRequest',
          b.name,
          'OID_PNP_QUERY_POWER did not succeed: a miniport must always succeed it (the power change goes ahead)',
          [op.oidDone],
        );
      }
      op.step = 'set-power-protocols';
      return true;
    case 'set-power-protocols':
      // The protocols hear the set-power request, then NDIS pauses the stack.
      notifyProtocols(n, b, 'NetEventSetPower', NdisDeviceStateD3);
      op.step = p.paused ? 'pause-protocols' : 'power-down';
      return true;
    case 'pause-protocols':
      // R7.9: the protocols, then the filter modules.
      if (!pauseAbove(n, b, NDIS_PAUSE_LOW_POWER)) return false;
      op.step = 'pause-miniport';
      return true;
    case 'pause-miniport': {
      const r = pauseMiniportStep(n, b, NDIS_PAUSE_LOW_POWER);
      if (r !== 'paused') return r === 'pausing';
      op.step = 'power-down';
      return true;
    }
    case 'power-down':
      // A wake reason after this sleep needs a wake signal from now on (NdisSim_WakeReasonContent).
      b.wakeCause = null;
      if (p.how === 'oid') {
        const wake = wakeParameters(b);
        if (wake !== null) {
          // NDIS 6.20 power management: the wake-up settings go down first (below).
          const left = n.trace.on ? wakeTypesLeftOut(b) : [];
          if (left.length > 0)
            n.traceNdis(b, 'wake types not enabled: the adapter cannot signal them from D3', {
              left: left.join('; '),
            });
          op.step = 'wait-pm-parameters';
          powerOid(n, b, op, OID_PM_PARAMETERS, wake);
          return op.oidDone !== null;
        }
        op.step = 'wait-set-power';
        powerOid(n, b, op, OID_PNP_SET_POWER, NdisDeviceStateD3);
        return op.oidDone !== null;
      }
      // R2.9 as for any halt: halting first, then the reset and the OID in progress.
      if (!b.halting) {
        b.halting = true;
        cancelHangTimer(n, b);
      }
      if (b.resetInProgress || b.oid !== null || b.oidQueue.length > 0) return false;
      if (b.state !== 'Paused') return false;
      // R2.12: the device-failed flag comes first. A driver that called
      // NdisMRemoveMiniport before this halt (in its MiniportPause(NDIS_PAUSE_LOW_POWER),
      // say) is halted with NdisHaltDeviceFailed, as a removal that took the sleep over
      // would; the surprise removal that follows finds the adapter halted (R5.5).
      halt(n, b, b.deviceFailed ? NdisHaltDeviceFailed : NdisHaltDevicePoweredDown);
      p.device = NdisDeviceStateD3;
      if (b.op !== op) {
        // A removal came while the halt waited: this transition is over.
        checkAsleep(n);
        return false;
      }
      op.step = 'done';
      return true;
    case 'wait-pm-parameters':
      if (op.oidDone === null) return false;
      if (op.oidDone !== NDIS_STATUS_SUCCESS) {
        // As for selective suspend's OID_PM_PARAMETERS: a failed power OID (R5.8).
        powerFailed(n, b, 'OID_PM_PARAMETERS before D3 failed (R5.8)', null);
        return false;
      }
      // low-power-for-wake-on-lan: with a wake-up enabled, NDIS sends the bus an
      // IRP_MN_WAIT_WAKE before the D3 IRP (no IRP in the model: `armed`).
      p.armed = wakeEnabled(wakeParameters(b));
      b.dev.armWake(p.armed);
      op.step = 'wait-set-power';
      powerOid(n, b, op, OID_PNP_SET_POWER, NdisDeviceStateD3);
      return op.oidDone !== null;
    case 'wait-set-power':
      if (op.oidDone === null) return false;
      if (op.oidDone !== NDIS_STATUS_SUCCESS) {
        powerFailed(n, b, 'OID_PNP_SET_POWER(D3) failed (R5.8)', LiveDumpReason.SetPowerDxFailed);
        return false;
      }
      // R4.3: no check-for-hang in low power.
      cancelHangTimer(n, b);
      p.device = NdisDeviceStateD3;
      // R6.17: in low power NDIS takes the link as unknown until the miniport indicates
      // it again (from 6.30 only without wake on link change or selective suspend, which
      // a system sleep does not use in the model).
      b.mediaConnectState = MediaConnectStateUnknown;
      op.step = 'done';
      return true;
    case 'done':
      b.op = null;
      disarmIrpWatchdog(b);
      tracePowerIrp(n, b, { phase: 'completed', status: 0 });
      if (n.trace.on) n.traceNdis(b, `asleep (${p.system}, D3)`, {});
      // The bus driver takes the device to D3.
      b.dev.setPower(false);
      if (p.wakeRequested) beginWake(n, b);
      else checkAsleep(n);
      return false;
  }
}

/**
 * A teardown (a removal, a stop) takes over the adapter's sleep or resume (lifecycle.ts
 * beginTeardown): NDIS completes the device's IRP_MN_SET_POWER in progress with
 * STATUS_SUCCESS, as a function driver must (IRP_MN_SET_POWER's page: it does not fail
 * a system set-power request, and only the bus driver may fail a power-up), so no power
 * IRP is left open and its watchdog ends (docs/decisions.md). A resume taken over leaves
 * the device as it is ("not resumed").
 */
export function powerTakenOver(n: Ndis, b: MiniportBlock, op: SleepOp | WakeOp, stop: boolean): void {
  disarmIrpWatchdog(b);
  tracePowerIrp(n, b, { phase: 'completed', status: STATUS_SUCCESS });
  const why = stop ? 'the device is being stopped' : 'the device is being removed';
  if (n.trace.on)
    n.traceNdis(b, op.kind === 'wake' ? `not resumed: ${why}` : `not put to sleep: ${why}`, {
      step: op.step,
    });
}

/** R5.8: a power change that failed marks the device failed; PnP removes it (Code 43). */
function powerFailed(n: Ndis, b: MiniportBlock, why: string, dump: LiveDumpReason | null): void {
  b.op = null;
  disarmIrpWatchdog(b);
  tracePowerIrp(n, b, { phase: 'completed', status: 0xc0000001 });
  markDeviceFailed(n, b, why, dump);
  // A failed transition to D3 is over too (the removal it starts waits for the wake).
  checkAsleep(n);
}

// ------------------------------------------------------------------ wake

/**
 * IRP_MN_START_DEVICE for an adapter the sleep left in D3 (a stop while asleep): the
 * bus driver powers the device up for the start and MiniportInitializeEx runs on it,
 * so the device is in D0 and the coming resume leaves it alone.
 */
export function powerUpForStart(n: Ndis, b: MiniportBlock): void {
  const p = b.power!;
  if (p.device === NdisDeviceStateD0) return;
  p.device = NdisDeviceStateD0;
  p.wakeRequested = false;
  b.dev.setPower(true);
  if (n.trace.on) n.traceNdis(b, 'in D0 again: started while asleep', {});
}

/** The system is back in S0: every sleeping adapter comes back to D0. */
export function wakeSystem(n: Ndis): void {
  n.systemSleep = null;
  for (const b of n.adapters) {
    const p = b.power;
    if (p === null) continue;
    if (b.op !== null && b.op.kind === 'sleep') {
      p.wakeRequested = true;
      continue;
    }
    if (p.device === NdisDeviceStateD0) continue;
    beginWake(n, b);
  }
}

function beginWake(n: Ndis, b: MiniportBlock): void {
  const p = b.power!;
  p.wakeRequested = false;
  p.armed = false;
  // The wait-wake IRP is over (completed by the wake, or cancelled): PME_En off.
  b.dev.armWake(false);
  // The bus driver powers the device up before the function driver hears of it.
  b.dev.setPower(true);
  if (b.fdoDeleted || b.surpriseRemoved || b.pnpState !== 'Started' || b.op !== null) {
    if (n.trace.on)
      n.traceNdis(
        b,
        b.op !== null && b.op.kind === 'bring-up'
          ? 'not resumed: it is being started again'
          : 'not resumed: the device is being removed',
        {},
      );
    return;
  }
  tracePowerIrp(n, b, { phase: 'sent', SystemState: 'S0', DeviceState: 'D0' });
  if (b.deviceFailed && b.state === 'Halted') {
    // R5.15: the device-failed flag outlives the sleep's halt on this FDO, and NDIS does
    // not initialize a miniport it has marked failed again: the D0 IRP completes (the
    // bus driver powered the device up) and the adapter stays halted for the removal
    // that PNP_DEVICE_FAILED brings (R5.12), which finds it halted (R5.5).
    p.device = NdisDeviceStateD0;
    if (n.trace.on) n.traceNdis(b, 'not initialized again: the device failed (R5.15)', {});
    tracePowerIrp(n, b, { phase: 'completed', status: 0 });
    return;
  }
  const op: WakeOp = { kind: 'wake', step: 'power-up', oidDone: null, restartCalled: false };
  b.op = op;
  armIrpWatchdog(n, b, op, 'IRP_MN_SET_POWER (D0)');
  n.kick(b);
}

function stepWake(n: Ndis, b: MiniportBlock, op: WakeOp): boolean {
  const p = b.power!;
  switch (op.step) {
    case 'power-up':
      if (p.how === 'oid') {
        op.step = 'wait-set-power';
        powerOid(n, b, op, OID_PNP_SET_POWER, NdisDeviceStateD0);
        return op.oidDone !== null;
      }
      // R1.8: the same device is initialized again, with a new adapter context.
      resetForRestart(b);
      if (!initializeAdapter(n, b)) {
        // Not a reason the 0x15E page lists: no live dump.
        powerFailed(n, b, 'MiniportInitializeEx failed on resume: NIC not powered up (R5.8)', null);
        return false;
      }
      p.device = NdisDeviceStateD0;
      op.step = 'replay';
      return true;
    case 'wait-set-power':
      if (op.oidDone === null) return false;
      if (op.oidDone !== NDIS_STATUS_SUCCESS) {
        powerFailed(n, b, 'OID_PNP_SET_POWER(D0) failed (R5.8)', LiveDumpReason.SetPowerD0Failed);
        return false;
      }
      p.device = NdisDeviceStateD0;
      startHangTimer(n, b);
      // Requests from above held while in D3 go down now (oid.ts nextToDispatch).
      if (b.oidQueue.length > 0) kickOids(n, b);
      op.step = p.paused ? 'restart' : 'set-power-protocols';
      return true;
    case 'replay':
      // The old-miniport page: after a re-initialization NDIS restores the packet
      // filter and the multicast list with OID requests (as after an AddressingReset).
      op.step = 'wait-replay';
      op.oidDone = null;
      replayAddressing(n, b, () => {
        if (b.op !== op) return;
        op.oidDone = NDIS_STATUS_SUCCESS;
        n.kick(b);
      });
      return op.oidDone !== null;
    case 'wait-replay':
      if (op.oidDone === null) return false;
      op.step = 'restart';
      return true;
    case 'restart':
    case 'restart-protocols': {
      const r = restartStackStep(n, b, op);
      if (r === 'advance') op.step = op.step === 'restart' ? 'restart-protocols' : 'set-power-protocols';
      else if (r === 'failed') {
        b.op = null;
        // The device is in D0: its IRP completes (unless a removal completed it already);
        // the failed restart is the stack's.
        if (p.irpWatchdog !== null) {
          disarmIrpWatchdog(b);
          tracePowerIrp(n, b, { phase: 'completed', status: 0 });
        }
      }
      return r === 'advance' || r === 'again';
    }
    case 'set-power-protocols':
      // The protocol page: NDIS restarts the stack before it tells them of D0.
      notifyProtocols(n, b, 'NetEventSetPower', NdisDeviceStateD0);
      op.step = 'done';
      return true;
    case 'done':
      b.op = null;
      disarmIrpWatchdog(b);
      tracePowerIrp(n, b, { phase: 'completed', status: 0 });
      if (n.trace.on) n.traceNdis(b, 'resumed (S0, D0)', {});
      if (b.ss !== null) ssResumeMonitoring(n, b);
      return false;
  }
}
