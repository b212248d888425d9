// The explorer under review: a failed worker, shrinking's budget on a long run, the
// signature of a run that broke the rule its expect: asks for, replay files away from
// the directory explore ran in, and --out.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { runOnce, shrink } from '../src/explore/explore.ts';
import { fmtRate, formatExploreReport, progressSteps } from '../src/explore/format.ts';
import { NDIS_STATUS_SUCCESS, NdisGetSystemUpTimeEx, NdisMSleep } from '../src/index.ts';
import { untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { scriptedDriver } from './helpers/scripted.ts';

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

/** Calls NdisMSleep in MiniportResetEx only after 20,000 s: a long log before the failure. */
const sleepsLate = scriptedDriver('sleeps-late', {
  registrationAttributes: { CheckForHangTimeInSeconds: 1 },
  checkForHang: () => true,
  reset: () => {
    if (NdisGetSystemUpTimeEx() > 20_000_000) NdisMSleep(10);
    return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
  },
});

function lateSetup() {
  const drivers = [sleepsLate];
  const text = 'until: 6h\nprotocols: [{ name: tcpip }]\ndevices:\n  - { name: nic0, driver: sleeps-late }\n';
  const scenario = parseScenarioText(text, 'late.yaml', driverNames(drivers));
  return { scenario, drivers, untilNs: untilNs(scenario), verifier: 'bugcheck' as const };
}

test('shrink: a budget spent early ends the shrinking (a run of 60,000 decisions, 5 runs)', {
  timeout: 60_000,
}, () => {
  const setup = lateSetup();
  const t0 = performance.now();
  const s = shrink(setup, 1, 5);
  const ms = performance.now() - t0;
  assert.equal(s.runs, 5);
  assert.equal(s.budgetSpent, true);
  assert.equal(s.outcome.signature, 'bugcheck Irql_Miniport_Driver_Function');
  assert.ok(s.from.decisions > 50_000, `${s.from.decisions} decisions`);
  // Six runs of about 0.4 s each; the passes after the budget used to go on for hours.
  assert.ok(ms < 20_000, `${Math.round(ms)} ms`);
});

function gallerySetup(expect: string, verifier: 'bugcheck' | 'collect' = 'bugcheck') {
  const text = `until: 3s
devices:
  - { name: nic0, driver: bad-halt-timer-set }
actions:
  - { at: 1s, do: remove, device: nic0 }
expect:
${expect}`;
  const scenario = parseScenarioText(text, 'gallery.yaml', driverNames([]));
  return { scenario, drivers: [], untilNs: untilNs(scenario), verifier };
}

test('judge: a run that breaks the rule its expect: asks for fails by the other expectations, not by that rule', () => {
  // The gallery's CancelTimerObject driver, expected to break its rule and to leave 3 dumps.
  for (const verifier of ['bugcheck', 'collect'] as const) {
    const asked = runOnce(gallerySetup('  rule: CancelTimerObject\n  dumps: 3', verifier), 1);
    assert.equal(asked.outcome.kind, 'fail');
    assert.equal(asked.outcome.signature, 'expect dumps<3', verifier);
    assert.match(asked.outcome.detail, /^dumps: expected 3, got 0$/);
    // Expected to pass: the rule it breaks names the failure.
    const unasked = runOnce(gallerySetup('  dumps: 0'), 1);
    assert.equal(unasked.outcome.signature, 'bugcheck CancelTimerObject');
    // Expected to break another rule: the one it broke names the failure.
    const other = runOnce(gallerySetup('  rule: Irql_Miniport_Driver_Function', verifier), 1);
    assert.equal(
      other.outcome.signature,
      `${verifier === 'collect' ? 'violations' : 'bugcheck'} CancelTimerObject`,
    );
  }
});

test('replay from another directory: the file names its --driver modules relative to itself, so it replays from anywhere; a file of an older ndis-sim (paths from where explore ran) still replays from there', () => {
  const out = join(dir, 'r');
  const driver = 'test/fixtures/sleeps-in-reset.ts';
  const e = cli([
    'explore',
    'test/fixtures/sleeps-in-reset.yaml',
    '--driver',
    driver,
    '--runs',
    '5',
    '--out',
    out,
  ]);
  assert.equal(e.status, 1, e.stderr);
  const file = join(out, readdirSync(out)[0]!);
  const written = JSON.parse(readFileSync(file, 'utf8')) as { drivers: string[] };
  assert.deepEqual(written.drivers, [relative(out, join(root, driver))]);
  // `cd / && ndis-sim replay <file>` exited 2: the module was looked for from /.
  for (const cwd of [tmpdir(), '/', root]) {
    const away = cli(['replay', file, '--quiet'], { cwd });
    assert.equal(away.status, 1, `${cwd}: ${away.stderr}`);
    assert.match(away.stdout, /the trace is the one recorded/);
  }
  // An older file: its path from the directory explore ran in, tried after the file's own.
  const old = join(dir, 'old.replay.json');
  writeFileSync(old, JSON.stringify({ ...written, drivers: [driver] }));
  const there = cli(['replay', old, '--quiet']);
  assert.equal(there.status, 1, there.stderr);
  assert.match(there.stdout, /the trace is the one recorded/);
  const away = cli(['replay', old, '--quiet'], { cwd: tmpdir() });
  assert.equal(away.status, 2);
  assert.equal(
    away.stderr,
    `${old}: drivers[0]: expected the module "${driver}" relative to the replay file, got no such file: ${join(dir, driver)} (nor "${driver}" from ${tmpdir()}, as a file of an older ndis-sim names it); name the module with --driver\n`,
  );
  const named = cli(['replay', old, '--quiet', '--driver', join(root, driver)], { cwd: tmpdir() });
  assert.equal(named.status, 1, named.stderr);
  assert.match(named.stdout, /the trace is the one recorded/);
});

test('explore --out: a directory that cannot be made is bad input before the runs, not after them', () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const explore = (out: string, runs: string) =>
    cli(
      [
        'explore',
        'test/fixtures/sleeps-in-reset.yaml',
        '--driver',
        'test/fixtures/sleeps-in-reset.ts',
        '--runs',
        runs,
        '--jobs',
        '1',
        '--out',
        out,
      ],
      { timeoutMs: 30_000 },
    );
  const message = /^--out: expected a directory that can be written, got ".*" \((ENOTDIR|EEXIST|ENOENT)\)\n$/;
  // A million runs take minutes: the command must stop before them.
  for (const out of [file, join(file, 'sub')]) {
    const r = explore(out, '1000000');
    assert.equal(r.status, 2, `${out}: status ${r.status} after ${Math.round(r.ms)} ms`);
    assert.match(r.stderr, message);
  }
  // Linux: node 20's recursive mkdirSync loops for ever on a missing directory in
  // /proc, which root may write in as far as access() says.
  if (existsSync('/proc/self')) {
    const r = explore('/proc/ndis-sim-review-none', '5');
    assert.equal(r.status, 2, `status ${r.status} after ${Math.round(r.ms)} ms`);
    assert.match(r.stderr, message);
  }
});

test('explore progress: shown every 64 runs whatever steps the counts come in (workers after this thread report 256 at a time)', () => {
  const shown: number[] = [];
  let ended = 0;
  const tick = progressSteps(
    2000,
    64,
    (done) => shown.push(done),
    () => ended++,
  );
  // This thread ran 300 seeds one by one, then the workers report 256 at a time.
  for (let d = 1; d <= 300; d++) tick(d, 0);
  for (let d = 556; d < 2000; d += 256) tick(d, 0);
  tick(2000, 0);
  assert.deepEqual(shown, [64, 128, 192, 256, 556, 812, 1068, 1324, 1580, 1836]);
  assert.equal(ended, 1);
});

test('explore: --runs and --jobs say they take an integer from 1, whatever was wrong with the value', () => {
  const base = [
    'explore',
    'test/fixtures/sleeps-in-reset.yaml',
    '--driver',
    'test/fixtures/sleeps-in-reset.ts',
  ];
  for (const [flag, v] of [
    ['--runs', 'abc'],
    ['--runs', '0'],
    ['--jobs', '-1'],
    ['--jobs', '0'],
  ] as const) {
    const r = cli([...base, flag, v]);
    assert.equal(r.status, 2);
    const max = flag === '--jobs' ? 64 : 4294967295;
    assert.equal(r.stderr, `${flag}: expected an integer from 1 to ${max}, got "${v}"\n`);
  }
});

test('explore: one run and one shrinking run are "1 run"', () => {
  // The gallery's CancelTimerObject scenario, expecting 3 dumps: its first
  // shrinking run (all answers 0) fails the same way.
  const yaml = join(dir, 'one.yaml');
  writeFileSync(
    yaml,
    `until: 3s
devices:
  - { name: nic0, driver: bad-halt-timer-set }
actions:
  - { at: 1s, do: remove, device: nic0 }
expect: { rule: CancelTimerObject, dumps: 3 }
`,
  );
  const r = cli(['explore', yaml, '--runs', '1', '--out', join(dir, 'one')]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /seeds 1–1, 1 run in /);
  assert.match(r.stdout, /shrunk in 1 run: 0 choices not the simplest/);
});

test('explore --jobs: a seed whose driver callback never returns (a pure loop) is stopped after --seed-timeout of wall-clock time and reported as timed out; the other seeds run, --json holds it, exit 1', () => {
  const run = (jobs: string): ReturnType<typeof cli> =>
    cli(
      [
        'explore',
        'test/fixtures/sleeps-in-reset.yaml',
        '--driver',
        'test/fixtures/loops-forever.ts',
        '--runs',
        '8',
        '--jobs',
        jobs,
        '--seed-timeout',
        '3s',
        '--json',
        '--out',
        join(dir, `loop${jobs}`),
      ],
      { timeoutMs: 60_000 },
    );
  const r = run('2');
  assert.equal(r.status, 1, `status ${r.status} after ${Math.round(r.ms)} ms; ${r.stderr}`);
  // A report a script can parse (it was empty), with the seeds after the stuck one run too.
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.timedOut, { seeds: [3], limitMs: 3000 });
  assert.equal(j.runs, 8);
  assert.equal(j.passed + j.failed + j.timedOut.seeds.length, 8);
  // Stopped soon after the limit, not at the end of a hang.
  assert.ok(r.ms < 30_000, `${Math.round(r.ms)} ms`);
  // The same report (but for the wall-clock fields and the thread count) with 3 workers.
  const wall = (x: Record<string, unknown>) => ({ ...x, wallMs: 0, shrinkMs: 0, workers: 0 });
  const r3 = run('3');
  assert.equal(r3.status, 1, r3.stderr);
  assert.deepEqual(wall(JSON.parse(r3.stdout)), wall(j));
  // The limit is a duration above 0.
  const bad = cli([
    'explore',
    'test/fixtures/sleeps-in-reset.yaml',
    '--driver',
    'test/fixtures/loops-forever.ts',
    '--seed-timeout',
    '0s',
  ]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^--seed-timeout: expected a duration above 0, got "0s"/);
});

test("explore --seed-timeout: refused with --jobs 1, whose seeds nothing can stop; without --jobs every seed runs in worker threads, the first second's too, and a hang is stopped", () => {
  const base = [
    'explore',
    'test/fixtures/sleeps-in-reset.yaml',
    '--driver',
    'test/fixtures/loops-forever.ts',
  ];
  const one = cli([...base, '--jobs', '1', '--seed-timeout', '3s']);
  assert.equal(one.status, 2, one.stderr);
  assert.equal(
    one.stderr,
    "--seed-timeout: expected it with --jobs 2 or more, or without --jobs (a seed that runs in the command's own thread cannot be stopped), got --jobs 1\n",
  );
  // Seed 3 hangs at once, within the first second that the command's thread would
  // otherwise run itself, unwatched.
  const r = cli([...base, '--runs', '8', '--seed-timeout', '3s', '--out', join(dir, 'loop-nojobs')], {
    timeoutMs: 60_000,
  });
  assert.equal(r.status, 1, `status ${r.status} after ${Math.round(r.ms)} ms; ${r.stderr}`);
  assert.match(r.stdout, /\n {2}7 passed, 0 failed, 1 timed out\n/);
  // Only slow or never returning: the message says what is known, that it took longer.
  assert.match(
    r.stdout,
    /\n {2}timed out: seed 3: took longer than 3 s of wall-clock time in a worker thread and was stopped \(a driver callback that never returns, or a seed slower than the limit\)\n/,
  );
  assert.ok(r.ms < 30_000, `${Math.round(r.ms)} ms`);
});

test('explore report: a rate below 1 run a second is shown, not rounded to "0 runs/s"; from 10 a second, whole numbers as the README quotes them', () => {
  const report = {
    runs: 2,
    passed: 2,
    failed: 0,
    notModelled: null,
    groups: [],
    events: 90,
    situations: [],
    timedOut: [],
  };
  const o = { color: false, file: 'x.yaml', firstSeed: 1, shrinkMs: 0, strategy: null, replays: new Map() };
  const [slow] = formatExploreReport(report, { ...o, wallMs: 5000 });
  assert.equal(slow, 'Explored x.yaml: seeds 1–2, 2 runs in 5.00 s  (0.4 runs/s, 18 events/s)');
  const [fast] = formatExploreReport({ ...report, runs: 300, events: 34_280 }, { ...o, wallMs: 200 });
  assert.match(fast!, /\(1,500 runs\/s, 171,400 events\/s\)$/);
  assert.deepEqual([0, 0.0004, 0.043, 0.4, 2.5, 9.94, 10, 1534.6].map(fmtRate), [
    '0',
    '< 0.001',
    '0.043',
    '0.4',
    '2.5',
    '9.9',
    '10',
    '1,535',
  ]);
});
