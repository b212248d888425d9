// Resumable routines tried as an outside NDIS developer would (src/ndis/resumable.ts;
// docs/model.md, "Resumable work-item routines"): rundown protection of IOCTLs, polling
// work items in filter and protocol drivers, re-queued and nested (`yield*`) routines,
// read and write that sleep, waits that time out or see an event set and reset, system
// sleep, surprise removal, cancel, exit, close and unload while a routine is set aside,
// determinism under explore; and the mistakes a developer makes with them.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pmHooks } from '../src/drivers/buggy/kit.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { type LwfModule, variantOfMonitorLwf, withOidForwarding } from '../src/drivers/lwf.ts';
import * as N from '../src/index.ts';
import {
  CTL_CODE,
  type DEVICE_OBJECT,
  DelayedWorkQueue,
  type DISPATCH_IO_STACK_LOCATION,
  DO_BUFFERED_IO,
  type DRIVER_DISPATCH,
  type DRIVER_OBJECT,
  type DriverModule,
  FILE_ANY_ACCESS,
  FILE_DEVICE_UNKNOWN,
  IO_NO_INCREMENT,
  type IO_WORKITEM,
  IoAllocateWorkItem,
  IoCompleteRequest,
  IoFreeWorkItem,
  IoQueueWorkItem,
  IoQueueWorkItemEx,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_READ,
  IRP_MJ_WRITE,
  METHOD_BUFFERED,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  NDIS_EVENT,
  NDIS_FILTER_ATTRIBUTES_REVISION_1,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  type NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisAllocateIoWorkItem,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCloseAdapterEx,
  NdisDeregisterDeviceEx,
  NdisDeregisterProtocolDriver,
  NdisFDeregisterFilterDriver,
  NdisFNetPnPEvent,
  NdisFRegisterFilterDriver,
  NdisFreeIoWorkItem,
  NdisFreeSpinLock,
  NdisFSetAttributes,
  NdisInitializeEvent,
  NdisMSleep,
  NdisOpenAdapterEx,
  NdisQueueIoWorkItem,
  NdisRegisterDeviceEx,
  NdisRegisterProtocolDriver,
  NdisReleaseSpinLock,
  NdisResetEvent,
  NdisReturnNetBufferLists,
  NdisSetEvent,
  NdisSetTimerObject,
  NdisWaitEvent,
  type NTSTATUS,
  type ResumableDispatch,
  type ResumableRoutine,
  STATUS_CANCELLED,
  STATUS_DEVICE_REMOVED,
  STATUS_SUCCESS,
} from '../src/index.ts';
import { oidRequestData } from '../src/ndis/oid.ts';
import type { WorldAction } from '../src/world.ts';
import { cli } from './helpers/cli.ts';
import { filterIdentity } from './helpers/filter.ts';
import { openParameters } from './helpers/protocol.ts';
import { after, type Hooks, scriptedDriver, timerCharacteristics } from './helpers/scripted.ts';
import { is, ns, testWorld } from './helpers/world.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

const IOCTL_PROBE = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

const act = (atNs: number, action: WorldAction) => ({ atNs, action });

/**
 * A miniport with a control device \Device\Trial (link Trial) whose routines are
 * `routines` (create, cleanup and close complete at once unless given), and `hooks`.
 * The halt deregisters the device after `hooks.halt` ran.
 */
function ctlWorld(
  name: string,
  routines: Partial<Record<number, DRIVER_DISPATCH>>,
  hooks: Hooks,
  actions: { atNs: number; action: WorldAction }[],
  opts: { seed?: number; collect?: boolean; deregisterInHalt?: boolean } = {},
) {
  const g: { device: NDIS_HANDLE | null; object: DEVICE_OBJECT | null } = { device: null, object: null };
  const drv = scriptedDriver(name, {
    ...hooks,
    driverEntry: (driver) => {
      const m: DRIVER_DISPATCH[] = [];
      m[IRP_MJ_CREATE] = m[IRP_MJ_CLOSE] = m[IRP_MJ_CLEANUP] = (_d, irp) => complete(irp, STATUS_SUCCESS);
      for (const [k, v] of Object.entries(routines)) if (v !== undefined) m[Number(k)] = v;
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\Trial',
        SymbolicName: '\\DosDevices\\Trial',
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      g.device = r.NdisDeviceHandle;
      g.object = r.pDeviceObject;
      if (r.pDeviceObject !== null) r.pDeviceObject.Flags |= DO_BUFFERED_IO;
      return hooks.driverEntry ? hooks.driverEntry(driver) : r.Status;
    },
    halt: (a, action) => {
      hooks.halt?.(a, action);
      if (opts.deregisterInHalt !== false && g.device !== null) {
        NdisDeregisterDeviceEx(g.device);
        g.device = null;
      }
    },
  });
  const w = testWorld({
    seed: opts.seed ?? 1,
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions,
    options: { trace: true, verifier: opts.collect ? 'collect' : 'bugcheck' },
  });
  return { w, g, drv };
}

// ---------------------------------------------------------------------------------
// Rundown protection: IOCTLs count themselves in; the halt stops new ones and waits
// on an event the last one out sets (the pattern of IoAcquireRemoveLock /
// ExWaitForRundownProtectionRelease, written with NDIS events).

interface Rundown {
  active: boolean;
  inFlight: number;
  readonly drained: NDIS_EVENT;
  done: string[];
  haltWaited: boolean | null;
}

function rundownWorld(haltWaitMs: number, seed = 1) {
  const rd: Rundown = { active: false, inFlight: 0, drained: new NDIS_EVENT(), done: [], haltWaited: null };
  const release = (): void => {
    if (--rd.inFlight === 0) NdisSetEvent(rd.drained);
  };
  const ioctl = function* (_d: DEVICE_OBJECT, irp: Irp): ResumableDispatch {
    if (!rd.active) return complete(irp, STATUS_DEVICE_REMOVED);
    if (rd.inFlight++ === 0) NdisResetEvent(rd.drained);
    // Talks to the hardware for 5 ms.
    yield NdisMSleep(5000);
    rd.done.push(`ioctl at ${irp.IoStatus.Information}`);
    release();
    return complete(irp, STATUS_SUCCESS);
  };
  const { w } = ctlWorld(
    `rundown-${haltWaitMs}`,
    { [IRP_MJ_DEVICE_CONTROL]: ioctl },
    {
      initialize: () => {
        NdisInitializeEvent(rd.drained);
        NdisSetEvent(rd.drained); // none in flight
        rd.active = true;
        return NDIS_STATUS_SUCCESS;
      },
      halt: () => {
        rd.active = false;
        rd.haltWaited = NdisWaitEvent(rd.drained, haltWaitMs);
      },
    },
    [
      act(100 * ns.ms, { kind: 'open', handle: 'a', link: 'Trial' }),
      act(100 * ns.ms, { kind: 'open', handle: 'b', link: 'Trial' }),
      act(1 * ns.s, { kind: 'ioctl', handle: 'a', code: IOCTL_PROBE, input: [], outputLength: 0 }),
      act(1 * ns.s + 500 * ns.us, {
        kind: 'ioctl',
        handle: 'b',
        code: IOCTL_PROBE,
        input: [],
        outputLength: 0,
      }),
      act(1 * ns.s + 1 * ns.ms, { kind: 'remove', device: 'nic0' }),
      act(2 * ns.s, { kind: 'close', handle: 'a' }),
      act(2 * ns.s, { kind: 'close', handle: 'b' }),
    ],
    { seed },
  );
  return { w, rd };
}

test('R2.10: rundown protection: the halt waits (NdisWaitEvent, no time-out) until the resumable IOCTLs in flight have left; both complete, the halt sees the event set', () => {
  const { w, rd } = rundownWorld(0);
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.equal(rd.haltWaited, true);
  assert.equal(rd.inFlight, 0);
  assert.equal(rd.done.length, 2, 'both IOCTLs got in before the halt and finished their 5 ms');
  assert.deepEqual(
    w.ioResults.map((x) => x.statusName),
    ['STATUS_SUCCESS', 'STATUS_SUCCESS'],
  );
  // The halt returned after the second IOCTL woke.
  const ev = w.trace.events;
  const haltRet = ev.findIndex(is('return', 'MiniportHaltEx'));
  const wakes = ev.flatMap((e, i) => (e.kind === 'wake' && e.data?.thread !== undefined ? [i] : []));
  assert.equal(wakes.length, 2);
  assert.ok(wakes.every((i) => i < haltRet));
  assert.deepEqual(r.modelNotes, []);
});

test('rundown with a 1 ms limit: the halt gives up (NdisWaitEvent FALSE); the IOCTL still set aside finishes later, and the driver unloads only once its handles are closed', () => {
  const { w, rd } = rundownWorld(1);
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.equal(rd.haltWaited, false);
  const ev = w.trace.events;
  const haltRet = ev.findIndex(is('return', 'MiniportHaltEx'));
  const wake = ev.findIndex((e) => e.kind === 'wake' && e.data?.thread === 1);
  const unload = ev.findIndex(is('call', 'MiniportDriverUnload'));
  assert.ok(haltRet < wake && wake < unload, `${haltRet} ${wake} ${unload}`);
  assert.equal(ev[unload]!.t, 2 * ns.s);
});

test('determinism: the rundown world gives the same trace for the same seed, and differs only by seed', () => {
  const trace = (seed: number) => {
    const { w } = rundownWorld(0, seed);
    w.run(3 * ns.s);
    return JSON.stringify(w.trace.events);
  };
  assert.equal(trace(3), trace(3));
  assert.equal(trace(7), trace(7));
});

// ---------------------------------------------------------------------------------
// A filter driver whose module polls in a work item of its own (NdisAllocateIoWorkItem
// with the filter driver handle), stopped and waited for in FilterDetach.

interface PollModule {
  handle: NDIS_HANDLE;
  item: NDIS_HANDLE | null;
  stop: boolean;
  polls: number;
  readonly ended: NDIS_EVENT;
  detachWaited: boolean | null;
}

function pollingFilter(name: string, resumable: boolean, log: PollModule[]): DriverModule {
  return {
    name,
    load() {
      let driverHandle: NDIS_HANDLE | null = null;
      const plain = (m: PollModule): void => {
        while (!m.stop) {
          m.polls++;
          NdisMSleep(20_000);
        }
        NdisSetEvent(m.ended);
      };
      const gen = function* (m: PollModule): ResumableRoutine {
        while (!m.stop) {
          m.polls++;
          yield NdisMSleep(20_000);
        }
        NdisSetEvent(m.ended);
      };
      const chars: NDIS_FILTER_DRIVER_CHARACTERISTICS<PollModule, null> = {
        ...filterIdentity(name, '{00000000-0000-0000-0000-0000000000f1}'),
        AttachHandler: (h: NDIS_HANDLE) => {
          const m: PollModule = {
            handle: h,
            item: null,
            stop: false,
            polls: 0,
            ended: new NDIS_EVENT(),
            detachWaited: null,
          };
          log.push(m);
          NdisInitializeEvent(m.ended);
          m.item = NdisAllocateIoWorkItem(driverHandle!);
          const s = NdisFSetAttributes(h, m, {
            Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 },
            Flags: 0,
          });
          if (s !== NDIS_STATUS_SUCCESS) return s;
          NdisQueueIoWorkItem(m.item!, (resumable ? gen : plain) as (c: unknown, h: NDIS_HANDLE) => void, m);
          return s;
        },
        DetachHandler: (m: PollModule) => {
          m.stop = true;
          m.detachWaited = NdisWaitEvent(m.ended, 0);
          NdisFreeIoWorkItem(m.item!);
        },
        RestartHandler: () => NDIS_STATUS_SUCCESS,
        PauseHandler: () => NDIS_STATUS_SUCCESS,
        NetPnPEventHandler: (m: PollModule, e) => NdisFNetPnPEvent(m.handle, e),
      };
      return {
        DriverEntry: (d: DRIVER_OBJECT) => {
          const r = NdisFRegisterFilterDriver(d, null, chars);
          driverHandle = r.NdisFilterDriverHandle;
          return r.Status;
        },
      };
    },
  };
}

function filterWorld(resumable: boolean, seed = 1) {
  const log: PollModule[] = [];
  const f = pollingFilter(resumable ? 'poll-lwf' : 'poll-lwf-plain', resumable, log);
  const w = testWorld({
    seed,
    drivers: [healthyNic, f],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    actions: [act(500 * ns.ms, { kind: 'surprise-remove', device: 'nic0' })],
    options: { trace: true },
  });
  w.addFilter(f.name);
  return { w, log };
}

test("R7.11, R8.8: FilterDetach that stops its module's polling work item and waits for it: resumable, it goes on as on Windows; plain, the nested wait deadlocks (not-modelled)", () => {
  const { w, log } = filterWorld(true);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.equal(log.length, 1);
  assert.equal(log[0]!.detachWaited, true);
  // Polled every 20 ms for 0.5 s.
  assert.ok(log[0]!.polls >= 24 && log[0]!.polls <= 27, `${log[0]!.polls} polls`);
  const ev = w.trace.events;
  const lastWake = ev.findLastIndex((e) => e.kind === 'wake' && e.data?.thread !== undefined);
  const detachRet = ev.findIndex(is('return', 'FilterDetach'));
  assert.ok(lastWake < detachRet, "the detach returned after the routine's last wake");
  assert.equal(ev[lastWake]!.actor, 'poll-lwf', 'the routine runs as the filter');

  const plain = filterWorld(false);
  const rp = plain.w.run(1 * ns.s);
  assert.equal(rp.verdict, 'not-modelled');
  assert.match(rp.message ?? '', /write NdisIoWorkItemFunction as a resumable routine/);
});

// ---------------------------------------------------------------------------------
// A protocol driver that polls each binding in a WDM work item (IoQueueWorkItemEx with
// the DRIVER_OBJECT, as examples/sleepy-proto.ts), stopped and waited for in
// ProtocolUnbindAdapterEx.

interface PollBinding {
  handle: NDIS_HANDLE | null;
  item: IO_WORKITEM | null;
  stop: boolean;
  polls: number;
  readonly ended: NDIS_EVENT;
  unbindWaited: boolean | null;
}

function pollingProtocol(log: PollBinding[]): DriverModule {
  return {
    name: 'poll-proto',
    load() {
      let object: DRIVER_OBJECT | null = null;
      let protoHandle: NDIS_HANDLE | null = null;
      const chars: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<PollBinding, null> = {
        Header: {
          Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
          Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: 30,
        Name: 'poll-proto',
        BindAdapterHandlerEx: (_drv, BindContext, p) => {
          const b: PollBinding = {
            handle: null,
            item: IoAllocateWorkItem(object as unknown as DEVICE_OBJECT),
            stop: false,
            polls: 0,
            ended: new NDIS_EVENT(),
            unbindWaited: null,
          };
          log.push(b);
          NdisInitializeEvent(b.ended);
          const r = NdisOpenAdapterEx(protoHandle!, b, openParameters(p.AdapterName), BindContext);
          b.handle = r.NdisBindingHandle;
          if (r.Status === NDIS_STATUS_SUCCESS)
            IoQueueWorkItemEx(
              b.item!,
              function* (_o, c: PollBinding): ResumableRoutine {
                while (!c.stop) {
                  c.polls++;
                  yield NdisMSleep(50_000);
                }
                NdisSetEvent(c.ended);
              },
              DelayedWorkQueue,
              b,
            );
          return r.Status;
        },
        OpenAdapterCompleteHandlerEx: () => {},
        UnbindAdapterHandlerEx: (_ctx, b) => {
          b.stop = true;
          b.unbindWaited = NdisWaitEvent(b.ended, 0);
          IoFreeWorkItem(b.item!);
          return NdisCloseAdapterEx(b.handle!);
        },
        CloseAdapterCompleteHandlerEx: () => {},
        NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
        OidRequestCompleteHandler: () => {},
        ReceiveNetBufferListsHandler: (b, chain, _port, _count, flags) => {
          if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) NdisReturnNetBufferLists(b.handle!, chain, 0);
        },
        SendNetBufferListsCompleteHandler: () => {},
        StatusHandlerEx: () => {},
      };
      return {
        DriverEntry: (obj: DRIVER_OBJECT) => {
          object = obj;
          const r = NdisRegisterProtocolDriver(null, chars);
          protoHandle = r.NdisProtocolHandle;
          obj.DriverUnload = () => NdisDeregisterProtocolDriver(protoHandle!);
          return r.Status;
        },
      };
    },
  };
}

test("R7.3: ProtocolUnbindAdapterEx that stops its binding's resumable WDM work item and waits for it goes on once it ends; the driver unloads after", () => {
  const log: PollBinding[] = [];
  const p = pollingProtocol(log);
  const w = testWorld({
    drivers: [healthyNic, p],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    protocols: [],
    actions: [act(500 * ns.ms, { kind: 'surprise-remove', device: 'nic0' })],
    options: { trace: true },
  });
  w.addProtocolDriver('poll-proto');
  w.at(800 * ns.ms, { kind: 'stop-protocol', driver: 'poll-proto' });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.equal(log.length, 1);
  assert.equal(log[0]!.unbindWaited, true);
  assert.ok(log[0]!.polls >= 9 && log[0]!.polls <= 11, `${log[0]!.polls} polls`);
  const ev = w.trace.events;
  const lastWake = ev.findLastIndex((e) => e.kind === 'wake' && e.data?.thread !== undefined);
  const unbindRet = ev.findIndex(is('return', 'ProtocolUnbindAdapterEx'));
  assert.ok(lastWake > 0 && lastWake < unbindRet, `${lastWake} ${unbindRet}`);
});

// ---------------------------------------------------------------------------------
// Work items that re-queue themselves, delegate to helpers with `yield*`, and wait
// with time-outs.

test('R8.8: a resumable work item that re-queues itself before returning runs again; each run is a thread of its own, and the halt that frees the item after the last one passes', () => {
  const runs: number[] = [];
  let stop = false;
  let item: NDIS_HANDLE | null = null;
  const idle = new NDIS_EVENT();
  const routine = function* (): ResumableRoutine {
    runs.push(runs.length);
    yield NdisMSleep(30_000);
    if (!stop) NdisQueueIoWorkItem(item!, routine, null);
    else NdisSetEvent(idle);
  };
  const drv = scriptedDriver('requeue', {
    initialize: (a) => {
      NdisInitializeEvent(idle);
      item = NdisAllocateIoWorkItem(a.handle);
      NdisQueueIoWorkItem(item!, routine, null);
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      stop = true;
      NdisWaitEvent(idle, 0);
      NdisFreeIoWorkItem(item!);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'requeue' }],
    actions: [act(300 * ns.ms, { kind: 'remove', device: 'nic0' })],
    options: { trace: true },
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  // About one run every 30 ms until the halt at 300 ms.
  assert.ok(runs.length >= 10 && runs.length <= 11, `${runs.length} runs`);
  const threads = new Set(
    w.trace.events.flatMap((e) => (e.kind === 'wake' && e.data?.thread !== undefined ? [e.data.thread] : [])),
  );
  assert.equal(threads.size, runs.length, 'each run is a routine of its own');
  assert.ok(drv.calls.some((c) => c.startsWith('MiniportDriverUnload') || c.startsWith('MiniportHaltEx')));
});

test("R8.12: a resumable routine delegates with `yield*` to helpers that wait; each helper's wait sets the routine aside, and its result comes back", () => {
  const got: (string | boolean)[] = [];
  const ev = new NDIS_EVENT();
  function* settle(us: number): ResumableRoutine<string> {
    yield NdisMSleep(us);
    return `settled ${us}`;
  }
  function* waitReady(ms: number): ResumableRoutine<boolean> {
    const set = yield NdisWaitEvent(ev, ms);
    if (!set) return yield* waitReady(ms * 2); // back off, recursively
    return set;
  }
  const drv = scriptedDriver('delegate', {
    initialize: (a) => {
      NdisInitializeEvent(ev);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          got.push(yield* settle(1000));
          got.push(yield* waitReady(10)); // 10, 20, 40 ms: set at 50 ms, during the third
          got.push(yield* settle(2000));
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      after(a, 50, () => NdisSetEvent(ev));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'delegate' }],
    options: { trace: true },
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(got, ['settled 1000', true, 'settled 2000']);
  const waits = w.trace.events.filter((e) => e.kind === 'wake' && e.what === 'NdisWaitEvent');
  assert.deepEqual(
    waits.map((e) => e.data?.result),
    [false, false, true],
  );
  assert.ok(waits[2]!.t >= 50 * ns.ms && waits[2]!.t < 51 * ns.ms);
});

test('R8.12: NdisWaitEvent yielded with a time-out no one sets gives FALSE when the time is up, not before', () => {
  const got: { ok: boolean; at: number }[] = [];
  const ev = new NDIS_EVENT();
  let clock = (): number => 0;
  const drv = scriptedDriver('timeout', {
    initialize: (a) => {
      NdisInitializeEvent(ev);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          const t0 = clock();
          const ok = yield NdisWaitEvent(ev, 25);
          got.push({ ok, at: clock() - t0 });
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'timeout' }] });
  clock = () => w.kernel.now;
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(got, [{ ok: false, at: 25 * ns.ms }]);
});

test('R8.12: a notification event set and reset again before the waiting routine runs still gives it TRUE (KeSetEvent satisfies the waits under way)', () => {
  const got: boolean[] = [];
  const ev = new NDIS_EVENT();
  const drv = scriptedDriver('set-reset', {
    initialize: (a) => {
      NdisInitializeEvent(ev);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          got.push(yield NdisWaitEvent(ev, 100));
          // Reset before it ran: a new wait waits again (FALSE at its time-out).
          got.push(yield NdisWaitEvent(ev, 5));
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      after(a, 10, () => {
        NdisSetEvent(ev);
        NdisResetEvent(ev);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'set-reset' }] });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(got, [true, false]);
});

// ---------------------------------------------------------------------------------
// Read and write routines that sleep, and what happens to their requests around them.

/** A read that waits for data (polls every 1 ms, up to `polls` times), a write that takes 3 ms to reach the hardware. */
function rwRoutines(state: { data: number[]; reads: number; writes: number }, polls = 50) {
  const read = function* (_d: DEVICE_OBJECT, irp: Irp): ResumableDispatch {
    state.reads++;
    for (let i = 0; i < polls && state.data.length === 0; i++) yield NdisMSleep(1000);
    const b = irp.AssociatedIrp.SystemBuffer;
    const n = Math.min(state.data.length, b?.length ?? 0);
    b?.set(state.data.splice(0, n));
    return complete(irp, STATUS_SUCCESS, n);
  };
  const write = function* (_d: DEVICE_OBJECT, irp: Irp): ResumableDispatch {
    state.writes++;
    yield NdisMSleep(3000);
    const b = irp.AssociatedIrp.SystemBuffer;
    state.data.push(...(b ?? []));
    return complete(irp, STATUS_SUCCESS, b?.length ?? 0);
  };
  return { [IRP_MJ_READ]: read, [IRP_MJ_WRITE]: write };
}

test('IRP_MJ_READ and IRP_MJ_WRITE routines that sleep complete their requests when they return: the read set aside waiting for data gets the bytes written 3 ms later', () => {
  const st = { data: [] as number[], reads: 0, writes: 0 };
  const { w } = ctlWorld('rw-sleepy', rwRoutines(st), {}, [
    act(100 * ns.ms, { kind: 'open', handle: 'r', link: 'Trial' }),
    act(100 * ns.ms, { kind: 'open', handle: 'w', link: 'Trial' }),
    act(200 * ns.ms, { kind: 'read', handle: 'r', length: 8 }),
    act(205 * ns.ms, { kind: 'write', handle: 'w', data: [1, 2, 3] }),
    act(500 * ns.ms, { kind: 'close', handle: 'r' }),
    act(500 * ns.ms, { kind: 'close', handle: 'w' }),
  ]);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  const res = w.ioResults.map((x) => [x.request, x.statusName, x.information]);
  assert.deepEqual(res, [
    ['WriteFile', 'STATUS_SUCCESS', 3],
    ['ReadFile', 'STATUS_SUCCESS', 3],
  ]);
  // The write's 3 ms; the read's next poll, at the same instant or 1 ms later.
  const [wr, rd] = w.ioResults.map((x) => x.completedNs);
  assert.equal(wr, 208 * ns.ms);
  assert.ok(rd! >= wr! && rd! <= 209 * ns.ms, `read completed at ${rd}`);
});

test('close while a resumable read is set aside: IRP_MJ_CLEANUP comes at once, IRP_MJ_CLOSE only after the routine returns', () => {
  const st = { data: [] as number[], reads: 0, writes: 0 };
  const { w } = ctlWorld('rw-close', rwRoutines(st, 20), {}, [
    act(100 * ns.ms, { kind: 'open', handle: 'r', link: 'Trial' }),
    act(200 * ns.ms, { kind: 'read', handle: 'r', length: 8 }),
    act(205 * ns.ms, { kind: 'close', handle: 'r' }),
  ]);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  const ev = w.trace.events;
  const cleanup = ev.find(is('call', 'DispatchCleanup'));
  const close = ev.find(is('call', 'DispatchClose'));
  const readRet = ev.find(is('return', 'DispatchRead'));
  assert.equal(cleanup?.t, 205 * ns.ms);
  assert.equal(readRet?.t, 220 * ns.ms, 'the read gave up after its 20 polls');
  assert.ok(close !== undefined && close.t >= readRet!.t, `close at ${close?.t}`);
  assert.ok(ev.indexOf(close!) > ev.indexOf(readRet!));
});

test('surprise removal while a resumable read is set aside: the halt (which deregisters the device) runs beside it, the read completes after, and the driver unloads once the handle is closed', () => {
  const st = { data: [] as number[], reads: 0, writes: 0 };
  const { w } = ctlWorld('rw-removed', rwRoutines(st, 20), {}, [
    act(100 * ns.ms, { kind: 'open', handle: 'r', link: 'Trial' }),
    act(200 * ns.ms, { kind: 'read', handle: 'r', length: 8 }),
    act(205 * ns.ms, { kind: 'surprise-remove', device: 'nic0' }),
    act(600 * ns.ms, { kind: 'close', handle: 'r' }),
  ]);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  const ev = w.trace.events;
  const haltRet = ev.findIndex(is('return', 'MiniportHaltEx'));
  const readRet = ev.findIndex(is('return', 'DispatchRead'));
  const unload = ev.findIndex(is('call', 'MiniportDriverUnload'));
  assert.ok(haltRet >= 0 && haltRet < readRet && readRet < unload, `${haltRet} ${readRet} ${unload}`);
  assert.equal(ev[unload]!.t, 600 * ns.ms);
  assert.deepEqual(
    w.ioResults.map((x) => x.statusName),
    ['STATUS_SUCCESS'],
  );
});

// ---------------------------------------------------------------------------------
// Mistakes a developer makes with resumable routines.

/** A scripted miniport `name` with `hooks`, removed at 500 ms, run to 1 s in collect mode. */
function mistake(name: string, hooks: Hooks) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions: [act(500 * ns.ms, { kind: 'remove', device: 'nic0' })],
    options: { trace: true, verifier: 'collect' },
  });
  return { w, r: w.run(1 * ns.s), drv };
}

const notResumable = (fn: string) =>
  new RegExp(
    `^${fn} is not modelled by ndis-sim: a resumable ${fn} \\(a generator function, \`function\\*\`\\): it returned a generator, so none of its body ran\\. Only the routines of NdisQueueIoWorkItem, IoQueueWorkItem and IoQueueWorkItemEx and the IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ and IRP_MJ_WRITE dispatch routines may yield their waits .*; write ${fn} as a plain function$`,
  );

test('MiniportHaltEx written as a generator function (its body would never run) stops the run as not-modelled, naming it, instead of passing a halt that did nothing', () => {
  let ran = false;
  const { r } = mistake('halt-gen', {
    characteristics: (c) => {
      c.HaltHandlerEx = function* (): Generator<unknown, void, boolean> {
        ran = true;
        yield NdisMSleep(1000);
      } as unknown as typeof c.HaltHandlerEx;
    },
  });
  assert.equal(ran, false);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', notResumable('MiniportHaltEx'));
});

test('a timer callback (NdisTimerFunction, DISPATCH) written as a generator function stops the run as not-modelled, naming it', () => {
  let ran = false;
  const { r, w } = mistake('timer-gen', {
    initialize: (a) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(function* () {
          ran = true;
          yield NdisMSleep(1); // a DISPATCH routine may not wait: never reached
        } as unknown as () => void),
      );
      NdisSetTimerObject(t.TimerObject!, -10 * 10_000, 0, null);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(ran, false);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', notResumable('NdisTimerFunction'));
  // The run stops as the timer fires, 10 ms after it was set during initialization.
  const init = w.trace.events.find(is('call', 'MiniportInitializeEx'))!.t;
  assert.ok(r.endNs >= init + 10 * ns.ms && r.endNs < init + 11 * ns.ms, `${r.endNs}`);
});

test('MiniportPause written as a generator function is named as such, not as "an unknown status (0x00000000)"', () => {
  const { r } = mistake('pause-gen', {
    pause: function* () {
      yield NdisMSleep(1000);
      return NDIS_STATUS_SUCCESS;
    } as unknown as Hooks['pause'],
  });
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', notResumable('MiniportPause'));
  assert.deepEqual(r.violations, []);
});

test('`yield helper()` where `yield* helper()` was meant: the routine would get the generator back and the helper would never run; the run ends with the mistake named', () => {
  let helperRan = false;
  function* settle(): Generator<unknown, void, boolean> {
    helperRan = true;
    yield NdisMSleep(1000);
  }
  const { r } = mistake('yield-not-star', {
    initialize: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          yield settle() as unknown as boolean;
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(helperRan, false);
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  assert.match(
    r.bugCheck?.message ?? '',
    /^NdisIoWorkItemFunction threw YieldedGeneratorError: a resumable routine yielded a generator: a helper that is itself a generator function is called with `yield\* helper\(…\)`/,
  );
});

test("a wait not yielded before the routine returns is named, with no driver location made up (the routine has returned: no frame of the driver's is left)", () => {
  const ev = new NDIS_EVENT();
  const { r } = mistake('forgot-wait', {
    initialize: (a) => {
      NdisInitializeEvent(ev);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        // biome-ignore lint/correctness/useYield: the mistake under test
        function* (): ResumableRoutine {
          if (!NdisWaitEvent(ev, 10)) return; // always FALSE: not yielded
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  assert.equal(
    r.bugCheck?.message,
    'NdisIoWorkItemFunction threw UnyieldedWaitError: NdisWaitEvent in a resumable routine (a generator function) must be yielded before it returns: write `yield NdisWaitEvent(…)`, and the routine goes on when the wait ends; a plain function the routine calls cannot yield, so one that waits becomes a generator function too, called with `yield* helper(…)` (docs/model.md, "Resumable work-item routines")',
  );
});

test('a resumable read that throws after its wait is a driver exception of DispatchRead, at the line that threw', () => {
  const { w } = ctlWorld(
    'rw-throws',
    {
      [IRP_MJ_READ]: function* (): ResumableDispatch {
        yield NdisMSleep(1000);
        throw new RangeError('ring index out of range');
      },
    },
    {},
    [
      act(100 * ns.ms, { kind: 'open', handle: 'r', link: 'Trial' }),
      act(200 * ns.ms, { kind: 'read', handle: 'r', length: 8 }),
    ],
  );
  const r = w.run(1 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  assert.match(
    r.bugCheck?.message ?? '',
    /^DispatchRead threw RangeError: ring index out of range at .*test\/trialres\.test\.ts:\d+:\d+/,
  );
  assert.equal(r.endNs, 201 * ns.ms);
});

test('yields inside try/finally: the finally block runs when the routine returns, and may wait itself; a value returned by a work-item routine is ignored, as C ignores it', () => {
  const order: string[] = [];
  const { r } = mistake('try-finally', {
    initialize: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* () {
          try {
            yield NdisMSleep(1000);
            order.push('body');
            return 42;
          } finally {
            order.push('finally');
            yield NdisMSleep(1000);
            NdisFreeIoWorkItem(wi);
            order.push('finally done');
          }
        } as unknown as () => ResumableRoutine,
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(order, ['body', 'finally', 'finally done']);
});

// ---------------------------------------------------------------------------------
// CancelIoEx, the application's exit, system sleep and unload while a routine is set aside.

/** An IOCTL that works in 1 ms steps, `steps` of them, and gives up with STATUS_CANCELLED once Irp->Cancel is set. */
function stepper(steps: number, seen: string[]) {
  return function* (_d: DEVICE_OBJECT, irp: Irp): ResumableDispatch {
    for (let i = 0; i < steps; i++) {
      if (irp.Cancel) {
        seen.push(`cancelled after ${i}`);
        return complete(irp, STATUS_CANCELLED);
      }
      yield NdisMSleep(1000);
    }
    seen.push('done');
    return complete(irp, STATUS_SUCCESS);
  };
}

test('CancelIoEx on a resumable IOCTL in its routine: no Cancel routine is set, so IoCancelIrp only sets Irp->Cancel; the routine sees it at its next step and completes STATUS_CANCELLED', () => {
  const seen: string[] = [];
  const { w } = ctlWorld('ioctl-cancel', { [IRP_MJ_DEVICE_CONTROL]: stepper(10, seen) }, {}, [
    act(100 * ns.ms, { kind: 'open', handle: 'a', link: 'Trial' }),
    act(200 * ns.ms, { kind: 'ioctl', handle: 'a', code: IOCTL_PROBE, input: [], outputLength: 0 }),
    act(203.5 * ns.ms, { kind: 'cancel', handle: 'a' }),
    act(300 * ns.ms, { kind: 'close', handle: 'a' }),
  ]);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(seen, ['cancelled after 4']);
  assert.deepEqual(
    w.ioResults.map((x) => [x.statusName, x.completedNs]),
    [['STATUS_CANCELLED', 204 * ns.ms]],
  );
});

test('the application exits while a resumable IOCTL is in its routine: the request is cancelled (Irp->Cancel) and completes at the next step; IRP_MJ_CLOSE waits for it', () => {
  const seen: string[] = [];
  const { w } = ctlWorld('ioctl-exit', { [IRP_MJ_DEVICE_CONTROL]: stepper(10, seen) }, {}, [
    act(100 * ns.ms, { kind: 'open', handle: 'a', link: 'Trial' }),
    act(200 * ns.ms, { kind: 'ioctl', handle: 'a', code: IOCTL_PROBE, input: [], outputLength: 0 }),
    act(202.5 * ns.ms, { kind: 'exit' }),
  ]);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(seen, ['cancelled after 3']);
  const ev = w.trace.events;
  const ret = ev.findIndex(is('return', 'DispatchDeviceControl'));
  const close = ev.findIndex(is('call', 'DispatchClose'));
  assert.ok(ret >= 0 && close > ret, `${ret} ${close}`);
  assert.equal(ev[close]!.t, 203 * ns.ms);
  assert.deepEqual(r.pending, []);
});

test('sleep (S3) while a resumable work item is set aside: its wake that falls due in the sleep comes right after the system wakes, and the routine goes on', () => {
  const returns: number[] = [];
  let clock = (): number => 0;
  let stop = false;
  const ended = new NDIS_EVENT();
  const drv = scriptedDriver(
    's3-poller',
    pmHooks({
      initialize: (a) => {
        NdisInitializeEvent(ended);
        const wi = NdisAllocateIoWorkItem(a.handle)!;
        NdisQueueIoWorkItem(
          wi,
          function* (): ResumableRoutine {
            while (!stop) {
              yield NdisMSleep(100_000);
              returns.push(clock());
            }
            NdisFreeIoWorkItem(wi);
            NdisSetEvent(ended);
          },
          null,
        );
        return NDIS_STATUS_SUCCESS;
      },
      halt: () => {
        stop = true;
        NdisWaitEvent(ended, 0);
      },
    }),
  );
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 's3-poller' }],
    protocols: [],
    actions: [
      act(1 * ns.s, { kind: 'sleep', state: 'S3', durationNs: 2 * ns.s }),
      act(4 * ns.s, { kind: 'remove', device: 'nic0' }),
    ],
    options: { verifier: 'collect', trace: true },
  });
  clock = () => w.kernel.now;
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; ') || (r.message ?? ''));
  const frozen = w.trace.events.find(
    (e) => e.actor === 'power' && e.kind === 'action' && e.what.startsWith('asleep'),
  )!.t;
  assert.deepEqual(
    returns.filter((t) => t > frozen && t < 3 * ns.s),
    [],
    'nothing runs while the system sleeps',
  );
  const next = returns.filter((t) => t >= 3 * ns.s);
  assert.ok(next[0]! < 3 * ns.s + 1 * ns.ms, `woke at ${next[0]}`);
  assert.ok(next[1]! - next[0]! >= 100 * ns.ms);
  assert.deepEqual(r.modelNotes, []);
  assert.ok(drv.calls.some((c) => c.startsWith('MiniportHaltEx')));
});

test('R2.16: the miniport driver unloads only once its resumable NDIS work item (allocated with the driver handle) has returned, however long after the last halt', () => {
  const order: string[] = [];
  let driverHandle: NDIS_HANDLE | null = null;
  const drv = scriptedDriver('unload-waits', {
    driverEntry: (h) => {
      driverHandle = h;
      return NDIS_STATUS_SUCCESS;
    },
    initialize: () => {
      const wi = NdisAllocateIoWorkItem(driverHandle!)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          order.push('start');
          yield NdisMSleep(700_000);
          order.push('end');
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => order.push('halt'),
    unload: () => order.push('unload'),
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'unload-waits' }],
    actions: [act(100 * ns.ms, { kind: 'remove', device: 'nic0' })],
    options: { trace: true },
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(order, ['start', 'halt', 'end', 'unload']);
  const unload = w.trace.events.find(is('call', 'MiniportDriverUnload'));
  assert.ok(unload !== undefined && unload.t >= 700 * ns.ms, `unload at ${unload?.t}`);
});

// ---------------------------------------------------------------------------------
// Determinism under explore: worker threads report what one thread reports.

test('explore --jobs over a resumable watch whose halt gives up early (link-watch-hasty): one thread and two worker threads give the same report; a replay runs the same trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-trialres-'));
  try {
    const file = join(dir, 'hasty.yaml');
    writeFileSync(
      file,
      readFileSync('examples/link-watch.yaml', 'utf8')
        .replace('driver: link-watch\n', 'driver: link-watch-hasty\n')
        // Elsewhere, the module comes from --driver.
        .replace(/^driverModules: .*\n/m, '')
        .replace(/\nexpect:[\s\S]*$/, '\n'),
    );
    const report = (jobs: string) => {
      const r = cli(
        'explore',
        file,
        '--driver',
        'examples/link-watch.ts',
        '--runs',
        '24',
        '--jobs',
        jobs,
        '--out',
        join(dir, `j${jobs}`),
      );
      assert.equal(r.status, 1, r.stderr);
      return r.stdout
        .replace(/ in [\d.]+ s .*/, '')
        .replace(/ {2}shrinking took [\d.]+ s/, '')
        .replace(/j\d\//g, '');
    };
    const one = report('1');
    assert.match(one, /NdisSim_CallbackAfterHalt/);
    assert.equal(report('2'), one);
    const replay = readdirSync(join(dir, 'j1')).find((f) => f.endsWith('.replay.json'));
    assert.ok(replay !== undefined);
    const rp = cli('replay', join(dir, 'j1', replay), '--quiet');
    assert.match(rp.stdout, /the trace is the one recorded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------
// A routine whose code outlives its driver, and a wait at the wrong IRQL.

test('R2.16: a resumable IOCTL that completes its IRP and then sleeps can outlive its driver (the close and the unload no longer wait for it): when it wakes after the unload it is reported (NdisSim_CallbackAfterHalt) and not run', () => {
  const log: string[] = [];
  const { w } = ctlWorld(
    'tail-sleeper',
    {
      [IRP_MJ_DEVICE_CONTROL]: function* (_d, irp): ResumableDispatch {
        complete(irp, STATUS_SUCCESS);
        yield NdisMSleep(50_000); // after the IRP: nothing holds the driver now
        log.push('tail ran');
        return STATUS_SUCCESS;
      },
    },
    { unload: () => log.push('unload') },
    [
      act(100 * ns.ms, { kind: 'open', handle: 'a', link: 'Trial' }),
      act(200 * ns.ms, { kind: 'ioctl', handle: 'a', code: IOCTL_PROBE, input: [], outputLength: 0 }),
      act(201 * ns.ms, { kind: 'remove', device: 'nic0' }),
      act(220 * ns.ms, { kind: 'close', handle: 'a' }),
    ],
    { collect: true },
  );
  const r = w.run(1 * ns.s);
  assert.deepEqual(log, ['unload'], 'the tail never ran');
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_CallbackAfterHalt'],
  );
  assert.match(
    r.violations[0]!.message,
    /^DispatchDeviceControl of driver tail-sleeper \(a resumable routine, for DeviceIoControl 0x00222004 of handle a\) woke after the driver unloaded: it completed its request and went on waiting/,
  );
  assert.equal(r.violations[0]!.timeNs, 250 * ns.ms);
  assert.ok(!r.pending.some((p) => p.startsWith('a driver thread')), r.pending.join('\n'));
});

test('Irql_Miniport_Driver_Function: a resumable routine that waits holding a spin lock is reported once; the wait stays with the thread that holds the lock (collect mode), so its release is not reported as well', () => {
  const { r } = mistake('wait-locked', {
    initialize: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      const lock = new NDIS_SPIN_LOCK();
      NdisAllocateSpinLock(lock);
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          NdisAcquireSpinLock(lock);
          yield NdisMSleep(1000);
          NdisReleaseSpinLock(lock);
          NdisFreeSpinLock(lock);
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(
    r.violations.map((v) => `${v.rule}: ${v.message}`),
    ['Irql_Miniport_Driver_Function: NdisMSleep called at DISPATCH; it must be called at most APC'],
  );
});

test('`return helper()` where `return yield* helper()` was meant, in a dispatch routine and in a work item: the helper would never run; the run ends with the mistake named', () => {
  let helperRan = false;
  function* finishIoctl(irp: Irp): Generator<unknown, NTSTATUS, boolean> {
    helperRan = true;
    yield NdisMSleep(1000);
    return complete(irp, STATUS_SUCCESS);
  }
  const { w } = ctlWorld(
    'return-gen',
    {
      [IRP_MJ_DEVICE_CONTROL]: function* (_d, irp): ResumableDispatch {
        yield NdisMSleep(1000);
        return finishIoctl(irp) as unknown as NTSTATUS;
      },
    },
    {},
    [
      act(100 * ns.ms, { kind: 'open', handle: 'a', link: 'Trial' }),
      act(200 * ns.ms, { kind: 'ioctl', handle: 'a', code: IOCTL_PROBE, input: [], outputLength: 0 }),
    ],
  );
  const r = w.run(1 * ns.s);
  assert.equal(helperRan, false);
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  assert.match(
    r.bugCheck?.message ?? '',
    /^DispatchDeviceControl threw YieldedGeneratorError: a resumable routine returned a generator: .*`return yield\* helper\(…\)`/,
  );

  function* cleanUp(): Generator<unknown, void, boolean> {
    helperRan = true;
    yield NdisMSleep(1000);
  }
  const m = mistake('return-gen-wi', {
    initialize: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          yield NdisMSleep(1000);
          NdisFreeIoWorkItem(wi);
          return cleanUp() as unknown as undefined;
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(helperRan, false);
  assert.match(
    m.r.bugCheck?.message ?? '',
    /^NdisIoWorkItemFunction threw YieldedGeneratorError: a resumable routine returned a generator/,
  );
});

test('a plain helper that waits, called from a resumable routine, is named with the way out (make it a generator function, call it with `yield*`)', () => {
  const pollPhy = (): void => {
    NdisMSleep(1000); // a plain function cannot yield
  };
  const { r } = mistake('plain-helper', {
    initialize: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          yield NdisMSleep(1000);
          pollPhy();
          pollPhy();
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  assert.match(
    r.bugCheck?.message ?? '',
    /NdisMSleep in a resumable routine \(a generator function\) must be yielded before it calls NdisMSleep: .*a plain function the routine calls cannot yield, so one that waits becomes a generator function too, called with `yield\* helper\(…\)`/,
  );
  // The driver's line that made the second call is named.
  assert.match(r.bugCheck?.message ?? '', / at pollPhy \(test\/trialres\.test\.ts:\d+:\d+\)/);
});

test('R2.16, R8.8: a filter driver whose resumable work item (filter driver handle) is set aside when its service stops unloads only after the routine returns', () => {
  const order: string[] = [];
  let driverHandle: NDIS_HANDLE | null = null;
  const name = 'lazy-lwf';
  const f: DriverModule = {
    name,
    load() {
      const chars: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null> = {
        ...filterIdentity(name, '{00000000-0000-0000-0000-0000000000f2}'),
        AttachHandler: (h: NDIS_HANDLE) =>
          NdisFSetAttributes(h, h, {
            Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 },
            Flags: 0,
          }),
        DetachHandler: () => {
          order.push('detach');
          // Flushes its log in a work item that outlives the module.
          const wi = NdisAllocateIoWorkItem(driverHandle!)!;
          NdisQueueIoWorkItem(
            wi,
            function* (): ResumableRoutine {
              order.push('flush start');
              yield NdisMSleep(300_000);
              order.push('flush end');
              NdisFreeIoWorkItem(wi);
            },
            null,
          );
        },
        RestartHandler: () => NDIS_STATUS_SUCCESS,
        PauseHandler: () => NDIS_STATUS_SUCCESS,
        NetPnPEventHandler: (h: NDIS_HANDLE, e) => NdisFNetPnPEvent(h, e),
      };
      return {
        DriverEntry: (d: DRIVER_OBJECT) => {
          const r = NdisFRegisterFilterDriver(d, null, chars);
          driverHandle = r.NdisFilterDriverHandle;
          d.DriverUnload = () => {
            order.push('unload');
            NdisFDeregisterFilterDriver(driverHandle!);
          };
          return r.Status;
        },
      };
    },
  };
  const w = testWorld({
    drivers: [healthyNic, f],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    options: { trace: true },
  });
  w.addFilter(name);
  w.at(100 * ns.ms, { kind: 'stop-filter', driver: name });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(order, ['detach', 'flush start', 'flush end', 'unload']);
  const unload = w.trace.events.find((e) => e.kind === 'call' && /Unload/.test(e.what) && e.actor === name);
  assert.ok(unload !== undefined && unload.t >= 400 * ns.ms, `unload at ${unload?.t}`);
});

test('IoQueueWorkItem (not Ex) takes a resumable WorkItem routine too: it runs as WorkItem with its DeviceObject and Context, and its sleeps set it aside', () => {
  const seen: string[] = [];
  const holder: { object: () => DEVICE_OBJECT | null } = { object: () => null };
  const { w, g } = ctlWorld(
    'io-wi',
    {},
    {
      initialize: () => {
        const wi = IoAllocateWorkItem(holder.object()!)!;
        IoQueueWorkItem(
          wi,
          function* (d: DEVICE_OBJECT, ctx: unknown): ResumableRoutine {
            seen.push(`${d === holder.object()} ${String(ctx)}`);
            yield NdisMSleep(5000);
            seen.push('woke');
            IoFreeWorkItem(wi);
          },
          DelayedWorkQueue,
          'ctx',
        );
        return NDIS_STATUS_SUCCESS;
      },
    },
    [act(500 * ns.ms, { kind: 'remove', device: 'nic0' })],
  );
  holder.object = () => g.object;
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(seen, ['true ctx', 'woke']);
  const wake = w.trace.events.find((e) => e.kind === 'wake' && e.data?.thread === 1);
  assert.equal(wake?.actor, 'io-wi');
  const call = w.trace.events.find(is('call', 'WorkItem'));
  assert.ok(call !== undefined && wake!.t - call.t === 5 * ns.ms);
});

test('MiniportDevicePnPEventNotify written as a generator function (a wait for the hardware to settle at a surprise removal) stops the run as not-modelled, naming it', () => {
  let ran = false;
  const drv = scriptedDriver('pnp-gen', {
    characteristics: (c) => {
      c.DevicePnPEventNotifyHandler = function* (): Generator<unknown, void, boolean> {
        ran = true;
        yield NdisMSleep(1000);
      } as unknown as typeof c.DevicePnPEventNotifyHandler;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'pnp-gen' }],
    actions: [act(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' })],
  });
  const r = w.run(1 * ns.s);
  assert.equal(ran, false);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', notResumable('MiniportDevicePnPEventNotify'));
});

// A filter's IOCTL that asks the miniport below with an OID of its own.

function addressQuery(): N.NDIS_OID_REQUEST {
  return {
    Header: { Type: N.NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
    RequestType: N.NdisRequestQueryInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: 'mine',
    RequestHandle: null,
    DATA: oidRequestData(N.OID_802_3_CURRENT_ADDRESS, null, 6),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
}
test("R7.5: a filter's resumable IOCTL issues its own OID (NdisFOidRequest) and yields NdisWaitEvent until FilterOidRequestComplete sets the event; a surprise removal meanwhile pauses and detaches the module after the OID, and the request completes", () => {
  const st = {
    module: null as LwfModule | null,
    device: null as N.NDIS_HANDLE | null,
    done: new N.NDIS_EVENT(),
    mine: null as N.NDIS_OID_REQUEST | null,
    status: 0,
    results: [] as string[],
  };
  const f = variantOfMonitorLwf('ioctl-lwf', 'x', (c, driver) => {
    withOidForwarding(c);
    const attach = c.AttachHandler;
    const detach = c.DetachHandler;
    const completeFwd = c.OidRequestCompleteHandler!;
    c.AttachHandler = (h, ctx, p) => {
      const s = attach(h, ctx, p);
      if (s !== N.NDIS_STATUS_SUCCESS) return s;
      N.NdisInitializeEvent(st.done);
      const m: N.DRIVER_DISPATCH[] = [];
      m[N.IRP_MJ_CREATE] =
        m[N.IRP_MJ_CLOSE] =
        m[N.IRP_MJ_CLEANUP] =
          (_d, irp) => complete(irp, STATUS_SUCCESS);
      m[N.IRP_MJ_DEVICE_CONTROL] = function* (_d, irp): N.ResumableDispatch {
        const mod = st.module;
        if (mod === null) return complete(irp, N.STATUS_DEVICE_REMOVED);
        const q = addressQuery();
        st.mine = q;
        N.NdisResetEvent(st.done);
        let s = N.NdisFOidRequest(mod.handle, q);
        if (s === N.NDIS_STATUS_PENDING) {
          yield N.NdisWaitEvent(st.done, 0);
          s = st.status;
        }
        st.results.push(`oid ${s.toString(16)}`);
        return complete(irp, s === N.NDIS_STATUS_SUCCESS ? N.STATUS_SUCCESS : N.STATUS_UNSUCCESSFUL);
      };
      const r = N.NdisRegisterDeviceEx(driver.handle!, {
        Header: {
          Type: N.NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: N.NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\Lwf',
        SymbolicName: '\\DosDevices\\Lwf',
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      if (r.pDeviceObject) r.pDeviceObject.Flags |= N.DO_BUFFERED_IO;
      st.device = r.NdisDeviceHandle;
      return s;
    };
    c.RestartHandler = (mod: LwfModule) => {
      st.module = mod;
      mod.running = true;
      return N.NDIS_STATUS_SUCCESS;
    };
    c.PauseHandler = (mod: LwfModule) => {
      st.module = null;
      mod.running = false;
      return N.NDIS_STATUS_SUCCESS;
    };
    c.DetachHandler = (mod) => {
      detach(mod);
      N.NdisDeregisterDeviceEx(st.device!);
    };
    c.OidRequestCompleteHandler = (mod, r, status) => {
      if (r !== st.mine) return completeFwd(mod, r, status);
      st.status = status;
      N.NdisSetEvent(st.done);
    };
  });
  const mp = scriptedDriver('slow-oid', {
    oid: (a, req) => {
      if (req.DATA.Oid !== N.OID_802_3_CURRENT_ADDRESS) return N.NDIS_STATUS_NOT_SUPPORTED;
      after(a, 5, () => {
        req.DATA.QUERY_INFORMATION.BytesWritten = 6;
        N.NdisMOidRequestComplete(a.handle, req, N.NDIS_STATUS_SUCCESS);
      });
      return N.NDIS_STATUS_PENDING;
    },
  });
  const w = testWorld({
    drivers: [mp, f],
    devices: [{ name: 'nic0', driver: 'slow-oid' }],
    options: { trace: true },
    actions: [
      { atNs: 100 * ns.ms, action: { kind: 'open', handle: 'a', link: 'Lwf' } },
      {
        atNs: 200 * ns.ms,
        action: { kind: 'ioctl', handle: 'a', code: 0x222004, input: [], outputLength: 0 },
      },
      { atNs: 201 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } },
      { atNs: 500 * ns.ms, action: { kind: 'close', handle: 'a' } },
    ],
  });
  w.addFilter('ioctl-lwf');
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(st.results, ['oid 0']);
  assert.deepEqual(
    w.ioResults.map((x) => [x.statusName, x.completedNs]),
    [['STATUS_SUCCESS', 205_063_000]],
  );
  const ev = w.trace.events;
  const wake = ev.findIndex((e) => e.kind === 'wake' && e.data?.thread === 1);
  const complete1 = ev.findIndex((e) => is('call', 'FilterOidRequestComplete')(e) && e.t >= 200 * ns.ms);
  const detach = ev.findIndex(is('call', 'FilterDetach'));
  assert.ok(complete1 < wake && wake < detach, `${complete1} ${wake} ${detach}`);
  assert.equal(ev[wake]!.t, ev[complete1]!.t, 'the routine goes on in the instant its event is set');
});
