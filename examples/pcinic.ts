// pcinic: a PCI Ethernet miniport, ported to ndis-sim to test it before it meets the
// hardware. Run it with:
//   ndis-sim run examples/pcinic.yaml
//   ndis-sim explore examples/pcinic-explore.yaml
//
// It is written the way a bus-master NIC driver is, against the public API only:
//   - MiniportInitializeEx reads its registry keywords, checks the PCI IDs in the
//     configuration space (NdisMGetBusData), maps BAR0 (NdisMMapIoSpace), registers a
//     scatter/gather DMA channel, takes its receive ring from shared memory (each buffer
//     rounded up to NdisMGetDmaAlignment), pre-allocates one receive NBL per buffer from
//     its own NBL pool, and connects its interrupt (line, or MSI when the device has
//     messages) with NdisMRegisterInterruptEx.
//   - Sends: NBLs wait in order for the NIC's transmit descriptors (TransmitBuffers);
//     each then gets one scatter/gather list per NET_BUFFER (NdisMAllocateNetBufferSGList),
//     and MiniportProcessSGList posts the frame; the TX_DONE interrupt's DPC frees the
//     lists (NdisMFreeNetBufferSGList), completes each NBL once all of its NET_BUFFERs
//     are out, and starts the NBLs waiting. MiniportCancelSend aborts waiting NBLs with
//     the cancel ID it is given (NDIS_GET_NET_BUFFER_LIST_CANCEL_ID).
//   - Receives: the DPC pops frames off the NIC, up to the receive throttle, into the
//     free receive NBLs and indicates them as one chain (with NDIS_RECEIVE_FLAGS_RESOURCES
//     when the ring runs low); MiniportReturnNetBufferLists puts them back.
//   - OIDs: statistics (OID_GEN_STATISTICS and the counters), the packet filter, the
//     multicast list, the permanent and current address, link speed and state.
//   - Link changes: the LINK_CHANGE interrupt is indicated as NDIS_STATUS_LINK_STATE.
//   - MiniportCheckForHangEx watches the firmware heartbeat; MiniportResetEx resets the
//     NIC, fails what it held (R4.12) and completes from the reset-done interrupt, or
//     from a watchdog timer if the NIC never answers. More than ResetLimit resets within
//     ResetWindowSeconds, or a reset the NIC never finishes, is a persistent hardware
//     failure: NdisWriteErrorLogEntry, then NdisMRemoveMiniport, once (R5.21).
//   - MiniportPause stops receiving at the NIC and in the DPC, and pends while anything
//     is still out; MiniportHaltEx gives back everything initialization took.
//
// Registry keywords (scenario `registry:`): ReceiveBuffers (64), TransmitBuffers (256),
// ResetLimit (3), ResetWindowSeconds (30), ResetTimeoutMs (500).
//
// The module also exports the driver with one bug each (`pcinicBugs`): mistakes NDIS
// driver developers make, each caught by the rule test/trialnic.test.ts names. One of
// them, pcinic-rx-race, is the bug examples/pcinic-explore.yaml plants for the explorer.
import * as N from 'ndis-sim';

// ------------------------------------------------------------ the NIC (its datasheet)

const REG_CTRL = 0x00;
const REG_STATUS = 0x04;
const REG_HEARTBEAT = 0x08;
const REG_ICR = 0x0c;
const REG_IMR = 0x10;
const REG_TX_POST = 0x18;
const REG_TX_DONE = 0x1c;
const REG_RX_POP = 0x20;
const REG_RX_PENDING = 0x24;

const CTRL_RESET = 1 << 0;
const CTRL_INTR_ENABLE = 1 << 1;
const CTRL_TX_ENABLE = 1 << 2;
const CTRL_RX_ENABLE = 1 << 3;
const STATUS_LINK_UP = 1 << 0;
const ICR_RESET_DONE = 1 << 0;
const ICR_LINK_CHANGE = 1 << 1;
const ICR_TX_DONE = 1 << 2;
const ICR_RX = 1 << 3;
const ICR_ALL = ICR_RESET_DONE | ICR_LINK_CHANGE | ICR_TX_DONE | ICR_RX;

const PCI_VENDOR = 0x5a5a;
const PCI_DEVICE = 0x0001;
/** What every register of a NIC that fell off the bus reads. */
const ALL_ONES = 0xffffffff;

// ---------------------------------------------------------------- the driver's constants

const LINK_SPEED = 1_000_000_000;
const MAX_FRAME = 1514;
const MAX_MULTICAST = 32;
const MAC = [0x02, 0x50, 0x43, 0x49, 0x00, 0x01];
const POOL_TAG = 0x4e494350; // 'PCIN'
const SUPPORTED_FILTERS =
  N.NDIS_PACKET_TYPE_DIRECTED |
  N.NDIS_PACKET_TYPE_MULTICAST |
  N.NDIS_PACKET_TYPE_ALL_MULTICAST |
  N.NDIS_PACKET_TYPE_BROADCAST |
  N.NDIS_PACKET_TYPE_PROMISCUOUS;

/** Adapter flags, under `lock`. */
const F_PAUSED = 1 << 0;
const F_RESETTING = 1 << 1;
const F_REMOVING = 1 << 2;
const F_SURPRISE_REMOVED = 1 << 3;
const F_HALTING = 1 << 4;

/** The mistakes the bug variants make (see pcinicBugs at the end). */
export type PcinicBug =
  | 'rx-race'
  | 'pause-keeps-receiving'
  | 'double-complete'
  | 'sg-free-passive'
  | 'remove-at-dirql'
  | 'reset-double-complete'
  | 'lock-across-indicate'
  | 'halt-keeps-interrupt'
  | 'dispatch-flag-at-passive'
  | 'stats-overrun'
  | 'halt-leaks-ring';

/** One NET_BUFFER on its way out: its scatter/gather list once MiniportProcessSGList has it. */
interface TxSlot {
  nbl: N.NET_BUFFER_LIST;
  nb: N.NET_BUFFER;
  sgl: N.SCATTER_GATHER_LIST | null;
}

interface Adapter {
  handle: N.NDIS_HANDLE;
  lock: N.NDIS_SPIN_LOCK;
  flags: number;
  // hardware
  regs: N.NDIS_IO_SPACE | null;
  /** The bytes NdisMMapIoSpace mapped: NdisMUnmapIoSpace gives the same length back. */
  regsBytes: number;
  ctrl: N.IoRegister;
  status: N.IoRegister;
  heartbeat: N.IoRegister;
  icr: N.IoRegister;
  imr: N.IoRegister;
  txPost: N.IoRegister;
  txDone: N.IoRegister;
  rxPop: N.IoRegister;
  rxPending: N.IoRegister;
  interrupt: N.NDIS_HANDLE | null;
  /** Causes the ISR read from ICR (read-to-clear) that no DPC has taken yet. */
  isrCauses: number;
  dpcCauses: number;
  // DMA
  dma: N.NDIS_SG_DMA_HANDLE<TxSlot> | null;
  ring: { va: Uint8Array; pa: number; bytes: number } | null;
  rxBufferBytes: number;
  // transmit: slots posted to the NIC, oldest first from txHead; slots waiting for their list
  txRing: TxSlot[];
  txHead: number;
  txWaitingSg: number;
  /** The NIC's transmit descriptors: frames posted or about to be, at most. */
  txSlots: number;
  /** NBLs waiting for descriptors, oldest first (MiniportCancelSend looks here). */
  txWait: N.NET_BUFFER_LIST[];
  // receive
  rxPool: N.NDIS_HANDLE | null;
  rxFree: N.NET_BUFFER_LIST[];
  rxCount: number;
  rxOutstanding: number;
  pausePending: boolean;
  // link and addressing
  linkUp: boolean;
  packetFilter: number;
  multicast: number[][];
  // statistics
  xmitOk: number;
  xmitError: number;
  rcvOk: number;
  rcvError: number;
  rcvNoBuffer: number;
  bytesOut: number;
  bytesIn: number;
  // hang detection and reset
  lastHeartbeat: number;
  resetTimer: N.NDIS_HANDLE | null;
  resetTimerArmed: boolean;
  resetTimes: number[];
  resetLimit: number;
  resetWindowMs: number;
  resetTimeoutMs: number;
  /** Resets seen by the ISR (the remove-at-dirql variant counts there). */
  isrResets: number;
}

function raiseToDispatch(): number {
  return N.NDIS_RAISE_IRQL_TO_DISPATCH();
}

function lower(old: number): void {
  N.NDIS_LOWER_IRQL(old, N.DISPATCH_LEVEL);
}

function readInt(config: N.NDIS_HANDLE, keyword: string, fallback: number): number {
  const r = N.NdisReadConfiguration(config, keyword, N.NdisParameterInteger);
  if (r.Status !== N.NDIS_STATUS_SUCCESS || r.ParameterValue === null) return fallback;
  const d = r.ParameterValue.ParameterData;
  return 'IntegerData' in d ? d.IntegerData : fallback;
}

function chainOf(list: readonly N.NET_BUFFER_LIST[]): N.NET_BUFFER_LIST | null {
  for (let i = 0; i < list.length; i++) list[i]!.Next = list[i + 1] ?? null;
  return list[0] ?? null;
}

function linkState(a: Adapter, up: boolean): N.NDIS_STATUS_INDICATION {
  return {
    Header: { Type: N.NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: N.NDIS_STATUS_INDICATION_REVISION_1 },
    SourceHandle: a.handle,
    PortNumber: 0,
    StatusCode: N.NDIS_STATUS_LINK_STATE,
    Flags: 0,
    DestinationHandle: null,
    RequestId: null,
    StatusBuffer: {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NDIS_LINK_STATE_REVISION_1 },
      MediaConnectState: up ? N.MediaConnectStateConnected : N.MediaConnectStateDisconnected,
      MediaDuplexState: up ? N.MediaDuplexStateFull : N.MediaDuplexStateUnknown,
      XmitLinkSpeed: up ? LINK_SPEED : N.NDIS_LINK_SPEED_UNKNOWN,
      RcvLinkSpeed: up ? LINK_SPEED : N.NDIS_LINK_SPEED_UNKNOWN,
      PauseFunctions: 0,
      AutoNegotiationFlags: 0,
    },
    StatusBufferSize: N.NDIS_SIZEOF_LINK_STATE_REVISION_1,
  };
}

function makeDriver(name: string, description: string, bug: PcinicBug | null): N.DriverModule {
  const has = (b: PcinicBug): boolean => bug === b;

  // ---------------------------------------------------------------- initialization

  function initialize(
    handle: N.NDIS_HANDLE,
    _driverContext: unknown,
    params: N.NDIS_MINIPORT_INIT_PARAMETERS,
  ): N.NDIS_STATUS {
    let rxCount = 64;
    let txSlots = 256;
    let resetLimit = 3;
    let resetWindowSeconds = 30;
    let resetTimeoutMs = 500;
    const cfg = N.NdisOpenConfigurationEx({
      Header: {
        Type: N.NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
        Revision: N.NDIS_CONFIGURATION_OBJECT_REVISION_1,
      },
      NdisHandle: handle,
      Flags: 0,
    });
    if (cfg.Status === N.NDIS_STATUS_SUCCESS && cfg.ConfigurationHandle !== null) {
      rxCount = readInt(cfg.ConfigurationHandle, 'ReceiveBuffers', rxCount);
      txSlots = readInt(cfg.ConfigurationHandle, 'TransmitBuffers', txSlots);
      resetLimit = readInt(cfg.ConfigurationHandle, 'ResetLimit', resetLimit);
      resetWindowSeconds = readInt(cfg.ConfigurationHandle, 'ResetWindowSeconds', resetWindowSeconds);
      resetTimeoutMs = readInt(cfg.ConfigurationHandle, 'ResetTimeoutMs', resetTimeoutMs);
      N.NdisCloseConfiguration(cfg.ConfigurationHandle);
    }
    rxCount = Math.min(Math.max(rxCount, 8), 1024);
    txSlots = Math.min(Math.max(txSlots, 8), 4096);

    const a = {
      handle,
      lock: new N.NDIS_SPIN_LOCK(),
      flags: F_PAUSED,
      regs: null,
      regsBytes: 0,
      interrupt: null,
      isrCauses: 0,
      dpcCauses: 0,
      dma: null,
      ring: null,
      rxBufferBytes: 0,
      txRing: [],
      txHead: 0,
      txWaitingSg: 0,
      txSlots,
      txWait: [],
      rxPool: null,
      rxFree: [],
      rxCount,
      rxOutstanding: 0,
      pausePending: false,
      linkUp: false,
      packetFilter: 0,
      multicast: [],
      xmitOk: 0,
      xmitError: 0,
      rcvOk: 0,
      rcvError: 0,
      rcvNoBuffer: 0,
      bytesOut: 0,
      bytesIn: 0,
      lastHeartbeat: 0,
      resetTimer: null,
      resetTimerArmed: false,
      resetTimes: [],
      resetLimit,
      resetWindowMs: resetWindowSeconds * 1000,
      resetTimeoutMs,
      isrResets: 0,
    } as unknown as Adapter;
    N.NdisAllocateSpinLock(a.lock);

    // R2.4: the registration attributes come before anything touches the hardware.
    let s = N.NdisMSetMiniportAttributes(handle, {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        Revision: N.NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
      },
      MiniportAdapterContext: a,
      AttributeFlags:
        N.NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE |
        N.NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER |
        N.NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
      CheckForHangTimeInSeconds: 2,
      InterfaceType: N.NdisInterfacePci,
    });
    if (s !== N.NDIS_STATUS_SUCCESS) return failInit(a, s);

    // Is this our silicon? The vendor and device IDs open the configuration space.
    const ids = new Uint8Array(4);
    const got = N.NdisMGetBusData(handle, N.PCI_WHICHSPACE_CONFIG, 0, ids, 4);
    const vendor = ids[0]! | (ids[1]! << 8);
    const device = ids[2]! | (ids[3]! << 8);
    if (got !== 4 || vendor !== PCI_VENDOR || device !== PCI_DEVICE) {
      // Not our silicon, or a device that no longer answers (all ones after a sleep).
      N.NdisWriteErrorLogEntry(handle, N.NDIS_ERROR_CODE_ADAPTER_NOT_FOUND, 2, vendor, device);
      return failInit(a, N.NDIS_STATUS_FAILURE);
    }

    // BAR0: the register window PnP assigned.
    const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === N.CmResourceTypeMemory);
    if (mem === undefined || mem.Type !== N.CmResourceTypeMemory) return failInit(a, N.NDIS_STATUS_RESOURCES);
    const mapped = N.NdisMMapIoSpace(handle, mem.u.Memory.Start, mem.u.Memory.Length);
    if (mapped.Status !== N.NDIS_STATUS_SUCCESS || mapped.VirtualAddress === null)
      return failInit(a, mapped.Status);
    const r = mapped.VirtualAddress;
    a.regs = r;
    a.regsBytes = mem.u.Memory.Length;
    a.ctrl = r.at(REG_CTRL);
    a.status = r.at(REG_STATUS);
    a.heartbeat = r.at(REG_HEARTBEAT);
    a.icr = r.at(REG_ICR);
    a.imr = r.at(REG_IMR);
    a.txPost = r.at(REG_TX_POST);
    a.txDone = r.at(REG_TX_DONE);
    a.rxPop = r.at(REG_RX_POP);
    a.rxPending = r.at(REG_RX_PENDING);
    // Quiet the NIC first: whatever the boot firmware left running stops here.
    N.NdisWriteRegisterUlong(a.imr, 0);
    N.NdisWriteRegisterUlong(a.ctrl, 0);
    a.linkUp = (N.NdisReadRegisterUlong(a.status) & STATUS_LINK_UP) !== 0;

    s = N.NdisMSetMiniportAttributes(handle, {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
        Revision: N.NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
      },
      MediaType: N.NdisMedium802_3,
      PhysicalMediumType: N.NdisPhysicalMedium802_3,
      MtuSize: 1500,
      MaxXmitLinkSpeed: LINK_SPEED,
      MaxRcvLinkSpeed: LINK_SPEED,
      XmitLinkSpeed: a.linkUp ? LINK_SPEED : N.NDIS_LINK_SPEED_UNKNOWN,
      RcvLinkSpeed: a.linkUp ? LINK_SPEED : N.NDIS_LINK_SPEED_UNKNOWN,
      MediaConnectState: a.linkUp ? N.MediaConnectStateConnected : N.MediaConnectStateDisconnected,
      MediaDuplexState: a.linkUp ? N.MediaDuplexStateFull : N.MediaDuplexStateUnknown,
      LookaheadSize: 1500,
      MacAddressLength: 6,
      PermanentMacAddress: MAC,
      CurrentMacAddress: MAC,
      MaxMulticastListSize: MAX_MULTICAST,
      SupportedPacketFilters: SUPPORTED_FILTERS,
    });
    if (s !== N.NDIS_STATUS_SUCCESS) return failInit(a, s);

    // Bus-master DMA: one channel for the sends' scatter/gather lists and the ring.
    const dma = N.NdisMRegisterScatterGatherDma<TxSlot>(handle, {
      Header: { Type: N.NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, Revision: N.NDIS_SG_DMA_DESCRIPTION_REVISION_1 },
      Flags: N.NDIS_SG_DMA_64_BIT_ADDRESS,
      MaximumPhysicalMapping: MAX_FRAME,
      ProcessSGListHandler: (_pdo, _reserved, sgl, slot) => processSgList(a, sgl, slot),
      SharedMemAllocateCompleteHandler: null,
      ScatterGatherListSize: 0,
    });
    if (dma.Status !== N.NDIS_STATUS_SUCCESS) return failInit(a, dma.Status);
    a.dma = dma.NdisMiniportDmaHandle;

    // The receive ring: one buffer per descriptor, each a whole number of DMA lines.
    const align = N.NdisMGetDmaAlignment(handle);
    a.rxBufferBytes = Math.ceil(MAX_FRAME / align) * align;
    const ringBytes = a.rxBufferBytes * rxCount;
    const ring = N.NdisMAllocateSharedMemory(handle, ringBytes, true);
    if (ring.VirtualAddress === null) {
      N.NdisWriteErrorLogEntry(handle, N.NDIS_ERROR_CODE_OUT_OF_RESOURCES, 1, ringBytes);
      return failInit(a, N.NDIS_STATUS_RESOURCES);
    }
    a.ring = { va: ring.VirtualAddress, pa: ring.PhysicalAddress, bytes: ringBytes };

    a.rxPool = N.NdisAllocateNetBufferListPool(handle, {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
      ProtocolId: 0,
      fAllocateNetBuffer: true,
      ContextSize: 0,
      PoolTag: POOL_TAG,
      DataSize: 0,
    });
    if (a.rxPool === null) return failInit(a, N.NDIS_STATUS_RESOURCES);
    for (let i = 0; i < rxCount; i++) {
      const buffer = a.ring.va.subarray(i * a.rxBufferBytes, (i + 1) * a.rxBufferBytes);
      const nbl = N.NdisAllocateNetBufferAndNetBufferList(a.rxPool, 0, 0, buffer, 0, a.rxBufferBytes);
      if (nbl === null) return failInit(a, N.NDIS_STATUS_RESOURCES);
      nbl.SourceHandle = handle;
      a.rxFree.push(nbl);
    }

    const t = N.NdisAllocateTimerObject(handle, {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: N.NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: POOL_TAG,
      TimerFunction: resetWatchdog,
      FunctionContext: a,
    });
    if (t.Status !== N.NDIS_STATUS_SUCCESS) return failInit(a, t.Status);
    a.resetTimer = t.TimerObject;

    const irq = N.NdisMRegisterInterruptEx<Adapter>(handle, a, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: N.NDIS_MINIPORT_INTERRUPT_REVISION_1 },
      InterruptHandler: isr,
      InterruptDpcHandler: (ctx, _dpcContext, throttle) => interruptDpc(ctx, 0, throttle),
      DisableInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, 0),
      EnableInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, ICR_ALL),
      // With MSI every message reads the one ICR, so the ISRs of all messages are
      // serialized and each message's DPC services whatever causes are pending.
      MsiSupported: true,
      MsiSyncWithAllMessages: true,
      MessageInterruptHandler: (ctx) => isr(ctx),
      MessageInterruptDpcHandler: (ctx, messageId, _dpcContext, throttle) =>
        interruptDpc(ctx, messageId, throttle),
      DisableMessageInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, 0),
      EnableMessageInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, ICR_ALL),
    });
    if (irq.Status !== N.NDIS_STATUS_SUCCESS) return failInit(a, irq.Status);
    a.interrupt = irq.NdisInterruptHandle;

    a.lastHeartbeat = N.NdisReadRegisterUlong(a.heartbeat);
    N.NdisWriteRegisterUlong(a.imr, ICR_ALL);
    // Paused until MiniportRestart: transmit on, receive off.
    N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR_ENABLE | CTRL_TX_ENABLE);
    return N.NDIS_STATUS_SUCCESS;
  }

  /**
   * R2.5: a failing initialization gives back what it took, in reverse order, and
   * answers one of the four statuses MiniportInitializeEx may return: a DDI's own
   * failure (RESOURCE_CONFLICT from NdisMMapIoSpace, say) is not one of them.
   */
  function failInit(a: Adapter, status: N.NDIS_STATUS): N.NDIS_STATUS {
    release(a, true);
    return status === N.NDIS_STATUS_RESOURCES || status === N.NDIS_STATUS_NOT_ACCEPTED
      ? status
      : N.NDIS_STATUS_FAILURE;
  }

  /** Everything initialization took; from a failed initialization or from halt. */
  function release(a: Adapter, failedInit: boolean): void {
    if (a.interrupt !== null && !(has('halt-keeps-interrupt') && !failedInit))
      N.NdisMDeregisterInterruptEx(a.interrupt);
    a.interrupt = null;
    if (a.resetTimer !== null) {
      // A reset watchdog that fired already has run: halt waits for nothing (R8.6).
      N.NdisCancelTimerObject(a.resetTimer);
      N.NdisFreeTimerObject(a.resetTimer);
      a.resetTimer = null;
    }
    for (const nbl of a.rxFree) N.NdisFreeNetBufferList(nbl);
    a.rxFree.length = 0;
    if (a.rxPool !== null) N.NdisFreeNetBufferListPool(a.rxPool);
    a.rxPool = null;
    if (a.ring !== null && !(has('halt-leaks-ring') && !failedInit))
      N.NdisMFreeSharedMemory(a.handle, a.ring.bytes, true, a.ring.va, a.ring.pa);
    a.ring = null;
    if (a.dma !== null) N.NdisMDeregisterScatterGatherDma(a.dma);
    a.dma = null;
    if (a.regs !== null) N.NdisMUnmapIoSpace(a.handle, a.regs, a.regsBytes);
    a.regs = null;
    N.NdisFreeSpinLock(a.lock);
  }

  // ------------------------------------------------------------------------ sends

  function send(a: Adapter, chain: N.NET_BUFFER_LIST, _port: number, sendFlags: number): void {
    const atDispatch = (sendFlags & N.NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
    // NdisMAllocateNetBufferSGList wants DISPATCH_LEVEL; sends may come at PASSIVE.
    const old = atDispatch ? N.DISPATCH_LEVEL : raiseToDispatch();
    N.NdisDprAcquireSpinLock(a.lock);
    const f = a.flags;
    const refuse =
      f & (F_REMOVING | F_SURPRISE_REMOVED | F_HALTING)
        ? N.NDIS_STATUS_NOT_ACCEPTED
        : f & F_PAUSED
          ? N.NDIS_STATUS_PAUSED
          : f & F_RESETTING
            ? N.NDIS_STATUS_RESET_IN_PROGRESS
            : !a.linkUp
              ? N.NDIS_STATUS_MEDIA_DISCONNECTED
              : N.NDIS_STATUS_SUCCESS;
    const bad: N.NET_BUFFER_LIST[] = [];
    if (refuse === N.NDIS_STATUS_SUCCESS) {
      // Each NBL waits its turn for descriptors, in order; one without a NET_BUFFER
      // carries no frame.
      for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; nbl = N.NET_BUFFER_LIST_NEXT_NBL(nbl)) {
        let k = 0;
        for (let nb = N.NET_BUFFER_LIST_FIRST_NB(nbl); nb !== null; nb = N.NET_BUFFER_NEXT_NB(nb)) k++;
        nbl.MiniportReserved[0] = k;
        nbl.Status = k === 0 ? N.NDIS_STATUS_INVALID_PACKET : N.NDIS_STATUS_SUCCESS;
        if (k === 0) bad.push(nbl);
        else a.txWait.push(nbl);
      }
    }
    N.NdisDprReleaseSpinLock(a.lock);
    if (refuse !== N.NDIS_STATUS_SUCCESS) {
      for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; nbl = nbl.Next) nbl.Status = refuse;
      N.NdisMSendNetBufferListsComplete(a.handle, chain, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
      if (!atDispatch) lower(old);
      return;
    }
    // The chain's links are NDIS's until the NBLs come back: keep them apart now.
    for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; ) {
      const next: N.NET_BUFFER_LIST | null = nbl.Next;
      nbl.Next = null;
      nbl = next;
    }
    if (bad.length > 0)
      N.NdisMSendNetBufferListsComplete(a.handle, chainOf(bad)!, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    startSends(a);
    if (!atDispatch) lower(old);
  }

  /** Frames the NIC holds or is about to: posted, or waiting for their list. Under the lock. */
  function inFlight(a: Adapter): number {
    return a.txRing.length - a.txHead + a.txWaitingSg;
  }

  /**
   * Moves waiting NBLs onto the NIC's descriptors while there are enough for all of an
   * NBL's frames: a list per NET_BUFFER, which MiniportProcessSGList posts, inside
   * the call or later. DISPATCH_LEVEL, no lock held.
   */
  function startSends(a: Adapter): void {
    const failed: N.NET_BUFFER_LIST[] = [];
    for (;;) {
      N.NdisDprAcquireSpinLock(a.lock);
      const nbl = a.txWait[0];
      const frames = nbl === undefined ? 0 : (nbl.MiniportReserved[0] as number);
      const room = inFlight(a) === 0 || inFlight(a) + frames <= a.txSlots;
      if (nbl === undefined || !room || a.flags & (F_RESETTING | F_SURPRISE_REMOVED)) {
        N.NdisDprReleaseSpinLock(a.lock);
        break;
      }
      a.txWait.shift();
      const slots: TxSlot[] = [];
      for (let nb = N.NET_BUFFER_LIST_FIRST_NB(nbl); nb !== null; nb = N.NET_BUFFER_NEXT_NB(nb))
        slots.push({ nbl, nb, sgl: null });
      a.txWaitingSg += slots.length;
      N.NdisDprReleaseSpinLock(a.lock);
      for (const slot of slots) {
        const s = N.NdisMAllocateNetBufferSGList(
          a.dma!,
          slot.nb,
          slot,
          N.NDIS_SG_LIST_WRITE_TO_DEVICE,
          null,
          0,
        );
        if (s === N.NDIS_STATUS_SUCCESS) continue;
        N.NdisDprAcquireSpinLock(a.lock);
        a.txWaitingSg--;
        a.xmitError++;
        slot.nbl.Status = s;
        const last = netBufferDone(slot.nbl);
        N.NdisDprReleaseSpinLock(a.lock);
        if (last) failed.push(slot.nbl);
      }
    }
    if (failed.length > 0)
      N.NdisMSendNetBufferListsComplete(
        a.handle,
        chainOf(failed)!,
        N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
      );
  }

  /**
   * MiniportCancelSend, <= DISPATCH_LEVEL (R6.10): the NBLs still waiting for
   * descriptors that carry this cancel ID complete with NDIS_STATUS_SEND_ABORTED. Those
   * on the NIC's descriptors cannot be recalled; they complete as the NIC sends them.
   */
  function cancelSend(a: Adapter, cancelId: unknown): void {
    const old = raiseToDispatch();
    N.NdisDprAcquireSpinLock(a.lock);
    const cancelled: N.NET_BUFFER_LIST[] = [];
    const keep: N.NET_BUFFER_LIST[] = [];
    for (const nbl of a.txWait)
      (N.NDIS_GET_NET_BUFFER_LIST_CANCEL_ID(nbl) === cancelId ? cancelled : keep).push(nbl);
    // BUG (double-complete): the cancelled NBLs are completed but left in the queue, so
    // they go to the NIC, or fail with the next reset, and complete a second time.
    if (!has('double-complete')) a.txWait = keep;
    a.xmitError += cancelled.length;
    N.NdisDprReleaseSpinLock(a.lock);
    for (const nbl of cancelled) nbl.Status = N.NDIS_STATUS_SEND_ABORTED;
    if (cancelled.length > 0)
      N.NdisMSendNetBufferListsComplete(
        a.handle,
        chainOf(cancelled)!,
        N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
      );
    maybeFinishPause(a);
    lower(old);
  }

  /** One more NET_BUFFER of `nbl` is finished; true when it was the last. Under the lock. */
  function netBufferDone(nbl: N.NET_BUFFER_LIST): boolean {
    const left = (nbl.MiniportReserved[0] as number) - 1;
    nbl.MiniportReserved[0] = left;
    return left === 0;
  }

  /** MiniportProcessSGList, DISPATCH_LEVEL: the list is here; hand the frame to the NIC. */
  function processSgList(a: Adapter, sgl: N.SCATTER_GATHER_LIST, slot: TxSlot): void {
    slot.sgl = sgl;
    let bytes = 0;
    // A real NIC gets each element's Address and Length in a TX descriptor.
    for (const e of sgl.Elements) bytes += e.Length;
    N.NdisDprAcquireSpinLock(a.lock);
    a.txWaitingSg--;
    // A list that comes after the NIC was reset or removed: the frame is not posted
    // (R4.12: a reset completes with no send pending; R5.7: the NIC is gone).
    const refuse =
      a.flags & F_SURPRISE_REMOVED
        ? N.NDIS_STATUS_NOT_ACCEPTED
        : a.flags & F_RESETTING
          ? N.NDIS_STATUS_RESET_IN_PROGRESS
          : N.NDIS_STATUS_SUCCESS;
    let last = false;
    if (refuse === N.NDIS_STATUS_SUCCESS) {
      a.txRing.push(slot);
      N.NdisWriteRegisterUlong(a.txPost, bytes);
      a.bytesOut += bytes;
    } else {
      slot.nbl.Status = refuse;
      a.xmitError++;
      last = netBufferDone(slot.nbl);
    }
    N.NdisDprReleaseSpinLock(a.lock);
    if (refuse === N.NDIS_STATUS_SUCCESS) return;
    N.NdisMFreeNetBufferSGList(a.dma!, sgl, slot.nb);
    if (last)
      N.NdisMSendNetBufferListsComplete(a.handle, slot.nbl, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    maybeFinishPause(a);
  }

  /**
   * Takes every posted slot off the ring, gives its list back and completes the NBLs
   * whose last NET_BUFFER it was, with `status`. DISPATCH_LEVEL.
   */
  function flushRing(a: Adapter, status: N.NDIS_STATUS): void {
    N.NdisDprAcquireSpinLock(a.lock);
    const slots = a.txRing.slice(a.txHead);
    // Those still waiting for descriptors go with them.
    const done: N.NET_BUFFER_LIST[] = a.txWait;
    a.txWait = [];
    for (const nbl of done) nbl.Status = status;
    a.txRing = [];
    a.txHead = 0;
    for (const s of slots) {
      s.nbl.Status = status;
      if (netBufferDone(s.nbl)) done.push(s.nbl);
    }
    a.xmitError += slots.length;
    N.NdisDprReleaseSpinLock(a.lock);
    for (const s of slots) N.NdisMFreeNetBufferSGList(a.dma!, s.sgl!, s.nb);
    if (done.length > 0)
      N.NdisMSendNetBufferListsComplete(a.handle, chainOf(done)!, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    maybeFinishPause(a);
  }

  /** The TX_DONE cause: the NIC finished this many frames, oldest first. DISPATCH_LEVEL. */
  function transmitted(a: Adapter): void {
    const count = N.NdisReadRegisterUlong(a.txDone);
    if (count === 0 || count === ALL_ONES) return;
    N.NdisDprAcquireSpinLock(a.lock);
    const end = Math.min(a.txHead + count, a.txRing.length);
    const slots = a.txRing.slice(a.txHead, end);
    a.txHead = end;
    if (a.txHead === a.txRing.length) {
      a.txRing = [];
      a.txHead = 0;
    } else if (a.txHead > 256) {
      a.txRing = a.txRing.slice(a.txHead);
      a.txHead = 0;
    }
    const done: N.NET_BUFFER_LIST[] = [];
    for (const s of slots) if (netBufferDone(s.nbl)) done.push(s.nbl);
    a.xmitOk += slots.length;
    N.NdisDprReleaseSpinLock(a.lock);
    for (const s of slots) N.NdisMFreeNetBufferSGList(a.dma!, s.sgl!, s.nb);
    if (done.length > 0)
      N.NdisMSendNetBufferListsComplete(a.handle, chainOf(done)!, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    // Descriptors are free again: the NBLs waiting for them go to the NIC.
    startSends(a);
    maybeFinishPause(a);
  }

  // --------------------------------------------------------------------- receives

  /** The RX cause: frames waiting in the NIC, up to the throttle's budget. DISPATCH_LEVEL. */
  function received(a: Adapter, throttle: N.NDIS_RECEIVE_THROTTLE_PARAMETERS | null): void {
    const budget =
      throttle === null || throttle.MaxNblsToIndicate === N.NDIS_INDICATE_ALL_NBLS
        ? Number.POSITIVE_INFINITY
        : throttle.MaxNblsToIndicate;
    const take: N.NET_BUFFER_LIST[] = [];
    N.NdisDprAcquireSpinLock(a.lock);
    // R3.3, R1.7: nothing goes up once MiniportPause has run; frames still in the NIC
    // are dropped. (pcinic-rx-race trusts MiniportPause's RX_ENABLE write instead, but
    // frames the NIC latched before it are still in its queue.)
    const stopped = (a.flags & (F_PAUSED | F_RESETTING | F_SURPRISE_REMOVED)) !== 0;
    const indicate =
      has('rx-race') || has('pause-keeps-receiving') ? (a.flags & F_SURPRISE_REMOVED) === 0 : !stopped;
    while (take.length < budget) {
      const len = N.NdisReadRegisterUlong(a.rxPop);
      if (len === 0 || len === ALL_ONES) break;
      if (!indicate) continue;
      if (len > a.rxBufferBytes) {
        a.rcvError++; // a runt or a giant: the descriptor's length is not a frame
        continue;
      }
      const nbl = a.rxFree.pop();
      if (nbl === undefined) {
        a.rcvNoBuffer++;
        continue;
      }
      nbl.FirstNetBuffer!.DataLength = len;
      nbl.FirstNetBuffer!.DataOffset = 0;
      a.bytesIn += len;
      take.push(nbl);
    }
    if (throttle !== null && take.length >= budget)
      throttle.MoreNblsPending = N.NdisReadRegisterUlong(a.rxPending) > 0;
    // R6.13: short of buffers, the stack copies and the NBLs are ours again at once.
    const low = a.rxFree.length < a.rxCount / 4;
    if (!low) a.rxOutstanding += take.length;
    a.rcvOk += take.length;
    if (!has('lock-across-indicate')) N.NdisDprReleaseSpinLock(a.lock);
    if (take.length > 0) {
      const flags = N.NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL | (low ? N.NDIS_RECEIVE_FLAGS_RESOURCES : 0);
      N.NdisMIndicateReceiveNetBufferLists(
        a.handle,
        chainOf(take)!,
        N.NDIS_DEFAULT_PORT_NUMBER,
        take.length,
        flags,
      );
    }
    if (has('lock-across-indicate')) N.NdisDprReleaseSpinLock(a.lock);
    if (low && take.length > 0) {
      N.NdisDprAcquireSpinLock(a.lock);
      for (const nbl of take) {
        nbl.Next = null;
        a.rxFree.push(nbl);
      }
      N.NdisDprReleaseSpinLock(a.lock);
    }
  }

  function returnNbls(a: Adapter, chain: N.NET_BUFFER_LIST, returnFlags: number): void {
    const atDispatch = (returnFlags & N.NDIS_RETURN_FLAGS_DISPATCH_LEVEL) !== 0;
    if (atDispatch) N.NdisDprAcquireSpinLock(a.lock);
    else N.NdisAcquireSpinLock(a.lock);
    let k = 0;
    for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; ) {
      const next: N.NET_BUFFER_LIST | null = nbl.Next;
      nbl.Next = null;
      a.rxFree.push(nbl);
      k++;
      nbl = next;
    }
    a.rxOutstanding -= k;
    if (atDispatch) N.NdisDprReleaseSpinLock(a.lock);
    else N.NdisReleaseSpinLock(a.lock);
    maybeFinishPause(a);
  }

  // -------------------------------------------------------- interrupt and DPC

  /** MiniportInterrupt (and each message's): DIRQL. Read and clear the causes; the DPC does the work. */
  function isr(a: Adapter): {
    InterruptRecognized: boolean;
    QueueDefaultInterruptDpc: boolean;
    TargetProcessors: number;
  } {
    const causes = N.NdisReadRegisterUlong(a.icr);
    // All ones: the NIC is gone from the bus; on a shared line, not ours.
    if (causes === 0 || causes === ALL_ONES)
      return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
    a.isrCauses |= causes;
    if (has('remove-at-dirql') && causes & ICR_RESET_DONE && ++a.isrResets > a.resetLimit) {
      // BUG: the give-up decision moved into the ISR, which knows not to take the
      // adapter's spin lock there, but not that NdisMRemoveMiniport is for
      // <= DISPATCH_LEVEL too.
      a.flags |= F_REMOVING;
      N.NdisMRemoveMiniport(a.handle);
    }
    return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
  }

  /** MINIPORT_SYNCHRONIZE_INTERRUPT, at DIRQL in step with the ISR: take the latched causes. */
  function takeCauses(a: Adapter): boolean {
    a.dpcCauses = a.isrCauses;
    a.isrCauses = 0;
    return true;
  }

  /** MiniportInterruptDPC / MiniportMessageInterruptDPC: DISPATCH_LEVEL. */
  function interruptDpc(
    a: Adapter,
    messageId: number,
    throttle: N.NDIS_RECEIVE_THROTTLE_PARAMETERS | null,
  ): void {
    if (a.interrupt === null) return;
    N.NdisMSynchronizeWithInterruptEx(a.interrupt, messageId, takeCauses, a);
    const causes = a.dpcCauses;
    if (causes & ICR_RESET_DONE) resetDone(a);
    if (causes & ICR_TX_DONE) transmitted(a);
    if (causes & ICR_RX || (throttle?.MoreNblsPending ?? false)) received(a, throttle);
    if (causes & ICR_LINK_CHANGE) linkChanged(a);
  }

  function linkChanged(a: Adapter): void {
    const st = N.NdisReadRegisterUlong(a.status);
    if (st === ALL_ONES) return;
    const up = (st & STATUS_LINK_UP) !== 0;
    N.NdisDprAcquireSpinLock(a.lock);
    const changed = up !== a.linkUp;
    a.linkUp = up;
    N.NdisDprReleaseSpinLock(a.lock);
    if (changed) N.NdisMIndicateStatusEx(a.handle, linkState(a, up));
  }

  // ------------------------------------------------------------ pause and restart

  function pause(a: Adapter, _params: unknown): N.NDIS_STATUS {
    N.NdisAcquireSpinLock(a.lock);
    if (!has('pause-keeps-receiving')) a.flags |= F_PAUSED;
    const drained = inFlight(a) === 0 && a.txWait.length === 0 && a.rxOutstanding === 0;
    a.pausePending = !drained;
    const gone = (a.flags & F_SURPRISE_REMOVED) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    // Receive off at the NIC; transmit stays on to drain what it holds.
    if (!gone && !has('pause-keeps-receiving'))
      N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR_ENABLE | CTRL_TX_ENABLE);
    // R3.3: complete once every send is back and every indicated NBL returned.
    return drained ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_PENDING;
  }

  function maybeFinishPause(a: Adapter): void {
    N.NdisAcquireSpinLock(a.lock);
    const finish = a.pausePending && inFlight(a) === 0 && a.txWait.length === 0 && a.rxOutstanding === 0;
    if (finish) a.pausePending = false;
    N.NdisReleaseSpinLock(a.lock);
    if (finish) N.NdisMPauseComplete(a.handle);
  }

  function restart(a: Adapter, _params: unknown): N.NDIS_STATUS {
    N.NdisAcquireSpinLock(a.lock);
    a.flags &= ~F_PAUSED;
    const gone = (a.flags & F_SURPRISE_REMOVED) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    if (!gone) N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR_ENABLE | CTRL_TX_ENABLE | CTRL_RX_ENABLE);
    return N.NDIS_STATUS_SUCCESS;
  }

  // ------------------------------------------------------------------------ OIDs

  function oidRequest(a: Adapter, req: N.NDIS_OID_REQUEST): N.NDIS_STATUS {
    // R5.7: once the hardware is gone, requests fail at once.
    if (a.flags & F_SURPRISE_REMOVED) return N.NDIS_STATUS_NOT_ACCEPTED;
    if (req.RequestType === N.NdisRequestQueryInformation) return query(a, req.DATA.QUERY_INFORMATION);
    if (req.RequestType === N.NdisRequestSetInformation) return set(a, req.DATA.SET_INFORMATION);
    return N.NDIS_STATUS_NOT_SUPPORTED;
  }

  /** A counter: 8 bytes, or 4 when that is all the buffer holds (the OID pages allow both). */
  function counter(d: N.NDIS_OID_QUERY_INFORMATION, value: number): N.NDIS_STATUS {
    if (d.InformationBufferLength < 4) {
      d.BytesNeeded = 8;
      return N.NDIS_STATUS_BUFFER_TOO_SHORT;
    }
    const bytes = d.InformationBufferLength >= 8 ? 8 : 4;
    d.InformationBuffer = bytes === 8 ? value : value >>> 0;
    d.BytesWritten = bytes;
    return N.NDIS_STATUS_SUCCESS;
  }

  function answer(d: N.NDIS_OID_QUERY_INFORMATION, value: unknown, bytes: number): N.NDIS_STATUS {
    if (d.InformationBufferLength < bytes) {
      d.BytesNeeded = bytes;
      return N.NDIS_STATUS_BUFFER_TOO_SHORT;
    }
    d.InformationBuffer = value;
    d.BytesWritten = bytes;
    return N.NDIS_STATUS_SUCCESS;
  }

  function query(a: Adapter, d: N.NDIS_OID_QUERY_INFORMATION): N.NDIS_STATUS {
    switch (d.Oid) {
      case N.OID_GEN_STATISTICS: {
        const stats = {
          ifHCInUcastPkts: a.rcvOk,
          ifHCOutUcastPkts: a.xmitOk,
          ifHCInOctets: a.bytesIn,
          ifHCOutOctets: a.bytesOut,
          ifInErrors: a.rcvError,
          ifInDiscards: a.rcvNoBuffer,
          ifOutErrors: a.xmitError,
        };
        if (has('stats-overrun')) {
          // BUG: the answer goes out whatever the buffer's size.
          d.InformationBuffer = stats;
          d.BytesWritten = N.NDIS_SIZEOF_STATISTICS_INFO_REVISION_1;
          return N.NDIS_STATUS_SUCCESS;
        }
        return answer(d, stats, N.NDIS_SIZEOF_STATISTICS_INFO_REVISION_1);
      }
      case N.OID_GEN_XMIT_OK:
        return counter(d, a.xmitOk);
      case N.OID_GEN_RCV_OK:
        return counter(d, a.rcvOk);
      case N.OID_GEN_XMIT_ERROR:
        return counter(d, a.xmitError);
      case N.OID_GEN_RCV_ERROR:
        return counter(d, a.rcvError);
      case N.OID_GEN_RCV_NO_BUFFER:
        return counter(d, a.rcvNoBuffer);
      case N.OID_GEN_CURRENT_PACKET_FILTER:
        return answer(d, a.packetFilter, 4);
      case N.OID_802_3_MULTICAST_LIST:
        return answer(
          d,
          a.multicast.map((m) => [...m]),
          a.multicast.length * 6,
        );
      case N.OID_802_3_MAXIMUM_LIST_SIZE:
        return answer(d, MAX_MULTICAST, 4);
      case N.OID_802_3_PERMANENT_ADDRESS:
      case N.OID_802_3_CURRENT_ADDRESS:
        return answer(d, [...MAC], 6);
      case N.OID_GEN_LINK_SPEED:
        // In units of 100 bit/s.
        return answer(d, a.linkUp ? LINK_SPEED / 100 : 0, 4);
      case N.OID_GEN_MEDIA_CONNECT_STATUS:
        return answer(d, a.linkUp ? N.MediaConnectStateConnected : N.MediaConnectStateDisconnected, 4);
      case N.OID_GEN_VENDOR_ID:
        return answer(d, (MAC[0]! << 16) | (MAC[1]! << 8) | MAC[2]!, 4);
    }
    return N.NDIS_STATUS_NOT_SUPPORTED;
  }

  function set(a: Adapter, d: N.NDIS_OID_SET_INFORMATION): N.NDIS_STATUS {
    switch (d.Oid) {
      case N.OID_GEN_CURRENT_PACKET_FILTER: {
        if (d.InformationBufferLength < 4) {
          d.BytesNeeded = 4;
          return N.NDIS_STATUS_INVALID_LENGTH;
        }
        const filter = d.InformationBuffer as number;
        if ((filter & ~SUPPORTED_FILTERS) !== 0) return N.NDIS_STATUS_NOT_SUPPORTED;
        a.packetFilter = filter;
        d.BytesRead = 4;
        return N.NDIS_STATUS_SUCCESS;
      }
      case N.OID_802_3_MULTICAST_LIST: {
        if (d.InformationBufferLength % 6 !== 0) {
          d.BytesNeeded = Math.ceil(d.InformationBufferLength / 6) * 6;
          return N.NDIS_STATUS_INVALID_LENGTH;
        }
        const list = d.InformationBuffer as number[][];
        if (list.length > MAX_MULTICAST) return N.NDIS_STATUS_MULTICAST_FULL;
        a.multicast = list.map((m) => [...m]);
        d.BytesRead = list.length * 6;
        return N.NDIS_STATUS_SUCCESS;
      }
      case N.OID_GEN_CURRENT_LOOKAHEAD:
      case N.OID_GEN_LINK_PARAMETERS:
      case N.OID_GEN_INTERRUPT_MODERATION:
        d.BytesRead = d.InformationBufferLength;
        return N.NDIS_STATUS_SUCCESS;
    }
    return N.NDIS_STATUS_NOT_SUPPORTED;
  }

  // ---------------------------------------------------------- hang, reset, removal

  function checkForHang(a: Adapter): boolean {
    N.NdisAcquireSpinLock(a.lock);
    const busy = (a.flags & (F_RESETTING | F_REMOVING | F_SURPRISE_REMOVED | F_HALTING)) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    // R5.13: once removal is known, or while a reset runs, nothing to report.
    if (busy) return false;
    const hb = N.NdisReadRegisterUlong(a.heartbeat);
    if (hb === ALL_ONES) {
      // The NIC fell off the bus and PnP does not know: no reset brings it back.
      removeAdapter(a);
      return false;
    }
    const hung = hb === a.lastHeartbeat;
    a.lastHeartbeat = hb;
    return hung;
  }

  /**
   * R5.21: the one place that gives up on the adapter. REMOVING set and RESETTING
   * cleared under the lock; only the caller that set REMOVING logs and removes.
   */
  function removeAdapter(a: Adapter): boolean {
    N.NdisAcquireSpinLock(a.lock);
    const already = (a.flags & F_REMOVING) !== 0;
    a.flags = (a.flags | F_REMOVING) & ~F_RESETTING;
    N.NdisReleaseSpinLock(a.lock);
    if (already) return false;
    N.NdisWriteErrorLogEntry(
      a.handle,
      N.NDIS_ERROR_CODE_HARDWARE_FAILURE,
      2,
      a.resetTimes.length,
      a.resetWindowMs / 1000,
    );
    if (N.NdisReadRegisterUlong(a.status) !== ALL_ONES) N.NdisWriteRegisterUlong(a.ctrl, 0);
    N.NdisMRemoveMiniport(a.handle);
    return true;
  }

  function reset(a: Adapter): { Status: N.NDIS_STATUS; AddressingReset: boolean } {
    const now = N.NdisGetSystemUpTimeEx();
    N.NdisAcquireSpinLock(a.lock);
    const removing = (a.flags & (F_REMOVING | F_SURPRISE_REMOVED)) !== 0;
    if (!removing) {
      a.resetTimes = a.resetTimes.filter((t) => now - t < a.resetWindowMs);
      a.resetTimes.push(now);
    }
    const giveUp = !removing && a.resetTimes.length > a.resetLimit && !has('remove-at-dirql');
    if (!removing && !giveUp) a.flags |= F_RESETTING;
    N.NdisReleaseSpinLock(a.lock);

    // R4.12: what the NIC holds is lost with the reset: the sends complete now.
    const old = raiseToDispatch();
    flushRing(a, N.NDIS_STATUS_RESET_IN_PROGRESS);
    lower(old);
    if (removing) return { Status: N.NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
    if (giveUp) {
      // Resetting this often keeps the machine busy for nothing: a persistent
      // hardware failure (R5.21). HARD_ERRORS: the reset is over.
      removeAdapter(a);
      return { Status: N.NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
    }
    const rx = a.flags & F_PAUSED ? 0 : CTRL_RX_ENABLE;
    N.NdisWriteRegisterUlong(a.ctrl, CTRL_RESET | CTRL_INTR_ENABLE | CTRL_TX_ENABLE | rx);
    a.resetTimerArmed = true;
    N.NdisSetTimerObject(a.resetTimer!, -a.resetTimeoutMs * 10_000, 0, a);
    return { Status: N.NDIS_STATUS_PENDING, AddressingReset: false };
  }

  /** The RESET_DONE cause: the NIC is back. DISPATCH_LEVEL. */
  function resetDone(a: Adapter): void {
    N.NdisDprAcquireSpinLock(a.lock);
    const mine = (a.flags & F_RESETTING) !== 0;
    a.flags &= ~F_RESETTING;
    N.NdisDprReleaseSpinLock(a.lock);
    // The watchdog or a removal may have completed the reset already (R4.14: once).
    if (!mine) return;
    if (N.NdisCancelTimerObject(a.resetTimer!)) a.resetTimerArmed = false;
    a.lastHeartbeat = N.NdisReadRegisterUlong(a.heartbeat);
    N.NdisMResetComplete(a.handle, N.NDIS_STATUS_SUCCESS, false);
  }

  /** The NIC never signalled RESET_DONE: the hardware reset failed (R5.21, before NdisMResetComplete). */
  function resetWatchdog(_systemSpecific: unknown, a: Adapter): void {
    a.resetTimerArmed = false;
    N.NdisDprAcquireSpinLock(a.lock);
    const resetting = (a.flags & F_RESETTING) !== 0;
    N.NdisDprReleaseSpinLock(a.lock);
    if (!resetting) return;
    if (has('reset-double-complete')) {
      // BUG: a slow reset is taken for a transient failure: the reset completes with
      // an error, but RESETTING stays set, so the late RESET_DONE completes it again.
      N.NdisMResetComplete(a.handle, N.NDIS_STATUS_HARD_ERRORS, false);
      return;
    }
    removeAdapter(a);
    N.NdisMResetComplete(a.handle, N.NDIS_STATUS_HARD_ERRORS, false);
  }

  function devicePnPEventNotify(a: Adapter, ev: N.NET_DEVICE_PNP_EVENT): void {
    if (ev.DevicePnPEvent !== N.NdisDevicePnPEventSurpriseRemoved) return;
    // R5.7: the NIC is gone: stop touching it and give back what it held.
    N.NdisAcquireSpinLock(a.lock);
    a.flags |= F_SURPRISE_REMOVED;
    const resetting = (a.flags & F_RESETTING) !== 0;
    a.flags &= ~F_RESETTING;
    N.NdisReleaseSpinLock(a.lock);
    if (has('sg-free-passive') || has('dispatch-flag-at-passive')) {
      // BUG: flushes the ring right here, at PASSIVE_LEVEL: the lists go back below
      // DISPATCH_LEVEL (sg-free-passive), or the completion claims DISPATCH_LEVEL
      // (dispatch-flag-at-passive).
      flushRingAtPassive(a);
    } else {
      const old = raiseToDispatch();
      flushRing(a, N.NDIS_STATUS_NOT_ACCEPTED);
      lower(old);
    }
    // A reset the NIC will never finish completes now, with failure.
    if (resetting) {
      if (N.NdisCancelTimerObject(a.resetTimer!)) a.resetTimerArmed = false;
      N.NdisMResetComplete(a.handle, N.NDIS_STATUS_FAILURE, false);
    }
  }

  function flushRingAtPassive(a: Adapter): void {
    N.NdisAcquireSpinLock(a.lock);
    const slots = a.txRing.slice(a.txHead);
    a.txRing = [];
    a.txHead = 0;
    const done: N.NET_BUFFER_LIST[] = a.txWait;
    a.txWait = [];
    for (const nbl of done) nbl.Status = N.NDIS_STATUS_NOT_ACCEPTED;
    for (const s of slots) {
      s.nbl.Status = N.NDIS_STATUS_NOT_ACCEPTED;
      if (netBufferDone(s.nbl)) done.push(s.nbl);
    }
    N.NdisReleaseSpinLock(a.lock);
    if (has('sg-free-passive')) {
      for (const s of slots) N.NdisMFreeNetBufferSGList(a.dma!, s.sgl!, s.nb);
      if (done.length > 0) N.NdisMSendNetBufferListsComplete(a.handle, chainOf(done)!, 0);
    } else {
      const old = raiseToDispatch();
      for (const s of slots) N.NdisMFreeNetBufferSGList(a.dma!, s.sgl!, s.nb);
      lower(old);
      if (done.length > 0)
        N.NdisMSendNetBufferListsComplete(
          a.handle,
          chainOf(done)!,
          N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
        );
    }
  }

  function halt(a: Adapter, _action: number): void {
    N.NdisAcquireSpinLock(a.lock);
    a.flags |= F_HALTING;
    const gone = (a.flags & F_SURPRISE_REMOVED) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    // R2.10: quiet the NIC, disconnect the interrupt (its DPCs drain with it), then
    // give back the rest of what initialization took.
    if (!gone) {
      N.NdisWriteRegisterUlong(a.imr, 0);
      N.NdisWriteRegisterUlong(a.ctrl, 0);
    }
    if (a.interrupt !== null && !has('halt-keeps-interrupt')) N.NdisMDeregisterInterruptEx(a.interrupt);
    if (!has('halt-keeps-interrupt')) a.interrupt = null;
    // A reset watchdog still set is cancelled; one already running has its own
    // NdisMResetComplete to make, and NDIS does not halt during a reset (R4.11).
    while (a.resetTimerArmed && !N.NdisCancelTimerObject(a.resetTimer!)) N.NdisMSleep(100);
    a.resetTimerArmed = false;
    release(a, false);
  }

  function DriverEntry(driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS {
    let driverHandle: N.NDIS_HANDLE | null = null;
    const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
        Revision: N.NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
      },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      MajorDriverVersion: 1,
      MinorDriverVersion: 0,
      InitializeHandlerEx: initialize,
      HaltHandlerEx: halt,
      UnloadHandler: () => {
        if (driverHandle !== null) N.NdisMDeregisterMiniportDriver(driverHandle);
        driverHandle = null;
      },
      PauseHandler: pause,
      RestartHandler: restart,
      OidRequestHandler: oidRequest,
      SendNetBufferListsHandler: send,
      ReturnNetBufferListsHandler: returnNbls,
      CancelSendHandler: cancelSend,
      CheckForHangHandlerEx: checkForHang,
      ResetHandlerEx: reset,
      DevicePnPEventNotifyHandler: devicePnPEventNotify,
      ShutdownHandlerEx: (a) => {
        // Any IRQL, no locks: just stop the DMA engines.
        if ((a.flags & F_SURPRISE_REMOVED) === 0) N.NdisWriteRegisterUlong(a.ctrl, 0);
      },
      // Every request completes inside MiniportOidRequest: none to cancel.
      CancelOidRequestHandler: () => {},
    });
    driverHandle = r.NdisMiniportDriverHandle;
    return r.Status;
  }

  return { name, description, load: () => ({ DriverEntry }) };
}

export const pcinic: N.DriverModule = makeDriver(
  'pcinic',
  'a bus-master PCI Ethernet miniport: scatter/gather sends, a shared-memory receive ring, MSI, check-for-hang, reset and R5.21 give-up',
  null,
);

/** pcinic with one mistake each, as an NDIS developer makes them; the rule that catches it in brackets. */
const bugs: [PcinicBug, string][] = [
  [
    'rx-race',
    'the receive DPC trusts MiniportPause to have turned receive off at the NIC, but frames latched before that still go up to a Paused adapter (NdisSim_ReceiveNotAllowed, for explore)',
  ],
  [
    'pause-keeps-receiving',
    'MiniportPause returns SUCCESS without stopping the receive path (NdisSim_ReceiveNotAllowed)',
  ],
  [
    'double-complete',
    'MiniportCancelSend completes the cancelled NBLs but leaves them in its queue, so they complete again when the reset fails the queue (NdisSim_SendCompleteUnexpected)',
  ],
  [
    'sg-free-passive',
    'the SurpriseRemoved handler gives the scatter/gather lists back at PASSIVE_LEVEL (Irql_Gather_DMA_Function)',
  ],
  [
    'remove-at-dirql',
    'the give-up decision sits in the ISR: NdisMRemoveMiniport at DIRQL (Irql_Miniport_Driver_Function)',
  ],
  [
    'reset-double-complete',
    'the reset watchdog completes a slow reset but leaves RESETTING set, so the late reset-done DPC completes it again (NdisSim_ResetCompleteUnexpected)',
  ],
  ['lock-across-indicate', 'the receive DPC indicates with its spin lock held (NdisSim_LockHeldAcrossCall)'],
  ['halt-keeps-interrupt', 'MiniportHaltEx forgets NdisMDeregisterInterruptEx (Init_DeRegisterInterrupt)'],
  [
    'dispatch-flag-at-passive',
    'the SurpriseRemoved handler completes sends at PASSIVE_LEVEL with NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL (NdisSim_DispatchLevelFlag)',
  ],
  ['stats-overrun', 'OID_GEN_STATISTICS is answered whatever the buffer length (NdisSim_OidInvalidBuffer)'],
  [
    'halt-leaks-ring',
    'MiniportHaltEx does not free the receive ring with NdisMFreeSharedMemory (NdisSim_ResourceNotFreed)',
  ],
];

export const pcinicBugs: N.DriverModule[] = bugs.map(([bug, what]) =>
  makeDriver(`pcinic-${bug}`, `pcinic, bug: ${what}`, bug),
);
