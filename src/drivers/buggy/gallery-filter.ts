// Gallery, filter drivers (07-protocols-filters.md): each driver is monitor-lwf
// (src/drivers/lwf.ts) with one realistic mistake, installed over a healthy-nic. See
// index.ts.

import {
  NDIS_EVENT,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisAllocateCloneOidRequest,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateSpinLock,
  NdisFDeregisterFilterDriver,
  NdisFIndicateStatus,
  NdisFNetPnPEvent,
  NdisFOidRequest,
  NdisFOidRequestComplete,
  NdisFRestartComplete,
  NdisFReturnNetBufferLists,
  NdisFreeCloneOidRequest,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisInitializeEvent,
  NdisReleaseSpinLock,
  NdisRequestQueryInformation,
  NdisWaitEvent,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  OID_802_3_CURRENT_ADDRESS,
  OID_GEN_CURRENT_PACKET_FILTER,
} from '../../index.ts';
import { oidRequestData } from '../../ndis/oid.ts';
import { type LwfModule, variantOfMonitorLwf, withOidForwarding, withStatusPassedOn } from '../lwf.ts';
import type { GalleryEntry } from './entry.ts';

/** The stack is torn down at 100 ms: pauses, PnP events and detaches follow. */
const removedAt100ms = { actions: [{ at: '100ms', do: 'surprise-remove', device: 'nic0' }] };

export const galleryFilter: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_FilterWatchdog',
    filter: true,
    mistake:
      "FilterNetPnPEvent waits, with no time-out, for an event its own worker sets after logging the query-remove; the worker is never queued, so the wait never ends and NDIS's watchdog fires.",
    driver: (() => {
      const logged = new NDIS_EVENT();
      return variantOfMonitorLwf('lwf-waits-in-net-event', 'waits forever in FilterNetPnPEvent', (c) => {
        c.NetPnPEventHandler = (m: LwfModule, e) => {
          NdisInitializeEvent(logged);
          NdisWaitEvent(logged, 0);
          return NdisFNetPnPEvent(m.handle, e);
        };
      });
    })(),
    scenario: { until: '70s', ...removedAt100ms },
  },
  {
    rule: 'NdisFDeregisterFilterDriver',
    filter: true,
    noAdapter: true,
    mistake:
      "The unload routine frees the driver's globals and returns, but the call to NdisFDeregisterFilterDriver was left in an error path of DriverEntry only.",
    driver: variantOfMonitorLwf(
      'lwf-unload-keeps-registration',
      'does not deregister in its unload routine',
      (_c, d) => {
        d.unload = () => {};
      },
    ),
    scenario: {
      until: '1s',
      actions: [{ at: '100ms', do: 'stop-filter', driver: 'lwf-unload-keeps-registration' }],
    },
  },
  {
    rule: 'Irql_Filter_Driver_Function',
    filter: true,
    mistake:
      'FilterAttach calls NdisFSetAttributes while it holds the spin lock that guards its list of modules: at DISPATCH_LEVEL, where the PASSIVE-only DDI may not be called.',
    driver: (() => {
      const lock = new NDIS_SPIN_LOCK();
      let allocated = false;
      return variantOfMonitorLwf(
        'lwf-attributes-under-lock',
        'sets its module attributes holding a spin lock',
        (c) => {
          const attach = c.AttachHandler;
          c.AttachHandler = (h, ctx, p) => {
            if (!allocated) {
              NdisAllocateSpinLock(lock);
              allocated = true;
            }
            NdisAcquireSpinLock(lock);
            try {
              return attach(h, ctx, p);
            } finally {
              NdisReleaseSpinLock(lock);
            }
          };
        },
      );
    })(),
  },
  {
    rule: 'NdisFilterTimedPauseComplete',
    filter: true,
    mistake:
      'FilterPause pends until its count of sends in flight reaches zero, but the count is only decremented on a path the module never takes: NdisFPauseComplete never comes.',
    driver: variantOfMonitorLwf(
      'lwf-pause-never-completes',
      'pends FilterPause and never completes it',
      (c) => {
        c.PauseHandler = (m: LwfModule) => {
          m.running = false;
          return NDIS_STATUS_PENDING;
        };
      },
    ),
    scenario: { until: '15s', ...removedAt100ms },
  },
  {
    rule: 'NdisSim_FilterPauseWatchdog',
    filter: true,
    mistake:
      'FilterPause queues the pause to the module’s worker thread and returns NDIS_STATUS_PENDING, but the worker exits as soon as it sees the module is no longer running, before it reads its queue: NdisFPauseComplete never comes.',
    driver: variantOfMonitorLwf(
      'lwf-pause-worker-exits',
      'pends FilterPause on a worker that has exited',
      (c) => {
        c.PauseHandler = (m: LwfModule) => {
          m.running = false; // the worker checks this first and exits
          return NDIS_STATUS_PENDING;
        };
      },
    ),
    // NDIS's pause watchdog shortened below Driver Verifier's 10 s, so NDIS's is what stops it.
    scenario: { until: '8s', ndis: { pauseWatchdog: '5s' }, ...removedAt100ms },
  },
  {
    rule: 'NdisSim_FilterAttach',
    filter: true,
    mistake:
      'FilterAttach builds its module context and returns SUCCESS, but the call to NdisFSetAttributes sits behind a configuration check that is false on this machine.',
    driver: variantOfMonitorLwf('lwf-no-attributes', 'never calls NdisFSetAttributes', (c) => {
      c.AttachHandler = () => NDIS_STATUS_SUCCESS;
    }),
  },
  {
    rule: 'NdisSim_FilterReturn',
    filter: true,
    mistake:
      'FilterRestart returns the status of the OID request it made to read the link speed (NOT_SUPPORTED) instead of a restart result.',
    driver: variantOfMonitorLwf(
      'lwf-restart-returns-oid-status',
      'returns an OID status from FilterRestart',
      (c) => {
        c.RestartHandler = () => NDIS_STATUS_NOT_SUPPORTED;
      },
    ),
  },
  {
    rule: 'NdisSim_FilterCompleteUnexpected',
    filter: true,
    mistake:
      'FilterRestart calls NdisFRestartComplete when its work is done, and then returns SUCCESS as well: the restart completes twice.',
    driver: variantOfMonitorLwf(
      'lwf-restart-completes-twice',
      'completes its restart and returns SUCCESS',
      (c) => {
        c.RestartHandler = (m: LwfModule) => {
          m.running = true;
          NdisFRestartComplete(m.handle, NDIS_STATUS_SUCCESS);
          return NDIS_STATUS_SUCCESS;
        };
      },
    ),
  },
  {
    rule: 'NdisSim_FilterRegistration',
    filter: true,
    mistake:
      'FilterDetach deregisters the filter driver when it frees its last module, as if unload came next; the module is still attached while FilterDetach runs.',
    driver: variantOfMonitorLwf(
      'lwf-deregisters-in-detach',
      'deregisters the driver from FilterDetach',
      (c, d) => {
        c.DetachHandler = () => {
          if (d.handle !== null) NdisFDeregisterFilterDriver(d.handle);
        };
      },
    ),
    scenario: removedAt100ms,
  },
  {
    rule: 'NdisSim_BadCharacteristics',
    filter: true,
    noAdapter: true,
    mistake:
      'The filter forwards OID requests with FilterOidRequest, but its FilterOidRequestComplete was left out of the characteristics: NdisFRegisterFilterDriver refuses them and the filter never loads.',
    driver: variantOfMonitorLwf(
      'lwf-no-oid-complete',
      'registers FilterOidRequest without FilterOidRequestComplete',
      (c) => {
        withOidForwarding(c);
        c.OidRequestCompleteHandler = null;
      },
    ),
  },
  {
    rule: 'NdisSim_FilterForward',
    filter: true,
    mistake:
      'FilterNetPnPEvent forwards a copy of the notification it logged instead of the one NDIS passed it.',
    driver: variantOfMonitorLwf('lwf-forwards-a-copy', 'forwards a copy of the net PnP notification', (c) => {
      c.NetPnPEventHandler = (m: LwfModule, e) => NdisFNetPnPEvent(m.handle, { ...e });
    }),
    scenario: removedAt100ms,
  },
  {
    rule: 'NdisSim_FilterState',
    filter: true,
    mistake:
      'FilterAttach queries the adapter’s current address with NdisFOidRequest to key its module table, while the module is still Attaching, where it may not issue requests.',
    driver: variantOfMonitorLwf('lwf-oid-in-attach', 'issues an OID request from FilterAttach', (c) => {
      withOidForwarding(c);
      const attach = c.AttachHandler;
      c.AttachHandler = (h, ctx, p) => {
        const s = attach(h, ctx, p);
        NdisFOidRequest(h, {
          Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
          RequestType: NdisRequestQueryInformation,
          PortNumber: 0,
          Timeout: 0,
          RequestId: 'lwf-oid-in-attach',
          RequestHandle: null,
          DATA: oidRequestData(OID_802_3_CURRENT_ADDRESS, null, 6),
          SupportedRevision: 0,
          MiniportReserved: [null, null],
          SourceReserved: [null, null],
          SwitchId: 0,
          VPortId: 0,
          Flags: 0,
        });
        return s;
      };
    }),
  },
  {
    rule: 'NdisSim_FilterOidComplete',
    filter: true,
    mistake:
      'FilterOidRequest keeps the packet filter in software: it completes the set with NdisFOidRequestComplete, then returns NDIS_STATUS_SUCCESS too, so the request completes twice.',
    driver: variantOfMonitorLwf('lwf-oid-completes-twice', 'completes a set and returns SUCCESS', (c) => {
      withOidForwarding(c);
      const forward = c.OidRequestHandler!;
      c.OidRequestHandler = (m: LwfModule, r) => {
        if (r.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return forward(m, r);
        r.DATA.SET_INFORMATION.BytesRead = 4;
        NdisFOidRequestComplete(m.handle, r, NDIS_STATUS_SUCCESS);
        return NDIS_STATUS_SUCCESS;
      };
    }),
  },
  {
    rule: 'NdisSim_FilterOidClone',
    filter: true,
    mistake:
      'FilterOidRequest passes the NDIS_OID_REQUEST it received straight to NdisFOidRequest to save a clone, and completes it from FilterOidRequestComplete.',
    driver: variantOfMonitorLwf('lwf-forwards-original-oid', 'forwards the original OID request', (c) => {
      withOidForwarding(c);
      c.OidRequestHandler = (m: LwfModule, r) => NdisFOidRequest(m.handle, r);
      c.OidRequestCompleteHandler = (m: LwfModule, r, s) => NdisFOidRequestComplete(m.handle, r, s);
    }),
  },
  {
    rule: 'NdisSim_FilterStatusInvalid',
    filter: true,
    mistake:
      'FilterRestart announces the link with a status indication built from a zeroed template, which leaves SourceHandle NULL instead of the module’s NdisFilterHandle.',
    driver: variantOfMonitorLwf('lwf-status-no-source', 'indicates status with no SourceHandle', (c) => {
      withOidForwarding(c);
      const restart = c.RestartHandler;
      c.RestartHandler = (m: LwfModule, p) => {
        NdisFIndicateStatus(m.handle, {
          Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: 1 },
          SourceHandle: null as never,
          PortNumber: 0,
          StatusCode: NDIS_STATUS_LINK_STATE,
          Flags: 0,
          DestinationHandle: null,
          RequestId: null,
          StatusBuffer: null,
          StatusBufferSize: 0,
        });
        return restart(m, p);
      };
    }),
  },
  {
    rule: 'NdisSim_FilterOidWatchdog',
    filter: true,
    mistake:
      'FilterOidRequest pends every request to handle it on a worker thread, but the worker is only started from FilterRestart of the next boot: NdisFOidRequestComplete never comes.',
    driver: variantOfMonitorLwf(
      'lwf-oid-never-completes',
      'pends OID requests and never completes them',
      (c) => {
        withOidForwarding(c);
        c.OidRequestHandler = () => NDIS_STATUS_PENDING;
      },
    ),
    scenario: { until: '65s' },
  },
  {
    rule: 'NdisFilterTimedDataSend',
    filter: true,
    mistake:
      'FilterSendNetBufferLists queues each send behind the one in flight and drains the queue from FilterSendNetBufferListsComplete, but the first send is queued too: nothing is ever passed on.',
    driver: variantOfMonitorLwf(
      'lwf-send-queue-stalls',
      'queues every send behind one that never goes',
      (c) => {
        const queue: NET_BUFFER_LIST[] = [];
        c.SendNetBufferListsHandler = (_m, nbl) => {
          queue.push(nbl);
        };
        c.SendNetBufferListsCompleteHandler = (m, nbl, flags) => {
          NdisFSendNetBufferListsComplete(m.handle, nbl, flags);
          const next = queue.shift();
          if (next !== undefined) NdisFSendNetBufferLists(m.handle, next, 0, 0);
        };
      },
    ),
    scenario: { until: '40s', traffic: { rate: 10, frameBytes: 64 } },
  },
  {
    rule: 'NdisFilterTimedDataReceive',
    filter: true,
    mistake:
      'FilterReceiveNetBufferLists queues receives for an inspection work item it means to schedule from its timer, and the timer is never set: the frames stay with the module.',
    driver: variantOfMonitorLwf(
      'lwf-receive-queue-stalls',
      'keeps receives for a work item that never runs',
      (c) => {
        const queue: NET_BUFFER_LIST[] = [];
        c.ReceiveNetBufferListsHandler = (_m, nbls) => {
          queue.push(nbls);
        };
        c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
        withStatusPassedOn(c);
      },
    ),
    scenario: { until: '40s', device: { wire: { rxRate: 10, frameBytes: 64 } } },
  },
  {
    rule: 'NdisSim_FilterNblOwnership',
    filter: true,
    mistake:
      'FilterSendNetBufferLists completes frames longer than its MTU with NdisFSendNetBufferListsComplete, then passes the whole chain on anyway: the rejected NBL is sent after it went back to the protocol.',
    driver: variantOfMonitorLwf('lwf-sends-rejected-frame', 'passes on a send it has completed', (c) => {
      c.SendNetBufferListsHandler = (m, nbl, port, flags) => {
        for (let x: NET_BUFFER_LIST | null = nbl; x !== null; x = x.Next) {
          if ((x.FirstNetBuffer?.DataLength ?? 0) > 200) {
            const next: NET_BUFFER_LIST | null = x.Next;
            x.Next = null;
            x.Status = NDIS_STATUS_FAILURE;
            NdisFSendNetBufferListsComplete(m.handle, x, 0);
            x.Next = next;
          }
        }
        NdisFSendNetBufferLists(m.handle, nbl, port, flags);
      };
      c.SendNetBufferListsCompleteHandler = (m, nbl, flags) =>
        NdisFSendNetBufferListsComplete(m.handle, nbl, flags);
    }),
    scenario: { traffic: { rate: 100, frameBytes: 256 } },
  },
  {
    rule: 'NdisSim_FilterDataState',
    filter: true,
    mistake:
      'FilterPause sends a frame of its own to tell its peer the module goes away: a Pausing module may originate no sends.',
    driver: variantOfMonitorLwf('lwf-sends-in-pause', 'sends a goodbye frame from FilterPause', (c) => {
      let pool: NDIS_HANDLE | null = null;
      const restart = c.RestartHandler;
      c.RestartHandler = (m, p) => {
        pool ??= NdisAllocateNetBufferListPool(m.handle, {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
          ProtocolId: 0,
          fAllocateNetBuffer: true,
          ContextSize: 0,
          PoolTag: 0,
          DataSize: 0,
        });
        return restart(m, p);
      };
      c.PauseHandler = (m: LwfModule) => {
        m.running = false;
        const own =
          pool === null ? null : NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, new Uint8Array(60), 0, 60);
        if (own !== null) {
          own.SourceHandle = m.handle;
          NdisFSendNetBufferLists(m.handle, own, 0, 0);
        }
        return NDIS_STATUS_SUCCESS;
      };
      c.SendNetBufferListsCompleteHandler = (_m, nbl) => {
        for (let x: NET_BUFFER_LIST | null = nbl; x !== null; ) {
          const next: NET_BUFFER_LIST | null = x.Next;
          NdisFreeNetBufferList(x);
          x = next;
        }
      };
      c.DetachHandler = () => {
        if (pool !== null) NdisFreeNetBufferListPool(pool);
        pool = null;
      };
    }),
    scenario: removedAt100ms,
  },
  {
    rule: 'NdisSim_FilterPauseNotDrained',
    filter: true,
    mistake:
      'FilterReceiveNetBufferLists queues receives for a work item; FilterPause stops the work item but forgets to return what is still queued.',
    driver: variantOfMonitorLwf('lwf-pause-keeps-receives', 'pauses with receives still queued', (c) => {
      const queue: NET_BUFFER_LIST[] = [];
      c.ReceiveNetBufferListsHandler = (_m, nbls) => {
        queue.push(nbls);
      };
      c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
      withStatusPassedOn(c);
    }),
    scenario: { ...removedAt100ms, device: { wire: { rxRate: 1000, frameBytes: 64 } } },
  },
];

/**
 * Not in the gallery list (its rule, NdisSim_FilterOidComplete, has its entry above): a
 * filter whose mistake shows only when NDIS passes a request down inside NdisFOidRequest
 * (R6.2; the option `oidCallDown`, `explore` or `inline`). On a final status from
 * NdisFOidRequest, FilterOidRequest copies the answer back and frees the clone, as
 * ndislwf does, but then also completes the original with NdisFOidRequestComplete and
 * returns the status: the request completes twice. With requests always queued
 * (`oidCallDown: queued`, the default) NdisFOidRequest never returns a final status for
 * a request the miniport takes, and the path never runs.
 */
export const lwfSyncOidCompletesTwice = variantOfMonitorLwf(
  'lwf-sync-oid-completes-twice',
  'completes a request NdisFOidRequest finished at once, and returns its status too',
  (c) => {
    withOidForwarding(c);
    c.OidRequestHandler = (m: LwfModule, r) => {
      const a = NdisAllocateCloneOidRequest(m.handle, r, 0x664c);
      if (a.Status !== NDIS_STATUS_SUCCESS || a.ClonedOidRequest === null) return NDIS_STATUS_FAILURE;
      const clone = a.ClonedOidRequest;
      clone.SourceReserved[0] = r;
      const s = NdisFOidRequest(m.handle, clone);
      if (s === NDIS_STATUS_PENDING) return s;
      r.DATA.QUERY_INFORMATION.BytesWritten = clone.DATA.QUERY_INFORMATION.BytesWritten;
      r.DATA.QUERY_INFORMATION.BytesNeeded = clone.DATA.QUERY_INFORMATION.BytesNeeded;
      NdisFreeCloneOidRequest(m.handle, clone);
      NdisFOidRequestComplete(m.handle, r, s); // the mistake: the return below completes it too
      return s;
    };
    c.OidRequestCompleteHandler = (m: LwfModule, clone, status) => {
      const r = clone.SourceReserved[0] as typeof clone;
      r.DATA.QUERY_INFORMATION.BytesWritten = clone.DATA.QUERY_INFORMATION.BytesWritten;
      r.DATA.QUERY_INFORMATION.BytesNeeded = clone.DATA.QUERY_INFORMATION.BytesNeeded;
      NdisFreeCloneOidRequest(m.handle, clone);
      NdisFOidRequestComplete(m.handle, r, status);
    };
  },
);
