// R8.11 (synchronization-and-notification-in-network-drivers, "Avoiding Spin Lock
// Problems"): a driver should release every NDIS spin lock before it calls an NDIS
// function other than the spin-lock ones. The verifier warns once per driver and DDI;
// ndis.h macros and the lock DDIs are not covered, and the DDIs that run other drivers
// keep their error (NdisSim_LockHeldAcrossCall) without a warning besides it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkStateIndication } from '../src/drivers/common.ts';
import {
  NDIS_SPIN_LOCK,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisAllocateSpinLock,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisMIndicateStatusEx,
  NdisMRemoveMiniport,
  NdisReadRegisterUlong,
  NdisReleaseSpinLock,
  NdisStallExecution,
  NdisWriteErrorLogEntry,
  SimNicReg,
} from '../src/index.ts';
import { after, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** nic0 whose driver allocates `lock` in MiniportInitializeEx, then runs `at500ms` in a timer. */
function lockWorld(at500ms: (a: TestAdapter, lock: NDIS_SPIN_LOCK) => void) {
  const lock = new NDIS_SPIN_LOCK();
  const drv = scriptedDriver('lock-call-nic', {
    initialize: (a) => {
      NdisAllocateSpinLock(lock);
      after(a, 500, (x) => at500ms(x, lock));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  return { w, r: w.run(2 * ns.s) };
}

test('R8.11, R8.13: NdisWriteErrorLogEntry and NdisMRemoveMiniport with a driver spin lock held are warned of, once per DDI; the removal still goes on to Code 43', () => {
  const { w, r } = lockWorld((x, lock) => {
    // At DISPATCH in the timer callback: the Dpr acquire, as the review's DPC did.
    NdisDprAcquireSpinLock(lock);
    NdisWriteErrorLogEntry(x.handle, 0xc0001234, 1, 7);
    NdisWriteErrorLogEntry(x.handle, 0xc0001234, 1, 8);
    NdisMRemoveMiniport(x.handle);
    NdisDprReleaseSpinLock(lock);
  });
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const r811 = r.warnings.filter((x) => x.rule === 'R8.11');
  assert.deepEqual(
    r811.map((x) => x.ddi),
    ['NdisWriteErrorLogEntry', 'NdisMRemoveMiniport'],
  );
  assert.match(
    r811[1]!.message,
    /^lock-call-nic called NdisMRemoveMiniport holding 1 spin lock\(s\) it acquired/,
  );
  assert.equal(w.device('nic0').problem, 43);
});

test('R8.11: with no lock held, and for the spin-lock DDIs and ndis.h macros (register reads, NdisStallExecution) under a lock, nothing is warned', () => {
  const { r } = lockWorld((x, lock) => {
    NdisWriteErrorLogEntry(x.handle, 0xc0001234, 0);
    NdisDprAcquireSpinLock(lock);
    NdisReadRegisterUlong(x.space!.at(SimNicReg.STATUS));
    NdisStallExecution(1);
    NdisDprReleaseSpinLock(lock);
    NdisAcquireSpinLock(lock);
    NdisReleaseSpinLock(lock);
  });
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(
    r.warnings.filter((x) => x.rule === 'R8.11'),
    [],
  );
});

test('R8.11: a DDI that runs other drivers keeps its error (NdisSim_LockHeldAcrossCall) and gets no warning besides it', () => {
  const { r } = lockWorld((x, lock) => {
    NdisDprAcquireSpinLock(lock);
    NdisMIndicateStatusEx(x.handle, linkStateIndication(x.handle, true, 1e9));
    NdisDprReleaseSpinLock(lock);
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_LockHeldAcrossCall', 'NdisMIndicateStatusEx']],
  );
  assert.deepEqual(
    r.warnings.filter((x) => x.rule === 'R8.11'),
    [],
  );
});
