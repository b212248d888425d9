// ndisprot-lite: a protocol driver shaped after the Windows-driver-samples NDIS 6
// protocol (ndisprot), written from its structure against ndis-sim's public API:
//   ndis-sim run examples/ndisprot-lite.yaml
//   ndis-sim explore examples/ndisprot-lite.yaml --runs 200
//
// - DriverEntry makes \Device\NdisProtLite with IoCreateDevice (DO_DIRECT_IO) and its
//   link \DosDevices\NdisProtLite, fills DRIVER_OBJECT.MajorFunction, and registers
//   the protocol. It binds to every Ethernet adapter (one OPEN_CONTEXT each).
// - The application opens \\.\NdisProtLite, may wait for the binds
//   (IOCTL_NDISPROT_BIND_WAIT), and ties its handle to one adapter with
//   IOCTL_NDISPROT_OPEN_DEVICE, whose input is the adapter's name (UTF-16LE, as
//   NDIS_BIND_PARAMETERS.AdapterName gives it). That sets the packet filter.
// - WriteFile sends a frame: the write's own MDL is the NET_BUFFER's MDL chain
//   (NdisAllocateNetBufferAndNetBufferList), and the write completes in
//   ProtocolSendNetBufferListsComplete. A pending write is cancelable: its Cancel
//   routine asks NDIS to cancel the send (NdisCancelSendNetBufferLists).
// - ReadFile waits, cancelable, in the binding's queue of reads. A received frame is
//   copied into the oldest waiting read; with none waiting it is queued (at most four,
//   the oldest dropped) for the next read.
// - A pause waits for the binding's sends. The unbind clears the packet filter, fails
//   the pending reads (STATUS_CANCELLED), drops the queued frames and closes the
//   binding; the handle's later requests fail with STATUS_INVALID_HANDLE.
// - The Unload routine deregisters the protocol and deletes the link and the device.
//
// `ndisprotLiteWith(bugs)` switches on one mistake at a time (test/ndisprot.test.ts).
import * as N from 'ndis-sim';

type Irp = N.IRP<N.DISPATCH_IO_STACK_LOCATION>;

/** One mistake each; the reference driver has none. */
export interface NdisprotBugs {
  /** WriteFile completes its IRP right after NdisSendNetBufferLists, not in the send completion. */
  completeWriteEarly?: boolean;
  /** WriteFile builds the NBL on the write's MDL, completes the IRP, and only then sends the NBL. */
  completeBeforeSend?: boolean;
  /** The unbind leaves the binding's pending reads in its queue. */
  keepReadsAtUnbind?: boolean;
  /** The unbind of the last binding deletes the device and its link while the application's handle is open. */
  deleteDeviceAtLastUnbind?: boolean;
  /** WriteFile sends without checking that the binding is running (paused, or closing for the unbind). */
  sendWhileUnbinding?: boolean;
  /** ReadFile queues its IRP without a Cancel routine. */
  noCancelRoutine?: boolean;
  /** A read copies the whole frame, whatever the size of the application's buffer. */
  readOverrun?: boolean;
}

// winioctl.h's CTL_CODE(FILE_DEVICE_NETWORK, function, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS),
// with the function numbers of ndisprot's nuiouser.h.
const ctl = (fn: number): number =>
  N.CTL_CODE(N.FILE_DEVICE_NETWORK, fn, N.METHOD_BUFFERED, N.FILE_READ_ACCESS | N.FILE_WRITE_ACCESS);
export const IOCTL_NDISPROT_OPEN_DEVICE = ctl(0x200);
export const IOCTL_NDISPROT_BIND_WAIT = ctl(0x204);

const DeviceName = '\\Device\\NdisProtLite';
const LinkName = '\\DosDevices\\NdisProtLite';
/** ndisprot's MAX_RECV_QUEUE_SIZE. */
const RecvQueueMax = 4;
const EthHeader = 14;
/** How long IOCTL_NDISPROT_BIND_WAIT waits for NetEventBindsComplete (ms). */
const BindWaitMs = 5000;

/** OPEN_CONTEXT: one per binding. */
interface Open {
  handle: N.NDIS_HANDLE | null;
  bindContext: N.NDIS_HANDLE;
  unbindContext: N.NDIS_HANDLE | null;
  /** NDIS_BIND_PARAMETERS.AdapterName: what IOCTL_NDISPROT_OPEN_DEVICE names. */
  adapterName: string;
  mac: readonly number[];
  mtu: number;
  /** Guards the fields below, and the Cancel routines of its queued reads and writes. */
  lock: N.NDIS_SPIN_LOCK;
  /** Between NetEventRestart and NetEventPause. */
  running: boolean;
  /** ProtocolUnbindAdapterEx has begun: no new I/O. */
  closing: boolean;
  /** The application's handle tied to it (IOCTL_NDISPROT_OPEN_DEVICE), or null. */
  file: N.FILE_OBJECT | null;
  pool: N.NDIS_HANDLE | null;
  /** Writes handed to NDIS and not back yet; `drained` is set when none is. */
  sendsOut: number;
  readonly drained: N.NDIS_EVENT;
  /** ReadFile requests waiting for a frame, oldest first. */
  reads: Irp[];
  /** Frames received with no read waiting, oldest first. */
  frames: Uint8Array[];
  readonly oidDone: N.NDIS_EVENT;
  oidStatus: number;
}

interface Driver {
  object: N.DRIVER_OBJECT | null;
  handle: N.NDIS_HANDLE | null;
  device: N.DEVICE_OBJECT | null;
  /** Guards `opens`, and FileObject->FsContext where it changes. */
  lock: N.NDIS_SPIN_LOCK;
  opens: Open[];
  readonly bindsComplete: N.NDIS_EVENT;
  /** The high byte of the send cancel IDs (NdisGeneratePartialCancelId). */
  partialCancelId: number;
  /** The low 24 bits of the next one. */
  nextCancelId: number;
}

function complete(irp: Irp, status: N.NTSTATUS, information = 0): N.NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  N.IoCompleteRequest(irp, N.IO_NO_INCREMENT);
  return status;
}

function stack(irp: Irp): N.DISPATCH_IO_STACK_LOCATION {
  return irp.Tail.Overlay.CurrentStackLocation;
}

/** A synchronous OID set on the binding (ndisprotDoRequest). */
function setOid(o: Open, oid: number, value: number): number {
  const req: N.NDIS_OID_REQUEST = {
    Header: { Type: N.NDIS_OBJECT_TYPE_OID_REQUEST, Revision: N.NDIS_OID_REQUEST_REVISION_1 },
    RequestType: N.NdisRequestSetInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: null,
    RequestHandle: null,
    DATA: N.oidRequestData(oid, value, 4),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
  N.NdisResetEvent(o.oidDone);
  const s = N.NdisOidRequest(o.handle!, req);
  if (s !== N.NDIS_STATUS_PENDING) return s;
  N.NdisWaitEvent(o.oidDone, 0);
  return o.oidStatus;
}

/** UTF-16LE bytes to a string (the adapter name in IOCTL_NDISPROT_OPEN_DEVICE's input). */
function utf16(bytes: Uint8Array, length: number): string {
  let s = '';
  for (let i = 0; i + 1 < length; i += 2) s += String.fromCharCode(bytes[i]! | (bytes[i + 1]! << 8));
  return s;
}

export function ndisprotLiteWith(bugs: NdisprotBugs = {}, name = 'ndisprot-lite'): N.DriverModule {
  return {
    name,
    description: 'an ndisprot-style protocol driver: its own control device, reads and writes of raw frames',
    ioControlCodes: { IOCTL_NDISPROT_OPEN_DEVICE, IOCTL_NDISPROT_BIND_WAIT },
    load: () => {
      const d: Driver = {
        object: null,
        handle: null,
        device: null,
        lock: new N.NDIS_SPIN_LOCK(),
        opens: [],
        bindsComplete: new N.NDIS_EVENT(),
        partialCancelId: 0,
        nextCancelId: 0,
      };

      /** The write IRP completes apart from its send's completion (a mistake). */
      const early = bugs.completeWriteEarly === true || bugs.completeBeforeSend === true;

      /** The binding the request's handle is tied to, or null. */
      const openOf = (irp: Irp): Open | null => {
        N.NdisAcquireSpinLock(d.lock);
        const o = stack(irp).FileObject.FsContext as Open | null;
        N.NdisReleaseSpinLock(d.lock);
        return o;
      };

      // ---------------------------------------------------------------- reads

      /** The Cancel routine of a queued read (DISPATCH, holding the cancel spin lock). */
      const cancelRead: N.DRIVER_CANCEL = (_dev, irp) => {
        N.IoReleaseCancelSpinLock(irp.CancelIrql);
        const o = openOf(irp as Irp);
        if (o !== null) {
          N.NdisAcquireSpinLock(o.lock);
          const i = o.reads.indexOf(irp as Irp);
          if (i >= 0) o.reads.splice(i, 1);
          N.NdisReleaseSpinLock(o.lock);
        }
        complete(irp as Irp, N.STATUS_CANCELLED);
      };

      /** The oldest read that is still ours (its Cancel routine cleared), or null. Lock held. */
      const dequeueRead = (o: Open): Irp | null => {
        for (;;) {
          const irp = o.reads.shift();
          if (irp === undefined) return null;
          if (bugs.noCancelRoutine || N.IoSetCancelRoutine(irp, null) !== null) return irp;
          // NULL: IoCancelIrp has it; the Cancel routine completes it.
        }
      };

      /** ndisprotServiceReads: queued frames go to waiting reads. */
      const serviceReads = (o: Open): void => {
        for (;;) {
          N.NdisAcquireSpinLock(o.lock);
          if (o.frames.length === 0 || o.reads.length === 0) {
            N.NdisReleaseSpinLock(o.lock);
            return;
          }
          const irp = dequeueRead(o);
          const frame = irp === null ? undefined : o.frames.shift();
          N.NdisReleaseSpinLock(o.lock);
          if (irp === null || frame === undefined) return;
          const to = N.MmGetSystemAddressForMdlSafe(
            irp.MdlAddress!,
            N.NormalPagePriority | N.MdlMappingNoExecute,
          );
          if (to === null) {
            complete(irp, N.STATUS_INSUFFICIENT_RESOURCES);
            continue;
          }
          const length = bugs.readOverrun ? frame.length : Math.min(frame.length, to.length);
          to.set(frame.subarray(0, length));
          complete(irp, N.STATUS_SUCCESS, length);
        }
      };

      const read = (irp: Irp): N.NTSTATUS => {
        const o = openOf(irp);
        if (o === null) return complete(irp, N.STATUS_INVALID_HANDLE);
        if (irp.MdlAddress === null) return complete(irp, N.STATUS_INVALID_PARAMETER);
        N.NdisAcquireSpinLock(o.lock);
        if (o.closing || o.handle === null) {
          N.NdisReleaseSpinLock(o.lock);
          return complete(irp, N.STATUS_INVALID_HANDLE);
        }
        if (!bugs.noCancelRoutine) {
          N.IoSetCancelRoutine(irp, cancelRead);
          if (irp.Cancel && N.IoSetCancelRoutine(irp, null) !== null) {
            N.NdisReleaseSpinLock(o.lock);
            return complete(irp, N.STATUS_CANCELLED);
          }
        }
        N.IoMarkIrpPending(irp);
        o.reads.push(irp);
        N.NdisReleaseSpinLock(o.lock);
        serviceReads(o);
        return N.STATUS_PENDING;
      };

      /** The binding's reads fail (unbind) or only those of `file` (cleanup). */
      const failReads = (o: Open, file: N.FILE_OBJECT | null): void => {
        const mine: Irp[] = [];
        N.NdisAcquireSpinLock(o.lock);
        o.reads = o.reads.filter((r) => {
          if (file !== null && stack(r).FileObject !== file) return true;
          if (bugs.noCancelRoutine || N.IoSetCancelRoutine(r, null) !== null) mine.push(r);
          return false; // with no routine left, the Cancel routine completes it
        });
        if (file === null) o.frames = [];
        N.NdisReleaseSpinLock(o.lock);
        for (const r of mine) complete(r, N.STATUS_CANCELLED);
      };

      // --------------------------------------------------------------- writes

      /** The Cancel routine of a pending write: NDIS is asked to cancel its send. */
      const cancelWrite: N.DRIVER_CANCEL = (_dev, irp) => {
        // Read what it needs before the lock goes: the send completion may complete the IRP then.
        const o = irp.Tail.Overlay.DriverContext[0] as Open;
        const id = irp.Tail.Overlay.DriverContext[1] as number;
        N.IoReleaseCancelSpinLock(irp.CancelIrql);
        // The send completion completes the write, whether the send was cancelled or not.
        N.NdisAcquireSpinLock(o.lock);
        const handle = o.closing ? null : o.handle;
        N.NdisReleaseSpinLock(o.lock);
        if (handle !== null) N.NdisCancelSendNetBufferLists(handle, id);
      };

      const write = (irp: Irp): N.NTSTATUS => {
        const o = openOf(irp);
        if (o === null) return complete(irp, N.STATUS_INVALID_HANDLE);
        const length = stack(irp).Parameters.Write!.Length;
        if (irp.MdlAddress === null || length < EthHeader || length > o.mtu + EthHeader)
          return complete(irp, N.STATUS_INVALID_PARAMETER);
        // No spoofing: the source address must be the adapter's.
        const frame = N.MmGetSystemAddressForMdlSafe(
          irp.MdlAddress,
          N.NormalPagePriority | N.MdlMappingNoExecute,
        );
        if (frame === null) return complete(irp, N.STATUS_INSUFFICIENT_RESOURCES);
        for (let i = 0; i < 6; i++)
          if (frame[6 + i] !== o.mac[i]) return complete(irp, N.STATUS_INVALID_PARAMETER);
        N.NdisAcquireSpinLock(o.lock);
        if (!bugs.sendWhileUnbinding && (!o.running || o.closing || o.handle === null)) {
          N.NdisReleaseSpinLock(o.lock);
          return complete(irp, N.STATUS_INVALID_HANDLE);
        }
        const nbl = N.NdisAllocateNetBufferAndNetBufferList(o.pool!, 0, 0, irp.MdlAddress, 0, length);
        if (nbl === null) {
          N.NdisReleaseSpinLock(o.lock);
          return complete(irp, N.STATUS_INSUFFICIENT_RESOURCES);
        }
        nbl.SourceHandle = o.handle;
        nbl.ProtocolReserved[0] = irp;
        d.nextCancelId = (d.nextCancelId + 1) & 0xffffff;
        const id = d.partialCancelId * 0x1000000 + d.nextCancelId;
        nbl.CancelId = id;
        irp.Tail.Overlay.DriverContext[0] = o;
        irp.Tail.Overlay.DriverContext[1] = id;
        o.sendsOut++;
        N.NdisResetEvent(o.drained);
        N.IoMarkIrpPending(irp);
        if (!early) {
          N.IoSetCancelRoutine(irp, cancelWrite);
          // Cancelled already: the send goes anyway, and its completion completes the write.
        }
        N.NdisReleaseSpinLock(o.lock);
        if (bugs.completeBeforeSend) complete(irp, N.STATUS_SUCCESS, length);
        N.NdisSendNetBufferLists(
          o.handle!,
          nbl,
          N.NDIS_DEFAULT_PORT_NUMBER,
          N.NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK,
        );
        if (bugs.completeWriteEarly) complete(irp, N.STATUS_SUCCESS, length);
        return N.STATUS_PENDING;
      };

      /** ProtocolSendNetBufferListsComplete: each write completes with its send's status. */
      const sendComplete = (o: Open, chain: N.NET_BUFFER_LIST): void => {
        let done = 0;
        for (let x: N.NET_BUFFER_LIST | null = chain; x !== null; ) {
          const next: N.NET_BUFFER_LIST | null = x.Next;
          const irp = x.ProtocolReserved[0] as Irp;
          const status = x.Status;
          const length = x.FirstNetBuffer!.DataLength;
          x.Next = null;
          N.NdisFreeNetBufferList(x); // before the IRP: the NET_BUFFER describes its pages
          if (!early) {
            N.IoSetCancelRoutine(irp, null);
            if (status === N.NDIS_STATUS_SUCCESS) complete(irp, N.STATUS_SUCCESS, length);
            else
              complete(
                irp,
                status === N.NDIS_STATUS_REQUEST_ABORTED ? N.STATUS_CANCELLED : N.STATUS_UNSUCCESSFUL,
              );
          }
          done++;
          x = next;
        }
        N.NdisAcquireSpinLock(o.lock);
        o.sendsOut -= done;
        const drained = o.sendsOut === 0;
        N.NdisReleaseSpinLock(o.lock);
        if (drained) N.NdisSetEvent(o.drained);
      };

      // -------------------------------------------------------------- receives

      const receive = (o: Open, chain: N.NET_BUFFER_LIST, flags: number): void => {
        const atDispatch = (flags & N.NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL) !== 0;
        let queued = false;
        for (let x: N.NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
          const nb = x.FirstNetBuffer;
          if (nb === null) continue;
          // A copy: the NBL goes back to the miniport at once.
          const copy = new Uint8Array(nb.DataLength);
          if (nb.Data !== null) copy.set(nb.Data.subarray(nb.DataOffset, nb.DataOffset + nb.DataLength));
          N.NdisAcquireSpinLock(o.lock);
          if (o.running && !o.closing && o.file !== null) {
            if (o.frames.length === RecvQueueMax) o.frames.shift();
            o.frames.push(copy);
            queued = true;
          }
          N.NdisReleaseSpinLock(o.lock);
        }
        if ((flags & N.NDIS_RECEIVE_FLAGS_RESOURCES) === 0)
          N.NdisReturnNetBufferLists(o.handle!, chain, atDispatch ? N.NDIS_RETURN_FLAGS_DISPATCH_LEVEL : 0);
        if (queued) serviceReads(o);
      };

      // ---------------------------------------------------------- the device

      const openDevice = (irp: Irp): N.NTSTATUS => {
        const p = stack(irp).Parameters.DeviceIoControl!;
        const input = irp.AssociatedIrp.SystemBuffer;
        if (input === null || p.InputBufferLength < 2) return complete(irp, N.STATUS_INVALID_PARAMETER);
        const want = utf16(input, p.InputBufferLength).toUpperCase();
        const file = stack(irp).FileObject;
        N.NdisAcquireSpinLock(d.lock);
        const o = d.opens.find((x) => x.adapterName.toUpperCase() === want) ?? null;
        let status: N.NTSTATUS = N.STATUS_SUCCESS;
        if (o === null) status = N.STATUS_OBJECT_NAME_NOT_FOUND;
        else if (file.FsContext !== null || o.file !== null || o.closing) status = N.STATUS_DEVICE_BUSY;
        else {
          o.file = file;
          file.FsContext = o;
        }
        N.NdisReleaseSpinLock(d.lock);
        if (status !== N.STATUS_SUCCESS || o === null) return complete(irp, status);
        const s = setOid(
          o,
          N.OID_GEN_CURRENT_PACKET_FILTER,
          N.NDIS_PACKET_TYPE_DIRECTED | N.NDIS_PACKET_TYPE_MULTICAST | N.NDIS_PACKET_TYPE_BROADCAST,
        );
        if (s !== N.NDIS_STATUS_SUCCESS) {
          N.NdisAcquireSpinLock(d.lock);
          o.file = null;
          file.FsContext = null;
          N.NdisReleaseSpinLock(d.lock);
          return complete(irp, N.STATUS_UNSUCCESSFUL);
        }
        return complete(irp, N.STATUS_SUCCESS);
      };

      const deviceControl = (irp: Irp): N.NTSTATUS => {
        switch (stack(irp).Parameters.DeviceIoControl!.IoControlCode) {
          case IOCTL_NDISPROT_OPEN_DEVICE:
            return openDevice(irp);
          case IOCTL_NDISPROT_BIND_WAIT:
            return complete(
              irp,
              N.NdisWaitEvent(d.bindsComplete, BindWaitMs) ? N.STATUS_SUCCESS : N.STATUS_TIMEOUT,
            );
          default:
            return complete(irp, N.STATUS_INVALID_DEVICE_REQUEST);
        }
      };

      /** IRP_MJ_CLEANUP: the handle's reads fail; its binding is free for another handle. */
      const cleanup = (irp: Irp): N.NTSTATUS => {
        const file = stack(irp).FileObject;
        const o = openOf(irp);
        if (o !== null) {
          failReads(o, file);
          N.NdisAcquireSpinLock(d.lock);
          if (o.file === file) o.file = null;
          N.NdisReleaseSpinLock(d.lock);
        }
        return complete(irp, N.STATUS_SUCCESS);
      };

      const close = (irp: Irp): N.NTSTATUS => {
        N.NdisAcquireSpinLock(d.lock);
        stack(irp).FileObject.FsContext = null;
        N.NdisReleaseSpinLock(d.lock);
        return complete(irp, N.STATUS_SUCCESS);
      };

      const deleteDevice = (): void => {
        if (d.device === null) return;
        N.IoDeleteSymbolicLink(LinkName);
        N.IoDeleteDevice(d.device);
        d.device = null;
      };

      // ------------------------------------------------------------ binding

      const chars: N.NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<Open, Driver> = {
        Header: {
          Type: N.NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
          Revision: N.NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: 30,
        Name: name,
        BindAdapterHandlerEx: (drv, BindContext, p) => {
          if (p.MediaType !== N.NdisMedium802_3) return N.NDIS_STATUS_UNSUPPORTED_MEDIA;
          const o: Open = {
            handle: null,
            bindContext: BindContext,
            unbindContext: null,
            adapterName: p.AdapterName,
            mac: p.CurrentMacAddress,
            mtu: p.MtuSize,
            lock: new N.NDIS_SPIN_LOCK(),
            running: false,
            closing: false,
            file: null,
            pool: null,
            sendsOut: 0,
            drained: new N.NDIS_EVENT(),
            reads: [],
            frames: [],
            oidDone: new N.NDIS_EVENT(),
            oidStatus: N.NDIS_STATUS_SUCCESS,
          };
          N.NdisAllocateSpinLock(o.lock);
          N.NdisInitializeEvent(o.drained);
          N.NdisSetEvent(o.drained);
          N.NdisInitializeEvent(o.oidDone);
          // The send pool of the binding: each NBL takes a write's MDL.
          o.pool = N.NdisAllocateNetBufferListPool(drv.handle, {
            Header: {
              Type: N.NDIS_OBJECT_TYPE_DEFAULT,
              Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            },
            ProtocolId: 0,
            fAllocateNetBuffer: true,
            ContextSize: 0,
            PoolTag: 0x746f7250, // 'Prot'
            DataSize: 0,
          });
          if (o.pool === null) {
            N.NdisFreeSpinLock(o.lock);
            return N.NDIS_STATUS_RESOURCES;
          }
          const r = N.NdisOpenAdapterEx(
            drv.handle!,
            o,
            {
              Header: {
                Type: N.NDIS_OBJECT_TYPE_OPEN_PARAMETERS,
                Revision: N.NDIS_OPEN_PARAMETERS_REVISION_1,
              },
              AdapterName: p.AdapterName,
              MediumArray: [N.NdisMedium802_3],
              MediumArraySize: 1,
              SelectedMediumIndex: 0,
              FrameTypeArray: null,
              FrameTypeArraySize: 0,
            },
            BindContext,
          );
          o.handle = r.NdisBindingHandle;
          if (r.Status === N.NDIS_STATUS_SUCCESS) bound(o);
          else if (r.Status !== N.NDIS_STATUS_PENDING) freeOpen(o);
          return r.Status;
        },
        OpenAdapterCompleteHandlerEx: (o, Status) => {
          if (Status === N.NDIS_STATUS_SUCCESS) bound(o);
          else freeOpen(o);
          N.NdisCompleteBindAdapterEx(o.bindContext, Status);
        },
        UnbindAdapterHandlerEx: (UnbindContext, o) => {
          // ndisprotShutdownBinding. Paused already, so no send is out.
          N.NdisAcquireSpinLock(o.lock);
          o.closing = true;
          N.NdisReleaseSpinLock(o.lock);
          N.NdisWaitEvent(o.drained, 0);
          setOid(o, N.OID_GEN_CURRENT_PACKET_FILTER, 0);
          if (!bugs.keepReadsAtUnbind) failReads(o, null);
          N.NdisAcquireSpinLock(d.lock);
          d.opens.splice(d.opens.indexOf(o), 1);
          const last = d.opens.length === 0;
          N.NdisReleaseSpinLock(d.lock);
          if (bugs.deleteDeviceAtLastUnbind && last) deleteDevice();
          o.unbindContext = UnbindContext;
          const s = N.NdisCloseAdapterEx(o.handle!);
          if (s === N.NDIS_STATUS_PENDING) return N.NDIS_STATUS_PENDING;
          closed(o);
          return N.NDIS_STATUS_SUCCESS;
        },
        CloseAdapterCompleteHandlerEx: (o) => {
          closed(o);
          N.NdisCompleteUnbindAdapterEx(o.unbindContext!);
        },
        NetPnPEventHandler: (o, note) => {
          if (o === null) {
            if (note.NetPnPEvent.NetEvent === N.NetEventBindsComplete) N.NdisSetEvent(d.bindsComplete);
            return N.NDIS_STATUS_SUCCESS;
          }
          switch (note.NetPnPEvent.NetEvent) {
            case N.NetEventRestart:
              N.NdisAcquireSpinLock(o.lock);
              o.running = true;
              N.NdisReleaseSpinLock(o.lock);
              return N.NDIS_STATUS_SUCCESS;
            case N.NetEventPause:
              // R7.2: no new sends; wait for those under way.
              N.NdisAcquireSpinLock(o.lock);
              o.running = false;
              N.NdisReleaseSpinLock(o.lock);
              N.NdisWaitEvent(o.drained, 0);
              return N.NDIS_STATUS_SUCCESS;
            default:
              return N.NDIS_STATUS_SUCCESS;
          }
        },
        OidRequestCompleteHandler: (o, _req, Status) => {
          o.oidStatus = Status;
          N.NdisSetEvent(o.oidDone);
        },
        ReceiveNetBufferListsHandler: (o, chain, _port, _count, flags) => receive(o, chain, flags),
        SendNetBufferListsCompleteHandler: (o, chain) => sendComplete(o, chain),
        StatusHandlerEx: () => {},
      };

      /** The open succeeded: the binding is one the application may name. */
      function bound(o: Open): void {
        N.NdisAcquireSpinLock(d.lock);
        d.opens.push(o);
        N.NdisReleaseSpinLock(d.lock);
      }

      function freeOpen(o: Open): void {
        if (o.pool !== null) N.NdisFreeNetBufferListPool(o.pool);
        o.pool = null;
        N.NdisFreeSpinLock(o.lock);
      }

      /** NdisCloseAdapterEx is done: the handle's later requests fail (openOf finds a closing binding). */
      function closed(o: Open): void {
        o.handle = null;
        if (o.pool !== null) N.NdisFreeNetBufferListPool(o.pool);
        o.pool = null;
      }

      return {
        DriverEntry: (obj) => {
          d.object = obj;
          d.partialCancelId = N.NdisGeneratePartialCancelId();
          N.NdisAllocateSpinLock(d.lock);
          N.NdisInitializeEvent(d.bindsComplete);
          const dev = N.IoCreateDevice(obj, 0, DeviceName, N.FILE_DEVICE_NETWORK, 0, false);
          if (dev.Status !== N.STATUS_SUCCESS) return dev.Status;
          d.device = dev.DeviceObject!;
          d.device.Flags |= N.DO_DIRECT_IO;
          const l = N.IoCreateSymbolicLink(LinkName, DeviceName);
          if (l !== N.STATUS_SUCCESS) {
            N.IoDeleteDevice(d.device);
            return l;
          }
          // FileObject->FsContext is NULL at create: IOCTL_NDISPROT_OPEN_DEVICE sets it.
          obj.MajorFunction[N.IRP_MJ_CREATE] = (_dev, irp) => complete(irp, N.STATUS_SUCCESS);
          obj.MajorFunction[N.IRP_MJ_CLEANUP] = (_dev, irp) => cleanup(irp);
          obj.MajorFunction[N.IRP_MJ_CLOSE] = (_dev, irp) => close(irp);
          obj.MajorFunction[N.IRP_MJ_READ] = (_dev, irp) => read(irp);
          obj.MajorFunction[N.IRP_MJ_WRITE] = (_dev, irp) => write(irp);
          obj.MajorFunction[N.IRP_MJ_DEVICE_CONTROL] = (_dev, irp) => deviceControl(irp);
          const r = N.NdisRegisterProtocolDriver(d, chars);
          if (r.Status !== N.NDIS_STATUS_SUCCESS) {
            deleteDevice();
            return r.Status;
          }
          d.handle = r.NdisProtocolHandle;
          obj.DriverUnload = () => {
            N.NdisDeregisterProtocolDriver(d.handle!);
            deleteDevice();
            N.NdisFreeSpinLock(d.lock);
          };
          return N.NDIS_STATUS_SUCCESS;
        },
      };
    },
  };
}

/** The reference driver. */
export const ndisprotLite: N.DriverModule = ndisprotLiteWith();
