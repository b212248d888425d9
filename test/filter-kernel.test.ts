// Kernel services with filter handles (08-kernel-services.md, 07-protocols-filters.md):
// timer objects, pool memory and read/write locks allocated with a module's
// NdisFilterHandle belong to the module and are freed by FilterDetach; work items take
// the filter driver handle.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import {
  DelayedWorkQueue,
  type DRIVER_OBJECT,
  type DriverModule,
  type IO_WORKITEM_ROUTINE_EX,
  IoAllocateWorkItem,
  IoFreeWorkItem,
  IoQueueWorkItemEx,
  LOCK_STATE_EX,
  NDIS_FILTER_ATTRIBUTES_REVISION_1,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_RW_LOCK_EX,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireRWLockWrite,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateNetBufferListPool,
  NdisAllocateRWLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisFDeregisterFilterDriver,
  NdisFRegisterFilterDriver,
  NdisFreeIoWorkItem,
  NdisFreeMemory,
  NdisFreeMemoryWithTagPriority,
  NdisFreeRWLock,
  NdisFreeTimerObject,
  NdisFSetAttributes,
  NdisQueueIoWorkItem,
  NdisReleaseRWLock,
  NdisSetTimerObject,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  type RunResult,
  World,
} from '../src/index.ts';
import { Irql } from '../src/kernel/kernel.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { filterIdentity } from './helpers/filter.ts';
import { findEvent, ns } from './helpers/world.ts';

const tag = 0x746c6966; // 'filt'

/** What the test filter keeps per module (its FilterModuleContext). */
interface Ctx {
  h: NDIS_HANDLE;
  timer: NDIS_HANDLE | null;
  mem: Uint8Array | null;
  lock: NDIS_RW_LOCK_EX | null;
  fired: number;
}

interface Hooks {
  /** In FilterAttach, after the context is made; returns the attach status (default: set attributes). */
  attach?: (c: Ctx, driverHandle: NDIS_HANDLE) => number;
  restart?: (c: Ctx) => void;
  detach?: (c: Ctx, driverHandle: NDIS_HANDLE) => void;
  /** The module's timer routine (default: counts). */
  timer?: (c: Ctx) => void;
  /** In DriverEntry, after the registration, with the DRIVER_OBJECT. */
  entry?: (d: DRIVER_OBJECT) => void;
}

/** A filter driver named `name` whose handlers run `hooks`; `modules` collects its contexts. */
function kernelFilter(name: string, hooks: Hooks, modules: Ctx[] = []): DriverModule {
  return {
    name,
    load() {
      let driverHandle: NDIS_HANDLE | null = null;
      const chars: NDIS_FILTER_DRIVER_CHARACTERISTICS<Ctx, null> = {
        ...filterIdentity(name, '{00000000-0000-0000-0000-0000000000f1}'),
        AttachHandler(h: NDIS_HANDLE) {
          const c: Ctx = { h, timer: null, mem: null, lock: null, fired: 0 };
          modules.push(c);
          NdisFSetAttributes(h, c, {
            Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 },
            Flags: 0,
          });
          return hooks.attach ? hooks.attach(c, driverHandle!) : NDIS_STATUS_SUCCESS;
        },
        DetachHandler: (c: Ctx) => hooks.detach?.(c, driverHandle!),
        RestartHandler(c: Ctx) {
          hooks.restart?.(c);
          return NDIS_STATUS_SUCCESS;
        },
        PauseHandler: () => NDIS_STATUS_SUCCESS,
      };
      return {
        DriverEntry(d: DRIVER_OBJECT) {
          const r = NdisFRegisterFilterDriver(d, null, chars);
          driverHandle = r.NdisFilterDriverHandle;
          hooks.entry?.(d);
          return r.Status;
        },
      };
    },
  };
}

/** The module's timer, allocated with its NdisFilterHandle; its routine runs `hooks.timer`. */
function moduleTimer(c: Ctx, hooks: Hooks): NDIS_HANDLE {
  const r = NdisAllocateTimerObject(c.h, {
    Header: { Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
    AllocationTag: tag,
    TimerFunction: (_s, ctx: Ctx) => (hooks.timer ? hooks.timer(ctx) : ctx.fired++),
    FunctionContext: c,
  });
  assert.equal(r.Status, NDIS_STATUS_SUCCESS);
  return r.TimerObject!;
}

/** healthy-nic under the filter, surprise-removed at 100 ms (the module detaches), run to 1 s. */
function run(f: DriverModule, verifier: 'collect' | 'bugcheck' = 'collect'): { w: World; r: RunResult } {
  const w = new World({ seed: 1, verifier });
  w.addDriver(healthyNic);
  w.addDriver(f);
  w.addFilter(f.name);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = w.run(ns.s);
  return { w, r };
}

const rules = (r: RunResult) => r.violations.map((v) => [v.rule, v.ddi, v.adapter]);

/** A filter that allocates a timer, memory and a lock with its module handle; `free` says what FilterDetach frees. */
function allocating(
  name: string,
  free: { timer: boolean; mem: boolean; lock: boolean },
  modules: Ctx[] = [],
) {
  const hooks: Hooks = {
    attach(c) {
      c.timer = moduleTimer(c, hooks);
      c.mem = NdisAllocateMemoryWithTagPriority(c.h, 64, tag, 16);
      c.lock = NdisAllocateRWLock(c.h);
      return NDIS_STATUS_SUCCESS;
    },
    restart: (c) => NdisSetTimerObject(c.timer!, -10 * 10_000, 0, c),
    timer(c) {
      const s = new LOCK_STATE_EX();
      NdisAcquireRWLockWrite(c.lock!, s, 0);
      c.mem![0] = ++c.fired;
      NdisReleaseRWLock(c.lock!, s);
    },
    detach(c) {
      if (free.timer) {
        NdisCancelTimerObject(c.timer!);
        NdisFreeTimerObject(c.timer!);
      }
      if (free.mem) NdisFreeMemory(c.mem!, 0, 0);
      if (free.lock) NdisFreeRWLock(c.lock!);
    },
  };
  return kernelFilter(name, hooks, modules);
}

test('NdisAllocateTimerObject, NdisAllocateMemoryWithTagPriority, NdisAllocateRWLock with an NdisFilterHandle: the timer runs as the filter on the module adapter; all freed in FilterDetach, nothing to report', () => {
  const modules: Ctx[] = [];
  const { w, r } = run(allocating('kf', { timer: true, mem: true, lock: true }, modules));
  assert.deepEqual(r.violations, []);
  assert.equal(modules.length, 1);
  const c = modules[0]!;
  assert.equal(c.fired, 1);
  assert.equal(c.mem!.length, 64);
  assert.equal(c.mem![0], 1);
  const ev = w.trace.events;
  const call = findEvent(ev, (e) => e.kind === 'call' && e.what === 'NdisTimerFunction' && e.actor === 'kf');
  assert.ok(call >= 0, 'the timer routine ran as the filter');
  assert.equal(ev[call]!.irql, Irql.Dispatch);
  assert.equal(ev[call]!.data?.adapter, 'nic0');
  const ddi = (what: string): TraceEvent => {
    const i = findEvent(ev, (e) => e.kind === 'ddi' && e.what === what && e.data?.module === 'kf@nic0');
    assert.ok(i >= 0, `${what} of the module is on the trace`);
    return ev[i]!;
  };
  for (const what of [
    'NdisAllocateTimerObject',
    'NdisSetTimerObject',
    'NdisCancelTimerObject',
    'NdisFreeTimerObject',
    'NdisAllocateRWLock',
  ]) {
    const e = ddi(what);
    assert.equal(e.actor, 'kf', what);
    assert.equal(e.data?.adapter, 'nic0', what);
  }
  // The module's objects are gone from its lists once freed.
  const m = w.ndis.filterModules[0]!;
  assert.deepEqual([m.timers, m.rwLocks, m.poolCount], [[], [], 0]);
});

test('NdisSim_TimerNotFreed, NdisSim_ResourceNotFreed: FilterDetach returns holding a timer object, a read/write lock or pool of its module handle', () => {
  const all = run(allocating('kf-keeps-all', { timer: false, mem: false, lock: false })).r;
  assert.deepEqual(rules(all), [
    ['NdisSim_TimerNotFreed', 'FilterDetach', 'nic0'],
    ['NdisSim_ResourceNotFreed', 'FilterDetach', 'nic0'],
  ]);
  assert.match(
    all.violations[0]!.message,
    /FilterDetach of kf-keeps-all@nic0 returned without freeing 1 timer object\(s\) allocated with its NdisFilterHandle \(NdisFreeTimerObject\)/,
  );
  // R8.4: it names the timer: where the module allocated it and last set it.
  assert.match(
    all.violations[0]!.message,
    /: the timer object allocated in FilterAttach at 0\.\d{6} s, function TimerFunction, last set in FilterRestart at 0\.\d{6} s$/,
  );
  assert.equal(all.violations[0]!.origin?.label, 'Made in');
  assert.match(
    all.violations[0]!.origin!.at,
    /^FilterAttach at 0\.\d{6} s \(NdisAllocateTimerObject; timer function TimerFunction\)$/,
  );
  assert.match(
    all.violations[1]!.message,
    /1 read\/write lock\(s\) \(NdisFreeRWLock\) and 1 pool allocation\(s\)/,
  );
  // R2.5, R7.5: its "Rule:" line is the filter's part of the rule, not the miniport's
  // (MiniportHaltEx, I/O space, ports).
  const summary = all.violations[1]!.summary;
  assert.match(
    summary,
    /^FilterDetach, or a failing FilterAttach, returned with .*NdisFilterHandle not freed/,
  );
  assert.doesNotMatch(summary, /MiniportHaltEx|I\/O space|port range|Unload routine of a protocol/);
  const memOnly = run(allocating('kf-keeps-mem', { timer: true, mem: false, lock: true })).r;
  assert.deepEqual(rules(memOnly), [['NdisSim_ResourceNotFreed', 'FilterDetach', 'nic0']]);
  assert.match(memOnly.violations[0]!.message, /without freeing 1 pool allocation\(s\)/);
  const lockOnly = run(allocating('kf-keeps-lock', { timer: true, mem: true, lock: false })).r;
  assert.deepEqual(rules(lockOnly), [['NdisSim_ResourceNotFreed', 'FilterDetach', 'nic0']]);
  assert.match(lockOnly.violations[0]!.message, /without freeing 1 read\/write lock\(s\)/);
  const timerOnly = run(allocating('kf-keeps-timer', { timer: false, mem: true, lock: true })).r;
  assert.deepEqual(rules(timerOnly), [['NdisSim_TimerNotFreed', 'FilterDetach', 'nic0']]);
});

test('NdisSim_CallbackAfterHalt: a module timer left set when FilterDetach returns fires after it, and its routine does not run', () => {
  const modules: Ctx[] = [];
  const hooks: Hooks = {
    attach(c) {
      c.timer = moduleTimer(c, hooks);
      return NDIS_STATUS_SUCCESS;
    },
    // Armed at each restart for 500 ms: the removal at 100 ms detaches the module first.
    restart: (c) => NdisSetTimerObject(c.timer!, -500 * 10_000, 0, c),
  };
  const { w, r } = run(kernelFilter('kf-armed', hooks, modules));
  assert.deepEqual(rules(r), [
    ['NdisSim_TimerNotFreed', 'FilterDetach', 'nic0'],
    ['NdisSim_CallbackAfterHalt', 'NdisTimerFunction', 'nic0'],
  ]);
  assert.match(r.violations[0]!.message, /1 still set/);
  assert.match(
    r.violations[1]!.message,
    /NdisTimerFunction of filter module kf-armed@nic0 fired after its FilterDetach returned/,
  );
  assert.equal(modules[0]!.fired, 0);
  assert.equal(
    findEvent(w.trace.events, (e) => e.kind === 'call' && e.what === 'NdisTimerFunction'),
    -1,
  );
});

test('R8.4 NdisSim_TimerFreedWhileSet: a module timer freed in FilterDetach while still set is named as NdisSim_TimerNotFreed names one: its filter module, where it was allocated, when it was last set', () => {
  const hooks: Hooks = {
    attach(c) {
      c.timer = moduleTimer(c, hooks);
      return NDIS_STATUS_SUCCESS;
    },
    restart: (c) => NdisSetTimerObject(c.timer!, -500 * 10_000, 0, c),
    // Never cancelled: FilterDetach frees it while it is still set.
    detach: (c) => NdisFreeTimerObject(c.timer!),
  };
  const { r } = run(kernelFilter('kf-free-set', hooks));
  assert.deepEqual(rules(r), [['NdisSim_TimerFreedWhileSet', 'NdisFreeTimerObject', 'nic0']]);
  assert.match(
    r.violations[0]!.message,
    /^timer of filter module kf-free-set@nic0 freed while still set: the timer object allocated in FilterAttach at \d+\.\d{6} s, function TimerFunction, last set in FilterRestart at \d+\.\d{6} s; cancel it \(NdisCancelTimerObject\) before freeing it/,
  );
  assert.match(r.violations[0]!.callSite ?? '', /\(in FilterDetach\)$/);
});

test('NdisSim_CallbackAfterHalt: a periodic module timer left set after FilterDetach is reported once, not at every tick, and never runs', () => {
  const modules: Ctx[] = [];
  const hooks: Hooks = {
    attach(c) {
      c.timer = moduleTimer(c, hooks);
      return NDIS_STATUS_SUCCESS;
    },
    // Every 50 ms from 500 ms on: some 10 ticks after the removal at 100 ms detached the module.
    restart: (c) => NdisSetTimerObject(c.timer!, -500 * 10_000, 50, c),
  };
  const { r } = run(kernelFilter('kf-periodic', hooks, modules));
  assert.deepEqual(rules(r), [
    ['NdisSim_TimerNotFreed', 'FilterDetach', 'nic0'],
    ['NdisSim_CallbackAfterHalt', 'NdisTimerFunction', 'nic0'],
  ]);
  assert.equal(modules[0]!.fired, 0);
});

test('NdisSim_TimerNotFreed, NdisSim_ResourceNotFreed, NdisSim_CallbackAfterHalt: a failing FilterAttach returns holding what it allocated with the module handle', () => {
  const hooks: Hooks = {
    attach(c) {
      c.timer = moduleTimer(c, hooks);
      NdisSetTimerObject(c.timer, -10 * 10_000, 0, c);
      c.mem = NdisAllocateMemoryWithTagPriority(c.h, 16, tag, 16);
      return NDIS_STATUS_FAILURE;
    },
  };
  const { r } = run(kernelFilter('kf-attach-fails', hooks));
  assert.deepEqual(rules(r), [
    ['NdisSim_TimerNotFreed', 'FilterAttach', 'nic0'],
    ['NdisSim_ResourceNotFreed', 'FilterAttach', 'nic0'],
    ['NdisSim_CallbackAfterHalt', 'NdisTimerFunction', 'nic0'],
  ]);
  assert.match(r.violations[0]!.message, /FilterAttach of kf-attach-fails@nic0 failed without freeing/);
  // The page of a failing attach, not FilterDetach's.
  for (const v of r.violations.slice(0, 2)) assert.match(v.message, /\(nc-ndis-filter_attach\)(:|$)/);
  assert.match(r.violations[2]!.message, /fired after its FilterAttach failed/);
});

test('R7.5 NdisSim_ResourceNotFreed: a failing FilterAttach that returns holding an NBL pool of its module handle is reported, as at FilterDetach, and the message cites nc-ndis-filter_attach', () => {
  const hooks: Hooks = {
    attach(c) {
      const pool = NdisAllocateNetBufferListPool(c.h, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: tag,
        DataSize: 0,
      });
      assert.ok(pool !== null, 'the pool is allocated');
      return NDIS_STATUS_FAILURE;
    },
  };
  const { r } = run(kernelFilter('kf-attach-leaks-pool', hooks));
  assert.deepEqual(rules(r), [['NdisSim_ResourceNotFreed', 'FilterAttach', 'nic0']]);
  assert.match(
    r.violations[0]!.message,
    /^FilterAttach of kf-attach-leaks-pool@nic0 failed without freeing 1 NBL pool\(s\) \(NdisFreeNetBufferListPool; allocated in FilterAttach at 0\.000340 s\) \(nc-ndis-filter_attach\)$/,
  );
});

test('NdisAllocateIoWorkItem with the filter driver handle: the routine runs at PASSIVE as the filter; objects of the driver handle outlive the module', () => {
  const seen = { worked: 0, fired: 0 };
  let driverTimer: NDIS_HANDLE | null = null;
  let driverMem: Uint8Array | null = null;
  const { w, r } = run(
    kernelFilter('kf-driver', {
      attach(_c, d) {
        const wi = NdisAllocateIoWorkItem(d)!;
        assert.notEqual(wi, null);
        NdisQueueIoWorkItem(
          wi,
          (_ctx: null, h: NDIS_HANDLE) => {
            seen.worked++;
            NdisFreeIoWorkItem(h);
          },
          null,
        );
        // A timer and pool of the driver handle: the module's detach does not check them.
        driverTimer = NdisAllocateTimerObject(d, {
          Header: {
            Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
            Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
          },
          AllocationTag: tag,
          TimerFunction: () => seen.fired++,
          FunctionContext: null,
        }).TimerObject;
        NdisSetTimerObject(driverTimer!, -300 * 10_000, 0, null);
        driverMem = NdisAllocateMemoryWithTagPriority(d, 8, tag, 16);
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  assert.deepEqual(r.violations, []);
  assert.equal(seen.worked, 1);
  const ev = w.trace.events;
  const i = findEvent(
    ev,
    (e) => e.kind === 'call' && e.what === 'NdisIoWorkItemFunction' && e.actor === 'kf-driver',
  );
  assert.ok(i >= 0);
  assert.equal(ev[i]!.actor, 'kf-driver');
  assert.equal(ev[i]!.irql, Irql.Passive);
  // The driver's timer fires at 300 ms, after the module detached at 100 ms: no report.
  assert.equal(seen.fired, 1);
  assert.equal(driverMem!.length, 8);
  assert.ok(driverTimer !== null);
});

test('NdisSim_BadParameter NdisAllocateIoWorkItem: a filter module handle is not one the page names (a filter passes its filter driver handle)', () => {
  const { r } = run(
    kernelFilter('kf-wi-module', {
      attach(c) {
        NdisAllocateIoWorkItem(c.h);
        return NDIS_STATUS_SUCCESS;
      },
    }),
    'bugcheck',
  );
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter');
  assert.match(
    r.bugCheck!.message,
    /NdisAllocateIoWorkItem: a filter driver passes its filter driver handle/,
  );
});

test('NdisSim_StaleHandle: NdisAllocateTimerObject, NdisAllocateMemoryWithTagPriority, NdisAllocateRWLock and NdisFreeMemoryWithTagPriority with the handle of a detached module', () => {
  const got: unknown[] = [];
  const { r } = run(
    kernelFilter('kf-stale', {
      attach(c) {
        c.mem = NdisAllocateMemoryWithTagPriority(c.h, 4, tag, 16);
        return NDIS_STATUS_SUCCESS;
      },
      detach(c, d) {
        // Leaves the work to a work item, which runs once the module is gone.
        const wi = NdisAllocateIoWorkItem(d)!;
        NdisQueueIoWorkItem(
          wi,
          () => {
            got.push(
              NdisAllocateTimerObject(c.h, {
                Header: {
                  Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
                  Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
                },
                AllocationTag: tag,
                TimerFunction: () => {},
                FunctionContext: null,
              }).Status,
            );
            got.push(NdisAllocateMemoryWithTagPriority(c.h, 4, tag, 16));
            got.push(NdisAllocateRWLock(c.h));
            NdisFreeMemoryWithTagPriority(c.h, c.mem!, tag);
            NdisFreeIoWorkItem(wi);
          },
          null,
        );
      },
    }),
  );
  assert.deepEqual(got, [NDIS_STATUS_FAILURE, null, null]);
  // The pool left at detach is reported once; the late free is stale but still frees it.
  assert.deepEqual(rules(r), [
    ['NdisSim_ResourceNotFreed', 'FilterDetach', 'nic0'],
    ['NdisSim_StaleHandle', 'NdisAllocateTimerObject', 'nic0'],
    ['NdisSim_StaleHandle', 'NdisAllocateMemoryWithTagPriority', 'nic0'],
    ['NdisSim_StaleHandle', 'NdisAllocateRWLock', 'nic0'],
    ['NdisSim_StaleHandle', 'NdisFreeMemoryWithTagPriority', 'nic0'],
  ]);
  assert.match(r.violations[1]!.message, /handle of filter module kf-stale@nic0 after it was detached/);
});

test('releasing-driver-allocated-resources, nf-wdm-ioqueueworkitemex: a filter driver queues an IO_WORKITEM of its DRIVER_OBJECT; while it is queued or running a stop-filter does not unload the driver: the unload routine runs after the routine returned', () => {
  const order: string[] = [];
  let obj: DRIVER_OBJECT | null = null;
  let driverHandle: NDIS_HANDLE | null = null;
  let clock: (() => number) | null = null;
  let queued = false;
  // The routine queues its item again until 150 ms: the item is queued or running all along.
  const again: IO_WORKITEM_ROUTINE_EX<null> = (io, _c, it) => {
    assert.equal(io, obj);
    if (clock!() < 150 * ns.ms) IoQueueWorkItemEx(it, again, DelayedWorkQueue, null);
    else {
      order.push('work done');
      IoFreeWorkItem(it);
    }
  };
  const f = kernelFilter('kf-io-wi', {
    entry(d) {
      obj = d;
      d.DriverUnload = () => {
        order.push(clock!() >= 150 * ns.ms ? 'unload at or after 150 ms' : 'unload before 150 ms');
        NdisFDeregisterFilterDriver(driverHandle!);
      };
    },
    attach(_c, d) {
      driverHandle = d;
      if (!queued) {
        queued = true;
        IoQueueWorkItemEx(IoAllocateWorkItem(obj!)!, again, DelayedWorkQueue, null);
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  clock = () => w.kernel.now;
  w.addDriver(healthyNic);
  w.addDriver(f);
  w.addFilter(f.name);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'stop-filter', driver: f.name });
  const r = w.run(ns.s);
  assert.deepEqual(rules(r), []);
  assert.deepEqual(order, ['work done', 'unload at or after 150 ms']);
});
