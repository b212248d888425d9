// NDIS events (R8.12): NdisInitializeEvent, NdisSetEvent, NdisResetEvent, NdisWaitEvent.
//
// An NDIS_EVENT is a notification event in storage the driver owns: once set it stays
// set, releasing every waiter, until NdisResetEvent. NdisWaitEvent blocks its thread
// the way NdisMSleep does: the model runs other threads' events inside the wait, and
// the wait ends after the event that set it, or when its time runs out. A thread that
// waits beneath another wait resumes only when that one ends (docs/model.md, "Blocking
// waits"), which the run reports as lateness of the model, not of the driver.

import { NotModelledError } from '../../errors.ts';
import { Irql } from '../../kernel/kernel.ts';
import { limits } from '../../sim/limits.ts';
import { ddiIrql } from '../generated/irql.ts';
import type { Ndis } from '../ndis.ts';
import type { ResumableThread } from '../resumable.ts';
import { currentNdis } from './common.ts';

const irql = {
  NdisInitializeEvent: ddiIrql.NdisInitializeEvent!,
  NdisSetEvent: ddiIrql.NdisSetEvent!,
  NdisResetEvent: ddiIrql.NdisResetEvent!,
  NdisWaitEvent: ddiIrql.NdisWaitEvent!,
};

/**
 * NDIS_EVENT: storage the driver owns, initialised by NdisInitializeEvent, as in C
 * (`NDIS_EVENT Event; NdisInitializeEvent(&Event);`).
 */
export class NDIS_EVENT {
  /**
   * Its members are internal, left out of the package's declarations (stripInternal): this
   * private one keeps the declared class nominal, so another object is not one (T11).
   */
  declare private readonly kind: 'NDIS_EVENT';
  /** @internal False until NdisInitializeEvent. */
  _initialized = false;
  /** @internal */
  _signaled = false;
  /** @internal The threads blocked on it, innermost last. */
  readonly _waiters: Waiter[] = [];
}

/** One NdisWaitEvent under way. */
export interface Waiter {
  /** When its time runs out, ns (infinite for MsToWait 0). */
  readonly wakeNs: number;
  /** When the event was set for it (-1 until then): from then on it is due to run. */
  setAtNs: number;
  /** Its place among the blocking waits under way (Ndis.beginWait); -1 for a resumable routine's. */
  slot: number;
  /** The resumable routine set aside in this wait, or null for a nested wait. */
  thread?: ResumableThread;
}

function event(n: Ndis, e: NDIS_EVENT, ddi: string): NDIS_EVENT {
  if (!(e instanceof NDIS_EVENT) || !e._initialized)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: not an NDIS_EVENT initialized by NdisInitializeEvent`,
    );
  return e;
}

/** VOID NdisInitializeEvent(Event). The event starts not signaled. */
export function NdisInitializeEvent(Event: NDIS_EVENT): void {
  const ddi = 'NdisInitializeEvent';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisInitializeEvent, ddi, null);
  if (!(Event instanceof NDIS_EVENT))
    n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: Event is not an NDIS_EVENT`);
  Event._initialized = true;
  Event._signaled = false;
  if (n.trace.on) n.traceDdi(ddi, null, {});
}

/** VOID NdisSetEvent(Event). <= DISPATCH. Every waiter is released; the event stays set. */
export function NdisSetEvent(Event: NDIS_EVENT): void {
  const ddi = 'NdisSetEvent';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisSetEvent, ddi, null);
  const e = event(n, Event, ddi);
  e._signaled = true;
  // Each waiter whose time has not yet run out is satisfied now, even if the event is
  // reset before the thread gets to run (a notification event releases them all).
  for (const w of e._waiters)
    if (w.setAtNs < 0 && n.now <= w.wakeNs) {
      w.setAtNs = n.now;
      if (w.thread !== undefined) w.thread.eventSet();
      else n.waitSatisfied(w.slot);
    }
  if (n.trace.on) n.traceDdi(ddi, null, {});
}

/** VOID NdisResetEvent(Event). <= DISPATCH. The event is not signaled again. */
export function NdisResetEvent(Event: NDIS_EVENT): void {
  const ddi = 'NdisResetEvent';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisResetEvent, ddi, null);
  event(n, Event, ddi)._signaled = false;
  if (n.trace.on) n.traceDdi(ddi, null, {});
}

/**
 * BOOLEAN NdisWaitEvent(Event, MsToWait). PASSIVE. Returns TRUE at once if the event is
 * set; otherwise blocks until it is set (TRUE) or MsToWait milliseconds pass (FALSE).
 * MsToWait 0 waits for as long as it takes.
 */
export function NdisWaitEvent(Event: NDIS_EVENT, MsToWait: number): boolean {
  const ddi = 'NdisWaitEvent';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisWaitEvent, ddi, null);
  const e = event(n, Event, ddi);
  if (!Number.isInteger(MsToWait) || MsToWait < 0 || MsToWait > 0xffffffff)
    n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: MsToWait must be a UINT, got ${MsToWait}`);
  if (e._signaled) {
    if (n.trace.on) n.traceDdi(ddi, null, { MsToWait, result: true });
    return true;
  }
  if (n.kernel.ctx.irql === Irql.Passive) {
    // R4.13: a reset may wait 50 µs at most, and this one waits a millisecond or more.
    const b = n.insideCallbackOf('MiniportResetEx');
    if (b !== null)
      n.verifier.report(
        'NdisSim_ResetBlocks',
        ddi,
        b.name,
        `${ddi} on an event not yet set, inside MiniportResetEx: a reset that must wait sets a timer, returns NDIS_STATUS_PENDING and calls NdisMResetComplete (R4.13)`,
      );
  }
  const machine = n.kernel.machine;
  const wake = MsToWait === 0 ? Number.POSITIVE_INFINITY : n.now + MsToWait * 1_000_000;
  const t = n.resumableHere();
  if (t !== null) {
    // A resumable routine's wait is set aside when it yields (src/ndis/resumable.ts).
    if (n.trace.on)
      n.traceDdi(ddi, null, {
        MsToWait,
        thread: t.id,
        routine: t.describe(),
        ...(wake === Number.POSITIVE_INFINITY ? {} : { until: wake }),
      });
    n.resumablePending = { ddi, wakeNs: wake, event: e };
    return false;
  }
  if (wake === Number.POSITIVE_INFINITY && machine.waitsFull)
    throw new NotModelledError(
      ddi,
      `a wait without a time limit ${limits.waitNestingMax} waits deep: the model runs waits one inside another and runs no other thread at that depth (limits.waitNestingMax)`,
    );
  if (n.trace.on) n.traceDdi(ddi, null, { MsToWait });
  let due = n.checkCallbackWatchdog();
  const me: Waiter = { wakeNs: wake, setAtNs: -1, slot: n.beginWait(wake, ddi) };
  const set = (): boolean => me.setAtNs >= 0;
  e._waiters.push(me);
  let result = false;
  try {
    // Driver Verifier's OID timers and NDIS's watchdogs fire while this thread waits (R6.6, R2.13).
    for (;;) {
      if (machine.waitUntil(Math.min(due, wake), set)) {
        result = true;
        break;
      }
      // A run stopped under this wait (a livelock) runs nothing more: no event can end it.
      if (n.now >= wake || machine.stopped !== null) break;
      due = n.checkCallbackWatchdog();
    }
  } finally {
    e._waiters.splice(e._waiters.indexOf(me), 1);
    if (me.setAtNs >= 0) result = true;
    n.endWait(result);
  }
  // The thread goes on below DISPATCH: its CPU's queued DPCs run first (docs/model.md).
  n.kernel.resumeBelowDispatch();
  n.checkCallbackWatchdog();
  return result;
}
