// The explorer used as a driver developer uses it (examples/dpc-races.ts): three
// teardown races of a SimNic miniport, each found by `explore`, shrunk and replayed,
// and what the reports say about the interleaving that breaks each.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dpcRaces } from '../examples/dpc-races.ts';
import { fmtTime } from '../src/report/format.ts';
import { checkExpectations } from '../src/scenario/build.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';

const drivers = dpcRaces;
const scenario = (name: string, driver = name) => exampleScenario(`examples/${name}.yaml`, drivers, driver);

test("the three races pass their scenario's own seed, and dpc-races-fixed passes the seeds that break them", () => {
  const cases: [string, number][] = [
    ['rxpool-race', 57],
    ['pausetx-race', 2],
    ['giveup-race', 1],
  ];
  for (const [name, failing] of cases) {
    const s = scenario(name);
    const own = runExample(s, drivers, s.seed);
    assert.equal(own.r.verdict, 'ok', `${name} seed ${s.seed}: ${own.r.bugCheck?.message}`);
    assert.deepEqual(checkExpectations(s, own.r, own.w.summary())?.problems ?? [], [], name);
    const bad = runExample(s, drivers, failing);
    const missed = checkExpectations(s, bad.r, bad.w.summary())?.problems ?? [];
    assert.ok(bad.r.verdict !== 'ok' || missed.length > 0, `${name} seed ${failing} should fail`);
    const f = scenario(name, 'dpc-races-fixed');
    const fixed = runExample(f, drivers, failing);
    assert.equal(
      fixed.r.verdict,
      'ok',
      `dpc-races-fixed on ${name} seed ${failing}: ${fixed.r.bugCheck?.message}`,
    );
    assert.deepEqual(checkExpectations(f, fixed.r, fixed.w.summary())?.problems ?? [], [], name);
  }
});

test('R3.10 NdisMPauseComplete from a DPC while MiniportPause sleeps, then SUCCESS: the report names the DPC, its CPU and time, not MiniportPause', () => {
  const { w, r } = runExample(scenario('pausetx-race'), drivers, 2, true);
  assert.equal(r.verdict, 'bugcheck');
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_PauseCompleteUnexpected', 'MiniportPause', 'nic0']],
  );
  const msg = r.bugCheck!.message;
  // The completion the trace shows: the DPC's, inside the sleep.
  const ev = w.trace.events;
  const done = ev.findLast((e) => e.what === 'NdisMPauseComplete');
  assert.ok(done !== undefined, 'the DPC called NdisMPauseComplete');
  const fmt = fmtTime(done.t);
  assert.ok(
    msg.includes(`NdisMPauseComplete came from MiniportInterruptDPC on CPU ${done.cpu} at ${fmt}`),
    `the message names the DPC, its CPU and its time: ${msg}`,
  );
  assert.doesNotMatch(msg, /MiniportPause called NdisMPauseComplete/, 'MiniportPause did not make the call');
  assert.ok(
    w.pending().includes('nic0: pause pending (NdisMPauseComplete called before MiniportPause returned)'),
    `under way: ${w.pending().join('; ')}`,
  );
});
