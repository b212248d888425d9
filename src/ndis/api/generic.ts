// Generic objects (ndis-objects, obtaining-pool-handles): an NDIS handle for code that
// has none, good for the NBL and NET_BUFFER pool calls. The SDV rule
// NdisAllocateGenericObject asks that every one be freed by the end of MiniportHaltEx.

import type { MiniportBlock } from '../block.ts';
import { ddiIrql } from '../generated/irql.ts';
import type { NblPool, NbPool } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import { NdisGenericObject } from '../objects.ts';
import type { DRIVER_OBJECT } from '../types.ts';
import { currentNdis } from './common.ts';

const irql = {
  NdisAllocateGenericObject: ddiIrql.NdisAllocateGenericObject!,
  NdisFreeGenericObject: ddiIrql.NdisFreeGenericObject!,
};

/** Largest Size the model allocates (a typed array's own limit is far above what a driver asks). */
const maxExtensionBytes = 1 << 30;

/**
 * PNDIS_GENERIC_OBJECT NdisAllocateGenericObject(DriverObject, Tag, Size). <= DISPATCH.
 * DriverObject may be NULL. The object belongs to the driver whose code calls, and to
 * the adapter when that is a call of the miniport into its own MiniportXxx handler
 * (its MiniportHaltEx must free it). NULL when Size cannot be allocated.
 */
export function NdisAllocateGenericObject(
  DriverObject: DRIVER_OBJECT | null,
  Tag: number,
  Size: number,
): NdisGenericObject | null {
  const ddi = 'NdisAllocateGenericObject';
  const n = currentNdis(ddi);
  const who = n.kernel.ctx.who;
  const running = n.runningAdapter();
  const block = running !== null && running.driver.name === who ? running : null;
  n.verifier.irql(irql.NdisAllocateGenericObject, ddi, block?.name ?? null);
  if (!Number.isInteger(Size) || Size < 0) {
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      block?.name ?? null,
      `${ddi}: Size ${Size} is not a byte count (the bytes reserved after the NDIS_GENERIC_OBJECT)`,
    );
  }
  if (Size > maxExtensionBytes) return null;
  const o = new NdisGenericObject(DriverObject, new Uint8Array(Size), who, block);
  n.genericObjects ??= [];
  n.genericObjects.push(o);
  if (n.trace.on) n.traceDdi(ddi, block, { Tag: `0x${(Tag >>> 0).toString(16)}`, Size });
  return o;
}

/**
 * VOID NdisFreeGenericObject(NdisObject). <= DISPATCH. Every pool allocated with the
 * object as its handle must be freed first (the page's remarks).
 */
export function NdisFreeGenericObject(NdisObject: NdisGenericObject): void {
  const ddi = 'NdisFreeGenericObject';
  const n = currentNdis(ddi);
  if (!(NdisObject instanceof NdisGenericObject)) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: not a generic object from NdisAllocateGenericObject`,
    );
    return;
  }
  const adapter = NdisObject.block?.name ?? null;
  n.verifier.irql(irql.NdisFreeGenericObject, ddi, adapter);
  if (NdisObject.freed) {
    n.verifier.report(
      'NdisAllocateGenericObject',
      ddi,
      adapter,
      `${ddi} of a generic object that was freed already (allocation and free must alternate)`,
    );
    return;
  }
  if (NdisObject.pools > 0)
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      adapter,
      `generic object freed with ${NdisObject.pools} pool(s) allocated with it as the handle still allocated (NdisFreeNetBufferListPool, NdisFreeNetBufferPool first)`,
    );
  NdisObject.freed = true;
  const list = n.genericObjects!;
  const i = list.indexOf(NdisObject);
  if (i >= 0) list.splice(i, 1);
  if (n.trace.on) n.traceDdi(ddi, NdisObject.block, {});
}

/**
 * The generic objects not yet freed that adapter `of` allocated in its handlers, or
 * that the code of driver `of` (a name) allocated anywhere. They are taken off the list,
 * so that each is reported once.
 */
export function genericObjectsLeft(n: Ndis, of: MiniportBlock | string): number {
  const list = n.genericObjects;
  if (list === null) return 0;
  let left = 0;
  for (let i = list.length - 1; i >= 0; i--) {
    const o = list[i]!;
    if (typeof of === 'string' ? o.driver !== of : o.block !== of) continue;
    list.splice(i, 1);
    left++;
  }
  return left;
}

/**
 * A pool call with a generic object as its NdisHandle: the pool is the calling driver's,
 * as with a NULL handle (`alloc`), and the object counts it until it is freed.
 */
export function poolOfGenericObject<P extends NblPool | NbPool>(
  o: NdisGenericObject,
  ddi: string,
  alloc: () => P | null,
): P | null {
  if (o.freed) {
    const n = currentNdis(ddi);
    n.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      o.block?.name ?? null,
      `${ddi} with a generic object that was freed`,
    );
    return null;
  }
  const pool = alloc();
  if (pool !== null) {
    pool.generic = o;
    o.pools++;
  }
  return pool;
}

/** A pool freed: its generic object, if it had one, may be freed now. */
export function poolFreed(pool: NblPool | NbPool): void {
  if (pool.generic !== null) pool.generic.pools--;
}
