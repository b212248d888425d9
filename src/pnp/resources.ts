// Hardware resources PnP assigns to a device: a register window and an interrupt
// line. Devices (src/hw) implement them; NDIS maps and connects them for a driver.

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
  constructor(
    readonly kernel: Kernel,
    readonly vector: number,
  ) {}

  connect(k: KInterrupt): void {
    this.connected.push(k);
  }

  disconnect(k: KInterrupt): void {
    const i = this.connected.indexOf(k);
    if (i >= 0) this.connected.splice(i, 1);
    this.kernel.disconnectInterrupt(k);
  }

  /** The device signals an interrupt. */
  assert(): void {
    for (const k of this.connected) this.kernel.requestInterrupt(k);
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
  readonly config: PciConfigSpace;
}
