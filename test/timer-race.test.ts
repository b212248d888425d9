// examples/timer-race: a driver whose R8.6 bug shows only under some schedules (the
// explorer's example). MiniportHaltEx frees its self-rearming one-shot poll timer right
// after NdisCancelTimerObject, without waiting for a callback that has already expired;
// timer-race-fixed waits for it (a lock, a flag and an NDIS_EVENT the callback sets).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timerRace, timerRaceFixed } from '../examples/timer-race.ts';
import { checkExpectations } from '../src/scenario/build.ts';
import type { Scenario } from '../src/scenario/schema.ts';
import { exampleScenario, failingSeeds, runExample } from './helpers/seeds.ts';

const drivers = [timerRace, timerRaceFixed];
const file = 'examples/timer-race.yaml';
/** A seed of 1..300 whose halt comes between a poll timer's expiry and its DPC. */
const failingSeed = 20;

const scenario = (driver: 'timer-race' | 'timer-race-fixed'): Scenario =>
  exampleScenario(file, drivers, driver);
const run = (s: Scenario, seed: number, trace = false) => runExample(s, drivers, seed, trace);

test("R8.6 timer-race: the scenario's own seed passes and meets its expect", () => {
  const s = scenario('timer-race');
  const { w, r } = run(s, s.seed);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(checkExpectations(s, r, w.summary())?.problems, []);
});

test(`R8.6 NdisCancelTimerObject, NdisFreeTimerObject: timer-race at seed ${failingSeed} frees its poll timer while the expired callback is queued (NdisSim_TimerFreedWhileSet)`, () => {
  const { w, r } = run(scenario('timer-race'), failingSeed, true);
  assert.equal(r.verdict, 'bugcheck');
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_TimerFreedWhileSet', 'NdisFreeTimerObject', 'poll0']],
  );
  assert.match(r.violations[0]!.summary + r.bugCheck!.message, /expired callback was still queued/);
  // The cause: the cancel found the timer expired (FALSE) and the halt went on regardless.
  const cancel = w.trace.events.find((e) => e.what === 'NdisCancelTimerObject');
  assert.equal(cancel?.data?.result, false);
});

test('R8.6 timer-race: only some schedules break the rule (2-15 % of seeds 1..300)', () => {
  const failing = failingSeeds(scenario('timer-race'), drivers, 300, 'NdisSim_TimerFreedWhileSet', [6, 45]);
  assert.ok(failing.includes(failingSeed));
});

test(`R8.6 NdisWaitEvent: timer-race-fixed passes seeds 1..300, and at seed ${failingSeed} waits for the expired callback before freeing the timer`, () => {
  const s = scenario('timer-race-fixed');
  for (let seed = 1; seed <= 300; seed++) {
    const { w, r } = run(s, seed);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.bugCheck?.message ?? r.verdict}`);
    assert.deepEqual(checkExpectations(s, r, w.summary())?.problems, [], `seed ${seed}`);
  }
  // The schedule that breaks timer-race: the fix takes its wait path, and the last
  // poll callback runs before the timer is freed.
  const { w } = run(s, failingSeed, true);
  const ev = w.trace.events;
  const at = (what: string): number => ev.findIndex((e) => e.what === what);
  const cancel = ev[at('NdisCancelTimerObject')];
  assert.equal(cancel?.data?.result, false);
  const wait = at('NdisWaitEvent');
  const set = at('NdisSetEvent');
  const free = at('NdisFreeTimerObject');
  assert.ok(wait > 0 && wait < set && set < free, `wait ${wait}, set ${set}, free ${free}`);
});
