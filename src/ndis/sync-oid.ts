// Synchronous OID requests (NDIS 6.80; R6.2): NdisSynchronousOidRequest,
// NdisFSynchronousOidRequest, FilterSynchronousOidRequest,
// FilterSynchronousOidRequestComplete and MiniportSynchronousOidRequest. The third
// calling style beside the regular (oid.ts) and direct (direct-oid.ts) ones: nothing
// pends, nothing is cloned, nothing is cancelled, nothing is queued or serialized.
// NDIS walks the stack iteratively (synchronous-oid-request-interface-in-ndis-6-80):
// each module below the caller that registered FilterSynchronousOidRequest previews
// the request in turn, top down; SUCCESS lets it go on, any other status stops it
// there (NDIS_STATUS_ALREADY_COMPLETE reads as SUCCESS for the caller). Unless a
// module stopped it, MiniportSynchronousOidRequest answers it. Then NDIS walks back
// up: FilterSynchronousOidRequestComplete of each module the request passed (the
// module's handler returned SUCCESS, or it has none), with the one-pointer CallContext
// that module's request handler wrote, and a Status it may rewrite. What reaches the
// top is what the caller's call returns.
//
// NDIS serializes these requests against MiniportHaltEx and FilterDetach only (the
// miniport and filter pages): in the model every one finishes inside the call that
// issued it, so none is ever active when either runs. A pause, a reset or a power
// transition does not hold one up; the driver fails what it cannot handle.

import { Irql } from '../kernel/kernel.ts';
import { statusText } from '../verifier/bugcheck.ts';
import { type MiniportBlock, removeFrom } from './block.ts';
import { noHandlerAnswer } from './direct-oid.ts';
import type { FilterModule } from './filter.ts';
import { filterOidState } from './filter-oid.ts';
import {
  NDIS_STATUS_ADAPTER_NOT_READY,
  NDIS_STATUS_ALREADY_COMPLETE,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  NdisRequestMethod,
  OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES,
} from './generated/status.ts';
import type { Ndis } from './ndis.ts';
import {
  ndisRequest,
  notAcceptedExpected,
  type OidOrigin,
  oidLengths,
  oidName,
  oidText,
  ruleParams,
} from './oid.ts';
import { type NDIS_OID_REQUEST, NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID, type NDIS_OUT } from './types.ts';

/**
 * The OIDs the model knows to be allowed on the synchronous path. The overview page
 * names one for Windows 10 1709, OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES (RSSv2),
 * and its OID page is the only one that calls itself a synchronous OID.
 */
export const syncOids: ReadonlySet<number> = new Set([OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES]);

type RequestHandler = (ctx: unknown, r: NDIS_OID_REQUEST, callContext: NDIS_OUT<unknown>) => number;
type CompleteHandler = (
  ctx: unknown,
  r: NDIS_OID_REQUEST,
  status: NDIS_OUT<number>,
  callContext: unknown,
) => void;
type MiniportHandler = (ctx: unknown, r: NDIS_OID_REQUEST) => number;

/** NdisSim_SyncOid: a misuse of a synchronous OID request. */
export function syncViolation(n: Ndis, b: MiniportBlock, ddi: string, message: string): void {
  n.verifier.report(
    'NdisSim_SyncOid',
    ddi,
    b.name,
    message,
    ruleParams('synchronous OID request misused', b),
  );
}

/** True while `request` is on its way through `b`'s stack on the synchronous path. */
export function syncInFlight(b: MiniportBlock, request: NDIS_OID_REQUEST): boolean {
  return b.syncOids.includes(request);
}

/**
 * The checks the pages make of a request on this path: a caller of NDIS 6.80 or later
 * (ndis.h declares the DDIs for those only), an OID the path allows, and for
 * OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES a method request without
 * NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID, issued at DISPATCH_LEVEL
 * (oid-gen-rss-set-indirection-table-entries). Each finding is reported; the request
 * still goes down, as NDIS does not look. `version`: the caller's, as 680 for 6.80.
 */
export function checkSyncRequest(
  n: Ndis,
  b: MiniportBlock,
  ddi: string,
  who: string,
  version: number,
  r: NDIS_OID_REQUEST,
): void {
  if (version < 680)
    syncViolation(
      n,
      b,
      ddi,
      `${who}, which declares NDIS ${Math.floor(version / 100)}.${version % 100}, called ${ddi}: the synchronous OID interface is NDIS 6.80 and later (synchronous-oid-request-interface-in-ndis-6-80)`,
    );
  const oid = r.DATA.Oid;
  if (!syncOids.has(oid)) {
    syncViolation(
      n,
      b,
      ddi,
      `${who} called ${ddi} with ${oidText(oid)}, which the synchronous OID path does not allow (only ${oidText(OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES)} in NDIS 6.80): use the regular path (synchronous-oid-request-interface-in-ndis-6-80)`,
    );
    return;
  }
  const why: string[] = [];
  if (r.RequestType !== NdisRequestMethod) why.push('is a method request only');
  if ((r.Flags & NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID) !== 0)
    why.push('is issued with NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID cleared');
  if (n.kernel.ctx.irql !== Irql.Dispatch)
    why.push(`is issued only at DISPATCH_LEVEL (the caller is at ${n.kernel.ctx.irql})`);
  if (why.length > 0)
    syncViolation(
      n,
      b,
      ddi,
      `${who} called ${ddi} with ${oidText(oid)}, which ${why.join(', and ')} (oid-gen-rss-set-indirection-table-entries)`,
    );
}

/**
 * A synchronous request from `origin` enters the stack of `b`: down through each module
 * below the caller, to the miniport, and back up. Returns the final status the caller
 * gets; never NDIS_STATUS_PENDING.
 */
export function submitSync(n: Ndis, b: MiniportBlock, request: NDIS_OID_REQUEST, origin: OidOrigin): number {
  if (
    b.state === 'Halted' ||
    b.state === 'Initializing' ||
    b.state === 'Shutdown' ||
    b.handleDead ||
    b.halting
  )
    return b.halting || b.handleDead ? NDIS_STATUS_CLOSING : NDIS_STATUS_ADAPTER_NOT_READY;
  request.RequestHandle =
    origin.kind === 'binding'
      ? origin.binding.requestHandle
      : origin.kind === 'filter'
        ? filterOidState(n, origin.module).requestHandle
        : b.ndisRequestHandle;
  // NDIS's own request stands for an upper-layer protocol's (the OID page: upper layers
  // issue it, at DISPATCH_LEVEL): it enters above the topmost module.
  const irql = origin.kind === 'ndis' ? Irql.Dispatch : n.kernel.ctx.irql;
  b.syncOids.push(request);
  // The modules whose FilterSynchronousOidRequestComplete runs on the way back, and the
  // CallContext each one's request handler left.
  const passed: FilterModule[] = [];
  const contexts: unknown[] = [];
  let status: number | null = null;
  try {
    const top = origin.kind === 'filter' ? b.filters.indexOf(origin.module) : b.filters.length;
    for (let i = top - 1; i >= 0 && status === null; i--) {
      const m = b.filters[i]!;
      if (m.gone) continue;
      const chars = m.driver.chars;
      const h = chars.SynchronousOidRequestHandler as RequestHandler | null | undefined;
      const complete = chars.SynchronousOidRequestCompleteHandler != null;
      if (h == null) {
        // The complete page: without a request handler, CallContext is zero.
        if (complete) {
          passed.push(m);
          contexts.push(null);
        }
        continue;
      }
      const slot: NDIS_OUT<unknown> = { value: null };
      const s = callFilterSync(n, m, h, request, slot, irql);
      if (s === NDIS_STATUS_SUCCESS) {
        if (complete) {
          passed.push(m);
          contexts.push(slot.value);
        }
      } else status = s === NDIS_STATUS_ALREADY_COMPLETE ? NDIS_STATUS_SUCCESS : s;
    }
    status ??= callMiniportSync(n, b, request, irql);
    for (let j = passed.length - 1; j >= 0; j--)
      status = callFilterSyncComplete(n, passed[j]!, request, status, contexts[j], irql);
  } finally {
    removeFrom(b.syncOids, request);
  }
  return status;
}

function callFilterSync(
  n: Ndis,
  m: FilterModule,
  h: RequestHandler,
  request: NDIS_OID_REQUEST,
  slot: NDIS_OUT<unknown>,
  irql: number,
): number {
  const b = m.block;
  const fn = 'FilterSynchronousOidRequest';
  const f = n.enter(
    b,
    m.driver.name,
    fn,
    irql,
    n.trace.on ? { module: m.name, Oid: oidName(request.DATA.Oid) } : undefined,
  );
  let status: number;
  try {
    status = h(m.context, request, slot);
  } catch (e) {
    n.driverThrew(e, fn, b);
  }
  n.leave(f, status);
  // nf-ndis-filter_synchronous_oid_request: it must not pend; the OID page: the entry
  // point bug checks when it sees NDIS_STATUS_PENDING.
  if (status === NDIS_STATUS_PENDING)
    n.verifier.fatal(
      'NdisSim_SyncOid',
      fn,
      b.name,
      `${fn} of ${m.name} returned NDIS_STATUS_PENDING for ${oidText(request.DATA.Oid)}: a synchronous OID request cannot be pended (nf-ndis-filter_synchronous_oid_request); NDIS bug checks`,
      ruleParams('synchronous OID request pended', b),
    );
  return status;
}

function callFilterSyncComplete(
  n: Ndis,
  m: FilterModule,
  request: NDIS_OID_REQUEST,
  status: number,
  callContext: unknown,
  irql: number,
): number {
  const b = m.block;
  const fn = 'FilterSynchronousOidRequestComplete';
  const h = m.driver.chars.SynchronousOidRequestCompleteHandler as CompleteHandler;
  const box: NDIS_OUT<number> = { value: status };
  const f = n.enter(
    b,
    m.driver.name,
    fn,
    irql,
    n.trace.on
      ? { module: m.name, Oid: oidName(request.DATA.Oid), status, ...oidLengths(request) }
      : undefined,
  );
  let returned: unknown;
  try {
    returned = h(m.context, request, box, callContext);
  } catch (e) {
    n.driverThrew(e, fn, b);
  }
  n.leaveVoid(f, returned);
  const s = box.value;
  if (s === NDIS_STATUS_PENDING || s === NDIS_STATUS_ALREADY_COMPLETE) {
    syncViolation(
      n,
      b,
      fn,
      `${fn} of ${m.name} wrote ${statusText(s)} to *Status for ${oidText(request.DATA.Oid)}: a filter must not write NDIS_STATUS_PENDING or NDIS_STATUS_ALREADY_COMPLETE there (nf-ndis-filter_synchronous_oid_request_complete); the model keeps ${statusText(status)}`,
    );
    return status;
  }
  return s;
}

function callMiniportSync(n: Ndis, b: MiniportBlock, request: NDIS_OID_REQUEST, irql: number): number {
  const h = b.driver.chars.SynchronousOidRequestHandler as MiniportHandler | null | undefined;
  // The pages are silent (option syncOidNoHandler).
  if (h == null)
    return noHandlerAnswer(
      n,
      b,
      request,
      n.options.syncOidNoHandler,
      'synchronous',
      'MiniportSynchronousOidRequest',
    );
  const fn = 'MiniportSynchronousOidRequest';
  const afterRemoval = b.removalNotified !== null;
  const f = n.enter(b, b.driver.name, fn, irql, n.trace.on ? { Oid: oidName(request.DATA.Oid) } : undefined);
  let status: number;
  try {
    status = h(b.context, request);
  } catch (e) {
    n.driverThrew(e, fn, b);
  }
  n.leave(f, status);
  if (status === NDIS_STATUS_PENDING)
    n.verifier.fatal(
      'NdisSim_SyncOid',
      fn,
      b.name,
      `${fn} returned NDIS_STATUS_PENDING for ${oidText(request.DATA.Oid)}: a synchronous OID request cannot be pended (nf-ndis-miniport_synchronous_oid_request); NDIS bug checks (oid-gen-rss-set-indirection-table-entries)`,
      ruleParams('synchronous OID request pended', b),
    );
  if (status === NDIS_STATUS_REQUEST_ABORTED)
    syncViolation(
      n,
      b,
      fn,
      `${fn} returned NDIS_STATUS_REQUEST_ABORTED for ${oidText(request.DATA.Oid)}: a synchronous OID request cannot be cancelled, so a miniport never aborts one (nf-ndis-miniport_synchronous_oid_request)`,
    );
  if (afterRemoval && status !== NDIS_STATUS_NOT_ACCEPTED)
    notAcceptedExpected(n, b, 2, `synchronous ${oidText(request.DATA.Oid)}`, fn, status);
  return status;
}

/**
 * A synchronous OID request NDIS itself issues (the scenario's `oid` action with
 * `synchronous: true`): a method request, from above the topmost module, at
 * DISPATCH_LEVEL. `value` is its input buffer, in `DATA.METHOD_INFORMATION`:
 * InputBufferLength is the buffer's length, and so is OutputBufferLength, since the
 * miniport answers OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES in the same structure
 * (each entry's EntryStatus; ns-ntddndis-_ndis_rss_set_indirection_entry). MethodId
 * stays 0: the OID's page names no method.
 */
export function issueSyncOid(
  n: Ndis,
  b: MiniportBlock,
  oid: number,
  value: unknown,
  bufferLength?: number,
): void {
  const request = ndisRequest(n, true, oid, value, bufferLength ?? (value === null ? 0 : 4));
  request.RequestType = NdisRequestMethod;
  const m = request.DATA.METHOD_INFORMATION;
  m.OutputBufferLength = m.InputBufferLength;
  const s = submitSync(n, b, request, { kind: 'ndis', restore: false, done: () => {} });
  if (n.trace.on)
    n.traceNdis(b, 'synchronous OID request completed', {
      Oid: oidName(oid),
      status: s,
      ...oidLengths(request),
    });
}

/**
 * Why NDIS does not see a driver's synchronous OID handlers, or null. The fields come
 * with revision 3 of the characteristics (NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3,
 * NDIS_FILTER_CHARACTERISTICS_REVISION_3, "for NDIS 6.80"): NDIS reads a structure only
 * as far as its declared revision, and the interface is NDIS 6.80's. The pages do not
 * say what NDIS does with such a driver; the model ignores the handlers and warns
 * (docs/decisions.md).
 */
export function syncHandlersUnseen(c: {
  Header: { Revision: number };
  MajorNdisVersion: number;
  MinorNdisVersion: number;
}): string | null {
  if (c.Header.Revision < 3)
    return `its characteristics have Header.Revision ${c.Header.Revision}; the synchronous OID handlers are fields of revision 3 (NDIS 6.80), beyond what NDIS reads`;
  if (c.MajorNdisVersion === 6 && c.MinorNdisVersion < 80)
    return `it declares NDIS 6.${c.MinorNdisVersion}; the synchronous OID interface is NDIS 6.80 and later`;
  return null;
}
