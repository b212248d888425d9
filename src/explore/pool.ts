// The explorer on several cores: consecutive slices of the seeds run in worker
// threads, and their reports merge into the one a single thread gives (mergeReports),
// so the result does not depend on how many workers ran it.

import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { InputError, InternalError } from '../errors.ts';
import { type ExploreReport, mergeReports, type StrategySpec } from './explore.ts';

/** What a worker needs to run its slice: texts and file names, nothing that cannot be copied. */
export interface SliceJob {
  /**
   * Two Int32 slots the worker writes (Atomics): the runs done in its slice, after each
   * run, and 1 once it begins its seeds. The command's thread reads them to tell a
   * worker at work from one stuck in a seed.
   */
  readonly beat?: SharedArrayBuffer;
  readonly file: string;
  readonly text: string;
  readonly driverFiles: readonly string[];
  readonly untilNs: number;
  readonly verifier: 'bugcheck' | 'collect';
  readonly strategy?: StrategySpec;
  readonly firstSeed: number;
  readonly runs: number;
}

export type WorkerMessage =
  | { kind: 'progress'; done: number; failed: number }
  | { kind: 'done'; done: number; report: ExploreReport }
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

/**
 * A seed that ran longer than the wall-clock limit in a worker thread: a driver
 * callback that never returns (a loop with no DDI call in it, which nothing in the
 * simulation can interrupt). Outside the simulation: what the seeds gave is unchanged.
 */
export class SeedTimeout extends Error {
  constructor(
    readonly seed: number,
    readonly limitMs: number,
  ) {
    super(
      `seed ${seed} did not return within ${limitMs / 1000} s of wall-clock time (a driver callback that never returns?); ` +
        `the exploration stopped there. See it with run --seed ${seed}, which hangs the same way`,
    );
    this.name = 'SeedTimeout';
  }
}

/** How often the command's thread looks at the workers' beats, at most. */
const watchEveryMs = 1000;

function runSlice(
  job: SliceJob,
  progress: (done: number, failed: number) => void,
  started: (w: Worker) => void,
  seedLimitMs: number,
): Promise<ExploreReport> {
  return new Promise((resolve, reject) => {
    const beat = new SharedArrayBuffer(8);
    const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: { ...job, beat } });
    started(w);
    // The seed running now, and since when (wall clock, outside the simulation). The
    // clock starts once the worker has loaded its modules and begun its seeds (slot 1):
    // a worker starting on a busy machine is not a seed that never returns.
    const beats = new Int32Array(beat);
    let last = 0;
    let since = performance.now();
    const watch = setInterval(
      () => {
        const now = performance.now();
        const done = Atomics.load(beats, 0);
        if (Atomics.load(beats, 1) === 0 || done !== last) {
          last = done;
          since = now;
        } else if (now - since > seedLimitMs)
          settle(() => reject(new SeedTimeout(job.firstSeed + done, seedLimitMs)));
      },
      Math.min(watchEveryMs, Math.max(10, seedLimitMs / 4)),
    );
    watch.unref();
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      f();
      void w.terminate();
    };
    w.on('message', (m: WorkerMessage) => {
      switch (m.kind) {
        case 'progress':
          progress(m.done, m.failed);
          return;
        case 'done':
          progress(m.done, m.report.failed);
          settle(() => resolve(m.report));
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
  });
}

/**
 * Runs `runs` seeds from `firstSeed` in `jobs` worker threads; `progress` gets the
 * runs done and the failures found in all of them so far. A worker whose seed runs
 * past `seedLimitMs` of wall-clock time is stopped, the others with it, and the
 * promise rejects with a SeedTimeout naming the seed.
 */
export async function exploreInWorkers(
  job: Omit<SliceJob, 'firstSeed' | 'runs' | 'beat'>,
  firstSeed: number,
  runs: number,
  jobs: number,
  progress: ((done: number, failed: number) => void) | undefined,
  /** A seed running longer than this in a worker ends the exploration (SeedTimeout). */
  seedLimitMs: number,
): Promise<ExploreReport> {
  let done = 0;
  const failedBy = new Map<number, number>();
  const workers: Worker[] = [];
  const parts = slices(firstSeed, runs, jobs).map((s, i) =>
    runSlice(
      { ...job, ...s },
      (d, f) => {
        done += d;
        failedBy.set(i, f);
        let failed = 0;
        for (const v of failedBy.values()) failed += v;
        progress?.(done, failed);
      },
      (w) => workers.push(w),
      seedLimitMs,
    ),
  );
  try {
    return mergeReports(await Promise.all(parts));
  } catch (e) {
    // One worker failed: the others would run their slices to the end for nothing,
    // and the process would wait for them before it exits.
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
}
