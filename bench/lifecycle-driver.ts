// The miniport the lifecycle benchmark runs: it comes up, and once the stack is
// running (first check-for-hang tick is too slow; a 1 ms timer set in
// MiniportRestart) it calls NdisMRemoveMiniport. Public API only.

import {
  type DRIVER_OBJECT,
  type DriverModule,
  MediaConnectStateConnected,
  MediaDuplexStateFull,
  type NDIS_HANDLE,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_PACKET_TYPE_BROADCAST,
  NDIS_PACKET_TYPE_DIRECTED,
  NDIS_PACKET_TYPE_MULTICAST,
  type NDIS_STATUS,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateTimerObject,
  NdisDevicePnPEventSurpriseRemoved,
  NdisFreeTimerObject,
  NdisInterfacePci,
  NdisMDeregisterMiniportDriver,
  NdisMedium802_3,
  NdisMRegisterMiniportDriver,
  NdisMRemoveMiniport,
  NdisMSetMiniportAttributes,
  NdisRequestSetInformation,
  NdisSetTimerObject,
  OID_GEN_CURRENT_PACKET_FILTER,
} from '../src/index.ts';

interface Adapter {
  handle: NDIS_HANDLE;
  timer: NDIS_HANDLE | null;
  /** The SurpriseRemoved notification came: requests are refused (R5.7). */
  removed: boolean;
}

const mac = [2, 0, 0, 0, 0, 1];

function initialize(handle: NDIS_HANDLE): NDIS_STATUS {
  const a: Adapter = { handle, timer: null, removed: false };
  NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
    },
    MiniportAdapterContext: a,
    AttributeFlags: 0,
    CheckForHangTimeInSeconds: 0,
    InterfaceType: NdisInterfacePci,
  });
  NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    },
    MediaType: NdisMedium802_3,
    MtuSize: 1500,
    MaxXmitLinkSpeed: 1e9,
    MaxRcvLinkSpeed: 1e9,
    XmitLinkSpeed: 1e9,
    RcvLinkSpeed: 1e9,
    MediaConnectState: MediaConnectStateConnected,
    MediaDuplexState: MediaDuplexStateFull,
    LookaheadSize: 1500,
    MacAddressLength: 6,
    PermanentMacAddress: mac,
    CurrentMacAddress: mac,
    SupportedPacketFilters:
      NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_MULTICAST | NDIS_PACKET_TYPE_BROADCAST,
  });
  const t = NdisAllocateTimerObject(handle, {
    Header: { Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
    AllocationTag: 0,
    TimerFunction: (_s, ctx) => NdisMRemoveMiniport((ctx as Adapter).handle),
    FunctionContext: a,
  });
  a.timer = t.TimerObject;
  return NDIS_STATUS_SUCCESS;
}

function DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: string): NDIS_STATUS {
  let handle: NDIS_HANDLE | null = null;
  const r = NdisMRegisterMiniportDriver(DriverObject, RegistryPath, null, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
      Revision: NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
    },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    InitializeHandlerEx: initialize,
    HaltHandlerEx: (ctx) => {
      const a = ctx as Adapter;
      if (a.timer !== null) NdisFreeTimerObject(a.timer);
    },
    UnloadHandler: () => {
      if (handle !== null) NdisMDeregisterMiniportDriver(handle);
    },
    PauseHandler: () => NDIS_STATUS_SUCCESS,
    RestartHandler: (ctx) => {
      const a = ctx as Adapter;
      if (a.timer !== null) NdisSetTimerObject(a.timer, -10_000, 0, a);
      return NDIS_STATUS_SUCCESS;
    },
    OidRequestHandler: (ctx, req) => {
      if ((ctx as Adapter).removed) return NDIS_STATUS_NOT_ACCEPTED;
      // R6.1: the set of the packet filter is mandatory.
      if (req.RequestType !== NdisRequestSetInformation || req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER)
        return NDIS_STATUS_NOT_SUPPORTED;
      req.DATA.SET_INFORMATION.BytesRead = 4;
      return NDIS_STATUS_SUCCESS;
    },
    SendNetBufferListsHandler: () => {},
    ReturnNetBufferListsHandler: () => {},
    CancelSendHandler: () => {},
    DevicePnPEventNotifyHandler: (ctx, ev) => {
      if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved) (ctx as Adapter).removed = true;
    },
    ShutdownHandlerEx: () => {},
    CancelOidRequestHandler: () => {},
  });
  handle = r.NdisMiniportDriverHandle;
  return r.Status;
}

export const lifecycleNic: DriverModule = {
  name: 'lifecycle-nic',
  description: 'comes up, then removes itself 1 ms after restart',
  load: () => ({ DriverEntry }),
};
