// The NDIS port DDIs of a miniport: NdisMAllocatePort, NdisMFreePort, and
// NdisMNetPnPEvent with NetEventPortActivation and NetEventPortDeactivation (the pages
// nf-ndis-ndismallocateport, nf-ndis-ndismfreeport, nf-ndis-ndismnetpnpevent and
// "Allocating / Activating / Deactivating / Freeing an NDIS Port"). The table they
// act on is in ../ports.ts; NDIS passes port events up the stack as it passes its own
// net PnP events (filter.ts netEventUp).

import { NotModelledError } from '../../errors.ts';
import type { NetEventCode } from '../binding.ts';
import type { MiniportBlock } from '../block.ts';
import type { NET_PNP_EVENT_NOTIFICATION } from '../filter.ts';
import { netEventUp } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  NDIS_MAXIMUM_PORTS,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_PORT_CHARACTERISTICS_REVISION_1,
  NDIS_SIZEOF_PORT_CHARACTERISTICS_REVISION_1,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_INVALID_PORT,
  NDIS_STATUS_INVALID_PORT_STATE,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisPortTypeMax,
  NET_PNP_EVENT_CODE_NAMES,
  NetEventBindsComplete,
  NetEventCancelRemoveDevice,
  NetEventPause,
  NetEventPortActivation,
  NetEventPortDeactivation,
  NetEventQueryPower,
  NetEventQueryRemoveDevice,
  NetEventRestart,
  NetEventSetPower,
} from '../generated/status.ts';
import { describe } from '../ndis.ts';
import {
  AdapterPorts,
  controlsDefaultPort,
  defaultPortActive,
  type NDIS_PORT,
  type NDIS_PORT_CHARACTERISTICS,
  NDIS_PORT_NUMBER_SIZE,
  portEventNumbers,
} from '../ports.ts';
import type { NDIS_HANDLE, NDIS_PORT_NUMBER, NDIS_STATUS } from '../types.ts';
import { adapterHandle, stale } from './common.ts';

export type { NDIS_PORT, NDIS_PORT_ARRAY, NDIS_PORT_CHARACTERISTICS } from '../ports.ts';

const irql = {
  NdisMAllocatePort: ddiIrql.NdisMAllocatePort!,
  NdisMFreePort: ddiIrql.NdisMFreePort!,
  NdisMNetPnPEvent: ddiIrql.NdisMNetPnPEvent!,
};

/** The highest port number: NDIS_PORT_NUMBER is valid from 0 (the default port) through 0xffffff. */
const portNumberMax = NDIS_MAXIMUM_PORTS - 1;

function traceResult(
  b: MiniportBlock,
  ddi: string,
  data: Record<string, unknown>,
  s: NDIS_STATUS,
): NDIS_STATUS {
  const n = b.ndis;
  if (n.trace.on) n.traceDdi(ddi, b, { ...data, status: s });
  return s;
}

/** What is wrong with an NDIS_PORT_CHARACTERISTICS, or null (NDIS_STATUS_INVALID_DATA). */
function badCharacteristics(c: NDIS_PORT_CHARACTERISTICS | null | undefined): string | null {
  if (c == null) return 'PortCharacteristics is NULL';
  const h = c.Header;
  if (h?.Type !== NDIS_OBJECT_TYPE_DEFAULT) return 'Header.Type is not NDIS_OBJECT_TYPE_DEFAULT';
  if (h.Revision < NDIS_PORT_CHARACTERISTICS_REVISION_1)
    return 'Header.Revision is below NDIS_PORT_CHARACTERISTICS_REVISION_1';
  if (h.Size !== undefined && h.Size < NDIS_SIZEOF_PORT_CHARACTERISTICS_REVISION_1)
    return 'Header.Size is below NDIS_SIZEOF_PORT_CHARACTERISTICS_REVISION_1';
  if (!Number.isInteger(c.Type) || c.Type < 0 || c.Type >= NdisPortTypeMax)
    return `Type ${c.Type} is not an NDIS_PORT_TYPE`;
  return null;
}

/**
 * NDIS_STATUS NdisMAllocatePort(NdisMiniportHandle, PortCharacteristics). <= DISPATCH.
 * On SUCCESS NDIS has written the number it assigned to PortCharacteristics.PortNumber;
 * the port is allocated, not active, until the miniport activates it with
 * NdisMNetPnPEvent(NetEventPortActivation). Numbers go from 1; a freed number is used
 * again. CLOSING once NDIS has begun to halt the adapter; INVALID_DATA for
 * characteristics NDIS cannot take.
 */
export function NdisMAllocatePort(
  NdisMiniportHandle: NDIS_HANDLE,
  PortCharacteristics: NDIS_PORT_CHARACTERISTICS,
): NDIS_STATUS {
  const ddi = 'NdisMAllocatePort';
  const b = adapterHandle(NdisMiniportHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMAllocatePort, ddi, b.name);
  if (stale(b, ddi)) return traceResult(b, ddi, {}, NDIS_STATUS_CLOSING);
  // Allocating an NDIS Port: after NdisMSetMiniportAttributes, before MiniportHaltEx.
  if (b.halting || b.inHalt) return traceResult(b, ddi, {}, NDIS_STATUS_CLOSING);
  if (b.registration === null) {
    n.verifier.report(
      'NdisSim_AttributesOrder',
      ddi,
      b.name,
      `${ddi} before NdisMSetMiniportAttributes set the registration attributes: a miniport allocates ports only after that call returned (allocating-an-ndis-port; R2.4)`,
    );
    return traceResult(b, ddi, {}, NDIS_STATUS_RESOURCES);
  }
  if (badCharacteristics(PortCharacteristics) !== null)
    return traceResult(b, ddi, { why: badCharacteristics(PortCharacteristics) }, NDIS_STATUS_INVALID_DATA);
  b.ports ??= new AdapterPorts();
  const t = b.ports;
  if (t.ports.size >= portNumberMax) return traceResult(b, ddi, {}, NDIS_STATUS_RESOURCES);
  // The lowest number not in use: NdisMFreePort gives a number back for reuse.
  let k = 1;
  while (t.ports.has(k)) k++;
  PortCharacteristics.PortNumber = k;
  t.ports.set(k, { number: k, state: 'allocated', characteristics: { ...PortCharacteristics } });
  return traceResult(b, ddi, { PortNumber: k }, NDIS_STATUS_SUCCESS);
}

/**
 * NDIS_STATUS NdisMFreePort(MiniportAdapterHandle, PortNumber). <= DISPATCH.
 * INVALID_DATA for a number outside 1..0xffffff (0, the default port, is never freed);
 * INVALID_PORT for a number the adapter has not allocated; INVALID_PORT_STATE for a port
 * still activated (deactivate it first, NetEventPortDeactivation).
 */
export function NdisMFreePort(MiniportAdapterHandle: NDIS_HANDLE, PortNumber: NDIS_PORT_NUMBER): NDIS_STATUS {
  const ddi = 'NdisMFreePort';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMFreePort, ddi, b.name);
  const data = { PortNumber };
  if (stale(b, ddi)) return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PORT);
  if (!Number.isInteger(PortNumber) || PortNumber < 1 || PortNumber > portNumberMax)
    return traceResult(b, ddi, data, NDIS_STATUS_INVALID_DATA);
  const e = b.ports?.ports.get(PortNumber);
  if (e === undefined) return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PORT);
  if (e.state !== 'allocated') return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PORT_STATE);
  b.ports!.ports.delete(PortNumber);
  return traceResult(b, ddi, data, NDIS_STATUS_SUCCESS);
}

/**
 * NDIS_STATUS NdisMNetPnPEvent(MiniportAdapterHandle, NetPnPEvent). PASSIVE.
 *
 * Any miniport may send NetEventPortActivation (Buffer: a list of NDIS_PORT linked by
 * Next) and NetEventPortDeactivation (Buffer: an array of NDIS_PORT_NUMBER, BufferLength
 * its size in bytes). Either is all or nothing: INVALID_PORT when a port does not exist
 * (or the default port is listed with others), INVALID_PORT_STATE when one is not in
 * the state the event leaves (allocated for an activation, activated for a
 * deactivation), INVALID_PARAMETER without a buffer. On success NDIS passes the event
 * up to the filter modules and bound protocols (FilterNetPnPEvent, ProtocolNetPnPEvent),
 * with the miniport's buffer, once the default port is active; the call returns
 * SUCCESS (its status matters only for query events).
 *
 * Other events are an intermediate driver's, propagating what its protocol edge heard
 * (propagate, below). The call must not come from MiniportOidRequest, nor while an OID
 * request the miniport pended is not completed (NdisMNetPnPEventInOIDRequest).
 */
export function NdisMNetPnPEvent(
  MiniportAdapterHandle: NDIS_HANDLE,
  NetPnPEvent: NET_PNP_EVENT_NOTIFICATION,
): NDIS_STATUS {
  const ddi = 'NdisMNetPnPEvent';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMNetPnPEvent, ddi, b.name);
  if (stale(b, ddi)) return NDIS_STATUS_FAILURE;
  const r = b.oid;
  if (r !== null && (r.state === 'in-miniport' || r.state === 'pending'))
    n.verifier.report(
      'NdisMNetPnPEventInOIDRequest',
      ddi,
      b.name,
      r.state === 'in-miniport'
        ? `${ddi} called from MiniportOidRequest: NDIS waits for the overlying drivers, which may wait for the OID request, a deadlock (nf-ndis-ndismnetpnpevent)`
        : `${ddi} called while an OID request the miniport pended is not completed with NdisMOidRequestComplete: it may deadlock (nf-ndis-ndismnetpnpevent)`,
    );
  const ev = NetPnPEvent?.NetPnPEvent;
  if (ev == null) return traceResult(b, ddi, {}, NDIS_STATUS_INVALID_PARAMETER);
  const code = ev.NetEvent;
  // Port events: any miniport, an intermediate driver's virtual miniport included (the
  // page lets it generate port events of its own for its virtual miniports).
  if (code === NetEventPortActivation) return activate(b, NetPnPEvent);
  if (code === NetEventPortDeactivation) return deactivate(b, NetPnPEvent);
  return propagate(b, NetPnPEvent);
}

/** The events an intermediate driver passes up that the model delivers, by code. */
const propagated: ReadonlyMap<number, NetEventCode> = new Map<number, NetEventCode>([
  [NetEventQueryRemoveDevice, 'NetEventQueryRemoveDevice'],
  [NetEventCancelRemoveDevice, 'NetEventCancelRemoveDevice'],
  [NetEventQueryPower, 'NetEventQueryPower'],
  [NetEventSetPower, 'NetEventSetPower'],
]);

/**
 * Any event but the port events: only an intermediate driver, on its virtual miniport,
 * makes those notifications; it propagates what its ProtocolNetPnPEvent heard below.
 * NDIS delivers it to the filter modules and protocols bound to the virtual miniport,
 * as its own events (filter.ts netEventUp), with the caller's buffer. The status is
 * theirs for NetEventQueryRemoveDevice and NetEventQueryPower (the first that is not
 * SUCCESS, a veto), SUCCESS for the others (nf-ndis-ndismnetpnpevent).
 *
 * NdisSim_IMNetPnPEvent: such an event from a miniport that is not a virtual miniport,
 * or NetEventBindsComplete, NetEventPause or NetEventRestart from one (the page says an
 * intermediate driver must not propagate them). Neither is delivered; the call returns
 * NDIS_STATUS_INVALID_PARAMETER for the first and SUCCESS for the second
 * (docs/decisions.md). NetEventReconfigure, NetEventBindList, NetEventPnPCapabilities
 * and the later codes are not modelled.
 */
function propagate(b: MiniportBlock, note: NET_PNP_EVENT_NOTIFICATION): NDIS_STATUS {
  const ddi = 'NdisMNetPnPEvent';
  const n = b.ndis;
  const ev = note.NetPnPEvent;
  const code = ev.NetEvent;
  const name = NET_PNP_EVENT_CODE_NAMES.get(code) ?? `NetEvent ${code}`;
  const data = { NetEvent: name };
  if (b.im === null) {
    n.verifier.report(
      'NdisSim_IMNetPnPEvent',
      ddi,
      b.name,
      `${name} from ${b.name}, which is not a virtual miniport of an intermediate driver: any miniport may send NetEventPortActivation and NetEventPortDeactivation, only intermediate drivers other events (nf-ndis-ndismnetpnpevent). NDIS does not deliver it`,
    );
    return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PARAMETER);
  }
  if (code === NetEventBindsComplete || code === NetEventPause || code === NetEventRestart) {
    n.verifier.report(
      'NdisSim_IMNetPnPEvent',
      ddi,
      b.name,
      `${b.driver.name} propagated ${name} to the drivers above its virtual miniport ${b.name}: an intermediate driver does not propagate NetEventBindsComplete, NetEventPause or NetEventRestart (nf-ndis-ndismnetpnpevent); NDIS pauses and restarts the virtual miniport's bindings itself. NDIS does not deliver it`,
    );
    return traceResult(b, ddi, data, NDIS_STATUS_SUCCESS);
  }
  const what = propagated.get(code);
  if (what === undefined)
    throw new NotModelledError(
      ddi,
      `${name} from the virtual miniport ${b.name}: the model passes up NetEventQueryRemoveDevice, NetEventCancelRemoveDevice, NetEventQueryPower and NetEventSetPower for an intermediate driver`,
    );
  if (n.trace.on) n.traceDdi(ddi, b, data);
  const s = netEventUp(n, b, what, ev.Buffer);
  const status = code === NetEventQueryRemoveDevice || code === NetEventQueryPower ? s : NDIS_STATUS_SUCCESS;
  if (n.trace.on) n.traceNdis(b, `${ddi} ${name} answered`, { status: describe(status) });
  return status;
}

/**
 * The check of a port event's numbers, all before any port changes: every port must be
 * in state `from` (allocated to activate, activated to deactivate), named once.
 * INVALID_PORT when one does not exist or the default port (0) is not alone,
 * INVALID_PORT_STATE when one is in the other state, is named twice, or is the default
 * port and the miniport does not control it (NDIS activated it itself); null when the
 * event can go on.
 */
function portsNotIn(
  b: MiniportBlock,
  numbers: readonly number[],
  from: 'allocated' | 'activated',
): NDIS_STATUS | null {
  const t = b.ports;
  let missing = false;
  let wrongState = false;
  const seen = new Set<number>();
  for (const k of numbers) {
    if (k === 0) {
      // The default port is the only one of its event.
      const state = t?.defaultActivated === true ? 'activated' : 'allocated';
      if (numbers.length > 1) missing = true;
      else if (!controlsDefaultPort(b) || state !== from) wrongState = true;
      continue;
    }
    const e = t?.ports.get(k);
    if (e === undefined) missing = true;
    else if (e.state !== from || seen.has(k)) wrongState = true;
    seen.add(k);
  }
  if (missing) return NDIS_STATUS_INVALID_PORT;
  if (wrongState) return NDIS_STATUS_INVALID_PORT_STATE;
  return null;
}

/** NetEventPortActivation (activating-an-ndis-port). */
function activate(b: MiniportBlock, note: NET_PNP_EVENT_NOTIFICATION): NDIS_STATUS {
  const ddi = 'NdisMNetPnPEvent';
  const ev = note.NetPnPEvent;
  const data = {
    NetEvent: 'NetEventPortActivation',
    ports: portEventNumbers('NetEventPortActivation', ev.Buffer).join(' '),
  };
  if (ev.Buffer == null || ev.BufferLength === 0)
    return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PARAMETER);
  const numbers: number[] = [];
  // A list that loops back on itself is no list NDIS can walk.
  const walked = new Set<NDIS_PORT>();
  for (let p = ev.Buffer as NDIS_PORT | null; p != null; p = p.Next) {
    if (walked.has(p)) return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PARAMETER);
    walked.add(p);
    numbers.push(p.PortCharacteristics?.PortNumber);
  }
  const refused = portsNotIn(b, numbers, 'allocated');
  if (refused !== null) return traceResult(b, ddi, data, refused);
  // Active from here: the miniport must take sends and requests on the ports before the
  // call returns (activating-an-ndis-port).
  b.ports ??= new AdapterPorts();
  const ports = b.ports;
  const wasDefault = defaultPortActive(b);
  for (let p = ev.Buffer as NDIS_PORT | null; p != null; p = p.Next) {
    const k = p.PortCharacteristics.PortNumber;
    if (k === 0) {
      ports.defaultActivated = true;
      ports.defaultCharacteristics = { ...p.PortCharacteristics };
    } else ports.ports.get(k)!.state = 'activated';
    ports.activations++;
  }
  const n = b.ndis;
  if (n.trace.on) n.traceDdi(ddi, b, data);
  if (numbers[0] === 0) {
    // R7.12: the bring-up waits for the default port (lifecycle.ts); bindings and
    // attachments tell overlying drivers the default port is active.
    n.kick(b);
  } else if (wasDefault) {
    // NDIS tells overlying drivers only once the default port is active.
    netEventUp(n, b, 'NetEventPortActivation', ev.Buffer);
  }
  return NDIS_STATUS_SUCCESS;
}

/** NetEventPortDeactivation (deactivating-an-ndis-port). */
function deactivate(b: MiniportBlock, note: NET_PNP_EVENT_NOTIFICATION): NDIS_STATUS {
  const ddi = 'NdisMNetPnPEvent';
  const ev = note.NetPnPEvent;
  const data = {
    NetEvent: 'NetEventPortDeactivation',
    ports: portEventNumbers('NetEventPortDeactivation', ev.Buffer).join(' '),
  };
  // An array of NDIS_PORT_NUMBER: a number[] or a Uint32Array.
  const buffer = ev.Buffer as ArrayLike<number> | null;
  if (buffer == null || ev.BufferLength === 0 || typeof buffer.length !== 'number')
    return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PARAMETER);
  const count = Math.floor(ev.BufferLength / NDIS_PORT_NUMBER_SIZE);
  if (count === 0 || count > buffer.length) return traceResult(b, ddi, data, NDIS_STATUS_INVALID_PARAMETER);
  const numbers = Array.from({ length: count }, (_, i) => buffer[i]!);
  const refused = portsNotIn(b, numbers, 'activated');
  if (refused !== null) return traceResult(b, ddi, data, refused);
  const t = b.ports;
  const n = b.ndis;
  if (n.trace.on) n.traceDdi(ddi, b, data);
  if (numbers[0] === 0) {
    if (b.bindings.length > 0 || b.filters.length > 0)
      throw new NotModelledError(
        ddi,
        `NetEventPortDeactivation of the default port of ${b.name} while drivers are bound or attached: NDIS then closes every binding (deactivating-an-ndis-port), which the model does not do`,
      );
    t!.defaultActivated = false;
    return NDIS_STATUS_SUCCESS;
  }
  // The ports stay active until the call returns: overlying drivers hear it first.
  if (defaultPortActive(b))
    netEventUp(n, b, 'NetEventPortDeactivation', count === buffer.length ? buffer : numbers);
  for (const k of numbers) t!.ports.get(k)!.state = 'allocated';
  return NDIS_STATUS_SUCCESS;
}
