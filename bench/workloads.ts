// The workloads the benchmarks share: one full adapter lifecycle, a run of the
// reset-storm example, and the bare event-queue loop that is the ceiling they are
// measured against.

import { readFileSync } from 'node:fs';
import { builtinDrivers } from '../src/drivers/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import type { Scenario } from '../src/scenario/schema.ts';
import { ns } from '../src/sim/limits.ts';
import { EventQueue, type EventTarget } from '../src/sim/queue.ts';
import { type RunResult, World } from '../src/world.ts';
import { lifecycleNic } from './lifecycle-driver.ts';

/**
 * Start device → init → restart → protocol bound → NdisMRemoveMiniport → teardown →
 * Code 43, trace recording off. Returns the number of events it ran.
 */
export function lifecycle(seed: number, verifier: 'bugcheck' | 'off'): number {
  const w = new World({ seed, trace: false, recordDecisions: false, verifier });
  w.addDriver(lifecycleNic);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'lifecycle-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  if (w.device('nic0').problem !== 43) throw new Error(`lifecycle did not end at Code 43 (${r.verdict})`);
  return r.events;
}

/**
 * examples/reset-storm.yaml, read from the working directory: the benchmarks run from
 * the project's root, as bench/ (tsx) or dist/bench/ (compiled).
 */
export function loadResetStorm(): Scenario {
  const file = 'examples/reset-storm.yaml';
  return parseScenarioText(
    readFileSync(file, 'utf8'),
    file,
    builtinDrivers.map((d) => d.name),
  );
}

/** One run of the reset storm to its end (`npm start` without the trace). */
export function resetStorm(storm: Scenario, seed: number): RunResult {
  return buildWorld(storm, { seed, trace: false }).run(untilNs(storm));
}

/** `events` events through a fresh queue that does nothing else; returns `events`. */
export function bareLoop(events: number): number {
  const q = new EventQueue();
  let fired = 0;
  const target: EventTarget = {
    fire(): void {
      fired++;
    },
  };
  // Keep a few events in flight, like the simulation does.
  for (let i = 0; i < 8; i++) q.schedule(i, target, 0, null);
  let t = 8;
  while (fired < events) {
    const ev = q.pop()!;
    ev.target.fire(ev.op, ev.arg);
    q.schedule(t++, target, 0, null);
  }
  return events;
}
