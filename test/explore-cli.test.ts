// `ndis-sim explore` and `ndis-sim replay` on the command line: exit codes, the replay
// file, and a replay's trace against `run --seed`'s, byte for byte.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, test } from 'node:test';
import type { ExploreJson } from '../src/scenario.ts';
import { cli } from './helpers/cli.ts';

const scenario = 'test/fixtures/sleeps-in-reset.yaml';
const driver = 'test/fixtures/sleeps-in-reset.ts';
const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-explore-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('explore: failures found exit 1, grouped, shrunk and written as a replay file that replays (R8.1)', () => {
  const out = join(dir, 'a');
  const r = cli('explore', scenario, '--driver', driver, '--runs', '30', '--out', out, '--html');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /seeds 1–30, 30 runs/);
  assert.match(r.stdout, /\d+ passed, \d+ failed/);
  assert.match(
    r.stdout,
    /1\. bugcheck Irql_Miniport_Driver_Function at test\/fixtures\/sleeps-in-reset\.ts:\d+:\d+ \(in MiniportResetEx\) {2}\d+ runs: seed /,
  );
  assert.match(r.stdout, /shrunk in \d+ runs: 1 choice not the simplest/);
  assert.match(r.stdout, /decision \d+ at [\d.]+ s: CallbackIrql answered 1 of 0–1/);
  // The protocol goes, and the run's 6 s to the round 5 s (the failure comes at 2 s).
  assert.match(r.stdout, /scenario shrunk in \d+ runs: took out protocols\[0\]; lowered until: 6s → 5s\n/);
  const files = readdirSync(out).sort();
  assert.equal(files.length, 2);
  const file = join(out, files[1]!);
  assert.ok(r.stdout.includes(`replay: ndis-sim replay ${file}`), r.stdout);
  // --html: the shrunk run's report beside its replay file.
  const report = join(out, files[0]!);
  assert.equal(report, file.replace(/\.replay\.json$/, '.html'));
  assert.ok(r.stdout.includes(`report: ${report}`), r.stdout);
  const asRan = /seed (\d+) as it ran: (ndis-sim run .*)\n/.exec(r.stdout);
  assert.equal(asRan?.[2], `ndis-sim run ${scenario} --driver ${driver} --seed ${asRan?.[1]}`);
  const perfetto = join(dir, 'replay-perfetto.json');
  const html = join(dir, 'replay.html');
  const rp = cli('replay', file, '--quiet', '--perfetto', perfetto, '--html', html);
  assert.equal(rp.status, 1, rp.stderr);
  const pf = JSON.parse(readFileSync(perfetto, 'utf8')) as { traceEvents: { name: string; s?: string }[] };
  assert.ok(pf.traceEvents.some((e) => e.s === 'g' && e.name === 'Irql_Miniport_Driver_Function'));
  const page = readFileSync(html, 'utf8');
  assert.match(page, /shrunk from seed \d+ · ended at/);
  assert.match(page, /<div class="rule" id="rule-Irql_Miniport_Driver_Function">/);
  // The same run as explore's report of it, byte for byte.
  assert.equal(readFileSync(report, 'utf8'), page);
  assert.match(
    rp.stdout,
    /Verdict: bug check DRIVER_IRQL_NOT_LESS_OR_EQUAL \(Irql_Miniport_Driver_Function\)/,
  );
  assert.match(rp.stdout, /the trace is the one recorded/);
  assert.match(rp.stdout, /Summary {2}shrunk from seed \d+, ended at/);
  assert.match(
    rp.stdout,
    /Choices not the simplest: 1 of \d+ \(shrunk: the failure needs each\)\n {2}decision \d+ at 2\.\d+ s: CallbackIrql answered 1 of 0–1\n/,
  );
});

test('replay: an unshrunk failure replays with the trace `run --seed` writes, byte for byte', () => {
  const out = join(dir, 'b');
  const r = cli('explore', scenario, '--driver', driver, '--runs', '5', '--no-shrink', '--out', out);
  assert.equal(r.status, 1, r.stderr);
  const file = join(out, readdirSync(out)[0]!);
  const seed = (JSON.parse(readFileSync(file, 'utf8')) as { seed: number }).seed;
  const a = join(dir, 'replay.jsonl');
  const b = join(dir, 'run.jsonl');
  const rp = cli('replay', file, '--quiet', '--trace', a);
  assert.equal(rp.status, 1);
  assert.match(
    rp.stdout,
    /Choices not the simplest: \d+ of \d+ \(the seed's own; explore shrinks them\)\nReplayed/,
  );
  assert.equal(
    cli('run', scenario, '--driver', driver, '--seed', String(seed), '--quiet', '--trace', b).status,
    1,
  );
  const ta = readFileSync(a, 'utf8');
  assert.ok(ta.length > 1000);
  assert.equal(ta, readFileSync(b, 'utf8'));
});

test('replay: a file whose decisions no longer fit the run exits 2 naming the decision; a changed trace exits 1', () => {
  const out = join(dir, 'c');
  assert.equal(
    cli('explore', scenario, '--driver', driver, '--runs', '5', '--no-shrink', '--out', out).status,
    1,
  );
  const file = join(out, readdirSync(out)[0]!);
  const data = JSON.parse(readFileSync(file, 'utf8')) as { decisions: number[][]; trace: { sha256: string } };
  // Beside the file explore wrote: the file names its driver module from its own directory.
  // Edited without its content digest (which would call it damaged: the next test), as
  // a file of an older ndis-sim: the run now asks another question first.
  const { contentSha256: _, ...old } = data as typeof data & { contentSha256?: string };
  const diverged = join(out, 'diverged.replay.json');
  const first = data.decisions[0]!;
  writeFileSync(
    diverged,
    JSON.stringify({ ...old, decisions: [[first[0], first[1]! + 1, 0], ...data.decisions.slice(1)] }),
  );
  // The output files checkWritable made before the run diverged are removed, not left empty.
  const outputs = [join(out, 'diverged.jsonl'), join(out, 'diverged.html')];
  const d = cli('replay', diverged, '--quiet', '--trace', outputs[0]!, '--html', outputs[1]!);
  assert.equal(d.status, 2, d.stdout);
  for (const f of outputs) assert.equal(existsSync(f), false, f);
  assert.match(
    d.stderr,
    /diverged\.replay\.json: decisions: replay diverged at decision 0: .*has changed since/,
  );
  // A file without the content digest whose trace digest is not the run's: the trace
  // differs, exit 1.
  const tampered = join(out, 'tampered.replay.json');
  writeFileSync(tampered, JSON.stringify({ ...old, trace: { ...data.trace, sha256: 'f'.repeat(64) } }));
  const t = cli('replay', tampered, '--quiet');
  assert.equal(t.status, 1);
  assert.match(t.stderr, /the trace differs from the one recorded/);
});

test('replay: a damaged file is a divergence, exit 2, never a fixed driver: an edited answer or trace digest (the content digest), a log cut short or its last answer set to 0, recorded decisions left unused', () => {
  const out = join(dir, 'damaged');
  const args = ['examples/timer-race.yaml', '--driver', 'examples/timer-race.ts', '--runs', '30', '--quiet'];
  assert.equal(cli('explore', ...args, '--out', out).status, 1);
  const file = join(out, readdirSync(out)[0]!);
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    decisions: [number, number, number][];
    trace: { sha256: string };
    contentSha256?: string;
  };
  assert.match(data.contentSha256 ?? '', /^[0-9a-f]{64}$/, 'explore writes the content digest');
  const n = data.decisions.length;
  assert.ok(n > 10);
  assert.notEqual(data.decisions[n - 1]![2], 0, 'explore drops the trailing answers 0');
  const replay = (name: string, edit: object) => {
    const f = join(out, `${name}.replay.json`);
    writeFileSync(f, JSON.stringify({ ...data, ...edit }));
    return cli('replay', f, '--quiet');
  };
  const last = data.decisions[n - 1]!;
  const other: [number, number, number] = [last[0], last[1], last[2] === 1 ? 2 % last[1] : 1];
  // With the content digest: any edit of what it covers is a damaged file.
  for (const [name, edit] of [
    ['answer', { decisions: [...data.decisions.slice(0, -1), other] }],
    ['trace', { trace: { ...data.trace, sha256: 'f'.repeat(64) } }],
  ] as const) {
    const r = replay(name, edit);
    assert.equal(r.status, 2, `${name}: ${r.stdout}`);
    assert.match(
      r.stderr,
      /contentSha256: expected the digest of the content explore recorded, got one that does not match it: the file is damaged/,
    );
  }
  // Without it (an older file): a log that ends at 0 and runs out, or decisions left over.
  const old = { contentSha256: undefined };
  // Cut after an answer 0 (explore never ends a log there): the run asks past it.
  let k = n - 1;
  while (data.decisions[k - 1]![2] !== 0) k--;
  const cut = replay('cut', { ...old, decisions: data.decisions.slice(0, k) });
  assert.equal(cut.status, 2, cut.stdout);
  assert.match(
    cut.stderr,
    new RegExp(
      `decisions: the replay file's decision log ran out at decision ${k} of the run; the file is damaged or the driver asks more questions now`,
    ),
  );
  const zero = replay('zero', { ...old, decisions: [...data.decisions.slice(0, -1), [last[0], last[1], 0]] });
  assert.equal(zero.status, 2, zero.stdout);
  assert.match(zero.stderr, new RegExp(`decision log ran out at decision ${n} of the run`));
  const long = replay('long', { ...old, decisions: [...data.decisions, [3, 4, 1], [3, 4, 0]] });
  assert.equal(long.status, 2, long.stdout);
  assert.match(
    long.stderr,
    new RegExp(
      `decisions: 2 recorded decisions were not used: the run ended after decision ${n} of the file's ${n + 2}`,
    ),
  );
  // The intact file still replays to the trace recorded.
  const intact = cli('replay', file, '--quiet');
  assert.equal(intact.status, 1);
  assert.match(intact.stdout, /the trace is the one recorded/);
});

test('explore --jobs: worker threads (loading the --driver module themselves) report what one thread reports', () => {
  const report = (jobs: string): string[] => {
    const r = cli(
      'explore',
      scenario,
      '--driver',
      driver,
      '--runs',
      '40',
      '--jobs',
      jobs,
      '--out',
      join(dir, `j${jobs}`),
    );
    assert.equal(r.status, 1, r.stderr);
    // The first line says how many worker threads ran the seeds.
    assert.equal(/, (\d+) worker threads\)/.exec(r.stdout)?.[1], jobs === '1' ? undefined : jobs);
    // All but the wall-clock figures of the first line, and the replay file's folder.
    return r.stdout
      .replace(/ in [\d.]+ s .*/, '')
      .replace(/ {2}shrinking took [\d.]+ s/, '')
      .replace(/j\d\//g, '')
      .split('\n');
  };
  const one = report('1');
  assert.ok(one.length > 6);
  assert.deepEqual(report('3'), one);
});

test('explore --json: the report as data, matching the seeds each run gives', () => {
  const out = join(dir, 'json');
  const r = cli('explore', scenario, '--driver', driver, '--runs', '12', '--json', '--out', out);
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout) as {
    format: string;
    ndisSim: string;
    runs: number;
    passed: number;
    failed: number;
    failures: {
      signature: string;
      seeds: number[];
      replay: string;
      shrunk: { choices: { site: string; answer: number; of: number; atNs: number }[] };
      reduced: { removed: string[]; lowered: string[] };
    }[];
  };
  assert.equal(j.runs, 12);
  // A format a tool can check, and the version that wrote it.
  assert.equal(j.format, 'ndis-sim explore 1');
  assert.match(j.ndisSim, /^\d+\.\d+\.\d+/);
  assert.equal(j.passed + j.failed, 12);
  const f = j.failures[0]!;
  assert.equal(f.signature, 'bugcheck Irql_Miniport_Driver_Function');
  assert.equal(f.seeds.length, j.failed);
  assert.deepEqual(
    f.shrunk.choices.map((c) => [c.site, c.answer, c.of]),
    [['CallbackIrql', 1, 2]],
  );
  assert.ok(f.shrunk.choices[0]!.atNs > 0);
  assert.deepEqual(f.reduced.removed, ['protocols[0]']);
  assert.deepEqual(f.reduced.lowered, ['until: 6s → 5s']);
  assert.equal(f.replay, join(out, `sleeps-in-reset.seed${f.seeds[0]}.replay.json`));
  // Each failing seed fails under `run --seed`, and the first passing one passes.
  assert.equal(cli('run', scenario, '--driver', driver, '--seed', String(f.seeds[0]), '--quiet').status, 1);
  const pass = [...Array(12).keys()].map((i) => i + 1).find((s) => !f.seeds.includes(s))!;
  assert.equal(cli('run', scenario, '--driver', driver, '--seed', String(pass), '--quiet').status, 0);
});

test('explore --strategy deviations: seed N is `run --seed N --strategy deviations` with the same depth', () => {
  const r = cli(
    'explore',
    scenario,
    '--driver',
    driver,
    '--runs',
    '60',
    '--strategy',
    'deviations',
    '--depth',
    '1',
    '--json',
    '--no-shrink',
    '--out',
    join(dir, 'dev'),
  );
  assert.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout) as {
    strategy: { kind: string; depth: number; horizon: number };
    failures: { seeds: number[] }[];
  };
  assert.equal(j.strategy.kind, 'deviations');
  assert.equal(j.strategy.depth, 1);
  const seeds = j.failures[0]!.seeds;
  const run = (seed: number, ...more: string[]) =>
    cli('run', scenario, '--driver', driver, '--seed', String(seed), '--quiet', ...more).status;
  assert.equal(run(seeds[0]!, '--strategy', 'deviations', '--depth', '1'), 1);
  const passing = [...Array(60).keys()].map((i) => i + 1).find((s) => !seeds.includes(s))!;
  assert.equal(run(passing, '--strategy', 'deviations', '--depth', '1'), 0);
  const depthAlone = cli('run', scenario, '--driver', driver, '--depth', '1');
  assert.equal(depthAlone.status, 2);
  assert.match(depthAlone.stderr, /^--depth: expected it only with --strategy deviations/);
});

test('explore: a scenario every seed passes exits 0 and writes nothing', () => {
  const out = join(dir, 'd');
  const r = cli('explore', 'examples/reset-storm.yaml', '--runs', '20', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /20 passed, 0 failed/);
  assert.doesNotMatch(r.stdout, /Failures/);
  assert.throws(() => readdirSync(out), /ENOENT/);
});

test('explore and replay: bad input exits 2 with the flag or file and what was expected', () => {
  const runs = cli('explore', scenario, '--driver', driver, '--runs', '0');
  assert.equal(runs.status, 2);
  assert.match(runs.stderr, /^--runs: expected an integer from 1 to 4294967295, got "0"/);
  const jobs = cli('explore', scenario, '--driver', driver, '--jobs', '65');
  assert.equal(jobs.status, 2);
  assert.match(jobs.stderr, /^--jobs: expected an integer from 1 to 64, got "65"/);
  const missing = cli('replay', join(dir, 'none.replay.json'));
  assert.equal(missing.status, 2);
  assert.match(
    missing.stderr,
    /none\.replay\.json: expected a replay file \(\.replay\.json\) that explore wrote, got no such file from .* \(ENOENT\)/,
  );
  const notReplay = cli('replay', 'package.json');
  assert.equal(notReplay.status, 2);
  assert.match(notReplay.stderr, /^package\.json: format: expected "ndis-sim replay 1"/);
});

test('replay of a failure the simplest schedule already has: no choice is needed, and it says so', () => {
  const file = join(dir, 'simplest.yaml');
  writeFileSync(file, 'until: 1s\ndevices: [{ name: nic0, driver: bad-status-before-registration }]\n');
  const out = join(dir, 'simplest');
  assert.equal(cli('explore', file, '--runs', '1', '--quiet', '--out', out).status, 1);
  const [replay] = readdirSync(out);
  const r = cli('replay', join(out, replay!), '--quiet');
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stdout,
    /Choices not the simplest: 0 of \d+ \(shrunk: the simplest schedule fails, so the failure needs no choice\)\n/,
  );
});

test('replay as a regression test: the same schedule with the fixed driver passes, exit 0, saying this schedule no longer fails and to explore again (review-explore #7); the buggy driver still exits 1; a driver that now fails otherwise (R8.4) is named with both failures', () => {
  const out = join(dir, 'fixed');
  const args = ['examples/timer-race.yaml', '--driver', 'examples/timer-race.ts', '--runs', '30', '--quiet'];
  assert.equal(cli('explore', ...args, '--out', out).status, 1);
  const file = join(out, readdirSync(out)[0]!);
  // The fixed driver under the name the scenario gives.
  const fixed = join(dir, 'fixed-as-timer-race.ts');
  writeFileSync(
    fixed,
    `import { timerRaceFixed } from '${join(process.cwd(), 'examples/timer-race.ts')}';\nexport const fixedUnderOldName = { ...timerRaceFixed, name: 'timer-race' };\n`,
  );
  const r = cli('replay', file, '--driver', fixed, '--quiet');
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /this schedule no longer fails \(recorded: bugcheck NdisSim_TimerFreedWhileSet at examples\/timer-race\.ts:\d+:\d+ \(in MiniportHaltEx\)\); explore again before calling the race fixed/,
  );
  assert.match(r.stderr, /the trace differs from the one recorded/);
  assert.equal(cli('replay', file, '--quiet').status, 1);
  // A driver that now fails otherwise (the halt no longer frees the timer, R8.4): the
  // verdict names the recorded failure and this run's, exit 1.
  const other = join(dir, 'timer-race-not-freed.ts');
  const source = readFileSync('examples/timer-race.ts', 'utf8');
  const leaky = source.replace('    N.NdisFreeTimerObject(a.poll);\n    return;', '    return;');
  assert.notEqual(leaky, source);
  writeFileSync(other, leaky);
  const o = cli('replay', file, '--driver', other, '--quiet');
  assert.equal(o.status, 1, o.stderr);
  assert.match(
    o.stdout,
    /the run fails otherwise than recorded: recorded: bugcheck NdisSim_TimerFreedWhileSet at examples\/timer-race\.ts:\d+:\d+ \(in MiniportHaltEx\); this run: bugcheck NdisSim_TimerNotFreed made in MiniportInitializeEx \(NdisAllocateTimerObject; timer function TimerFunction\)\n/,
  );
  assert.match(
    o.stderr,
    /the trace differs from the one recorded \(\d+ events against \d+; recorded: bugcheck NdisSim_TimerFreedWhileSet at examples\/timer-race\.ts:\d+:\d+ \(in MiniportHaltEx\); this run: bugcheck NdisSim_TimerNotFreed made in MiniportInitializeEx \(NdisAllocateTimerObject; timer function TimerFunction\)\)/,
  );
});

test("driverModules: explore loads the scenario's own module, in worker threads too; the replay file names it and replays without --driver", () => {
  const out = join(dir, 'modules');
  const r = cli(
    'explore',
    'examples/timer-race.yaml',
    '--runs',
    '30',
    '--jobs',
    '2',
    '--quiet',
    '--out',
    out,
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /bugcheck NdisSim_TimerFreedWhileSet/);
  // The command that shows a seed needs no --driver: the scenario names its module.
  assert.match(r.stdout, /as it ran: ndis-sim run examples\/timer-race\.yaml --seed \d+\n/);
  const file = join(out, readdirSync(out)[0]!);
  // Named from the replay file's directory, so it replays from anywhere.
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).drivers, [
    relative(out, resolve('examples/timer-race.ts')),
  ]);
  const again = cli('replay', file, '--quiet');
  assert.equal(again.status, 1, again.stderr);
  assert.match(again.stdout, /the trace is the one recorded/);
});

test('an injected event whose window starts after the run ends is bad input for explore and run, exit 2; --until that reaches it makes it good', () => {
  const file = join(dir, 'never.yaml');
  writeFileSync(
    file,
    'until: 1s\ndevices: [{ name: nic0, driver: healthy-nic }]\ninject:\n  - { do: surprise-remove, device: nic0, within: 2s..3s }\n',
  );
  for (const cmd of ['explore', 'run']) {
    const r = cli(cmd, file, '--quiet');
    assert.equal(r.status, 2, `${cmd}: ${r.stdout}`);
    assert.match(
      r.stderr,
      /never\.yaml: inject\[0\]\.within: expected a window that starts before the run ends at 1\.000000 s, got 2s\.\.3s: the event could never happen/,
    );
  }
  assert.equal(cli('explore', file, '--runs', '3', '--until', '4s', '--quiet').status, 0);
});

test('explore --cpus and run --cpus: every run has that many processors, the command that shows a seed says so, and the replay file holds it in its scenario', () => {
  const out = join(dir, 'cpus');
  const r = cli(
    'explore',
    scenario,
    '--driver',
    driver,
    '--runs',
    '20',
    '--cpus',
    '3',
    '--no-reduce',
    '--out',
    out,
  );
  assert.equal(r.status, 1, r.stderr);
  const asRan = /seed (\d+) as it ran: (ndis-sim run .*)\n/.exec(r.stdout);
  assert.equal(asRan?.[2], `ndis-sim run ${scenario} --driver ${driver} --cpus 3 --seed ${asRan?.[1]}`);
  const replay = JSON.parse(readFileSync(join(out, readdirSync(out)[0]!), 'utf8')) as {
    scenario: { text: string };
  };
  assert.match(replay.scenario.text, /^cpus: 3$/m);
  // The same seed with `run --cpus 3` is the run explore saw: it fails the same way.
  const run = cli('run', scenario, '--driver', driver, '--cpus', '3', '--seed', asRan![1]!, '--quiet');
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stdout, /Irql_Miniport_Driver_Function/);
  for (const bad of ['0', '65', 'two']) {
    const b = cli('explore', scenario, '--driver', driver, '--cpus', bad);
    assert.equal(b.status, 2, bad);
    assert.match(b.stderr, /--cpus: expected an integer from 1 to 64/);
  }
});

test("explore --json: every key of a real report (failures shrunk and reduced, an HTML report, deviations, a run not modelled) is in docs/model.md's table of the format", () => {
  const doc = readFileSync('docs/model.md', 'utf8');
  const section = doc.slice(doc.indexOf('### The `--json` report'), doc.indexOf('\n## The verifier'));
  assert.ok(section.length > 1000, 'the section is there');
  /** Every key path of `v`: `failures[].shrunk.runs`; an array's items as `[]`. */
  const paths = (v: unknown, at: string, into: Set<string>): Set<string> => {
    if (Array.isArray(v)) for (const x of v) paths(x, `${at}[]`, into);
    else if (v !== null && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        const p = at === '' ? k : `${at}.${k}`;
        into.add(p);
        paths(x, p, into);
      }
    return into;
  };
  const keys = new Set<string>();
  const json = (...args: string[]) => {
    const r = cli('explore', ...args, '--json', '--quiet');
    assert.ok(r.status !== null && r.status <= 2, `exit ${r.status}: ${r.stderr}`);
    // The type the section names, from the entry point it names.
    const report = JSON.parse(r.stdout) as ExploreJson;
    assert.equal(report.format, 'ndis-sim explore 1');
    paths(report, '', keys);
  };
  json(scenario, '--driver', driver, '--runs', '30', '--out', join(dir, 'json-a'), '--html');
  json(
    scenario,
    '--driver',
    driver,
    '--runs',
    '5',
    '--no-shrink',
    '--strategy',
    'deviations',
    '--depth',
    '1',
    '--out',
    join(dir, 'json-b'),
  );
  json(
    'test/fixtures/unmodelled.yaml',
    '--driver',
    'test/fixtures/unmodelled-driver.ts',
    '--runs',
    '2',
    '--out',
    join(dir, 'json-c'),
  );
  for (const k of [
    'failures[].shrunk.choices[].note',
    'failures[].reduced.removed',
    'strategy.depth',
    'notModelled.seeds',
  ])
    assert.ok(keys.has(k), `the reports cover ${k}`);
  const missing = [...keys].filter((k) => !section.includes(`| \`${k}\` |`));
  assert.deepEqual(missing, [], 'keys of explore --json missing from docs/model.md "The `--json` report"');
});
