// I/O ports: NdisMRegisterIoPortRange, NdisMDeregisterIoPortRange and the raw port
// accessors NdisRawReadPortUchar/Ushort/Ulong, NdisRawWritePortUchar/Ushort/Ulong.
//
// The model's platform is x64, where I/O ports are not translated: the "mapped base"
// NdisMRegisterIoPortRange returns in PortOffset is InitialPort itself, and a driver
// forms a port address as PortOffset + register offset, a plain number, as in C. The
// raw accessors carry no handle, so they look the port up among the ranges every
// adapter of the world has registered (a short list, made on the first registration;
// drivers that use no ports pay nothing). A port in no registered range is
// NdisSim_PortNotRegistered: the read gives all ones, what an x86 read of an unclaimed
// port gives, and the write goes nowhere.

import { removeFrom } from '../block.ts';
import { type DdiIrql, ddiIrql } from '../generated/irql.ts';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_RESOURCE_CONFLICT,
  NDIS_STATUS_SUCCESS,
} from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import { IoPortRange } from '../objects.ts';
import { lowPowerAccess } from '../power-rules.ts';
import type { NDIS_HANDLE, NDIS_STATUS } from '../types.ts';
import { adapterHandle, currentNdis, logResourceConflict, stale } from './common.ts';
import { registerAccessed } from './kernel.ts';

const irql = {
  NdisMRegisterIoPortRange: ddiIrql.NdisMRegisterIoPortRange!,
  NdisMDeregisterIoPortRange: ddiIrql.NdisMDeregisterIoPortRange!,
  NdisRawReadPortUchar: ddiIrql.NdisRawReadPortUchar!,
  NdisRawReadPortUshort: ddiIrql.NdisRawReadPortUshort!,
  NdisRawReadPortUlong: ddiIrql.NdisRawReadPortUlong!,
  NdisRawWritePortUchar: ddiIrql.NdisRawWritePortUchar!,
  NdisRawWritePortUshort: ddiIrql.NdisRawWritePortUshort!,
  NdisRawWritePortUlong: ddiIrql.NdisRawWritePortUlong!,
};

/** The x86 I/O space: 64 K ports. */
const portSpace = 0x1_0000;

const hex = (x: number) => `0x${x.toString(16).toUpperCase()}`;

/**
 * NDIS_STATUS NdisMRegisterIoPortRange(*PortOffset, MiniportAdapterHandle, InitialPort,
 * NumberOfPorts). PASSIVE; from MiniportInitializeEx, after NdisMSetMiniportAttributes
 * (SDV rule NdisMRegisterIoPortRange). The one out-parameter comes back as PortOffset,
 * which is InitialPort (see above). Statuses:
 * - FAILURE: the range is not in the I/O port space (no ports, or past 0xFFFF)
 * - RESOURCE_CONFLICT: the ports are not the adapter's (not inside the port resource
 *   PnP gave its device; a device with none has no ports to claim). NDIS logs
 *   NDIS_ERROR_CODE_RESOURCE_CONFLICT in the event log, as the page says it logs an error.
 */
export function NdisMRegisterIoPortRange(
  MiniportAdapterHandle: NDIS_HANDLE,
  InitialPort: number,
  NumberOfPorts: number,
): { Status: NDIS_STATUS; PortOffset: number | null } {
  const ddi = 'NdisMRegisterIoPortRange';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMRegisterIoPortRange, ddi, b.name);
  if (stale(b, ddi)) return { Status: NDIS_STATUS_FAILURE, PortOffset: null };
  if (!b.inInitialize) {
    n.verifier.report('NdisMRegisterIoPortRange', ddi, b.name, `${ddi} outside MiniportInitializeEx`);
  } else if (b.registration === null) {
    n.verifier.report(
      'NdisMRegisterIoPortRange',
      ddi,
      b.name,
      `${ddi} before NdisMSetMiniportAttributes set the registration attributes`,
    );
  }
  let Status: NDIS_STATUS = NDIS_STATUS_SUCCESS;
  const r = b.dev.resources;
  if (
    !Number.isInteger(InitialPort) ||
    !Number.isInteger(NumberOfPorts) ||
    InitialPort < 0 ||
    NumberOfPorts <= 0 ||
    InitialPort + NumberOfPorts > portSpace
  ) {
    Status = NDIS_STATUS_FAILURE;
  } else if (
    r === null ||
    r.portBase === null ||
    InitialPort < r.portBase ||
    InitialPort + NumberOfPorts > r.portBase + r.portLength
  ) {
    Status = NDIS_STATUS_RESOURCE_CONFLICT;
    logResourceConflict(b);
  } else {
    const range = new IoPortRange(b, r.mmio, InitialPort, NumberOfPorts);
    if (n.ioPortRanges === null) n.ioPortRanges = [];
    n.ioPortRanges.push(range);
  }
  if (n.trace.on) n.traceDdi(ddi, b, { InitialPort: hex(InitialPort), NumberOfPorts, result: Status });
  return { Status, PortOffset: Status === NDIS_STATUS_SUCCESS ? InitialPort : null };
}

/**
 * VOID NdisMDeregisterIoPortRange(MiniportAdapterHandle, InitialPort, NumberOfPorts,
 * PortOffset). PASSIVE. Releases a range exactly as registered: the same InitialPort
 * and NumberOfPorts, and the PortOffset registration returned. Anything else (a
 * subrange, a range released twice, another adapter's) is NdisSim_PortNotRegistered
 * and releases nothing. After the adapter's halt the handle is dead (R2.8): reported,
 * and nothing more to do, since the halt released what was left.
 */
export function NdisMDeregisterIoPortRange(
  MiniportAdapterHandle: NDIS_HANDLE,
  InitialPort: number,
  NumberOfPorts: number,
  PortOffset: number,
): void {
  const ddi = 'NdisMDeregisterIoPortRange';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMDeregisterIoPortRange, ddi, b.name);
  if (stale(b, ddi)) return;
  const range =
    n.ioPortRanges?.find(
      (x) => x.block === b && x.InitialPort === InitialPort && x.NumberOfPorts === NumberOfPorts,
    ) ?? null;
  if (range === null || PortOffset !== InitialPort) {
    n.verifier.report(
      'NdisSim_PortNotRegistered',
      ddi,
      b.name,
      range === null
        ? `${ddi}: ${NumberOfPorts} port(s) at ${hex(InitialPort)} are no range NdisMRegisterIoPortRange registered for ${b.name} (a subrange cannot be released)`
        : `${ddi}: PortOffset ${String(PortOffset)} is not the one NdisMRegisterIoPortRange returned (${hex(InitialPort)})`,
    );
    return;
  }
  removeFrom(n.ioPortRanges!, range);
  if (n.trace.on) n.traceDdi(ddi, b, { InitialPort: hex(InitialPort), NumberOfPorts });
}

/**
 * The registered range holding the `bytes` ports from Port, or null once
 * NdisSim_PortNotRegistered is reported. Every accessor comes through here.
 */
function portRange(ddi: string, bound: DdiIrql, Port: number, bytes: number): IoPortRange | null {
  const n = currentNdis(ddi);
  n.verifier.irql(bound, ddi, null);
  const list = n.ioPortRanges;
  if (list !== null) {
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!;
      if (Port >= r.InitialPort && Port + bytes <= r.InitialPort + r.NumberOfPorts) {
        if (r.block.dev.powerState !== 'D0' || r.block.removalNotified !== null) lowPowerAccess(r.block, ddi);
        registerAccessed(n, ddi);
        return r;
      }
    }
  }
  notRegistered(n, ddi, Port, bytes);
  return null;
}

function notRegistered(n: Ndis, ddi: string, Port: number, bytes: number): void {
  if (typeof Port !== 'number' || !Number.isInteger(Port))
    n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: Port ${String(Port)} is not a port address`);
  n.verifier.report(
    'NdisSim_PortNotRegistered',
    ddi,
    null,
    `${ddi}: port ${hex(Port)}${bytes > 1 ? ` (${bytes} bytes)` : ''} is in no range NdisMRegisterIoPortRange registered`,
  );
}

/** VOID NdisRawReadPortUchar(Port, *Data): any IRQL. The one out-parameter is the return value. */
export function NdisRawReadPortUchar(Port: number): number {
  const r = portRange('NdisRawReadPortUchar', irql.NdisRawReadPortUchar, Port, 1);
  return r === null ? 0xff : r.regs.readNarrow(Port - r.InitialPort, 1);
}

/** VOID NdisRawReadPortUshort(Port, *Data): any IRQL. */
export function NdisRawReadPortUshort(Port: number): number {
  const r = portRange('NdisRawReadPortUshort', irql.NdisRawReadPortUshort, Port, 2);
  return r === null ? 0xffff : r.regs.readNarrow(Port - r.InitialPort, 2);
}

/**
 * VOID NdisRawReadPortUlong(Port, *Data): any IRQL. The same 32-bit access as
 * NdisReadRegisterUlong's: the SimNic has registers only at multiples of 4.
 */
export function NdisRawReadPortUlong(Port: number): number {
  const r = portRange('NdisRawReadPortUlong', irql.NdisRawReadPortUlong, Port, 4);
  return r === null ? 0xffffffff : r.regs.read32(Port - r.InitialPort) >>> 0;
}

/** VOID NdisRawWritePortUchar(Port, Data): any IRQL. */
export function NdisRawWritePortUchar(Port: number, Data: number): void {
  const r = portRange('NdisRawWritePortUchar', irql.NdisRawWritePortUchar, Port, 1);
  if (r !== null) r.regs.writeNarrow(Port - r.InitialPort, 1, Data & 0xff);
}

/** VOID NdisRawWritePortUshort(Port, Data): any IRQL. */
export function NdisRawWritePortUshort(Port: number, Data: number): void {
  const r = portRange('NdisRawWritePortUshort', irql.NdisRawWritePortUshort, Port, 2);
  if (r !== null) r.regs.writeNarrow(Port - r.InitialPort, 2, Data & 0xffff);
}

/** VOID NdisRawWritePortUlong(Port, Data): any IRQL. */
export function NdisRawWritePortUlong(Port: number, Data: number): void {
  const r = portRange('NdisRawWritePortUlong', irql.NdisRawWritePortUlong, Port, 4);
  if (r !== null) r.regs.write32(Port - r.InitialPort, Data >>> 0);
}
