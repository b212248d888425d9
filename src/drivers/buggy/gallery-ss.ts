// Gallery, selective suspend (NDIS 6.30): each driver is the scriptable SimNic miniport
// with NDIS_MINIPORT_SS_CHARACTERISTICS registered, NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED
// reported, and one realistic mistake in how it answers NDIS's idle notification. See
// index.ts.

import {
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD2,
  NdisMIdleNotificationComplete,
  NdisMIdleNotificationConfirm,
  NdisMSleep,
} from '../../index.ts';
import { after, galleryDriver } from './base.ts';
import type { GalleryEntry } from './entry.ts';
import { ssHooks } from './kit.ts';

/** Selective suspend on, idle after one second. */
const ssOn = { device: { registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 1 } } };

export const gallerySs: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_IdleNotificationConfirm',
    mistake:
      'MiniportIdleNotification confirms at once, then submits its bus idle request, whose callback (run synchronously by the bus, as the USB bus driver may) confirms the same notification again.',
    driver: galleryDriver(
      'bad-ss-confirm-twice',
      ssHooks((a) => {
        const busIdleCallback = (): void => NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        busIdleCallback();
        return NDIS_STATUS_PENDING;
      }),
      'buggy: confirms one idle notification twice',
    ),
    scenario: ssOn,
  },
  {
    rule: 'NdisSim_IdleNotificationComplete',
    mistake:
      'Both its wake-on-receive logic and its bus completion routine complete the idle notification, 100 ms apart, so NdisMIdleNotificationComplete runs twice.',
    driver: galleryDriver(
      'bad-ss-complete-twice',
      ssHooks((a) => {
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        after(a, 500, (x) => NdisMIdleNotificationComplete(x.handle));
        after(a, 600, (x) => NdisMIdleNotificationComplete(x.handle));
        return NDIS_STATUS_PENDING;
      }),
      'buggy: completes one idle notification twice',
    ),
    scenario: ssOn,
  },
  {
    rule: 'NdisSim_IdleNotificationStatus',
    mistake:
      'MiniportIdleNotification confirms the notification synchronously and, believing the job done, returns NDIS_STATUS_SUCCESS instead of NDIS_STATUS_PENDING.',
    driver: galleryDriver(
      'bad-ss-idle-success',
      ssHooks((a) => {
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        return NDIS_STATUS_SUCCESS;
      }),
      'buggy: returns SUCCESS from MiniportIdleNotification',
    ),
    scenario: ssOn,
  },
  {
    rule: 'NdisSim_CancelIdleWatchdog',
    mistake:
      'MiniportCancelIdleNotification only cancels the bus idle request and leaves NdisMIdleNotificationComplete to its completion routine, but that request had already completed when the device was confirmed: the completion never comes.',
    driver: galleryDriver(
      'bad-ss-cancel-never-completes',
      ssHooks(
        (a) => {
          // The bus idle request completes at once and is freed: nothing is left to cancel.
          a.state.busIdleRequest = null;
          NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
          return NDIS_STATUS_PENDING;
        },
        (a) => {
          // Cancels the bus request, if any; its completion routine would complete the notification.
          if (a.state.busIdleRequest != null) NdisMIdleNotificationComplete(a.handle);
        },
      ),
      'buggy: never completes an idle notification NDIS cancelled',
    ),
    // Idle at 1 s; the wake signal at 2 s makes NDIS cancel; the watchdog (3 s here) follows.
    scenario: {
      ...ssOn,
      until: '8s',
      ndis: { idleWatchdog: '3s' },
      actions: [{ at: '2s', do: 'wake-signal', device: 'nic0' }],
    },
  },
  {
    rule: 'NdisSim_IdleWatchdog',
    mistake:
      'MiniportIdleNotification waits in a sleep loop for the bus to call its idle callback before it returns, but the bus calls it only once the notification has returned PENDING.',
    driver: galleryDriver(
      'bad-ss-idle-waits-for-bus',
      ssHooks((a) => {
        while (a.state.busSaysIdle !== true) NdisMSleep(100_000);
        NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD2);
        return NDIS_STATUS_PENDING;
      }),
      'buggy: blocks in MiniportIdleNotification',
    ),
    scenario: { ...ssOn, until: '8s', ndis: { idleWatchdog: '3s' } },
  },
];
