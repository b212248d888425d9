// The HTML report of a scenario file's own run (its seed, its `until`), as `ndis-sim run
// --html` writes it, for tests of the report's wording and marks.

import { driverNames } from '../../src/drivers/index.ts';
import { toHtmlReport } from '../../src/report/html.ts';
import { buildWorld, untilNs } from '../../src/scenario/build.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import type { RunResult, World } from '../../src/world.ts';

export function scenarioHtml(file: string): { html: string; result: RunResult } {
  const s = loadScenario(file, driverNames());
  const w = buildWorld(s, { seed: s.seed });
  const result = w.run(untilNs(s));
  const html = toHtmlReport({
    scenario: s,
    seed: s.seed,
    events: w.trace.events,
    dropped: w.trace.dropped,
    result,
    summary: w.summary(),
    expectation: null,
    version: '0.0.0-test',
  });
  return { html, result };
}

/** The HTML report of `w`'s run `r` (seed 1, nothing dropped), the scenario named `name`. */
export function worldHtml(w: World, r: RunResult, name: string, summary = w.summary()): string {
  return toHtmlReport({
    scenario: { name },
    seed: 1,
    events: w.trace.events,
    dropped: 0,
    result: r,
    summary,
    expectation: null,
    version: '0.0.0-test',
  });
}
