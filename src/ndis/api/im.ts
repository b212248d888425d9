// Intermediate (IM) driver DDIs: an NDIS 6 IM driver is a miniport upper edge
// (NdisMRegisterMiniportDriver with NDIS_INTERMEDIATE_DRIVER) over a protocol lower edge
// (NdisRegisterProtocolDriver), tied together by NdisIMAssociateMiniport in DriverEntry.
// Its protocol edge binds to an adapter below and asks NDIS for a virtual miniport with
// NdisIMInitializeDeviceInstanceEx; its unbind gives it up with
// NdisIMDeInitializeDeviceInstance (R5.23). docs/model.md, "Intermediate drivers".

import { NotModelledError } from '../../errors.ts';
import type { DeviceNode } from '../../pnp/pnp.ts';
import type { ImDevice } from '../block.ts';
import { ddiIrql } from '../generated/irql.ts';
import { NDIS_STATUS_FAILURE, NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_SUCCESS } from '../generated/status.ts';
import * as life from '../lifecycle.ts';
import { describe, type Ndis } from '../ndis.ts';
import type { NDIS_HANDLE, NDIS_STATUS } from '../types.ts';
import { adapterHandle, currentNdis, driverHandle, stale } from './common.ts';
import type { NDIS_STRING } from './instance-name.ts';
import { bindingOf, protocolHandle } from './protocol.ts';

const irql = {
  NdisIMAssociateMiniport: ddiIrql.NdisIMAssociateMiniport!,
  NdisIMInitializeDeviceInstanceEx: ddiIrql.NdisIMInitializeDeviceInstanceEx!,
  NdisIMCancelInitializeDeviceInstance: ddiIrql.NdisIMCancelInitializeDeviceInstance!,
  NdisIMDeInitializeDeviceInstance: ddiIrql.NdisIMDeInitializeDeviceInstance!,
  NdisIMGetBindingContext: ddiIrql.NdisIMGetBindingContext!,
};

/** The text of a counted UTF-16 string, or null when `s` is not one. */
function stringText(s: unknown): string | null {
  if (typeof s !== 'object' || s === null) return null;
  const { Length, Buffer } = s as Partial<NDIS_STRING>;
  if (!(Buffer instanceof Uint8Array) || typeof Length !== 'number') return null;
  if (Length < 0 || Length % 2 !== 0 || Length > Buffer.length) return null;
  let text = '';
  for (let i = 0; i < Length; i += 2) text += String.fromCharCode(Buffer[i]! | (Buffer[i + 1]! << 8));
  return text;
}

/** The DriverInstance / DeviceInstance string's text; a bad parameter stops the run. */
function instanceName(n: Ndis, s: unknown, ddi: string, param: string): string {
  const text = stringText(s);
  if (text !== null && text !== '') return text;
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: ${param} is not a counted string (NDIS_STRING) naming the virtual miniport's device instance`,
  );
}

/**
 * The miniport driver handle of an intermediate driver that associated its edges; null
 * (reported) when its DriverEntry never called NdisIMAssociateMiniport, which an
 * intermediate driver's DriverEntry must (initializing-an-intermediate-driver, R5.23):
 * the caller fails the call.
 */
function imDriver(n: Ndis, h: unknown, ddi: string): ReturnType<typeof driverHandle> | null {
  const d = driverHandle(h, ddi);
  if (!d.intermediate)
    throw new NotModelledError(
      ddi,
      `${d.name} registered its miniport edge without NDIS_INTERMEDIATE_DRIVER: a virtual miniport of a driver that is not an intermediate driver`,
    );
  if (d.imProtocol === null) {
    // Reported once already when its DriverEntry returned (R5.23): the call just fails.
    if (d.imUnassociatedReported) return null;
    n.verifier.report(
      'NdisSim_IMDeviceInstance',
      ddi,
      null,
      `${d.name} called ${ddi} but its DriverEntry never called NdisIMAssociateMiniport: an intermediate driver's DriverEntry must register its miniport edge, register its protocol edge and then tie the two together with NdisIMAssociateMiniport (initializing-an-intermediate-driver); the model fails the call (NDIS_STATUS_FAILURE)`,
    );
    return null;
  }
  return d;
}

/**
 * VOID NdisIMAssociateMiniport(DriverHandle, ProtocolHandle). PASSIVE, from DriverEntry:
 * the miniport edge (NdisMRegisterMiniportDriver) and the protocol edge
 * (NdisRegisterProtocolDriver) belong to one intermediate driver. From then on the
 * protocol edge does not bind to the driver's own virtual miniports.
 */
export function NdisIMAssociateMiniport(DriverHandle: NDIS_HANDLE, ProtocolHandle: NDIS_HANDLE): void {
  const ddi = 'NdisIMAssociateMiniport';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisIMAssociateMiniport, ddi, null);
  const d = driverHandle(DriverHandle, ddi);
  const p = protocolHandle(n, ProtocolHandle, ddi);
  if (!d.intermediate)
    throw new NotModelledError(
      ddi,
      `${d.name} registered its miniport edge without NDIS_INTERMEDIATE_DRIVER in Flags; the model has intermediate drivers that set it`,
    );
  if (n.loading === null || n.loading.name !== d.name || p.name !== d.name)
    throw new NotModelledError(
      ddi,
      `outside the DriverEntry that registered both edges (${d.name}, ${p.name}): the page has it called from the intermediate driver's DriverEntry`,
    );
  d.imProtocol = p;
  p.imMiniport = d;
  if (n.trace.on) n.traceDdi(ddi, null, { driver: d.name });
}

/**
 * NDIS_STATUS NdisIMInitializeDeviceInstanceEx(DriverHandle, DriverInstance, DeviceContext).
 * PASSIVE, from the protocol edge (ProtocolBindAdapterEx, once its binding below is open).
 * NDIS starts the virtual miniport's device, root-enumerated and named DriverInstance:
 * MiniportInitializeEx follows when its IRP_MN_START_DEVICE reaches NDIS, with
 * IMDeviceInstanceContext = DeviceContext. NDIS_STATUS_NOT_ACCEPTED when that instance
 * is initialized (or asked for) already.
 */
export function NdisIMInitializeDeviceInstanceEx(
  DriverHandle: NDIS_HANDLE,
  DriverInstance: NDIS_STRING,
  DeviceContext: unknown = null,
): NDIS_STATUS {
  const ddi = 'NdisIMInitializeDeviceInstanceEx';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisIMInitializeDeviceInstanceEx, ddi, null);
  const d = imDriver(n, DriverHandle, ddi);
  if (d === null) return NDIS_STATUS_FAILURE;
  const name = instanceName(n, DriverInstance, ddi, 'DriverInstance');
  const key = name.toLowerCase();
  n.imDevices ??= new Map();
  let rec = n.imDevices.get(key);
  let status: number = NDIS_STATUS_SUCCESS;
  if (rec !== undefined && rec.driver !== d)
    throw new NotModelledError(
      ddi,
      `DriverInstance '${name}' is a virtual miniport of ${rec.driver.name} already: one device instance per name`,
    );
  if (rec !== undefined && rec.state !== 'idle' && rec.state !== 'cancelled')
    status = NDIS_STATUS_NOT_ACCEPTED;
  else {
    let dev: DeviceNode | undefined = rec?.dev;
    if (dev === undefined) {
      for (const x of n.pnp.devices)
        if (x.name.toLowerCase() === key)
          throw new NotModelledError(
            ddi,
            `DriverInstance '${name}' names device ${x.name} of driver ${x.driverName}: a virtual miniport's instance is its own device`,
          );
      // A root-enumerated device, as the intermediate driver's INF installs it.
      dev = n.pnp.addDevice(name, `ROOT\\NET\\${String(n.pnp.devices.length).padStart(4, '0')}`, d.name);
    }
    const fresh: ImDevice = { name, driver: d, dev, context: DeviceContext, state: 'requested' };
    rec = fresh;
    n.imDevices.set(key, fresh);
    dev.startCancelled = false;
    n.pnp.start(dev);
  }
  if (n.trace.on) {
    const t = n.traceDdi(ddi, null, { DriverInstance: name });
    t.result = describe(status);
  }
  return status;
}

/**
 * NDIS_STATUS NdisIMCancelInitializeDeviceInstance(DriverHandle, DeviceInstance). PASSIVE.
 * Calls off an NdisIMInitializeDeviceInstanceEx whose device has not started yet
 * (NDIS_STATUS_SUCCESS); NDIS_STATUS_FAILURE once NDIS has its start under way or has
 * called MiniportInitializeEx (then NdisIMDeInitializeDeviceInstance undoes it), or for an
 * instance never asked for.
 */
export function NdisIMCancelInitializeDeviceInstance(
  DriverHandle: NDIS_HANDLE,
  DeviceInstance: NDIS_STRING,
): NDIS_STATUS {
  const ddi = 'NdisIMCancelInitializeDeviceInstance';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisIMCancelInitializeDeviceInstance, ddi, null);
  const d = imDriver(n, DriverHandle, ddi);
  if (d === null) return NDIS_STATUS_FAILURE;
  const name = instanceName(n, DeviceInstance, ddi, 'DeviceInstance');
  const rec = n.imDevices?.get(name.toLowerCase());
  let status: number = NDIS_STATUS_FAILURE;
  // Only a start still queued in the PnP manager can lapse: once NDIS created the FDO,
  // the START IRP and MiniportInitializeEx are on their way.
  if (rec !== undefined && rec.driver === d && rec.state === 'requested' && !rec.dev.hasFdo) {
    rec.state = 'cancelled';
    rec.dev.startCancelled = true;
    status = NDIS_STATUS_SUCCESS;
  }
  if (n.trace.on) {
    const t = n.traceDdi(ddi, null, { DeviceInstance: name });
    t.result = describe(status);
  }
  return status;
}

/**
 * NDIS_STATUS NdisIMDeInitializeDeviceInstance(NdisMiniportHandle). PASSIVE, usually from
 * the protocol edge's ProtocolUnbindAdapterEx. NDIS unbinds the protocols above the
 * virtual miniport, pauses it, halts it with NdisHaltDeviceInstanceDeInitialized and
 * deletes its FDO (R5.23). The model returns NDIS_STATUS_SUCCESS once the teardown has
 * begun; it runs in NDIS's worker like any other, and the driver learns it is done in
 * its MiniportHaltEx (docs/decisions.md). NDIS_STATUS_FAILURE, reported as
 * NdisSim_IMDeviceInstance, for a handle that is not a virtual miniport's, for a second
 * call while the first one's teardown runs (on Windows the first returns only once the
 * miniport is halted, its handle dead), and for a call from the miniport's own
 * MiniportHaltEx (it would wait for itself).
 */
export function NdisIMDeInitializeDeviceInstance(NdisMiniportHandle: NDIS_HANDLE): NDIS_STATUS {
  const ddi = 'NdisIMDeInitializeDeviceInstance';
  const b = adapterHandle(NdisMiniportHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisIMDeInitializeDeviceInstance, ddi, b.name);
  if (stale(b, ddi)) return NDIS_STATUS_FAILURE;
  const t = n.trace.on ? n.traceDdi(ddi, b, {}) : null;
  let status: number = NDIS_STATUS_SUCCESS;
  const im = b.im;
  if (im === null) {
    status = NDIS_STATUS_FAILURE;
    n.verifier.report(
      'NdisSim_IMDeviceInstance',
      ddi,
      b.name,
      `${ddi} with the handle of ${b.name}, which is not a virtual miniport of an intermediate driver (no NdisIMInitializeDeviceInstanceEx brought it up): NDIS fails the call (nf-ndis-ndisimdeinitializedeviceinstance)`,
    );
  } else if (b.inHalt) {
    // From the virtual miniport's own MiniportHaltEx: on Windows the call returns once
    // the miniport is halted, so it would wait for the halt it runs in (R5.23).
    status = NDIS_STATUS_FAILURE;
    n.verifier.report(
      'NdisSim_IMDeviceInstance',
      ddi,
      b.name,
      `${im.driver.name} called ${ddi} for ${b.name} inside that virtual miniport's own MiniportHaltEx: the call returns only once the virtual miniport is halted, so it waits for the halt it is called from; NDIS halts it already (halting-a-virtual-miniport). The model fails the call (NDIS_STATUS_FAILURE)`,
    );
  } else if (im.state === 'initialized') {
    im.state = 'deinitializing';
    if (life.beginTeardown(n, b, 'im-deinit') === null && !b.fdoDeleted) life.finishImDeInit(n, b);
  } else {
    // Called again for an instance already being de-initialized: on Windows the first
    // call returned once the miniport was halted, so this one passes a handle that is
    // dead, which the page fails (R5.23, nf-ndis-ndisimdeinitializedeviceinstance).
    status = NDIS_STATUS_FAILURE;
    n.verifier.report(
      'NdisSim_IMDeviceInstance',
      ddi,
      b.name,
      `${im.driver.name} called ${ddi} for ${b.name} a second time: the first call de-initializes that virtual miniport, and on Windows it returns only once the miniport is halted and its handle invalid, so this call passes a stale handle; NDIS fails it (NDIS_STATUS_FAILURE, nf-ndis-ndisimdeinitializedeviceinstance) and the teardown under way goes on`,
    );
  }
  if (t !== null) t.result = describe(status);
  return status;
}

/**
 * NDIS_HANDLE NdisIMGetBindingContext(NdisBindingHandle). Below DISPATCH, typically from
 * a protocol's ProtocolBindAdapterEx. NdisBindingHandle is the caller's binding (from
 * NdisOpenAdapterEx) to a virtual miniport; the result is the DeviceContext the
 * intermediate driver below gave NdisIMInitializeDeviceInstanceEx for it, shared by
 * every protocol bound to that virtual miniport and only to be read. NULL when the
 * adapter is no virtual miniport, or its driver gave no context.
 */
export function NdisIMGetBindingContext(NdisBindingHandle: NDIS_HANDLE): NDIS_HANDLE | null {
  const ddi = 'NdisIMGetBindingContext';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisIMGetBindingContext, ddi, null);
  const { bd } = bindingOf(n, NdisBindingHandle, ddi, 'a binding handle');
  const b = bd.block;
  const context = (b.im?.context ?? null) as NDIS_HANDLE | null;
  if (n.trace.on) {
    const t = n.traceDdi(ddi, b, {});
    t.result = context === null ? 'NULL' : 'the device context';
  }
  return context;
}

/**
 * NDIS_STATUS NdisIMNotifyPnPEvent(MiniportHandle, NetPnPEvent). An NDIS 5.x DDI; not
 * modelled (an NDIS 6 intermediate driver passes events up with NdisMNetPnPEvent).
 */
export function NdisIMNotifyPnPEvent(_MiniportHandle: NDIS_HANDLE, _NetPnPEvent: unknown): NDIS_STATUS {
  throw new NotModelledError(
    'NdisIMNotifyPnPEvent',
    'an NDIS 5.x intermediate-driver DDI; NDIS 6 intermediate drivers propagate PnP events with NdisMNetPnPEvent',
  );
}
