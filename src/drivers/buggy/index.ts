// The gallery: for each rule the verifier enforces, a small driver that breaks
// exactly that rule the way a real driver does, and a scenario that runs it
// (examples/gallery/<rule>.yaml).

import type { DriverModule } from '../../ndis/driver.ts';
import { throwingNic } from './throwing-nic.ts';

export interface GalleryEntry {
  /** The rule the driver breaks (a catalogue id). */
  readonly rule: string;
  readonly driver: DriverModule;
  /** The realistic mistake, in a sentence. */
  readonly mistake: string;
}

export const gallery: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_DriverException',
    driver: throwingNic,
    mistake: 'MiniportRestart uses a receive ring that MiniportInitializeEx never allocated.',
  },
];

export function galleryScenario(rule: string): string {
  return `examples/gallery/${rule}.yaml`;
}
