// The NBL data path through NDIS (06-oid-datapath.md): protocol sends down to
// MiniportSendNetBufferLists and completions back up; miniport receive
// indications up to protocols and returns back down. NDIS tracks where every
// NBL is, which is how completion exactly once and return exactly once are checked.

import { assert } from '../errors.ts';
import { Irql } from '../kernel/kernel.ts';
import type { EventTarget } from '../sim/queue.ts';
import type { Binding } from './binding.ts';
import type { MiniportBlock } from './block.ts';
import {
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_IN_PROGRESS,
} from './generated/status.ts';
import { NblImpl, type NET_BUFFER_LIST } from './nbl.ts';
import type { Ndis } from './ndis.ts';
import { notAcceptedExpected, ruleParams } from './oid.ts';
import { ssHoldSend } from './ss.ts';

/** Data-path counters of an adapter, for the summary and the conservation checks. */
export interface DataStats {
  /** NBLs NDIS handed to MiniportSendNetBufferLists. */
  sent: number;
  /** NBLs the miniport completed with NdisMSendNetBufferListsComplete. */
  completed: number;
  /** NBLs sends NDIS completed itself without passing them down (reset, paused binding). */
  rejectedByNdis: number;
  /** NBLs indicated without NDIS_RECEIVE_FLAGS_RESOURCES. */
  indicated: number;
  /** NBLs given back with MiniportReturnNetBufferLists. */
  returned: number;
  /** NBLs indicated with NDIS_RECEIVE_FLAGS_RESOURCES (back to the driver when the call returns). */
  indicatedWithResources: number;
  oidsRequested: number;
  oidsCompleted: number;
}

export function newDataStats(): DataStats {
  return {
    sent: 0,
    completed: 0,
    rejectedByNdis: 0,
    indicated: 0,
    returned: 0,
    indicatedWithResources: 0,
    oidsRequested: 0,
    oidsCompleted: 0,
  };
}

function receiving(bd: Binding): boolean {
  return bd.state === 'Running' || bd.state === 'Pausing';
}

// ------------------------------------------------------------------ sends

/** NdisSendNetBufferLists from a protocol binding (R4.7, R6.8). */
export function protocolSend(
  n: Ndis,
  bd: Binding,
  chain: NET_BUFFER_LIST,
  port: number,
  flags: number,
): void {
  const b = bd.block;
  let count = 0;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    assert(nbl._place === 'protocol', 'protocolSend: NBL not held by the protocol', nbl._id, nbl._place);
    nbl._binding = bd;
    count++;
  }
  // R4.7 step 2: during a reset NDIS completes sends itself; a binding that is not
  // sending (paused, closing) gets them back as paused.
  const reject = b.resetInProgress
    ? NDIS_STATUS_RESET_IN_PROGRESS
    : bd.state !== 'Running' && bd.state !== 'Pausing'
      ? NDIS_STATUS_PAUSED
      : b.state === 'Halted' || b.state === 'Initializing' || b.state === 'Shutdown' || b.handleDead
        ? NDIS_STATUS_PAUSED
        : 0;
  if (reject !== 0) {
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = reject;
    b.data.rejectedByNdis += count;
    if (n.trace.on) n.traceNdis(b, 'send completed by NDIS', { count, status: reject });
    protocolSendComplete(n, bd, chain, 0);
    return;
  }
  // Selective suspend: activity, or held by NDIS while an idle notification is outstanding.
  if (b.ss !== null && ssHoldSend(n, b, bd, chain, port, flags)) return;
  const now = n.now;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    nbl._place = 'miniport-send';
    nbl._block = b;
    nbl._sinceNs = now;
    b.inFlight.add(nbl);
  }
  if (b.sendsOutstanding === 0) {
    b.sendsPendingSinceNs = now;
    watchSends(n, b);
  }
  b.sendsOutstanding += count;
  b.data.sent += count;
  assert(!b.handleDead, 'protocolSend: NDIS would call a halted miniport', b.name);
  const irql = n.kernel.ctx.irql;
  const sendFlags =
    irql === Irql.Dispatch ? flags | NDIS_SEND_FLAGS_DISPATCH_LEVEL : flags & ~NDIS_SEND_FLAGS_DISPATCH_LEVEL;
  const f = n.enter(b, b.driver.name, 'MiniportSendNetBufferLists', irql, n.trace.on ? { count } : undefined);
  try {
    b.driver.chars.SendNetBufferListsHandler(b.context, chain, port, sendFlags);
  } catch (e) {
    n.driverThrew(e, 'MiniportSendNetBufferLists', b);
  }
  n.leave(f, undefined);
}

/** NdisMSendNetBufferListsComplete (R6.9). Checked NBL by NBL; bad ones are reported and skipped. */
export function miniportSendComplete(
  n: Ndis,
  b: MiniportBlock,
  chain: NET_BUFFER_LIST | null,
  flags: number,
): void {
  const ddi = 'NdisMSendNetBufferListsComplete';
  checkDispatchFlag(n, b, ddi, flags, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
  // Group the good NBLs per binding, keeping their order.
  let groups: Map<Binding, { head: NblImpl; tail: NblImpl }> | null = null;
  let single: Binding | null = null;
  let head: NblImpl | null = null;
  let tail: NblImpl | null = null;
  let done = 0;
  const late = b.removalNotified;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
    const next: NET_BUFFER_LIST | null = x.Next;
    const nbl = x as NblImpl;
    if (!(x instanceof NblImpl) || nbl._place !== 'miniport-send' || nbl._block !== b) {
      n.verifier.report(
        'NdisSim_SendCompleteUnexpected',
        ddi,
        b.name,
        x instanceof NblImpl
          ? `NBL #${nbl._id} completed but it was not a send pending on ${b.name} (${nbl._place === 'protocol' ? 'completed twice' : nbl._place}) (R6.9)`
          : 'completed something that is not an NBL NDIS passed down (R6.9)',
      );
      x = next;
      continue;
    }
    if (nbl.Status === NDIS_STATUS_PENDING) {
      n.verifier.report(
        'NdisSim_SendCompleteUnexpected',
        ddi,
        b.name,
        `NBL #${nbl._id} completed with NDIS_STATUS_PENDING (R6.9)`,
      );
    }
    if (late !== null) notAcceptedCheck(n, b, late, nbl, ddi);
    nbl._place = 'protocol';
    nbl._block = null;
    nbl.Next = null;
    b.inFlight.delete(nbl);
    done++;
    const bd = nbl._binding!;
    if (single === null && groups === null) single = bd;
    if (groups === null && bd === single) {
      if (tail === null) head = nbl;
      else tail.Next = nbl;
      tail = nbl;
    } else {
      if (groups === null) {
        groups = new Map();
        groups.set(single!, { head: head!, tail: tail! });
      }
      const g = groups.get(bd);
      if (g === undefined) groups.set(bd, { head: nbl, tail: nbl });
      else {
        g.tail.Next = nbl;
        g.tail = nbl;
      }
    }
    x = next;
  }
  b.sendsOutstanding -= done;
  b.data.completed += done;
  if (b.ss !== null) b.ss.lastActivityNs = n.now;
  if (done > 0) b.lastSendCompletionNs = n.now;
  if (n.trace.on) n.traceNdis(b, 'sends completed', { count: done });
  const upFlags = n.kernel.ctx.irql === Irql.Dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0;
  if (groups !== null) for (const [bd, g] of groups) protocolSendComplete(n, bd, g.head, upFlags);
  else if (single !== null && head !== null) protocolSendComplete(n, single, head, upFlags);
  if (b.sendsOutstanding === 0 && b.op !== null) n.kick(b);
}

function protocolSendComplete(n: Ndis, bd: Binding, chain: NET_BUFFER_LIST, flags: number): void {
  const f = n.enter(bd.block, bd.protocol.name, 'ProtocolSendNetBufferListsComplete', n.kernel.ctx.irql);
  try {
    bd.protocol.ProtocolSendNetBufferListsComplete(bd, chain, flags);
  } catch (e) {
    n.driverThrew(e, 'ProtocolSendNetBufferListsComplete', bd.block);
  }
  n.leave(f, undefined);
}

/** NdisCancelSendNetBufferLists → MiniportCancelSend (R6.10). */
export function protocolCancelSend(n: Ndis, bd: Binding, cancelId: unknown): void {
  const b = bd.block;
  if (b.handleDead || b.state === 'Halted') return;
  const f = n.enter(b, b.driver.name, 'MiniportCancelSend', n.kernel.ctx.irql);
  try {
    b.driver.chars.CancelSendHandler(b.context, cancelId);
  } catch (e) {
    n.driverThrew(e, 'MiniportCancelSend', b);
  }
  n.leave(f, undefined);
}

// ----------------------------------- Driver Verifier's send time-outs

/** NdisTimedDataSend (30 s per NBL) and NdisTimedDataHang (22 s without a completion), R6.11. */
export const sendTimeLimitNs = 30_000_000_000;
export const sendHangLimitNs = 22_000_000_000;
const watchPeriodNs = 1_000_000_000;

/** Checks an adapter's sends once a second of virtual time while some are out. */
export class SendWatch implements EventTarget {
  armed = false;
  /** The hang episode already reported (by its start time), so it is reported once. */
  reportedHangSinceNs = -1;
  constructor(
    readonly ndis: Ndis,
    readonly block: MiniportBlock,
  ) {}

  fire(): void {
    const n = this.ndis;
    const b = this.block;
    this.armed = false;
    if (b.sendsOutstanding === 0 || b.handleDead || n.verifier.mode === 'off') return;
    const now = n.now;
    const k = n.kernel;
    const c = k.enter(0, Irql.Dispatch, 'verifier', 'dpc');
    try {
      const oldest = b.inFlight.values().next().value;
      if (oldest !== undefined && now - oldest._sinceNs >= sendTimeLimitNs && !oldest._timedOut) {
        oldest._timedOut = true;
        n.verifier.report(
          'NdisTimedDataSend',
          'MiniportSendNetBufferLists',
          b.name,
          `NBL #${oldest._id} not completed within 30 s (R6.11)`,
          ruleParams('a sent NBL is not completed within 30 s', b),
        );
      }
      const since = Math.max(b.lastSendCompletionNs, b.sendsPendingSinceNs);
      if (now - since >= sendHangLimitNs && this.reportedHangSinceNs !== since) {
        this.reportedHangSinceNs = since;
        n.verifier.report(
          'NdisTimedDataHang',
          'MiniportSendNetBufferLists',
          b.name,
          `${b.sendsOutstanding} send(s) pending and none completed for 22 s (R6.11)`,
          ruleParams('sends are pending and none completed for 22 s', b),
        );
      }
    } finally {
      k.exit(c);
    }
    if (b.sendsOutstanding > 0) watchSends(n, b);
  }
}

function watchSends(n: Ndis, b: MiniportBlock): void {
  if (b.sendWatch === null) b.sendWatch = new SendWatch(n, b);
  const w = b.sendWatch;
  if (w.armed || n.verifier.mode === 'off') return;
  w.armed = true;
  n.kernel.machine.after(watchPeriodNs, w, 0, null);
}

// --------------------------------------------------------------- receives

/** NdisMIndicateReceiveNetBufferLists (R6.12–R6.15, R3.3, R1.7). */
export function miniportIndicate(
  n: Ndis,
  b: MiniportBlock,
  chain: NET_BUFFER_LIST | null,
  port: number,
  count: number,
  flags: number,
): void {
  const ddi = 'NdisMIndicateReceiveNetBufferLists';
  checkDispatchFlag(n, b, ddi, flags, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
  if (b.ss !== null) b.ss.lastActivityNs = n.now;
  // R1.7, R6.15: receives are legal in Running, in Restarting once MiniportRestart was
  // called, and while Pausing (drained before the pause completes, R3.3; option
  // receivesWhilePausing). In Paused (option receivesWhilePaused) a violation by default.
  const o = n.options;
  const allowed =
    b.state === 'Running' ||
    b.state === 'Restarting' ||
    (b.state === 'Pausing' && o.receivesWhilePausing === 'allowed');
  if (!allowed && !(b.state === 'Paused' && o.receivesWhilePaused === 'returned')) {
    n.verifier.report(
      'NdisSim_ReceiveNotAllowed',
      ddi,
      b.name,
      `receive indicated while the adapter is ${b.state} (R1.7, R6.15)`,
    );
  }
  let k = 0;
  let bad = false;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    if (++k > count && loops(chain)) {
      n.verifier.report(
        'NdisSim_ReceiveIndication',
        ddi,
        b.name,
        'the NBL chain loops back on itself: an NBL is linked twice (R6.12)',
      );
      return;
    }
    const nbl = x as NblImpl;
    if (!(x instanceof NblImpl) || nbl._place !== 'miniport') {
      bad = true;
      n.verifier.report(
        'NdisSim_ReceiveIndication',
        ddi,
        b.name,
        x instanceof NblImpl
          ? `NBL #${nbl._id} indicated while ${nbl._place === 'indicated' ? 'NDIS still holds it from an earlier indication' : `it is ${nbl._place}`} (R6.13)`
          : 'indicated something that is not an NBL from NdisAllocateNetBufferAndNetBufferList',
      );
    } else if (nbl.SourceHandle !== b) {
      n.verifier.report(
        'NdisSim_ReceiveIndication',
        ddi,
        b.name,
        `NBL #${nbl._id}: SourceHandle is not the adapter handle (R6.12)`,
      );
    }
  }
  if (k !== count) {
    n.verifier.report(
      'NdisSim_ReceiveIndication',
      ddi,
      b.name,
      `NumberOfNetBufferLists is ${count} but the chain has ${k} NBLs (R6.12)`,
    );
  }
  if (bad || chain === null) return;
  const resources = (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
  const targets = allowed ? b.bindings.filter(receiving) : [];
  if (resources) {
    // R6.13: the driver owns them again when this call returns; protocols copy.
    b.data.indicatedWithResources += k;
    deliver(n, targets, chain, port, k, flags);
    return;
  }
  const now = n.now;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    nbl._place = 'indicated';
    nbl._block = b;
    nbl._refs = targets.length;
    nbl._sinceNs = now;
  }
  b.receivesOutstanding += k;
  b.data.indicated += k;
  if (targets.length === 0) {
    // Nobody to take them: NDIS hands them straight back.
    returnToMiniport(n, b, chain);
    return;
  }
  deliver(n, targets, chain, port, k, flags);
}

/** Does the chain come back to an NBL it passed? (Checked only when it is longer than declared.) */
function loops(chain: NET_BUFFER_LIST | null): boolean {
  const seen = new Set<NET_BUFFER_LIST>();
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    if (seen.has(x)) return true;
    seen.add(x);
  }
  return false;
}

function deliver(
  n: Ndis,
  targets: Binding[],
  chain: NET_BUFFER_LIST,
  port: number,
  count: number,
  flags: number,
): void {
  // Each protocol gets the whole chain. A protocol may unlink the NBLs it keeps (R6.13),
  // so with more than one the links are laid again before each indication.
  const nbls = targets.length > 1 ? chainToArray(chain) : null;
  for (const bd of targets) {
    if (nbls !== null) relink(nbls);
    const f = n.enter(
      bd.block,
      bd.protocol.name,
      'ProtocolReceiveNetBufferLists',
      n.kernel.ctx.irql,
      n.trace.on ? { count } : undefined,
    );
    try {
      bd.protocol.ProtocolReceiveNetBufferLists(bd, chain, port, count, flags);
    } catch (e) {
      n.driverThrew(e, 'ProtocolReceiveNetBufferLists', bd.block);
    }
    n.leave(f, undefined);
  }
}

function chainToArray(chain: NET_BUFFER_LIST): NET_BUFFER_LIST[] {
  const out: NET_BUFFER_LIST[] = [];
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) out.push(x);
  return out;
}

function relink(nbls: readonly NET_BUFFER_LIST[]): void {
  for (let i = 0; i < nbls.length; i++) nbls[i]!.Next = nbls[i + 1] ?? null;
}

/** NdisReturnNetBufferLists from a protocol: NBLs every protocol gave back go down to the miniport. */
export function protocolReturn(n: Ndis, bd: Binding, chain: NET_BUFFER_LIST): void {
  const b = bd.block;
  let back: NblImpl | null = null;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
    const next: NET_BUFFER_LIST | null = x.Next;
    const nbl = x as NblImpl;
    assert(
      nbl._place === 'indicated' && nbl._refs > 0,
      'protocolReturn: NBL not held by a protocol',
      nbl._id,
    );
    if (--nbl._refs === 0) {
      nbl.Next = back;
      back = nbl;
    }
    x = next;
  }
  if (back !== null) returnToMiniport(n, b, reverse(back));
}

function reverse(head: NblImpl): NblImpl {
  let prev: NET_BUFFER_LIST | null = null;
  for (let x: NET_BUFFER_LIST | null = head; x !== null; ) {
    const next: NET_BUFFER_LIST | null = x.Next;
    x.Next = prev;
    prev = x;
    x = next;
  }
  return prev as NblImpl;
}

function returnToMiniport(n: Ndis, b: MiniportBlock, chain: NET_BUFFER_LIST): void {
  let k = 0;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    (x as NblImpl)._place = 'miniport';
    k++;
  }
  b.receivesOutstanding -= k;
  b.data.returned += k;
  if (b.ss !== null) b.ss.lastActivityNs = n.now;
  assert(!b.handleDead, 'returnToMiniport: NDIS would call a halted miniport', b.name);
  const irql = n.kernel.ctx.irql;
  const f = n.enter(
    b,
    b.driver.name,
    'MiniportReturnNetBufferLists',
    irql,
    n.trace.on ? { count: k } : undefined,
  );
  try {
    b.driver.chars.ReturnNetBufferListsHandler(
      b.context,
      chain,
      irql === Irql.Dispatch ? NDIS_RETURN_FLAGS_DISPATCH_LEVEL : 0,
    );
  } catch (e) {
    n.driverThrew(e, 'MiniportReturnNetBufferLists', b);
  }
  n.leave(f, undefined);
  if (b.receivesOutstanding === 0 && b.op !== null) n.kick(b);
}

/**
 * R6.14: a *_DISPATCH_LEVEL flag may be set only by a caller that knows it runs at
 * DISPATCH. Leaving it clear at DISPATCH is allowed (NDIS then assumes nothing).
 */
/**
 * R5.7: a send completed after the SurpriseRemoved notification. One the miniport held
 * when the notification came is exempt, once: the protocol may send the same NBL again.
 */
function notAcceptedCheck(
  n: Ndis,
  b: MiniportBlock,
  late: NonNullable<MiniportBlock['removalNotified']>,
  nbl: NblImpl,
  ddi: string,
): void {
  if ((late.warned & 1) !== 0) return;
  if (late.sends.has(nbl)) {
    (late.sends as Set<NblImpl>).delete(nbl);
    return;
  }
  if (nbl.Status !== NDIS_STATUS_NOT_ACCEPTED)
    notAcceptedExpected(n, b, 1, `NBL #${nbl._id}`, ddi, nbl.Status);
}

function checkDispatchFlag(n: Ndis, b: MiniportBlock, ddi: string, flags: number, bit: number): void {
  if ((flags & bit) !== 0 && n.kernel.ctx.irql !== Irql.Dispatch) {
    n.verifier.report(
      'NdisSim_DispatchLevelFlag',
      ddi,
      b.name,
      `${ddi}: the DISPATCH_LEVEL flag is set but the caller is at ${n.kernel.ctx.irql === Irql.Passive ? 'PASSIVE' : 'a raised IRQL other than DISPATCH'} (R6.14)`,
    );
  }
}
