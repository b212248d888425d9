// Bug-check codes the model raises, with names from the generated tables where the
// shared data has them and from data/extra.json otherwise.

import { bugChecks, msRules } from '../ndis/generated/rules.ts';
import { statusInfo } from '../ndis/generated/status.ts';

export const BugCheckCode = {
  IRQL_NOT_LESS_OR_EQUAL: 0x0a,
  KMODE_EXCEPTION_NOT_HANDLED: 0x1e,
  MULTIPLE_IRP_COMPLETE_REQUESTS: 0x44,
  UNEXPECTED_KERNEL_MODE_TRAP: 0x7f,
  DRIVER_POWER_STATE_FAILURE: 0x9f,
  BUGCODE_NDIS_DRIVER: 0x7c,
  BAD_POOL_CALLER: 0xc2,
  DRIVER_VERIFIER_DETECTED_VIOLATION: 0xc4,
  DRIVER_VERIFIER_IOMANAGER_VIOLATION: 0xc9,
  DRIVER_IRQL_NOT_LESS_OR_EQUAL: 0xd1,
  DRIVER_VERIFIER_DMA_VIOLATION: 0xe6,
  DPC_WATCHDOG_VIOLATION: 0x133,
  KERNEL_SECURITY_CHECK_FAILURE: 0x139,
  BUGCODE_NDIS_DRIVER_LIVE_DUMP: 0x15e,
} as const;

/** A bug-check parameter: a number, or a symbolic stand-in for a kernel address. */
export type BugCheckParam = number | string;

export function bugCheckName(code: number): string {
  return bugChecks.get(code)?.name ?? `BUGCHECK_0x${code.toString(16).toUpperCase()}`;
}

export function subcodeName(code: number, p1: number): string | null {
  return bugChecks.get(code)?.subcodes.get(p1)?.name ?? null;
}

/**
 * A parameter as a debugger prints it: hex for a number, the stand-in's text for a
 * string. Anything else (a parameter a check built from a driver's bad argument) is
 * shown as what it is, never thrown on: the bug check's report must get out.
 */
export function formatParam(p: BugCheckParam): string {
  if (typeof p === 'string') return p;
  if (typeof p === 'number' && Number.isFinite(p)) return `0x${p.toString(16).toUpperCase()}`;
  return `?(${String(p)})`;
}

export function formatBugCheck(code: number, params: readonly BugCheckParam[]): string {
  const hex = `0x${code.toString(16).toUpperCase()}`;
  return `${bugCheckName(code)} (${hex}) ${params.map(formatParam).join(', ')}`;
}

/** statusText of a value that is not a number (ndis.ts's returnedText, kept here to avoid a cycle). */
function nonNumberText(v: unknown): string {
  if (typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function')
    return 'a Promise (async handler?)';
  if (v === undefined) return 'undefined (no return statement?)';
  return `a ${v === null ? 'null' : typeof v} value, not a status`;
}

/**
 * An NDIS_STATUS value for a verifier message: its name (NDIS_STATUS_BAD_VERSION), or,
 * for a value no NDIS_STATUS_* has, that and its hex: "an unknown status (0xC0FF0001)".
 */
export function statusText(v: number): string {
  // A driver's answer that is no number (NdisSim_CallbackReturnValue has reported it; in
  // collect mode the caller's own check follows): not "an unknown status (0x00000000)".
  if (typeof v !== 'number') return nonNumberText(v);
  const name = statusInfo.get(v)?.name;
  if (name !== undefined) return name;
  return `an unknown status (0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')})`;
}

/**
 * The Driver Verifier rule `!analyze` names for a bug check: 0xC4's parameter 1 is the ID
 * of the rule broken (rules.json's verifierCode), so 0xC4/0x91002 reads as
 * NdisOidDoubleComplete whichever rule of the model found the mistake. Null when that is
 * `rule` itself, or the code names no rule of rules.json. Static Driver Verifier's
 * DoubleComplete and DoubleCompleteWorkItem raise no code of their own at run time: the
 * model raises NdisOidDoubleComplete's, and the bug check names both (R3.10, R6.3).
 */
export function analyzeRule(code: number, params: readonly BugCheckParam[], rule: string): string | null {
  if (code !== BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION) return null;
  const p1 = params[0];
  if (typeof p1 !== 'number') return null;
  const dv = msRules.find((r) => r.checkedBy === 'DriverVerifier' && r.verifierCode === p1);
  return dv === undefined || dv.name === rule ? null : dv.name;
}
