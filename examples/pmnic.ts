// pmnic: a PCI Ethernet miniport with power management, ported to ndis-sim to try its
// power paths before it meets the hardware. Run it with:
//   ndis-sim run examples/pmnic.yaml
//   ndis-sim explore examples/pmnic-explore.yaml
//
// What it does about power, as an NDIS 6.30 NIC driver does:
//   - MiniportInitializeEx reports NDIS_PM_CAPABILITIES (revision 2) in its general
//     attributes: magic-packet, bitmap, IPv4 and IPv6 TCP SYN and EAPOL request-identity
//     wake-on-LAN patterns (with the address and port wildcards), wake on link change, and
//     NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED; MiniportSetOptions registers the selective
//     suspend handlers (NdisSetOptionalHandlers).
//   - OID_PNP_QUERY_POWER is always succeeded. OID_PM_PARAMETERS keeps the wake-up
//     settings it is given; OID_PM_ADD_WOL_PATTERN and OID_PM_REMOVE_WOL_PATTERN keep a
//     pattern table: a bitmap, TCP SYN or EAPOL pattern takes one of the NIC's four
//     flexible filter slots (no free slot: NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL), a
//     magic-packet pattern takes none; any other type is NDIS_STATUS_NOT_SUPPORTED. The
//     PatternId NDIS gave the pattern that woke the NIC goes into the wake reason.
//   - OID_PNP_SET_POWER(D3): interrupts off, the statistics timer cancelled, the sends
//     it still holds completed with NDIS_STATUS_LOW_POWER_STATE, then SUCCESS. After it
//     the driver never touches a register until OID_PNP_SET_POWER(D0).
//   - OID_PNP_SET_POWER(D0): the NIC, fresh from reset, is looked at: if it answers, it
//     is programmed again and the request succeeds at once; if it reads all ones it may
//     still be waking, so the request pends and a timer polls it every 10 ms. When it
//     answers, the request completes. When it never does (ResumeTimeoutMs, 100 ms), the
//     request still completes with SUCCESS, as the OID_PNP_SET_POWER page demands, and
//     a work item gives up on the adapter: NdisWriteErrorLogEntry, then
//     NdisMRemoveMiniport (R5.21). NDIS fails the device and it ends at Code 43.
//   - Wake-up filters: before OID_PNP_SET_POWER(D3) succeeds, the driver programs the
//     NIC's wake-up logic from what NDIS enabled: the station address (RAL/RAH) and the
//     magic-packet filter (WUFC.MAG) when OID_PM_PARAMETERS enabled the magic packet,
//     the link-change filter (WUFC.LNKC) for wake on link change or selective suspend,
//     and the patterns, each into its slot (FLXA/FLXD) and armed (WUFC.FLXn), when it
//     enabled their type. The NIC has no TCP or EAPOL logic of its own: the driver writes
//     a SYN or an EAPOL request identity as the bytes a flexible filter compares (see
//     protocolFilter).
//     The NIC then wakes only on a frame or link change that matches, and only when the
//     bus armed it (PME_En).
//   - A wake: the NIC latches its wake event in the PM status register of its PCI
//     configuration space (PMCSR.PME_Status; configuration space is readable in D3), and
//     which filter matched in WUS, the wake packet in WUPL/WUPM. While handling
//     OID_PNP_SET_POWER(D0) the driver reads and clears them and, when PME_Status is
//     set, indicates NDIS_STATUS_PM_WAKE_REASON before anything else: NdisWakeReasonPacket
//     with the wake packet (NDIS_PM_WAKE_PACKET, with the PatternId of the pattern that
//     matched) for a magic packet or a bitmap pattern, the media connect or
//     disconnect for a link change, NdisWakeReasonUnspecified for a wake WUS cannot tell.
//   - Selective suspend: MiniportIdleNotification confirms D3 with
//     NdisMIdleNotificationConfirm and pends; MiniportCancelIdleNotification completes it
//     with NdisMIdleNotificationComplete (NDIS then sets D0 and sends what it held).
//   - MiniportCheckForHangEx watches the firmware heartbeat and gives up on a NIC that
//     reads all ones; a NIC whose heartbeat stops is reset.
//
// Registry keywords (scenario `registry:`): ReceiveBuffers (32), ResumeTimeoutMs (100),
// and NDIS's own *SelectiveSuspend and *SSIdleTimeout.
//
// The module also exports the driver with one power-management mistake each
// (`pmnicBugs`); test/trialpm.test.ts runs each and names the rule that catches it.
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
// The wake-up logic (kept through D3 on auxiliary power).
const REG_RAL = 0x28;
const REG_RAH = 0x2c;
const REG_WUFC = 0x30;
const REG_WUS = 0x34;
const REG_WUPL = 0x38;
const REG_FLXA = 0x3c;
const REG_FLXD = 0x40;
const REG_WUPM = 0x80;
const WUFC_LNKC = 1 << 0;
const WUFC_MAG = 1 << 1;
/** WUFC/WUS bit of bitmap pattern slot k: FLX0 << k. */
const WUFC_FLX0 = 1 << 16;
/** The NIC's bitmap pattern slots, and the bytes each compares (from the frame's first byte). */
const FLX_SLOTS = 4;
const FLX_BYTES = 128;
/** FLXD bit 8: compare this byte. */
const FLXD_COMPARE = 1 << 8;
/** The wake packet bytes the NIC saves in WUPM. */
const WUPM_BYTES = 128;

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
const ALL_ONES = 0xffffffff;

/** The PCI power management capability: its PMCSR, and the PME_Status bit (write 1 to clear). */
const PCI_CAP_ID_PM = 0x01;
const PMCSR_PME_STATUS = 1 << 15;

// ---------------------------------------------------------------- the driver's constants

const LINK_SPEED = 1_000_000_000;
const MAC = [0x02, 0x50, 0x4d, 0x00, 0x00, 0x01];
const POOL_TAG = 0x4e494d50; // 'PMIN'
/**
 * NDIS_PM_WAKE_PACKET's size (ntddndis.h: the header, five ULONGs and an
 * NDIS_PM_COUNTED_STRING of a USHORT and 65 WCHARs), and where the saved packet and the
 * wake packet start, each on a 64-bit boundary (the NDIS_PM_WAKE_PACKET and
 * NDIS_PM_WAKE_REASON pages).
 */
const SIZEOF_PM_WAKE_PACKET = 4 + 4 + 4 + (2 + 65 * 2) + 4 + 4 + 4;
const align8 = (n: number): number => (n + 7) & ~7;
const SUPPORTED_FILTERS =
  N.NDIS_PACKET_TYPE_DIRECTED | N.NDIS_PACKET_TYPE_MULTICAST | N.NDIS_PACKET_TYPE_BROADCAST;

/** Adapter flags, under `lock`. */
const F_PAUSED = 1 << 0;
const F_LOW_POWER = 1 << 1;
const F_REMOVING = 1 << 2;
const F_SURPRISE_REMOVED = 1 << 3;
const F_HALTING = 1 << 4;
const F_RESETTING = 1 << 5;

/** The power-management mistakes of the bug variants (pmnicBugs, at the end). */
export type PmnicBug =
  | 'timer-in-d3'
  | 'cancel-reads-nic'
  | 'idle-never-completes'
  | 'idle-returns-success'
  | 'confirm-d0'
  | 'idle-complete-twice'
  | 'query-power-veto'
  | 'set-power-d0-fails'
  | 'remove-not-complete'
  | 'd3-keeps-sends'
  | 'wake-reason-late'
  | 'shutdown-in-d3'
  | 'removal-race'
  | 'wol-not-programmed';

interface Adapter {
  handle: N.NDIS_HANDLE;
  lock: N.NDIS_SPIN_LOCK;
  flags: number;
  regs: N.NDIS_IO_SPACE | null;
  regsBytes: number;
  ctrl: N.IoRegister;
  status: N.IoRegister;
  heartbeat: N.IoRegister;
  icr: N.IoRegister;
  imr: N.IoRegister;
  txPost: N.IoRegister;
  txDone: N.IoRegister;
  rxPop: N.IoRegister;
  interrupt: N.NDIS_HANDLE | null;
  isrCauses: number;
  dpcCauses: number;
  /** The offset of PMCSR in configuration space (0: no PM capability found). */
  pmcsr: number;
  // data path
  pool: N.NDIS_HANDLE | null;
  rxFree: N.NET_BUFFER_LIST[];
  rxCount: number;
  rxOutstanding: number;
  /** Sends on the NIC, oldest first, with the frames of each still to go. */
  txQueue: N.NET_BUFFER_LIST[];
  pausePending: boolean;
  linkUp: boolean;
  packetFilter: number;
  xmitOk: number;
  rcvOk: number;
  // hang detection
  lastHeartbeat: number;
  /** A one-shot statistics timer: samples the heartbeat into `lastHeartbeat` every second. */
  statsTimer: N.NDIS_HANDLE | null;
  statsArmed: boolean;
  // power
  /** OID_PM_PARAMETERS as last set. */
  wakeUpFlags: number;
  enabledPatterns: number;
  /** The WoL patterns NDIS added, by PatternId: a bitmap pattern with its slot, mask and bytes. */
  patterns: Map<number, WolPattern>;
  /** Why the NIC woke, as OID_PNP_SET_POWER(D0) found it (NDIS_PM_WAKE_REASON_TYPE). */
  wakeReason: number;
  /** For NdisWakeReasonPacket: the pattern's ID, the packet's length and its first bytes (WUPL, WUPM). */
  wakePatternId: number;
  wakePacketBytes: number;
  wakePacket: Uint8Array | null;
  /** The idle notification is outstanding (MiniportIdleNotification returned PENDING). */
  idlePending: boolean;
  /** The pended OID_PNP_SET_POWER(D0) while the NIC wakes, and the poll that watches it. */
  powerRequest: N.NDIS_OID_REQUEST | null;
  resumeTimer: N.NDIS_HANDLE | null;
  resumeArmed: boolean;
  resumeDeadlineMs: number;
  resumeTimeoutMs: number;
  /** The work item that gives up on the adapter at PASSIVE_LEVEL. */
  removeWork: N.NDIS_HANDLE | null;
}

/** A pattern the driver keeps (its own copy: the request's buffer is NDIS's). */
interface WolPattern {
  PatternId: number;
  WoLPacketType: number;
  /** Its flexible filter slot on the NIC (-1: none, a magic packet), and which bytes it compares with what. */
  slot: number;
  compare: boolean[];
  bytes: number[];
  /** A TCP SYN's fields (addresses, ports): the bytes are made when the filters are armed, for the wildcards. */
  syn: { v6: boolean; source: number[]; dest: number[]; sourcePort: number; destPort: number } | null;
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

function statusIndication(
  a: Adapter,
  code: number,
  buffer: unknown,
  bytes: number,
): N.NDIS_STATUS_INDICATION {
  return {
    Header: { Type: N.NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: N.NDIS_STATUS_INDICATION_REVISION_1 },
    SourceHandle: a.handle,
    PortNumber: 0,
    StatusCode: code,
    Flags: 0,
    DestinationHandle: null,
    RequestId: null,
    StatusBuffer: buffer,
    StatusBufferSize: bytes,
  };
}

function linkState(a: Adapter, up: boolean): N.NDIS_STATUS_INDICATION {
  return statusIndication(
    a,
    N.NDIS_STATUS_LINK_STATE,
    {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NDIS_LINK_STATE_REVISION_1 },
      MediaConnectState: up ? N.MediaConnectStateConnected : N.MediaConnectStateDisconnected,
      MediaDuplexState: up ? N.MediaDuplexStateFull : N.MediaDuplexStateUnknown,
      XmitLinkSpeed: up ? LINK_SPEED : N.NDIS_LINK_SPEED_UNKNOWN,
      RcvLinkSpeed: up ? LINK_SPEED : N.NDIS_LINK_SPEED_UNKNOWN,
      PauseFunctions: 0,
      AutoNegotiationFlags: 0,
    },
    N.NDIS_SIZEOF_LINK_STATE_REVISION_1,
  );
}

function makeDriver(name: string, description: string, bug: PmnicBug | null): N.DriverModule {
  const has = (b: PmnicBug): boolean => bug === b;

  // ---------------------------------------------------------------- initialization

  function initialize(
    handle: N.NDIS_HANDLE,
    _driverContext: unknown,
    params: N.NDIS_MINIPORT_INIT_PARAMETERS,
  ): N.NDIS_STATUS {
    let rxCount = 32;
    let resumeTimeoutMs = 100;
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
      resumeTimeoutMs = readInt(cfg.ConfigurationHandle, 'ResumeTimeoutMs', resumeTimeoutMs);
      N.NdisCloseConfiguration(cfg.ConfigurationHandle);
    }
    const a = {
      handle,
      lock: new N.NDIS_SPIN_LOCK(),
      flags: F_PAUSED,
      regs: null,
      regsBytes: 0,
      interrupt: null,
      isrCauses: 0,
      dpcCauses: 0,
      pmcsr: 0,
      pool: null,
      rxFree: [],
      rxCount: Math.min(Math.max(rxCount, 8), 256),
      rxOutstanding: 0,
      txQueue: [],
      pausePending: false,
      linkUp: false,
      packetFilter: 0,
      xmitOk: 0,
      rcvOk: 0,
      lastHeartbeat: 0,
      statsTimer: null,
      statsArmed: false,
      wakeUpFlags: 0,
      enabledPatterns: 0,
      patterns: new Map(),
      wakeReason: 0,
      wakePatternId: 0,
      wakePacketBytes: 0,
      wakePacket: null,
      idlePending: false,
      powerRequest: null,
      resumeTimer: null,
      resumeArmed: false,
      resumeDeadlineMs: 0,
      resumeTimeoutMs,
      removeWork: null,
    } as unknown as Adapter;
    N.NdisAllocateSpinLock(a.lock);

    let s = N.NdisMSetMiniportAttributes(handle, {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        Revision: N.NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
      },
      MiniportAdapterContext: a,
      AttributeFlags:
        N.NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE |
        N.NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK |
        (has('d3-keeps-sends') ? N.NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND : 0),
      CheckForHangTimeInSeconds: 2,
      InterfaceType: N.NdisInterfacePci,
    });
    if (s !== N.NDIS_STATUS_SUCCESS) return failInit(a, s);

    // The PCI power management capability: walk the capability list from 0x34.
    a.pmcsr = findPmcsr(handle);

    const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === N.CmResourceTypeMemory);
    if (mem === undefined || mem.Type !== N.CmResourceTypeMemory) return failInit(a, N.NDIS_STATUS_RESOURCES);
    const mapped = N.NdisMMapIoSpace(handle, mem.u.Memory.Start, mem.u.Memory.Length);
    if (mapped.Status !== N.NDIS_STATUS_SUCCESS || mapped.VirtualAddress === null)
      return failInit(a, N.NDIS_STATUS_FAILURE);
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
    N.NdisWriteRegisterUlong(a.imr, 0);
    N.NdisWriteRegisterUlong(a.ctrl, 0);
    const st = N.NdisReadRegisterUlong(a.status);
    if (st === ALL_ONES) return failInit(a, N.NDIS_STATUS_FAILURE);
    a.linkUp = (st & STATUS_LINK_UP) !== 0;

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
      MaxMulticastListSize: 0,
      SupportedPacketFilters: SUPPORTED_FILTERS,
      // NDIS 6.20 power management: what the NIC can wake on, from which state.
      PowerManagementCapabilitiesEx: {
        Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NDIS_PM_CAPABILITIES_REVISION_2 },
        Flags: N.NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED | N.NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED,
        SupportedWoLPacketPatterns:
          N.NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED |
          N.NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED |
          N.NDIS_PM_WOL_IPV4_TCP_SYN_SUPPORTED |
          N.NDIS_PM_WOL_IPV6_TCP_SYN_SUPPORTED |
          N.NDIS_PM_WOL_IPV4_DEST_ADDR_WILDCARD_SUPPORTED |
          N.NDIS_PM_WOL_IPV6_DEST_ADDR_WILDCARD_SUPPORTED |
          N.NDIS_PM_WOL_EAPOL_REQUEST_ID_MESSAGE_SUPPORTED,
        // The four flexible filter slots, for bitmap and protocol patterns alike (the
        // magic packet is not counted), 128 bytes each from the frame's first byte.
        NumTotalWoLPatterns: FLX_SLOTS,
        MaxWoLPatternSize: FLX_BYTES,
        MaxWoLPatternOffset: FLX_BYTES,
        // The wake packet bytes the NIC saves (WUPM), which pmnic passes with the wake reason.
        MaxWoLPacketSaveBuffer: WUPM_BYTES,
        SupportedProtocolOffloads: 0,
        NumArpOffloadIPv4Addresses: 0,
        NumNSOffloadIPv6Addresses: 0,
        MinMagicPacketWakeUp: N.NdisDeviceStateD3,
        MinPatternWakeUp: N.NdisDeviceStateD3,
        MinLinkChangeWakeUp: N.NdisDeviceStateD3,
        SupportedWakeUpEvents: N.NDIS_PM_WAKE_ON_MEDIA_CONNECT_SUPPORTED,
        MediaSpecificWakeUpEvents: 0,
      },
    });
    if (s !== N.NDIS_STATUS_SUCCESS) return failInit(a, s);

    a.pool = N.NdisAllocateNetBufferListPool(handle, {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
      ProtocolId: 0,
      fAllocateNetBuffer: true,
      ContextSize: 0,
      PoolTag: POOL_TAG,
      DataSize: 0,
    });
    if (a.pool === null) return failInit(a, N.NDIS_STATUS_RESOURCES);
    for (let i = 0; i < a.rxCount; i++) {
      const nbl = N.NdisAllocateNetBufferAndNetBufferList(a.pool, 0, 0, new Uint8Array(1536), 0, 1536);
      if (nbl === null) return failInit(a, N.NDIS_STATUS_RESOURCES);
      nbl.SourceHandle = handle;
      a.rxFree.push(nbl);
    }

    const timer = <T>(fn: N.NDIS_TIMER_FUNCTION<T>, ctx: T): N.NDIS_HANDLE | null => {
      const t = N.NdisAllocateTimerObject<T>(handle, {
        Header: {
          Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: N.NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: POOL_TAG,
        TimerFunction: fn,
        FunctionContext: ctx,
      });
      return t.TimerObject;
    };
    a.statsTimer = timer(statsTick, a);
    a.resumeTimer = timer(resumePoll, a);
    a.removeWork = N.NdisAllocateIoWorkItem(handle);
    if (a.statsTimer === null || a.resumeTimer === null || a.removeWork === null)
      return failInit(a, N.NDIS_STATUS_RESOURCES);

    const irq = N.NdisMRegisterInterruptEx<Adapter>(handle, a, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: N.NDIS_MINIPORT_INTERRUPT_REVISION_1 },
      InterruptHandler: isr,
      InterruptDpcHandler: (ctx) => interruptDpc(ctx),
      DisableInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, 0),
      EnableInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, ICR_ALL),
    });
    if (irq.Status !== N.NDIS_STATUS_SUCCESS) return failInit(a, N.NDIS_STATUS_FAILURE);
    a.interrupt = irq.NdisInterruptHandle;

    programNic(a, false);
    armStats(a);
    return N.NDIS_STATUS_SUCCESS;
  }

  /** The offset of PMCSR (the PM capability's control/status register), or 0. */
  function findPmcsr(handle: N.NDIS_HANDLE): number {
    const b = new Uint8Array(1);
    N.NdisMGetBusData(handle, N.PCI_WHICHSPACE_CONFIG, 0x34, b, 1);
    let at = b[0]! & 0xfc;
    for (let hops = 0; at !== 0 && hops < 48; hops++) {
      const cap = new Uint8Array(2);
      if (N.NdisMGetBusData(handle, N.PCI_WHICHSPACE_CONFIG, at, cap, 2) !== 2) return 0;
      if (cap[0] === PCI_CAP_ID_PM) return at + 4;
      at = cap[1]! & 0xfc;
    }
    return 0;
  }

  /** Reads PMCSR and clears PME_Status: true when the NIC signalled a wake. */
  function takePmeStatus(a: Adapter): boolean {
    if (a.pmcsr === 0) return false;
    const b = new Uint8Array(2);
    if (N.NdisMGetBusData(a.handle, N.PCI_WHICHSPACE_CONFIG, a.pmcsr, b, 2) !== 2) return false;
    const v = b[0]! | (b[1]! << 8);
    if (v === 0xffff || (v & PMCSR_PME_STATUS) === 0) return false;
    N.NdisMSetBusData(a.handle, N.PCI_WHICHSPACE_CONFIG, a.pmcsr, b, 2); // write 1 to clear
    return true;
  }

  /** The NIC's registers as the adapter's state wants them (after reset or power-up). */
  function programNic(a: Adapter, receive: boolean): void {
    a.lastHeartbeat = N.NdisReadRegisterUlong(a.heartbeat);
    N.NdisWriteRegisterUlong(a.imr, ICR_ALL);
    N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR_ENABLE | CTRL_TX_ENABLE | (receive ? CTRL_RX_ENABLE : 0));
  }

  function failInit(a: Adapter, status: N.NDIS_STATUS): N.NDIS_STATUS {
    release(a);
    return status === N.NDIS_STATUS_RESOURCES ? status : N.NDIS_STATUS_FAILURE;
  }

  function release(a: Adapter): void {
    if (a.interrupt !== null) N.NdisMDeregisterInterruptEx(a.interrupt);
    a.interrupt = null;
    for (const t of [a.statsTimer, a.resumeTimer]) {
      if (t === null) continue;
      N.NdisCancelTimerObject(t);
      N.NdisFreeTimerObject(t);
    }
    a.statsTimer = null;
    a.resumeTimer = null;
    if (a.removeWork !== null) N.NdisFreeIoWorkItem(a.removeWork);
    a.removeWork = null;
    for (const nbl of a.rxFree) N.NdisFreeNetBufferList(nbl);
    a.rxFree.length = 0;
    if (a.pool !== null) N.NdisFreeNetBufferListPool(a.pool);
    a.pool = null;
    if (a.regs !== null) N.NdisMUnmapIoSpace(a.handle, a.regs, a.regsBytes);
    a.regs = null;
    N.NdisFreeSpinLock(a.lock);
  }

  // ---------------------------------------------------------------- statistics timer

  function armStats(a: Adapter): void {
    a.statsArmed = true;
    N.NdisSetTimerObject(a.statsTimer!, -1000 * 10_000, 0, a);
  }

  /** Once a second, DISPATCH_LEVEL: a sample of the NIC for check-for-hang, then again. */
  function statsTick(_s1: unknown, a: Adapter): void {
    N.NdisDprAcquireSpinLock(a.lock);
    // A tick that was already due when OID_PNP_SET_POWER(D3) cancelled the timer (the
    // cancel returned FALSE) finds F_LOW_POWER and leaves the NIC alone.
    const quiet = (a.flags & (F_LOW_POWER | F_SURPRISE_REMOVED | F_HALTING)) !== 0;
    if (quiet) a.statsArmed = false;
    N.NdisDprReleaseSpinLock(a.lock);
    if (quiet) return;
    N.NdisReadRegisterUlong(a.heartbeat);
    armStats(a);
  }

  // ------------------------------------------------------------------------ sends

  function send(a: Adapter, chain: N.NET_BUFFER_LIST, _port: number, sendFlags: number): void {
    const atDispatch = (sendFlags & N.NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
    const old = atDispatch ? N.DISPATCH_LEVEL : N.NDIS_RAISE_IRQL_TO_DISPATCH();
    N.NdisDprAcquireSpinLock(a.lock);
    const f = a.flags;
    const refuse =
      f & (F_REMOVING | F_SURPRISE_REMOVED | F_HALTING)
        ? N.NDIS_STATUS_NOT_ACCEPTED
        : f & F_LOW_POWER
          ? N.NDIS_STATUS_LOW_POWER_STATE
          : f & F_PAUSED
            ? N.NDIS_STATUS_PAUSED
            : f & F_RESETTING
              ? N.NDIS_STATUS_RESET_IN_PROGRESS
              : !a.linkUp
                ? N.NDIS_STATUS_MEDIA_DISCONNECTED
                : N.NDIS_STATUS_SUCCESS;
    const frames: number[] = [];
    if (refuse === N.NDIS_STATUS_SUCCESS) {
      for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; nbl = nbl.Next) {
        let k = 0;
        for (let nb = N.NET_BUFFER_LIST_FIRST_NB(nbl); nb !== null; nb = N.NET_BUFFER_NEXT_NB(nb)) {
          frames.push(N.NET_BUFFER_DATA_LENGTH(nb));
          k++;
        }
        nbl.MiniportReserved[0] = k;
        nbl.Status = N.NDIS_STATUS_SUCCESS;
      }
      for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; ) {
        const next: N.NET_BUFFER_LIST | null = nbl.Next;
        nbl.Next = null;
        a.txQueue.push(nbl);
        nbl = next;
      }
      for (const bytes of frames) N.NdisWriteRegisterUlong(a.txPost, bytes);
    }
    N.NdisDprReleaseSpinLock(a.lock);
    if (refuse !== N.NDIS_STATUS_SUCCESS) {
      for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; nbl = nbl.Next) nbl.Status = refuse;
      N.NdisMSendNetBufferListsComplete(a.handle, chain, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    }
    if (!atDispatch) N.NDIS_LOWER_IRQL(old, N.DISPATCH_LEVEL);
  }

  /** Completes every send still on the NIC with `status`. DISPATCH_LEVEL. */
  function flushSends(a: Adapter, status: N.NDIS_STATUS): void {
    N.NdisDprAcquireSpinLock(a.lock);
    const done = a.txQueue;
    a.txQueue = [];
    N.NdisDprReleaseSpinLock(a.lock);
    for (const nbl of done) nbl.Status = status;
    if (done.length > 0)
      N.NdisMSendNetBufferListsComplete(a.handle, chainOf(done)!, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    maybeFinishPause(a);
  }

  function transmitted(a: Adapter): void {
    let count = N.NdisReadRegisterUlong(a.txDone);
    if (count === ALL_ONES) return;
    const done: N.NET_BUFFER_LIST[] = [];
    N.NdisDprAcquireSpinLock(a.lock);
    while (count > 0 && a.txQueue.length > 0) {
      const nbl = a.txQueue[0]!;
      const left = (nbl.MiniportReserved[0] as number) - 1;
      nbl.MiniportReserved[0] = left;
      count--;
      a.xmitOk++;
      if (left === 0) done.push(a.txQueue.shift()!);
    }
    N.NdisDprReleaseSpinLock(a.lock);
    if (done.length > 0)
      N.NdisMSendNetBufferListsComplete(a.handle, chainOf(done)!, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    maybeFinishPause(a);
  }

  // --------------------------------------------------------------------- receives

  function received(a: Adapter): void {
    const take: N.NET_BUFFER_LIST[] = [];
    N.NdisDprAcquireSpinLock(a.lock);
    const indicate = (a.flags & (F_PAUSED | F_LOW_POWER | F_SURPRISE_REMOVED | F_RESETTING)) === 0;
    for (let i = 0; i < 64; i++) {
      const len = N.NdisReadRegisterUlong(a.rxPop);
      if (len === 0 || len === ALL_ONES) break;
      const nbl = indicate ? a.rxFree.pop() : undefined;
      if (nbl === undefined) continue;
      nbl.FirstNetBuffer!.DataLength = Math.min(len, 1536);
      nbl.FirstNetBuffer!.DataOffset = 0;
      take.push(nbl);
    }
    a.rxOutstanding += take.length;
    a.rcvOk += take.length;
    N.NdisDprReleaseSpinLock(a.lock);
    if (take.length > 0)
      N.NdisMIndicateReceiveNetBufferLists(
        a.handle,
        chainOf(take)!,
        N.NDIS_DEFAULT_PORT_NUMBER,
        take.length,
        N.NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
      );
  }

  function returnNbls(a: Adapter, chain: N.NET_BUFFER_LIST, returnFlags: number): void {
    const atDispatch = (returnFlags & N.NDIS_RETURN_FLAGS_DISPATCH_LEVEL) !== 0;
    const old = atDispatch ? N.DISPATCH_LEVEL : N.NDIS_RAISE_IRQL_TO_DISPATCH();
    N.NdisDprAcquireSpinLock(a.lock);
    for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; ) {
      const next: N.NET_BUFFER_LIST | null = nbl.Next;
      nbl.Next = null;
      a.rxFree.push(nbl);
      a.rxOutstanding--;
      nbl = next;
    }
    N.NdisDprReleaseSpinLock(a.lock);
    maybeFinishPause(a);
    if (!atDispatch) N.NDIS_LOWER_IRQL(old, N.DISPATCH_LEVEL);
  }

  // -------------------------------------------------------- interrupt and DPC

  function isr(a: Adapter): {
    InterruptRecognized: boolean;
    QueueDefaultInterruptDpc: boolean;
    TargetProcessors: number;
  } {
    const causes = N.NdisReadRegisterUlong(a.icr);
    if (causes === 0 || causes === ALL_ONES)
      return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
    a.isrCauses |= causes;
    return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
  }

  function takeCauses(a: Adapter): boolean {
    a.dpcCauses = a.isrCauses;
    a.isrCauses = 0;
    return true;
  }

  function interruptDpc(a: Adapter): void {
    if (a.interrupt === null) return;
    N.NdisMSynchronizeWithInterruptEx(a.interrupt, 0, takeCauses, a);
    const causes = a.dpcCauses;
    // An interrupt that raced OID_PNP_SET_POWER(D3): the NIC is off limits now.
    if ((a.flags & F_LOW_POWER) !== 0) return;
    if (causes & ICR_RESET_DONE) resetDone(a);
    if (causes & ICR_TX_DONE) transmitted(a);
    if (causes & ICR_RX) received(a);
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
    a.flags |= F_PAUSED;
    const drained = a.txQueue.length === 0 && a.rxOutstanding === 0;
    a.pausePending = !drained;
    const offLimits = (a.flags & (F_SURPRISE_REMOVED | F_LOW_POWER)) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    if (!offLimits) N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR_ENABLE | CTRL_TX_ENABLE);
    return drained ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_PENDING;
  }

  function maybeFinishPause(a: Adapter): void {
    N.NdisAcquireSpinLock(a.lock);
    const finish = a.pausePending && a.txQueue.length === 0 && a.rxOutstanding === 0;
    if (finish) a.pausePending = false;
    N.NdisReleaseSpinLock(a.lock);
    if (finish) N.NdisMPauseComplete(a.handle);
  }

  function restart(a: Adapter, _params: unknown): N.NDIS_STATUS {
    N.NdisAcquireSpinLock(a.lock);
    a.flags &= ~F_PAUSED;
    const offLimits = (a.flags & (F_SURPRISE_REMOVED | F_LOW_POWER | F_REMOVING)) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    if (!offLimits) N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR_ENABLE | CTRL_TX_ENABLE | CTRL_RX_ENABLE);
    return N.NDIS_STATUS_SUCCESS;
  }

  // ----------------------------------------------------------------- power: D3

  /** OID_PNP_SET_POWER to D1–D3: quiet the NIC, stop the timers, give the sends back. */
  function setLowPower(a: Adapter): N.NDIS_STATUS {
    N.NdisAcquireSpinLock(a.lock);
    a.flags |= F_LOW_POWER;
    const gone = (a.flags & F_SURPRISE_REMOVED) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    if (!gone) {
      N.NdisWriteRegisterUlong(a.imr, 0);
      N.NdisWriteRegisterUlong(a.ctrl, 0);
      // BUG (wol-not-programmed): the wake-up filters are left as they are (off).
      if (!has('wol-not-programmed')) armWakeFilters(a);
    }
    // "Cancel all NDIS timers" (OID_PNP_SET_POWER): one that fired already sees
    // F_LOW_POWER and does not set itself again.
    // BUG (timer-in-d3): the statistics timer is left running into D3.
    if (!has('timer-in-d3') && N.NdisCancelTimerObject(a.statsTimer!)) a.statsArmed = false;
    // The sends the NIC holds will never go out: NDIS_STATUS_LOW_POWER_STATE.
    // BUG (d3-keeps-sends): they are kept, to go out after D0.
    if (!has('d3-keeps-sends')) {
      const old = N.NDIS_RAISE_IRQL_TO_DISPATCH();
      flushSends(a, N.NDIS_STATUS_LOW_POWER_STATE);
      N.NDIS_LOWER_IRQL(old, N.DISPATCH_LEVEL);
    }
    return N.NDIS_STATUS_SUCCESS;
  }

  /**
   * The wake-up logic, as OID_PM_PARAMETERS enabled it: the magic packet for our address,
   * the link change for wake on link change and for selective suspend (whose wake-ups are
   * the link coming or going, as this NIC can tell no other). Any old status is cleared.
   */
  function armWakeFilters(a: Adapter): void {
    const r = a.regs!;
    N.NdisWriteRegisterUlong(
      r.at(REG_RAL),
      (MAC[0]! | (MAC[1]! << 8) | (MAC[2]! << 16) | (MAC[3]! << 24)) >>> 0,
    );
    N.NdisWriteRegisterUlong(r.at(REG_RAH), MAC[4]! | (MAC[5]! << 8));
    N.NdisWriteRegisterUlong(r.at(REG_WUS), ALL_ONES);
    const magic = (a.enabledPatterns & N.NDIS_PM_WOL_MAGIC_PACKET_ENABLED) !== 0;
    const link =
      (a.wakeUpFlags & (N.NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED | N.NDIS_PM_SELECTIVE_SUSPEND_ENABLED)) !== 0;
    let flex = 0;
    for (const p of a.patterns.values()) {
      if (p.slot < 0 || (a.enabledPatterns & enabledBit(p.WoLPacketType)) === 0) continue;
      if (p.syn !== null) protocolFilter(p, a.enabledPatterns);
      // The whole slot: its bytes, and 0 without COMPARE past the pattern's end.
      N.NdisWriteRegisterUlong(r.at(REG_FLXA), p.slot);
      for (let i = 0; i < FLX_BYTES; i++)
        N.NdisWriteRegisterUlong(
          r.at(REG_FLXD),
          (p.bytes[i] ?? 0) | (p.compare[i] === true ? FLXD_COMPARE : 0),
        );
      flex |= WUFC_FLX0 << p.slot;
    }
    N.NdisWriteRegisterUlong(r.at(REG_WUFC), (magic ? WUFC_MAG : 0) | (link ? WUFC_LNKC : 0) | flex);
  }

  /** The EnabledWoLPacketPatterns bit that arms a pattern of this type. */
  function enabledBit(type: number): number {
    switch (type) {
      case N.NdisPMWoLPacketBitmapPattern:
        return N.NDIS_PM_WOL_BITMAP_PATTERN_ENABLED;
      case N.NdisPMWoLPacketIPv4TcpSyn:
        return N.NDIS_PM_WOL_IPV4_TCP_SYN_ENABLED;
      case N.NdisPMWoLPacketIPv6TcpSyn:
        return N.NDIS_PM_WOL_IPV6_TCP_SYN_ENABLED;
      case N.NdisPMWoLPacketEapolRequestIdMessage:
        return N.NDIS_PM_WOL_EAPOL_REQUEST_ID_MESSAGE_ENABLED;
      default:
        return 0;
    }
  }

  /**
   * A protocol pattern as the bytes a flexible filter compares, from the frame's first
   * byte (Ethernet II, no VLAN tag). A TCP SYN: the EtherType, the IP header's protocol
   * (IPv4 without options: byte 14 is 0x45) or next header (IPv6 without extension
   * headers), the addresses, the TCP ports and the flags byte 0x02 (SYN alone). A zero
   * address or port is compared as zeros unless NDIS enabled the wildcard of its IP
   * version, when it is left out (NDIS_PM_CAPABILITIES: restrict the wake to the given
   * values unless an overlying driver enables the wildcard).
   */
  function protocolFilter(p: WolPattern, enabled: number): void {
    const syn = p.syn!;
    p.compare = [];
    p.bytes = [];
    const put = (at: number, bytes: readonly number[], wild = false): void => {
      const skip = wild && bytes.every((x) => x === 0);
      bytes.forEach((x, i) => {
        p.compare[at + i] = !skip;
        p.bytes[at + i] = x;
      });
    };
    const wild =
      (enabled &
        (syn.v6
          ? N.NDIS_PM_WOL_IPV6_DEST_ADDR_WILDCARD_ENABLED
          : N.NDIS_PM_WOL_IPV4_DEST_ADDR_WILDCARD_ENABLED)) !==
      0;
    const port = (v: number): number[] => [v >>> 8, v & 0xff];
    if (syn.v6) {
      put(12, [0x86, 0xdd]);
      put(20, [6]);
      put(22, syn.source, wild);
      put(38, syn.dest, wild);
      put(54, port(syn.sourcePort), wild);
      put(56, port(syn.destPort), wild);
      put(67, [0x02]);
    } else {
      put(12, [0x08, 0x00]);
      put(14, [0x45]);
      put(23, [6]);
      put(26, syn.source, wild);
      put(30, syn.dest, wild);
      put(34, port(syn.sourcePort), wild);
      put(36, port(syn.destPort), wild);
      put(47, [0x02]);
    }
    for (let i = 0; i < p.bytes.length; i++) {
      p.bytes[i] ??= 0;
      p.compare[i] ??= false;
    }
  }

  /**
   * Back in D0: which filter woke the NIC (WUS), and the wake packet; then the filters are
   * disarmed and the status cleared. The wake reason: the packet for a magic packet
   * (with the ID of the magic-packet pattern NDIS added, 0 if it enabled the magic packet
   * through OID_PM_PARAMETERS alone) or a bitmap pattern (the ID of the pattern in the
   * slot that matched), the media connect or disconnect for a link change.
   */
  function takeWakeStatus(a: Adapter, st: number): void {
    a.wakeReason = N.NdisWakeReasonUnspecified;
    a.wakePacket = null;
    if (st === ALL_ONES) return;
    const r = a.regs!;
    const wus = N.NdisReadRegisterUlong(r.at(REG_WUS));
    const flex = (wus >>> 16) & ((1 << FLX_SLOTS) - 1);
    if (wus & WUFC_MAG || flex !== 0) {
      a.wakeReason = N.NdisWakeReasonPacket;
      let id = 0;
      const slot = flex === 0 ? -1 : 31 - Math.clz32(flex & -flex);
      for (const p of a.patterns.values())
        if (flex === 0 ? p.WoLPacketType === N.NdisPMWoLPacketMagicPacket : p.slot === slot) id = p.PatternId;
      a.wakePatternId = id;
      a.wakePacketBytes = N.NdisReadRegisterUlong(r.at(REG_WUPL));
      const saved = new Uint8Array(Math.min(a.wakePacketBytes, WUPM_BYTES));
      for (let i = 0; i < saved.length; i += 4) {
        const v = N.NdisReadRegisterUlong(r.at(REG_WUPM + i));
        for (let j = 0; j < 4 && i + j < saved.length; j++) saved[i + j] = (v >>> (8 * j)) & 0xff;
      }
      a.wakePacket = saved;
    } else if (wus & WUFC_LNKC) {
      a.wakeReason =
        (st & STATUS_LINK_UP) !== 0 ? N.NdisWakeReasonMediaConnect : N.NdisWakeReasonMediaDisconnect;
    }
    N.NdisWriteRegisterUlong(r.at(REG_WUFC), 0);
    N.NdisWriteRegisterUlong(r.at(REG_WUS), ALL_ONES);
  }

  // ----------------------------------------------------------------- power: D0

  /**
   * OID_PNP_SET_POWER(D0). The NIC is powered again and fresh from reset. If it answers,
   * program it and succeed; if not, pend and poll it until ResumeTimeoutMs.
   */
  function setFullPower(a: Adapter, req: N.NDIS_OID_REQUEST): N.NDIS_STATUS {
    // Wake reason first, before any indication the wake causes (the wake-reason pages):
    // the filter that matched, from the NIC's wake-up status.
    const woke = takePmeStatus(a);
    const st = N.NdisReadRegisterUlong(a.status);
    takeWakeStatus(a, st);
    if (woke && !has('wake-reason-late')) indicateWakeReason(a);
    if (st !== ALL_ONES) {
      backInD0(a, st);
      // BUG (wake-reason-late): the wake reason is left to a work item, which runs after
      // OID_PNP_SET_POWER(D0) completed and after the link state it explains.
      if (woke && has('wake-reason-late')) N.NdisQueueIoWorkItem(a.removeWork!, indicateWakeReason, a);
      return N.NDIS_STATUS_SUCCESS;
    }
    if (has('set-power-d0-fails')) {
      // BUG: the NIC did not come back, so the request fails; the page says a miniport
      // must always succeed OID_PNP_SET_POWER.
      return N.NDIS_STATUS_FAILURE;
    }
    a.powerRequest = req;
    a.resumeDeadlineMs = N.NdisGetSystemUpTimeEx() + a.resumeTimeoutMs;
    a.resumeArmed = true;
    N.NdisSetTimerObject(a.resumeTimer!, -10 * 10_000, 0, a);
    return N.NDIS_STATUS_PENDING;
  }

  /** DISPATCH_LEVEL: is the NIC back yet? */
  function resumePoll(_s1: unknown, a: Adapter): void {
    const st = N.NdisReadRegisterUlong(a.status);
    const waiting = st === ALL_ONES && N.NdisGetSystemUpTimeEx() < a.resumeDeadlineMs;
    // The request is taken under the lock: a surprise removal may complete it first.
    N.NdisDprAcquireSpinLock(a.lock);
    a.resumeArmed = false;
    const req = a.powerRequest;
    if (req !== null && waiting) a.resumeArmed = true;
    else a.powerRequest = null;
    N.NdisDprReleaseSpinLock(a.lock);
    if (req === null) return;
    if (waiting) {
      N.NdisSetTimerObject(a.resumeTimer!, -10 * 10_000, 0, a);
      return;
    }
    if (st !== ALL_ONES) {
      backInD0(a, st);
      N.NdisMOidRequestComplete(a.handle, req, N.NDIS_STATUS_SUCCESS);
      return;
    }
    // The NIC stayed dark. OID_PNP_SET_POWER must still succeed; the adapter is given up
    // from a work item, at PASSIVE_LEVEL (R5.21).
    N.NdisDprAcquireSpinLock(a.lock);
    a.flags = (a.flags & ~F_LOW_POWER) | F_REMOVING;
    N.NdisDprReleaseSpinLock(a.lock);
    if (has('remove-not-complete')) {
      // BUG: the adapter is being removed anyway, so the request is left pending.
      N.NdisMRemoveMiniport(a.handle);
      return;
    }
    N.NdisMOidRequestComplete(a.handle, req, N.NDIS_STATUS_SUCCESS);
    N.NdisQueueIoWorkItem(a.removeWork!, giveUp, a);
  }

  function backInD0(a: Adapter, st: number): void {
    N.NdisAcquireSpinLock(a.lock);
    a.flags &= ~F_LOW_POWER;
    const paused = (a.flags & F_PAUSED) !== 0;
    const up = (st & STATUS_LINK_UP) !== 0;
    a.linkUp = up;
    N.NdisReleaseSpinLock(a.lock);
    programNic(a, !paused);
    armStats(a);
    // R6.17: NDIS took the link as unknown in low power; say what it is.
    N.NdisMIndicateStatusEx(a.handle, linkState(a, up));
  }

  /**
   * NDIS_STATUS_PM_WAKE_REASON. For a wake packet the buffer goes on with an
   * NDIS_PM_WAKE_PACKET and the saved packet, each on a 64-bit boundary; in the model the
   * object's WakePacket stands for the bytes at InfoBufferOffset.
   */
  function indicateWakeReason(a: Adapter): void {
    const packet = a.wakeReason === N.NdisWakeReasonPacket ? a.wakePacket : null;
    const offset = align8(N.NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1);
    const savedAt = align8(SIZEOF_PM_WAKE_PACKET);
    const info = packet === null ? 0 : savedAt + packet.length;
    const reason = {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NDIS_PM_WAKE_REASON_REVISION_1 },
      Flags: 0,
      WakeReason: a.wakeReason,
      InfoBufferOffset: packet === null ? 0 : offset,
      InfoBufferSize: info,
      ...(packet === null
        ? {}
        : {
            WakePacket: {
              Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: 1, Size: SIZEOF_PM_WAKE_PACKET },
              Flags: 0,
              PatternId: a.wakePatternId,
              OriginalPacketSize: a.wakePacketBytes,
              SavedPacketSize: packet.length,
              SavedPacketOffset: savedAt,
              SavedPacket: packet,
            },
          }),
    };
    N.NdisMIndicateStatusEx(
      a.handle,
      statusIndication(
        a,
        N.NDIS_STATUS_PM_WAKE_REASON,
        reason,
        packet === null ? N.NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1 : offset + info,
      ),
    );
  }

  /** The work item: PASSIVE_LEVEL, the one place that gives up on the adapter (R5.21). */
  function giveUp(a: Adapter): void {
    N.NdisWriteErrorLogEntry(a.handle, N.NDIS_ERROR_CODE_HARDWARE_FAILURE, 1, a.resumeTimeoutMs);
    N.NdisMRemoveMiniport(a.handle);
  }

  // ----------------------------------------------------------- selective suspend

  function idleNotification(a: Adapter, _forceIdle: boolean): N.NDIS_STATUS {
    N.NdisAcquireSpinLock(a.lock);
    const busy = a.txQueue.length > 0 || (a.flags & (F_REMOVING | F_RESETTING)) !== 0;
    if (!busy) a.idlePending = true;
    N.NdisReleaseSpinLock(a.lock);
    if (busy) return N.NDIS_STATUS_BUSY;
    // A PCI device: D3 (a USB one would confirm D2). NDIS sets OID_PM_PARAMETERS and
    // OID_PNP_SET_POWER(D3) next.
    N.NdisMIdleNotificationConfirm(a.handle, has('confirm-d0') ? N.NdisDeviceStateD0 : N.NdisDeviceStateD3);
    return has('idle-returns-success') ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_PENDING;
  }

  function cancelIdleNotification(a: Adapter): void {
    // BUG (cancel-reads-nic): looks at the NIC's causes to learn why it woke; NDIS has
    // not brought it back to D0 yet (that happens after NdisMIdleNotificationComplete).
    if (has('cancel-reads-nic')) N.NdisReadRegisterUlong(a.icr);
    // BUG (idle-never-completes): waits for the wake to finish on its own.
    if (has('idle-never-completes')) return;
    N.NdisAcquireSpinLock(a.lock);
    a.idlePending = false;
    N.NdisReleaseSpinLock(a.lock);
    N.NdisMIdleNotificationComplete(a.handle);
    // BUG (idle-complete-twice): completes it again, as its wake path also does.
    if (has('idle-complete-twice')) N.NdisMIdleNotificationComplete(a.handle);
  }

  // ------------------------------------------------------------------------ OIDs

  function answer(d: N.NDIS_OID_QUERY_INFORMATION, value: unknown, bytes: number): N.NDIS_STATUS {
    if (d.InformationBufferLength < bytes) {
      d.BytesNeeded = bytes;
      return N.NDIS_STATUS_BUFFER_TOO_SHORT;
    }
    d.InformationBuffer = value;
    d.BytesWritten = bytes;
    return N.NDIS_STATUS_SUCCESS;
  }

  function oidRequest(a: Adapter, req: N.NDIS_OID_REQUEST): N.NDIS_STATUS {
    if (a.flags & F_SURPRISE_REMOVED) return N.NDIS_STATUS_NOT_ACCEPTED;
    if (req.RequestType === N.NdisRequestQueryInformation) {
      const d = req.DATA.QUERY_INFORMATION;
      switch (d.Oid) {
        case N.OID_PNP_QUERY_POWER:
          // Always SUCCESS (OID_PNP_QUERY_POWER): NDIS goes ahead whatever we answer.
          // BUG (query-power-veto): refuses while sends are out.
          if (has('query-power-veto')) return N.NDIS_STATUS_FAILURE;
          return N.NDIS_STATUS_SUCCESS;
        case N.OID_GEN_STATISTICS:
          return answer(
            d,
            { ifHCInUcastPkts: a.rcvOk, ifHCOutUcastPkts: a.xmitOk },
            N.NDIS_SIZEOF_STATISTICS_INFO_REVISION_1,
          );
        case N.OID_GEN_XMIT_OK:
          return answer(d, a.xmitOk, 8);
        case N.OID_GEN_RCV_OK:
          return answer(d, a.rcvOk, 8);
        case N.OID_GEN_CURRENT_PACKET_FILTER:
          return answer(d, a.packetFilter, 4);
        case N.OID_802_3_PERMANENT_ADDRESS:
        case N.OID_802_3_CURRENT_ADDRESS:
          return answer(d, [...MAC], 6);
      }
      return N.NDIS_STATUS_NOT_SUPPORTED;
    }
    if (req.RequestType !== N.NdisRequestSetInformation) return N.NDIS_STATUS_NOT_SUPPORTED;
    const d = req.DATA.SET_INFORMATION;
    switch (d.Oid) {
      case N.OID_PNP_SET_POWER: {
        d.BytesRead = 4;
        const state = d.InformationBuffer as number;
        return state === N.NdisDeviceStateD0 ? setFullPower(a, req) : setLowPower(a);
      }
      case N.OID_PM_PARAMETERS: {
        if (d.InformationBufferLength < N.NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2) {
          d.BytesNeeded = N.NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2;
          return N.NDIS_STATUS_INVALID_LENGTH;
        }
        const pm = d.InformationBuffer as N.NDIS_PM_PARAMETERS;
        a.wakeUpFlags = pm.WakeUpFlags;
        a.enabledPatterns = pm.EnabledWoLPacketPatterns;
        d.BytesRead = N.NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2;
        return N.NDIS_STATUS_SUCCESS;
      }
      case N.OID_PM_ADD_WOL_PATTERN:
        return addPattern(a, d);
      case N.OID_PM_REMOVE_WOL_PATTERN: {
        // NDIS passes only a PatternId it gave (NdisOidComplete allows SUCCESS here, not a failure).
        a.patterns.delete(d.InformationBuffer as number);
        d.BytesRead = 4;
        return N.NDIS_STATUS_SUCCESS;
      }
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
      case N.OID_GEN_CURRENT_LOOKAHEAD:
      case N.OID_802_3_MULTICAST_LIST:
        d.BytesRead = d.InformationBufferLength;
        return N.NDIS_STATUS_SUCCESS;
    }
    return N.NDIS_STATUS_NOT_SUPPORTED;
  }

  /**
   * OID_PM_ADD_WOL_PATTERN: a bitmap, TCP SYN or EAPOL pattern takes a free slot of the
   * NIC (programmed before D3, armWakeFilters); a magic-packet pattern needs none (the NIC has one magic-packet
   * filter). The driver copies what it needs: the buffer is NDIS's.
   */
  function addPattern(a: Adapter, d: N.NDIS_OID_SET_INFORMATION): N.NDIS_STATUS {
    if (d.InformationBufferLength < N.NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1) {
      d.BytesNeeded = N.NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1;
      return N.NDIS_STATUS_BUFFER_TOO_SHORT;
    }
    const p = d.InformationBuffer as N.NDIS_PM_WOL_PATTERN;
    const kept: WolPattern = {
      PatternId: p.PatternId,
      WoLPacketType: p.WoLPacketType,
      slot: -1,
      compare: [],
      bytes: [],
      syn: null,
    };
    if (p.WoLPacketType === N.NdisPMWoLPacketBitmapPattern) {
      const bm = p.WoLPattern.WoLBitMapPattern;
      const mask = p.Mask;
      const bytes = p.Pattern;
      if (bm === undefined || mask === undefined || bytes === undefined)
        return N.NDIS_STATUS_INVALID_PARAMETER;
      // Byte i is compared when bit i of the mask is set and the pattern has a byte i.
      for (let i = 0; i < Math.min(bm.MaskSize * 8, bm.PatternSize); i++) {
        const on = ((mask[i >>> 3] ?? 0) & (1 << (i & 7))) !== 0;
        if (on && i >= FLX_BYTES) return N.NDIS_STATUS_INVALID_PARAMETER; // beyond MaxWoLPatternSize
        kept.compare.push(on);
        kept.bytes.push(bytes[i] ?? 0);
      }
      // A mask that compares no byte would match every frame; a slot that compares none
      // matches nothing, so the NIC cannot do it.
      if (!kept.compare.includes(true)) return N.NDIS_STATUS_INVALID_PARAMETER;
    } else if (
      p.WoLPacketType === N.NdisPMWoLPacketIPv4TcpSyn ||
      p.WoLPacketType === N.NdisPMWoLPacketIPv6TcpSyn
    ) {
      const v6 = p.WoLPacketType === N.NdisPMWoLPacketIPv6TcpSyn;
      const q = v6 ? p.WoLPattern.IPv6TcpSynParameters : p.WoLPattern.IPv4TcpSynParameters;
      if (q === undefined) return N.NDIS_STATUS_INVALID_PARAMETER;
      const [source, dest] =
        'IPv6SourceAddress' in q
          ? [q.IPv6SourceAddress, q.IPv6DestAddress]
          : [q.IPv4SourceAddress, q.IPv4DestAddress];
      if (source.length !== (v6 ? 16 : 4) || dest.length !== (v6 ? 16 : 4))
        return N.NDIS_STATUS_INVALID_PARAMETER;
      kept.syn = {
        v6,
        source: [...source],
        dest: [...dest],
        sourcePort: q.TCPSourcePortNumber,
        destPort: q.TCPDestPortNumber,
      };
    } else if (p.WoLPacketType === N.NdisPMWoLPacketEapolRequestIdMessage) {
      // An 802.1X EAPOL frame (EtherType 0x888E) of packet type 0 (EAP) carrying an EAP
      // Request (code 1) of type 1, Identity.
      for (const [at, x] of [
        [12, 0x88],
        [13, 0x8e],
        [15, 0],
        [18, 1],
        [22, 1],
      ] as const) {
        kept.compare[at] = true;
        kept.bytes[at] = x;
      }
      for (let i = 0; i < kept.bytes.length; i++) {
        kept.bytes[i] ??= 0;
        kept.compare[i] ??= false;
      }
    } else if (p.WoLPacketType !== N.NdisPMWoLPacketMagicPacket) return N.NDIS_STATUS_NOT_SUPPORTED;
    if (p.WoLPacketType !== N.NdisPMWoLPacketMagicPacket) {
      const used = new Set([...a.patterns.values()].map((q) => q.slot));
      let slot = 0;
      while (slot < FLX_SLOTS && used.has(slot)) slot++;
      if (slot === FLX_SLOTS) return N.NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL;
      kept.slot = slot;
    }
    a.patterns.set(p.PatternId, kept);
    d.BytesRead = d.InformationBufferLength;
    return N.NDIS_STATUS_SUCCESS;
  }

  // ---------------------------------------------------------- hang, reset, removal

  function checkForHang(a: Adapter): boolean {
    N.NdisAcquireSpinLock(a.lock);
    const skip = (a.flags & (F_RESETTING | F_REMOVING | F_SURPRISE_REMOVED | F_HALTING | F_LOW_POWER)) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    if (skip) return false;
    const hb = N.NdisReadRegisterUlong(a.heartbeat);
    if (hb === ALL_ONES) {
      // Off the bus and PnP does not know: no reset brings it back.
      N.NdisAcquireSpinLock(a.lock);
      a.flags |= F_REMOVING;
      N.NdisReleaseSpinLock(a.lock);
      giveUp(a);
      return false;
    }
    const hung = hb === a.lastHeartbeat;
    a.lastHeartbeat = hb;
    return hung;
  }

  function reset(a: Adapter): { Status: N.NDIS_STATUS; AddressingReset: boolean } {
    N.NdisAcquireSpinLock(a.lock);
    const removing = (a.flags & (F_REMOVING | F_SURPRISE_REMOVED)) !== 0;
    if (!removing) a.flags |= F_RESETTING;
    N.NdisReleaseSpinLock(a.lock);
    const old = N.NDIS_RAISE_IRQL_TO_DISPATCH();
    flushSends(a, N.NDIS_STATUS_RESET_IN_PROGRESS);
    N.NDIS_LOWER_IRQL(old, N.DISPATCH_LEVEL);
    if (removing) return { Status: N.NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
    const rx = a.flags & F_PAUSED ? 0 : CTRL_RX_ENABLE;
    N.NdisWriteRegisterUlong(a.ctrl, CTRL_RESET | CTRL_INTR_ENABLE | CTRL_TX_ENABLE | rx);
    return { Status: N.NDIS_STATUS_PENDING, AddressingReset: false };
  }

  function resetDone(a: Adapter): void {
    N.NdisDprAcquireSpinLock(a.lock);
    const mine = (a.flags & F_RESETTING) !== 0;
    a.flags &= ~F_RESETTING;
    N.NdisDprReleaseSpinLock(a.lock);
    if (!mine) return;
    a.lastHeartbeat = N.NdisReadRegisterUlong(a.heartbeat);
    N.NdisMResetComplete(a.handle, N.NDIS_STATUS_SUCCESS, false);
  }

  function devicePnPEventNotify(a: Adapter, ev: N.NET_DEVICE_PNP_EVENT): void {
    if (ev.DevicePnPEvent !== N.NdisDevicePnPEventSurpriseRemoved) return;
    N.NdisAcquireSpinLock(a.lock);
    a.flags |= F_SURPRISE_REMOVED;
    const resetting = (a.flags & F_RESETTING) !== 0;
    a.flags &= ~F_RESETTING;
    N.NdisReleaseSpinLock(a.lock);
    const old = N.NDIS_RAISE_IRQL_TO_DISPATCH();
    flushSends(a, N.NDIS_STATUS_NOT_ACCEPTED);
    N.NDIS_LOWER_IRQL(old, N.DISPATCH_LEVEL);
    if (resetting) N.NdisMResetComplete(a.handle, N.NDIS_STATUS_FAILURE, false);
    // An OID_PNP_SET_POWER(D0) pended while the NIC wakes: it never will now (R5.7).
    // Taken under the lock, so the poll finds nothing to complete; a poll still set is
    // cancelled, one already running or queued sees the request gone.
    // BUG (removal-race): completed, but left in powerRequest for the poll.
    N.NdisAcquireSpinLock(a.lock);
    const req = a.powerRequest;
    if (!has('removal-race')) a.powerRequest = null;
    N.NdisReleaseSpinLock(a.lock);
    if (req === null) return;
    if (!has('removal-race') && N.NdisCancelTimerObject(a.resumeTimer!)) a.resumeArmed = false;
    N.NdisMOidRequestComplete(a.handle, req, N.NDIS_STATUS_NOT_ACCEPTED);
  }

  function halt(a: Adapter, _action: number): void {
    N.NdisAcquireSpinLock(a.lock);
    a.flags |= F_HALTING;
    const offLimits = (a.flags & (F_SURPRISE_REMOVED | F_LOW_POWER)) !== 0;
    N.NdisReleaseSpinLock(a.lock);
    if (!offLimits) {
      N.NdisWriteRegisterUlong(a.imr, 0);
      N.NdisWriteRegisterUlong(a.ctrl, 0);
    }
    if (a.interrupt !== null) N.NdisMDeregisterInterruptEx(a.interrupt);
    a.interrupt = null;
    // A timer that fired already has run by now or sees F_HALTING; wait for nothing else.
    while (a.statsArmed && !N.NdisCancelTimerObject(a.statsTimer!)) N.NdisMSleep(1000);
    a.statsArmed = false;
    while (a.resumeArmed && !N.NdisCancelTimerObject(a.resumeTimer!)) N.NdisMSleep(1000);
    a.resumeArmed = false;
    release(a);
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
      // Selective suspend's two handlers come through MiniportSetOptions.
      SetOptionsHandler: (h) =>
        N.NdisSetOptionalHandlers(h, {
          Header: {
            Type: N.NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
            Revision: N.NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
          },
          IdleNotificationHandler: idleNotification,
          CancelIdleNotificationHandler: cancelIdleNotification,
        } as N.NDIS_MINIPORT_SS_CHARACTERISTICS<Adapter>),
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
      CancelSendHandler: () => {}, // the NIC takes every send at once: nothing waits
      CheckForHangHandlerEx: checkForHang,
      ResetHandlerEx: reset,
      DevicePnPEventNotifyHandler: devicePnPEventNotify,
      ShutdownHandlerEx: (a) => {
        // Any IRQL, no locks: stop the NIC's DMA, unless it is gone or powered down.
        // BUG (shutdown-in-d3): the power state is not looked at.
        const offLimits =
          a.flags & (has('shutdown-in-d3') ? F_SURPRISE_REMOVED : F_SURPRISE_REMOVED | F_LOW_POWER);
        if (offLimits === 0) N.NdisWriteRegisterUlong(a.ctrl, 0);
      },
      // OID_PNP_SET_POWER(D0) is the only request that pends; NDIS never cancels it.
      CancelOidRequestHandler: () => {},
    });
    driverHandle = r.NdisMiniportDriverHandle;
    return r.Status;
  }

  return { name, description, load: () => ({ DriverEntry }) };
}

export const pmnic: N.DriverModule = makeDriver(
  'pmnic',
  'a PCI Ethernet miniport with power management: NDIS_PM_CAPABILITIES, OID_PNP_SET_POWER, wake-on-LAN patterns, selective suspend, wake reason, and NdisMRemoveMiniport after a failed resume',
  null,
);

/** pmnic with one power-management mistake each; the rule that catches it in brackets. */
const bugs: [PmnicBug, string][] = [
  [
    'timer-in-d3',
    'OID_PNP_SET_POWER(D3) succeeds with the statistics timer still set (NdisSim_SetPowerTimerSet)',
  ],
  [
    'shutdown-in-d3',
    'MiniportShutdownEx stops the NIC without looking at the power state: a shutdown in selective suspend writes to a NIC in D3 (NdisSim_HardwareAccessInLowPower)',
  ],
  [
    'cancel-reads-nic',
    'MiniportCancelIdleNotification reads the NIC before NDIS has brought it back to D0 (NdisSim_HardwareAccessInLowPower)',
  ],
  [
    'idle-never-completes',
    'MiniportCancelIdleNotification never calls NdisMIdleNotificationComplete, so a system sleep hangs (NdisSim_PowerIrpWatchdog)',
  ],
  [
    'idle-returns-success',
    'MiniportIdleNotification returns SUCCESS instead of PENDING (NdisSim_IdleNotificationStatus)',
  ],
  ['confirm-d0', 'NdisMIdleNotificationConfirm with NdisDeviceStateD0 (NdisSim_IdleNotificationConfirm)'],
  [
    'idle-complete-twice',
    'MiniportCancelIdleNotification completes the notification twice (NdisSim_IdleNotificationComplete)',
  ],
  ['query-power-veto', 'OID_PNP_QUERY_POWER is failed (NdisSim_QueryPowerFailed)'],
  ['set-power-d0-fails', 'OID_PNP_SET_POWER(D0) fails when the NIC does not come back (NdisOidComplete)'],
  [
    'remove-not-complete',
    'a NIC that stays dark after D0: NdisMRemoveMiniport, and the pended OID_PNP_SET_POWER(D0) is never completed (NdisTimedOidComplete)',
  ],
  [
    'd3-keeps-sends',
    'NO_PAUSE_ON_SUSPEND, and OID_PNP_SET_POWER(D3) succeeds with sends still on the NIC (NdisSim_SetPowerSendsPending)',
  ],
  [
    'removal-race',
    'a surprise removal while OID_PNP_SET_POWER(D0) is pended: the SurpriseRemoved handler completes the request but leaves it to the poll, which completes it again (NdisSim_OidCompleteUnexpected, for explore)',
  ],
  [
    'wol-not-programmed',
    "OID_PNP_SET_POWER(D3) leaves the wake-up filters unprogrammed: the magic packet is dropped and the system sleeps on (caught by the scenario's expect:, not by a rule)",
  ],
  [
    'wake-reason-late',
    'NDIS_STATUS_PM_WAKE_REASON is indicated from a work item, after OID_PNP_SET_POWER(D0) completed (NdisSim_WakeReasonOutsideSetPower)',
  ],
];

export const pmnicBugs: N.DriverModule[] = bugs.map(([bug, what]) =>
  makeDriver(`pmnic-${bug}`, `pmnic, bug: ${what}`, bug),
);
