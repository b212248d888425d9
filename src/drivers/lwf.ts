// monitor-lwf: a monitoring lightweight filter, written only against ndis-sim's public
// API. It keeps a record per module, passes every PnP event on unchanged, and is
// bypassed on the data and request paths (it registers no handlers for them).

import {
  type DRIVER_OBJECT,
  type DriverModule,
  type NDIS_FILTER_ATTACH_PARAMETERS,
  NDIS_FILTER_ATTRIBUTES_REVISION_1,
  NDIS_FILTER_CHARACTERISTICS_REVISION_2,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES,
  NDIS_OBJECT_TYPE_FILTER_DRIVER_CHARACTERISTICS,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisFDeregisterFilterDriver,
  NdisFDevicePnPEventNotify,
  NdisFIndicateReceiveNetBufferLists,
  NdisFNetPnPEvent,
  NdisFRegisterFilterDriver,
  NdisFReturnNetBufferLists,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisFSetAttributes,
  type NET_BUFFER_LIST,
  type NET_DEVICE_PNP_EVENT,
  type NET_PNP_EVENT_NOTIFICATION,
} from '../index.ts';

/** The driver's global state: its NdisFilterDriverHandle once registered. */
export interface LwfDriver {
  handle: NDIS_HANDLE | null;
}

/** What the filter keeps per module (its FilterModuleContext). */
export interface LwfModule {
  readonly handle: NDIS_HANDLE;
  readonly miniport: string;
  readonly lowerIfIndex: number;
  running: boolean;
  netEvents: number;
  deviceEvents: number;
  /** Frames (NET_BUFFERs) counting-lwf passed down and up. */
  framesSent: number;
  framesReceived: number;
}

export const monitorLwf: DriverModule = variantOfMonitorLwf(
  'monitor-lwf',
  'a monitoring lightweight filter (NDIS 6.30): passes PnP events on, bypassed for data and OIDs',
);

/** Frames (NET_BUFFERs) in a chain of NBLs. */
function frames(first: NET_BUFFER_LIST | null): number {
  let k = 0;
  for (let x = first; x !== null; x = x.Next) for (let nb = x.FirstNetBuffer; nb !== null; nb = nb.Next) k++;
  return k;
}

/**
 * counting-lwf: monitor-lwf with the four data handlers. It passes every send down and
 * every receive up unchanged and counts their frames; sends that come while it is not
 * running (Pausing, nc-ndis-filter_pause) it completes at once with NDIS_STATUS_PAUSED.
 */
export const countingLwf: DriverModule = variantOfMonitorLwf(
  'counting-lwf',
  'a pass-through lightweight filter (NDIS 6.30) that counts the frames it passes both ways',
  (c) => {
    c.SendNetBufferListsHandler = (m, NetBufferList, PortNumber, SendFlags) => {
      if (!m.running) {
        for (let x: NET_BUFFER_LIST | null = NetBufferList; x !== null; x = x.Next)
          x.Status = NDIS_STATUS_PAUSED;
        NdisFSendNetBufferListsComplete(
          m.handle,
          NetBufferList,
          SendFlags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
        );
        return;
      }
      m.framesSent += frames(NetBufferList);
      NdisFSendNetBufferLists(m.handle, NetBufferList, PortNumber, SendFlags);
    };
    c.SendNetBufferListsCompleteHandler = (m, NetBufferList, SendCompleteFlags) => {
      NdisFSendNetBufferListsComplete(m.handle, NetBufferList, SendCompleteFlags);
    };
    c.ReceiveNetBufferListsHandler = (
      m,
      NetBufferLists,
      PortNumber,
      NumberOfNetBufferLists,
      ReceiveFlags,
    ) => {
      m.framesReceived += frames(NetBufferLists);
      NdisFIndicateReceiveNetBufferLists(
        m.handle,
        NetBufferLists,
        PortNumber,
        NumberOfNetBufferLists,
        ReceiveFlags,
      );
    };
    c.ReturnNetBufferListsHandler = (m, NetBufferLists, ReturnFlags) => {
      NdisFReturnNetBufferLists(m.handle, NetBufferLists, ReturnFlags);
    };
  },
);

/**
 * monitor-lwf under another name with some handlers changed: the base of the gallery's
 * buggy filter drivers. `edit` gets the characteristics before registration.
 */
export function variantOfMonitorLwf(
  name: string,
  description: string,
  edit?: (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>, driver: LwfDriver) => void,
): DriverModule {
  return {
    name,
    description,
    load() {
      const driver: LwfDriver = { handle: null };
      const chars: NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null> = {
        Header: {
          Type: NDIS_OBJECT_TYPE_FILTER_DRIVER_CHARACTERISTICS,
          Revision: NDIS_FILTER_CHARACTERISTICS_REVISION_2,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: 30,
        MajorDriverVersion: 1,
        MinorDriverVersion: 0,
        Flags: 0,
        FriendlyName: 'ndis-sim monitoring filter',
        UniqueName: '{5b3f7a0e-2c1d-4e8f-9a6b-0d4c3e2f1a90}',
        ServiceName: name,
        AttachHandler(NdisFilterHandle: NDIS_HANDLE, _ctx: null, p: NDIS_FILTER_ATTACH_PARAMETERS) {
          const m: LwfModule = {
            handle: NdisFilterHandle,
            miniport: p.BaseMiniportInstanceName,
            lowerIfIndex: p.LowerIfIndex,
            running: false,
            netEvents: 0,
            deviceEvents: 0,
            framesSent: 0,
            framesReceived: 0,
          };
          const s = NdisFSetAttributes(NdisFilterHandle, m, {
            Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 },
            Flags: 0,
          });
          return s === NDIS_STATUS_SUCCESS ? NDIS_STATUS_SUCCESS : NDIS_STATUS_RESOURCES;
        },
        DetachHandler(_m: LwfModule) {},
        RestartHandler(m: LwfModule) {
          m.running = true;
          return NDIS_STATUS_SUCCESS;
        },
        PauseHandler(m: LwfModule) {
          // Nothing of its own is in flight: it originates no sends or receives.
          m.running = false;
          return NDIS_STATUS_SUCCESS;
        },
        NetPnPEventHandler(m: LwfModule, e: NET_PNP_EVENT_NOTIFICATION) {
          m.netEvents++;
          return NdisFNetPnPEvent(m.handle, e);
        },
        DevicePnPEventNotifyHandler(m: LwfModule, e: NET_DEVICE_PNP_EVENT) {
          m.deviceEvents++;
          NdisFDevicePnPEventNotify(m.handle, e);
        },
      };
      edit?.(chars, driver);
      return {
        DriverEntry(DriverObject: DRIVER_OBJECT) {
          const r = NdisFRegisterFilterDriver(DriverObject, null, chars);
          if (r.Status !== NDIS_STATUS_SUCCESS) return r.Status;
          driver.handle = r.NdisFilterDriverHandle;
          DriverObject.DriverUnload = () => {
            if (driver.handle !== null) NdisFDeregisterFilterDriver(driver.handle);
          };
          return NDIS_STATUS_SUCCESS;
        },
      };
    },
  };
}
