// vmini: a virtual miniport — the example to copy for a software NIC.
//
// Every vmini adapter of a machine is a port on one virtual hub: a frame sent on
// one adapter is received by all the others. There is no hardware: a one-shot NDIS
// timer plays the transmit DPC (it moves queued frames onto the hub and completes
// the sends) and another the receive DPC (it indicates what the hub delivered, in
// NBLs from a pool allocated at initialization). OID_GEN_STATISTICS is answered
// asynchronously from an I/O work item, so requests are really pending; the other
// OIDs complete at once. Pause waits until every send is complete and every
// indicated NBL is back (R3.3).
//
// The hub lives in the driver context given to NdisMRegisterMiniportDriver, which
// NDIS hands to every MiniportInitializeEx — one hub per machine, no globals.
//
// Registry parameters (scenario `registry:`):
//   FailAfterFrames (0 = never): after receiving this many frames the adapter's hub
//     port fails and the driver gives up on it with NdisMRemoveMiniport (R5.21);
//   StatisticsDelayUs (2000): how long a statistics query takes;
//   ReceiveBuffers (64).
// Written only against ndis-sim's public API, as a user would.

import {
  type DRIVER_OBJECT,
  type DriverModule,
  MediaConnectStateConnected,
  MediaDuplexStateFull,
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  NDIS_ERROR_CODE_HARDWARE_FAILURE,
  type NDIS_HANDLE,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_SIZEOF_STATISTICS_INFO_REVISION_1,
  NDIS_SPIN_LOCK,
  type NDIS_STATUS,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireSpinLock,
  NdisAllocateIoWorkItem,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisCloseConfiguration,
  NdisDevicePnPEventSurpriseRemoved,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeIoWorkItem,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisFreeSpinLock,
  NdisFreeTimerObject,
  NdisInterfaceInternal,
  NdisMDeregisterMiniportDriver,
  NdisMedium802_3,
  NdisMIndicateReceiveNetBufferLists,
  NdisMIndicateStatusEx,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMRegisterMiniportDriver,
  NdisMRemoveMiniport,
  NdisMSendNetBufferListsComplete,
  NdisMSetMiniportAttributes,
  NdisMSleep,
  NdisOpenConfigurationEx,
  NdisQueueIoWorkItem,
  NdisReleaseSpinLock,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  NdisSetTimerObject,
  NdisWriteErrorLogEntry,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  OID_802_3_CURRENT_ADDRESS,
  OID_802_3_PERMANENT_ADDRESS,
  OID_GEN_STATISTICS,
} from '../index.ts';
import {
  linkStateIndication,
  readIntegerParameter,
  setAddressingOid,
  supportedPacketFilters,
} from './common.ts';

/** Adapter status word (guarded by `lock`). */
const fPaused = 1 << 0;
const fSurpriseRemoved = 1 << 1;
const fRemoveInProgress = 1 << 2;
const fHalting = 1 << 3;
/** Timers set whose callback has not started yet. */
const timerTx = 1 << 0;
const timerRx = 1 << 1;
const timerStats = 1 << 2;

const hubQueueFrames = 256;
const frameBytesMax = 1514;
const maxMulticast = 32;
/** Bits per second, each way. */
const linkSpeed = 10_000_000_000;
/** The transmit and receive "DPCs" run this long after they are kicked. */
const dpcDelay100ns = -500; // 50 µs

/** The virtual hub: one per machine, shared by its vmini adapters. */
interface Hub {
  readonly ports: Set<Adapter>;
  nextPort: number;
}

interface Adapter {
  handle: NDIS_HANDLE;
  hub: Hub;
  mac: number[];
  lock: NDIS_SPIN_LOCK;
  status: number;
  armed: number;
  txQueue: NET_BUFFER_LIST[];
  /** Frame lengths the hub delivered, not yet indicated. */
  rxQueue: number[];
  txTimer: NDIS_HANDLE | null;
  rxTimer: NDIS_HANDLE | null;
  statsTimer: NDIS_HANDLE | null;
  rxPool: NDIS_HANDLE | null;
  rxFree: NET_BUFFER_LIST[];
  rxBuffers: number;
  rxOutstanding: number;
  pausePending: boolean;
  oidWork: NDIS_HANDLE | null;
  oidWorkQueued: boolean;
  /** The statistics query being answered by the work item. */
  pendingOid: NDIS_OID_REQUEST | null;
  statisticsDelayUs: number;
  failAfterFrames: number;
  packetFilter: number;
  multicast: number[][];
  xmitOk: number;
  rcvOk: number;
  rcvDropped: number;
}

function toChain(list: NET_BUFFER_LIST[]): NET_BUFFER_LIST | null {
  for (let i = 0; i < list.length; i++) list[i]!.Next = list[i + 1] ?? null;
  return list[0] ?? null;
}

function completeSends(a: Adapter, list: NET_BUFFER_LIST[], status: NDIS_STATUS, atDispatch: boolean): void {
  const chain = toChain(list);
  if (chain === null) return;
  for (let n: NET_BUFFER_LIST | null = chain; n !== null; n = n.Next) n.Status = status;
  NdisMSendNetBufferListsComplete(a.handle, chain, atDispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0);
}

function allocateTimer(a: Adapter, fn: (a: Adapter) => void, bit: number): NDIS_HANDLE | null {
  const t = NdisAllocateTimerObject(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
    AllocationTag: 0x696e6d76, // 'vmni'
    TimerFunction: (_s1, ctx) => {
      const x = ctx as Adapter;
      x.armed &= ~bit;
      fn(x);
    },
    FunctionContext: a,
  });
  return t.TimerObject;
}

/** Sets a one-shot "DPC" timer unless it is already set. */
function kick(a: Adapter, timer: NDIS_HANDLE | null, bit: number): void {
  if (timer === null || a.armed & bit) return;
  a.armed |= bit;
  NdisSetTimerObject(timer, dpcDelay100ns, 0, a);
}

/** R8.6, R8.7: cancel, wait for a callback already queued, free. */
function stopTimer(a: Adapter, timer: NDIS_HANDLE | null, bit: number): void {
  if (timer === null) return;
  if (NdisCancelTimerObject(timer)) a.armed &= ~bit;
  while (a.armed & bit) NdisMSleep(50);
  NdisFreeTimerObject(timer);
}

function initialize(handle: NDIS_HANDLE, driverContext: unknown): NDIS_STATUS {
  const hub = driverContext as Hub;
  let failAfterFrames = 0;
  let statisticsDelayUs = 2000;
  let rxBuffers = 64;
  const cfg = NdisOpenConfigurationEx({
    Header: { Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1 },
    NdisHandle: handle,
    Flags: 0,
  });
  if (cfg.Status === NDIS_STATUS_SUCCESS && cfg.ConfigurationHandle !== null) {
    failAfterFrames = readIntegerParameter(cfg.ConfigurationHandle, 'FailAfterFrames', failAfterFrames);
    statisticsDelayUs = readIntegerParameter(cfg.ConfigurationHandle, 'StatisticsDelayUs', statisticsDelayUs);
    rxBuffers = readIntegerParameter(cfg.ConfigurationHandle, 'ReceiveBuffers', rxBuffers);
    NdisCloseConfiguration(cfg.ConfigurationHandle);
  }
  const port = hub.nextPort++;
  const a: Adapter = {
    handle,
    hub,
    mac: [0x02, 0x76, 0x6d, 0x00, (port >> 8) & 0xff, port & 0xff],
    lock: new NDIS_SPIN_LOCK(),
    status: fPaused,
    armed: 0,
    txQueue: [],
    rxQueue: [],
    txTimer: null,
    rxTimer: null,
    statsTimer: null,
    rxPool: null,
    rxFree: [],
    rxBuffers,
    rxOutstanding: 0,
    pausePending: false,
    oidWork: null,
    oidWorkQueued: false,
    pendingOid: null,
    statisticsDelayUs,
    failAfterFrames,
    packetFilter: 0,
    multicast: [],
    xmitOk: 0,
    rcvOk: 0,
    rcvDropped: 0,
  };
  NdisAllocateSpinLock(a.lock);
  // R2.4: registration attributes first. A virtual miniport has no check-for-hang (R4.1).
  let s = NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
    },
    MiniportAdapterContext: a,
    InterfaceType: NdisInterfaceInternal,
  });
  if (s !== NDIS_STATUS_SUCCESS) return fail(a, s);
  s = NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    },
    MediaType: NdisMedium802_3,
    MtuSize: 1500,
    MaxXmitLinkSpeed: linkSpeed,
    MaxRcvLinkSpeed: linkSpeed,
    XmitLinkSpeed: linkSpeed,
    RcvLinkSpeed: linkSpeed,
    MediaConnectState: MediaConnectStateConnected,
    MediaDuplexState: MediaDuplexStateFull,
    LookaheadSize: 1500,
    MacAddressLength: 6,
    PermanentMacAddress: a.mac,
    CurrentMacAddress: a.mac,
    MaxMulticastListSize: maxMulticast,
    // What OID_GEN_CURRENT_PACKET_FILTER may set (the protocols read it in their bind parameters).
    SupportedPacketFilters: supportedPacketFilters,
  });
  if (s !== NDIS_STATUS_SUCCESS) return fail(a, s);
  a.rxPool = NdisAllocateNetBufferListPool(handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: true,
    ContextSize: 0,
    PoolTag: 0x696e6d76,
    DataSize: 0, // the receive NBLs come with their MDL chain
  });
  if (a.rxPool === null) return fail(a, NDIS_STATUS_RESOURCES);
  // The hub delivers each frame's length, not its bytes, so the receive NBLs
  // share one frame-sized buffer as their MDL chain. A driver whose NIC writes the
  // frames gives each receive descriptor a buffer of its own.
  const memory = new Uint8Array(frameBytesMax);
  for (let i = 0; i < rxBuffers; i++) {
    const nbl = NdisAllocateNetBufferAndNetBufferList(a.rxPool, 0, 0, memory, 0, frameBytesMax);
    if (nbl === null) return fail(a, NDIS_STATUS_RESOURCES);
    nbl.SourceHandle = handle;
    a.rxFree.push(nbl);
  }
  a.txTimer = allocateTimer(a, transmitDpc, timerTx);
  a.rxTimer = allocateTimer(a, receiveDpc, timerRx);
  a.statsTimer = allocateTimer(a, statisticsReady, timerStats);
  a.oidWork = NdisAllocateIoWorkItem(handle);
  if (a.txTimer === null || a.rxTimer === null || a.statsTimer === null || a.oidWork === null) {
    return fail(a, NDIS_STATUS_RESOURCES);
  }
  hub.ports.add(a);
  return NDIS_STATUS_SUCCESS;
}

/** R2.5: free everything taken so far, then fail. */
function fail(a: Adapter, status: NDIS_STATUS): NDIS_STATUS {
  freeResources(a);
  return status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_FAILURE : status;
}

function freeResources(a: Adapter): void {
  stopTimer(a, a.txTimer, timerTx);
  stopTimer(a, a.rxTimer, timerRx);
  // The statistics pipeline (timer, then work item): cancelled at the timer, it ends
  // there; otherwise the work item is queued or running and is waited for.
  if (a.statsTimer !== null && NdisCancelTimerObject(a.statsTimer)) {
    a.armed &= ~timerStats;
    a.oidWorkQueued = false;
  }
  stopTimer(a, a.statsTimer, timerStats);
  a.txTimer = a.rxTimer = a.statsTimer = null;
  if (a.oidWork !== null) {
    while (a.oidWorkQueued) NdisMSleep(100);
    NdisFreeIoWorkItem(a.oidWork);
    a.oidWork = null;
  }
  for (const nbl of a.rxFree) NdisFreeNetBufferList(nbl);
  a.rxFree = [];
  if (a.rxPool !== null) NdisFreeNetBufferListPool(a.rxPool);
  a.rxPool = null;
  NdisFreeSpinLock(a.lock);
}

// ----------------------------------------------------------------- sends

function send(ctx: unknown, chain: NET_BUFFER_LIST, _port: number, flags: number): void {
  const a = ctx as Adapter;
  const atDispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
  const list: NET_BUFFER_LIST[] = [];
  for (let n: NET_BUFFER_LIST | null = chain; n !== null; n = n.Next) list.push(n);
  if (atDispatch) NdisDprAcquireSpinLock(a.lock);
  else NdisAcquireSpinLock(a.lock);
  // R5.7, R5.21, R3.6: refuse at once when gone, giving up, or paused.
  const refuse =
    a.status & (fSurpriseRemoved | fRemoveInProgress | fHalting)
      ? NDIS_STATUS_NOT_ACCEPTED
      : a.status & fPaused
        ? NDIS_STATUS_PAUSED
        : NDIS_STATUS_SUCCESS;
  if (refuse === NDIS_STATUS_SUCCESS) for (const n of list) a.txQueue.push(n);
  if (atDispatch) NdisDprReleaseSpinLock(a.lock);
  else NdisReleaseSpinLock(a.lock);
  if (refuse !== NDIS_STATUS_SUCCESS) completeSends(a, list, refuse, atDispatch);
  else kick(a, a.txTimer, timerTx);
}

/** The transmit DPC: the frames of every NBL go onto the hub, the sends complete. */
function transmitDpc(a: Adapter): void {
  NdisDprAcquireSpinLock(a.lock);
  const frames = a.txQueue;
  a.txQueue = [];
  NdisDprReleaseSpinLock(a.lock);
  if (frames.length === 0) return;
  // Each NET_BUFFER of an NBL is a frame of its own.
  let sent = 0;
  for (const n of frames)
    for (let nb = n.FirstNetBuffer; nb !== null; nb = nb.Next) {
      for (const p of a.hub.ports) if (p !== a) deliver(p, nb.DataLength);
      sent++;
    }
  a.xmitOk += sent;
  completeSends(a, frames, NDIS_STATUS_SUCCESS, true);
  maybeFinishPause(a);
}

/** The hub hands a frame to port `p` (DISPATCH, from another adapter's DPC). */
function deliver(p: Adapter, len: number): void {
  NdisDprAcquireSpinLock(p.lock);
  const listening = (p.status & (fPaused | fSurpriseRemoved | fRemoveInProgress | fHalting)) === 0;
  const room = p.rxQueue.length < hubQueueFrames;
  if (listening && room) p.rxQueue.push(len);
  else p.rcvDropped++;
  NdisDprReleaseSpinLock(p.lock);
  if (listening && room) kick(p, p.rxTimer, timerRx);
}

function cancelSend(_ctx: unknown, _cancelId: unknown): void {
  // R6.10 cancels NBLs the driver still queues. vmini's queue empties within one
  // transmit DPC (50 µs) and its NBLs are not identified per cancel ID; there is
  // never one it could cancel before it completes anyway.
}

// -------------------------------------------------------------- receives

/** The receive DPC: what the hub delivered is indicated up. */
function receiveDpc(a: Adapter): void {
  NdisDprAcquireSpinLock(a.lock);
  const lens = a.rxQueue;
  a.rxQueue = [];
  const listening = (a.status & (fPaused | fSurpriseRemoved | fRemoveInProgress | fHalting)) === 0;
  NdisDprReleaseSpinLock(a.lock);
  // R3.6: nothing is indicated while paused.
  if (!listening || lens.length === 0) return;
  const batch: NET_BUFFER_LIST[] = [];
  for (const len of lens) {
    const nbl = a.rxFree.pop();
    if (nbl === undefined) {
      a.rcvDropped++;
      continue;
    }
    nbl.FirstNetBuffer!.DataLength = len;
    batch.push(nbl);
  }
  if (batch.length > 0) {
    a.rcvOk += batch.length;
    // R6.13: short of buffers, indicate with RESOURCES: they are back when the call returns.
    const low = a.rxFree.length < a.rxBuffers / 4;
    if (!low) a.rxOutstanding += batch.length;
    const flags = NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL | (low ? NDIS_RECEIVE_FLAGS_RESOURCES : 0);
    NdisMIndicateReceiveNetBufferLists(a.handle, toChain(batch), 0, batch.length, flags);
    if (low) {
      for (const n of batch) n.Next = null;
      a.rxFree.push(...batch);
    }
  }
  if (a.failAfterFrames > 0 && a.rcvOk >= a.failAfterFrames) hubPortFailed(a);
}

function returnNbls(ctx: unknown, chain: NET_BUFFER_LIST): void {
  const a = ctx as Adapter;
  for (let n: NET_BUFFER_LIST | null = chain; n !== null; ) {
    const next: NET_BUFFER_LIST | null = n.Next;
    n.Next = null;
    a.rxFree.push(n);
    a.rxOutstanding--;
    n = next;
  }
  maybeFinishPause(a);
}

// ------------------------------------------------------ pause, restart

function pause(ctx: unknown): NDIS_STATUS {
  const a = ctx as Adapter;
  NdisAcquireSpinLock(a.lock);
  a.status |= fPaused;
  const drained = a.txQueue.length === 0 && a.rxOutstanding === 0;
  a.pausePending = !drained;
  NdisReleaseSpinLock(a.lock);
  return drained ? NDIS_STATUS_SUCCESS : NDIS_STATUS_PENDING;
}

function maybeFinishPause(a: Adapter): void {
  if (!a.pausePending || a.txQueue.length > 0 || a.rxOutstanding > 0) return;
  a.pausePending = false;
  NdisMPauseComplete(a.handle);
}

function restart(ctx: unknown): NDIS_STATUS {
  const a = ctx as Adapter;
  NdisAcquireSpinLock(a.lock);
  a.status &= ~fPaused;
  NdisReleaseSpinLock(a.lock);
  return NDIS_STATUS_SUCCESS;
}

// ------------------------------------------------------------------ OIDs

function oidRequest(ctx: unknown, req: NDIS_OID_REQUEST): NDIS_STATUS {
  const a = ctx as Adapter;
  if (a.status & (fSurpriseRemoved | fRemoveInProgress)) return NDIS_STATUS_NOT_ACCEPTED;
  if (req.RequestType === NdisRequestSetInformation)
    return setAddressingOid(a, req.DATA.SET_INFORMATION, maxMulticast);
  if (req.RequestType !== NdisRequestQueryInformation) return NDIS_STATUS_NOT_SUPPORTED;
  const d = req.DATA.QUERY_INFORMATION;
  switch (d.Oid) {
    case OID_802_3_CURRENT_ADDRESS:
    case OID_802_3_PERMANENT_ADDRESS:
      if (d.InformationBufferLength < 6) {
        d.BytesNeeded = 6;
        return NDIS_STATUS_INVALID_LENGTH;
      }
      d.InformationBuffer = [...a.mac];
      d.BytesWritten = 6;
      return NDIS_STATUS_SUCCESS;
    case OID_GEN_STATISTICS:
      if (d.InformationBufferLength < NDIS_SIZEOF_STATISTICS_INFO_REVISION_1) {
        d.BytesNeeded = NDIS_SIZEOF_STATISTICS_INFO_REVISION_1;
        return NDIS_STATUS_BUFFER_TOO_SHORT;
      }
      // Gathering the counters takes a while: pend; a timer later hands the request
      // to a work item, which completes it at PASSIVE.
      NdisAcquireSpinLock(a.lock);
      a.pendingOid = req;
      a.oidWorkQueued = true;
      NdisReleaseSpinLock(a.lock);
      a.armed |= timerStats;
      if (a.statsTimer !== null) NdisSetTimerObject(a.statsTimer, -a.statisticsDelayUs * 10, 0, a);
      return NDIS_STATUS_PENDING;
  }
  return NDIS_STATUS_NOT_SUPPORTED;
}

/** Takes the pending request, if it is still there (cancel and removal race the work item). */
function takePendingOid(a: Adapter, requestId?: unknown): NDIS_OID_REQUEST | null {
  NdisAcquireSpinLock(a.lock);
  const r = a.pendingOid;
  const mine = r !== null && (requestId === undefined || r.RequestId === requestId);
  if (mine) a.pendingOid = null;
  NdisReleaseSpinLock(a.lock);
  return mine ? r : null;
}

/** The statistics timer (DISPATCH): the answer is ready; complete it from a work item. */
function statisticsReady(a: Adapter): void {
  if (a.oidWork !== null) NdisQueueIoWorkItem(a.oidWork, statisticsWork, a);
}

/** NDIS_IO_WORKITEM_FUNCTION, at PASSIVE. */
function statisticsWork(ctx: unknown): void {
  const a = ctx as Adapter;
  const r = takePendingOid(a);
  a.oidWorkQueued = false;
  if (r === null) return;
  const d = r.DATA.QUERY_INFORMATION;
  d.InformationBuffer = {
    ifHCInUcastPkts: a.rcvOk,
    ifHCOutUcastPkts: a.xmitOk,
    ifInDiscards: a.rcvDropped,
  };
  d.BytesWritten = NDIS_SIZEOF_STATISTICS_INFO_REVISION_1;
  NdisMOidRequestComplete(a.handle, r, NDIS_STATUS_SUCCESS);
}

/** R6.4: the originator gave up on the request. */
function cancelOidRequest(ctx: unknown, requestId: unknown): void {
  const a = ctx as Adapter;
  const r = takePendingOid(a, requestId);
  if (r !== null) NdisMOidRequestComplete(a.handle, r, NDIS_STATUS_REQUEST_ABORTED);
}

// ------------------------------------------------------- failure, removal

function indicateLink(a: Adapter, up: boolean): void {
  NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, up, linkSpeed));
}

/**
 * The hub port failed (receive DPC, DISPATCH): nothing will fix it. R5.21: mark the
 * removal once, log it, fail what is queued, and ask NDIS to remove the adapter.
 * A pending request and NBLs the protocol holds are left to their normal
 * completions; NDIS waits for them before halt.
 */
function hubPortFailed(a: Adapter): void {
  NdisDprAcquireSpinLock(a.lock);
  const first = (a.status & fRemoveInProgress) === 0;
  a.status |= fRemoveInProgress;
  const queued = a.txQueue;
  a.txQueue = [];
  NdisDprReleaseSpinLock(a.lock);
  if (!first) return;
  NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_HARDWARE_FAILURE, 1, a.rcvOk);
  indicateLink(a, false);
  completeSends(a, queued, NDIS_STATUS_FAILURE, true);
  NdisMRemoveMiniport(a.handle);
  maybeFinishPause(a);
}

function devicePnPEventNotify(ctx: unknown, ev: { DevicePnPEvent: number }): void {
  const a = ctx as Adapter;
  if (ev.DevicePnPEvent !== NdisDevicePnPEventSurpriseRemoved) return;
  // R5.7: the port is gone: fail what is queued and the request that is pending.
  NdisAcquireSpinLock(a.lock);
  a.status |= fSurpriseRemoved;
  const queued = a.txQueue;
  a.txQueue = [];
  NdisReleaseSpinLock(a.lock);
  completeSends(a, queued, NDIS_STATUS_NOT_ACCEPTED, false);
  const r = takePendingOid(a);
  if (r !== null) NdisMOidRequestComplete(a.handle, r, NDIS_STATUS_NOT_ACCEPTED);
  maybeFinishPause(a);
}

function halt(ctx: unknown): void {
  const a = ctx as Adapter;
  NdisAcquireSpinLock(a.lock);
  a.status |= fHalting;
  NdisReleaseSpinLock(a.lock);
  // Off the hub first, so no other port delivers to us; then undo initialization.
  a.hub.ports.delete(a);
  freeResources(a);
}

function DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: string): NDIS_STATUS {
  const hub: Hub = { ports: new Set(), nextPort: 1 };
  let driverHandle: NDIS_HANDLE | null = null;
  const r = NdisMRegisterMiniportDriver(DriverObject, RegistryPath, hub, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
      Revision: NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
    },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    InitializeHandlerEx: initialize,
    HaltHandlerEx: halt,
    UnloadHandler: () => {
      if (driverHandle !== null) NdisMDeregisterMiniportDriver(driverHandle);
      driverHandle = null;
    },
    PauseHandler: pause,
    RestartHandler: restart,
    OidRequestHandler: oidRequest,
    SendNetBufferListsHandler: send,
    ReturnNetBufferListsHandler: returnNbls,
    CancelSendHandler: cancelSend,
    DevicePnPEventNotifyHandler: devicePnPEventNotify,
    ShutdownHandlerEx: () => {},
    CancelOidRequestHandler: cancelOidRequest,
  });
  driverHandle = r.NdisMiniportDriverHandle;
  return r.Status;
}

export const vmini: DriverModule = {
  name: 'vmini',
  description: 'virtual miniport adapters on a virtual hub (hardware: none)',
  load: () => ({ DriverEntry }),
};
