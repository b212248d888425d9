// The ndis-sim command. Exit codes (DESIGN.md): 0 the run ended as expected,
// 1 a rule violation or bug check (or expectations not met), 2 bad usage or
// bad input, 3 an internal error of ndis-sim.

import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { gallery } from '../drivers/buggy/index.ts';
import { builtinDrivers, driverNames } from '../drivers/index.ts';
import { InputError, InternalError } from '../errors.ts';
import type { DriverModule } from '../ndis/driver.ts';
import { toJsonLines } from '../report/jsonl.ts';
import {
  filterRules,
  formatRule,
  formatRuleTable,
  formatStateTable,
  type RuleFilter,
} from '../report/rules.ts';
import { formatBugCheckReport, formatSummary } from '../report/summary.ts';
import { formatTimeline } from '../report/timeline.ts';
import { buildWorld, checkExpectations, untilNs } from '../scenario/build.ts';
import { loadScenario } from '../scenario/load.ts';
import { nearest, parseDuration } from '../scenario/schema.ts';
import { catalogue } from '../verifier/catalogue.ts';

/** The package's version, from its package.json (outside the simulation). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** An output stream that cannot be written (a full disk, say): one line, exit 2. */
function outputFailed(e: NodeJS.ErrnoException): never {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); // piped into `head`
  process.stderr.write(`ndis-sim: cannot write the output (${e.code ?? e.message})\n`);
  process.exit(2);
}

const out = (s: string): void => {
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
  trace?: string;
  quiet?: boolean;
  datapath?: boolean;
  color?: boolean;
  verifier?: 'bugcheck' | 'collect';
}

function intOption(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new InputError([`${flag}: expected an integer from 0 to 4294967295, got ${JSON.stringify(v)}`]);
  }
  return n;
}

function cannotWriteTrace(file: string, e: unknown): InputError {
  const why = (e as NodeJS.ErrnoException).code ?? String(e);
  return new InputError([
    `--trace: expected a file that can be written, got ${JSON.stringify(file)} (${why})`,
  ]);
}

/** Creates (or empties) the --trace file, so that a bad path fails before the run. */
function checkWritable(file: string): void {
  try {
    closeSync(openSync(file, 'w'));
  } catch (e) {
    throw cannotWriteTrace(file, e);
  }
}

function isDriverModule(v: unknown): v is DriverModule {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Partial<DriverModule>;
  return typeof d.name === 'string' && typeof d.load === 'function';
}

/**
 * The drivers of `--driver` modules: every DriverModule a module exports, by name or
 * in an array (its default export included). Outside the simulation, so it may await.
 */
async function loadDriverModules(files: readonly string[]): Promise<DriverModule[]> {
  const found: DriverModule[] = [];
  const names = new Map<string, string>(builtinDrivers.map((d) => [d.name, 'a built-in driver']));
  for (const f of files) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(resolve(f)).href)) as Record<string, unknown>;
    } catch (e) {
      const why = e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e);
      throw new InputError([`--driver: cannot load ${JSON.stringify(f)}: ${why}`]);
    }
    const mine = [...new Set(Object.values(mod).flatMap((v) => (Array.isArray(v) ? v : [v])))].filter(
      isDriverModule,
    );
    if (mine.length === 0) {
      throw new InputError([
        `--driver ${f}: expected a module that exports a DriverModule ({ name, load() }), got exports ${Object.keys(mod).join(', ') || 'none'}`,
      ]);
    }
    for (const d of mine) {
      const clash = names.get(d.name);
      if (clash !== undefined)
        throw new InputError([`--driver ${f}: driver name '${d.name}' is taken by ${clash}`]);
      names.set(d.name, f);
      found.push(d);
    }
  }
  return found;
}

/** Trace events kept with --quiet and no --trace: a bug check prints the last 12. */
const quietTraceMax = 4096;

async function runCommand(file: string, opts: RunOptions): Promise<number> {
  const drivers = await loadDriverModules(opts.driver ?? []);
  const scenario = loadScenario(file, driverNames(drivers));
  const seed = intOption(opts.seed, '--seed') ?? scenario.seed;
  let until: number | undefined;
  if (opts.until !== undefined) {
    const d = parseDuration(/^\d+$/.test(opts.until) ? Number(opts.until) : opts.until);
    if (d === null)
      throw new InputError([
        `--until: expected a duration such as "30s", "500ms" or "1h", got ${JSON.stringify(opts.until)}`,
      ]);
    until = d;
  }
  // A --trace file that cannot be written is bad input: say so before the run, not after.
  if (opts.trace !== undefined) checkWritable(opts.trace);
  // With --quiet and no --trace file, only a bug check's last events are ever printed:
  // a small trace keeps memory flat on a run of any length.
  const traceMax = opts.quiet && opts.trace === undefined ? quietTraceMax : undefined;
  const world = buildWorld(scenario, {
    seed,
    trace: true,
    verifier: opts.verifier,
    drivers,
    ...(traceMax === undefined ? {} : { traceMax }),
  });
  const result = world.run(untilNs(scenario, { untilNs: until }));
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
  const expectation = checkExpectations(scenario, result, summary, opts.verifier ?? scenario.verifier);
  for (const l of formatSummary(summary, result, { color: c, seed, expectation })) out(l);
  if (opts.trace !== undefined) {
    try {
      writeFileSync(opts.trace, toJsonLines(world.trace.events));
    } catch (e) {
      throw cannotWriteTrace(opts.trace, e);
    }
    if (dropped > 0) process.stderr.write(`ndis-sim: ${opts.trace}: ${keptNote}\n`);
  }
  if (result.verdict === 'not-modelled') {
    // The verdict above says what; this line is for whoever reads only stderr.
    process.stderr.write('ndis-sim: the run reached something ndis-sim does not model (see the verdict)\n');
    return 2;
  }
  if (expectation !== null) return expectation.met ? 0 : 1;
  return result.verdict === 'ok' ? 0 : 1;
}

function rulesCommand(
  id: string | undefined,
  opts: RuleFilter & { states?: boolean; color?: boolean },
): number {
  const c = color(opts);
  if (opts.states) {
    for (const l of formatStateTable(c)) out(l);
    return 0;
  }
  const all = [...catalogue.values()];
  if (id !== undefined) {
    const r = catalogue.get(id);
    if (r === undefined) {
      const near = nearest(
        id,
        all.map((x) => x.id),
      );
      throw new InputError([
        `rules: expected a rule id, got ${JSON.stringify(id)}${near ? `; did you mean ${near}?` : ''}`,
      ]);
    }
    for (const l of formatRule(r, gallery, c)) out(l);
    return 0;
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
  for (const l of formatRuleTable(shown, all, c)) out(l);
  return 0;
}

const collect = (v: string, all: string[] = []): string[] => [...all, v];

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
  ndis-sim run examples/own-driver.yaml --driver examples/own-driver.ts --quiet
  ndis-sim rules Irql_Miniport_Driver_Function
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
      "virtual time to stop at, e.g. 30s or 500ms; a bare number is nanoseconds (default: the scenario's)",
    )
    .option('--trace <file>', 'write the trace as JSON Lines')
    .option('--quiet', 'print only the summary')
    .option('--datapath', 'show the data path in the timeline too (sends, receives, their completions)')
    .option('--no-color', 'no colours')
    .addOption(
      new Option('--verifier <mode>', 'stop at the first violation, or collect them all').choices([
        'bugcheck',
        'collect',
      ]),
    )
    .action(async (file: string, opts: RunOptions) => {
      code = await runCommand(file, opts);
    });
  program
    .command('rules')
    .description('list the rules the verifier knows, or explain one')
    .argument('[id]', 'a rule id, e.g. Irql_Miniport_Driver_Function')
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
        'ndis-sim',
      ]),
    )
    .option('--states', 'print the adapter state table instead')
    .option('--no-color', 'no colours')
    .action((id: string | undefined, opts: RuleFilter & { states?: boolean; color?: boolean }) => {
      code = rulesCommand(id, opts);
    });
  program
    .command('drivers')
    .description('list the drivers a scenario can name')
    .option('--driver <module>', 'also the drivers a module exports (repeatable)', collect)
    .action(async (opts: { driver?: string[] }) => {
      const all = [...builtinDrivers, ...(await loadDriverModules(opts.driver ?? []))];
      const width = Math.max(...all.map((d) => d.name.length)) + 2;
      for (const d of all) out(`${d.name.padEnd(width)}${d.description ?? ''}`);
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

// Output piped into `head` and closed early: stop quietly; any other failure: one line.
process.stdout.on('error', outputFailed);

let exitCode: number;
try {
  exitCode = await main(process.argv.slice(2));
} catch (e) {
  exitCode = fail(e);
}
process.exitCode = exitCode;
