// One worker of the explorer's pool (pool.ts): loads the scenario and the driver
// modules itself, runs its slice of seeds, and posts progress and its report.

import { parentPort, workerData } from 'node:worker_threads';
import { driverNames } from '../drivers/index.ts';
import { InputError } from '../errors.ts';
import { parseScenarioText } from '../scenario/load.ts';
import { loadDriverModules } from '../scenario/modules.ts';
import { exploreSeeds } from './explore.ts';
import type { SliceJob, WorkerMessage } from './pool.ts';

const port = parentPort;
if (port === null) throw new Error('src/explore/worker.ts runs in a worker thread');
const job = workerData as SliceJob;
const post = (m: WorkerMessage): void => port.postMessage(m);

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
  let reported = 0;
  const beat = job.beat === undefined ? null : new Int32Array(job.beat);
  if (beat !== null) Atomics.store(beat, 1, 1);
  const report = exploreSeeds(setup, job.firstSeed, job.runs, (done, failed) => {
    if (beat !== null) Atomics.store(beat, 0, done);
    if (done - reported >= 256) {
      post({ kind: 'progress', done: done - reported, failed });
      reported = done;
    }
  });
  post({ kind: 'done', done: job.runs - reported, report });
} catch (e) {
  post(
    e instanceof InputError
      ? { kind: 'input-error', problems: e.problems }
      : { kind: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) },
  );
}
