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
import type { TraceEvent } from '../src/trace/trace.ts';

const storm = loadScenario('examples/reset-storm.yaml', driverNames());

function run(seed: number): TraceEvent[] {
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
