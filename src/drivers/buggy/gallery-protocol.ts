// Gallery, protocol drivers (07-protocols-filters.md R7.1-R7.3, R7.13): each driver is
// echo-proto (src/drivers/echo-proto.ts) with one realistic mistake, bound to nic0, which
// runs the healthy-nic miniport. See index.ts.

import {
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_PM_CAPABILITIES_REVISION_2,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NdisIMDeInitializeDeviceInstance,
} from '../../index.ts';
import { echoProtocol } from '../echo-proto.ts';
import { muxIntermediate } from '../mux-im.ts';
import { galleryDriver } from './base.ts';
import type { GalleryEntry } from './entry.ts';

/**
 * wol-nic: a miniport (NDIS 6.30) that wakes on a magic packet and takes every WoL
 * pattern request (its NIC has room for the magic packet only, which takes no slot).
 */
const wolNic = galleryDriver(
  'wol-nic',
  {
    generalAttributes: {
      PowerManagementCapabilitiesEx: {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
        Flags: 0,
        SupportedWoLPacketPatterns: NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
        NumTotalWoLPatterns: 0,
      },
    },
    characteristics: (c) => {
      c.MinorNdisVersion = 30;
    },
    oid: () => NDIS_STATUS_SUCCESS,
  },
  'a miniport that wakes on a magic packet and takes every WoL pattern request',
);

/** The stack is torn down at 100 ms: pauses and unbinds follow. */
const removedAt100ms = { actions: [{ at: '100ms', do: 'surprise-remove', device: 'nic0' }] };
/** Frames from the wire for the protocol to echo. */
const wire = { device: { wire: { rxRate: 20000 } } };
/** Trains of frames fast enough that echoes are still in the miniport when a pause comes. */
const busyWire = { device: { wire: { rxRate: 500000, burst: 16 } } };

export const galleryProtocol: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_ProtocolBinding',
    protocol: true,
    mistake:
      'ProtocolBindAdapterEx allocates its binding context and returns SUCCESS; the NdisOpenAdapterEx it was meant to call sits behind a configuration check that is never true.',
    driver: echoProtocol('echo-bind-no-open', 'binds without opening', { bindWithoutOpen: true }),
    scenario: { until: '1s' },
  },
  {
    rule: 'NdisSim_ProtocolUnbind',
    protocol: true,
    mistake:
      'ProtocolUnbindAdapterEx clears the packet filter and returns SUCCESS, but the NdisCloseAdapterEx after it was lost in a refactoring: the binding stays open.',
    driver: echoProtocol('echo-unbind-no-close', 'unbinds without closing', { unbindWithoutClose: true }),
    scenario: { until: '1s', ...removedAt100ms },
  },
  {
    rule: 'NdisSim_ProtocolNetPnPEvent',
    protocol: true,
    mistake:
      'NetEventPause calls the driver\'s "all echoes back?" helper, which completes the pause with NdisCompleteNetPnPEvent when none is out, and then returns SUCCESS as well: the pause completes twice.',
    driver: echoProtocol('echo-pause-completed-twice', 'completes NetEventPause and returns SUCCESS', {
      pauseCompletedTwice: true,
    }),
    scenario: { until: '1s', ...removedAt100ms },
  },
  {
    rule: 'NdisReEnumerateProtocolBindings',
    protocol: true,
    mistake:
      'The first ProtocolBindAdapterEx calls NdisReEnumerateProtocolBindings, meaning to be bound to the adapters that came up before the driver loaded; the call is not allowed inside a bind handler.',
    driver: echoProtocol('echo-reenumerates-in-bind', 'calls NdisReEnumerateProtocolBindings from its bind', {
      rebindsFromBind: true,
    }),
    scenario: { until: '1s' },
  },
  {
    rule: 'Irql_Protocol_Driver_Function',
    protocol: true,
    mistake:
      'NetEventPause pends while echoes are out, and ProtocolSendNetBufferListsComplete completes the pause with NdisCompleteNetPnPEvent when the last one comes back: at DISPATCH, where that PASSIVE-only call is not allowed.',
    driver: echoProtocol('echo-pause-completed-at-dispatch', 'completes its pause from a send completion', {
      pauseCompletedFromSendComplete: true,
    }),
    scenario: { until: '1s', ...busyWire, actions: [{ at: '100ms', do: 'disable', device: 'nic0' }] },
  },
  {
    rule: 'NdisSim_ProtocolNblOwnership',
    protocol: true,
    mistake:
      'ProtocolReceiveNetBufferLists returns the received chain, and an error-path cleanup added later returns it again.',
    driver: echoProtocol('echo-returns-twice', 'returns each receive twice', { returnsTwice: true }),
    scenario: { until: '1s', ...wire },
  },
  {
    rule: 'NdisSim_ProtocolDataState',
    protocol: true,
    mistake:
      'ProtocolBindAdapterEx announces the protocol with a broadcast frame right after NdisOpenAdapterEx succeeds, while the binding is still opening (not Running).',
    driver: echoProtocol('echo-announces-in-bind', 'sends from ProtocolBindAdapterEx', {
      announceInBind: true,
    }),
    scenario: { until: '1s' },
  },
  {
    rule: 'NdisSim_ProtocolPauseNotDrained',
    protocol: true,
    mistake:
      'NetEventPause stops new echoes and returns SUCCESS at once, without waiting for the echoes still in the miniport.',
    driver: echoProtocol('echo-pause-no-wait', 'does not wait for its sends in NetEventPause', {
      pauseWithoutWaiting: true,
    }),
    scenario: { until: '1s', ...busyWire, actions: [{ at: '100ms', do: 'disable', device: 'nic0' }] },
  },
  {
    rule: 'NdisSim_ProtocolWatchdog',
    protocol: true,
    mistake:
      'NetEventPause returns NDIS_STATUS_PENDING, meaning to complete it when the last echo comes back, but with no echo out nothing ever calls NdisCompleteNetPnPEvent.',
    driver: echoProtocol('echo-pause-never-done', 'pends NetEventPause and never completes it', {
      pauseNeverCompleted: true,
    }),
    scenario: { until: '70s', ...removedAt100ms },
  },
  {
    rule: 'NdisSim_ProtocolDeregister',
    protocol: true,
    mistake:
      'ProtocolUnbindAdapterEx tidies up when the last binding goes by calling NdisDeregisterProtocolDriver, an entry point NDIS called: the call would wait for the unbind that is waiting for it.',
    driver: echoProtocol('echo-deregisters-in-unbind', 'deregisters from its last unbind', {
      deregistersFromUnbind: true,
    }),
    scenario: { until: '1s', ...removedAt100ms },
  },
  {
    rule: 'NdisSim_ProtocolUnload',
    protocol: true,
    mistake:
      'The Unload routine frees the NBL pool and returns; the NdisDeregisterProtocolDriver before it was dropped, so NDIS keeps the binding and calls into code that is gone.',
    driver: echoProtocol('echo-unload-no-deregister', 'unloads without deregistering', {
      unloadWithoutDeregister: true,
    }),
    // The binding left open still holds the adapter's name its bind took.
    followOn: ['NdisQueryBindInstanceName'],
    scenario: {
      until: '1s',
      actions: [{ at: '100ms', do: 'stop-protocol', driver: 'echo-unload-no-deregister' }],
    },
    noAdapter: true,
  },
  {
    rule: 'NdisSim_ProtocolWolPatterns',
    protocol: true,
    miniport: wolNic,
    mistake:
      "The binding's first restart adds a magic-packet wake pattern (OID_PM_ADD_WOL_PATTERN); ProtocolUnbindAdapterEx clears the packet filter and closes, but nothing removes the pattern, which stays on the NIC after the protocol is gone.",
    driver: echoProtocol('echo-leaves-wol-pattern', 'closes its binding with its WoL pattern still added', {
      leavesWolPattern: true,
    }),
    scenario: { until: '1s', ...removedAt100ms },
  },
  {
    rule: 'NdisQueryBindInstanceName',
    protocol: true,
    mistake:
      "ProtocolBindAdapterEx takes the adapter's friendly name with NdisQueryBindInstanceName for its messages; the cleanup that gave the buffer back with NdisFreeMemory was lost in a refactoring, and the names stay allocated when the service stops.",
    driver: echoProtocol('echo-keeps-bind-name', 'never frees its adapter names', { keepsBindName: true }),
    scenario: {
      until: '1s',
      actions: [{ at: '100ms', do: 'stop-protocol', driver: 'echo-keeps-bind-name' }],
    },
    noAdapter: true,
  },
  // Intermediate drivers (R5.23): mux-im (src/drivers/mux-im.ts) with one mistake,
  // installed as a protocol driver and bound to nic0, which runs healthy-nic.
  {
    rule: 'NdisSim_IMRemoveMiniport',
    protocol: true,
    mistake:
      'ProtocolUnbindAdapterEx gives up the virtual miniport over the departing adapter with NdisMRemoveMiniport, as the physical miniport it was copied from did, instead of NdisIMDeInitializeDeviceInstance.',
    driver: muxIntermediate('im-remove-miniport', 'intermediate driver: NdisMRemoveMiniport for its VELAN', {
      removeMiniportOnUnbind: true,
    }),
    scenario: { until: '1s', ...removedAt100ms },
    adapter: 'nic0-velan',
  },
  {
    rule: 'NdisSim_IMNetPnPEvent',
    protocol: true,
    mistake:
      'ProtocolNetPnPEvent passes every event of its binding below up to the virtual miniport with NdisMNetPnPEvent, NetEventPause included: when the adapter below goes, the pause of its binding is propagated, which an intermediate driver must not do (NDIS pauses the bindings above the virtual miniport itself).',
    driver: muxIntermediate(
      'im-propagates-pause',
      'intermediate driver: passes NetEventPause up to its VELAN',
      {
        propagatePause: true,
      },
    ),
    scenario: { until: '1s', ...removedAt100ms },
    adapter: 'nic0-velan',
  },
  {
    rule: 'Irql_IM_Function',
    protocol: true,
    mistake:
      "ProtocolBindAdapterEx adds the new binding to the driver's list under its spin lock and, still holding it, asks for the virtual miniport with NdisIMInitializeDeviceInstanceEx: at DISPATCH_LEVEL, where that PASSIVE-only call is not allowed.",
    driver: muxIntermediate(
      'im-init-under-lock',
      'intermediate driver: asks for its VELAN holding a spin lock',
      {
        initUnderLock: true,
      },
    ),
    scenario: { until: '1s' },
  },
  {
    rule: 'NdisSim_IMDeviceInstance',
    mistake:
      'A miniport carved out of an intermediate driver still gives up its adapter the intermediate way: MiniportRestart finds its configuration unusable and calls NdisIMDeInitializeDeviceInstance on its own, physical, adapter; NDIS fails the call and the adapter stays up.',
    driver: galleryDriver(
      'physical-im-deinit',
      {
        restart: (a) => {
          NdisIMDeInitializeDeviceInstance(a.handle);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisIMDeInitializeDeviceInstance on a physical adapter',
    ),
    scenario: { until: '1s' },
  },
];
