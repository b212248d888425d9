// healthy-nic: a plain, well-behaved NDIS 6.30 miniport for SimNic. It uses no
// check-for-hang (R4.1 discourages it for new drivers) and pauses, restarts and
// halts at once. Written only against ndis-sim's public API, as a user would.

import {
  CmResourceTypeMemory,
  type DRIVER_OBJECT,
  type DriverModule,
  type IoRegister,
  MediaConnectStateConnected,
  MediaConnectStateDisconnected,
  MediaDuplexStateFull,
  type MINIPORT_ISR,
  type NDIS_HANDLE,
  type NDIS_IO_SPACE,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
  type NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_MINIPORT_INTERRUPT_REVISION_1,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
  type NDIS_STATUS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisInterfacePci,
  NdisMDeregisterInterruptEx,
  NdisMDeregisterMiniportDriver,
  NdisMedium802_3,
  NdisMMapIoSpace,
  NdisMRegisterInterruptEx,
  NdisMRegisterMiniportDriver,
  NdisMSetMiniportAttributes,
  NdisMUnmapIoSpace,
  NdisReadRegisterUlong,
  NdisWriteRegisterUlong,
  SimNicCtrl,
  SimNicIcr,
  SimNicReg,
  SimNicStatus,
} from '../index.ts';

interface Adapter {
  handle: NDIS_HANDLE;
  space: NDIS_IO_SPACE;
  ctrl: IoRegister;
  status: IoRegister;
  icr: IoRegister;
  imr: IoRegister;
  interrupt: NDIS_HANDLE | null;
  /** Causes read by the ISR, handled by the DPC. */
  pendingCauses: number;
  surpriseRemoved: boolean;
}

const mac = [0x02, 0x5a, 0x5a, 0x00, 0x00, 0x01];

function initialize(
  handle: NDIS_HANDLE,
  _driverContext: unknown,
  params: NDIS_MINIPORT_INIT_PARAMETERS,
): NDIS_STATUS {
  const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === CmResourceTypeMemory);
  if (mem === undefined || mem.Type !== CmResourceTypeMemory) return NDIS_STATUS_RESOURCES;
  const mapped = NdisMMapIoSpace(handle, mem.Start, mem.Length);
  if (mapped.Status !== NDIS_STATUS_SUCCESS || mapped.VirtualAddress === null) return mapped.Status;
  const space = mapped.VirtualAddress;
  const a: Adapter = {
    handle,
    space,
    ctrl: space.at(SimNicReg.CTRL),
    status: space.at(SimNicReg.STATUS),
    icr: space.at(SimNicReg.ICR),
    imr: space.at(SimNicReg.IMR),
    interrupt: null,
    pendingCauses: 0,
    surpriseRemoved: false,
  };
  // R2.4: registration attributes first, then general attributes.
  let s = NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
    },
    MiniportAdapterContext: a,
    AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
    CheckForHangTimeInSeconds: 0,
    InterfaceType: NdisInterfacePci,
  });
  if (s !== NDIS_STATUS_SUCCESS) return fail(a, s);
  const linkUp = (NdisReadRegisterUlong(a.status) & SimNicStatus.LINK_UP) !== 0;
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
  const r = NdisMRegisterInterruptEx(handle, a, {
    Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: NDIS_MINIPORT_INTERRUPT_REVISION_1 },
    InterruptHandler: isr,
    InterruptDpcHandler: interruptDpc,
    DisableInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, 0),
    EnableInterruptHandler: (ctx) => NdisWriteRegisterUlong((ctx as Adapter).imr, SimNicIcr.LINK_CHANGE),
  });
  if (r.Status !== NDIS_STATUS_SUCCESS) return fail(a, r.Status);
  a.interrupt = r.NdisInterruptHandle;
  NdisWriteRegisterUlong(a.imr, SimNicIcr.LINK_CHANGE);
  NdisWriteRegisterUlong(a.ctrl, SimNicCtrl.INTR_ENABLE | SimNicCtrl.TX_ENABLE | SimNicCtrl.RX_ENABLE);
  return NDIS_STATUS_SUCCESS;
}

/** R2.5: a failing initialize frees what it took before returning. */
function fail(a: Adapter, status: NDIS_STATUS): NDIS_STATUS {
  if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
  NdisMUnmapIoSpace(a.handle, a.space, 0);
  return status === NDIS_STATUS_SUCCESS ? NDIS_STATUS_FAILURE : status;
}

const isr: MINIPORT_ISR = (ctx) => {
  const a = ctx as Adapter;
  const causes = NdisReadRegisterUlong(a.icr);
  // All ones: the device is gone; nothing of ours.
  if (causes === 0 || causes === 0xffffffff) {
    return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
  }
  a.pendingCauses |= causes;
  return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
};

function interruptDpc(ctx: unknown): void {
  const a = ctx as Adapter;
  a.pendingCauses = 0;
}

function halt(ctx: unknown, _action: number): void {
  const a = ctx as Adapter;
  // R2.10: undo init in reverse; leave the hardware alone if it is gone.
  if (!a.surpriseRemoved) NdisWriteRegisterUlong(a.ctrl, 0);
  if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
  a.interrupt = null;
  NdisMUnmapIoSpace(a.handle, a.space, 0);
}

export const healthyNic: DriverModule = variantOfHealthyNic(
  'healthy-nic',
  'a well-behaved SimNic miniport (NDIS 6.30, no check-for-hang)',
  () => {},
);

/**
 * healthy-nic with some handlers changed: the base of the gallery's buggy drivers,
 * each of which breaks one rule the way a real driver does.
 */
export function variantOfHealthyNic(
  name: string,
  description: string,
  edit: (c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS) => void,
): DriverModule {
  return {
    name,
    description,
    load: () => ({
      DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: string): NDIS_STATUS {
        let driverHandle: NDIS_HANDLE | null = null;
        const c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS = {
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
          OidRequestHandler: (ctx) =>
            (ctx as Adapter).surpriseRemoved ? NDIS_STATUS_NOT_ACCEPTED : NDIS_STATUS_NOT_SUPPORTED,
          SendNetBufferListsHandler: () => {},
          ReturnNetBufferListsHandler: () => {},
          CancelSendHandler: () => {},
          DevicePnPEventNotifyHandler: (ctx, ev) => {
            if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved)
              (ctx as Adapter).surpriseRemoved = true;
          },
          ShutdownHandlerEx: (ctx) => {
            const a = ctx as Adapter;
            if (!a.surpriseRemoved) NdisWriteRegisterUlong(a.ctrl, 0);
          },
          CancelOidRequestHandler: () => {},
        };
        edit(c);
        const r = NdisMRegisterMiniportDriver(DriverObject, RegistryPath, null, c);
        driverHandle = r.NdisMiniportDriverHandle;
        return r.Status;
      },
    }),
  };
}
