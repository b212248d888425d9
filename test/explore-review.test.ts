// The explorer under review: a failed worker, shrinking's budget on a long run, the
// signature of a run that broke the rule its expect: asks for, replay files away from
// the directory explore ran in, and --out.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-explore-review-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = resolve('.');

function cli(
  args: string[],
  o: { cwd?: string; timeoutMs?: number } = {},
): { status: number | null; stdout: string; stderr: string; ms: number } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bin/ndis-sim.js'), ...args], {
    encoding: 'utf8',
    env,
    cwd: o.cwd ?? root,
    timeout: o.timeoutMs ?? 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

test('explore --jobs: a worker that fails ends the command at once, the other workers with it', () => {
  // The second worker's slice alone would take minutes; the first fails as it starts.
  const r = cli(
    [
      'explore',
      'test/fixtures/sleeps-in-reset.yaml',
      '--driver',
      'test/fixtures/sleeps-in-reset-first-worker-throws.ts',
      '--runs',
      '400000',
      '--jobs',
      '2',
      '--out',
      join(dir, 'w'),
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(r.status, 2, `status ${r.status} after ${Math.round(r.ms)} ms; ${r.stderr}`);
  assert.match(r.stderr, /--driver: cannot load .*this module fails in the first worker/);
});
