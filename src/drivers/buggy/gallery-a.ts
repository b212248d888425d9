// Gallery drivers, part A. See index.ts.

import type { GalleryEntry } from './entry.ts';

export const galleryA: readonly GalleryEntry[] = [];
