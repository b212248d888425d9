// The miniport's optional PnP handlers (NDIS_MINIPORT_PNP_CHARACTERISTICS, registered
// with NdisSetOptionalHandlers in MiniportSetOptions): NDIS calls MiniportAddDevice as
// it creates the FDO, MiniportStartDevice on IRP_MN_START_DEVICE before it passes the
// IRP down (and so before MiniportInitializeEx), and MiniportRemoveDevice on
// IRP_MN_REMOVE_DEVICE, after the halt, as the FDO goes. Only drivers that registered
// the set get here: the callers check `driver.pnp` first.

import { Irql } from '../kernel/kernel.ts';
import type { MiniportBlock } from './block.ts';
import { IRP_MJ_PNP, IRP_MN_START_DEVICE, NDIS_STATUS_SUCCESS, PCIBus } from './generated/status.ts';
import { resourcesOf } from './lifecycle.ts';
import type { Ndis } from './ndis.ts';
import type { CM_RESOURCE_LIST, IRP } from './types.ts';

/**
 * The device's resources as a CM_RESOURCE_LIST (what IRP_MN_START_DEVICE and
 * NdisMGetDeviceProperty carry): one PCIBus descriptor around the partial list. The
 * model's HAL translates no address, so raw and translated differ only in message
 * interrupts (`u.MessageInterrupt.Raw` or `.Translated`); each call makes a fresh
 * list, so a driver that edits one does not edit the other.
 */
export function cmResourcesOf(b: MiniportBlock, translated = false): CM_RESOURCE_LIST | null {
  const partial = resourcesOf(b, translated);
  return partial === null
    ? null
    : { Count: 1, List: [{ InterfaceType: PCIBus, BusNumber: 0, PartialResourceList: partial }] };
}

/**
 * MiniportAddDevice(NdisMiniportHandle, MiniportDriverContext) for a new FDO, if the
 * driver registered one. Returns its status (NDIS_STATUS_SUCCESS when there is none).
 */
export function callAddDevice(n: Ndis, b: MiniportBlock): number {
  const h = b.driver.pnp?.MiniportAddDeviceHandler;
  if (typeof h !== 'function') return NDIS_STATUS_SUCCESS;
  const f = n.enter(b, b.driver.name, 'MiniportAddDevice', Irql.Passive);
  let s: number;
  b.inAddDevice = true;
  try {
    s = h(b, b.driver.context);
  } catch (e) {
    n.driverThrew(e, 'MiniportAddDevice', b);
  } finally {
    b.inAddDevice = false;
  }
  n.leave(f, s);
  return s;
}

/**
 * MiniportStartDevice(MiniportAddDeviceContext, Irp) with the IRP_MN_START_DEVICE IRP and
 * its resources, if the driver registered one. Returns its status.
 */
export function callStartDevice(n: Ndis, b: MiniportBlock): number {
  const h = b.driver.pnp?.MiniportStartDeviceHandler;
  if (typeof h !== 'function') return NDIS_STATUS_SUCCESS;
  const Irp: IRP = {
    IoStatus: { Status: 0, Information: 0 },
    AssociatedIrp: { SystemBuffer: null },
    MdlAddress: null,
    Cancel: false,
    CancelIrql: 0,
    Tail: {
      Overlay: {
        CurrentStackLocation: {
          MajorFunction: IRP_MJ_PNP,
          MinorFunction: IRP_MN_START_DEVICE,
          Parameters: {
            StartDevice: {
              AllocatedResources: cmResourcesOf(b),
              AllocatedResourcesTranslated: cmResourcesOf(b, true),
            },
          },
        },
        DriverContext: [null, null, null, null],
      },
    },
  };
  const f = n.enter(b, b.driver.name, 'MiniportStartDevice', Irql.Passive);
  let s: number;
  try {
    s = h(b.addDeviceContext, Irp);
  } catch (e) {
    n.driverThrew(e, 'MiniportStartDevice', b);
  }
  n.leave(f, s);
  return s;
}

/** MiniportRemoveDevice(MiniportAddDeviceContext), if the driver registered one. */
export function callRemoveDevice(n: Ndis, b: MiniportBlock): void {
  const h = b.driver.pnp?.MiniportRemoveDeviceHandler;
  if (typeof h !== 'function') return;
  const f = n.enter(b, b.driver.name, 'MiniportRemoveDevice', Irql.Passive);
  let returned: unknown;
  try {
    returned = h(b.addDeviceContext);
  } catch (e) {
    n.driverThrew(e, 'MiniportRemoveDevice', b);
  }
  n.leaveVoid(f, returned);
}
