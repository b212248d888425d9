// Filter drivers and their filter modules (07-protocols-filters.md, R7.5–R7.13): what
// NdisFRegisterFilterDriver records, the module NDIS attaches to each adapter's stack,
// and the steps of NDIS's stack operations that move modules: attach (R7.8), restart
// bottom-up (R7.10), pause top-down (R7.9), detach (R7.11), and the PnP events that
// travel through the modules (R7.7, R5.1, R5.5).

import { Irql } from '../kernel/kernel.ts';
import { fmtTime } from '../report/format.ts';
import { ns } from '../sim/limits.ts';
import type { EventTarget, SimEvent } from '../sim/queue.ts';
import { statusText } from '../verifier/bugcheck.ts';
import { nblApiLeftByModule } from './api/nblapi.ts';
import type { NDIS_RW_LOCK_EX } from './api/rwlock.ts';
import type { NetEventCode } from './binding.ts';
import type { MiniportBlock, PnpOp } from './block.ts';
import {
  filterPauseDrained,
  type ModuleData,
  moduleDetached,
  modulePage,
  refreshFilterData,
} from './datapath.ts';
import { referencedDevice } from './device.ts';
import { type FilterDirectState, filterDirectBusy } from './direct-oid.ts';
import { type FilterOidState, filterOidBusy, filterOidDetached } from './filter-oid.ts';
import { msRules } from './generated/rules.ts';
import {
  NDIS_DEVICE_PNP_EVENT_NAMES,
  NDIS_FILTER_ATTACH_PARAMETERS_REVISION_4,
  NDIS_FILTER_PAUSE_PARAMETERS_REVISION_1,
  NDIS_FILTER_RESTART_PARAMETERS_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_FILTER_ATTACH_PARAMETERS,
  NDIS_OBJECT_TYPE_FILTER_PAUSE_PARAMETERS,
  NDIS_OBJECT_TYPE_FILTER_RESTART_PARAMETERS,
  NDIS_PAUSE_ATTACH_FILTER,
  NDIS_PAUSE_DETACH_FILTER,
  NDIS_PAUSE_FILTER_RESTART_STACK,
  NDIS_PAUSE_REASON_NAMES,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NET_DEVICE_PNP_EVENT_REVISION_1,
  NET_PNP_EVENT_CODE_NAMES,
  NET_PNP_EVENT_NOTIFICATION_REVISION_1,
  NetEventCancelRemoveDevice,
  NetEventPause,
  NetEventPortActivation,
  NetEventPortDeactivation,
  NetEventQueryPower,
  NetEventQueryRemoveDevice,
  NetEventRestart,
  NetEventSetPower,
} from './generated/status.ts';
import {
  beginTeardown,
  callProtocol,
  isBound,
  pauseAbove,
  pauseMiniportStep,
  pauseReasonSeen,
  restartStackStep,
} from './lifecycle.ts';
import type { NblPool, NET_BUFFER_LIST } from './nbl.ts';
import type { Ndis } from './ndis.ts';
import type { NdisConfiguration, NdisIoWorkItem, NdisTimerObject } from './objects.ts';
import { ruleParams } from './oid.ts';
import { netEventBufferLength } from './ports.ts';
import { asleep } from './power.ts';
import { awaitNetPnPEvent } from './protocol-driver.ts';
import { ssResumeMonitoring, ssSettled } from './ss.ts';
import {
  type DRIVER_OBJECT,
  makeNetLuid,
  type NDIS_HANDLE,
  type NDIS_OBJECT_HEADER,
  type NDIS_OID_REQUEST,
  type NDIS_OUT,
  type NDIS_PORT_NUMBER,
  type NDIS_STATUS,
  type NDIS_STATUS_INDICATION,
  type NET_DEVICE_PNP_EVENT,
  type NET_LUID,
  type ULONG,
} from './types.ts';

// ------------------------------------------------------------------ structures

/** NDIS_FILTER_ATTACH_PARAMETERS (revision 4): what NDIS tells FilterAttach of the stack below. */
export interface NDIS_FILTER_ATTACH_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  /** The interface of this filter module. */
  IfIndex: number;
  NetLuid: NET_LUID;
  FilterModuleGuidName: string;
  /** The miniport adapter at the bottom of the stack. */
  BaseMiniportIfIndex: number;
  BaseMiniportInstanceName: string;
  BaseMiniportName: string;
  /** The interface just below this module: the miniport, or the filter module under it. */
  LowerIfIndex: number;
  MediaConnectState: number;
  MediaDuplexState: number;
  XmitLinkSpeed: number;
  RcvLinkSpeed: number;
  MiniportMediaType: number;
  MiniportPhysicalMediaType: number;
  MacAddressLength: number;
  CurrentMacAddress: readonly number[];
  Flags: ULONG;
}

/** NDIS_FILTER_ATTRIBUTES: what NdisFSetAttributes takes besides the module context. */
export interface NDIS_FILTER_ATTRIBUTES {
  Header: NDIS_OBJECT_HEADER;
  Flags: ULONG;
}

export interface NDIS_FILTER_PAUSE_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  Flags: ULONG;
  PauseReason: ULONG;
}

export interface NDIS_FILTER_RESTART_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  MiniportMediaType: number;
  MiniportPhysicalMediaType: number;
  /** NULL in the model, as for MiniportRestart: there is no attribute list to edit (R3.8). */
  RestartAttributes: null;
  LowerIfIndex: number;
  LowerIfNetLuid: NET_LUID;
  Flags: ULONG;
}

/** NET_PNP_EVENT: the event code (NET_PNP_EVENT_CODE) and its buffer. */
export interface NET_PNP_EVENT {
  NetEvent: number;
  /** The NDIS_DEVICE_POWER_STATE of NetEventQueryPower and NetEventSetPower, else null. */
  Buffer: unknown;
  BufferLength: ULONG;
}

export interface NET_PNP_EVENT_NOTIFICATION {
  Header: NDIS_OBJECT_HEADER;
  PortNumber: NDIS_PORT_NUMBER;
  NetPnPEvent: NET_PNP_EVENT;
}

// --------------------------------------------------------------- handler types

export type FILTER_ATTACH<D = unknown> = (
  NdisFilterHandle: NDIS_HANDLE,
  FilterDriverContext: D,
  AttachParameters: NDIS_FILTER_ATTACH_PARAMETERS,
) => NDIS_STATUS;
export type FILTER_DETACH<C = unknown> = (FilterModuleContext: C) => void;
export type FILTER_RESTART<C = unknown> = (
  FilterModuleContext: C,
  RestartParameters: NDIS_FILTER_RESTART_PARAMETERS,
) => NDIS_STATUS;
export type FILTER_PAUSE<C = unknown> = (
  FilterModuleContext: C,
  PauseParameters: NDIS_FILTER_PAUSE_PARAMETERS,
) => NDIS_STATUS;
export type FILTER_NET_PNP_EVENT<C = unknown> = (
  FilterModuleContext: C,
  NetPnPEventNotification: NET_PNP_EVENT_NOTIFICATION,
) => NDIS_STATUS;
export type FILTER_DEVICE_PNP_EVENT_NOTIFY<C = unknown> = (
  FilterModuleContext: C,
  NetDevicePnPEvent: NET_DEVICE_PNP_EVENT,
) => void;
export type FILTER_SEND_NET_BUFFER_LISTS<C = unknown> = (
  FilterModuleContext: C,
  NetBufferList: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  SendFlags: ULONG,
) => void;
export type FILTER_SEND_NET_BUFFER_LISTS_COMPLETE<C = unknown> = (
  FilterModuleContext: C,
  NetBufferList: NET_BUFFER_LIST,
  SendCompleteFlags: ULONG,
) => void;
export type FILTER_CANCEL_SEND_NET_BUFFER_LISTS<C = unknown> = (
  FilterModuleContext: C,
  CancelId: unknown,
) => void;
export type FILTER_RECEIVE_NET_BUFFER_LISTS<C = unknown> = (
  FilterModuleContext: C,
  NetBufferLists: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  NumberOfNetBufferLists: ULONG,
  ReceiveFlags: ULONG,
) => void;
export type FILTER_RETURN_NET_BUFFER_LISTS<C = unknown> = (
  FilterModuleContext: C,
  NetBufferLists: NET_BUFFER_LIST,
  ReturnFlags: ULONG,
) => void;
export type FILTER_OID_REQUEST<C = unknown> = (
  FilterModuleContext: C,
  OidRequest: NDIS_OID_REQUEST,
) => NDIS_STATUS;
export type FILTER_OID_REQUEST_COMPLETE<C = unknown> = (
  FilterModuleContext: C,
  OidRequest: NDIS_OID_REQUEST,
  Status: NDIS_STATUS,
) => void;
export type FILTER_CANCEL_OID_REQUEST<C = unknown> = (FilterModuleContext: C, RequestId: unknown) => void;
export type FILTER_STATUS<C = unknown> = (
  FilterModuleContext: C,
  StatusIndication: NDIS_STATUS_INDICATION,
) => void;

/**
 * NDIS_FILTER_DRIVER_CHARACTERISTICS. Attach, detach, restart and pause are required;
 * a NULL optional handler makes NDIS bypass the module for that path.
 */
export interface NDIS_FILTER_DRIVER_CHARACTERISTICS<C = unknown, D = unknown> {
  Header: NDIS_OBJECT_HEADER;
  MajorNdisVersion: number;
  MinorNdisVersion: number;
  MajorDriverVersion: number;
  MinorDriverVersion: number;
  Flags: ULONG;
  FriendlyName: string;
  /** A GUID in braces, the NetCfgInstanceId of the filter's INF. */
  UniqueName: string;
  ServiceName: string;
  SetOptionsHandler?: FILTER_SET_OPTIONS<D> | null;
  SetFilterModuleOptionsHandler?: FILTER_SET_MODULE_OPTIONS<C> | null;
  AttachHandler: FILTER_ATTACH<D>;
  DetachHandler: FILTER_DETACH<C>;
  RestartHandler: FILTER_RESTART<C>;
  PauseHandler: FILTER_PAUSE<C>;
  SendNetBufferListsHandler?: FILTER_SEND_NET_BUFFER_LISTS<C> | null;
  SendNetBufferListsCompleteHandler?: FILTER_SEND_NET_BUFFER_LISTS_COMPLETE<C> | null;
  CancelSendNetBufferListsHandler?: FILTER_CANCEL_SEND_NET_BUFFER_LISTS<C> | null;
  ReceiveNetBufferListsHandler?: FILTER_RECEIVE_NET_BUFFER_LISTS<C> | null;
  ReturnNetBufferListsHandler?: FILTER_RETURN_NET_BUFFER_LISTS<C> | null;
  OidRequestHandler?: FILTER_OID_REQUEST<C> | null;
  OidRequestCompleteHandler?: FILTER_OID_REQUEST_COMPLETE<C> | null;
  CancelOidRequestHandler?: FILTER_CANCEL_OID_REQUEST<C> | null;
  DevicePnPEventNotifyHandler?: FILTER_DEVICE_PNP_EVENT_NOTIFY<C> | null;
  NetPnPEventHandler?: FILTER_NET_PNP_EVENT<C> | null;
  StatusHandler?: FILTER_STATUS<C> | null;
  /** NDIS 6.1: FilterDirectOidRequest, FilterDirectOidRequestComplete, FilterCancelDirectOidRequest (direct-oid.ts). */
  DirectOidRequestHandler?: FILTER_OID_REQUEST<C> | null;
  DirectOidRequestCompleteHandler?: FILTER_OID_REQUEST_COMPLETE<C> | null;
  CancelDirectOidRequestHandler?: FILTER_CANCEL_OID_REQUEST<C> | null;
  /**
   * NDIS 6.80 (Header.Revision NDIS_FILTER_CHARACTERISTICS_REVISION_3):
   * FilterSynchronousOidRequest and FilterSynchronousOidRequestComplete (sync-oid.ts),
   * each optional and independent of the other. The C header spells the second
   * SynchronousOidRequestCompleteHandler; the structure's reference page,
   * SynchronousOidRequestHandlerComplete.
   */
  SynchronousOidRequestHandler?: FILTER_SYNCHRONOUS_OID_REQUEST<C> | null;
  SynchronousOidRequestCompleteHandler?: FILTER_SYNCHRONOUS_OID_REQUEST_COMPLETE<C> | null;
}

/**
 * FILTER_SYNCHRONOUS_OID_REQUEST: previews a synchronous request on its way down.
 * SUCCESS lets it go on; NDIS_STATUS_ALREADY_COMPLETE stops it with SUCCESS for the
 * caller; any other status stops it with that status. Never PENDING. `CallContext`
 * is the PVOID* slot (null at first) whose value NDIS hands to the complete handler.
 */
export type FILTER_SYNCHRONOUS_OID_REQUEST<C = unknown> = (
  FilterModuleContext: C,
  OidRequest: NDIS_OID_REQUEST,
  CallContext: NDIS_OUT<unknown>,
) => NDIS_STATUS;
/**
 * FILTER_SYNCHRONOUS_OID_REQUEST_COMPLETE: sees the request on its way back up.
 * `Status` is the NDIS_STATUS* the filter may rewrite (not to PENDING nor
 * ALREADY_COMPLETE); `CallContext` is what its request handler left (null without one).
 */
export type FILTER_SYNCHRONOUS_OID_REQUEST_COMPLETE<C = unknown> = (
  FilterModuleContext: C,
  OidRequest: NDIS_OID_REQUEST,
  Status: NDIS_OUT<NDIS_STATUS>,
  CallContext: unknown,
) => void;

/** FILTER_SET_OPTIONS: NDIS calls it inside NdisFRegisterFilterDriver (nc-ndis-set_options). */
export type FILTER_SET_OPTIONS<D = unknown> = (
  NdisDriverHandle: NDIS_HANDLE,
  DriverContext: D,
) => NDIS_STATUS;
/** FILTER_SET_MODULE_OPTIONS: NDIS calls it before each FilterRestart of the module. */
export type FILTER_SET_MODULE_OPTIONS<C = unknown> = (FilterModuleContext: C) => NDIS_STATUS;

/** The data handlers NDIS calls for one module: the driver's, or the module's partial set. */
export type FilterDataHandlers<C = unknown> = Pick<
  NDIS_FILTER_DRIVER_CHARACTERISTICS<C>,
  | 'SendNetBufferListsHandler'
  | 'SendNetBufferListsCompleteHandler'
  | 'CancelSendNetBufferListsHandler'
  | 'ReceiveNetBufferListsHandler'
  | 'ReturnNetBufferListsHandler'
>;

/**
 * NDIS_FILTER_PARTIAL_CHARACTERISTICS (NDIS_OBJECT_TYPE_FILTER_PARTIAL_CHARACTERISTICS,
 * NDIS_FILTER_PARTIAL_CHARACTERISTICS_REVISION_1): a module's data handlers, which
 * FilterSetModuleOptions passes to NdisSetOptionalHandlers with the module's
 * NdisFilterHandle. They replace the driver's for that module; NULL bypasses the module.
 */
export interface NDIS_FILTER_PARTIAL_CHARACTERISTICS<C = unknown> extends FilterDataHandlers<C> {
  Header: NDIS_OBJECT_HEADER;
  /** Reserved for NDIS. */
  Flags?: ULONG;
}

// ------------------------------------------------------------------- records

/** A filter driver as NdisFRegisterFilterDriver records it (a copy of its characteristics). */
export class FilterDriverBlock implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_FILTER_DRIVER';
  deregistered = false;
  /** DRIVER_OBJECT.DriverUnload returned (the filter service stopped). */
  unloaded = false;
  /**
   * Its service stopped, and its unload waits for the application's handles to its
   * devices: no new handle opens (unload-routine-environment: "Unload Pending").
   */
  unloadPending = false;
  /** Its modules that are attached now, on any adapter. */
  readonly modules: FilterModule[] = [];
  /**
   * Timer objects and work items allocated with the filter driver handle and not freed;
   * checked when its unload routine returns. Null until the first.
   */
  timers: NdisTimerObject[] | null = null;
  workItems: NdisIoWorkItem[] | null = null;
  /**
   * IO_WORKITEMs of the driver (IoAllocateWorkItem) queued and not yet returned from
   * their routine: IoQueueWorkItem(Ex) references the IoObject, and the driver cannot
   * unload while such a reference remains (releasing-driver-allocated-resources), so
   * its unload waits for them.
   */
  ioRefs = 0;
  /** FilterSetOptions is running: NdisSetOptionalHandlers may take the driver handle. */
  inSetOptions = false;
  constructor(
    readonly name: string,
    readonly driverObject: DRIVER_OBJECT,
    readonly chars: Readonly<NDIS_FILTER_DRIVER_CHARACTERISTICS>,
    readonly context: unknown,
  ) {}
}

/** R7.5: the states of a filter module. */
export const filterStates = ['Detached', 'Attaching', 'Paused', 'Restarting', 'Running', 'Pausing'] as const;
export type FilterState = (typeof filterStates)[number];

/** The R7.5 edges; anything else is a bug of the model (NDIS's own moves) or refused earlier. */
const filterEdges: Readonly<Record<FilterState, readonly FilterState[]>> = {
  Detached: ['Attaching'],
  Attaching: ['Paused', 'Detached'],
  Paused: ['Restarting', 'Detached'],
  Restarting: ['Running', 'Paused'],
  Running: ['Pausing'],
  Pausing: ['Paused'],
};

/** A pause or restart the filter returned PENDING for (completed by NdisFPauseComplete / NdisFRestartComplete). */
export interface FilterPending {
  readonly kind: 'pause' | 'restart';
  /** The handler has returned. */
  returned: boolean;
  /** The completion DDI ran (possibly inside the handler); `status` is its result. */
  completed: boolean;
  /** Where a pause's NdisFPauseComplete came from before FilterPause returned, when not from it (as PendingPause). */
  completedBy: string | null;
  status: number;
  /** A pended pause: Driver Verifier's 10 s (NdisFilterTimedPauseComplete). */
  watchdog: SimEvent | null;
  /**
   * A pended pause: NDIS's own watchdog (bug-check-0x7c, 0x25/0x11
   * NDIS_BUGCHECK_WATCHDOG_FILTER_PAUSE, R7.13), the pause watchdog's time.
   */
  ndisWatchdog: SimEvent | null;
  /** A pause: NdisFilterTimedPauseComplete was reported for it (pended, or while FilterPause blocked). */
  overdue: boolean;
  /** When NDIS called the handler: a restart still pending at the end says since when (World.stuck). */
  readonly sinceNs: number;
}

/** One filter module: an instance of a filter driver in one adapter's stack (NdisFilterHandle). */
export class FilterModule implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_FILTER_MODULE';
  state: FilterState = 'Detached';
  /** FilterModuleContext from NdisFSetAttributes; null until it is called. */
  context: unknown = null;
  attributesSet = false;
  /** Inside FilterAttach: the one place NdisFSetAttributes may be called. */
  inAttach = false;
  pending: FilterPending | null = null;
  /** FilterDetach returned, or the attach failed: the handle is dead. */
  gone = false;
  /** Inside its FilterDetach now (for the watchdog's message, R7.13). */
  inDetach = false;
  /** Its last restart failed: the stack above it stays paused until the next pause (R7.10). */
  restartFailed = false;
  /** NDIS's pool for clones of the NBLs the module holds, made without a pool (api/clone.ts). */
  clonePool: NblPool | null = null;
  /** The network PnP event FilterNetPnPEvent is handling (for NdisFNetPnPEvent). */
  netEvent: {
    note: NET_PNP_EVENT_NOTIFICATION;
    code: NetEventCode;
    /** NET_PNP_EVENT.Buffer: an NDIS_DEVICE_POWER_STATE, a port event's ports (ports.ts), or null. */
    powerState: unknown;
  } | null = null;
  /** The device PnP event FilterDevicePnPEventNotify is handling (for NdisFDevicePnPEventNotify). */
  deviceEvent: { toMiniport: (event: NET_DEVICE_PNP_EVENT) => void } | null = null;
  // Data path (datapath.ts, api/filter-data.ts).
  /** NBLs the module holds or has out, its pools; null until it first touches the data path. */
  fdata: ModuleData | null = null;
  constructor(
    readonly driver: FilterDriverBlock,
    readonly block: MiniportBlock,
    /** A mandatory module's failed attach stops the stack (attaching-a-filter-module). */
    readonly mandatory: boolean,
    readonly ifIndex: number,
    /** Its NET_LUID: the adapter's IfType, a NetLuidIndex of its own. */
    readonly netLuid: NET_LUID,
  ) {
    // In the constructor, not as a field initializer: with define semantics (a tsconfig
    // other than ours) field initializers run before the parameter properties are set.
    this.handlers = driver.chars;
  }

  get name(): string {
    return `${this.driver.name}@${this.block.name}`;
  }

  /** What FilterAttach returned when it failed (as NDIS took it), for a mandatory module's stack failure. */
  attachStatus = 0;
  /** Its place in the stack when it attached: 0 right above the miniport (the summary sorts by it). */
  position = 0;

  // Kernel services (fkernel): what the filter allocated with this module's handle and
  // must free by the time FilterDetach returns. Null (0) until first use.
  /** Timer objects not yet freed (NdisAllocateTimerObject). */
  timers: NdisTimerObject[] | null = null;
  /** Read/write locks not yet freed (NdisAllocateRWLock). */
  rwLocks: NDIS_RW_LOCK_EX[] | null = null;
  /** Pool allocations not yet freed (NdisAllocateMemoryWithTagPriority). */
  poolCount = 0;
  /** Configuration handles opened with its NdisFilterHandle and not closed (NdisOpenConfigurationEx). */
  configurations: NdisConfiguration[] | null = null;

  // OID requests and status indications through the module (filter-oid.ts).
  /** Its requests, clones and request handle: made on first use, null while it has none. */
  oid: FilterOidState | null = null;
  /** Its direct OID requests (direct-oid.ts): made on first use. */
  direct: FilterDirectState | null = null;
  /** The status indication its FilterStatus is handling, else null. */
  statusIn: NDIS_STATUS_INDICATION | null = null;

  // Optional handlers (fopts): FilterSetModuleOptions and NDIS_FILTER_PARTIAL_CHARACTERISTICS.
  /**
   * The data handlers NDIS calls for this module (datapath.ts): the driver's
   * characteristics, until a FilterSetModuleOptions sets a partial set for it.
   */
  handlers: FilterDataHandlers;
  /** Inside FilterSetModuleOptions: the set NdisSetOptionalHandlers took (null: none yet); null outside. */
  setModuleOptions: { set: FilterDataHandlers | null } | null = null;
  /** FilterSetModuleOptions was called for the restart under way (cleared when the stack pauses). */
  optionsCalled = false;
}

/** A filter driver the machine has installed over every adapter (scenario `filters`). */
export interface FilterInstall {
  readonly name: string;
  readonly mandatory: boolean;
}

/** A stack waiting for the module of the filter driver being loaded (Ndis.earlyAttach). */
export interface EarlyAttach {
  readonly block: MiniportBlock;
  readonly install: FilterInstall;
  /** The module NdisFRegisterFilterDriver attached, and whether its FilterAttach succeeded. */
  module: FilterModule | null;
  ok: boolean;
}

/**
 * NdisFRegisterFilterDriver succeeded with `filterAttach: 'in-registration'`: the stack
 * that loads the driver gets its module now, inside the call, before DriverEntry goes on
 * (initializing-a-filter-driver: "NDIS can call the filter driver's FilterAttach function
 * at any time after the call to FilterSetOptions returns").
 */
export function attachInRegistration(n: Ndis, d: FilterDriverBlock): void {
  const e = n.earlyAttach;
  if (e === null || e.install.name !== d.name || e.module !== null) return;
  if (n.trace.on) n.traceNdis(e.block, `attaches ${d.name} inside NdisFRegisterFilterDriver`, {});
  const m = new FilterModule(
    d,
    e.block,
    e.install.mandatory,
    n.nextFilterIfIndex++,
    makeNetLuid(e.block.netLuid.Info.IfType, n.nextNetLuidIndex++),
  );
  e.module = m;
  e.ok = attachModule(n, e.block, m);
}

/**
 * NdisFDeregisterFilterDriver from the driver's own DriverEntry, which fails after
 * registering (ndislwf's path when its control device cannot be made): the modules NDIS
 * attached inside the registration are Paused, and NDIS detaches them with FilterDetach
 * (unloading-a-filter-driver: NdisFDeregisterFilterDriver "calls FilterDetach to detach
 * all currently attached filter modules"). False, with nothing done, anywhere else or
 * when a module is not Paused.
 */
export function detachInDriverEntry(n: Ndis, d: FilterDriverBlock): boolean {
  if (n.runningFunction() !== 'DriverEntry' || n.kernel.ctx.who !== d.name) return false;
  if (!d.modules.every(detachable)) return false;
  for (const m of d.modules.slice()) detachModule(n, m.block, m);
  return true;
}

/**
 * The driver of a module attached inside its registration did not load after all
 * (DriverEntry failed later): its code is gone, so NDIS takes the module out of the
 * stack without calling it.
 */
function dropOrphan(n: Ndis, b: MiniportBlock, m: FilterModule): void {
  m.gone = true;
  const i = b.filters.indexOf(m);
  if (i >= 0) b.filters.splice(i, 1);
  refreshFilterData(b);
  const k = m.driver.modules.indexOf(m);
  if (k >= 0) m.driver.modules.splice(k, 1);
  setFilter(n, m, 'Detached');
}

// --------------------------------------------------------------- state moves

function setFilter(n: Ndis, m: FilterModule, to: FilterState): void {
  const from = m.state;
  if (!filterEdges[from].includes(to))
    throw new Error(`ndis-sim internal error: filter module ${m.name} cannot move ${from} → ${to}`);
  m.state = to;
  if (n.trace.on) {
    const k = n.kernel;
    n.trace.add(k.now, k.ctx.cpu, k.ctx.irql, m.driver.name, 'filter', `${from} → ${to}`, {
      adapter: m.block.name,
    });
  }
}

/** Runs a filter handler at PASSIVE with the filter driver as actor; a throw is a bug check. */
function enterFilter(n: Ndis, m: FilterModule, fn: string, args?: Record<string, unknown>) {
  return n.enter(m.block, m.driver.name, fn, Irql.Passive, args);
}

// -------------------------------------------------------------------- attach

/**
 * The stack's filter modules are attached, bottom-up (R7.8), once the miniport is
 * initialized. Loads each installed filter driver that is not loaded. Returns false
 * when a mandatory module failed to attach: NDIS then stops the stack.
 */
export function attachFilters(n: Ndis, b: MiniportBlock): boolean {
  for (const install of n.filterInstalls) if (!attachInstalled(n, b, install)) return false;
  return true;
}

/**
 * Loads the driver of `install` if it is not loaded and attaches a module of it at the
 * top of the stack of `b`. False when the module is mandatory and did not attach (its
 * driver did not register, or FilterAttach failed): NDIS then stops the stack
 * (attaching-a-filter-module). An optional one is left out.
 */
function attachInstalled(n: Ndis, b: MiniportBlock, install: FilterInstall): boolean {
  const early: EarlyAttach | null =
    n.options.filterAttach === 'in-registration' && !n.filterDrivers.has(install.name)
      ? { block: b, install, module: null, ok: false }
      : null;
  const outer = n.earlyAttach;
  if (early !== null) n.earlyAttach = early;
  let d: FilterDriverBlock | null;
  try {
    d = n.loadFilterDriver(install.name);
  } finally {
    if (early !== null) n.earlyAttach = outer;
  }
  let m: FilterModule | null;
  let ok: boolean;
  if (early?.module != null) {
    m = early.module;
    ok = early.ok && d !== null;
    // Detached already when DriverEntry deregistered before it failed.
    if (early.ok && d === null && !m.gone) dropOrphan(n, b, m);
  } else {
    m =
      d === null
        ? null
        : new FilterModule(
            d,
            b,
            install.mandatory,
            n.nextFilterIfIndex++,
            makeNetLuid(b.netLuid.Info.IfType, n.nextNetLuidIndex++),
          );
    ok = m !== null && attachModule(n, b, m);
  }
  if (ok) return true;
  if (!install.mandatory) return true;
  b.stackFailure =
    m === null
      ? `mandatory filter ${install.name} did not load: ${n.filterLoadFailure(install.name) ?? 'its driver did not register'}`
      : `mandatory filter ${install.name}: FilterAttach failed (${statusText(m.attachStatus)})`;
  if (n.trace.on) n.traceNdis(b, `${b.stackFailure}: the stack stops`, {});
  return false;
}

function attachModule(n: Ndis, b: MiniportBlock, m: FilterModule): boolean {
  const below = b.filters.length === 0 ? b.ifIndex : b.filters[b.filters.length - 1]!.ifIndex;
  const g = b.general;
  const params: NDIS_FILTER_ATTACH_PARAMETERS = {
    Header: {
      Type: NDIS_OBJECT_TYPE_FILTER_ATTACH_PARAMETERS,
      Revision: NDIS_FILTER_ATTACH_PARAMETERS_REVISION_4,
    },
    IfIndex: m.ifIndex,
    NetLuid: m.netLuid,
    FilterModuleGuidName: `${m.driver.chars.UniqueName}-${b.name}`,
    BaseMiniportIfIndex: b.ifIndex,
    BaseMiniportInstanceName: b.name,
    BaseMiniportName: `\\DEVICE\\${b.name}`,
    LowerIfIndex: below,
    MediaConnectState: b.mediaConnectState,
    MediaDuplexState: g?.MediaDuplexState ?? 0,
    XmitLinkSpeed: g?.XmitLinkSpeed ?? 0,
    RcvLinkSpeed: g?.RcvLinkSpeed ?? 0,
    MiniportMediaType: g?.MediaType ?? 0,
    MiniportPhysicalMediaType: g?.PhysicalMediumType ?? 0,
    MacAddressLength: g?.MacAddressLength ?? 0,
    CurrentMacAddress: g?.CurrentMacAddress ?? [],
    Flags: 0,
  };
  setFilter(n, m, 'Attaching');
  m.inAttach = true;
  const f = enterFilter(n, m, 'FilterAttach');
  let status: number;
  try {
    status = m.driver.chars.AttachHandler(m, m.driver.context, params);
  } catch (e) {
    n.driverThrew(e, 'FilterAttach', b);
  } finally {
    m.inAttach = false;
  }
  n.leave(f, status);
  if (status === NDIS_STATUS_SUCCESS && !m.attributesSet) {
    n.verifier.report(
      'NdisSim_FilterAttach',
      'FilterAttach',
      b.name,
      `FilterAttach of ${m.name} returned SUCCESS without calling NdisFSetAttributes: NDIS has no module context to call it with (R7.5)`,
    );
    status = NDIS_STATUS_FAILURE;
  } else if (
    status !== NDIS_STATUS_SUCCESS &&
    status !== NDIS_STATUS_RESOURCES &&
    status !== NDIS_STATUS_FAILURE
  ) {
    n.verifier.report(
      'NdisSim_FilterAttach',
      'FilterAttach',
      b.name,
      `FilterAttach of ${m.name} returned ${statusText(status)}; it may return SUCCESS, RESOURCES or FAILURE and cannot pend (R7.5)`,
    );
    if (status === NDIS_STATUS_PENDING) status = NDIS_STATUS_FAILURE;
  }
  if (status !== NDIS_STATUS_SUCCESS) {
    m.attachStatus = status;
    m.gone = true;
    if (
      m.timers !== null ||
      m.rwLocks !== null ||
      m.poolCount > 0 ||
      m.configurations !== null ||
      n.nblApi !== null
    )
      checkModuleFreed(n, m, 'FilterAttach', 'failed');
    // Its NBL pools too, as at FilterDetach (R7.5).
    if (m.fdata !== null) moduleDetached(n, m, 'FilterAttach', 'failed');
    setFilter(n, m, 'Detached');
    return false;
  }
  m.position = b.filters.length;
  b.filters.push(m);
  refreshFilterData(b);
  m.driver.modules.push(m);
  n.filterModules.push(m);
  setFilter(n, m, 'Paused');
  return true;
}

// ------------------------------------------------------------ restart, pause

/**
 * R7.10: the filter modules restart bottom-up, one at a time, after the miniport.
 * 'done': every module is Running; 'wait': one is restarting; 'failed': one stays
 * Paused, and the stack above it is not restarted.
 */
export function restartFilters(n: Ndis, b: MiniportBlock): 'done' | 'wait' | 'failed' {
  // NDIS calls FilterSetModuleOptions of every module before the first FilterRestart
  // (starting-a-filter-module).
  for (const m of b.filters) {
    const h = m.driver.chars.SetFilterModuleOptionsHandler;
    if (h != null && !m.optionsCalled && m.state === 'Paused' && m.pending === null && !m.restartFailed)
      callSetModuleOptions(n, b, m, h);
  }
  for (const m of b.filters) {
    if (m.state === 'Running') continue;
    if (m.state === 'Restarting') return 'wait';
    if (m.state !== 'Paused') return 'wait';
    if (m.pending !== null) return 'wait';
    if (m.restartFailed) return 'failed';
    callFilterRestart(n, b, m);
    // The call moved it (a pended restart leaves it Restarting).
    const now = m.state as FilterState;
    if (now !== 'Running') return now === 'Restarting' ? 'wait' : 'failed';
  }
  return 'done';
}

/**
 * FilterSetModuleOptions (PASSIVE), before the module's FilterRestart. A partial set the
 * driver passed to NdisSetOptionalHandlers in it becomes the module's data handlers when
 * it returns SUCCESS. A failure fails the module's restart: it stays Paused, and the
 * stack above it with it (R7.10), as for a failed FilterRestart.
 */
function callSetModuleOptions(
  n: Ndis,
  b: MiniportBlock,
  m: FilterModule,
  h: FILTER_SET_MODULE_OPTIONS,
): void {
  m.optionsCalled = true;
  const call: { set: FilterDataHandlers | null } = { set: null };
  m.setModuleOptions = call;
  const f = enterFilter(n, m, 'FilterSetModuleOptions');
  let status: number;
  try {
    status = h(m.context);
  } catch (e) {
    n.driverThrew(e, 'FilterSetModuleOptions', b);
  } finally {
    m.setModuleOptions = null;
  }
  n.leave(f, status);
  if (status === NDIS_STATUS_PENDING) {
    n.verifier.report(
      'NdisSim_FilterReturn',
      'FilterSetModuleOptions',
      b.name,
      `FilterSetModuleOptions of ${m.name} returned NDIS_STATUS_PENDING: it completes synchronously (nc-ndis-filter_set_module_options)`,
    );
    status = NDIS_STATUS_FAILURE;
  }
  if (status !== NDIS_STATUS_SUCCESS) {
    m.restartFailed = true;
    if (n.trace.on)
      n.traceNdis(
        b,
        `FilterSetModuleOptions of ${m.name} failed (${statusText(status)}): it is not restarted, and the stack above it stays paused (R7.10)`,
        {},
      );
    return;
  }
  if (call.set !== null) {
    m.handlers = call.set;
    refreshFilterData(b);
  }
}

function callFilterRestart(n: Ndis, b: MiniportBlock, m: FilterModule): void {
  setFilter(n, m, 'Restarting');
  const p: FilterPending = {
    kind: 'restart',
    returned: false,
    completed: false,
    completedBy: null,
    status: 0,
    watchdog: null,
    ndisWatchdog: null,
    overdue: false,
    sinceNs: n.now,
  };
  m.pending = p;
  const g = b.general;
  const f = enterFilter(n, m, 'FilterRestart');
  let status: number;
  try {
    status = m.driver.chars.RestartHandler(m.context, {
      Header: {
        Type: NDIS_OBJECT_TYPE_FILTER_RESTART_PARAMETERS,
        Revision: NDIS_FILTER_RESTART_PARAMETERS_REVISION_1,
      },
      MiniportMediaType: g?.MediaType ?? 0,
      MiniportPhysicalMediaType: g?.PhysicalMediumType ?? 0,
      RestartAttributes: null,
      LowerIfIndex: lowerIfIndex(b, m),
      LowerIfNetLuid: lowerNetLuid(b, m),
      Flags: 0,
    });
  } catch (e) {
    n.driverThrew(e, 'FilterRestart', b);
  }
  n.leave(f, status);
  if (p.completed) {
    if (status !== NDIS_STATUS_PENDING) {
      n.verifier.report(
        'NdisSim_FilterCompleteUnexpected',
        'FilterRestart',
        b.name,
        `FilterRestart of ${m.name} called NdisFRestartComplete and then returned a final status: the restart completed twice (R7.5)`,
      );
    }
    finishFilterRestart(n, m, p.status, 'NdisFRestartComplete');
    return;
  }
  if (status === NDIS_STATUS_PENDING) {
    p.returned = true;
    return;
  }
  finishFilterRestart(n, m, status, 'FilterRestart');
}

/** The restart completed with `status` (return value or NdisFRestartComplete). */
export function finishFilterRestart(n: Ndis, m: FilterModule, status: number, via: string): void {
  if (status !== NDIS_STATUS_SUCCESS && status !== NDIS_STATUS_RESOURCES && status !== NDIS_STATUS_FAILURE) {
    n.verifier.report(
      'NdisSim_FilterReturn',
      via,
      m.block.name,
      `${via} of ${m.name}: ${statusText(status)} is not a restart result (SUCCESS, RESOURCES or FAILURE; R7.5)`,
    );
    status = NDIS_STATUS_FAILURE;
  }
  m.pending = null;
  if (status !== NDIS_STATUS_SUCCESS) m.restartFailed = true;
  setFilter(n, m, status === NDIS_STATUS_SUCCESS ? 'Running' : 'Paused');
  if (status !== NDIS_STATUS_SUCCESS && n.trace.on)
    n.traceNdis(
      m.block,
      `filter module ${m.name} failed to restart: the stack above it stays paused (R7.10)`,
      {},
    );
  n.kick(m.block);
}

function lowerIfIndex(b: MiniportBlock, m: FilterModule): number {
  const i = b.filters.indexOf(m);
  return i <= 0 ? b.ifIndex : b.filters[i - 1]!.ifIndex;
}

function lowerNetLuid(b: MiniportBlock, m: FilterModule): NET_LUID {
  const i = b.filters.indexOf(m);
  return i <= 0 ? b.netLuid : b.filters[i - 1]!.netLuid;
}

/**
 * R7.9: the filter modules pause top-down, each once the one above is Paused; true
 * when none is left running, restarting or pausing.
 */
export function pauseFilters(n: Ndis, b: MiniportBlock, reason: number): boolean {
  for (let i = b.filters.length - 1; i >= 0; i--) {
    const m = b.filters[i]!;
    m.restartFailed = false;
    m.optionsCalled = false;
    if (m.state === 'Paused') continue;
    if (m.state === 'Running' && m.pending === null) {
      callFilterPause(n, b, m, reason);
      if ((m.state as FilterState) === 'Paused') continue;
    }
    return false;
  }
  return true;
}

function callFilterPause(n: Ndis, b: MiniportBlock, m: FilterModule, why: number): void {
  const c = m.driver.chars;
  const reason = pauseReasonSeen(why, c.MajorNdisVersion * 100 + c.MinorNdisVersion, true);
  setFilter(n, m, 'Pausing');
  const p: FilterPending = {
    kind: 'pause',
    returned: false,
    completed: false,
    completedBy: null,
    status: 0,
    watchdog: null,
    ndisWatchdog: null,
    overdue: false,
    sinceNs: n.now,
  };
  m.pending = p;
  const f = enterFilter(
    n,
    m,
    'FilterPause',
    n.trace.on ? { PauseReason: NDIS_PAUSE_REASON_NAMES.get(reason) ?? reason } : undefined,
  );
  let status: number;
  try {
    status = m.driver.chars.PauseHandler(m.context, {
      Header: {
        Type: NDIS_OBJECT_TYPE_FILTER_PAUSE_PARAMETERS,
        Revision: NDIS_FILTER_PAUSE_PARAMETERS_REVISION_1,
      },
      Flags: 0,
      PauseReason: reason,
    });
  } catch (e) {
    n.driverThrew(e, 'FilterPause', b);
  }
  n.leave(f, status);
  if (status !== NDIS_STATUS_SUCCESS && status !== NDIS_STATUS_PENDING) {
    // NdisFilterTimedPauseComplete: a pause cannot fail. The model goes on as for SUCCESS.
    n.verifier.report(
      'NdisFilterTimedPauseComplete',
      'FilterPause',
      b.name,
      `FilterPause of ${m.name} returned ${statusText(status)}: a pause cannot fail (SUCCESS or PENDING; R7.6)`,
    );
    status = NDIS_STATUS_SUCCESS;
  }
  if (status === NDIS_STATUS_SUCCESS) {
    if (p.completed) {
      n.verifier.report(
        'NdisFilterTimedPauseComplete',
        'FilterPause',
        b.name,
        p.completedBy === null
          ? `FilterPause of ${m.name} called NdisFPauseComplete and then returned SUCCESS: the pause completed twice (R7.6)`
          : `NdisFPauseComplete for ${m.name} came from ${p.completedBy}, while FilterPause had not returned yet, and FilterPause then returned SUCCESS: the pause completed twice; a pause that anything else may complete returns NDIS_STATUS_PENDING (R7.6)`,
      );
    }
    finishFilterPause(n, m);
    return;
  }
  p.returned = true;
  if (p.completed) {
    finishFilterPause(n, m);
    return;
  }
  const machine = n.kernel.machine;
  p.watchdog = machine.after(filterPauseLimitNs, n.filterWatchdog, FilterWatchdogOp.DriverVerifier, m);
  // R7.13, bug-check-0x7c: NDIS's own watchdog over the pended pause (0x11), from the PENDING return.
  p.ndisWatchdog = machine.after(n.options.pauseWatchdogNs, n.filterWatchdog, FilterWatchdogOp.Ndis, m);
}

const FilterWatchdogOp = { DriverVerifier: 0, Ndis: 1 } as const;

/** NdisFilterTimedPauseComplete: Driver Verifier's time for a pended FilterPause (rules.json: 10 s). */
export const filterPauseLimitNs =
  msRules.find((r) => r.name === 'NdisFilterTimedPauseComplete')!.timeoutSeconds! * ns.s;

/**
 * Fires when a pended FilterPause has run out of time: Driver Verifier's 10 s
 * (NdisFilterTimedPauseComplete, a Driver Verifier check, recorded in collect mode), then
 * NDIS's own watchdog (NdisSim_FilterPauseWatchdog, 0x7C/0x25/0x11, fatal in every mode;
 * R7.13). With the defaults (10 s, 60 s) Driver Verifier's comes first; at a tie it is
 * reported first.
 */
export class FilterWatchdog implements EventTarget {
  constructor(private readonly n: Ndis) {}

  fire(op: number, arg: unknown): void {
    const m = arg as FilterModule;
    const p = m.pending;
    if (p === null || p.kind !== 'pause' || p.completed) return;
    if (op === FilterWatchdogOp.DriverVerifier) {
      p.watchdog = null;
      this.timedPauseComplete(m, p);
      return;
    }
    p.ndisWatchdog = null;
    if (p.watchdog !== null && p.watchdog.at <= this.n.now) {
      p.watchdog.cancelled = true;
      p.watchdog = null;
      this.timedPauseComplete(m, p);
    }
    this.n.reportInDpc(
      'ndis',
      'NdisSim_FilterPauseWatchdog',
      'FilterPause',
      m.block.name,
      `FilterPause of ${m.name} returned PENDING at ${fmtTime(this.n.now - this.n.options.pauseWatchdogNs)} and NdisFPauseComplete did not follow within ${this.n.options.pauseWatchdogNs / ns.s} s (R7.13)`,
      ['NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
      // Armed at the PENDING return.
      {
        label: 'Pended by',
        at: `FilterPause of ${m.name} at ${fmtTime(this.n.now - this.n.options.pauseWatchdogNs)}`,
      },
    );
  }

  private timedPauseComplete(m: FilterModule, p: FilterPending): void {
    p.overdue = true;
    this.n.reportInDpc(
      'ndis',
      'NdisFilterTimedPauseComplete',
      'FilterPause',
      m.block.name,
      `FilterPause of ${m.name} returned PENDING and NdisFPauseComplete did not follow within ${filterPauseLimitNs / ns.s} s (R7.6, R7.13)`,
      ruleParams('a filter pause is not completed within 10 s', m.block),
    );
  }
}

/** The filter's pause is complete: Pausing → Paused. */
export function finishFilterPause(n: Ndis, m: FilterModule): void {
  const p = m.pending;
  if (p?.watchdog != null) p.watchdog.cancelled = true;
  if (p?.ndisWatchdog != null) p.ndisWatchdog.cancelled = true;
  m.pending = null;
  if (m.fdata !== null) filterPauseDrained(n, m);
  setFilter(n, m, 'Paused');
  n.kick(m.block);
}

// -------------------------------------------------------------------- detach

/** R7.11: every Paused module is detached, top-down; true when none is left. */
export function detachFilters(n: Ndis, b: MiniportBlock): boolean {
  while (b.filters.length > 0) {
    const m = b.filters[b.filters.length - 1]!;
    if (!detachable(m)) return false;
    detachModule(n, b, m);
  }
  return true;
}

/**
 * FilterDetach comes for a Paused module with no pause or restart pending; one with OID
 * requests queued at it, in its FilterOidRequest or passed down below it waits for them
 * (a teardown's detach and a filter service's restack alike; finishAtFilter and
 * filterOidComplete kick the adapter's worker).
 */
function detachable(m: FilterModule): boolean {
  if (m.state !== 'Paused' || m.pending !== null) return false;
  return (m.oid === null || !filterOidBusy(m.oid)) && !filterDirectBusy(m);
}

export function detachModule(n: Ndis, b: MiniportBlock, m: FilterModule): void {
  // FilterDetach comes when the module is Paused (nc-ndis-filter_detach); it cannot fail.
  // R7.5: the module is Detached from the start of FilterDetach (detaching-a-filter-module:
  // it "enters the Detached state" at the start of the call), so what FilterDetach calls
  // is checked against Detached: NdisFOidRequest and sends are refused (NdisSim_FilterState,
  // NdisSim_FilterDataState); NdisFIndicateStatus is allowed until FilterDetach returns
  // (nf-ndis-ndisfindicatestatus). Its handle stays good until then (`gone`). Requests
  // and status that come meanwhile go around it (inOidPath, filter-oid.ts).
  setFilter(n, m, 'Detached');
  const f = enterFilter(n, m, 'FilterDetach');
  let returned: unknown;
  m.inDetach = true;
  try {
    returned = m.driver.chars.DetachHandler(m.context);
  } catch (e) {
    n.driverThrew(e, 'FilterDetach', b);
  } finally {
    m.inDetach = false;
  }
  n.leaveVoid(f, returned);
  m.gone = true;
  if (
    m.timers !== null ||
    m.rwLocks !== null ||
    m.poolCount > 0 ||
    m.configurations !== null ||
    n.nblApi !== null
  )
    checkModuleFreed(n, m, 'FilterDetach', 'returned');
  if (m.oid !== null) filterOidDetached(n, m);
  const i = b.filters.indexOf(m);
  if (i >= 0) b.filters.splice(i, 1);
  refreshFilterData(b);
  if (m.fdata !== null) moduleDetached(n, m);
  const j = m.driver.modules.indexOf(m);
  if (j >= 0) m.driver.modules.splice(j, 1);
}

/**
 * FilterDetach frees the module's resources (nc-ndis-filter_detach), and a failing
 * FilterAttach frees what it allocated, as MiniportHaltEx and a failing
 * MiniportInitializeEx do the adapter's (R2.5, R2.10). What the filter allocated with
 * the module's NdisFilterHandle and still holds is reported: timer objects
 * (NdisSim_TimerNotFreed), read/write locks and pool (NdisSim_ResourceNotFreed). A
 * timer still set is left to run, and its firing is NdisSim_CallbackAfterHalt.
 */
function checkModuleFreed(n: Ndis, m: FilterModule, fn: string, how: string): void {
  const timers = m.timers?.length ?? 0;
  if (timers > 0) {
    let set = 0;
    for (const t of m.timers!) if (t.k.queued) set++;
    // Named: a set one first (it goes on firing), else the first allocated.
    const t = m.timers!.find((x) => x.k.queued) ?? m.timers![0]!;
    n.verifier.report(
      'NdisSim_TimerNotFreed',
      fn,
      m.block.name,
      `${fn} of ${m.name} ${how} without freeing ${timers} timer object(s) allocated with its NdisFilterHandle (NdisFreeTimerObject${set > 0 ? `; ${set} still set` : ''}) (${modulePage(fn)}): ${timers > 1 ? 'one is ' : ''}${t.story()}`,
      undefined,
      undefined,
      t.origin(),
    );
  }
  const left: string[] = [];
  const locks = m.rwLocks?.length ?? 0;
  if (locks > 0) left.push(`${locks} read/write lock(s) (NdisFreeRWLock)`);
  if (m.poolCount > 0) left.push(`${m.poolCount} pool allocation(s) (NdisFreeMemoryWithTagPriority)`);
  const configs = m.configurations?.length ?? 0;
  if (configs > 0) {
    left.push(`${configs} configuration handle(s) (NdisCloseConfiguration)`);
    m.configurations!.length = 0;
  }
  if (n.nblApi !== null) nblApiLeftByModule(n, m, left);
  if (left.length > 0)
    n.verifier.report(
      'NdisSim_ResourceNotFreed',
      fn,
      m.block.name,
      `${fn} of ${m.name} ${how} without freeing ${left.join(' and ')} allocated with its NdisFilterHandle (${modulePage(fn)})`,
    );
}

// ------------------------------------------------------------ net PnP events

const netEventCodes: Readonly<Record<NetEventCode, number>> = {
  NetEventQueryRemoveDevice,
  NetEventCancelRemoveDevice,
  NetEventPause,
  NetEventRestart,
  NetEventQueryPower,
  NetEventSetPower,
  NetEventPortActivation,
  NetEventPortDeactivation,
};

/**
 * R7.7, R5.1, R5.5: a network PnP event travels up the stack: to the lowest filter
 * module that has FilterNetPnPEvent, which forwards it with NdisFNetPnPEvent, and so on
 * up; past the top it reaches every bound protocol. Modules without the handler are
 * skipped. Returns the status of the whole climb: the first failure, else SUCCESS.
 */
export function netEventUp(n: Ndis, b: MiniportBlock, code: NetEventCode, powerState: unknown): number {
  if (b.filters.length === 0) return netEventToProtocols(n, b, code, powerState);
  const note: NET_PNP_EVENT_NOTIFICATION = {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1 },
    PortNumber: 0,
    NetPnPEvent: {
      NetEvent: netEventCodes[code],
      Buffer: powerState,
      BufferLength: netEventBufferLength(code, powerState),
    },
  };
  return forwardNetEvent(n, b, 0, note, code, powerState);
}

/** Delivers `note` to the first module from `from` up that handles it, or to the protocols. */
function forwardNetEvent(
  n: Ndis,
  b: MiniportBlock,
  from: number,
  note: NET_PNP_EVENT_NOTIFICATION,
  code: NetEventCode,
  powerState: unknown,
): number {
  for (let i = from; i < b.filters.length; i++) {
    const m = b.filters[i]!;
    const h = m.driver.chars.NetPnPEventHandler;
    if (h == null || m.gone) continue;
    const f = enterFilter(
      n,
      m,
      'FilterNetPnPEvent',
      n.trace.on ? { NetEvent: NET_PNP_EVENT_CODE_NAMES.get(note.NetPnPEvent.NetEvent) } : undefined,
    );
    m.netEvent = { note, code, powerState };
    let status: number;
    try {
      status = h(m.context, note);
    } catch (e) {
      n.driverThrew(e, 'FilterNetPnPEvent', b);
    } finally {
      m.netEvent = null;
    }
    n.leave(f, status);
    if (status === NDIS_STATUS_PENDING) {
      // The page allows SUCCESS or FAILURE: there is no completion call for a filter's
      // net PnP event, so nothing would ever give the answer. The model takes a failure.
      n.verifier.report(
        'NdisSim_FilterReturn',
        'FilterNetPnPEvent',
        b.name,
        `FilterNetPnPEvent of ${m.name} returned NDIS_STATUS_PENDING for ${code}: a filter answers a net PnP event when it returns (SUCCESS or FAILURE; nc-ndis-filter_net_pnp_event), and the model takes it as NDIS_STATUS_FAILURE`,
      );
      return NDIS_STATUS_FAILURE;
    }
    return status;
  }
  return netEventToProtocols(n, b, code, powerState);
}

/** NdisFNetPnPEvent: the module forwards the event it is handling to the drivers above it. */
export function forwardNetEventAbove(n: Ndis, m: FilterModule): number {
  const e = m.netEvent!;
  return forwardNetEvent(n, m.block, m.block.filters.indexOf(m) + 1, e.note, e.code, e.powerState);
}

function netEventToProtocols(n: Ndis, b: MiniportBlock, code: NetEventCode, powerState: unknown): number {
  let result = NDIS_STATUS_SUCCESS;
  for (const bd of b.bindings.slice()) {
    if (!isBound(bd)) continue;
    let s = callProtocol(n, bd, code, powerState);
    // A protocol driver that pended it answers with NdisCompleteNetPnPEvent; NDIS's
    // thread waits for that answer before it goes on to the next binding.
    if (s === NDIS_STATUS_PENDING && bd.open !== null) s = awaitNetPnPEvent(n, bd);
    if (code === 'NetEventQueryRemoveDevice') bd.queryRemoveStatus = s;
    if (result === NDIS_STATUS_SUCCESS && s !== NDIS_STATUS_SUCCESS && s !== NDIS_STATUS_PENDING) result = s;
  }
  return result;
}

// --------------------------------------------------------- device PnP events

/**
 * A device PnP event travels down the stack: to the topmost filter module that has
 * FilterDevicePnPEventNotify, which forwards it with NdisFDevicePnPEventNotify, and so
 * on down; past the bottom it reaches MiniportDevicePnPEventNotify (`toMiniport`).
 */
export function devicePnPEventDown(
  n: Ndis,
  b: MiniportBlock,
  event: NET_DEVICE_PNP_EVENT,
  toMiniport: (event: NET_DEVICE_PNP_EVENT) => void,
): void {
  forwardDeviceEvent(n, b, b.filters.length - 1, event, toMiniport);
}

function forwardDeviceEvent(
  n: Ndis,
  b: MiniportBlock,
  from: number,
  event: NET_DEVICE_PNP_EVENT,
  toMiniport: (event: NET_DEVICE_PNP_EVENT) => void,
): void {
  for (let i = from; i >= 0; i--) {
    const m = b.filters[i]!;
    const h = m.driver.chars.DevicePnPEventNotifyHandler;
    if (h == null || m.gone) continue;
    const f = enterFilter(
      n,
      m,
      'FilterDevicePnPEventNotify',
      n.trace.on
        ? { DevicePnPEvent: NDIS_DEVICE_PNP_EVENT_NAMES[event.DevicePnPEvent] ?? event.DevicePnPEvent }
        : undefined,
    );
    m.deviceEvent = { toMiniport };
    let returned: unknown;
    try {
      returned = h(m.context, event);
    } catch (e) {
      n.driverThrew(e, 'FilterDevicePnPEventNotify', b);
    } finally {
      m.deviceEvent = null;
    }
    n.leaveVoid(f, returned);
    return;
  }
  toMiniport(event);
}

/** NdisFDevicePnPEventNotify: the module passes the device event it is handling down. */
export function forwardDeviceEventBelow(n: Ndis, m: FilterModule, event: NET_DEVICE_PNP_EVENT): void {
  const e = m.deviceEvent!;
  forwardDeviceEvent(n, m.block, m.block.filters.indexOf(m) - 1, event, e.toMiniport);
}

/** A NET_DEVICE_PNP_EVENT NDIS sends down the stack. */
export function deviceEvent(event: number, info: number | null): NET_DEVICE_PNP_EVENT {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_DEVICE_PNP_EVENT_REVISION_1 },
    PortNumber: 0,
    DevicePnPEvent: event,
    InformationBuffer: info,
    InformationBufferLength: info === null ? 0 : 4,
  };
}

// ------------------------------------------------- filter service start and stop

type RestackOp = Extract<PnpOp, { kind: 'restack' }>;

/**
 * A filter service starts while stacks run (scenario `start-filter`): the driver is
 * installed above the others, and each adapter whose stack is up gets a module: NDIS
 * pauses the stack, attaches it, and restarts the stack (R7.8–R7.10).
 */
export function startFilterService(n: Ndis, name: string, mandatory: boolean): void {
  if (n.filterInstalls.some((f) => f.name === name)) {
    if (n.trace.on) n.traceNdis(null, `filter ${name} is running already`, {});
    return;
  }
  const install: FilterInstall = { name, mandatory };
  n.filterInstalls.push(install);
  // The service is started again: a DriverEntry that failed before runs once more.
  for (const f of n.filterLoadFailures) if (f.driver === name) f.cleared = true;
  for (const b of n.adapters) if (stackUp(b)) queueRestack(n, b, { attach: install });
  n.filterService.poll();
}

/**
 * A filter service stops (scenario `stop-filter`): NDIS detaches its module from each
 * stack (pause, detach, restart), and once none is left the I/O manager calls the
 * driver's unload routine, which must call NdisFDeregisterFilterDriver.
 */
export function stopFilterService(n: Ndis, name: string): void {
  const i = n.filterInstalls.findIndex((f) => f.name === name);
  if (i < 0) {
    if (n.trace.on) n.traceNdis(null, `filter ${name} is not running`, {});
    return;
  }
  n.filterInstalls.splice(i, 1);
  const d = n.filterDrivers.get(name);
  if (d === undefined) return; // installed, never loaded: nothing to detach or unload
  n.filterService.stopping.push(d);
  for (const m of d.modules.slice()) queueRestack(n, m.block, { detach: d });
  n.filterService.poll();
}

/** The stack of `b` is up: its miniport initialized, not halted, and no removal under way. */
function stackUp(b: MiniportBlock): boolean {
  return b.initialized && !b.handleDead && !b.deviceFailed && b.pnpState === 'Started';
}

function queueRestack(n: Ndis, b: MiniportBlock, change: RestackOp['change']): void {
  n.filterService.waiting.push({ b, change });
}

/**
 * NdisFRestartFilter: NDIS schedules a pause and a restart of the module's stack
 * (NDIS_PAUSE_FILTER_RESTART_STACK), from its own worker: the caller may be at DISPATCH.
 */
export function requestFilterRestart(n: Ndis, m: FilterModule): void {
  queueRestack(n, m.block, { restart: m });
  n.filterService.soon();
}

/**
 * Starts the restacks that wait for their adapter to be free, and unloads the stopping
 * filter drivers that have no module left. Runs again every 10 ms while work is left.
 */
export class FilterService implements EventTarget {
  readonly waiting: { b: MiniportBlock; change: RestackOp['change'] }[] = [];
  readonly stopping: FilterDriverBlock[] = [];
  private armed = false;
  constructor(private readonly n: Ndis) {}

  poll(): void {
    const n = this.n;
    for (const w of this.waiting.slice()) {
      const { b, change } = w;
      const gone =
        'restart' in change
          ? change.restart.gone || !stackUp(b)
          : 'detach' in change
            ? !b.filters.some((m) => m.driver === change.detach)
            : !stackUp(b) || !n.filterInstalls.includes(change.attach);
      if (gone) {
        // A teardown took the module away, or the stack went down: nothing left to do.
        this.waiting.splice(this.waiting.indexOf(w), 1);
        continue;
      }
      // An adapter a system sleep left in D3 waits for the wake (whose operation then
      // holds it): NDIS pauses and restarts only a stack in D0.
      if (b.op !== null || asleep(b)) continue;
      this.waiting.splice(this.waiting.indexOf(w), 1);
      b.op = { kind: 'restack', step: 'pause', change, restartCalled: false };
      if (n.trace.on)
        n.traceNdis(
          b,
          'restart' in change
            ? `stack pauses to restart filter module ${change.restart.name} (NdisFRestartFilter)`
            : 'detach' in change
              ? `stack pauses to detach filter ${change.detach.name}`
              : `stack pauses to attach filter ${change.attach.name}`,
          {},
        );
      n.kick(b);
    }
    for (const d of this.stopping.slice()) {
      // An IO_WORKITEM of the driver queued or running holds it loaded until its routine
      // returns (releasing-driver-allocated-resources).
      if (
        d.modules.length > 0 ||
        d.ioRefs > 0 ||
        this.waiting.some((w) => 'detach' in w.change && w.change.detach === d)
      )
        continue;
      // A handle of the application to one of its devices, or a request on one, holds
      // it too: the I/O manager calls the unload routine once none is left
      // (unload-routine-environment), and meanwhile opens none.
      const held = referencedDevice(n, d);
      if (held !== null) {
        if (n.trace.on && !d.unloadPending)
          n.traceNdis(
            null,
            `filter ${d.name}: its unload waits: the application has a handle to ${held.name} open, or a request on it (unload-routine-environment)`,
            {},
          );
        d.unloadPending = true;
        continue;
      }
      this.stopping.splice(this.stopping.indexOf(d), 1);
      unloadFilterDriver(n, d);
    }
    const busy =
      this.waiting.length > 0 || this.stopping.length > 0 || n.adapters.some((b) => b.op?.kind === 'restack');
    if (busy && !this.armed) {
      this.armed = true;
      n.kernel.machine.after(10 * ns.ms, this, 0, null);
    }
  }

  /** Polls from NDIS's worker as soon as it can (a request made at DISPATCH). */
  soon(): void {
    if (this.armed) return;
    this.armed = true;
    this.n.kernel.machine.after(0, this, 0, null);
  }

  fire(): void {
    this.armed = false;
    const k = this.n.kernel;
    const c = k.enter(0, Irql.Passive, 'ndis', 'thread');
    try {
      this.poll();
    } finally {
      k.exit(c);
    }
  }
}

/** The I/O manager unloads a stopped filter driver: DRIVER_OBJECT.DriverUnload at PASSIVE. */
function unloadFilterDriver(n: Ndis, d: FilterDriverBlock): void {
  const unload = d.driverObject.DriverUnload;
  if (unload === undefined) {
    // A driver without an unload routine cannot be unloaded; its service stays loaded.
    if (n.trace.on) n.traceNdis(null, `filter ${d.name} has no unload routine: it stays loaded`, {});
    return;
  }
  const f = n.enter(null, d.name, 'FilterDriverUnload', Irql.Passive);
  let returned: unknown;
  try {
    returned = unload(d.driverObject);
  } catch (e) {
    n.driverThrew(e, 'FilterDriverUnload', null);
  }
  n.leaveVoid(f, returned);
  d.unloaded = true;
  if (d.timers !== null || d.workItems !== null) n.checkObjectsAtUnload(d, 'FilterDriverUnload');
  // Driver Verifier's pool tracking, as at a miniport driver's unload (0xC4/0x62).
  n.checkLeftAtUnload(d, 'FilterDriverUnload');
  if (!d.deregistered) {
    n.verifier.report(
      'NdisFDeregisterFilterDriver',
      'FilterDriverUnload',
      null,
      `${d.name}: its unload routine returned without NdisFDeregisterFilterDriver`,
    );
    n.filterDrivers.delete(d.name);
  }
}

/** One step of a restack: pause the stack, attach or detach the module, restart. */
export function stepRestack(n: Ndis, b: MiniportBlock, op: RestackOp): boolean {
  const c = op.change;
  const reason =
    'restart' in c
      ? NDIS_PAUSE_FILTER_RESTART_STACK
      : 'detach' in c
        ? NDIS_PAUSE_DETACH_FILTER
        : NDIS_PAUSE_ATTACH_FILTER;
  switch (op.step) {
    case 'pause':
      // Selective suspend ends first, as before a removal or a system sleep: the stack
      // is paused in D0 (docs/decisions.md).
      if (b.ss !== null && !ssSettled(n, b)) return false;
      if (!pauseAbove(n, b, reason)) return false;
      op.step = 'pause-miniport';
      return true;
    case 'pause-miniport': {
      const r = pauseMiniportStep(n, b, reason);
      if (r === 'not-running') b.op = null;
      if (r !== 'paused') return r === 'pausing';
      op.step = 'change';
      return true;
    }
    case 'change': {
      if ('restart' in c) {
        // NdisFRestartFilter: nothing changes but what the module does in its restart.
      } else if ('detach' in c) {
        const m = b.filters.find((x) => x.driver === c.detach);
        if (m !== undefined) {
          if (!detachable(m)) return false;
          detachModule(n, b, m);
        }
      } else {
        if (!attachInstalled(n, b, c.attach)) {
          b.op = null;
          beginTeardown(n, b, 'stack-failed');
          return false;
        }
      }
      op.step = 'restart';
      return true;
    }
    case 'restart':
    case 'restart-protocols': {
      const r = restartStackStep(n, b, op);
      if (r === 'advance') op.step = op.step === 'restart' ? 'restart-protocols' : 'done';
      else if (r === 'failed') endRestack(n, b);
      return r === 'advance' || r === 'again';
    }
    case 'done':
      endRestack(n, b);
      if (n.trace.on) n.traceNdis(b, 'stack running', {});
      n.filterService.poll();
      return false;
  }
}

/** The restack is over: NDIS watches the adapter for selective suspend again. */
function endRestack(n: Ndis, b: MiniportBlock): void {
  b.op = null;
  if (b.ss !== null) ssResumeMonitoring(n, b);
}
