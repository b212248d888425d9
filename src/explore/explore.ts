// The explorer (docs/decisions.md, "The explorer"): one scenario under many seeds, the failing runs
// grouped by what failed, and the first run of each group shrunk to the fewest choices
// that still fail the same way.
//
// A seed answers every choice of a run (src/sim/choice.ts), so seed N here is the run
// `ndis-sim run --seed N` shows. Shrinking works on the answers themselves: it replaces
// them with 0, each site's simplest answer (the first event ready, CPU 0, the shortest
// latency, no slack, no fault, PASSIVE), until no answer it takes back keeps the failure.

import { isAbsolute, relative, sep } from 'node:path';
import type { DriverModule } from '../ndis/driver.ts';
import { situationName } from '../ndis/situations.ts';
import { fmtTime } from '../report/format.ts';
import { buildWorld, checkExpectations } from '../scenario/build.ts';
import type { Scenario } from '../scenario/schema.ts';
import {
  ChoiceSite,
  type Decision,
  DeviationStrategy,
  FixedStrategy,
  RandomStrategy,
  type Strategy,
} from '../sim/choice.ts';
import { ns } from '../sim/limits.ts';
import type { Violation } from '../verifier/verifier.ts';
import { injectStepNs, type RunResult, type World } from '../world.ts';

/** What every run of an exploration shares. */
export interface RunSetup {
  readonly scenario: Scenario;
  readonly drivers: readonly DriverModule[];
  readonly untilNs: number;
  readonly verifier: 'bugcheck' | 'collect';
  /** How a seed answers the choices (default: random). */
  readonly strategy?: StrategySpec;
  /** Called before each run (a progress report of shrinking; never during a run). */
  readonly onRun?: () => void;
  /**
   * Asked before each candidate run of a shrinking (decisions or scenario): false skips
   * it, and it counts as a candidate that does not fail the same way. A shrinking in a
   * worker thread (shrink-pool.ts) answers false for a candidate that ran past
   * --seed-timeout the time before; the skipped candidate still counts as a run.
   */
  readonly candidate?: () => boolean;
}

/**
 * Who answers a seed's choices: `random` (every choice drawn), or `deviations` (the
 * simplest schedule with `depth` choices answered otherwise, drawn among the first
 * `horizon`: the decisions of the scenario's simplest run, deviationHorizon).
 */
export type StrategySpec =
  | { readonly kind: 'random' }
  | { readonly kind: 'deviations'; readonly depth: number; readonly horizon: number };

/** The strategy of seed `seed` under `spec`. */
export function strategyFor(spec: StrategySpec | undefined, seed: number): Strategy {
  if (spec === undefined || spec.kind === 'random') return new RandomStrategy(seed);
  return new DeviationStrategy(seed, spec.depth, spec.horizon);
}

/** How many decisions the scenario's simplest run (every answer 0) makes: where deviations are drawn. */
export function deviationHorizon(setup: RunSetup): number {
  return runOnce({ ...setup, strategy: { kind: 'random' } }, 0, { strategy: new FixedStrategy([]) }).result
    .decisions;
}

export interface Outcome {
  /** A run the model cannot carry ('not-modelled') neither passes nor fails. */
  readonly kind: 'pass' | 'fail' | 'not-modelled';
  /**
   * What failed, in words that runs failing the same way share: `bugcheck
   * NdisSim_TimerFreedWhileSet`, `livelock`, `expect devices.nic0.problem=0`. Empty on a pass.
   */
  readonly signature: string;
  /**
   * Where in the driver the rule broken was broken, in words runs failing at the same
   * place share (failureWhere): `at pmx.ts:25:5 (in NdisTimerFunction)`, or for a
   * violation found later the place it began, without times: `set in MiniportResetEx
   * (timer function hangTimer; …)`. Null when the failure names no rule or the
   * violation has neither.
   */
  readonly where: string | null;
  /**
   * The kind of failure: `signature`, then `where` after a space. Runs of one kind are
   * one group, and shrinking keeps a run only while it fails with the same key, so two
   * bugs under one rule at two places are two kinds, each with its own shrunk run.
   */
  readonly key: string;
  /** One line for people: the rule, where and when, or the expectations not met. */
  readonly detail: string;
  readonly endNs: number;
}

/** A kind of failure's key: the signature, then where after a space (Outcome.key). */
export function failureKey(signature: string, where: string | null): string {
  return where === null ? signature : `${signature} ${where}`;
}

/**
 * Where a violation was made, as a failure kind tells it apart (Outcome.where): the
 * line of driver code that made the call (`at mynic.ts:41:7 (in MiniportPause)`), for
 * an exception the line that threw it (`thrown at sg-race.ts:44:23 (in
 * MiniportSendNetBufferLists)`), or
 * for a violation NDIS or the kernel found later, the place it began (Violation.origin)
 * without its virtual times, which differ from run to run: `pended by MiniportOidRequest
 * (OID_PNP_SET_POWER, NDIS's own power request)`. For the data-path time-outs only the
 * callback the NBL was in counts (`sent in MiniportSendNetBufferLists`), not whose NBL it
 * was or how the stall was measured: one driver holding sends is one bug. Null with neither.
 */
export function failureWhere(
  v: Pick<Violation, 'rule' | 'ddi' | 'callSite' | 'origin' | 'bugCheck'>,
): string | null {
  if (v.callSite !== null) return `at ${plainPlace(v.callSite)}`;
  // A driver's exception (0x1E): parameter 2 is where it was thrown, the driver's file:line:col.
  const thrown = v.bugCheck.params[1];
  if (v.rule === 'NdisSim_DriverException' && typeof thrown === 'string')
    return `thrown at ${plainPlace(thrown)} (in ${v.ddi})`;
  const o = v.origin;
  if (o === null) return null;
  const label = o.label.charAt(0).toLowerCase() + o.label.slice(1);
  // The label alone: "Stalled since 3.2 s (its last …)".
  if (o.label === 'Stalled') return label;
  let at = o.at.replace(/ (?:at|since) \d+\.\d{6} s/g, '');
  if (o.label === 'Sent in' || o.label === 'Got in') at = at.replace(/ \(an NBL of [^)]*\)$/, '');
  return `${label} ${at}`;
}

/**
 * A place `file:line:col` as a failure's `where` names it. A module tsx compiled and
 * loaded as CommonJS (a .ts file in a package without "type": "module") is named in a
 * stack by a data URL of its whole compiled text, `javascript,__filename%3D…?filePath=
 * <its path>:2:3259` (kilobytes, into the signature, the JSON and the replay file):
 * that becomes its file's path (relative to the working directory when under it), and
 * the position, in the compiled text, which no source map comes with, is dropped
 * (review-explore #3). Any other place is as it was.
 */
export function plainPlace(place: string): string {
  const at = place.lastIndexOf('?filePath=');
  if (at < 0 || !/^(?:data:)?(?:text\/)?javascript,/.test(place)) return place;
  const path = place.slice(at + '?filePath='.length).replace(/:\d+:\d+$/, '');
  let file = path;
  try {
    file = decodeURIComponent(path);
  } catch {
    // Not percent-encoded after all: as it is.
  }
  const rel = relative(process.cwd(), file);
  const shown = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : file;
  return `${shown} (compiled as CommonJS; no position)`;
}

/** The run's outcome against the scenario's `expect:`, or without one, against "no rule broken". */
export function judge(setup: RunSetup, r: RunResult, world: World): Outcome {
  const endNs = r.endNs;
  if (r.verdict === 'not-modelled')
    return {
      kind: 'not-modelled',
      signature: 'not-modelled',
      where: null,
      key: 'not-modelled',
      detail: r.message ?? '',
      endNs,
    };
  const exp =
    setup.scenario.expect === undefined
      ? null
      : checkExpectations(setup.scenario, r, world.expectView(), setup.verifier);
  if (exp === null ? r.verdict === 'ok' : exp.met)
    return { kind: 'pass', signature: '', where: null, key: '', detail: '', endNs };
  // A rule broken names the failure; the expectations it upset follow from it. Not the
  // rule `expect:` asks for, nor any rule when the verdict and the rule are as expected:
  // then the failure is the other expectations missed.
  const asked = setup.scenario.expect?.rule;
  const ruleMissed =
    exp === null || exp.problems.some((p) => p.startsWith('verdict:') || p.startsWith('rule:'));
  const first = ruleMissed
    ? ([r.bugCheck, ...r.violations].find((v) => v !== null && v.rule !== asked) ?? null)
    : null;
  if (first !== null && (r.verdict === 'bugcheck' || r.verdict === 'violations')) {
    const ddi = `${first.ddi}${first.adapter === null ? '' : ` (${first.adapter})`}`;
    const signature = `${r.verdict} ${first.rule}`;
    const where = failureWhere(first);
    return {
      kind: 'fail',
      signature,
      where,
      key: failureKey(signature, where),
      detail: `${first.rule} in ${ddi} at ${fmtTime(first.timeNs)}: ${first.message}`,
      endNs,
    };
  }
  if (exp === null || (ruleMissed && r.verdict === 'livelock')) {
    // What never finished and behind what, without times: `hang the removal of nic0: MiniportResetEx pended`.
    const signature = r.verdict === 'hang' ? `hang ${r.hangs.map((h) => h.key).join('; ')}` : r.verdict;
    return { kind: 'fail', signature, where: null, key: signature, detail: r.message ?? r.verdict, endNs };
  }
  // With the values found (`expect devices.nic0.problem=0`): a run shrunk to `until: 1ms`
  // misses the same fields, but for another reason, and must not pass for the same failure.
  const signature = `expect ${exp.signatures.join(', ')}`;
  return { kind: 'fail', signature, where: null, key: signature, detail: exp.problems.join('; '), endNs };
}

export interface RunOnceOptions {
  /** Who answers the choices after `replay` (default: the seed's random strategy). */
  strategy?: Strategy;
  replay?: readonly Decision[];
  /** Keep the decision log (needed to shrink or replay the run). */
  record?: boolean;
  trace?: boolean;
}

export interface OneRun {
  readonly world: World;
  readonly result: RunResult;
  readonly outcome: Outcome;
}

/** One run of the setup's scenario. */
export function runOnce(setup: RunSetup, seed: number, o: RunOnceOptions = {}): OneRun {
  setup.onRun?.();
  const world = buildWorld(setup.scenario, {
    seed,
    trace: o.trace ?? false,
    drivers: setup.drivers,
    verifier: setup.verifier,
    recordDecisions: o.record ?? false,
    situations: true,
    strategy: o.strategy ?? strategyFor(setup.strategy, seed),
    ...(o.replay === undefined ? {} : { replay: o.replay }),
  });
  const result = world.run(setup.untilNs);
  return { world, result, outcome: judge(setup, result, world) };
}

/** A run's decisions without the trailing answers 0, which a replay supplies by itself. */
export function trimDecisions(log: readonly Decision[]): Decision[] {
  let n = log.length;
  while (n > 0 && log[n - 1]!.pick === 0) n--;
  return log.slice(0, n);
}

/** Decisions answered other than 0: what a shrunk run still needs to fail. */
export function nonDefault(log: readonly Decision[]): number {
  let n = 0;
  for (const d of log) if (d.pick !== 0) n++;
  return n;
}

/** Questions of up to this many answers have an answer lowered value by value; larger ones by halving. */
const lowerStepByStep = 16;

/** A fault draw of more answers than this is an injected event's time (an answer a microsecond). */
const retimeMinAnswers = 1024;
/** Answers either side of the measured shift the retiming tries. */
const retimeSpread = 8;

/** How far ahead a guided run looks for a logged question like the one asked. */
const guideWindow = 16;

/**
 * Answers from another run's log, matched by question. A question takes the answer of
 * a logged decision with the same site and count: first one made at the same instant,
 * anywhere ahead (the log is in time order: found by halving); else the next one
 * within `guideWindow` entries. The entries skipped are not used again; a question the log
 * does not have is answered 0 and takes nothing. A changed answer changes the
 * questions after it (one more event ready at an instant, one DPC fewer), and a cut
 * scenario drops whole runs of them (a device taken out); matching by question, and by
 * time where the times still agree, keeps the later answers on the questions they were
 * meant for, where answers by position would slide onto others.
 */
export class GuidedStrategy implements Strategy {
  readonly name = 'guided';
  private i = 0;
  constructor(private readonly log: readonly Decision[]) {}
  pick(site: ChoiceSite, count: number, nowNs: number): number {
    // The log is in time order: the first entry at or after this instant, by halving.
    let lo = this.i;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.log[mid]!.atNs ?? -1) < nowNs) lo = mid + 1;
      else hi = mid;
    }
    for (let j = lo; j < this.log.length && this.log[j]!.atNs === nowNs; j++) {
      const d = this.log[j]!;
      if (d.site === site && d.count === count) {
        this.i = j + 1;
        return d.pick;
      }
    }
    const end = Math.min(this.log.length, this.i + guideWindow);
    for (let j = this.i; j < end; j++) {
      const d = this.log[j]!;
      if (d.site === site && d.count === count) {
        this.i = j + 1;
        return d.pick;
      }
    }
    return 0;
  }
}

export interface Shrunk {
  /** The shrunk run's decisions up to its last answer that is not 0. */
  readonly decisions: readonly Decision[];
  /** Decisions of the run first found, and how many of them were not 0. */
  readonly from: { readonly decisions: number; readonly nonDefault: number };
  /** Runs the shrinking took, and whether it stopped at its budget rather than at a minimum. */
  readonly runs: number;
  readonly budgetSpent: boolean;
  readonly outcome: Outcome;
  /**
   * Candidates stopped at --seed-timeout in the shrinking's worker thread (shrink-pool.ts),
   * each counted as one that does not fail the same way; absent when none was.
   */
  readonly timedOut?: number;
}

/** Virtual time a shrinking candidate runs past twice the failure's time (shrinkHorizonNs). */
export const shrinkSlackNs = 100 * ns.ms;

/**
 * How long a candidate of a failure's shrinking runs, for a failure that came at
 * `failedAtNs` of a run `untilNs` long: twice that time and `shrinkSlackNs` more,
 * and never past the run's end. A failure judged at the run's end (an `expect:`, work
 * not settled, violations collected) keeps the whole run. A candidate that has not
 * failed the same way by then counts as one that does not fail: simpler answers make
 * a failure come sooner, seldom later, and every candidate that does not fail costs
 * the whole of its run. A failure 20 ms into a 20 s run took 350 s to shrink, nearly
 * all of it in candidates that ran the 20 s out; a shrunk run still fails as found
 * when it runs to the end, since a run up to a time does not depend on its length.
 */
export function shrinkHorizonNs(failedAtNs: number, untilNs: number): number {
  if (failedAtNs >= untilNs) return untilNs;
  return Math.min(untilNs, 2 * failedAtNs + shrinkSlackNs);
}

/**
 * True when answers `a` are simpler than `b`: fewer answers that are not 0, then a
 * shorter list, then a smaller sum. Every accepted step is strictly simpler, so
 * shrinking ends.
 */
function simpler(a: readonly number[], b: readonly number[]): boolean {
  const nzA = a.reduce((n, p) => n + (p === 0 ? 0 : 1), 0);
  const nzB = b.reduce((n, p) => n + (p === 0 ? 0 : 1), 0);
  if (nzA !== nzB) return nzA < nzB;
  if (a.length !== b.length) return a.length < b.length;
  return a.reduce((s, p) => s + p, 0) < b.reduce((s, p) => s + p, 0);
}

/** A question's site and count as one number. */
function questionKey(d: Decision): number {
  return d.site * 0x1_0000_0000 + d.count;
}

/** The positions of the answers that are not 0, in order, by question. */
function byQuestion(log: readonly Decision[], picks: readonly number[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (let i = 0; i < picks.length; i++) {
    if (picks[i] === 0) continue;
    const k = questionKey(log[i]!);
    const list = m.get(k);
    if (list === undefined) m.set(k, [i]);
    else list.push(i);
  }
  return m;
}

/** The first of the ascending `list` above `j`. */
function firstAbove(list: readonly number[], j: number): number | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! > j) hi = mid;
    else lo = mid + 1;
  }
  return list[lo];
}

/**
 * Shrinks the failing run of `seed`: its answers are taken back to 0, the tail first,
 * then in blocks of halving size, then each remaining answer is lowered, for as long
 * as a change keeps a run that fails the same way (Outcome.key) and `maxRuns` allows.
 * Each candidate runs with the guided strategy, and the log it records (not the list
 * it was given: a changed answer changes the questions after it) becomes the next best.
 */
export function shrink(
  setup: RunSetup,
  seed: number,
  maxRuns: number,
  /** Start from these decisions (guided) rather than from the seed's own run. */
  start: readonly Decision[] | null = null,
): Shrunk {
  const first = runOnce(setup, seed, {
    record: true,
    ...(start === null ? {} : { strategy: new GuidedStrategy(start) }),
  });
  if (first.outcome.kind !== 'fail')
    throw new Error(`shrink: seed ${seed} does not fail (${first.outcome.kind})`);
  // The kind of failure (Outcome.key): the rule and where it was broken.
  const kind = first.outcome.key;
  // Candidates run only a little past where this failure came: one that has not failed
  // the same way by then counts as one that does not fail (shrinkHorizonNs).
  const horizon = shrinkHorizonNs(first.outcome.endNs, setup.untilNs);
  const bounded = horizon === setup.untilNs ? setup : { ...setup, untilNs: horizon };
  const firstLog = first.world.decisions();
  let best = trimDecisions(firstLog);
  let picks = best.map((d) => d.pick);
  let outcome = first.outcome;
  let runs = 0;
  /** The last candidate's run, kept or not (the retiming measures it). */
  let last: OneRun | null = null;
  const attempt = (cand: number[]): boolean => {
    if (runs >= maxRuns) return false;
    runs++;
    // A candidate that timed out before (RunSetup.candidate) does not fail the same way.
    if (setup.candidate?.() === false) {
      last = null;
      return false;
    }
    const guide = cand.map((pick, i) => ({ ...best[i]!, pick }));
    const r = runOnce(bounded, seed, { strategy: new GuidedStrategy(guide), record: true });
    last = r;
    if (r.outcome.kind !== 'fail' || r.outcome.key !== kind) return false;
    const log = trimDecisions(r.world.decisions());
    const got = log.map((d) => d.pick);
    if (!simpler(got, picks)) return false;
    best = log;
    picks = got;
    outcome = r.outcome;
    return true;
  };
  // First, the scenario's own draws alone: keep the answers of the fault plans and the
  // injected events (whether and when they come) and take every scheduling answer back
  // to 0. A failure that needs only its injected event at the right time (a stop that
  // lands between an interrupt and its DPC) is shrunk in one run; a long run with tens
  // of thousands of scheduling answers otherwise spends the whole budget cutting them
  // block by block (the pcinic explore scenario took 5 minutes).
  // If they alone do not fail (the scheduling put the event in its window), each of
  // them alone: an injected event at the simplest time of its window may.
  if (picks.some((p, i) => p !== 0 && best[i]!.site !== ChoiceSite.Fault)) {
    const faults = picks.flatMap((p, i) => (p !== 0 && best[i]!.site === ChoiceSite.Fault ? [i] : []));
    const only = (keep: readonly number[]): number[] => picks.map((p, i) => (keep.includes(i) ? p : 0));
    if (faults.length > 0 && !attempt(only(faults)) && faults.length > 1)
      for (const i of faults) if (attempt(only([i]))) break;
  }
  // Retiming: scheduling answers early in a run (a latency at start-up) that only set
  // the phase of what follows (frames arriving every millisecond from when receive was
  // turned on) cannot go back to 0 alone: the injected event then lands elsewhere in
  // that phase. Taken out together with the injected time moved by as much as the
  // timeline moved, they may. The shift is measured, not searched for: a run without
  // them (which passes) is compared with the best one at the last decision before the
  // first answer kept, and the injected time is tried at that shift and a few
  // microseconds about it. (rxpool-race seed 57, before a CPU ran its queued DPCs ahead
  // of PASSIVE work: 8 choices became 2.)
  const retime = (): boolean => {
    const draws = picks.flatMap((p, i) =>
      p !== 0 && best[i]!.site === ChoiceSite.Fault && best[i]!.count > retimeMinAnswers ? [i] : [],
    );
    if (draws.length !== 1) return false;
    const f = draws[0]!;
    const others = picks.flatMap((p, i) => (p !== 0 && best[i]!.site !== ChoiceSite.Fault ? [i] : []));
    // The earliest ones together (all but the last, all but the last two …), then each alone.
    const sets = [
      ...others.slice(0, -1).map((_, n) => others.slice(0, others.length - 1 - n)),
      ...others.map((i) => [i]),
    ];
    for (const drop of sets) {
      if (runs >= maxRuns) return false;
      const cand = picks.slice();
      for (const i of drop) cand[i] = 0;
      // The first answer the candidate keeps after those it drops, and the decision before it.
      const after = cand.findIndex((p, i) => p !== 0 && i > drop[drop.length - 1]! && i !== f);
      const k = (after === -1 ? best.length : after) - 1;
      const before = best;
      if (attempt(cand)) return true;
      const probe: OneRun | null = last;
      if (probe === null || runs >= maxRuns) return false;
      const log = probe.world.decisions();
      const was = before[k]?.atNs;
      const now = log[k]?.atNs;
      if (was === undefined || now === undefined || log[k]!.site !== best[k]!.site) continue;
      const shift = Math.round((now - was) / injectStepNs);
      // Answers before the injected event move the timeline it must keep its place in
      // (the injected time moves with it); answers after it, in what it set off, move
      // that instead, and the injected time moves the other way.
      for (const by of shift === 0 ? [] : [shift, -shift])
        for (let e = 0; e <= retimeSpread && runs < maxRuns; e = e <= 0 ? 1 - e : -e) {
          const at = picks[f]! + by + e;
          if (at < 0 || at >= best[f]!.count) continue;
          const moved = cand.slice();
          moved[f] = at;
          if (attempt(moved)) return true;
        }
    }
    return false;
  };
  for (;;) {
    let progress = false;
    // The tail: keep only a leading part of the answers.
    for (const k of [0, picks.length >> 2, picks.length >> 1, (3 * picks.length) >> 2]) {
      if (k < picks.length && attempt(picks.slice(0, k))) {
        progress = true;
        break;
      }
    }
    // Blocks of answers that are not 0, halving in size.
    const positions = (): number[] => picks.flatMap((p, i) => (p === 0 ? [] : [i]));
    for (let size = 2 ** Math.floor(Math.log2(Math.max(1, positions().length))); size >= 1; size >>= 1) {
      let at = 0;
      for (let pos = positions(); at < pos.length; pos = positions()) {
        const cand = picks.slice();
        for (const i of pos.slice(at, at + size)) cand[i] = 0;
        if (attempt(cand)) progress = true;
        else at += size;
        if (runs >= maxRuns) break;
      }
    }
    // Move one answer's value onto another of the same question, as far as it fits:
    // two latencies that add up to a delay the failure needs become one. Only pairs of
    // answers not 0 to the same question are tried, found through `byQuestion` (rebuilt
    // when a candidate is kept): a long log has tens of thousands of answers, and
    // scanning every pair took seconds a pass, hours once the budget was spent.
    let groups = byQuestion(best, picks);
    for (let i = 0; i < picks.length && runs < maxRuns; i++) {
      for (let j = i; runs < maxRuns; ) {
        const a = best[i];
        if (a === undefined || (picks[i] ?? 0) === 0) break;
        const same = groups.get(questionKey(a)) ?? [];
        const next = firstAbove(same, j);
        if (next === undefined) break;
        j = next;
        for (const [to, from] of [
          [i, j],
          [j, i],
        ] as const) {
          const cand = picks.slice();
          const moved = Math.min(cand[from]!, a.count - 1 - cand[to]!);
          if (moved === 0) continue;
          cand[to]! += moved;
          cand[from]! -= moved;
          if (attempt(cand)) {
            progress = true;
            groups = byQuestion(best, picks);
            break;
          }
        }
      }
    }
    // Lower what is left, one answer at a time: the smallest value that still fails,
    // value by value for a question of a few answers, by halving the gap for a larger
    // one (an injected time has an answer per microsecond of its window).
    const lower = (i: number, v: number): boolean => {
      const cand = picks.slice();
      cand[i] = v;
      return attempt(cand);
    };
    for (let i = picks.length - 1; i >= 0 && runs < maxRuns; i--) {
      const p = picks[i] ?? 0;
      if (p <= 1) continue;
      if ((best[i]?.count ?? 0) <= lowerStepByStep) {
        for (let v = 1; v < p && runs < maxRuns; v++)
          if (lower(i, v)) {
            progress = true;
            break;
          }
        continue;
      }
      // Fails at hi; lo is the largest value known not to (0 failed in the passes above).
      let lo = 0;
      let hi = p;
      while (hi - lo > 1 && runs < maxRuns && picks[i] === hi) {
        const mid = lo + Math.floor((hi - lo) / 2);
        if (lower(i, mid)) {
          progress = true;
          hi = mid;
        } else lo = mid;
      }
    }
    if (!progress && runs < maxRuns && retime()) continue;
    if (!progress || runs >= maxRuns) break;
  }
  return {
    decisions: best,
    from: { decisions: firstLog.length, nonDefault: nonDefault(firstLog) },
    runs,
    budgetSpent: runs >= maxRuns,
    outcome,
  };
}

export interface ExploreOptions {
  readonly firstSeed: number;
  readonly runs: number;
  /** Shrink the first run of each failure group, with at most this many runs (0: do not). */
  readonly shrinkRuns: number;
  /** Called after each run, outside the simulation (a progress bar). */
  readonly progress?: (done: number, failed: number) => void;
}

export interface FailureGroup {
  readonly signature: string;
  /** Where its runs broke the rule (Outcome.where), or null. */
  readonly where: string | null;
  /** The kind of failure (Outcome.key): the group's runs share it, and no other group has it. */
  readonly key: string;
  /** Every failing seed of the group, in order. */
  readonly seeds: number[];
  /** The first failing run's outcome. */
  readonly first: Outcome;
  shrunk: Shrunk | null;
  /**
   * The scenario with what the failure does not need taken out (reduce.ts), when
   * something could be; `shrunk` is then of a run of this scenario.
   */
  reduced: {
    readonly text: string;
    readonly scenario: Scenario;
    /** How long its runs go: its own `until:`, unless the explore's --until set it. */
    readonly untilNs: number;
    readonly removed: readonly string[];
    /** Values lowered, with both: `protocols[0].traffic.rate: 300 → 1`. */
    readonly lowered: readonly string[];
    readonly runs: number;
  } | null;
}

export interface ExploreReport {
  readonly runs: number;
  readonly passed: number;
  readonly failed: number;
  readonly notModelled: { readonly seeds: number[]; readonly first: Outcome } | null;
  /** In the order their first seed was met. */
  readonly groups: readonly FailureGroup[];
  /** Simulation events of the exploring runs (not of the shrinking). */
  readonly events: number;
  /**
   * The situations the runs reached (World.situations: a removal and the adapter's
   * state when it came), by name: in how many runs, and the first seed that did.
   */
  readonly situations: readonly Situation[];
  /**
   * Seeds that ran longer than the wall-clock limit in a worker thread (--seed-timeout)
   * and were stopped, in order: no outcome, no replay file. Outside the simulation:
   * a seed that never returns does so for any worker count.
   */
  readonly timedOut: readonly number[];
}

export interface Situation {
  readonly what: string;
  readonly runs: number;
  readonly firstSeed: number;
}

/** Situations in name order: the same list however the seeds were split. */
function situationList(m: ReadonlyMap<string, { runs: number; firstSeed: number }>): Situation[] {
  return [...m]
    .map(([what, v]) => ({ what, runs: v.runs, firstSeed: v.firstSeed }))
    .sort((a, b) => (a.what < b.what ? -1 : a.what > b.what ? 1 : 0));
}

/** Adds one run's situations (each once, however often the run reached it) to `into`, by code. */
function addSituations(
  into: Map<number, { runs: number; firstSeed: number }>,
  codes: readonly number[],
  seed: number,
): void {
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (codes.indexOf(code) !== i) continue;
    const s = into.get(code);
    if (s === undefined) into.set(code, { runs: 1, firstSeed: seed });
    else s.runs++;
  }
}

/** By code → by name. */
function byName(m: ReadonlyMap<number, { runs: number; firstSeed: number }>) {
  return new Map([...m].map(([code, v]) => [situationName(code), v]));
}

/**
 * Runs seeds firstSeed … firstSeed + runs − 1 and groups the failures (no shrinking).
 * `stop`, asked after each run, ends it early (wall clock, an interrupt: outside the
 * simulation); the report then covers the seeds run, from `firstSeed` on.
 */
export function exploreSeeds(
  setup: RunSetup,
  firstSeed: number,
  runs: number,
  progress?: (done: number, failed: number) => void,
  stop?: () => boolean,
): ExploreReport {
  const groups = new Map<string, FailureGroup>();
  let passed = 0;
  let failed = 0;
  let events = 0;
  let notModelled: { seeds: number[]; first: Outcome } | null = null;
  const situations = new Map<number, { runs: number; firstSeed: number }>();
  for (let i = 0; i < runs; i++) {
    const seed = firstSeed + i;
    const { world, result, outcome } = runOnce(setup, seed);
    events += result.events;
    addSituations(situations, world.situationCodes(), seed);
    if (outcome.kind === 'pass') passed++;
    else if (outcome.kind === 'not-modelled') {
      if (notModelled === null) notModelled = { seeds: [], first: outcome };
      notModelled.seeds.push(seed);
    } else {
      failed++;
      let g = groups.get(outcome.key);
      if (g === undefined) {
        g = {
          signature: outcome.signature,
          where: outcome.where,
          key: outcome.key,
          seeds: [],
          first: outcome,
          shrunk: null,
          reduced: null,
        };
        groups.set(outcome.key, g);
      }
      g.seeds.push(seed);
    }
    progress?.(i + 1, failed);
    if (stop?.() === true) {
      runs = i + 1;
      break;
    }
  }
  return {
    runs,
    passed,
    failed,
    notModelled,
    groups: [...groups.values()],
    events,
    situations: situationList(byName(situations)),
    timedOut: [],
  };
}

/**
 * The reports of consecutive slices of seeds, in seed order, as one: the report a
 * single exploreSeeds over all of them gives (groups in the order of their first seed).
 */
export function mergeReports(parts: readonly ExploreReport[]): ExploreReport {
  const groups = new Map<string, FailureGroup>();
  let notModelled: { seeds: number[]; first: Outcome } | null = null;
  const situations = new Map<string, { runs: number; firstSeed: number }>();
  for (const p of parts) {
    for (const x of p.situations) {
      const s = situations.get(x.what);
      if (s === undefined) situations.set(x.what, { runs: x.runs, firstSeed: x.firstSeed });
      else s.runs += x.runs;
    }
    for (const g of p.groups) {
      const mine = groups.get(g.key);
      if (mine === undefined) groups.set(g.key, { ...g, seeds: [...g.seeds] });
      else mine.seeds.push(...g.seeds);
    }
    if (p.notModelled !== null) {
      if (notModelled === null) notModelled = { seeds: [], first: p.notModelled.first };
      notModelled.seeds.push(...p.notModelled.seeds);
    }
  }
  const sum = (f: (r: ExploreReport) => number): number => parts.reduce((n, r) => n + f(r), 0);
  return {
    runs: sum((r) => r.runs),
    passed: sum((r) => r.passed),
    failed: sum((r) => r.failed),
    notModelled,
    groups: [...groups.values()],
    events: sum((r) => r.events),
    situations: situationList(situations),
    timedOut: parts.flatMap((r) => r.timedOut).sort((a, b) => a - b),
  };
}

/** Shrinks the first run of each group, with at most `maxRuns` runs each. */
export function shrinkGroups(setup: RunSetup, report: ExploreReport, maxRuns: number): void {
  if (maxRuns > 0) for (const g of report.groups) g.shrunk = shrink(setup, g.seeds[0]!, maxRuns);
}

/** Runs seeds firstSeed … firstSeed + runs − 1, groups the failures, shrinks each group's first. */
export function explore(setup: RunSetup, o: ExploreOptions): ExploreReport {
  const report = exploreSeeds(setup, o.firstSeed, o.runs, o.progress);
  shrinkGroups(setup, report, o.shrinkRuns);
  return report;
}
