// The miniport block: NDIS's record of one adapter (R1.1, R1.11). It holds state;
// the procedures that move it are in lifecycle.ts and reset.ts.

import { InternalError } from '../errors.ts';
import type { KTimer, WorkItem } from '../kernel/kernel.ts';
import type { DeviceNode, Irp } from '../pnp/pnp.ts';
import type { SimEvent } from '../sim/queue.ts';
import type { AdapterDma } from './api/dma.ts';
import type { NdisPollObject } from './api/poll.ts';
import type { NDIS_RW_LOCK_EX } from './api/rwlock.ts';
import { type Binding, OidSourceHandle } from './binding.ts';
import { type AdapterFilterData, type DataStats, newDataStats, type SendWatch } from './datapath.ts';
import type { DirectOidRecord } from './direct-oid.ts';
import type { MiniportDriverBlock } from './driver.ts';
import type { FilterDriverBlock, FilterInstall, FilterModule } from './filter.ts';
import { IF_TYPE_ETHERNET_CSMACD } from './generated/status.ts';
import type { NblImpl, NblPool } from './nbl.ts';
import type { Ndis } from './ndis.ts';
import type {
  NDIS_IO_SPACE,
  NdisConfiguration,
  NdisInterrupt,
  NdisIoWorkItem,
  NdisTimerObject,
} from './objects.ts';
import type { OidRecord } from './oid.ts';
import type { AdapterPorts } from './ports.ts';
import type { AdapterSs } from './ss.ts';
import { type AdapterEvent, type AdapterState, adapterStates, edgeFrom } from './states.ts';
import {
  makeNetLuid,
  type NDIS_HANDLE,
  type NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  type NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  type NDIS_OID_REQUEST,
  type NDIS_PM_PARAMETERS,
  type NET_LUID,
} from './types.ts';
import type { WolPatternEntry } from './wol.ts';

/** NDIS's PnP view of the device (R1.11). */
export type PnpDeviceState =
  | 'Added'
  | 'Started'
  | 'QueryStopped'
  | 'Stopped'
  | 'QueryRemoved'
  | 'Removed'
  | 'SurpriseRemoved';

export type BringUpStep = 'init' | 'attach' | 'bind' | 'restart' | 'restart-protocols' | 'done';
export type TeardownStep =
  | 'notify'
  | 'pause-protocols'
  | 'pause-miniport'
  | 'unbind'
  | 'detach'
  | 'halt'
  | 'done';
/**
 * `stack-failed`: a mandatory filter module failed to attach (attaching-a-filter-module).
 * `im-deinit`: an intermediate driver called NdisIMDeInitializeDeviceInstance (im.ts).
 */
export type TeardownWhy = 'surprise-removal' | 'remove' | 'stop' | 'stack-failed' | 'im-deinit';

export type SleepStep =
  | 'query-power'
  | 'wait-query-power'
  | 'set-power-protocols'
  | 'pause-protocols'
  | 'pause-miniport'
  | 'power-down'
  | 'wait-pm-parameters'
  | 'wait-set-power'
  | 'done';
export type WakeStep =
  | 'power-up'
  | 'wait-set-power'
  | 'replay'
  | 'wait-replay'
  | 'restart'
  | 'restart-protocols'
  | 'set-power-protocols'
  | 'done';

/**
 * NDIS's record of a virtual miniport's device instance (NdisIMInitializeDeviceInstanceEx):
 * `requested` from the call until its MiniportInitializeEx, or until a cancel; `cancelled`
 * after NdisIMCancelInitializeDeviceInstance; `initialized` from MiniportInitializeEx on;
 * `deinitializing` from NdisIMDeInitializeDeviceInstance until the FDO goes; `idle` after.
 */
export interface ImDevice {
  readonly name: string;
  /** The intermediate driver's miniport edge. */
  readonly driver: MiniportDriverBlock;
  readonly dev: DeviceNode;
  /** DeviceContext of NdisIMInitializeDeviceInstanceEx: IMDeviceInstanceContext at init. */
  context: unknown;
  state: 'requested' | 'cancelled' | 'initialized' | 'deinitializing' | 'idle';
}

/** The PnP operation NDIS is running on the adapter; one at a time. */
export type PnpOp =
  | { kind: 'bring-up'; step: BringUpStep; irp: Irp | null; restartCalled: boolean }
  | {
      kind: 'teardown';
      step: TeardownStep;
      why: TeardownWhy;
      waiting: Irp[];
      /** When it began (World.hungTeardowns). */
      sinceNs: number;
      /**
       * The OID_PM_REMOVE_WOL_PATTERN requests NDIS sent before the halt for the patterns
       * applications added (wol.ts), not completed yet; undefined until it sent them.
       */
      wolRemoving?: { left: number };
    }
  /** A system sleep (power.ts); `oidDone`: the status of NDIS's power OID, once it completed. */
  | { kind: 'sleep'; step: SleepStep; oidDone: number | null }
  | { kind: 'wake'; step: WakeStep; oidDone: number | null; restartCalled: boolean }
  /**
   * A filter module is attached to or detached from a running stack (a filter service
   * starts or stops), or restarted on its own request (NdisFRestartFilter; filter.ts):
   * pause, change, restart (R7.9, R7.10).
   */
  | {
      kind: 'restack';
      step: RestackStep;
      change: { attach: FilterInstall } | { detach: FilterDriverBlock } | { restart: FilterModule };
      restartCalled: boolean;
    };

export type RestackStep = 'pause' | 'pause-miniport' | 'change' | 'restart' | 'restart-protocols' | 'done';

/** An adapter's part in system sleep (power.ts); null until the first sleep. */
export interface AdapterPower {
  /** The device power state NDIS last set: NdisDeviceStateD0 or NdisDeviceStateD3. */
  device: number;
  /** The system state of the sleep ('S3', 'S4'). */
  system: string;
  /** How NDIS powered it down: MiniportHaltEx(NdisHaltDevicePoweredDown), or OID_PNP_SET_POWER. */
  how: 'halt' | 'oid';
  /** NDIS paused the stack for the sleep, so MiniportRestart follows the resume. */
  paused: boolean;
  /** The resume came while the sleep was still under way: it starts when the sleep ends. */
  wakeRequested: boolean;
  /**
   * The OID_PM_PARAMETERS of this sleep enabled a wake-up (a WoL pattern or a wake-up
   * flag) and succeeded: NDIS armed the device (IRP_MN_WAIT_WAKE), so its wake signal
   * wakes the system.
   */
  armed: boolean;
  /**
   * The miniport's receive engine counts as stopped (the datapath's check, R1.7): from the
   * completion of OID_PNP_SET_POWER(D3) with SUCCESS to that of OID_PNP_SET_POWER(D0),
   * whenever NDIS's worker gets to its next step after either.
   */
  receiveOff: boolean;
  /** The power manager's watchdog on the device's IRP_MN_SET_POWER in progress (0x9F/0x3). */
  irpWatchdog: SimEvent | null;
}

export interface PendingPause {
  /** MiniportPause has returned (PENDING). */
  returned: boolean;
  completed: boolean;
  /**
   * Where NdisMPauseComplete came from while MiniportPause had not returned yet, for the
   * report of a pause then completed twice: "MiniportInterruptDPC on CPU 1 at 0.100196 s".
   * Null when MiniportPause made the call itself, or none came.
   */
  completedBy: string | null;
  watchdog: SimEvent | null;
}

export class MiniportBlock implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_MINIPORT_ADAPTER';
  /**
   * The operational state; only `move` changes it, together with its position in
   * adapterStates. (A getter over the position alone made lifecycles 10 % slower.)
   */
  readonly state: AdapterState = 'Halted';
  private stateIndex = adapterStates.indexOf('Halted');
  pnpState: PnpDeviceState = 'Added';

  /** Why the stack stopped when a mandatory filter module did not attach ('stack-failed'), else null. */
  stackFailure: string | null = null;
  // Flags of R1.11 and R5.11.
  deviceFailed = false;
  /** What set `deviceFailed` (markDeviceFailed's `why`: 'NdisMRemoveMiniport', a failed power OID …). */
  deviceFailedWhy: string | null = null;
  /** R6.1: the miniport failed the mandatory set of OID_GEN_CURRENT_PACKET_FILTER, warned about once. */
  packetFilterUnsupportedWarned = false;
  resetInProgress = false;
  halting = false;
  surpriseRemoved = false;
  /** MiniportHaltEx has returned: the handle is dead (R2.8, R5.20). */
  handleDead = false;
  /** The FDO was deleted (REMOVE_DEVICE done). */
  fdoDeleted = false;

  /** Microseconds the running MiniportResetEx has stalled in all (R4.13); -1 once reported. */
  resetStallUs = 0;
  /** This initialization's R4.3 warning (a TRUE from check-for-hang during it) was given. */
  warnedHangInInit = false;
  /** Inside MiniportInitializeEx / MiniportHaltEx. */
  inInitialize = false;
  inHalt = false;
  haltStartNs = 0;
  /** Inside MiniportAddDevice (the add-device registration attributes go there). */
  inAddDevice = false;
  /** NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES.MiniportAddDeviceContext; null until set. */
  addDeviceContext: unknown = null;
  /**
   * A virtual miniport of an intermediate driver: the device instance that
   * NdisIMInitializeDeviceInstanceEx asked for (im.ts); null for any other adapter.
   */
  im: ImDevice | null = null;
  /** MiniportInitializeEx returned SUCCESS at least once on this FDO. */
  initialized = false;

  registration: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES | null = null;
  general: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES | null = null;

  // Operations pending on the driver.
  pause: PendingPause | null = null;
  /** Why NDIS last paused the stack above the miniport (an NDIS_PAUSE_* reason): protocols of one's own get it in NDIS_PROTOCOL_PAUSE_PARAMETERS. */
  stackPauseReason = 0;
  /**
   * MiniportRestart was called and has not completed; `returned` once it returned
   * PENDING; `sinceNs` when it was called (World.stuck).
   */
  restart: { returned: boolean; sinceNs: number } | null = null;
  /**
   * MiniportResetEx was called and has not completed; `returned` once it returned
   * PENDING; `sinceNs` when it was called (World.hungTeardowns).
   */
  reset: { returned: boolean; sinceNs: number } | null = null;
  haltAction: number | null = null;
  /**
   * The HaltAction of the last MiniportHaltEx on this FDO; unlike `haltAction`, a restart
   * after a stop (resetForRestart) keeps it, so a summary of an adapter halted by a stop
   * whose restart failed still names that halt (review-pnp #3).
   */
  lastHaltAction: number | null = null;
  /** What was outstanding when MiniportHaltEx was called (for checks). */
  haltSnapshot: { sends: number; receives: number; oid: boolean; reset: boolean } | null = null;

  // Objects the driver allocated against the adapter (R2.10, R8.7, R8.8).
  // Lists, not sets: an adapter has a few of each, and an empty array costs a tenth of
  // an empty Set (each lifecycle of the bench makes an adapter).
  readonly timers: NdisTimerObject[] = [];
  readonly workItems: NdisIoWorkItem[] = [];
  /** RequestHandle of the requests NDIS itself issues to the adapter (R6.16). */
  readonly ndisRequestHandle: OidSourceHandle = new OidSourceHandle(null);
  interrupt: NdisInterrupt | null = null;
  readonly configurations: NdisConfiguration[] = [];
  readonly ioSpaces: NDIS_IO_SPACE[] = [];
  readonly pools: NblPool[] = [];
  /** Read/write locks allocated with the adapter handle and not freed yet (R2.10). */
  readonly rwLocks: NDIS_RW_LOCK_EX[] = [];
  /** Bus-master DMA: the registered channel and the shared memory not freed; null until the first DMA call. */
  dma: AdapterDma | null = null;
  /** Poll objects registered and not deregistered (NdisRegisterPoll); null until the first. */
  polls: NdisPollObject[] | null = null;
  /** Poll objects registered so far, for their numbers in the trace. */
  pollsMade = 0;
  /** NDIS ports the miniport allocated (ports.ts); null until its first NdisMAllocatePort or port event. */
  ports: AdapterPorts | null = null;

  readonly bindings: Binding[] = [];
  /** The filter modules attached over the miniport, bottom first (R7.5). */
  readonly filters: FilterModule[] = [];
  /** Where sends and receives enter the modules (datapath.ts); null while no module has a data handler. */
  filterData: AdapterFilterData | null = null;

  // Data path and OIDs (datapath.ts, oid.ts).
  /** NBLs in MiniportSendNetBufferLists not yet completed. */
  sendsOutstanding = 0;
  /** I/O work items of the adapter whose routine is running now (blocked in a wait, say). */
  ioWorkRunning = 0;
  /** The NBLs in the miniport, oldest first (Driver Verifier's send time-outs). */
  readonly inFlight = new Set<NblImpl>();
  /**
   * R5.7: set when MiniportDevicePnPEventNotify(SurpriseRemoved) returns, with the sends
   * and the OID request the miniport had then. What reaches the miniport after that
   * should complete with NDIS_STATUS_NOT_ACCEPTED; the first send and the first request
   * that do not are a warning each. `touched`: the driver accessed the gone hardware's
   * registers or ports since, warned about once (power-rules.ts removedAccess).
   */
  removalNotified: {
    sends: ReadonlySet<NblImpl>;
    oid: OidRecord | null;
    warned: 0 | 1 | 2 | 3;
    touched: boolean;
  } | null = null;
  sendsPendingSinceNs = 0;
  lastSendCompletionNs = 0;
  sendWatch: SendWatch | null = null;
  /** Indicated NBLs not yet returned with MiniportReturnNetBufferLists. */
  receivesOutstanding = 0;
  readonly data: DataStats = newDataStats();
  /** Requests waiting for the miniport, in order (R6.2). */
  readonly oidQueue: OidRecord[] = [];
  /** The one regular request in the miniport. */
  oid: OidRecord | null = null;
  oidPump: WorkItem | null = null;
  /** Recently completed requests, to tell a double completion from a stray one. */
  readonly lastOids: OidRecord[] = [];
  /** Direct OID requests in MiniportDirectOidRequest or pended by it: not serialized (direct-oid.ts). */
  readonly directOids: DirectOidRecord[] = [];
  /** Direct requests recently done, to tell a double completion from a stray one. */
  readonly lastDirectOids: DirectOidRecord[] = [];
  /** Synchronous OID requests on their way through the stack now (sync-oid.ts): nested calls stack up. */
  readonly syncOids: NDIS_OID_REQUEST[] = [];
  /**
   * The OID_PM_PARAMETERS settings overlying drivers set, by binding or filter module:
   * NDIS keeps them and combines them into the set it sends before D3 (power.ts).
   */
  pmSettings: Map<Binding | FilterModule, NDIS_PM_PARAMETERS> | null = null;
  /**
   * The device's wake-up signal since NDIS last armed it for a low-power state (a system
   * sleep or selective suspend): null for none, else what raised it, when the SimNic's
   * wake-up filter tells ('packet': a magic packet or a pattern; 'link': a link change;
   * 'signal': a `wake-signal`, whose cause the model does not follow). NDIS_STATUS_PM_WAKE_REASON
   * is checked against it (api/adapter.ts, NdisSim_WakeReasonContent).
   */
  wakeCause: 'packet' | 'link' | 'signal' | null = null;
  /** The Wake-on-LAN patterns added to the adapter and not removed, by PatternId (wol.ts). */
  readonly wolPatterns = new Map<number, WolPatternEntry>();
  /** The PatternId NDIS gives the next OID_PM_ADD_WOL_PATTERN (wol.ts): from 1, never twice. */
  nextWolPatternId = 1;
  /**
   * The NDIS_PM_WOL_PATTERN buffers of the adds under way that NDIS gave a PatternId, with
   * who added each (a binding, a filter module, or null for an application): a filter's
   * clone shares the buffer, so NDIS gives it no second ID; once the miniport completes
   * the add the buffer leaves this map, and adding it again gets a new ID (wol.ts).
   */
  readonly wolOwners = new WeakMap<object, Binding | FilterModule | null>();
  /** Addressing settings protocols made, replayed after an AddressingReset (R4.10). */
  packetFilter = 0;
  multicastList: readonly (readonly number[])[] = [];
  op: PnpOp | null = null;
  /** NDIS's worker item that runs `op` one step further (Ndis.kick). */
  worker: WorkItem | null = null;
  /** A step of `op` is running; it may wait (NdisMSleep in a handler) while others run. */
  stepping = false;
  /** The worker came round while a step was running: it runs again once the step ends. */
  rekick = false;
  hangTimer: KTimer | null = null;
  /** NDIS's work item for NdisMResetMiniport. */
  resetRequest: WorkItem | null = null;
  /** System sleep and resume (power.ts); null until the first sleep. */
  power: AdapterPower | null = null;
  /** Selective suspend (ss.ts); null unless the driver registered and reported it. */
  ss: AdapterSs | null = null;
  /** NDIS's pool for clones of the NBLs the adapter holds, made without a pool (api/clone.ts). */
  clonePool: NblPool | null = null;
  /** Link state last indicated (NDIS_STATUS_LINK_STATE) or from general attributes. */
  mediaConnectState = 0;

  // Counters for the summary.
  resets = 0;
  /** How and when the last reset was completed: a completion after it is a second one (R3.10, R4.15). */
  lastResetCompletion: { via: string; timeNs: number } | null = null;
  hangsReported = 0;
  removeCalls = 0;
  /** NdisMRemoveMiniport calls that never reached the flag: stopped by the verifier, or on a dead handle (R5.20). */
  removeCallsRefused = 0;
  inits = 0;

  /** IfIndex of the interface (1 for the machine's first adapter). */
  readonly ifIndex: number;
  /**
   * NET_LUID of the interface: the IfType of the device's *IfType keyword (the INF sets it;
   * IF_TYPE_ETHERNET_CSMACD when the scenario gives none) and a NetLuidIndex NDIS allocates.
   */
  readonly netLuid: NET_LUID;

  constructor(
    readonly ndis: Ndis,
    readonly name: string,
    readonly driver: MiniportDriverBlock,
    readonly dev: DeviceNode,
  ) {
    this.ifIndex = ndis.adapters.length + 1;
    const ifType = dev.registry.get('*IfType');
    this.netLuid = makeNetLuid(
      typeof ifType === 'number' ? ifType : IF_TYPE_ETHERNET_CSMACD,
      ndis.nextNetLuidIndex++,
    );
  }

  /** What ended the handle's life, once `handleDead` (R2.8). */
  get handleEnd(): string {
    if (this.initialized) return 'MiniportHaltEx returned';
    return this.inits === 0 ? 'MiniportAddDevice failed' : 'MiniportInitializeEx failed';
  }

  /** MiniportAdapterContext, set by the registration attributes. */
  get context(): unknown {
    return this.registration?.MiniportAdapterContext ?? null;
  }

  /**
   * Applies an event of the state table. NDIS-caused events that the table
   * rejects are bugs of the model; driver-caused ones are checked by the DDI
   * before they get here.
   */
  move(event: AdapterEvent): void {
    const e = edgeFrom(this.stateIndex, event);
    if (e === null)
      throw new InternalError('MiniportBlock.move: the table rejects an NDIS event', [
        this.name,
        event,
        this.state,
      ]);
    const from = this.state;
    (this as { state: AdapterState }).state = e.to;
    this.stateIndex = e.toIndex;
    if (this.ndis.trace.on) this.ndis.traceState(this, from, e.to, event);
  }
}

/** Removes `x` from `list`, keeping the order of the rest; false if it was not there. */
export function removeFrom<T>(list: T[], x: T): boolean {
  const i = list.indexOf(x);
  if (i < 0) return false;
  for (let j = i + 1; j < list.length; j++) list[j - 1] = list[j]!;
  // pop, not length--: setting the length gives up the backing store of an array it
  // empties, and the next push makes a new one.
  list.pop();
  return true;
}
