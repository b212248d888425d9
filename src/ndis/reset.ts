// Check-for-hang and reset (04-hang-reset.md): NDIS's periodic tick, the calls to
// MiniportCheckForHangEx and MiniportResetEx, and the RESET_START/RESET_END
// indications around a reset.

import { Irql, KTimer, type TimerRoutine, WorkItem, type WorkRoutine } from '../kernel/kernel.ts';
import { ns } from '../sim/limits.ts';
import { statusText } from '../verifier/bugcheck.ts';
import type { Binding } from './binding.ts';
import type { MiniportBlock } from './block.ts';
import { FilterModule } from './filter.ts';
import { statusIntoFilters } from './filter-oid.ts';
import {
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_STATUS_HARD_ERRORS,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WOL_PATTERN_REJECTED,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SOFT_ERRORS,
  NDIS_STATUS_SUCCESS,
} from './generated/status.ts';
import { isAsync, type Ndis, returnedText } from './ndis.ts';
import { kickOids, oidTimedOut, replayAddressing } from './oid.ts';
import { inLowPower } from './power.ts';
import { SituationKind, situationCode } from './situations.ts';
import { ssUnderWay } from './ss.ts';
import type { NDIS_STATUS_INDICATION } from './types.ts';

/** R4.2: the period NDIS uses for a CheckForHangTimeInSeconds value. */
export function checkForHangPeriodNs(seconds: number): number {
  const s = seconds <= 0 ? 2 : Math.max(2, Math.floor(seconds / 2) * 2);
  return s * ns.s;
}

/** The tick: a coalescable periodic timer whose DPC queues a work item (R4.3). */
class HangTick implements TimerRoutine, WorkRoutine {
  readonly timer: KTimer;
  readonly work: WorkItem;
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
  ) {
    this.timer = new KTimer(this, 'ndis', true);
    this.work = new WorkItem(this, 'ndis');
  }
  runTimer(): void {
    this.ndis.kernel.queueWork(this.work);
  }
  runWork(): void {
    if (this.block.hangTimer !== this.timer) return; // cancelled meanwhile
    checkForHang(this.ndis, this.block);
  }
}

/**
 * Starts the tick once registration attributes are known (R4.2, R4.3). It runs for
 * every driver NDIS could reset: the OID time-out of R4.5 needs no check-for-hang
 * handler, only a reset handler (which a check-for-hang handler implies, R4.1).
 */
export function startHangTimer(n: Ndis, b: MiniportBlock): void {
  if (!b.driver.chars.ResetHandlerEx || b.hangTimer !== null || b.registration === null) return;
  const period = checkForHangPeriodNs(b.registration.CheckForHangTimeInSeconds ?? 0);
  const tick = new HangTick(n, b);
  b.hangTimer = tick.timer;
  n.kernel.setTimer(tick.timer, n.now + period, period);
}

export function cancelHangTimer(n: Ndis, b: MiniportBlock): void {
  if (b.hangTimer === null) return;
  n.kernel.cancelTimer(b.hangTimer);
  b.hangTimer = null;
}

function checkForHang(n: Ndis, b: MiniportBlock): void {
  // R4.3: ticks go on while Paused, stop once halting starts; none during a reset.
  if (b.halting || b.state === 'Halted' || b.state === 'Shutdown' || b.resetInProgress) return;
  // R4.5: a request pending over two (or four) ticks is a hang too.
  if (oidTimedOut(b)) {
    b.hangsReported++;
    startReset(n, b, 'OID request time-out');
    return;
  }
  const handler = b.driver.chars.CheckForHangHandlerEx;
  if (!handler) return;
  const f = n.enter(b, b.driver.name, 'MiniportCheckForHangEx', Irql.Passive);
  let hung: boolean;
  try {
    hung = handler(b.context);
  } catch (e) {
    n.driverThrew(e, 'MiniportCheckForHangEx', b);
  }
  n.leave(f, hung);
  if (hung === true) {
    b.hangsReported++;
    // R4.3 and R4.11 disagree here: the check-for-hang page says a TRUE before
    // MiniportInitializeEx returns brings MiniportResetEx, in the middle of the init;
    // ndis.sys starts no reset while Initializing, and neither does the model. A driver
    // that answers TRUE there is one Windows release away from that reset.
    if (b.state === 'Initializing' && !b.warnedHangInInit) {
      b.warnedHangInInit = true;
      n.verifier.warn(
        'R4.3',
        'MiniportCheckForHangEx',
        b.name,
        'MiniportCheckForHangEx answered TRUE before MiniportInitializeEx returned; the docs say NDIS may then call MiniportResetEx during the init, so answer FALSE until it is done',
      );
    }
    startReset(n, b, 'MiniportCheckForHangEx');
  }
}

/** NdisMResetMiniport: MiniportResetEx follows from an NDIS work item (R4.6). */
class ResetRequest implements WorkRoutine {
  readonly item: WorkItem;
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
  ) {
    this.item = new WorkItem(this, 'ndis');
  }
  runWork(): void {
    startReset(this.ndis, this.block, 'NdisMResetMiniport');
  }
}

export function requestReset(n: Ndis, b: MiniportBlock): void {
  if (b.resetRequest === null) b.resetRequest = new ResetRequest(n, b).item;
  n.kernel.queueWork(b.resetRequest);
}

/** R4.7 steps 1–6. Returns false when R4.11 forbids a reset now. */
export function startReset(n: Ndis, b: MiniportBlock, cause: string): boolean {
  // R5.1: no reset starts once a query-remove succeeded, nor after the remove that
  // follows it (a remove after a surprise removal is the option below's business).
  const pnpBlocks =
    b.pnpState === 'QueryStopped' ||
    b.pnpState === 'Stopped' ||
    b.pnpState === 'QueryRemoved' ||
    (b.pnpState === 'Removed' && !b.surpriseRemoved);
  const stateBlocks = b.state === 'Halted' || b.state === 'Initializing' || b.state === 'Shutdown';
  // R4.11 (option resetsAfterSurpriseRemoval): nothing documented blocks a reset once
  // the surprise removal was notified, until halting begins.
  const removalBlocks = b.surpriseRemoved && !n.options.resetsAfterSurpriseRemoval;
  // R4.11: none in low power (a system sleep, power.ts; selective suspend, ss.ts, from
  // the idle notification to the return to D0). Read as broadly for a system sleep as
  // for selective suspend: none from the D3 IRP's arrival on either, though the device
  // is still in D0 (a power OID the miniport never completes is no R4.5 time-out reset
  // in the middle of the transition; the power IRP's and NDIS's OID watchdogs judge it).
  const sleeping = b.op !== null && b.op.kind === 'sleep';
  if (
    b.resetInProgress ||
    b.halting ||
    pnpBlocks ||
    stateBlocks ||
    removalBlocks ||
    inLowPower(b) ||
    sleeping ||
    ssUnderWay(b) ||
    !b.driver.chars.ResetHandlerEx
  ) {
    if (n.trace.on) n.traceNdis(b, 'reset not started (R4.11)', { cause });
    return false;
  }
  // Before the flag: the situation is what the reset came into.
  if (n.situationsOn) n.noteSituation(situationCode(SituationKind.Reset, b));
  b.resetInProgress = true;
  b.resets++;
  if (n.trace.on) n.traceNdis(b, 'reset begins', { cause });
  indicateToProtocols(n, b, NDIS_STATUS_RESET_START, null);
  b.reset = { returned: false, sinceNs: n.now };
  const handler = b.driver.chars.ResetHandlerEx;
  b.resetStallUs = 0;
  const f = n.enter(b, b.driver.name, 'MiniportResetEx', n.lowOrDispatch());
  let r: { Status: number; AddressingReset: boolean };
  try {
    r = handler(b.context);
  } catch (e) {
    n.driverThrew(e, 'MiniportResetEx', b);
  }
  n.leave(f, r);
  // R8.1: MiniportResetEx answers { Status, AddressingReset } (the NDIS_STATUS and its
  // out parameter). Anything else (undefined, a bare status, a Promise, which leave has
  // reported) is reported, and read as a reset that failed (HARD_ERRORS, R4.9).
  if (typeof r !== 'object' || r === null || typeof r.Status !== 'number') {
    if (!isAsync(r))
      n.verifier.report(
        'NdisSim_CallbackReturnValue',
        'MiniportResetEx',
        b.name,
        `MiniportResetEx returned ${typeof r === 'object' && r !== null ? resetStatusText((r as { Status?: unknown }).Status) : returnedText(r, 'object')}; it answers { Status, AddressingReset }, the NDIS_STATUS of MINIPORT_RESET and its out parameter`,
      );
    r = { Status: NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
  }
  const pending = b.reset;
  if (pending === null) {
    // NdisMResetComplete ran inside MiniportResetEx: the return must be PENDING (R3.10).
    // A final status is itself the completion, so the reset was completed twice.
    if (r.Status !== NDIS_STATUS_PENDING) {
      n.verifier.report(
        'NdisSim_ResetDoubleComplete',
        'MiniportResetEx',
        b.name,
        `MiniportResetEx called NdisMResetComplete and then returned ${statusText(r.Status)}: a final status is the completion, so the reset was completed twice (R3.10, R4.15)`,
        [`${b.name} miniport block`, r.Status, r.AddressingReset ? 1 : 0],
      );
    }
    return true;
  }
  if (r.Status === NDIS_STATUS_PENDING) {
    pending.returned = true;
    return true;
  }
  completeReset(n, b, r.Status, r.AddressingReset, 'MiniportResetEx');
  return true;
}

/** What MiniportResetEx's answer held as its Status, when that was no number. */
function resetStatusText(v: unknown): string {
  return v === undefined ? 'an object with no Status' : `an object whose Status is ${returnedText(v)}`;
}

const resetResults = new Set([
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_SOFT_ERRORS,
  NDIS_STATUS_HARD_ERRORS,
]);

/** R4.7 step 7: the reset is complete; the send path returns and protocols hear RESET_END. */
export function completeReset(
  n: Ndis,
  b: MiniportBlock,
  status: number,
  addressingReset: boolean,
  via: string,
): void {
  // R4.9: MiniportResetEx returns one of its documented results; NdisMResetComplete
  // takes any final status (S-d completes an abandoned reset with a failure), never PENDING.
  const bad = via === 'MiniportResetEx' ? !resetResults.has(status) : status === NDIS_STATUS_PENDING;
  if (bad) {
    n.verifier.report(
      'NdisSim_ResetReturn',
      via,
      b.name,
      `${via}: ${statusText(status)} is not a reset result (R4.9, R4.15)`,
    );
  }
  b.reset = null;
  b.lastResetCompletion = { via, timeNs: n.now };
  // R4.12: from NDIS 6.30 the driver completes pending requests and sends before the reset completes.
  if (b.driver.ndisVersion >= 630 && (b.oid !== null || b.sendsOutstanding > 0 || b.directOids.length > 0)) {
    const what: string[] = [];
    if (b.oid !== null) what.push('an OID request');
    if (b.directOids.length > 0) what.push(`${b.directOids.length} direct OID request(s)`);
    if (b.sendsOutstanding > 0) what.push(`${b.sendsOutstanding} send(s)`);
    n.verifier.report(
      'NdisSim_ResetWithPendingWork',
      via,
      b.name,
      `the reset completed with ${what.join(' and ')} still pending (R4.12)`,
    );
  }
  if (status === NDIS_STATUS_SUCCESS && addressingReset) {
    // R4.10: NDIS sets the packet filter and multicast list again before RESET_END.
    if (n.trace.on)
      n.traceNdis(b, 'AddressingReset: NDIS restores packet filter and multicast list (R4.10)', {});
    replayAddressing(n, b, () => endReset(n, b, status));
    return;
  }
  endReset(n, b, status);
}

function endReset(n: Ndis, b: MiniportBlock, status: number): void {
  b.resetInProgress = false;
  if (n.trace.on) n.traceNdis(b, 'reset complete', { status });
  indicateToProtocols(n, b, NDIS_STATUS_RESET_END, status);
  // Requests held back during the reset go down now; a halt may be waiting (R2.9).
  if (b.oidQueue.length > 0) kickOids(n, b);
  if (b.op !== null) n.kick(b);
}

/**
 * Delivers a status indication to the bound protocols (R4.7, R4.8, R6.16): NDIS's own
 * (no `from`), or the miniport's `from`, whose port, request and buffer size pass on.
 * `to`: only that binding (a DestinationHandle); a filter module (a DestinationHandle
 * naming a module's request: its FilterStatus only); null, none of them (an answer to
 * a request NDIS issued itself); undefined, every one. With filter modules that have
 * FilterStatus, the lowest of them gets it first (filter-oid.ts).
 */
export function indicateToProtocols(
  n: Ndis,
  b: MiniportBlock,
  code: number,
  payload: unknown,
  from: NDIS_STATUS_INDICATION | null = null,
  to?: Binding | FilterModule | null,
): void {
  if (b.filters.length !== 0 && (to === undefined || to instanceof FilterModule)) {
    if (statusIntoFilters(n, b, code, payload, from, to)) return;
  }
  deliverToBindings(n, b, code, payload, from, to as Binding | null | undefined);
}

/** The NDIS_STATUS_INDICATION NDIS hands up: NDIS's own (no `from`), or a copy of `from`. */
export function statusIndication(
  b: MiniportBlock,
  code: number,
  payload: unknown,
  from: NDIS_STATUS_INDICATION | null,
): NDIS_STATUS_INDICATION {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: 1 },
    SourceHandle: from?.SourceHandle ?? b,
    PortNumber: from?.PortNumber ?? 0,
    StatusCode: code,
    Flags: 0,
    DestinationHandle: from?.DestinationHandle ?? null,
    RequestId: from?.RequestId ?? null,
    StatusBuffer: payload,
    // RESET_END carries the reset's NDIS_STATUS, PM_WOL_PATTERN_REJECTED a PatternId: ULONGs.
    StatusBufferSize:
      from?.StatusBufferSize ??
      (code === NDIS_STATUS_RESET_END || code === NDIS_STATUS_PM_WOL_PATTERN_REJECTED ? 4 : 0),
  };
}

/** ProtocolStatusEx of the bindings `to` selects (see indicateToProtocols). */
export function deliverToBindings(
  n: Ndis,
  b: MiniportBlock,
  code: number,
  payload: unknown,
  from: NDIS_STATUS_INDICATION | null,
  to: Binding | null | undefined,
): void {
  for (const bd of b.bindings) {
    if (to !== undefined && bd !== to) continue;
    if (!hearsStatus(bd, code)) continue;
    const f = n.enter(
      b,
      bd.protocol.name,
      'ProtocolStatusEx',
      n.kernel.ctx.irql,
      to === undefined ? { StatusCode: code } : { StatusCode: code, RequestId: String(from?.RequestId) },
    );
    f.binding = bd;
    f.statusCode = code;
    // From RESET_START's call to RESET_END's, the protocol makes no calls on the binding
    // but returns (R4.8, resetCallByProtocol); inside RESET_END's call it may again.
    if (code === NDIS_STATUS_RESET_START) {
      bd.inReset = true;
      bd.resetCallWarned = false;
    } else if (code === NDIS_STATUS_RESET_END) bd.inReset = false;
    let returned: unknown;
    try {
      returned = bd.protocol.ProtocolStatusEx(bd, statusIndication(b, code, payload, from));
    } catch (e) {
      n.driverThrew(e, 'ProtocolStatusEx', b);
    }
    n.leaveVoid(f, returned);
  }
}

/**
 * R4.8 (ndis-status-reset-start, nc-ndis-protocol_status_ex): between RESET_START and
 * RESET_END a protocol holds its sends and makes no call on the binding that goes to
 * the miniport but returning NBLs; NDIS does not take its sends or OID requests then.
 * Windows does not check it; the model holds such a request and completes such sends
 * (R4.7), and warns once per reset of the binding.
 */
export function resetCallByProtocol(n: Ndis, bd: Binding, ddi: string): void {
  if (bd.resetCallWarned) return;
  bd.resetCallWarned = true;
  n.verifier.warn(
    'R4.8',
    ddi,
    bd.block.name,
    `${bd.protocol.name} called ${ddi} on ${bd.block.name} after RESET_START and before RESET_END: a protocol holds its sends and makes no calls to the miniport but returning NBLs until RESET_END (ndis-status-reset-start)`,
  );
}

/**
 * Whether ProtocolStatusEx of `bd` gets an indication of `code`: not before its bind has
 * completed (Opening) nor after it ended (Unbound); and a binding whose unbind is under
 * way (Closing) gets only the RESET_END of a reset whose RESET_START it heard, while it
 * has not closed its open (R4.8: the protocol holds its sends from RESET_START to
 * RESET_END; S-d step 4: RESET_END reaches it when the reset completes, then it is
 * unbound; the NdisCloseAdapterEx page: the binding handle is invalid from that call).
 * Other indications skip a Closing binding (docs/decisions.md).
 */
function hearsStatus(bd: Binding, code: number): boolean {
  if (bd.state !== 'Closing') return bd.state !== 'Unbound' && bd.state !== 'Opening';
  return code === NDIS_STATUS_RESET_END && bd.inReset && (bd.open === null || bd.open.state === 'opened');
}
