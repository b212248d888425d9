// C macros a ported driver expects, with their C meaning.

import {
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
} from './generated/status.ts';
import type { NET_BUFFER, NET_BUFFER_LIST } from './nbl.ts';
import type { NDIS_STATUS } from './types.ts';

/**
 * NT_SUCCESS (ntdef.h): true for the success and informational severities, false for
 * warnings and errors. Status codes are unsigned numbers here, so `Status >= 0`, the
 * C test on a signed NTSTATUS, would call every error a success; this is the right
 * test. NDIS_STATUS_NOT_ACCEPTED is a success by severity (R6.7): compare it by value.
 */
export function NT_SUCCESS(Status: NDIS_STATUS): boolean {
  return (Status | 0) >= 0;
}

/**
 * CTL_CODE (devioctl.h): an I/O control code from its device type, function number,
 * transfer method (METHOD_BUFFERED …) and required access, as unsigned 32 bits. The
 * second parameter is the header's `Function`, renamed: it would hide JavaScript's global.
 */
export function CTL_CODE(DeviceType: number, FunctionCode: number, Method: number, Access: number): number {
  return ((DeviceType << 16) | (Access << 14) | (FunctionCode << 2) | Method) >>> 0;
}

// The flag tests of ndis.h that filter and protocol drivers use on the data path
// (ndislwf, ndisprot and most drivers built on them): each is true when the flag is set.
// The NDIS_SET_*_FLAG macros assign to their argument, which a function cannot do here:
// write `ReturnFlags |= NDIS_RETURN_FLAGS_DISPATCH_LEVEL`.

/** NDIS_TEST_RECEIVE_AT_DISPATCH_LEVEL: the receive indication runs at DISPATCH_LEVEL (R6.14). */
export function NDIS_TEST_RECEIVE_AT_DISPATCH_LEVEL(ReceiveFlags: number): boolean {
  return (ReceiveFlags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL) !== 0;
}

/**
 * NDIS_TEST_RECEIVE_CANNOT_PEND: the indication came with NDIS_RECEIVE_FLAGS_RESOURCES,
 * so its NBLs go back when the receive handler returns and are not returned (R6.13).
 */
export function NDIS_TEST_RECEIVE_CANNOT_PEND(ReceiveFlags: number): boolean {
  return (ReceiveFlags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
}

/** NDIS_TEST_RECEIVE_CAN_PEND: no NDIS_RECEIVE_FLAGS_RESOURCES; the NBLs are returned later (R6.13). */
export function NDIS_TEST_RECEIVE_CAN_PEND(ReceiveFlags: number): boolean {
  return (ReceiveFlags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0;
}

/** NDIS_TEST_SEND_AT_DISPATCH_LEVEL: the send runs at DISPATCH_LEVEL (R6.14). */
export function NDIS_TEST_SEND_AT_DISPATCH_LEVEL(SendFlags: number): boolean {
  return (SendFlags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
}

/** NDIS_TEST_SEND_COMPLETE_AT_DISPATCH_LEVEL: the send completion runs at DISPATCH_LEVEL (R6.14). */
export function NDIS_TEST_SEND_COMPLETE_AT_DISPATCH_LEVEL(SendCompleteFlags: number): boolean {
  return (SendCompleteFlags & NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL) !== 0;
}

/** NDIS_TEST_RETURN_AT_DISPATCH_LEVEL: the return runs at DISPATCH_LEVEL (R6.14). */
export function NDIS_TEST_RETURN_AT_DISPATCH_LEVEL(ReturnFlags: number): boolean {
  return (ReturnFlags & NDIS_RETURN_FLAGS_DISPATCH_LEVEL) !== 0;
}

/**
 * NDIS_SET_NET_BUFFER_LIST_CANCEL_ID (nbl.h): marks an NBL with the cancel ID a later
 * NdisCancelSendNetBufferLists names. The NBL's `CancelId` field, set.
 */
export function NDIS_SET_NET_BUFFER_LIST_CANCEL_ID(NetBufferList: NET_BUFFER_LIST, CancelId: unknown): void {
  NetBufferList.CancelId = CancelId;
}

/**
 * NDIS_GET_NET_BUFFER_LIST_CANCEL_ID (nbl.h): the cancel ID of an NBL, which a
 * MiniportCancelSend compares with the one it was given to find the sends to cancel.
 */
export function NDIS_GET_NET_BUFFER_LIST_CANCEL_ID(NetBufferList: NET_BUFFER_LIST): unknown {
  return NetBufferList.CancelId;
}

/** NET_BUFFER_LIST_FIRST_NB (nbl.h): the NBL's first NET_BUFFER (its `FirstNetBuffer`). */
export function NET_BUFFER_LIST_FIRST_NB(NetBufferList: NET_BUFFER_LIST): NET_BUFFER | null {
  return NetBufferList.FirstNetBuffer;
}

/** NET_BUFFER_LIST_NEXT_NBL (nbl.h): the next NBL of a chain (its `Next`). */
export function NET_BUFFER_LIST_NEXT_NBL(NetBufferList: NET_BUFFER_LIST): NET_BUFFER_LIST | null {
  return NetBufferList.Next;
}

/** NET_BUFFER_NEXT_NB (nbl.h): the next NET_BUFFER of an NBL (its `Next`). */
export function NET_BUFFER_NEXT_NB(NetBuffer: NET_BUFFER): NET_BUFFER | null {
  return NetBuffer.Next;
}

/** NET_BUFFER_DATA_LENGTH (nbl.h): the bytes of a NET_BUFFER's data (its `DataLength`). */
export function NET_BUFFER_DATA_LENGTH(NetBuffer: NET_BUFFER): number {
  return NetBuffer.DataLength;
}
