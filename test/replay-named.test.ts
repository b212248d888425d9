// review-explore #6: a replay file a reader can understand without running it, and a
// replay that says when it no longer replays the same driver. The choice lines name
// what a choice was about (the DPC, timer or work item); the file holds the named
// choices and a SHA-256 of each driver module; `explore` and `replay` warn of what
// `run` warns of (an action after a shutdown, R1.6).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pollRace } from '../examples/poll-race.ts';
import {
  contentDigest,
  formatReplayFile,
  parseReplayFile,
  withContentDigest,
} from '../src/explore/replay-file.ts';
import { type ChoiceAbout, ChoiceSite, Chooser, FixedStrategy, RandomStrategy } from '../src/sim/choice.ts';
import { cli } from './helpers/cli.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-replay-named-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A ChoiceAbout that counts how often it is asked its name. */
function counted(name: string): ChoiceAbout & { asked: number } {
  return {
    asked: 0,
    choiceLabel() {
      this.asked++;
      return name;
    },
  };
}

test('Chooser: what a choice is about is named in a recorded log only, and asked its name only when the log is read (no string on the hot path)', () => {
  const about = counted('DPC of timer T (x)');
  const off = new Chooser(new RandomStrategy(1), [], false);
  for (let i = 0; i < 100; i++) off.choose(ChoiceSite.DpcLatency, 4, about);
  assert.deepEqual(off.decisions(), []);
  assert.equal(about.asked, 0);
  const on = new Chooser(new FixedStrategy([1, 0]), [], true);
  on.choose(ChoiceSite.DpcLatency, 4, about);
  on.choose(ChoiceSite.Cpu, 2);
  assert.equal(about.asked, 0);
  const log = on.decisions();
  assert.equal(log[0]!.label, 'DPC of timer T (x)');
  assert.equal(log[1]!.label, undefined);
  assert.equal(about.asked, 1);
});

// timer-race (R8.6): seed 20 fails; the DPC of poll0's timer is the choice that matters.
let replayFile = '';
test("R8.6, review-explore #6: explore and replay name the DPC, timer or work item of each choice, and the replay file holds the named choices and each driver module's sha256", () => {
  const out = join(dir, 'a');
  const r = cli('explore', 'examples/timer-race.yaml', '--seed', '20', '--runs', '1', '--out', out);
  assert.equal(r.status, 1, r.stderr);
  const line =
    /decision \d+ at [\d.]+ s: (Cpu|DpcLatency) for DPC of timer TimerFunction of poll0 \(timer-race\) answered 1 of 0–\d/;
  assert.match(r.stdout, line);
  replayFile = /replay: ndis-sim replay (\S+)/.exec(r.stdout)![1]!;
  const text = readFileSync(replayFile, 'utf8');
  const f = parseReplayFile(text, replayFile);
  // One digest a module, of the file's bytes.
  assert.deepEqual(f.driverSha256, [
    createHash('sha256').update(readFileSync('examples/timer-race.ts')).digest('hex'),
  ]);
  // The named choices are the answers of `decisions` that are not 0, in order.
  const nonZero = f.decisions.flatMap((d, i) =>
    d[2] === 0 ? [] : [{ decision: i + 1, answer: d[2], of: d[1] }],
  );
  assert.deepEqual(
    f.choices!.map((c) => ({ decision: c.decision, answer: c.answer, of: c.of })),
    nonZero,
  );
  assert.ok(
    f.choices!.some(
      (c) => c.label === 'DPC of timer TimerFunction of poll0 (timer-race)' && c.atNs > 40_000_000,
    ),
    text,
  );
  // The digest covers them: an edited label is a damaged file.
  const edited = join(dir, 'edited.replay.json');
  const data = JSON.parse(text);
  data.choices[0].label = 'something else';
  writeFileSync(edited, JSON.stringify(data));
  const e = cli('replay', edited, '--quiet');
  assert.equal(e.status, 2);
  assert.match(e.stderr, /contentSha256: expected the digest/);
  // Replay: the same named line, no warning with the same driver.
  const rp = cli('replay', replayFile, '--quiet');
  assert.equal(rp.status, 1, rp.stderr);
  assert.match(rp.stdout, line);
  assert.match(rp.stdout, /the trace is the one recorded/);
  assert.doesNotMatch(rp.stderr, /warning/);
});

test('review-explore #6: a replay whose driver module is not the file explore ran warns on stderr (not an error) that the schedule may no longer mean the same', () => {
  assert.notEqual(replayFile, '');
  const changed = join(dir, 'timer-race.ts');
  copyFileSync('examples/timer-race.ts', changed);
  appendFileSync(changed, '// changed after the failure was recorded\n');
  const rp = cli('replay', replayFile, '--quiet', '--driver', changed);
  // The warning, once; the run goes on (a comment changes no answer: the same failure).
  const warnings = rp.stderr.split('\n').filter((l) => l.includes('warning'));
  assert.equal(warnings.length, 1, rp.stderr);
  assert.match(
    warnings[0]!,
    /warning: .*: the driver changed since the failure was recorded: .*timer-race\.ts is not the file explore ran \(sha256 [0-9a-f]{16}…\); the schedule may no longer mean the same/,
  );
  assert.equal(rp.status, 1);
  assert.match(
    rp.stdout,
    /Verdict: .*bug check DRIVER_VERIFIER_DETECTED_VIOLATION \(NdisSim_TimerFreedWhileSet\)/,
  );
});

test('review-explore #6: a replay file without choices and driver digests (an older ndis-sim) still replays, its content digest unchanged', () => {
  const f = parseReplayFile(readFileSync(replayFile, 'utf8'), replayFile);
  const { choices: _c, driverSha256: _d, contentSha256: _s, ...old } = f;
  const oldFile = join(dir, 'a', 'old.replay.json');
  const written = withContentDigest(old);
  // The digest of a file without them is the one older versions computed: no new member in it.
  assert.equal(written.contentSha256, contentDigest(old));
  writeFileSync(oldFile, formatReplayFile(written));
  const rp = cli('replay', oldFile, '--quiet');
  assert.equal(rp.status, 1, rp.stderr);
  assert.match(rp.stdout, /the trace is the one recorded/);
  assert.doesNotMatch(rp.stderr, /warning/);
});

test('R1.6, review-explore #6: explore and replay warn of an action after a shutdown, as run does, once on stderr', () => {
  const scenario = join(dir, 'late.yaml');
  copyFileSync('examples/timer-race.ts', join(dir, 'timer-race.ts'));
  writeFileSync(
    scenario,
    `${readFileSync('examples/timer-race.yaml', 'utf8').replace('driverModules: [timer-race.ts]', `driverModules: [${JSON.stringify(join(dir, 'timer-race.ts'))}]`)}actions:\n  - { at: 900ms, do: shutdown }\n  - { at: 950ms, do: disable, device: poll0 }\n`,
  );
  const warning =
    /warning: .*: actions\[1\]: disable poll0 at 0\.950000 s comes after the shutdown at 0\.900000 s \(actions\[0\]\) and will not run/;
  const out = join(dir, 'late');
  const x = cli('explore', scenario, '--seed', '20', '--runs', '2', '--no-reduce', '--out', out);
  assert.equal(x.stderr.split('\n').filter((l) => warning.test(l)).length, 1, x.stderr);
  const file = /replay: ndis-sim replay (\S+)/.exec(x.stdout)?.[1];
  assert.ok(file !== undefined, x.stdout);
  const rp = cli('replay', file, '--quiet');
  assert.equal(rp.stderr.split('\n').filter((l) => warning.test(l)).length, 1, rp.stderr);
  const run = cli('run', scenario, '--quiet');
  assert.match(run.stderr, warning);
});

test("R1.7, review-explore #6: an NDIS poll object's DPC latency and CPU questions name the poll object and its adapter", () => {
  const s = exampleScenario('examples/poll-race.yaml', [pollRace], 'poll-race');
  const { w } = runExample(s, [pollRace], 13);
  const polls = w.decisions().filter((d) => d.label?.startsWith('poll object ') === true);
  assert.ok(polls.length > 0);
  for (const d of polls) {
    assert.ok(d.site === ChoiceSite.DpcLatency || d.site === ChoiceSite.Cpu, `site ${d.site}`);
    assert.match(d.label!, /^poll object 1 of \w+$/);
  }
});
