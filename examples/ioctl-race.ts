// A control-device race for `ndis-sim explore`:
//   ndis-sim explore examples/ioctl-race.yaml --runs 300
//
// ioctl-race registers a standalone device (NdisRegisterDeviceEx) in MiniportInitializeEx
// of its first adapter, so that a diagnostic tool can open \\.\IoctlRace and ask for a
// NIC reset with IOCTL_IOCTLRACE_RESET. The driver keeps a pointer to "the adapter" for
// the device's dispatch routines. A reset request is not made at once: the IRP is marked
// pending and a one-shot timer (allocated with the driver handle) asks NDIS for the reset
// 500 µs later, once in-flight DMA has drained, and completes the IRP. At its second
// check-for-hang the driver gives up on the adapter (NdisMRemoveMiniport); NDIS pauses
// and halts it. MiniportHaltEx clears the pointer, and the last halt deregisters the
// device (NdisDeregisterDeviceEx), as a driver must so that it can be unloaded.
//
// THE BUG (R5.20): the dispatch routine checks the pointer, but the timer callback uses
// the adapter it was handed when the request came in. A reset request that is pending
// across the halt reaches NdisMResetMiniport with the handle of a halted adapter:
// NdisSim_StaleHandle. NDIS does not hold the halt back for the control device's
// requests: it knows nothing of them. Only schedules whose halt falls in the 500 µs
// between a request and its timer break the rule; the tool's stress loop sends one every
// 3 ms around the time the driver gives up.
//
// THE FIX (ioctl-race-fixed): one owner for "the adapter". MiniportHaltEx clears the
// pointer under the driver's spin lock, and the timer callback reads it again under the
// same lock and uses it only while it is set; otherwise it completes the request with
// STATUS_DEVICE_REMOVED. A halt that comes while the callback holds the lock waits for
// it, so the handle is alive for as long as the callback can see it.
import * as N from 'ndis-sim';

/** CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS): 0x00222000. */
export const IOCTL_IOCTLRACE_RESET = N.CTL_CODE(
  N.FILE_DEVICE_UNKNOWN,
  0x800,
  N.METHOD_BUFFERED,
  N.FILE_ANY_ACCESS,
);

/** The check-for-hang tick at which the driver gives up on its adapter. */
const GiveUpTick = 2;
/** How long a reset request waits for DMA to drain (100 ns units; negative: relative). */
const DrainDueTime = -5_000;

interface Adapter {
  handle: N.NDIS_HANDLE;
  ticks: number;
  /** NdisDevicePnPEventSurpriseRemoved came: OIDs are refused (R5.7). */
  gone: boolean;
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
}

/** A reset request between its dispatch routine and its timer. */
interface PendingReset {
  irp: N.IRP<N.DISPATCH_IO_STACK_LOCATION>;
  /** What the dispatch routine saw as "the adapter" (the bug uses it later). */
  adapter: Adapter;
}

/** The driver's globals: one set per load of the driver (per machine). */
interface Globals {
  driver: N.NDIS_HANDLE | null;
  device: N.NDIS_HANDLE | null;
  /** "The adapter": the first adapter, for the control device's requests. */
  adapter: Adapter | null;
  adapters: number;
  lock: N.NDIS_SPIN_LOCK;
  drainTimer: N.NDIS_HANDLE | null;
  pending: PendingReset | null;
}

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS;
const none = (): void => {};

function complete(irp: N.IRP<N.DISPATCH_IO_STACK_LOCATION>, status: N.NTSTATUS): N.NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = 0;
  N.IoCompleteRequest(irp, N.IO_NO_INCREMENT);
  return status;
}

/** The drain timer's callback (DISPATCH_LEVEL): asks NDIS for the reset, completes the IRP. */
function drained(g: Globals, fixed: boolean): void {
  const p = g.pending;
  if (p === null) return; // cancelled by the cleanup routine
  g.pending = null;
  if (!fixed) {
    N.NdisMResetMiniport(p.adapter.handle); // BUG: this adapter may have halted meanwhile
    complete(p.irp, N.STATUS_SUCCESS);
    return;
  }
  N.NdisDprAcquireSpinLock(g.lock);
  const a = g.adapter;
  if (a !== null) N.NdisMResetMiniport(a.handle);
  N.NdisDprReleaseSpinLock(g.lock);
  complete(p.irp, a !== null ? N.STATUS_SUCCESS : N.STATUS_DEVICE_REMOVED);
}

function deviceControl(g: Globals, irp: N.IRP<N.DISPATCH_IO_STACK_LOCATION>): N.NTSTATUS {
  const stack = irp.Tail.Overlay.CurrentStackLocation;
  if (stack.Parameters.DeviceIoControl?.IoControlCode !== IOCTL_IOCTLRACE_RESET)
    return complete(irp, N.STATUS_INVALID_DEVICE_REQUEST);
  const a = g.adapter;
  if (a === null) return complete(irp, N.STATUS_DEVICE_REMOVED); // halted: nothing to reset
  if (g.pending !== null) return complete(irp, N.STATUS_DEVICE_NOT_READY); // one at a time
  N.IoMarkIrpPending(irp);
  g.pending = { irp, adapter: a };
  N.NdisSetTimerObject(g.drainTimer!, DrainDueTime, 0, null);
  return N.STATUS_PENDING;
}

/** IRP_MJ_CLEANUP: the tool closed its handle; a reset still waiting for its timer is cancelled. */
function cleanup(g: Globals, irp: N.IRP<N.DISPATCH_IO_STACK_LOCATION>): N.NTSTATUS {
  const p = g.pending;
  const file = irp.Tail.Overlay.CurrentStackLocation.FileObject;
  if (p !== null && p.irp.Tail.Overlay.CurrentStackLocation.FileObject === file) {
    if (N.NdisCancelTimerObject(g.drainTimer!)) {
      g.pending = null;
      complete(p.irp, N.STATUS_CANCELLED);
    }
  }
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
    DeviceName: '\\Device\\IoctlRace',
    SymbolicName: '\\DosDevices\\IoctlRace',
    MajorFunctions,
    ExtensionSize: 0,
  });
  g.device = r.NdisDeviceHandle;
  return r.Status;
}

function initialize(g: Globals, handle: N.NDIS_HANDLE): N.NDIS_STATUS {
  const a: Adapter = { handle, ticks: 0, gone: false, packetFilter: 0 };
  const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
  N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: a });
  // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link).
  const s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x10, 0x01]));
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  if (g.adapters === 0) {
    const d = registerDevice(g);
    if (d !== N.NDIS_STATUS_SUCCESS) return d;
  }
  g.adapters++;
  N.NdisAcquireSpinLock(g.lock);
  g.adapter ??= a;
  N.NdisReleaseSpinLock(g.lock);
  return N.NDIS_STATUS_SUCCESS;
}

/** MiniportHaltEx, PASSIVE_LEVEL. */
function halt(g: Globals, a: Adapter, fixed: boolean): void {
  if (fixed) N.NdisAcquireSpinLock(g.lock);
  if (g.adapter === a) g.adapter = null; // the bug's callback does not look again
  if (fixed) N.NdisReleaseSpinLock(g.lock);
  if (--g.adapters === 0 && g.device !== null) {
    N.NdisDeregisterDeviceEx(g.device); // the last adapter: the driver must be able to unload
    g.device = null;
  }
}

function driverEntry(fixed: boolean) {
  return (driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS => {
    const g: Globals = {
      driver: null,
      device: null,
      adapter: null,
      adapters: 0,
      lock: new N.NDIS_SPIN_LOCK(),
      drainTimer: null,
      pending: null,
    };
    const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      InitializeHandlerEx: (handle) => initialize(g, handle),
      HaltHandlerEx: (a) => halt(g, a, fixed),
      CheckForHangHandlerEx(a) {
        if (++a.ticks === GiveUpTick) N.NdisMRemoveMiniport(a.handle); // beyond recovery
        return false;
      },
      ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
      PauseHandler: ok,
      RestartHandler: ok,
      OidRequestHandler: (a, req) => (a.gone ? N.NDIS_STATUS_NOT_ACCEPTED : N.packetFilterOidRequest(a, req)),
      SendNetBufferListsHandler(_a, nbls) {
        for (let nbl: N.NET_BUFFER_LIST | null = nbls; nbl !== null; nbl = nbl.Next) nbl.Status = ok();
      },
      DevicePnPEventNotifyHandler(a, e) {
        if (e.DevicePnPEvent === N.NdisDevicePnPEventSurpriseRemoved) a.gone = true;
      },
      ReturnNetBufferListsHandler: none,
      CancelSendHandler: none,
      CancelOidRequestHandler: none,
      ShutdownHandlerEx: none,
      UnloadHandler() {
        N.NdisCancelTimerObject(g.drainTimer!);
        N.NdisFreeTimerObject(g.drainTimer!);
        N.NdisFreeSpinLock(g.lock);
        N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!);
      },
    });
    if (r.Status !== N.NDIS_STATUS_SUCCESS) return r.Status;
    g.driver = r.NdisMiniportDriverHandle;
    N.NdisAllocateSpinLock(g.lock);
    const t = N.NdisAllocateTimerObject(g.driver!, {
      Header: { Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: 1 },
      AllocationTag: 0x6e696172, // 'rain'
      TimerFunction: () => drained(g, fixed),
      FunctionContext: null,
    });
    if (t.Status !== N.NDIS_STATUS_SUCCESS) {
      N.NdisFreeSpinLock(g.lock);
      N.NdisMDeregisterMiniportDriver(g.driver!);
      return t.Status;
    }
    g.drainTimer = t.TimerObject;
    return N.NDIS_STATUS_SUCCESS;
  };
}

export const ioctlRace: N.DriverModule = {
  name: 'ioctl-race',
  description:
    'a control device whose pended reset request uses "the adapter" after its halt (R5.20, NdisSim_StaleHandle)',
  load: () => ({ DriverEntry: driverEntry(false) }),
};

export const ioctlRaceFixed: N.DriverModule = {
  name: 'ioctl-race-fixed',
  description:
    'ioctl-race fixed: the timer reads "the adapter" again under the lock the halt clears it under',
  load: () => ({ DriverEntry: driverEntry(true) }),
};
