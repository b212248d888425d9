// A control device with an "inverted call" queue, whose requests the tool cancels:
//   ndis-sim explore examples/event-queue.yaml --runs 300
//
// event-queue registers a standalone device (NdisRegisterDeviceEx) in DriverEntry. A
// user-mode service opens \\.\EventQueue and keeps requests with IOCTL_EVENTQ_WAIT
// outstanding; the driver pends each one in its queue and completes the oldest, with the
// event's number, when an event comes (a periodic timer stands in for the hardware). The
// service gives up on its requests with CancelIoEx and, at the end, exits with requests
// still queued: the I/O manager cancels each of them before it closes the handle.
//
// The queue is made cancelable the race-free way (the WDM pages on cancel routines and
// on synchronizing IRP cancellation):
// - the dispatch routine sets the Cancel routine under the driver's lock, then looks at
//   Irp.Cancel: a cancel that came before the routine was set called nothing, so the
//   driver completes the IRP itself, unless IoSetCancelRoutine(Irp, NULL) returns NULL
//   (the Cancel routine has it);
// - whoever takes an IRP off the queue (the timer, the cleanup routine) clears its
//   Cancel routine under the same lock; a NULL from IoSetCancelRoutine means the Cancel
//   routine is running or about to, and owns the IRP: it is left to it;
// - the Cancel routine lets the cancel spin lock go first (IoReleaseCancelSpinLock with
//   Irp.CancelIrql), takes the IRP off the queue under the driver's lock if it is still
//   there, and completes it with STATUS_CANCELLED outside the lock.
import * as N from 'ndis-sim';

type Irp = N.IRP<N.DISPATCH_IO_STACK_LOCATION>;

/** CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS): 0x00222000. */
export const IOCTL_EVENTQ_WAIT = N.CTL_CODE(
  N.FILE_DEVICE_UNKNOWN,
  0x800,
  N.METHOD_BUFFERED,
  N.FILE_ANY_ACCESS,
);

/** How often an event comes (100 ns units): every 20 ms. */
const EventPeriodMs = 20;

interface Globals {
  driver: N.NDIS_HANDLE | null;
  device: N.NDIS_HANDLE | null;
  adapters: number;
  /** Guards `queue` (and the Cancel routines of the IRPs in it). */
  lock: N.NDIS_SPIN_LOCK;
  /** IOCTL_EVENTQ_WAIT requests waiting for an event, oldest first. */
  queue: Irp[];
  events: number;
  eventTimer: N.NDIS_HANDLE | null;
}

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS;
const none = (): void => {};

function complete(irp: Irp, status: N.NTSTATUS, information = 0): N.NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  N.IoCompleteRequest(irp, N.IO_NO_INCREMENT);
  return status;
}

/** The Cancel routine (DISPATCH_LEVEL, holding the cancel spin lock). */
function cancelWait(g: Globals, irp: Irp): void {
  N.IoReleaseCancelSpinLock(irp.CancelIrql);
  N.NdisAcquireSpinLock(g.lock);
  const i = g.queue.indexOf(irp);
  if (i >= 0) g.queue.splice(i, 1); // a dequeuer that found no routine left it to us
  N.NdisReleaseSpinLock(g.lock);
  complete(irp, N.STATUS_CANCELLED);
}

/** Takes the oldest request off the queue that is still ours (its Cancel routine cleared). Lock held. */
function dequeue(g: Globals): Irp | null {
  for (;;) {
    const irp = g.queue.shift();
    if (irp === undefined) return null;
    if (N.IoSetCancelRoutine(irp, null) !== null) return irp;
    // NULL: IoCancelIrp took the routine; the Cancel routine completes this one.
  }
}

/** The event timer (DISPATCH_LEVEL): an event completes the oldest waiting request. */
function onEvent(g: Globals): void {
  N.NdisDprAcquireSpinLock(g.lock);
  const number = ++g.events;
  const irp = dequeue(g);
  N.NdisDprReleaseSpinLock(g.lock);
  if (irp === null) return; // nobody waits: the event is dropped
  const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
  if (p.OutputBufferLength < 4) {
    complete(irp, N.STATUS_BUFFER_TOO_SMALL);
    return;
  }
  irp.AssociatedIrp.SystemBuffer!.set([
    number & 0xff,
    (number >> 8) & 0xff,
    (number >> 16) & 0xff,
    number >>> 24,
  ]);
  complete(irp, N.STATUS_SUCCESS, 4);
}

function deviceControl(g: Globals, irp: Irp): N.NTSTATUS {
  const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
  if (p.IoControlCode !== IOCTL_EVENTQ_WAIT) return complete(irp, N.STATUS_INVALID_DEVICE_REQUEST);
  N.NdisAcquireSpinLock(g.lock);
  N.IoSetCancelRoutine(irp, (_d, i) => cancelWait(g, i));
  if (irp.Cancel && N.IoSetCancelRoutine(irp, null) !== null) {
    // Cancelled before it was cancelable: nobody called a Cancel routine; finish it here.
    N.NdisReleaseSpinLock(g.lock);
    return complete(irp, N.STATUS_CANCELLED);
  }
  N.IoMarkIrpPending(irp);
  g.queue.push(irp);
  N.NdisReleaseSpinLock(g.lock);
  return N.STATUS_PENDING;
}

/** IRP_MJ_CLEANUP: the handle's requests still queued are completed as cancelled. */
function cleanup(g: Globals, irp: Irp): N.NTSTATUS {
  const file = irp.Tail.Overlay.CurrentStackLocation.FileObject;
  const mine: Irp[] = [];
  N.NdisAcquireSpinLock(g.lock);
  g.queue = g.queue.filter((q) => {
    if (q.Tail.Overlay.CurrentStackLocation.FileObject !== file) return true;
    if (N.IoSetCancelRoutine(q, null) !== null) mine.push(q);
    return false; // with no routine left, the Cancel routine completes it
  });
  N.NdisReleaseSpinLock(g.lock);
  for (const q of mine) complete(q, N.STATUS_CANCELLED);
  return complete(irp, N.STATUS_SUCCESS);
}

function registerDevice(g: Globals): N.NDIS_STATUS {
  const MajorFunctions: N.DRIVER_DISPATCH[] = [];
  MajorFunctions[N.IRP_MJ_CREATE] = (_d, irp) => complete(irp, N.STATUS_SUCCESS);
  MajorFunctions[N.IRP_MJ_CLOSE] = (_d, irp) => complete(irp, N.STATUS_SUCCESS);
  MajorFunctions[N.IRP_MJ_CLEANUP] = (_d, irp) => cleanup(g, irp);
  MajorFunctions[N.IRP_MJ_DEVICE_CONTROL] = (_d, irp) => deviceControl(g, irp);
  const r = N.NdisRegisterDeviceEx(g.driver!, {
    Header: {
      Type: N.NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
      Revision: N.NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
    },
    DeviceName: '\\Device\\EventQueue',
    SymbolicName: '\\DosDevices\\EventQueue',
    MajorFunctions,
    ExtensionSize: 0,
  });
  g.device = r.NdisDeviceHandle;
  return r.Status;
}

/** The adapter keeps only its packet filter: the events come from the driver's timer. */
interface Adapter {
  packetFilter: number;
}

function initialize(g: Globals, handle: N.NDIS_HANDLE): N.NDIS_STATUS {
  const a: Adapter = { packetFilter: 0 };
  const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
  N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: a });
  // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link).
  const s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x45, 0x51]));
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  if (g.adapters++ === 0) N.NdisSetTimerObject(g.eventTimer!, -EventPeriodMs * 10_000, EventPeriodMs, null);
  return N.NDIS_STATUS_SUCCESS;
}

/** MiniportHaltEx: the last adapter stops the events and deregisters the device. */
function halt(g: Globals): void {
  if (--g.adapters > 0) return;
  N.NdisCancelTimerObject(g.eventTimer!);
  if (g.device !== null) {
    N.NdisDeregisterDeviceEx(g.device);
    g.device = null;
  }
}

function driverEntry(driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS {
  const g: Globals = {
    driver: null,
    device: null,
    adapters: 0,
    lock: new N.NDIS_SPIN_LOCK(),
    queue: [],
    events: 0,
    eventTimer: null,
  };
  const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    InitializeHandlerEx: (handle) => initialize(g, handle),
    HaltHandlerEx: () => halt(g),
    ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
    PauseHandler: ok,
    RestartHandler: ok,
    OidRequestHandler: N.packetFilterOidRequest, // R6.1: the one OID every miniport must take
    SendNetBufferListsHandler(_a, nbls) {
      for (let nbl: N.NET_BUFFER_LIST | null = nbls; nbl !== null; nbl = nbl.Next) nbl.Status = ok();
    },
    DevicePnPEventNotifyHandler: none,
    ReturnNetBufferListsHandler: none,
    CancelSendHandler: none,
    CancelOidRequestHandler: none,
    ShutdownHandlerEx: none,
    UnloadHandler() {
      N.NdisFreeTimerObject(g.eventTimer!);
      N.NdisFreeSpinLock(g.lock);
      N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!);
    },
  });
  if (r.Status !== N.NDIS_STATUS_SUCCESS) return r.Status;
  g.driver = r.NdisMiniportDriverHandle;
  N.NdisAllocateSpinLock(g.lock);
  const t = N.NdisAllocateTimerObject(g.driver!, {
    Header: { Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: 1 },
    AllocationTag: 0x71657665, // 'eveq'
    TimerFunction: () => onEvent(g),
    FunctionContext: null,
  });
  if (t.Status !== N.NDIS_STATUS_SUCCESS) {
    N.NdisFreeSpinLock(g.lock);
    N.NdisMDeregisterMiniportDriver(g.driver!);
    return t.Status;
  }
  g.eventTimer = t.TimerObject;
  const d = registerDevice(g);
  if (d !== N.NDIS_STATUS_SUCCESS) {
    N.NdisFreeTimerObject(g.eventTimer!);
    N.NdisFreeSpinLock(g.lock);
    N.NdisMDeregisterMiniportDriver(g.driver!);
    return d;
  }
  return N.NDIS_STATUS_SUCCESS;
}

export const eventQueue: N.DriverModule = {
  name: 'event-queue',
  description: 'a control device whose pended event requests are cancelable (IoSetCancelRoutine, race-free)',
  // The scenario says `code: IOCTL_EVENTQ_WAIT`, and the timeline shows that name.
  ioControlCodes: { IOCTL_EVENTQ_WAIT },
  load: () => ({ DriverEntry: driverEntry }),
};
