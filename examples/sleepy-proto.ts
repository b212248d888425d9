// A protocol driver that pends NetEventSetPower until its sends have come back:
//   ndis-sim run examples/sleepy-proto.yaml
// It echoes every frame it receives, as echo-proto does. When the adapter is about to
// leave D0 (NetEventSetPower with a low-power state) it stops sending at once, as the
// protocol power page asks from NDIS 6.30, and, rather than wait inside the handler,
// returns NDIS_STATUS_PENDING; the last send completion (at DISPATCH) queues a work
// item, and the work item (at PASSIVE) calls NdisCompleteNetPnPEvent. A protocol driver
// has no NDIS I/O work items (NdisAllocateIoWorkItem takes no NdisProtocolHandle): it
// uses the WDM ones, allocated with the DRIVER_OBJECT its DriverEntry got. A pause is
// handled the same way. It imports only the public API.
import * as N from 'ndis-sim';

interface Bound {
  handle: N.NDIS_HANDLE | null;
  bindContext: N.NDIS_HANDLE;
  unbindContext: N.NDIS_HANDLE | null;
  /** Between NetEventRestart and NetEventPause. */
  running: boolean;
  /** From NetEventSetPower(D1-D3) to NetEventSetPower(D0): no new sends. */
  lowPower: boolean;
  /** Echoes handed to NDIS and not back yet. */
  sendsOut: number;
  /** The pause or set-power it pended until sendsOut reaches 0. */
  waiting: N.NET_PNP_EVENT_NOTIFICATION | null;
  /** Completes `waiting` at PASSIVE (NdisCompleteNetPnPEvent is PASSIVE only). */
  workItem: N.IO_WORKITEM | null;
  readonly oidDone: N.NDIS_EVENT;
  oidStatus: number;
}

interface Driver {
  /** What DriverEntry got: the work items' IoObject. */
  object: N.DRIVER_OBJECT | null;
  handle: N.NDIS_HANDLE | null;
  pool: N.NDIS_HANDLE | null;
}

function setPacketFilter(b: Bound, filter: number): number {
  const req: N.NDIS_OID_REQUEST = {
    Header: { Type: N.NDIS_OBJECT_TYPE_OID_REQUEST, Revision: N.NDIS_OID_REQUEST_REVISION_1 },
    RequestType: N.NdisRequestSetInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: null,
    RequestHandle: null,
    DATA: N.oidRequestData(N.OID_GEN_CURRENT_PACKET_FILTER, filter, 4),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
  N.NdisResetEvent(b.oidDone);
  const s = N.NdisOidRequest(b.handle!, req);
  if (s !== N.NDIS_STATUS_PENDING) return s;
  N.NdisWaitEvent(b.oidDone, 0);
  return b.oidStatus;
}

/** The work item: the sends are back, so the pended event completes (PASSIVE). */
const completeWaiting: N.IO_WORKITEM_ROUTINE_EX<Bound> = (_obj, b) => {
  const note = b.waiting;
  if (note === null) return;
  b.waiting = null;
  N.NdisCompleteNetPnPEvent(b.handle!, note, N.NDIS_STATUS_SUCCESS);
};

/** SUCCESS when nothing is out; else PENDING, completed once the last send is back. */
function whenDrained(b: Bound, note: N.NET_PNP_EVENT_NOTIFICATION): N.NDIS_STATUS {
  if (b.sendsOut === 0) return N.NDIS_STATUS_SUCCESS;
  b.waiting = note;
  return N.NDIS_STATUS_PENDING;
}

export const sleepyProto: N.DriverModule = {
  name: 'sleepy-proto',
  description: 'protocol driver: echoes frames, pends NetEventSetPower until its echoes are back',
  load: () => {
    const d: Driver = { object: null, handle: null, pool: null };
    const chars: N.NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<Bound, Driver> = {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
        Revision: N.NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
      },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      Name: 'sleepy-proto',
      BindAdapterHandlerEx: (drv, BindContext, p) => {
        const b: Bound = {
          handle: null,
          bindContext: BindContext,
          unbindContext: null,
          running: false,
          lowPower: false,
          sendsOut: 0,
          waiting: null,
          workItem: N.IoAllocateWorkItem(drv.object!),
          oidDone: new N.NDIS_EVENT(),
          oidStatus: N.NDIS_STATUS_SUCCESS,
        };
        if (b.workItem === null) return N.NDIS_STATUS_RESOURCES;
        N.NdisInitializeEvent(b.oidDone);
        const open = {
          Header: { Type: N.NDIS_OBJECT_TYPE_OPEN_PARAMETERS, Revision: N.NDIS_OPEN_PARAMETERS_REVISION_1 },
          AdapterName: p.AdapterName,
          MediumArray: [N.NdisMedium802_3],
          MediumArraySize: 1,
          SelectedMediumIndex: 0,
          FrameTypeArray: null,
          FrameTypeArraySize: 0,
        };
        const r = N.NdisOpenAdapterEx(drv.handle!, b, open, BindContext);
        b.handle = r.NdisBindingHandle;
        if (r.Status !== N.NDIS_STATUS_SUCCESS && r.Status !== N.NDIS_STATUS_PENDING)
          N.IoFreeWorkItem(b.workItem);
        return r.Status;
      },
      OpenAdapterCompleteHandlerEx: (b, Status) => {
        if (Status !== N.NDIS_STATUS_SUCCESS && b.workItem !== null) N.IoFreeWorkItem(b.workItem);
        N.NdisCompleteBindAdapterEx(b.bindContext, Status);
      },
      UnbindAdapterHandlerEx: (UnbindContext, b) => {
        setPacketFilter(b, 0);
        b.unbindContext = UnbindContext;
        // Paused: nothing is out and no work item is queued.
        if (b.workItem !== null) N.IoFreeWorkItem(b.workItem);
        b.workItem = null;
        return N.NdisCloseAdapterEx(b.handle!) === N.NDIS_STATUS_PENDING
          ? N.NDIS_STATUS_PENDING
          : N.NDIS_STATUS_SUCCESS;
      },
      CloseAdapterCompleteHandlerEx: (b) => N.NdisCompleteUnbindAdapterEx(b.unbindContext!),
      NetPnPEventHandler: (b, note) => {
        if (b === null) return N.NDIS_STATUS_SUCCESS; // NetEventBindsComplete
        const e = note.NetPnPEvent;
        switch (e.NetEvent) {
          case N.NetEventRestart: {
            const s = setPacketFilter(b, N.NDIS_PACKET_TYPE_DIRECTED);
            b.running = s === N.NDIS_STATUS_SUCCESS;
            return s;
          }
          case N.NetEventPause:
            b.running = false;
            return whenDrained(b, note);
          case N.NetEventSetPower:
            if (e.Buffer === N.NdisDeviceStateD0) {
              b.lowPower = false;
              return N.NDIS_STATUS_SUCCESS;
            }
            // Stop sending now; answer once what is out has come back.
            b.lowPower = true;
            return whenDrained(b, note);
          default:
            return N.NDIS_STATUS_SUCCESS;
        }
      },
      OidRequestCompleteHandler: (b, _req, Status) => {
        b.oidStatus = Status;
        N.NdisSetEvent(b.oidDone);
      },
      ReceiveNetBufferListsHandler: (b, chain, _port, _count, flags) => {
        const atDispatch = (flags & N.NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL) !== 0;
        for (let x: N.NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
          const nb = x.FirstNetBuffer;
          if (!b.running || b.lowPower || nb === null || d.pool === null) continue;
          const copy = N.NdisAllocateNetBufferAndNetBufferList(
            d.pool,
            0,
            0,
            new Uint8Array(nb.DataLength),
            0,
            nb.DataLength,
          );
          if (copy === null) continue;
          if (nb.Data !== null && copy.FirstNetBuffer?.Data != null)
            copy.FirstNetBuffer.Data.set(nb.Data.subarray(nb.DataOffset, nb.DataOffset + nb.DataLength));
          copy.SourceHandle = b.handle;
          b.sendsOut++;
          N.NdisSendNetBufferLists(b.handle!, copy, 0, atDispatch ? N.NDIS_SEND_FLAGS_DISPATCH_LEVEL : 0);
        }
        if ((flags & N.NDIS_RECEIVE_FLAGS_RESOURCES) === 0)
          N.NdisReturnNetBufferLists(b.handle!, chain, atDispatch ? N.NDIS_RETURN_FLAGS_DISPATCH_LEVEL : 0);
      },
      SendNetBufferListsCompleteHandler: (b, chain) => {
        for (let x: N.NET_BUFFER_LIST | null = chain; x !== null; ) {
          const next: N.NET_BUFFER_LIST | null = x.Next;
          x.Next = null;
          N.NdisFreeNetBufferList(x);
          b.sendsOut--;
          x = next;
        }
        // Completions may come at DISPATCH: the PASSIVE-only completion goes to the work item.
        if (b.sendsOut === 0 && b.waiting !== null && b.workItem !== null)
          N.IoQueueWorkItemEx(b.workItem, completeWaiting, N.DelayedWorkQueue, b);
      },
      StatusHandlerEx: () => {},
    };
    return {
      DriverEntry: (obj) => {
        d.object = obj;
        const r = N.NdisRegisterProtocolDriver(d, chars);
        if (r.Status !== N.NDIS_STATUS_SUCCESS) return r.Status;
        d.handle = r.NdisProtocolHandle;
        d.pool = N.NdisAllocateNetBufferListPool(d.handle, {
          Header: {
            Type: N.NDIS_OBJECT_TYPE_DEFAULT,
            Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
          },
          ProtocolId: 0,
          fAllocateNetBuffer: true,
          ContextSize: 0,
          PoolTag: 0x7065656c, // 'leep'
          DataSize: 0, // each echo carries its own buffer
        });
        if (d.pool === null) {
          N.NdisDeregisterProtocolDriver(d.handle!);
          return N.NDIS_STATUS_RESOURCES;
        }
        obj.DriverUnload = () => {
          N.NdisDeregisterProtocolDriver(d.handle!);
          if (d.pool !== null) N.NdisFreeNetBufferListPool(d.pool);
          d.pool = null;
        };
        return N.NDIS_STATUS_SUCCESS;
      },
    };
  },
};
