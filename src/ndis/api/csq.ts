// Cancel-safe IRP queues (wdm.h's IoCsqXxx): the I/O manager's library that makes a
// driver's own queue of IRPs cancelable without the driver writing a Cancel routine.
// The driver keeps the queue and its lock and gives the library six routines; the
// library sets and clears the IRPs' Cancel routine under that lock, and hands a
// cancelled IRP back to the driver (CsqCompleteCanceledIrp) to complete. Sources: the
// IoCsqInitialize, IoCsqInitializeEx, IoCsqInsertIrp, IoCsqInsertIrpEx, IoCsqRemoveIrp
// and IoCsqRemoveNextIrp pages, and "Cancel-Safe IRP Queues" (docs/model.md).
//
// In C the driver embeds IO_CSQ in its device extension and finds the extension from
// it with CONTAINING_RECORD; here its routines close over what they need. The library
// keeps its per-IRP state (DriverContext[3] in C) in the model's record of the request.

import { ntStatusName } from '../../report/format.ts';
import {
  describeRequest,
  dropCancelLock,
  type IoRequest,
  ioRequestOf,
  isNtStatus,
  notAStatus,
} from '../device.ts';
import { STATUS_SUCCESS } from '../generated/status.ts';
import { NT_SUCCESS } from '../macros.ts';
import { isAsync, type Ndis, notResumable } from '../ndis.ts';
import { isResumable } from '../resumable.ts';
import type { DEVICE_OBJECT, DISPATCH_IO_STACK_LOCATION, IRP, NTSTATUS } from '../types.ts';
import { currentNdis } from './common.ts';
import { atMostDispatch, requestOf } from './device.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

/** VOID CsqInsertIrp(Csq, Irp): puts the IRP in the driver's queue (the lock is held). */
export type IO_CSQ_INSERT_IRP = (Csq: IO_CSQ, Irp: Irp) => void;
/** NTSTATUS CsqInsertIrpEx(Csq, Irp, InsertContext): the same, and may refuse the IRP with an error status. */
export type IO_CSQ_INSERT_IRP_EX = (Csq: IO_CSQ, Irp: Irp, InsertContext: unknown) => NTSTATUS;
/** VOID CsqRemoveIrp(Csq, Irp): takes the IRP out of the driver's queue (the lock is held). */
export type IO_CSQ_REMOVE_IRP = (Csq: IO_CSQ, Irp: Irp) => void;
/**
 * PIRP CsqPeekNextIrp(Csq, Irp, PeekContext): the first IRP after `Irp` (NULL: from the
 * head) that matches PeekContext, as the driver defines matching; NULL for none. The
 * lock is held.
 */
export type IO_CSQ_PEEK_NEXT_IRP = (Csq: IO_CSQ, Irp: Irp | null, PeekContext: unknown) => Irp | null;
/** VOID CsqAcquireLock(Csq, *Irql): takes the queue's lock; returns the IRQL the release goes back to (the out-parameter). */
export type IO_CSQ_ACQUIRE_LOCK = (Csq: IO_CSQ) => number;
/** VOID CsqReleaseLock(Csq, Irql): lets the queue's lock go. */
export type IO_CSQ_RELEASE_LOCK = (Csq: IO_CSQ, Irql: number) => void;
/** VOID CsqCompleteCanceledIrp(Csq, Irp): completes a cancelled IRP (STATUS_CANCELLED), outside the lock. */
export type IO_CSQ_COMPLETE_CANCELED_IRP = (Csq: IO_CSQ, Irp: Irp) => void;

interface Routines {
  insert: IO_CSQ_INSERT_IRP | null;
  insertEx: IO_CSQ_INSERT_IRP_EX | null;
  remove: IO_CSQ_REMOVE_IRP;
  peek: IO_CSQ_PEEK_NEXT_IRP;
  acquire: IO_CSQ_ACQUIRE_LOCK;
  release: IO_CSQ_RELEASE_LOCK;
  completeCanceled: IO_CSQ_COMPLETE_CANCELED_IRP;
}

/** IO_CSQ: a cancel-safe queue's dispatch table. `new IO_CSQ()`, then IoCsqInitialize. */
export class IO_CSQ {
  /** Set by IoCsqInitialize or IoCsqInitializeEx. */
  _routines: Routines | null = null;
}

/**
 * IO_CSQ_IRP_CONTEXT: names one queued IRP for IoCsqRemoveIrp. IoCsqInsertIrp fills it
 * in; `Irp` goes back to NULL when the IRP leaves the queue (removed or cancelled).
 */
export class IO_CSQ_IRP_CONTEXT {
  Irp: Irp | null = null;
  Csq: IO_CSQ | null = null;
}

/** What the library keeps with a queued IRP: its queue and its context. */
export interface CsqEntry {
  csq: IO_CSQ;
  context: IO_CSQ_IRP_CONTEXT | null;
}

function routinesOf(n: Ndis, Csq: unknown, ddi: string): Routines {
  const r = Csq instanceof IO_CSQ ? Csq._routines : null;
  if (r !== null) return r;
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    Csq instanceof IO_CSQ
      ? `${ddi}: the IO_CSQ was not initialized (IoCsqInitialize or IoCsqInitializeEx first)`
      : `${ddi}: Csq is not an IO_CSQ`,
  );
}

/** Runs one of the driver's queue routines as driver code: a frame of its own in the trace. */
function callRoutine<T>(n: Ndis, name: string, body: () => T): T {
  const ctx = n.kernel.ctx;
  const f = n.enter(null, ctx.who, name, ctx.irql);
  let r: T;
  try {
    r = body();
  } catch (e) {
    n.driverThrew(e, name, null);
  }
  // A queue routine written as a generator function ran none of its body.
  if (typeof r === 'object' && r !== null && isResumable(r)) notResumable(name);
  // An async routine's Promise is NdisSim_CallbackReturnValue (R8.1); what else it
  // returns (PeekNextIrp's IRP, InsertIrpEx's NTSTATUS) its caller reads.
  n.leave(f, r !== undefined && isAsync(r) ? r : undefined, true);
  return r;
}

/**
 * The driver's lock routines run inside the library's call, with no frame: they take and
 * keep a lock, by design. The lock is held from CsqAcquireLock to CsqReleaseLock.
 */
interface Locked {
  irql: number;
  /** The caller's IRQL and the locks it held before CsqAcquireLock. */
  callerIrql: number;
  held: number;
}

function lockQueue(n: Ndis, csq: IO_CSQ, r: Routines): Locked {
  const ctx = n.kernel.ctx;
  const callerIrql = ctx.irql;
  const held = ctx.held.length;
  try {
    return { irql: r.acquire(csq), callerIrql, held };
  } catch (e) {
    n.driverThrew(e, 'CsqAcquireLock', null);
  }
}

/**
 * CsqReleaseLock lets go what CsqAcquireLock took. One that leaves a spin lock held
 * (it releases another lock, or none) is SpinLockBalanced here, naming the pair, and
 * the lock goes so that the run can go on: otherwise the dispatch routine, a Cancel
 * routine and IoCompleteRequest would each be blamed for a lock they never took.
 */
function unlockQueue(n: Ndis, csq: IO_CSQ, r: Routines, locked: Locked): void {
  try {
    r.release(csq, locked.irql);
  } catch (e) {
    n.driverThrew(e, 'CsqReleaseLock', null);
  }
  const ctx = n.kernel.ctx;
  if (ctx.held.length > locked.held) {
    const left = ctx.held.length - locked.held;
    for (let i = locked.held; i < ctx.held.length; i++) ctx.held[i]!.owner = null;
    ctx.held.length = locked.held;
    ctx.irql = locked.callerIrql;
    n.verifier.report(
      'SpinLockBalanced',
      'CsqReleaseLock',
      n.runningAdapterName(),
      `CsqReleaseLock returned with ${left} spin lock(s) still held that CsqAcquireLock took (R8.10): the cancel-safe queue's two lock routines are a pair, CsqReleaseLock releasing the lock CsqAcquireLock acquired (cancel-safe-irp-queues)`,
    );
  }
}

function initialize(
  ddi: string,
  Csq: IO_CSQ,
  insert: IO_CSQ_INSERT_IRP | null,
  insertEx: IO_CSQ_INSERT_IRP_EX | null,
  rest: Omit<Routines, 'insert' | 'insertEx'>,
): NTSTATUS {
  const n = currentNdis(ddi);
  atMostDispatch(n, ddi);
  if (!(Csq instanceof IO_CSQ))
    return n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: Csq is not an IO_CSQ (new IO_CSQ())`);
  const given: [string, unknown][] = [
    [insertEx === null ? 'CsqInsertIrp' : 'CsqInsertIrpEx', insertEx ?? insert],
    ['CsqRemoveIrp', rest.remove],
    ['CsqPeekNextIrp', rest.peek],
    ['CsqAcquireLock', rest.acquire],
    ['CsqReleaseLock', rest.release],
    ['CsqCompleteCanceledIrp', rest.completeCanceled],
  ];
  const missing = given.filter(([, f]) => typeof f !== 'function').map(([name]) => name);
  if (missing.length > 0)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: ${missing.join(', ')} is not a routine`,
    );
  Csq._routines = { insert, insertEx, ...rest };
  if (n.trace.on) n.traceDdi(ddi, null, {});
  return STATUS_SUCCESS;
}

/**
 * NTSTATUS IoCsqInitialize(Csq, CsqInsertIrp, CsqRemoveIrp, CsqPeekNextIrp,
 * CsqAcquireLock, CsqReleaseLock, CsqCompleteCanceledIrp). <= DISPATCH. Gives the queue
 * its routines; STATUS_SUCCESS.
 */
export function IoCsqInitialize(
  Csq: IO_CSQ,
  CsqInsertIrp: IO_CSQ_INSERT_IRP,
  CsqRemoveIrp: IO_CSQ_REMOVE_IRP,
  CsqPeekNextIrp: IO_CSQ_PEEK_NEXT_IRP,
  CsqAcquireLock: IO_CSQ_ACQUIRE_LOCK,
  CsqReleaseLock: IO_CSQ_RELEASE_LOCK,
  CsqCompleteCanceledIrp: IO_CSQ_COMPLETE_CANCELED_IRP,
): NTSTATUS {
  return initialize('IoCsqInitialize', Csq, CsqInsertIrp, null, {
    remove: CsqRemoveIrp,
    peek: CsqPeekNextIrp,
    acquire: CsqAcquireLock,
    release: CsqReleaseLock,
    completeCanceled: CsqCompleteCanceledIrp,
  });
}

/** NTSTATUS IoCsqInitializeEx(Csq, CsqInsertIrpEx, …): as IoCsqInitialize, with an insert routine that may refuse. */
export function IoCsqInitializeEx(
  Csq: IO_CSQ,
  CsqInsertIrpEx: IO_CSQ_INSERT_IRP_EX,
  CsqRemoveIrp: IO_CSQ_REMOVE_IRP,
  CsqPeekNextIrp: IO_CSQ_PEEK_NEXT_IRP,
  CsqAcquireLock: IO_CSQ_ACQUIRE_LOCK,
  CsqReleaseLock: IO_CSQ_RELEASE_LOCK,
  CsqCompleteCanceledIrp: IO_CSQ_COMPLETE_CANCELED_IRP,
): NTSTATUS {
  return initialize('IoCsqInitializeEx', Csq, null, CsqInsertIrpEx, {
    remove: CsqRemoveIrp,
    peek: CsqPeekNextIrp,
    acquire: CsqAcquireLock,
    release: CsqReleaseLock,
    completeCanceled: CsqCompleteCanceledIrp,
  });
}

/**
 * The Cancel routine the library gives every IRP it queues. IoCancelIrp calls it at
 * DISPATCH_LEVEL holding the cancel spin lock: it lets that go, takes the IRP out of
 * the driver's queue under the queue's lock, and hands it to CsqCompleteCanceledIrp.
 * One function for every queue (no closure kept per IRP): the queue is in the request.
 */
function csqCancel(_DeviceObject: DEVICE_OBJECT, Irp: Irp): void {
  const n = currentNdis('IoCancelIrp');
  const r = ioRequestOf(Irp)!;
  const entry = r.csq!;
  const routines = entry.csq._routines!;
  dropCancelLock(n, Irp.CancelIrql);
  const locked = lockQueue(n, entry.csq, routines);
  callRoutine(n, 'CsqRemoveIrp', () => routines.remove(entry.csq, Irp));
  dequeued(r);
  unlockQueue(n, entry.csq, routines, locked);
  callRoutine(n, 'CsqCompleteCanceledIrp', () => routines.completeCanceled(entry.csq, Irp));
}

/** The IRP left its queue: its context no longer names it. */
function dequeued(r: IoRequest): void {
  if (r.csq?.context) r.csq.context.Irp = null;
  r.csq = null;
}

function insert(
  ddi: string,
  Csq: IO_CSQ,
  Irp: Irp,
  Context: IO_CSQ_IRP_CONTEXT | null,
  InsertContext: unknown,
): NTSTATUS {
  const n = currentNdis(ddi);
  const routines = routinesOf(n, Csq, ddi);
  const r = requestOf(n, Irp, ddi);
  atMostDispatch(n, ddi);
  if (r.completed)
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      null,
      `${ddi} of an IRP of handle ${r.file.handle} that IoCompleteRequest completed already`,
    );
  if (r.csq !== null || r.cancelRoutine !== null)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: the IRP (of handle ${r.file.handle}) ${r.csq !== null ? 'is in a cancel-safe queue already' : 'has a Cancel routine of the driver set'}: an IRP is in one queue at a time, and the library sets its Cancel routine itself`,
    );
  if (Context !== null && !(Context instanceof IO_CSQ_IRP_CONTEXT))
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: Context is neither an IO_CSQ_IRP_CONTEXT nor NULL`,
    );
  const named = Context?.Irp ? ioRequestOf(Context.Irp) : undefined;
  if (named !== undefined && named.csq?.context === Context)
    // The library would point the context at the new IRP; when the first leaves the
    // queue it clears the context, and IoCsqRemoveIrp loses the second (nf-wdm-iocsqinsertirp:
    // the context describes the IRP inserted with it).
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: Context still names an IRP in a cancel-safe queue (of handle ${named.file.handle}, ${describeRequest(named)}): each queued IRP needs an IO_CSQ_IRP_CONTEXT of its own until it leaves the queue (IoCsqRemoveIrp, IoCsqRemoveNextIrp or a cancel clears Context->Irp)`,
    );
  if (n.trace.on) n.traceDdi(ddi, null, { handle: r.file.handle, cancelled: Irp.Cancel });
  const locked = lockQueue(n, Csq, routines);
  if (Irp.Cancel) {
    // Cancelled before it was queued: not inserted, and completed as cancelled.
    if (!r.markedPending) r.markedByCsq = ddi;
    r.markedPending = true;
    unlockQueue(n, Csq, routines, locked);
    callRoutine(n, 'CsqCompleteCanceledIrp', () => routines.completeCanceled(Csq, Irp));
    return STATUS_SUCCESS;
  }
  let status: NTSTATUS = STATUS_SUCCESS;
  if (routines.insertEx !== null) {
    const insertEx = routines.insertEx;
    status = callRoutine(n, 'CsqInsertIrpEx', () => insertEx(Csq, Irp, InsertContext));
    if (!isNtStatus(status)) {
      unlockQueue(n, Csq, routines, locked);
      notAStatus(n, 'CsqInsertIrpEx', 'returned', status);
    }
    if (!NT_SUCCESS(status)) {
      unlockQueue(n, Csq, routines, locked);
      if (ddi === 'IoCsqInsertIrp')
        // VOID: the dispatch routine cannot learn that the IRP was neither queued nor
        // completed, and would return STATUS_PENDING for an IRP nobody holds.
        return n.verifier.fatal(
          'NdisSim_BadParameter',
          'CsqInsertIrpEx',
          null,
          `CsqInsertIrpEx refused an IRP of handle ${r.file.handle} (${describeRequest(r)}) with ${ntStatusName(status)} under IoCsqInsertIrp, which returns nothing: the caller cannot know the IRP was not queued, and nobody would complete it. Insert with IoCsqInsertIrpEx, which returns the status, and complete a refused IRP (cancel-safe-irp-queues)`,
        );
      return status;
    }
  } else {
    const insertIrp = routines.insert!;
    callRoutine(n, 'CsqInsertIrp', () => insertIrp(Csq, Irp));
  }
  if (!r.markedPending) r.markedByCsq = ddi;
  r.markedPending = true;
  r.csq = { csq: Csq, context: Context };
  if (Context !== null) {
    Context.Irp = Irp;
    Context.Csq = Csq;
  }
  r.cancelRoutine = csqCancel;
  unlockQueue(n, Csq, routines, locked);
  return status;
}

/**
 * VOID IoCsqInsertIrp(Csq, Irp, Context). <= DISPATCH. Under the queue's lock: the
 * driver's CsqInsertIrp queues the IRP, the library marks it pending and makes it
 * cancelable; `Context` (or NULL) then names it for IoCsqRemoveIrp. An IRP cancelled
 * already is not queued: it goes to CsqCompleteCanceledIrp. The dispatch routine
 * returns STATUS_PENDING either way.
 */
export function IoCsqInsertIrp(Csq: IO_CSQ, Irp: Irp, Context: IO_CSQ_IRP_CONTEXT | null): void {
  insert('IoCsqInsertIrp', Csq, Irp, Context, null);
}

/**
 * NTSTATUS IoCsqInsertIrpEx(Csq, Irp, Context, InsertContext). As IoCsqInsertIrp; with a
 * queue from IoCsqInitializeEx, CsqInsertIrpEx gets InsertContext, and an error status
 * it returns leaves the IRP out of the queue, not pending, for the caller to complete.
 * STATUS_SUCCESS otherwise.
 */
export function IoCsqInsertIrpEx(
  Csq: IO_CSQ,
  Irp: Irp,
  Context: IO_CSQ_IRP_CONTEXT | null,
  InsertContext: unknown,
): NTSTATUS {
  return insert('IoCsqInsertIrpEx', Csq, Irp, Context, InsertContext);
}

/**
 * PIRP IoCsqRemoveNextIrp(Csq, PeekContext). <= DISPATCH. Under the queue's lock, the
 * first IRP CsqPeekNextIrp finds for PeekContext whose cancellation is not under way:
 * its Cancel routine cleared, CsqRemoveIrp takes it out, and the caller owns it. NULL
 * when there is none.
 */
export function IoCsqRemoveNextIrp(Csq: IO_CSQ, PeekContext: unknown): Irp | null {
  const ddi = 'IoCsqRemoveNextIrp';
  const n = currentNdis(ddi);
  const routines = routinesOf(n, Csq, ddi);
  atMostDispatch(n, ddi);
  const locked = lockQueue(n, Csq, routines);
  let found: Irp | null = null;
  let after: Irp | null = null;
  // The driver's queue is finite: an IRP that comes round again means a peek routine
  // that does not move on.
  const seen = new Set<Irp>();
  for (;;) {
    const from: Irp | null = after;
    const next: Irp | null = callRoutine(n, 'CsqPeekNextIrp', () => routines.peek(Csq, from, PeekContext));
    if (next === null) break;
    if (seen.has(next)) {
      unlockQueue(n, Csq, routines, locked);
      return n.verifier.fatal(
        'NdisSim_BadParameter',
        'CsqPeekNextIrp',
        null,
        `CsqPeekNextIrp returned an IRP it had returned already in this ${ddi}: given an IRP, it returns the one after it in the queue (or NULL at the end)`,
      );
    }
    seen.add(next);
    const r = requestOf(n, next, 'CsqPeekNextIrp');
    if (r.completed) {
      // Freed: in C the walk would read a completed IRP. CsqRemoveIrp (called when the
      // IRP left the queue: removed, or cancelled) did not take it out of the list.
      unlockQueue(n, Csq, routines, locked);
      return n.verifier.fatal(
        'NdisSim_ObjectFreedInUse',
        'CsqPeekNextIrp',
        null,
        `CsqPeekNextIrp returned an IRP (of handle ${r.file.handle}, ${describeRequest(r)}) that IoCompleteRequest completed already: the driver's queue still holds it, so its CsqRemoveIrp did not take out the IRP it was given when the IRP left the queue (removed or cancelled)`,
      );
    }
    if (r.csq === null || r.csq.csq !== Csq || r.cancelRoutine === null) {
      // Not in this queue, or IoCancelIrp has taken its Cancel routine: the Cancel
      // routine is on its way to take it out. Leave it.
      after = next;
      continue;
    }
    r.cancelRoutine = null;
    callRoutine(n, 'CsqRemoveIrp', () => routines.remove(Csq, next));
    dequeued(r);
    found = next;
    break;
  }
  unlockQueue(n, Csq, routines, locked);
  if (n.trace.on)
    n.traceDdi(ddi, null, { result: found === null ? 'NULL' : ioRequestOf(found)!.file.handle });
  return found;
}

/**
 * PIRP IoCsqRemoveIrp(Csq, Context). <= DISPATCH. The IRP `Context` names, taken out of
 * the queue (Cancel routine cleared, CsqRemoveIrp), or NULL if it has left the queue
 * or its cancellation is under way.
 */
export function IoCsqRemoveIrp(Csq: IO_CSQ, Context: IO_CSQ_IRP_CONTEXT): Irp | null {
  const ddi = 'IoCsqRemoveIrp';
  const n = currentNdis(ddi);
  const routines = routinesOf(n, Csq, ddi);
  atMostDispatch(n, ddi);
  if (!(Context instanceof IO_CSQ_IRP_CONTEXT))
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: Context is not an IO_CSQ_IRP_CONTEXT`,
    );
  if (Context.Irp !== null && Context.Csq !== Csq && ioRequestOf(Context.Irp)?.csq?.context === Context)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: Context names an IRP that IoCsqInsertIrp put in another IO_CSQ: give IoCsqRemoveIrp the queue the IRP was inserted in (in C its CsqRemoveIrp would unlink the IRP from the wrong list)`,
    );
  const locked = lockQueue(n, Csq, routines);
  let irp = Context.Irp;
  if (irp !== null) {
    const r = ioRequestOf(irp)!;
    if (r.cancelRoutine !== null && r.csq?.csq === Csq) {
      r.cancelRoutine = null;
      const taken = irp;
      callRoutine(n, 'CsqRemoveIrp', () => routines.remove(Csq, taken));
      dequeued(r);
    } else irp = null;
  }
  unlockQueue(n, Csq, routines, locked);
  if (n.trace.on) n.traceDdi(ddi, null, { result: irp === null ? 'NULL' : ioRequestOf(irp)!.file.handle });
  return irp;
}
