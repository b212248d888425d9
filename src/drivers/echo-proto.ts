// echo-proto: a protocol driver written only against ndis-sim's public API. It binds to
// every Ethernet adapter, sets a packet filter, and sends each frame it receives back
// out (a copy, in an NBL from its own pool). It follows the protocol pages: a pended
// open completes the bind in ProtocolOpenAdapterCompleteEx, a pause waits for its sends,
// an unbind clears the packet filter, closes, and completes in
// ProtocolCloseAdapterCompleteEx when the close pends. `EchoMistakes` switches on one
// realistic mistake at a time (the gallery's protocol drivers).

import {
  type DRIVER_OBJECT,
  type DriverModule,
  magicPacketWolPattern,
  NDIS_EVENT,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_OPEN_PARAMETERS,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_OID_REQUEST_REVISION_1,
  NDIS_OPEN_PARAMETERS_REVISION_1,
  NDIS_PACKET_TYPE_DIRECTED,
  type NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  type NDIS_STRING,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisCloseAdapterEx,
  NdisCompleteBindAdapterEx,
  NdisCompleteNetPnPEvent,
  NdisCompleteUnbindAdapterEx,
  NdisDeregisterProtocolDriver,
  NdisFreeMemory,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisInitializeEvent,
  NdisMedium802_3,
  NdisOidRequest,
  NdisOpenAdapterEx,
  NdisQueryBindInstanceName,
  NdisReEnumerateProtocolBindings,
  NdisRegisterProtocolDriver,
  NdisRequestSetInformation,
  NdisResetEvent,
  NdisReturnNetBufferLists,
  NdisSendNetBufferLists,
  NdisSetEvent,
  NdisWaitEvent,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  type NET_PNP_EVENT_NOTIFICATION,
  NetEventBindsComplete,
  NetEventPause,
  NetEventRestart,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_PM_ADD_WOL_PATTERN,
  oidRequestData,
} from '../index.ts';

/** One mistake each; the reference driver has none. */
export interface EchoMistakes {
  /** ProtocolBindAdapterEx returns SUCCESS without calling NdisOpenAdapterEx. */
  bindWithoutOpen?: boolean;
  /** Not a mistake: the driver is written for NDIS 6.x, x this (default 30). */
  minorNdisVersion?: number;
  /** ProtocolUnbindAdapterEx returns SUCCESS without NdisCloseAdapterEx. */
  unbindWithoutClose?: boolean;
  /** NetEventPause returns SUCCESS at once, with its echoes still out. */
  pauseWithoutWaiting?: boolean;
  /** NetEventPause returns PENDING and nothing ever completes it. */
  pauseNeverCompleted?: boolean;
  /** Echoes go out with SourceHandle left NULL. */
  noSourceHandle?: boolean;
  /** Echoes go out on this PortNumber, a port the miniport never allocated, not the default 0. */
  sendPort?: number;
  /** ProtocolBindAdapterEx announces itself with a frame right after the open, before the binding runs. */
  announceInBind?: boolean;
  /** A received frame is returned twice (once in the handler, once more by a cleanup path). */
  returnsTwice?: boolean;
  /** NetEventPause runs its "all drained?" helper, which completes the pause, and then returns SUCCESS too. */
  pauseCompletedTwice?: boolean;
  /** NetEventPause pends while echoes are out, and the last send completion (at DISPATCH) completes it. */
  pauseCompletedFromSendComplete?: boolean;
  /** Its first bind calls NdisReEnumerateProtocolBindings, to be bound to adapters that came up before it loaded. */
  rebindsFromBind?: boolean;
  /** ProtocolUnbindAdapterEx deregisters the driver when its last binding goes. */
  deregistersFromUnbind?: boolean;
  /** Its Unload routine frees the pool and returns without NdisDeregisterProtocolDriver. */
  unloadWithoutDeregister?: boolean;
  /** Its Unload routine deregisters but leaves the NBL pool allocated. */
  unloadKeepsPool?: boolean;
  /** DriverEntry sets no Unload routine: the driver cannot be unloaded. */
  noUnload?: boolean;
  /** ProtocolNetPnPEvent counts every event in its binding context, even one NDIS sends with a NULL context. */
  countsEventsInContext?: boolean;
  /** The adapter's name from NdisQueryBindInstanceName is never given back (NdisFreeMemory). */
  keepsBindName?: boolean;
  /**
   * The binding's first NetEventRestart adds a magic-packet WoL pattern
   * (OID_PM_ADD_WOL_PATTERN), and the unbind closes without removing it.
   */
  leavesWolPattern?: boolean;
}

/** Per binding (the ProtocolBindingContext). */
interface EchoBinding {
  handle: NDIS_HANDLE | null;
  bindContext: NDIS_HANDLE;
  unbindContext: NDIS_HANDLE | null;
  open: {
    Header: { Type: number; Revision: number };
    AdapterName: string;
    MediumArray: number[];
    MediumArraySize: number;
    SelectedMediumIndex: number;
    FrameTypeArray: null;
    FrameTypeArraySize: number;
  };
  /** Between NetEventRestart and NetEventPause: it echoes. */
  running: boolean;
  /** A pause it pended (pauseCompletedFromSendComplete). */
  pausing: NET_PNP_EVENT_NOTIFICATION | null;
  /** Echoes handed to NDIS and not back yet. */
  sendsOut: number;
  /** Set when the last echo comes back while a pause waits. */
  readonly drained: NDIS_EVENT;
  /** Set when its OID request completes. */
  readonly oidDone: NDIS_EVENT;
  oidStatus: number;
  echoed: number;
  /** Network PnP events NDIS indicated to the binding (countsEventsInContext). */
  events: number;
  /** The adapter's friendly name (NdisQueryBindInstanceName), NDIS's buffer, freed at unbind. */
  adapterName: NDIS_STRING | null;
  /** It added its WoL pattern (leavesWolPattern). */
  addedWolPattern: boolean;
}

interface EchoDriver {
  handle: NDIS_HANDLE | null;
  pool: NDIS_HANDLE | null;
  reenumerated: boolean;
  /** Its bindings (deregistersFromUnbind). */
  bindings: number;
  /** NDIS said it is bound to every adapter there is (NetEventBindsComplete). */
  bindsComplete: boolean;
}

function setPacketFilter(e: EchoBinding, filter: number): number {
  return setOid(e, OID_GEN_CURRENT_PACKET_FILTER, filter, 4);
}

/** A set request on the binding, waited for (PASSIVE: its bind, unbind and PnP handlers). */
function setOid(e: EchoBinding, oid: number, buffer: unknown, length: number): number {
  const req: NDIS_OID_REQUEST = {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: NDIS_OID_REQUEST_REVISION_1 },
    RequestType: NdisRequestSetInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: null,
    RequestHandle: null,
    DATA: oidRequestData(oid, buffer, length),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
  NdisResetEvent(e.oidDone);
  const s = NdisOidRequest(e.handle!, req);
  if (s !== NDIS_STATUS_PENDING) return s;
  NdisWaitEvent(e.oidDone, 0);
  return e.oidStatus;
}

/** The echo protocol, with `mistakes` switched on; `name` is its service name. */
export function echoProtocol(name: string, description: string, mistakes: EchoMistakes = {}): DriverModule {
  return {
    name,
    description,
    load: () => {
      const d: EchoDriver = {
        handle: null,
        pool: null,
        reenumerated: false,
        bindings: 0,
        bindsComplete: false,
      };

      const echo = (e: EchoBinding, nbl: NET_BUFFER_LIST, atDispatch: boolean): void => {
        if (!e.running) return;
        const nb = nbl.FirstNetBuffer;
        if (nb === null || d.pool === null) return;
        const copy = NdisAllocateNetBufferAndNetBufferList(
          d.pool,
          0,
          0,
          new Uint8Array(nb.DataLength),
          0,
          nb.DataLength,
        );
        if (copy === null) return;
        if (nb.Data !== null && copy.FirstNetBuffer?.Data != null)
          copy.FirstNetBuffer.Data.set(nb.Data.subarray(nb.DataOffset, nb.DataOffset + nb.DataLength));
        if (!mistakes.noSourceHandle) copy.SourceHandle = e.handle;
        e.sendsOut++;
        e.echoed++;
        NdisSendNetBufferLists(
          e.handle!,
          copy,
          mistakes.sendPort ?? 0,
          atDispatch ? NDIS_SEND_FLAGS_DISPATCH_LEVEL : 0,
        );
      };

      const freeName = (e: EchoBinding): void => {
        if (e.adapterName === null) return;
        NdisFreeMemory(e.adapterName.Buffer, e.adapterName.MaximumLength, 0);
        e.adapterName = null;
      };

      /** A broadcast frame that says the protocol is here. */
      const announce = (e: EchoBinding): void => {
        const nbl =
          d.pool === null
            ? null
            : NdisAllocateNetBufferAndNetBufferList(d.pool, 0, 0, new Uint8Array(60), 0, 60);
        if (nbl === null) return;
        nbl.SourceHandle = e.handle;
        e.sendsOut++;
        NdisSendNetBufferLists(e.handle!, nbl, 0, 0);
      };

      const chars: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<EchoBinding, EchoDriver> = {
        Header: {
          Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
          Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: mistakes.minorNdisVersion ?? 30,
        Name: name,
        BindAdapterHandlerEx: (drv, BindContext, p) => {
          const e: EchoBinding = {
            handle: null,
            bindContext: BindContext,
            unbindContext: null,
            open: {
              Header: { Type: NDIS_OBJECT_TYPE_OPEN_PARAMETERS, Revision: NDIS_OPEN_PARAMETERS_REVISION_1 },
              AdapterName: p.AdapterName,
              MediumArray: [NdisMedium802_3],
              MediumArraySize: 1,
              SelectedMediumIndex: 0,
              FrameTypeArray: null,
              FrameTypeArraySize: 0,
            },
            running: false,
            pausing: null,
            sendsOut: 0,
            drained: new NDIS_EVENT(),
            oidDone: new NDIS_EVENT(),
            oidStatus: NDIS_STATUS_SUCCESS,
            echoed: 0,
            events: 0,
            adapterName: null,
            addedWolPattern: false,
          };
          NdisInitializeEvent(e.drained);
          NdisInitializeEvent(e.oidDone);
          if (mistakes.bindWithoutOpen) return NDIS_STATUS_SUCCESS;
          // The adapter's friendly name, for the binding's messages.
          const q = NdisQueryBindInstanceName(BindContext);
          if (q.Status === NDIS_STATUS_SUCCESS) e.adapterName = q.AdapterInstanceName;
          if (mistakes.rebindsFromBind && !d.reenumerated) {
            d.reenumerated = true;
            NdisReEnumerateProtocolBindings(drv.handle!);
          }
          const r = NdisOpenAdapterEx(drv.handle!, e, e.open, BindContext);
          e.handle = r.NdisBindingHandle;
          if (r.Status !== NDIS_STATUS_SUCCESS && r.Status !== NDIS_STATUS_PENDING) {
            freeName(e);
            return r.Status;
          }
          d.bindings++;
          if (mistakes.announceInBind && r.Status === NDIS_STATUS_SUCCESS) announce(e);
          // PENDING: ProtocolOpenAdapterCompleteEx finishes the bind.
          return r.Status;
        },
        OpenAdapterCompleteHandlerEx: (e, Status) => {
          if (Status !== NDIS_STATUS_SUCCESS) {
            d.bindings--;
            freeName(e);
          }
          if (mistakes.announceInBind && Status === NDIS_STATUS_SUCCESS) announce(e);
          NdisCompleteBindAdapterEx(e.bindContext, Status);
        },
        UnbindAdapterHandlerEx: (UnbindContext, e) => {
          // R7.3: clear the packet filter, then close.
          setPacketFilter(e, 0);
          if (!mistakes.keepsBindName) freeName(e);
          if (mistakes.unbindWithoutClose) return NDIS_STATUS_SUCCESS;
          e.unbindContext = UnbindContext;
          const s = NdisCloseAdapterEx(e.handle!);
          d.bindings--;
          if (mistakes.deregistersFromUnbind && d.bindings === 0) NdisDeregisterProtocolDriver(d.handle!);
          // PENDING: ProtocolCloseAdapterCompleteEx completes the unbind.
          return s === NDIS_STATUS_PENDING ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS;
        },
        CloseAdapterCompleteHandlerEx: (e) => {
          NdisCompleteUnbindAdapterEx(e.unbindContext!);
        },
        NetPnPEventHandler: (e, note: NET_PNP_EVENT_NOTIFICATION) => {
          // The mistake: as if every event came with a binding's context.
          if (mistakes.countsEventsInContext) (e as EchoBinding).events++;
          if (e === null) {
            // A global event: NULL ProtocolBindingContext (nc-ndis-protocol_net_pnp_event).
            if (note.NetPnPEvent.NetEvent === NetEventBindsComplete) d.bindsComplete = true;
            return NDIS_STATUS_SUCCESS;
          }
          switch (note.NetPnPEvent.NetEvent) {
            case NetEventRestart: {
              const s = setPacketFilter(e, NDIS_PACKET_TYPE_DIRECTED);
              e.running = s === NDIS_STATUS_SUCCESS;
              if (mistakes.leavesWolPattern && e.running && !e.addedWolPattern) {
                // Wake on a magic packet; the unbind never removes it (the mistake).
                const wol = magicPacketWolPattern();
                e.addedWolPattern = setOid(e, OID_PM_ADD_WOL_PATTERN, wol.pattern, wol.length) === 0;
              }
              return s;
            }
            case NetEventPause:
              e.running = false;
              if (mistakes.pauseNeverCompleted) return NDIS_STATUS_PENDING;
              if (mistakes.pauseCompletedTwice && e.sendsOut === 0)
                NdisCompleteNetPnPEvent(e.handle!, note, NDIS_STATUS_SUCCESS);
              if (mistakes.pauseCompletedFromSendComplete && e.sendsOut > 0) {
                e.pausing = note;
                return NDIS_STATUS_PENDING;
              }
              // R7.2: wait for the echoes under way.
              if (e.sendsOut > 0 && !mistakes.pauseWithoutWaiting) {
                NdisResetEvent(e.drained);
                if (e.sendsOut > 0) NdisWaitEvent(e.drained, 0);
              }
              return NDIS_STATUS_SUCCESS;
            default:
              return NDIS_STATUS_SUCCESS;
          }
        },
        OidRequestCompleteHandler: (e, _req, Status) => {
          e.oidStatus = Status;
          NdisSetEvent(e.oidDone);
        },
        ReceiveNetBufferListsHandler: (e, chain, _port, _count, flags) => {
          const atDispatch = (flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL) !== 0;
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) echo(e, x, atDispatch);
          // With RESOURCES the NBLs go back when this returns; else give them back now.
          if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) {
            NdisReturnNetBufferLists(e.handle!, chain, atDispatch ? 1 : 0);
            if (mistakes.returnsTwice) NdisReturnNetBufferLists(e.handle!, chain, atDispatch ? 1 : 0);
          }
        },
        SendNetBufferListsCompleteHandler: (e, chain) => {
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
            const next: NET_BUFFER_LIST | null = x.Next;
            x.Next = null;
            NdisFreeNetBufferList(x);
            e.sendsOut--;
            x = next;
          }
          if (e.sendsOut === 0) NdisSetEvent(e.drained);
          if (e.sendsOut === 0 && e.pausing !== null) {
            const note = e.pausing;
            e.pausing = null;
            NdisCompleteNetPnPEvent(e.handle!, note, NDIS_STATUS_SUCCESS);
          }
        },
        StatusHandlerEx: () => {},
      };

      return {
        DriverEntry: (obj: DRIVER_OBJECT, _path: string) => {
          const r = NdisRegisterProtocolDriver(d, chars);
          if (r.Status !== NDIS_STATUS_SUCCESS) return r.Status;
          d.handle = r.NdisProtocolHandle;
          d.pool = NdisAllocateNetBufferListPool(d.handle, {
            Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
            ProtocolId: 0,
            fAllocateNetBuffer: true,
            ContextSize: 0,
            PoolTag: 0x6f686345,
            DataSize: 0, // each send carries its own buffer
          });
          if (d.pool === null) {
            NdisDeregisterProtocolDriver(d.handle!);
            return NDIS_STATUS_RESOURCES;
          }
          // The Unload routine (nc-wdm-driver_unload): deregistering unbinds every
          // binding within the call, so the pool is free of sends after it.
          if (!mistakes.noUnload)
            obj.DriverUnload = () => {
              if (!mistakes.unloadWithoutDeregister) NdisDeregisterProtocolDriver(d.handle!);
              if (!mistakes.unloadKeepsPool && d.pool !== null) NdisFreeNetBufferListPool(d.pool);
              d.pool = null;
            };
          return NDIS_STATUS_SUCCESS;
        },
      };
    },
  };
}

/** The reference echo protocol. */
export const echoProto: DriverModule = echoProtocol(
  'echo-proto',
  'protocol driver: echoes every received frame back out',
);
