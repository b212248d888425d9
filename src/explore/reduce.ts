// Shrinking the scenario of a failure (after its decisions): the actions, injected
// events, filters, protocols, devices, faults, registry values and options the failure
// does not need are taken out of the scenario's text, one at a time, as long as the
// text still validates and a run still fails the same way. Then a few values are
// lowered the same way: the traffic rates, the CPUs, an action's repeat count, the
// times of actions and faults, and the run's length. The text is edited as a YAML document, so what is left keeps its
// comments and layout.

import { isDeepStrictEqual } from 'node:util';
import { type Document, parseDocument } from 'yaml';
import { untilNs } from '../scenario/build.ts';
import { parseScenarioText } from '../scenario/load.ts';
import { parseDuration, type Scenario } from '../scenario/schema.ts';
import type { Decision } from '../sim/choice.ts';
import { ns } from '../sim/limits.ts';
import {
  type ExploreReport,
  GuidedStrategy,
  type Outcome,
  type RunSetup,
  runOnce,
  shrink,
  shrinkHorizonNs,
  trimDecisions,
} from './explore.ts';

export interface Reduced {
  readonly text: string;
  readonly scenario: Scenario;
  /** What was taken out, as paths into the original scenario: `actions[1]`, `devices[0].faults.hangAt`. */
  readonly removed: readonly string[];
  /** Values made smaller, as paths into the reduced scenario with both values: `until: 30s → 2s`. */
  readonly lowered: readonly string[];
  /** How long the reduced scenario's runs go (its `until:`, unless the explore's --until set it). */
  readonly untilNs: number;
  /** The decisions of the last reduced run that failed. */
  readonly decisions: readonly Decision[];
  readonly outcome: Outcome;
  readonly runs: number;
}

type Path = (string | number)[];

/** `devices[0].faults.hangAt` */
function pathText(p: Path): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/**
 * What might go, most at once first: whole entries of the lists, then a device's
 * parts, then single values. Entries of a list are tried from its end, so the paths of
 * those before stay the same when one goes. `expect:`, the device names and drivers,
 * and the run's length stay: they say what the failure is.
 */
function candidates(data: Record<string, unknown>): Path[] {
  const out: Path[] = [];
  const list = (key: string): unknown[] => (Array.isArray(data[key]) ? (data[key] as unknown[]) : []);
  const keys = (v: unknown): string[] =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.keys(v) : [];
  for (const key of ['actions', 'inject', 'filters'])
    for (let i = list(key).length - 1; i >= 0; i--) out.push([key, i]);
  const devices = list('devices');
  if (devices.length > 1) for (let i = devices.length - 1; i >= 0; i--) out.push(['devices', i]);
  const protocols = list('protocols');
  for (let i = protocols.length - 1; i >= 0; i--) {
    out.push(['protocols', i]);
    if (keys(protocols[i]).includes('traffic')) out.push(['protocols', i, 'traffic']);
  }
  devices.forEach((d, i) => {
    for (const part of ['faults', 'registry', 'wire', 'msi'])
      if (keys(d).includes(part)) out.push(['devices', i, part]);
    for (const part of ['faults', 'registry'])
      for (const k of keys((d as Record<string, unknown>)[part])) out.push(['devices', i, part, k]);
  });
  for (const k of keys(data.ndis)) out.push(['ndis', k]);
  return out;
}

/** 1, 2, 5, 10, 20, 50, …: the round numbers from `low` up to below `high`, ascending. */
export function roundNumbersBetween(low: number, high: number): number[] {
  const out: number[] = [];
  for (let p = 1; p < high; p *= 10)
    for (const m of [1, 2, 5]) {
      const v = m * p;
      if (v >= low && v < high) out.push(v);
    }
  return out;
}

/** A whole number of nanoseconds in the largest unit that divides it: `2s`, `500ms`, `50us`. */
export function durationText(v: number): string {
  for (const [unit, n] of [
    ['s', ns.s],
    ['ms', ns.ms],
    ['us', ns.us],
  ] as const)
    if (v % n === 0) return `${v / n}${unit}`;
  return `${v}ns`;
}

/** A value the reduction may lower: where it is, and what to try, smallest first. */
interface Lowering {
  readonly path: Path;
  readonly now: string | number;
  readonly tries: readonly (string | number)[];
}

/**
 * The counts that make a run bigger: the CPUs, the rates of traffic and of frames from
 * the wire, and an action's `times`; then the times that make it longer: when an action
 * comes, and when a device's fault does (`hangAt`, `vanishAt`, `linkDownAt`).
 */
function lowerings(data: Record<string, unknown>): Lowering[] {
  const out: Lowering[] = [];
  const at = (v: unknown, k: string): unknown =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
  const list = (key: string): unknown[] => (Array.isArray(data[key]) ? (data[key] as unknown[]) : []);
  const count = (path: Path, v: unknown, low: number): void => {
    if (typeof v === 'number' && Number.isFinite(v) && v > low)
      out.push({ path, now: v, tries: roundNumbersBetween(low, v) });
  };
  count(['cpus'], data.cpus, 1);
  list('protocols').forEach((p, i) => {
    count(['protocols', i, 'traffic', 'rate'], at(at(p, 'traffic'), 'rate'), 1);
  });
  list('devices').forEach((d, i) => {
    count(['devices', i, 'wire', 'rxRate'], at(at(d, 'wire'), 'rxRate'), 1);
  });
  list('actions').forEach((a, i) => {
    count(['actions', i, 'times'], at(a, 'times'), 1);
  });
  // Times come down to round ones from 1 ms: an action at 7.3 s that fails as well at 5 s.
  const time = (path: Path, v: unknown): void => {
    const now = parseDuration(v);
    if (now !== null && now > ns.ms)
      out.push({ path, now: v as string | number, tries: roundNumbersBetween(ns.ms, now).map(durationText) });
  };
  list('actions').forEach((a, i) => {
    time(['actions', i, 'at'], at(a, 'at'));
  });
  list('devices').forEach((d, i) => {
    for (const k of ['hangAt', 'vanishAt', 'linkDownAt'])
      time(['devices', i, 'faults', k], at(at(d, 'faults'), k));
  });
  return out;
}

function tryParse(
  text: string,
  src: { readonly file: string; readonly driverNames: readonly string[] },
): Scenario | null {
  try {
    return parseScenarioText(text, src.file, src.driverNames);
  } catch {
    return null;
  }
}

/**
 * Takes out of `text` what the failure of `decisions` (a run that fails as `kind`
 * says: Outcome.key, the rule and where it was broken) does not need, with at most `maxRuns` runs.
 */
export function reduceScenario(
  setup: RunSetup,
  src: { readonly text: string; readonly file: string; readonly driverNames: readonly string[] },
  seed: number,
  decisions: readonly Decision[],
  kind: string,
  maxRuns: number,
  /** When the failure of `decisions` came: candidates run to shrinkHorizonNs of it. */
  failedAtNs: number,
): Reduced {
  let doc: Document = parseDocument(src.text);
  let text = src.text;
  let scenario = setup.scenario;
  let best = decisions;
  let outcome: Outcome | null = null;
  let runs = 0;
  const removed: string[] = [];
  const lowered: string[] = [];
  // The run's length follows the text's `until:` unless the explore's --until set it.
  const ownUntil = setup.untilNs === untilNs(setup.scenario);
  const lengthOf = (s: Scenario): number => (ownUntil ? untilNs(s) : setup.untilNs);
  // A candidate that takes something out runs a little past the failure's time, where
  // the failure comes before the run's end (shrinkHorizonNs); the time is the last
  // kept run's.
  let horizonNs = shrinkHorizonNs(failedAtNs, lengthOf(scenario));
  const candidateLength = (s: Scenario): number => Math.min(lengthOf(s), horizonNs);
  // Paths of the current text back to the original's, for the report: entry c of a
  // list is the c-th of the original's entries that are still there.
  const gone = new Map<string, Set<number>>();
  const original = (p: Path): Path => {
    if (p.length < 2 || typeof p[1] !== 'number') return p;
    const out = gone.get(String(p[0])) ?? new Set<number>();
    let i = -1;
    for (let c = -1; c < p[1]; ) if (!out.has(++i)) c++;
    return [p[0]!, i, ...p.slice(2)];
  };
  let progress = true;
  while (progress && runs < maxRuns) {
    progress = false;
    for (const p of candidates(doc.toJS() as Record<string, unknown>)) {
      if (runs >= maxRuns) break;
      let next = doc.clone();
      next.deleteIn(p);
      let s: Scenario;
      try {
        s = parseScenarioText(String(next), src.file, src.driverNames);
      } catch {
        continue; // It no longer validates: something still refers to what went.
      }
      // A list or a map left empty goes too (`actions: []`, `registry: {}`), where that
      // means the same (not `protocols: []`: without the key, tcpip binds).
      for (let up = p.slice(0, -1); up.length > 0; up = up.slice(0, -1)) {
        const node = next.getIn(up, true) as { items?: unknown[] } | undefined;
        if (node?.items === undefined || node.items.length > 0) break;
        const tidy = next.clone();
        tidy.deleteIn(up);
        const same = tryParse(String(tidy), src);
        if (same === null || !isDeepStrictEqual(same, s)) break;
        next = tidy;
      }
      const nextText = String(next);
      runs++;
      if (setup.candidate?.() === false) continue; // timed out before (RunSetup.candidate)
      const r = runOnce({ ...setup, scenario: s, untilNs: candidateLength(s) }, seed, {
        strategy: new GuidedStrategy(best),
        record: true,
      });
      if (r.outcome.kind !== 'fail' || r.outcome.key !== kind) continue;
      failedAtNs = r.result.endNs;
      horizonNs = shrinkHorizonNs(failedAtNs, lengthOf(s));
      const at = original(p);
      removed.push(pathText(at));
      if (p.length === 2 && typeof p[1] === 'number') {
        const set = gone.get(String(p[0])) ?? new Set<number>();
        set.add(at[1] as number);
        gone.set(String(p[0]), set);
      }
      doc = next;
      text = nextText;
      scenario = s;
      best = trimDecisions(r.world.decisions());
      outcome = r.outcome;
      progress = true;
      break; // The candidates' paths have changed: list them again.
    }
  }
  if (outcome === null) {
    const r = runOnce(setup, seed, { strategy: new GuidedStrategy(best), record: true });
    outcome = r.outcome;
    failedAtNs = r.result.endNs;
    best = trimDecisions(r.world.decisions());
  }
  // Then the values, each to the smallest round number that still fails the same way.
  const lower = (l: Lowering): void => {
    for (const v of l.tries) {
      if (runs >= maxRuns) return;
      const next = doc.clone();
      next.setIn(l.path, v);
      const s = tryParse(String(next), src);
      if (s === null) continue;
      runs++;
      if (setup.candidate?.() === false) continue; // timed out before (RunSetup.candidate)
      // The whole run: a lower rate or a later time may well move the failure later.
      const r = runOnce({ ...setup, scenario: s, untilNs: lengthOf(s) }, seed, {
        strategy: new GuidedStrategy(best),
        record: true,
      });
      if (r.outcome.kind !== 'fail' || r.outcome.key !== kind) continue;
      lowered.push(`${pathText(l.path)}: ${l.now} → ${v}`);
      doc = next;
      text = String(next);
      scenario = s;
      best = trimDecisions(r.world.decisions());
      outcome = r.outcome;
      failedAtNs = r.result.endNs;
      horizonNs = shrinkHorizonNs(failedAtNs, lengthOf(s));
      return;
    }
  };
  for (const l of lowerings(doc.toJS() as Record<string, unknown>)) lower(l);
  // The run's length last, since a lower rate may move the failure later; never below
  // where the failure came, and only when the explore's --until did not set it.
  const until: unknown = doc.get('until');
  const now = parseDuration(until);
  if (ownUntil && now !== null)
    lower({
      path: ['until'],
      now: until as string | number,
      tries: roundNumbersBetween(Math.max(ns.ms, failedAtNs), now).map(durationText),
    });
  return { text, scenario, removed, lowered, untilNs: lengthOf(scenario), decisions: best, outcome, runs };
}

/**
 * Shrinks each group's first failing run: its decisions, then (with `src`) its
 * scenario, then the decisions again against the smaller scenario. `maxRuns` bounds
 * each of the three.
 */
export function shrinkAndReduce(
  setup: RunSetup,
  report: ExploreReport,
  maxRuns: number,
  src: { readonly text: string; readonly file: string; readonly driverNames: readonly string[] } | null,
  /** Told of each run, with the index of the group being shrunk. */
  onRun?: (group: number) => void,
): void {
  if (maxRuns <= 0) return;
  report.groups.forEach((g, i) => {
    shrinkGroup(onRun === undefined ? setup : { ...setup, onRun: () => onRun(i) }, g, maxRuns, src);
  });
}

/** Shrinks one group's first failing run (shrinkAndReduce), setting its `shrunk` and `reduced`. */
export function shrinkGroup(
  setup: RunSetup,
  g: Pick<ExploreReport['groups'][number], 'seeds' | 'key' | 'shrunk' | 'reduced'>,
  maxRuns: number,
  src: { readonly text: string; readonly file: string; readonly driverNames: readonly string[] } | null,
): void {
  g.shrunk = shrink(setup, g.seeds[0]!, maxRuns);
  if (src !== null) reduceGroup(setup, g, src, maxRuns);
}

/** The scenario step of a group's shrinking, then its decisions again against the smaller scenario. */
export function reduceGroup(
  setup: RunSetup,
  g: Pick<ExploreReport['groups'][number], 'seeds' | 'key' | 'shrunk' | 'reduced'>,
  src: { readonly text: string; readonly file: string; readonly driverNames: readonly string[] },
  maxRuns: number,
): void {
  const seed = g.seeds[0]!;
  const first = g.shrunk;
  if (first === null) return;
  const r = reduceScenario(setup, src, seed, first.decisions, g.key, maxRuns, first.outcome.endNs);
  if (r.removed.length === 0 && r.lowered.length === 0) return;
  const again = shrink({ ...setup, scenario: r.scenario, untilNs: r.untilNs }, seed, maxRuns, r.decisions);
  g.shrunk = { ...again, from: first.from, runs: first.runs + again.runs };
  g.reduced = {
    text: r.text,
    scenario: r.scenario,
    untilNs: r.untilNs,
    removed: r.removed,
    lowered: r.lowered,
    runs: r.runs,
  };
}
