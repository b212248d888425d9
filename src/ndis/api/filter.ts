// The DDIs of NDIS filter drivers that the model has (07-protocols-filters.md, R7.5–R7.7):
// registration, the module's attributes, the completions of a pended pause or restart,
// and the forwarding of PnP events through the stack.

import { Irql } from '../../kernel/kernel.ts';
import { fmtTime } from '../../report/format.ts';
import { statusText } from '../../verifier/bugcheck.ts';
import {
  attachInRegistration,
  detachInDriverEntry,
  type FILTER_SET_OPTIONS,
  FilterDriverBlock,
  FilterModule,
  finishFilterPause,
  finishFilterRestart,
  forwardDeviceEventBelow,
  forwardNetEventAbove,
  type NDIS_FILTER_ATTRIBUTES,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NET_PNP_EVENT_NOTIFICATION,
  requestFilterRestart,
} from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  NDIS_FILTER_ATTRIBUTES_REVISION_1,
  NDIS_FILTER_CHARACTERISTICS_REVISION_2,
  NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES,
  NDIS_OBJECT_TYPE_FILTER_DRIVER_CHARACTERISTICS,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_SUCCESS,
} from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import { syncHandlersUnseen } from '../sync-oid.ts';
import type { DRIVER_OBJECT, NDIS_HANDLE, NDIS_STATUS, NET_DEVICE_PNP_EVENT } from '../types.ts';
import { currentNdis, registrationDone, staleModule } from './common.ts';
import { checkDevicesAtDeregistration } from './device.ts';
import { headerRefusal, type Refusal } from './driver.ts';

const irql = {
  NdisFRegisterFilterDriver: ddiIrql.NdisFRegisterFilterDriver!,
  NdisFDeregisterFilterDriver: ddiIrql.NdisFDeregisterFilterDriver!,
  NdisFSetAttributes: ddiIrql.NdisFSetAttributes!,
  NdisFPauseComplete: ddiIrql.NdisFPauseComplete!,
  NdisFRestartComplete: ddiIrql.NdisFRestartComplete!,
  NdisFNetPnPEvent: ddiIrql.NdisFNetPnPEvent!,
  NdisFDevicePnPEventNotify: ddiIrql.NdisFDevicePnPEventNotify!,
  NdisFRestartFilter: ddiIrql.NdisFRestartFilter!,
};

/** Why the characteristics are refused, with the status NDIS returns, or null. */
function checkFilterCharacteristics(c: NDIS_FILTER_DRIVER_CHARACTERISTICS): Refusal | null {
  const header = headerRefusal(
    c,
    NDIS_OBJECT_TYPE_FILTER_DRIVER_CHARACTERISTICS,
    'FILTER_DRIVER_CHARACTERISTICS',
    3,
  );
  if (header !== null) return header;
  if (typeof c.AttachHandler !== 'function')
    return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: 'AttachHandler is missing' };
  if (typeof c.DetachHandler !== 'function')
    return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: 'DetachHandler is missing' };
  if (typeof c.RestartHandler !== 'function')
    return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: 'RestartHandler is missing' };
  if (typeof c.PauseHandler !== 'function')
    return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: 'PauseHandler is missing' };
  for (const h of [
    'SetOptionsHandler',
    'SetFilterModuleOptionsHandler',
    'NetPnPEventHandler',
    'DevicePnPEventNotifyHandler',
    'OidRequestHandler',
    'OidRequestCompleteHandler',
    'CancelOidRequestHandler',
    'StatusHandler',
    'SendNetBufferListsHandler',
    'SendNetBufferListsCompleteHandler',
    'CancelSendNetBufferListsHandler',
    'ReceiveNetBufferListsHandler',
    'ReturnNetBufferListsHandler',
    'DirectOidRequestHandler',
    'DirectOidRequestCompleteHandler',
    'CancelDirectOidRequestHandler',
    'SynchronousOidRequestHandler',
    'SynchronousOidRequestCompleteHandler',
  ] as const) {
    const v = c[h];
    if (v != null && typeof v !== 'function')
      return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: `${h} is neither a routine nor NULL` };
  }
  // nc-ndis-filter_oid_request(_complete): a driver that has one of the two must have the other.
  if ((c.OidRequestHandler == null) !== (c.OidRequestCompleteHandler == null))
    return {
      status: NDIS_STATUS_BAD_CHARACTERISTICS,
      why: 'FilterOidRequest and FilterOidRequestComplete come together: one is NULL, the other is not',
    };
  // nc-ndis-filter_direct_oid_request(_complete): the same for the direct pair; a cancel
  // handler without them has nothing to cancel.
  const direct = c.Header.Revision >= NDIS_FILTER_CHARACTERISTICS_REVISION_2;
  if (direct && (c.DirectOidRequestHandler == null) !== (c.DirectOidRequestCompleteHandler == null))
    return {
      status: NDIS_STATUS_BAD_CHARACTERISTICS,
      why: 'FilterDirectOidRequest and FilterDirectOidRequestComplete come together: one is NULL, the other is not',
    };
  if (direct && c.CancelDirectOidRequestHandler != null && c.DirectOidRequestHandler == null)
    return {
      status: NDIS_STATUS_BAD_CHARACTERISTICS,
      why: 'FilterCancelDirectOidRequest without FilterDirectOidRequest',
    };
  if (typeof c.UniqueName !== 'string' || !/^\{[0-9a-fA-F-]{36}\}$/.test(c.UniqueName))
    return { status: NDIS_STATUS_INVALID_PARAMETER, why: 'UniqueName is not a GUID in braces' };
  return null;
}

/**
 * NDIS_STATUS NdisFRegisterFilterDriver(DriverObject, FilterDriverContext,
 * FilterDriverCharacteristics, *NdisFilterDriverHandle). PASSIVE, from DriverEntry.
 * NDIS copies the characteristics; the driver must be ready for FilterAttach at once.
 */
export function NdisFRegisterFilterDriver<C = unknown, D = unknown>(
  DriverObject: DRIVER_OBJECT,
  FilterDriverContext: D,
  FilterDriverCharacteristics: NDIS_FILTER_DRIVER_CHARACTERISTICS<C, D>,
): { Status: NDIS_STATUS; NdisFilterDriverHandle: NDIS_HANDLE | null } {
  const ddi = 'NdisFRegisterFilterDriver';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisFRegisterFilterDriver, ddi, null);
  const c = FilterDriverCharacteristics as NDIS_FILTER_DRIVER_CHARACTERISTICS;
  const mod = n.loading;
  if (mod === null || n.loadingObject !== DriverObject) {
    n.verifier.report(
      'NdisSim_FilterRegistration',
      ddi,
      null,
      `${ddi} called outside the filter driver's DriverEntry, or with another DRIVER_OBJECT than the one DriverEntry got`,
    );
    return { Status: NDIS_STATUS_INVALID_PARAMETER, NdisFilterDriverHandle: null };
  }
  const bad = checkFilterCharacteristics(c);
  let status: number = bad?.status ?? NDIS_STATUS_SUCCESS;
  if (bad !== null)
    n.filterRefusal = { name: mod.name, why: `${ddi} returned ${statusText(status)}: ${bad.why}` };
  let handle: FilterDriverBlock | null = null;
  if (bad === null) {
    if (n.filterDrivers.has(mod.name)) {
      status = NDIS_STATUS_FAILURE;
    } else {
      const copy = { ...c };
      // implementing-an-ndis-6-1-driver: the direct OID handlers are members of
      // NDIS_FILTER_DRIVER_CHARACTERISTICS from REVISION_2; NDIS does not read them in a
      // revision 1 structure, so the module is bypassed on the direct path.
      if (
        copy.Header.Revision < NDIS_FILTER_CHARACTERISTICS_REVISION_2 &&
        (copy.DirectOidRequestHandler != null ||
          copy.DirectOidRequestCompleteHandler != null ||
          copy.CancelDirectOidRequestHandler != null)
      ) {
        copy.DirectOidRequestHandler = undefined;
        copy.DirectOidRequestCompleteHandler = undefined;
        copy.CancelDirectOidRequestHandler = undefined;
        n.verifier.warn(
          'R2.1',
          ddi,
          null,
          `${mod.name} registers with Header.Revision 1 and sets direct OID handlers: those members come with NDIS_FILTER_CHARACTERISTICS_REVISION_2 (NDIS 6.1), so NDIS ignores them and passes direct requests by its modules (implementing-an-ndis-6-1-driver)`,
        );
      }
      // Synchronous OID handlers NDIS 6.80 would not see (sync-oid.ts, docs/decisions.md).
      if (c.SynchronousOidRequestHandler != null || c.SynchronousOidRequestCompleteHandler != null) {
        const unseen = syncHandlersUnseen(c);
        if (unseen !== null) {
          copy.SynchronousOidRequestHandler = null;
          copy.SynchronousOidRequestCompleteHandler = null;
          n.verifier.warn(
            'R7.5',
            ddi,
            null,
            `${mod.name} registers FilterSynchronousOidRequest(Complete), but ${unseen}: NDIS never calls them (nf-ndis-filter_synchronous_oid_request)`,
          );
        }
      }
      handle = new FilterDriverBlock(mod.name, DriverObject, copy, FilterDriverContext);
      n.filterDrivers.set(mod.name, handle);
      // nc-ndis-filter_receive_net_buffer_lists, nc-ndis-filter_return_net_buffer_lists:
      // a driver that provides either must provide FilterStatus. The pages put it on the
      // driver and give no status for it: a violation, and the registration stands.
      if (
        (c.ReceiveNetBufferListsHandler != null || c.ReturnNetBufferListsHandler != null) &&
        c.StatusHandler == null
      )
        n.verifier.report(
          'NdisSim_FilterRegistration',
          ddi,
          null,
          `${mod.name}: ${c.ReceiveNetBufferListsHandler != null ? 'FilterReceiveNetBufferLists' : 'FilterReturnNetBufferLists'} without FilterStatus; a filter driver that filters receives must provide FilterStatus (nc-ndis-filter_receive_net_buffer_lists)`,
        );
      // nc-ndis-set_options: NDIS calls FilterSetOptions inside the registration; a
      // failure fails the registration with the driver's status.
      const setOptions = c.SetOptionsHandler;
      if (typeof setOptions === 'function') {
        const s = callFilterSetOptions(n, handle, setOptions, FilterDriverContext);
        if (s !== NDIS_STATUS_SUCCESS) {
          n.filterDrivers.delete(mod.name);
          handle = null;
          status = s;
        }
      }
      if (handle !== null && n.earlyAttach !== null) attachInRegistration(n, handle);
    }
  }
  // A refusal is the driver's bug: its DriverEntry fails and no module attaches.
  registrationDone(
    n,
    ddi,
    mod.name,
    { FriendlyName: c.FriendlyName },
    status,
    bad,
    'nf-ndis-ndisfregisterfilterdriver',
  );
  return { Status: status, NdisFilterDriverHandle: handle };
}

/** FilterSetOptions (PASSIVE), where NdisSetOptionalHandlers takes the driver handle (api/filter-options.ts). */
function callFilterSetOptions(
  n: Ndis,
  d: FilterDriverBlock,
  h: FILTER_SET_OPTIONS,
  DriverContext: unknown,
): NDIS_STATUS {
  const f = n.enter(null, d.name, 'FilterSetOptions', Irql.Passive);
  let s: number;
  d.inSetOptions = true;
  try {
    s = h(d, DriverContext);
  } catch (e) {
    n.driverThrew(e, 'FilterSetOptions', null);
  } finally {
    d.inSetOptions = false;
  }
  n.leave(f, s);
  return s;
}

function filterDriverHandle(n: Ndis, h: unknown, ddi: string): FilterDriverBlock {
  if (h instanceof FilterDriverBlock) return h;
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: the handle is not a filter driver handle NDIS issued`,
  );
}

/** A module's NdisFilterHandle; a detached module's handle is stale (R7.5, staleModule). */
export function filterHandle(n: Ndis, h: unknown, ddi: string): FilterModule | null {
  if (!(h instanceof FilterModule))
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: the handle is not an NdisFilterHandle NDIS issued`,
    );
  return staleModule(h, ddi, n) ? null : h;
}

/**
 * VOID NdisFDeregisterFilterDriver(NdisFilterDriverHandle). PASSIVE, from the driver's
 * unload routine (rule NdisFDeregisterFilterDriver). Its modules are detached by then.
 */
export function NdisFDeregisterFilterDriver(NdisFilterDriverHandle: NDIS_HANDLE): void {
  const ddi = 'NdisFDeregisterFilterDriver';
  const n = currentNdis(ddi);
  const d = filterDriverHandle(n, NdisFilterDriverHandle, ddi);
  n.verifier.irql(irql.NdisFDeregisterFilterDriver, ddi, null);
  if (n.trace.on) n.traceDdi(ddi, null, { driver: d.name });
  if (d.deregistered) {
    n.verifier.report('NdisSim_FilterRegistration', ddi, null, `${d.name}: ${ddi} called twice`);
    return;
  }
  if (d.modules.length > 0 && !detachInDriverEntry(n, d)) {
    // Called from FilterDetach of one of its modules: say so, and where it belongs.
    const detaching = d.modules.find((m) => m.inDetach);
    n.verifier.report(
      'NdisSim_FilterRegistration',
      ddi,
      (detaching ?? d.modules[0]!).block.name,
      detaching !== undefined
        ? `${d.name}: ${ddi} called from FilterDetach of ${detaching.name}, with ${d.modules.length} filter module(s) still attached (that one included): a filter driver deregisters in its unload routine (FilterDriverUnload), which runs after NDIS has detached all its modules; FilterDetach frees only what belongs to its module (nf-ndis-ndisfderegisterfilterdriver, unloading-a-filter-driver)`
        : `${d.name}: ${ddi} with ${d.modules.length} filter module(s) still attached`,
    );
  }
  if (n.io !== null) checkDevicesAtDeregistration(n, d, ddi);
  d.deregistered = true;
  n.filterDrivers.delete(d.name);
}

/**
 * NDIS_STATUS NdisFSetAttributes(NdisFilterHandle, FilterModuleContext, FilterAttributes).
 * PASSIVE, inside FilterAttach: names the context NDIS passes to the module's handlers.
 * FAILURE outside FilterAttach (reported) or with a header that is not
 * NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, NDIS_FILTER_ATTRIBUTES_REVISION_1.
 */
export function NdisFSetAttributes(
  NdisFilterHandle: NDIS_HANDLE,
  FilterModuleContext: unknown,
  FilterAttributes: NDIS_FILTER_ATTRIBUTES,
): NDIS_STATUS {
  const ddi = 'NdisFSetAttributes';
  const n = currentNdis(ddi);
  const m = filterHandle(n, NdisFilterHandle, ddi);
  n.verifier.irql(irql.NdisFSetAttributes, ddi, m?.block.name ?? null);
  if (m === null) return NDIS_STATUS_FAILURE;
  let status: number = NDIS_STATUS_SUCCESS;
  if (!m.inAttach) {
    n.verifier.report(
      'NdisSim_FilterAttach',
      ddi,
      m.block.name,
      `${ddi} for ${m.name} outside its FilterAttach (R7.5)`,
    );
    status = NDIS_STATUS_FAILURE;
  } else if (
    FilterAttributes?.Header?.Type !== NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES ||
    FilterAttributes.Header.Revision !== NDIS_FILTER_ATTRIBUTES_REVISION_1
  ) {
    // The page's statuses are SUCCESS, RESOURCES and FAILURE ("none of the preceding").
    status = NDIS_STATUS_FAILURE;
  } else {
    m.context = FilterModuleContext;
    m.attributesSet = true;
  }
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name, result: status });
  return status;
}

/** VOID NdisFPauseComplete(NdisFilterHandle). <= DISPATCH: ends a pause FilterPause pended. */
export function NdisFPauseComplete(NdisFilterHandle: NDIS_HANDLE): void {
  const ddi = 'NdisFPauseComplete';
  const n = currentNdis(ddi);
  const m = filterHandle(n, NdisFilterHandle, ddi);
  n.verifier.irql(irql.NdisFPauseComplete, ddi, m?.block.name ?? null);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  const p = m.pending;
  if (p === null || p.kind !== 'pause' || p.completed) {
    // NdisFilterTimedPauseComplete: a pause completed twice, or none pending.
    n.verifier.report(
      'NdisFilterTimedPauseComplete',
      ddi,
      m.block.name,
      `${ddi} for ${m.name} with no pause pending (${m.state}): completed twice, or never pended (R7.6)`,
    );
    return;
  }
  p.completed = true;
  // Inside FilterPause the handler's return ends the pause (filter.ts).
  if (p.returned) {
    finishFilterPause(n, m);
    return;
  }
  const fn = n.runningFunction();
  if (fn !== 'FilterPause')
    p.completedBy = `${fn ?? m.driver.name} on CPU ${n.kernel.ctx.cpu} at ${fmtTime(n.now)}`;
}

/** VOID NdisFRestartComplete(NdisFilterHandle, Status). PASSIVE: ends a restart FilterRestart pended. */
export function NdisFRestartComplete(NdisFilterHandle: NDIS_HANDLE, Status: NDIS_STATUS): void {
  const ddi = 'NdisFRestartComplete';
  const n = currentNdis(ddi);
  const m = filterHandle(n, NdisFilterHandle, ddi);
  n.verifier.irql(irql.NdisFRestartComplete, ddi, m?.block.name ?? null);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name, Status });
  const p = m.pending;
  if (p === null || p.kind !== 'restart' || p.completed) {
    n.verifier.report(
      'NdisSim_FilterCompleteUnexpected',
      ddi,
      m.block.name,
      `${ddi} for ${m.name} with no restart pending (${m.state}) (R7.5)`,
    );
    return;
  }
  p.completed = true;
  p.status = Status;
  if (p.returned) finishFilterRestart(n, m, Status, ddi);
}

/**
 * NDIS_STATUS NdisFNetPnPEvent(NdisFilterHandle, NetPnPEventNotification). PASSIVE,
 * inside FilterNetPnPEvent: passes the event on to the drivers above the module
 * (R7.7) and returns their answer.
 */
export function NdisFNetPnPEvent(
  NdisFilterHandle: NDIS_HANDLE,
  NetPnPEventNotification: NET_PNP_EVENT_NOTIFICATION,
): NDIS_STATUS {
  const ddi = 'NdisFNetPnPEvent';
  const n = currentNdis(ddi);
  const m = filterHandle(n, NdisFilterHandle, ddi);
  n.verifier.irql(irql.NdisFNetPnPEvent, ddi, m?.block.name ?? null);
  if (m === null) return NDIS_STATUS_FAILURE;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  if (m.netEvent === null || m.netEvent.note !== NetPnPEventNotification) {
    n.verifier.report(
      'NdisSim_FilterForward',
      ddi,
      m.block.name,
      `${ddi} from ${m.name} outside its FilterNetPnPEvent, or with another notification than NDIS gave it (R7.7)`,
    );
    return NDIS_STATUS_FAILURE;
  }
  return forwardNetEventAbove(n, m);
}

/**
 * VOID NdisFDevicePnPEventNotify(NdisFilterHandle, NetDevicePnPEvent). PASSIVE, inside
 * FilterDevicePnPEventNotify: passes the device event on to the drivers below.
 */
export function NdisFDevicePnPEventNotify(
  NdisFilterHandle: NDIS_HANDLE,
  NetDevicePnPEvent: NET_DEVICE_PNP_EVENT,
): void {
  const ddi = 'NdisFDevicePnPEventNotify';
  const n = currentNdis(ddi);
  const m = filterHandle(n, NdisFilterHandle, ddi);
  n.verifier.irql(irql.NdisFDevicePnPEventNotify, ddi, m?.block.name ?? null);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  if (m.deviceEvent === null) {
    n.verifier.report(
      'NdisSim_FilterForward',
      ddi,
      m.block.name,
      `${ddi} from ${m.name} outside its FilterDevicePnPEventNotify (nf-ndis-ndisfdevicepnpeventnotify)`,
    );
    return;
  }
  forwardDeviceEventBelow(n, m, NetDevicePnPEvent);
}

/**
 * NDIS_STATUS NdisFRestartFilter(NdisFilterHandle). <= DISPATCH. NDIS schedules a pause and
 * then a restart of the module (its stack pauses with NDIS_PAUSE_FILTER_RESTART_STACK and
 * restarts), so the filter can change its attributes at run time. SUCCESS: the restart was
 * scheduled; FAILURE when the module's stack is not running (nothing to restart).
 */
export function NdisFRestartFilter(NdisFilterHandle: NDIS_HANDLE): NDIS_STATUS {
  const ddi = 'NdisFRestartFilter';
  const n = currentNdis(ddi);
  const m = filterHandle(n, NdisFilterHandle, ddi);
  n.verifier.irql(irql.NdisFRestartFilter, ddi, m?.block.name ?? null);
  if (m === null) return NDIS_STATUS_FAILURE;
  const status = m.state === 'Running' ? NDIS_STATUS_SUCCESS : NDIS_STATUS_FAILURE;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name, result: status });
  if (status === NDIS_STATUS_SUCCESS) requestFilterRestart(n, m);
  return status;
}
