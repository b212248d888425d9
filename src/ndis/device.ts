// Standalone device objects (NdisRegisterDeviceEx) and the small part of the I/O
// manager that reaches them: a user-mode application opens a device by its symbolic
// link, sends DeviceIoControl, ReadFile and WriteFile requests and closes its handle;
// each request becomes an IRP that the driver's dispatch routine
// (NDIS_DEVICE_OBJECT_ATTRIBUTES.MajorFunctions) completes with IoCompleteRequest, at
// once or later. NDIS does not tie such a device
// to any adapter: its requests keep coming while adapters halt, which is what makes a
// dispatch routine that reaches "the adapter" a classic bug (docs/model.md,
// "Standalone device objects").
//
// Made on first use (Ndis.io): a run whose drivers register no device and whose
// scenario opens none pays nothing.

import { NotModelledError } from '../errors.ts';
import { Irql, type LockState } from '../kernel/kernel.ts';
import { fmtTime, ntStatusName } from '../report/format.ts';
import type { EventTarget } from '../sim/queue.ts';
import { BugCheckCode } from '../verifier/bugcheck.ts';
import type { CsqEntry } from './api/csq.ts';
import type { DriverModule } from './driver.ts';
import { MiniportDriverBlock } from './driver.ts';
import type { FilterDriverBlock } from './filter.ts';
import {
  DO_BUFFERED_IO,
  DO_DIRECT_IO,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_READ,
  IRP_MJ_WRITE,
  METHOD_BUFFERED,
  METHOD_NEITHER,
  STATUS_INVALID_DEVICE_REQUEST,
  STATUS_INVALID_HANDLE,
  STATUS_NO_SUCH_DEVICE,
  STATUS_OBJECT_NAME_NOT_FOUND,
  STATUS_PENDING,
} from './generated/status.ts';
import { NT_SUCCESS } from './macros.ts';
import { type Frame, isAsync, type Ndis, notResumable } from './ndis.ts';
import { isResumable, type ResumableDispatch } from './resumable.ts';
import type {
  DEVICE_OBJECT,
  DISPATCH_IO_STACK_LOCATION,
  DRIVER_CANCEL,
  DRIVER_DISPATCH,
  DRIVER_OBJECT,
  FILE_OBJECT,
  IRP,
  NDIS_HANDLE,
  NTSTATUS,
} from './types.ts';

/** The driver that registered a device: a miniport driver or a filter driver (the page allows both). */
export type DeviceOwner = MiniportDriverBlock | FilterDriverBlock | IoDriver;

/**
 * A protocol driver that made devices of its own with IoCreateDevice, as the I/O
 * manager knows it: by its DRIVER_OBJECT, from DriverEntry on (it may create them
 * before NdisRegisterProtocolDriver). It is unloaded when its protocol driver is.
 */
export class IoDriver {
  constructor(
    readonly n: Ndis,
    readonly name: string,
    readonly driverObject: DRIVER_OBJECT,
  ) {}

  /**
   * Its service is stopping and waits for the application's handles to its devices
   * (unload-routine-environment: "Unload Pending"): no new handle opens.
   */
  unloadPending = false;

  get unloaded(): boolean {
    return this.n.protocolDrivers?.get(this.name)?.unloaded ?? false;
  }
}

/** The DEVICE_OBJECT NdisRegisterDeviceEx returns in `pDeviceObject`, or IoCreateDevice in `DeviceObject`. */
export class ControlDeviceObject implements DEVICE_OBJECT {
  readonly __ndisHandle = 'DEVICE_OBJECT';
  /** The driver sets DO_BUFFERED_IO or DO_DIRECT_IO for its reads and writes; NDIS leaves it 0. */
  Flags = 0;
  constructor(readonly device: ControlDevice) {}

  /** IoCreateDevice's extension; null on a device of NdisRegisterDeviceEx (NdisGetDeviceReservedExtension gives that one). */
  get DeviceExtension(): Uint8Array | null {
    return this.device.owner instanceof IoDriver ? this.device.extension : null;
  }
}

/** NDIS's record of a registered device; it is also the NdisDeviceHandle. */
export class ControlDevice implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_DEVICE_HANDLE';
  readonly deviceObject: ControlDeviceObject;
  /** NdisDeregisterDeviceEx was called: the name and the link are gone. */
  deregistered = false;
  /** Files opened on it and not yet closed (IRP_MJ_CLOSE not sent). */
  readonly files: FileObject[] = [];
  constructor(
    readonly owner: DeviceOwner,
    /** As the driver gave it (\Device\SimNicCtl). */
    readonly name: string,
    /** The link without its \DosDevices\ prefix (SimNicCtl), or null. */
    readonly link: string | null,
    /** A copy of MajorFunctions, indexed by IRP_MJ_XXX. */
    readonly majors: readonly (DRIVER_DISPATCH | null | undefined)[],
    /** The extension NdisGetDeviceReservedExtension returns; null for ExtensionSize 0. */
    readonly extension: Uint8Array | null,
  ) {
    this.deviceObject = new ControlDeviceObject(this);
  }
}

/** The FILE_OBJECT of one handle the application opened. */
export class FileObject implements FILE_OBJECT {
  readonly __ndisHandle = 'FILE_OBJECT';
  FsContext: unknown = null;
  FsContext2: unknown = null;
  /** IRP_MJ_CLEANUP was sent: the application closed its handle. */
  cleanedUp = false;
  /**
   * Cleaned up with requests still pending: IRP_MJ_CLOSE waits until the last of them
   * completes, as the I/O manager lets a file object go only then.
   */
  closeWaits = false;
  /** Requests of this file whose dispatch routine returned STATUS_PENDING and that are not completed yet. */
  readonly pending: IoRequest[] = [];
  constructor(
    readonly device: ControlDevice,
    /** The application's name for its handle (the scenario's `handle:`). */
    readonly handle: string,
  ) {}
}

/** One IRP the I/O manager sent to a control device, and what became of it. */
export class IoRequest {
  /**
   * Where the application's output comes from at completion, when not the system
   * buffer of a METHOD_BUFFERED control: a read's SystemBuffer or MDL, a direct control's MDL.
   */
  readBuffer: Uint8Array | null = null;
  completed = false;
  /** The dispatch routine returned (with `returned`). */
  dispatchReturned = false;
  returned: NTSTATUS = 0;
  markedPending = false;
  /** IoCsqInsertIrp(Ex) marked it pending (it does so when it queues the IRP), not the driver's IoMarkIrpPending. */
  markedByCsq: string | null = null;
  /** Driver code used the IRP after its completion, and was told (once). */
  lateAccessReported = false;
  /**
   * A use after completion inside the IRP's own dispatch routine, reported when the
   * routine returns (`lateIrpAccess`), unless a second IoCompleteRequest came first.
   */
  lateAccess: { fn: string; adapter: string | null; message: string } | null = null;
  /** Irp->CancelRoutine: what IoSetCancelRoutine set (IoCancelIrp calls and clears it). */
  cancelRoutine: DRIVER_CANCEL | null = null;
  /** The cancel-safe queue the IRP is in (IoCsqInsertIrp), and its context: DriverContext[3] in C. */
  csq: CsqEntry | null = null;
  /** The status and output the application got, once completed. */
  status: NTSTATUS = 0;
  information = 0;
  constructor(
    readonly id: number,
    readonly irp: IRP<DISPATCH_IO_STACK_LOCATION>,
    readonly file: FileObject,
    readonly major: number,
    readonly code: number,
    /** A device control's OutputBufferLength, or a read's Length. */
    readonly outputLength: number,
    /** A device control's InputBufferLength, or a write's Length. */
    readonly inputLength: number,
    readonly sentNs: number,
    /** The control code as the driver names it (IOCTL_X), or in hex. */
    readonly codeText: string,
  ) {}
}

/** The application's calls that send a request the driver completes. */
export type IoRequestKind = 'DeviceIoControl' | 'ReadFile' | 'WriteFile';

/** What one DeviceIoControl, ReadFile or WriteFile of the application got back (World.ioResults, tests). */
export interface IoResult {
  handle: string;
  /** The call that made the request. */
  request: IoRequestKind;
  /** The I/O control code of a DeviceIoControl; 0 for ReadFile and WriteFile. */
  IoControlCode: number;
  status: NTSTATUS;
  statusName: string;
  /** IoStatus.Information: the bytes of output (written, for WriteFile). */
  information: number;
  /**
   * The output bytes the application received: at most its OutputBufferLength, or the
   * Length of its ReadFile; none for WriteFile.
   */
  output: number[];
  sentNs: number;
  completedNs: number;
}

/** The routine names of the dispatch routines the model calls, as the WDM docs name them. */
const dispatchNames: ReadonlyMap<number, string> = new Map([
  [IRP_MJ_CREATE, 'DispatchCreate'],
  [IRP_MJ_CLEANUP, 'DispatchCleanup'],
  [IRP_MJ_CLOSE, 'DispatchClose'],
  [IRP_MJ_READ, 'DispatchRead'],
  [IRP_MJ_WRITE, 'DispatchWrite'],
  [IRP_MJ_DEVICE_CONTROL, 'DispatchDeviceControl'],
]);

/** The application's call behind a request the driver completes, by major function. */
function requestKind(major: number): IoRequestKind {
  return major === IRP_MJ_READ ? 'ReadFile' : major === IRP_MJ_WRITE ? 'WriteFile' : 'DeviceIoControl';
}

/** A request in a message: "DeviceIoControl 0x00222004", "ReadFile (64 bytes)". */
export function describeRequest(r: IoRequest): string {
  if (r.major === IRP_MJ_DEVICE_CONTROL) return `DeviceIoControl ${r.codeText}`;
  if (r.major === IRP_MJ_READ) return `ReadFile (${r.outputLength} bytes)`;
  if (r.major === IRP_MJ_WRITE) return `WriteFile (${r.inputLength} bytes)`;
  return `the ${dispatchNames.get(r.major) ?? `IRP_MJ 0x${r.major.toString(16)}`} request`;
}

/**
 * An IRP the model issued. Its request is a private field, for IoCompleteRequest to
 * find: a copy of the IRP a driver makes has none, so it is no IRP. A WeakMap from IRP
 * to request did the same, and made explorations of IOCTL scenarios a quarter slower
 * (an entry per request, which every collection must trace as an ephemeron).
 */
class Irp implements IRP<DISPATCH_IO_STACK_LOCATION> {
  IoStatus: IRP['IoStatus'] = { Status: 0, Information: 0 };
  Cancel = false;
  CancelIrql: number = Irql.Passive;
  #request: IoRequest | null = null;

  constructor(
    public AssociatedIrp: { SystemBuffer: Uint8Array | null },
    public MdlAddress: Uint8Array | null,
    public Tail: IRP<DISPATCH_IO_STACK_LOCATION>['Tail'],
  ) {}

  static attach(irp: Irp, r: IoRequest): void {
    irp.#request = r;
  }

  static requestOf(irp: unknown): IoRequest | undefined {
    return typeof irp === 'object' && irp !== null && #request in irp
      ? (irp.#request ?? undefined)
      : undefined;
  }
}

/**
 * Driver code used an IRP after IoCompleteRequest completed it: the IRP is the I/O
 * manager's again, which may have freed it, its system buffer and its MDL
 * (implementing-an-iocompletion-routine: the caller of IoCompleteRequest must not
 * access the just-completed IRP; using-buffered-i-o: the system buffer is valid until
 * IoCompleteRequest). NdisSim_ObjectFreedInUse, once per IRP. Only driver code is
 * checked (a routine of the driver is running): not the model, nor a test looking later.
 */
function lateIrpAccess(n: Ndis, r: IoRequest, field: string): void {
  const fn = n.runningFunction();
  if (r.lateAccessReported || fn === null) return;
  r.lateAccessReported = true;
  const message = `${fn} of ${n.kernel.ctx.who} used Irp->${field} of a request of handle ${r.file.handle} (${describeRequest(r)}) after IoCompleteRequest completed it: the IRP is the I/O manager's again, and it may have freed the IRP${field.startsWith('IoStatus') ? '' : ' and its system buffer'} (implementing-an-iocompletion-routine). Take what the driver needs from it, such as the status to return, before completing it`;
  // In its own dispatch routine the use may be the way to a second completion (set the
  // status, complete again), which is the bug to name: the report waits for the return.
  if (!r.dispatchReturned) r.lateAccess = { fn, adapter: n.runningAdapterName(), message };
  else reportLateAccess(n, r, fn, n.runningAdapterName(), message);
}

function reportLateAccess(n: Ndis, r: IoRequest, fn: string, adapter: string | null, message: string): void {
  n.verifier.report('NdisSim_ObjectFreedInUse', fn, adapter, message, [0, r.id, 0]);
}

/** IoCompleteRequest of an IRP completed already: the second completion is the bug named; a use before it goes unsaid. */
export function dropLateAccess(r: IoRequest): void {
  r.lateAccess = null;
}

/**
 * The I/O status block of a completed IRP: reading Status or Information is
 * lateIrpAccess (the classic `IoCompleteRequest(Irp); return Irp->IoStatus.Status;`).
 * Writes are kept without a word: they come before a second IoCompleteRequest, which
 * is its own rule (NdisSim_IrpDoubleComplete).
 */
class CompletedIoStatus {
  constructor(
    readonly n: Ndis,
    readonly r: IoRequest,
    public rawStatus: NTSTATUS,
    public rawInformation: number,
  ) {}
  get Status(): NTSTATUS {
    lateIrpAccess(this.n, this.r, 'IoStatus.Status');
    return this.rawStatus;
  }
  set Status(v: NTSTATUS) {
    this.rawStatus = v;
  }
  get Information(): number {
    lateIrpAccess(this.n, this.r, 'IoStatus.Information');
    return this.rawInformation;
  }
  set Information(v: number) {
    this.rawInformation = v;
  }
}

/** Irp.IoStatus as the model reads it: no after-completion check (IoCompleteRequest a second time). */
export function rawIoStatus(irp: IRP<DISPATCH_IO_STACK_LOCATION>): { Status: NTSTATUS; Information: number } {
  const b = irp.IoStatus as unknown;
  return b instanceof CompletedIoStatus
    ? { Status: b.rawStatus, Information: b.rawInformation }
    : (b as { Status: NTSTATUS; Information: number });
}

/** Irp.AssociatedIrp of a completed IRP: reading SystemBuffer is lateIrpAccess. */
class CompletedAssociatedIrp {
  constructor(
    readonly n: Ndis,
    readonly r: IoRequest,
    public rawSystemBuffer: Uint8Array | null,
  ) {}
  get SystemBuffer(): Uint8Array | null {
    lateIrpAccess(this.n, this.r, 'AssociatedIrp.SystemBuffer');
    return this.rawSystemBuffer;
  }
  set SystemBuffer(v: Uint8Array | null) {
    this.rawSystemBuffer = v;
  }
}

/**
 * At completion the IRP's IoStatus and AssociatedIrp become checked blocks. They are
 * replaced, not made accessors, so that every IRP keeps one shape (turning a field into
 * an accessor on some of them made explorations of I/O scenarios twice as slow) and the
 * driver pays nothing while it owns the IRP. MdlAddress stays a plain field: the DDIs
 * that use an MDL check it (NdisSim_ObjectFreedInUse for an unlocked one).
 */
function guardCompletedIrp(n: Ndis, r: IoRequest, status: NTSTATUS, information: number): void {
  const irp = r.irp;
  irp.IoStatus = new CompletedIoStatus(n, r, status, information);
  irp.AssociatedIrp = new CompletedAssociatedIrp(n, r, irp.AssociatedIrp.SystemBuffer);
}

export function ioRequestOf(irp: unknown): IoRequest | undefined {
  return Irp.requestOf(irp);
}

/** One machine's devices, the application's handles and the results of its requests. */
export class IoState {
  constructor(
    /** The world's driver modules, for the names they give their I/O control codes. */
    readonly modules: ReadonlyMap<string, DriverModule>,
  ) {}

  /** Code → name of each driver that names its codes, made on first use. */
  readonly #codeNames = new Map<string, ReadonlyMap<number, string>>();

  /** An I/O control code of `driver`'s device as the timeline shows it: its name, or hex. */
  codeText(driver: string, code: number): string {
    let names = this.#codeNames.get(driver);
    if (names === undefined) {
      const m = new Map<number, string>();
      for (const [name, c] of Object.entries(this.modules.get(driver)?.ioControlCodes ?? {}))
        if (!m.has(c >>> 0)) m.set(c >>> 0, name);
      names = m;
      this.#codeNames.set(driver, names);
    }
    return names.get(code >>> 0) ?? hex(code);
  }

  /** Registered devices by lower-case name (object names are case-insensitive). */
  readonly names = new Map<string, ControlDevice>();
  /** The same by lower-case symbolic link (without \DosDevices\). */
  readonly links = new Map<string, ControlDevice>();
  /** The links IoCreateSymbolicLink made, as the driver spelled them, by the same key. */
  readonly ioLinkNames = new Map<string, string>();
  /** The protocol drivers that called IoCreateDevice, by DRIVER_OBJECT. */
  readonly ioDrivers = new Map<DRIVER_OBJECT, IoDriver>();
  /** The application's handles by name; null: its CreateFile failed, or it was closed. */
  readonly handles = new Map<string, FileObject | null>();
  /** The requests a dispatch routine pended and that are not completed yet, oldest first. */
  readonly pending: IoRequest[] = [];
  /** What the requests got back, in completion order: the last `ioResultsMax` of them. */
  readonly results: IoResult[] = [];
  /** The oldest results, dropped to stay within `ioResultsMax`. */
  resultsDropped = 0;
  nextIrp = 1;
  /**
   * The system's cancel spin lock (IoAcquireCancelSpinLock, and IoCancelIrp around a
   * Cancel routine): one per machine, held at DISPATCH_LEVEL.
   */
  readonly cancelLock: LockState = { owner: null, savedIrql: 0, raised: true };
  /** A model note was made for requests to a driver that unloaded (once). */
  notedUnloaded = false;
  /**
   * The MDLs of completed direct-I/O requests: IoCompleteRequest unlocked their pages,
   * so a driver that maps one (MmGetSystemAddressForMdlSafe) or builds an NBL on one
   * afterwards uses memory that is no longer its own. Weak: one entry a read or write.
   */
  readonly unlockedMdls = new WeakSet<Uint8Array>();
  /** Sends the IRP_MJ_CLOSE that waited for a file's last request; made on first use. */
  closer: IoManagerThread | null = null;
  /** Exits of the application that wait for requests they cancelled (userExit). */
  readonly exits: ExitWait[] = [];
  /** Runs an exit's closes, now or when its five minutes are up; made on first use. */
  exitThread: IoManagerThread | null = null;
}

/** How long a thread's exit waits for the requests it cancelled (canceling-irps). */
export const exitCancelWaitNs = 5 * 60 * 1_000_000_000;

/**
 * An exit of the application whose cancelled requests are not all completed: its
 * handles close when the last of them completes, or when five minutes are up.
 */
export class ExitWait {
  done = false;
  constructor(
    /** The cancelled requests not completed yet. */
    readonly left: Set<IoRequest>,
    /** The handles to close, with the file each named at the exit. */
    readonly handles: readonly (readonly [string, FileObject])[],
    readonly sinceNs: number,
  ) {}
}

/**
 * Work the I/O manager does later from a thread of its own, at PASSIVE_LEVEL: `run`
 * (a module-level function, so that nothing is captured) gets the event's argument.
 * The IRP_MJ_CLOSE that waited for a file's last request, a protocol service stop that
 * waited for blocked threads.
 */
export class IoManagerThread implements EventTarget {
  constructor(
    readonly n: Ndis,
    readonly run: (n: Ndis, arg: unknown) => void,
  ) {}

  fire(_op: number, arg: unknown): void {
    const k = this.n.kernel;
    const c = k.enter(0, Irql.Passive, 'io', 'thread');
    try {
      this.run(this.n, arg);
    } finally {
      k.exit(c);
    }
  }
}

/**
 * The I/O manager lets a file object go when its last request completes after its
 * cleanup: IRP_MJ_CLOSE then comes from its thread, not inside the IoCompleteRequest
 * that finished the request (which may run at DISPATCH_LEVEL).
 */
function deferredClose(n: Ndis, file: unknown): void {
  sendClose(n, file as FileObject);
}

/** The MDL was an IRP's, and IoCompleteRequest has unlocked its pages. */
export function mdlUnlocked(n: Ndis, mdl: unknown): boolean {
  return n.io !== null && typeof mdl === 'object' && mdl !== null && n.io.unlockedMdls.has(mdl as Uint8Array);
}

export function ioState(n: Ndis): IoState {
  n.io ??= new IoState(n.modules);
  return n.io;
}

/**
 * The symbolic links IoCreateSymbolicLink made to a device of `owner` that IoDeleteDevice
 * deleted, and that IoDeleteSymbolicLink did not remove: they name nothing now.
 */
export function danglingLinks(n: Ndis, owner: DeviceOwner): string[] {
  const io = n.io;
  if (io === null) return [];
  const out: string[] = [];
  for (const [key, d] of io.links) {
    const name = io.ioLinkNames.get(key);
    if (d.owner === owner && d.deregistered && name !== undefined) out.push(name);
  }
  return out;
}

/** The devices a driver registered and did not deregister. */
export function liveDevices(n: Ndis, owner: DeviceOwner): ControlDevice[] {
  const io = n.io;
  if (io === null) return [];
  const out: ControlDevice[] = [];
  for (const d of io.names.values()) if (d.owner === owner) out.push(d);
  return out;
}

/**
 * A device of `owner` that a handle of the application, or a request, still references
 * (unload-routine-environment: the Unload routine waits until none does), or null.
 */
export function referencedDevice(n: Ndis, owner: DeviceOwner): ControlDevice | null {
  const io = n.io;
  if (io === null) return null;
  for (const f of io.handles.values()) if (f !== null && f.device.owner === owner) return f.device;
  for (const r of io.pending) if (r.file.device.owner === owner) return r.file.device;
  return null;
}

/** A device of `owner` that was deregistered but still has a handle of the application open. */
export function openDeletedDevice(n: Ndis, owner: DeviceOwner): boolean {
  const io = n.io;
  if (io === null) return false;
  for (const f of io.handles.values())
    if (f !== null && f.device.owner === owner && f.device.deregistered) return true;
  // A handle the application closed whose IRP_MJ_CLOSE waits for a request in progress.
  for (const r of io.pending)
    if (r.file.closeWaits && r.file.device.owner === owner && r.file.device.deregistered) return true;
  return false;
}

/**
 * The link name an application path or an MS-DOS device name stands for, lower-case:
 * `\\.\X` of the application, `\DosDevices\X` and `\??\X` of a driver. The global
 * directory (`\DosDevices\Global\X`, `\GLOBAL??\X`, ndisprot's form; `\\.\Global\X`)
 * is the same one in the model, which has a single logon session
 * (local-and-global-ms-dos-device-names).
 */
export function linkKey(name: string): string {
  return name
    .replace(/^(\\\\\.\\|\\DosDevices\\|\\\?\?\\|\\GLOBAL\?\?\\)/i, '')
    .replace(/^Global\\/i, '')
    .toLowerCase();
}

/** A line of the application's in the trace; callers check `n.trace.on` first, to build no data for nothing. */
function traceApp(n: Ndis, what: string, data: Record<string, unknown>): void {
  const k = n.kernel;
  n.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'app', 'action', what, data);
}

function newIrp(
  io: IoState,
  file: FileObject,
  major: number,
  code: number,
  input: readonly number[],
  outputLength: number,
  nowNs: number,
): IoRequest {
  let systemBuffer: Uint8Array | null = null;
  let mdl: Uint8Array | null = null;
  let parameters: DISPATCH_IO_STACK_LOCATION['Parameters'] = {};
  if (major === IRP_MJ_DEVICE_CONTROL) {
    if ((code & 3) === METHOD_BUFFERED) {
      // One system buffer for both: the input copied in, the output copied back.
      systemBuffer = new Uint8Array(Math.max(input.length, outputLength));
      systemBuffer.set(input);
    } else {
      // METHOD_IN_DIRECT, METHOD_OUT_DIRECT: the input in a system buffer, the output
      // buffer locked and described by an MDL (none for a length of 0).
      if (input.length > 0) systemBuffer = Uint8Array.from(input);
      if (outputLength > 0) mdl = new Uint8Array(outputLength);
    }
    parameters = {
      DeviceIoControl: {
        OutputBufferLength: outputLength,
        InputBufferLength: input.length,
        IoControlCode: code,
        Type3InputBuffer: null,
      },
    };
  } else if (major === IRP_MJ_READ || major === IRP_MJ_WRITE) {
    const length = major === IRP_MJ_READ ? outputLength : input.length;
    // The I/O manager gives a zero-length request no buffer and no MDL. Otherwise it
    // copies the application's bytes into a system buffer (DO_BUFFERED_IO) or locks
    // them and describes them with an MDL (DO_DIRECT_IO), by the device's Flags now.
    if (length > 0) {
      const bytes = new Uint8Array(length);
      if (major === IRP_MJ_WRITE) bytes.set(input);
      if ((file.device.deviceObject.Flags & DO_BUFFERED_IO) !== 0) systemBuffer = bytes;
      else mdl = bytes;
    }
    const p = { Length: length, Key: 0, ByteOffset: 0 };
    parameters = major === IRP_MJ_READ ? { Read: p } : { Write: p };
  }
  const location: DISPATCH_IO_STACK_LOCATION = {
    MajorFunction: major,
    MinorFunction: 0,
    Parameters: parameters,
    DeviceObject: file.device.deviceObject,
    FileObject: file,
  };
  const irp = new Irp({ SystemBuffer: systemBuffer }, mdl, {
    Overlay: { CurrentStackLocation: location, DriverContext: [null, null, null, null] },
  });
  const codeText = major === IRP_MJ_DEVICE_CONTROL ? io.codeText(file.device.owner.name, code) : '';
  const r = new IoRequest(io.nextIrp++, irp, file, major, code, outputLength, input.length, nowNs, codeText);
  if (major === IRP_MJ_READ) r.readBuffer = systemBuffer ?? mdl;
  else if (major === IRP_MJ_DEVICE_CONTROL && mdl !== null) r.readBuffer = mdl;
  Irp.attach(irp, r);
  return r;
}

/**
 * The I/O manager sends `r` to the device's dispatch routine and checks what it
 * returned. A major function the driver has no routine for fails with
 * STATUS_INVALID_DEVICE_REQUEST, as the I/O manager's default routine does.
 */
function dispatch(n: Ndis, r: IoRequest): void {
  const dev = r.file.device;
  const routine = dev.majors[r.major];
  if (typeof routine !== 'function') {
    r.dispatchReturned = true;
    finish(n, r, STATUS_INVALID_DEVICE_REQUEST, 0);
    return;
  }
  const fn = dispatchNames.get(r.major)!;
  const args = n.trace.on
    ? r.major === IRP_MJ_DEVICE_CONTROL
      ? { device: dev.name, handle: r.file.handle, IoControlCode: r.codeText }
      : r.major === IRP_MJ_READ || r.major === IRP_MJ_WRITE
        ? {
            device: dev.name,
            handle: r.file.handle,
            Length: r.major === IRP_MJ_READ ? r.outputLength : r.inputLength,
            via:
              r.irp.MdlAddress !== null
                ? 'MdlAddress'
                : r.irp.AssociatedIrp.SystemBuffer !== null
                  ? 'SystemBuffer'
                  : 'none',
          }
        : { device: dev.name, handle: r.file.handle }
    : undefined;
  const f = n.enter(null, dev.owner.name, fn, Irql.Passive, args);
  let s: NTSTATUS | ResumableDispatch;
  try {
    s = routine(dev.deviceObject, r.irp);
  } catch (e) {
    n.driverThrew(e, fn, null);
  }
  if (typeof s === 'object' && isResumable(s)) {
    dispatchResumable(n, r, fn, f, s);
    return;
  }
  // The timeline names the NTSTATUS (STATUS_DEVICE_REMOVED is no NDIS_STATUS).
  n.leave(f, n.trace.on ? ntStatusName(s) : s);
  dispatchReturned(n, r, fn, s);
}

/**
 * A dispatch routine that is a generator function, set aside at its yielded waits
 * (src/ndis/resumable.ts). Until it returns, its request is in progress: it holds the
 * handle's IRP_MJ_CLOSE back and shows among the requests pending, as on Windows,
 * where the application's thread waits in the call or its overlapped request is
 * under way. Create, cleanup and close, whose callers go on from their result, must be
 * plain functions.
 */
function dispatchResumable(
  n: Ndis,
  r: IoRequest,
  fn: string,
  f: Frame,
  gen: Generator<unknown, unknown, boolean>,
): void {
  if (r.major !== IRP_MJ_DEVICE_CONTROL && r.major !== IRP_MJ_READ && r.major !== IRP_MJ_WRITE)
    throw new NotModelledError(
      fn,
      `a resumable ${fn} routine (a generator function): only the IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ and IRP_MJ_WRITE routines may yield their waits, since the I/O manager goes on from what create, cleanup and close return; write it as a plain function`,
    );
  const io = ioState(n);
  r.file.pending.push(r);
  io.pending.push(r);
  n.runResumable(
    gen,
    f,
    fn,
    null,
    r.file.device.owner.name,
    (value) => {
      // Returned: the checks that follow a return, with the request off the lists (a
      // pending return puts it back).
      const p = r.file.pending.indexOf(r);
      if (p >= 0) r.file.pending.splice(p, 1);
      const q = io.pending.indexOf(r);
      if (q >= 0) io.pending.splice(q, 1);
      n.leave(f, n.trace.on && isNtStatus(value) ? ntStatusName(value) : value);
      dispatchReturned(n, r, fn, value as NTSTATUS);
    },
    () => resumedAfterUnload(n, r, fn),
  );
}

/**
 * A resumable dispatch routine wakes after its driver unloaded: it went on after
 * completing its request, and once that was complete nothing held the driver (the
 * handle closed, the device deleted). On Windows its code would run in an unloaded
 * image; the model reports it and does not run it.
 */
function resumedAfterUnload(n: Ndis, r: IoRequest, fn: string): boolean {
  const owner = r.file.device.owner;
  if (!owner.unloaded) return false;
  n.verifier.report(
    'NdisSim_CallbackAfterHalt',
    fn,
    null,
    `${fn} of driver ${owner.name} (a resumable routine, for ${describeRequest(r)} of handle ${r.file.handle}) woke after the driver unloaded: it completed its request and went on waiting, and a completed request holds back neither the handle's IRP_MJ_CLOSE nor the driver's unload, so a routine finishes its work before it completes the IRP; its code would run in an unloaded image, so the model does not run it`,
  );
  return true;
}

/** What the I/O manager does once a dispatch routine has returned `s`. */
function dispatchReturned(n: Ndis, r: IoRequest, fn: string, s: NTSTATUS): void {
  const dev = r.file.device;
  if (!isNtStatus(s)) notAStatus(n, fn, 'returned', s);
  r.dispatchReturned = true;
  r.returned = s;
  const late = r.lateAccess;
  if (late !== null) {
    r.lateAccess = null;
    reportLateAccess(n, r, late.fn, late.adapter, late.message);
  }
  if (r.markedPending && s !== STATUS_PENDING)
    // The IoMarkIrpPending page: a routine that marked its IRP pending returns
    // STATUS_PENDING, even when the IRP was completed meanwhile (Driver Verifier's
    // Enhanced I/O Verification, 0xC9/0x23E, parameter 4 the status returned).
    n.verifier.report(
      'NdisSim_IrpNotCompleted',
      fn,
      null,
      r.markedByCsq !== null
        ? `${fn} of ${dev.name} gave the IRP to ${r.markedByCsq}, which marked it pending, then returned ${ntStatusName(s)}: a routine that queues its IRP in a cancel-safe queue returns STATUS_PENDING (cancel-safe-irp-queues; the IoMarkIrpPending page)`
        : `${fn} of ${dev.name} called IoMarkIrpPending on the IRP, then returned ${ntStatusName(s)}: a routine that marks its IRP pending returns STATUS_PENDING`,
      [0, r.id, s],
      { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x23e },
    );
  if (s === STATUS_PENDING) {
    // WDM: a routine that returns STATUS_PENDING marks the IRP pending first.
    if (!r.markedPending)
      n.verifier.report(
        'NdisSim_IrpNotCompleted',
        fn,
        null,
        `${fn} of ${dev.name} returned STATUS_PENDING without IoMarkIrpPending on the IRP`,
        [0, r.id, 0],
        // Driver Verifier's I/O verification has this case its own code (0xC9's page).
        { code: BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION, p1: 0x23d },
      );
    if (!r.completed) {
      r.file.pending.push(r);
      ioState(n).pending.push(r);
    }
    return;
  }
  if (!r.completed) {
    // Driver Verifier's I/O verification, 0xC9/0x226: neither completed nor pended.
    n.verifier.report(
      'NdisSim_IrpNotCompleted',
      fn,
      null,
      `${fn} of ${dev.name} returned ${ntStatusName(s)} without completing the IRP (IoCompleteRequest) or returning STATUS_PENDING`,
      [0, r.id, 0],
    );
    // The application gets what the routine returned; the IRP is never completed.
    finish(n, r, s, 0);
  }
}

/** An NTSTATUS is a 32-bit unsigned number here; anything else is a slip of the driver's. */
export function isNtStatus(s: unknown): s is NTSTATUS {
  return typeof s === 'number' && Number.isInteger(s) && s >= -0x80000000 && s <= 0xffffffff;
}

/**
 * A routine of the driver gave a status that is no NTSTATUS: most often a constant
 * ndis-sim does not export, which reads as undefined in JavaScript (tsx does not type
 * check), where a C compiler would have refused the name. Fatal: what it meant is unknown.
 */
export function notAStatus(n: Ndis, where: string, what: string, s: unknown): never {
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    where,
    null,
    `${where} ${what} ${s === undefined ? 'undefined' : (JSON.stringify(s) ?? String(s))}, which is not an NTSTATUS: a status constant ndis-sim does not export reads as undefined (run tsc on the driver, or use a status the model has)`,
  );
}

/** Called by IoCompleteRequest (api/device.ts): the request is done; the application hears now. */
export function completeRequest(n: Ndis, r: IoRequest): void {
  const { Status, Information } = rawIoStatus(r.irp);
  const MdlAddress = r.irp.MdlAddress;
  const SystemBuffer = r.irp.AssociatedIrp.SystemBuffer;
  r.completed = true;
  guardCompletedIrp(n, r, Status, Information);
  if (MdlAddress !== null) ioState(n).unlockedMdls.add(MdlAddress);
  const p = r.file.pending.indexOf(r);
  if (p >= 0) r.file.pending.splice(p, 1);
  const io = ioState(n);
  const all = io.pending;
  const q = all.indexOf(r);
  if (q >= 0) all.splice(q, 1);
  finish(n, r, Status, Information, SystemBuffer);
  // A create the routine pended: the application's CreateFile returns now.
  if (r.major === IRP_MJ_CREATE && r.dispatchReturned) createOpened(n, r);
  for (const ex of io.exits)
    if (ex.left.delete(r) && ex.left.size === 0) {
      io.exitThread ??= new IoManagerThread(n, exitCloses);
      n.kernel.machine.after(0, io.exitThread, 0, ex);
    }
  const file = r.file;
  // A cleanup routine that pended its IRP has emptied the handle's queues by now.
  if (r.major === IRP_MJ_CLEANUP && r.dispatchReturned) queuedAtCleanup(n, file, 'completed');
  if (file.closeWaits && file.pending.length === 0) {
    file.closeWaits = false;
    io.closer ??= new IoManagerThread(n, deferredClose);
    n.kernel.machine.after(0, io.closer, 0, file);
  }
}

/** Delivers a request's result to the application and traces it. */
function finish(
  n: Ndis,
  r: IoRequest,
  status: NTSTATUS,
  information: number,
  systemBuffer = r.irp.AssociatedIrp.SystemBuffer,
): void {
  r.status = status;
  r.information = information;
  const major = r.major;
  // Create, cleanup and close: their callers read r.
  if (major !== IRP_MJ_DEVICE_CONTROL && major !== IRP_MJ_READ && major !== IRP_MJ_WRITE) return;
  // The I/O manager hands back output for a status that is not an error: a device
  // control's from the system buffer, a read's from the system buffer or the locked pages.
  const buf =
    major === IRP_MJ_DEVICE_CONTROL && (r.code & 3) === METHOD_BUFFERED ? systemBuffer : r.readBuffer;
  // An error status (its two high bits set) gets none back.
  const bytes =
    major === IRP_MJ_WRITE || status >>> 30 === 3
      ? 0
      : Math.min(information, r.outputLength, buf?.length ?? 0);
  const output: number[] = [];
  for (let i = 0; i < bytes; i++) output.push(buf![i]!);
  const io = ioState(n);
  keepRoom(io);
  const request = requestKind(major);
  const result: IoResult = {
    handle: r.file.handle,
    request,
    IoControlCode: r.code,
    status,
    statusName: ntStatusName(status),
    information,
    output,
    sentNs: r.sentNs,
    completedNs: n.now,
  };
  io.results.push(result);
  if (n.trace.on)
    traceApp(n, `${request} ${r.file.handle} completes`, {
      ...(major === IRP_MJ_DEVICE_CONTROL ? { IoControlCode: r.codeText } : {}),
      Status: result.statusName,
      Information: information,
      ...(output.length > 0 ? { output: outputText(output) } : {}),
      ...(r.completed && r.returned === STATUS_PENDING ? { after: fmtTime(n.now - r.sentNs) } : {}),
    });
}

/** Bytes of output shown in a trace line; `World.ioResults` keeps them all. */
const outputShownMax = 32;

/** The output as hex bytes, the first `outputShownMax` of a longer one and its length. */
function outputText(output: readonly number[]): string {
  const shown = output.length > outputShownMax ? output.slice(0, outputShownMax) : output;
  const text = shown.map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return output.length > outputShownMax ? `${text} … (${output.length} bytes)` : text;
}

/**
 * A bound on the results kept (every buffer has one): a tool that polls every millisecond for an
 * hour makes millions. When full, the oldest quarter goes, as in the trace.
 */
export const ioResultsMax = 100_000;

function keepRoom(io: IoState): void {
  if (io.results.length < ioResultsMax) return;
  const drop = ioResultsMax >> 2;
  io.results.splice(0, drop);
  io.resultsDropped += drop;
}

function hex(v: number): string {
  return `0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** An application request that NDIS never passes to the driver: the code that would run it is gone. */
function driverGone(n: Ndis, io: IoState, dev: ControlDevice): boolean {
  if (!dev.owner.unloaded) return false;
  if (!io.notedUnloaded) {
    io.notedUnloaded = true;
    n.modelNotes.push(
      `the application used ${dev.name} after ${dev.owner.name} unloaded with the device left (NdisSim_DeviceNotDeregistered); on Windows its requests would reach the driver's unloaded code, the model failed them with STATUS_NO_SUCH_DEVICE`,
    );
  }
  return true;
}

/** CreateFile("\\.\<link>"): IRP_MJ_CREATE to the device the link names. */
export function userOpen(n: Ndis, handle: string, link: string): void {
  const io = ioState(n);
  const dev = io.links.get(linkKey(link));
  // A driver whose Unload is pending takes no new reference (unload-routine-environment).
  const unloading =
    dev !== undefined && !(dev.owner instanceof MiniportDriverBlock) && dev.owner.unloadPending;
  if (unloading) {
    io.handles.set(handle, null);
    if (n.trace.on)
      traceApp(n, `CreateFile \\\\.\\${link}`, {
        handle,
        Status: ntStatusName(STATUS_NO_SUCH_DEVICE),
        why: `${dev.owner.name} is unloading`,
      });
    return;
  }
  if (dev === undefined || dev.deregistered || driverGone(n, io, dev)) {
    io.handles.set(handle, null);
    if (n.trace.on)
      traceApp(n, `CreateFile \\\\.\\${link}`, {
        handle,
        Status: ntStatusName(STATUS_OBJECT_NAME_NOT_FOUND),
      });
    return;
  }
  const file = new FileObject(dev, handle);
  if (n.trace.on) traceApp(n, `CreateFile \\\\.\\${link}`, { handle, device: dev.name });
  const r = newIrp(io, file, IRP_MJ_CREATE, 0, [], 0, n.now);
  dispatch(n, r);
  io.handles.set(handle, null);
  if (!r.completed && r.returned === STATUS_PENDING) {
    // CreateFile waits in the application until the create completes (createOpened);
    // until then the handle is not the application's to use.
    if (n.trace.on) traceApp(n, `CreateFile ${handle} waits`, {});
    return;
  }
  createOpened(n, r);
}

/** CreateFile returns: the handle is open if its create succeeded. */
function createOpened(n: Ndis, r: IoRequest): void {
  const file = r.file;
  const ok = NT_SUCCESS(r.status);
  ioState(n).handles.set(file.handle, ok ? file : null);
  if (ok) file.device.files.push(file);
  if (n.trace.on) traceApp(n, `CreateFile ${file.handle} returns`, { Status: ntStatusName(r.status) });
}

/**
 * DeviceIoControl(handle, code, input, outputLength): IRP_MJ_DEVICE_CONTROL. The code's
 * transfer type says how the buffers travel: METHOD_BUFFERED (one system buffer),
 * METHOD_IN_DIRECT or METHOD_OUT_DIRECT (the input in a system buffer, the output
 * behind Irp.MdlAddress); METHOD_NEITHER is not modelled.
 */
export function userIoctl(
  n: Ndis,
  handle: string,
  code: number,
  input: readonly number[],
  outputLength: number,
): void {
  if (n.trace.on) {
    const io = ioState(n);
    const file = io.handles.get(handle) ?? null;
    traceApp(n, `DeviceIoControl ${handle}`, {
      IoControlCode: file === null ? hex(code) : io.codeText(file.device.owner.name, code),
      InputBufferLength: input.length,
      OutputBufferLength: outputLength,
    });
  }
  userRequest(n, handle, IRP_MJ_DEVICE_CONTROL, code, input, outputLength);
}

/**
 * ReadFile(handle, buffer of `length` bytes): IRP_MJ_READ. The I/O manager passes the
 * buffer by the device's Flags: DO_BUFFERED_IO, a system buffer it copies back at
 * completion; DO_DIRECT_IO, an MDL of the application's own pages (Irp.MdlAddress).
 */
export function userRead(n: Ndis, handle: string, length: number): void {
  if (n.trace.on) traceApp(n, `ReadFile ${handle}`, { Length: length });
  userRequest(n, handle, IRP_MJ_READ, 0, [], length);
}

/** WriteFile(handle, data): IRP_MJ_WRITE, its bytes passed as ReadFile's are. */
export function userWrite(n: Ndis, handle: string, data: readonly number[]): void {
  if (n.trace.on) traceApp(n, `WriteFile ${handle}`, { Length: data.length });
  userRequest(n, handle, IRP_MJ_WRITE, 0, data, 0);
}

/** A request on the application's handle; one on a handle not open fails at once. */
function userRequest(
  n: Ndis,
  handle: string,
  major: number,
  code: number,
  input: readonly number[],
  outputLength: number,
): void {
  const io = ioState(n);
  const file = io.handles.get(handle) ?? null;
  const request = requestKind(major);
  if (file === null || driverGone(n, io, file.device)) {
    const status = file === null ? STATUS_INVALID_HANDLE : STATUS_NO_SUCH_DEVICE;
    keepRoom(io);
    io.results.push({
      handle,
      request,
      IoControlCode: code,
      status,
      statusName: ntStatusName(status),
      information: 0,
      output: [],
      sentNs: n.now,
      completedNs: n.now,
    });
    if (n.trace.on) traceApp(n, `${request} ${handle} fails`, { Status: ntStatusName(status) });
    return;
  }
  if (
    major === IRP_MJ_DEVICE_CONTROL &&
    (code & 3) === METHOD_NEITHER &&
    typeof file.device.majors[major] === 'function'
  )
    throw new NotModelledError(
      'IRP_MJ_DEVICE_CONTROL',
      `the I/O control code ${hex(code)} uses METHOD_NEITHER, which passes the application's own addresses (Type3InputBuffer, Irp->UserBuffer); the model has no user address space: use METHOD_BUFFERED, METHOD_IN_DIRECT or METHOD_OUT_DIRECT`,
    );
  if (major === IRP_MJ_READ || major === IRP_MJ_WRITE) {
    const dev = file.device;
    const flags = dev.deviceObject.Flags;
    if ((flags & (DO_BUFFERED_IO | DO_DIRECT_IO)) === 0 && typeof dev.majors[major] === 'function')
      // Neither I/O: the IRP would carry the application's own address (Irp->UserBuffer),
      // valid only in its thread. The model has no user address space to check that with.
      throw new NotModelledError(
        major === IRP_MJ_READ ? 'IRP_MJ_READ' : 'IRP_MJ_WRITE',
        `${dev.name} has neither DO_BUFFERED_IO nor DO_DIRECT_IO in its DEVICE_OBJECT Flags, so the I/O manager would pass ${request}'s buffer as a user-mode address (neither I/O, Irp->UserBuffer), which the model does not have: set DeviceObject->Flags |= DO_BUFFERED_IO or DO_DIRECT_IO after ${dev.owner instanceof IoDriver ? 'IoCreateDevice' : 'NdisRegisterDeviceEx'}`,
      );
  }
  dispatch(n, newIrp(io, file, major, code, input, outputLength, n.now));
}

/**
 * CloseHandle: IRP_MJ_CLEANUP, then IRP_MJ_CLOSE. The cleanup routine completes (or
 * cancels) each of the handle's requests it holds in a queue; one still cancelable
 * (its Cancel routine set, so waiting in a queue) when the routine returns is
 * NdisSim_IrpPendingAtClose; a routine that pends the cleanup IRP has until it
 * completes it (any IRP may be pended, and CloseHandle waits for its cleanup). A
 * request that is not cancelable is in progress, which the DispatchCleanup page
 * allows: the I/O manager sends IRP_MJ_CLOSE once the last of them completes
 * (DeferredClose), and until then the file object, its device and its driver stay.
 */
export function userClose(n: Ndis, handle: string): void {
  const io = ioState(n);
  const file = io.handles.get(handle) ?? null;
  if (n.trace.on) traceApp(n, `CloseHandle ${handle}`, {});
  if (file === null) return; // never opened, or closed: CloseHandle fails in the application
  io.handles.set(handle, null);
  const dev = file.device;
  if (driverGone(n, io, dev)) return;
  file.cleanedUp = true;
  const cleanup = newIrp(io, file, IRP_MJ_CLEANUP, 0, [], 0, n.now);
  dispatch(n, cleanup);
  // A cleanup routine that pended its IRP may still be emptying the handle's queues
  // (from a work item, say): the check comes when it completes that IRP (completeRequest).
  if (cleanup.completed || cleanup.returned !== STATUS_PENDING) queuedAtCleanup(n, file, 'returned');
  if (file.pending.length > 0) {
    file.closeWaits = true;
    if (n.trace.on)
      traceApp(n, `CloseHandle ${handle}: IRP_MJ_CLOSE waits`, { pending: file.pending.length });
    return;
  }
  sendClose(n, file);
}

/**
 * NdisSim_IrpPendingAtClose: requests of `file` still cancelable (waiting in a queue)
 * once its IRP_MJ_CLEANUP is done: when the routine returned, or, if it pended the IRP,
 * when it completed it (`when`).
 */
function queuedAtCleanup(n: Ndis, file: FileObject, when: 'returned' | 'completed'): void {
  const queued = file.pending.filter((r) => r.cancelRoutine !== null && r.major !== IRP_MJ_CLEANUP);
  if (queued.length === 0) return;
  const first = queued[0]!;
  n.verifier.report(
    'NdisSim_IrpPendingAtClose',
    'DispatchCleanup',
    null,
    `${queued.length} request(s) of handle ${file.handle} (the first ${describeRequest(first)}, sent at ${fmtTime(first.sentNs)}) still queued, their Cancel routine set, when IRP_MJ_CLEANUP for it ${when === 'returned' ? 'returned' : 'was completed (the cleanup routine had pended it)'}: the cleanup routine takes the handle's requests off its queues and completes them`,
    [0, first.id, 0],
  );
}

/** IRP_MJ_CLOSE: the file object goes, and with the last handle to a deleted device, maybe its driver. */
function sendClose(n: Ndis, file: FileObject): void {
  const io = ioState(n);
  const dev = file.device;
  if (driverGone(n, io, dev)) return;
  dispatch(n, newIrp(io, file, IRP_MJ_CLOSE, 0, [], 0, n.now));
  const i = dev.files.indexOf(file);
  if (i >= 0) dev.files.splice(i, 1);
  // The last handle to a deleted device of a miniport driver whose adapters are all gone:
  // the unload that waited for it comes now (R2.16).
  const owner = dev.owner;
  if (dev.deregistered && owner instanceof MiniportDriverBlock && owner.adapterCount === 0)
    n.unloadDriverIfIdle(owner);
}

/** Lets the cancel spin lock go (the running context holds it) and lowers to `irql`. */
export function dropCancelLock(n: Ndis, irql: number): void {
  const ctx = n.kernel.ctx;
  ctx.drop(ioState(n).cancelLock);
  ctx.irql = irql;
}

/**
 * IoCancelIrp(Irp), as the I/O manager calls it for the application (CancelIoEx, the
 * process's exit), in the application's thread: it takes the cancel spin lock, sets
 * Irp.Cancel and exchanges Irp->CancelRoutine with NULL. Without a routine it lets the
 * lock go and returns false: the IRP stays pending, marked, and the driver must see the
 * bit when it next makes the IRP cancelable. With one it sets Irp.CancelIrql and calls
 * the routine at DISPATCH_LEVEL holding the lock, which the routine releases
 * (IoReleaseCancelSpinLock); one that returns holding it is NdisSim_CancelSpinLock.
 */
export function cancelRequest(n: Ndis, r: IoRequest): boolean {
  const dev = r.file.device;
  const routine = r.cancelRoutine;
  r.irp.Cancel = true;
  r.cancelRoutine = null;
  if (n.trace.on)
    traceApp(n, `IoCancelIrp ${r.file.handle}`, {
      request: describeRequest(r),
      CancelRoutine: routine === null ? 'none: the IRP stays pending with Cancel set' : 'called',
    });
  if (routine === null) return false;
  const ctx = n.kernel.ctx;
  const callerIrql = ctx.irql;
  const args = n.trace.on
    ? { device: dev.name, handle: r.file.handle, request: describeRequest(r) }
    : undefined;
  const f = n.enter(null, dev.owner.name, 'Cancel', Irql.Dispatch, args);
  // The lock is taken inside the frame, so that the frame's own lock count leaves it
  // out: the routine is to release a lock it did not take.
  ctx.irql = callerIrql;
  const heldBefore = ctx.held.length;
  ctx.take(ioState(n).cancelLock, true);
  r.irp.CancelIrql = callerIrql;
  const lock = ioState(n).cancelLock;
  let returned: unknown;
  try {
    returned = routine(dev.deviceObject, r.irp);
  } catch (e) {
    n.driverThrew(e, 'Cancel', null);
  }
  // A Cancel routine written as a generator function ran none of its body.
  if (returned !== undefined && isResumable(returned)) notResumable('Cancel');
  if (lock.owner === ctx) {
    // The nc-wdm-driver_cancel and IoSetCancelRoutine pages: the routine releases the
    // cancel spin lock before it returns. Let it go so that the run can go on.
    dropCancelLock(n, Irql.Dispatch);
    n.verifier.report(
      'NdisSim_CancelSpinLock',
      'Cancel',
      null,
      `the Cancel routine of ${dev.owner.name} for a request of handle ${r.file.handle} (${describeRequest(r)}) returned holding the cancel spin lock: it calls IoReleaseCancelSpinLock(Irp->CancelIrql) before it returns (on Windows the application's thread would go back to user mode at DISPATCH_LEVEL, and the next IoAcquireCancelSpinLock on any processor spins for ever)`,
      [r.id, 0, 0],
    );
  } else {
    // Released: IoReleaseCancelSpinLock went back to the IRQL it was given, which is
    // to be CancelIrql (a routine holding a lock of its own is SpinLockBalanced, at leave).
    if (ctx.irql !== callerIrql && ctx.held.length === heldBefore)
      n.verifier.report(
        'NdisSim_CancelSpinLock',
        'Cancel',
        null,
        `the Cancel routine of ${dev.owner.name} returned at IRQL ${ctx.irql}: it released the cancel spin lock with another IRQL than Irp->CancelIrql (${callerIrql})`,
        [r.id, 0, 0],
      );
    // The frame was entered at DISPATCH_LEVEL; it returns to the caller's IRQL as every frame does.
    ctx.irql = Irql.Dispatch;
  }
  // VOID: read only for an async routine's Promise (NdisSim_CallbackReturnValue, R8.1).
  n.leave(f, returned !== undefined && isAsync(returned) ? returned : undefined, true);
  return true;
}

/**
 * CancelIoEx(handle, NULL): the I/O manager cancels (IoCancelIrp) each request of the
 * handle that is still pending, oldest first. Each ends when the driver completes it,
 * in its Cancel routine or later; a request without a Cancel routine stays pending
 * with its cancel bit set.
 */
export function userCancel(n: Ndis, handle: string): void {
  const io = ioState(n);
  const file = io.handles.get(handle) ?? null;
  if (file === null) {
    if (n.trace.on) traceApp(n, `CancelIoEx ${handle}`, { Status: ntStatusName(STATUS_INVALID_HANDLE) });
    return;
  }
  const requests = file.pending.slice();
  if (n.trace.on)
    traceApp(n, `CancelIoEx ${handle}`, {
      requests: requests.length,
      ...(requests.length === 0 ? { result: 'FALSE, ERROR_NOT_FOUND: nothing to cancel' } : {}),
    });
  if (requests.length === 0 || driverGone(n, io, file.device)) return;
  for (const r of requests) if (!r.completed) cancelRequest(n, r);
}

/**
 * The application exits: the I/O manager cancels every request of the process still
 * pending (oldest first, IoCancelIrp), then closes each handle it has open
 * (IRP_MJ_CLEANUP and IRP_MJ_CLOSE, as CloseHandle), in the order they were opened.
 * A request that no Cancel routine completed is still pending at its handle's
 * cleanup: the cleanup routine completes it, or NdisSim_IrpPendingAtClose.
 */
export function userExit(n: Ndis): void {
  const io = ioState(n);
  const open: (readonly [string, FileObject])[] = [];
  for (const [h, f] of io.handles) if (f !== null) open.push([h, f]);
  const requests = io.pending.slice();
  if (n.trace.on) traceApp(n, 'ExitProcess', { handles: open.length, pending: requests.length });
  const live = requests.filter((r) => !r.completed && !r.file.device.owner.unloaded);
  for (const r of live) if (!r.completed) cancelRequest(n, r);
  const left = live.filter((r) => !r.completed);
  const ex = new ExitWait(new Set(left), open, n.now);
  if (left.length === 0) {
    exitCloses(n, ex);
    return;
  }
  // The thread's exit waits for what it cancelled, up to five minutes (canceling-irps);
  // the process's handles close after it.
  io.exits.push(ex);
  if (n.trace.on)
    traceApp(n, 'ExitProcess waits', {
      cancelled: left.length,
      note: 'the I/O manager waits up to 5 minutes for the cancelled requests before the handles close',
    });
  io.exitThread ??= new IoManagerThread(n, exitCloses);
  n.kernel.machine.after(exitCancelWaitNs, io.exitThread, 0, ex);
}

/**
 * The exit's requests are all completed, or its five minutes are up: the handles close
 * (IRP_MJ_CLEANUP, IRP_MJ_CLOSE). A request still pending then is timed out: the I/O
 * manager disassociates it from the thread and logs an error for its device
 * (canceling-irps), a warning here; the handle's cleanup routine may still complete it.
 */
function exitCloses(n: Ndis, arg: unknown): void {
  const ex = arg as ExitWait;
  if (ex.done) return;
  ex.done = true;
  const io = ioState(n);
  const i = io.exits.indexOf(ex);
  if (i >= 0) io.exits.splice(i, 1);
  if (ex.left.size > 0) {
    const first = ex.left.values().next().value!;
    n.verifier.warn(
      'canceling-irps',
      'IoCancelIrp',
      null,
      `${ex.left.size} request(s) the application cancelled as it exited (the first ${describeRequest(first)} of handle ${first.file.handle}, in ${first.file.device.owner.name}) were not completed in 5 minutes: the I/O manager took them off the thread, logged an error for the device and let the process go. A request that may wait for long needs a Cancel routine that completes it`,
    );
  }
  for (const [h, f] of ex.handles) if (io.handles.get(h) === f) userClose(n, h);
}

/** What is still under way in the I/O of the run, for World.pending. */
export function ioPending(n: Ndis): string[] {
  const io = n.io;
  if (io === null) return [];
  // One line per request kind, handle and driver, in the order the first was sent: a tool
  // that queues hundreds of reads would otherwise list each one.
  const groups = new Map<string, { first: IoRequest; last: IoRequest; count: number }>();
  for (const r of io.pending) {
    const key = `${r.major}/${r.code}/${r.file.handle}/${r.file.device.owner.name}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { first: r, last: r, count: 1 });
    else {
      g.last = r;
      g.count++;
    }
  }
  const out: string[] = [];
  for (const ex of io.exits)
    out.push(
      `the application's exit (at ${fmtTime(ex.sinceNs)}) waits for ${ex.left.size} request(s) it cancelled and that no Cancel routine completed: its ${ex.handles.length} handle(s) close when they complete, or after 5 minutes (canceling-irps)`,
    );
  const waiting = new Set<FileObject>();
  for (const r of io.pending) if (r.file.closeWaits) waiting.add(r.file);
  for (const f of waiting)
    out.push(
      `the IRP_MJ_CLOSE of handle ${f.handle} (closed by the application) waits for its ${f.pending.length} pending request(s) in ${f.device.owner.name}`,
    );
  for (const { first: r, last, count } of groups.values())
    out.push(
      `${describeRequest(r)} of handle ${r.file.handle} (${count === 1 ? `sent at ${fmtTime(r.sentNs)}` : `${count} requests, sent from ${fmtTime(r.sentNs)} to ${fmtTime(last.sentNs)}`}) still pending in ${r.file.device.owner.name}`,
    );
  return out;
}
