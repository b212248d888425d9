// A processor runs the DPCs queued on it before its IRQL drops below DISPATCH_LEVEL
// (R8.1, R8.3; the "Introduction to DPC Objects" page: a DPC runs at DISPATCH when the
// processor's IRQL drops below DISPATCH; MiniportInterrupt's DPC). So no PASSIVE work
// starts on a CPU whose DPC queue is not empty, and a thread that spins at PASSIVE in
// NdisStallExecution is preempted by the DPCs of its own CPU (docs/model.md,
// "Interrupts and DPCs").

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_STATUS_SUCCESS,
  NdisAllocateTimerObject,
  NdisFreeTimerObject,
  NdisMDeregisterInterruptEx,
  NdisMQueueDpc,
  NdisMQueueDpcEx,
  NdisSetTimerObject,
  NdisStallExecution,
} from '../src/index.ts';
import { Dpc, Kernel, WorkItem } from '../src/kernel/kernel.ts';
import { type ChoiceSite, Chooser, type Strategy } from '../src/sim/choice.ts';
import { Machine } from '../src/sim/machine.ts';
import { type Hooks, scriptedDriver, timerCharacteristics } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** Every question answered with its last answer: the longest DPC latency, the last CPU. */
const lastAnswer: Strategy = {
  name: 'last',
  pick: (_site: ChoiceSite, count: number) => count - 1,
};

/** A kernel of `cpus` CPUs: a DPC queued on CPU 0 at 0 ns, then a work item due at once. */
function dpcThenWork(cpus: number) {
  const m = new Machine(new Chooser(lastAnswer, [], false));
  const k = new Kernel(m, cpus);
  const log: string[] = [];
  const dpc = new Dpc({ runDpc: () => log.push(`dpc cpu ${k.ctx.cpu} at ${m.now}`) }, 'nic');
  const work = new WorkItem({ runWork: () => log.push(`work cpu ${k.ctx.cpu} at ${m.now}`) }, 'nic');
  assert.equal(k.queueDpc(dpc, 0), true);
  k.queueWorkNow(work);
  m.runUntil(1 * ns.ms);
  return log;
}

test('R8.3, DPC objects page ("a DPC runs at DISPATCH when the processor\'s IRQL drops below DISPATCH"): PASSIVE work picked for a CPU runs only after the DPCs queued there', () => {
  // One CPU: the DPC's latency (3 µs) is longer than the work item's (none), yet the CPU
  // runs its DPC before the worker thread starts on it.
  assert.deepEqual(dpcThenWork(1), ['dpc cpu 0 at 0', 'work cpu 0 at 0']);
  // Two CPUs, the worker on CPU 1: CPU 0's DPC keeps its latency, the CPU choice still
  // decides the order.
  assert.deepEqual(dpcThenWork(2), ['work cpu 1 at 0', 'dpc cpu 0 at 3000']);
});

test('R8.3: a DPC that queues itself again on its CPU runs once per drain before PASSIVE work there, not for ever at one instant (the clock moves)', () => {
  const m = new Machine(new Chooser(lastAnswer, [], false));
  const k = new Kernel(m, 1);
  let runs = 0;
  let workAt = -1;
  const dpc: Dpc = new Dpc(
    {
      runDpc: () => {
        runs++;
        k.queueDpc(dpc, 0);
      },
    },
    'nic',
  );
  k.queueDpc(dpc, 0);
  const note = (): void => {
    workAt = m.now;
  };
  k.queueWorkNow(new WorkItem({ runWork: note }, 'nic'));
  m.runUntil(10_000);
  assert.equal(workAt, 0);
  // Once before the work item at 0 ns, then every 3 µs (its latency) until 10 µs.
  assert.equal(runs, 4);
});

test("R8.12, R3.7, DPC objects page: MiniportPause that stalls (NdisStallExecution at PASSIVE) until its own CPU's DPC ran is preempted by that DPC and returns, no pause watchdog", () => {
  let dpcRan = false;
  let stalls = 0;
  const drv = scriptedDriver('stall-for-dpc', {
    pause: (a) => {
      dpcRan = false;
      // One CPU: the DPC goes to the CPU this thread runs on.
      assert.equal(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b1, Group: 0 }, 'pause'), 0b1);
      while (!dpcRan) {
        NdisStallExecution(10);
        if (++stalls > 1000) break;
      }
      return NDIS_STATUS_SUCCESS;
    },
    dpc: (_a, _t, context) => {
      if (context === 'pause') dpcRan = true;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    options: { cpus: 1, verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    [],
  );
  assert.equal(dpcRan, true);
  // The DPC ran at the first stall, before the thread spun.
  assert.equal(stalls, 1);
  assert.ok(
    drv.calls.some((c) => c.startsWith('MiniportHaltEx')),
    drv.calls.join(', '),
  );
});

/** nic0 of `hooks` on one CPU, removed at 100 ms (so halted), collect mode. */
function haltedRun(name: string, hooks: Hooks) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    options: { cpus: 1, verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  return { r, rules: r.violations.map((v) => [v.rule, v.ddi]) };
}

test('R2.10, NdisMDeregisterInterruptEx and NdisMQueueDpcEx pages: a DPC that queues itself again while NdisMDeregisterInterruptEx runs it is NdisSim_QueueDpcDeregistered, and the call returns 0 (nothing scheduled), not a lost "scheduled" DPC', () => {
  const returned: number[] = [];
  const contexts: unknown[] = [];
  const { rules } = haltedRun('dpc-requeue-dereg', {
    halt: (a) => {
      // Queued now, run by the deregistration before it returns (one CPU: bit 0).
      assert.equal(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b1, Group: 0 }, 'first'), 0b1);
      NdisMDeregisterInterruptEx(a.interrupt!);
      a.interrupt = null;
    },
    dpc: (a, _t, context) => {
      contexts.push(context);
      if (context === 'first')
        returned.push(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b1, Group: 0 }, 'again'));
    },
  });
  assert.deepEqual(returned, [0]);
  assert.deepEqual(contexts, ['first']);
  assert.deepEqual(rules, [['NdisSim_QueueDpcDeregistered', 'NdisMQueueDpcEx']]);
});

test('R2.10, NdisMDeregisterInterruptEx page: NdisMQueueDpcEx or NdisMQueueDpc after the deregistration is NdisSim_QueueDpcDeregistered (not the SDV rule NdisMDeregisterInterruptEx, which is about NdisMSynchronizeWithInterruptEx) and returns 0', () => {
  const returned: number[] = [];
  const { rules } = haltedRun('dpc-after-dereg', {
    halt: (a) => {
      const h = a.interrupt!;
      NdisMDeregisterInterruptEx(h);
      a.interrupt = null;
      returned.push(NdisMQueueDpcEx(h, 0, { Mask: 0b1, Group: 0 }, null));
      returned.push(NdisMQueueDpc(h, 0, 0b1, null));
    },
  });
  assert.deepEqual(returned, [0, 0]);
  assert.deepEqual(rules, [
    ['NdisSim_QueueDpcDeregistered', 'NdisMQueueDpcEx'],
    ['NdisSim_QueueDpcDeregistered', 'NdisMQueueDpc'],
  ]);
});

test('R8.4, NdisSetTimerObject page: a bigint DueTime (-500000n) is NdisSim_BadParameter whose message says it is a bigint and which number to pass, not that -500000 is a bad value', () => {
  const { r } = haltedRun('bigint-due', {
    initialize: (a) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => {}),
      ).TimerObject!;
      try {
        NdisSetTimerObject(t, -500_000n as unknown as number, 0, null);
      } finally {
        NdisFreeTimerObject(t);
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const v = r.violations.find((x) => x.rule === 'NdisSim_BadParameter');
  assert.ok(v !== undefined, r.message ?? '');
  assert.match(v.message, /got the bigint -500000n: the model takes a number, pass -500000$/);
});
