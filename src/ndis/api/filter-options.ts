// NdisSetOptionalHandlers for filter drivers (07-protocols-filters.md): with the filter
// driver handle inside FilterSetOptions, and with a module's NdisFilterHandle inside
// FilterSetModuleOptions, where NDIS_FILTER_PARTIAL_CHARACTERISTICS sets the data
// handlers of that module alone (data bypass mode). NdisSetOptionalHandlers
// (api/driver.ts) hands filter handles here.

import { NotModelledError } from '../../errors.ts';
import {
  type FilterDataHandlers,
  FilterDriverBlock,
  FilterModule,
  type NDIS_FILTER_PARTIAL_CHARACTERISTICS,
} from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  NDIS_FILTER_PARTIAL_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_FILTER_PARTIAL_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
} from '../generated/status.ts';
import { describe, type Ndis } from '../ndis.ts';
import type { NDIS_DRIVER_OPTIONAL_HANDLERS, NDIS_STATUS } from '../types.ts';
import { staleModule } from './common.ts';

const irql = ddiIrql.NdisSetOptionalHandlers!;
const ddi = 'NdisSetOptionalHandlers';

/** The TCP chimney sets a filter may pass (the NdisSetOptionalHandlers page); the model has no chimney offload. */
const chimneySets: ReadonlySet<number> = new Set([
  NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_CHARACTERISTICS,
]);

const partialHandlerNames = [
  'SendNetBufferListsHandler',
  'SendNetBufferListsCompleteHandler',
  'CancelSendNetBufferListsHandler',
  'ReceiveNetBufferListsHandler',
  'ReturnNetBufferListsHandler',
] as const;

/**
 * NdisSetOptionalHandlers with a filter handle: `h` is the NdisFilterDriverHandle NDIS
 * passed to FilterSetOptions, or a module's NdisFilterHandle. A call outside those
 * handlers, a structure a filter may not pass there, a wrong revision or a member that
 * is not a routine is NdisSim_OptionalHandlers, and the call returns
 * NDIS_STATUS_FAILURE without changing anything.
 */
export function filterSetOptionalHandlers(
  n: Ndis,
  h: FilterDriverBlock | FilterModule,
  OptionalHandlers: NDIS_DRIVER_OPTIONAL_HANDLERS,
): NDIS_STATUS {
  const m = h instanceof FilterModule ? h : null;
  const adapter = m?.block.name ?? null;
  n.verifier.irql(irql, ddi, adapter);
  if (m !== null && staleModule(m, ddi, n)) return NDIS_STATUS_FAILURE;
  const type: unknown = OptionalHandlers?.Header?.Type;
  const tr = n.trace.on
    ? n.traceDdi(
        ddi,
        m?.block ?? null,
        m !== null ? { module: m.name, Type: type } : { driver: h.name, Type: type },
      )
    : null;
  const why =
    m !== null
      ? moduleSetRejected(m, type, OptionalHandlers)
      : driverSetRejected(h as FilterDriverBlock, type);
  let status: number = NDIS_STATUS_SUCCESS;
  if (why !== null) {
    n.verifier.report('NdisSim_OptionalHandlers', ddi, adapter, `${m?.name ?? h.name}: ${why}`);
    status = NDIS_STATUS_FAILURE;
  } else {
    const p = OptionalHandlers as NDIS_FILTER_PARTIAL_CHARACTERISTICS;
    // A copy: the entry points are those of this call. They take effect when
    // FilterSetModuleOptions returns SUCCESS (filter.ts).
    const set: FilterDataHandlers = {
      SendNetBufferListsHandler: p.SendNetBufferListsHandler ?? null,
      SendNetBufferListsCompleteHandler: p.SendNetBufferListsCompleteHandler ?? null,
      CancelSendNetBufferListsHandler: p.CancelSendNetBufferListsHandler ?? null,
      ReceiveNetBufferListsHandler: p.ReceiveNetBufferListsHandler ?? null,
      ReturnNetBufferListsHandler: p.ReturnNetBufferListsHandler ?? null,
    };
    m!.setModuleOptions!.set = set;
    // nc-ndis-filter_receive_net_buffer_lists, nc-ndis-filter_return_net_buffer_lists: a
    // driver that filters receives must provide FilterStatus. As at registration, the
    // set stands.
    if (
      (set.ReceiveNetBufferListsHandler != null || set.ReturnNetBufferListsHandler != null) &&
      m!.driver.chars.StatusHandler == null
    )
      n.verifier.report(
        'NdisSim_OptionalHandlers',
        ddi,
        adapter,
        `${m!.name}: a partial set with ${set.ReceiveNetBufferListsHandler != null ? 'FilterReceiveNetBufferLists' : 'FilterReturnNetBufferLists'} for a driver without FilterStatus; a filter driver that filters receives must provide FilterStatus (nc-ndis-filter_receive_net_buffer_lists)`,
      );
  }
  if (tr !== null) tr.result = describe(status);
  return status;
}

/** With the filter driver handle: inside FilterSetOptions, where no set the model has is valid. */
function driverSetRejected(d: FilterDriverBlock, type: unknown): string {
  if (!d.inSetOptions)
    return `${ddi} with the filter driver handle outside FilterSetOptions, the one place a filter driver may call it with that handle`;
  if (typeof type !== 'number') return `${ddi}: OptionalHandlers has no NDIS_OBJECT_HEADER`;
  if (chimneySets.has(type))
    throw new NotModelledError(ddi, 'TCP chimney offload characteristics are not modelled');
  if (type === NDIS_OBJECT_TYPE_FILTER_PARTIAL_CHARACTERISTICS)
    return `${ddi}: NDIS_FILTER_PARTIAL_CHARACTERISTICS sets the handlers of one filter module: pass its NdisFilterHandle, from FilterSetModuleOptions (nf-ndis-ndissetoptionalhandlers)`;
  return `${ddi}: Header.Type 0x${type.toString(16)} is not a characteristics structure a filter driver may register (there are no optional filter driver services; nc-ndis-set_options)`;
}

/** With a module's NdisFilterHandle: inside its FilterSetModuleOptions, NDIS_FILTER_PARTIAL_CHARACTERISTICS. */
function moduleSetRejected(m: FilterModule, type: unknown, o: NDIS_DRIVER_OPTIONAL_HANDLERS): string | null {
  if (m.setModuleOptions === null)
    return `${ddi} with the NdisFilterHandle outside the module's FilterSetModuleOptions, the one place a filter may change a module's handlers (nc-ndis-filter_set_module_options)`;
  if (typeof type !== 'number') return `${ddi}: OptionalHandlers has no NDIS_OBJECT_HEADER`;
  if (chimneySets.has(type))
    throw new NotModelledError(ddi, 'TCP chimney offload characteristics are not modelled');
  if (type !== NDIS_OBJECT_TYPE_FILTER_PARTIAL_CHARACTERISTICS)
    return `${ddi}: Header.Type 0x${type.toString(16)} is not a characteristics structure a filter module may register (NDIS_FILTER_PARTIAL_CHARACTERISTICS)`;
  if (o.Header.Revision !== NDIS_FILTER_PARTIAL_CHARACTERISTICS_REVISION_1)
    return `${ddi}: NDIS_FILTER_PARTIAL_CHARACTERISTICS with Header.Revision ${o.Header.Revision}, not NDIS_FILTER_PARTIAL_CHARACTERISTICS_REVISION_1`;
  const p = o as NDIS_FILTER_PARTIAL_CHARACTERISTICS;
  for (const name of partialHandlerNames) {
    const f: unknown = p[name];
    if (f != null && typeof f !== 'function') return `${ddi}: ${name} is neither a routine nor NULL`;
  }
  return null;
}

/** The handle NdisSetOptionalHandlers got is a filter's (driver or module). */
export function isFilterHandle(h: unknown): h is FilterDriverBlock | FilterModule {
  return h instanceof FilterDriverBlock || h instanceof FilterModule;
}
