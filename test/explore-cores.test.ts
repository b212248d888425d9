// The explorer's use of the machine, outside the simulation: when the seeds go to
// worker threads, how many, what the command says while they run, and what it keeps
// when it is interrupted. None of it changes what a seed gives.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-explore-cores-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const scenario = 'test/fixtures/sleeps-in-reset.yaml';

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete e.FORCE_COLOR;
  return e;
}

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['bin/ndis-sim.js', ...args], {
    encoding: 'utf8',
    env: env(),
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
