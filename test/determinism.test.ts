// DESIGN.md "The world and its clock": same scenario and seed ⇒ byte-identical
// trace; different seeds explore different interleavings.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { toJsonLines } from '../src/report/jsonl.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import type { Decision } from '../src/sim/choice.ts';
import type { TraceEvent } from '../src/trace/trace.ts';

const storm = loadScenario('examples/reset-storm.yaml', driverNames());

function run(seed: number): readonly TraceEvent[] {
  const w = buildWorld(storm, { seed });
  w.run(untilNs(storm));
  return w.trace.events;
}

/** The order in which things happened, without times or CPUs. */
function interleaving(events: readonly TraceEvent[]): string {
  return createHash('sha256')
    .update(events.map((e) => `${e.actor}|${e.kind}|${e.what}`).join('\n'))
    .digest('hex');
}

test('the same scenario and seed give byte-identical --trace files (CLI, twice)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-'));
  const files = [join(dir, 'a.jsonl'), join(dir, 'b.jsonl')];
  for (const f of files) {
    const r = spawnSync(
      process.execPath,
      ['bin/ndis-sim.js', 'run', 'examples/reset-storm.yaml', '--seed', '7', '--quiet', '--trace', f],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
  }
  const [a, b] = files.map((f) => readFileSync(f));
  assert.ok(a!.length > 1000, 'the trace has content');
  assert.ok(a!.equals(b!), 'trace files differ');
});

test('the same seed twice in one process gives the same trace (API)', () => {
  for (const seed of [1, 2, 3]) assert.equal(toJsonLines(run(seed)), toJsonLines(run(seed)));
});

test('different seeds give different traces', () => {
  assert.notEqual(toJsonLines(run(1)), toJsonLines(run(2)));
});

test('across seeds 1–50 the reset storm shows more than one interleaving', () => {
  const seen = new Map<string, number[]>();
  for (let seed = 1; seed <= 50; seed++) {
    const k = interleaving(run(seed));
    seen.set(k, [...(seen.get(k) ?? []), seed]);
  }
  assert.ok(seen.size > 1, `only one interleaving across 50 seeds`);
});

// The log grows past its first 256 entries in the vmini run (thousands of decisions).
for (const file of ['examples/reset-storm.yaml', 'examples/vmini-traffic.yaml']) {
  test(`the decision log replays a run: seed 6 told the decisions of seed 5 runs as seed 5 (${file})`, () => {
    const s = loadScenario(file, driverNames());
    const traceOf = (seed: number, replay?: Decision[]): { log: Decision[]; trace: string } => {
      const w = buildWorld(s, { seed, ...(replay === undefined ? {} : { replay }) });
      w.run(untilNs(s));
      const log = w.machine.chooser.decisions();
      // Every choice of the run is in the log, each a real choice with a pick in range.
      assert.equal(log.length, w.machine.chooser.length);
      for (const d of log) assert.ok(d.count > 1 && d.pick >= 0 && d.pick < d.count, JSON.stringify(d));
      return { log, trace: toJsonLines(w.trace.events) };
    };
    const five = traceOf(5);
    assert.ok(five.log.length > 100, `only ${five.log.length} decisions`);
    assert.equal(traceOf(6, five.log).trace, five.trace);
    assert.notEqual(traceOf(6).trace, five.trace, 'seed 6 on its own runs differently');
  });
}
