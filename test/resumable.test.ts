// Resumable work-item routines (src/ndis/resumable.ts): a routine written as a
// generator function yields its blocking waits, so a halt that waits for it runs while
// it is set aside, as on Windows, where the nested model deadlocks (test/waits.test.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { linkWatch, linkWatchPlain } from '../examples/link-watch.ts';
import { driverNames } from '../src/drivers/index.ts';
import {
  type DEVICE_OBJECT,
  DelayedWorkQueue,
  type DRIVER_DISPATCH,
  IoAllocateWorkItem,
  IoCompleteRequest,
  IoFreeWorkItem,
  IoQueueWorkItemEx,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  NDIS_EVENT,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisDeregisterDeviceEx,
  NdisFreeIoWorkItem,
  NdisInitializeEvent,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisRegisterDeviceEx,
  NdisSetEvent,
  NdisWaitEvent,
  type ResumableRoutine,
  STATUS_SUCCESS,
} from '../src/index.ts';
import { toChromeTrace } from '../src/report/perfetto.ts';
import { callDepths, formatTimeline } from '../src/report/timeline.ts';
import { buildWorld, checkExpectations, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { exploreScenario } from '../src/scenario.ts';
import { cli } from './helpers/cli.ts';
import { after, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

interface Poller {
  stop: boolean;
  done: NDIS_EVENT;
  polls: number;
  /** What the halt's NdisWaitEvent returned. */
  waited: boolean | null;
}

/**
 * A miniport whose work item polls its link every `pollUs` in a loop until the halt
 * asks it to stop; the halt then waits on an event the routine sets as it ends.
 * `resumable` writes the routine as a generator function that yields its sleeps.
 */
function pollerWorld(opts: { resumable: boolean; haltWaitMs?: number; setEvent?: boolean }) {
  const p: Poller = { stop: false, done: new NDIS_EVENT(), polls: 0, waited: null };
  const drv = scriptedDriver('poller', {
    initialize: (a) => {
      NdisInitializeEvent(p.done);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      const plain = (): void => {
        while (!p.stop) {
          p.polls++;
          NdisMSleep(10_000);
        }
        NdisFreeIoWorkItem(wi);
        if (opts.setEvent !== false) NdisSetEvent(p.done);
      };
      const resumable = function* (): ResumableRoutine {
        while (!p.stop) {
          p.polls++;
          yield NdisMSleep(10_000);
        }
        NdisFreeIoWorkItem(wi);
        if (opts.setEvent !== false) NdisSetEvent(p.done);
      };
      NdisQueueIoWorkItem(wi, opts.resumable ? resumable : plain, null);
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      p.stop = true;
      p.waited = NdisWaitEvent(p.done, opts.haltWaitMs ?? 0);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'poller' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { trace: true },
  });
  return { w, p };
}

test('R8.12, R2.10: a halt that stops a polling work item and waits for it deadlocks with a plain routine (not-modelled)', () => {
  const { w } = pollerWorld({ resumable: false });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', /NdisIoWorkItemFunction of nic0 blocked in NdisMSleep/);
  // The message points at the way out.
  assert.match(r.message ?? '', /resumable routine/);
});

test('R8.12, R2.10: the same work item as a resumable routine lets the halt wait for it, as on Windows', () => {
  const { w, p } = pollerWorld({ resumable: true });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.equal(w.device('nic0').status, 'removed');
  assert.equal(p.waited, true, 'the halt saw the event set');
  // Polled every 10 ms from start-up until the halt, at about 1 s: about 100 polls.
  assert.ok(p.polls >= 95 && p.polls <= 105, `${p.polls} polls`);
  assert.deepEqual(r.modelNotes, [], 'no thread resumed late');
  // The halt's wait returns after the routine's last wake, which comes after the halt began.
  const ev = w.trace.events;
  const haltAt = ev.findIndex((e) => e.kind === 'call' && e.what === 'MiniportHaltEx');
  const lastWake = ev.findLastIndex((e) => e.kind === 'wake' && e.what === 'NdisMSleep');
  const haltWake = ev.findIndex((e) => e.kind === 'wake' && e.what === 'NdisWaitEvent');
  assert.ok(haltAt >= 0 && haltAt < lastWake && lastWake < haltWake, `${haltAt} ${lastWake} ${haltWake}`);
});

test('R2.10, R8.8: a halt that does not wait for its resumable work item is caught when it returns', () => {
  const { w } = pollerWorld({ resumable: true, haltWaitMs: 1 });
  const r = w.run(3 * ns.s);
  // The routine sleeps 10 ms at a time: a 1 ms wait runs out first.
  assert.notEqual(r.verdict, 'ok');
  const all = [r.bugCheck, ...r.violations].filter((v) => v !== null);
  assert.ok(
    all.some((v) =>
      /MiniportHaltEx returned while 1 I\/O work item\(s\) of the adapter were still running/.test(
        v!.message,
      ),
    ),
    all.map((v) => v!.message).join('\n'),
  );
});

test('R8.12: NdisWaitEvent yielded in a resumable routine gives TRUE once set, FALSE when its time runs out', () => {
  const got: boolean[] = [];
  const ev = new NDIS_EVENT();
  const drv = scriptedDriver('waiter', {
    initialize: (a) => {
      NdisInitializeEvent(ev);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          got.push(yield NdisWaitEvent(ev, 5)); // nobody sets it within 5 ms
          got.push(yield NdisWaitEvent(ev, 0)); // set at 0.5 s
          got.push(yield NdisWaitEvent(ev, 0)); // still set: TRUE at once
        },
        null,
      );
      after(a, 500, () => NdisSetEvent(ev));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'waiter' }],
    options: { trace: true },
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(got, [false, true, true]);
  const wakes = w.trace.events.filter((e) => e.kind === 'wake' && e.what === 'NdisWaitEvent');
  assert.deepEqual(
    wakes.map((e) => e.data?.result),
    [false, true],
    'two waits set aside; the third returned at once',
  );
  assert.ok(wakes[1]!.t >= 500 * ns.ms && wakes[1]!.t < 501 * ns.ms, `woke at ${wakes[1]!.t}`);
});

test('a resumable routine that calls another DDI before yielding its wait ends the run with the mistake named', () => {
  const drv = scriptedDriver('forgot', {
    initialize: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        // biome-ignore lint/correctness/useYield: the mistake under test
        function* (): ResumableRoutine {
          NdisMSleep(1000);
          NdisMSleep(1000);
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'forgot' }] });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  assert.match(
    r.bugCheck?.message ?? '',
    /NdisMSleep in a resumable routine \(a generator function\) must be yielded before it calls NdisMSleep: write `yield NdisMSleep\(…\)`/,
  );
});

test('a WDM work item (IoQueueWorkItemEx) may be resumable too; its driver cannot unload until it returns', () => {
  const order: string[] = [];
  let dev: { handle: NDIS_HANDLE | null; object: DEVICE_OBJECT | null } = { handle: null, object: null };
  const drv = scriptedDriver('wdm-poller', {
    driverEntry: (driver) => {
      const m: DRIVER_DISPATCH[] = [];
      m[IRP_MJ_CREATE] = m[IRP_MJ_CLOSE] = (_d, irp) => {
        irp.IoStatus.Status = STATUS_SUCCESS;
        IoCompleteRequest(irp, 0);
        return STATUS_SUCCESS;
      };
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\WdmPoller',
        SymbolicName: '\\DosDevices\\WdmPoller',
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      dev = { handle: r.NdisDeviceHandle, object: r.pDeviceObject };
      return r.Status;
    },

    initialize: () => {
      const wi = IoAllocateWorkItem(dev.object!)!;
      IoQueueWorkItemEx(
        wi,
        function* (): ResumableRoutine {
          order.push('start');
          yield NdisMSleep(2_000_000);
          order.push('end');
          IoFreeWorkItem(wi);
        },
        DelayedWorkQueue,
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      order.push('halt');
      // The last adapter: the device goes; the queued item still references it.
      NdisDeregisterDeviceEx(dev.handle!);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'wdm-poller' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { trace: true },
  });
  const r = w.run(4 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(order, ['start', 'halt', 'end']);
  const ev = w.trace.events;
  const unload = ev.findIndex((e) => e.kind === 'call' && e.what === 'MiniportDriverUnload');
  const end = ev.findIndex((e) => e.kind === 'wake' && e.what === 'NdisMSleep');
  assert.ok(end >= 0 && unload > end, `unload ${unload}, wake ${end}`);
  assert.ok(
    formatTimeline(ev, { color: false }).some((l) => /NdisMSleep returns/.test(l)),
    'the timeline shows the wake',
  );
});

test('the timeline keeps a resumable routine at its own depth when it wakes among other waits; Perfetto ends its slice where it is set aside and begins it again where it wakes', () => {
  const { w } = pollerWorld({ resumable: true });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  const ev = w.trace.events;
  const depths = callDepths(ev);
  // The halt waits (nested, depth 1) while the routine wakes: the routine's last wake
  // and what it does next are at its own depth, 1, and the halt's wake at the halt's.
  const haltWait = ev.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisWaitEvent');
  const lastWake = ev.findLastIndex((e) => e.kind === 'wake' && e.what === 'NdisMSleep');
  const setEvent = ev.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisSetEvent');
  const haltWake = ev.findIndex((e) => e.kind === 'wake' && e.what === 'NdisWaitEvent');
  assert.ok(
    haltWait < lastWake && lastWake < setEvent && setEvent < haltWake,
    `${haltWait} ${lastWake} ${setEvent} ${haltWake}`,
  );
  assert.deepEqual([depths[haltWait], depths[lastWake], depths[setEvent], depths[haltWake]], [1, 1, 1, 1]);
  const aside = ev.filter((e) => e.kind === 'ddi' && e.what === 'NdisMSleep');
  assert.ok(
    aside.every((e) => e.data?.thread === 1),
    "each sleep is the routine's, numbered 1",
  );
  assert.ok(
    formatTimeline(ev, { color: false }).some((l) =>
      /NdisMSleep\(MicrosecondsToSleep=10000\): routine 1 \(NdisIoWorkItemFunction of .*\) set aside until [\d.]+ s$/.test(
        l,
      ),
    ),
    'the timeline marks the wait: which routine, and until when',
  );
  // Every slice ends, and each wake begins the routine's callback again.
  const t = toChromeTrace(ev, { endNs: r.endNs });
  const work = t.traceEvents.filter((e) => e.name === 'NdisIoWorkItemFunction');
  const begins = work.filter((e) => e.ph === 'B');
  assert.equal(begins.length, work.filter((e) => e.ph === 'E').length);
  assert.equal(
    begins.filter((e) => e.args?.resumedFrom === 'NdisMSleep').length,
    ev.filter((e) => e.kind === 'wake' && e.data?.thread === 1).length,
  );
  assert.ok(begins.length > 90, `${begins.length} runs of the routine`);
});

test("examples/link-watch.yaml: the resumable watch meets the scenario's expect (Code 43, halted); the same watch as a plain function ends as not-modelled", () => {
  const drivers = [linkWatch, linkWatchPlain];
  const sc = loadScenario('examples/link-watch.yaml', driverNames(drivers));
  for (const seed of [1, 2, 3]) {
    const w = buildWorld(sc, { seed, drivers });
    const r = w.run(untilNs(sc));
    const e = checkExpectations(sc, r, w.summary());
    assert.deepEqual(e?.problems, [], `seed ${seed}`);
    assert.equal(e?.met, true);
  }
  const plain = { ...sc, devices: sc.devices.map((d) => ({ ...d, driver: 'link-watch-plain' })) };
  const w = buildWorld(plain, { seed: 1, drivers });
  const r = w.run(untilNs(plain));
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', /write NdisIoWorkItemFunction as a resumable routine/);
});

test('a resumable routine still set aside when the run ends is work left pending, as a blocked nested wait is', () => {
  const ev = new NDIS_EVENT();
  const drv = scriptedDriver('stuck', {
    initialize: (a) => {
      NdisInitializeEvent(ev);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        function* (): ResumableRoutine {
          yield NdisWaitEvent(ev, 0); // nobody sets it
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'stuck' }] });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.deepEqual(
    r.pending.filter((p) => p.startsWith('a driver thread')),
    [
      /* the work item ran at 0.00031 s */ 'a driver thread (NdisIoWorkItemFunction of stuck (nic0)) was blocked in NdisWaitEvent since 0.000310 s when the run ended',
    ],
  );
});

test('R2.10: explore finds link-watch-hasty (a halt that waits 100 ms for a watch asleep 250 ms), and its shrunk replay runs the same trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-resumable-'));
  try {
    const file = join(dir, 'hasty.yaml');
    const text = readFileSync('examples/link-watch.yaml', 'utf8')
      .replace('driver: link-watch\n', 'driver: link-watch-hasty\n')
      .replace(/\nexpect:[\s\S]*$/, '\n');
    writeFileSync(file, text);
    const out = join(dir, 'out');
    const r = await exploreScenario(file, { driverFiles: ['examples/link-watch.ts'], runs: 8, out });
    assert.equal(r.failed, 8, r.text);
    assert.equal(r.failures[0]!.rule, 'NdisSim_CallbackAfterHalt');
    const rp = cli('replay', r.failures[0]!.replay!, '--quiet');
    assert.equal(rp.status, 1, rp.stderr);
    assert.match(rp.stdout, /the trace is the one recorded/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
