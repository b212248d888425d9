// The rule catalogue: one entry per rule the verifier knows. Rules of Static Driver
// Verifier and Driver Verifier keep their Windows names and come from the
// generated table (data/rules.json); rules Windows does not name are NdisSim_*.
// What each rule enforces in the model (spec rules, bug check) is decided here.

import { msRules } from '../ndis/generated/rules.ts';
import { BugCheckCode } from './bugcheck.ts';

/**
 * Who checks the rule on Windows: Static Driver Verifier (compile time), Driver
 * Verifier's NDIS/WIFI option (run time), NDIS itself (it bug-checks on its own),
 * or nobody (a rule of the spec that only ndis-sim checks).
 */
export type RuleOrigin = 'sdv' | 'driver-verifier' | 'ndis' | 'ndis-sim';

export interface BugCheckSpec {
  readonly code: number;
  /** Parameter 1, when the code has subcodes. */
  readonly p1: number | null;
  /** Parameter 2 fixed by the rule (the watchdog's operation), else null. */
  readonly p2?: number | null;
}

export interface RuleSpec {
  readonly id: string;
  readonly origin: RuleOrigin;
  /** Spec rule ids (../shared/ndis) the rule enforces. */
  readonly spec: readonly string[];
  readonly summary: string;
  /** DDIs and callbacks the rule is about. */
  readonly ddis: readonly string[];
  readonly bugCheck: BugCheckSpec;
  /** A microsoft documentation page (windows-driver-docs path) or the spec file. */
  readonly source: string;
  /** The run cannot go on after it, even in collect mode. */
  readonly fatal: boolean;
}

/**
 * Parameter 1 of DRIVER_VERIFIER_DETECTED_VIOLATION for rules Windows does not
 * check at run time. The range is ndis-sim's own ("NS"); Windows never uses it.
 */
const simCode = (n: number): number => 0x4e530000 + n;

interface Mapping {
  spec: readonly string[];
  bugCheck: BugCheckSpec;
}

const irqlBugCheck: BugCheckSpec = { code: BugCheckCode.DRIVER_IRQL_NOT_LESS_OR_EQUAL, p1: null };

/** How the model enforces the Windows-named rules it checks. */
const msMappings: Record<string, Mapping> = {
  Irql_Miniport_Driver_Function: { spec: ['R8.2', 'R5.9', 'R8.13'], bugCheck: irqlBugCheck },
  Irql_Timer_Function: { spec: ['R8.4', 'R8.5', 'R8.6'], bugCheck: irqlBugCheck },
  Irql_Miscellaneous_Function: { spec: ['R8.2', 'R8.8', 'R8.9'], bugCheck: irqlBugCheck },
  Irql_Synch_Function: { spec: ['R8.10'], bugCheck: irqlBugCheck },
  Irql_Interrupt_Function: { spec: ['R2.10'], bugCheck: irqlBugCheck },
  Irql_StatusIndication_Function: { spec: ['R6.16'], bugCheck: irqlBugCheck },
  Irql_SendRcv_Function: { spec: ['R6.8', 'R6.9', 'R6.12'], bugCheck: irqlBugCheck },
  Irql_NetBuffer_Function: { spec: ['R6.8'], bugCheck: irqlBugCheck },
  SpinLock: {
    spec: ['R8.10'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x10) },
  },
  SpinLockRelease: {
    spec: ['R8.10'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x11) },
  },
  SpinLockDpr: {
    spec: ['R8.10'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x40 },
  },
  SpinLockDprRelease: {
    spec: ['R8.10'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x41 },
  },
  SpinLockBalanced: {
    spec: ['R8.10'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x12) },
  },
  PeriodicTimer: { spec: ['R8.6'], bugCheck: irqlBugCheck },
  CancelTimerObject: {
    spec: ['R8.7', 'R2.10'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x09 },
  },
  Init_DeRegisterInterrupt: {
    spec: ['R2.10'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x08 },
  },
  Init_RegisterInterrupt: {
    spec: ['R2.5'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x0b },
  },
  Init_NdisAllocateIoWorkItem: {
    spec: ['R8.8'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x13) },
  },
  MiniportPause_Return: {
    spec: ['R3.5'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x14) },
  },
  NdisMIndicateStatusEx: {
    spec: ['R2.8', 'R6.16'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x15) },
  },
  NdisOidComplete: {
    spec: ['R6.3', 'R6.1'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x00091001 },
  },
  NdisOidDoubleComplete: {
    spec: ['R6.3', 'R3.10'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x00091002 },
  },
  NdisTimedOidComplete: {
    spec: ['R6.6'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x00092003 },
  },
  DoubleComplete: {
    spec: ['R3.10', 'R6.3'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x19) },
  },
  NdisMMapIoSpace: {
    spec: ['R2.4'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x17) },
  },
  NdisMDeregisterInterruptEx: {
    spec: ['R2.10'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x18) },
  },
  NdisStallExecution_Delay: {
    spec: ['R8.12'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x16) },
  },
};

const spec = 'ndis-sim spec';

/** Rules that only ndis-sim names. */
const simRules: RuleSpec[] = [
  {
    id: 'NdisSim_PauseCompleteUnexpected',
    origin: 'ndis',
    spec: ['R1.10', 'R3.5', 'R3.10'],
    summary: 'NdisMPauseComplete was called while no pause was pending on the adapter.',
    ddis: ['NdisMPauseComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x1f },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_RestartCompleteUnexpected',
    origin: 'ndis',
    spec: ['R1.10', 'R3.9', 'R3.10'],
    summary: 'NdisMRestartComplete was called while no restart was pending on the adapter.',
    ddis: ['NdisMRestartComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x1f },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ResetCompleteUnexpected',
    origin: 'ndis',
    spec: ['R4.15', 'R3.10'],
    summary: 'NdisMResetComplete was called while no reset was pending on the adapter.',
    ddis: ['NdisMResetComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x0f },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_InitFailedTimerSet',
    origin: 'ndis',
    spec: ['R2.5'],
    summary: 'MiniportInitializeEx failed but left a timer set.',
    ddis: ['MiniportInitializeEx', 'NdisSetTimerObject'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x0c },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_PauseWatchdog',
    origin: 'ndis',
    spec: ['R3.7'],
    summary: 'A pause the miniport pended was not completed within the pause watchdog time.',
    ddis: ['MiniportPause', 'NdisMPauseComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: 0x21 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_HaltWatchdog',
    origin: 'ndis',
    spec: ['R2.13'],
    summary: 'MiniportHaltEx did not return within the halt watchdog time.',
    ddis: ['MiniportHaltEx'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: 0x22 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_DriverException',
    origin: 'ndis-sim',
    spec: [],
    summary: 'Driver code threw an exception that nothing handled.',
    ddis: [],
    bugCheck: { code: BugCheckCode.KMODE_EXCEPTION_NOT_HANDLED, p1: null },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x1e--kmode-exception-not-handled.md',
    fatal: true,
  },
  {
    id: 'NdisSim_StaleHandle',
    origin: 'ndis-sim',
    spec: ['R5.20', 'R2.8'],
    summary: 'An NDIS function was called with an adapter handle whose MiniportHaltEx has already returned.',
    ddis: [],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x01) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_AttributesOrder',
    origin: 'ndis-sim',
    spec: ['R2.4'],
    summary:
      'NdisMSetMiniportAttributes was called out of order: registration attributes first, then general, only during MiniportInitializeEx.',
    ddis: ['NdisMSetMiniportAttributes'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x02) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_RestartReturn',
    origin: 'ndis-sim',
    spec: ['R3.9'],
    summary:
      'MiniportRestart returned a status it may not: SUCCESS, PENDING, RESOURCES or FAILURE only (and the same for NdisMRestartComplete, without PENDING).',
    ddis: ['MiniportRestart', 'NdisMRestartComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x03) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_ResetReturn',
    origin: 'ndis-sim',
    spec: ['R4.9', 'R4.15'],
    summary:
      'MiniportResetEx returned, or NdisMResetComplete passed, a status the reset contract does not allow.',
    ddis: ['MiniportResetEx', 'NdisMResetComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x04) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_LockHeldOnReturn',
    origin: 'ndis-sim',
    spec: ['R8.10', 'R8.11'],
    summary: 'A driver callback returned to NDIS with a spin lock still held or its IRQL changed.',
    ddis: [],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x05) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_WorkItemRequeued',
    origin: 'ndis-sim',
    spec: ['R8.9'],
    summary: 'An I/O work item was queued again (or freed) while it was still queued.',
    ddis: ['NdisQueueIoWorkItem', 'NdisFreeIoWorkItem'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x06) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_ObjectFreedInUse',
    origin: 'ndis-sim',
    spec: ['R8.4', 'R8.7', 'R8.10'],
    summary:
      'A timer was freed while set, or a spin lock while held, or an object was used after it was freed.',
    ddis: ['NdisFreeTimerObject', 'NdisFreeSpinLock'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x07) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_TimerFreedWhileSet',
    origin: 'driver-verifier',
    spec: ['R8.4', 'R8.7'],
    summary: 'A timer object was freed while it was still set.',
    ddis: ['NdisFreeTimerObject'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x15 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xc4--driver-verifier-detected-violation.md',
    fatal: false,
  },
  {
    id: 'NdisSim_StatusFromNdisOnly',
    origin: 'ndis-sim',
    spec: ['R4.13', 'R6.17'],
    summary:
      'The miniport indicated NDIS_STATUS_RESET_START or NDIS_STATUS_RESET_END, which only NDIS indicates.',
    ddis: ['NdisMIndicateStatusEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x09) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_OidCompleteUnexpected',
    origin: 'ndis',
    spec: ['R6.3'],
    summary: 'NdisMOidRequestComplete was called for a request that is not pending on the adapter.',
    ddis: ['NdisMOidRequestComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x26 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SendCompleteUnexpected',
    origin: 'ndis-sim',
    spec: ['R6.9'],
    summary:
      'NdisMSendNetBufferListsComplete was given an NBL that is not a send pending on the adapter, or a PENDING status.',
    ddis: ['NdisMSendNetBufferListsComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x0a) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_ReceiveNotAllowed',
    origin: 'ndis-sim',
    spec: ['R1.7', 'R6.15', 'R3.6'],
    summary: 'A receive was indicated while the adapter was not Running, Restarting or Pausing.',
    ddis: ['NdisMIndicateReceiveNetBufferLists'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x0b) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_ReceiveIndication',
    origin: 'ndis-sim',
    spec: ['R6.12', 'R6.13'],
    summary:
      'A receive indication was malformed: an NBL NDIS still holds, a wrong SourceHandle, or a count that does not match the chain.',
    ddis: ['NdisMIndicateReceiveNetBufferLists'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x0c) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_DispatchLevelFlag',
    origin: 'ndis-sim',
    spec: ['R6.14'],
    summary: 'A DISPATCH_LEVEL flag did not state the IRQL the caller was at.',
    ddis: ['NdisMIndicateReceiveNetBufferLists', 'NdisMSendNetBufferListsComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x0d) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_PauseNotDrained',
    origin: 'ndis-sim',
    spec: ['R3.3'],
    summary: 'The pause completed while sends were not all completed or received NBLs not all returned.',
    ddis: ['MiniportPause', 'NdisMPauseComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x0e) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_ResetWithPendingWork',
    origin: 'ndis-sim',
    spec: ['R4.12'],
    summary: 'An NDIS 6.30+ miniport completed a reset with an OID request or sends still pending.',
    ddis: ['MiniportResetEx', 'NdisMResetComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x0f) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_CallbackAfterHalt',
    origin: 'ndis-sim',
    spec: ['R2.10', 'R8.7', 'R2.8'],
    summary: 'A timer, work item or interrupt of the adapter ran after its MiniportHaltEx returned.',
    ddis: ['MiniportHaltEx', 'NdisTimerFunction', 'NdisIoWorkItemFunction', 'MiniportInterrupt'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x1a) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_BadParameter',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'A DDI was called with a parameter of the wrong kind (not a handle it issued, a missing routine).',
    ddis: [],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x08) },
    source: spec,
    fatal: true,
  },
];

function build(): Map<string, RuleSpec> {
  const m = new Map<string, RuleSpec>();
  for (const r of msRules) {
    const map = msMappings[r.name];
    if (map === undefined) continue;
    m.set(r.name, {
      id: r.name,
      origin: r.checkedBy === 'DriverVerifier' ? 'driver-verifier' : 'sdv',
      spec: map.spec,
      summary: r.summary,
      ddis: r.appliesTo,
      bugCheck: map.bugCheck,
      source: r.source,
      fatal: false,
    });
  }
  for (const r of simRules) m.set(r.id, r);
  return m;
}

export const catalogue: ReadonlyMap<string, RuleSpec> = build();
