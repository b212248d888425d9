// OID requests and status indications through filter modules (R7.5, R7.6, R6.2–R6.5,
// R6.16). A request from a protocol goes to the topmost module that registered
// FilterOidRequest; the module forwards a clone with NdisFOidRequest to the next such
// module below, or to the miniport (oid.ts), or completes it itself. Completions climb
// back: FilterOidRequestComplete of the module that forwarded, NdisFOidRequestComplete,
// ..., ProtocolOidRequestComplete. Modules without the handler are bypassed. NDIS's
// own requests (power, the addressing replay after a reset, the scenario's `oid`
// action) go straight to the miniport. Status indications climb the other way: the
// lowest module with FilterStatus, NdisFIndicateStatus, ..., ProtocolStatusEx.
//
// An adapter without filter modules never reaches this file (guards in oid.ts and
// reset.ts test `b.filters.length !== 0` first).

import { Irql, WorkItem, type WorkRoutine } from '../kernel/kernel.ts';
import { fmtTime } from '../report/format.ts';
import type { EventTarget, SimEvent } from '../sim/queue.ts';
import { statusText } from '../verifier/bugcheck.ts';
import { Binding, OidSourceHandle } from './binding.ts';
import { type MiniportBlock, removeFrom } from './block.ts';
import type { FilterModule } from './filter.ts';
import { NDIS_STATUS_PENDING, NDIS_STATUS_REQUEST_ABORTED } from './generated/status.ts';
import type { Ndis } from './ndis.ts';
import {
  callInline,
  callsDown,
  cancelAtMiniport,
  type OidOrigin,
  oidHeldText,
  oidLengths,
  oidName,
  oidText,
  protocolOidComplete,
  requesterText,
  ruleParams,
} from './oid.ts';
import { deliverToBindings, statusIndication } from './reset.ts';
import type { NDIS_OID_REQUEST, NDIS_STATUS_INDICATION } from './types.ts';

/** Who handed a request to a module: a protocol binding, or the module above. */
export type FilterOidSource = Extract<OidOrigin, { kind: 'binding' } | { kind: 'filter' }>;

/** A request NDIS handed (or will hand) to one module's FilterOidRequest. */
export class FilterOidRecord {
  state: 'queued' | 'in-filter' | 'pending' | 'done' = 'queued';
  watchdog: SimEvent | null = null;
  /** Handed to FilterOidRequest inside the requester's call (ChoiceSite.OidCallDown). */
  inline = false;
  /** The final status FilterOidRequest returned for an inline request: the call's own. */
  syncStatus: number | null = null;
  /** When NDIS handed it to FilterOidRequest. */
  sinceNs = 0;
  /** When FilterOidRequest returned PENDING (-1: it has not): the watchdog's "Pended by". */
  pendedNs = -1;
  constructor(
    readonly module: FilterModule,
    readonly request: NDIS_OID_REQUEST,
    readonly source: FilterOidSource,
  ) {}
}

/** How a module was done with a request: FilterOidRequest's final return, NdisFOidRequestComplete, or a cancel while queued. */
export type FilterOidFinishVia = 'return' | 'complete' | 'abort';

export interface FilterOidFinish {
  readonly via: FilterOidFinishVia;
  readonly status: number;
  readonly ns: number;
}

/** A module's OID state (FilterModule.oid), made on first use. */
export class FilterOidState implements WorkRoutine, EventTarget {
  /** Requests waiting for FilterOidRequest: NDIS hands a module one at a time. */
  readonly queue: FilterOidRecord[] = [];
  /** The request in FilterOidRequest, or pended by it. */
  current: FilterOidRecord | null = null;
  /** Requests the module passed down with NdisFOidRequest that have not completed. */
  readonly issued = new Set<NDIS_OID_REQUEST>();
  /**
   * Requests the module originated (passed to NdisFOidRequest and not its clone), so that
   * an NdisFOidRequestComplete of one can say so. Weak: the module's requests come and go.
   */
  readonly own = new WeakSet<NDIS_OID_REQUEST>();
  /**
   * How and when the module was done with each request it was handed (finishAtFilter),
   * so that an NdisFOidRequestComplete for one it no longer holds can say which it is:
   * completed already, completed by a final return, or aborted while queued. Weak: the
   * requests belong to the drivers above.
   */
  readonly finished = new WeakMap<NDIS_OID_REQUEST, FilterOidFinish>();
  /** NdisAllocateCloneOidRequest's clones not yet freed, each with the request it was made from. */
  readonly clones = new Map<NDIS_OID_REQUEST, NDIS_OID_REQUEST>();
  /** RequestHandle of the requests the module issues (R6.16). */
  readonly requestHandle: OidSourceHandle;
  readonly item: WorkItem;
  constructor(
    readonly n: Ndis,
    readonly module: FilterModule,
  ) {
    this.requestHandle = new OidSourceHandle(null, module);
    this.item = new WorkItem(this, 'ndis');
  }
  runWork(): void {
    dispatchToFilter(this.n, this.module);
  }
  /**
   * The watchdog of a request the module pended (NDIS_BUGCHECK_WATCHDOG_FILTER_OID), on
   * `oidWatchdogNs`: the 0x7C page names 0x24 the same operation as the miniport's 0x23,
   * delivering an OID request, to a filter module instead (R7.13; docs/decisions.md).
   */
  fire(_op: number, arg: unknown): void {
    const r = arg as FilterOidRecord;
    if (r.state !== 'pending') return;
    r.watchdog = null;
    const n = this.n;
    // Still waiting for its own request below: the module is not the one stuck.
    if (this.issued.size > 0) {
      r.watchdog = n.kernel.machine.after(n.options.oidWatchdogNs, this, 0, r);
      return;
    }
    n.reportInDpc(
      'ndis',
      'NdisSim_FilterOidWatchdog',
      'FilterOidRequest',
      this.module.block.name,
      `FilterOidRequest of ${this.module.name} pended ${oidText(r.request.DATA.Oid)} at ${fmtTime(r.pendedNs)} and NdisFOidRequestComplete did not follow within ${n.options.oidWatchdogNs / 1e9} s, with nothing of its own outstanding below (R7.13)`,
      // Parameter 4: the OID of the stuck request (bug-check-0x7c).
      ['NDIS_WATCHDOG_TRIAGE_BLOCK', r.request.DATA.Oid],
      {
        label: 'Pended by',
        at: `FilterOidRequest of ${this.module.name} at ${fmtTime(r.pendedNs)} (${oidName(r.request.DATA.Oid)}, ${requesterText(r.source)})`,
      },
    );
  }
}

export function filterOidState(n: Ndis, m: FilterModule): FilterOidState {
  m.oid ??= new FilterOidState(n, m);
  return m.oid;
}

/** True while the module has requests queued, in hand, or outstanding below (detach waits). */
export function filterOidBusy(st: FilterOidState): boolean {
  return st.current !== null || st.queue.length > 0 || st.issued.size > 0;
}

/** FilterDetach returned: clones it never freed are a leak. */
export function filterOidDetached(n: Ndis, m: FilterModule): void {
  const st = m.oid!;
  if (st.clones.size === 0) return;
  const oids = [...st.clones.keys()].map((r) => oidName(r.DATA.Oid)).join(', ');
  n.verifier.report(
    'NdisSim_FilterOidClone',
    'FilterDetach',
    m.block.name,
    `FilterDetach of ${m.name} returned with ${st.clones.size} cloned NDIS_OID_REQUEST(s) not freed with NdisFreeCloneOidRequest (${oids})`,
  );
  st.clones.clear();
}

/**
 * For the run's "Still under way" list (R6.3, R7.5): the requests module `m` holds, in
 * FilterOidRequest or pended by it, with nothing of its own below for them (a clone still
 * below is the lower driver's to finish, and is listed there), and those queued for it.
 * `settled` (expect settled): one held for less than `graceNs` is work in flight.
 */
export function filterOidHeld(n: Ndis, m: FilterModule, settled: boolean, graceNs: number): string[] {
  const st = m.oid;
  if (st === null) return [];
  const out: string[] = [];
  const r = st.current;
  const below = r !== null && [...st.clones].some(([c, o]) => o === r.request && st.issued.has(c));
  if (r !== null && r.state !== 'done' && !below && !(settled && n.now - r.sinceNs < graceNs))
    out.push(
      `${m.block.name}: an OID request is pending in filter module ${m.name}: ${oidHeldText(r.request, r.source)} since ${fmtTime(r.sinceNs)} (${r.state === 'in-filter' ? 'FilterOidRequest has not returned' : 'NdisFOidRequestComplete not called'})${st.queue.length > 0 ? `; ${st.queue.length} more queued for its FilterOidRequest` : ''}`,
    );
  return out;
}

// ----------------------------------------------------------------- routing

/**
 * R7.5, R7.11: module `m` is in the OID and status paths. One whose FilterDetach runs is
 * not: it is Detached from the start of FilterDetach (detaching-a-filter-module), and
 * filter-module-states-and-operations has no OID requests for a Detached module. NDIS
 * paused the stack for the detach, but a pause stops data, not OIDs or status, so a
 * request from above (a bound protocol or a module above, on a restack) or a status
 * indication from below can still come while a FilterDetach blocks; it takes the path
 * the stack has once the module is gone, around it (docs/model.md, Filters).
 */
export function inOidPath(m: FilterModule): boolean {
  return !m.gone && m.state !== 'Detached';
}

/**
 * The nearest module below stack position `index` that has the handler of the path
 * (FilterOidRequest, or FilterDirectOidRequest for direct requests), or null.
 */
export function oidModuleBelow(
  b: MiniportBlock,
  index: number,
  handler: 'OidRequestHandler' | 'DirectOidRequestHandler' = 'OidRequestHandler',
): FilterModule | null {
  for (let i = index - 1; i >= 0; i--) {
    const m = b.filters[i]!;
    if (m.driver.chars[handler] != null && inOidPath(m)) return m;
  }
  return null;
}

/**
 * A request enters module `m`'s queue; FilterOidRequest gets it from NDIS's worker, and
 * the call returns NDIS_STATUS_PENDING. With nothing ahead of it at the module, NDIS may
 * instead call FilterOidRequest inside the requester's call (R6.2, ChoiceSite.OidCallDown):
 * a final status it returns is then the call's own, and no completion handler runs.
 */
export function queueAtFilter(
  n: Ndis,
  m: FilterModule,
  request: NDIS_OID_REQUEST,
  source: FilterOidSource,
): number {
  const st = filterOidState(n, m);
  const r = new FilterOidRecord(m, request, source);
  const idle = st.current === null && st.queue.length === 0;
  st.queue.push(r);
  if (!idle || !callsDown(n)) {
    n.kernel.queueWork(st.item);
    return NDIS_STATUS_PENDING;
  }
  return callInline(r, () => dispatchToFilter(n, m));
}

function dispatchToFilter(n: Ndis, m: FilterModule): void {
  const st = m.oid!;
  if (st.current !== null || st.queue.length === 0) return;
  const r = st.queue.shift()!;
  st.current = r;
  r.state = 'in-filter';
  r.sinceNs = n.now;
  const b = m.block;
  const f = n.enter(
    b,
    m.driver.name,
    'FilterOidRequest',
    Irql.Passive,
    n.trace.on ? { module: m.name, Oid: oidName(r.request.DATA.Oid) } : undefined,
  );
  let status: number;
  try {
    status = m.driver.chars.OidRequestHandler!(m.context, r.request);
  } catch (e) {
    n.driverThrew(e, 'FilterOidRequest', b);
  }
  n.leave(f, status);
  if ((r.state as FilterOidRecord['state']) === 'done') {
    // NdisFOidRequestComplete ran inside FilterOidRequest: the return must be PENDING.
    if (status !== NDIS_STATUS_PENDING)
      n.verifier.report(
        'NdisSim_FilterOidComplete',
        'FilterOidRequest',
        b.name,
        `FilterOidRequest of ${m.name} called NdisFOidRequestComplete for ${oidText(r.request.DATA.Oid)} and then returned ${statusText(status)}, a final status: the request completed twice`,
        ruleParams('filter OID request completed twice', b),
      );
    return;
  }
  if (status === NDIS_STATUS_PENDING) {
    r.state = 'pending';
    r.pendedNs = n.now;
    r.watchdog = n.kernel.machine.after(n.options.oidWatchdogNs, st, 0, r);
    return;
  }
  // nc-ndis-filter_oid_request: a filter that forwarded a clone returns PENDING when
  // NdisFOidRequest pended it; a final status completes the request now, and again when
  // the clone comes back to FilterOidRequestComplete.
  for (const [clone, original] of st.clones) {
    if (original !== r.request || !st.issued.has(clone)) continue;
    n.verifier.report(
      'NdisSim_FilterOidComplete',
      'FilterOidRequest',
      b.name,
      `FilterOidRequest of ${m.name} returned ${statusText(status)}, a final status, for ${oidText(r.request.DATA.Oid)} while its clone is still below (NdisFOidRequest pended it): the request completes now and again when the clone comes back; return NDIS_STATUS_PENDING and complete it in FilterOidRequestComplete (nc-ndis-filter_oid_request)`,
      ruleParams('filter OID request completed twice', b),
    );
    break;
  }
  finishAtFilter(n, r, status, 'return');
}

/**
 * The module is done with `r` (`via`: its return value; NdisFOidRequestComplete; or a
 * cancel while queued).
 */
export function finishAtFilter(n: Ndis, r: FilterOidRecord, status: number, via: FilterOidFinishVia): void {
  const m = r.module;
  const st = m.oid!;
  const returned = via === 'return';
  r.state = 'done';
  st.finished.set(r.request, { via, status, ns: n.now });
  if (r.watchdog !== null) r.watchdog.cancelled = true;
  r.watchdog = null;
  if (st.current === r) st.current = null;
  const b = m.block;
  const s = r.source;
  // Called inside the requester's NdisOidRequest / NdisFOidRequest and returned a final
  // status: that call returns it, and no completion handler runs (queueAtFilter).
  if (returned && r.inline) r.syncStatus = status;
  else if (s.kind === 'binding') protocolOidComplete(n, b, s.binding, r.request, status);
  else filterOidComplete(n, s.module, r.request, status);
  if (st.queue.length > 0) n.kernel.queueWork(st.item);
  // A detach may be waiting for this request.
  if (b.op !== null) n.kick(b);
}

/** A request module `m` passed down completed below: FilterOidRequestComplete. */
export function filterOidComplete(n: Ndis, m: FilterModule, request: NDIS_OID_REQUEST, status: number): void {
  const st = m.oid!;
  st.issued.delete(request);
  const b = m.block;
  const f = n.enter(
    b,
    m.driver.name,
    'FilterOidRequestComplete',
    n.kernel.ctx.irql,
    n.trace.on
      ? { module: m.name, Oid: oidName(request.DATA.Oid), status, ...oidLengths(request) }
      : undefined,
  );
  let returned: unknown;
  try {
    returned = m.driver.chars.OidRequestCompleteHandler!(m.context, request, status);
  } catch (e) {
    n.driverThrew(e, 'FilterOidRequestComplete', b);
  }
  n.leaveVoid(f, returned);
  if (b.op !== null) n.kick(b);
}

// ------------------------------------------------------------------ cancel

type Mine = (o: OidOrigin) => boolean;

/**
 * A cancel reaches module `m`: its queued requests from that source complete at once
 * with REQUEST_ABORTED; the one it pended goes to FilterCancelOidRequest, or, when the
 * module has none, on to the drivers below (nc-ndis-filter_cancel_oid_request).
 */
export function cancelAtFilter(n: Ndis, m: FilterModule, mine: Mine, requestId: unknown): void {
  const st = m.oid;
  if (st === null) return;
  const queued = st.queue.filter((r) => mine(r.source) && r.request.RequestId === requestId);
  for (const q of queued) removeFrom(st.queue, q);
  for (const q of queued) finishAtFilter(n, q, NDIS_STATUS_REQUEST_ABORTED, 'abort');
  const r = st.current;
  if (r === null || r.state !== 'pending' || !mine(r.source) || r.request.RequestId !== requestId) return;
  const h = m.driver.chars.CancelOidRequestHandler;
  if (h == null) {
    cancelBelow(n, m, requestId);
    return;
  }
  const f = n.enter(m.block, m.driver.name, 'FilterCancelOidRequest', n.lowOrDispatch());
  let returned: unknown;
  try {
    returned = h(m.context, requestId);
  } catch (e) {
    n.driverThrew(e, 'FilterCancelOidRequest', m.block);
  }
  n.leaveVoid(f, returned);
}

/** NdisFCancelOidRequest: cancels the requests module `m` passed down with `requestId`. */
export function cancelBelow(n: Ndis, m: FilterModule, requestId: unknown): void {
  const b = m.block;
  const mine: Mine = (o) => o.kind === 'filter' && o.module === m;
  const lower = oidModuleBelow(b, b.filters.indexOf(m));
  if (lower !== null) cancelAtFilter(n, lower, mine, requestId);
  else cancelAtMiniport(n, b, mine, requestId);
}

// ------------------------------------------------------------------ status

/** The nearest module above stack position `index` that has FilterStatus, or null. */
export function statusModuleAbove(b: MiniportBlock, index: number): FilterModule | null {
  for (let i = index + 1; i < b.filters.length; i++) {
    const m = b.filters[i]!;
    if (m.driver.chars.StatusHandler != null && inOidPath(m)) return m;
  }
  return null;
}

/**
 * A status indication from the miniport or NDIS enters a stack with modules. Returns
 * false when no module takes it (the caller delivers to the bindings as before).
 * `to`: a module a DestinationHandle names (its FilterStatus only).
 */
export function statusIntoFilters(
  n: Ndis,
  b: MiniportBlock,
  code: number,
  payload: unknown,
  from: NDIS_STATUS_INDICATION | null,
  to: FilterModule | undefined,
): boolean {
  const m = to ?? statusModuleAbove(b, -1);
  if (m === null) return false;
  if (m.driver.chars.StatusHandler == null || !inOidPath(m)) return true;
  callFilterStatus(n, m, statusIndication(b, code, payload, from));
  return true;
}

export function callFilterStatus(n: Ndis, m: FilterModule, indication: NDIS_STATUS_INDICATION): void {
  const b = m.block;
  const f = n.enter(
    b,
    m.driver.name,
    'FilterStatus',
    n.kernel.ctx.irql,
    n.trace.on ? { module: m.name, StatusCode: statusText(indication.StatusCode) } : undefined,
  );
  const outer = m.statusIn;
  m.statusIn = indication;
  let returned: unknown;
  try {
    returned = m.driver.chars.StatusHandler!(m.context, indication);
  } catch (e) {
    n.driverThrew(e, 'FilterStatus', b);
  } finally {
    m.statusIn = outer;
  }
  n.leaveVoid(f, returned);
}

/**
 * NdisFIndicateStatus: module `m` passes `indication` up: to `to` alone when its
 * DestinationHandle names a requester, else to the next module above with FilterStatus,
 * else to every bound protocol.
 */
export function statusAbove(
  n: Ndis,
  m: FilterModule,
  indication: NDIS_STATUS_INDICATION,
  to: Binding | FilterModule | undefined,
): void {
  const b = m.block;
  if (to instanceof Binding) {
    deliverToBindings(n, b, indication.StatusCode, indication.StatusBuffer, indication, to);
    return;
  }
  if (to !== undefined) {
    const target = to;
    if (target.driver.chars.StatusHandler != null && inOidPath(target))
      callFilterStatus(n, target, indication);
    return;
  }
  const i = b.filters.indexOf(m);
  const next = statusModuleAbove(b, i < 0 ? b.filters.length : i);
  if (next !== null) callFilterStatus(n, next, indication);
  else deliverToBindings(n, b, indication.StatusCode, indication.StatusBuffer, indication, undefined);
}
