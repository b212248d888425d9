// NET_BUFFER, NET_BUFFER_LIST and MDL helpers beyond the data path's own (datapath.ts):
// NBLs without NET_BUFFERs (NdisAllocateNetBufferList), pools of stand-alone NET_BUFFERs
// (NdisAllocateNetBufferPool, NdisAllocateNetBuffer), MDLs (NdisAllocateMdl), and the
// data-start helpers (NdisGetDataBuffer, NdisAdvanceNetBufferDataStart,
// NdisRetreatNetBufferDataStart and their NBL forms), and NdisCopyFromNetBufferToNetBuffer.
// All at IRQL <= DISPATCH (Irql_NetBuffer_Function).
//
// The model keeps NET_BUFFER.Data as one Uint8Array standing for the MDL chain (the
// bytes the chain describes, from the start of its first MDL), so every chain is
// contiguous. An MDL from NdisAllocateMdl is a new view of the caller's buffer (the
// same bytes, an identity of its own) that can serve as a MdlChain.
//
// Nothing here runs unless a driver calls these DDIs: the world's state is null until
// the first NET_BUFFER pool, MDL or allocating retreat.

import { MiniportBlock } from '../block.ts';
import { mdlUnlocked } from '../device.ts';
import { FilterModule } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  HighPagePriority,
  LowPagePriority,
  MdlMappingNoExecute,
  MdlMappingNoWrite,
  MEMORY_ALLOCATION_ALIGNMENT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
  NormalPagePriority,
} from '../generated/status.ts';
import { homePlace, NblImpl, NblPool, NbPool, type NET_BUFFER, type NET_BUFFER_LIST } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import { NdisGenericObject } from '../objects.ts';
import type { ProtocolDriverBlock } from '../protocol-driver.ts';
import type { NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_STATUS } from '../types.ts';
import {
  currentNdis,
  type ServiceHandle,
  serviceOrProtocolHandle,
  stale,
  staleModule,
  stalePool,
} from './common.ts';
import { netBufferRangeProblem, poolOf, unlockedMdlChain } from './datapath.ts';
import { atMostDispatch } from './device.ts';
import { poolFreed, poolOfGenericObject } from './generic.ts';
import { maxPoolBytes } from './kernel.ts';
import { initialContext } from './nblcontext.ts';

const irql = {
  NdisAllocateNetBufferList: ddiIrql.NdisAllocateNetBufferList!,
  NdisAllocateNetBufferPool: ddiIrql.NdisAllocateNetBufferPool!,
  NdisFreeNetBufferPool: ddiIrql.NdisFreeNetBufferPool!,
  NdisAllocateNetBuffer: ddiIrql.NdisAllocateNetBuffer!,
  NdisAllocateNetBufferMdlAndData: ddiIrql.NdisAllocateNetBufferMdlAndData!,
  NdisFreeNetBuffer: ddiIrql.NdisFreeNetBuffer!,
  NdisAllocateMdl: ddiIrql.NdisAllocateMdl!,
  NdisFreeMdl: ddiIrql.NdisFreeMdl!,
  NdisGetDataBuffer: ddiIrql.NdisGetDataBuffer!,
  NdisAdvanceNetBufferDataStart: ddiIrql.NdisAdvanceNetBufferDataStart!,
  NdisRetreatNetBufferDataStart: ddiIrql.NdisRetreatNetBufferDataStart!,
  NdisAdvanceNetBufferListDataStart: ddiIrql.NdisAdvanceNetBufferListDataStart!,
  NdisRetreatNetBufferListDataStart: ddiIrql.NdisRetreatNetBufferListDataStart!,
  NdisCopyFromNetBufferToNetBuffer: ddiIrql.NdisCopyFromNetBufferToNetBuffer!,
};

export interface NET_BUFFER_POOL_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  PoolTag: number;
  /** The data buffers' size, for NdisAllocateNetBufferMdlAndData; 0 for NET_BUFFERs over the caller's MDL chains. */
  DataSize: number;
}

/** PMDL NetAllocateMdl(PULONG BufferSize): an MDL and memory of at least BufferSize bytes (its length is the size it got), or NULL. */
export type NET_BUFFER_ALLOCATE_MDL = (BufferSize: number) => Uint8Array | null;
/** VOID NetFreeMdl(PMDL Mdl): frees what the driver's NetAllocateMdl gave. */
export type NET_BUFFER_FREE_MDL = (Mdl: Uint8Array) => void;

/** A NET_BUFFER from NdisAllocateNetBuffer. */
class NbImpl implements NET_BUFFER {
  Next: NET_BUFFER | null = null;
  /** @internal NdisFreeNetBuffer returned it. */ _freed = false;
  constructor(
    readonly _pool: NbPool,
    public Data: Uint8Array | null,
    public DataOffset: number,
    public DataLength: number,
  ) {}
}

/**
 * Memory NdisRetreatNetBufferDataStart put in front of a NET_BUFFER's data: the first
 * `front` bytes of its Data. `orig`/`origOffset`: the Data and DataOffset before, where
 * the bytes from `front` on go back when an advance frees the memory.
 */
interface Retreat {
  readonly front: number;
  readonly orig: Uint8Array;
  readonly origOffset: number;
  /** What the driver's NetAllocateMdl returned; null when NDIS allocated it. */
  readonly mdl: Uint8Array | null;
}

/** The world's state of these DDIs (Ndis.nblApi), made on first use. */
export class NblApiState {
  /** NET_BUFFER pools allocated with an adapter handle and not freed (halt checks them). */
  readonly nbPools: NbPool[] = [];
  /**
   * MDLs from NdisAllocateMdl not freed, with the adapter or filter module whose handle
   * made them (null: a driver's, or already reported).
   */
  readonly mdls = new Map<Uint8Array, { block: MiniportBlock | null; module: FilterModule | null }>();
  /** Allocating retreats not yet undone by an advance, innermost last. */
  readonly retreats = new WeakMap<NET_BUFFER, Retreat[]>();
}

function state(n: Ndis): NblApiState {
  n.nblApi ??= new NblApiState();
  return n.nblApi;
}

// NdisHandle of NdisAllocateNetBufferPool and NdisAllocateMdl is one "obtained during caller
// initialization": an adapter or miniport driver handle, a filter module's NdisFilterHandle
// or the filter driver handle (serviceHandle). Only an adapter's pools and MDLs are
// checked at its end.

/** The adapter a handle names (a module's: the one it is attached to), for messages. */
type AnyHandle = ServiceHandle | ProtocolDriverBlock;

function handleAdapter(h: AnyHandle | null): string | null {
  return h instanceof MiniportBlock ? h.name : h instanceof FilterModule ? h.block.name : null;
}

/** True when the DDI must stop: the adapter or module of `h` is gone (reported). */
function staleCaller(n: Ndis, h: AnyHandle | null, ddi: string): boolean {
  if (h instanceof MiniportBlock) return stale(h, ddi);
  if (h instanceof FilterModule) return staleModule(h, ddi, n);
  return false;
}

/** The driver that owns what `h` allocates. */
function handleOwner(h: AnyHandle): string {
  return h instanceof MiniportBlock || h instanceof FilterModule ? h.driver.name : h.name;
}

// ---------------------------------------------------------------------------------
// NET_BUFFER_LISTs without NET_BUFFERs

/**
 * PNET_BUFFER_LIST NdisAllocateNetBufferList(PoolHandle, ContextSize, ContextBackFill).
 * <= DISPATCH. From a pool allocated with fAllocateNetBuffer FALSE the NBL has no
 * NET_BUFFER (FirstNetBuffer NULL); from one with TRUE it comes with one, holding
 * DataSize bytes of data when the pool's DataSize is not 0. Its context space is the
 * pool's ContextSize, with ContextSize bytes of it in use by the caller (api/nblcontext.ts);
 * both sizes must be multiples of MEMORY_ALLOCATION_ALIGNMENT.
 */
export function NdisAllocateNetBufferList(
  PoolHandle: NDIS_HANDLE,
  ContextSize: number,
  ContextBackFill: number,
): NET_BUFFER_LIST | null {
  const ddi = 'NdisAllocateNetBufferList';
  const pool = poolOf(PoolHandle, ddi);
  const n = currentNdis(ddi);
  const adapter = pool.block?.name ?? null;
  n.verifier.irql(irql.NdisAllocateNetBufferList, ddi, adapter);
  if (stalePool(pool, ddi, n)) return null;
  contextSizes(n, ddi, adapter, ContextSize, ContextBackFill);
  let nb: NET_BUFFER | null = null;
  if (pool.allocateNetBuffer) {
    const size = pool.dataSize;
    nb = { Next: null, DataLength: size, DataOffset: 0, Data: size > 0 ? new Uint8Array(size) : null };
  }
  pool.allocated++;
  const nbl = new NblImpl(pool, nb, homePlace(pool), n.nextNblId++);
  if (pool.contextSize + ContextSize + ContextBackFill > 0)
    initialContext(n, nbl, pool, ContextSize, ContextBackFill);
  if (n.trace.on) n.traceDdi(ddi, pool.block, { nbl: nbl._id, netBuffer: nb !== null });
  return nbl;
}

/** The pages: ContextSize and ContextBackFill are multiples of MEMORY_ALLOCATION_ALIGNMENT. */
export function contextSizes(
  n: Ndis,
  ddi: string,
  adapter: string | null,
  size: number,
  backFill: number,
): void {
  const bad = (x: number) =>
    !Number.isInteger(x) || x < 0 || x > 0xffff || x % MEMORY_ALLOCATION_ALIGNMENT !== 0;
  if (!bad(size) && !bad(backFill)) return;
  n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    adapter,
    `${ddi}: ContextSize ${size} and ContextBackFill ${backFill} must be multiples of MEMORY_ALLOCATION_ALIGNMENT (${MEMORY_ALLOCATION_ALIGNMENT})`,
  );
}

// ---------------------------------------------------------------------------------
// NET_BUFFER pools

/**
 * NDIS_HANDLE NdisAllocateNetBufferPool(NdisHandle, Parameters). <= DISPATCH. NdisHandle
 * is an adapter, miniport driver, filter module or filter driver handle (optional: null
 * for a pool of no handle). A pool of an adapter handle is the adapter's to free by the
 * end of MiniportHaltEx.
 */
export function NdisAllocateNetBufferPool(
  NdisHandle: NDIS_HANDLE | null,
  Parameters: NET_BUFFER_POOL_PARAMETERS,
): NDIS_HANDLE | null {
  const ddi = 'NdisAllocateNetBufferPool';
  if (NdisHandle instanceof NdisGenericObject)
    return poolOfGenericObject(
      NdisHandle,
      ddi,
      () => NdisAllocateNetBufferPool(null, Parameters) as NbPool | null,
    );
  const n = currentNdis(ddi);
  const h = NdisHandle === null ? null : serviceOrProtocolHandle(NdisHandle, ddi);
  const b = h instanceof MiniportBlock ? h : null;
  n.verifier.irql(irql.NdisAllocateNetBufferPool, ddi, handleAdapter(h));
  if (staleCaller(n, h, ddi)) return null;
  const hd = Parameters.Header;
  if (hd.Type !== NDIS_OBJECT_TYPE_DEFAULT || hd.Revision !== NET_BUFFER_POOL_PARAMETERS_REVISION_1) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      handleAdapter(h),
      `${ddi}: Parameters.Header must be NDIS_OBJECT_TYPE_DEFAULT, NET_BUFFER_POOL_PARAMETERS_REVISION_1 (Type ${hd.Type}, Revision ${hd.Revision})`,
    );
    return null;
  }
  const owner = h === null ? n.kernel.ctx.who : handleOwner(h);
  const module = h instanceof FilterModule ? h : null;
  const pool = new NbPool(b, owner, Parameters.DataSize, module);
  if (b !== null || module !== null) state(n).nbPools.push(pool);
  if (n.trace.on) n.traceDdi(ddi, b, module !== null ? { module: module.name } : {});
  return pool;
}

function nbPoolOf(n: Ndis, x: unknown, ddi: string): NbPool {
  if (x instanceof NbPool && !x.freed) return x;
  if (x instanceof NbPool)
    return n.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      x.block?.name ?? null,
      `${ddi} on a freed NET_BUFFER pool`,
    );
  const what = x instanceof NblPool ? 'an NBL pool (NdisAllocateNetBufferListPool), ' : '';
  return n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: ${what}not a NET_BUFFER pool handle`);
}

/** VOID NdisFreeNetBufferPool(PoolHandle). <= DISPATCH; every NET_BUFFER must be back. */
export function NdisFreeNetBufferPool(PoolHandle: NDIS_HANDLE): void {
  const ddi = 'NdisFreeNetBufferPool';
  const n = currentNdis(ddi);
  const pool = nbPoolOf(n, PoolHandle, ddi);
  const adapter = pool.block?.name ?? null;
  n.verifier.irql(irql.NdisFreeNetBufferPool, ddi, adapter);
  if (pool.allocated > 0)
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      adapter,
      `NET_BUFFER pool freed with ${pool.allocated} NET_BUFFER(s) still allocated from it (NdisFreeNetBuffer)`,
    );
  pool.freed = true;
  poolFreed(pool);
  const list = n.nblApi?.nbPools;
  if (list !== undefined) {
    const i = list.indexOf(pool);
    if (i >= 0) list.splice(i, 1);
  }
  if (n.trace.on) n.traceDdi(ddi, pool.block, pool.module !== null ? { module: pool.module.name } : {});
}

/**
 * PNET_BUFFER NdisAllocateNetBuffer(PoolHandle, MdlChain, DataOffset, DataLength).
 * <= DISPATCH. MdlChain (the bytes, or null) must hold DataOffset + DataLength bytes;
 * with no chain both must be 0. The pool has DataSize 0.
 */
export function NdisAllocateNetBuffer(
  PoolHandle: NDIS_HANDLE,
  MdlChain: Uint8Array | null,
  DataOffset: number,
  DataLength: number,
): NET_BUFFER | null {
  const ddi = 'NdisAllocateNetBuffer';
  const n = currentNdis(ddi);
  const pool = nbPoolOf(n, PoolHandle, ddi);
  const adapter = pool.block?.name ?? null;
  n.verifier.irql(irql.NdisAllocateNetBuffer, ddi, adapter);
  if (stalePool(pool, ddi, n)) return null;
  // The NdisAllocateNetBufferPool page: from a pool with a DataSize, NET_BUFFERs come
  // from NdisAllocateNetBufferMdlAndData, which gives them their data.
  const bad =
    pool.dataSize !== 0
      ? `on a pool whose DataSize is ${pool.dataSize}, not 0: such a pool's NET_BUFFERs come from NdisAllocateNetBufferMdlAndData, with their data; this call takes the caller's MDL chain`
      : netBufferRangeProblem(MdlChain, DataOffset, DataLength);
  if (bad !== null) {
    n.verifier.fatal('NdisSim_BadParameter', ddi, adapter, `${ddi}: ${bad}`);
    return null;
  }
  unlockedMdlChain(n, ddi, adapter, MdlChain);
  pool.allocated++;
  const nb = new NbImpl(pool, MdlChain, DataOffset, DataLength);
  if (n.trace.on) n.traceDdi(ddi, pool.block, { DataOffset, DataLength });
  return nb;
}

/**
 * PNET_BUFFER NdisAllocateNetBufferMdlAndData(PoolHandle). <= DISPATCH. A NET_BUFFER with
 * its MDL and a data buffer of the pool's DataSize, all NDIS's, from a pool allocated
 * with a DataSize (nf-nblapi-ndisallocatenetbuffermdlanddata: the caller gives the
 * pool the size of the data buffers). As with NdisAllocateNetBufferList's NET_BUFFERs,
 * the whole buffer is used data: DataOffset 0, DataLength the DataSize. A pool with
 * DataSize 0 has no data to give: NdisSim_BadParameter. NdisFreeNetBuffer frees it.
 */
export function NdisAllocateNetBufferMdlAndData(PoolHandle: NDIS_HANDLE): NET_BUFFER | null {
  const ddi = 'NdisAllocateNetBufferMdlAndData';
  const n = currentNdis(ddi);
  const pool = nbPoolOf(n, PoolHandle, ddi);
  const adapter = pool.block?.name ?? null;
  n.verifier.irql(irql.NdisAllocateNetBufferMdlAndData, ddi, adapter);
  if (stalePool(pool, ddi, n)) return null;
  if (pool.dataSize === 0) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: the pool was allocated with DataSize 0, so it has no data buffers to give; allocate it with the size of the data, or take the caller's MDL chain with NdisAllocateNetBuffer`,
    );
    return null;
  }
  pool.allocated++;
  const nb = new NbImpl(pool, new Uint8Array(pool.dataSize), 0, pool.dataSize);
  if (n.trace.on) n.traceDdi(ddi, pool.block, { DataLength: pool.dataSize });
  return nb;
}

/** VOID NdisFreeNetBuffer(NetBuffer). <= DISPATCH; a NET_BUFFER from NdisAllocateNetBuffer or NdisAllocateNetBufferMdlAndData. */
export function NdisFreeNetBuffer(NetBuffer: NET_BUFFER): void {
  const ddi = 'NdisFreeNetBuffer';
  const n = currentNdis(ddi);
  if (!(NetBuffer instanceof NbImpl)) {
    n.verifier.irql(irql.NdisFreeNetBuffer, ddi, n.runningAdapterName());
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      n.runningAdapterName(),
      `${ddi}: not a NET_BUFFER from NdisAllocateNetBuffer (one that came with its NBL goes with NdisFreeNetBufferList)`,
    );
    return;
  }
  const adapter = NetBuffer._pool.block?.name ?? null;
  n.verifier.irql(irql.NdisFreeNetBuffer, ddi, adapter);
  if (NetBuffer._freed) {
    n.verifier.report('NdisSim_ObjectFreedInUse', ddi, adapter, `${ddi}: the NET_BUFFER was freed already`);
    return;
  }
  NetBuffer._freed = true;
  NetBuffer._pool.allocated--;
  if (n.trace.on) n.traceDdi(ddi, NetBuffer._pool.block, {});
}

// ---------------------------------------------------------------------------------
// MDLs

/**
 * PMDL NdisAllocateMdl(NdisHandle, VirtualAddress, Length). <= DISPATCH. The MDL is a new
 * view of the first Length bytes of VirtualAddress (the same memory). Every MDL must be
 * freed with NdisFreeMdl; one of an adapter handle by the end of MiniportHaltEx.
 */
export function NdisAllocateMdl(
  NdisHandle: NDIS_HANDLE,
  VirtualAddress: Uint8Array,
  Length: number,
): Uint8Array | null {
  const ddi = 'NdisAllocateMdl';
  const n = currentNdis(ddi);
  const h = serviceOrProtocolHandle(NdisHandle, ddi);
  const b = h instanceof MiniportBlock ? h : null;
  n.verifier.irql(irql.NdisAllocateMdl, ddi, handleAdapter(h));
  if (staleCaller(n, h, ddi)) return null;
  if (!(VirtualAddress instanceof Uint8Array))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      handleAdapter(h),
      `${ddi}: VirtualAddress is not a buffer (a Uint8Array)`,
    );
  if (!Number.isInteger(Length) || Length <= 0 || Length > VirtualAddress.length) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      handleAdapter(h),
      `${ddi}: Length ${Length} is not a size within the ${VirtualAddress.length}-byte buffer`,
    );
    return null;
  }
  const mdl = VirtualAddress.subarray(0, Length);
  state(n).mdls.set(mdl, { block: b, module: h instanceof FilterModule ? h : null });
  if (n.trace.on) n.traceDdi(ddi, b, { Length });
  return mdl;
}

/** VOID NdisFreeMdl(Mdl). <= DISPATCH; only an MDL from NdisAllocateMdl, once. */
export function NdisFreeMdl(Mdl: Uint8Array): void {
  const ddi = 'NdisFreeMdl';
  const n = currentNdis(ddi);
  const entry = n.nblApi?.mdls.get(Mdl);
  const adapter = entry?.block?.name ?? n.runningAdapterName();
  n.verifier.irql(irql.NdisFreeMdl, ddi, adapter);
  if (entry === undefined) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: not an MDL from NdisAllocateMdl, or one freed already`,
    );
    return;
  }
  n.nblApi!.mdls.delete(Mdl);
  if (n.trace.on) n.traceDdi(ddi, entry.block, {});
}

/**
 * PVOID MmGetSystemAddressForMdlSafe(Mdl, Priority) (wdm.h). <= DISPATCH. The system
 * address of the buffer the MDL describes: in the model an MDL is its bytes, so the
 * same Uint8Array. The model never runs short of system address space, so it never
 * returns NULL. Priority is LowPagePriority, NormalPagePriority or HighPagePriority,
 * optionally ORed with MdlMappingNoExecute or MdlMappingNoWrite (which the model does
 * not enforce). The MDL of an IRP that IoCompleteRequest completed is unlocked:
 * mapping it is NdisSim_ObjectFreedInUse.
 */
export function MmGetSystemAddressForMdlSafe(Mdl: Uint8Array, Priority: number): Uint8Array | null {
  const ddi = 'MmGetSystemAddressForMdlSafe';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  atMostDispatch(n, ddi);
  if (!(Mdl instanceof Uint8Array))
    n.verifier.fatal('NdisSim_BadParameter', ddi, adapter, notAnMdl(ddi, Mdl));
  const level = Priority & ~(MdlMappingNoExecute | MdlMappingNoWrite);
  if (
    !Number.isInteger(Priority) ||
    (level !== LowPagePriority && level !== NormalPagePriority && level !== HighPagePriority)
  )
    n.verifier.report(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: Priority ${String(Priority)} is not LowPagePriority, NormalPagePriority or HighPagePriority (optionally | MdlMappingNoExecute or MdlMappingNoWrite)`,
    );
  if (mdlUnlocked(n, Mdl))
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      adapter,
      `${ddi} on the MDL of a request (a read, a write or a METHOD_IN_DIRECT or METHOD_OUT_DIRECT control) that IoCompleteRequest completed already: the I/O manager unlocked the application's pages then; take what the driver needs from them before it completes the IRP`,
    );
  if (n.trace.on) n.traceDdi(ddi, null, { ByteCount: Mdl.length });
  return Mdl;
}

/**
 * The message for an Mdl that is none. NULL is the usual slip: Irp->MdlAddress of a
 * request that has no MDL (a DO_BUFFERED_IO device, a METHOD_BUFFERED code, a length
 * of 0), where a C driver would dereference NULL.
 */
function notAnMdl(ddi: string, Mdl: unknown): string {
  if (Mdl === null || Mdl === undefined)
    return `${ddi}: Mdl is NULL. Irp->MdlAddress is NULL for a request of a DO_BUFFERED_IO device (its data is in Irp->AssociatedIrp.SystemBuffer), for a METHOD_BUFFERED I/O control code, and for a request of length 0 (methods-for-accessing-data-buffers); check it first`;
  return `${ddi}: Mdl is not an MDL (a Uint8Array)`;
}

/**
 * ULONG MmGetMdlByteCount(Mdl) (wdm.h's macro, any IRQL): the length of the buffer the
 * MDL describes. The macro reads the MDL itself: the Irp->MdlAddress of a request that
 * IoCompleteRequest completed was freed with it, so reading it is NdisSim_ObjectFreedInUse.
 */
export function MmGetMdlByteCount(Mdl: Uint8Array): number {
  const ddi = 'MmGetMdlByteCount';
  const n = currentNdis(ddi);
  if (!(Mdl instanceof Uint8Array))
    n.verifier.fatal('NdisSim_BadParameter', ddi, n.runningAdapterName(), notAnMdl(ddi, Mdl));
  if (mdlUnlocked(n, Mdl))
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      n.runningAdapterName(),
      `${ddi} on the MDL of a request that IoCompleteRequest completed already: the I/O manager unlocked its pages and freed the MDL (Irp->MdlAddress) with the IRP; read the byte count before completing it`,
    );
  return Mdl.length;
}

// ---------------------------------------------------------------------------------
// Data access and the data start

export function netBuffer(n: Ndis, x: unknown, ddi: string): NET_BUFFER {
  const nb = x as NET_BUFFER | null;
  if (
    nb === null ||
    typeof nb !== 'object' ||
    typeof nb.DataOffset !== 'number' ||
    typeof nb.DataLength !== 'number'
  )
    return n.verifier.fatal('NdisSim_BadParameter', ddi, n.runningAdapterName(), `${ddi}: not a NET_BUFFER`);
  if (nb instanceof NbImpl && nb._freed)
    return n.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      nb._pool.block?.name ?? null,
      `${ddi} on a NET_BUFFER freed with NdisFreeNetBuffer`,
    );
  return nb;
}

/**
 * The bytes of `nb`. A NET_BUFFER whose bytes the model does not carry (Data null: the
 * simulated protocol's sends carry only a length) gets zeroed bytes on first access.
 */
function bytesOf(nb: NET_BUFFER): Uint8Array {
  nb.Data ??= new Uint8Array(nb.DataOffset + nb.DataLength);
  return nb.Data;
}

/**
 * PVOID NdisGetDataBuffer(NetBuffer, BytesNeeded, Storage, AlignMultiple, AlignOffset).
 * <= DISPATCH. NULL when the NET_BUFFER has fewer than BytesNeeded bytes. The model's
 * chain is always contiguous, so the answer is a view of the NET_BUFFER's own bytes when
 * their start is aligned as asked (an address is its offset in the buffer that holds it);
 * if not, the bytes are copied to Storage and Storage is returned, or NULL without one.
 */
export function NdisGetDataBuffer(
  NetBuffer: NET_BUFFER,
  BytesNeeded: number,
  Storage: Uint8Array | null,
  AlignMultiple: number,
  AlignOffset: number,
): Uint8Array | null {
  const ddi = 'NdisGetDataBuffer';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisGetDataBuffer, ddi, n.runningAdapterName());
  const nb = netBuffer(n, NetBuffer, ddi);
  const pow2 =
    Number.isInteger(AlignMultiple) && AlignMultiple >= 1 && (AlignMultiple & (AlignMultiple - 1)) === 0;
  if (!pow2 || !Number.isInteger(AlignOffset) || AlignOffset < 0 || AlignOffset >= AlignMultiple) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      n.runningAdapterName(),
      `${ddi}: AlignMultiple ${AlignMultiple} must be a power of two (1 for none) and AlignOffset ${AlignOffset} below it`,
    );
    return null;
  }
  if (!Number.isInteger(BytesNeeded) || BytesNeeded < 0 || nb.DataLength < BytesNeeded) return null;
  const bytes = bytesOf(nb);
  const view = bytes.subarray(nb.DataOffset, nb.DataOffset + BytesNeeded);
  let result: Uint8Array | null = view;
  if ((bytes.byteOffset + nb.DataOffset - AlignOffset) % AlignMultiple !== 0) {
    if (Storage !== null && (!(Storage instanceof Uint8Array) || Storage.length < BytesNeeded)) {
      n.verifier.fatal(
        'NdisSim_BadParameter',
        ddi,
        n.runningAdapterName(),
        `${ddi}: Storage must be a buffer of at least BytesNeeded (${BytesNeeded}) bytes`,
      );
      return null;
    }
    if (Storage !== null) Storage.set(view);
    result = Storage;
  }
  if (n.trace.on) n.traceDdi(ddi, null, { BytesNeeded, copied: result !== null && result !== view });
  return result;
}

/**
 * VOID NdisAdvanceNetBufferDataStart(NetBuffer, DataOffsetDelta, FreeMdl, FreeMdlHandler).
 * <= DISPATCH. Gives back DataOffsetDelta bytes of used data space. With FreeMdl, memory an
 * earlier retreat allocated that the data start has moved past is freed: the driver's own
 * MDL through FreeMdlHandler, and the NET_BUFFER's bytes are its own buffer again.
 */
export function NdisAdvanceNetBufferDataStart(
  NetBuffer: NET_BUFFER,
  DataOffsetDelta: number,
  FreeMdl: boolean,
  FreeMdlHandler: NET_BUFFER_FREE_MDL | null,
): void {
  const ddi = 'NdisAdvanceNetBufferDataStart';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisAdvanceNetBufferDataStart, ddi, n.runningAdapterName());
  const nb = netBuffer(n, NetBuffer, ddi);
  if (!Number.isInteger(DataOffsetDelta) || DataOffsetDelta < 0 || DataOffsetDelta > nb.DataLength) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      n.runningAdapterName(),
      `${ddi}: DataOffsetDelta ${DataOffsetDelta} is more than the ${nb.DataLength} bytes of used data space`,
    );
    return;
  }
  advance(n, nb, DataOffsetDelta, FreeMdl, FreeMdlHandler);
  if (n.trace.on) n.traceDdi(ddi, null, { DataOffsetDelta, FreeMdl });
}

/**
 * The advance of one NET_BUFFER whose used space holds `delta` bytes (checked). With
 * `freeMdl`, the memory of retreats past `keep` (how many stay) that the data start has
 * moved past is freed.
 */
function advance(
  n: Ndis,
  nb: NET_BUFFER,
  delta: number,
  freeMdl: boolean,
  free: NET_BUFFER_FREE_MDL | null,
  keep = 0,
): void {
  nb.DataOffset += delta;
  nb.DataLength -= delta;
  const stack = freeMdl ? n.nblApi?.retreats.get(nb) : undefined;
  while (stack !== undefined && stack.length > keep && nb.DataOffset >= stack[stack.length - 1]!.front) {
    const r = stack.pop()!;
    const data = nb.Data!;
    r.orig.set(data.subarray(r.front, r.front + (r.orig.length - r.origOffset)), r.origOffset);
    nb.DataOffset = r.origOffset + (nb.DataOffset - r.front);
    nb.Data = r.orig;
    if (r.mdl !== null) free?.(r.mdl);
  }
}

/**
 * NDIS_STATUS NdisRetreatNetBufferDataStart(NetBuffer, DataOffsetDelta, DataBackFill,
 * AllocateMdlHandler). <= DISPATCH. Takes DataOffsetDelta more bytes of used data space
 * in front of the data: from the unused space when DataOffset is large enough; if not,
 * from new memory of DataOffsetDelta + DataBackFill bytes (the driver's NetAllocateMdl,
 * or NDIS's), put in front of the data. Model limit: the chain is one buffer, so the new
 * memory and a copy of the used data make a new buffer; the driver's old buffer is
 * written back when an advance with FreeMdl frees the new memory.
 */
export function NdisRetreatNetBufferDataStart(
  NetBuffer: NET_BUFFER,
  DataOffsetDelta: number,
  DataBackFill: number,
  AllocateMdlHandler: NET_BUFFER_ALLOCATE_MDL | null,
): NDIS_STATUS {
  const ddi = 'NdisRetreatNetBufferDataStart';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql.NdisRetreatNetBufferDataStart, ddi, adapter);
  const nb = netBuffer(n, NetBuffer, ddi);
  if (
    !Number.isInteger(DataOffsetDelta) ||
    DataOffsetDelta < 0 ||
    !Number.isInteger(DataBackFill) ||
    DataBackFill < 0
  ) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: DataOffsetDelta ${DataOffsetDelta} and DataBackFill ${DataBackFill} must be byte counts`,
    );
    return NDIS_STATUS_FAILURE;
  }
  const status = retreat(n, nb, DataOffsetDelta, DataBackFill, AllocateMdlHandler, ddi);
  if (n.trace.on) n.traceDdi(ddi, null, { DataOffsetDelta, DataBackFill, Status: status });
  return status;
}

/** The retreat of one NET_BUFFER (sizes checked). */
function retreat(
  n: Ndis,
  nb: NET_BUFFER,
  delta: number,
  backFill: number,
  allocate: NET_BUFFER_ALLOCATE_MDL | null,
  ddi: string,
): NDIS_STATUS {
  if (delta > nb.DataOffset) return retreatIntoNewMemory(n, nb, delta, backFill, allocate, ddi);
  nb.DataOffset -= delta;
  nb.DataLength += delta;
  return NDIS_STATUS_SUCCESS;
}

/** The NET_BUFFERs of an NBL given to a DDI (stops on something else, or a freed NBL). */
function netBuffersOf(n: Ndis, x: unknown, ddi: string): NET_BUFFER[] {
  const nbl = x as NET_BUFFER_LIST | null;
  if (nbl === null || typeof nbl !== 'object' || !('FirstNetBuffer' in nbl))
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      n.runningAdapterName(),
      `${ddi}: not a NET_BUFFER_LIST`,
    );
  if (nbl instanceof NblImpl && nbl._place === 'free')
    return n.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      nbl._pool.block?.name ?? null,
      `${n.kernel.ctx.who} called ${ddi} on NBL #${nbl._id}, which its pool's owner freed already`,
    );
  const out: NET_BUFFER[] = [];
  for (let nb = nbl.FirstNetBuffer; nb !== null; nb = nb.Next) out.push(netBuffer(n, nb, ddi));
  return out;
}

/**
 * VOID NdisAdvanceNetBufferListDataStart(NetBufferList, DataOffsetDelta, FreeMdl,
 * FreeMdlHandler). <= DISPATCH. NdisAdvanceNetBufferDataStart for each NET_BUFFER of the
 * NBL (nf-nblapi-ndisadvancenetbufferlistdatastart). Each must hold DataOffsetDelta bytes
 * of used data space; if one does not, the call is NdisSim_BadParameter and none moves.
 */
export function NdisAdvanceNetBufferListDataStart(
  NetBufferList: NET_BUFFER_LIST,
  DataOffsetDelta: number,
  FreeMdl: boolean,
  FreeMdlHandler: NET_BUFFER_FREE_MDL | null,
): void {
  const ddi = 'NdisAdvanceNetBufferListDataStart';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql.NdisAdvanceNetBufferListDataStart, ddi, adapter);
  const nbs = netBuffersOf(n, NetBufferList, ddi);
  const short = nbs.findIndex((nb) => DataOffsetDelta > nb.DataLength);
  if (!Number.isInteger(DataOffsetDelta) || DataOffsetDelta < 0 || short >= 0)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      short >= 0
        ? `${ddi}: DataOffsetDelta ${DataOffsetDelta} is more than the ${nbs[short]!.DataLength} bytes of used data space of NET_BUFFER ${short + 1} of ${nbs.length}`
        : `${ddi}: DataOffsetDelta ${DataOffsetDelta} must be a byte count`,
    );
  for (const nb of nbs) advance(n, nb, DataOffsetDelta, FreeMdl, FreeMdlHandler);
  if (n.trace.on) n.traceDdi(ddi, null, { DataOffsetDelta, FreeMdl, netBuffers: nbs.length });
}

/**
 * NDIS_STATUS NdisRetreatNetBufferListDataStart(NetBufferList, DataOffsetDelta,
 * DataBackFill, AllocateMdlHandler, FreeMdlHandler). <= DISPATCH.
 * NdisRetreatNetBufferDataStart for each NET_BUFFER of the NBL
 * (nf-nblapi-ndisretreatnetbufferlistdatastart). If one fails, the NET_BUFFERs done
 * before it are advanced back, the memory this call allocated freed (FreeMdlHandler gets
 * the driver's MDLs; memory earlier retreats left in place stays), so the NBL is as it
 * was, and the status is the failure's.
 */
export function NdisRetreatNetBufferListDataStart(
  NetBufferList: NET_BUFFER_LIST,
  DataOffsetDelta: number,
  DataBackFill: number,
  AllocateMdlHandler: NET_BUFFER_ALLOCATE_MDL | null,
  FreeMdlHandler: NET_BUFFER_FREE_MDL | null,
): NDIS_STATUS {
  const ddi = 'NdisRetreatNetBufferListDataStart';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql.NdisRetreatNetBufferListDataStart, ddi, adapter);
  const nbs = netBuffersOf(n, NetBufferList, ddi);
  if (
    !Number.isInteger(DataOffsetDelta) ||
    DataOffsetDelta < 0 ||
    !Number.isInteger(DataBackFill) ||
    DataBackFill < 0
  )
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: DataOffsetDelta ${DataOffsetDelta} and DataBackFill ${DataBackFill} must be byte counts`,
    );
  let status: NDIS_STATUS = NDIS_STATUS_SUCCESS;
  // How many retreats into new memory each NET_BUFFER had before: a rollback frees only
  // this call's, not memory an earlier retreat left for later ones (an advance without
  // FreeMdl keeps it).
  const kept: number[] = [];
  let done = 0;
  for (; done < nbs.length; done++) {
    kept.push(n.nblApi?.retreats.get(nbs[done]!)?.length ?? 0);
    status = retreat(n, nbs[done]!, DataOffsetDelta, DataBackFill, AllocateMdlHandler, ddi);
    if (status !== NDIS_STATUS_SUCCESS) break;
  }
  if (status !== NDIS_STATUS_SUCCESS)
    for (let i = 0; i < done; i++) advance(n, nbs[i]!, DataOffsetDelta, true, FreeMdlHandler, kept[i]);
  if (n.trace.on)
    n.traceDdi(ddi, null, { DataOffsetDelta, DataBackFill, netBuffers: nbs.length, Status: status });
  return status;
}

/**
 * NDIS_STATUS NdisCopyFromNetBufferToNetBuffer(Destination, DestinationOffset,
 * BytesToCopy, Source, SourceOffset, BytesCopied). <= DISPATCH. Copies from SourceOffset
 * bytes past the source's data start to DestinationOffset bytes past the destination's,
 * and stops early when the source's used data or the destination's memory (its MDL chain
 * past the data start) runs out (nf-nblapi-ndiscopyfromnetbuffertonetbuffer). The
 * destination's DataLength and DataOffset stay as they are: the caller updates them.
 * BytesCopied, an out-parameter in C, is a field of the result; the status is
 * NDIS_STATUS_SUCCESS (the model never runs out of memory to map MDLs).
 */
export function NdisCopyFromNetBufferToNetBuffer(
  Destination: NET_BUFFER,
  DestinationOffset: number,
  BytesToCopy: number,
  Source: NET_BUFFER,
  SourceOffset: number,
): { Status: NDIS_STATUS; BytesCopied: number } {
  const ddi = 'NdisCopyFromNetBufferToNetBuffer';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql.NdisCopyFromNetBufferToNetBuffer, ddi, adapter);
  const dst = netBuffer(n, Destination, ddi);
  const src = netBuffer(n, Source, ddi);
  const count = (x: number) => Number.isInteger(x) && x >= 0;
  if (!count(DestinationOffset) || !count(BytesToCopy) || !count(SourceOffset))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: DestinationOffset ${DestinationOffset}, BytesToCopy ${BytesToCopy} and SourceOffset ${SourceOffset} must be byte counts`,
    );
  const from = src.DataOffset + SourceOffset;
  const to = dst.DataOffset + DestinationOffset;
  const into = bytesOf(dst);
  const k = Math.max(0, Math.min(BytesToCopy, src.DataLength - SourceOffset, into.length - to));
  if (k > 0) into.set(bytesOf(src).subarray(from, from + k), to);
  if (n.trace.on) n.traceDdi(ddi, null, { BytesToCopy, BytesCopied: k });
  return { Status: NDIS_STATUS_SUCCESS, BytesCopied: k };
}

function retreatIntoNewMemory(
  n: Ndis,
  nb: NET_BUFFER,
  delta: number,
  backFill: number,
  allocate: NET_BUFFER_ALLOCATE_MDL | null,
  ddi: string,
): NDIS_STATUS {
  const size = delta + backFill;
  let mdl: Uint8Array | null = null;
  let front = size;
  if (allocate !== null) {
    mdl = allocate(size);
    if (mdl === null) return NDIS_STATUS_RESOURCES;
    if (!(mdl instanceof Uint8Array) || mdl.length < size) {
      n.verifier.fatal(
        'NdisSim_BadParameter',
        ddi,
        n.runningAdapterName(),
        `${ddi}: the driver's NetAllocateMdl returned less than the ${size} bytes asked for`,
      );
      return NDIS_STATUS_FAILURE;
    }
    front = mdl.length;
  } else if (size > maxPoolBytes) {
    return NDIS_STATUS_RESOURCES;
  }
  const orig = bytesOf(nb);
  const used = orig.subarray(nb.DataOffset);
  const data = new Uint8Array(front + used.length);
  if (mdl !== null) data.set(mdl);
  data.set(used, front);
  const s = state(n);
  let stack = s.retreats.get(nb);
  if (stack === undefined) {
    stack = [];
    s.retreats.set(nb, stack);
  }
  stack.push({ front, orig, origOffset: nb.DataOffset, mdl });
  nb.Data = data;
  nb.DataOffset = front - delta;
  nb.DataLength += delta;
  return NDIS_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------
// The adapter's end

/**
 * What the adapter or filter module `owner` allocated with its handle and did not free:
 * its NET_BUFFER pools (taken off the list), the NET_BUFFERs still out of them, and its
 * MDLs (no longer counted as its). So each is reported once; all stay valid.
 */
function takeLeftovers(
  s: NblApiState,
  owner: MiniportBlock | FilterModule,
): { pools: number; nbs: number; mdls: number } {
  let pools = 0;
  let nbs = 0;
  for (let i = s.nbPools.length - 1; i >= 0; i--) {
    const p = s.nbPools[i]!;
    if (p.block !== owner && p.module !== owner) continue;
    pools++;
    nbs += p.allocated;
    s.nbPools.splice(i, 1);
  }
  let mdls = 0;
  for (const e of s.mdls.values()) {
    if (e.block === owner) e.block = null;
    else if (e.module === owner) e.module = null;
    else continue;
    mdls++;
  }
  return { pools, nbs, mdls };
}

/**
 * MiniportHaltEx returned, or MiniportInitializeEx failed (lifecycle.ts): NET_BUFFER pools
 * of the adapter handle still allocated join `left` (NdisSim_ResourceNotFreed); NET_BUFFERs
 * still out of them break NdisAllocateNetBuffer, MDLs of the adapter handle not freed
 * NdisAllocateMdl.
 */
export function nblApiLeftAtEnd(n: Ndis, b: MiniportBlock, fn: string, how: string, left: string[]): void {
  if (n.nblApi === null) return;
  const { pools, nbs, mdls } = takeLeftovers(n.nblApi, b);
  if (pools > 0) left.push(`${pools} NET_BUFFER pool(s) (NdisFreeNetBufferPool)`);
  if (nbs > 0)
    n.verifier.report(
      'NdisAllocateNetBuffer',
      fn,
      b.name,
      `${fn} ${how} with ${nbs} NET_BUFFER(s) from NdisAllocateNetBuffer not freed (NdisFreeNetBuffer)`,
      [b.name, nbs, 0],
    );
  if (mdls > 0)
    n.verifier.report(
      'NdisAllocateMdl',
      fn,
      b.name,
      `${fn} ${how} with ${mdls} MDL(s) from NdisAllocateMdl not freed (NdisFreeMdl)`,
      [b.name, mdls, 0],
    );
}

/**
 * FilterDetach returned, or FilterAttach failed (filter.ts): the NET_BUFFER pools and MDLs
 * the module allocated with its NdisFilterHandle and did not free join `left`
 * (NdisSim_ResourceNotFreed, with the module's other leftovers).
 */
export function nblApiLeftByModule(n: Ndis, m: FilterModule, left: string[]): void {
  if (n.nblApi === null) return;
  const { pools, nbs, mdls } = takeLeftovers(n.nblApi, m);
  if (pools > 0)
    left.push(
      `${pools} NET_BUFFER pool(s) (NdisFreeNetBufferPool)${nbs > 0 ? ` with ${nbs} NET_BUFFER(s) out` : ''}`,
    );
  if (mdls > 0) left.push(`${mdls} MDL(s) (NdisFreeMdl)`);
}
