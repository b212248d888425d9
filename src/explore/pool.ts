// The explorer on several cores: consecutive slices of the seeds run in worker
// threads, and their reports merge into the one a single thread gives (mergeReports),
// so the result does not depend on how many workers ran it. A seed that runs past the
// wall-clock limit is stopped and reported as timed out; the rest of its slice goes
// on in new workers, so that too is the same for any worker count.

import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { InputError, InternalError } from '../errors.ts';
import { type ExploreReport, mergeReports, type StrategySpec } from './explore.ts';

/** The scenario a worker runs, as texts and file names: nothing that cannot be copied. */
export interface WorkerScenario {
  readonly file: string;
  readonly text: string;
  readonly driverFiles: readonly string[];
  readonly untilNs: number;
  readonly verifier: 'bugcheck' | 'collect';
  readonly strategy?: StrategySpec;
}

/**
 * What a worker needs to run its slice of the seeds. `beat` is shared with the
 * command's thread (Atomics; beatLayout).
 */
export interface SliceJob extends WorkerScenario {
  readonly beat?: SharedArrayBuffer;
  readonly firstSeed: number;
  readonly runs: number;
}

/**
 * The shared slots of a worker: Int32 0, the runs done in its slice (after each run);
 * Int32 1, 1 once it begins its seeds; Int32 2, set to 1 by the command's thread to ask
 * it to stop after the seed it runs; BigInt64 at byte 16, the wall-clock time
 * (performance.timeOrigin + now, in µs) at which it began the seed it runs.
 */
export const beatLayout = { bytes: 24, done: 0, started: 1, stop: 2, beganAt: 16 } as const;

/** Wall-clock time in µs, the same in every thread (performance.now alone is not). */
export function wallMicros(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

export type WorkerMessage =
  /** The next seeds of its slice, in order, from `firstSeed`. */
  | { kind: 'part'; firstSeed: number; report: ExploreReport }
  /** Its slice is done, or it stopped as asked. */
  | { kind: 'done' }
  | { kind: 'input-error'; problems: string[] }
  | { kind: 'error'; message: string };

/** `runs` seeds from `firstSeed` in `jobs` slices, as equal as whole numbers allow. */
export function slices(firstSeed: number, runs: number, jobs: number): { firstSeed: number; runs: number }[] {
  const n = Math.max(1, Math.min(jobs, runs));
  const out: { firstSeed: number; runs: number }[] = [];
  let seed = firstSeed;
  for (let i = 0; i < n; i++) {
    const r = Math.floor(runs / n) + (i < runs % n ? 1 : 0);
    out.push({ firstSeed: seed, runs: r });
    seed += r;
  }
  return out;
}

/** The report of one seed stopped at the wall-clock limit. */
function timedOutReport(seed: number): ExploreReport {
  return {
    runs: 1,
    passed: 0,
    failed: 0,
    notModelled: null,
    groups: [],
    events: 0,
    situations: [],
    timedOut: [seed],
  };
}

/** How often the command's thread looks at the workers' beats, at most. */
const watchEveryMs = 1000;
/** After a stop is asked, how long a worker may take to finish its seed and send its report. */
const stopGraceMs = 2000;

/** A part of the seeds' report, by the seed it begins at. */
interface Piece {
  readonly firstSeed: number;
  readonly report: ExploreReport;
}

/** What the slices of one exploration share. */
interface Pool {
  readonly job: Omit<SliceJob, 'firstSeed' | 'runs' | 'beat'>;
  readonly seedLimitMs: number;
  /** A stop was asked (an interrupt): no more workers start, those at work stop. */
  stopping: boolean;
  /** The stop functions of the workers at work. */
  readonly live: Set<() => void>;
  readonly workers: Set<Worker>;
  /** Seeds done (timed-out ones too) and failures found, since the last call. */
  readonly progress: (runs: number, failed: number) => void;
}

/**
 * Runs seeds `firstSeed` … in a worker thread: the pieces of report it sent, in order.
 * A seed past the limit is stopped there and becomes a timed-out piece; the seeds of
 * the slice the worker had run but not reported yet, and those after the stuck one,
 * go to new workers.
 */
function runSlice(pool: Pool, firstSeed: number, runs: number): Promise<Piece[]> {
  if (runs <= 0 || pool.stopping) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const beat = new SharedArrayBuffer(beatLayout.bytes);
    const ints = new Int32Array(beat, 0, 4);
    const began = new BigInt64Array(beat, beatLayout.beganAt, 1);
    const job: SliceJob = { ...pool.job, firstSeed, runs, beat };
    const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: job });
    pool.workers.add(w);
    const pieces: Piece[] = [];
    let covered = 0; // seeds of the slice in `pieces`
    let grace: NodeJS.Timeout | undefined;
    let settled = false;
    const stop = (): void => {
      Atomics.store(ints, beatLayout.stop, 1);
      // A worker stuck in a seed never answers: what it sent before is kept.
      grace ??= setTimeout(() => settle(() => resolve(pieces)), stopGraceMs);
    };
    pool.live.add(stop);
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      clearTimeout(grace);
      pool.live.delete(stop);
      pool.workers.delete(w);
      void w.terminate();
      f();
    };
    // The clock of a seed starts when the worker begins it (it writes the time), not
    // when the worker was made: loading ndis-sim and the drivers does not count.
    const watch = setInterval(
      () => {
        if (Atomics.load(ints, beatLayout.started) === 0) return;
        const done = Atomics.load(ints, beatLayout.done);
        const ranMs = Number(wallMicros() - Atomics.load(began, 0)) / 1000;
        if (ranMs <= pool.seedLimitMs || Atomics.load(ints, beatLayout.done) !== done) return;
        const seed = firstSeed + done;
        settle(() => {
          pool.progress(1, 0);
          const from = firstSeed + covered;
          Promise.all([
            runSlice(pool, from, seed - from),
            runSlice(pool, seed + 1, firstSeed + runs - seed - 1),
          ]).then(
            ([before, after]) =>
              resolve([...pieces, ...before, { firstSeed: seed, report: timedOutReport(seed) }, ...after]),
            reject,
          );
        });
      },
      Math.min(watchEveryMs, Math.max(10, pool.seedLimitMs / 4)),
    );
    watch.unref();
    w.on('message', (m: WorkerMessage) => {
      switch (m.kind) {
        case 'part':
          if (settled) return;
          pieces.push({ firstSeed: m.firstSeed, report: m.report });
          covered += m.report.runs;
          pool.progress(m.report.runs, m.report.failed);
          return;
        case 'done':
          settle(() => resolve(pieces));
          return;
        case 'input-error':
          settle(() => reject(new InputError(m.problems)));
          return;
        case 'error':
          settle(() => reject(new InternalError('explore: a worker failed', [m.message])));
          return;
      }
    });
    w.on('error', (e) => settle(() => reject(new InternalError('explore: a worker failed', [e.message]))));
    w.on('exit', (code) =>
      settle(() => reject(new InternalError('explore: a worker ended without its report', [code]))),
    );
    if (pool.stopping) stop();
  });
}

/**
 * Runs `runs` seeds from `firstSeed` in `jobs` worker threads; `progress` gets the
 * runs done and the failures found in all of them so far. A seed that runs past
 * `seedLimitMs` of wall-clock time in its worker is stopped and reported as timed
 * out (ExploreReport.timedOut), and the others go on. When `signal` aborts, the
 * workers stop after the seed they run (one stuck in a seed is ended after a grace),
 * and the report holds the seeds done by then: from each slice's start, so not
 * always consecutive.
 */
export async function exploreInWorkers(
  job: Omit<SliceJob, 'firstSeed' | 'runs' | 'beat'>,
  firstSeed: number,
  runs: number,
  jobs: number,
  progress: ((done: number, failed: number) => void) | undefined,
  seedLimitMs: number,
  signal?: AbortSignal,
): Promise<ExploreReport> {
  let done = 0;
  let failed = 0;
  const pool: Pool = {
    job,
    seedLimitMs,
    stopping: signal?.aborted === true,
    live: new Set(),
    workers: new Set(),
    progress: (d, f) => {
      done += d;
      failed += f;
      progress?.(done, failed);
    },
  };
  const onAbort = (): void => {
    pool.stopping = true;
    for (const stop of [...pool.live]) stop();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const parts = await Promise.all(
      slices(firstSeed, runs, jobs).map((s) => runSlice(pool, s.firstSeed, s.runs)),
    );
    const pieces = parts.flat().sort((a, b) => a.firstSeed - b.firstSeed);
    return mergeReports(pieces.map((p) => p.report));
  } catch (e) {
    // One worker failed: the others would run their slices to the end for nothing,
    // and the process would wait for them before it exits.
    pool.stopping = true;
    await Promise.all([...pool.workers].map((w) => w.terminate()));
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
