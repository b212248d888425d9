// Reading a scenario: YAML or JSON text → validated Scenario, or every problem
// as "file: path: expected …, got …".

import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.ts';
import { fmtTime } from '../report/format.ts';
import {
  ioctlName,
  nearest,
  nicInjectKinds,
  parseDuration,
  type Scenario,
  scenarioSchemaFor,
  show,
} from './schema.ts';

/**
 * A path into the scenario as a message shows it: `devices[0].registry.ResetLimit`. A
 * key that is not a plain name (a registry value called "a b", or ":") is quoted,
 * `registry["a b"]`, so that the path cannot run into the message after it.
 */
export function pathText(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    const k = String(p);
    if (typeof p === 'number') s += `[${p}]`;
    else if (!/^[A-Za-z_$][\w$-]*$/.test(k)) s += `[${JSON.stringify(k)}]`;
    else s += s === '' ? k : `.${k}`;
  }
  return s === '' ? '(top level)' : s;
}

/**
 * The field names the schema allows at `path` (an object inside the scenario), or
 * none: walks the schema's definition through arrays, records, optional and default
 * wrappers and refinements.
 */
function fieldsAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const at = schemaAt(schema, path);
  if (at === null) return [];
  const d = def(at.schema);
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  valueType?: z.ZodType;
  in?: z.ZodType;
  options?: readonly z.ZodType[];
  checks?: { _zod: { def: { check: string; value?: number; inclusive?: boolean; format?: string } } }[];
};
const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/**
 * The schema at `path` with its wrappers taken off, and the description (`.describe`)
 * of the first wrapper or the schema itself that has one; null when the path leads
 * nowhere.
 */
function schemaAt(
  schema: z.ZodType,
  path: readonly PropertyKey[],
): { schema: z.ZodType; description: string | undefined } | null {
  let description: string | undefined;
  const unwrap = (s: z.ZodType): z.ZodType => {
    description ??= s.description;
    let d = def(s);
    while (d.innerType ?? d.in) {
      s = (d.innerType ?? d.in)!;
      description ??= s.description;
      d = def(s);
    }
    return s;
  };
  let s = unwrap(schema);
  for (const p of path) {
    const d = def(s);
    const next =
      d.type === 'object' && typeof p === 'string'
        ? d.shape?.[p]
        : d.type === 'array'
          ? d.element
          : d.type === 'record'
            ? d.valueType
            : undefined;
    if (next === undefined) return null;
    description = undefined;
    s = unwrap(next);
  }
  return { schema: s, description };
}

/**
 * What a number field takes, from its schema's checks: "a whole number from 1 to 256
 * (frames that arrive with one interrupt)"; null when the path is no number field.
 */
function numberWanted(schema: z.ZodType, path: readonly PropertyKey[]): string | null {
  const at = schemaAt(schema, path);
  if (at === null || def(at.schema).type !== 'number') return null;
  return numberText(at.schema, at.description);
}

/** The alternatives of the union at `path`, in order; undefined when it is none. */
function unionOptions(schema: z.ZodType, path: readonly PropertyKey[]): readonly z.ZodType[] | undefined {
  const at = schemaAt(schema, path);
  return at !== null && def(at.schema).type === 'union' ? def(at.schema).options : undefined;
}

/** What a number schema takes, from its checks (see numberWanted). */
function numberText(s: z.ZodType, description: string | undefined): string {
  let whole = false;
  let min: number | null = null;
  let max: number | null = null;
  for (const c of def(s).checks ?? []) {
    const k = c._zod.def;
    if (k.check === 'number_format' && (k.format === 'safeint' || k.format === 'int32')) whole = true;
    else if (k.check === 'greater_than' && k.value !== undefined) min = k.value + (k.inclusive ? 0 : 1);
    else if (k.check === 'less_than' && k.value !== undefined) max = k.value - (k.inclusive ? 0 : 1);
  }
  const range =
    min !== null && max !== null
      ? ` from ${min} to ${max}`
      : min !== null
        ? ` of at least ${min}`
        : max !== null
          ? ` of at most ${max}`
          : '';
  return `${whole ? 'a whole number' : 'a number'}${range}${description ? ` (${description})` : ''}`;
}

/** zod's type names in the words a YAML file's author uses (show's for what was found). */
const typeWords: Readonly<Record<string, string>> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
};

export function issueText(i: z.core.$ZodIssue, schema: z.ZodType): string {
  switch (i.code) {
    case 'invalid_type': {
      // A number field says what it takes: whole or not, its range, its unit.
      const wanted = i.expected === 'number' || i.expected === 'int' ? numberWanted(schema, i.path) : null;
      return `expected ${wanted ?? typeWords[i.expected] ?? i.expected}, got ${show(i.input)}`;
    }
    case 'unrecognized_keys': {
      // An injected event has no fixed time: each run draws it (the field an action has
      // is not the one meant, whatever its spelling is near).
      if (i.path[0] === 'inject' && i.path.length === 2 && i.keys.length === 1 && i.keys[0] === 'at')
        return 'unknown field "at"; an injected event comes at a time each run draws from within: a..b (a fixed time is an action\'s at:, under actions:)';
      const known = fieldsAt(schema, i.path);
      const near = i.keys.length === 1 ? nearest(i.keys[0]!, known) : null;
      return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}${near ? `; did you mean ${near}?` : ''}`;
    }
    case 'too_small':
      return `expected ${
        i.origin === 'array'
          ? `at least ${i.minimum} ${i.path.at(-1) === 'devices' && i.minimum === 1 ? 'device' : 'item(s)'}`
          : i.origin === 'string'
            ? i.minimum === 1
              ? 'a non-empty string'
              : `a string of at least ${i.minimum} characters`
            : `at least ${i.minimum}`
      }, got ${
        // A list's length, not only that it is one.
        Array.isArray(i.input)
          ? i.input.length === 0
            ? 'an empty list'
            : `a list of ${i.input.length}`
          : show(i.input)
      }`;
    case 'too_big':
      return `expected at most ${i.maximum}, got ${show(i.input)}`;
    case 'invalid_value': {
      const options = i.values.map((v) => String(v));
      const near = typeof i.input === 'string' ? nearest(i.input, options) : null;
      return `expected one of ${options.join(', ')}, got ${show(i.input)}${near ? `; did you mean ${near}?` : ''}`;
    }
    case 'invalid_union': {
      // "expected an integer or a string", when every alternative failed on the type of
      // the value itself (not of something inside it: a list of the wrong items is a
      // list, and the union's own message says what it should hold).
      // An alternative that is a number says whether it must be whole from the schema:
      // zod's issue names only the type it checked first.
      const firsts = i.errors.map((e) => e[0]);
      const options = unionOptions(schema, i.path);
      if (firsts.every((f) => f?.code === 'invalid_type' && f.path.length === 0))
        return `expected ${firsts
          .map((f, k) => {
            const o = options?.[k];
            if (o !== undefined && def(o).type === 'number') return numberText(o, undefined);
            const x = (f as { expected: string }).expected;
            return typeWords[x] ?? x;
          })
          .join(' or ')}, got ${show(i.input)}`;
      return i.message;
    }
    default:
      return i.message;
  }
}

/** One problem of a scenario: where (a path into its data) and what. */
interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** Where in the file it is, when not at `path`: an unknown field's own place. */
  readonly place?: readonly PropertyKey[];
}

/**
 * The problems in the order of the file: by where their path leads, a mapping's keys
 * in the order the file gives them (as the parsed data keeps them), a list's items by
 * index. A field the file lacks comes after its mapping's fields. Problems at the same
 * place keep the order they were found in (the sort is stable).
 */
function inFileOrder(data: unknown, problems: readonly Problem[]): Problem[] {
  const place = (path: readonly PropertyKey[]): number[] => {
    const out: number[] = [];
    let v: unknown = data;
    for (const k of path) {
      if (Array.isArray(v) && typeof k === 'number') {
        out.push(k);
        v = v[k];
      } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const keys = Object.keys(v);
        const at = keys.indexOf(String(k));
        out.push(at < 0 ? keys.length : at);
        v = at < 0 ? undefined : (v as Record<string, unknown>)[String(k)];
      } else {
        out.push(Number.MAX_SAFE_INTEGER);
        v = undefined;
      }
    }
    return out;
  };
  const placed = problems.map((p) => ({ p, at: place(p.place ?? p.path) }));
  placed.sort((a, b) => {
    for (let i = 0; i < Math.min(a.at.length, b.at.length); i++)
      if (a.at[i] !== b.at[i]) return a.at[i]! - b.at[i]!;
    return a.at.length - b.at.length;
  });
  return placed.map((x) => x.p);
}

/**
 * Checks zod cannot make alone: names that must refer to something. Works on the
 * raw data so that these problems are reported together with the schema's.
 */
function crossCheck(data: unknown, drivers: readonly string[]): Problem[] {
  const out: Problem[] = [];
  if (typeof data !== 'object' || data === null) return out;
  const d = data as { devices?: unknown; actions?: unknown; expect?: unknown };
  const names = new Set<string>();
  // References are checked only against a device list that reads whole: with one that
  // does not, the schema's report says what is wrong, and every reference would be
  // a follow-on error.
  let namesWhole = Array.isArray(d.devices);
  if (Array.isArray(d.devices)) {
    d.devices.forEach((dev: unknown, i) => {
      const n = (dev as { name?: unknown } | null)?.name;
      if (typeof n !== 'string') {
        namesWhole = false;
        return;
      }
      if (names.has(n))
        out.push({ path: ['devices', i, 'name'], message: `expected a unique name, got ${show(n)} twice` });
      names.add(n);
    });
  }
  const d2 = data as { protocols?: unknown };
  if (Array.isArray(d2.protocols)) {
    const seen = new Set<string>();
    d2.protocols.forEach((p: unknown, i) => {
      const n = (p as { name?: unknown } | null)?.name;
      if (typeof n !== 'string') return;
      if (seen.has(n))
        out.push({ path: ['protocols', i, 'name'], message: `expected a unique name, got ${show(n)} twice` });
      seen.add(n);
    });
  }
  const list = [...names].join(', ');
  const ref = (path: PropertyKey[], v: unknown): void => {
    if (!namesWhole || typeof v !== 'string' || names.has(v)) return;
    const near = nearest(v, [...names]);
    out.push({
      path,
      message: `expected one of the devices (${list}), got ${show(v)}${near ? `; did you mean ${near}?` : ''}`,
    });
  };
  if (Array.isArray(d.actions)) {
    // The application's handles: an ioctl, read, write, close or cancel names one an open action opens.
    const opened = new Set<string>();
    for (const a of d.actions as { do?: unknown; handle?: unknown }[])
      if (a?.do === 'open' && typeof a.handle === 'string') opened.add(a.handle);
    d.actions.forEach((a: unknown, i) => {
      const x = a as { do?: unknown; handle?: unknown } | null;
      if (
        (x?.do === 'ioctl' ||
          x?.do === 'read' ||
          x?.do === 'write' ||
          x?.do === 'close' ||
          x?.do === 'cancel') &&
        typeof x.handle === 'string' &&
        !opened.has(x.handle)
      ) {
        const near = nearest(x.handle, [...opened]);
        out.push({
          path: ['actions', i, 'handle'],
          message: `expected a handle an "open" action opens${opened.size > 0 ? ` (${[...opened].join(', ')})` : ' (there is none)'}, got ${show(x.handle)}${near ? `; did you mean ${near}?` : ''}`,
        });
      }
      ref(['actions', i, 'device'], (a as { device?: unknown } | null)?.device);
      // start-filter and stop-filter name a driver module; stop-protocol one the
      // scenario installs as a protocol driver.
      const drv = (a as { driver?: unknown } | null)?.driver;
      if (x?.do === 'stop-protocol') {
        const installed = protocolDriverNames(data);
        if (typeof drv === 'string' && !installed.includes(drv)) {
          const near = nearest(drv, installed);
          out.push({
            path: ['actions', i, 'driver'],
            message: `expected a protocol driver the scenario installs (protocolDrivers: ${installed.join(', ') || 'none'}), got ${show(drv)}${near ? `; did you mean ${near}?` : ''}`,
          });
        }
      } else if (typeof drv === 'string' && !drivers.includes(drv)) {
        const near = nearest(drv, drivers);
        out.push({
          path: ['actions', i, 'driver'],
          message: `expected a filter driver (one of the drivers \`ndis-sim drivers\` lists, or your own), got ${show(drv)}${near ? `; did you mean ${near}?` : ''}`,
        });
      }
    });
  }
  const inject = (data as { inject?: unknown }).inject;
  if (Array.isArray(inject)) {
    const bare = new Set<string>();
    if (Array.isArray(d.devices))
      for (const dev of d.devices as { name?: unknown; hardware?: unknown }[])
        if (dev?.hardware === 'none' && typeof dev.name === 'string') bare.add(dev.name);
    inject.forEach((a: unknown, i) => {
      const x = a as { device?: unknown; do?: unknown } | null;
      ref(['inject', i, 'device'], x?.device);
      if (typeof x?.device === 'string' && bare.has(x.device) && nicInjectKinds.includes(String(x.do)))
        out.push({
          path: ['inject', i, 'device'],
          message: `expected a device with a SimNic for "${String(x.do)}", got ${show(x.device)} (hardware: none)`,
        });
    });
  }
  const e = d.expect as { devices?: unknown; adapters?: unknown } | undefined;
  for (const group of ['devices', 'adapters'] as const) {
    const g = e?.[group];
    if (typeof g === 'object' && g !== null)
      for (const key of Object.keys(g)) ref(['expect', group, key], key);
  }
  return out;
}

/**
 * An injected event whose window starts at or after the run's end could never fire:
 * an exploration would pass every seed without it and seem to cover it. Checked on the
 * raw data, so that it is reported with the schema's problems (an entry whose window
 * does not read as one is the schema's to report). `untilNs`: the run's end (--until),
 * else the scenario's `until:` (30 s when it has none); one that does not read as a
 * duration leaves the check out.
 */
export function injectWindowProblems(data: unknown, file: string, untilNs?: number): string[] {
  return injectWindowIssues(data, untilNs).map((p) => `${file}: ${pathText(p.path)}: ${p.message}`);
}

function injectWindowIssues(data: unknown, untilNs?: number): Problem[] {
  const out: Problem[] = [];
  const d = data as { inject?: unknown; until?: unknown } | null;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.inject)) return out;
  const end = untilNs ?? parseDuration(d.until ?? '30s');
  if (end === null) return out;
  d.inject.forEach((x: unknown, i) => {
    const within = (x as { within?: unknown } | null)?.within;
    if (typeof within !== 'string') return;
    const parts = within.split('..');
    const from = parts.length === 2 ? parseDuration(parts[0]) : null;
    if (from !== null && from >= end)
      out.push({
        path: ['inject', i, 'within'],
        message: `expected a window that starts before the run ends at ${fmtTime(end)}, got ${within}: the event could never happen`,
      });
  });
  return out;
}

/** What `validateScenario` checks besides the scenario itself. */
export interface ValidateOptions {
  /**
   * Check that every inject window starts before the run ends: at `untilNs` (--until),
   * or at the scenario's `until:`. A run or an exploration asks for it; a library
   * caller (or the shrinker, which may shorten `until:`) need not.
   */
  injectWindows?: { untilNs?: number | undefined };
  /**
   * The I/O control codes an `ioctl` may name, for the scenario's raw data: those the
   * drivers its world will have give (`ioctlCodesFor` in build.ts). With it, a name no
   * driver gives, or a named METHOD_NEITHER code, is reported with every other problem
   * of the file. Without it (loadScenario, for the tests; the explorer's worker threads
   * and shrinker, which parse text already checked) a name is left for buildWorld, which throws an NdisSimUsageError
   * for one no driver gives. Every public entry point passes it: the commands,
   * scenarioWorld and exploreScenario.
   */
  ioctlCodes?: (data: unknown) => ReadonlyMap<string, number>;
  /**
   * How the caller gives drivers of its own, in the message for a driver name none
   * gave (default: the command line's --driver; from code, the option's name).
   */
  ownDrivers?: string;
}

/**
 * The `ioctl` actions whose code is a name (IOCTL_EVENTQ_WAIT) that `codes` lacks, or
 * that names a METHOD_NEITHER code, which is not modelled. On the raw data, so that
 * they are reported with the schema's problems.
 */
function ioctlCodeProblems(data: unknown, codes: ReadonlyMap<string, number>): Problem[] {
  const out: Problem[] = [];
  const actions = (data as { actions?: unknown } | null)?.actions;
  if (!Array.isArray(actions)) return out;
  actions.forEach((a: unknown, i) => {
    const x = a as { do?: unknown; code?: unknown } | null;
    if (x?.do !== 'ioctl' || !ioctlName(x.code)) return;
    const code = codes.get(x.code);
    if (code === undefined) {
      const near = nearest(x.code, [...codes.keys()]);
      out.push({
        path: ['actions', i, 'code'],
        message: `expected an I/O control code, as a number or as a name the drivers give (${codes.size === 0 ? 'they name none' : [...codes.keys()].join(', ')}), got "${x.code}"${near ? `; did you mean ${near}?` : ''}`,
      });
    } else if ((code & 3) === 3)
      out.push({
        path: ['actions', i, 'code'],
        message: `expected a code of METHOD_BUFFERED, METHOD_IN_DIRECT or METHOD_OUT_DIRECT: METHOD_NEITHER is not modelled, got ${x.code} (0x${code.toString(16).padStart(8, '0')})`,
      });
  });
  return out;
}

const scenarioWanted = "a scenario: a mapping of its fields (devices:, actions: …, README 'Scenario files')";

/** Validates parsed data; throws InputError with one line per problem, all of them at once. */
export function validateScenario(
  data: unknown,
  file: string,
  drivers: readonly string[],
  o: ValidateOptions = {},
): Scenario {
  // A file that is not a mapping (a list, a number): one problem, not the schema's
  // report of every field as missing.
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new InputError([`${file}: (top level): expected ${scenarioWanted}, got ${show(data)}`]);
  const schema = scenarioSchemaFor(drivers, o.ownDrivers);
  const r = schema.safeParse(data, { reportInput: true });
  const found: Problem[] = r.success
    ? []
    : r.error.issues.map((i) => ({
        path: i.path,
        message: issueText(i, schema),
        ...(i.code === 'unrecognized_keys' ? { place: [...i.path, i.keys[0]!] } : {}),
      }));
  found.push(...crossCheck(data, drivers));
  if (o.injectWindows !== undefined) found.push(...injectWindowIssues(data, o.injectWindows.untilNs));
  if (o.ioctlCodes !== undefined) found.push(...ioctlCodeProblems(data, o.ioctlCodes(data)));
  if (found.length > 0 || !r.success)
    throw new InputError(inFileOrder(data, found).map((p) => `${file}: ${pathText(p.path)}: ${p.message}`));
  return r.data;
}

/**
 * A YAML syntax error as the CLI prints it: the first one in the file, the line it is on
 * with a caret under the place, and how many more the parser reported. One mistake (an
 * item indented a space too little) makes the parser lose its place and report a dozen
 * errors after it, which say nothing the first does not.
 */
function yamlErrorLines(
  text: string,
  file: string,
  errors: readonly {
    message: string;
    pos: [number, number];
    linePos?: [{ line: number; col: number }, ...unknown[]];
  }[],
): string[] {
  const first = [...errors].sort((a, b) => a.pos[0] - b.pos[0])[0]!;
  const pos = first.linePos?.[0];
  const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const out = [`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${message}`];
  const line = pos === undefined ? undefined : text.split(/\r?\n/)[pos.line - 1];
  if (pos !== undefined && line !== undefined && line.trim() !== '') {
    // A long line (JSON on one line) shows the 80 characters before the place and 40 after.
    const from = Math.max(0, pos.col - 1 - 80);
    const shown = line.slice(from, pos.col - 1 + 40).replaceAll('\t', ' ');
    const n = String(pos.line);
    out.push(`  ${n} | ${from > 0 ? '…' : ''}${shown}`);
    out.push(`  ${' '.repeat(n.length)} | ${' '.repeat(pos.col - 1 - from + (from > 0 ? 1 : 0))}^`);
  }
  const more = errors.length - 1;
  if (more > 0)
    out.push(
      `(${more} more YAML error${more === 1 ? '' : 's'} after it, most likely caused by it: fix this one first)`,
    );
  return out;
}

export function parseScenarioText(
  text: string,
  file: string,
  drivers: readonly string[],
  o: ValidateOptions = {},
): Scenario {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // The parser's own stack running out is nesting too deep to read, said once.
    const deep = doc.errors.find((e) => /Maximum call stack size exceeded/.test(e.message));
    if (deep !== undefined) {
      const pos = deep.linePos?.[0];
      throw new InputError([
        `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: expected YAML the parser can read, got lists or mappings nested too deeply`,
      ]);
    }
    throw new InputError(yamlErrorLines(text, file, doc.errors));
  }
  // Nothing but comments and blank lines.
  if (doc.contents === null) throw new InputError([`${file}: expected ${scenarioWanted}, got an empty file`]);
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (e) {
    // The parser's own limits, e.g. too many alias expansions (a "billion laughs").
    throw new InputError([`${file}: ${e instanceof Error ? e.message : String(e)}`]);
  }
  return validateScenario(data, file, drivers, o);
}

/** A scenario file's text; a file that cannot be read is bad input. */
export function readScenarioText(file: string): string {
  return readInputFile(file, 'a scenario file (YAML or JSON)');
}

/**
 * The text of a file the command reads (`what` it should be); one that cannot be read
 * is bad input that says why: no such file, a directory, or the system's code.
 */
export function readInputFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const got =
      code === 'ENOENT'
        ? `no such file from ${process.cwd()} (ENOENT)`
        : code === 'EISDIR'
          ? 'a directory (EISDIR)'
          : code === 'EACCES'
            ? 'a file it may not read (EACCES)'
            : `a file that cannot be read (${code ?? String(e)})`;
    throw new InputError([`${file}: expected ${what}, got ${got}`]);
  }
}

export function loadScenario(file: string, drivers: readonly string[]): Scenario {
  return parseScenarioText(readScenarioText(file), file, drivers);
}

/** The drivers a scenario's protocolDrivers installs (names only; the schema checks the rest). */
function protocolDriverNames(data: unknown): string[] {
  const list = (data as { protocolDrivers?: unknown } | null)?.protocolDrivers;
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const p of list) {
    const d = (p as { driver?: unknown } | null)?.driver;
    if (typeof d === 'string') out.push(d);
  }
  return out;
}
