// A protocol driver's own control device (wdm.h's IoCreateDevice, IoCreateSymbolicLink,
// IoDeleteSymbolicLink, IoDeleteDevice), as ndisprot makes it: NdisRegisterDeviceEx
// takes only miniport and filter driver handles, so a protocol driver asks the I/O
// manager directly, and its DRIVER_OBJECT.MajorFunction routines get the requests.
// The devices are the model's control devices (device.ts): the application's open,
// reads, writes, device controls, cancels and close reach them as they reach a device
// of NdisRegisterDeviceEx.

import { NotModelledError } from '../../errors.ts';
import { Irql, irqlNames } from '../../kernel/kernel.ts';
import { ntStatusName } from '../../report/format.ts';
import { ControlDevice, ControlDeviceObject, IoDriver, ioState, linkKey } from '../device.ts';
import {
  DEVICE_TYPE_NAMES,
  STATUS_OBJECT_NAME_COLLISION,
  STATUS_OBJECT_NAME_NOT_FOUND,
  STATUS_SUCCESS,
} from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import type { DEVICE_OBJECT, DRIVER_OBJECT, NTSTATUS } from '../types.ts';
import { currentNdis } from './common.ts';

/** The four routines run at PASSIVE_LEVEL (their pages); wdm.h's, so not in the generated table. */
function atPassive(n: Ndis, ddi: string): void {
  const irql = n.kernel.ctx.irql;
  if (irql !== Irql.Passive && n.verifier.mode !== 'off')
    n.verifier.report(
      'NdisSim_Irql',
      ddi,
      null,
      `${ddi} called at ${irqlNames[irql]}; it must be called at PASSIVE_LEVEL`,
      [irql, 0, 0],
    );
}

/** `\Device\X` style names: what the object manager takes here (`\GLOBAL??\X` too). */
function isObjectName(v: unknown): v is string {
  return typeof v === 'string' && /^\\[A-Za-z0-9_.?\\-]+$/.test(v);
}

/**
 * NTSTATUS IoCreateDevice(DriverObject, DeviceExtensionSize, DeviceName, DeviceType,
 * DeviceCharacteristics, Exclusive, *DeviceObject). PASSIVE. A device object of the
 * driver, named DeviceName, with DeviceExtensionSize bytes of extension
 * (DeviceObject.DeviceExtension); its requests go to DriverObject.MajorFunction. A name
 * in use gets STATUS_OBJECT_NAME_COLLISION and a NULL DeviceObject. The model takes it
 * from a protocol driver's DRIVER_OBJECT: a miniport or filter driver registers its
 * device with NdisRegisterDeviceEx, and NDIS owns its dispatch table. DeviceType,
 * DeviceCharacteristics and Exclusive are kept for the C shape, not enforced.
 */
export function IoCreateDevice(
  DriverObject: DRIVER_OBJECT,
  DeviceExtensionSize: number,
  DeviceName: string | null,
  DeviceType: number,
  DeviceCharacteristics: number,
  Exclusive: boolean,
): { Status: NTSTATUS; DeviceObject: DEVICE_OBJECT | null } {
  const ddi = 'IoCreateDevice';
  const n = currentNdis(ddi);
  atPassive(n, ddi);
  const name =
    typeof DriverObject?.DriverName === 'string' ? DriverObject.DriverName.replace(/^\\Driver\\/, '') : '';
  if (!n.protocolInstalls.includes(name))
    throw new NotModelledError(
      ddi,
      `for ${name === '' ? 'an object that is no DRIVER_OBJECT of the machine' : `${name}, which is not installed as a protocol driver`}: the model takes IoCreateDevice from a protocol driver's DRIVER_OBJECT; a miniport or filter driver registers its device with NdisRegisterDeviceEx, and NDIS owns its dispatch table`,
    );
  if (DeviceName === null)
    throw new NotModelledError(
      ddi,
      'an unnamed device (DeviceName NULL): the application could never open it',
    );
  if (!isObjectName(DeviceName) || !Number.isInteger(DeviceExtensionSize) || DeviceExtensionSize < 0)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: expected a DeviceName such as \\Device\\NdisProt and a DeviceExtensionSize of 0 bytes or more, got ${JSON.stringify(DeviceName)} and ${String(DeviceExtensionSize)}`,
    );
  const io = ioState(n);
  let owner = io.ioDrivers.get(DriverObject);
  if (owner === undefined) {
    owner = new IoDriver(n, name, DriverObject);
    io.ioDrivers.set(DriverObject, owner);
  }
  let status: NTSTATUS = STATUS_SUCCESS;
  let dev: ControlDevice | null = null;
  if (io.names.has(DeviceName.toLowerCase())) status = STATUS_OBJECT_NAME_COLLISION;
  else {
    // The dispatch table is the driver object's own, read at each request.
    dev = new ControlDevice(
      owner,
      DeviceName,
      null,
      DriverObject.MajorFunction,
      DeviceExtensionSize > 0 ? new Uint8Array(DeviceExtensionSize) : null,
    );
    io.names.set(DeviceName.toLowerCase(), dev);
  }
  if (n.trace.on)
    n.traceDdi(ddi, null, {
      driver: name,
      DeviceName,
      DeviceExtensionSize,
      // A FILE_DEVICE_* by name (a driver's own type, 0x8000 and up, as hex).
      DeviceType: DEVICE_TYPE_NAMES.get(DeviceType) ?? `0x${(DeviceType >>> 0).toString(16).toUpperCase()}`,
      DeviceCharacteristics,
      Exclusive,
      result: ntStatusName(status),
    });
  return { Status: status, DeviceObject: dev === null ? null : dev.deviceObject };
}

/**
 * NTSTATUS IoCreateSymbolicLink(SymbolicLinkName, DeviceName). PASSIVE. `\DosDevices\X`
 * (or `\??\X`) then names the device: the application opens it as `\\.\X`. A device
 * name nothing has is STATUS_OBJECT_NAME_NOT_FOUND; a link in use,
 * STATUS_OBJECT_NAME_COLLISION.
 */
export function IoCreateSymbolicLink(SymbolicLinkName: string, DeviceName: string): NTSTATUS {
  const ddi = 'IoCreateSymbolicLink';
  const n = currentNdis(ddi);
  atPassive(n, ddi);
  if (!isObjectName(SymbolicLinkName) || !isObjectName(DeviceName))
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: expected names such as \\DosDevices\\NdisProt and \\Device\\NdisProt, got ${JSON.stringify(SymbolicLinkName)} and ${JSON.stringify(DeviceName)}`,
    );
  const io = ioState(n);
  const dev = io.names.get(DeviceName.toLowerCase());
  const key = linkKey(SymbolicLinkName);
  const status =
    dev === undefined
      ? STATUS_OBJECT_NAME_NOT_FOUND
      : io.links.has(key)
        ? STATUS_OBJECT_NAME_COLLISION
        : STATUS_SUCCESS;
  if (status === STATUS_SUCCESS) {
    io.links.set(key, dev!);
    io.ioLinkNames.set(key, SymbolicLinkName);
  }
  if (n.trace.on) n.traceDdi(ddi, null, { SymbolicLinkName, DeviceName, result: ntStatusName(status) });
  return status;
}

/** NTSTATUS IoDeleteSymbolicLink(SymbolicLinkName). PASSIVE. A link nothing has is STATUS_OBJECT_NAME_NOT_FOUND. */
export function IoDeleteSymbolicLink(SymbolicLinkName: string): NTSTATUS {
  const ddi = 'IoDeleteSymbolicLink';
  const n = currentNdis(ddi);
  atPassive(n, ddi);
  const io = ioState(n);
  const key = typeof SymbolicLinkName === 'string' ? linkKey(SymbolicLinkName) : '';
  const status = io.links.delete(key) ? STATUS_SUCCESS : STATUS_OBJECT_NAME_NOT_FOUND;
  io.ioLinkNames.delete(key);
  if (n.trace.on) n.traceDdi(ddi, null, { SymbolicLinkName, result: ntStatusName(status) });
  return status;
}

/**
 * VOID IoDeleteDevice(DeviceObject). PASSIVE. The device goes: no new open reaches it
 * (a link left to it leads nowhere). A handle the application still holds keeps
 * sending its requests to the dispatch routines until it closes, as for a device of
 * NdisRegisterDeviceEx. A device IoCreateDevice did not return, or one deleted
 * already, is NdisSim_BadParameter.
 */
export function IoDeleteDevice(DeviceObject: DEVICE_OBJECT): void {
  const ddi = 'IoDeleteDevice';
  const n = currentNdis(ddi);
  atPassive(n, ddi);
  const dev = DeviceObject instanceof ControlDeviceObject ? DeviceObject.device : null;
  if (dev === null || !(dev.owner instanceof IoDriver) || dev.deregistered) {
    n.verifier.report(
      'NdisSim_BadParameter',
      ddi,
      null,
      dev?.deregistered
        ? `${ddi}: ${dev.name} was deleted already`
        : `${ddi}: not a device object IoCreateDevice returned${dev !== null ? ' (a device of NdisRegisterDeviceEx goes with NdisDeregisterDeviceEx)' : ''}`,
    );
    return;
  }
  dev.deregistered = true;
  const io = ioState(n);
  io.names.delete(dev.name.toLowerCase());
  if (n.trace.on)
    n.traceDdi(ddi, null, { driver: dev.owner.name, DeviceName: dev.name, openHandles: dev.files.length });
}
