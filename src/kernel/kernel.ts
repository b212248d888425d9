// The simulated processors: IRQL per running context, per-CPU DPC queues, system
// worker threads, timers and interrupt dispatch (docs/decisions.md, "Time and concurrency").
//
// Exactly one context runs at any moment (events run to completion). A context is
// what Windows would call the code running on one CPU at one IRQL: a worker thread
// at PASSIVE, a DPC at DISPATCH, an ISR at DIRQL. Contexts nest only when a
// blocking wait lets other events run (Machine.waitUntil).

import { assert, DriverOutsideRunError, InternalError } from '../errors.ts';
import { type ChoiceAbout, ChoiceSite } from '../sim/choice.ts';
import type { Machine } from '../sim/machine.ts';
import type { EventTarget, SimEvent } from '../sim/queue.ts';

export const Irql = { Passive: 0, Apc: 1, Dispatch: 2, Dirql: 3, High: 4 } as const;
export type Irql = (typeof Irql)[keyof typeof Irql];
export const irqlNames: readonly string[] = ['PASSIVE', 'APC', 'DISPATCH', 'DIRQL', 'HIGH'];

export type ContextKind = 'thread' | 'worker' | 'dpc' | 'isr' | 'setup';

/** A spin lock as the kernel sees it: who holds it and the IRQL to go back to. */
export interface LockState {
  owner: Context | null;
  savedIrql: number;
  /** Taken with the raising acquire (NdisAcquireSpinLock), not the Dpr one. */
  raised: boolean;
  /** The driver whose code acquired it (Context.who then), for R8.11's message. */
  by?: string;
  /** How messages name it: "spin lock #2 (allocated by flaky-nic in MiniportInitializeEx (nic0))". */
  name?: string;
  /**
   * R8.11: a lock acquired before this one was released while this one was held, and its
   * release lowered the IRQL under this one: what happened, for the report that follows.
   */
  outOfOrder?: string;
}

export class Context {
  /** Spin locks held by this context, in acquisition order. */
  readonly held: LockState[] = [];
  /** Time this context spent spinning at DISPATCH or above (the DPC watchdog's count). */
  raisedNs = 0;
  /** Register and port accesses since it began or last waited (limits.accessesFreeMax). */
  accesses = 0;
  /** What each NDIS_RAISE_IRQL_TO_DISPATCH not yet lowered returned, innermost last. */
  readonly raises: number[] = [];
  constructor(
    public cpu: number,
    public irql: number,
    public who: string,
    public kind: ContextKind,
  ) {}

  /**
   * Takes `lock`, which is free: this context owns it, with the IRQL to go back to;
   * `raise` lifts the context to DISPATCH_LEVEL (a plain acquire, not a Dpr one).
   */
  take(lock: LockState, raise: boolean): void {
    lock.owner = this;
    lock.savedIrql = this.irql;
    lock.raised = raise;
    lock.by = this.who;
    lock.outOfOrder = undefined;
    if (raise) this.irql = Irql.Dispatch;
    this.held.push(lock);
  }

  /**
   * Lets `lock` go, which this context holds; the IRQL is the caller's to restore. Locks
   * are nearly always released last taken first: pop, and splice (which allocates its
   * result) only for an out-of-order release.
   */
  drop(lock: LockState): void {
    const held = this.held;
    if (held[held.length - 1] === lock) held.pop();
    else held.splice(held.lastIndexOf(lock), 1);
    lock.owner = null;
  }
}

/**
 * A routine may say what it is for the choice lines of a recorded log (ChoiceAbout):
 * `describe()` gives e.g. the driver function an NDIS timer object calls.
 */
interface Described {
  describe?(): string | undefined;
}
export interface DpcRoutine extends Described {
  runDpc(dpc: Dpc): void;
}
export interface WorkRoutine extends Described {
  runWork(item: WorkItem): void;
}
export interface TimerRoutine extends Described {
  /** Runs at DISPATCH in the timer's DPC. */
  runTimer(timer: KTimer): void;
}

/** `kind`, what its routine says it is, and whose it is: "timer HangTimer (team-nic)". */
function labelOf(kind: string, routine: Described, who: string): string {
  const what = routine.describe?.();
  return `${kind}${what === undefined ? '' : ` ${what}`} (${who})`;
}
export interface IsrRoutine {
  runIsr(intr: KInterrupt): void;
}

export class Dpc implements ChoiceAbout {
  /** The CPU whose queue holds it, or -1. */
  queuedOn = -1;
  constructor(
    readonly routine: DpcRoutine,
    public who: string,
    public arg: unknown = null,
  ) {}
  choiceLabel(): string {
    if (this.routine === timerDpcRoutine) return `DPC of ${(this.arg as KTimer).choiceLabel()}`;
    if (this.arg instanceof KInterrupt) return `DPC of ${this.arg.choiceLabel()}`;
    return labelOf('DPC', this.routine, this.who);
  }
}

export class WorkItem implements ChoiceAbout {
  queued = false;
  ev: SimEvent | null = null;
  constructor(
    readonly routine: WorkRoutine,
    public who: string,
    public arg: unknown = null,
  ) {}
  choiceLabel(): string {
    return labelOf('work item', this.routine, this.who);
  }
}

export class KTimer implements ChoiceAbout {
  ev: SimEvent | null = null;
  periodNs = 0;
  dueNs = 0;
  /** When its DPC last ran its routine, or -1 (World.hungTeardowns: a periodic timer that had its chance). */
  ranNs = -1;
  readonly dpc: Dpc;
  constructor(
    readonly routine: TimerRoutine,
    public who: string,
    /** Coalescable timers (check-for-hang, R4.2) fire with some slack. */
    public coalescable = false,
    /**
     * A coalescable timer's tolerance, ns (NdisSetCoalescableTimerObject): each
     * expiry falls within this much either side of its due time. 0: the
     * check-for-hang slack instead.
     */
    public toleranceNs = 0,
  ) {
    this.dpc = new Dpc(timerDpcRoutine, who, this);
  }
  get queued(): boolean {
    return this.ev !== null;
  }
  choiceLabel(): string {
    return labelOf('timer', this.routine, this.who);
  }
}

const timerDpcRoutine: DpcRoutine = {
  runDpc(dpc: Dpc): void {
    const t = dpc.arg as KTimer;
    t.routine.runTimer(t);
  },
};

export class KInterrupt implements ChoiceAbout {
  connected = true;
  pendingEv: SimEvent | null = null;
  readonly dpc: Dpc;
  constructor(
    readonly routine: IsrRoutine,
    public who: string,
    dpcRoutine: DpcRoutine,
  ) {
    this.dpc = new Dpc(dpcRoutine, who, this);
  }
  choiceLabel(): string {
    return `interrupt (${this.who})`;
  }
}

class Cpu {
  readonly dpcs: Dpc[] = [];
  drainScheduled = false;
  constructor(readonly id: number) {}
}

const Op = { DpcDrain: 0, Work: 1, TimerExpiry: 2, Interrupt: 3 } as const;

/** Latencies drawn through the choice door: a count of steps of a fixed size. */
export const latency = {
  dpcStepNs: 1_000,
  dpcSteps: 4,
  workerStepNs: 10_000,
  workerSteps: 8,
  interruptNs: 500,
  timerSlackStepNs: 1_000_000,
  timerSlackSteps: 4,
} as const;

/**
 * A DDI called while its world is not running (Kernel.running false): after World.run
 * returned, from a Promise continuation (`.then`, the code after an `await`) or a
 * setTimeout of driver code, or from a test between two runs. Driver code runs only in
 * the callbacks NDIS makes during World.run; its DDIs are called from them, synchronously
 * (docs/decisions.md, "DDIs only while a world runs").
 */
export function notRunning(ddi: string): never {
  throw new DriverOutsideRunError(
    `${ddi} was called while no ndis-sim world is running, outside any callback: from a Promise continuation (.then, the code after an await) or a setTimeout that ran after World.run returned? Driver code runs only in the callbacks NDIS makes during World.run, and calls DDIs from them synchronously; a test calls a DDI between runs inside world.call(() => …)`,
  );
}

export class Kernel implements EventTarget {
  /**
   * Whether this kernel's world is running (World.run on the stack, set with the running
   * world in api/common.ts setCurrentNdis). The DDIs check it (notRunning).
   */
  running = false;
  readonly cpus: Cpu[] = [];
  /** The running context. Between events it is the idle setup context of CPU 0. */
  ctx: Context;
  // The contexts under the running one, and the pool of spare ones, each used up to a
  // count rather than by push and pop: both go between empty and one entry twice an
  // event, and on node 20 a push and pop at that size cost 3.6 ns and now and then a
  // new backing store, against 1.3 ns by index.
  private readonly stack: Context[] = [];
  private stackDepth = 0;
  private readonly free: Context[] = [];
  private freeCount = 0;

  constructor(
    readonly machine: Machine,
    cpuCount: number,
  ) {
    assert(cpuCount >= 1 && cpuCount <= 64, 'Kernel: cpu count', cpuCount);
    for (let i = 0; i < cpuCount; i++) this.cpus.push(new Cpu(i));
    this.ctx = new Context(0, Irql.Passive, 'setup', 'setup');
  }

  get now(): number {
    return this.machine.now;
  }

  get cpuCount(): number {
    return this.cpus.length;
  }

  /**
   * Begins running code on `cpu` at `irql`; pair with `exit`. Contexts are reused.
   * Below DISPATCH the CPU first runs the DPCs queued on it (runQueuedDpcs): a processor
   * drains its DPC queue before its IRQL drops below DISPATCH_LEVEL, so no thread runs
   * on a CPU while DPCs wait there (docs/model.md "DPCs before PASSIVE work").
   */
  enter(cpu: number, irql: number, who: string, kind: ContextKind): Context {
    if (irql < Irql.Dispatch && this.cpus[cpu]!.dpcs.length !== 0) this.runQueuedDpcs(cpu);
    let c: Context;
    if (this.freeCount === 0) c = new Context(cpu, irql, who, kind);
    else {
      c = this.free[--this.freeCount]!;
      c.cpu = cpu;
      c.irql = irql;
      c.who = who;
      c.kind = kind;
      c.raisedNs = 0;
      c.accesses = 0;
      // Setting an array's length calls into V8's runtime even when it is already
      // 0: unguarded, this line was 5 % of a lifecycle.
      if (c.raises.length !== 0) c.raises.length = 0;
    }
    this.stack[this.stackDepth++] = this.ctx;
    this.ctx = c;
    return c;
  }

  exit(c: Context): void {
    if (this.ctx !== c)
      throw new InternalError('Kernel.exit: not the running context', [c.who, this.ctx.who]);
    this.ctx = this.stack[--this.stackDepth]!;
    // A lock still held here was reported when its callback returned; let it go.
    if (c.held.length !== 0) {
      for (const s of c.held) if (s.owner === c) s.owner = null;
      c.held.length = 0;
    }
    this.free[this.freeCount++] = c;
  }

  /** Raises the running context's IRQL; returns the old one. */
  raise(irql: number): number {
    const old = this.ctx.irql;
    this.ctx.irql = irql;
    return old;
  }

  lower(irql: number): void {
    this.ctx.irql = irql;
  }

  /** `about`: what runs on the CPU, named in a recorded log (ChoiceAbout). */
  pickCpu(about?: ChoiceAbout): number {
    return this.machine.choose(ChoiceSite.Cpu, this.cpus.length, about);
  }

  // ------------------------------------------------------------------ DPCs

  /** KeInsertQueueDpc: false if the DPC is already queued. */
  queueDpc(dpc: Dpc, cpu: number): boolean {
    if (dpc.queuedOn !== -1) return false;
    const c = this.cpus[cpu]!;
    dpc.queuedOn = cpu;
    c.dpcs.push(dpc);
    if (!c.drainScheduled) {
      c.drainScheduled = true;
      const steps = this.machine.choose(ChoiceSite.DpcLatency, latency.dpcSteps, dpc);
      this.machine.after(steps * latency.dpcStepNs, this, Op.DpcDrain, c);
    }
    return true;
  }

  /**
   * Runs every DPC queued on `cpu` now, in queue order (those they queue there too), as
   * the processor does when its IRQL is about to drop below DISPATCH_LEVEL ("a DPC runs
   * at DISPATCH when the processor's IRQL drops below DISPATCH": the DPC objects page,
   * MiniportInterrupt's DPC). Kernel.enter calls it before PASSIVE work on `cpu`, and
   * resumeBelowDispatch for a thread that stalls (NdisStallExecution) or wakes. The CPU's
   * drain event, still queued, finds the queue empty or runs what came later.
   */
  runQueuedDpcs(cpu: number): void {
    const q = this.cpus[cpu]!.dpcs;
    // Only those queued now: a DPC that queues itself again on this CPU waits for its
    // drain event (its latency), so the clock moves. Windows would drain it too, and a
    // DPC that re-queues itself for ever starves the CPU; here the loop would never end.
    for (let n = q.length; n > 0; n--) {
      const dpc = q.shift();
      if (dpc === undefined) return;
      dpc.queuedOn = -1;
      this.runDpcOn(cpu, dpc);
    }
  }

  /**
   * The running context goes on below DISPATCH after a wait (NdisMSleep, NdisWaitEvent)
   * or before a stall: its CPU's queued DPCs run first (runQueuedDpcs).
   */
  resumeBelowDispatch(): void {
    const c = this.ctx;
    if (c.irql < Irql.Dispatch && this.cpus[c.cpu]!.dpcs.length !== 0 && this.machine.stopped === null)
      this.runQueuedDpcs(c.cpu);
  }

  /** KeRemoveQueueDpc. */
  dequeueDpc(dpc: Dpc): boolean {
    if (dpc.queuedOn === -1) return false;
    const q = this.cpus[dpc.queuedOn]!.dpcs;
    const i = q.indexOf(dpc);
    assert(i >= 0, 'dequeueDpc: not in its queue');
    q.splice(i, 1);
    dpc.queuedOn = -1;
    return true;
  }

  /**
   * Runs a queued DPC now, as its CPU would while the caller waits for it
   * (KeFlushQueuedDpcs as used by interrupt deregistration and periodic timer cancel).
   */
  flushDpc(dpc: Dpc): void {
    const cpu = dpc.queuedOn;
    if (cpu === -1) return;
    this.dequeueDpc(dpc);
    this.runDpcOn(cpu, dpc);
  }

  private runDpcOn(cpu: number, dpc: Dpc): void {
    if (dpc.routine === timerDpcRoutine) (dpc.arg as KTimer).ranNs = this.now;
    const c = this.enter(cpu, Irql.Dispatch, dpc.who, 'dpc');
    try {
      dpc.routine.runDpc(dpc);
    } finally {
      this.exit(c);
    }
  }

  // ------------------------------------------------------------ work items

  /** Queues `item` to a system worker thread (PASSIVE, some CPU, some latency). */
  queueWork(item: WorkItem): boolean {
    if (item.queued) return false;
    item.queued = true;
    const steps = 1 + this.machine.choose(ChoiceSite.WorkerLatency, latency.workerSteps, item);
    item.ev = this.machine.after(steps * latency.workerStepNs, this, Op.Work, item);
    return true;
  }

  /** Queues `item` without latency drawing: the next step of a running procedure. */
  queueWorkNow(item: WorkItem): boolean {
    if (item.queued) return false;
    item.queued = true;
    item.ev = this.machine.after(0, this, Op.Work, item);
    return true;
  }

  cancelWork(item: WorkItem): boolean {
    if (!item.queued || item.ev === null) return false;
    item.ev.cancelled = true;
    item.ev = null;
    item.queued = false;
    return true;
  }

  // ---------------------------------------------------------------- timers

  /** KeSetTimerEx: true if the timer was already queued (it is re-armed). */
  setTimer(t: KTimer, dueNs: number, periodNs: number): boolean {
    const was = this.cancelTimer(t);
    t.periodNs = periodNs;
    t.dueNs = dueNs < this.now ? this.now : dueNs;
    t.ev = this.machine.at(t.dueNs + this.slack(t), this, Op.TimerExpiry, t);
    return was;
  }

  /** KeCancelTimer: true if the timer was queued (that expiry will not happen). */
  cancelTimer(t: KTimer): boolean {
    if (t.ev === null) return false;
    t.ev.cancelled = true;
    t.ev = null;
    return true;
  }

  private slack(t: KTimer): number {
    if (!t.coalescable) return 0;
    if (t.toleranceNs === 0)
      return (
        this.machine.choose(ChoiceSite.TimerSlack, latency.timerSlackSteps, t) * latency.timerSlackStepNs
      );
    // On time, as early or as late as the tolerance allows: the edges are where a
    // driver that counted on the due time goes wrong. Never before now.
    const p = this.machine.choose(ChoiceSite.TimerSlack, 3, t);
    return p === 0 ? 0 : p === 1 ? Math.max(-t.toleranceNs, this.now - t.dueNs) : t.toleranceNs;
  }

  // ------------------------------------------------------------ interrupts

  /** A device asserts its interrupt line; the ISR runs shortly after on some CPU. */
  requestInterrupt(intr: KInterrupt): void {
    if (!intr.connected || intr.pendingEv !== null) return;
    intr.pendingEv = this.machine.after(latency.interruptNs, this, Op.Interrupt, intr);
  }

  disconnectInterrupt(intr: KInterrupt): void {
    intr.connected = false;
    if (intr.pendingEv !== null) {
      intr.pendingEv.cancelled = true;
      intr.pendingEv = null;
    }
  }

  /**
   * `ev` (one of this kernel's queued events) only repeats what already ran at or after
   * `sinceNs`: the next expiry of a periodic timer whose routine ran since then, or the
   * DPC drain of a CPU whose queued DPCs are all such timers' DPCs. Work it could do it
   * has had its chance to do (World.hungTeardowns); anything else may change the state.
   */
  repeatsOnly(ev: SimEvent, sinceNs: number): boolean {
    if (ev.target !== this) return false;
    const ranSince = (t: KTimer): boolean => t.periodNs > 0 && t.ranNs >= sinceNs;
    if (ev.op === Op.TimerExpiry) return ranSince(ev.arg as KTimer);
    if (ev.op === Op.DpcDrain)
      return (ev.arg as Cpu).dpcs.every((d) => d.routine === timerDpcRoutine && ranSince(d.arg as KTimer));
    return false;
  }

  // ---------------------------------------------------------------- events

  fire(op: number, arg: unknown): void {
    switch (op) {
      case Op.DpcDrain: {
        const cpu = arg as Cpu;
        const dpc = cpu.dpcs.shift();
        if (dpc === undefined) {
          cpu.drainScheduled = false;
          return;
        }
        dpc.queuedOn = -1;
        if (cpu.dpcs.length > 0) this.machine.after(0, this, Op.DpcDrain, cpu);
        else cpu.drainScheduled = false;
        this.runDpcOn(cpu.id, dpc);
        return;
      }
      case Op.Work: {
        const item = arg as WorkItem;
        item.queued = false;
        item.ev = null;
        const c = this.enter(this.pickCpu(item), Irql.Passive, item.who, 'worker');
        try {
          item.routine.runWork(item);
        } finally {
          this.exit(c);
        }
        return;
      }
      case Op.TimerExpiry: {
        const t = arg as KTimer;
        t.ev = null;
        if (t.periodNs > 0) {
          // A tolerant timer's next period counts from this expiry, so that two
          // expiries are a period apart give or take the tolerance.
          if (t.toleranceNs > 0) t.dueNs = this.now;
          t.dueNs += t.periodNs;
          if (t.dueNs < this.now) t.dueNs = this.now + t.periodNs;
          t.ev = this.machine.at(t.dueNs + this.slack(t), this, Op.TimerExpiry, t);
        }
        this.queueDpc(t.dpc, this.pickCpu(t.dpc));
        return;
      }
      case Op.Interrupt: {
        const intr = arg as KInterrupt;
        intr.pendingEv = null;
        if (!intr.connected) return;
        const cpu = this.pickCpu(intr);
        const c = this.enter(cpu, Irql.Dirql, intr.who, 'isr');
        try {
          intr.routine.runIsr(intr);
        } finally {
          this.exit(c);
        }
        return;
      }
    }
    assert(false, 'Kernel.fire: unknown op', op);
  }
}
