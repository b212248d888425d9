// A violation's call site names the line of driver code the same whichever way
// ndis-sim runs: its TypeScript through tsx (the CLI), or its built JavaScript (a
// project that imports the package). The built drivers' positions are mapped back to
// their .ts lines through the source maps the build keeps beside them
// (src/report/source-map.ts): the call site is traced (`at`), so a replay file recorded
// one way and checked the other must read the same bytes, and a user must see a line
// that exists in the .ts file the package ships. The build is done in a copy of the
// sources (test/package.test.ts builds dist/ itself, through npm pack, at the same time).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { gallery, galleryScenario } from '../src/drivers/buggy/index.ts';
import { driverNames } from '../src/drivers/index.ts';
import { decodeSegment } from '../src/report/source-map.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';

const root = resolve('.');
let dir = '';

/** What each gallery entry's bug check says where: rule, call site, and the message of an exception. */
type Sites = [rule: string, callSite: string | null, message: string | null][];

let fromSources: Sites | null = null;
const fromBuild = new Map<string, Sites>();

function sitesFromSources(): Sites {
  fromSources ??= gallery.map((g) => {
    const s = loadScenario(galleryScenario(g.rule), driverNames());
    const v = buildWorld(s, { seed: s.seed, verifier: 'bugcheck' }).run(untilNs(s)).bugCheck!;
    return [g.rule, v.callSite, v.rule === 'NdisSim_DriverException' ? v.message : null];
  });
  return fromSources;
}

/** The same, from the built JavaScript in a process of its own, with node's `flags`. */
function sitesFromBuild(flags: string[]): Sites {
  const known = fromBuild.get(flags.join(' '));
  if (known !== undefined) return known;
  const r = spawnSync(process.execPath, [...flags, join(dir, 'sites.mjs')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const sites = JSON.parse(r.stdout) as Sites;
  fromBuild.set(flags.join(' '), sites);
  return sites;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ndis-sim-dist-site-'));
  for (const f of [
    'src',
    'bench',
    'scripts/copy-built.mjs',
    'tsconfig.json',
    'tsconfig.build.json',
    'package.json',
  ])
    cpSync(join(root, f), join(dir, f), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const b = spawnSync('npm', ['run', '-s', 'build'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(b.status, 0, b.stdout + b.stderr);
  const built = (p: string) => JSON.stringify(new URL(`dist/src/${p}.js`, `file://${dir}/`).href);
  writeFileSync(
    join(dir, 'sites.mjs'),
    `const { gallery, galleryScenario } = await import(${built('drivers/buggy/index')});
const { driverNames } = await import(${built('drivers/index')});
const { buildWorld, untilNs } = await import(${built('scenario/build')});
const { loadScenario } = await import(${built('scenario/load')});
console.log(JSON.stringify(gallery.map((g) => {
  const s = loadScenario(galleryScenario(g.rule), driverNames());
  const v = buildWorld(s, { seed: s.seed, verifier: 'bugcheck' }).run(untilNs(s)).bugCheck;
  return [g.rule, v.callSite, v.rule === 'NdisSim_DriverException' ? v.message : null];
})));
`,
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('source map VLQ: a segment decodes to its signed numbers, five bits a digit', () => {
  assert.deepEqual(decodeSegment('AAAA'), [0, 0, 0, 0]);
  // C = 2 → +1, D = 3 → -1 (the low bit is the sign); g = 32 + 0 says a digit follows,
  // B = 1 worth 32 there: 32 → +16; u = 32 + 14, F = 5·32: 174 → +87 (a tsc comment line).
  assert.deepEqual(decodeSegment('CDgBuF'), [1, -1, 16, 87]);
  // / = 32 + 31, / = 32 + 31·32, B = 1·1024: 2047 → -1023.
  assert.deepEqual(decodeSegment('//B'), [-1023]);
  assert.equal(decodeSegment('g'), null, 'a digit that says another follows, then none');
  assert.equal(decodeSegment('A*'), null);
});

test('the build keeps the source maps of the drivers only, and the comment naming a map only where it is', () => {
  const maps: string[] = [];
  for (const e of readdirSync(join(dir, 'dist'), { recursive: true, withFileTypes: true })) {
    const f = join(e.parentPath, e.name).slice(dir.length + 1);
    if (f.endsWith('.map')) maps.push(f);
    if (!f.endsWith('.js')) continue;
    const named = /\/\/# sourceMappingURL=/.test(readFileSync(join(dir, f), 'utf8'));
    assert.equal(named, existsSync(join(dir, `${f}.map`)), f);
  }
  assert.ok(maps.includes('dist/src/drivers/lwf.js.map'));
  assert.ok(maps.includes('dist/src/drivers/buggy/gallery-a.js.map'));
  assert.deepEqual(
    maps.filter((f) => !f.startsWith('dist/src/drivers/')),
    [],
  );
});

test("a gallery driver's violation call site (every gallery rule: R8.2, R8.10 and the rest; traced as `at`) is the same through the built JavaScript as through the sources: its .ts file and line", () => {
  const src = sitesFromSources();
  const sites = src.filter(([, site]) => site !== null);
  assert.ok(sites.length > 100, `${sites.length} call sites`);
  // Each names a line of the TypeScript the package ships, at a column inside it.
  for (const [rule, site] of sites) {
    const m = /^(src\/drivers\/(?:buggy\/)?[a-z-]+\.ts):(\d+):(\d+) \(in \w+\)$/.exec(site!);
    assert.ok(m !== null, `${rule}: ${site}`);
    const line = readFileSync(m[1]!, 'utf8').split('\n')[Number(m[2]) - 1];
    assert.ok(line !== undefined && Number(m[3]) <= line.length, `${rule}: ${site}`);
  }
  const dist = sitesFromBuild([]);
  assert.deepEqual(
    dist.map(([rule, site]) => [rule, site]),
    src.map(([rule, site]) => [rule, site]),
  );
});

test('through the built JavaScript under tsx (which turns on Node source maps), the call sites are the same again', () => {
  // Node then maps the drivers' frames itself, by the comment naming the map at the end
  // of each built driver, before src/report/stack.ts sees them: the same maps, the same lines.
  const src = sitesFromSources();
  const dist = sitesFromBuild(['--import', 'tsx']);
  assert.deepEqual(
    dist.map(([rule, site]) => [rule, site]),
    src.map(([rule, site]) => [rule, site]),
  );
});

test("NdisSim_DriverException through the built JavaScript names the driver's .ts file and line, as through the sources", () => {
  const where = (sites: Sites) => {
    const message = sites.find(([rule]) => rule === 'NdisSim_DriverException')?.[2] ?? '';
    return /\((src\/drivers\/buggy\/throwing-nic\.ts:\d+):\d+\)$/.exec(message)?.[1];
  };
  const src = where(sitesFromSources());
  assert.ok(src !== undefined);
  assert.equal(where(sitesFromBuild([])), src);
  assert.equal(where(sitesFromBuild(['--import', 'tsx'])), src);
});
