// Hardware resources PnP assigns to a device: a register window, an interrupt
// line and, for an MSI-capable device, interrupt messages. Devices (src/hw)
// implement them; NDIS maps and connects them for a driver.

import type { Kernel, KInterrupt } from '../kernel/kernel.ts';

/**
 * A register file, 32 bits wide, reached through a memory window or an I/O port range.
 * The narrow accessors take a byte offset and address byte lanes of the little-endian
 * 32-bit register at offset & ~3; the device decides what a partial access does to a
 * register with side effects.
 */
export interface Mmio {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  /** `bytes` (1 or 2) bytes at `offset`, zero-extended. */
  readNarrow(offset: number, bytes: 1 | 2): number;
  writeNarrow(offset: number, bytes: 1 | 2, value: number): void;
}

/** An interrupt line; every connected interrupt object is asked when it is asserted. */
export class InterruptLine {
  readonly connected: KInterrupt[] = [];
  /**
   * Who last gave the line up (NdisMDeregisterInterruptEx), told when the device
   * asserts it with nothing connected: a NIC whose driver left it interrupting.
   */
  orphan: { unservedInterrupt(): void } | null = null;
  constructor(
    readonly kernel: Kernel,
    readonly vector: number,
  ) {}

  connect(k: KInterrupt): void {
    this.connected.push(k);
    this.orphan = null;
  }

  disconnect(k: KInterrupt): void {
    const i = this.connected.indexOf(k);
    if (i >= 0) this.connected.splice(i, 1);
    this.kernel.disconnectInterrupt(k);
  }

  /** The device signals an interrupt. */
  assert(): void {
    if (this.connected.length === 0) this.orphan?.unservedInterrupt();
    for (const k of this.connected) this.kernel.requestInterrupt(k);
  }
}

/**
 * The most messages a device may have: 16 with MSI (PCI 2.2 tells them apart by the low
 * 4 bits of the data), 2,048 with MSI-X (PCI 3.0), as "Introduction to Message-Signaled
 * Interrupts" puts it.
 */
export const maxMessages = { msi: 16, msix: 2048 } as const;

/**
 * A device's message-signaled interrupts: `count` messages (PCI MSI, or MSI-X when
 * `msix`), message m on vector `vectorBase + m`. While a driver's interrupt is connected
 * message-based, `enabled` is set (the capability's enable bit, which the system sets
 * when it connects the messages) and the device signals messages instead of asserting
 * its line. A message is an edge: each signal asks for one ISR run; one not yet run
 * is not asked for twice, as a vector's pending bit holds one.
 */
export class MessageInterrupts {
  /** The interrupt object of each message while connected. */
  readonly connected: (KInterrupt | null)[];
  enabled = false;
  constructor(
    readonly kernel: Kernel,
    readonly count: number,
    readonly msix: boolean,
    readonly vectorBase: number,
  ) {
    this.connected = new Array<KInterrupt | null>(count).fill(null);
  }

  /** Connects one interrupt object per message and enables message signalling. */
  connect(ks: readonly KInterrupt[]): void {
    for (let m = 0; m < this.count; m++) this.connected[m] = ks[m] ?? null;
    this.enabled = true;
  }

  /** Disconnects every message (a pending one is dropped) and falls back to the line. */
  disconnect(): void {
    for (let m = 0; m < this.count; m++) {
      const k = this.connected[m];
      if (k !== null && k !== undefined) this.kernel.disconnectInterrupt(k);
      this.connected[m] = null;
    }
    this.enabled = false;
  }

  /** The device sends message `m`. */
  signal(m: number): void {
    const k = this.connected[m];
    if (k !== null && k !== undefined) this.kernel.requestInterrupt(k);
  }
}

/** A PCI function's configuration space, byte by byte (what IRP_MN_READ_CONFIG reaches). */
export interface PciConfigSpace {
  /** Bytes in the space (256 for a conventional PCI function). */
  readonly configBytes: number;
  readConfig(offset: number): number;
  /** A write to a read-only byte is ignored, as the hardware ignores it. */
  writeConfig(offset: number, value: number): void;
}

export interface DeviceResources {
  /** Physical base address of the register window. */
  readonly memoryBase: number;
  readonly memoryLength: number;
  readonly mmio: Mmio;
  /**
   * The I/O port range (an I/O BAR) decoding to the same registers as the memory
   * window, or null when the device has none (the I/O space ran out, see World).
   */
  readonly portBase: number | null;
  readonly portLength: number;
  readonly line: InterruptLine;
  /** The device's message-signaled interrupts, or null for a device with its line only. */
  readonly msi: MessageInterrupts | null;
  readonly config: PciConfigSpace;
}
