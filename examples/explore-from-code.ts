// Exploring from a test of your own: run it with `node --import tsx --test examples/explore-from-code.ts`.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exploreScenario } from 'ndis-sim/scenario';

test('timer-race survives 300 schedules', async (t) => {
  // A replay file for each kind of failure, in a new directory under the system's
  // temporary one: nothing is written to your working directory.
  const out = mkdtempSync(join(tmpdir(), 'ndis-sim-explored-'));
  t.diagnostic(`replay files go to ${out}`);
  const r = await exploreScenario('examples/timer-race.yaml', {
    driverFiles: ['examples/timer-race.ts'], // or drivers: [timerRace], imported
    runs: 300, // seeds 1..300
    out,
  });
  // On a failure the message is the report `ndis-sim explore` prints: the seeds, the
  // shrunk choices, and `ndis-sim replay <out>/timer-race.seed20.replay.json`.
  assert.equal(r.failed, 0, r.text);
});
