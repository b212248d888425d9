// The explorer's report for a terminal: what ran, the failure groups, and for each the
// choices its shrunk run still needs.

import pc from 'picocolors';
import { fmtTime } from '../report/format.ts';
import { choiceSiteNames, type Decision } from '../sim/choice.ts';
import type { ExploreReport, FailureGroup, Situation, StrategySpec } from './explore.ts';

export interface ExploreFormatOptions {
  readonly color: boolean;
  readonly file: string;
  readonly firstSeed: number;
  /** Wall time of the exploring runs, and of the shrinking after them. */
  readonly wallMs: number;
  readonly shrinkMs: number;
  /** Worker threads the runs went to (1: this thread only; --jobs, or one a core for long explorations). */
  readonly workers?: number;
  /** The strategy when it is not random. */
  readonly strategy: StrategySpec | null;
  /** Warnings about the options (session.ts deviationsInjectWarning), a line each under the strategy's. */
  readonly warnings?: readonly string[];
  /** The replay file written for each group, by its kind (FailureGroup.key). */
  readonly replays: ReadonlyMap<string, string>;
  /** The HTML report written beside it (`--html`), by kind. */
  readonly reports?: ReadonlyMap<string, string>;
  /** The command that shows a seed's own run (`ndis-sim run … --seed N`), when known. */
  readonly runCommand?: (seed: number) => string;
  /** Stopped by a signal before its end: which (SIGINT, SIGTERM), and the seeds it was to run. */
  readonly interrupted?: { readonly signal: string; readonly of: number } | null;
  /** Wall-clock time a seed could run in a worker thread (--seed-timeout), for the timed-out seeds. */
  readonly seedLimitMs?: number;
}

/** Seeds as "3, 17, 40, … (12 more)". */
function seedList(seeds: readonly number[], max = 10): string {
  const shown = seeds.slice(0, max).join(', ');
  return seeds.length > max ? `${shown}, … (${seeds.length - max} more)` : shown;
}

function fmtCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * A rate a second: whole numbers from 10 ("1,535"), two significant digits below
 * ("2.5", "0.4", "0.043"), so a slow exploration does not read "0 runs/s".
 */
export function fmtRate(n: number): string {
  if (n >= 10 || n === 0) return fmtCount(n);
  if (n < 0.001) return '< 0.001';
  return String(Number(n.toPrecision(2)));
}

function group(g: FailureGroup, i: number, o: ExploreFormatOptions): string[] {
  const c = pc.createColors(o.color);
  const out: string[] = [];
  out.push(
    `  ${i + 1}. ${c.red(g.signature)}${g.where === null ? '' : ` ${g.where}`}  ${c.dim(`${g.seeds.length} run${g.seeds.length === 1 ? '' : 's'}: seed ${seedList(g.seeds)}`)}`,
  );
  out.push(`     seed ${g.seeds[0]}: ${g.first.detail}`);
  const s = g.shrunk;
  if (s !== null) {
    const left = s.decisions.filter((d) => d.pick !== 0).length;
    out.push(
      `     shrunk in ${s.runs} run${s.runs === 1 ? '' : 's'}${s.budgetSpent ? ' (the budget ran out first)' : ''}` +
        `${s.timedOut === undefined ? '' : ` (${s.timedOut} timed out, counted as not failing)`}: ` +
        `${left} choice${left === 1 ? '' : 's'} not the simplest, from ${s.from.nonDefault} of ${s.from.decisions}`,
    );
    // The choices the failure still needs; every other answer is the simplest (0).
    for (const l of formatChoices(s.decisions, 12)) out.push(c.dim(`       ${l}`));
    if (g.reduced !== null) {
      const { removed, lowered, runs } = g.reduced;
      const parts: string[] = [];
      if (removed.length > 0) parts.push(`took out ${upTo(removed, 8)}`);
      // Paths into lists count in the original for what went, in the smaller scenario for what was lowered.
      const renumbered = removed.length > 0 && lowered.some((l) => l.includes('['));
      if (lowered.length > 0)
        parts.push(`lowered${renumbered ? ' (paths in the smaller scenario)' : ''} ${upTo(lowered, 4)}`);
      out.push(`     scenario shrunk in ${runs} run${runs === 1 ? '' : 's'}: ${parts.join('; ')}`);
    }
    if (s.outcome.detail !== g.first.detail) out.push(`     shrunk run: ${s.outcome.detail}`);
  }
  const file = o.replays.get(g.key);
  if (o.runCommand !== undefined) out.push(`     seed ${g.seeds[0]} as it ran: ${o.runCommand(g.seeds[0]!)}`);
  if (file !== undefined) out.push(`     replay: ${c.bold(`ndis-sim replay ${file}`)}`);
  const html = o.reports?.get(g.key);
  if (html !== undefined) out.push(`     report: ${html}`);
  return out;
}

/** The first `max` items, and how many more there are. */
function upTo(items: readonly string[], max: number): string {
  const more = items.length > max ? `, … (${items.length - max} more)` : '';
  return items.slice(0, max).join(', ') + more;
}

/** The answers of a decision log that are not 0, a line each, at most `max` of them. */
export function formatChoices(log: readonly Decision[], max: number): string[] {
  const needed = log.flatMap((d, k) => (d.pick === 0 ? [] : [{ ...d, k }]));
  const out = needed
    .slice(0, max)
    .map(
      (d) =>
        `decision ${d.k + 1}${d.atNs === undefined ? '' : ` at ${fmtTime(d.atNs)}`}: ${choiceSiteNames[d.site]}${d.label === undefined ? '' : ` for ${d.label}`} answered ${d.pick} of 0–${d.count - 1}${d.note === undefined ? '' : ` (${d.note})`}`,
    );
  if (needed.length > max) out.push(`… ${needed.length - max} more`);
  return out;
}

export function formatExploreReport(r: ExploreReport, o: ExploreFormatOptions): string[] {
  const c = pc.createColors(o.color);
  const out: string[] = [];
  const lastSeed = o.firstSeed + r.runs - 1;
  const secs = o.wallMs / 1000;
  const stop = o.interrupted ?? null;
  // Interrupted, the seeds done need not be consecutive: each worker thread's slice up to where it stopped.
  const what =
    stop === null
      ? `seeds ${o.firstSeed}–${lastSeed}, ${fmtCount(r.runs)} run${r.runs === 1 ? '' : 's'}`
      : `interrupted by ${stop.signal} after ${fmtCount(r.runs)} of ${fmtCount(stop.of)} seeds (from seed ${o.firstSeed})`;
  out.push(
    `${c.bold('Explored')} ${o.file}: ${what} in ${secs.toFixed(2)} s` +
      c.dim(
        secs > 0
          ? `  (${fmtRate(r.runs / secs)} runs/s, ${fmtRate(r.events / secs)} events/s${(o.workers ?? 1) > 1 ? `, ${o.workers} worker threads` : ''})`
          : '',
      ),
  );
  const st = o.strategy;
  if (st !== null && st.kind === 'deviations')
    out.push(
      `  strategy deviations: the simplest schedule with ${st.depth} choice${st.depth === 1 ? '' : 's'} drawn otherwise, among its first ${fmtCount(st.horizon)}`,
    );
  for (const w of o.warnings ?? []) out.push(c.yellow(`  warning: ${w}`));
  const nm = r.notModelled?.seeds.length ?? 0;
  const to = r.timedOut.length;
  out.push(
    `  ${c.green(`${fmtCount(r.passed)} passed`)}, ${r.failed > 0 ? c.red(`${fmtCount(r.failed)} failed`) : '0 failed'}` +
      (nm > 0 ? `, ${c.yellow(`${fmtCount(nm)} not modelled`)}` : '') +
      (to > 0 ? `, ${c.red(`${fmtCount(to)} timed out`)}` : ''),
  );
  if (to > 0) {
    // Only slow, or never returning: nothing tells the two apart from outside.
    const limit = o.seedLimitMs === undefined ? 'the limit' : `${o.seedLimitMs / 1000} s`;
    out.push(
      c.red(
        `  timed out: seed ${seedList(r.timedOut)}: ${to === 1 ? 'took' : 'each took'} longer than ${limit} of wall-clock time in a worker thread and was stopped (a driver callback that never returns, or a seed slower than the limit)`,
      ),
    );
    if (o.runCommand !== undefined)
      out.push(`     seed ${r.timedOut[0]} as it ran: ${o.runCommand(r.timedOut[0]!)}`);
  }
  if (r.notModelled !== null)
    out.push(
      c.yellow(`  not modelled: seed ${seedList(r.notModelled.seeds)}: ${r.notModelled.first.detail}`),
    );
  if (r.situations.length > 0) {
    // Which removals the seeds reached, and in what state: a window the runs never hit
    // is one the exploration says nothing about.
    out.push('');
    out.push(c.bold('Situations reached') + c.dim('  (runs, first seed)'));
    const w = Math.max(...r.situations.map((x) => fmtCount(x.runs).length));
    for (const x of r.situations)
      out.push(`  ${fmtCount(x.runs).padStart(w)}  ${x.what}${c.dim(`  (seed ${x.firstSeed})`)}`);
  }
  if (r.groups.length > 0) {
    out.push('');
    const shrunk = r.groups.some((g) => g.shrunk !== null);
    out.push(
      c.bold(`Failures (${r.groups.length} kind${r.groups.length === 1 ? '' : 's'})`) +
        (shrunk ? c.dim(`  shrinking took ${(o.shrinkMs / 1000).toFixed(2)} s`) : '') +
        (stop !== null && !shrunk
          ? c.dim("  not shrunk (interrupted): the replay files hold the seeds' own runs")
          : ''),
    );
    r.groups.forEach((g, i) => {
      out.push(...group(g, i, o));
    });
  }
  return out;
}

/** A choice a shrunk run still needs: an answer that is not 0, by its place in the decision log (from 1). */
export interface ChoiceJson {
  readonly decision: number;
  /** When the question was asked, in virtual nanoseconds (null when not known). */
  readonly atNs: number | null;
  /** The choice site, as docs/model.md names it: Ready, Cpu, WorkerLatency, Fault … */
  readonly site: string;
  readonly answer: number;
  /** The answers there were to choose from (0 … of − 1). */
  readonly of: number;
  /** What the answer meant, for a fault draw of the scenario's own ("inject remove nic0 at 0.396901 s"), else null. */
  readonly note: string | null;
}

/** One kind of failure of an exploration, as `explore --json` gives it. */
export interface FailureJson {
  /** What failed, shared by the group's runs: `bugcheck NdisSim_TimerFreedWhileSet`, `livelock`, `expect devices.nic0.problem=0`. */
  readonly signature: string;
  /** The rule the runs broke (`NdisSim_TimerFreedWhileSet`), or null for a livelock or an expectation missed. */
  readonly rule: string | null;
  /**
   * Where the rule was broken (Outcome.where): `at pmx.ts:25:5 (in NdisTimerFunction)`,
   * or for a violation found later where it began, without times (`set in
   * MiniportResetEx (…)`); null when there is neither. A kind of failure is its
   * signature and this: two entries may share a signature.
   */
  readonly where: string | null;
  /** The first failing seed's failure, in a line. */
  readonly detail: string;
  /** Every seed that failed this way, in order. */
  readonly seeds: readonly number[];
  readonly shrunk: {
    readonly runs: number;
    readonly budgetSpent: boolean;
    /** Candidates stopped at --seed-timeout, counted as not failing; absent when none was. */
    readonly timedOut?: number;
    /** The first seed's run: its decisions, and how many of them were not 0. */
    readonly from: { readonly decisions: number; readonly nonDefault: number };
    readonly detail: string;
    readonly choices: readonly ChoiceJson[];
  } | null;
  /** What the scenario of the replay file lacks of the explored one, as paths into it. */
  readonly reduced: {
    readonly removed: readonly string[];
    readonly lowered: readonly string[];
    readonly runs: number;
  } | null;
  /** The replay file written, and its run's HTML report (null when none was written). */
  readonly replay: string | null;
  readonly report: string | null;
}

/** An exploration's report as `explore --json` prints it. */
export interface ExploreJson {
  readonly format: 'ndis-sim explore 1';
  readonly ndisSim: string;
  readonly scenario: string;
  readonly strategy: StrategySpec;
  readonly firstSeed: number;
  readonly workers: number;
  /**
   * Stopped by a signal before its end (null when it ran to it): the signal, and the
   * seeds it was to run (`of`); `runs` then counts those done, and the failures are
   * not shrunk.
   */
  readonly interrupted: { readonly signal: string; readonly of: number } | null;
  readonly runs: number;
  readonly passed: number;
  readonly failed: number;
  readonly notModelled: { readonly seeds: readonly number[]; readonly detail: string } | null;
  /**
   * Seeds stopped after running longer than `limitMs` of wall-clock time in a worker
   * thread (--seed-timeout), in order; counted in `runs`, not in `passed` or `failed`,
   * and with no replay file. Null when none was.
   */
  readonly timedOut: { readonly seeds: readonly number[]; readonly limitMs: number } | null;
  readonly failures: readonly FailureJson[];
  readonly situations: readonly Situation[];
  readonly wallMs: number;
  readonly shrinkMs: number;
  readonly events: number;
}

/** The rule a failure's signature names (`bugcheck X`, `violations X`), else null. */
export function ruleOf(signature: string): string | null {
  const m = /^(?:bugcheck|violations) (\S+)$/.exec(signature);
  return m === null ? null : m[1]!;
}

/**
 * The report as data, for tools (`explore --json`): what the text says, in fields,
 * under a format name a tool can check, with the version of ndis-sim that wrote it.
 */
export function exploreJson(r: ExploreReport, o: ExploreFormatOptions, version: string): ExploreJson {
  return {
    format: 'ndis-sim explore 1',
    ndisSim: version,
    scenario: o.file,
    strategy: o.strategy ?? { kind: 'random' },
    firstSeed: o.firstSeed,
    workers: o.workers ?? 1,
    interrupted: o.interrupted ?? null,
    runs: r.runs,
    passed: r.passed,
    failed: r.failed,
    notModelled:
      r.notModelled === null ? null : { seeds: r.notModelled.seeds, detail: r.notModelled.first.detail },
    timedOut: r.timedOut.length === 0 ? null : { seeds: r.timedOut, limitMs: o.seedLimitMs ?? 0 },
    failures: r.groups.map((g) => ({
      signature: g.signature,
      rule: ruleOf(g.signature),
      where: g.where,
      detail: g.first.detail,
      seeds: g.seeds,
      shrunk:
        g.shrunk === null
          ? null
          : {
              runs: g.shrunk.runs,
              budgetSpent: g.shrunk.budgetSpent,
              ...(g.shrunk.timedOut === undefined ? {} : { timedOut: g.shrunk.timedOut }),
              from: g.shrunk.from,
              detail: g.shrunk.outcome.detail,
              choices: g.shrunk.decisions.flatMap((d, i) =>
                d.pick === 0
                  ? []
                  : [
                      {
                        decision: i + 1,
                        atNs: d.atNs ?? null,
                        site: choiceSiteNames[d.site]!,
                        answer: d.pick,
                        of: d.count,
                        note: d.note ?? null,
                        label: d.label ?? null,
                      },
                    ],
              ),
            },
      reduced:
        g.reduced === null
          ? null
          : { removed: g.reduced.removed, lowered: g.reduced.lowered, runs: g.reduced.runs },
      replay: o.replays.get(g.key) ?? null,
      report: o.reports?.get(g.key) ?? null,
    })),
    situations: r.situations,
    wallMs: Math.round(o.wallMs),
    shrinkMs: Math.round(o.shrinkMs),
    events: r.events,
  };
}

/**
 * A progress display's pace: `show` once `every` more runs are done than it last
 * showed, `end` when all are. The counts may come one by one or in steps of any size
 * (the workers report 256 runs at a time, after this thread's own batches).
 */
export function progressSteps(
  total: number,
  every: number,
  show: (done: number, failed: number) => void,
  end: () => void,
): (done: number, failed: number) => void {
  let shown = 0;
  return (done, failed) => {
    if (done >= total) end();
    else if (done - shown >= every) {
      shown = done;
      show(done, failed);
    }
  };
}
