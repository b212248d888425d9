// Gallery, low power (OID_PNP_SET_POWER page): each driver is the scriptable SimNic
// miniport made power-management aware (NO_HALT_ON_SUSPEND, so a system sleep sends it
// OID_PNP_QUERY_POWER and OID_PNP_SET_POWER instead of halting it; the last one also
// selectively suspended), with one realistic mistake in how it goes to D3. See index.ts.

import {
  type NDIS_HANDLE,
  NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  type NDIS_OID_REQUEST,
  NDIS_PM_CAPABILITIES_REVISION_2,
  NDIS_PM_WAKE_REASON_REVISION_1,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INDICATION_REVISION_1,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WAKE_REASON,
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisAllocateTimerObject,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisMIdleNotificationConfirm,
  NdisMIndicateStatusEx,
  NdisMOidRequestComplete,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisRequestSetInformation,
  NdisSetTimerObject,
  NdisWakeReasonMediaConnect,
  NdisWakeReasonPacket,
  NdisWriteRegisterUlong,
  type NET_BUFFER_LIST,
  OID_PNP_QUERY_POWER,
  OID_PNP_SET_POWER,
  SimNicReg,
} from '../../index.ts';
import { galleryDriver, type TestAdapter, timerCharacteristics } from './base.ts';
import type { GalleryEntry } from './entry.ts';
import { pmHooks, setPowerState, ssHooks } from './kit.ts';

/** A sleep to S3 at 1 s for 1 s. */
const sleep = [{ at: '1s', do: 'sleep', state: 'S3', for: '1s' }];

/** The request is OID_PNP_SET_POWER to D3. */
function isSetD3(req: NDIS_OID_REQUEST): boolean {
  const d = req.DATA.SET_INFORMATION;
  return (
    req.RequestType === NdisRequestSetInformation &&
    d.Oid === OID_PNP_SET_POWER &&
    d.InformationBuffer === NdisDeviceStateD3
  );
}

export const galleryPower: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_SetPowerSendsPending',
    mistake:
      'The NIC keeps the last frame posted until the next send pushes it out. With NO_PAUSE_ON_SUSPEND no pause drains it first, and OID_PNP_SET_POWER(D3) succeeds at once with that frame still on the ring.',
    driver: galleryDriver(
      'bad-d3-sends-pending',
      pmHooks(
        {
          send: (a, chain) => {
            const last = a.state.posted as NET_BUFFER_LIST | undefined;
            if (last !== undefined) {
              last.Status = NDIS_STATUS_SUCCESS;
              NdisMSendNetBufferListsComplete(a.handle, last, 0);
            }
            a.state.posted = chain;
          },
        },
        NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
      ),
      'buggy: completes OID_PNP_SET_POWER(D3) with a send still in the NIC',
    ),
    scenario: { traffic: { rate: 100, frameBytes: 600 }, actions: sleep },
  },
  {
    rule: 'NdisSim_QueryPowerFailed',
    mistake:
      'The OID handler treats OID_PNP_QUERY_POWER as a vote and answers NDIS_STATUS_FAILURE while it has sends in the NIC, to keep the adapter awake; the page says the miniport must always succeed it, and the sleep goes ahead anyway.',
    driver: galleryDriver(
      'bad-query-power-veto',
      pmHooks({
        send: (a, chain) => {
          a.state.busy = chain;
        },
        oid: (a, req) =>
          req.DATA.Oid === OID_PNP_QUERY_POWER && a.state.busy !== undefined
            ? NDIS_STATUS_FAILURE
            : NDIS_STATUS_SUCCESS,
      }),
      'buggy: fails OID_PNP_QUERY_POWER while sends are out',
    ),
    scenario: { traffic: { rate: 100, frameBytes: 600 }, actions: sleep },
  },
  {
    rule: 'NdisSim_SetPowerTimerSet',
    mistake:
      'A 100 ms watchdog timer set in MiniportInitializeEx keeps running: the OID_PNP_SET_POWER(D3) handler quiesces the NIC but forgets to cancel the timer, which then runs against a NIC in D3 after the wake.',
    driver: galleryDriver(
      'bad-d3-timer-set',
      pmHooks({
        initialize: (a) => {
          const t = NdisAllocateTimerObject(
            a.handle,
            timerCharacteristics(() => {}),
          );
          if (t.TimerObject !== null) {
            a.state.watchdog = t.TimerObject;
            NdisSetTimerObject(t.TimerObject, -100 * 10_000, 100, null);
          }
          return NDIS_STATUS_SUCCESS;
        },
      }),
      'buggy: leaves its watchdog timer set in D3',
    ),
    scenario: { actions: sleep },
  },
  {
    rule: 'NdisSim_HardwareAccessInLowPower',
    mistake:
      'In selective suspend, OID_PNP_SET_POWER(D3) pends and a work item completes it first, then waits a millisecond and masks the NIC interrupts: by then the bus driver has the NIC in D3 and the write goes nowhere.',
    driver: galleryDriver(
      'bad-d3-register-write',
      {
        ...ssHooks((a) => {
          NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD3);
          return NDIS_STATUS_PENDING;
        }),
        initialize: (a) => {
          a.state.work = NdisAllocateIoWorkItem(a.handle);
          return NDIS_STATUS_SUCCESS;
        },
        oid: (a, req) => {
          if (!isSetD3(req)) return NDIS_STATUS_SUCCESS;
          NdisQueueIoWorkItem(
            a.state.work as NDIS_HANDLE,
            (x: TestAdapter) => {
              NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS);
              NdisMSleep(1000);
              if (x.space !== null) NdisWriteRegisterUlong(x.space.at(SimNicReg.IMR), 0);
            },
            a,
          );
          return NDIS_STATUS_PENDING;
        },
      },
      'buggy: writes a NIC register after completing OID_PNP_SET_POWER(D3)',
    ),
    scenario: { device: { registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 1 } } },
  },
  {
    rule: 'NdisSim_PowerIrpWatchdog',
    mistake:
      'OID_PNP_SET_POWER(D3) pends until the NIC reports its receive DMA idle, an interrupt this NIC never raises: the request never completes, and the system sleep hangs with the D3 power IRP held.',
    driver: galleryDriver(
      'bad-d3-never-completes',
      pmHooks({ oid: (_a, req) => (isSetD3(req) ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS) }),
      'buggy: never completes OID_PNP_SET_POWER(D3)',
    ),
    scenario: { until: '10s', ndis: { powerWatchdog: '5s' }, actions: sleep },
  },
  {
    rule: 'NdisSim_WakeReasonOutsideSetPower',
    mistake:
      'The wake reason is reported from MiniportRestart, where the driver re-arms the NIC after a sleep: by then OID_PNP_SET_POWER(D0) has completed, and NDIS_STATUS_PM_WAKE_REASON reaches the protocols after the stack restarted.',
    driver: galleryDriver(
      'bad-wake-reason-late',
      pmHooks({
        restart: (a) => {
          const reason = {
            Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_WAKE_REASON_REVISION_1 },
            Flags: 0,
            WakeReason: NdisWakeReasonMediaConnect,
            InfoBufferOffset: 0,
            InfoBufferSize: 0,
          };
          if (a.state.slept === true)
            NdisMIndicateStatusEx(a.handle, {
              Header: {
                Type: NDIS_OBJECT_TYPE_STATUS_INDICATION,
                Revision: NDIS_STATUS_INDICATION_REVISION_1,
              },
              SourceHandle: a.handle,
              PortNumber: 0,
              StatusCode: NDIS_STATUS_PM_WAKE_REASON,
              Flags: 0,
              DestinationHandle: null,
              RequestId: null,
              StatusBuffer: reason,
              StatusBufferSize: NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1,
            });
          return NDIS_STATUS_SUCCESS;
        },
        oid: (a, req) => {
          if (isSetD3(req)) a.state.slept = true;
          return NDIS_STATUS_SUCCESS;
        },
      }),
      'buggy: reports NDIS_STATUS_PM_WAKE_REASON from MiniportRestart',
    ),
    scenario: { actions: sleep },
  },
  {
    rule: 'NdisSim_WakeReasonContent',
    mistake:
      'The NIC saves the frame that woke it, and OID_PNP_SET_POWER(D0) passes it with NDIS_STATUS_PM_WAKE_REASON; but the driver kept the NDIS_PM_CAPABILITIES of its NDIS 6.20 version, without NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED and with MaxWoLPacketSaveBuffer 0, so it reported it cannot save a wake packet.',
    driver: galleryDriver(
      'bad-wake-packet-unreported',
      pmHooks({
        generalAttributes: {
          PowerManagementCapabilitiesEx: {
            Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
            Flags: 0,
            SupportedWoLPacketPatterns: NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
            NumTotalWoLPatterns: 0,
            MaxWoLPacketSaveBuffer: 0,
            MinMagicPacketWakeUp: NdisDeviceStateD3,
          },
        },
        oid: (a, req) => {
          if (setPowerState(req) !== NdisDeviceStateD0) return NDIS_STATUS_SUCCESS;
          // NDIS_PM_WAKE_REASON, then an NDIS_PM_WAKE_PACKET (156 bytes, 160 with its
          // padding) and 64 saved bytes, each on a 64-bit boundary.
          const at = (NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1 + 7) & ~7;
          const info = 160 + 64;
          NdisMIndicateStatusEx(a.handle, {
            Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: NDIS_STATUS_INDICATION_REVISION_1 },
            SourceHandle: a.handle,
            PortNumber: 0,
            StatusCode: NDIS_STATUS_PM_WAKE_REASON,
            Flags: 0,
            DestinationHandle: null,
            RequestId: null,
            StatusBuffer: {
              Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_WAKE_REASON_REVISION_1 },
              Flags: 0,
              WakeReason: NdisWakeReasonPacket,
              InfoBufferOffset: at,
              InfoBufferSize: info,
              WakePacket: {
                Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: 1, Size: 156 },
                Flags: 0,
                PatternId: 0,
                OriginalPacketSize: 64,
                SavedPacketSize: 64,
                SavedPacketOffset: 160,
                SavedPacket: new Uint8Array(64),
              },
            },
            StatusBufferSize: at + info,
          });
          return NDIS_STATUS_SUCCESS;
        },
      }),
      'buggy: passes a wake packet its NDIS_PM_CAPABILITIES says it cannot save',
    ),
    scenario: { actions: sleep },
  },
];
