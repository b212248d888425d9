// Standalone device objects (NdisRegisterDeviceEx) and the user-mode application that
// sends them IOCTLs: registration and its checks, the IRPs of create, device control,
// cleanup and close, IoCompleteRequest, the unload a device holds back, the scenario
// actions, and examples/ioctl-race (a dispatch routine's timer that uses a halted
// adapter, R5.20).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ioctlRace, ioctlRaceFixed } from '../examples/ioctl-race.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import {
  CTL_CODE,
  type DEVICE_OBJECT,
  DelayedWorkQueue,
  type DISPATCH_IO_STACK_LOCATION,
  type DRIVER_DISPATCH,
  type DRIVER_OBJECT,
  type DriverModule,
  FILE_ANY_ACCESS,
  FILE_DEVICE_UNKNOWN,
  IO_NO_INCREMENT,
  type IO_WORKITEM,
  IoAllocateWorkItem,
  IoCompleteRequest,
  IoFreeWorkItem,
  IoMarkIrpPending,
  IoQueueWorkItem,
  IoReleaseCancelSpinLock,
  IoSetCancelRoutine,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_POWER,
  METHOD_BUFFERED,
  NDIS_CURRENT_IRQL,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  NDIS_FILTER_ATTRIBUTES_REVISION_1,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NDIS_HANDLE,
  NDIS_LOWER_IRQL,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_BUFFER_OVERFLOW,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireSpinLock,
  NdisAllocateIoWorkItem,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisDeregisterDeviceEx,
  NdisFDeregisterFilterDriver,
  NdisFNetPnPEvent,
  NdisFRegisterFilterDriver,
  NdisFreeIoWorkItem,
  NdisFreeTimerObject,
  NdisFSetAttributes,
  NdisGetDeviceReservedExtension,
  NdisMDeregisterMiniportDriver,
  NdisMOidRequestComplete,
  NdisQueueIoWorkItem,
  NdisRegisterDeviceEx,
  NdisReleaseSpinLock,
  NdisSetTimerObject,
  type NET_PNP_EVENT_NOTIFICATION,
  type NTSTATUS,
  OID_GEN_CURRENT_PACKET_FILTER,
  STATUS_CANCELLED,
  STATUS_INVALID_DEVICE_REQUEST,
  STATUS_INVALID_HANDLE,
  STATUS_OBJECT_NAME_COLLISION,
  STATUS_OBJECT_NAME_NOT_FOUND,
  STATUS_PENDING,
  STATUS_SUCCESS,
} from '../src/index.ts';
import { ioResultsMax } from '../src/ndis/device.ts';
import { untilNs } from '../src/scenario/build.ts';
import { validateScenario } from '../src/scenario/load.ts';
import type { Scenario } from '../src/scenario/schema.ts';
import { World, type WorldAction } from '../src/world.ts';
import { cli } from './helpers/cli.ts';
import { filterIdentity } from './helpers/filter.ts';
import { after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { exampleScenario, failingSeeds, runExample } from './helpers/seeds.ts';
import { ns, testWorld } from './helpers/world.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

const IOCTL_ECHO = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

/** Echoes the input back, reversed, as far as the output buffer takes it. */
const echo: DRIVER_DISPATCH = (_d, irp) => {
  const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
  if (p.IoControlCode !== IOCTL_ECHO) return complete(irp, STATUS_INVALID_DEVICE_REQUEST);
  const buf = irp.AssociatedIrp.SystemBuffer!;
  const input = Array.from(buf.subarray(0, p.InputBufferLength)).reverse();
  const n = Math.min(input.length, p.OutputBufferLength);
  buf.set(input.slice(0, n));
  return complete(irp, STATUS_SUCCESS, n);
};

function majors(control: DRIVER_DISPATCH | null = echo, cleanup?: DRIVER_DISPATCH): DRIVER_DISPATCH[] {
  const m: DRIVER_DISPATCH[] = [];
  m[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLOSE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLEANUP] = cleanup ?? ((_d, irp) => complete(irp, STATUS_SUCCESS));
  if (control !== null) m[IRP_MJ_DEVICE_CONTROL] = control;
  return m;
}

function attributes(name: string, m: DRIVER_DISPATCH[], ExtensionSize = 0) {
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
      Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
    },
    DeviceName: `\\Device\\${name}`,
    SymbolicName: `\\DosDevices\\${name}`,
    MajorFunctions: m,
    ExtensionSize,
  };
}

interface Dev {
  handle: NDIS_HANDLE | null;
  object: DEVICE_OBJECT | null;
  status: number;
  driver: NDIS_HANDLE | null;
}

/**
 * A scripted miniport that registers \Device\TestCtl in DriverEntry and, unless `keep`,
 * deregisters it in MiniportHaltEx; nic0 is removed at `removeAtNs` (none: never).
 */
function run(o: {
  majors?: DRIVER_DISPATCH[];
  actions?: { atNs: number; action: WorldAction }[];
  removeAtNs?: number;
  untilNs?: number;
  keep?: boolean;
  hooks?: Hooks;
  ExtensionSize?: number;
  linkDownAtNs?: number;
  trace?: boolean;
}) {
  const dev: Dev = { handle: null, object: null, status: -1, driver: null };
  const drv = scriptedDriver('ctl-nic', {
    driverEntry: (driver) => {
      dev.driver = driver;
      const r = NdisRegisterDeviceEx(driver, attributes('TestCtl', o.majors ?? majors(), o.ExtensionSize));
      dev.handle = r.NdisDeviceHandle;
      dev.object = r.pDeviceObject;
      dev.status = r.Status;
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      if (o.keep !== true && dev.handle !== null) NdisDeregisterDeviceEx(dev.handle);
    },
    ...o.hooks,
  });
  const actions = [...(o.actions ?? [])];
  if (o.removeAtNs !== undefined)
    actions.push({ atNs: o.removeAtNs, action: { kind: 'remove', device: 'nic0' } });
  const w = testWorld({
    drivers: [drv],
    devices: [
      {
        name: 'nic0',
        driver: 'ctl-nic',
        ...(o.linkDownAtNs === undefined ? {} : { faults: { linkDownAtNs: o.linkDownAtNs } }),
      },
    ],
    actions,
    options: { verifier: 'collect', ...(o.trace === false ? { trace: false } : {}) },
  });
  const r = w.run(o.untilNs ?? 3 * ns.s);
  return { w, r, drv, dev };
}

const open = (atNs: number, handle = 'tool', link = 'TestCtl') => ({
  atNs,
  action: { kind: 'open', handle, link } as WorldAction,
});
const ioctl = (atNs: number, code: number, input: number[] = [], outputLength = 0, handle = 'tool') => ({
  atNs,
  action: { kind: 'ioctl', handle, code, input, outputLength } as WorldAction,
});
const close = (atNs: number, handle = 'tool') => ({ atNs, action: { kind: 'close', handle } as WorldAction });

const rules = (r: { violations: { rule: string }[] }) => r.violations.map((v) => v.rule);

test('NdisRegisterDeviceEx: a device, its extension, and the tool opening it, sending IOCTLs and closing it', () => {
  let ext: (Uint8Array | null)[] = [];
  const seen: string[] = [];
  const track =
    (name: string): DRIVER_DISPATCH =>
    (d, irp) => {
      ext.push(NdisGetDeviceReservedExtension(d));
      seen.push(`${name} ${irp.Tail.Overlay.CurrentStackLocation.MajorFunction}`);
      return name === 'control' ? echo(d, irp) : complete(irp, STATUS_SUCCESS);
    };
  const m: DRIVER_DISPATCH[] = [];
  m[IRP_MJ_CREATE] = track('create');
  m[IRP_MJ_CLEANUP] = track('cleanup');
  m[IRP_MJ_CLOSE] = track('close');
  m[IRP_MJ_DEVICE_CONTROL] = track('control');
  const { w, r, dev } = run({
    majors: m,
    ExtensionSize: 16,
    actions: [
      open(ns.s),
      ioctl(ns.s + ns.ms, IOCTL_ECHO, [1, 2, 3], 8),
      ioctl(ns.s + 2 * ns.ms, IOCTL_ECHO, [1, 2, 3], 2),
      ioctl(ns.s + 3 * ns.ms, 0x00222010),
      close(2 * ns.s),
    ],
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.equal(dev.status, NDIS_STATUS_SUCCESS);
  assert.ok(dev.handle !== null && dev.object !== null && dev.handle !== (dev.object as unknown));
  // One extension of ExtensionSize bytes, the same array every time.
  assert.equal(ext[0]?.length, 16);
  assert.ok(ext.every((e) => e === ext[0]));
  assert.deepEqual(seen, [
    `create ${IRP_MJ_CREATE}`,
    `control ${IRP_MJ_DEVICE_CONTROL}`,
    `control ${IRP_MJ_DEVICE_CONTROL}`,
    `control ${IRP_MJ_DEVICE_CONTROL}`,
    `cleanup ${IRP_MJ_CLEANUP}`,
    `close ${IRP_MJ_CLOSE}`,
  ]);
  assert.deepEqual(
    w.ioResults.map((x) => [x.statusName, x.information, x.output]),
    [
      ['STATUS_SUCCESS', 3, [3, 2, 1]],
      ['STATUS_SUCCESS', 2, [3, 2]],
      ['STATUS_INVALID_DEVICE_REQUEST', 0, []],
    ],
  );
  // The trace tells each result.
  const done = w.trace.events.filter((e) => e.what === 'DeviceIoControl tool completes');
  assert.equal(done.length, 3);
  assert.equal(done[0]!.data?.output, '03 02 01');
  ext = [];
});

test('a long output is traced as its first 32 bytes and its length; the application gets all of it', () => {
  const input = Array.from({ length: 40 }, (_, i) => i);
  const { w } = run({ actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO, input, 40)] });
  assert.deepEqual(w.ioResults[0]?.output, [...input].reverse());
  const done = w.trace.events.find((e) => e.what === 'DeviceIoControl tool completes');
  const first = [...input]
    .reverse()
    .slice(0, 32)
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(' ');
  assert.equal(done?.data?.output, `${first} … (40 bytes)`);
});

test('a device without ExtensionSize has no extension; an unknown link, a closed handle and a missing routine fail in the I/O manager', () => {
  let extension: Uint8Array | null | undefined;
  const m = majors(null);
  m[IRP_MJ_CREATE] = (d, irp) => {
    extension = NdisGetDeviceReservedExtension(d);
    return complete(irp, STATUS_SUCCESS);
  };
  const { w, r } = run({
    majors: m,
    actions: [
      open(ns.s, 'nope', 'NoSuchCtl'),
      ioctl(ns.s + ns.ms, IOCTL_ECHO, [], 0, 'nope'),
      open(ns.s + 2 * ns.ms),
      ioctl(ns.s + 3 * ns.ms, IOCTL_ECHO),
      close(ns.s + 4 * ns.ms),
      ioctl(ns.s + 5 * ns.ms, IOCTL_ECHO),
    ],
  });
  assert.equal(r.verdict, 'ok');
  assert.equal(extension, null);
  assert.deepEqual(
    w.ioResults.map((x) => x.status),
    [STATUS_INVALID_HANDLE, STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_HANDLE],
  );
  const create = w.trace.events.find((e) => e.what === 'CreateFile \\\\.\\NoSuchCtl');
  assert.equal(create?.data?.Status, 'STATUS_OBJECT_NAME_NOT_FOUND');
  assert.equal(STATUS_OBJECT_NAME_NOT_FOUND, 0xc0000034);
});

test('NdisRegisterDeviceEx: bad attributes fail with NDIS_STATUS_INVALID_PARAMETER, a name in use with STATUS_OBJECT_NAME_COLLISION', () => {
  const got: number[] = [];
  const { r } = run({
    hooks: {
      driverEntry: (driver) => {
        const good = attributes('TestCtl', majors());
        got.push(NdisRegisterDeviceEx(driver, good).Status);
        got.push(NdisRegisterDeviceEx(driver, { ...good, Header: { ...good.Header, Revision: 2 } }).Status);
        got.push(NdisRegisterDeviceEx(driver, { ...good, DeviceName: 'TestCtl2' }).Status);
        got.push(NdisRegisterDeviceEx(driver, { ...good, SymbolicName: '\\DosDevices\\Other' }).Status);
        return NDIS_STATUS_SUCCESS;
      },
      halt: () => {},
    },
  });
  assert.deepEqual(got, [
    NDIS_STATUS_SUCCESS,
    NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_INVALID_PARAMETER,
    STATUS_OBJECT_NAME_COLLISION,
  ]);
  assert.deepEqual(rules(r), []);
});

test('NdisAllocateIoWorkItem page: a miniport may pass the NdisDeviceHandle of its NdisRegisterDeviceEx device; the routine runs at PASSIVE; after NdisDeregisterDeviceEx the handle is gone (NdisSim_ObjectFreedInUse)', () => {
  const go = (late: boolean) => {
    let device: NDIS_HANDLE | null = null;
    const ran: number[] = [];
    const drv = scriptedDriver(`wi-device-${late}`, {
      driverEntry: (driver) => {
        device = NdisRegisterDeviceEx(driver, attributes('WiCtl', majors())).NdisDeviceHandle;
        return NDIS_STATUS_SUCCESS;
      },
      initialize: () => {
        const w = NdisAllocateIoWorkItem(device!);
        assert.notEqual(w, null);
        NdisQueueIoWorkItem(
          w!,
          (_c, item) => {
            ran.push(NDIS_CURRENT_IRQL());
            NdisFreeIoWorkItem(item);
          },
          null,
        );
        return NDIS_STATUS_SUCCESS;
      },
      halt: () => {
        NdisDeregisterDeviceEx(device!);
        if (late) NdisAllocateIoWorkItem(device!);
      },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
      options: { verifier: 'collect' },
    });
    return { r: w.run(2 * ns.s), ran };
  };
  const ok = go(false);
  assert.deepEqual(rules(ok.r), []);
  assert.deepEqual(ok.ran, [0]);
  const late = go(true);
  assert.deepEqual(rules(late.r), ['NdisSim_ObjectFreedInUse']);
  assert.match(late.r.violations[0]!.message, /deregistered already/);
});

test('NdisSim_DeviceRegistration: a power dispatch routine, a DeviceClassGuid, or a deregistered driver', () => {
  const got: number[] = [];
  const { r } = run({
    hooks: {
      driverEntry: (driver) => {
        const m = majors();
        m[IRP_MJ_POWER] = (_d, irp) => complete(irp, STATUS_SUCCESS);
        got.push(NdisRegisterDeviceEx(driver, attributes('A', m)).Status);
        const guid = { ...attributes('B', majors()), DeviceClassGuid: {} as unknown as null };
        got.push(NdisRegisterDeviceEx(driver, guid).Status);
        return NDIS_STATUS_SUCCESS;
      },
      unload: (driver) => {
        NdisMDeregisterMiniportDriver(driver);
        got.push(NdisRegisterDeviceEx(driver, attributes('C', majors())).Status);
      },
      halt: () => {},
    },
    removeAtNs: ns.s,
  });
  assert.deepEqual(got, [NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_INVALID_PARAMETER, NDIS_STATUS_FAILURE]);
  assert.deepEqual(rules(r), [
    'NdisSim_DeviceRegistration',
    'NdisSim_DeviceRegistration',
    'NdisSim_DeviceRegistration',
    // The scripted driver's unload deregisters after the hook: its call is the second.
    'NdisSim_ObjectFreedInUse',
  ]);
});

test('NdisRegisterDeviceEx page: a handle that is not a miniport or filter driver handle (the adapter handle, any other object) fails with NDIS_STATUS_NOT_SUPPORTED and is NdisSim_DeviceRegistration', () => {
  const got: { Status: number; object: unknown; handle: unknown }[] = [];
  const { r } = run({
    hooks: {
      initialize: (a) => {
        for (const h of [a.handle, {} as unknown as NDIS_HANDLE]) {
          const x = NdisRegisterDeviceEx(h, attributes('X', majors()));
          got.push({ Status: x.Status, object: x.pDeviceObject, handle: x.NdisDeviceHandle });
        }
        return NDIS_STATUS_SUCCESS;
      },
    },
  });
  assert.equal(r.verdict, 'violations');
  assert.deepEqual(got, [
    { Status: NDIS_STATUS_NOT_SUPPORTED, object: null, handle: null },
    { Status: NDIS_STATUS_NOT_SUPPORTED, object: null, handle: null },
  ]);
  assert.deepEqual(rules(r), ['NdisSim_DeviceRegistration', 'NdisSim_DeviceRegistration']);
  assert.match(r.violations[0]!.message, /not a miniport driver handle .*NDIS_STATUS_NOT_SUPPORTED/);
});

test('Irql_Miscellaneous_Function: NdisRegisterDeviceEx and NdisDeregisterDeviceEx at DISPATCH_LEVEL', () => {
  const { r } = run({
    hooks: {
      driverEntry: (driver) => {
        const old = NDIS_RAISE_IRQL_TO_DISPATCH();
        const x = NdisRegisterDeviceEx(driver, attributes('TestCtl', majors()));
        if (x.NdisDeviceHandle !== null) NdisDeregisterDeviceEx(x.NdisDeviceHandle);
        NDIS_LOWER_IRQL(old, 2);
        return NDIS_STATUS_SUCCESS;
      },
      halt: () => {},
    },
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.bugCheck.code]),
    [
      ['Irql_Miscellaneous_Function', 'NdisRegisterDeviceEx', 0xd1],
      ['Irql_Miscellaneous_Function', 'NdisDeregisterDeviceEx', 0xd1],
    ],
  );
});

test('NdisSim_DeviceDeregister: the DEVICE_OBJECT instead of the handle, and a second deregistration', () => {
  const mine: { dev: Dev | null } = { dev: null };
  const { r } = run({
    keep: true,
    hooks: {
      driverEntry: (driver) => {
        const x = NdisRegisterDeviceEx(driver, attributes('TestCtl', majors()));
        mine.dev = { handle: x.NdisDeviceHandle, object: x.pDeviceObject, status: x.Status, driver };
        return NDIS_STATUS_SUCCESS;
      },
      halt: () => {
        const dev = mine.dev!;
        NdisDeregisterDeviceEx(dev.object as unknown as NDIS_HANDLE);
        NdisDeregisterDeviceEx(dev.handle!);
        NdisDeregisterDeviceEx(dev.handle!);
      },
    },
    removeAtNs: ns.s,
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.message.includes('DEVICE_OBJECT') ? 'object' : 'twice']),
    [
      ['NdisSim_DeviceDeregister', 'object'],
      ['NdisSim_DeviceDeregister', 'twice'],
    ],
  );
  assert.equal(r.violations[0]!.bugCheck.params[0], 0x4e530081);
});

test('NdisSim_DeviceNotDeregistered (R2.16): a device left at the last removal keeps the driver loaded; at NdisMDeregisterMiniportDriver too', () => {
  const { w, r, drv } = run({ keep: true, removeAtNs: ns.s });
  assert.deepEqual(rules(r), ['NdisSim_DeviceNotDeregistered']);
  assert.equal(r.violations[0]!.ddi, 'MiniportDriverUnload');
  assert.ok(!drv.calls.some((c) => c.startsWith('MiniportDriverUnload')), 'Windows does not unload it');
  assert.equal(w.ndis.drivers.get('ctl-nic')?.unloaded, false);
  // A DriverEntry that gives up after registering its device, without deregistering it.
  const early = run({
    hooks: {
      driverEntry: (driver) => {
        NdisRegisterDeviceEx(driver, attributes('TestCtl', majors()));
        NdisMDeregisterMiniportDriver(driver);
        return NDIS_STATUS_FAILURE;
      },
    },
  });
  assert.deepEqual(
    early.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_DeviceNotDeregistered', 'NdisMDeregisterMiniportDriver']],
  );
});

test('NdisDeregisterDeviceEx with a handle open: no new open, the open handle still reaches the driver, the unload waits for CloseHandle', () => {
  const { w, r, drv } = run({
    removeAtNs: ns.s,
    actions: [
      open(ns.s / 2),
      ioctl(ns.s + 500 * ns.ms, IOCTL_ECHO, [7], 1),
      open(ns.s + 600 * ns.ms, 'late'),
      close(2 * ns.s),
    ],
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(
    w.ioResults.map((x) => [x.statusName, x.output]),
    [['STATUS_SUCCESS', [7]]],
  );
  const late = w.trace.events.find(
    (e) => e.what === 'CreateFile \\\\.\\TestCtl' && e.data?.handle === 'late',
  );
  assert.equal(late?.data?.Status, 'STATUS_OBJECT_NAME_NOT_FOUND');
  const unload = w.trace.events.findIndex((e) => e.kind === 'call' && e.what === 'MiniportDriverUnload');
  const closeAt = w.trace.events.findIndex((e) => e.what === 'CloseHandle tool');
  assert.ok(closeAt >= 0 && unload > closeAt, `unload ${unload} after close ${closeAt}`);
  assert.equal(w.trace.events[unload]!.t, 2 * ns.s);
  assert.ok(drv.calls.includes('MiniportDriverUnload'));
});

test('a pended request completed later from a timer: the tool hears then; pending until then', () => {
  let timer: NDIS_HANDLE | null = null;
  let held: Irp | null = null;
  const control: DRIVER_DISPATCH = (_d, irp) => {
    IoMarkIrpPending(irp);
    held = irp;
    NdisSetTimerObject(timer!, -10_000 * 50, 0, null); // 50 ms
    return STATUS_PENDING;
  };
  const { w, r } = run({
    majors: majors(control),
    hooks: {
      initialize: (a) => {
        timer = NdisAllocateTimerObject(a.handle, {
          Header: {
            Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
            Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
          },
          AllocationTag: 0x74736574,
          TimerFunction: () => complete(held!, STATUS_SUCCESS),
          FunctionContext: null,
        }).TimerObject;
        return NDIS_STATUS_SUCCESS;
      },
      halt: () => NdisFreeTimerObject(timer!),
    },
    actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
    untilNs: ns.s + 20 * ns.ms,
  });
  assert.equal(r.verdict, 'ok');
  assert.equal(w.ioResults.length, 0);
  assert.match(
    r.pending.join('\n'),
    /DeviceIoControl 0x00222004 of handle tool \(sent at 1\.000000 s\) still pending/,
  );
  const later = w.run(ns.s + 100 * ns.ms);
  assert.deepEqual(later.pending, []);
  assert.deepEqual(
    w.ioResults.map((x) => x.statusName),
    ['STATUS_SUCCESS'],
  );
  // The timer's 50 ms, and its DPC's latency.
  const took = w.ioResults[0]!.completedNs - w.ioResults[0]!.sentNs;
  assert.ok(took >= 50 * ns.ms && took < 51 * ns.ms, `${took} ns`);
});

test('requests still pending at the end are listed one line per code and handle, with their count and send times', () => {
  const { r } = run({
    majors: majors((_d, irp) => {
      IoMarkIrpPending(irp);
      return STATUS_PENDING; // never completed: the run ends with all of them out
    }),
    actions: [
      open(ns.s / 2),
      open(ns.s / 2, 'other'),
      ioctl(ns.s, IOCTL_ECHO),
      ioctl(ns.s + ns.ms, IOCTL_ECHO),
      ioctl(ns.s + 2 * ns.ms, IOCTL_ECHO),
      ioctl(ns.s + 3 * ns.ms, IOCTL_ECHO, [], 0, 'other'),
    ],
    untilNs: 2 * ns.s,
  });
  assert.deepEqual(
    r.pending.filter((p) => p.startsWith('DeviceIoControl')),
    [
      'DeviceIoControl 0x00222004 of handle tool (3 requests, sent from 1.000000 s to 1.002000 s) still pending in ctl-nic',
      'DeviceIoControl 0x00222004 of handle other (sent at 1.003000 s) still pending in ctl-nic',
    ],
  );
});

test('NdisSim_IrpNotCompleted (0xC9/0x226, 0xC9/0x23D, 0xC9/0x06): returned without completing, pended without IoMarkIrpPending, completed with STATUS_PENDING', () => {
  const { r } = run({
    majors: majors((_d, irp) => {
      const code = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!.IoControlCode;
      if (code === 0x00222010) return STATUS_SUCCESS; // not completed
      if (code === 0x00222014) return STATUS_PENDING; // not marked pending, never completed
      complete(irp, STATUS_PENDING); // completed, without a final status
      return STATUS_SUCCESS;
    }),
    actions: [
      open(ns.s / 2),
      ioctl(ns.s, 0x00222010),
      ioctl(ns.s + 1, 0x00222014),
      ioctl(ns.s + 2, 0x00222018),
      close(2 * ns.s),
    ],
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.bugCheck.code, v.bugCheck.params[0]]),
    [
      ['NdisSim_IrpNotCompleted', 0xc9, 0x226],
      ['NdisSim_IrpNotCompleted', 0xc9, 0x23d],
      ['NdisSim_IrpNotCompleted', 0xc9, 0x06],
    ],
  );
  // The request pended without a Cancel routine is in progress: the handle's
  // IRP_MJ_CLOSE waits for it, for ever.
  assert.match(
    r.pending.join('\n'),
    /the IRP_MJ_CLOSE of handle tool \(closed by the application\) waits for its 1 pending request/,
  );
});

test("nf-wdm-iomarkirppending: a routine that marks its IRP pending returns STATUS_PENDING, even when it completed the IRP; returning its status is NdisSim_IrpNotCompleted with Driver Verifier's 0xC9/0x23E", () => {
  const { r } = run({
    majors: majors((_d, irp) => {
      const code = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!.IoControlCode;
      IoMarkIrpPending(irp);
      complete(irp, STATUS_SUCCESS);
      return code === IOCTL_ECHO ? STATUS_PENDING : STATUS_SUCCESS;
    }),
    actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO), ioctl(ns.s + 1, 0x00222010), close(2 * ns.s)],
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.bugCheck.code, v.bugCheck.params[0], v.bugCheck.params[3]]),
    [['NdisSim_IrpNotCompleted', 'DispatchDeviceControl', 0xc9, 0x23e, STATUS_SUCCESS]],
  );
});

test('NdisSim_IrpPendingAtClose (dispatchcleanup-routines): a request the cleanup routine leaves in its queue, still cancelable; one it completes is fine', () => {
  let held: Irp | null = null;
  const control: DRIVER_DISPATCH = (_d, irp) => {
    IoMarkIrpPending(irp);
    IoSetCancelRoutine(irp, (_dev, i) => {
      IoReleaseCancelSpinLock(i.CancelIrql);
      held = null;
      complete(i, STATUS_CANCELLED);
    });
    held = irp;
    return STATUS_PENDING;
  };
  const actions = [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO), close(2 * ns.s)];
  const bad = run({ majors: majors(control), actions });
  assert.deepEqual(
    bad.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_IrpPendingAtClose', 'DispatchCleanup']],
  );
  const good = run({
    majors: majors(control, (_d, irp) => {
      if (held !== null && IoSetCancelRoutine(held, null) !== null) complete(held, STATUS_CANCELLED);
      held = null;
      return complete(irp, STATUS_SUCCESS);
    }),
    actions,
  });
  assert.deepEqual(rules(good.r), []);
  assert.deepEqual(
    good.w.ioResults.map((x) => x.statusName),
    ['STATUS_CANCELLED'],
  );
});

test('irp-mj-cleanup: a request in progress (not cancelable) may outlive the cleanup; IRP_MJ_CLOSE comes once it completes, from a thread at PASSIVE_LEVEL', () => {
  let held: Irp | null = null;
  const seen: string[] = [];
  const m = majors((_d, irp) => {
    IoMarkIrpPending(irp);
    held = irp; // the hardware has it: completed at the next check for hang
    return STATUS_PENDING;
  });
  m[IRP_MJ_CLOSE] = (_d, irp) => {
    seen.push(`close ${NDIS_CURRENT_IRQL()}`);
    return complete(irp, STATUS_SUCCESS);
  };
  const { r, w } = run({
    majors: m,
    hooks: {
      checkForHang: () => {
        if (held !== null) {
          seen.push('complete');
          complete(held, STATUS_SUCCESS);
          seen.push('completed');
        }
        held = null;
        return false;
      },
    },
    actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO), close(ns.s + ns.ms)],
    untilNs: 5 * ns.s,
  });
  assert.deepEqual(rules(r), []);
  // Not from inside IoCompleteRequest: after it, from a thread at PASSIVE_LEVEL.
  assert.deepEqual(seen, ['complete', 'completed', 'close 0']);
  assert.deepEqual(r.pending, []);
  assert.deepEqual(
    w.ioResults.map((x) => x.statusName),
    ['STATUS_SUCCESS'],
  );
});

test('the device is deleted in halt while the handle stays open with the request pending: the driver stays loaded', () => {
  const control: DRIVER_DISPATCH = (_d, irp) => {
    IoMarkIrpPending(irp);
    return STATUS_PENDING;
  };
  const unload = run({
    majors: majors(control),
    actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
    removeAtNs: 2 * ns.s,
  });
  assert.deepEqual(rules(unload.r), []);
  assert.ok(!unload.drv.calls.includes('MiniportDriverUnload'));
  assert.match(unload.r.pending.join('\n'), /still pending in ctl-nic/);
});

test('NdisSim_Irql (0xC9/0x0E): IoCompleteRequest from the ISR, at DIRQL', () => {
  let held: Irp | null = null;
  const { r } = run({
    majors: majors((_d, irp) => {
      IoMarkIrpPending(irp);
      held = irp; // completed when the link changes
      return STATUS_PENDING;
    }),
    hooks: {
      isr: () => {
        if (held === null) return;
        complete(held, STATUS_SUCCESS);
        held = null;
      },
    },
    actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
    linkDownAtNs: 2 * ns.s,
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.bugCheck.code, v.bugCheck.params[0], v.bugCheck.params[1]]),
    [['NdisSim_Irql', 'IoCompleteRequest', 0xc9, 0x0e, 3]],
  );
});

test('NdisSim_IrpDoubleComplete (0x44): IoCompleteRequest twice', () => {
  const { r } = run({
    majors: majors((_d, irp) => {
      complete(irp, STATUS_SUCCESS);
      return complete(irp, STATUS_SUCCESS);
    }),
    actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.bugCheck.code]),
    [['NdisSim_IrpDoubleComplete', 0x44]],
  );
});

test('NdisSim_BadParameter: IoCompleteRequest of a copy of the IRP, or of an object that never was one', () => {
  for (const fake of [
    (irp: Irp) => ({ ...irp }),
    () => ({ IoStatus: { Status: 0, Information: 0 } }) as Irp,
  ]) {
    const { r } = run({
      majors: majors((_d, irp) => complete(fake(irp), STATUS_SUCCESS)),
      actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
    });
    assert.equal(r.verdict, 'bugcheck');
    assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter');
    assert.match(r.bugCheck?.message ?? '', /IoCompleteRequest: the IRP is not one the I\/O manager sent/);
  }
});

test('NdisSim_ObjectFreedInUse: IoMarkIrpPending or IoSetCancelRoutine on an IRP IoCompleteRequest completed already (nf-wdm-iocompleterequest)', () => {
  // Each returns what it must after its call (a marked IRP's routine returns PENDING).
  const cases: [string, (irp: Irp) => NTSTATUS][] = [
    [
      'IoMarkIrpPending',
      (irp) => {
        IoMarkIrpPending(irp);
        return STATUS_PENDING;
      },
    ],
    [
      'IoSetCancelRoutine',
      (irp) => {
        IoSetCancelRoutine(irp, null);
        return STATUS_SUCCESS;
      },
    ],
  ];
  for (const [ddi, late] of cases) {
    const { r } = run({
      majors: majors((_d, irp) => {
        complete(irp, STATUS_SUCCESS);
        return late(irp);
      }),
      actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
    });
    assert.deepEqual(
      r.violations.map((v) => [v.rule, v.ddi]),
      [['NdisSim_ObjectFreedInUse', ddi]],
      ddi,
    );
    assert.match(r.violations[0]!.message, /that IoCompleteRequest completed already/);
  }
  // Marked first, completed after: the order the IoMarkIrpPending page wants.
  const { r } = run({
    majors: majors((_d, irp) => {
      IoMarkIrpPending(irp);
      IoSetCancelRoutine(irp, null);
      complete(irp, STATUS_SUCCESS);
      return STATUS_PENDING;
    }),
    actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
  });
  assert.deepEqual(r.violations, []);
});

test('R8.11 NdisSim_LockHeldAcrossCall: IoCompleteRequest holding a spin lock the driver took (nf-wdm-iocompleterequest); released first, it passes', () => {
  const outcome = (releaseFirst: boolean) => {
    const lock = new NDIS_SPIN_LOCK();
    let allocated = false;
    const { r } = run({
      majors: majors((_d, irp) => {
        if (!allocated) NdisAllocateSpinLock(lock);
        allocated = true;
        NdisAcquireSpinLock(lock);
        if (releaseFirst) NdisReleaseSpinLock(lock);
        irp.IoStatus.Status = STATUS_SUCCESS;
        irp.IoStatus.Information = 0;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        if (!releaseFirst) NdisReleaseSpinLock(lock);
        return STATUS_SUCCESS;
      }),
      actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO)],
    });
    return r.violations.map((v) => [
      v.rule,
      v.ddi,
      v.message.includes('completing an IRP runs the completion work'),
    ]);
  };
  assert.deepEqual(outcome(false), [['NdisSim_LockHeldAcrossCall', 'IoCompleteRequest', true]]);
  assert.deepEqual(outcome(true), []);
});

test('NdisSim_IrpInformationOverrun (0xC9/0x312): Information past OutputBufferLength on a status the I/O manager copies back for; not on an error status', () => {
  const outcome = (status: NTSTATUS, information: number) => {
    const { r, w } = run({
      majors: majors((_d, irp) => complete(irp, status, information)),
      actions: [open(ns.s / 2), ioctl(ns.s, IOCTL_ECHO, [1, 2], 4)],
    });
    return {
      violations: r.violations.map((v) => [v.rule, v.bugCheck.code, v.bugCheck.params[0]]),
      output: w.ioResults.find((x) => x.IoControlCode === IOCTL_ECHO)?.output.length,
    };
  };
  assert.deepEqual(outcome(STATUS_SUCCESS, 64), {
    violations: [['NdisSim_IrpInformationOverrun', 0xc9, 0x312]],
    output: 4,
  });
  assert.deepEqual(outcome(NDIS_STATUS_BUFFER_OVERFLOW, 5).violations, [
    ['NdisSim_IrpInformationOverrun', 0xc9, 0x312],
  ]);
  assert.deepEqual(outcome(STATUS_SUCCESS, 4), { violations: [], output: 4 });
  assert.deepEqual(outcome(STATUS_INVALID_DEVICE_REQUEST, 64).violations, []);
});

/**
 * A filter driver `name` that registers \\Device\\<ctl> in DriverEntry with its filter
 * driver handle; `detached(device)` runs when a module detaches; its unload only
 * deregisters the filter driver.
 */
function deviceFilter(
  name: string,
  guid: string,
  ctl: string,
  detached: (device: NDIS_HANDLE) => void,
): DriverModule {
  return {
    name,
    load() {
      let handle: NDIS_HANDLE | null = null;
      let device: NDIS_HANDLE | null = null;
      const chars: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null> = {
        ...filterIdentity(name, guid),
        AttachHandler: (h: NDIS_HANDLE) =>
          NdisFSetAttributes(h, h, {
            Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 },
            Flags: 0,
          }),
        DetachHandler: () => {
          if (device !== null) detached(device);
        },
        RestartHandler: () => NDIS_STATUS_SUCCESS,
        PauseHandler: () => NDIS_STATUS_SUCCESS,
        NetPnPEventHandler: (h: NDIS_HANDLE, e: NET_PNP_EVENT_NOTIFICATION) => NdisFNetPnPEvent(h, e),
      };
      return {
        DriverEntry: (d: DRIVER_OBJECT) => {
          const r = NdisFRegisterFilterDriver(d, null, chars);
          handle = r.NdisFilterDriverHandle;
          device = NdisRegisterDeviceEx(handle!, attributes(ctl, majors())).NdisDeviceHandle;
          d.DriverUnload = () => NdisFDeregisterFilterDriver(handle!);
          return r.Status;
        },
      };
    },
  };
}

test('a filter driver registers a device with its filter driver handle; NdisSim_DeviceNotDeregistered at NdisFDeregisterFilterDriver', () => {
  // The unload leaves the device.
  const filter = deviceFilter('ctl-filter', '{00000000-0000-0000-0000-0000000000c1}', 'FilterCtl', () => {});
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(filter);
  w.addFilter('ctl-filter', { mandatory: false });
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(ns.s / 2, { kind: 'open', handle: 'tool', link: 'FilterCtl' });
  w.at(ns.s, { kind: 'ioctl', handle: 'tool', code: IOCTL_ECHO, input: [9], outputLength: 1 });
  w.at(ns.s + ns.ms, { kind: 'close', handle: 'tool' });
  w.at(2 * ns.s, { kind: 'stop-filter', driver: 'ctl-filter' });
  const r = w.run(3 * ns.s);
  assert.deepEqual(
    w.ioResults.map((x) => [x.statusName, x.output]),
    [['STATUS_SUCCESS', [9]]],
  );
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_DeviceNotDeregistered', 'NdisFDeregisterFilterDriver']],
  );
});

test("unload-routine-environment: a stopping filter driver's unload waits while the application holds a handle to its device, deleted at the last detach, and comes with the close", () => {
  // The last module goes: so does the device (its handle may still be open).
  const filter = deviceFilter('held-filter', '{00000000-0000-0000-0000-0000000000c2}', 'HeldCtl', (device) =>
    NdisDeregisterDeviceEx(device),
  );
  const go = (closeAtNs: number | null) => {
    const w = new World({ seed: 1, verifier: 'collect', trace: true });
    w.addDriver(healthyNic);
    w.addDriver(filter);
    w.addFilter('held-filter', { mandatory: false });
    w.addProtocol('tcpip');
    w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(ns.s / 2, { kind: 'open', handle: 'tool', link: 'HeldCtl' });
    w.at(ns.s, { kind: 'stop-filter', driver: 'held-filter' });
    if (closeAtNs !== null) w.at(closeAtNs, { kind: 'close', handle: 'tool' });
    return { w, r: w.run(3 * ns.s) };
  };
  const { w, r } = go(2 * ns.s);
  assert.deepEqual(r.violations, []);
  const unload = w.trace.events.find((e) => e.kind === 'call' && e.what === 'FilterDriverUnload');
  assert.ok(unload !== undefined && unload.t >= 2 * ns.s && unload.t < 2.02 * ns.s, `unload at ${unload?.t}`);
  assert.ok(
    w.trace.events.some((e) =>
      /filter held-filter: its unload waits: the application has a handle to \\Device\\HeldCtl open/.test(
        e.what,
      ),
    ),
    'the unload says why it waits',
  );
  // Without the close the stop never ends: work left pending.
  const held = go(null);
  assert.ok(!held.w.trace.events.some((e) => e.kind === 'call' && e.what === 'FilterDriverUnload'));
  assert.ok(
    held.r.pending.some((x) =>
      x.startsWith('filter driver held-filter: its service stop waits to call its unload routine'),
    ),
    held.r.pending.join('\n'),
  );
});

test('the results kept are bounded: past ioResultsMax the oldest quarter goes', () => {
  const { w } = run({
    actions: [
      open(ns.s / 2),
      {
        atNs: ns.s,
        action: {
          kind: 'ioctl',
          handle: 'tool',
          code: IOCTL_ECHO,
          input: [],
          outputLength: 0,
          everyNs: 1000,
          times: ioResultsMax + 1,
        },
      },
    ],
    trace: false,
  });
  assert.equal(w.ioResults.length, ioResultsMax + 1 - (ioResultsMax >> 2));
  assert.equal(w.ndis.io?.resultsDropped, ioResultsMax >> 2);
  assert.equal(w.ioResults.at(-1)!.sentNs, ns.s + ioResultsMax * 1000);
});

test('a run without a control device makes no I/O state (hot path)', () => {
  const drv = scriptedDriver('plain-nic', {});
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'plain-nic' }] });
  w.run(ns.s);
  assert.equal(w.ndis.io, null);
});

// ------------------------------------------------------------------ scenario actions

const base = {
  devices: [{ name: 'nic0', driver: 'healthy-nic' }],
};
const problems = (actions: unknown[]): string[] => {
  try {
    validateScenario({ ...base, actions }, 's.yaml', ['healthy-nic']);
    return [];
  } catch (e) {
    return (e as { problems?: string[] }).problems ?? [String(e)];
  }
};

test('scenario buffers: a { utf16 } or { ascii } mapping whose text is not a string, one with both keys or none, says what is wrong with it', () => {
  const one = (data: unknown): string => {
    const p = problems([
      { at: '1s', do: 'open', handle: 'tool', link: 'SimCtl' },
      { at: '1s', do: 'write', handle: 'tool', data },
    ]);
    assert.equal(p.length, 1, p.join('\n'));
    return p[0]!;
  };
  assert.match(one({ utf16: 5 }), /data: expected bytes: .*, got a mapping of "utf16" to 5, not to text/);
  assert.match(one({ ascii: [1, 2] }), /got a mapping of "ascii" to a list, not to text/);
  assert.match(
    one({ utf16: 'a', ascii: 'b' }),
    /got a mapping of "utf16" and "ascii": give one key, utf16 or ascii/,
  );
  assert.match(one({}), /got an empty mapping/);
  assert.match(one({ utf8: 'x' }), /got a mapping of "utf8", not of utf16 or ascii/);
});

test('scenario: open, ioctl (one-shot and repeated) and close validate; bad ones get one clear message each', () => {
  assert.deepEqual(
    problems([
      { at: '1s', do: 'open', handle: 'tool', link: 'SimCtl' },
      { at: '1s', do: 'ioctl', handle: 'tool', code: '0x00222004', input: [1, 2], outputLength: 4 },
      { at: '1s', do: 'ioctl', handle: 'tool', code: 0x00222004, every: '10ms', times: 3 },
      { at: '2s', do: 'close', handle: 'tool' },
    ]),
    [],
  );
  const one = (a: unknown): string => {
    const p = problems([{ at: '1s', do: 'open', handle: 'tool', link: 'SimCtl' }, a]);
    assert.equal(p.length, 1, p.join('\n'));
    return p[0]!;
  };
  assert.match(
    one({ at: '1s', do: 'ioctl', handle: 'tool', code: '0x00222007' }),
    /actions\[1\]\.code: expected a code of METHOD_BUFFERED, METHOD_IN_DIRECT or METHOD_OUT_DIRECT.*METHOD_NEITHER is not modelled/,
  );
  assert.match(
    one({ at: '1s', do: 'ioctl', handle: 'other', code: 0 }),
    /actions\[1\]\.handle: expected a handle an "open" action opens \(tool\), got "other"/,
  );
  assert.match(
    one({ at: '1s', do: 'ioctl', handle: 'tool' }),
    /actions\[1\]\.code: expected the I\/O control code/,
  );
  assert.match(
    one({ at: '1s', do: 'ioctl', handle: 'tool', code: 0, times: 2 }),
    /times: expected times only with every/,
  );
  assert.match(
    one({ at: '1s', do: 'ioctl', handle: 'tool', code: 0, input: [1, 256] }),
    /actions\[1\]\.input: expected bytes: .*, got a list whose item 1 is 256, not a byte value from 0 to 255/,
  );
  assert.match(
    one({ at: '1s', do: 'ioctl', handle: 'tool', code: 0, input: 'ff 0' }),
    /input: expected bytes: .*, got "ff 0", which is not pairs of hex digits/,
  );
  assert.match(
    one({ at: '1s', do: 'write', handle: 'tool', data: { ascii: 'caf\u00e9' } }),
    /data: expected bytes: .*, got "café", which has a character that is not ASCII \(use utf16\)/,
  );
  assert.match(
    one({ at: '1s', do: 'write', handle: 'tool', data: { utf8: 'x' } }),
    /data: expected bytes: .*, got a mapping of "utf8"/,
  );
  assert.match(
    one({ at: '1s', do: 'close', handle: 'tool', device: 'nic0' }),
    /device: expected no device for "close"/,
  );
  assert.match(
    one({ at: '1s', do: 'close', handle: 'tool', link: 'X' }),
    /link: expected only handle for "close"/,
  );
  assert.match(
    one({ at: '1s', do: 'remove', device: 'nic0', handle: 'tool' }),
    /handle: expected handle only with open, ioctl, read, write, close or cancel/,
  );
  assert.match(
    one({ at: '1s', do: 'ioctl', handle: 'tool', code: '0x1234567890' }),
    /code: expected an I\/O control code/,
  );
});

test('scenario: input and data take byte values, hex bytes, { utf16 } (UTF-16LE, no NUL) or { ascii }, each the same bytes', () => {
  const s = validateScenario(
    {
      ...base,
      actions: [
        { at: '1s', do: 'open', handle: 'tool', link: 'SimCtl' },
        { at: '1s', do: 'ioctl', handle: 'tool', code: 0, input: [0x5c, 0, 0x41, 0] },
        { at: '1s', do: 'ioctl', handle: 'tool', code: 0, input: '5c 00 41 00' },
        { at: '1s', do: 'ioctl', handle: 'tool', code: 0, input: { utf16: '\\A' } },
        { at: '1s', do: 'write', handle: 'tool', data: { ascii: '\\A' } },
        { at: '1s', do: 'write', handle: 'tool', data: 'FF\n00' },
      ],
    },
    's.yaml',
    ['healthy-nic'],
  );
  const bytes = s.actions!.slice(1).map((a) => a.input ?? a.data);
  assert.deepEqual(bytes, [
    [0x5c, 0, 0x41, 0],
    [0x5c, 0, 0x41, 0],
    [0x5c, 0, 0x41, 0],
    [0x5c, 0x41],
    [0xff, 0],
  ]);
});

test('scenario: a repeated ioctl sends `times` requests `every` apart; the CLI exits 2 on a bad one', () => {
  const { w } = run({
    actions: [
      open(ns.s / 2),
      {
        atNs: ns.s,
        action: {
          kind: 'ioctl',
          handle: 'tool',
          code: IOCTL_ECHO,
          input: [5],
          outputLength: 1,
          everyNs: 10 * ns.ms,
          times: 4,
        },
      },
    ],
  });
  assert.deepEqual(
    w.ioResults.map((x) => x.sentNs),
    [ns.s, ns.s + 10 * ns.ms, ns.s + 20 * ns.ms, ns.s + 30 * ns.ms],
  );
  assert.throws(
    () => w.at(0, { kind: 'ioctl', handle: 'tool', code: 0, input: [], outputLength: 0, everyNs: 0 }),
    /World\.at\(ioctl\): everyNs must be whole nanoseconds from 1 up/,
  );
  const r = cli('run', 'test/fixtures/bad-ioctl.yaml');
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /bad-ioctl\.yaml: actions\[1\]\.code: expected a code of METHOD_BUFFERED, METHOD_IN_DIRECT or METHOD_OUT_DIRECT/,
  );
});

// ------------------------------------------------------------------ examples/ioctl-race

const drivers = [ioctlRace, ioctlRaceFixed];
const file = 'examples/ioctl-race.yaml';
/** A seed of 1..300 whose halt falls between a reset request and its timer. */
const failingSeed = 38;
const seeds = 300;
const scenario = (driver: 'ioctl-race' | 'ioctl-race-fixed'): Scenario =>
  exampleScenario(file, drivers, driver);

test("R5.20 ioctl-race: the scenario's own seed passes and meets its expect", () => {
  const s = scenario('ioctl-race');
  const { r } = runExample(s, drivers, s.seed);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
});

test(`R5.20 NdisSim_StaleHandle: ioctl-race at seed ${failingSeed} resets a halted adapter from a reset request pended across the halt`, () => {
  const { w, r } = runExample(scenario('ioctl-race'), drivers, failingSeed, true);
  assert.equal(r.verdict, 'bugcheck');
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_StaleHandle', 'NdisMResetMiniport', 'nic0']],
  );
  const ev = w.trace.events;
  const lastRequest = ev.findLastIndex((e) => e.kind === 'call' && e.what === 'DispatchDeviceControl');
  const halt = ev.findIndex((e) => e.kind === 'call' && e.what === 'MiniportHaltEx');
  const timer = ev.findLastIndex((e) => e.kind === 'call' && e.what === 'NdisTimerFunction');
  assert.ok(lastRequest < halt && halt < timer, `request ${lastRequest}, halt ${halt}, timer ${timer}`);
});

test(`R5.20 ioctl-race: only halts inside a pended reset request break the rule (1-10 % of seeds 1..${seeds}); explore shrinks it`, () => {
  const failing = failingSeeds(scenario('ioctl-race'), drivers, seeds, 'NdisSim_StaleHandle', [3, 30]);
  assert.ok(failing.includes(failingSeed));
  const s = scenario('ioctl-race');
  const r = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, 60);
  assert.deepEqual(
    r.groups.map((g) => g.signature),
    ['bugcheck NdisSim_StaleHandle'],
  );
});

test(`R5.20 ioctl-race-fixed passes seeds 1..${seeds}; at seed ${failingSeed} the late timer finds no adapter and completes with STATUS_DEVICE_REMOVED`, () => {
  const s = scenario('ioctl-race-fixed');
  for (let seed = 1; seed <= seeds; seed++) {
    const { r } = runExample(s, drivers, seed);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.bugCheck?.message ?? r.verdict}`);
  }
  const { w } = runExample(s, drivers, failingSeed, true);
  const halt = w.trace.events.findIndex((e) => e.kind === 'call' && e.what === 'MiniportHaltEx');
  const after = w.ioResults.filter(
    (x) => x.completedNs > w.trace.events[halt]!.t && x.sentNs < w.trace.events[halt]!.t,
  );
  assert.deepEqual(
    after.map((x) => x.statusName),
    ['STATUS_DEVICE_REMOVED'],
  );
});

test('nf-wdm-ioqueueworkitem, nc-wdm-io_workitem_routine: a miniport queues an IO_WORKITEM of its NdisRegisterDeviceEx device object; WorkItem gets that device object and the Context at PASSIVE; queued in halt, it keeps the driver loaded: MiniportDriverUnload runs after the routine returned (releasing-driver-allocated-resources)', () => {
  const got: unknown[] = [];
  const order: string[] = [];
  let dev: DEVICE_OBJECT | null = null;
  let device: NDIS_HANDLE | null = null;
  const drv = scriptedDriver('io-wi-device', {
    driverEntry: (driver) => {
      const r = NdisRegisterDeviceEx(driver, attributes('IoWiCtl', majors()));
      dev = r.pDeviceObject;
      device = r.NdisDeviceHandle;
      return NDIS_STATUS_SUCCESS;
    },
    initialize: () => {
      const w = IoAllocateWorkItem(dev!)!;
      IoQueueWorkItem(
        w,
        (d, c) => {
          got.push(d === dev, c, NDIS_CURRENT_IRQL());
          IoFreeWorkItem(w);
        },
        DelayedWorkQueue,
        'ctx',
      );
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      const w = IoAllocateWorkItem(dev!)!;
      IoQueueWorkItem(
        w,
        () => {
          order.push('work');
          IoFreeWorkItem(w);
        },
        DelayedWorkQueue,
        null,
      );
      NdisDeregisterDeviceEx(device!);
    },
    unload: () => {
      order.push('unload');
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect' },
  });
  const r = w.run(2 * ns.s);
  assert.deepEqual(rules(r), []);
  assert.deepEqual(got, [true, 'ctx', 0]);
  assert.deepEqual(order, ['work', 'unload']);
  assert.ok(
    w.trace.events.some((e) => e.kind === 'call' && e.what === 'WorkItem' && e.actor === 'io-wi-device'),
  );
});

test('NdisSim_Irql: IoAllocateWorkItem and IoQueueWorkItem from the ISR, at DIRQL (their pages: <= DISPATCH_LEVEL)', () => {
  let obj: DEVICE_OBJECT | null = null;
  let done = false;
  const { r } = run({
    hooks: {
      driverEntry: (driver) => {
        obj = NdisRegisterDeviceEx(driver, attributes('IrqlCtl', majors())).pDeviceObject;
        return NDIS_STATUS_SUCCESS;
      },
      isr: () => {
        if (done) return;
        done = true;
        const w = IoAllocateWorkItem(obj!);
        if (w !== null) IoQueueWorkItem(w, () => {}, DelayedWorkQueue, null);
      },
    },
    linkDownAtNs: 2 * ns.s,
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.bugCheck.params[0]]),
    [
      ['NdisSim_Irql', 'IoAllocateWorkItem', 3],
      ['NdisSim_Irql', 'IoQueueWorkItem', 3],
    ],
  );
});

test('DoubleCompleteWorkItem: an OID request completed twice from a WDM IO_WORKITEM routine (IoQueueWorkItem) is caught as from an NDIS work item', () => {
  let obj: DEVICE_OBJECT | null = null;
  let item: IO_WORKITEM | null = null;
  const { r } = run({
    hooks: {
      driverEntry: (driver) => {
        obj = NdisRegisterDeviceEx(driver, attributes('WiOidCtl', majors())).pDeviceObject;
        return NDIS_STATUS_SUCCESS;
      },
      oid: (_a, req) => {
        if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER || item !== null) return NDIS_STATUS_NOT_SUPPORTED;
        item = IoAllocateWorkItem(obj!);
        const a = _a;
        IoQueueWorkItem(
          item!,
          () => {
            NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
            NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS); // the common exit, again
          },
          DelayedWorkQueue,
          null,
        );
        return NDIS_STATUS_PENDING;
      },
      halt: () => {
        if (item !== null) IoFreeWorkItem(item);
      },
    },
  });
  assert.deepEqual(
    r.violations.filter((v) => v.ddi === 'NdisMOidRequestComplete').map((v) => v.rule),
    ['DoubleCompleteWorkItem'],
  );
});

test('a create the routine pends keeps CreateFile waiting: the handle opens when the IRP completes with success, and a request before then has no handle (STATUS_INVALID_HANDLE)', () => {
  let held: Irp | null = null;
  const m = majors();
  m[IRP_MJ_CREATE] = (_d, irp) => {
    IoMarkIrpPending(irp);
    held = irp;
    return STATUS_PENDING;
  };
  const { w, r } = run({
    majors: m,
    actions: [
      open(ns.s),
      ioctl(ns.s + ns.ms, IOCTL_ECHO, [7], 1),
      ioctl(ns.s + 3 * ns.ms, IOCTL_ECHO, [8], 1),
    ],
    hooks: {
      // The create completes 2 ms later, from a timer of the driver's.
      initialize: (a) => {
        after(a, 1002, () => {
          held!.IoStatus.Status = STATUS_SUCCESS;
          IoCompleteRequest(held!, 0);
        });
        return NDIS_STATUS_SUCCESS;
      },
    },
    trace: true,
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(
    w.ioResults.map((x) => [x.statusName, x.output]),
    [
      ['STATUS_INVALID_HANDLE', []],
      ['STATUS_SUCCESS', [8]],
    ],
  );
  const app = w.trace.events.filter((e) => e.actor === 'app' && e.what.startsWith('CreateFile tool'));
  assert.deepEqual(
    app.map((e) => e.what),
    ['CreateFile tool waits', 'CreateFile tool returns'],
  );
  // It returns when the timer completes the IRP: after the first request, before the second.
  assert.equal(app[0]!.t, ns.s);
  assert.ok(app[1]!.t > ns.s + ns.ms && app[1]!.t < ns.s + 3 * ns.ms, `returned at ${app[1]!.t}`);
});
