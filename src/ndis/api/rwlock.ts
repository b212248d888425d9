// NDIS read/write locks (NDIS 6.20): NdisAllocateRWLock, NdisAcquireRWLockRead,
// NdisAcquireRWLockWrite, NdisReleaseRWLock, NdisFreeRWLock.
//
// As with spin locks, a context in the model runs until it returns or blocks, so a
// lock another context holds in a way that excludes the caller is a lock whose holder
// cannot run before the caller lets go: a deadlock, reported on the spot. Each
// acquisition is a held lock of the context (ctx.held), so a callback that returns
// holding one, or calls up into the protocols with one, is caught as for spin locks.

import { Irql, type LockState } from '../../kernel/kernel.ts';
import { Binding } from '../binding.ts';
import { MiniportBlock } from '../block.ts';
import { FilterModule } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import { NDIS_RWL_AT_DISPATCH_LEVEL } from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import type { NDIS_HANDLE } from '../types.ts';
import { currentNdis, serviceOrProtocolHandle, stale, staleModule } from './common.ts';
import { bindingOf, usable } from './protocol.ts';

const irql = {
  NdisAllocateRWLock: ddiIrql.NdisAllocateRWLock!,
  NdisFreeRWLock: ddiIrql.NdisFreeRWLock!,
  NdisAcquireRWLockRead: ddiIrql.NdisAcquireRWLockRead!,
  NdisAcquireRWLockWrite: ddiIrql.NdisAcquireRWLockWrite!,
  NdisReleaseRWLock: ddiIrql.NdisReleaseRWLock!,
};

/** One acquisition: what LOCK_STATE_EX records between the acquire and the release. */
interface Hold extends LockState {
  readonly lock: NDIS_RW_LOCK_EX;
  readonly write: boolean;
}

/** The opaque NDIS_RW_LOCK_EX that NdisAllocateRWLock returns. */
export class NDIS_RW_LOCK_EX {
  /**
   * Its members are internal, left out of the package's declarations (stripInternal): this
   * private one keeps the declared class nominal, so another object is not one (T11).
   */
  declare private readonly kind: 'NDIS_RW_LOCK_EX';
  /** @internal Acquisitions not yet released (an entry whose owner is null was dropped). */
  readonly _holds: Hold[] = [];
  /** @internal */
  _freed = false;
  constructor(
    /** @internal The adapter whose handle allocated it, which must free it by its halt. */
    readonly _block: MiniportBlock | null,
    /** @internal The filter module whose handle allocated it, which must free it by FilterDetach. */
    readonly _module: FilterModule | null = null,
  ) {}
}

/** The adapter a lock's reports name: its adapter's, or its filter module's. */
function lockAdapter(l: NDIS_RW_LOCK_EX): string | null {
  return l._block?.name ?? l._module?.block.name ?? null;
}

/** LOCK_STATE_EX: the caller's storage for one acquisition, a new one for each (the pages say). */
export class LOCK_STATE_EX {
  /**
   * Its members are internal, left out of the package's declarations (stripInternal): this
   * private one keeps the declared class nominal, so another object is not one (T11).
   */
  declare private readonly kind: 'LOCK_STATE_EX';
  /** @internal */
  _hold: Hold | null = null;
  /** @internal The acquire was a reported deadlock: its release is no second mistake. */
  _refused = false;
}

/**
 * PNDIS_RW_LOCK_EX NdisAllocateRWLock(NdisHandle). <= DISPATCH. NdisHandle is a driver
 * or adapter handle, a filter module or filter driver handle, a protocol driver's
 * NdisProtocolHandle or the NdisBindingHandle of an open binding (NdisOpenAdapterEx,
 * which the page names too), or null (Windows 8 and later, from DriverEntry before a
 * handle).
 */
export function NdisAllocateRWLock(NdisHandle: NDIS_HANDLE | null): NDIS_RW_LOCK_EX | null {
  const ddi = 'NdisAllocateRWLock';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisAllocateRWLock, ddi, null);
  if (NdisHandle instanceof Binding) {
    // The protocol's lock, as with its NdisProtocolHandle; a closed binding's handle is stale.
    const { bd, o } = bindingOf(n, NdisHandle, ddi, 'an NdisBindingHandle');
    if (!usable(n, bd, o, ddi)) return null;
    if (n.trace.on) n.traceDdi(ddi, bd.block, { protocol: bd.protocol.name });
    return new NDIS_RW_LOCK_EX(null);
  }
  // The page allows NULL only in DriverEntry, before the driver has an NDIS handle (Windows 8
  // and later). Elsewhere the driver has one and must pass it; the lock still works.
  if (NdisHandle === null && n.loading === null)
    n.verifier.report(
      'NdisSim_RWLockMisuse',
      ddi,
      n.runningAdapterName(),
      `${ddi}(NULL) outside DriverEntry: the page allows a NULL NdisHandle only in DriverEntry, before any NDIS handle is available; pass the driver, adapter, protocol, binding or filter handle (nf-ndis-ndisallocaterwlock)`,
    );
  const owner = NdisHandle === null ? null : serviceOrProtocolHandle(NdisHandle, ddi);
  if (owner instanceof FilterModule) {
    if (staleModule(owner, ddi, n)) return null;
    const lock = new NDIS_RW_LOCK_EX(null, owner);
    owner.rwLocks ??= [];
    owner.rwLocks.push(lock);
    if (n.trace.on) n.traceDdi(ddi, owner.block, { module: owner.name });
    return lock;
  }
  const block = owner instanceof MiniportBlock ? owner : null;
  if (block !== null && stale(block, ddi)) return null;
  const lock = new NDIS_RW_LOCK_EX(block);
  if (block !== null) block.rwLocks.push(lock);
  if (n.trace.on) n.traceDdi(ddi, block, {});
  return lock;
}

/** VOID NdisFreeRWLock(Lock). <= DISPATCH; the lock must not be held. */
export function NdisFreeRWLock(Lock: NDIS_RW_LOCK_EX): void {
  const ddi = 'NdisFreeRWLock';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisFreeRWLock, ddi, null);
  const l = rwLock(n, Lock, ddi);
  const held = l._holds.filter((h) => h.owner !== null).length;
  if (held > 0)
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      lockAdapter(l),
      `read/write lock freed while held (${held} acquisition(s) not released)`,
    );
  l._freed = true;
  const list = l._block !== null ? l._block.rwLocks : l._module?.rwLocks;
  if (list != null) {
    const i = list.indexOf(l);
    if (i >= 0) list.splice(i, 1);
  }
}

/** VOID NdisAcquireRWLockRead(Lock, LockState, Flags). <= DISPATCH; raises to DISPATCH. */
export function NdisAcquireRWLockRead(Lock: NDIS_RW_LOCK_EX, LockState: LOCK_STATE_EX, Flags: number): void {
  acquire('NdisAcquireRWLockRead', Lock, LockState, Flags, false);
}

/** VOID NdisAcquireRWLockWrite(Lock, LockState, Flags). <= DISPATCH; raises to DISPATCH. */
export function NdisAcquireRWLockWrite(Lock: NDIS_RW_LOCK_EX, LockState: LOCK_STATE_EX, Flags: number): void {
  acquire('NdisAcquireRWLockWrite', Lock, LockState, Flags, true);
}

/**
 * VOID NdisReleaseRWLock(Lock, LockState). At DISPATCH (the lock raised it there), on the
 * processor that acquired it; restores the IRQL the caller had before the acquire.
 */
export function NdisReleaseRWLock(Lock: NDIS_RW_LOCK_EX, LockState: LOCK_STATE_EX): void {
  const ddi = 'NdisReleaseRWLock';
  const n = currentNdis(ddi);
  if (LockState instanceof LOCK_STATE_EX && LockState._refused) {
    // The acquire was a reported deadlock: in Windows the thread would still be spinning
    // there. The model went on without raising the IRQL, so this release is no mistake.
    LockState._refused = false;
    return;
  }
  n.verifier.irql(irql.NdisReleaseRWLock, ddi, null);
  const l = rwLock(n, Lock, ddi);
  const ctx = n.kernel.ctx;
  const h = LockState instanceof LOCK_STATE_EX ? LockState._hold : null;
  if (h === null || h.lock !== l || h.owner === null) {
    misuse(n, l, ddi, 'the LOCK_STATE_EX does not hold this lock: no acquire filled it, or it was released');
    return;
  }
  if (h.owner !== ctx) {
    misuse(
      n,
      l,
      ddi,
      `released by ${ctx.who} on CPU ${ctx.cpu}, not by the context that acquired it (${h.owner.who}, CPU ${h.owner.cpu})`,
    );
    return;
  }
  ctx.drop(h);
  LockState._hold = null;
  const i = l._holds.indexOf(h);
  if (i >= 0) l._holds.splice(i, 1);
  ctx.irql = h.savedIrql;
}

function acquire(
  ddi: string,
  Lock: NDIS_RW_LOCK_EX,
  LockState: LOCK_STATE_EX,
  Flags: number,
  write: boolean,
): void {
  const n = currentNdis(ddi);
  n.verifier.irql(write ? irql.NdisAcquireRWLockWrite : irql.NdisAcquireRWLockRead, ddi, null);
  const l = rwLock(n, Lock, ddi);
  const ctx = n.kernel.ctx;
  if ((Flags & NDIS_RWL_AT_DISPATCH_LEVEL) !== 0 && ctx.irql !== Irql.Dispatch) {
    n.verifier.report(
      'NdisSim_DispatchLevelFlag',
      ddi,
      lockAdapter(l),
      `${ddi}: NDIS_RWL_AT_DISPATCH_LEVEL is set but the caller is at ${ctx.irql === Irql.Passive ? 'PASSIVE' : 'a raised IRQL other than DISPATCH'}`,
    );
  }
  if (!(LockState instanceof LOCK_STATE_EX)) {
    n.verifier.fatal('NdisSim_BadParameter', ddi, lockAdapter(l), `${ddi}: LockState is not a LOCK_STATE_EX`);
  }
  if (LockState._hold !== null && LockState._hold.owner !== null) {
    misuse(
      n,
      l,
      ddi,
      'the LOCK_STATE_EX already records an acquisition not yet released; each acquire needs its own',
    );
    return;
  }
  // Who holds it now: this context (recursion), or others (who cannot run meanwhile).
  let mineRead = false;
  let mineWrite = false;
  let other: Hold | null = null;
  for (const h of l._holds) {
    if (h.owner === null) continue;
    if (h.owner === ctx) {
      if (h.write) mineWrite = true;
      else mineRead = true;
    } else if (other === null || h.write) other = h;
  }
  if (write && mineRead && !mineWrite) {
    misuse(
      n,
      l,
      ddi,
      'write access asked while the same processor holds the lock for read: NDIS_RW_LOCK_EX does not promote (a deadlock)',
    );
    LockState._refused = true;
    return;
  }
  if (other !== null && !mineWrite && (write || other.write)) {
    misuse(
      n,
      l,
      ddi,
      `${write ? 'write' : 'read'} access to a lock ${other.owner!.who} holds for ${other.write ? 'write' : 'read'}, which cannot let go while the caller spins (a deadlock)`,
    );
    LockState._refused = true;
    return;
  }
  const h: Hold = { owner: ctx, savedIrql: ctx.irql, raised: true, lock: l, write, by: ctx.who };
  l._holds.push(h);
  LockState._hold = h;
  ctx.held.push(h);
  ctx.irql = Irql.Dispatch;
}

function rwLock(n: Ndis, l: NDIS_RW_LOCK_EX, ddi: string): NDIS_RW_LOCK_EX {
  if (!(l instanceof NDIS_RW_LOCK_EX))
    return n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: not a lock from NdisAllocateRWLock`);
  if (l._freed)
    n.verifier.fatal('NdisSim_ObjectFreedInUse', ddi, lockAdapter(l), `${ddi} on a freed read/write lock`);
  return l;
}

function misuse(n: Ndis, l: NDIS_RW_LOCK_EX, ddi: string, what: string): void {
  n.verifier.report('NdisSim_RWLockMisuse', ddi, lockAdapter(l), `${ddi}: ${what}`);
}
