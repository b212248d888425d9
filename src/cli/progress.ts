// Progress of `ndis-sim explore` when stderr is not a terminal (a CI job's log): a
// plain line now and then, so a system that ends jobs without output for minutes sees
// it alive. Wall clock, outside the simulation: it changes nothing a seed gives.

/** How often a line comes, at most (wall-clock ms); NDIS_SIM_PROGRESS_EVERY_MS sets it (tests). */
export const plainProgressEveryMs = 10_000;

export interface PlainProgress {
  /** Seeds done of all, failures found so far: after each run, or a worker's part. */
  readonly tick: (done: number, failed: number) => void;
  /** The shrinking of failure `group` (from 0) of `groups` ran one more run. */
  readonly shrinkRun: (group: number, groups: number) => void;
  readonly stop: () => void;
}

/**
 * Writes `explore: 1,200/5,000 seeds, 3 failed, 41 s` (or, while failures are shrunk,
 * `explore: shrinking failure 1 of 2: 812 runs, 41 s`) at most every `everyMs`, the
 * first after `everyMs`: nothing for a run that ends sooner. It looks at the clock on
 * each tick (the command's thread may be busy running seeds) and on a timer (it may be
 * waiting for worker threads, one of them stuck in a seed).
 */
export function plainProgress(
  total: number,
  o: { everyMs: number; write: (line: string) => void; now?: () => number; timer?: boolean },
): PlainProgress {
  const now = o.now ?? (() => performance.now());
  const t0 = now();
  let last = t0;
  let line = (): string => `0/${fmt(total)} seeds, 0 failed`;
  const look = (): void => {
    const t = now();
    if (t - last < o.everyMs) return;
    last = t;
    o.write(`explore: ${line()}, ${Math.round((t - t0) / 1000)} s\n`);
  };
  const timer = o.timer === false ? undefined : setInterval(look, Math.max(10, o.everyMs / 4));
  timer?.unref();
  let shrinkRuns = 0;
  let shrinking = -1;
  return {
    tick: (done, failed) => {
      line = () => `${fmt(done)}/${fmt(total)} seeds, ${fmt(failed)} failed`;
      look();
    },
    shrinkRun: (group, groups) => {
      if (group !== shrinking) shrinkRuns = 0;
      shrinking = group;
      shrinkRuns++;
      const runs = shrinkRuns;
      line = () => `shrinking failure ${group + 1} of ${groups}: ${fmt(runs)} runs`;
      look();
    },
    stop: () => clearInterval(timer),
  };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
