// The explorer on several cores: consecutive slices of the seeds run in worker
// threads, and their reports merge into the one a single thread gives (mergeReports),
// so the result does not depend on how many workers ran it.

import { Worker } from 'node:worker_threads';
import { InputError, InternalError } from '../errors.ts';
import { type ExploreReport, mergeReports, type StrategySpec } from './explore.ts';

/** What a worker needs to run its slice: texts and file names, nothing that cannot be copied. */
export interface SliceJob {
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

function runSlice(
  job: SliceJob,
  progress: (done: number, failed: number) => void,
  started: (w: Worker) => void,
): Promise<ExploreReport> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: job });
    started(w);
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
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
 * runs done and the failures found in all of them so far.
 */
export async function exploreInWorkers(
  job: Omit<SliceJob, 'firstSeed' | 'runs'>,
  firstSeed: number,
  runs: number,
  jobs: number,
  progress?: (done: number, failed: number) => void,
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
