// Gallery drivers, part B. See index.ts.

import type { GalleryEntry } from './entry.ts';

export const galleryB: readonly GalleryEntry[] = [];
