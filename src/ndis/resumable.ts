// Resumable routines: a work item's routine, or a control device's device-control, read
// or write routine, written as a generator function (`function*`) whose blocking waits
// are yielded, `yield NdisMSleep(100)` or `const set = yield NdisWaitEvent(e, 0)`.
//
// A plain routine's wait runs the rest of the machine nested on the host's stack, so a
// thread that starts during the wait (a halt) must return before the sleeper can go on:
// a halt that waits for the work item deadlocks in the model where Windows goes on
// (docs/model.md, "Blocking and busy waits"). A resumable routine is set aside at each
// yielded wait, its frame off the stack, and goes on as an event of its own when its
// time comes or its event is set, on whatever CPU the scheduler picks, while the halt
// waits above. Everything else about the routine is as for a plain one: its IRQL, its
// reference on the driver, the halt's and the unload's checks that it is still running.

import { type ContextKind, Irql } from '../kernel/kernel.ts';
import type { SimEvent } from '../sim/queue.ts';
import type { NDIS_EVENT } from './api/event.ts';
import type { MiniportBlock } from './block.ts';
import { type Frame, isAsyncIterator, isThenable, type Ndis } from './ndis.ts';
import type { NTSTATUS } from './types.ts';

/**
 * What a resumable routine returns: `function* (Context, Handle): ResumableRoutine`. A
 * yield gives back what the DDI returns, `true` or `false` for NdisWaitEvent. What it
 * yields is a wait's DDI call: NdisMSleep's VOID or NdisWaitEvent's BOOLEAN, so `yield
 * 'x'` or a yielded Promise does not compile (and is a driver exception at run time).
 * A helper it delegates to with `yield*` returns `ResumableRoutine<T>`, T its result.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: `yield NdisMSleep(…)` yields NdisMSleep's void
export type ResumableRoutine<TReturn = void> = Generator<boolean | void, TReturn, boolean>;

/**
 * What a resumable dispatch routine returns: `function* (DeviceObject, Irp):
 * ResumableDispatch`, its `return` the NTSTATUS the I/O manager gets.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: `yield NdisMSleep(…)` yields NdisMSleep's void
export type ResumableDispatch = Generator<boolean | void, NTSTATUS, boolean>;

/** A wait a resumable routine began with NdisMSleep or NdisWaitEvent and has yet to yield. */
export interface ResumableWait {
  readonly ddi: 'NdisMSleep' | 'NdisWaitEvent';
  /** When its time runs out, ns; infinite for NdisWaitEvent with MsToWait 0. */
  readonly wakeNs: number;
  /** The event NdisWaitEvent waits on; null for NdisMSleep. */
  readonly event: NDIS_EVENT | null;
}

/** Thrown into the driver's code when it goes on without yielding its wait. */
export class UnyieldedWaitError extends Error {
  constructor(wait: ResumableWait, what: string) {
    super(
      `${wait.ddi} in a resumable routine (a generator function) must be yielded before it ${what}: write \`yield ${wait.ddi}(…)\`, and the routine goes on when the wait ends; a plain function the routine calls cannot yield, so one that waits becomes a generator function too, called with \`yield* helper(…)\` (docs/model.md, "Resumable work-item routines")`,
    );
    this.name = 'UnyieldedWaitError';
  }
}

/**
 * Thrown into the run when a resumable routine yields or returns a generator instead of
 * delegating to it with `yield*`.
 */
export class YieldedGeneratorError extends Error {
  constructor(how: 'yielded' | 'returned') {
    super(
      how === 'yielded'
        ? 'a resumable routine yielded a generator: a helper that is itself a generator function is called with `yield* helper(…)`, so that its waits are the routine\'s; `yield helper(…)` would give the routine the generator back and never run the helper\'s body (docs/model.md, "Resumable work-item routines")'
        : 'a resumable routine returned a generator: a helper that is itself a generator function is called with `yield*`, `return yield* helper(…)`; returned as it is, the helper\'s body would never run (docs/model.md, "Resumable work-item routines")',
    );
    this.name = 'YieldedGeneratorError';
  }
}

/**
 * Thrown into the run when a resumable routine yields something that is not a wait: a
 * resumable routine yields only `NdisMSleep(…)` or `NdisWaitEvent(…)`, whose results are
 * VOID (undefined) and BOOLEAN. A yielded Promise (an `await` written as `yield`) or any
 * other value would be ignored, its routine going on at once as if it had waited.
 */
export class YieldedValueError extends Error {
  constructor(value: unknown) {
    super(
      `a resumable routine yielded ${yieldedText(value)}: it yields only its waits, \`yield NdisMSleep(…)\` or \`yield NdisWaitEvent(…)\`, and the model cannot wait for anything else${isThenable(value) ? '; a Promise belongs to no simulated thread, so driver code cannot wait for one (handlers must be synchronous)' : ''} (docs/model.md, "Resumable work-item routines")`,
    );
    this.name = 'YieldedValueError';
  }
}

function yieldedText(v: unknown): string {
  if (isThenable(v)) return 'a Promise';
  if (v === null) return 'null';
  if (typeof v === 'object') return `an object (${Object.prototype.toString.call(v)})`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'bigint') return `the bigint ${String(v)}n`;
  return `the ${typeof v} ${JSON.stringify(v) ?? String(v)}`;
}

/**
 * An error the model finds after the routine's code has returned or yielded: it has no
 * frame of the driver's to point at, so the report names none (src/report/stack.ts).
 */
function modelSide(e: Error): Error {
  e.stack = `${e.name}: ${e.message}`;
  return e;
}

const Resume = 0;

/**
 * True for what a generator function returns. Not for an async generator's (`async
 * function*`), whose results come as Promises: Ndis.leave reports it as it reports an
 * async handler's Promise (NdisSim_CallbackReturnValue).
 */
export function isResumable(r: unknown): r is Generator<unknown, unknown, boolean> {
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof (r as Iterator<unknown>).next === 'function' &&
    typeof (r as Iterator<unknown>).throw === 'function' &&
    !isAsyncIterator(r)
  );
}

/** One resumable routine under way, from its first step to its return. */
export class ResumableThread {
  /** Its number in the run, from 1: the trace ties each of its waits to its wake by it. */
  readonly id: number;
  /** The frame stack's depth while the routine's own code runs (its frame on top). */
  depth = 0;
  /** The wait it is set aside in, or null while it runs. */
  wait: ResumableWait | null = null;
  /** Since when (ns) it waits. */
  sinceNs = 0;
  /** The event that resumes it: its wake-up time, or the setting of its event. */
  private ev: SimEvent | null = null;
  /** What the wait returns when it resumes (NdisWaitEvent: set or not). */
  private result = false;

  constructor(
    private readonly ndis: Ndis,
    private readonly gen: Generator<unknown, unknown, boolean>,
    private readonly frame: Frame,
    /** The callback's name for reports (NdisIoWorkItemFunction, WorkItemEx, DispatchRead, …). */
    readonly fn: string,
    readonly adapter: MiniportBlock | null,
    /** Who the thread runs for (the kernel context's name), its kind, and who the routine is. */
    private readonly threadWho: string,
    private readonly kind: ContextKind,
    readonly who: string,
    /**
     * Once the routine has returned, with what it returned: leaves its frame (Ndis.leave)
     * and does its caller's bookkeeping (a work item's references, a dispatch routine's checks).
     */
    private readonly finish: (value: unknown) => void,
    /**
     * Asked as the routine wakes: true (reported) when its code is gone, its driver
     * unloaded beneath it; the routine is then dropped, not run.
     */
    private readonly gone: (() => boolean) | null = null,
  ) {
    this.id = ++ndis.resumableCount;
  }

  /** Runs the routine until it waits or returns; `value` is what its last yield gets. */
  step(value: unknown): void {
    // Typed, so that the never of driverThrew ends the path for the compiler.
    const n: Ndis = this.ndis;
    for (;;) {
      const outer = n.resumableRunning;
      n.resumableRunning = this;
      this.depth = n.frameDepth;
      let r: IteratorResult<unknown, unknown>;
      try {
        r = this.gen.next(value as boolean);
      } catch (e) {
        n.resumablePending = null;
        n.resumableRunning = outer;
        n.driverThrew(e, this.fn, this.adapter);
      }
      n.resumableRunning = outer;
      const w = n.resumablePending;
      n.resumablePending = null;
      // An iterator whose next() gave a Promise (an async generator's): its `done` would
      // never be read as true, and the routine would be stepped for good (T1).
      if (isThenable(r)) {
        this.asyncRoutine();
        return;
      }
      if (r.done) {
        if (w !== null) n.driverThrew(modelSide(new UnyieldedWaitError(w, 'returns')), this.fn, this.adapter);
        if (isResumable(r.value))
          n.driverThrew(modelSide(new YieldedGeneratorError('returned')), this.fn, this.adapter);
        n.resumables.splice(n.resumables.indexOf(this), 1);
        this.finish(r.value);
        return;
      }
      // A yield with no wait begun (an event already set: NdisWaitEvent returned TRUE at
      // once) goes on at once with what it yielded.
      // `yield helper()` where `yield* helper()` was meant: the helper's body would never run.
      if (isResumable(r.value))
        n.driverThrew(modelSide(new YieldedGeneratorError('yielded')), this.fn, this.adapter);
      // Only a wait's result may be yielded: VOID or a BOOLEAN (`yield 'x'`, a yielded
      // Promise: the routine would go on at once as if it had waited).
      if (r.value !== undefined && typeof r.value !== 'boolean')
        n.driverThrew(modelSide(new YieldedValueError(r.value)), this.fn, this.adapter);
      if (w === null) {
        value = r.value;
        continue;
      }
      this.park(w);
      return;
    }
  }

  /**
   * NdisSim_CallbackReturnValue: the routine's next() gave a Promise (an iterator of the
   * driver's own making; an `async function*` is caught before it runs, by isResumable). The routine is dropped as if it had
   * returned (collect mode goes on), its frame left and its caller's bookkeeping done.
   */
  private asyncRoutine(): void {
    const n = this.ndis;
    n.resumables.splice(n.resumables.indexOf(this), 1);
    n.verifier.report(
      'NdisSim_CallbackReturnValue',
      this.fn,
      this.adapter?.name ?? null,
      `${this.describe()} returned an iterator whose next() returns a Promise — handlers must be synchronous: the model cannot step it, since its results come after the run has gone on (write a generator function, \`function*\`, that yields its waits: docs/model.md, "Resumable work-item routines")`,
    );
    this.finish(undefined);
  }

  /** Sets the routine aside in wait `w`: its frame leaves the stack, its thread the CPU. */
  private park(w: ResumableWait): void {
    const n = this.ndis;
    n.detachFrame(this.frame);
    this.wait = w;
    this.sinceNs = n.now;
    this.result = false;
    if (w.event !== null) w.event._waiters.push({ wakeNs: w.wakeNs, setAtNs: -1, slot: -1, thread: this });
    if (w.wakeNs !== Number.POSITIVE_INFINITY) this.ev = n.kernel.machine.at(w.wakeNs, this, Resume, null);
  }

  /** NdisSetEvent set the event it waits on: it goes on now, its wait TRUE. */
  eventSet(): void {
    if (this.ev !== null) this.ev.cancelled = true;
    this.result = true;
    this.ev = this.ndis.kernel.machine.after(0, this, Resume, null);
  }

  /** Its time is up or its event was set: the routine goes on, on a CPU of the scheduler's choice. */
  fire(_op: number, _arg: unknown): void {
    const n = this.ndis;
    const w = this.wait!;
    this.ev = null;
    this.wait = null;
    if (w.event !== null) {
      const ws = w.event._waiters;
      for (let i = 0; i < ws.length; i++)
        if (ws[i]!.thread === this) {
          ws.splice(i, 1);
          break;
        }
    }
    if (this.gone?.()) {
      n.resumables.splice(n.resumables.indexOf(this), 1);
      return;
    }
    const k = n.kernel;
    const c = k.enter(k.pickCpu(), Irql.Passive, this.threadWho, this.kind);
    try {
      n.attachFrame(this.frame);
      c.irql = Irql.Passive;
      c.who = this.who;
      const result = w.ddi === 'NdisWaitEvent' ? this.result : undefined;
      if (n.trace.on)
        n.trace.add(
          k.now,
          c.cpu,
          c.irql,
          c.who,
          'wake',
          w.ddi,
          result === undefined
            ? { thread: this.id, routine: this.describe() }
            : { result, thread: this.id, routine: this.describe() },
        );
      this.step(result);
    } finally {
      k.exit(c);
    }
  }

  /** "NdisIoWorkItemFunction of link-watch (nic0)": the routine, its driver and its adapter. */
  describe(): string {
    return `${this.fn} of ${this.who}${this.adapter === null ? '' : ` (${this.adapter.name})`}`;
  }
}
