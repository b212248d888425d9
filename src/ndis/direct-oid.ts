// Direct OID requests (NDIS 6.1+; R6.2): NdisDirectOidRequest, NdisFDirectOidRequest,
// MiniportDirectOidRequest and their completions and cancels. Unlike the regular path
// (oid.ts, filter-oid.ts) NDIS queues and serializes nothing here: a request goes from
// the caller straight to the next driver below that registered the direct handler, in
// the caller's context and at its IRQL (<= DISPATCH), and any number may be outstanding
// at each driver, beside the one regular request. Filter modules without
// FilterDirectOidRequest are bypassed. No time-out applies: NDIS never calls
// MiniportCancelDirectOidRequest because a Timeout expired (its page).
//
// Halt (R2.9): NDIS does not call MiniportHaltEx with OID requests outstanding, direct
// ones included; the teardown waits for them (lifecycle.ts), as a pause does when
// `pauseWaitsForOids` is set, and a filter's detach waits for its own.

import { statusText } from '../verifier/bugcheck.ts';
import type { Binding } from './binding.ts';
import { type MiniportBlock, removeFrom } from './block.ts';
import type { FilterModule } from './filter.ts';
import { type FilterOidSource, filterOidState, oidModuleBelow } from './filter-oid.ts';
import {
  NDIS_STATUS_ADAPTER_NOT_READY,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_INVALID_OID,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA_EX,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_UPDATE_SA,
} from './generated/status.ts';
import type { Ndis } from './ndis.ts';
import {
  ndisRequest,
  notAcceptedExpected,
  type OidOrigin,
  oidLengths,
  oidName,
  oidText,
  queryBufferLength,
  ruleParams,
  setBufferLength,
} from './oid.ts';
import { ssOidActivity } from './ss.ts';
import type { NDIS_OID_REQUEST } from './types.ts';

/**
 * The OIDs the model knows to be allowed on the direct path: those the
 * direct-oid-request-interface-in-ndis-6-1 page lists (IPsec offload version 2), and
 * ADD_SA_EX (NDIS 6.30), whose page carries the same note. Other OIDs' pages with that
 * note (OID_NDK_STATISTICS, two WDI OIDs) have no constant in the model yet.
 */
export const directOids: ReadonlySet<number> = new Set([
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_UPDATE_SA,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA_EX,
]);

/** A direct request in MiniportDirectOidRequest, or pended by it. */
export class DirectOidRecord {
  state: 'in-miniport' | 'pending' | 'done' = 'in-miniport';
  /** How it finished: the handler's return value, or NdisMDirectOidRequestComplete. */
  via: 'return' | 'complete' | null = null;
  /** It reached the miniport after the SurpriseRemoved notification (R5.7). */
  afterRemoval = false;
  constructor(
    readonly request: NDIS_OID_REQUEST,
    readonly origin: OidOrigin,
  ) {}
}

/** A direct request in one module's FilterDirectOidRequest, or pended by it. */
export class FilterDirectRecord {
  state: 'in-filter' | 'pending' | 'done' = 'in-filter';
  constructor(
    readonly request: NDIS_OID_REQUEST,
    readonly source: FilterOidSource,
  ) {}
}

/** A module's direct OID state (FilterModule.direct). */
export class FilterDirectState {
  /** Requests NDIS handed to its FilterDirectOidRequest that it has not completed. */
  readonly held: FilterDirectRecord[] = [];
  /** Requests it passed down with NdisFDirectOidRequest that have not completed. */
  readonly issued = new Set<NDIS_OID_REQUEST>();
  /** Requests it completed (or that completed by its return value): a second completion says so. */
  readonly done = new WeakSet<NDIS_OID_REQUEST>();
}

export function filterDirectState(m: FilterModule): FilterDirectState {
  m.direct ??= new FilterDirectState();
  return m.direct;
}

/** True while the module holds direct requests or has some of its own below (detach waits). */
export function filterDirectBusy(m: FilterModule): boolean {
  const st = m.direct;
  return st !== null && (st.held.length > 0 || st.issued.size > 0);
}

/** NdisSim_DirectOid: a misuse of a direct request by a miniport or a protocol. */
export function directViolation(n: Ndis, b: MiniportBlock, ddi: string, message: string): void {
  n.verifier.report('NdisSim_DirectOid', ddi, b.name, message, ruleParams('direct OID request misused', b));
}

/**
 * A direct request from `origin` enters the stack of `b`: to the next module below
 * with FilterDirectOidRequest, else to MiniportDirectOidRequest. Returns the status
 * the driver that took it returned (PENDING: its completion follows).
 */
export function submitDirect(
  n: Ndis,
  b: MiniportBlock,
  request: NDIS_OID_REQUEST,
  origin: OidOrigin,
): number {
  if (b.state === 'Halted' || b.state === 'Initializing' || b.state === 'Shutdown' || b.handleDead)
    return b.halting || b.handleDead ? NDIS_STATUS_CLOSING : NDIS_STATUS_ADAPTER_NOT_READY;
  request.RequestHandle =
    origin.kind === 'binding'
      ? origin.binding.requestHandle
      : origin.kind === 'filter'
        ? filterOidState(n, origin.module).requestHandle
        : b.ndisRequestHandle;
  if (origin.kind !== 'ndis' && b.filters.length !== 0) {
    const m = oidModuleBelow(
      b,
      origin.kind === 'binding' ? b.filters.length : b.filters.indexOf(origin.module),
      'DirectOidRequestHandler',
    );
    if (m !== null) return callFilterDirect(n, m, request, origin);
  }
  // how-ndis-detects-idle-network-adapters: NDIS counts NdisDirectOidRequest as activity.
  if (b.ss !== null) ssOidActivity(n, b);
  return callMiniportDirect(n, b, request, origin);
}

/**
 * What NDIS answers a direct or synchronous request for a miniport without the path's
 * handler, as the option (`directOidNoHandler`, `syncOidNoHandler`) says: the pages are silent.
 */
export function noHandlerAnswer(
  n: Ndis,
  b: MiniportBlock,
  request: NDIS_OID_REQUEST,
  choice: 'not-supported' | 'invalid-oid',
  path: string,
  handler: string,
): number {
  const s = choice === 'invalid-oid' ? NDIS_STATUS_INVALID_OID : NDIS_STATUS_NOT_SUPPORTED;
  if (n.trace.on)
    n.traceNdis(b, `${path} OID request: the miniport has no ${handler}`, {
      Oid: oidName(request.DATA.Oid),
      status: s,
    });
  return s;
}

function callMiniportDirect(n: Ndis, b: MiniportBlock, request: NDIS_OID_REQUEST, origin: OidOrigin): number {
  const h = b.driver.chars.DirectOidRequestHandler as
    | ((ctx: unknown, r: NDIS_OID_REQUEST) => number)
    | null
    | undefined;
  // The pages are silent (option directOidNoHandler).
  if (h == null)
    return noHandlerAnswer(n, b, request, n.options.directOidNoHandler, 'direct', 'MiniportDirectOidRequest');
  const r = new DirectOidRecord(request, origin);
  r.afterRemoval = b.removalNotified !== null;
  b.directOids.push(r);
  // NDIS's own request is made from its worker: it calls at either IRQL the page allows.
  const irql = origin.kind === 'ndis' ? n.lowOrDispatch() : n.kernel.ctx.irql;
  const f = n.enter(
    b,
    b.driver.name,
    'MiniportDirectOidRequest',
    irql,
    n.trace.on ? { Oid: oidName(request.DATA.Oid) } : undefined,
  );
  let status: number;
  try {
    status = h(b.context, request);
  } catch (e) {
    n.driverThrew(e, 'MiniportDirectOidRequest', b);
  }
  n.leave(f, status);
  if ((r.state as DirectOidRecord['state']) === 'done') {
    if (status !== NDIS_STATUS_PENDING)
      directViolation(
        n,
        b,
        'MiniportDirectOidRequest',
        `MiniportDirectOidRequest called NdisMDirectOidRequestComplete for ${oidText(request.DATA.Oid)} and then returned ${statusText(status)}, a final status: the request completed twice (nf-ndis-ndismdirectoidrequestcomplete)`,
      );
    return NDIS_STATUS_PENDING;
  }
  if (status === NDIS_STATUS_PENDING) {
    r.state = 'pending';
    return status;
  }
  finishDirect(n, b, r, status, 'return');
  return status;
}

function finishDirect(
  n: Ndis,
  b: MiniportBlock,
  r: DirectOidRecord,
  status: number,
  via: 'return' | 'complete',
): void {
  r.state = 'done';
  r.via = via;
  removeFrom(b.directOids, r);
  b.lastDirectOids.push(r);
  if (b.lastDirectOids.length > 8) b.lastDirectOids.shift();
  const ddi = via === 'return' ? 'MiniportDirectOidRequest' : 'NdisMDirectOidRequestComplete';
  if (r.afterRemoval && status !== NDIS_STATUS_NOT_ACCEPTED)
    notAcceptedExpected(n, b, 2, `direct ${oidText(r.request.DATA.Oid)}`, ddi, status);
}

/** NdisMDirectOidRequestComplete. */
export function miniportDirectComplete(
  n: Ndis,
  b: MiniportBlock,
  request: NDIS_OID_REQUEST,
  status: number,
): void {
  const ddi = 'NdisMDirectOidRequestComplete';
  let r: DirectOidRecord | undefined;
  for (const x of b.directOids) if (x.request === request) r = x;
  if (r === undefined) {
    const earlier = b.lastDirectOids.find((x) => x.request === request);
    directViolation(
      n,
      b,
      ddi,
      earlier === undefined
        ? `${ddi} for a request that is not a direct OID request of the adapter's MiniportDirectOidRequest (never handed to it, or a regular one: those complete with NdisMOidRequestComplete)`
        : earlier.via === 'return'
          ? `${ddi} for ${oidText(request.DATA.Oid)} after MiniportDirectOidRequest returned a final status for it: completed twice`
          : `${ddi} for ${oidText(request.DATA.Oid)}, completed twice`,
    );
    return;
  }
  if (status === NDIS_STATUS_PENDING)
    directViolation(
      n,
      b,
      ddi,
      `${ddi} of ${oidText(request.DATA.Oid)} with NDIS_STATUS_PENDING: a completion needs a final status`,
    );
  finishDirect(n, b, r, status, 'complete');
  const o = r.origin;
  if (o.kind === 'binding') protocolDirectComplete(n, b, o.binding, request, status);
  else if (o.kind === 'filter') filterDirectComplete(n, o.module, request, status);
  else o.done(status);
  if (b.op !== null) n.kick(b);
}

/** ProtocolDirectOidRequestComplete: the binding's direct request is done. */
export function protocolDirectComplete(
  n: Ndis,
  b: MiniportBlock,
  bd: Binding,
  request: NDIS_OID_REQUEST,
  status: number,
): void {
  const f = n.enter(
    b,
    bd.protocol.name,
    'ProtocolDirectOidRequestComplete',
    n.kernel.ctx.irql,
    n.trace.on ? { Oid: oidName(request.DATA.Oid), status, ...oidLengths(request) } : undefined,
  );
  let returned: unknown;
  try {
    returned = bd.protocol.ProtocolDirectOidRequestComplete?.(bd, request, status);
  } catch (e) {
    n.driverThrew(e, 'ProtocolDirectOidRequestComplete', b);
  }
  n.leaveVoid(f, returned);
}

// ----------------------------------------------------------------- filters

type Handler = (ctx: unknown, r: NDIS_OID_REQUEST) => number;
type CompleteHandler = (ctx: unknown, r: NDIS_OID_REQUEST, s: number) => void;
type CancelHandler = (ctx: unknown, id: unknown) => void;

function callFilterDirect(
  n: Ndis,
  m: FilterModule,
  request: NDIS_OID_REQUEST,
  source: FilterOidSource,
): number {
  const st = filterDirectState(m);
  const rec = new FilterDirectRecord(request, source);
  st.held.push(rec);
  const b = m.block;
  const f = n.enter(
    b,
    m.driver.name,
    'FilterDirectOidRequest',
    n.kernel.ctx.irql,
    n.trace.on ? { module: m.name, Oid: oidName(request.DATA.Oid) } : undefined,
  );
  let status: number;
  try {
    status = (m.driver.chars.DirectOidRequestHandler as Handler)(m.context, request);
  } catch (e) {
    n.driverThrew(e, 'FilterDirectOidRequest', b);
  }
  n.leave(f, status);
  if ((rec.state as FilterDirectRecord['state']) === 'done') {
    if (status !== NDIS_STATUS_PENDING)
      n.verifier.report(
        'NdisSim_FilterOidComplete',
        'FilterDirectOidRequest',
        b.name,
        `FilterDirectOidRequest of ${m.name} called NdisFDirectOidRequestComplete for ${oidText(request.DATA.Oid)} and then returned ${statusText(status)}, a final status: the request completed twice`,
        ruleParams('filter OID request completed twice', b),
      );
    return NDIS_STATUS_PENDING;
  }
  if (status === NDIS_STATUS_PENDING) {
    rec.state = 'pending';
    return status;
  }
  // A final status while its clone is still below: it completes now, and again later.
  const clones = m.oid?.clones;
  if (clones !== undefined)
    for (const [clone, original] of clones) {
      if (original !== request || !st.issued.has(clone)) continue;
      n.verifier.report(
        'NdisSim_FilterOidComplete',
        'FilterDirectOidRequest',
        b.name,
        `FilterDirectOidRequest of ${m.name} returned ${statusText(status)}, a final status, for ${oidText(request.DATA.Oid)} while its clone is still below (NdisFDirectOidRequest pended it): return NDIS_STATUS_PENDING and complete it in FilterDirectOidRequestComplete`,
        ruleParams('filter OID request completed twice', b),
      );
      break;
    }
  rec.state = 'done';
  removeFrom(st.held, rec);
  st.done.add(request);
  if (b.op !== null) n.kick(b);
  return status;
}

/** NdisFDirectOidRequestComplete: module `m` completes a request it pended. */
export function filterDirectCompleteUp(
  n: Ndis,
  m: FilterModule,
  request: NDIS_OID_REQUEST,
  status: number,
): void {
  const ddi = 'NdisFDirectOidRequestComplete';
  const b = m.block;
  const st = filterDirectState(m);
  const rec = st.held.find((x) => x.request === request);
  if (rec === undefined) {
    const own = m.oid?.own.has(request) === true;
    n.verifier.report(
      'NdisSim_FilterOidComplete',
      ddi,
      b.name,
      own
        ? `${ddi} from ${m.name} for ${oidText(request.DATA.Oid)}, a request it originated with NdisFDirectOidRequest: such a request ends in its own FilterDirectOidRequestComplete (nc-ndis-filter_direct_oid_request_complete)`
        : st.done.has(request)
          ? `${ddi} from ${m.name} for ${oidText(request.DATA.Oid)}, which it completed already (or whose FilterDirectOidRequest returned a final status): completed twice`
          : `${ddi} from ${m.name} for a request NDIS never handed to its FilterDirectOidRequest`,
      ruleParams('filter OID request completed twice', b),
    );
    return;
  }
  const clones = m.oid?.clones;
  if (clones !== undefined)
    for (const [clone, original] of clones) {
      if (original !== request) continue;
      n.verifier.report(
        'NdisSim_FilterOidClone',
        ddi,
        b.name,
        `${ddi} from ${m.name} for ${oidText(request.DATA.Oid)} while its clone ${st.issued.has(clone) ? 'is still below (not completed yet)' : 'is not freed'}: a filter calls NdisFreeCloneOidRequest before it completes the original (nc-ndis-filter_direct_oid_request_complete)`,
      );
      break;
    }
  if (status === NDIS_STATUS_PENDING)
    n.verifier.report(
      'NdisSim_FilterOidComplete',
      ddi,
      b.name,
      `${ddi} from ${m.name} with NDIS_STATUS_PENDING for ${oidText(request.DATA.Oid)}: a completion needs a final status`,
      ruleParams('filter OID request completed with NDIS_STATUS_PENDING', b),
    );
  rec.state = 'done';
  removeFrom(st.held, rec);
  st.done.add(request);
  const s = rec.source;
  if (s.kind === 'binding') protocolDirectComplete(n, b, s.binding, request, status);
  else filterDirectComplete(n, s.module, request, status);
  if (b.op !== null) n.kick(b);
}

/** A direct request module `m` passed down completed below: FilterDirectOidRequestComplete. */
export function filterDirectComplete(
  n: Ndis,
  m: FilterModule,
  request: NDIS_OID_REQUEST,
  status: number,
): void {
  filterDirectState(m).issued.delete(request);
  const b = m.block;
  const f = n.enter(
    b,
    m.driver.name,
    'FilterDirectOidRequestComplete',
    n.kernel.ctx.irql,
    n.trace.on
      ? { module: m.name, Oid: oidName(request.DATA.Oid), status, ...oidLengths(request) }
      : undefined,
  );
  let returned: unknown;
  try {
    returned = (m.driver.chars.DirectOidRequestCompleteHandler as CompleteHandler)(
      m.context,
      request,
      status,
    );
  } catch (e) {
    n.driverThrew(e, 'FilterDirectOidRequestComplete', b);
  }
  n.leaveVoid(f, returned);
  if (b.op !== null) n.kick(b);
}

// ------------------------------------------------------------------ cancel

type Mine = (o: OidOrigin) => boolean;

/** NdisCancelDirectOidRequest: the binding's direct requests with `requestId`. */
export function protocolCancelDirect(n: Ndis, bd: Binding, requestId: unknown): void {
  const b = bd.block;
  const mine: Mine = (o) => o.kind === 'binding' && o.binding === bd;
  const m = b.filters.length !== 0 ? oidModuleBelow(b, b.filters.length, 'DirectOidRequestHandler') : null;
  if (m !== null) cancelDirectAtFilter(n, m, mine, requestId);
  else cancelDirectAtMiniport(n, b, mine, requestId);
}

/**
 * The cancel reaches module `m`: FilterCancelDirectOidRequest when it pended such a
 * request, or, when it registered none, the cancel of the driver below
 * (nc-ndis-filter_cancel_direct_oid_request).
 */
function cancelDirectAtFilter(n: Ndis, m: FilterModule, mine: Mine, requestId: unknown): void {
  const st = m.direct;
  if (st === null) return;
  const held = st.held.some(
    (r) => r.state === 'pending' && mine(r.source) && r.request.RequestId === requestId,
  );
  if (!held) return;
  const h = m.driver.chars.CancelDirectOidRequestHandler as CancelHandler | null | undefined;
  if (h == null) {
    cancelDirectBelow(n, m, requestId);
    return;
  }
  const f = n.enter(m.block, m.driver.name, 'FilterCancelDirectOidRequest', n.kernel.ctx.irql);
  let returned: unknown;
  try {
    returned = h(m.context, requestId);
  } catch (e) {
    n.driverThrew(e, 'FilterCancelDirectOidRequest', m.block);
  }
  n.leaveVoid(f, returned);
}

/** NdisFCancelDirectOidRequest: the direct requests module `m` passed down with `requestId`. */
export function cancelDirectBelow(n: Ndis, m: FilterModule, requestId: unknown): void {
  const b = m.block;
  const mine: Mine = (o) => o.kind === 'filter' && o.module === m;
  const lower = oidModuleBelow(b, b.filters.indexOf(m), 'DirectOidRequestHandler');
  if (lower !== null) cancelDirectAtFilter(n, lower, mine, requestId);
  else cancelDirectAtMiniport(n, b, mine, requestId);
}

/** MiniportCancelDirectOidRequest, once, when the miniport pended a matching request. */
function cancelDirectAtMiniport(n: Ndis, b: MiniportBlock, mine: Mine, requestId: unknown): void {
  if (!b.directOids.some((r) => r.state === 'pending' && mine(r.origin) && r.request.RequestId === requestId))
    return;
  const h = b.driver.chars.CancelDirectOidRequestHandler as CancelHandler;
  const f = n.enter(b, b.driver.name, 'MiniportCancelDirectOidRequest', n.kernel.ctx.irql);
  let returned: unknown;
  try {
    returned = h(b.context, requestId);
  } catch (e) {
    n.driverThrew(e, 'MiniportCancelDirectOidRequest', b);
  }
  n.leaveVoid(f, returned);
}

// ------------------------------------------------------------ NDIS's own

/**
 * A direct OID request NDIS itself issues (the scenario's `oid` action with `direct:
 * true`), from the context the action runs in.
 */
export function issueDirectOid(
  n: Ndis,
  b: MiniportBlock,
  oid: number,
  set: boolean,
  value: unknown,
  bufferLength?: number,
): void {
  const length = bufferLength ?? (set ? setBufferLength(value) : queryBufferLength(oid));
  const request = ndisRequest(n, set, oid, value, length);
  const traceDone = (status: number): void => {
    if (n.trace.on)
      n.traceNdis(b, 'direct OID request completed', {
        Oid: oidName(oid),
        status,
        ...oidLengths(request),
      });
  };
  const s = submitDirect(n, b, request, { kind: 'ndis', restore: false, done: traceDone });
  if (s !== NDIS_STATUS_PENDING) traceDone(s);
}
