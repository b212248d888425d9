// examples/sg-race: a bus-master driver whose send path reads the scatter/gather list
// right after NdisMAllocateNetBufferSGList returns, which holds only when NDIS calls
// MiniportProcessSGList inside the call (answer 0 of ChoiceSite.ProcessSGList);
// sg-race-fixed posts the send from MiniportProcessSGList.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { sgRace, sgRaceFixed } from '../examples/sg-race.ts';
import { shrink } from '../src/explore/explore.ts';
import { checkExpectations, untilNs } from '../src/scenario/build.ts';
import type { Scenario } from '../src/scenario/schema.ts';
import { ChoiceSite } from '../src/sim/choice.ts';
import { exampleScenario, failingSeeds, runExample } from './helpers/seeds.ts';

const drivers = [sgRace, sgRaceFixed];
const file = 'examples/sg-race.yaml';
/** A seed of 1..300 where NDIS puts off the send's MiniportProcessSGList. */
const failingSeed = 2;

const scenario = (driver: 'sg-race' | 'sg-race-fixed'): Scenario => exampleScenario(file, drivers, driver);
const run = (s: Scenario, seed: number, trace = false) => runExample(s, drivers, seed, trace);

test("NdisMAllocateNetBufferSGList sg-race: the scenario's own seed passes and meets its expect", () => {
  const s = scenario('sg-race');
  const { w, r } = run(s, s.seed);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(checkExpectations(s, r, w.summary())?.problems, []);
});

test(`MiniportProcessSGList sg-race: at seed ${failingSeed} NDIS calls it after NdisMAllocateNetBufferSGList returned, and the send path reads the list that is not there (NdisSim_DriverException)`, () => {
  const { w, r } = run(scenario('sg-race'), failingSeed, true);
  assert.equal(r.verdict, 'bugcheck');
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_DriverException', 'MiniportSendNetBufferLists', 'nic0']],
  );
  assert.match(r.violations[0]!.message, /reading 'Elements'/);
  // The driver's own frame, below ndis-sim's: the line of examples/sg-race.ts that read the list.
  const at = /reading 'Elements'\) at \S+ \((examples\/sg-race\.ts):(\d+):\d+\)/.exec(
    r.violations[0]!.message,
  );
  assert.ok(at !== null, r.violations[0]!.message);
  const line = readFileSync(at[1]!, 'utf8').split('\n')[Number(at[2]) - 1]!;
  assert.match(line, /\.Elements/);
  // The cause: the allocation succeeded and returned with no MiniportProcessSGList inside it.
  const ev = w.trace.events;
  const alloc = ev.findIndex((e) => e.what === 'NdisMAllocateNetBufferSGList');
  assert.equal(ev[alloc]?.data?.result, 'NDIS_STATUS_SUCCESS');
  assert.equal(
    ev.findIndex((e) => e.what === 'MiniportProcessSGList'),
    -1,
  );
});

test('NdisMAllocateNetBufferSGList sg-race: about half the seeds break it, and shrinking leaves the one ProcessSGList answer', () => {
  const s = scenario('sg-race');
  const failing = failingSeeds(s, drivers, 300, 'NdisSim_DriverException', [100, 200]);
  assert.ok(failing.includes(failingSeed));
  const shrunk = shrink(
    { scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier },
    failingSeed,
    200,
  );
  assert.deepEqual(
    shrunk.decisions.filter((d) => d.pick !== 0).map((d) => [d.site, d.pick]),
    [[ChoiceSite.ProcessSGList, 1]],
  );
  assert.equal(shrunk.outcome.signature, 'bugcheck NdisSim_DriverException');
});

test('MiniportProcessSGList sg-race-fixed: posting the send from the callback passes seeds 1..300', () => {
  const s = scenario('sg-race-fixed');
  for (let seed = 1; seed <= 300; seed++) {
    const { w, r } = run(s, seed);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.bugCheck?.message ?? r.verdict}`);
    assert.deepEqual(checkExpectations(s, r, w.summary())?.problems, [], `seed ${seed}`);
    // Its one send is posted, whichever order NDIS picked.
    const a = w.summary().adapters[0]!;
    assert.deepEqual([a.data.sent, a.data.completed, a.sendsOutstanding], [1, 1, 0], `seed ${seed}`);
  }
});
