// The trace: small typed records, formatted only by sinks (src/report).
// Recording is optional; callers test `trace.on` before building a record so that
// a run with recording off builds nothing (docs/decisions.md, "The verifier and the trace").

import { limits } from '../sim/limits.ts';

export type TraceKind =
  /** NDIS (or the kernel) calls into a driver callback. */
  | 'call'
  /** A driver callback returned. */
  | 'return'
  /** A driver called a DDI; `data.result` holds what it returned. */
  | 'ddi'
  /** A thread blocked in NdisMSleep or NdisWaitEvent resumes (`what`: the DDI); `data.lateNs`: how late, when the model held it up; `data.result`: NdisWaitEvent's return. */
  | 'wake'
  /** An adapter changed operational state (R1.1). */
  | 'state'
  /** NDIS did something on its own (a step of an operation). */
  | 'ndis'
  /** The PnP manager sent or completed an IRP. */
  | 'irp'
  /** A device node changed (started, problem code). */
  | 'device'
  /** A protocol binding event (R7.1). */
  | 'binding'
  /** A filter module changed state (R7.5). */
  | 'filter'
  /** Simulated hardware. */
  | 'hw'
  /** A live kernel dump was written (not a crash). */
  | 'dump'
  /** An entry was written to the system event log. */
  | 'eventlog'
  /** A scenario action fired. */
  | 'action'
  /** The verifier recorded a violation (collect mode) or raised a bug check. */
  | 'violation'
  | 'bugcheck';

export interface TraceEvent {
  /** Virtual time, ns. */
  t: number;
  cpu: number;
  irql: number;
  actor: string;
  kind: TraceKind;
  what: string;
  data?: Record<string, unknown>;
}

/**
 * The events of a run, at most `max` of them: when full, the oldest quarter goes, so
 * the last events (those before a bug check) are always there. Positions count the
 * dropped events too: position p is `events[p - dropped]`.
 */
export class Trace {
  /** Read-only to a project (T11 of the stop-36 review): only add() appends to it. */
  readonly events: readonly TraceEvent[] = [];
  /** The oldest events, dropped to stay within `max`. */
  dropped = 0;
  constructor(
    public on: boolean,
    readonly max: number = limits.traceEventsMax,
  ) {}

  /** The position the next event gets. */
  get position(): number {
    return this.dropped + this.events.length;
  }

  /** @internal The model records an event (left out of the package's declarations). */
  add(
    t: number,
    cpu: number,
    irql: number,
    actor: string,
    kind: TraceKind,
    what: string,
    data?: Record<string, unknown>,
  ): void {
    if (this.events.length >= this.max) {
      const n = Math.max(1, this.max >> 2);
      (this.events as TraceEvent[]).splice(0, n);
      this.dropped += n;
    }
    const ev: TraceEvent = { t, cpu, irql, actor, kind, what };
    if (data !== undefined) ev.data = data;
    (this.events as TraceEvent[]).push(ev);
  }
}
