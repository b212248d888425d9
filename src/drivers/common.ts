// Helpers the bundled miniports share, written against the public API only, as a
// driver family's common source file would be: reading an integer parameter, a
// link-state indication, and the addressing OIDs every Ethernet miniport accepts.

import {
  MediaConnectStateConnected,
  MediaConnectStateDisconnected,
  MediaDuplexStateFull,
  type NDIS_HANDLE,
  NDIS_LINK_STATE_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  type NDIS_OID_SET_INFORMATION,
  NDIS_PACKET_TYPE_ALL_MULTICAST,
  NDIS_PACKET_TYPE_BROADCAST,
  NDIS_PACKET_TYPE_DIRECTED,
  NDIS_PACKET_TYPE_MULTICAST,
  NDIS_PACKET_TYPE_PROMISCUOUS,
  NDIS_SIZEOF_LINK_STATE_REVISION_1,
  type NDIS_STATUS,
  type NDIS_STATUS_INDICATION,
  NDIS_STATUS_INDICATION_REVISION_1,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_MULTICAST_FULL,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NdisParameterInteger,
  NdisReadConfiguration,
  OID_802_3_MULTICAST_LIST,
  OID_GEN_CURRENT_LOOKAHEAD,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_LINK_PARAMETERS,
} from '../index.ts';

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
      if (d.InformationBufferLength < 4) {
        d.BytesNeeded = 4;
        return NDIS_STATUS_INVALID_LENGTH;
      }
      // The OID page: a filter with a bit the miniport does not support fails.
      if (((d.InformationBuffer as number) & ~supportedPacketFilters) !== 0) return NDIS_STATUS_NOT_SUPPORTED;
      a.packetFilter = d.InformationBuffer as number;
      d.BytesRead = 4;
      return NDIS_STATUS_SUCCESS;
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
