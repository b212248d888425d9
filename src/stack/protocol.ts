// A protocol driver bound above the miniport, enough for the removal sequence:
// it binds when the adapter comes up, answers NetPnPEvents, holds its sends
// between RESET_START and RESET_END (R4.8), pauses and unbinds (07-protocols-filters.md).

import type { Binding, NetEventCode, ProtocolEdge } from '../ndis/binding.ts';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
} from '../ndis/generated/status.ts';
import type { NDIS_STATUS, NDIS_STATUS_INDICATION } from '../ndis/types.ts';

export interface ProtocolOptions {
  /** Fail NetEventQueryRemoveDevice (a veto, R5.1). */
  vetoQueryRemove: boolean;
}

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
}

export class SimProtocol implements ProtocolEdge {
  readonly views = new Map<string, ProtocolView>();

  constructor(
    readonly name: string,
    readonly options: ProtocolOptions,
  ) {}

  private view(b: Binding): ProtocolView {
    let v = this.views.get(b.block.name);
    if (v === undefined) {
      v = {
        adapter: b.block.name,
        resetStarts: 0,
        resetEnds: 0,
        lastResetStatus: null,
        inReset: false,
        queryRemoves: 0,
        events: [],
        linkStates: [],
        unbound: false,
      };
      this.views.set(b.block.name, v);
    }
    return v;
  }

  ProtocolBindAdapterEx(b: Binding): NDIS_STATUS {
    // The open (NdisOpenAdapterEx) always succeeds in the model: the medium is Ethernet.
    const v = this.view(b);
    v.unbound = false;
    b.protocolContext = v;
    return NDIS_STATUS_SUCCESS;
  }

  ProtocolUnbindAdapterEx(b: Binding): NDIS_STATUS {
    // R7.3: the binding is Paused; close it (NdisCloseAdapterEx completes at once here).
    this.view(b).unbound = true;
    return NDIS_STATUS_SUCCESS;
  }

  ProtocolNetPnPEvent(b: Binding, event: NetEventCode): NDIS_STATUS {
    const v = this.view(b);
    v.events.push(event);
    switch (event) {
      case 'NetEventQueryRemoveDevice':
        v.queryRemoves++;
        return this.options.vetoQueryRemove ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS;
      case 'NetEventPause':
        // R7.2: no sends of its own are outstanding in this model, so the pause is immediate.
        return NDIS_STATUS_SUCCESS;
      case 'NetEventRestart':
      case 'NetEventCancelRemoveDevice':
        return NDIS_STATUS_SUCCESS;
    }
  }

  ProtocolStatusEx(b: Binding, indication: NDIS_STATUS_INDICATION): void {
    const v = this.view(b);
    switch (indication.StatusCode) {
      case NDIS_STATUS_RESET_START:
        v.resetStarts++;
        v.inReset = true;
        return;
      case NDIS_STATUS_RESET_END:
        v.resetEnds++;
        v.inReset = false;
        v.lastResetStatus = indication.StatusBuffer as number;
        return;
      case NDIS_STATUS_LINK_STATE: {
        const s = indication.StatusBuffer as { MediaConnectState?: number } | null;
        v.linkStates.push(s?.MediaConnectState ?? 0);
        return;
      }
    }
  }
}
