// review-explore items #1, #2, #4, #5, #8: the shrinking under --seed-timeout (a
// candidate that spins is stopped and counts as not failing; SIGTERM cuts the
// shrinking short), every bad option at once, misspelt exploreScenario options, a
// driver loaded as a second copy of ndis-sim, and the --jobs above the cores warning.
// The driver's bug is R8.6 (NdisCancelTimerObject's FALSE ignored before the free).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { failureWhere, plainPlace } from '../src/explore/explore.ts';
import { InputError } from '../src/index.ts';
import { exploreScenario } from '../src/scenario.ts';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-explore-shrink-timeout-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = resolve('.');
const spins = 'test/fixtures/spins-when-simple.yaml';

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', NDIS_SIM_PROGRESS_EVERY_MS: '500' };
  delete e.FORCE_COLOR;
  return e;
}

async function problems(f: () => Promise<unknown>): Promise<string[]> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    return e.problems;
  }
  assert.fail('no InputError');
}

test('R8.6 explore --seed-timeout covers the shrinking: a candidate that spins for ever is stopped at the limit and counts as not failing; the failure is still shrunk, the report says how many timed out, and the progress lines go on (review-explore #1)', () => {
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'bin/ndis-sim.js'),
      'explore',
      spins,
      '--seed',
      '24',
      '--runs',
      '1',
      '--seed-timeout',
      '1s',
      '--shrink-runs',
      '12',
      '--no-reduce',
      '--out',
      join(dir, 'spin'),
      '--json',
    ],
    { encoding: 'utf8', env: env(), cwd: root, timeout: 240_000 },
  );
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout) as {
    interrupted: unknown;
    failures: { signature: string; shrunk: { runs: number; timedOut?: number } | null }[];
  };
  assert.equal(j.interrupted, null);
  assert.equal(j.failures.length, 1);
  const f = j.failures[0]!;
  assert.equal(f.signature, 'bugcheck NdisSim_TimerFreedWhileSet');
  assert.ok(f.shrunk !== null, 'the failure is shrunk');
  assert.ok((f.shrunk.timedOut ?? 0) >= 1, JSON.stringify(f.shrunk));
  assert.equal(f.shrunk.runs, 12);
  // The progress line while it shrinks (a CI log: stderr is not a terminal).
  assert.match(r.stderr, /explore: shrinking failure 1 of 1: \d+ runs?, \d+ s/);
});

test('R8.6 explore: a SIGTERM while failures are shrunk in a worker thread cuts the shrinking short: exit 143, the report of the seeds with their own runs (review-explore #1)', async () => {
  const child = spawn(
    process.execPath,
    [
      join(root, 'bin/ndis-sim.js'),
      'explore',
      spins,
      '--seed',
      '24',
      '--runs',
      '1',
      '--seed-timeout',
      '10min',
      '--out',
      join(dir, 'term'),
    ],
    { env: env(), cwd: root },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const shrinking = new Promise<void>((res) =>
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/shrinking failure 1 of 1/.test(stderr)) res();
    }),
  );
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const guard = setTimeout(() => child.kill('SIGKILL'), 180_000);
  await shrinking;
  // The first candidate (every answer 0) spins; a second later the shrinking is in it.
  await new Promise((r) => setTimeout(r, 1000));
  child.kill('SIGTERM');
  const code = await exited;
  clearTimeout(guard);
  assert.equal(code, 143, stderr);
  assert.match(stdout, /interrupted by SIGTERM/);
  assert.match(stdout, /not shrunk \(interrupted\)/);
});

test('explore: every bad option is reported, each on its own line, on the command line and from code (review-explore #4)', async () => {
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'bin/ndis-sim.js'),
      'explore',
      'examples/timer-race.yaml',
      '--driver',
      'examples/timer-race.ts',
      '--runs',
      '0',
      '--jobs',
      '1',
      '--seed-timeout',
      '5s',
      '--until',
      '30',
      '--cpus',
      '99',
    ],
    { encoding: 'utf8', env: env(), cwd: root, timeout: 120_000 },
  );
  assert.equal(r.status, 2);
  for (const want of [
    /^--cpus: expected an integer from 1 to 64, got "99"$/m,
    /^--until: /m,
    /^--runs: expected an integer from 1 to /m,
    /^--seed-timeout: expected it with --jobs 2 or more/m,
  ])
    assert.match(r.stderr, want);
  const p = await problems(() =>
    exploreScenario('examples/timer-race.yaml', {
      driverFiles: ['examples/timer-race.ts'],
      runs: 0,
      jobs: 1,
      seedTimeout: '5s',
      until: '30',
    }),
  );
  assert.equal(p.length, 3, p.join('\n'));
  assert.match(p[0]!, /^until: /);
  assert.match(p[1]!, /^runs: /);
  assert.match(p[2]!, /^seedTimeout: expected it with jobs 2 or more/);
});

test('exploreScenario refuses an option it does not know, with the nearest name (review-explore #5)', async () => {
  const p = await problems(() =>
    exploreScenario('examples/timer-race.yaml', {
      driverFiles: ['examples/timer-race.ts'],
      runs: 10,
      bogusOption: 1,
      shrinkruns: 5,
    } as never),
  );
  assert.equal(p.length, 2);
  assert.match(p[0]!, /^bogusOption: not an option of exploreScenario \(options: text, drivers, /);
  assert.match(p[1]!, /^shrinkruns: not an option of exploreScenario; did you mean shrinkRuns\?/);
});

test('R8.6 exploreScenario loads driverFiles through the CLI hooks: a .ts driver in a package without "type" (CommonJS by default) is the same copy of ndis-sim, and its bug is found (review-explore #2)', async () => {
  const proj = join(dir, 'cjs');
  mkdirSync(proj);
  writeFileSync(join(proj, 'package.json'), '{"name":"cjs-driver","private":true}\n');
  // The driver imports 'ndis-sim' by name, as in a project of its own.
  writeFileSync(
    join(proj, 'drv.ts'),
    `export { timerRace } from '${join(root, 'examples/timer-race.ts')}';\nimport * as N from 'ndis-sim';\nexport const probe: typeof N.NDIS_STATUS_SUCCESS = N.NDIS_STATUS_SUCCESS;\n`,
  );
  const r = await exploreScenario(join(root, 'examples/timer-race.yaml'), {
    driverFiles: [join(proj, 'drv.ts')],
    runs: 30,
    shrinkRuns: 0,
  });
  assert.ok(r.failed > 0 && r.failed < 30, r.text);
  assert.equal(r.failures[0]!.signature, 'bugcheck NdisSim_TimerFreedWhileSet');
});

test('explore warns on stderr when --jobs is above the cores (os.availableParallelism), whose worker threads only share them; the report stays the same (review-explore #8)', () => {
  const cores = availableParallelism();
  const n = String(cores + 1);
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'bin/ndis-sim.js'),
      'explore',
      'examples/timer-race.yaml',
      '--driver',
      'examples/timer-race.ts',
      '--runs',
      n,
      '--jobs',
      n,
      '--no-shrink',
      '--quiet',
      '--out',
      join(dir, 'jobs'),
    ],
    { encoding: 'utf8', env: env(), cwd: root, timeout: 120_000 },
  );
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `warning: examples/timer-race\\.yaml: --jobs ${n} is above this machine's ${cores} cores? \\(os\\.availableParallelism\\(\\)\\)`,
    ),
  );
  assert.doesNotMatch(r.stdout, /availableParallelism/);
});

test("R8.6 a failure's where names a module tsx loaded as CommonJS by its file, not by the data URL of its compiled text (review-explore #3)", () => {
  // As node's stack gives it (shortened: the real one held the whole compiled driver, 6 KB).
  const compiled =
    'javascript,__filename%3D%22%2Ftmp%2Fproj%2Fteam-nic.ts%22%3B(()%3D%3E%7Brequire%20%3D%20require(%22node%3Amodule%22)' +
    '.createRequire(%22file%3A%2F%2F%2Ftmp%2Fproj%2Fteam-nic.ts%22)%3B%0A%7D)()%0A?filePath=%2Ftmp%2Fproj%2Fteam-nic.ts:2:3259';
  const v = {
    rule: 'NdisSim_DriverException',
    ddi: 'DriverEntry',
    callSite: null,
    origin: null,
    bugCheck: { params: [0xc0000005, compiled, 0, 0] },
  } as unknown as Parameters<typeof failureWhere>[0];
  assert.equal(
    failureWhere(v),
    'thrown at /tmp/proj/team-nic.ts (compiled as CommonJS; no position) (in DriverEntry)',
  );
  assert.equal(
    plainPlace(`data:text/${compiled}`),
    '/tmp/proj/team-nic.ts (compiled as CommonJS; no position)',
  );
  // Under the working directory: relative, as other places are.
  const here = `javascript,x?filePath=${encodeURIComponent(join(root, 'drv.ts'))}:2:10`;
  assert.equal(plainPlace(here), 'drv.ts (compiled as CommonJS; no position)');
  // Any other place is left as it is.
  assert.equal(plainPlace('examples/timer-race.ts:125:17'), 'examples/timer-race.ts:125:17');
});
