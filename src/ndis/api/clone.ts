// Clone NBLs: NdisAllocateCloneNetBufferList and NdisFreeCloneNetBufferList
// (nf-nblapi-ndisallocateclonenetbufferlist, cloned-net-buffer-list-structures,
// relationships-between-net-buffer-list-generations).
//
// A clone is a new NBL with new NET_BUFFERs that describe the original's data from the
// start of its used space: the bytes are shared, not copied. The clone belongs to the
// pool it came from, like any NBL of that pool: a filter module's clone is its own NBL,
// which comes back to its FilterSendNetBufferListsComplete or FilterReturnNetBufferLists.
// Without a pool handle the clone comes from NDIS's own pool for whoever holds the
// original (you clone what you hold). The driver keeps ParentNetBufferList and
// ChildRefCount; NDIS does not. What it does check: the parent stays with the driver
// until every clone of it is freed (NdisSim_CloneOutlivesParent), and a clone is freed
// with NdisFreeCloneNetBufferList and the flags it was made with.

import { NotModelledError } from '../../errors.ts';
import { MiniportBlock } from '../block.ts';
import type { FilterModule } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import { NDIS_CLONE_FLAGS_RESERVED, NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS } from '../generated/status.ts';
import { homePlace, NblImpl, NblPool, NbPool, type NET_BUFFER, type NET_BUFFER_LIST } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import type { NDIS_HANDLE, ULONG } from '../types.ts';
import { currentNdis, stalePool } from './common.ts';
import { freeNbl, poolOf } from './datapath.ts';

const irql = {
  NdisAllocateCloneNetBufferList: ddiIrql.NdisAllocateCloneNetBufferList!,
  NdisFreeCloneNetBufferList: ddiIrql.NdisFreeCloneNetBufferList!,
};

/** The flags a driver may pass; NDIS_CLONE_FLAGS_RESERVED is NDIS's own. */
const cloneFlagsAllowed = NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS;

/** Who holds `nbl` now, as the owner of a clone made of it: a filter module, an adapter, or nobody the model can tell. */
function holderOf(nbl: NblImpl): FilterModule | MiniportBlock | null {
  switch (nbl._place) {
    case 'filter':
    case 'filter-send':
    case 'filter-receive':
      return nbl._holder;
    case 'miniport':
      return nbl._pool.block;
    case 'miniport-send':
      return nbl._block;
    default:
      return null;
  }
}

/** NDIS's own pool for clones made without a pool handle, kept on their holder. */
function ownPool(h: FilterModule | MiniportBlock): NblPool {
  h.clonePool ??=
    h instanceof MiniportBlock
      ? new NblPool(h, h.name, 'miniport', 0, 0, false)
      : new NblPool(h.block, h.name, 'filter', 0, 0, false, h);
  return h.clonePool;
}

function nblArgument(n: Ndis, x: unknown, ddi: string, what: string): NblImpl {
  if (x instanceof NblImpl && x._place !== 'free') return x;
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: ${what} is ${x instanceof NblImpl ? `NBL #${x._id}, which is free` : 'not an NBL NDIS allocated'}`,
  );
}

/**
 * PNET_BUFFER_LIST NdisAllocateCloneNetBufferList(OriginalNetBufferList,
 * NetBufferListPoolHandle, NetBufferPoolHandle, AllocateCloneFlags). <= DISPATCH.
 */
export function NdisAllocateCloneNetBufferList(
  OriginalNetBufferList: NET_BUFFER_LIST,
  NetBufferListPoolHandle: NDIS_HANDLE | null,
  NetBufferPoolHandle: NDIS_HANDLE | null,
  AllocateCloneFlags: ULONG,
): NET_BUFFER_LIST | null {
  const ddi = 'NdisAllocateCloneNetBufferList';
  const n = currentNdis(ddi);
  const original = nblArgument(n, OriginalNetBufferList, ddi, 'OriginalNetBufferList');
  const holder = holderOf(original);
  const adapter = holder instanceof MiniportBlock ? holder : (holder?.block ?? null);
  n.verifier.irql(irql.NdisAllocateCloneNetBufferList, ddi, adapter?.name ?? null);
  if ((AllocateCloneFlags & ~cloneFlagsAllowed) !== 0)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter?.name ?? null,
      `${ddi}: AllocateCloneFlags 0x${AllocateCloneFlags.toString(16)} has bits other than NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS${(AllocateCloneFlags & NDIS_CLONE_FLAGS_RESERVED) !== 0 ? ' (NDIS_CLONE_FLAGS_RESERVED is NDIS’s own)' : ''}`,
    );
  if (NetBufferPoolHandle !== null && !(NetBufferPoolHandle instanceof NbPool && !NetBufferPoolHandle.freed))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter?.name ?? null,
      `${ddi}: NetBufferPoolHandle is not a NET_BUFFER pool from NdisAllocateNetBufferPool (or NULL)`,
    );
  let pool: NblPool;
  if (NetBufferListPoolHandle !== null) pool = poolOf(NetBufferListPoolHandle, ddi);
  else if (holder !== null) pool = ownPool(holder);
  else
    throw new NotModelledError(
      ddi,
      `a clone without a pool handle of NBL #${original._id}, which a protocol holds (${original._place}): pass the NBL pool the clone is to come from`,
    );
  if (stalePool(pool, ddi, n)) return null;
  // New NET_BUFFERs over the original's bytes, from the start of their used space.
  let first: NET_BUFFER | null = null;
  let last: NET_BUFFER | null = null;
  let nbs = 0;
  for (let nb = original.FirstNetBuffer; nb !== null; nb = nb.Next) {
    const bytes = nb.Data === null ? null : nb.Data.subarray(nb.DataOffset, nb.DataOffset + nb.DataLength);
    const copy: NET_BUFFER = { Next: null, DataLength: nb.DataLength, DataOffset: 0, Data: bytes };
    if (last === null) first = copy;
    else last.Next = copy;
    last = copy;
    nbs++;
  }
  pool.allocated++;
  // The clone's NET_BUFFERs come from NetBufferPoolHandle when it is given: they are
  // out of that pool until the clone is freed, as NdisAllocateNetBuffer's are, so
  // NdisFreeNetBufferPool before NdisFreeCloneNetBufferList frees a pool in use.
  const nbPool = NetBufferPoolHandle instanceof NbPool ? NetBufferPoolHandle : null;
  if (nbPool !== null) nbPool.allocated += nbs;
  const clone = new NblImpl(pool, first, homePlace(pool), n.nextNblId++);
  clone._clone = {
    original,
    place: original._place,
    holder: original._holder,
    since: original._sinceNs,
    flags: AllocateCloneFlags,
    nbPool,
    nbs: nbPool === null ? 0 : nbs,
  };
  if (n.trace.on)
    n.traceDdi(ddi, adapter, {
      original: original._id,
      clone: clone._id,
      useOriginalMdls: (AllocateCloneFlags & NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS) !== 0,
    });
  return clone;
}

/** VOID NdisFreeCloneNetBufferList(CloneNetBufferList, FreeCloneFlags). <= DISPATCH. */
export function NdisFreeCloneNetBufferList(CloneNetBufferList: NET_BUFFER_LIST, FreeCloneFlags: ULONG): void {
  const ddi = 'NdisFreeCloneNetBufferList';
  const n = currentNdis(ddi);
  const clone = nblArgument(n, CloneNetBufferList, ddi, 'CloneNetBufferList');
  const adapter = clone._pool.block?.name ?? null;
  n.verifier.irql(irql.NdisFreeCloneNetBufferList, ddi, adapter);
  const c =
    clone._clone ??
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: NBL #${clone._id} is not a clone (NdisAllocateCloneNetBufferList); free it with NdisFreeNetBufferList`,
    );
  // The page: the free says how the clone was made, or NDIS frees MDLs that are the original's.
  const mdls = NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS;
  if ((FreeCloneFlags & mdls) !== (c.flags & mdls))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: NBL #${clone._id} was cloned ${(c.flags & mdls) !== 0 ? 'with' : 'without'} NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS and is freed ${(FreeCloneFlags & mdls) !== 0 ? 'with' : 'without'} it: NDIS would free ${(c.flags & mdls) !== 0 ? 'the original’s MDLs' : 'MDLs it never frees otherwise, or leak them'}`,
    );
  // The page: the same flags as the allocation, which allows no bit but that one.
  if ((FreeCloneFlags & ~mdls) !== 0)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: FreeCloneFlags 0x${(FreeCloneFlags >>> 0).toString(16)} has bits other than NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS${(FreeCloneFlags & NDIS_CLONE_FLAGS_RESERVED) !== 0 ? ' (NDIS_CLONE_FLAGS_RESERVED is NDIS’s own)' : ''}; pass the flags the clone was allocated with (nf-nblapi-ndisfreeclonenetbufferlist)`,
    );
  const o = c.original;
  if (o._place !== c.place || o._holder !== c.holder || o._sinceNs !== c.since) {
    const now =
      o._place === 'free'
        ? 'freed'
        : o._place === c.place && o._holder === c.holder
          ? 'given back and handed over again'
          : `given on (${o._place})`;
    n.verifier.report(
      'NdisSim_CloneOutlivesParent',
      ddi,
      adapter,
      `NBL #${clone._id}, a clone of NBL #${o._id}, freed after its parent was ${now}: the clone describes the parent's data, so the parent stays with the driver that cloned it until every clone is freed (relationships-between-net-buffer-list-generations)`,
    );
  }
  if (c.nbPool !== null) c.nbPool.allocated -= c.nbs;
  freeNbl(n, clone, ddi);
  if (n.trace.on) n.traceDdi(ddi, clone._pool.block, { clone: clone._id, original: o._id });
}
