// Gallery, NET_BUFFERs and MDLs: miniports that build frames of their own (a header
// NET_BUFFER, an MDL over a buffer, a pool of a generic object) and forget one of them
// at halt. See index.ts.

import {
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisAllocateGenericObject,
  NdisAllocateMdl,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateNetBuffer,
  NdisAllocateNetBufferPool,
  NdisFreeMemoryWithTagPriority,
  NdisFreeNetBufferPool,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
} from '../../index.ts';
import { galleryDriver } from './base.ts';
import type { GalleryEntry } from './entry.ts';
import { galleryTag } from './kit.ts';

const removeAt1s = { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] };

export const galleryNbl: readonly GalleryEntry[] = [
  {
    rule: 'NdisAllocateNetBuffer',
    mistake:
      'MiniportInitializeEx builds a NET_BUFFER for its pause frame from a NET_BUFFER pool; MiniportHaltEx frees neither the NET_BUFFER nor the pool.',
    driver: galleryDriver(
      'bad-net-buffer-kept',
      {
        initialize: (a) => {
          const pool = NdisAllocateNetBufferPool(a.handle, {
            Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
            PoolTag: galleryTag,
            DataSize: 0,
          });
          if (pool === null) return NDIS_STATUS_RESOURCES;
          a.state.pauseFrame = NdisAllocateNetBuffer(pool, new Uint8Array(64), 0, 60);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: halts with a NET_BUFFER from NdisAllocateNetBuffer not freed',
    ),
    scenario: removeAt1s,
    followOn: ['NdisSim_ResourceNotFreed'],
  },
  {
    rule: 'NdisAllocateMdl',
    mistake:
      'MiniportInitializeEx describes its transmit header buffer with NdisAllocateMdl; MiniportHaltEx frees the buffer but not the MDL.',
    driver: galleryDriver(
      'bad-mdl-kept',
      {
        initialize: (a) => {
          const header = NdisAllocateMemoryWithTagPriority(a.handle, 128, galleryTag, 16);
          if (header === null) return NDIS_STATUS_RESOURCES;
          a.state.header = header;
          a.state.mdl = NdisAllocateMdl(a.handle, header, 128);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => NdisFreeMemoryWithTagPriority(a.handle, a.state.header as Uint8Array, galleryTag),
      },
      'buggy: halts with an MDL from NdisAllocateMdl not freed',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisAllocateGenericObject',
    mistake:
      'A helper library the miniport shares with a tool has no NDIS handle, so it takes a generic object for its NET_BUFFER pool; MiniportHaltEx frees the pool but never the object.',
    driver: galleryDriver(
      'bad-generic-object-kept',
      {
        initialize: (a) => {
          const object = NdisAllocateGenericObject(null, galleryTag, 0);
          if (object === null) return NDIS_STATUS_RESOURCES;
          a.state.object = object;
          a.state.pool = NdisAllocateNetBufferPool(object, {
            Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
            PoolTag: galleryTag,
            DataSize: 0,
          });
          return a.state.pool === null ? NDIS_STATUS_RESOURCES : NDIS_STATUS_SUCCESS;
        },
        halt: (a) => NdisFreeNetBufferPool(a.state.pool as NDIS_HANDLE),
      },
      'buggy: halts with a generic object from NdisAllocateGenericObject not freed',
    ),
    scenario: removeAt1s,
  },
];
