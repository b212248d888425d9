// Kernel-service DDIs (08-kernel-services.md): timer objects, I/O work items, spin
// locks, interrupts, sleeps and stalls, system time.

import { NotModelledError } from '../../errors.ts';
import { type Context, Irql, irqlNames, type LockState } from '../../kernel/kernel.ts';
import type { MessageInterrupts } from '../../pnp/resources.ts';
import { fmtTime } from '../../report/format.ts';
import { limits, ns } from '../../sim/limits.ts';
import { BugCheckCode } from '../../verifier/bugcheck.ts';
import { Binding } from '../binding.ts';
import { type MiniportBlock, removeFrom } from '../block.ts';
import { ControlDevice, ControlDeviceObject, IoDriver } from '../device.ts';
import { MiniportDriverBlock } from '../driver.ts';
import { FilterDriverBlock, FilterModule } from '../filter.ts';
import { type DdiIrql, ddiIrql } from '../generated/irql.ts';
import {
  InterruptRisingEdge,
  Latched,
  NDIS_CONNECT_LINE_BASED,
  NDIS_CONNECT_MESSAGE_BASED,
  NDIS_MINIPORT_INTERRUPT_REVISION_1,
  NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
} from '../generated/status.ts';
import { affinityOf } from '../lifecycle.ts';
import type { Ndis } from '../ndis.ts';
import {
  IoWorkItem,
  interruptLock,
  LIST_ENTRY,
  NDIS_SPIN_LOCK,
  NdisInterrupt,
  NdisIoWorkItem,
  NdisMessage,
  NdisTimerObject,
  type Owner,
  ownerAdapter,
  ownerDriverName,
} from '../objects.ts';
import { ProtocolDriverBlock } from '../protocol-driver.ts';
import {
  type DEVICE_OBJECT,
  DelayedWorkQueue,
  type DRIVER_OBJECT,
  type IO_INTERRUPT_MESSAGE_INFO,
  type IO_INTERRUPT_MESSAGE_INFO_ENTRY,
  type IO_WORKITEM,
  type IO_WORKITEM_ROUTINE,
  type IO_WORKITEM_ROUTINE_EX,
  type MINIPORT_SYNCHRONIZE_INTERRUPT,
  type NDIS_HANDLE,
  type NDIS_IO_WORKITEM_FUNCTION,
  type NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
  type NDIS_STATUS,
  type NDIS_TIMER_CHARACTERISTICS,
  type NDIS_TIMER_OBJECT_HANDLE,
  type WORK_QUEUE_TYPE,
} from '../types.ts';
import {
  adapterHandle,
  claimsHardware,
  currentNdis,
  passiveOutsideInitHalt,
  type ServiceHandle,
  serviceHandle,
  serviceOrProtocolHandle,
  stale,
  staleModule,
} from './common.ts';
import { atMostDispatch } from './device.ts';

const irql = {
  NdisAllocateTimerObject: ddiIrql.NdisAllocateTimerObject!,
  NdisSetTimerObject: ddiIrql.NdisSetTimerObject!,
  NdisSetCoalescableTimerObject: ddiIrql.NdisSetCoalescableTimerObject!,
  NdisCancelTimerObject: ddiIrql.NdisCancelTimerObject!,
  NdisFreeTimerObject: ddiIrql.NdisFreeTimerObject!,
  NdisAllocateIoWorkItem: ddiIrql.NdisAllocateIoWorkItem!,
  NdisQueueIoWorkItem: ddiIrql.NdisQueueIoWorkItem!,
  NdisFreeIoWorkItem: ddiIrql.NdisFreeIoWorkItem!,
  NdisAllocateSpinLock: ddiIrql.NdisAllocateSpinLock!,
  NdisFreeSpinLock: ddiIrql.NdisFreeSpinLock!,
  NdisAcquireSpinLock: ddiIrql.NdisAcquireSpinLock!,
  NdisReleaseSpinLock: ddiIrql.NdisReleaseSpinLock!,
  NdisDprAcquireSpinLock: ddiIrql.NdisDprAcquireSpinLock!,
  NdisDprReleaseSpinLock: ddiIrql.NdisDprReleaseSpinLock!,
  NdisMRegisterInterruptEx: ddiIrql.NdisMRegisterInterruptEx!,
  NdisMDeregisterInterruptEx: ddiIrql.NdisMDeregisterInterruptEx!,
  NdisMSynchronizeWithInterruptEx: ddiIrql.NdisMSynchronizeWithInterruptEx!,
  NdisMSleep: ddiIrql.NdisMSleep!,
  NdisStallExecution: ddiIrql.NdisStallExecution!,
  NdisMQueueDpc: ddiIrql.NdisMQueueDpc!,
  NdisMQueueDpcEx: ddiIrql.NdisMQueueDpcEx!,
  NdisInitializeListHead: ddiIrql.NdisInitializeListHead!,
  NdisInterlockedInsertHeadList: ddiIrql.NdisInterlockedInsertHeadList!,
  NdisInterlockedInsertTailList: ddiIrql.NdisInterlockedInsertTailList!,
  NdisInterlockedRemoveHeadList: ddiIrql.NdisInterlockedRemoveHeadList!,
};

function ownerOf(h: ServiceHandle | ProtocolDriverBlock): Owner {
  if (h instanceof ProtocolDriverBlock) return { kind: 'protocolDriver', driver: h };
  if (h instanceof MiniportDriverBlock) return { kind: 'driver', driver: h };
  if (h instanceof FilterModule) return { kind: 'module', module: h };
  if (h instanceof FilterDriverBlock) return { kind: 'filterDriver', driver: h };
  return { kind: 'adapter', block: h };
}

function adapterName(o: Owner): string | null {
  return o.kind === 'adapter' ? o.block.name : o.kind === 'module' ? o.module.block.name : null;
}

/** Whose handle allocated the object, for a message: `filter module lwf@nic0`, `adapter nic0`. */
function ownerText(o: Owner): string {
  switch (o.kind) {
    case 'adapter':
      return `adapter ${o.block.name}`;
    case 'module':
      return `filter module ${o.module.name}`;
    case 'driver':
      return `miniport driver ${o.driver.name}`;
    case 'filterDriver':
      return `filter driver ${o.driver.name}`;
    case 'protocolDriver':
      return `protocol driver ${o.driver.name}`;
  }
}

/** The owner's handle is dead (its adapter halted, its filter module detached): the DDI stops. */
function staleOwner(n: Ndis, o: Owner, ddi: string): boolean {
  if (o.kind === 'adapter') return stale(o.block, ddi);
  return o.kind === 'module' && staleModule(o.module, ddi, n);
}

/** Traces a DDI on an object: its adapter, and the filter module that owns it, if one does. */
function traceObject(n: Ndis, ddi: string, o: Owner, data: Record<string, unknown>): Record<string, unknown> {
  if (o.kind === 'module') data.module = o.module.name;
  return n.traceDdi(ddi, ownerAdapter(o), data);
}

/**
 * The list of live timers the owner's teardown checks: the adapter's (halt), the
 * driver's (unload), the module's (FilterDetach), the filter driver's (its unload when
 * its service stops).
 */
function timerList(o: Owner, create: boolean): NdisTimerObject[] | null {
  switch (o.kind) {
    case 'adapter':
      return o.block.timers;
    case 'driver':
      if (create) o.driver.timers ??= [];
      return o.driver.timers;
    case 'module':
      if (create) o.module.timers ??= [];
      return o.module.timers;
    case 'filterDriver':
    case 'protocolDriver':
      if (create) o.driver.timers ??= [];
      return o.driver.timers;
  }
}

// ----------------------------------------------------------------- timers

/**
 * NDIS_STATUS NdisAllocateTimerObject(NdisHandle, TimerCharacteristics, *pTimerObject).
 * <= DISPATCH (R8.4). NdisHandle is an adapter or a driver handle.
 */
export function NdisAllocateTimerObject<T = unknown>(
  NdisHandle: NDIS_HANDLE,
  TimerCharacteristics: NDIS_TIMER_CHARACTERISTICS<T>,
): { Status: NDIS_STATUS; TimerObject: NDIS_TIMER_OBJECT_HANDLE<T> | null } {
  const ddi = 'NdisAllocateTimerObject';
  const h = serviceOrProtocolHandle(NdisHandle, ddi);
  const n = currentNdis(ddi);
  const owner = ownerOf(h);
  n.verifier.irql(irql.NdisAllocateTimerObject, ddi, adapterName(owner));
  if (owner.kind !== 'driver' && staleOwner(n, owner, ddi))
    return { Status: NDIS_STATUS_FAILURE, TimerObject: null };
  const c = TimerCharacteristics as unknown as NDIS_TIMER_CHARACTERISTICS;
  if (
    c.Header.Type !== NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS ||
    c.Header.Revision !== NDIS_TIMER_CHARACTERISTICS_REVISION_1 ||
    typeof c.TimerFunction !== 'function'
  ) {
    return { Status: NDIS_STATUS_BAD_CHARACTERISTICS, TimerObject: null };
  }
  const t = new NdisTimerObject(n, owner, { ...c }, ownerDriverName(owner));
  timerList(owner, true)?.push(t);
  if (n.trace.on) traceObject(n, ddi, owner, { result: NDIS_STATUS_SUCCESS });
  return { Status: NDIS_STATUS_SUCCESS, TimerObject: t as unknown as NDIS_TIMER_OBJECT_HANDLE<T> };
}

function timerOf(x: unknown, ddi: string): NdisTimerObject {
  if (x instanceof NdisTimerObject) {
    if (x.freed) {
      return x.ndis.verifier.fatal(
        'NdisSim_ObjectFreedInUse',
        ddi,
        adapterName(x.owner),
        `${ddi} on a freed timer`,
      );
    }
    return x;
  }
  return currentNdis(ddi).verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: not a timer object`);
}

/**
 * BOOLEAN NdisSetTimerObject(TimerObject, DueTime, MillisecondsPeriod, FunctionContext).
 * <= DISPATCH. DueTime in 100 ns units: negative is relative, otherwise an absolute
 * system time (NdisGetCurrentSystemTime's scale, from 1601); one already past fires at
 * once. Returns TRUE if the timer was already queued (R8.5).
 */
export function NdisSetTimerObject<T = unknown>(
  TimerObject: NDIS_TIMER_OBJECT_HANDLE<T>,
  DueTime: number,
  MillisecondsPeriod: number,
  FunctionContext: NoInfer<T>,
): boolean {
  return setTimerObject('NdisSetTimerObject', TimerObject, DueTime, MillisecondsPeriod, FunctionContext, 0);
}

/**
 * BOOLEAN NdisSetCoalescableTimerObject(TimerObject, DueTime, MillisecondsPeriod,
 * FunctionContext, Tolerance). <= DISPATCH. NdisSetTimerObject with a Tolerance in ms:
 * the first expiry falls between DueTime - Tolerance and DueTime + Tolerance, and each
 * later one between MillisecondsPeriod - Tolerance and MillisecondsPeriod + Tolerance
 * after the one before. Where in that window is a choice (TimerSlack): on time, at
 * its start or at its end. Tolerance 0 is NdisSetTimerObject.
 */
export function NdisSetCoalescableTimerObject<T = unknown>(
  TimerObject: NDIS_TIMER_OBJECT_HANDLE<T>,
  DueTime: number,
  MillisecondsPeriod: number,
  FunctionContext: NoInfer<T>,
  Tolerance: number,
): boolean {
  return setTimerObject(
    'NdisSetCoalescableTimerObject',
    TimerObject,
    DueTime,
    MillisecondsPeriod,
    FunctionContext,
    Tolerance,
  );
}

/** MAXLONG (winnt.h): the largest MillisecondsPeriod the timer pages allow. */
const maxLong = 0x7fffffff;
/** 2^63: no LARGE_INTEGER lies further from 0 (the double nearest MAXLONGLONG). */
const maxLargeInteger = 2 ** 63;

/**
 * How a bad timer argument is named in its report. The API takes a LARGE_INTEGER as a
 * number, as NdisGetCurrentSystemTime returns one (docs/model.md, R8.4): a bigint, the
 * natural JavaScript type for a 64-bit value, is no bad value but the wrong type, and
 * "got -500000" would hide that, so it says so and which number to pass.
 */
function gotValue(v: unknown): string {
  return typeof v === 'bigint'
    ? `got the bigint ${v}n: the model takes a number, pass ${Number(v)}`
    : `got ${String(v)}`;
}

function setTimerObject(
  ddi: 'NdisSetTimerObject' | 'NdisSetCoalescableTimerObject',
  TimerObject: NDIS_HANDLE,
  DueTime: number,
  MillisecondsPeriod: number,
  FunctionContext: unknown,
  Tolerance: number,
): boolean {
  const t = timerOf(TimerObject, ddi);
  const n = t.ndis;
  n.verifier.irql(irql[ddi], ddi, adapterName(t.owner));
  // Both pages: MillisecondsPeriod is at most MAXLONG, and 0 for a one-shot timer.
  if (!Number.isInteger(MillisecondsPeriod) || MillisecondsPeriod < 0 || MillisecondsPeriod > maxLong)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapterName(t.owner),
      `${ddi}: MillisecondsPeriod is a count of milliseconds from 0 (one-shot) to MAXLONG, ${gotValue(MillisecondsPeriod)}`,
    );
  // DueTime is a LARGE_INTEGER: a whole count of 100 ns units within a signed 64-bit
  // value. NaN, a fraction or an infinity has no C value, and would leave the timer's
  // expiry undefined.
  if (!Number.isInteger(DueTime) || Math.abs(DueTime) > maxLargeInteger)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapterName(t.owner),
      `${ddi}: DueTime is a LARGE_INTEGER count of 100 ns units (negative relative, otherwise absolute), ${gotValue(DueTime)}`,
    );
  if (!Number.isInteger(Tolerance) || Tolerance < 0 || Tolerance > 0xffffffff)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapterName(t.owner),
      `${ddi}: Tolerance is a ULONG count of milliseconds, ${gotValue(Tolerance)}`,
    );
  const now = n.now;
  // R8.5: an absolute DueTime at or before the current system time is due now
  // (the kernel fires a timer whose due time has passed at once).
  const dueNs = DueTime < 0 ? now + -DueTime * 100 : Math.max(0, DueTime - systemTimeAtBoot) * 100;
  t.context = FunctionContext ?? t.chars.FunctionContext;
  t.periodic = MillisecondsPeriod > 0;
  t.k.coalescable = Tolerance > 0;
  t.k.toleranceNs = Tolerance * 1_000_000;
  // Where it was set, for a report at halt or unload (no formatting here: the hot path).
  t.setIn = n.runningFunction();
  t.setNs = now;
  const was = n.kernel.setTimer(t.k, dueNs, MillisecondsPeriod * 1_000_000);
  if (n.trace.on) {
    const args =
      ddi === 'NdisSetTimerObject'
        ? { DueTime, MillisecondsPeriod, result: was }
        : { DueTime, MillisecondsPeriod, Tolerance, result: was };
    traceObject(n, ddi, t.owner, args);
  }
  return was;
}

/**
 * BOOLEAN NdisCancelTimerObject(TimerObject). <= DISPATCH for a one-shot timer,
 * PASSIVE for a periodic one, which also waits for a callback already queued (R8.6).
 */
export function NdisCancelTimerObject(TimerObject: NDIS_TIMER_OBJECT_HANDLE): boolean {
  const ddi = 'NdisCancelTimerObject';
  const t = timerOf(TimerObject, ddi);
  const n = t.ndis;
  const spec = irql.NdisCancelTimerObject;
  if (t.periodic) n.verifier.irqlBound(spec, Irql.Passive, true, ddi, adapterName(t.owner), 'PeriodicTimer');
  else n.verifier.irql(spec, ddi, adapterName(t.owner));
  const tr = n.trace.on ? traceObject(n, ddi, t.owner, {}) : null;
  const was = n.kernel.cancelTimer(t.k);
  if (t.periodic && n.kernel.ctx.irql === Irql.Passive) n.kernel.flushDpc(t.k.dpc);
  if (tr !== null) tr.result = was;
  return was;
}

/** VOID NdisFreeTimerObject(TimerObject). <= DISPATCH; the timer must not be set. */
export function NdisFreeTimerObject(TimerObject: NDIS_TIMER_OBJECT_HANDLE): void {
  const ddi = 'NdisFreeTimerObject';
  const t = timerOf(TimerObject, ddi);
  const n = t.ndis;
  n.verifier.irql(irql.NdisFreeTimerObject, ddi, adapterName(t.owner));
  if (t.k.queued) {
    // Named as NdisSim_TimerNotFreed names a timer: whose, where allocated, when last set.
    n.verifier.report(
      'NdisSim_TimerFreedWhileSet',
      ddi,
      adapterName(t.owner),
      `timer of ${ownerText(t.owner)} freed while still set: ${t.story()}; cancel it (NdisCancelTimerObject) before freeing it (nf-ndis-ndisfreetimerobject)`,
    );
    n.kernel.cancelTimer(t.k);
  }
  if (t.k.dpc.queuedOn !== -1) {
    // R8.6: it expired and its callback is about to run; freeing it now is a use after free.
    n.verifier.report(
      'NdisSim_TimerFreedWhileSet',
      ddi,
      adapterName(t.owner),
      'timer freed while its expired callback was still queued to run (R8.6)',
    );
    n.kernel.dequeueDpc(t.k.dpc);
  }
  t.freed = true;
  const list = timerList(t.owner, false);
  if (list !== null) removeFrom(list, t);
  if (n.trace.on) traceObject(n, ddi, t.owner, {});
}

// ------------------------------------------------------------- work items

/**
 * NDIS_HANDLE NdisAllocateIoWorkItem(NdisObjectHandle). <= DISPATCH (R8.8). A miniport
 * passes its adapter or driver handle; a filter driver its filter driver handle (the
 * page's remarks name no filter module handle); either may pass the NdisDeviceHandle
 * of a device it registered with NdisRegisterDeviceEx, whose work item is the
 * registering driver's (freed by its unload, as one of the driver handle). Not a
 * protocol driver: NDIS ties no device or driver object to its NdisProtocolHandle (the
 * Note in the page's remarks); it uses IoAllocateWorkItem with its DRIVER_OBJECT.
 */
export function NdisAllocateIoWorkItem(NdisObjectHandle: NDIS_HANDLE): NDIS_HANDLE | null {
  const ddi = 'NdisAllocateIoWorkItem';
  if (NdisObjectHandle instanceof ProtocolDriverBlock)
    currentNdis(ddi).verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: ${NdisObjectHandle.name} passed its NdisProtocolHandle; NDIS ties no device or driver object to a protocol driver, which uses IoAllocateWorkItem with its DRIVER_OBJECT instead (nf-ndis-ndisallocateioworkitem)`,
    );
  const h = serviceHandle(deviceOwnerOf(NdisObjectHandle, ddi), ddi, false);
  const n = currentNdis(ddi);
  const owner = ownerOf(h);
  n.verifier.irql(irql.NdisAllocateIoWorkItem, ddi, adapterName(owner));
  if (owner.kind === 'adapter' && stale(owner.block, ddi)) return null;
  const w = new NdisIoWorkItem(n, owner, ownerDriverName(owner));
  if (owner.kind === 'adapter') owner.block.workItems.push(w);
  else if (owner.kind === 'driver' || owner.kind === 'filterDriver' || owner.kind === 'protocolDriver') {
    if (owner.driver.workItems === null) owner.driver.workItems = [w];
    else owner.driver.workItems.push(w);
  }
  if (n.trace.on) traceObject(n, ddi, owner, {});
  return w;
}

/** The driver of an NdisDeviceHandle (its device object is deleted once deregistered); other handles as they are. */
function deviceOwnerOf(h: unknown, ddi: string): unknown {
  if (!(h instanceof ControlDevice)) return h;
  if (h.deregistered)
    currentNdis(ddi).verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      null,
      h.owner instanceof IoDriver
        ? `${ddi} with the device object of ${h.name}, deleted already (IoDeleteDevice)`
        : `${ddi} with the NdisDeviceHandle of ${h.name}, deregistered already (NdisDeregisterDeviceEx deleted its device object)`,
    );
  return h.owner;
}

function workItemOf(x: unknown, ddi: string): NdisIoWorkItem {
  if (x instanceof NdisIoWorkItem && !(x instanceof IoWorkItem)) {
    if (x.freed) {
      return x.ndis.verifier.fatal(
        'NdisSim_ObjectFreedInUse',
        ddi,
        adapterName(x.owner),
        `${ddi} on a freed work item`,
      );
    }
    return x;
  }
  return currentNdis(ddi).verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    x instanceof IoWorkItem
      ? `${ddi}: an IO_WORKITEM of IoAllocateWorkItem is not an NDIS I/O work item handle (IoQueueWorkItem, IoFreeWorkItem take it)`
      : `${ddi}: not an I/O work item handle`,
  );
}

/** VOID NdisQueueIoWorkItem(NdisIoWorkItemHandle, Routine, WorkItemContext). <= DISPATCH (R8.9). */
export function NdisQueueIoWorkItem<T = unknown>(
  NdisIoWorkItemHandle: NDIS_HANDLE,
  Routine: NDIS_IO_WORKITEM_FUNCTION<T>,
  WorkItemContext: T,
): void {
  const ddi = 'NdisQueueIoWorkItem';
  const w = workItemOf(NdisIoWorkItemHandle, ddi);
  const n = w.ndis;
  n.verifier.irql(irql.NdisQueueIoWorkItem, ddi, adapterName(w.owner));
  if (w.k.queued) {
    n.verifier.report(
      'NdisSim_WorkItemRequeued',
      ddi,
      adapterName(w.owner),
      'NdisQueueIoWorkItem: the work item is still queued, its routine not run yet; this call is ignored (R8.9)',
    );
    return;
  }
  if (typeof Routine !== 'function') {
    // A NULL routine would be called, and crash, in the worker thread.
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapterName(w.owner),
      `${ddi}: Routine is not a function (got ${Routine === null ? 'null' : typeof Routine})`,
    );
  }
  w.routine = Routine as NDIS_IO_WORKITEM_FUNCTION;
  w.context = WorkItemContext;
  w.queuedIn = n.runningFunction();
  w.queuedNs = n.now;
  // NdisAllocateIoWorkItem wraps IoAllocateWorkItem with the object its handle stands
  // for: an item of the driver handle or of a device holds the driver as an IO_WORKITEM does.
  queueHoldingDriver(n, w);
  if (n.trace.on) traceObject(n, ddi, w.owner, {});
}

/** VOID NdisFreeIoWorkItem(NdisIoWorkItemHandle). <= DISPATCH. */
export function NdisFreeIoWorkItem(NdisIoWorkItemHandle: NDIS_HANDLE): void {
  const ddi = 'NdisFreeIoWorkItem';
  const w = workItemOf(NdisIoWorkItemHandle, ddi);
  const n = w.ndis;
  n.verifier.irql(irql.NdisFreeIoWorkItem, ddi, adapterName(w.owner));
  if (w.k.queued) {
    n.verifier.report(
      'NdisSim_WorkItemFreedWhileQueued',
      ddi,
      adapterName(w.owner),
      'NdisFreeIoWorkItem: the work item is still queued, its routine not run yet (R8.8, R8.9); its run is dropped',
    );
    n.kernel.cancelWork(w.k);
    n.releaseIoWorkItem(w);
  }
  w.freed = true;
  if (w.owner.kind === 'adapter') removeFrom(w.owner.block.workItems, w);
  else if (w.owner.kind === 'driver' || w.owner.kind === 'filterDriver' || w.owner.kind === 'protocolDriver')
    removeFrom(w.owner.driver.workItems ?? [], w);
  if (n.trace.on) traceObject(n, ddi, w.owner, {});
}

// ------------------------------------------------------------- WDM work items
//
// IoAllocateWorkItem, IoQueueWorkItem, IoQueueWorkItemEx, IoFreeWorkItem (wdm.h): the
// work items of any driver that has its own DRIVER_OBJECT, and the only ones a protocol
// driver has (nf-ndis-ndisallocateioworkitem, Note). They are not NDIS DDIs, so the
// generated IRQL table (irql.json) has none of them: each page says <= DISPATCH_LEVEL.
// The routine runs at PASSIVE in a system worker thread (System Worker Threads), on the
// kernel's work queue as NDIS work items do.

/**
 * The driver an IoObject belongs to: a DRIVER_OBJECT a DriverEntry got (of a miniport,
 * filter or protocol driver registered with NDIS), or the DEVICE_OBJECT of a device the
 * driver registered with NdisRegisterDeviceEx. The model has no other device object a
 * driver owns (NdisMGetDeviceProperty's are NDIS's and the bus's): not modelled.
 */
function ioObjectOwner(n: Ndis, o: unknown, ddi: string): { owner: Owner; driverObject: boolean } {
  if (o instanceof ControlDeviceObject) {
    const d = deviceOwnerOf(o.device, ddi) as MiniportDriverBlock | FilterDriverBlock | IoDriver;
    if (!(d instanceof IoDriver)) return { owner: ownerOf(d), driverObject: false };
    // A protocol driver's own device (IoCreateDevice): the item is the protocol driver's.
    for (const p of n.protocolDrivers?.values() ?? [])
      if (p.driverObject === d.driverObject && !p.unloaded) return { owner: ownerOf(p), driverObject: false };
    throw new NotModelledError(
      ddi,
      `a work item of ${o.device.name} before its driver registered with NDIS (allocate it after NdisRegisterProtocolDriver)`,
    );
  }
  if (o !== null && typeof o === 'object' && !('__ndisHandle' in o)) {
    for (const d of n.drivers.values())
      if (d.driverObject === o) return { owner: ownerOf(d), driverObject: true };
    for (const d of n.filterDrivers.values())
      if (d.driverObject === o && !d.unloaded) return { owner: ownerOf(d), driverObject: true };
    for (const d of n.protocolDrivers?.values() ?? [])
      if (d.driverObject === o && !d.unloaded) return { owner: ownerOf(d), driverObject: true };
    // The caller's own DRIVER_OBJECT, in its DriverEntry before it registered with NDIS:
    // legal on Windows, but the model keeps work items in the NDIS driver's record.
    if (o === n.loadingObject)
      throw new NotModelledError(
        ddi,
        `a work item of the DRIVER_OBJECT before DriverEntry registered the driver with NDIS (allocate it after NdisMRegisterMiniportDriver, NdisFRegisterFilterDriver or NdisRegisterProtocolDriver)`,
      );
  }
  // NdisMGetDeviceProperty's FDO: NDIS makes it with the miniport's DRIVER_OBJECT, so it
  // is one of the caller's device objects, which the page allows; the model keeps work
  // items only of a DRIVER_OBJECT or an NdisRegisterDeviceEx device. The PDO is the bus
  // driver's, not the caller's.
  const role = o !== null && typeof o === 'object' ? (o as { role?: unknown }).role : undefined;
  if (role === 'FDO')
    throw new NotModelledError(
      ddi,
      'a work item of the FDO from NdisMGetDeviceProperty (use NdisAllocateIoWorkItem with the adapter handle, or the DRIVER_OBJECT)',
    );
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    role === 'PDO'
      ? `${ddi}: DeviceObject is the PDO from NdisMGetDeviceProperty, the bus driver's; the page takes the caller's own driver or device object`
      : `${ddi}: DeviceObject is neither the DRIVER_OBJECT of a loaded driver registered with NDIS nor the device object of an NdisRegisterDeviceEx device (other device objects are not modelled)`,
  );
}

function ioWorkItemOf(x: unknown, ddi: string): IoWorkItem {
  if (x instanceof IoWorkItem) {
    if (x.freed)
      return x.ndis.verifier.fatal('NdisSim_ObjectFreedInUse', ddi, null, `${ddi} on a freed IO_WORKITEM`);
    return x;
  }
  return currentNdis(ddi).verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    x instanceof NdisIoWorkItem
      ? `${ddi}: an NDIS I/O work item handle (NdisAllocateIoWorkItem) is not an IO_WORKITEM of IoAllocateWorkItem`
      : `${ddi}: not an IO_WORKITEM of IoAllocateWorkItem`,
  );
}

function ioObjectName(o: DRIVER_OBJECT | DEVICE_OBJECT): string {
  return o instanceof ControlDeviceObject ? o.device.name : (o as DRIVER_OBJECT).DriverName;
}

/**
 * PIO_WORKITEM IoAllocateWorkItem(DeviceObject). <= DISPATCH. DeviceObject: the caller's
 * DRIVER_OBJECT or one of its device objects (ioObjectOwner; another driver's is
 * NdisSim_BadParameter); a work item of a driver
 * object can go to IoQueueWorkItemEx only. The driver frees it with IoFreeWorkItem
 * before it unloads (NdisSim_WorkItemNotFreed, as for NDIS work items of a driver handle).
 */
export function IoAllocateWorkItem(DeviceObject: DRIVER_OBJECT | DEVICE_OBJECT): IO_WORKITEM | null {
  const ddi = 'IoAllocateWorkItem';
  const n = currentNdis(ddi);
  atMostDispatch(n, ddi);
  const { owner, driverObject } = ioObjectOwner(n, DeviceObject, ddi);
  const driver = ownerDriverName(owner);
  if (n.kernel.ctx.who !== driver)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: DeviceObject (${ioObjectName(DeviceObject)}) is ${driver}'s, not the caller's (${n.kernel.ctx.who}); the page takes the caller's own driver or device object`,
    );
  const w = new IoWorkItem(n, owner, driver, DeviceObject, driverObject);
  if (owner.kind === 'driver' || owner.kind === 'filterDriver' || owner.kind === 'protocolDriver') {
    if (owner.driver.workItems === null) owner.driver.workItems = [w];
    else owner.driver.workItems.push(w);
  }
  if (n.trace.on) traceObject(n, ddi, owner, { DeviceObject: ioObjectName(DeviceObject) });
  return w;
}

/** The driver block an IO_WORKITEM (or an NDIS work item of a driver or device handle) holds while queued. */
function ioDriver(w: NdisIoWorkItem): MiniportDriverBlock | FilterDriverBlock | ProtocolDriverBlock | null {
  const o = w.owner;
  return o.kind === 'driver' || o.kind === 'filterDriver' || o.kind === 'protocolDriver' ? o.driver : null;
}

function queueIoWorkItem(
  ddi: 'IoQueueWorkItem' | 'IoQueueWorkItemEx',
  IoWorkItem: IO_WORKITEM,
  WorkerRoutine: IO_WORKITEM_ROUTINE | IO_WORKITEM_ROUTINE_EX,
  QueueType: WORK_QUEUE_TYPE,
  Context: unknown,
): void {
  const w = ioWorkItemOf(IoWorkItem, ddi);
  const n = w.ndis;
  atMostDispatch(n, ddi);
  if (ddi === 'IoQueueWorkItem' && w.ofDriverObject)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: the work item was allocated with a DRIVER_OBJECT (${ioObjectName(w.ioObject)}); IoQueueWorkItem needs one of a device object, IoQueueWorkItemEx takes either (nf-wdm-ioallocateworkitem)`,
    );
  if (QueueType !== DelayedWorkQueue)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: QueueType ${QueueType}; drivers must specify DelayedWorkQueue (${ddi === 'IoQueueWorkItem' ? 'nf-wdm-ioqueueworkitem' : 'nf-wdm-ioqueueworkitemex'})`,
    );
  if (w.k.queued) {
    // System Worker Threads: never queue an item already in the queue.
    n.verifier.report(
      'NdisSim_WorkItemRequeued',
      ddi,
      null,
      `${ddi}: the work item is still queued, its routine not run yet; this call is ignored (System Worker Threads)`,
    );
    return;
  }
  if (typeof WorkerRoutine !== 'function')
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: WorkerRoutine is not a function (got ${WorkerRoutine === null ? 'null' : typeof WorkerRoutine})`,
    );
  w.ioRoutine = WorkerRoutine;
  w.ex = ddi === 'IoQueueWorkItemEx';
  w.context = Context;
  w.queuedIn = n.runningFunction();
  w.queuedNs = n.now;
  queueHoldingDriver(n, w);
  if (n.trace.on) traceObject(n, ddi, w.owner, {});
}

/**
 * Queues a work item. The queued item references its IoObject until its routine
 * returns, so its driver cannot unload meanwhile (releasing-driver-allocated-resources).
 */
function queueHoldingDriver(n: Ndis, w: NdisIoWorkItem): void {
  const d = ioDriver(w);
  if (!w.referenced && d !== null) {
    w.referenced = true;
    d.ioRefs++;
  }
  n.kernel.queueWork(w.k);
}

/** VOID IoQueueWorkItem(IoWorkItem, WorkerRoutine, QueueType, Context). <= DISPATCH. */
export function IoQueueWorkItem<T = unknown>(
  IoWorkItem: IO_WORKITEM,
  WorkerRoutine: IO_WORKITEM_ROUTINE<T>,
  QueueType: WORK_QUEUE_TYPE,
  Context: T,
): void {
  queueIoWorkItem('IoQueueWorkItem', IoWorkItem, WorkerRoutine as IO_WORKITEM_ROUTINE, QueueType, Context);
}

/** VOID IoQueueWorkItemEx(IoWorkItem, WorkerRoutine, QueueType, Context). <= DISPATCH. */
export function IoQueueWorkItemEx<T = unknown>(
  IoWorkItem: IO_WORKITEM,
  WorkerRoutine: IO_WORKITEM_ROUTINE_EX<T>,
  QueueType: WORK_QUEUE_TYPE,
  Context: T,
): void {
  queueIoWorkItem(
    'IoQueueWorkItemEx',
    IoWorkItem,
    WorkerRoutine as IO_WORKITEM_ROUTINE_EX,
    QueueType,
    Context,
  );
}

/**
 * VOID IoFreeWorkItem(IoWorkItem). <= DISPATCH. Only an item not queued: its routine may
 * free it (the system dequeues it first); a queued one is NdisSim_WorkItemFreedWhileQueued.
 */
export function IoFreeWorkItem(IoWorkItem: IO_WORKITEM): void {
  const ddi = 'IoFreeWorkItem';
  const w = ioWorkItemOf(IoWorkItem, ddi);
  const n = w.ndis;
  atMostDispatch(n, ddi);
  if (w.k.queued) {
    n.verifier.report(
      'NdisSim_WorkItemFreedWhileQueued',
      ddi,
      null,
      `${ddi}: the work item is still queued, its routine not run yet (nf-wdm-iofreeworkitem); its run is dropped`,
    );
    n.kernel.cancelWork(w.k);
    n.releaseIoWorkItem(w);
  }
  w.freed = true;
  const d = ioDriver(w);
  if (d !== null) removeFrom(d.workItems ?? [], w);
  if (n.trace.on) traceObject(n, ddi, w.owner, {});
}

// ------------------------------------------------------------- spin locks

/** VOID NdisAllocateSpinLock(SpinLock). Any IRQL. */
export function NdisAllocateSpinLock(SpinLock: NDIS_SPIN_LOCK): void {
  const n = currentNdis('NdisAllocateSpinLock');
  n.verifier.irql(irql.NdisAllocateSpinLock, 'NdisAllocateSpinLock', null);
  spinLockArg(n, 'NdisAllocateSpinLock', SpinLock);
  SpinLock._allocatedBy = whereNow(n);
  SpinLock._state = {
    owner: null,
    savedIrql: 0,
    raised: false,
    name: `spin lock #${n.nextSpinLockId++} (allocated by ${SpinLock._allocatedBy})`,
  };
  SpinLock._freed = false;
  SpinLock._balance = 0;
}

/** NULL or anything but an NDIS_SPIN_LOCK (the model's opaque variable) is NdisSim_BadParameter, not a TypeError. */
function spinLockArg(n: Ndis, ddi: string, l: unknown): void {
  if (!(l instanceof NDIS_SPIN_LOCK))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: SpinLock is not an NDIS_SPIN_LOCK, got ${l === null ? 'NULL' : typeof l === 'object' ? 'another object' : `${typeof l} ${String(l)}`}`,
    );
}

/** "flaky-nic in MiniportHaltEx (nic0)": the driver running, its call under way, and the adapter. */
function whereNow(n: Ndis): string {
  const fn = n.runningFunction();
  const adapter = n.runningAdapterName();
  return `${n.kernel.ctx.who}${fn === null ? '' : ` in ${fn}`}${adapter === null ? '' : ` (${adapter})`}`;
}

/** VOID NdisFreeSpinLock(SpinLock). Any IRQL; the lock must not be held. */
export function NdisFreeSpinLock(SpinLock: NDIS_SPIN_LOCK): void {
  const n = currentNdis('NdisFreeSpinLock');
  n.verifier.irql(irql.NdisFreeSpinLock, 'NdisFreeSpinLock', null);
  spinLockArg(n, 'NdisFreeSpinLock', SpinLock);
  if (SpinLock._state?.owner) {
    n.verifier.report('NdisSim_ObjectFreedInUse', 'NdisFreeSpinLock', null, 'spin lock freed while held');
  }
  SpinLock._freed = true;
  SpinLock._freedBy = whereNow(n);
  SpinLock._freedNs = n.now;
}

function lockState(n: Ndis, l: NDIS_SPIN_LOCK, ddi: string) {
  if (!(l instanceof NDIS_SPIN_LOCK) || l._state === null) {
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: spin lock not allocated (NdisAllocateSpinLock)${
        n.earlyAttach !== null
          ? `; NDIS is attaching a module inside NdisFRegisterFilterDriver of ${n.earlyAttach.install.name}, so what its DriverEntry sets up after that call has not run yet (initializing-a-filter-driver: be prepared for an immediate call to any FilterXxx function)`
          : ''
      }`,
    );
  }
  if (l._freed)
    n.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      null,
      `${ddi} on a freed spin lock: allocated by ${l._allocatedBy}, freed by ${l._freedBy} at ${fmtTime(l._freedNs)} (a use after free)`,
    );
  return l._state;
}

function acquire(n: Ndis, l: NDIS_SPIN_LOCK, ddi: string, rule: string, raise: boolean): void {
  const s = lockState(n, l, ddi);
  const ctx = n.kernel.ctx;
  if (s.owner !== null) {
    // Held by this context: a deadlock on the spot. Held by a context that is waiting: the same.
    n.verifier.report(
      rule,
      ddi,
      null,
      `${ddi} on a spin lock already held by ${s.owner === ctx ? 'the caller' : s.owner.who}`,
    );
    return;
  }
  ctx.take(s, raise);
  l._balance++;
}

function release(n: Ndis, l: NDIS_SPIN_LOCK, ddi: string, rule: string, lower: boolean): void {
  const s = lockState(n, l, ddi);
  const ctx = n.kernel.ctx;
  if (s.owner !== ctx) {
    n.verifier.report(rule, ddi, null, `${ddi} on a spin lock the caller does not hold`);
    return;
  }
  if (lower && s.raised && s.savedIrql < Irql.Dispatch) releasedOutOfOrder(ctx, s, ddi);
  ctx.drop(s);
  if (lower !== s.raised) {
    // R8.10: the pairs must match. The plain release would restore an IRQL the Dpr
    // acquire never saved; the Dpr release leaves the IRQL raised (the model does that).
    n.verifier.report(
      'NdisSim_SpinLockPairMismatch',
      ddi,
      null,
      `${ddi} on a spin lock taken with ${s.raised ? 'NdisAcquireSpinLock' : 'NdisDprAcquireSpinLock'} (R8.10)`,
    );
  }
  if (lower && s.raised) ctx.irql = s.savedIrql;
  l._balance--;
}

/**
 * R8.11 (synchronization-and-notification-in-network-drivers, "Avoiding Spin Lock
 * Problems"): locks are released in the reverse of the order they were acquired. A lock
 * released while one acquired after it is still held restores the IRQL its acquire saved,
 * below DISPATCH, and the later lock is held there. Nothing stops on the spot: the
 * locks acquired after `s` are marked, and the IRQL report that follows (the later
 * lock's release, now below DISPATCH) says what went wrong and names both locks.
 */
function releasedOutOfOrder(ctx: Context, s: LockState, ddi: string): void {
  const held = ctx.held;
  const at = held.lastIndexOf(s);
  for (let i = at + 1; i < held.length; i++) {
    const later = held[i]!;
    const a = s.name ?? 'a spin lock';
    const b = later.name ?? 'a spin lock';
    const saved = irqlNames[s.savedIrql];
    later.outOfOrder ??= `spin locks released out of order (R8.11): ${ddi} released ${a} while ${b}, acquired after it, was still held. That release went back to the ${saved} saved when ${lockNo(a)} was acquired, so ${lockNo(b)} was held at ${saved}`;
  }
}

/**
 * R8.11: what the release of a lock held after an out-of-order release says, if it was.
 * `lowers`: NdisReleaseSpinLock, which restores the IRQL its acquire saved (DISPATCH,
 * the earlier lock being held then); NdisDprReleaseSpinLock changes no IRQL.
 */
function outOfOrderRelease(l: NDIS_SPIN_LOCK, lowers: boolean): string | undefined {
  // Anything but an allocated lock is for release() to report (lockState), not to throw here.
  const s = l instanceof NDIS_SPIN_LOCK ? l._state : null;
  if (s === null || s.outOfOrder === undefined) return undefined;
  const it = lockNo(s.name ?? 'it');
  const then = lowers
    ? `releasing ${it} goes back to the DISPATCH saved when it was acquired and leaves the caller at DISPATCH, to fail later (IRQL_NOT_LESS_OR_EQUAL, synchronization-and-notification-in-network-drivers)`
    : `NdisDprReleaseSpinLock changes no IRQL, so the caller goes on below DISPATCH, where the code under ${it} already ran`;
  return `${s.outOfOrder}; ${then}. ${inReverse}`;
}

/** R8.11's advice, closing its messages. */
export const inReverse = 'Release spin locks in the reverse of the order they were acquired';

/** "spin lock #2" of "spin lock #2 (allocated by …)". */
function lockNo(name: string): string {
  const i = name.indexOf(' (');
  return i < 0 ? name : name.slice(0, i);
}

/** VOID NdisAcquireSpinLock(SpinLock). <= DISPATCH; raises to DISPATCH (R8.10). */
export function NdisAcquireSpinLock(SpinLock: NDIS_SPIN_LOCK): void {
  const n = currentNdis('NdisAcquireSpinLock');
  n.verifier.irql(irql.NdisAcquireSpinLock, 'NdisAcquireSpinLock', null);
  acquire(n, SpinLock, 'NdisAcquireSpinLock', 'SpinLock', true);
}

/** VOID NdisReleaseSpinLock(SpinLock). Restores the IRQL saved by the acquire. */
export function NdisReleaseSpinLock(SpinLock: NDIS_SPIN_LOCK): void {
  const n = currentNdis('NdisReleaseSpinLock');
  n.verifier.irql(irql.NdisReleaseSpinLock, 'NdisReleaseSpinLock', null, outOfOrderRelease(SpinLock, true));
  release(n, SpinLock, 'NdisReleaseSpinLock', 'SpinLockRelease', true);
}

/** VOID NdisDprAcquireSpinLock(SpinLock). Exactly DISPATCH; IRQL unchanged. */
export function NdisDprAcquireSpinLock(SpinLock: NDIS_SPIN_LOCK): void {
  const n = currentNdis('NdisDprAcquireSpinLock');
  n.verifier.irql(irql.NdisDprAcquireSpinLock, 'NdisDprAcquireSpinLock', null);
  acquire(n, SpinLock, 'NdisDprAcquireSpinLock', 'SpinLockDpr', false);
}

/** VOID NdisDprReleaseSpinLock(SpinLock). Exactly DISPATCH. */
export function NdisDprReleaseSpinLock(SpinLock: NDIS_SPIN_LOCK): void {
  const n = currentNdis('NdisDprReleaseSpinLock');
  n.verifier.irql(
    irql.NdisDprReleaseSpinLock,
    'NdisDprReleaseSpinLock',
    null,
    outOfOrderRelease(SpinLock, false),
  );
  release(n, SpinLock, 'NdisDprReleaseSpinLock', 'SpinLockDprRelease', false);
}

// ------------------------------------------------------- interlocked lists

/** VOID NdisInitializeListHead(ListHead): an empty list, its head linked to itself. Any IRQL. */
export function NdisInitializeListHead(ListHead: LIST_ENTRY): void {
  const ddi = 'NdisInitializeListHead';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisInitializeListHead, ddi, null);
  const head = listEntryOf(n, ddi, 'ListHead', ListHead);
  head.Flink = head;
  head.Blink = head;
  // Named for a corruption report (NdisSim_ListEntryCorruption), as spin locks are.
  n.listHeads ??= new WeakMap();
  n.listHeads.set(head, `list head #${n.nextListHeadId++} (initialized by ${whereNow(n)})`);
}

/** `x` if it is a LIST_ENTRY; else NdisSim_BadParameter naming the parameter and what it got. */
function listEntryOf(n: Ndis, ddi: string, param: 'ListHead' | 'ListEntry', x: unknown): LIST_ENTRY {
  if (x instanceof LIST_ENTRY) return x;
  const got =
    x === null
      ? 'NULL'
      : typeof x === 'object'
        ? `an object of type ${x.constructor?.name ?? 'Object'}`
        : `${typeof x} ${String(x)}`;
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: ${param} is not a LIST_ENTRY, got ${got}`,
  );
}

/**
 * The NdisInterlocked...List pages: the call takes `SpinLock` itself, raising to
 * DISPATCH (the IRQL stays where it is above DISPATCH: the table allows any level),
 * runs `op` under it and restores the IRQL. The lock is the kernel's own, so a lock
 * the caller already holds is `SpinLock` (a deadlock, R8.10), an unallocated or freed
 * one is reported as for NdisAcquireSpinLock, and while `op` runs the lock counts as
 * held (the trace line of the call shows DISPATCH). The head must have been
 * initialized with NdisInitializeListHead (the pages' remarks). `op` gets the head.
 */
function underListLock<T>(
  ddi: 'NdisInterlockedInsertHeadList' | 'NdisInterlockedInsertTailList' | 'NdisInterlockedRemoveHeadList',
  ListHead: LIST_ENTRY,
  SpinLock: NDIS_SPIN_LOCK,
  op: (head: LIST_ENTRY, lock: string | null) => T,
): T {
  const n = currentNdis(ddi);
  n.verifier.irql(irql[ddi], ddi, null);
  const head = listEntryOf(n, ddi, 'ListHead', ListHead);
  if (head.Flink === null || head.Blink === null)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: ListHead was never initialized with NdisInitializeListHead, which the page requires before any NdisInterlocked...List call`,
    );
  const s = lockState(n, SpinLock, ddi);
  const ctx = n.kernel.ctx;
  if (s.owner !== null) {
    n.verifier.report(
      'SpinLock',
      ddi,
      null,
      `${ddi} on a spin lock already held by ${s.owner === ctx ? 'the caller' : s.owner.who}: the call acquires it itself (R8.10)`,
    );
    return op(head, s.name ?? null);
  }
  const raise = ctx.irql <= Irql.Dispatch;
  ctx.take(s, raise);
  SpinLock._balance++;
  try {
    const result = op(head, s.name ?? null);
    if (n.trace.on)
      n.traceDdi(ddi, null, { SpinLock: s.name ?? null, returned: result === null ? 'NULL' : 'an entry' });
    return result;
  } finally {
    ctx.drop(s);
    if (raise) ctx.irql = s.savedIrql;
    SpinLock._balance--;
  }
}

/**
 * The two inserts: `ListEntry` goes first (`atHead`) or last, under the lock. Returns the
 * entry that was first (last) before, or NULL if the list was empty (the ExInterlocked
 * routine the ndis.h macro is; the NDIS page says a driver may convert the returned value
 * with CONTAINING_RECORD). Any IRQL.
 */
function insertList(
  ddi: 'NdisInterlockedInsertHeadList' | 'NdisInterlockedInsertTailList',
  ListHead: LIST_ENTRY,
  ListEntry: LIST_ENTRY,
  SpinLock: NDIS_SPIN_LOCK,
  atHead: boolean,
): LIST_ENTRY | null {
  return underListLock(ddi, ListHead, SpinLock, (head, lock) => {
    const n = currentNdis(ddi);
    const e = listEntryOf(n, ddi, 'ListEntry', ListEntry);
    // As wdm.h's InsertHeadList / InsertTailList: the entry's links are written, then the
    // neighbour on the head's side must point back at the head, or the call fails fast.
    // The entry itself is not looked at: one still on a list is linked in again, and its
    // old neighbours keep pointing at it, for a later call to find.
    if (atHead) {
      const next = head.Flink!;
      e.Flink = next;
      e.Blink = head;
      if (next.Blink !== head)
        listCorrupt(
          n,
          ddi,
          head,
          lock,
          `the head's Flink is ${linkText(n, next, head, e)}, whose Blink is ${linkText(n, next.Blink, head, e)}, not the head`,
        );
      next.Blink = e;
      head.Flink = e;
      return next === head ? null : next;
    }
    const prev = head.Blink!;
    e.Flink = head;
    e.Blink = prev;
    if (prev.Flink !== head)
      listCorrupt(
        n,
        ddi,
        head,
        lock,
        `the head's Blink is ${linkText(n, prev, head, e)}, whose Flink is ${linkText(n, prev.Flink, head, e)}, not the head`,
      );
    prev.Flink = e;
    head.Blink = e;
    return prev === head ? null : prev;
  });
}

/**
 * The kernel's fail fast in a checked list routine: KERNEL_SECURITY_CHECK_FAILURE with
 * FAST_FAIL_CORRUPT_LIST_ENTRY (bug-check-0x139 page). It stops the machine.
 */
function listCorrupt(n: Ndis, ddi: string, head: LIST_ENTRY, lock: string | null, found: string): never {
  return n.verifier.fatal(
    'NdisSim_ListEntryCorruption',
    ddi,
    null,
    `${ddi}: LIST_ENTRY corruption in ${n.listHeads?.get(head) ?? 'a list head'}${lock === null ? '' : ` under ${lock}`}: ${found}. The list's links no longer agree, as when an entry is inserted while it is still on this list or on another (its old neighbours keep pointing at it); the kernel's checked list routine fails fast`,
    ['trap frame of the fail fast', 'exception record of the fail fast', 0],
  );
}

/** What a link points at, for a corruption report: the head, the entry of the call, another list's head, or an entry. */
function linkText(
  n: Ndis,
  x: LIST_ENTRY | null,
  head: LIST_ENTRY,
  entry: LIST_ENTRY | null,
  entryIs = 'the entry being inserted',
): string {
  if (x === null) return 'NULL';
  if (x === head) return 'the head';
  if (x === entry) return entryIs;
  const name = n.listHeads?.get(x);
  if (name !== undefined) return name;
  const type = x.constructor?.name ?? 'LIST_ENTRY';
  const at = positionOn(head, x);
  return at === 0
    ? `an entry (${type}) the Flinks from the head do not reach`
    : `entry ${at} of the list (${type})`;
}

/** Bound on the walk `positionOn` makes along a list that may be corrupt (a cycle without the head). */
const listWalkMax = 100_000;

/** Where `x` is on the list, following Flinks from `head` (1: the first entry), or 0 if the walk does not reach it. For a corruption message only. */
function positionOn(head: LIST_ENTRY, x: LIST_ENTRY): number {
  let e = head.Flink;
  for (let i = 1; e !== null && e !== head && i <= listWalkMax; i++, e = e.Flink) if (e === x) return i;
  return 0;
}

/** PLIST_ENTRY NdisInterlockedInsertHeadList(ListHead, ListEntry, SpinLock): puts the entry first; returns the entry that was first, or NULL. Any IRQL. */
export function NdisInterlockedInsertHeadList(
  ListHead: LIST_ENTRY,
  ListEntry: LIST_ENTRY,
  SpinLock: NDIS_SPIN_LOCK,
): LIST_ENTRY | null {
  return insertList('NdisInterlockedInsertHeadList', ListHead, ListEntry, SpinLock, true);
}

/** PLIST_ENTRY NdisInterlockedInsertTailList(ListHead, ListEntry, SpinLock): puts the entry last; returns the entry that was last, or NULL. Any IRQL. */
export function NdisInterlockedInsertTailList(
  ListHead: LIST_ENTRY,
  ListEntry: LIST_ENTRY,
  SpinLock: NDIS_SPIN_LOCK,
): LIST_ENTRY | null {
  return insertList('NdisInterlockedInsertTailList', ListHead, ListEntry, SpinLock, false);
}

/** PLIST_ENTRY NdisInterlockedRemoveHeadList(ListHead, SpinLock): takes the first entry off the list and returns it, or NULL if the list is empty. Any IRQL. */
export function NdisInterlockedRemoveHeadList(
  ListHead: LIST_ENTRY,
  SpinLock: NDIS_SPIN_LOCK,
): LIST_ENTRY | null {
  const ddi = 'NdisInterlockedRemoveHeadList';
  return underListLock(ddi, ListHead, SpinLock, (head, lock) => {
    // ExInterlockedRemoveHeadList: NULL for an empty list, else wdm.h's RemoveHeadList,
    // which checks both links around the entry it takes off before it unlinks it.
    const first = head.Flink!;
    if (first === head) return null;
    const next = first.Flink;
    if (first.Blink !== head) {
      const n = currentNdis(ddi);
      listCorrupt(
        n,
        ddi,
        head,
        lock,
        `the first entry (${first.constructor?.name ?? 'LIST_ENTRY'}) has Blink ${linkText(n, first.Blink, head, first, 'pointing to itself')}, not the head`,
      );
    }
    if (next === null || next.Blink !== first) {
      const n = currentNdis(ddi);
      listCorrupt(
        n,
        ddi,
        head,
        lock,
        `the first entry (${first.constructor?.name ?? 'LIST_ENTRY'}) has Flink ${linkText(n, next, head, first, 'pointing to itself')}, whose Blink is ${next === null ? 'unreadable' : linkText(n, next.Blink, head, first, 'that first entry')}, not that entry`,
      );
    }
    head.Flink = next;
    next.Blink = head;
    return first;
  });
}

// ------------------------------------------------------------- interrupts

/**
 * NDIS_STATUS NdisMRegisterInterruptEx(MiniportAdapterHandle, MiniportInterruptContext,
 * MiniportInterruptCharacteristics, *NdisInterruptHandle). PASSIVE.
 */
export function NdisMRegisterInterruptEx<C = unknown>(
  MiniportAdapterHandle: NDIS_HANDLE,
  MiniportInterruptContext: C,
  MiniportInterruptCharacteristics: NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<C>,
): { Status: NDIS_STATUS; NdisInterruptHandle: NDIS_HANDLE | null } {
  const ddi = 'NdisMRegisterInterruptEx';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMRegisterInterruptEx, ddi, b.name);
  if (stale(b, ddi)) return { Status: NDIS_STATUS_FAILURE, NdisInterruptHandle: null };
  // R2.7: the NdisMRegisterInterruptEx page has the miniport register its interrupt from
  // MiniportInitializeEx. Above PASSIVE the IRQL report just made already covers it.
  if (n.kernel.ctx.irql === Irql.Passive && !n.insideCallback(b, 'MiniportInitializeEx')) {
    n.verifier.report(
      'NdisSim_InterruptOutsideInitHalt',
      ddi,
      b.name,
      `${ddi} outside MiniportInitializeEx, where its documentation has a miniport register its interrupt (R2.7)`,
    );
  }
  if (b.inInitialize) claimsHardware(b, ddi);
  const c = MiniportInterruptCharacteristics as unknown as NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS;
  const line = b.dev.resources?.line ?? null;
  // The page: the driver must give all four line service functions (the ISR, the DPC,
  // MiniportDisableInterruptEx, MiniportEnableInterruptEx), and the characteristics page
  // the Header NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, NDIS_MINIPORT_INTERRUPT_REVISION_1.
  // MsiSupported TRUE: the characteristics page has the driver give the four MSI service
  // functions too. The NdisMRegisterInterruptEx page names no status for their lack,
  // so NDIS_STATUS_BAD_CHARACTERISTICS. (NDIS never calls the enable and disable
  // handlers in the model, but a driver that leaves them out is wrong all the same.)
  const msiSupported = c.MsiSupported === true;
  let status: number = NDIS_STATUS_SUCCESS;
  let handle: NdisInterrupt | null = null;
  if (
    c.Header.Type !== NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT ||
    c.Header.Revision !== NDIS_MINIPORT_INTERRUPT_REVISION_1 ||
    typeof c.InterruptHandler !== 'function' ||
    typeof c.InterruptDpcHandler !== 'function' ||
    typeof c.DisableInterruptHandler !== 'function' ||
    typeof c.EnableInterruptHandler !== 'function' ||
    (msiSupported &&
      (typeof c.MessageInterruptHandler !== 'function' ||
        typeof c.MessageInterruptDpcHandler !== 'function' ||
        typeof c.DisableMessageInterruptHandler !== 'function' ||
        typeof c.EnableMessageInterruptHandler !== 'function'))
  ) {
    status = NDIS_STATUS_BAD_CHARACTERISTICS;
  } else if (line === null || (b.interrupt !== null && !b.interrupt.deregistered)) {
    status = NDIS_STATUS_RESOURCES;
  } else {
    handle = new NdisInterrupt(n, b, MiniportInterruptContext, { ...c }, line, b.driver.name);
    const msi = msiSupported ? (b.dev.resources?.msi ?? null) : null;
    // The out-members go into the driver's own structure, as NDIS writes them in C.
    const out = MiniportInterruptCharacteristics as unknown as NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS;
    if (msi === null) {
      // No messages to grant: line-based, "even if the driver supports MSI".
      line.connect(handle.k);
      out.InterruptType = NDIS_CONNECT_LINE_BASED;
      out.MessageInfoTable = null;
    } else {
      out.InterruptType = NDIS_CONNECT_MESSAGE_BASED;
      out.MessageInfoTable = connectMessages(handle, msi);
    }
    b.interrupt = handle;
  }
  if (n.trace.on) {
    // A line-based registration traces as it always has, MsiSupported or not.
    const data: Record<string, unknown> = { result: status };
    if (handle?.messages) {
      data.InterruptType = 'NDIS_CONNECT_MESSAGE_BASED';
      data.MessageCount = handle.messages.length;
    }
    n.traceDdi(ddi, b, data);
  }
  return { Status: status, NdisInterruptHandle: handle };
}

/** Base of the SimNics' MSI message data: the low bits name the message. */
const msiDataBase = 0x4000;
/** The x86 message address window (destination fields zero): where a message is written. */
const msiAddress = 0xfee0_0000;

/**
 * Connects one interrupt object per message of the device and returns the
 * IO_INTERRUPT_MESSAGE_INFO table NDIS hands the driver: one entry per MessageId, each
 * latched (messages are edges) at the model's one DIRQL, which is also UnifiedIrql.
 * MSI messages share one address and differ in the low bits of their data; MSI-X
 * messages each have their own address ("Introduction to Message-Signaled Interrupts").
 */
function connectMessages(i: NdisInterrupt, msi: MessageInterrupts): IO_INTERRUPT_MESSAGE_INFO {
  const messages: NdisMessage[] = [];
  const MessageInfo: IO_INTERRUPT_MESSAGE_INFO_ENTRY[] = [];
  const TargetProcessorSet = affinityOf(i.ndis.kernel.cpuCount);
  for (let id = 0; id < msi.count; id++) {
    const m = new NdisMessage(i, id, i.k.who);
    messages.push(m);
    MessageInfo.push({
      MessageAddress: msi.msix ? msiAddress + 0x10 * id : msiAddress,
      TargetProcessorSet,
      InterruptObject: m.k,
      MessageData: msiDataBase + id,
      Vector: msi.vectorBase + id,
      Irql: Irql.Dirql,
      Mode: Latched,
      Polarity: InterruptRisingEdge,
    });
  }
  i.msi = msi;
  i.messages = messages;
  i.messageInfo = { UnifiedIrql: Irql.Dirql, MessageCount: msi.count, MessageInfo };
  msi.connect(messages.map((m) => m.k));
  return i.messageInfo;
}

/**
 * The message `MessageId` of a message-based interrupt; null, reported, when the
 * interrupt's table has no such entry. A line-based interrupt ignores MessageId (its
 * pages: "NDIS ignores this parameter", "not used"): undefined.
 */
function messageOf(i: NdisInterrupt, MessageId: number, ddi: string): NdisMessage | null | undefined {
  const ms = i.messages;
  if (ms === null) return undefined;
  const m = Number.isInteger(MessageId) ? ms[MessageId] : undefined;
  if (m !== undefined) return m;
  i.ndis.verifier.report(
    'NdisSim_MessageIdOutOfRange',
    ddi,
    i.block.name,
    `${ddi}(MessageId ${MessageId}): the interrupt's MessageInfoTable has ${ms.length} message(s), MessageId 0 to ${ms.length - 1}`,
  );
  return null;
}

function interruptOf(x: unknown, ddi: string): NdisInterrupt {
  if (x instanceof NdisInterrupt) return x;
  return currentNdis(ddi).verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: not an interrupt handle`,
  );
}

/** VOID NdisMDeregisterInterruptEx(NdisInterruptHandle). PASSIVE; DPCs already queued run first (R2.10). */
export function NdisMDeregisterInterruptEx(NdisInterruptHandle: NDIS_HANDLE): void {
  const ddi = 'NdisMDeregisterInterruptEx';
  const i = interruptOf(NdisInterruptHandle, ddi);
  const n = i.ndis;
  n.verifier.irql(irql.NdisMDeregisterInterruptEx, ddi, i.block.name);
  if (i.deregistered) {
    n.verifier.report('NdisMDeregisterInterruptEx', ddi, i.block.name, 'interrupt deregistered twice');
    return;
  }
  // R2.10: the NdisMDeregisterInterruptEx page names MiniportInitializeEx (its error
  // path) and MiniportHaltEx as the callers. Above PASSIVE the IRQL report covers it.
  const b = i.block;
  if (passiveOutsideInitHalt(n, b)) {
    n.verifier.report(
      'NdisSim_InterruptOutsideInitHalt',
      ddi,
      b.name,
      `${ddi} outside MiniportInitializeEx and MiniportHaltEx, the places its documentation allows (R2.10)`,
    );
  }
  if (n.trace.on) n.traceDdi(ddi, i.block, {});
  // Message-based: every message is disconnected (the device goes back to its line).
  if (i.msi !== null) i.msi.disconnect();
  else i.line.disconnect(i.k);
  i.line.orphan = i;
  // A DPC it runs here that queues a DPC of this interrupt again is reported
  // (NdisSim_QueueDpcDeregistered): none may run after this returns.
  i.deregistering = true;
  try {
    n.flushInterruptDpcs(i);
  } finally {
    i.deregistering = false;
  }
  i.deregistered = true;
}

/** The interrupt of a handle, its IRQL rule checked; null (reported) once deregistered. */
function liveInterrupt(h: NDIS_HANDLE, ddi: string, bound: DdiIrql): NdisInterrupt | null {
  const i = interruptOf(h, ddi);
  i.ndis.verifier.irql(bound, ddi, i.block.name);
  if (!i.deregistered) return i;
  i.ndis.verifier.report(
    'NdisMDeregisterInterruptEx',
    ddi,
    i.block.name,
    `${ddi} after NdisMDeregisterInterruptEx`,
  );
  return null;
}

/** The routines that run holding an interrupt's spin lock. */
const lockedRoutines = [
  'MiniportInterrupt',
  'MiniportMessageInterrupt',
  'MiniportSynchronizeInterrupt',
  'MiniportSynchronizeMessageInterrupt',
];

/**
 * BOOLEAN NdisMSynchronizeWithInterruptEx(NdisInterruptHandle, MessageId, SynchronizeFunction,
 * SynchronizeContext). Runs the function at the interrupt's DIRQL. Line-based, MessageId
 * is ignored; message-based, it names the message (MiniportSynchronizeMessageInterrupt),
 * and one past the table is reported and runs nothing (FALSE). Every ISR and
 * synchronized routine of the model runs whole, one at a time, so it is serialized with
 * every message whatever MsiSyncWithAllMessages says. A call from under the spin lock
 * it takes (the ISR, or a synchronized routine; per message without
 * MsiSyncWithAllMessages) is NdisSim_InterruptSyncDeadlock and runs nothing (FALSE).
 */
export function NdisMSynchronizeWithInterruptEx<T = unknown>(
  NdisInterruptHandle: NDIS_HANDLE,
  MessageId: number,
  SynchronizeFunction: MINIPORT_SYNCHRONIZE_INTERRUPT<T>,
  SynchronizeContext: T,
): boolean {
  const ddi = 'NdisMSynchronizeWithInterruptEx';
  const i = liveInterrupt(NdisInterruptHandle, ddi, irql.NdisMSynchronizeWithInterruptEx);
  if (i === null) return false;
  const n: Ndis = i.ndis;
  const m = i.messages === null ? null : (messageOf(i, MessageId, ddi) ?? null);
  if (i.messages !== null && m === null) return false;
  // R8.10: the routine runs under the interrupt's spin lock, which its holder cannot take again.
  const lock = interruptLock(i, m);
  if (lock.lockHeld) {
    n.verifier.report(
      'NdisSim_InterruptSyncDeadlock',
      ddi,
      i.block.name,
      `${ddi} called while the caller holds the spin lock it takes (inside ${n.runningCallbackOf(i.block.driver.name, lockedRoutines) ?? 'the ISR or a synchronized routine'}${m === null ? '' : ` of message ${m.MessageId}`}): on Windows the processor spins on that lock for ever; the routine is not run`,
    );
    return false;
  }
  let f: ReturnType<Ndis['enter']>;
  if (m === null) {
    f = n.enter(i.block, i.block.driver.name, 'MiniportSynchronizeInterrupt', Irql.Dirql);
  } else {
    f = n.enter(
      i.block,
      i.block.driver.name,
      'MiniportSynchronizeMessageInterrupt',
      Irql.Dirql,
      n.trace.on ? { MessageId } : undefined,
    );
  }
  let r: boolean;
  lock.lockHeld = true;
  try {
    r = SynchronizeFunction(SynchronizeContext);
  } catch (e) {
    n.driverThrew(e, 'MiniportSynchronizeInterrupt', i.block);
  } finally {
    lock.lockHeld = false;
  }
  n.leave(f, r);
  return r;
}

/** GROUP_AFFINITY: a processor group and a bitmap of its processors (the model has group 0 only). */
export interface GROUP_AFFINITY {
  Mask: number;
  Group: number;
}

/**
 * KAFFINITY NdisMQueueDpcEx(NdisInterruptHandle, MessageId, TargetProcessors,
 * MiniportDpcContext). Any IRQL (NDIS 6.20). Queues the interrupt's DPC on each CPU of
 * TargetProcessors, where MiniportInterruptDPC gets MiniportDpcContext; returns the CPUs
 * it queued on. A CPU whose DPC is still queued is left out (and keeps its context).
 * Line-based, MessageId is not used (callers pass 0); message-based, the DPCs are those
 * of message MessageId (MiniportMessageInterruptDPC), and one past the table is
 * reported and queues nothing.
 */
export function NdisMQueueDpcEx(
  NdisInterruptHandle: NDIS_HANDLE,
  MessageId: number,
  TargetProcessors: GROUP_AFFINITY,
  MiniportDpcContext: unknown,
): number {
  return queueInterruptDpcs(
    'NdisMQueueDpcEx',
    NdisInterruptHandle,
    MessageId,
    TargetProcessors?.Group === 0 ? TargetProcessors.Mask : 0,
    MiniportDpcContext,
    TargetProcessors ?? null,
  );
}

/**
 * KAFFINITY NdisMQueueDpc(NdisInterruptHandle, MessageId, TargetProcessors,
 * MiniportDpcContext). Any IRQL (NDIS 6.0). NdisMQueueDpcEx before processor groups:
 * TargetProcessors is a plain bitmap of the CPUs (group 0 here), and the call returns
 * the CPUs whose DPC it queued; a CPU whose DPC was still queued is left out.
 */
export function NdisMQueueDpc(
  NdisInterruptHandle: NDIS_HANDLE,
  MessageId: number,
  TargetProcessors: number,
  MiniportDpcContext: unknown,
): number {
  return queueInterruptDpcs(
    'NdisMQueueDpc',
    NdisInterruptHandle,
    MessageId,
    TargetProcessors,
    MiniportDpcContext,
  );
}

function queueInterruptDpcs(
  ddi: 'NdisMQueueDpc' | 'NdisMQueueDpcEx',
  handle: NDIS_HANDLE,
  messageId: number,
  mask: number,
  context: unknown,
  affinity?: GROUP_AFFINITY | null,
): number {
  const i = interruptOf(handle, ddi);
  const n: Ndis = i.ndis;
  n.verifier.irql(irql[ddi], ddi, i.block.name);
  if (i.deregistered || i.deregistering) {
    // After NdisMDeregisterInterruptEx returns NDIS calls no MiniportInterruptDPC (its
    // page), and the interrupt object is freed: on Windows a use after free. From a DPC
    // that the deregistration runs before it returns, the DPC could only run after it,
    // so the "scheduled" answer would be a lie. Nothing is queued; the call returns 0.
    n.verifier.report(
      'NdisSim_QueueDpcDeregistered',
      ddi,
      i.block.name,
      i.deregistered
        ? `${ddi} on an interrupt deregistered with NdisMDeregisterInterruptEx: nothing is queued (R2.10)`
        : `${ddi} from a DPC that NdisMDeregisterInterruptEx runs before it returns: no MiniportInterruptDPC may run after it returns, so nothing is queued (R2.10)`,
    );
    if (n.trace.on) n.traceDdi(ddi, i.block, { result: 0 });
    return 0;
  }
  const k = n.kernel;
  // NdisMQueueDpcEx's TargetProcessors points to a GROUP_AFFINITY; NULL is no processor set.
  if (affinity === null || (affinity !== undefined && typeof affinity !== 'object'))
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      i.block.name,
      `${ddi}: TargetProcessors points to a GROUP_AFFINITY (Mask, Group), got ${String(affinity)}`,
    );
  // A KAFFINITY (NdisMQueueDpc: a ULONG) is a bitmap. A negative whole number is its
  // two's complement, as C converts it (JavaScript's ~0: every processor), which the
  // loop below reads bit by bit; NaN or a fraction is no bitmap, and NaN picked every CPU.
  const raw = affinity === undefined ? mask : affinity.Mask;
  if (!Number.isInteger(raw))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      i.block.name,
      `${ddi}: ${affinity === undefined ? 'TargetProcessors' : 'TargetProcessors->Mask'} is a bitmap of processors (bit n for processor n), got ${raw}`,
    );
  const m = messageOf(i, messageId, ddi);
  if (m === null) return 0;
  let queued = 0;
  const dpcs = m === undefined ? n.interruptDpcs(i) : n.messageDpcs(m);
  // A KAFFINITY of up to 53 CPUs fits a number exactly; the model allows 64 but
  // bitwise operators would cut it to 32, hence the division.
  for (let cpu = 0; cpu < Math.min(k.cpuCount, 53); cpu++) {
    if (Math.floor(mask / 2 ** cpu) % 2 === 0) continue;
    const d = dpcs[cpu]!;
    if (!k.queueDpc(d, cpu)) continue;
    i.dpcContexts ??= new Map();
    i.dpcContexts.set(d, context);
    queued += 2 ** cpu;
  }
  if (n.trace.on) {
    const args =
      affinity === undefined ? { TargetProcessors: mask } : { Mask: affinity.Mask, Group: affinity.Group };
    n.traceDdi(ddi, i.block, { ...args, result: queued });
  }
  return queued;
}

// ------------------------------------------------------- waits and time

/**
 * R8.12: both delays take an unsigned 32-bit count of microseconds (NdisMSleep a ULONG,
 * NdisStallExecution a UINT). In C a negative count wraps to over an hour, which the
 * model cannot mean by treating it as 0; a fraction has no C value at all. Either is
 * NdisSim_BadParameter (fatal), as NdisWaitEvent's MsToWait is.
 */
function microseconds(n: Ndis, ddi: string, param: string, us: number): void {
  if (!Number.isInteger(us) || us < 0 || us > 0xffffffff)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: ${param} is an unsigned 32-bit count of microseconds, got ${us}`,
    );
}

/** The longest delay the NdisMSleep page allows one call: 30 s (R8.12). */
const maxSleepUs = 30_000_000;
/** The longest wait MiniportResetEx may make before it returns (R4.13). */
const maxResetWaitUs = 50;

/**
 * VOID NdisMSleep(MicrosecondsToSleep). < DISPATCH. Blocks the calling thread: other
 * CPUs (and DPCs) go on meanwhile (R8.12).
 */
export function NdisMSleep(MicrosecondsToSleep: number): void {
  const n = currentNdis('NdisMSleep');
  n.verifier.irql(irql.NdisMSleep, 'NdisMSleep', null);
  microseconds(n, 'NdisMSleep', 'MicrosecondsToSleep', MicrosecondsToSleep);
  if (MicrosecondsToSleep > maxSleepUs) {
    // R8.12: the NdisMSleep page forbids a delay above 30 s; the thread still sleeps it.
    n.verifier.report(
      'NdisSim_SleepTooLong',
      'NdisMSleep',
      null,
      `NdisMSleep(${MicrosecondsToSleep}) asks for more than the 30,000,000 µs allowed (R8.12)`,
    );
  }
  if (MicrosecondsToSleep > maxResetWaitUs && n.kernel.ctx.irql === Irql.Passive) {
    // R4.13: MiniportResetEx may wait 50 µs at most; a longer wait is a timer and PENDING.
    // At DISPATCH the IRQL check above has already reported the sleep.
    const b = n.insideCallbackOf('MiniportResetEx');
    if (b !== null)
      n.verifier.report(
        'NdisSim_ResetBlocks',
        'NdisMSleep',
        b.name,
        `NdisMSleep(${MicrosecondsToSleep}) inside MiniportResetEx: a reset waits at most ${maxResetWaitUs} µs; for longer it sets a timer, returns NDIS_STATUS_PENDING and calls NdisMResetComplete (R4.13)`,
      );
  }
  const wake = n.now + MicrosecondsToSleep * 1000;
  const t = n.resumableHere();
  if (t !== null) {
    // A resumable routine's sleep is set aside when it yields (src/ndis/resumable.ts).
    if (n.trace.on)
      n.traceDdi('NdisMSleep', null, {
        MicrosecondsToSleep,
        thread: t.id,
        routine: t.describe(),
        until: wake,
      });
    n.resumablePending = { ddi: 'NdisMSleep', wakeNs: wake, event: null };
    return;
  }
  if (n.trace.on) n.traceDdi('NdisMSleep', null, { MicrosecondsToSleep });
  let due = n.checkCallbackWatchdog();
  n.beginWait(wake, 'NdisMSleep');
  try {
    // Driver Verifier's OID timers fire while this thread sleeps, each at its time (R6.6).
    while (due < wake) {
      n.kernel.machine.waitUntil(due);
      due = n.checkCallbackWatchdog();
    }
    n.kernel.machine.waitUntil(wake);
  } finally {
    n.endWait();
  }
  // The thread goes on at PASSIVE: its CPU's queued DPCs run first (docs/model.md).
  n.kernel.resumeBelowDispatch();
  n.checkCallbackWatchdog();
}

/** VOID NdisStallExecution(MicrosecondsToStall). Any IRQL, at most 50 µs (R8.12). */
export function NdisStallExecution(MicrosecondsToStall: number): void {
  const n = currentNdis('NdisStallExecution');
  n.verifier.irql(irql.NdisStallExecution, 'NdisStallExecution', null);
  microseconds(n, 'NdisStallExecution', 'MicrosecondsToStall', MicrosecondsToStall);
  if (MicrosecondsToStall > 50) {
    n.verifier.report(
      'NdisStallExecution_Delay',
      'NdisStallExecution',
      null,
      `NdisStallExecution(${MicrosecondsToStall}) spins longer than 50 µs (R8.12)`,
    );
  }
  // R4.13: the MINIPORT_RESET page allows a reset 50 µs of waiting; one that polls in
  // short stalls past that should set a timer and pend. Each call may be short.
  const rb = MicrosecondsToStall > 0 ? n.insideCallbackOf('MiniportResetEx') : null;
  if (rb !== null && rb.resetStallUs >= 0) {
    rb.resetStallUs += MicrosecondsToStall;
    if (rb.resetStallUs > maxResetWaitUs) {
      rb.resetStallUs = -1;
      n.verifier.report(
        'NdisSim_ResetBlocks',
        'NdisStallExecution',
        rb.name,
        `MiniportResetEx has stalled more than ${maxResetWaitUs} µs in all (NdisStallExecution): a reset that must wait or poll longer sets a timer, returns NDIS_STATUS_PENDING and calls NdisMResetComplete (R4.13)`,
      );
    }
  }
  spin(n, 'NdisStallExecution', MicrosecondsToStall * 1000);
}

/** What one register or port access costs a thread that polls: about a read across PCIe. */
const accessNs = 1_000;

/**
 * A register or port access by the running thread (R8.11). The model gives a
 * callback's code no time, its accesses included; a thread that has made
 * limits.accessesFreeMax of them without a blocking wait is polling, and each further
 * one spins 1 µs, so that a poll which never ends meets the DPC watchdog at DISPATCH,
 * NDIS's halt and pause watchdogs in MiniportHaltEx and MiniportPause, or the run's
 * end, as it would on Windows, rather than hanging the simulation.
 */
export function registerAccessed(n: Ndis, ddi: string): void {
  if (++n.kernel.ctx.accesses > limits.accessesFreeMax) spin(n, ddi, accessNs);
}

/**
 * The running thread busy-waits `spunNs` in `ddi`: the clock moves, nothing else runs.
 * At DISPATCH or above the time counts toward the DPC watchdog (R8.11: 0x133, parameter
 * 1 = 0, then the time and the allotment in 15.625 ms ticks); at any IRQL a callback
 * NDIS watches (MiniportHaltEx, MiniportPause, MiniportOidRequest) is checked against
 * its limit, as the watchdog's timer would on another CPU. A spin that reaches the
 * run's end ends the run, the thread still in the driver.
 */
function spin(n: Ndis, ddi: string, spunNs: number): void {
  const m = n.kernel.machine;
  // Below DISPATCH the spinning thread is preempted by the DPCs of its own CPU: they
  // run before the spin (Kernel.runQueuedDpcs), so a loop that stalls until its DPC
  // ran sees it run at its next check (docs/model.md "DPCs before PASSIVE work").
  n.kernel.resumeBelowDispatch();
  if (m.now + spunNs > m.limitNs) {
    n.spinningAtEnd ??= ddi;
    m.endInSpin();
  }
  const ctx = n.kernel.ctx;
  m.spin(spunNs);
  if (ctx.irql >= Irql.Dispatch) {
    ctx.raisedNs += spunNs;
    const limit = n.options.dpcWatchdogNs;
    if (ctx.raisedNs > limit) {
      n.verifier.fatal(
        'NdisSim_DpcWatchdog',
        ddi,
        null,
        `${ctx.who} has spun ${ctx.raisedNs / ns.s} s at ${ctx.irql === Irql.Dispatch ? 'DISPATCH' : 'DIRQL'} (the DPC watchdog allows ${limit / ns.s} s)`,
        [Math.ceil(ctx.raisedNs / dpcTickNs), Math.floor(limit / dpcTickNs), 0],
      );
    }
  }
  n.checkCallbackWatchdog();
}

/** The kernel's clock tick, the unit of DPC_WATCHDOG_VIOLATION's parameters. */
const dpcTickNs = 15_625_000;

/** VOID NdisGetSystemUpTimeEx(*pSystemUpTime): milliseconds since the machine started. */
export function NdisGetSystemUpTimeEx(): number {
  const n = currentNdis('NdisGetSystemUpTimeEx');
  return Math.floor(n.now / 1_000_000);
}

/**
 * The system time at which every simulated machine starts: 2026-01-01 00:00:00 UTC in
 * 100 ns units since 1601-01-01 (155,228 days of 86,400 s). A constant, not the wall
 * clock, so that runs stay deterministic (R8.5, docs/model.md).
 */
export const systemTimeAtBoot = 134_116_992_000_000_000;

/**
 * VOID NdisGetCurrentSystemTime(*pSystemTime): the system time, 100 ns units since
 * 1 January 1601 (KeQuerySystemTime's scale): the boot epoch plus the virtual time.
 * A double holds values of this size to 16 units (1.6 µs).
 */
export function NdisGetCurrentSystemTime(): number {
  const n = currentNdis('NdisGetCurrentSystemTime');
  return systemTimeAtBoot + Math.floor(n.now / 100);
}

// ------------------------------------------------------ IRQL and memory

const irqlRaise = ddiIrql.NDIS_RAISE_IRQL_TO_DISPATCH!;
const irqlLower = ddiIrql.NDIS_LOWER_IRQL!;
const irqlAllocMem = ddiIrql.NdisAllocateMemoryWithTagPriority!;
const irqlFreeMem = ddiIrql.NdisFreeMemoryWithTagPriority!;
const irqlFreeMemory = ddiIrql.NdisFreeMemory!;

/** NDIS_RAISE_IRQL_TO_DISPATCH(_pIrql): raises to DISPATCH; the old IRQL is returned. */
export function NDIS_RAISE_IRQL_TO_DISPATCH(): number {
  const n: Ndis = currentNdis('NDIS_RAISE_IRQL_TO_DISPATCH');
  n.verifier.irql(irqlRaise, 'NDIS_RAISE_IRQL_TO_DISPATCH', null);
  // A raise never lowers: above DISPATCH (reported just now) the IRQL stays where it is.
  const old = n.kernel.raise(Math.max(Irql.Dispatch, n.kernel.ctx.irql));
  n.kernel.ctx.raises.push(old);
  return old;
}

/**
 * NDIS_LOWER_IRQL(_OldIrql, _CurIrql): back to the IRQL the raise returned. The macro
 * calls KeLowerIrql(_OldIrql) only when the two arguments differ. Its page (and
 * KeLowerIrql's) makes it a fatal error to pass an _OldIrql that the immediately
 * preceding NDIS_RAISE_IRQL_TO_DISPATCH of the same code did not return: that is
 * Irql_IrqlSetting_Function, and inside a DPC, below DISPATCH, Driver Verifier's
 * 0xC4/0x31 with parameter 4 one. The IRQL still goes where the driver asked.
 */
export function NDIS_LOWER_IRQL(_OldIrql: number, _CurIrql: number): void {
  const ddi = 'NDIS_LOWER_IRQL';
  const n: Ndis = currentNdis(ddi);
  n.verifier.irql(irqlLower, ddi, null);
  // Both are KIRQLs (UCHAR): a value that is none would leave the processor at no IRQL.
  for (const [name, v] of [
    ['_OldIrql', _OldIrql],
    ['_CurIrql', _CurIrql],
  ] as const)
    if (!Number.isInteger(v) || v < 0 || v > 0xff)
      n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: ${name} is a KIRQL, got ${v}`);
  const ctx = n.kernel.ctx;
  const raised = ctx.raises.length === 0 ? null : ctx.raises[ctx.raises.length - 1]!;
  if (_OldIrql === _CurIrql) {
    // No KeLowerIrql: nothing to check, but the raise it pairs with is done with.
    if (raised === _OldIrql) ctx.raises.pop();
    return;
  }
  const cur = ctx.irql;
  if (_OldIrql > cur) {
    // KeLowerIrql to a higher IRQL than the caller is at: Driver Verifier's 0xC4/0x31,
    // parameter 2 the current IRQL, 3 the IRQL asked for, 4 zero (the new IRQL is bad).
    n.verifier.report(
      'Irql_IrqlSetting_Function',
      ddi,
      null,
      `NDIS_LOWER_IRQL(${_OldIrql}, ${_CurIrql}) at IRQL ${cur}: KeLowerIrql cannot go up`,
      [cur, _OldIrql, 0],
      { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x31 },
    );
    return;
  }
  if (raised !== null) ctx.raises.pop();
  if (raised !== _OldIrql) {
    const inDpc = ctx.kind === 'dpc' && _OldIrql < Irql.Dispatch;
    n.verifier.report(
      'Irql_IrqlSetting_Function',
      ddi,
      null,
      `NDIS_LOWER_IRQL(${irqlNames[_OldIrql] ?? _OldIrql}, ${irqlNames[_CurIrql] ?? _CurIrql}) at ${irqlNames[cur]}: ` +
        (raised === null
          ? 'no NDIS_RAISE_IRQL_TO_DISPATCH of this code is left to undo'
          : `the immediately preceding NDIS_RAISE_IRQL_TO_DISPATCH returned ${irqlNames[raised]}`) +
        '; the NDIS_LOWER_IRQL page makes any other _OldIrql a fatal error' +
        (inDpc ? ' (and a DPC routine may not go below DISPATCH_LEVEL)' : ''),
      inDpc ? [cur, _OldIrql, 1] : [],
      inDpc ? { code: BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION, p1: 0x31 } : undefined,
    );
  }
  n.kernel.lower(_OldIrql);
}

/**
 * NDIS's default pool tag, which the NdisAllocateMemoryWithTagPriority page names as
 * the C character constant 'maDN'. A tag here is the ULONG value the driver passes, as
 * in C (the test tag 'test' is 0x74657374), so 'maDN' is 0x6D61444E; pool tools show
 * its bytes in memory order, "NDam".
 */
const ndisDefaultTag = 0x6d61444e;

/** The largest single pool allocation the model grants (64 MiB); larger gets NULL. */
export const maxPoolBytes = 64 * 1024 * 1024;

/**
 * PVOID NdisAllocateMemoryWithTagPriority(NdisHandle, Length, Tag, Priority). <= DISPATCH.
 * Returns a zeroed buffer, or null. NdisHandle: an adapter or miniport driver handle, a
 * filter module's NdisFilterHandle, the filter driver handle, or a protocol driver's
 * NdisProtocolHandle or NdisBindingHandle (its driver's memory). Memory of a module
 * handle is the module's, freed by its FilterDetach (nc-ndis-filter_detach).
 */
export function NdisAllocateMemoryWithTagPriority(
  NdisHandle: NDIS_HANDLE,
  Length: number,
  Tag: number,
  _Priority: number,
): Uint8Array | null {
  const ddi = 'NdisAllocateMemoryWithTagPriority';
  const h = memoryHandle(NdisHandle, ddi);
  const n: Ndis = currentNdis(ddi);
  const b = handleAdapter(h);
  n.verifier.irql(irqlAllocMem, ddi, b?.name ?? null);
  if (h instanceof FilterModule && staleModule(h, ddi, n)) return null;
  if (NdisHandle instanceof Binding && staleBinding(n, NdisHandle, ddi)) return null;
  // SDV rule NdisAllocateMemoryWithTagPriority: the driver passes a tag of its own,
  // not zero and not NDIS's default (its page names 'maDN').
  if (Tag === 0 || Tag === ndisDefaultTag) {
    n.verifier.report(
      'NdisAllocateMemoryWithTagPriority',
      ddi,
      b?.name ?? null,
      `memory allocated without a pool tag of the driver's own (Tag 0x${Tag.toString(16)})`,
    );
  }
  if (!Number.isInteger(Length) || Length < 0 || Length > maxPoolBytes) return null;
  const mem = new Uint8Array(Length);
  n.allocations ??= new Map();
  if (h instanceof FilterModule) {
    h.poolCount++;
    n.allocations.set(mem, { tag: Tag, driver: h.driver, adapter: h.block.name, module: h });
  } else {
    n.allocations.set(mem, {
      tag: Tag,
      driver:
        h instanceof MiniportDriverBlock || h instanceof FilterDriverBlock || h instanceof ProtocolDriverBlock
          ? h
          : h.driver,
      adapter: b?.name ?? null,
    });
  }
  return mem;
}

/**
 * The handle of the two memory DDIs: as serviceOrProtocolHandle, and the pages also name
 * the NdisBindingHandle of NdisOpenAdapterEx, whose memory is its protocol driver's.
 */
function memoryHandle(h: unknown, ddi: string): ServiceHandle | ProtocolDriverBlock {
  if (h instanceof Binding && h.open !== null && h.protocol instanceof ProtocolDriverBlock) return h.protocol;
  return serviceOrProtocolHandle(h, ddi);
}

/** A binding handle after its NdisCloseAdapterEx is dead (R7.3): reported, true. */
function staleBinding(n: Ndis, bd: Binding, ddi: string): boolean {
  if (bd.open?.state !== 'closed') return false;
  n.verifier.report(
    'NdisSim_StaleHandle',
    ddi,
    bd.block.name,
    `${ddi} with the NdisBindingHandle of ${bd.name} after NdisCloseAdapterEx (nf-ndis-ndiscloseadapterex)`,
  );
  return true;
}

/** The adapter a handle stands for: its own, or a filter module's; null for a driver handle. */
function handleAdapter(h: ServiceHandle | ProtocolDriverBlock): MiniportBlock | null {
  if (h instanceof MiniportDriverBlock || h instanceof FilterDriverBlock || h instanceof ProtocolDriverBlock)
    return null;
  return h instanceof FilterModule ? h.block : h;
}

/**
 * The memory `d` allocated with NdisAllocateMemoryWithTagPriority and never freed:
 * how many allocations, their bytes, and the adapter of the first (null if it was made
 * with the driver handle).
 */
export function poolLeftBy(
  n: Ndis,
  d: MiniportDriverBlock | FilterDriverBlock | ProtocolDriverBlock,
): { count: number; bytes: number; adapter: string | null } {
  let count = 0;
  let bytes = 0;
  let adapter: string | null = null;
  if (n.allocations === null) return { count, bytes, adapter };
  for (const [mem, o] of n.allocations) {
    if (o.driver !== d) continue;
    if (count === 0) adapter = o.adapter;
    count++;
    bytes += mem.length;
  }
  return { count, bytes, adapter };
}

/** VOID NdisFreeMemoryWithTagPriority(NdisHandle, VirtualAddress, Tag). <= DISPATCH. */
export function NdisFreeMemoryWithTagPriority(
  NdisHandle: NDIS_HANDLE,
  VirtualAddress: Uint8Array,
  Tag: number,
): void {
  const ddi = 'NdisFreeMemoryWithTagPriority';
  const h = memoryHandle(NdisHandle, ddi);
  const n: Ndis = currentNdis(ddi);
  const b = handleAdapter(h);
  n.verifier.irql(irqlFreeMem, ddi, b?.name ?? null);
  // After halt (detach) the adapter (module) handle is dead (R2.8, R7.5): reported, and
  // the memory freed all the same.
  if (h instanceof FilterModule) staleModule(h, ddi, n);
  else if (b !== null) stale(b, ddi);
  else if (NdisHandle instanceof Binding) staleBinding(n, NdisHandle, ddi);
  // ExFreePoolWithTag underneath: the Tag must be the allocation's (the kernel's 0xC2/0x0A).
  const e = n.allocations?.get(VirtualAddress);
  if (e !== undefined && Tag >>> 0 !== e.tag >>> 0)
    n.verifier.report(
      'NdisSim_PoolTagMismatch',
      ddi,
      b?.name ?? null,
      `${ddi} with Tag ${tagText(Tag)}, but the memory was allocated with Tag ${tagText(e.tag)}: the free names the tag of the allocation (the memory may be another component's)`,
      [`${VirtualAddress.length}-byte pool block`, e.tag >>> 0, Tag >>> 0],
    );
  releasePool(n, VirtualAddress, ddi, b?.name ?? null);
}

/** A pool tag as C writes it: 0x74657374 is 'test' (pool tools show its bytes in memory order, "tset"). */
function tagText(tag: number): string {
  const t = tag >>> 0;
  let chars = '';
  for (let shift = 24; shift >= 0; shift -= 8) {
    const c = (t >>> shift) & 0xff;
    if (c < 0x20 || c > 0x7e) return `0x${t.toString(16).toUpperCase()}`;
    chars += String.fromCharCode(c);
  }
  return `'${chars}' (0x${t.toString(16).toUpperCase()})`;
}

/** Gives pool memory back; memory that is not allocated (freed twice?) is reported. */
function releasePool(n: Ndis, mem: Uint8Array, ddi: string, adapter: string | null): void {
  const e = n.allocations?.get(mem);
  if (e === undefined && n.instanceNames?.delete(mem) === true) return;
  if (e === undefined) {
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      adapter,
      `${ddi} of memory that is not allocated (freed twice?)`,
    );
    return;
  }
  n.allocations!.delete(mem);
  if (e.module !== undefined) e.module.poolCount--;
}

/** NdisFreeMemory's bound for MemoryFlags 0, the page's "neither contiguous nor noncached". */
const irqlFreeMemoryPlain =
  irqlFreeMemory.conditions?.find((c) => c.when.startsWith('neither')) ?? irqlFreeMemory;

/**
 * VOID NdisFreeMemory(VirtualAddress, Length, MemoryFlags). Frees memory from
 * NdisAllocateMemoryWithTagPriority, which is neither contiguous nor noncached: its
 * MemoryFlags must be 0, and then the page allows up to DISPATCH. Length is not used.
 * The contiguous and noncached kinds come from NdisAllocateMemory, which NDIS 6
 * miniports do not have; flags for them here are a parameter error.
 */
export function NdisFreeMemory(VirtualAddress: Uint8Array, _Length: number, MemoryFlags: number): void {
  const ddi = 'NdisFreeMemory';
  const n: Ndis = currentNdis(ddi);
  const adapter = n.allocations?.get(VirtualAddress)?.adapter ?? null;
  n.verifier.irqlBound(irqlFreeMemory, irqlFreeMemoryPlain.max, irqlFreeMemoryPlain.exact, ddi, adapter);
  if (MemoryFlags !== 0) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi} with MemoryFlags 0x${MemoryFlags.toString(16)}: memory from NdisAllocateMemoryWithTagPriority is freed with MemoryFlags 0`,
    );
    return;
  }
  releasePool(n, VirtualAddress, ddi, adapter);
}
