// Adapter instance names: the friendly name of an adapter, as NDIS hands it to a
// miniport (NdisMQueryAdapterInstanceName) or a protocol driver (NdisQueryAdapterInstanceName,
// NdisQueryBindInstanceName). NDIS allocates the string; the caller frees its buffer
// with NdisFreeMemory.

import type { DeviceNode } from '../../pnp/pnp.ts';
import type { MiniportBlock } from '../block.ts';
import { ddiIrql } from '../generated/irql.ts';
import { NDIS_STATUS_RESOURCES, NDIS_STATUS_SUCCESS } from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import type { NDIS_HANDLE, NDIS_STATUS } from '../types.ts';
import { adapterHandle, currentNdis, stale } from './common.ts';
import { bindingOf, usable } from './protocol.ts';

const irql = {
  NdisMQueryAdapterInstanceName: ddiIrql.NdisMQueryAdapterInstanceName!,
  NdisQueryAdapterInstanceName: ddiIrql.NdisQueryAdapterInstanceName!,
  NdisQueryBindInstanceName: ddiIrql.NdisQueryBindInstanceName!,
};

/**
 * NDIS_STRING, a counted UTF-16 string (UNICODE_STRING): `Length` bytes of `Buffer`
 * hold the name, `MaximumLength` with its terminating NUL. Decode it with
 * `new TextDecoder('utf-16le').decode(s.Buffer.subarray(0, s.Length))`.
 */
export interface NDIS_STRING {
  readonly Length: number;
  readonly MaximumLength: number;
  readonly Buffer: Uint8Array;
}

/**
 * The friendly name of a device's adapter, as Device Manager shows it: the description
 * of its hardware (the model has no INF to take one from), then " #2", " #3" … for the
 * second and later devices with the same description, in the order they were added.
 */
export function friendlyName(devices: readonly DeviceNode[], d: DeviceNode): string {
  const description = (x: DeviceNode): string =>
    x.hardware === null ? 'ndis-sim Virtual Ethernet Adapter' : 'ndis-sim SimNic Ethernet Adapter';
  const mine = description(d);
  let before = 0;
  for (const x of devices) {
    if (x === d) break;
    if (description(x) === mine) before++;
  }
  return before === 0 ? mine : `${mine} #${before + 1}`;
}

/**
 * The NDIS_STRING of `name` in a buffer NDIS allocated for `driver`, which the driver
 * gives back with NdisFreeMemory (`NdisFreeMemory` finds it in `n.instanceNames`).
 */
export function allocatedName(n: Ndis, name: string, driver: string, ddi: string): NDIS_STRING {
  const Buffer = new Uint8Array(2 * name.length + 2);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    Buffer[2 * i] = c & 0xff;
    Buffer[2 * i + 1] = c >> 8;
  }
  n.instanceNames ??= new Map();
  n.instanceNames.set(Buffer, { driver, ddi });
  return { Length: 2 * name.length, MaximumLength: Buffer.length, Buffer };
}

/**
 * NDIS_STATUS NdisMQueryAdapterInstanceName(pAdapterInstanceName, MiniportHandle).
 * PASSIVE. Returns the status and, on success, the string (`AdapterInstanceName`).
 */
export function NdisMQueryAdapterInstanceName(MiniportHandle: NDIS_HANDLE): {
  Status: NDIS_STATUS;
  AdapterInstanceName: NDIS_STRING | null;
} {
  const ddi = 'NdisMQueryAdapterInstanceName';
  const b = adapterHandle(MiniportHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMQueryAdapterInstanceName, ddi, b.name);
  if (stale(b, ddi)) return { Status: NDIS_STATUS_RESOURCES, AdapterInstanceName: null };
  const name = friendlyName(n.pnp.devices, b.dev);
  const s = allocatedName(n, name, b.driver.name, ddi);
  if (n.trace.on) n.traceDdi(ddi, b, { AdapterInstanceName: name });
  return { Status: NDIS_STATUS_SUCCESS, AdapterInstanceName: s };
}

/**
 * NDIS_STATUS NdisQueryAdapterInstanceName(pAdapterInstanceName, NdisBindingHandle).
 * <= DISPATCH. The friendly name of the adapter a protocol driver's binding is open to.
 */
export function NdisQueryAdapterInstanceName(NdisBindingHandle: NDIS_HANDLE): {
  Status: NDIS_STATUS;
  AdapterInstanceName: NDIS_STRING | null;
} {
  const ddi = 'NdisQueryAdapterInstanceName';
  const n = currentNdis(ddi);
  const { bd, o } = bindingOf(n, NdisBindingHandle, ddi, 'an NdisBindingHandle');
  n.verifier.irql(irql.NdisQueryAdapterInstanceName, ddi, bd.block.name);
  if (!usable(n, bd, o, ddi)) return { Status: NDIS_STATUS_RESOURCES, AdapterInstanceName: null };
  return protocolName(n, bd.block.dev, bd.protocol.name, bd.block, ddi);
}

/**
 * NDIS_STATUS NdisQueryBindInstanceName(pAdapterInstanceName, BindingContext). <= DISPATCH.
 * The friendly name of the adapter a ProtocolBindAdapterEx is about, from its
 * BindContext: before the open, too. The SDV rule NdisQueryBindInstanceName wants the
 * buffer freed; one the driver still holds when it unloads is reported.
 */
export function NdisQueryBindInstanceName(BindingContext: NDIS_HANDLE): {
  Status: NDIS_STATUS;
  AdapterInstanceName: NDIS_STRING | null;
} {
  const ddi = 'NdisQueryBindInstanceName';
  const n = currentNdis(ddi);
  const { bd } = bindingOf(n, BindingContext, ddi, 'the BindContext');
  n.verifier.irql(irql.NdisQueryBindInstanceName, ddi, bd.block.name);
  return protocolName(n, bd.block.dev, bd.protocol.name, bd.block, ddi);
}

function protocolName(
  n: Ndis,
  dev: DeviceNode,
  driver: string,
  b: MiniportBlock,
  ddi: string,
): { Status: NDIS_STATUS; AdapterInstanceName: NDIS_STRING } {
  const name = friendlyName(n.pnp.devices, dev);
  if (n.trace.on) n.traceDdi(ddi, b, { AdapterInstanceName: name });
  return { Status: NDIS_STATUS_SUCCESS, AdapterInstanceName: allocatedName(n, name, driver, ddi) };
}

/**
 * The instance-name buffers `driver` never freed, by the DDI that gave them; they are
 * forgotten, so that each is reported once.
 */
export function namesLeftBy(n: Ndis, driver: string): Map<string, number> {
  const left = new Map<string, number>();
  const names = n.instanceNames;
  if (names === null) return left;
  for (const [buffer, o] of names) {
    if (o.driver !== driver) continue;
    left.set(o.ddi, (left.get(o.ddi) ?? 0) + 1);
    names.delete(buffer);
  }
  return left;
}

/** "2 from NdisMQueryAdapterInstanceName and 1 from NdisQueryAdapterInstanceName" */
export function namesLeftText(left: ReadonlyMap<string, number>): string {
  return [...left].map(([ddi, k]) => `${k} from ${ddi}`).join(' and ');
}
