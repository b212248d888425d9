// Resumable dispatch routines (src/ndis/device.ts, src/ndis/resumable.ts): an
// IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ or IRP_MJ_WRITE routine written as a generator
// function yields its waits, so a halt that starts during its sleep runs beside it, as
// on Windows: the race between the routine's check and its use shows, and a halt that
// waits for the routines in flight goes on once they return.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CTL_CODE,
  type DRIVER_DISPATCH,
  FILE_ANY_ACCESS,
  FILE_DEVICE_UNKNOWN,
  IoCompleteRequest,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  METHOD_BUFFERED,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_SUCCESS,
  NdisDeregisterDeviceEx,
  NdisMResetMiniport,
  NdisMSleep,
  NdisRegisterDeviceEx,
  type NTSTATUS,
  type ResumableDispatch,
  STATUS_DEVICE_REMOVED,
  STATUS_SUCCESS,
} from '../src/index.ts';
import type { WorldAction } from '../src/world.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const IOCTL_KICK = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);

interface Globals {
  device: NDIS_HANDLE | null;
  /** The adapter the device's requests act on; MiniportHaltEx clears it. */
  adapter: NDIS_HANDLE | null;
  inFlight: number;
}

const done = (irp: Parameters<DRIVER_DISPATCH>[1], status: NTSTATUS): NTSTATUS => {
  irp.IoStatus.Status = status;
  IoCompleteRequest(irp, 0);
  return status;
};

/**
 * A miniport with a control device whose IOCTL_KICK resets the adapter after a 2 ms
 * settle (NdisMSleep) between its check of the adapter and its use. `how`:
 * - 'racy': resumable; the halt clears the adapter and returns at once;
 * - 'waits': resumable; the halt waits until no request is in flight;
 * - 'waits-plain': the same as a plain function, whose sleep nests.
 */
function kickWorld(how: 'racy' | 'waits' | 'waits-plain') {
  const g: Globals = { device: null, adapter: null, inFlight: 0 };
  const resumable = function* (
    _d: Parameters<DRIVER_DISPATCH>[0],
    irp: Parameters<DRIVER_DISPATCH>[1],
  ): ResumableDispatch {
    const a = g.adapter;
    if (a === null) return done(irp, STATUS_DEVICE_REMOVED);
    g.inFlight++;
    yield NdisMSleep(2000);
    NdisMResetMiniport(a);
    g.inFlight--;
    return done(irp, STATUS_SUCCESS);
  };
  const plain: DRIVER_DISPATCH = (_d, irp) => {
    const a = g.adapter;
    if (a === null) return done(irp, STATUS_DEVICE_REMOVED);
    g.inFlight++;
    NdisMSleep(2000);
    NdisMResetMiniport(a);
    g.inFlight--;
    return done(irp, STATUS_SUCCESS);
  };
  const drv = scriptedDriver(`kick-${how}`, {
    driverEntry: (driver) => {
      const m: DRIVER_DISPATCH[] = [];
      m[IRP_MJ_CREATE] = m[IRP_MJ_CLOSE] = m[IRP_MJ_CLEANUP] = (_d, irp) => done(irp, STATUS_SUCCESS);
      m[IRP_MJ_DEVICE_CONTROL] = how === 'waits-plain' ? plain : resumable;
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\Kick',
        SymbolicName: '\\DosDevices\\Kick',
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      g.device = r.NdisDeviceHandle;
      return r.Status;
    },
    initialize: (a) => {
      g.adapter = a.handle;
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      g.adapter = null;
      if (how !== 'racy') while (g.inFlight > 0) NdisMSleep(100);
      NdisDeregisterDeviceEx(g.device!);
    },
  });
  const at = (atNs: number, action: WorldAction) => ({ atNs, action });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [
      at(500 * ns.ms, { kind: 'open', handle: 'tool', link: 'Kick' }),
      at(1 * ns.s, { kind: 'ioctl', handle: 'tool', code: IOCTL_KICK, input: [], outputLength: 0 }),
      // The removal's halt comes about 1 ms later, inside the request's 2 ms settle.
      at(1 * ns.s + 100 * ns.us, { kind: 'remove', device: 'nic0' }),
      at(2 * ns.s, { kind: 'close', handle: 'tool' }),
    ],
    options: { trace: true },
  });
  return { w, g };
}

test('R5.20: a resumable IOCTL routine that sleeps between its check of the adapter and its use meets the halt, as on Windows: NdisMResetMiniport on a halted adapter', () => {
  const { w } = kickWorld('racy');
  const r = w.run(3 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_StaleHandle', r.message ?? r.bugCheck?.message);
  assert.equal(r.bugCheck?.ddi, 'NdisMResetMiniport');
  // The halt ran while the routine was set aside, and the routine went on after it.
  const ev = w.trace.events;
  const halt = ev.findIndex((e) => e.kind === 'return' && e.what === 'MiniportHaltEx');
  const wake = ev.findIndex(
    (e) => e.kind === 'wake' && e.what === 'NdisMSleep' && e.data?.thread !== undefined,
  );
  assert.ok(halt >= 0 && halt < wake, `halt returned at ${halt}, the routine woke at ${wake}`);
});

test('R2.10: a halt that waits for the resumable IOCTL routines in flight goes on once they return; the request completes', () => {
  const { w, g } = kickWorld('waits');
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? r.bugCheck?.message);
  assert.equal(g.inFlight, 0);
  assert.deepEqual(
    w.ioResults.map((x) => [x.request, x.statusName]),
    [['DeviceIoControl', 'STATUS_SUCCESS']],
  );
  assert.equal(w.device('nic0').status, 'removed');
  assert.deepEqual(r.modelNotes, []);
});

test('the same IOCTL routine as a plain function nests its sleep under the halt that waits for it: not-modelled', () => {
  const { w } = kickWorld('waits-plain');
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /^the run ended with DispatchDeviceControl blocked in NdisMSleep since its wake-up time 1\.002000 s, .*; write DispatchDeviceControl as a resumable routine/,
  );
});

test('a resumable IRP_MJ_CREATE routine is not modelled: the I/O manager goes on from what a create returns', () => {
  const drv = scriptedDriver('lazy-create', {
    driverEntry: (driver) => {
      const m: DRIVER_DISPATCH[] = [];
      m[IRP_MJ_CREATE] = function* (_d, irp): ResumableDispatch {
        yield NdisMSleep(10);
        return done(irp, STATUS_SUCCESS);
      };
      m[IRP_MJ_CLOSE] = m[IRP_MJ_CLEANUP] = (_d, irp) => done(irp, STATUS_SUCCESS);
      return NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\Lazy',
        SymbolicName: '\\DosDevices\\Lazy',
        MajorFunctions: m,
        ExtensionSize: 0,
      }).Status;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 500 * ns.ms, action: { kind: 'open', handle: 'tool', link: 'Lazy' } }],
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /^DispatchCreate is not modelled by ndis-sim: a resumable DispatchCreate routine \(a generator function\): only the IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ and IRP_MJ_WRITE routines may yield/,
  );
});
