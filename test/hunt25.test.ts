// Correct drivers from the session-25 false-positive hunt (test/fixtures/hunt25), run as
// `ndis-sim explore` runs them. Each test names the Microsoft page the driver follows and
// the check that fired on it before the fix.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exploreSeeds } from '../src/explore/explore.ts';
import { type DriverModule, IoAllocateWorkItem, NDIS_STATUS_FAILURE } from '../src/index.ts';
import { untilNs } from '../src/scenario/build.ts';
import { huntCancelq } from './fixtures/hunt25/cancelq.ts';
import { huntCleanpend } from './fixtures/hunt25/cleanpend.ts';
import { huntWi2 } from './fixtures/hunt25/wi2.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';
import { ns, testWorld } from './helpers/world.ts';

test('IRP_MJ_CLEANUP page: a request in progress (taken off the queue, no Cancel routine) when the handle closes is not NdisSim_IrpPendingAtClose; IRP_MJ_CLOSE waits until it completes', () => {
  const drivers = [huntCancelq];
  const s = exampleScenario('test/fixtures/hunt25/cancelq.yaml', drivers, 'hunt-cancelq');
  const { w, r } = runExample(s, drivers, 1, true);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.equal(w.ndis.io?.pending.length, 0);
  // Seed 1: handle a is closed with one request in flight; its close comes after it lands.
  const ev = w.trace.events;
  const cleanupA = ev.findIndex((e) => e.what === 'CloseHandle a');
  const waits = ev.findIndex((e) => e.what === 'CloseHandle a: IRP_MJ_CLOSE waits');
  const closeA = ev.findIndex((e, i) => i > cleanupA && e.what === 'DispatchClose' && e.data?.handle === 'a');
  const landed = ev.findIndex((e, i) => i > waits && e.what === 'DeviceIoControl a completes');
  assert.ok(cleanupA >= 0 && waits > cleanupA, 'the close of a waits for its request in flight');
  assert.ok(landed > 0 && closeA > landed, 'IRP_MJ_CLOSE of a after its last request completed');
  const ex = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, 200);
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
});

test('releasing-driver-allocated-resources, nf-ndis-ndisallocateioworkitem: an NDIS work item of the NdisDeviceHandle queued in the last MiniportHaltEx and freed by its own routine keeps the driver loaded until it ran; it is not NdisSim_CallbackAfterHalt', () => {
  const drivers = [huntWi2];
  const s = exampleScenario('test/fixtures/hunt25/wi2.yaml', drivers, 'hunt-wi2');
  const { w, r } = runExample(s, drivers, 1, true);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  const ev = w.trace.events;
  const deregister = ev.findIndex((e) => e.what === 'NdisDeregisterDeviceEx');
  const ran = ev.findIndex(
    (e, i) => i > deregister && e.kind === 'call' && e.what === 'NdisIoWorkItemFunction',
  );
  const unload = ev.findIndex((e) => e.kind === 'call' && e.what === 'MiniportDriverUnload');
  assert.ok(deregister >= 0 && ran > deregister, 'the device item runs after the halt');
  assert.ok(unload > ran, `MiniportDriverUnload (${unload}) after the item's routine (${ran})`);
  assert.ok(ev.some((e) => /MiniportDriverUnload waits: a work item of the driver/.test(e.what)));
  const ex = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, 200);
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
});

test("IoAllocateWorkItem with the DRIVER_OBJECT in DriverEntry before the NDIS registration stops the run as not modelled, not as NdisSim_BadParameter against the driver (the page takes the caller's own driver object)", () => {
  const early: DriverModule = {
    name: 'early-item',
    load: () => ({
      DriverEntry: (obj) => {
        IoAllocateWorkItem(obj);
        return NDIS_STATUS_FAILURE;
      },
    }),
  };
  const w = testWorld({ drivers: [early], devices: [{ name: 'nic0', driver: 'early-item' }] });
  const r = w.run(ns.s);
  assert.equal(r.verdict, 'not-modelled', r.message ?? '');
  assert.match(
    r.message ?? '',
    /IoAllocateWorkItem is not modelled by ndis-sim: a work item of the DRIVER_OBJECT before DriverEntry registered/,
  );
  assert.deepEqual(r.violations, []);
});

test('a DispatchCleanup routine that pends its own IRP (IoMarkIrpPending, STATUS_PENDING) and completes it from a timer: no NdisSim_IrpPendingAtClose, and IRP_MJ_CLOSE comes after that completion', () => {
  const drivers = [huntCleanpend];
  const s = exampleScenario('test/fixtures/hunt25/cleanpend.yaml', drivers, 'hunt-cleanpend');
  const { w, r } = runExample(s, drivers, 1, true);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  const ev = w.trace.events;
  const cleanupReturns = ev.findIndex(
    (e) => e.kind === 'return' && e.what === 'DispatchCleanup' && e.data?.result === 'STATUS_PENDING',
  );
  const completes = ev.findIndex(
    (e, i) => i > cleanupReturns && e.what === 'IoCompleteRequest' && e.data?.handle === 'a',
  );
  const close = ev.findIndex(
    (e) => e.kind === 'call' && e.what === 'DispatchClose' && e.data?.handle === 'a',
  );
  assert.ok(
    cleanupReturns >= 0 && completes > cleanupReturns && close > completes,
    `${cleanupReturns} ${completes} ${close}`,
  );
  const ex = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, 100);
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
});
