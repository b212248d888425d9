// Gallery, part A: IRQL, locks, timers, work items, interrupts and resources. Each
// driver is the scriptable SimNic miniport with one realistic mistake. See index.ts.

import {
  CmResourceTypeMemory,
  LIST_ENTRY,
  LOCK_STATE_EX,
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  NDIS_ERROR_CODE_HARDWARE_FAILURE,
  type NDIS_HANDLE,
  type NDIS_IO_SPACE,
  NDIS_LOWER_IRQL,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  type NDIS_RW_LOCK_EX,
  NDIS_RWL_AT_DISPATCH_LEVEL,
  type NDIS_SPIN_LOCK,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireRWLockRead,
  NdisAcquireRWLockWrite,
  NdisAcquireSpinLock,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateRWLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisDevicePnPEventSurpriseRemoved,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeIoWorkItem,
  NdisFreeMemoryWithTagPriority,
  NdisFreeRWLock,
  NdisFreeTimerObject,
  NdisInitializeListHead,
  NdisInterlockedInsertTailList,
  NdisInterlockedRemoveHeadList,
  NdisMDeregisterInterruptEx,
  NdisMIndicateStatusEx,
  NdisMMapIoSpace,
  NdisMOidRequestComplete,
  NdisMQueueDpcEx,
  NdisMRegisterInterruptEx,
  NdisMResetMiniport,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  NdisMSynchronizeWithInterruptEx,
  NdisMUnmapIoSpace,
  NdisOpenConfigurationEx,
  NdisQueueIoWorkItem,
  NdisReadRegisterUlong,
  NdisReleaseRWLock,
  NdisReleaseSpinLock,
  NdisSetTimerObject,
  NdisStallExecution,
  NdisWriteErrorLogEntry,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  OID_GEN_CURRENT_PACKET_FILTER,
  SimNicReg,
  SimNicStatus,
} from '../../index.ts';
import { after, galleryDriver, idleInterrupt } from './base.ts';
import type { GalleryEntry } from './entry.ts';
import {
  adapterLock,
  allocateAdapterLock,
  galleryTag,
  linkState,
  listOf,
  ms,
  rawTimer,
  rxPool,
  spinLock,
  workItem,
} from './kit.ts';

/** A receive buffer the driver keeps on a free list (the C struct embeds its LIST_ENTRY). */
class RxBuffer extends LIST_ENTRY {
  readonly data = new Uint8Array(64);
}

const removeAt1s = { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] };
/** The link drops at 1 s: the NIC raises LINK_CHANGE and MiniportInterrupt runs at DIRQL. */
const linkDropAt1s = { device: { faults: { linkDownAt: '1s' } } };

export const galleryA: readonly GalleryEntry[] = [
  {
    rule: 'Init_DeRegisterInterrupt',
    mistake:
      'MiniportHaltEx masks the NIC and unmaps its registers but never calls NdisMDeregisterInterruptEx.',
    driver: galleryDriver(
      'bad-halt-keeps-interrupt',
      {
        halt: (a) => {
          a.interrupt = null; // the cleanup forgets the interrupt
        },
      },
      'buggy: halt leaves the interrupt registered',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'Init_NdisAllocateIoWorkItem',
    mistake: 'MiniportInitializeEx allocates a link work item that MiniportHaltEx never frees.',
    driver: galleryDriver(
      'bad-leaks-work-item',
      {
        initialize: (a) => {
          a.state.linkWork = workItem(a);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: halt does not free its I/O work item',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'Init_RegisterInterrupt',
    mistake:
      'MiniportInitializeEx fails on a bad registry value; its error path unmaps the registers but leaves the interrupt registered.',
    driver: galleryDriver(
      'bad-init-fail-keeps-interrupt',
      {
        initialize: (a) => {
          a.interrupt = null; // the error path skips NdisMDeregisterInterruptEx
          return NDIS_STATUS_FAILURE;
        },
      },
      'buggy: failed initialization leaves the interrupt registered',
    ),
  },
  {
    rule: 'NdisMDeregisterInterruptEx',
    mistake:
      'MiniportHaltEx deregisters the interrupt first and then uses NdisMSynchronizeWithInterruptEx to mask the NIC.',
    driver: galleryDriver(
      'bad-sync-after-deregister',
      {
        halt: (a) => {
          const i = a.interrupt;
          if (i === null) return;
          NdisMDeregisterInterruptEx(i);
          a.interrupt = null;
          NdisMSynchronizeWithInterruptEx(i, 0, () => true, a);
        },
      },
      'buggy: synchronizes with an interrupt it already deregistered',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_QueueDpcDeregistered',
    mistake:
      'MiniportHaltEx queues the DPC once more to drain the receive ring, and the DPC queues itself again while work seems left; NdisMDeregisterInterruptEx runs that DPC before it returns, and the DPC it queues from there could only run after it.',
    driver: galleryDriver(
      'bad-dpc-requeue-in-deregister',
      {
        halt: (a) => {
          if (a.interrupt !== null) NdisMQueueDpcEx(a.interrupt, 0, { Mask: 0b1, Group: 0 }, 'drain');
        },
        dpc: (a, _t, context) => {
          if (context === 'drain' && a.interrupt !== null)
            NdisMQueueDpcEx(a.interrupt, 0, { Mask: 0b1, Group: 0 }, 'drain');
        },
      },
      'buggy: its DPC queues itself again while NdisMDeregisterInterruptEx runs it',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_InterruptOutsideInitHalt',
    mistake:
      'MiniportRestart deregisters the interrupt from MiniportInitializeEx and registers a new one, to pick up a changed interrupt moderation setting.',
    driver: galleryDriver(
      'bad-interrupt-in-restart',
      {
        restart: (a) => {
          if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
          const r = NdisMRegisterInterruptEx(a.handle, a, idleInterrupt());
          a.interrupt = r.NdisInterruptHandle;
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: registers its interrupt again in MiniportRestart',
    ),
  },
  {
    rule: 'NdisSim_MessageIdOutOfRange',
    mistake:
      'MiniportRestart kicks each of its four receive queues with NdisMQueueDpcEx, using the queue number as MessageId, on a NIC that was granted only two MSI messages.',
    driver: galleryDriver(
      'bad-message-per-queue',
      {
        initialize: (a) => {
          if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
          const r = NdisMRegisterInterruptEx(a.handle, a, {
            ...idleInterrupt(),
            MsiSupported: true,
            MessageInterruptHandler: () => ({
              InterruptRecognized: false,
              QueueDefaultInterruptDpc: false,
              TargetProcessors: 0,
            }),
            MessageInterruptDpcHandler: () => {},
            DisableMessageInterruptHandler: () => {},
            EnableMessageInterruptHandler: () => {},
          });
          a.interrupt = r.NdisInterruptHandle;
          return r.Status;
        },
        restart: (a) => {
          for (let queue = 0; queue < 4; queue++)
            NdisMQueueDpcEx(a.interrupt!, queue, { Mask: 0b1, Group: 0 }, queue);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: names a message per receive queue, more than the NIC was granted',
    ),
    scenario: { device: { msi: { messages: 2 } } },
  },
  {
    rule: 'Irql_Interrupt_Function',
    mistake:
      'A watchdog timer callback, at DISPATCH_LEVEL, deregisters the interrupt to silence an interrupt storm.',
    driver: galleryDriver(
      'bad-deregister-at-dispatch',
      {
        initialize: (a) => {
          after(a, 500, (x) => {
            if (x.interrupt !== null) NdisMDeregisterInterruptEx(x.interrupt);
            x.interrupt = null;
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisMDeregisterInterruptEx at DISPATCH_LEVEL',
    ),
  },
  {
    rule: 'Irql_IrqlSetting_Function',
    mistake: 'MiniportInterrupt calls a statistics helper that raises to DISPATCH_LEVEL, from DIRQL.',
    driver: galleryDriver(
      'bad-raise-in-isr',
      {
        isr: (a) => {
          const old = NDIS_RAISE_IRQL_TO_DISPATCH();
          a.state.interrupts = Number(a.state.interrupts ?? 0) + 1;
          NDIS_LOWER_IRQL(old, 2);
        },
      },
      'buggy: NDIS_RAISE_IRQL_TO_DISPATCH at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'Irql_Miniport_Driver_Function',
    mistake: 'A timer callback waits for the PHY with NdisMSleep, which needs IRQL below DISPATCH_LEVEL.',
    driver: galleryDriver(
      'bad-sleep-in-timer',
      {
        initialize: (a) => {
          after(a, 500, () => NdisMSleep(1000));
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisMSleep at DISPATCH_LEVEL',
    ),
  },
  {
    rule: 'Irql_Miscellaneous_Function',
    mistake: 'MiniportInterrupt writes an error-log entry when the link drops, at DIRQL.',
    driver: galleryDriver(
      'bad-errorlog-in-isr',
      { isr: (a) => NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_HARDWARE_FAILURE, 1, 0x1) },
      'buggy: NdisWriteErrorLogEntry at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'NdisSim_InterruptSyncDeadlock',
    mistake:
      "The helper that masks the NIC's interrupts always goes through NdisMSynchronizeWithInterruptEx, as the DPC needs; MiniportInterrupt calls the same helper, which then takes the interrupt's spin lock that the ISR already holds.",
    driver: galleryDriver(
      'bad-sync-in-isr',
      {
        isr: (a) => {
          NdisMSynchronizeWithInterruptEx(a.interrupt!, 0, () => true, a);
        },
      },
      'buggy: NdisMSynchronizeWithInterruptEx from its own ISR',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'Irql_NetBuffer_Function',
    mistake: 'MiniportInterrupt allocates a fresh receive NBL from its pool, at DIRQL.',
    driver: galleryDriver(
      'bad-nbl-alloc-in-isr',
      {
        initialize: (a) => {
          a.state.pool = rxPool(a);
          return NDIS_STATUS_SUCCESS;
        },
        isr: (a) => {
          NdisAllocateNetBufferAndNetBufferList(a.state.pool as NDIS_HANDLE, 0, 0, new Uint8Array(60), 0, 60);
        },
      },
      'buggy: NdisAllocateNetBufferAndNetBufferList at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'Irql_OID_Function',
    mistake:
      'The packet filter is pended until the NIC acknowledges it; MiniportInterrupt completes the request at DIRQL.',
    driver: galleryDriver(
      'bad-oid-complete-in-isr',
      {
        oid: (a, req) => {
          if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return NDIS_STATUS_NOT_SUPPORTED;
          a.state.pended = req;
          return NDIS_STATUS_PENDING;
        },
        isr: (a) => {
          const req = a.state.pended as NDIS_OID_REQUEST | undefined;
          if (req !== undefined) NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
        },
      },
      'buggy: NdisMOidRequestComplete at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'Irql_SendRcv_Function',
    mistake:
      'MiniportInterrupt completes the sends on the TX ring itself instead of leaving them to the DPC.',
    driver: galleryDriver(
      'bad-send-complete-in-isr',
      {
        send: (a, chain) => {
          const ring = listOf<NET_BUFFER_LIST>(a, 'ring');
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) ring.push(x);
        },
        isr: (a) => {
          const ring = listOf<NET_BUFFER_LIST>(a, 'ring');
          const first = ring.shift();
          if (first === undefined) return;
          first.Status = NDIS_STATUS_SUCCESS;
          first.Next = null;
          NdisMSendNetBufferListsComplete(a.handle, first, 0);
        },
      },
      'buggy: NdisMSendNetBufferListsComplete at DIRQL',
    ),
    scenario: { ...linkDropAt1s, traffic: { rate: 200, frameBytes: 256 } },
  },
  {
    rule: 'Irql_StatusIndication_Function',
    mistake: 'MiniportInterrupt indicates the new link state itself instead of leaving it to the DPC.',
    driver: galleryDriver(
      'bad-status-in-isr',
      { isr: (a) => NdisMIndicateStatusEx(a.handle, linkState(a, false)) },
      'buggy: NdisMIndicateStatusEx at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'Irql_Synch_Function',
    mistake:
      'MiniportInterrupt takes the adapter spin lock to update counters the DPC shares (it needs NdisMSynchronizeWithInterruptEx).',
    driver: galleryDriver(
      'bad-spinlock-in-isr',
      {
        initialize: allocateAdapterLock,
        isr: (a) => {
          NdisAcquireSpinLock(adapterLock(a));
          NdisReleaseSpinLock(adapterLock(a));
        },
      },
      'buggy: NdisAcquireSpinLock at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'Irql_Timer_Function',
    mistake: 'MiniportInterrupt arms a link-debounce timer itself, at DIRQL.',
    driver: galleryDriver(
      'bad-timer-in-isr',
      {
        initialize: (a) => {
          a.state.debounce = rawTimer(a, () => {});
          return NDIS_STATUS_SUCCESS;
        },
        isr: (a) => {
          NdisSetTimerObject(a.state.debounce as NDIS_HANDLE, ms(100), 0, null);
        },
      },
      'buggy: NdisSetTimerObject at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'NdisSim_Irql',
    mistake: 'MiniportInterrupt sees a fatal error bit and calls NdisMResetMiniport straight from the ISR.',
    driver: galleryDriver(
      'bad-reset-from-isr',
      { isr: (a) => NdisMResetMiniport(a.handle) },
      'buggy: NdisMResetMiniport at DIRQL',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'PeriodicTimer',
    mistake: 'On a link change a timer callback cancels the periodic statistics timer, at DISPATCH_LEVEL.',
    driver: galleryDriver(
      'bad-periodic-cancel',
      {
        initialize: (a) => {
          const stats = rawTimer(a, () => {});
          NdisSetTimerObject(stats, ms(100), 100, null);
          after(a, 500, () => NdisCancelTimerObject(stats));
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: cancels a periodic timer at DISPATCH_LEVEL',
    ),
  },
  {
    rule: 'NdisSim_RWLockMisuse',
    mistake:
      'A timer callback looks up the multicast table under the read lock and, finding an entry stale, calls the helper that rewrites it under the write lock: NDIS_RW_LOCK_EX does not promote.',
    driver: galleryDriver(
      'bad-rwlock-promotion',
      {
        initialize: (a) => {
          const lock = NdisAllocateRWLock(a.handle);
          if (lock === null) return NDIS_STATUS_FAILURE;
          a.state.rw = lock;
          const rewrite = () => {
            const w = new LOCK_STATE_EX();
            NdisAcquireRWLockWrite(lock, w, NDIS_RWL_AT_DISPATCH_LEVEL);
            a.state.table = [];
            NdisReleaseRWLock(lock, w);
          };
          after(a, 500, () => {
            const r = new LOCK_STATE_EX();
            NdisAcquireRWLockRead(lock, r, NDIS_RWL_AT_DISPATCH_LEVEL);
            rewrite();
            NdisReleaseRWLock(lock, r);
          });
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => NdisFreeRWLock(a.state.rw as NDIS_RW_LOCK_EX),
      },
      'buggy: asks for write access while it holds the read lock',
    ),
  },
  {
    rule: 'SpinLock',
    followOn: ['SpinLockRelease'],
    mistake:
      'A timer callback holds the adapter lock and calls a counter helper that takes the same lock again.',
    driver: galleryDriver(
      'bad-recursive-lock',
      {
        initialize: (a) => {
          const lock = spinLock();
          const bump = () => {
            NdisAcquireSpinLock(lock);
            a.state.count = Number(a.state.count ?? 0) + 1;
            NdisReleaseSpinLock(lock);
          };
          after(a, 500, () => {
            NdisAcquireSpinLock(lock);
            bump();
            NdisReleaseSpinLock(lock);
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: acquires a spin lock it already holds',
    ),
  },
  {
    rule: 'SpinLockBalanced',
    mistake: 'A timer callback returns early when its queue is empty, still holding the queue lock.',
    driver: galleryDriver(
      'bad-early-return-locked',
      {
        initialize: (a) => {
          const lock = spinLock();
          const queue: number[] = [];
          after(a, 500, () => {
            NdisAcquireSpinLock(lock);
            if (queue.length === 0) return;
            queue.shift();
            NdisReleaseSpinLock(lock);
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: returns with a spin lock held',
    ),
  },
  {
    rule: 'SpinLockDpr',
    followOn: ['SpinLockDprRelease'],
    mistake: 'MiniportInterruptDPC takes the receive lock, then calls a refill helper that takes it again.',
    driver: galleryDriver(
      'bad-dpr-recursive-lock',
      {
        initialize: allocateAdapterLock,
        dpc: (a) => {
          const lock = adapterLock(a);
          NdisDprAcquireSpinLock(lock);
          NdisDprAcquireSpinLock(lock); // refill helper
          NdisDprReleaseSpinLock(lock);
          NdisDprReleaseSpinLock(lock);
        },
      },
      'buggy: NdisDprAcquireSpinLock on a lock it holds',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'SpinLockDprRelease',
    mistake: 'MiniportInterruptDPC releases the receive lock on its error path and again at the common exit.',
    driver: galleryDriver(
      'bad-dpr-double-release',
      {
        initialize: allocateAdapterLock,
        dpc: (a) => {
          const lock = adapterLock(a);
          NdisDprAcquireSpinLock(lock);
          NdisDprReleaseSpinLock(lock); // error path
          NdisDprReleaseSpinLock(lock); // common exit
        },
      },
      'buggy: NdisDprReleaseSpinLock on a lock it does not hold',
    ),
    scenario: linkDropAt1s,
  },
  {
    rule: 'SpinLockRelease',
    mistake: 'A timer callback releases the adapter lock twice on its error path.',
    driver: galleryDriver(
      'bad-double-release',
      {
        initialize: (a) => {
          const lock = spinLock();
          after(a, 500, () => {
            NdisAcquireSpinLock(lock);
            NdisReleaseSpinLock(lock);
            NdisReleaseSpinLock(lock);
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisReleaseSpinLock on a lock it does not hold',
    ),
  },
  {
    rule: 'NdisSim_SpinLockPairMismatch',
    mistake:
      'A timer callback takes the adapter lock with NdisDprAcquireSpinLock (it runs at DISPATCH) but releases it with NdisReleaseSpinLock.',
    driver: galleryDriver(
      'bad-lock-pair',
      {
        initialize: (a) => {
          const lock = spinLock();
          after(a, 500, () => {
            NdisDprAcquireSpinLock(lock);
            a.state.count = Number(a.state.count ?? 0) + 1;
            NdisReleaseSpinLock(lock);
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: releases a Dpr-acquired lock with NdisReleaseSpinLock',
    ),
  },
  {
    rule: 'NdisAllocateMemoryWithTagPriority',
    mistake: 'MiniportInitializeEx allocates its statistics block with a pool tag of 0.',
    driver: galleryDriver(
      'bad-untagged-memory',
      {
        initialize: (a) => {
          a.state.stats = NdisAllocateMemoryWithTagPriority(a.handle, 256, 0, 16 /* NormalPoolPriority */);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: allocates memory without a pool tag',
    ),
  },
  {
    rule: 'NdisSim_PoolNotFreedAtUnload',
    mistake:
      'MiniportInitializeEx allocates the receive descriptor ring; MiniportHaltEx frees the statistics block but forgets the ring.',
    driver: galleryDriver(
      'bad-ring-never-freed',
      {
        initialize: (a) => {
          a.state.ring = NdisAllocateMemoryWithTagPriority(a.handle, 4096, galleryTag, 16);
          a.state.stats = NdisAllocateMemoryWithTagPriority(a.handle, 256, galleryTag, 16);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          NdisFreeMemoryWithTagPriority(a.handle, a.state.stats as Uint8Array, galleryTag);
        },
      },
      'buggy: unloads with pool still allocated',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_PoolTagMismatch',
    mistake:
      "MiniportHaltEx frees the statistics block with the receive ring's pool tag, copied from the line above.",
    driver: galleryDriver(
      'bad-pool-tag-on-free',
      {
        initialize: (a) => {
          a.state.stats = NdisAllocateMemoryWithTagPriority(a.handle, 256, galleryTag, 16);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          // 'Ring' where the allocation said galleryTag.
          NdisFreeMemoryWithTagPriority(a.handle, a.state.stats as Uint8Array, 0x52696e67);
        },
      },
      'buggy: frees pool with the wrong tag',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_ListEntryCorruption',
    mistake:
      'MiniportHaltEx puts every receive buffer back on the free list before it drains the list, those still on it too: each is linked in twice.',
    driver: galleryDriver(
      'bad-list-double-insert',
      {
        initialize: (a) => {
          const lock = spinLock();
          const free = new LIST_ENTRY();
          NdisInitializeListHead(free);
          const buffers = [new RxBuffer(), new RxBuffer(), new RxBuffer(), new RxBuffer()];
          for (const r of buffers) NdisInterlockedInsertTailList(free, r, lock);
          // One buffer goes to the NIC; the other three stay on the free list.
          NdisInterlockedRemoveHeadList(free, lock);
          a.state.rx = { lock, free, buffers };
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          const rx = a.state.rx as { lock: NDIS_SPIN_LOCK; free: LIST_ENTRY; buffers: RxBuffer[] };
          // Meant for the buffer the NIC holds; the loop takes all four.
          for (const r of rx.buffers) NdisInterlockedInsertTailList(rx.free, r, rx.lock);
          while (NdisInterlockedRemoveHeadList(rx.free, rx.lock) !== null) {}
        },
      },
      'buggy: inserts list entries that are already on the list',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisMMapIoSpace',
    mistake: 'MiniportRestart maps a second register window lazily, outside MiniportInitializeEx.',
    driver: galleryDriver(
      'bad-map-in-restart',
      {
        initialize: (a, params) => {
          a.state.params = params;
          return NDIS_STATUS_SUCCESS;
        },
        restart: (a) => {
          const params = a.state.params as NDIS_MINIPORT_INIT_PARAMETERS;
          const mem = params.AllocatedResources!.PartialDescriptors[0]!;
          if (mem.Type === CmResourceTypeMemory) NdisMMapIoSpace(a.handle, mem.u.Memory.Start, 16);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisMMapIoSpace in MiniportRestart',
    ),
  },
  {
    rule: 'NdisSim_UnmapIoSpaceLength',
    mistake:
      'MiniportInitializeEx maps the 16 bytes of the receive registers on their own; MiniportHaltEx unmaps them with the length of the whole register window, 256.',
    driver: galleryDriver(
      'bad-unmap-length',
      {
        initialize: (a, params) => {
          const mem = params.AllocatedResources!.PartialDescriptors.find(
            (d) => d.Type === CmResourceTypeMemory,
          );
          if (mem?.Type !== CmResourceTypeMemory) return NDIS_STATUS_SUCCESS;
          const rx = NdisMMapIoSpace(a.handle, mem.u.Memory.Start + 0x20, 16);
          a.state.rx = rx.VirtualAddress;
          return rx.Status;
        },
        halt: (a) => {
          const rx = a.state.rx as NDIS_IO_SPACE | null;
          if (rx !== null) NdisMUnmapIoSpace(a.handle, rx, 256);
        },
      },
      'buggy: unmaps a range with another length than it mapped',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_UnmapIoSpaceOutsideInitHalt',
    mistake:
      'MiniportDevicePnPEventNotify unmaps the registers when the NIC is surprise-removed, since the device is gone; only MiniportInitializeEx and MiniportHaltEx may (MiniportHaltEx, which NDIS calls next, is where this belongs).',
    driver: galleryDriver(
      'bad-unmap-on-surprise',
      {
        devicePnPEventNotify: (a, ev) => {
          if (ev.DevicePnPEvent !== NdisDevicePnPEventSurpriseRemoved || a.space === null) return;
          NdisMUnmapIoSpace(a.handle, a.space, a.spaceBytes);
          a.space = null;
        },
      },
      'buggy: unmaps its registers in MiniportDevicePnPEventNotify',
    ),
    scenario: { actions: [{ at: '100ms', do: 'surprise-remove', device: 'nic0' }] },
  },
  {
    rule: 'CancelTimerObject',
    followOn: ['NdisSim_CallbackAfterHalt'],
    mistake: 'MiniportHaltEx frees its buffers but never cancels the periodic watchdog timer.',
    driver: galleryDriver(
      'bad-halt-timer-set',
      {
        initialize: (a) => {
          NdisSetTimerObject(
            rawTimer(a, () => {}),
            ms(250),
            250,
            null,
          );
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: halt returns with a timer still set',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_TimerNotFreed',
    mistake:
      'MiniportHaltEx cancels the periodic statistics timer, as it should, but never frees the timer object.',
    driver: galleryDriver(
      'bad-halt-timer-not-freed',
      {
        initialize: (a) => {
          const t = rawTimer(a, () => {});
          a.state.stats = t;
          NdisSetTimerObject(t, ms(250), 250, null);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          NdisCancelTimerObject(a.state.stats as NDIS_HANDLE);
        },
      },
      'buggy: halt leaves a timer object allocated',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_ResourceNotFreed',
    mistake:
      'MiniportInitializeEx allocates a second receive pool for jumbo frames; MiniportHaltEx frees only the first.',
    driver: galleryDriver(
      'bad-halt-pool-leak',
      {
        initialize: (a) => {
          // Allocated directly, not through the kit, so the base's cleanup does not know it.
          a.state.jumbo = NdisAllocateNetBufferListPool(a.handle, {
            Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
            ProtocolId: 0,
            fAllocateNetBuffer: true,
            ContextSize: 0,
            PoolTag: galleryTag,
            DataSize: 9014,
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: halt leaves an NBL pool allocated',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisOpenConfigurationEx',
    mistake: 'MiniportInitializeEx opens the configuration, reads it and never closes it.',
    driver: galleryDriver(
      'bad-config-left-open',
      {
        initialize: (a) => {
          NdisOpenConfigurationEx({
            Header: {
              Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
              Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1,
            },
            NdisHandle: a.handle,
            Flags: 0,
          });
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: never calls NdisCloseConfiguration',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisStallExecution_Delay',
    mistake: 'MiniportRestart busy-waits a whole millisecond for the PHY with NdisStallExecution.',
    driver: galleryDriver(
      'bad-long-stall',
      {
        restart: () => {
          NdisStallExecution(1000);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisStallExecution longer than 50 µs',
    ),
  },
  {
    rule: 'NdisSim_SleepTooLong',
    mistake: 'MiniportInitializeEx gives the PHY 45 s to finish autonegotiation in a single NdisMSleep call.',
    driver: galleryDriver(
      'bad-long-sleep',
      {
        initialize: () => {
          NdisMSleep(45_000_000);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: NdisMSleep longer than 30 s',
    ),
  },
  {
    rule: 'NdisSim_DpcWatchdog',
    mistake:
      'On a link change MiniportInterruptDPC polls the PHY in 10 µs steps until the link is back; it never comes back.',
    driver: galleryDriver(
      'bad-dpc-polls-phy',
      {
        dpc: (a) => {
          if (a.space === null) return;
          const status = a.space.at(SimNicReg.STATUS);
          // Each stall is short (R8.12 holds); the loop is what never ends.
          while ((NdisReadRegisterUlong(status) & SimNicStatus.LINK_UP) === 0) NdisStallExecution(10);
        },
      },
      'buggy: spins in its DPC until the watchdog fires',
    ),
    scenario: { ...linkDropAt1s, until: '30s' },
  },
  {
    rule: 'NdisSim_InitFailedTimerSet',
    followOn: ['NdisSim_CallbackAfterHalt'],
    mistake:
      'MiniportInitializeEx arms its watchdog timer, then fails on a bad registry value without cancelling it.',
    driver: galleryDriver(
      'bad-init-fail-timer-set',
      {
        initialize: (a) => {
          NdisSetTimerObject(
            rawTimer(a, () => {}),
            ms(2000),
            0,
            null,
          );
          return NDIS_STATUS_FAILURE;
        },
      },
      'buggy: failed initialization leaves a timer set',
    ),
  },
  {
    rule: 'NdisSim_WorkItemRequeued',
    mistake:
      'A timer callback queues the link work item once per event, without checking it is still queued.',
    driver: galleryDriver(
      'bad-work-item-requeue',
      {
        initialize: (a) => {
          const w = workItem(a);
          a.state.work = w;
          after(a, 500, () => {
            for (const event of [1, 2]) NdisQueueIoWorkItem(w, () => {}, event);
          });
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => NdisFreeIoWorkItem(a.state.work as NDIS_HANDLE),
      },
      'buggy: queues a work item that is still queued',
    ),
  },
  {
    rule: 'NdisSim_WorkItemFreedWhileQueued',
    mistake:
      'MiniportHaltEx queues one last statistics flush on its work item and then frees the item at once, before the flush has run.',
    driver: galleryDriver(
      'bad-work-item-free-queued',
      {
        initialize: (a) => {
          a.state.work = workItem(a);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          const w = a.state.work as NDIS_HANDLE;
          NdisQueueIoWorkItem(w, () => {}, a);
          NdisFreeIoWorkItem(w);
        },
      },
      'buggy: frees a work item that is still queued',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_ObjectFreedInUse',
    mistake:
      'MiniportHaltEx frees the watchdog timer and then cancels it: the cleanup runs in the wrong order.',
    driver: galleryDriver(
      'bad-timer-use-after-free',
      {
        initialize: (a) => {
          a.state.watchdog = rawTimer(a, () => {});
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => {
          const t = a.state.watchdog as NDIS_HANDLE;
          NdisFreeTimerObject(t);
          NdisCancelTimerObject(t);
        },
      },
      'buggy: cancels a timer it already freed',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_TimerFreedWhileSet',
    mistake: 'MiniportHaltEx frees the periodic watchdog timer without cancelling it first.',
    driver: galleryDriver(
      'bad-free-set-timer',
      {
        initialize: (a) => {
          a.state.watchdog = rawTimer(a, () => {});
          NdisSetTimerObject(a.state.watchdog as NDIS_HANDLE, ms(250), 250, null);
          return NDIS_STATUS_SUCCESS;
        },
        halt: (a) => NdisFreeTimerObject(a.state.watchdog as NDIS_HANDLE),
      },
      'buggy: frees a timer that is still set',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_IrqlOnReturn',
    mistake:
      'MiniportRestart raises to DISPATCH_LEVEL to update shared state and returns without lowering it.',
    driver: galleryDriver(
      'bad-restart-leaves-dispatch',
      {
        restart: (a) => {
          NDIS_RAISE_IRQL_TO_DISPATCH();
          a.state.running = true;
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: returns from MiniportRestart at DISPATCH_LEVEL',
    ),
  },
  {
    // A timer of the adapter that runs after halt was left unfreed there, which halt
    // reports first (NdisSim_TimerNotFreed, CancelTimerObject). Unload reports a
    // driver-handle timer left unfreed only when it is not set: a set one is checked
    // by what it does after MiniportDriverUnload.
    rule: 'NdisSim_CallbackAfterHalt',
    noAdapter: true,
    mistake:
      'DriverEntry arms a periodic housekeeping timer with the driver handle; MiniportDriverUnload deregisters the driver but never cancels the timer, which goes on running driver code.',
    driver: galleryDriver(
      'bad-driver-timer-outlives-unload',
      {
        driverEntry: (driverHandle) => {
          const t = NdisAllocateTimerObject(driverHandle, {
            Header: {
              Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
              Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
            },
            AllocationTag: galleryTag,
            TimerFunction: () => {},
            FunctionContext: null,
          });
          if (t.TimerObject !== null) NdisSetTimerObject(t.TimerObject, ms(250), 250, null);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: a driver-handle timer runs after MiniportDriverUnload',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_WorkItemNotFreed',
    noAdapter: true,
    mistake:
      'DriverEntry allocates a work item with the driver handle for deferred registry reads; MiniportDriverUnload deregisters the driver and forgets the work item.',
    driver: galleryDriver(
      'bad-driver-work-item-leak',
      {
        driverEntry: (driverHandle) => {
          NdisAllocateIoWorkItem(driverHandle);
          return NDIS_STATUS_SUCCESS;
        },
      },
      'buggy: never frees a driver-handle work item',
    ),
    scenario: removeAt1s,
  },
];
