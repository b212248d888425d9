// The data-path DDIs of filter drivers (07-protocols-filters.md R7.5, R7.6;
// 06-oid-datapath.md): a module passes sends down and receives up, or originates its
// own, and gives back what it got. The routing and the checks are in datapath.ts.

import * as data from '../datapath.ts';
import type { FilterModule } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import type { NET_BUFFER_LIST } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import type { NDIS_HANDLE, NDIS_PORT_NUMBER, ULONG } from '../types.ts';
import { currentNdis, lockHeldUpCall, nullChain } from './common.ts';
import { filterHandle } from './filter.ts';

const irql = {
  NdisFSendNetBufferLists: ddiIrql.NdisFSendNetBufferLists!,
  NdisFSendNetBufferListsComplete: ddiIrql.NdisFSendNetBufferListsComplete!,
  NdisFIndicateReceiveNetBufferLists: ddiIrql.NdisFIndicateReceiveNetBufferLists!,
  NdisFReturnNetBufferLists: ddiIrql.NdisFReturnNetBufferLists!,
  NdisFCancelSendNetBufferLists: ddiIrql.NdisFCancelSendNetBufferLists!,
};

/** The module behind an NdisFilterHandle (filterHandle), after the IRQL check; null (reported) once it is detached. */
function moduleHandle(h: unknown, ddi: keyof typeof irql): { n: Ndis; m: FilterModule | null } {
  const n = currentNdis(ddi);
  const m = filterHandle(n, h, ddi);
  // filterHandle has bug-checked anything that is not a module handle.
  const adapter = (h as FilterModule).block.name;
  n.verifier.irql(irql[ddi], ddi, adapter);
  // R8.11: each of these runs the drivers above or below, which may call back into the module.
  if (m !== null && n.kernel.ctx.held.length > 0) lockHeldUpCall(n, adapter, ddi, 'R8.11');
  return { n, m };
}

/**
 * VOID NdisFSendNetBufferLists(NdisFilterHandle, NetBufferList, PortNumber, SendFlags).
 * <= DISPATCH. Passes sends the module got in FilterSendNetBufferLists on to the drivers
 * below, or sends NBLs it originated (SourceHandle = NdisFilterHandle); either way they
 * come back to its FilterSendNetBufferListsComplete.
 */
export function NdisFSendNetBufferLists(
  NdisFilterHandle: NDIS_HANDLE,
  NetBufferList: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  SendFlags: ULONG,
): void {
  const ddi = 'NdisFSendNetBufferLists';
  const { n, m } = moduleHandle(NdisFilterHandle, ddi);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  data.noteLoopback(n, ddi, m.driver.name, SendFlags);
  nullChain(n, NetBufferList, ddi, 'NetBufferList', m.block.name);
  data.filterSend(n, m, NetBufferList, PortNumber, SendFlags);
}

/**
 * VOID NdisFSendNetBufferListsComplete(NdisFilterHandle, NetBufferList, SendCompleteFlags).
 * <= DISPATCH. Gives sends from above back to the drivers above (their Status set),
 * whether the module passed them on first or not.
 */
export function NdisFSendNetBufferListsComplete(
  NdisFilterHandle: NDIS_HANDLE,
  NetBufferList: NET_BUFFER_LIST | null,
  SendCompleteFlags: ULONG,
): void {
  const ddi = 'NdisFSendNetBufferListsComplete';
  const { n, m } = moduleHandle(NdisFilterHandle, ddi);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  nullChain(n, NetBufferList, ddi, 'NetBufferList', m.block.name);
  data.filterSendComplete(n, m, NetBufferList, SendCompleteFlags);
}

/**
 * VOID NdisFIndicateReceiveNetBufferLists(NdisFilterHandle, NetBufferLists, PortNumber,
 * NumberOfNetBufferLists, ReceiveFlags). <= DISPATCH. Passes receives the module got in
 * FilterReceiveNetBufferLists on to the drivers above, or indicates NBLs it originated.
 * Without NDIS_RECEIVE_FLAGS_RESOURCES they come back to its FilterReturnNetBufferLists;
 * with it, they are the module's again when the call returns.
 */
export function NdisFIndicateReceiveNetBufferLists(
  NdisFilterHandle: NDIS_HANDLE,
  NetBufferLists: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  NumberOfNetBufferLists: ULONG,
  ReceiveFlags: ULONG,
): void {
  const ddi = 'NdisFIndicateReceiveNetBufferLists';
  const { n, m } = moduleHandle(NdisFilterHandle, ddi);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name, count: NumberOfNetBufferLists });
  nullChain(n, NetBufferLists, ddi, 'NetBufferLists', m.block.name);
  data.filterIndicate(n, m, NetBufferLists, PortNumber, NumberOfNetBufferLists, ReceiveFlags);
}

/**
 * VOID NdisFReturnNetBufferLists(NdisFilterHandle, NetBufferLists, ReturnFlags).
 * <= DISPATCH. Gives receives the module got without NDIS_RECEIVE_FLAGS_RESOURCES back
 * to the driver below that indicated them.
 */
export function NdisFReturnNetBufferLists(
  NdisFilterHandle: NDIS_HANDLE,
  NetBufferLists: NET_BUFFER_LIST | null,
  ReturnFlags: ULONG,
): void {
  const ddi = 'NdisFReturnNetBufferLists';
  const { n, m } = moduleHandle(NdisFilterHandle, ddi);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  nullChain(n, NetBufferLists, ddi, 'NetBufferLists', m.block.name);
  data.filterReturn(n, m, NetBufferLists, ReturnFlags);
}

/**
 * VOID NdisFCancelSendNetBufferLists(NdisFilterHandle, CancelId). <= DISPATCH. Passes a
 * cancel on to the drivers below (their FilterCancelSendNetBufferLists, then
 * MiniportCancelSend); what they cancel comes back with NDIS_STATUS_SEND_ABORTED.
 */
export function NdisFCancelSendNetBufferLists(NdisFilterHandle: NDIS_HANDLE, CancelId: unknown): void {
  const ddi = 'NdisFCancelSendNetBufferLists';
  const { n, m } = moduleHandle(NdisFilterHandle, ddi);
  if (m === null) return;
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  data.filterCancelSend(n, m, CancelId);
}
