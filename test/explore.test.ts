// The explorer (DESIGN.md "explore/"): seeds run, failures grouped, the first of each
// group shrunk over its decisions, and the replay file that gives the run back.
// The driver under test is wrong in one way only some schedules show: its
// MiniportResetEx calls NdisMSleep, which needs PASSIVE, and NDIS calls MiniportResetEx
// at PASSIVE or DISPATCH (R8.1; the world draws which, per call, through the choice
// door: callbackIrql `explore`).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { InputError } from '../src/errors.ts';
import {
  deviationHorizon,
  explore,
  exploreSeeds,
  GuidedStrategy,
  judge,
  mergeReports,
  nonDefault,
  runOnce,
  shrink,
  trimDecisions,
} from '../src/explore/explore.ts';
import { slices } from '../src/explore/pool.ts';
import {
  formatReplayFile,
  fromDecisionRows,
  parseReplayFile,
  type ReplayFile,
  toDecisionRows,
  traceDigest,
} from '../src/explore/replay-file.ts';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, NdisMSleep } from '../src/index.ts';
import { checkExpectations, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import {
  ChoiceSite,
  choiceSiteNames,
  DeviationStrategy,
  FixedStrategy,
  RandomStrategy,
} from '../src/sim/choice.ts';
import type { RunResult } from '../src/world.ts';
import { scriptedDriver } from './helpers/scripted.ts';

const sleepsInReset = scriptedDriver('sleeps-in-reset', {
  registrationAttributes: { CheckForHangTimeInSeconds: 1 },
  checkForHang: () => true,
  reset: () => {
    NdisMSleep(10);
    return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
  },
});

const scenarioText = `
name: sleeps in reset
until: 6s
protocols: [{ name: tcpip }]
devices:
  - { name: nic0, driver: sleeps-in-reset }
`;

function setupOf(text = scenarioText) {
  const drivers = [sleepsInReset];
  const scenario = parseScenarioText(text, 'explore.test.yaml', driverNames(drivers));
  return { scenario, drivers, untilNs: untilNs(scenario), verifier: 'bugcheck' as const };
}

test('explore: a seed runs as `run --seed` runs it; the failing seeds are those whose run breaks a rule (R8.1)', () => {
  const setup = setupOf();
  const report = explore(setup, { firstSeed: 1, runs: 40, shrinkRuns: 0 });
  assert.equal(report.runs, 40);
  assert.equal(report.passed + report.failed, 40);
  // Five resets a run, each at PASSIVE or DISPATCH: nearly every seed has one at DISPATCH.
  assert.ok(report.failed > 0 && report.passed > 0, `passed ${report.passed}, failed ${report.failed}`);
  assert.equal(report.groups.length, 1);
  const g = report.groups[0]!;
  assert.match(g.signature, /^bugcheck Irql_/);
  assert.match(g.first.detail, /NdisMSleep/);
  assert.equal(g.seeds.length, report.failed);
  for (let seed = 1; seed <= 40; seed++) {
    const { outcome } = runOnce(setup, seed, { trace: true });
    assert.equal(outcome.kind === 'fail', g.seeds.includes(seed), `seed ${seed}`);
  }
});

test('explore: the same seeds give the same report, shrunk decisions included (determinism)', () => {
  const a = explore(setupOf(), { firstSeed: 5, runs: 12, shrinkRuns: 300 });
  const b = explore(setupOf(), { firstSeed: 5, runs: 12, shrinkRuns: 300 });
  assert.deepEqual(a, b);
  assert.ok(a.groups.length > 0 && a.groups[0]!.shrunk !== null);
});

test('mergeReports: slices of seeds merge into the report one run over all of them gives (the pool relies on it)', () => {
  const setup = setupOf();
  const whole = exploreSeeds(setup, 3, 37);
  for (const jobs of [2, 3, 7]) {
    const parts = slices(3, 37, jobs).map((sl) => exploreSeeds(setup, sl.firstSeed, sl.runs));
    assert.equal(parts.length, jobs);
    assert.deepEqual(mergeReports(parts), whole, `${jobs} slices`);
  }
  assert.deepEqual(slices(10, 5, 3), [
    { firstSeed: 10, runs: 2 },
    { firstSeed: 12, runs: 2 },
    { firstSeed: 14, runs: 1 },
  ]);
  assert.equal(slices(1, 2, 8).length, 2);
});

test('shrink: the failure needs one choice, MiniportResetEx at DISPATCH, and shrinking keeps only that one', () => {
  const setup = setupOf();
  const report = explore(setup, { firstSeed: 1, runs: 40, shrinkRuns: 0 });
  const seed = report.groups[0]!.seeds.find((s) => {
    const log = runOnce(setup, s, { record: true }).world.decisions();
    return nonDefault(log) > 5; // a seed with more than the one choice the failure needs
  });
  assert.ok(seed !== undefined, 'no failing seed with several choices not 0');
  const s = shrink(setup, seed, 2000);
  assert.equal(s.budgetSpent, false);
  assert.ok(s.from.nonDefault > 5, `from ${s.from.nonDefault}`);
  assert.equal(nonDefault(s.decisions), 1, JSON.stringify(s.decisions));
  const last = s.decisions.at(-1)!;
  assert.deepEqual([last.site, last.count, last.pick], [ChoiceSite.CallbackIrql, 2, 1]);
  assert.equal(s.outcome.signature, report.groups[0]!.signature);
  // Every answer before it is 0: the first reset of the simplest schedule, at DISPATCH.
  assert.ok(s.decisions.slice(0, -1).every((d) => d.pick === 0));
  // Without that one answer the simplest schedule passes.
  assert.equal(runOnce(setup, seed, { strategy: new FixedStrategy([]) }).outcome.kind, 'pass');
});

test('shrink: a seed that passes is refused, not shrunk to something else', () => {
  const setup = setupOf();
  const report = explore(setup, { firstSeed: 1, runs: 40, shrinkRuns: 0 });
  const passing = [...Array(40).keys()].map((i) => i + 1).find((s) => !report.groups[0]!.seeds.includes(s));
  assert.ok(passing !== undefined);
  assert.throws(() => shrink(setup, passing, 100), /does not fail/);
});

test('FixedStrategy: answers in order, cut to the count, then 0', () => {
  const f = new FixedStrategy([3, 1, 7]);
  assert.deepEqual(
    [
      f.pick(ChoiceSite.Ready, 4),
      f.pick(ChoiceSite.Cpu, 2),
      f.pick(ChoiceSite.DpcLatency, 4),
      f.pick(ChoiceSite.Ready, 3),
    ],
    [3, 1, 3, 0],
  );
});

test('GuidedStrategy: a question takes the next logged answer for the same question, skipping others; unknown ones get 0', () => {
  const g = new GuidedStrategy([
    { site: ChoiceSite.Ready, count: 2, pick: 1 },
    { site: ChoiceSite.Cpu, count: 2, pick: 1 },
    { site: ChoiceSite.DpcLatency, count: 4, pick: 3 },
  ]);
  // A DPC latency asked before the CPU: the CPU's answer is skipped, not given to it.
  assert.deepEqual(
    [
      g.pick(ChoiceSite.Ready, 2, 0),
      g.pick(ChoiceSite.WorkerLatency, 8, 0),
      g.pick(ChoiceSite.DpcLatency, 4, 0),
      g.pick(ChoiceSite.Cpu, 2, 0),
    ],
    [1, 0, 3, 0],
  );
});

test('judge: with expect:, a run fails by the expectations it misses, named by field', () => {
  const setup = setupOf(`${scenarioText}
expect:
  adapters:
    nic0: { resets: 99 }
`);
  const r = runOnce(setup, 1, { strategy: new FixedStrategy([]) });
  assert.equal(r.outcome.kind, 'fail');
  assert.equal(r.outcome.signature, 'expect adapters.nic0.resets<99');
  assert.match(r.outcome.detail, /adapters\.nic0\.resets: expected 99, got \d+/);
  // The same run against the scenario without expect: passes.
  assert.equal(judge(setupOf(), r.result, r.world).kind, 'pass');
});

test('judge: a count missed says which way, and `settled` names what is under way without the asides in brackets', () => {
  // MiniportPause pends and is never completed: the disable waits at its pause step.
  const pauseHangs = scriptedDriver('pause-hangs', { pause: () => NDIS_STATUS_PENDING });
  const text = `until: 300ms
protocols: [{ name: tcpip }]
devices:
  - { name: nic0, driver: pause-hangs }
actions:
  - { at: 100ms, do: disable, device: nic0 }
expect:
  dumps: 1
`;
  const drivers = [pauseHangs];
  const scenario = parseScenarioText(text, 'settled.test.yaml', driverNames(drivers));
  const setup = { scenario, drivers, untilNs: untilNs(scenario), verifier: 'bugcheck' as const };
  const r = runOnce(setup, 1);
  assert.equal(r.outcome.kind, 'fail');
  const [dumps, settled] = r.outcome.signature.replace(/^expect /, '').split(', ');
  assert.equal(dumps, 'dumps<1');
  assert.match(settled!, /^settled=.*nic0: pause pending/);
  assert.doesNotMatch(settled!, /\(/);
  // The asides stay in the words for people.
  assert.match(r.outcome.detail, /nic0: pause pending \(NdisMPauseComplete not called\)/);
});

test('replay file: written, read back, and its decisions give the same trace, byte for byte', () => {
  const setup = setupOf();
  const seed = explore(setup, { firstSeed: 1, runs: 20, shrinkRuns: 0 }).groups[0]!.seeds[0]!;
  const full = runOnce(setup, seed, { record: true, trace: true });
  const decisions = trimDecisions(full.world.decisions());
  const file: ReplayFile = {
    format: 'ndis-sim replay 1',
    ndisSim: '0.0.0-test',
    scenario: { file: 'explore.test.yaml', text: scenarioText },
    drivers: [],
    seed,
    untilNs: setup.untilNs,
    verifier: 'bugcheck',
    failure: { signature: full.outcome.signature, detail: full.outcome.detail },
    shrunk: false,
    trace: traceDigest(full.world.trace.events),
    decisions: toDecisionRows(decisions),
  };
  const back = parseReplayFile(formatReplayFile(file), 'x.replay.json');
  assert.deepEqual(back, file);
  // Another seed's strategy after the decisions: they cover the run, so it is never asked.
  const again = runOnce(setup, seed + 1000, {
    replay: fromDecisionRows(back.decisions),
    strategy: new RandomStrategy(seed + 1000),
    trace: true,
  });
  assert.deepEqual(traceDigest(again.world.trace.events), file.trace);
  // A different answer gives a different trace: the digest is of this run only.
  const changed = decisions.map((d, i) => (i === 0 ? { ...d, pick: (d.pick + 1) % d.count } : d));
  const other = runOnce(setup, seed, { replay: changed, strategy: new FixedStrategy([]), trace: true });
  assert.notEqual(traceDigest(other.world.trace.events).sha256, file.trace.sha256);
});

test('replay file: bad input is one line per problem, naming file and field', () => {
  const good: ReplayFile = {
    format: 'ndis-sim replay 1',
    ndisSim: '0.1.0',
    scenario: { file: 's.yaml', text: 'until: 1s' },
    drivers: [],
    seed: 1,
    untilNs: 1,
    verifier: 'bugcheck',
    failure: null,
    shrunk: false,
    trace: { events: 0, sha256: '0'.repeat(64) },
    decisions: [[0, 2, 1]],
  };
  const problems = (text: string): string[] => {
    try {
      parseReplayFile(text, 'r.json');
    } catch (e) {
      assert.ok(e instanceof InputError, String(e));
      return e.problems;
    }
    assert.fail('no InputError');
  };
  assert.match(problems('{ not json')[0]!, /^r\.json: expected a replay file \(JSON\)/);
  assert.deepEqual(problems(JSON.stringify({ ...good, format: 'other' })), [
    'r.json: format: expected "ndis-sim replay 1" (a file ndis-sim explore wrote), got "other"',
  ]);
  assert.deepEqual(problems(JSON.stringify({ ...good, decisions: [[0, 2, 2]] })), [
    'r.json: decisions[0]: expected a decision [site, count, answer] whose answer is below its count, got [0,2,2]',
  ]);
  // A decision entry that is not one: what an entry is, in the file's terms, and which
  // entry, not zod's "expected at least 3 item(s)" or "expected tuple".
  const entry = (n: number, got: string) =>
    `r.json: decisions[${n}]: expected a decision [site, count, answer]: three whole numbers, the choice site (0 to ${choiceSiteNames.length - 1}), the number of options it had (at least 2) and the option taken (from 0 to below the count), got ${got}`;
  const rows = [
    [0, 2, 1],
    [0, 2, 1],
    [0, 2, 1],
    [0, 2, 1],
  ];
  assert.deepEqual(problems(JSON.stringify({ ...good, decisions: [...rows, [1, 2]] })), [entry(4, '[1,2]')]);
  assert.deepEqual(
    problems(JSON.stringify({ ...good, decisions: [[0, 2, 1, 4], { site: 1 }, 5, [0, '2', 1]] })),
    [entry(0, '[0,2,1,4]'), entry(1, 'a mapping'), entry(2, '5'), entry(3, '[0,"2",1]')],
  );
  assert.deepEqual(
    problems(
      JSON.stringify({
        ...good,
        decisions: [
          [99, 2, 0],
          [0, 1, 0],
        ],
      }),
    ),
    [
      `r.json: decisions[0]: expected a decision [site, count, answer] whose site is a choice site from 0 to ${choiceSiteNames.length - 1}, got [99,2,0]`,
      'r.json: decisions[1]: expected a decision [site, count, answer] whose count (options the choice had) is from 2 to 4294967295, got [0,1,0]',
    ],
  );
  assert.deepEqual(problems(JSON.stringify({ ...good, trace: { events: 0, sha256: 'abc' } })), [
    'r.json: trace.sha256: expected a SHA-256 digest (64 lowercase hex digits), got "abc"',
  ]);
  assert.deepEqual(problems(JSON.stringify({ ...good, seed: 'one', verifier: 'loud' })), [
    'r.json: seed: expected a whole number from 0 to 4294967295, got "one"',
    'r.json: verifier: expected one of bugcheck, collect, got "loud"',
  ]);
});

test('DeviationStrategy: the simplest answer everywhere but at `depth` of the first `horizon` decisions, which the seed draws', () => {
  const answers = (seed: number, depth: number) => {
    const d = new DeviationStrategy(seed, depth, 30);
    return Array.from({ length: 40 }, () => d.pick(ChoiceSite.Ready, 4));
  };
  for (const depth of [1, 2, 3]) {
    const a = answers(7, depth);
    assert.equal(a.filter((x) => x !== 0).length, depth, a.join(','));
    assert.ok(a.slice(30).every((x) => x === 0));
    assert.deepEqual(answers(7, depth), a);
  }
  const places = new Set(Array.from({ length: 20 }, (_, s) => answers(s, 1).findIndex((x) => x !== 0)));
  assert.ok(places.size > 8, `places drawn: ${[...places].join(', ')}`);
  // A horizon smaller than the depth: every decision of it deviates.
  const all = new DeviationStrategy(1, 5, 2);
  assert.deepEqual(
    [all.pick(ChoiceSite.Cpu, 2), all.pick(ChoiceSite.Cpu, 2), all.pick(ChoiceSite.Cpu, 2)],
    [1, 1, 0],
  );
});

test('explore with deviations: one deviation finds the IRQL failure; its seeds fail under the same strategy alone, and shrink to that one choice', () => {
  const plain = setupOf();
  const horizon = deviationHorizon(plain);
  assert.ok(horizon > 10, `horizon ${horizon}`);
  const setup = { ...plain, strategy: { kind: 'deviations', depth: 1, horizon } as const };
  const report = explore(setup, { firstSeed: 1, runs: 80, shrinkRuns: 200 });
  const g = report.groups[0];
  assert.ok(g !== undefined && report.groups.length === 1, 'one failure group');
  // A few seeds, not most: one deviation must land on a reset's IRQL.
  assert.ok(report.failed > 0 && report.failed < 40, `${report.failed} of 80 failed`);
  for (const seed of g.seeds) {
    const r = runOnce(setup, seed, { record: true });
    assert.equal(r.outcome.kind, 'fail');
    assert.equal(nonDefault(r.world.decisions()), 1);
  }
  assert.equal(nonDefault(g.shrunk!.decisions), 1);
  assert.equal(g.shrunk!.decisions.at(-1)!.site, ChoiceSite.CallbackIrql);
});

test("replay files are laid out as the repository's formatter lays out JSON: biome format leaves each one as written, whatever the number of decisions and drivers", () => {
  const base: ReplayFile = {
    format: 'ndis-sim replay 1',
    ndisSim: '0.0.0-test',
    scenario: {
      file: 'a.yaml',
      text: 'name: "quoted" – ünïcode\ndevices:\n  - { name: nic0, driver: healthy-nic }\n',
    },
    drivers: [],
    seed: 7,
    untilNs: 10_000_000_000,
    verifier: 'bugcheck',
    failure: null,
    shrunk: true,
    trace: { events: 12, sha256: 'a'.repeat(64) },
    decisions: [],
  };
  const rows = (k: number): [number, number, number][] =>
    Array.from({ length: k }, (_, i) => [i % 9, 2 + (i % 7), i % 2] as [number, number, number]);
  const cases: ReplayFile[] = [base];
  // Around the line width: the decisions fit on their line, then no longer do.
  for (let k = 1; k <= 12; k++) cases.push({ ...base, decisions: rows(k) });
  cases.push({ ...base, decisions: rows(3000), failure: { signature: 'X', detail: 'why' } });
  for (let k = 1; k <= 4; k++)
    cases.push({
      ...base,
      drivers: Array.from({ length: k }, (_, i) => `drivers/a-long-driver-module-${i}.ts`),
    });
  for (const [i, file] of cases.entries()) {
    const text = formatReplayFile(file);
    assert.deepEqual(parseReplayFile(text, 'x.replay.json'), file);
    const biome = spawnSync('node_modules/.bin/biome', ['format', '--stdin-file-path=x.replay.json'], {
      input: text,
      encoding: 'utf8',
    });
    assert.equal(biome.status, 0, biome.stderr);
    assert.equal(text, biome.stdout, `case ${i}`);
  }
});

test('expect settled: the signature counts as N what the run had under way, so runs that differ only in how many sends wait are one failure (hunt)', () => {
  const scenario = parseScenarioText(
    'until: 1s\ndevices: [{ name: vm0, driver: vmini, hardware: none }]\nexpect: { settled: true }\n',
    'n.yaml',
    driverNames(),
  );
  const sig = (n: number) =>
    checkExpectations(
      scenario,
      {
        verdict: 'ok',
        violations: [],
        unsettled: [
          `vm0: teardown waiting at step pause-protocols: protocol tcpip's pause waits for ${n} send(s) to complete (${n} with the miniport)`,
        ],
      } as unknown as RunResult,
      { adapters: [], devices: [], dumps: [] },
    )!.signatures;
  assert.deepEqual(sig(116), [
    "settled=vm0: teardown waiting at step pause-protocols: protocol tcpip's pause waits for N send(s) to complete",
  ]);
  assert.deepEqual(sig(480), sig(116));
});
