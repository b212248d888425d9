// Your own driver on the command line (examples/own-driver.yaml names this module
// under driverModules:, so the run loads it):
//   ndis-sim run examples/own-driver.yaml
// A scenario that does not name it loads it with --driver; this lists what it exports:
//   ndis-sim drivers --driver examples/own-driver.ts
// The module exports a DriverModule: a name that scenarios use, and load(), which
// hands NDIS the driver image (its DriverEntry). It imports only the public API.
import * as N from 'ndis-sim';

interface Adapter {
  handle: N.NDIS_HANDLE;
  pauseTimer: N.NDIS_HANDLE;
  ticks: number;
  /** The SurpriseRemoved notification came: the hardware is gone (R5.7). */
  gone: boolean;
}

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS;
const none = (): void => {};

function initialize(handle: N.NDIS_HANDLE): N.NDIS_STATUS {
  const a: Adapter = { handle, pauseTimer: handle, ticks: 0, gone: false };
  const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
  N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: a });
  const gen = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, Revision: 2 };
  // What an 802.3 adapter must fill in (R2.4): NDIS answers the OIDs from these members.
  const s = N.NdisMSetMiniportAttributes(handle, {
    Header: gen,
    MediaType: N.NdisMedium802_3,
    MtuSize: 1500,
    MaxXmitLinkSpeed: 1e9,
    MaxRcvLinkSpeed: 1e9,
    XmitLinkSpeed: 1e9,
    RcvLinkSpeed: 1e9,
    MacAddressLength: 6,
    PermanentMacAddress: [0x02, 0, 0, 0, 0, 0x42],
    CurrentMacAddress: [0x02, 0, 0, 0, 0, 0x42],
    SupportedPacketFilters:
      N.NDIS_PACKET_TYPE_DIRECTED | N.NDIS_PACKET_TYPE_MULTICAST | N.NDIS_PACKET_TYPE_BROADCAST,
  });
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  // The receive DMA takes a while to drain: a pause pends until this timer completes it.
  const t = N.NdisAllocateTimerObject(handle, {
    Header: { Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: 1 },
    AllocationTag: 0x6e776f20, // ' own'
    TimerFunction: (_s, adapter) => N.NdisMPauseComplete(adapter.handle),
    FunctionContext: a,
  });
  if (t.Status !== N.NDIS_STATUS_SUCCESS) return t.Status;
  a.pauseTimer = t.TimerObject!;
  return N.NDIS_STATUS_SUCCESS;
}

function DriverEntry(driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS {
  // <Adapter>: NDIS passes each handler the context set in the registration attributes.
  const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    InitializeHandlerEx: initialize,
    PauseHandler(a) {
      N.NdisSetTimerObject(a.pauseTimer, -5_000_000, 0, null); // 500 ms
      return N.NDIS_STATUS_PENDING;
    },
    // The adapter fails its self-test at the second check-for-hang tick (4 s): give up.
    CheckForHangHandlerEx(a) {
      if (++a.ticks === 2) N.NdisMRemoveMiniport(a.handle);
      return false;
    },
    HaltHandlerEx: (a) => N.NdisFreeTimerObject(a.pauseTimer),
    // After the SurpriseRemoved notification a request fails at once with NOT_ACCEPTED
    // (R5.7). The set of the packet filter is mandatory (R6.1); this NIC takes any.
    OidRequestHandler(a, req) {
      if (a.gone) return N.NDIS_STATUS_NOT_ACCEPTED;
      if (req.RequestType !== N.NdisRequestSetInformation || req.DATA.Oid !== N.OID_GEN_CURRENT_PACKET_FILTER)
        return N.NDIS_STATUS_NOT_SUPPORTED;
      req.DATA.SET_INFORMATION.BytesRead = 4;
      return ok();
    },
    RestartHandler: ok,
    ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
    SendNetBufferListsHandler: none,
    ReturnNetBufferListsHandler: none,
    CancelSendHandler: none,
    CancelOidRequestHandler: none,
    ShutdownHandlerEx: none,
    DevicePnPEventNotifyHandler(a, e) {
      if (e.DevicePnPEvent === N.NdisDevicePnPEventSurpriseRemoved) a.gone = true;
    },
    UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
  });
  return r.Status;
}

export const slowPauseNic: N.DriverModule = {
  name: 'slow-pause-nic',
  description: 'pends MiniportPause for 500 ms; gives up on its adapter at 4 s',
  load: () => ({ DriverEntry }),
};
