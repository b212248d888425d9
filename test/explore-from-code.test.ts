// Exploring from code (README "Exploring from code"): exploreScenario from
// 'ndis-sim/scenario' runs what `ndis-sim explore` runs, through the same code
// (src/explore/session.ts), and gives the report `explore --json` prints, each
// failure's replay file as text, and the report's text for an assertion's message.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { timerRace, timerRaceFixed } from '../examples/timer-race.ts';
import { pretenuringIsOff } from '../src/explore/tuning.ts';
import { InputError, ns } from '../src/index.ts';
import { type Exploration, exploreScenario, type FailureJson } from '../src/scenario.ts';
import { cli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-explore-code-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const scenario = 'examples/timer-race.yaml';
const driver = 'examples/timer-race.ts';

/** What does not depend on the wall clock or on where the files went. */
function stable(
  r: Omit<Exploration, 'text' | 'failures'> & { text?: string; failures: readonly FailureJson[] },
) {
  const { wallMs, shrinkMs, ndisSim, failures, text, ...rest } = r;
  return { ...rest, failures: failures.map(({ replay, report, ...f }) => f) };
}

test('R8.6 exploreScenario finds the timer race of examples/ with the seeds, groups, shrunk choices and replay file `ndis-sim explore` gives', async () => {
  const cliOut = join(dir, 'cli');
  const c = cli('explore', scenario, '--driver', driver, '--runs', '120', '--json', '--out', cliOut);
  assert.equal(c.status, 1, c.stderr);
  const fromCli = JSON.parse(c.stdout) as Exploration;
  const out = join(dir, 'code');
  const r = await exploreScenario(scenario, { driverFiles: [driver], runs: 120, out });
  assert.equal(r.failed, 4);
  assert.deepEqual(r.failures[0]!.seeds, [20, 24, 56, 93]);
  assert.equal(r.failures[0]!.rule, 'NdisSim_TimerFreedWhileSet');
  assert.deepEqual(
    r.failures[0]!.shrunk?.choices.map((x) => x.site),
    // The timer's DPC goes to the CPU the halt's thread is not on: on its own CPU the
    // DPC would run before that thread went on (its CPU's DPCs come first), and the
    // callback would be done when MiniportHaltEx cancels the timer.
    [
      'WorkerLatency',
      'PnpLatency',
      'WorkerLatency',
      'WorkerLatency',
      'WorkerLatency',
      'WorkerLatency',
      'WorkerLatency',
      'WorkerLatency',
      'Cpu',
      'DpcLatency',
    ],
  );
  const { replayText, ...f } = r.failures[0]!;
  assert.deepEqual(stable({ ...r, failures: [f] }), stable(fromCli));
  // The replay file: the same text as the command wrote, written where `out` says.
  const written = join(out, 'timer-race.seed20.replay.json');
  assert.equal(f.replay, written);
  assert.equal(readFileSync(written, 'utf8'), replayText);
  assert.equal(replayText, readFileSync(fromCli.failures[0]!.replay!, 'utf8'));
  const rp = cli('replay', written, '--quiet');
  assert.equal(rp.status, 1, rp.stderr);
  assert.match(rp.stdout, /the trace is the one recorded/);
  // The text: what the command prints, for an assertion's message.
  assert.match(r.text, /^Explored examples\/timer-race\.yaml: seeds 1–120, 120 runs in/);
  assert.match(r.text, /shrunk in \d+ runs: 10 choices not the simplest/);
  assert.match(
    r.text,
    /decision \d+ at [\d.]+ s: DpcLatency for DPC of timer TimerFunction of poll0 \(timer-race\) answered 1 of 0–3/,
  );
  assert.ok(r.text.includes(`replay: ndis-sim replay ${written}`), r.text);
  assert.match(
    r.text,
    /seed 20 as it ran: ndis-sim run examples\/timer-race\.yaml --driver examples\/timer-race\.ts --seed 20/,
  );
});

test('R8.6 exploreScenario with drivers as objects: the same report; no file unless `out` says; the fixed driver passes every seed', async () => {
  const seen: number[] = [];
  const r = await exploreScenario(scenario, {
    drivers: [timerRace, timerRaceFixed],
    runs: 60,
    shrinkRuns: 0,
    progress: (done) => seen.push(done),
  });
  assert.deepEqual(
    r.failures.map((f) => [f.signature, f.seeds, f.shrunk, f.replay]),
    [['bugcheck NdisSim_TimerFreedWhileSet', [20, 24, 56], null, null]],
  );
  assert.equal(seen.at(-1), 60);
  // A replay file names no module for drivers given as objects: `replay --driver` does.
  // It records the names of those the scenario uses (not timer-race-fixed), so that a
  // replay without --driver says what is missing and how to give it (exit 2).
  const file = join(dir, 'objects.replay.json');
  writeFileSync(file, r.failures[0]!.replayText);
  const written = JSON.parse(r.failures[0]!.replayText) as { drivers: string[]; driverObjects?: string[] };
  assert.deepEqual([written.drivers, written.driverObjects], [[], ['timer-race']]);
  const bare = cli('replay', file, '--quiet');
  assert.equal(bare.status, 2, bare.stderr);
  assert.equal(
    bare.stderr.trim(),
    `${file}: driverObjects: expected driver modules the replay can load, got drivers exploreScenario was given as objects (timer-race), which a replay file cannot name; replay with --driver naming the module that exports them (ndis-sim replay ${file} --driver <module>), or explore from code with driverFiles: [<module>] instead of drivers: a file written then names its modules`,
  );
  assert.equal(bare.stdout, '', 'nothing ran');
  const given = cli('replay', file, '--driver', driver, '--quiet');
  assert.equal(given.status, 1, given.stderr);
  assert.match(given.stdout, /the trace is the one recorded/);
  // No command can name drivers given as objects.
  assert.doesNotMatch(r.text, /as it ran/);
  const text = readFileSync(scenario, 'utf8').replace(
    '    driver: timer-race\n',
    '    driver: timer-race-fixed\n',
  );
  const fixed = await exploreScenario('fixed.yaml', { text, drivers: [timerRace, timerRaceFixed], runs: 60 });
  assert.deepEqual([fixed.passed, fixed.failed, fixed.failures], [60, 0, []]);
});

test('exploreScenario turns off V8 allocation-site pretenuring for its process (src/explore/tuning.ts)', async () => {
  // Other tests of this file may have explored first; this one is about the state after one.
  await exploreScenario(scenario, { drivers: [timerRace], runs: 2, shrinkRuns: 0 });
  assert.equal(pretenuringIsOff(), true);
});

test("replay files never overwrite another failure's: a name taken by other contents goes to -2, -3 …; the same contents keep their file", async () => {
  const out = join(dir, 'names');
  const o = { driverFiles: [driver], runs: 30, out, html: true };
  const first = join(out, 'timer-race.seed20.replay.json');
  const a = await exploreScenario(scenario, o);
  assert.equal(a.failures[0]!.replay, first);
  const kept = readFileSync(first, 'utf8');
  // The same exploration again: the same file, left as it was.
  assert.equal((await exploreScenario(scenario, o)).failures[0]!.replay, first);
  // Another exploration whose seed 20 fails too, unshrunk: a file of its own, beside.
  const b = await exploreScenario(scenario, { ...o, shrinkRuns: 0 });
  const second = join(out, 'timer-race.seed20-2.replay.json');
  assert.equal(b.failures[0]!.replay, second);
  assert.equal(b.failures[0]!.report, join(out, 'timer-race.seed20-2.html'));
  assert.ok(b.text.includes(`replay: ndis-sim replay ${second}`), b.text);
  assert.equal(readFileSync(second, 'utf8'), b.failures[0]!.replayText);
  // Another scenario of the same name: the next one.
  const elsewhere = join(dir, 'elsewhere', 'timer-race.yaml');
  const c = await exploreScenario(elsewhere, { ...o, text: readFileSync(scenario, 'utf8') });
  assert.equal(c.failures[0]!.replay, join(out, 'timer-race.seed20-3.replay.json'));
  assert.equal(readFileSync(first, 'utf8'), kept);
  assert.deepEqual(readdirSync(out).sort(), [
    'timer-race.seed20-2.html',
    'timer-race.seed20-2.replay.json',
    'timer-race.seed20-3.html',
    'timer-race.seed20-3.replay.json',
    'timer-race.seed20.html',
    'timer-race.seed20.replay.json',
  ]);
});

/** The problems of the InputError `f` throws. */
async function problems(f: () => Promise<unknown>): Promise<string[]> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    return e.problems;
  }
  assert.fail('no InputError');
}

test('exploreScenario: bad input throws the InputError the command prints, before any run, with the options named as in code', async () => {
  // A scenario's problems: the lines `ndis-sim explore` prints, word for word.
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'until: 1s\ndevices: [{ name: nic0, driver: timer-rac }]\n');
  const c = cli('explore', bad, '--driver', driver);
  assert.equal(c.status, 2);
  const got = await problems(() => exploreScenario(bad, { drivers: [timerRace] }));
  // The same, but for how your own drivers are given: options, not --driver (T9).
  assert.deepEqual(
    got,
    c.stderr
      .trimEnd()
      .replace('loaded with --driver <module>', 'passed in drivers: [...] or driverFiles: [...]')
      .split('\n'),
  );
  assert.match(got[0]!, /driver: expected .*did you mean timer-race/);
  const none = join(dir, 'none.yaml');
  assert.deepEqual(await problems(() => exploreScenario(none)), [cli('explore', none).stderr.trimEnd()]);
  // The options, named as the code names them where the command names its flags.
  assert.deepEqual(await problems(() => exploreScenario(scenario, { driverFiles: [driver], runs: 0 })), [
    'runs: expected an integer from 1 to 4294967295, got 0',
  ]);
  assert.deepEqual(await problems(() => exploreScenario(scenario, { driverFiles: [driver], cpus: 65 })), [
    'cpus: expected an integer from 1 to 64, got 65',
  ]);
  assert.deepEqual(
    await problems(() =>
      exploreScenario(scenario, { driverFiles: [driver], firstSeed: 2 ** 32 - 5, runs: 10 }),
    ),
    ['runs: expected seeds up to 4294967295, got firstSeed 4294967291 and runs 10'],
  );
  assert.deepEqual(await problems(() => exploreScenario(scenario, { driverFiles: [driver], depth: 3 })), [
    'depth: expected it only with strategy deviations',
  ]);
  assert.deepEqual(
    await problems(() => exploreScenario(scenario, { driverFiles: [driver], until: 'soon' })),
    ['until: expected a duration such as "30s", "500ms" or "1h", got "soon"'],
  );
  assert.deepEqual(await problems(() => exploreScenario(scenario, { drivers: [timerRace], jobs: 2 })), [
    'jobs: expected 1 with drivers given as objects (a worker thread loads its drivers from driverFiles), got 2',
  ]);
  assert.deepEqual(
    await problems(() =>
      exploreScenario(scenario, { driverFiles: [driver], verifier: 'strict' as 'collect' }),
    ),
    ['verifier: expected bugcheck or collect, got "strict"'],
  );
  // A module is named by its place in driverFiles, where the command says --driver (T9).
  assert.deepEqual(await problems(() => exploreScenario(scenario, { driverFiles: ['examples/none.ts'] })), [
    cli('explore', scenario, '--driver', 'examples/none.ts')
      .stderr.trimEnd()
      .replace(/^--driver:/, 'driverFiles[0]:'),
  ]);
  assert.match(
    (await problems(() => exploreScenario(scenario, { driverFiles: [driver, 'examples/none.ts'] })))[0]!,
    /^driverFiles\[1\]: expected a module file \(\.ts or \.js\), got "examples\/none\.ts": no such file from /,
  );
  assert.deepEqual(
    await problems(() => exploreScenario(scenario, { driverFiles: ['test/fixtures/sleeps-in-reset.yaml'] })),
    ['driverFiles[0]: expected a module file (.ts or .js), got "test/fixtures/sleeps-in-reset.yaml"'],
  );
  assert.deepEqual(await problems(() => exploreScenario(scenario, { driverFiles: ['src/sim/limits.ts'] })), [
    `driverFiles[0]: expected a module that exports a DriverModule ({ name, load() }), got exports ${Object.keys(await import('../src/sim/limits.ts')).join(', ')}`,
  ]);
  // A driver object and a module's driver of the same name.
  assert.deepEqual(
    await problems(() =>
      exploreScenario(scenario, {
        drivers: [{ ...timerRace, load: timerRaceFixed.load }],
        driverFiles: [driver],
      }),
    ),
    ["driverFiles[0]: driver name 'timer-race' is taken by drivers[0]"],
  );
  // An `out` that cannot be a directory is refused before the runs, as --out is.
  assert.deepEqual(
    await problems(() => exploreScenario(scenario, { driverFiles: [driver], out: 'package.json/x' })),
    ['out: expected a directory that can be written, got "package.json/x" (ENOTDIR)'],
  );
});

test('exploreScenario with jobs: a seed whose driver callback never returns is reported in timedOut, and the other seeds run', async () => {
  const loop = await exploreScenario('test/fixtures/sleeps-in-reset.yaml', {
    driverFiles: ['test/fixtures/loops-forever.ts'],
    runs: 6,
    jobs: 2,
    seedTimeout: '2s',
  });
  assert.deepEqual(loop.timedOut, { seeds: [3], limitMs: 2000 });
  assert.equal(loop.runs, 6);
  assert.equal(loop.passed, 5);
  // seedTimeout alone: the seeds run in worker threads, which are watched.
  const alone = await exploreScenario('test/fixtures/sleeps-in-reset.yaml', {
    driverFiles: ['test/fixtures/loops-forever.ts'],
    runs: 6,
    seedTimeout: '2s',
  });
  assert.deepEqual(alone.timedOut, { seeds: [3], limitMs: 2000 });
  // No worker thread would watch a seed: refused, not ignored.
  assert.deepEqual(
    await problems(() =>
      exploreScenario('test/fixtures/sleeps-in-reset.yaml', {
        driverFiles: ['test/fixtures/loops-forever.ts'],
        jobs: 1,
        seedTimeout: '2s',
      }),
    ),
    [
      "seedTimeout: expected it with jobs 2 or more, or without jobs (a seed that runs in the command's own thread cannot be stopped), got jobs 1",
    ],
  );
  assert.deepEqual(
    await problems(() => exploreScenario(scenario, { drivers: [timerRace], seedTimeout: '2s' })),
    [
      'seedTimeout: expected it only with drivers loaded from driverFiles (drivers given as objects run in this thread, where a seed cannot be stopped)',
    ],
  );
});

test('README "Exploring from code": its example is examples/explore-from-code.ts, and as a node:test file it fails showing the shrunk choices and the replay command, its file in a directory of its own under tmpdir(), none in the working directory', () => {
  const readme = readFileSync('README.md', 'utf8');
  const file = readFileSync('examples/explore-from-code.ts', 'utf8');
  const block = /## Exploring from code\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.equal(block, file, 'the README block and examples/explore-from-code.ts differ');
  // A leftover of an older example's run would hide a new one.
  rmSync('explored', { recursive: true, force: true });
  // Its own test run, not a part of this one's report (the runner's context variable unset).
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', 'examples/explore-from-code.ts'], {
    encoding: 'utf8',
    env,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /not ok 1 - timer-race survives 300 schedules/);
  assert.match(
    r.stdout,
    /1\. bugcheck NdisSim_TimerFreedWhileSet at examples\/timer-race\.ts:111:7 \(in MiniportHaltEx\) {2}12 runs: seed 20, 24, 56/,
  );
  assert.match(
    r.stdout,
    /decision \d+ at [\d.]+ s: DpcLatency for DPC of timer TimerFunction of poll0 \(timer-race\) answered 1 of 0–3/,
  );
  // Its replay file goes to a new directory under tmpdir(), which it names, and nothing
  // to the working directory it ran in (it wrote explored/ there).
  const out = /# replay files go to (.+)/.exec(r.stdout)?.[1] ?? '';
  assert.ok(out.startsWith(join(tmpdir(), 'ndis-sim-explored-')), r.stdout);
  after(() => rmSync(out, { recursive: true, force: true }));
  const replay = join(out, 'timer-race.seed20.replay.json');
  assert.ok(r.stdout.includes(`replay: ndis-sim replay ${replay}`), r.stdout);
  assert.deepEqual(readdirSync(out), ['timer-race.seed20.replay.json']);
  assert.equal(existsSync('explored'), false);
});

test('T3 exploreScenario takes until and seedTimeout as a number of whole nanoseconds, as World.run does (text still needs its unit); the run command of a failure says --until with ns', async () => {
  // Seeds 20 and 24 break R8.6 (NdisSim_TimerFreedWhileSet) within the scenario's 1 s.
  const o = { driverFiles: [driver], firstSeed: 20, runs: 5, shrinkRuns: 0 };
  const text = await exploreScenario(scenario, { ...o, until: '1s' });
  const number = await exploreScenario(scenario, { ...o, until: 1 * ns.s });
  assert.deepEqual(number.failures[0]!.seeds, [20, 24]);
  assert.deepEqual(
    number.failures.map((f) => f.seeds),
    text.failures.map((f) => f.seeds),
  );
  assert.ok(number.text.includes('--until 1000000000ns --seed 20'), number.text);
  // 30 ms, before the timer race gives up at its 40th 1 ms poll: as "30ms" ends, not as 1 s.
  const short = await exploreScenario(scenario, { ...o, until: 30 * ns.ms });
  const shortText = await exploreScenario(scenario, { ...o, until: '30ms' });
  assert.deepEqual(
    short.failures.map((f) => [f.signature, f.seeds]),
    shortText.failures.map((f) => [f.signature, f.seeds]),
  );
  assert.notDeepEqual(
    short.failures.map((f) => f.signature),
    number.failures.map((f) => f.signature),
  );
  assert.deepEqual(await problems(() => exploreScenario(scenario, { ...o, until: 1.5 })), [
    'until: expected whole nanoseconds (such as 30 * ns.s) or a duration such as "30s", got 1.5',
  ]);
  assert.deepEqual(await problems(() => exploreScenario(scenario, { ...o, until: 0 })), [
    'until: expected a duration above 0, got 0',
  ]);
  assert.deepEqual(await problems(() => exploreScenario(scenario, { ...o, until: '5' })), [
    'until: expected a duration with a unit such as 30s or 500ms (ns, us, ms, s, min, h), got "5"',
  ]);
  assert.deepEqual(await problems(() => exploreScenario(scenario, { ...o, until: 2 ** 60 })), [
    `until: expected a duration of at most 2501h (the clock counts whole nanoseconds up to 2^53 - 1, about 104 days), got ${2 ** 60}`,
  ]);
  // seedTimeout too: a number passes as nanoseconds, to the check that comes after it.
  assert.deepEqual(
    await problems(() => exploreScenario(scenario, { ...o, jobs: 1, seedTimeout: 2 * ns.s })),
    [
      "seedTimeout: expected it with jobs 2 or more, or without jobs (a seed that runs in the command's own thread cannot be stopped), got jobs 1",
    ],
  );
  assert.deepEqual(await problems(() => exploreScenario(scenario, { ...o, seedTimeout: -1 })), [
    'seedTimeout: expected whole nanoseconds (such as 30 * ns.s) or a duration such as "30s", got -1',
  ]);
});
