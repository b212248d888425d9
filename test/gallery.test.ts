// The verifier's gallery: every enforced rule has a driver that breaks it the way
// a real driver does; each one triggers its own rule, with the documented bug check,
// and no other before it. The reference drivers break none.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { gallery, galleryScenario, galleryYaml } from '../src/drivers/buggy/index.ts';
import { driverNames } from '../src/drivers/index.ts';
import { ddiIrql } from '../src/ndis/generated/irql.ts';
import { buildWorld, checkExpectations, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { catalogue } from '../src/verifier/catalogue.ts';
import { ownIrqlBugCheck } from '../src/verifier/verifier.ts';

const enforced = [...catalogue.values()].filter((r) => r.status.kind === 'enforced').map((r) => r.id);

test('every enforced rule has a gallery driver and scenario', () => {
  const covered = new Set(gallery.map((g) => g.rule));
  const missing = enforced.filter((id) => !covered.has(id));
  assert.deepEqual(missing, [], `rules without a gallery driver: ${missing.join(', ')}`);
  for (const g of gallery) {
    assert.ok(
      catalogue.get(g.rule)?.status.kind === 'enforced',
      `${g.driver.name}: ${g.rule} is not an enforced rule`,
    );
    assert.ok(existsSync(galleryScenario(g.rule)), `${galleryScenario(g.rule)} is missing`);
  }
  for (const g of gallery) {
    assert.equal(
      readFileSync(galleryScenario(g.rule), 'utf8'),
      galleryYaml(g),
      `${galleryScenario(g.rule)} is out of date: npm run gen:gallery`,
    );
  }
  assert.equal(
    new Set(gallery.map((g) => g.driver.name)).size,
    gallery.length,
    'gallery driver names are unique',
  );
});

for (const g of gallery) {
  test(`gallery ${g.rule}: ${g.driver.name} stops the machine with its own rule and bug check`, () => {
    const s = loadScenario(galleryScenario(g.rule), driverNames());
    const rule = catalogue.get(g.rule)!;
    for (const seed of [s.seed, s.seed + 1, s.seed + 2]) {
      const w = buildWorld(s, { seed, verifier: 'bugcheck' });
      const r = w.run(untilNs(s));
      assert.equal(r.verdict, 'bugcheck', `seed ${seed}: ${r.verdict} ${r.message ?? ''}`);
      const v = r.bugCheck!;
      assert.equal(v.rule, g.rule, `seed ${seed}: stopped by ${v.rule}: ${v.message}`);
      assert.equal(r.violations.length, 1);
      // The bug check the catalogue documents, or Driver Verifier's own for a spin lock
      // call at the wrong IRQL; for an IRQL rule 0xD1 also names the IRQL.
      const doc = ddiIrql[v.ddi];
      const wrongIrql = doc !== undefined && (doc.exact ? v.irql !== doc.max : v.irql > doc.max);
      const want = (wrongIrql ? ownIrqlBugCheck(v.ddi, v.irql < doc.max) : null) ?? rule.bugCheck;
      assert.ok(want !== null);
      assert.equal(v.bugCheck.code, want.code);
      if (want.p1 !== null) assert.equal(v.bugCheck.params[0], want.p1);
      if (want.p2 != null) assert.equal(v.bugCheck.params[1], want.p2);
      if (v.bugCheck.code === 0xd1) assert.equal(v.bugCheck.params[1], v.irql);
      assert.equal(v.bugCheck.params.length, 4);
      // The bug check names the adapter (none exists yet when DriverEntry fails).
      assert.equal(
        v.adapter,
        g.rule === 'NdisSim_DriverEntryLeak' || g.noAdapter === true ? null : (g.adapter ?? 'nic0'),
        'the adapter',
      );
      assert.ok(checkExpectations(s, r, w.summary())?.met, 'the scenario expects it');
    }
    // In collect mode the same rule comes first, and nothing but its declared follow-ons after it.
    const w = buildWorld(s, { verifier: 'collect' });
    const r = w.run(untilNs(s));
    assert.ok(r.violations.length >= 1);
    assert.equal(r.violations[0]!.rule, g.rule);
    const allowed = new Set([g.rule, ...(g.followOn ?? [])]);
    for (const v of r.violations)
      assert.ok(allowed.has(v.rule), `collect mode also reported ${v.rule}: ${v.message}`);
    // With the verifier off the model still runs the driver (no internal error); only
    // what stops Windows without a verifier (an exception, a watchdog, a freed object) stops it.
    const off = buildWorld(s, { verifier: 'off' }).run(untilNs(s));
    for (const v of off.violations) assert.equal(v.rule, g.rule, `verifier off: ${v.message}`);
    assert.ok(
      off.verdict === 'ok' || off.verdict === 'bugcheck',
      `verifier off: ${off.verdict} ${off.message ?? ''}`,
    );
  });
}
