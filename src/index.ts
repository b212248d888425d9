// ndis-sim: the one front door. Everything a miniport author may use is exported
// here; anything else under src/ is internal.

// What an Ethernet miniport must give NDIS (R2.4, R6.1), from the bundled drivers' common
// source: its general attributes, and a MiniportOidRequest that keeps the packet filter.
export {
  ethernetGeneralAttributes,
  packetFilterOidRequest,
  supportedPacketFilters,
} from './drivers/common.ts';
// What a wrong call or bad input throws.
export { InputError, NdisSimUsageError, NotModelledError } from './errors.ts';
// The types World's options, methods and results name (T4 of the stop-36 review: a
// project names them in its own code, and the exports map blocks deep imports).
export type { FaultPlan, NsRange, SimNic, WireOptions } from './hw/simnic.ts';
// The simulated hardware's datasheet: register map of SimNic.
export {
  Ctrl as SimNicCtrl,
  FLXD_COMPARE as SimNicFlxdCompare,
  Icr as SimNicIcr,
  magicPacket as simNicMagicPacket,
  messageOf as simNicMessageOf,
  PciConfig as SimNicPciConfig,
  Reg as SimNicReg,
  Status as SimNicStatus,
  simNicDeviceId,
  simNicVendorId,
  Wake as SimNicWake,
  wakePacketSaved as simNicWakePacketSaved,
  wakePatternBytes as simNicWakePatternBytes,
  wakePatternSlots as simNicWakePatternSlots,
} from './hw/simnic.ts';
// DDIs, named and shaped as in ndis.h.
export {
  type NDIS_CONFIGURATION_OBJECT,
  type NDIS_CONFIGURATION_PARAMETER,
  NdisCloseConfiguration,
  NdisMGetBusData,
  NdisMGetDeviceProperty,
  NdisMIndicateStatusEx,
  NdisMMapIoSpace,
  NdisMPauseComplete,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisMResetMiniport,
  NdisMRestartComplete,
  NdisMSetBusData,
  NdisMSetMiniportAttributes,
  NdisMUnmapIoSpace,
  NdisOpenConfigurationEx,
  NdisReadConfiguration,
  NdisReadNetworkAddress,
  NdisReadRegisterUchar,
  NdisReadRegisterUlong,
  NdisReadRegisterUshort,
  NdisWriteConfiguration,
  NdisWriteErrorLogEntry,
  NdisWriteRegisterUchar,
  NdisWriteRegisterUlong,
  NdisWriteRegisterUshort,
} from './ndis/api/adapter.ts';
export { NdisAllocateCloneNetBufferList, NdisFreeCloneNetBufferList } from './ndis/api/clone.ts';
export {
  IO_CSQ,
  type IO_CSQ_ACQUIRE_LOCK,
  type IO_CSQ_COMPLETE_CANCELED_IRP,
  type IO_CSQ_INSERT_IRP,
  type IO_CSQ_INSERT_IRP_EX,
  IO_CSQ_IRP_CONTEXT,
  type IO_CSQ_PEEK_NEXT_IRP,
  type IO_CSQ_RELEASE_LOCK,
  type IO_CSQ_REMOVE_IRP,
  IoCsqInitialize,
  IoCsqInitializeEx,
  IoCsqInsertIrp,
  IoCsqInsertIrpEx,
  IoCsqRemoveIrp,
  IoCsqRemoveNextIrp,
} from './ndis/api/csq.ts';
export {
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisMDirectOidRequestComplete,
  NdisMIndicateReceiveNetBufferLists,
  NdisMOidRequestComplete,
  NdisMSendNetBufferListsComplete,
  type NET_BUFFER_LIST_POOL_PARAMETERS,
} from './ndis/api/datapath.ts';
export {
  IoAcquireCancelSpinLock,
  IoCompleteRequest,
  IoMarkIrpPending,
  IoReleaseCancelSpinLock,
  IoSetCancelRoutine,
  NdisDeregisterDeviceEx,
  NdisGetDeviceReservedExtension,
  NdisRegisterDeviceEx,
} from './ndis/api/device.ts';
export {
  type MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER,
  type MINIPORT_PROCESS_SG_LIST_HANDLER,
  type NDIS_SG_DMA_DESCRIPTION,
  type NDIS_SG_DMA_HANDLE,
  NdisMAllocateNetBufferSGList,
  NdisMAllocateSharedMemory,
  NdisMAllocateSharedMemoryAsyncEx,
  NdisMDeregisterScatterGatherDma,
  NdisMFreeNetBufferSGList,
  NdisMFreeSharedMemory,
  NdisMGetDmaAlignment,
  NdisMRegisterScatterGatherDma,
  type SCATTER_GATHER_ELEMENT,
  type SCATTER_GATHER_LIST,
} from './ndis/api/dma.ts';
export {
  NdisMDeregisterMiniportDriver,
  NdisMRegisterMiniportDriver,
  NdisSetOptionalHandlers,
} from './ndis/api/driver.ts';
export {
  NDIS_EVENT,
  NdisInitializeEvent,
  NdisResetEvent,
  NdisSetEvent,
  NdisWaitEvent,
} from './ndis/api/event.ts';
export {
  NdisFDeregisterFilterDriver,
  NdisFDevicePnPEventNotify,
  NdisFNetPnPEvent,
  NdisFPauseComplete,
  NdisFRegisterFilterDriver,
  NdisFRestartComplete,
  NdisFRestartFilter,
  NdisFSetAttributes,
} from './ndis/api/filter.ts';
export {
  NdisFCancelSendNetBufferLists,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
} from './ndis/api/filter-data.ts';
export {
  NdisAllocateCloneOidRequest,
  NdisFCancelDirectOidRequest,
  NdisFCancelOidRequest,
  NdisFDirectOidRequest,
  NdisFDirectOidRequestComplete,
  NdisFIndicateStatus,
  NdisFOidRequest,
  NdisFOidRequestComplete,
  NdisFreeCloneOidRequest,
  NdisFSynchronousOidRequest,
} from './ndis/api/filter-oid.ts';
export { NdisAllocateGenericObject, NdisFreeGenericObject } from './ndis/api/generic.ts';
export {
  NdisIMAssociateMiniport,
  NdisIMCancelInitializeDeviceInstance,
  NdisIMDeInitializeDeviceInstance,
  NdisIMGetBindingContext,
  NdisIMInitializeDeviceInstanceEx,
  NdisIMNotifyPnPEvent,
} from './ndis/api/im.ts';
export {
  type NDIS_STRING,
  NdisMQueryAdapterInstanceName,
  NdisQueryAdapterInstanceName,
  NdisQueryBindInstanceName,
} from './ndis/api/instance-name.ts';
export {
  IoCreateDevice,
  IoCreateSymbolicLink,
  IoDeleteDevice,
  IoDeleteSymbolicLink,
} from './ndis/api/iodevice.ts';
export {
  NdisMDeregisterIoPortRange,
  NdisMRegisterIoPortRange,
  NdisRawReadPortUchar,
  NdisRawReadPortUlong,
  NdisRawReadPortUshort,
  NdisRawWritePortUchar,
  NdisRawWritePortUlong,
  NdisRawWritePortUshort,
} from './ndis/api/ioports.ts';
export {
  type GROUP_AFFINITY,
  IoAllocateWorkItem,
  IoFreeWorkItem,
  IoQueueWorkItem,
  IoQueueWorkItemEx,
  NDIS_LOWER_IRQL,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NdisAcquireSpinLock,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeIoWorkItem,
  NdisFreeMemory,
  NdisFreeMemoryWithTagPriority,
  NdisFreeSpinLock,
  NdisFreeTimerObject,
  NdisGetCurrentSystemTime,
  NdisGetSystemUpTimeEx,
  NdisInitializeListHead,
  NdisInterlockedInsertHeadList,
  NdisInterlockedInsertTailList,
  NdisInterlockedRemoveHeadList,
  NdisMDeregisterInterruptEx,
  NdisMQueueDpc,
  NdisMQueueDpcEx,
  NdisMRegisterInterruptEx,
  NdisMSleep,
  NdisMSynchronizeWithInterruptEx,
  NdisQueueIoWorkItem,
  NdisReleaseSpinLock,
  NdisSetCoalescableTimerObject,
  NdisSetTimerObject,
  NdisStallExecution,
} from './ndis/api/kernel.ts';
export {
  type ALLOCATE_FUNCTION,
  type FREE_FUNCTION,
  NdisAllocateFromNPagedLookasideList,
  NdisDeleteNPagedLookasideList,
  NdisFreeToNPagedLookasideList,
  NdisInitializeNPagedLookasideList,
  NPAGED_LOOKASIDE_LIST,
} from './ndis/api/lookaside.ts';
export {
  MmGetMdlByteCount,
  MmGetSystemAddressForMdlSafe,
  NdisAdvanceNetBufferDataStart,
  NdisAdvanceNetBufferListDataStart,
  NdisAllocateMdl,
  NdisAllocateNetBuffer,
  NdisAllocateNetBufferList,
  NdisAllocateNetBufferMdlAndData,
  NdisAllocateNetBufferPool,
  NdisCopyFromNetBufferToNetBuffer,
  NdisFreeMdl,
  NdisFreeNetBuffer,
  NdisFreeNetBufferPool,
  NdisGetDataBuffer,
  NdisRetreatNetBufferDataStart,
  NdisRetreatNetBufferListDataStart,
  type NET_BUFFER_ALLOCATE_MDL,
  type NET_BUFFER_FREE_MDL,
  type NET_BUFFER_POOL_PARAMETERS,
} from './ndis/api/nblapi.ts';
export {
  NdisAllocateNetBufferListContext,
  NdisFreeNetBufferListContext,
  NET_BUFFER_LIST_CONTEXT_DATA_SIZE,
  NET_BUFFER_LIST_CONTEXT_DATA_START,
} from './ndis/api/nblcontext.ts';
export {
  type NDIS_POLL,
  type NDIS_POLL_CHARACTERISTICS,
  type NDIS_POLL_DATA,
  type NDIS_POLL_NOTIFICATION,
  type NDIS_POLL_RECEIVE_DATA,
  type NDIS_POLL_TRANSMIT_DATA,
  type NDIS_SET_POLL_NOTIFICATION,
  NdisDeregisterPoll,
  NdisRegisterPoll,
  NdisRequestPoll,
  NdisSetPollAffinity,
  type PROCESSOR_NUMBER,
} from './ndis/api/poll.ts';
export {
  type NDIS_PORT,
  type NDIS_PORT_ARRAY,
  type NDIS_PORT_CHARACTERISTICS,
  NdisMAllocatePort,
  NdisMFreePort,
  NdisMNetPnPEvent,
} from './ndis/api/ports.ts';
export {
  ALL_PROCESSOR_GROUPS,
  APC_LEVEL,
  DISPATCH_LEVEL,
  HIGH_LEVEL,
  NDIS_CURRENT_IRQL,
  NdisActiveGroupCount,
  NdisCurrentProcessorIndex,
  NdisGetVersion,
  NdisGroupActiveProcessorCount,
  NdisGroupActiveProcessorMask,
  NdisGroupMaxProcessorCount,
  NdisMaxGroupCount,
  PASSIVE_LEVEL,
} from './ndis/api/processor.ts';
export {
  NdisCancelDirectOidRequest,
  NdisCancelOidRequest,
  NdisCancelSendNetBufferLists,
  NdisCloseAdapterEx,
  NdisCompleteBindAdapterEx,
  NdisCompleteNetPnPEvent,
  NdisCompleteUnbindAdapterEx,
  NdisDeregisterProtocolDriver,
  NdisDirectOidRequest,
  NdisGeneratePartialCancelId,
  NdisOidRequest,
  NdisOpenAdapterEx,
  NdisReEnumerateProtocolBindings,
  NdisRegisterProtocolDriver,
  NdisReturnNetBufferLists,
  NdisSendNetBufferLists,
  NdisSynchronousOidRequest,
  NdisUnbindAdapter,
} from './ndis/api/protocol.ts';
export {
  LOCK_STATE_EX,
  NDIS_RW_LOCK_EX,
  NdisAcquireRWLockRead,
  NdisAcquireRWLockWrite,
  NdisAllocateRWLock,
  NdisFreeRWLock,
  NdisReleaseRWLock,
} from './ndis/api/rwlock.ts';
export { NdisMIdleNotificationComplete, NdisMIdleNotificationConfirm } from './ndis/api/ss.ts';
export type { BindingState } from './ndis/binding.ts';
export type { DataStats } from './ndis/datapath.ts';
export type { IoRequestKind, IoResult } from './ndis/device.ts';
export type { DriverImage, DriverModule } from './ndis/driver.ts';
export type {
  FILTER_ATTACH,
  FILTER_CANCEL_OID_REQUEST,
  FILTER_CANCEL_SEND_NET_BUFFER_LISTS,
  FILTER_DETACH,
  FILTER_DEVICE_PNP_EVENT_NOTIFY,
  FILTER_NET_PNP_EVENT,
  FILTER_OID_REQUEST,
  FILTER_OID_REQUEST_COMPLETE,
  FILTER_PAUSE,
  FILTER_RECEIVE_NET_BUFFER_LISTS,
  FILTER_RESTART,
  FILTER_RETURN_NET_BUFFER_LISTS,
  FILTER_SEND_NET_BUFFER_LISTS,
  FILTER_SEND_NET_BUFFER_LISTS_COMPLETE,
  FILTER_SET_MODULE_OPTIONS,
  FILTER_SET_OPTIONS,
  FILTER_STATUS,
  FILTER_SYNCHRONOUS_OID_REQUEST,
  FILTER_SYNCHRONOUS_OID_REQUEST_COMPLETE,
  FilterState,
  NDIS_FILTER_ATTACH_PARAMETERS,
  NDIS_FILTER_ATTRIBUTES,
  NDIS_FILTER_DRIVER_CHARACTERISTICS,
  NDIS_FILTER_PARTIAL_CHARACTERISTICS,
  NDIS_FILTER_PAUSE_PARAMETERS,
  NDIS_FILTER_RESTART_PARAMETERS,
  NET_PNP_EVENT,
  NET_PNP_EVENT_NOTIFICATION,
} from './ndis/filter.ts';
// Constants generated from Microsoft's documentation (data/*.json).
export * from './ndis/generated/status.ts';
export {
  CTL_CODE,
  NDIS_GET_NET_BUFFER_LIST_CANCEL_ID,
  NDIS_SET_NET_BUFFER_LIST_CANCEL_ID,
  NDIS_TEST_RECEIVE_AT_DISPATCH_LEVEL,
  NDIS_TEST_RECEIVE_CAN_PEND,
  NDIS_TEST_RECEIVE_CANNOT_PEND,
  NDIS_TEST_RETURN_AT_DISPATCH_LEVEL,
  NDIS_TEST_SEND_AT_DISPATCH_LEVEL,
  NDIS_TEST_SEND_COMPLETE_AT_DISPATCH_LEVEL,
  NET_BUFFER_DATA_LENGTH,
  NET_BUFFER_LIST_FIRST_NB,
  NET_BUFFER_LIST_NEXT_NBL,
  NET_BUFFER_NEXT_NB,
  NT_SUCCESS,
} from './ndis/macros.ts';
export type { NET_BUFFER, NET_BUFFER_LIST, NET_BUFFER_LIST_CONTEXT } from './ndis/nbl.ts';
export type { EventLogEntry, LiveDump, NdisOptions } from './ndis/ndis.ts';
export {
  IoRegister,
  LIST_ENTRY,
  NDIS_IO_SPACE,
  NDIS_SPIN_LOCK,
  type NdisGenericObject as NDIS_GENERIC_OBJECT,
} from './ndis/objects.ts';
export { oidRequestData } from './ndis/oid.ts';
export type { SystemSleepState } from './ndis/power.ts';
export type {
  NDIS_BIND_PARAMETERS,
  NDIS_OPEN_PARAMETERS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_RESTART_PARAMETERS,
  PROTOCOL_BIND_ADAPTER_EX,
  PROTOCOL_CLOSE_ADAPTER_COMPLETE_EX,
  PROTOCOL_NET_PNP_EVENT,
  PROTOCOL_OID_REQUEST_COMPLETE,
  PROTOCOL_OPEN_ADAPTER_COMPLETE_EX,
  PROTOCOL_RECEIVE_NET_BUFFER_LISTS,
  PROTOCOL_SEND_NET_BUFFER_LISTS_COMPLETE,
  PROTOCOL_SET_OPTIONS,
  PROTOCOL_STATUS_EX,
  PROTOCOL_UNBIND_ADAPTER_EX,
  PROTOCOL_UNINSTALL,
} from './ndis/protocol-driver.ts';
export type { ResumableDispatch, ResumableRoutine } from './ndis/resumable.ts';
export type { AdapterState } from './ndis/states.ts';
export * from './ndis/types.ts';
// An NDIS_PM_WOL_PATTERN to add (OID_PM_ADD_WOL_PATTERN), with its InformationBufferLength.
export {
  bitmapWolPattern,
  eapolRequestIdWolPattern,
  ipv4TcpSynWolPattern,
  ipv6TcpSynWolPattern,
  magicPacketWolPattern,
} from './ndis/wol.ts';
export type { DeviceNode, DeviceStatus } from './pnp/pnp.ts';
export type { ChoiceSite, Decision, Strategy } from './sim/choice.ts';
export { ns } from './sim/limits.ts';
export type { ProtocolView, SimProtocol } from './stack/protocol.ts';
export { type TrafficInput, type TrafficOptions, trafficDefaults } from './stack/protocol.ts';
export type { Trace, TraceEvent, TraceKind } from './trace/trace.ts';
export type { BugCheckParam } from './verifier/bugcheck.ts';
export type { VerifierMode, Violation, ViolationOrigin, Warning } from './verifier/verifier.ts';
// Running a machine.
export {
  type AdapterSummary,
  type DeviceSpec,
  type DeviceSummary,
  type FilterSummary,
  type HaltActionName,
  type Hang,
  type InjectedEvent,
  type InjectSpec,
  type ProtocolDriverSummary,
  type ProtocolInput,
  type RunResult,
  type Summary,
  type Verdict,
  type WolPatternSpec,
  World,
  type WorldAction,
  type WorldOptions,
} from './world.ts';
