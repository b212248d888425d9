// npm run bench:instructions — the figures of `npm run bench` that matter most, as
// instruction counts (valgrind's callgrind), which do not move with the machine's
// load the way wall-clock rates do (the JIT and the collector still move them ~10 %). Node runs --single-threaded so that V8's
// background compiler adds nothing. Each figure is (count(2N) − count(N)) / N, which
// takes node's start-up and the JIT's warm-up out. Needs valgrind; takes minutes.
//
// Run as a child of itself: `node dist/bench/instructions.js <workload> <n>` runs one
// workload n times; without arguments it measures all of them.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bareLoop, lifecycle } from './workloads.ts';

type Workload = 'lifecycle' | 'lifecycle-verifier-off' | 'bare-event';

function runWorkload(w: Workload, n: number): void {
  if (w === 'bare-event') {
    // In lifecycle-sized runs, as `npm run bench` does, so the JIT treats it alike.
    for (let left = n; left > 0; left -= 30) bareLoop(Math.min(30, left));
    return;
  }
  for (let i = 0; i < n; i++) lifecycle(i + 1, w === 'lifecycle' ? 'bugcheck' : 'off');
}

function count(w: Workload, n: number): number {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--callgrind-out-file=/dev/null',
      process.execPath,
      '--single-threaded',
      self,
      w,
      String(n),
    ],
    { encoding: 'utf8' },
  );
  if (r.error !== undefined) throw r.error;
  const m = /Collected : (\d+)/.exec(r.stderr);
  if (m === null) throw new Error(`callgrind printed no count for ${w}:\n${r.stderr}`);
  return Number(m[1]);
}

/** Instructions per unit once the JIT has warmed up: the difference of two long runs. */
function perUnit(w: Workload, n: number): number {
  return (count(w, 2 * n) - count(w, n)) / n;
}

const [workload, times] = process.argv.slice(2);
if (workload !== undefined) {
  runWorkload(workload as Workload, Number(times));
} else if (spawnSync('valgrind', ['--version']).error !== undefined) {
  console.log('bench:instructions needs valgrind (Debian: apt install valgrind).');
  process.exitCode = 1;
} else {
  const events = lifecycle(1, 'bugcheck');
  const on = perUnit('lifecycle', 5000);
  const off = perUnit('lifecycle-verifier-off', 5000);
  const bareEvent = perUnit('bare-event', 300_000);
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  console.log('ndis-sim bench:instructions (callgrind, node --single-threaded)');
  console.log('');
  console.log(`  instructions per full lifecycle          ${fmt(on)}   (${events} events)`);
  console.log(`  the same with the verifier off           ${fmt(off)}`);
  console.log(`  verifier cost                            ${((100 * (on - off)) / off).toFixed(1)} %`);
  console.log(`  instructions per event, simulation       ${fmt(on / events)}`);
  console.log(`  instructions per event, bare queue loop  ${fmt(bareEvent)}`);
  console.log(
    `  ratio bare / simulation per event        ${(bareEvent / (on / events)).toFixed(3)}   (by instructions; the 0.2 target is for the wall-clock ratio of npm run bench)`,
  );
}
