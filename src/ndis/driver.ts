// NDIS's record of a registered miniport driver (what NdisMRegisterMiniportDriver
// creates): its copied characteristics and a count of its adapters.

import type { NdisIoWorkItem, NdisTimerObject } from './objects.ts';
import type { ProtocolDriverBlock } from './protocol-driver.ts';
import type {
  DRIVER_OBJECT,
  NDIS_HANDLE,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_MINIPORT_PNP_CHARACTERISTICS,
  NDIS_MINIPORT_SS_CHARACTERISTICS,
} from './types.ts';

/**
 * A miniport driver as a world loads it. `load` is called once per machine, like
 * loading a driver image: the driver's global variables live in what it returns,
 * because one process runs many machines (the explorer).
 */
export interface DriverModule {
  readonly name: string;
  /** One line for listings. */
  readonly description?: string;
  /**
   * The I/O control codes the driver's control device understands, by name
   * (`{ IOCTL_EVENTQ_WAIT: 0x00222000 }`): a scenario's `ioctl` may name them
   * (`code: IOCTL_EVENTQ_WAIT`), and the timeline shows the name.
   */
  readonly ioControlCodes?: Readonly<Record<string, number>>;
  load(): DriverImage;
}

export interface DriverImage {
  DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: string): number;
}

export class MiniportDriverBlock implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_MINIPORT_DRIVER';
  /** FDOs of this driver that exist (AddDevice ran, REMOVE_DEVICE not yet): R2.16 unloads at 0. */
  adapterCount = 0;
  deregistered = false;
  unloaded = false;
  /**
   * I/O work items of the driver (of its adapters or of its driver handle) whose routine
   * is running (blocked in a wait) now: each holds a reference on the device object, so
   * MiniportDriverUnload waits for them (`unloadWaits`).
   */
  ioWorkRunning = 0;
  unloadWaits = false;
  /**
   * Timer objects and work items allocated with the driver handle and not freed (R8.8);
   * null until the first, as most drivers allocate none.
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
  /**
   * The PnP handlers NdisSetOptionalHandlers registered in MiniportSetOptions (a copy);
   * null for a driver that registered none, and then every PnP step costs one check.
   */
  pnp: NDIS_MINIPORT_PNP_CHARACTERISTICS | null = null;
  /** The selective suspend handlers NdisSetOptionalHandlers registered (a copy); null for most drivers. */
  ss: NDIS_MINIPORT_SS_CHARACTERISTICS | null = null;
  /** MiniportSetOptions is running: the one place a miniport calls NdisSetOptionalHandlers. */
  inSetOptions = false;
  /**
   * Registered with NDIS_INTERMEDIATE_DRIVER in Flags: its adapters are virtual
   * miniports that NdisIMInitializeDeviceInstanceEx brings up (docs/model.md, IM drivers).
   */
  intermediate = false;
  /** The protocol edge NdisIMAssociateMiniport tied to this miniport edge; null until then. */
  imProtocol: ProtocolDriverBlock | null = null;
  /** Its DriverEntry returned without NdisIMAssociateMiniport, reported then (R5.23). */
  imUnassociatedReported = false;
  constructor(
    readonly name: string,
    readonly driverObject: DRIVER_OBJECT,
    /** A copy: entry points are fixed at registration (R2.1). */
    readonly chars: Readonly<NDIS_MINIPORT_DRIVER_CHARACTERISTICS>,
    readonly context: unknown,
  ) {}

  get ndisVersion(): number {
    return this.chars.MajorNdisVersion * 100 + this.chars.MinorNdisVersion;
  }
}
