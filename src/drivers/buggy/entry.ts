import type { DriverModule } from '../../ndis/driver.ts';

export interface GalleryEntry {
  /** The rule the driver breaks (a catalogue id). */
  readonly rule: string;
  readonly driver: DriverModule;
  /** The realistic mistake, in a sentence. */
  readonly mistake: string;
}
