// One worker of the explorer's pool (pool.ts): loads the scenario and the driver
// modules itself, runs its slice of seeds, and posts progress and its report.

import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { driverNames } from '../drivers/index.ts';
import { InputError } from '../errors.ts';
import { parseScenarioText } from '../scenario/load.ts';
import { loadDriverModules } from '../scenario/modules.ts';
import { exploreSeeds, type FailureGroup, type RunSetup, shrink } from './explore.ts';
import { beatLayout, type SliceJob, type WorkerMessage, wallMicros } from './pool.ts';
import { reduceGroup } from './reduce.ts';
import { type ShrinkJob, type ShrinkMessage, type ShrinkStart, shrinkBeatLayout } from './shrink-pool.ts';

const port = parentPort;
if (port === null) throw new Error('src/explore/worker.ts runs in a worker thread');
const post = (m: WorkerMessage | ShrinkMessage): void => port.postMessage(m);
/** A part of the slice's report goes to the command's thread at least this often. */
const partRuns = 256;
const partMs = 1000;

const data = workerData as SliceJob | ShrinkJob;
try {
  if ('kind' in data) await shrinkGroups(data);
  else await runSlice(data);
} catch (e) {
  post(
    e instanceof InputError
      ? { kind: 'input-error', problems: e.problems }
      : { kind: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) },
  );
}

/** The shrinking of the groups from `job.from` (shrink-pool.ts), each told when done. */
async function shrinkGroups(job: ShrinkJob): Promise<void> {
  const drivers = await loadDriverModules(job.driverFiles);
  const names = driverNames(drivers);
  const scenario = parseScenarioText(job.text, job.file, names);
  // Loaded: a spare waits here until told where to begin.
  const start = await new Promise<ShrinkStart>((r) => port!.once('message', r));
  const ints = new Int32Array(job.beat, 0, 3);
  const began = new BigInt64Array(job.beat, shrinkBeatLayout.beganAt, 1);
  for (let g = start.from; g < job.groups.length; g++) {
    if (start.leave.includes(g)) continue;
    Atomics.store(ints, shrinkBeatLayout.group, g);
    const skip = new Set(start.skip[g]);
    let candidates = 0;
    let pending = 0;
    const setup: RunSetup = {
      scenario,
      drivers,
      untilNs: job.untilNs,
      verifier: job.verifier,
      ...(job.strategy === undefined ? {} : { strategy: job.strategy }),
      candidate: () => {
        if (skip.has(++candidates)) return false;
        pending = candidates;
        return true;
      },
      onRun: () => {
        Atomics.store(ints, shrinkBeatLayout.candidate, pending);
        pending = 0;
        Atomics.store(began, 0, wallMicros());
        Atomics.add(ints, shrinkBeatLayout.runs, 1);
      },
    };
    const group: Pick<FailureGroup, 'seeds' | 'key' | 'shrunk' | 'reduced'> = {
      seeds: [job.groups[g]!.seed],
      key: job.groups[g]!.key,
      shrunk: null,
      reduced: null,
    };
    const shrunk = shrink(setup, job.groups[g]!.seed, job.maxRuns);
    group.shrunk = shrunk;
    // The decisions shrunk: kept should a run of the scenario's step that is no candidate be stopped.
    post({ kind: 'group', group: g, partial: true, result: { shrunk, reduced: null } });
    if (job.reduce)
      reduceGroup(setup, group, { text: job.text, file: job.file, driverNames: names }, job.maxRuns);
    const r = group.reduced;
    post({
      kind: 'group',
      group: g,
      partial: false,
      result: {
        shrunk: group.shrunk!,
        reduced:
          r === null
            ? null
            : { text: r.text, untilNs: r.untilNs, removed: r.removed, lowered: r.lowered, runs: r.runs },
      },
    });
  }
  post({ kind: 'done' });
}

/** A slice of the seeds (pool.ts). */
async function runSlice(job: SliceJob): Promise<void> {
  const drivers = await loadDriverModules(job.driverFiles);
  const scenario = parseScenarioText(job.text, job.file, driverNames(drivers));
  const setup = {
    scenario,
    drivers,
    untilNs: job.untilNs,
    verifier: job.verifier,
    ...(job.strategy === undefined ? {} : { strategy: job.strategy }),
  };
  // Beats for the command's thread (pool.ts, beatLayout): the runs done, the time the
  // seed now running began, and its request to stop.
  const beat = job.beat ?? new SharedArrayBuffer(beatLayout.bytes);
  const ints = new Int32Array(beat, 0, 4);
  const began = new BigInt64Array(beat, beatLayout.beganAt, 1);
  const stopAsked = (): boolean => Atomics.load(ints, beatLayout.stop) === 1;
  Atomics.store(began, 0, wallMicros());
  Atomics.store(ints, beatLayout.started, 1);
  let done = 0;
  while (done < job.runs && !stopAsked()) {
    // A part at most every second (or partRuns runs): the progress the command shows,
    // and what a stuck seed's slice keeps.
    const first = job.firstSeed + done;
    const t0 = performance.now();
    const report = exploreSeeds(
      setup,
      first,
      Math.min(partRuns, job.runs - done),
      (d) => {
        Atomics.store(began, 0, wallMicros());
        Atomics.store(ints, beatLayout.done, done + d);
      },
      () => stopAsked() || performance.now() - t0 >= partMs,
    );
    done += report.runs;
    post({ kind: 'part', firstSeed: first, report });
  }
  post({ kind: 'done' });
}
