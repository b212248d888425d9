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
  type NDIS_OID_REQUEST,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  type NDIS_STATUS,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisAllocateCloneOidRequest,
  NdisFCancelDirectOidRequest,
  NdisFCancelOidRequest,
  NdisFDeregisterFilterDriver,
  NdisFDevicePnPEventNotify,
  NdisFDirectOidRequest,
  NdisFDirectOidRequestComplete,
  NdisFIndicateReceiveNetBufferLists,
  NdisFIndicateStatus,
  NdisFNetPnPEvent,
  NdisFOidRequest,
  NdisFOidRequestComplete,
  NdisFRegisterFilterDriver,
  NdisFReturnNetBufferLists,
  NdisFreeCloneOidRequest,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisFSetAttributes,
  type NET_BUFFER_LIST,
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
 * Installs a FilterStatus that passes every status indication on unchanged
 * (NdisFIndicateStatus): the least a filter that filters receives provides, since the
 * FilterReceiveNetBufferLists and FilterReturnNetBufferLists pages require FilterStatus
 * of it. For a filter that issues no OID requests of its own (an answer to one would
 * name the module itself; withOidForwarding handles those).
 */
export function withStatusPassedOn(c: NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>): void {
  c.StatusHandler = (m: LwfModule, indication) => NdisFIndicateStatus(m.handle, indication);
}

/**
 * counting-lwf: monitor-lwf with the four data handlers (and FilterStatus, which a
 * receive filter must have). It passes every send down, every receive and status
 * indication up unchanged and counts the frames; sends that come while it is not
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
    withStatusPassedOn(c);
  },
);

/**
 * The filter's UniqueName, a GUID in braces: its INF's NetCfgInstanceId, one per filter
 * driver (NDIS_FILTER_DRIVER_CHARACTERISTICS). Made from the driver's name (FNV-1a), so
 * that each variant has its own and every run the same.
 */
function uniqueNameOf(name: string): string {
  const words: string[] = [];
  for (let k = 0; k < 4; k++) {
    let h = 0x811c9dc5 ^ k;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    words.push((h >>> 0).toString(16).padStart(8, '0'));
  }
  const hex = words.join('');
  return `{${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}}`;
}

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
        FriendlyName: `ndis-sim ${name}`,
        UniqueName: uniqueNameOf(name),
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
          DriverObject.DriverUnload = () => driver.unload();
          return NDIS_STATUS_SUCCESS;
        },
      };
    },
  };
}

/** Pool tag of oid-logging-lwf's clones ('Lwfo' as a little-endian ULONG). */
const cloneTag = 0x6f66774c;

/** How a filter forwards one kind of request: down with `send`, back up with `complete`. */
interface RequestPath {
  send(handle: NDIS_HANDLE, clone: NDIS_OID_REQUEST): NDIS_STATUS;
  complete(handle: NDIS_HANDLE, original: NDIS_OID_REQUEST, status: NDIS_STATUS): void;
  /** Also copies the revision the driver below supports (regular requests). */
  revision: boolean;
}

/**
 * The pair of handlers that forward requests by clone, as ndislwf does for regular and
 * direct requests alike: the request handler clones (NdisAllocateCloneOidRequest),
 * sends the clone down and returns what that returns (for a final status it copies the
 * answer back and frees the clone first); the completion handler copies back, frees the
 * clone and completes the original. `originals` maps each clone under way to its request.
 */
function cloneForwarding(
  path: RequestPath,
  originals: Map<NDIS_OID_REQUEST, NDIS_OID_REQUEST>,
  log?: (m: LwfModule, request: NDIS_OID_REQUEST) => void,
): {
  request: (m: LwfModule, request: NDIS_OID_REQUEST) => NDIS_STATUS;
  completed: (m: LwfModule, clone: NDIS_OID_REQUEST, status: NDIS_STATUS) => void;
} {
  const copyBack = (clone: NDIS_OID_REQUEST, original: NDIS_OID_REQUEST): void => {
    const from = clone.DATA.QUERY_INFORMATION;
    const to = original.DATA.QUERY_INFORMATION;
    to.InformationBuffer = from.InformationBuffer;
    to.BytesWritten = from.BytesWritten;
    to.BytesNeeded = from.BytesNeeded;
    if (path.revision) original.SupportedRevision = clone.SupportedRevision;
  };
  return {
    request(m, request) {
      log?.(m, request);
      const r = NdisAllocateCloneOidRequest(m.handle, request, cloneTag);
      if (r.Status !== NDIS_STATUS_SUCCESS || r.ClonedOidRequest === null) return NDIS_STATUS_RESOURCES;
      const clone = r.ClonedOidRequest;
      originals.set(clone, request);
      const s = path.send(m.handle, clone);
      if (s !== NDIS_STATUS_PENDING) {
        // Done already (NDIS answered it, or the adapter cannot take requests).
        copyBack(clone, request);
        originals.delete(clone);
        NdisFreeCloneOidRequest(m.handle, clone);
      }
      return s;
    },
    completed(m, clone, status) {
      const original = originals.get(clone);
      if (original === undefined) return;
      originals.delete(clone);
      copyBack(clone, original);
      NdisFreeCloneOidRequest(m.handle, clone);
      path.complete(m.handle, original, status);
    },
  };
}

/**
 * Installs the OID and status handlers of a filter that passes everything on: each
 * request NDIS hands FilterOidRequest is cloned and the clone forwarded with
 * NdisFOidRequest; when the clone completes, its results are copied back, the clone
 * freed and the original completed (NdisFOidRequestComplete). Cancels and status
 * indications are passed on unchanged. `log`, if given, sees every OID.
 */
export function withOidForwarding(
  c: NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>,
  log?: (m: LwfModule, request: NDIS_OID_REQUEST) => void,
): void {
  /** Clone → the request it was made from, per driver (clones are unique objects). */
  const originals = new Map<NDIS_OID_REQUEST, NDIS_OID_REQUEST>();
  const path = { send: NdisFOidRequest, complete: NdisFOidRequestComplete, revision: true };
  const f = cloneForwarding(path, originals, log);
  c.OidRequestHandler = f.request;
  c.OidRequestCompleteHandler = f.completed;
  c.CancelOidRequestHandler = (m: LwfModule, RequestId: unknown) =>
    NdisFCancelOidRequest(m.handle, RequestId);
  c.StatusHandler = (m: LwfModule, indication) => {
    if (indication.DestinationHandle === null) {
      NdisFIndicateStatus(m.handle, indication);
      return;
    }
    // An answer to one of its clones (R6.16): it goes on to whoever sent the original.
    // The map holds the clones of every module of the driver: only this module's, those
    // NDIS gave its own RequestHandle (the indication's DestinationHandle), can match,
    // and only by a RequestId: a NULL one names no request, so it matches none.
    const id = indication.RequestId;
    if (id === null || id === undefined) return;
    for (const [clone, original] of originals) {
      if (clone.RequestHandle !== indication.DestinationHandle || clone.RequestId !== id) continue;
      if (original.RequestHandle === null) return;
      NdisFIndicateStatus(m.handle, { ...indication, DestinationHandle: original.RequestHandle });
      return;
    }
  };
}

/**
 * Direct OID requests (NDIS 6.1) as ndislwf passes them: FilterDirectOidRequest forwards
 * a clone with NdisFDirectOidRequest, FilterDirectOidRequestComplete completes the
 * original (both as `cloneForwarding` does), and FilterCancelDirectOidRequest passes the
 * cancel down.
 */
export function withDirectOidForwarding(c: NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>): void {
  const path = { send: NdisFDirectOidRequest, complete: NdisFDirectOidRequestComplete, revision: false };
  const f = cloneForwarding(path, new Map());
  c.DirectOidRequestHandler = f.request;
  c.DirectOidRequestCompleteHandler = f.completed;
  c.CancelDirectOidRequestHandler = (m: LwfModule, RequestId: unknown) =>
    NdisFCancelDirectOidRequest(m.handle, RequestId);
}

/** oid-logging-lwf: monitor-lwf that also sees every OID request and status indication, and passes them on. */
export const oidLoggingLwf: DriverModule = variantOfMonitorLwf(
  'oid-logging-lwf',
  'a filter that forwards clones of OID requests and passes status indications on (NDIS 6.30)',
  (c) => withOidForwarding(c),
);
