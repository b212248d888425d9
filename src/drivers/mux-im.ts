// mux-im: an NDIS 6 intermediate driver in the shape of the Windows-driver-samples MUX
// driver (network/ndis/mux), cut down: one virtual miniport (a VELAN)
// over each adapter its protocol edge binds to. Written only against ndis-sim's public
// API, as a user would.
//
// - DriverEntry registers the miniport edge with NDIS_INTERMEDIATE_DRIVER, then the
//   protocol edge, and ties them together with NdisIMAssociateMiniport.
// - ProtocolBindAdapterEx opens the adapter below; once the open is complete it asks
//   NDIS for the VELAN with NdisIMInitializeDeviceInstanceEx, passing its binding as
//   DeviceContext, which comes back as IMDeviceInstanceContext in MiniportInitializeEx.
//   The VELAN's device instance is named after the adapter below ("nic0-velan"; the
//   sample reads the names from its binding's UpperBindings registry value).
// - ProtocolUnbindAdapterEx gives the VELAN up: NdisIMDeInitializeDeviceInstance once
//   MiniportInitializeEx ran, else NdisIMCancelInitializeDeviceInstance. It returns
//   NDIS_STATUS_PENDING; the VELAN's MiniportHaltEx (NdisHaltDeviceInstanceDeInitialized)
//   closes the binding below and completes the unbind (the sample's unbind thread waits
//   for the halt instead). So the adapter below is halted only after the VELAN.
//
// - Data crosses the edges in clones (NdisAllocateCloneNetBufferList), each with its
//   original in ParentNetBufferList: a send to the VELAN goes down the binding below as
//   a clone from the protocol edge's pool, and its completion frees the clone and
//   completes the original above (NdisMSendNetBufferListsComplete); a receive from below
//   goes up the VELAN as a clone from the VELAN's pool (NdisMIndicateReceiveNetBufferLists),
//   and its return frees the clone and returns the original below. The model's NDIS
//   takes a protocol's sends only from the protocol's own pools (R6.9), and a clone is
//   the cheapest NBL of its own that carries the same data.
// - Teardown: a send while the binding below is not running completes at once with
//   NDIS_STATUS_PAUSED; a receive while the VELAN is not running goes straight back.
//   The VELAN's MiniportPause pends until its sends below are complete and its receives
//   above are returned (NdisMPauseComplete); the pause of the binding below
//   (NetEventPause) pends for the same, and a work item of the VELAN completes it at
//   PASSIVE (NdisCompleteNetPnPEvent).
// - OID requests: the VELAN answers the sets of its packet filter and multicast list
//   itself and passes queries below as copies (NdisOidRequest), completing the original
//   with the answer (NdisMOidRequestComplete when the copy pended).
//
// `ImMistakes` switches on one mistake at a time (the gallery).

import {
  type DRIVER_OBJECT,
  type DriverModule,
  MediaConnectStateConnected,
  MediaDuplexStateFull,
  type NDIS_HANDLE,
  NDIS_INTERMEDIATE_DRIVER,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_OPEN_PARAMETERS,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_OID_REQUEST_REVISION_1,
  NDIS_OPEN_PARAMETERS_REVISION_1,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_SPIN_LOCK,
  type NDIS_STATUS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  type NDIS_STRING,
  NdisAcquireSpinLock,
  NdisAllocateCloneNetBufferList,
  NdisAllocateIoWorkItem,
  NdisAllocateNetBufferListPool,
  NdisAllocateSpinLock,
  NdisCloseAdapterEx,
  NdisCompleteBindAdapterEx,
  NdisCompleteNetPnPEvent,
  NdisCompleteUnbindAdapterEx,
  NdisDeregisterProtocolDriver,
  NdisFreeCloneNetBufferList,
  NdisFreeIoWorkItem,
  NdisFreeNetBufferListPool,
  NdisFreeSpinLock,
  NdisIMAssociateMiniport,
  NdisIMCancelInitializeDeviceInstance,
  NdisIMDeInitializeDeviceInstance,
  NdisIMInitializeDeviceInstanceEx,
  NdisInterfaceInternal,
  NdisMDeregisterMiniportDriver,
  NdisMedium802_3,
  NdisMIndicateReceiveNetBufferLists,
  NdisMNetPnPEvent,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMRegisterMiniportDriver,
  NdisMRemoveMiniport,
  NdisMSendNetBufferListsComplete,
  NdisMSetMiniportAttributes,
  NdisOidRequest,
  NdisOpenAdapterEx,
  NdisQueueIoWorkItem,
  NdisRegisterProtocolDriver,
  NdisReleaseSpinLock,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  NdisReturnNetBufferLists,
  NdisSendNetBufferLists,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  type NET_PNP_EVENT_NOTIFICATION,
  NetEventCancelRemoveDevice,
  NetEventPause,
  NetEventQueryRemoveDevice,
  NetEventRestart,
  oidRequestData,
} from '../index.ts';
import { type AddressingState, setAddressingOid, supportedPacketFilters } from './common.ts';

/** One mistake each; the reference driver has none. */
export interface ImMistakes {
  /**
   * The unbind gives the VELAN up with NdisMRemoveMiniport instead of
   * NdisIMDeInitializeDeviceInstance (R5.23), as a physical miniport would.
   */
  removeMiniportOnUnbind?: boolean;
  /** The bind asks for the VELAN while it holds the spin lock of its list of bindings. */
  initUnderLock?: boolean;
  /** Not a mistake: MiniportInitializeEx refuses the VELAN with this status (a bad configuration, say). */
  initializeStatus?: NDIS_STATUS;
  /**
   * ProtocolNetPnPEvent passes NetEventPause and NetEventRestart of the binding below up
   * to the VELAN with NdisMNetPnPEvent, which the page forbids (NdisSim_IMNetPnPEvent).
   */
  propagatePause?: boolean;
  /** DriverEntry registers both edges but never calls NdisIMAssociateMiniport (NdisSim_IMDeviceInstance). */
  noAssociate?: boolean;
  /** The unbind calls NdisIMDeInitializeDeviceInstance twice (NdisSim_IMDeviceInstance). */
  deinitTwice?: boolean;
  /** MiniportHaltEx calls NdisIMDeInitializeDeviceInstance for its own VELAN (NdisSim_IMDeviceInstance). */
  deinitInHalt?: boolean;
  /**
   * The unbind closes the binding below and never gives the VELAN up: the VELAN runs on
   * over a closed binding (R5.23's warning), and after the service stop the driver's
   * code is gone with its VELAN still up.
   */
  unbindSkipsDeinit?: boolean;
  /**
   * The unbind calls NdisIMDeInitializeDeviceInstance and closes the binding below at
   * once, as code written for Windows' call (which returns once the VELAN is halted)
   * does; in the model the close comes before the halt (docs/decisions.md).
   */
  assumeSyncDeinit?: boolean;
  /**
   * Not a mistake: DriverEntry writes DRIVER_OBJECT.DriverUnload itself after registering,
   * replacing NDIS's Unload routine with its MiniportDriverUnload's work, so the I/O
   * manager calls it directly when the service stops (R7.11).
   */
  ownDriverUnload?: boolean;
  /** The statuses its IM DDIs returned, for tests. */
  log?: string[];
}

/** A binding of the protocol edge to an adapter below, and its VELAN. */
interface Lower {
  handle: NDIS_HANDLE | null;
  /** Restarted and not paused (NetEventRestart, NetEventPause): sends may go down. */
  running: boolean;
  /** Clones sent down and not complete. */
  sendsBelow: number;
  /** Receives from below held: their clones are above, not returned yet. */
  held: number;
  /** A NetEventPause pended until neither sends nor receives are out. */
  pausing: NET_PNP_EVENT_NOTIFICATION | null;
  /** Its completion is queued (the VELAN's work item). */
  pauseQueued: boolean;
  bindContext: NDIS_HANDLE;
  /** While its unbind waits for the VELAN's halt. */
  unbindContext: NDIS_HANDLE | null;
  /** NdisCloseAdapterEx was called (assumeSyncDeinit closes before the halt). */
  closeCalled: boolean;
  /** The VELAN's device instance (DriverInstance). */
  instance: NDIS_STRING;
  instanceName: string;
  mac: readonly number[];
  linkSpeed: number;
  /** NdisIMInitializeDeviceInstanceEx succeeded and no cancel or halt ended it. */
  velanRequested: boolean;
  velan: Velan | null;
}

/** The VELAN: the miniport edge's adapter context. */
interface Velan extends AddressingState {
  handle: NDIS_HANDLE;
  lower: Lower;
  /** HaltAction of the last MiniportHaltEx (for tests). */
  haltAction: number | null;
  /** The pool of its receive clones (allocated with its adapter handle). */
  pool: NDIS_HANDLE | null;
  /** Completes the pause of the binding below at PASSIVE. */
  workItem: NDIS_HANDLE | null;
  /** Restarted and not paused: receives go up. */
  running: boolean;
  /** MiniportPause returned NDIS_STATUS_PENDING. */
  pausing: boolean;
  /** Sends from above not complete yet. */
  sends: number;
  /** Receive clones indicated up and not returned. */
  receives: number;
  /** Counters for tests. */
  forwardedOids: number;
  forwardedSends: number;
  forwardedReceives: number;
}

interface MuxDriver {
  miniport: NDIS_HANDLE | null;
  protocol: NDIS_HANDLE | null;
  /** The protocol edge's pool of send clones. */
  sendPool: NDIS_HANDLE | null;
  /** Guards `bindings` (initUnderLock). */
  lock: NDIS_SPIN_LOCK;
  bindings: Lower[];
}

/** A counted UTF-16 string of `text` (what RtlInitUnicodeString would build). */
function ndisString(text: string): NDIS_STRING {
  const Buffer = new Uint8Array(2 * text.length + 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    Buffer[2 * i] = c & 0xff;
    Buffer[2 * i + 1] = c >> 8;
  }
  return { Length: 2 * text.length, MaximumLength: Buffer.length, Buffer };
}

/** The adapter's name: the last key of the binding's registry section. */
function adapterOf(protocolSection: string): string {
  const i = protocolSection.lastIndexOf('\\');
  return i < 0 ? protocolSection : protocolSection.slice(i + 1);
}

/** A query's answer, from the copy that went down to the original. */
function copyQueryAnswer(down: NDIS_OID_REQUEST, up: NDIS_OID_REQUEST): void {
  const a = down.DATA.QUERY_INFORMATION;
  const b = up.DATA.QUERY_INFORMATION;
  b.InformationBuffer = a.InformationBuffer;
  b.BytesWritten = a.BytesWritten;
  b.BytesNeeded = a.BytesNeeded;
}

/** A pool of clones: NBLs without NET_BUFFERs or data of their own. */
const clonePoolParameters = {
  Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
  ProtocolId: 0,
  fAllocateNetBuffer: false,
  ContextSize: 0,
  PoolTag: 0x78754d49, // 'IMux'
  DataSize: 0,
};

/** The intermediate driver, with `mistakes` switched on; `name` is its service name. */
export function muxIntermediate(name: string, description: string, mistakes: ImMistakes = {}): DriverModule {
  return {
    name,
    description,
    load: () => {
      const d: MuxDriver = {
        miniport: null,
        protocol: null,
        sendPool: null,
        lock: new NDIS_SPIN_LOCK(),
        bindings: [],
      };

      /** The binding below is open: ask NDIS for its VELAN. */
      const startVelan = (l: Lower): void => {
        NdisAcquireSpinLock(d.lock);
        d.bindings.push(l);
        // The mistake: the PASSIVE-only request under the lock.
        if (mistakes.initUnderLock) requestVelan(l);
        NdisReleaseSpinLock(d.lock);
        if (!mistakes.initUnderLock) requestVelan(l);
      };

      const requestVelan = (l: Lower): void => {
        const s = NdisIMInitializeDeviceInstanceEx(d.miniport!, l.instance, l);
        l.velanRequested = s === NDIS_STATUS_SUCCESS;
      };

      /** The binding leaves the driver's list. */
      const forget = (l: Lower): void => {
        NdisAcquireSpinLock(d.lock);
        const i = d.bindings.indexOf(l);
        if (i >= 0) d.bindings.splice(i, 1);
        NdisReleaseSpinLock(d.lock);
      };

      /** The VELAN is gone (or never came): close the binding below and finish the unbind. */
      const closeLower = (l: Lower): void => {
        l.closeCalled = true;
        const s = NdisCloseAdapterEx(l.handle!);
        // PENDING: ProtocolCloseAdapterCompleteEx completes the unbind.
        if (s !== NDIS_STATUS_PENDING) finishUnbind(l);
      };

      const finishUnbind = (l: Lower): void => {
        forget(l);
        const u = l.unbindContext;
        l.unbindContext = null;
        if (u !== null) NdisCompleteUnbindAdapterEx(u);
      };

      // ------------------------------------------------------- miniport edge (VELAN)

      const initialize = (
        MiniportAdapterHandle: NDIS_HANDLE,
        _driverContext: MuxDriver,
        p: NDIS_MINIPORT_INIT_PARAMETERS,
      ): NDIS_STATUS => {
        const l = p.IMDeviceInstanceContext as Lower;
        // The binding below is going away already (its cancel came too late): no VELAN.
        if (l.unbindContext !== null) {
          l.velanRequested = false;
          closeLower(l);
          return NDIS_STATUS_FAILURE;
        }
        if (mistakes.initializeStatus !== undefined) return mistakes.initializeStatus;
        const v: Velan = {
          handle: MiniportAdapterHandle,
          lower: l,
          haltAction: null,
          pool: null,
          workItem: null,
          running: false,
          pausing: false,
          sends: 0,
          receives: 0,
          forwardedOids: 0,
          forwardedSends: 0,
          forwardedReceives: 0,
          packetFilter: 0,
          multicast: [],
        };
        let s = NdisMSetMiniportAttributes(MiniportAdapterHandle, {
          Header: {
            Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
          },
          MiniportAdapterContext: v,
          InterfaceType: NdisInterfaceInternal,
        });
        if (s !== NDIS_STATUS_SUCCESS) return s;
        s = NdisMSetMiniportAttributes(MiniportAdapterHandle, {
          Header: {
            Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
            Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
          },
          MediaType: NdisMedium802_3,
          MtuSize: 1500,
          MaxXmitLinkSpeed: l.linkSpeed,
          MaxRcvLinkSpeed: l.linkSpeed,
          XmitLinkSpeed: l.linkSpeed,
          RcvLinkSpeed: l.linkSpeed,
          MediaConnectState: MediaConnectStateConnected,
          MediaDuplexState: MediaDuplexStateFull,
          LookaheadSize: 1500,
          MacAddressLength: 6,
          PermanentMacAddress: [...l.mac],
          CurrentMacAddress: [...l.mac],
          MaxMulticastListSize: 32,
          SupportedPacketFilters: supportedPacketFilters,
        });
        if (s !== NDIS_STATUS_SUCCESS) return s;
        v.pool = NdisAllocateNetBufferListPool(MiniportAdapterHandle, clonePoolParameters);
        if (v.pool === null) return NDIS_STATUS_RESOURCES;
        v.workItem = NdisAllocateIoWorkItem(MiniportAdapterHandle);
        if (v.workItem === null) {
          NdisFreeNetBufferListPool(v.pool);
          return NDIS_STATUS_RESOURCES;
        }
        l.velan = v;
        return NDIS_STATUS_SUCCESS;
      };

      const halt = (v: Velan, HaltAction: number): void => {
        v.haltAction = HaltAction;
        if (v.pool !== null) NdisFreeNetBufferListPool(v.pool);
        v.pool = null;
        if (v.workItem !== null) NdisFreeIoWorkItem(v.workItem);
        v.workItem = null;
        if (mistakes.deinitInHalt)
          mistakes.log?.push(`deinit in halt: ${NdisIMDeInitializeDeviceInstance(v.handle)}`);
        const l = v.lower;
        l.velan = null;
        l.velanRequested = false;
        // The unbind below waits for this halt (NdisIMDeInitializeDeviceInstance).
        if (l.unbindContext !== null && !l.closeCalled) closeLower(l);
      };

      /** A paused VELAN with nothing out completes its pause. */
      const maybePaused = (v: Velan): void => {
        if (v.pausing && v.sends === 0 && v.receives === 0) {
          v.pausing = false;
          NdisMPauseComplete(v.handle);
        }
      };

      /** The binding below has nothing out: a pended NetEventPause completes, at PASSIVE. */
      const maybeDrained = (l: Lower): void => {
        if (l.pausing === null || l.pauseQueued || l.sendsBelow > 0 || l.held > 0) return;
        l.pauseQueued = true;
        NdisQueueIoWorkItem(l.velan!.workItem!, completePause, l);
      };

      const completePause = (l: Lower): void => {
        const note = l.pausing!;
        l.pausing = null;
        l.pauseQueued = false;
        NdisCompleteNetPnPEvent(l.handle!, note, NDIS_STATUS_SUCCESS);
      };

      const pause = (v: Velan): NDIS_STATUS => {
        v.running = false;
        if (v.sends === 0 && v.receives === 0) return NDIS_STATUS_SUCCESS;
        v.pausing = true;
        return NDIS_STATUS_PENDING;
      };

      const restart = (v: Velan): NDIS_STATUS => {
        v.running = true;
        return NDIS_STATUS_SUCCESS;
      };

      /** MiniportSendNetBufferLists: each NBL goes down as a clone; what cannot go completes now. */
      const send = (v: Velan, chain: NET_BUFFER_LIST, _port: number, flags: number): void => {
        const l = v.lower;
        const dispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
        let down: NET_BUFFER_LIST | null = null;
        let downTail: NET_BUFFER_LIST | null = null;
        let failed: NET_BUFFER_LIST | null = null;
        let count = 0;
        let x: NET_BUFFER_LIST | null = chain;
        while (x !== null) {
          const next: NET_BUFFER_LIST | null = x.Next;
          x.Next = null;
          const clone =
            l.running && l.handle !== null && d.sendPool !== null
              ? NdisAllocateCloneNetBufferList(x, d.sendPool, null, 0)
              : null;
          if (clone === null) {
            x.Status = l.running ? NDIS_STATUS_RESOURCES : NDIS_STATUS_PAUSED;
            x.Next = failed;
            failed = x;
          } else {
            clone.ParentNetBufferList = x;
            clone.SourceHandle = l.handle;
            if (downTail === null) down = clone;
            else downTail.Next = clone;
            downTail = clone;
            count++;
          }
          x = next;
        }
        if (failed !== null)
          NdisMSendNetBufferListsComplete(
            v.handle,
            failed,
            dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
          );
        if (down === null) return;
        v.sends += count;
        v.forwardedSends += count;
        l.sendsBelow += count;
        NdisSendNetBufferLists(l.handle!, down, 0, dispatch ? NDIS_SEND_FLAGS_DISPATCH_LEVEL : 0);
      };

      /** ProtocolSendNetBufferListsComplete: free the clones, complete their originals above. */
      const sendComplete = (l: Lower, chain: NET_BUFFER_LIST, flags: number): void => {
        let up: NET_BUFFER_LIST | null = null;
        let count = 0;
        let x: NET_BUFFER_LIST | null = chain;
        while (x !== null) {
          const next: NET_BUFFER_LIST | null = x.Next;
          const original = x.ParentNetBufferList!;
          original.Status = x.Status;
          NdisFreeCloneNetBufferList(x, 0);
          original.Next = up;
          up = original;
          count++;
          x = next;
        }
        l.sendsBelow -= count;
        const v = l.velan!;
        v.sends -= count;
        NdisMSendNetBufferListsComplete(
          v.handle,
          up,
          (flags & NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL) !== 0
            ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL
            : 0,
        );
        maybePaused(v);
        maybeDrained(l);
      };

      /** ProtocolReceiveNetBufferLists: each NBL goes up the VELAN as a clone, or straight back. */
      const receive = (l: Lower, chain: NET_BUFFER_LIST, flags: number): void => {
        const v = l.velan;
        const resources = (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
        const returnFlags =
          (flags & NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL) !== 0 ? NDIS_RETURN_FLAGS_DISPATCH_LEVEL : 0;
        // A pausing binding below takes no more up: its pause waits for what is above.
        if (v === null || !v.running || !l.running || v.pool === null) {
          // What is not NDIS's to take back goes back now.
          if (!resources) NdisReturnNetBufferLists(l.handle!, chain, returnFlags);
          return;
        }
        let up: NET_BUFFER_LIST | null = null;
        let upTail: NET_BUFFER_LIST | null = null;
        let back: NET_BUFFER_LIST | null = null;
        let count = 0;
        let x: NET_BUFFER_LIST | null = chain;
        while (x !== null) {
          const next: NET_BUFFER_LIST | null = x.Next;
          x.Next = null;
          const clone = NdisAllocateCloneNetBufferList(x, v.pool, null, 0);
          if (clone === null) {
            x.Next = back;
            back = x;
          } else {
            clone.ParentNetBufferList = x;
            clone.SourceHandle = v.handle;
            if (upTail === null) up = clone;
            else upTail.Next = clone;
            upTail = clone;
            count++;
          }
          x = next;
        }
        if (back !== null && !resources) NdisReturnNetBufferLists(l.handle!, back, returnFlags);
        if (up === null) return;
        v.forwardedReceives += count;
        if (resources) {
          // The originals go back below when this handler returns: so do the clones above.
          NdisMIndicateReceiveNetBufferLists(v.handle, up, 0, count, flags);
          for (let c: NET_BUFFER_LIST | null = up; c !== null; ) {
            const next: NET_BUFFER_LIST | null = c.Next;
            NdisFreeCloneNetBufferList(c, 0);
            c = next;
          }
          return;
        }
        v.receives += count;
        l.held += count;
        NdisMIndicateReceiveNetBufferLists(v.handle, up, 0, count, flags);
      };

      /** MiniportReturnNetBufferLists: free the clones, return their originals below. */
      const returnNbls = (v: Velan, chain: NET_BUFFER_LIST, flags: number): void => {
        let back: NET_BUFFER_LIST | null = null;
        let count = 0;
        let x: NET_BUFFER_LIST | null = chain;
        while (x !== null) {
          const next: NET_BUFFER_LIST | null = x.Next;
          const original = x.ParentNetBufferList!;
          NdisFreeCloneNetBufferList(x, 0);
          original.Next = back;
          back = original;
          count++;
          x = next;
        }
        v.receives -= count;
        const l = v.lower;
        l.held -= count;
        NdisReturnNetBufferLists(l.handle!, back!, flags & NDIS_RETURN_FLAGS_DISPATCH_LEVEL);
        maybePaused(v);
        maybeDrained(l);
      };

      /**
       * MiniportOidRequest. The VELAN keeps its own packet filter and multicast list (sets
       * it answers itself, as the sample does); a query goes down the binding below as a
       * copy (NdisOidRequest) that keeps the original in SourceReserved, and its answer
       * is the VELAN's, at once or from ProtocolOidRequestComplete (NdisMOidRequestComplete).
       */
      const oidRequest = (v: Velan, req: NDIS_OID_REQUEST): NDIS_STATUS => {
        if (req.RequestType === NdisRequestSetInformation)
          return setAddressingOid(v, req.DATA.SET_INFORMATION, 32);
        const l = v.lower;
        if (req.RequestType !== NdisRequestQueryInformation || l.handle === null)
          return NDIS_STATUS_NOT_SUPPORTED;
        const q = req.DATA.QUERY_INFORMATION;
        const down: NDIS_OID_REQUEST = {
          Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: NDIS_OID_REQUEST_REVISION_1 },
          RequestType: NdisRequestQueryInformation,
          PortNumber: 0,
          Timeout: 0,
          RequestId: null,
          RequestHandle: null,
          DATA: oidRequestData(q.Oid, q.InformationBuffer, q.InformationBufferLength),
          SupportedRevision: 0,
          MiniportReserved: [null, null],
          SourceReserved: [req, v],
          SwitchId: 0,
          VPortId: 0,
          Flags: 0,
        };
        v.forwardedOids++;
        const s = NdisOidRequest(l.handle, down);
        if (s !== NDIS_STATUS_PENDING) copyQueryAnswer(down, req);
        return s;
      };

      /** ProtocolOidRequestComplete of a forwarded query: the VELAN completes the original. */
      const oidRequestComplete = (_l: Lower, down: NDIS_OID_REQUEST, status: NDIS_STATUS): void => {
        const req = down.SourceReserved[0] as NDIS_OID_REQUEST;
        const v = down.SourceReserved[1] as Velan;
        copyQueryAnswer(down, req);
        NdisMOidRequestComplete(v.handle, req, status);
      };

      // ------------------------------------------------------------- protocol edge

      const bind = (
        drv: MuxDriver,
        BindContext: NDIS_HANDLE,
        p: {
          AdapterName: string;
          ProtocolSection: string;
          CurrentMacAddress: readonly number[];
          XmitLinkSpeed: number;
        },
      ): NDIS_STATUS => {
        const instanceName = `${adapterOf(p.ProtocolSection)}-velan`;
        const l: Lower = {
          handle: null,
          running: false,
          sendsBelow: 0,
          held: 0,
          pausing: null,
          pauseQueued: false,
          bindContext: BindContext,
          unbindContext: null,
          closeCalled: false,
          instance: ndisString(instanceName),
          instanceName,
          mac: p.CurrentMacAddress,
          linkSpeed: p.XmitLinkSpeed,
          velanRequested: false,
          velan: null,
        };
        const r = NdisOpenAdapterEx(
          drv.protocol!,
          l,
          {
            Header: { Type: NDIS_OBJECT_TYPE_OPEN_PARAMETERS, Revision: NDIS_OPEN_PARAMETERS_REVISION_1 },
            AdapterName: p.AdapterName,
            MediumArray: [NdisMedium802_3],
            MediumArraySize: 1,
            SelectedMediumIndex: 0,
            FrameTypeArray: null,
            FrameTypeArraySize: 0,
          },
          BindContext,
        );
        l.handle = r.NdisBindingHandle;
        // PENDING: ProtocolOpenAdapterCompleteEx starts the VELAN and completes the bind.
        if (r.Status === NDIS_STATUS_SUCCESS) startVelan(l);
        return r.Status;
      };

      const unbind = (UnbindContext: NDIS_HANDLE, l: Lower): NDIS_STATUS => {
        l.unbindContext = UnbindContext;
        if (l.velan !== null && mistakes.unbindSkipsDeinit) {
          // The mistake: the VELAN is forgotten, not given up.
          l.velan = null;
          l.velanRequested = false;
        }
        if (l.velan !== null) {
          if (mistakes.removeMiniportOnUnbind) NdisMRemoveMiniport(l.velan.handle);
          else {
            const s = NdisIMDeInitializeDeviceInstance(l.velan.handle);
            if (mistakes.deinitTwice) {
              mistakes.log?.push(`deinit 1: ${s}`);
              // A VELAN whose teardown finished inside the first call is halted: its handle is stale.
              if (l.velan !== null)
                mistakes.log?.push(`deinit 2: ${NdisIMDeInitializeDeviceInstance(l.velan.handle)}`);
            }
            // The mistake: the close as if the VELAN were halted already.
            if (mistakes.assumeSyncDeinit && l.velan !== null) closeLower(l);
          }
          // The VELAN's MiniportHaltEx closes the binding and completes the unbind.
          return NDIS_STATUS_PENDING;
        }
        if (
          l.velanRequested &&
          NdisIMCancelInitializeDeviceInstance(d.miniport!, l.instance) !== NDIS_STATUS_SUCCESS
        )
          // Too late to cancel: MiniportInitializeEx is on its way and sees the unbind.
          return NDIS_STATUS_PENDING;
        l.velanRequested = false;
        const s = NdisCloseAdapterEx(l.handle!);
        if (s === NDIS_STATUS_PENDING) return NDIS_STATUS_PENDING;
        l.unbindContext = null;
        forget(l);
        return NDIS_STATUS_SUCCESS;
      };

      /**
       * ProtocolNetPnPEvent of the binding below. A query-remove of the adapter below is
       * passed up to the VELAN (NdisMNetPnPEvent), and its answer (a veto of the
       * protocols above) is the answer below; a cancel follows it up. The sample's
       * handler waits for its I/O on a NetEventSetPower and passes no event up; NDIS
       * tells the protocols above the VELAN of a system power change itself, since the
       * VELAN is a device of its own, so mux-im does not pass power events up either.
       */
      const netPnPEvent = (l: Lower | null, note: NET_PNP_EVENT_NOTIFICATION): NDIS_STATUS => {
        const code = note.NetPnPEvent.NetEvent;
        if (l !== null && code === NetEventRestart) l.running = true;
        let status: NDIS_STATUS = NDIS_STATUS_SUCCESS;
        if (l !== null && code === NetEventPause) {
          // No more sends go down; the pause waits for the sends under way and for the
          // receives above to come back (R7.2). The sample blocks on an event; mux-im
          // pends and completes from a work item, since the protocols above return
          // their receives in NDIS's worker, the thread that called it here.
          l.running = false;
          if (l.sendsBelow > 0 || l.held > 0) {
            l.pausing = note;
            status = NDIS_STATUS_PENDING;
          }
        }
        const v = l?.velan ?? null;
        if (v === null) return status;
        if (code === NetEventQueryRemoveDevice || code === NetEventCancelRemoveDevice) {
          const s = NdisMNetPnPEvent(v.handle, note);
          return code === NetEventQueryRemoveDevice ? s : NDIS_STATUS_SUCCESS;
        }
        // The mistake: NDIS pauses and restarts the bindings above the VELAN itself.
        if (mistakes.propagatePause && (code === NetEventPause || code === NetEventRestart))
          NdisMNetPnPEvent(v.handle, note);
        return status;
      };

      const unload = (): void => {
        if (d.protocol !== null) NdisDeregisterProtocolDriver(d.protocol);
        d.protocol = null;
        if (d.sendPool !== null) NdisFreeNetBufferListPool(d.sendPool);
        d.sendPool = null;
        if (d.miniport !== null) {
          NdisMDeregisterMiniportDriver(d.miniport);
          NdisFreeSpinLock(d.lock);
        }
        d.miniport = null;
      };

      return {
        DriverEntry: (obj: DRIVER_OBJECT, path: string): NDIS_STATUS => {
          const m = NdisMRegisterMiniportDriver<Velan, MuxDriver>(obj, path, d, {
            Header: {
              Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
              Revision: NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            },
            MajorNdisVersion: 6,
            MinorNdisVersion: 30,
            Flags: NDIS_INTERMEDIATE_DRIVER,
            InitializeHandlerEx: initialize,
            HaltHandlerEx: halt,
            UnloadHandler: () => unload(),
            PauseHandler: pause,
            RestartHandler: restart,
            OidRequestHandler: oidRequest,
            SendNetBufferListsHandler: send,
            ReturnNetBufferListsHandler: returnNbls,
            CancelSendHandler: () => {},
            DevicePnPEventNotifyHandler: () => {},
            ShutdownHandlerEx: () => {},
            CancelOidRequestHandler: () => {},
          });
          if (m.Status !== NDIS_STATUS_SUCCESS) return m.Status;
          d.miniport = m.NdisMiniportDriverHandle;
          NdisAllocateSpinLock(d.lock);
          const p = NdisRegisterProtocolDriver<Lower, MuxDriver>(d, {
            Header: {
              Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
              Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
            },
            MajorNdisVersion: 6,
            MinorNdisVersion: 30,
            Name: name,
            BindAdapterHandlerEx: bind,
            OpenAdapterCompleteHandlerEx: (l, Status) => {
              if (Status === NDIS_STATUS_SUCCESS) startVelan(l);
              NdisCompleteBindAdapterEx(l.bindContext, Status);
            },
            UnbindAdapterHandlerEx: unbind,
            CloseAdapterCompleteHandlerEx: (l) => finishUnbind(l),
            NetPnPEventHandler: netPnPEvent,
            OidRequestCompleteHandler: oidRequestComplete,
            ReceiveNetBufferListsHandler: (l, chain, _port, _count, flags) => receive(l, chain, flags),
            SendNetBufferListsCompleteHandler: sendComplete,
            StatusHandlerEx: () => {},
          });
          if (p.Status !== NDIS_STATUS_SUCCESS) {
            NdisFreeSpinLock(d.lock);
            NdisMDeregisterMiniportDriver(d.miniport!);
            return p.Status;
          }
          d.protocol = p.NdisProtocolHandle;
          d.sendPool = NdisAllocateNetBufferListPool(d.protocol, clonePoolParameters);
          if (!mistakes.noAssociate) NdisIMAssociateMiniport(d.miniport!, d.protocol!);
          // No DRIVER_OBJECT.DriverUnload of its own, as the MUX sample: NdisMRegisterMiniportDriver
          // put NDIS's Unload routine there, which calls MiniportDriverUnload (`unload`: the
          // protocol edge first, which unbinds, then the miniport edge) when the service
          // stops (unloading-an-intermediate-driver, R2.16).
          if (mistakes.ownDriverUnload) obj.DriverUnload = unload;
          return NDIS_STATUS_SUCCESS;
        },
      };
    },
  };
}

/** The reference intermediate driver. */
export const muxIm: DriverModule = muxIntermediate(
  'mux-im',
  'intermediate driver (install it under protocolDrivers:): a virtual miniport (VELAN) over each adapter it binds to',
);
