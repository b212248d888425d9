// SimNic: a simulated Ethernet controller with a register window, an interrupt
// line (and interrupt messages when MSI-capable) and a fault plan. Drivers reach it
// only through NdisMMapIoSpace and NdisRead/WriteRegisterXxx, or through its I/O port
// range (NdisMRegisterIoPortRange, NdisRawRead/WritePortXxx), which decodes to the
// same registers, the way a real miniport reaches its hardware.
//
// Register map (32-bit registers, byte offsets):
//   0x00 CTRL       RW  bit 0 RESET (start a reset), bit 1 INTR_ENABLE, bit 2 TX_ENABLE, bit 3 RX_ENABLE;
//                       reads back the bits written, RESET always 0 (not held); a reset keeps the others
//   0x04 STATUS     R   bit 0 LINK_UP, bit 1 READY (not resetting), bit 2 TX_ENABLED, bit 3 RX_ENABLED
//   0x08 HEARTBEAT  R   firmware progress counter; it stops while the NIC is hung
//   0x0C ICR        R   interrupt causes, cleared by the read: bit 0 RESET_DONE, bit 1 LINK_CHANGE,
//                       bit 2 TX_DONE, bit 3 RX
//   0x10 IMR        RW  interrupt mask (1 = enabled)
//   0x14 RESETS     R   resets performed (diagnostic)
//   0x18 TX_POST    W   queue a frame of this many bytes for transmission
//   0x1C TX_DONE    R   frames transmitted since the last read (cleared by the read)
//   0x20 RX_POP     R   length of the next received frame, taking it off the queue; 0 if none
//   0x24 RX_PENDING R   received frames waiting
// Wake-up logic (it keeps its registers through D3 and resets, on auxiliary power; see
// docs/model.md "SimNic wake-up filters"):
//   0x28 RAL        RW  station address bytes 0-3 (byte 0 in bits 0-7), for the magic packet
//   0x2C RAH        RW  station address bytes 4-5 (bits 0-15)
//   0x30 WUFC       RW  wake-up filters armed for a low-power state: bit 0 LNKC (link change),
//                       bit 1 MAG (magic packet), bits 16-19 FLX0-3 (bitmap pattern slots 0-3)
//   0x34 WUS        RW  wake-up status: the filter that woke the NIC (WUFC's bits); write 1 to clear
//   0x38 WUPL       R   length of the wake packet saved (0: none)
//   0x3C FLXA       RW  pattern slot address: bits 0-1 slot, bits 8-14 byte (0-127)
//   0x40 FLXD       RW  pattern entry at FLXA: bits 0-7 the byte, bit 8 COMPARE (the mask
//                       bit); a write stores it and moves FLXA to the next byte
//   0x80-0xFC WUPM  R   the wake packet's first 128 bytes (byte 0 in bits 0-7 of 0x80)
// A hung NIC accepts frames but transmits nothing and receives nothing. A reset
// drops whatever was queued both ways. A NIC that has vanished (surprise removal,
// fault "vanish") reads as 0xFFFFFFFF.

import { assert } from '../errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import {
  PCI_ADDRESS_IO_SPACE,
  PCI_CLASS_NETWORK_CTLR,
  PCI_ENABLE_BUS_MASTER,
  PCI_ENABLE_IO_SPACE,
  PCI_ENABLE_MEMORY_SPACE,
  PCI_SUBCLASS_NET_ETHERNET_CTLR,
} from '../ndis/generated/status.ts';
import type { InterruptLine, MessageInterrupts, Mmio, PciConfigSpace } from '../pnp/resources.ts';
import { fmtTime } from '../report/format.ts';
import { ChoiceSite } from '../sim/choice.ts';
import { ns } from '../sim/limits.ts';
import type { EventTarget, SimEvent } from '../sim/queue.ts';
import type { Ratio } from '../sim/rng.ts';
import type { Trace } from '../trace/trace.ts';

export const Reg = {
  CTRL: 0x00,
  STATUS: 0x04,
  HEARTBEAT: 0x08,
  ICR: 0x0c,
  IMR: 0x10,
  RESETS: 0x14,
  TX_POST: 0x18,
  TX_DONE: 0x1c,
  RX_POP: 0x20,
  RX_PENDING: 0x24,
  RAL: 0x28,
  RAH: 0x2c,
  WUFC: 0x30,
  WUS: 0x34,
  WUPL: 0x38,
  FLXA: 0x3c,
  FLXD: 0x40,
  WUPM: 0x80,
} as const;
export const Ctrl = { RESET: 1 << 0, INTR_ENABLE: 1 << 1, TX_ENABLE: 1 << 2, RX_ENABLE: 1 << 3 } as const;
export const Status = { LINK_UP: 1 << 0, READY: 1 << 1, TX_ENABLED: 1 << 2, RX_ENABLED: 1 << 3 } as const;
export const Icr = { RESET_DONE: 1 << 0, LINK_CHANGE: 1 << 1, TX_DONE: 1 << 2, RX: 1 << 3 } as const;
export const registerWindowBytes = 0x100;
/** WUFC and WUS: the wake-up filters (FLX(k) is bitmap pattern slot k). */
export const Wake = { LNKC: 1 << 0, MAG: 1 << 1, FLX0: 1 << 16 } as const;
/** FLXD's bit 8: compare this byte (its bit in the pattern's mask). */
export const FLXD_COMPARE = 0x100;
/** Bitmap pattern slots, and the bytes of a frame each can compare. */
export const wakePatternSlots = 4;
export const wakePatternBytes = 128;
/** The bytes of a wake packet the NIC saves (WUPM). */
export const wakePacketSaved = 128;
/** In `flx`, the mask bytes follow the pattern bytes of every slot. */
const flxMaskAt = wakePatternSlots * wakePatternBytes;
const wakeFilterBits = Wake.LNKC | Wake.MAG | (((1 << wakePatternSlots) - 1) << 16);

/**
 * Byte offsets of the type-0 PCI header (wdm.h's PCI_COMMON_CONFIG) the SimNic's
 * configuration space fills in. The rest of its 256 bytes reads zero.
 */
export const PciConfig = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  PROG_IF: 0x09,
  SUB_CLASS: 0x0a,
  BASE_CLASS: 0x0b,
  HEADER_TYPE: 0x0e,
  BAR0: 0x10,
  BAR1: 0x14,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  /** The first capability (PCI_STATUS_CAPABILITIES_LIST set in STATUS). */
  CAPABILITIES_PTR: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  /** The PCI power management capability (ID 0x01, the list's only entry). */
  PM_CAPABILITY: 0x40,
  /** Its PMC: version 3, PME from D0, D3hot and D3cold. */
  PM_PMC: 0x42,
  /** Its PMCSR: PowerState (bits 0-1, read-only here), PME_En (bit 8), PME_Status (bit 15, write 1 to clear). */
  PM_PMCSR: 0x44,
} as const;

/** PMCSR.PME_Status: the device signalled a wake (PME#, or WAKE# on PCIe); sticky until written with 1. */
export const PMCSR_PME_STATUS = 0x8000;
/** PMCSR.PME_En. */
export const PMCSR_PME_ENABLE = 0x0100;
/** The SimNic's PCI identity, as its device instance ID (PCI\\VEN_5A5A&DEV_0001) shows it. */
export const simNicVendorId = 0x5a5a;
export const simNicDeviceId = 0x0001;

/** An inclusive range of durations; a value is drawn through the choice door. */
export interface NsRange {
  minNs: number;
  maxNs: number;
}

export interface FaultPlan {
  /** The NIC hangs at this time (ns), once. */
  hangAtNs: number | null;
  /** Every `periodNs`, a healthy NIC hangs with probability `chance`. */
  hangEvery: { periodNs: number; chance: Ratio } | null;
  /** After each reset the NIC hangs again after a delay drawn from this range. */
  rehangAfterReset: NsRange | null;
  /** How long a reset takes. */
  resetNs: number;
  /** The NIC vanishes (reads all ones) at this time. */
  vanishAtNs: number | null;
  /** The link goes down at this time, and up again `linkDownForNs` later (null: stays down). */
  linkDownAtNs: number | null;
  linkDownForNs: number | null;
  /** The NIC does not come back from a low-power state (a system sleep, a selective suspend): powered up again, it reads all ones (R5.8). */
  deadOnResume?: boolean;
  /**
   * As deadOnResume, but only for a power-down that begins at or after this time (ns):
   * the NIC comes back from the low-power stays before it, and not from the first after.
   */
  deadOnResumeAfterNs?: number;
  /**
   * Another device shares the NIC's interrupt line and interrupts every this period (ns,
   * from this period on): NDIS calls MiniportInterrupt for an interrupt the NIC did not
   * raise, which the ISR must not claim (MINIPORT_ISR). It goes on after `vanishAtNs` and
   * a surprise removal, for as long as the driver has the line connected. Not with
   * message-signalled interrupts, which no other device shares.
   */
  sharedIrqEveryNs?: number;
}

/** Traffic arriving from the wire. */
export interface WireOptions {
  /** Frames per second arriving while the link is up and receive is enabled; 0 = none. */
  rxPerSecond: number;
  rxFrameBytes: number;
  /**
   * With a value above rxFrameBytes, frames arrive in sizes from rxFrameBytes to this,
   * each drawn from the NIC's frame count by a fixed hash: every run has the same
   * sizes, and no choice of the explorer decides them.
   */
  rxFrameBytesMax?: number;
  /**
   * Frames that arrive back to back, as one train, raising one interrupt (default 1):
   * the receive DPC then finds several and indicates them as one chain.
   */
  rxBurst?: number;
  /** Transmit time per byte (1 Gb/s = 8 ns). */
  txNsPerByte: number;
}

export const quietWire: WireOptions = { rxPerSecond: 0, rxFrameBytes: 64, txNsPerByte: 8 };

/**
 * A magic packet for the station address `mac`: a broadcast Ethernet frame (type 0x0842,
 * the one Wake-on-LAN tools use) whose payload is six bytes of 0xFF and the address
 * sixteen times.
 */
export function magicPacket(mac: readonly number[]): Uint8Array {
  const f = new Uint8Array(14 + 102);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0, 0xfe], 6);
  f[12] = 0x08;
  f[13] = 0x42;
  f.fill(0xff, 14, 20);
  for (let i = 0; i < 16; i++) f.set(mac, 20 + 6 * i);
  return f;
}

/** A WUS bit in words, for the trace. */
function wakeFilterName(bit: number): string {
  if (bit === Wake.LNKC) return 'link change (LNKC)';
  if (bit === Wake.MAG) return 'magic packet (MAG)';
  return `bitmap pattern slot ${31 - Math.clz32(bit) - 16} (FLX${31 - Math.clz32(bit) - 16})`;
}

/** Frames the NIC's receive FIFO holds; more are dropped. */
const rxFifoFrames = 256;

export const noFaults: FaultPlan = {
  hangAtNs: null,
  hangEvery: null,
  rehangAfterReset: null,
  resetNs: 2 * ns.ms,
  vanishAtNs: null,
  linkDownAtNs: null,
  linkDownForNs: null,
};

/**
 * The message a cause is signalled with: ICR bit k (RESET_DONE 0, LINK_CHANGE 1,
 * TX_DONE 2, RX 3) goes on message k when the device has more than k messages, else on
 * message 0. One message carries every cause; four or more give each its own.
 */
export function messageOf(cause: number, count: number): number {
  const k = 31 - Math.clz32(cause);
  return k < count ? k : 0;
}

/** Heartbeat period of the firmware. */
const heartbeatNs = 100 * ns.ms;
/** Steps a duration range is cut into for drawing. */
const rangeSteps = 64;

const Op = {
  Hang: 0,
  HangTick: 1,
  ResetDone: 2,
  Vanish: 3,
  LinkDown: 4,
  LinkUp: 5,
  TxDone: 6,
  Rx: 7,
  SharedIrq: 8,
} as const;

export class SimNic implements Mmio, PciConfigSpace, EventTarget {
  hung = false;
  /** Registers read all ones: the NIC is gone, or powered off (D3). */
  vanished = false;
  /** Surprise-removed, or vanished by the fault plan: it never comes back. */
  private unplugged = false;
  /** The bus driver took it to D3 (a system sleep). */
  poweredOff = false;
  /** The low-power state it is in while powered off, for the trace. */
  private offState = 'D3';
  /** When the bus last powered the NIC down (deadOnResumeAfterNs). */
  private offSinceNs = 0;
  /** An access while powered off was traced already (once per power-down). */
  private offAccessNoted = false;
  linkUp = true;
  resetting = false;
  resetsDone = 0;
  hangs = 0;
  private ctrl = 0;
  private icr = 0;
  private imr = 0;
  /** Heartbeat: value at `hbSince`, counting while not hung. */
  private hbBase = 0;
  private hbSince = 0;
  private rehangEv: SimEvent | null = null;
  /** The next frame from the wire, while receive is enabled. */
  private rxEv: SimEvent | null = null;
  /** Lengths of frames queued for transmission, oldest first. */
  private readonly txQueue: number[] = [];
  private txBusy: SimEvent | null = null;
  private txDone = 0;
  private readonly rxQueue: number[] = [];
  txFrames = 0;
  rxFrames = 0;
  /** Wakes signalled from a low-power state (PME_Status latched): `wake-signal`s and wake-up filters. */
  wakes = 0;
  rxDropped = 0;
  readonly configBytes = 256;
  /** Where PnP put the register window (BAR0) and the I/O port range (BAR1; null: none). */
  private memoryBase = 0;
  private portBase: number | null = null;
  /** The PCI configuration space, made on first access (most runs never read it). */
  private config: Uint8Array | null = null;
  /** Wake-up logic: station address, WUFC, WUS, the pattern slots (made on first write), the wake packet. */
  private ral = 0;
  private rah = 0;
  private wufc = 0;
  private wus = 0;
  private flxa = 0;
  private flx: Uint8Array | null = null;
  private wakePacket: Uint8Array | null = null;
  /** Who hears a wake this NIC signals from its filters (the World: the bus completes IRP_MN_WAIT_WAKE). */
  wakeListener: { nicWoke(nic: SimNic, filter: number): void } | null = null;

  constructor(
    readonly name: string,
    readonly kernel: Kernel,
    readonly trace: Trace,
    readonly line: InterruptLine,
    readonly faults: FaultPlan,
    readonly wire: WireOptions = quietWire,
    /** Its interrupt messages when MSI-capable, else null (the line only). */
    readonly msi: MessageInterrupts | null = null,
  ) {
    const m = kernel.machine;
    if (faults.hangAtNs !== null) m.at(faults.hangAtNs, this, Op.Hang, 'fault plan: hang');
    if (faults.hangEvery !== null) m.at(faults.hangEvery.periodNs, this, Op.HangTick, null);
    if (faults.vanishAtNs !== null) m.at(faults.vanishAtNs, this, Op.Vanish, null);
    if (faults.linkDownAtNs !== null) m.at(faults.linkDownAtNs, this, Op.LinkDown, null);
    if (faults.sharedIrqEveryNs !== undefined) m.at(faults.sharedIrqEveryNs, this, Op.SharedIrq, null);
  }

  /**
   * Why an interrupt NDIS hands the driver's ISR now is not this NIC's, or null when it
   * may be: the registers read all ones (vanished, unplugged, powered off), or, on a line
   * shared with another device (`sharedIrqEveryNs`), no unmasked cause is latched.
   */
  isrNotOurs(): string | null {
    if (this.vanished) return 'its registers read all ones (the NIC is gone or powered off)';
    if (this.faults.sharedIrqEveryNs === undefined) return null;
    if ((this.ctrl & Ctrl.INTR_ENABLE) !== 0 && (this.icr & this.imr) !== 0) return null;
    return 'the NIC had no unmasked cause latched (another device on the shared line interrupted)';
  }

  get now(): number {
    return this.kernel.now;
  }

  /**
   * PnP assigned the register window at `memoryBase` (BAR0 of the configuration space)
   * and the I/O port range at `portBase` (BAR1), or no port range.
   */
  placeAt(memoryBase: number, portBase: number | null): void {
    this.memoryBase = memoryBase;
    this.portBase = portBase;
  }

  /**
   * The configuration space: an Ethernet controller whose memory decoding and bus
   * mastering are on, with the register window in BAR0, the I/O port range in BAR1
   * (I/O decoding on; with no port range BAR1 reads zero and I/O decoding is off), and
   * the interrupt line's vector on INTA.
   */
  private configSpace(): Uint8Array {
    if (this.config !== null) return this.config;
    this.config = new Uint8Array(this.configBytes);
    const memoryBase = this.memoryBase;
    const c = new DataView(this.config.buffer);
    c.setUint16(PciConfig.VENDOR_ID, simNicVendorId, true);
    c.setUint16(PciConfig.DEVICE_ID, simNicDeviceId, true);
    const io = this.portBase === null ? 0 : PCI_ENABLE_IO_SPACE;
    c.setUint16(PciConfig.COMMAND, io | PCI_ENABLE_MEMORY_SPACE | PCI_ENABLE_BUS_MASTER, true);
    c.setUint8(PciConfig.REVISION_ID, 1);
    c.setUint8(PciConfig.SUB_CLASS, PCI_SUBCLASS_NET_ETHERNET_CTLR);
    c.setUint8(PciConfig.BASE_CLASS, PCI_CLASS_NETWORK_CTLR);
    c.setUint32(PciConfig.BAR0, memoryBase >>> 0, true);
    if (this.portBase !== null) c.setUint32(PciConfig.BAR1, this.portBase | PCI_ADDRESS_IO_SPACE, true);
    c.setUint16(PciConfig.SUBSYSTEM_VENDOR_ID, simNicVendorId, true);
    c.setUint16(PciConfig.SUBSYSTEM_ID, simNicDeviceId, true);
    c.setUint8(PciConfig.INTERRUPT_LINE, this.line.vector & 0xff);
    c.setUint8(PciConfig.INTERRUPT_PIN, 1);
    // One capability: power management (PCI Bus Power Management Interface 1.2).
    c.setUint16(PciConfig.STATUS, 0x0010, true);
    c.setUint8(PciConfig.CAPABILITIES_PTR, PciConfig.PM_CAPABILITY);
    c.setUint8(PciConfig.PM_CAPABILITY, 0x01);
    c.setUint8(PciConfig.PM_CAPABILITY + 1, 0x00);
    c.setUint16(PciConfig.PM_PMC, 0xc803, true);
    return this.config;
  }

  /**
   * A NIC that left the bus (unplugged, vanished, dead on resume) answers no
   * configuration cycle: every byte reads 0xFF. Powered down it is in D3hot (or D2),
   * where PCI keeps configuration space reachable: it reads as in D0, but PMCSR's
   * PowerState, which says the state (D3cold, power removed, is not modelled).
   */
  readConfig(offset: number): number {
    if (this.unplugged) return 0xff;
    const b = this.configSpace()[offset] ?? 0xff;
    if (offset !== PciConfig.PM_PMCSR || !this.poweredOff) return b;
    return (b & ~3) | (this.offState === 'D2' ? 2 : 3);
  }

  /**
   * The command register, the interrupt line and PMCSR's PME_En are writable; PMCSR's
   * PME_Status is cleared by writing it with 1; the rest is read-only.
   */
  writeConfig(offset: number, value: number): void {
    if (this.unplugged) return;
    const c = this.configSpace();
    if (offset === PciConfig.PM_PMCSR + 1) {
      // Bit 8 (PME_En) is bit 0 of this byte; bit 15 (PME_Status) is bit 7, write 1 to clear.
      const old = c[offset]!;
      c[offset] = (old & ~0x01 & ~(value & 0x80)) | (value & 0x01);
      return;
    }
    const writable =
      offset === PciConfig.COMMAND || offset === PciConfig.COMMAND + 1 || offset === PciConfig.INTERRUPT_LINE;
    if (writable) c[offset] = value & 0xff;
  }

  /**
   * The device signals a wake from a low-power state (PME#; the scenario's `wake-signal`):
   * PMCSR.PME_Status latches, so the driver can tell after D0 that its NIC woke the
   * machine. A NIC that is not powered down signals nothing.
   */
  signalWake(): boolean {
    if (!this.poweredOff || this.unplugged) return false;
    const c = this.configSpace();
    c[PciConfig.PM_PMCSR + 1] = c[PciConfig.PM_PMCSR + 1]! | (PMCSR_PME_STATUS >> 8);
    this.wakes++;
    if (this.trace.on) this.note('wake signalled (PME_Status set)');
    return true;
  }

  /**
   * The bus driver arms the device for wake-up (PMCSR.PME_En set, as it does for
   * IRP_MN_WAIT_WAKE before the D3 IRP) or disarms it (the wait-wake IRP completed or
   * was cancelled). The wake-up filters signal nothing while PME_En is clear.
   */
  armWake(on: boolean): void {
    if (this.unplugged) return;
    const c = this.configSpace();
    const hi = PciConfig.PM_PMCSR + 1;
    c[hi] = on ? c[hi]! | (PMCSR_PME_ENABLE >> 8) : c[hi]! & ~(PMCSR_PME_ENABLE >> 8);
  }

  /** PMCSR.PME_En as the bus or the driver left it. */
  private pmeEnabled(): boolean {
    return this.config !== null && (this.config[PciConfig.PM_PMCSR + 1]! & (PMCSR_PME_ENABLE >> 8)) !== 0;
  }

  /**
   * A frame from the wire with its bytes (the scenario's `frame` action). In D0 it is
   * received as any other (queued when receive is on and the link up). Powered down, the
   * wake-up filters armed in WUFC look at it: a magic packet for the address in RAL/RAH,
   * or a frame that matches a bitmap pattern slot, wakes the NIC when PME_En is set
   * (WUS, the wake packet in WUPL/WUPM, PME_Status, and the bus hears of it); any other
   * frame is dropped. What happened, in words, for the trace.
   */
  receiveFrame(frame: Uint8Array): string {
    if (this.unplugged) return 'lost: the device is gone';
    if (!this.poweredOff) {
      const listening = this.linkUp && !this.hung && !this.resetting && (this.ctrl & Ctrl.RX_ENABLE) !== 0;
      if (!listening) return 'dropped: receive is off';
      if (this.rxQueue.length >= rxFifoFrames) {
        this.rxDropped++;
        return 'dropped: receive FIFO full';
      }
      this.rxQueue.push(frame.length);
      this.rxFrames++;
      this.raise(Icr.RX);
      return 'received';
    }
    if (!this.linkUp) return 'lost: the link is down';
    const hit = this.wakeMatch(frame);
    if (hit === 0) return 'dropped: powered down, no wake-up filter matches';
    if (!this.pmeEnabled()) return `dropped: ${wakeFilterName(hit)} matches, but PME_En is clear`;
    this.wakePacket = frame.slice(0, wakePacketSaved);
    this.wakeBy(hit);
    return `woke the NIC: ${wakeFilterName(hit)}`;
  }

  /** The first wake-up filter armed in WUFC that `frame` matches (a WUS bit), or 0. */
  private wakeMatch(frame: Uint8Array): number {
    if (this.wufc & Wake.MAG && this.isMagicPacket(frame)) return Wake.MAG;
    const flx = this.flx;
    if (flx === null) return 0;
    for (let k = 0; k < wakePatternSlots; k++) {
      if ((this.wufc & (Wake.FLX0 << k)) === 0) continue;
      let compared = 0;
      let ok = true;
      for (let i = 0; i < wakePatternBytes && ok; i++) {
        const at = k * wakePatternBytes + i;
        if (flx[at + flxMaskAt] === 0) continue;
        compared++;
        ok = i < frame.length && frame[i] === flx[at];
      }
      // A slot whose mask compares nothing matches nothing.
      if (ok && compared > 0) return Wake.FLX0 << k;
    }
    return 0;
  }

  /** Six bytes of 0xFF and then the station address (RAL/RAH) sixteen times, anywhere in the frame. */
  private isMagicPacket(f: Uint8Array): boolean {
    const mac = (i: number): number =>
      i < 4 ? (this.ral >>> (8 * i)) & 0xff : (this.rah >>> (8 * (i - 4))) & 0xff;
    for (let start = 0; start + 102 <= f.length; start++) {
      let ok = true;
      for (let i = 0; i < 6 && ok; i++) ok = f[start + i] === 0xff;
      for (let i = 0; i < 96 && ok; i++) ok = f[start + 6 + i] === mac(i % 6);
      if (ok) return true;
    }
    return false;
  }

  /** A wake-up filter fired: WUS, PME_Status, and the bus hears of it. */
  private wakeBy(hit: number): void {
    this.wus |= hit;
    this.wakes++;
    const c = this.configSpace();
    c[PciConfig.PM_PMCSR + 1] = c[PciConfig.PM_PMCSR + 1]! | (PMCSR_PME_STATUS >> 8);
    if (this.trace.on) this.note(`wake-up filter matched: ${wakeFilterName(hit)} (WUS, PME_Status set)`);
    this.wakeListener?.nicWoke(this, hit);
  }

  private heartbeat(): number {
    if (this.hung) return this.hbBase;
    return (this.hbBase + Math.floor((this.now - this.hbSince) / heartbeatNs)) >>> 0;
  }

  read32(offset: number): number {
    if (this.vanished) {
      if (this.poweredOff && !this.offAccessNoted) this.offAccess('read', offset);
      return 0xffffffff;
    }
    switch (offset) {
      case Reg.CTRL:
        return this.ctrl;
      case Reg.STATUS:
        return (
          (this.linkUp ? Status.LINK_UP : 0) |
          (this.resetting ? 0 : Status.READY) |
          (this.ctrl & Ctrl.TX_ENABLE ? Status.TX_ENABLED : 0) |
          (this.ctrl & Ctrl.RX_ENABLE ? Status.RX_ENABLED : 0)
        );
      case Reg.HEARTBEAT:
        return this.heartbeat();
      case Reg.ICR: {
        const v = this.icr;
        this.icr = 0;
        return v;
      }
      case Reg.IMR:
        return this.imr;
      case Reg.RESETS:
        return this.resetsDone;
      case Reg.TX_DONE: {
        const v = this.txDone;
        this.txDone = 0;
        return v;
      }
      case Reg.RX_POP:
        return this.rxQueue.shift() ?? 0;
      case Reg.RX_PENDING:
        return this.rxQueue.length;
      case Reg.RAL:
        return this.ral;
      case Reg.RAH:
        return this.rah;
      case Reg.WUFC:
        return this.wufc;
      case Reg.WUS:
        return this.wus;
      case Reg.WUPL:
        return this.wakePacket === null ? 0 : this.wakePacket.length;
      case Reg.FLXA:
        return this.flxa;
      case Reg.FLXD: {
        const at = this.flxAt();
        return this.flx === null ? 0 : this.flx[at]! | (this.flx[at + flxMaskAt]! << 8);
      }
    }
    if (offset >= Reg.WUPM && offset < Reg.WUPM + wakePacketSaved) {
      const p = this.wakePacket;
      if (p === null) return 0;
      const at = offset - Reg.WUPM;
      return (
        ((p[at] ?? 0) | ((p[at + 1] ?? 0) << 8) | ((p[at + 2] ?? 0) << 16) | ((p[at + 3] ?? 0) << 24)) >>> 0
      );
    }
    return 0;
  }

  /** The pattern byte FLXA points at, as an index into `flx` (its mask bit is flxMaskAt further). */
  private flxAt(): number {
    return (
      (this.flxa & (wakePatternSlots - 1)) * wakePatternBytes + ((this.flxa >>> 8) & (wakePatternBytes - 1))
    );
  }

  write32(offset: number, value: number): void {
    if (this.vanished) {
      if (this.poweredOff && !this.offAccessNoted) this.offAccess('write', offset);
      return;
    }
    switch (offset) {
      case Reg.CTRL:
        if (value & Ctrl.RESET && !this.resetting) this.beginReset();
        this.ctrl = value & ~Ctrl.RESET;
        this.startTx();
        this.wireRx();
        return;
      case Reg.IMR:
        this.imr = value;
        return;
      case Reg.TX_POST:
        this.txQueue.push(value);
        this.startTx();
        return;
      case Reg.RAL:
        this.ral = value >>> 0;
        return;
      case Reg.RAH:
        this.rah = value & 0xffff;
        return;
      case Reg.WUFC:
        this.wufc = value & wakeFilterBits;
        return;
      case Reg.WUS:
        this.wus &= ~value;
        if (this.wus === 0) this.wakePacket = null;
        return;
      case Reg.FLXA:
        this.flxa = value & (((wakePatternBytes - 1) << 8) | (wakePatternSlots - 1));
        return;
      case Reg.FLXD: {
        this.flx ??= new Uint8Array(2 * flxMaskAt);
        const at = this.flxAt();
        this.flx[at] = value & 0xff;
        this.flx[at + flxMaskAt] = value & FLXD_COMPARE ? 1 : 0;
        // The next byte of the same slot (wrapping at the slot's end).
        this.flxa = (this.flxa & ~0x7f00) | ((((this.flxa >>> 8) + 1) & (wakePatternBytes - 1)) << 8);
        return;
      }
    }
  }

  /**
   * The first register access after the bus powered the NIC down: the device does not
   * decode it (a read gives all ones, a write is dropped). Traced once per power-down.
   */
  private offAccess(kind: 'read' | 'write', offset: number): void {
    this.offAccessNoted = true;
    if (this.trace.on)
      this.note(
        `register ${kind} ignored: powered down (${this.offState}), offset 0x${offset.toString(16).toUpperCase()}`,
      );
  }

  /**
   * A 1- or 2-byte read: the lanes of the register at offset & ~3 (little-endian, so
   * offset + 1 is bits 8..15). The device answers the whole register, so a read that
   * clears or pops (ICR, TX_DONE, RX_POP) does so whichever lanes were asked for. A
   * 2-byte read at offset 3 mod 4 spans two registers: it reaches each as a 1-byte read.
   */
  readNarrow(offset: number, bytes: 1 | 2): number {
    const lane = offset & 3;
    if (lane + bytes > 4) return this.readNarrow(offset, 1) | (this.readNarrow(offset + 1, 1) << 8);
    return (this.read32(offset - lane) >>> (lane * 8)) & (bytes === 1 ? 0xff : 0xffff);
  }

  /**
   * A 1- or 2-byte write. CTRL and IMR hold their value: the lanes written replace
   * theirs and the register takes the merged value as a 32-bit write would (a reset
   * starts only when the written lanes carry CTRL.RESET). TX_POST holds nothing to
   * merge: the lanes not written are zero, and the frame queued is the whole value.
   * Writes to read-only registers are ignored. One spanning two registers reaches
   * each as a 1-byte write.
   */
  writeNarrow(offset: number, bytes: 1 | 2, value: number): void {
    const lane = offset & 3;
    if (lane + bytes > 4) {
      this.writeNarrow(offset, 1, value);
      this.writeNarrow(offset + 1, 1, value >>> 8);
      return;
    }
    const shift = lane * 8;
    const mask = ((bytes === 1 ? 0xff : 0xffff) << shift) >>> 0;
    const lanes = ((value << shift) & mask) >>> 0;
    const reg = offset - lane;
    switch (reg) {
      case Reg.CTRL:
        this.write32(reg, ((this.ctrl & ~mask) | lanes) >>> 0);
        return;
      case Reg.IMR:
        this.write32(reg, ((this.imr & ~mask) | lanes) >>> 0);
        return;
      case Reg.TX_POST:
        this.write32(reg, lanes);
        return;
      case Reg.RAL:
      case Reg.RAH:
      case Reg.WUFC:
      case Reg.FLXA:
        this.write32(reg, ((this.read32(reg) & ~mask) | lanes) >>> 0);
        return;
      case Reg.WUS:
      case Reg.FLXD:
        // Write-1-to-clear and a stored entry: only the lanes written count.
        this.write32(reg, lanes);
        return;
    }
  }

  /** Frames arrive from the wire only while receive is enabled (no events otherwise). */
  /** The size of the next frame from the wire: rxFrameBytes, or one of a range (WireOptions.rxFrameBytesMax). */
  private frameSize(): number {
    const lo = this.wire.rxFrameBytes;
    const hi = this.wire.rxFrameBytesMax ?? lo;
    if (hi <= lo) return lo;
    // A fixed integer hash of the frame's number (murmur3's finalizer): sizes look mixed,
    // and every run gets the same ones.
    let h = Math.imul(this.rxFrames ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    return lo + ((h >>> 0) % (hi - lo + 1));
  }

  private wireRx(): void {
    const on = this.wire.rxPerSecond > 0 && (this.ctrl & Ctrl.RX_ENABLE) !== 0 && !this.vanished;
    if (on && this.rxEv === null) {
      const every = (ns.s * (this.wire.rxBurst ?? 1)) / this.wire.rxPerSecond;
      this.rxEv = this.kernel.machine.after(Math.round(every), this, Op.Rx, null);
    } else if (!on && this.rxEv !== null) {
      this.rxEv.cancelled = true;
      this.rxEv = null;
    }
  }

  /** Transmits the next queued frame unless busy, hung, resetting or not enabled. */
  private startTx(): void {
    if (this.txBusy !== null || this.txQueue.length === 0) return;
    if (this.hung || this.resetting || this.vanished || (this.ctrl & Ctrl.TX_ENABLE) === 0) return;
    const bytes = this.txQueue[0]!;
    this.txBusy = this.kernel.machine.after(
      Math.max(1, bytes * this.wire.txNsPerByte),
      this,
      Op.TxDone,
      null,
    );
  }

  private note(what: string, data: Record<string, unknown> = {}): void {
    if (!this.trace.on) return;
    const k = this.kernel;
    data.device = this.name;
    this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, `hw/${this.name}`, 'hw', what, data);
  }

  private hang(why: string): void {
    if (this.hung || this.vanished) return;
    this.hbBase = this.heartbeat();
    this.hung = true;
    this.hangs++;
    if (this.trace.on) this.note('hung: heartbeat stopped', { why });
  }

  private beginReset(): void {
    this.resetting = true;
    // Whatever was queued either way is lost.
    this.txQueue.length = 0;
    this.rxQueue.length = 0;
    this.txDone = 0;
    if (this.txBusy !== null) {
      this.txBusy.cancelled = true;
      this.txBusy = null;
    }
    if (this.trace.on) this.note('reset started');
    if (this.rehangEv !== null) {
      this.rehangEv.cancelled = true;
      this.rehangEv = null;
    }
    this.kernel.machine.after(this.faults.resetNs, this, Op.ResetDone, null);
  }

  /**
   * A cause is latched in ICR; unmasked and with interrupts enabled, it interrupts: on
   * the line, or, while the system has the messages enabled, as a message (see
   * `messageOf`).
   */
  private raise(cause: number): void {
    this.icr |= cause;
    if (this.ctrl & Ctrl.INTR_ENABLE && this.imr & cause) {
      const msi = this.msi;
      if (msi?.enabled) msi.signal(messageOf(cause, msi.count));
      else this.line.assert();
    }
  }

  private draw(r: NsRange): number {
    assert(r.maxNs >= r.minNs, 'SimNic: range', r.minNs, r.maxNs);
    if (r.maxNs === r.minNs) return r.minNs;
    const step = (r.maxNs - r.minNs) / (rangeSteps - 1);
    const c = this.kernel.machine.chooser;
    const k = c.length;
    const ns = r.minNs + Math.round(c.choose(ChoiceSite.Fault, rangeSteps) * step);
    c.note(k, () => `${this.name}: hangs again ${fmtTime(ns)} after the reset`);
    return ns;
  }

  fire(op: number, arg: unknown): void {
    switch (op) {
      case Op.SharedIrq:
        // The other device on the line interrupts: every ISR connected to the line runs
        // (the kernel calls each until one claims it). Not the NIC's own assertion, so
        // no "left interrupting" report when nothing is connected.
        this.kernel.machine.after(this.faults.sharedIrqEveryNs!, this, Op.SharedIrq, null);
        if (this.msi?.enabled) return;
        if (this.trace.on && this.line.connected.length > 0)
          this.note('another device on the shared line interrupts');
        for (const k of this.line.connected) this.kernel.requestInterrupt(k);
        return;
      case Op.TxDone:
        this.txBusy = null;
        if (this.hung || this.vanished || this.resetting) return;
        this.txQueue.shift();
        this.txDone++;
        this.txFrames++;
        this.raise(Icr.TX_DONE);
        this.startTx();
        return;
      case Op.Rx: {
        this.rxEv = null;
        if (this.vanished) return;
        this.wireRx();
        const listening = this.linkUp && !this.hung && !this.resetting && (this.ctrl & Ctrl.RX_ENABLE) !== 0;
        if (!listening) return;
        let taken = 0;
        for (let i = this.wire.rxBurst ?? 1; i > 0; i--) {
          if (this.rxQueue.length >= rxFifoFrames) {
            this.rxDropped++;
            continue;
          }
          this.rxQueue.push(this.frameSize());
          this.rxFrames++;
          taken++;
        }
        if (taken > 0) this.raise(Icr.RX);
        return;
      }
      case Op.Hang:
        this.rehangEv = null;
        this.hang(arg as string);
        return;
      case Op.HangTick: {
        const e = this.faults.hangEvery;
        assert(e !== null, 'SimNic: hang tick without a plan');
        // A NIC gone for good stops ticking; one powered down (D3) skips the draw and
        // ticks on, so the plan goes on after the resume.
        if (this.unplugged) return;
        if (!this.vanished) {
          // Machine.chance: answer 0 is "no hang", so the simplest schedule injects none.
          const k = this.kernel.machine.chooser.length;
          const hang = this.kernel.machine.chance(ChoiceSite.Fault, e.chance.num, e.chance.den);
          this.kernel.machine.chooser.note(
            k,
            () => `${this.name}: hangEvery draw: ${hang ? 'hang' : 'no hang'}`,
          );
          if (hang) this.hang('fault plan: random hang');
        }
        this.kernel.machine.after(e.periodNs, this, Op.HangTick, null);
        return;
      }
      case Op.ResetDone:
        if (this.vanished) return;
        this.resetting = false;
        this.resetsDone++;
        if (this.hung) {
          this.hung = false;
          this.hbSince = this.now;
        }
        if (this.trace.on) this.note('reset done');
        if (this.faults.rehangAfterReset !== null) {
          this.rehangEv = this.kernel.machine.after(
            this.draw(this.faults.rehangAfterReset),
            this,
            Op.Hang,
            'fault plan: hangs again after reset',
          );
        }
        this.raise(Icr.RESET_DONE);
        this.startTx();
        return;
      case Op.Vanish:
        this.unplug();
        return;
      case Op.LinkDown: {
        if ((this.vanished && !this.asleep()) || !this.linkUp) return;
        this.linkUp = false;
        if (this.trace.on) this.note('link down');
        // Powered down, the NIC interrupts for nothing; it finds the link as it is at power-up.
        if (!this.poweredOff) this.raise(Icr.LINK_CHANGE);
        else this.linkWake();
        // An injected link-down carries its own duration (-1: for good); the fault plan's, null.
        const forNs = arg === null ? this.faults.linkDownForNs : (arg as number);
        if (forNs !== null && forNs >= 0) this.kernel.machine.after(forNs, this, Op.LinkUp, null);
        return;
      }
      case Op.LinkUp:
        if ((this.vanished && !this.asleep()) || this.linkUp) return;
        this.linkUp = true;
        if (this.trace.on) this.note('link up');
        if (!this.poweredOff) this.raise(Icr.LINK_CHANGE);
        else this.linkWake();
        return;
    }
  }

  /** Powered down, a link change wakes the NIC when WUFC.LNKC and PME_En are set. */
  private linkWake(): void {
    if (this.unplugged || (this.wufc & Wake.LNKC) === 0) return;
    if (!this.pmeEnabled()) {
      if (this.trace.on) this.note('link change: LNKC armed, but PME_En is clear: no wake');
      return;
    }
    this.wakeBy(Wake.LNKC);
  }

  /** Powered down (D3) but still there: the wire's events still reach it. */
  private asleep(): boolean {
    return this.poweredOff && !this.unplugged;
  }

  /**
   * A fault injected at `atNs` (World.inject): a hang, a vanish, or the link going
   * down, and up again `forNs` later (null: it stays down).
   */
  inject(kind: 'hang' | 'vanish' | 'link-down', atNs: number, forNs: number | null): void {
    const m = this.kernel.machine;
    if (kind === 'hang') m.at(atNs, this, Op.Hang, 'injected: hang');
    else if (kind === 'vanish') m.at(atNs, this, Op.Vanish, null);
    else m.at(atNs, this, Op.LinkDown, forNs ?? -1);
  }

  /** The device is gone: registers read all ones, nothing more happens. */
  unplug(): void {
    if (this.unplugged) return;
    this.unplugged = true;
    this.vanished = true;
    if (this.trace.on) this.note('vanished: registers read 0xFFFFFFFF');
  }

  /**
   * The bus driver takes the NIC back to D0 (`on`) or to the low-power state `state`
   * (D2 or D3, for the trace). Powered down it loses its state and reads all ones (the
   * memory window does not decode); back in D0 it is a NIC fresh from reset, link as
   * it was, unless the fault plan says it stays dead.
   */
  setPower(on: boolean, state = 'D3'): void {
    if (!on) {
      if (this.poweredOff) return;
      this.poweredOff = true;
      this.offSinceNs = this.now;
      this.offState = state;
      this.offAccessNoted = false;
      this.vanished = true;
      this.ctrl = 0;
      this.imr = 0;
      this.icr = 0;
      this.txQueue.length = 0;
      this.rxQueue.length = 0;
      this.txDone = 0;
      this.resetting = false;
      if (this.txBusy !== null) {
        this.txBusy.cancelled = true;
        this.txBusy = null;
      }
      if (this.rehangEv !== null) {
        this.rehangEv.cancelled = true;
        this.rehangEv = null;
      }
      this.wireRx();
      if (this.trace.on) this.note(`powered down (${state})`);
      return;
    }
    if (!this.poweredOff) return;
    this.poweredOff = false;
    if (this.unplugged) return;
    const after = this.faults.deadOnResumeAfterNs;
    if (this.faults.deadOnResume === true || (after !== undefined && this.offSinceNs >= after)) {
      this.unplugged = true;
      if (this.trace.on) this.note('did not power up (fault plan): registers read 0xFFFFFFFF');
      return;
    }
    this.vanished = false;
    this.hung = false;
    this.hbBase = 0;
    this.hbSince = this.now;
    if (this.trace.on) this.note('powered up (D0)');
  }
}
