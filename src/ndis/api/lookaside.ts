// Nonpaged lookaside lists: NdisInitializeNPagedLookasideList,
// NdisAllocateFromNPagedLookasideList, NdisFreeToNPagedLookasideList,
// NdisDeleteNPagedLookasideList. All at IRQL <= DISPATCH.
//
// The entries are nonpaged pool of the list's tag, counted with the driver's other
// pool: an entry never given back, or a list never deleted with entries cached on it,
// is pool the driver unloads with (0xC4/0x62). Entries the list made itself come back
// to the list on free and go back to pool when the list is deleted; those of the
// driver's own Allocate routine go to its Free routine.

import { ddiIrql } from '../generated/irql.ts';
import type { Ndis } from '../ndis.ts';
import { currentNdis } from './common.ts';
import { maxPoolBytes } from './kernel.ts';

const irql = {
  NdisInitializeNPagedLookasideList: ddiIrql.NdisInitializeNPagedLookasideList!,
  NdisAllocateFromNPagedLookasideList: ddiIrql.NdisAllocateFromNPagedLookasideList!,
  NdisFreeToNPagedLookasideList: ddiIrql.NdisFreeToNPagedLookasideList!,
  NdisDeleteNPagedLookasideList: ddiIrql.NdisDeleteNPagedLookasideList!,
};

/** PALLOCATE_FUNCTION: PVOID Allocate(PoolType, NumberOfBytes, Tag). */
export type ALLOCATE_FUNCTION = (PoolType: number, NumberOfBytes: number, Tag: number) => Uint8Array | null;
/** PFREE_FUNCTION: VOID Free(Buffer). */
export type FREE_FUNCTION = (Buffer: Uint8Array) => void;

/** NonPagedPool (POOL_TYPE), what NDIS passes a driver's Allocate routine. */
const NonPagedPool = 0;
/** How many freed entries a list keeps for reuse before it gives them back to pool. */
const cacheDepth = 256;

interface ListState {
  /** The running driver at initialization (its DriverEntry, maybe before it registered). */
  readonly driverName: string;
  readonly size: number;
  readonly tag: number;
  readonly allocate: ALLOCATE_FUNCTION | null;
  readonly free: FREE_FUNCTION | null;
  /** Entries freed to the list and kept for the next allocation. */
  readonly cached: Uint8Array[];
  /** Entries handed out and not yet freed to the list. */
  readonly out: Set<Uint8Array>;
  deleted: boolean;
}

/** The caller-allocated list head NdisInitializeNPagedLookasideList fills in. */
export class NPAGED_LOOKASIDE_LIST {
  /**
   * Its members are internal, left out of the package's declarations (stripInternal): this
   * private one keeps the declared class nominal, so another object is not one (T11).
   */
  declare private readonly kind: 'NPAGED_LOOKASIDE_LIST';
  /** @internal null until initialized. */
  _state: ListState | null = null;
}

/**
 * VOID NdisInitializeNPagedLookasideList(Lookaside, Allocate, Free, Flags, Size, Tag,
 * Depth). Allocates nothing yet. Flags and Depth are reserved and must be 0; an Allocate
 * routine needs a Free routine.
 */
export function NdisInitializeNPagedLookasideList(
  Lookaside: NPAGED_LOOKASIDE_LIST,
  Allocate: ALLOCATE_FUNCTION | null,
  Free: FREE_FUNCTION | null,
  Flags: number,
  Size: number,
  Tag: number,
  Depth: number,
): void {
  const ddi = 'NdisInitializeNPagedLookasideList';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql.NdisInitializeNPagedLookasideList, ddi, adapter);
  if (!(Lookaside instanceof NPAGED_LOOKASIDE_LIST))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: Lookaside is not an NPAGED_LOOKASIDE_LIST`,
    );
  const bad =
    Flags !== 0
      ? `Flags is ${Flags}; it is reserved and must be 0`
      : Depth !== 0
        ? `Depth is ${Depth}; it is reserved and must be 0`
        : Allocate !== null && Free === null
          ? 'an Allocate routine without a Free routine'
          : !Number.isInteger(Size) || Size <= 0
            ? `Size ${Size} is not a size in bytes`
            : null;
  if (bad !== null) n.verifier.fatal('NdisSim_BadParameter', ddi, adapter, `${ddi}: ${bad}`);
  if (Lookaside._state !== null && !Lookaside._state.deleted)
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi} on a list that is in use: delete it first`,
    );
  Lookaside._state = {
    driverName: n.kernel.ctx.who,
    size: Size,
    tag: Tag,
    allocate: Allocate,
    free: Free,
    cached: [],
    out: new Set(),
    deleted: false,
  };
}

/** PVOID NdisAllocateFromNPagedLookasideList(Lookaside): an entry of the list's size, or NULL. */
export function NdisAllocateFromNPagedLookasideList(Lookaside: NPAGED_LOOKASIDE_LIST): Uint8Array | null {
  const ddi = 'NdisAllocateFromNPagedLookasideList';
  const n = currentNdis(ddi);
  const s = listState(n, Lookaside, ddi);
  let entry = s.cached.pop() ?? null;
  if (entry === null) {
    if (s.allocate !== null) {
      entry = s.allocate(NonPagedPool, s.size, s.tag);
    } else if (s.size <= maxPoolBytes) {
      entry = new Uint8Array(s.size);
      track(n, s, entry);
    }
  }
  if (entry !== null) s.out.add(entry);
  return entry;
}

/** VOID NdisFreeToNPagedLookasideList(Lookaside, Entry): an entry this list gave out. */
export function NdisFreeToNPagedLookasideList(Lookaside: NPAGED_LOOKASIDE_LIST, Entry: Uint8Array): void {
  const ddi = 'NdisFreeToNPagedLookasideList';
  const n = currentNdis(ddi);
  const s = listState(n, Lookaside, ddi);
  if (!s.out.delete(Entry)) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      n.runningAdapterName(),
      `${ddi}: the entry is not one this list gave out, or it was freed already`,
    );
    return;
  }
  if (s.cached.length < cacheDepth) s.cached.push(Entry);
  else release(n, s, Entry);
}

/**
 * VOID NdisDeleteNPagedLookasideList(Lookaside): frees the entries cached on the list and
 * retires it. Entries still handed out stay allocated pool; the list head is the caller's.
 */
export function NdisDeleteNPagedLookasideList(Lookaside: NPAGED_LOOKASIDE_LIST): void {
  const ddi = 'NdisDeleteNPagedLookasideList';
  const n = currentNdis(ddi);
  const s = listState(n, Lookaside, ddi);
  for (const e of s.cached.splice(0)) release(n, s, e);
  s.deleted = true;
}

function listState(n: Ndis, l: NPAGED_LOOKASIDE_LIST, ddi: string): ListState {
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql[ddi as keyof typeof irql], ddi, adapter);
  const s = l instanceof NPAGED_LOOKASIDE_LIST ? l._state : null;
  if (s === null)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: the list was not initialized (NdisInitializeNPagedLookasideList)`,
    );
  if (s.deleted)
    n.verifier.fatal('NdisSim_ObjectFreedInUse', ddi, adapter, `${ddi} on a deleted lookaside list`);
  return s;
}

/**
 * Counts an entry the list made with the driver's pool (0xC4/0x62 at unload if never
 * freed): the driver running now, or the one that made the list (from its DriverEntry).
 */
function track(n: Ndis, s: ListState, entry: Uint8Array): void {
  const driver = n.drivers.get(n.kernel.ctx.who) ?? n.drivers.get(s.driverName);
  if (driver === undefined) return;
  n.allocations ??= new Map();
  n.allocations.set(entry, { tag: s.tag, driver, adapter: null });
}

/** An entry goes back to pool: the driver's Free routine for its own, the pool for the list's. */
function release(n: Ndis, s: ListState, entry: Uint8Array): void {
  if (s.free !== null) s.free(entry);
  else n.allocations?.delete(entry);
}
