// The ndis-sim command. Exit codes (README, "Exit codes"): 0 the run ended as expected,
// 1 a rule violation or bug check (or expectations not met), 2 bad usage or
// bad input, 3 an internal error of ndis-sim.

import { closeSync, existsSync, openSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Command, CommanderError, Option } from 'commander';
import { gallery } from '../drivers/buggy/index.ts';
import { builtinDrivers, driverNames } from '../drivers/index.ts';
import { DriverOutsideRunError, InputError, InternalError } from '../errors.ts';
import { failureKey, judge, strategyFor } from '../explore/explore.ts';
import { exploreJson, formatChoices, formatExploreReport, progressSteps } from '../explore/format.ts';
import {
  driverChanges,
  fileSha256,
  fromDecisionRows,
  logMustNotRunOut,
  parseReplayFile,
  replayFileDamage,
  traceDigest,
} from '../explore/replay-file.ts';
import {
  type Explored,
  exploreFile,
  flagNames,
  formatOptions,
  intOption,
  maxCpus,
  runCommandFor,
  strategyOption,
  untilOption,
  withCpus,
} from '../explore/session.ts';
import { pretenuringOff } from '../explore/tuning.ts';
import { ruleBook } from '../ndis/generated/rulebook.ts';
import { OID_NAMES, OID_REQUESTS } from '../ndis/generated/status.ts';
import { toHtmlReport } from '../report/html.ts';
import { toJsonLines } from '../report/jsonl.ts';
import { toPerfettoJson } from '../report/perfetto.ts';
import { removalStories } from '../report/removal.ts';
import {
  filterRules,
  formatBookRule,
  formatBookTable,
  formatRule,
  formatRuleTable,
  formatStateTable,
  type RuleFilter,
  ruleBookId,
  ruleBookRange,
} from '../report/rules.ts';
import { formatBugCheckReport, formatSummary } from '../report/summary.ts';
import { formatTimeline } from '../report/timeline.ts';
import {
  buildWorld,
  checkExpectations,
  ioctlCodesFor,
  scenarioWarnings,
  untilNs,
} from '../scenario/build.ts';
import { parseScenarioText, readInputFile, readScenarioText } from '../scenario/load.ts';
import { isFailedDriverLoad, loadDriverModules, withScenarioModules } from '../scenario/modules.ts';
import { distance, nearest, type Scenario } from '../scenario/schema.ts';
import {
  type Decision,
  FixedStrategy,
  LogEndStrategy,
  ReplayDiverged,
  ReplayLogRanOut,
} from '../sim/choice.ts';
import { catalogue } from '../verifier/catalogue.ts';
import { packageVersion } from '../version.ts';
import type { RunResult, World } from '../world.ts';
import { plainProgress, plainProgressEveryMs } from './progress.ts';

/**
 * The reader of the output is gone (`ndis-sim run x.yaml 2>&1 | head -1`): EPIPE on
 * stdout or stderr. Nothing more is written, quietly, and the command still ends with
 * the exit code its run chooses (2 for bad input, 1 for a broken rule), not with
 * node's 1 for an unhandled 'error' event.
 */
let readerGone = false;

/** An output stream that cannot be written: the reader gone (above), or a full disk, say: one line, exit 2. */
function outputFailed(e: NodeJS.ErrnoException): void {
  if (readerGone || e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') {
    readerGone = true;
    return;
  }
  process.stderr.write(`ndis-sim: cannot write the output (${e.code ?? e.message})\n`);
  process.exit(2);
}

const out = (s: string): void => {
  if (readerGone) return;
  try {
    process.stdout.write(`${s}\n`);
  } catch (e) {
    outputFailed(e as NodeJS.ErrnoException);
  }
};

/**
 * Colours: --no-color and a non-empty NO_COLOR (no-color.org) turn them off; a
 * non-empty FORCE_COLOR turns them on off a terminal, except as 0 or false
 * (force-color.org); else only on a terminal.
 */
function color(opts: { color?: boolean }): boolean {
  const env = process.env;
  if (opts.color === false || (env.NO_COLOR !== undefined && env.NO_COLOR !== '')) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force.toLowerCase() !== 'false';
  return process.stdout.isTTY === true;
}

interface RunOptions {
  driver?: string[];
  seed?: string;
  until?: string;
  cpus?: string;
  trace?: string;
  perfetto?: string;
  html?: string;
  quiet?: boolean;
  datapath?: boolean;
  color?: boolean;
  verifier?: 'bugcheck' | 'collect';
  strategy?: 'random' | 'deviations';
  depth?: string;
}

/** The files a run can write besides its output, by flag. */
interface OutputFiles {
  trace?: string;
  perfetto?: string;
  html?: string;
}
const outputFlags = ['--trace', '--perfetto', '--html'] as const;
type OutputFlag = (typeof outputFlags)[number];

function outputFile(opts: OutputFiles, flag: OutputFlag): string | undefined {
  return flag === '--trace' ? opts.trace : flag === '--perfetto' ? opts.perfetto : opts.html;
}

function cannotWrite(flag: OutputFlag, file: string, e: unknown): InputError {
  const why = (e as NodeJS.ErrnoException).code ?? String(e);
  return new InputError([
    `${flag}: expected a file that can be written, got ${JSON.stringify(file)} (${why})`,
  ]);
}

/** A path as the file system knows it: through links, for a file that exists. */
function samePath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/**
 * The --trace, --perfetto and --html files checkWritable made and showRun has not
 * written yet. A command that fails between the two (bad input found after the check,
 * a replay that diverges, an internal error) removes them: no empty file is left.
 */
const unwritten = new Set<string>();

function removeUnwritten(): void {
  for (const file of unwritten) rmSync(file, { force: true });
  unwritten.clear();
}

/**
 * Creates (or empties) the --trace, --perfetto and --html files, so that a bad path
 * fails before the run; a command that fails before writing them removes them
 * (`unwritten`). None may be one of the files the command reads (`inputs`: the
 * scenario or replay file, the driver modules), which it would overwrite, nor the
 * file of another of these flags.
 */
function checkWritable(opts: OutputFiles, inputs: readonly { what: string; file: string }[]): void {
  const taken = inputs.map((x) => ({ ...x, path: samePath(x.file) }));
  const problems: string[] = [];
  for (const flag of outputFlags) {
    const file = outputFile(opts, flag);
    if (file === undefined) continue;
    const clash = taken.find((x) => x.path === samePath(file));
    if (clash !== undefined)
      problems.push(
        `${flag}: expected a file other than ${clash.what} (it would be overwritten), got ${JSON.stringify(file)}`,
      );
    else taken.push({ what: `the file of ${flag}`, file, path: samePath(file) });
  }
  if (problems.length > 0) throw new InputError(problems);
  for (const flag of outputFlags) {
    const file = outputFile(opts, flag);
    if (file === undefined) continue;
    try {
      closeSync(openSync(file, 'w'));
    } catch (e) {
      removeUnwritten();
      throw cannotWrite(flag, file, e);
    }
    unwritten.add(file);
  }
}

/** Trace events kept with --quiet and no --trace: a bug check prints the last 12. */
const quietTraceMax = 4096;

async function runCommand(file: string, opts: RunOptions): Promise<number> {
  const raw = readScenarioText(file);
  const named = new Map<string, string>();
  const driverFiles = withScenarioModules(opts.driver ?? [], raw, file, named);
  const drivers = await loadDriverModules(driverFiles, named);
  const text = withCpus(raw, intOption(opts.cpus, '--cpus', 1, maxCpus));
  const until = untilOption(opts.until, '--until');
  // Every problem of the file at once, the inject windows' and the ioctl codes' among them.
  const scenario = parseScenarioText(text, file, driverNames(drivers), {
    injectWindows: { untilNs: until },
    ioctlCodes: ioctlCodesFor(drivers),
  });
  const seed = intOption(opts.seed, '--seed') ?? scenario.seed;
  for (const w of scenarioWarnings(scenario)) process.stderr.write(`ndis-sim: warning: ${file}: ${w}\n`);
  // An output file that cannot be written is bad input: say so before the run, not after.
  checkWritable(opts, [
    { what: 'the scenario', file },
    ...driverFiles.map((d) => ({ what: `the driver module ${JSON.stringify(d)}`, file: d })),
  ]);
  const runUntil = untilNs(scenario, { untilNs: until });
  const spec = strategyOption(opts, {
    scenario,
    drivers,
    untilNs: runUntil,
    verifier: opts.verifier ?? scenario.verifier,
  });
  const world = buildWorld(scenario, {
    seed,
    trace: true,
    verifier: opts.verifier,
    drivers,
    ...traceMaxFor(opts),
    ...(spec === undefined ? {} : { strategy: strategyFor(spec, seed) }),
  });
  const result = world.run(runUntil);
  return showRun(scenario, world, result, seed, opts.verifier ?? scenario.verifier, opts);
}

/**
 * With --quiet and no file to write the trace to, only a bug check's last events are
 * ever printed: a small trace keeps memory flat on a run of any length.
 */
function traceMaxFor(opts: OutputFiles & { quiet?: boolean }): { traceMax?: number } {
  return opts.quiet && outputFlags.every((f) => outputFile(opts, f) === undefined)
    ? { traceMax: quietTraceMax }
    : {};
}

/** Prints a finished run (timeline, bug check, summary), writes --trace, --perfetto and --html; returns the exit code. */
function showRun(
  scenario: Scenario,
  world: World,
  result: RunResult,
  seed: number,
  mode: Scenario['verifier'],
  opts: Omit<RunOptions, 'seed' | 'until' | 'driver' | 'verifier'>,
  /** How the summary names the seed: a replay's shrunk run is not that seed's own. */
  seedLabel = 'seed',
  /** A replay's decisions, for the HTML report's schedule section. */
  choices?: { decisions: readonly Decision[]; shrunk: boolean },
): number {
  const summary = world.summary();
  const c = color(opts);
  const dropped = world.trace.dropped;
  const keptNote = `the first ${dropped} trace events were dropped to keep the last ${world.trace.events.length} (at most ${world.trace.max})`;
  if (!opts.quiet) {
    if (scenario.name)
      out(`${scenario.name}${scenario.description ? ` — ${scenario.description.trim()}` : ''}`);
    if (dropped > 0) out(`(${keptNote})`);
    for (const l of formatTimeline(world.trace.events, { color: c, dataPath: opts.datapath === true }))
      out(l);
  }
  if (result.bugCheck !== null) for (const l of formatBugCheckReport(result.bugCheck, world.trace, c)) out(l);
  // The devices as expect: sees them (with their SimNic's wakes).
  const expectation = checkExpectations(
    scenario,
    result,
    { ...summary, devices: world.expectView().devices },
    mode,
  );
  const removals = removalStories(world.trace.events);
  const so = { color: c, seed, seedLabel, expectation, removals, events: world.trace.events, dropped };
  for (const l of formatSummary(summary, result, so)) out(l);
  // Each file is made only if asked for: the HTML report formats every event.
  const contents = (flag: OutputFlag): string => {
    if (flag === '--trace') return toJsonLines(world.trace.events);
    if (flag === '--perfetto')
      return toPerfettoJson(world.trace.events, {
        endNs: result.endNs,
        dropped,
        metadata: { scenario: scenario.name ?? null, seed, verdict: result.verdict },
      });
    return toHtmlReport({
      scenario,
      seed,
      seedLabel,
      events: world.trace.events,
      dropped,
      result,
      summary,
      expectation,
      version: packageVersion(),
      choices,
    });
  };
  for (const flag of outputFlags) {
    const file = outputFile(opts, flag);
    if (file === undefined) continue;
    try {
      writeFileSync(file, contents(flag));
    } catch (e) {
      throw cannotWrite(flag, file, e);
    }
    unwritten.delete(file);
    if (dropped > 0) process.stderr.write(`ndis-sim: ${file}: ${keptNote}\n`);
  }
  if (result.verdict === 'not-modelled') {
    // The verdict above says what; this line is for whoever reads only stderr.
    process.stderr.write('ndis-sim: the run reached something ndis-sim does not model (see the verdict)\n');
    return 2;
  }
  if (expectation !== null) return expectation.met ? 0 : 1;
  return result.verdict === 'ok' ? 0 : 1;
}

interface ExploreCliOptions {
  driver?: string[];
  seed?: string;
  runs?: string;
  until?: string;
  cpus?: string;
  shrinkRuns?: string;
  shrink?: boolean;
  reduce?: boolean;
  strategy?: 'random' | 'deviations';
  depth?: string;
  jobs?: string;
  seedTimeout?: string;
  out?: string;
  html?: boolean;
  quiet?: boolean;
  json?: boolean;
  color?: boolean;
  verifier?: 'bugcheck' | 'collect';
}

/**
 * A bar on stderr while the seeds run, when stderr is a terminal; else (a CI log) a
 * plain line at most every 10 s (src/cli/progress.ts), which goes on while failures
 * are shrunk (`shrinkRun`). Nothing with --quiet.
 */
function progressBar(
  total: number,
  quiet: boolean,
):
  | {
      tick: (done: number, failed: number) => void;
      stop: () => void;
      shrinkRun?: (group: number, groups: number) => void;
    }
  | undefined {
  if (quiet) return undefined;
  if (!process.stderr.isTTY) {
    const every = Number(process.env.NDIS_SIM_PROGRESS_EVERY_MS);
    return plainProgress(total, {
      everyMs: Number.isFinite(every) && every > 0 ? every : plainProgressEveryMs,
      write: (l) => process.stderr.write(l),
    });
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'exploring [{bar}] {value}/{total} runs, {failed} failed, {eta_formatted} left',
      clearOnComplete: true,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { failed: 0 });
  let on = true;
  const stop = (): void => {
    if (on) bar.stop();
    on = false;
  };
  return { tick: progressSteps(total, 64, (done, failed) => bar.update(done, { failed }), stop), stop };
}

/**
 * While failures are shrunk (which can take minutes for a long scenario): one line on
 * stderr, rewritten at most ten times a second, "shrinking failure 1 of 2: 812 runs".
 * Only on a terminal and without --quiet; `stop` clears it.
 */
function shrinkStatus(
  groups: number,
  quiet: boolean,
): { onRun: (group: number) => void; stop: () => void } | undefined {
  if (quiet || !process.stderr.isTTY) return undefined;
  let runs = 0;
  let shown = 0;
  let last = -1;
  const show = (group: number): void => {
    process.stderr.write(
      `\rshrinking failure ${group + 1} of ${groups}: ${runs.toLocaleString('en-US')} runs\x1b[K`,
    );
  };
  return {
    onRun: (group) => {
      if (group !== last) runs = 0;
      last = group;
      runs++;
      const now = performance.now();
      if (now - shown < 100) return;
      shown = now;
      show(group);
    },
    stop: () => {
      if (shown > 0) process.stderr.write('\r\x1b[K');
    },
  };
}

/** The exit code of a command ended by a signal, as a shell gives it: 128 + its number. */
const signalExit = { SIGINT: 130, SIGTERM: 143 } as const;

async function exploreCommand(file: string, opts: ExploreCliOptions): Promise<number> {
  let bar: ReturnType<typeof progressBar>;
  let status: ReturnType<typeof shrinkStatus>;
  let x: Explored;
  // Ctrl-C, or a CI runner's SIGTERM at its time limit: the workers stop and the report
  // of the seeds done is printed, with the replay files of the failures found (not
  // shrunk); then exit 130 or 143. The same signal again ends the command at once.
  const stop = new AbortController();
  const onSignal = (signal: keyof typeof signalExit): void => {
    if (stop.signal.aborted) process.exit(signalExit[signal]);
    bar?.stop();
    status?.stop();
    if (opts.quiet !== true)
      process.stderr.write(
        `ndis-sim: ${signal}: stopping; the report of the seeds done follows (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit at once)\n`,
      );
    stop.abort(signal);
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    x = await exploreFile({
      file,
      driverFiles: opts.driver ?? [],
      scenarioModules: true,
      ...(opts.seed === undefined ? {} : { firstSeed: opts.seed }),
      ...(opts.runs === undefined ? {} : { runs: opts.runs }),
      ...(opts.until === undefined ? {} : { until: opts.until }),
      ...(opts.cpus === undefined ? {} : { cpus: opts.cpus }),
      ...(opts.shrink === false
        ? { shrinkRuns: 0 }
        : opts.shrinkRuns === undefined
          ? {}
          : { shrinkRuns: opts.shrinkRuns }),
      reduce: opts.reduce !== false,
      ...(opts.strategy === undefined ? {} : { strategy: opts.strategy }),
      ...(opts.depth === undefined ? {} : { depth: opts.depth }),
      ...(opts.jobs === undefined ? {} : { jobs: opts.jobs }),
      ...(opts.seedTimeout === undefined ? {} : { seedTimeout: opts.seedTimeout }),
      ...(opts.verifier === undefined ? {} : { verifier: opts.verifier }),
      out: opts.out ?? '.',
      html: opts.html === true,
      progress: (runs) => {
        bar = progressBar(runs, opts.quiet === true);
        return bar?.tick;
      },
      shrinking: (groups) => {
        const plain = bar?.shrinkRun;
        if (plain !== undefined) return (group) => plain(group, groups);
        bar?.stop();
        status = shrinkStatus(groups, opts.quiet === true);
        return status?.onRun;
      },
      interrupt: { signal: stop.signal, sigint: onInt },
      // Before the runs, which may take minutes: --strategy deviations with inject: (docs/model.md, "Strategies").
      warn: (w) => process.stderr.write(`ndis-sim: warning: ${file}: ${w}\n`),
      names: flagNames,
    });
  } finally {
    bar?.stop(); // on a failure too: the bar hides the cursor until it stops
    status?.stop();
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  const fo = formatOptions(x, color(opts), runCommandFor(x, opts.driver ?? [], opts));
  const { report } = x;
  if (opts.json) out(JSON.stringify(exploreJson(report, fo, packageVersion()), null, 2));
  else for (const l of formatExploreReport(report, fo)) out(l);
  if (x.interrupted !== null) return signalExit[x.interrupted.signal as keyof typeof signalExit];
  // A seed stopped at --seed-timeout counts as a failure: a driver callback that never returns, most likely.
  if (report.failed > 0 || report.timedOut.length > 0) return 1;
  return report.notModelled !== null ? 2 : 0;
}

interface ReplayCliOptions {
  driver?: string[];
  trace?: string;
  perfetto?: string;
  html?: string;
  quiet?: boolean;
  datapath?: boolean;
  color?: boolean;
}

async function replayCommand(file: string, opts: ReplayCliOptions): Promise<number> {
  const fromFile = (d: string): string => (isAbsolute(d) ? d : join(dirname(file), d));
  const r = parseReplayFile(readInputFile(file, 'a replay file (.replay.json) that explore wrote'), file);
  // A file damaged or edited since explore wrote it is bad input, not a changed driver.
  const damage = replayFileDamage(r, file);
  if (damage.length > 0) throw new InputError(damage);
  // Drivers an exploration from code was given as objects: the file cannot name their
  // module, and without --driver the scenario would only say it does not know them.
  if (opts.driver === undefined && r.driverObjects !== undefined && r.driverObjects.length > 0) {
    const flags = r.drivers.map((d) => ` --driver ${fromFile(d)}`).join('');
    throw new InputError([
      `${file}: driverObjects: expected driver modules the replay can load, got drivers exploreScenario was given as objects (${r.driverObjects.join(', ')}), which a replay file cannot name; replay with --driver naming the module that exports them (ndis-sim replay ${file}${flags} --driver <module>), or explore from code with driverFiles: [<module>] instead of drivers: a file written then names its modules`,
    ]);
  }
  // The file names its modules from its own directory (driverPathFrom); a file an
  // older ndis-sim wrote named them from the directory explore ran in: tried second.
  const modules =
    opts.driver ?? r.drivers.map((d) => (existsSync(fromFile(d)) || !existsSync(d) ? fromFile(d) : d));
  if (opts.driver === undefined) {
    const missing = r.drivers.flatMap((d, i) =>
      existsSync(modules[i]!)
        ? []
        : [
            `${file}: drivers[${i}]: expected the module ${JSON.stringify(d)} relative to the replay file, got no such file: ${fromFile(d)} (nor ${JSON.stringify(d)} from ${process.cwd()}, as a file of an older ndis-sim names it); name the module with --driver`,
          ],
    );
    if (missing.length > 0) throw new InputError(missing);
  }
  const drivers = await loadDriverModules(modules);
  const scenario = parseScenarioText(
    r.scenario.text,
    `${file} (scenario ${r.scenario.file})`,
    driverNames(drivers),
    { ioctlCodes: ioctlCodesFor(drivers) },
  );
  // What `run` warns of too (an action after a shutdown, R1.6), and driver modules that
  // are not the files explore ran (driverSha256): warnings, the replay goes on.
  for (const w of scenarioWarnings(scenario))
    process.stderr.write(`ndis-sim: warning: ${file} (scenario ${r.scenario.file}): ${w}\n`);
  for (const w of driverChanges(
    r,
    file,
    modules.map((m) => fileSha256(readFileSync(m))),
  ))
    process.stderr.write(`ndis-sim: warning: ${w}\n`);
  checkWritable(opts, [
    { what: 'the replay file', file },
    ...modules.map((d) => ({ what: `the driver module ${JSON.stringify(d)}`, file: d })),
  ]);
  // The whole trace, whatever --quiet says: the digest is of the whole trace.
  const world = buildWorld(scenario, {
    seed: r.seed,
    trace: true,
    verifier: r.verifier,
    drivers,
    replay: fromDecisionRows(r.decisions),
    // Past the log every answer is 0, unless the log cannot have ended there.
    strategy: logMustNotRunOut(r) ? new LogEndStrategy(r.decisions.length) : new FixedStrategy([]),
  });
  let result: RunResult;
  try {
    result = world.run(r.untilNs);
  } catch (e) {
    if (e instanceof ReplayLogRanOut)
      throw new InputError([
        `${file}: decisions: ${e.message} (a log explore writes ends at an answer that is not 0; this one ends at 0)`,
      ]);
    if (e instanceof ReplayDiverged)
      throw new InputError([
        `${file}: decisions: ${e.message}; the scenario, a driver or ndis-sim has changed since ndis-sim ${r.ndisSim} wrote the file (a driver changed to fix the failure asks other questions: check it with run --seed ${r.seed} or explore)`,
      ]);
    throw e;
  }
  // Every recorded decision is one the run asked: one left over was added to the file,
  // or the driver now asks fewer questions. The schedule does not fit (exit 2).
  const asked = world.decisions().length;
  if (asked < r.decisions.length)
    throw new InputError([
      `${file}: decisions: ${r.decisions.length - asked} recorded decisions were not used: the run ended after decision ${asked} of the file's ${r.decisions.length}; the file is damaged or the scenario, a driver or ndis-sim has changed since ndis-sim ${r.ndisSim} wrote it`,
    ]);
  const code = showRun(
    scenario,
    world,
    result,
    r.seed,
    r.verifier,
    opts,
    r.shrunk ? 'shrunk from seed' : 'seed',
    { decisions: world.decisions(), shrunk: r.shrunk },
  );
  // What makes this schedule this one: the answers that are not the simplest.
  const log = world.decisions();
  const chosen = log.filter((d) => d.pick !== 0).length;
  out('');
  const why = !r.shrunk
    ? " (the seed's own; explore shrinks them)"
    : chosen === 0
      ? ' (shrunk: the simplest schedule fails, so the failure needs no choice)'
      : ' (shrunk: the failure needs each)';
  out(`Choices not the simplest: ${chosen} of ${log.length}${why}`);
  if (r.shrunk) for (const l of formatChoices(log, 40)) out(`  ${l}`);
  const got = traceDigest(world.trace.events);
  if (got.sha256 === r.trace.sha256) {
    out(
      `Replayed ${file}: the trace is the one recorded (${got.events} events, sha256 ${got.sha256.slice(0, 16)}…)`,
    );
    return code;
  }
  // What this run came to, in the words the file records its failure in.
  // The kind of failure (Outcome.key), with where the rule was broken; a file of an
  // older version records the signature alone, and is compared by it.
  const f = r.failure;
  const recorded = f === null ? 'none' : failureKey(f.signature, f.where ?? null);
  const now = judge({ scenario, drivers, untilNs: r.untilNs, verifier: r.verifier }, result, world);
  const mine = now.kind === 'pass' ? 'passes' : f !== null && f.where === undefined ? now.signature : now.key;
  process.stderr.write(
    `ndis-sim: ${file}: the trace differs from the one recorded (${got.events} events against ${r.trace.events}; recorded: ${recorded}; this run: ${mine}); the scenario, a driver or ndis-sim has changed since ndis-sim ${r.ndisSim} wrote the file\n`,
  );
  // The same schedule no longer fails: a fixed driver passes, so the file works as a
  // regression test in CI (exit 0 only then). One schedule passing proves little (a
  // change of timing moves a race's window): the words say so (review-explore #7).
  if (code === 0) {
    out(
      `Replayed ${file}: this schedule no longer fails (recorded: ${recorded}); explore again before calling the race fixed`,
    );
    return 0;
  }
  out(
    mine === recorded
      ? `Replayed ${file}: the run fails as recorded (${recorded}), with another trace`
      : `Replayed ${file}: the run fails otherwise than recorded: recorded: ${recorded}; this run: ${mine}`,
  );
  return Math.max(code, 1);
}

/** The ids nearest a rule id that is neither a verifier rule nor in the rule book, best first. */
function nearRuleIds(id: string, rules: readonly { readonly id: string }[]): string[] {
  const book = ruleBookId(id);
  if (book !== null) {
    // Past a chapter's last rule: that chapter's nearest ids; a chapter the book lacks:
    // the rule of the same number in each chapter.
    const [ch, n] = book.slice(1).split('.') as [string, string];
    const ids = [...ruleBook.keys()];
    const same = ids.filter((x) => x.startsWith(`R${ch}.`));
    const pool = same.length > 0 ? same : ids.filter((x) => x.endsWith(`.${n}`));
    const scored = pool.map((x) => ({ x, d: distance(book, x) }));
    const best = Math.min(...scored.map((o) => o.d));
    return scored
      .filter((o) => o.d === best && o.d <= 2)
      .sort((a, b) => a.x.localeCompare(b.x, 'en', { numeric: true }))
      .slice(0, 5)
      .map((o) => o.x);
  }
  const lower = id.toLowerCase();
  return rules
    .map((r) => ({ x: r.id, d: distance(lower, r.id.toLowerCase()) }))
    .filter((o) => o.d <= Math.max(2, Math.floor(id.length / 4)) || o.x.toLowerCase().includes(lower))
    .sort((a, b) => a.d - b.d || a.x.localeCompare(b.x))
    .slice(0, 5)
    .map((o) => o.x);
}

function rulesCommand(
  id: string | undefined,
  opts: RuleFilter & { states?: boolean; book?: boolean; color?: boolean },
): number {
  const c = color(opts);
  // The three forms take nothing of each other: the table's filters, an id, --states.
  const filters = (['category', 'status', 'ddi', 'origin'] as const)
    .filter((k) => opts[k] !== undefined)
    .map((k) => `--${k}`);
  for (const [flag, what] of [
    ['--states', 'the adapter state table'],
    ['--book', 'the rule book'],
  ] as const) {
    if (!(flag === '--states' ? opts.states : opts.book)) continue;
    const other = [
      ...(id === undefined ? [] : [JSON.stringify(id)]),
      ...filters,
      ...(flag === '--book' && opts.states ? ['--states'] : []),
    ];
    if (other.length > 0)
      throw new InputError([
        `rules ${flag}: expected no rule id and no filter (it prints ${what}), got ${other.join(', ')}`,
      ]);
  }
  if (opts.book) {
    for (const l of formatBookTable([...catalogue.values()], c)) out(l);
    return 0;
  }
  if (id !== undefined && filters.length > 0)
    throw new InputError([
      `rules ${id}: expected no filter with a rule id (it explains that one rule), got ${filters.join(', ')}`,
    ]);
  if (opts.states) {
    for (const l of formatStateTable(c)) out(l);
    return 0;
  }
  const all = [...catalogue.values()];
  if (id !== undefined) {
    const r = catalogue.get(id) ?? all.find((x) => x.id.toLowerCase() === id.toLowerCase());
    if (r !== undefined) {
      for (const l of formatRule(r, gallery, c)) out(l);
      return 0;
    }
    const bookId = ruleBookId(id);
    const book = bookId === null ? undefined : ruleBook.get(bookId);
    if (book !== undefined) {
      for (const l of formatBookRule(book, all, c)) out(l);
      return 0;
    }
    const near = nearRuleIds(id, all);
    throw new InputError([
      `rules: expected a verifier rule (ndis-sim rules lists them) or a rule-book id (${ruleBookRange()}), got ${JSON.stringify(id)}${near.length > 0 ? `; did you mean ${near.join(', ')}?` : ''}`,
    ]);
  }
  // A filter value no rule has is a typo, not an empty answer.
  const problems: string[] = [];
  const known = (flag: string, v: string | undefined, values: string[]): void => {
    if (v === undefined || values.includes(v)) return;
    const near = nearest(v, values);
    problems.push(
      `rules ${flag}: expected one of ${values.length > 12 ? 'the values rules shows' : values.join(', ')}, got ${JSON.stringify(v)}${near ? `; did you mean ${near}?` : ''}`,
    );
  };
  known('--category', opts.category, [...new Set(all.map((r) => r.category))].sort());
  known('--origin', opts.origin, [...new Set(all.map((r) => r.origin))].sort());
  known('--ddi', opts.ddi, [...new Set(all.flatMap((r) => r.ddis))].sort());
  if (problems.length > 0) throw new InputError(problems);
  const shown = filterRules(all, opts);
  const anyDdi =
    opts.ddi === undefined
      ? []
      : filterRules(all, { ...opts, ddi: undefined }).filter((r) => r.ddis.length === 0);
  for (const l of formatRuleTable(shown, all, c, anyDdi)) out(l);
  return 0;
}

const collect = (v: string, all: string[] = []): string[] => [...all, v];

/** --strategy: how a seed answers the run's choices. */
function strategyFlag(): Option {
  return new Option(
    '--strategy <name>',
    'random: every choice drawn (default); deviations: the simplest schedule with --depth choices drawn otherwise',
  ).choices(['random', 'deviations']);
}

function depthFlag(): Option {
  return new Option(
    '--depth <n>',
    'with --strategy deviations: how many choices go otherwise (1 to 16, default 2)',
  );
}

function verifierFlag(): Option {
  return new Option('--verifier <mode>', 'stop at the first violation, or collect them all').choices([
    'bugcheck',
    'collect',
  ]);
}

const outputFileHelp: Readonly<Record<OutputFlag, string>> = {
  '--trace': 'write the trace as JSON Lines',
  '--perfetto': 'write the trace as Chrome trace events (JSON) for ui.perfetto.dev',
  '--html': 'write a report of the run as one HTML file: timeline, events, summary, rules',
};

/** A file `run` and `replay` write besides their output (OutputFiles). */
function outputFileFlag(flag: OutputFlag): Option {
  return new Option(`${flag} <file>`, outputFileHelp[flag]);
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command();
  let code = 0;
  program
    .name('ndis-sim')
    .description(
      'An executable, deterministic model of Windows NDIS miniport adapters, centred on NdisMRemoveMiniport',
    )
    .version(packageVersion(), '--version', 'print the version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .addHelpText(
      'after',
      `
Exit codes: 0 the run ended as its expect: says (or, without one, broke no rule);
1 a bug check, a violation, a livelock or an unmet expectation; 2 bad usage or bad
input, or a run the model cannot carry; 3 an internal error of ndis-sim.

Examples:
  ndis-sim run examples/reset-storm.yaml
  ndis-sim run examples/own-driver.yaml --quiet
  ndis-sim drivers --driver examples/own-driver.ts
  ndis-sim explore examples/reset-storm.yaml --runs 500
  ndis-sim rules Irql_Miniport_Driver_Function
  ndis-sim rules R5.14
  ndis-sim rules --ddi NdisMRemoveMiniport`,
    );
  program
    .command('run')
    .description('run a scenario and print its timeline and summary')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .option('--driver <module>', 'load the drivers a module exports (a .ts or .js file; repeatable)', collect)
    .option('--seed <n>', "seed for every choice of the run (default: the scenario's)")
    .option(
      '--until <duration>',
      "virtual time to stop at, e.g. 30s or 500ms, with its unit (default: the scenario's)",
    )
    .option('--cpus <n>', "the machine's processors, 1 to 64 (default: the scenario's cpus:)")
    .addOption(strategyFlag())
    .addOption(depthFlag())
    .addOption(outputFileFlag('--trace'))
    .addOption(outputFileFlag('--perfetto'))
    .addOption(outputFileFlag('--html'))
    .option('--quiet', "print only the summary (after a bug check's report, if there is one)")
    .option('--datapath', 'show the data path in the timeline too (sends, receives, their completions)')
    .option('--no-color', 'no colours')
    .addOption(verifierFlag())
    .action(async (file: string, opts: RunOptions) => {
      code = await runCommand(file, opts);
    });
  program
    .command('explore')
    .description('run a scenario under many seeds, group the failures, shrink each to a replay file')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .option('--driver <module>', 'load the drivers a module exports (a .ts or .js file; repeatable)', collect)
    .option('--seed <n>', 'the first seed (default 1)')
    .option('--runs <n>', 'how many seeds to run, from --seed on (default 1000)')
    .option(
      '--until <duration>',
      "virtual time each run stops at, e.g. 30s or 500ms, with its unit (default: the scenario's)",
    )
    .option('--cpus <n>', "the machine's processors, 1 to 64, for every run (default: the scenario's cpus:)")
    .option(
      '--shrink-runs <n>',
      "at most this many runs for each step of a failure's shrinking: decisions, scenario, decisions again (default 2000)",
    )
    .option('--no-shrink', 'write each failure as its seed ran it, unshrunk')
    .option('--no-reduce', 'shrink the decisions only, not the scenario')
    .addOption(strategyFlag())
    .addOption(depthFlag())
    .option(
      '--jobs <n>',
      'worker threads for the seeds (default: one a core when the runs would take over 10 s on one)',
    )
    .option(
      '--seed-timeout <duration>',
      'stop a seed that runs longer than this wall-clock time in a worker thread (a driver callback that never returns?) and report it as timed out, exit 1 (default 60s); given without --jobs, every seed runs in worker threads; refused with --jobs 1, whose seeds nothing can stop',
    )
    .option('--out <dir>', 'directory for the replay files (default: the current one)')
    .option('--html', "beside each replay file, the replayed run's HTML report")
    .option(
      '--quiet',
      'no progress bar (or, when stderr is not a terminal, no progress line every 10 s), and no status line while failures are shrunk',
    )
    .option('--json', 'print the report as JSON (seeds, failure groups, shrunk choices, replay files)')
    .option('--no-color', 'no colours')
    .addOption(verifierFlag())
    .action(async (file: string, opts: ExploreCliOptions) => {
      code = await exploreCommand(file, opts);
    });
  program
    .command('replay')
    .description('run a replay file that explore wrote, and check its trace is the one recorded')
    .argument('<file>', 'replay file (.replay.json)')
    .option('--driver <module>', "load these driver modules instead of the file's (repeatable)", collect)
    .addOption(outputFileFlag('--trace'))
    .addOption(outputFileFlag('--perfetto'))
    .addOption(outputFileFlag('--html'))
    .option('--quiet', "print only the summary (after a bug check's report, if there is one)")
    .option('--datapath', 'show the data path in the timeline too')
    .option('--no-color', 'no colours')
    .action(async (file: string, opts: ReplayCliOptions) => {
      code = await replayCommand(file, opts);
    });
  program
    .command('rules')
    .description(
      'list the rules the verifier knows, or explain one of them or a rule of the rule book (R5.14)',
    )
    .argument('[id]', 'a verifier rule, e.g. Irql_Miniport_Driver_Function, or a rule-book id, e.g. R5.14')
    .option('--category <name>', 'only this category (irql, locking, oid, timing, …, model)')
    .addOption(
      new Option('--status <status>', 'only enforced or not applicable rules').choices([
        'enforced',
        'not-applicable',
      ]),
    )
    .option('--ddi <name>', 'only rules about this DDI or callback')
    .addOption(
      new Option('--origin <who>', 'who checks it on Windows').choices([
        'sdv',
        'driver-verifier',
        'ndis',
        'kernel',
        'ndis-sim',
      ]),
    )
    .option('--states', 'print the adapter state table instead')
    .option(
      '--book',
      'list the rules of the rule book (R1.1 …, the RULE BOOK column) with their titles instead',
    )
    .option('--no-color', 'no colours')
    .action(
      (id: string | undefined, opts: RuleFilter & { states?: boolean; book?: boolean; color?: boolean }) => {
        code = rulesCommand(id, opts);
      },
    );
  program
    .command('drivers')
    .description('list the drivers a scenario can name')
    .option('--driver <module>', 'also the drivers a module exports (repeatable)', collect)
    .action(async (opts: { driver?: string[] }) => {
      const own = await loadDriverModules(opts.driver ?? []);
      const all = [...builtinDrivers, ...own];
      const width = Math.max(...all.map((d) => d.name.length)) + 2;
      // Three groups, each under a heading: the reference drivers, the gallery (each
      // with the rule it breaks), the --driver modules'.
      const ruleOf = new Map(gallery.map((g) => [g.driver, g.rule]));
      // A miniport a gallery entry's protocol or filter runs over (wol-nic).
      for (const g of gallery) if (g.miniport !== undefined) ruleOf.set(g.miniport, `under ${g.driver.name}`);
      const line = (d: (typeof all)[number]): string => {
        const rule = ruleOf.get(d);
        return `${d.name.padEnd(width)}${d.description ?? ''}${rule === undefined ? '' : ` (${rule})`}`;
      };
      out('Reference drivers:');
      for (const d of builtinDrivers) if (!ruleOf.has(d)) out(line(d));
      out('');
      out(
        'The gallery: each breaks the rule in brackets (ndis-sim run examples/gallery/<rule>.yaml, ndis-sim rules <rule>):',
      );
      for (const d of builtinDrivers) if (ruleOf.has(d)) out(line(d));
      if (own.length > 0) {
        out('');
        out('From --driver modules:');
        for (const d of own) out(line(d));
      }
    });
  program
    .command('oids')
    .description(
      'list the OID names an oid action accepts, with their numbers and the request types their pages give them',
    )
    .action(() => {
      // The names the scenario checks against (OID_NAMES, from ntddndis.h), in number
      // order, with the request types an oid action is checked against (OID_REQUESTS,
      // from each OID's page; "not stated" where the pages say none, and nothing is checked).
      const all = [...OID_NAMES].sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0));
      const width = Math.max(...all.map(([, name]) => name.length)) + 2;
      for (const [value, name] of all)
        out(
          `${name.padEnd(width)}0x${(value >>> 0).toString(16).padStart(8, '0').toUpperCase()}  ${OID_REQUESTS.get(value)?.join(', ') ?? 'not stated'}`,
        );
    });
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  return code;
}

function fail(e: unknown): number {
  removeUnwritten();
  if (e instanceof InputError) {
    for (const p of e.problems) process.stderr.write(`${p}\n`);
    return 2;
  }
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`${e instanceof InternalError ? '' : 'ndis-sim internal error: '}${msg}\n`);
  process.stderr.write(
    'This is a bug in ndis-sim, not in your driver. Set NDIS_SIM_DEBUG=1 for a stack trace.\n',
  );
  if (process.env.NDIS_SIM_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return 3;
}

// Output piped into `head` and closed early: no more output, the exit code the run
// chooses; any other failure of stdout: one line. stderr has nowhere else to say so.
process.stdout.on('error', outputFailed);
process.stderr.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') readerGone = true;
});

// Driver code that ran after its run ended (an async handler's continuation, a
// setTimeout) and called a DDI: the run's report stands; the command says so, once per
// message, and fails (exit 1 at least), however late it comes.
let mainDone = false;
let strayDriverCode = false;
const strayTold = new Set<string>();
function strayDriverCall(e: unknown): boolean {
  if (!(e instanceof DriverOutsideRunError)) return false;
  strayDriverCode = true;
  if (!strayTold.has(e.message)) {
    strayTold.add(e.message);
    process.stderr.write(`ndis-sim: your driver's code ran after its run ended: ${e.message}\n`);
  }
  if (mainDone) process.exitCode = Math.max(Number(process.exitCode ?? 0), 1);
  return true;
}

// A driver module that failed to load, reported again by node as an unhandled rejection:
// said once already (exit 2). Any other: a bug in ndis-sim, told as one, not a stack.
process.on('unhandledRejection', (e) => {
  if (isFailedDriverLoad(e) || strayDriverCall(e)) return;
  process.exit(fail(e));
});
process.on('uncaughtException', (e) => {
  if (strayDriverCall(e)) return;
  process.exit(fail(e));
});

// Before the first world (src/explore/tuning.ts): a long run gains as an exploration does.
pretenuringOff();
let exitCode: number;
try {
  exitCode = await main(process.argv.slice(2));
} catch (e) {
  exitCode = fail(e);
}
mainDone = true;
process.exitCode = strayDriverCode ? Math.max(exitCode, 1) : exitCode;
