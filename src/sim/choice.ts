// One door for every nondeterministic decision (docs/decisions.md, "The explorer").
// A Strategy answers, the answer is logged; a logged prefix replays a run exactly.

import { Rng } from './rng.ts';

/** Where a decision is taken. Numbers in the log, names in reports. */
export const ChoiceSite = {
  /** Which of several events ready at the same instant runs first. */
  Ready: 0,
  /** Which CPU a worker item or an unbound DPC runs on. */
  Cpu: 1,
  /** Latency (in steps) of a system worker thread picking up a work item. */
  WorkerLatency: 2,
  /** Latency of a DPC after it is queued. */
  DpcLatency: 3,
  /**
   * Coalescing slack of a coalescable timer: check-for-hang's (late by 0 to 3 ms), or
   * NdisSetCoalescableTimerObject's (on time, early or late by the tolerance).
   */
  TimerSlack: 4,
  /** A fault plan drawing whether and when a fault fires. */
  Fault: 5,
  /** Latency of a PnP manager or NDIS worker step. */
  PnpLatency: 6,
  /** The IRQL of a callback documented as "at most DISPATCH" (PASSIVE or DISPATCH). */
  CallbackIrql: 7,
  /**
   * When NDIS calls MiniportProcessSGList for a list NdisMAllocateNetBufferSGList
   * built: inside that call (0), or later from a DPC (1), as when map registers are short.
   */
  ProcessSGList: 8,
  /**
   * When NDIS calls MiniportSharedMemoryAllocateComplete for a pending
   * NdisMAllocateSharedMemoryAsyncEx: from a worker thread queued when the call returns
   * (0), or only after NDIS held the request a while (1), as when memory is short.
   */
  SharedMemoryAllocateComplete: 9,
  /**
   * The IRQL of one NdisPoll iteration of a poll object (when the `callbackIrql` option
   * is `explore`): DISPATCH (0), as a DPC would run it, or PASSIVE (1), from a thread.
   */
  PollIrql: 10,
  /**
   * When the first NdisPoll iteration after an NdisRequestPoll on an idle poll object
   * runs: as soon as a DPC or worker would (0), or after NDIS held it 1 ms (1), as when
   * the processor is busy with other poll objects.
   */
  PollDelay: 11,
  /**
   * The work limits NDIS gives one NdisPoll iteration (MaxNblsToIndicate and
   * MaxNblsToComplete): the model's usual 64 each (0), or 1 each (1), as when NDIS shares
   * the processor among many poll objects. The page lets NDIS set any limit.
   */
  PollLimit: 12,
  /**
   * Whether NdisOpenAdapterEx or NdisCloseAdapterEx of a protocol driver completes in
   * the call (0), or returns NDIS_STATUS_PENDING, with ProtocolOpenAdapterCompleteEx or
   * ProtocolCloseAdapterCompleteEx from NDIS's worker later (1), or, for a close, from
   * another processor before the call has returned (2). The pages allow them all.
   */
  ProtocolOpenClose: 13,
  /**
   * The IRQL of one send of the built-in protocol's traffic with `sendIrql: explore`:
   * DISPATCH (0), from its send timer's DPC, or PASSIVE (1), from a work item.
   */
  SendIrql: 14,
  /**
   * How NDIS takes a protocol's NdisOidRequest or a filter's NdisFOidRequest when no other
   * request is ahead of it at the driver below (R6.2): queued for NDIS's worker, the call
   * returning NDIS_STATUS_PENDING and the completion handler following (0), or passed down
   * inside the call, FilterOidRequest or MiniportOidRequest's final status coming back as
   * the call's own with no completion handler (1). The NdisFOidRequest and NdisOidRequest
   * pages allow both. Asked only with the option `oidCallDown: explore`.
   */
  OidCallDown: 15,
} as const;
export type ChoiceSite = (typeof ChoiceSite)[keyof typeof ChoiceSite];
export const choiceSiteNames: readonly string[] = Object.keys(ChoiceSite);

export interface Strategy {
  readonly name: string;
  /** `nowNs`: the virtual time of the question (0 for a chooser without a clock). */
  pick(site: ChoiceSite, count: number, nowNs: number): number;
}

export class RandomStrategy implements Strategy {
  readonly name = 'random';
  private readonly rng: Rng;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }
  pick(_site: ChoiceSite, count: number): number {
    return this.rng.below(count);
  }
}

/**
 * Answers from a list, in order, then 0 (a replay's answers after its logged ones, and
 * the simplest schedule, with an empty list). An answer too large for its question is
 * cut to the largest it may be. Answer 0 is each site's simplest: the first event
 * ready, CPU 0, the shortest latency, no slack, no fault, PASSIVE, a callback inside
 * the call that asked for it, an asynchronous allocation completed without holding, a
 * poll iteration at DISPATCH and without holding.
 */
export class FixedStrategy implements Strategy {
  readonly name = 'fixed';
  private i = 0;
  constructor(private readonly picks: readonly number[]) {}
  pick(_site: ChoiceSite, count: number): number {
    const p = this.i < this.picks.length ? this.picks[this.i]! : 0;
    this.i++;
    return p < count ? p : count - 1;
  }
}

/**
 * Answers 0, the simplest, everywhere but at `depth` decisions drawn from the first
 * `horizon` (the seed draws which), where it answers anything else: a run that is the
 * simplest schedule with a few deviations, as in delay-bounded scheduling (Emmi, Qadeer
 * and Rakamarić, POPL 2011). Where random answers perturb every choice, this finds the
 * failures that need one or two things to go differently and the rest to go plainly.
 */
export class DeviationStrategy implements Strategy {
  readonly name = 'deviations';
  private readonly rng: Rng;
  private readonly at = new Set<number>();
  private i = 0;
  constructor(seed: number, depth: number, horizon: number) {
    this.rng = new Rng(seed);
    const n = Math.min(depth, horizon);
    while (this.at.size < n) this.at.add(this.rng.below(horizon));
  }
  pick(_site: ChoiceSite, count: number): number {
    return this.at.has(this.i++) ? 1 + this.rng.below(count - 1) : 0;
  }
}

export interface Decision {
  site: number;
  count: number;
  pick: number;
  /** Virtual time of the decision, in a log read back from a run (not in a replay file). */
  atNs?: number;
  /**
   * What the answer meant, where the code that asked says so (a recorded log only):
   * "inject remove nic0 at 0.396901 s" for an injected event's time draw.
   */
  note?: string;
  /**
   * What the question was about, where the code that asked names it (a recorded log
   * only): "DPC of timer HangTimer (team-nic)" for a DPC's latency (ChoiceAbout).
   */
  label?: string;
}

/**
 * The object a choice is about (a DPC, a timer, a work item, an interrupt), named in a
 * recorded log's choice lines (review-explore #6). The Chooser keeps the object, and
 * asks its name only when the log is read (Chooser.decisions): an unrecorded run (the
 * explorer's hot loop) builds no string.
 */
export interface ChoiceAbout {
  choiceLabel(): string;
}

export class ReplayDiverged extends Error {
  constructor(index: number, want: Decision, got: { site: number; count: number }) {
    super(
      `replay diverged at decision ${index}: the log has ${choiceSiteNames[want.site]}/${want.count}, ` +
        `the run asked ${choiceSiteNames[got.site]}/${got.count}`,
    );
    this.name = 'ReplayDiverged';
  }
}

/**
 * A replay whose log ran out where the file cannot have ended: a log that explore wrote
 * ends at an answer that is not 0 (it drops the trailing 0s, which the run gives itself),
 * so a log ending in 0 that the run asks past was cut short or had its last answer
 * changed. A ReplayDiverged, so that the run stops as for a question that differs.
 */
export class ReplayLogRanOut extends ReplayDiverged {
  constructor(readonly index: number) {
    super(index, { site: 0, count: 0, pick: 0 }, { site: 0, count: 0 });
    this.message = `the replay file's decision log ran out at decision ${index} of the run; the file is damaged or the driver asks more questions now`;
    this.name = 'ReplayLogRanOut';
  }
}

/** The strategy after a replay log that must not run out (ReplayLogRanOut): it is never asked. */
export class LogEndStrategy implements Strategy {
  readonly name = 'log-end';
  constructor(private readonly logLength: number) {}
  pick(): number {
    throw new ReplayLogRanOut(this.logLength);
  }
}

/** Decisions kept in a plain array before the log moves to typed chunks, and the chunks' size. */
const plainMax = 512;
const chunkSize = 16_384;

/**
 * The decision log. Decisions with a single option are not logged: they are not
 * choices. `prefix` (from a replay file) is followed first, then the strategy.
 * With `record` off (the explorer's hot loop) only a count is kept: a seeded run
 * is re-run with recording on when its decisions are needed.
 */
export class Chooser {
  // A short run's decisions (up to `plainMax`) go in a plain array, which is cheap to
  // make; a long run's go on in Float64Array chunks of (site × 2^32 + count, pick, time)
  // triples, which are never copied. One plain array that grows to hundreds of thousands
  // of entries costs about ten times as much per entry: V8 copies it into ever larger
  // backing stores (a vmini run makes 300,000 decisions).
  /** Whose time a recorded decision takes (the machine, which sets it). */
  clock: { readonly now: number } | null = null;
  private readonly first: number[] = [];
  private readonly full: Float64Array[] = [];
  private chunk: Float64Array | null = null;
  /** Numbers used in `chunk` (three per decision). */
  private used = 0;
  private n = 0;
  /** Notes on recorded decisions, by index (Chooser.note): a few per run, none unrecorded. */
  private notes: Map<number, string> | null = null;
  /**
   * What recorded decisions were about, by index (ChoiceAbout), from the first that
   * named one on; none unrecorded. An array kept dense (a Map of thousands of entries a
   * run cost the data path half its speed).
   */
  private abouts: (ChoiceAbout | undefined)[] | null = null;
  constructor(
    private readonly strategy: Strategy,
    private readonly prefix: readonly Decision[] = [],
    readonly record = true,
  ) {}

  /** `about`: what the question is about, named in a recorded log (ChoiceAbout). */
  choose(site: ChoiceSite, count: number, about?: ChoiceAbout): number {
    if (count <= 1) return 0;
    const i = this.n++;
    let pick: number;
    if (i < this.prefix.length) {
      const want = this.prefix[i]!;
      if (want.site !== site || want.count !== count) throw new ReplayDiverged(i, want, { site, count });
      pick = want.pick;
    } else {
      pick = this.strategy.pick(site, count, this.clock === null ? 0 : this.clock.now);
    }
    if (this.record) {
      this.log(site, count, pick);
      if (about !== undefined || this.abouts !== null) this.keepAbout(i, about);
    }
    return pick;
  }

  /** Keeps what decision `i` was about, the ones before it that named nothing as holes. */
  private keepAbout(i: number, about: ChoiceAbout | undefined): void {
    let a = this.abouts;
    if (a === null) {
      a = [];
      this.abouts = a;
    }
    while (a.length < i) a.push(undefined);
    a.push(about);
  }

  private log(site: number, count: number, pick: number): void {
    const meta = site * 0x1_0000_0000 + count;
    const at = this.clock === null ? 0 : this.clock.now;
    if (this.first.length < 3 * plainMax) {
      this.first.push(meta, pick, at);
      return;
    }
    let c = this.chunk;
    let j = this.used;
    if (c === null || j === c.length) {
      if (c !== null) this.full.push(c);
      c = new Float64Array(3 * chunkSize);
      this.chunk = c;
      j = 0;
    }
    c[j] = meta;
    c[j + 1] = pick;
    c[j + 2] = at;
    this.used = j + 3;
  }

  get length(): number {
    return this.n;
  }

  /**
   * Says what the answer of the decision just made meant, for the reports of a
   * recorded run: `before` is `length` before the question, and a question of one
   * option (not logged) gets no note. Only for rare questions (the scenario's fault
   * draws); the text is made only when the log is recorded, so give a function.
   */
  note(before: number, text: () => string): void {
    if (!this.record || this.n === before) return;
    this.notes ??= new Map();
    this.notes.set(this.n - 1, text());
  }

  decisions(): Decision[] {
    const out: Decision[] = [];
    const tail = this.chunk === null ? [] : [this.chunk.subarray(0, this.used)];
    for (const c of [this.first, ...this.full, ...tail]) {
      for (let i = 0; i < c.length; i += 3) {
        const m = c[i]!;
        out.push({
          site: Math.floor(m / 0x1_0000_0000),
          count: m % 0x1_0000_0000,
          pick: c[i + 1]!,
          atNs: c[i + 2]!,
        });
      }
    }
    if (this.notes !== null) for (const [k, text] of this.notes) if (k < out.length) out[k]!.note = text;
    const a = this.abouts;
    if (a !== null)
      for (let k = 0; k < a.length && k < out.length; k++) {
        const about = a[k];
        if (about !== undefined) out[k]!.label = about.choiceLabel();
      }
    return out;
  }
}
