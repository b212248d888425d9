// Bus-master test drivers: the registration attributes and one scatter/gather DMA
// channel registered in MiniportInitializeEx (test/dma, sglist, shared-memory-async).

import assert from 'node:assert/strict';
import type { Hooks, TestAdapter } from '../../src/drivers/buggy/base.ts';
import {
  type MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER,
  type MINIPORT_PROCESS_SG_LIST_HANDLER,
  type NDIS_HANDLE,
  NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
  NDIS_SG_DMA_DESCRIPTION_REVISION_1,
  NDIS_STATUS_SUCCESS,
  NdisMRegisterScatterGatherDma,
} from '../../src/index.ts';

/** Registration attributes of a bus-master NIC. */
export const busMaster: Hooks['registrationAttributes'] = {
  AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
};

/** The channel `registerChannel` keeps for the adapter. */
export const dma = (a: TestAdapter): NDIS_HANDLE => a.state.dma as NDIS_HANDLE;

/**
 * Registers the adapter's scatter/gather DMA channel (64 KiB mappings, `Flags`) with
 * these handlers, asserting SUCCESS; `dma(a)` is its handle.
 */
export function registerChannel(
  a: TestAdapter,
  Flags: number,
  handlers: {
    process?: MINIPORT_PROCESS_SG_LIST_HANDLER | null;
    complete?: MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER | null;
  },
): void {
  const r = NdisMRegisterScatterGatherDma(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, Revision: NDIS_SG_DMA_DESCRIPTION_REVISION_1 },
    Flags,
    MaximumPhysicalMapping: 64 * 1024,
    ProcessSGListHandler: handlers.process === undefined ? () => {} : handlers.process,
    SharedMemAllocateCompleteHandler: handlers.complete ?? null,
    ScatterGatherListSize: 0,
  });
  assert.equal(r.Status, NDIS_STATUS_SUCCESS);
  a.state.dma = r.NdisMiniportDmaHandle;
}
