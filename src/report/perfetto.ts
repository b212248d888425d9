// Chrome trace events for Perfetto (ui.perfetto.dev) and chrome://tracing: the trace
// as a JSON object { traceEvents, displayTimeUnit, metadata } in the Trace Event
// Format. Built after the run from the recorded trace; nothing here runs in the
// simulation.
//
// The layout:
// - one process "ndis-sim machine" with a track (thread) per CPU: the callbacks NDIS
//   made on that CPU as slices, the DDIs the driver called from them as slices of
//   no length inside them, a blocking wait (NdisMSleep, NdisWaitEvent) as a slice
//   from the call to the wake-up; a "scenario" track for the scenario's actions;
//   an "NDIS" track for NDIS's steps that concern no adapter;
// - one process per adapter (or device): its state machine as slices from one state
//   to the next ("Initializing", "Running", ...) with NDIS's steps, live dumps and
//   event-log entries inside them; its PnP IRPs as slices from sent to completed,
//   with the device's changes; each binding's and filter module's states; the
//   simulated hardware's events;
// - violations and bug checks as global instant events named after the rule, and
//   as slices of no length where they happened on their CPU.
//
// Only B and E events make slices, never X: Perfetto keeps the file order of
// events with the same timestamp unless the file has an X event, and in a virtual
// machine whole callbacks take no time, so the file order is the nesting order.
// A point in time is a B and an E at the same timestamp rather than an instant
// (ph i): Perfetto stacks instants of one timestamp on top of each other, and
// would show a DDI called after a callback returned as that callback's child.
//
// Timestamps are microseconds, the trace's integer nanoseconds divided by 1000: a
// double that keeps every nanosecond (Perfetto multiplies back and rounds). Each
// track's events are in trace order, so every B has its E after it and the
// timestamps never decrease; slices still open when the run ended (a bug check
// stops the machine inside a callback) are closed at the run's last timestamp.

import type { TraceEvent } from '../trace/trace.ts';
import { type BugCheckParam, formatBugCheck } from '../verifier/bugcheck.ts';
import { fmtIrql } from './format.ts';

/** One event of the Chrome Trace Event Format, as ndis-sim writes them. */
export interface ChromeTraceEvent {
  name: string;
  cat?: string;
  ph: 'B' | 'E' | 'i' | 'M';
  /** Microseconds; absent on metadata events. */
  ts?: number;
  pid: number;
  tid?: number;
  /** Scope of an instant event: g(lobal). */
  s?: 'g';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ns';
  metadata: Record<string, unknown>;
}

export interface PerfettoOptions {
  /** Virtual time the run ended (ns): state slices last until then. Default: the last event's time. */
  endNs?: number;
  /** Trace events dropped before the first one given (Trace.dropped). */
  dropped?: number;
  /** More fields for the file's metadata (scenario, seed, verdict). */
  metadata?: Record<string, unknown>;
}

/** The pid of the machine's process. */
export const machinePid = 1;

interface Slice {
  name: string;
  cat: string;
}

interface Track {
  pid: number;
  tid: number;
  name: string;
  sort: number;
  open: Slice[];
}

interface Proc {
  pid: number;
  name: string;
  tracks: Map<string, Track>;
}

/** Ticks of the µs clock: exact for any integer ns below 2^53. */
const us = (ns: number): number => ns / 1000;

/** "Paused → Restarting": the state entered. */
export function stateEntered(what: string): string {
  const i = what.lastIndexOf('→');
  return i < 0 ? what : what.slice(i + 1).trim();
}

/** Slices whose end says the run stopped first, by category. */
const unfinishedNote: Readonly<Record<string, string>> = {
  callback: 'the run ended before it returned',
  wait: 'the run ended before the thread woke',
  irp: 'the run ended before it was completed',
};

class Builder {
  readonly events: ChromeTraceEvent[] = [];
  /** For each of `events`, the index of the trace event it came from (the HTML report's links). */
  readonly sources: number[] = [];
  /** The index of the trace event being read. */
  src = -1;
  readonly procs: Proc[] = [];
  private readonly byKey = new Map<string, Proc>();
  private nextTid = 1;
  /** Blocking waits not yet woken, innermost last: waits nest (docs/model.md). */
  readonly waits: Track[] = [];
  unmatched = 0;

  proc(key: string, name: string): Proc {
    let p = this.byKey.get(key);
    if (p === undefined) {
      p = { pid: this.procs.length + 1, name, tracks: new Map() };
      this.procs.push(p);
      this.byKey.set(key, p);
    }
    return p;
  }

  track(p: Proc, key: string, name: string, sort: number): Track {
    let t = p.tracks.get(key);
    if (t === undefined) {
      t = { pid: p.pid, tid: this.nextTid++, name, sort, open: [] };
      p.tracks.set(key, t);
    }
    return t;
  }

  begin(t: Track, ns: number, name: string, cat: string, args: Record<string, unknown>): void {
    this.push({ name, cat, ph: 'B', ts: us(ns), pid: t.pid, tid: t.tid, args });
    t.open.push({ name, cat });
  }

  /** Ends the innermost open slice of `t`. */
  end(t: Track, ns: number, args?: Record<string, unknown>): void {
    const s = t.open.pop();
    if (s === undefined) return;
    const e: ChromeTraceEvent = { name: s.name, cat: s.cat, ph: 'E', ts: us(ns), pid: t.pid, tid: t.tid };
    if (args !== undefined && Object.keys(args).length > 0) e.args = args;
    this.push(e);
  }

  push(e: ChromeTraceEvent): void {
    this.events.push(e);
    this.sources.push(this.src);
  }

  /** Something at one point in time: a slice of no length. */
  point(t: Track, ns: number, name: string, cat: string, args: Record<string, unknown>): void {
    this.begin(t, ns, name, cat, args);
    this.end(t, ns);
  }

  /**
   * Ends the innermost open slice named `name` on `t`, and any left open inside it
   * (none in a trace that nests). False, and nothing ended, when none is open (its
   * begin was among the dropped events).
   */
  close(t: Track, ns: number, name: string, args?: Record<string, unknown>): boolean {
    let i = t.open.length - 1;
    while (i >= 0 && t.open[i]!.name !== name) i--;
    if (i < 0) {
      this.unmatched++;
      return false;
    }
    while (t.open.length > i + 1) this.end(t, ns, { unfinished: 'left open when its caller returned' });
    this.end(t, ns, args);
    return true;
  }

  /** Ends every open slice of every track, innermost first. */
  closeAll(ns: number): void {
    for (const p of this.procs)
      for (const t of p.tracks.values())
        while (t.open.length > 0) {
          const note = unfinishedNote[t.open[t.open.length - 1]!.cat];
          this.end(t, ns, note === undefined ? undefined : { unfinished: note });
        }
  }
}

/** The trace event's data, then where it happened: the args of its slice. */
function argsOf(e: TraceEvent, where: 'cpu' | 'elsewhere'): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  if (e.data !== undefined) for (const [k, v] of Object.entries(e.data)) a[k] = v;
  if (where === 'elsewhere') a.cpu = e.cpu;
  a.irql = fmtIrql(e.irql);
  a.actor = e.actor;
  return a;
}

/** The trace as Chrome trace events (see the comment at the top of this file). */
export function toChromeTrace(events: readonly TraceEvent[], o: PerfettoOptions = {}): ChromeTrace {
  return chromeTraceWithSources(events, o).trace;
}

/**
 * The Chrome trace, and for each of its events the index in `events` of the trace
 * event it came from: -1 for metadata, `events.length` for a slice's end that the
 * run's end closed.
 */
export function chromeTraceWithSources(
  events: readonly TraceEvent[],
  o: PerfettoOptions = {},
): { trace: ChromeTrace; sources: number[] } {
  const b = new Builder();
  const machine = b.proc('', 'ndis-sim machine');
  let cpus = 1;
  for (const e of events) if (e.cpu + 1 > cpus) cpus = e.cpu + 1;
  const cpu: Track[] = [];
  for (let i = 0; i < cpus; i++) cpu.push(b.track(machine, `cpu${i}`, `CPU ${i}`, i));
  const scenario = (): Track => b.track(machine, 'scenario', 'scenario', cpus);
  const ndisTrack = (): Track => b.track(machine, 'ndis', 'NDIS', cpus + 1);
  // The miniport driver of each adapter, for its process's name.
  const drivers = new Map<string, string>();
  for (const e of events)
    if (e.kind === 'call' && e.what.startsWith('Miniport') && typeof e.data?.adapter === 'string')
      if (!drivers.has(e.data.adapter)) drivers.set(e.data.adapter, e.actor);
  const adapter = (name: string): Proc => {
    const driver = drivers.get(name);
    return b.proc(`a:${name}`, driver === undefined ? name : `${name} (${driver})`);
  };
  // An adapter's (or device's) tracks, in this order.
  const stateTrack = (p: Proc): Track => b.track(p, 'state', 'state and NDIS steps', 0);
  const pnpTrack = (p: Proc): Track => b.track(p, 'pnp', 'PnP', 1);
  const hwTrack = (p: Proc): Track => b.track(p, 'hw', 'hardware', 1000);
  const nameOf = (v: unknown): string | null => (typeof v === 'string' ? v : null);

  /** A state machine's track: ends the state left, begins the one entered. */
  const transition = (t: Track, e: TraceEvent, cat: string): void => {
    if (t.open.length > 0) b.end(t, e.t);
    b.begin(t, e.t, stateEntered(e.what), cat, { transition: e.what, ...argsOf(e, 'elsewhere') });
  };

  // Resumable routines set aside in a wait: the name of the callback each left its CPU in.
  const setAside = new Map<unknown, string>();
  for (const e of events) {
    b.src++;
    const here = cpu[e.cpu]!;
    const d = e.data;
    switch (e.kind) {
      case 'call':
        b.begin(here, e.t, e.what, 'callback', argsOf(e, 'cpu'));
        break;
      case 'return':
        b.close(here, e.t, e.what, d?.result === undefined ? undefined : { result: d.result });
        break;
      case 'ddi':
        // A wait that blocks lasts until its wake-up; NdisWaitEvent on an event already
        // set returns at once, with its result.
        if (d?.thread !== undefined) {
          // A resumable routine's wait: it leaves the CPU, its callback's slice ends
          // here and begins again where it wakes.
          b.point(here, e.t, e.what, 'wait', argsOf(e, 'cpu'));
          const s = here.open[here.open.length - 1];
          if (s !== undefined) {
            setAside.set(d.thread, s.name);
            b.end(here, e.t, { setAside: e.what });
          }
        } else if (e.what === 'NdisMSleep' || (e.what === 'NdisWaitEvent' && d?.result === undefined)) {
          b.begin(here, e.t, e.what, 'wait', argsOf(e, 'cpu'));
          b.waits.push(here);
        } else b.point(here, e.t, e.what, 'ddi', argsOf(e, 'cpu'));
        break;
      case 'wake': {
        const name = d?.thread === undefined ? undefined : setAside.get(d.thread);
        if (name !== undefined) {
          setAside.delete(d!.thread);
          b.begin(here, e.t, name, 'callback', { resumedFrom: e.what, ...argsOf(e, 'cpu') });
          b.point(here, e.t, `${e.what} returns`, 'wait', argsOf(e, 'cpu'));
          break;
        }
        const t = b.waits.pop();
        const args: Record<string, unknown> = {};
        if (d?.lateNs !== undefined) args.lateNs = d.lateNs;
        if (d?.result !== undefined) args.result = d.result;
        if (t === undefined || !b.close(t, e.t, e.what, args))
          b.point(here, e.t, `${e.what} returns`, 'wait', argsOf(e, 'cpu'));
        break;
      }
      case 'violation':
      case 'bugcheck': {
        const name =
          e.kind === 'violation'
            ? e.what
            : `BUG CHECK ${formatBugCheck(Number(d?.code), (d?.params ?? []) as BugCheckParam[])}`;
        b.point(here, e.t, name, e.kind, argsOf(e, 'cpu'));
        b.push({
          name,
          cat: e.kind,
          ph: 'i',
          ts: us(e.t),
          pid: machine.pid,
          tid: here.tid,
          s: 'g',
          args: argsOf(e, 'elsewhere'),
        });
        break;
      }
      case 'state': {
        const a = nameOf(d?.adapter);
        if (a !== null) transition(stateTrack(adapter(a)), e, 'state');
        break;
      }
      case 'binding':
      case 'filter': {
        const a = nameOf(d?.adapter);
        if (a === null) break;
        const p = adapter(a);
        const sort = e.kind === 'binding' ? 2 : 3;
        transition(b.track(p, `${e.kind}:${e.actor}`, `${e.kind} ${e.actor}`, sort), e, e.kind);
        break;
      }
      case 'ndis':
      case 'dump':
      case 'eventlog': {
        const a = nameOf(d?.adapter);
        const t = a === null ? ndisTrack() : stateTrack(adapter(a));
        const name =
          e.kind === 'dump'
            ? `live dump ${e.what}`
            : e.kind === 'eventlog'
              ? `event log ${String(d?.ErrorCode ?? e.what)}`
              : e.what;
        b.point(t, e.t, name, e.kind, argsOf(e, 'elsewhere'));
        break;
      }
      case 'irp': {
        const dev = nameOf(d?.device);
        const t = dev === null ? ndisTrack() : pnpTrack(adapter(dev));
        if (d?.phase === 'sent') b.begin(t, e.t, e.what, 'irp', argsOf(e, 'elsewhere'));
        else {
          const args: Record<string, unknown> = {};
          if (d?.status !== undefined) args.status = d.status;
          if (d?.information !== undefined) args.information = d.information;
          if (!b.close(t, e.t, e.what, args))
            b.point(t, e.t, `${e.what} completed`, 'irp', argsOf(e, 'elsewhere'));
        }
        break;
      }
      case 'device': {
        const dev = nameOf(d?.device);
        b.point(
          dev === null ? ndisTrack() : pnpTrack(adapter(dev)),
          e.t,
          `device ${e.what}`,
          'device',
          argsOf(e, 'elsewhere'),
        );
        break;
      }
      case 'hw': {
        const dev = nameOf(d?.device);
        const t = dev === null ? b.track(machine, 'hw', 'hardware', cpus + 2) : hwTrack(adapter(dev));
        b.point(t, e.t, e.what, 'hw', argsOf(e, 'elsewhere'));
        break;
      }
      case 'action': {
        const dev = nameOf(d?.device);
        b.point(
          scenario(),
          e.t,
          dev === null ? e.what : `${e.what} ${dev}`,
          'action',
          argsOf(e, 'elsewhere'),
        );
        break;
      }
    }
  }
  const last = events.length === 0 ? 0 : events[events.length - 1]!.t;
  b.src = events.length;
  b.closeAll(Math.max(last, o.endNs ?? last));

  const meta: ChromeTraceEvent[] = [];
  for (const p of b.procs) {
    meta.push({ name: 'process_name', ph: 'M', pid: p.pid, args: { name: p.name } });
    meta.push({ name: 'process_sort_index', ph: 'M', pid: p.pid, args: { sort_index: p.pid } });
    for (const t of p.tracks.values()) {
      meta.push({ name: 'thread_name', ph: 'M', pid: p.pid, tid: t.tid, args: { name: t.name } });
      meta.push({ name: 'thread_sort_index', ph: 'M', pid: p.pid, tid: t.tid, args: { sort_index: t.sort } });
    }
  }
  const metadata: Record<string, unknown> = {
    source: 'ndis-sim',
    ...o.metadata,
    traceEvents: events.length,
    droppedTraceEvents: o.dropped ?? 0,
  };
  if (b.unmatched > 0) metadata.unmatchedEnds = b.unmatched;
  return {
    trace: { traceEvents: [...meta, ...b.events], displayTimeUnit: 'ns', metadata },
    sources: [...meta.map(() => -1), ...b.sources],
  };
}

/** The JSON text: one trace event a line, keys in a fixed order, so a run always gives the same bytes. */
export function formatChromeTrace(t: ChromeTrace): string {
  const lines = t.traceEvents.map((e) => JSON.stringify(e));
  return `{"traceEvents":[\n${lines.join(',\n')}\n],\n"displayTimeUnit":${JSON.stringify(t.displayTimeUnit)},\n"metadata":${JSON.stringify(t.metadata)}}\n`;
}

/** The trace as the JSON text of a Chrome trace for ui.perfetto.dev. */
export function toPerfettoJson(events: readonly TraceEvent[], o: PerfettoOptions = {}): string {
  return formatChromeTrace(toChromeTrace(events, o));
}
