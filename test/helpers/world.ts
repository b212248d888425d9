// Building small worlds for tests.

import { type DriverModule, OID_GEN_STATISTICS } from '../../src/index.ts';
import { ns } from '../../src/sim/limits.ts';
import type { TraceEvent } from '../../src/trace/trace.ts';
import { type DeviceSpec, World, type WorldAction, type WorldOptions } from '../../src/world.ts';

export interface TestWorldSpec {
  seed?: number;
  drivers: DriverModule[];
  devices: DeviceSpec[];
  protocols?: string[];
  actions?: { atNs: number; action: WorldAction }[];
  options?: Partial<WorldOptions>;
  /** Start every device at time 0 (default true). */
  autostart?: boolean;
}

export function testWorld(spec: TestWorldSpec): World {
  const w = new World({ seed: spec.seed ?? 1, ...spec.options });
  for (const d of spec.drivers) w.addDriver(d);
  for (const p of spec.protocols ?? ['tcpip']) w.addProtocol(p);
  for (const d of spec.devices) {
    w.addDevice(d);
    if (spec.autostart ?? true) w.at(0, { kind: 'start', device: d.name });
  }
  for (const a of spec.actions ?? []) w.at(a.atNs, a.action);
  return w;
}

/** Index of the first trace event matching, or -1. */
export function findEvent(events: readonly TraceEvent[], p: (e: TraceEvent) => boolean, from = 0): number {
  for (let i = from; i < events.length; i++) if (p(events[i]!)) return i;
  return -1;
}

/** Indices of trace events matching each predicate, in order; throws naming the first missing one. */
export function inOrder(
  events: readonly TraceEvent[],
  steps: [string, (e: TraceEvent) => boolean][],
): number[] {
  const at: number[] = [];
  let from = 0;
  for (const [label, p] of steps) {
    const i = findEvent(events, p, from);
    if (i < 0) throw new Error(`trace: "${label}" not found after event ${from}`);
    at.push(i);
    from = i + 1;
  }
  return at;
}

export const is =
  (kind: TraceEvent['kind'], what: string | RegExp) =>
  (e: TraceEvent): boolean =>
    e.kind === kind && (typeof what === 'string' ? e.what === what : what.test(e.what));

/** An IRP's completion record. */
export const irpDone =
  (minor: string) =>
  (e: TraceEvent): boolean =>
    e.kind === 'irp' && e.what === minor && e.data?.phase === 'completed';

/** A scenario action: NDIS queries OID_GEN_STATISTICS of `device`, no time-out. */
export function statisticsQuery(device: string): WorldAction {
  return { kind: 'oid', device, oid: OID_GEN_STATISTICS, set: false, value: null, timeoutS: 0 };
}

export { ns };
