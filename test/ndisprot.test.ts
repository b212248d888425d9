// ndisprot-lite (examples/ndisprot-lite.ts), an ndisprot-style protocol driver: its own
// control device (IoCreateDevice), writes sent over the write IRP's MDL and completed
// in ProtocolSendNetBufferListsComplete, reads pended in a queue and filled by
// ProtocolReceiveNetBufferLists, the reads failed at the unbind that
// NdisMRemoveMiniport sets off. The reference driver runs clean; each mistake switched
// on (ndisprotLiteWith) is caught by the rule that fits, or is shown to pass.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ndisprotLite } from '../examples/ndisprot-lite.ts';
import { driverNames } from '../src/drivers/index.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import type { DriverModule } from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';

const yaml = 'examples/ndisprot-lite.yaml';

/** The example scenario with `driver` as its protocol driver. */
function scenario(driver: DriverModule) {
  const s = loadScenario(yaml, driverNames([ndisprotLite, driver]));
  for (const p of s.protocolDrivers) p.driver = driver.name;
  for (const a of s.actions) if (a.do === 'stop-protocol') a.driver = driver.name;
  return s;
}

function run(driver: DriverModule, seed = 1, trace = false) {
  const s = scenario(driver);
  const w = buildWorld(s, { seed, trace, drivers: [ndisprotLite, driver] });
  return { s, w, r: w.run(untilNs(s)) };
}

test('ndisprot-lite: binds, writes over its MDL, reads, and at NdisMRemoveMiniport its pending reads fail at the unbind; clean under 100 explored seeds', () => {
  const { w, r } = run(ndisprotLite);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(r.pending, []);
  const results = w.ioResults.map((x) => `${x.request} ${x.statusName}`);
  assert.ok(results.includes('WriteFile STATUS_SUCCESS'));
  assert.ok(results.includes('ReadFile STATUS_SUCCESS'));
  // The reads pending when nic0 went were failed by the unbind; later ones find no binding.
  assert.ok(results.includes('ReadFile STATUS_CANCELLED'));
  assert.ok(results.includes('ReadFile STATUS_INVALID_HANDLE'));
  const s = scenario(ndisprotLite);
  const ex = exploreSeeds(
    { scenario: s, drivers: [ndisprotLite], untilNs: untilNs(s), verifier: s.verifier },
    1,
    100,
  );
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
});
