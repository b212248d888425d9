// The upper edge: what a protocol driver calls on a binding (NdisSendNetBufferLists,
// NdisReturnNetBufferLists, NdisOidRequest, the completion calls for what it pended).
// Protocols are modelled inside ndis-sim (src/stack), so these take the Binding as
// the NdisBindingHandle.

import type { Binding, NetEventCode } from './binding.ts';
import * as data from './datapath.ts';
import { NDIS_STATUS_PENDING } from './generated/status.ts';
import * as life from './lifecycle.ts';
import type { NET_BUFFER_LIST } from './nbl.ts';
import * as oid from './oid.ts';
import type { NDIS_OID_REQUEST, NDIS_STATUS } from './types.ts';

export function NdisSendNetBufferLists(
  NdisBindingHandle: Binding,
  NetBufferLists: NET_BUFFER_LIST,
  PortNumber: number,
  SendFlags: number,
): void {
  data.protocolSend(NdisBindingHandle.block.ndis, NdisBindingHandle, NetBufferLists, PortNumber, SendFlags);
}

export function NdisReturnNetBufferLists(
  NdisBindingHandle: Binding,
  NetBufferLists: NET_BUFFER_LIST,
  _ReturnFlags: number,
): void {
  data.protocolReturn(NdisBindingHandle.block.ndis, NdisBindingHandle, NetBufferLists);
}

export function NdisCancelSendNetBufferLists(NdisBindingHandle: Binding, CancelId: unknown): void {
  data.protocolCancelSend(NdisBindingHandle.block.ndis, NdisBindingHandle, CancelId);
}

/** Returns PENDING (ProtocolOidRequestComplete follows) or a failure for an adapter that cannot take requests. */
export function NdisOidRequest(NdisBindingHandle: Binding, OidRequest: NDIS_OID_REQUEST): NDIS_STATUS {
  const b = NdisBindingHandle.block;
  return oid.submit(b.ndis, b, OidRequest, { kind: 'binding', binding: NdisBindingHandle });
}

export function NdisCancelOidRequest(NdisBindingHandle: Binding, RequestId: unknown): void {
  oid.protocolCancel(NdisBindingHandle.block.ndis, NdisBindingHandle, RequestId);
}

/** Completes a NetPnPEvent (pause, restart) the protocol pended. */
export function NdisCompleteNetPnPEvent(
  NdisBindingHandle: Binding,
  _event: NetEventCode,
  Status: NDIS_STATUS,
): void {
  life.completeNetPnPEvent(NdisBindingHandle.block.ndis, NdisBindingHandle, Status);
}

export function NdisCompleteUnbindAdapterEx(UnbindContext: Binding): void {
  life.completeUnbind(UnbindContext.block.ndis, UnbindContext);
}

export function NdisCompleteBindAdapterEx(BindAdapterContext: Binding, Status: NDIS_STATUS): void {
  life.completeBind(BindAdapterContext.block.ndis, BindAdapterContext, Status);
}

export { NDIS_STATUS_PENDING };
