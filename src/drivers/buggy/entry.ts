import type { DriverModule } from '../../ndis/driver.ts';

/** What the gallery scenario adds to a plain one-device run (scenario YAML fields). */
export interface GalleryScenario {
  /** Default "3s". */
  readonly until?: string;
  /** Extra fields of the device nic0 (faults, wire, registry). */
  readonly device?: Readonly<Record<string, unknown>>;
  /** Protocol traffic (the protocol is tcpip). */
  readonly traffic?: Readonly<Record<string, unknown>>;
  readonly actions?: readonly Readonly<Record<string, unknown>>[];
  /** NDIS options (ndis: in the scenario). */
  readonly ndis?: Readonly<Record<string, unknown>>;
}

export interface GalleryEntry {
  /** The rule the driver breaks (a catalogue id). */
  readonly rule: string;
  readonly driver: DriverModule;
  /** The realistic mistake, in a sentence. */
  readonly mistake: string;
  readonly scenario?: GalleryScenario;
  /**
   * Rules that follow from the mistake when the run goes on in collect mode (the
   * lock released twice after a recursive acquire, the timer left set that fires
   * after halt). In bugcheck mode the run stops at `rule` before any of them.
   */
  readonly followOn?: readonly string[];
  /**
   * The bug check names no adapter: the driver's code runs where none is involved
   * (a timer of the driver handle after MiniportDriverUnload).
   */
  readonly noAdapter?: boolean;
  /**
   * The adapter the bug check names when it is not nic0: the virtual miniport of an
   * intermediate driver installed over nic0 (its DriverInstance).
   */
  readonly adapter?: string;
  /**
   * `driver` is a filter driver: the scenario installs it over nic0, which runs the
   * healthy-nic miniport (07-protocols-filters.md).
   */
  readonly filter?: boolean;
  /**
   * `driver` is a protocol driver: the scenario binds it (protocolDrivers) to nic0,
   * which runs the healthy-nic miniport.
   */
  readonly protocol?: boolean;
  /**
   * The miniport nic0 runs under a filter or protocol entry instead of healthy-nic, when
   * the mistake needs what healthy-nic does not offer (WoL patterns). A scenario can name
   * it like any built-in driver.
   */
  readonly miniport?: DriverModule;
}
