// Async driver code (R8.1: NDIS calls its handlers synchronously, and reads what they
// return as they return): an `async` routine or an `async function*` is
// NdisSim_CallbackReturnValue whatever the callback, a work item's routine included, and
// a resumable routine yields only its waits (src/ndis/resumable.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NdisSimUsageError } from '../src/errors.ts';
import {
  type DEVICE_OBJECT,
  DelayedWorkQueue,
  IoAllocateWorkItem,
  IoFreeWorkItem,
  IoQueueWorkItem,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  NDIS_EVENT,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_SPIN_LOCK,
  type NDIS_STATUS_INDICATION,
  NDIS_STATUS_INDICATION_REVISION_1,
  NDIS_STATUS_MEDIA_DISCONNECT,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisFreeMemory,
  NdisInitializeEvent,
  NdisMIndicateStatusEx,
  NdisMRemoveMiniport,
  NdisMResetMiniport,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisRegisterDeviceEx,
  NdisSetEvent,
  NdisSetTimerObject,
  NdisWriteErrorLogEntry,
  NormalPoolPriority,
  type ResumableRoutine,
  type World,
} from '../src/index.ts';
import { scriptedDriver, timerCharacteristics } from './helpers/scripted.ts';
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

// DDIs only while a world runs (docs/decisions.md): a DDI called after World.run returned,
// from a Promise continuation or a setTimeout of driver code, is NdisSimUsageError with a
// hint, not a call of the actor "setup" nor a WorldStop escaping; world.call runs test code
// between runs as "setup".

/** A miniport that keeps, from its InitializeHandlerEx, calls of DDIs with live handles. */
function deferredCalls(): { w: World; calls: Map<string, () => unknown> } {
  const calls = new Map<string, () => unknown>();
  const drv = scriptedDriver('deferred', {
    initialize: (a) => {
      const h = a.handle;
      const timer = NdisAllocateTimerObject(
        h,
        timerCharacteristics(() => {}),
      ).TimerObject!;
      const wi = NdisAllocateIoWorkItem(h)!;
      const lock = new NDIS_SPIN_LOCK();
      NdisAllocateSpinLock(lock);
      const ev = new NDIS_EVENT();
      NdisInitializeEvent(ev);
      const mem = NdisAllocateMemoryWithTagPriority(h, 16, 0x74736574, NormalPoolPriority)!;
      calls.set('NdisMRemoveMiniport', () => NdisMRemoveMiniport(h));
      calls.set('NdisMResetMiniport', () => NdisMResetMiniport(h));
      calls.set('NdisWriteErrorLogEntry', () => NdisWriteErrorLogEntry(h, 0xc0001389, 0));
      calls.set('NdisSetTimerObject', () => NdisSetTimerObject(timer, -10_000, 0, null));
      calls.set('NdisCancelTimerObject', () => NdisCancelTimerObject(timer));
      calls.set('NdisQueueIoWorkItem', () => NdisQueueIoWorkItem(wi, () => {}, null));
      calls.set('NdisAcquireSpinLock', () => NdisAcquireSpinLock(lock));
      calls.set('NdisSetEvent', () => NdisSetEvent(ev));
      calls.set('NdisMSleep', () => NdisMSleep(10));
      calls.set('NdisFreeMemory', () => NdisFreeMemory(mem, 0, 0));
      calls.set('NdisMIndicateStatusEx', () =>
        NdisMIndicateStatusEx(h, {
          Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: NDIS_STATUS_INDICATION_REVISION_1 },
          SourceHandle: h,
          StatusCode: NDIS_STATUS_MEDIA_DISCONNECT,
        } as NDIS_STATUS_INDICATION),
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'deferred' }] });
  return { w, calls };
}

test('DDIs only while a world runs (R8.1): a DDI with a live handle called after run() returned (a Promise continuation, a setTimeout) throws NdisSimUsageError naming it, with the hint', () => {
  const { w, calls } = deferredCalls();
  assert.equal(w.run(100 * ns.ms).verdict, 'ok');
  const events = w.trace.events.length;
  assert.equal(calls.size, 11);
  for (const [ddi, call] of calls)
    assert.throws(
      call,
      (e: unknown) =>
        e instanceof NdisSimUsageError &&
        e.message.startsWith(
          `${ddi} was called while no ndis-sim world is running, outside any callback: from a Promise continuation (.then, the code after an await) or a setTimeout`,
        ),
      ddi,
    );
  // Nothing happened in the world: no "setup" actor removed the adapter.
  assert.equal(w.trace.events.length, events);
  assert.equal(w.run(1 * ns.s).verdict, 'ok');
  assert.equal(w.device('nic0').status, 'started');
});

test('DDIs only while a world runs (R8.1, R5.20): a dead handle used after the last run is NdisSimUsageError, not an internal WorldStop (NdisSim_StaleHandle)', () => {
  const { w, calls } = deferredCalls();
  w.at(100 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run(1 * ns.s);
  assert.equal(w.adapter('nic0')?.handleDead ?? true, true);
  assert.throws(calls.get('NdisMRemoveMiniport')!, NdisSimUsageError);
});

test('DDIs only while a world runs: world.call runs test code between runs as the actor "setup", its DDIs acting and their results coming back', () => {
  const { w, calls } = deferredCalls();
  w.run(100 * ns.ms);
  assert.equal(
    w.call(() => calls.get('NdisMRemoveMiniport')!()),
    NDIS_STATUS_SUCCESS,
  );
  const removal = w.trace.events.find((e) => e.kind === 'ddi' && e.what === 'NdisMRemoveMiniport');
  assert.equal(removal?.actor, 'setup');
  w.run(2 * ns.s);
  // R5.1: the removal went on, through PnP, to the halt.
  assert.ok(w.trace.events.some((e) => e.kind === 'call' && e.what === 'MiniportHaltEx'));
  // Once call() has returned, the world is not running again.
  assert.throws(calls.get('NdisMResetMiniport')!, NdisSimUsageError);
});

test('DDIs only while a world runs: the promiseLater repro, a Promise continuation of MiniportCheckForHangEx, fails the test with NdisSimUsageError instead of removing the adapter as "setup" in the next run', async () => {
  let failed: unknown = null;
  const drv = scriptedDriver('promise-later', {
    checkForHang: (a) => {
      Promise.resolve()
        .then(() => NdisMRemoveMiniport(a.handle))
        .catch((e: unknown) => {
          failed = e;
        });
      return false;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'promise-later' }] });
  assert.equal(w.run(2.5 * ns.s).verdict, 'ok');
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(failed instanceof NdisSimUsageError, String(failed));
  assert.match(
    (failed as Error).message,
    /^NdisMRemoveMiniport was called while no ndis-sim world is running/,
  );
  assert.equal(w.run(10 * ns.s).verdict, 'ok');
  assert.equal(w.device('nic0').status, 'started');
});
