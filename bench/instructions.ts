// npm run bench:instructions — the figures of `npm run bench` that matter most, as
// instruction counts (valgrind's callgrind), which do not move with the machine's
// load the way wall-clock rates do. Node runs --single-threaded so that V8's
// background compiler adds nothing. Each workload runs in one process: a warm-up,
// then the measured runs between two calls that callgrind watches for (os.hostname
// zeroes its counters, os.uptime dumps them), so neither node's start-up nor the
// JIT's warm-up is counted. Node also runs --predictable, which takes the timing-driven
// choices out of V8's collector: without it, collections landed by the wall clock,
// and one build's counts differed by 2 % (by a fifth with CI running beside it). Each
// figure is the median of three counts, against a recompile in the measured runs.
// The lifecycle and bare-loop counts also simulate the caches, for the
// instruction-cache misses that make the wall-clock ratio trail the instruction
// ratio. Needs valgrind; takes about twelve minutes, best on a machine doing nothing else.
//
// Run as a child of itself: `node dist/bench/instructions.js <workload> <warm-up> <n>`.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../src/scenario/schema.ts';
import { bareLoop, lifecycle, loadResetStorm, resetStorm } from './workloads.ts';

type Workload = 'lifecycle' | 'lifecycle-verifier-off' | 'reset-storm' | 'bare-event';

/** The reset-storm example, read when first needed. */
let storm: Scenario | null = null;
function stormScenario(): Scenario {
  storm ??= loadResetStorm();
  return storm;
}

/**
 * Runs `n` units in batches: a hundred lifecycles or storms, or a hundred bare runs of
 * 30 events. The batch function is then optimized during the warm-up like any other;
 * one long loop would be compiled on the stack (OSR) in the middle of the measured
 * runs, and a compile there costs tens of millions of instructions.
 */
function runWorkload(w: Workload, from: number, n: number): void {
  const size = w === 'bare-event' ? 3000 : 100;
  for (let done = 0; done < n; done += size) runBatch(w, from + done, Math.min(size, n - done));
}

function runBatch(w: Workload, from: number, n: number): void {
  if (w === 'bare-event') {
    // In lifecycle-sized runs, as `npm run bench` does, so the JIT treats it alike.
    for (let left = n; left > 0; left -= 30) bareLoop(Math.min(30, left));
    return;
  }
  if (w === 'reset-storm') {
    const s = stormScenario();
    for (let i = 0; i < n; i++) resetStorm(s, from + i);
    return;
  }
  for (let i = 0; i < n; i++) lifecycle(from + i, w === 'lifecycle' ? 'bugcheck' : 'off');
}

/** What callgrind counted, per unit of work. */
interface Counts {
  instructions: number;
  /** Misses in the first-level instruction cache of callgrind's model (0 unless `cache`). */
  icacheMisses: number;
}

/**
 * Counts per unit of `w` after `warm` units of warm-up, over `n` units. With `cache`,
 * callgrind also simulates the caches (its default model of this machine's: a
 * first-level instruction cache of 32 KB), which makes the run about a third slower.
 */
async function perUnit(w: Workload, warm: number, n: number, cache: boolean): Promise<Counts> {
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-callgrind-'));
  try {
    const child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        `--cache-sim=${cache ? 'yes' : 'no'}`,
        `--callgrind-out-file=${join(dir, 'out')}`,
        '--zero-before=node::os::GetHostname*',
        '--dump-before=node::os::GetUptime*',
        process.execPath,
        '--single-threaded',
        // No timing-driven choices in the collector or the compiler: the same build
        // then gives the same count within 0.05 %. Without it, two runs of one build
        // differed by 2 %.
        '--predictable',
        self,
        w,
        String(warm),
        String(n),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', () => resolve());
    });
    // The dump taken at os.uptime is the second file (`out.1`); `out` holds the rest.
    const dumps = readdirSync(dir).filter((f) => f !== 'out');
    if (dumps.length !== 1) throw new Error(`callgrind left ${dumps.length} dumps for ${w}:\n${stderr}`);
    const text = readFileSync(join(dir, dumps[0]!), 'utf8');
    const names = /^events: (.+)$/m.exec(text);
    const totals = /^totals: (.+)$/m.exec(text);
    if (names === null || totals === null) throw new Error(`callgrind's dump for ${w} has no totals`);
    const fields = names[1]!.trim().split(/\s+/);
    const values = totals[1]!.trim().split(/\s+/).map(Number);
    const count = (name: string): number => {
      const i = fields.indexOf(name);
      return i < 0 ? 0 : values[i]! / n;
    };
    return { instructions: count('Ir'), icacheMisses: count('I1mr') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Job {
  w: Workload;
  warm: number;
  n: number;
  cache: boolean;
}

/**
 * Runs the jobs one after another, saying on stderr as each one ends; results in job
 * order. Not side by side: two callgrind runs of the same bare loop at once counted 464
 * and 1,548 instructions an event, as the one that ran slower by the clock got
 * collections or compilations that V8 times by the clock even with --predictable.
 */
async function runAll(jobs: readonly Job[]): Promise<Counts[]> {
  const out: Counts[] = [];
  const t0 = performance.now();
  for (const [i, j] of jobs.entries()) {
    out.push(await perUnit(j.w, j.warm, j.n, j.cache));
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    process.stderr.write(`  counted ${j.w} (${i + 1} of ${jobs.length}, ${s} s)\n`);
  }
  return out;
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
  void measure();
}

/** Counts every workload and prints the figures. */
async function measure(): Promise<void> {
  let events = 0;
  for (let i = 0; i < 2000; i++) events += lifecycle(1_000_000 + i, 'bugcheck');
  events /= 2000;
  let stormEvents = 0;
  for (let i = 0; i < 500; i++) stormEvents += resetStorm(stormScenario(), 1_000_000 + i).events;
  stormEvents /= 500;
  // The median of three counts, in case a recompilation falls in the measured runs of
  // one: a warm-up of 10,000 lifecycles leaves about one in the next 20,000 (a rare
  // ordering of PnP IRPs that reaches code the JIT has not seen yet).
  const kinds: Job[] = [
    { w: 'lifecycle', warm: 10_000, n: 5000, cache: true },
    { w: 'lifecycle-verifier-off', warm: 10_000, n: 5000, cache: false },
    { w: 'reset-storm', warm: 3000, n: 1000, cache: false },
    { w: 'bare-event', warm: 99_000, n: 99_000, cache: true },
  ];
  process.stderr.write(`bench:instructions: ${kinds.length * 3} callgrind runs, one at a time\n`);
  const counts = await runAll(kinds.flatMap((k) => [k, k, k]));
  const median = (k: number): Counts => {
    const three = counts.slice(3 * k, 3 * k + 3).sort((a, b) => a.instructions - b.instructions);
    return three[1]!;
  };
  const on = median(0);
  const off = median(1);
  const stormRun = median(2);
  const bare = median(3);
  const perEvent = on.instructions / events;
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  console.log('ndis-sim bench:instructions (callgrind, node --single-threaded, warm JIT)');
  console.log('');
  console.log(
    `  instructions per full lifecycle          ${fmt(on.instructions)}   (${events.toFixed(1)} events)`,
  );
  console.log(`  the same with the verifier off           ${fmt(off.instructions)}`);
  console.log(
    `  verifier cost                            ${((100 * (on.instructions - off.instructions)) / off.instructions).toFixed(1)} %`,
  );
  console.log(
    `  instructions per reset-storm run         ${fmt(stormRun.instructions)}   (${stormEvents.toFixed(1)} events, ${fmt(stormRun.instructions / stormEvents)} an event)`,
  );
  console.log(`  instructions per event, simulation       ${fmt(perEvent)}   (lifecycle)`);
  console.log(`  instructions per event, bare queue loop  ${fmt(bare.instructions)}`);
  console.log(
    `  ratio bare / simulation per event        ${(bare.instructions / perEvent).toFixed(3)}   (by instructions; the 0.2 target is for the wall-clock ratio of npm run bench)`,
  );
  // The wall-clock ratio is about half the instruction ratio: the bare loop's code
  // stays in the first-level instruction cache, a lifecycle's does not.
  console.log(
    `  L1 instruction-cache misses per event    ${(on.icacheMisses / events).toFixed(1)} simulation, ${bare.icacheMisses.toFixed(2)} bare loop`,
  );
  console.log(
    `    per 1,000 instructions                 ${((1000 * on.icacheMisses) / on.instructions).toFixed(1)} simulation, ${((1000 * bare.icacheMisses) / bare.instructions).toFixed(2)} bare loop`,
  );
}
