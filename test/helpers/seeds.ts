// The seeds of a range whose runs fail, found the way `ndis-sim explore` finds them.

import assert from 'node:assert/strict';
import { exploreSeeds } from '../../src/explore/explore.ts';
import type { DriverModule } from '../../src/ndis/driver.ts';
import { untilNs } from '../../src/scenario/build.ts';
import type { Scenario } from '../../src/scenario/schema.ts';

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
