// Bus-master DMA: NdisMRegisterScatterGatherDma, NdisMDeregisterScatterGatherDma,
// NdisMAllocateSharedMemory, NdisMAllocateSharedMemoryAsyncEx, NdisMFreeSharedMemory,
// NdisMAllocateNetBufferSGList, NdisMFreeNetBufferSGList, NdisMGetDmaAlignment.
//
// A bus-master miniport declares NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER in its registration
// attributes, registers one scatter/gather DMA channel in MiniportInitializeEx, takes the
// shared memory its rings live in, and gives all of it back in MiniportHaltEx (or before
// a failing MiniportInitializeEx returns). The model hands out shared memory as a
// Uint8Array with a physical address from the machine's physical address map: below
// 4 GiB for a NIC that addresses 32 bits, from 4 GiB up for one that set
// NDIS_SG_DMA_64_BIT_ADDRESS. The SimNic does not DMA, so the addresses only have to be
// right, distinct and deterministic.
//
// On the send path the miniport asks for a scatter/gather list per NET_BUFFER
// (NdisMAllocateNetBufferSGList); NDIS hands it to the driver's MiniportProcessSGList,
// inside the call or later from a DPC (a choice, ChoiceSite.ProcessSGList), and the driver
// gives it back with NdisMFreeNetBufferSGList. The list's pages come from the same
// physical address map, one element per page the data touches.
//
// At run time (at most DISPATCH) a driver that runs low on receive buffers asks for more
// shared memory with NdisMAllocateSharedMemoryAsyncEx, which returns PENDING; NDIS
// allocates the block later from a worker thread and hands it (or NULLs) to the driver's
// MiniportSharedMemoryAllocateComplete at PASSIVE, at once or after holding the request
// a while (a choice, ChoiceSite.SharedMemoryAllocateComplete). The block is freed with
// NdisMFreeSharedMemory like any other. An allocation still pending when its channel is
// deregistered, or when MiniportHaltEx returns, is reported and dropped: NDIS never calls
// the completion into a halted adapter.

import {
  Dpc,
  type DpcRoutine,
  Irql,
  KTimer,
  notRunning,
  type TimerRoutine,
  WorkItem,
  type WorkRoutine,
} from '../../kernel/kernel.ts';
import { fmtTime } from '../../report/format.ts';
import { ChoiceSite } from '../../sim/choice.ts';
import type { MiniportBlock } from '../block.ts';
import { flagNames } from '../datapath.ts';
import { type DdiIrql, ddiIrql } from '../generated/irql.ts';
import {
  NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
  NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
  NDIS_SG_DMA_64_BIT_ADDRESS,
  NDIS_SG_DMA_DESCRIPTION_REVISION_1,
  NDIS_SG_DMA_DESCRIPTION_REVISION_2,
  NDIS_SG_DMA_FLAG_NAMES,
  NDIS_SG_LIST_WRITE_TO_DEVICE,
  NDIS_STATUS_BAD_VERSION,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
} from '../generated/status.ts';
import type { NblImpl, NET_BUFFER } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import type { DEVICE_OBJECT, NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_STATUS, ULONG } from '../types.ts';
import { adapterHandle, claimsHardware, currentNdis, passiveOutsideInitHalt, stale } from './common.ts';
import { maxPoolBytes } from './kernel.ts';
import { netBuffer } from './nblapi.ts';

const irql = {
  NdisMRegisterScatterGatherDma: ddiIrql.NdisMRegisterScatterGatherDma!,
  NdisMDeregisterScatterGatherDma: ddiIrql.NdisMDeregisterScatterGatherDma!,
  NdisMAllocateSharedMemory: ddiIrql.NdisMAllocateSharedMemory!,
  NdisMAllocateSharedMemoryAsyncEx: ddiIrql.NdisMAllocateSharedMemoryAsyncEx!,
  MiniportSharedMemoryAllocateComplete: ddiIrql.MiniportSharedMemoryAllocateComplete!,
  NdisMFreeSharedMemory: ddiIrql.NdisMFreeSharedMemory!,
  NdisMAllocateNetBufferSGList: ddiIrql.NdisMAllocateNetBufferSGList!,
  NdisMFreeNetBufferSGList: ddiIrql.NdisMFreeNetBufferSGList!,
  NdisMGetDmaAlignment: ddiIrql.NdisMGetDmaAlignment!,
};

/** SCATTER_GATHER_ELEMENT (wdm.h): one physically contiguous piece of a buffer. */
export interface SCATTER_GATHER_ELEMENT {
  /** PHYSICAL_ADDRESS of the piece's first byte. */
  readonly Address: number;
  readonly Length: ULONG;
  readonly Reserved: number;
}

/** SCATTER_GATHER_LIST (wdm.h): the pieces of a buffer, in order. */
export interface SCATTER_GATHER_LIST {
  readonly NumberOfElements: ULONG;
  readonly Reserved: number;
  readonly Elements: readonly SCATTER_GATHER_ELEMENT[];
}

/**
 * MiniportProcessSGList(pDO, Reserved, pSGL, Context). NDIS calls it at DISPATCH_LEVEL
 * with the list NdisMAllocateNetBufferSGList asked for and that call's Context, inside
 * the call or after it returned. pDO and Reserved, which drivers ignore, are null.
 * C is the type of the Contexts the driver passes to NdisMAllocateNetBufferSGList
 * (NDIS hands each back unchanged), so the handler needs no cast; left out, unknown.
 */
export type MINIPORT_PROCESS_SG_LIST_HANDLER<C = unknown> = (
  pDO: DEVICE_OBJECT | null,
  Reserved: null,
  pSGL: SCATTER_GATHER_LIST,
  Context: C,
) => void;
/**
 * MiniportSharedMemoryAllocateComplete(MiniportAdapterContext, VirtualAddress,
 * PhysicalAddress, Length, Context). NDIS calls it at PASSIVE_LEVEL, after
 * NdisMAllocateSharedMemoryAsyncEx returned NDIS_STATUS_PENDING, with the block and
 * that call's Context. PhysicalAddress is the address the NIC uses (the value the
 * PNDIS_PHYSICAL_ADDRESS points to). When the allocation failed VirtualAddress and
 * PhysicalAddress are both null (the NULL pointers of the page). Length is the Length
 * asked for. Optional: null for a driver that never calls NdisMAllocateSharedMemoryAsyncEx.
 */
export type MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER = (
  MiniportAdapterContext: unknown,
  VirtualAddress: Uint8Array | null,
  PhysicalAddress: number | null,
  Length: ULONG,
  Context: unknown,
) => void;

/**
 * NDIS_SG_DMA_DESCRIPTION: in and out. NDIS fills ScatterGatherListSize on success.
 * C types the Context of ProcessSGListHandler (MINIPORT_PROCESS_SG_LIST_HANDLER).
 */
export interface NDIS_SG_DMA_DESCRIPTION<C = unknown> {
  /** Type NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, Revision NDIS_SG_DMA_DESCRIPTION_REVISION_1 (or _2). */
  Header: NDIS_OBJECT_HEADER;
  /** NDIS_SG_DMA_64_BIT_ADDRESS when the NIC addresses 64 bits; 0 for 32. */
  Flags: ULONG;
  /** The most bytes the NIC moves in one DMA operation. */
  MaximumPhysicalMapping: ULONG;
  ProcessSGListHandler: MINIPORT_PROCESS_SG_LIST_HANDLER<C> | null;
  SharedMemAllocateCompleteHandler: MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER | null;
  /** Out: bytes a scatter/gather list of up to MaximumPhysicalMapping bytes needs. */
  ScatterGatherListSize: ULONG;
}

/**
 * The NdisMiniportDmaHandle of a channel whose MiniportProcessSGList takes a C. Kept as
 * this type, the handle makes NdisMAllocateNetBufferSGList check its Context against
 * the handler's; kept as a plain NDIS_HANDLE, the Context is not checked (as
 * NdisSetTimerObject's FunctionContext is not).
 */
export interface NDIS_SG_DMA_HANDLE<C = unknown> extends NDIS_HANDLE {
  /** Never set: carries C for the type checker only (in and out, so C is exact). */
  readonly __sgListContext?: (Context: C) => C;
}

/** The NdisMiniportDmaHandle NdisMRegisterScatterGatherDma returns. */
class NdisMiniportDma implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_SG_DMA';
  deregistered = false;
  /** Scatter/gather lists built and not freed, waiting for MiniportProcessSGList or not; made on first use. */
  lists: Set<SgList> | null = null;
  /** Lists built and lists freed, for Driver Verifier's 0xE6/0x06 parameters. */
  built = 0;
  freed = 0;
  /** NdisMAllocateSharedMemoryAsyncEx calls whose completion has not run; made on first use. */
  pending: Set<AsyncAllocation> | null = null;
  constructor(
    readonly block: MiniportBlock,
    /** The NIC addresses 64 bits (NDIS_SG_DMA_64_BIT_ADDRESS). */
    readonly wide: boolean,
    readonly description: Readonly<NDIS_SG_DMA_DESCRIPTION>,
  ) {}
}

/** One block of shared memory: what NdisMFreeSharedMemory must be given back. */
interface SharedMemory {
  readonly VirtualAddress: Uint8Array;
  readonly PhysicalAddress: number;
  readonly Length: number;
  readonly Cached: boolean;
  /** Bytes taken from the physical address map (Length rounded up to pages). */
  readonly span: number;
}

/** An adapter's DMA state, made on its first DMA call (MiniportBlock.dma). */
export interface AdapterDma {
  /** The registered channel, null when none is (or it was deregistered). */
  handle: NdisMiniportDma | null;
  /** Shared memory not freed yet, in allocation order. */
  readonly shared: SharedMemory[];
  /**
   * WriteErrorLog: the length of the event log when NdisMAllocateSharedMemory failed
   * inside this MiniportInitializeEx, or -1. The driver should log an entry after it.
   */
  failedAt: number;
}

function dmaOf(b: MiniportBlock): AdapterDma {
  b.dma ??= { handle: null, shared: [], failedAt: -1 };
  return b.dma;
}

// ------------------------------------------------------ physical address map

const pageBytes = 4096;
/** Host RAM the model hands out below 4 GiB (the SimNics' registers sit at 0xF0000000). */
const lowStart = 0x1000_0000;
const lowEnd = 0xf000_0000;
/** From 4 GiB up, for NICs that address 64 bits: 1 TiB. */
const highStart = 0x1_0000_0000;
const highEnd = 0x101_0000_0000;

/**
 * Free physical ranges, first fit, page granular. Freed ranges merge with their
 * neighbours, so a driver that frees everything at halt finds the same addresses at its
 * next initialization. Deterministic: the addresses depend only on the order of the
 * calls, which the world's schedule fixes.
 */
class PhysicalRegion {
  /** Sorted, disjoint [start, end) pairs, flattened. */
  private readonly free: number[];
  constructor(start: number, end: number) {
    this.free = [start, end];
  }

  /** The start of `span` free bytes, taken; -1 when no free range is that large. */
  take(span: number): number {
    const f = this.free;
    for (let i = 0; i < f.length; i += 2) {
      const start = f[i]!;
      if (f[i + 1]! - start < span) continue;
      if (f[i + 1] === start + span) f.splice(i, 2);
      else f[i] = start + span;
      return start;
    }
    return -1;
  }

  give(start: number, span: number): void {
    const f = this.free;
    const end = start + span;
    let i = 0;
    while (i < f.length && f[i]! < start) i += 2;
    const joinsPrev = i > 0 && f[i - 1] === start;
    const joinsNext = i < f.length && f[i] === end;
    if (joinsPrev && joinsNext) {
      f[i - 1] = f[i + 1]!;
      f.splice(i, 2);
    } else if (joinsPrev) f[i - 1] = end;
    else if (joinsNext) f[i] = start;
    else f.splice(i, 0, start, end);
  }
}

/** The machine's physical address map for shared memory, made on first use. */
export class PhysicalMemory {
  readonly low = new PhysicalRegion(lowStart, lowEnd);
  readonly high = new PhysicalRegion(highStart, highEnd);
}

function regionFor(n: Ndis, wide: boolean): PhysicalRegion {
  n.physicalMemory ??= new PhysicalMemory();
  return wide ? n.physicalMemory.high : n.physicalMemory.low;
}

/** An address for messages and the trace; whatever a driver passed, never a TypeError. */
function hex(x: unknown): string {
  return typeof x === 'number' ? `0x${x.toString(16).toUpperCase()}` : String(x);
}

// ------------------------------------------------------------ registration

/**
 * A scatter/gather list for a buffer of `bytes`: SCATTER_GATHER_LIST on x64 is a ULONG
 * count and a ULONG_PTR (16 bytes), then one SCATTER_GATHER_ELEMENT (an 8-byte address,
 * a ULONG length, a ULONG_PTR: 24 bytes) per page the buffer touches, which is one more
 * than its length in pages when it does not start on a page boundary.
 */
function sgListBytes(bytes: number): number {
  return 16 + 24 * (Math.ceil(bytes / pageBytes) + 1);
}

/**
 * NDIS_STATUS NdisMRegisterScatterGatherDma(MiniportAdapterHandle, DmaDescription,
 * *NdisMiniportDmaHandle). PASSIVE, from MiniportInitializeEx. NOT_SUPPORTED unless the
 * registration attributes declared NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER; BAD_VERSION for
 * a Revision other than 1 or 2; RESOURCES when the adapter already has a channel
 * registered (NDIS keeps one per adapter). On success DmaDescription.ScatterGatherListSize
 * is filled in.
 */
export function NdisMRegisterScatterGatherDma<C = unknown>(
  MiniportAdapterHandle: NDIS_HANDLE,
  DmaDescription: NDIS_SG_DMA_DESCRIPTION<C>,
): { Status: NDIS_STATUS; NdisMiniportDmaHandle: NDIS_SG_DMA_HANDLE<C> | null } {
  const ddi = 'NdisMRegisterScatterGatherDma';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMRegisterScatterGatherDma, ddi, b.name);
  if (stale(b, ddi)) return { Status: NDIS_STATUS_FAILURE, NdisMiniportDmaHandle: null };
  if (
    typeof DmaDescription !== 'object' ||
    DmaDescription === null ||
    DmaDescription.Header?.Type !== NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION
  ) {
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: DmaDescription is not an NDIS_SG_DMA_DESCRIPTION (Header.Type must be NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION)`,
    );
  }
  outsideInit(n, b, ddi);
  if (b.inInitialize) claimsHardware(b, ddi);
  const d = dmaOf(b);
  const rev = DmaDescription.Header.Revision;
  let Status: NDIS_STATUS;
  let handle: NdisMiniportDma | null = null;
  if (rev !== NDIS_SG_DMA_DESCRIPTION_REVISION_1 && rev !== NDIS_SG_DMA_DESCRIPTION_REVISION_2) {
    Status = NDIS_STATUS_BAD_VERSION;
  } else if (((b.registration?.AttributeFlags ?? 0) & NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER) === 0) {
    Status = NDIS_STATUS_NOT_SUPPORTED;
  } else if (d.handle !== null) {
    Status = NDIS_STATUS_RESOURCES;
  } else {
    const wide = (DmaDescription.Flags & NDIS_SG_DMA_64_BIT_ADDRESS) !== 0;
    DmaDescription.ScatterGatherListSize = sgListBytes(DmaDescription.MaximumPhysicalMapping >>> 0);
    // NDIS keeps the handler as it keeps any callback: the C is the driver's own promise.
    handle = new NdisMiniportDma(b, wide, { ...(DmaDescription as NDIS_SG_DMA_DESCRIPTION) });
    d.handle = handle;
    Status = NDIS_STATUS_SUCCESS;
  }
  if (n.trace.on)
    n.traceDdi(ddi, b, {
      Flags: flagNames(DmaDescription.Flags >>> 0, NDIS_SG_DMA_FLAG_NAMES),
      MaximumPhysicalMapping: DmaDescription.MaximumPhysicalMapping,
      result: Status,
    });
  return { Status, NdisMiniportDmaHandle: handle };
}

/**
 * VOID NdisMDeregisterScatterGatherDma(NdisMiniportDmaHandle). PASSIVE, from
 * MiniportHaltEx, or from MiniportInitializeEx when it fails after registering.
 */
export function NdisMDeregisterScatterGatherDma(NdisMiniportDmaHandle: NDIS_HANDLE): void {
  const ddi = 'NdisMDeregisterScatterGatherDma';
  const h =
    NdisMiniportDmaHandle instanceof NdisMiniportDma
      ? NdisMiniportDmaHandle
      : currentNdis(ddi).verifier.fatal(
          'NdisSim_BadParameter',
          ddi,
          null,
          `${ddi}: not a handle from NdisMRegisterScatterGatherDma`,
        );
  const b = h.block;
  const n = b.ndis;
  n.verifier.irql(irql.NdisMDeregisterScatterGatherDma, ddi, b.name);
  if (h.deregistered) {
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      b.name,
      `${ddi} of a DMA channel already deregistered (or left registered when an earlier MiniportHaltEx returned)`,
    );
    return;
  }
  if (passiveOutsideInitHalt(n, b)) {
    n.verifier.report(
      'NdisSim_DmaOutsideInitHalt',
      ddi,
      b.name,
      `${ddi} outside MiniportHaltEx and MiniportInitializeEx, where its documentation has the miniport release its DMA channel`,
    );
  }
  if (n.trace.on) n.traceDdi(ddi, b, {});
  const out = h.lists === null ? 0 : h.lists.size;
  if (out > 0) {
    // Driver Verifier's DMA check: the DMA adapter goes while lists built on it are out.
    n.verifier.report(
      'NdisSim_SgListsOutstanding',
      ddi,
      b.name,
      `${ddi} with ${out} scatter/gather list(s) not freed (NdisMFreeNetBufferSGList): the lists of a DMA channel go back before the channel does${oldestList(h)}`,
      ['NDIS_SG_DMA handle', out, 0],
    );
    dropLists(n, h);
  }
  const pending = dropPending(n, h);
  if (pending > 0) reportPending(n, b, ddi, ddi, pending);
  h.deregistered = true;
  if (b.dma !== null && b.dma.handle === h) b.dma.handle = null;
}

/**
 * The DMA alignment the model's x64 machine reports: its cache-line size. A HAL gives
 * the DMA adapter's alignment requirement; on x64 that is the data cache fill size.
 */
export const dmaAlignmentBytes = 64;

/**
 * ULONG NdisMGetDmaAlignment(MiniportAdapterHandle). PASSIVE. The alignment, in bytes,
 * of the DMA system for the NIC: the driver rounds each receive buffer it allocates up
 * to a multiple of it. Its page: the channel must be registered first
 * (NdisMRegisterScatterGatherDma); with none it is NdisSim_SharedMemoryWithoutDma, and
 * the model answers all the same.
 */
export function NdisMGetDmaAlignment(MiniportAdapterHandle: NDIS_HANDLE): ULONG {
  const ddi = 'NdisMGetDmaAlignment';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMGetDmaAlignment, ddi, b.name);
  if (stale(b, ddi)) return dmaAlignmentBytes;
  if (b.dma === null || b.dma.handle === null)
    n.verifier.report(
      'NdisSim_SharedMemoryWithoutDma',
      ddi,
      b.name,
      `${ddi} before NdisMRegisterScatterGatherDma: its page has the miniport register its scatter/gather DMA channel first`,
    );
  if (n.trace.on) n.traceDdi(ddi, b, { result: dmaAlignmentBytes });
  return dmaAlignmentBytes;
}

/** Registration and NdisMAllocateSharedMemory belong in MiniportInitializeEx (their pages). */
function outsideInit(n: Ndis, b: MiniportBlock, ddi: string): void {
  // Above PASSIVE the IRQL report already covers it.
  if (n.kernel.ctx.irql !== Irql.Passive || n.insideCallback(b, 'MiniportInitializeEx')) return;
  n.verifier.report(
    'NdisSim_DmaOutsideInitHalt',
    ddi,
    b.name,
    `${ddi} outside MiniportInitializeEx, the only place its documentation allows`,
  );
}

// ------------------------------------------------------------ shared memory

/**
 * VOID NdisMAllocateSharedMemory(MiniportAdapterHandle, Length, Cached, *VirtualAddress,
 * *PhysicalAddress). PASSIVE, from MiniportInitializeEx, after NdisMRegisterScatterGatherDma.
 * The out-parameters come back as fields: a zeroed buffer of Length bytes and the
 * page-aligned address the NIC uses for it; VirtualAddress null (and PhysicalAddress 0)
 * when the call cannot be satisfied: no DMA channel registered, Length 0 or above the
 * model's 64 MiB limit for one allocation, or the NIC's address range is full. Cached
 * is ignored, as on x86 and x64, but remembered: NdisMFreeSharedMemory must repeat it.
 */
export function NdisMAllocateSharedMemory(
  MiniportAdapterHandle: NDIS_HANDLE,
  Length: number,
  Cached: boolean,
): { VirtualAddress: Uint8Array | null; PhysicalAddress: number } {
  const ddi = 'NdisMAllocateSharedMemory';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  if (!n.kernel.running) notRunning(ddi);
  const none = { VirtualAddress: null, PhysicalAddress: 0 };
  const level = n.kernel.ctx.irql;
  if (level > irql.NdisMAllocateSharedMemory.max) {
    // NDIS checks this one itself: BUGCODE_NDIS_DRIVER 0x01 (the 0x7C page).
    n.verifier.report(
      'NdisSim_SharedMemoryHighIrql',
      ddi,
      b.name,
      `${ddi} called at IRQL ${level}; it must be called at PASSIVE_LEVEL`,
      [`${b.name} miniport block`, Length, level],
    );
    return none;
  }
  if (stale(b, ddi)) return none;
  outsideInit(n, b, ddi);
  const d = dmaOf(b);
  let mem: SharedMemory | null = null;
  if (d.handle === null) {
    n.verifier.report(
      'NdisSim_SharedMemoryWithoutDma',
      ddi,
      b.name,
      `${ddi} before NdisMRegisterScatterGatherDma: shared memory is allocated through the adapter's DMA channel, and none is registered`,
    );
  } else mem = takeShared(n, d, d.handle.wide, Length, Cached);
  if (mem === null && b.inInitialize && d.failedAt < 0) d.failedAt = n.eventLog.length;
  if (n.trace.on)
    n.traceDdi(ddi, b, {
      Length,
      Cached,
      PhysicalAddress: mem === null ? null : hex(mem.PhysicalAddress),
      result: mem === null ? 'NULL' : 'allocated',
    });
  return mem === null ? none : { VirtualAddress: mem.VirtualAddress, PhysicalAddress: mem.PhysicalAddress };
}

/**
 * A block of `Length` bytes from the NIC's range, added to the adapter's shared memory;
 * null for Length 0, above the model's 64 MiB for one allocation, or a full range.
 */
function takeShared(
  n: Ndis,
  d: AdapterDma,
  wide: boolean,
  Length: number,
  Cached: boolean,
): SharedMemory | null {
  if (!Number.isInteger(Length) || Length <= 0 || Length > maxPoolBytes) return null;
  const span = Math.ceil(Length / pageBytes) * pageBytes;
  const at = regionFor(n, wide).take(span);
  if (at < 0) return null;
  const mem = { VirtualAddress: new Uint8Array(Length), PhysicalAddress: at, Length, Cached, span };
  d.shared.push(mem);
  return mem;
}

// ------------------------------------------------- asynchronous shared memory

/** How long NDIS holds an asynchronous allocation on answer 1 of its choice. */
const heldAllocationNs = 10_000_000;

/**
 * An NdisMAllocateSharedMemoryAsyncEx that returned PENDING. Its completion runs from
 * `work`, on a system worker thread; on answer 1 `timer` queues `work` when it expires.
 */
class AsyncAllocation implements TimerRoutine, WorkRoutine {
  timer: KTimer | null = null;
  readonly work: WorkItem;
  constructor(
    readonly handle: NdisMiniportDma,
    readonly Length: ULONG,
    readonly Cached: boolean,
    readonly Context: unknown,
  ) {
    this.work = new WorkItem(this, 'ndis');
  }

  runTimer(): void {
    this.timer = null;
    this.handle.block.ndis.kernel.queueWork(this.work);
  }

  runWork(): void {
    completeAllocation(this);
  }
}

/**
 * NDIS_STATUS NdisMAllocateSharedMemoryAsyncEx(MiniportDmaHandle, Length, Cached,
 * Context). At most DISPATCH (Irql_Gather_DMA_Function). Returns PENDING: NDIS
 * allocates the block later and calls the channel's SharedMemAllocateCompleteHandler
 * (MiniportSharedMemoryAllocateComplete) at PASSIVE with it and Context, from a worker
 * thread queued when this call returns (answer 0 of ChoiceSite.SharedMemoryAllocateComplete)
 * or after NDIS held the request 10 ms (1). An allocation that cannot be satisfied
 * (Length 0, above the model's 64 MiB, the NIC's range full) completes with NULLs.
 * FAILURE, and no completion, on a channel already deregistered or a dead adapter
 * handle. A channel without the handler is NdisSim_BadParameter (fatal). The block
 * comes from the same physical address map as NdisMAllocateSharedMemory's and is
 * freed with NdisMFreeSharedMemory.
 */
export function NdisMAllocateSharedMemoryAsyncEx(
  MiniportDmaHandle: NDIS_HANDLE,
  Length: ULONG,
  Cached: boolean,
  Context: unknown,
): NDIS_STATUS {
  const ddi = 'NdisMAllocateSharedMemoryAsyncEx';
  const h = channel(MiniportDmaHandle, ddi, irql.NdisMAllocateSharedMemoryAsyncEx);
  const b = h.block;
  const n = b.ndis;
  if (stale(b, ddi) || deregistered(h, ddi)) {
    if (n.trace.on) n.traceDdi(ddi, b, { Length, Cached, result: NDIS_STATUS_FAILURE });
    return NDIS_STATUS_FAILURE;
  }
  if (typeof h.description.SharedMemAllocateCompleteHandler !== 'function') {
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: the DMA channel was registered without a SharedMemAllocateCompleteHandler, the MiniportSharedMemoryAllocateComplete NDIS calls with the memory`,
    );
  }
  const p = new AsyncAllocation(h, Length, Cached, Context);
  h.pending ??= new Set();
  h.pending.add(p);
  const held = n.kernel.machine.choose(ChoiceSite.SharedMemoryAllocateComplete, 2) === 1;
  if (n.trace.on) n.traceDdi(ddi, b, { Length, Cached, held, result: NDIS_STATUS_PENDING });
  if (held) {
    p.timer = new KTimer(p, 'ndis');
    n.kernel.setTimer(p.timer, n.now + heldAllocationNs, 0);
  } else n.kernel.queueWork(p.work);
  return NDIS_STATUS_PENDING;
}

/** The worker thread of a pending allocation: takes the block and calls the driver. */
function completeAllocation(p: AsyncAllocation): void {
  const h = p.handle;
  // Dropped with its channel (deregistration, halt) after its work item was queued.
  if (h.pending === null || !h.pending.delete(p)) return;
  const b = h.block;
  const n = b.ndis;
  const mem = takeShared(n, dmaOf(b), h.wide, p.Length, p.Cached);
  const VirtualAddress = mem === null ? null : mem.VirtualAddress;
  const PhysicalAddress = mem === null ? null : mem.PhysicalAddress;
  const fn = 'MiniportSharedMemoryAllocateComplete';
  const f = n.enter(
    b,
    b.driver.name,
    fn,
    // PASSIVE_LEVEL, its page says.
    irql.MiniportSharedMemoryAllocateComplete.max,
    n.trace.on
      ? { Length: p.Length, PhysicalAddress: mem === null ? null : hex(PhysicalAddress) }
      : undefined,
  );
  let returned: unknown;
  try {
    returned = h.description.SharedMemAllocateCompleteHandler!(
      b.context,
      VirtualAddress,
      PhysicalAddress,
      p.Length,
      p.Context,
    );
  } catch (e) {
    n.driverThrew(e, fn, b);
  }
  n.leaveVoid(f, returned);
}

/** NDIS drops every pending allocation of `h`: no memory, no completion; returns how many. */
function dropPending(n: Ndis, h: NdisMiniportDma): number {
  const pending = h.pending;
  if (pending === null) return 0;
  const count = pending.size;
  const k = n.kernel;
  for (const p of pending) {
    if (p.timer !== null) {
      k.cancelTimer(p.timer);
      k.dequeueDpc(p.timer.dpc);
      p.timer = null;
    }
    k.cancelWork(p.work);
  }
  pending.clear();
  return count;
}

/** The report of allocations still pending when `fn` gives the channel up. */
function reportPending(n: Ndis, b: MiniportBlock, fn: string, what: string, count: number): void {
  n.verifier.report(
    'NdisSim_SharedMemoryAllocationPending',
    fn,
    b.name,
    `${what} with ${count} NdisMAllocateSharedMemoryAsyncEx allocation(s) pending (MiniportSharedMemoryAllocateComplete not yet called): the driver waits for its completions before it gives up the channel and frees the memory they bring (R2.10). NDIS drops them: no memory, and no completion into an adapter that is going`,
  );
}

/**
 * VOID NdisMFreeSharedMemory(MiniportAdapterHandle, Length, Cached, VirtualAddress,
 * PhysicalAddress). <= DISPATCH. Frees a whole block: every argument must be what the
 * allocation was given or returned. Not from MiniportShutdownEx (SDV rule
 * NdisMFreeSharedMemory).
 */
export function NdisMFreeSharedMemory(
  MiniportAdapterHandle: NDIS_HANDLE,
  Length: number,
  Cached: boolean,
  VirtualAddress: Uint8Array,
  PhysicalAddress: number,
): void {
  const ddi = 'NdisMFreeSharedMemory';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMFreeSharedMemory, ddi, b.name);
  // After halt the handle is dead (R2.8): reported; the halt already reported the memory.
  if (stale(b, ddi)) return;
  if (n.insideCallback(b, 'MiniportShutdownEx'))
    n.verifier.report(
      'NdisMFreeSharedMemory',
      ddi,
      b.name,
      `${ddi} called from MiniportShutdownEx, which must leave shared memory alone`,
    );
  if (n.trace.on) n.traceDdi(ddi, b, { Length, Cached, PhysicalAddress: hex(PhysicalAddress) });
  const shared = b.dma?.shared;
  const i = shared === undefined ? -1 : shared.findIndex((m) => m.VirtualAddress === VirtualAddress);
  if (i < 0) {
    const owner = n.adapters.find((a) => a.dma?.shared.some((m) => m.VirtualAddress === VirtualAddress));
    if (owner !== undefined) {
      n.verifier.report(
        'NdisSim_SharedMemoryFreeMismatch',
        ddi,
        b.name,
        `${ddi} with the handle of ${b.name} of shared memory ${owner.name} allocated; the memory stays allocated`,
      );
      return;
    }
    // NDIS's own check: 0x7C/0x03, a block that is not (or no longer) allocated.
    n.verifier.report(
      'NdisSim_SharedMemoryFreeInvalid',
      ddi,
      b.name,
      `${ddi} of memory that is not allocated shared memory of ${b.name} (freed twice?)`,
      [`${b.name} miniport block`, hex(PhysicalAddress), 'VirtualAddress'],
    );
    return;
  }
  const m = shared![i]!;
  const wrong: string[] = [];
  if (Length !== m.Length) wrong.push(`Length ${Length}, allocated ${m.Length}`);
  if (Cached !== m.Cached) wrong.push(`Cached ${Cached}, allocated ${m.Cached}`);
  if (PhysicalAddress !== m.PhysicalAddress)
    wrong.push(`PhysicalAddress ${hex(PhysicalAddress)}, allocated ${hex(m.PhysicalAddress)}`);
  if (wrong.length > 0)
    n.verifier.report(
      'NdisSim_SharedMemoryFreeMismatch',
      ddi,
      b.name,
      `${ddi} arguments differ from the allocation (${wrong.join('; ')}); the block is freed by its VirtualAddress`,
    );
  shared!.splice(i, 1);
  regionFor(n, m.PhysicalAddress >= highStart).give(m.PhysicalAddress, m.span);
}

// ------------------------------------------------------- scatter/gather lists

/**
 * A list NdisMAllocateNetBufferSGList built: what NDIS passes to MiniportProcessSGList
 * and must get back through NdisMFreeNetBufferSGList.
 */
class SgList implements SCATTER_GATHER_LIST {
  readonly Reserved = 0;
  readonly NumberOfElements: ULONG;
  /**
   * @internal 'pending' until MiniportProcessSGList is called, 'out' until freed;
   * 'dropped' when NDIS took it back (deregistration, halt) before the driver freed it.
   */
  _state: 'pending' | 'out' | 'freed' | 'dropped' = 'pending';
  /** @internal The DPC that calls MiniportProcessSGList later, when NDIS chose that. */
  _dpc: Dpc | null = null;
  constructor(
    readonly Elements: readonly SCATTER_GATHER_ELEMENT[],
    /** @internal */ readonly _handle: NdisMiniportDma,
    /** @internal */ readonly _nb: NET_BUFFER,
    /** @internal NdisMAllocateNetBufferSGList's Context. */ readonly _context: unknown,
    /** @internal Its pages in the physical address map. */ readonly _at: number,
    /** @internal */ readonly _span: number,
    /**
     * @internal The send NBL the NET_BUFFER belonged to when the list was built (null:
     * an NB of no send in the miniport): after its completion the NB is not the driver's.
     */
    readonly _nbl: NblImpl | null,
    /** @internal When, and in which driver call, it was built (for a report of lists never freed). */
    readonly _builtNs: number,
    readonly _builtIn: string | null,
  ) {
    this.NumberOfElements = Elements.length;
  }
}

/** "; the oldest built at 1.204000 s in MiniportSendNetBufferLists (NBL #12)", or "". */
function oldestList(h: NdisMiniportDma): string {
  let oldest: SgList | null = null;
  for (const l of h.lists ?? []) if (oldest === null || l._builtNs < oldest._builtNs) oldest = l;
  if (oldest === null) return '';
  const where = oldest._builtIn === null ? '' : ` in ${oldest._builtIn}`;
  const nbl =
    oldest._nbl === null
      ? ''
      : ` (NBL #${oldest._nbl._id}, ${oldest._nbl._place === 'miniport-send' ? 'still pending' : 'completed since'})`;
  return `; the oldest was built at ${fmtTime(oldest._builtNs)}${where}${nbl}`;
}

/** The send NBL in the miniport whose NET_BUFFERs include `nb`, or null. */
function sendOf(b: MiniportBlock, nb: NET_BUFFER): NblImpl | null {
  for (const nbl of b.inFlight)
    for (let x = nbl.FirstNetBuffer; x !== null; x = x.Next) if (x === nb) return nbl;
  return null;
}

/** Runs MiniportProcessSGList of a list whose callback NDIS put off. */
const laterRoutine: DpcRoutine = {
  runDpc(dpc: Dpc): void {
    const list = dpc.arg as SgList;
    list._dpc = null;
    // A list taken back (deregistration, halt) before its DPC ran gets no callback.
    if (list._state === 'pending') processSgList(list);
  },
};

function processSgList(list: SgList): void {
  const h = list._handle;
  const b = h.block;
  const n = b.ndis;
  list._state = 'out';
  const f = n.enter(
    b,
    b.driver.name,
    'MiniportProcessSGList',
    Irql.Dispatch,
    n.trace.on ? { NumberOfElements: list.NumberOfElements } : undefined,
  );
  let returned: unknown;
  try {
    returned = h.description.ProcessSGListHandler!(null, null, list, list._context);
  } catch (e) {
    n.driverThrew(e, 'MiniportProcessSGList', b);
  }
  n.leaveVoid(f, returned);
}

/** NDIS takes back every list of `h` the driver did not free; returns how many. */
function dropLists(n: Ndis, h: NdisMiniportDma): number {
  const lists = h.lists;
  if (lists === null) return 0;
  const count = lists.size;
  for (const list of lists) {
    if (list._dpc !== null) n.kernel.dequeueDpc(list._dpc);
    list._dpc = null;
    list._state = 'dropped';
    regionFor(n, h.wide).give(list._at, list._span);
  }
  lists.clear();
  return count;
}

/**
 * NDIS_STATUS NdisMAllocateNetBufferSGList(NdisMiniportDmaHandle, NetBuffer, Context,
 * Flags, ScatterGatherListBuffer, ScatterGatherListBufferSize). Exactly DISPATCH. Builds
 * the list of the NET_BUFFER's data as its page says: from the start of the MDL that
 * holds the data start (the model's chain is one buffer, so that is the chain's start,
 * and the data begins DataOffset bytes into the list) to the end of the data. Each page
 * the bytes touch is one element; the first starts at the buffer's offset in its page
 * (its byteOffset, as for NdisGetDataBuffer). The pages come from the NIC's range of the
 * physical address map (below 4 GiB unless NDIS_SG_DMA_64_BIT_ADDRESS), so two lists
 * out at once never share one. SUCCESS, then MiniportProcessSGList with the list and
 * Context: inside this call (answer 0 of ChoiceSite.ProcessSGList) or from a DPC after it
 * returns (1). RESOURCES, and no callback, when the range is full. The list is always
 * NDIS's own object, never ScatterGatherListBuffer ("not necessarily the same buffer").
 */
export function NdisMAllocateNetBufferSGList<C = unknown>(
  NdisMiniportDmaHandle: NDIS_SG_DMA_HANDLE<C>,
  NetBuffer: NET_BUFFER,
  Context: C,
  Flags: ULONG,
  ScatterGatherListBuffer: Uint8Array | null,
  ScatterGatherListBufferSize: ULONG,
): NDIS_STATUS {
  const ddi = 'NdisMAllocateNetBufferSGList';
  const h = channel(NdisMiniportDmaHandle, ddi, irql.NdisMAllocateNetBufferSGList);
  const b = h.block;
  const n = b.ndis;
  const nb = netBuffer(n, NetBuffer, ddi);
  if (stale(b, ddi) || deregistered(h, ddi)) return NDIS_STATUS_RESOURCES;
  if (typeof h.description.ProcessSGListHandler !== 'function') {
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: the DMA channel was registered without a ProcessSGListHandler, which NDIS calls with the list`,
    );
  }
  if (
    ScatterGatherListBuffer !== null &&
    (!(ScatterGatherListBuffer instanceof Uint8Array) ||
      !(ScatterGatherListBufferSize <= ScatterGatherListBuffer.length))
  ) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: ScatterGatherListBuffer must be a buffer of at least ScatterGatherListBufferSize (${ScatterGatherListBufferSize}) bytes, or NULL`,
    );
  }
  const bytes = nb.DataOffset + nb.DataLength;
  let status: NDIS_STATUS = NDIS_STATUS_RESOURCES;
  let list: SgList | null = null;
  if (!Number.isInteger(bytes) || nb.DataLength <= 0 || nb.DataOffset < 0) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: the NET_BUFFER has no data to map (DataOffset ${nb.DataOffset}, DataLength ${nb.DataLength})`,
    );
  } else {
    const first = (nb.Data?.byteOffset ?? 0) % pageBytes;
    const pages = Math.ceil((first + bytes) / pageBytes);
    const at = regionFor(n, h.wide).take(pages * pageBytes);
    if (at >= 0) {
      const elements: SCATTER_GATHER_ELEMENT[] = [];
      let rest = bytes;
      for (let i = 0; i < pages; i++) {
        const start = i === 0 ? first : 0;
        const Length = Math.min(rest, pageBytes - start);
        elements.push({ Address: at + i * pageBytes + start, Length, Reserved: 0 });
        rest -= Length;
      }
      list = new SgList(
        elements,
        h,
        nb,
        Context,
        at,
        pages * pageBytes,
        sendOf(h.block, nb),
        n.now,
        n.runningFunction(),
      );
      h.lists ??= new Set();
      h.lists.add(list);
      h.built++;
      status = NDIS_STATUS_SUCCESS;
    }
  }
  if (n.trace.on)
    n.traceDdi(ddi, b, {
      DataOffset: nb.DataOffset,
      DataLength: nb.DataLength,
      toDevice: (Flags & NDIS_SG_LIST_WRITE_TO_DEVICE) !== 0,
      NumberOfElements: list === null ? 0 : list.NumberOfElements,
      result: status,
    });
  if (list === null) return status;
  if (n.kernel.machine.choose(ChoiceSite.ProcessSGList, 2) === 0) processSgList(list);
  else {
    list._dpc = new Dpc(laterRoutine, 'ndis', list);
    n.kernel.queueDpc(list._dpc, n.kernel.ctx.cpu);
  }
  return status;
}

/**
 * VOID NdisMFreeNetBufferSGList(NdisMiniportDmaHandle, pSGL, NetBuffer). Exactly
 * DISPATCH. Gives back a list MiniportProcessSGList got, with the handle and NET_BUFFER
 * it was built for. Freed twice is Driver Verifier's 0xE6/0x06; another NET_BUFFER or
 * another adapter's channel is NdisSim_BadParameter, which stops the run.
 */
export function NdisMFreeNetBufferSGList(
  NdisMiniportDmaHandle: NDIS_HANDLE,
  pSGL: SCATTER_GATHER_LIST,
  NetBuffer: NET_BUFFER,
): void {
  const ddi = 'NdisMFreeNetBufferSGList';
  const h = channel(NdisMiniportDmaHandle, ddi, irql.NdisMFreeNetBufferSGList);
  const b = h.block;
  const n = b.ndis;
  if (stale(b, ddi)) return;
  if (!(pSGL instanceof SgList) || pSGL._state === 'pending') {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: pSGL is not a scatter/gather list NDIS passed to MiniportProcessSGList`,
    );
    return;
  }
  if (n.trace.on) n.traceDdi(ddi, b, { NumberOfElements: pSGL.NumberOfElements, state: pSGL._state });
  const owner = pSGL._handle;
  if (pSGL._state === 'freed') {
    owner.freed++;
    n.verifier.report(
      'NdisSim_SgListFreedTwice',
      ddi,
      b.name,
      `${ddi} of a scatter/gather list already freed`,
      [owner.built, owner.freed, 0],
    );
    return;
  }
  if (pSGL._state === 'dropped' || deregistered(h, ddi)) {
    if (pSGL._state === 'dropped')
      n.verifier.report(
        'NdisSim_ObjectFreedInUse',
        ddi,
        b.name,
        `${ddi} of a scatter/gather list NDIS took back when its DMA channel was deregistered`,
      );
    return;
  }
  // R6.9: an NBL is never touched after its completion; its NET_BUFFER went back with it.
  const nbl = pSGL._nbl;
  if (nbl !== null && (nbl._place !== 'miniport-send' || nbl._block !== b))
    n.verifier.report(
      'NdisSim_SendNblUsedAfterCompletion',
      ddi,
      b.name,
      `${ddi} with the NET_BUFFER of NBL #${nbl._id}, which NdisMSendNetBufferListsComplete gave back already: free the list before completing the NBL (R6.9)`,
    );
  const wrong: string[] = [];
  if (owner !== h) wrong.push(`the list was built on the DMA channel of ${owner.block.name}`);
  if (NetBuffer !== pSGL._nb) wrong.push('NetBuffer is not the NET_BUFFER the list was built for');
  if (wrong.length > 0) n.verifier.fatal('NdisSim_BadParameter', ddi, b.name, `${ddi}: ${wrong.join('; ')}`);
  pSGL._state = 'freed';
  owner.freed++;
  owner.lists!.delete(pSGL);
  regionFor(n, owner.wide).give(pSGL._at, pSGL._span);
}

/** The channel handle of a DDI that takes one, then its IRQL checked; anything but a channel is fatal. */
function channel(x: NDIS_HANDLE, ddi: string, bound: DdiIrql): NdisMiniportDma {
  if (!(x instanceof NdisMiniportDma))
    return currentNdis(ddi).verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: not a handle from NdisMRegisterScatterGatherDma`,
    );
  x.block.ndis.verifier.irql(bound, ddi, x.block.name);
  return x;
}

/** A channel deregistered (by the driver, or by NDIS at the end of a halt): reported. */
function deregistered(h: NdisMiniportDma, ddi: string): boolean {
  if (!h.deregistered) return false;
  h.block.ndis.verifier.report(
    'NdisSim_ObjectFreedInUse',
    ddi,
    h.block.name,
    `${ddi} with a DMA channel already deregistered`,
  );
  return true;
}

// ----------------------------------------------------------- end of life

/**
 * At the end of MiniportInitializeEx: WriteErrorLog (SDV) -- a NdisMAllocateSharedMemory
 * that failed inside it should be followed by an NdisWriteErrorLogEntry of the adapter.
 */
export function checkDmaAfterInit(n: Ndis, b: MiniportBlock, d: AdapterDma): void {
  const at = d.failedAt;
  if (at < 0) return;
  d.failedAt = -1;
  const log = n.eventLog;
  for (let i = at; i < log.length; i++) if (log[i]!.adapter === b.name) return;
  n.verifier.report(
    'WriteErrorLog',
    'MiniportInitializeEx',
    b.name,
    'NdisMAllocateSharedMemory failed in MiniportInitializeEx, and no NdisWriteErrorLogEntry followed',
  );
}

/**
 * When MiniportHaltEx, or a failing MiniportInitializeEx, returns: a DMA channel still
 * registered breaks Init_RegisterSG; scatter/gather lists of it and shared memory not
 * freed go into `left`, the halt's resource report (R2.5, R2.10), and asynchronous
 * allocations still pending are NdisSim_SharedMemoryAllocationPending. NDIS takes all
 * of it back (a list's pending MiniportProcessSGList and an allocation's pending
 * MiniportSharedMemoryAllocateComplete are not called), and the adapter's next
 * initialization starts with none.
 */
export function dmaLeftAtEnd(
  n: Ndis,
  b: MiniportBlock,
  d: AdapterDma,
  fn: string,
  how: string,
  left: string[],
): void {
  b.dma = null;
  const h = d.handle;
  if (h !== null) {
    h.deregistered = true;
    n.verifier.report(
      'Init_RegisterSG',
      fn,
      b.name,
      `${fn} ${how} with its scatter/gather DMA channel still registered (NdisMDeregisterScatterGatherDma)`,
    );
    // The channel was never deregistered, so its lists are still counted on it.
    const lists = dropLists(n, h);
    if (lists > 0) left.push(`${lists} scatter/gather list(s) (NdisMFreeNetBufferSGList)`);
    const pending = dropPending(n, h);
    if (pending > 0) reportPending(n, b, fn, `${fn} ${how}`, pending);
  }
  for (const m of d.shared) regionFor(n, m.PhysicalAddress >= highStart).give(m.PhysicalAddress, m.span);
  if (d.shared.length > 0) left.push(`${d.shared.length} block(s) of shared memory (NdisMFreeSharedMemory)`);
}
