// One exploration from start to end, outside the simulation: the options checked, the
// scenario and the driver modules loaded, the seeds run (in this thread or in worker
// threads), the failures shrunk, and a replay file made for each, written to a
// directory when asked. `ndis-sim explore` (src/cli/main.ts) and `exploreScenario`
// from code (from-code.ts) both go through `exploreFile`, so they run the same seeds,
// group and shrink them the same way, and reject the same bad input with the same
// messages, but for the names of the options (a flag, a field).

import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Script } from 'node:vm';
import { isMap, parseDocument } from 'yaml';
import { driverNames } from '../drivers/index.ts';
import { InputError, InternalError } from '../errors.ts';
import type { DriverModule } from '../ndis/driver.ts';
import { toHtmlReport } from '../report/html.ts';
import { checkExpectations, ioctlCodesFor, scenarioWarnings, untilNs } from '../scenario/build.ts';
import { parseScenarioText, readScenarioText } from '../scenario/load.ts';
import { checkDriverObjects, loadDriverModules, withScenarioModules } from '../scenario/modules.ts';
import {
  bareDuration,
  bareDurationText,
  durationMaxText,
  durationTooLong,
  ownDriversByFlag,
  parseDuration,
  parseProbability,
  type Scenario,
} from '../scenario/schema.ts';
import { FixedStrategy } from '../sim/choice.ts';
import { packageVersion } from '../version.ts';
import {
  deviationHorizon,
  type ExploreReport,
  exploreSeeds,
  type FailureGroup,
  mergeReports,
  type OneRun,
  type RunSetup,
  runOnce,
  type StrategySpec,
  trimDecisions,
} from './explore.ts';
import type { ExploreFormatOptions } from './format.ts';
import { exploreInWorkers } from './pool.ts';
import { shrinkAndReduce } from './reduce.ts';
import {
  fileSha256,
  formatReplayFile,
  namedChoices,
  type ReplayFile,
  toDecisionRows,
  traceDigest,
  withContentDigest,
} from './replay-file.ts';
import { shrinkInWorker } from './shrink-pool.ts';
import { pretenuringOff } from './tuning.ts';

/** How a message names each option: as the command line spells it, or as code does. */
export interface OptionNames {
  readonly seed: string;
  readonly runs: string;
  readonly until: string;
  readonly cpus: string;
  readonly shrinkRuns: string;
  readonly strategy: string;
  readonly depth: string;
  readonly jobs: string;
  readonly out: string;
  readonly verifier: string;
  readonly seedTimeout: string;
  /**
   * The option of driver module paths, whose entries messages name (`driverFiles[0]`),
   * or null on the command line, whose messages say `--driver <path>`.
   */
  readonly driverFiles: string | null;
  /** How the caller gives drivers of its own, in the message for a driver name none gave. */
  readonly ownDrivers: string;
}

export const flagNames: OptionNames = {
  seed: '--seed',
  runs: '--runs',
  until: '--until',
  cpus: '--cpus',
  shrinkRuns: '--shrink-runs',
  strategy: '--strategy',
  depth: '--depth',
  jobs: '--jobs',
  out: '--out',
  verifier: '--verifier',
  seedTimeout: '--seed-timeout',
  driverFiles: null,
  ownDrivers: ownDriversByFlag,
};

/** The most CPUs a machine has (a scenario's `cpus:`). */
export const maxCpus = 64;

/**
 * A scenario's text with `cpus:` set to `cpus` (unchanged when undefined): the runs,
 * the shrinking and the replay files then all have the machine the option asked for.
 */
export function withCpus(text: string, cpus: number | undefined): string {
  if (cpus === undefined) return text;
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return text; // the parse reports it
  doc.set('cpus', cpus);
  return String(doc);
}

/** A whole number from `min` to `max`: a flag's text of digits, or a number from code. */
export function intOption(
  v: string | number | undefined,
  name: string,
  min = 0,
  max = 0xffffffff,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const digits = typeof v === 'number' || /^\d+$/.test(v);
  if (!digits || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InputError([`${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`]);
  }
  return n;
}

/**
 * A duration above 0: text with its unit, as a scenario's `until:` gives it ("30s",
 * "500ms"), for --until (a run that ends at 0 runs nothing: every seed would pass) and
 * --seed-timeout; from code (exploreScenario's `until` and `seedTimeout`) also a number,
 * whole nanoseconds as World.run and World.at take them (T3; text still needs its unit).
 */
export function untilOption(v: string | number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  // "--until 5": a unit is needed, as in a scenario (bareDuration).
  if (typeof v === 'string' && bareDuration(v)) throw new InputError([`${name}: ${bareDurationText(v)}`]);
  const given = typeof v === 'string' && /^\s*0+\s*$/.test(v) ? 0 : v;
  const d = parseDuration(given);
  const shown = typeof v === 'number' ? String(v) : JSON.stringify(v);
  if (d === null)
    throw new InputError([
      durationTooLong(given)
        ? `${name}: expected a duration of at most ${durationMaxText}, got ${shown}`
        : typeof v === 'number'
          ? `${name}: expected whole nanoseconds (such as 30 * ns.s) or a duration such as "30s", got ${shown}`
          : `${name}: expected a duration such as "30s", "500ms" or "1h", got ${shown}`,
    ]);
  if (d === 0) throw new InputError([`${name}: expected a duration above 0, got ${shown}`]);
  return d;
}

/** One of `values`, when given (code is not held to the type a flag's choices are). */
function oneOf<T extends string>(v: T | undefined, name: string, values: readonly T[]): T | undefined {
  if (v === undefined || values.includes(v)) return v;
  throw new InputError([`${name}: expected ${values.join(' or ')}, got ${JSON.stringify(v)}`]);
}

/** Deviations a run of the deviations strategy makes at most. */
const depthMax = 16;

/**
 * The strategy `strategy` and `depth` name, for `setup`'s scenario: for deviations,
 * with the horizon of its simplest run (explore and run draw the same from it).
 */
/**
 * What to say of an exploration with `--strategy deviations` of a scenario with
 * `inject:` events drawn by chance (docs/model.md, "Strategies"): the simplest schedule
 * draws none of them ("not injected" is answer 0), and a run answers otherwise only
 * `depth` of the simplest run's `horizon` decisions, so it gets one only when a
 * deviation lands on that event's draw, about depth/horizon of the runs at most.
 * Null when there is nothing to say (random, no such event).
 */
export function deviationsInjectWarning(
  scenario: Scenario,
  spec: StrategySpec | undefined,
  names: Pick<OptionNames, 'strategy'> = flagNames,
): string | null {
  if (spec === undefined || spec.kind !== 'deviations') return null;
  const drawn = scenario.inject.filter((i) => {
    const p = parseProbability(i.chance);
    return p !== null && p.num > 0 && p.num < p.den;
  });
  if (drawn.length === 0) return null;
  const n = drawn.length;
  const d = Math.min(spec.depth, spec.horizon);
  const oneIn = Math.max(1, Math.round(spec.horizon / d));
  const one = n === 1;
  return (
    `inject: ${one ? 'its event' : `its ${n} events`} drawn by chance ${one ? 'is' : 'are'} not injected in the simplest schedule, ` +
    `and ${names.strategy} deviations changes ${d} of its ${spec.horizon.toLocaleString('en-US')} decisions a run: ` +
    `at most about 1 run in ${oneIn.toLocaleString('en-US')} gets ${one ? 'it' : 'each'}; use ${names.strategy} random for a scenario with inject:`
  );
}

export function strategyOption(
  opts: { strategy?: 'random' | 'deviations'; depth?: string | number },
  /** Null: only the values are checked (there is no scenario yet), and no spec is made. */
  setup: RunSetup | null,
  names: Pick<OptionNames, 'strategy' | 'depth'> = flagNames,
): StrategySpec | undefined {
  const kind = oneOf(opts.strategy, names.strategy, ['random', 'deviations']);
  const depth = intOption(opts.depth, names.depth, 1, depthMax);
  if (kind !== 'deviations') {
    if (depth !== undefined)
      throw new InputError([`${names.depth}: expected it only with ${names.strategy} deviations`]);
    return undefined;
  }
  if (setup === null) return undefined;
  return { kind: 'deviations', depth: depth ?? 2, horizon: deviationHorizon(setup) };
}

/** Worker threads at most: each loads ndis-sim anew, and more threads than cores only queue. */
export const jobsMax = 64;

/**
 * Wall-clock time a seed may run in a worker thread (--seed-timeout): far above any
 * seed's (milliseconds; a long traffic run, seconds), and a loop that never returns
 * is found within a minute.
 */
const seedTimeoutDefaultNs = 60 * 1e9;

/** What an exploration is asked to do; values as a flag gives them (text) or as code does. */
export interface ExploreInput {
  /** The scenario file: read unless `text` is given, and named in every message. */
  readonly file: string;
  readonly text?: string;
  /** Drivers given as objects (from code): the seeds then run in this thread only. */
  readonly drivers?: readonly DriverModule[];
  /** Driver modules by path (--driver): loaded here, by each worker thread, and named in the replay files. */
  readonly driverFiles?: readonly string[];
  /**
   * Load the scenario's `driverModules:` too, after `driverFiles` (the command line
   * does; code passes its drivers itself, as with `loadScenario`).
   */
  readonly scenarioModules?: boolean;
  readonly firstSeed?: string | number;
  readonly runs?: string | number;
  readonly until?: string | number;
  /** The machine's CPUs, in place of the scenario's `cpus:` (written into its text). */
  readonly cpus?: string | number;
  /** Runs each step of a group's shrinking may take (0: no shrinking). */
  readonly shrinkRuns?: string | number;
  /** Shrink the scenario too, not only the decisions (default true). */
  readonly reduce?: boolean;
  readonly strategy?: 'random' | 'deviations';
  readonly depth?: string | number;
  /** Worker threads; undefined: one a core when the runs would take over 10 s in one. */
  readonly jobs?: string | number;
  readonly verifier?: 'bugcheck' | 'collect';
  /** Where the replay files go; undefined: nowhere (they are still made, as text). */
  readonly out?: string;
  /** Beside each replay file, its run's HTML report. */
  readonly html?: boolean;
  /**
   * Wall-clock time one seed may run in a worker thread before it is stopped and reported
   * as timed out (default 60 s): text with its unit, or from code whole nanoseconds.
   */
  readonly seedTimeout?: string | number;
  /** Called once the options hold, with the number of runs: what to tell of each run done. */
  readonly progress?: (runs: number) => ((done: number, failed: number) => void) | undefined;
  /**
   * Called when the shrinking begins, with the number of failure groups: what to tell of
   * each of its runs (the index of the group it shrinks).
   */
  readonly shrinking?: (groups: number) => ((group: number) => void) | undefined;
  /**
   * A stop asked from outside (the command's SIGINT and SIGTERM): when `signal` aborts
   * (its reason names the signal), the workers stop after the seed they run, the
   * shrinking is skipped, and the report holds the seeds done so far. With `sigint`,
   * the shrinking (one long call of this thread) can be broken by a SIGINT (node:vm's
   * breakOnSigint): `sigint` is then called, as a SIGINT listener would be.
   */
  readonly interrupt?: { readonly signal: AbortSignal; readonly sigint?: () => void };
  /** Told each warning about the options (deviationsInjectWarning) once they hold, before the runs. */
  readonly warn?: (message: string) => void;
  readonly names: OptionNames;
}

/** An exploration done: its report and all that its formats need. */
export interface Explored {
  readonly file: string;
  readonly setup: RunSetup;
  readonly report: ExploreReport;
  readonly firstSeed: number;
  readonly strategy: StrategySpec | null;
  readonly workers: number;
  /** Stopped by a signal (`interrupt`) before its end: which, and the seeds it was to run. */
  readonly interrupted: { readonly signal: string; readonly of: number } | null;
  /** Wall-clock time a seed may run in a worker thread (--seed-timeout). */
  readonly seedLimitMs: number;
  /** Wall time of the seeds' runs, and of the shrinking after them. */
  readonly wallMs: number;
  readonly shrinkMs: number;
  /** Each group's replay file as text, by its kind (FailureGroup.key). */
  readonly replayTexts: ReadonlyMap<string, string>;
  /** The files written (with `out`), by kind. */
  readonly replays: ReadonlyMap<string, string>;
  readonly reports: ReadonlyMap<string, string>;
  /** What the options call for a warning about (deviationsInjectWarning), in order. */
  readonly warnings: readonly string[];
}

/** Runs an exploration as `ndis-sim explore` does; bad input throws an InputError before any run. */
export async function exploreFile(o: ExploreInput): Promise<Explored> {
  pretenuringOff();
  const n = o.names;
  const raw = o.text ?? readScenarioText(o.file);
  // With the scenario's own driverModules: a worker thread and the replay file load them all.
  const named = new Map<string, string>();
  // From code, a module is named by its place in the option (driverFiles[0]), and a
  // driver object by its place in `drivers` (T9).
  const nf = n.driverFiles;
  if (nf !== null)
    for (const [i, f] of (o.driverFiles ?? []).entries()) if (!named.has(f)) named.set(f, `${nf}[${i}]`);
  const taken = checkDriverObjects(o.drivers ?? []);
  const driverFiles =
    o.scenarioModules === true
      ? withScenarioModules(o.driverFiles ?? [], raw, o.file, named)
      : [...(o.driverFiles ?? [])];
  const drivers = [...(o.drivers ?? []), ...(await loadDriverModules(driverFiles, named, taken))];
  // Every problem of the options at once, each on its own line (README), then the file's.
  const problems: string[] = [];
  const opt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      problems.push(...e.problems);
      return undefined;
    }
  };
  const cpus = opt(() => intOption(o.cpus, n.cpus, 1, maxCpus));
  const until = opt(() => untilOption(o.until, n.until));
  const firstSeedOpt = opt(() => intOption(o.firstSeed, n.seed) ?? 1);
  const runsOpt = opt(() => intOption(o.runs, n.runs, 1) ?? 1000);
  if (firstSeedOpt !== undefined && runsOpt !== undefined && firstSeedOpt + runsOpt - 1 > 0xffffffff)
    problems.push(
      `${n.runs}: expected seeds up to 4294967295, got ${n.seed} ${firstSeedOpt} and ${n.runs} ${runsOpt}`,
    );
  const shrinkRuns = opt(() => intOption(o.shrinkRuns, n.shrinkRuns)) ?? 2000;
  const outDir = o.out;
  if (outDir !== undefined) opt(() => checkOutDir(outDir, n.out));
  const verifierOpt = opt(() =>
    oneOf<'bugcheck' | 'collect'>(o.verifier, n.verifier, ['bugcheck', 'collect']),
  );
  // The strategy's horizon needs the scenario: here only its values are checked.
  const kindOk = opt(() => oneOf(o.strategy, n.strategy, ['random', 'deviations']) ?? 'random');
  const depthOk = opt(() => intOption(o.depth, n.depth, 1, depthMax) ?? 0);
  if (kindOk !== undefined && depthOk !== undefined) opt(() => strategyOption(o, null, n));
  const jobsOpt = opt(() => (o.jobs === undefined ? null : intOption(o.jobs, n.jobs, 1, jobsMax)!));
  const seedLimitOpt = opt(() => untilOption(o.seedTimeout, n.seedTimeout) ?? seedTimeoutDefaultNs);
  // A worker thread loads the drivers from their files: objects cannot go to it.
  if (jobsOpt != null && jobsOpt > 1 && (o.drivers ?? []).length > 0)
    problems.push(
      `${n.jobs}: expected 1 with drivers given as objects (a worker thread loads its drivers from driverFiles), got ${jobsOpt}`,
    );
  // Only a worker thread can be stopped from outside (docs/decisions.md): a limit that no
  // seed would be watched by is refused rather than ignored; one given without a thread
  // count has every seed run in worker threads, the first second's too.
  const watchAll = o.seedTimeout !== undefined;
  if (watchAll && jobsOpt === 1)
    problems.push(
      `${n.seedTimeout}: expected it with ${n.jobs} 2 or more, or without ${n.jobs} (a seed that runs in the command's own thread cannot be stopped), got ${n.jobs} 1`,
    );
  if (watchAll && (o.drivers ?? []).length > 0)
    problems.push(
      `${n.seedTimeout}: expected it only with drivers loaded from driverFiles (drivers given as objects run in this thread, where a seed cannot be stopped)`,
    );
  const text = withCpus(raw, cpus);
  // Every problem of the file at once, the inject windows' and the ioctl codes' among them.
  const scenarioOpt = opt(() =>
    parseScenarioText(text, o.file, driverNames(drivers), {
      injectWindows: { untilNs: until },
      ioctlCodes: ioctlCodesFor(drivers),
      ownDrivers: n.ownDrivers,
    }),
  );
  if (problems.length > 0) throw new InputError(problems);
  const scenario = scenarioOpt!;
  const firstSeed = firstSeedOpt!;
  const runs = runsOpt!;
  const jobs = jobsOpt!;
  const seedLimitNs = seedLimitOpt!;
  const plain: RunSetup = {
    scenario,
    drivers,
    untilNs: untilNs(scenario, { untilNs: until }),
    verifier: verifierOpt ?? scenario.verifier,
  };
  const spec = strategyOption(o, plain, n);
  const setup: RunSetup = spec === undefined ? plain : { ...plain, strategy: spec };
  // What `run` warns of too (an action after a shutdown, R1.6), once, before the runs.
  const warnings: string[] = [...scenarioWarnings(scenario)];
  const deviationsWarning = deviationsInjectWarning(scenario, spec, n);
  if (deviationsWarning !== null) warnings.push(deviationsWarning);
  // More worker threads than cores only share them, each loading ndis-sim and the
  // drivers (review-explore #8: --jobs 5 on two cores took 5 times as long as --jobs 1).
  // Said before the runs (stderr), not in the report, which is the same for any --jobs.
  const cores = availableParallelism();
  if (jobs !== null && Math.min(jobs, runs) > cores)
    o.warn?.(
      `${n.jobs} ${jobs} is above this machine's ${cores} core${cores === 1 ? '' : 's'} (os.availableParallelism()): the worker threads only share them, and each loads ndis-sim and the drivers; ${n.jobs} ${cores} is as fast or faster`,
    );
  for (const w of warnings) o.warn?.(w);
  const t0 = performance.now();
  const tick = o.progress?.(runs);
  const src = { file: o.file, text, driverFiles };
  const { report, workers, inWorkers } = await exploreOnCores(
    setup,
    src,
    {
      firstSeed,
      runs,
      jobs: (o.drivers ?? []).length > 0 ? 1 : jobs,
      seedLimitMs: seedLimitNs / 1e6,
      watchAll,
    },
    tick,
    o.interrupt,
  );
  // The runs' rate is of the exploring alone; shrinking is timed apart.
  const wallMs = performance.now() - t0;
  secondCopyCheck(report, o.file);
  const onShrinkRun =
    shrinkRuns > 0 && report.groups.length > 0 ? o.shrinking?.(report.groups.length) : undefined;
  // Interrupted: no shrinking (it can take minutes); the replay files hold the seeds' own runs.
  if (o.interrupt?.signal.aborted !== true && inWorkers && shrinkRuns > 0 && report.groups.length > 0) {
    // The seeds ran in worker threads: so does the shrinking, each candidate under the
    // seed's limit, while this thread waits (its progress line and signals go on).
    const r = await shrinkInWorker(
      {
        ...src,
        untilNs: setup.untilNs,
        verifier: setup.verifier,
        ...(setup.strategy === undefined ? {} : { strategy: setup.strategy }),
        maxRuns: shrinkRuns,
        reduce: o.reduce !== false,
      },
      report,
      seedLimitNs / 1e6,
      onShrinkRun,
      o.interrupt?.signal,
    );
    if (!r.interrupted)
      report.groups.forEach((g, i) => {
        const got = r.results[i];
        if (got === null || got === undefined) return;
        const timedOut = r.timedOut[i]!;
        g.shrunk = timedOut === 0 ? got.shrunk : { ...got.shrunk, timedOut };
        g.reduced =
          got.reduced === null
            ? null
            : {
                ...got.reduced,
                scenario: parseScenarioText(got.reduced.text, o.file, driverNames(drivers)),
              };
      });
  } else if (o.interrupt?.signal.aborted !== true) {
    try {
      inThisThread(
        () =>
          shrinkAndReduce(
            setup,
            report,
            shrinkRuns,
            o.reduce === false ? null : { text, file: o.file, driverNames: driverNames(drivers) },
            onShrinkRun,
          ),
        o.interrupt?.sigint !== undefined,
      );
    } catch (e) {
      // (A SIGINT that lands in a write of the shrinking's status line may leave stderr
      // stuck, its later lines lost; stdout, where the report goes, is not touched there.)
      if (!brokenBySigint(e)) throw e;
      o.interrupt?.sigint?.();
      // A group may be half done (its scenario reduced, its decisions not shrunk again for it).
      for (const g of report.groups) {
        g.shrunk = null;
        g.reduced = null;
      }
    }
  }
  const aborted = o.interrupt?.signal.aborted === true ? o.interrupt.signal : null;
  const shrinkMs = performance.now() - t0 - wallMs;
  const replayTexts = new Map<string, string>();
  const replays = new Map<string, string>();
  const reports = new Map<string, string>();
  if (o.out !== undefined && report.groups.length > 0) {
    try {
      makeDir(o.out);
    } catch (e) {
      throw cannotWriteOut(o.out, n.out, e);
    }
  }
  for (const g of report.groups) {
    const {
      file: r,
      traced,
      scenario: ran,
    } = replayOf(
      g,
      setup,
      src,
      (o.drivers ?? []).map((d) => d.name),
    );
    // A file written names its modules from its own directory, so `ndis-sim replay`
    // finds them from anywhere (an absolute path stays one); `replayText` without `out`
    // names them as given, from the directory the exploration ran in.
    const out = o.out;
    const replayText = formatReplayFile(
      out === undefined ? r : { ...r, drivers: r.drivers.map((d) => driverPathFrom(out, d)) },
    );
    replayTexts.set(g.key, replayText);
    if (o.out === undefined) continue;
    const stem = join(o.out, `${basename(o.file, extname(o.file))}.seed${g.seeds[0]}`);
    try {
      const path = writeOwnFile(stem, '.replay.json', replayText);
      replays.set(g.key, path);
      const html = path.replace(/\.replay\.json$/, '.html');
      if (o.html === true) {
        const summary = traced.world.summary();
        writeFileSync(
          html,
          toHtmlReport({
            scenario: ran,
            seed: r.seed,
            seedLabel: r.shrunk ? 'shrunk from seed' : 'seed',
            events: traced.world.trace.events,
            dropped: traced.world.trace.dropped,
            result: traced.result,
            summary,
            expectation: checkExpectations(
              ran,
              traced.result,
              { ...summary, devices: traced.world.expectView().devices },
              setup.verifier,
            ),
            version: r.ndisSim,
            choices: { decisions: traced.world.decisions(), shrunk: r.shrunk },
          }),
        );
        reports.set(g.key, html);
      }
    } catch (e) {
      throw cannotWriteOut(o.out, n.out, e);
    }
  }
  return {
    file: o.file,
    setup,
    report,
    firstSeed,
    strategy: spec ?? null,
    workers,
    interrupted: aborted === null ? null : { signal: String(aborted.reason), of: runs },
    seedLimitMs: seedLimitNs / 1e6,
    wallMs,
    shrinkMs,
    replayTexts,
    replays,
    reports,
    warnings,
  };
}

/** What the report's formats (text, JSON) take from an exploration done. */
export function formatOptions(
  x: Explored,
  color: boolean,
  runCommand: ((seed: number) => string) | undefined,
): ExploreFormatOptions {
  return {
    color,
    file: x.file,
    firstSeed: x.firstSeed,
    wallMs: x.wallMs,
    shrinkMs: x.shrinkMs,
    workers: x.workers,
    interrupted: x.interrupted,
    seedLimitMs: x.seedLimitMs,
    replays: x.replays,
    reports: x.reports,
    strategy: x.strategy,
    warnings: x.warnings,
    ...(runCommand === undefined ? {} : { runCommand }),
  };
}

/**
 * The command that shows what a seed gave here (`ndis-sim run … --seed N`), with the
 * options the exploration was given, quoted for a POSIX shell; undefined when its
 * drivers were objects, which no command can name.
 */
export function runCommandFor(
  x: Explored,
  driverFiles: readonly string[],
  o: {
    readonly until?: string | number;
    readonly cpus?: string | number;
    readonly verifier?: string;
    readonly drivers?: readonly unknown[];
  },
): ((seed: number) => string) | undefined {
  if ((o.drivers ?? []).length > 0) return undefined;
  const sh = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  const spec = x.strategy;
  const flags = [
    ...driverFiles.map((d) => ` --driver ${sh(d)}`),
    // A number from code is nanoseconds: the flag needs the unit (T3).
    ...(o.until === undefined
      ? []
      : [` --until ${sh(typeof o.until === 'number' ? `${o.until}ns` : o.until)}`]),
    ...(o.cpus === undefined ? [] : [` --cpus ${sh(String(o.cpus))}`]),
    ...(o.verifier === undefined ? [] : [` --verifier ${o.verifier}`]),
    ...(spec?.kind === 'deviations' ? [` --strategy deviations --depth ${spec.depth}`] : []),
  ].join('');
  return (seed) => `ndis-sim run ${sh(x.file)}${flags} --seed ${seed}`;
}

/**
 * How long this thread runs seeds before it decides whether the rest go to worker
 * threads; it looks at the clock after each run, so a slow seed does not keep it.
 */
const probeMs = 1000;
/**
 * Rest of an exploration, in seconds of this thread, worth starting worker threads
 * for. A worker takes about a second to start (it loads ndis-sim through tsx and
 * warms its JIT up), and on our two-core machines two threads run 1.5 times as fast
 * as one, not twice (docs/decisions.md, "The explorer").
 */
const workersWorthSeconds = 10;

/** This thread runs seeds this long at a time, then lets a signal's listener run. */
const sliceMs = 100;

/** The script through which this thread's runs go when a SIGINT may break them. */
const sigintGuard = new Script('globalThis[Symbol.for("ndis-sim.explore.run")]()');

/**
 * `f()`, through node:vm with breakOnSigint when `breakable`: a SIGINT then throws out
 * of it (brokenBySigint), even out of a driver callback that never returns, where a
 * listener of the signal would wait for it for ever. Outside the simulation: what was
 * run is thrown away.
 */
function inThisThread<T>(f: () => T, breakable: boolean): T {
  if (!breakable) return f();
  const key = Symbol.for('ndis-sim.explore.run');
  const g = globalThis as unknown as Record<symbol, unknown>;
  g[key] = f;
  try {
    return sigintGuard.runInThisContext({ breakOnSigint: true }) as T;
  } finally {
    delete g[key];
  }
}

function brokenBySigint(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
}

/**
 * Seeds `firstSeed` … in this thread, `sliceMs` at a time with a turn of the event
 * loop between (a signal's listener runs there), until they are done, `until` says
 * so after a run, or the interrupt's signal aborts.
 */
async function seedsInThisThread(
  setup: RunSetup,
  firstSeed: number,
  runs: number,
  progress: ((done: number, failed: number) => void) | undefined,
  interrupt: ExploreInput['interrupt'],
  until?: () => boolean,
): Promise<ExploreReport> {
  const parts: ExploreReport[] = [];
  let done = 0;
  let failed = 0;
  const aborted = (): boolean => interrupt?.signal.aborted === true;
  while (done < runs && !aborted()) {
    const t = performance.now();
    const base = { done, failed };
    // Not through inThisThread: node:vm takes the SIGINT listeners off and puts them
    // back around each call, and a SIGINT in between ends the process (docs/decisions.md).
    const part = exploreSeeds(
      setup,
      firstSeed + done,
      runs - done,
      (d, f) => progress?.(base.done + d, base.failed + f),
      () => until?.() === true || performance.now() - t >= sliceMs,
    );
    parts.push(part);
    done += part.runs;
    failed += part.failed;
    if (until?.() === true) break;
    await new Promise((r) => setImmediate(r));
  }
  return mergeReports(parts);
}

/**
 * Runs the seeds: in `jobs` worker threads when given (1: in this thread only), or,
 * with a --seed-timeout and no `jobs`, in one worker thread a core. By default this
 * thread runs seeds for a second, looking at the clock after each; if the rest would
 * take more than ten seconds more at that pace, it goes to one worker thread a core
 * (each starts cold: it loads the modules and warms its JIT up). Never more workers
 * than seeds. The report is the same either way. When the interrupt's signal aborts,
 * the report holds the seeds done by then.
 */
async function exploreOnCores(
  setup: RunSetup,
  src: { file: string; text: string; driverFiles: readonly string[] },
  seeds: {
    firstSeed: number;
    runs: number;
    jobs: number | null;
    seedLimitMs: number;
    /** A --seed-timeout was given: without `jobs`, every seed runs in a worker thread (one a core). */
    watchAll: boolean;
  },
  progress: ((done: number, failed: number) => void) | undefined,
  interrupt: ExploreInput['interrupt'],
): Promise<{ report: ExploreReport; workers: number; inWorkers: boolean }> {
  const { firstSeed, runs, jobs, seedLimitMs, watchAll } = seeds;
  const job = {
    ...src,
    untilNs: setup.untilNs,
    verifier: setup.verifier,
    ...(setup.strategy === undefined ? {} : { strategy: setup.strategy }),
  };
  const signal = interrupt?.signal;
  // A worker a seed at most: more would load ndis-sim for nothing.
  const cores = Math.min(availableParallelism(), runs);
  if (jobs !== null && jobs > 1) {
    const n = Math.min(jobs, runs);
    return {
      report: await exploreInWorkers(job, firstSeed, runs, n, progress, seedLimitMs, signal),
      workers: n,
      inWorkers: true,
    };
  }
  if (jobs === null && watchAll)
    return {
      report: await exploreInWorkers(job, firstSeed, runs, cores, progress, seedLimitMs, signal),
      workers: cores,
      inWorkers: true,
    };
  if (jobs === 1 || cores === 1)
    return {
      report: await seedsInThisThread(setup, firstSeed, runs, progress, interrupt),
      workers: 1,
      inWorkers: false,
    };
  const t0 = performance.now();
  const first = await seedsInThisThread(
    setup,
    firstSeed,
    runs,
    progress,
    interrupt,
    () => performance.now() - t0 >= probeMs,
  );
  const done = first.runs;
  const more = (d: number, f: number): void => progress?.(done + d, first.failed + f);
  const restSeconds = (((performance.now() - t0) / done) * (runs - done)) / 1000;
  if (done === runs || signal?.aborted === true || restSeconds <= workersWorthSeconds) {
    const rest = await seedsInThisThread(setup, firstSeed + done, runs - done, more, interrupt);
    return { report: mergeReports([first, rest]), workers: 1, inWorkers: false };
  }
  const n = Math.min(cores, runs - done);
  const rest = await exploreInWorkers(job, firstSeed + done, runs - done, n, more, seedLimitMs, signal);
  return { report: mergeReports([first, rest]), workers: n, inWorkers: true };
}

/**
 * A driver that imported 'ndis-sim' as a second copy of its modules (src/ndis/api/common.ts)
 * fails every seed in its DriverEntry: not a bug of the driver, but of how it was loaded
 * (review-explore #2). Bad input, with the cause and the fix, not a failure to shrink.
 */
function secondCopyCheck(report: ExploreReport, file: string): void {
  const g = report.groups.find((x) => x.first.detail.includes("a second copy of ndis-sim's modules"));
  if (g === undefined) return;
  throw new InputError([
    `${file}: a driver imported 'ndis-sim' as a second copy of its modules (seed ${g.seeds[0]}: ${g.signature}${g.where === null ? '' : ` ${g.where}`}): ` +
      `it was loaded as CommonJS, as a .ts file is in a package whose package.json has no "type": "module" (npm's default) or in a folder with none. ` +
      `Add "type": "module" to that package.json, rename the file .mts, or, for a driver given as an object, give its file in driverFiles (loaded through ndis-sim's hooks)`,
  ]);
}

function cannotWriteOut(dir: string, name: string, e: unknown): InputError {
  const why = (e as NodeJS.ErrnoException).code ?? String(e);
  return new InputError([
    `${name}: expected a directory that can be written, got ${JSON.stringify(dir)} (${why})`,
  ]);
}

/**
 * Says before the runs, not after them, that `out` cannot be written: its nearest
 * part that exists must be a directory we may write in. The directory itself is made
 * only when there is a replay file to write.
 */
function checkOutDir(dir: string, name: string): void {
  let p = resolve(dir);
  for (;;) {
    try {
      const st = statSync(p);
      if (!st.isDirectory()) throw cannotWriteOut(dir, name, Object.assign(new Error(), { code: 'ENOTDIR' }));
      accessSync(p, constants.W_OK);
      return;
    } catch (e) {
      if (e instanceof InputError) throw e;
      const up = dirname(p);
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || up === p) throw cannotWriteOut(dir, name, e);
      p = up;
    }
  }
}

/**
 * A driver module's path as a replay file in `dir` records it: relative to that
 * directory, with '/' between its parts; an absolute path as it is.
 */
export function driverPathFrom(dir: string, module: string): string {
  if (isAbsolute(module)) return module;
  return relative(resolve(dir), resolve(module)).split(sep).join('/');
}

/** Other names tried for a replay file whose name another failure's file has: `-2` … */
const namesTriedMax = 1000;

/**
 * Writes `text` to `<stem><ext>`, or to `<stem>-2<ext>`, `-3` … when that name holds
 * a different file: a replay file of another exploration (another scenario of the same
 * name, other options, a changed driver) is never overwritten. A file that already
 * holds this very text is left as it is, and its name returned. Each name is taken with
 * an exclusive create, so two explorations writing at once cannot take the same one.
 */
function writeOwnFile(stem: string, ext: string, text: string): string {
  for (let i = 1; i <= namesTriedMax; i++) {
    const path = `${stem}${i === 1 ? '' : `-${i}`}${ext}`;
    try {
      writeFileSync(path, text, { flag: 'wx' });
      return path;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (readFileSync(path, 'utf8') === text) return path;
  }
  throw Object.assign(new Error(), { code: `EEXIST (${stem}${ext} and ${namesTriedMax - 1} others)` });
}

/** Makes `dir` one level at a time: node 20's recursive mkdirSync loops for ever on /proc/x. */
function makeDir(dir: string): void {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) missing.push(p);
  for (const p of missing.reverse()) mkdirSync(p);
}

/**
 * The replay file of a group's run (shrunk if it was, else the first seed's own
 * decisions), the run it replays, with its trace, and the scenario it ran.
 */
function replayOf(
  g: FailureGroup,
  setup: RunSetup,
  src: { file: string; text: string; driverFiles: readonly string[] },
  /** The names of the drivers given as objects (exploreScenario's `drivers`), which no file names; the file lists those the scenario names. */
  driverObjects: readonly string[],
): { file: ReplayFile; traced: OneRun; scenario: Scenario } {
  const seed = g.seeds[0]!;
  // A reduced scenario is the one the shrunk decisions run against.
  if (g.reduced !== null) {
    setup = { ...setup, scenario: g.reduced.scenario, untilNs: g.reduced.untilNs };
    src = { ...src, text: g.reduced.text };
  }
  const decisions =
    g.shrunk !== null
      ? g.shrunk.decisions
      : trimDecisions(runOnce(setup, seed, { record: true }).world.decisions());
  // The run once more with its trace, for the digest the replay checks.
  // Recorded too: the HTML report lists its decisions, as `replay --html` does.
  const traced = runOnce(setup, seed, {
    replay: decisions,
    strategy: new FixedStrategy([]),
    trace: true,
    record: true,
  });
  const want = g.shrunk?.outcome.key ?? g.key;
  if (traced.outcome.key !== want)
    throw new InternalError('explore: the replayed run does not fail as the explored one did', [
      want,
      traced.outcome.key,
    ]);
  // Of the drivers given as objects, those the scenario (as the run had it) names.
  const s = setup.scenario;
  const named = new Set([
    ...s.devices.map((d) => d.driver),
    ...s.filters.map((f) => f.driver),
    ...s.protocolDrivers.map((p) => p.driver),
    ...s.actions.flatMap((a) => (a.driver === undefined ? [] : [a.driver])),
  ]);
  const needed = driverObjects.filter((d) => named.has(d));
  const file: ReplayFile = withContentDigest({
    format: 'ndis-sim replay 1',
    ndisSim: packageVersion(),
    scenario: { file: src.file, text: src.text },
    drivers: [...src.driverFiles],
    ...(needed.length === 0 ? {} : { driverObjects: needed }),
    driverSha256: src.driverFiles.map((d) => fileSha256(readFileSync(d))),
    seed,
    untilNs: setup.untilNs,
    verifier: setup.verifier,
    failure: {
      signature: traced.outcome.signature,
      // Only where the failure has one: a file of a failure without keeps its bytes.
      ...(traced.outcome.where === null ? {} : { where: traced.outcome.where }),
      detail: traced.outcome.detail,
    },
    shrunk: g.shrunk !== null,
    trace: traceDigest(traced.world.trace.events),
    // Named from the traced run's own log (times, labels, notes); its answers are `decisions`.
    choices: namedChoices(traced.world.decisions()),
    decisions: toDecisionRows(decisions),
  });
  return { file, traced, scenario: setup.scenario };
}
