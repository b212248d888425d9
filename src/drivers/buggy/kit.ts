// Small pieces the gallery drivers share, written against the public API the way a
// driver's own helper file would be: a raw timer, a work item, a link-state
// indication, a receive pool, the adapter's spin lock, a PHY poller that outlives halt,
// and the hooks of a power-managed miniport (with selective suspend or without).

import {
  type NDIS_HANDLE,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
  NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_PM_CAPABILITIES_REVISION_2,
  NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED,
  NDIS_SPIN_LOCK,
  type NDIS_STATUS,
  type NDIS_STATUS_INDICATION,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateIoWorkItem,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisFreeIoWorkItem,
  NdisMIdleNotificationComplete,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisRequestSetInformation,
  NdisSetOptionalHandlers,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  OID_PNP_SET_POWER,
} from '../../index.ts';
import { linkStateIndication } from '../common.ts';
import { after, type Hooks, type TestAdapter } from './base.ts';

/** 'bugs' in memory order: the gallery's pool tag. */
export const galleryTag = 0x73677562;

/** A timer the driver allocates and manages itself (the base does not cancel it in halt). */
export function rawTimer(a: TestAdapter, fn: () => void): NDIS_HANDLE {
  const t = NdisAllocateTimerObject(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
    AllocationTag: galleryTag,
    TimerFunction: fn,
    FunctionContext: null,
  });
  if (t.TimerObject === null) throw new Error('NdisAllocateTimerObject failed');
  return t.TimerObject;
}

/** Relative due time in 100 ns units for NdisSetTimerObject. */
export function ms(n: number): number {
  return -n * 10_000;
}

/** The NDIS_STATUS_LINK_STATE indication a driver makes when its link changes. */
export function linkState(
  a: TestAdapter,
  up: boolean,
  StatusCode = NDIS_STATUS_LINK_STATE,
): NDIS_STATUS_INDICATION {
  return linkStateIndication(a.handle, up, 1_000_000_000, StatusCode);
}

/** A receive pool with NET_BUFFERs (NdisAllocateNetBufferListPool). */
export function rxPool(a: TestAdapter): NDIS_HANDLE {
  const pool = NdisAllocateNetBufferListPool(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: true,
    ContextSize: 0,
    PoolTag: galleryTag,
    DataSize: 0, // each NBL comes with its own MDL chain
  });
  if (pool === null) throw new Error('NdisAllocateNetBufferListPool failed');
  a.pools.push(pool);
  return pool;
}

/** One receive NBL from `pool`, owned by the adapter. */
export function rxNbl(a: TestAdapter, pool: NDIS_HANDLE): NET_BUFFER_LIST {
  const nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, new Uint8Array(1514), 0, 60);
  if (nbl === null) throw new Error('NdisAllocateNetBufferAndNetBufferList failed');
  nbl.SourceHandle = a.handle;
  a.nbls.push(nbl);
  return nbl;
}

/** An I/O work item allocated with the adapter handle. */
export function workItem(a: TestAdapter): NDIS_HANDLE {
  const w = NdisAllocateIoWorkItem(a.handle);
  if (w === null) throw new Error('NdisAllocateIoWorkItem failed');
  return w;
}

/** A spin lock, allocated. */
export function spinLock(): NDIS_SPIN_LOCK {
  const l = new NDIS_SPIN_LOCK();
  NdisAllocateSpinLock(l);
  return l;
}

/** The list the driver keeps under `key` in its adapter state (a ring, a queue). */
export function listOf<T>(a: TestAdapter, key: string): T[] {
  let l = a.state[key] as T[] | undefined;
  if (l === undefined) {
    l = [];
    a.state[key] = l;
  }
  return l;
}

/** A MiniportInitializeEx hook that allocates the adapter's spin lock (see `adapterLock`). */
export function allocateAdapterLock(a: TestAdapter): NDIS_STATUS {
  a.state.lock = spinLock();
  return NDIS_STATUS_SUCCESS;
}

export function adapterLock(a: TestAdapter): NDIS_SPIN_LOCK {
  return a.state.lock as NDIS_SPIN_LOCK;
}

/**
 * A PHY-poll work item that MiniportHaltEx does not wait for: the driver's own, allocated
 * with the driver handle (one poller for the driver). Queued 200 ms after initialization,
 * it sleeps 100 ms at a time until halt sets the stop flag, and runs `onWake` after every
 * sleep: the last time after MiniportHaltEx has returned, with the adapter's dead handle.
 * Halt sets the flag, runs `halt` and returns at once; MiniportDriverUnload, which NDIS
 * holds until the routine has returned, frees the work item.
 */
export function pollerOutlivingHalt(o: {
  setup?: (a: TestAdapter) => void;
  onWake: (a: TestAdapter, halted: boolean) => void;
  halt?: (a: TestAdapter) => void;
}): Pick<Hooks, 'driverEntry' | 'initialize' | 'halt' | 'unload'> {
  // Set by each load's DriverEntry (a world loads the driver once, runs it, unloads it).
  let driver: NDIS_HANDLE | null = null;
  let item: NDIS_HANDLE | null = null;
  return {
    driverEntry: (h) => {
      driver = h;
      item = null;
      return NDIS_STATUS_SUCCESS;
    },
    initialize: (a) => {
      o.setup?.(a);
      item ??= NdisAllocateIoWorkItem(driver!);
      if (item === null) throw new Error('NdisAllocateIoWorkItem failed');
      const w = item;
      const poll = (): void => {
        while (a.state.stop !== true) {
          NdisMSleep(100_000);
          o.onWake(a, a.state.stop === true);
        }
      };
      after(a, 200, () => NdisQueueIoWorkItem(w, poll, a));
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      a.state.stop = true; // but never waits for the work item to see it
      o.halt?.(a);
    },
    unload: () => {
      if (item !== null) NdisFreeIoWorkItem(item);
      item = null;
    },
  };
}

/** The device state of an OID_PNP_SET_POWER set request, or null for any other request. */
export function setPowerState(req: NDIS_OID_REQUEST): number | null {
  const d = req.DATA.SET_INFORMATION;
  if (req.RequestType !== NdisRequestSetInformation || d.Oid !== OID_PNP_SET_POWER) return null;
  return d.InformationBuffer as number;
}

/**
 * A power-management aware miniport (NO_HALT_ON_SUSPEND, `flags` added to its attribute
 * flags) whose every OID request succeeds, with `extra` over it.
 */
export function pmHooks(extra: Hooks = {}, flags = 0): Hooks {
  return {
    registrationAttributes: {
      AttributeFlags:
        NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND | flags,
    },
    oid: () => NDIS_STATUS_SUCCESS,
    ...extra,
  };
}

/**
 * A power-management aware miniport that reports selective suspend and registers
 * NDIS_MINIPORT_SS_CHARACTERISTICS with `idle` and `cancel` as its handlers.
 */
export function ssHooks(
  idle: (a: TestAdapter) => number,
  cancel: (a: TestAdapter) => void = (a) => NdisMIdleNotificationComplete(a.handle),
): Hooks {
  return pmHooks({
    generalAttributes: {
      PowerManagementCapabilitiesEx: {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
        Flags: NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED,
      },
    },
    characteristics: (c) => {
      c.SetOptionsHandler = (h) =>
        NdisSetOptionalHandlers(h, {
          Header: {
            Type: NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
            Revision: NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
          },
          IdleNotificationHandler: (a: TestAdapter) => idle(a),
          CancelIdleNotificationHandler: (a: TestAdapter) => cancel(a),
        });
    },
  });
}
