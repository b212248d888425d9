// examples/removal-race: a removal race the explorer finds through an injected surprise
// removal. The driver's surprise-removal handler completes a pending reset but leaves
// the reset's poll timer set, and the poll, reading all ones from the gone NIC,
// completes the reset again (R4.15). removal-race-fixed gives the reset one owner: the
// handler takes it only from a poll it cancelled.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { removalRace, removalRaceFixed } from '../examples/removal-race.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import { untilNs } from '../src/scenario/build.ts';
import type { Scenario } from '../src/scenario/schema.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { exampleScenario, failingSeeds, runExample } from './helpers/seeds.ts';

const drivers = [removalRace, removalRaceFixed];
const file = 'examples/removal-race.yaml';
/** A seed of 1..500 whose surprise removal lands inside a reset (at 10.161583 s). */
const failingSeed = 61;
const seeds = 500;

const scenario = (driver: 'removal-race' | 'removal-race-fixed'): Scenario =>
  exampleScenario(file, drivers, driver);
const run = (s: Scenario, seed: number, trace = false) => runExample(s, drivers, seed, trace);

/** The trace from the injected surprise removal on. */
function afterRemoval(events: readonly TraceEvent[]): TraceEvent[] {
  const at = events.findIndex((e) => e.kind === 'action' && e.what === 'surprise-remove');
  assert.ok(at >= 0, 'the surprise removal was injected');
  return events.slice(at);
}

test("R4.15 removal-race: the scenario's own seed passes", () => {
  const s = scenario('removal-race');
  const { r } = run(s, s.seed);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(r.violations, []);
});

test(`R4.15 NdisMResetComplete: removal-race at seed ${failingSeed} completes a reset in its surprise-removal handler and again from the poll (NdisSim_ResetCompleteUnexpected)`, () => {
  const { w, r } = run(scenario('removal-race'), failingSeed, true);
  assert.equal(r.verdict, 'bugcheck');
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_ResetCompleteUnexpected', 'NdisMResetComplete', 'nic0']],
  );
  assert.match(r.bugCheck!.message, /a double completion/);
  // The cause: the handler completed the pending reset with failure; the poll it left
  // set then read READY from the gone NIC's all-ones STATUS, during the halt's wait.
  const ev = afterRemoval(w.trace.events);
  const completions = ev.filter((e) => e.what === 'NdisMResetComplete');
  assert.deepEqual(
    completions.map((e) => e.data?.Status),
    ['NDIS_STATUS_FAILURE', 'NDIS_STATUS_SUCCESS'],
  );
  const notify = ev.findIndex((e) => e.what === 'MiniportDevicePnPEventNotify');
  const halt = ev.findIndex((e) => e.what === 'MiniportHaltEx');
  const second = ev.indexOf(completions[1]!);
  assert.ok(
    notify < ev.indexOf(completions[0]!) && halt < second,
    `notify ${notify}, halt ${halt}, second ${second}`,
  );
  // The poll's read of the gone NIC is an R5.7 warning (power-rules.ts); the driver call
  // before the completion is still the timer's.
  const before = ev.slice(0, second).filter((e) => e.kind !== 'violation');
  assert.equal(before.at(-1)?.what, 'NdisTimerFunction');
  assert.ok(
    w.verifier.warnings.some(
      (x) => x.rule === 'R5.7' && /after the SurpriseRemoved notification/.test(x.message),
    ),
  );
});

test(`R4.15 removal-race: only injected removals inside a reset break the rule (1-6 % of seeds 1..${seeds})`, () => {
  const failing = failingSeeds(
    scenario('removal-race'),
    drivers,
    seeds,
    'NdisSim_ResetCompleteUnexpected',
    [5, 30],
  );
  assert.ok(failing.includes(failingSeed));
  // The explorer's situations show the window: exactly the failing runs had their
  // surprise removal come while a reset was pending.
  const s = scenario('removal-race');
  const r = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, seeds);
  const inReset = r.situations.find((x) => x.what === 'surprise removal in Running, reset pending');
  assert.equal(inReset?.runs, failing.length);
  assert.equal(inReset?.firstSeed, failing[0]);
});

test(`R4.15 NdisCancelTimerObject: removal-race-fixed passes seeds 1..${seeds}, and at seed ${failingSeed} completes the reset once, from the handler that cancelled the poll`, () => {
  const s = scenario('removal-race-fixed');
  for (let seed = 1; seed <= seeds; seed++) {
    const { r } = run(s, seed);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.bugCheck?.message ?? r.verdict}`);
  }
  const { w } = run(s, failingSeed, true);
  const ev = afterRemoval(w.trace.events);
  const notify = ev.findIndex((e) => e.what === 'MiniportDevicePnPEventNotify');
  const cancel = ev.findIndex((e) => e.what === 'NdisCancelTimerObject');
  const completions = ev.filter((e) => e.what === 'NdisMResetComplete');
  assert.ok(notify >= 0 && notify < cancel, `notify ${notify}, cancel ${cancel}`);
  assert.equal(ev[cancel]?.data?.result, true); // the poll was still queued: the reset is the handler's
  assert.deepEqual(
    completions.map((e) => e.data?.Status),
    ['NDIS_STATUS_FAILURE'],
  );
  assert.ok(ev.indexOf(completions[0]!) > cancel);
  assert.equal(
    ev.some((e) => e.what === 'NdisTimerFunction'),
    false,
  );
  assert.equal(w.adapter('nic0')?.state, 'Halted');
});
