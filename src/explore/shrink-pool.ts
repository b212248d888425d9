// The shrinking in a worker thread (review-explore #1): when the seeds ran in worker
// threads under --seed-timeout, so do the candidate runs of their failures' shrinking.
// A candidate that runs past the same wall-clock limit (a driver that spins on some
// schedule only) is stopped with its worker, and counts as a candidate that does not
// fail the same way: a new worker shrinks that group again from its start, told to skip
// it (RunSetup.candidate), and so follows the same path up to it, then goes on. A run of
// the shrinking that is no candidate (the group's first run again, a run to the
// scenario's end) and runs past the limit ends that group's shrinking: it keeps its
// seed's own run. The command's thread only waits, so its progress line, SIGINT and
// SIGTERM all work while the failures are shrunk.

import { Worker } from 'node:worker_threads';
import { InputError, InternalError } from '../errors.ts';
import type { ExploreReport, Shrunk } from './explore.ts';
import { type WorkerScenario, wallMicros } from './pool.ts';

/**
 * The shared slots of a shrinking worker: Int32 0, runs made (after each begins);
 * Int32 1, the group it shrinks; Int32 2, the candidate (its count within the group's
 * shrinking, from 1) that the run under way is, or 0 for a run that is no candidate;
 * BigInt64 at byte 16, the wall-clock time (µs) at which that run began.
 */
export const shrinkBeatLayout = { bytes: 24, runs: 0, group: 1, candidate: 2, beganAt: 16 } as const;

/** Where a shrinking worker begins, sent once it is asked to (a spare waits for it). */
export interface ShrinkStart {
  /** The group to begin at: those before it are done. */
  readonly from: number;
  /** Candidates (their count within the group, from 1) to skip, by group. */
  readonly skip: readonly (readonly number[])[];
  /** Groups left as their seed ran: a run of their shrinking that is no candidate ran past the limit. */
  readonly leave: readonly number[];
}

/** What a shrinking worker needs: texts and names, nothing that cannot be copied. */
export interface ShrinkJob extends WorkerScenario {
  readonly kind: 'shrink';
  readonly beat: SharedArrayBuffer;
  /** Each group's first seed and kind (FailureGroup.key), in the report's order. */
  readonly groups: readonly { readonly seed: number; readonly key: string }[];
  readonly maxRuns: number;
  /** Shrink the scenario too (--no-reduce: false). */
  readonly reduce: boolean;
}

/** A group's shrinking as a worker sends it: its scenario's text in place of the parsed scenario. */
export interface ShrunkGroup {
  readonly shrunk: Shrunk;
  readonly reduced: {
    readonly text: string;
    readonly untilNs: number;
    readonly removed: readonly string[];
    readonly lowered: readonly string[];
    readonly runs: number;
  } | null;
}

export type ShrinkMessage =
  /** `partial`: its decisions shrunk, its scenario's step to come. */
  | { kind: 'group'; group: number; partial: boolean; result: ShrunkGroup }
  | { kind: 'done' }
  | { kind: 'input-error'; problems: string[] }
  | { kind: 'error'; message: string };

/** How a group's shrinking in a worker ended: shrunk, or left as its seed ran (null). */
export interface ShrinkOutcome {
  readonly results: (ShrunkGroup | null)[];
  /** Candidates stopped at the limit, by group. */
  readonly timedOut: number[];
  /** Stopped by the signal: the results are then to be dropped. */
  readonly interrupted: boolean;
}

/** How often the command's thread looks at the worker's beat, at most. */
const watchEveryMs = 1000;

/**
 * Shrinks each group of `report` in a worker thread, one worker at a time, each candidate
 * run under `seedLimitMs` of wall-clock time. `onRun(group)` is told of each run. When
 * `signal` aborts, the worker is ended and `interrupted` is set.
 */
export async function shrinkInWorker(
  job: Omit<ShrinkJob, 'kind' | 'beat' | 'groups'>,
  report: ExploreReport,
  seedLimitMs: number,
  onRun: ((group: number) => void) | undefined,
  signal: AbortSignal | undefined,
): Promise<ShrinkOutcome> {
  const groups = report.groups.map((g) => ({ seed: g.seeds[0]!, key: g.key }));
  const results: (ShrunkGroup | null)[] = groups.map(() => null);
  const skip: number[][] = groups.map(() => []);
  const timedOut = groups.map(() => 0);
  const leave: number[] = [];
  let from = 0;
  // A worker loads ndis-sim and the drivers (seconds on a busy machine) before it is
  // told where to begin. Once a candidate has been stopped, a spare one waits, so the
  // restarts after the next ones do not wait for that too.
  const spawn = (): Spawned => {
    const beat = new SharedArrayBuffer(shrinkBeatLayout.bytes);
    const w = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { ...job, kind: 'shrink', beat, groups } satisfies ShrinkJob,
    });
    // What it says before it is given work waits for the listener (a driver that no longer loads).
    const sp: Spawned = { w, beat, early: [], on: null };
    const pass = (e: WorkerEvent): void => (sp.on === null ? void sp.early.push(e) : sp.on(e));
    w.on('message', (m: ShrinkMessage) => pass({ kind: 'message', m }));
    w.on('error', (e) => pass({ kind: 'error', e }));
    w.on('exit', (code) => pass({ kind: 'exit', code }));
    return sp;
  };
  let spare: Spawned | null = null;
  try {
    while (from < groups.length) {
      if (signal?.aborted === true) return { results, timedOut, interrupted: true };
      const sp = spare ?? spawn();
      spare = null;
      const { w, beat } = sp;
      if (leave.length > 0 || skip.some((s) => s.length > 0)) spare = spawn();
      const ints = new Int32Array(beat, 0, 3);
      const began = new BigInt64Array(beat, shrinkBeatLayout.beganAt, 1);
      w.postMessage({ from, skip, leave } satisfies ShrinkStart);
      // How this worker ended: every group done, the signal, or a run past the limit (its group and candidate).
      const end = await new Promise<
        { kind: 'done' } | { kind: 'aborted' } | { kind: 'stuck'; group: number; candidate: number }
      >((resolve, reject) => {
        let told = 0; // runs told to onRun
        let settled = false;
        const settle = (f: () => void): void => {
          if (settled) return;
          settled = true;
          clearInterval(watch);
          signal?.removeEventListener('abort', onAbort);
          void w.terminate();
          f();
        };
        const tell = (): void => {
          const runs = Atomics.load(ints, shrinkBeatLayout.runs);
          const g = Atomics.load(ints, shrinkBeatLayout.group);
          for (; told < runs; told++) onRun?.(g);
        };
        const onAbort = (): void => settle(() => resolve({ kind: 'aborted' }));
        signal?.addEventListener('abort', onAbort, { once: true });
        const watch = setInterval(
          () => {
            tell();
            const runs = Atomics.load(ints, shrinkBeatLayout.runs);
            if (runs === 0) return; // still loading the drivers: not timed
            const ranMs = Number(wallMicros() - Atomics.load(began, 0)) / 1000;
            if (ranMs <= seedLimitMs || Atomics.load(ints, shrinkBeatLayout.runs) !== runs) return;
            const group = Atomics.load(ints, shrinkBeatLayout.group);
            const candidate = Atomics.load(ints, shrinkBeatLayout.candidate);
            settle(() => resolve({ kind: 'stuck', group, candidate }));
          },
          Math.min(watchEveryMs, Math.max(10, seedLimitMs / 4)),
        );
        const failed = (why: string, detail: unknown): void =>
          settle(() => reject(new InternalError(`explore: the shrinking worker ${why}`, [detail])));
        sp.on = (e) => {
          if (settled) return; // a worker ended: what it had not yet told is done again
          if (e.kind === 'error') return failed('failed', e.e.message);
          if (e.kind === 'exit') return failed('ended without its report', e.code);
          const m = e.m;
          switch (m.kind) {
            case 'group':
              results[m.group] = m.result;
              if (!m.partial) from = m.group + 1;
              return;
            case 'done':
              tell();
              settle(() => resolve({ kind: 'done' }));
              return;
            case 'input-error':
              settle(() => reject(new InputError(m.problems)));
              return;
            case 'error':
              failed('failed', m.message);
              return;
          }
        };
        for (const e of sp.early.splice(0)) sp.on(e);
      });
      if (end.kind === 'done') break;
      if (end.kind === 'aborted') return { results, timedOut, interrupted: true };
      // A candidate past the limit: the group again, skipping it. Any other run: the
      // group is left as it ran. The next worker begins at the first group not told of
      // (`from`), and goes the same way up to there.
      if (end.candidate > 0) {
        skip[end.group]!.push(end.candidate);
        timedOut[end.group]!++;
        results[end.group] = null;
      } else {
        // What it told of the group stays: its decisions shrunk, when the run was of the scenario's step.
        leave.push(end.group);
        if (from === end.group) from++;
      }
    }
  } finally {
    if (spare !== null) void spare.w.terminate();
  }
  return { results, timedOut, interrupted: false };
}

type WorkerEvent =
  | { kind: 'message'; m: ShrinkMessage }
  | { kind: 'error'; e: Error }
  | { kind: 'exit'; code: number };

/** A shrinking worker started, and what it said before it was given its work. */
interface Spawned {
  readonly w: Worker;
  readonly beat: SharedArrayBuffer;
  readonly early: WorkerEvent[];
  on: ((e: WorkerEvent) => void) | null;
}
