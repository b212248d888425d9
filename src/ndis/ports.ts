// NDIS ports (rule book R7.12; the "NDIS Ports" pages of windows-driver-docs): the
// table of ports a miniport allocated on an adapter (NdisMAllocatePort), which it
// activates and deactivates with NdisMNetPnPEvent (NetEventPortActivation,
// NetEventPortDeactivation) and frees with NdisMFreePort. Port 0 is the default port:
// NDIS allocates it, and activates it once the registration attributes are set, unless
// the miniport set NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT, in which case NDIS
// binds nothing to the adapter until the miniport activates it (R7.12).
//
// Cost: an adapter whose driver uses no ports has `b.ports === null`; the data path
// asks this module only about a PortNumber other than 0 (one numeric check per call).

import type { MiniportBlock } from './block.ts';
import {
  NDIS_MAXIMUM_PORTS,
  NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_PORT_ARRAY_REVISION_1,
  NDIS_PORT_CHARACTERISTICS_REVISION_1,
  NDIS_SIZEOF_PORT_CHARACTERISTICS_REVISION_1,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_SUCCESS,
  NdisPortAuthorizationUnknown,
  NdisPortControlStateUnknown,
  NdisPortTypeUndefined,
  NET_IF_DIRECTION_SENDRECEIVE,
} from './generated/status.ts';
import type { Ndis } from './ndis.ts';
import type { NDIS_OBJECT_HEADER, NDIS_OID_REQUEST, NDIS_PORT_NUMBER, ULONG } from './types.ts';

/** NDIS_PORT_CHARACTERISTICS (ntddndis.h). NdisMAllocatePort writes PortNumber. */
export interface NDIS_PORT_CHARACTERISTICS {
  Header: NDIS_OBJECT_HEADER;
  PortNumber: NDIS_PORT_NUMBER;
  /** NDIS_PORT_CHAR_USE_DEFAULT_AUTH_SETTINGS or 0. */
  Flags: ULONG;
  /** NDIS_PORT_TYPE: NdisPortTypeUndefined … below NdisPortTypeMax. */
  Type: number;
  /** NET_IF_MEDIA_CONNECT_STATE. */
  MediaConnectState: number;
  XmitLinkSpeed: number;
  RcvLinkSpeed: number;
  /** NET_IF_DIRECTION_TYPE. */
  Direction: number;
  /** NDIS_PORT_CONTROL_STATE. */
  SendControlState: number;
  RcvControlState: number;
  /** NDIS_PORT_AUTHORIZATION_STATE. */
  SendAuthorizationState: number;
  RcvAuthorizationState: number;
}

/**
 * NDIS_PORT (ntddndis.h): one element of the linked list that is NET_PNP_EVENT.Buffer of
 * NetEventPortActivation. The reserved members belong to NDIS, the miniport and the
 * protocols; the model reads only Next and PortCharacteristics.
 */
export interface NDIS_PORT {
  Next: NDIS_PORT | null;
  NdisReserved: unknown;
  MiniportReserved: unknown;
  ProtocolReserved: unknown;
  PortCharacteristics: NDIS_PORT_CHARACTERISTICS;
}

/** sizeof(NDIS_PORT) on x64: three pointers and Next before the 64-byte characteristics. */
export const NDIS_PORT_SIZE = 32 + 64;
/** sizeof(NDIS_PORT_NUMBER): a ULONG. */
export const NDIS_PORT_NUMBER_SIZE = 4;

export interface PortEntry {
  readonly number: number;
  state: 'allocated' | 'activated';
  /** A copy of what the miniport gave NdisMAllocatePort, with the number NDIS assigned. */
  readonly characteristics: NDIS_PORT_CHARACTERISTICS;
}

/** The ports of one adapter; made by the first NdisMAllocatePort or default-port event. */
export class AdapterPorts {
  /** Allocated ports (not the default port), by number, in the order allocated. */
  readonly ports = new Map<number, PortEntry>();
  /** The next number NdisMAllocatePort tries: numbers go up from 1 and are not reused while held. */
  next = 1;
  /** The miniport controls the default port and activated it (R7.12). */
  defaultActivated = false;
  /** The characteristics of that activation's NDIS_PORT, listed by OID_GEN_ENUMERATE_PORTS. */
  defaultCharacteristics: NDIS_PORT_CHARACTERISTICS | null = null;
  /** Ports ever activated, for the trace and tests. */
  activations = 0;
}

/** True when the miniport set NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT. */
export function controlsDefaultPort(b: MiniportBlock): boolean {
  return ((b.registration?.AttributeFlags ?? 0) & NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT) !== 0;
}

/**
 * R7.12: the default port is active. NDIS activates it when the registration attributes
 * are set, unless the miniport controls it; then it is active once the miniport sent
 * NetEventPortActivation for port 0 (and not deactivated since).
 */
export function defaultPortActive(b: MiniportBlock): boolean {
  if (b.registration === null) return false;
  if (!controlsDefaultPort(b)) return true;
  return b.ports?.defaultActivated === true;
}

/** Whether `port` (not 0) is an activated port of `b`. */
export function portActive(b: MiniportBlock, port: number): boolean {
  const t = b.ports;
  if (t === null) return false;
  const e = t.ports.get(port);
  return e !== undefined && e.state === 'activated';
}

/**
 * Why `port` (not 0) cannot carry data, a request or an indication now, in words for a
 * message, or null when it is an activated port of `b`.
 */
export function portProblem(b: MiniportBlock, port: number): string | null {
  const e = b.ports?.ports.get(port);
  if (e === undefined)
    return `PortNumber ${port} is not a port of ${b.name}: the miniport allocated no such port with NdisMAllocatePort (or freed it)`;
  if (e.state !== 'activated')
    return `PortNumber ${port} of ${b.name} is allocated but not activated: until the miniport's NdisMNetPnPEvent(NetEventPortActivation) for it, and after its NetEventPortDeactivation, the port carries no data, requests or indications (activating-an-ndis-port, deactivating-an-ndis-port)`;
  return null;
}

/**
 * MiniportHaltEx returned, or a failing MiniportInitializeEx did: every port the miniport
 * allocated must have been freed with NdisMFreePort (allocating-an-ndis-port,
 * freeing-an-ndis-port), and a default port it controls deactivated (deactivating-an-ndis-port).
 * What is left is reported (NdisSim_PortState) and dropped: NDIS frees the default
 * port itself, and the table starts empty for the adapter's next initialization.
 */
export function portsAtEnd(n: Ndis, b: MiniportBlock, fn: string, how: string): void {
  const t = b.ports;
  if (t === null) return;
  b.ports = null;
  const left: string[] = [];
  for (const e of t.ports.values()) left.push(`${e.number} (${e.state})`);
  const problems: string[] = [];
  if (left.length > 0)
    problems.push(
      `without freeing port(s) ${left.join(', ')} it allocated with NdisMAllocatePort: a miniport frees all its ports with NdisMFreePort before ${fn} returns (allocating-an-ndis-port)`,
    );
  if (t.defaultActivated && controlsDefaultPort(b))
    problems.push(
      'with the default port it controls still activated: a miniport that activated the default port deactivates it (NetEventPortDeactivation) before MiniportHaltEx returns (deactivating-an-ndis-port)',
    );
  if (problems.length === 0) return;
  n.verifier.report('NdisSim_PortState', fn, b.name, `${fn} ${how} ${problems.join('; and ')} (R7.12)`);
}

/** The port numbers in NET_PNP_EVENT.Buffer of a port event, for the trace: a list of NDIS_PORT, or an array of NDIS_PORT_NUMBER. */
export function portEventNumbers(code: string, buffer: unknown): number[] {
  const out: number[] = [];
  if (code === 'NetEventPortActivation') {
    for (let p = buffer as NDIS_PORT | null; p != null && out.length < 64; p = p.Next)
      out.push(p.PortCharacteristics?.PortNumber);
  } else if (buffer != null) {
    const a = buffer as ArrayLike<number>;
    for (let i = 0; i < a.length && i < 64; i++) out.push(a[i]!);
  }
  return out;
}

/**
 * NET_PNP_EVENT.BufferLength of an event NDIS passes up: the NDIS_PORT list of a port
 * activation, the NDIS_PORT_NUMBER array of a deactivation, else the ULONG (an
 * NDIS_DEVICE_POWER_STATE) or nothing.
 */
export function netEventBufferLength(code: string, buffer: unknown): number {
  if (buffer === null || buffer === undefined) return 0;
  if (code === 'NetEventPortActivation') {
    let count = 0;
    for (let p = buffer as NDIS_PORT | null; p != null && count < NDIS_MAXIMUM_PORTS; p = p.Next) count++;
    return count * NDIS_PORT_SIZE;
  }
  if (code === 'NetEventPortDeactivation')
    return (buffer as ArrayLike<number>).length * NDIS_PORT_NUMBER_SIZE;
  return 4;
}

/** NDIS_PORT_ARRAY (ntddndis.h): the answer NDIS gives to OID_GEN_ENUMERATE_PORTS. */
export interface NDIS_PORT_ARRAY {
  Header: NDIS_OBJECT_HEADER;
  NumberOfPorts: ULONG;
  /** Bytes from the start of the structure to Ports[0]: three ULONGs after the header, aligned to 8. */
  OffsetFirstPort: ULONG;
  /** sizeof(NDIS_PORT_CHARACTERISTICS) on x64. */
  ElementSize: ULONG;
  Ports: NDIS_PORT_CHARACTERISTICS[];
}

/** sizeof(NDIS_PORT_CHARACTERISTICS) on x64: 60 bytes through RcvAuthorizationState, padded to 8. */
const portCharacteristicsSize = 64;
const portArrayOffsetFirstPort = 16;

/**
 * The characteristics NDIS lists for the default port it activated itself: a port of
 * no particular type, in the adapter's link state and speeds, sending and receiving,
 * with no 802.1X control (a model choice: the pages name no values). A default port the
 * miniport controls is listed with the characteristics of its activation.
 */
function defaultPortCharacteristics(b: MiniportBlock): NDIS_PORT_CHARACTERISTICS {
  const own = b.ports?.defaultCharacteristics;
  if (own != null) return { ...own, PortNumber: 0 };
  const g = b.general;
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_DEFAULT,
      Revision: NDIS_PORT_CHARACTERISTICS_REVISION_1,
      Size: NDIS_SIZEOF_PORT_CHARACTERISTICS_REVISION_1,
    },
    PortNumber: 0,
    Flags: 0,
    Type: NdisPortTypeUndefined,
    MediaConnectState: b.mediaConnectState,
    XmitLinkSpeed: g?.XmitLinkSpeed ?? 0,
    RcvLinkSpeed: g?.RcvLinkSpeed ?? 0,
    Direction: NET_IF_DIRECTION_SENDRECEIVE,
    SendControlState: NdisPortControlStateUnknown,
    RcvControlState: NdisPortControlStateUnknown,
    SendAuthorizationState: NdisPortAuthorizationUnknown,
    RcvAuthorizationState: NdisPortAuthorizationUnknown,
  };
}

/**
 * OID_GEN_ENUMERATE_PORTS, which NDIS answers itself (the miniport never sees it): an
 * NDIS_PORT_ARRAY of the active ports, the default port first; ports only allocated are
 * left out (nf-ndis-ndismallocateport). BUFFER_TOO_SHORT, with BytesNeeded, for a buffer
 * smaller than the array.
 */
export function enumeratePorts(b: MiniportBlock, request: NDIS_OID_REQUEST): number {
  const d = request.DATA.QUERY_INFORMATION;
  const array = activePortArray(b);
  const bytes = array.Header.Size!;
  if (d.InformationBufferLength < bytes) {
    d.BytesNeeded = bytes;
    return NDIS_STATUS_BUFFER_TOO_SHORT;
  }
  d.InformationBuffer = array;
  d.BytesWritten = bytes;
  return NDIS_STATUS_SUCCESS;
}

/**
 * An NDIS_PORT_ARRAY of the adapter's active ports, the default port first: the answer
 * to OID_GEN_ENUMERATE_PORTS and NDIS_BIND_PARAMETERS.ActivePorts (activating-an-ndis-port:
 * a bind lists every port active then). A fresh copy each time.
 */
export function activePortArray(b: MiniportBlock): NDIS_PORT_ARRAY {
  const Ports: NDIS_PORT_CHARACTERISTICS[] = [];
  if (defaultPortActive(b)) Ports.push(defaultPortCharacteristics(b));
  if (b.ports !== null)
    for (const e of b.ports.ports.values()) if (e.state === 'activated') Ports.push({ ...e.characteristics });
  const bytes = portArrayOffsetFirstPort + portCharacteristicsSize * Ports.length;
  return {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PORT_ARRAY_REVISION_1, Size: bytes },
    NumberOfPorts: Ports.length,
    OffsetFirstPort: portArrayOffsetFirstPort,
    ElementSize: portCharacteristicsSize,
    Ports,
  };
}
