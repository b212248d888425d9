// A removal race for `ndis-sim explore`, shown by an injected surprise removal:
//   ndis-sim explore examples/removal-race.yaml
//
// removal-race drives a SimNic without interrupts. MiniportCheckForHangEx reads the
// firmware's HEARTBEAT register and calls the NIC hung when it has not moved since the
// last tick. MiniportResetEx writes CTRL.RESET, pends, and sets a one-shot timer that
// polls STATUS every 5 ms until the NIC reports READY; the poll then completes the
// reset with NdisMResetComplete. The NIC of the scenario hangs again a second or three
// after each reset, and a reset takes 300 ms: one reset every few seconds.
// MiniportHaltEx gives the NIC's DMA engines 10 ms to stop, then cancels and frees the
// poll timer.
//
// Surprise removal (MiniportDevicePnPEventNotify, NdisDevicePnPEventSurpriseRemoved)
// does what S-d of the rule book asks: the NIC is gone and will never finish the reset,
// and NDIS halts the adapter only once the reset is complete (R4.16), so the handler
// completes the pending reset itself, with NDIS_STATUS_FAILURE.
//
// THE BUG (R4.15): the handler leaves the poll timer set. NDIS tears the stack down in
// well under a millisecond, and during the halt's 10 ms wait the poll expires. It
// reads STATUS from a NIC that is gone: 0xFFFFFFFF, READY among the ones. It takes the
// reset for done and completes it a second time; NDIS has no reset pending by then,
// and ndis-sim reports NdisSim_ResetCompleteUnexpected (NDIS's bug check 0x7C/0x0F).
// Only the schedules whose surprise removal falls inside the 300 ms of a reset break
// the rule: the scenario injects it at a time each run draws, and most runs have it
// elsewhere, or not at all.
//
// THE FIX (removal-race-fixed): one owner for the pending reset. `resetting` is tested
// and cleared under the adapter's spin lock, and only the path that clears it calls
// NdisMResetComplete. The removal handler takes the reset only if NdisCancelTimerObject
// returns TRUE: the poll was still in the timer queue and now never runs. FALSE means
// the poll has expired (its callback is queued or running), so the handler leaves the
// completion to it. The poll, for its part, treats an all-ones STATUS (or the `gone`
// flag) as a NIC that is gone: it completes the reset with failure and stops polling.
// Both ways the timer is idle once the reset is complete, so MiniportHaltEx, which NDIS
// calls only after that, may free it.
import * as N from 'ndis-sim';

interface Adapter {
  handle: N.NDIS_HANDLE;
  space: N.NDIS_IO_SPACE;
  /** The Length the window was mapped with: NdisMUnmapIoSpace repeats it. */
  spaceBytes: number;
  ctrl: N.IoRegister;
  status: N.IoRegister;
  heartbeat: N.IoRegister;
  poll: N.NDIS_HANDLE;
  lock: N.NDIS_SPIN_LOCK;
  lastHeartbeat: number;
  /** A reset NDIS handed to MiniportResetEx is not completed yet. */
  resetting: boolean;
  /** NdisDevicePnPEventSurpriseRemoved came: OIDs are refused (R5.7), no hang is reported (R5.13). */
  gone: boolean;
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
}

/** The poll of STATUS during a reset: every 5 ms (100 ns units; negative: relative). */
const PollDueTime = -50_000;
/** How long MiniportHaltEx gives the NIC's DMA engines to stop (µs). */
const DmaStopUs = 10_000;
/** What a register of a NIC that has gone reads. */
const AllOnes = 0xffffffff;

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS;
const none = (): void => {};

/** The reset poll (a NetTimerCallback, DISPATCH_LEVEL). */
function poll(a: Adapter, fixed: boolean): void {
  if (!fixed) {
    if ((N.NdisReadRegisterUlong(a.status) & N.SimNicStatus.READY) === 0) {
      N.NdisSetTimerObject(a.poll, PollDueTime, 0, a); // still resetting
      return;
    }
    // BUG: after a surprise removal STATUS reads all ones, READY included, and the
    // removal handler has completed this reset already.
    a.resetting = false;
    N.NdisMResetComplete(a.handle, N.NDIS_STATUS_SUCCESS, false);
    return;
  }
  N.NdisDprAcquireSpinLock(a.lock);
  const st = N.NdisReadRegisterUlong(a.status);
  const gone = a.gone || st === AllOnes;
  const done = gone || (st & N.SimNicStatus.READY) !== 0;
  if (done)
    a.resetting = false; // this poll owns the completion
  else N.NdisSetTimerObject(a.poll, PollDueTime, 0, a);
  N.NdisDprReleaseSpinLock(a.lock);
  // R4.15: no spin lock held across NdisMResetComplete.
  if (done) N.NdisMResetComplete(a.handle, gone ? N.NDIS_STATUS_FAILURE : N.NDIS_STATUS_SUCCESS, false);
}

function initialize(
  handle: N.NDIS_HANDLE,
  params: N.NDIS_MINIPORT_INIT_PARAMETERS,
  fixed: boolean,
): N.NDIS_STATUS {
  const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === N.CmResourceTypeMemory);
  if (mem === undefined || mem.Type !== N.CmResourceTypeMemory) return N.NDIS_STATUS_RESOURCES;
  const a = {
    handle,
    poll: handle,
    lock: new N.NDIS_SPIN_LOCK(),
    lastHeartbeat: 0,
    resetting: false,
    gone: false,
    packetFilter: 0,
  } as Adapter;
  // R2.4: the registration attributes first, then the hardware.
  const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
  let s = N.NdisMSetMiniportAttributes(handle, {
    Header: reg,
    MiniportAdapterContext: a,
    AttributeFlags:
      N.NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | N.NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
    CheckForHangTimeInSeconds: 2,
    InterfaceType: N.NdisInterfacePci,
  });
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  const mapped = N.NdisMMapIoSpace(handle, mem.u.Memory.Start, mem.u.Memory.Length);
  if (mapped.Status !== N.NDIS_STATUS_SUCCESS) return mapped.Status;
  a.space = mapped.VirtualAddress!;
  a.spaceBytes = mem.u.Memory.Length;
  a.ctrl = a.space.at(N.SimNicReg.CTRL);
  a.status = a.space.at(N.SimNicReg.STATUS);
  a.heartbeat = a.space.at(N.SimNicReg.HEARTBEAT);
  // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link).
  s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x2e, 0x01]));
  const t =
    s === N.NDIS_STATUS_SUCCESS
      ? N.NdisAllocateTimerObject(handle, {
          Header: { Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: 1 },
          AllocationTag: 0x74737372, // 'rsst'
          TimerFunction: (_s, adapter: Adapter) => poll(adapter, fixed),
          FunctionContext: a,
        })
      : { Status: s, TimerObject: null };
  if (t.Status !== N.NDIS_STATUS_SUCCESS) {
    N.NdisMUnmapIoSpace(handle, a.space, mem.u.Memory.Length);
    return t.Status;
  }
  a.poll = t.TimerObject!;
  N.NdisAllocateSpinLock(a.lock);
  a.lastHeartbeat = N.NdisReadRegisterUlong(a.heartbeat);
  return N.NDIS_STATUS_SUCCESS;
}

/** MiniportCheckForHangEx, PASSIVE_LEVEL: the firmware's heartbeat stopped. */
function checkForHang(a: Adapter): boolean {
  if (a.gone) return false; // R5.13
  const hb = N.NdisReadRegisterUlong(a.heartbeat);
  const hung = hb === a.lastHeartbeat;
  a.lastHeartbeat = hb;
  return hung;
}

/** MiniportResetEx: start the NIC's reset and poll for its end. */
function reset(a: Adapter): { Status: N.NDIS_STATUS; AddressingReset: boolean } {
  N.NdisAcquireSpinLock(a.lock);
  a.resetting = true;
  N.NdisWriteRegisterUlong(a.ctrl, N.SimNicCtrl.RESET);
  N.NdisSetTimerObject(a.poll, PollDueTime, 0, a);
  N.NdisReleaseSpinLock(a.lock);
  return { Status: N.NDIS_STATUS_PENDING, AddressingReset: false };
}

/** MiniportDevicePnPEventNotify, PASSIVE_LEVEL. */
function pnpEvent(a: Adapter, e: N.NET_DEVICE_PNP_EVENT, fixed: boolean): void {
  if (e.DevicePnPEvent !== N.NdisDevicePnPEventSurpriseRemoved) return;
  N.NdisAcquireSpinLock(a.lock);
  a.gone = true;
  // S-d: the NIC will never finish a reset under way; complete it now, with failure.
  // BUG (removal-race): the poll timer stays set, and it completes the reset too.
  // The fix takes the reset only from a poll that is still in the timer queue.
  const take = a.resetting && (!fixed || N.NdisCancelTimerObject(a.poll));
  if (take) a.resetting = false;
  N.NdisReleaseSpinLock(a.lock);
  if (take) N.NdisMResetComplete(a.handle, N.NDIS_STATUS_FAILURE, false);
}

/** MiniportHaltEx, PASSIVE_LEVEL; NDIS calls it once no reset is pending (R4.16). */
function halt(a: Adapter): void {
  if (!a.gone) N.NdisWriteRegisterUlong(a.ctrl, 0);
  N.NdisMSleep(DmaStopUs); // the poll goes on meanwhile
  N.NdisCancelTimerObject(a.poll);
  N.NdisFreeTimerObject(a.poll);
  N.NdisFreeSpinLock(a.lock);
  N.NdisMUnmapIoSpace(a.handle, a.space, a.spaceBytes);
}

function driverEntry(fixed: boolean) {
  return (driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS => {
    const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      InitializeHandlerEx: (handle, _c, params) => initialize(handle, params, fixed),
      HaltHandlerEx: halt,
      PauseHandler: ok,
      RestartHandler: ok,
      OidRequestHandler: (a, req) => (a.gone ? N.NDIS_STATUS_NOT_ACCEPTED : N.packetFilterOidRequest(a, req)),
      DevicePnPEventNotifyHandler: (a, e) => pnpEvent(a, e, fixed),
      CheckForHangHandlerEx: checkForHang,
      ResetHandlerEx: reset,
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

export const removalRace: N.DriverModule = {
  name: 'removal-race',
  description:
    'completes a pending reset on surprise removal but leaves its reset poll set, which completes it again (R4.15)',
  load: () => ({ DriverEntry: driverEntry(false) }),
};

export const removalRaceFixed: N.DriverModule = {
  name: 'removal-race-fixed',
  description:
    'removal-race fixed: the removal handler takes the pending reset only from a poll it cancelled',
  load: () => ({ DriverEntry: driverEntry(true) }),
};
