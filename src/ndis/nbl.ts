// NET_BUFFER_LIST and NET_BUFFER: the unit of the data path. Chains are linked
// through `Next` as in C. NDIS tracks who holds each NBL so that completion
// exactly once and return exactly once can be checked (R6.9, R6.13).

import type { Binding } from './binding.ts';
import type { MiniportBlock } from './block.ts';
import type { FilterDriverBlock, FilterModule } from './filter.ts';
import { type NdisGenericObject, placeText } from './objects.ts';
import type { NDIS_HANDLE, NDIS_STATUS } from './types.ts';

export interface NET_BUFFER {
  Next: NET_BUFFER | null;
  DataLength: number;
  DataOffset: number;
  /** Frame bytes (the MDL chain in C), or null when only lengths matter. */
  Data: Uint8Array | null;
}

/**
 * A block of NBL context space (ns-nbl-net_buffer_list_context): `Size` bytes of
 * `ContextData`, of which the first `Offset` are unused and the rest are in use. Each
 * driver that needs space takes it from the front of the used part
 * (NdisAllocateNetBufferListContext) and gives it back (NdisFreeNetBufferListContext); a
 * block NDIS added for a call that did not fit goes when its last byte is freed.
 */
export interface NET_BUFFER_LIST_CONTEXT {
  Next: NET_BUFFER_LIST_CONTEXT | null;
  Size: number;
  Offset: number;
  ContextData: Uint8Array;
}

export interface NET_BUFFER_LIST {
  Next: NET_BUFFER_LIST | null;
  FirstNetBuffer: NET_BUFFER | null;
  Status: NDIS_STATUS;
  SourceHandle: NDIS_HANDLE | null;
  Flags: number;
  NblFlags: number;
  /** Scratch space of the current owner (MiniportReserved / ProtocolReserved in C). */
  MiniportReserved: [unknown, unknown];
  ProtocolReserved: [unknown, unknown, unknown, unknown];
  /** NDIS_SET/GET_NET_BUFFER_LIST_CANCEL_ID. */
  CancelId: unknown;
  /**
   * A derived NBL's parent (a clone's original) and the parent's count of children:
   * NDIS sets them to null and 0 and the driver that derives NBLs keeps them
   * (relationships-between-net-buffer-list-generations).
   */
  ParentNetBufferList: NET_BUFFER_LIST | null;
  ChildRefCount: number;
  /**
   * Its context space (NET_BUFFER_LIST_CONTEXT_DATA_START), or null: the pool's
   * ContextSize preallocates it, NdisAllocateNetBufferListContext adds to it.
   */
  Context: NET_BUFFER_LIST_CONTEXT | null;
}

/** Who took a piece of an NBL's context space: a driver's name and how many bytes, the newest last. */
export interface ContextPiece {
  readonly who: string;
  size: number;
  /** NdisSim_NblContext reported it already (left in place): said once. */
  reported: boolean;
  /** The ContextSize NdisAllocateNetBufferList gave: it goes with the NBL, not freed on its own. */
  readonly initial?: boolean;
}

/**
 * Where an NBL is (NDIS's view). A protocol's send: 'protocol' → 'miniport-send'
 * → 'protocol'. A miniport's receive: 'miniport' → 'indicated' → 'miniport'.
 * Through filter modules (R7.5, datapath.ts): 'filter-send' is a send a module got
 * from above (FilterSendNetBufferLists, or back in FilterSendNetBufferListsComplete),
 * 'filter-receive' a receive it got from below; 'filter' is a module's own NBL at
 * home. `_holder` names the module.
 */
export type NblPlace =
  | 'protocol'
  | 'miniport-send'
  | 'miniport'
  | 'indicated'
  | 'filter'
  | 'filter-send'
  | 'filter-receive'
  | 'free';

export class NblPool implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_NBL_POOL';
  freed = false;
  /**
   * Where NdisFreeNetBufferListPool freed it, for a message about a later use: the
   * function running (null: driver code), its CPU and the time; formatted only then.
   */
  freedBy: { fn: string | null; cpu: number; ns: number } | null = null;
  allocated = 0;
  /**
   * The driver callback that allocated it with NdisAllocateNetBufferListPool, and when
   * (objects.ts placeText), for the report of a pool not freed (R2.10); null and -1 for
   * NDIS's own pools.
   */
  madeIn: string | null = null;
  madeNs = -1;
  /** The generic object allocated as its handle, which may not be freed before it. */
  generic: NdisGenericObject | null = null;
  constructor(
    /** The adapter whose handle allocated it, or null for a driver or protocol pool. */
    readonly block: MiniportBlock | null,
    readonly owner: string,
    /** Whose NBLs: a miniport's (receives), a protocol's (sends) or a filter module's (either). */
    readonly kind: 'miniport' | 'protocol' | 'filter',
    readonly contextSize: number,
    readonly dataSize: number,
    /** fAllocateNetBuffer: each NBL comes with a NET_BUFFER of its own. */
    readonly allocateNetBuffer = true,
    /** The filter module whose NdisFilterHandle allocated it (kind 'filter'). */
    readonly module: FilterModule | null = null,
    /**
     * The filter driver whose NdisFilterDriverHandle (or NULL, from its code) allocated
     * it (kind 'filter', `module` null): a pool any of its modules may originate NBLs from.
     */
    readonly filterDriver: FilterDriverBlock | null = null,
  ) {}

  /** Where the driver allocated it, for a report of a pool not freed (R2.10). */
  origin(): { label: string; at: string } {
    return { label: 'Made in', at: `${placeText(this.madeIn, this.madeNs)} (NdisAllocateNetBufferListPool)` };
  }
}

/** Where a new NBL of `pool` is: with its owner. */
export function homePlace(pool: NblPool): NblPlace {
  return pool.kind === 'protocol' ? 'protocol' : pool.kind === 'filter' ? 'filter' : 'miniport';
}

/** A pool of stand-alone NET_BUFFERs (NdisAllocateNetBufferPool, api/nblapi.ts). */
export class NbPool implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_NB_POOL';
  freed = false;
  /** NET_BUFFERs allocated from it and not freed. */
  allocated = 0;
  /** The generic object allocated as its handle, which may not be freed before it. */
  generic: NdisGenericObject | null = null;
  constructor(
    /** The adapter whose handle allocated it, or null for a driver pool. */
    readonly block: MiniportBlock | null,
    readonly owner: string,
    readonly dataSize: number,
    /** The filter module whose NdisFilterHandle allocated it, if one did (checked at FilterDetach). */
    readonly module: FilterModule | null = null,
  ) {}
}

export class NblImpl implements NET_BUFFER_LIST {
  Next: NET_BUFFER_LIST | null = null;
  FirstNetBuffer: NET_BUFFER | null;
  Status: NDIS_STATUS = 0;
  SourceHandle: NDIS_HANDLE | null = null;
  Flags = 0;
  NblFlags = 0;
  MiniportReserved: [unknown, unknown] = [null, null];
  ProtocolReserved: [unknown, unknown, unknown, unknown] = [null, null, null, null];
  CancelId: unknown = null;
  ParentNetBufferList: NET_BUFFER_LIST | null = null;
  ChildRefCount = 0;
  Context: NET_BUFFER_LIST_CONTEXT | null = null;

  /** @internal */ _place: NblPlace;
  /** @internal The pieces of context space in use and who took them (api/nblcontext.ts), or null. */
  _ctx: ContextPiece[] | null = null;
  /** @internal What NdisAllocateCloneNetBufferList made it of, or null (api/clone.ts). */
  _clone: CloneOf | null = null;
  /** @internal Adapter it is on while sent or indicated. */ _block: MiniportBlock | null = null;
  /** @internal Binding that sent it, or that holds it as a receive. */ _binding: Binding | null = null;
  /** @internal Protocols still holding an indicated NBL. */ _refs = 0;
  /** @internal Virtual time it was handed to the miniport or indicated (ns). */ _sinceNs = 0;
  /** @internal NdisTimedDataSend already reported it. */ _timedOut = false;
  /**
   * @internal The NET_BUFFER list it had when NDIS handed it to MiniportSendNetBufferLists:
   * its first and last NET_BUFFER and how many; the completion must give the same back (R6.9).
   */
  _sentFirstNb: NET_BUFFER | null = null;
  /** @internal See _sentFirstNb. */ _sentLastNb: NET_BUFFER | null = null;
  /** @internal See _sentFirstNb. */ _sentNbCount = 0;
  /** @internal When the miniport last completed it as a send (ns; -1 never): a double completion says so. */
  _completedNs = -1;
  /** @internal The filter module that holds it ('filter', 'filter-send', 'filter-receive'). */
  _holder: FilterModule | null = null;
  /**
   * @internal The filter module that originated it (pool kind 'filter'): the pool's
   * module, or, from a filter driver's pool, the module that first sent or indicated it.
   */
  _origin: FilterModule | null = null;
  /**
   * @internal The filter module that last got it with NDIS_RECEIVE_FLAGS_RESOURCES (in
   * its FilterReceiveNetBufferLists); cleared when the miniport indicates it without the
   * flag. A module that uses it later kept it past the return (the message says so).
   */
  _resourcesWith: FilterModule | null = null;
  /**
   * @internal The filter modules that passed it on (NdisFSendNetBufferLists or
   * NdisFIndicateReceiveNetBufferLists) and wait for it back, the last one nearest; null
   * on a path without modules.
   */
  _fpath: FilterModule[] | null = null;
  /** @internal Serial of the last filter DDI call that walked it (a chain that loops). */
  _mark = 0;

  constructor(
    readonly _pool: NblPool,
    /** Its NET_BUFFER, or null from a pool without them (NdisAllocateNetBufferList). */
    data: NET_BUFFER | null,
    place: NblPlace,
    /** A per-machine serial number for traces and tests. */
    readonly _id: number,
  ) {
    this.FirstNetBuffer = data;
    this._place = place;
    if (place === 'filter') this._holder = _pool.module;
    this._origin = _pool.module;
  }
}

/** A clone's origin: the NBL whose data it describes, where that NBL was, and the flags. */
export interface CloneOf {
  readonly original: NblImpl;
  readonly place: NblPlace;
  readonly holder: FilterModule | null;
  /** The original's _sinceNs then: an NBL given back and handed over again has a later one. */
  readonly since: number;
  readonly flags: number;
  /** The NET_BUFFER pool (NetBufferPoolHandle) its NET_BUFFERs count against, or null. */
  readonly nbPool: NbPool | null;
  /** How many NET_BUFFERs it took from `nbPool`, given back when it is freed. */
  readonly nbs: number;
}

/** Walks a chain; `fn` may relink the NBL it is given. */
export function forEachNbl(first: NET_BUFFER_LIST | null, fn: (nbl: NET_BUFFER_LIST) => void): void {
  for (let n = first; n !== null; ) {
    const next = n.Next;
    fn(n);
    n = next;
  }
}

export function nblCount(first: NET_BUFFER_LIST | null): number {
  let c = 0;
  for (let n = first; n !== null; n = n.Next) c++;
  return c;
}

/** Bytes in an NBL (sum of its NET_BUFFERs). */
export function nblBytes(n: NET_BUFFER_LIST): number {
  let b = 0;
  for (let nb = n.FirstNetBuffer; nb !== null; nb = nb.Next) b += nb.DataLength;
  return b;
}
