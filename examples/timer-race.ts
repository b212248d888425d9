// A driver whose bug shows only under some schedules, for `ndis-sim explore`:
//   ndis-sim run examples/timer-race.yaml
//
// timer-race polls its link every millisecond with a one-shot NDIS timer that its
// callback sets again each time (a self-rearming timer). The poll also finishes a
// pending MiniportPause (the receive ring has drained by then). At the 40th poll the
// link has still not come up: the driver gives up with NdisMRemoveMiniport, and NDIS
// pauses and halts the adapter. MiniportHaltEx gives the receive DMA 750 µs to stop,
// then cancels and frees the poll timer.
//
// THE BUG (R8.6): MiniportHaltEx calls NdisCancelTimerObject and then, at once,
// NdisFreeTimerObject, ignoring the BOOLEAN the cancel returns. FALSE means the timer
// was no longer in the timer queue: it has expired, and its callback is queued as a DPC
// (or runs on another CPU). For a one-shot timer NdisCancelTimerObject does not wait
// for that callback (it does so only for a periodic timer, cancelled at PASSIVE_LEVEL),
// so the callback would run on a freed timer and a freed adapter context. ndis-sim
// reports it as NdisSim_TimerFreedWhileSet. Most schedules never show it: the halt must
// come in the microseconds between an expiry and the DPC that runs its callback.
//
// THE FIX (timer-race-fixed): what the NdisCancelTimerObject page asks for a one-shot
// timer, a synchronization mechanism of the driver's own. The halt sets `halting` and
// cancels the timer under the adapter's spin lock; the callback, under the same lock,
// sets the timer again only while `halting` is clear, and otherwise sets an NDIS_EVENT
// as it finishes. If the cancel returned FALSE the callback is still to come, and the
// halt waits for that event (NdisWaitEvent, PASSIVE_LEVEL) before it frees the timer.
// (A periodic timer would also do: NdisSetTimerObject with a MillisecondsPeriod, whose
// cancel at PASSIVE_LEVEL waits for a queued callback, KeFlushQueuedDpcs.)
import * as N from 'ndis-sim';

interface Adapter {
  handle: N.NDIS_HANDLE;
  poll: N.NDIS_HANDLE;
  polls: number;
  pausing: boolean;
  /** NdisDevicePnPEventSurpriseRemoved came: OIDs are refused (R5.7). */
  gone: boolean;
  /** The fixed variant's: the halt's flag, its lock, and the callback's "I am done". */
  lock: N.NDIS_SPIN_LOCK;
  halting: boolean;
  pollDone: N.NDIS_EVENT;
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
}

/** A poll every 1 ms (DueTime in 100 ns units; negative: relative to now). */
const PollDueTime = -10_000;
/** The poll that gives up on the link. */
const PollLimit = 40;
/** How long MiniportHaltEx lets the receive DMA run down (µs). */
const DmaStopUs = 750;

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS;
const none = (): void => {};

/** The link poll (a NetTimerCallback, DISPATCH_LEVEL). */
function poll(a: Adapter, fixed: boolean): void {
  if (++a.polls === PollLimit) N.NdisMRemoveMiniport(a.handle); // the link never came up
  if (a.pausing) {
    a.pausing = false;
    N.NdisMPauseComplete(a.handle);
  }
  if (!fixed) {
    N.NdisSetTimerObject(a.poll, PollDueTime, 0, a);
    return;
  }
  N.NdisDprAcquireSpinLock(a.lock);
  const halting = a.halting;
  if (!halting) N.NdisSetTimerObject(a.poll, PollDueTime, 0, a);
  N.NdisDprReleaseSpinLock(a.lock);
  if (halting) N.NdisSetEvent(a.pollDone); // the last thing the callback does
}

function initialize(handle: N.NDIS_HANDLE, fixed: boolean): N.NDIS_STATUS {
  const a: Adapter = {
    handle,
    poll: handle,
    polls: 0,
    pausing: false,
    gone: false,
    lock: new N.NDIS_SPIN_LOCK(),
    halting: false,
    pollDone: new N.NDIS_EVENT(),
    packetFilter: 0,
  };
  const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
  N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: a });
  // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link).
  const s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x71, 0x01]));
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  const t = N.NdisAllocateTimerObject(handle, {
    Header: { Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: 1 },
    AllocationTag: 0x6c6c6f70, // 'poll'
    TimerFunction: (_s, adapter: Adapter) => poll(adapter, fixed),
    FunctionContext: a,
  });
  if (t.Status !== N.NDIS_STATUS_SUCCESS) return t.Status;
  a.poll = t.TimerObject!;
  if (fixed) {
    N.NdisAllocateSpinLock(a.lock);
    N.NdisInitializeEvent(a.pollDone);
  }
  N.NdisSetTimerObject(a.poll, PollDueTime, 0, a);
  return N.NDIS_STATUS_SUCCESS;
}

/** MiniportHaltEx, PASSIVE_LEVEL. */
function halt(a: Adapter, fixed: boolean): void {
  N.NdisMSleep(DmaStopUs); // the poll goes on meanwhile
  if (!fixed) {
    N.NdisCancelTimerObject(a.poll); // BUG: FALSE means its callback is still to run
    N.NdisFreeTimerObject(a.poll);
    return;
  }
  N.NdisAcquireSpinLock(a.lock);
  a.halting = true;
  const cancelled = N.NdisCancelTimerObject(a.poll); // a one-shot timer: fine at DISPATCH
  N.NdisReleaseSpinLock(a.lock);
  if (!cancelled) N.NdisWaitEvent(a.pollDone, 0); // it expired: wait for its callback
  N.NdisFreeTimerObject(a.poll);
  N.NdisFreeSpinLock(a.lock);
}

function driverEntry(fixed: boolean) {
  return (driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS => {
    const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      InitializeHandlerEx: (handle) => initialize(handle, fixed),
      HaltHandlerEx: (a) => halt(a, fixed),
      // The next poll completes the pause (above).
      PauseHandler(a) {
        a.pausing = true;
        return N.NDIS_STATUS_PENDING;
      },
      RestartHandler: ok,
      OidRequestHandler: (a, req) => (a.gone ? N.NDIS_STATUS_NOT_ACCEPTED : N.packetFilterOidRequest(a, req)),
      DevicePnPEventNotifyHandler(a, e) {
        if (e.DevicePnPEvent === N.NdisDevicePnPEventSurpriseRemoved) a.gone = true;
      },
      ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
      SendNetBufferListsHandler: none,
      ReturnNetBufferListsHandler: none,
      CancelSendHandler: none,
      CancelOidRequestHandler: none,
      ShutdownHandlerEx: none,
      UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
    });
    return r.Status;
  };
}

export const timerRace: N.DriverModule = {
  name: 'timer-race',
  description:
    'a self-rearming poll timer; MiniportHaltEx frees it without waiting for an expired one (R8.6)',
  load: () => ({ DriverEntry: driverEntry(false) }),
};

export const timerRaceFixed: N.DriverModule = {
  name: 'timer-race-fixed',
  description:
    'timer-race fixed: MiniportHaltEx waits for an expired poll callback before it frees the timer',
  load: () => ({ DriverEntry: driverEntry(true) }),
};
