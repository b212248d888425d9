// Wake-on-LAN patterns added from above: OID_PM_ADD_WOL_PATTERN and
// OID_PM_REMOVE_WOL_PATTERN (NDIS 6.20), from the pages of the two OIDs, of
// NDIS_PM_WOL_PATTERN and of "Adding and Deleting Wake on LAN Patterns":
// - NDIS gives each pattern added to an adapter a PatternId unique among that adapter's
//   patterns, before the request goes down, and keeps the list of patterns added;
// - a removal names a PatternId of that list, or NDIS fails it (NDIS_STATUS_FILE_NOT_FOUND);
// - once NDIS has begun to take the adapter to a low-power state, an add fails;
// - a miniport older than NDIS 6.20 gets neither (NDIS_STATUS_NOT_SUPPORTED).
// The miniport answers the rest: NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL when out of room,
// NDIS_STATUS_NOT_SUPPORTED for a type it cannot match, and so on. Every NDIS_PM_WOL_PACKET
// type is modelled: bitmap, magic packet, IPv4 and IPv6 TCP SYN, EAPOL request identity.
// docs/model.md "Wake-on-LAN patterns".

import type { Binding } from './binding.ts';
import type { MiniportBlock } from './block.ts';
import type { FilterModule } from './filter.ts';
import * as generated from './generated/status.ts';
import {
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_PM_WOL_BITMAP_PATTERN_ENABLED,
  NDIS_PM_WOL_EAPOL_REQUEST_ID_MESSAGE_ENABLED,
  NDIS_PM_WOL_IPV4_TCP_SYN_ENABLED,
  NDIS_PM_WOL_IPV6_TCP_SYN_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
  NDIS_PM_WOL_PATTERN_REVISION_2,
  NDIS_PM_WOL_PRIORITY_NORMAL,
  NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1,
  NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_FILE_NOT_FOUND,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL,
  NDIS_STATUS_PM_WOL_PATTERN_REJECTED,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisPMWoLPacketBitmapPattern,
  NdisPMWoLPacketEapolRequestIdMessage,
  NdisPMWoLPacketIPv4TcpSyn,
  NdisPMWoLPacketIPv6TcpSyn,
  NdisPMWoLPacketMagicPacket,
  NdisRequestSetInformation,
  OID_PM_ADD_WOL_PATTERN,
  OID_PM_PARAMETERS,
  OID_PM_REMOVE_WOL_PATTERN,
  OID_PM_WOL_PATTERN_LIST,
} from './generated/status.ts';
import type { Ndis } from './ndis.ts';
import { type OidRecord, oidRequest, submit, traceNdisOidCompleted } from './oid.ts';
import { indicateToProtocols } from './reset.ts';
import type { NDIS_OID_REQUEST, NDIS_PM_PARAMETERS, NDIS_PM_WOL_PATTERN } from './types.ts';

/** NDIS_PM_WOL_PACKET's names, for the trace and for messages: the generated NdisPMWoLPacket* constants. */
export const WOL_PACKET_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(generated).flatMap(([name, value]) =>
    name.startsWith('NdisPMWoLPacket') && typeof value === 'number' ? [[value, name] as const] : [],
  ),
);

/** A pattern NDIS keeps for an adapter: added, and not removed yet. */
export interface WolPatternEntry {
  readonly PatternId: number;
  readonly WoLPacketType: number;
  readonly Priority: number;
  /** Who added it: a binding, a filter module, or null for NDIS itself (an application's WMI request: a scenario's `oid` action). */
  readonly owner: Binding | FilterModule | null;
  /** NDIS's copy of the NDIS_PM_WOL_PATTERN, and its bytes (with a bitmap's mask and pattern), for OID_PM_WOL_PATTERN_LIST. */
  readonly pattern: NDIS_PM_WOL_PATTERN;
  readonly bytes: number;
  /**
   * Its owner issued an OID_PM_REMOVE_WOL_PATTERN for it that NDIS passed down: the
   * protocol did its part even if the miniport failed the removal.
   */
  removeIssued: boolean;
}

/** Who sent a request from above: a binding, a filter module, or null for an application's request through NDIS. */
type From = Binding | FilterModule | null;

/**
 * An NDIS_PM_WOL_PATTERN for a bitmap pattern, and the InformationBufferLength of its
 * OID_PM_ADD_WOL_PATTERN: the structure (revision 2), then the mask, then the pattern,
 * as MaskOffset and PatternOffset say. PatternId is 0: NDIS sets it.
 */
export function bitmapWolPattern(
  mask: Uint8Array,
  pattern: Uint8Array,
  priority: number = NDIS_PM_WOL_PRIORITY_NORMAL,
): { pattern: NDIS_PM_WOL_PATTERN; length: number } {
  const maskAt = NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2;
  const patternAt = maskAt + mask.length;
  return {
    pattern: {
      ...wolHeader(NdisPMWoLPacketBitmapPattern, priority),
      WoLPattern: {
        WoLBitMapPattern: {
          Flags: 0,
          MaskOffset: maskAt,
          MaskSize: mask.length,
          PatternOffset: patternAt,
          PatternSize: pattern.length,
        },
      },
      Mask: Uint8Array.from(mask),
      Pattern: Uint8Array.from(pattern),
    },
    length: patternAt + pattern.length,
  };
}

/** An NDIS_PM_WOL_PATTERN for the magic packet (the adapter's own address), and its length. */
export function magicPacketWolPattern(priority: number = NDIS_PM_WOL_PRIORITY_NORMAL): {
  pattern: NDIS_PM_WOL_PATTERN;
  length: number;
} {
  return fixedSizeWolPattern(NdisPMWoLPacketMagicPacket, priority, {});
}

/**
 * An NDIS_PM_WOL_PATTERN for an IPv4 TCP SYN (IPv4TcpSynParameters), and its length: the
 * SYN's source and destination addresses (4 bytes each) and TCP ports. Zero bytes and
 * port 0 are the page's "unspecified" values, wildcards only when an overlying driver
 * enabled NDIS_PM_WOL_IPV4_DEST_ADDR_WILDCARD_ENABLED.
 */
export function ipv4TcpSynWolPattern(
  source: Uint8Array,
  dest: Uint8Array,
  sourcePort: number,
  destPort: number,
  priority: number = NDIS_PM_WOL_PRIORITY_NORMAL,
): { pattern: NDIS_PM_WOL_PATTERN; length: number } {
  return fixedSizeWolPattern(NdisPMWoLPacketIPv4TcpSyn, priority, {
    IPv4TcpSynParameters: {
      Flags: 0,
      IPv4SourceAddress: Uint8Array.from(source),
      IPv4DestAddress: Uint8Array.from(dest),
      TCPSourcePortNumber: sourcePort & 0xffff,
      TCPDestPortNumber: destPort & 0xffff,
    },
  });
}

/** The same for an IPv6 TCP SYN (IPv6TcpSynParameters, 16-byte addresses). */
export function ipv6TcpSynWolPattern(
  source: Uint8Array,
  dest: Uint8Array,
  sourcePort: number,
  destPort: number,
  priority: number = NDIS_PM_WOL_PRIORITY_NORMAL,
): { pattern: NDIS_PM_WOL_PATTERN; length: number } {
  return fixedSizeWolPattern(NdisPMWoLPacketIPv6TcpSyn, priority, {
    IPv6TcpSynParameters: {
      Flags: 0,
      IPv6SourceAddress: Uint8Array.from(source),
      IPv6DestAddress: Uint8Array.from(dest),
      TCPSourcePortNumber: sourcePort & 0xffff,
      TCPDestPortNumber: destPort & 0xffff,
    },
  });
}

/** An NDIS_PM_WOL_PATTERN for an 802.1X EAPOL request identity message (no parameters), and its length. */
export function eapolRequestIdWolPattern(priority: number = NDIS_PM_WOL_PRIORITY_NORMAL): {
  pattern: NDIS_PM_WOL_PATTERN;
  length: number;
} {
  return fixedSizeWolPattern(NdisPMWoLPacketEapolRequestIdMessage, priority, {
    EapolRequestIdMessageParameters: { Flags: 0 },
  });
}

/**
 * A pattern whose WoLPattern member holds all of it (every type but the bitmap, which
 * adds its mask and bytes after the structure): the header and `WoLPattern`, and the
 * structure's size as its length.
 */
function fixedSizeWolPattern(
  type: number,
  priority: number,
  WoLPattern: NDIS_PM_WOL_PATTERN['WoLPattern'],
): { pattern: NDIS_PM_WOL_PATTERN; length: number } {
  return {
    pattern: { ...wolHeader(type, priority), WoLPattern },
    length: NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2,
  };
}

function wolHeader(type: number, priority: number): Omit<NDIS_PM_WOL_PATTERN, 'WoLPattern'> {
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_DEFAULT,
      Revision: NDIS_PM_WOL_PATTERN_REVISION_2,
      Size: NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2,
    },
    Flags: 0,
    Priority: priority >>> 0,
    WoLPacketType: type,
    PatternId: 0,
    NextWoLPatternOffset: 0,
  };
}

/**
 * NDIS has begun to take the adapter to a low-power state for a system sleep, and it is
 * not back in D0: the OID_PM_ADD_WOL_PATTERN page has NDIS fail an add then.
 */
function lowPowerUnderWay(b: MiniportBlock): boolean {
  return b.op?.kind === 'sleep' || (b.power !== null && b.power.device !== NdisDeviceStateD0);
}

/**
 * NDIS's part of an OID_PM_ADD_WOL_PATTERN or OID_PM_REMOVE_WOL_PATTERN set from above
 * (`from`: the binding or filter module that sent it, null for an application's request
 * through NDIS): the status NDIS completes it with itself, or null to send it on, with
 * an add's PatternId set. Any other request: null.
 */
export function wolPatternByNdis(
  n: Ndis,
  b: MiniportBlock,
  request: NDIS_OID_REQUEST,
  from: From,
): number | null {
  const oid = request.DATA.Oid;
  if (oid !== OID_PM_ADD_WOL_PATTERN && oid !== OID_PM_REMOVE_WOL_PATTERN) return null;
  if (request.RequestType !== NdisRequestSetInformation) return null;
  const d = request.DATA.SET_INFORMATION;
  let status: number | null = null;
  let why = '';
  if (b.driver.ndisVersion < 620) {
    status = NDIS_STATUS_NOT_SUPPORTED;
    why = 'the miniport is older than NDIS 6.20';
  } else if (oid === OID_PM_REMOVE_WOL_PATTERN) {
    const id = d.InformationBuffer;
    if (d.InformationBufferLength < 4) {
      d.BytesNeeded = 4;
      status = NDIS_STATUS_INVALID_LENGTH;
      why = 'the buffer is shorter than a ULONG';
    } else if (typeof id !== 'number' || !b.wolPatterns.has(id)) {
      status = NDIS_STATUS_FILE_NOT_FOUND;
      why = `no pattern of the adapter has PatternId ${typeof id === 'number' ? id : String(id)}`;
    } else {
      const e = b.wolPatterns.get(id)!;
      if (e.owner === from) e.removeIssued = true;
    }
  } else {
    const p = d.InformationBuffer as NDIS_PM_WOL_PATTERN | null;
    if (d.InformationBufferLength < NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1) {
      d.BytesNeeded = NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1;
      status = NDIS_STATUS_BUFFER_TOO_SHORT;
      why = 'the buffer is shorter than an NDIS_PM_WOL_PATTERN';
    } else if (typeof p !== 'object' || p === null) {
      status = NDIS_STATUS_INVALID_PARAMETER;
      why = 'the buffer holds no NDIS_PM_WOL_PATTERN';
    } else if (lowPowerUnderWay(b)) {
      status = NDIS_STATUS_FAILURE;
      why = 'NDIS has begun to take the adapter to a low-power state';
    } else if (!b.wolOwners.has(p)) {
      // Unique among the adapter's patterns: NDIS counts up and never gives an ID twice.
      p.PatternId = b.nextWolPatternId++;
      b.wolOwners.set(p, from);
      if (n.trace.on)
        n.traceNdis(b, 'WoL pattern ID assigned', {
          PatternId: p.PatternId,
          WoLPacketType: WOL_PACKET_NAMES.get(p.WoLPacketType) ?? p.WoLPacketType,
        });
    }
  }
  if (status !== null && n.trace.on)
    n.traceNdis(b, 'OID request answered by NDIS', { Oid: oidLabel(oid), status, why });
  return status;
}

function oidLabel(oid: number): string {
  return oid === OID_PM_ADD_WOL_PATTERN ? 'OID_PM_ADD_WOL_PATTERN' : 'OID_PM_REMOVE_WOL_PATTERN';
}

/**
 * The miniport completed a set of OID_PM_ADD_WOL_PATTERN or OID_PM_REMOVE_WOL_PATTERN:
 * NDIS's list follows it. An add's buffer is done with, whatever the status: the same
 * buffer added again is a new request and gets a new PatternId.
 */
export function wolPatternCompleted(b: MiniportBlock, request: NDIS_OID_REQUEST, status: number): void {
  if (request.RequestType !== NdisRequestSetInformation) return;
  const d = request.DATA.SET_INFORMATION;
  if (d.Oid === OID_PM_REMOVE_WOL_PATTERN) {
    if (status === NDIS_STATUS_SUCCESS && typeof d.InformationBuffer === 'number')
      b.wolPatterns.delete(d.InformationBuffer);
    return;
  }
  if (d.Oid !== OID_PM_ADD_WOL_PATTERN) return;
  const p = d.InformationBuffer as NDIS_PM_WOL_PATTERN | null;
  if (typeof p !== 'object' || p === null || !b.wolOwners.has(p)) return;
  const owner = b.wolOwners.get(p) ?? null;
  b.wolOwners.delete(p);
  if (status !== NDIS_STATUS_SUCCESS) return;
  b.wolPatterns.set(p.PatternId, {
    PatternId: p.PatternId,
    WoLPacketType: p.WoLPacketType,
    Priority: p.Priority,
    owner,
    pattern: copyPattern(p),
    bytes: Math.max(d.InformationBufferLength, NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1),
    removeIssued: false,
  });
}

function copyPattern(p: NDIS_PM_WOL_PATTERN): NDIS_PM_WOL_PATTERN {
  return {
    ...p,
    Header: { ...p.Header },
    WoLPattern: copyUnion(p.WoLPattern ?? {}),
    ...(p.Mask instanceof Uint8Array ? { Mask: Uint8Array.from(p.Mask) } : {}),
    ...(p.Pattern instanceof Uint8Array ? { Pattern: Uint8Array.from(p.Pattern) } : {}),
  };
}

/** A copy of the WoLPattern union's member (a TCP SYN's addresses copied too). */
function copyUnion(u: NDIS_PM_WOL_PATTERN['WoLPattern']): NDIS_PM_WOL_PATTERN['WoLPattern'] {
  const bm = u.WoLBitMapPattern;
  if (bm !== undefined) return { WoLBitMapPattern: { ...bm } };
  const v4 = u.IPv4TcpSynParameters;
  if (v4 !== undefined)
    return {
      IPv4TcpSynParameters: {
        ...v4,
        IPv4SourceAddress: Uint8Array.from(v4.IPv4SourceAddress),
        IPv4DestAddress: Uint8Array.from(v4.IPv4DestAddress),
      },
    };
  const v6 = u.IPv6TcpSynParameters;
  if (v6 !== undefined)
    return {
      IPv6TcpSynParameters: {
        ...v6,
        IPv6SourceAddress: Uint8Array.from(v6.IPv6SourceAddress),
        IPv6DestAddress: Uint8Array.from(v6.IPv6DestAddress),
      },
    };
  const eapol = u.EapolRequestIdMessageParameters;
  return eapol === undefined ? {} : { EapolRequestIdMessageParameters: { ...eapol } };
}

/**
 * NDIS's answer to NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL for an add it knows (the Adding
 * and Deleting Wake on LAN Patterns page): when the adapter holds a pattern of lower
 * priority (a greater Priority value: NDIS_PM_WOL_PRIORITY_HIGHEST is 1), NDIS removes it
 * from the miniport with an OID_PM_REMOVE_WOL_PATTERN of its own, tells its owner with
 * NDIS_STATUS_PM_WOL_PATTERN_REJECTED (a ULONG PatternId), and sends the add down again
 * (`retry`). True when it took the add over; a removal the miniport fails ends the add
 * with LIST_FULL (`deliver`). The option wolPatternEviction says how often: once per add
 * (default), again after each LIST_FULL, or never. docs/decisions.md.
 */
export function evictForAdd(
  n: Ndis,
  b: MiniportBlock,
  r: OidRecord,
  retry: (n: Ndis, b: MiniportBlock, r: OidRecord) => void,
  deliver: (n: Ndis, b: MiniportBlock, r: OidRecord, status: number) => void,
): boolean {
  const mode = n.options.wolPatternEviction;
  if (mode === 'off' || (mode === 'once' && r.wolEvictions > 0)) return false;
  const request = r.request;
  if (request.RequestType !== NdisRequestSetInformation || request.DATA.Oid !== OID_PM_ADD_WOL_PATTERN)
    return false;
  const p = request.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_WOL_PATTERN | null;
  if (typeof p !== 'object' || p === null || !b.wolOwners.has(p)) return false;
  const victim = lowestBelow(b, p.Priority >>> 0);
  if (victim === null) return false;
  r.wolEvictions++;
  if (n.trace.on)
    n.traceNdis(b, 'WoL pattern list full: NDIS removes a lower-priority pattern and adds again', {
      PatternId: p.PatternId,
      Priority: p.Priority >>> 0,
      removes: victim.PatternId,
      itsPriority: victim.Priority >>> 0,
    });
  const issued = victim.removeIssued;
  const req = oidRequest(NdisRequestSetInformation, OID_PM_REMOVE_WOL_PATTERN, victim.PatternId, 4);
  let done = false;
  const after = (status: number): void => {
    if (n.trace.on) traceNdisOidCompleted(n, b, req, status);
    done = true;
    if (status !== NDIS_STATUS_SUCCESS) {
      // The miniport kept it: nothing was freed, the add ends as the miniport said.
      victim.removeIssued = issued;
      deliver(n, b, r, NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL);
      return;
    }
    wolPatternRejected(n, b, victim);
    retry(n, b, r);
  };
  const status = submit(n, b, req, { kind: 'ndis', restore: false, done: after });
  if (status !== NDIS_STATUS_PENDING && !done) after(status);
  return true;
}

/**
 * The pattern NDIS removes for an add of priority `priority`: of those with a lower
 * priority and no removal under way, the lowest; of equals, the one added last (the
 * highest PatternId). Null when there is none.
 */
function lowestBelow(b: MiniportBlock, priority: number): WolPatternEntry | null {
  let pick: WolPatternEntry | null = null;
  for (const e of b.wolPatterns.values()) {
    const p = e.Priority >>> 0;
    if (e.removeIssued || p <= priority) continue;
    if (
      pick === null ||
      p > pick.Priority >>> 0 ||
      (p === pick.Priority >>> 0 && e.PatternId > pick.PatternId)
    )
      pick = e;
  }
  return pick;
}

/**
 * NDIS_STATUS_PM_WOL_PATTERN_REJECTED for a pattern NDIS removed, to the overlying driver
 * that added it only (its page: "only ... to the binding that added the removed
 * pattern"): a binding's ProtocolStatusEx, a filter module's FilterStatus. The
 * StatusBuffer is the ULONG PatternId. An application's pattern: NDIS's WMI event is not
 * modelled, the trace says so.
 */
function wolPatternRejected(n: Ndis, b: MiniportBlock, e: WolPatternEntry): void {
  const o = e.owner;
  if (o === null) {
    if (n.trace.on)
      n.traceNdis(b, "WoL pattern rejected: an application's (NDIS's WMI event to it is not modelled)", {
        PatternId: e.PatternId,
      });
    return;
  }
  // A module gets it in its FilterStatus alone (the PatternId tells it the pattern is
  // its own; one that passes it up anyway is its own doing), a binding in ProtocolStatusEx.
  if ('gone' in o ? o.gone : o.open === null || o.open.state !== 'opened') return;
  indicateToProtocols(n, b, NDIS_STATUS_PM_WOL_PATTERN_REJECTED, e.PatternId, null, o);
}

/**
 * Before NDIS halts the adapter it removes the patterns applications added (the Adding
 * and Deleting Wake on LAN Patterns page): an OID_PM_REMOVE_WOL_PATTERN of its own for
 * each, down to the miniport. Returns the count of those not completed yet, which each
 * completion takes down. None while the adapter is out of D0 (a removal in D3: no
 * request but NDIS's power OID reaches it then), nor to a miniport older than NDIS 6.20.
 */
export function removeApplicationWolPatterns(n: Ndis, b: MiniportBlock): { left: number } {
  const pending = { left: 0 };
  if (b.power !== null && b.power.device !== NdisDeviceStateD0) return pending;
  for (const e of [...b.wolPatterns.values()]) {
    if (e.owner !== null || e.removeIssued) continue;
    let done = false;
    pending.left++;
    const req = oidRequest(NdisRequestSetInformation, OID_PM_REMOVE_WOL_PATTERN, e.PatternId, 4);
    const status = submit(n, b, req, {
      kind: 'ndis',
      restore: false,
      done: (s) => {
        if (n.trace.on) traceNdisOidCompleted(n, b, req, s);
        done = true;
        pending.left--;
      },
    });
    if (status !== NDIS_STATUS_PENDING && !done) pending.left--;
  }
  return pending;
}

/**
 * The PatternIds of the patterns `owner` added to the adapter and never asked to remove.
 * The Adding and Deleting Wake on LAN Patterns page: a protocol must remove every pattern
 * it added (OID_PM_REMOVE_WOL_PATTERN) before it closes its binding; NDIS removes only an
 * application's, before it halts the adapter (NdisSim_ProtocolWolPatterns).
 */
export function wolPatternsLeftBy(b: MiniportBlock, owner: Binding | FilterModule): number[] {
  const ids: number[] = [];
  for (const e of b.wolPatterns.values()) if (e.owner === owner && !e.removeIssued) ids.push(e.PatternId);
  return ids;
}

/**
 * NDIS's answer to a query of OID_PM_WOL_PATTERN_LIST (the page: "NDIS handles the query
 * for miniport drivers"): the patterns of the adapter as NDIS_PM_WOL_PATTERN structures one
 * after the other, each at a 4-byte boundary (its ULONGs), NextWoLPatternOffset the next
 * one's offset from the start of the buffer, 0 on the last. No pattern: SUCCESS with
 * BytesWritten 0 and the buffer untouched; a buffer too short: BUFFER_TOO_SHORT with
 * BytesNeeded. The model's buffer is the array of structures (copies of NDIS's).
 */
export function wolPatternList(b: MiniportBlock, request: NDIS_OID_REQUEST): number {
  const d = request.DATA.QUERY_INFORMATION;
  const list = [...b.wolPatterns.values()];
  if (list.length === 0) {
    d.BytesWritten = 0;
    return NDIS_STATUS_SUCCESS;
  }
  const at: number[] = [];
  let end = 0;
  for (const e of list) {
    at.push(end);
    end = (end + e.bytes + 3) & ~3;
  }
  const needed = at[at.length - 1]! + list[list.length - 1]!.bytes;
  if (d.InformationBufferLength < needed) {
    d.BytesNeeded = needed;
    return NDIS_STATUS_BUFFER_TOO_SHORT;
  }
  d.InformationBuffer = list.map((e, i) => ({
    ...copyPattern(e.pattern),
    NextWoLPatternOffset: at[i + 1] ?? 0,
  }));
  d.BytesWritten = needed;
  return NDIS_STATUS_SUCCESS;
}

/**
 * The EnabledWoLPacketPatterns bits of the patterns NDIS keeps for the adapter whose owner
 * is still there: an overlying driver that adds a pattern enables its type, and NDIS
 * does so for the patterns an application added (docs/decisions.md).
 */
export function wolPatternsEnabled(b: MiniportBlock): number {
  let bits = 0;
  for (const e of b.wolPatterns.values()) {
    const o = e.owner;
    if (o !== null && ('gone' in o ? o.gone : o.open === null || o.open.state !== 'opened')) continue;
    bits |= wolEnabledBit(e.WoLPacketType);
  }
  return bits;
}

/** The NDIS_PM_PARAMETERS.EnabledWoLPacketPatterns bit of an NDIS_PM_WOL_PACKET type, 0 for none. */
function wolEnabledBit(type: number): number {
  switch (type) {
    case NdisPMWoLPacketBitmapPattern:
      return NDIS_PM_WOL_BITMAP_PATTERN_ENABLED;
    case NdisPMWoLPacketMagicPacket:
      return NDIS_PM_WOL_MAGIC_PACKET_ENABLED;
    case NdisPMWoLPacketIPv4TcpSyn:
      return NDIS_PM_WOL_IPV4_TCP_SYN_ENABLED;
    case NdisPMWoLPacketIPv6TcpSyn:
      return NDIS_PM_WOL_IPV6_TCP_SYN_ENABLED;
    case NdisPMWoLPacketEapolRequestIdMessage:
      return NDIS_PM_WOL_EAPOL_REQUEST_ID_MESSAGE_ENABLED;
    default:
      return 0;
  }
}

/**
 * What the trace shows of a pattern request: the PatternId (of the pattern added, or to
 * remove); for the list, the PatternIds it holds. Of a set of OID_PM_PARAMETERS: its
 * WakeUpFlags, EnabledWoLPacketPatterns and EnabledProtocolOffloads, in hexadecimal.
 */
export function wolTraceData(request: NDIS_OID_REQUEST): Record<string, unknown> {
  const d = request.DATA.SET_INFORMATION;
  // A set of OID_PM_PARAMETERS (NDIS's before a low-power state): what it enables.
  if (d.Oid === OID_PM_PARAMETERS && request.RequestType === NdisRequestSetInformation) {
    const pm = d.InformationBuffer as NDIS_PM_PARAMETERS | null;
    if (typeof pm !== 'object' || pm === null) return {};
    const hex = (v: unknown): unknown => (typeof v === 'number' ? `0x${(v >>> 0).toString(16)}` : v);
    return {
      WakeUpFlags: hex(pm.WakeUpFlags),
      EnabledWoLPacketPatterns: hex(pm.EnabledWoLPacketPatterns),
      EnabledProtocolOffloads: hex(pm.EnabledProtocolOffloads),
    };
  }
  if (d.Oid === OID_PM_WOL_PATTERN_LIST && Array.isArray(d.InformationBuffer))
    return { PatternIds: (d.InformationBuffer as NDIS_PM_WOL_PATTERN[]).map((p) => p.PatternId).join(',') };
  if (request.RequestType !== NdisRequestSetInformation) return {};
  if (d.Oid === OID_PM_REMOVE_WOL_PATTERN)
    return typeof d.InformationBuffer === 'number' ? { PatternId: d.InformationBuffer } : {};
  if (d.Oid !== OID_PM_ADD_WOL_PATTERN) return {};
  const p = d.InformationBuffer as NDIS_PM_WOL_PATTERN | null;
  // 0: NDIS gave it none (it failed the request first); its IDs start at 1.
  if (typeof p !== 'object' || p === null || typeof p.PatternId !== 'number' || p.PatternId === 0) return {};
  return { PatternId: p.PatternId, WoLPacketType: WOL_PACKET_NAMES.get(p.WoLPacketType) ?? p.WoLPacketType };
}
