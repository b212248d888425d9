// Driver modules named on the command line (--driver) or in a scenario
// (`driverModules:`): loaded outside the simulation.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import { builtinDrivers } from '../drivers/index.ts';
import { InputError } from '../errors.ts';
import type { DriverModule } from '../ndis/driver.ts';
import { nearest } from './schema.ts';

function isDriverModule(v: unknown): v is DriverModule {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Partial<DriverModule>;
  return typeof d.name === 'string' && typeof d.load === 'function';
}

/**
 * Why a module did not load, in a line: the error's message, or for a compile error
 * ("Transform failed with 1 error:") the errors it lists, each with file:line:col.
 */
/**
 * The errors a driver module's import failed with. Node reports some a second time as
 * an unhandled rejection (a CommonJS module, such as a .cts file, that throws while an
 * ES module imports it); the CLI has said it once already and ignores that repeat.
 */
const failedLoads = new WeakSet<object>();

/** Whether `e` is the error a `loadDriverModules` import failed with (reported already). */
export function isFailedDriverLoad(e: unknown): boolean {
  return typeof e === 'object' && e !== null && failedLoads.has(e);
}

function loadError(e: unknown, f: string): string {
  if (!(e instanceof Error)) return String(e);
  const lines = e.message.split('\n').filter((l) => l.trim() !== '');
  const head = lines[0] ?? '';
  // A CommonJS file (a .cts helper, say) that require()s ndis-sim: the CLI's hooks
  // resolve 'ndis-sim' for import only, and ndis-sim is an ES module.
  const stack = (e as { requireStack?: unknown }).requireStack;
  const api = /^Cannot find module '(ndis-sim(?:\/scenario)?)'/.exec(head);
  if (api !== null && Array.isArray(stack) && typeof stack[0] === 'string') {
    const from = stack[0];
    const inDir = relative(dirname(resolve(f)), from);
    const shown = inDir.startsWith('..') ? from : inDir;
    const ext = extname(from);
    const rename =
      ext === '.cts'
        ? `rename ${basename(from)} to .mts (or .ts) and `
        : ext === '.ts'
          ? ''
          : `rename ${basename(from)} to .mjs and `;
    return `${shown} calls require('${api[1]}'), but ${api[1]} is an ES module that only import loads: ${rename}write import … from '${api[1]}'`;
  }
  // import or export in a file Node loads as CommonJS.
  if (
    e instanceof SyntaxError &&
    /^(Cannot use import statement outside a module|Unexpected token 'export')$/.test(head)
  )
    return `${head}: the file is CommonJS (named .cjs or .cts, or a .js file under a package.json with "type": "commonjs"); name it .mjs or .ts to use import and export`;
  return head.endsWith(':') && lines.length > 1 ? lines.slice(1, 4).join('; ') : head;
}

/**
 * The drivers of `--driver` modules: every DriverModule a module exports, by name or
 * in an array (its default export included). Outside the simulation, so it may await.
 */
export async function loadDriverModules(
  files: readonly string[],
  named: ReadonlyMap<string, string> = new Map(),
  taken: ReadonlyMap<string, string> = new Map(),
): Promise<DriverModule[]> {
  const found: DriverModule[] = [];
  const names = new Map<string, string>([
    ...builtinDrivers.map((d): [string, string] => [d.name, 'a built-in driver']),
    ...taken,
  ]);
  for (const f of files) {
    // Where the module was named: `--driver x.ts`, or a scenario's `driverModules[i]`.
    const where = named.get(f) ?? `--driver ${f}`;
    // A mistyped path: say so, not what node's loader says of it (which names the
    // ndis-sim module that imported it).
    if (!existsSync(resolve(f))) {
      let near: string | null = null;
      try {
        const dir = dirname(f);
        const scripts = readdirSync(resolve(dir)).filter((x) => /\.(ts|mts|js|mjs)$/.test(x));
        const n = nearest(basename(f), scripts);
        near = n === null ? null : join(dir, n);
      } catch {
        // No such directory either.
      }
      throw new InputError([
        `${named.get(f) ?? '--driver'}: expected a module file (.ts or .js), got ${JSON.stringify(f)}: no such file from ${process.cwd()}${near === null ? '' : `; did you mean ${near}?`}`,
      ]);
    }
    // A directory: node's loader would refuse it naming the ndis-sim file that imported it.
    if (statSync(resolve(f)).isDirectory())
      throw new InputError([
        `${named.get(f) ?? '--driver'}: expected a module file (.ts or .js), got ${JSON.stringify(f)}: a directory`,
      ]);
    // Not a script (a scenario given as --driver, say): node's loader would name only
    // the extension it does not know.
    if (!/\.[cm]?[jt]sx?$/.test(f))
      throw new InputError([
        `${named.get(f) ?? '--driver'}: expected a module file (.ts or .js), got ${JSON.stringify(f)}${!named.has(f) && /\.(ya?ml|json)$/i.test(f) ? ' (a scenario? it goes first, without --driver)' : ''}`,
      ]);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(resolve(f)).href)) as Record<string, unknown>;
    } catch (e) {
      if (typeof e === 'object' && e !== null) failedLoads.add(e);
      throw new InputError([
        `${named.get(f) ?? '--driver'}: cannot load ${JSON.stringify(f)}: ${loadError(e, f)}`,
      ]);
    }
    const mine = [...new Set(Object.values(mod).flatMap((v) => (Array.isArray(v) ? v : [v])))].filter(
      isDriverModule,
    );
    if (mine.length === 0) {
      throw new InputError([
        `${where}: expected a module that exports a DriverModule ({ name, load() }), got exports ${Object.keys(mod).join(', ') || 'none'}`,
      ]);
    }
    for (const d of mine) {
      const clash = names.get(d.name);
      if (clash !== undefined)
        throw new InputError([`${where}: driver name '${d.name}' is taken by ${clash}`]);
      names.set(d.name, f);
      found.push(d);
    }
  }
  return found;
}

/**
 * Drivers given as objects from code (scenarioWorld's and exploreScenario's `drivers`):
 * a name a built-in driver or an earlier one has is bad input that names the option
 * (`drivers[1]`), as `--driver` reports a module's (T8: World.addDriver refuses a name
 * twice). A built-in driver given itself is no clash. Returns each name and where it
 * was given, for `loadDriverModules`'s `taken`.
 */
export function checkDriverObjects(
  drivers: readonly DriverModule[],
  option = 'drivers',
): Map<string, string> {
  const given = new Map<string, { where: string; d: DriverModule }>();
  const problems: string[] = [];
  drivers.forEach((d, i) => {
    if (!isDriverModule(d)) {
      problems.push(`${option}[${i}]: expected a DriverModule ({ name, load() }), got ${shownValue(d)}`);
      return;
    }
    const builtin = builtinDrivers.find((b) => b.name === d.name);
    const before = given.get(d.name);
    // The same module twice, or a built-in one given itself: one driver.
    if (builtin === d || before?.d === d) return;
    if (builtin !== undefined || before !== undefined)
      problems.push(
        `${option}[${i}]: driver name '${d.name}' is taken by ${builtin !== undefined ? 'a built-in driver' : before!.where}`,
      );
    else given.set(d.name, { where: `${option}[${i}]`, d });
  });
  if (problems.length > 0) throw new InputError(problems);
  return new Map([...given].map(([name, g]) => [name, g.where]));
}

function shownValue(v: unknown): string {
  if (typeof v !== 'object' || v === null)
    return v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  return `an object with ${Object.keys(v).join(', ') || 'no fields'}`;
}

/**
 * The driver modules to load for a scenario: `given` (the --driver files) and then those
 * its `driverModules:` names, which are relative to the scenario's own directory; as
 * paths from the working directory, a file named twice once. A scenario that does not
 * parse, or whose field is not a list of strings, adds none here: its validation says
 * what is wrong with it. `named` gets where each of the scenario's was named, for
 * `loadDriverModules`'s messages.
 */
export function withScenarioModules(
  given: readonly string[],
  text: string,
  file: string,
  named?: Map<string, string>,
): string[] {
  let listed: unknown;
  try {
    listed = (parse(text) as { driverModules?: unknown } | null)?.driverModules;
  } catch {
    return [...given];
  }
  if (!Array.isArray(listed) || !listed.every((m) => typeof m === 'string' && m !== '')) return [...given];
  const out = [...given];
  const seen = new Set(given.map((g) => resolve(g)));
  const problems: string[] = [];
  listed.forEach((m: string, i) => {
    const abs = resolve(dirname(file), m);
    if (!existsSync(abs)) {
      problems.push(
        `${file}: driverModules[${i}]: expected a driver module, relative to the scenario's directory, got ${JSON.stringify(m)} (no such file: ${abs})`,
      );
      return;
    }
    if (seen.has(abs)) return;
    seen.add(abs);
    const f = relative(process.cwd(), abs) || abs;
    named?.set(f, `${file}: driverModules[${i}]`);
    out.push(f);
  });
  if (problems.length > 0) throw new InputError(problems);
  return out;
}
