// NDIS objects a driver allocates: timer objects, I/O work items, interrupts, spin
// locks, configuration handles, mapped I/O space. Each is the NDIS side of a
// handle; the kernel mechanism underneath is in src/kernel.

import { type Dpc, Irql, KInterrupt, KTimer, type LockState, WorkItem } from '../kernel/kernel.ts';
import type { InterruptLine, MessageInterrupts, Mmio } from '../pnp/resources.ts';
import { fmtTime } from '../report/format.ts';
import type { MiniportBlock } from './block.ts';
import type { MiniportDriverBlock } from './driver.ts';
import type { FilterDriverBlock, FilterModule } from './filter.ts';
import { NDIS_INDICATE_ALL_NBLS } from './generated/status.ts';
import type { Ndis } from './ndis.ts';
import type { ProtocolDriverBlock } from './protocol-driver.ts';
import type {
  DEVICE_OBJECT,
  DRIVER_OBJECT,
  IO_INTERRUPT_MESSAGE_INFO,
  IO_WORKITEM,
  IO_WORKITEM_ROUTINE,
  IO_WORKITEM_ROUTINE_EX,
  NDIS_HANDLE,
  NDIS_IO_WORKITEM_FUNCTION,
  NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
  NDIS_RECEIVE_THROTTLE_PARAMETERS,
  NDIS_TIMER_CHARACTERISTICS,
} from './types.ts';

/**
 * Who an object belongs to: an adapter (freed by halt) or the driver (freed by unload);
 * for a filter driver, a filter module (freed by FilterDetach) or the filter driver.
 */
export type Owner =
  | { kind: 'adapter'; block: MiniportBlock }
  | { kind: 'driver'; driver: MiniportDriverBlock }
  | { kind: 'module'; module: FilterModule }
  | { kind: 'filterDriver'; driver: FilterDriverBlock }
  | { kind: 'protocolDriver'; driver: ProtocolDriverBlock };

/** The adapter of the object's owner: its own, or a filter module's; null for a driver. */
export function ownerAdapter(o: Owner): MiniportBlock | null {
  return o.kind === 'adapter' ? o.block : o.kind === 'module' ? o.module.block : null;
}

/** The driver whose code the object runs (the actor of its callbacks). */
export function ownerDriverName(o: Owner): string {
  return o.kind === 'adapter'
    ? o.block.driver.name
    : o.kind === 'module'
      ? o.module.driver.name
      : o.driver.name;
}

/**
 * Where a driver did something NDIS may later find wrong, for the report of a check at
 * halt, unload or a watchdog: `MiniportResetEx at 2.400000 s`. The object keeps only the
 * callback's name (Ndis.runningFunction, a string the frame has already) and the time;
 * this text is made only when a violation is reported.
 */
export function placeText(callback: string | null, atNs: number): string {
  return `${callback ?? 'no driver callback'} at ${fmtTime(atNs)}`;
}

/** A routine's name as a report gives it. */
export function routineName(f: (...args: never[]) => unknown): string {
  return f.name === '' ? '(anonymous)' : f.name;
}

export class NdisTimerObject implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_TIMER_OBJECT';
  readonly k: KTimer;
  freed = false;
  /** The driver callback that allocated it, and when (placeText; R8.4, R8.7 reports). */
  readonly madeIn: string | null;
  readonly madeNs: number;
  /** The driver callback of its last NdisSetTimerObject, and when (-1: never set). */
  setIn: string | null = null;
  setNs = -1;
  /** FunctionContext of the last NdisSetTimerObject (or the default). */
  context: unknown;
  periodic = false;
  /**
   * It fired after its owner was gone (NdisSim_CallbackAfterHalt, reported then): a
   * periodic timer left set goes on firing, and each later tick is the same mistake,
   * so it is reported once per timer object and never run.
   */
  firedAfterOwner = false;
  constructor(
    readonly ndis: Ndis,
    readonly owner: Owner,
    readonly chars: NDIS_TIMER_CHARACTERISTICS,
    who: string,
  ) {
    this.k = new KTimer(this, who);
    this.context = chars.FunctionContext;
    this.madeIn = ndis.runningFunction();
    this.madeNs = ndis.now;
  }

  /**
   * What a report says of it: `the timer object allocated in MiniportInitializeEx at
   * 0.000000 s, function hangTimer, last set in MiniportResetEx at 2.400000 s`.
   */
  story(): string {
    const set = this.setNs < 0 ? 'never set' : `last set in ${placeText(this.setIn, this.setNs)}`;
    return `the timer object allocated in ${placeText(this.madeIn, this.madeNs)}, function ${routineName(this.chars.TimerFunction)}, ${set}`;
  }

  /**
   * The report's "Set in" line of a timer left set (`set`: it is set, or fired after its
   * owner was gone), or "Made in" of one not freed.
   */
  origin(set = this.k.queued): { label: string; at: string } {
    const fn = `timer function ${routineName(this.chars.TimerFunction)}`;
    return set && this.setNs >= 0
      ? {
          label: 'Set in',
          at: `${placeText(this.setIn, this.setNs)} (${fn}; allocated in ${placeText(this.madeIn, this.madeNs)})`,
        }
      : { label: 'Made in', at: `${placeText(this.madeIn, this.madeNs)} (NdisAllocateTimerObject; ${fn})` };
  }

  runTimer(): void {
    this.ndis.runTimerFunction(this);
  }

  /** The driver function it calls, and the adapter it is of, for a recorded log's choice lines (ChoiceAbout). */
  describe(): string {
    const a = ownerAdapter(this.owner);
    return `${routineName(this.chars.TimerFunction)}${a === null ? '' : ` of ${a.name}`}`;
  }
}

export class NdisIoWorkItem implements NDIS_HANDLE {
  readonly __ndisHandle: string = 'NDIS_IO_WORKITEM';
  readonly k: WorkItem;
  freed = false;
  routine: NDIS_IO_WORKITEM_FUNCTION | null = null;
  context: unknown = null;
  /**
   * Queued on an object of the driver (its driver handle, an NdisRegisterDeviceEx
   * device, a DRIVER_OBJECT): the queuing referenced the IoObject, and the routine's
   * return (or a free that drops the run) releases it. The driver cannot unload meanwhile.
   */
  referenced = false;
  /** The driver callback that allocated it, and when (placeText; R8.8 reports). */
  readonly madeIn: string | null;
  readonly madeNs: number;
  /** The driver callback of its last queuing, and when (-1: never queued). */
  queuedIn: string | null = null;
  queuedNs = -1;
  constructor(
    readonly ndis: Ndis,
    readonly owner: Owner,
    who: string,
  ) {
    this.k = new WorkItem(this, who);
    this.madeIn = ndis.runningFunction();
    this.madeNs = ndis.now;
  }

  /** What a report says of it: `the work item allocated in … at …, last queued in … at …`. */
  story(): string {
    const q =
      this.queuedNs < 0 ? 'never queued' : `last queued in ${placeText(this.queuedIn, this.queuedNs)}`;
    return `the work item allocated in ${placeText(this.madeIn, this.madeNs)}, ${q}`;
  }

  /**
   * The report's "Made in" line of a work item not freed, or with `queued` the "Queued
   * in" line of one whose routine came due after its owner was gone.
   */
  origin(queued = false): { label: string; at: string } {
    const api = this instanceof IoWorkItem ? 'IoAllocateWorkItem' : 'NdisAllocateIoWorkItem';
    const made = placeText(this.madeIn, this.madeNs);
    return queued && this.queuedNs >= 0
      ? {
          label: 'Queued in',
          at: `${placeText(this.queuedIn, this.queuedNs)} (allocated with ${api} in ${made})`,
        }
      : { label: 'Made in', at: `${made} (${api})` };
  }

  runWork(): void {
    this.ndis.runIoWorkItem(this);
  }

  /** The driver routine of its last queuing, for a recorded log's choice lines (ChoiceAbout). */
  describe(): string | undefined {
    const f = this instanceof IoWorkItem ? this.ioRoutine : this.routine;
    const a = ownerAdapter(this.owner);
    return f === null ? undefined : `${routineName(f)}${a === null ? '' : ` of ${a.name}`}`;
  }
}

/**
 * An IO_WORKITEM of IoAllocateWorkItem (wdm): a driver's own work item, tied to the
 * DRIVER_OBJECT its DriverEntry got or to a device object of its NdisRegisterDeviceEx.
 * It shares the NDIS work item's queue and checks (NDIS's work item wraps one); the
 * owner is always the driver (kind driver, filterDriver or protocolDriver). NDIS's own
 * DDIs do not take it (workItemOf refuses it).
 */
export class IoWorkItem extends NdisIoWorkItem implements IO_WORKITEM {
  override readonly __ndisHandle = 'IO_WORKITEM';
  /** The routine of the last IoQueueWorkItem (ex false) or IoQueueWorkItemEx (ex true). */
  ioRoutine: IO_WORKITEM_ROUTINE | IO_WORKITEM_ROUTINE_EX | null = null;
  ex = false;
  constructor(
    ndis: Ndis,
    owner: Owner,
    who: string,
    /** The DeviceObject IoAllocateWorkItem got: a DRIVER_OBJECT or a DEVICE_OBJECT. */
    readonly ioObject: DRIVER_OBJECT | DEVICE_OBJECT,
    /** ioObject is a DRIVER_OBJECT: IoQueueWorkItem cannot take the item. */
    readonly ofDriverObject: boolean,
  ) {
    super(ndis, owner, who);
  }
}

export class NdisInterrupt implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_INTERRUPT';
  /** The driver callback that registered it, and when (placeText; R2.5, R2.10 reports). */
  readonly madeIn: string | null;
  readonly madeNs: number;
  /** The line's interrupt object (connected only when the interrupt is line-based). */
  readonly k: KInterrupt;
  deregistered = false;
  /** NdisMDeregisterInterruptEx is running the DPCs still queued (NdisSim_QueueDpcDeregistered). */
  deregistering = false;
  /**
   * Message-based (NDIS_CONNECT_MESSAGE_BASED): the device's messages and one
   * NdisMessage per MessageId, with the table given to the driver. Null: line-based.
   */
  msi: MessageInterrupts | null = null;
  messages: NdisMessage[] | null = null;
  messageInfo: IO_INTERRUPT_MESSAGE_INFO | null = null;
  /** What each MiniportInterruptDPC gets (NDIS 6.20 and later; null before), reused. */
  readonly throttle: NDIS_RECEIVE_THROTTLE_PARAMETERS | null;
  /**
   * The interrupt's spin lock (the line's, or the one all messages share with
   * MsiSyncWithAllMessages) is held: an ISR or a synchronized routine is on the stack.
   */
  lockHeld = false;
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
    readonly context: unknown,
    readonly chars: NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
    readonly line: InterruptLine,
    who: string,
  ) {
    this.k = new KInterrupt(this, who, this);
    this.madeIn = ndis.runningFunction();
    this.madeNs = ndis.now;
    this.throttle =
      block.driver.ndisVersion >= 620
        ? { MaxNblsToIndicate: NDIS_INDICATE_ALL_NBLS, MoreNblsPending: false }
        : null;
  }

  runIsr(): void {
    this.ndis.runIsr(this);
  }

  /**
   * The device asserted its line after NdisMDeregisterInterruptEx: the driver did not
   * disable the NIC's interrupts first (R2.10, the NdisMDeregisterInterruptEx page).
   * Said once; nothing serves the interrupt.
   */
  unservedInterrupt(): void {
    if (this.unserved) return;
    this.unserved = true;
    this.ndis.verifier.warn(
      'R2.10',
      'NdisMDeregisterInterruptEx',
      this.block.name,
      'the NIC signalled an interrupt after NdisMDeregisterInterruptEx: a driver disables its NIC from interrupting before it deregisters (R2.10)',
    );
  }
  private unserved = false;

  /** MiniportDpcContext of the DPC objects NdisMQueueDpcEx queued (made on first use). */
  dpcContexts: Map<Dpc, unknown> | null = null;

  runDpc(dpc: Dpc): void {
    this.ndis.runInterruptDpc(this, dpc);
  }
}

/**
 * One message of a message-based interrupt: its interrupt object (whose ISR is
 * MiniportMessageInterrupt with this MessageId, and whose DPC is the message's
 * default DPC) and its DPC object for each CPU, for TargetProcessors and
 * NdisMQueueDpcEx, made on first use.
 */
export class NdisMessage {
  readonly k: KInterrupt;
  cpuDpcs: Dpc[] | null = null;
  /** The message's own spin lock is held (without MsiSyncWithAllMessages). */
  lockHeld = false;
  constructor(
    readonly interrupt: NdisInterrupt,
    readonly MessageId: number,
    who: string,
  ) {
    this.k = new KInterrupt(this, who, this);
  }

  runIsr(): void {
    this.interrupt.ndis.runMessageIsr(this);
  }

  runDpc(dpc: Dpc): void {
    this.interrupt.ndis.runMessageDpc(this, dpc);
  }
}

/**
 * NDIS_SPIN_LOCK: storage the driver owns, initialised by NdisAllocateSpinLock,
 * as in C (`NDIS_SPIN_LOCK Lock; NdisAllocateSpinLock(&Lock);`).
 */
export class NDIS_SPIN_LOCK {
  /**
   * Its members are internal, left out of the package's declarations (stripInternal): this
   * private one keeps the declared class nominal, so another object is not one (T11).
   */
  declare private readonly kind: 'NDIS_SPIN_LOCK';
  /** @internal Kernel lock state; null until NdisAllocateSpinLock. */
  _state: LockState | null = null;
  /** @internal */
  _freed = false;
  /** @internal Balance of acquires and releases (SpinLockBalanced). */
  _balance = 0;
  /** @internal Who allocated it and who freed it, for a use after the free: "flaky-nic in MiniportHaltEx (nic0)". */
  _allocatedBy = '';
  /** @internal */
  _freedBy = '';
  /** @internal */
  _freedNs = 0;
}

/**
 * LIST_ENTRY: a link of a circular doubly linked list, as in C. A list head links to
 * itself when empty (NdisInitializeListHead); until then its links are null, as the
 * C struct's are garbage. A driver's queued record extends this class where the C
 * struct embeds the field, so the entry the interlocked DDIs return is the record
 * itself (CONTAINING_RECORD in C).
 */
export class LIST_ENTRY {
  Flink: LIST_ENTRY | null = null;
  Blink: LIST_ENTRY | null = null;
}

/**
 * A ConfigurationHandle from NdisOpenConfigurationEx: of an adapter (`block`), or of
 * the driver (`block` null). `values` is the registry key itself, not a copy (the
 * device's parameters, or the driver's): NdisWriteConfiguration changes them for
 * every handle and for later starts or loads, as a registry write would.
 */
export class NdisConfiguration implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_CONFIGURATION';
  closed = false;
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock | null,
    readonly values: Map<string, number | string>,
    /** A filter module's configuration (NdisFilterHandle): usable until its FilterDetach returns. */
    readonly module: FilterModule | null = null,
  ) {}
}

/** A register address: a mapping plus a byte offset (what a PULONG into I/O space is in C). */
export class IoRegister {
  constructor(
    readonly space: NDIS_IO_SPACE,
    readonly offset: number,
  ) {}
}

/**
 * The VirtualAddress NdisMMapIoSpace returns. `at(offset)` forms a register address,
 * `offset` bytes from the mapped PhysicalAddress: the device's register at
 * `deviceOffset + offset`, where `deviceOffset` is how far into the device's memory
 * window the mapping starts.
 */
export class NDIS_IO_SPACE {
  unmapped = false;
  private readonly regs = new Map<number, IoRegister>();
  constructor(
    readonly block: MiniportBlock,
    readonly mmio: Mmio,
    readonly physicalAddress: number,
    readonly length: number,
    readonly deviceOffset = 0,
  ) {}

  at(offset: number): IoRegister {
    let r = this.regs.get(offset);
    if (r === undefined) {
      r = new IoRegister(this, offset);
      this.regs.set(offset, r);
    }
    return r;
  }
}

/**
 * A port range NdisMRegisterIoPortRange claimed for an adapter: ports `InitialPort`
 * up to InitialPort + NumberOfPorts, decoding to `regs` from offset 0.
 */
export class IoPortRange {
  constructor(
    readonly block: MiniportBlock,
    readonly regs: Mmio,
    readonly InitialPort: number,
    readonly NumberOfPorts: number,
  ) {}
}

export const lockIrql = Irql.Dispatch;

/**
 * NDIS_GENERIC_OBJECT (NdisAllocateGenericObject): a handle for code that has no NDIS
 * handle of its own, good for the pools of obtaining-pool-handles. NDIS's header and
 * reserved fields are left out; `DriverObject` is what the caller passed, and
 * `Extension` the Size bytes that follow the structure in C.
 */
export class NdisGenericObject implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_GENERIC_OBJECT';
  freed = false;
  /** NBL and NET_BUFFER pools allocated with it and not yet freed. */
  pools = 0;
  constructor(
    readonly DriverObject: DRIVER_OBJECT | null,
    readonly Extension: Uint8Array,
    /** The driver whose code allocated it. */
    readonly driver: string,
    /**
     * The adapter whose MiniportXxx call allocated it, if the miniport's own code did:
     * MiniportHaltEx must free it (SDV rule NdisAllocateGenericObject).
     */
    readonly block: MiniportBlock | null,
  ) {}
}

/**
 * The holder of the spin lock that guards message `m` of `i` (its ISR and synchronized
 * routines): the interrupt for a line, or for messages that share one lock
 * (MsiSyncWithAllMessages); else the message itself.
 */
export function interruptLock(i: NdisInterrupt, m: NdisMessage | null): { lockHeld: boolean } {
  return m === null || i.chars.MsiSyncWithAllMessages === true ? i : m;
}
