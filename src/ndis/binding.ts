// A protocol binding to an adapter, as NDIS tracks it (R7.1), and the edge NDIS
// calls protocols through (ProtocolXxx handlers). Protocol models live in src/stack.

import type { MiniportBlock } from './block.ts';
import type { FilterModule } from './filter.ts';
import type { NET_BUFFER_LIST } from './nbl.ts';
import type { ProtocolOpen } from './protocol-driver.ts';
import type { NDIS_HANDLE, NDIS_OID_REQUEST, NDIS_STATUS, NDIS_STATUS_INDICATION } from './types.ts';

export const bindingStates = [
  'Unbound',
  'Opening',
  'Paused',
  'Restarting',
  'Running',
  'Pausing',
  'Closing',
] as const;
export type BindingState = (typeof bindingStates)[number];

/** NET_PNP_EVENT_CODE members the model sends (names as in ndis.h). */
export type NetEventCode =
  | 'NetEventQueryRemoveDevice'
  | 'NetEventCancelRemoveDevice'
  | 'NetEventPause'
  | 'NetEventRestart'
  /** A system sleep or resume (power.ts); the buffer is the NDIS_DEVICE_POWER_STATE. */
  | 'NetEventQueryPower'
  | 'NetEventSetPower'
  /** A miniport's port events (ports.ts); the buffer is its NDIS_PORT list or NDIS_PORT_NUMBER array. */
  | 'NetEventPortActivation'
  | 'NetEventPortDeactivation';

/** What NDIS calls on a protocol driver. A PENDING return obliges the matching completion. */
export interface ProtocolEdge {
  readonly name: string;
  /** PENDING → Ndis.completeBindAdapter. */
  ProtocolBindAdapterEx(binding: Binding): NDIS_STATUS;
  /** PENDING → Ndis.completeUnbindAdapter. */
  ProtocolUnbindAdapterEx(binding: Binding): NDIS_STATUS;
  /**
   * PENDING → for pause and restart, Ndis.completeNetPnPEvent later; for the other
   * events a protocol driver's NdisCompleteNetPnPEvent, which NDIS waits for
   * (protocol-driver.ts awaitNetPnPEvent; the model's own protocols answer at once).
   * `buffer`: NET_PNP_EVENT.Buffer, the NDIS_DEVICE_POWER_STATE of NetEventQueryPower
   * and NetEventSetPower, else null.
   */
  ProtocolNetPnPEvent(binding: Binding, event: NetEventCode, buffer?: unknown): NDIS_STATUS;
  ProtocolStatusEx(binding: Binding, indication: NDIS_STATUS_INDICATION): void;
  /** NBLs it sent come back (it owns them again). */
  ProtocolSendNetBufferListsComplete(
    binding: Binding,
    NetBufferLists: NET_BUFFER_LIST,
    SendCompleteFlags: number,
  ): void;
  /** Received NBLs; unless NDIS_RECEIVE_FLAGS_RESOURCES is set it gives them back with Ndis.returnNetBufferLists. */
  ProtocolReceiveNetBufferLists(
    binding: Binding,
    NetBufferLists: NET_BUFFER_LIST,
    PortNumber: number,
    NumberOfNetBufferLists: number,
    ReceiveFlags: number,
  ): void;
  ProtocolOidRequestComplete(binding: Binding, OidRequest: NDIS_OID_REQUEST, Status: NDIS_STATUS): void;
  /** ProtocolDirectOidRequestComplete (direct-oid.ts): only a protocol that issues direct requests has it. */
  ProtocolDirectOidRequestComplete?(
    binding: Binding,
    OidRequest: NDIS_OID_REQUEST,
    Status: NDIS_STATUS,
  ): void;
  /** True while the protocol has asked not to be bound to `block` (NdisUnbindAdapter). */
  declines?(block: MiniportBlock): boolean;
}

/**
 * NDIS_OID_REQUEST.RequestHandle: who issued a request, a binding, a filter module
 * (`module`) or NDIS itself (both null). A miniport that answers the request with a
 * status indication puts it in DestinationHandle, and NDIS then indicates to that
 * source only (R6.16).
 */
export class OidSourceHandle implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_OID_SOURCE';
  constructor(
    readonly binding: Binding | null,
    readonly module: FilterModule | null = null,
  ) {}
}

export class Binding implements NDIS_HANDLE {
  readonly __ndisHandle = 'NDIS_BINDING';
  /** RequestHandle of the requests this binding issues (R6.16). */
  readonly requestHandle: OidSourceHandle = new OidSourceHandle(this);
  state: BindingState = 'Unbound';
  /** The NDIS call the protocol has pended, if any. */
  pending: 'bind' | 'unbind' | 'NetEventPause' | 'NetEventRestart' | null = null;
  /** Protocol's answer to the last NetEventQueryRemoveDevice. */
  queryRemoveStatus = 0;
  /**
   * It heard a RESET_START whose RESET_END it has not heard yet (reset.ts): that
   * RESET_END still reaches it once its unbind is under way (R4.8, S-d step 4).
   */
  inReset = false;
  /** The R4.8 warning of a call during this reset was given (reset.ts resetCallByProtocol). */
  resetCallWarned = false;
  /** Protocol-private state (ProtocolBindingContext). */
  protocolContext: unknown = null;
  /**
   * NDIS's record of the open, for a protocol driver that registered itself
   * (protocol-driver.ts); null for the model's own protocols, whose bind opens at once.
   */
  open: ProtocolOpen | null = null;
  constructor(
    readonly protocol: ProtocolEdge,
    readonly block: MiniportBlock,
  ) {}

  get name(): string {
    return `${this.protocol.name}→${this.block.name}`;
  }
}
