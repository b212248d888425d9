// One worker of the explorer's pool (pool.ts): loads the scenario and the driver
// modules itself, runs its slice of seeds, and posts progress and its report.

import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { driverNames } from '../drivers/index.ts';
import { InputError } from '../errors.ts';
import { parseScenarioText } from '../scenario/load.ts';
import { loadDriverModules } from '../scenario/modules.ts';
import { exploreSeeds } from './explore.ts';
import { beatLayout, type SliceJob, type WorkerMessage, wallMicros } from './pool.ts';

const port = parentPort;
if (port === null) throw new Error('src/explore/worker.ts runs in a worker thread');
const job = workerData as SliceJob;
const post = (m: WorkerMessage): void => port.postMessage(m);
/** A part of the slice's report goes to the command's thread at least this often. */
const partRuns = 256;
const partMs = 1000;

try {
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
} catch (e) {
  post(
    e instanceof InputError
      ? { kind: 'input-error', problems: e.problems }
      : { kind: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) },
  );
}
