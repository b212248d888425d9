// npm run bench:instructions — the figures of `npm run bench` that matter most, as
// instruction counts (valgrind's callgrind), which do not move with the machine's
// load the way wall-clock rates do. Node runs --single-threaded so that V8's
// background compiler adds nothing. Each workload runs in one process: a warm-up,
// then the measured runs between two calls that callgrind watches for (os.hostname
// zeroes its counters, os.uptime dumps them), so neither node's start-up nor the
// JIT's warm-up is counted. Each figure is the median of three counts, which agree
// within about half a percent unless a collection falls in one. Run it on an idle
// machine: V8 schedules collections by allocation per wall-clock millisecond, so
// under load they land elsewhere (with CI running beside it, two of three lifecycle
// counts came out near 125 k instead of 87 k). Needs valgrind; takes about four minutes.
//
// Run as a child of itself: `node dist/bench/instructions.js <workload> <warm-up> <n>`.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bareLoop, lifecycle } from './workloads.ts';

type Workload = 'lifecycle' | 'lifecycle-verifier-off' | 'bare-event';

function runWorkload(w: Workload, from: number, n: number): void {
  if (w === 'bare-event') {
    // In lifecycle-sized runs, as `npm run bench` does, so the JIT treats it alike.
    for (let left = n; left > 0; left -= 30) bareLoop(Math.min(30, left));
    return;
  }
  for (let i = 0; i < n; i++) lifecycle(from + i, w === 'lifecycle' ? 'bugcheck' : 'off');
}

/** Instructions per unit of `w` after `warm` units of warm-up, over `n` units. */
function perUnit(w: Workload, warm: number, n: number): number {
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-callgrind-'));
  try {
    const r = spawnSync(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${join(dir, 'out')}`,
        '--zero-before=node::os::GetHostname*',
        '--dump-before=node::os::GetUptime*',
        process.execPath,
        '--single-threaded',
        self,
        w,
        String(warm),
        String(n),
      ],
      { encoding: 'utf8' },
    );
    if (r.error !== undefined) throw r.error;
    // The dump taken at os.uptime is the second file (`out.1`); `out` holds the rest.
    const dumps = readdirSync(dir).filter((f) => f !== 'out');
    if (dumps.length !== 1) throw new Error(`callgrind left ${dumps.length} dumps for ${w}:\n${r.stderr}`);
    const m = /^totals: (\d+)/m.exec(readFileSync(join(dir, dumps[0]!), 'utf8'));
    if (m === null) throw new Error(`callgrind's dump for ${w} has no totals`);
    return Number(m[1]) / n;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const [workload, warm, times] = process.argv.slice(2);
if (workload !== undefined) {
  runWorkload(workload as Workload, 1, Number(warm));
  hostname(); // callgrind zeroes its counters here
  runWorkload(workload as Workload, 1_000_000, Number(times));
  uptime(); // and dumps them here
} else if (spawnSync('valgrind', ['--version']).error !== undefined) {
  console.log('bench:instructions needs valgrind (Debian: apt install valgrind).');
  process.exitCode = 1;
} else {
  let events = 0;
  for (let i = 0; i < 2000; i++) events += lifecycle(1_000_000 + i, 'bugcheck');
  events /= 2000;
  // The median of three counts: now and then a collection or a recompilation falls
  // in the measured runs and adds a fifth or more to one count.
  const median = (w: Workload, warm: number, n: number): number => {
    const counts = [0, 1, 2].map(() => perUnit(w, warm, n)).sort((a, b) => a - b);
    return counts[1]!;
  };
  const on = median('lifecycle', 3000, 2000);
  const off = median('lifecycle-verifier-off', 3000, 2000);
  const bareEvent = median('bare-event', 100_000, 100_000);
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  console.log('ndis-sim bench:instructions (callgrind, node --single-threaded, warm JIT)');
  console.log('');
  console.log(`  instructions per full lifecycle          ${fmt(on)}   (${events.toFixed(1)} events)`);
  console.log(`  the same with the verifier off           ${fmt(off)}`);
  console.log(`  verifier cost                            ${((100 * (on - off)) / off).toFixed(1)} %`);
  console.log(`  instructions per event, simulation       ${fmt(on / events)}`);
  console.log(`  instructions per event, bare queue loop  ${fmt(bareEvent)}`);
  console.log(
    `  ratio bare / simulation per event        ${(bareEvent / (on / events)).toFixed(3)}   (by instructions; the 0.2 target is for the wall-clock ratio of npm run bench)`,
  );
}
