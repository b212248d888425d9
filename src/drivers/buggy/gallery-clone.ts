// Gallery, clone NBLs (api/clone.ts) and NBL context space (api/nblcontext.ts):
// monitor-lwf passing clones of its receives up, and timing its sends. See index.ts.

import {
  NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS,
  NDIS_STATUS_SUCCESS,
  NdisAllocateCloneNetBufferList,
  NdisAllocateNetBufferListContext,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisFreeCloneNetBufferList,
  NdisFreeNetBufferListContext,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_CONTEXT_DATA_START,
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
  {
    rule: 'NdisSim_NblContext',
    filter: true,
    mistake:
      'FilterSendNetBufferLists stamps each send in 8 bytes of NBL context space to time it; FilterSendNetBufferListsComplete reads the stamps, completes the chain up, and only then frees the space: the protocol gets its NBLs back with the filter’s bytes in front of its own context.',
    driver: variantOfMonitorLwf(
      'lwf-frees-context-late',
      'frees its NBL context after completing the send',
      (c) => {
        let sent = 0;
        c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
          for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
            if (NdisAllocateNetBufferListContext(x, 8, 0, 0x6c746d74) !== NDIS_STATUS_SUCCESS) continue;
            const stamp = NET_BUFFER_LIST_CONTEXT_DATA_START(x);
            new DataView(stamp.buffer, stamp.byteOffset).setUint32(0, ++sent, true);
          }
          NdisFSendNetBufferLists(m.handle, nbls, port, flags);
        };
        c.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
          const done: NET_BUFFER_LIST[] = [];
          for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) done.push(x);
          NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
          for (const x of done) NdisFreeNetBufferListContext(x, 8);
        };
        withStatusPassedOn(c);
      },
    ),
    scenario: { traffic: { rate: 100, frameBytes: 128 } },
    // The protocol frees its NBL as soon as it is back: the late free touches freed memory.
    followOn: ['NdisSim_ObjectFreedInUse'],
  },
];
