// Public NDIS structures and callback types, named as in ndis.h so that a TypeScript
// miniport reads like its C twin. Conventions (docs/decisions.md):
// - A DDI with out-parameters returns an object: `Status` holds the C return value
//   (when there is one) and each out-parameter is a field named as in the prototype.
// - Structure `Size` fields are optional and not checked (TypeScript has no sizeof);
//   `Type` and `Revision` of an NDIS_OBJECT_HEADER are checked where NDIS checks them.
// - Handles are opaque objects issued by NDIS; the model rejects anything else.

import type { NET_BUFFER_LIST } from './nbl.ts';

export type NDIS_STATUS = number;
export type NDIS_PORT_NUMBER = number;
export type BOOLEAN = boolean;
export type ULONG = number;

/** An opaque handle issued by NDIS (driver, adapter, timer, work item, interrupt, configuration). */
export interface NDIS_HANDLE {
  readonly __ndisHandle: string;
}

export interface NDIS_OBJECT_HEADER {
  Type: number;
  Revision: number;
  Size?: number;
}

/** The driver object the I/O manager passes to DriverEntry. */
export interface DRIVER_OBJECT {
  readonly DriverName: string;
}

// ---------------------------------------------------------------- callbacks

export interface NDIS_MINIPORT_INIT_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  Flags: ULONG;
  /** The hardware resources PnP assigned: memory ranges and the interrupt. */
  AllocatedResources: CM_RESOURCE_LIST | null;
  IfIndex: ULONG;
  NetLuid: number;
}

export interface CM_RESOURCE_LIST {
  PartialDescriptors: CM_PARTIAL_RESOURCE_DESCRIPTOR[];
}

export type CM_PARTIAL_RESOURCE_DESCRIPTOR =
  | { Type: typeof CmResourceTypeMemory; Start: number; Length: number }
  | { Type: typeof CmResourceTypeInterrupt; Level: number; Vector: number };

/** CM_RESOURCE_TYPE values (wdm.h). */
export const CmResourceTypeInterrupt = 2;
export const CmResourceTypeMemory = 3;

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

export type MINIPORT_INITIALIZE = (
  NdisMiniportHandle: NDIS_HANDLE,
  MiniportDriverContext: unknown,
  MiniportInitParameters: NDIS_MINIPORT_INIT_PARAMETERS,
) => NDIS_STATUS;
export type MINIPORT_HALT = (MiniportAdapterContext: unknown, HaltAction: number) => void;
export type MINIPORT_DRIVER_UNLOAD = (DriverObject: DRIVER_OBJECT) => void;
export type MINIPORT_PAUSE = (
  MiniportAdapterContext: unknown,
  PauseParameters: NDIS_MINIPORT_PAUSE_PARAMETERS,
) => NDIS_STATUS;
export type MINIPORT_RESTART = (
  MiniportAdapterContext: unknown,
  RestartParameters: NDIS_MINIPORT_RESTART_PARAMETERS,
) => NDIS_STATUS;
export type MINIPORT_CHECK_FOR_HANG = (MiniportAdapterContext: unknown) => BOOLEAN;
/** NDIS_STATUS MiniportResetEx(Context, PBOOLEAN AddressingReset). */
export type MINIPORT_RESET = (MiniportAdapterContext: unknown) => {
  Status: NDIS_STATUS;
  AddressingReset: BOOLEAN;
};
export type MINIPORT_DEVICE_PNP_EVENT_NOTIFY = (
  MiniportAdapterContext: unknown,
  NetDevicePnPEvent: NET_DEVICE_PNP_EVENT,
) => void;
export type MINIPORT_SHUTDOWN = (MiniportAdapterContext: unknown, ShutdownAction: number) => void;
export type MINIPORT_OID_REQUEST = (
  MiniportAdapterContext: unknown,
  OidRequest: NDIS_OID_REQUEST,
) => NDIS_STATUS;
export type MINIPORT_CANCEL_OID_REQUEST = (MiniportAdapterContext: unknown, RequestId: unknown) => void;
export type MINIPORT_SEND_NET_BUFFER_LISTS = (
  MiniportAdapterContext: unknown,
  NetBufferList: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  SendFlags: ULONG,
) => void;
export type MINIPORT_RETURN_NET_BUFFER_LISTS = (
  MiniportAdapterContext: unknown,
  NetBufferLists: NET_BUFFER_LIST,
  ReturnFlags: ULONG,
) => void;
export type MINIPORT_CANCEL_SEND = (MiniportAdapterContext: unknown, CancelId: unknown) => void;
export type MINIPORT_SET_OPTIONS = (NdisDriverHandle: NDIS_HANDLE, DriverContext: unknown) => NDIS_STATUS;

export interface NDIS_MINIPORT_DRIVER_CHARACTERISTICS {
  Header: NDIS_OBJECT_HEADER;
  MajorNdisVersion: number;
  MinorNdisVersion: number;
  MajorDriverVersion?: number;
  MinorDriverVersion?: number;
  Flags?: ULONG;
  SetOptionsHandler?: MINIPORT_SET_OPTIONS | null;
  InitializeHandlerEx: MINIPORT_INITIALIZE;
  HaltHandlerEx: MINIPORT_HALT;
  UnloadHandler: MINIPORT_DRIVER_UNLOAD;
  PauseHandler: MINIPORT_PAUSE;
  RestartHandler: MINIPORT_RESTART;
  OidRequestHandler: MINIPORT_OID_REQUEST;
  SendNetBufferListsHandler: MINIPORT_SEND_NET_BUFFER_LISTS;
  ReturnNetBufferListsHandler: MINIPORT_RETURN_NET_BUFFER_LISTS;
  CancelSendHandler: MINIPORT_CANCEL_SEND;
  CheckForHangHandlerEx?: MINIPORT_CHECK_FOR_HANG | null;
  ResetHandlerEx?: MINIPORT_RESET | null;
  DevicePnPEventNotifyHandler: MINIPORT_DEVICE_PNP_EVENT_NOTIFY;
  ShutdownHandlerEx: MINIPORT_SHUTDOWN;
  CancelOidRequestHandler: MINIPORT_CANCEL_OID_REQUEST;
  /** Direct OIDs: both or neither (R2.2). NDIS in the model issues none. */
  DirectOidRequestHandler?: unknown;
  CancelDirectOidRequestHandler?: unknown;
}

// ---------------------------------------------------------------- attributes

/**
 * Attribute structures: a field left out is zero, as in a C structure cleared with
 * NdisZeroMemory before it is filled in.
 */
export interface NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES {
  Header: NDIS_OBJECT_HEADER;
  MiniportAdapterContext: unknown;
  AttributeFlags?: ULONG;
  CheckForHangTimeInSeconds?: ULONG;
  InterfaceType?: number;
}

export interface NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
  Header: NDIS_OBJECT_HEADER;
  MediaType: number;
  MtuSize?: ULONG;
  MaxXmitLinkSpeed?: number;
  MaxRcvLinkSpeed?: number;
  XmitLinkSpeed?: number;
  RcvLinkSpeed?: number;
  MediaConnectState?: number;
  MediaDuplexState?: number;
  LookaheadSize?: ULONG;
  MacAddressLength?: number;
  PermanentMacAddress?: readonly number[];
  CurrentMacAddress?: readonly number[];
  SupportedPacketFilters?: ULONG;
  MaxMulticastListSize?: ULONG;
  SupportedOidList?: readonly number[];
}

export type NDIS_MINIPORT_ADAPTER_ATTRIBUTES =
  | NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES
  | NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES;

// ---------------------------------------------------------------- timers, work items, interrupts

export type NDIS_TIMER_FUNCTION = (
  SystemSpecific1: unknown,
  FunctionContext: unknown,
  SystemSpecific2: unknown,
  SystemSpecific3: unknown,
) => void;

export interface NDIS_TIMER_CHARACTERISTICS {
  Header: NDIS_OBJECT_HEADER;
  AllocationTag: ULONG;
  TimerFunction: NDIS_TIMER_FUNCTION;
  FunctionContext: unknown;
}

export type NDIS_IO_WORKITEM_FUNCTION = (WorkItemContext: unknown, NdisIoWorkItemHandle: NDIS_HANDLE) => void;

/** BOOLEAN MiniportInterrupt(Context, PBOOLEAN QueueDefaultInterruptDpc, PULONG TargetProcessors). */
export type MINIPORT_ISR = (MiniportInterruptContext: unknown) => {
  InterruptRecognized: BOOLEAN;
  QueueDefaultInterruptDpc: BOOLEAN;
  TargetProcessors: ULONG;
};
export type MINIPORT_INTERRUPT_DPC = (
  MiniportInterruptContext: unknown,
  MiniportDpcContext: unknown,
  ReceiveThrottleParameters: unknown,
  NdisReserved2: unknown,
) => void;
export type MINIPORT_ENABLE_INTERRUPT = (MiniportInterruptContext: unknown) => void;
export type MINIPORT_DISABLE_INTERRUPT = (MiniportInterruptContext: unknown) => void;
export type MINIPORT_SYNCHRONIZE_INTERRUPT = (SynchronizeContext: unknown) => BOOLEAN;

export interface NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
  Header: NDIS_OBJECT_HEADER;
  InterruptHandler: MINIPORT_ISR;
  InterruptDpcHandler: MINIPORT_INTERRUPT_DPC;
  DisableInterruptHandler: MINIPORT_DISABLE_INTERRUPT;
  EnableInterruptHandler: MINIPORT_ENABLE_INTERRUPT;
  MsiSupported?: BOOLEAN;
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
  DATA: {
    Oid: number;
    /** Query: the driver fills it. Set: the value. Modelled as a value, not bytes. */
    InformationBuffer: unknown;
    InformationBufferLength: ULONG;
    BytesWritten: ULONG;
    BytesRead: ULONG;
    BytesNeeded: ULONG;
  };
}
