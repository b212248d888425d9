// The docs against the code: the README's scenario reference names every field the
// schema takes, and the defaults it gives for the `ndis:` options are the ones
// defaultNdisOptions has. (A field added to the schema without a line in the README,
// or a default changed in one place only, fails here.)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { z } from 'zod';
import { defaultNdisOptions } from '../src/ndis/ndis.ts';
import {
  actionKinds,
  actionSchema,
  expectSchema,
  faultsSchema,
  injectKinds,
  injectSchema,
  protocolSchema,
  scenarioSchemaFor,
} from '../src/scenario/schema.ts';
import { trafficDefaults } from '../src/stack/protocol.ts';

const readme = readFileSync('README.md', 'utf8');

/** The README's scenario table, by the text of each row's first cell. */
const rows = new Map<string, string>();
for (const line of readme.split('\n')) {
  const m = /^\| (`?[^|`]+`?) \| (.*) \|$/.exec(line);
  if (m !== null) rows.set(m[1]!.replaceAll('`', ''), m[2]!);
}

/** The object schema inside optional, default, array, record and refine wrappers. */
// biome-ignore lint/suspicious/noExplicitAny: walking zod's internals
function objectOf(t: any): Record<string, z.ZodType> {
  for (let i = 0; i < 8 && t !== undefined; i++) {
    if (t.shape !== undefined) return t.shape;
    t = t.def?.innerType ?? t.def?.element ?? t.def?.valueType ?? t.def?.in;
  }
  throw new Error('no object schema inside');
}

function row(name: string): string {
  const r = rows.get(name);
  assert.ok(r !== undefined, `the README's scenario table has a row for ${name}`);
  return r;
}

function names(where: string, text: string, fields: Iterable<string>): void {
  // `field`, `field: …` or `field.<name>` in code quotes.
  const missing = [...fields].filter(
    (f) => ![`\``, ':', '.'].some((after) => text.includes(`\`${f}${after}`)),
  );
  assert.deepEqual(missing, [], `the README's row for ${where} does not name ${missing.join(', ')}`);
}

const scenario = objectOf(scenarioSchemaFor([]));

test('the README scenario table has a row for every block of the scenario schema, and names every top-level field', () => {
  const blocks = Object.keys(scenario).filter(
    (k) => !['name', 'description', 'seed', 'until', 'cpus', 'verifier'].includes(k),
  );
  for (const b of blocks) row(['ndis', 'expect'].includes(b) ? b : `${b}[]`);
  names('top level', row('top level'), ['name', 'description', 'seed', 'until', 'cpus', 'verifier']);
});

test('the README scenario table names every field (and every kind of action and injection) the schema takes', () => {
  names('ndis', row('ndis'), Object.keys(objectOf(scenario.ndis)));
  const protocols = objectOf(protocolSchema);
  names('protocols[]', row('protocols[]'), [
    ...Object.keys(protocols),
    ...Object.keys(objectOf(protocols.traffic)),
  ]);
  names('filters[]', row('filters[]'), Object.keys(objectOf(scenario.filters)));
  names('protocolDrivers[]', row('protocolDrivers[]'), Object.keys(objectOf(scenario.protocolDrivers)));
  const devices = objectOf(scenario.devices);
  names('devices[]', row('devices[]'), [
    ...Object.keys(devices),
    ...Object.keys(objectOf(devices.wire)),
    ...Object.keys(objectOf(devices.msi)),
  ]);
  names('faults', row('faults'), Object.keys(objectOf(faultsSchema)));
  names('actions[]', row('actions[]'), [...Object.keys(objectOf(actionSchema)), ...actionKinds]);
  names('inject[]', row('inject[]'), [...Object.keys(objectOf(injectSchema)), ...injectKinds]);
  const ex = objectOf(expectSchema);
  names('expect', row('expect'), [
    ...Object.keys(ex),
    ...Object.keys(objectOf(ex.adapters)),
    ...Object.keys(objectOf(ex.devices)),
  ]);
});

test('the defaults the README gives for the ndis: options are those of defaultNdisOptions', () => {
  const text = row('ndis');
  const d = defaultNdisOptions as unknown as Record<string, unknown>;
  for (const key of Object.keys(objectOf(scenario.ndis))) {
    const m = new RegExp(`\`${key}\` \\(([^)]*)\\)`).exec(text);
    assert.ok(m !== null, `the README gives ${key} its default or its values in brackets`);
    const given = m[1]!;
    const v = key in d ? d[key] : d[`${key}Ns`];
    if (typeof v === 'number') assert.equal(given, `${v / 1e9}s`, `the README's default of ${key}`);
    else if (typeof v === 'boolean') assert.equal(given, String(v), `the README's default of ${key}`);
    // An option of several values lists its default first.
    else assert.equal(/`([^`]+)`/.exec(given)?.[1], v, `the README lists ${key}'s default first`);
  }
});

test('the defaults the README gives for traffic are trafficDefaults', () => {
  const text = row('protocols[]');
  assert.match(text, new RegExp(`\`frameBytes\` \\(${trafficDefaults.frameBytes}\\)`));
  assert.match(text, new RegExp(`\`returnDelay\` \\(${trafficDefaults.returnDelayNs}\\)`));
  assert.match(text, new RegExp(`\`statisticsEvery\` \\(${trafficDefaults.statisticsEveryNs} `));
  assert.match(text, new RegExp(`\`nblsPerSend\` \\(${trafficDefaults.nblsPerSend}:`));
  assert.match(text, new RegExp(`\`netBuffersPerNbl\` \\(${trafficDefaults.netBuffersPerNbl}\\)`));
  assert.match(text, new RegExp(`\`sendIrql\` \\(\`${trafficDefaults.sendIrql}\``));
});
