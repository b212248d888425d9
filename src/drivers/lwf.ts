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
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisFDeregisterFilterDriver,
  NdisFDevicePnPEventNotify,
  NdisFNetPnPEvent,
  NdisFRegisterFilterDriver,
  NdisFSetAttributes,
  type NET_DEVICE_PNP_EVENT,
  type NET_PNP_EVENT_NOTIFICATION,
} from '../index.ts';

/** The driver's global state: its NdisFilterDriverHandle once registered, and its unload routine's body. */
export interface LwfDriver {
  handle: NDIS_HANDLE | null;
  /** What FilterDriverUnload does: NdisFDeregisterFilterDriver. */
  unload: () => void;
}

/** What the filter keeps per module (its FilterModuleContext). */
export interface LwfModule {
  readonly handle: NDIS_HANDLE;
  readonly miniport: string;
  readonly lowerIfIndex: number;
  running: boolean;
  netEvents: number;
  deviceEvents: number;
}

export const monitorLwf: DriverModule = variantOfMonitorLwf(
  'monitor-lwf',
  'a monitoring lightweight filter (NDIS 6.30): passes PnP events on, bypassed for data and OIDs',
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
      const driver: LwfDriver = {
        handle: null,
        unload() {
          if (driver.handle !== null) NdisFDeregisterFilterDriver(driver.handle);
        },
      };
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
          DriverObject.DriverUnload = () => driver.unload();
          return NDIS_STATUS_SUCCESS;
        },
      };
    },
  };
}
