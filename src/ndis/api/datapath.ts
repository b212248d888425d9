// Data-path DDIs of a miniport: NBL pools and NBLs, send completion, receive
// indication, OID completion (06-oid-datapath.md).

import { fmtTime } from '../../report/format.ts';
import { MiniportBlock, removeFrom } from '../block.ts';
import * as data from '../datapath.ts';
import { mdlUnlocked } from '../device.ts';
import { miniportDirectComplete } from '../direct-oid.ts';
import { FilterDriverBlock, FilterModule } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  MEMORY_ALLOCATION_ALIGNMENT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
} from '../generated/status.ts';
import { homePlace, NblImpl, NblPool, NbPool, type NET_BUFFER_LIST } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import { NdisGenericObject } from '../objects.ts';
import * as oid from '../oid.ts';
import { ProtocolDriverBlock } from '../protocol-driver.ts';
import type { NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_OID_REQUEST, NDIS_STATUS } from '../types.ts';
import {
  adapterHandle,
  currentNdis,
  lockHeldUpCall,
  nullChain,
  serviceHandle,
  stale,
  staleModule,
  stalePool,
} from './common.ts';
import { poolFreed, poolOfGenericObject } from './generic.ts';
import { contextSizes } from './nblapi.ts';
import { contextAtFree, initialContext } from './nblcontext.ts';

const irql = {
  NdisAllocateNetBufferListPool: ddiIrql.NdisAllocateNetBufferListPool!,
  NdisFreeNetBufferListPool: ddiIrql.NdisFreeNetBufferListPool!,
  NdisAllocateNetBufferAndNetBufferList: ddiIrql.NdisAllocateNetBufferAndNetBufferList!,
  NdisFreeNetBufferList: ddiIrql.NdisFreeNetBufferList!,
  NdisMSendNetBufferListsComplete: ddiIrql.NdisMSendNetBufferListsComplete!,
  NdisMIndicateReceiveNetBufferLists: ddiIrql.NdisMIndicateReceiveNetBufferLists!,
  NdisMOidRequestComplete: ddiIrql.NdisMOidRequestComplete!,
  NdisMDirectOidRequestComplete: ddiIrql.NdisMDirectOidRequestComplete!,
};

export interface NET_BUFFER_LIST_POOL_PARAMETERS {
  Header: NDIS_OBJECT_HEADER;
  ProtocolId: number;
  fAllocateNetBuffer: boolean;
  ContextSize: number;
  PoolTag: number;
  DataSize: number;
}

/**
 * NDIS_HANDLE NdisAllocateNetBufferListPool(NdisHandle, Parameters). <= DISPATCH.
 * NdisHandle ([in, optional], "obtained during caller initialization",
 * nf-nblapi-ndisallocatenetbufferlistpool): an adapter or miniport driver handle, a filter
 * module's NdisFilterHandle (its pool is the module's to free by the end of FilterDetach),
 * the NdisFilterDriverHandle (a pool of the driver: any of its modules may originate NBLs
 * from it), or NULL (the pool of the driver whose code calls). The same handles as
 * NdisAllocateNetBufferPool.
 */
export function NdisAllocateNetBufferListPool(
  NdisHandle: NDIS_HANDLE | null,
  Parameters: NET_BUFFER_LIST_POOL_PARAMETERS,
): NDIS_HANDLE | null {
  const ddi = 'NdisAllocateNetBufferListPool';
  if (NdisHandle instanceof FilterModule) return filterPool(NdisHandle, Parameters);
  if (NdisHandle instanceof NdisGenericObject)
    return poolOfGenericObject(
      NdisHandle,
      ddi,
      () => NdisAllocateNetBufferListPool(null, Parameters) as NblPool | null,
    );
  const n = currentNdis(ddi);
  const who = n.kernel.ctx.who;
  // obtaining-pool-handles: a protocol driver's pools come from its NdisProtocolHandle;
  // NULL from a protocol driver's code makes one too.
  const protocol =
    NdisHandle instanceof ProtocolDriverBlock
      ? NdisHandle
      : NdisHandle === null
        ? (n.protocolDrivers?.get(who) ?? null)
        : null;
  const h = NdisHandle === null || protocol !== null ? null : serviceHandle(NdisHandle, ddi);
  const b = h instanceof MiniportBlock ? h : null;
  n.verifier.irql(irql.NdisAllocateNetBufferListPool, ddi, b?.name ?? null);
  if (b !== null && stale(b, ddi)) return null;
  if (
    Parameters.Header.Type !== NDIS_OBJECT_TYPE_DEFAULT ||
    Parameters.Header.Revision !== NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1
  ) {
    return null;
  }
  poolParameters(n, ddi, b?.name ?? null, Parameters);
  if (protocol !== null) {
    if (n.trace.on) n.traceDdi(ddi, null, NdisHandle === null ? { NdisHandle: 'NULL' } : {});
    const pool = new NblPool(
      null,
      protocol.name,
      'protocol',
      Parameters.ContextSize,
      Parameters.DataSize,
      Parameters.fAllocateNetBuffer,
    );
    pool.madeIn = n.runningFunction();
    pool.madeNs = n.now;
    // Checked when the driver unloads (stop-protocol).
    protocol.pools ??= [];
    protocol.pools.push(pool);
    return pool;
  }
  // NULL: the pool is the calling driver's, as its driver handle would make it.
  const fd =
    h instanceof FilterDriverBlock
      ? h
      : h === null && who !== null
        ? (n.filterDrivers.get(who) ?? null)
        : null;
  const owner =
    fd !== null
      ? fd.name
      : h === null
        ? (who ?? 'NDIS')
        : h instanceof MiniportBlock
          ? h.driver.name
          : h.name;
  // fAllocateNetBuffer FALSE: NBLs without NET_BUFFERs, for NdisAllocateNetBufferList (api/nblapi.ts).
  const pool = new NblPool(
    b,
    owner,
    fd !== null ? 'filter' : 'miniport',
    Parameters.ContextSize,
    Parameters.DataSize,
    Parameters.fAllocateNetBuffer,
    null,
    fd,
  );
  pool.madeIn = n.runningFunction();
  pool.madeNs = n.now;
  if (b !== null) b.pools.push(pool);
  if (n.trace.on) n.traceDdi(ddi, b, h === null ? { NdisHandle: 'NULL' } : {});
  return pool;
}

/**
 * ns-nblapi-net_buffer_list_pool_parameters: ContextSize is a multiple of
 * MEMORY_ALLOCATION_ALIGNMENT, and a DataSize other than 0 needs fAllocateNetBuffer TRUE.
 * Anything else is NdisSim_BadParameter.
 */
function poolParameters(
  n: Ndis,
  ddi: string,
  adapter: string | null,
  p: NET_BUFFER_LIST_POOL_PARAMETERS,
): void {
  const c = p.ContextSize;
  const bad =
    !Number.isInteger(c) || c < 0 || c % MEMORY_ALLOCATION_ALIGNMENT !== 0
      ? `ContextSize ${c} is not a multiple of MEMORY_ALLOCATION_ALIGNMENT (${MEMORY_ALLOCATION_ALIGNMENT})`
      : p.DataSize !== 0 && !p.fAllocateNetBuffer
        ? `DataSize ${p.DataSize} with fAllocateNetBuffer FALSE: a pool whose NBLs get data buffers must allocate their NET_BUFFERs (fAllocateNetBuffer TRUE)`
        : null;
  if (bad !== null)
    n.verifier.fatal('NdisSim_BadParameter', ddi, adapter, `${ddi}: NET_BUFFER_LIST_POOL_PARAMETERS: ${bad}`);
}

/** NdisAllocateNetBufferListPool with an NdisFilterHandle: NBLs the module originates. */
function filterPool(m: FilterModule, Parameters: NET_BUFFER_LIST_POOL_PARAMETERS): NblPool | null {
  const ddi = 'NdisAllocateNetBufferListPool';
  const n = m.block.ndis;
  n.verifier.irql(irql.NdisAllocateNetBufferListPool, ddi, m.block.name);
  if (staleModule(m, ddi, n)) return null;
  if (
    Parameters.Header.Type !== NDIS_OBJECT_TYPE_DEFAULT ||
    Parameters.Header.Revision !== NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1
  ) {
    return null;
  }
  poolParameters(n, ddi, m.block.name, Parameters);
  const pool = new NblPool(
    m.block,
    m.driver.name,
    'filter',
    Parameters.ContextSize,
    Parameters.DataSize,
    Parameters.fAllocateNetBuffer,
    m,
  );
  pool.madeIn = n.runningFunction();
  pool.madeNs = n.now;
  data.moduleData(m).pools.push(pool);
  if (n.trace.on) n.traceDdi(ddi, m.block, { module: m.name });
  return pool;
}

export function poolOf(x: unknown, ddi: string): NblPool {
  if (x instanceof NblPool && !x.freed) return x;
  const n = currentNdis(ddi);
  if (x instanceof NblPool)
    return n.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      x.block?.name ?? null,
      `${ddi} on a freed pool${x.freedBy === null ? '' : `: NdisFreeNetBufferListPool freed it in ${x.freedBy.fn ?? 'driver code'} on CPU ${x.freedBy.cpu} at ${fmtTime(x.freedBy.ns)}`}`,
    );
  const what = x instanceof NbPool ? 'a NET_BUFFER pool (NdisAllocateNetBufferPool), ' : '';
  // NULL: in C a NULL dereference; most often a handle the driver cleared when it freed the pool.
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    x === null || x === undefined
      ? `${ddi}: the NBL pool handle is NULL (never allocated, or cleared when the driver freed the pool)`
      : `${ddi}: ${what}not an NBL pool handle`,
  );
}

/** VOID NdisFreeNetBufferListPool(PoolHandle). <= DISPATCH; every NBL must be back. */
export function NdisFreeNetBufferListPool(PoolHandle: NDIS_HANDLE): void {
  const ddi = 'NdisFreeNetBufferListPool';
  const pool = poolOf(PoolHandle, ddi);
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisFreeNetBufferListPool, ddi, pool.block?.name ?? null);
  if (pool.allocated > 0) {
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      pool.block?.name ?? null,
      `NBL pool freed with ${pool.allocated} NBL(s) still allocated from it`,
    );
  }
  pool.freed = true;
  pool.freedBy = { fn: n.runningFunction(), cpu: n.kernel.ctx.cpu, ns: n.now };
  poolFreed(pool);
  // Named as the allocation named it: a filter module's pool by its module, as every filter DDI.
  if (n.trace.on)
    n.traceDdi(
      ddi,
      pool.block,
      pool.kind === 'protocol'
        ? { protocol: pool.owner }
        : pool.module !== null
          ? { module: pool.module.name }
          : {},
    );
  if (pool.kind === 'protocol') {
    const pools = n.protocolDrivers?.get(pool.owner)?.pools;
    if (pools != null) removeFrom(pools, pool);
  } else if (pool.module !== null) removeFrom(data.moduleData(pool.module).pools, pool);
  else if (pool.block !== null) removeFrom(pool.block.pools, pool);
}

/**
 * What is wrong with the MdlChain, DataOffset and DataLength of a NET_BUFFER to be
 * allocated, or null (the NdisAllocateNetBuffer and NdisAllocateNetBufferAndNetBufferList
 * pages): byte counts; with no MDL chain both 0; with one, no more than it holds.
 */
export function netBufferRangeProblem(
  MdlChain: Uint8Array | null,
  DataOffset: number,
  DataLength: number,
): string | null {
  if (MdlChain !== null && !(MdlChain instanceof Uint8Array))
    return 'MdlChain is not an MDL chain (a Uint8Array)';
  if (!Number.isInteger(DataOffset) || DataOffset < 0 || !Number.isInteger(DataLength) || DataLength < 0)
    return `DataOffset ${DataOffset} and DataLength ${DataLength} must be byte counts`;
  if (MdlChain === null)
    return DataOffset !== 0 || DataLength !== 0
      ? `with no MdlChain, DataOffset and DataLength must be 0 (they are ${DataOffset} and ${DataLength}); pass the buffer as the MDL chain`
      : null;
  return DataOffset + DataLength > MdlChain.length
    ? `the MDL chain holds ${MdlChain.length} bytes, fewer than DataOffset + DataLength (${DataOffset + DataLength})`
    : null;
}

/**
 * An MDL chain that was a read or write IRP's MDL, after IoCompleteRequest unlocked its
 * pages: the NET_BUFFER would describe memory the application has back.
 */
export function unlockedMdlChain(
  n: Ndis,
  ddi: string,
  adapter: string | null,
  MdlChain: Uint8Array | null,
): void {
  if (MdlChain !== null && mdlUnlocked(n, MdlChain))
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      adapter,
      `${ddi}: the MDL chain is the Irp->MdlAddress of a request (a read, a write or a direct-I/O control) that IoCompleteRequest completed already, which unlocked the application's pages; complete the IRP only when the NET_BUFFER is done with them`,
    );
}

/**
 * PNET_BUFFER_LIST NdisAllocateNetBufferAndNetBufferList(PoolHandle, ContextSize,
 * ContextBackFill, MdlChain, DataOffset, DataLength). <= DISPATCH. The MDL chain is
 * the frame's bytes (a Uint8Array), or null with DataOffset and DataLength 0. The
 * pool has fAllocateNetBuffer TRUE and DataSize 0 (the page). Its context space is as
 * NdisAllocateNetBufferList's.
 */
export function NdisAllocateNetBufferAndNetBufferList(
  PoolHandle: NDIS_HANDLE,
  ContextSize: number,
  ContextBackFill: number,
  MdlChain: Uint8Array | null,
  DataOffset: number,
  DataLength: number,
): NET_BUFFER_LIST | null {
  const ddi = 'NdisAllocateNetBufferAndNetBufferList';
  const pool = poolOf(PoolHandle, ddi);
  const n = currentNdis(ddi);
  const adapter = pool.block?.name ?? null;
  n.verifier.irql(irql.NdisAllocateNetBufferAndNetBufferList, ddi, adapter);
  // As NdisAllocateNetBufferList: a pool of an adapter handle dies with the handle.
  if (stalePool(pool, ddi, n)) return null;
  // The page: the pool must have been allocated with fAllocateNetBuffer TRUE and DataSize 0.
  const bad = !pool.allocateNetBuffer
    ? 'on a pool allocated with fAllocateNetBuffer FALSE: its NBLs have no NET_BUFFER; use NdisAllocateNetBufferList and NdisAllocateNetBuffer'
    : pool.dataSize !== 0
      ? `on a pool whose DataSize is ${pool.dataSize}, not 0: NdisAllocateNetBufferList gives such a pool's NBLs their data buffers; this call takes the caller's MDL chain`
      : netBufferRangeProblem(MdlChain, DataOffset, DataLength);
  if (bad !== null) {
    n.verifier.fatal('NdisSim_BadParameter', ddi, adapter, `${ddi}: ${bad}`);
    return null;
  }
  contextSizes(n, ddi, adapter, ContextSize, ContextBackFill);
  unlockedMdlChain(n, ddi, adapter, MdlChain);
  const nbl = allocateNbl(n, pool, MdlChain, DataOffset, DataLength);
  if (pool.contextSize + ContextSize + ContextBackFill > 0)
    initialContext(n, nbl, pool, ContextSize, ContextBackFill);
  if (n.trace.on) n.traceDdi(ddi, pool.block, { nbl: nbl._id, dataLength: DataLength });
  return nbl;
}

export function allocateNbl(
  n: Ndis,
  pool: NblPool,
  data: Uint8Array | null,
  offset: number,
  length: number,
): NblImpl {
  pool.allocated++;
  return new NblImpl(
    pool,
    { Next: null, DataLength: length, DataOffset: offset, Data: data },
    homePlace(pool),
    n.nextNblId++,
  );
}

/** VOID NdisFreeNetBufferList(NetBufferList). <= DISPATCH; only an NBL its owner holds. */
export function NdisFreeNetBufferList(NetBufferList: NET_BUFFER_LIST): void {
  const ddi = 'NdisFreeNetBufferList';
  const n = currentNdis(ddi);
  if (!(NetBufferList instanceof NblImpl)) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: not an NBL from NdisAllocateNetBufferList or NdisAllocateNetBufferAndNetBufferList`,
    );
  }
  const nbl = NetBufferList as NblImpl;
  n.verifier.irql(irql.NdisFreeNetBufferList, ddi, nbl._pool.block?.name ?? null);
  if (nbl._clone !== null)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      nbl._pool.block?.name ?? null,
      `${ddi}: NBL #${nbl._id} is a clone (NdisAllocateCloneNetBufferList); free it with NdisFreeCloneNetBufferList`,
    );
  freeNbl(n, nbl, ddi);
}

/** Where an NBL that is not with its owner is, for a message about freeing it. */
function heldWhere(nbl: NblImpl): string {
  const by = nbl._holder !== null ? ` by filter module ${nbl._holder.name}` : '';
  switch (nbl._place) {
    case 'free':
      return 'it is free already (freed twice)';
    case 'miniport-send':
      return 'it is in flight: sent down, and not yet completed back to its originator';
    case 'indicated':
      return 'it is in flight: indicated up, and not yet returned to its originator';
    case 'filter-send':
      return `it is a send held${by}`;
    case 'filter-receive':
      return `it is a receive held${by}`;
    case 'protocol':
      return 'it is with the protocol that sent it';
    case 'miniport':
      return 'it is with the miniport that indicated it';
    case 'filter':
      return `it is with filter module ${nbl._holder?.name ?? nbl._pool.owner}`;
  }
}

export function freeNbl(n: Ndis, nbl: NblImpl, ddi: string): void {
  const owned = nbl._place === homePlace(nbl._pool);
  if (!owned) {
    // The caller is whoever runs now: the driver whose code called the DDI.
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      nbl._pool.block?.name ?? null,
      `${n.kernel.ctx.who} freed NBL #${nbl._id} (from a pool of ${nbl._pool.owner}) with ${ddi} while ${heldWhere(nbl)}`,
    );
    return;
  }
  if (nbl._ctx !== null) contextAtFree(n, nbl, ddi, nbl._pool.block?.name ?? null);
  nbl._place = 'free';
  nbl._pool.allocated--;
}

/** VOID NdisMSendNetBufferListsComplete(MiniportAdapterHandle, NetBufferList, SendCompleteFlags). <= DISPATCH. */
export function NdisMSendNetBufferListsComplete(
  MiniportAdapterHandle: NDIS_HANDLE,
  NetBufferList: NET_BUFFER_LIST | null,
  SendCompleteFlags: number,
): void {
  const ddi = 'NdisMSendNetBufferListsComplete';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMSendNetBufferListsComplete, ddi, b.name);
  if (stale(b, ddi)) return;
  nullChain(n, NetBufferList, ddi, 'NetBufferList', b.name);
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, b.name, ddi, 'R8.11');
  data.miniportSendComplete(n, b, NetBufferList, SendCompleteFlags);
}

/**
 * VOID NdisMIndicateReceiveNetBufferLists(MiniportAdapterHandle, NetBufferList, PortNumber,
 * NumberOfNetBufferLists, ReceiveFlags). <= DISPATCH.
 */
export function NdisMIndicateReceiveNetBufferLists(
  MiniportAdapterHandle: NDIS_HANDLE,
  NetBufferList: NET_BUFFER_LIST | null,
  PortNumber: number,
  NumberOfNetBufferLists: number,
  ReceiveFlags: number,
): void {
  const ddi = 'NdisMIndicateReceiveNetBufferLists';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMIndicateReceiveNetBufferLists, ddi, b.name);
  if (stale(b, ddi)) return;
  nullChain(n, NetBufferList, ddi, 'NetBufferList', b.name);
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, b.name, ddi, 'R8.11');
  data.miniportIndicate(n, b, NetBufferList, PortNumber, NumberOfNetBufferLists, ReceiveFlags);
}

/** VOID NdisMOidRequestComplete(MiniportAdapterHandle, OidRequest, Status). <= DISPATCH (R6.3). */
export function NdisMOidRequestComplete(
  MiniportAdapterHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  Status: NDIS_STATUS,
): void {
  const ddi = 'NdisMOidRequestComplete';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMOidRequestComplete, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on) n.traceDdi(ddi, b, { Oid: oid.oidName(OidRequest.DATA.Oid), Status });
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, b.name, ddi, 'R8.11');
  oid.miniportComplete(n, b, OidRequest, Status);
}

/**
 * VOID NdisMDirectOidRequestComplete(MiniportAdapterHandle, OidRequest, Status).
 * <= DISPATCH. Completes a direct request MiniportDirectOidRequest pended; the
 * completion goes to the driver that issued it (direct-oid.ts).
 */
export function NdisMDirectOidRequestComplete(
  MiniportAdapterHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
  Status: NDIS_STATUS,
): void {
  const ddi = 'NdisMDirectOidRequestComplete';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMDirectOidRequestComplete, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on) n.traceDdi(ddi, b, { Oid: oid.oidName(OidRequest.DATA.Oid), Status });
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, b.name, ddi, 'R8.11');
  miniportDirectComplete(n, b, OidRequest, Status);
}
