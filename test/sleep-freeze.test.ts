// A system in S3 or S4 runs nothing (src/sim/machine.ts freeze/thaw, src/ndis/power.ts,
// docs/model.md "System sleep and resume"): once every adapter is in D3 no timer, DPC,
// work item, interrupt or traffic event runs until the wake; what fell due meanwhile
// runs right after it, in the order it fell due (relative timers that would have
// expired during sleep expire on waking: the QueryUnbiasedInterruptTime page).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pmHooks } from '../src/drivers/buggy/kit.ts';
import {
  NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisAllocateTimerObject,
  NdisDeviceStateD3,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisRequestSetInformation,
  NdisSetTimerObject,
  OID_PNP_SET_POWER,
} from '../src/index.ts';
import type { World, WorldAction } from '../src/world.ts';
import {
  after,
  type Hooks,
  scriptedDriver,
  type TestAdapter,
  timerCharacteristics,
} from './helpers/scripted.ts';
import { is, ns, testWorld } from './helpers/world.ts';

const sleepAt = 1 * ns.s;
const wakeAt = 3 * ns.s;

/** True for OID_PNP_SET_POWER(D3). */
function isSetD3(req: Parameters<NonNullable<Hooks['oid']>>[1]): boolean {
  const info = req.DATA.SET_INFORMATION;
  return (
    req.RequestType === NdisRequestSetInformation &&
    info.Oid === OID_PNP_SET_POWER &&
    info.InformationBuffer === NdisDeviceStateD3
  );
}

/** The world's clock, for hooks that record when they ran (bound when the world is made). */
let clock: () => number = () => 0;

/** nic0 with `hooks`, a 2 s S3 sleep at 1 s, run to 5 s. */
function sleepRun(
  name: string,
  hooks: Hooks,
  opts: {
    seed?: number;
    cpus?: number;
    traffic?: number;
    actions?: { atNs: number; action: WorldAction }[];
  } = {},
) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    seed: opts.seed ?? 1,
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    protocols: [],
    actions: [
      { atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: wakeAt - sleepAt } },
      ...(opts.actions ?? []),
    ],
    options: { verifier: 'collect', trace: true, cpus: opts.cpus ?? 2 },
  });
  w.addProtocol(
    'tcpip',
    opts.traffic === undefined
      ? {}
      : { traffic: { ratePerSecond: opts.traffic, frameBytes: 64, returnDelayNs: 0, statisticsEveryNs: 0 } },
  );
  clock = () => w.kernel.now;
  return { w, drv, r: w.run(5 * ns.s) };
}

/** The instant the machine froze (the World's "asleep" line). */
function frozenAt(w: World): number {
  const e = w.trace.events.find(
    (x) => x.actor === 'power' && x.kind === 'action' && x.what.startsWith('asleep'),
  );
  assert.ok(e !== undefined, 'the machine froze');
  return e.t;
}

const callTimes = (w: World, fn: string): number[] =>
  w.trace.events.filter((e) => e.kind === 'call' && e.what === fn).map((e) => e.t);

test('NdisSetTimerObject: timers due during the system sleep fire only after the wake, in the order they fell due', () => {
  const fired: { which: string; t: number }[] = [];
  const { w, r } = sleepRun(
    'frz-timer',
    pmHooks({
      oid: (a, req) => {
        if (isSetD3(req)) {
          // Set as the adapter goes to D3: the one set second is due first.
          after(a, 800, () => fired.push({ which: 'A', t: clock() }));
          after(a, 300, () => fired.push({ which: 'B', t: clock() }));
        }
        return NDIS_STATUS_SUCCESS;
      },
    }),
    // One CPU: the timers' DPCs run in the order the timers expire.
    { cpus: 1 },
  );
  // The timers left set at OID_PNP_SET_POWER(D3) break that OID's rule, and only it.
  assert.deepEqual(new Set(r.violations.map((v) => v.rule)), new Set(['NdisSim_SetPowerTimerSet']));
  const frozen = frozenAt(w);
  assert.ok(frozen > sleepAt && frozen < sleepAt + 10 * ns.ms, `froze at ${frozen}`);
  assert.deepEqual(
    fired.map((f) => f.which),
    ['B', 'A'],
  );
  for (const f of fired) assert.ok(f.t >= wakeAt && f.t < wakeAt + 100 * ns.us, `${f.which} fired at ${f.t}`);
});

/** Hooks whose initialization sets a 10 ms periodic timer that writes down each tick. */
function periodicHooks(ticks: number[], extra: Hooks = {}): Hooks {
  return pmHooks({
    initialize: (a: TestAdapter) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => ticks.push(clock())),
      );
      if (t.TimerObject !== null) NdisSetTimerObject(t.TimerObject, -10 * 10_000, 10, null);
      return NDIS_STATUS_SUCCESS;
    },
    ...extra,
  });
}

test('NdisSetTimerObject periodic: no tick and no event at all while the system sleeps; after the wake one tick, then the period from there', () => {
  const ticks: number[] = [];
  const drv = scriptedDriver('frz-periodic', periodicHooks(ticks));
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'frz-periodic' }],
    actions: [{ atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: wakeAt - sleepAt } }],
    options: { verifier: 'collect', trace: true },
  });
  clock = () => w.kernel.now;
  w.run(1.5 * ns.s);
  const events = w.machine.eventCount;
  const traced = w.trace.events.length;
  w.run(2.9 * ns.s);
  // Frozen: the machine ran nothing between 1.5 s and 2.9 s.
  assert.equal(w.machine.eventCount, events);
  assert.equal(w.trace.events.length, traced);
  const r = w.run(3.5 * ns.s);
  // The timers left set at OID_PNP_SET_POWER(D3) break that OID's rule, and only it.
  assert.deepEqual(new Set(r.violations.map((v) => v.rule)), new Set(['NdisSim_SetPowerTimerSet']));
  const frozen = frozenAt(w);
  assert.ok(ticks.some((t) => t < frozen));
  assert.deepEqual(
    ticks.filter((t) => t > frozen && t < wakeAt),
    [],
  );
  const next = ticks.filter((t) => t >= wakeAt);
  assert.ok(next[0]! < wakeAt + 100 * ns.us, `first tick after the wake at ${next[0]}`);
  // The period goes on from the wake (no burst of missed ticks).
  assert.ok(next[1]! - next[0]! > 9 * ns.ms, `second tick ${next[1]! - next[0]!} ns later`);
});

test("R3.1 NO_PAUSE_ON_SUSPEND: the protocol's traffic does not reach the miniport while the system sleeps, and goes on after the wake", () => {
  const { w, r } = sleepRun('frz-traffic', pmHooks({}, NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND), {
    traffic: 1000,
  });
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  // Not paused for the sleep (NDIS 6.30): sends reach it until the machine freezes.
  assert.ok(!w.trace.events.some((e) => e.kind === 'call' && e.what === 'MiniportPause'));
  const frozen = frozenAt(w);
  const sends = callTimes(w, 'MiniportSendNetBufferLists');
  assert.ok(sends.some((t) => t > sleepAt - 10 * ns.ms && t < frozen));
  assert.deepEqual(
    sends.filter((t) => t > frozen && t < wakeAt),
    [],
  );
  assert.ok(sends.filter((t) => t > wakeAt).length > 100);
});

/** From 500 ms on, a work item of the adapter sleeps 100 ms ten times, writing down each return. */
function sleeper(returns: number[]): (a: TestAdapter) => void {
  const work = (a: TestAdapter) => {
    const item = NdisAllocateIoWorkItem(a.handle);
    if (item === null) return;
    NdisQueueIoWorkItem(
      item,
      () => {
        for (let i = 0; i < 10; i++) {
          NdisMSleep(100_000);
          returns.push(clock());
        }
      },
      null,
    );
  };
  return (a) => after(a, 500, work);
}

test('R8.12 NdisMSleep: a thread asleep when the system goes to sleep resumes after the wake, and the model does not count the sleep as its lateness', () => {
  const returns: number[] = [];
  const start = sleeper(returns);
  const { w, r } = sleepRun(
    'frz-msleep',
    pmHooks({
      initialize: (a) => {
        start(a);
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const frozen = frozenAt(w);
  assert.ok(returns.some((t) => t < frozen));
  assert.deepEqual(
    returns.filter((t) => t > frozen && t < wakeAt),
    [],
  );
  // The sleep due in the freeze returns right after the wake; the next one 100 ms later.
  const next = returns.filter((t) => t >= wakeAt);
  assert.ok(next[0]! < wakeAt + 1 * ns.ms, `returned at ${next[0]}`);
  assert.ok(next[1]! - next[0]! >= 100 * ns.ms);
  assert.deepEqual(r.modelNotes, []);
});

test('sleep: a scenario action that falls in the sleep is taken right after the wake; a shutdown is still ignored', () => {
  const { w, drv, r } = sleepRun('frz-action', pmHooks(), {
    actions: [
      { atNs: 2 * ns.s, action: { kind: 'remove', device: 'nic0' } },
      { atNs: 2.5 * ns.s, action: { kind: 'shutdown' } },
    ],
  });
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const ev = w.trace.events;
  const ignored = ev.find(is('action', 'shutdown ignored: the system is asleep'));
  assert.equal(ignored?.t, 2.5 * ns.s);
  const wake = ev.findIndex(is('action', 'wake'));
  const remove = ev.findIndex(is('action', 'remove'));
  assert.ok(wake > 0 && remove > wake, `wake at #${wake}, remove at #${remove}`);
  assert.equal(ev[remove]!.t, wakeAt);
  const query = ev.findIndex((e) => e.kind === 'irp' && e.what === 'IRP_MN_QUERY_REMOVE_DEVICE');
  assert.ok(query > remove);
  assert.ok(drv.calls.some((c) => c.startsWith('MiniportHaltEx')));
  assert.ok(!drv.calls.some((c) => c.startsWith('MiniportShutdownEx')));
});

test('sleep: what the event that reaches S3 schedules after it is held too (a surprise removal while MiniportHaltEx waits: its teardown runs after the wake)', () => {
  // The power-down halt waits 300 ms; the removal's teardown takes the adapter over
  // meanwhile and kicks NDIS's worker, so the worker event that sees the halt return
  // (and the system reach S3) queues the worker again after the freeze.
  const { w, r } = sleepRun(
    'frz-halt-removed',
    { halt: () => NdisMSleep(300_000) },
    {
      actions: [{ atNs: 1.1 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } }],
    },
  );
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const frozen = frozenAt(w);
  assert.ok(frozen > 1.3 * ns.s, `froze at ${frozen}`);
  const during = w.trace.events.filter((e) => e.t > frozen && e.t < wakeAt);
  assert.deepEqual(
    during.map((e) => `${e.t} ${e.actor} ${e.what}`),
    [],
  );
  const gone = w.trace.events.find(is('ndis', 'FDO deleted'));
  assert.ok(gone !== undefined && gone.t >= wakeAt, `FDO deleted at ${gone?.t}`);
});

test('sleep: the same seed gives the same trace twice, with timers, traffic and a thread asleep across the freeze', () => {
  const once = (seed: number) => {
    const ticks: number[] = [];
    const returns: number[] = [];
    const start = sleeper(returns);
    const periodic = periodicHooks(ticks);
    const hooks: Hooks = {
      ...periodic,
      initialize: (a, p) => {
        start(a);
        return periodic.initialize!(a, p);
      },
    };
    const { w, r } = sleepRun('frz-det', hooks, { seed, traffic: 500 });
    assert.ok(returns.some((t) => t >= wakeAt));
    // The timers left set at OID_PNP_SET_POWER(D3) break that OID's rule, and only it.
    assert.deepEqual(new Set(r.violations.map((v) => v.rule)), new Set(['NdisSim_SetPowerTimerSet']));
    return JSON.stringify(w.trace.events);
  };
  const a = once(7);
  assert.ok(a.includes('"asleep (S3)"'));
  assert.equal(once(7), a);
  assert.notEqual(once(8), a);
});

test('sleep: a removal that takes over the last adapter still on its way to D3 lets the system reach S3 (its teardown runs after the wake)', () => {
  // nic1 reaches D3 at once and ticks a periodic timer; nic0's MiniportPause pends and
  // never completes, so nic0 is still on its way to D3 when it is surprise-removed.
  const ticks: number[] = [];
  const w = testWorld({
    drivers: [
      scriptedDriver('frz-pause-pends', pmHooks({ pause: () => NDIS_STATUS_PENDING })),
      scriptedDriver('frz-ticks', periodicHooks(ticks)),
    ],
    devices: [
      { name: 'nic0', driver: 'frz-pause-pends' },
      { name: 'nic1', driver: 'frz-ticks' },
    ],
    actions: [
      { atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: wakeAt - sleepAt } },
      { atNs: 1.1 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } },
    ],
    options: { verifier: 'collect', trace: true },
  });
  clock = () => w.kernel.now;
  w.run(5 * ns.s);
  const frozen = frozenAt(w);
  assert.ok(frozen >= 1.1 * ns.s && frozen < 1.2 * ns.s, `froze at ${frozen}`);
  assert.deepEqual(
    ticks.filter((t) => t > frozen && t < wakeAt),
    [],
    'nic1 ticked while the system slept',
  );
});
