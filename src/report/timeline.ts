// The terminal timeline: one line per trace event — virtual time, CPU, IRQL,
// actor, what happened — indented by the call depth of the thread it happened on.

import pc from 'picocolors';
import { PNP_DEVICE_STATE_NAMES } from '../ndis/generated/status.ts';
import type { TraceEvent } from '../trace/trace.ts';
import { type BugCheckParam, formatBugCheck } from '../verifier/bugcheck.ts';
import { column, fmtIrql, fmtTime, fmtValue, ntStatusName, numbersOut } from './format.ts';
import { powerStepText } from './opwait.ts';

export interface TimelineOptions {
  color: boolean;
  /** Show the data path too; by default it is folded away (`formatTimeline`). */
  dataPath?: boolean;
  /** If given, set true at the index of each event that has a line (the HTML report's "hide the data path"). */
  shown?: boolean[];
}

type Colors = ReturnType<typeof pc.createColors>;

function args(data: Record<string, unknown> | undefined, skip: readonly string[]): string {
  if (data === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (skip.includes(k)) continue;
    // A length of time in nanoseconds reads as one: `idleNs=2000011000` as `idle=2.000011 s`.
    if (k.endsWith('Ns') && typeof v === 'number') parts.push(`${k.slice(0, -2)}=${fmtTime(v)}`);
    else parts.push(`${k}=${fmtValue(v)}`);
  }
  return parts.join(', ');
}

/** An IRP's Information: the device-state bits by name for a state query, else hex. */
function irpInformation(irp: string, info: number): string {
  if (irp !== 'IRP_MN_QUERY_PNP_DEVICE_STATE') return `0x${info.toString(16)}`;
  const bits = [...PNP_DEVICE_STATE_NAMES];
  const names = bits.filter(([bit]) => (info & bit) !== 0).map(([, name]) => name);
  const rest = bits.reduce((left, [bit]) => left & ~bit, info);
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.join(' | ');
}

/** `adapter` first in an argument list, as the handle or context a C call passes first. */
function withAdapter(d: Record<string, unknown> | undefined, rest: string): string {
  if (d?.adapter === undefined) return rest;
  return rest === '' ? String(d.adapter) : `${String(d.adapter)}, ${rest}`;
}

/** The event text without time/CPU columns. */
export function describeEvent(e: TraceEvent, c: Colors): string {
  const d = e.data;
  const adapter = d?.adapter !== undefined ? `${String(d.adapter)}: ` : '';
  switch (e.kind) {
    case 'call':
      // The adapter stands first, where the C call passes its context (a callback of a
      // timer or work item gets the driver's context: the adapter says whose it is).
      return `→ ${c.bold(e.what)}(${withAdapter(d, args(d, ['adapter']))})`;
    case 'return': {
      const r = d?.result;
      return r === undefined ? `← ${e.what}` : `← ${e.what} = ${c.bold(fmtValue(r))}`;
    }
    case 'ddi': {
      const r = d?.result;
      const a = args(d, ['adapter', 'result', 'thread', 'routine', 'until']);
      // A resumable routine's wait: the routine leaves its CPU until the wait ends.
      const until =
        d?.until === undefined
          ? ' until its event is set'
          : e.what === 'NdisWaitEvent'
            ? ` until its event is set or ${fmtTime(Number(d.until))}`
            : ` until ${fmtTime(Number(d.until))}`;
      const aside =
        d?.thread === undefined
          ? ''
          : c.dim(
              `: routine ${String(d.thread)}${d.routine === undefined ? '' : ` (${String(d.routine)})`} set aside${until}`,
            );
      return `${c.cyan(e.what)}(${a})${r === undefined ? '' : ` = ${fmtValue(r)}`}${aside}`;
    }
    case 'state':
      return `${adapter}${c.magenta(e.what)} (${String(d?.event)})`;
    case 'ndis': {
      // A sleep or resume a removal took over (power.ts) records the model's step it was
      // at: said in words, not as the step's name.
      if (d?.step !== undefined && /^not (resumed|put to sleep)/.test(e.what)) {
        const rest = args(d, ['adapter', 'step']);
        return `${adapter}${e.what} (it was ${powerStepText(e.what.startsWith('not resumed') ? 'wake' : 'sleep', String(d.step))}${rest === '' ? '' : `; ${rest}`})`;
      }
      return `${adapter}${e.what}${d && Object.keys(d).length > 1 ? ` (${args(d, ['adapter'])})` : ''}`;
    }
    case 'irp': {
      const dev = String(d?.device);
      if (d?.phase === 'sent') {
        const more = args(d, ['device', 'phase']);
        return `${c.yellow(e.what)} → ${dev}${more === '' ? '' : ` (${more})`}`;
      }
      const info = d?.information ? `, Information=${irpInformation(e.what, Number(d.information))}` : '';
      const status = Number(d?.status ?? 0);
      return `${c.yellow(e.what)} completed (Status=${ntStatusName(status)}${info})`;
    }
    case 'device':
      return `${String(d?.device)}: ${e.what}${d?.problem ? c.red(` (Code ${String(d.problem)})`) : ''}`;
    case 'binding':
      return `${adapter}binding ${e.what}`;
    case 'filter':
      return `${adapter}filter module ${e.what}`;
    case 'wake': {
      const late = Number(d?.lateNs ?? 0);
      const held = `, ${fmtTime(late)} late: a wait of another thread, nested above this one, held it past its wake-up time or the setting of its event (a limit of the model)`;
      const result = d?.result === undefined ? '' : ` ${d.result ? 'TRUE' : 'FALSE'}`;
      const verb = d?.goesOn === true ? 'resumes (its wait is over)' : 'returns';
      // A resumable routine: which one goes on, as its wait's line said which was set aside.
      const who =
        d?.thread === undefined
          ? ''
          : c.dim(
              `: routine ${String(d.thread)}${d.routine === undefined ? '' : ` (${String(d.routine)})`} goes on`,
            );
      return `${c.cyan(e.what)} ${verb}${result}${who}${late > 0 ? c.yellow(held) : ''}`;
    }
    case 'hw':
      return c.dim(e.what);
    case 'dump':
      return c.red(
        `live dump ${formatBugCheck(Number(d?.code), (d?.params ?? []) as BugCheckParam[])}: miniport fatal error, reason ${String((d?.params as BugCheckParam[] | undefined)?.[3])} (${String(d?.reason)})`,
      );
    case 'eventlog':
      return `${c.cyan(e.what)}: ${args(d, [])}`;
    case 'action': {
      const rest = args(d, ['device']);
      return c.bold(
        `scenario: ${e.what}${d?.device === undefined ? '' : ` ${String(d.device)}`}${rest === '' ? '' : ` (${rest})`}`,
      );
    }
    case 'violation':
      return d?.severity === 'warning'
        ? c.yellow(`warning ${e.what}: ${String(d?.message)}`)
        : c.red(`violation ${e.what}: ${String(d?.message)}`);
    case 'bugcheck':
      return c.bgRed(c.white(` BUG CHECK ${e.what} `));
  }
}

/** The actor column: as wide as the widest actor, within bounds. */
const actorWidth = (events: readonly TraceEvent[]): number => {
  let w = 'actor'.length;
  for (const e of events) if (e.actor.length > w) w = e.actor.length;
  return Math.min(Math.max(w, 12), 32);
};

/** Callbacks of the data path: a frame that holds one is data-path work. */
const dataPathCalls = new Set([
  'MiniportSendNetBufferLists',
  'MiniportReturnNetBufferLists',
  'MiniportCancelSend',
  'ProtocolReceiveNetBufferLists',
  'ProtocolSendNetBufferListsComplete',
  // A filter module's data handlers, with the NdisFXxx calls that pass the NBLs on.
  'FilterSendNetBufferLists',
  'FilterSendNetBufferListsComplete',
  'FilterCancelSendNetBufferLists',
  'FilterReceiveNetBufferLists',
  'FilterReturnNetBufferLists',
  // A send's scatter/gather list, when NDIS hands it over from a DPC of its own.
  'MiniportProcessSGList',
]);
/** Callbacks that only carry the driver's own work: a timer, a DPC, a work item. */
const plumbing = new Set([
  'NdisTimerFunction',
  'MiniportInterruptDPC',
  // An MSI or MSI-X message's DPC does what the line's does.
  'MiniportMessageInterruptDPC',
  'NdisIoWorkItemFunction',
  // The routines of WDM work items (IoQueueWorkItem, IoQueueWorkItemEx).
  'WorkItem',
  'WorkItemEx',
  // A poll object's iterations and the notification that ends them (NDIS Poll Mode).
  'NdisPoll',
  'NdisSetPollNotification',
]);
/** NDIS's own lines about the data path. */
const dataPathNotes = new Set([
  'sends completed',
  'send completed by NDIS',
  'poll sends completed',
  'poll receives indicated',
]);
/**
 * What data-path work does around the NBLs themselves: nothing a reader of the control
 * path needs. Not NdisCancelTimerObject: stopping a timer is how a driver quiets its
 * watchdog for a pause, a halt or a power-down (the power trial's work item that
 * cancelled one was folded away).
 */
const minorDdis = new Set([
  'NdisSetTimerObject',
  'NdisAcquireSpinLock',
  'NdisReleaseSpinLock',
  'NdisDprAcquireSpinLock',
  'NdisDprReleaseSpinLock',
  // A driver's own queue, each call under its spin lock.
  'NdisInterlockedInsertHeadList',
  'NdisInterlockedInsertTailList',
  'NdisInterlockedRemoveHeadList',
  'NdisQueueIoWorkItem',
  'NdisMSynchronizeWithInterruptEx',
  // A bus-master send's scatter/gather list, asked for and freed.
  'NdisMAllocateNetBufferSGList',
  'NdisMFreeNetBufferSGList',
  'NdisRequestPoll',
]);

/**
 * NBL allocations: the buffers a driver fills its receive ring with (64 at a time, in
 * MiniportInitializeEx) or sends from, data-path bookkeeping wherever it runs.
 */
const dataPathDdis = new Set(['NdisAllocateNetBufferList', 'NdisAllocateNetBufferAndNetBufferList']);

/**
 * The completions of a pended pause or restart, which a driver often makes from the
 * data path (its last send coming back completes the pause).
 */
const controlDdis = new Set([
  'NdisFPauseComplete',
  'NdisFRestartComplete',
  'NdisMPauseComplete',
  'NdisCompleteNetPnPEvent',
]);
/** Kinds of events that are the control path wherever they happen. */
const controlKinds: ReadonlySet<TraceEvent['kind']> = new Set([
  'state',
  'filter',
  'binding',
  'violation',
  'bugcheck',
  'dump',
  'irp',
  'device',
]);

/** An event inside a data-path call that the timeline keeps: the control path it set off. */
function controlInData(e: TraceEvent): boolean {
  return controlKinds.has(e.kind) || (e.kind === 'ddi' && controlDdis.has(e.what));
}

/**
 * A statistics query that went well: the counters a protocol polls (a scenario's
 * `statisticsEvery`, every 5 ms in the vmini example: four fifths of its lines). It
 * folds with the data path, and so does the callback that only completed it; one that
 * fails or is refused stays (the call that failed it with what it returned, too), as
 * does any query of a device a scenario action asked for statistics (`asked`).
 */
function routineStatistics(events: readonly TraceEvent[], i: number, asked: ReadonlySet<string>): boolean {
  const e = events[i]!;
  const d = e.data;
  if (d?.Oid !== 'OID_GEN_STATISTICS' || asked.has(String(d.adapter))) return false;
  // A filter module between them (FilterOidRequest, which clones and passes it down,
  // and FilterOidRequestComplete, which completes the original): the same query.
  if (e.kind === 'call')
    return e.what === 'MiniportOidRequest' || e.what === 'FilterOidRequest'
      ? (e.what === 'FilterOidRequest' || d.RequestType === 'NdisRequestQueryInformation') &&
          wentOn(events, i)
      : (e.what === 'ProtocolOidRequestComplete' || e.what === 'FilterOidRequestComplete') &&
          d.status === 'NDIS_STATUS_SUCCESS';
  if (e.kind !== 'ddi') return false;
  if (e.what === 'NdisMOidRequestComplete') return d.Status === 'NDIS_STATUS_SUCCESS';
  return (
    e.what === 'NdisOidRequest' && (d.result === 'NDIS_STATUS_SUCCESS' || d.result === 'NDIS_STATUS_PENDING')
  );
}

/** The request handler called at `i` returned SUCCESS or PENDING (its return: the next of its name on its CPU). */
function wentOn(events: readonly TraceEvent[], i: number): boolean {
  const e = events[i]!;
  for (let j = i + 1; j < events.length; j++) {
    const r = events[j]!;
    if (r.kind !== 'return' || r.what !== e.what || r.cpu !== e.cpu) continue;
    const s = r.data?.result;
    return s === 'NDIS_STATUS_SUCCESS' || s === 'NDIS_STATUS_PENDING';
  }
  return true;
}

/** Whether an event is data-path work, or bookkeeping that may go with it, or neither. */
function weight(
  events: readonly TraceEvent[],
  i: number,
  asked: ReadonlySet<string>,
): 'data' | 'minor' | 'major' {
  const e = events[i]!;
  if ((e.kind === 'call' || e.kind === 'return') && dataPathCalls.has(e.what)) return 'data';
  if (routineStatistics(events, i, asked)) return 'data';
  if (e.kind === 'ndis' && dataPathNotes.has(e.what)) return 'data';
  if (e.kind === 'ddi' && dataPathDdis.has(e.what)) return 'data';
  if (e.kind === 'hw' || (e.kind === 'ddi' && minorDdis.has(e.what))) return 'minor';
  if (
    (e.kind === 'call' || e.kind === 'return') &&
    (e.what === 'MiniportSynchronizeInterrupt' || e.what === 'MiniportSynchronizeMessageInterrupt')
  )
    return 'minor';
  return 'major';
}

interface Line {
  text: string;
  weight: 'data' | 'minor' | 'major';
  /** The event's index in the trace given. */
  index: number;
  /**
   * For bookkeeping (minor) lines: what the line says but its time, to fold repeats by;
   * for an NdisMSleep, its actor, IRQL, depth, length and routine (a wait loop's sleeps
   * fold into one line with their count and span, whatever CPU each ran on).
   */
  key: string | null;
  /** The event's virtual time. */
  t: number;
  /** For a violation (collect mode): its rule and message but their numbers. */
  violation: string | null;
}

/**
 * The start of a sleep's repeat key: consecutive NdisMSleep lines of one actor (a driver
 * polling its NIC in a loop, a halt waiting for its sends) fold into one.
 */
const sleepKey = 'NdisMSleep\0';

/** A violation (collect mode) shows this many times in full; callbacks that only repeat it more often fold. */
const violationShown = 3;

/** A DDI call that blocks its thread: NdisMSleep, or NdisWaitEvent on an event not yet set (that one returns at once, its result on its line). */
function blocks(e: TraceEvent): boolean {
  return (
    e.kind === 'ddi' &&
    (e.what === 'NdisMSleep' || (e.what === 'NdisWaitEvent' && e.data?.result === undefined))
  );
}

/**
 * The call depth of the running thread at each trace event: a callback's own call and
 * return lines at the depth of the code that called it. A thread that blocks
 * (NdisMSleep, NdisWaitEvent) keeps its depth while others run from depth 0, and gets
 * it back when it wakes.
 */
export function callDepths(events: readonly TraceEvent[]): number[] {
  const out: number[] = new Array(events.length);
  let depth = 0;
  const asleep: number[] = [];
  // Resumable routines set aside in a wait, by their number: they wake in any order.
  const setAside = new Map<unknown, number>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const thread = e.data?.thread;
    if (e.kind === 'return') depth = Math.max(0, depth - 1);
    else if (e.kind === 'wake') depth = (thread === undefined ? asleep.pop() : setAside.get(thread)) ?? 0;
    out[i] = depth;
    if (e.kind === 'call') depth++;
    else if (blocks(e)) {
      if (thread === undefined) asleep.push(depth);
      else setAside.set(thread, depth);
      depth = 0;
    }
  }
  return out;
}

/**
 * One line per trace event, indented by the call depth of its thread.
 *
 * Unless `dataPath` is set, the data path is folded away: the calls of the data-path
 * callbacks (sends, returns, receives, send completions) with everything inside them,
 * and every top-level callback (a timer, a DPC) that did nothing but such work and its
 * bookkeeping (timers set, locks taken), together with the interrupt that led to it.
 * Whatever else happens in such a callback stays. The last line counts what was folded.
 */
export function formatTimeline(events: readonly TraceEvent[], o: TimelineOptions): string[] {
  const c = pc.createColors(o.color);
  const lines: string[] = [];
  const aw = actorWidth(events);
  const fold = o.dataPath !== true;
  // With traffic, a callback that only re-armed a timer or took a lock is the data
  // path's clockwork (a hub's per-frame timers, a TX-done poll): folded too.
  // Devices whose statistics a scenario action asked for: their queries all stay.
  const asked = new Set<string>();
  for (const e of events)
    if (e.kind === 'action' && e.what === 'oid' && e.data?.Oid === 'OID_GEN_STATISTICS')
      asked.add(String(e.data.device));
  const traffic = fold && events.some((_, i) => weight(events, i, asked) === 'data');
  lines.push(c.dim(`${'time'.padStart(14)}  cpu ${'irql'.padEnd(8)} ${'actor'.padEnd(aw)} event`));
  let folded = 0;
  // A run of the same bookkeeping line (a reset that gives back 8,000 scatter/gather
  // lists) shows once, with its count: `repeatAt` is that line in `lines`.
  let repeats = 0;
  const violationsSeen = new Map<string, number>();
  // Callbacks (collect mode) folded because their only news was a violation shown
  // `violationShown` times already, and their trace events (with an interrupt held for them).
  let repeatedViolations = 0;
  let repeatedViolationEvents = 0;
  let repeatKey: string | null = null;
  let repeatAt = -1;
  let repeatCount = 0;
  // A run of sleeps also says how long it took: from the first line's time to the last's.
  let repeatFirstT = 0;
  let repeatLastT = 0;
  const endRepeat = (): void => {
    if (repeatCount > 0) {
      const n = (repeatCount + 1).toLocaleString('en-US');
      const span = repeatKey?.startsWith(sleepKey)
        ? ` over ${fmtTime(repeatLastT - repeatFirstT)}, the last at ${fmtTime(repeatLastT)}`
        : '';
      lines[repeatAt] += c.dim(` (×${n} in a row${span})`);
    }
    repeatKey = null;
    repeatCount = 0;
  };
  // The top-level callback being read, its lines held until it returns; an interrupt
  // that did nothing visible, held until the callback after it shows what it was for.
  let frame: Line[] | null = null;
  let isr: Line[] | null = null;
  // Inside a data-path call: the depth it started at.
  let inData = -1;
  let dataCall: Line | null = null;
  let frameKind: 'isr' | 'plumbing' | 'other' = 'other';
  const emit = (ls: readonly Line[]): void => {
    for (const l of ls) {
      if (fold && l.weight === 'data') folded++;
      else if (fold && l.key !== null && l.key === repeatKey) {
        repeatCount++;
        repeats++;
        repeatLastT = l.t;
      } else {
        endRepeat();
        lines.push(l.text);
        if (o.shown !== undefined) o.shown[l.index] = true;
        if (l.key !== null) {
          repeatKey = l.key;
          repeatAt = lines.length - 1;
          repeatFirstT = l.t;
          repeatLastT = l.t;
        }
      }
    }
  };
  const flushIsr = (): void => {
    if (isr !== null) emit(isr);
    isr = null;
  };
  // Something unrelated comes while an interrupt is held: with traffic, that interrupt
  // led to data-path work (its DPC folds later, or came to nothing): fold it too, rather
  // than show an interrupt whose DPC never appears.
  const passIsr = (): void => {
    if (isr !== null && fold && traffic) {
      folded += isr.length;
      isr = null;
    } else flushIsr();
  };
  const closeFrame = (f: Line[]): void => {
    const data = f.some((l) => l.weight === 'data');
    // The callback's own call and return lines say nothing of what it did.
    let major = false;
    // In collect mode a driver breaks a rule on every frame: a callback whose only news
    // is a violation shown `violationShown` times already folds like the data path.
    let news = false;
    for (let i = 1; i < f.length - 1; i++) {
      const l = f[i]!;
      if (l.weight !== 'major') continue;
      major = true;
      if (l.violation === null || (violationsSeen.get(l.violation) ?? 0) < violationShown) news = true;
    }
    for (const l of f)
      if (l.violation !== null) violationsSeen.set(l.violation, (violationsSeen.get(l.violation) ?? 0) + 1);
    if (fold && major && !news) {
      // Counted apart from the data path: these callbacks are not data-path work.
      repeatedViolations++;
      repeatedViolationEvents += f.length + (isr?.length ?? 0);
      isr = null;
      return;
    }
    if (fold && !major && frameKind === 'plumbing' && (data || traffic)) {
      // Data-path work and its bookkeeping only: fold it, and its interrupt.
      folded += f.length + (isr?.length ?? 0);
      isr = null;
      return;
    }
    if (frameKind === 'plumbing') flushIsr();
    else passIsr();
    if (fold && !data && !major && frameKind === 'isr') {
      isr = f;
      return;
    }
    emit(f);
  };
  const depths = callDepths(events);
  let prev: TraceEvent | undefined;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const depth = depths[i]!;
    const last = prev;
    prev = e;
    // Nothing happened while it slept: the sleep's own line says it all.
    if (
      e.kind === 'wake' &&
      last?.kind === 'ddi' &&
      last.what === 'NdisMSleep' &&
      e.data?.lateNs === undefined
    )
      continue;
    const indent = '  '.repeat(Math.min(depth, 8));
    const head = `${fmtTime(e.t).padStart(14)}  ${String(e.cpu).padStart(3)} ${fmtIrql(e.irql).padEnd(8)} ${column(e.actor, aw)}`;
    let w = weight(events, i, asked);
    // The application's lines stay: a ReadFile or WriteFile that completes inside a
    // send or a return is the end of a request the timeline showed going in. So does
    // the control path a data-path call sets off: the last send completion of a pause
    // (NdisFPauseComplete and the module's Pausing → Paused), a state change, a rule.
    const control = inData >= 0 && controlInData(e);
    if (inData >= 0 && e.actor !== 'app' && !control) w = 'data';
    const body = `${indent}${describeEvent(e, c)}`;
    const line: Line = {
      text: `${c.dim(head)} ${body}`,
      weight: w,
      index: i,
      key:
        w === 'minor'
          ? `${e.cpu} ${e.irql} ${e.actor} ${body}`
          : e.kind === 'ddi' && e.what === 'NdisMSleep'
            ? `${sleepKey}${e.irql} ${e.actor} ${depth} ${String(e.data?.MicrosecondsToSleep)} ${String(e.data?.thread)} ${String(e.data?.routine)}`
            : null,
      t: e.t,
      violation: e.kind === 'violation' ? `${e.what} ${numbersOut(String(e.data?.message ?? ''))}` : null,
    };
    if (e.kind === 'call' && w === 'data' && inData < 0) {
      inData = depth;
      dataCall = line;
    } else if (e.kind === 'return' && inData === depth) {
      inData = -1;
      // The data-path call that set the control path off is shown around it.
      if (dataCall?.weight === 'minor') line.weight = 'minor';
      dataCall = null;
    }
    if (control && dataCall !== null) dataCall.weight = 'minor';
    // An NdisWaitEvent whose event was already set returns at once: its line has the result.
    const sleeps = blocks(e);
    if (frame === null && e.kind === 'call' && depth === 0 && fold) {
      frame = [line];
      frameKind =
        e.what === 'MiniportInterrupt' || e.what === 'MiniportMessageInterrupt'
          ? 'isr'
          : plumbing.has(e.what)
            ? 'plumbing'
            : 'other';
    } else if (frame !== null) {
      frame.push(line);
      if (sleeps || e.kind === 'wake') {
        // Another thread runs while this one sleeps: show what there is, line by line.
        flushIsr();
        emit(frame);
        frame = null;
      } else if (e.kind === 'return' && depth === 0) {
        closeFrame(frame);
        frame = null;
      }
    } else {
      if (w !== 'data') passIsr();
      emit([line]);
    }
    if (sleeps) inData = -1;
  }
  // An interrupt held back ran before the frame still open (one a bug check cut short).
  flushIsr();
  if (frame !== null) emit(frame);
  endRepeat();
  // The footer: what was left out, each kind under its own name.
  const n = (x: number): string => x.toLocaleString('en-US');
  const parts: string[] = [];
  if (folded > 0)
    parts.push(
      `${n(folded)} trace events of the data path not shown: sends, receives, their completions, statistics queries that succeeded and the callbacks that only served them`,
    );
  if (repeatedViolations > 0)
    parts.push(
      `${n(repeatedViolationEvents)} trace events of ${n(repeatedViolations)} callback${repeatedViolations === 1 ? '' : 's'} not shown that only broke a rule again that the timeline showed ${violationShown} times already (the summary counts every one)`,
    );
  if (repeats > 0) parts.push(`${n(repeats)} more of a line repeated in a row (×N)`);
  if (parts.length > 0)
    lines.push(c.dim(`${''.padStart(14)}  … ${parts.join('; ')} (--datapath shows them)`));
  return lines;
}
