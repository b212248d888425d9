// flaky-nic: a SimNic miniport for hardware that hangs. CheckForHang watches the
// firmware heartbeat; MiniportResetEx resets the NIC and completes from the
// reset-done interrupt (or a watchdog timer if the NIC never answers). After
// ResetLimit resets within ResetWindowSeconds the driver gives up: it writes an
// error log entry and calls NdisMRemoveMiniport once (R5.21, "MpRemoveAdapter").
// Registry parameters (scenario `registry:`): ResetLimit (3), ResetWindowSeconds
// (30), ResetTimeoutMs (500).
// Written only against ndis-sim's public API, as a user would.

import {
  CmResourceTypeMemory,
  type DRIVER_OBJECT,
  type DriverModule,
  type IoRegister,
  MediaConnectStateConnected,
  MediaConnectStateDisconnected,
  MediaDuplexStateFull,
  type MINIPORT_ISR,
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  NDIS_ERROR_CODE_HARDWARE_FAILURE,
  type NDIS_HANDLE,
  type NDIS_IO_SPACE,
  NDIS_LINK_STATE_REVISION_1,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_MINIPORT_INTERRUPT_REVISION_1,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_SPIN_LOCK,
  type NDIS_STATUS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_HARD_ERRORS,
  NDIS_STATUS_INDICATION_REVISION_1,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireSpinLock,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisCloseConfiguration,
  NdisDevicePnPEventSurpriseRemoved,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeSpinLock,
  NdisFreeTimerObject,
  NdisGetSystemUpTimeEx,
  NdisInterfacePci,
  NdisMDeregisterInterruptEx,
  NdisMDeregisterMiniportDriver,
  NdisMedium802_3,
  NdisMIndicateStatusEx,
  NdisMMapIoSpace,
  NdisMRegisterInterruptEx,
  NdisMRegisterMiniportDriver,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisMSetMiniportAttributes,
  NdisMSynchronizeWithInterruptEx,
  NdisMUnmapIoSpace,
  NdisOpenConfigurationEx,
  NdisParameterInteger,
  NdisReadConfiguration,
  NdisReadRegisterUlong,
  NdisReleaseSpinLock,
  NdisSetTimerObject,
  NdisWriteErrorLogEntry,
  NdisWriteRegisterUlong,
  SimNicCtrl,
  SimNicIcr,
  SimNicReg,
  SimNicStatus,
} from '../index.ts';

/** Adapter status word (guarded by `lock`). */
const fResetInProgress = 1 << 0;
const fRemoveInProgress = 1 << 1;
const fSurpriseRemoved = 1 << 2;
const fHalting = 1 << 3;

const allOnes = 0xffffffff;

interface Adapter {
  handle: NDIS_HANDLE;
  space: NDIS_IO_SPACE;
  ctrl: IoRegister;
  statusReg: IoRegister;
  heartbeat: IoRegister;
  icr: IoRegister;
  imr: IoRegister;
  interrupt: NDIS_HANDLE | null;
  resetTimer: NDIS_HANDLE | null;
  lock: NDIS_SPIN_LOCK;
  status: number;
  lastHeartbeat: number;
  /** Causes the ISR read and the DPC has not handled yet (shared at DIRQL). */
  pendingCauses: number;
  /** Causes the DPC took from the ISR. */
  dpcCauses: number;
  /** Uptimes (ms) of recent resets. */
  resetTimes: number[];
  resetLimit: number;
  resetWindowMs: number;
  resetTimeoutMs: number;
}

const mac = [0x02, 0x5a, 0x5a, 0x00, 0x00, 0x02];
const runningCtrl = SimNicCtrl.INTR_ENABLE | SimNicCtrl.TX_ENABLE | SimNicCtrl.RX_ENABLE;
const interruptMask = SimNicIcr.RESET_DONE | SimNicIcr.LINK_CHANGE;

function readParameter(config: NDIS_HANDLE, keyword: string, fallback: number): number {
  const r = NdisReadConfiguration(config, keyword, NdisParameterInteger);
  if (r.Status !== NDIS_STATUS_SUCCESS || r.ParameterValue === null) return fallback;
  const d = r.ParameterValue.ParameterData;
  return 'IntegerData' in d ? d.IntegerData : fallback;
}

function initialize(
  handle: NDIS_HANDLE,
  _driverContext: unknown,
  params: NDIS_MINIPORT_INIT_PARAMETERS,
): NDIS_STATUS {
  let resetLimit = 3;
  let resetWindowSeconds = 30;
  let resetTimeoutMs = 500;
  const cfg = NdisOpenConfigurationEx({
    Header: { Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1 },
    NdisHandle: handle,
    Flags: 0,
  });
  if (cfg.Status === NDIS_STATUS_SUCCESS && cfg.ConfigurationHandle !== null) {
    resetLimit = readParameter(cfg.ConfigurationHandle, 'ResetLimit', resetLimit);
    resetWindowSeconds = readParameter(cfg.ConfigurationHandle, 'ResetWindowSeconds', resetWindowSeconds);
    resetTimeoutMs = readParameter(cfg.ConfigurationHandle, 'ResetTimeoutMs', resetTimeoutMs);
    NdisCloseConfiguration(cfg.ConfigurationHandle);
  }

  const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === CmResourceTypeMemory);
  if (mem === undefined || mem.Type !== CmResourceTypeMemory) return NDIS_STATUS_RESOURCES;
  const mapped = NdisMMapIoSpace(handle, mem.Start, mem.Length);
  if (mapped.Status !== NDIS_STATUS_SUCCESS || mapped.VirtualAddress === null) return mapped.Status;
  const space = mapped.VirtualAddress;
  const a: Adapter = {
    handle,
    space,
    ctrl: space.at(SimNicReg.CTRL),
    statusReg: space.at(SimNicReg.STATUS),
    heartbeat: space.at(SimNicReg.HEARTBEAT),
    icr: space.at(SimNicReg.ICR),
    imr: space.at(SimNicReg.IMR),
    interrupt: null,
    resetTimer: null,
    lock: new NDIS_SPIN_LOCK(),
    status: 0,
    lastHeartbeat: 0,
    pendingCauses: 0,
    dpcCauses: 0,
    resetTimes: [],
    resetLimit,
    resetWindowMs: resetWindowSeconds * 1000,
    resetTimeoutMs,
  };
  NdisAllocateSpinLock(a.lock);

  let s = NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
    },
    MiniportAdapterContext: a,
    AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
    CheckForHangTimeInSeconds: 2,
    InterfaceType: NdisInterfacePci,
  });
  if (s !== NDIS_STATUS_SUCCESS) return fail(a, s);
  const linkUp = (NdisReadRegisterUlong(a.statusReg) & SimNicStatus.LINK_UP) !== 0;
  s = NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    },
    MediaType: NdisMedium802_3,
    MtuSize: 1500,
    MaxXmitLinkSpeed: 1_000_000_000,
    MaxRcvLinkSpeed: 1_000_000_000,
    XmitLinkSpeed: 1_000_000_000,
    RcvLinkSpeed: 1_000_000_000,
    MediaConnectState: linkUp ? MediaConnectStateConnected : MediaConnectStateDisconnected,
    MediaDuplexState: MediaDuplexStateFull,
    LookaheadSize: 1500,
    MacAddressLength: 6,
    PermanentMacAddress: mac,
    CurrentMacAddress: mac,
  });
  if (s !== NDIS_STATUS_SUCCESS) return fail(a, s);

  const t = NdisAllocateTimerObject(handle, {
    Header: { Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
    AllocationTag: 0x6b6c6166, // 'falk'
    TimerFunction: resetWatchdog,
    FunctionContext: a,
  });
  if (t.Status !== NDIS_STATUS_SUCCESS) return fail(a, t.Status);
  a.resetTimer = t.TimerObject;

  const r = NdisMRegisterInterruptEx(handle, a, {
    Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: NDIS_MINIPORT_INTERRUPT_REVISION_1 },
    InterruptHandler: isr,
    InterruptDpcHandler: interruptDpc,
    DisableInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, 0),
    EnableInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, interruptMask),
  });
  if (r.Status !== NDIS_STATUS_SUCCESS) return fail(a, r.Status);
  a.interrupt = r.NdisInterruptHandle;

  a.lastHeartbeat = NdisReadRegisterUlong(a.heartbeat);
  NdisWriteRegisterUlong(a.imr, interruptMask);
  NdisWriteRegisterUlong(a.ctrl, runningCtrl);
  return NDIS_STATUS_SUCCESS;
}

/** R2.5: free everything taken so far, then fail. */
function fail(a: Adapter, status: NDIS_STATUS): NDIS_STATUS {
  if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
  if (a.resetTimer !== null) NdisFreeTimerObject(a.resetTimer);
  NdisFreeSpinLock(a.lock);
  NdisMUnmapIoSpace(a.handle, a.space, 0);
  return status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_FAILURE : status;
}

function checkForHang(ctx: unknown): boolean {
  const a = ctx as Adapter;
  NdisAcquireSpinLock(a.lock);
  const busy = (a.status & (fResetInProgress | fRemoveInProgress | fSurpriseRemoved | fHalting)) !== 0;
  NdisReleaseSpinLock(a.lock);
  // R5.13: once removal is known, answer FALSE.
  if (busy) return false;
  const hb = NdisReadRegisterUlong(a.heartbeat);
  if (hb === allOnes) return false; // the device is gone; PnP will tell us
  const hung = hb === a.lastHeartbeat;
  a.lastHeartbeat = hb;
  return hung;
}

/**
 * R5.21: the one place that gives up on the adapter. Returns whether this caller
 * started the removal.
 */
function removeAdapter(a: Adapter): boolean {
  NdisAcquireSpinLock(a.lock);
  const already = (a.status & fRemoveInProgress) !== 0;
  a.status = (a.status | fRemoveInProgress) & ~fResetInProgress;
  NdisReleaseSpinLock(a.lock);
  if (already) return false;
  NdisWriteErrorLogEntry(
    a.handle,
    NDIS_ERROR_CODE_HARDWARE_FAILURE,
    2,
    a.resetTimes.length,
    a.resetWindowMs / 1000,
  );
  NdisMRemoveMiniport(a.handle);
  return true;
}

function reset(ctx: unknown): { Status: NDIS_STATUS; AddressingReset: boolean } {
  const a = ctx as Adapter;
  const now = NdisGetSystemUpTimeEx();
  NdisAcquireSpinLock(a.lock);
  const removing = (a.status & fRemoveInProgress) !== 0;
  if (!removing) {
    a.resetTimes = a.resetTimes.filter((t) => now - t < a.resetWindowMs);
    a.resetTimes.push(now);
  }
  const giveUp = !removing && a.resetTimes.length > a.resetLimit;
  if (!removing && !giveUp) a.status |= fResetInProgress;
  NdisReleaseSpinLock(a.lock);

  if (removing) return { Status: NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
  if (giveUp) {
    // Resetting this often freezes the machine: the hardware is beyond recovery (R5.21).
    removeAdapter(a);
    return { Status: NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
  }
  NdisWriteRegisterUlong(a.ctrl, runningCtrl | SimNicCtrl.RESET);
  if (a.resetTimer !== null) NdisSetTimerObject(a.resetTimer, -a.resetTimeoutMs * 10_000, 0, a);
  return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
}

/** Completes a pended reset once (interrupt and watchdog may race). Runs at DISPATCH. */
function finishReset(a: Adapter, status: NDIS_STATUS): void {
  NdisDprAcquireSpinLock(a.lock);
  const mine = (a.status & fResetInProgress) !== 0;
  a.status &= ~fResetInProgress;
  NdisDprReleaseSpinLock(a.lock);
  if (!mine) return;
  if (a.resetTimer !== null) NdisCancelTimerObject(a.resetTimer);
  a.lastHeartbeat = NdisReadRegisterUlong(a.heartbeat);
  // R4.15: no driver lock held across NdisMResetComplete.
  NdisMResetComplete(a.handle, status, false);
}

/** The NIC never signalled reset-done: the hardware reset failed (R5.21 before NdisMResetComplete). */
function resetWatchdog(_s1: unknown, ctx: unknown): void {
  const a = ctx as Adapter;
  NdisDprAcquireSpinLock(a.lock);
  const resetting = (a.status & fResetInProgress) !== 0;
  NdisDprReleaseSpinLock(a.lock);
  if (!resetting) return;
  removeAdapter(a);
  NdisMResetComplete(a.handle, NDIS_STATUS_HARD_ERRORS, false);
}

const isr: MINIPORT_ISR = (ctx) => {
  const a = ctx as Adapter;
  const causes = NdisReadRegisterUlong(a.icr);
  if (causes === 0 || causes === allOnes) {
    return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
  }
  a.pendingCauses |= causes;
  return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
};

/** MINIPORT_SYNCHRONIZE_INTERRUPT: runs at DIRQL, in step with the ISR. */
function takeCauses(ctx: unknown): boolean {
  const a = ctx as Adapter;
  a.dpcCauses = a.pendingCauses;
  a.pendingCauses = 0;
  return true;
}

function interruptDpc(ctx: unknown): void {
  const a = ctx as Adapter;
  // The ISR writes pendingCauses at DIRQL: take them in step with it.
  if (a.interrupt === null) return;
  NdisMSynchronizeWithInterruptEx(a.interrupt, 0, takeCauses, a);
  const causes = a.dpcCauses;
  if (causes & SimNicIcr.RESET_DONE) finishReset(a, NDIS_STATUS_SUCCESS);
  if (causes & SimNicIcr.LINK_CHANGE) {
    const up = (NdisReadRegisterUlong(a.statusReg) & SimNicStatus.LINK_UP) !== 0;
    NdisMIndicateStatusEx(a.handle, {
      Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: NDIS_STATUS_INDICATION_REVISION_1 },
      SourceHandle: a.handle,
      PortNumber: 0,
      StatusCode: NDIS_STATUS_LINK_STATE,
      Flags: 0,
      DestinationHandle: null,
      RequestId: null,
      StatusBuffer: {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_LINK_STATE_REVISION_1 },
        MediaConnectState: up ? MediaConnectStateConnected : MediaConnectStateDisconnected,
        MediaDuplexState: MediaDuplexStateFull,
        XmitLinkSpeed: 1_000_000_000,
        RcvLinkSpeed: 1_000_000_000,
        PauseFunctions: 0,
        AutoNegotiationFlags: 0,
      },
      StatusBufferSize: 0,
    });
  }
}

function halt(ctx: unknown, _action: number): void {
  const a = ctx as Adapter;
  NdisAcquireSpinLock(a.lock);
  a.status |= fHalting;
  const gone = (a.status & fSurpriseRemoved) !== 0;
  NdisReleaseSpinLock(a.lock);
  // R2.10: quiesce the NIC (unless it is gone), deregister the interrupt early
  // (that also drains its DPCs), cancel and free the timer, undo the rest of init.
  if (!gone) NdisWriteRegisterUlong(a.ctrl, 0);
  if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
  a.interrupt = null;
  if (a.resetTimer !== null) {
    NdisCancelTimerObject(a.resetTimer);
    NdisFreeTimerObject(a.resetTimer);
    a.resetTimer = null;
  }
  NdisFreeSpinLock(a.lock);
  NdisMUnmapIoSpace(a.handle, a.space, 0);
}

function devicePnPEventNotify(ctx: unknown, ev: { DevicePnPEvent: number }): void {
  const a = ctx as Adapter;
  if (ev.DevicePnPEvent !== NdisDevicePnPEventSurpriseRemoved) return;
  // R5.7: the hardware is gone; stop touching it.
  NdisAcquireSpinLock(a.lock);
  a.status |= fSurpriseRemoved;
  NdisReleaseSpinLock(a.lock);
}

function DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: string): NDIS_STATUS {
  let driverHandle: NDIS_HANDLE | null = null;
  const r = NdisMRegisterMiniportDriver(DriverObject, RegistryPath, null, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
      Revision: NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
    },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    InitializeHandlerEx: initialize,
    HaltHandlerEx: halt,
    UnloadHandler: () => {
      if (driverHandle !== null) NdisMDeregisterMiniportDriver(driverHandle);
      driverHandle = null;
    },
    PauseHandler: () => NDIS_STATUS_SUCCESS,
    RestartHandler: () => NDIS_STATUS_SUCCESS,
    OidRequestHandler: (ctx) => {
      const a = ctx as Adapter;
      // R5.7, R5.21: after removal starts, new work fails quickly.
      if (a.status & (fSurpriseRemoved | fRemoveInProgress)) return NDIS_STATUS_NOT_ACCEPTED;
      return NDIS_STATUS_NOT_SUPPORTED;
    },
    SendNetBufferListsHandler: () => {},
    ReturnNetBufferListsHandler: () => {},
    CancelSendHandler: () => {},
    CheckForHangHandlerEx: checkForHang,
    ResetHandlerEx: reset,
    DevicePnPEventNotifyHandler: devicePnPEventNotify,
    ShutdownHandlerEx: (ctx) => {
      const a = ctx as Adapter;
      if ((a.status & fSurpriseRemoved) === 0) NdisWriteRegisterUlong(a.ctrl, 0);
    },
    CancelOidRequestHandler: () => {},
  });
  driverHandle = r.NdisMiniportDriverHandle;
  return r.Status;
}

export const flakyNic: DriverModule = {
  name: 'flaky-nic',
  description: 'a SimNic miniport that resets a hung NIC and gives up with NdisMRemoveMiniport',
  load: () => ({ DriverEntry }),
};
