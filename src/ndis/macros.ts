// C macros a ported driver expects, with their C meaning.

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
