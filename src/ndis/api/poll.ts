// NDIS Poll Mode (NDIS 6.85 and later): NdisRegisterPoll, NdisDeregisterPoll,
// NdisRequestPoll, NdisSetPollAffinity, and the driver's NdisPoll and
// NdisSetPollNotification (wdk-ddi-src/content/poll/, network/ndis-poll-mode.md).
//
// A miniport registers poll objects against its adapter, usually in MiniportInitializeEx,
// and uses one where it would use a DPC: its ISR masks the interrupt and calls
// NdisRequestPoll. NDIS then calls the object's NdisPoll (PollHandler) with an
// NDIS_POLL_DATA holding the iteration's work limits; the driver chains received NBLs
// into Receive and finished sends into Transmit and returns, and NDIS indicates and
// completes them itself through the usual receive and send-complete paths (so every
// rule of those paths holds, the adapter's state included). NDIS polls again while an
// iteration moves NBLs, and after the first one that moves none it stops and calls
// NdisSetPollNotification with Enabled TRUE: the driver unmasks its interrupt.
//
// The iterations of one object never overlap, and NdisSetPollNotification never
// overlaps them. Each iteration runs at DISPATCH, like a DPC, or at PASSIVE, from a
// thread (ChoiceSite.PollIrql, or the callbackIrql option when it is not `explore`), on
// the processor NdisSetPollAffinity set or one NDIS picks. The first iteration after a
// request runs as soon as a DPC or worker would, or after NDIS held it 1 ms
// (ChoiceSite.PollDelay). Polling goes on across pause and restart: NDIS does not know
// what an object serves, so a driver stops handing receives to a paused adapter itself.
// NdisDeregisterPoll drops a requested iteration; no NdisPoll follows its return. A poll
// object still registered when MiniportHaltEx (or a failing MiniportInitializeEx)
// returns is reported and dropped.

import { Irql, latency } from '../../kernel/kernel.ts';
import { ChoiceSite } from '../../sim/choice.ts';
import type { EventTarget, SimEvent } from '../../sim/queue.ts';
import type { MiniportBlock } from '../block.ts';
import * as data from '../datapath.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  NDIS_ANY_NUMBER_OF_NBLS,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_POLL_CHARACTERISTICS_REVISION_1,
  NDIS_POLL_DATA_REVISION_1,
  NDIS_POLL_NOTIFICATION_REVISION_1,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_PERFECT_FILTERED,
  NDIS_RECEIVE_FLAGS_SHARED_MEMORY_INFO_VALID,
  NDIS_RECEIVE_FLAGS_SINGLE_ETHER_TYPE,
  NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
  NDIS_RECEIVE_FLAGS_SINGLE_VLAN,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_COMPLETE_FLAGS_SINGLE_QUEUE,
  NDIS_SEND_COMPLETE_FLAGS_SWITCH_SINGLE_SOURCE,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
} from '../generated/status.ts';
import type { NET_BUFFER_LIST } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import type { NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_STATUS, ULONG } from '../types.ts';
import { adapterHandle, currentNdis, stale } from './common.ts';

const irql = {
  NdisRegisterPoll: ddiIrql.NdisRegisterPoll!,
  NdisDeregisterPoll: ddiIrql.NdisDeregisterPoll!,
  NdisRequestPoll: ddiIrql.NdisRequestPoll!,
  NdisSetPollAffinity: ddiIrql.NdisSetPollAffinity!,
};

/** The first NDIS version with poll mode (ndis-poll-mode.md), as MiniportDriverBlock.ndisVersion counts. */
const pollModeVersion = 685;
/**
 * NBLs NDIS lets one iteration indicate, and complete (the model's work limits), on
 * answer 0 of ChoiceSite.PollLimit; answer 1 gives `pollTightLimit` each.
 */
export const pollReceiveLimit = 64;
export const pollTransmitLimit = 64;
export const pollTightLimit = 1;
/** How long NDIS holds a requested iteration on answer 1 of ChoiceSite.PollDelay. */
export const pollHoldNs = 1_000_000;
/** A chain longer than this is taken for one that loops. */
const chainMax = 1_000_000;

/** The flags an NDIS_POLL_RECEIVE_DATA may carry (its page lists them). */
const receiveFlagsAllowed =
  NDIS_RECEIVE_FLAGS_SINGLE_ETHER_TYPE |
  NDIS_RECEIVE_FLAGS_SINGLE_VLAN |
  NDIS_RECEIVE_FLAGS_PERFECT_FILTERED |
  NDIS_RECEIVE_FLAGS_SINGLE_QUEUE |
  NDIS_RECEIVE_FLAGS_SHARED_MEMORY_INFO_VALID;
/** The flags an NDIS_POLL_TRANSMIT_DATA may carry. */
const sendCompleteFlagsAllowed =
  NDIS_SEND_COMPLETE_FLAGS_SINGLE_QUEUE | NDIS_SEND_COMPLETE_FLAGS_SWITCH_SINGLE_SOURCE;

/** NDIS_POLL_TRANSMIT_DATA: NDIS sets MaxNblsToComplete, the driver the rest. */
export interface NDIS_POLL_TRANSMIT_DATA {
  MaxNblsToComplete: ULONG;
  /** Sends the driver completes, chained through Next, each with its Status set. */
  CompletedNblChain: NET_BUFFER_LIST | null;
  /** The chain's length, or NDIS_ANY_NUMBER_OF_NBLS to let NDIS count it. */
  NumberOfCompletedNbls: ULONG;
  /** 0: none left; NDIS_ANY_NUMBER_OF_NBLS: some; else how many (a hint). */
  NumberOfRemainingNbls: ULONG;
  /** NDIS_SEND_COMPLETE_FLAGS_SINGLE_QUEUE, NDIS_SEND_COMPLETE_FLAGS_SWITCH_SINGLE_SOURCE. */
  SendCompleteFlags: ULONG;
}

/** NDIS_POLL_RECEIVE_DATA: NDIS sets MaxNblsToIndicate, the driver the rest. */
export interface NDIS_POLL_RECEIVE_DATA {
  MaxNblsToIndicate: ULONG;
  /** Received NBLs, chained through Next, SourceHandle the adapter handle. */
  IndicatedNblChain: NET_BUFFER_LIST | null;
  /** The chain's length, or NDIS_ANY_NUMBER_OF_NBLS to let NDIS count it. */
  NumberOfIndicatedNbls: ULONG;
  /** 0: none left; NDIS_ANY_NUMBER_OF_NBLS: some; else how many (a hint). */
  NumberOfRemainingNbls: ULONG;
  /** NDIS_RECEIVE_FLAGS_SINGLE_ETHER_TYPE, …_SINGLE_VLAN, …_PERFECT_FILTERED, …_SINGLE_QUEUE, …_SHARED_MEMORY_INFO_VALID. */
  Flags: ULONG;
}

/** NDIS_POLL_DATA: what NdisPoll gets, fresh for each iteration. */
export interface NDIS_POLL_DATA {
  Header: NDIS_OBJECT_HEADER;
  Transmit: NDIS_POLL_TRANSMIT_DATA;
  Receive: NDIS_POLL_RECEIVE_DATA;
}

/** NDIS_POLL_NOTIFICATION: TRUE asks the driver to enable the object's interrupt. */
export interface NDIS_POLL_NOTIFICATION {
  Header: NDIS_OBJECT_HEADER;
  Enabled: boolean;
}

/** NdisPoll(Context, PollData). NDIS calls it at PASSIVE or DISPATCH. */
export type NDIS_POLL<C = unknown> = (Context: C, PollData: NDIS_POLL_DATA) => void;
/** NdisSetPollNotification(Context, Notification). At most DISPATCH. */
export type NDIS_SET_POLL_NOTIFICATION<C = unknown> = (
  Context: C,
  Notification: NDIS_POLL_NOTIFICATION,
) => void;

/** NDIS_POLL_CHARACTERISTICS: Header Type NDIS_OBJECT_TYPE_DEFAULT, Revision NDIS_POLL_CHARACTERISTICS_REVISION_1. */
export interface NDIS_POLL_CHARACTERISTICS<C = unknown> {
  Header: NDIS_OBJECT_HEADER;
  SetPollNotificationHandler: NDIS_SET_POLL_NOTIFICATION<C>;
  PollHandler: NDIS_POLL<C>;
}

/** PROCESSOR_NUMBER: a processor as a group and a number in it (the model has group 0 only). */
export interface PROCESSOR_NUMBER {
  Group: number;
  Number: number;
  Reserved: number;
}

/** Where a poll object is between its iterations. */
type PollState = 'idle' | 'queued' | 'running';

/** A poll object (NDIS_POLL_HANDLE): NDIS's side of it. */
export class NdisPollObject implements NDIS_HANDLE, EventTarget {
  readonly __ndisHandle = 'NDIS_POLL';
  state: PollState = 'idle';
  /** The event of the next iteration, while queued. */
  ev: SimEvent | null = null;
  /** The CPU and IRQL the queued iteration runs on. */
  cpu = 0;
  irql: number = Irql.Dispatch;
  /** NdisRequestPoll came while an iteration ran: NDIS polls at least once more. */
  again = false;
  /** NdisSetPollAffinity's processor, or -1 (NDIS picks). */
  affinity = -1;
  deregistered = false;
  /** Dropped by NDIS at the end of the adapter (NdisSim_PollNotDeregistered), not by the driver. */
  droppedByNdis = false;
  /** The object's own callback that is running, for NdisSim_PollDeregisterInPoll. */
  inCallback: 'NdisPoll' | 'NdisSetPollNotification' | null = null;
  /** Counts for the tests and the trace. */
  iterations = 0;
  indicated = 0;
  completed = 0;
  constructor(
    readonly block: MiniportBlock,
    readonly context: unknown,
    readonly chars: NDIS_POLL_CHARACTERISTICS,
    /** 1-based, per adapter, for the trace. */
    readonly id: number,
  ) {}

  /** What a recorded log's choice lines call it (ChoiceAbout): `poll object 1 of nic0`. */
  choiceLabel(): string {
    return `poll object ${this.id} of ${this.block.name}`;
  }

  fire(): void {
    this.ev = null;
    const k = this.block.ndis.kernel;
    const c = k.enter(this.cpu, this.irql, 'ndis', this.irql === Irql.Dispatch ? 'dpc' : 'worker');
    try {
      iterate(this);
    } finally {
      k.exit(c);
    }
  }
}

function pollObject(h: unknown, ddi: string): NdisPollObject {
  if (h instanceof NdisPollObject && !h.deregistered) return h;
  const n = h instanceof NdisPollObject ? h.block.ndis : currentNdis(ddi);
  // NdisSim_PollHandle: the handle is freed memory, or never was a poll object.
  return n.verifier.fatal(
    'NdisSim_PollHandle',
    ddi,
    h instanceof NdisPollObject ? h.block.name : null,
    h instanceof NdisPollObject
      ? `${ddi} on poll object #${h.id} of ${h.block.name} after ${h.droppedByNdis ? `NDIS dropped it when ${h.block.handleEnd}` : 'NdisDeregisterPoll'}: its memory is gone`
      : `${ddi}: the handle is not a PollHandle NdisRegisterPoll returned`,
  );
}

/**
 * NDIS_STATUS NdisRegisterPoll(NdisHandle, Context, Characteristics, *PollHandle).
 * PASSIVE. NdisHandle is the adapter handle. The poll object starts idle, its
 * notification enabled: nothing runs until the driver calls NdisRequestPoll. A driver
 * that declares an NDIS version below 6.85 gets NDIS_STATUS_NOT_SUPPORTED
 * (NdisSim_PollModeVersion); characteristics with a wrong header or a missing handler
 * get NDIS_STATUS_INVALID_PARAMETER; a halted adapter's handle gets FAILURE.
 */
export function NdisRegisterPoll<C = unknown>(
  NdisHandle: NDIS_HANDLE,
  Context: C,
  Characteristics: NDIS_POLL_CHARACTERISTICS<C>,
): { Status: NDIS_STATUS; PollHandle: NDIS_HANDLE | null } {
  const ddi = 'NdisRegisterPoll';
  const b = adapterHandle(NdisHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisRegisterPoll, ddi, b.name);
  const c = Characteristics as unknown as NDIS_POLL_CHARACTERISTICS;
  let status: number = NDIS_STATUS_SUCCESS;
  if (stale(b, ddi)) status = NDIS_STATUS_FAILURE;
  else if (b.driver.ndisVersion < pollModeVersion) {
    const v = b.driver.ndisVersion;
    n.verifier.report(
      'NdisSim_PollModeVersion',
      ddi,
      b.name,
      `${ddi} from ${b.driver.name}, which declares NDIS ${Math.floor(v / 100)}.${v % 100}: poll mode is for NDIS 6.85 and later miniports (poll.h declares it only for them); NDIS fails the call`,
    );
    status = NDIS_STATUS_NOT_SUPPORTED;
  } else if (
    c?.Header?.Type !== NDIS_OBJECT_TYPE_DEFAULT ||
    c.Header.Revision !== NDIS_POLL_CHARACTERISTICS_REVISION_1 ||
    typeof c.PollHandler !== 'function' ||
    typeof c.SetPollNotificationHandler !== 'function'
  ) {
    status = NDIS_STATUS_INVALID_PARAMETER;
  }
  let p: NdisPollObject | null = null;
  if (status === NDIS_STATUS_SUCCESS) {
    b.polls ??= [];
    b.pollsMade++;
    p = new NdisPollObject(b, Context, { ...c }, b.pollsMade);
    b.polls.push(p);
  }
  if (n.trace.on) n.traceDdi(ddi, b, { poll: p === null ? null : p.id, result: status });
  return { Status: status, PollHandle: p };
}

/**
 * VOID NdisDeregisterPoll(PollHandle). PASSIVE. Runs down the object's polling: an
 * iteration requested and not yet run is dropped, and no NdisPoll or
 * NdisSetPollNotification of the object follows the return. From inside the object's
 * own NdisPoll or NdisSetPollNotification it would wait for itself
 * (NdisSim_PollDeregisterInPoll).
 */
export function NdisDeregisterPoll(PollHandle: NDIS_HANDLE): void {
  const ddi = 'NdisDeregisterPoll';
  const p = pollObject(PollHandle, ddi);
  const b = p.block;
  const n = b.ndis;
  n.verifier.irql(irql.NdisDeregisterPoll, ddi, b.name);
  if (n.trace.on) n.traceDdi(ddi, b, { poll: p.id });
  const own = p.inCallback === null ? null : n.insideCallbackOf(p.inCallback, b);
  if (own !== null) {
    n.verifier.fatal(
      'NdisSim_PollDeregisterInPoll',
      ddi,
      b.name,
      `${ddi} on poll object #${p.id} from inside its own ${p.inCallback}: it waits for the polling in progress, which is the caller (a deadlock)`,
    );
  }
  drop(p);
  const list = b.polls;
  if (list !== null) {
    const i = list.indexOf(p);
    if (i >= 0) list.splice(i, 1);
  }
}

/** The object is gone: its queued iteration is cancelled. */
function drop(p: NdisPollObject): void {
  p.deregistered = true;
  p.state = 'idle';
  p.again = false;
  if (p.ev !== null) {
    p.ev.cancelled = true;
    p.ev = null;
  }
}

/**
 * VOID NdisRequestPoll(PollHandle, Reserved). Any IRQL (an ISR calls it). Reserved must
 * be null (0). An idle object gets an iteration queued; a queued one stays queued (the
 * requests merge); during an iteration NDIS polls at least once more.
 */
export function NdisRequestPoll(PollHandle: NDIS_HANDLE, Reserved: unknown = null): void {
  const ddi = 'NdisRequestPoll';
  const p = pollObject(PollHandle, ddi);
  const b = p.block;
  const n = b.ndis;
  n.verifier.irql(irql.NdisRequestPoll, ddi, b.name);
  if (Reserved !== null && Reserved !== 0 && Reserved !== undefined)
    n.verifier.fatal('NdisSim_BadParameter', ddi, b.name, `${ddi}: Reserved must be zero (NULL)`);
  if (n.trace.on) n.traceDdi(ddi, b, { poll: p.id, state: p.state });
  if (p.state === 'running') p.again = true;
  else if (p.state === 'idle') {
    const held = n.kernel.machine.choose(ChoiceSite.PollDelay, 2) === 1;
    queue(n, p, held ? pollHoldNs : 0);
  }
}

/**
 * VOID NdisSetPollAffinity(PollHandle, PollAffinity). At most DISPATCH. Iterations
 * queued from now on run on that processor, at PASSIVE as at DISPATCH; one already
 * queued keeps the processor it had (the page: one more iteration may run with the old
 * affinity). A processor the machine lacks is NdisSim_BadParameter.
 */
export function NdisSetPollAffinity(PollHandle: NDIS_HANDLE, PollAffinity: PROCESSOR_NUMBER): void {
  const ddi = 'NdisSetPollAffinity';
  const p = pollObject(PollHandle, ddi);
  const b = p.block;
  const n = b.ndis;
  n.verifier.irql(irql.NdisSetPollAffinity, ddi, b.name);
  const cpus = n.kernel.cpuCount;
  const { Group, Number: cpu } = PollAffinity;
  if (Group !== 0 || !Number.isInteger(cpu) || cpu < 0 || cpu >= cpus) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: processor ${Group}:${cpu} does not exist (the machine has group 0 with ${cpus} processor(s))`,
    );
  }
  if (n.trace.on) n.traceDdi(ddi, b, { poll: p.id, Group, Number: cpu });
  p.affinity = cpu;
}

/** Queues the object's next iteration `extraNs` beyond the usual DPC or worker latency. */
function queue(n: Ndis, p: NdisPollObject, extraNs: number): void {
  const m = n.kernel.machine;
  // The callbackIrql option, or ChoiceSite.PollIrql with DISPATCH as answer 0.
  const at = n.lowOrDispatch(ChoiceSite.PollIrql, Irql.Dispatch);
  // One latency question whatever the IRQL, in DPC steps or worker steps: the questions
  // a run asks do not depend on its answers, which keeps shrinking and replay simple.
  const steps = 1 + m.choose(ChoiceSite.DpcLatency, latency.dpcSteps, p);
  const stepNs = steps * (at === Irql.Dispatch ? latency.dpcStepNs : latency.workerStepNs);
  p.irql = at;
  p.cpu = p.affinity >= 0 ? p.affinity : n.kernel.pickCpu(p);
  p.state = 'queued';
  p.ev = m.after(extraNs + stepNs, p, 0, null);
}

/** One iteration: NdisPoll, then NDIS indicates and completes what it got, then polls again or stops. */
function iterate(p: NdisPollObject): void {
  const b = p.block;
  const n = b.ndis;
  if (p.deregistered) return;
  p.state = 'running';
  p.again = false;
  p.iterations++;
  // The page lets NDIS set any limit: a driver that assumes one is found at 1.
  const tight = n.kernel.machine.choose(ChoiceSite.PollLimit, 2) === 1;
  const MaxNblsToIndicate = tight ? pollTightLimit : pollReceiveLimit;
  const MaxNblsToComplete = tight ? pollTightLimit : pollTransmitLimit;
  const PollData: NDIS_POLL_DATA = {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_POLL_DATA_REVISION_1 },
    Transmit: {
      MaxNblsToComplete,
      CompletedNblChain: null,
      NumberOfCompletedNbls: 0,
      NumberOfRemainingNbls: 0,
      SendCompleteFlags: 0,
    },
    Receive: {
      MaxNblsToIndicate,
      IndicatedNblChain: null,
      NumberOfIndicatedNbls: 0,
      NumberOfRemainingNbls: 0,
      Flags: 0,
    },
  };
  const at = n.kernel.ctx.irql;
  p.inCallback = 'NdisPoll';
  const f = n.enter(
    b,
    b.driver.name,
    'NdisPoll',
    at,
    n.trace.on ? { poll: p.id, MaxNblsToIndicate, MaxNblsToComplete } : undefined,
  );
  try {
    p.chars.PollHandler(p.context, PollData);
  } catch (e) {
    n.driverThrew(e, 'NdisPoll', b);
  } finally {
    p.inCallback = null;
  }
  const rx = PollData.Receive;
  const tx = PollData.Transmit;
  n.leave(
    f,
    n.trace.on
      ? `received ${countText(rx.NumberOfIndicatedNbls)}, completed ${countText(tx.NumberOfCompletedNbls)}`
      : undefined,
  );
  if (p.deregistered) return;
  // NDIS hands on what the driver gave it: send completions first, then receives.
  // Against the limits NDIS set, whatever the driver wrote over them.
  const sent = takeTransmit(n, p, tx, MaxNblsToComplete, at);
  const received = takeReceive(n, p, rx, MaxNblsToIndicate, at);
  if (p.deregistered || b.handleDead) return;
  if (sent + received > 0 || p.again) {
    queue(n, p, 0);
    return;
  }
  // No progress: NDIS stops polling and hands the interrupt back to the driver.
  p.state = 'idle';
  notify(n, p, at);
}

function countText(v: number): string {
  return v === NDIS_ANY_NUMBER_OF_NBLS ? 'NDIS_ANY_NUMBER_OF_NBLS' : String(v);
}

/** NdisSetPollNotification(Enabled TRUE), right after the iteration that made no progress. */
function notify(n: Ndis, p: NdisPollObject, at: number): void {
  const b = p.block;
  const Notification: NDIS_POLL_NOTIFICATION = {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_POLL_NOTIFICATION_REVISION_1 },
    Enabled: true,
  };
  p.inCallback = 'NdisSetPollNotification';
  const f = n.enter(
    b,
    b.driver.name,
    'NdisSetPollNotification',
    at,
    n.trace.on ? { poll: p.id, Enabled: true } : undefined,
  );
  let returned: unknown;
  try {
    returned = p.chars.SetPollNotificationHandler(p.context, Notification);
  } catch (e) {
    n.driverThrew(e, 'NdisSetPollNotification', b);
  } finally {
    p.inCallback = null;
  }
  n.leaveVoid(f, returned);
}

/**
 * The length of `chain` checked against the count the driver gave and the iteration's
 * limit (NdisSim_PollData); -1 when the chain loops.
 */
function checkChain(
  n: Ndis,
  p: NdisPollObject,
  chain: NET_BUFFER_LIST | null,
  declared: number,
  limit: number,
  what: string,
): number {
  const b = p.block;
  let k = 0;
  for (let x = chain; x !== null; x = x.Next) {
    if (++k > chainMax) {
      n.verifier.report(
        'NdisSim_PollData',
        'NdisPoll',
        b.name,
        `poll object #${p.id}: the ${what} chain loops back on itself`,
      );
      return -1;
    }
  }
  if (declared !== NDIS_ANY_NUMBER_OF_NBLS && declared !== k)
    n.verifier.report(
      'NdisSim_PollData',
      'NdisPoll',
      b.name,
      `poll object #${p.id}: the ${what} count says ${declared} but the chain has ${k} NBL(s) (set the count, or NDIS_ANY_NUMBER_OF_NBLS to let NDIS count)`,
    );
  if (limit !== NDIS_ANY_NUMBER_OF_NBLS && k > limit)
    n.verifier.report(
      'NdisSim_PollData',
      'NdisPoll',
      b.name,
      `poll object #${p.id}: ${k} ${what} NBL(s) in one iteration, above the ${limit} NDIS allowed (${what === 'receive' ? 'MaxNblsToIndicate' : 'MaxNblsToComplete'})`,
    );
  return k;
}

/** The sends the driver completed in the iteration, completed up the stack; how many. */
function takeTransmit(
  n: Ndis,
  p: NdisPollObject,
  tx: NDIS_POLL_TRANSMIT_DATA,
  limit: number,
  at: number,
): number {
  const chain = tx.CompletedNblChain;
  if (chain === null) return 0;
  const k = checkChain(n, p, chain, tx.NumberOfCompletedNbls, limit, 'transmit');
  if (k <= 0) return 0;
  let flags = tx.SendCompleteFlags;
  if ((flags & ~sendCompleteFlagsAllowed) !== 0) {
    n.verifier.report(
      'NdisSim_PollData',
      'NdisPoll',
      p.block.name,
      `poll object #${p.id}: SendCompleteFlags 0x${flags.toString(16)} has flags NDIS_POLL_TRANSMIT_DATA does not take (only SINGLE_QUEUE and SWITCH_SINGLE_SOURCE; NDIS sets DISPATCH_LEVEL itself)`,
    );
    flags &= sendCompleteFlagsAllowed;
  }
  if (n.trace.on) n.traceNdis(p.block, 'poll sends completed', { poll: p.id, count: k });
  p.completed += k;
  data.miniportSendComplete(
    n,
    p.block,
    chain,
    flags | (at === Irql.Dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0),
  );
  return k;
}

/** The NBLs the driver received in the iteration, indicated up the stack; how many. */
function takeReceive(
  n: Ndis,
  p: NdisPollObject,
  rx: NDIS_POLL_RECEIVE_DATA,
  limit: number,
  at: number,
): number {
  const chain = rx.IndicatedNblChain;
  if (chain === null) return 0;
  const k = checkChain(n, p, chain, rx.NumberOfIndicatedNbls, limit, 'receive');
  if (k <= 0) return 0;
  let flags = rx.Flags;
  if ((flags & ~receiveFlagsAllowed) !== 0) {
    n.verifier.report(
      'NdisSim_PollData',
      'NdisPoll',
      p.block.name,
      `poll object #${p.id}: receive Flags 0x${flags.toString(16)} has flags NDIS_POLL_RECEIVE_DATA does not take (no RESOURCES: NBLs indicated from a poll come back through MiniportReturnNetBufferLists; NDIS sets DISPATCH_LEVEL itself)`,
    );
    flags &= receiveFlagsAllowed;
  }
  if (n.trace.on) n.traceNdis(p.block, 'poll receives indicated', { poll: p.id, count: k });
  p.indicated += k;
  data.miniportIndicate(
    n,
    p.block,
    chain,
    0,
    k,
    flags | (at === Irql.Dispatch ? NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL : 0),
  );
  return k;
}

/**
 * When MiniportHaltEx, or a failing MiniportInitializeEx, returns: a poll object still
 * registered is NdisSim_PollNotDeregistered; NDIS drops it (no NdisPoll after this).
 */
export function pollsLeftAtEnd(n: Ndis, b: MiniportBlock, fn: string, how: string): void {
  const list = b.polls;
  if (list === null) return;
  b.polls = null;
  if (list.length === 0) return;
  for (const p of list) {
    drop(p);
    p.droppedByNdis = true;
  }
  n.verifier.report(
    'NdisSim_PollNotDeregistered',
    fn,
    b.name,
    `${fn} ${how} with ${list.length} poll object(s) still registered (${list.map((p) => `#${p.id}`).join(', ')}): the driver deregisters them (NdisDeregisterPoll) before its halt returns; NDIS drops them, and calls no NdisPoll after this`,
  );
}
