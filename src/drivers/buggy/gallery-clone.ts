// Gallery, clone NBLs (api/clone.ts): monitor-lwf passing clones of its receives up.
// See index.ts.

import {
  NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS,
  NdisAllocateCloneNetBufferList,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisFreeCloneNetBufferList,
  type NET_BUFFER_LIST,
} from '../../index.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../lwf.ts';
import type { GalleryEntry } from './entry.ts';

export const galleryClone: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_CloneOutlivesParent',
    filter: true,
    mistake:
      'FilterReceiveNetBufferLists indicates a clone of each receive up and returns the original to the miniport at once, as a pass-through would; the clone still describes the original’s buffer, which the miniport fills again.',
    driver: variantOfMonitorLwf(
      'lwf-returns-parent-early',
      'returns an original while its clone is up',
      (c) => {
        c.ReceiveNetBufferListsHandler = (m, nbls, port, _count, flags) => {
          for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
            const next: NET_BUFFER_LIST | null = x.Next;
            x.Next = null;
            const clone = NdisAllocateCloneNetBufferList(x, null, null, NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS);
            if (clone === null) NdisFReturnNetBufferLists(m.handle, x, 0);
            else {
              clone.ParentNetBufferList = x;
              clone.SourceHandle = m.handle;
              NdisFIndicateReceiveNetBufferLists(m.handle, clone, port, 1, flags);
              NdisFReturnNetBufferLists(m.handle, x, 0);
            }
            x = next;
          }
        };
        c.ReturnNetBufferListsHandler = (m, nbls, flags) => {
          for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
            const next: NET_BUFFER_LIST | null = x.Next;
            x.Next = null;
            if (x.ParentNetBufferList === null) NdisFReturnNetBufferLists(m.handle, x, flags);
            else NdisFreeCloneNetBufferList(x, NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS);
            x = next;
          }
        };
        withStatusPassedOn(c);
      },
    ),
    scenario: {
      until: '300ms',
      device: { wire: { rxRate: 1000, frameBytes: 100 } },
      traffic: { rate: 1, returnDelay: '1ms' },
    },
  },
];
