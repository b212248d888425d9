// The SimNic miniport: one driver code base, two personalities.
//   healthy-nic  no check-for-hang (R4.1 discourages it in new drivers)
//   flaky-nic    watches the firmware heartbeat in MiniportCheckForHangEx, resets a
//                hung NIC from MiniportResetEx (completing from the reset-done
//                interrupt, or from a watchdog timer if the NIC never answers), and
//                after ResetLimit resets within ResetWindowSeconds gives up: it writes
//                an error log entry and calls NdisMRemoveMiniport once (R5.21).
// Registry parameters (scenario `registry:`): ResetLimit (3), ResetWindowSeconds (30),
// ResetTimeoutMs (500), ReceiveBuffers (64).
//
// The data path: each NBL carries one frame; sends go to the NIC's transmit queue
// and complete from the TX_DONE interrupt in order; receives are pulled from the
// NIC in the interrupt DPC into NBLs from a pre-allocated pool and indicated up,
// with NDIS_RECEIVE_FLAGS_RESOURCES when few buffers are left. Pause waits for both
// to drain (R3.3). Written only against ndis-sim's public API, as a user would.

import {
  CmResourceTypeMemory,
  type DRIVER_OBJECT,
  type DriverModule,
  type IoRegister,
  MediaConnectStateConnected,
  MediaConnectStateDisconnected,
  MediaDuplexStateFull,
  type MINIPORT_ISR,
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  NDIS_ERROR_CODE_HARDWARE_FAILURE,
  type NDIS_HANDLE,
  type NDIS_IO_SPACE,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
  type NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_MINIPORT_INTERRUPT_REVISION_1,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
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
  NDIS_STATUS_HARD_ERRORS,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireSpinLock,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisCloseConfiguration,
  NdisDevicePnPEventSurpriseRemoved,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisFreeSpinLock,
  NdisFreeTimerObject,
  NdisGetSystemUpTimeEx,
  NdisInterfacePci,
  NdisMDeregisterInterruptEx,
  NdisMDeregisterMiniportDriver,
  NdisMedium802_3,
  NdisMIndicateReceiveNetBufferLists,
  NdisMIndicateStatusEx,
  NdisMMapIoSpace,
  NdisMPauseComplete,
  NdisMRegisterInterruptEx,
  NdisMRegisterMiniportDriver,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisMSendNetBufferListsComplete,
  NdisMSetMiniportAttributes,
  NdisMSleep,
  NdisMSynchronizeWithInterruptEx,
  NdisMUnmapIoSpace,
  NdisOpenConfigurationEx,
  NdisReadRegisterUlong,
  NdisReleaseSpinLock,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  NdisSetTimerObject,
  NdisWriteErrorLogEntry,
  NdisWriteRegisterUlong,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  OID_802_3_CURRENT_ADDRESS,
  OID_802_3_PERMANENT_ADDRESS,
  OID_GEN_STATISTICS,
  SimNicCtrl,
  SimNicIcr,
  SimNicReg,
  SimNicStatus,
} from '../index.ts';
import {
  linkStateIndication,
  readIntegerParameter,
  setAddressingOid,
  supportedPacketFilters,
} from './common.ts';

/** Adapter status word (guarded by `lock`). */
const fResetInProgress = 1 << 0;
const fRemoveInProgress = 1 << 1;
const fSurpriseRemoved = 1 << 2;
const fHalting = 1 << 3;
/** Pausing or paused: sends complete with NDIS_STATUS_PAUSED, nothing is indicated. */
const fPaused = 1 << 4;

const allOnes = 0xffffffff;
const timerTx = 1 << 0;
const timerReset = 1 << 1;
const maxMulticast = 32;
/** Bits per second, each way. */
const linkSpeed = 1_000_000_000;
/** Period of the transmit watchdog, and the send time-out it enforces (R4.4 advises 2 s). */
const txWatchMs = 500;
const sendTimeoutMs = 2000;
/** How long a pause waits for the NIC to send what it queued. */
const pauseDrainMs = 1000;
const frameBytesMax = 1514;

export interface SimNicOptions {
  name: string;
  description: string;
  /** Hang detection and the give-up policy (flaky-nic). */
  checkForHang: boolean;
}

/** The mapped register window and the registers the driver uses. */
interface Registers {
  space: NDIS_IO_SPACE;
  /** The Length NdisMMapIoSpace mapped, which NdisMUnmapIoSpace must repeat. */
  spaceBytes: number;
  ctrl: IoRegister;
  statusReg: IoRegister;
  heartbeat: IoRegister;
  icr: IoRegister;
  imr: IoRegister;
  txPost: IoRegister;
  txDone: IoRegister;
  rxPop: IoRegister;
}

function registers(space: NDIS_IO_SPACE): Registers {
  return {
    space,
    spaceBytes: 0,
    ctrl: space.at(SimNicReg.CTRL),
    statusReg: space.at(SimNicReg.STATUS),
    heartbeat: space.at(SimNicReg.HEARTBEAT),
    icr: space.at(SimNicReg.ICR),
    imr: space.at(SimNicReg.IMR),
    txPost: space.at(SimNicReg.TX_POST),
    txDone: space.at(SimNicReg.TX_DONE),
    rxPop: space.at(SimNicReg.RX_POP),
  };
}

interface Adapter extends Registers {
  handle: NDIS_HANDLE;
  interrupt: NDIS_HANDLE | null;
  resetTimer: NDIS_HANDLE | null;
  /** Watches the transmit queue for progress (R4.4: sends have a time-out of their own). */
  txTimer: NDIS_HANDLE | null;
  txTimerSet: boolean;
  /** Timers set whose callback has not started yet (bits: timerTx, timerReset). */
  armed: number;
  /** Frames completed so far, and the count when the watchdog last looked. */
  txCompleted: number;
  txSeen: number;
  txStuckMs: number;
  lock: NDIS_SPIN_LOCK;
  status: number;
  /**
   * NBLs the NIC is transmitting, oldest first, from index txHead on: a frame for each
   * of their NET_BUFFERs. Those before txHead are done; the array is compacted now and
   * then, so that a completion costs what it completes, not the queue's length.
   */
  txQueue: NET_BUFFER_LIST[];
  txHead: number;
  /** Frames of the oldest NBL in txQueue the NIC has sent already. */
  txHeadSent: number;
  rxPool: NDIS_HANDLE | null;
  rxFree: NET_BUFFER_LIST[];
  rxBuffers: number;
  /** Receive NBLs NDIS holds. */
  rxOutstanding: number;
  /** MiniportPause returned PENDING; NdisMPauseComplete once drained. */
  pausePending: boolean;
  packetFilter: number;
  multicast: number[][];
  xmitOk: number;
  rcvOk: number;
  rcvNoBuffer: number;
  lastHeartbeat: number;
  pendingCauses: number;
  dpcCauses: number;
  resetTimes: number[];
  resetLimit: number;
  resetWindowMs: number;
  resetTimeoutMs: number;
}

const mac = [0x02, 0x5a, 0x5a, 0x00, 0x00, 0x01];
const interruptMask = SimNicIcr.RESET_DONE | SimNicIcr.LINK_CHANGE | SimNicIcr.TX_DONE | SimNicIcr.RX;

function runningCtrl(a: Adapter): number {
  return (
    SimNicCtrl.INTR_ENABLE | SimNicCtrl.TX_ENABLE | ((a.status & fPaused) === 0 ? SimNicCtrl.RX_ENABLE : 0)
  );
}

function acquire(a: Adapter, atDispatch: boolean): void {
  if (atDispatch) NdisDprAcquireSpinLock(a.lock);
  else NdisAcquireSpinLock(a.lock);
}

function release(a: Adapter, atDispatch: boolean): void {
  if (atDispatch) NdisDprReleaseSpinLock(a.lock);
  else NdisReleaseSpinLock(a.lock);
}

/** Sets each NBL's status and hands the chain back to NDIS. */
function completeSends(
  a: Adapter,
  chain: NET_BUFFER_LIST | null,
  status: NDIS_STATUS,
  atDispatch: boolean,
): void {
  if (chain === null) return;
  for (let n: NET_BUFFER_LIST | null = chain; n !== null; n = n.Next) n.Status = status;
  NdisMSendNetBufferListsComplete(a.handle, chain, atDispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0);
}

function toChain(list: NET_BUFFER_LIST[]): NET_BUFFER_LIST | null {
  for (let i = 0; i < list.length; i++) list[i]!.Next = list[i + 1] ?? null;
  return list[0] ?? null;
}

export function simnicMiniport(
  o: SimNicOptions,
  edit: (c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS) => void = () => {},
): DriverModule {
  function initialize(
    handle: NDIS_HANDLE,
    _ctx: unknown,
    params: NDIS_MINIPORT_INIT_PARAMETERS,
  ): NDIS_STATUS {
    let resetLimit = 3;
    let resetWindowSeconds = 30;
    let resetTimeoutMs = 500;
    let rxBuffers = 64;
    const cfg = NdisOpenConfigurationEx({
      Header: { Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1 },
      NdisHandle: handle,
      Flags: 0,
    });
    if (cfg.Status === NDIS_STATUS_SUCCESS && cfg.ConfigurationHandle !== null) {
      if (o.checkForHang) {
        resetLimit = readIntegerParameter(cfg.ConfigurationHandle, 'ResetLimit', resetLimit);
        resetWindowSeconds = readIntegerParameter(
          cfg.ConfigurationHandle,
          'ResetWindowSeconds',
          resetWindowSeconds,
        );
        resetTimeoutMs = readIntegerParameter(cfg.ConfigurationHandle, 'ResetTimeoutMs', resetTimeoutMs);
      }
      rxBuffers = readIntegerParameter(cfg.ConfigurationHandle, 'ReceiveBuffers', rxBuffers);
      NdisCloseConfiguration(cfg.ConfigurationHandle);
    }

    const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === CmResourceTypeMemory);
    if (mem === undefined || mem.Type !== CmResourceTypeMemory) return NDIS_STATUS_RESOURCES;
    // The context exists before the registers are mapped: R2.4 wants the registration
    // attributes (which carry it) before anything claims the hardware.
    const a = {
      handle,
      interrupt: null,
      resetTimer: null,
      txTimer: null,
      txTimerSet: false,
      armed: 0,
      txCompleted: 0,
      txSeen: 0,
      txStuckMs: 0,
      lock: new NDIS_SPIN_LOCK(),
      status: fPaused,
      txQueue: [],
      txHead: 0,
      txHeadSent: 0,
      rxPool: null,
      rxFree: [],
      rxBuffers,
      rxOutstanding: 0,
      pausePending: false,
      packetFilter: 0,
      multicast: [],
      xmitOk: 0,
      rcvOk: 0,
      rcvNoBuffer: 0,
      lastHeartbeat: 0,
      pendingCauses: 0,
      dpcCauses: 0,
      resetTimes: [],
      resetLimit,
      resetWindowMs: resetWindowSeconds * 1000,
      resetTimeoutMs,
    } as Omit<Adapter, keyof Registers> as Adapter;
    NdisAllocateSpinLock(a.lock);

    // R2.4: registration attributes first, then the hardware, then general attributes.
    let s = NdisMSetMiniportAttributes(handle, {
      Header: {
        Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
      },
      MiniportAdapterContext: a,
      AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
      CheckForHangTimeInSeconds: o.checkForHang ? 2 : 0,
      InterfaceType: NdisInterfacePci,
    });
    if (s === NDIS_STATUS_SUCCESS) {
      const mapped = NdisMMapIoSpace(handle, mem.u.Memory.Start, mem.u.Memory.Length);
      if (mapped.VirtualAddress !== null) Object.assign(a, registers(mapped.VirtualAddress));
      a.spaceBytes = mem.u.Memory.Length;
      s = mapped.Status;
    }
    if (s !== NDIS_STATUS_SUCCESS || a.space === undefined) {
      NdisFreeSpinLock(a.lock);
      return s === NDIS_STATUS_SUCCESS ? NDIS_STATUS_RESOURCES : s;
    }
    const linkUp = (NdisReadRegisterUlong(a.statusReg) & SimNicStatus.LINK_UP) !== 0;
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
      MediaConnectState: linkUp ? MediaConnectStateConnected : MediaConnectStateDisconnected,
      MediaDuplexState: MediaDuplexStateFull,
      LookaheadSize: 1500,
      MacAddressLength: 6,
      PermanentMacAddress: mac,
      CurrentMacAddress: mac,
      MaxMulticastListSize: maxMulticast,
      // What OID_GEN_CURRENT_PACKET_FILTER may set (the protocols read it in their bind parameters).
      SupportedPacketFilters: supportedPacketFilters,
    });
    if (s !== NDIS_STATUS_SUCCESS) return fail(a, s);

    // Receive buffers, allocated up front: a pause or a receive cannot wait for memory.
    a.rxPool = NdisAllocateNetBufferListPool(handle, {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
      ProtocolId: 0,
      fAllocateNetBuffer: true,
      ContextSize: 0,
      PoolTag: 0x6e6d6973, // 'simn'
      DataSize: 0, // the receive NBLs come with their MDL chain
    });
    if (a.rxPool === null) return fail(a, NDIS_STATUS_RESOURCES);
    // The SimNic reports each frame's length, not its bytes (the model's NIC does no DMA), so the receive NBLs
    // share one frame-sized buffer as their MDL chain. A driver whose NIC writes the
    // frames gives each receive descriptor a buffer of its own.
    const memory = new Uint8Array(frameBytesMax);
    for (let i = 0; i < rxBuffers; i++) {
      const nbl = NdisAllocateNetBufferAndNetBufferList(a.rxPool, 0, 0, memory, 0, frameBytesMax);
      if (nbl === null) return fail(a, NDIS_STATUS_RESOURCES);
      nbl.SourceHandle = handle;
      a.rxFree.push(nbl);
    }

    const tx = NdisAllocateTimerObject(handle, {
      Header: {
        Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: 0x77787874, // 'txww'
      TimerFunction: txWatchdog,
      FunctionContext: a,
    });
    if (tx.Status !== NDIS_STATUS_SUCCESS) return fail(a, tx.Status);
    a.txTimer = tx.TimerObject;

    if (o.checkForHang) {
      const t = NdisAllocateTimerObject(handle, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0x6b6c6166, // 'falk'
        TimerFunction: resetWatchdog,
        FunctionContext: a,
      });
      if (t.Status !== NDIS_STATUS_SUCCESS) return fail(a, t.Status);
      a.resetTimer = t.TimerObject;
    }

    const r = NdisMRegisterInterruptEx(handle, a, {
      Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: NDIS_MINIPORT_INTERRUPT_REVISION_1 },
      InterruptHandler: isr,
      InterruptDpcHandler: interruptDpc,
      DisableInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, 0),
      EnableInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, interruptMask),
      // MSI when the NIC has messages: every message reads the one ICR, so each ISR and
      // DPC does what the line's do, and all messages are serialized.
      MsiSupported: true,
      MsiSyncWithAllMessages: true,
      MessageInterruptHandler: (ctx) => isr(ctx),
      MessageInterruptDpcHandler: (ctx, MessageId) => serviceInterrupt(ctx as Adapter, MessageId),
      DisableMessageInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, 0),
      EnableMessageInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, interruptMask),
    });
    if (r.Status !== NDIS_STATUS_SUCCESS) return fail(a, r.Status);
    a.interrupt = r.NdisInterruptHandle;

    a.lastHeartbeat = NdisReadRegisterUlong(a.heartbeat);
    NdisWriteRegisterUlong(a.imr, interruptMask);
    NdisWriteRegisterUlong(a.ctrl, runningCtrl(a));
    return NDIS_STATUS_SUCCESS;
  }

  /** R2.5: free everything taken so far, then fail. */
  function fail(a: Adapter, status: NDIS_STATUS): NDIS_STATUS {
    if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
    if (a.resetTimer !== null) NdisFreeTimerObject(a.resetTimer);
    if (a.txTimer !== null) NdisFreeTimerObject(a.txTimer);
    freeReceiveBuffers(a);
    NdisFreeSpinLock(a.lock);
    NdisMUnmapIoSpace(a.handle, a.space, a.spaceBytes);
    return status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_FAILURE : status;
  }

  function freeReceiveBuffers(a: Adapter): void {
    for (const nbl of a.rxFree) NdisFreeNetBufferList(nbl);
    a.rxFree.length = 0;
    if (a.rxPool !== null) NdisFreeNetBufferListPool(a.rxPool);
    a.rxPool = null;
  }

  // ------------------------------------------------------------ data path

  function send(ctx: unknown, chain: NET_BUFFER_LIST, _port: number, flags: number): void {
    const a = ctx as Adapter;
    const atDispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
    acquire(a, atDispatch);
    const st = a.status;
    // R5.7, R4.12, R3.6: no hardware, a reset, a pause: fail the sends at once.
    const refuse =
      st & (fSurpriseRemoved | fRemoveInProgress | fHalting)
        ? NDIS_STATUS_NOT_ACCEPTED
        : st & fResetInProgress
          ? NDIS_STATUS_RESET_IN_PROGRESS
          : st & fPaused
            ? NDIS_STATUS_PAUSED
            : NDIS_STATUS_SUCCESS;
    let arm = false;
    if (refuse === NDIS_STATUS_SUCCESS) {
      for (let n: NET_BUFFER_LIST | null = chain; n !== null; n = n.Next) {
        n.Status = NDIS_STATUS_SUCCESS;
        a.txQueue.push(n);
        // One frame for each NET_BUFFER (each is a packet of its own); none: an empty frame.
        if (n.FirstNetBuffer === null) NdisWriteRegisterUlong(a.txPost, 0);
        for (let nb = n.FirstNetBuffer; nb !== null; nb = nb.Next)
          NdisWriteRegisterUlong(a.txPost, nb.DataLength);
      }
      arm = !a.txTimerSet;
      a.txTimerSet = true;
    }
    release(a, atDispatch);
    if (arm && a.txTimer !== null) {
      a.txSeen = a.txCompleted;
      a.txStuckMs = 0;
      a.armed |= timerTx;
      NdisSetTimerObject(a.txTimer, -txWatchMs * 10_000, 0, a);
    }
    if (refuse !== NDIS_STATUS_SUCCESS) completeSends(a, chain, refuse, atDispatch);
  }

  /** Takes every queued send off the adapter (the NIC will not finish them). */
  function takeQueuedSends(a: Adapter, atDispatch: boolean): NET_BUFFER_LIST | null {
    acquire(a, atDispatch);
    const chain = toChain(a.txQueue.slice(a.txHead));
    a.txQueue = [];
    a.txHead = 0;
    a.txHeadSent = 0;
    release(a, atDispatch);
    return chain;
  }

  /**
   * R6.10 cancels NBLs the driver still queues. This driver posts every NBL to the
   * NIC as it arrives, and posted frames cannot be recalled: there is never one to cancel.
   */
  function cancelSend(_ctx: unknown, _cancelId: unknown): void {}

  function returnNbls(ctx: unknown, chain: NET_BUFFER_LIST, _flags: number): void {
    const a = ctx as Adapter;
    let k = 0;
    for (let n: NET_BUFFER_LIST | null = chain; n !== null; ) {
      const next: NET_BUFFER_LIST | null = n.Next;
      n.Next = null;
      a.rxFree.push(n);
      k++;
      n = next;
    }
    a.rxOutstanding -= k;
    maybeFinishPause(a);
  }

  function receive(a: Adapter): void {
    let head: NET_BUFFER_LIST | null = null;
    let tail: NET_BUFFER_LIST | null = null;
    let k = 0;
    for (;;) {
      const len = NdisReadRegisterUlong(a.rxPop);
      if (len === 0 || len === allOnes) break;
      const nbl = a.rxFree.pop();
      // R3.6: nothing is indicated while paused; no buffer, no frame.
      if (nbl === undefined || a.status & fPaused) {
        if (nbl !== undefined) a.rxFree.push(nbl);
        else a.rcvNoBuffer++;
        continue;
      }
      nbl.FirstNetBuffer!.DataLength = len;
      nbl.Next = null;
      if (tail === null) head = nbl;
      else tail.Next = nbl;
      tail = nbl;
      k++;
    }
    if (head === null) return;
    a.rcvOk += k;
    // R6.13: when short of buffers, indicate with RESOURCES: they come back on return.
    const low = a.rxFree.length < a.rxBuffers / 4;
    const flags = NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL | (low ? NDIS_RECEIVE_FLAGS_RESOURCES : 0);
    if (!low) a.rxOutstanding += k;
    NdisMIndicateReceiveNetBufferLists(a.handle, head, 0, k, flags);
    if (low) {
      for (let n: NET_BUFFER_LIST | null = head; n !== null; ) {
        const next: NET_BUFFER_LIST | null = n.Next;
        n.Next = null;
        a.rxFree.push(n);
        n = next;
      }
    }
  }

  function framesOf(nbl: NET_BUFFER_LIST): number {
    let k = 0;
    for (let nb = nbl.FirstNetBuffer; nb !== null; nb = nb.Next) k++;
    return Math.max(1, k);
  }

  function transmitted(a: Adapter): void {
    const count = NdisReadRegisterUlong(a.txDone);
    if (count === 0 || count === allOnes) return;
    NdisDprAcquireSpinLock(a.lock);
    // The NIC counts frames; an NBL is done when all of its NET_BUFFERs are.
    const q = a.txQueue;
    let end = a.txHead;
    let left = count;
    while (end < q.length && left > 0) {
      const frames = framesOf(q[end]!) - a.txHeadSent;
      if (left < frames) {
        a.txHeadSent += left;
        break;
      }
      left -= frames;
      a.txHeadSent = 0;
      end++;
    }
    const done = q.slice(a.txHead, end);
    a.txHead = end;
    if (end === q.length) {
      a.txQueue = [];
      a.txHead = 0;
    } else if (end >= 1024 && end * 2 >= q.length) {
      a.txQueue = q.slice(end);
      a.txHead = 0;
    }
    a.txCompleted += count;
    NdisDprReleaseSpinLock(a.lock);
    a.xmitOk += count;
    completeSends(a, toChain(done), NDIS_STATUS_SUCCESS, true);
    maybeFinishPause(a);
  }

  /**
   * The transmit watchdog (DISPATCH): while sends are queued, every txWatchMs it checks
   * that the NIC made progress. A NIC reading all ones is gone (R5.7): its sends fail
   * now. A NIC that stays stuck fails them after the driver's own send time-out (R4.4),
   * or sooner while a pause waits for them. (flaky-nic's CheckForHang reports the hang
   * from the heartbeat, independently.)
   */
  function txWatchdog(_s1: unknown, ctx: unknown): void {
    const a = ctx as Adapter;
    a.armed &= ~timerTx;
    NdisDprAcquireSpinLock(a.lock);
    const queued = a.txQueue.length - a.txHead;
    const progressed = a.txCompleted !== a.txSeen;
    a.txSeen = a.txCompleted;
    a.txStuckMs = progressed ? 0 : a.txStuckMs + txWatchMs;
    a.txTimerSet = queued > 0 && (a.status & fHalting) === 0;
    NdisDprReleaseSpinLock(a.lock);
    if (queued === 0) return;
    const gone = NdisReadRegisterUlong(a.statusReg) === allOnes;
    if (gone) {
      hardwareGone(a, true);
    } else if (a.txStuckMs >= (a.status & fPaused ? pauseDrainMs : sendTimeoutMs)) {
      // Sends have a time-out of their own (R4.4), and nothing else may free them: NDIS
      // starts no reset while a PnP stop or removal is pending (R4.11), and a pause
      // needs a drained adapter, not a healthy one (R3.3). Frames the NIC did not send fail.
      completeSends(a, takeQueuedSends(a, true), NDIS_STATUS_FAILURE, true);
      maybeFinishPause(a);
    }
    if (a.txTimerSet && a.txTimer !== null) {
      a.armed |= timerTx;
      NdisSetTimerObject(a.txTimer, -txWatchMs * 10_000, 0, a);
    }
  }

  /** The device reads all ones: it is gone. Fail what it held; a recovering driver gives up on it. */
  function hardwareGone(a: Adapter, atDispatch: boolean): void {
    completeSends(a, takeQueuedSends(a, atDispatch), NDIS_STATUS_NOT_ACCEPTED, atDispatch);
    maybeFinishPause(a);
    if (o.checkForHang) removeAdapter(a, atDispatch);
  }

  // ---------------------------------------------------- pause and restart

  function pause(ctx: unknown): NDIS_STATUS {
    const a = ctx as Adapter;
    NdisAcquireSpinLock(a.lock);
    a.status |= fPaused;
    const drained = a.txQueue.length === a.txHead && a.rxOutstanding === 0;
    a.pausePending = !drained;
    NdisReleaseSpinLock(a.lock);
    if ((a.status & fSurpriseRemoved) === 0) NdisWriteRegisterUlong(a.ctrl, runningCtrl(a));
    // R3.3: complete once every send is back and every indicated NBL returned.
    return drained ? NDIS_STATUS_SUCCESS : NDIS_STATUS_PENDING;
  }

  function maybeFinishPause(a: Adapter): void {
    if (!a.pausePending || a.txQueue.length > a.txHead || a.rxOutstanding > 0) return;
    a.pausePending = false;
    NdisMPauseComplete(a.handle);
  }

  function restart(ctx: unknown): NDIS_STATUS {
    const a = ctx as Adapter;
    NdisAcquireSpinLock(a.lock);
    a.status &= ~fPaused;
    NdisReleaseSpinLock(a.lock);
    if ((a.status & fSurpriseRemoved) === 0) NdisWriteRegisterUlong(a.ctrl, runningCtrl(a));
    return NDIS_STATUS_SUCCESS;
  }

  // -------------------------------------------------------------- OIDs

  function oidRequest(ctx: unknown, req: NDIS_OID_REQUEST): NDIS_STATUS {
    const a = ctx as Adapter;
    // R5.7, R5.21: once removal is known, new work fails quickly.
    if (a.status & (fSurpriseRemoved | fRemoveInProgress)) return NDIS_STATUS_NOT_ACCEPTED;
    if (req.RequestType === NdisRequestSetInformation)
      return setAddressingOid(a, req.DATA.SET_INFORMATION, maxMulticast);
    if (req.RequestType === NdisRequestQueryInformation) {
      const d = req.DATA.QUERY_INFORMATION;
      switch (d.Oid) {
        case OID_GEN_STATISTICS:
          if (d.InformationBufferLength < NDIS_SIZEOF_STATISTICS_INFO_REVISION_1) {
            d.BytesNeeded = NDIS_SIZEOF_STATISTICS_INFO_REVISION_1;
            return NDIS_STATUS_BUFFER_TOO_SHORT;
          }
          // The counters this NIC keeps; the rest of NDIS_STATISTICS_INFO reads 0.
          d.InformationBuffer = {
            ifHCInUcastPkts: a.rcvOk,
            ifHCOutUcastPkts: a.xmitOk,
            ifInDiscards: a.rcvNoBuffer,
          };
          d.BytesWritten = NDIS_SIZEOF_STATISTICS_INFO_REVISION_1;
          return NDIS_STATUS_SUCCESS;
        case OID_802_3_CURRENT_ADDRESS:
        case OID_802_3_PERMANENT_ADDRESS:
          if (d.InformationBufferLength < 6) {
            d.BytesNeeded = 6;
            return NDIS_STATUS_INVALID_LENGTH;
          }
          d.InformationBuffer = [...mac];
          d.BytesWritten = 6;
          return NDIS_STATUS_SUCCESS;
      }
    }
    return NDIS_STATUS_NOT_SUPPORTED;
  }

  // --------------------------------------------------- interrupt and DPC

  const isr: MINIPORT_ISR = (ctx) => {
    const a = ctx as Adapter;
    const causes = NdisReadRegisterUlong(a.icr);
    // All ones: the device is gone; nothing of ours.
    if (causes === 0 || causes === allOnes) {
      return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
    }
    a.pendingCauses |= causes;
    return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
  };

  /** MINIPORT_SYNCHRONIZE_INTERRUPT: runs at DIRQL, in step with the ISR. */
  function takeCauses(ctx: unknown): boolean {
    const a = ctx as Adapter;
    a.dpcCauses = a.pendingCauses;
    a.pendingCauses = 0;
    return true;
  }

  function interruptDpc(ctx: unknown): void {
    serviceInterrupt(ctx as Adapter, 0);
  }

  /** The work of MiniportInterruptDPC, and of MiniportMessageInterruptDPC for MessageId. */
  function serviceInterrupt(a: Adapter, MessageId: number): void {
    if (a.interrupt === null) return;
    NdisMSynchronizeWithInterruptEx(a.interrupt, MessageId, takeCauses, a);
    const causes = a.dpcCauses;
    if (causes & SimNicIcr.RESET_DONE) finishReset(a, NDIS_STATUS_SUCCESS);
    if (causes & SimNicIcr.TX_DONE) transmitted(a);
    if (causes & SimNicIcr.RX) receive(a);
    if (causes & SimNicIcr.LINK_CHANGE) indicateLink(a);
  }

  function indicateLink(a: Adapter): void {
    const up = (NdisReadRegisterUlong(a.statusReg) & SimNicStatus.LINK_UP) !== 0;
    NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, up, linkSpeed));
  }

  // ------------------------------------------------- hang, reset, removal

  function checkForHang(ctx: unknown): boolean {
    const a = ctx as Adapter;
    NdisAcquireSpinLock(a.lock);
    const busy = (a.status & (fResetInProgress | fRemoveInProgress | fSurpriseRemoved | fHalting)) !== 0;
    NdisReleaseSpinLock(a.lock);
    // R5.13: once removal is known, answer FALSE.
    if (busy) return false;
    const hb = NdisReadRegisterUlong(a.heartbeat);
    if (hb === allOnes) {
      // R5.7: the device is gone. Nothing to reset; give up on it.
      hardwareGone(a, false);
      return false;
    }
    const hung = hb === a.lastHeartbeat;
    a.lastHeartbeat = hb;
    return hung;
  }

  /** R5.21: the one place that gives up on the adapter. True if this caller started the removal. */
  function removeAdapter(a: Adapter, atDispatch: boolean): boolean {
    acquire(a, atDispatch);
    const already = (a.status & fRemoveInProgress) !== 0;
    a.status = (a.status | fRemoveInProgress) & ~fResetInProgress;
    release(a, atDispatch);
    if (already) return false;
    // S-a step 1: log the failure, quiesce the NIC, then ask NDIS to remove the adapter.
    NdisWriteErrorLogEntry(
      a.handle,
      NDIS_ERROR_CODE_HARDWARE_FAILURE,
      2,
      a.resetTimes.length,
      a.resetWindowMs / 1000,
    );
    if (NdisReadRegisterUlong(a.statusReg) !== allOnes) NdisWriteRegisterUlong(a.ctrl, 0);
    completeSends(a, takeQueuedSends(a, atDispatch), NDIS_STATUS_FAILURE, atDispatch);
    NdisMRemoveMiniport(a.handle);
    return true;
  }

  function reset(ctx: unknown): { Status: NDIS_STATUS; AddressingReset: boolean } {
    const a = ctx as Adapter;
    // MiniportResetEx runs at <= DISPATCH; take the lock the way that works at either.
    const now = NdisGetSystemUpTimeEx();
    NdisAcquireSpinLock(a.lock);
    const removing = (a.status & fRemoveInProgress) !== 0;
    if (!removing) {
      a.resetTimes = a.resetTimes.filter((t) => now - t < a.resetWindowMs);
      a.resetTimes.push(now);
    }
    const giveUp = !removing && a.resetTimes.length > a.resetLimit;
    if (!removing && !giveUp) a.status |= fResetInProgress;
    NdisReleaseSpinLock(a.lock);

    // R4.12: sends the NIC holds are lost with the reset; complete them now.
    const flushed = takeQueuedSends(a, false);
    completeSends(
      a,
      flushed,
      removing || giveUp ? NDIS_STATUS_FAILURE : NDIS_STATUS_RESET_IN_PROGRESS,
      false,
    );
    maybeFinishPause(a);
    if (removing) return { Status: NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
    if (giveUp) {
      // Resetting this often freezes the machine: the hardware is beyond recovery (R5.21).
      removeAdapter(a, false);
      return { Status: NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
    }
    NdisWriteRegisterUlong(a.ctrl, runningCtrl(a) | SimNicCtrl.RESET);
    if (a.resetTimer !== null) {
      a.armed |= timerReset;
      NdisSetTimerObject(a.resetTimer, -a.resetTimeoutMs * 10_000, 0, a);
    }
    return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
  }

  /** Completes a pended reset once (interrupt and watchdog may race). Runs at DISPATCH. */
  function finishReset(a: Adapter, status: NDIS_STATUS): void {
    NdisDprAcquireSpinLock(a.lock);
    const mine = (a.status & fResetInProgress) !== 0;
    a.status &= ~fResetInProgress;
    NdisDprReleaseSpinLock(a.lock);
    if (!mine) return;
    if (a.resetTimer !== null && NdisCancelTimerObject(a.resetTimer)) a.armed &= ~timerReset;
    a.lastHeartbeat = NdisReadRegisterUlong(a.heartbeat);
    // R4.15: no driver lock held across NdisMResetComplete.
    NdisMResetComplete(a.handle, status, false);
  }

  /** The NIC never signalled reset-done: the hardware reset failed (R5.21 before NdisMResetComplete). */
  function resetWatchdog(_s1: unknown, ctx: unknown): void {
    const a = ctx as Adapter;
    a.armed &= ~timerReset;
    NdisDprAcquireSpinLock(a.lock);
    const resetting = (a.status & fResetInProgress) !== 0;
    NdisDprReleaseSpinLock(a.lock);
    if (!resetting) return;
    removeAdapter(a, true);
    NdisMResetComplete(a.handle, NDIS_STATUS_HARD_ERRORS, false);
  }

  // ------------------------------------------------------ PnP and halt

  /**
   * R8.6, R8.7: cancel a one-shot timer and free it. When the cancel comes too late
   * (it expired, its callback is queued), wait for the callback before freeing.
   */
  function stopTimer(a: Adapter, t: NDIS_HANDLE | null, bit: number): void {
    if (t === null) return;
    if (NdisCancelTimerObject(t)) a.armed &= ~bit;
    while (a.armed & bit) NdisMSleep(100);
    NdisFreeTimerObject(t);
  }

  function devicePnPEventNotify(ctx: unknown, ev: { DevicePnPEvent: number }): void {
    const a = ctx as Adapter;
    if (ev.DevicePnPEvent !== NdisDevicePnPEventSurpriseRemoved) return;
    // R5.7: the hardware is gone: stop touching it, give back what it held.
    NdisAcquireSpinLock(a.lock);
    a.status |= fSurpriseRemoved;
    const resetting = (a.status & fResetInProgress) !== 0;
    a.status &= ~fResetInProgress;
    NdisReleaseSpinLock(a.lock);
    completeSends(a, takeQueuedSends(a, false), NDIS_STATUS_NOT_ACCEPTED, false);
    maybeFinishPause(a);
    // S-d: a reset the NIC will never finish is completed now, with failure.
    if (resetting) {
      if (a.resetTimer !== null && NdisCancelTimerObject(a.resetTimer)) a.armed &= ~timerReset;
      NdisMResetComplete(a.handle, NDIS_STATUS_FAILURE, false);
    }
  }

  function halt(ctx: unknown, _action: number): void {
    const a = ctx as Adapter;
    NdisAcquireSpinLock(a.lock);
    a.status |= fHalting;
    const gone = (a.status & fSurpriseRemoved) !== 0;
    NdisReleaseSpinLock(a.lock);
    // R2.10: quiesce the NIC (unless it is gone), deregister the interrupt early
    // (that also drains its DPCs), cancel and free the timer, undo the rest of init.
    if (!gone) NdisWriteRegisterUlong(a.ctrl, 0);
    if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
    a.interrupt = null;
    stopTimer(a, a.resetTimer, timerReset);
    stopTimer(a, a.txTimer, timerTx);
    a.resetTimer = a.txTimer = null;
    freeReceiveBuffers(a);
    NdisFreeSpinLock(a.lock);
    NdisMUnmapIoSpace(a.handle, a.space, a.spaceBytes);
  }

  function DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: string): NDIS_STATUS {
    let driverHandle: NDIS_HANDLE | null = null;
    const c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS = {
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
      ShutdownHandlerEx: (ctx) => {
        const a = ctx as Adapter;
        if ((a.status & fSurpriseRemoved) === 0) NdisWriteRegisterUlong(a.ctrl, 0);
      },
      // Every request completes before MiniportOidRequest returns: nothing to cancel.
      CancelOidRequestHandler: () => {},
    };
    if (o.checkForHang) {
      c.CheckForHangHandlerEx = checkForHang;
      c.ResetHandlerEx = reset;
    }
    edit(c);
    const r = NdisMRegisterMiniportDriver(DriverObject, RegistryPath, null, c);
    driverHandle = r.NdisMiniportDriverHandle;
    return r.Status;
  }

  return { name: o.name, description: o.description, load: () => ({ DriverEntry }) };
}
