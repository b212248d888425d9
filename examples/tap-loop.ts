// A TAP-style virtual adapter: a VPN service reads and writes the adapter's frames
// through a control device, with ReadFile and WriteFile:
//   ndis-sim run examples/tap-loop.yaml
//   ndis-sim explore examples/tap-loop.yaml --runs 300
//
// tap-loop registers \Device\TapLoop with DO_DIRECT_IO, so each request carries an MDL
// of the service's own buffer (Irp.MdlAddress):
// - WriteFile is a frame from the tunnel. The driver puts the write's MDL straight
//   into a NET_BUFFER and indicates it up as a receive; the write stays pending until
//   the protocol returns the NBL (MiniportReturnNetBufferLists), and completes then.
// - ReadFile waits, cancelable, in a queue. A frame the protocol sends is copied into
//   the oldest waiting read, which completes with the frame's length; with no read
//   waiting the frame is dropped, as a tunnel with nobody listening drops it.
// - MiniportPause waits for the writes still up the stack. The service's cleanup
//   completes its queued reads; a write still up the stack is in progress, so the
//   handle's IRP_MJ_CLOSE waits for it (the IRP_MJ_CLEANUP page).
// - The device goes with the adapter (MiniportHaltEx); the service's requests after
//   that fail with STATUS_DEVICE_REMOVED until it closes its handle.
import * as N from 'ndis-sim';

type Irp = N.IRP<N.DISPATCH_IO_STACK_LOCATION>;

/** The largest frame the tunnel carries: an Ethernet frame without its FCS. */
const FrameMax = 1514;

interface Tap {
  driver: N.NDIS_HANDLE | null;
  device: N.NDIS_HANDLE | null;
  /** The adapter's handle, from MiniportInitializeEx to MiniportHaltEx; one adapter. */
  adapter: N.NDIS_HANDLE | null;
  pool: N.NDIS_HANDLE | null;
  /** Guards everything below, and the Cancel routines of the queued reads. */
  lock: N.NDIS_SPIN_LOCK;
  /** Between MiniportRestart and MiniportPause: frames may go up and down. */
  running: boolean;
  /** MiniportPause returned NDIS_STATUS_PENDING: it completes when `up` drops to 0. */
  pausing: boolean;
  /** Writes indicated up the stack whose NBL has not come back. */
  up: number;
  /** ReadFile requests waiting for a frame, oldest first. */
  reads: Irp[];
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
}

function complete(irp: Irp, status: N.NTSTATUS, information = 0): N.NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  N.IoCompleteRequest(irp, N.IO_NO_INCREMENT);
  return status;
}

/** Takes the lock in the way the IRQL calls for. */
function lock(t: Tap, atDispatch: boolean): void {
  if (atDispatch) N.NdisDprAcquireSpinLock(t.lock);
  else N.NdisAcquireSpinLock(t.lock);
}

function unlock(t: Tap, atDispatch: boolean): void {
  if (atDispatch) N.NdisDprReleaseSpinLock(t.lock);
  else N.NdisReleaseSpinLock(t.lock);
}

// ------------------------------------------------------------------ reads

/** The Cancel routine of a queued read (DISPATCH_LEVEL, holding the cancel spin lock). */
function cancelRead(t: Tap, irp: Irp): void {
  N.IoReleaseCancelSpinLock(irp.CancelIrql);
  N.NdisAcquireSpinLock(t.lock);
  const i = t.reads.indexOf(irp);
  if (i >= 0) t.reads.splice(i, 1);
  N.NdisReleaseSpinLock(t.lock);
  complete(irp, N.STATUS_CANCELLED);
}

/** The oldest read that is still ours (its Cancel routine cleared), or null. Lock held. */
function dequeueRead(t: Tap): Irp | null {
  for (;;) {
    const irp = t.reads.shift();
    if (irp === undefined) return null;
    if (N.IoSetCancelRoutine(irp, null) !== null) return irp;
    // NULL: IoCancelIrp has it; the Cancel routine completes it.
  }
}

function read(t: Tap, irp: Irp): N.NTSTATUS {
  if (irp.Tail.Overlay.CurrentStackLocation.Parameters.Read!.Length === 0)
    return complete(irp, N.STATUS_INVALID_PARAMETER);
  N.NdisAcquireSpinLock(t.lock);
  N.IoSetCancelRoutine(irp, (_d, i) => cancelRead(t, i));
  if (irp.Cancel && N.IoSetCancelRoutine(irp, null) !== null) {
    N.NdisReleaseSpinLock(t.lock);
    return complete(irp, N.STATUS_CANCELLED);
  }
  N.IoMarkIrpPending(irp);
  t.reads.push(irp);
  N.NdisReleaseSpinLock(t.lock);
  return N.STATUS_PENDING;
}

/** A frame the protocol sent goes to the oldest waiting read, or is dropped. */
function toRead(t: Tap, nb: N.NET_BUFFER, atDispatch: boolean): void {
  lock(t, atDispatch);
  const irp = dequeueRead(t);
  unlock(t, atDispatch);
  if (irp === null) return;
  const to = N.MmGetSystemAddressForMdlSafe(irp.MdlAddress!, N.NormalPagePriority | N.MdlMappingNoExecute);
  if (to === null) {
    complete(irp, N.STATUS_UNSUCCESSFUL);
    return;
  }
  const length = Math.min(nb.DataLength, to.length);
  if (nb.Data !== null) to.set(nb.Data.subarray(nb.DataOffset, nb.DataOffset + length));
  complete(irp, N.STATUS_SUCCESS, length);
}

// ------------------------------------------------------------------ writes

function write(t: Tap, irp: Irp): N.NTSTATUS {
  const length = irp.Tail.Overlay.CurrentStackLocation.Parameters.Write!.Length;
  if (length < 14 || length > FrameMax) return complete(irp, N.STATUS_INVALID_PARAMETER);
  N.NdisAcquireSpinLock(t.lock);
  const adapter = t.adapter;
  if (adapter === null || !t.running) {
    N.NdisReleaseSpinLock(t.lock);
    return complete(irp, adapter === null ? N.STATUS_DEVICE_REMOVED : N.STATUS_DEVICE_NOT_READY);
  }
  t.up++; // MiniportPause now waits for this one
  N.NdisReleaseSpinLock(t.lock);
  // The service's own pages, locked for the write, are the frame's MDL chain.
  const nbl = N.NdisAllocateNetBufferAndNetBufferList(t.pool!, 0, 0, irp.MdlAddress, 0, length);
  if (nbl === null) {
    backDown(t, false);
    return complete(irp, N.STATUS_UNSUCCESSFUL);
  }
  nbl.SourceHandle = adapter;
  nbl.MiniportReserved[0] = irp;
  N.IoMarkIrpPending(irp);
  N.NdisMIndicateReceiveNetBufferLists(adapter, nbl, 0, 1, 0);
  return N.STATUS_PENDING;
}

/** One write less up the stack; the last one lets a pending pause complete. */
function backDown(t: Tap, atDispatch: boolean): void {
  lock(t, atDispatch);
  const done = --t.up === 0 && t.pausing;
  if (done) t.pausing = false;
  unlock(t, atDispatch);
  if (done) N.NdisMPauseComplete(t.adapter!);
}

/** MiniportReturnNetBufferLists: the protocol is done with the frames; their writes complete. */
function returnNbls(t: Tap, nbls: N.NET_BUFFER_LIST, flags: number): void {
  const atDispatch = (flags & N.NDIS_RETURN_FLAGS_DISPATCH_LEVEL) !== 0;
  for (let nbl: N.NET_BUFFER_LIST | null = nbls; nbl !== null; ) {
    const next: N.NET_BUFFER_LIST | null = nbl.Next;
    const irp = nbl.MiniportReserved[0] as Irp;
    const length = nbl.FirstNetBuffer!.DataLength;
    nbl.Next = null;
    N.NdisFreeNetBufferList(nbl); // before the IRP: the NET_BUFFER describes its pages
    complete(irp, N.STATUS_SUCCESS, length);
    backDown(t, atDispatch);
    nbl = next;
  }
}

// ------------------------------------------------------------------ sends

function send(t: Tap, nbls: N.NET_BUFFER_LIST, flags: number): void {
  const atDispatch = (flags & N.NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
  lock(t, atDispatch);
  const running = t.running;
  unlock(t, atDispatch);
  for (let nbl: N.NET_BUFFER_LIST | null = nbls; nbl !== null; nbl = nbl.Next) {
    nbl.Status = running ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_PAUSED;
    if (running)
      for (let nb: N.NET_BUFFER | null = nbl.FirstNetBuffer; nb !== null; nb = nb.Next)
        toRead(t, nb, atDispatch);
  }
  N.NdisMSendNetBufferListsComplete(
    t.adapter!,
    nbls,
    atDispatch ? N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
  );
}

// ------------------------------------------------------------------ the device

/** IRP_MJ_CLEANUP: the handle's queued reads complete as cancelled; its writes up the stack finish on their own. */
function cleanup(t: Tap, irp: Irp): N.NTSTATUS {
  const file = irp.Tail.Overlay.CurrentStackLocation.FileObject;
  const mine: Irp[] = [];
  N.NdisAcquireSpinLock(t.lock);
  t.reads = t.reads.filter((r) => {
    if (r.Tail.Overlay.CurrentStackLocation.FileObject !== file) return true;
    if (N.IoSetCancelRoutine(r, null) !== null) mine.push(r);
    return false; // with no routine left, the Cancel routine completes it
  });
  N.NdisReleaseSpinLock(t.lock);
  for (const r of mine) complete(r, N.STATUS_CANCELLED);
  return complete(irp, N.STATUS_SUCCESS);
}

function registerDevice(t: Tap): N.NDIS_STATUS {
  const MajorFunctions: N.DRIVER_DISPATCH[] = [];
  MajorFunctions[N.IRP_MJ_CREATE] = (_d, irp) => complete(irp, N.STATUS_SUCCESS);
  MajorFunctions[N.IRP_MJ_CLOSE] = (_d, irp) => complete(irp, N.STATUS_SUCCESS);
  MajorFunctions[N.IRP_MJ_CLEANUP] = (_d, irp) => cleanup(t, irp);
  MajorFunctions[N.IRP_MJ_READ] = (_d, irp) => read(t, irp);
  MajorFunctions[N.IRP_MJ_WRITE] = (_d, irp) => write(t, irp);
  const r = N.NdisRegisterDeviceEx(t.driver!, {
    Header: {
      Type: N.NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
      Revision: N.NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
    },
    DeviceName: '\\Device\\TapLoop',
    SymbolicName: '\\DosDevices\\TapLoop',
    MajorFunctions,
    ExtensionSize: 0,
  });
  if (r.Status !== N.NDIS_STATUS_SUCCESS) return r.Status;
  r.pDeviceObject!.Flags |= N.DO_DIRECT_IO;
  t.device = r.NdisDeviceHandle;
  return N.NDIS_STATUS_SUCCESS;
}

// ------------------------------------------------------------------ the adapter

function initialize(t: Tap, handle: N.NDIS_HANDLE): N.NDIS_STATUS {
  if (t.adapter !== null) return N.NDIS_STATUS_FAILURE; // one tunnel, one adapter
  const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
  N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: t });
  // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link).
  const s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x7a, 0x01]));
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  t.pool = N.NdisAllocateNetBufferListPool(handle, {
    Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: true,
    ContextSize: 0,
    PoolTag: 0x706f6f6c, // 'loop'
    DataSize: 0, // each NBL takes a write's MDL
  });
  if (t.pool === null) return N.NDIS_STATUS_RESOURCES;
  const d = registerDevice(t);
  if (d !== N.NDIS_STATUS_SUCCESS) {
    N.NdisFreeNetBufferListPool(t.pool);
    t.pool = null;
    return d;
  }
  t.adapter = handle;
  return N.NDIS_STATUS_SUCCESS;
}

function pause(t: Tap): N.NDIS_STATUS {
  N.NdisAcquireSpinLock(t.lock);
  t.running = false;
  t.pausing = t.up > 0;
  const pending = t.pausing;
  N.NdisReleaseSpinLock(t.lock);
  return pending ? N.NDIS_STATUS_PENDING : N.NDIS_STATUS_SUCCESS;
}

function restart(t: Tap): N.NDIS_STATUS {
  N.NdisAcquireSpinLock(t.lock);
  t.running = true;
  N.NdisReleaseSpinLock(t.lock);
  return N.NDIS_STATUS_SUCCESS;
}

/** MiniportHaltEx: paused, so nothing is up the stack; the device goes with the adapter. */
function halt(t: Tap): void {
  N.NdisAcquireSpinLock(t.lock);
  t.adapter = null;
  N.NdisReleaseSpinLock(t.lock);
  if (t.device !== null) N.NdisDeregisterDeviceEx(t.device);
  t.device = null;
  if (t.pool !== null) N.NdisFreeNetBufferListPool(t.pool);
  t.pool = null;
}

function driverEntry(driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS {
  const t: Tap = {
    driver: null,
    device: null,
    adapter: null,
    pool: null,
    lock: new N.NDIS_SPIN_LOCK(),
    running: false,
    pausing: false,
    up: 0,
    reads: [],
    packetFilter: 0,
  };
  const none = (): void => {};
  const r = N.NdisMRegisterMiniportDriver<Tap>(driverObject, registryPath, null, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    InitializeHandlerEx: (handle) => initialize(t, handle),
    HaltHandlerEx: () => halt(t),
    ResetHandlerEx: () => ({ Status: N.NDIS_STATUS_SUCCESS, AddressingReset: false }),
    PauseHandler: () => pause(t),
    RestartHandler: () => restart(t),
    OidRequestHandler: (_a, req) => N.packetFilterOidRequest(t, req), // R6.1: the one OID every miniport must take
    SendNetBufferListsHandler: (_a, nbls, _port, flags) => send(t, nbls, flags),
    ReturnNetBufferListsHandler: (_a, nbls, flags) => returnNbls(t, nbls, flags),
    DevicePnPEventNotifyHandler: none,
    CancelSendHandler: none,
    CancelOidRequestHandler: none,
    ShutdownHandlerEx: none,
    UnloadHandler() {
      N.NdisFreeSpinLock(t.lock);
      N.NdisMDeregisterMiniportDriver(t.driver!);
    },
  });
  if (r.Status !== N.NDIS_STATUS_SUCCESS) return r.Status;
  t.driver = r.NdisMiniportDriverHandle;
  N.NdisAllocateSpinLock(t.lock);
  return N.NDIS_STATUS_SUCCESS;
}

export const tapLoop: N.DriverModule = {
  name: 'tap-loop',
  description:
    'a TAP-style adapter whose frames a service reads and writes through a control device (DO_DIRECT_IO)',
  load: () => ({ DriverEntry: driverEntry }),
};
