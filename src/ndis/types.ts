// Public NDIS structures and callback types, named as in ndis.h so that a TypeScript
// miniport reads like its C twin. Conventions (docs/decisions.md):
// - A DDI with out-parameters returns an object: `Status` holds the C return value
//   (when there is one) and each out-parameter is a field named as in the prototype.
// - Structure `Size` fields are optional and not checked (TypeScript has no sizeof);
//   `Type` and `Revision` of an NDIS_OBJECT_HEADER are checked where NDIS checks them.
// - Handles are opaque objects issued by NDIS; the model rejects anything else.

import type {
  CmResourceTypeInterrupt,
  CmResourceTypeMemory,
  CmResourceTypePort,
} from './generated/status.ts';
import type { NET_BUFFER_LIST } from './nbl.ts';
import type { ResumableDispatch } from './resumable.ts';

export type NDIS_STATUS = number;
export type NDIS_PORT_NUMBER = number;
export type BOOLEAN = boolean;
export type ULONG = number;
export type UINT = number;
export type UCHAR = number;
export type USHORT = number;
export type NDIS_OID = number;

/**
 * NET_LUID (NET_LUID_LH, ifdef.h): a 64-bit interface identifier. The union is modelled
 * by both of its views: Value, the ULONG64 (a bigint, as a C ULONG64 does not fit a
 * number), and Info, its fields: Reserved in bits 0-23, NetLuidIndex (which NDIS
 * allocates, unique on the machine) in bits 24-47, IfType (IANA) in bits 48-63.
 */
export interface NET_LUID {
  readonly Value: bigint;
  readonly Info: { readonly Reserved: number; readonly NetLuidIndex: number; readonly IfType: number };
}

/** NET_LUID of an interface of type `ifType` with the index NDIS allocated for it. */
export function makeNetLuid(ifType: number, netLuidIndex: number): NET_LUID {
  const Value = (BigInt(ifType & 0xffff) << 48n) | (BigInt(netLuidIndex & 0xffffff) << 24n);
  return { Value, Info: { Reserved: 0, NetLuidIndex: netLuidIndex, IfType: ifType } };
}

/** An opaque handle issued by NDIS (driver, adapter, timer, work item, interrupt, configuration). */
export interface NDIS_HANDLE {
  readonly __ndisHandle: string;
}
/**
 * The TimerObject NdisAllocateTimerObject returns: an NDIS_HANDLE that remembers the type
 * `T` of its timer function's context, so NdisSetTimerObject's FunctionContext is checked
 * against it (stop-36 review T6). A plain NDIS_HANDLE is one with T unknown. It is not a
 * kind of its own: a timer handle still compiles where an adapter handle is expected
 * (docs/decisions.md, "Handle types").
 */
export interface NDIS_TIMER_OBJECT_HANDLE<T = unknown> extends NDIS_HANDLE {
  /** Type-only: never set. */
  readonly __timerContext?: T;
}

export interface NDIS_OBJECT_HEADER {
  Type: number;
  Revision: number;
  Size?: number;
}

/** The driver object the I/O manager passes to DriverEntry. */
export interface DRIVER_OBJECT {
  readonly DriverName: string;
  /**
   * The dispatch routines, indexed by IRP_MJ_XXX, for the devices the driver makes with
   * IoCreateDevice: a protocol driver's control device (ndisprot's way). NDIS owns this
   * table for a miniport or filter driver, whose devices take their routines from
   * NdisRegisterDeviceEx. An entry left empty fails with STATUS_INVALID_DEVICE_REQUEST.
   */
  readonly MajorFunction: (DRIVER_DISPATCH | null | undefined)[];
  /**
   * The unload routine a driver that is not a miniport sets in DriverEntry (a filter
   * driver's FilterDriverUnload). The model calls it when a filter service stops
   * (scenario `stop-filter`), after its last module is detached.
   */
  DriverUnload?: (DriverObject: DRIVER_OBJECT) => void;
}

// ---------------------------------------------------------------- callbacks

export interface NDIS_MINIPORT_INIT_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  Flags: ULONG;
  /** The hardware resources PnP assigned: memory ranges and the interrupt. */
  AllocatedResources: NDIS_RESOURCE_LIST | null;
  /**
   * For a virtual miniport of an intermediate driver, the DeviceContext it gave
   * NdisIMInitializeDeviceInstanceEx; NULL for any other adapter.
   */
  IMDeviceInstanceContext: unknown;
  /**
   * What MiniportAddDevice set in NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES; NULL
   * when the driver has no MiniportAddDevice or set none.
   */
  MiniportAddDeviceContext: unknown;
  IfIndex: ULONG;
  NetLuid: NET_LUID;
}

/**
 * NDIS_RESOURCE_LIST, ndis.h's name for wdm.h's CM_PARTIAL_RESOURCE_LIST: the raw
 * resources of the device. Count is the number of PartialDescriptors.
 */
export interface NDIS_RESOURCE_LIST {
  Version: USHORT;
  Revision: USHORT;
  Count: ULONG;
  PartialDescriptors: CM_PARTIAL_RESOURCE_DESCRIPTOR[];
}

/**
 * One resource, with its C union `u`: a memory range in `u.Memory` (and `u.Generic`,
 * the same storage), an I/O port range in `u.Port` (also `u.Generic`; Start is the first
 * port), an interrupt in `u.Interrupt`, message-signaled interrupts in `u.MessageInterrupt`. A PHYSICAL_ADDRESS Start is a plain
 * number (its QuadPart).
 */
export type CM_PARTIAL_RESOURCE_DESCRIPTOR =
  | {
      Type: typeof CmResourceTypeMemory;
      ShareDisposition: UCHAR;
      Flags: USHORT;
      u: { Memory: CM_MEMORY_RANGE; Generic: CM_MEMORY_RANGE };
    }
  | {
      Type: typeof CmResourceTypePort;
      ShareDisposition: UCHAR;
      Flags: USHORT;
      u: { Port: CM_MEMORY_RANGE; Generic: CM_MEMORY_RANGE };
    }
  | {
      Type: typeof CmResourceTypeInterrupt;
      ShareDisposition: UCHAR;
      Flags: USHORT;
      u: { Interrupt: { Level: ULONG; Vector: ULONG; Affinity: number }; MessageInterrupt?: undefined };
    }
  | {
      /**
       * A message-signaled interrupt: Flags has CM_RESOURCE_INTERRUPT_MESSAGE. As in C, a
       * driver tells the two interrupt kinds apart by Flags (or by which member `u` has).
       */
      Type: typeof CmResourceTypeInterrupt;
      ShareDisposition: UCHAR;
      Flags: USHORT;
      u: { MessageInterrupt: CM_MESSAGE_INTERRUPT; Interrupt?: undefined };
    };

/**
 * `u.MessageInterrupt` of a message-signaled interrupt descriptor: `Raw` in a raw list
 * (MessageCount: the messages the descriptor stands for), `Translated` in a translated one.
 */
export type CM_MESSAGE_INTERRUPT =
  | { Raw: { Reserved: USHORT; MessageCount: USHORT; Vector: ULONG; Affinity: number } }
  | { Translated: { Level: ULONG; Vector: ULONG; Affinity: number } };

export interface CM_MEMORY_RANGE {
  Start: number;
  Length: ULONG;
}

/** wdm.h's CM_RESOURCE_LIST, what NdisMGetDeviceProperty returns: one full descriptor per bus. */
export interface CM_RESOURCE_LIST {
  Count: ULONG;
  List: CM_FULL_RESOURCE_DESCRIPTOR[];
}

export interface CM_FULL_RESOURCE_DESCRIPTOR {
  /** INTERFACE_TYPE: PCIBus for a SimNic. */
  InterfaceType: number;
  BusNumber: ULONG;
  PartialResourceList: NDIS_RESOURCE_LIST;
}

/** A DEVICE_OBJECT, which NdisMGetDeviceProperty's page calls a handle opaque to the miniport. */
export interface DEVICE_OBJECT {
  readonly __ndisHandle: 'DEVICE_OBJECT';
  /**
   * The extension IoCreateDevice allocated (DeviceExtensionSize bytes), or null. An NDIS
   * driver leaves it alone on a device from NdisRegisterDeviceEx, whose extension
   * NdisGetDeviceReservedExtension gives.
   */
  readonly DeviceExtension?: Uint8Array | null;
  /**
   * DO_XXX bits. The model reads two, on a device NdisRegisterDeviceEx made: the driver
   * sets DO_BUFFERED_IO or DO_DIRECT_IO after the call, and the I/O manager builds
   * each IRP_MJ_READ and IRP_MJ_WRITE by the one it finds set (docs/model.md). NDIS's
   * other device objects (a PDO, an adapter's FDO) keep it 0.
   */
  Flags: ULONG;
}

export interface NDIS_MINIPORT_PAUSE_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  Flags: ULONG;
  PauseReason: ULONG;
}

export interface NDIS_MINIPORT_RESTART_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  /** NULL in the model: there is no restart attribute list to edit (R3.8). */
  RestartAttributes: null;
  Flags: ULONG;
}

export interface NET_DEVICE_PNP_EVENT {
  Header: NDIS_OBJECT_HEADER;
  PortNumber: NDIS_PORT_NUMBER;
  DevicePnPEvent: number;
  InformationBuffer: unknown;
  InformationBufferLength: ULONG;
}

export type MINIPORT_INITIALIZE<D = unknown> = (
  NdisMiniportHandle: NDIS_HANDLE,
  MiniportDriverContext: D,
  MiniportInitParameters: NDIS_MINIPORT_INIT_PARAMETERS,
) => NDIS_STATUS;
export type MINIPORT_HALT<C = unknown> = (MiniportAdapterContext: C, HaltAction: number) => void;
export type MINIPORT_DRIVER_UNLOAD = (DriverObject: DRIVER_OBJECT) => void;
export type MINIPORT_PAUSE<C = unknown> = (
  MiniportAdapterContext: C,
  PauseParameters: NDIS_MINIPORT_PAUSE_PARAMETERS,
) => NDIS_STATUS;
export type MINIPORT_RESTART<C = unknown> = (
  MiniportAdapterContext: C,
  RestartParameters: NDIS_MINIPORT_RESTART_PARAMETERS,
) => NDIS_STATUS;
export type MINIPORT_CHECK_FOR_HANG<C = unknown> = (MiniportAdapterContext: C) => BOOLEAN;
/** NDIS_STATUS MiniportResetEx(Context, PBOOLEAN AddressingReset). */
export type MINIPORT_RESET<C = unknown> = (MiniportAdapterContext: C) => {
  Status: NDIS_STATUS;
  AddressingReset: BOOLEAN;
};
export type MINIPORT_DEVICE_PNP_EVENT_NOTIFY<C = unknown> = (
  MiniportAdapterContext: C,
  NetDevicePnPEvent: NET_DEVICE_PNP_EVENT,
) => void;
export type MINIPORT_SHUTDOWN<C = unknown> = (MiniportAdapterContext: C, ShutdownAction: number) => void;
export type MINIPORT_OID_REQUEST<C = unknown> = (
  MiniportAdapterContext: C,
  OidRequest: NDIS_OID_REQUEST,
) => NDIS_STATUS;
/**
 * MINIPORT_SYNCHRONOUS_OID_REQUEST (NDIS 6.80): answers a synchronous request before it
 * returns; never NDIS_STATUS_PENDING nor NDIS_STATUS_REQUEST_ABORTED.
 */
export type MINIPORT_SYNCHRONOUS_OID_REQUEST<C = unknown> = (
  MiniportAdapterContext: C,
  OidRequest: NDIS_OID_REQUEST,
) => NDIS_STATUS;
export type MINIPORT_CANCEL_OID_REQUEST<C = unknown> = (
  MiniportAdapterContext: C,
  RequestId: unknown,
) => void;
/**
 * NDIS_STATUS MiniportDirectOidRequest(MiniportAdapterContext, OidRequest): a direct OID
 * request (NDIS 6.1, direct-oid.ts); PENDING is completed with NdisMDirectOidRequestComplete.
 */
export type MINIPORT_DIRECT_OID_REQUEST<C = unknown> = (
  MiniportAdapterContext: C,
  OidRequest: NDIS_OID_REQUEST,
) => NDIS_STATUS;
/** VOID MiniportCancelDirectOidRequest(MiniportAdapterContext, RequestId). */
export type MINIPORT_CANCEL_DIRECT_OID_REQUEST<C = unknown> = (
  MiniportAdapterContext: C,
  RequestId: unknown,
) => void;
export type MINIPORT_SEND_NET_BUFFER_LISTS<C = unknown> = (
  MiniportAdapterContext: C,
  NetBufferList: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  SendFlags: ULONG,
) => void;
export type MINIPORT_RETURN_NET_BUFFER_LISTS<C = unknown> = (
  MiniportAdapterContext: C,
  NetBufferLists: NET_BUFFER_LIST,
  ReturnFlags: ULONG,
) => void;
export type MINIPORT_CANCEL_SEND<C = unknown> = (MiniportAdapterContext: C, CancelId: unknown) => void;
export type MINIPORT_SET_OPTIONS<D = unknown> = (
  NdisDriverHandle: NDIS_HANDLE,
  DriverContext: D,
) => NDIS_STATUS;

// ------------------------------------------------------- optional handlers (MiniportSetOptions)

/**
 * NDIS_DRIVER_OPTIONAL_HANDLERS: what NdisSetOptionalHandlers takes, one of several
 * characteristics structures told apart by `Header.Type`.
 */
export interface NDIS_DRIVER_OPTIONAL_HANDLERS {
  Header: NDIS_OBJECT_HEADER;
}

/** NDIS_STATUS MiniportAddDevice(NdisMiniportHandle, MiniportDriverContext). PASSIVE. */
export type MINIPORT_ADD_DEVICE<D = unknown> = (
  NdisMiniportHandle: NDIS_HANDLE,
  MiniportDriverContext: D,
) => NDIS_STATUS;
/** VOID MiniportRemoveDevice(MiniportAddDeviceContext). PASSIVE. */
export type MINIPORT_REMOVE_DEVICE<A = unknown> = (MiniportAddDeviceContext: A) => void;
/**
 * NDIS_STATUS MiniportPnpIrp(MiniportAddDeviceContext, Irp). PASSIVE. Declared as
 * MINIPORT_START_DEVICE or MINIPORT_FILTER_RESOURCE_REQUIREMENTS.
 */
export type MINIPORT_PNP_IRP<A = unknown> = (MiniportAddDeviceContext: A, Irp: IRP) => NDIS_STATUS;
export type MINIPORT_START_DEVICE<A = unknown> = MINIPORT_PNP_IRP<A>;
export type MINIPORT_FILTER_RESOURCE_REQUIREMENTS<A = unknown> = MINIPORT_PNP_IRP<A>;

/**
 * `D`: the driver context of NdisMRegisterMiniportDriver; `A`: the context the driver
 * sets in MiniportAddDevice (NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES).
 */
export interface NDIS_MINIPORT_PNP_CHARACTERISTICS<D = unknown, A = unknown>
  extends NDIS_DRIVER_OPTIONAL_HANDLERS {
  MiniportAddDeviceHandler?: MINIPORT_ADD_DEVICE<D> | null;
  MiniportRemoveDeviceHandler?: MINIPORT_REMOVE_DEVICE<A> | null;
  /** Registered and kept, never called: the model's PnP manager sends no IRP_MN_FILTER_RESOURCE_REQUIREMENTS. */
  MiniportFilterResourceRequirementsHandler?: MINIPORT_FILTER_RESOURCE_REQUIREMENTS<A> | null;
  MiniportStartDeviceHandler?: MINIPORT_START_DEVICE<A> | null;
  Flags?: ULONG;
}

/** NDIS_STATUS MiniportIdleNotification(MiniportAdapterContext, ForceIdle). PASSIVE. NDIS 6.30. */
export type MINIPORT_IDLE_NOTIFICATION<C = unknown> = (
  MiniportAdapterContext: C,
  ForceIdle: boolean,
) => NDIS_STATUS;
/** VOID MiniportCancelIdleNotification(MiniportAdapterContext). PASSIVE. NDIS 6.30. */
export type MINIPORT_CANCEL_IDLE_NOTIFICATION<C = unknown> = (MiniportAdapterContext: C) => void;

/** The selective suspend handlers (NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS), both required. */
export interface NDIS_MINIPORT_SS_CHARACTERISTICS<C = unknown> extends NDIS_DRIVER_OPTIONAL_HANDLERS {
  /** Reserved for NDIS. */
  Flags?: ULONG;
  IdleNotificationHandler: MINIPORT_IDLE_NOTIFICATION<C>;
  CancelIdleNotificationHandler: MINIPORT_CANCEL_IDLE_NOTIFICATION<C>;
}

/** Set by MiniportAddDevice with NdisMSetMiniportAttributes; NDIS hands the context back. */
export interface NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES<A = unknown> {
  Header: NDIS_OBJECT_HEADER;
  MiniportAddDeviceContext: A;
  Flags?: ULONG;
}

/**
 * wdm.h's IRP as a driver sees it: the I/O status block, the system buffer and the
 * current stack location, the field wdm.h's IoGetCurrentIrpStackLocation reads (the
 * model has no IoGetCurrentIrpStackLocation: read the field). `S` is the part of the
 * stack location the request fills in: IRP_MN_START_DEVICE's for a MINIPORT_PNP_IRP
 * handler (NDIS completes that IRP itself), DISPATCH_IO_STACK_LOCATION for the
 * dispatch routines of a device NdisRegisterDeviceEx made, which complete theirs
 * with IoCompleteRequest.
 */
export interface IRP<S = IO_STACK_LOCATION> {
  IoStatus: IO_STATUS_BLOCK;
  /**
   * `SystemBuffer`: for an IRP_MJ_DEVICE_CONTROL with METHOD_BUFFERED, the buffer of
   * max(InputBufferLength, OutputBufferLength) bytes that holds the input and takes
   * the output; with METHOD_IN_DIRECT or METHOD_OUT_DIRECT, the input alone (the
   * output is behind MdlAddress); for a read or write of a DO_BUFFERED_IO device, its
   * data; null otherwise, and for a length of 0.
   */
  AssociatedIrp: { SystemBuffer: Uint8Array | null };
  /**
   * For IRP_MJ_READ and IRP_MJ_WRITE to a device with DO_DIRECT_IO, and for the output
   * buffer of a METHOD_IN_DIRECT or METHOD_OUT_DIRECT control: the MDL of the
   * application's buffer, locked for the request (an MDL is its bytes in the model;
   * MmGetSystemAddressForMdlSafe maps it, and it can be an NBL's MDL chain). Null for
   * every other request, and for DO_BUFFERED_IO, whose data is in SystemBuffer.
   */
  MdlAddress: Uint8Array | null;
  Tail: {
    Overlay: {
      CurrentStackLocation: S;
      /**
       * Four pointers the driver that owns the IRP may use while it holds it (ndisprot
       * keeps a write's binding and NBL there for its Cancel routine); null when the
       * IRP comes. In C a cancel-safe queue keeps its context in DriverContext[3]; the
       * model's IoCsqXxx keep theirs elsewhere, so a driver using a CSQ leaves [3] alone
       * for C's sake only.
       */
      DriverContext: [unknown, unknown, unknown, unknown];
    };
  };
  /**
   * The cancel bit: IoCancelIrp sets it (the application cancelled the request). A
   * driver that queues an IRP checks it after IoSetCancelRoutine (the cancel may have
   * come while no Cancel routine was set). The I/O manager sets it; the driver reads it.
   */
  Cancel: boolean;
  /**
   * The IRQL to give IoReleaseCancelSpinLock in a Cancel routine: the one the caller
   * of IoCancelIrp was at when it took the cancel spin lock.
   */
  CancelIrql: number;
}

/** wdm.h's IO_STATUS_BLOCK: the final status and, for a device control, the bytes of output. */
export interface IO_STATUS_BLOCK {
  Status: NTSTATUS;
  Information: number;
}

/** An NTSTATUS value (STATUS_SUCCESS, STATUS_PENDING …); NDIS_STATUS values are NTSTATUS values too. */
export type NTSTATUS = number;

/** The part of wdm.h's IO_STACK_LOCATION that IRP_MN_START_DEVICE fills in. */
export interface IO_STACK_LOCATION {
  MajorFunction: UCHAR;
  MinorFunction: UCHAR;
  Parameters: {
    StartDevice: {
      AllocatedResources: CM_RESOURCE_LIST | null;
      AllocatedResourcesTranslated: CM_RESOURCE_LIST | null;
    };
  };
}

/**
 * A FILE_OBJECT: what one CreateFile of the user-mode application opened, opaque to the
 * driver. It tells the requests of one handle from another's (a driver keys its
 * per-handle state on it, and completes that handle's pending requests at
 * IRP_MJ_CLEANUP).
 */
export interface FILE_OBJECT {
  readonly __ndisHandle: 'FILE_OBJECT';
  /**
   * The driver's own state for this open (ndisprot keeps its open context here), NULL
   * until the driver sets it: kept from IRP_MJ_CREATE to IRP_MJ_CLOSE (ns-wdm-_file_object).
   */
  FsContext: unknown;
  /** More state of the driver's for this open; NULL until set. */
  FsContext2: unknown;
}

/**
 * The part of wdm.h's IO_STACK_LOCATION that IRP_MJ_CREATE, IRP_MJ_CLEANUP,
 * IRP_MJ_CLOSE, IRP_MJ_READ, IRP_MJ_WRITE and IRP_MJ_DEVICE_CONTROL fill in for a
 * control device (the model sends no other request to it). Of the C union
 * `Parameters`, the member of the request's major function is there: `Read`,
 * `Write` or `DeviceIoControl` (the others are not modelled).
 */
export interface DISPATCH_IO_STACK_LOCATION {
  MajorFunction: UCHAR;
  MinorFunction: UCHAR;
  Parameters: {
    /** IRP_MJ_READ: the bytes the application asked for. ByteOffset and Key are always 0 (a device, not a file). */
    Read?: READ_WRITE_PARAMETERS;
    /** IRP_MJ_WRITE: the bytes the application gives. */
    Write?: READ_WRITE_PARAMETERS;
    DeviceIoControl?: {
      OutputBufferLength: ULONG;
      InputBufferLength: ULONG;
      IoControlCode: ULONG;
      /** METHOD_NEITHER only, which the model does not have: always null. */
      Type3InputBuffer: null;
    };
  };
  DeviceObject: DEVICE_OBJECT;
  FileObject: FILE_OBJECT;
}

/** The Parameters.Read and Parameters.Write members of wdm.h's IO_STACK_LOCATION. */
export interface READ_WRITE_PARAMETERS {
  Length: ULONG;
  Key: ULONG;
  /** The LARGE_INTEGER, as a number: where in the file; 0 for a device. */
  ByteOffset: number;
}

/**
 * NTSTATUS DispatchXxx(DeviceObject, Irp): a dispatch routine (wdm.h's DRIVER_DISPATCH).
 * PASSIVE here. The IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ and IRP_MJ_WRITE routines may be
 * generator functions that yield their waits (ResumableDispatch; docs/model.md).
 */
export type DRIVER_DISPATCH = (
  DeviceObject: DEVICE_OBJECT,
  Irp: IRP<DISPATCH_IO_STACK_LOCATION>,
) => NTSTATUS | ResumableDispatch;

/**
 * VOID Cancel(DeviceObject, Irp): a Cancel routine (wdm.h's DRIVER_CANCEL), set on a
 * pending IRP with IoSetCancelRoutine. IoCancelIrp calls it at DISPATCH_LEVEL holding
 * the cancel spin lock; it releases the lock with IoReleaseCancelSpinLock(Irp.CancelIrql)
 * and completes the IRP with STATUS_CANCELLED.
 */
export type DRIVER_CANCEL = (DeviceObject: DEVICE_OBJECT, Irp: IRP<DISPATCH_IO_STACK_LOCATION>) => void;

/**
 * NDIS_DEVICE_OBJECT_ATTRIBUTES, what NdisRegisterDeviceEx takes. Names are strings
 * (NDIS_STRING). `MajorFunctions` is indexed by IRP_MJ_XXX, as the C array of
 * IRP_MJ_MAXIMUM_FUNCTION + 1 entry points: the driver fills the entries it handles.
 */
export interface NDIS_DEVICE_OBJECT_ATTRIBUTES {
  Header: NDIS_OBJECT_HEADER;
  /** A full path such as \Device\SimNicCtl. */
  DeviceName: string;
  /** The Win32-visible name, \DosDevices\SimNicCtl (what \\.\SimNicCtl opens). */
  SymbolicName: string | null;
  MajorFunctions: readonly (DRIVER_DISPATCH | null | undefined)[];
  /** Bytes NDIS allocates for the driver (NdisGetDeviceReservedExtension); 0 for none. */
  ExtensionSize: ULONG;
  /** SDDL; kept, not enforced (the model's application may open the device). */
  DefaultSDDLString?: string | null;
  /** Reserved for NDIS: NULL. */
  DeviceClassGuid?: null;
}

/**
 * `C`: the adapter context the driver sets in its registration attributes, which NDIS
 * passes back to every handler; `D`: the driver context of NdisMRegisterMiniportDriver.
 * Both are the driver's own types (unknown when it leaves them out).
 */
export interface NDIS_MINIPORT_DRIVER_CHARACTERISTICS<C = unknown, D = unknown> {
  Header: NDIS_OBJECT_HEADER;
  MajorNdisVersion: number;
  MinorNdisVersion: number;
  MajorDriverVersion?: number;
  MinorDriverVersion?: number;
  /** Zero, NDIS_INTERMEDIATE_DRIVER (an intermediate driver's miniport edge) or NDIS_WDM_DRIVER. */
  Flags?: ULONG;
  SetOptionsHandler?: MINIPORT_SET_OPTIONS<D> | null;
  InitializeHandlerEx: MINIPORT_INITIALIZE<D>;
  HaltHandlerEx: MINIPORT_HALT<C>;
  UnloadHandler: MINIPORT_DRIVER_UNLOAD;
  PauseHandler: MINIPORT_PAUSE<C>;
  RestartHandler: MINIPORT_RESTART<C>;
  OidRequestHandler: MINIPORT_OID_REQUEST<C>;
  SendNetBufferListsHandler: MINIPORT_SEND_NET_BUFFER_LISTS<C>;
  ReturnNetBufferListsHandler: MINIPORT_RETURN_NET_BUFFER_LISTS<C>;
  CancelSendHandler: MINIPORT_CANCEL_SEND<C>;
  CheckForHangHandlerEx?: MINIPORT_CHECK_FOR_HANG<C> | null;
  ResetHandlerEx?: MINIPORT_RESET<C> | null;
  DevicePnPEventNotifyHandler: MINIPORT_DEVICE_PNP_EVENT_NOTIFY<C>;
  ShutdownHandlerEx: MINIPORT_SHUTDOWN<C>;
  CancelOidRequestHandler: MINIPORT_CANCEL_OID_REQUEST<C>;
  /**
   * Direct OIDs (Header.Revision NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 and up):
   * both or neither, each a routine or NULL (R2.2); see direct-oid.ts.
   */
  DirectOidRequestHandler?: MINIPORT_DIRECT_OID_REQUEST<C> | null;
  CancelDirectOidRequestHandler?: MINIPORT_CANCEL_DIRECT_OID_REQUEST<C> | null;
  /**
   * NDIS 6.80 (Header.Revision NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3):
   * MiniportSynchronousOidRequest (sync-oid.ts). Optional; no completion routine.
   */
  SynchronousOidRequestHandler?: MINIPORT_SYNCHRONOUS_OID_REQUEST<C> | null;
}

// ---------------------------------------------------------------- attributes

/**
 * Attribute structures: a field left out is zero, as in a C structure cleared with
 * NdisZeroMemory before it is filled in.
 */
export interface NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES<C = unknown> {
  Header: NDIS_OBJECT_HEADER;
  MiniportAdapterContext: C;
  AttributeFlags?: ULONG;
  CheckForHangTimeInSeconds?: ULONG;
  InterfaceType?: number;
}

/**
 * NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, every member of the C structure. NDIS in the
 * model acts on the media type, the link (speeds, connect and duplex state), the MAC
 * addresses, the packet filters, the multicast list size and the supported OIDs; the
 * others are accepted as a driver ported from C sets them, and kept, but nothing
 * depends on them (interface types, statistics flags, back-fill sizes, power and RSS
 * capabilities).
 */
export interface NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
  Header: NDIS_OBJECT_HEADER;
  Flags?: ULONG;
  MediaType: number;
  PhysicalMediumType?: number;
  MtuSize?: ULONG;
  MaxXmitLinkSpeed?: number;
  XmitLinkSpeed?: number;
  MaxRcvLinkSpeed?: number;
  RcvLinkSpeed?: number;
  MediaConnectState?: number;
  MediaDuplexState?: number;
  LookaheadSize?: ULONG;
  /**
   * A pointer to NDIS_PNP_CAPABILITIES in C (NDIS 6.0 and 6.1). Its contents are not
   * read, but non-NULL makes the adapter power-management aware: NDIS does not halt it
   * on a system sleep (R2.11). Wake-up is not modelled.
   */
  PowerManagementCapabilities?: unknown;
  MacOptions?: ULONG;
  SupportedPacketFilters?: ULONG;
  MaxMulticastListSize?: ULONG;
  MacAddressLength?: number;
  PermanentMacAddress?: readonly number[];
  CurrentMacAddress?: readonly number[];
  /** A pointer to NDIS_RECEIVE_SCALE_CAPABILITIES in C; not modelled (no RSS). */
  RecvScaleCapabilities?: unknown;
  AccessType?: number;
  DirectionType?: number;
  ConnectionType?: number;
  IfType?: number;
  IfConnectorPresent?: boolean;
  SupportedStatistics?: ULONG;
  SupportedPauseFunctions?: ULONG;
  DataBackFillSize?: ULONG;
  ContextBackFillSize?: ULONG;
  SupportedOidList?: readonly number[];
  /** Bytes in C; the list's own length counts in the model. */
  SupportedOidListLength?: ULONG;
  AutoNegotiationFlags?: ULONG;
  /**
   * A pointer to NDIS_PM_CAPABILITIES in C. NDIS reads its Flags for
   * NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED (selective suspend); its presence alone makes the
   * adapter power-management aware (R2.11).
   */
  PowerManagementCapabilitiesEx?: NDIS_PM_CAPABILITIES | null;
}

/**
 * NDIS_PM_CAPABILITIES (NDIS 6.20 and later): the members the model reads. Selective
 * suspend needs NDIS_PM_CAPABILITIES_REVISION_2 and NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED in
 * Flags; the wake-up members are kept, not used.
 */
export interface NDIS_PM_CAPABILITIES {
  Header: NDIS_OBJECT_HEADER;
  Flags?: ULONG;
  [member: string]: unknown;
}

/** NDIS_PM_PARAMETERS, the buffer of OID_PM_PARAMETERS (revision 2). */
export interface NDIS_PM_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  EnabledWoLPacketPatterns: ULONG;
  EnabledProtocolOffloads: ULONG;
  WakeUpFlags: ULONG;
  MediaSpecificWakeUpEvents: ULONG;
}

/**
 * NDIS_PM_WOL_PATTERN, the buffer of OID_PM_ADD_WOL_PATTERN (revision 1 or 2). PatternId is
 * NDIS's to set. In C a bitmap pattern's mask and pattern bytes follow the structure in the
 * same InformationBuffer, at MaskOffset and PatternOffset from its start; the model's
 * buffers are values, so `Mask` and `Pattern` stand for those bytes (the offsets and sizes
 * are still the C layout's, and InformationBufferLength counts the bytes).
 */
export interface NDIS_PM_WOL_PATTERN {
  Header: NDIS_OBJECT_HEADER;
  Flags: ULONG;
  Priority: ULONG;
  /** An NDIS_PM_WOL_PACKET value (NdisPMWoLPacketBitmapPattern, NdisPMWoLPacketMagicPacket, …). */
  WoLPacketType: number;
  FriendlyName?: string;
  PatternId: ULONG;
  NextWoLPatternOffset: ULONG;
  /**
   * The union; the model fills the member of WoLPacketType: WoLBitMapPattern,
   * IPv4TcpSynParameters, IPv6TcpSynParameters or EapolRequestIdMessageParameters (a
   * magic packet has none). Each member's Flags is reserved for NDIS.
   */
  WoLPattern: {
    WoLBitMapPattern?: {
      Flags: ULONG;
      MaskOffset: ULONG;
      MaskSize: ULONG;
      PatternOffset: ULONG;
      PatternSize: ULONG;
    };
    /** An IPv4 TCP SYN: the SYN's addresses (4 bytes each) and ports; zeros are unspecified values. */
    IPv4TcpSynParameters?: {
      Flags: ULONG;
      IPv4SourceAddress: Uint8Array;
      IPv4DestAddress: Uint8Array;
      TCPSourcePortNumber: number;
      TCPDestPortNumber: number;
    };
    /** An IPv6 TCP SYN: the SYN's addresses (16 bytes each) and ports; zeros are unspecified values. */
    IPv6TcpSynParameters?: {
      Flags: ULONG;
      IPv6SourceAddress: Uint8Array;
      IPv6DestAddress: Uint8Array;
      TCPSourcePortNumber: number;
      TCPDestPortNumber: number;
    };
    /** An 802.1X EAPOL request identity message: no parameter but the reserved Flags. */
    EapolRequestIdMessageParameters?: { Flags: ULONG };
    [member: string]: unknown;
  };
  /** The MaskSize bytes at MaskOffset: bit i of the mask (bit i % 8 of byte i / 8) says whether byte i is compared. */
  Mask?: Uint8Array;
  /** The PatternSize bytes at PatternOffset, compared from the frame's first byte. */
  Pattern?: Uint8Array;
}

export type NDIS_MINIPORT_ADAPTER_ATTRIBUTES<C = unknown> =
  | NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES<C>
  | NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES
  | NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES;

// ---------------------------------------------------------------- timers, work items, interrupts

/** `T`: the type of the context the timer passes (its FunctionContext). */
export type NDIS_TIMER_FUNCTION<T = unknown> = (
  SystemSpecific1: unknown,
  FunctionContext: T,
  SystemSpecific2: unknown,
  SystemSpecific3: unknown,
) => void;

export interface NDIS_TIMER_CHARACTERISTICS<T = unknown> {
  Header: NDIS_OBJECT_HEADER;
  AllocationTag: ULONG;
  TimerFunction: NDIS_TIMER_FUNCTION<T>;
  FunctionContext: T;
}

/** The opaque IO_WORKITEM of IoAllocateWorkItem (wdm). */
export interface IO_WORKITEM {
  readonly __ndisHandle: 'IO_WORKITEM';
}

/** WorkItem (nc-wdm-io_workitem_routine): queued by IoQueueWorkItem, runs at PASSIVE. */
export type IO_WORKITEM_ROUTINE<T = unknown> = (DeviceObject: DEVICE_OBJECT, Context: T) => void;

/**
 * WorkItemEx (nc-wdm-io_workitem_routine_ex): queued by IoQueueWorkItemEx, runs at
 * PASSIVE; IoObject is what IoAllocateWorkItem got (a driver or a device object).
 */
export type IO_WORKITEM_ROUTINE_EX<T = unknown> = (
  IoObject: DRIVER_OBJECT | DEVICE_OBJECT,
  Context: T,
  IoWorkItem: IO_WORKITEM,
) => void;

/**
 * WORK_QUEUE_TYPE (ne-wdm-_work_queue_type), with wdm.h's values. IoQueueWorkItem and
 * IoQueueWorkItemEx take DelayedWorkQueue only (their pages: drivers must specify it).
 */
export const CriticalWorkQueue = 0;
export const DelayedWorkQueue = 1;
export const HyperCriticalWorkQueue = 2;
export const NormalWorkQueue = 3;
export const BackgroundWorkQueue = 4;
export const RealTimeWorkQueue = 5;
export const SuperCriticalWorkQueue = 6;
export const MaximumWorkQueue = 7;
export const CustomPriorityWorkQueue = 32;
export type WORK_QUEUE_TYPE = number;

export type NDIS_IO_WORKITEM_FUNCTION<T = unknown> = (
  WorkItemContext: T,
  NdisIoWorkItemHandle: NDIS_HANDLE,
) => void;

/** BOOLEAN MiniportInterrupt(Context, PBOOLEAN QueueDefaultInterruptDpc, PULONG TargetProcessors). */
export type MINIPORT_ISR<C = unknown> = (MiniportInterruptContext: C) => {
  InterruptRecognized: BOOLEAN;
  QueueDefaultInterruptDpc: BOOLEAN;
  TargetProcessors: ULONG;
};
/**
 * Receive Side Throttle (NDIS 6.20): on entry, how many NBLs the DPC may indicate
 * (NDIS_INDICATE_ALL_NBLS: no limit); on return, MoreNblsPending TRUE has NDIS run the
 * DPC again.
 */
export interface NDIS_RECEIVE_THROTTLE_PARAMETERS {
  MaxNblsToIndicate: ULONG;
  MoreNblsPending: BOOLEAN;
}

/** ReceiveThrottleParameters is null for a driver older than NDIS 6.20 (NdisReserved1 there). */
export type MINIPORT_INTERRUPT_DPC<C = unknown> = (
  MiniportInterruptContext: C,
  MiniportDpcContext: unknown,
  ReceiveThrottleParameters: NDIS_RECEIVE_THROTTLE_PARAMETERS | null,
  NdisReserved2: unknown,
) => void;
export type MINIPORT_ENABLE_INTERRUPT<C = unknown> = (MiniportInterruptContext: C) => void;
export type MINIPORT_DISABLE_INTERRUPT<C = unknown> = (MiniportInterruptContext: C) => void;
export type MINIPORT_SYNCHRONIZE_INTERRUPT<T = unknown> = (SynchronizeContext: T) => BOOLEAN;

/**
 * BOOLEAN MiniportMessageInterrupt(Context, MessageId, PBOOLEAN QueueDefaultInterruptDpc,
 * PULONG TargetProcessors): the ISR of one message-signaled interrupt.
 */
export type MINIPORT_MESSAGE_INTERRUPT<C = unknown> = (
  MiniportInterruptContext: C,
  MessageId: ULONG,
) => {
  InterruptRecognized: BOOLEAN;
  QueueDefaultInterruptDpc: BOOLEAN;
  TargetProcessors: ULONG;
};
/** MiniportMessageInterruptDPC: MiniportInterruptDPC of one message, with its MessageId. */
export type MINIPORT_MESSAGE_INTERRUPT_DPC<C = unknown> = (
  MiniportInterruptContext: C,
  MessageId: ULONG,
  MiniportDpcContext: unknown,
  ReceiveThrottleParameters: NDIS_RECEIVE_THROTTLE_PARAMETERS | null,
  NdisReserved2: unknown,
) => void;
export type MINIPORT_DISABLE_MESSAGE_INTERRUPT<C = unknown> = (
  MiniportInterruptContext: C,
  MessageId: ULONG,
) => void;
export type MINIPORT_ENABLE_MESSAGE_INTERRUPT<C = unknown> = (
  MiniportInterruptContext: C,
  MessageId: ULONG,
) => void;

/** wdm.h's IO_INTERRUPT_MESSAGE_INFO_ENTRY: one message of a message-based connection. */
export interface IO_INTERRUPT_MESSAGE_INFO_ENTRY {
  /** The physical address the device writes MessageData to (a plain number). */
  MessageAddress: number;
  /** KAFFINITY of the processors the message may interrupt. */
  TargetProcessorSet: number;
  /** The kernel's interrupt object of the message, opaque to the driver. */
  InterruptObject: unknown;
  MessageData: ULONG;
  Vector: ULONG;
  /** KIRQL: the message's DIRQL. */
  Irql: number;
  /** KINTERRUPT_MODE: Latched (messages are edges). */
  Mode: number;
  /** KINTERRUPT_POLARITY: InterruptRisingEdge. */
  Polarity: number;
}

/** wdm.h's IO_INTERRUPT_MESSAGE_INFO: what NdisMRegisterInterruptEx puts in MessageInfoTable. */
export interface IO_INTERRUPT_MESSAGE_INFO {
  /** KIRQL at which NdisMSynchronizeWithInterruptEx runs a routine synchronized with every message. */
  UnifiedIrql: number;
  MessageCount: ULONG;
  /** One entry per message; MessageId is the index. */
  MessageInfo: IO_INTERRUPT_MESSAGE_INFO_ENTRY[];
}

/**
 * `C`: the interrupt context given to NdisMRegisterInterruptEx. The last two members
 * are written by NdisMRegisterInterruptEx into this very object when it succeeds
 * (NDIS_CONNECT_LINE_BASED with a null table, or NDIS_CONNECT_MESSAGE_BASED).
 */
export interface NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<C = unknown> {
  Header: NDIS_OBJECT_HEADER;
  InterruptHandler: MINIPORT_ISR<C>;
  InterruptDpcHandler: MINIPORT_INTERRUPT_DPC<C>;
  DisableInterruptHandler: MINIPORT_DISABLE_INTERRUPT<C>;
  EnableInterruptHandler: MINIPORT_ENABLE_INTERRUPT<C>;
  MsiSupported?: BOOLEAN;
  MsiSyncWithAllMessages?: BOOLEAN;
  MessageInterruptHandler?: MINIPORT_MESSAGE_INTERRUPT<C> | null;
  MessageInterruptDpcHandler?: MINIPORT_MESSAGE_INTERRUPT_DPC<C> | null;
  DisableMessageInterruptHandler?: MINIPORT_DISABLE_MESSAGE_INTERRUPT<C> | null;
  EnableMessageInterruptHandler?: MINIPORT_ENABLE_MESSAGE_INTERRUPT<C> | null;
  /** Out: NDIS_INTERRUPT_TYPE, the kind of interrupt NDIS granted. */
  InterruptType?: number;
  /** Out: the message table when InterruptType is NDIS_CONNECT_MESSAGE_BASED, else null. */
  MessageInfoTable?: IO_INTERRUPT_MESSAGE_INFO | null;
}

// ---------------------------------------------------------------- status indications

export interface NDIS_STATUS_INDICATION {
  Header: NDIS_OBJECT_HEADER;
  SourceHandle: NDIS_HANDLE;
  PortNumber: NDIS_PORT_NUMBER;
  StatusCode: NDIS_STATUS;
  Flags: ULONG;
  DestinationHandle: NDIS_HANDLE | null;
  RequestId: unknown;
  StatusBuffer: unknown;
  StatusBufferSize: ULONG;
}

export interface NDIS_LINK_STATE {
  Header: NDIS_OBJECT_HEADER;
  MediaConnectState: number;
  MediaDuplexState: number;
  XmitLinkSpeed: number;
  RcvLinkSpeed: number;
  PauseFunctions: number;
  AutoNegotiationFlags: ULONG;
}

// ---------------------------------------------------------------- OID requests

export interface NDIS_OID_REQUEST {
  Header: NDIS_OBJECT_HEADER;
  RequestType: number;
  PortNumber: NDIS_PORT_NUMBER;
  /** Seconds; 0 = no time-out. */
  Timeout: ULONG;
  RequestId: unknown;
  RequestHandle: NDIS_HANDLE | null;
  DATA: NDIS_OID_REQUEST_DATA;
  /** Two pointers for the miniport driver that handles the request (ns-oidrequest-ndis_oid_request). */
  MiniportReserved: [unknown, unknown];
  /**
   * Two pointers for the driver that allocated the request: a filter keeps the original
   * request here in its clone (ns-oidrequest-ndis_oid_request). NDIS never reads them.
   */
  SourceReserved: [unknown, unknown];
  /** The revision of the set's structure the driver took, when that structure has an NDIS_OBJECT_HEADER (R6.1). */
  SupportedRevision: UCHAR;
  /** NDIS_NIC_SWITCH_ID of the switch VPortId runs on (NDIS 6.50 and later); the model has no switches: 0. */
  SwitchId: ULONG;
  /** NDIS_NIC_SWITCH_VPORT_ID the request targets, valid with NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID (NDIS 6.50 and later). */
  VPortId: ULONG;
  /** NDIS_OID_REQUEST_FLAGS_* (NDIS 6.50 and later). */
  Flags: ULONG;
}

/**
 * A pointer parameter a handler writes through (C's PVOID* CallContext and NDIS_STATUS*
 * Status of the synchronous OID handlers): the handler sets `value`.
 */
export interface NDIS_OUT<T> {
  value: T;
}

/** NDIS_OID_REQUEST.Flags: VPortId is valid and names the VPort the OID is for (ns-oidrequest-ndis_oid_request). */
export const NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID = 0x0001;

/**
 * QUERY_INFORMATION in the `DATA` union of NDIS_OID_REQUEST. The buffer is modelled as
 * a value, not bytes: a query's handler stores its answer in InformationBuffer.
 */
export interface NDIS_OID_QUERY_INFORMATION {
  Oid: NDIS_OID;
  InformationBuffer: unknown;
  InformationBufferLength: UINT;
  BytesWritten: UINT;
  BytesNeeded: UINT;
}

/** SET_INFORMATION in the `DATA` union: InformationBuffer holds the value to set. */
export interface NDIS_OID_SET_INFORMATION {
  Oid: NDIS_OID;
  InformationBuffer: unknown;
  InformationBufferLength: UINT;
  BytesRead: UINT;
  BytesNeeded: UINT;
}

/**
 * METHOD_INFORMATION in the `DATA` union (ns-oidrequest-ndis_oid_request): a method
 * request's InformationBuffer holds its input on the way down and its output on the
 * way back. InputBufferLength is how many bytes of input it holds, OutputBufferLength
 * how many bytes of output it has room for, MethodId which method of the OID is meant;
 * the handler writes BytesRead (input consumed), BytesWritten (output produced) and,
 * when the buffer is short, BytesNeeded.
 */
export interface NDIS_OID_METHOD_INFORMATION {
  Oid: NDIS_OID;
  InformationBuffer: unknown;
  InputBufferLength: UINT;
  OutputBufferLength: UINT;
  MethodId: UINT;
  BytesWritten: UINT;
  BytesRead: UINT;
  BytesNeeded: UINT;
}

/**
 * The `DATA` union of NDIS_OID_REQUEST, as C reaches it: `DATA.Oid`,
 * `DATA.QUERY_INFORMATION.…` and `DATA.SET_INFORMATION.…` are views of one storage,
 * so a set's BytesRead is a query's BytesWritten. `DATA.METHOD_INFORMATION.…` is the
 * view a method request (NdisRequestMethod) is read and answered through: its Oid,
 * InformationBuffer and InputBufferLength are the storage of `DATA.Oid`,
 * InformationBuffer and InformationBufferLength (the same slots in C), while
 * OutputBufferLength, MethodId, BytesWritten, BytesRead and BytesNeeded are its own.
 * In C those five sit where the other views keep their counts, so a handler that
 * answered a method request through SET_INFORMATION would overwrite
 * OutputBufferLength; the model keeps them apart, and NDIS and the requester read a
 * method request's counts only through METHOD_INFORMATION (docs/decisions.md). Method
 * requests travel only the synchronous OID path of NDIS 6.80 (sync-oid.ts).
 * Build one with `oidRequestData`.
 */
export interface NDIS_OID_REQUEST_DATA {
  Oid: NDIS_OID;
  readonly QUERY_INFORMATION: NDIS_OID_QUERY_INFORMATION;
  readonly SET_INFORMATION: NDIS_OID_SET_INFORMATION;
  readonly METHOD_INFORMATION: NDIS_OID_METHOD_INFORMATION;
}
