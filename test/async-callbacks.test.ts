// Async driver code (R8.1: NDIS calls its handlers synchronously, and reads what they
// return as they return): an `async` routine or an `async function*` is
// NdisSim_CallbackReturnValue whatever the callback, a work item's routine included, and
// a resumable routine yields only its waits (src/ndis/resumable.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DEVICE_OBJECT,
  DelayedWorkQueue,
  IoAllocateWorkItem,
  IoFreeWorkItem,
  IoQueueWorkItem,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisRegisterDeviceEx,
  type ResumableRoutine,
} from '../src/index.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const collect = { verifier: 'collect' as const };
const bad = (r: { violations: readonly { rule: string; message: string }[] }) =>
  r.violations.filter((v) => v.rule === 'NdisSim_CallbackReturnValue').map((v) => v.message);

/** A miniport whose InitializeHandlerEx queues `routine` as an NDIS work item's. */
function workItemWorld(routine: (ctx: unknown, wi: NDIS_HANDLE) => unknown) {
  const drv = scriptedDriver('async-work', {
    initialize: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(wi, routine as (ctx: unknown, wi: NDIS_HANDLE) => void, a);
      return NDIS_STATUS_SUCCESS;
    },
  });
  return testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'async-work' }], options: collect });
}

test('NdisSim_CallbackReturnValue, R8.1: an async generator function (`async function*`) as a work item routine is reported, its body never run, and the run (and the next) returns instead of stepping it for good', () => {
  let ran = 0;
  // biome-ignore lint/correctness/useYield: the mistake under test (the review's repro)
  const w = workItemWorld(async function* () {
    ran++;
    NdisMSleep(1000);
  });
  const r = w.run(1 * ns.s);
  assert.equal(ran, 0);
  assert.deepEqual(bad(r), [
    'NdisIoWorkItemFunction returned an async generator — handlers must be synchronous (async function*?)',
  ]);
  // Before: the second run never returned (the routine's next() gave a Promise, whose
  // `done` was never true).
  const r2 = w.run(2 * ns.s);
  assert.equal(r2.verdict, 'violations');
  assert.equal(w.device('nic0').status, 'started');
});

test('NdisSim_CallbackReturnValue, R8.1: a work item routine that is an iterator of its own whose next() returns a Promise is reported and dropped', () => {
  let steps = 0;
  const w = workItemWorld(() => ({
    next: () => {
      steps++;
      return Promise.resolve({ done: false, value: undefined });
    },
    throw: () => Promise.resolve({ done: true, value: undefined }),
    [Symbol.iterator]() {
      return this;
    },
  }));
  const r = w.run(1 * ns.s);
  assert.equal(steps, 1);
  assert.equal(bad(r).length, 1);
  assert.match(
    bad(r)[0]!,
    /^NdisIoWorkItemFunction of async-work \(nic0\) returned an iterator whose next\(\) returns a Promise — handlers must be synchronous/,
  );
});

test('NdisSim_CallbackReturnValue, R8.1: an async NDIS work item routine (its Promise) is reported as an async MiniportHaltEx is', () => {
  const w = workItemWorld(async () => {
    await null;
  });
  assert.deepEqual(bad(w.run(1 * ns.s)), [
    'NdisIoWorkItemFunction returned a Promise — handlers must be synchronous (async handler?)',
  ]);
});

test('NdisSim_CallbackReturnValue, R8.1: an async WDM work item routine (IoQueueWorkItem) is reported too', () => {
  let device: DEVICE_OBJECT | null = null;
  const drv = scriptedDriver('async-wdm', {
    driverEntry: (driver) => {
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\AsyncWdm',
        SymbolicName: '\\DosDevices\\AsyncWdm',
        MajorFunctions: [],
        ExtensionSize: 0,
      });
      device = r.pDeviceObject;
      return r.Status;
    },
    initialize: () => {
      const wi = IoAllocateWorkItem(device!)!;
      IoQueueWorkItem(wi, (async () => IoFreeWorkItem(wi)) as () => void, DelayedWorkQueue, null);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'async-wdm' }], options: collect });
  assert.deepEqual(bad(w.run(1 * ns.s)), [
    'WorkItem returned a Promise — handlers must be synchronous (async handler?)',
  ]);
});

test('NdisSim_CallbackReturnValue, R2.9: an `async function*` MiniportHaltEx is reported as an async handler, not refused as a resumable one', () => {
  const drv = scriptedDriver('async-halt', {
    characteristics: (c) => {
      c.HaltHandlerEx = async function* () {} as never;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'async-halt' }],
    options: collect,
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'violations');
  assert.deepEqual(bad(r), [
    'MiniportHaltEx returned an async generator — handlers must be synchronous (async function*?)',
  ]);
});

for (const [what, value, text] of [
  ['a string', 'x', 'the string "x"'],
  ['a Promise', Promise.resolve(), 'a Promise'],
  ['a number', 1, 'the number 1'],
] as const)
  test(`R8.12: a resumable routine that yields ${what}, not a wait, ends the run naming it (it went on at once before)`, () => {
    let after = false;
    const w = workItemWorld(function* (): Generator<unknown, void, boolean> {
      yield value;
      after = true;
    });
    const r = w.run(1 * ns.s);
    assert.equal(after, false);
    assert.equal(r.verdict, 'bugcheck');
    assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
    assert.match(
      r.bugCheck?.message ?? '',
      new RegExp(
        `^NdisIoWorkItemFunction threw YieldedValueError: a resumable routine yielded ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: it yields only its waits`,
      ),
    );
  });

test('R8.12: a resumable routine may still yield an NdisMSleep (VOID) and a BOOLEAN; the type refuses anything else at compile time', () => {
  let done = false;
  const w = workItemWorld(function* (): ResumableRoutine {
    yield NdisMSleep(1000);
    yield true;
    // @ts-expect-error a resumable routine yields only its waits
    if (done) yield 'x';
    done = true;
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(done, true);
});
