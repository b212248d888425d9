// The DDI fuzz for a miniport's control device (NdisRegisterDeviceEx): dispatch
// routines that each answer in a random way, right or wrong (complete at once, fail,
// return without completing, pend with or without a Cancel routine, complete twice or
// later from a timer, report more bytes than the buffer, complete with the Cancel
// routine still set), a device left at halt or deregistered, and an application that
// opens, sends IOCTLs, reads, writes, cancels, closes and exits at random times on two
// handles while the adapter may be removed or unplugged. The run must end as the model
// says such a driver ends, never as a crash of ndis-sim itself.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { after, scriptedDriver, type TestAdapter } from '../src/drivers/buggy/base.ts';
import {
  CTL_CODE,
  type DISPATCH_IO_STACK_LOCATION,
  DO_BUFFERED_IO,
  DO_DIRECT_IO,
  type DRIVER_CANCEL,
  type DRIVER_DISPATCH,
  FILE_ANY_ACCESS,
  FILE_DEVICE_UNKNOWN,
  IO_NO_INCREMENT,
  IoCompleteRequest,
  IoMarkIrpPending,
  IoReleaseCancelSpinLock,
  IoSetCancelRoutine,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_READ,
  IRP_MJ_WRITE,
  METHOD_BUFFERED,
  METHOD_IN_DIRECT,
  METHOD_OUT_DIRECT,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_SUCCESS,
  NdisDeregisterDeviceEx,
  NdisRegisterDeviceEx,
  type NTSTATUS,
  STATUS_CANCELLED,
  STATUS_INVALID_DEVICE_REQUEST,
  STATUS_PENDING,
  STATUS_SUCCESS,
  World,
} from '../src/index.ts';
import { formatSummary } from '../src/report/summary.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import type { WorldAction } from '../src/world.ts';
import { ns } from './helpers/world.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

const codes = [METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_OUT_DIRECT].map((m, i) =>
  CTL_CODE(FILE_DEVICE_UNKNOWN, 0x900 + i, m, FILE_ANY_ACCESS),
);

type Answer =
  | 'complete'
  | 'fail'
  | 'noComplete'
  | 'pendCancelable'
  | 'pendPlain'
  | 'completeTwice'
  | 'completeLater'
  | 'overrun'
  | 'completeWithCancelSet';

const answerArb = fc.constantFrom<Answer>(
  'complete',
  'fail',
  'noComplete',
  'pendCancelable',
  'pendPlain',
  'completeTwice',
  'completeLater',
  'overrun',
  'completeWithCancelSet',
);
/** Create, cleanup and close mostly complete: a device nobody can open tests little. */
const openArb = fc.constantFrom<Answer>(
  'complete',
  'complete',
  'complete',
  'fail',
  'pendPlain',
  'completeLater',
);

type App =
  | { kind: 'open'; h: number }
  | { kind: 'ioctl'; h: number; code: number; input: number; output: number }
  | { kind: 'read'; h: number; length: number }
  | { kind: 'write'; h: number; length: number }
  | { kind: 'cancel' | 'close'; h: number }
  | { kind: 'exit' };

const h = fc.nat(1);
const appArb: fc.Arbitrary<App> = fc.oneof(
  fc.record({ kind: fc.constant('open' as const), h }),
  fc.record({
    kind: fc.constant('ioctl' as const),
    h,
    code: fc.constantFrom(...codes),
    input: fc.nat(40),
    output: fc.nat(40),
  }),
  fc.record({ kind: fc.constant('read' as const), h, length: fc.nat(64) }),
  fc.record({ kind: fc.constant('write' as const), h, length: fc.nat(64) }),
  fc.record({ kind: fc.constantFrom('cancel' as const, 'close' as const), h }),
  fc.constant({ kind: 'exit' as const }),
);

interface Case {
  create: Answer;
  cleanup: Answer;
  close: Answer;
  control: Answer;
  read: Answer;
  write: Answer;
  flags: 'buffered' | 'direct';
  keepDevice: boolean;
  /** In MiniportHaltEx, complete every IRP the driver still holds (else they stay). */
  drainAtHalt: boolean;
  app: { atMs: number; what: App }[];
  ending: 'none' | 'remove' | 'surprise-remove';
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  create: openArb,
  cleanup: openArb,
  close: openArb,
  control: answerArb,
  read: answerArb,
  write: answerArb,
  flags: fc.constantFrom('buffered' as const, 'direct' as const),
  keepDevice: fc.boolean(),
  drainAtHalt: fc.boolean(),
  app: fc.array(fc.record({ atMs: fc.integer({ min: 10, max: 900 }), what: appArb }), { maxLength: 10 }),
  ending: fc.constantFrom('none' as const, 'remove' as const, 'surprise-remove' as const),
  seed: fc.integer({ min: 1, max: 1000 }),
});

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

function runCase(c: Case): void {
  const held: Irp[] = [];
  let adapter: TestAdapter | null = null;
  const cancel: DRIVER_CANCEL = (_d, irp) => {
    IoReleaseCancelSpinLock(irp.CancelIrql);
    const i = held.indexOf(irp);
    if (i >= 0) held.splice(i, 1);
    complete(irp, STATUS_CANCELLED);
  };
  const answer =
    (a: Answer): DRIVER_DISPATCH =>
    (_d, irp) => {
      switch (a) {
        case 'complete':
          return complete(irp, STATUS_SUCCESS);
        case 'fail':
          return complete(irp, STATUS_INVALID_DEVICE_REQUEST);
        case 'noComplete':
          return STATUS_SUCCESS;
        case 'pendCancelable':
          IoMarkIrpPending(irp);
          IoSetCancelRoutine(irp, cancel);
          if (irp.Cancel && IoSetCancelRoutine(irp, null) !== null) return complete(irp, STATUS_CANCELLED);
          held.push(irp);
          return STATUS_PENDING;
        case 'pendPlain':
          IoMarkIrpPending(irp);
          held.push(irp);
          return STATUS_PENDING;
        case 'completeTwice':
          complete(irp, STATUS_SUCCESS);
          return complete(irp, STATUS_SUCCESS);
        case 'completeLater':
          IoMarkIrpPending(irp);
          if (adapter !== null) after(adapter, 1, () => complete(irp, STATUS_SUCCESS));
          else held.push(irp);
          return STATUS_PENDING;
        case 'overrun':
          return complete(irp, STATUS_SUCCESS, 4096);
        case 'completeWithCancelSet':
          IoSetCancelRoutine(irp, cancel);
          return complete(irp, STATUS_SUCCESS);
      }
    };
  const majors: DRIVER_DISPATCH[] = [];
  majors[IRP_MJ_CREATE] = answer(c.create);
  majors[IRP_MJ_CLEANUP] = answer(c.cleanup);
  majors[IRP_MJ_CLOSE] = answer(c.close);
  majors[IRP_MJ_DEVICE_CONTROL] = answer(c.control);
  majors[IRP_MJ_READ] = answer(c.read);
  majors[IRP_MJ_WRITE] = answer(c.write);
  let device: NDIS_HANDLE | null = null;
  const drv = scriptedDriver('fuzzed-ctl', {
    driverEntry: (driver) => {
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\FuzzCtl',
        SymbolicName: '\\DosDevices\\FuzzCtl',
        MajorFunctions: majors,
        ExtensionSize: 0,
      });
      device = r.NdisDeviceHandle;
      if (r.pDeviceObject !== null)
        r.pDeviceObject.Flags |= c.flags === 'buffered' ? DO_BUFFERED_IO : DO_DIRECT_IO;
      return NDIS_STATUS_SUCCESS;
    },
    initialize: (a) => {
      adapter = a;
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      adapter = null;
      if (c.drainAtHalt)
        for (const irp of held.splice(0)) {
          if (IoSetCancelRoutine(irp, null) === null && irp.Cancel) continue;
          complete(irp, STATUS_CANCELLED);
        }
      if (!c.keepDevice && device !== null) NdisDeregisterDeviceEx(device);
      device = null;
    },
  });
  const w = new World({ seed: c.seed, verifier: 'collect', traceMax: 100_000 });
  w.addDriver(drv);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'fuzzed-ctl' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const handle = (i: number) => `h${i}`;
  // Both handles open first, so that most requests reach the driver.
  for (const i of [0, 1]) w.at(5 * ns.ms, { kind: 'open', handle: handle(i), link: 'FuzzCtl' });
  for (const { atMs, what: a } of c.app) {
    const at = atMs * ns.ms;
    let action: WorldAction;
    switch (a.kind) {
      case 'open':
        action = { kind: 'open', handle: handle(a.h), link: 'FuzzCtl' };
        break;
      case 'ioctl':
        action = {
          kind: 'ioctl',
          handle: handle(a.h),
          code: a.code,
          input: Array.from({ length: a.input }, (_, i) => i & 0xff),
          outputLength: a.output,
        };
        break;
      case 'read':
        action = { kind: 'read', handle: handle(a.h), length: a.length };
        break;
      case 'write':
        action = {
          kind: 'write',
          handle: handle(a.h),
          data: Array.from({ length: a.length }, (_, i) => i & 0xff),
        };
        break;
      case 'cancel':
      case 'close':
        action = { kind: a.kind, handle: handle(a.h) };
        break;
      case 'exit':
        action = { kind: 'exit' };
        break;
    }
    w.at(at, action);
  }
  if (c.ending !== 'none') w.at(600 * ns.ms, { kind: c.ending, device: 'nic0' });
  const r = w.run(1200 * ns.ms);
  const own = r.violations.find((v) => v.rule === 'NdisSim_DriverException');
  assert.equal(own, undefined, `ndis-sim's own code threw inside a DDI: ${own?.message}`);
  formatTimeline(w.trace.events, { color: false });
  formatSummary(w.summary(), r, { color: false, seed: c.seed, expectation: null });
}

test('DDI fuzz, control device: random dispatch answers and application I/O, under removal, never crash ndis-sim', () => {
  fc.assert(
    fc.property(caseArb, (c) => runCase(c)),
    { numRuns: 200, seed: 27 },
  );
});
