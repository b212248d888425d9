// The clock and the event loop. Time is an integer count of nanoseconds and only
// this loop advances it; every event runs to completion. When several events are
// ready at the same instant, the choice door decides which runs first.

import { InternalError, WorldStop } from '../errors.ts';
import { type ChoiceAbout, ChoiceSite, type Chooser } from './choice.ts';
import { limits } from './limits.ts';
import { EventQueue, type EventTarget, type SimEvent } from './queue.ts';

/**
 * Who decides which events still run while the system sleeps (the World). An object with
 * a method rather than a closure: a stored capturing closure keeps finished worlds alive
 * through young collections (docs/decisions.md, "No closure is stored").
 */
export interface SleepKeeper {
  keepsAsleep(ev: SimEvent): boolean;
}

export class Machine implements EventTarget {
  now = 0;
  readonly queue = new EventQueue();
  eventCount = 0;
  /** Events run at the instant `tickAt`, the clock standing still (a livelock bound). */
  private sinceTick = 0;
  private tickAt = 0;
  /** Set once the machine stops (bug check, livelock bound, end of scenario). */
  stopped: string | null = null;
  /** The end of the current run: a blocking wait does not go past it. */
  limitNs = Number.POSITIVE_INFINITY;
  /** The run ended while a thread was blocked in a wait. */
  endedInWait = false;
  /** Switched off (system shutdown, R1.6): a thread blocked in a wait never wakes. */
  poweredOff = false;
  private waitDepth = 0;
  /** Waits that began at the nesting bound and only moved the clock (for a model note). */
  waitsAtBound = 0;
  /** True when a wait now would hit the nesting bound and run nothing meanwhile. */
  get waitsFull(): boolean {
    return this.waitDepth >= limits.waitNestingMax;
  }
  /**
   * Events due at `readyAt`, off the heap, waiting for the choice among them:
   * `ready[0 .. readyCount)`, by count like the queue's heap (it empties often).
   */
  private readonly ready: SimEvent[] = [];
  private readyCount = 0;
  private readyAt = -1;
  /**
   * While the system sleeps (S3/S4, docs/model.md "System sleep and resume"): the events
   * taken off the queue until the wake, and which ones stay (`keeper`). Null when awake; the
   * event loop never looks at it, only `freeze`, `thaw` and a wait that ends in the sleep.
   */
  private frozen: { held: EventQueue; keeper: SleepKeeper; untilNs: number } | null = null;
  /** When the last sleep ended (`thaw`), or -1: a wait whose time ran out in it is due then. */
  thawedAtNs = -1;

  constructor(readonly chooser: Chooser) {
    chooser.clock = this;
  }

  /** `about`: the object the question is about, named in a recorded log (ChoiceAbout). */
  choose(site: ChoiceSite, count: number, about?: ChoiceAbout): number {
    return this.chooser.choose(site, count, about);
  }

  /**
   * True with probability num/den (0 <= num <= den, den >= 1), drawn through the choice
   * door as a question of as many answers as the fraction's lowest terms have (25 % asks
   * 4). The top num of them say yes, so answer 0 is always "no": the simplest schedule
   * (every answer 0) makes nothing happen that a chance decides.
   */
  chance(site: ChoiceSite, num: number, den: number): boolean {
    let a = num;
    let b = den;
    while (b !== 0) [a, b] = [b, a % b];
    const count = den / a;
    return this.chooser.choose(site, count) >= count - num / a;
  }

  /** Schedule `target.fire(op, arg)` `delayNs` after now. */
  after(delayNs: number, target: EventTarget, op: number, arg: unknown): SimEvent {
    return this.queue.schedule(this.now + delayNs, target, op, arg);
  }

  at(timeNs: number, target: EventTarget, op: number, arg: unknown): SimEvent {
    return this.queue.schedule(timeNs < this.now ? this.now : timeNs, target, op, arg);
  }

  /**
   * The next event to run at or before `limitNs`, chosen among equals; undefined if none.
   * Events due at the same instant wait in `ready` (taken off the heap once), so a
   * thousand adapters started at time 0 cost a thousand picks, not a million heap moves.
   */
  private next(limitNs: number): SimEvent | undefined {
    const q = this.queue;
    const ready = this.ready;
    if (this.readyCount === 0) {
      const first = q.peek();
      if (first === undefined || first.at > limitNs) return undefined;
      q.pop();
      const second = q.peek();
      if (second === undefined || second.at !== first.at) return first;
      ready[0] = first;
      this.readyCount = 1;
      this.readyAt = first.at;
    } else if (this.readyAt > limitNs) {
      return undefined;
    }
    // Events scheduled for the same instant since the last pick join the ready set.
    for (let ev = q.peek(); ev !== undefined && ev.at === this.readyAt; ev = q.peek())
      ready[this.readyCount++] = q.pop()!;
    for (;;) {
      const n = this.readyCount;
      if (n === 0) return this.next(limitNs);
      const pick = n === 1 ? 0 : this.chooser.choose(ChoiceSite.Ready, n);
      const chosen = ready[pick]!;
      ready[pick] = ready[n - 1]!;
      this.readyCount = n - 1;
      if (!chosen.cancelled) return chosen;
    }
  }

  private runOne(ev: SimEvent): void {
    this.eventCount++;
    if (ev.at > this.now) this.now = ev.at;
    // The clock also moves without an event (a spin, a bounded wait): compare instants.
    if (this.now !== this.tickAt) {
      this.tickAt = this.now;
      this.sinceTick = 0;
    } else if (++this.sinceTick > limits.eventsAtOneInstantMax) {
      this.stopped = `livelock: more than ${limits.eventsAtOneInstantMax} events at one instant, the clock not moving (limits.eventsAtOneInstantMax)`;
      return;
    }
    ev.target.fire(ev.op, ev.arg);
  }

  /** Runs events until none is due at or before `untilNs`, or the machine stops. */
  runUntil(untilNs: number): void {
    this.limitNs = untilNs;
    while (this.stopped === null) {
      const ev = this.next(untilNs);
      if (ev === undefined) break;
      this.runOne(ev);
    }
  }

  /**
   * A blocking wait of the running context (NdisMSleep, NdisWaitEvent): other events due
   * before the wake-up time run meanwhile, then the clock stands at the wake-up time.
   * `done`, when given, is asked after each event; once it holds the wait ends there,
   * the clock where that event left it (an NDIS_EVENT signalled). Returns true when
   * `done` ended the wait, false when the time ran out or the nesting bound was hit
   * (the wait then only moves the clock). A wait with no time limit (`wakeNs` infinite)
   * must not begin at the bound (`waitsFull`): nothing could end it.
   */
  waitUntil(wakeNs: number, done: (() => boolean) | null = null): boolean {
    if (this.waitDepth >= limits.waitNestingMax) {
      if (wakeNs === Number.POSITIVE_INFINITY)
        throw new InternalError('endless wait at the nesting bound', []);
      this.waitsAtBound++;
      if (wakeNs > this.now) this.now = wakeNs;
      return false;
    }
    this.waitDepth++;
    let wake = wakeNs;
    let until = Math.min(wake, this.limitNs);
    let ended = false;
    try {
      for (;;) {
        while (this.stopped === null) {
          const ev = this.next(until);
          if (ev === undefined) break;
          this.runOne(ev);
          if (done?.()) {
            ended = true;
            break;
          }
        }
        // The system went to sleep under this wait (a rare path): the thread's time runs
        // out in the sleep or later, so it runs no sooner than the wake, whose events run
        // here meanwhile (docs/model.md "System sleep and resume").
        const f = this.frozen;
        if (ended || f === null || this.stopped !== null || wake >= f.untilNs) break;
        wake = f.untilNs;
        const to = Math.min(wake, this.limitNs);
        if (to <= until) break;
        until = to;
      }
    } finally {
      this.waitDepth--;
    }
    if (this.poweredOff) {
      this.endedInWait = true;
      throw new WorldStop('shutdown');
    }
    if (ended) return true;
    if ((wake > this.limitNs || wake === Number.POSITIVE_INFINITY) && this.stopped === null) {
      // The run ends while this thread sleeps, or nothing is left that could end the
      // wait: unwind it.
      if (this.limitNs !== Number.POSITIVE_INFINITY) this.now = this.limitNs;
      this.endedInWait = true;
      this.stopped = 'the run ended while a thread was blocked in a wait';
      throw new WorldStop(this.stopped);
    }
    // A run stopped under an endless wait (a livelock) leaves the clock where it stopped.
    if (wake > this.now && wake !== Number.POSITIVE_INFINITY) this.now = wake;
    return false;
  }

  /** True between `freeze` and `thaw`. */
  get isFrozen(): boolean {
    return this.frozen !== null;
  }

  /** Nothing is left to run: no event queued, due now or held by a sleep (a run that ran dry). */
  get drained(): boolean {
    return this.readyCount === 0 && this.frozen === null && this.queue.peek() === undefined;
  }

  /**
   * Every live event still to run: due now (the ready set) or queued; null while the
   * system sleeps (the events it holds are not counted here, so the caller cannot judge).
   */
  liveEvents(): SimEvent[] | null {
    if (this.frozen !== null) return null;
    const out = this.queue.live();
    for (let i = 0; i < this.readyCount; i++) if (!this.ready[i]!.cancelled) out.push(this.ready[i]!);
    return out;
  }

  /**
   * The system is in S3 or S4 until `untilNs` (its wake): every queued event but those
   * `keeper` keeps (the wake itself, the scenario's actions the sleeping system ignores)
   * is held off the queue until `thaw`. The clock goes on; nothing held runs. Called
   * again while frozen (an event scheduled since), it holds what came since. Returns
   * how many events are held.
   */
  freeze(untilNs: number, keeper: SleepKeeper): number {
    let f = this.frozen;
    const first = f === null;
    if (f === null) {
      f = { held: new EventQueue(), keeper, untilNs };
      this.frozen = f;
    }
    const kept: SimEvent[] = [];
    // The ready set first (events due at this instant, already off the heap), then the heap.
    for (let i = 0; i < this.readyCount; i++) {
      const ev = this.ready[i]!;
      if (ev.cancelled) continue;
      if (ev.target === this || f.keeper.keepsAsleep(ev)) kept.push(ev);
      else f.held.push(ev);
    }
    this.readyCount = 0;
    for (let ev = this.queue.pop(); ev !== undefined; ev = this.queue.pop()) {
      if (ev.cancelled) continue;
      if (ev.target === this || f.keeper.keepsAsleep(ev)) kept.push(ev);
      else f.held.push(ev);
    }
    for (const ev of kept) this.queue.push(ev);
    // The event that froze the machine runs on to its end and may schedule more (a step
    // machine kicking its worker again, driver code after the completion NDIS was
    // waiting for): one more sweep runs before anything else, as the next event of all
    // (due before any instant, so it is never among equals at a choice).
    if (first)
      this.queue.push({
        at: Number.NEGATIVE_INFINITY,
        seq: -1,
        target: this,
        op: 0,
        arg: null,
        cancelled: false,
      });
    return f.held.size;
  }

  /** The sweep `freeze` schedules: what the freezing event scheduled after the freeze is held too. */
  fire(_op: number, _arg: unknown): void {
    const f = this.frozen;
    if (f !== null) this.freeze(f.untilNs, f.keeper);
  }

  /**
   * The wake: the held events go back on the queue with their own times. Those that fell
   * due during the sleep are overdue, so they run before anything due at the wake
   * instant (the running event first), in the order they fell due (ties at one time
   * through the choice door, as always). Returns how many were held.
   */
  thaw(): number {
    const f = this.frozen;
    if (f === null) return 0;
    this.frozen = null;
    this.thawedAtNs = this.now;
    let count = 0;
    for (let ev = f.held.pop(); ev !== undefined; ev = f.held.pop()) {
      if (ev.cancelled) continue;
      this.queue.push(ev);
      count++;
    }
    return count;
  }

  /** A busy wait (NdisStallExecution, a polling loop): the clock moves, nothing else runs. */
  spin(ns: number): void {
    this.now += ns;
  }

  /**
   * The running thread's spin would pass the run's end: the run ends there, the thread
   * still spinning, as a run that ends in a wait does.
   */
  endInSpin(): never {
    this.now = this.limitNs;
    this.endedInWait = true;
    this.stopped = 'the run ended while a thread was spinning';
    throw new WorldStop(this.stopped);
  }
}
