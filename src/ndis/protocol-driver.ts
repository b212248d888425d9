// Protocol drivers that register themselves with NdisRegisterProtocolDriver (R7.1-R7.4):
// the characteristics and parameter structures of ndis.h, NDIS's record of each driver
// (its NdisProtocolHandle), and the edge through which NDIS's stack operations
// (lifecycle.ts, datapath.ts, oid.ts) reach the driver's ProtocolXxx handlers. The
// DDIs the driver calls are in api/protocol.ts. The model's own protocol (src/stack)
// keeps its simpler edge.

import { NotModelledError } from '../errors.ts';
import { Irql, WorkItem, type WorkRoutine } from '../kernel/kernel.ts';
import { fmtTime } from '../report/format.ts';
import { ChoiceSite } from '../sim/choice.ts';
import type { EventTarget, SimEvent } from '../sim/queue.ts';
import { statusText } from '../verifier/bugcheck.ts';
import { type Binding, Binding as BindingImpl, type NetEventCode, type ProtocolEdge } from './binding.ts';
import type { MiniportBlock } from './block.ts';
import { danglingLinks, IoManagerThread, liveDevices, referencedDevice } from './device.ts';
import type { MiniportDriverBlock } from './driver.ts';
import type { NET_PNP_EVENT_NOTIFICATION } from './filter.ts';
import {
  NDIS_BUGCHECK_WATCHDOG_PROTOCOL_NETPNPEVENT,
  NDIS_BUGCHECK_WATCHDOG_PROTOCOL_PAUSE,
  NDIS_BUGCHECK_WATCHDOG_PROTOCOL_STATUS_INDICATION,
  NDIS_BUGCHECK_WATCHDOG_PROTOCOL_UNBIND,
} from './generated/rules.ts';
import {
  NDIS_BIND_PARAMETERS_REVISION_1,
  NDIS_OBJECT_TYPE_BIND_PARAMETERS,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_PROTOCOL_RESTART_PARAMETERS,
  NDIS_PAUSE_UNBIND_PROTOCOL,
  NDIS_PROTOCOL_PAUSE_PARAMETERS_REVISION_1,
  NDIS_PROTOCOL_RESTART_PARAMETERS_REVISION_1,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NET_PNP_EVENT_NOTIFICATION_REVISION_1,
  NetEventBindsComplete,
  NetEventCancelRemoveDevice,
  NetEventPause,
  NetEventPortActivation,
  NetEventPortDeactivation,
  NetEventQueryPower,
  NetEventQueryRemoveDevice,
  NetEventRestart,
  NetEventSetPower,
} from './generated/status.ts';
import { bindProtocol, pauseBinding, pauseReasonSeen, restartBinding, unbindBinding } from './lifecycle.ts';
import type { NblImpl, NblPool, NET_BUFFER_LIST } from './nbl.ts';
import type { Ndis } from './ndis.ts';
import { type NdisIoWorkItem, type NdisTimerObject, placeText } from './objects.ts';
import { activePortArray, defaultPortActive, type NDIS_PORT_ARRAY, netEventBufferLength } from './ports.ts';
import { SituationKind, situationCode } from './situations.ts';
import type {
  DRIVER_OBJECT,
  NDIS_HANDLE,
  NDIS_OBJECT_HEADER,
  NDIS_OID_REQUEST,
  NDIS_PORT_NUMBER,
  NDIS_STATUS,
  NDIS_STATUS_INDICATION,
  NET_LUID,
  ULONG,
} from './types.ts';

// ------------------------------------------------------------------ structures

/**
 * NDIS_BIND_PARAMETERS, as NDIS fills it for ProtocolBindAdapterEx: what the adapter
 * told NDIS in its general attributes. Members the model has nothing for (offload,
 * RSS, NIC switch, NDK, SR-IOV capabilities) are null.
 */
export interface NDIS_BIND_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  /** The protocol's section of the registry for this binding. */
  ProtocolSection: string;
  /** Pass this as NDIS_OPEN_PARAMETERS.AdapterName. */
  AdapterName: string;
  PhysicalDeviceObject: string;
  MediaType: number;
  MtuSize: ULONG;
  MaxXmitLinkSpeed: number;
  XmitLinkSpeed: number;
  MaxRcvLinkSpeed: number;
  RcvLinkSpeed: number;
  MediaConnectState: number;
  MediaDuplexState: number;
  LookaheadSize: ULONG;
  PowerManagementCapabilities: unknown;
  SupportedPacketFilters: ULONG;
  MaxMulticastListSize: ULONG;
  MacAddressLength: number;
  CurrentMacAddress: readonly number[];
  PhysicalMediumType: number;
  RcvScaleCapabilities: null;
  BoundIfNetluid: NET_LUID;
  BoundIfIndex: number;
  LowestIfNetluid: NET_LUID;
  LowestIfIndex: number;
  AccessType: number;
  DirectionType: number;
  ConnectionType: number;
  IfType: number;
  IfConnectorPresent: boolean;
  /** NDIS_PORT_ARRAY of the ports active at the bind, the default port first (ports.ts). */
  ActivePorts: NDIS_PORT_ARRAY | null;
  DataBackFillSize: ULONG;
  ContextBackFillSize: ULONG;
  MacOptions: ULONG;
  CompartmentId: number;
  DefaultOffloadConfiguration: null;
  TcpConnectionOffloadCapabilities: null;
  BoundAdapterName: string;
}

/** NDIS_OPEN_PARAMETERS: what NdisOpenAdapterEx opens; NDIS writes SelectedMediumIndex. */
export interface NDIS_OPEN_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  /** NDIS_BIND_PARAMETERS.AdapterName of the bind. */
  AdapterName: string;
  /** The NDIS_MEDIUM values the protocol can work with. */
  MediumArray: readonly number[];
  MediumArraySize: ULONG;
  /** Out: the index in MediumArray of the adapter's medium. */
  SelectedMediumIndex: ULONG;
  /** The NET_FRAME_TYPE values (EtherTypes) it receives; NULL for all. */
  FrameTypeArray: readonly number[] | null;
  FrameTypeArraySize: ULONG;
}

/** NDIS_PROTOCOL_PAUSE_PARAMETERS: NET_PNP_EVENT.Buffer of NetEventPause. */
export interface NDIS_PROTOCOL_PAUSE_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  /** Reserved. */
  Flags: ULONG;
  /** Deprecated from NDIS 6.40: always NDIS_PAUSE_NDIS_INTERNAL then; below, why NDIS pauses. */
  PauseReason: ULONG;
}

/** NET_PNP_EVENT.BufferLength of the two structures: their C sizes on x64, through their last member. */
const pauseParametersLength = 12;
const restartParametersLength = 52;

/** NDIS_PROTOCOL_RESTART_PARAMETERS: NET_PNP_EVENT.Buffer of NetEventRestart. */
export interface NDIS_PROTOCOL_RESTART_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  /** The filter modules between the protocol and the miniport, top first. */
  FilterModuleNameBuffer: readonly string[];
  /**
   * The buffer's length in bytes, as in C, where each name is a USHORT length followed
   * by its UTF-16 characters (the page): 2 + 2 × its length for each name.
   */
  FilterModuleNameBufferLength: ULONG;
  /** NULL in the model, as for MiniportRestart (R3.8). */
  RestartAttributes: null;
  BoundIfIndex: number;
  BoundIfNetluid: NET_LUID;
  Flags: ULONG;
}

// ------------------------------------------------------------------ handlers

export type PROTOCOL_BIND_ADAPTER_EX<D = unknown> = (
  ProtocolDriverContext: D,
  BindContext: NDIS_HANDLE,
  BindParameters: NDIS_BIND_PARAMETERS,
) => NDIS_STATUS;
export type PROTOCOL_UNBIND_ADAPTER_EX<C = unknown> = (
  UnbindContext: NDIS_HANDLE,
  ProtocolBindingContext: C,
) => NDIS_STATUS;
export type PROTOCOL_OPEN_ADAPTER_COMPLETE_EX<C = unknown> = (
  ProtocolBindingContext: C,
  Status: NDIS_STATUS,
) => void;
export type PROTOCOL_CLOSE_ADAPTER_COMPLETE_EX<C = unknown> = (ProtocolBindingContext: C) => void;
/**
 * ProtocolBindingContext is NULL for a global event (NetEventBindsComplete): one that
 * applies to every binding (nc-ndis-protocol_net_pnp_event).
 */
export type PROTOCOL_NET_PNP_EVENT<C = unknown> = (
  ProtocolBindingContext: C | null,
  NetPnPEventNotification: NET_PNP_EVENT_NOTIFICATION,
) => NDIS_STATUS;
export type PROTOCOL_UNINSTALL = () => void;
export type PROTOCOL_OID_REQUEST_COMPLETE<C = unknown> = (
  ProtocolBindingContext: C,
  OidRequest: NDIS_OID_REQUEST,
  Status: NDIS_STATUS,
) => void;
export type PROTOCOL_STATUS_EX<C = unknown> = (
  ProtocolBindingContext: C,
  StatusIndication: NDIS_STATUS_INDICATION,
) => void;
export type PROTOCOL_RECEIVE_NET_BUFFER_LISTS<C = unknown> = (
  ProtocolBindingContext: C,
  NetBufferLists: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  NumberOfNetBufferLists: ULONG,
  ReceiveFlags: ULONG,
) => void;
export type PROTOCOL_SEND_NET_BUFFER_LISTS_COMPLETE<C = unknown> = (
  ProtocolBindingContext: C,
  NetBufferList: NET_BUFFER_LIST,
  SendCompleteFlags: ULONG,
) => void;
/** PROTOCOL_SET_OPTIONS (nc-ndis-set_options): called inside NdisRegisterProtocolDriver. */
export type PROTOCOL_SET_OPTIONS<D = unknown> = (
  NdisDriverHandle: NDIS_HANDLE,
  DriverContext: D,
) => NDIS_STATUS;

/**
 * NDIS_PROTOCOL_DRIVER_CHARACTERISTICS. Every handler is required but
 * SetOptionsHandler, UninstallHandler, StatusHandlerEx and DirectOidRequestCompleteHandler.
 * `C` is the ProtocolBindingContext type, `D` the ProtocolDriverContext type.
 */
export interface NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<C = unknown, D = unknown> {
  Header: NDIS_OBJECT_HEADER;
  MajorNdisVersion: number;
  MinorNdisVersion: number;
  MajorDriverVersion?: number;
  MinorDriverVersion?: number;
  /** Reserved: 0. */
  Flags?: ULONG;
  /** The protocol's service name. */
  Name: string;
  SetOptionsHandler?: PROTOCOL_SET_OPTIONS<D> | null;
  BindAdapterHandlerEx: PROTOCOL_BIND_ADAPTER_EX<D>;
  UnbindAdapterHandlerEx: PROTOCOL_UNBIND_ADAPTER_EX<C>;
  OpenAdapterCompleteHandlerEx: PROTOCOL_OPEN_ADAPTER_COMPLETE_EX<C>;
  CloseAdapterCompleteHandlerEx: PROTOCOL_CLOSE_ADAPTER_COMPLETE_EX<C>;
  NetPnPEventHandler: PROTOCOL_NET_PNP_EVENT<C>;
  UninstallHandler?: PROTOCOL_UNINSTALL | null;
  OidRequestCompleteHandler: PROTOCOL_OID_REQUEST_COMPLETE<C>;
  StatusHandlerEx?: PROTOCOL_STATUS_EX<C> | null;
  ReceiveNetBufferListsHandler: PROTOCOL_RECEIVE_NET_BUFFER_LISTS<C>;
  SendNetBufferListsCompleteHandler: PROTOCOL_SEND_NET_BUFFER_LISTS_COMPLETE<C>;
  /** NDIS 6.1 (revision 2): ProtocolDirectOidRequestComplete, for a protocol that calls NdisDirectOidRequest. */
  DirectOidRequestCompleteHandler?: PROTOCOL_OID_REQUEST_COMPLETE<C> | null;
}

/** The handlers NdisRegisterProtocolDriver requires, in the page's order. */
export const requiredProtocolHandlers = [
  'BindAdapterHandlerEx',
  'UnbindAdapterHandlerEx',
  'OpenAdapterCompleteHandlerEx',
  'CloseAdapterCompleteHandlerEx',
  'NetPnPEventHandler',
  'OidRequestCompleteHandler',
  'ReceiveNetBufferListsHandler',
  'SendNetBufferListsCompleteHandler',
] as const;

// ------------------------------------------------------------------- records

/**
 * Where a binding's open is (NdisOpenAdapterEx to NdisCloseAdapterEx). 'opening' and
 * 'closing': NDIS returned PENDING and the matching ProtocolXxxAdapterCompleteEx has
 * not come yet.
 */
export type OpenState = 'none' | 'opening' | 'opened' | 'closing' | 'closed';

/** NDIS's record of one binding of a registered protocol driver (Binding.open). */
export class ProtocolOpen {
  state: OpenState = 'none';
  /** Inside ProtocolBindAdapterEx / ProtocolUnbindAdapterEx now. */
  inBind = false;
  inUnbind = false;
  /** NdisCompleteBindAdapterEx / NdisCompleteUnbindAdapterEx came inside the handler (it must then return PENDING). */
  earlyBind: number | null = null;
  earlyUnbind = false;
  /** The status of a pended open, for ProtocolOpenAdapterCompleteEx. */
  openStatus = NDIS_STATUS_SUCCESS;
  /** The open's parameters (NDIS writes SelectedMediumIndex when a pended open completes). */
  params: NDIS_OPEN_PARAMETERS | null = null;
  selectedMedium = 0;
  /** Sends handed to NDIS and not yet back in ProtocolSendNetBufferListsComplete. */
  sends = 0;
  /** OID requests NDIS returned PENDING for and has not completed. */
  oids = 0;
  /** Receives indicated without NDIS_RECEIVE_FLAGS_RESOURCES and not yet returned. */
  readonly held = new Set<NblImpl>();
  /**
   * Receives it got with NDIS_RECEIVE_FLAGS_RESOURCES (theirs only for the indication)
   * and receives it has returned, for the message when it returns one again; made on
   * first use.
   */
  resources: WeakSet<NblImpl> | null = null;
  returned: WeakSet<NblImpl> | null = null;
  /** The NET_PNP_EVENT_NOTIFICATION of the pause or restart the driver pended. */
  note: NET_PNP_EVENT_NOTIFICATION | null = null;
  /** NDIS's watchdog over the bind, unbind, pause or restart the driver pended (R7.13). */
  watchdog: SimEvent | null = null;
  /**
   * The binding's other net PnP events (query-remove, cancel-remove, query-power,
   * set-power) under way: in the handler, or pended and waited for. Null when none.
   */
  events: PendedNetEvent[] | null = null;
}

/**
 * A net PnP event other than pause and restart, from the call of ProtocolNetPnPEvent
 * until NDIS has its answer: the handler's return, or NdisCompleteNetPnPEvent after
 * PENDING. NDIS's thread that sent it (the PnP or power IRP's handling) waits for the
 * completion (awaitNetPnPEvent).
 */
export interface PendedNetEvent {
  readonly binding: Binding;
  readonly note: NET_PNP_EVENT_NOTIFICATION;
  readonly event: NetEventCode;
  /** Inside ProtocolNetPnPEvent now. */
  inHandler: boolean;
  /** The Status of NdisCompleteNetPnPEvent; null until it comes. */
  status: number | null;
  /** NDIS's watchdog over the pended event (R7.13); null until it pends. */
  watchdog: SimEvent | null;
  /** The slot of NDIS's blocking wait for it (Ndis.beginWait); -1 when it does not wait. */
  waitSlot: number;
}

/** A registered protocol driver: its NdisProtocolHandle, and NDIS's edge to its handlers. */
export class ProtocolDriverBlock implements NDIS_HANDLE, ProtocolEdge {
  readonly __ndisHandle = 'NDIS_PROTOCOL_DRIVER';
  deregistered = false;
  /** Its Unload routine returned (its service stopped: stop-protocol). */
  unloaded = false;
  /** A stop-protocol waits before it calls the Unload routine: for what, or null. */
  stopWaits: string | null = null;
  /**
   * Timer objects and work items allocated with its NdisProtocolHandle and not freed,
   * checked when it unloads.
   */
  timers: NdisTimerObject[] | null = null;
  workItems: NdisIoWorkItem[] | null = null;
  /**
   * IO_WORKITEMs of the driver (IoAllocateWorkItem) queued and not yet returned from
   * their routine: IoQueueWorkItem(Ex) references the IoObject, and the driver cannot
   * unload while such a reference remains (releasing-driver-allocated-resources), so
   * its unload waits for them.
   */
  ioRefs = 0;
  /** NBL pools allocated with its NdisProtocolHandle (or NULL from its code) and not freed. */
  pools: NblPool[] | null = null;
  /** NetEventBindsComplete: null until its service starts, then waiting, then sent. */
  bindsComplete: 'waiting' | 'sent' | null = null;
  /** Bindings that ever existed (the summary's counts). */
  bindingsMade = 0;
  bindingsFailed = 0;
  /** Its data and OID traffic, all bindings together (the summary's counts). */
  sent = 0;
  received = 0;
  /** Of `received`, those indicated with NDIS_RECEIVE_FLAGS_RESOURCES (not to be returned). */
  receivedWithResources = 0;
  returned = 0;
  oidRequests = 0;
  /**
   * Adapters it unbound from with NdisUnbindAdapter, with the adapter's start
   * (MiniportBlock.inits) then: NDIS does not bind it there again until
   * NdisReEnumerateProtocolBindings or the adapter's next start. Null until the first.
   */
  unboundFrom: Map<MiniportBlock, number> | null = null;

  /**
   * The miniport edge NdisIMAssociateMiniport tied to this protocol edge (an intermediate
   * driver); null for a plain protocol driver.
   */
  imMiniport: MiniportDriverBlock | null = null;

  declines(b: MiniportBlock): boolean {
    // An intermediate driver's protocol edge binds below it, never to its own virtual
    // miniports (the bindings its INF allows: docs/model.md, IM drivers).
    if (this.imMiniport !== null && b.driver === this.imMiniport) return true;
    return this.unboundFrom?.get(b) === b.inits;
  }

  /** Its NDIS version as the model numbers versions (6.40 = 640). */
  get ndisVersion(): number {
    return this.chars.MajorNdisVersion * 100 + this.chars.MinorNdisVersion;
  }
  constructor(
    readonly ndis: Ndis,
    /** The driver module's name: the actor in traces, and the name NDIS binds it by. */
    readonly name: string,
    readonly driverObject: DRIVER_OBJECT,
    readonly chars: Readonly<NDIS_PROTOCOL_DRIVER_CHARACTERISTICS>,
    readonly context: unknown,
  ) {}

  ProtocolBindAdapterEx(bd: Binding): NDIS_STATUS {
    const o = new ProtocolOpen();
    bd.open = o;
    this.bindingsMade++;
    o.inBind = true;
    let s: number;
    try {
      s = this.chars.BindAdapterHandlerEx(this.context, bd, bindParameters(this, bd.block));
    } finally {
      o.inBind = false;
    }
    if (s === NDIS_STATUS_PENDING) {
      if (o.earlyBind !== null) return bindResult(this.ndis, bd, o.earlyBind, 'NdisCompleteBindAdapterEx');
      armProtocolWatchdog(this.ndis, bd, 'bind');
      return s;
    }
    if (o.earlyBind !== null)
      this.ndis.verifier.report(
        'NdisSim_ProtocolBinding',
        'ProtocolBindAdapterEx',
        bd.block.name,
        `${this.name} called NdisCompleteBindAdapterEx inside ProtocolBindAdapterEx and then returned ${statusName(s)}: only a bind that returns NDIS_STATUS_PENDING is completed with it (nf-ndis-ndiscompletebindadapterex)`,
      );
    return bindResult(this.ndis, bd, s, 'ProtocolBindAdapterEx');
  }

  ProtocolUnbindAdapterEx(bd: Binding): NDIS_STATUS {
    const o = bd.open!;
    o.inUnbind = true;
    let s: number;
    try {
      s = this.chars.UnbindAdapterHandlerEx(bd, bd.protocolContext);
    } finally {
      o.inUnbind = false;
    }
    if (s === NDIS_STATUS_PENDING && !o.earlyUnbind) {
      armProtocolWatchdog(this.ndis, bd, 'unbind');
      return s;
    }
    if (s !== NDIS_STATUS_SUCCESS && s !== NDIS_STATUS_PENDING)
      this.ndis.verifier.report(
        'NdisSim_ProtocolUnbind',
        'ProtocolUnbindAdapterEx',
        bd.block.name,
        `ProtocolUnbindAdapterEx of ${this.name} returned ${statusName(s)}: a protocol cannot fail an unbind, only SUCCESS or PENDING (R7.3)`,
      );
    unbindChecks(this.ndis, bd, o.earlyUnbind ? 'NdisCompleteUnbindAdapterEx' : 'ProtocolUnbindAdapterEx');
    return NDIS_STATUS_SUCCESS;
  }

  ProtocolNetPnPEvent(bd: Binding, event: NetEventCode, buffer?: unknown): NDIS_STATUS {
    const n = this.ndis;
    const o = bd.open!;
    const note: NET_PNP_EVENT_NOTIFICATION = {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1 },
      PortNumber: 0,
      NetPnPEvent:
        event === 'NetEventRestart'
          ? {
              NetEvent: NetEventRestart,
              Buffer: restartParameters(bd.block),
              BufferLength: restartParametersLength,
            }
          : event === 'NetEventPause'
            ? {
                NetEvent: NetEventPause,
                Buffer: {
                  Header: {
                    Type: NDIS_OBJECT_TYPE_DEFAULT,
                    Revision: NDIS_PROTOCOL_PAUSE_PARAMETERS_REVISION_1,
                  },
                  Flags: 0,
                  PauseReason: pauseReasonSeen(bd.block.stackPauseReason, this.ndisVersion, true),
                } satisfies NDIS_PROTOCOL_PAUSE_PARAMETERS,
                BufferLength: pauseParametersLength,
              }
            : {
                NetEvent: netEventNumber[event],
                Buffer: buffer ?? null,
                BufferLength: netEventBufferLength(event, buffer),
              },
    };
    const pausable = event === 'NetEventPause' || event === 'NetEventRestart';
    if (!pausable) return this.otherNetPnPEvent(bd, o, event, note);
    o.note = note;
    if (n.situationsOn && event === 'NetEventPause' && o.sends > 0)
      n.noteSituation(situationCode(SituationKind.ProtocolPauseWithSends, bd.block));
    const s = this.chars.NetPnPEventHandler(bd.protocolContext, note);
    if (o.note !== note) {
      // NdisCompleteNetPnPEvent came inside the handler: it must then return PENDING.
      if (s !== NDIS_STATUS_PENDING) this.completedTwice(bd, event, s);
      return NDIS_STATUS_PENDING;
    }
    if (s === NDIS_STATUS_PENDING) {
      if (o.note === note) armProtocolWatchdog(n, bd, event === 'NetEventPause' ? 'pause' : 'restart');
      return s;
    }
    // Only a pause's or restart's own return ends it: another event (a query-remove
    // while the pause waits in another thread) leaves the pause's notification alone.
    o.note = null;
    if (event === 'NetEventPause') {
      if (s !== NDIS_STATUS_SUCCESS)
        n.verifier.report(
          'NdisSim_ProtocolNetPnPEvent',
          'ProtocolNetPnPEvent',
          bd.block.name,
          `ProtocolNetPnPEvent(NetEventPause) of ${this.name} returned ${statusName(s)}: a protocol cannot fail a pause (R7.2)`,
        );
      pauseDrained(n, bd, 'ProtocolNetPnPEvent');
      return NDIS_STATUS_SUCCESS;
    }
    return s;
  }

  /** NdisCompleteNetPnPEvent came inside the handler, which then returned `s`, not PENDING. */
  private completedTwice(bd: Binding, event: NetEventCode, s: NDIS_STATUS): void {
    this.ndis.verifier.report(
      'NdisSim_ProtocolNetPnPEvent',
      'ProtocolNetPnPEvent',
      bd.block.name,
      `${this.name} called NdisCompleteNetPnPEvent inside ProtocolNetPnPEvent(${event}) and then returned ${statusName(s)}: the event completed twice (nf-ndis-ndiscompletenetpnpevent)`,
    );
  }

  /**
   * The pended event of the last call of otherNetPnPEvent that returned PENDING, for
   * awaitNetPnPEvent to take (nothing runs in between: callProtocol returns at once).
   */
  lastPended: PendedNetEvent | null = null;

  /**
   * NetEventQueryRemoveDevice, NetEventCancelRemoveDevice, NetEventQueryPower and
   * NetEventSetPower (nc-ndis-protocol_net_pnp_event): the handler answers, or returns
   * PENDING and answers with NdisCompleteNetPnPEvent (nf-ndis-ndiscompletenetpnpevent),
   * which NDIS's thread waits for (awaitNetPnPEvent). A completion inside the handler
   * obliges it to return PENDING; the completion's Status is then the answer.
   */
  private otherNetPnPEvent(
    bd: Binding,
    o: ProtocolOpen,
    event: NetEventCode,
    note: NET_PNP_EVENT_NOTIFICATION,
  ): NDIS_STATUS {
    const rec: PendedNetEvent = {
      binding: bd,
      note,
      event,
      inHandler: true,
      status: null,
      watchdog: null,
      waitSlot: -1,
    };
    if (o.events === null) o.events = [rec];
    else o.events.push(rec);
    let s: number;
    try {
      s = this.chars.NetPnPEventHandler(bd.protocolContext, note);
    } finally {
      rec.inHandler = false;
    }
    if (rec.status !== null) {
      dropPended(o, rec);
      if (s !== NDIS_STATUS_PENDING) this.completedTwice(bd, event, s);
      return rec.status;
    }
    if (s === NDIS_STATUS_PENDING) {
      this.lastPended = rec;
      return s;
    }
    dropPended(o, rec);
    return s;
  }

  ProtocolStatusEx(bd: Binding, indication: NDIS_STATUS_INDICATION): void {
    const h = this.chars.StatusHandlerEx;
    if (typeof h === 'function') h(bd.protocolContext, indication);
  }

  ProtocolSendNetBufferListsComplete(
    bd: Binding,
    NetBufferLists: NET_BUFFER_LIST,
    SendCompleteFlags: number,
  ): void {
    const o = bd.open!;
    for (let x: NET_BUFFER_LIST | null = NetBufferLists; x !== null; x = x.Next) o.sends--;
    this.chars.SendNetBufferListsCompleteHandler(bd.protocolContext, NetBufferLists, SendCompleteFlags);
  }

  ProtocolReceiveNetBufferLists(
    bd: Binding,
    NetBufferLists: NET_BUFFER_LIST,
    PortNumber: number,
    NumberOfNetBufferLists: number,
    ReceiveFlags: number,
  ): void {
    const o = bd.open!;
    const keep = (ReceiveFlags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0;
    this.received += NumberOfNetBufferLists;
    if (keep)
      for (let x: NET_BUFFER_LIST | null = NetBufferLists; x !== null; x = x.Next) o.held.add(x as NblImpl);
    else {
      this.receivedWithResources += NumberOfNetBufferLists;
      o.resources ??= new WeakSet();
      for (let x: NET_BUFFER_LIST | null = NetBufferLists; x !== null; x = x.Next)
        o.resources.add(x as NblImpl);
    }
    this.chars.ReceiveNetBufferListsHandler(
      bd.protocolContext,
      NetBufferLists,
      PortNumber,
      NumberOfNetBufferLists,
      ReceiveFlags,
    );
  }

  ProtocolOidRequestComplete(bd: Binding, OidRequest: NDIS_OID_REQUEST, Status: NDIS_STATUS): void {
    const o = bd.open!;
    o.oids--;
    this.chars.OidRequestCompleteHandler(bd.protocolContext, OidRequest, Status);
  }

  ProtocolDirectOidRequestComplete(bd: Binding, OidRequest: NDIS_OID_REQUEST, Status: NDIS_STATUS): void {
    const o = bd.open!;
    o.oids--;
    this.chars.DirectOidRequestCompleteHandler!(bd.protocolContext, OidRequest, Status);
  }
}

const netEventNumber: Readonly<Record<NetEventCode, number>> = {
  NetEventQueryRemoveDevice,
  NetEventCancelRemoveDevice,
  NetEventPause,
  NetEventRestart,
  NetEventQueryPower,
  NetEventSetPower,
  NetEventPortActivation,
  NetEventPortDeactivation,
};

const statusName = statusText;

/** NDIS_BIND_PARAMETERS for binding `p` to `b`, from the adapter's general attributes. */
function bindParameters(p: ProtocolDriverBlock, b: MiniportBlock): NDIS_BIND_PARAMETERS {
  const g = b.general;
  return {
    Header: { Type: NDIS_OBJECT_TYPE_BIND_PARAMETERS, Revision: NDIS_BIND_PARAMETERS_REVISION_1 },
    ProtocolSection: `\\Registry\\Machine\\System\\CurrentControlSet\\Services\\${p.name}\\Parameters\\Adapters\\${b.name}`,
    AdapterName: adapterName(b),
    PhysicalDeviceObject: `${b.name} PDO`,
    MediaType: g?.MediaType ?? 0,
    MtuSize: g?.MtuSize ?? 0,
    MaxXmitLinkSpeed: g?.MaxXmitLinkSpeed ?? 0,
    XmitLinkSpeed: g?.XmitLinkSpeed ?? 0,
    MaxRcvLinkSpeed: g?.MaxRcvLinkSpeed ?? 0,
    RcvLinkSpeed: g?.RcvLinkSpeed ?? 0,
    MediaConnectState: b.mediaConnectState,
    MediaDuplexState: g?.MediaDuplexState ?? 0,
    LookaheadSize: g?.LookaheadSize ?? 0,
    PowerManagementCapabilities: g?.PowerManagementCapabilities ?? null,
    SupportedPacketFilters: g?.SupportedPacketFilters ?? 0,
    MaxMulticastListSize: g?.MaxMulticastListSize ?? 0,
    MacAddressLength: g?.MacAddressLength ?? 0,
    CurrentMacAddress: g?.CurrentMacAddress ?? [],
    PhysicalMediumType: g?.PhysicalMediumType ?? 0,
    RcvScaleCapabilities: null,
    BoundIfNetluid: topNetLuid(b),
    BoundIfIndex: topIfIndex(b),
    LowestIfNetluid: b.netLuid,
    LowestIfIndex: b.ifIndex,
    AccessType: g?.AccessType ?? 0,
    DirectionType: g?.DirectionType ?? 0,
    ConnectionType: g?.ConnectionType ?? 0,
    IfType: g?.IfType ?? 0,
    IfConnectorPresent: g?.IfConnectorPresent ?? false,
    ActivePorts: activePortArray(b),
    DataBackFillSize: g?.DataBackFillSize ?? 0,
    ContextBackFillSize: g?.ContextBackFillSize ?? 0,
    MacOptions: g?.MacOptions ?? 0,
    CompartmentId: 1,
    DefaultOffloadConfiguration: null,
    TcpConnectionOffloadCapabilities: null,
    BoundAdapterName: adapterName(b),
  };
}

/** The name NDIS gives the adapter in bind and open parameters. */
export function adapterName(b: MiniportBlock): string {
  return `\\DEVICE\\${b.name}`;
}

/** The interface the protocol binds to: the top filter module's, or the miniport's. */
function topIfIndex(b: MiniportBlock): number {
  return b.filters.length === 0 ? b.ifIndex : b.filters[b.filters.length - 1]!.ifIndex;
}

/** The NET_LUID of that interface. */
function topNetLuid(b: MiniportBlock): NET_LUID {
  return b.filters.length === 0 ? b.netLuid : b.filters[b.filters.length - 1]!.netLuid;
}

/** Bytes of FilterModuleNameBuffer in C: per name a USHORT length, then its UTF-16 characters. */
function nameBufferBytes(names: readonly string[]): number {
  let bytes = 0;
  for (const x of names) bytes += 2 + 2 * x.length;
  return bytes;
}

function restartParameters(b: MiniportBlock): NDIS_PROTOCOL_RESTART_PARAMETERS {
  const names = b.filters.map((m) => m.name).reverse();
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_PROTOCOL_RESTART_PARAMETERS,
      Revision: NDIS_PROTOCOL_RESTART_PARAMETERS_REVISION_1,
    },
    FilterModuleNameBuffer: names,
    FilterModuleNameBufferLength: nameBufferBytes(names),
    RestartAttributes: null,
    BoundIfIndex: topIfIndex(b),
    BoundIfNetluid: topNetLuid(b),
    Flags: 0,
  };
}

// ------------------------------------------------------------------- checks

/**
 * The bind's result, from ProtocolBindAdapterEx or NdisCompleteBindAdapterEx: a
 * success needs a finished open, a failure a binding that is not left open (the bind
 * page). Returns the status NDIS goes on with.
 */
export function bindResult(n: Ndis, bd: Binding, s: number, where: string): number {
  const o = bd.open!;
  const p = bd.protocol as ProtocolDriverBlock;
  if (o.watchdog !== null) {
    o.watchdog.cancelled = true;
    o.watchdog = null;
  }
  if (s === NDIS_STATUS_SUCCESS && o.state !== 'opened') {
    n.verifier.report(
      'NdisSim_ProtocolBinding',
      where,
      bd.block.name,
      o.state === 'opening'
        ? `${where} of ${p.name} completed the bind before its pended NdisOpenAdapterEx completed (ProtocolOpenAdapterCompleteEx): the binding handle is not usable yet (nc-ndis-protocol_bind_adapter_ex)`
        : `${where} of ${p.name} completed the bind with NDIS_STATUS_SUCCESS without a successful NdisOpenAdapterEx (nc-ndis-protocol_bind_adapter_ex)`,
    );
    p.bindingsFailed++;
    return NDIS_STATUS_FAILURE;
  }
  if (s !== NDIS_STATUS_SUCCESS) {
    p.bindingsFailed++;
    if (o.state === 'opened' || o.state === 'opening')
      n.verifier.report(
        'NdisSim_ProtocolBinding',
        where,
        bd.block.name,
        `${where} of ${p.name} failed the bind (${statusName(s)}) with the adapter still open: close it with NdisCloseAdapterEx before failing (nc-ndis-protocol_bind_adapter_ex)`,
      );
  }
  return s;
}

/** The unbind is complete: the binding was closed, and the close has completed (R7.3). */
export function unbindChecks(n: Ndis, bd: Binding, where: string): void {
  const o = bd.open!;
  const p = bd.protocol as ProtocolDriverBlock;
  if (o.watchdog !== null) {
    o.watchdog.cancelled = true;
    o.watchdog = null;
  }
  if (p.imMiniport !== null && n.imDevices !== null) velansLeftOver(n, p, bd, where);
  if (o.state === 'closed') return;
  n.verifier.report(
    'NdisSim_ProtocolUnbind',
    where,
    bd.block.name,
    o.state === 'closing'
      ? `${where} of ${p.name} completed the unbind before ProtocolCloseAdapterCompleteEx: the pended NdisCloseAdapterEx has not finished (nc-ndis-protocol_unbind_adapter_ex)`
      : `${where} of ${p.name} completed the unbind without NdisCloseAdapterEx: the binding is still open (R7.3, nc-ndis-protocol_unbind_adapter_ex)`,
  );
}

/**
 * R5.23 (intermediate-driver-unbinding-operations): an intermediate driver's unbind of a
 * binding below gives up the virtual miniports over it (NdisIMDeInitializeDeviceInstance,
 * or NdisIMCancelInitializeDeviceInstance before they start). A virtual miniport whose
 * IMDeviceInstanceContext is this binding's ProtocolBindingContext, still up or still
 * asked for when the unbind completes, runs over a binding that is gone: warned of.
 * (The check sees the MUX sample's pattern, the binding context as DeviceContext.)
 */
function velansLeftOver(n: Ndis, p: ProtocolDriverBlock, bd: Binding, where: string): void {
  for (const rec of n.imDevices!.values()) {
    if (rec.driver !== p.imMiniport || rec.context !== bd.protocolContext) continue;
    if (rec.state !== 'initialized' && rec.state !== 'requested') continue;
    n.verifier.warn(
      'R5.23',
      where,
      bd.block.name,
      `${p.name} completed its unbind from ${bd.block.name} with virtual miniport ${rec.name} (whose IMDeviceInstanceContext is that binding) still ${rec.state === 'initialized' ? 'initialized' : 'asked for'}: an intermediate driver's unbind gives up the virtual miniports over the binding with NdisIMDeInitializeDeviceInstance${rec.state === 'requested' ? ' or NdisIMCancelInitializeDeviceInstance' : ''} before it closes it (intermediate-driver-unbinding-operations)`,
    );
  }
}

/** R7.2: a binding's pause completes only once every send it made has come back. */
export function pauseDrained(n: Ndis, bd: Binding, where: string): void {
  const o = bd.open!;
  if (o.watchdog !== null) {
    o.watchdog.cancelled = true;
    o.watchdog = null;
  }
  if (o.sends === 0 && o.held.size === 0) return;
  const left: string[] = [];
  if (o.sends > 0) left.push(`${o.sends} send(s) not yet back in ProtocolSendNetBufferListsComplete`);
  if (o.held.size > 0) left.push(`${o.held.size} receive(s) not yet returned with NdisReturnNetBufferLists`);
  n.verifier.report(
    'NdisSim_ProtocolPauseNotDrained',
    where,
    bd.block.name,
    `${where}: ${(bd.protocol as ProtocolDriverBlock).name} completed the pause with ${left.join(' and ')} (R7.2, pausing-a-binding)`,
  );
}

// ----------------------------------------------------------- pended open/close

/**
 * Completes the NdisOpenAdapterEx or NdisCloseAdapterEx NDIS pended for `bd` (its open
 * state says which) at PASSIVE: ProtocolOpenAdapterCompleteEx or
 * ProtocolCloseAdapterCompleteEx.
 */
function finishOpenClose(bd: Binding): void {
  const p = bd.protocol as ProtocolDriverBlock;
  const n = p.ndis;
  const o = bd.open!;
  const open = o.state === 'opening';
  if (open) {
    o.state = o.openStatus === NDIS_STATUS_SUCCESS ? 'opened' : 'none';
    if (o.params !== null) o.params.SelectedMediumIndex = o.selectedMedium;
  } else o.state = 'closed';
  const fn = open ? 'ProtocolOpenAdapterCompleteEx' : 'ProtocolCloseAdapterCompleteEx';
  const f = n.enter(
    bd.block,
    p.name,
    fn,
    Irql.Passive,
    n.trace.on && open ? { Status: statusText(o.openStatus) } : undefined,
  );
  let returned: unknown;
  try {
    if (open) returned = p.chars.OpenAdapterCompleteHandlerEx(bd.protocolContext, o.openStatus);
    else returned = p.chars.CloseAdapterCompleteHandlerEx(bd.protocolContext);
  } catch (e) {
    n.driverThrew(e, fn, bd.block);
  }
  n.leaveVoid(f, returned);
}

const openCloseCompleter: WorkRoutine = {
  runWork(item: WorkItem): void {
    finishOpenClose(item.arg as Binding);
  },
};

/**
 * How NDIS completes an open or close: in the call (false), or pended (true, with the
 * binding's open state set to 'opening' or 'closing'), as `ChoiceSite.ProtocolOpenClose`
 * answers. Answer 1 completes it from NDIS's worker later. A close has answer 2 too:
 * the completion on another processor before the call has returned, which the model
 * runs here, now; a driver that stores its UnbindContext only after NdisCloseAdapterEx
 * returns meets a completion that cannot see it. An open has no answer 2: in C, NDIS
 * writes the binding handle through the caller's out parameter before it calls
 * ProtocolOpenAdapterCompleteEx, and here the handle comes back only when the call
 * returns, so such a completion would blame a correct driver.
 */
export function openClosePends(n: Ndis, bd: Binding, state: 'opening' | 'closing'): boolean {
  const open = state === 'opening';
  const a = n.kernel.machine.choose(ChoiceSite.ProtocolOpenClose, open ? 2 : 3);
  if (a === 0) return false;
  if (n.situationsOn)
    n.noteSituation(
      situationCode(
        open
          ? SituationKind.ProtocolOpenPended
          : a === 1
            ? SituationKind.ProtocolClosePended
            : SituationKind.ProtocolCloseCompletedEarly,
        bd.block,
      ),
    );
  bd.open!.state = state;
  if (a === 1)
    n.kernel.queueWork(new WorkItem(openCloseCompleter, (bd.protocol as ProtocolDriverBlock).name, bd));
  else finishOpenClose(bd);
  return true;
}

// ---------------------------------------------------------------- watchdog

/** What a protocol pended that NDIS waits for (R7.13). */
export type ProtocolWait = 'bind' | 'unbind' | 'pause' | 'restart';

const waitOp: Readonly<Record<ProtocolWait, number>> = { bind: 0, unbind: 1, pause: 2, restart: 3 };
/**
 * Parameters 2 to 4 of the watchdog's 0x7C/0x25, as the 0x7C page gives them: the
 * operation (a restart is a net PnP event, with its code in parameter 4), the triage
 * block. The page names no operation for a bind: 0 there.
 */
const watchdogParams: Readonly<Record<ProtocolWait, readonly (number | string)[]>> = {
  bind: [0, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
  unbind: [NDIS_BUGCHECK_WATCHDOG_PROTOCOL_UNBIND, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
  pause: [NDIS_BUGCHECK_WATCHDOG_PROTOCOL_PAUSE, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0],
  restart: [NDIS_BUGCHECK_WATCHDOG_PROTOCOL_NETPNPEVENT, 'NDIS_WATCHDOG_TRIAGE_BLOCK', NetEventRestart],
};
const waitNames: readonly ProtocolWait[] = ['bind', 'unbind', 'pause', 'restart'];

/** NDIS's watchdog over what a protocol pended (R7.13): the pause watchdog's time for each. */
export class ProtocolWatchdog implements EventTarget {
  constructor(readonly n: Ndis) {}
  fire(op: number, arg: unknown): void {
    const bd = arg as Binding;
    const o = bd.open;
    if (o === null || o.watchdog === null) return;
    o.watchdog = null;
    const what = waitNames[op]!;
    const completion =
      what === 'bind'
        ? 'NdisCompleteBindAdapterEx'
        : what === 'unbind'
          ? 'NdisCompleteUnbindAdapterEx'
          : 'NdisCompleteNetPnPEvent';
    const handler =
      what === 'bind'
        ? 'ProtocolBindAdapterEx'
        : what === 'unbind'
          ? 'ProtocolUnbindAdapterEx'
          : `ProtocolNetPnPEvent(NetEvent${what === 'pause' ? 'Pause' : 'Restart'})`;
    // Armed at the PENDING return (armProtocolWatchdog).
    const pendedNs = this.n.now - this.n.options.pauseWatchdogNs;
    this.n.reportInDpc(
      'ndis',
      'NdisSim_ProtocolWatchdog',
      what === 'bind' || what === 'unbind' ? handler : 'ProtocolNetPnPEvent',
      bd.block.name,
      `${handler} of ${(bd.protocol as ProtocolDriverBlock).name} returned NDIS_STATUS_PENDING at ${fmtTime(pendedNs)} and ${completion} did not follow within ${this.n.options.pauseWatchdogNs / 1e9} s (R7.13)`,
      [...watchdogParams[what]],
      {
        label: 'Pended by',
        at: `${handler} of ${(bd.protocol as ProtocolDriverBlock).name} at ${fmtTime(pendedNs)}`,
      },
    );
  }
}

/** Arms NDIS's watchdog over the bind, unbind, pause or restart `bd`'s driver pended. */
export function armProtocolWatchdog(n: Ndis, bd: Binding, what: ProtocolWait): void {
  const o = bd.open!;
  if (o.watchdog !== null) o.watchdog.cancelled = true;
  n.protocolWatchdog ??= new ProtocolWatchdog(n);
  o.watchdog = n.kernel.machine.after(n.options.pauseWatchdogNs, n.protocolWatchdog, waitOp[what], bd);
}

/**
 * The step of a protocol handler `fn` that has not returned on `bd`, as NDIS's
 * watchdog names it (R7.13, bug-check-0x7c): parameter 2 the operation, parameter 4
 * the NET_PNP_EVENT_CODE of a net PnP event other than a pause, or the NDIS_STATUS of a
 * status indication (`statusCode`). Null for a handler the
 * page names no watchdog for (a bind, a completion handler).
 */
export function blockedProtocolStep(
  fn: string,
  bd: Binding,
  statusCode: number,
): { name: string; op: number; code: number } | null {
  if (fn === 'ProtocolUnbindAdapterEx')
    return { name: fn, op: NDIS_BUGCHECK_WATCHDOG_PROTOCOL_UNBIND, code: 0 };
  if (fn === 'ProtocolStatusEx')
    return {
      name: `${fn}(${statusText(statusCode)})`,
      op: NDIS_BUGCHECK_WATCHDOG_PROTOCOL_STATUS_INDICATION,
      code: statusCode,
    };
  if (fn !== 'ProtocolNetPnPEvent') return null;
  if (bd.pending === 'NetEventPause')
    return { name: `${fn}(NetEventPause)`, op: NDIS_BUGCHECK_WATCHDOG_PROTOCOL_PAUSE, code: 0 };
  let event: NetEventCode | null = bd.pending === 'NetEventRestart' ? 'NetEventRestart' : null;
  // Another event is in the handler now (query-remove, power): the innermost one.
  const events = bd.open?.events;
  if (events != null) for (const rec of events) if (rec.inHandler) event = rec.event;
  return {
    name: `${fn}(${event ?? 'a net PnP event'})`,
    op: NDIS_BUGCHECK_WATCHDOG_PROTOCOL_NETPNPEVENT,
    code: event === null ? 0 : netEventNumber[event],
  };
}

/** Removes `rec` from its binding's events under way. */
function dropPended(o: ProtocolOpen, rec: PendedNetEvent): void {
  const list = o.events;
  if (list === null) return;
  const i = list.indexOf(rec);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) o.events = null;
}

/**
 * NDIS's watchdog over a net PnP event other than pause and restart that a protocol
 * pended (R7.13): 0x7C/0x25 with NDIS_BUGCHECK_WATCHDOG_PROTOCOL_NETPNPEVENT in
 * parameter 2 and the event's NET_PNP_EVENT_CODE in parameter 4 (bug-check-0x7c).
 */
class NetEventWatchdog implements EventTarget {
  constructor(readonly n: Ndis) {}
  fire(_op: number, arg: unknown): void {
    const rec = arg as PendedNetEvent;
    if (rec.watchdog === null) return;
    rec.watchdog = null;
    const bd = rec.binding;
    const name = (bd.protocol as ProtocolDriverBlock).name;
    // Armed at the PENDING return.
    const pendedNs = this.n.now - this.n.options.pauseWatchdogNs;
    this.n.reportInDpc(
      'ndis',
      'NdisSim_ProtocolWatchdog',
      'ProtocolNetPnPEvent',
      bd.block.name,
      `ProtocolNetPnPEvent(${rec.event}) of ${name} on the binding ${bd.name} returned NDIS_STATUS_PENDING at ${fmtTime(pendedNs)} and NdisCompleteNetPnPEvent did not follow within ${this.n.options.pauseWatchdogNs / 1e9} s (R7.13)`,
      [NDIS_BUGCHECK_WATCHDOG_PROTOCOL_NETPNPEVENT, 'NDIS_WATCHDOG_TRIAGE_BLOCK', netEventNumber[rec.event]],
      { label: 'Pended by', at: `ProtocolNetPnPEvent(${rec.event}) of ${name} at ${fmtTime(pendedNs)}` },
    );
  }
}

/**
 * NDIS's thread that sent a net PnP event other than pause and restart (the PnP IRP's
 * handling, or the power IRP's step in NDIS's worker) waits for the protocol that
 * pended it (nc-ndis-protocol_net_pnp_event, nf-ndis-ndiscompletenetpnpevent): a
 * blocking wait, as NdisWaitEvent's, so other threads, DPCs and timers run meanwhile,
 * NDIS's watchdog (R7.13) among them. Returns the Status of NdisCompleteNetPnPEvent,
 * which is the protocol's answer. A binding that goes away before it completes
 * (closed meanwhile) ends the wait with SUCCESS: no answer from it can come.
 */
export function awaitNetPnPEvent(n: Ndis, bd: Binding): number {
  const p = bd.protocol as ProtocolDriverBlock;
  const rec = p.lastPended;
  p.lastPended = null;
  if (rec === null || rec.binding !== bd) return NDIS_STATUS_SUCCESS;
  const o = bd.open!;
  const machine = n.kernel.machine;
  if (machine.waitsFull)
    throw new NotModelledError(
      'ProtocolNetPnPEvent',
      `waiting for ${p.name} to complete ${rec.event} at the model's deepest wait (limits.waitNestingMax)`,
    );
  n.netEventWatchdog ??= new NetEventWatchdog(n);
  rec.watchdog = machine.after(n.options.pauseWatchdogNs, n.netEventWatchdog, 0, rec);
  const gone = (): boolean => bd.open !== o || !bd.block.bindings.includes(bd);
  const done = (): boolean => rec.status !== null || gone();
  if (n.trace.on)
    n.traceNdis(bd.block, `waits for NdisCompleteNetPnPEvent(${rec.event}) of ${p.name}`, {
      binding: bd.name,
    });
  try {
    waitInNdisThread(n, `ProtocolNetPnPEvent(${rec.event})`, done, rec);
  } finally {
    rec.waitSlot = -1;
    if (rec.watchdog !== null) {
      rec.watchdog.cancelled = true;
      rec.watchdog = null;
    }
    dropPended(o, rec);
  }
  return rec.status ?? NDIS_STATUS_SUCCESS;
}

/**
 * A blocking wait of the NDIS thread running now, until `done` holds or the machine
 * stops: other threads, DPCs and timers run meanwhile, and NDIS's callback watchdog is
 * checked as it falls due. `slotOf` hears the wait's slot as it begins, for a completion
 * that ends the wait (Ndis.waitSatisfied).
 */
function waitInNdisThread(
  n: Ndis,
  label: string,
  done: () => boolean,
  slotOf: { waitSlot: number } | null,
): void {
  const machine = n.kernel.machine;
  let due = n.checkCallbackWatchdog();
  const slot = n.beginWait(Number.POSITIVE_INFINITY, label);
  if (slotOf !== null) slotOf.waitSlot = slot;
  try {
    for (;;) {
      if (machine.waitUntil(due, done)) break;
      if (machine.stopped !== null) break;
      due = n.checkCallbackWatchdog();
    }
  } finally {
    n.endWait(undefined, true);
  }
  n.kernel.resumeBelowDispatch();
}

// ------------------------------------------- NdisUnbindAdapter, re-enumeration

/**
 * NDIS's work item for an NdisUnbindAdapter (nf-ndis-ndisunbindadapter): it pauses the
 * binding if it runs, then calls ProtocolUnbindAdapterEx, each step once the one before
 * has completed. While the adapter has a stack operation under way it waits; a teardown
 * unbinds the binding itself, and then nothing is left to do.
 */
const selfUnbinder: WorkRoutine = {
  runWork(item: WorkItem): void {
    const bd = item.arg as Binding;
    const b = bd.block;
    const n = b.ndis;
    if (!b.bindings.includes(bd)) return;
    if (b.op === null && bd.pending === null) {
      if (bd.state === 'Running') pauseBinding(n, bd, NDIS_PAUSE_UNBIND_PROTOCOL);
      else if (bd.state === 'Paused') {
        unbindBinding(n, bd);
        return;
      }
    }
    n.kernel.queueWork(item);
  },
};

export function queueSelfUnbind(n: Ndis, bd: Binding): void {
  n.kernel.queueWork(new WorkItem(selfUnbinder, 'ndis', bd));
}

/**
 * NDIS's work item for NdisReEnumerateProtocolBindings: binds the driver to each
 * adapter whose stack is up and has no binding of it, and restarts each such binding
 * once it is bound, one step at a time as the stack allows.
 */
const rebinder: WorkRoutine = {
  runWork(item: WorkItem): void {
    const p = item.arg as ProtocolDriverBlock;
    const n = p.ndis;
    // Deregistered since the call: NDIS binds it no more.
    if (p.deregistered) return;
    let again = false;
    for (const b of n.adapters) {
      if (b.fdoDeleted || b.handleDead || (b.state !== 'Running' && b.state !== 'Paused')) continue;
      // R7.12: nothing binds while a default port the miniport controls is inactive.
      if (!defaultPortActive(b)) continue;
      if (b.op !== null) {
        again = true;
        continue;
      }
      const bd = b.bindings.find((x) => x.protocol === p);
      if (bd === undefined) {
        bindProtocol(n, b, new BindingImpl(p, b));
        again = true;
      } else if (bd.pending !== null) again = true;
      else if (bd.state === 'Paused' && b.state === 'Running') {
        restartBinding(n, bd);
        again = true;
      }
    }
    if (again) n.kernel.queueWork(item);
  },
};

export function queueRebind(n: Ndis, p: ProtocolDriverBlock): void {
  n.kernel.queueWork(new WorkItem(rebinder, 'ndis', p));
}

// ------------------------------------------------ NdisDeregisterProtocolDriver

/**
 * The entry points NDIS calls in a registered protocol driver: NdisDeregisterProtocolDriver
 * from one of them waits for the driver's bindings to close while NDIS waits for that
 * handler to return (nf-ndis-ndisderegisterprotocoldriver: a deadlock).
 */
export const protocolEntryPoints = [
  'ProtocolSetOptions',
  'ProtocolBindAdapterEx',
  'ProtocolUnbindAdapterEx',
  'ProtocolOpenAdapterCompleteEx',
  'ProtocolCloseAdapterCompleteEx',
  'ProtocolNetPnPEvent',
  'ProtocolOidRequestComplete',
  'ProtocolDirectOidRequestComplete',
  'ProtocolStatusEx',
  'ProtocolReceiveNetBufferLists',
  'ProtocolSendNetBufferListsComplete',
] as const;

/** The bindings of `p`, over every adapter. */
function bindingsOf(n: Ndis, p: ProtocolDriverBlock): Binding[] {
  const out: Binding[] = [];
  for (const b of n.adapters) for (const bd of b.bindings) if (bd.protocol === p) out.push(bd);
  return out;
}

/**
 * A binding NDIS can take the next step of unbinding now: nothing of it pending, and no
 * stack operation of its adapter under way (a teardown unbinds it itself; a bring-up,
 * restack or power change ends first).
 */
function unbindStepReady(bd: Binding): boolean {
  return bd.block.op === null && bd.pending === null && (bd.state === 'Running' || bd.state === 'Paused');
}

/**
 * NdisDeregisterProtocolDriver with bindings open (nf-ndis-ndisderegisterprotocoldriver):
 * NDIS unbinds each, in the caller's thread, as for any unbind (R7.3): a Running binding
 * is paused first (NetEventPause), then ProtocolUnbindAdapterEx. What pends (a pause, an
 * unbind, a close) or waits for a stack operation of the adapter, the call waits for, as
 * a blocking wait does (NdisWaitEvent): other threads run meanwhile, and NDIS's watchdog
 * over a pended unbind (R7.13) runs too. Returns once `p` has no binding left.
 */
export function unbindAllOf(n: Ndis, p: ProtocolDriverBlock, ddi: string): void {
  const machine = n.kernel.machine;
  for (;;) {
    const left = bindingsOf(n, p);
    if (left.length === 0) return;
    const ready = left.find(unbindStepReady);
    if (ready !== undefined) {
      if (ready.state === 'Running') pauseBinding(n, ready, NDIS_PAUSE_UNBIND_PROTOCOL);
      else unbindBinding(n, ready);
      continue;
    }
    // Nothing to do in this thread: wait until a binding is ready or gone.
    if (machine.waitsFull)
      throw new NotModelledError(
        ddi,
        `waiting for the unbinds of ${p.name} at the model's deepest wait (limits.waitNestingMax)`,
      );
    const count = left.length;
    const moved = (): boolean => {
      const now = bindingsOf(n, p);
      return now.length < count || now.some(unbindStepReady);
    };
    waitInNdisThread(n, ddi, moved, null);
    if (machine.stopped !== null) return;
  }
}

// ------------------------------------------------------- service stop, unload

/**
 * A protocol driver's service stops (scenario `stop-protocol`, like `net stop`): the I/O
 * manager calls its Unload routine (DRIVER_OBJECT.DriverUnload) at PASSIVE, whose work
 * is NdisDeregisterProtocolDriver (initializing-a-protocol-driver), which unbinds it
 * from every adapter inside the call. A driver without an Unload routine cannot be
 * unloaded (nc-wdm-driver_unload: the routine is optional for a driver that is not
 * WDM, and without it the driver stays): the stop fails and nothing changes. An
 * intermediate driver that left the field alone has NDIS's Unload routine there, which
 * calls its MiniportDriverUnload (R2.16, R7.11). After the routine returns, what the
 * driver still holds is a leak.
 */
export function stopProtocolService(n: Ndis, name: string): void {
  const p = n.protocolDrivers?.get(name);
  if (!n.protocolInstalls.includes(name) || p === undefined || p.unloaded) {
    if (n.trace.on)
      n.traceNdis(
        null,
        `protocol driver ${name} ${p !== undefined && !p.unloaded && !n.protocolInstalls.includes(name) ? 'is stopping already' : 'is not running'}`,
        {},
      );
    return;
  }
  // The miniport edge an intermediate driver registered on the same DRIVER_OBJECT
  // (NdisMRegisterMiniportDriver): NDIS installed its own Unload routine in that object,
  // which calls the driver's MiniportDriverUnload (nc-ndis-miniport_unload;
  // unloading-an-intermediate-driver: NDIS calls MiniportDriverUnload to unload an
  // intermediate driver). A driver that wrote DRIVER_OBJECT.DriverUnload itself after
  // registering replaced NDIS's routine: the I/O manager calls the driver's (R7.11, R2.16).
  const edge = p.imMiniport ?? miniportEdgeOf(n, p);
  const own = p.driverObject.DriverUnload;
  const viaNdis = own === undefined && edge !== null;
  const unload = viaNdis ? edge.chars.UnloadHandler : own;
  if (unload === undefined) {
    n.verifier.warn(
      'R7.11',
      'DriverUnload',
      null,
      `${name} has no Unload routine (DRIVER_OBJECT.DriverUnload): its service cannot stop, and the driver stays loaded and bound (nc-wdm-driver_unload)`,
    );
    return;
  }
  // The I/O manager's thread would run beside a blocked one; here it would run nested
  // above it, and an unbind that waits for that thread would deadlock the model
  // (docs/model.md "Blocking and busy waits"). An IO_WORKITEM of the driver queued or
  // running holds its DRIVER_OBJECT: the driver cannot unload until its routine returns
  // (releasing-driver-allocated-resources). Either way it tries again later.
  // A handle of the application to one of its devices, or a request on one, holds the
  // driver too: the I/O manager calls Unload once none is left, and meanwhile opens
  // none (unload-routine-environment).
  const io = n.io?.ioDrivers.get(p.driverObject) ?? null;
  const referenced = io === null ? null : referencedDevice(n, io);
  if (n.threadsBlocked || p.ioRefs > 0 || referenced !== null) {
    const why = n.threadsBlocked
      ? 'a driver thread is blocked in a wait'
      : p.ioRefs > 0
        ? 'an IO_WORKITEM of the driver is queued or running'
        : `the application has a handle to ${referenced!.name} open, or a request on it (unload-routine-environment)`;
    if (n.trace.on && p.stopWaits !== why)
      n.traceNdis(null, `protocol driver ${name}: its Unload waits: ${why}`, {});
    if (io !== null && referenced !== null) io.unloadPending = true;
    p.stopWaits = why;
    n.protocolStopper ??= new IoManagerThread(n, retryStop);
    n.kernel.machine.after(stopRetryNs, n.protocolStopper, 0, name);
    return;
  }
  n.protocolInstalls.splice(n.protocolInstalls.indexOf(name), 1);
  const routine = viaNdis ? 'MiniportDriverUnload' : 'DriverUnload';
  if (viaNdis && n.trace.on)
    n.traceNdis(null, `${name}: NDIS's Unload routine calls its MiniportDriverUnload`, {});
  const f = n.enter(null, name, routine, Irql.Passive);
  let returned: unknown;
  try {
    returned = unload(p.driverObject);
  } catch (e) {
    n.driverThrew(e, routine, null);
  }
  n.leaveVoid(f, returned);
  p.unloaded = true;
  if (edge !== null) imImageUnloaded(n, edge, routine);
  if (!p.deregistered) {
    const left = bindingsOf(n, p).length;
    n.verifier.report(
      'NdisSim_ProtocolUnload',
      'DriverUnload',
      null,
      `${name}: its Unload routine returned without NdisDeregisterProtocolDriver${left > 0 ? `, with ${left} binding(s) still open` : ''}: NDIS keeps calling a driver whose code is gone (initializing-a-protocol-driver)`,
    );
    // The model binds it no more; bindings left stay as they are.
    n.dropProtocolBinds(p);
  }
  unloadLeaks(n, p);
}

/**
 * An intermediate driver's Unload routine returned: its one image is gone, the miniport
 * edge's code with it (its MiniportDriverUnload is that routine: no second call comes,
 * R2.16). A miniport edge left registered is warned of, as after MiniportDriverUnload;
 * what its driver handle still holds is checked as at MiniportDriverUnload.
 */
function imImageUnloaded(n: Ndis, m: MiniportDriverBlock, routine: string): void {
  if (m.unloaded) return;
  m.unloaded = true;
  if (!m.deregistered)
    n.verifier.warn(
      'R2.16',
      routine,
      null,
      `${m.name}: its ${routine === 'DriverUnload' ? 'Unload routine' : 'MiniportDriverUnload'} returned without NdisMDeregisterMiniportDriver for its miniport edge (unloading-an-intermediate-driver)`,
    );
  if (m.adapterCount === 0) n.drivers.delete(m.name);
  if (m.timers !== null || m.workItems !== null) n.checkObjectsAtUnload(m, routine);
}

/**
 * The miniport edge a protocol driver's DriverEntry registered on its own DRIVER_OBJECT
 * with NDIS_INTERMEDIATE_DRIVER, associated (NdisIMAssociateMiniport) or not; null for a
 * plain protocol driver.
 */
function miniportEdgeOf(n: Ndis, p: ProtocolDriverBlock): MiniportDriverBlock | null {
  const m = n.drivers.get(p.name);
  return m?.intermediate && !m.unloaded && m.driverObject === p.driverObject ? m : null;
}

/** How soon a service stop that waits for blocked threads tries again. */
const stopRetryNs = 1_000_000;

/** A service stop that waited for blocked threads, run from the I/O manager's thread. */
function retryStop(n: Ndis, name: unknown): void {
  stopProtocolService(n, name as string);
}

/** What an unloaded protocol driver still holds (R8.4, R8.8, Driver Verifier's pool tracking). */
function unloadLeaks(n: Ndis, p: ProtocolDriverBlock): void {
  if (p.timers !== null || p.workItems !== null) n.checkObjectsAtUnload(p, 'DriverUnload');
  if (p.pools !== null && p.pools.length > 0) {
    const pool = p.pools[0]!;
    n.verifier.report(
      'NdisSim_ResourceNotFreed',
      'DriverUnload',
      null,
      `${p.name}: its Unload routine returned without freeing ${p.pools.length} NBL pool(s) allocated with its NdisProtocolHandle (NdisFreeNetBufferListPool; ${p.pools.length > 1 ? 'the first ' : ''}allocated in ${placeText(pool.madeIn, pool.madeNs)})`,
      undefined,
      undefined,
      pool.origin(),
    );
    p.pools.length = 0;
  }
  n.checkLeftAtUnload(p, 'DriverUnload');
  // Its own control devices (IoCreateDevice): the Unload routine deletes them.
  const own = n.io?.ioDrivers.get(p.driverObject);
  const left = own === undefined ? [] : liveDevices(n, own);
  if (left.length > 0)
    n.verifier.report(
      'NdisSim_DeviceNotDeregistered',
      'DriverUnload',
      null,
      `${p.name}: its Unload routine returned with ${left.map((d) => d.name).join(', ')} not deleted (IoDeleteDevice, and IoDeleteSymbolicLink for its link): Windows cannot unload a driver that still has a device object`,
    );
  // Its links (IoCreateSymbolicLink) to a device it deleted: IoDeleteDevice leaves them
  // in the object manager, naming a device that is gone, and the driver's next start
  // cannot make them again. (A device left is reported above, its link with it.)
  const links = own === undefined ? [] : danglingLinks(n, own);
  if (links.length > 0)
    n.verifier.report(
      'NdisSim_ResourceNotFreed',
      'DriverUnload',
      null,
      `${p.name}: its Unload routine returned with the symbolic link ${links.join(', ')} to its device not deleted (IoDeleteSymbolicLink, before IoDeleteDevice): IoDeleteDevice does not remove it, so the name outlives the driver and its next IoCreateSymbolicLink fails with STATUS_OBJECT_NAME_COLLISION (an Unload routine undoes what DriverEntry did: unload-routine-functionality)`,
    );
}

// ------------------------------------------------------ global net PnP events

/**
 * NDIS has bound the protocol drivers waiting for NetEventBindsComplete to every adapter
 * there is: no device start is under way or queued at the PnP manager, no adapter's
 * bring-up is still before its protocols' binds, and none of their binds is still
 * opening. Returns true once each waiting driver got its indication queued.
 */
export function checkBindsComplete(n: Ndis): boolean {
  if (n.pnp.startsPending()) return false;
  for (const b of n.adapters) {
    const op = b.op;
    if (op?.kind === 'bring-up' && (op.step === 'init' || op.step === 'attach' || op.step === 'bind'))
      return false;
    for (const bd of b.bindings)
      if (bd.state === 'Opening' && (bd.protocol as ProtocolDriverBlock).bindsComplete === 'waiting')
        return false;
  }
  for (const p of n.protocols)
    if (p instanceof ProtocolDriverBlock && p.bindsComplete === 'waiting') {
      p.bindsComplete = 'sent';
      n.kernel.queueWork(new WorkItem(bindsCompleter, 'ndis', p));
    }
  return true;
}

/**
 * NDIS's worker indicates NetEventBindsComplete: ProtocolNetPnPEvent at PASSIVE with a
 * NULL ProtocolBindingContext and a NULL buffer (ns-netpnp-_net_pnp_event).
 */
const bindsCompleter: WorkRoutine = {
  runWork(item: WorkItem): void {
    const p = item.arg as ProtocolDriverBlock;
    if (p.deregistered) return;
    globalNetPnPEvent(p, NetEventBindsComplete);
  },
};

const globalEventNames: Readonly<Record<number, string>> = {
  [NetEventBindsComplete]: 'NetEventBindsComplete',
};

/**
 * ProtocolNetPnPEvent for an event of all the driver's bindings: ProtocolBindingContext
 * NULL (nc-ndis-protocol_net_pnp_event). The driver should return SUCCESS; a driver that
 * reads its binding context there throws, and the exception says where it came from.
 */
function globalNetPnPEvent(p: ProtocolDriverBlock, event: number): void {
  const n: Ndis = p.ndis;
  const name = globalEventNames[event]!;
  const note: NET_PNP_EVENT_NOTIFICATION = {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1 },
    PortNumber: 0,
    NetPnPEvent: { NetEvent: event, Buffer: null, BufferLength: 0 },
  };
  const fn = 'ProtocolNetPnPEvent';
  const f = n.enter(
    null,
    p.name,
    fn,
    Irql.Passive,
    n.trace.on ? { ProtocolBindingContext: 'NULL', NetEvent: name } : undefined,
  );
  let s: number;
  try {
    s = p.chars.NetPnPEventHandler(null, note);
  } catch (e) {
    n.driverThrew(
      e,
      fn,
      null,
      `; NDIS called it for ${name} with a NULL ProtocolBindingContext, as for every global event (nc-ndis-protocol_net_pnp_event)`,
    );
  }
  n.leave(f, s);
  if (s === NDIS_STATUS_PENDING)
    throw new NotModelledError(
      fn,
      `${p.name} returned NDIS_STATUS_PENDING for ${name}: the model waits for a pended event only on a binding, not for a global one (NULL ProtocolBindingContext)`,
    );
  if (s !== NDIS_STATUS_SUCCESS)
    n.verifier.warn(
      'R7.1',
      fn,
      null,
      `${p.name} returned ${statusName(s)} for ${name}: a protocol driver should always succeed it (nc-ndis-protocol_net_pnp_event)`,
    );
}
