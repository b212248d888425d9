// npm run bench: throughput of the simulation on one core. Benchmarks, not tests:
// they print figures; nothing here fails on a slow machine.

import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { builtinDrivers } from '../src/drivers/index.ts';
import { type RunSetup, runOnce } from '../src/explore/explore.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { ns } from '../src/sim/limits.ts';
import { World } from '../src/world.ts';
import { lifecycleNic } from './lifecycle-driver.ts';
import { bareLoop, lifecycle, loadResetStorm, resetStorm } from './workloads.ts';

const measureMs = Number(process.env.BENCH_MS ?? 2000);

/** True while `rate` measures (not during its warm-up): side counters count only then. */
let measuring = false;

/** Runs `fn` repeatedly for about `ms`; returns iterations per second and what fn accumulated. */
function rate(ms: number, fn: () => number): { perSec: number; iterations: number; total: number } {
  // Warm-up.
  const warmEnd = performance.now() + Math.min(500, ms / 4);
  while (performance.now() < warmEnd) fn();
  measuring = true;
  let n = 0;
  let total = 0;
  const start = performance.now();
  let now = start;
  // Batches that double up to 64 runs while a batch takes under a millisecond, so the
  // clock is read rarely for fast runs and a slow run does not overshoot `ms` by 64×.
  let batch = 1;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) total += fn();
    n += batch;
    const t = performance.now();
    if (batch < 64 && t - now < 1) batch *= 2;
    now = t;
  }
  measuring = false;
  return { perSec: (n * 1000) / (now - start), iterations: n, total };
}

/**
 * Wall time and garbage-collection time of `fn`, added to `into`. A finished world
 * that outlives young collections shows here first: the lifecycle slices once spent
 * 70 % of their time collecting (docs/decisions.md, "No closure is stored").
 */
function timed<T>(into: { wallMs: number; gcMs: number }, fn: () => T): T {
  const p = new v8.GCProfiler();
  p.start();
  const t0 = performance.now();
  const r = fn();
  into.wallMs += performance.now() - t0;
  for (const s of p.stop().statistics) into.gcMs += s.cost / 1000;
  return r;
}
const lifecycleGc = { wallMs: 0, gcMs: 0 };
const hubGc = { wallMs: 0, gcMs: 0 };

let seed = 1;

const storm = loadResetStorm();

let stormVirtualNs = 0;
function resetStormRun(): number {
  const r = resetStorm(storm, seed++);
  if (measuring) stormVirtualNs += r.endNs;
  return r.events;
}

const driverNames = builtinDrivers.map((d) => d.name);

// vmini: two adapters on the hub, the protocol sending 20,000 frames a second on each.
const hub = parseScenarioText(
  `until: 1s
protocols: [{ name: tcpip, traffic: { rate: 20000, frameBytes: 512 } }]
devices:
  - { name: vm0, driver: vmini, hardware: none }
  - { name: vm1, driver: vmini, hardware: none }
`,
  'bench: vmini hub',
  driverNames,
);

let hubFrames = 0;
let hubVirtualNs = 0;
function vminiHub(): number {
  const w = buildWorld(hub, { seed: seed++, trace: false });
  const r = w.run(untilNs(hub));
  if (measuring) {
    for (const a of w.summary().adapters) hubFrames += a.data.indicated;
    hubVirtualNs += r.endNs;
  }
  return r.events;
}

// A lifecycle with traffic: start, bind, 2,000 frames a second each way, and vm1's
// hub port fails after 100 frames: NdisMRemoveMiniport, teardown, Code 43.
const vminiLife = parseScenarioText(
  `until: 200ms
protocols: [{ name: tcpip, traffic: { rate: 2000, frameBytes: 512, returnDelay: 1ms } }]
devices:
  - { name: vm0, driver: vmini, hardware: none }
  - { name: vm1, driver: vmini, hardware: none, registry: { FailAfterFrames: 100 } }
`,
  'bench: vmini lifecycle',
  driverNames,
);

function vminiLifecycle(): number {
  const w = buildWorld(vminiLife, { seed: seed++, trace: false });
  const r = w.run(untilNs(vminiLife));
  if (w.device('vm1').problem !== 43)
    throw new Error(`vmini lifecycle did not end at Code 43 (${r.verdict})`);
  return r.events;
}

/** One machine with `n` adapters, each through a whole lifecycle; returns wall µs per adapter. */
function perAdapter(n: number): number {
  const w = new World({ seed: seed++, trace: false, recordDecisions: false });
  w.addDriver(lifecycleNic);
  w.addProtocol('tcpip');
  for (let i = 0; i < n; i++) {
    w.addDevice({ name: `nic${i}`, driver: 'lifecycle-nic' });
    w.at(0, { kind: 'start', device: `nic${i}` });
  }
  const t0 = performance.now();
  w.run(10 * ns.s);
  const us = ((performance.now() - t0) * 1000) / n;
  if (w.device(`nic${n - 1}`).problem !== 43)
    throw new Error(`${n} adapters: the last did not end at Code 43`);
  return us;
}

function gcShare(t: { wallMs: number; gcMs: number }): string {
  return `${((100 * t.gcMs) / t.wallMs).toFixed(1)} %`;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

// Verifier on, verifier off and the bare loop in alternating slices, so that drift of
// the machine (another process, the CPU's clock) falls on all three alike.
let probeEvents = 0;
for (let i = 0; i < 256; i++) probeEvents += lifecycle(seed++, 'bugcheck');
const bareEventsPerRun = Math.round(probeEvents / 256);
const slices = 8;
// One round unmeasured first. After the probe's 256 lifecycles the JIT is still at
// work: the first measured slice ran at a seventh of the speed of the others (20 k
// against 145 k lifecycles a second), which took about a tenth off the lifecycle
// figure and showed as a verifier cost of 12 % (by instructions it is 0.2 %).
rate(measureMs / slices, () => lifecycle(seed++, 'bugcheck'));
rate(measureMs / slices, () => lifecycle(seed++, 'off'));
rate(measureMs / slices, () => bareLoop(bareEventsPerRun));
let onIter = 0;
let onSec = 0;
let onEvents = 0;
let offIter = 0;
let offSec = 0;
let bareSec = 0;
let bareEvents = 0;
for (let i = 0; i < slices; i++) {
  const on = timed(lifecycleGc, () => rate(measureMs / slices, () => lifecycle(seed++, 'bugcheck')));
  onIter += on.iterations;
  onSec += on.iterations / on.perSec;
  onEvents += on.total;
  const off = rate(measureMs / slices, () => lifecycle(seed++, 'off'));
  offIter += off.iterations;
  offSec += off.iterations / off.perSec;
  const bare = rate(measureMs / slices, () => bareLoop(bareEventsPerRun));
  bareSec += bare.iterations / bare.perSec;
  bareEvents += bare.total;
}
const lc = { perSec: onIter / onSec, iterations: onIter, total: onEvents };
const lcOff = { perSec: offIter / offSec };
const eventsPerLifecycle = lc.total / lc.iterations;
const simEventsPerSec = lc.perSec * eventsPerLifecycle;
const bareEventsPerSec = bareEvents / bareSec;
stormVirtualNs = 0;
const st = rate(measureMs, resetStormRun);
const virtualPerWall = (stormVirtualNs / ns.s / st.iterations) * st.perSec;
// The explorer's hot loop: the same runs, each judged against the scenario's expect:.
const stormSetup: RunSetup = { scenario: storm, drivers: [], untilNs: untilNs(storm), verifier: 'bugcheck' };
let judgedFailures = 0;
const ex = rate(measureMs, () => {
  const r = runOnce(stormSetup, seed++);
  if (r.outcome.kind !== 'pass') judgedFailures++;
  return r.result.events;
});
if (judgedFailures > 0) throw new Error(`explore bench: ${judgedFailures} reset-storm runs failed`);
// vmini's steady traffic against the bare loop, alternating too.
let hubSec = 0;
let hubEvents = 0;
let bareHubSec = 0;
let bareHubEvents = 0;
const hubEventsPerRun = vminiHub();
for (let i = 0; i < slices / 2; i++) {
  const h = timed(hubGc, () => rate((2 * measureMs) / slices, vminiHub));
  hubSec += h.iterations / h.perSec;
  hubEvents += h.total;
  const b = rate((2 * measureMs) / slices, () => bareLoop(hubEventsPerRun));
  bareHubSec += b.iterations / b.perSec;
  bareHubEvents += b.total;
}
const hubWallSec = hubSec;
const hubEventsPerSec = hubEvents / hubSec;
const bareHubEventsPerSec = bareHubEvents / bareHubSec;
const vl = rate(measureMs, vminiLifecycle);

console.log(
  `ndis-sim bench (node ${process.version}, one core, ${measureMs} ms per figure, trace recording off)`,
);
console.log('');
console.log(`  full lifecycles per second            ${fmt(lc.perSec)}   (target >= 50,000)`);
console.log(`    events per lifecycle                ${eventsPerLifecycle.toFixed(1)}`);
console.log(`  reset-storm runs per second           ${fmt(st.perSec)}`);
console.log(`  virtual seconds per wall second       ${fmt(virtualPerWall)}   (reset storm)`);
console.log(
  `  explorer runs per second              ${fmt(ex.perSec)}   (reset storm, each judged by its expect:)`,
);
console.log(`  simulation events per second          ${fmt(simEventsPerSec)}`);
console.log(`  bare event-queue events per second    ${fmt(bareEventsPerSec)}`);
console.log(
  `  ratio simulation / bare loop          ${(simEventsPerSec / bareEventsPerSec).toFixed(3)}   (target >= 0.2)`,
);
console.log(`  lifecycles per second, verifier off   ${fmt(lcOff.perSec)}`);
console.log(
  `  verifier cost                         ${(100 * (1 - lc.perSec / lcOff.perSec)).toFixed(1)} %   (target <= 30 %)`,
);
console.log(`  time in garbage collection            ${gcShare(lifecycleGc)}   (lifecycles, verifier on)`);
console.log('');
console.log('  vmini (two adapters on the hub, 20,000 frames/s sent on each, 1 virtual second a run)');
console.log(`    frames through the hub per wall second      ${fmt(hubFrames / hubWallSec)}`);
console.log(`    frames through the hub per virtual second   ${fmt(hubFrames / (hubVirtualNs / ns.s))}`);
console.log(
  `    virtual seconds per wall second             ${(hubVirtualNs / ns.s / hubWallSec).toFixed(2)}`,
);
console.log(`    simulation events per second                ${fmt(hubEventsPerSec)}`);
console.log(
  `    ratio simulation / bare loop                ${(hubEventsPerSec / bareHubEventsPerSec).toFixed(3)}   (steady traffic, no setup)`,
);
console.log(`    time in garbage collection                  ${gcShare(hubGc)}`);
console.log(`  vmini lifecycles with traffic per second      ${fmt(vl.perSec)}`);
console.log(`    events per lifecycle                        ${(vl.total / vl.iterations).toFixed(1)}`);
console.log('');
console.log('  cost per adapter, one machine with N adapters, each through a whole lifecycle');
for (const n of [10, 100, 1000, 10_000]) {
  perAdapter(n); // warm-up
  const runs = Math.max(1, Math.round(2000 / n));
  let us = 0;
  for (let i = 0; i < runs; i++) us += perAdapter(n);
  console.log(`    ${fmt(n).padStart(6)} adapters   ${(us / runs).toFixed(1)} µs per adapter`);
}
