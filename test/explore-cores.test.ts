// The explorer's use of the machine, outside the simulation: when the seeds go to
// worker threads, how many, what the command says while they run, and what it keeps
// when it is interrupted. None of it changes what a seed gives.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { plainProgress } from '../src/cli/progress.ts';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-explore-cores-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const scenario = 'test/fixtures/sleeps-in-reset.yaml';

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete e.FORCE_COLOR;
  return e;
}

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string; ms: number } {
  return cliEnv({}, ...args);
}

function cliEnv(
  extra: NodeJS.ProcessEnv,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['bin/ndis-sim.js', ...args], {
    encoding: 'utf8',
    env: { ...env(), ...extra },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

test('explore: slow seeds go to worker threads after about a second, not after a first batch of 100 (README "Cores")', {
  skip: availableParallelism() < 2 ? 'one core: the seeds stay in this thread' : false,
}, () => {
  // 60 seeds of 200 ms each: 12 s in one thread, more than the 10 s that workers are worth.
  const r = cli(
    'explore',
    scenario,
    '--driver',
    'test/fixtures/slow-seeds.ts',
    '--runs',
    '60',
    '--no-shrink',
    '--out',
    join(dir, 'slow'),
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /seeds 1–60, 60 runs in .*, \d+ worker threads\)/);
});

test('explore --jobs 64 --runs 3: three worker threads, one a seed, not 64', () => {
  const r = cli(
    'explore',
    scenario,
    '--driver',
    'test/fixtures/sleeps-in-reset.ts',
    '--runs',
    '3',
    '--jobs',
    '64',
    '--no-shrink',
    '--json',
    '--out',
    join(dir, 'j64'),
  );
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  assert.equal(JSON.parse(r.stdout).workers, 3);
});

test('explore progress on a stderr that is not a terminal: a plain line at most every interval, none for a run that ends sooner', () => {
  let t = 0;
  const lines: string[] = [];
  const p = plainProgress(5000, { everyMs: 10_000, now: () => t, write: (l) => lines.push(l), timer: false });
  t = 4000;
  p.tick(400, 0);
  assert.deepEqual(lines, []);
  t = 10_000;
  p.tick(1200, 3);
  t = 15_000;
  p.tick(1500, 3);
  assert.deepEqual(lines, ['explore: 1,200/5,000 seeds, 3 failed, 10 s\n']);
  t = 41_000;
  p.shrinkRun(0, 2);
  assert.deepEqual(lines.at(-1), 'explore: shrinking failure 1 of 2: 1 runs, 41 s\n');
  p.stop();
});

test('explore on a non-terminal stderr: the progress line reaches a CI log (NDIS_SIM_PROGRESS_EVERY_MS sets its interval); --quiet and a short run have none', () => {
  const args = ['explore', scenario, '--driver', 'test/fixtures/slow-seeds.ts', '--runs', '8', '--jobs', '1'];
  const r = cliEnv({ NDIS_SIM_PROGRESS_EVERY_MS: '300' }, ...args, '--out', join(dir, 'p1'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^explore: [1-8]\/8 seeds, 0 failed, \d+ s$/m);
  assert.ok(
    r.stderr.split('\n').every((l) => l === '' || /^explore: /.test(l)),
    r.stderr,
  );
  const q = cliEnv({ NDIS_SIM_PROGRESS_EVERY_MS: '300' }, ...args, '--quiet', '--out', join(dir, 'p2'));
  assert.equal(q.stderr, '');
  const short = cli(...args, '--out', join(dir, 'p3'));
  assert.equal(short.stderr, '');
});

/**
 * Starts explore, sends it `signal` once its first progress line shows it at work (so
 * after its listeners are set), and gives its exit code and output.
 */
function interrupted(
  signal: NodeJS.Signals,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['bin/ndis-sim.js', ...args], {
      env: { ...env(), NDIS_SIM_PROGRESS_EVERY_MS: '500' },
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    const limit = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.stdout.on('data', (d) => {
      stdout += d;
    });
    p.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && /^explore: [\d,]+\/[\d,]+ seeds, [1-9][\d,]* failed/m.test(stderr)) {
        sent = true;
        p.kill(signal);
      }
    });
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    });
  });
}

for (const [signal, code, jobs] of [
  ['SIGINT', 130, '1'],
  ['SIGTERM', 143, '2'],
] as const) {
  test(`explore: ${signal} mid-run (--jobs ${jobs}) prints the report of the seeds done, with the replay files of the failures found (not shrunk), and exits ${code}`, async () => {
    const out = join(dir, `sig${jobs}`);
    // Seeds enough for many minutes; timer-race fails first on seed 20.
    const args = [
      'explore',
      'examples/timer-race.yaml',
      '--runs',
      '2000000',
      '--jobs',
      jobs,
      '--json',
      '--out',
      out,
    ];
    const r = await interrupted(signal, args);
    assert.equal(r.code, code, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.interrupted, { signal, of: 2000000 });
    assert.ok(j.runs > 0 && j.runs < 2000000, String(j.runs));
    assert.equal(j.passed + j.failed, j.runs);
    assert.equal(j.failures[0].signature, 'bugcheck NdisSim_TimerFreedWhileSet');
    assert.equal(j.failures[0].shrunk, null);
    assert.ok(existsSync(j.failures[0].replay), j.failures[0].replay);
    assert.match(
      r.stderr,
      new RegExp(`ndis-sim: ${signal}: stopping; the report of the seeds done follows`),
      JSON.stringify(r.stderr),
    );
  });
}
