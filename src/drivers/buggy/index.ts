// The gallery: for each rule the verifier enforces, a small driver that breaks
// exactly that rule the way a real driver does, and a scenario that runs it
// (examples/gallery/<rule>.yaml).

import type { GalleryEntry } from './entry.ts';
import { galleryA } from './gallery-a.ts';
import { galleryB } from './gallery-b.ts';
import { throwingNic } from './throwing-nic.ts';

export type { GalleryEntry } from './entry.ts';

export const gallery: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_DriverException',
    driver: throwingNic,
    mistake: 'MiniportRestart uses a receive ring that MiniportInitializeEx never allocated.',
  },
  ...galleryA,
  ...galleryB,
];

export function galleryScenario(rule: string): string {
  return `examples/gallery/${rule}.yaml`;
}
