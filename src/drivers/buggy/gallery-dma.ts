// Gallery, DMA: bus-master miniports and their shared memory. Each driver is the
// scriptable SimNic miniport, declared a bus master, with one realistic mistake in how
// it registers its DMA channel or takes and gives back its descriptor ring. See index.ts.

import {
  type MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER,
  type MINIPORT_PROCESS_SG_LIST_HANDLER,
  NDIS_ERROR_CODE_OUT_OF_RESOURCES,
  type NDIS_HANDLE,
  NDIS_LOWER_IRQL,
  NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SG_DMA_64_BIT_ADDRESS,
  NDIS_SG_DMA_DESCRIPTION_REVISION_1,
  NDIS_SG_LIST_WRITE_TO_DEVICE,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisMAllocateNetBufferSGList,
  NdisMAllocateSharedMemory,
  NdisMAllocateSharedMemoryAsyncEx,
  NdisMDeregisterScatterGatherDma,
  NdisMFreeNetBufferSGList,
  NdisMFreeSharedMemory,
  NdisMRegisterScatterGatherDma,
  NdisMSendNetBufferListsComplete,
  NdisReleaseSpinLock,
  NdisWriteErrorLogEntry,
  type NET_BUFFER_LIST,
} from '../../index.ts';
import { after, galleryDriver, type Hooks, type TestAdapter } from './base.ts';
import type { GalleryEntry } from './entry.ts';
import { adapterLock, allocateAdapterLock } from './kit.ts';

const removeAt1s = { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] };

/** The descriptor ring: 256 descriptors of 16 bytes. */
const ringBytes = 4096;

interface Ring {
  va: Uint8Array;
  pa: number;
}

const busMaster: Hooks['registrationAttributes'] = {
  AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
};

function registerDma(
  a: TestAdapter,
  process: MINIPORT_PROCESS_SG_LIST_HANDLER = () => {},
  grown: MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER | null = null,
): NDIS_HANDLE | null {
  const r = NdisMRegisterScatterGatherDma(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, Revision: NDIS_SG_DMA_DESCRIPTION_REVISION_1 },
    Flags: NDIS_SG_DMA_64_BIT_ADDRESS,
    MaximumPhysicalMapping: 64 * 1024,
    ProcessSGListHandler: process,
    SharedMemAllocateCompleteHandler: grown,
    ScatterGatherListSize: 0,
  });
  a.state.dma = r.NdisMiniportDmaHandle;
  return r.NdisMiniportDmaHandle;
}

function allocateRing(a: TestAdapter, bytes = ringBytes): Ring | null {
  const m = NdisMAllocateSharedMemory(a.handle, bytes, true);
  if (m.VirtualAddress === null) return null;
  const ring = { va: m.VirtualAddress, pa: m.PhysicalAddress };
  a.state.ring = ring;
  return ring;
}

function freeRing(a: TestAdapter, bytes = ringBytes): void {
  const ring = a.state.ring as Ring | undefined;
  if (ring !== undefined) NdisMFreeSharedMemory(a.handle, bytes, true, ring.va, ring.pa);
}

/** Registers the channel and takes the ring in init; gives both back in halt. */
const goodDma: Hooks = {
  registrationAttributes: busMaster,
  initialize: (a) => {
    if (registerDma(a) === null) return NDIS_STATUS_RESOURCES;
    allocateRing(a);
    return NDIS_STATUS_SUCCESS;
  },
  halt: (a) => {
    freeRing(a);
    NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE);
  },
};

/**
 * A bus-master send path: MiniportSendNetBufferLists raises to DISPATCH and asks for a
 * scatter/gather list per NBL (one NET_BUFFER each, the NBL as Context);
 * MiniportProcessSGList "transmits" it at once and calls `sent`, which gives the list
 * back and completes the NBL (or, in the buggy drivers, gets that wrong).
 */
function sgSend(
  sent: (a: TestAdapter, list: Parameters<MINIPORT_PROCESS_SG_LIST_HANDLER>[2], nbl: NET_BUFFER_LIST) => void,
): Hooks {
  return {
    registrationAttributes: busMaster,
    initialize: (a) =>
      registerDma(a, (_pDO, _Reserved, list, nbl) => sent(a, list, nbl as NET_BUFFER_LIST)) === null
        ? NDIS_STATUS_RESOURCES
        : NDIS_STATUS_SUCCESS,
    send: (a, chain) => {
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      for (let nbl: NET_BUFFER_LIST | null = chain; nbl !== null; ) {
        const next: NET_BUFFER_LIST | null = nbl.Next;
        nbl.Next = null;
        NdisMAllocateNetBufferSGList(
          a.state.dma as NDIS_HANDLE,
          nbl.FirstNetBuffer!,
          nbl,
          NDIS_SG_LIST_WRITE_TO_DEVICE,
          null,
          0,
        );
        nbl = next;
      }
      NDIS_LOWER_IRQL(old, 2);
    },
    halt: (a) => NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE),
  };
}

function completeSend(a: TestAdapter, nbl: NET_BUFFER_LIST): void {
  nbl.Status = NDIS_STATUS_SUCCESS;
  NdisMSendNetBufferListsComplete(a.handle, nbl, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
}

/** Receive buffers the driver added at run time (NdisMAllocateSharedMemoryAsyncEx). */
const rxBlockBytes = 16 * 1024;

/**
 * A receive area that grows at run time: MiniportSharedMemoryAllocateComplete keeps each
 * block it gets; `refill` asks for one more when the driver counts fewer than `low`
 * buffers, as the receive path does when it hands buffers up or takes them back.
 */
function growingRx(low: number): {
  grown: MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER;
  refill: (a: TestAdapter, free: number) => void;
  freeBlocks: (a: TestAdapter) => void;
} {
  return {
    grown: (ctx, va, pa) => {
      const a = ctx as TestAdapter;
      if (va === null) return;
      a.state.rxBlocks ??= [];
      (a.state.rxBlocks as Ring[]).push({ va, pa: pa! });
    },
    refill: (a, free) => {
      if (free < low) NdisMAllocateSharedMemoryAsyncEx(a.state.dma as NDIS_HANDLE, rxBlockBytes, true, null);
    },
    freeBlocks: (a) => {
      for (const b of (a.state.rxBlocks ?? []) as Ring[])
        NdisMFreeSharedMemory(a.handle, rxBlockBytes, true, b.va, b.pa);
      a.state.rxBlocks = [];
    },
  };
}

const sendsThenRemoved = { traffic: { rate: 200, frameBytes: 256 }, ...removeAt1s };

export const galleryDma: GalleryEntry[] = [
  {
    rule: 'NdisSim_SgListFreedTwice',
    mistake:
      'The send-complete path frees the scatter/gather list of a send, and the TX ring cleanup after it frees the same list again.',
    driver: galleryDriver(
      'bad-dma-sg-double-free',
      sgSend((a, list, nbl) => {
        const dma = a.state.dma as NDIS_HANDLE;
        NdisMFreeNetBufferSGList(dma, list, nbl.FirstNetBuffer!);
        completeSend(a, nbl);
        NdisMFreeNetBufferSGList(dma, list, nbl.FirstNetBuffer!);
      }),
      'buggy: frees a scatter/gather list twice',
    ),
    scenario: sendsThenRemoved,
  },
  {
    rule: 'NdisSim_SendNblUsedAfterCompletion',
    mistake:
      'The TX-done path completes each send first and then frees its scatter/gather list with the NET_BUFFER of the NBL it has just given back.',
    driver: galleryDriver(
      'bad-dma-sg-freed-after-complete',
      sgSend((a, list, nbl) => {
        completeSend(a, nbl);
        NdisMFreeNetBufferSGList(a.state.dma as NDIS_HANDLE, list, nbl.FirstNetBuffer!);
      }),
      "buggy: frees a send's scatter/gather list after completing the send",
    ),
    scenario: sendsThenRemoved,
  },
  {
    rule: 'NdisSim_SgListsOutstanding',
    mistake:
      'Sends are completed without NdisMFreeNetBufferSGList, so MiniportHaltEx deregisters the DMA channel with their lists still out.',
    driver: galleryDriver(
      'bad-dma-sg-lists-kept',
      sgSend((a, _list, nbl) => completeSend(a, nbl)),
      'buggy: never frees its scatter/gather lists',
    ),
    scenario: sendsThenRemoved,
  },
  {
    rule: 'Init_RegisterSG',
    mistake:
      'MiniportHaltEx frees the descriptor ring but forgets NdisMDeregisterScatterGatherDma for the channel MiniportInitializeEx registered.',
    driver: galleryDriver(
      'bad-dma-left-registered',
      { ...goodDma, halt: (a) => freeRing(a) },
      'buggy: leaves its DMA channel registered at halt',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'Irql_Gather_DMA_Function',
    mistake:
      'MiniportInitializeEx registers its scatter/gather DMA channel while holding the adapter spin lock (at DISPATCH_LEVEL).',
    driver: galleryDriver(
      'bad-dma-register-locked',
      {
        registrationAttributes: busMaster,
        initialize: (a) => {
          allocateAdapterLock(a);
          NdisAcquireSpinLock(adapterLock(a));
          registerDma(a);
          NdisReleaseSpinLock(adapterLock(a));
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE),
      },
      'buggy: registers DMA under a spin lock',
    ),
  },
  {
    rule: 'NdisMFreeSharedMemory',
    mistake: 'MiniportShutdownEx frees the descriptor ring after stopping the NIC.',
    driver: galleryDriver(
      'bad-dma-free-in-shutdown',
      { ...goodDma, shutdown: (a) => freeRing(a) },
      'buggy: frees shared memory in MiniportShutdownEx',
    ),
    scenario: { actions: [{ at: '1s', do: 'shutdown' }] },
  },
  {
    rule: 'WriteErrorLog',
    mistake:
      'MiniportInitializeEx asks for a 128 MiB receive area, gets NULL, and fails initialization without an NdisWriteErrorLogEntry saying why.',
    driver: galleryDriver(
      'bad-dma-silent-alloc-failure',
      {
        registrationAttributes: busMaster,
        initialize: (a) => {
          registerDma(a);
          if (allocateRing(a, 128 * 1024 * 1024) === null) {
            NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE);
            return NDIS_STATUS_RESOURCES;
          }
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: fails init on a shared-memory failure without logging it',
    ),
  },
  {
    rule: 'NdisSim_DmaOutsideInitHalt',
    mistake: 'MiniportRestart allocates the descriptor ring, which belongs in MiniportInitializeEx.',
    driver: galleryDriver(
      'bad-dma-ring-in-restart',
      {
        ...goodDma,
        initialize: (a) => (registerDma(a) === null ? NDIS_STATUS_RESOURCES : NDIS_STATUS_SUCCESS),
        restart: (a) => {
          allocateRing(a);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: allocates shared memory in MiniportRestart',
    ),
  },
  {
    rule: 'NdisSim_SharedMemoryWithoutDma',
    mistake:
      'MiniportInitializeEx allocates the descriptor ring before registering its DMA channel, gets NULL, logs it and fails.',
    driver: galleryDriver(
      'bad-dma-ring-before-channel',
      {
        registrationAttributes: busMaster,
        initialize: (a) => {
          if (allocateRing(a) === null) {
            NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_OUT_OF_RESOURCES, 0);
            return NDIS_STATUS_RESOURCES;
          }
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: allocates shared memory before NdisMRegisterScatterGatherDma',
    ),
  },
  {
    rule: 'NdisSim_SharedMemoryHighIrql',
    mistake:
      'A timer (DISPATCH_LEVEL) grows the receive area with NdisMAllocateSharedMemory, which only runs at PASSIVE_LEVEL.',
    driver: galleryDriver(
      'bad-dma-alloc-in-timer',
      {
        ...goodDma,
        initialize: (a) => {
          const s = goodDma.initialize!(a, undefined as never);
          after(a, 500, () => NdisMAllocateSharedMemory(a.handle, ringBytes, true));
          return s;
        },
      },
      'buggy: allocates shared memory at DISPATCH_LEVEL',
    ),
  },
  {
    rule: 'NdisSim_SharedMemoryFreeInvalid',
    mistake:
      'MiniportHaltEx frees the descriptor ring in its receive cleanup and again in its adapter cleanup.',
    driver: galleryDriver(
      'bad-dma-double-free',
      {
        ...goodDma,
        halt: (a) => {
          freeRing(a);
          freeRing(a);
          NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE);
        },
      },
      'buggy: frees shared memory twice',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_SharedMemoryFreeMismatch',
    mistake:
      'MiniportInitializeEx allocates 6,000 bytes of shared memory; MiniportHaltEx frees it with the length rounded up to two pages.',
    driver: galleryDriver(
      'bad-dma-free-wrong-length',
      {
        ...goodDma,
        initialize: (a) => {
          if (registerDma(a) === null) return NDIS_STATUS_RESOURCES;
          allocateRing(a, 6000);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          freeRing(a, 8192);
          NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE);
        },
      },
      'buggy: frees shared memory with another length',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_SharedMemoryAllocationPending',
    mistake:
      "MiniportHaltEx takes the receive buffers back through the receive path's return routine, which finds the ring below its low-water mark and asks for another block with NdisMAllocateSharedMemoryAsyncEx; the halt then frees the blocks it has and deregisters the DMA channel without waiting for that allocation.",
    driver: (() => {
      const rx = growingRx(4);
      return galleryDriver(
        'bad-dma-async-alloc-at-halt',
        {
          registrationAttributes: busMaster,
          initialize: (a) => {
            if (registerDma(a, () => {}, rx.grown) === null) return NDIS_STATUS_RESOURCES;
            allocateRing(a);
            // Traffic drains the ring at run time: the refill grows the receive area.
            after(a, 100, () => rx.refill(a, 2));
            return NDIS_STATUS_SUCCESS;
          },
          halt: (a) => {
            // Returning the buffers counts the ring from empty: the refill fires.
            rx.refill(a, 0);
            rx.freeBlocks(a);
            freeRing(a);
            NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE);
          },
        },
        'buggy: halts with an asynchronous shared-memory allocation pending',
      );
    })(),
    scenario: removeAt1s,
  },
];
