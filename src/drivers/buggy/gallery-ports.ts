// Gallery, NDIS ports (docs/model.md, "NDIS ports"): the scriptable SimNic miniport
// with one extra port, and one realistic mistake in how it handles it. See index.ts.

import {
  MediaConnectStateConnected,
  NDIS_OBJECT_TYPE_DEFAULT,
  type NDIS_PORT,
  type NDIS_PORT_CHARACTERISTICS,
  NDIS_PORT_CHARACTERISTICS_REVISION_1,
  NDIS_SIZEOF_PORT_CHARACTERISTICS_REVISION_1,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NdisMAllocatePort,
  NdisMNetPnPEvent,
  NdisPortAuthorizationUnknown,
  NdisPortControlStateUncontrolled,
  NdisPortTypeUndefined,
  NET_IF_DIRECTION_SENDRECEIVE,
  NET_PNP_EVENT_NOTIFICATION_REVISION_1,
  NetEventPortActivation,
  NetEventPortDeactivation,
  OID_GEN_CURRENT_PACKET_FILTER,
} from '../../index.ts';
import { galleryDriver, type TestAdapter } from './base.ts';
import type { GalleryEntry } from './entry.ts';

/** NDIS_PORT_CHARACTERISTICS of a plain port: send and receive, connected, 1 Gb/s, no 802.1X control. */
export function portCharacteristics(): NDIS_PORT_CHARACTERISTICS {
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_DEFAULT,
      Revision: NDIS_PORT_CHARACTERISTICS_REVISION_1,
      Size: NDIS_SIZEOF_PORT_CHARACTERISTICS_REVISION_1,
    },
    PortNumber: 0,
    Flags: 0,
    Type: NdisPortTypeUndefined,
    MediaConnectState: MediaConnectStateConnected,
    XmitLinkSpeed: 1_000_000_000,
    RcvLinkSpeed: 1_000_000_000,
    Direction: NET_IF_DIRECTION_SENDRECEIVE,
    SendControlState: NdisPortControlStateUncontrolled,
    RcvControlState: NdisPortControlStateUncontrolled,
    SendAuthorizationState: NdisPortAuthorizationUnknown,
    RcvAuthorizationState: NdisPortAuthorizationUnknown,
  };
}

/** NdisMNetPnPEvent(NetEventPortActivation) for the ports in `chars`, linked by NDIS_PORT.Next. */
export function activatePorts(handle: unknown, chars: NDIS_PORT_CHARACTERISTICS[]): number {
  let list: NDIS_PORT | null = null;
  for (let i = chars.length - 1; i >= 0; i--)
    list = {
      Next: list,
      NdisReserved: null,
      MiniportReserved: null,
      ProtocolReserved: null,
      PortCharacteristics: chars[i]!,
    };
  return NdisMNetPnPEvent(handle as never, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1 },
    PortNumber: 0,
    NetPnPEvent: { NetEvent: NetEventPortActivation, Buffer: list, BufferLength: chars.length * 96 },
  });
}

/** NdisMNetPnPEvent(NetEventPortDeactivation) for `ports`, an NDIS_PORT_NUMBER array. */
export function deactivatePorts(handle: unknown, ports: number[]): number {
  return NdisMNetPnPEvent(handle as never, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1 },
    PortNumber: 0,
    NetPnPEvent: { NetEvent: NetEventPortDeactivation, Buffer: ports, BufferLength: ports.length * 4 },
  });
}

/** MiniportInitializeEx allocates and activates one port; its number is in a.state.port. */
function onePort(a: TestAdapter): number {
  const c = portCharacteristics();
  const s = NdisMAllocatePort(a.handle, c);
  if (s !== NDIS_STATUS_SUCCESS) return s;
  a.state.port = c.PortNumber;
  a.state.chars = c;
  return NDIS_STATUS_SUCCESS;
}

const removeAt1s = { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] };

export const galleryPorts: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_PortState',
    mistake:
      'MiniportInitializeEx allocates and activates a second port; MiniportHaltEx deactivates it but never calls NdisMFreePort.',
    driver: galleryDriver(
      'bad-port-not-freed',
      {
        initialize: (a) => {
          const s = onePort(a);
          if (s !== NDIS_STATUS_SUCCESS) return s;
          activatePorts(a.handle, [a.state.chars as NDIS_PORT_CHARACTERISTICS]);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          deactivatePorts(a.handle, [a.state.port as number]);
        },
      },
      'buggy: halts with an NDIS port still allocated',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisMNetPnPEventInOIDRequest',
    mistake:
      'MiniportOidRequest activates the port it allocated when the protocol sets the packet filter, calling NdisMNetPnPEvent from inside the OID request.',
    driver: galleryDriver(
      'bad-port-event-in-oid',
      {
        initialize: onePort,
        oid: (a, req) => {
          if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return NDIS_STATUS_NOT_SUPPORTED;
          if (a.state.active !== true) {
            a.state.active = true;
            activatePorts(a.handle, [a.state.chars as NDIS_PORT_CHARACTERISTICS]);
          }
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: sends a port event from MiniportOidRequest',
    ),
  },
];
