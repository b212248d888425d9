// The NDIS library of one simulated machine: registered drivers, adapters,
// protocols, the FDO side of PnP, and the one door through which NDIS calls
// driver code (`enter`/`leave`): it sets the IRQL, traces the call, turns a
// driver's exception into a bug check and checks what the callback left behind.

import { assert, InternalError, NotModelledError, WorldStop } from '../errors.ts';
import { Dpc, Irql, type Kernel, WorkItem, type WorkRoutine } from '../kernel/kernel.ts';
import type { DeviceNode, FunctionDriver, Irp, PnpManager } from '../pnp/pnp.ts';
import { fmtTime } from '../report/format.ts';
import { driverFrames, onlyOurFrames } from '../report/stack.ts';
import { ChoiceSite, ReplayDiverged } from '../sim/choice.ts';
import { ns } from '../sim/limits.ts';
import type { EventTarget } from '../sim/queue.ts';
import type { Trace } from '../trace/trace.ts';
import { BugCheckCode, type BugCheckParam, bugCheckName, statusText } from '../verifier/bugcheck.ts';
import type { RunningAdapterSource, Verifier, ViolationOrigin } from '../verifier/verifier.ts';
import { devicesBlockUnload } from './api/device.ts';
import type { PhysicalMemory } from './api/dma.ts';
import { genericObjectsLeft } from './api/generic.ts';
import { namesLeftBy, namesLeftText } from './api/instance-name.ts';
import { inReverse, poolLeftBy } from './api/kernel.ts';
import type { NblApiState } from './api/nblapi.ts';
import type { Binding, ProtocolEdge } from './binding.ts';
import { type ImDevice, MiniportBlock } from './block.ts';
import { type IoState, liveDevices } from './device.ts';
import type { DriverModule, MiniportDriverBlock } from './driver.ts';
import {
  type EarlyAttach,
  type FilterDriverBlock,
  type FilterInstall,
  type FilterModule,
  FilterService,
  FilterWatchdog,
  filterPauseLimitNs,
} from './filter.ts';
import { booleanReturnCallbacks, statusReturnCallbacks } from './generated/callbacks.ts';
import { type DdiIrql, ddiIrql } from './generated/irql.ts';
import {
  NDIS_BUGCHECK_WATCHDOG_FILTER_DETACH,
  NDIS_BUGCHECK_WATCHDOG_FILTER_NETPNPEVENT,
  NDIS_BUGCHECK_WATCHDOG_FILTER_STATUS_INDICATION,
} from './generated/rules.ts';
import {
  CM_PROB_FAILED_ADD,
  CM_PROB_FAILED_DRIVER_ENTRY,
  CM_PROB_OUT_OF_MEMORY,
  NDIS_INDICATE_ALL_NBLS,
  NDIS_OBJECT_TYPE_NAMES,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  statusInfo,
} from './generated/status.ts';
import * as life from './lifecycle.ts';
import type {
  IoPortRange,
  LIST_ENTRY,
  NdisGenericObject,
  NdisInterrupt,
  NdisIoWorkItem,
  NdisMessage,
  NdisTimerObject,
  Owner,
} from './objects.ts';
import { IoWorkItem, interruptLock, ownerAdapter, ownerDriverName, routineName } from './objects.ts';
import { OidTimers, oidName, oidOverdueAt, ruleParams } from './oid.ts';
import { callAddDevice } from './pnp-handlers.ts';
import type { SleepListener } from './power.ts';
import {
  blockedProtocolStep,
  checkBindsComplete,
  type ProtocolDriverBlock,
  type ProtocolWatchdog,
} from './protocol-driver.ts';
import { isResumable, ResumableThread, type ResumableWait, UnyieldedWaitError } from './resumable.ts';
import { idleCallbackOverdueAt } from './ss.ts';
import type { AdapterEvent, AdapterState } from './states.ts';
import type { DEVICE_OBJECT, DRIVER_OBJECT, IO_WORKITEM_ROUTINE, IO_WORKITEM_ROUTINE_EX } from './types.ts';

/** Behaviour the docs leave open (an **Ambiguity** of the rule book; docs/model.md lists them), as switches. */
export interface NdisOptions {
  /** R5.1: a protocol's failure of NetEventQueryRemoveDevice fails IRP_MN_QUERY_REMOVE_DEVICE. */
  honourProtocolVeto: boolean;
  /**
   * R5.6: when IRP_MN_SURPRISE_REMOVAL completes: 'early' (current ndis.sys: after the
   * miniport's notification, the teardown goes on in a worker) or 'after-halt'.
   */
  surpriseRemovalCompletes: 'early' | 'after-halt';
  /** R3.7: pause watchdog (undocumented time-out). */
  pauseWatchdogNs: number;
  /** R2.13: halt watchdog (undocumented time-out). */
  haltWatchdogNs: number;
  /**
   * R6.6: NDIS's watchdog over an OID request the miniport pended (0x7C/0x25/0x23,
   * NDIS_BUGCHECK_WATCHDOG_MINIPORT_OID; undocumented time-out), or one it blocks in;
   * R7.13: and over one a filter module pended or blocks in (0x24,
   * NDIS_BUGCHECK_WATCHDOG_FILTER_OID), the same operation to a filter module.
   */
  oidWatchdogNs: number;
  /**
   * NDIS's watchdogs over selective suspend (undocumented time-out): a
   * MiniportIdleNotification that does not return (0x7C/0x25/0x25,
   * NDIS_BUGCHECK_WATCHDOG_MINIPORT_IDLE) and an idle notification NDIS cancelled that
   * NdisMIdleNotificationComplete does not complete (0x26, NDIS_BUGCHECK_WATCHDOG_CANCEL_IDLE).
   */
  idleWatchdogNs: number;
  /** R8.11: how long one DPC, ISR or lock holder may spin at DISPATCH or above (0x133). */
  dpcWatchdogNs: number;
  /**
   * How long a device may hold a power IRP (IRP_MN_SET_POWER) before the power manager
   * stops the machine with 0x9F/0x3 (the 0x9F page: "usually 10 minutes").
   */
  powerWatchdogNs: number;
  /**
   * IRQL of the callbacks NDIS itself calls that are documented as <= DISPATCH_LEVEL
   * (MiniportResetEx, MiniportCancelOidRequest): always PASSIVE, always DISPATCH, or
   * drawn through the choice door. Sends, returns and cancel-sends run at the IRQL of
   * the protocol code that caused them.
   */
  callbackIrql: 'passive' | 'dispatch' | 'explore';
  /**
   * R5.6: who hears of a surprise removal first: the miniport
   * (MiniportDevicePnPEventNotify, as current ndis.sys does) or the protocols
   * (NetEventQueryRemoveDevice, as the documentation orders it).
   */
  surpriseRemovalOrder: 'miniport-first' | 'protocols-first';
  /** R4.11: NDIS may still start a reset between the surprise-removal notification and halt. */
  resetsAfterSurpriseRemoval: boolean;
  /** R3.4: MiniportPause waits until no OID request is pending or queued. */
  pauseWaitsForOids: boolean;
  /** R3.3: a receive indicated while Pausing is allowed (and drained), or a violation. */
  receivesWhilePausing: 'allowed' | 'violation';
  /** R1.7: a receive indicated while Paused is a violation, or NDIS just hands it back. */
  receivesWhilePaused: 'violation' | 'returned';
  /** R2.2: the status NdisMRegisterMiniportDriver returns for a missing required handler. */
  missingHandlerStatus: 'bad-characteristics' | 'failure';
  /** R5.19: NdisMRemoveMiniport inside MiniportHaltEx is a warning in the report, or silent. */
  removeInHalt: 'warning' | 'silent';
  /**
   * When NDIS attaches the module of a filter driver it loads for a stack: after its
   * DriverEntry returned, or inside NdisFRegisterFilterDriver, right after FilterSetOptions
   * ("must be prepared for an immediate call to any of their FilterXxx functions").
   */
  filterAttach: 'after-driver-entry' | 'in-registration';
  /**
   * What NdisDirectOidRequest (or NdisFDirectOidRequest) returns when the request reaches
   * a miniport that registered no MiniportDirectOidRequest; the pages are silent. The
   * statuses the pages give for a request "invalid or unsupported by the underlying
   * driver": NDIS_STATUS_NOT_SUPPORTED, or NDIS_STATUS_INVALID_OID.
   */
  directOidNoHandler: 'not-supported' | 'invalid-oid';
  /**
   * What NdisSynchronousOidRequest (or NdisFSynchronousOidRequest) returns when the
   * request reaches a miniport that registered no MiniportSynchronousOidRequest; the
   * pages are silent. NDIS_STATUS_NOT_SUPPORTED, or NDIS_STATUS_INVALID_OID, the two
   * statuses NdisSynchronousOidRequest lists for an OID the driver below does not support.
   */
  syncOidNoHandler: 'not-supported' | 'invalid-oid';
  /**
   * What NDIS does when the miniport fails an OID_PM_ADD_WOL_PATTERN with
   * NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL while a lower-priority pattern is held: the
   * Adding and Deleting Wake on LAN Patterns page has it delete one and try again, but not
   * whether it tries once or until the add fits. `once`: one pattern removed, one retry;
   * `repeat`: another after each LIST_FULL while one of lower priority is left; `off`:
   * the LIST_FULL goes back to the requester (wol.ts).
   */
  wolPatternEviction: 'once' | 'repeat' | 'off';
  /**
   * R6.2: how NDIS takes a protocol's NdisOidRequest or a filter's NdisFOidRequest when
   * no other request is ahead of it at the driver below. The pages allow a final status
   * from the call (NDIS passed it down inside the call) or NDIS_STATUS_PENDING, and do
   * not say when NDIS does which. `queued`: always PENDING, from NDIS's worker; `inline`:
   * always inside the call, where possible (at PASSIVE_LEVEL); `explore`: drawn per
   * request (ChoiceSite.OidCallDown, answer 0 queued). Not `explore` by default: `run`
   * draws a seed's answers at random, and a new question in every OID request would
   * change the schedule of every seeded run there is.
   */
  oidCallDown: 'queued' | 'inline' | 'explore';
  /**
   * A removal, surprise removal, stop or other PnP IRP still outstanding when the run
   * ends, with nothing left to happen that could finish it (behind a reset never
   * completed, say: no NDIS watchdog times one): `fail`, the run's verdict is `hang`;
   * `warning`, the run passes with a warning (World.hungTeardowns). Not a behaviour of
   * NDIS but of the report: for a driver whose completion comes from outside the model.
   */
  hungTeardown: 'fail' | 'warning';
}

/** Frozen: every world without overrides shares it. */
export const defaultNdisOptions: Readonly<NdisOptions> = Object.freeze({
  honourProtocolVeto: true,
  surpriseRemovalCompletes: 'early',
  pauseWatchdogNs: 60 * ns.s,
  haltWatchdogNs: 60 * ns.s,
  oidWatchdogNs: 60 * ns.s,
  idleWatchdogNs: 60 * ns.s,
  dpcWatchdogNs: 20 * ns.s,
  powerWatchdogNs: 600 * ns.s,
  callbackIrql: 'explore',
  surpriseRemovalOrder: 'miniport-first',
  resetsAfterSurpriseRemoval: true,
  pauseWaitsForOids: false,
  receivesWhilePausing: 'allowed',
  receivesWhilePaused: 'violation',
  missingHandlerStatus: 'bad-characteristics',
  removeInHalt: 'warning',
  filterAttach: 'after-driver-entry',
  directOidNoHandler: 'not-supported',
  syncOidNoHandler: 'not-supported',
  wolPatternEviction: 'once',
  oidCallDown: 'queued',
  hungTeardown: 'fail',
});

export interface LiveDump {
  timeNs: number;
  code: number;
  name: string;
  params: (number | string)[];
  adapter: string;
  reason: string;
}

export interface EventLogEntry {
  timeNs: number;
  source: string;
  adapter: string;
  errorCode: number;
  values: number[];
}

/** Per-adapter NDIS worker: runs the adapter's PnP operation one step further. */
class AdapterWorker implements WorkRoutine {
  readonly item: WorkItem;
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
  ) {
    this.item = new WorkItem(this, 'ndis');
  }
  runWork(): void {
    life.advance(this.ndis, this.block);
  }
}

/**
 * Documented IRQL of every callback NDIS makes (irql.json): NDIS checks its own raised
 * calls against it (`enter`).
 */
const callbackIrql = new Map<string, DdiIrql>(
  Object.entries(ddiIrql).filter(([, v]) => v.kind === 'callback'),
);

/**
 * Blocking waits that resumed late, for the summary: the model runs the waits of different threads one
 * inside another, so a thread sleeping on top holds up one beneath whose time is up.
 */
export function lateWakeNote(count: number, ddis: readonly string[], lateNs: number): string {
  const calls = `${count} ${ddis.join(' or ')} call${count === 1 ? '' : 's'}`;
  const event = ddis.includes('NdisWaitEvent') ? ' or the setting of its event' : '';
  return `${calls} returned up to ${fmtTime(lateNs)} late: a wait of another thread, nested above it, ran past its wake-up time${event} (a limit of the model, not a fault of the driver)`;
}

/**
 * A callback other than the resumable ones returned a generator: it was written as a
 * generator function (`function*`), so none of its body ran. Not modelled: the callers
 * of these callbacks go on from their return (docs/decisions.md).
 */
export function notResumable(fn: string): never {
  throw new NotModelledError(
    fn,
    `a resumable ${fn} (a generator function, \`function*\`): it returned a generator, so none of its body ran. Only the routines of NdisQueueIoWorkItem, IoQueueWorkItem and IoQueueWorkItemEx and the IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ and IRP_MJ_WRITE dispatch routines may yield their waits (docs/model.md, "Resumable work-item routines"); write ${fn} as a plain function`,
  );
}

/**
 * The callbacks whose return value NDIS reads as an NDIS_STATUS (DriverEntry's as an
 * NTSTATUS), from the generated table of return types (data/extra.json: callbackReturns).
 * Any other value there, an async handler's Promise or the undefined of a missing return
 * statement, is NdisSim_CallbackReturnValue: C would have returned some status, and
 * `v >>> 0` would read both as 0, NDIS_STATUS_SUCCESS. MiniportResetEx's answer is an
 * object (its status and AddressingReset) and is checked where it is read.
 */
const statusCallbacks: ReadonlySet<string> = new Set(
  [...statusReturnCallbacks].filter((fn) => fn !== 'MiniportResetEx'),
);

/**
 * The callbacks whose BOOLEAN result their caller reads (MiniportCheckForHangEx, the ISRs'
 * InterruptRecognized, the synchronized routines). A number there is
 * NdisSim_CallbackReturnValue as much as undefined: C would read a 1 as TRUE, but the
 * model tests for `true`, so a hang the driver meant to report would pass as FALSE.
 */
const booleanCallbacks: ReadonlySet<string> = booleanReturnCallbacks;

/** Whether `v` is a Promise (or another thenable): what an `async` handler returns. */
export function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** Whether `v` is what an async generator function (`async function*`) returns. */
export function isAsyncIterator(v: unknown): boolean {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v && !(Symbol.iterator in v);
}

/**
 * Whether `v` is an async handler's result: a Promise, or an async generator (whose body
 * runs, up to its first await, only when it is stepped, and then after the run goes on).
 * NdisSim_CallbackReturnValue for every callback, whatever it returns in C (R8.1).
 */
export function isAsync(v: unknown): boolean {
  return isThenable(v) || isAsyncIterator(v);
}

/**
 * What a callback returned where a number was due, for a verifier message: "a Promise —
 * handlers must be synchronous (async handler?)", "undefined (no return statement?)",
 * or the value's type and text.
 */
export function returnedText(v: unknown, due: 'number' | 'boolean' | 'object' = 'number'): string {
  if (isThenable(v)) return 'a Promise — handlers must be synchronous (async handler?)';
  if (isAsyncIterator(v)) return 'an async generator — handlers must be synchronous (async function*?)';
  if (v === undefined) return 'undefined (no return statement?)';
  if (v === null) return 'null';
  if (typeof v === 'object')
    return `an object (${Object.prototype.toString.call(v)}), not a ${due === 'number' ? 'status' : 'boolean'}`;
  const want = due === 'object' ? 'an object' : `a ${due}`;
  if (typeof v === 'bigint') return `the bigint ${String(v)}n, not ${want}`;
  return `the ${typeof v} ${JSON.stringify(v) ?? String(v)}, not ${want}`;
}

/**
 * One call into driver code, a callback under way (Ndis.enter, Ndis.leave). Frames are
 * reused by depth: entering allocates nothing.
 */
export class Frame {
  fn = '';
  adapter: MiniportBlock | null = null;
  irql = 0;
  held = 0;
  who = '';
  savedIrql = 0;
  startNs = 0;
  /**
   * The binding a protocol handler runs for. Set only by the callers of the handlers
   * NDIS's watchdog covers (ProtocolNetPnPEvent, ProtocolUnbindAdapterEx,
   * ProtocolStatusEx, R7.13), and read only for those; others leave it stale.
   */
  binding: Binding | null = null;
  /** With `binding` on a ProtocolStatusEx frame: the indication's StatusCode. */
  statusCode = 0;
}

const WatchdogOp = { Pause: 0 } as const;

/**
 * How many callbacks may be entered one inside another before the model calls it a
 * kernel stack overflow (NdisSim_StackOverflow). Windows' kernel stack is 24 KB on x64
 * (12 KB on x86), too small for this many NDIS and driver frames; a real stack of calls
 * (filters, nested waits) stays far below it.
 */
const maxCallbackDepth = 256;

export class Ndis implements FunctionDriver, EventTarget, RunningAdapterSource {
  readonly modules = new Map<string, DriverModule>();
  readonly drivers = new Map<string, MiniportDriverBlock>();
  readonly adapters: MiniportBlock[] = [];
  readonly protocols: ProtocolEdge[] = [];
  /**
   * Protocol drivers to load (World.addProtocolDriver, scenario `protocols: - driver:`),
   * by module name; NDIS starts their services when the first stack binds.
   */
  readonly protocolInstalls: string[] = [];
  /**
   * The device instances intermediate drivers asked for (NdisIMInitializeDeviceInstanceEx),
   * by lower-case name; null until the first.
   */
  imDevices: Map<string, ImDevice> | null = null;
  /** Registered protocol drivers, by module name (NdisRegisterProtocolDriver); null until the first. */
  protocolDrivers: Map<string, ProtocolDriverBlock> | null = null;
  /** Protocol drivers whose service failed to start, with why (for the summary). */
  readonly protocolLoadFailures: { driver: string; why: string }[] = [];
  /** Set by NdisRegisterProtocolDriver when it refuses the characteristics of the driver loading. */
  protocolRefusal: { name: string; why: string } | null = null;
  /** NDIS's watchdog over what registered protocols pended (R7.13), made on first use. */
  protocolWatchdog: ProtocolWatchdog | null = null;
  /** The same over their other net PnP events (protocol-driver.ts awaitNetPnPEvent), made on first use. */
  netEventWatchdog: EventTarget | null = null;
  /** Runs a protocol service stop that had to wait for blocked threads (stop-protocol), made on first use. */
  protocolStopper: EventTarget | null = null;
  /** The filter drivers installed over every adapter, bottom first (scenario `filters`). */
  readonly filterInstalls: FilterInstall[] = [];
  /** Registered filter drivers, by module name. */
  get filterDrivers(): Map<string, FilterDriverBlock> {
    this.filterDriverMap ??= new Map();
    return this.filterDriverMap;
  }
  /** Made on first use: a run without filters never touches it. */
  private filterDriverMap: Map<string, FilterDriverBlock> | null = null;
  /**
   * Filter drivers whose service failed to start (DriverEntry failed, or returned without
   * registering), with why; NDIS attaches none of their modules until a `start-filter`
   * starts the service again. For the summary and a mandatory module's stack failure.
   */
  readonly filterLoadFailures: { driver: string; why: string; cleared?: boolean }[] = [];
  /** Set by NdisFRegisterFilterDriver when it refuses the characteristics of the driver loading. */
  filterRefusal: { name: string; why: string } | null = null;
  /**
   * With `filterAttach: 'in-registration'`: the stack whose attach loads a filter
   * driver, and the module NdisFRegisterFilterDriver attached to it (filter.ts).
   */
  earlyAttach: EarlyAttach | null = null;
  /** Every filter module attached in the run, in attach order (for the summary). */
  readonly filterModules: FilterModule[] = [];
  /** Interface indexes of filter modules: the model numbers them from 1000 (adapters from 1). */
  nextFilterIfIndex = 1000;
  /** NetLuidIndex NDIS allocates next, for an adapter or a filter module (their NET_LUIDs). */
  nextNetLuidIndex = 1;
  private filterWatchdogTarget: FilterWatchdog | null = null;
  private filterServiceTarget: FilterService | null = null;
  readonly dumps: LiveDump[] = [];
  readonly eventLog: EventLogEntry[] = [];
  /** Port ranges NdisMRegisterIoPortRange claimed, of every adapter; null until the first. */
  ioPortRanges: IoPortRange[] | null = null;
  /** Callbacks and adapters Flags_Irql reported already (api/processor.ts), or null. */
  flagsIrqlSaid: Set<string> | null = null;
  /**
   * NBL context space a driver freed that was another's (NdisSim_NblContext, reported):
   * per NBL, how many bytes each victim's own later free finds freed already
   * (api/nblcontext.ts). Null until the first such free.
   */
  ctxOwed: WeakMap<object, Map<string, number>> | null = null;
  /** Frames of the calls into driver code under way: `frames[0 .. depth)`. */
  private readonly frames: Frame[] = [];
  private depth = 0;
  /** The resumable routine whose code runs now (ResumableThread.step), or null. */
  resumableRunning: ResumableThread | null = null;
  /** A wait the running resumable routine began and has not yielded yet. */
  resumablePending: ResumableWait | null = null;
  /** Resumable routines under way, set aside in a wait or running. */
  readonly resumables: ResumableThread[] = [];
  /** Resumable routines begun in the run (their trace numbers). */
  resumableCount = 0;
  /**
   * The blocking waits under way, innermost last: `waitDepth[i]` frames existed when
   * wait i began, its thread wakes at `waitWake[i]` (for an event wait, infinite until the
   * event is set, then the time it was set), and `waitDdi[i]` is the DDI it waits in.
   * The frames from one wait's depth to the next one's belong to the thread that sleeps
   * in that next wait.
   */
  private readonly waitDepth: number[] = [];
  private readonly waitWake: number[] = [];
  private readonly waitDdi: string[] = [];
  private waitCount = 0;

  /** A thread is blocked in a wait beneath the running event (a nested event loop). */
  get threadsBlocked(): boolean {
    return this.waitCount > 0;
  }
  /** What a run asked of the model that it accepted without acting on it, once each (RunResult.modelNotes). */
  readonly modelNotes: string[] = [];
  /** Serial of the filter DDI calls that walk a chain (NblImpl._mark, datapath.ts `take`). */
  walkSerial = 0;
  /** NdisMGetDeviceProperty's objects: one PDO per devnode, one FDO per adapter (api/adapter.ts). */
  readonly deviceObjects = new WeakMap<object, DEVICE_OBJECT>();
  /**
   * Whether the run notes the situations it reaches (situations.ts): a removal and the
   * adapter's state when it came. The explorer turns it on, to show which situations
   * its seeds reached (World.situations); off, a run pays nothing for it.
   */
  situationsOn = false;
  /** The situations reached, in order, as situationCode numbers; null until the first. */
  situations: number[] | null = null;
  /** Blocking waits that resumed after their time (a nested wait ran past it), and by how much at most. */
  lateWakes = 0;
  /** The DDIs those waits were in, in the order first seen. */
  readonly lateWakeDdis: string[] = [];
  lateWakeMaxNs = 0;
  /** The outermost thread still held up by a nested wait when the run ended, if any. */
  heldAtEnd: { who: string; ddi: string; dueNs: number } | null = null;
  /** The DDI the innermost thread was blocked in when the run ended in a wait, if it did. */
  blockedAtEnd: string | null = null;
  /**
   * The DDI of a wait with no time-out (an NdisWaitEvent with MsToWait 0 whose event was
   * never set) a thread was in when the run ended; null when every wait then had a time
   * to end at: work in flight, which `expect: settled` does not count.
   */
  untimedWaitAtEnd: string | null = null;
  /** The DDI a thread was spinning in when the run ended, if one was (a poll that never ended). */
  spinningAtEnd: string | null = null;
  /**
   * Timers and work items of a driver handle still set or queued when the driver's
   * unload routine returned: a run that ends before they fire lists them as still under
   * way (when they fire, NdisSim_CallbackAfterHalt).
   */
  readonly leftArmed: { readonly what: string; readonly k: { readonly queued: boolean } }[] = [];
  readonly oidTimers = new OidTimers(this);
  /** Serial numbers of NBLs (per machine, so traces do not depend on earlier runs). */
  nextNblId = 1;
  /** Serial numbers of NDIS spin locks, to name them in R8.11's messages. */
  nextSpinLockId = 1;
  /**
   * The list heads NdisInitializeListHead set up, by name ("list head #1 (initialized by
   * …)"), for NdisSim_ListEntryCorruption's message (made on first use; read only then).
   */
  listHeads: WeakMap<LIST_ENTRY, string> | null = null;
  nextListHeadId = 1;
  nextRequestId = 1;
  /** What NdisGeneratePartialCancelId gives next (1–255). */
  nextPartialCancelId = 1;
  /**
   * The system sleep under way (power.ts): from the scenario's `sleep` until the wake
   * begins. `listener` hears once, when the last adapter's transition to D3 has ended.
   */
  systemSleep: { system: string; listener: SleepListener; reached: boolean } | null = null;
  /**
   * Buffers of the instance names NDIS allocated for drivers (NdisMQueryAdapterInstanceName
   * and the protocol calls; made on first use), until NdisFreeMemory gives them back.
   * NDIS's pool, not the driver's: Driver Verifier's pool tracking does not count them.
   */
  instanceNames: Map<Uint8Array, { driver: string; ddi: string }> | null = null;
  /** Generic objects not yet freed (NdisAllocateGenericObject; made on first use). */
  genericObjects: NdisGenericObject[] | null = null;
  /**
   * Pool from NdisAllocateMemoryWithTagPriority and lookaside lists (made on first use): its tag, the
   * driver, and the adapter whose handle it was made with (null: the driver handle),
   * for Driver Verifier's pool tracking at unload (0xC4/0x62).
   */
  allocations: Map<
    Uint8Array,
    {
      tag: number;
      driver: MiniportDriverBlock | FilterDriverBlock | ProtocolDriverBlock;
      adapter: string | null;
      /** The filter module whose NdisFilterHandle made it (it must free it by FilterDetach). */
      module?: FilterModule;
    }
  > | null = null;
  /**
   * The physical addresses of shared memory (NdisMAllocateSharedMemory), made on first
   * use. Not pool: Driver Verifier's pool tracking does not count it.
   */
  physicalMemory: PhysicalMemory | null = null;
  /** MDLs, NET_BUFFER pools and retreats of api/nblapi.ts, made on first use. */
  nblApi: NblApiState | null = null;
  /**
   * Devices NdisRegisterDeviceEx made and the application's handles to them (device.ts),
   * made on first use.
   */
  io: IoState | null = null;
  /**
   * The drivers' own registry parameters (their service key's Parameters), by driver
   * name: NdisOpenConfigurationEx with a driver handle reads and writes these. They
   * outlive a driver's unload, as the registry does.
   */
  private driverRegistry: Map<string, Map<string, number | string>> | null = null;

  /**
   * Filter modules' registry parameters (their instance keys), by driver and adapter:
   * made from the values the filter's install gave (filterDefaults) when a module of
   * the driver first opens its configuration on that adapter, kept after, as the
   * registry keeps a module's key across detaches.
   */
  private moduleRegistry: Map<string, Map<string, number | string>> | null = null;
  /** The registry values each filter driver's install gives its modules (World.addFilter). */
  readonly filterDefaults = new Map<string, ReadonlyMap<string, number | string>>();

  moduleParameters(driver: string, adapter: string): Map<string, number | string> {
    this.moduleRegistry ??= new Map();
    const key = `${driver}\0${adapter}`;
    let m = this.moduleRegistry.get(key);
    if (m === undefined) {
      m = new Map(this.filterDefaults.get(driver) ?? []);
      this.moduleRegistry.set(key, m);
    }
    return m;
  }

  driverParameters(name: string): Map<string, number | string> {
    this.driverRegistry ??= new Map();
    let m = this.driverRegistry.get(name);
    if (m === undefined) {
      m = new Map();
      this.driverRegistry.set(name, m);
    }
    return m;
  }

  /** What the last DriverEntry returned (for the problem code of a device it failed). */
  private driverEntryStatus = 0;
  /** DriverEntry running: NdisMRegisterMiniportDriver files the driver under this module. */
  loading: DriverModule | null = null;
  /** The DRIVER_OBJECT passed to that DriverEntry. */
  loadingObject: DRIVER_OBJECT | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly pnp: PnpManager,
    readonly verifier: Verifier,
    readonly trace: Trace,
    readonly options: Readonly<NdisOptions>,
  ) {
    verifier.adapterSource = this;
  }

  /** The innermost of `fns` that driver `who` is inside now (a callback under way), or null. */
  runningCallbackOf(who: string, fns: readonly string[]): string | null {
    // A frame keeps its caller's name; the callee's is the next frame's, or the running one's.
    let callee = this.kernel.ctx.who;
    for (let i = this.depth - 1; i >= 0; i--) {
      const f = this.frames[i]!;
      if (callee === who && fns.includes(f.fn)) return f.fn;
      callee = f.who;
    }
    return null;
  }

  /**
   * As threadCallbackOf, counting only the calls NDIS made for an adapter: a
   * ProtocolNetPnPEvent of a binding, not one of all the driver's bindings (NULL
   * ProtocolBindingContext, no adapter).
   */
  threadAdapterCallbackOf(who: string, fns: readonly string[]): string | null {
    const base = this.waitCount === 0 ? 0 : this.waitDepth[this.waitCount - 1]!;
    let callee = this.kernel.ctx.who;
    for (let i = this.depth - 1; i >= base; i--) {
      const f = this.frames[i]!;
      if (callee === who && f.adapter !== null && fns.includes(f.fn)) return f.fn;
      callee = f.who;
    }
    return null;
  }

  /**
   * As runningCallbackOf, on the running thread only: the frames above the innermost
   * blocking wait under way belong to it, those beneath to the threads that wait.
   */
  threadCallbackOf(who: string, fns: readonly string[]): string | null {
    const base = this.waitCount === 0 ? 0 : this.waitDepth[this.waitCount - 1]!;
    let callee = this.kernel.ctx.who;
    for (let i = this.depth - 1; i >= base; i--) {
      const f = this.frames[i]!;
      if (callee === who && fns.includes(f.fn)) return f.fn;
      callee = f.who;
    }
    return null;
  }

  /** The adapter of the innermost driver call under way that has one. */
  runningAdapterName(): string | null {
    return this.runningAdapter()?.name ?? null;
  }

  /** The driver function of the innermost call into driver code under way, or null. */
  runningFunction(): string | null {
    return this.depth === 0 ? null : this.frames[this.depth - 1]!.fn;
  }

  runningAdapter(): MiniportBlock | null {
    for (let i = this.depth - 1; i >= 0; i--) {
      const b = this.frames[i]!.adapter;
      if (b !== null) return b;
    }
    return null;
  }

  get now(): number {
    return this.kernel.now;
  }

  // ------------------------------------------------------------ drivers

  /** Loads a driver module (DriverEntry) unless it is loaded; false if DriverEntry failed. */
  loadDriver(name: string): MiniportDriverBlock | null {
    const loaded = this.drivers.get(name);
    if (loaded !== undefined && !loaded.unloaded) return loaded;
    const mod = this.modules.get(name);
    if (mod === undefined) return null;
    const status = this.driverEntry(mod);
    const d = this.drivers.get(name);
    if (status !== 0 && d !== undefined && !d.deregistered) {
      // R2.1: NDIS would keep a registration whose code is about to be unloaded.
      this.verifier.report(
        'NdisSim_DriverEntryLeak',
        'DriverEntry',
        null,
        `DriverEntry of ${name} returned ${statusText(status)} after registering, without NdisMDeregisterMiniportDriver (R2.1)`,
      );
    }
    // R2.1: a miniport's DriverEntry registers; one that returns SUCCESS without (or
    // having deregistered) leaves its device no AddDevice: Code 31, no rule of Windows.
    if (status === 0 && (d === undefined || d.deregistered))
      this.verifier.warn(
        'R2.1',
        'DriverEntry',
        null,
        `DriverEntry of ${name} returned NDIS_STATUS_SUCCESS ${d === undefined ? 'without calling NdisMRegisterMiniportDriver' : 'after NdisMDeregisterMiniportDriver'}: NDIS has no registration of it, so its device gets no AddDevice and ends at Code 31 (CM_PROB_FAILED_ADD)`,
      );
    if (status !== 0 || d === undefined || d.deregistered) {
      if (d !== undefined) this.drivers.delete(name);
      return null;
    }
    return d;
  }

  /**
   * Loads a filter driver (its service starts: DriverEntry, which calls
   * NdisFRegisterFilterDriver) unless it is loaded; null if it did not register.
   */
  loadFilterDriver(name: string): FilterDriverBlock | null {
    const loaded = this.filterDrivers.get(name);
    if (loaded !== undefined) return loaded;
    // A service that failed to start stays stopped: one DriverEntry, not one per adapter.
    if (this.filterLoadFailure(name) !== null) return null;
    const mod = this.modules.get(name);
    if (mod === undefined) return null;
    this.filterRefusal = null;
    const status = this.driverEntry(mod);
    const refusal = this.filterRefusal as { name: string; why: string } | null;
    this.filterRefusal = null;
    const d = this.filterDrivers.get(name);
    if (status !== 0 || d === undefined) {
      const entry = `DriverEntry returned ${statusText(status)}`;
      this.filterLoadFailures.push({
        driver: name,
        why:
          refusal !== null && refusal.name === name
            ? `${entry} (${refusal.why})`
            : status === 0
              ? `${entry} without registering (NdisFRegisterFilterDriver)`
              : entry,
      });
      if (this.trace.on)
        this.traceNdis(null, `filter driver ${name} did not load`, { why: this.filterLoadFailure(name) });
    }
    if (status !== 0 && d !== undefined && !d.deregistered) {
      this.verifier.report(
        'NdisSim_DriverEntryLeak',
        'DriverEntry',
        null,
        `DriverEntry of ${name} returned ${statusText(status)} after registering, without NdisFDeregisterFilterDriver`,
      );
    }
    if (status !== 0 || d === undefined) {
      if (d !== undefined) this.filterDrivers.delete(name);
      return null;
    }
    return d;
  }

  /**
   * Starts the services of the protocol drivers installed and not loaded yet (their
   * DriverEntry, which calls NdisRegisterProtocolDriver); a driver whose DriverEntry
   * fails, or that does not register, stays stopped and is listed in the summary.
   */
  loadProtocolDrivers(): void {
    for (const name of this.protocolInstalls) {
      if (this.protocolDrivers?.has(name) || this.protocolLoadFailures.some((f) => f.driver === name))
        continue;
      const mod = this.modules.get(name);
      if (mod === undefined) continue;
      this.protocolRefusal = null;
      const status = this.driverEntry(mod);
      const refusal = this.protocolRefusal as { name: string; why: string } | null;
      this.protocolRefusal = null;
      const d = this.protocolDrivers?.get(name);
      if (status !== 0) this.devicesOfFailedEntry(name, status);
      if (status !== 0 && d !== undefined && !d.deregistered)
        this.verifier.report(
          'NdisSim_DriverEntryLeak',
          'DriverEntry',
          null,
          `DriverEntry of ${name} returned ${statusText(status)} after registering, without NdisDeregisterProtocolDriver`,
        );
      if (status === 0 && d !== undefined && !d.deregistered) {
        this.checkImAssociated(name, d);
        // Once its first binds are done, NDIS says so: NetEventBindsComplete.
        d.bindsComplete = 'waiting';
        this.bindsCompleteWaiting = true;
        continue;
      }
      if (d !== undefined) this.dropProtocolDriver(d);
      const entry = `DriverEntry returned ${statusText(status)}`;
      const why =
        refusal !== null && refusal.name === name
          ? `${entry} (${refusal.why})`
          : status === 0
            ? `${entry} without registering (NdisRegisterProtocolDriver)`
            : entry;
      this.protocolLoadFailures.push({ driver: name, why });
      if (this.trace.on) this.traceNdis(null, `protocol driver ${name} did not load`, { why });
    }
  }

  /**
   * R5.23: DriverEntry of an intermediate driver returned SUCCESS with its miniport edge
   * registered with NDIS_INTERMEDIATE_DRIVER and its protocol edge registered, but never
   * tied them with NdisIMAssociateMiniport, which its DriverEntry must call
   * (initializing-an-intermediate-driver, intermediate-driver-driverentry-function). A
   * violation when DriverEntry returns, whether or not the driver ever binds; its later
   * NdisIMInitializeDeviceInstanceEx or cancel fails without a second report.
   */
  private checkImAssociated(name: string, p: ProtocolDriverBlock): void {
    const m = this.drivers.get(name);
    if (m === undefined || !m.intermediate || m.deregistered || m.imProtocol !== null) return;
    if (m.driverObject !== p.driverObject) return;
    m.imUnassociatedReported = true;
    this.verifier.report(
      'NdisSim_IMDeviceInstance',
      'DriverEntry',
      null,
      `DriverEntry of ${name} returned NDIS_STATUS_SUCCESS having registered its miniport edge with NDIS_INTERMEDIATE_DRIVER and its protocol edge, but never called NdisIMAssociateMiniport: an intermediate driver's DriverEntry must tie the two edges together (initializing-an-intermediate-driver); NDIS fails its NdisIMInitializeDeviceInstanceEx (NDIS_STATUS_FAILURE)`,
    );
  }

  /**
   * A protocol driver's DriverEntry failed: the I/O manager frees the driver without
   * calling its Unload routine (unload-routine-environment), so the devices and links it
   * made with IoCreateDevice and IoCreateSymbolicLink are its leak. They go with it
   * here, so that no request reaches code that is gone.
   */
  private devicesOfFailedEntry(name: string, status: number): void {
    const io = this.io;
    if (io === null) return;
    for (const owner of io.ioDrivers.values()) {
      if (owner.name !== name) continue;
      const devices = liveDevices(this, owner);
      const left = devices.map((dev) => dev.name);
      const links: string[] = [];
      for (const [key, dev] of io.links)
        if (dev.owner === owner) {
          links.push(io.ioLinkNames.get(key) ?? key);
          io.links.delete(key);
          io.ioLinkNames.delete(key);
        }
      for (const dev of devices) {
        dev.deregistered = true;
        io.names.delete(dev.name.toLowerCase());
      }
      if (left.length > 0 || links.length > 0)
        this.verifier.report(
          'NdisSim_DriverEntryLeak',
          'DriverEntry',
          null,
          `DriverEntry of ${name} returned ${statusText(status)} with ${[...left, ...links].join(', ')} still in place: a DriverEntry that fails deletes what it made (IoDeleteSymbolicLink, IoDeleteDevice), since the I/O manager unloads the driver without calling its Unload routine (unload-routine-environment)`,
        );
    }
  }

  /** A protocol driver that loaded waits for NetEventBindsComplete (checkBindsComplete). */
  bindsCompleteWaiting = false;

  /**
   * The bring-ups and device starts may have moved: NDIS tells the protocol drivers that
   * wait for it that their initial binds are complete, when they are.
   */
  bindsProgress(): void {
    if (this.bindsCompleteWaiting) this.bindsCompleteWaiting = !checkBindsComplete(this);
  }

  pnpIdle(): void {
    this.bindsProgress();
  }

  /**
   * NdisDeregisterProtocolDriver: NDIS binds the driver no more. Its record stays for
   * the summary (and a second NdisRegisterProtocolDriver of the loaded driver fails).
   */
  dropProtocolBinds(d: ProtocolDriverBlock): void {
    const i = this.protocols.indexOf(d);
    if (i >= 0) this.protocols.splice(i, 1);
  }

  /** A protocol driver's registration ends: NDIS binds it no more. */
  dropProtocolDriver(d: ProtocolDriverBlock): void {
    this.protocolDrivers?.delete(d.name);
    const i = this.protocols.indexOf(d);
    if (i >= 0) this.protocols.splice(i, 1);
  }

  /** Why the filter driver `name` did not load, while its service stays stopped; else null. */
  filterLoadFailure(name: string): string | null {
    for (let i = this.filterLoadFailures.length - 1; i >= 0; i--) {
      const f = this.filterLoadFailures[i]!;
      if (f.driver === name) return f.cleared ? null : f.why;
    }
    return null;
  }

  /** Runs a module's DriverEntry at PASSIVE; returns its status. */
  private driverEntry(mod: DriverModule): number {
    const name = mod.name;
    const driverObject: DRIVER_OBJECT = { DriverName: `\\Driver\\${name}`, MajorFunction: [] };
    const registryPath = `\\Registry\\Machine\\System\\CurrentControlSet\\Services\\${name}`;
    this.loading = mod;
    this.loadingObject = driverObject;
    let status: number;
    const f = this.enter(
      null,
      name,
      'DriverEntry',
      Irql.Passive,
      this.trace.on ? { DriverName: driverObject.DriverName } : undefined,
    );
    try {
      status = mod.load().DriverEntry(driverObject, registryPath);
    } catch (e) {
      this.driverThrew(e, 'DriverEntry', null);
    } finally {
      this.loading = null;
      this.loadingObject = null;
    }
    this.leave(f, status);
    this.driverEntryStatus = status;
    return status;
  }

  registerDriver(d: MiniportDriverBlock): void {
    this.drivers.set(d.name, d);
  }

  /** R2.16: after its last adapter is removed, NDIS unloads the driver. */
  unloadDriverIfIdle(d: MiniportDriverBlock): void {
    if (d.adapterCount > 0 || d.unloaded) return;
    // An intermediate driver is a service: its virtual miniports come and go with its
    // bindings below (im.ts), and the removal of the last one does not unload it. Its
    // image unloads once, when its service stops (stop-protocol runs its Unload routine,
    // the MiniportDriverUnload of initializing-an-intermediate-driver): never here, and
    // above all not while that routine runs and its NdisDeregisterProtocolDriver
    // de-initializes the last VELAN (R2.16, R5.23).
    if (d.intermediate) return;
    // An I/O work item of the driver still running holds a reference on its device
    // object (NdisAllocateIoWorkItem wraps IoAllocateWorkItem): the driver cannot unload
    // until its routine returns (runIoWorkItem unloads it then).
    // An IO_WORKITEM (IoAllocateWorkItem) queued or running holds its IoObject the same
    // way, from IoQueueWorkItem(Ex) on (releasing-driver-allocated-resources).
    if (d.ioWorkRunning > 0 || d.ioRefs > 0) {
      if (!d.unloadWaits && this.trace.on)
        this.traceNdis(
          null,
          d.ioWorkRunning > 0
            ? `${d.name}: MiniportDriverUnload waits: an I/O work item of the driver is still running`
            : `${d.name}: MiniportDriverUnload waits: a work item of the driver (an IO_WORKITEM, or an NDIS work item of its driver handle or device) is queued or running`,
          {},
        );
      d.unloadWaits = true;
      return;
    }
    // A device from NdisRegisterDeviceEx keeps the driver loaded (NdisSim_DeviceNotDeregistered).
    if (this.io !== null && devicesBlockUnload(this, d, 'MiniportDriverUnload')) return;
    d.unloaded = true;
    const f = this.enter(null, d.name, 'MiniportDriverUnload', Irql.Passive);
    let returned: unknown;
    try {
      returned = d.chars.UnloadHandler(d.driverObject);
    } catch (e) {
      this.driverThrew(e, 'MiniportDriverUnload', null);
    }
    this.leaveVoid(f, returned);
    if (!d.deregistered) {
      this.verifier.warn(
        'R2.16',
        'MiniportDriverUnload',
        null,
        `${d.name}: MiniportDriverUnload returned without NdisMDeregisterMiniportDriver`,
      );
    }
    this.drivers.delete(d.name);
    if (d.timers !== null || d.workItems !== null) this.checkObjectsAtUnload(d, 'MiniportDriverUnload');
    this.checkLeftAtUnload(d, 'MiniportDriverUnload');
  }

  /**
   * R8.8, R8.4: what a driver allocated with its driver handle it frees before unload.
   * A timer still set or a work item still queued is left to run: what it then does is
   * NdisSim_CallbackAfterHalt. One merely not freed is reported here.
   */
  checkObjectsAtUnload(d: MiniportDriverBlock | FilterDriverBlock | ProtocolDriverBlock, fn: string): void {
    for (const t of d.timers ?? [])
      if (t.k.queued)
        this.leftArmed.push({ what: `${d.name}: a timer of its driver handle left set at ${fn}`, k: t.k });
    for (const w of d.workItems ?? [])
      if (w.k.queued)
        this.leftArmed.push({
          what: `${d.name}: a work item of its driver handle left queued at ${fn}`,
          k: w.k,
        });
    // The first one left names where the driver allocated it (NdisSim_TimerNotFreed's "Made in").
    const t = d.timers?.find((x) => !x.k.queued);
    if (t !== undefined)
      this.verifier.report(
        'NdisSim_TimerNotFreed',
        fn,
        null,
        `${d.name}: ${fn} returned without freeing a timer object allocated with the driver handle (NdisFreeTimerObject; R8.4): ${t.story()}`,
        undefined,
        undefined,
        t.origin(),
      );
    if (d.workItems?.some((w) => !w.k.queued)) {
      const ndisItem = d.workItems.find((w) => !w.k.queued && !(w instanceof IoWorkItem));
      const w = ndisItem ?? d.workItems.find((x) => !x.k.queued)!;
      this.verifier.report(
        'NdisSim_WorkItemNotFreed',
        fn,
        null,
        ndisItem !== undefined
          ? `${d.name}: ${fn} returned without freeing an I/O work item allocated with the driver handle (NdisFreeIoWorkItem; R8.8): ${w.story()}`
          : `${d.name}: ${fn} returned without freeing an IO_WORKITEM allocated with IoAllocateWorkItem (IoFreeWorkItem; nf-wdm-ioallocateworkitem): ${w.story()}`,
        undefined,
        undefined,
        w.origin(),
      );
    }
  }

  /**
   * What a driver that unloads still holds of NDIS's and the pool's (its timers and work
   * items are checked apart): adapter instance names (NdisFreeMemory; from
   * NdisQueryBindInstanceName, the SDV rule of that name), generic objects (SDV
   * NdisAllocateGenericObject) and pool. Driver Verifier's pool tracking makes the last
   * 0xC4/0x62, parameter 2 the driver's name, 4 the number of allocations not freed
   * (bug-check-0xc4 page, status.json). R2.16: a miniport driver unloads after every
   * adapter's halt, so nothing it allocated may be left. `fn`: the unload routine.
   */
  checkLeftAtUnload(d: MiniportDriverBlock | FilterDriverBlock | ProtocolDriverBlock, fn: string): void {
    const names = this.instanceNames === null ? null : namesLeftBy(this, d.name);
    if (names !== null && names.size > 0)
      this.verifier.report(
        names.has('NdisQueryBindInstanceName') ? 'NdisQueryBindInstanceName' : 'NdisSim_ResourceNotFreed',
        fn,
        null,
        `${d.name} unloaded with adapter instance names never freed (NdisFreeMemory): ${namesLeftText(names)}`,
      );
    const miniport = d.__ndisHandle === 'NDIS_MINIPORT_DRIVER';
    const generic = this.genericObjects === null ? 0 : genericObjectsLeft(this, d.name);
    if (generic > 0)
      this.verifier.report(
        'NdisAllocateGenericObject',
        fn,
        null,
        `${d.name} unloaded with ${generic} generic object(s) (NdisAllocateGenericObject) never freed (NdisFreeGenericObject${miniport ? '; R2.16' : ''})`,
      );
    const left = poolLeftBy(this, d);
    if (left.count === 0) return;
    // A filter driver's lookaside entries are not its pool (api/lookaside.ts).
    this.verifier.report(
      'NdisSim_PoolNotFreedAtUnload',
      fn,
      left.adapter,
      `${d.name} unloaded with ${left.count} pool allocation(s) (NdisAllocateMemoryWithTagPriority${miniport ? ', lookaside entries' : ''}; ${left.bytes} bytes) never freed${miniport ? ' (R2.16)' : ''}`,
      [d.name, 0, left.count],
    );
  }

  // ------------------------------------------------------ FDO (PnP side)

  addDevice(dev: DeviceNode): number {
    const d = this.loadDriver(dev.driverName);
    if (d === null) {
      // Device Manager's code for the failure: DriverEntry failed (Code 37, or Code 3
      // when it ran out of resources), or it succeeded without registering, which leaves
      // the device without an AddDevice routine (Code 31).
      const s = this.driverEntryStatus;
      if (s === NDIS_STATUS_SUCCESS) return CM_PROB_FAILED_ADD;
      return s === NDIS_STATUS_RESOURCES ? CM_PROB_OUT_OF_MEMORY : CM_PROB_FAILED_DRIVER_ENTRY;
    }
    // A virtual miniport's device: NDIS's record of NdisIMInitializeDeviceInstanceEx.
    const im = d.intermediate ? (this.imDevices?.get(dev.name.toLowerCase()) ?? null) : null;
    if (d.intermediate && im === null)
      throw new NotModelledError(
        'NdisMRegisterMiniportDriver',
        `device ${dev.name} names ${d.name}, which registered with NDIS_INTERMEDIATE_DRIVER: an intermediate driver's adapters are the virtual miniports its NdisIMInitializeDeviceInstanceEx asks for (install it with protocolDrivers:); a device of its own is not modelled`,
      );
    const b = new MiniportBlock(this, dev.name, d, dev);
    b.im = im;
    d.adapterCount++;
    if (this.trace.on) this.traceNdis(b, 'FDO created (AddDevice)', {});
    // MiniportAddDevice, when the driver registered the PnP set (NdisSetOptionalHandlers).
    // Its failure fails NDIS's AddDevice: the FDO goes and the device shows Code 31
    // (CM_PROB_FAILED_ADD); NDIS calls no MiniportInitializeEx and no MiniportRemoveDevice.
    if (d.pnp !== null && callAddDevice(this, b) !== NDIS_STATUS_SUCCESS) {
      if (this.ioPortRanges !== null) life.portRangesAtFdoEnd(this, b, 'MiniportAddDevice', 'failed');
      b.fdoDeleted = true;
      b.handleDead = true;
      d.adapterCount--;
      if (this.trace.on) this.traceNdis(b, 'FDO deleted: MiniportAddDevice failed', {});
      this.unloadDriverIfIdle(d);
      return CM_PROB_FAILED_ADD;
    }
    this.adapters.push(b);
    dev.fdoExtension = b;
    return 0;
  }

  dispatchPnp(dev: DeviceNode, irp: Irp): void {
    const b = dev.fdoExtension;
    assert(b instanceof MiniportBlock, 'dispatchPnp: no FDO for device', dev.name);
    life.dispatchPnp(this, b, irp);
  }

  /** The adapter's PnP operation can move on: run its next step from an NDIS worker. */
  kick(b: MiniportBlock): void {
    let w = b.worker;
    if (w === null) {
      w = new AdapterWorker(this, b).item;
      b.worker = w;
    }
    this.kernel.queueWork(w);
  }

  // ------------------------------------------------- dumps and watchdogs

  /** Notes that the run reached situation `code` (this.situations); call it only with situationsOn. */
  noteSituation(code: number): void {
    if (this.situations === null) this.situations = [code];
    else this.situations.push(code);
  }

  /** A live kernel dump (0x15E): recorded, not a crash (R5.11). */
  liveDump(b: MiniportBlock, params: (number | string)[], reason: string): void {
    const code = BugCheckCode.BUGCODE_NDIS_DRIVER_LIVE_DUMP;
    const d: LiveDump = { timeNs: this.now, code, name: bugCheckName(code), params, adapter: b.name, reason };
    this.dumps.push(d);
    if (this.trace.on) {
      const k = this.kernel;
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'ndis', 'dump', d.name, {
        code,
        params,
        reason,
        adapter: b.name,
      });
    }
  }

  /** The timer target of pended FilterPause calls (made on first use). */
  get filterWatchdog(): FilterWatchdog {
    this.filterWatchdogTarget ??= new FilterWatchdog(this);
    return this.filterWatchdogTarget;
  }

  /** Filter services started or stopped while stacks run (made on first use). */
  get filterService(): FilterService {
    this.filterServiceTarget ??= new FilterService(this);
    return this.filterServiceTarget;
  }

  /** R3.7: a pended pause must complete within the watchdog time. */
  armPauseWatchdog(b: MiniportBlock): void {
    const p = b.pause;
    assert(p !== null, 'armPauseWatchdog: no pause', b.name);
    p.watchdog = this.kernel.machine.after(this.options.pauseWatchdogNs, this, WatchdogOp.Pause, b);
  }

  fire(op: number, arg: unknown): void {
    assert(op === WatchdogOp.Pause, 'Ndis.fire: op', op);
    const b = arg as MiniportBlock;
    if (b.pause === null || b.pause.completed) return;
    b.pause.watchdog = null;
    // The watchdog was armed at the PENDING return. What the pause still waits for is
    // what the driver has not handed back (R3.3): the likeliest reason it never completes.
    const pendedNs = this.now - this.options.pauseWatchdogNs;
    this.reportInDpc(
      'ndis',
      'NdisSim_PauseWatchdog',
      'MiniportPause',
      b.name,
      `MiniportPause returned PENDING at ${fmtTime(pendedNs)} and NdisMPauseComplete did not follow within ${this.options.pauseWatchdogNs / ns.s} s (R3.7)${b.sendsOutstanding + b.receivesOutstanding === 0 ? '' : `, with ${b.sendsOutstanding} send(s) not completed and ${b.receivesOutstanding} receive(s) not returned`}`,
      ['NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
      { label: 'Pended by', at: `MiniportPause at ${fmtTime(pendedNs)}` },
    );
  }

  /**
   * A watchdog's finding, reported from its timer's DPC: on CPU 0 at DISPATCH with `who`
   * (NDIS, the power manager) as the actor, as the watchdog's own DPC would run.
   */
  reportInDpc(
    who: string,
    rule: string,
    ddi: string,
    adapter: string | null,
    message: string,
    params: BugCheckParam[],
    origin?: ViolationOrigin,
  ): void {
    const k = this.kernel;
    const c = k.enter(0, Irql.Dispatch, who, 'dpc');
    try {
      this.verifier.report(rule, ddi, adapter, message, params, undefined, origin);
    } finally {
      k.exit(c);
    }
  }

  // ---------------------------------------------------- calling drivers

  /**
   * IRQL for a callback documented as <= DISPATCH_LEVEL (options.callbackIrql): fixed
   * by the option, or drawn at `site`, whose answer 0 is `usual` (PASSIVE for the
   * CallbackIrql site; a poll iteration's usual is DISPATCH, as a DPC's).
   */
  lowOrDispatch(site: ChoiceSite = ChoiceSite.CallbackIrql, usual: number = Irql.Passive): number {
    switch (this.options.callbackIrql) {
      case 'passive':
        return Irql.Passive;
      case 'dispatch':
        return Irql.Dispatch;
      case 'explore': {
        const other = usual === Irql.Passive ? Irql.Dispatch : Irql.Passive;
        return this.kernel.machine.choose(site, 2) === 0 ? usual : other;
      }
    }
  }

  /**
   * Enters driver code: the running context takes IRQL `irql` and the driver's
   * name as actor. Returns the frame to pass to `leave`.
   */
  enter(
    b: MiniportBlock | null,
    who: string,
    fn: string,
    irql: number,
    args?: Record<string, unknown>,
  ): Frame {
    const ctx = this.kernel.ctx;
    const depth = this.depth;
    if (depth >= maxCallbackDepth) this.stackOverflow(fn, b);
    let f = this.frames[depth];
    if (f === undefined) {
      f = new Frame();
      this.frames.push(f);
    }
    this.depth = depth + 1;
    f.fn = fn;
    f.adapter = b;
    f.irql = irql;
    f.held = ctx.held.length;
    f.who = ctx.who;
    f.savedIrql = ctx.irql;
    f.startNs = this.kernel.now;
    // R2.16: a call into a miniport whose driver image is gone (an intermediate driver
    // whose Unload routine returned with a virtual miniport still up).
    if (b?.driver.unloaded && who === b.driver.name) this.calledAfterUnload(b, fn);
    // The model's own check: NDIS calls each callback at its documented IRQL (R8.1).
    // A call made at the IRQL of the driver code that called NDIS inherits the
    // driver's IRQL: when that is wrong, the DDI's IRQL check has reported it.
    // Only raised calls are looked up, which spares most calls a keyed load (1.5 % of
    // a lifecycle). At PASSIVE the one possible mistake is a callback documented as
    // exactly DISPATCH or DIRQL, each called from one place at a constant IRQL:
    // test/callback-irql.test.ts checks every call of the example runs.
    if (irql !== Irql.Passive && !(depth > 0 && irql === ctx.irql)) {
      const doc = callbackIrql.get(fn);
      if (doc !== undefined && !doc.anyLevel) {
        assert(
          irql <= doc.max && (!doc.exact || irql === doc.max),
          'NDIS calls a callback at the wrong IRQL',
          fn,
          irql,
        );
      }
    }
    ctx.irql = irql;
    ctx.who = who;
    if (this.trace.on) {
      const data: Record<string, unknown> = {};
      if (args !== undefined)
        for (const [k, v] of Object.entries(args))
          data[k] = k === 'StatusCode' || k === 'status' ? describe(v) : v;
      if (b !== null) data.adapter = b.name;
      this.trace.add(this.kernel.now, ctx.cpu, irql, who, 'call', fn, data);
    }
    return f;
  }

  /** Leaves driver code: checks the IRQL and locks the callback left (R8.10), traces the result. */
  leave(f: Frame, result: unknown, voidReturn = false): void {
    const ctx = this.kernel.ctx;
    if (this.depth === 0 || this.frames[this.depth - 1] !== f)
      throw new InternalError('Ndis.leave: frame order', [f.fn]);
    // A callback written as a generator function returned its generator, its body unrun.
    if (typeof result === 'object' && result !== null && isResumable(result)) notResumable(f.fn);
    this.depth--;
    if (ctx.held.length > f.held) {
      // SpinLockBalanced: every lock taken in the callback is released in it. Put
      // things back so that the model can go on in collect mode.
      const held = ctx.held.length - f.held;
      // R8.11: a lock left held below DISPATCH by an out-of-order release says so.
      let why = '';
      for (let i = f.held; i < ctx.held.length; i++) {
        const l = ctx.held[i]!;
        if (why === '' && l.outOfOrder !== undefined) why = `; ${l.outOfOrder}. ${inReverse}`;
        l.owner = null;
      }
      ctx.held.length = f.held;
      ctx.irql = f.irql;
      this.verifier.report(
        'SpinLockBalanced',
        f.fn,
        f.adapter?.name ?? null,
        `${f.fn} returned holding ${held} lock(s) it acquired (R8.10)${why}`,
      );
    } else if (ctx.held.length < f.held) {
      // SpinLockBalanced the other way: the callback released locks its caller took
      // (a return handler that lets go of the lock the indication was made under). The
      // callers' frames now hold no more than remain.
      const released = f.held - ctx.held.length;
      for (let i = 0; i < this.depth; i++) {
        const g = this.frames[i]!;
        if (g.held > ctx.held.length) g.held = ctx.held.length;
      }
      ctx.irql = f.irql;
      this.verifier.report(
        'SpinLockBalanced',
        f.fn,
        f.adapter?.name ?? null,
        `${f.fn} released ${released} lock(s) taken before it was called (R8.10)`,
      );
    } else if (ctx.irql !== f.irql) {
      const irql = ctx.irql;
      ctx.irql = f.irql;
      this.verifier.report(
        'NdisSim_IrqlOnReturn',
        f.fn,
        f.adapter?.name ?? null,
        `${f.fn} returned at IRQL ${irql}, entered at ${f.irql}`,
      );
    }
    if (this.trace.on) {
      const data: Record<string, unknown> = { result: describe(result) };
      if (f.adapter !== null) data.adapter = f.adapter.name;
      this.trace.add(this.kernel.now, ctx.cpu, ctx.irql, ctx.who, 'return', f.fn, data);
    }
    // A status callback that returned no number, a BOOLEAN one that returned no boolean,
    // or any callback that returned a Promise (an async handler, whose body after its
    // first await would run outside the model). Checked after the return is traced, so
    // the timeline shows what came back. A VOID callback (leaveVoid) skips the look-ups:
    // its return is checked for a Promise only. A number, the common answer, costs a
    // look-up only when it may be a BOOLEAN callback's.
    if (typeof result === 'number') {
      if (!voidReturn && booleanCallbacks.has(f.fn)) this.badReturn(f, result);
    } else if (
      isAsync(result) ||
      (!voidReturn &&
        (statusCallbacks.has(f.fn) || (typeof result !== 'boolean' && booleanCallbacks.has(f.fn))))
    )
      this.badReturn(f, result);
    ctx.who = f.who;
    ctx.irql = f.savedIrql;
  }

  /** NdisSim_CallbackReturnValue: `f`'s callback returned `result`, not a status. */
  private badReturn(f: Frame, result: unknown): void {
    this.verifier.report(
      'NdisSim_CallbackReturnValue',
      f.fn,
      f.adapter?.name ?? null,
      statusCallbacks.has(f.fn)
        ? `${f.fn} returned ${returnedText(result)}; NDIS reads an NDIS_STATUS from it`
        : booleanCallbacks.has(f.fn)
          ? `${f.fn} returned ${returnedText(result, 'boolean')}; its caller reads a BOOLEAN from it: answer true or false`
          : `${f.fn} returned ${returnedText(result)}`,
    );
  }

  /**
   * Leaves a callback that returns VOID, given what it returned: a generator (the
   * callback is a generator function, whose body never ran) stops the run; anything
   * else is ignored, as C ignores it.
   */
  leaveVoid(f: Frame, returned: unknown): void {
    if (returned !== undefined && isResumable(returned)) notResumable(f.fn);
    // An async VOID handler: its Promise is traced as what came back, then reported.
    this.leave(f, returned !== undefined && isAsync(returned) ? returned : undefined, true);
  }

  /** Driver code threw: a bug check (0x1E), unless it is the machine stopping. */
  driverThrew(e: unknown, fn: string, b: MiniportBlock | null, hint = ''): never {
    if (e instanceof WorldStop || e instanceof InternalError || e instanceof ReplayDiverged) throw e;
    if (e instanceof NotModelledError) throw e;
    if (e instanceof RangeError && e.message.includes('call stack')) {
      // The host's stack ran out with no driver frame on top: ndis-sim's own code
      // recursed without end inside a DDI. That is a crash of ndis-sim, not the driver's
      // kernel stack overflow (the fuzz tests look for crashes).
      if (onlyOurFrames(e))
        throw new InternalError(`ndis-sim's own code ran the host's stack out inside ${fn}`, [
          e.stack?.split('\n').slice(1, 4).join(' ') ?? '',
        ]);
      this.stackOverflow(fn, b, true);
    }
    // Unwind our own frames: the callback will not return.
    const message = e instanceof Error ? `${e.name}: ${e.message}` : `thrown value: ${String(e)}`;
    // Where in the driver, as the debugger's stack would show it; 0x1E's parameter 2
    // is the address of the exception, here the driver's file, line and column.
    const { frames, top } = driverFrames(e);
    const at = frames.length > 0 ? ` at ${frames.join(' ← ')}` : '';
    this.verifier.report(
      'NdisSim_DriverException',
      fn,
      b?.name ?? null,
      `${fn} threw ${message}${at}${hint}`,
      [0, top ?? 0],
    );
    throw new WorldStop('driver exception');
  }

  /**
   * Driver code and NDIS called each other without end: `fn` is about to be entered
   * maxCallbackDepth callbacks deep, or the host's own stack ran out inside driver
   * code. On Windows the kernel stack would overflow into its guard page, a double
   * fault (0x7F, trap 8). Says which callbacks repeat and how deep. The depth limit
   * makes the stop the same on every machine, where the host's stack size is not.
   */
  private stackOverflow(fn: string, b: MiniportBlock | null, hostStack = false): never {
    // The callbacks entered, innermost last: `fn` among them when driver code threw in it.
    const names: string[] = [];
    for (let i = 0; i < this.depth; i++) names.push(this.frames[i]!.fn);
    if (names.at(-1) !== fn) names.push(fn);
    const k = names.filter((x) => x === fn).length;
    // The callbacks that repeat: those from the entry of `fn` before the innermost one.
    const last = names.lastIndexOf(fn, names.length - 2);
    const cycle = last >= 0 ? names.slice(last + 1) : [fn];
    // The host's stack ran out with `fn` entered once: the driver's own code recursed.
    const why =
      hostStack && k === 1
        ? `driver code in ${fn} recursed until the stack ran out (${names.length} callback(s) deep): a function of the driver that calls itself without end`
        : `${cycle.length > 1 ? `${cycle.join(' → ')} → …` : fn} nested ${k} deep. Driver code and NDIS called each other without end: a DDI that calls back into driver code that calls the same DDI again`;
    this.verifier.report(
      'NdisSim_StackOverflow',
      fn,
      b?.name ?? null,
      `the kernel stack ran out: ${why}`,
      [0x08, 0, 0, 0],
    );
    throw new WorldStop('kernel stack overflow');
  }

  /**
   * Checks the callbacks that are blocked, on this thread or on threads sleeping under
   * it, against their limits. A wait inside MiniportHaltEx or MiniportPause that
   * outlasts NDIS's watchdog is the watchdog bug check (R2.13, R3.7); a
   * MiniportOidRequest still inside at 12 s is NdisTimedOidComplete (R6.6). A thread
   * whose wait is over but which the model cannot resume yet (a nested wait runs
   * above it) is not checked: its lateness is the model's, not the driver's. Returns
   * when the next of these limits falls due (+Infinity if none), so a wait can stop there.
   */
  checkCallbackWatchdog(): number {
    let due = Number.POSITIVE_INFINITY;
    let w = this.waitCount;
    for (let i = this.depth - 1; i >= 0; i--) {
      // The innermost wait begun above frame i is the one its thread sleeps in.
      while (w > 0 && this.waitDepth[w - 1]! > i) w--;
      if (w < this.waitCount && this.waitWake[w]! <= this.now) continue;
      const f = this.frames[i]!;
      if (f.fn === 'MiniportOidRequest') {
        const d = oidOverdueAt(this, f.adapter!);
        if (d < due) due = d;
        continue;
      }
      if (f.fn.startsWith('Filter')) {
        const d = this.filterCallbackOverdueAt(f);
        if (d < due) due = d;
        continue;
      }
      if (f.fn.startsWith('Protocol')) {
        const d = this.protocolCallbackOverdueAt(f);
        if (d < due) due = d;
        continue;
      }
      if (f.fn === 'MiniportIdleNotification' || f.fn === 'MiniportCancelIdleNotification') {
        const d = idleCallbackOverdueAt(this, f.fn, f.adapter!, f.startNs);
        if (d < due) due = d;
        continue;
      }
      const halt = f.fn === 'MiniportHaltEx';
      if (!halt && f.fn !== 'MiniportPause') continue;
      const limit = halt ? this.options.haltWatchdogNs : this.options.pauseWatchdogNs;
      if (this.now - f.startNs <= limit) {
        // A thread blocked in this callback checks again when the watchdog would fire.
        const d = f.startNs + limit + 1;
        if (d < due) due = d;
        continue;
      }
      // A thread this callback's wait runs above, whose own wait is over, cannot go on
      // until this one's ends: if this callback waits for that thread (a halt waiting for
      // a work item asleep in NdisMSleep to set its event), the deadlock is the model's.
      for (let k = 0; k < w; k++) {
        if (this.waitWake[k]! > this.now) continue;
        const held = this.frames[this.waitDepth[k]! - 1];
        const who =
          held === undefined
            ? 'a thread'
            : `${held.fn}${held.adapter === null ? '' : ` of ${held.adapter.name}`}`;
        throw new NotModelledError(
          f.fn,
          `${f.fn} of ${f.adapter?.name ?? 'the adapter'} has waited ${limit / ns.s} s while ${who}, whose wait ended at ${fmtTime(this.waitWake[k]!)}, was held up under it: the model runs blocking waits one inside another, so it cannot tell whether ${f.fn} waits for that thread, which Windows would have let run (docs/model.md)`,
        );
      }
      this.verifier.fatal(
        halt ? 'NdisSim_HaltWatchdog' : 'NdisSim_PauseWatchdog',
        f.fn,
        f.adapter?.name ?? null,
        `${f.fn} has not returned after ${limit / ns.s} s (${halt ? 'R2.13' : 'R3.7'})`,
        ['NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
      );
    }
    return due;
  }

  /**
   * R7.13: a filter handler blocked past its limit. FilterPause has Driver Verifier's
   * 10 s (NdisFilterTimedPauseComplete) and then NDIS's watchdog (filterPauseOverdueAt);
   * FilterNetPnPEvent, FilterStatus and FilterDetach have NDIS's watchdog (0x7C/0x25 with
   * the filter's operation), at the pause, pause and halt watchdog times. Returns when the frame's limit falls due (+Infinity when it has none).
   */
  private filterCallbackOverdueAt(f: Frame): number {
    let limit: number;
    let op: number;
    switch (f.fn) {
      case 'FilterPause':
        return this.filterPauseOverdueAt(f);
      case 'FilterOidRequest':
        return this.filterOidOverdueAt(f);
      case 'FilterNetPnPEvent':
        limit = this.options.pauseWatchdogNs;
        op = NDIS_BUGCHECK_WATCHDOG_FILTER_NETPNPEVENT;
        break;
      case 'FilterDetach':
        limit = this.options.haltWatchdogNs;
        op = NDIS_BUGCHECK_WATCHDOG_FILTER_DETACH;
        break;
      case 'FilterStatus':
        limit = this.options.pauseWatchdogNs;
        op = NDIS_BUGCHECK_WATCHDOG_FILTER_STATUS_INDICATION;
        break;
      default:
        return Number.POSITIVE_INFINITY;
    }
    if (this.now - f.startNs <= limit) return f.startNs + limit + 1;
    // The innermost module handling a net PnP event (a status) is the highest one with it.
    // Parameter 4 is its NET_PNP_EVENT_CODE (the indication's NDIS_STATUS), as the page says.
    const b = f.adapter!;
    let who = 'a filter module';
    let code = 0;
    if (f.fn === 'FilterNetPnPEvent')
      for (const m of b.filters)
        if (m.netEvent !== null) {
          who = m.driver.name;
          code = m.netEvent.note.NetPnPEvent.NetEvent;
        }
    if (f.fn === 'FilterStatus')
      for (const m of b.filters)
        if (m.statusIn !== null) {
          who = m.driver.name;
          code = m.statusIn.StatusCode;
        }
    if (f.fn === 'FilterDetach') for (const m of b.filters) if (m.inDetach) who = m.driver.name;
    const what = `${f.fn} of ${who} on ${b.name} has not returned after ${limit / ns.s} s (R7.13)`;
    this.verifier.fatal('NdisSim_FilterWatchdog', f.fn, f.adapter?.name ?? null, what, [
      op,
      'NDIS_WATCHDOG_TRIAGE_BLOCK',
      code,
    ]);
  }

  /**
   * R7.13: a FilterOidRequest blocked past the OID watchdog's time from its call is
   * NDIS's filter OID watchdog (0x7C/0x25/0x24, NdisSim_FilterOidWatchdog, the OID in
   * parameter 4), as one pended that long is (filter-oid.ts). A module that waits there
   * for a request of its own below is not the one stuck, as for a pended one.
   */
  private filterOidOverdueAt(f: Frame): number {
    const limit = this.options.oidWatchdogNs;
    if (this.now - f.startNs <= limit) return f.startNs + limit + 1;
    const b = f.adapter!;
    for (const m of b.filters) {
      const st = m.oid;
      const r = st?.current;
      if (st == null || r == null || r.state !== 'in-filter') continue;
      if (st.issued.size > 0) continue;
      this.verifier.fatal(
        'NdisSim_FilterOidWatchdog',
        f.fn,
        b.name,
        `FilterOidRequest of ${m.name} for ${oidName(r.request.DATA.Oid)} has not returned after ${limit / ns.s} s, with nothing of its own outstanding below (R7.13)`,
        ['NDIS_WATCHDOG_TRIAGE_BLOCK', r.request.DATA.Oid],
      );
    }
    return Number.POSITIVE_INFINITY;
  }

  /**
   * R7.13: a FilterPause blocked past Driver Verifier's 10 s is NdisFilterTimedPauseComplete
   * (reported once; the thread goes on waiting in collect mode), and past the pause
   * watchdog's time NDIS's own watchdog, 0x7C/0x25/0x11 NDIS_BUGCHECK_WATCHDOG_FILTER_PAUSE
   * (NdisSim_FilterPauseWatchdog, fatal). Both run from the call. Returns when the next
   * limit falls due.
   */
  private filterPauseOverdueAt(f: Frame): number {
    const b = f.adapter!;
    let m: FilterModule | null = null;
    for (const x of b.filters) if (x.pending?.kind === 'pause' && !x.pending.returned) m = x;
    const p = m?.pending ?? null;
    const dvDue = f.startNs + filterPauseLimitNs + 1;
    const ndisDue = f.startNs + this.options.pauseWatchdogNs + 1;
    const who = m?.driver.name ?? 'a filter module';
    if (p !== null && !p.overdue && this.now >= dvDue) {
      p.overdue = true;
      this.verifier.report(
        'NdisFilterTimedPauseComplete',
        f.fn,
        b.name,
        `${f.fn} of ${who} on ${b.name} has not returned after ${filterPauseLimitNs / ns.s} s (R7.6, R7.13)`,
        ruleParams('a filter pause is not completed within 10 s', b),
      );
    }
    if (this.now >= ndisDue)
      this.verifier.fatal(
        'NdisSim_FilterPauseWatchdog',
        f.fn,
        b.name,
        `${f.fn} of ${who} on ${b.name} has not returned after ${this.options.pauseWatchdogNs / ns.s} s (R7.13)`,
        ['NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
      );
    return p === null || p.overdue ? ndisDue : Math.min(dvDue, ndisDue);
  }

  /**
   * R7.13: a protocol handler NDIS's watchdog covers (a pause, another net PnP event,
   * an unbind, a status indication) blocked past the pause watchdog's time, as for the
   * same step pended (protocol-driver.ts ProtocolWatchdog). Returns when the frame's
   * limit falls due (+Infinity when it has none).
   */
  private protocolCallbackOverdueAt(f: Frame): number {
    const bd = f.binding;
    // A global event (NULL binding context, no adapter) and a bind are not watched.
    if (f.adapter === null || bd === null || bd.block !== f.adapter) return Number.POSITIVE_INFINITY;
    const step = blockedProtocolStep(f.fn, bd, f.statusCode);
    if (step === null) return Number.POSITIVE_INFINITY;
    const limit = this.options.pauseWatchdogNs;
    if (this.now - f.startNs <= limit) return f.startNs + limit + 1;
    this.verifier.fatal(
      'NdisSim_ProtocolWatchdog',
      f.fn,
      f.adapter.name,
      `${step.name} of ${bd.protocol.name} on the binding ${bd.name} has not returned after ${limit / ns.s} s (R7.13)`,
      [step.op, 'NDIS_WATCHDOG_TRIAGE_BLOCK', step.code],
    );
  }

  /** How many driver callbacks are under way on the host's stack. */
  get frameDepth(): number {
    return this.depth;
  }

  /**
   * The resumable routine that called the running DDI from its own code, or null: a
   * wait there is set aside, not nested. A callback that one of its DDIs runs (a
   * plain function) waits nested as ever, and so does a wait above PASSIVE or under a
   * spin lock, which the DDI's IRQL check has reported (collect mode goes on): the
   * IRQL and the locks stay with the thread that holds them.
   */
  resumableHere(): ResumableThread | null {
    const t = this.resumableRunning;
    if (t === null || t.depth !== this.depth) return null;
    const ctx = this.kernel.ctx;
    return ctx.irql === Irql.Passive && ctx.held.length === 0 ? t : null;
  }

  /** The running DDI was called after a wait the resumable routine has not yielded. */
  unyielded(ddi: string): never {
    const w = this.resumablePending!;
    this.resumablePending = null;
    throw new UnyieldedWaitError(w, `calls ${ddi}`);
  }

  /** A resumable routine is set aside: its frame, on top, leaves the stack. */
  detachFrame(f: Frame): void {
    if (this.depth === 0 || this.frames[this.depth - 1] !== f)
      throw new InternalError('Ndis.detachFrame: frame order', [f.fn]);
    // The slot's frame goes with the routine: a fresh one serves the next callback.
    this.frames[--this.depth] = new Frame();
  }

  /** A resumable routine goes on: its frame is on top again. */
  attachFrame(f: Frame): void {
    this.frames[this.depth++] = f;
  }

  /**
   * The running thread begins a blocking wait in `ddi` that ends at `wakeNs` (infinite
   * when only an event ends it); pair with `endWait`.
   */
  beginWait(wakeNs: number, ddi: string): number {
    // A thread that waits is not polling flat out: its register accesses count afresh.
    this.kernel.ctx.accesses = 0;
    this.waitDepth[this.waitCount] = this.depth;
    this.waitDdi[this.waitCount] = ddi;
    this.waitWake[this.waitCount] = wakeNs;
    return this.waitCount++;
  }

  /**
   * Wait `slot` (what beginWait returned) was satisfied now, its event set: its thread
   * is due to run from now on, and any later resumption is the model's lateness.
   */
  waitSatisfied(slot: number): void {
    if (this.now < this.waitWake[slot]!) this.waitWake[slot] = this.now;
  }

  /**
   * The wait ends; returns how late the thread resumes (0 when on time). The delay is
   * the model's, so the thread's callbacks do not count it against their limits.
   * `result`: what the DDI returns, for the trace (NdisWaitEvent's TRUE or FALSE).
   * `goesOn`: the DDI does more after the wait (NdisDeregisterProtocolDriver's unbinds),
   * so the trace says it resumes, not that it returns.
   */
  endWait(result?: boolean, goesOn = false): number {
    const ddi = this.waitDdi[--this.waitCount]!;
    // A wait whose time ran out while the system slept is due at the wake, not before.
    const late = this.now - Math.max(this.waitWake[this.waitCount]!, this.kernel.machine.thawedAtNs);
    if (this.trace.on && this.kernel.machine.stopped === null) {
      const k = this.kernel;
      const data: Record<string, unknown> = late > 0 ? { lateNs: late } : {};
      if (result !== undefined) data.result = result;
      if (goesOn) data.goesOn = true;
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, k.ctx.who, 'wake', ddi, data);
    }
    if (this.kernel.machine.stopped !== null) {
      this.blockedAtEnd ??= ddi;
      if (this.waitWake[this.waitCount] === Number.POSITIVE_INFINITY) this.untimedWaitAtEnd ??= ddi;
    }
    if (late <= 0) return 0;
    if (this.kernel.machine.stopped !== null) {
      // The run is over, and this thread, whose time was up, never got to run again:
      // threads that wait for each other deadlock in the model (docs/model.md).
      const f = this.frames[this.waitDepth[this.waitCount]! - 1];
      const who =
        f === undefined ? 'a thread' : `${f.fn}${f.adapter === null ? '' : ` of ${f.adapter.name}`}`;
      this.heldAtEnd = { who, ddi, dueNs: this.waitWake[this.waitCount]! };
      return late;
    }
    this.lateWakes++;
    if (!this.lateWakeDdis.includes(ddi)) this.lateWakeDdis.push(ddi);
    if (late > this.lateWakeMaxNs) this.lateWakeMaxNs = late;
    const base = this.waitCount === 0 ? 0 : this.waitDepth[this.waitCount - 1]!;
    for (let i = base; i < this.depth; i++) {
      const f = this.frames[i]!;
      f.startNs += late;
      const r = f.fn === 'MiniportOidRequest' ? f.adapter!.oid : null;
      if (r !== null && r.state === 'in-miniport') r.dispatchedNs += late;
    }
    return late;
  }

  /**
   * The adapter whose callback `fn` the running thread is inside (only `b`'s, if given),
   * innermost first, or null. Callbacks of threads asleep beneath it do not count.
   */
  insideCallbackOf(fn: string, b: MiniportBlock | null = null): MiniportBlock | null {
    const base = this.waitCount === 0 ? 0 : this.waitDepth[this.waitCount - 1]!;
    for (let i = this.depth - 1; i >= base; i--) {
      const f = this.frames[i]!;
      if (f.fn === fn && (b === null || f.adapter === b)) return f.adapter;
    }
    return null;
  }

  /**
   * True while the running thread is inside callback `fn` of driver `who`, whatever the
   * adapter (a WDM work item's routine runs for its driver, with no adapter).
   */
  insideDriverCallback(fn: string, who: string): boolean {
    const base = this.waitCount === 0 ? 0 : this.waitDepth[this.waitCount - 1]!;
    for (let i = this.depth - 1; i >= base; i--) {
      const f = this.frames[i]!;
      if (f.fn === fn && f.who === who) return true;
    }
    return false;
  }

  /** True while the running thread is inside callback `fn` of `b` (for DDIs that care who calls them). */
  insideCallback(b: MiniportBlock, fn: string): boolean {
    return this.insideCallbackOf(fn, b) !== null;
  }

  // ---------------------------------------------- kernel objects → driver

  /**
   * A timer, work item or interrupt the driver left armed fires after the adapter's
   * MiniportHaltEx returned, or its MiniportInitializeEx failed: driver code runs
   * against freed state (R2.5, R2.10, R8.7).
   */
  private afterHalt(b: MiniportBlock, fn: string, obj: LateObject | null = null): boolean {
    if (!b.handleDead) return false;
    this.verifier.report(
      'NdisSim_CallbackAfterHalt',
      fn,
      b.name,
      `${fn} of ${b.name} fired after ${b.handleEnd}: the driver left it armed (R2.10); its code would run against freed state, so the model does not run it${lateStory(obj)}`,
      undefined,
      undefined,
      lateOrigin(obj),
    );
    return true;
  }

  /** Adapters reported by calledAfterUnload: once each. */
  private unloadedCalls: Set<MiniportBlock> | null = null;

  /**
   * NDIS calls `fn` of adapter `b` after its driver's image unloaded: on Windows that code
   * is gone. Reported once per adapter (NdisSim_CallbackAfterHalt); the model runs it.
   */
  private calledAfterUnload(b: MiniportBlock, fn: string): void {
    this.unloadedCalls ??= new Set();
    if (this.unloadedCalls.has(b)) return;
    this.unloadedCalls.add(b);
    this.verifier.report(
      'NdisSim_CallbackAfterHalt',
      fn,
      b.name,
      `NDIS called ${fn} of ${b.name} after its driver ${b.driver.name} unloaded: the adapter was never halted (an intermediate driver's unbind gives its virtual miniport up with NdisIMDeInitializeDeviceInstance before the driver unloads; R2.16, R5.23), and on Windows its code is gone. The model runs it; later calls of this adapter are not reported again`,
    );
  }

  /**
   * A timer or work item allocated with the driver handle fires after the driver's
   * MiniportDriverUnload returned: its code runs against a driver that is gone (R8.8:
   * a driver-handle work item is freed before unload; R2.16). The object belongs to
   * that load of the driver, so a later load of the same driver does not excuse it.
   */
  private afterUnload(
    d: MiniportDriverBlock | FilterDriverBlock | ProtocolDriverBlock,
    fn: string,
    unload: string,
    obj: LateObject | null,
  ): boolean {
    if (!d.unloaded) return false;
    this.verifier.report(
      'NdisSim_CallbackAfterHalt',
      fn,
      null,
      (fn === 'WorkItem' || fn === 'WorkItemEx'
        ? `${fn} of driver ${d.name} fired after its ${unload} returned: an IO_WORKITEM was queued during or after the unload (the unload waits only for those queued before it began) and ${unload} returned without making sure it had run (releasing-driver-allocated-resources: an Unload routine ensures the work items it queued have completed); the model does not run it`
        : `${fn} of driver ${d.name} fired after its ${unload} returned: a timer or work item allocated with the driver handle was left armed (R8.8, R2.16); the model does not run it`) +
        lateStory(obj),
      undefined,
      undefined,
      lateOrigin(obj),
    );
    return true;
  }
  /**
   * A timer allocated with a filter module's NdisFilterHandle fires after the module's
   * FilterDetach returned, or its FilterAttach failed: the filter left it armed, and its
   * code runs against a module context it freed (nc-ndis-filter_detach: FilterDetach
   * frees the module's resources).
   */
  private afterDetach(m: FilterModule, fn: string, obj: LateObject | null): boolean {
    if (!m.gone) return false;
    this.verifier.report(
      'NdisSim_CallbackAfterHalt',
      fn,
      m.block.name,
      `${fn} of filter module ${m.name} fired after ${this.filterModules.includes(m) ? 'its FilterDetach returned' : 'its FilterAttach failed'}: the filter left it armed (R7.11); the model does not run it${lateStory(obj)}`,
      undefined,
      undefined,
      lateOrigin(obj),
    );
    return true;
  }

  /**
   * The owner of a timer or work item is gone: its adapter halted, its driver unloaded,
   * its filter module detached.
   */
  private ownerGone(o: Owner, fn: string, obj: LateObject | null = null): boolean {
    switch (o.kind) {
      case 'adapter':
        return this.afterHalt(o.block, fn, obj);
      case 'driver':
        return this.afterUnload(o.driver, fn, 'MiniportDriverUnload', obj);
      case 'module':
        return this.afterDetach(o.module, fn, obj);
      case 'filterDriver':
        return this.afterUnload(o.driver, fn, 'FilterDriverUnload', obj);
      case 'protocolDriver':
        // Its Unload routine, when its service stopped (scenario stop-protocol).
        return this.afterUnload(o.driver, fn, 'DriverUnload', obj);
    }
  }

  runTimerFunction(t: NdisTimerObject): void {
    const b = ownerAdapter(t.owner);
    const who = ownerDriverName(t.owner);
    if (t.freed || t.firedAfterOwner) return;
    if (this.ownerGone(t.owner, 'NdisTimerFunction', t)) {
      t.firedAfterOwner = true;
      return;
    }
    // The timeline names the routine: a driver's timers all run as NdisTimerFunction.
    const f = this.enter(
      b,
      who,
      'NdisTimerFunction',
      Irql.Dispatch,
      this.trace.on ? { TimerFunction: routineName(t.chars.TimerFunction) } : undefined,
    );
    let returned: unknown;
    try {
      returned = t.chars.TimerFunction(null, t.context, null, null);
    } catch (e) {
      this.driverThrew(e, 'NdisTimerFunction', b);
    }
    this.leaveVoid(f, returned);
  }

  runIoWorkItem(w: NdisIoWorkItem): void {
    if (w instanceof IoWorkItem) {
      this.runWdmWorkItem(w);
      return;
    }
    const b = ownerAdapter(w.owner);
    const who = ownerDriverName(w.owner);
    const routine = w.routine;
    // The item is dequeued: the routine may queue it again (a new reference) or free it.
    const held = w.referenced;
    w.referenced = false;
    if (routine === null || this.ownerGone(w.owner, 'NdisIoWorkItemFunction', w)) {
      if (held) this.dropIoRef(w);
      return;
    }
    // While the routine runs the item holds the device object: halt checks it, and the
    // driver's unload waits for it (R8.9, R2.16).
    const o = w.owner;
    const adapter = o.kind === 'adapter' ? o.block : null;
    const md = adapter !== null ? adapter.driver : o.kind === 'driver' ? o.driver : null;
    if (adapter !== null) adapter.ioWorkRunning++;
    if (md !== null) md.ioWorkRunning++;
    const f = this.enter(
      b,
      who,
      'NdisIoWorkItemFunction',
      Irql.Passive,
      this.trace.on ? { WorkItemRoutine: routineName(routine) } : undefined,
    );
    let r: unknown;
    try {
      r = routine(w.context, w);
    } catch (e) {
      this.driverThrew(e, 'NdisIoWorkItemFunction', b);
    }
    // A closure only for a resumable routine: a plain one, the common case, allocates none.
    if (r !== undefined && isResumable(r))
      this.runResumable(r, f, 'NdisIoWorkItemFunction', b, who, () =>
        this.ioWorkItemDone(f, w, held, adapter, md, undefined),
      );
    else this.ioWorkItemDone(f, w, held, adapter, md, r);
  }

  /**
   * An NDIS work item's routine has returned: its frame, its reference and its counts go.
   * What a plain routine returned is read only for a Promise or an async generator (an
   * async routine, NdisSim_CallbackReturnValue, R8.1), as for every VOID callback.
   */
  private ioWorkItemDone(
    f: Frame,
    w: NdisIoWorkItem,
    held: boolean,
    adapter: MiniportBlock | null,
    md: MiniportDriverBlock | null,
    returned: unknown,
  ): void {
    this.leave(f, returned !== undefined && isAsync(returned) ? returned : undefined, true);
    if (held) this.dropIoRef(w);
    if (adapter !== null) adapter.ioWorkRunning--;
    if (md !== null && --md.ioWorkRunning === 0 && md.unloadWaits && md.ioRefs === 0) {
      md.unloadWaits = false;
      this.unloadDriverIfIdle(md);
    }
  }

  /**
   * A routine that is a generator function (a work item's, a dispatch routine's): its
   * code runs now up to its first yielded wait, and goes on as events of its own
   * (src/ndis/resumable.ts). `finish` runs once it has returned, with what it returned;
   * it leaves frame `f`. `gone`, asked at each wake, says (and reports) that the
   * routine's code is no longer there to run.
   */
  runResumable(
    gen: Generator<unknown, unknown, boolean>,
    f: Frame,
    fn: string,
    b: MiniportBlock | null,
    who: string,
    finish: (value: unknown) => void,
    gone: (() => boolean) | null = null,
  ): void {
    // The frame keeps who the thread ran for before the routine began.
    const t = new ResumableThread(this, gen, f, fn, b, f.who, this.kernel.ctx.kind, who, finish, gone);
    this.resumables.push(t);
    t.step(undefined);
  }

  /**
   * An IO_WORKITEM's WorkItem or WorkItemEx routine, at PASSIVE in a system worker
   * thread. The item is dequeued first, so the routine may queue or free it again; the
   * reference its queuing took is released when the routine returns.
   */
  private runWdmWorkItem(w: IoWorkItem): void {
    const routine = w.ioRoutine;
    const fn = w.ex ? 'WorkItemEx' : 'WorkItem';
    const held = w.referenced;
    w.referenced = false;
    if (routine !== null && !this.ownerGone(w.owner, fn, w)) {
      const f = this.enter(
        null,
        ownerDriverName(w.owner),
        fn,
        Irql.Passive,
        this.trace.on ? { WorkerRoutine: routineName(routine) } : undefined,
      );
      let r: unknown;
      try {
        if (w.ex) r = (routine as IO_WORKITEM_ROUTINE_EX)(w.ioObject, w.context, w);
        else r = (routine as IO_WORKITEM_ROUTINE)(w.ioObject as DEVICE_OBJECT, w.context);
      } catch (e) {
        this.driverThrew(e, fn, null);
      }
      if (r !== undefined && isResumable(r)) {
        this.runResumable(r, f, fn, null, ownerDriverName(w.owner), () => {
          this.leave(f, undefined);
          if (held) this.dropIoRef(w);
        });
        return;
      }
      this.leave(f, r !== undefined && isAsync(r) ? r : undefined, true);
    }
    // The routine may have queued the item again (a new reference): only the old one goes.
    if (held) this.dropIoRef(w);
  }

  /**
   * Drops the reference a queued IO_WORKITEM holds on its driver (its routine returned,
   * or IoFreeWorkItem dropped its run); a miniport driver's unload that waited for it
   * goes on (a filter's or protocol's stop polls again on its own).
   */
  releaseIoWorkItem(w: NdisIoWorkItem): void {
    if (!w.referenced) return;
    w.referenced = false;
    this.dropIoRef(w);
  }

  private dropIoRef(w: NdisIoWorkItem): void {
    const o = w.owner;
    if (o.kind !== 'driver' && o.kind !== 'filterDriver' && o.kind !== 'protocolDriver') return;
    const d = o.driver;
    if (
      --d.ioRefs === 0 &&
      d.__ndisHandle === 'NDIS_MINIPORT_DRIVER' &&
      d.unloadWaits &&
      d.ioWorkRunning === 0
    ) {
      d.unloadWaits = false;
      this.unloadDriverIfIdle(d);
    }
  }

  runIsr(i: NdisInterrupt): void {
    if (i.deregistered || this.afterHalt(i.block, 'MiniportInterrupt')) return;
    const b = i.block;
    // MINIPORT_ISR: was the interrupt the NIC's? Read before the ISR clears its causes.
    const notOurs = b.dev.hardware?.isrNotOurs?.() ?? null;
    const f = this.enter(b, b.driver.name, 'MiniportInterrupt', Irql.Dirql);
    let r: { InterruptRecognized: boolean; QueueDefaultInterruptDpc: boolean; TargetProcessors: number };
    // The ISR runs holding the interrupt's spin lock (NdisMSynchronizeWithInterruptEx).
    i.lockHeld = true;
    try {
      r = i.chars.InterruptHandler(i.context);
    } catch (e) {
      this.driverThrew(e, 'MiniportInterrupt', b);
    } finally {
      i.lockHeld = false;
    }
    if (this.isrNoAnswer(f, r)) return;
    this.leave(f, r.InterruptRecognized);
    if (notOurs !== null && r.InterruptRecognized) this.isrClaimedNotOurs(b, notOurs);
    // MINIPORT_ISR: the two out values alone decide the DPCs; the return value only
    // says whether the NIC raised the interrupt (the kernel would call the next ISR on
    // a shared line when it is FALSE; the model's other device needs no ISR). QueueDefaultInterruptDpc TRUE: one DPC on the CPU that ran the
    // ISR, and TargetProcessors is ignored. FALSE: one DPC on each CPU whose bit is
    // set (bit n = CPU n of group 0, 32 bits), none when the mask is 0.
    const k = this.kernel;
    if (r.QueueDefaultInterruptDpc) {
      k.queueDpc(i.k.dpc, k.ctx.cpu);
      return;
    }
    const mask = r.TargetProcessors >>> 0;
    if (mask === 0) return;
    this.queueTargetDpcs(i, mask, this.interruptDpcs(i));
  }

  /** Adapters warned of an ISR that claimed an interrupt not theirs (once each). */
  private isrClaimWarned: Set<MiniportBlock> | null = null;

  /**
   * MINIPORT_ISR and "Handling interrupts": NDIS calls MiniportInterrupt when the NIC or
   * another device sharing its line interrupts, and the ISR returns FALSE at once when
   * its NIC did not. One that claims an interrupt its NIC did not raise (a removed NIC
   * reads all ones) takes it from the device that did, and on a level-triggered line the
   * interrupt keeps coming: an interrupt storm. A warning, once per adapter.
   */
  private isrClaimedNotOurs(b: MiniportBlock, why: string): void {
    this.isrClaimWarned ??= new Set();
    if (this.isrClaimWarned.has(b)) return;
    this.isrClaimWarned.add(b);
    this.verifier.warn(
      'MINIPORT_ISR',
      'MiniportInterrupt',
      b.name,
      `MiniportInterrupt of ${b.name} returned TRUE (InterruptRecognized) for an interrupt its NIC did not raise: ${why}. An ISR returns FALSE at once when its NIC did not interrupt, or it claims another device's interrupt on a shared line, which keeps interrupting (said once per adapter)`,
    );
  }

  /**
   * An ISR that answered no object (a bare boolean, as MINIPORT_ISR returns in C, or
   * undefined): its frame is left and NdisSim_CallbackReturnValue reported, R8.1; the
   * interrupt then counts as not recognized, with no DPC. False for an answer to read.
   */
  private isrNoAnswer(f: Frame, r: unknown): boolean {
    if (typeof r === 'object' && r !== null && !isAsync(r)) return false;
    // A Promise is reported as it comes back; anything else here.
    this.leave(f, r, true);
    if (!isAsync(r))
      this.verifier.report(
        'NdisSim_CallbackReturnValue',
        f.fn,
        f.adapter?.name ?? null,
        `${f.fn} returned ${returnedText(r, 'object')}; it answers { InterruptRecognized, QueueDefaultInterruptDpc, TargetProcessors }, the BOOLEAN of MINIPORT_ISR and its two out parameters`,
      );
    return true;
  }

  /** An ISR's TargetProcessors: one DPC of `dpcs` on each CPU whose bit is set. */
  private queueTargetDpcs(i: NdisInterrupt, mask: number, dpcs: Dpc[]): void {
    const k = this.kernel;
    const cpus = Math.min(32, k.cpuCount);
    for (let cpu = 0; cpu < cpus; cpu++) {
      // An ISR's DPC gets no MiniportDpcContext, whatever NdisMQueueDpcEx gave that object.
      if ((mask >>> cpu) & 1 && k.queueDpc(dpcs[cpu]!, cpu)) i.dpcContexts?.delete(dpcs[cpu]!);
    }
    if (cpus < 32 && mask >>> cpus !== 0 && this.trace.on) {
      // The docs name no error for a processor the machine lacks: NDIS has no DPC to queue there.
      this.traceNdis(
        i.block,
        `TargetProcessors 0x${mask.toString(16)}: bits above CPU ${cpus - 1} ignored`,
        {},
      );
    }
  }

  /**
   * MiniportMessageInterrupt for one message (MINIPORT_MESSAGE_INTERRUPT page): the
   * same three results as the line's ISR, deciding the message's own DPCs.
   */
  runMessageIsr(m: NdisMessage): void {
    const i = m.interrupt;
    if (i.deregistered || this.afterHalt(i.block, 'MiniportMessageInterrupt')) return;
    const b = i.block;
    const f = this.enter(
      b,
      b.driver.name,
      'MiniportMessageInterrupt',
      Irql.Dirql,
      this.trace.on ? { MessageId: m.MessageId } : undefined,
    );
    let r: { InterruptRecognized: boolean; QueueDefaultInterruptDpc: boolean; TargetProcessors: number };
    const lock = interruptLock(i, m);
    lock.lockHeld = true;
    try {
      r = i.chars.MessageInterruptHandler!(i.context, m.MessageId);
    } catch (e) {
      this.driverThrew(e, 'MiniportMessageInterrupt', b);
    } finally {
      lock.lockHeld = false;
    }
    if (this.isrNoAnswer(f, r)) return;
    this.leave(f, r.InterruptRecognized);
    const k = this.kernel;
    if (r.QueueDefaultInterruptDpc) {
      k.queueDpc(m.k.dpc, k.ctx.cpu);
      return;
    }
    const mask = r.TargetProcessors >>> 0;
    if (mask !== 0) this.queueTargetDpcs(i, mask, this.messageDpcs(m));
  }

  /** The message's DPC object for each CPU (its ISR's TargetProcessors, NdisMQueueDpcEx). */
  messageDpcs(m: NdisMessage): Dpc[] {
    let d = m.cpuDpcs;
    if (d === null) {
      d = [];
      for (let cpu = 0; cpu < this.kernel.cpuCount; cpu++) d.push(new Dpc(m, m.k.who, m.k));
      m.cpuDpcs = d;
    }
    return d;
  }

  /** MiniportMessageInterruptDPC of one message, as runInterruptDpc for the line. */
  runMessageDpc(m: NdisMessage, dpc: Dpc): void {
    const i = m.interrupt;
    if (i.deregistered || this.afterHalt(i.block, 'MiniportMessageInterruptDPC')) return;
    const b = i.block;
    const f = this.enter(
      b,
      b.driver.name,
      'MiniportMessageInterruptDPC',
      Irql.Dispatch,
      this.trace.on ? { MessageId: m.MessageId } : undefined,
    );
    const t = i.throttle;
    if (t !== null) {
      t.MaxNblsToIndicate = NDIS_INDICATE_ALL_NBLS;
      t.MoreNblsPending = false;
    }
    let returned: unknown;
    try {
      returned = i.chars.MessageInterruptDpcHandler!(
        i.context,
        m.MessageId,
        i.dpcContexts?.get(dpc) ?? null,
        t,
        null,
      );
    } catch (e) {
      this.driverThrew(e, 'MiniportMessageInterruptDPC', b);
    }
    this.leaveVoid(f, returned);
    if (t?.MoreNblsPending && !i.deregistered) this.kernel.queueDpc(dpc, this.kernel.ctx.cpu);
  }

  /** Per-CPU DPC objects of an interrupt for its TargetProcessors DPCs, made on first use. */
  private readonly cpuDpcs = new WeakMap<NdisInterrupt, Dpc[]>();

  /** The interrupt's DPC object for each CPU (an ISR's TargetProcessors, NdisMQueueDpcEx). */
  interruptDpcs(i: NdisInterrupt): Dpc[] {
    let d = this.cpuDpcs.get(i);
    if (d === undefined) {
      d = [];
      for (let cpu = 0; cpu < this.kernel.cpuCount; cpu++) d.push(new Dpc(i, i.k.who, i.k));
      this.cpuDpcs.set(i, d);
    }
    return d;
  }

  /**
   * NdisMDeregisterInterruptEx: run the interrupt's DPCs that are still queued, the
   * default one and those for TargetProcessors, before it returns (R2.10).
   */
  flushInterruptDpcs(i: NdisInterrupt): void {
    this.flushInterruptDpc(i, i.k.dpc);
    const d = this.cpuDpcs.get(i);
    if (d !== undefined) for (const dpc of d) this.flushInterruptDpc(i, dpc);
    if (i.messages === null) return;
    // Message-based: every message's default DPC and its DPCs for TargetProcessors.
    for (const m of i.messages) {
      this.flushInterruptDpc(i, m.k.dpc);
      if (m.cpuDpcs !== null) for (const dpc of m.cpuDpcs) this.flushInterruptDpc(i, dpc);
    }
  }

  /** Whether a DPC of interrupt `i` (its line's, a message's, one for a CPU) is queued and has not run yet. */
  interruptDpcQueued(i: NdisInterrupt): boolean {
    if (i.k.dpc.queuedOn !== -1) return true;
    const d = this.cpuDpcs.get(i);
    if (d !== undefined) for (const dpc of d) if (dpc.queuedOn !== -1) return true;
    if (i.messages !== null)
      for (const m of i.messages) {
        if (m.k.dpc.queuedOn !== -1) return true;
        if (m.cpuDpcs !== null) for (const dpc of m.cpuDpcs) if (dpc.queuedOn !== -1) return true;
      }
    return false;
  }

  /**
   * Runs `dpc` now if it is queued, saying so in the trace: the DPC's lines then sit
   * under NdisMDeregisterInterruptEx's caller, and without this one a reader would
   * take them for that caller's own doing.
   */
  private flushInterruptDpc(i: NdisInterrupt, dpc: Dpc): void {
    if (dpc.queuedOn === -1) return;
    if (this.trace.on)
      this.traceNdis(i.block, 'NdisMDeregisterInterruptEx runs a DPC still queued before it returns', {
        queuedOn: `CPU ${dpc.queuedOn}`,
      });
    this.kernel.flushDpc(dpc);
  }

  runInterruptDpc(i: NdisInterrupt, dpc: Dpc): void {
    if (i.deregistered || this.afterHalt(i.block, 'MiniportInterruptDPC')) return;
    const b = i.block;
    const f = this.enter(b, b.driver.name, 'MiniportInterruptDPC', Irql.Dispatch);
    const t = i.throttle;
    if (t !== null) {
      t.MaxNblsToIndicate = NDIS_INDICATE_ALL_NBLS;
      t.MoreNblsPending = false;
    }
    let returned: unknown;
    try {
      returned = i.chars.InterruptDpcHandler(i.context, i.dpcContexts?.get(dpc) ?? null, t, null);
    } catch (e) {
      this.driverThrew(e, 'MiniportInterruptDPC', b);
    }
    this.leaveVoid(f, returned);
    // Receive Side Throttle: the driver has more to indicate; NDIS runs the DPC again.
    if (t?.MoreNblsPending && !i.deregistered) this.kernel.queueDpc(dpc, this.kernel.ctx.cpu);
  }

  // ------------------------------------------------------------ tracing

  traceState(b: MiniportBlock, from: AdapterState, to: AdapterState, event: AdapterEvent): void {
    if (!this.trace.on) return;
    const k = this.kernel;
    this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'ndis', 'state', `${from} → ${to}`, {
      adapter: b.name,
      event,
    });
  }

  traceNdis(b: MiniportBlock | null, what: string, data: Record<string, unknown>): void {
    if (!this.trace.on) return;
    const k = this.kernel;
    if (b !== null) data.adapter = b.name;
    if ('status' in data) data.status = describe(data.status);
    this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'ndis', 'ndis', what, data);
  }

  traceBinding(bd: Binding, what: string, data: Record<string, unknown>): void {
    if (!this.trace.on) return;
    const k = this.kernel;
    data.adapter = bd.block.name;
    this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, bd.protocol.name, 'binding', what, data);
  }

  /**
   * A DDI called by a driver (trace only). Recorded when the call begins, so that
   * what it causes comes after it; the caller sets `result` on the returned data.
   */
  traceDdi(fn: string, b: MiniportBlock | null, data: Record<string, unknown>): Record<string, unknown> {
    const k = this.kernel;
    if (b !== null) data.adapter = b.name;
    if ('result' in data) data.result = describe(data.result);
    if ('Status' in data) data.Status = describe(data.Status);
    if ('StatusCode' in data) data.StatusCode = describe(data.StatusCode);
    if (typeof data.Type === 'number') data.Type = objectTypeName(data.Type);
    this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, k.ctx.who, 'ddi', fn, data);
    return data;
  }
}

/** An NDIS_OBJECT_TYPE_* value by name, or in hex when the model does not know it. */
export function objectTypeName(type: number): string {
  return NDIS_OBJECT_TYPE_NAMES.get(type) ?? `0x${type.toString(16)}`;
}

/** A callback result for the trace: status names for NDIS_STATUS values. */
export function describe(result: unknown): unknown {
  if (typeof result === 'number') return statusInfo.get(result)?.name ?? result;
  if (isThenable(result)) return 'a Promise';
  if (isAsyncIterator(result)) return 'an async generator';
  if (result !== null && typeof result === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(result)) o[k] = k === 'Status' ? describe(v) : v;
    return o;
  }
  return result;
}

/** A driver routine's name for the timeline, as its function is named in the driver's code. */

/** A timer or work item whose routine came due after its owner was gone. */
type LateObject = NdisTimerObject | NdisIoWorkItem;

/**
 * NdisSim_CallbackAfterHalt's word on which object it was (R2.10, R8.8): where the
 * driver allocated it and last set or queued it, made only as the violation is reported.
 */
function lateStory(obj: LateObject | null): string {
  return obj === null ? '' : ` (${obj.story()})`;
}

function lateOrigin(obj: LateObject | null): ViolationOrigin | undefined {
  return obj === null ? undefined : obj.origin(true);
}
