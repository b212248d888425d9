// The event queue: a binary min-heap ordered by (time, sequence number).
// Events carry a target and an opcode instead of a closure, so scheduling one
// allocates a single small object and nothing else (docs/decisions.md, "Smaller points").

export interface EventTarget {
  fire(op: number, arg: unknown): void;
}

export interface SimEvent {
  at: number;
  seq: number;
  target: EventTarget;
  op: number;
  arg: unknown;
  /** Cancelled events stay in the heap and are skipped when they surface. */
  cancelled: boolean;
}

export class EventQueue {
  // The heap is `heap[0 .. n)`, and the array never shrinks: a run's queue empties and
  // fills again all the time, and push and pop at that size are slower than indexing
  // and now and then make a new backing store (see Kernel.enter). Slots past `n` keep
  // their last event until reused; the queue goes with its world.
  private readonly heap: SimEvent[] = [];
  private n = 0;
  private nextSeq = 0;

  get size(): number {
    return this.n;
  }

  schedule(at: number, target: EventTarget, op: number, arg: unknown): SimEvent {
    const ev: SimEvent = { at, seq: this.nextSeq++, target, op, arg, cancelled: false };
    this.push(ev);
    return ev;
  }

  /** Puts an event back (keeps its sequence number, hence its place among equals). */
  push(ev: SimEvent): void {
    const h = this.heap;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const q = h[p]!;
      if (q.at < ev.at || (q.at === ev.at && q.seq < ev.seq)) break;
      h[i] = q;
      i = p;
    }
    h[i] = ev;
  }

  /** The earliest live event, or undefined. Drops cancelled events on the way. */
  peek(): SimEvent | undefined {
    const h = this.heap;
    while (this.n > 0 && h[0]!.cancelled) this.pop();
    return this.n > 0 ? h[0] : undefined;
  }

  pop(): SimEvent | undefined {
    if (this.n === 0) return undefined;
    const h = this.heap;
    const top = h[0]!;
    const n = --this.n;
    const last = h[n]!;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        let ce = h[l]!;
        if (r < n) {
          const re = h[r]!;
          if (re.at < ce.at || (re.at === ce.at && re.seq < ce.seq)) {
            c = r;
            ce = re;
          }
        }
        if (last.at < ce.at || (last.at === ce.at && last.seq < ce.seq)) break;
        h[i] = ce;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** The live (not cancelled) events, in no particular order. */
  live(): SimEvent[] {
    const out: SimEvent[] = [];
    for (let i = 0; i < this.n; i++) if (!this.heap[i]!.cancelled) out.push(this.heap[i]!);
    return out;
  }

  clear(): void {
    this.heap.length = 0;
    this.n = 0;
  }
}
