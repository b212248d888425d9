// `ndis-sim drivers` and `ndis-sim oids`: the listings a new user reads to write a scenario.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { gallery, galleryScenario } from '../src/drivers/buggy/index.ts';
import { builtinDrivers } from '../src/drivers/index.ts';
import { cli } from './helpers/cli.ts';

test('drivers lists the reference drivers, then the gallery with the rule each breaks, then --driver modules, each under a heading', () => {
  const r = cli('drivers', '--driver', 'examples/own-driver.ts');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const ref = lines.indexOf('Reference drivers:');
  const gal = lines.findIndex((l) => l.startsWith('The gallery: each breaks the rule in brackets'));
  const own = lines.indexOf('From --driver modules:');
  assert.ok(ref === 0 && ref < gal && gal < own, r.stdout);
  const names = (from: number, to: number): string[] =>
    lines
      .slice(from + 1, to)
      .filter((l) => l !== '')
      .map((l) => l.split(' ')[0]!);
  // A gallery entry's own miniport (wol-nic) is listed after its driver, not as a reference driver.
  const galleryDrivers = gallery.flatMap((g) =>
    g.miniport === undefined ? [g.driver] : [g.driver, g.miniport],
  );
  const inGallery = new Set(galleryDrivers);
  assert.deepEqual(
    names(ref, gal),
    builtinDrivers.filter((d) => !inGallery.has(d)).map((d) => d.name),
  );
  assert.deepEqual(
    names(gal, own),
    galleryDrivers.map((d) => d.name),
  );
  for (const g of gallery)
    if (g.miniport !== undefined)
      assert.ok(
        lines.find((x) => x.startsWith(`${g.miniport!.name} `))!.endsWith(` (under ${g.driver.name})`),
        g.miniport.name,
      );
  assert.deepEqual(names(own, lines.length), ['slow-pause-nic']);
  // Each gallery line ends with its rule, whose scenario the heading points to.
  for (const g of gallery) {
    const l = lines.find((x) => x.startsWith(`${g.driver.name} `))!;
    assert.ok(l.endsWith(` (${g.rule})`), l);
    assert.ok(existsSync(galleryScenario(g.rule)), g.rule);
  }
  // Without --driver, no third heading.
  assert.ok(!cli('drivers').stdout.includes('From --driver modules:'));
});
