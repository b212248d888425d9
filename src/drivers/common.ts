// Helpers the bundled miniports share, written against the public API only, as a
// driver family's common source file would be: reading an integer parameter, a
// link-state indication, the general attributes of an Ethernet adapter and the
// addressing OIDs every Ethernet miniport accepts. 'ndis-sim' exports some to driver
// authors (ethernetGeneralAttributes, packetFilterOidRequest, supportedPacketFilters),
// so this file imports the modules src/index.ts re-exports, not src/index.ts itself.

import { NdisReadConfiguration } from '../ndis/api/adapter.ts';
import {
  MediaConnectStateConnected,
  MediaConnectStateDisconnected,
  MediaDuplexStateFull,
  NDIS_LINK_STATE_REVISION_1,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_PACKET_TYPE_ALL_MULTICAST,
  NDIS_PACKET_TYPE_BROADCAST,
  NDIS_PACKET_TYPE_DIRECTED,
  NDIS_PACKET_TYPE_MULTICAST,
  NDIS_PACKET_TYPE_PROMISCUOUS,
  NDIS_SIZEOF_LINK_STATE_REVISION_1,
  NDIS_STATUS_INDICATION_REVISION_1,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_MULTICAST_FULL,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NdisMedium802_3,
  NdisParameterInteger,
  NdisPhysicalMedium802_3,
  NdisRequestSetInformation,
  OID_802_3_MULTICAST_LIST,
  OID_GEN_CURRENT_LOOKAHEAD,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_LINK_PARAMETERS,
} from '../ndis/generated/status.ts';
import type {
  NDIS_HANDLE,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OID_REQUEST,
  NDIS_OID_SET_INFORMATION,
  NDIS_STATUS,
  NDIS_STATUS_INDICATION,
} from '../ndis/types.ts';

/** An integer from the device's registry parameters, or `fallback` when absent or not an integer. */
export function readIntegerParameter(config: NDIS_HANDLE, keyword: string, fallback: number): number {
  const r = NdisReadConfiguration(config, keyword, NdisParameterInteger);
  if (r.Status !== NDIS_STATUS_SUCCESS || r.ParameterValue === null) return fallback;
  const d = r.ParameterValue.ParameterData;
  return 'IntegerData' in d ? d.IntegerData : fallback;
}

/** An unsolicited NDIS_STATUS_INDICATION of `StatusCode` on port 0, for NdisMIndicateStatusEx. */
export function statusIndication(
  SourceHandle: NDIS_HANDLE,
  StatusCode: NDIS_STATUS,
  StatusBuffer: NDIS_STATUS_INDICATION['StatusBuffer'],
  StatusBufferSize: number,
): NDIS_STATUS_INDICATION {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: NDIS_STATUS_INDICATION_REVISION_1 },
    SourceHandle,
    PortNumber: 0,
    StatusCode,
    Flags: 0,
    DestinationHandle: null,
    RequestId: null,
    StatusBuffer,
    StatusBufferSize,
  };
}

/** An NDIS_STATUS_LINK_STATE indication (full duplex) for NdisMIndicateStatusEx. */
export function linkStateIndication(
  SourceHandle: NDIS_HANDLE,
  up: boolean,
  linkSpeed: number,
  StatusCode: NDIS_STATUS = NDIS_STATUS_LINK_STATE,
): NDIS_STATUS_INDICATION {
  return statusIndication(
    SourceHandle,
    StatusCode,
    {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_LINK_STATE_REVISION_1 },
      MediaConnectState: up ? MediaConnectStateConnected : MediaConnectStateDisconnected,
      MediaDuplexState: MediaDuplexStateFull,
      XmitLinkSpeed: linkSpeed,
      RcvLinkSpeed: linkSpeed,
      PauseFunctions: 0,
      AutoNegotiationFlags: 0,
    },
    NDIS_SIZEOF_LINK_STATE_REVISION_1,
  );
}

/** The packet filters the reference miniports support (general attributes' SupportedPacketFilters). */
export const supportedPacketFilters =
  NDIS_PACKET_TYPE_DIRECTED |
  NDIS_PACKET_TYPE_MULTICAST |
  NDIS_PACKET_TYPE_ALL_MULTICAST |
  NDIS_PACKET_TYPE_BROADCAST |
  NDIS_PACKET_TYPE_PROMISCUOUS;

/**
 * R2.4: the NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES of an Ethernet (802.3) adapter,
 * with every member NDIS answers an 802.3 adapter's OIDs from: MtuSize 1500 (and a
 * lookahead of as much), the 6-byte `mac` as both its permanent and its current address,
 * the packet filters of `supportedPacketFilters`, and a link that is up at 1 Gb/s each
 * way, full duplex. `more` adds members or overrides these: the link state a NIC reads
 * from its hardware, its own speeds, a multicast list size.
 */
export function ethernetGeneralAttributes(
  mac: readonly number[],
  more: Omit<Partial<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES>, 'Header' | 'MediaType'> = {},
): NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES {
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    },
    MediaType: NdisMedium802_3,
    PhysicalMediumType: NdisPhysicalMedium802_3,
    MtuSize: 1500,
    LookaheadSize: 1500,
    MaxXmitLinkSpeed: 1e9,
    MaxRcvLinkSpeed: 1e9,
    XmitLinkSpeed: 1e9,
    RcvLinkSpeed: 1e9,
    MediaConnectState: MediaConnectStateConnected,
    MediaDuplexState: MediaDuplexStateFull,
    MacAddressLength: 6,
    PermanentMacAddress: mac,
    CurrentMacAddress: mac,
    SupportedPacketFilters: supportedPacketFilters,
    ...more,
  };
}

/**
 * R6.1: MiniportOidRequest of a miniport that supports only what every miniport must,
 * the set of OID_GEN_CURRENT_PACKET_FILTER (mandatory-oids-for-miniport-drivers; NDIS
 * answers its query): the filter is kept in `a.packetFilter`. Any other request is
 * NDIS_STATUS_NOT_SUPPORTED. A driver with OIDs of its own calls it for the rest.
 */
export function packetFilterOidRequest(a: { packetFilter: number }, req: NDIS_OID_REQUEST): NDIS_STATUS {
  if (req.RequestType !== NdisRequestSetInformation || req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER)
    return NDIS_STATUS_NOT_SUPPORTED;
  return setPacketFilter(a, req.DATA.SET_INFORMATION);
}

/** A set of OID_GEN_CURRENT_PACKET_FILTER: `a.packetFilter` takes a filter within `supportedPacketFilters`. */
function setPacketFilter(a: { packetFilter: number }, d: NDIS_OID_SET_INFORMATION): NDIS_STATUS {
  if (d.InformationBufferLength < 4) {
    d.BytesNeeded = 4;
    return NDIS_STATUS_INVALID_LENGTH;
  }
  // The OID page: a filter with a bit the miniport does not support fails.
  if (((d.InformationBuffer as number) & ~supportedPacketFilters) !== 0) return NDIS_STATUS_NOT_SUPPORTED;
  a.packetFilter = d.InformationBuffer as number;
  d.BytesRead = 4;
  return NDIS_STATUS_SUCCESS;
}

/** What an adapter keeps of the addressing OIDs (replayed by NDIS after an AddressingReset). */
export interface AddressingState {
  packetFilter: number;
  multicast: number[][];
}

/**
 * A set request: the packet filter, the multicast list (at most `maxMulticast`
 * addresses), and the lookahead and link parameters, which are accepted and ignored.
 * Anything else is NDIS_STATUS_NOT_SUPPORTED.
 */
export function setAddressingOid(
  a: AddressingState,
  d: NDIS_OID_SET_INFORMATION,
  maxMulticast: number,
): NDIS_STATUS {
  switch (d.Oid) {
    case OID_GEN_CURRENT_PACKET_FILTER:
      return setPacketFilter(a, d);
    case OID_802_3_MULTICAST_LIST: {
      // A whole number of 6-byte addresses.
      if (d.InformationBufferLength % 6 !== 0) return NDIS_STATUS_INVALID_LENGTH;
      const list = d.InformationBuffer as number[][];
      if (list.length > maxMulticast) return NDIS_STATUS_MULTICAST_FULL;
      a.multicast = list.map((m) => [...m]);
      d.BytesRead = list.length * 6;
      return NDIS_STATUS_SUCCESS;
    }
    case OID_GEN_CURRENT_LOOKAHEAD:
    case OID_GEN_LINK_PARAMETERS:
      d.BytesRead = d.InformationBufferLength;
      return NDIS_STATUS_SUCCESS;
  }
  return NDIS_STATUS_NOT_SUPPORTED;
}
