// The event queue: a binary min-heap ordered by (time, sequence number).
// Events carry a target and an opcode instead of a closure, so scheduling one
// allocates a single small object and nothing else (DESIGN.md "Performance").

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
  private heap: SimEvent[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  schedule(at: number, target: EventTarget, op: number, arg: unknown): SimEvent {
    const ev: SimEvent = { at, seq: this.nextSeq++, target, op, arg, cancelled: false };
    this.push(ev);
    return ev;
  }

  /** Puts an event back (keeps its sequence number, hence its place among equals). */
  push(ev: SimEvent): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
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
    while (h.length > 0 && h[0]!.cancelled) this.pop();
    return h[0];
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop()!;
    const n = h.length;
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

  clear(): void {
    this.heap.length = 0;
  }
}
