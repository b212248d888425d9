// The rule catalogue: one entry per rule the verifier knows. Rules of Static Driver
// Verifier and Driver Verifier keep their Windows names and come from the
// generated table (data/rules.json); rules Windows does not name are NdisSim_*.
// What each rule enforces in the model (spec rules, bug check) is decided here.

import { assert } from '../errors.ts';
import { irqlNames } from '../kernel/kernel.ts';
import { ddiIrql } from '../ndis/generated/irql.ts';
import { ruleBook } from '../ndis/generated/rulebook.ts';
import {
  msRules,
  NDIS_BUGCHECK_WAIT_EVENT_HIGH_IRQL,
  NDIS_BUGCHECK_WATCHDOG_CANCEL_IDLE,
  NDIS_BUGCHECK_WATCHDOG_FILTER_OID,
  NDIS_BUGCHECK_WATCHDOG_FILTER_PAUSE,
  NDIS_BUGCHECK_WATCHDOG_MINIPORT_IDLE,
  NDIS_BUGCHECK_WATCHDOG_MINIPORT_OID,
} from '../ndis/generated/rules.ts';
import { BugCheckCode } from './bugcheck.ts';

/**
 * Who checks the rule on Windows: Static Driver Verifier (compile time), Driver
 * Verifier's NDIS/WIFI option (run time), NDIS itself (it bug-checks on its own), the
 * kernel (its I/O manager's MULTIPLE_IRP_COMPLETE_REQUESTS, its power manager's
 * DRIVER_POWER_STATE_FAILURE watchdog; with or without Driver Verifier), or nobody (a
 * rule of the spec that only ndis-sim checks).
 */
export type RuleOrigin = 'sdv' | 'driver-verifier' | 'ndis' | 'kernel' | 'ndis-sim';

export interface BugCheckSpec {
  readonly code: number;
  /** Parameter 1, when the code has subcodes. */
  readonly p1: number | null;
  /** Parameter 2 fixed by the rule (the watchdog's operation), else null. */
  readonly p2?: number | null;
}

/**
 * Driver Verifier's own bug checks for DDIs it checks through the kernel call
 * underneath: [called below the DDI's IRQL, called above it]; null where it has none.
 */
export type DdiBugChecks = Readonly<Record<string, readonly [BugCheckSpec | null, BugCheckSpec | null]>>;

export type RuleStatus =
  | { readonly kind: 'enforced'; readonly how: string }
  | { readonly kind: 'not-applicable'; readonly reason: string };

export interface RuleSpec {
  readonly id: string;
  readonly origin: RuleOrigin;
  /** rules.json category for Windows rules; 'model' for ndis-sim's own. */
  readonly category: string;
  /** Is the rule about miniport drivers (rules.json `miniport`; true for ndis-sim's). */
  readonly miniport: boolean;
  readonly status: RuleStatus;
  /** Rule-book ids (R5.11 …, docs/model.md) the rule enforces. */
  readonly spec: readonly string[];
  readonly summary: string;
  /**
   * For a rule whose summary covers several kinds of driver: the summary a violation
   * reported in one of these callbacks shows instead (its "Rule:" line), the part that
   * concerns that callback's driver only.
   */
  readonly summaryIn?: Readonly<Record<string, string>>;
  /** DDIs and callbacks the rule is about. */
  readonly ddis: readonly string[];
  /** The bug check the model raises; null for a rule that is not applicable and has none. */
  readonly bugCheck: BugCheckSpec | null;
  /**
   * DDIs of the rule for which the model raises Driver Verifier's own code instead of
   * `bugCheck` (an IRQL rule whose spin lock or IRQL calls the kernel checks itself).
   */
  readonly ddiBugChecks?: DdiBugChecks;
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

type Mapping =
  | {
      status: 'enforced';
      spec: readonly string[];
      bugCheck: BugCheckSpec;
      how: string;
      ddiBugChecks?: DdiBugChecks;
    }
  | { status: 'not-applicable'; reason: string; bugCheck?: BugCheckSpec };

const irqlBugCheck: BugCheckSpec = { code: BugCheckCode.DRIVER_IRQL_NOT_LESS_OR_EQUAL, p1: null };
const dv = (p1: number): BugCheckSpec => ({ code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1 });
/** BUGCODE_NDIS_DRIVER (0x7C) with subcode `p1`. */
export const ndisCheck = (p1: number): BugCheckSpec => ({ code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1 });

const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;

/**
 * Driver Verifier checks the kernel spin lock calls under the NDIS ones itself, with
 * codes of its own (status.json, 0xC4; bug-check-0xc4 page): KeAcquireSpinLock above
 * DISPATCH_LEVEL 0x42, KeReleaseSpinLock at another IRQL than DISPATCH_LEVEL 0x32
 * (often a double release), KeAcquireSpinLockAtDpcLevel and
 * KeReleaseSpinLockFromDpcLevel below DISPATCH_LEVEL 0x40 and 0x41.
 */
const spinLockBugChecks: DdiBugChecks = {
  NdisAcquireSpinLock: [null, dv(0x42)],
  NdisReleaseSpinLock: [dv(0x32), dv(0x32)],
  NdisDprAcquireSpinLock: [dv(0x40), null],
  NdisDprReleaseSpinLock: [dv(0x41), null],
};

/**
 * NDIS_RAISE_IRQL_TO_DISPATCH is KeRaiseIrql(DISPATCH_LEVEL): from above DISPATCH it
 * asks KeRaiseIrql to lower, Driver Verifier's 0xC4/0x30 (status.json).
 */
const irqlSettingBugChecks: DdiBugChecks = {
  NDIS_RAISE_IRQL_TO_DISPATCH: [null, dv(0x30)],
};

/** "NdisAcquireSpinLock above DISPATCH: 0xC4/0x42", one per DDI of `own`. */
function ownCodesText(own: DdiBugChecks): string {
  return Object.entries(own)
    .map(([ddi, [low, high]]) => {
      const level = irqlNames[ddiIrql[ddi]?.max ?? 2];
      const code = (b: BugCheckSpec): string => `${hex(b.code)}/${hex(b.p1 ?? 0)}`;
      if (low !== null && high !== null && low.p1 === high.p1)
        return `${ddi} at any IRQL but ${level}: ${code(low)}`;
      const parts: string[] = [];
      if (low !== null) parts.push(`${ddi} below ${level}: ${code(low)}`);
      if (high !== null) parts.push(`${ddi} above ${level}: ${code(high)}`);
      return parts.join('; ');
    })
    .join('; ');
}

/**
 * An SDV IRQL rule the model checks at run time. `own`: DDIs for which Driver Verifier
 * raises a code of its own; `more`: what else the rule reports, with its code.
 */
const irqlRule = (spec: readonly string[], what: string, own?: DdiBugChecks, more?: string): Mapping => {
  const checked = `every call of ${what} is checked against its documented IRQL (generated from irql.json)`;
  if (own === undefined) return { status: 'enforced', spec, bugCheck: irqlBugCheck, how: checked };
  return {
    status: 'enforced',
    spec,
    bugCheck: irqlBugCheck,
    ddiBugChecks: own,
    how: `${checked}. The bug check depends on the call: the own code of Driver Verifier, or of NDIS, where it checks the call itself (${ownCodesText(own)})${more === undefined ? '' : `; ${more}`}; DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1) for any other call at a wrong IRQL`,
  };
};
const notModelled = (what: string): Mapping => ({
  status: 'not-applicable',
  reason: `${what} ${what.endsWith('s') ? 'are' : 'is'} not modelled, so no driver can call the DDIs this rule is about`,
});
const otherDriverKind = (who: string): Mapping => ({
  status: 'not-applicable',
  reason: `a rule for ${who}; ndis-sim runs miniport, filter and protocol drivers, and ${who} are not modelled`,
});
const wifi: Mapping = {
  status: 'not-applicable',
  reason: 'a Native 802.11 / WDI rule; ndis-sim models Ethernet (802.3) miniports only',
};

/**
 * How the model treats every rule of data/rules.json. A test checks that none is
 * missing. Where a rule is not applicable the reason says why.
 */
const msMappings: Record<string, Mapping> = {
  // DDI usage
  Init_DeRegisterInterrupt: {
    status: 'enforced',
    spec: ['R2.10'],
    bugCheck: ndisCheck(0x08),
    how: 'when MiniportHaltEx returns, the interrupt registered in initialization must be deregistered (NDIS checks this itself: 0x7C/0x08)',
  },
  Init_NdisAllocateIoWorkItem: {
    status: 'enforced',
    spec: ['R8.8'],
    bugCheck: dv(simCode(0x13)),
    how: 'work items allocated with the adapter handle must be freed when MiniportHaltEx returns or a failing MiniportInitializeEx returns',
  },
  Init_RegisterInterrupt: {
    status: 'enforced',
    spec: ['R2.5'],
    bugCheck: ndisCheck(0x0b),
    how: 'a failing MiniportInitializeEx must have deregistered its interrupt (NDIS checks this itself: 0x7C/0x0B)',
  },
  Init_RegisterSG: {
    status: 'enforced',
    spec: ['R2.5', 'R2.10'],
    bugCheck: dv(simCode(0x38)),
    how: 'a scatter/gather DMA channel (NdisMRegisterScatterGatherDma) still registered when MiniportHaltEx, or a failing MiniportInitializeEx, returns is reported',
  },
  NdisMDeregisterInterruptEx: {
    status: 'enforced',
    spec: ['R2.10'],
    bugCheck: dv(simCode(0x18)),
    how: 'NdisMSynchronizeWithInterruptEx after NdisMDeregisterInterruptEx, or a second deregistration, is reported (a DPC queued after it is NdisSim_QueueDpcDeregistered)',
  },
  NullCheck: {
    status: 'not-applicable',
    reason:
      'a static check of C pointer use; in TypeScript a null dereference throws, which the model reports as NdisSim_DriverException (0x1E)',
  },
  NdisFDeregisterFilterDriver: {
    status: 'enforced',
    spec: ['R7.11'],
    bugCheck: dv(simCode(0x64)),
    how: 'when a filter service stops (scenario stop-filter), after its last module is detached: the unload routine (DRIVER_OBJECT.DriverUnload) returned without NdisFDeregisterFilterDriver',
  },
  // IRQL
  Flags_Irql: {
    status: 'enforced',
    spec: ['R6.14'],
    bugCheck: dv(simCode(0x19)),
    how: 'NDIS_CURRENT_IRQL (KeGetCurrentIrql) called by the driver code of a callback that has a *_DISPATCH_LEVEL flag (the send, receive, return and completion handlers) is reported once per callback and adapter; setting such a flag wrongly is NdisSim_DispatchLevelFlag',
  },
  Irql_Gather_DMA_Function: irqlRule(
    ['R8.2'],
    'NdisMRegisterScatterGatherDma, NdisMDeregisterScatterGatherDma, NdisMAllocateNetBufferSGList, NdisMFreeNetBufferSGList and NdisMAllocateSharedMemoryAsyncEx',
  ),
  Irql_Interrupt_Function: irqlRule(['R2.10'], 'NdisMRegisterInterruptEx and NdisMDeregisterInterruptEx'),
  Irql_IrqlSetting_Function: irqlRule(
    ['R8.3'],
    'NDIS_RAISE_IRQL_TO_DISPATCH and NDIS_LOWER_IRQL',
    irqlSettingBugChecks,
    "NDIS_LOWER_IRQL back to a higher IRQL than the caller is at (KeLowerIrql asked to raise), or, inside a DPC, below DISPATCH to an IRQL no raise of the DPC returned: 0xC4/0x31. An _OldIrql the preceding NDIS_RAISE_IRQL_TO_DISPATCH did not return is reported elsewhere too, with the rule's own code",
  ),
  Irql_MCM_Function: notModelled('CoNDIS (miniport call managers)'),
  Irql_MCO_Function: notModelled('CoNDIS (connection-oriented miniports)'),
  Irql_Miniport_Driver_Function: irqlRule(
    ['R8.2', 'R5.9', 'R8.13'],
    'the NdisM* services (NdisMRemoveMiniport among them)',
  ),
  Irql_Miscellaneous_Function: irqlRule(
    ['R8.2', 'R8.8', 'R8.9', 'R8.12'],
    'work items, configuration, the error log, memory and NdisWaitEvent',
    // R8.2: NDIS itself stops a wait above PASSIVE.
    { NdisWaitEvent: [null, ndisCheck(NDIS_BUGCHECK_WAIT_EVENT_HIGH_IRQL)] },
  ),
  Irql_NetBuffer_Function: irqlRule(
    ['R6.8'],
    'the NBL, NET_BUFFER and MDL pool, allocation and release calls, NdisGetDataBuffer and the data-start calls',
  ),
  Irql_OID_Function: irqlRule(
    ['R6.3', 'R7.5'],
    'NdisMOidRequestComplete, NdisFOidRequest, NdisFOidRequestComplete, NdisFCancelOidRequest, NdisAllocateCloneOidRequest and NdisFreeCloneOidRequest',
  ),
  Irql_SendRcv_Function: irqlRule(
    ['R6.9', 'R6.12'],
    'NdisMSendNetBufferListsComplete and NdisMIndicateReceiveNetBufferLists',
  ),
  Irql_StatusIndication_Function: irqlRule(['R6.16'], 'NdisMIndicateStatusEx and NdisFIndicateStatus'),
  Irql_Synch_Function: irqlRule(
    ['R8.10', 'R8.12'],
    'the NDIS spin lock functions, NdisSetEvent and NdisResetEvent',
    spinLockBugChecks,
  ),
  Irql_Timer_Function: irqlRule(['R8.4', 'R8.5', 'R8.6'], 'the timer object calls'),
  Irql_CallManager_Function: otherDriverKind('call managers'),
  Irql_Connection_Function: otherDriverKind('CoNDIS clients and call managers'),
  Irql_Filter_Driver_Function: irqlRule(
    ['R7.5', 'R7.6', 'R7.7'],
    'the filter DDIs the model has (NdisFRegisterFilterDriver, NdisFSetAttributes, NdisFPauseComplete, NdisFRestartComplete, NdisFRestartFilter, NdisFNetPnPEvent, NdisFDevicePnPEventNotify, NdisFDeregisterFilterDriver; on the data path NdisFSendNetBufferLists, NdisFSendNetBufferListsComplete, NdisFIndicateReceiveNetBufferLists, NdisFReturnNetBufferLists, NdisFCancelSendNetBufferLists)',
  ),
  Irql_IM_Function: irqlRule(
    ['R5.23'],
    'the intermediate-driver DDIs the model has (NdisIMAssociateMiniport, NdisIMInitializeDeviceInstanceEx, NdisIMCancelInitializeDeviceInstance, NdisIMDeInitializeDeviceInstance)',
  ),
  Irql_Interfaces_Function: otherDriverKind('interface providers'),
  Irql_Protocol_Driver_Function: irqlRule(
    ['R7.1', 'R7.2', 'R7.3'],
    'the protocol-driver DDIs the model has (NdisRegisterProtocolDriver, NdisDeregisterProtocolDriver, NdisOpenAdapterEx, NdisCloseAdapterEx, NdisCompleteBindAdapterEx, NdisCompleteUnbindAdapterEx, NdisCompleteNetPnPEvent) by a protocol driver of your own',
  ),
  // Locking
  SpinLock: {
    status: 'enforced',
    spec: ['R8.10'],
    bugCheck: dv(simCode(0x10)),
    how: 'NdisAcquireSpinLock on a lock that is held deadlocks: reported at the call',
  },
  SpinLockBalanced: {
    status: 'enforced',
    spec: ['R8.10', 'R8.11'],
    bugCheck: dv(simCode(0x12)),
    how: 'a callback that returns holding a lock it acquired is reported when it returns',
  },
  SpinLockDpr: {
    status: 'enforced',
    spec: ['R8.10'],
    bugCheck: dv(simCode(0x1b)),
    how: 'NdisDprAcquireSpinLock on a lock that is held deadlocks: reported at the call',
  },
  SpinLockDprRelease: {
    status: 'enforced',
    spec: ['R8.10'],
    bugCheck: dv(simCode(0x1c)),
    how: 'NdisDprReleaseSpinLock of a lock the caller does not hold is reported at the call',
  },
  SpinLockRelease: {
    status: 'enforced',
    spec: ['R8.10'],
    bugCheck: dv(simCode(0x11)),
    how: 'NdisReleaseSpinLock of a lock the caller does not hold is reported at the call',
  },
  // Memory
  NdisAllocateGenericObject: {
    status: 'enforced',
    spec: ['R2.10', 'R2.16'],
    bugCheck: dv(simCode(0xb1)),
    how: 'a generic object that the miniport allocated in its handlers and has not freed when MiniportHaltEx returns is reported, as is a second NdisFreeGenericObject of one object; one allocated elsewhere by the driver (DriverEntry, say) is reported if the driver unloads with it. Holding two at once is not reported: the rule has a single state for the driver, which a correct driver with two objects would break',
  },
  NdisAllocateMdl: {
    status: 'enforced',
    spec: ['R2.5', 'R2.10'],
    bugCheck: dv(simCode(0x59)),
    how: 'an MDL from NdisAllocateMdl with the adapter handle not freed (NdisFreeMdl) when MiniportHaltEx, or a failing MiniportInitializeEx, returns is reported',
  },
  NdisAllocateMemoryWithTagPriority: {
    status: 'enforced',
    spec: ['R8.2'],
    bugCheck: dv(simCode(0x1d)),
    how: 'NdisAllocateMemoryWithTagPriority with a zero tag, or with the NDIS default tag, is reported',
  },
  NdisAllocateNetBuffer: {
    status: 'enforced',
    spec: ['R2.5', 'R2.10'],
    bugCheck: dv(simCode(0x58)),
    how: 'a NET_BUFFER from NdisAllocateNetBuffer, out of a NET_BUFFER pool of the adapter handle, not freed (NdisFreeNetBuffer) when MiniportHaltEx, or a failing MiniportInitializeEx, returns is reported',
  },
  NdisMFreeSharedMemory: {
    status: 'enforced',
    spec: ['R2.15'],
    bugCheck: dv(simCode(0x39)),
    how: 'NdisMFreeSharedMemory called from MiniportShutdownEx is reported',
  },
  NdisMIndicateStatusEx: {
    status: 'enforced',
    spec: ['R2.8', 'R6.16'],
    bugCheck: dv(simCode(0x15)),
    how: 'a status indication after MiniportHaltEx returned is reported (one before the registration attributes is NdisSim_StatusBeforeRegistration)',
  },
  NdisMMapIoSpace: {
    status: 'enforced',
    spec: ['R2.4'],
    bugCheck: dv(simCode(0x17)),
    how: 'NdisMMapIoSpace outside MiniportInitializeEx is reported',
  },
  NdisMRegisterIoPortRange: {
    status: 'enforced',
    spec: ['R2.4'],
    bugCheck: dv(simCode(0x2d)),
    how: 'NdisMRegisterIoPortRange outside MiniportInitializeEx, or before its registration attributes are set, is reported',
  },
  // Miscellaneous
  CancelTimerObject: {
    status: 'enforced',
    spec: ['R8.7', 'R2.10'],
    bugCheck: ndisCheck(0x09),
    how: 'a timer of the adapter still set when MiniportHaltEx returns (NDIS checks this itself: 0x7C/0x09)',
  },
  MiniportPause_Return: {
    status: 'enforced',
    spec: ['R3.5'],
    bugCheck: dv(simCode(0x14)),
    how: 'MiniportPause returning anything but SUCCESS or PENDING is reported',
  },
  NdisOpenConfigurationEx: {
    status: 'enforced',
    spec: ['R2.10'],
    bugCheck: dv(simCode(0x1e)),
    how: 'a configuration handle still open when MiniportHaltEx (or a failing MiniportInitializeEx) returns is reported',
  },
  NdisQueryBindInstanceName: {
    status: 'enforced',
    spec: ['R7.3'],
    bugCheck: dv(simCode(0xb2)),
    how: 'a protocol driver whose Unload routine returns while it still holds a name from NdisQueryBindInstanceName (not given back with NdisFreeMemory) is reported; names from NdisQueryAdapterInstanceName left with it are named in the same report',
  },
  NdisReEnumerateProtocolBindings: {
    status: 'enforced',
    spec: ['R7.1'],
    bugCheck: dv(simCode(0xf6)),
    how: 'a protocol driver of your own that calls NdisReEnumerateProtocolBindings inside ProtocolBindAdapterEx, ProtocolUnbindAdapterEx or a ProtocolNetPnPEvent of a binding is reported, and NDIS does nothing',
  },
  PeriodicTimer: {
    status: 'enforced',
    spec: ['R8.6'],
    bugCheck: irqlBugCheck,
    how: 'NdisCancelTimerObject of a periodic timer above PASSIVE is reported',
  },
  WriteErrorLog: {
    status: 'enforced',
    spec: ['R2.5'],
    bugCheck: dv(simCode(0x3a)),
    how: 'a MiniportInitializeEx in which NdisMAllocateSharedMemory returned NULL, and that returns without an NdisWriteErrorLogEntry of the adapter after the failure, is reported',
  },
  // OID processing
  // SDV checks these two statically; at run time the same completion is a request
  // that is no longer pending, which Driver Verifier stops as NdisOidDoubleComplete.
  DoubleComplete: {
    status: 'enforced',
    spec: ['R3.10', 'R6.3'],
    bugCheck: dv(0x00091002),
    how: "NdisMOidRequestComplete for a request MiniportOidRequest already finished with a final status, or a final status returned after NdisMOidRequestComplete, is reported, with Driver Verifier's run-time code for a request no longer pending (0xC4/0x91002); as !analyze would, the bug check names that code's rule, NdisOidDoubleComplete, first and this rule beside it",
  },
  DoubleCompleteWorkItem: {
    status: 'enforced',
    spec: ['R3.10', 'R6.3'],
    bugCheck: dv(0x00091002),
    how: "a second NdisMOidRequestComplete for one request, made from a work item routine (NdisQueueIoWorkItem's, or a WDM IO_WORKITEM's of the driver), is reported, with Driver Verifier's run-time code for a request no longer pending (0xC4/0x91002); as !analyze would, the bug check names that code's rule, NdisOidDoubleComplete, first and this rule beside it",
  },
  // SDV checks it statically and Driver Verifier has no code for it: the model's own.
  NdisMNetPnPEventInOIDRequest: {
    status: 'enforced',
    spec: ['R6.1', 'R6.3'],
    bugCheck: dv(simCode(0xe7)),
    how: 'NdisMNetPnPEvent called inside MiniportOidRequest, or while an OID request the miniport returned NDIS_STATUS_PENDING for is not yet completed with NdisMOidRequestComplete, is reported (the deadlock the page warns of); the event goes on',
  },
  NdisOidComplete: {
    status: 'enforced',
    spec: ['R6.3', 'R6.1'],
    bugCheck: dv(0x00091001),
    how: "NdisMOidRequestComplete with NDIS_STATUS_PENDING is reported, as is an OID completed (returned or NdisMOidRequestComplete) with a status the page does not allow it: OID_PNP_SET_POWER other than SUCCESS or NOT_ACCEPTED, OID_PM_REMOVE_WOL_PATTERN (one of the page's delete/free OIDs) other than SUCCESS, NOT_ACCEPTED or REQUEST_ABORTED. The page's other delete/free OIDs are none NDIS or the built-in protocol sends. OID_PNP_QUERY_POWER that does not succeed is not this rule (the page does not restrict it) but ndis-sim's NdisSim_QueryPowerFailed",
  },
  NdisOidDoubleComplete: {
    status: 'enforced',
    spec: ['R6.3', 'R3.10'],
    bugCheck: dv(0x00091002),
    how: 'a second NdisMOidRequestComplete for a request already completed is reported',
  },
  NdisOidDoubleRequest: {
    status: 'not-applicable',
    reason:
      'its documentation names no condition beyond completing the pending request; NDIS in the model never hands a second regular request to a miniport with one pending (R6.2), and a request never completed is NdisTimedOidComplete',
    bugCheck: dv(0x0009100e),
  },
  // Timing
  NdisStallExecution_Delay: {
    status: 'enforced',
    spec: ['R8.12'],
    bugCheck: dv(simCode(0x16)),
    how: 'NdisStallExecution for more than 50 µs is reported',
  },
  NdisTimedDataHang: {
    status: 'enforced',
    spec: ['R6.11'],
    bugCheck: dv(0x0009200f),
    how: 'on the virtual clock: sends pending and none completed for 22 s',
  },
  NdisTimedDataSend: {
    status: 'enforced',
    spec: ['R6.11'],
    bugCheck: dv(0x0009200d),
    how: 'on the virtual clock: an NBL given to MiniportSendNetBufferLists not completed within 30 s',
  },
  NdisTimedOidComplete: {
    status: 'enforced',
    spec: ['R6.6'],
    bugCheck: dv(0x00092003),
    how: 'on the virtual clock: an OID request not completed within 12 s',
  },
  NdisFilterTimedDataReceive: {
    status: 'enforced',
    spec: ['R7.6'],
    bugCheck: dv(0x00092012),
    how: "on the virtual clock: an NBL a filter module got in FilterReceiveNetBufferLists (or back in FilterReturnNetBufferLists) that it neither passed on nor returned within 30 s (the rule gives no time; the model uses NdisTimedDataSend's)",
  },
  NdisFilterTimedDataSend: {
    status: 'enforced',
    spec: ['R7.6'],
    bugCheck: dv(0x00092011),
    how: "on the virtual clock: an NBL a filter module got in FilterSendNetBufferLists (or back in FilterSendNetBufferListsComplete) that it neither passed on nor completed within 30 s (the rule gives no time; the model uses NdisTimedDataSend's)",
  },
  NdisFilterTimedPauseComplete: {
    status: 'enforced',
    spec: ['R7.6', 'R7.13'],
    bugCheck: dv(0x00092010),
    how: 'on the virtual clock: a FilterPause that pended and was not completed within 10 s; also a FilterPause that fails, and a pause completed twice or never pended',
  },
  // WLAN
  WlanAssert: wifi,
  WlanAssociation: wifi,
  WlanConnectionRoaming: wifi,
  WlanDisassociation: wifi,
  WlanTimedAssociation: wifi,
  WlanTimedConnectionRoaming: wifi,
  WlanTimedConnectRequest: wifi,
  WlanTimedLinkQuality: wifi,
  WlanTimedScan: wifi,
};

const spec = 'ndis-sim spec';

/** Rules that only ndis-sim names. */
/** ndis-sim's own rules; `modelOnly` marks one no driver can break here (why). */
/** NdisSim_ResourceNotFreed as a filter module breaks it (its summaryIn). */
const filterLeakSummary =
  "FilterDetach, or a failing FilterAttach, returned with a read/write lock (NdisFreeRWLock), pool memory (NdisFreeMemoryWithTagPriority), a configuration handle (NdisCloseConfiguration), an NBL pool (NdisFreeNetBufferListPool), a NET_BUFFER pool (NdisFreeNetBufferPool) or an MDL (NdisFreeMdl) allocated with the module's NdisFilterHandle not freed: FilterDetach frees what the module allocated, and a failing FilterAttach what it allocated (nc-ndis-filter_detach, nc-ndis-filter_attach).";

const simRules: (Omit<RuleSpec, 'category' | 'miniport' | 'status'> & { modelOnly?: string })[] = [
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
    summary:
      'NdisMResetComplete was called while no reset was pending on the adapter: NDIS started none, or the pending one was already completed (a second NdisMResetComplete).',
    ddis: ['NdisMResetComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x0f },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    // R3.10: a final return of MiniportResetEx is the completion. NDIS has no code of its
    // own for this: the NdisMResetComplete call found a reset pending (not 0x7C/0x0F).
    id: 'NdisSim_ResetDoubleComplete',
    origin: 'ndis-sim',
    spec: ['R3.10', 'R4.15'],
    summary:
      'MiniportResetEx called NdisMResetComplete and then returned a final status, which is a completion too: one reset completed twice.',
    ddis: ['MiniportResetEx', 'NdisMResetComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x26) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-miniport_reset.md',
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
    summary:
      'A pause did not finish within the pause watchdog time (ndis: pauseWatchdog, 60 s by default): either MiniportPause returned NDIS_STATUS_PENDING and NdisMPauseComplete never followed, or MiniportPause itself never returned.',
    ddis: ['MiniportPause', 'NdisMPauseComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: 0x21 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_PowerIrpWatchdog',
    origin: 'kernel',
    spec: [],
    summary:
      "A device held its IRP_MN_SET_POWER (a system sleep's D3, or the resume's D0) longer than the power manager's watchdog allows (ndis: powerWatchdog, 10 minutes by default): the adapter's power transition never finished, for instance MiniportPause, OID_PNP_SET_POWER or the idle notification's completion never came. The power manager stops the machine with parameter 2 the device's PDO and parameter 4 the blocked IRP.",
    ddis: [
      'MiniportOidRequest',
      'MiniportPause',
      'MiniportCancelIdleNotification',
      'NdisMIdleNotificationComplete',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_POWER_STATE_FAILURE, p1: 0x3 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x9f--driver-power-state-failure.md',
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
    id: 'NdisSim_MiniportOidWatchdog',
    origin: 'ndis',
    spec: ['R6.6'],
    summary:
      "An OID request the miniport pended (MiniportOidRequest returned NDIS_STATUS_PENDING) was not completed with NdisMOidRequestComplete within NDIS's OID watchdog time (ndis: oidWatchdog, 60 s by default; the real time is undocumented), or MiniportOidRequest blocked that long without returning. Parameter 2 is 0x23 (NDIS_BUGCHECK_WATCHDOG_MINIPORT_OID), parameter 4 the OID. Driver Verifier's 12 s (NdisTimedOidComplete) comes first when both are on and the watchdog is not set below it; the resets NDIS starts over a stuck request (R4.5) do not stop the watchdog.",
    ddis: ['MiniportOidRequest', 'NdisMOidRequestComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: NDIS_BUGCHECK_WATCHDOG_MINIPORT_OID },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_IdleWatchdog',
    origin: 'ndis',
    spec: [],
    summary:
      "MiniportIdleNotification (selective suspend) did not return within NDIS's idle watchdog time (ndis: idleWatchdog, 60 s by default; the real time is undocumented). Parameter 2 is 0x25 (NDIS_BUGCHECK_WATCHDOG_MINIPORT_IDLE). A notification the miniport pended is not timed: the pages leave it pending until NdisMIdleNotificationComplete, and NDIS's cancel has a watchdog of its own (NdisSim_CancelIdleWatchdog).",
    ddis: ['MiniportIdleNotification'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: NDIS_BUGCHECK_WATCHDOG_MINIPORT_IDLE },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_CancelIdleWatchdog',
    origin: 'ndis',
    spec: [],
    summary:
      "NDIS called MiniportCancelIdleNotification (activity, or a wake-up signal, on a selectively suspended adapter; or a removal or system sleep that ends selective suspend) and NdisMIdleNotificationComplete did not follow within NDIS's idle watchdog time from that call (ndis: idleWatchdog, 60 s by default; the real time is undocumented), or the handler blocked that long without returning. Parameter 2 is 0x26 (NDIS_BUGCHECK_WATCHDOG_CANCEL_IDLE).",
    ddis: ['MiniportCancelIdleNotification', 'NdisMIdleNotificationComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: NDIS_BUGCHECK_WATCHDOG_CANCEL_IDLE },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_StackOverflow',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'Driver code and NDIS called each other without end (a callback that calls a DDI which calls the same callback again, say a receive re-indicated from MiniportReturnNetBufferLists that NDIS hands straight back) until the kernel stack ran out: a double fault.',
    ddis: [],
    bugCheck: { code: BugCheckCode.UNEXPECTED_KERNEL_MODE_TRAP, p1: 0x08 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7f--unexpected-kernel-mode-trap.md',
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
    id: 'NdisSim_DriverEntryLeak',
    origin: 'ndis-sim',
    spec: ['R2.1'],
    summary:
      'DriverEntry failed after registering with NDIS (NdisMRegisterMiniportDriver, NdisFRegisterFilterDriver or NdisRegisterProtocolDriver) without deregistering, or with a device or symbolic link it made (IoCreateDevice, IoCreateSymbolicLink) still in place: the I/O manager unloads such a driver without calling its unload routine.',
    ddis: [
      'DriverEntry',
      'NdisMRegisterMiniportDriver',
      'NdisMDeregisterMiniportDriver',
      'NdisFRegisterFilterDriver',
      'NdisFDeregisterFilterDriver',
      'NdisRegisterProtocolDriver',
      'NdisDeregisterProtocolDriver',
      'IoCreateDevice',
      'IoCreateSymbolicLink',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x21) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismregisterminiportdriver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_BadCharacteristics',
    origin: 'ndis-sim',
    spec: ['R2.1', 'R2.2', 'R7.5'],
    summary:
      'NdisMRegisterMiniportDriver, NdisFRegisterFilterDriver or NdisRegisterProtocolDriver refused the characteristics (a required handler missing, FilterOidRequest without FilterOidRequestComplete, an unknown header or NDIS version, a UniqueName that is no GUID, an empty protocol Name): the driver does not load.',
    ddis: ['NdisMRegisterMiniportDriver', 'NdisFRegisterFilterDriver', 'NdisRegisterProtocolDriver'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xb0) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfregisterfilterdriver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_DpcWatchdog',
    origin: 'ndis-sim',
    spec: ['R8.11', 'R8.12'],
    summary:
      'A DPC, an ISR or code holding a spin lock spun at DISPATCH or above for longer than the DPC watchdog allows.',
    ddis: ['NdisStallExecution', 'MiniportInterruptDPC', 'MiniportInterrupt', 'NdisTimerFunction'],
    bugCheck: { code: BugCheckCode.DPC_WATCHDOG_VIOLATION, p1: 0 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x133-dpc-watchdog-violation.md',
    fatal: true,
  },
  {
    id: 'NdisSim_StaleHandle',
    origin: 'ndis-sim',
    spec: ['R5.20', 'R2.8'],
    summary:
      'An NDIS function was called with a handle whose object is gone: an adapter handle after its MiniportHaltEx returned, a filter module handle after its FilterDetach, or a protocol binding handle after NdisCloseAdapterEx.',
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
    id: 'NdisSim_OptionalHandlers',
    origin: 'ndis-sim',
    spec: ['R2.1', 'R7.5'],
    summary:
      'NdisSetOptionalHandlers was called outside MiniportSetOptions (a filter: FilterSetOptions with the driver handle, FilterSetModuleOptions with a module handle), or with a structure the driver may not register there, a wrong revision or a member that is not a routine; or a filter module got a receive handler through NDIS_FILTER_PARTIAL_CHARACTERISTICS while its driver has no FilterStatus.',
    ddis: ['NdisSetOptionalHandlers', 'MiniportSetOptions', 'FilterSetOptions', 'FilterSetModuleOptions'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x2c) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndissetoptionalhandlers.md',
    fatal: false,
  },
  {
    id: 'NdisSim_InitializeReturn',
    origin: 'ndis-sim',
    spec: ['R2.5'],
    summary:
      'MiniportInitializeEx returned a status it may not: SUCCESS, NOT_ACCEPTED, RESOURCES or FAILURE only (it cannot pend).',
    ddis: ['MiniportInitializeEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x23) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-miniport_initialize.md',
    fatal: false,
  },
  {
    id: 'NdisSim_CallbackReturnValue',
    origin: 'ndis-sim',
    spec: ['R2.2'],
    summary:
      'A driver callback returned what NDIS cannot read as its result: a Promise (an async handler; handlers must be synchronous) from any callback, anything but a number (undefined from a missing return statement) from one whose result is an NDIS_STATUS, anything but true or false from one whose result is a BOOLEAN (MiniportCheckForHangEx, an ISR), or no object from an ISR.',
    ddis: [],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xea) },
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
    id: 'NdisSim_IrqlOnReturn',
    origin: 'ndis-sim',
    spec: ['R8.10', 'R8.11'],
    summary: 'A driver callback returned to NDIS at another IRQL than it was called at.',
    ddis: [],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x05) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_SpinLockPairMismatch',
    origin: 'ndis-sim',
    spec: ['R8.10'],
    summary:
      'A spin lock taken with NdisAcquireSpinLock was released with NdisDprReleaseSpinLock, or one taken with NdisDprAcquireSpinLock with NdisReleaseSpinLock.',
    ddis: ['NdisReleaseSpinLock', 'NdisDprReleaseSpinLock'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x22) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisdpracquirespinlock.md',
    fatal: false,
  },
  {
    id: 'NdisSim_WorkItemRequeued',
    origin: 'ndis-sim',
    spec: ['R8.9'],
    summary:
      'NdisQueueIoWorkItem (or IoQueueWorkItem, IoQueueWorkItemEx for an IO_WORKITEM; System Worker Threads: never queue an item already in the queue) was called for a work item that was still queued (its routine not started yet): the model ignores the second call, so the routine runs once, with the first context.',
    ddis: ['NdisQueueIoWorkItem', 'IoQueueWorkItem', 'IoQueueWorkItemEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x06) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_WorkItemFreedWhileQueued',
    origin: 'ndis-sim',
    spec: ['R8.8', 'R8.9'],
    summary:
      'NdisFreeIoWorkItem (IoFreeWorkItem underneath: "only free a work item that is not currently queued"), or IoFreeWorkItem itself, was called for a work item that was still queued, its routine not started yet: the worker thread would run it from freed memory. A routine may free its own item (it is dequeued before it runs); the model drops the queued run.',
    ddis: ['NdisFreeIoWorkItem', 'NdisQueueIoWorkItem', 'IoFreeWorkItem'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xd3) },
    source: 'wdk-ddi-src/content/wdm/nf-wdm-iofreeworkitem.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ObjectFreedInUse',
    origin: 'ndis-sim',
    spec: ['R8.4', 'R8.7', 'R8.10'],
    summary:
      'A timer was freed while set, or a spin lock while held, or an object was used after it was freed: among them a write IRP completed (IoCompleteRequest unlocks its pages) while the NBL sent over its MDL was still out, or before that NBL was sent.',
    ddis: [
      'NdisFreeTimerObject',
      'NdisFreeSpinLock',
      'NdisFreeRWLock',
      'NdisMDeregisterMiniportDriver',
      'IoMarkIrpPending',
      'IoSetCancelRoutine',
      'NdisCloseConfiguration',
      'IoCompleteRequest',
      'NdisSendNetBufferLists',
      'NdisFSendNetBufferLists',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x07) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_TimerFreedWhileSet',
    origin: 'driver-verifier',
    spec: ['R8.4', 'R8.6', 'R8.7'],
    summary:
      'A timer object was freed while it was still set, or while its expired callback was still queued to run.',
    ddis: ['NdisFreeTimerObject'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x15 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xc4--driver-verifier-detected-violation.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ResourceNotFreed',
    origin: 'ndis-sim',
    spec: ['R2.5', 'R2.10'],
    summary:
      'MiniportHaltEx, or a failing MiniportInitializeEx, returned with an NBL pool not freed (NdisFreeNetBufferListPool), a NET_BUFFER pool not freed (NdisFreeNetBufferPool), I/O space still mapped (NdisMUnmapIoSpace), an I/O port range still registered (NdisMDeregisterIoPortRange), a read/write lock of the adapter handle not freed (NdisFreeRWLock), shared memory not freed (NdisMFreeSharedMemory) or a scatter/gather list not freed (NdisMFreeNetBufferSGList); or FilterDetach, or a failing FilterAttach, returned with a read/write lock, pool memory, an NBL pool, a NET_BUFFER pool or an MDL of the module handle not freed; or the Unload routine of a protocol driver returned with an NBL pool of its NdisProtocolHandle not freed, or with a symbolic link (IoCreateSymbolicLink) to a device it deleted not removed (IoDeleteSymbolicLink).',
    ddis: [
      'MiniportHaltEx',
      'MiniportInitializeEx',
      'FilterDetach',
      'FilterAttach',
      'DriverUnload',
      'NdisFreeMemoryWithTagPriority',
      'NdisFreeNetBufferListPool',
      'NdisFreeNetBufferPool',
      'NdisMUnmapIoSpace',
      'NdisMDeregisterIoPortRange',
      'NdisFreeRWLock',
      'NdisMFreeSharedMemory',
      'NdisMFreeNetBufferSGList',
      'IoDeleteSymbolicLink',
    ],
    summaryIn: {
      FilterDetach: filterLeakSummary,
      FilterAttach: filterLeakSummary,
    },
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x29) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_WorkItemNotFreed',
    origin: 'ndis-sim',
    spec: ['R8.8', 'R2.16'],
    summary:
      "An I/O work item allocated with the driver handle (NdisFreeIoWorkItem), or an IO_WORKITEM of IoAllocateWorkItem (IoFreeWorkItem), was not freed when MiniportDriverUnload, a filter driver's unload routine, or a protocol driver's Unload routine returned; or one allocated with an adapter handle outside MiniportInitializeEx (a DPC, a timer, the halt itself) was not freed when MiniportHaltEx returned (one allocated in MiniportInitializeEx is SDV's Init_NdisAllocateIoWorkItem).",
    ddis: [
      'NdisAllocateIoWorkItem',
      'NdisFreeIoWorkItem',
      'MiniportHaltEx',
      'IoAllocateWorkItem',
      'IoFreeWorkItem',
      'MiniportDriverUnload',
      'FilterDriverUnload',
      'DriverUnload',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x28) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisallocateioworkitem.md',
    fatal: false,
  },
  {
    id: 'NdisSim_TimerNotFreed',
    origin: 'ndis-sim',
    spec: ['R8.4', 'R8.7', 'R2.5', 'R2.16'],
    summary:
      'A timer object was not freed (NdisFreeTimerObject) in time: one allocated with the adapter handle when MiniportHaltEx, or a failing MiniportInitializeEx, returned; one allocated with the driver handle when MiniportDriverUnload returned; one allocated with a filter module handle when FilterDetach, or a failing FilterAttach, returned; one allocated with a filter driver handle when its unload routine returned; one allocated with an NdisProtocolHandle when the Unload routine of the protocol driver returned.',
    ddis: [
      'NdisAllocateTimerObject',
      'NdisFreeTimerObject',
      'MiniportHaltEx',
      'MiniportInitializeEx',
      'MiniportDriverUnload',
      'FilterDriverUnload',
      'DriverUnload',
      'FilterDetach',
      'FilterAttach',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x27) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfreetimerobject.md',
    fatal: false,
  },
  {
    // Driver Verifier's Pool Tracking option: 0xC4/0x62, parameter 2 the driver's name,
    // 4 the number of allocations not freed (bug-check-0xc4 page; status.json).
    id: 'NdisSim_PoolNotFreedAtUnload',
    origin: 'driver-verifier',
    spec: ['R2.16', 'R2.5'],
    summary:
      'The driver unloaded with pool still allocated: memory from NdisAllocateMemoryWithTagPriority, or lookaside entries (Driver Verifier pool tracking).',
    ddis: [
      'NdisAllocateMemoryWithTagPriority',
      'NdisFreeMemoryWithTagPriority',
      'NdisAllocateFromNPagedLookasideList',
      'MiniportDriverUnload',
      'FilterDriverUnload',
      'DriverUnload',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x62 },
    source: 'windows-driver-docs-pr/devtest/pool-tracking.md',
    fatal: false,
  },
  {
    // The kernel's own check under NdisFreeMemoryWithTagPriority (ExFreePoolWithTag):
    // BAD_POOL_CALLER 0x0A, parameter 2 the pool address, 3 the allocation's tag, 4 the
    // tag of the free (bug-check-0xc2--bad-pool-caller).
    id: 'NdisSim_PoolTagMismatch',
    origin: 'kernel',
    spec: [],
    summary:
      'NdisFreeMemoryWithTagPriority was given a Tag other than the one NdisAllocateMemoryWithTagPriority allocated the memory with.',
    ddis: ['NdisFreeMemoryWithTagPriority'],
    bugCheck: { code: BugCheckCode.BAD_POOL_CALLER, p1: 0x0a },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xc2--bad-pool-caller.md',
    fatal: false,
  },
  {
    // The kernel's checked list routines under NdisInterlocked...List (the ndis.h macros are
    // ExInterlocked...List, which do what InsertHeadList and RemoveHeadList do, under the
    // lock): a neighbour whose link does not point back fails fast, KERNEL_SECURITY_CHECK_FAILURE
    // 0x03, parameter 2 the trap frame, 3 the exception record (bug-check-0x139 page).
    id: 'NdisSim_ListEntryCorruption',
    origin: 'kernel',
    spec: [],
    summary:
      "An NdisInterlocked...List call found the list's links inconsistent (a neighbour's Flink or Blink does not point back), as after an entry was inserted while it was still on this list or another.",
    ddis: ['NdisInterlockedInsertHeadList', 'NdisInterlockedInsertTailList', 'NdisInterlockedRemoveHeadList'],
    bugCheck: { code: BugCheckCode.KERNEL_SECURITY_CHECK_FAILURE, p1: 0x03 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x139--kernel-security-check-failure.md',
    fatal: true,
  },
  {
    id: 'NdisSim_StatusBeforeRegistration',
    origin: 'ndis-sim',
    spec: ['R2.7', 'R6.16', 'R1.7'],
    summary:
      'MiniportInitializeEx indicated a status before it set its registration attributes, when NDIS does not yet take indications from the adapter.',
    ddis: ['NdisMIndicateStatusEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x71) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismindicatestatusex.md',
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
    id: 'NdisSim_StatusIndicationInvalid',
    origin: 'ndis',
    spec: ['R6.16', 'R6.17'],
    summary:
      'NdisMIndicateStatusEx was given an indication NDIS cannot read: a header that is not NDIS_OBJECT_TYPE_STATUS_INDICATION, a SourceHandle that is not the adapter, a link state without its NDIS_LINK_STATE, or a wake reason without its NDIS_PM_WAKE_REASON or with an information buffer its page does not allow (on a reason other than NdisWakeReasonPacket, off a 64-bit boundary, past StatusBufferSize).',
    ddis: ['NdisMIndicateStatusEx'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x20 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_OidInvalidBuffer',
    origin: 'ndis',
    spec: ['R6.1', 'R6.3'],
    summary:
      'An OID request was completed with BytesWritten (BytesRead for a set) greater than its InformationBufferLength.',
    ddis: ['MiniportOidRequest', 'NdisMOidRequestComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x1d },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SendCompleteUnexpected',
    origin: 'ndis-sim',
    spec: ['R6.9'],
    summary:
      'NdisMSendNetBufferListsComplete was given an NBL that is not a send pending on the adapter, a PENDING status, or an NBL whose NET_BUFFER list the miniport changed.',
    ddis: ['NdisMSendNetBufferListsComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x0a) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_SendNblUsedAfterCompletion',
    origin: 'ndis-sim',
    spec: ['R6.9'],
    summary:
      'The miniport freed a scatter/gather list with the NET_BUFFER of a send NBL it had already completed with NdisMSendNetBufferListsComplete: the NBL and its NET_BUFFERs went back to the protocol, which may free or reuse them. Free the lists of an NBL before completing it.',
    ddis: ['NdisMFreeNetBufferSGList', 'NdisMSendNetBufferListsComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xb4) },
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
      'A receive indication was malformed: an NBL NDIS still holds, a wrong SourceHandle, a count that does not match the chain, or a NET_BUFFER whose data runs past its MDL chain.',
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
    ddis: [
      'NdisMIndicateReceiveNetBufferLists',
      'NdisMSendNetBufferListsComplete',
      'NdisSendNetBufferLists',
      'NdisReturnNetBufferLists',
      'NdisFSendNetBufferLists',
      'NdisFSendNetBufferListsComplete',
      'NdisFIndicateReceiveNetBufferLists',
      'NdisFReturnNetBufferLists',
      'NdisAcquireRWLockRead',
      'NdisAcquireRWLockWrite',
    ],
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
    modelOnly:
      'no miniport can reach it in this model: each protocol completes its pause only when its sends are back and its receives returned (R7.2), and NDIS returns at once what a miniport indicates while no binding runs; the check stays as a check of the model itself',
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
    spec: ['R2.10', 'R8.7', 'R2.8', 'R8.8', 'R2.16'],
    summary:
      'Driver code ran after the code it belongs to was torn down: a timer, work item or interrupt of the adapter after its MiniportHaltEx returned (or a work item of the adapter still running, blocked in a wait, when MiniportHaltEx returned), or a timer allocated with the driver handle after MiniportDriverUnload returned (a work item of the driver, NDIS or IO_WORKITEM, holds the driver while queued: only one queued during the unload can run after it), or a timer allocated with a filter module handle after the module was detached, or one of a filter driver handle after its unload routine returned, or one of an NdisProtocolHandle after the Unload routine of the protocol driver returned, or a resumable dispatch routine that completed its request and woke after its driver unloaded, or NDIS called a handler of an adapter whose driver image unloaded with it never halted (an intermediate driver whose Unload routine returned with a virtual miniport up; reported once per adapter).',
    ddis: [
      'MiniportHaltEx',
      'MiniportDriverUnload',
      'FilterDriverUnload',
      'DriverUnload',
      'FilterDetach',
      'NdisTimerFunction',
      'NdisIoWorkItemFunction',
      'WorkItem',
      'WorkItemEx',
      'MiniportInterrupt',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x1a) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_LockHeldAcrossCall',
    origin: 'ndis-sim',
    spec: ['R4.15', 'R8.11'],
    summary:
      'A driver spin lock was held across an NDIS call that runs other drivers: a reset, send or OID completion, a receive or a status indication by a miniport; a send, receive, completion, return, status, OID request, OID completion or cancel passed on by a filter module; IoCompleteRequest of an IRP that came to a device the driver made. The message names the driver that acquired the lock and the DDI.',
    ddis: [
      'NdisMResetComplete',
      'NdisMSendNetBufferListsComplete',
      'NdisMIndicateReceiveNetBufferLists',
      'NdisMIndicateStatusEx',
      'NdisMOidRequestComplete',
      'NdisFSendNetBufferLists',
      'NdisFSendNetBufferListsComplete',
      'NdisFIndicateReceiveNetBufferLists',
      'NdisFReturnNetBufferLists',
      'NdisFCancelSendNetBufferLists',
      'NdisFIndicateStatus',
      'NdisFOidRequest',
      'NdisFOidRequestComplete',
      'NdisFCancelOidRequest',
      'IoCompleteRequest',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x20) },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_RWLockMisuse',
    origin: 'ndis-sim',
    spec: ['R8.10', 'R8.11'],
    summary:
      'A read/write lock was misused: read promoted to write on one processor, taken against a holder that cannot let go (a deadlock), released with a LOCK_STATE_EX that does not hold it or on another processor, acquired with a LOCK_STATE_EX still in use, or allocated with a NULL NdisHandle outside DriverEntry (nf-ndis-ndisallocaterwlock allows NULL only there).',
    ddis: ['NdisAcquireRWLockRead', 'NdisAcquireRWLockWrite', 'NdisReleaseRWLock', 'NdisAllocateRWLock'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x2b) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisacquirerwlockwrite.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ResetBlocks',
    origin: 'ndis-sim',
    spec: ['R4.13'],
    summary:
      'MiniportResetEx waited longer than the 50 µs a reset may wait (one NdisMSleep, or NdisStallExecution calls in all); a longer wait is a timer, NDIS_STATUS_PENDING and NdisMResetComplete.',
    ddis: ['NdisMSleep', 'NdisStallExecution'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x2a) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-miniport_reset.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SleepTooLong',
    origin: 'ndis-sim',
    spec: ['R8.12'],
    summary:
      'NdisMSleep was asked for a delay above 30,000,000 µs (30 s), the most its documentation allows.',
    ddis: ['NdisMSleep'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x24) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismsleep.md',
    fatal: false,
  },
  {
    id: 'NdisSim_InterruptOutsideInitHalt',
    origin: 'ndis-sim',
    spec: ['R2.7', 'R2.10'],
    summary:
      'NdisMRegisterInterruptEx was called outside MiniportInitializeEx, or NdisMDeregisterInterruptEx outside MiniportInitializeEx and MiniportHaltEx.',
    ddis: ['NdisMRegisterInterruptEx', 'NdisMDeregisterInterruptEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x25) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismderegisterinterruptex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_IdleNotificationConfirm',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisMIdleNotificationConfirm was called with no idle notification outstanding (none issued, or already completed with NdisMIdleNotificationComplete), a second time for the same notification, or with an IdlePowerState that is not a low-power state (D1, D2, D3); NDIS does nothing.',
    ddis: ['NdisMIdleNotificationConfirm', 'MiniportIdleNotification'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x50) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismidlenotificationconfirm.md',
    fatal: false,
  },
  {
    id: 'NdisSim_IdleNotificationComplete',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisMIdleNotificationComplete was called with no idle notification outstanding: none was issued, or this one was completed already (a second completion); NDIS does nothing.',
    ddis: ['NdisMIdleNotificationComplete', 'MiniportCancelIdleNotification'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x51) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismidlenotificationcomplete.md',
    fatal: false,
  },
  {
    id: 'NdisSim_IdleNotificationStatus',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'MiniportIdleNotification returned NDIS_STATUS_SUCCESS (it must return NDIS_STATUS_PENDING and complete later) or a status its page does not list; NDIS takes SUCCESS as PENDING and any other status as a veto.',
    ddis: ['MiniportIdleNotification'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x52) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-miniport_idle_notification.md',
    fatal: false,
  },
  {
    id: 'NdisSim_QueueDpcDeregistered',
    origin: 'ndis-sim',
    spec: ['R2.10'],
    summary:
      'NdisMQueueDpcEx or NdisMQueueDpc was called for an interrupt that NdisMDeregisterInterruptEx has deregistered (on Windows the interrupt object is freed: a use after free), or from a DPC that NdisMDeregisterInterruptEx runs before it returns (no MiniportInterruptDPC may run after it returns, so the DPC could never run). Nothing is queued and the call returns 0.',
    ddis: ['NdisMQueueDpcEx', 'NdisMQueueDpc', 'NdisMDeregisterInterruptEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x13d) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismderegisterinterruptex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_InterruptSyncDeadlock',
    origin: 'ndis-sim',
    spec: ['R8.10'],
    summary:
      "NdisMSynchronizeWithInterruptEx was called while the caller held the spin lock it takes: from the interrupt's own ISR, or from a routine it synchronizes (for messages with locks of their own, on the same message). The routine runs under that system spin lock, which is not recursive: on Windows the processor spins for ever. The model reports it and runs nothing (FALSE).",
    ddis: ['NdisMSynchronizeWithInterruptEx', 'MiniportInterrupt', 'MiniportMessageInterrupt'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xb3) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismsynchronizewithinterruptex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_MessageIdOutOfRange',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisMSynchronizeWithInterruptEx or NdisMQueueDpcEx named a MessageId past the MessageInfoTable of a message-based interrupt (MessageId indexes that table); nothing is run or queued.',
    ddis: ['NdisMSynchronizeWithInterruptEx', 'NdisMQueueDpcEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x40) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismsynchronizewithinterruptex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_DmaOutsideInitHalt',
    origin: 'ndis-sim',
    spec: ['R2.3', 'R2.10'],
    summary:
      'NdisMRegisterScatterGatherDma or NdisMAllocateSharedMemory was called outside MiniportInitializeEx, or NdisMDeregisterScatterGatherDma outside MiniportInitializeEx and MiniportHaltEx.',
    ddis: ['NdisMRegisterScatterGatherDma', 'NdisMAllocateSharedMemory', 'NdisMDeregisterScatterGatherDma'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x3b) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismallocatesharedmemory.md',
    fatal: false,
  },
  {
    id: 'NdisSim_UnmapIoSpaceLength',
    origin: 'ndis-sim',
    spec: ['R2.10'],
    summary:
      'NdisMUnmapIoSpace was called with a Length other than the one NdisMMapIoSpace mapped the range with; the page says the two must match. The model unmaps the range all the same.',
    ddis: ['NdisMUnmapIoSpace', 'NdisMMapIoSpace'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xfa) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismunmapiospace.md',
    fatal: false,
  },
  {
    id: 'NdisSim_UnmapIoSpaceOutsideInitHalt',
    origin: 'ndis-sim',
    spec: ['R2.10'],
    summary:
      'NdisMUnmapIoSpace was called while neither MiniportInitializeEx nor MiniportHaltEx of the adapter was running (in MiniportDevicePnPEventNotify on a surprise removal, say); its page says it can be called only from those two. The model unmaps the range all the same.',
    ddis: ['NdisMUnmapIoSpace'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xfb) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismunmapiospace.md',
    fatal: false,
  },
  {
    id: 'NdisSim_DirectOid',
    origin: 'ndis-sim',
    spec: ['R6.2', 'R6.3'],
    summary:
      'A direct OID request misused: NdisMDirectOidRequestComplete for a request MiniportDirectOidRequest did not pend (completed twice, after a final return value, or never handed to it) or with NDIS_STATUS_PENDING; MiniportDirectOidRequest completed its request and returned a final status; NdisDirectOidRequest or NdisFDirectOidRequest with an OID the direct path does not allow; or NdisDirectOidRequest from a protocol with no ProtocolDirectOidRequestComplete.',
    ddis: [
      'NdisMDirectOidRequestComplete',
      'MiniportDirectOidRequest',
      'NdisDirectOidRequest',
      'NdisFDirectOidRequest',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xfd) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismdirectoidrequestcomplete.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SyncOid',
    origin: 'ndis-sim',
    spec: ['R6.2'],
    summary:
      'A synchronous OID request (NDIS 6.80) misused: MiniportSynchronousOidRequest or FilterSynchronousOidRequest returned NDIS_STATUS_PENDING (NDIS bug checks: the run stops) or the miniport returned NDIS_STATUS_REQUEST_ABORTED; FilterSynchronousOidRequestComplete wrote NDIS_STATUS_PENDING or NDIS_STATUS_ALREADY_COMPLETE to *Status; NdisSynchronousOidRequest or NdisFSynchronousOidRequest with an OID the path does not allow, or OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES other than as a method request at DISPATCH_LEVEL without NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID; a filter that passes on, clones or cancels a synchronous request it received; a selective suspend miniport that registers MiniportSynchronousOidRequest.',
    ddis: [
      'MiniportSynchronousOidRequest',
      'FilterSynchronousOidRequest',
      'FilterSynchronousOidRequestComplete',
      'NdisSynchronousOidRequest',
      'NdisFSynchronousOidRequest',
      'NdisAllocateCloneOidRequest',
      'NdisFCancelOidRequest',
      'NdisSetOptionalHandlers',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xef) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-miniport_synchronous_oid_request.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SharedMemoryWithoutDma',
    origin: 'ndis-sim',
    spec: ['R2.3'],
    summary:
      'NdisMAllocateSharedMemory or NdisMGetDmaAlignment was called with no scatter/gather DMA channel registered (NdisMRegisterScatterGatherDma comes first); the model returns no memory (NdisMGetDmaAlignment still answers).',
    ddis: ['NdisMAllocateSharedMemory', 'NdisMGetDmaAlignment', 'NdisMRegisterScatterGatherDma'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x3c) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismallocatesharedmemory.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SharedMemoryHighIrql',
    origin: 'ndis',
    spec: ['R8.2'],
    summary: 'NdisMAllocateSharedMemory was called above PASSIVE_LEVEL (NDIS checks this itself).',
    ddis: ['NdisMAllocateSharedMemory'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x01 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SharedMemoryFreeInvalid',
    origin: 'ndis',
    spec: ['R2.10'],
    summary:
      'NdisMFreeSharedMemory was given memory that is not allocated shared memory: freed twice, or never allocated (NDIS checks this itself).',
    ddis: ['NdisMFreeSharedMemory'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x03 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SharedMemoryFreeMismatch',
    origin: 'ndis-sim',
    spec: ['R2.10'],
    summary:
      "NdisMFreeSharedMemory was called with a Length, Cached or PhysicalAddress other than the allocation's, or with another adapter's handle: its arguments must be exactly those of the allocation (NdisMAllocateSharedMemory, or the completion of NdisMAllocateSharedMemoryAsyncEx).",
    ddis: ['NdisMFreeSharedMemory'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x3d) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismfreesharedmemory.md',
    fatal: false,
  },
  {
    // Driver Verifier's DMA verification: 0xE6/0x06, parameters 2 and 3 the lists built
    // and freed (bug-check-0xe6 page).
    id: 'NdisSim_SgListFreedTwice',
    origin: 'driver-verifier',
    spec: [],
    summary:
      'NdisMFreeNetBufferSGList was given a scatter/gather list that was already freed: more lists freed than built (Driver Verifier DMA verification).',
    ddis: ['NdisMFreeNetBufferSGList'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DMA_VIOLATION, p1: 0x06 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xe6--driver-verifier-dma-violation.md',
    fatal: false,
  },
  {
    // 0xE6/0x0A: the DMA adapter is freed with lists out; parameter 3 is how many.
    id: 'NdisSim_SgListsOutstanding',
    origin: 'driver-verifier',
    spec: ['R2.10'],
    summary:
      'NdisMDeregisterScatterGatherDma was called while scatter/gather lists of the channel were not freed (NdisMFreeNetBufferSGList); NDIS takes them back (Driver Verifier DMA verification).',
    ddis: ['NdisMDeregisterScatterGatherDma', 'NdisMFreeNetBufferSGList'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DMA_VIOLATION, p1: 0x0a },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xe6--driver-verifier-dma-violation.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SharedMemoryAllocationPending',
    origin: 'ndis-sim',
    spec: ['R2.10'],
    summary:
      'NdisMDeregisterScatterGatherDma was called, or MiniportHaltEx (or a failing MiniportInitializeEx) returned, while an NdisMAllocateSharedMemoryAsyncEx allocation was pending: its MiniportSharedMemoryAllocateComplete had not run. The driver waits for it and frees the memory it brings before the NIC goes; NDIS drops the allocation (no memory, no completion).',
    ddis: [
      'NdisMAllocateSharedMemoryAsyncEx',
      'MiniportSharedMemoryAllocateComplete',
      'NdisMDeregisterScatterGatherDma',
      'MiniportHaltEx',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x70) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismallocatesharedmemoryasyncex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_PollNotDeregistered',
    origin: 'ndis-sim',
    spec: ['R2.10'],
    summary:
      'MiniportHaltEx (or a failing MiniportInitializeEx) returned with a poll object still registered: the driver deregisters its poll objects (NdisDeregisterPoll) in its halt. NDIS drops them and calls no NdisPoll after.',
    ddis: ['NdisRegisterPoll', 'NdisDeregisterPoll', 'MiniportHaltEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xa0) },
    source: 'wdk-ddi-src/content/poll/nf-poll-ndisderegisterpoll.md',
    fatal: false,
  },
  {
    id: 'NdisSim_PollHandle',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisRequestPoll, NdisSetPollAffinity or NdisDeregisterPoll was given a poll object that was deregistered (or dropped with its halted adapter), or a handle that is not a PollHandle from NdisRegisterPoll: the object is freed memory.',
    ddis: ['NdisRequestPoll', 'NdisSetPollAffinity', 'NdisDeregisterPoll'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xa1) },
    source: 'wdk-ddi-src/content/poll/nf-poll-ndisrequestpoll.md',
    fatal: true,
  },
  {
    id: 'NdisSim_PollData',
    origin: 'ndis-sim',
    spec: ['R6.12'],
    summary:
      'NdisPoll returned poll data that breaks its contract: more NBLs than MaxNblsToIndicate or MaxNblsToComplete, a count that is not the length of its chain (and not NDIS_ANY_NUMBER_OF_NBLS), or flags the structure does not take. NDIS still hands the NBLs on.',
    ddis: ['NdisPoll'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xa2) },
    source: 'wdk-ddi-src/content/poll/nc-poll-ndis_poll.md',
    fatal: false,
  },
  {
    id: 'NdisSim_PollModeVersion',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisRegisterPoll was called by a miniport that declares an NDIS version below 6.85: poll mode is available to NDIS 6.85 and later miniports (poll.h declares it only for them). NDIS fails the call with NDIS_STATUS_NOT_SUPPORTED.',
    ddis: ['NdisRegisterPoll'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xa3) },
    source: 'windows-driver-docs-pr/network/ndis-poll-mode.md',
    fatal: false,
  },
  {
    id: 'NdisSim_PollDeregisterInPoll',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisDeregisterPoll was called from inside the NdisPoll or NdisSetPollNotification of the poll object it deregisters: deregistration waits for the polling in progress, which is the caller, so it never returns.',
    ddis: ['NdisDeregisterPoll', 'NdisPoll', 'NdisSetPollNotification'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xa4) },
    source: 'wdk-ddi-src/content/poll/nf-poll-ndisderegisterpoll.md',
    fatal: true,
  },
  {
    id: 'NdisSim_SetPowerSendsPending',
    origin: 'ndis-sim',
    spec: ['R6.9'],
    summary:
      'OID_PNP_SET_POWER to a low-power state (D1, D2 or D3) completed with SUCCESS while send NBLs were still in the miniport: before it completes the request the miniport completes every send it holds (NdisMSendNetBufferListsComplete, NDIS_STATUS_LOW_POWER_STATE for those not sent), and it rejects new ones the same way.',
    ddis: ['MiniportOidRequest', 'NdisMOidRequestComplete', 'NdisMSendNetBufferListsComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xd0) },
    source: 'windows-driver-docs-pr/network/oid-pnp-set-power.md',
    fatal: false,
  },
  {
    id: 'NdisSim_SetPowerTimerSet',
    origin: 'ndis-sim',
    spec: ['R8.5', 'R8.6'],
    summary:
      'OID_PNP_SET_POWER(D3) completed with SUCCESS while an NDIS timer allocated with the adapter handle was still set: before the adapter goes to D3 the miniport cancels all its NDIS timers (NdisCancelTimerObject). A timer left set fires while the NIC is still in D3: in selective suspend at its due time, with the device idle in D3; for a system sleep as soon as the system wakes, before OID_PNP_SET_POWER(D0).',
    ddis: ['MiniportOidRequest', 'NdisMOidRequestComplete', 'NdisSetTimerObject', 'NdisCancelTimerObject'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xd1) },
    source: 'windows-driver-docs-pr/network/oid-pnp-set-power.md',
    fatal: false,
  },
  {
    id: 'NdisSim_HardwareAccessInLowPower',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'A register or I/O port DDI (NdisReadRegister*, NdisWriteRegister*, NdisRawReadPort*, NdisRawWritePort*) reached the adapter while the bus driver had the device out of D0 (a system sleep or selective suspend took it to a low-power state): a miniport cannot access its network adapter then. The NIC does not decode the access: a read gives all ones, a write is lost. Reported once per low-power stay. After the SurpriseRemoved notification the hardware is gone whatever its last power state: an access then is an R5.7 warning instead, in D0 and in D3 alike.',
    ddis: [
      'NdisReadRegisterUlong',
      'NdisWriteRegisterUlong',
      'NdisReadRegisterUchar',
      'NdisReadRegisterUshort',
      'NdisWriteRegisterUchar',
      'NdisWriteRegisterUshort',
      'NdisRawReadPortUchar',
      'NdisRawReadPortUshort',
      'NdisRawReadPortUlong',
      'NdisRawWritePortUchar',
      'NdisRawWritePortUshort',
      'NdisRawWritePortUlong',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xd2) },
    source: 'windows-driver-docs-pr/network/oid-pnp-set-power.md',
    fatal: false,
  },
  {
    id: 'NdisSim_QueryPowerFailed',
    origin: 'ndis-sim',
    spec: [],
    summary:
      "OID_PNP_QUERY_POWER completed with another status than NDIS_STATUS_SUCCESS: its page says a miniport must always succeed it (the query only warns the miniport of a coming OID_PNP_SET_POWER; the power change goes ahead whatever it answers). Driver Verifier's NdisOidComplete does not check this OID (its page restricts OID_PNP_SET_POWER and the delete/free OIDs), so Windows does not stop here.",
    ddis: ['MiniportOidRequest', 'NdisMOidRequestComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xd4) },
    source: 'windows-driver-docs-pr/network/oid-pnp-query-power.md',
    fatal: false,
  },
  {
    id: 'NdisSim_WakeReasonOutsideSetPower',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NDIS_STATUS_PM_WAKE_REASON was indicated while no OID_PNP_SET_POWER(D0) was in the miniport: the miniport issues the wake reason while it handles that request, before it completes it and before any indication the wake caused (a link state, say), so that NDIS and the drivers above learn why the system woke before anything else. Indicated later, or from a work item after the completion, it comes after the events it explains.',
    ddis: ['NdisMIndicateStatusEx', 'MiniportOidRequest', 'NdisMOidRequestComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xfc) },
    source: 'windows-driver-docs-pr/network/issuing-ndis-wake-reason-indications.md',
    fatal: false,
  },
  {
    id: 'NdisSim_WakeReasonContent',
    origin: 'ndis-sim',
    spec: [],
    summary:
      "NDIS_STATUS_PM_WAKE_REASON says what its pages forbid: a wake packet from an adapter whose NDIS_PM_CAPABILITIES does not set NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED, a SavedPacketSize past MaxWoLPacketSaveBuffer, or a PatternId that names no WoL pattern NDIS gave the adapter (NDIS takes PatternFriendlyName from that pattern). NDIS passes it on. A warning under the same name, not a violation, when the verifier knows better than NDIS can: a wake reason with no wake-up signal from the device since it went to low power, or a media event reported for a packet's wake (or a packet for a link change's).",
    ddis: ['NdisMIndicateStatusEx', 'MiniportOidRequest'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x130) },
    source: 'windows-driver-docs-pr/network/issuing-ndis-wake-reason-indications.md',
    fatal: false,
  },
  {
    id: 'NdisSim_Irql',
    origin: 'ndis-sim',
    spec: ['R8.2'],
    summary:
      'A DDI whose documentation gives an IRQL, but no SDV IRQL rule lists, was called above that IRQL.',
    ddis: [],
    bugCheck: { code: BugCheckCode.DRIVER_IRQL_NOT_LESS_OR_EQUAL, p1: null },
    source: spec,
    fatal: false,
  },
  {
    id: 'NdisSim_PortNotRegistered',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'An NdisRawRead/WritePortXxx reached a port in no range NdisMRegisterIoPortRange registered (never, or no longer), or NdisMDeregisterIoPortRange was given a range other than one registered.',
    ddis: [
      'NdisRawReadPortUchar',
      'NdisRawReadPortUshort',
      'NdisRawReadPortUlong',
      'NdisRawWritePortUchar',
      'NdisRawWritePortUshort',
      'NdisRawWritePortUlong',
      'NdisMDeregisterIoPortRange',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x2e) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisrawreadportuchar.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterAttach',
    origin: 'ndis-sim',
    spec: ['R7.5'],
    summary:
      'FilterAttach returned SUCCESS without NdisFSetAttributes, or a status it may not return (PENDING included: an attach cannot pend); or NdisFSetAttributes was called outside FilterAttach.',
    ddis: ['FilterAttach', 'NdisFSetAttributes'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x60) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-filter_attach.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterReturn',
    origin: 'ndis-sim',
    spec: ['R7.5'],
    summary:
      'A filter restart ended with a status other than SUCCESS, RESOURCES or FAILURE, or FilterSetModuleOptions or FilterNetPnPEvent returned NDIS_STATUS_PENDING, which neither may.',
    ddis: ['FilterRestart', 'NdisFRestartComplete', 'FilterSetModuleOptions', 'FilterNetPnPEvent'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x61) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-filter_restart.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterCompleteUnexpected',
    origin: 'ndis-sim',
    spec: ['R7.5'],
    summary:
      'NdisFRestartComplete was called with no restart pending, or inside FilterRestart before it returned a final status (the restart completed twice).',
    ddis: ['NdisFRestartComplete', 'FilterRestart'],
    // Not 0x7C/0x1F: the 0x7C page defines 0x1F (ILLEGAL_MINIPORT_STATE_TRANSITION) for
    // miniports only, and no NDIS code covers a filter's restart completed out of turn.
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xeb) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfrestartcomplete.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterRegistration',
    origin: 'ndis-sim',
    spec: ['R7.5'],
    summary:
      "NdisFRegisterFilterDriver outside the filter driver's DriverEntry, or for a driver with FilterReceiveNetBufferLists or FilterReturnNetBufferLists but no FilterStatus (the registration stands); NdisFDeregisterFilterDriver called twice or with filter modules still attached.",
    ddis: ['NdisFRegisterFilterDriver', 'NdisFDeregisterFilterDriver'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x62) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfregisterfilterdriver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterForward',
    origin: 'ndis-sim',
    spec: ['R7.7'],
    summary:
      'NdisFNetPnPEvent or NdisFDevicePnPEventNotify was called outside the filter handler that received the event, or NdisFNetPnPEvent with another notification than the one NDIS passed.',
    ddis: ['NdisFNetPnPEvent', 'NdisFDevicePnPEventNotify'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x63) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfnetpnpevent.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterWatchdog',
    origin: 'ndis',
    spec: ['R7.13'],
    summary:
      "FilterNetPnPEvent, FilterStatus or FilterDetach did not return within NDIS's watchdog time (the pause watchdog's for the first two, the halt watchdog's for the detach); parameter 2 names the operation.",
    ddis: ['FilterNetPnPEvent', 'FilterStatus', 'FilterDetach'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_FilterPauseWatchdog',
    origin: 'ndis',
    spec: ['R7.13'],
    summary:
      "A filter module's FilterPause returned NDIS_STATUS_PENDING and NdisFPauseComplete did not follow within NDIS's watchdog time (the pause watchdog's, ndis: pauseWatchdog, 60 s), or FilterPause blocked that long without returning. Parameter 2 is 0x11 (NDIS_BUGCHECK_WATCHDOG_FILTER_PAUSE). NDIS's own check, with or without Driver Verifier; Driver Verifier's NdisFilterTimedPauseComplete (10 s) comes first when it is on.",
    ddis: ['FilterPause', 'NdisFPauseComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: NDIS_BUGCHECK_WATCHDOG_FILTER_PAUSE },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_FilterState',
    origin: 'ndis-sim',
    spec: ['R7.5'],
    summary:
      'A filter module called NdisFOidRequest outside the Paused, Restarting, Running and Pausing states, or NdisFIndicateStatus before NdisFSetAttributes returned.',
    ddis: ['NdisFOidRequest', 'NdisFIndicateStatus'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x6c) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfoidrequest.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterOidComplete',
    origin: 'ndis-sim',
    spec: ['R6.3', 'R7.5'],
    summary:
      'NdisFOidRequestComplete (or NdisFDirectOidRequestComplete) for a request the module does not hold (completed twice, after FilterOidRequest or FilterDirectOidRequest returned a final status, or never handed to it) or with NDIS_STATUS_PENDING; FilterOidRequest or FilterDirectOidRequest completed its request and returned a final status; or NdisFOidRequest (NdisFDirectOidRequest) from a driver with no FilterOidRequestComplete (FilterDirectOidRequestComplete).',
    ddis: [
      'NdisFOidRequestComplete',
      'FilterOidRequest',
      'NdisFOidRequest',
      'NdisFDirectOidRequestComplete',
      'FilterDirectOidRequest',
      'NdisFDirectOidRequest',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x6d) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfoidrequestcomplete.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterOidClone',
    origin: 'ndis-sim',
    spec: ['R7.5'],
    summary:
      'A filter forwarded the NDIS_OID_REQUEST its FilterOidRequest got instead of a clone, freed something that is not its clone (or a clone twice, or one still below), completed the original before it freed the clone, or left clones unfreed when FilterDetach returned.',
    ddis: [
      'NdisAllocateCloneOidRequest',
      'NdisFreeCloneOidRequest',
      'NdisFOidRequest',
      'NdisFOidRequestComplete',
      'FilterDetach',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x6e) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisallocatecloneoidrequest.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterStatusInvalid',
    origin: 'ndis-sim',
    spec: ['R6.16', 'R4.13'],
    summary:
      'NdisFIndicateStatus with an indication NDIS cannot pass on: a wrong header type, a SourceHandle that is neither the module nor a driver below it, a DestinationHandle that names no requester above it, or RESET_START/END originated by the module.',
    ddis: ['NdisFIndicateStatus'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x6f) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfindicatestatus.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterOidWatchdog',
    origin: 'ndis',
    spec: ['R7.13'],
    summary:
      "A filter module pended an OID request in FilterOidRequest and did not complete it within NDIS's OID watchdog time (ndis: oidWatchdog, as for a miniport's 0x23, from the PENDING return), or its FilterOidRequest blocked that long without returning (from the call), with nothing of its own outstanding below.",
    ddis: ['FilterOidRequest', 'NdisFOidRequestComplete'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25, p2: NDIS_BUGCHECK_WATCHDOG_FILTER_OID },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_FilterNblOwnership',
    origin: 'ndis-sim',
    spec: ['R7.5', 'R6.9', 'R6.13'],
    summary:
      'A filter module passed on, completed or returned an NBL it did not hold: completed or returned twice, used after it was passed on, a send given back as a receive or the other way round, its own NBL completed or returned like one from another driver, an NBL that came with NDIS_RECEIVE_FLAGS_RESOURCES kept or passed on without the flag, or the chain of such an indication not put back as it came when FilterReceiveNetBufferLists returns; or a chain that loops, a wrong NumberOfNetBufferLists, a send completed with NDIS_STATUS_PENDING.',
    ddis: [
      'NdisFSendNetBufferLists',
      'NdisFSendNetBufferListsComplete',
      'NdisFIndicateReceiveNetBufferLists',
      'NdisFReturnNetBufferLists',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x68) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisfsendnetbufferlistscomplete.md',
    fatal: false,
  },
  {
    id: 'NdisSim_CloneOutlivesParent',
    origin: 'ndis-sim',
    spec: ['R6.9', 'R6.13'],
    summary:
      'A clone (NdisAllocateCloneNetBufferList) was freed after its parent NBL had left the driver that cloned it (completed, returned, passed on or freed): the clone describes the parent’s data, so the parent stays until every clone of it is freed.',
    ddis: ['NdisFreeCloneNetBufferList'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xc0) },
    source: 'windows-driver-docs-pr/network/relationships-between-net-buffer-list-generations.md',
    fatal: false,
  },
  {
    id: 'NdisSim_NblContext',
    origin: 'ndis-sim',
    spec: ['R6.9', 'R6.13', 'R7.5'],
    summary:
      'A driver gave an NBL back up (completed a send, returned a receive) with NBL context space it allocated (NdisAllocateNetBufferListContext) still in use, left such space in an NBL that came back to its owner past it, freed context space another driver allocated, took or freed space in a send NBL another driver held (after passing it on or completing it), freed an NBL with such space still in use, or freed the space NdisAllocateNetBufferList gave with its ContextSize: the context space is a stack, and the driver above would read the wrong bytes at NET_BUFFER_LIST_CONTEXT_DATA_START.',
    ddis: [
      'NdisFreeNetBufferListContext',
      'NdisMSendNetBufferListsComplete',
      'NdisFSendNetBufferListsComplete',
      'NdisFReturnNetBufferLists',
      'NdisReturnNetBufferLists',
      'MiniportReturnNetBufferLists',
      'NdisMIndicateReceiveNetBufferLists',
      'NdisFIndicateReceiveNetBufferLists',
      'NdisFreeNetBufferList',
      'NdisFreeCloneNetBufferList',
      'ProtocolSendNetBufferListsComplete',
      'FilterSendNetBufferListsComplete',
      'FilterReturnNetBufferLists',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf9) },
    source: 'wdk-ddi-src/content/nbl/ns-nbl-net_buffer_list_context.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterDataState',
    origin: 'ndis-sim',
    spec: ['R7.5', 'R7.6'],
    summary:
      'A filter module originated sends or receive indications while not Running (Pausing, Paused, Restarting), passed sends on while Paused or Restarting, originated NBLs whose SourceHandle is not its NdisFilterHandle, put its NdisFilterHandle in SourceHandle of NBLs it did not originate, called NdisFSendNetBufferLists without a FilterSendNetBufferListsComplete to get the NBLs back, or originated sends or receive indications on a PortNumber other than 0 that is not a port the miniport allocated and activated.',
    ddis: ['NdisFSendNetBufferLists', 'NdisFIndicateReceiveNetBufferLists'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x69) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-filter_pause.md',
    fatal: false,
  },
  {
    id: 'NdisSim_FilterPauseNotDrained',
    origin: 'ndis-sim',
    spec: ['R7.6'],
    summary:
      "A filter module's pause completed while it still held sends from above or receives from below, or while sends or receive indications it originated were not back.",
    ddis: ['FilterPause', 'NdisFPauseComplete'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x6a) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-filter_pause.md',
    fatal: false,
  },
  // Protocol drivers that register themselves (api/protocol.ts, protocol-driver.ts).
  // The range 0xF0.. is theirs.
  {
    id: 'NdisSim_ProtocolBinding',
    origin: 'ndis-sim',
    spec: ['R7.1'],
    summary:
      'A protocol driver broke the bind contract: a bind that succeeded without NdisOpenAdapterEx or before a pended open completed, a failed bind that left the adapter open, NdisOpenAdapterEx outside ProtocolBindAdapterEx or twice, or with a MediumArraySize or FrameTypeArraySize past the end of its array, a binding handle used before its pended open completed, NdisCompleteBindAdapterEx with no bind pending (or inside a bind that then returned its status) or with NDIS_STATUS_PENDING as its status, or NdisRegisterProtocolDriver outside its DriverEntry.',
    ddis: [
      'ProtocolBindAdapterEx',
      'NdisRegisterProtocolDriver',
      'NdisDeregisterProtocolDriver',
      'NdisOpenAdapterEx',
      'NdisCompleteBindAdapterEx',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf0) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-protocol_bind_adapter_ex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolUnbind',
    origin: 'ndis-sim',
    spec: ['R7.3', 'R7.11'],
    summary:
      'A protocol driver broke the unbind contract: an unbind it failed, an unbind completed without NdisCloseAdapterEx or before a pended close completed, NdisCloseAdapterEx with no bind or unbind under way or with sends, OID requests or receives still out, or NdisCompleteUnbindAdapterEx with no unbind pending.',
    ddis: ['ProtocolUnbindAdapterEx', 'NdisCloseAdapterEx', 'NdisCompleteUnbindAdapterEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf4) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-protocol_unbind_adapter_ex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolNetPnPEvent',
    origin: 'ndis-sim',
    spec: ['R7.2', 'R7.4'],
    summary:
      'A protocol driver broke the contract of a network PnP event: a pause it failed, NdisCompleteNetPnPEvent inside ProtocolNetPnPEvent followed by a status other than PENDING (the event completed twice), a pended event completed twice, NdisCompleteNetPnPEvent with NDIS_STATUS_PENDING as its status, or with no event of the binding pending, with another notification than NDIS passed, or with the handle of another binding than the event came on.',
    ddis: ['ProtocolNetPnPEvent', 'NdisCompleteNetPnPEvent'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf5) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndiscompletenetpnpevent.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolNblOwnership',
    origin: 'ndis-sim',
    spec: ['R7.1', 'R6.9', 'R6.13'],
    summary:
      'A protocol driver sent an NBL that is not its own to send (not from a pool of its NdisProtocolHandle, sent already and not back, freed, or without the binding handle in SourceHandle), or returned an NBL it did not hold as a receive (returned twice, one of its sends, one that came with NDIS_RECEIVE_FLAGS_RESOURCES, a chain that loops).',
    ddis: ['NdisSendNetBufferLists', 'NdisReturnNetBufferLists'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf1) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndissendnetbufferlists.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolDataState',
    origin: 'ndis-sim',
    spec: ['R7.1', 'R7.2'],
    summary:
      'A protocol driver sent on a binding that is not Running (Paused, Pausing, Restarting, or still opening): NDIS gives the NBLs back with NDIS_STATUS_PAUSED. Or it sent, or issued an OID request, on a PortNumber other than the default port 0 that is not a port the miniport allocated and activated (NdisMAllocatePort, NetEventPortActivation).',
    ddis: ['NdisSendNetBufferLists'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf2) },
    source: 'windows-driver-docs-pr/network/binding-states-of-a-protocol-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolPauseNotDrained',
    origin: 'ndis-sim',
    spec: ['R7.2'],
    summary:
      'A protocol driver completed NetEventPause (returned SUCCESS, or NdisCompleteNetPnPEvent) while sends it made on the binding were not yet back in its ProtocolSendNetBufferListsComplete, or receives it held were not yet returned with NdisReturnNetBufferLists.',
    ddis: ['ProtocolNetPnPEvent', 'NdisCompleteNetPnPEvent'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf3) },
    source: 'windows-driver-docs-pr/network/pausing-a-binding.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolWatchdog',
    origin: 'ndis',
    spec: ['R7.13'],
    summary:
      "A protocol driver returned NDIS_STATUS_PENDING from ProtocolBindAdapterEx, ProtocolUnbindAdapterEx or ProtocolNetPnPEvent (any event sent to a binding) and did not complete it within NDIS's watchdog time (the pause watchdog's), or its ProtocolUnbindAdapterEx, ProtocolNetPnPEvent or ProtocolStatusEx blocked that long without returning; parameter 2 is the operation as the 0x7C page numbers it (0x01 a pause, 0x04 an unbind, 0x03 a status indication, 0x02 NDIS_BUGCHECK_WATCHDOG_PROTOCOL_NETPNPEVENT any other net PnP event, with its code in parameter 4; 0 a bind, which the page does not name).",
    ddis: ['ProtocolBindAdapterEx', 'ProtocolUnbindAdapterEx', 'ProtocolNetPnPEvent', 'ProtocolStatusEx'],
    bugCheck: { code: BugCheckCode.BUGCODE_NDIS_DRIVER, p1: 0x25 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x7c--bugcode-ndis-driver.md',
    fatal: true,
  },
  {
    id: 'NdisSim_ProtocolDeregister',
    origin: 'ndis-sim',
    spec: ['R7.3'],
    summary:
      'A protocol driver called NdisDeregisterProtocolDriver from an entry point NDIS called (its bind, unbind, open or close completion, net PnP event, OID completion, status, receive or send completion handler): NDIS unbinds the open bindings inside the call and waits for them, and they wait for that handler, a deadlock. The model reports it and does not deregister.',
    ddis: ['NdisDeregisterProtocolDriver'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf7) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisderegisterprotocoldriver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolUnload',
    origin: 'ndis-sim',
    spec: ['R7.11'],
    summary:
      "A protocol driver's Unload routine (DRIVER_OBJECT.DriverUnload, called when its service stops: scenario stop-protocol) returned without NdisDeregisterProtocolDriver: NDIS still holds its registration, and its bindings, whose handlers are in the code that is going away.",
    ddis: ['DriverUnload', 'NdisDeregisterProtocolDriver'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xf8) },
    source: 'windows-driver-docs-pr/network/initializing-a-protocol-driver.md',
    fatal: false,
  },
  {
    id: 'NdisSim_PortState',
    origin: 'ndis-sim',
    spec: ['R2.5', 'R2.10', 'R7.12'],
    summary:
      'A miniport left NDIS ports allocated (NdisMAllocatePort without NdisMFreePort), or a default port it controls activated, when MiniportHaltEx or a failing MiniportInitializeEx returned; or it indicated status (NdisMIndicateStatusEx) on a port number it has not allocated, or allocated but not activated. The message names the ports.',
    ddis: [
      'NdisMAllocatePort',
      'NdisMFreePort',
      'NdisMNetPnPEvent',
      'MiniportHaltEx',
      'NdisMIndicateStatusEx',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xe8) },
    source: 'windows-driver-docs-pr/network/allocating-an-ndis-port.md',
    fatal: false,
  },
  {
    id: 'NdisSim_ProtocolWolPatterns',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'A protocol driver closed its binding (NdisCloseAdapterEx) while Wake-on-LAN patterns it added with OID_PM_ADD_WOL_PATTERN were still on the adapter, never removed with OID_PM_REMOVE_WOL_PATTERN: protocols must remove their patterns before they close; NDIS removes only the patterns of applications, and leaves these on the miniport, where they may wake the system for a driver that is gone.',
    ddis: ['NdisCloseAdapterEx', 'ProtocolUnbindAdapterEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xee) },
    source: 'windows-driver-docs-pr/network/adding-and-deleting-wake-on-lan-patterns.md',
    fatal: false,
  },
  // Intermediate drivers (src/ndis/api/im.ts; docs/model.md, "Intermediate drivers").
  {
    id: 'NdisSim_IMRemoveMiniport',
    origin: 'ndis-sim',
    spec: ['R5.23'],
    summary:
      "A virtual miniport of an intermediate driver (an adapter of a driver registered with NDIS_INTERMEDIATE_DRIVER) called NdisMRemoveMiniport: an intermediate driver gives up a virtual miniport with NdisIMDeInitializeDeviceInstance, which halts it with NdisHaltDeviceInstanceDeInitialized, not by failing its device. The model reports it and goes on as NdisMRemoveMiniport does: NDIS fails the device. Called from the IM's unbind, that failure waits in the PnP manager behind the removal of the adapter below, which waits for the unbind.",
    ddis: ['NdisMRemoveMiniport', 'NdisIMDeInitializeDeviceInstance'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xed) },
    source: 'wdk-ddi-src/content/ndis/nc-ndis-miniport_halt.md',
    fatal: false,
  },
  {
    id: 'NdisSim_IMDeviceInstance',
    origin: 'ndis-sim',
    spec: ['R5.23'],
    summary:
      "An intermediate driver misused its virtual miniports' device instances: NdisIMDeInitializeDeviceInstance with the handle of an adapter that is not a virtual miniport (one NdisIMInitializeDeviceInstanceEx did not bring up), a second time for a virtual miniport already being de-initialized (the first call returns only once it is halted, so the handle is stale), or from that virtual miniport's own MiniportHaltEx (it would wait for itself); or a DriverEntry that returned NDIS_STATUS_SUCCESS having registered both edges (the miniport edge with NDIS_INTERMEDIATE_DRIVER) without NdisIMAssociateMiniport, reported when it returns whether or not the driver ever binds, after which NDIS fails its NdisIMInitializeDeviceInstanceEx / NdisIMCancelInitializeDeviceInstance with NDIS_STATUS_FAILURE (a teardown under way goes on); or NdisMDeregisterMiniportDriver of an intermediate driver with a virtual miniport not halted, whose handlers NDIS would go on calling in an unloaded driver.",
    ddis: [
      'NdisIMDeInitializeDeviceInstance',
      'NdisIMInitializeDeviceInstanceEx',
      'NdisIMCancelInitializeDeviceInstance',
      'NdisIMAssociateMiniport',
      'DriverEntry',
      'NdisMDeregisterMiniportDriver',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xec) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisimdeinitializedeviceinstance.md',
    fatal: false,
  },
  {
    id: 'NdisSim_IMNetPnPEvent',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisMNetPnPEvent with an event the caller may not send: a miniport that is not a virtual miniport of an intermediate driver sends only NetEventPortActivation and NetEventPortDeactivation, and an intermediate driver does not propagate NetEventBindsComplete, NetEventPause or NetEventRestart (NDIS pauses and restarts the bindings above its virtual miniport itself). NDIS does not deliver the event; the call returns NDIS_STATUS_INVALID_PARAMETER to the miniport, SUCCESS to the intermediate driver.',
    ddis: ['NdisMNetPnPEvent', 'ProtocolNetPnPEvent'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xe6) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndismnetpnpevent.md',
    fatal: false,
  },
  // Standalone device objects (NdisRegisterDeviceEx) and the IRPs of their dispatch
  // routines (docs/model.md, "Standalone device objects"). The range 0x80.. is theirs.
  {
    id: 'NdisSim_DeviceRegistration',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisRegisterDeviceEx with what NDIS_DEVICE_OBJECT_ATTRIBUTES forbids (a dispatch routine for IRP_MJ_PNP or IRP_MJ_POWER, a DeviceClassGuid, an entry that is not a routine), with the handle of a driver that deregistered already, or with a handle that is not a miniport or filter driver handle (NDIS_STATUS_NOT_SUPPORTED).',
    ddis: ['NdisRegisterDeviceEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x80) },
    source: 'wdk-ddi-src/content/ndis/ns-ndis-_ndis_device_object_attributes.md',
    fatal: false,
  },
  {
    id: 'NdisSim_DeviceDeregister',
    origin: 'ndis-sim',
    spec: [],
    summary:
      'NdisDeregisterDeviceEx with a handle NdisRegisterDeviceEx did not return (the DEVICE_OBJECT instead of the NdisDeviceHandle, say), or for a device deregistered already.',
    ddis: ['NdisDeregisterDeviceEx'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x81) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisderegisterdeviceex.md',
    fatal: false,
  },
  {
    id: 'NdisSim_DeviceNotDeregistered',
    origin: 'ndis-sim',
    spec: ['R2.16'],
    summary:
      "A device from NdisRegisterDeviceEx was still registered when its driver called NdisMDeregisterMiniportDriver or NdisFDeregisterFilterDriver, or when the miniport driver's last adapter was removed; or a protocol driver's own device (IoCreateDevice) was not deleted when its Unload routine returned: Windows does not unload a driver with a device object left, so the driver stays loaded.",
    ddis: [
      'NdisRegisterDeviceEx',
      'NdisDeregisterDeviceEx',
      'NdisMDeregisterMiniportDriver',
      'NdisFDeregisterFilterDriver',
      'MiniportDriverUnload',
      'IoCreateDevice',
      'IoDeleteDevice',
      'DriverUnload',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x82) },
    source: 'wdk-ddi-src/content/ndis/nf-ndis-ndisregisterdeviceex.md',
    fatal: false,
  },
  {
    // Driver Verifier's I/O verification: 0xC9/0x226 (a dispatch routine returned
    // without completing or pending its IRP); IoCompleteRequest with STATUS_PENDING is
    // 0xC9/0x06 (the bug-check-0xc9 page).
    id: 'NdisSim_IrpNotCompleted',
    origin: 'driver-verifier',
    spec: [],
    summary:
      "A dispatch routine of a control device (NdisRegisterDeviceEx, or a protocol driver's IoCreateDevice) returned a status other than STATUS_PENDING without completing its IRP, returned STATUS_PENDING without IoMarkIrpPending (0xC9/0x23D), returned another status after IoMarkIrpPending (0xC9/0x23E), or completed the IRP with STATUS_PENDING as its final status.",
    ddis: [
      'DispatchCreate',
      'DispatchCleanup',
      'DispatchClose',
      'DispatchDeviceControl',
      'IoCompleteRequest',
    ],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x226 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xc9--driver-verifier-iomanager-violation.md',
    fatal: false,
  },
  {
    // Driver Verifier's Enhanced I/O Verification, 0xC9/0x312 (the bug-check-0xc9 page lists
    // it as a non-fatal error: the debugger hears of it, and the run could go on).
    id: 'NdisSim_IrpInformationOverrun',
    origin: 'driver-verifier',
    spec: [],
    summary:
      "IoCompleteRequest of a buffered device-control IRP (METHOD_BUFFERED), or of a read of a device with DO_BUFFERED_IO, whose IoStatus.Information is larger than the request's OutputBufferLength or Length: the I/O manager copies Information bytes back to the application, past its buffer and past the system buffer's data. Driver Verifier reports it as a non-fatal error; the model ends the run, as for its other checks, and the application gets at most its output length.",
    ddis: ['IoCompleteRequest', 'DispatchDeviceControl'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x312 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xc9--driver-verifier-iomanager-violation.md',
    fatal: false,
  },
  {
    id: 'NdisSim_IrpPendingAtClose',
    origin: 'ndis-sim',
    spec: ['R2.16'],
    summary:
      "A request of the handle was still queued, cancelable (its Cancel routine set), when the application's handle was cleaned up (IRP_MJ_CLEANUP returned, or was completed if the cleanup routine pended it): the cleanup routine takes the handle's IRPs off its queues and completes them. A request that is not cancelable is in progress, which the page allows: IRP_MJ_CLOSE waits until it completes. (The driver's unload waits for the last handle, so this comes before any unload.)",
    ddis: ['DispatchCleanup', 'DispatchDeviceControl', 'DispatchRead', 'DispatchWrite', 'IoCompleteRequest'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0x83) },
    source: 'windows-driver-docs-pr/kernel/dispatchcleanup-routines.md',
    fatal: false,
  },
  {
    // The I/O manager's own bug check, with or without Driver Verifier (bug-check-0x44 page).
    id: 'NdisSim_IrpDoubleComplete',
    origin: 'kernel',
    spec: [],
    summary: 'IoCompleteRequest for an IRP that was completed already (MULTIPLE_IRP_COMPLETE_REQUESTS).',
    ddis: ['IoCompleteRequest'],
    bugCheck: { code: BugCheckCode.MULTIPLE_IRP_COMPLETE_REQUESTS, p1: null },
    source: 'windows-driver-docs-pr/debugger/bug-check-0x44--multiple-irp-complete-requests.md',
    fatal: false,
  },
  {
    // Driver Verifier's I/O verification, 0xC9/0x07 (parameter 2 the Cancel routine,
    // 3 the IRP); Enhanced I/O Verification reports the same as 0x23C (bug-check-0xc9 page).
    id: 'NdisSim_IrpCompletedWithCancelRoutine',
    origin: 'driver-verifier',
    spec: [],
    summary:
      'IoCompleteRequest of an IRP whose Cancel routine (IoSetCancelRoutine) is still set: IoCancelIrp could call the routine for an IRP that is completed and gone. The driver clears it with IoSetCancelRoutine(Irp, NULL) before completing, and leaves the IRP to the Cancel routine when that call returns NULL.',
    ddis: ['IoCompleteRequest', 'IoSetCancelRoutine'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x07 },
    source: 'windows-driver-docs-pr/debugger/bug-check-0xc9--driver-verifier-iomanager-violation.md',
    fatal: false,
  },
  {
    // Windows has no check of its own: a Cancel routine that keeps the lock leaves the
    // thread that called IoCancelIrp at DISPATCH_LEVEL, and the next
    // IoAcquireCancelSpinLock spins for ever.
    id: 'NdisSim_CancelSpinLock',
    origin: 'ndis-sim',
    spec: [],
    summary:
      "The system's cancel spin lock was misused: a Cancel routine returned holding it (IoCancelIrp calls the routine holding it; the routine releases it with IoReleaseCancelSpinLock(Irp->CancelIrql)) or released it with another IRQL, IoAcquireCancelSpinLock by its holder (a deadlock), or IoReleaseCancelSpinLock by a caller that does not hold it.",
    ddis: ['IoAcquireCancelSpinLock', 'IoReleaseCancelSpinLock', 'IoSetCancelRoutine', 'Cancel'],
    bugCheck: { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: simCode(0xb5) },
    source: 'windows-driver-docs-pr/kernel/implementing-a-cancel-routine.md',
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
    assert(map !== undefined, 'catalogue: a rule of rules.json has no mapping', r.name);
    m.set(r.name, {
      id: r.name,
      origin: r.checkedBy === 'DriverVerifier' ? 'driver-verifier' : 'sdv',
      category: r.category,
      miniport: r.miniport,
      status:
        map.status === 'enforced'
          ? { kind: 'enforced', how: map.how }
          : { kind: 'not-applicable', reason: map.reason },
      spec: map.status === 'enforced' ? map.spec : [],
      summary: r.summary,
      ddis: r.appliesTo,
      bugCheck: map.bugCheck ?? null,
      ...(map.status === 'enforced' && map.ddiBugChecks !== undefined
        ? { ddiBugChecks: map.ddiBugChecks }
        : {}),
      source: r.source,
      fatal: false,
    });
  }
  for (const { modelOnly, ...r } of simRules) {
    const status: RuleStatus =
      modelOnly === undefined
        ? { kind: 'enforced', how: r.summary }
        : { kind: 'not-applicable', reason: modelOnly };
    m.set(r.id, { ...r, category: 'model', miniport: true, status });
  }
  return m;
}

export const catalogue: ReadonlyMap<string, RuleSpec> = build();

/**
 * Driver Verifier's own bug check for `ddi` called below (`tooLow`) or above its IRQL,
 * if it has one (the ddiBugChecks of the DDI's IRQL rule).
 */
export function ownIrqlBugCheck(ddi: string, tooLow: boolean): BugCheckSpec | null {
  const rule = ddiIrql[ddi]?.irqlRule;
  const own = rule === undefined || rule === null ? undefined : catalogue.get(rule)?.ddiBugChecks;
  return own?.[ddi]?.[tooLow ? 0 : 1] ?? null;
}

/** A name in a rule-book title that may be a DDI's (NdisMRemoveMiniport, NDIS_RAISE_IRQL_TO_DISPATCH). */
const ddiWord = /\b(?:Ndis|NDIS_)\w+/g;

/** The DDIs (of the generated IRQL table) a rule-book rule's title names: R5.9 names NdisMRemoveMiniport. */
function titleDdis(id: string): readonly string[] {
  const title = ruleBook.get(id)?.title ?? '';
  return (title.match(ddiWord) ?? []).filter((w) => ddiIrql[w] !== undefined);
}

/**
 * The rule-book rules a violation of `rule` by a call of `ddi` cites. An SDV IRQL rule
 * (Irql_*) covers many DDIs, and its spec list joins the rule-book rules of all of them:
 * Irql_Miniport_Driver_Function cites R8.2 for every NdisM* service and R5.9 and R8.13
 * for NdisMRemoveMiniport. For an IRQL violation the rules whose rule-book title names
 * some DDI are cited only when that DDI is `ddi`; the generic ones always are. Which
 * rule names which DDI comes from the titles (data/rule-book.json), not a list here.
 * Every other rule, and a call no entry of the list would be left for, cites the whole list.
 * Only called when a violation is recorded.
 */
export function specFor(rule: RuleSpec, ddi: string): readonly string[] {
  if (!rule.id.startsWith('Irql_') || rule.spec.length < 2) return rule.spec;
  const kept = rule.spec.filter((id) => {
    const named = titleDdis(id);
    return named.length === 0 || named.includes(ddi);
  });
  return kept.length === 0 ? rule.spec : kept;
}

/** Rules with a mapping but no entry in rules.json (a typo would hide a rule). */
export const unknownMappings: readonly string[] = Object.keys(msMappings).filter(
  (k) => !msRules.some((r) => r.name === k),
);
