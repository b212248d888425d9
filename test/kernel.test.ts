// Kernel services (08-kernel-services.md): what the kernel model must carry without
// limits of its own, and the documented details of timers, interrupts and pool.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type MINIPORT_ISR,
  type NDIS_HANDLE,
  NDIS_INDICATE_ALL_NBLS,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_RECEIVE_FLAGS_SINGLE_ETHER_TYPE,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_RETURN_FLAGS_SINGLE_QUEUE,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TEST_RECEIVE_AT_DISPATCH_LEVEL,
  NDIS_TEST_RECEIVE_CAN_PEND,
  NDIS_TEST_RECEIVE_CANNOT_PEND,
  NDIS_TEST_RETURN_AT_DISPATCH_LEVEL,
  NDIS_TEST_SEND_AT_DISPATCH_LEVEL,
  NDIS_TEST_SEND_COMPLETE_AT_DISPATCH_LEVEL,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisFreeIoWorkItem,
  NdisFreeMemory,
  NdisFreeMemoryWithTagPriority,
  NdisFreeTimerObject,
  NdisGetCurrentSystemTime,
  NdisMDeregisterInterruptEx,
  NdisMQueueDpc,
  NdisMQueueDpcEx,
  NdisMRegisterInterruptEx,
  NdisMSleep,
  NdisSetCoalescableTimerObject,
  NdisSetTimerObject,
  NdisWriteRegisterUlong,
  NT_SUCCESS,
  SimNicCtrl,
  SimNicReg,
} from '../src/index.ts';
import { systemTimeAtBoot } from '../src/ndis/api/kernel.ts';
import { ChoiceSite, Chooser, RandomStrategy, type Strategy } from '../src/sim/choice.ts';
import { Machine } from '../src/sim/machine.ts';
import type { EventTarget } from '../src/sim/queue.ts';
import {
  after,
  type Hooks,
  idleInterrupt,
  isrAnswerRun,
  removedScripted,
  scriptedDriver,
  type TestAdapter,
  timerCharacteristics,
} from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

test('R8.5: 1,100 timers due at the same instant on one CPU all run their DPCs (a DPC queue has no depth limit)', () => {
  let fired = 0;
  const drv = scriptedDriver('many-timers', {
    initialize: (a) => {
      for (let i = 0; i < 1100; i++) {
        const t = NdisAllocateTimerObject(
          a.handle,
          timerCharacteristics(() => {
            fired++;
          }),
        );
        NdisSetTimerObject(t.TimerObject!, -10_000, 0, null);
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'many-timers' }],
    options: { cpus: 1 },
  });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? undefined);
  assert.equal(fired, 1100);
});

// ------------------------------------------------------------ MiniportInterrupt outputs

/**
 * A driver whose MiniportInterrupt returns `out` (isrAnswerRun) on `cpus` CPUs. Returns
 * the CPU of the ISR and of every MiniportInterruptDPC.
 */
function isrRun(out: ReturnType<MINIPORT_ISR>, cpus: number) {
  const { w, r } = isrAnswerRun('isr-outputs', out, { cpus, trace: true });
  assert.equal(r.verdict, 'ok', r.message ?? undefined);
  const isrCpu = w.trace.events.find((e) => e.kind === 'call' && e.what === 'MiniportInterrupt')!.cpu;
  const dpcCpus = w.trace.events
    .filter((e) => e.kind === 'call' && e.what === 'MiniportInterruptDPC')
    .map((e) => e.cpu)
    .sort();
  return { isrCpu, dpcCpus };
}

test('R8.1, MINIPORT_ISR page: QueueDefaultInterruptDpc TRUE queues one DPC on the CPU of the ISR, whatever the ISR returns', () => {
  for (const InterruptRecognized of [true, false]) {
    const { isrCpu, dpcCpus } = isrRun(
      { InterruptRecognized, QueueDefaultInterruptDpc: true, TargetProcessors: 0b1110 },
      4,
    );
    // TargetProcessors is ignored when the default DPC is asked for.
    assert.deepEqual(dpcCpus, [isrCpu], `InterruptRecognized ${InterruptRecognized}`);
  }
});

test('R8.1, MINIPORT_ISR page: QueueDefaultInterruptDpc FALSE queues one DPC per CPU in TargetProcessors; bits past the last CPU are ignored', () => {
  // CPUs 1 and 3 of 4, plus bits 6 and 31, which this machine has no CPU for.
  const mask = 0b1010 | (1 << 6) | (1 << 31);
  for (const InterruptRecognized of [true, false]) {
    const { dpcCpus } = isrRun(
      { InterruptRecognized, QueueDefaultInterruptDpc: false, TargetProcessors: mask },
      4,
    );
    assert.deepEqual(dpcCpus, [1, 3], `InterruptRecognized ${InterruptRecognized}`);
  }
  // Both FALSE/zero: no DPC at all.
  assert.deepEqual(
    isrRun({ InterruptRecognized: true, QueueDefaultInterruptDpc: false, TargetProcessors: 0 }, 4).dpcCpus,
    [],
  );
});

// ------------------------------------------------------------------- system time

test('R8.5 NdisGetCurrentSystemTime is 100 ns units since 1601: the fixed boot epoch (2026-01-01 UTC) plus the virtual time', () => {
  // The epoch, checked against the calendar here (the model itself never reads a clock).
  const unixTo1601 = 11_644_473_600; // seconds from 1601-01-01 to 1970-01-01
  assert.equal(systemTimeAtBoot, (Date.UTC(2026, 0, 1) / 1000 + unixTo1601) * 10_000_000);
  const seen: number[] = [];
  const drv = scriptedDriver('system-time', {
    initialize: (a) => {
      after(a, 1500, () => seen.push(NdisGetCurrentSystemTime()));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'system-time' }] });
  assert.equal(w.run(2 * ns.s).verdict, 'ok');
  assert.equal(seen.length, 1);
  // 1.5 s after the timer was set, at a virtual time of a little over 1.5 s.
  const sinceBoot = seen[0]! - systemTimeAtBoot;
  assert.ok(sinceBoot >= 15_000_000 && sinceBoot < 16_000_000, `system time - epoch = ${sinceBoot}`);
});

test('R8.5 NdisSetTimerObject: a positive DueTime is an absolute system time; one already past fires at once', () => {
  const fired: Record<string, number> = {};
  const drv = scriptedDriver('absolute-due', {
    initialize: (a) => {
      after(a, 1000, () => {
        const now = NdisGetCurrentSystemTime();
        const cases: [string, number][] = [
          ['1601 + 2 s (a relative time with its sign forgotten)', 20_000_000],
          ['exactly now', now],
          ['now + 0.5 s', now + 5_000_000],
        ];
        for (const [name, due] of cases) {
          const t = NdisAllocateTimerObject(
            a.handle,
            timerCharacteristics(() => {
              fired[name] = NdisGetCurrentSystemTime() - now;
            }),
          ).TimerObject!;
          NdisSetTimerObject(t, due, 0, null);
        }
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'absolute-due' }] });
  assert.equal(w.run(3 * ns.s).verdict, 'ok');
  // At once: within the DPC latency (a few µs), not 2 s later.
  assert.ok(fired['1601 + 2 s (a relative time with its sign forgotten)']! < 100, JSON.stringify(fired));
  assert.ok(fired['exactly now']! < 100, JSON.stringify(fired));
  const half = fired['now + 0.5 s']!;
  assert.ok(half >= 5_000_000 && half < 5_000_100, JSON.stringify(fired));
});

/** Fire times (ms after the set) of a timer set 10 ms out, every 50 ms, with `tolerance` ms. */
function coalescableFires(strategy: Strategy | null, tolerance: number, seed = 1): number[] {
  const fired: number[] = [];
  const drv = scriptedDriver(`coalescable-${tolerance}`, {
    initialize: (a) => {
      after(a, 10, () => {
        const set = NdisGetCurrentSystemTime();
        const t = NdisAllocateTimerObject(
          a.handle,
          timerCharacteristics(() => {
            if (fired.length < 6) fired.push((NdisGetCurrentSystemTime() - set) / 10_000);
          }),
        ).TimerObject!;
        assert.equal(NdisSetCoalescableTimerObject(t, -100_000, 50, null, tolerance), false);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    seed,
    options: strategy === null ? {} : { strategy },
  });
  assert.equal(w.run(400 * ns.ms).verdict, 'ok');
  // Whole milliseconds: the system time is a double, good to 1.6 µs at its size.
  return fired.map((ms) => Math.round(ms));
}

const slackAnswer = (answer: number): Strategy => ({
  name: `slack-${answer}`,
  pick: (site, count) => (site === ChoiceSite.TimerSlack ? Math.min(answer, count - 1) : 0),
});

test('NdisSetCoalescableTimerObject page: the first expiry falls within DueTime ± Tolerance, each later one within MillisecondsPeriod ± Tolerance of the one before; the explorer may pick the edges', () => {
  assert.deepEqual(coalescableFires(slackAnswer(0), 5), [10, 60, 110, 160, 210, 260]);
  assert.deepEqual(coalescableFires(slackAnswer(1), 5), [5, 50, 95, 140, 185, 230]);
  assert.deepEqual(coalescableFires(slackAnswer(2), 5), [15, 70, 125, 180, 235, 290]);
  // Tolerance 0 is NdisSetTimerObject: whatever the chooser would answer, it is not asked.
  assert.deepEqual(coalescableFires(slackAnswer(2), 0), [10, 60, 110, 160, 210, 260]);
  const gaps = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const f = coalescableFires(null, 5, seed);
    assert.ok(f[0]! >= 5 && f[0]! <= 15, `seed ${seed}: first expiry ${f[0]} ms`);
    for (let i = 1; i < f.length; i++) {
      const gap = f[i]! - f[i - 1]!;
      assert.ok(gap >= 45 && gap <= 55, `seed ${seed}: expiries ${f.join(', ')} ms`);
      gaps.add(gap);
    }
  }
  assert.ok(gaps.size >= 3, `random seeds reach the window's edges: gaps ${[...gaps].join(', ')}`);
});

test('NdisSetTimerObject, NdisSetCoalescableTimerObject pages: MillisecondsPeriod must be at most MAXLONG (0 is a one-shot); a negative, fractional or larger one is NdisSim_BadParameter', () => {
  const run = (ddi: 'set' | 'coalescable', period: number) => {
    let back: boolean | null = null;
    const drv = scriptedDriver(`period-${ddi}-${period}`, {
      initialize: (a) => {
        const t = NdisAllocateTimerObject(
          a.handle,
          timerCharacteristics(() => {}),
        ).TimerObject!;
        back =
          ddi === 'set'
            ? NdisSetTimerObject(t, -10_000_000, period, null)
            : NdisSetCoalescableTimerObject(t, -10_000_000, period, null, 50);
        NdisCancelTimerObject(t);
        NdisFreeTimerObject(t);
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      options: { verifier: 'collect' },
    });
    const r = w.run(10 * ns.ms);
    return { back, rules: r.violations.map((v) => [v.rule, v.ddi]) };
  };
  for (const ddi of ['set', 'coalescable'] as const) {
    const name = ddi === 'set' ? 'NdisSetTimerObject' : 'NdisSetCoalescableTimerObject';
    for (const period of [-1, 2.5, 0x8000_0000]) {
      assert.deepEqual(run(ddi, period).rules, [['NdisSim_BadParameter', name]], `${name}(${period})`);
    }
    for (const period of [0, 0x7fff_ffff]) {
      assert.deepEqual(run(ddi, period), { back: false, rules: [] }, `${name}(${period})`);
    }
  }
});

// ------------------------------------------------------------------------ pool tags

test("SDV rule NdisAllocateMemoryWithTagPriority: NDIS's documented default tag 'maDN' (0x6D61444E) is reported; a tag of the driver's own is not", () => {
  const run = (Tag: number) => {
    const drv = scriptedDriver(`tag-${Tag.toString(16)}`, {
      initialize: (a) => {
        const m = NdisAllocateMemoryWithTagPriority(a.handle, 64, Tag, 32)!;
        NdisFreeMemoryWithTagPriority(a.handle, m, Tag);
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      options: { verifier: 'collect' },
    });
    return w.run(1 * ns.s).violations.map((v) => v.rule);
  };
  assert.deepEqual(run(0x6d61444e), ['NdisAllocateMemoryWithTagPriority']);
  assert.deepEqual(run(0x74657374), []); // 'test'
});

// ------------------------------------------------------------------------- NdisMSleep

test('R8.12, NdisMSleep page: NdisSim_SleepTooLong, NdisMSleep above 30,000,000 µs is reported; exactly 30 s is allowed', () => {
  const run = (us: number) => {
    const drv = scriptedDriver(`sleep-${us}`, {
      initialize: () => {
        NdisMSleep(us);
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      options: { verifier: 'collect' },
    });
    const r = w.run(40 * ns.s);
    return r.violations.map((v) => [v.rule, v.ddi, v.adapter]);
  };
  assert.deepEqual(run(30_000_001), [['NdisSim_SleepTooLong', 'NdisMSleep', 'nic0']]);
  assert.deepEqual(run(30_000_000), []);
});

// --------------------------------------------------- where interrupts are (de)registered

test('R2.7/R2.10 NdisSim_InterruptOutsideInitHalt: (de)registering the interrupt in MiniportRestart or MiniportPause is reported, in MiniportInitializeEx and MiniportHaltEx it is not', () => {
  const chars = idleInterrupt();
  const swap = (a: TestAdapter): number => {
    if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
    a.interrupt = NdisMRegisterInterruptEx(a.handle, a, chars).NdisInterruptHandle;
    return NDIS_STATUS_SUCCESS;
  };
  const run = (hooks: Hooks) => {
    const drv = scriptedDriver('intr-place', hooks);
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: 'intr-place' }],
      // Disabling the device pauses it, then halts it (the halt deregisters).
      actions: [{ atNs: 1 * ns.s, action: { kind: 'disable', device: 'nic0' } }],
      options: { verifier: 'collect' },
    });
    return w.run(2 * ns.s).violations.map((v) => [v.rule, v.ddi]);
  };
  // Allowed: the scripted driver registers in MiniportInitializeEx and deregisters in
  // MiniportHaltEx; a swap in MiniportInitializeEx is allowed too.
  assert.deepEqual(run({ initialize: swap }), []);
  // Not allowed: the restart that follows the start, and the pause before the halt.
  assert.deepEqual(
    run({
      restart: swap,
      pause: (a) => {
        if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
        a.interrupt = null;
        return NDIS_STATUS_SUCCESS;
      },
    }),
    [
      ['NdisSim_InterruptOutsideInitHalt', 'NdisMDeregisterInterruptEx'],
      ['NdisSim_InterruptOutsideInitHalt', 'NdisMRegisterInterruptEx'],
      ['NdisSim_InterruptOutsideInitHalt', 'NdisMDeregisterInterruptEx'],
    ],
  );
});

test('DESIGN.md (exit 1, livelock): a livelock is events at one instant without end; a long run whose clock moves is not one', () => {
  // An event that schedules itself for the same instant, forever.
  const m = new Machine(new Chooser(new RandomStrategy(1), [], false));
  const again: EventTarget = { fire: () => void m.after(0, again, 0, null) };
  m.after(5, again, 0, null);
  m.runUntil(1 * ns.s);
  assert.match(m.stopped ?? '', /^livelock: more than 1000000 events at one instant, the clock not moving/);
  assert.equal(m.now, 5);
  // An event that spins 1 ns (NdisStallExecution moves the clock without an event) and
  // comes back at the new instant: two million events, the clock moving all along.
  const s = new Machine(new Chooser(new RandomStrategy(1), [], false));
  const spinner: EventTarget = {
    fire: () => {
      s.spin(1);
      s.after(0, spinner, 0, null);
    },
  };
  s.after(0, spinner, 0, null);
  s.runUntil(2_000_000);
  assert.equal(s.stopped, null);
  assert.equal(s.eventCount, 2_000_001);
  // A timer re-armed 100 ns after each expiry, for 5 s: over five million events (the
  // bound of a run once), a long run but no livelock.
  const drv = scriptedDriver('busy-nic', {
    initialize: (a) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => void NdisSetTimerObject(t.TimerObject!, -1, 0, null)),
      );
      NdisSetTimerObject(t.TimerObject!, -1, 0, null);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'busy-nic' }],
    options: { trace: false },
  });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? undefined);
  assert.ok(r.events > 5_000_000, `${r.events} events`);
});

const testTag = 0x74736574; // 'test'

/** A timer object of `handle` (an adapter or the driver) whose callback does nothing. */
function idleTimer(handle: NDIS_HANDLE): NDIS_HANDLE {
  return NdisAllocateTimerObject(
    handle,
    timerCharacteristics(() => {}),
  ).TimerObject!;
}

/** nic0 of `hooks`, removed at 1 s, so the driver unloads; collect mode. */
function removedAt1s(name: string, hooks: Hooks) {
  return removedScripted(name, hooks, 1 * ns.s, 3 * ns.s);
}

test('NdisSim_PoolNotFreedAtUnload (R2.16): a driver that unloads with pool still allocated is 0xC4/0x62, its name and the number of allocations', () => {
  const { r } = removedAt1s('pool-leak', {
    initialize: (a) => {
      a.state.ring = NdisAllocateMemoryWithTagPriority(a.handle, 4096, testTag, 16);
      a.state.stats = NdisAllocateMemoryWithTagPriority(a.handle, 64, testTag, 16);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter, ...v.bugCheck.params]),
    [['NdisSim_PoolNotFreedAtUnload', 'MiniportDriverUnload', 'nic0', 0x62, 'pool-leak', 0, 2]],
  );
  assert.match(r.violations[0]!.message, /2 pool allocation\(s\) .*4160 bytes/);
  // Freed in halt: nothing to report.
  const ok = removedAt1s('pool-freed', {
    initialize: (a) => {
      a.state.ring = NdisAllocateMemoryWithTagPriority(a.handle, 4096, testTag, 16);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisFreeMemoryWithTagPriority(a.handle, a.state.ring as Uint8Array, testTag),
  });
  assert.deepEqual(ok.r.violations, []);
});

test('NdisFreeMemory page: frees memory of NdisAllocateMemoryWithTagPriority with MemoryFlags 0; twice, or with other flags, is reported', () => {
  const freed = removedAt1s('free-memory', {
    initialize: (a) => {
      a.state.ring = NdisAllocateMemoryWithTagPriority(a.handle, 4096, testTag, 16);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisFreeMemory(a.state.ring as Uint8Array, 4096, 0),
  });
  // Freed: no pool left at unload.
  assert.deepEqual(freed.r.violations, []);
  const twice = removedAt1s('free-memory-twice', {
    initialize: (a) => {
      a.state.ring = NdisAllocateMemoryWithTagPriority(a.handle, 64, testTag, 16);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      NdisFreeMemory(a.state.ring as Uint8Array, 64, 0);
      NdisFreeMemory(a.state.ring as Uint8Array, 64, 0);
    },
  });
  assert.deepEqual(
    twice.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_ObjectFreedInUse', 'NdisFreeMemory']],
  );
  const flags = removedAt1s('free-memory-flags', {
    initialize: (a) => {
      a.state.ring = NdisAllocateMemoryWithTagPriority(a.handle, 64, testTag, 16);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisFreeMemory(a.state.ring as Uint8Array, 64, 1),
  });
  assert.equal(flags.r.violations[0]?.rule, 'NdisSim_BadParameter');
  assert.match(flags.r.violations[0]!.message, /MemoryFlags 0x1/);
});

test('NdisSim_TimerNotFreed (R8.4, R8.7, R2.5): a timer object of the adapter cancelled but never freed is reported when halt, or a failing initialize, returns', () => {
  const { r } = removedAt1s('timer-kept', {
    initialize: (a) => {
      a.state.t = idleTimer(a.handle);
      NdisSetTimerObject(a.state.t as NDIS_HANDLE, -250 * 10_000, 250, null);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      NdisCancelTimerObject(a.state.t as NDIS_HANDLE);
    },
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_TimerNotFreed', 'MiniportHaltEx', 'nic0']],
  );
  const drv = scriptedDriver('timer-init-fail', {
    initialize: (a) => {
      idleTimer(a.handle); // never set, never freed
      return NDIS_STATUS_FAILURE;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'timer-init-fail' }],
    options: { verifier: 'collect' },
  });
  assert.deepEqual(
    w.run(1 * ns.s).violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_TimerNotFreed', 'MiniportInitializeEx']],
  );
  // Cancelled and freed in halt: nothing to report.
  const ok = removedAt1s('timer-freed', {
    initialize: (a) => {
      a.state.t = idleTimer(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      NdisCancelTimerObject(a.state.t as NDIS_HANDLE);
      NdisFreeTimerObject(a.state.t as NDIS_HANDLE);
    },
  });
  assert.deepEqual(ok.r.violations, []);
});

test('R8.8, R8.4, R2.16: a work item or an idle timer allocated with the driver handle and not freed when MiniportDriverUnload returns is reported; freed in unload, nothing is', () => {
  const objects = new Map<string, NDIS_HANDLE[]>();
  const keep = (name: string) => (h: NDIS_HANDLE) => {
    objects.set(name, [NdisAllocateIoWorkItem(h)!, idleTimer(h)]);
    return NDIS_STATUS_SUCCESS;
  };
  const { w, r } = removedAt1s('drv-objects', { driverEntry: keep('drv-objects') });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter, v.bugCheck.code, v.bugCheck.params[0]]),
    [
      ['NdisSim_TimerNotFreed', 'MiniportDriverUnload', null, 0xc4, 0x4e530027],
      ['NdisSim_WorkItemNotFreed', 'MiniportDriverUnload', null, 0xc4, 0x4e530028],
    ],
  );
  assert.match(
    r.violations[1]!.message,
    /drv-objects: MiniportDriverUnload returned without freeing an I\/O work item/,
  );
  assert.equal(w.device('nic0').status, 'removed');
  // The devnode's status is recorded as REMOVE_DEVICE completes, before the driver
  // unloads: a run stopped by a bug check in MiniportDriverUnload shows it removed.
  const stopped = testWorld({
    drivers: [scriptedDriver('drv-objects-stop', { driverEntry: keep('drv-objects-stop') })],
    devices: [{ name: 'nic0', driver: 'drv-objects-stop' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  assert.equal(stopped.run(3 * ns.s).bugCheck?.rule, 'NdisSim_TimerNotFreed');
  assert.equal(stopped.device('nic0').status, 'removed');

  const ok = removedAt1s('drv-objects-freed', {
    driverEntry: keep('drv-objects-freed'),
    unload: () => {
      const [item, timer] = objects.get('drv-objects-freed')!;
      NdisFreeIoWorkItem(item!);
      NdisFreeTimerObject(timer!);
    },
  });
  assert.deepEqual(ok.r.violations, []);
});

test('NdisSim_CallbackAfterHalt (R8.8, R2.16): a timer allocated with the driver handle that fires after MiniportDriverUnload is reported, naming the driver', () => {
  const { r, drv } = removedAt1s('drv-timer', {
    driverEntry: (h) => {
      NdisSetTimerObject(idleTimer(h), -500 * 10_000, 500, null);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.ok(drv.calls.includes('MiniportDriverUnload'));
  assert.ok(r.violations.length >= 1);
  for (const v of r.violations) {
    assert.equal(v.rule, 'NdisSim_CallbackAfterHalt');
    assert.equal(v.ddi, 'NdisTimerFunction');
    assert.equal(v.adapter, null);
    assert.ok(v.timeNs > 1 * ns.s);
    assert.match(v.message, /of driver drv-timer fired after its MiniportDriverUnload returned/);
  }
});

test('R8.8, R2.16: a driver-handle timer of an unloaded driver is reported even after the driver is loaded again for another device', () => {
  let fired = 0;
  let loads = 0;
  const drv = scriptedDriver('leaky-timer', {
    driverEntry: (h) => {
      if (loads++ === 0) {
        const t = NdisAllocateTimerObject(
          h,
          timerCharacteristics(() => {
            fired++;
          }),
        ).TimerObject!;
        NdisSetTimerObject(t, -5_000_000, 500, null); // at 0.5 s, then every 500 ms
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [
      { name: 'nic0', driver: 'leaky-timer' },
      { name: 'nic1', driver: 'leaky-timer' },
    ],
    autostart: false,
    actions: [
      { atNs: 0, action: { kind: 'start', device: 'nic0' } },
      { atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
      { atNs: 200 * ns.ms, action: { kind: 'start', device: 'nic1' } },
    ],
    options: { verifier: 'collect' },
  });
  const r = w.run(3 * ns.s);
  assert.equal(loads, 2, 'the driver was loaded again for nic1');
  assert.equal(fired, 0, 'the first load timer never ran driver code');
  // Periodic: it fires every 500 ms after the unload, and is reported once (per timer object, not per tick).
  assert.equal(r.violations.filter((v) => v.rule === 'NdisSim_CallbackAfterHalt').length, 1);
});

test('NT_SUCCESS (ntdef.h) on unsigned status codes: SUCCESS, PENDING and NOT_ACCEPTED succeed (R6.7); FAILURE and NOT_SUPPORTED do not', () => {
  for (const s of [NDIS_STATUS_SUCCESS, NDIS_STATUS_PENDING, NDIS_STATUS_NOT_ACCEPTED])
    assert.equal(NT_SUCCESS(s), true, String(s));
  for (const s of [NDIS_STATUS_FAILURE, NDIS_STATUS_NOT_SUPPORTED])
    assert.equal(NT_SUCCESS(s), false, String(s));
});

test('ndis.h flag tests (NDIS_TEST_RECEIVE_CAN_PEND and the rest): each is true exactly when its flag is set, whatever other flags come with it (R6.13, R6.14)', () => {
  const other = NDIS_RECEIVE_FLAGS_SINGLE_ETHER_TYPE;
  assert.equal(NDIS_TEST_RECEIVE_CAN_PEND(other), true);
  assert.equal(NDIS_TEST_RECEIVE_CAN_PEND(other | NDIS_RECEIVE_FLAGS_RESOURCES), false);
  assert.equal(
    NDIS_TEST_RECEIVE_CANNOT_PEND(NDIS_RECEIVE_FLAGS_RESOURCES | NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL),
    true,
  );
  assert.equal(NDIS_TEST_RECEIVE_CANNOT_PEND(NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL), false);
  assert.equal(NDIS_TEST_RECEIVE_AT_DISPATCH_LEVEL(NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL | other), true);
  assert.equal(NDIS_TEST_RECEIVE_AT_DISPATCH_LEVEL(NDIS_RECEIVE_FLAGS_RESOURCES), false);
  assert.equal(NDIS_TEST_SEND_AT_DISPATCH_LEVEL(NDIS_SEND_FLAGS_DISPATCH_LEVEL), true);
  assert.equal(NDIS_TEST_SEND_AT_DISPATCH_LEVEL(NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK), false);
  assert.equal(NDIS_TEST_SEND_COMPLETE_AT_DISPATCH_LEVEL(NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL), true);
  assert.equal(NDIS_TEST_SEND_COMPLETE_AT_DISPATCH_LEVEL(0), false);
  assert.equal(NDIS_TEST_RETURN_AT_DISPATCH_LEVEL(NDIS_RETURN_FLAGS_DISPATCH_LEVEL), true);
  assert.equal(NDIS_TEST_RETURN_AT_DISPATCH_LEVEL(NDIS_RETURN_FLAGS_SINGLE_QUEUE), false);
});

test('NDIS_RECEIVE_THROTTLE_PARAMETERS page: an NDIS 6.20+ DPC gets MaxNblsToIndicate NDIS_INDICATE_ALL_NBLS and MoreNblsPending FALSE; TRUE has NDIS run the DPC again; before 6.20 the parameter is NULL', () => {
  const run = (minor: number, again: number) => {
    const seen: unknown[] = [];
    const drv = scriptedDriver(`throttle-${minor}-${again}`, {
      characteristics: (c) => {
        c.MinorNdisVersion = minor;
      },
      // A NIC reset raises one interrupt (RESET_DONE) once interrupts are enabled.
      initialize: (a) => {
        NdisWriteRegisterUlong(a.space!.at(SimNicReg.CTRL), SimNicCtrl.RESET | SimNicCtrl.INTR_ENABLE);
        return NDIS_STATUS_SUCCESS;
      },
      dpc: (_a, t) => {
        seen.push(t === null ? null : { ...t });
        if (t !== null && seen.length <= again) t.MoreNblsPending = true;
      },
    });
    const r = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] }).run(500 * ns.ms);
    assert.equal(r.verdict, 'ok', r.message ?? undefined);
    return seen;
  };
  const fresh = { MaxNblsToIndicate: NDIS_INDICATE_ALL_NBLS, MoreNblsPending: false };
  // One interrupt (the reset the base driver starts); each rerun starts from fresh values.
  assert.deepEqual(run(30, 0), [fresh]);
  assert.deepEqual(run(30, 2), [fresh, fresh, fresh]);
  assert.deepEqual(run(0, 2), [null]);
});

test('NdisMQueueDpcEx page: queues the DPC on each CPU of TargetProcessors with MiniportDpcContext and returns those CPUs; a CPU whose DPC is still queued is left out; another processor group gets nothing', () => {
  const run = (cpus: number) => {
    const got: unknown[] = [];
    const returned: number[] = [];
    const drv = scriptedDriver(`queue-dpc-${cpus}`, {
      restart: (a) => {
        returned.push(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b11, Group: 0 }, 'ctx-A'));
        returned.push(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b11, Group: 0 }, 'ctx-B'));
        returned.push(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b1, Group: 1 }, 'ctx-C'));
        return NDIS_STATUS_SUCCESS;
      },
      dpc: (_a, _t, context) => got.push(context),
    });
    const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }], options: { cpus } });
    assert.equal(w.run(200 * ns.ms).verdict, 'ok');
    const dpcCpus = w.trace.events
      .filter((e) => e.kind === 'call' && e.what === 'MiniportInterruptDPC')
      .map((e) => e.cpu);
    return { returned, got, dpcCpus: dpcCpus.sort() };
  };
  assert.deepEqual(run(2), { returned: [0b11, 0, 0], got: ['ctx-A', 'ctx-A'], dpcCpus: [0, 1] });
  assert.deepEqual(run(1), { returned: [0b1, 0, 0], got: ['ctx-A'], dpcCpus: [0] });
});

test('NdisMQueueDpc page: TargetProcessors is a plain bitmap; returns the CPUs it queued on, leaving out a CPU whose DPC is still queued', () => {
  const got: unknown[] = [];
  const returned: number[] = [];
  const drv = scriptedDriver('queue-dpc-plain', {
    restart: (a) => {
      returned.push(NdisMQueueDpc(a.interrupt!, 0, 0b10, 'ctx-A'));
      returned.push(NdisMQueueDpc(a.interrupt!, 0, 0b11, 'ctx-B'));
      return NDIS_STATUS_SUCCESS;
    },
    dpc: (_a, _t, context) => got.push(context),
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { cpus: 2 },
  });
  assert.equal(w.run(200 * ns.ms).verdict, 'ok');
  // CPU 1's DPC is still queued at the second call, so only CPU 0 is added, with ctx-B.
  assert.deepEqual(returned, [0b10, 0b01]);
  assert.deepEqual(got.sort(), ['ctx-A', 'ctx-B']);
  const traced = w.trace.events.filter((e) => e.kind === 'ddi' && e.what === 'NdisMQueueDpc');
  assert.deepEqual(
    traced.map((e) => e.data),
    [
      { TargetProcessors: 0b10, result: 0b10, adapter: 'nic0' },
      { TargetProcessors: 0b11, result: 0b01, adapter: 'nic0' },
    ],
  );
});
