// A protocol driver bound above miniports (07-protocols-filters.md): it binds when
// an adapter comes up, sets its packet filter and multicast list, sends traffic at
// the scenario's rate and size, holds received NBLs for the scenario's delay, asks
// for statistics, takes part in pause, reset (R4.8) and unbind (R7.3), and checks
// its own side of the contract: every send completed once, every receive returned
// once, nothing delivered after unbind.

import { assert } from '../errors.ts';
import { Irql, KTimer, type TimerRoutine, WorkItem, type WorkRoutine } from '../kernel/kernel.ts';
import { allocateNbl, freeNbl } from '../ndis/api/datapath.ts';
import type { Binding, BindingState, NetEventCode, ProtocolEdge } from '../ndis/binding.ts';
import type { MiniportBlock } from '../ndis/block.ts';
import {
  NDIS_PACKET_TYPE_BROADCAST,
  NDIS_PACKET_TYPE_DIRECTED,
  NDIS_PACKET_TYPE_MULTICAST,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  OID_802_3_MULTICAST_LIST,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_STATISTICS,
} from '../ndis/generated/status.ts';
import { type NblImpl, NblPool, type NET_BUFFER_LIST } from '../ndis/nbl.ts';
import type { Ndis } from '../ndis/ndis.ts';
import { oidRequest, queryBufferLength, setBufferLength } from '../ndis/oid.ts';
import {
  NdisCancelSendNetBufferLists,
  NdisCompleteNetPnPEvent,
  NdisCompleteUnbindAdapterEx,
  NdisOidRequest,
  NdisReturnNetBufferLists,
  NdisSendNetBufferLists,
} from '../ndis/protocol-api.ts';
import type { NDIS_OID_REQUEST, NDIS_STATUS, NDIS_STATUS_INDICATION } from '../ndis/types.ts';
import { ChoiceSite } from '../sim/choice.ts';
import { ns } from '../sim/limits.ts';

/** A protocol's traffic on each binding (the scenario's `traffic`, in ns and per second). */
export interface TrafficOptions {
  /** Frames sent per second on each binding while it runs; 0 = none. */
  ratePerSecond: number;
  /** Bytes per frame. */
  frameBytes: number;
  /** How long received NBLs are held before NdisReturnNetBufferLists. */
  returnDelayNs: number;
  /** Period of OID_GEN_STATISTICS queries; 0 = none. */
  statisticsEveryNs: number;
  /** NBLs chained in one NdisSendNetBufferLists call (each send of the rate sends a chain). */
  nblsPerSend: number;
  /** NET_BUFFERs (frames) in each NBL. */
  netBuffersPerNbl: number;
  /**
   * The IRQL the sends are made at: DISPATCH (from the send timer's DPC), PASSIVE (from a
   * work item it queues), or either, drawn per send (ChoiceSite.SendIrql).
   */
  sendIrql: 'dispatch' | 'passive' | 'explore';
}

export interface ProtocolOptions {
  /** Fail NetEventQueryRemoveDevice (a veto, R5.1). */
  vetoQueryRemove: boolean;
  traffic: TrafficOptions;
}

/**
 * The traffic fields a scenario or World.addProtocol may leave out, and their values:
 * the one place the defaults are written (the YAML schema reads them from here).
 */
export const trafficDefaults: Readonly<Omit<TrafficOptions, 'ratePerSecond'>> = Object.freeze({
  frameBytes: 512,
  returnDelayNs: 0,
  statisticsEveryNs: 0,
  nblsPerSend: 1,
  netBuffersPerNbl: 1,
  sendIrql: 'dispatch',
});

/** TrafficOptions as World.addProtocol takes them: the rate, the rest as trafficDefaults unless given. */
export type TrafficInput = Pick<TrafficOptions, 'ratePerSecond'> & Partial<TrafficOptions>;

/** Frozen: every protocol without traffic shares it. */
export const noTraffic: Readonly<TrafficOptions> = Object.freeze({ ratePerSecond: 0, ...trafficDefaults });

/** The full TrafficOptions of `t`: each field left out (or undefined) takes its default. */
export function trafficOf(t: TrafficInput | undefined): Readonly<TrafficOptions> {
  if (t === undefined) return noTraffic;
  return {
    ratePerSecond: t.ratePerSecond,
    frameBytes: t.frameBytes ?? trafficDefaults.frameBytes,
    returnDelayNs: t.returnDelayNs ?? trafficDefaults.returnDelayNs,
    statisticsEveryNs: t.statisticsEveryNs ?? trafficDefaults.statisticsEveryNs,
    nblsPerSend: t.nblsPerSend ?? trafficDefaults.nblsPerSend,
    netBuffersPerNbl: t.netBuffersPerNbl ?? trafficDefaults.netBuffersPerNbl,
    sendIrql: t.sendIrql ?? trafficDefaults.sendIrql,
  };
}

/** An 802.3 frame's header ahead of the MTU's payload: two addresses and the EtherType. */
const ethernetHeaderBytes = 14;

/** What the protocol saw on one binding, for summaries and tests. */
export interface ProtocolView {
  adapter: string;
  resetStarts: number;
  resetEnds: number;
  lastResetStatus: number | null;
  inReset: boolean;
  queryRemoves: number;
  events: NetEventCode[];
  linkStates: number[];
  unbound: boolean;
  sent: number;
  sendCompleted: number;
  /** Send completions by status name. */
  sendStatus: Record<number, number>;
  received: number;
  returned: number;
  copied: number;
  oidsIssued: number;
  oidsCompleted: number;
  /** Its own contract checks; each entry is a problem. */
  problems: string[];
}

/** Per-binding state (the ProtocolBindingContext). */
class ProtoBinding implements TimerRoutine {
  readonly view: ProtocolView;
  /** Sends handed to NDIS and not yet completed. */
  readonly outstanding = new Set<NblImpl>();
  /** Received NBLs held, with the time each is due back (FIFO). */
  readonly held: { nbl: NET_BUFFER_LIST; dueNs: number }[] = [];
  /** Timers for sending, returning held receives and statistics; made when first needed. */
  private sendTimer: KTimer | null = null;
  /** The work item of PASSIVE sends (sendIrql passive or explore); made when first needed. */
  private sendWork: WorkItem | null = null;
  private returnTimer: KTimer | null = null;
  private statsTimer: KTimer | null = null;
  pausePending = false;
  unbindPending = false;
  /** Its OID_GEN_STATISTICS query is under way (statisticsEvery). */
  statisticsPending = false;
  /** Between NetEventSetPower to a low-power state and NetEventSetPower(D0): no OID requests. */
  lowPower = false;
  unbindOids = 0;
  /** An unbind began between RESET_START and RESET_END: its requests wait for RESET_END (R4.8). */
  unbindWaitsForReset = false;
  configured = false;
  nextRequestId = 1;
  /**
   * The cancel ID its sends carry (NDIS_SET_NET_BUFFER_LIST_CANCEL_ID): one for the
   * sends made since the last `cancel-sends`, which cancels those and starts another.
   */
  cancelId = 1;
  /**
   * Bytes per frame it sends: the traffic's frameBytes, or less where that is over the
   * adapter's MTU (NDIS_BIND_PARAMETERS.MtuSize) and the 14-byte Ethernet header.
   */
  readonly frameBytes: number;
  /** Requests in NDIS that have a completion routine, with it (a few at most). */
  private readonly waiting: { req: NDIS_OID_REQUEST; done: (s: NDIS_STATUS) => void }[] = [];

  constructor(
    readonly proto: SimProtocol,
    readonly bd: Binding,
  ) {
    this.view = {
      adapter: bd.block.name,
      resetStarts: 0,
      resetEnds: 0,
      lastResetStatus: null,
      inReset: false,
      queryRemoves: 0,
      events: [],
      linkStates: [],
      unbound: false,
      sent: 0,
      sendCompleted: 0,
      sendStatus: {},
      received: 0,
      returned: 0,
      copied: 0,
      oidsIssued: 0,
      oidsCompleted: 0,
      problems: [],
    };
    this.frameBytes = proto.options.traffic.frameBytes;
    // A protocol sends nothing over the MTU the bind gave it: NDIS does not check, and a
    // miniport may rightly fail or truncate such a frame, so the traffic is clipped.
    const mtu = bd.block.general?.MtuSize ?? 0;
    if (mtu > 0 && this.frameBytes > mtu + ethernetHeaderBytes) {
      this.frameBytes = mtu + ethernetHeaderBytes;
      const note = `${proto.name}: traffic.frameBytes ${proto.options.traffic.frameBytes} is over ${bd.block.name}'s MtuSize ${mtu} plus the ${ethernetHeaderBytes}-byte Ethernet header: its frames there were ${this.frameBytes} bytes, as a protocol sends none over the MTU of its bind`;
      const notes = bd.block.ndis.modelNotes;
      if (!notes.includes(note)) notes.push(note);
    }
  }

  get ndis(): Ndis {
    return this.bd.block.ndis;
  }

  /** Timer callbacks (DISPATCH): the timer says which job is due. */
  runTimer(t: KTimer): void {
    if (t === this.sendTimer) this.sendDue();
    else if (t === this.returnTimer) this.returnDue(false);
    else if (t === this.statsTimer) this.queryStatistics();
  }

  sending(): boolean {
    return this.bd.state === 'Running' && !this.view.inReset;
  }

  startTraffic(): void {
    const t = this.proto.options.traffic;
    const k = this.ndis.kernel;
    if (t.ratePerSecond > 0) {
      this.sendTimer ??= new KTimer(this, this.proto.name);
      if (!this.sendTimer.queued) {
        const period = Math.max(1, Math.round(ns.s / t.ratePerSecond));
        k.setTimer(this.sendTimer, k.now + period, period);
      }
    }
    if (t.statisticsEveryNs > 0) {
      this.statsTimer ??= new KTimer(this, this.proto.name);
      if (!this.statsTimer.queued)
        k.setTimer(this.statsTimer, k.now + t.statisticsEveryNs, t.statisticsEveryNs);
    }
  }

  stopTraffic(): void {
    const k = this.ndis.kernel;
    if (this.sendTimer !== null) k.cancelTimer(this.sendTimer);
    if (this.statsTimer !== null) k.cancelTimer(this.statsTimer);
  }

  /** The send timer fired (DISPATCH): send now, or from a work item at PASSIVE. */
  private sendDue(): void {
    const how = this.proto.options.traffic.sendIrql;
    if (
      how === 'dispatch' ||
      (how === 'explore' && this.ndis.kernel.machine.choose(ChoiceSite.SendIrql, 2) === 0)
    ) {
      this.sendOne();
      return;
    }
    // One work item a binding: a tick that finds it still queued adds nothing.
    this.sendWork ??= new WorkItem(passiveSender, this.proto.name, this);
    if (!this.sendWork.queued) this.ndis.kernel.queueWork(this.sendWork);
  }

  /** One send of the traffic: a chain of nblsPerSend NBLs, each of netBuffersPerNbl frames. */
  sendOne(): void {
    if (!this.sending()) return;
    const n = this.ndis;
    const t = this.proto.options.traffic;
    let head: NblImpl | null = null;
    let tail: NblImpl | null = null;
    for (let i = 0; i < t.nblsPerSend; i++) {
      const nbl = allocateNbl(n, this.proto.pool, null, 0, this.frameBytes);
      // More frames: NET_BUFFERs linked behind the NBL's own (NdisFreeNetBufferList frees that one only).
      let nb = nbl.FirstNetBuffer!;
      for (let k = 1; k < t.netBuffersPerNbl; k++) {
        nb.Next = { Next: null, DataLength: this.frameBytes, DataOffset: 0, Data: null };
        nb = nb.Next;
      }
      this.outstanding.add(nbl);
      this.view.sent++;
      nbl.CancelId = this.cancelId;
      if (tail === null) head = nbl;
      else tail.Next = nbl;
      tail = nbl;
    }
    // No NDIS_SEND_FLAGS_DISPATCH_LEVEL: the flag is an optimization a sender may leave out (R6.14).
    NdisSendNetBufferLists(this.bd, head!, 0, 0);
  }

  sendComplete(chain: NET_BUFFER_LIST): void {
    const n = this.ndis;
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
      const next: NET_BUFFER_LIST | null = x.Next;
      const nbl = x as NblImpl;
      if (!this.outstanding.delete(nbl)) {
        this.view.problems.push(`send NBL #${nbl._id} completed but not outstanding`);
      } else {
        this.view.sendCompleted++;
        this.view.sendStatus[nbl.Status] = (this.view.sendStatus[nbl.Status] ?? 0) + 1;
        nbl.Next = null;
        nbl.FirstNetBuffer!.Next = null;
        freeNbl(n, nbl, 'NdisFreeNetBufferList');
      }
      x = next;
    }
    if (this.pausePending && this.outstanding.size === 0) {
      this.pausePending = false;
      // NdisCompleteNetPnPEvent is PASSIVE only; a send completion may come at DISPATCH.
      if (n.kernel.ctx.irql === Irql.Passive) completePause(this);
      else n.kernel.queueWork(new WorkItem(pauseCompleter, this.proto.name, this));
    }
  }

  receive(chain: NET_BUFFER_LIST, count: number, flags: number): void {
    if (this.view.unbound) this.view.problems.push('receive indicated after unbind');
    if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0) {
      // R6.13: copy now; the NBLs go back to the miniport when the indication returns.
      this.view.copied += count;
      return;
    }
    this.view.received += count;
    const delay = this.proto.options.traffic.returnDelayNs;
    // R7.2: a pausing binding returns receives at once.
    if (delay === 0 || this.bd.state !== 'Running') {
      this.view.returned += count;
      NdisReturnNetBufferLists(this.bd, chain, 0);
      return;
    }
    const n = this.ndis;
    const due = n.now + delay;
    // Keep each NBL separately: they may come back in other groupings (R6.13).
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
      const next: NET_BUFFER_LIST | null = x.Next;
      x.Next = null;
      this.held.push({ nbl: x, dueNs: due });
      x = next;
    }
    this.returnTimer ??= new KTimer(this, this.proto.name);
    if (!this.returnTimer.queued) n.kernel.setTimer(this.returnTimer, due, 0);
  }

  /** Gives back held receives that are due (or all of them). */
  returnDue(all: boolean): void {
    const n = this.ndis;
    const now = n.now;
    let head: NET_BUFFER_LIST | null = null;
    let tail: NET_BUFFER_LIST | null = null;
    let k = 0;
    while (this.held.length > 0 && (all || this.held[0]!.dueNs <= now)) {
      const h = this.held.shift()!;
      if (tail === null) head = h.nbl;
      else tail.Next = h.nbl;
      tail = h.nbl;
      k++;
    }
    // The chain ends here, whatever link the NBL had meanwhile (R6.13).
    if (tail !== null) tail.Next = null;
    if (this.returnTimer !== null) {
      if (!all && this.held.length > 0) n.kernel.setTimer(this.returnTimer, this.held[0]!.dueNs, 0);
      if (all) n.kernel.cancelTimer(this.returnTimer);
    }
    if (head !== null) {
      this.view.returned += k;
      NdisReturnNetBufferLists(this.bd, head, 0);
    }
  }

  request(oid: number, type: number, value: unknown, onDone?: (s: NDIS_STATUS) => void): void {
    const req = oidRequest(
      type,
      oid,
      value,
      type === NdisRequestSetInformation ? setBufferLength(value) : queryBufferLength(oid),
      `${this.proto.name}:${this.nextRequestId++}`,
    );
    this.view.oidsIssued++;
    if (onDone !== undefined) this.waiting.push({ req, done: onDone });
    const s = NdisOidRequest(this.bd, req);
    if (s !== NDIS_STATUS_PENDING) this.oidComplete(req, s);
  }

  oidComplete(req: NDIS_OID_REQUEST, status: NDIS_STATUS): void {
    this.view.oidsCompleted++;
    const w = this.waiting;
    for (let i = 0; i < w.length; i++) {
      const x = w[i]!;
      if (x.req !== req) continue;
      w[i] = w[w.length - 1]!;
      w.pop();
      x.done(status);
      return;
    }
  }

  queryStatistics(): void {
    const s = this.bd.state;
    // R4.8: no requests between RESET_START and RESET_END.
    if (
      s === 'Closing' ||
      s === 'Unbound' ||
      s === 'Opening' ||
      this.unbindPending ||
      this.view.inReset ||
      this.lowPower ||
      // One query at a time: a miniport slower than the period would have them pile up
      // in NDIS's queue, in front of every other request of the binding.
      this.statisticsPending
    )
      return;
    this.statisticsPending = true;
    this.request(OID_GEN_STATISTICS, NdisRequestQueryInformation, null, () => {
      this.statisticsPending = false;
    });
  }

  /** R7.3: clear the addressing settings, then close. */
  beginUnbind(): void {
    this.stopTraffic();
    this.returnDue(true);
    this.unbindPending = true;
    // R4.8: no requests between RESET_START and RESET_END; they wait for RESET_END,
    // which reaches a Closing binding that heard RESET_START (S-d step 4).
    if (this.view.inReset) this.unbindWaitsForReset = true;
    else this.clearAndClose();
  }

  /** After RESET_END: the clean-up requests an unbind held back (R4.8). */
  resetEnded(): void {
    if (!this.unbindWaitsForReset) return;
    this.unbindWaitsForReset = false;
    this.clearAndClose();
  }

  private clearAndClose(): void {
    this.unbindOids = 2;
    const done = (): void => {
      if (--this.unbindOids === 0) this.finishUnbind();
    };
    this.request(OID_GEN_CURRENT_PACKET_FILTER, NdisRequestSetInformation, 0, done);
    this.request(OID_802_3_MULTICAST_LIST, NdisRequestSetInformation, [], done);
  }

  finishUnbind(): void {
    if (this.outstanding.size > 0)
      this.view.problems.push(`${this.outstanding.size} send(s) not completed at unbind`);
    if (this.held.length > 0)
      this.view.problems.push(`${this.held.length} receive(s) not returned at unbind`);
    this.unbindPending = false;
    this.view.unbound = true;
    // NdisCloseAdapterEx completes at once in the model.
    NdisCompleteUnbindAdapterEx(this.bd);
  }
}

/** The built-in protocol's unbind of `b` holds its clean-up requests until RESET_END (R4.8). */
export function unbindWaitsForReset(b: Binding): boolean {
  const pb = b.protocolContext;
  return pb instanceof ProtoBinding && pb.unbindWaitsForReset;
}

/** The built-in protocol's sends on `b` not yet completed (empty for another protocol). */
export function sendsOutstanding(b: Binding): readonly NblImpl[] {
  const pb = b.protocolContext;
  return pb instanceof ProtoBinding ? [...pb.outstanding] : [];
}

export class SimProtocol implements ProtocolEdge {
  /** What each binding saw, in bind order (a binding that comes again adds another). */
  readonly views: ProtocolView[] = [];
  /** The bindings behind `views`, in the same order. */
  private readonly made: ProtoBinding[] = [];
  readonly pool: NblPool;

  constructor(
    readonly name: string,
    readonly options: ProtocolOptions,
  ) {
    this.pool = new NblPool(null, name, 'protocol', 0, 0);
  }

  /** What each binding saw, as `views`, with the NDIS state of its binding now (R7.1). */
  viewsWithState(): (ProtocolView & { state: BindingState })[] {
    return this.made.map((pb) => ({ ...pb.view, state: pb.bd.state }));
  }

  /**
   * A scenario's `cancel-sends`: on each binding to `block`, NdisCancelSendNetBufferLists
   * with the cancel ID of the sends made since the last one; later sends get a new ID.
   */
  cancelSends(block: MiniportBlock): void {
    for (const bd of block.bindings) {
      if (bd.protocol !== this || bd.protocolContext === null) continue;
      const pb = this.pb(bd);
      NdisCancelSendNetBufferLists(bd, pb.cancelId++);
    }
  }

  /** One frame on each of this protocol's bindings to `block` that is running (a scenario's `send`). */
  sendOnce(block: MiniportBlock): void {
    for (const bd of block.bindings)
      if (bd.protocol === this && bd.protocolContext !== null) this.pb(bd).sendOne();
  }

  private pb(b: Binding): ProtoBinding {
    const pb = b.protocolContext as ProtoBinding | null;
    assert(pb !== null, 'SimProtocol: binding without context', b.block.name);
    return pb;
  }

  ProtocolBindAdapterEx(b: Binding): NDIS_STATUS {
    // The open (NdisOpenAdapterEx) succeeds at once: the medium is Ethernet.
    const pb = new ProtoBinding(this, b);
    b.protocolContext = pb;
    this.views.push(pb.view);
    this.made.push(pb);
    return NDIS_STATUS_SUCCESS;
  }

  ProtocolUnbindAdapterEx(b: Binding): NDIS_STATUS {
    this.pb(b).beginUnbind();
    return NDIS_STATUS_PENDING;
  }

  ProtocolNetPnPEvent(b: Binding, event: NetEventCode, buffer?: unknown): NDIS_STATUS {
    const pb = this.pb(b);
    pb.view.events.push(event);
    switch (event) {
      case 'NetEventQueryRemoveDevice':
        pb.view.queryRemoves++;
        return this.options.vetoQueryRemove ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS;
      case 'NetEventPause':
        // R7.2: stop sending, give back receives now, wait for the sends in flight.
        pb.stopTraffic();
        pb.returnDue(true);
        if (pb.outstanding.size === 0) return NDIS_STATUS_SUCCESS;
        pb.pausePending = true;
        return NDIS_STATUS_PENDING;
      case 'NetEventRestart':
        if (!pb.configured) {
          pb.configured = true;
          pb.request(
            OID_GEN_CURRENT_PACKET_FILTER,
            NdisRequestSetInformation,
            NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_MULTICAST | NDIS_PACKET_TYPE_BROADCAST,
          );
          pb.request(OID_802_3_MULTICAST_LIST, NdisRequestSetInformation, [
            [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
          ]);
        }
        // Traffic starts once the binding is Running (after this returns).
        b.block.ndis.kernel.machine.after(0, restartKick, 0, pb);
        return NDIS_STATUS_SUCCESS;
      case 'NetEventCancelRemoveDevice':
        return NDIS_STATUS_SUCCESS;
      case 'NetEventQueryPower':
        return NDIS_STATUS_SUCCESS;
      case 'NetEventSetPower':
        // A power-management-aware protocol always succeeds them; it is paused (or
        // restarted) around them by NDIS, unless the miniport set NO_PAUSE_ON_SUSPEND.
        // In low power it issues no OID request (the protocol power page): its
        // statistics queries stop until NetEventSetPower(D0).
        pb.lowPower = buffer !== NdisDeviceStateD0;
        return NDIS_STATUS_SUCCESS;
      case 'NetEventPortActivation':
      case 'NetEventPortDeactivation':
        // It sends on the default port only; it notes the event (view.events) and is done.
        return NDIS_STATUS_SUCCESS;
    }
  }

  ProtocolStatusEx(b: Binding, indication: NDIS_STATUS_INDICATION): void {
    const v = this.pb(b).view;
    switch (indication.StatusCode) {
      case NDIS_STATUS_RESET_START:
        // R4.8: hold sends until RESET_END.
        v.resetStarts++;
        v.inReset = true;
        return;
      case NDIS_STATUS_RESET_END:
        v.resetEnds++;
        v.inReset = false;
        v.lastResetStatus = indication.StatusBuffer as number;
        this.pb(b).resetEnded();
        return;
      case NDIS_STATUS_LINK_STATE: {
        const s = indication.StatusBuffer as { MediaConnectState?: number } | null;
        v.linkStates.push(s?.MediaConnectState ?? 0);
        return;
      }
    }
  }

  ProtocolSendNetBufferListsComplete(b: Binding, chain: NET_BUFFER_LIST): void {
    this.pb(b).sendComplete(chain);
  }

  ProtocolReceiveNetBufferLists(
    b: Binding,
    chain: NET_BUFFER_LIST,
    _port: number,
    count: number,
    flags: number,
  ): void {
    this.pb(b).receive(chain, count, flags);
  }

  ProtocolOidRequestComplete(b: Binding, req: NDIS_OID_REQUEST, status: NDIS_STATUS): void {
    this.pb(b).oidComplete(req, status);
  }
}

function completePause(pb: ProtoBinding): void {
  NdisCompleteNetPnPEvent(pb.bd, 'NetEventPause', NDIS_STATUS_SUCCESS);
}

/** A tick's send at PASSIVE, from a system worker thread. */
const passiveSender: WorkRoutine = {
  runWork(item: WorkItem): void {
    (item.arg as ProtoBinding).sendOne();
  },
};

/** Completes a pended pause from a PASSIVE worker (the last send completed at DISPATCH). */
const pauseCompleter: WorkRoutine = {
  runWork(item: WorkItem): void {
    completePause(item.arg as ProtoBinding);
  },
};

/** Starts a binding's traffic once NDIS has moved it to Running. */
const restartKick = {
  fire(_op: number, arg: unknown): void {
    const pb = arg as ProtoBinding;
    if (pb.bd.state === 'Running') pb.startTraffic();
  },
};
