// OID requests through NDIS (R6.1–R6.6, R4.5, R4.10, R4.12): one regular request
// in the miniport at a time per adapter; PENDING and NdisMOidRequestComplete; the
// request's own Timeout (→ MiniportCancelOidRequest); the check-for-hang time-out
// (→ reset); the addressing OIDs NDIS replays after an AddressingReset.

import { Irql, WorkItem, type WorkRoutine } from '../kernel/kernel.ts';
import { fmtTime } from '../report/format.ts';
import { ChoiceSite } from '../sim/choice.ts';
import type { EventTarget, SimEvent } from '../sim/queue.ts';
import { type BugCheckParam, statusText } from '../verifier/bugcheck.ts';
import type { Binding } from './binding.ts';
import { type MiniportBlock, removeFrom } from './block.ts';
import type { FilterModule } from './filter.ts';
import {
  cancelAtFilter,
  filterOidComplete,
  filterOidState,
  oidModuleBelow,
  queueAtFilter,
} from './filter-oid.ts';
import {
  MediaConnectStateConnected,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OID_REQUEST_REVISION_1,
  NDIS_REQUEST_TYPE_NAMES,
  NDIS_SIZEOF_STATISTICS_INFO_REVISION_1,
  NDIS_STATUS_ADAPTER_NOT_READY,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisMediaStateConnected,
  NdisMediaStateDisconnected,
  NdisRequestMethod,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  OID_802_3_CURRENT_ADDRESS,
  OID_802_3_MULTICAST_LIST,
  OID_802_3_PERMANENT_ADDRESS,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_DRIVER_VERSION,
  OID_GEN_ENUMERATE_PORTS,
  OID_GEN_MAC_OPTIONS,
  OID_GEN_MAXIMUM_FRAME_SIZE,
  OID_GEN_MAXIMUM_LOOKAHEAD,
  OID_GEN_MEDIA_CONNECT_STATUS,
  OID_GEN_MEDIA_IN_USE,
  OID_GEN_MEDIA_SUPPORTED,
  OID_GEN_STATISTICS,
  OID_GEN_SUPPORTED_LIST,
  OID_PM_PARAMETERS,
  OID_PM_WOL_PATTERN_LIST,
  OID_PNP_QUERY_POWER,
  OID_PNP_SET_POWER,
  OID_NAMES as oidNames,
} from './generated/status.ts';
import type { Ndis } from './ndis.ts';
import { enumeratePorts } from './ports.ts';
import { pmParametersByNdis } from './power.ts';
import { checkOidFinalStatus } from './power-rules.ts';
import { resetCallByProtocol } from './reset.ts';
import { ssOidActivity, ssUnderWay } from './ss.ts';
import type {
  NDIS_OID,
  NDIS_OID_METHOD_INFORMATION,
  NDIS_OID_QUERY_INFORMATION,
  NDIS_OID_REQUEST,
  NDIS_OID_REQUEST_DATA,
  NDIS_OID_SET_INFORMATION,
  UINT,
} from './types.ts';
import { evictForAdd, wolPatternByNdis, wolPatternCompleted, wolPatternList, wolTraceData } from './wol.ts';

/**
 * One storage behind the names of the `DATA` union. In C, QUERY_INFORMATION and
 * SET_INFORMATION overlay: Oid, InformationBuffer, InformationBufferLength and
 * BytesNeeded sit at the same offsets in both, and a query's BytesWritten shares its
 * slot with a set's BytesRead. So here both views are this object. METHOD_INFORMATION
 * is a view of its own (OidMethodView) over the same Oid, InformationBuffer and
 * length. A request's own DATA (OidRequestData) and a clone's (CloneOidRequestData)
 * differ only in where the buffer lives.
 */
abstract class OidDataViews
  implements NDIS_OID_REQUEST_DATA, NDIS_OID_QUERY_INFORMATION, NDIS_OID_SET_INFORMATION
{
  abstract Oid: NDIS_OID;
  abstract InformationBuffer: unknown;
  abstract InformationBufferLength: UINT;
  BytesWritten = 0;
  BytesNeeded = 0;
  private method: OidMethodView | null = null;
  get BytesRead(): UINT {
    return this.BytesWritten;
  }
  set BytesRead(v: UINT) {
    this.BytesWritten = v;
  }
  get QUERY_INFORMATION(): NDIS_OID_QUERY_INFORMATION {
    return this;
  }
  get SET_INFORMATION(): NDIS_OID_SET_INFORMATION {
    return this;
  }
  get METHOD_INFORMATION(): NDIS_OID_METHOD_INFORMATION {
    if (this.method === null) this.method = new OidMethodView(this);
    return this.method;
  }
}

/**
 * `DATA.METHOD_INFORMATION` (ns-oidrequest-ndis_oid_request). Oid, InformationBuffer
 * and InputBufferLength are the DATA's Oid, InformationBuffer and
 * InformationBufferLength, as in C, where they share those slots. OutputBufferLength,
 * MethodId and the three counts are kept here: C overlays the first two on the other
 * views' counts, which the model does not reproduce (NDIS_OID_REQUEST_DATA in
 * types.ts). All start at 0, as after NdisZeroMemory.
 */
class OidMethodView implements NDIS_OID_METHOD_INFORMATION {
  OutputBufferLength = 0;
  MethodId = 0;
  BytesWritten = 0;
  BytesRead = 0;
  BytesNeeded = 0;
  constructor(private readonly data: OidDataViews) {}
  get Oid(): NDIS_OID {
    return this.data.Oid;
  }
  set Oid(v: NDIS_OID) {
    this.data.Oid = v;
  }
  get InformationBuffer(): unknown {
    return this.data.InformationBuffer;
  }
  set InformationBuffer(v: unknown) {
    this.data.InformationBuffer = v;
  }
  get InputBufferLength(): UINT {
    return this.data.InformationBufferLength;
  }
  set InputBufferLength(v: UINT) {
    this.data.InformationBufferLength = v;
  }
}

class OidRequestData extends OidDataViews {
  constructor(
    public Oid: NDIS_OID,
    public InformationBuffer: unknown,
    public InformationBufferLength: UINT,
  ) {
    super();
  }
}

/**
 * The `DATA` of a clone from NdisAllocateCloneOidRequest. In C the clone's DATA copies
 * the original's InformationBuffer pointer, so whoever writes the answer below writes it
 * into the originator's buffer. The model's buffer is a value a handler may replace, so
 * the clone's InformationBuffer and InformationBufferLength are the original's: reading
 * or writing them here reads or writes the original's DATA. The Oid and the counts
 * (BytesWritten/BytesRead, BytesNeeded) are the clone's own: the filter copies them back
 * when the clone completes.
 */
class CloneOidRequestData extends OidDataViews {
  constructor(
    public Oid: NDIS_OID,
    private readonly original: NDIS_OID_REQUEST,
  ) {
    super();
  }
  get InformationBuffer(): unknown {
    return this.original.DATA.QUERY_INFORMATION.InformationBuffer;
  }
  set InformationBuffer(v: unknown) {
    this.original.DATA.QUERY_INFORMATION.InformationBuffer = v;
  }
  get InformationBufferLength(): UINT {
    return this.original.DATA.QUERY_INFORMATION.InformationBufferLength;
  }
  set InformationBufferLength(v: UINT) {
    this.original.DATA.QUERY_INFORMATION.InformationBufferLength = v;
  }
}

/** The DATA of a clone of `original` (NdisAllocateCloneOidRequest): its buffer is the original's. */
export function cloneOidRequestData(original: NDIS_OID_REQUEST): NDIS_OID_REQUEST_DATA {
  const d = original.DATA.QUERY_INFORMATION;
  const c = new CloneOidRequestData(original.DATA.Oid, original);
  c.BytesWritten = d.BytesWritten;
  c.BytesNeeded = d.BytesNeeded;
  // The clone copies the whole DATA, so a method request's parameters and counts too.
  const m = original.DATA.METHOD_INFORMATION;
  const cm = c.METHOD_INFORMATION;
  cm.OutputBufferLength = m.OutputBufferLength;
  cm.MethodId = m.MethodId;
  cm.BytesWritten = m.BytesWritten;
  cm.BytesRead = m.BytesRead;
  cm.BytesNeeded = m.BytesNeeded;
  return c;
}

/**
 * The `DATA` member of an NDIS_OID_REQUEST you build: the OID, the buffer (the value to
 * set, or what a query starts with) and its length in bytes; BytesWritten, BytesRead
 * and BytesNeeded start at 0, as after NdisZeroMemory.
 */
export function oidRequestData(
  Oid: NDIS_OID,
  InformationBuffer: unknown = null,
  InformationBufferLength: UINT = 0,
): NDIS_OID_REQUEST_DATA {
  return new OidRequestData(Oid, InformationBuffer, InformationBufferLength);
}

/**
 * Parameters 2–4 of Driver Verifier's NDIS rule codes (0xC4/0x0009xxxx; status.json):
 * a pointer to a string naming the broken condition, then the rule state and the
 * supplemental state that !ruleinfo takes. The model has no addresses, so symbolic
 * stand-ins: the condition itself, and the adapter's rule state.
 */
export function ruleParams(condition: string, b: MiniportBlock): BugCheckParam[] {
  return [condition, `${b.name} rule state`, `${b.name} supplemental state`];
}

/** Who issued a request: a protocol binding, a filter module (NdisFOidRequest), or NDIS itself. */
export type OidOrigin =
  | { kind: 'binding'; binding: Binding }
  | { kind: 'filter'; module: FilterModule }
  /** NDIS's own request; `restore`: an addressing setting put back after a reset (R4.10). */
  | {
      kind: 'ndis';
      restore: boolean;
      done: (status: number) => void;
      /** A power OID NDIS issues (system sleep, selective suspend): no I/O activity, never held. */
      power?: boolean;
    };

/**
 * Whether NDIS's WoL pattern bookkeeping (wol.ts) sees a request of this origin: one from
 * above (a binding, a filter module, an application's through NDIS: a scenario's), not
 * NDIS's own power or restore requests.
 */
function wolPatternsApply(o: OidOrigin): boolean {
  return !(o.kind === 'ndis' && (o.power === true || o.restore));
}

export class OidRecord {
  state: 'queued' | 'in-miniport' | 'pending' | 'done' = 'queued';
  /** How it finished: MiniportOidRequest's return value, or NdisMOidRequestComplete. */
  via: 'return' | 'complete' | null = null;
  /** Check-for-hang ticks that found it pending (R4.5). */
  strikes = 0;
  timeout: SimEvent | null = null;
  verifierTimer: SimEvent | null = null;
  /** NDIS's watchdog over the pended request (0x7C/0x25/0x23), armed at the PENDING return. */
  watchdog: SimEvent | null = null;
  issuedNs = 0;
  /** When MiniportOidRequest was called: Driver Verifier's 12 s run from here (R6.6). */
  dispatchedNs = 0;
  /** When MiniportOidRequest returned PENDING (-1: it has not): a watchdog's "Pended by". */
  pendedNs = -1;
  /** NdisTimedOidComplete was reported for it (while the handler blocked, or later). */
  overdue = false;
  /** An OID_PM_ADD_WOL_PATTERN: the patterns NDIS removed to make room for it (wol.ts). */
  wolEvictions = 0;
  /**
   * NDIS passed it down inside the requester's call (ChoiceSite.OidCallDown): while true, a
   * final status MiniportOidRequest returns goes back as that call's status (`syncStatus`)
   * instead of to the requester's completion handler.
   */
  inline = false;
  syncStatus: number | null = null;
  constructor(
    readonly block: MiniportBlock,
    readonly request: NDIS_OID_REQUEST,
    readonly origin: OidOrigin,
  ) {}
}

/** OIDs that get four check-for-hang periods instead of two (R4.5). */
const slowOids = new Set<number>([OID_PNP_SET_POWER, OID_PNP_QUERY_POWER]);

class OidPump implements WorkRoutine {
  readonly item: WorkItem;
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
  ) {
    this.item = new WorkItem(this, 'ndis');
  }
  runWork(): void {
    dispatch(this.ndis, this.block);
  }
}

const TimerOp = { RequestTimeout: 0, VerifierLimit: 1, Watchdog: 2 } as const;

/**
 * Timeouts of requests (their own Timeout field, Driver Verifier's 12 s, and NDIS's
 * watchdog). All three are armed only when MiniportOidRequest returns PENDING and
 * cancelled by the completion (finish), so a request completed at once costs nothing.
 */
export class OidTimers implements EventTarget {
  constructor(readonly ndis: Ndis) {}
  fire(op: number, arg: unknown): void {
    const r = arg as OidRecord;
    const b = r.block;
    if (r.state !== 'pending') return;
    const k = this.ndis.kernel;
    if (op === TimerOp.Watchdog) {
      r.watchdog = null;
      // Driver Verifier's 12 s falling due at the same instant is reported first (R6.6),
      // from its own time: the watchdog never hides it (docs/decisions.md).
      if (!r.overdue && this.ndis.now >= r.dispatchedNs + oidVerifierLimitNs) {
        const c = k.enter(k.pickCpu(), Irql.Passive, 'ndis', 'worker');
        try {
          reportOverdue(this.ndis, r);
        } finally {
          k.exit(c);
        }
      }
      oidWatchdogFires(this.ndis, r, false);
      return;
    }
    const c = k.enter(k.pickCpu(), Irql.Passive, 'ndis', 'worker');
    try {
      if (op === TimerOp.RequestTimeout) {
        r.timeout = null;
        cancelInMiniport(this.ndis, b, r);
      } else {
        r.verifierTimer = null;
        if (!r.overdue) reportOverdue(this.ndis, r);
      }
    } finally {
      k.exit(c);
    }
  }
}

/**
 * NDIS's watchdog over a miniport OID request (R6.6; bug-check-0x7c, parameter 2 0x23
 * NDIS_BUGCHECK_WATCHDOG_MINIPORT_OID, parameter 4 the OID): `ndis.oidWatchdogNs` after
 * MiniportOidRequest returned NDIS_STATUS_PENDING with no NdisMOidRequestComplete
 * (`blocked` false: from the timer's DPC), or after its call while it still blocks
 * (`blocked`: from the frame check of the blocked thread). Fatal in every mode.
 */
function oidWatchdogFires(n: Ndis, r: OidRecord, blocked: boolean): void {
  const limit = n.options.oidWatchdogNs / 1_000_000_000;
  const oid = r.request.DATA.Oid;
  const params: BugCheckParam[] = ['NDIS_WATCHDOG_TRIAGE_BLOCK', oid];
  if (blocked) {
    n.verifier.fatal(
      'NdisSim_MiniportOidWatchdog',
      'MiniportOidRequest',
      r.block.name,
      `MiniportOidRequest of ${r.block.name} for ${oidText(oid)} has not returned after ${limit} s (R6.6)`,
      params,
    );
  }
  n.reportInDpc(
    'ndis',
    'NdisSim_MiniportOidWatchdog',
    'MiniportOidRequest',
    r.block.name,
    `MiniportOidRequest of ${r.block.name} pended ${oidText(oid)} at ${fmtTime(r.pendedNs)} and NdisMOidRequestComplete did not follow within ${limit} s (R6.6)`,
    params,
    pendedBy(r),
  );
}

/**
 * Who the request came from, for a report: `a request of tcpip`, `a request of the
 * filter module lwf-x`, NDIS's own (a restore, a power request), or `a request through
 * NDIS` (an application's, the scenario's `oid` action).
 */
export function requesterText(o: OidOrigin): string {
  return o.kind === 'binding'
    ? `a request of ${o.binding.protocol.name}`
    : o.kind === 'filter'
      ? `a request of the filter module ${o.module.name}`
      : o.restore
        ? "NDIS's own request (a setting put back after a reset)"
        : o.power === true
          ? "NDIS's own power request"
          : 'a request through NDIS';
}

/** The "Pended by" line of a request MiniportOidRequest pended (R6.6). */
function pendedBy(r: OidRecord): { label: string; at: string } {
  return {
    label: 'Pended by',
    at: `MiniportOidRequest at ${fmtTime(r.pendedNs)} (${oidName(r.request.DATA.Oid)}, ${requesterText(r.origin)})`,
  };
}

/** Driver Verifier's time for an OID request: 12 s from the call of MiniportOidRequest (R6.6). */
export const oidVerifierLimitNs = 12_000_000_000;

function reportOverdue(n: Ndis, r: OidRecord): void {
  r.overdue = true;
  n.verifier.report(
    'NdisTimedOidComplete',
    'MiniportOidRequest',
    r.block.name,
    `${oidText(r.request.DATA.Oid)} not completed within 12 s (R6.6)${r.state === 'pending' ? `: MiniportOidRequest pended it at ${fmtTime(r.pendedNs)}` : ''}`,
    ruleParams('an OID request is not completed within 12 s', r.block),
    undefined,
    r.state === 'pending' ? pendedBy(r) : undefined,
  );
}

/**
 * A MiniportOidRequest of `b` that blocks (NdisMSleep) while Driver Verifier's 12 s run
 * out is caught then, as its timer would catch it (R6.6). Returns when the request's
 * limit falls due, or +Infinity if it has none that can still fall due.
 */
export function oidOverdueAt(n: Ndis, b: MiniportBlock): number {
  const r = b.oid;
  if (r === null || r.state !== 'in-miniport') return Number.POSITIVE_INFINITY;
  const due = r.dispatchedNs + oidVerifierLimitNs;
  if (!r.overdue && n.now >= due) reportOverdue(n, r);
  // NDIS's watchdog (0x7C/0x25/0x23) times a blocked handler from its call, as the
  // halt and pause watchdogs do theirs; Driver Verifier's 12 s go first at a tie.
  const watchdogDue = r.dispatchedNs + n.options.oidWatchdogNs;
  if (n.now >= watchdogDue) oidWatchdogFires(n, r, true);
  return r.overdue ? watchdogDue : Math.min(due, watchdogDue);
}

/** A request enters NDIS's queue for the adapter; it reaches the miniport in order. */
export function submit(n: Ndis, b: MiniportBlock, request: NDIS_OID_REQUEST, origin: OidOrigin): number {
  if (b.state === 'Halted' || b.state === 'Initializing' || b.state === 'Shutdown' || b.handleDead) {
    return b.halting || b.handleDead ? NDIS_STATUS_CLOSING : NDIS_STATUS_ADAPTER_NOT_READY;
  }
  if (origin.kind === 'binding' && origin.binding.inReset)
    resetCallByProtocol(n, origin.binding, 'NdisOidRequest');
  // NDIS names the request's source, for a status indication that answers it (R6.16).
  request.RequestHandle =
    origin.kind === 'binding'
      ? origin.binding.requestHandle
      : origin.kind === 'filter'
        ? filterOidState(n, origin.module).requestHandle
        : b.ndisRequestHandle;
  if (request.RequestType === NdisRequestQueryInformation && answeredByNdis(request.DATA.Oid)) {
    const status = answerForMiniport(b, request, origin);
    if (n.trace.on)
      n.traceNdis(b, 'OID request answered by NDIS', {
        Oid: oidName(request.DATA.Oid),
        status,
        BytesWritten: request.DATA.QUERY_INFORMATION.BytesWritten,
        ...wolTraceData(request),
      });
    if (origin.kind === 'ndis') origin.done(status);
    return status;
  }
  // OID_PM_ADD_WOL_PATTERN and OID_PM_REMOVE_WOL_PATTERN from above: NDIS checks them and
  // gives an add its PatternId before the request goes down (wol.ts). The scenario's
  // requests are NDIS's on behalf of an application (its WMI GUIDs); NDIS's own power and
  // restore requests are neither.
  if (wolPatternsApply(origin)) {
    const from = origin.kind === 'binding' ? origin.binding : origin.kind === 'filter' ? origin.module : null;
    const wol = wolPatternByNdis(n, b, request, from);
    if (wol !== null) {
      if (origin.kind === 'ndis') origin.done(wol);
      return wol;
    }
  }
  // A protocol's or a module's request goes first to the next module below that has
  // FilterOidRequest (filter-oid.ts); NDIS's own requests go straight to the miniport.
  if (origin.kind !== 'ndis' && b.filters.length !== 0) {
    const m = oidModuleBelow(
      b,
      origin.kind === 'binding' ? b.filters.length : b.filters.indexOf(origin.module),
    );
    if (m !== null) return queueAtFilter(n, m, request, origin);
  }
  // oid-pm-parameters: an overlying driver's OID_PM_PARAMETERS stops at NDIS (power.ts).
  if (origin.kind !== 'ndis' && request.DATA.Oid === OID_PM_PARAMETERS)
    return pmParametersByNdis(n, b, request, origin.kind === 'binding' ? origin.binding : origin.module);
  // Selective suspend: a request NDIS does not answer itself is activity (ss.ts).
  if (b.ss !== null && !(origin.kind === 'ndis' && origin.power === true)) ssOidActivity(n, b);
  // A system sleep has the adapter in D3: the request waits for D0 (nextToDispatch).
  if (n.trace.on && heldInLowPower(b) && !(origin.kind === 'ndis' && origin.power === true))
    n.traceNdis(b, 'OID request held until D0', { Oid: oidName(request.DATA.Oid) });
  const r = new OidRecord(b, request, origin);
  r.issuedNs = n.now;
  const idle = b.oidQueue.length === 0;
  b.oidQueue.push(r);
  b.data.oidsRequested++;
  if (
    idle &&
    origin.kind !== 'ndis' &&
    !b.handleDead &&
    !b.halting &&
    nextToDispatch(b) === r &&
    callsDown(n)
  )
    return dispatchInline(n, b, r);
  pump(n, b);
  return NDIS_STATUS_PENDING;
}

/**
 * R6.2, the NdisFOidRequest and NdisOidRequest pages: with no other request ahead of it
 * at the driver below, NDIS may hand a request down inside the requester's call and
 * return the lower driver's final status from it, or queue it and return
 * NDIS_STATUS_PENDING. Which, the option `oidCallDown` says: `queued` (the default),
 * `inline`, or `explore` (ChoiceSite.OidCallDown; answer 0, the queue, is the simplest).
 * Only from PASSIVE_LEVEL: FilterOidRequest and MiniportOidRequest run at PASSIVE here.
 */
export function callsDown(n: Ndis): boolean {
  const how = n.options.oidCallDown;
  if (how === 'queued' || n.kernel.ctx.irql !== Irql.Passive) return false;
  return how === 'inline' || n.kernel.machine.choose(ChoiceSite.OidCallDown, 2) === 1;
}

/** `r`, the only request queued, goes to MiniportOidRequest now, inside the requester's call. */
function dispatchInline(n: Ndis, b: MiniportBlock, r: OidRecord): number {
  return callInline(r, () => dispatch(n, b));
}

/**
 * Hands request `r` to the driver below inside the requester's call (`down`): the final
 * status that driver's handler returned is the call's own (a completion inside the
 * handler, or PENDING, leaves it null: the call returns PENDING and the completion
 * handler runs). A miniport's OidRecord or a filter module's FilterOidRecord.
 */
export function callInline(r: { inline: boolean; syncStatus: number | null }, down: () => void): number {
  r.inline = true;
  try {
    down();
  } finally {
    r.inline = false;
  }
  return r.syncStatus ?? NDIS_STATUS_PENDING;
}

/**
 * A system sleep has the adapter in a low-power state and no teardown has taken it over:
 * only NDIS's OID_PNP_SET_POWER goes down. A failed device's teardown (a failed D0, a
 * removal in D3) lets the requests go, to be failed or completed as the halt demands.
 */
function heldInLowPower(b: MiniportBlock): boolean {
  return (
    b.power !== null &&
    b.power.device !== NdisDeviceStateD0 &&
    !b.deviceFailed &&
    (b.op === null || b.op.kind === 'sleep' || b.op.kind === 'wake')
  );
}

/** Queries an NDIS 6 miniport never receives: NDIS answers them from what it keeps. */
function answeredByNdis(oid: number): boolean {
  switch (oid) {
    case OID_GEN_SUPPORTED_LIST:
    case OID_GEN_MEDIA_CONNECT_STATUS:
    // The pages of these say NDIS answers them for NDIS 6 miniports from what the
    // miniport gave in its general attributes.
    case OID_GEN_MAXIMUM_FRAME_SIZE:
    case OID_GEN_MAXIMUM_LOOKAHEAD:
    case OID_GEN_MAC_OPTIONS:
    case OID_GEN_MEDIA_SUPPORTED:
    case OID_GEN_MEDIA_IN_USE:
    case OID_GEN_DRIVER_VERSION:
    // The OID_PM_WOL_PATTERN_LIST page: NDIS handles it from the patterns it keeps (wol.ts).
    case OID_PM_WOL_PATTERN_LIST:
    // The OID_GEN_ENUMERATE_PORTS page: NDIS handles it from its port table (ports.ts).
    case OID_GEN_ENUMERATE_PORTS:
      return true;
    default:
      return false;
  }
}

/**
 * NDIS's own answer (the OID_GEN_SUPPORTED_LIST and OID_GEN_MEDIA_CONNECT_STATUS pages):
 * the SupportedOidList of the general attributes, less the statistics OIDs for a
 * protocol, which never asks for statistics; the connect state of the last link
 * indication or of the attributes (not connected counts as disconnected). The other
 * OIDs NDIS answers from the general attributes (MtuSize, LookaheadSize, MacOptions,
 * MediaType) or the miniport's NDIS version.
 */
function answerForMiniport(b: MiniportBlock, request: NDIS_OID_REQUEST, origin: OidOrigin): number {
  const d = request.DATA.QUERY_INFORMATION;
  if (d.Oid === OID_PM_WOL_PATTERN_LIST) return wolPatternList(b, request);
  if (d.Oid === OID_GEN_ENUMERATE_PORTS) return enumeratePorts(b, request);
  let answer: unknown;
  let bytes: number;
  const g = b.general;
  if (d.Oid === OID_GEN_SUPPORTED_LIST) {
    const all = g?.SupportedOidList ?? [];
    // An OID's second byte is its class; 0x02 is statistics (OID_GEN_XMIT_OK 0x00020101).
    const list = origin.kind === 'binding' ? all.filter((o) => ((o >>> 16) & 0xff) !== 0x02) : [...all];
    answer = list;
    bytes = 4 * list.length;
  } else if (d.Oid === OID_GEN_DRIVER_VERSION) {
    // A USHORT: the NDIS version the miniport uses, major in the high byte.
    answer = (Math.floor(b.driver.ndisVersion / 100) << 8) | (b.driver.ndisVersion % 100);
    bytes = 2;
  } else if (d.Oid !== OID_GEN_MEDIA_CONNECT_STATUS) {
    answer =
      d.Oid === OID_GEN_MAXIMUM_FRAME_SIZE
        ? (g?.MtuSize ?? 0)
        : d.Oid === OID_GEN_MAXIMUM_LOOKAHEAD
          ? (g?.LookaheadSize ?? 0)
          : d.Oid === OID_GEN_MAC_OPTIONS
            ? (g?.MacOptions ?? 0)
            : (g?.MediaType ?? 0);
    bytes = 4;
  } else {
    answer =
      b.mediaConnectState === MediaConnectStateConnected
        ? NdisMediaStateConnected
        : NdisMediaStateDisconnected;
    bytes = 4;
  }
  if (d.InformationBufferLength < bytes) {
    d.BytesNeeded = bytes;
    return NDIS_STATUS_BUFFER_TOO_SHORT;
  }
  d.InformationBuffer = answer;
  d.BytesWritten = bytes;
  return NDIS_STATUS_SUCCESS;
}

/** Requests are waiting and may be able to go down now. */
export function kickOids(n: Ndis, b: MiniportBlock): void {
  pump(n, b);
}

function pump(n: Ndis, b: MiniportBlock): void {
  if (b.oidPump === null) b.oidPump = new OidPump(n, b).item;
  n.kernel.queueWork(b.oidPump);
}

/**
 * The request NDIS hands to the miniport next, or undefined: one at a time, in order
 * (R6.2, R6.5). During a reset NDIS forwards no new requests (R4.7) but its own
 * restore requests (R4.10), which pass the ones it holds.
 */
function nextToDispatch(b: MiniportBlock): OidRecord | undefined {
  if (b.oid !== null) return undefined;
  const state =
    b.state === 'Paused' || b.state === 'Restarting' || b.state === 'Running' || b.state === 'Pausing';
  if (!state) return undefined;
  // In low power only OID_PNP_SET_POWER reaches the adapter (the set-power page: "No
  // OID requests can be sent to the underlying miniport adapter while it is in a
  // low-power state"): NDIS holds the others until the adapter is back in D0.
  if (heldInLowPower(b)) {
    for (const r of b.oidQueue) if (r.origin.kind === 'ndis' && r.origin.power === true) return r;
    return undefined;
  }
  // Selective suspend: while an idle notification is outstanding only NDIS's power OIDs go down.
  if (b.ss !== null && ssUnderWay(b)) {
    for (const r of b.oidQueue) if (r.origin.kind === 'ndis' && r.origin.power === true) return r;
    return undefined;
  }
  if (!b.resetInProgress) return b.oidQueue[0];
  for (const r of b.oidQueue) if (r.origin.kind === 'ndis' && r.origin.restore) return r;
  return undefined;
}

function dispatch(n: Ndis, b: MiniportBlock): void {
  if (b.oidQueue.length === 0) return;
  if (b.handleDead || b.halting) {
    finish(n, b, b.oidQueue.shift()!, NDIS_STATUS_CLOSING);
    return;
  }
  const r = nextToDispatch(b);
  if (r === undefined) return;
  if (b.surpriseRemoved && r.origin.kind === 'ndis' && r.origin.power === true) {
    // R5.7: NDIS sends no power OID to a device it knows is gone. One queued before the
    // surprise removal (a resume's OID_PNP_SET_POWER(D0) behind the OID worker) is
    // dropped, not sent: NDIS completes it itself; the power change is over.
    removeFrom(b.oidQueue, r);
    if (n.trace.on)
      n.traceNdis(b, 'power OID not sent: the device was surprise-removed', {
        Oid: oidName(r.request.DATA.Oid),
      });
    finish(n, b, r, NDIS_STATUS_NOT_ACCEPTED);
    return;
  }
  removeFrom(b.oidQueue, r);
  b.oid = r;
  r.state = 'in-miniport';
  r.dispatchedNs = n.now;
  const f = n.enter(
    b,
    b.driver.name,
    'MiniportOidRequest',
    Irql.Passive,
    n.trace.on
      ? {
          Oid: oidName(r.request.DATA.Oid),
          RequestType: NDIS_REQUEST_TYPE_NAMES.get(r.request.RequestType) ?? r.request.RequestType,
          InformationBufferLength: r.request.DATA.QUERY_INFORMATION.InformationBufferLength,
          ...wolTraceData(r.request),
        }
      : undefined,
  );
  let status: number;
  try {
    status = b.driver.chars.OidRequestHandler(b.context, r.request);
  } catch (e) {
    n.driverThrew(e, 'MiniportOidRequest', b);
  }
  n.leave(f, status);
  if ((r.state as OidRecord['state']) === 'done') {
    // NdisMOidRequestComplete ran inside MiniportOidRequest: the return must be PENDING (R3.10).
    if (status !== NDIS_STATUS_PENDING) {
      n.verifier.report(
        'DoubleComplete',
        'MiniportOidRequest',
        b.name,
        `MiniportOidRequest called NdisMOidRequestComplete for ${oidText(r.request.DATA.Oid)} and then returned ${statusText(status)}, a final status (R3.10)`,
        ruleParams('OID request completed twice', b),
      );
    }
    return;
  }
  if (status === NDIS_STATUS_PENDING) {
    r.state = 'pending';
    r.pendedNs = n.now;
    const m = n.kernel.machine;
    if (r.request.Timeout > 0)
      r.timeout = m.after(r.request.Timeout * 1_000_000_000, n.oidTimers, TimerOp.RequestTimeout, r);
    if (!r.overdue)
      r.verifierTimer = m.at(r.dispatchedNs + oidVerifierLimitNs, n.oidTimers, TimerOp.VerifierLimit, r);
    // R6.6, bug-check-0x7c: NDIS_BUGCHECK_WATCHDOG_MINIPORT_OID, timed from the PENDING return.
    r.watchdog = m.after(n.options.oidWatchdogNs, n.oidTimers, TimerOp.Watchdog, r);
    return;
  }
  checkBuffer(n, b, r.request, 'MiniportOidRequest');
  finish(n, b, r, status, 'return');
}

/**
 * 0x7C/0x1D: a request handed back with more bytes written (a query) or read (a set:
 * the same slot of the DATA union) than its InformationBufferLength.
 */
function checkBuffer(n: Ndis, b: MiniportBlock, request: NDIS_OID_REQUEST, ddi: string): void {
  const d = request.DATA.QUERY_INFORMATION;
  if (d.BytesWritten <= d.InformationBufferLength) return;
  const field = request.RequestType === NdisRequestSetInformation ? 'BytesRead' : 'BytesWritten';
  n.verifier.report(
    'NdisSim_OidInvalidBuffer',
    ddi,
    b.name,
    `${oidText(d.Oid)} completed with ${field} ${d.BytesWritten}, more than its InformationBufferLength of ${d.InformationBufferLength} (R6.1)`,
    [`${b.name} miniport block`, `NDIS_OID_REQUEST of ${oidName(d.Oid)}`, 0],
  );
}

/**
 * Inside a work item routine of `b`'s driver: an NDIS I/O work item of the adapter, or
 * a WDM IO_WORKITEM (IoQueueWorkItem, IoQueueWorkItemEx) of the driver, which the SDV
 * rule DoubleCompleteWorkItem counts as well: its page speaks of work items, not of one
 * kind.
 */
function inWorkItem(n: Ndis, b: MiniportBlock): boolean {
  return (
    n.insideCallback(b, 'NdisIoWorkItemFunction') ||
    n.insideDriverCallback('WorkItem', b.driver.name) ||
    n.insideDriverCallback('WorkItemEx', b.driver.name)
  );
}

/** NdisMOidRequestComplete (R6.3). */
export function miniportComplete(n: Ndis, b: MiniportBlock, request: NDIS_OID_REQUEST, status: number): void {
  const ddi = 'NdisMOidRequestComplete';
  const r = b.oid;
  if (r === null || r.request !== request) {
    const earlier = b.lastOids.find((x) => x.request === request);
    if (earlier !== undefined && earlier.via === 'return') {
      n.verifier.report(
        'DoubleComplete',
        ddi,
        b.name,
        `${oidText(request.DATA.Oid)} completed after MiniportOidRequest returned a final status (R3.10)`,
        ruleParams('OID request completed twice', b),
      );
    } else if (earlier !== undefined && inWorkItem(n, b)) {
      // The deferred completion of a request that was already completed (SDV DoubleCompleteWorkItem).
      n.verifier.report(
        'DoubleCompleteWorkItem',
        ddi,
        b.name,
        `${oidText(request.DATA.Oid)} completed again from an I/O work item (R3.10, R6.3)`,
        ruleParams('OID request completed twice', b),
      );
    } else if (earlier !== undefined) {
      n.verifier.report(
        'NdisOidDoubleComplete',
        ddi,
        b.name,
        `${oidText(request.DATA.Oid)} completed twice (R6.3, R3.10)`,
        ruleParams('OID request completed twice', b),
      );
    } else {
      n.verifier.report(
        'NdisSim_OidCompleteUnexpected',
        ddi,
        b.name,
        'NdisMOidRequestComplete for a request that is not pending on the adapter (R6.3)',
        [`${b.name} driver handle`, 'NDIS_OID_REQUEST', 0],
      );
    }
    return;
  }
  if (status === NDIS_STATUS_PENDING) {
    n.verifier.report(
      'NdisOidComplete',
      ddi,
      b.name,
      `NdisMOidRequestComplete of ${oidText(request.DATA.Oid)} with NDIS_STATUS_PENDING: a completion needs a final status (R6.3)`,
      ruleParams('OID request completed with NDIS_STATUS_PENDING', b),
    );
  }
  checkBuffer(n, b, request, ddi);
  finish(n, b, r, status, 'complete');
}

function finish(
  n: Ndis,
  b: MiniportBlock,
  r: OidRecord,
  status: number,
  via: 'return' | 'complete' | null = null,
): void {
  r.state = 'done';
  r.via = via;
  if (via !== null)
    checkOidFinalStatus(
      b,
      r.request,
      status,
      via === 'return' ? 'MiniportOidRequest' : 'NdisMOidRequestComplete',
    );
  const late = b.removalNotified;
  if (late !== null && via !== null && status !== NDIS_STATUS_NOT_ACCEPTED && r !== late.oid)
    notAcceptedExpected(
      n,
      b,
      2,
      oidText(r.request.DATA.Oid),
      via === 'return' ? 'MiniportOidRequest' : 'NdisMOidRequestComplete',
      status,
    );
  if (r.timeout !== null) r.timeout.cancelled = true;
  if (r.verifierTimer !== null) r.verifierTimer.cancelled = true;
  if (r.watchdog !== null) r.watchdog.cancelled = true;
  r.timeout = r.verifierTimer = r.watchdog = null;
  if (b.oid === r) b.oid = null;
  b.lastOids.push(r);
  if (b.lastOids.length > 8) b.lastOids.shift();
  // An add the miniport found no room for: NDIS may remove a lower-priority pattern and
  // send it again (wol.ts); the requester hears only of the end.
  if (
    status === NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL &&
    wolPatternsApply(r.origin) &&
    evictForAdd(n, b, r, retryOid, deliverOid)
  ) {
    if (b.oidQueue.length > 0) pump(n, b);
    if (b.op !== null) n.kick(b);
    return;
  }
  deliverOid(n, b, r, status);
}

/** NDIS sends `r` down again, ahead of the requests queued behind it (an add after an eviction). */
function retryOid(n: Ndis, b: MiniportBlock, r: OidRecord): void {
  r.state = 'queued';
  r.via = null;
  r.strikes = 0;
  b.oidQueue.unshift(r);
  pump(n, b);
}

/**
 * R6.1: the set of OID_GEN_CURRENT_PACKET_FILTER is mandatory for every miniport (the
 * "Mandatory OIDs for miniport drivers" page; its query NDIS answers). A miniport that
 * fails it with NDIS_STATUS_NOT_SUPPORTED, as one whose OidRequest handler supports
 * nothing does, leaves the protocol that set it unfiltered. NDIS passes the status up
 * and goes on, so this is a warning, once per adapter. The page's other mandatory OIDs
 * are not checked.
 */
function mandatoryOidUnsupported(n: Ndis, b: MiniportBlock, request: NDIS_OID_REQUEST): void {
  if (b.packetFilterUnsupportedWarned || request.RequestType !== NdisRequestSetInformation) return;
  if (request.DATA.SET_INFORMATION.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return;
  b.packetFilterUnsupportedWarned = true;
  n.verifier.warn(
    'R6.1',
    'MiniportOidRequest',
    b.name,
    `${b.name}'s miniport failed a set of OID_GEN_CURRENT_PACKET_FILTER with NDIS_STATUS_NOT_SUPPORTED: the set is mandatory for every miniport (mandatory-oids-for-miniport-drivers), and the packet filter says which frames the protocols above receive`,
  );
}

/** `r` is done: NDIS's bookkeeping, then its requester's completion. */
function deliverOid(n: Ndis, b: MiniportBlock, r: OidRecord, status: number): void {
  r.state = 'done';
  b.data.oidsCompleted++;
  const o = r.origin;
  if (wolPatternsApply(o)) wolPatternCompleted(b, r.request, status);
  if (status === NDIS_STATUS_NOT_SUPPORTED) mandatoryOidUnsupported(n, b, r.request);
  if (o.kind !== 'ndis' && status === 0 && r.request.RequestType === NdisRequestSetInformation) {
    // R4.10: NDIS remembers the addressing settings to replay them after an AddressingReset.
    const d = r.request.DATA.SET_INFORMATION;
    if (d.Oid === OID_GEN_CURRENT_PACKET_FILTER) b.packetFilter = d.InformationBuffer as number;
    else if (d.Oid === OID_802_3_MULTICAST_LIST) b.multicastList = d.InformationBuffer as number[][];
  }
  // Passed down inside NdisOidRequest / NdisFOidRequest and returned at once: the status
  // is that call's, and no completion handler runs (dispatchInline).
  if (r.inline && r.via === 'return') r.syncStatus = status;
  else if (o.kind === 'binding') protocolOidComplete(n, b, o.binding, r.request, status);
  else if (o.kind === 'filter') filterOidComplete(n, o.module, r.request, status);
  else o.done(status);
  if (b.oidQueue.length > 0) pump(n, b);
  // A halt or a reset may be waiting for this request.
  if (b.op !== null) n.kick(b);
}

/**
 * The lengths a completed request carries back, for the trace: a set's BytesRead, a
 * query's BytesWritten, a method request's BytesRead and BytesWritten (through
 * METHOD_INFORMATION), and BytesNeeded when the miniport set it (a buffer too short).
 */
export function oidLengths(request: NDIS_OID_REQUEST): Record<string, number> {
  if (request.RequestType === NdisRequestMethod) {
    const m = request.DATA.METHOD_INFORMATION;
    const out: Record<string, number> = { BytesRead: m.BytesRead, BytesWritten: m.BytesWritten };
    if (m.BytesNeeded !== 0) out.BytesNeeded = m.BytesNeeded;
    return out;
  }
  const set = request.RequestType === NdisRequestSetInformation;
  const d = set ? request.DATA.SET_INFORMATION : request.DATA.QUERY_INFORMATION;
  const out: Record<string, number> = set
    ? { BytesRead: (d as { BytesRead: number }).BytesRead }
    : { BytesWritten: (d as { BytesWritten: number }).BytesWritten };
  if (d.BytesNeeded !== 0) out.BytesNeeded = d.BytesNeeded;
  return out;
}

/** ProtocolOidRequestComplete: the binding's request is done. */
export function protocolOidComplete(
  n: Ndis,
  b: MiniportBlock,
  bd: Binding,
  request: NDIS_OID_REQUEST,
  status: number,
): void {
  // The page allows <= DISPATCH. A protocol driver of one's own gets it at either IRQL
  // (options.callbackIrql) when the request completes at PASSIVE; the model's own
  // protocol at the IRQL the request completed at.
  const irql = bd.open !== null && n.kernel.ctx.irql === Irql.Passive ? n.lowOrDispatch() : n.kernel.ctx.irql;
  const f = n.enter(
    b,
    bd.protocol.name,
    'ProtocolOidRequestComplete',
    irql,
    n.trace.on ? { Oid: oidName(request.DATA.Oid), status, ...oidLengths(request) } : undefined,
  );
  let returned: unknown;
  try {
    returned = bd.protocol.ProtocolOidRequestComplete(bd, request, status);
  } catch (e) {
    n.driverThrew(e, 'ProtocolOidRequestComplete', b);
  }
  n.leaveVoid(f, returned);
}

/** MiniportCancelOidRequest (R6.4): the driver should complete it with REQUEST_ABORTED. */
function cancelInMiniport(n: Ndis, b: MiniportBlock, r: OidRecord): void {
  const f = n.enter(b, b.driver.name, 'MiniportCancelOidRequest', n.lowOrDispatch());
  let returned: unknown;
  try {
    returned = b.driver.chars.CancelOidRequestHandler(b.context, r.request.RequestId);
  } catch (e) {
    n.driverThrew(e, 'MiniportCancelOidRequest', b);
  }
  n.leaveVoid(f, returned);
}

/** Called on every check-for-hang tick: true when a pending request has timed out (R4.5). */
export function oidTimedOut(b: MiniportBlock): boolean {
  const r = b.oid;
  if (r === null || r.state !== 'pending') return false;
  r.strikes++;
  return r.strikes >= (slowOids.has(r.request.DATA.Oid) ? 4 : 2);
}

/**
 * NdisCancelOidRequest: cancels the requests this binding issued with `requestId`
 * (the RequestId of their NDIS_OID_REQUEST), not another binding's that happen to
 * carry the same one. Those still queued complete at once with REQUEST_ABORTED; the
 * one in the miniport, if pending, goes to MiniportCancelOidRequest.
 */
export function protocolCancel(n: Ndis, bd: Binding, requestId: unknown): void {
  const b = bd.block;
  const mine = (o: OidOrigin): boolean => o.kind === 'binding' && o.binding === bd;
  if (b.filters.length !== 0) {
    // The binding's requests are with the topmost module that filters OIDs (filter-oid.ts).
    const m = oidModuleBelow(b, b.filters.length);
    if (m !== null) {
      cancelAtFilter(n, m, mine, requestId);
      return;
    }
  }
  cancelAtMiniport(n, b, mine, requestId);
}

/** The cancel at the miniport of the requests of one source (`fromSource`) with `requestId`. */
export function cancelAtMiniport(
  n: Ndis,
  b: MiniportBlock,
  fromSource: (o: OidOrigin) => boolean,
  requestId: unknown,
): void {
  const mine = (r: OidRecord): boolean => fromSource(r.origin) && r.request.RequestId === requestId;
  // Taken out first: a completion may issue new requests.
  const queued = b.oidQueue.filter(mine);
  for (const q of queued) removeFrom(b.oidQueue, q);
  for (const q of queued) finish(n, b, q, NDIS_STATUS_REQUEST_ABORTED);
  const r = b.oid;
  if (r !== null && r.state === 'pending' && mine(r)) cancelInMiniport(n, b, r);
}

/** R4.10: after a successful AddressingReset NDIS sets packet filter and multicast list again. */
export function replayAddressing(n: Ndis, b: MiniportBlock, done: () => void): void {
  const settings: [number, unknown][] = [
    [OID_GEN_CURRENT_PACKET_FILTER, b.packetFilter],
    [OID_802_3_MULTICAST_LIST, b.multicastList],
  ];
  let left = settings.length;
  for (const [oid, value] of settings) {
    const req = oidRequest(NdisRequestSetInformation, oid, value, setBufferLength(value));
    const s = submit(n, b, req, {
      kind: 'ndis',
      restore: true,
      done: (status) => {
        if (n.trace.on) traceNdisOidCompleted(n, b, req, status);
        if (--left === 0) done();
      },
    });
    if (s !== NDIS_STATUS_PENDING && --left === 0) done();
  }
}

/** An OID request NDIS itself issues (the scenario's `oid` action). */
export function issueOid(
  n: Ndis,
  b: MiniportBlock,
  oid: number,
  set: boolean,
  value: unknown,
  timeoutS: number,
  bufferLength?: number,
): void {
  const length = bufferLength ?? (set ? setBufferLength(value) : queryBufferLength(oid));
  const req = ndisRequest(n, set, oid, value, length, timeoutS);
  let completed = false;
  const s = submit(n, b, req, {
    kind: 'ndis',
    restore: false,
    done: (status) => {
      completed = true;
      if (n.trace.on) traceNdisOidCompleted(n, b, req, status);
    },
  });
  // Not completed, and not pending: NDIS did not take it (the adapter's state).
  if (!completed && s !== NDIS_STATUS_PENDING && n.trace.on)
    n.traceNdis(b, 'OID request refused', { Oid: oidName(oid), status: s });
}

/**
 * The trace line of a request of NDIS's own when it completes, as a protocol's has its
 * ProtocolOidRequestComplete line: the OID, the status by name, the lengths the miniport
 * set (BytesNeeded for a buffer too short), a WoL request's PatternId, and a successful
 * query's answer. Called only with tracing on (`n.trace.on`), so it costs nothing else.
 */
export function traceNdisOidCompleted(
  n: Ndis,
  b: MiniportBlock,
  req: NDIS_OID_REQUEST,
  status: number,
): void {
  const oid = req.DATA.Oid;
  const q = req.DATA.QUERY_INFORMATION;
  n.traceNdis(
    b,
    'OID request completed',
    // The list's answer is structures: the trace shows their PatternIds (wolTraceData).
    req.RequestType === NdisRequestSetInformation ||
      status !== NDIS_STATUS_SUCCESS ||
      oid === OID_PM_WOL_PATTERN_LIST
      ? { Oid: oidName(oid), status, ...oidLengths(req), ...wolTraceData(req) }
      : { Oid: oidName(oid), status, ...oidLengths(req), InformationBuffer: q.InformationBuffer },
  );
}

/**
 * An NDIS_OID_REQUEST on port 0 of `type` (NdisRequestSetInformation or
 * NdisRequestQueryInformation) for `oid`: `value` to set (null for a query) in an
 * InformationBuffer of `length` bytes. Every request the model makes, NDIS's own and its
 * protocol's, is one of these.
 */
export function oidRequest(
  type: number,
  oid: number,
  value: unknown,
  length: number,
  requestId: unknown = null,
  timeoutS = 0,
): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: NDIS_OID_REQUEST_REVISION_1 },
    RequestType: type,
    PortNumber: 0,
    Timeout: timeoutS,
    RequestId: requestId,
    RequestHandle: null,
    DATA: oidRequestData(oid, value, length),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
}

/** An OID request NDIS makes itself (port 0, its own RequestId), a set or a query. */
export function ndisRequest(
  n: Ndis,
  set: boolean,
  oid: number,
  value: unknown,
  length: number,
  timeoutS = 0,
): NDIS_OID_REQUEST {
  return oidRequest(
    set ? NdisRequestSetInformation : NdisRequestQueryInformation,
    oid,
    value,
    length,
    `ndis:${n.nextRequestId++}`,
    timeoutS,
  );
}

/**
 * The InformationBufferLength of a set whose InformationBuffer is `value`: a list of
 * 6-byte addresses (OID_802_3_MULTICAST_LIST), a ULONG (4 bytes), or nothing.
 */
export function setBufferLength(value: unknown): number {
  if (Array.isArray(value)) return 6 * value.length;
  return value === null || value === undefined ? 0 : 4;
}

/**
 * The InformationBufferLength of a query NDIS or the protocol issues: room for the
 * answer. An NDIS_STATISTICS_INFO for OID_GEN_STATISTICS, a 6-byte address for the
 * 802.3 addresses, and 8 bytes otherwise, enough for a ULONG or a ULONG64 counter.
 */
export function queryBufferLength(oid: number): number {
  switch (oid) {
    case OID_GEN_STATISTICS:
      return NDIS_SIZEOF_STATISTICS_INFO_REVISION_1;
    case OID_802_3_CURRENT_ADDRESS:
    case OID_802_3_PERMANENT_ADDRESS:
      return 6;
    // Room for a list of WoL patterns (wol.ts).
    case OID_PM_WOL_PATTERN_LIST:
      return 4096;
  }
  return 8;
}

export function oidName(oid: number): string {
  return oidNames.get(oid) ?? `0x${oid.toString(16).toUpperCase().padStart(8, '0')}`;
}

/**
 * A request held somewhere, for the run's "Still under way" list: its OID, its type and
 * who issued it ("OID_GEN_CURRENT_PACKET_FILTER (set) from tcpip").
 */
export function oidHeldText(request: NDIS_OID_REQUEST, from: OidOrigin): string {
  const t = request.RequestType;
  const type =
    t === NdisRequestSetInformation ? 'set' : t === NdisRequestQueryInformation ? 'query' : 'method';
  const who =
    from.kind === 'binding' ? from.binding.protocol.name : from.kind === 'filter' ? from.module.name : 'NDIS';
  return `${oidText(request.DATA.Oid)} (${type}) from ${who}`;
}

/** An OID for a verifier message: its name, or "OID 0x0001010E" when the model has none. */
export function oidText(oid: number): string {
  return oidNames.has(oid) ? oidName(oid) : `OID ${oidName(oid)}`;
}

/**
 * R5.7: a send (`kind` 1) or OID request (`kind` 2) that reached the miniport after its
 * SurpriseRemoved notification completed with `status`; the MINIPORT_DEVICE_PNP_EVENT_NOTIFY
 * page asks for NDIS_STATUS_NOT_ACCEPTED at once. One warning per kind and adapter. The
 * message names the cause of the notification: the hardware surprise-removed, or the
 * PnP manager's teardown of a failed device (R5.8), which NdisMRemoveMiniport asks for
 * with the hardware still there (R5.13).
 */
export function notAcceptedExpected(
  n: Ndis,
  b: MiniportBlock,
  kind: 1 | 2,
  what: string,
  ddi: string,
  status: number,
): void {
  const r = b.removalNotified!;
  if ((r.warned & kind) !== 0) return;
  r.warned = (r.warned | kind) as 0 | 1 | 2 | 3;
  const why = b.deviceFailedWhy;
  const cause = !b.deviceFailed
    ? 'the hardware was surprise-removed and is gone'
    : why === 'NdisMRemoveMiniport'
      ? "the notification is the teardown of the failed device the driver's own NdisMRemoveMiniport asked for (R5.8, R5.13), and the hardware may still be there"
      : `the notification is the teardown of a failed device (${why ?? 'device failure'}; R5.8)`;
  n.verifier.warn(
    'R5.7',
    ddi,
    b.name,
    `${what} reached the miniport after its SurpriseRemoved notification and completed with ${statusText(status)}: ${cause}. From that notification until the halt, the driver completes sends and OID requests with NDIS_STATUS_NOT_ACCEPTED at once`,
  );
}
