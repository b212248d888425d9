// Standalone device objects: NdisRegisterDeviceEx, NdisDeregisterDeviceEx,
// NdisGetDeviceReservedExtension, and the two WDM calls a dispatch routine needs to
// finish its IRP, IoMarkIrpPending and IoCompleteRequest (device.ts has the I/O side).

import { Irql, irqlNames } from '../../kernel/kernel.ts';
import { ntStatusName } from '../../report/format.ts';
import { BugCheckCode } from '../../verifier/bugcheck.ts';
import { sendOverMdl } from '../datapath.ts';
import {
  ControlDevice,
  ControlDeviceObject,
  completeRequest,
  describeRequest,
  dropCancelLock,
  dropLateAccess,
  IoDriver,
  type IoRequest,
  ioRequestOf,
  ioState,
  isNtStatus,
  linkKey,
  liveDevices,
  notAStatus,
  openDeletedDevice,
  rawIoStatus,
} from '../device.ts';
import { MiniportDriverBlock } from '../driver.ts';
import { FilterDriverBlock } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_MAXIMUM_FUNCTION,
  IRP_MJ_PNP,
  IRP_MJ_POWER,
  IRP_MJ_READ,
  METHOD_BUFFERED,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  STATUS_OBJECT_NAME_COLLISION,
  STATUS_PENDING,
} from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import type {
  DEVICE_OBJECT,
  DISPATCH_IO_STACK_LOCATION,
  DRIVER_CANCEL,
  IRP,
  NDIS_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_HANDLE,
  NDIS_STATUS,
} from '../types.ts';
import { currentNdis, lockHeldUpCall } from './common.ts';

const irqlRegister = ddiIrql.NdisRegisterDeviceEx!;
const irqlDeregister = ddiIrql.NdisDeregisterDeviceEx!;
const irqlExtension = ddiIrql.NdisGetDeviceReservedExtension!;

/** A miniport or filter driver handle, the two the page names, or null for any other. */
function ownerOf(h: unknown): MiniportDriverBlock | FilterDriverBlock | null {
  return h instanceof MiniportDriverBlock || h instanceof FilterDriverBlock ? h : null;
}

/** Why NDIS refuses the attributes with NDIS_STATUS_INVALID_PARAMETER, or null. */
function badAttributes(a: NDIS_DEVICE_OBJECT_ATTRIBUTES): string | null {
  if (a === null || typeof a !== 'object') return 'no NDIS_DEVICE_OBJECT_ATTRIBUTES';
  if (a.Header?.Type !== NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES)
    return 'Header.Type is not NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES';
  if (a.Header.Revision !== NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1)
    return `Header.Revision ${String(a.Header.Revision)} is not NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1`;
  if (typeof a.DeviceName !== 'string' || !/^\\Device\\[^\\]+$/i.test(a.DeviceName))
    return `DeviceName ${JSON.stringify(a.DeviceName)} is not a full path \\Device\\<name>`;
  if (
    a.SymbolicName !== null &&
    a.SymbolicName !== undefined &&
    (typeof a.SymbolicName !== 'string' ||
      !/^(\\DosDevices\\|\\\?\?\\|\\GLOBAL\?\?\\)(Global\\)?[^\\]+$/i.test(a.SymbolicName))
  )
    return `SymbolicName ${JSON.stringify(a.SymbolicName)} is not \\DosDevices\\<name>`;
  if (!Array.isArray(a.MajorFunctions)) return 'MajorFunctions is not an array of dispatch routines';
  if (!Number.isInteger(a.ExtensionSize) || a.ExtensionSize < 0 || a.ExtensionSize > 0xffffffff)
    return `ExtensionSize ${String(a.ExtensionSize)} is not a ULONG`;
  return null;
}

/** What the driver may not pass (the structure's page), or null. */
function forbidden(a: NDIS_DEVICE_OBJECT_ATTRIBUTES): string | null {
  const m = a.MajorFunctions;
  if (m.length > IRP_MJ_MAXIMUM_FUNCTION + 1)
    return `MajorFunctions has ${m.length} entries; IRP_MJ_MAXIMUM_FUNCTION + 1 at most`;
  for (let i = 0; i < m.length; i++) {
    const f = m[i];
    if (f !== null && f !== undefined && typeof f !== 'function')
      return `MajorFunctions[${i}] is neither a dispatch routine nor NULL`;
  }
  if (typeof m[IRP_MJ_PNP] === 'function')
    return 'a dispatch routine for IRP_MJ_PNP: the device is not a PnP device and gets no PnP IRPs';
  if (typeof m[IRP_MJ_POWER] === 'function')
    return 'a dispatch routine for IRP_MJ_POWER: the device gets no power IRPs';
  if (a.DeviceClassGuid !== null && a.DeviceClassGuid !== undefined)
    return 'DeviceClassGuid is reserved for NDIS and must be NULL';
  return null;
}

/**
 * NDIS_STATUS NdisRegisterDeviceEx(NdisHandle, DeviceObjectAttributes, *pDeviceObject,
 * *NdisDeviceHandle). PASSIVE (Irql_Miscellaneous_Function). Creates a device object
 * named DeviceName, with the symbolic link SymbolicName, whose requests go to the
 * driver's MajorFunctions; allocates ExtensionSize bytes of extension. Attributes NDIS
 * cannot take fail with NDIS_STATUS_INVALID_PARAMETER; a name already in use with
 * STATUS_OBJECT_NAME_COLLISION (IoCreateDevice's status, passed on); a deregistered
 * driver's handle with NDIS_STATUS_FAILURE; a handle that is not a miniport or filter
 * driver handle (a protocol's, an adapter's) with NDIS_STATUS_NOT_SUPPORTED, the page's
 * status for a caller that is not an NDIS driver. What the page forbids (PnP or power
 * routines, a DeviceClassGuid), a deregistered driver and a wrong handle are
 * NdisSim_DeviceRegistration.
 */
export function NdisRegisterDeviceEx(
  NdisHandle: NDIS_HANDLE,
  DeviceObjectAttributes: NDIS_DEVICE_OBJECT_ATTRIBUTES,
): { Status: NDIS_STATUS; pDeviceObject: DEVICE_OBJECT | null; NdisDeviceHandle: NDIS_HANDLE | null } {
  const ddi = 'NdisRegisterDeviceEx';
  const n = currentNdis(ddi);
  const owner = ownerOf(NdisHandle);
  n.verifier.irql(irqlRegister, ddi, null);
  const a = DeviceObjectAttributes;
  const fail = (Status: number, why: string) => {
    if (n.trace.on) n.traceDdi(ddi, null, { driver: owner?.name ?? null, result: Status, why });
    return { Status, pDeviceObject: null, NdisDeviceHandle: null };
  };
  if (owner === null) {
    // The page's NDIS_STATUS_NOT_SUPPORTED: "the caller is not an NDIS driver", which
    // NDIS can only tell from the handle.
    n.verifier.report(
      'NdisSim_DeviceRegistration',
      ddi,
      null,
      `${ddi}: NdisHandle is not a miniport driver handle (NdisMRegisterMiniportDriver) or a filter driver handle (NdisFRegisterFilterDriver), the only two the page allows; the call fails with NDIS_STATUS_NOT_SUPPORTED`,
    );
    return fail(NDIS_STATUS_NOT_SUPPORTED, 'NdisHandle is not a miniport or filter driver handle');
  }
  if (owner.deregistered) {
    n.verifier.report(
      'NdisSim_DeviceRegistration',
      ddi,
      null,
      `${owner.name}: ${ddi} with the handle of a driver that called its deregistration already`,
    );
    return fail(NDIS_STATUS_FAILURE, 'the driver is deregistered');
  }
  const bad = badAttributes(a);
  if (bad !== null) return fail(NDIS_STATUS_INVALID_PARAMETER, bad);
  const no = forbidden(a);
  if (no !== null) {
    n.verifier.report('NdisSim_DeviceRegistration', ddi, null, `${owner.name}: ${ddi}: ${no}`);
    return fail(NDIS_STATUS_INVALID_PARAMETER, no);
  }
  const io = ioState(n);
  const link = a.SymbolicName ? linkKey(a.SymbolicName) : null;
  if (io.names.has(a.DeviceName.toLowerCase()) || (link !== null && io.links.has(link)))
    return fail(STATUS_OBJECT_NAME_COLLISION, `${a.DeviceName} or its link is in use`);
  const dev = new ControlDevice(
    owner,
    a.DeviceName,
    a.SymbolicName ? a.SymbolicName.replace(/^(\\DosDevices\\|\\\?\?\\|\\GLOBAL\?\?\\)/i, '') : null,
    a.MajorFunctions.slice(),
    a.ExtensionSize > 0 ? new Uint8Array(a.ExtensionSize) : null,
  );
  io.names.set(a.DeviceName.toLowerCase(), dev);
  if (link !== null) io.links.set(link, dev);
  if (n.trace.on)
    n.traceDdi(ddi, null, {
      driver: owner.name,
      DeviceName: a.DeviceName,
      SymbolicName: a.SymbolicName ?? null,
      result: NDIS_STATUS_SUCCESS,
    });
  return { Status: NDIS_STATUS_SUCCESS, pDeviceObject: dev.deviceObject, NdisDeviceHandle: dev };
}

/**
 * VOID NdisDeregisterDeviceEx(NdisDeviceHandle). PASSIVE (Irql_Miscellaneous_Function).
 * Deletes the device and its symbolic link: no new handle can be opened. Handles the
 * application still holds keep sending their requests to the dispatch routines (as the
 * I/O manager does for a device object deleted with handles open) until it closes them.
 * A handle NdisRegisterDeviceEx did not return, or one deregistered already, is
 * NdisSim_DeviceDeregister.
 */
export function NdisDeregisterDeviceEx(NdisDeviceHandle: NDIS_HANDLE): void {
  const ddi = 'NdisDeregisterDeviceEx';
  const n = currentNdis(ddi);
  n.verifier.irql(irqlDeregister, ddi, null);
  if (!(NdisDeviceHandle instanceof ControlDevice)) {
    n.verifier.report(
      'NdisSim_DeviceDeregister',
      ddi,
      null,
      NdisDeviceHandle instanceof ControlDeviceObject
        ? `${ddi} was given the DEVICE_OBJECT (pDeviceObject); it takes the NdisDeviceHandle NdisRegisterDeviceEx returned`
        : `${ddi}: the handle is not one NdisRegisterDeviceEx returned`,
    );
    return;
  }
  const dev = NdisDeviceHandle;
  if (n.trace.on)
    n.traceDdi(ddi, null, { driver: dev.owner.name, DeviceName: dev.name, openHandles: dev.files.length });
  if (dev.deregistered) {
    n.verifier.report('NdisSim_DeviceDeregister', ddi, null, `${ddi}: ${dev.name} was deregistered already`);
    return;
  }
  dev.deregistered = true;
  const io = ioState(n);
  io.names.delete(dev.name.toLowerCase());
  if (dev.link !== null) io.links.delete(linkKey(dev.link));
}

/**
 * PVOID NdisGetDeviceReservedExtension(DeviceObject). Any IRQL. The ExtensionSize bytes
 * NdisRegisterDeviceEx allocated for the device (the same array each time), or NULL for
 * a device without one, one deregistered, or a DEVICE_OBJECT NDIS did not make.
 */
export function NdisGetDeviceReservedExtension(DeviceObject: DEVICE_OBJECT): Uint8Array | null {
  const ddi = 'NdisGetDeviceReservedExtension';
  const n = currentNdis(ddi);
  n.verifier.irql(irqlExtension, ddi, null);
  if (
    !(DeviceObject instanceof ControlDeviceObject) ||
    DeviceObject.device.deregistered ||
    DeviceObject.device.owner instanceof IoDriver
  )
    return null;
  return DeviceObject.device.extension;
}

/** The request of an IRP the model sent to a control device; anything else is a bad parameter. */
export function requestOf(n: Ndis, Irp: unknown, ddi: string): IoRequest {
  const r = ioRequestOf(Irp);
  if (r !== undefined) return r;
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: the IRP is not one the I/O manager sent to a dispatch routine of a device from NdisRegisterDeviceEx (NDIS completes the PnP IRPs it passes a miniport itself)`,
  );
}

/**
 * VOID IoMarkIrpPending(Irp) (wdm.h). A dispatch routine that returns STATUS_PENDING
 * calls it first (NdisSim_IrpNotCompleted otherwise).
 */
export function IoMarkIrpPending(Irp: IRP<DISPATCH_IO_STACK_LOCATION>): void {
  const n = currentNdis('IoMarkIrpPending');
  const r = requestOf(n, Irp, 'IoMarkIrpPending');
  completedAlready(n, r, 'IoMarkIrpPending');
  r.markedPending = true;
}

/**
 * An IRP the driver completed belongs to the I/O manager again, which may have freed
 * it (the IoCompleteRequest page: the caller must not touch it after the call). A
 * driver call that still takes it reads or writes freed memory: NdisSim_ObjectFreedInUse.
 * The call then goes on, as the write to freed memory would.
 */
function completedAlready(n: Ndis, r: IoRequest, ddi: string): void {
  if (r.completed)
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      null,
      `${ddi} on an IRP of handle ${r.file.handle} that IoCompleteRequest completed already: the I/O manager may have freed it (nf-wdm-iocompleterequest)`,
    );
}

/**
 * VOID IoCompleteRequest(Irp, PriorityBoost) (wdm.h). <= DISPATCH. The request is done
 * with the Irp.IoStatus the driver set: the application gets Status, and Information
 * bytes of output (at most its OutputBufferLength, or a read's Length). A second
 * completion is MULTIPLE_IRP_COMPLETE_REQUESTS (NdisSim_IrpDoubleComplete); completing
 * with STATUS_PENDING is Driver Verifier's 0xC9/0x06 (NdisSim_IrpNotCompleted: the IRP
 * gets no final status). PriorityBoost is kept for the C shape: the model has no
 * thread priorities.
 */
export function IoCompleteRequest(Irp: IRP<DISPATCH_IO_STACK_LOCATION>, PriorityBoost: number): void {
  const ddi = 'IoCompleteRequest';
  const n = currentNdis(ddi);
  const r = requestOf(n, Irp, ddi);
  // With the code Driver Verifier's I/O verification raises for it, 0xC9/0x0E.
  atMostDispatch(n, ddi, { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x0e });
  // R8.11 and the IoCompleteRequest page: never complete an IRP holding a spin lock.
  if (n.kernel.ctx.held.length > 0)
    lockHeldUpCall(
      n,
      null,
      ddi,
      'nf-wdm-iocompleterequest, R8.11',
      'completing an IRP runs the completion work of the I/O manager and of any driver above, which may need the same lock',
    );
  // Read without the after-completion check: a second completion is its own rule.
  const IoStatus = rawIoStatus(Irp);
  const status = IoStatus.Status;
  if (!isNtStatus(status)) notAStatus(n, ddi, 'found Irp->IoStatus.Status', status);
  if (n.trace.on)
    n.traceDdi(ddi, null, {
      handle: r.file.handle,
      Status: ntStatusName(status),
      Information: IoStatus.Information,
      PriorityBoost,
    });
  if (r.completed) {
    dropLateAccess(r);
    n.verifier.report(
      'NdisSim_IrpDoubleComplete',
      ddi,
      null,
      `${ddi}: the IRP (of handle ${r.file.handle}) was completed already`,
      [r.id, 0, 0],
    );
    return;
  }
  if (status === STATUS_PENDING) {
    // Driver Verifier's I/O verification, 0xC9/0x06.
    n.verifier.report(
      'NdisSim_IrpNotCompleted',
      ddi,
      null,
      `${ddi} with IoStatus.Status STATUS_PENDING: a completed IRP needs its final status`,
      [r.id, 0, 0],
      { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x06 },
    );
  }
  // Enhanced I/O Verification, 0xC9/0x312: more bytes claimed than the caller's output
  // buffer, on a status the I/O manager copies the output back for (any but an error):
  // a METHOD_BUFFERED control's, or a read's through a system buffer (DO_BUFFERED_IO).
  if (
    ((r.major === IRP_MJ_DEVICE_CONTROL && (r.code & 3) === METHOD_BUFFERED) ||
      (r.major === IRP_MJ_READ && Irp.AssociatedIrp.SystemBuffer !== null)) &&
    IoStatus.Information > r.outputLength &&
    status >>> 30 !== 3 &&
    n.verifier.mode !== 'off'
  )
    n.verifier.report(
      'NdisSim_IrpInformationOverrun',
      ddi,
      null,
      `${ddi}: IoStatus.Information is ${IoStatus.Information} for a buffered request of handle ${r.file.handle} (${describeRequest(r)}) whose ${r.major === IRP_MJ_READ ? 'Length' : 'OutputBufferLength'} is ${r.outputLength}: the I/O manager would copy that many bytes back to the application, past its buffer; set Information to the bytes ${r.major === IRP_MJ_READ ? 'read' : 'written'}, at most ${r.major === IRP_MJ_READ ? 'Length' : 'OutputBufferLength'}`,
      [r.id, 0, 0],
      { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x312 },
    );
  // Driver Verifier's I/O verification, 0xC9/0x07 (and 0x23C with Enhanced I/O
  // Verification): the Cancel routine is still set, so IoCancelIrp could call it for an
  // IRP that is completed and freed. IoSetCancelRoutine(Irp, NULL) first; if that
  // returns NULL the Cancel routine is running or about to, and it completes the IRP.
  if (r.cancelRoutine !== null) {
    n.verifier.report(
      'NdisSim_IrpCompletedWithCancelRoutine',
      ddi,
      null,
      r.csq !== null
        ? // The cancel-safe queue's own Cancel routine: the IRP is still in the queue.
          `${ddi} of a request of handle ${r.file.handle} (${describeRequest(r)}) that is still in a cancel-safe queue (IoCsqInsertIrp set its Cancel routine): take it out with IoCsqRemoveNextIrp or IoCsqRemoveIrp, which clear the Cancel routine, and complete only an IRP they return (cancel-safe-irp-queues)`
        : `${ddi} of a request of handle ${r.file.handle} (${describeRequest(r)}) whose Cancel routine is still set: IoSetCancelRoutine(Irp, NULL) before completing it, and leave the IRP to the Cancel routine when that returns NULL`,
      [0, r.id, 0],
      { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x07 },
    );
    r.cancelRoutine = null;
  }
  if (Irp.MdlAddress !== null && n.verifier.mode !== 'off') completedUnderSend(n, r, Irp.MdlAddress);
  completeRequest(n, r);
}

/**
 * IoCompleteRequest of a write (or read) whose MDL is the data of a send still out: the
 * I/O manager unlocks the pages and frees the MDL at the completion, while the miniport
 * may still read them for the send, or a DMA engine be reading them now. The sender gave
 * the NBL and all its resources away with NdisSendNetBufferLists until
 * ProtocolSendNetBufferListsComplete (sending-data-from-a-protocol-driver); reported
 * here, at the call that lets the pages go, whenever the miniport touches them
 * (docs/decisions.md).
 */
function completedUnderSend(n: Ndis, r: IoRequest, mdl: Uint8Array): void {
  const out = sendOverMdl(n, mdl);
  if (out === null) return;
  n.verifier.report(
    'NdisSim_ObjectFreedInUse',
    'IoCompleteRequest',
    out.block.name,
    `IoCompleteRequest of a request of handle ${r.file.handle} (${describeRequest(r)}) whose MDL is the data of NBL #${out.nbl._id}, which ${out.sender} sent and which is still ${out.where}: the I/O manager unlocks the application's pages and frees the MDL at the completion, while the NIC may still read them for the send; complete the request in ProtocolSendNetBufferListsComplete, when the NBL is back (sending-data-from-a-protocol-driver)`,
    [r.id, out.nbl._id, 0],
  );
}

/** The IRQLs IoAcquireCancelSpinLock can save (it is called at most at DISPATCH_LEVEL). */
const savableIrqls: readonly number[] = [Irql.Passive, Irql.Apc, Irql.Dispatch];

/**
 * <= DISPATCH_LEVEL for IoCompleteRequest, the cancel DDIs and the WDM work-item DDIs
 * of api/kernel.ts (their pages). They are
 * wdm.h's, not NDIS DDIs, so not in the generated table, and no SDV IRQL rule lists
 * them: NdisSim_Irql (parameter 2: the IRQL), with `code` when Driver Verifier has one.
 */
export function atMostDispatch(n: Ndis, ddi: string, code?: { code: number; p1: number }): void {
  const irql = n.kernel.ctx.irql;
  if (irql > Irql.Dispatch && n.verifier.mode !== 'off')
    n.verifier.report(
      'NdisSim_Irql',
      ddi,
      null,
      `${ddi} called at ${irqlNames[irql]}; it must be called at most DISPATCH_LEVEL`,
      [irql, 0, 0],
      code,
    );
}

/**
 * PDRIVER_CANCEL IoSetCancelRoutine(Irp, CancelRoutine) (wdm.h). <= DISPATCH. Sets
 * Irp->CancelRoutine to `CancelRoutine` (NULL: the IRP is no longer cancelable) as one
 * atomic exchange and returns the routine set before, NULL if there was none or if
 * IoCancelIrp has taken it (the cancellation is under way: the Cancel routine owns the
 * IRP and completes it). A driver that queues an IRP sets its routine, then checks
 * Irp.Cancel: a cancel that came while no routine was set called nothing.
 */
export function IoSetCancelRoutine(
  Irp: IRP<DISPATCH_IO_STACK_LOCATION>,
  CancelRoutine: DRIVER_CANCEL | null,
): DRIVER_CANCEL | null {
  const ddi = 'IoSetCancelRoutine';
  const n = currentNdis(ddi);
  const r = requestOf(n, Irp, ddi);
  atMostDispatch(n, ddi);
  completedAlready(n, r, ddi);
  if (CancelRoutine !== null && typeof CancelRoutine !== 'function')
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: CancelRoutine is neither a Cancel routine (DRIVER_CANCEL) nor NULL`,
    );
  const previous = r.cancelRoutine;
  r.cancelRoutine = CancelRoutine;
  if (n.trace.on)
    n.traceDdi(ddi, null, {
      handle: r.file.handle,
      CancelRoutine: CancelRoutine === null ? 'NULL' : 'set',
      result: previous === null ? 'NULL' : 'the previous routine',
    });
  return previous;
}

/**
 * VOID IoAcquireCancelSpinLock(*Irql) (wdm.h). <= DISPATCH. Takes the system's cancel
 * spin lock and raises to DISPATCH_LEVEL; returns the IRQL to give
 * IoReleaseCancelSpinLock (the out-parameter, as for a VOID DDI with one). Taking it
 * again while holding it spins for ever: NdisSim_CancelSpinLock.
 */
export function IoAcquireCancelSpinLock(): number {
  const ddi = 'IoAcquireCancelSpinLock';
  const n = currentNdis(ddi);
  atMostDispatch(n, ddi);
  const ctx = n.kernel.ctx;
  const irql = ctx.irql;
  const lock = ioState(n).cancelLock;
  if (lock.owner !== null) {
    n.verifier.report(
      'NdisSim_CancelSpinLock',
      ddi,
      null,
      `${ddi} while ${lock.owner === ctx ? 'the caller' : lock.owner.who} holds the cancel spin lock${lock.owner === ctx ? ' (in a Cancel routine, IoCancelIrp took it already)' : ''}: the processor spins for ever`,
    );
    return irql;
  }
  ctx.take(lock, true);
  if (n.trace.on) n.traceDdi(ddi, null, { Irql: irqlNames[irql] });
  return irql;
}

/**
 * VOID IoReleaseCancelSpinLock(Irql) (wdm.h). Lets the cancel spin lock go and returns
 * to `Irql`: what IoAcquireCancelSpinLock returned, or Irp.CancelIrql in a Cancel
 * routine. Releasing it without holding it is NdisSim_CancelSpinLock.
 */
export function IoReleaseCancelSpinLock(Irql: number): void {
  const ddi = 'IoReleaseCancelSpinLock';
  const n = currentNdis(ddi);
  const ctx = n.kernel.ctx;
  const lock = ioState(n).cancelLock;
  if (lock.owner !== ctx) {
    n.verifier.report(
      'NdisSim_CancelSpinLock',
      ddi,
      null,
      `${ddi} by a caller that does not hold the cancel spin lock (released twice, or never taken)`,
    );
    return;
  }
  if (n.trace.on) n.traceDdi(ddi, null, { Irql: irqlNames[Irql] ?? Irql });
  if (!savableIrqls.includes(Irql)) {
    // Not an IRQL the acquire could have saved (it runs at most at DISPATCH_LEVEL).
    n.verifier.report(
      'NdisSim_CancelSpinLock',
      ddi,
      null,
      `${ddi}(${String(Irql)}): the IRQL is not one IoAcquireCancelSpinLock returned or Irp->CancelIrql holds`,
    );
    dropCancelLock(n, lock.savedIrql);
    return;
  }
  dropCancelLock(n, Irql);
}

/**
 * The devices a driver still has registered when it deregisters (NdisMDeregisterMiniportDriver,
 * NdisFDeregisterFilterDriver): NdisSim_DeviceNotDeregistered.
 */
export function checkDevicesAtDeregistration(
  n: Ndis,
  owner: MiniportDriverBlock | FilterDriverBlock,
  ddi: string,
): void {
  if (n.io === null) return;
  const left = liveDevices(n, owner);
  if (left.length === 0) return;
  n.verifier.report(
    'NdisSim_DeviceNotDeregistered',
    ddi,
    null,
    `${owner.name}: ${ddi} with ${left.map((d) => d.name).join(', ')} still registered (NdisDeregisterDeviceEx first)`,
  );
}

/**
 * R2.16 for a driver with devices: the I/O manager unloads a driver only when none of
 * its device objects is left. Returns true when the unload must not happen now: a
 * device is still registered (NdisSim_DeviceNotDeregistered; the driver stays loaded,
 * as on Windows), or a deregistered one still has a handle open (the unload comes when
 * it closes). So no handle is open at an unload, and a request left pending was
 * reported at its handle's cleanup (NdisSim_IrpPendingAtClose).
 */
export function devicesBlockUnload(
  n: Ndis,
  owner: MiniportDriverBlock | FilterDriverBlock,
  fn: string,
): boolean {
  if (n.io === null) return false;
  const left = liveDevices(n, owner);
  if (left.length > 0) {
    n.verifier.report(
      'NdisSim_DeviceNotDeregistered',
      fn,
      null,
      `${owner.name}: its last adapter is gone but ${left.map((d) => d.name).join(', ')} is still registered: Windows cannot unload the driver (deregister the device when the last adapter halts)`,
    );
    return true;
  }
  // A device deleted while the application holds a handle lives on until the handle
  // closes, and so does its driver: the unload waits for the last CloseHandle (userClose).
  if (openDeletedDevice(n, owner)) {
    if (n.trace.on)
      n.traceNdis(
        null,
        `${owner.name} stays loaded until the application closes its handles to its deleted devices`,
        {},
      );
    return true;
  }
  return false;
}
