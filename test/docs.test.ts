// The docs against the code: the README's scenario reference names every field the
// schema takes, with the defaults the code has; the rules the docs name are rules of
// the catalogue, and every NdisSim_* rule is named somewhere; the files the docs cite
// exist; docs/model.md's options table has every ndis: option with its default, and
// its Determinism section every choice site, and its bug-check table every code a rule
// raises; the README's usage has each command's options, and every DDI it names is
// exported. (A field, rule, choice site, bug check or flag added without docs, a
// default changed in one place only, a file moved or a rule or DDI renamed fails
// here.)

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
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
import { ChoiceSite } from '../src/sim/choice.ts';
import { trafficDefaults } from '../src/stack/protocol.ts';
import { catalogue } from '../src/verifier/catalogue.ts';
import { cli } from './helpers/cli.ts';

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
/** The scenario's plain fields, which the table's "top level" row names. */
const topLevel = ['name', 'description', 'driverModules', 'seed', 'until', 'cpus', 'verifier'];

test('the README scenario table has a row for every block of the scenario schema, and names every top-level field', () => {
  const blocks = Object.keys(scenario).filter((k) => !topLevel.includes(k));
  for (const b of blocks) row(['ndis', 'expect'].includes(b) ? b : `${b}[]`);
  names('top level', row('top level'), topLevel);
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

const model = readFileSync('docs/model.md', 'utf8');
const decisions = readFileSync('docs/decisions.md', 'utf8');
const docs = { 'README.md': readme, 'docs/model.md': model, 'docs/decisions.md': decisions };

test('every NdisSim_* and Irql_* rule the docs name is a rule of the catalogue', () => {
  for (const [file, text] of Object.entries(docs)) {
    const unknown = new Set<string>();
    for (const m of text.matchAll(/\b(?:NdisSim|Irql)_[A-Za-z0-9_]*[A-Za-z0-9]/g))
      if (!catalogue.has(m[0])) unknown.add(m[0]);
    assert.deepEqual([...unknown], [], `${file} names rules the catalogue lacks`);
  }
});

test('every NdisSim_* rule of the catalogue is named in docs/model.md or the README (a new rule needs its docs)', () => {
  const both = model + readme;
  const missing = [...catalogue.keys()].filter(
    (id) => id.startsWith('NdisSim_') && !new RegExp(`\\b${id}\\b`).test(both),
  );
  assert.deepEqual(missing, []);
});

test('every file of the repository the docs cite exists', () => {
  for (const [file, text] of Object.entries(docs)) {
    const missing = new Set<string>();
    for (const m of text.matchAll(/\b(?:src|test|examples|scripts|bench|data|docs|bin)\/[\w./-]*\w/g)) {
      const path = m[0];
      // A pattern (examples/gallery/<rule>.yaml, src/ndis/api/*.ts) is not a file.
      if (/[<*]/.test(text.slice(m.index + path.length, m.index + path.length + 1))) continue;
      // What `npm run build` writes (dist/src/index.d.ts) is no file of the repository.
      if (text.slice(Math.max(0, m.index - 5), m.index) === 'dist/') continue;
      if (!existsSync(path)) missing.add(path);
    }
    assert.deepEqual([...missing], [], `${file} cites files that do not exist`);
  }
});

test('the docs cite no file a clone lacks: the team notes beside the repository (../shared, DESIGN.md, STYLE.md)', () => {
  for (const [file, text] of Object.entries(docs))
    assert.deepEqual(
      [...text.matchAll(/\.\.\/shared\b|\b(?:DESIGN|STYLE)(?:\.md\b|'s\b|\b)/g)].map((m) => m[0]),
      [],
      `${file} points to the internal design notes: say what they decided instead`,
    );
});

test('docs/model.md "Options for the points the docs leave open" has a row for every ndis: option, with its default', () => {
  const d = defaultNdisOptions as unknown as Record<string, unknown>;
  for (const key of Object.keys(objectOf(scenario.ndis))) {
    const m = new RegExp(`^\\| [^|]+ \\| [^|]+ \\| \`${key}\` \\| ([^|]+) \\|$`, 'm').exec(model);
    assert.ok(m !== null, `docs/model.md has an options row for ${key}`);
    const v = key in d ? d[key] : d[`${key}Ns`];
    const first = m[1]!.trim();
    if (typeof v === 'number')
      assert.ok(first.startsWith(`${v / 1e9} s`), `docs/model.md's default of ${key}: ${first}`);
    else
      assert.ok(
        first.startsWith(`\`${String(v)}\``),
        `docs/model.md's default of ${key} comes first: ${first}`,
      );
  }
});

test('docs/model.md "Determinism" names every site of the choice door (ChoiceSite)', () => {
  const section = model.slice(model.indexOf('## Determinism'), model.indexOf('## The explorer'));
  const missing = Object.keys(ChoiceSite).filter((site) => !section.includes(`\`${site}\``));
  assert.deepEqual(missing, [], 'choice sites the Determinism section does not name');
});

test("the README's command-line usage shows each command's options, as its --help lists them", () => {
  const at = readme.indexOf('## The command line');
  const block = /```text\n([\s\S]*?)```/.exec(readme.slice(at))?.[1];
  assert.ok(block !== undefined, 'a ```text block under "The command line"');
  const shown = new Map<string, Set<string>>();
  let current: Set<string> | null = null;
  for (const line of block.split('\n')) {
    const m = /^ndis-sim (\w+)/.exec(line);
    if (m !== null) {
      current = new Set();
      shown.set(m[1]!, current);
    }
    for (const f of line.matchAll(/--[a-z][a-z-]*/g)) current?.add(f[0]);
  }
  assert.deepEqual([...shown.keys()].sort(), ['drivers', 'explore', 'oids', 'replay', 'rules', 'run']);
  for (const [command, flags] of shown) {
    const help = cli(command, '--help');
    assert.equal(help.status, 0, help.stderr);
    const options = help.stdout.slice(help.stdout.indexOf('Options:'));
    const listed = new Set([...options.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((x) => x[1]!));
    listed.delete('--help');
    assert.deepEqual(
      [...flags].sort(),
      [...listed].sort(),
      `ndis-sim ${command}: the README's usage and --help`,
    );
  }
});

test("docs/model.md's bug-check table has every code, and parameter 1, that an enforced rule raises", () => {
  const table = model.slice(model.indexOf('The bug check follows Windows'), model.indexOf('\nModes:\n'));
  const rows = table.split('\n').filter((l) => l.startsWith('| **0x'));
  const hex = (v: number, width = 1): string => `0x${v.toString(16).toUpperCase().padStart(width, '0')}`;
  const missing = new Set<string>();
  for (const r of catalogue.values()) {
    if (r.status.kind !== 'enforced') continue;
    const checks = [r.bugCheck, ...Object.values(r.ddiBugChecks ?? {}).flat()];
    for (const b of checks) {
      if (b == null) continue;
      const row = rows.find((l) => l.startsWith(`| **${hex(b.code)}**`));
      if (row === undefined) missing.add(`${hex(b.code)} (${r.id})`);
      else if (b.p1 != null && !(b.p1 >= 0x4e530000 && b.p1 < 0x4e540000)) {
        const named =
          b.p1 === 0
            ? row.includes('parameter 1 = 0')
            : new RegExp(`\\b0x0*${b.p1.toString(16)}\\b`, 'i').test(row);
        if (!named) missing.add(`${hex(b.code)}/${hex(b.p1, 2)} (${r.id})`);
      }
    }
  }
  assert.deepEqual([...missing], [], 'bug checks the table does not list');
});

test("every DDI, type or constant the README names (Ndis…, NDIS_…, Io…) is exported from 'ndis-sim', or is a rule or a driver's own callback", async () => {
  const api = { ...(await import('../src/index.ts')), ...(await import('../src/scenario.ts')) };
  // Types leave no trace at run time: take the names src/index.ts and the modules it
  // re-exports whole declare as types.
  const typeSources = ['src/index.ts', 'src/ndis/types.ts'].map((f) => readFileSync(f, 'utf8')).join('\n');
  // ... and the names in `export type { A, B } from …` lists.
  const typeLists = [...typeSources.matchAll(/export type \{([^}]*)\}/g)].flatMap((m) =>
    m[1]!.split(',').map((n) => n.trim()),
  );
  const isType = (name: string): boolean =>
    typeLists.includes(name) ||
    new RegExp(`(?:export (?:interface|type) ${name}\\b|\\btype ${name}\\b)`).test(typeSources);
  // Entry points a driver writes, which NDIS calls: named in the README, defined by the driver.
  const callbacks = new Set(['NdisPoll', 'NdisSetPollNotification']);
  const unknown = new Set<string>();
  for (const m of readme.matchAll(/`([^`\n]+)`/g))
    for (const w of m[1]!.matchAll(/\b(?:Ndis|NDIS_|Io[A-Z]|Ke[A-Z])\w*/g)) {
      const name = w[0];
      if (name in api || isType(name) || catalogue.has(name) || callbacks.has(name)) continue;
      unknown.add(name);
    }
  assert.deepEqual([...unknown], [], "names the README gives that 'ndis-sim' does not export");
});
