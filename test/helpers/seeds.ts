// The examples' scenarios with one driver or another, their runs, and the seeds of a
// range whose runs fail, found the way `ndis-sim explore` finds them.

import assert from 'node:assert/strict';
import { driverNames } from '../../src/drivers/index.ts';
import { exploreSeeds } from '../../src/explore/explore.ts';
import type { DriverModule } from '../../src/ndis/driver.ts';
import { buildWorld, untilNs } from '../../src/scenario/build.ts';
import { loadScenario } from '../../src/scenario/load.ts';
import type { Scenario } from '../../src/scenario/schema.ts';

/** Scenario `file` with every device given to `driver` (one of `drivers`, the module's). */
export function exampleScenario(file: string, drivers: readonly DriverModule[], driver: string): Scenario {
  const s = loadScenario(file, driverNames(drivers));
  for (const d of s.devices) d.driver = driver;
  return s;
}

/** One run of `s` with `seed`, to the scenario's end. */
export function runExample(s: Scenario, drivers: readonly DriverModule[], seed: number, trace = false) {
  const w = buildWorld(s, { seed, trace, drivers });
  return { w, r: w.run(untilNs(s)) };
}

/**
 * Seeds 1..`runs` of `s` whose run fails; asserts every one fails with the bug check of
 * `rule` (one failure group), and that the count lies in `band` (an example needs a few
 * failing seeds, not all).
 */
export function failingSeeds(
  s: Scenario,
  drivers: readonly DriverModule[],
  runs: number,
  rule: string,
  band: readonly [number, number],
): number[] {
  const r = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, runs);
  assert.deepEqual(
    r.groups.map((g) => g.signature),
    [`bugcheck ${rule}`],
    r.groups.map((g) => `${g.signature}: seeds ${g.seeds.slice(0, 5).join(', ')}`).join('; '),
  );
  const seeds = r.groups[0]!.seeds;
  assert.ok(
    seeds.length >= band[0] && seeds.length <= band[1],
    `${seeds.length} of ${runs} seeds fail (${seeds.slice(0, 20).join(', ')}): expected ${band[0]} to ${band[1]}`,
  );
  return seeds;
}
