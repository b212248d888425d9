// Gallery, part B: the miniport contract — pause, restart, reset, OIDs, the data path
// and handles. Each driver is the scriptable SimNic miniport with one realistic
// mistake. See index.ts.

import {
  type CM_MEMORY_RANGE,
  CmResourceTypePort,
  DISPATCH_LEVEL,
  MediaConnectStateConnected,
  MediaDuplexStateFull,
  NDIS_CURRENT_IRQL,
  type NDIS_HANDLE,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  type NDIS_OID_REQUEST,
  NDIS_OID_REQUEST_REVISION_1,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  type NDIS_STATUS,
  NDIS_STATUS_ADAPTER_NOT_READY,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisFreeIoWorkItem,
  NdisMDeregisterIoPortRange,
  NdisMDirectOidRequestComplete,
  NdisMedium802_3,
  NdisMIndicateReceiveNetBufferLists,
  NdisMIndicateStatusEx,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMRegisterIoPortRange,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisMRestartComplete,
  NdisMSendNetBufferListsComplete,
  NdisMSetMiniportAttributes,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisRawReadPortUlong,
  NdisReadRegisterUlong,
  NdisReleaseSpinLock,
  NdisRequestQueryInformation,
  NdisSetOptionalHandlers,
  type NET_BUFFER_LIST,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_LINK_SPEED,
  OID_GEN_XMIT_OK,
  oidRequestData,
  SimNicReg,
  SimNicStatus,
} from '../../index.ts';
import { linkStateIndication } from '../common.ts';
import { after, defaultOid, galleryDriver, type Hooks, type TestAdapter } from './base.ts';
import type { GalleryEntry } from './entry.ts';
import {
  adapterLock,
  allocateAdapterLock,
  linkState,
  listOf,
  pollerOutlivingHalt,
  rxNbl,
  rxPool,
  workItem,
} from './kit.ts';

const removeAt1s = { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] };
/** The protocol sends 200 frames a second once bound. */
const traffic = { rate: 200, frameBytes: 256 };

/** Hooks that pend the packet filter the protocol sets at bind and hand it to `pended`. */
function pendPacketFilter(pended: (a: TestAdapter, req: NDIS_OID_REQUEST) => void): Pick<Hooks, 'oid'> {
  return {
    oid: (a, req) => {
      if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return NDIS_STATUS_NOT_SUPPORTED;
      pended(a, req);
      return NDIS_STATUS_PENDING;
    },
  };
}

/** CheckForHang reports a hang at its first run (2 s), so NDIS resets the adapter. */
const hangOnce: Pick<Hooks, 'checkForHang'> = {
  checkForHang: (a) => {
    const first = a.state.hung === undefined;
    a.state.hung = true;
    return first;
  },
};

export const galleryB: readonly GalleryEntry[] = [
  {
    rule: 'MiniportPause_Return',
    mistake: 'MiniportPause returns NDIS_STATUS_RESOURCES when it cannot allocate its pause context.',
    driver: galleryDriver(
      'bad-pause-status',
      { pause: () => NDIS_STATUS_RESOURCES },
      'buggy: MiniportPause fails',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_CallbackReturnValue',
    mistake:
      'MiniportPause is written as an async function: it returns a Promise, where NDIS reads an NDIS_STATUS.',
    driver: galleryDriver(
      'bad-async-pause',
      // An async handler; the cast stands for a driver whose types let it through.
      { pause: () => (async () => NDIS_STATUS_SUCCESS)() as unknown as NDIS_STATUS },
      'buggy: an async MiniportPause',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'DoubleComplete',
    mistake:
      'MiniportOidRequest completes the packet filter with NdisMOidRequestComplete and also returns SUCCESS.',
    driver: galleryDriver(
      'bad-oid-complete-and-return',
      {
        oid: (a, req) => {
          if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return NDIS_STATUS_NOT_SUPPORTED;
          NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: completes an OID request and returns a final status',
    ),
  },
  {
    rule: 'DoubleCompleteWorkItem',
    mistake:
      'The work item that programs the packet filter completes the request, then falls through to the common exit that completes it again.',
    driver: galleryDriver(
      'bad-oid-workitem-double',
      {
        initialize: (a) => {
          a.state.work = workItem(a);
          return NDIS_STATUS_SUCCESS;
        },
        ...pendPacketFilter((a, req) =>
          NdisQueueIoWorkItem(
            a.state.work as NDIS_HANDLE,
            () => {
              NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
              NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS); // common exit
            },
            req,
          ),
        ),
        halt: (a) => NdisFreeIoWorkItem(a.state.work as NDIS_HANDLE),
      },
      'buggy: completes an OID twice from its work item',
    ),
  },
  {
    rule: 'NdisOidComplete',
    mistake: 'The deferred packet-filter completion passes on a helper result that was NDIS_STATUS_PENDING.',
    driver: galleryDriver(
      'bad-oid-complete-pending',
      pendPacketFilter((a, req) =>
        after(a, 50, () => NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_PENDING)),
      ),
      'buggy: completes an OID with NDIS_STATUS_PENDING',
    ),
  },
  {
    rule: 'NdisOidDoubleComplete',
    mistake:
      'A pended packet filter is completed by the hardware-done timer and again by the time-out timer.',
    driver: galleryDriver(
      'bad-oid-double-complete',
      pendPacketFilter((a, req) => {
        after(a, 50, () => NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS));
        after(a, 100, () => NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_FAILURE));
      }),
      'buggy: completes an OID request twice',
    ),
  },
  {
    rule: 'NdisTimedOidComplete',
    mistake:
      'The packet filter is pended until the NIC acknowledges it, and the acknowledgement never comes.',
    driver: galleryDriver(
      'bad-oid-never-completed',
      pendPacketFilter(() => {}),
      'buggy: never completes a pended OID',
    ),
    scenario: { until: '14s' },
  },
  {
    rule: 'NdisSim_MiniportOidWatchdog',
    mistake:
      'The packet filter goes to a firmware mailbox; when the mailbox is busy the request is dropped instead of queued, so NdisMOidRequestComplete never comes.',
    driver: galleryDriver(
      'bad-oid-mailbox-drop',
      pendPacketFilter((a) => {
        // The mailbox is busy with the start-up commands: the request is forgotten.
        a.state.dropped = (Number(a.state.dropped) || 0) + 1;
      }),
      'buggy: drops a pended OID when its mailbox is busy',
    ),
    // NDIS's OID watchdog shortened below Driver Verifier's 12 s, so the watchdog is what stops it.
    scenario: { until: '10s', ndis: { oidWatchdog: '5s' } },
  },
  {
    rule: 'NdisTimedDataSend',
    mistake: 'A TX ring wrap bug drops one NBL on the floor; every other send completes at once.',
    driver: galleryDriver(
      'bad-send-leaks-one',
      {
        send: (a, chain, _port, flags) => {
          let keep: NET_BUFFER_LIST | null = null;
          const done: NET_BUFFER_LIST[] = [];
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
            const n = Number(a.state.sent ?? 0) + 1;
            a.state.sent = n;
            if (n === 10) keep = x;
            else done.push(x);
          }
          a.state.lost = keep ?? a.state.lost;
          for (let i = 0; i < done.length; i++) {
            done[i]!.Status = NDIS_STATUS_SUCCESS;
            done[i]!.Next = done[i + 1] ?? null;
          }
          const atDispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
          if (done.length > 0) {
            NdisMSendNetBufferListsComplete(
              a.handle,
              done[0]!,
              atDispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
            );
          }
        },
      },
      'buggy: loses one send',
    ),
    scenario: { until: '35s', traffic },
  },
  {
    rule: 'NdisTimedDataHang',
    mistake: 'Sends wait in a software queue for a link-up event the driver never handles; none completes.',
    driver: galleryDriver(
      'bad-send-stalls',
      {
        send: (a, chain) => {
          const q = listOf<NET_BUFFER_LIST>(a, 'queue');
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) q.push(x);
        },
      },
      'buggy: never completes sends',
    ),
    scenario: { until: '25s', traffic },
  },
  {
    rule: 'NdisSim_PauseCompleteUnexpected',
    mistake:
      'MiniportPause calls NdisMPauseComplete when its queues are empty and then returns SUCCESS as well.',
    driver: galleryDriver(
      'bad-pause-complete-and-return',
      {
        pause: (a) => {
          NdisMPauseComplete(a.handle);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: completes a pause it did not pend',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_RestartCompleteUnexpected',
    mistake: 'MiniportRestart calls NdisMRestartComplete and then returns SUCCESS as well.',
    driver: galleryDriver(
      'bad-restart-complete-and-return',
      {
        restart: (a) => {
          NdisMRestartComplete(a.handle, NDIS_STATUS_SUCCESS);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: completes a restart it did not pend',
    ),
  },
  {
    rule: 'NdisSim_ResetCompleteUnexpected',
    mistake:
      'MiniportResetEx pends; the timer that polls the NIC completes the reset, and the helper it calls to restart the send path completes it again.',
    driver: galleryDriver(
      'bad-reset-completed-twice',
      {
        ...hangOnce,
        reset: (a) => {
          after(a, 100, () => {
            NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false);
            NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false);
          });
          return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
        },
      },
      'buggy: completes one pended reset twice',
    ),
  },
  {
    rule: 'NdisSim_ResetDoubleComplete',
    mistake:
      'MiniportResetEx calls NdisMResetComplete once the NIC is reset, and then returns SUCCESS as well.',
    driver: galleryDriver(
      'bad-reset-complete-and-return',
      {
        ...hangOnce,
        reset: (a) => {
          NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false);
          return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
        },
      },
      'buggy: completes a reset it did not pend',
    ),
  },
  {
    rule: 'NdisSim_ResetBlocks',
    mistake:
      'MiniportResetEx pulses the PHY reset line and sleeps 20 ms for the PHY to come back, instead of pending the reset and finishing it from a timer.',
    driver: galleryDriver(
      'bad-reset-sleeps',
      {
        ...hangOnce,
        reset: () => {
          NdisMSleep(20_000);
          return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
        },
      },
      'buggy: sleeps inside MiniportResetEx',
    ),
    // At DISPATCH the sleep is an IRQL violation first; a PASSIVE reset shows this rule.
    scenario: { ndis: { callbackIrql: 'passive' } },
  },
  {
    rule: 'NdisSim_PauseWatchdog',
    mistake:
      'MiniportPause pends until a TX-done interrupt that the driver masked, so the pause never completes.',
    driver: galleryDriver(
      'bad-pause-never-completes',
      { pause: () => NDIS_STATUS_PENDING },
      'buggy: never completes a pause',
    ),
    scenario: { until: '5s', ndis: { pauseWatchdog: '2s' }, ...removeAt1s },
  },
  {
    rule: 'NdisSim_HaltWatchdog',
    mistake: 'MiniportHaltEx waits for the link to drop before unmapping the registers; the link stays up.',
    driver: galleryDriver(
      'bad-halt-waits-forever',
      {
        halt: (a) => {
          if (a.space === null) return;
          while ((NdisReadRegisterUlong(a.space.at(SimNicReg.STATUS)) & SimNicStatus.LINK_UP) !== 0)
            NdisMSleep(10_000);
        },
      },
      'buggy: MiniportHaltEx never returns',
    ),
    scenario: { until: '5s', ndis: { haltWatchdog: '2s' }, ...removeAt1s },
  },
  {
    rule: 'NdisSim_StaleHandle',
    mistake:
      'A PHY-poll work item that MiniportHaltEx does not wait for decides after halt that the PHY died and calls NdisMRemoveMiniport.',
    driver: galleryDriver(
      'bad-remove-after-halt',
      pollerOutlivingHalt({ onWake: (x, halted) => halted && NdisMRemoveMiniport(x.handle) }),
      'buggy: NdisMRemoveMiniport with a halted adapter handle',
    ),
    scenario: { actions: [{ at: '1050ms', do: 'remove', device: 'nic0' }] },
  },
  {
    rule: 'NdisMIndicateStatusEx',
    mistake:
      'A PHY-poll work item that MiniportHaltEx does not wait for indicates the link down after the adapter was halted.',
    driver: galleryDriver(
      'bad-status-after-halt',
      pollerOutlivingHalt({
        onWake: (x, halted) => halted && NdisMIndicateStatusEx(x.handle, linkState(x, false)),
      }),
      'buggy: NdisMIndicateStatusEx after MiniportHaltEx',
    ),
    scenario: { actions: [{ at: '1050ms', do: 'remove', device: 'nic0' }] },
  },
  {
    rule: 'NdisSim_StatusBeforeRegistration',
    mistake:
      'MiniportInitializeEx reads the PHY and reports the link up first thing, before it has set its registration attributes.',
    driver: galleryDriver(
      'bad-status-before-registration',
      {
        // The scripted MiniportInitializeEx sets the registration attributes first:
        // the indication goes in before it.
        characteristics: (c) => {
          const init = c.InitializeHandlerEx;
          c.InitializeHandlerEx = (handle, context, params) => {
            NdisMIndicateStatusEx(handle, linkStateIndication(handle, true, 1_000_000_000));
            return init(handle, context, params);
          };
        },
      },
      'buggy: NdisMIndicateStatusEx before the registration attributes',
    ),
  },
  {
    rule: 'NdisSim_StatusIndicationInvalid',
    mistake:
      'MiniportRestart reports the link up from a stack NDIS_LINK_STATE but leaves StatusBufferSize at 0, copied from an indication that carried no buffer.',
    driver: galleryDriver(
      'bad-link-state-size',
      {
        restart: (a) => {
          NdisMIndicateStatusEx(a.handle, { ...linkState(a, true), StatusBufferSize: 0 });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: a link-state indication without its buffer size',
    ),
  },
  {
    rule: 'NdisSim_DriverEntryLeak',
    mistake:
      'DriverEntry registers the miniport, then fails to allocate its driver-wide state and returns without NdisMDeregisterMiniportDriver.',
    driver: galleryDriver(
      'bad-driverentry-keeps-registration',
      { driverEntry: () => NDIS_STATUS_RESOURCES },
      'buggy: a failing DriverEntry stays registered',
    ),
  },
  {
    rule: 'NdisSim_AttributesOrder',
    mistake: 'MiniportRestart sets the general attributes again to report a new link speed.',
    driver: galleryDriver(
      'bad-attributes-in-restart',
      {
        restart: (a) => {
          NdisMSetMiniportAttributes(a.handle, {
            Header: {
              Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
              Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
            },
            MediaType: NdisMedium802_3,
            MtuSize: 1500,
            MaxXmitLinkSpeed: 1e9,
            MaxRcvLinkSpeed: 1e9,
            XmitLinkSpeed: 1e8,
            RcvLinkSpeed: 1e8,
            MediaConnectState: MediaConnectStateConnected,
            MediaDuplexState: MediaDuplexStateFull,
            LookaheadSize: 1500,
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisMSetMiniportAttributes outside MiniportInitializeEx',
    ),
  },
  {
    rule: 'NdisSim_InitializeReturn',
    mistake:
      'MiniportInitializeEx starts the PHY and returns NDIS_STATUS_PENDING, meaning to finish later, as MiniportRestart may.',
    driver: galleryDriver(
      'bad-init-status',
      { initialize: () => NDIS_STATUS_PENDING },
      'buggy: MiniportInitializeEx returns PENDING',
    ),
  },
  {
    rule: 'NdisSim_RestartReturn',
    mistake: 'MiniportRestart returns NDIS_STATUS_ADAPTER_NOT_READY while the link is still training.',
    driver: galleryDriver(
      'bad-restart-status',
      { restart: () => NDIS_STATUS_ADAPTER_NOT_READY },
      'buggy: MiniportRestart returns a status it may not',
    ),
  },
  {
    rule: 'NdisSim_ResetReturn',
    mistake: 'MiniportResetEx returns NDIS_STATUS_FAILURE when the NIC does not come back.',
    driver: galleryDriver(
      'bad-reset-status',
      { ...hangOnce, reset: () => ({ Status: NDIS_STATUS_FAILURE, AddressingReset: false }) },
      'buggy: MiniportResetEx returns a status it may not',
    ),
  },
  {
    rule: 'NdisSim_StatusFromNdisOnly',
    mistake: 'MiniportResetEx indicates NDIS_STATUS_RESET_START itself, to warn the protocols.',
    driver: galleryDriver(
      'bad-indicates-reset-start',
      {
        ...hangOnce,
        reset: (a) => {
          NdisMIndicateStatusEx(a.handle, linkState(a, true, NDIS_STATUS_RESET_START));
          return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
        },
      },
      'buggy: indicates NDIS_STATUS_RESET_START',
    ),
  },
  {
    rule: 'NdisSim_OidCompleteUnexpected',
    mistake:
      'MiniportRestart builds its own OID_GEN_LINK_SPEED query to refresh its cache and "completes" it with NdisMOidRequestComplete.',
    driver: galleryDriver(
      'bad-completes-own-oid',
      {
        restart: (a) => {
          const own: NDIS_OID_REQUEST = {
            Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: NDIS_OID_REQUEST_REVISION_1 },
            RequestType: NdisRequestQueryInformation,
            PortNumber: 0,
            Timeout: 0,
            RequestId: null,
            RequestHandle: null,
            DATA: oidRequestData(OID_GEN_LINK_SPEED, 1e9, 8),
            SupportedRevision: 0,
            MiniportReserved: [null, null],
            SourceReserved: [null, null],
            SwitchId: 0,
            VPortId: 0,
            Flags: 0,
          };
          own.DATA.QUERY_INFORMATION.BytesWritten = 8;
          NdisMOidRequestComplete(a.handle, own, NDIS_STATUS_SUCCESS);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: completes an OID request NDIS never made',
    ),
  },
  {
    rule: 'NdisSim_OidInvalidBuffer',
    mistake:
      'MiniportOidRequest answers OID_GEN_XMIT_OK with a ULONG64 whatever the buffer, though a caller may offer 4 bytes for the low 32 bits.',
    driver: galleryDriver(
      'bad-oid-overflows-buffer',
      {
        oid: (a, req) => {
          const d = req.DATA.QUERY_INFORMATION;
          if (req.RequestType !== NdisRequestQueryInformation || d.Oid !== OID_GEN_XMIT_OK)
            return defaultOid(a, req); // the packet filter's set too (R6.1)
          d.InformationBuffer = 1234;
          d.BytesWritten = 8;
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: writes past an OID query buffer',
    ),
    scenario: {
      actions: [{ at: '1s', do: 'oid', device: 'nic0', oid: 'OID_GEN_XMIT_OK', bufferLength: 4 }],
    },
  },
  {
    rule: 'NdisSim_DirectOid',
    mistake:
      'MiniportDirectOidRequest finds the IPsec SA already offloaded, "completes" the direct request with NdisMDirectOidRequestComplete as its pended path does, and returns NDIS_STATUS_SUCCESS as well.',
    driver: galleryDriver(
      'bad-direct-oid-completes-and-returns',
      {
        characteristics: (c) => {
          c.DirectOidRequestHandler = (a: TestAdapter, req: NDIS_OID_REQUEST) => {
            req.DATA.SET_INFORMATION.BytesRead = req.DATA.SET_INFORMATION.InformationBufferLength;
            NdisMDirectOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
            return NDIS_STATUS_SUCCESS;
          };
          c.CancelDirectOidRequestHandler = () => {};
        },
      },
      'buggy: completes a direct OID request and returns a final status',
    ),
    scenario: {
      actions: [
        {
          at: '1s',
          do: 'oid',
          device: 'nic0',
          oid: 'OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA',
          request: 'set',
          value: 1,
          direct: true,
        },
      ],
    },
  },
  {
    rule: 'NdisSim_SyncOid',
    mistake:
      'MiniportSynchronousOidRequest, written like its MiniportOidRequest, hands the RSSv2 indirection table move to a work item and returns NDIS_STATUS_PENDING; a synchronous request cannot pend, and NDIS bug checks.',
    driver: galleryDriver(
      'bad-sync-oid-pends',
      {
        characteristics: (c) => {
          c.Header.Revision = NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_3;
          c.MinorNdisVersion = 80;
          c.SynchronousOidRequestHandler = () => NDIS_STATUS_PENDING;
        },
      },
      'buggy: returns NDIS_STATUS_PENDING from MiniportSynchronousOidRequest',
    ),
    scenario: {
      actions: [
        {
          at: '1s',
          do: 'oid',
          device: 'nic0',
          oid: 'OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES',
          value: 1,
          synchronous: true,
        },
      ],
    },
  },
  {
    rule: 'NdisSim_SendCompleteUnexpected',
    mistake:
      'MiniportSendNetBufferLists completes each NBL at once but also leaves it on the TX ring, whose done timer completes it again.',
    driver: galleryDriver(
      'bad-send-double-complete',
      {
        send: (a, chain, _port, flags) => {
          const ring = listOf<NET_BUFFER_LIST>(a, 'ring');
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
            x.Status = NDIS_STATUS_SUCCESS;
            ring.push(x);
          }
          NdisMSendNetBufferListsComplete(
            a.handle,
            chain,
            (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0 ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
          );
          if (a.state.armed !== true) {
            a.state.armed = true;
            after(a, 20, () => {
              const first = ring.shift();
              if (first !== undefined) {
                first.Next = null;
                NdisMSendNetBufferListsComplete(a.handle, first, NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
              }
            });
          }
        },
      },
      'buggy: completes a send twice',
    ),
    scenario: { traffic },
  },
  {
    rule: 'NdisSim_ReceiveNotAllowed',
    mistake:
      'MiniportInitializeEx passes up a frame already waiting in the RX ring, before the adapter is running.',
    driver: galleryDriver(
      'bad-receive-in-init',
      {
        initialize: (a) => {
          const pool = rxPool(a);
          NdisMIndicateReceiveNetBufferLists(a.handle, rxNbl(a, pool), 0, 1, 0);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: indicates a receive during MiniportInitializeEx',
    ),
  },
  {
    rule: 'NdisSim_StackOverflow',
    mistake:
      'MiniportReturnNetBufferLists puts the NBL back in the RX ring and, with frames still waiting, indicates the next one at once. The protocol copies each frame and returns it inside its receive handler, so NDIS hands the NBL back inside the indication, and the two calls nest until the kernel stack runs out.',
    driver: galleryDriver(
      'bad-reindicate-on-return',
      {
        initialize: (a) => {
          const pool = rxPool(a);
          after(a, 500, () =>
            NdisMIndicateReceiveNetBufferLists(
              a.handle,
              rxNbl(a, pool),
              0,
              1,
              NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
            ),
          );
          return NDIS_STATUS_SUCCESS;
        },
        returnNbls: (a, chain, flags) => {
          const dispatch = (flags & NDIS_RETURN_FLAGS_DISPATCH_LEVEL) !== 0;
          NdisMIndicateReceiveNetBufferLists(
            a.handle,
            chain,
            0,
            1,
            dispatch ? NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL : 0,
          );
        },
      },
      'buggy: indicates again from MiniportReturnNetBufferLists',
    ),
  },
  {
    rule: 'NdisSim_ReceiveIndication',
    mistake: 'The receive timer links two NBLs into one chain but passes NumberOfNetBufferLists = 1.',
    driver: galleryDriver(
      'bad-receive-count',
      {
        initialize: (a) => {
          const pool = rxPool(a);
          after(a, 500, () => {
            const chain = rxNbl(a, pool);
            chain.Next = rxNbl(a, pool);
            NdisMIndicateReceiveNetBufferLists(a.handle, chain, 0, 1, NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: wrong NumberOfNetBufferLists',
    ),
  },
  {
    rule: 'Flags_Irql',
    mistake:
      'MiniportSendNetBufferLists, ported from an NDIS 5 driver, asks NDIS_CURRENT_IRQL (KeGetCurrentIrql) whether it runs at DISPATCH_LEVEL to choose its completion flag, where SendFlags already says so.',
    driver: galleryDriver(
      'bad-irql-probe',
      {
        send: (a, chain) => {
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
          const dispatch = NDIS_CURRENT_IRQL() === DISPATCH_LEVEL;
          NdisMSendNetBufferListsComplete(
            a.handle,
            chain,
            dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
          );
        },
      },
      'buggy: reads the IRQL in its send handler',
    ),
    scenario: { traffic },
  },
  {
    rule: 'NdisSim_DispatchLevelFlag',
    mistake:
      'Receive code moved from the DPC into a work item still passes NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL, at PASSIVE_LEVEL.',
    driver: galleryDriver(
      'bad-dispatch-flag',
      {
        initialize: (a) => {
          const pool = rxPool(a);
          const w = workItem(a);
          a.state.work = w;
          after(a, 500, () =>
            NdisQueueIoWorkItem(
              w,
              () =>
                NdisMIndicateReceiveNetBufferLists(
                  a.handle,
                  rxNbl(a, pool),
                  0,
                  1,
                  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
                ),
              a,
            ),
          );
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => NdisFreeIoWorkItem(a.state.work as NDIS_HANDLE),
      },
      'buggy: DISPATCH_LEVEL flag at PASSIVE_LEVEL',
    ),
  },
  {
    rule: 'NdisSim_ResetWithPendingWork',
    mistake:
      'MiniportResetEx (an NDIS 6.30 driver) resets the NIC and returns SUCCESS, forgetting the packet filter it still has pended.',
    driver: galleryDriver(
      'bad-reset-keeps-oid',
      {
        ...hangOnce,
        ...pendPacketFilter(() => {}),
        reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
      },
      'buggy: completes a reset with an OID pending',
    ),
  },
  {
    rule: 'NdisSim_LockHeldAcrossCall',
    mistake: 'The reset-done timer calls NdisMResetComplete inside the adapter lock.',
    driver: galleryDriver(
      'bad-reset-complete-locked',
      {
        ...hangOnce,
        initialize: allocateAdapterLock,
        reset: (a) => {
          after(a, 100, () => {
            const lock = adapterLock(a);
            NdisAcquireSpinLock(lock);
            NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false);
            NdisReleaseSpinLock(lock);
          });
          return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
        },
      },
      'buggy: NdisMResetComplete with a spin lock held',
    ),
  },
  {
    rule: 'NdisSim_BadParameter',
    mistake:
      'MiniportRestart indicates the link state with its own MiniportAdapterContext where NDIS expects the MiniportAdapterHandle.',
    driver: galleryDriver(
      'bad-context-as-handle',
      {
        restart: (a) => {
          NdisMIndicateStatusEx(a as unknown as NDIS_HANDLE, linkState(a, true));
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: passes its context as the adapter handle',
    ),
  },
  {
    rule: 'NdisSim_OptionalHandlers',
    noAdapter: true,
    mistake:
      'DriverEntry registers its PnP handlers with NdisSetOptionalHandlers after NdisMRegisterMiniportDriver returns, instead of from MiniportSetOptions.',
    driver: galleryDriver(
      'bad-optional-handlers-late',
      {
        driverEntry: (driverHandle) => {
          NdisSetOptionalHandlers(driverHandle, {
            Header: {
              Type: NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
              Revision: NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
            },
            MiniportRemoveDeviceHandler: () => {},
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisSetOptionalHandlers outside MiniportSetOptions',
    ),
  },
  {
    rule: 'NdisMRegisterIoPortRange',
    mistake:
      'The driver claims its I/O port range lazily, on the first register access in MiniportRestart, instead of in MiniportInitializeEx.',
    driver: galleryDriver(
      'bad-ports-in-restart',
      {
        initialize: (a, params) => {
          a.state.ports = portResource(params);
          return NDIS_STATUS_SUCCESS;
        },
        restart: (a) => {
          const p = a.state.ports as CM_MEMORY_RANGE;
          const r = NdisMRegisterIoPortRange(a.handle, p.Start, p.Length);
          a.state.portOffset = r.PortOffset;
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          const p = a.state.ports as CM_MEMORY_RANGE;
          if (a.state.portOffset !== null)
            NdisMDeregisterIoPortRange(a.handle, p.Start, p.Length, a.state.portOffset as number);
        },
      },
      'buggy: registers its I/O ports in MiniportRestart',
    ),
  },
  {
    rule: 'NdisSim_PortNotRegistered',
    mistake:
      'The driver reads its interrupt causes through the I/O port resource PnP assigned, but never claimed the range with NdisMRegisterIoPortRange.',
    driver: galleryDriver(
      'bad-port-unregistered',
      {
        initialize: (a, params) => {
          a.state.ports = portResource(params);
          return NDIS_STATUS_SUCCESS;
        },
        restart: (a) => {
          NdisRawReadPortUlong((a.state.ports as CM_MEMORY_RANGE).Start + SimNicReg.ICR);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: reads a port it never registered',
    ),
  },
];

/** The device's I/O port range from AllocatedResources. */
function portResource(params: NDIS_MINIPORT_INIT_PARAMETERS): CM_MEMORY_RANGE {
  const d = params.AllocatedResources!.PartialDescriptors.find((x) => x.Type === CmResourceTypePort);
  if (d === undefined || d.Type !== CmResourceTypePort) throw new Error('no I/O port resource');
  return d.u.Port;
}
