// NDIS selective suspend (NDIS 6.30; the "NDIS Selective Suspend" pages of the network
// guide and the MiniportIdleNotification, MiniportCancelIdleNotification,
// NdisMIdleNotificationConfirm and NdisMIdleNotificationComplete pages).
//
// Only an adapter whose driver registered NDIS_MINIPORT_SS_CHARACTERISTICS and whose
// general attributes report NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED gets an `ss` record; for
// every other adapter `b.ss` is null and the data path pays one null check.
//
// The sequence: NDIS watches the adapter's I/O (sends and their completions, receive
// indications and returns, OID requests it does not answer itself). After *SSIdleTimeout
// seconds without any, it calls MiniportIdleNotification(ForceIdle FALSE) at PASSIVE.
// The miniport vetoes (BUSY) or returns PENDING; once it calls
// NdisMIdleNotificationConfirm(IdlePowerState) NDIS sends OID_PM_PARAMETERS
// (WakeUpFlags NDIS_PM_SELECTIVE_SUSPEND_ENABLED), then OID_PNP_SET_POWER(IdlePowerState),
// then the device goes to that state. From MiniportIdleNotification's PENDING on, NDIS
// holds sends and OID requests from above; one of them (or a wake signal of the
// device) makes NDIS call MiniportCancelIdleNotification. The miniport answers with
// NdisMIdleNotificationComplete (it may also call it on its own); NDIS then, from its
// worker (not inside the driver's call: IRP_MN_SET_POWER is asynchronous), has the bus
// power the device up, sends OID_PNP_SET_POWER(D0), lets the held requests go, and
// watches again. Until the bus has powered it up the device is still in the low-power
// state: a register access in between is NdisSim_HardwareAccessInLowPower.

import { Irql, KTimer, type TimerRoutine, WorkItem, type WorkRoutine } from '../kernel/kernel.ts';
import { fmtTime } from '../report/format.ts';
import type { EventTarget, SimEvent } from '../sim/queue.ts';
import { statusText } from '../verifier/bugcheck.ts';
import type { Binding } from './binding.ts';
import type { MiniportBlock } from './block.ts';
import { protocolSend } from './datapath.ts';
import {
  NDIS_DEVICE_POWER_STATE_NAMES,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_PM_CAPABILITIES_REVISION_2,
  NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_PM_SELECTIVE_SUSPEND_ENABLED,
  NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED,
  NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_STATUS_BUSY,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisDeviceStateD1,
  NdisDeviceStateD3,
  OID_PM_PARAMETERS,
  OID_PNP_SET_POWER,
} from './generated/status.ts';
import { LiveDumpReason, markDeviceFailed } from './lifecycle.ts';
import type { NET_BUFFER_LIST } from './nbl.ts';
import type { Ndis } from './ndis.ts';
import { kickOids, ndisRequest, oidName, submit } from './oid.ts';
import { cancelHangTimer, startHangTimer } from './reset.ts';
import { SituationKind, situationCode } from './situations.ts';
import type { NDIS_PM_PARAMETERS } from './types.ts';

/**
 * Where the adapter is in selective suspend.
 * - monitoring: NDIS watches for idleness.
 * - notifying: MiniportIdleNotification was called (PENDING); not confirmed yet.
 * - suspending: confirmed; NDIS's OID_PM_PARAMETERS and OID_PNP_SET_POWER are under way.
 * - suspended: the device is in the IdlePowerState.
 * - cancelling: MiniportCancelIdleNotification was called; NdisMIdleNotificationComplete awaited.
 * - resuming: completed; the D0 IRP_MN_SET_POWER (from NDIS's worker), then OID_PNP_SET_POWER(D0), are under way.
 * - off: no monitoring (a removal or a system sleep took over, or a power OID failed).
 */
export type SsPhase =
  | 'monitoring'
  | 'notifying'
  | 'suspending'
  | 'suspended'
  | 'cancelling'
  | 'resuming'
  | 'off';

/** *SSIdleTimeout: default 5 s, 1 to 60 (standardized INF keywords page). */
const defaultIdleTimeoutS = 5;

interface HeldSend {
  bd: Binding;
  chain: NET_BUFFER_LIST;
  port: number;
  flags: number;
}

export class AdapterSs implements TimerRoutine, WorkRoutine, EventTarget {
  phase: SsPhase = 'monitoring';
  readonly timeoutNs: number;
  lastActivityNs: number;
  /** MiniportIdleNotification returned or will return PENDING and no completion came yet. */
  outstanding = false;
  confirmed = false;
  idlePowerState = NdisDeviceStateD0;
  /** The device power state NDIS set last. */
  device = NdisDeviceStateD0;
  /** Activity wants the notification cancelled. */
  cancelWanted = false;
  cancelCalled = false;
  /** NdisMIdleNotificationComplete came while NDIS was still powering down. */
  completedEarly = false;
  /** A removal or a system sleep waits for the adapter to be back in D0 and left alone. */
  settleWanted = false;
  /**
   * Sends NDIS holds while the notification is outstanding, in order. Back in D0 NDIS
   * lets them go from its worker, not inside the driver's completion call, and holds
   * new ones behind them until then.
   */
  readonly held: HeldSend[] = [];
  releaseQueued = false;
  /** The notification completed in low power: NDIS's worker sends the D0 IRP_MN_SET_POWER next. */
  powerUpQueued = false;
  /**
   * NDIS's watchdog over the cancel (0x7C/0x25/0x26, NDIS_BUGCHECK_WATCHDOG_CANCEL_IDLE):
   * armed when MiniportCancelIdleNotification returns with the notification still
   * outstanding, ended by NdisMIdleNotificationComplete.
   */
  cancelWatchdog: SimEvent | null = null;
  /** When NDIS called MiniportCancelIdleNotification: the cancel's watchdog runs from here. */
  cancelSinceNs = 0;
  /** When NDIS last called MiniportIdleNotification: the cancel watchdog's "Pended by". */
  notifiedNs = 0;
  readonly timer: KTimer;
  readonly work: WorkItem;

  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
    timeoutS: number,
  ) {
    this.timeoutNs = timeoutS * 1_000_000_000;
    this.lastActivityNs = ndis.now;
    this.timer = new KTimer(this, 'ndis');
    this.work = new WorkItem(this, 'ndis');
  }

  /** The idle timer's DPC: the check runs in a worker (MiniportIdleNotification is PASSIVE). */
  runTimer(): void {
    this.ndis.kernel.queueWork(this.work);
  }

  runWork(): void {
    const b = this.block;
    if (this.releaseQueued) {
      this.releaseQueued = false;
      releaseHeld(this.ndis, this);
      if (this.settleWanted && b.op !== null) this.ndis.kick(b);
    }
    if (b.ss !== this) return; // the adapter was halted meanwhile
    if (this.powerUpQueued) {
      this.powerUpQueued = false;
      powerUp(this.ndis, b, this);
      return;
    }
    if (
      this.cancelWanted &&
      !this.cancelCalled &&
      (this.phase === 'notifying' || this.phase === 'suspended')
    ) {
      callCancel(this.ndis, b, this);
      return;
    }
    if (this.phase === 'monitoring') idleCheck(this.ndis, b, this);
  }

  /** The cancel's watchdog ran out (bug-check-0x7c: 0x26 NDIS_BUGCHECK_WATCHDOG_CANCEL_IDLE). */
  fire(): void {
    this.cancelWatchdog = null;
    const b = this.block;
    if (b.ss !== this || !this.outstanding || !this.cancelCalled) return;
    const n = this.ndis;
    n.reportInDpc(
      'ndis',
      'NdisSim_CancelIdleWatchdog',
      'MiniportCancelIdleNotification',
      b.name,
      `NDIS called MiniportCancelIdleNotification of ${b.name} at ${fmtTime(this.cancelSinceNs)} and NdisMIdleNotificationComplete did not follow within ${n.options.idleWatchdogNs / 1_000_000_000} s: the idle notification MiniportIdleNotification pended at ${fmtTime(this.notifiedNs)} is still outstanding`,
      // Parameter 2 (0x26) comes from the rule; parameter 4 is 0.
      ['NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
      {
        label: 'Pended by',
        at: `MiniportIdleNotification at ${fmtTime(this.notifiedNs)} (cancelled with MiniportCancelIdleNotification at ${fmtTime(this.cancelSinceNs)})`,
      },
    );
  }
}

/** The cancel's watchdog is over (the notification completed, or selective suspend ended). */
function endCancelWatchdog(ss: AdapterSs): void {
  if (ss.cancelWatchdog === null) return;
  ss.cancelWatchdog.cancelled = true;
  ss.cancelWatchdog = null;
}

// ------------------------------------------------------------------ set-up

/**
 * After a successful MiniportInitializeEx: the adapter gets selective suspend if its
 * driver registered the handlers and its general attributes report it
 * (reporting-ndis-selective-suspend-capabilities page). NDIS reads *SSIdleTimeout.
 */
export function startSelectiveSuspend(n: Ndis, b: MiniportBlock): void {
  const caps = b.general?.PowerManagementCapabilitiesEx;
  const reported = caps != null && ((caps.Flags ?? 0) & NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED) !== 0;
  if (!reported) return;
  const keyword = b.dev.registry.get('*SelectiveSuspend');
  const why =
    b.driver.ss === null
      ? 'the driver registered no NDIS_MINIPORT_SS_CHARACTERISTICS (NdisSetOptionalHandlers in MiniportSetOptions)'
      : keyword === 0 || keyword === '0'
        ? 'the *SelectiveSuspend keyword is 0: the miniport must not advertise selective suspend'
        : caps.Header?.Revision !== NDIS_PM_CAPABILITIES_REVISION_2
          ? `NDIS_PM_CAPABILITIES has Header.Revision ${caps.Header?.Revision}, not NDIS_PM_CAPABILITIES_REVISION_2`
          : null;
  if (why !== null) {
    // A warning, not a rule break: NDIS checks nothing at run time and simply leaves
    // selective suspend off; the adapter works at full power (docs/decisions.md).
    n.verifier.warn(
      'NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED',
      'MiniportInitializeEx',
      b.name,
      `NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED reported, but ${why}; NDIS does not use selective suspend on the adapter`,
    );
    return;
  }
  const t = b.dev.registry.get('*SSIdleTimeout');
  const v = typeof t === 'number' ? t : typeof t === 'string' ? Number.parseInt(t, 10) : Number.NaN;
  const timeoutS = Number.isInteger(v) && v >= 1 && v <= 60 ? v : defaultIdleTimeoutS;
  const ss = new AdapterSs(n, b, timeoutS);
  b.ss = ss;
  if (n.trace.on) n.traceNdis(b, 'selective suspend: monitoring starts', { SSIdleTimeout: timeoutS });
  arm(n, ss);
}

/** The adapter is halted: no more monitoring. */
export function endSelectiveSuspend(n: Ndis, b: MiniportBlock): void {
  const ss = b.ss;
  if (ss === null) return;
  n.kernel.cancelTimer(ss.timer);
  endCancelWatchdog(ss);
  b.ss = null;
}

function arm(n: Ndis, ss: AdapterSs): void {
  n.kernel.setTimer(ss.timer, ss.lastActivityNs + ss.timeoutNs, 0);
}

/** Reset blocked (R4.11): the adapter is in, or on its way to or from, a low-power state. */
export function ssUnderWay(b: MiniportBlock): boolean {
  const ss = b.ss;
  return ss !== null && ss.phase !== 'monitoring' && ss.phase !== 'off';
}

/** True while selective suspend has the device in a low-power state. */
export function ssLowPower(b: MiniportBlock): boolean {
  return b.ss !== null && b.ss.device !== NdisDeviceStateD0;
}

// ------------------------------------------------------------------ idle detection

function idleCheck(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  const dueNs = ss.lastActivityNs + ss.timeoutNs;
  if (n.now < dueNs) {
    arm(n, ss);
    return;
  }
  // The model's reading of "inactive": nothing of the adapter's I/O outstanding, and no
  // PnP or power operation, reset or failure under way (docs/decisions.md).
  const busy =
    b.state !== 'Running' ||
    b.op !== null ||
    b.resetInProgress ||
    b.halting ||
    b.deviceFailed ||
    b.surpriseRemoved ||
    b.pnpState !== 'Started' ||
    b.sendsOutstanding > 0 ||
    b.receivesOutstanding > 0 ||
    b.oid !== null ||
    b.oidQueue.length > 0;
  if (busy) {
    ss.lastActivityNs = n.now;
    arm(n, ss);
    return;
  }
  callIdleNotification(n, b, ss);
}

function callIdleNotification(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  if (n.situationsOn) n.noteSituation(situationCode(SituationKind.IdleNotification, b));
  ss.phase = 'notifying';
  ss.outstanding = true;
  ss.confirmed = false;
  ss.cancelWanted = false;
  ss.cancelCalled = false;
  ss.completedEarly = false;
  ss.notifiedNs = n.now;
  if (n.trace.on) n.traceNdis(b, 'selective suspend: adapter idle', { idleNs: n.now - ss.lastActivityNs });
  const h = b.driver.ss!.IdleNotificationHandler;
  const f = n.enter(b, b.driver.name, 'MiniportIdleNotification', Irql.Passive, { ForceIdle: false });
  let s: number;
  try {
    s = h(b.context, false);
  } catch (e) {
    n.driverThrew(e, 'MiniportIdleNotification', b);
  }
  n.leave(f, s);
  if (s === NDIS_STATUS_PENDING) return;
  if (s === NDIS_STATUS_SUCCESS || ss.confirmed || !ss.outstanding) {
    // SUCCESS is forbidden; a veto after a confirmation or a completion is no veto.
    if ((s !== NDIS_STATUS_BUSY && s !== NDIS_STATUS_FAILURE) || ss.confirmed || !ss.outstanding)
      n.verifier.report(
        'NdisSim_IdleNotificationStatus',
        'MiniportIdleNotification',
        b.name,
        s === NDIS_STATUS_SUCCESS
          ? 'MiniportIdleNotification returned NDIS_STATUS_SUCCESS: it must return NDIS_STATUS_PENDING and complete the notification with NdisMIdleNotificationComplete (NDIS takes it as PENDING)'
          : `MiniportIdleNotification returned ${statusText(s)} after it ${ss.confirmed ? 'confirmed' : 'completed'} the notification (NDIS takes it as PENDING)`,
      );
    return;
  }
  if (s !== NDIS_STATUS_BUSY && s !== NDIS_STATUS_FAILURE)
    n.verifier.report(
      'NdisSim_IdleNotificationStatus',
      'MiniportIdleNotification',
      b.name,
      `MiniportIdleNotification returned ${statusText(s)}: PENDING, BUSY or FAILURE only (NDIS takes it as a veto)`,
    );
  // A veto (BUSY) or a failed bus request: NDIS watches again from now.
  if (n.trace.on) n.traceNdis(b, 'selective suspend: idle notification vetoed', { status: s });
  ss.outstanding = false;
  backToD0(n, b, ss);
}

// ------------------------------------------------------------------ activity

/**
 * A send from above (protocolSend, after NDIS's own checks). True when NDIS holds it:
 * an idle notification is outstanding (the handling page: no MiniportSendNetBufferLists
 * after MiniportIdleNotification returned PENDING); NDIS then cancels the notification.
 */
export function ssHoldSend(
  n: Ndis,
  b: MiniportBlock,
  bd: Binding,
  chain: NET_BUFFER_LIST,
  port: number,
  flags: number,
): boolean {
  const ss = b.ss!;
  ss.lastActivityNs = n.now;
  if ((ss.phase === 'monitoring' || ss.phase === 'off') && ss.held.length === 0) return false;
  ss.held.push({ bd, chain, port, flags });
  // Back in D0 already: it only waits for the sends held before it.
  if (ss.phase === 'monitoring' || ss.phase === 'off') return true;
  if (n.trace.on) n.traceNdis(b, 'selective suspend: send held until D0', { phase: ss.phase });
  wantCancel(n, b, ss, 'send request');
  return true;
}

/** An OID request from above that NDIS does not answer itself: activity; held by nextToDispatch. */
export function ssOidActivity(n: Ndis, b: MiniportBlock): void {
  const ss = b.ss!;
  ss.lastActivityNs = n.now;
  if (ss.phase !== 'monitoring' && ss.phase !== 'off') wantCancel(n, b, ss, 'OID request');
}

/** The device signalled a wake-up (IRP_MN_WAIT_WAKE completes): NDIS cancels the notification. */
export function ssWakeSignal(n: Ndis, b: MiniportBlock): void {
  const ss = b.ss;
  if (ss === null || ss.phase === 'monitoring' || ss.phase === 'off' || ss.phase === 'notifying') {
    // No IRP_MN_WAIT_WAKE is pending: NDIS sends it once the notification is confirmed.
    if (n.trace.on)
      n.traceNdis(
        b,
        'wake signal ignored: not selectively suspended',
        ss === null ? {} : { phase: ss.phase },
      );
    return;
  }
  if (ss.phase === 'cancelling' || ss.phase === 'resuming' || ss.cancelWanted) {
    if (n.trace.on)
      n.traceNdis(
        b,
        ss.phase === 'resuming'
          ? 'wake signal ignored: already resuming (OID_PNP_SET_POWER(D0) under way)'
          : ss.cancelCalled
            ? 'wake signal ignored: the idle notification is being cancelled already (MiniportCancelIdleNotification called, NdisMIdleNotificationComplete awaited)'
            : 'wake signal ignored: a cancel of the idle notification is already wanted',
        { phase: ss.phase },
      );
    return;
  }
  b.wakeCause ??= 'signal';
  if (n.trace.on) n.traceNdis(b, 'selective suspend: IRP_MN_WAIT_WAKE completed (wake-up signal)', {});
  wantCancel(n, b, ss, 'wake-up signal');
}

function wantCancel(n: Ndis, b: MiniportBlock, ss: AdapterSs, why: string): void {
  if (ss.cancelWanted || ss.cancelCalled || !ss.outstanding) return;
  ss.cancelWanted = true;
  if (n.trace.on) n.traceNdis(b, 'selective suspend: cancel wanted', { why, phase: ss.phase });
  // While powering down, the cancel waits for the low-power state (docs/decisions.md).
  if (ss.phase === 'notifying' || ss.phase === 'suspended') n.kernel.queueWork(ss.work);
}

function callCancel(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  ss.cancelCalled = true;
  ss.phase = 'cancelling';
  ss.cancelSinceNs = n.now;
  const f = n.enter(b, b.driver.name, 'MiniportCancelIdleNotification', Irql.Passive);
  let returned: unknown;
  try {
    returned = b.driver.ss!.CancelIdleNotificationHandler(b.context);
  } catch (e) {
    n.driverThrew(e, 'MiniportCancelIdleNotification', b);
  }
  n.leaveVoid(f, returned);
  // bug-check-0x7c, 0x26: the cancel is timed from its call; only a notification the
  // handler left outstanding arms the watchdog (most complete inside it or soon after).
  if (b.ss === ss && ss.outstanding && ss.cancelCalled)
    ss.cancelWatchdog = n.kernel.machine.at(ss.cancelSinceNs + n.options.idleWatchdogNs, ss, 0, null);
}

/**
 * Before a removal's or a system sleep's first step: true once selective suspend is out
 * of the way (monitoring stopped, the device in D0). Otherwise NDIS cancels the
 * notification and the caller's step waits; NDIS kicks the adapter's worker when done.
 */
export function ssSettled(n: Ndis, b: MiniportBlock): boolean {
  const ss = b.ss!;
  if (ss.held.length > 0) {
    // Sends held over the notification go down first (NDIS's worker lets them go).
    ss.settleWanted = true;
    return false;
  }
  if (ss.phase === 'off') return true;
  if (ss.phase === 'monitoring') {
    ss.phase = 'off';
    n.kernel.cancelTimer(ss.timer);
    return true;
  }
  if (!ss.settleWanted && n.trace.on)
    n.traceNdis(b, 'selective suspend: waits to end before the operation', { phase: ss.phase });
  ss.settleWanted = true;
  wantCancel(n, b, ss, b.op?.kind ?? 'operation');
  return false;
}

/**
 * What an operation held by ssSettled (a sleep's first step, a teardown's or a restack's
 * pause) waits for, in words, for the "still under way" list and the power watchdog; null
 * when selective suspend holds nothing up.
 */
export function ssWaitText(b: MiniportBlock): string | null {
  const ss = b.ss;
  if (ss === null) return null;
  if (ss.phase !== 'off' && ss.phase !== 'monitoring') {
    if (ss.phase === 'cancelling')
      return 'waiting for NdisMIdleNotificationComplete after MiniportCancelIdleNotification (selective suspend must end first)';
    if (ss.phase === 'notifying' && !ss.cancelCalled)
      return 'waiting for selective suspend to end: MiniportCancelIdleNotification is due';
    return `waiting for selective suspend to end (${ss.phase})`;
  }
  if (ss.held.length > 0) return 'waiting for the sends held over selective suspend to go down';
  return null;
}

/** A system resume ended: NDIS watches the adapter again. */
export function ssResumeMonitoring(n: Ndis, b: MiniportBlock): void {
  const ss = b.ss!;
  if (ss.phase !== 'off' || b.deviceFailed) return;
  ss.phase = 'monitoring';
  ss.settleWanted = false;
  ss.lastActivityNs = n.now;
  arm(n, ss);
}

// ------------------------------------------------------------------ DDIs' work

/** NdisMIdleNotificationConfirm, once checked: NDIS begins the move to IdlePowerState. */
export function ssConfirm(n: Ndis, b: MiniportBlock, IdlePowerState: number): void {
  const ss = b.ss!;
  const why = !ss.outstanding
    ? 'no idle notification is outstanding (none was issued, or NdisMIdleNotificationComplete completed it)'
    : ss.confirmed
      ? 'the idle notification was confirmed already'
      : IdlePowerState < NdisDeviceStateD1 || IdlePowerState > NdisDeviceStateD3
        ? `IdlePowerState ${NDIS_DEVICE_POWER_STATE_NAMES[IdlePowerState] ?? IdlePowerState} is not a low-power state (D1, D2 or D3)`
        : null;
  if (why !== null) {
    n.verifier.report(
      'NdisSim_IdleNotificationConfirm',
      'NdisMIdleNotificationConfirm',
      b.name,
      `NdisMIdleNotificationConfirm: ${why}; NDIS ignores the call`,
    );
    return;
  }
  ss.confirmed = true;
  ss.idlePowerState = IdlePowerState;
  ss.phase = 'suspending';
  if (n.trace.on)
    n.traceNdis(b, 'selective suspend: confirmed', {
      IdlePowerState: NDIS_DEVICE_POWER_STATE_NAMES[IdlePowerState],
    });
  // IRP_MN_WAIT_WAKE to the bus (pending until a wake signal: PME_En set), then OID_PM_PARAMETERS.
  b.dev.armWake(true);
  b.wakeCause = null;
  // The NDIS_PM_PARAMETERS page: with NDIS_PM_SELECTIVE_SUSPEND_ENABLED no other wake-up
  // flag is set and EnabledWoLPacketPatterns is 0; the adapter wakes on a packet its
  // receive filters (OID_GEN_CURRENT_PACKET_FILTER) pass and on a link change instead.
  const pm: NDIS_PM_PARAMETERS = {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_PARAMETERS_REVISION_2 },
    EnabledWoLPacketPatterns: 0,
    EnabledProtocolOffloads: 0,
    WakeUpFlags: NDIS_PM_SELECTIVE_SUSPEND_ENABLED,
    MediaSpecificWakeUpEvents: 0,
  };
  ssOid(n, b, ss, OID_PM_PARAMETERS, pm, NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2, () =>
    ssOid(n, b, ss, OID_PNP_SET_POWER, IdlePowerState, 4, () => suspended(n, b, ss)),
  );
}

/** NdisMIdleNotificationComplete, once checked: NDIS brings the adapter back to D0. */
export function ssComplete(n: Ndis, b: MiniportBlock): void {
  const ss = b.ss;
  if (ss === null || !ss.outstanding) {
    n.verifier.report(
      'NdisSim_IdleNotificationComplete',
      'NdisMIdleNotificationComplete',
      b.name,
      ss === null
        ? 'NdisMIdleNotificationComplete: the adapter has no selective suspend, so no idle notification to complete'
        : 'NdisMIdleNotificationComplete: no idle notification is outstanding (never issued, or completed already)',
    );
    return;
  }
  ss.outstanding = false;
  endCancelWatchdog(ss);
  if (n.trace.on) n.traceNdis(b, 'selective suspend: idle notification completed', { phase: ss.phase });
  if (ss.phase === 'suspending') {
    ss.completedEarly = true; // resumes once the device reached the low-power state
    return;
  }
  if (ss.device !== NdisDeviceStateD0) resume(n, ss);
  else backToD0(n, b, ss);
}

// ------------------------------------------------------------------ power steps

function ssOid(
  n: Ndis,
  b: MiniportBlock,
  ss: AdapterSs,
  oid: number,
  value: unknown,
  length: number,
  next: () => void,
): void {
  if (b.surpriseRemoved) {
    // R5.7: NDIS sends no power OID to a device it knows is gone.
    gone(n, b, ss);
    return;
  }
  const req = ndisRequest(n, true, oid, value, length);
  const done = (status: number): void => {
    if (n.trace.on) n.traceNdis(b, 'OID request completed', { Oid: oidName(oid), status });
    if (b.ss !== ss) return; // halted meanwhile
    if (status !== NDIS_STATUS_SUCCESS) {
      // R5.7: after its SurpriseRemoved notification a miniport fails what reaches it;
      // that is no device failure (the removal's halt stays NdisHaltDeviceSurpriseRemoved).
      if (b.surpriseRemoved) gone(n, b, ss);
      else {
        // The 0x15E page's reasons 74 and 75: a failed OID_PNP_SET_POWER to D0 or to Dx.
        const dump =
          oid !== OID_PNP_SET_POWER
            ? null
            : value === NdisDeviceStateD0
              ? LiveDumpReason.SetPowerD0Failed
              : LiveDumpReason.SetPowerDxFailed;
        failed(n, b, ss, `${oidName(oid)} for selective suspend failed (${statusText(status)})`, dump);
      }
      return;
    }
    next();
  };
  const s = submit(n, b, req, { kind: 'ndis', restore: false, power: true, done });
  if (s !== NDIS_STATUS_PENDING) done(s);
}

function powerIrp(n: Ndis, b: MiniportBlock, state: number): void {
  if (!n.trace.on) return;
  const k = n.kernel;
  n.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'power', 'irp', 'IRP_MN_SET_POWER', {
    device: b.dev.name,
    phase: 'sent',
    DeviceState: NDIS_DEVICE_POWER_STATE_NAMES[state]?.replace('NdisDeviceState', ''),
    why: 'selective suspend',
  });
}

function suspended(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  // The bus takes the device to IdlePowerState; R4.3: no check-for-hang in low power.
  powerIrp(n, b, ss.idlePowerState);
  ss.device = ss.idlePowerState;
  ss.phase = 'suspended';
  cancelHangTimer(n, b);
  b.dev.setPower(false, NDIS_DEVICE_POWER_STATE_NAMES[ss.idlePowerState]?.replace('NdisDeviceState', ''));
  if (n.trace.on)
    n.traceNdis(b, 'selective suspend: suspended', {
      DeviceState: NDIS_DEVICE_POWER_STATE_NAMES[ss.device],
    });
  if (ss.completedEarly) resume(n, ss);
  else if (ss.cancelWanted) n.kernel.queueWork(ss.work);
}

/**
 * The notification completed with the device in low power: NDIS brings it back to D0.
 * The canceling-the-ndis-selective-suspend-idle-notification page: NDIS issues
 * IRP_MN_SET_POWER(D0) to the bus, then OID_PNP_SET_POWER(D0). NDIS does so from its
 * worker, after the driver's NdisMIdleNotificationComplete call (often made inside
 * MiniportCancelIdleNotification, or from a DPC) has returned; the device stays in
 * the low-power state until then.
 */
function resume(n: Ndis, ss: AdapterSs): void {
  ss.phase = 'resuming';
  ss.powerUpQueued = true;
  n.kernel.queueWork(ss.work);
}

function powerUp(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  if (b.surpriseRemoved) {
    // The device is gone: no IRP_MN_SET_POWER, no OID_PNP_SET_POWER(D0) after the
    // SurpriseRemoved notification (R5.7; a system resume skips it too, power.ts).
    if (n.trace.on) n.traceNdis(b, 'selective suspend: device removed, not powered up', {});
    ss.device = NdisDeviceStateD0;
    backToD0(n, b, ss);
    return;
  }
  // The bus powers the device up first, then the miniport hears OID_PNP_SET_POWER(D0).
  powerIrp(n, b, NdisDeviceStateD0);
  b.dev.setPower(true);
  ssOid(n, b, ss, OID_PNP_SET_POWER, NdisDeviceStateD0, 4, () => {
    ss.device = NdisDeviceStateD0;
    startHangTimer(n, b);
    backToD0(n, b, ss);
  });
}

/** The notification is over and the device in D0: watch again, let held requests go. */
function backToD0(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  ss.phase = ss.settleWanted ? 'off' : 'monitoring';
  // The wait-wake IRP is over (completed by a wake signal, or cancelled): PME_En off.
  b.dev.armWake(false);
  ss.confirmed = false;
  ss.cancelWanted = false;
  ss.cancelCalled = false;
  ss.completedEarly = false;
  ss.lastActivityNs = n.now;
  if (n.trace.on) n.traceNdis(b, 'selective suspend: back in D0', { held: ss.held.length });
  if (ss.phase === 'monitoring') arm(n, ss);
  queueRelease(n, b, ss);
  if (ss.settleWanted) n.kick(b);
}

/** The held requests go down: OIDs through the OID worker, sends from NDIS's worker. */
function queueRelease(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  if (b.oidQueue.length > 0) kickOids(n, b);
  if (ss.held.length === 0 || ss.releaseQueued) return;
  ss.releaseQueued = true;
  n.kernel.queueWork(ss.work);
}

function releaseHeld(n: Ndis, ss: AdapterSs): void {
  const held = ss.held.splice(0);
  for (const h of held) protocolSend(n, h.bd, h.chain, h.port, h.flags);
}

/**
 * A power OID of selective suspend failed after a surprise removal (R5.7): NDIS drops the
 * power change. Powering down, the device stays in D0 and the notification waits for its
 * cancel and completion as if suspended; powering up, the notification is over.
 */
function gone(n: Ndis, b: MiniportBlock, ss: AdapterSs): void {
  if (n.trace.on)
    n.traceNdis(b, 'selective suspend: power change dropped, device removed', { phase: ss.phase });
  if (ss.phase === 'resuming') {
    ss.device = NdisDeviceStateD0;
    backToD0(n, b, ss);
    return;
  }
  ss.phase = 'suspended';
  if (!ss.outstanding) backToD0(n, b, ss);
  else if (ss.cancelWanted) n.kernel.queueWork(ss.work);
}

/** R5.8: a power OID of selective suspend failed: NDIS stops using it; the device is failed. */
function failed(n: Ndis, b: MiniportBlock, ss: AdapterSs, why: string, dump: LiveDumpReason | null): void {
  ss.phase = 'off';
  ss.outstanding = false;
  n.kernel.cancelTimer(ss.timer);
  endCancelWatchdog(ss);
  queueRelease(n, b, ss);
  markDeviceFailed(n, b, why, dump);
  if (ss.settleWanted) n.kick(b);
}

/**
 * bug-check-0x7c: a MiniportIdleNotification (0x25, NDIS_BUGCHECK_WATCHDOG_MINIPORT_IDLE)
 * or MiniportCancelIdleNotification (0x26, NDIS_BUGCHECK_WATCHDOG_CANCEL_IDLE) blocked
 * past `ndis.idleWatchdogNs` from its call, found by the frame check of the blocked
 * thread (Ndis.checkCallbackWatchdog). Returns when the limit falls due.
 */
export function idleCallbackOverdueAt(n: Ndis, fn: string, b: MiniportBlock, startNs: number): number {
  const limit = n.options.idleWatchdogNs;
  if (n.now - startNs < limit) return startNs + limit;
  const cancel = fn === 'MiniportCancelIdleNotification';
  n.verifier.fatal(
    cancel ? 'NdisSim_CancelIdleWatchdog' : 'NdisSim_IdleWatchdog',
    fn,
    b.name,
    `${fn} of ${b.name} has not returned after ${limit / 1_000_000_000} s`,
    ['NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
  );
}
