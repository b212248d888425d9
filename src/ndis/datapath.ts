// The NBL data path through NDIS (06-oid-datapath.md): protocol sends down to
// MiniportSendNetBufferLists and completions back up; miniport receive
// indications up to protocols and returns back down. NDIS tracks where every
// NBL is, which is how completion exactly once and return exactly once are checked.

import { assert } from '../errors.ts';
import { Irql } from '../kernel/kernel.ts';
import { fmtTime } from '../report/format.ts';
import type { EventTarget } from '../sim/queue.ts';
import { contextAtOwner, contextLeft } from './api/nblcontext.ts';
import type { Binding } from './binding.ts';
import type { MiniportBlock } from './block.ts';
import { mdlUnlocked } from './device.ts';
import { FilterModule } from './filter.ts';
import {
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RECEIVE_FLAGS_NAMES,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_RETURN_FLAGS_NAMES,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_COMPLETE_FLAGS_NAMES,
  NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_NAMES,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PAUSED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NdisDeviceStateD0,
} from './generated/status.ts';
import { NblImpl, type NblPool, type NET_BUFFER, type NET_BUFFER_LIST } from './nbl.ts';
import type { Ndis } from './ndis.ts';
import { placeText } from './objects.ts';
import { notAcceptedExpected, ruleParams } from './oid.ts';
import { portProblem } from './ports.ts';
import { resetCallByProtocol } from './reset.ts';
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
  if (bd.inReset) resetCallByProtocol(n, bd, 'NdisSendNetBufferLists');
  let count = 0;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    assert(nbl._place === 'protocol', 'protocolSend: NBL not held by the protocol', nbl._id, nbl._place);
    nbl._binding = bd;
    count++;
  }
  // R4.7 step 2: during a reset NDIS completes sends itself; a binding that is not
  // sending (paused, closing) gets them back as paused. With a filter module that
  // filters sends, the miniport's side of this is checked where the sends reach it.
  const fd = b.filterData;
  const top = fd === null ? null : fd.sendTop;
  const reject =
    top !== null
      ? bd.state !== 'Running' && bd.state !== 'Pausing'
        ? NDIS_STATUS_PAUSED
        : 0
      : b.resetInProgress
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
    protocolSendComplete(
      n,
      bd,
      chain,
      n.kernel.ctx.irql === Irql.Dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
    );
    return;
  }
  // Selective suspend: activity, or held by NDIS while an idle notification is outstanding.
  if (b.ss !== null && ssHoldSend(n, b, bd, chain, port, flags)) return;
  if (top !== null) {
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) (x as NblImpl)._fpath = null;
    sendDown(n, b, b.filters.indexOf(top), chain, port, flags);
    return;
  }
  sendToMiniport(n, b, chain, count, port, flags);
}

/**
 * A flags word as the trace shows it: the names of its bits joined by '|' (a bit
 * without a name as hex), or 0. Built only when the trace is on.
 */
export function flagNames(flags: number, names: ReadonlyMap<number, string>): string | number {
  if (flags === 0) return 0;
  const parts: string[] = [];
  for (let bit = 1, rest = flags >>> 0; rest !== 0; bit *= 2) {
    if ((rest & bit) === 0) continue;
    parts.push(names.get(bit) ?? `0x${bit.toString(16)}`);
    rest = (rest & ~bit) >>> 0;
  }
  return parts.join('|');
}

/** NDIS hands `count` NBLs to MiniportSendNetBufferLists. */
function sendToMiniport(
  n: Ndis,
  b: MiniportBlock,
  chain: NET_BUFFER_LIST,
  count: number,
  port: number,
  flags: number,
): void {
  const now = n.now;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    nbl._place = 'miniport-send';
    nbl._block = b;
    nbl._sinceNs = now;
    nbl._timedOut = false;
    // R6.9: what the completion must give back unchanged.
    let nbs = 0;
    let last: NET_BUFFER | null = null;
    for (let nb = nbl.FirstNetBuffer; nb !== null && nbs <= maxNbWalk; nb = nb.Next) {
      last = nb;
      nbs++;
    }
    nbl._sentFirstNb = nbl.FirstNetBuffer;
    nbl._sentLastNb = last;
    nbl._sentNbCount = nbs;
    b.inFlight.add(nbl);
  }
  if (b.sendsOutstanding === 0) {
    b.sendsPendingSinceNs = now;
    watchSends(n, b);
  }
  b.sendsOutstanding += count;
  b.data.sent += count;
  assert(!b.handleDead, 'protocolSend: NDIS would call a halted miniport', b.name);
  // R6.8: the handler runs at the sender's IRQL (≤ DISPATCH), and NDIS sets
  // NDIS_SEND_FLAGS_DISPATCH_LEVEL exactly when that is DISPATCH, whatever the sender passed.
  const irql = n.kernel.ctx.irql;
  const sendFlags =
    irql === Irql.Dispatch ? flags | NDIS_SEND_FLAGS_DISPATCH_LEVEL : flags & ~NDIS_SEND_FLAGS_DISPATCH_LEVEL;
  const f = n.enter(
    b,
    b.driver.name,
    'MiniportSendNetBufferLists',
    irql,
    n.trace.on ? { count, SendFlags: flagNames(sendFlags, NDIS_SEND_FLAGS_NAMES) } : undefined,
  );
  let returned: unknown;
  try {
    returned = b.driver.chars.SendNetBufferListsHandler(b.context, chain, port, sendFlags);
  } catch (e) {
    n.driverThrew(e, 'MiniportSendNetBufferLists', b);
  }
  n.leaveVoid(f, returned);
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
  // Through filter modules each NBL climbs its own way (completeUp).
  const fd = b.filterData;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
    const next: NET_BUFFER_LIST | null = x.Next;
    const nbl = x as NblImpl;
    if (!(x instanceof NblImpl) || nbl._place !== 'miniport-send' || nbl._block !== b) {
      n.verifier.report(
        'NdisSim_SendCompleteUnexpected',
        ddi,
        b.name,
        x instanceof NblImpl
          ? unexpectedSendCompletion(nbl, b)
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
    const altered = nbListAltered(nbl);
    if (altered !== null) {
      n.verifier.report(
        'NdisSim_SendCompleteUnexpected',
        ddi,
        b.name,
        `NBL #${nbl._id} completed with its NET_BUFFER list changed (${altered}): a miniport may split or merge chains of NBLs but must not modify the list of NET_BUFFERs of an NBL (R6.9)`,
      );
    }
    if (late !== null) notAcceptedCheck(n, b, late, nbl, ddi);
    if (nbl._ctx !== null) contextLeft(n, nbl, b.driver.name, ddi, b.name);
    nbl._place = 'protocol';
    nbl._block = null;
    nbl._completedNs = n.now;
    nbl.Next = null;
    b.inFlight.delete(nbl);
    done++;
    if (fd !== null) {
      if (tail === null) head = nbl;
      else tail.Next = nbl;
      tail = nbl;
      x = next;
      continue;
    }
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
  else if (fd !== null && head !== null) completeUp(n, head, upFlags);
  if (b.sendsOutstanding === 0 && b.op !== null) n.kick(b);
}

/** A NET_BUFFER list longer than this is not walked to its end (a loop in it stops here). */
const maxNbWalk = 1 << 16;

/**
 * How a sent NBL's NET_BUFFER list differs from the one NDIS handed to
 * MiniportSendNetBufferLists, or null if it does not: its first or last NET_BUFFER, or
 * how many there are (the NdisMSendNetBufferListsComplete page: the miniport must not
 * modify the list of NET_BUFFERs of an NBL, R6.9).
 */
function nbListAltered(nbl: NblImpl): string | null {
  if (nbl.FirstNetBuffer !== nbl._sentFirstNb)
    return nbl.FirstNetBuffer === null
      ? 'FirstNetBuffer is NULL now'
      : 'FirstNetBuffer is another NET_BUFFER';
  let nbs = 0;
  let last: NET_BUFFER | null = null;
  for (let nb = nbl.FirstNetBuffer; nb !== null && nbs <= maxNbWalk; nb = nb.Next) {
    last = nb;
    nbs++;
  }
  if (nbs !== nbl._sentNbCount) return `${nbs} NET_BUFFER(s), ${nbl._sentNbCount} sent`;
  if (last !== nbl._sentLastNb) return 'its last NET_BUFFER is another one';
  return null;
}

/**
 * Why NdisMSendNetBufferListsComplete may not take `nbl` (R6.9). A send this miniport
 * completed already, and not sent again since, is a double completion: said so, with
 * when the first completion was, as for NdisMResetComplete.
 */
function unexpectedSendCompletion(nbl: NblImpl, b: MiniportBlock): string {
  const twice =
    nbl._completedNs >= 0 &&
    nbl._completedNs >= nbl._sinceNs &&
    nbl._binding?.block === b &&
    nbl._place !== 'miniport-send';
  if (twice) {
    const now =
      nbl._place === 'free' ? 'and its sender has freed it since' : 'and gave it back to its sender';
    return `NBL #${nbl._id} completed twice: NdisMSendNetBufferListsComplete already completed it at ${fmtTime(nbl._completedNs)} ${now}; it is not a send pending on ${b.name} (R6.9)`;
  }
  return `NBL #${nbl._id} completed but it was not a send pending on ${b.name} (${nbl._place}) (R6.9)`;
}

function protocolSendComplete(n: Ndis, bd: Binding, chain: NET_BUFFER_LIST, flags: number): void {
  const f = n.enter(
    bd.block,
    bd.protocol.name,
    'ProtocolSendNetBufferListsComplete',
    n.kernel.ctx.irql,
    n.trace.on ? { SendCompleteFlags: flagNames(flags, NDIS_SEND_COMPLETE_FLAGS_NAMES) } : undefined,
  );
  let returned: unknown;
  try {
    returned = bd.protocol.ProtocolSendNetBufferListsComplete(bd, chain, flags);
  } catch (e) {
    n.driverThrew(e, 'ProtocolSendNetBufferListsComplete', bd.block);
  }
  n.leaveVoid(f, returned);
}

/** NdisCancelSendNetBufferLists → MiniportCancelSend (R6.10). */
export function protocolCancelSend(n: Ndis, bd: Binding, cancelId: unknown): void {
  const b = bd.block;
  if (b.filterData !== null) {
    cancelDown(n, b, b.filters.length - 1, cancelId);
    return;
  }
  cancelToMiniport(n, b, cancelId);
}

function cancelToMiniport(n: Ndis, b: MiniportBlock, cancelId: unknown): void {
  if (b.handleDead || b.state === 'Halted') return;
  const f = n.enter(b, b.driver.name, 'MiniportCancelSend', n.kernel.ctx.irql);
  let returned: unknown;
  try {
    returned = b.driver.chars.CancelSendHandler(b.context, cancelId);
  } catch (e) {
    n.driverThrew(e, 'MiniportCancelSend', b);
  }
  n.leaveVoid(f, returned);
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
          undefined,
          {
            label: 'Sent in',
            at: `MiniportSendNetBufferLists at ${fmtTime(oldest._sinceNs)} (an NBL of ${senderOf(oldest)})`,
          },
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
          undefined,
          {
            label: 'Stalled',
            at: `since ${fmtTime(since)} (${since === b.lastSendCompletionNs ? 'its last NdisMSendNetBufferListsComplete' : 'the first pending send reached MiniportSendNetBufferLists'})`,
          },
        );
      }
    } finally {
      k.exit(c);
    }
    if (b.sendsOutstanding > 0) watchSends(n, b);
  }
}

/**
 * When Driver Verifier's send time-outs (R6.11) would first stop a run for the sends
 * `b` holds now if none of them completed: the earlier of NdisTimedDataSend (the oldest
 * NBL's 30 s) and NdisTimedDataHang (22 s without a completion). SendWatch checks once
 * a second, so the report comes by a second after it at the latest. Null when no send
 * is out, the handle is dead or the verifier is off. For reports (a run that ended first).
 */
export function sendLimitDueNs(b: MiniportBlock): number | null {
  if (b.sendsOutstanding === 0 || b.handleDead || b.ndis.verifier.mode === 'off') return null;
  const oldest = b.inFlight.values().next().value;
  const hang = Math.max(b.lastSendCompletionNs, b.sendsPendingSinceNs) + sendHangLimitNs;
  return oldest === undefined ? hang : Math.min(hang, oldest._sinceNs + sendTimeLimitNs);
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
  // The page: a driver that allocated no ports indicates on the default port, 0; one
  // that did, on a port it activated (NdisMNetPnPEvent, ports.ts). One numeric check
  // for a driver without ports.
  if (port !== 0) {
    const why = b.ports === null ? null : portProblem(b, port);
    if (b.ports === null || why !== null)
      n.verifier.report(
        'NdisSim_ReceiveIndication',
        ddi,
        b.name,
        b.ports === null
          ? `PortNumber ${port} is not a port of ${b.name}: a driver that allocated no ports with NdisMAllocatePort indicates on the default port, NDIS_DEFAULT_PORT_NUMBER (0) (R6.12)`
          : `${why} (R6.12)`,
      );
  }
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
  } else if (b.power?.receiveOff === true || (b.ss !== null && b.ss.device !== NdisDeviceStateD0)) {
    // An adapter NDIS did not pause for low power (NO_PAUSE_ON_SUSPEND, or selective
    // suspend) is still Running: the OID_PNP_SET_POWER page has the miniport stop its
    // receive engine before it completes the move to D1–D3.
    n.verifier.report(
      'NdisSim_ReceiveNotAllowed',
      ddi,
      b.name,
      `receive indicated after OID_PNP_SET_POWER to a low-power state completed (the adapter is ${b.state}, not paused for it): the miniport stops its receive engine before it completes that request (OID_PNP_SET_POWER page)`,
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
    } else {
      // The NET_BUFFER page: DataOffset and DataLength lie within the MDL chain. A
      // length taken from the hardware unchecked (a jumbo frame into a 1514-byte
      // buffer) would have the stack read past the buffer. A NET_BUFFER that carries
      // lengths only (no bytes) has its pool's DataSize as its buffer, when one is set.
      const poolBytes = nbl._pool.dataSize;
      for (let nb = nbl.FirstNetBuffer; nb !== null; nb = nb.Next) {
        const size = nb.Data !== null ? nb.Data.length : poolBytes > 0 ? poolBytes : Infinity;
        if (nb.DataOffset + nb.DataLength > size)
          n.verifier.report(
            'NdisSim_ReceiveIndication',
            ddi,
            b.name,
            `NBL #${nbl._id}: a NET_BUFFER's DataOffset + DataLength (${nb.DataOffset} + ${nb.DataLength}) runs past its ${nb.Data !== null ? 'MDL chain' : "pool's DataSize"} of ${size} bytes (R6.12)`,
          );
      }
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
  const fd = b.filterData;
  if (fd !== null && fd.recvBottom !== null && allowed) {
    const from = b.filters.indexOf(fd.recvBottom);
    if (resources) {
      b.data.indicatedWithResources += k;
      indicateUp(n, b, from, chain, port, k, flags, true);
      resourcesBack(n, b, chain, k);
      return;
    }
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
      const nbl = x as NblImpl;
      nbl._block = b;
      nbl._fpath = null;
      nbl._resourcesWith = null;
    }
    b.receivesOutstanding += k;
    b.data.indicated += k;
    indicateUp(n, b, from, chain, port, k, flags, false);
    return;
  }
  const targets = allowed ? b.bindings.filter(receiving) : [];
  if (resources) {
    // R6.13: the driver owns them again when this call returns; protocols copy.
    b.data.indicatedWithResources += k;
    deliver(n, targets, chain, port, k, flags);
    resourcesBack(n, b, chain, k);
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

/**
 * A receive indicated with NDIS_RECEIVE_FLAGS_RESOURCES is the miniport's again now
 * that the indication has returned (R6.13): context space the drivers above took and
 * left in it is NdisSim_NblContext, as at MiniportReturnNetBufferLists.
 */
function resourcesBack(n: Ndis, b: MiniportBlock, chain: NET_BUFFER_LIST, count: number): void {
  // At most the `count` NBLs indicated, whatever links a driver above left.
  let x: NET_BUFFER_LIST | null = chain;
  for (let i = 0; i < count && x !== null; i++, x = x.Next)
    if ((x as NblImpl)._ctx !== null)
      contextAtOwner(n, x as NblImpl, b.driver.name, 'NdisMIndicateReceiveNetBufferLists', b.name);
}

function deliver(
  n: Ndis,
  targets: Binding[],
  chain: NET_BUFFER_LIST,
  port: number,
  count: number,
  flags: number,
): void {
  // R6.14: the DISPATCH flag says the IRQL NDIS calls at, as filters get it (indicateUp).
  // One set wrongly below was reported there; a protocol that trusts the flag it is
  // given must not be blamed for it.
  flags =
    n.kernel.ctx.irql === Irql.Dispatch
      ? flags | NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL
      : flags & ~NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL;
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
      n.trace.on ? { count, ReceiveFlags: flagNames(flags, NDIS_RECEIVE_FLAGS_NAMES) } : undefined,
    );
    let returned: unknown;
    try {
      returned = bd.protocol.ProtocolReceiveNetBufferLists(bd, chain, port, count, flags);
    } catch (e) {
      n.driverThrew(e, 'ProtocolReceiveNetBufferLists', bd.block);
    }
    n.leaveVoid(f, returned);
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
    if (nbl._ctx !== null) contextLeft(n, nbl, bd.protocol.name, 'NdisReturnNetBufferLists', b.name);
    if (--nbl._refs === 0) {
      nbl.Next = back;
      back = nbl;
    }
    x = next;
  }
  if (back === null) return;
  if (b.filterData !== null) returnDown(n, b, reverse(back));
  else returnToMiniport(n, b, reverse(back));
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
    if ((x as NblImpl)._ctx !== null)
      contextAtOwner(n, x as NblImpl, b.driver.name, 'MiniportReturnNetBufferLists', b.name);
    k++;
  }
  if (n.io !== null) returnedOverUnlockedPages(n, b, chain);
  b.receivesOutstanding -= k;
  b.data.returned += k;
  if (b.ss !== null) b.ss.lastActivityNs = n.now;
  assert(!b.handleDead, 'returnToMiniport: NDIS would call a halted miniport', b.name);
  const irql = n.kernel.ctx.irql;
  const returnFlags = irql === Irql.Dispatch ? NDIS_RETURN_FLAGS_DISPATCH_LEVEL : 0;
  const f = n.enter(
    b,
    b.driver.name,
    'MiniportReturnNetBufferLists',
    irql,
    n.trace.on ? { count: k, ReturnFlags: flagNames(returnFlags, NDIS_RETURN_FLAGS_NAMES) } : undefined,
  );
  let returned: unknown;
  try {
    returned = b.driver.chars.ReturnNetBufferListsHandler(b.context, chain, returnFlags);
  } catch (e) {
    n.driverThrew(e, 'MiniportReturnNetBufferLists', b);
  }
  n.leaveVoid(f, returned);
  if (b.receivesOutstanding === 0 && b.op !== null) n.kick(b);
}

/**
 * A received NBL whose NET_BUFFER is the MDL of a control device's read or write
 * request (a TAP-style write indicated up over its own pages, as ndisprot sends one)
 * must stay up the stack only while that request is the driver's: IoCompleteRequest
 * unlocks the pages (docs/model.md, "Reads and writes"). One that comes back over pages
 * unlocked meanwhile was read by the protocols after they were gone.
 */
function returnedOverUnlockedPages(n: Ndis, b: MiniportBlock, chain: NET_BUFFER_LIST): void {
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next)
    for (let nb = x.FirstNetBuffer; nb !== null; nb = nb.Next)
      if (mdlUnlocked(n, nb.Data)) {
        n.verifier.report(
          'NdisSim_ObjectFreedInUse',
          'MiniportReturnNetBufferLists',
          b.name,
          `an NBL ${b.name} indicated up came back with a NET_BUFFER over the MDL of a request (a read, a write or a direct-I/O control) that IoCompleteRequest completed while the NBL was still up the stack: the I/O manager unlocked those pages at the completion, and the protocols above could still read them; complete the request when the NBL comes back (MiniportReturnNetBufferLists), or indicate with NDIS_RECEIVE_FLAGS_RESOURCES and complete after NdisMIndicateReceiveNetBufferLists returns`,
        );
        return;
      }
}

/**
 * A send whose NET_BUFFER is the MDL of a control device's write (ndisprot's way:
 * NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, Irp->MdlAddress, 0, length)) that
 * the sender still does not own: in the miniport, held by a filter module, or held by
 * NDIS while the adapter is selectively suspended. From NdisSendNetBufferLists to
 * ProtocolSendNetBufferListsComplete the sender has given away the NBL "and all
 * associated resources" (sending-data-from-a-protocol-driver), the pages among them.
 * IoCompleteRequest asks (api/device.ts); only for an IRP with an MDL, so the walk costs
 * nothing on the data path.
 */
export function sendOverMdl(
  n: Ndis,
  mdl: Uint8Array,
): { nbl: NblImpl; sender: string; where: string; block: MiniportBlock } | null {
  for (const b of n.adapters) {
    for (const nbl of b.inFlight)
      if (nblOver(nbl, mdl))
        return {
          nbl,
          sender: senderOf(nbl),
          where: `in ${b.driver.name}, the miniport of ${b.name}`,
          block: b,
        };
    for (const m of b.filters)
      if (m.fdata !== null)
        for (const nbl of m.fdata.heldSends)
          if (nblOver(nbl, mdl))
            return {
              nbl,
              sender: senderOf(nbl),
              where: `held by filter module ${m.name}`,
              block: b,
            };
    if (b.ss !== null)
      for (const h of b.ss.held)
        for (let x: NET_BUFFER_LIST | null = h.chain; x !== null; x = x.Next)
          if (nblOver(x, mdl))
            return {
              nbl: x as NblImpl,
              sender: senderOf(x as NblImpl),
              where: `held by NDIS until ${b.name} is back in D0 (selective suspend)`,
              block: b,
            };
  }
  return null;
}

function nblOver(nbl: NET_BUFFER_LIST, mdl: Uint8Array): boolean {
  for (let nb = nbl.FirstNetBuffer; nb !== null; nb = nb.Next) if (nb.Data === mdl) return true;
  return false;
}

/** Who sent a send that is out: its protocol, or the filter module that originated it. */
function senderOf(nbl: NblImpl): string {
  const original = nbl._clone?.original ?? nbl;
  if (original._pool.kind === 'filter')
    return `filter module ${original._origin?.name ?? original._pool.owner}`;
  return original._binding?.protocol.name ?? original._pool.owner;
}

/**
 * NdisSendNetBufferLists, or NdisFSendNetBufferLists with NBLs the module originated:
 * a NET_BUFFER over the MDL of a read or write request that IoCompleteRequest completed
 * already. The I/O manager unlocked those pages (and freed the MDL) at the completion,
 * so the NIC would read, or DMA from, memory the application or the system may use for
 * something else by then.
 */
export function sentOverUnlockedPages(
  n: Ndis,
  b: MiniportBlock,
  ddi: string,
  who: string,
  chain: NET_BUFFER_LIST | null,
  only: ((nbl: NblImpl) => boolean) | null,
): void {
  if (n.io === null || n.verifier.mode === 'off') return;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    if (only !== null && !only(x as NblImpl)) continue;
    for (let nb = x.FirstNetBuffer; nb !== null; nb = nb.Next)
      if (mdlUnlocked(n, nb.Data)) {
        n.verifier.report(
          'NdisSim_ObjectFreedInUse',
          ddi,
          b.name,
          `${who} sent NBL #${(x as NblImpl)._id} with a NET_BUFFER over the MDL of a read or write request that IoCompleteRequest completed already: the I/O manager unlocked the application's pages and freed the MDL then, and the NIC would read memory that may hold something else by now; send first and complete the request in ProtocolSendNetBufferListsComplete (sending-data-from-a-protocol-driver)`,
        );
        return;
      }
  }
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

/**
 * NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK asks NDIS to indicate the sends that match the
 * sender's receive criteria back to it (nf-ndis-ndissendnetbufferlists,
 * nf-ndis-ndisfsendnetbufferlists). The model has no loopback: the send goes down with
 * the flag, as NDIS passes it (nc-ndis-miniport_send_net_buffer_lists), no copy comes
 * back, and the run's model notes say so, once per driver. ndisprot-like protocols set
 * the flag on every send; stopping the run there kept them from being tested at all.
 */
export function noteLoopback(n: Ndis, ddi: string, who: string, flags: number): void {
  if ((flags & NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK) === 0) return;
  const note = `${who}: ${ddi} with NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK: loopback is not modelled, so the sends went down and no copy of them was indicated back to the sender`;
  if (!n.modelNotes.includes(note)) n.modelNotes.push(note);
}

export function checkDispatchFlag(n: Ndis, b: MiniportBlock, ddi: string, flags: number, bit: number): void {
  if ((flags & bit) !== 0 && n.kernel.ctx.irql !== Irql.Dispatch) {
    n.verifier.report(
      'NdisSim_DispatchLevelFlag',
      ddi,
      b.name,
      `${ddi}: the DISPATCH_LEVEL flag is set but the caller is at ${n.kernel.ctx.irql === Irql.Passive ? 'PASSIVE' : 'a raised IRQL other than DISPATCH'} (R6.14)`,
    );
  }
}

// ------------------------------------------------------------ filter modules
//
// R7.5, R7.6 and the pages of the filter data handlers: a send from above goes to the
// topmost module that has FilterSendNetBufferLists (a NULL handler: the module is
// bypassed), which passes it on with NdisFSendNetBufferLists to the next such module
// down, or to the miniport. A completion climbs back through the modules that passed
// the NBL on (each has FilterSendNetBufferListsComplete, or it could not have passed it
// on) to the driver that originated it: the protocol, or the module whose NdisFilterHandle
// is the pool's. Receives mirror it: up through FilterReceiveNetBufferLists and
// NdisFIndicateReceiveNetBufferLists, back down through FilterReturnNetBufferLists and
// NdisFReturnNetBufferLists. NDIS calls a module's data handlers in Running and Pausing
// only (R7.5).

/** Where the data path enters the modules of an adapter (refreshFilterData). */
export interface AdapterFilterData {
  /** The topmost module with FilterSendNetBufferLists: sends from protocols go there. */
  sendTop: FilterModule | null;
  /** The lowest module with FilterReceiveNetBufferLists: the miniport's receives go there. */
  recvBottom: FilterModule | null;
}

const dataHandlers = [
  'SendNetBufferListsHandler',
  'SendNetBufferListsCompleteHandler',
  'CancelSendNetBufferListsHandler',
  'ReceiveNetBufferListsHandler',
  'ReturnNetBufferListsHandler',
] as const;

/**
 * Modules attached or detached, or a module's data handlers changed (FilterSetModuleOptions):
 * where sends and receives enter. An adapter none of whose
 * modules has a data handler keeps filterData null and the path without modules. Once
 * it had one, filterData stays (entry points null when they are gone): NBLs still out
 * then find their way back through completeUp / returnDown.
 */
export function refreshFilterData(b: MiniportBlock): void {
  let sendTop: FilterModule | null = null;
  let recvBottom: FilterModule | null = null;
  let any = false;
  for (const m of b.filters) {
    const c = m.handlers;
    for (const h of dataHandlers) if (c[h] != null) any = true;
    if (c.SendNetBufferListsHandler != null) sendTop = m;
    if (recvBottom === null && c.ReceiveNetBufferListsHandler != null) recvBottom = m;
  }
  if (any || b.filterData !== null) b.filterData = { sendTop, recvBottom };
}

/** NdisFilterTimedDataSend / NdisFilterTimedDataReceive: the rules give no time; the model uses NdisTimedDataSend's 30 s. */
export const filterDataLimitNs = sendTimeLimitNs;

/** A filter module's share of the data path, made on its first use. */
export class ModuleData implements EventTarget {
  /** Sends it got from above and has not passed on or completed, oldest first. */
  readonly heldSends = new Set<NblImpl>();
  /** Receives it got from below and has not passed on or returned, oldest first. */
  readonly heldRecvs = new Set<NblImpl>();
  /** NBLs it originated that are out: sends, and receive indications. */
  ownSendsOut = 0;
  ownRecvsOut = 0;
  /** NBLs it handed on with NdisFSendNetBufferLists / NdisFIndicateReceiveNetBufferLists: passed on, or its own (the summary). */
  sendsPassed = 0;
  sendsOriginated = 0;
  recvsPassed = 0;
  recvsOriginated = 0;
  /**
   * NBLs from above it completed with NdisFSendNetBufferListsComplete, and NBLs from below
   * it gave back with NdisFReturnNetBufferLists or left out of a RESOURCES indication; and
   * of those, the ones that had come back to it from the drivers it passed them to. The
   * difference is what it completed or dropped itself (sendsCompletedByIt, recvsDroppedByIt).
   */
  sendsCompleted = 0;
  sendsBack = 0;
  recvsDropped = 0;
  recvsBack = 0;
  /** The NBLs of the NDIS_RECEIVE_FLAGS_RESOURCES indication FilterReceiveNetBufferLists is handling. */
  resources: readonly NET_BUFFER_LIST[] | null = null;
  /** How many of `resources` it passed on so far. */
  resourcesPassed = 0;
  /** NBL pools allocated with its NdisFilterHandle and not freed. */
  readonly pools: NblPool[] = [];
  armed = false;
  constructor(
    readonly ndis: Ndis,
    readonly module: FilterModule,
  ) {}

  /** Once a second of virtual time while it holds NBLs: Driver Verifier's time-outs. */
  fire(): void {
    const n = this.ndis;
    const m = this.module;
    this.armed = false;
    if (m.gone || n.verifier.mode === 'off') return;
    if (this.heldSends.size === 0 && this.heldRecvs.size === 0) return;
    const k = n.kernel;
    const c = k.enter(0, Irql.Dispatch, 'verifier', 'dpc');
    try {
      overdue(
        n,
        m,
        this.heldSends,
        'NdisFilterTimedDataSend',
        'FilterSendNetBufferLists',
        'passed on nor completed',
      );
      overdue(
        n,
        m,
        this.heldRecvs,
        'NdisFilterTimedDataReceive',
        'FilterReceiveNetBufferLists',
        'passed on nor returned',
      );
    } finally {
      k.exit(c);
    }
    this.arm();
  }

  arm(): void {
    if (this.armed || this.ndis.verifier.mode === 'off') return;
    this.armed = true;
    this.ndis.kernel.machine.after(watchPeriodNs, this, 0, null);
  }
}

function overdue(
  n: Ndis,
  m: FilterModule,
  held: ReadonlySet<NblImpl>,
  rule: string,
  fn: string,
  what: string,
): void {
  const now = n.now;
  for (const nbl of held) {
    if (now - nbl._sinceNs < filterDataLimitNs) return;
    if (nbl._timedOut) continue;
    nbl._timedOut = true;
    n.verifier.report(
      rule,
      fn,
      m.block.name,
      `filter module ${m.name} has held NBL #${nbl._id} it got in ${fn} for ${filterDataLimitNs / 1e9} s: neither ${what} (R7.6)`,
      ruleParams(`a filter does not finish an NBL it got in ${fn} in time`, m.block),
      undefined,
      {
        label: 'Got in',
        at: `${fn} at ${fmtTime(nbl._sinceNs)}${held === m.fdata?.heldSends ? ` (an NBL of ${senderOf(nbl)})` : ''}`,
      },
    );
    return;
  }
}

export function moduleData(m: FilterModule): ModuleData {
  if (m.fdata === null) m.fdata = new ModuleData(m.block.ndis, m);
  return m.fdata;
}

function dataState(m: FilterModule): boolean {
  return m.state === 'Running' || m.state === 'Pausing';
}

/**
 * The NBLs of `chain` that `accept` takes (it returns null), relinked in order; every
 * other one is reported under `rule` and left alone. Stops at a link back into the chain.
 */
function take(
  n: Ndis,
  m: FilterModule,
  ddi: string,
  rule: string,
  chain: NET_BUFFER_LIST | null,
  accept: (nbl: NblImpl) => string | null,
): { head: NblImpl | null; count: number } {
  const mark = ++n.walkSerial;
  let head: NblImpl | null = null;
  let tail: NblImpl | null = null;
  let count = 0;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
    if (!(x instanceof NblImpl)) {
      n.verifier.report(
        rule,
        ddi,
        m.block.name,
        `${ddi} from ${m.name}: the chain holds something that is not an NBL`,
      );
      break;
    }
    if (x._mark === mark) {
      n.verifier.report(
        rule,
        ddi,
        m.block.name,
        `${ddi} from ${m.name}: the NBL chain loops back on itself at NBL #${x._id}`,
      );
      break;
    }
    x._mark = mark;
    const next: NET_BUFFER_LIST | null = x.Next;
    const why = accept(x);
    if (why !== null) {
      n.verifier.report(rule, ddi, m.block.name, `${ddi} from ${m.name}: NBL #${x._id} ${why}`);
    } else {
      x.Next = null;
      if (tail === null) head = x;
      else tail.Next = x;
      tail = x;
      count++;
    }
    x = next;
  }
  return { head, count };
}

/**
 * An NBL from a pool of the filter driver of `m` (its NdisFilterDriverHandle, or NULL)
 * idle with the driver: any module of the driver may originate it, and it comes back to
 * the one that did.
 */
function adopt(nbl: NblImpl, m: FilterModule): void {
  if (nbl._place === 'filter' && nbl._holder !== m && nbl._pool.filterDriver === m.driver) {
    nbl._holder = m;
    nbl._origin = m;
  }
}

/** Where an NBL `m` may not use is, in words. */
function whereIs(nbl: NblImpl, m: FilterModule): string {
  const other = nbl._holder !== null && nbl._holder !== m ? ` by filter module ${nbl._holder.name}` : '';
  switch (nbl._place) {
    case 'filter-send':
      return `is a send held${other}`;
    case 'filter-receive':
      return nbl._holder === m
        ? 'is a receive it got from below (NdisFReturnNetBufferLists gives it back)'
        : `is a receive held${other}`;
    case 'filter':
      return nbl._holder === m
        ? 'is its own NBL, not one NDIS gave it'
        : nbl._holder === null
          ? `belongs to filter driver ${nbl._pool.owner}`
          : `belongs to filter module ${nbl._holder.name}`;
    case 'miniport-send':
      return 'is in the miniport: passed on already (sent twice, or used after it was given away)';
    case 'protocol':
      return 'is back with the protocol: completed already (completed twice, or used after completion)';
    case 'indicated':
      return 'is held by the protocols: passed on already';
    case 'miniport':
      return nbl._resourcesWith === m
        ? 'came to it with NDIS_RECEIVE_FLAGS_RESOURCES, and it kept the NBL past the return of its FilterReceiveNetBufferLists: such NBLs belong to the miniport again when that call returns, and a filter copies what it needs to keep (nc-ndis-filter_receive_net_buffer_lists)'
        : 'is back with the miniport: returned already (returned twice, or used after it was returned)';
    case 'free':
      return 'is freed: given back already, and its owner freed it';
  }
}

// ------------------------------------------------------------------ filter sends

/** Hands `chain` to the first module from index `from` down with FilterSendNetBufferLists, or to the miniport. */
function sendDown(
  n: Ndis,
  b: MiniportBlock,
  from: number,
  chain: NET_BUFFER_LIST,
  port: number,
  flags: number,
): void {
  for (let i = from; i >= 0; i--) {
    const m = b.filters[i]!;
    const h = m.handlers.SendNetBufferListsHandler;
    if (h == null || m.gone) continue;
    if (!dataState(m)) {
      // R7.5: no data for a module that is not Running or Pausing: NDIS completes them.
      rejectSends(n, b, chain, NDIS_STATUS_PAUSED, `filter module ${m.name} is ${m.state}`);
      return;
    }
    const d = moduleData(m);
    const now = n.now;
    let count = 0;
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
      const nbl = x as NblImpl;
      nbl._place = 'filter-send';
      nbl._holder = m;
      nbl._sinceNs = now;
      nbl._timedOut = false;
      d.heldSends.add(nbl);
      count++;
    }
    d.arm();
    const irql = n.kernel.ctx.irql;
    const sendFlags =
      irql === Irql.Dispatch
        ? flags | NDIS_SEND_FLAGS_DISPATCH_LEVEL
        : flags & ~NDIS_SEND_FLAGS_DISPATCH_LEVEL;
    const f = n.enter(
      b,
      m.driver.name,
      'FilterSendNetBufferLists',
      irql,
      n.trace.on ? { count, SendFlags: flagNames(sendFlags, NDIS_SEND_FLAGS_NAMES) } : undefined,
    );
    let returned: unknown;
    try {
      returned = h(m.context, chain, port, sendFlags);
    } catch (e) {
      n.driverThrew(e, 'FilterSendNetBufferLists', b);
    }
    n.leaveVoid(f, returned);
    return;
  }
  // The miniport's side of R4.7: a reset in progress, or a miniport that cannot send.
  const reject = b.resetInProgress
    ? NDIS_STATUS_RESET_IN_PROGRESS
    : b.state === 'Halted' || b.state === 'Initializing' || b.state === 'Shutdown' || b.handleDead
      ? NDIS_STATUS_PAUSED
      : 0;
  if (reject !== 0) {
    rejectSends(n, b, chain, reject, 'the miniport cannot take sends');
    return;
  }
  if (b.ss !== null) b.ss.lastActivityNs = n.now;
  let count = 0;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    (x as NblImpl)._timedOut = false;
    count++;
  }
  sendToMiniport(n, b, chain, count, port, flags);
}

/** NDIS completes sends itself with `status` (they climb back through the modules that passed them on). */
function rejectSends(n: Ndis, b: MiniportBlock, chain: NET_BUFFER_LIST, status: number, why: string): void {
  let count = 0;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    x.Status = status;
    count++;
  }
  b.data.rejectedByNdis += count;
  if (n.trace.on) n.traceNdis(b, 'send completed by NDIS', { count, status, why });
  completeUp(n, chain, n.kernel.ctx.irql === Irql.Dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0);
}

type Target = FilterModule | Binding;

/** Appends `nbl` to the group of `t`, keeping the order. */
function group(groups: Map<Target, { head: NblImpl; tail: NblImpl }>, t: Target, nbl: NblImpl): void {
  nbl.Next = null;
  const g = groups.get(t);
  if (g === undefined) groups.set(t, { head: nbl, tail: nbl });
  else {
    g.tail.Next = nbl;
    g.tail = nbl;
  }
}

/** The nearest module still attached that passed `nbl` on, taken off its path; or null. */
function popPath(nbl: NblImpl): FilterModule | null {
  const path = nbl._fpath;
  if (path === null) return null;
  while (path.length > 0) {
    const m = path.pop()!;
    if (!m.gone) return m;
  }
  return null;
}

/**
 * Completed sends climb: each NBL to the nearest module that passed it on
 * (FilterSendNetBufferListsComplete), else to its originator: the module whose pool it
 * is, or the protocol that sent it.
 */
function completeUp(n: Ndis, chain: NET_BUFFER_LIST, flags: number): void {
  const groups = new Map<Target, { head: NblImpl; tail: NblImpl }>();
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
    const next: NET_BUFFER_LIST | null = x.Next;
    const nbl = x as NblImpl;
    const m = popPath(nbl);
    nbl._block = null;
    if (m !== null) {
      nbl._place = 'filter-send';
      nbl._holder = m;
      nbl._sinceNs = n.now;
      nbl._timedOut = false;
      const d = moduleData(m);
      d.heldSends.add(nbl);
      d.sendsBack++;
      d.arm();
      group(groups, m, nbl);
    } else if (nbl._pool.kind === 'filter') {
      const o = nbl._origin!;
      nbl._place = 'filter';
      nbl._holder = o;
      moduleData(o).ownSendsOut--;
      if (nbl._ctx !== null)
        contextAtOwner(n, nbl, o.driver.name, 'FilterSendNetBufferListsComplete', o.block.name);
      group(groups, o, nbl);
    } else {
      assert(nbl._binding !== null, 'completeUp: a send with no originator', nbl._id);
      nbl._place = 'protocol';
      nbl._holder = null;
      if (nbl._ctx !== null)
        contextAtOwner(
          n,
          nbl,
          nbl._binding!.protocol.name,
          'ProtocolSendNetBufferListsComplete',
          nbl._binding!.block.name,
        );
      group(groups, nbl._binding!, nbl);
    }
    x = next;
  }
  for (const [t, g] of groups) {
    if (!(t instanceof FilterModule)) {
      protocolSendComplete(n, t, g.head, flags);
      continue;
    }
    const h = t.handlers.SendNetBufferListsCompleteHandler;
    if (h == null || t.gone) continue;
    const f = n.enter(
      t.block,
      t.driver.name,
      'FilterSendNetBufferListsComplete',
      n.kernel.ctx.irql,
      n.trace.on ? { SendCompleteFlags: flagNames(flags, NDIS_SEND_COMPLETE_FLAGS_NAMES) } : undefined,
    );
    let returned: unknown;
    try {
      returned = h(t.context, g.head, flags);
    } catch (e) {
      n.driverThrew(e, 'FilterSendNetBufferListsComplete', t.block);
    }
    n.leaveVoid(f, returned);
  }
}

/**
 * sending-data-from-a-filter-driver: "NDIS drivers should not modify the SourceHandle
 * member for NET_BUFFER_LIST structures that the driver did not originate." A module that
 * puts its own NdisFilterHandle there takes the NBLs for its own when they come back, and
 * frees or keeps what belongs to the driver that sent or indicated them.
 */
function stampedSource(n: Ndis, m: FilterModule, ddi: string, k: number, from: 'above' | 'below'): void {
  n.verifier.report(
    'NdisSim_FilterDataState',
    ddi,
    m.block.name,
    `${ddi} from ${m.name}: ${k} NBL(s) it got from ${from} carry its own NdisFilterHandle in SourceHandle: a filter does not change the SourceHandle of NBLs it did not originate, and would take them for its own when they come back (sending-data-from-a-filter-driver)`,
  );
}

/** NdisFSendNetBufferLists: `m` passes sends it got from above on, or originates its own. */
/**
 * A filter module sends or indicates on PortNumber `port` (not the default port 0): a
 * port of the adapter the miniport activated, which NDIS told the module of
 * (handling-the-port-activation-pnp-event). Reported as NdisSim_FilterDataState; the
 * NBLs go on with the number given.
 */
function filterPortCheck(n: Ndis, m: FilterModule, ddi: string, port: number): void {
  const why = portProblem(m.block, port);
  if (why !== null)
    n.verifier.report('NdisSim_FilterDataState', ddi, m.block.name, `${ddi} from ${m.name}: ${why}`);
}

export function filterSend(
  n: Ndis,
  m: FilterModule,
  chain: NET_BUFFER_LIST,
  port: number,
  flags: number,
): void {
  const ddi = 'NdisFSendNetBufferLists';
  const b = m.block;
  checkDispatchFlag(n, b, ddi, flags, NDIS_SEND_FLAGS_DISPATCH_LEVEL);
  if (m.handlers.SendNetBufferListsCompleteHandler == null) {
    n.verifier.report(
      'NdisSim_FilterDataState',
      ddi,
      b.name,
      `${ddi} from ${m.name}, whose driver has no FilterSendNetBufferListsComplete: NDIS could not give the NBLs back (nc-ndis-filter_send_net_buffer_lists_complete)`,
    );
    return;
  }
  let own = 0;
  let badSource = 0;
  let stamped = 0;
  const { head, count } = take(n, m, ddi, 'NdisSim_FilterNblOwnership', chain, (nbl) => {
    adopt(nbl, m);
    if (nbl._holder !== m) return whereIs(nbl, m);
    if (nbl._place === 'filter-send') {
      if (nbl.SourceHandle === m) stamped++;
      return null;
    }
    if (nbl._place !== 'filter') return whereIs(nbl, m);
    own++;
    if (nbl.SourceHandle !== m) badSource++;
    return null;
  });
  if (head === null) return;
  if (own > 0)
    sentOverUnlockedPages(n, b, ddi, `filter module ${m.name}`, head, (x) => x._place === 'filter');
  // What it passes on carries the sender's port, checked where the sender sent it.
  if (port !== 0 && own > 0) filterPortCheck(n, m, ddi, port);
  const md = moduleData(m);
  md.sendsOriginated += own;
  md.sendsPassed += count - own;
  // R7.6: sends only while Running; a Pausing module passes on what it had but originates nothing.
  if (m.state !== 'Running' && (own > 0 || m.state !== 'Pausing')) {
    n.verifier.report(
      'NdisSim_FilterDataState',
      ddi,
      b.name,
      `${ddi} from ${m.name} while it is ${m.state}: ${own > 0 ? `${own} NBL(s) it originated` : `${count} send(s) passed on`} (R7.5, R7.6)`,
    );
  }
  if (badSource > 0) {
    n.verifier.report(
      'NdisSim_FilterDataState',
      ddi,
      b.name,
      `${ddi} from ${m.name}: ${badSource} NBL(s) it originated do not carry its NdisFilterHandle in SourceHandle (nf-ndis-ndisfsendnetbufferlists)`,
    );
  }
  if (stamped > 0) stampedSource(n, m, ddi, stamped, 'above');
  const d = moduleData(m);
  for (let x: NET_BUFFER_LIST | null = head; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    if (nbl._place === 'filter-send') {
      d.heldSends.delete(nbl);
      if (nbl._fpath === null) nbl._fpath = [m];
      else nbl._fpath.push(m);
    } else {
      d.ownSendsOut++;
      nbl._fpath = null;
    }
    nbl._holder = null;
  }
  sendDown(n, b, b.filters.indexOf(m) - 1, head, port, flags);
}

/** NdisFSendNetBufferListsComplete: `m` gives sends from above back (done, or rejected). */
export function filterSendComplete(
  n: Ndis,
  m: FilterModule,
  chain: NET_BUFFER_LIST | null,
  flags: number,
): void {
  const ddi = 'NdisFSendNetBufferListsComplete';
  const b = m.block;
  checkDispatchFlag(n, b, ddi, flags, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
  const { head } = take(n, m, ddi, 'NdisSim_FilterNblOwnership', chain, (nbl) => {
    if (nbl._place !== 'filter-send' || nbl._holder !== m)
      return nbl._place === 'filter' && nbl._holder === m
        ? 'is one it originated: those come back to its FilterSendNetBufferListsComplete and stop there (nf-ndis-ndisfsendnetbufferlistscomplete)'
        : whereIs(nbl, m);
    if (nbl.Status === NDIS_STATUS_PENDING) return 'completed with NDIS_STATUS_PENDING';
    return null;
  });
  if (head === null) return;
  const d = moduleData(m);
  for (let x: NET_BUFFER_LIST | null = head; x !== null; x = x.Next) {
    d.sendsCompleted++;
    d.heldSends.delete(x as NblImpl);
    if ((x as NblImpl)._ctx !== null) contextLeft(n, x as NblImpl, m.driver.name, ddi, b.name);
  }
  completeUp(n, head, n.kernel.ctx.irql === Irql.Dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0);
}

/** NdisFCancelSendNetBufferLists: the cancel goes on to the modules below `m`, then the miniport. */
export function filterCancelSend(n: Ndis, m: FilterModule, cancelId: unknown): void {
  cancelDown(n, m.block, m.block.filters.indexOf(m) - 1, cancelId);
}

/** To the first module from `from` down with FilterCancelSendNetBufferLists, else MiniportCancelSend. */
function cancelDown(n: Ndis, b: MiniportBlock, from: number, cancelId: unknown): void {
  for (let i = from; i >= 0; i--) {
    const m = b.filters[i]!;
    const h = m.handlers.CancelSendNetBufferListsHandler;
    if (h == null || m.gone || !dataState(m)) continue;
    const f = n.enter(b, m.driver.name, 'FilterCancelSendNetBufferLists', n.kernel.ctx.irql);
    let returned: unknown;
    try {
      returned = h(m.context, cancelId);
    } catch (e) {
      n.driverThrew(e, 'FilterCancelSendNetBufferLists', b);
    }
    n.leaveVoid(f, returned);
    return;
  }
  cancelToMiniport(n, b, cancelId);
}

// --------------------------------------------------------------- filter receives

/**
 * Hands an indication to the first module from index `from` up with
 * FilterReceiveNetBufferLists, or to the protocols. With NDIS_RECEIVE_FLAGS_RESOURCES
 * nobody keeps the NBLs: they are the indicating driver's again when this returns.
 */
function indicateUp(
  n: Ndis,
  b: MiniportBlock,
  from: number,
  chain: NET_BUFFER_LIST,
  port: number,
  count: number,
  flags: number,
  resources: boolean,
): void {
  for (let i = from; i < b.filters.length; i++) {
    const m = b.filters[i]!;
    const h = m.handlers.ReceiveNetBufferListsHandler;
    if (h == null || m.gone) continue;
    // A Paused or Restarting module gets receives too: the miniport below runs before it
    // restarts and until after it paused, and the pages tell the filter what to do with
    // them (starting-a-filter-module: "Can receive network data indications";
    // nc-ndis-filter_pause: in Pausing or Paused it "can pass on calls to its
    // FilterReceiveNetBufferLists", never its own buffers). Only an attaching module does
    // not: nothing below it runs yet.
    if (m.state === 'Attaching') {
      if (!resources) returnDown(n, b, chain);
      return;
    }
    const d = moduleData(m);
    let outer: readonly NET_BUFFER_LIST[] | null = null;
    if (resources) {
      outer = d.resources;
      d.resources = chainToArray(chain);
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) (x as NblImpl)._resourcesWith = m;
    } else {
      const now = n.now;
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
        const nbl = x as NblImpl;
        nbl._place = 'filter-receive';
        nbl._holder = m;
        nbl._sinceNs = now;
        nbl._timedOut = false;
        d.heldRecvs.add(nbl);
      }
      d.arm();
    }
    const irql = n.kernel.ctx.irql;
    const rflags =
      irql === Irql.Dispatch
        ? flags | NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL
        : flags & ~NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL;
    const f = n.enter(
      b,
      m.driver.name,
      'FilterReceiveNetBufferLists',
      irql,
      n.trace.on ? { count, ReceiveFlags: flagNames(rflags, NDIS_RECEIVE_FLAGS_NAMES) } : undefined,
    );
    let returned: unknown;
    const given = d.resources;
    const outerPassed = d.resourcesPassed;
    d.resourcesPassed = 0;
    try {
      returned = h(m.context, chain, port, count, rflags);
    } catch (e) {
      n.driverThrew(e, 'FilterReceiveNetBufferLists', b);
    } finally {
      if (resources) {
        d.resources = outer;
        d.recvsDropped += Math.max(0, given!.length - d.resourcesPassed);
      }
      d.resourcesPassed = outerPassed;
    }
    n.leaveVoid(f, returned);
    if (resources) chainRestored(n, b, m, given!);
    return;
  }
  const targets = b.bindings.filter(receiving);
  if (resources) {
    deliver(n, targets, chain, port, count, flags);
    return;
  }
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    nbl._place = 'indicated';
    nbl._holder = null;
    nbl._block = b;
    nbl._refs = targets.length;
  }
  if (targets.length === 0) {
    returnDown(n, b, chain);
    return;
  }
  deliver(n, targets, chain, port, count, flags);
}

/**
 * nc-ndis-filter_receive_net_buffer_lists: with NDIS_RECEIVE_FLAGS_RESOURCES "the filter
 * driver must retain the original set of NET_BUFFER_LIST structures in the linked list":
 * one that unlinks NBLs (to drop or indicate them apart) must put the chain back before it
 * returns, since the driver below walks it again to reclaim its NBLs. A chain left changed
 * is NdisSim_FilterNblOwnership, and the model puts it back, so that the miniport below is
 * not blamed for NBLs it can no longer find.
 */
function chainRestored(n: Ndis, b: MiniportBlock, m: FilterModule, given: readonly NET_BUFFER_LIST[]): void {
  let at = -1;
  for (let i = 0; i < given.length; i++) {
    if (given[i]!.Next !== (given[i + 1] ?? null)) {
      at = i;
      break;
    }
  }
  if (at < 0) return;
  const x = given[at] as NblImpl;
  const to = x.Next as NblImpl | null;
  n.verifier.report(
    'NdisSim_FilterNblOwnership',
    'FilterReceiveNetBufferLists',
    b.name,
    `${m.name}: FilterReceiveNetBufferLists returned with the chain of an NDIS_RECEIVE_FLAGS_RESOURCES indication changed (NBL ${at + 1} of ${given.length}, #${x._id}, links to ${to === null ? 'NULL' : `#${to._id}`} instead of ${at + 1 < given.length ? `#${(given[at + 1] as NblImpl)._id}` : 'NULL'}): with that flag the filter must restore the original linked list before it returns, since the NBLs go back to the driver below as they came (nc-ndis-filter_receive_net_buffer_lists)`,
  );
  relink(given);
}

/**
 * Returned receives go down: each NBL to the nearest module that indicated it on and has
 * FilterReturnNetBufferLists, else to its originator: the module whose pool it is, or
 * the miniport.
 */
function returnDown(n: Ndis, b: MiniportBlock, chain: NET_BUFFER_LIST): void {
  let groups: Map<FilterModule, { head: NblImpl; tail: NblImpl }> | null = null;
  let mhead: NblImpl | null = null;
  let mtail: NblImpl | null = null;
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
    const next: NET_BUFFER_LIST | null = x.Next;
    const nbl = x as NblImpl;
    const m = popPath(nbl);
    if (m === null && nbl._pool.kind !== 'filter') {
      nbl._holder = null;
      nbl.Next = null;
      if (mtail === null) mhead = nbl;
      else mtail.Next = nbl;
      mtail = nbl;
      x = next;
      continue;
    }
    if (groups === null) groups = new Map();
    if (m !== null) {
      nbl._place = 'filter-receive';
      nbl._holder = m;
      nbl._sinceNs = n.now;
      nbl._timedOut = false;
      const d = moduleData(m);
      d.heldRecvs.add(nbl);
      d.recvsBack++;
      d.arm();
      group(groups as Map<Target, { head: NblImpl; tail: NblImpl }>, m, nbl);
    } else {
      const o = nbl._origin!;
      nbl._place = 'filter';
      nbl._holder = o;
      moduleData(o).ownRecvsOut--;
      if (nbl._ctx !== null) contextAtOwner(n, nbl, o.driver.name, 'FilterReturnNetBufferLists', b.name);
      group(groups as Map<Target, { head: NblImpl; tail: NblImpl }>, o, nbl);
    }
    x = next;
  }
  if (groups !== null) {
    const irql = n.kernel.ctx.irql;
    const rflags = irql === Irql.Dispatch ? NDIS_RETURN_FLAGS_DISPATCH_LEVEL : 0;
    for (const [m, g] of groups) {
      const h = m.handlers.ReturnNetBufferListsHandler;
      if (h == null || m.gone) continue;
      const f = n.enter(
        b,
        m.driver.name,
        'FilterReturnNetBufferLists',
        irql,
        n.trace.on ? { ReturnFlags: flagNames(rflags, NDIS_RETURN_FLAGS_NAMES) } : undefined,
      );
      let returned: unknown;
      try {
        returned = h(m.context, g.head, rflags);
      } catch (e) {
        n.driverThrew(e, 'FilterReturnNetBufferLists', b);
      }
      n.leaveVoid(f, returned);
    }
  }
  if (mhead !== null) returnToMiniport(n, b, mhead);
}

/** NdisFIndicateReceiveNetBufferLists: `m` passes receives from below on, or originates its own. */
export function filterIndicate(
  n: Ndis,
  m: FilterModule,
  chain: NET_BUFFER_LIST,
  port: number,
  declared: number,
  flags: number,
): void {
  const ddi = 'NdisFIndicateReceiveNetBufferLists';
  const b = m.block;
  checkDispatchFlag(n, b, ddi, flags, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
  const resources = (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0;
  const d = moduleData(m);
  const canOwn = m.handlers.ReturnNetBufferListsHandler != null;
  let own = 0;
  let walked = 0;
  let badSource = 0;
  let stamped = 0;
  const { head, count } = take(n, m, ddi, 'NdisSim_FilterNblOwnership', chain, (nbl) => {
    walked++;
    if (d.resources?.includes(nbl)) {
      // nc-ndis-filter_receive_net_buffer_lists: NBLs that came with the flag cannot be kept.
      if (nbl.SourceHandle === m) stamped++;
      d.resourcesPassed++;
      return resources ? null : 'came with NDIS_RECEIVE_FLAGS_RESOURCES and is passed on without it';
    }
    adopt(nbl, m);
    if (nbl._holder !== m) return whereIs(nbl, m);
    if (nbl._place === 'filter-receive') {
      if (nbl.SourceHandle === m) stamped++;
      return null;
    }
    if (nbl._place !== 'filter') return whereIs(nbl, m);
    if (!canOwn && !resources)
      return 'is its own, but its driver has no FilterReturnNetBufferLists to get it back (nc-ndis-filter_return_net_buffer_lists)';
    own++;
    if (nbl.SourceHandle !== m) badSource++;
    return null;
  });
  if (walked !== declared) {
    n.verifier.report(
      'NdisSim_FilterNblOwnership',
      ddi,
      b.name,
      `${ddi} from ${m.name}: NumberOfNetBufferLists is ${declared} but the chain has ${walked} NBLs`,
    );
  }
  if (head === null) return;
  // What it passes on carries the miniport's port, checked at NdisMIndicateReceiveNetBufferLists.
  if (port !== 0 && own > 0) filterPortCheck(n, m, ddi, port);
  d.recvsOriginated += own;
  d.recvsPassed += count - own;
  // nc-ndis-filter_pause: a Pausing or Paused module may pass receives on, never its own.
  if (own > 0 && m.state !== 'Running') {
    n.verifier.report(
      'NdisSim_FilterDataState',
      ddi,
      b.name,
      `${ddi} from ${m.name} while it is ${m.state}: ${own} NBL(s) it originated (R7.5, R7.6)`,
    );
  }
  if (badSource > 0) {
    n.verifier.report(
      'NdisSim_FilterDataState',
      ddi,
      b.name,
      `${ddi} from ${m.name}: ${badSource} NBL(s) it originated do not carry its NdisFilterHandle in SourceHandle (nf-ndis-ndisfindicatereceivenetbufferlists)`,
    );
  }
  if (stamped > 0) stampedSource(n, m, ddi, stamped, 'below');
  if (resources) {
    indicateUp(n, b, b.filters.indexOf(m) + 1, head, port, count, flags, resources);
    // The module's own NBLs are its again now that the call has returned (R6.13):
    // context space a driver above left in them is NdisSim_NblContext, as for a
    // miniport's (resourcesBack). NBLs it passed on go back to the driver below, which
    // checks them when its own indication returns.
    if (own > 0) resourcesBackToModule(n, m, head, count);
    return;
  }
  for (let x: NET_BUFFER_LIST | null = head; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    if (nbl._place === 'filter-receive') {
      d.heldRecvs.delete(nbl);
      // A module without FilterReturnNetBufferLists is bypassed on the way back.
      if (canOwn) {
        if (nbl._fpath === null) nbl._fpath = [m];
        else nbl._fpath.push(m);
      }
    } else {
      d.ownRecvsOut++;
      nbl._fpath = null;
    }
    nbl._holder = null;
  }
  indicateUp(n, b, b.filters.indexOf(m) + 1, head, port, count, flags, false);
}

/** resourcesBack for the NBLs module `m` originated in a chain it indicated with the flag. */
function resourcesBackToModule(n: Ndis, m: FilterModule, chain: NET_BUFFER_LIST, count: number): void {
  let x: NET_BUFFER_LIST | null = chain;
  for (let i = 0; i < count && x !== null; i++, x = x.Next) {
    const nbl = x as NblImpl;
    if (nbl._ctx !== null && nbl._place === 'filter' && nbl._holder === m)
      contextAtOwner(n, nbl, m.driver.name, 'NdisFIndicateReceiveNetBufferLists', m.block.name);
  }
}

/** NdisFReturnNetBufferLists: `m` gives receives it got from below back. */
export function filterReturn(n: Ndis, m: FilterModule, chain: NET_BUFFER_LIST | null, flags: number): void {
  const ddi = 'NdisFReturnNetBufferLists';
  const b = m.block;
  checkDispatchFlag(n, b, ddi, flags, NDIS_RETURN_FLAGS_DISPATCH_LEVEL);
  const d = moduleData(m);
  const { head } = take(n, m, ddi, 'NdisSim_FilterNblOwnership', chain, (nbl) => {
    if (d.resources?.includes(nbl))
      return 'came with NDIS_RECEIVE_FLAGS_RESOURCES: it goes back when FilterReceiveNetBufferLists returns, not with NdisFReturnNetBufferLists (nf-ndis-ndisfreturnnetbufferlists)';
    if (nbl._place !== 'filter-receive' || nbl._holder !== m)
      return nbl._place === 'filter' && nbl._holder === m
        ? 'is one it originated: those come back to its FilterReturnNetBufferLists and stop there'
        : whereIs(nbl, m);
    return null;
  });
  if (head === null) return;
  for (let x: NET_BUFFER_LIST | null = head; x !== null; x = x.Next) {
    d.recvsDropped++;
    d.heldRecvs.delete(x as NblImpl);
    if ((x as NblImpl)._ctx !== null) contextLeft(n, x as NblImpl, m.driver.name, ddi, b.name);
  }
  returnDown(n, b, head);
}

// ------------------------------------------------------- pause and detach checks

/** R7.6: a module's pause completes with nothing of the data path left with it or out for it. */
export function filterPauseDrained(n: Ndis, m: FilterModule): void {
  const d = m.fdata!;
  const left: string[] = [];
  if (d.heldSends.size > 0)
    left.push(`${d.heldSends.size} send(s) from above not completed (NdisFSendNetBufferListsComplete)`);
  if (d.heldRecvs.size > 0)
    left.push(`${d.heldRecvs.size} receive(s) from below not returned (NdisFReturnNetBufferLists)`);
  if (d.ownSendsOut > 0)
    left.push(`${d.ownSendsOut} send(s) it originated not back in FilterSendNetBufferListsComplete`);
  if (d.ownRecvsOut > 0)
    left.push(`${d.ownRecvsOut} receive(s) it originated not back in FilterReturnNetBufferLists`);
  if (left.length === 0) return;
  n.verifier.report(
    'NdisSim_FilterPauseNotDrained',
    'FilterPause',
    m.block.name,
    `the pause of filter module ${m.name} completed with ${left.join(', ')} (R7.6)`,
  );
}

/** The page that says what `fn` (FilterAttach failing, FilterDetach) frees. */
export function modulePage(fn: string): string {
  return fn === 'FilterAttach' ? 'nc-ndis-filter_attach' : 'nc-ndis-filter_detach';
}

/**
 * A module's NBL pools still allocated when FilterDetach returned, or when FilterAttach
 * failed (R7.5: a failing attach frees what it allocated; nc-ndis-filter_attach).
 */
export function moduleDetached(n: Ndis, m: FilterModule, fn = 'FilterDetach', how = 'returned'): void {
  const d = m.fdata!;
  if (d.pools.length === 0) return;
  // The first one names where the module allocated it (R7.11): NDIS finds it only now.
  const pool = d.pools[0]!;
  n.verifier.report(
    'NdisSim_ResourceNotFreed',
    fn,
    m.block.name,
    `${fn} of ${m.name} ${how} without freeing ${d.pools.length} NBL pool(s) (NdisFreeNetBufferListPool; ${d.pools.length > 1 ? 'the first ' : ''}allocated in ${placeText(pool.madeIn, pool.madeNs)}) (${modulePage(fn)})`,
    undefined,
    undefined,
    pool.origin(),
  );
  d.pools.length = 0;
}
