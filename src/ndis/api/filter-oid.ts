// The DDIs of filter drivers on the OID and status paths (07-protocols-filters.md R7.5,
// R7.6; 06-oid-datapath.md R6.2–R6.4, R6.16): NdisFOidRequest, NdisFOidRequestComplete,
// NdisFCancelOidRequest, NdisAllocateCloneOidRequest, NdisFreeCloneOidRequest and
// NdisFIndicateStatus. The routing is in ../filter-oid.ts.

import { NotModelledError } from '../../errors.ts';
import { fmtTime } from '../../report/format.ts';
import { statusText } from '../../verifier/bugcheck.ts';
import { Binding, OidSourceHandle } from '../binding.ts';
import type { MiniportBlock } from '../block.ts';
import {
  cancelDirectBelow,
  directOids,
  directViolation,
  filterDirectCompleteUp,
  filterDirectState,
  submitDirect,
} from '../direct-oid.ts';
import type { FilterModule } from '../filter.ts';
import { cancelBelow, filterOidState, finishAtFilter, statusAbove } from '../filter-oid.ts';
import { type DdiIrql, ddiIrql } from '../generated/irql.ts';
import {
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
} from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import { cloneOidRequestData, oidName, oidText, ruleParams, submit } from '../oid.ts';
import { checkSyncRequest, submitSync, syncInFlight, syncViolation } from '../sync-oid.ts';
import type { NDIS_HANDLE, NDIS_OID_REQUEST, NDIS_STATUS, NDIS_STATUS_INDICATION, ULONG } from '../types.ts';
import { currentNdis, lockHeldUpCall } from './common.ts';
import { filterHandle } from './filter.ts';

/** A filter DDI's module: the one its handle names (null, reported, for a bad one), its IRQL checked. */
function checkedModule(n: Ndis, handle: NDIS_HANDLE, ddi: string, level: DdiIrql): FilterModule | null {
  const m = filterHandle(n, handle, ddi);
  n.verifier.irql(level, ddi, m?.block.name ?? null);
  return m;
}

/** The DDI's trace line, and R8.11: no spin lock held across a call up or down the stack. */
function traced(
  n: Ndis,
  ddi: string,
  b: MiniportBlock,
  data: Record<string, unknown>,
): Record<string, unknown> | null {
  const t = n.trace.on ? n.traceDdi(ddi, b, data) : null;
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, b.name, ddi, 'R8.11');
  return t;
}

/** The trace record of a DDI that returns a status, to which the status is added on return. */
interface TraceSlot {
  t: Record<string, unknown> | null;
}

/** `status`, after it went into the DDI's trace line (`= NDIS_STATUS_...`, as every DDI's). */
function traceResult(slot: TraceSlot, status: NDIS_STATUS): NDIS_STATUS {
  if (slot.t !== null) slot.t.result = statusText(status);
  return status;
}

const irql = {
  NdisFOidRequest: ddiIrql.NdisFOidRequest!,
  NdisFOidRequestComplete: ddiIrql.NdisFOidRequestComplete!,
  NdisFCancelOidRequest: ddiIrql.NdisFCancelOidRequest!,
  NdisAllocateCloneOidRequest: ddiIrql.NdisAllocateCloneOidRequest!,
  NdisFreeCloneOidRequest: ddiIrql.NdisFreeCloneOidRequest!,
  NdisFIndicateStatus: ddiIrql.NdisFIndicateStatus!,
  NdisFDirectOidRequest: ddiIrql.NdisFDirectOidRequest!,
  NdisFDirectOidRequestComplete: ddiIrql.NdisFDirectOidRequestComplete!,
  NdisFCancelDirectOidRequest: ddiIrql.NdisFCancelDirectOidRequest!,
  NdisFSynchronousOidRequest: ddiIrql.NdisFSynchronousOidRequest!,
};

/** nf-ndis-ndisfoidrequest: the states in which a module may issue requests (R7.5). */
function oidState(m: FilterModule): boolean {
  const s = m.state;
  return s === 'Paused' || s === 'Restarting' || s === 'Running' || s === 'Pausing';
}

function badRequest(n: Ndis, r: unknown, ddi: string, m: FilterModule): asserts r is NDIS_OID_REQUEST {
  const x = r as NDIS_OID_REQUEST | null;
  if (x === null || typeof x !== 'object' || x.DATA === null || typeof x.DATA !== 'object')
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      m.block.name,
      `${ddi}: the request of ${m.name} is not an NDIS_OID_REQUEST`,
    );
}

/**
 * The pages of NdisAllocateCloneOidRequest and NdisFreeCloneOidRequest allow an
 * intermediate driver's protocol binding as SourceHandle; the model's intermediate
 * drivers pass requests between their edges as copies of their own (mux-im), so a
 * binding handle there stops the run as not modelled rather than pass for a wild handle.
 */
function bindingSource(h: unknown, ddi: string): void {
  if (h instanceof Binding)
    throw new NotModelledError(
      ddi,
      `a protocol binding (${h.name}) as SourceHandle: the page allows an intermediate driver's binding, which the model does not take (an intermediate driver passes a request between its edges as a copy of its own); a filter passes its NdisFilterHandle`,
    );
}

/**
 * What NdisFOidRequest, NdisFDirectOidRequest and NdisFSynchronousOidRequest check
 * first: the module handle with the DDI's IRQL, the request, the trace line, and the
 * module's state (a module issues requests only when Paused, Restarting, Running or
 * Pausing: `page` names where that is said). The module, or null when the call fails.
 */
function issuingModule(
  ddi: string,
  handle: NDIS_HANDLE,
  level: DdiIrql,
  OidRequest: NDIS_OID_REQUEST,
  page: string,
  slot: TraceSlot,
): FilterModule | null {
  const n = currentNdis(ddi);
  const m = checkedModule(n, handle, ddi, level);
  if (m === null) return null;
  badRequest(n, OidRequest, ddi, m);
  slot.t = traced(n, ddi, m.block, { module: m.name, Oid: oidName(OidRequest.DATA.Oid) });
  if (oidState(m)) return m;
  n.verifier.report(
    'NdisSim_FilterState',
    ddi,
    m.block.name,
    m.inDetach
      ? `${ddi} from ${m.name} inside its FilterDetach: the module is Detached from the start of FilterDetach (detaching-a-filter-module), and a module issues requests only when Paused, Restarting, Running or Pausing (${page}); the request would complete after the module is gone`
      : `${ddi} from ${m.name} in the ${m.state} state: a module issues requests only when Paused, Restarting, Running or Pausing (${page})`,
  );
  return null;
}

/**
 * NDIS_STATUS NdisFOidRequest(NdisFilterHandle, OidRequest). <= DISPATCH. Passes a
 * request down: a clone of one FilterOidRequest got, or one the module originates.
 * PENDING: FilterOidRequestComplete follows; another status: the request is done
 * (NDIS answered it, or the adapter cannot take requests).
 */
export function NdisFOidRequest(NdisFilterHandle: NDIS_HANDLE, OidRequest: NDIS_OID_REQUEST): NDIS_STATUS {
  const slot: TraceSlot = { t: null };
  return traceResult(slot, fOidRequest(NdisFilterHandle, OidRequest, slot));
}

function fOidRequest(
  NdisFilterHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  slot: TraceSlot,
): NDIS_STATUS {
  const ddi = 'NdisFOidRequest';
  const m = issuingModule(ddi, NdisFilterHandle, irql.NdisFOidRequest, OidRequest, 'R7.5', slot);
  if (m === null) return NDIS_STATUS_FAILURE;
  const n = m.block.ndis;
  const b = m.block;
  if (m.driver.chars.OidRequestCompleteHandler == null) {
    n.verifier.report(
      'NdisSim_FilterOidComplete',
      ddi,
      b.name,
      `${ddi} from ${m.name}, whose driver registered no FilterOidRequestComplete: NDIS has no routine to complete the request with`,
    );
    return NDIS_STATUS_FAILURE;
  }
  if (OidRequest.Header?.Type !== NDIS_OBJECT_TYPE_OID_REQUEST) return NDIS_STATUS_INVALID_PARAMETER;
  const st = filterOidState(n, m);
  const cur = st.current;
  if (cur !== null && cur.request === OidRequest) {
    n.verifier.report(
      'NdisSim_FilterOidClone',
      ddi,
      b.name,
      `${m.name} passed down the very NDIS_OID_REQUEST (${oidText(OidRequest.DATA.Oid)}) its FilterOidRequest got; a filter forwards a clone from NdisAllocateCloneOidRequest (nc-ndis-filter_oid_request)`,
    );
  }
  st.issued.add(OidRequest);
  if (!st.clones.has(OidRequest)) st.own.add(OidRequest);
  const status = submit(n, b, OidRequest, { kind: 'filter', module: m });
  if (status !== NDIS_STATUS_PENDING) st.issued.delete(OidRequest);
  return status;
}

/**
 * VOID NdisFOidRequestComplete(NdisFilterHandle, OidRequest, Status). <= DISPATCH.
 * Completes the request FilterOidRequest pended (or is still handling); the
 * completion climbs to the driver above.
 */
export function NdisFOidRequestComplete(
  NdisFilterHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  Status: NDIS_STATUS,
): void {
  const ddi = 'NdisFOidRequestComplete';
  const n = currentNdis(ddi);
  const m = checkedModule(n, NdisFilterHandle, ddi, irql.NdisFOidRequestComplete);
  if (m === null) return;
  const b = m.block;
  traced(n, ddi, b, { module: m.name, Status });
  const r = m.oid?.current ?? null;
  if (r === null || r.request !== OidRequest || r.state === 'done' || r.state === 'queued') {
    const own = m.oid?.own.has(OidRequest) === true;
    n.verifier.report(
      'NdisSim_FilterOidComplete',
      ddi,
      b.name,
      own
        ? `${ddi} from ${m.name} for ${oidText(OidRequest.DATA.Oid)}, a request it originated with NdisFOidRequest: such a request ends in its own FilterOidRequestComplete, and the filter does not complete it up the stack (generating-oid-requests-from-an-ndis-filter-driver)`
        : `${ddi} from ${m.name} for ${requestText(OidRequest)} that is not in its FilterOidRequest nor pended by it: ${notHeldText(m, OidRequest)}`,
      ruleParams('filter OID request completed twice', b),
    );
    return;
  }
  // nc-ndis-filter_oid_request_complete: the filter frees its clone with
  // NdisFreeCloneOidRequest before it completes the original; the clone points into the
  // original's buffer, which the driver above may free once it has its completion.
  for (const [clone, original] of m.oid!.clones) {
    if (original !== OidRequest) continue;
    n.verifier.report(
      'NdisSim_FilterOidClone',
      ddi,
      b.name,
      `${ddi} from ${m.name} for ${oidText(OidRequest.DATA.Oid)} while its clone ${m.oid!.issued.has(clone) ? 'is still below (not completed yet)' : 'is not freed'}: a filter calls NdisFreeCloneOidRequest before it completes the original (nc-ndis-filter_oid_request_complete)`,
    );
    break;
  }
  if (Status === NDIS_STATUS_PENDING) {
    n.verifier.report(
      'NdisSim_FilterOidComplete',
      ddi,
      b.name,
      `${ddi} from ${m.name} with NDIS_STATUS_PENDING for ${oidText(OidRequest.DATA.Oid)}: a completion needs a final status`,
      ruleParams('filter OID request completed with NDIS_STATUS_PENDING', b),
    );
  }
  finishAtFilter(n, r, Status, 'complete');
}

/** `OID_X (0x...)` of a request, or "a request" when it has no DATA to read it from. */
function requestText(r: NDIS_OID_REQUEST): string {
  const oid = (r as NDIS_OID_REQUEST | null)?.DATA?.Oid;
  return typeof oid === 'number' ? `a request (${oidText(oid)})` : 'a request';
}

/**
 * Why module `m` does not hold `r`, from what NDIS knows of it: queued and not handed to
 * it yet; done with already (a completion, a final return, a cancel while queued: when);
 * one of its clones; or never handed to it.
 */
function notHeldText(m: FilterModule, r: NDIS_OID_REQUEST): string {
  const st = m.oid;
  if (st === null) return 'NDIS never handed it to its FilterOidRequest';
  if (st.queue.some((q) => q.request === r))
    return 'it is still queued for its FilterOidRequest (NDIS has not handed it to the module yet)';
  const f = st.finished.get(r);
  if (f !== undefined) {
    const at = fmtTime(f.ns);
    switch (f.via) {
      case 'complete':
        return `the module completed it already, with NdisFOidRequestComplete (${statusText(f.status)}) at ${at}: the request is completed twice`;
      case 'return':
        return `its FilterOidRequest completed it at ${at} by returning ${statusText(f.status)}, a final status: a request is completed by that return or, after PENDING, by NdisFOidRequestComplete, never by both (nc-ndis-filter_oid_request)`;
      case 'abort':
        return `NDIS completed it at ${at} with NDIS_STATUS_REQUEST_ABORTED: it was cancelled while queued for the module, before its FilterOidRequest got it`;
    }
  }
  if (st.clones.has(r))
    return "it is one of the module's clones (NdisAllocateCloneOidRequest): a clone's completion comes to its FilterOidRequestComplete, and the module completes the original it got in FilterOidRequest";
  return 'NDIS never handed it to its FilterOidRequest';
}

/**
 * VOID NdisFCancelOidRequest(NdisFilterHandle, RequestId). <= DISPATCH. Cancels the
 * requests with that RequestId that the module passed down.
 */
export function NdisFCancelOidRequest(NdisFilterHandle: NDIS_HANDLE, RequestId: unknown): void {
  const ddi = 'NdisFCancelOidRequest';
  const n = currentNdis(ddi);
  const m = checkedModule(n, NdisFilterHandle, ddi, irql.NdisFCancelOidRequest);
  if (m === null) return;
  traced(n, ddi, m.block, { module: m.name, RequestId: String(RequestId) });
  // nf-ndis-filter_synchronous_oid_request: a synchronous request is never cancelled.
  if (RequestId != null && m.block.syncOids.some((r) => r.RequestId === RequestId))
    syncViolation(
      n,
      m.block,
      ddi,
      `${m.name} cancels RequestId ${String(RequestId)}, the RequestId of a synchronous OID request on its way through the stack: synchronous requests cannot be cancelled, and filters must not try (nf-ndis-filter_synchronous_oid_request)`,
    );
  cancelBelow(n, m, RequestId);
}

/**
 * NDIS_STATUS NdisAllocateCloneOidRequest(SourceHandle, OidRequest, PoolTag,
 * *ClonedOidRequest). <= DISPATCH. A new NDIS_OID_REQUEST with everything of
 * `OidRequest` copied (its DATA too, as a separate structure over the same buffer).
 * SourceHandle: the filter module (the model has no intermediate drivers).
 */
export function NdisAllocateCloneOidRequest(
  SourceHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  PoolTag: ULONG,
): { Status: NDIS_STATUS; ClonedOidRequest: NDIS_OID_REQUEST | null } {
  const ddi = 'NdisAllocateCloneOidRequest';
  const n = currentNdis(ddi);
  bindingSource(SourceHandle, ddi);
  const m = filterHandle(n, SourceHandle, ddi);
  n.verifier.irql(irql.NdisAllocateCloneOidRequest, ddi, m?.block.name ?? null);
  if (m === null) return { Status: NDIS_STATUS_INVALID_PARAMETER, ClonedOidRequest: null };
  badRequest(n, OidRequest, ddi, m);
  // nf-ndis-filter_synchronous_oid_request: a synchronous request is never cloned.
  if (syncInFlight(m.block, OidRequest))
    syncViolation(
      n,
      m.block,
      ddi,
      `${m.name} clones ${oidText(OidRequest.DATA.Oid)}, a synchronous OID request: filters must not call ${ddi} on one; FilterSynchronousOidRequest lets it go on by returning NDIS_STATUS_SUCCESS (nf-ndis-filter_synchronous_oid_request)`,
    );
  const d = OidRequest.DATA.QUERY_INFORMATION;
  // The structure is copied (its reserved areas are the clone's own storage); its DATA
  // shares the original's buffer, as the copied InformationBuffer pointer does in C.
  const clone: NDIS_OID_REQUEST = {
    ...OidRequest,
    Header: { ...OidRequest.Header },
    DATA: cloneOidRequestData(OidRequest),
    MiniportReserved: [...(OidRequest.MiniportReserved ?? [null, null])] as [unknown, unknown],
    SourceReserved: [...(OidRequest.SourceReserved ?? [null, null])] as [unknown, unknown],
  };
  filterOidState(n, m).clones.set(clone, OidRequest);
  if (n.trace.on)
    n.traceDdi(ddi, m.block, { module: m.name, Oid: oidName(d.Oid), PoolTag, result: NDIS_STATUS_SUCCESS });
  return { Status: NDIS_STATUS_SUCCESS, ClonedOidRequest: clone };
}

/** VOID NdisFreeCloneOidRequest(SourceHandle, Request). <= DISPATCH. Frees a clone. */
export function NdisFreeCloneOidRequest(SourceHandle: NDIS_HANDLE, Request: NDIS_OID_REQUEST): void {
  const ddi = 'NdisFreeCloneOidRequest';
  const n = currentNdis(ddi);
  bindingSource(SourceHandle, ddi);
  const m = filterHandle(n, SourceHandle, ddi);
  n.verifier.irql(irql.NdisFreeCloneOidRequest, ddi, m?.block.name ?? null);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  const st = m.oid;
  if (st === null || !st.clones.has(Request)) {
    n.verifier.report(
      'NdisSim_FilterOidClone',
      ddi,
      m.block.name,
      `${ddi} from ${m.name} for a request that is not a clone NdisAllocateCloneOidRequest made for it, or one freed already`,
    );
    return;
  }
  if (st.issued.has(Request)) {
    n.verifier.report(
      'NdisSim_FilterOidClone',
      ddi,
      m.block.name,
      `${ddi} from ${m.name} for a clone (${oidText(Request.DATA.Oid)}) the drivers below have not completed yet: free it in FilterOidRequestComplete`,
    );
  }
  st.clones.delete(Request);
}

/**
 * VOID NdisFIndicateStatus(NdisFilterHandle, StatusIndication). <= DISPATCH. Passes on
 * an indication FilterStatus got, or originates one (SourceHandle: the module's
 * NdisFilterHandle), to the drivers above. Allowed once NdisFSetAttributes returned,
 * until FilterDetach returns (nf-ndis-ndisfindicatestatus).
 */
export function NdisFIndicateStatus(
  NdisFilterHandle: NDIS_HANDLE,
  StatusIndication: NDIS_STATUS_INDICATION,
): void {
  const ddi = 'NdisFIndicateStatus';
  const n = currentNdis(ddi);
  const m = checkedModule(n, NdisFilterHandle, ddi, irql.NdisFIndicateStatus);
  if (m === null) return;
  const b = m.block;
  const code = StatusIndication?.StatusCode;
  traced(n, ddi, b, { module: m.name, StatusCode: code });
  if (!m.attributesSet) {
    n.verifier.report(
      'NdisSim_FilterState',
      ddi,
      b.name,
      `${ddi} from ${m.name} before NdisFSetAttributes returned (${m.state}): a module indicates status only after it set its attributes`,
    );
    return;
  }
  const i = b.filters.indexOf(m);
  const at = i < 0 ? b.filters.length : i;
  const src = StatusIndication?.SourceHandle;
  const below =
    src === b ||
    (src !== m && b.filters.indexOf(src as FilterModule) >= 0 && b.filters.indexOf(src as FilterModule) < at);
  const dest = StatusIndication?.DestinationHandle;
  let to: FilterModule | Binding | undefined;
  let bad: string | null = null;
  if (StatusIndication?.Header?.Type !== NDIS_OBJECT_TYPE_STATUS_INDICATION)
    bad = 'Header.Type is not NDIS_OBJECT_TYPE_STATUS_INDICATION';
  else if (src !== m && !below)
    bad =
      'SourceHandle is neither the NdisFilterHandle of the module nor a driver below it that indicated it (R6.16)';
  else if (src === m && (code === NDIS_STATUS_RESET_START || code === NDIS_STATUS_RESET_END))
    bad = 'RESET_START and RESET_END are indicated by NDIS, never originated by a driver (R4.13)';
  else if (dest !== null && dest !== undefined) {
    const ok =
      dest instanceof OidSourceHandle &&
      StatusIndication.RequestId !== null &&
      StatusIndication.RequestId !== undefined &&
      (dest.module !== null
        ? dest.module.block === b && b.filters.indexOf(dest.module) > i
        : dest.binding !== null && dest.binding.block === b);
    if (!ok)
      bad =
        'DestinationHandle is not the RequestHandle of a request from a driver above the module, or RequestId is missing (R6.16)';
    else to = (dest as OidSourceHandle).module ?? (dest as OidSourceHandle).binding!;
  }
  if (bad !== null) {
    n.verifier.report('NdisSim_FilterStatusInvalid', ddi, b.name, `${m.name}: ${bad}`, [
      code ?? 0,
      `${m.name} filter module`,
      'StatusBuffer',
    ]);
    return;
  }
  statusAbove(n, m, StatusIndication, to);
}

/**
 * NDIS_STATUS NdisFDirectOidRequest(NdisFilterHandle, OidRequest). <= DISPATCH. NDIS
 * 6.1: passes a direct request down at once, a clone of one FilterDirectOidRequest got
 * or one the module originates (direct-oid.ts). PENDING: FilterDirectOidRequestComplete
 * follows; another status is the final one of the driver below.
 */
export function NdisFDirectOidRequest(
  NdisFilterHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
): NDIS_STATUS {
  const slot: TraceSlot = { t: null };
  return traceResult(slot, fDirectOidRequest(NdisFilterHandle, OidRequest, slot));
}

function fDirectOidRequest(
  NdisFilterHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  slot: TraceSlot,
): NDIS_STATUS {
  const ddi = 'NdisFDirectOidRequest';
  const m = issuingModule(
    ddi,
    NdisFilterHandle,
    irql.NdisFDirectOidRequest,
    OidRequest,
    'nf-ndis-ndisfdirectoidrequest',
    slot,
  );
  if (m === null) return NDIS_STATUS_FAILURE;
  const n = m.block.ndis;
  const b = m.block;
  if (m.driver.chars.DirectOidRequestCompleteHandler == null) {
    n.verifier.report(
      'NdisSim_FilterOidComplete',
      ddi,
      b.name,
      `${ddi} from ${m.name}, whose driver registered no FilterDirectOidRequestComplete: NDIS has no routine to complete the request with (nf-ndis-ndisfdirectoidrequest)`,
    );
    return NDIS_STATUS_FAILURE;
  }
  if (OidRequest.Header?.Type !== NDIS_OBJECT_TYPE_OID_REQUEST) return NDIS_STATUS_INVALID_PARAMETER;
  if (!directOids.has(OidRequest.DATA.Oid))
    directViolation(
      n,
      b,
      ddi,
      `${m.name} called ${ddi} with ${oidText(OidRequest.DATA.Oid)}, which the direct OID path does not allow: use NdisFOidRequest (nf-ndis-ndisfdirectoidrequest)`,
    );
  const st = filterDirectState(m);
  if (st.held.some((r) => r.request === OidRequest)) {
    n.verifier.report(
      'NdisSim_FilterOidClone',
      ddi,
      b.name,
      `${m.name} passed down the very NDIS_OID_REQUEST (${oidText(OidRequest.DATA.Oid)}) its FilterDirectOidRequest got; a filter forwards a clone from NdisAllocateCloneOidRequest (nc-ndis-filter_direct_oid_request)`,
    );
  }
  const ost = filterOidState(n, m);
  if (!ost.clones.has(OidRequest)) ost.own.add(OidRequest);
  st.issued.add(OidRequest);
  const status = submitDirect(n, b, OidRequest, { kind: 'filter', module: m });
  if (status !== NDIS_STATUS_PENDING) st.issued.delete(OidRequest);
  return status;
}

/**
 * VOID NdisFDirectOidRequestComplete(NdisFilterHandle, OidRequest, Status). <= DISPATCH.
 * Completes a direct request FilterDirectOidRequest pended; the completion goes on up.
 */
export function NdisFDirectOidRequestComplete(
  NdisFilterHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  Status: NDIS_STATUS,
): void {
  const ddi = 'NdisFDirectOidRequestComplete';
  const n = currentNdis(ddi);
  const m = checkedModule(n, NdisFilterHandle, ddi, irql.NdisFDirectOidRequestComplete);
  if (m === null) return;
  traced(n, ddi, m.block, { module: m.name, Status });
  filterDirectCompleteUp(n, m, OidRequest, Status);
}

/**
 * VOID NdisFCancelDirectOidRequest(NdisFilterHandle, RequestId). <= DISPATCH. Cancels
 * the direct requests with that RequestId the module passed down.
 */
export function NdisFCancelDirectOidRequest(NdisFilterHandle: NDIS_HANDLE, RequestId: unknown): void {
  const ddi = 'NdisFCancelDirectOidRequest';
  const n = currentNdis(ddi);
  const m = checkedModule(n, NdisFilterHandle, ddi, irql.NdisFCancelDirectOidRequest);
  if (m === null) return;
  traced(n, ddi, m.block, { module: m.name, RequestId: String(RequestId) });
  cancelDirectBelow(n, m, RequestId);
}

/**
 * NDIS_STATUS NdisFSynchronousOidRequest(NdisFilterModuleHandle, OidRequest). <= DISPATCH.
 * NDIS 6.80: a request the module originates goes down through the modules below it to
 * MiniportSynchronousOidRequest and back up before the call returns (sync-oid.ts);
 * never PENDING, no completion handler needed. A request the module received on the
 * synchronous path is not passed on this way: its handler returns SUCCESS instead.
 */
export function NdisFSynchronousOidRequest(
  NdisFilterModuleHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
): NDIS_STATUS {
  const slot: TraceSlot = { t: null };
  return traceResult(slot, fSynchronousOidRequest(NdisFilterModuleHandle, OidRequest, slot));
}

function fSynchronousOidRequest(
  NdisFilterModuleHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  slot: TraceSlot,
): NDIS_STATUS {
  const ddi = 'NdisFSynchronousOidRequest';
  const m = issuingModule(
    ddi,
    NdisFilterModuleHandle,
    irql.NdisFSynchronousOidRequest,
    OidRequest,
    'R7.5',
    slot,
  );
  if (m === null) return NDIS_STATUS_FAILURE;
  const n = m.block.ndis;
  const b = m.block;
  if (OidRequest.Header?.Type !== NDIS_OBJECT_TYPE_OID_REQUEST) return NDIS_STATUS_INVALID_PARAMETER;
  if (syncInFlight(b, OidRequest))
    syncViolation(
      n,
      b,
      ddi,
      `${m.name} called ${ddi} with ${oidText(OidRequest.DATA.Oid)}, a synchronous request already on its way through the stack: a filter must not reissue a request its FilterSynchronousOidRequest(Complete) received; it returns NDIS_STATUS_SUCCESS to let it go on (nf-ndis-filter_synchronous_oid_request)`,
    );
  checkSyncRequest(
    n,
    b,
    ddi,
    m.name,
    m.driver.chars.MajorNdisVersion * 100 + m.driver.chars.MinorNdisVersion,
    OidRequest,
  );
  return submitSync(n, b, OidRequest, { kind: 'filter', module: m });
}
