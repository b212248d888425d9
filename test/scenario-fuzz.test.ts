// Bad input must get a clear message, never a crash: the example scenarios, mutated at
// random (a field replaced by a value of any shape, removed, or a field added), either
// validate and run, or are refused with one line per problem in the form the CLI
// prints, `file: field path: expected …, got …`. A crash here (a TypeError in a check,
// an InternalError of a world built from a scenario that validated, an exception inside
// a DDI that the model blames on a driver as NdisSim_DriverException) is a bug of
// ndis-sim. fast-check shrinks a failure to the fewest mutations.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { driverNames } from '../src/drivers/index.ts';
import { InputError } from '../src/errors.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText, validateScenario } from '../src/scenario/load.ts';

const drivers = driverNames();

/** Scenarios of built-in drivers only: the examples without a --driver module, and the gallery. */
const bases: { file: string; data: unknown }[] = [
  ...['reset-storm', 'filter-stack', 'simnic-traffic', 'vmini-traffic', 'echo-protocol'].map(
    (n) => `examples/${n}.yaml`,
  ),
  ...readdirSync('examples/gallery')
    // Its driver throws on purpose: NdisSim_DriverException there is no bug of ndis-sim.
    .filter((f) => f.endsWith('.yaml') && f !== 'NdisSim_DriverException.yaml')
    .sort()
    .filter((_, i) => i % 8 === 0)
    .map((f) => `examples/gallery/${f}`),
].map((file) => ({ file, data: parse(readFileSync(file, 'utf8')) as unknown }));

type Path = (string | number)[];

/** Every path into `v` (objects and arrays), the root first. */
function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) paths(v[i], [...at, i], out);
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

interface Mutation {
  pick: number;
  kind: 'replace' | 'delete' | 'add';
  key: string;
  value: unknown;
}

const keyArb = fc.constantFrom(
  'seed',
  'until',
  'devices',
  'driver',
  'faults',
  'at',
  'do',
  'name',
  'zzz',
  'expect',
  'cpus',
);
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    '1s',
    '-5ms',
    '0x10',
    'nic0',
    'flaky-nic',
    'S3',
    1e21,
    -1,
    0.5,
    Number.MAX_SAFE_INTEGER,
    '',
    '10%',
  ),
);
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  pick: fc.nat(),
  kind: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
  key: keyArb,
  value: valueArb,
});

function mutate(data: unknown, ms: readonly Mutation[]): unknown {
  let root = structuredClone(data);
  for (const m0 of ms) {
    // A value of its own each time: one inserted twice would make the data cyclic, which
    // no YAML document gives.
    const m = { ...m0, value: structuredClone(m0.value) };
    const all = paths(root);
    const p = all[m.pick % all.length]!;
    if (p.length === 0) {
      if (m.kind === 'replace') root = m.value;
      else if (m.kind === 'add' && root !== null && typeof root === 'object' && !Array.isArray(root))
        (root as Record<string, unknown>)[m.key] = m.value;
      continue;
    }
    let parent = root as Record<string | number, unknown>;
    for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const last = p.at(-1)!;
    if (m.kind === 'replace') parent[last] = m.value;
    else if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last];
    } else {
      const target = parent[last];
      if (target !== null && typeof target === 'object' && !Array.isArray(target))
        (target as Record<string, unknown>)[m.key] = m.value;
      else if (Array.isArray(target)) target.push(m.value);
    }
  }
  return root;
}

/** `s.yaml: <path>: <message>`, the path plain names, [index] or ["quoted key"] (pathText). */
const line =
  /^s\.yaml: (?:\(top level\)|[A-Za-z_$][\w$-]*|\["(?:[^"\\]|\\.)*"\])(?:\.[A-Za-z_$][\w$-]*|\[(?:\d+|"(?:[^"\\]|\\.)*")\])*: \S/;

function check(base: { file: string; data: unknown }, ms: readonly Mutation[]): void {
  const data = mutate(base.data, ms);
  let s: ReturnType<typeof validateScenario>;
  try {
    s = validateScenario(data, 's.yaml', drivers);
  } catch (e) {
    assert.ok(e instanceof InputError, `not an InputError: ${e instanceof Error ? e.stack : String(e)}`);
    assert.ok(e.problems.length > 0, 'an InputError names its problems');
    for (const p of e.problems) {
      assert.match(p, line, `a problem line not in the form "file: path: message": ${p}`);
      assert.doesNotMatch(
        p,
        /\[object Object\]|undefined|NaN/,
        `a problem line that shows a value badly: ${p}`,
      );
    }
    return;
  }
  // Valid: the world builds and runs (briefly) without a crash of ndis-sim. None of the
  // base scenarios' drivers throws (the gallery's NdisSim_DriverException entry is left
  // out of them above), so NdisSim_DriverException would be ndis-sim's own code throwing inside
  // a DDI, blamed on the driver that called it.
  const w = buildWorld(s, { verifier: 'collect', trace: false });
  const r = w.run(Math.min(untilNs(s), 1e9));
  const own = r.violations.find((v) => v.rule === 'NdisSim_DriverException');
  assert.equal(own, undefined, `ndis-sim's own code threw inside a DDI: ${own?.message}`);
}

test('scenario fuzz: mutated example scenarios are refused with "file: path: expected …, got …" lines, or validate and run; never a crash', () => {
  fc.assert(
    fc.property(fc.nat(bases.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (i, ms) =>
      check(bases[i]!, ms),
    ),
    { numRuns: 400, seed: 27 },
  );
});

test('pathText: a key that is not a plain name is quoted, so a path cannot run into the message after it (registry values, expect keys)', () => {
  const data = parse(readFileSync('examples/reset-storm.yaml', 'utf8')) as {
    devices: { registry: Record<string, unknown> }[];
    expect: { devices: Record<string, unknown> };
  };
  data.devices[0]!.registry = { ':': null, 'a b': 1, ResetLimit: [] };
  data.expect.devices = { '': { problem: 43 } };
  assert.throws(
    () => validateScenario(data, 's.yaml', drivers),
    (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.deepEqual(e.problems, [
        's.yaml: devices[0].registry[":"]: expected a whole number or a string, got null',
        's.yaml: devices[0].registry.ResetLimit: expected a whole number or a string, got a list',
        's.yaml: expect.devices[""]: expected one of the devices (nic0), got ""',
      ]);
      return true;
    },
  );
});

test("a file's problems come in the order of the file, whichever check finds them (schema, references, unknown fields); a registry value must be a whole number or a string", () => {
  const text = `
bogus: 1
devices:
  - { name: nic0, driver: healthy-nic, registry: { A: 1.5, B: 2 } }
actions:
  - { at: 1ms, do: start, device: nic9 }
  - { at: 2ms, do: bogus }
protocols: [{ name: 5 }]
until: 1sx
`;
  assert.throws(
    () => parseScenarioText(text, 's.yaml', drivers),
    (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.deepEqual(
        e.problems.map((p) => p.split(': ')[1]),
        [
          '(top level)',
          'devices[0].registry.A',
          'actions[0].device',
          'actions[1].do',
          'protocols[0].name',
          'until',
        ],
      );
      assert.equal(
        e.problems[1],
        's.yaml: devices[0].registry.A: expected a whole number or a string, got 1.5',
      );
      return true;
    },
  );
});
