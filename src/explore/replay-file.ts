// Replay files: one run, written so that `ndis-sim replay` gives it again, byte for
// byte, on another machine. The file holds the scenario's text (not its path), the
// decisions up to the last one that is not 0 (every later answer is 0), and the
// digest of the run's JSON Lines trace, which the replay checks, and (in newer files) the
// digest of that recorded content, so that a damaged or hand-edited file is reported as
// one, not taken for a fixed driver.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.ts';
import { toJsonLines } from '../report/jsonl.ts';
import { issueText, pathText } from '../scenario/load.ts';
import { show } from '../scenario/schema.ts';
import { choiceSiteNames, type Decision } from '../sim/choice.ts';
import type { TraceEvent } from '../trace/trace.ts';

export const replayFormat = 'ndis-sim replay 1';

const count = z.number().int().min(0).max(0xffffffff);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

const replaySchema = z.strictObject({
  format: z.literal(replayFormat),
  /** The ndis-sim version that wrote it. */
  ndisSim: z.string(),
  scenario: z.strictObject({ file: z.string(), text: z.string() }),
  /**
   * The driver modules the run loaded (--driver, then the scenario's driverModules):
   * relative to the replay file's directory in a file explore wrote (an absolute path
   * stays one; driverPathFrom), from the working directory in a file of an older
   * ndis-sim, as given in a `replayText` without `out`.
   */
  drivers: z.array(z.string()),
  /**
   * The drivers an exploration from code was given as objects (exploreScenario's
   * `drivers`), by name: no module path names them, so a replay needs --driver.
   * Absent when there were none.
   */
  driverObjects: z.array(z.string()).optional(),
  /**
   * SHA-256 of each file of `drivers`, in its order, as explore read it: a replay warns
   * when a module it loads is not one of them (driverChanges). Only the module file
   * itself, not what it imports. Absent in older files.
   */
  driverSha256: z.array(sha256).optional(),
  seed: count,
  untilNs: z.number().int().min(0),
  verifier: z.enum(['bugcheck', 'collect']),
  /** What the run found; null for a run that passed. */
  failure: z
    .strictObject({
      signature: z.string(),
      /**
       * Where the rule was broken, as the explorer tells kinds apart (Outcome.where);
       * absent when the failure has none, and in files of older versions.
       */
      where: z.string().optional(),
      detail: z.string(),
    })
    .nullable(),
  /** How the decisions were found: a seed's own, or shrunk from them. */
  shrunk: z.boolean(),
  trace: z.strictObject({ events: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** [site, count, answer]; site numbers as in ChoiceSite (src/sim/choice.ts). */
  decisions: z.array(
    z
      .tuple([count.max(choiceSiteNames.length - 1), count.min(2), count])
      .refine(([, n, pick]) => pick < n, { message: 'expected an answer below the count' }),
  ),
  /**
   * The decisions answered other than 0, named, for a reader of the file (a CI
   * artifact) who does not run it: its number in the log (from 1), its site's name, its
   * virtual time, the answer and the count, and where the code that asked says so, what
   * it was about (label: the DPC, timer or work item) and what the answer meant (note).
   * The replay follows `decisions` alone; absent in older files (review-explore #6).
   */
  choices: z
    .array(
      z.strictObject({
        decision: count.min(1),
        site: z.string(),
        atNs: z.number().min(0),
        answer: count,
        of: count.min(2),
        label: z.string().optional(),
        note: z.string().optional(),
      }),
    )
    .optional(),
  /**
   * SHA-256 of the recorded content (contentDigest): everything but the driver paths,
   * which may be corrected by hand when the file moves. Absent in older files.
   */
  contentSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

/** What a decision entry is, in the replay file's terms. */
const decisionWords = () =>
  `a decision [site, count, answer]: three whole numbers, the choice site (0 to ${choiceSiteNames.length - 1}), the number of options it had (at least 2) and the option taken (from 0 to below the count)`;

/** What is wrong with one entry of `decisions`, as "expected …, got …". */
function decisionProblem(v: unknown): string {
  const got = Array.isArray(v) && v.length <= 8 ? JSON.stringify(v) : show(v);
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isInteger(x) && x >= 0))
    return `expected ${decisionWords()}, got ${got}`;
  const [site, count, pick] = v as number[];
  if (site! > choiceSiteNames.length - 1)
    return `expected a decision [site, count, answer] whose site is a choice site from 0 to ${choiceSiteNames.length - 1}, got ${got}`;
  if (count! < 2 || count! > 0xffffffff)
    return `expected a decision [site, count, answer] whose count (options the choice had) is from 2 to 4294967295, got ${got}`;
  if (pick! >= count!)
    return `expected a decision [site, count, answer] whose answer is below its count, got ${got}`;
  return `expected ${decisionWords()}, got ${got}`;
}

export type ReplayFile = z.output<typeof replaySchema>;

/** The digest a replay compares: of the trace as `--trace` writes it. */
export function traceDigest(events: readonly TraceEvent[]): { events: number; sha256: string } {
  return { events: events.length, sha256: createHash('sha256').update(toJsonLines(events)).digest('hex') };
}

/**
 * The digest of what a replay file records: the format, the version, the scenario, the
 * seed, the end, the verifier mode, the failure, how the decisions were found, the trace
 * digest and the decisions. Not `drivers` or `driverObjects`: a path to a module may be
 * corrected by hand (or given with --driver), and the trace digest checks the run.
 */
export function contentDigest(r: ReplayFile): string {
  const content = [
    r.format,
    r.ndisSim,
    r.scenario.file,
    r.scenario.text,
    r.seed,
    r.untilNs,
    r.verifier,
    r.failure,
    r.shrunk,
    r.trace.events,
    r.trace.sha256,
    r.decisions,
    // Only when present: an older file's digest stays what it was.
    ...(r.driverSha256 === undefined ? [] : [r.driverSha256]),
    ...(r.choices === undefined ? [] : [r.choices]),
  ];
  return createHash('sha256').update(JSON.stringify(content)).digest('hex');
}

/** The file with its content digest (replaced if it had one), as explore writes it. */
export function withContentDigest(r: ReplayFile): ReplayFile {
  const { contentSha256: _, ...rest } = r;
  return { ...rest, contentSha256: contentDigest(rest) };
}

/**
 * What shows a replay file was damaged or edited since explore wrote it: its content
 * digest, when it has one, does not match. Empty when nothing does.
 */
export function replayFileDamage(r: ReplayFile, file: string): string[] {
  if (r.contentSha256 === undefined || r.contentSha256 === contentDigest(r)) return [];
  return [
    `${file}: contentSha256: expected the digest of the content explore recorded, got one that does not match it: the file is damaged or was edited (the scenario, the seed, the failure, the trace digest or a decision changed); explore again to write a new one`,
  ];
}

/**
 * Whether the replay must stop when the run asks past the file's decisions: a log
 * explore wrote ends at an answer that is not 0 (trimDecisions), after which the run
 * answers 0 itself; one that ends at 0 was cut short or had its last answer changed.
 */
export function logMustNotRunOut(r: ReplayFile): boolean {
  const last = r.decisions.at(-1);
  return last !== undefined && last[2] === 0;
}

/** The named entries of `choices`: the decisions of `log` answered other than 0. */
export function namedChoices(log: readonly Decision[]): NonNullable<ReplayFile['choices']> {
  return log.flatMap((d, k) =>
    d.pick === 0
      ? []
      : [
          {
            decision: k + 1,
            site: choiceSiteNames[d.site]!,
            atNs: d.atNs ?? 0,
            answer: d.pick,
            of: d.count,
            ...(d.label === undefined ? {} : { label: d.label }),
            ...(d.note === undefined ? {} : { note: d.note }),
          },
        ],
  );
}

/** SHA-256 of a driver module file's bytes (driverSha256). */
export function fileSha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The warnings of a replay whose driver modules are not those explore recorded: each
 * recorded digest no module loaded now has, naming the module the file recorded. Empty
 * for a file without digests (older) or when every one is found.
 */
export function driverChanges(r: ReplayFile, file: string, loaded: readonly string[]): string[] {
  if (r.driverSha256 === undefined) return [];
  const now = new Set(loaded);
  return r.driverSha256.flatMap((h, i) =>
    now.has(h)
      ? []
      : [
          `${file}: the driver changed since the failure was recorded: ${r.drivers[i] ?? `drivers[${i}]`} is not the file explore ran (sha256 ${h.slice(0, 16)}…); the schedule may no longer mean the same`,
        ],
  );
}

export function toDecisionRows(log: readonly Decision[]): [number, number, number][] {
  return log.map((d) => [d.site, d.count, d.pick]);
}

export function fromDecisionRows(rows: ReplayFile['decisions']): Decision[] {
  return rows.map(([site, count, pick]) => ({ site, count, pick }));
}

/** The line width of the repository's formatter (biome.json `formatter.lineWidth`). */
const lineWidth = 110;

/**
 * The file as JSON laid out the way the repository's formatter (biome) lays out JSON,
 * so a replay file committed as a test case passes `npx biome check .` untouched:
 * two-space indents; an object one member a line (biome keeps an object broken when
 * its source breaks it, and this writer always does); an array on one line, its
 * items separated by ", ", when that line fits in 110 columns with what follows it,
 * else one item a line. The decisions, a few thousand short rows, are the array that
 * most often breaks.
 */
export function formatReplayFile(r: ReplayFile): string {
  return `${layout(r, 0, 0, 0)}\n`;
}

/**
 * `v` laid out at `indent` columns, its first line starting `lead` columns further
 * right (after its key) and followed by `tail` columns (a comma) on its last line.
 */
function layout(v: unknown, indent: number, lead: number, tail: number): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    const flat = oneLine(v);
    if (flat !== null && indent + lead + flat.length + tail <= lineWidth) return flat;
    const pad = ' '.repeat(indent + 2);
    const items = v.map((x, i) => pad + layout(x, indent + 2, 0, i < v.length - 1 ? 1 : 0));
    return `[\n${items.join(',\n')}\n${' '.repeat(indent)}]`;
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return '{}';
    const pad = ' '.repeat(indent + 2);
    const members = entries.map(([k, x], i) => {
      const key = `${JSON.stringify(k)}: `;
      return pad + key + layout(x, indent + 2, key.length, i < entries.length - 1 ? 1 : 0);
    });
    return `{\n${members.join(',\n')}\n${' '.repeat(indent)}}`;
  }
  return JSON.stringify(v);
}

/** An array of scalars and arrays on one line, or null when it holds an object (always broken). */
function oneLine(v: unknown): string | null {
  if (!Array.isArray(v)) return v !== null && typeof v === 'object' ? null : JSON.stringify(v);
  const parts: string[] = [];
  for (const x of v) {
    const s = oneLine(x);
    if (s === null) return null;
    parts.push(s);
  }
  return `[${parts.join(', ')}]`;
}

/** Parses and checks a replay file's text; every problem as "file: field: expected …, got …". */
export function parseReplayFile(text: string, file: string): ReplayFile {
  if (text.trim() === '')
    throw new InputError([`${file}: expected a replay file (JSON) that explore wrote, got an empty file`]);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    // A scenario given to replay: say which command runs one.
    const scenario = /\.ya?ml$/i.test(file) ? ' (a scenario? ndis-sim run or explore takes it)' : '';
    throw new InputError([
      `${file}: expected a replay file (JSON), got text that does not parse: ${(e as Error).message}${scenario}`,
    ]);
  }
  const r = replaySchema.safeParse(data, { reportInput: true });
  if (!r.success) {
    const format = (data as { format?: unknown } | null)?.format;
    if (typeof data === 'object' && data !== null && format !== replayFormat)
      throw new InputError([
        `${file}: format: expected "${replayFormat}" (a file ndis-sim explore wrote), got ${JSON.stringify(format) ?? 'none'}`,
      ]);
    // One line a problem; a decision entry's problems as one line naming the entry.
    const lines = r.error.issues.map((i) => {
      if (i.path[0] === 'decisions' && typeof i.path[1] === 'number')
        return `${file}: decisions[${i.path[1]}]: ${decisionProblem((data as { decisions: unknown[] }).decisions[i.path[1]])}`;
      if (i.code === 'invalid_format' && i.path.join('.') === 'trace.sha256')
        return `${file}: trace.sha256: expected a SHA-256 digest (64 lowercase hex digits), got ${show(i.input)}`;
      return `${file}: ${pathText(i.path)}: ${issueText(i, replaySchema)}`;
    });
    throw new InputError([...new Set(lines)]);
  }
  return r.data;
}
