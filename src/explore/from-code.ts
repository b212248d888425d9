// An exploration from code (README "Exploring from code"): what `ndis-sim explore`
// does, for a test of your own, through the same code (session.ts). It returns the
// report `explore --json` prints, with each failure's replay file as text, and the
// report's text for an assertion's message. Bad input throws an InputError whose
// `problems` are the lines the CLI prints, with the options named as here.

import { register } from 'node:module';
import { InputError } from '../errors.ts';
import type { DriverModule } from '../ndis/driver.ts';
import { nearest } from '../sim/nearest.ts';
import { packageVersion } from '../version.ts';
import { type ExploreJson, exploreJson, type FailureJson, formatExploreReport } from './format.ts';
import { exploreFile, formatOptions, type OptionNames, runCommandFor } from './session.ts';

export interface ExploreScenarioOptions {
  /** The scenario's text; the file name then only names it in messages and replay files. */
  readonly text?: string;
  /** Drivers of yours the scenario names, beside the built-in ones (the seeds then run in this thread). */
  readonly drivers?: readonly DriverModule[];
  /**
   * Driver modules by path, as `--driver` takes them: loaded here, named in the replay
   * files (so `ndis-sim replay` finds them), and loaded by each worker thread of `jobs`.
   */
  readonly driverFiles?: readonly string[];
  /** The first seed (default 1). */
  readonly firstSeed?: number;
  /** How many seeds to run from `firstSeed` on (default 1000). */
  readonly runs?: number;
  /**
   * Virtual time each run stops at (default: the scenario's `until:`): a duration with
   * its unit ("30s", "500ms"), or a number of whole nanoseconds, as World.run takes it
   * (`30 * ns.s`); a string of digits alone ("30") is bad input, as in a scenario.
   */
  readonly until?: string | number;
  /** The machine's CPUs, 1 to 64, in place of the scenario's `cpus:`. */
  readonly cpus?: number;
  /** Runs each step of a failure's shrinking may take (default 2000; 0: no shrinking). */
  readonly shrinkRuns?: number;
  /** Shrink the scenario too, not only the decisions (default true). */
  readonly reduce?: boolean;
  /** How a seed answers the choices (default random); `depth` goes with deviations. */
  readonly strategy?: 'random' | 'deviations';
  readonly depth?: number;
  /** Default: the scenario's `verifier:`. */
  readonly verifier?: 'bugcheck' | 'collect';
  /**
   * Worker threads for the seeds (default 1: this thread, or one a core when
   * `seedTimeout` is given); above 1 only with `driverFiles`.
   */
  readonly jobs?: number;
  /** A directory to write the replay files to (default: none is written). */
  readonly out?: string;
  /** With `out`: each replayed run's HTML report beside its replay file. */
  readonly html?: boolean;
  /**
   * Wall-clock time one seed may run in a worker thread before it is stopped and
   * listed in the result's `timedOut` ("30s", or a number of whole nanoseconds such as
   * `30 * ns.s`; default 60 s). Given without
   * `jobs`, every seed runs in worker threads (one a core); with `jobs: 1`, or drivers
   * given as objects, no seed runs in one, and it is an InputError.
   */
  readonly seedTimeout?: string | number;
  /** Called after each run (or batch of runs, in worker threads): runs done, failures found. */
  readonly progress?: (done: number, failed: number) => void;
}

/** A kind of failure an exploration found, with its replay file. */
export interface ExploredFailure extends FailureJson {
  /** The replay file's contents, as `ndis-sim explore` writes it: `ndis-sim replay` runs it again. */
  readonly replayText: string;
}

/** The report `ndis-sim explore --json` prints, each failure with its replay file as text. */
export interface Exploration extends Omit<ExploreJson, 'failures'> {
  readonly failures: readonly ExploredFailure[];
  /** The report as `ndis-sim explore` prints it, without colours: for an assertion's message. */
  readonly text: string;
}

/** Every key of ExploreScenarioOptions (checked against the type: a key added there must be added here). */
const optionKeys = [
  'text',
  'drivers',
  'driverFiles',
  'firstSeed',
  'runs',
  'until',
  'cpus',
  'shrinkRuns',
  'reduce',
  'strategy',
  'depth',
  'verifier',
  'jobs',
  'out',
  'html',
  'seedTimeout',
  'progress',
] as const satisfies readonly (keyof ExploreScenarioOptions)[];
// Each key of the type is in the list: this fails to compile when one is missing.
const _allKeys: Record<keyof ExploreScenarioOptions, true> = Object.fromEntries(
  optionKeys.map((k) => [k, true]),
) as { [K in (typeof optionKeys)[number]]: true };
void _allKeys;

let hooked = false;

/**
 * Registers the CLI's module resolution hooks (src/cli/hooks.mjs) in this process, once:
 * from then on a .ts file outside node_modules is an ES module, and 'ndis-sim' is this
 * copy (README, "Exploring from code").
 */
function useCliHooks(): void {
  if (hooked) return;
  hooked = true;
  register('../cli/hooks.mjs', import.meta.url);
}

/** The options as messages name them from code. */
const fieldNames: OptionNames = {
  seed: 'firstSeed',
  runs: 'runs',
  until: 'until',
  cpus: 'cpus',
  shrinkRuns: 'shrinkRuns',
  strategy: 'strategy',
  depth: 'depth',
  jobs: 'jobs',
  out: 'out',
  verifier: 'verifier',
  seedTimeout: 'seedTimeout',
  driverFiles: 'driverFiles',
  ownDrivers: 'passed in drivers: [...] or driverFiles: [...]',
};

/**
 * Runs the scenario of `file` (YAML or JSON) under seeds `firstSeed` … as `ndis-sim
 * explore` does: the same runs, failure groups, shrunk choices and replay files.
 */
export async function exploreScenario(file: string, o: ExploreScenarioOptions = {}): Promise<Exploration> {
  // A misspelt option (`shrinkruns`) would silently be the default: refused, as World.addDevice's keys are.
  const unknown = Object.keys(o).filter((k) => !(optionKeys as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new InputError(
      unknown.map((k) => {
        const near = nearest(k, optionKeys);
        return `${k}: not an option of exploreScenario${near === null ? '' : `; did you mean ${near}?`} (options: ${optionKeys.join(', ')})`;
      }),
    );
  // driverFiles load as on the command line (review-explore #2): through the CLI's
  // hooks, so a .ts driver in a package without "type": "module" (npm's default) is
  // an ES module whose 'ndis-sim' is this copy, not a CommonJS second copy.
  if ((o.driverFiles ?? []).length > 0) useCliHooks();
  const { progress, ...rest } = o;
  const x = await exploreFile({
    ...rest,
    file,
    // This thread by default; a seedTimeout alone asks for worker threads, as on the command line.
    ...(o.jobs === undefined && o.seedTimeout !== undefined ? {} : { jobs: o.jobs ?? 1 }),
    ...(progress === undefined ? {} : { progress: () => progress }),
    names: fieldNames,
  });
  const fo = formatOptions(x, false, runCommandFor(x, o.driverFiles ?? [], o));
  const json = exploreJson(x.report, fo, packageVersion());
  return {
    ...json,
    failures: json.failures.map((f, i) => ({
      ...f,
      replayText: x.replayTexts.get(x.report.groups[i]!.key)!,
    })),
    text: formatExploreReport(x.report, fo).join('\n'),
  };
}
