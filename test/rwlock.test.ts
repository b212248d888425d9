// NDIS read/write locks (NdisAllocateRWLock and its family, NDIS 6.20): the rules their
// pages give. Readers share and may recurse, a writer may recurse, a reader may not
// become a writer; each acquisition has its own LOCK_STATE_EX; the lock raises to
// DISPATCH and the release restores the caller's IRQL; an adapter's locks are freed
// by its halt.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkStateIndication } from '../src/drivers/common.ts';
import {
  LOCK_STATE_EX,
  type NDIS_HANDLE,
  NDIS_RW_LOCK_EX,
  NDIS_RWL_AT_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisAcquireRWLockRead,
  NdisAcquireRWLockWrite,
  NdisAllocateRWLock,
  NdisFreeRWLock,
  NdisMIndicateStatusEx,
  NdisReleaseRWLock,
} from '../src/index.ts';
import { Irql } from '../src/kernel/kernel.ts';
import { currentNdis } from '../src/ndis/api/common.ts';
import {
  type Hooks,
  removedScripted,
  scriptedDriver,
  stoppedThenRemoved,
  type TestAdapter,
} from './helpers/scripted.ts';

const irqlNow = () => currentNdis('test').kernel.ctx.irql;

/** Runs `body` in MiniportInitializeEx (PASSIVE) with a lock of the adapter; frees it in halt. */
function withLock(name: string, body: (lock: NDIS_RW_LOCK_EX, a: TestAdapter) => void, more: Hooks = {}) {
  const { r } = removedScripted(name, {
    ...more,
    initialize: (a) => {
      const lock = NdisAllocateRWLock(a.handle);
      assert.ok(lock instanceof NDIS_RW_LOCK_EX);
      a.state.lock = lock;
      body(lock, a);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisFreeRWLock(a.state.lock as NDIS_RW_LOCK_EX),
  });
  return r.violations.map((v) => [v.rule, v.ddi]);
}

test('RW locks: read and write may each recurse, reads nest in a write; the lock raises to DISPATCH and the last release restores PASSIVE', () => {
  const seen: number[] = [];
  const rules = withLock('rw-nesting', (lock) => {
    const [r1, r2, w1, w2, r3] = [1, 2, 3, 4, 5].map(() => new LOCK_STATE_EX());
    NdisAcquireRWLockRead(lock, r1!, 0);
    seen.push(irqlNow());
    NdisAcquireRWLockRead(lock, r2!, NDIS_RWL_AT_DISPATCH_LEVEL);
    NdisReleaseRWLock(lock, r2!);
    seen.push(irqlNow());
    NdisReleaseRWLock(lock, r1!);
    seen.push(irqlNow());
    NdisAcquireRWLockWrite(lock, w1!, 0);
    NdisAcquireRWLockWrite(lock, w2!, NDIS_RWL_AT_DISPATCH_LEVEL);
    NdisAcquireRWLockRead(lock, r3!, NDIS_RWL_AT_DISPATCH_LEVEL);
    NdisReleaseRWLock(lock, r3!);
    NdisReleaseRWLock(lock, w2!);
    NdisReleaseRWLock(lock, w1!);
    seen.push(irqlNow());
  });
  assert.deepEqual(rules, []);
  assert.deepEqual(seen, [Irql.Dispatch, Irql.Dispatch, Irql.Passive, Irql.Passive]);
});

test('RW locks: asking for write while holding read on the same processor is NdisSim_RWLockMisuse (no promotion)', () => {
  const rules = withLock('rw-promote', (lock) => {
    const r = new LOCK_STATE_EX();
    const w = new LOCK_STATE_EX();
    NdisAcquireRWLockRead(lock, r, 0);
    NdisAcquireRWLockWrite(lock, w, NDIS_RWL_AT_DISPATCH_LEVEL);
    // The code goes on as if it had the write lock: its release is no second report.
    NdisReleaseRWLock(lock, w);
    NdisReleaseRWLock(lock, r);
  });
  assert.deepEqual(rules, [['NdisSim_RWLockMisuse', 'NdisAcquireRWLockWrite']]);
});

test('RW locks: a LOCK_STATE_EX reused while it holds, or one that holds nothing released, is NdisSim_RWLockMisuse', () => {
  const reused = withLock('rw-reuse', (lock) => {
    const s = new LOCK_STATE_EX();
    NdisAcquireRWLockRead(lock, s, 0);
    NdisAcquireRWLockRead(lock, s, NDIS_RWL_AT_DISPATCH_LEVEL);
    NdisReleaseRWLock(lock, s);
  });
  assert.deepEqual(reused, [['NdisSim_RWLockMisuse', 'NdisAcquireRWLockRead']]);
  const empty = withLock('rw-empty', (lock) => {
    const s = new LOCK_STATE_EX();
    NdisAcquireRWLockRead(lock, s, 0);
    NdisReleaseRWLock(lock, s);
    NdisReleaseRWLock(lock, s);
  });
  // The second release is at PASSIVE, below the DISPATCH the page requires, as well.
  assert.deepEqual(
    empty.filter(([rule]) => rule === 'NdisSim_RWLockMisuse'),
    [['NdisSim_RWLockMisuse', 'NdisReleaseRWLock']],
  );
});

test('RW locks: NDIS_RWL_AT_DISPATCH_LEVEL at PASSIVE is NdisSim_DispatchLevelFlag', () => {
  const rules = withLock('rw-flag', (lock) => {
    const s = new LOCK_STATE_EX();
    NdisAcquireRWLockRead(lock, s, NDIS_RWL_AT_DISPATCH_LEVEL);
    NdisReleaseRWLock(lock, s);
  });
  assert.deepEqual(rules, [['NdisSim_DispatchLevelFlag', 'NdisAcquireRWLockRead']]);
});

test('RW locks: a callback that returns holding one is SpinLockBalanced; one held across NdisMIndicateStatusEx is NdisSim_LockHeldAcrossCall', () => {
  const kept = withLock('rw-kept', (lock) => NdisAcquireRWLockRead(lock, new LOCK_STATE_EX(), 0));
  assert.deepEqual(kept, [['SpinLockBalanced', 'MiniportInitializeEx']]);
  const across = withLock('rw-across', (lock, a) => {
    const s = new LOCK_STATE_EX();
    NdisAcquireRWLockRead(lock, s, 0);
    NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, true, 1e9));
    NdisReleaseRWLock(lock, s);
  });
  assert.deepEqual(across, [['NdisSim_LockHeldAcrossCall', 'NdisMIndicateStatusEx']]);
});

test('RW locks, R2.10: freed while held is NdisSim_ObjectFreedInUse; one of the adapter not freed by its halt is NdisSim_ResourceNotFreed', () => {
  const { r } = removedScripted('rw-leak', {
    initialize: (a) => {
      const busy = NdisAllocateRWLock(a.handle)!;
      NdisAcquireRWLockWrite(busy, new LOCK_STATE_EX(), 0);
      NdisFreeRWLock(busy);
      NdisAllocateRWLock(a.handle); // never freed
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [
      ['NdisSim_ObjectFreedInUse', 'NdisFreeRWLock'],
      ['SpinLockBalanced', 'MiniportInitializeEx'],
      ['NdisSim_ResourceNotFreed', 'MiniportHaltEx'],
    ],
  );
  assert.match(r.violations[2]!.message, /1 read\/write lock\(s\) \(NdisFreeRWLock\)/);
});

test('nf-ndis-ndisallocaterwlock: a NULL NdisHandle is allowed in DriverEntry (Windows 8 and later) and is NdisSim_RWLockMisuse anywhere else; the lock works either way', () => {
  const got: boolean[] = [];
  const { r } = removedScripted('rw-null', {
    driverEntry: () => {
      const early = NdisAllocateRWLock(null);
      got.push(early !== null);
      if (early !== null) NdisFreeRWLock(early);
      return NDIS_STATUS_SUCCESS;
    },
    initialize: () => {
      const late = NdisAllocateRWLock(null);
      got.push(late !== null);
      if (late !== null) NdisFreeRWLock(late);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(got, [true, true]);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_RWLockMisuse', 'NdisAllocateRWLock']],
  );
  assert.match(r.violations[0]!.message, /NULL\) outside DriverEntry/);
});

test('RW locks, R2.10, R5.20: a lock leaked by one initialization is reported at that halt only; one allocated with the handle of a halted adapter is NdisSim_StaleHandle and NULL', () => {
  let dead: NDIS_HANDLE | null = null;
  let late: unknown = 'not called';
  const drv = scriptedDriver('rw-once', {
    initialize: (a) => {
      const first = dead === null;
      dead = a.handle;
      const lock = NdisAllocateRWLock(a.handle)!;
      // The first initialization forgets its lock; the second frees it in halt.
      if (!first) a.state.lock = lock;
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      if (a.state.lock !== undefined) NdisFreeRWLock(a.state.lock as NDIS_RW_LOCK_EX);
    },
    // MiniportDriverUnload runs after the last halt: the adapter handle is dead.
    unload: () => {
      late = NdisAllocateRWLock(dead);
    },
  });
  const r = stoppedThenRemoved(drv);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [
      ['NdisSim_ResourceNotFreed', 'MiniportHaltEx'],
      ['NdisSim_StaleHandle', 'NdisAllocateRWLock'],
    ],
  );
  assert.equal(late, null);
});
