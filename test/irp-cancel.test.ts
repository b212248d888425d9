// IRP cancellation on a control device (NdisRegisterDeviceEx): IoSetCancelRoutine,
// the cancel spin lock, the tool's CancelIoEx (`cancel`) and exit (`exit`), the
// I/O manager's IoCancelIrp, and the checks around them (NdisSim_CancelSpinLock,
// Driver Verifier's 0xC9/0x07 as NdisSim_IrpCompletedWithCancelRoutine), and
// examples/event-queue (the race-free pattern) under explore.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventQueue } from '../examples/event-queue.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import {
  type DISPATCH_IO_STACK_LOCATION,
  type DRIVER_CANCEL,
  type DRIVER_DISPATCH,
  IO_NO_INCREMENT,
  IoAcquireCancelSpinLock,
  IoCompleteRequest,
  IoMarkIrpPending,
  IoReleaseCancelSpinLock,
  IoSetCancelRoutine,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  NDIS_CURRENT_IRQL,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_SUCCESS,
  NdisDeregisterDeviceEx,
  NdisMSleep,
  NdisRegisterDeviceEx,
  type NTSTATUS,
  STATUS_CANCELLED,
  STATUS_PENDING,
  STATUS_SUCCESS,
} from '../src/index.ts';
import { untilNs } from '../src/scenario/build.ts';
import { validateScenario } from '../src/scenario/load.ts';
import type { WorldAction } from '../src/world.ts';
import { cli } from './helpers/cli.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';
import { ns, testWorld } from './helpers/world.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;
const WAIT = 0x00222000;

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

/** What the driver under test does with a pended request and with cleanup. */
interface Behaviour {
  /** The device-control routine; by default `pendCancelable(cancel)`. */
  control?: DRIVER_DISPATCH;
  /** The Cancel routine; by default the correct one (release, dequeue, complete). */
  cancel?: DRIVER_CANCEL;
  /** IRP_MJ_CLEANUP; by default it completes the handle's queued requests, routines cleared. */
  cleanup?: DRIVER_DISPATCH;
}

/** A miniport with \Device\TestCtl whose device-control routine queues requests. */
function run(
  b: Behaviour,
  actions: { atNs: number; action: WorldAction }[],
  verifier = 'collect',
  untilNs = 3 * ns.s,
) {
  const queue: Irp[] = [];
  const cancel: DRIVER_CANCEL =
    b.cancel ??
    ((_d, irp) => {
      IoReleaseCancelSpinLock(irp.CancelIrql);
      const i = queue.indexOf(irp);
      if (i >= 0) queue.splice(i, 1);
      complete(irp, STATUS_CANCELLED);
    });
  const m: DRIVER_DISPATCH[] = [];
  m[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLOSE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLEANUP] =
    b.cleanup ??
    ((_d, irp) => {
      for (const q of queue.splice(0))
        if (IoSetCancelRoutine(q, null) !== null) complete(q, STATUS_CANCELLED);
      return complete(irp, STATUS_SUCCESS);
    });
  m[IRP_MJ_DEVICE_CONTROL] =
    b.control ??
    ((_d, irp) => {
      IoSetCancelRoutine(irp, cancel);
      if (irp.Cancel && IoSetCancelRoutine(irp, null) !== null) return complete(irp, STATUS_CANCELLED);
      IoMarkIrpPending(irp);
      queue.push(irp);
      return STATUS_PENDING;
    });
  let device: NDIS_HANDLE | null = null;
  const drv = scriptedDriver('ctl-nic', {
    driverEntry: (driver) => {
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\TestCtl',
        SymbolicName: '\\DosDevices\\TestCtl',
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      device = r.NdisDeviceHandle;
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      if (device !== null) NdisDeregisterDeviceEx(device);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'ctl-nic' }],
    actions,
    options: { verifier: verifier as 'collect' },
  });
  const r = w.run(untilNs);
  return { w, r, queue };
}

const at = (atNs: number, action: WorldAction) => ({ atNs, action });
const open = (t: number, handle = 'tool') => at(t, { kind: 'open', handle, link: 'TestCtl' });
const ioctl = (t: number, handle = 'tool') =>
  at(t, { kind: 'ioctl', handle, code: WAIT, input: [], outputLength: 4 });
const cancel = (t: number, handle = 'tool') => at(t, { kind: 'cancel', handle });
const close = (t: number, handle = 'tool') => at(t, { kind: 'close', handle });
const exit = (t: number) => at(t, { kind: 'exit' });
const rules = (r: { violations: { rule: string }[] }) => r.violations.map((v) => v.rule);

test('cancel (CancelIoEx): each pending request of the handle goes to its Cancel routine, at DISPATCH holding the cancel spin lock; the tool gets STATUS_CANCELLED', () => {
  const seen: { irql: number; cancelIrql: number; cancel: boolean }[] = [];
  const queue: Irp[] = [];
  const { w, r } = run(
    {
      control: (_d, irp) => {
        IoSetCancelRoutine(irp, (_o, i) => {
          seen.push({ irql: NDIS_CURRENT_IRQL(), cancelIrql: i.CancelIrql, cancel: i.Cancel });
          IoReleaseCancelSpinLock(i.CancelIrql);
          seen.push({ irql: NDIS_CURRENT_IRQL(), cancelIrql: i.CancelIrql, cancel: i.Cancel });
          queue.splice(queue.indexOf(i), 1);
          complete(i, STATUS_CANCELLED);
        });
        IoMarkIrpPending(irp);
        queue.push(irp);
        return STATUS_PENDING;
      },
    },
    [
      open(ns.s / 2),
      ioctl(ns.s),
      ioctl(ns.s + ns.ms),
      ioctl(ns.s, 'other'),
      open(ns.s / 4, 'other'),
      cancel(2 * ns.s),
    ],
  );
  assert.deepEqual(rules(r), []);
  // Two Cancel routine calls (the other handle's request is not cancelled), each at
  // DISPATCH with CancelIrql PASSIVE (the tool's thread), back at PASSIVE after the release.
  assert.deepEqual(seen, [
    { irql: 2, cancelIrql: 0, cancel: true },
    { irql: 0, cancelIrql: 0, cancel: true },
    { irql: 2, cancelIrql: 0, cancel: true },
    { irql: 0, cancelIrql: 0, cancel: true },
  ]);
  assert.deepEqual(
    w.ioResults.map((x) => [x.handle, x.statusName]),
    [
      ['tool', 'STATUS_CANCELLED'],
      ['tool', 'STATUS_CANCELLED'],
    ],
  );
  // The other handle's request is still pending, and the run says so.
  assert.equal(w.ndis.io?.pending.length, 1);
  assert.ok(w.trace.events.some((e) => e.what === 'CancelIoEx tool' && e.data?.requests === 2));
});

test('IoCancelIrp without a Cancel routine: the IRP stays pending with Cancel set; a driver that makes it cancelable later sees the bit and completes it', () => {
  const held: Irp[] = [];
  let cancelCalls = 0;
  const cancelRoutine: DRIVER_CANCEL = (_d, i) => {
    cancelCalls++;
    IoReleaseCancelSpinLock(i.CancelIrql);
    complete(i, STATUS_CANCELLED);
  };
  let pendingAfterCancel = -1;
  let completions = 0;
  const results = () => completions;
  const { w, r } = run(
    {
      control: (_d, irp) => {
        if (held.length > 0) {
          // The second request: the first one (on its way to the hardware until now)
          // is made cancelable. The race-free pattern: set the routine, then look at
          // Cancel; the exchange back returning the routine means nobody called it.
          pendingAfterCancel = results();
          const first = held.shift()!;
          IoSetCancelRoutine(first, cancelRoutine);
          if (first.Cancel && IoSetCancelRoutine(first, null) !== null) complete(first, STATUS_CANCELLED);
          completions++;
          return complete(irp, STATUS_SUCCESS);
        }
        IoMarkIrpPending(irp); // not cancelable yet
        held.push(irp);
        return STATUS_PENDING;
      },
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(ns.s + ns.ms), ioctl(2 * ns.s)],
  );
  assert.deepEqual(rules(r), []);
  assert.equal(pendingAfterCancel, 0, 'no routine was called at the cancel: the request stayed pending');
  assert.equal(cancelCalls, 0);
  assert.ok(
    w.trace.events.some(
      (e) => e.what === 'IoCancelIrp tool' && String(e.data?.CancelRoutine).startsWith('none'),
    ),
  );
  assert.deepEqual(
    w.ioResults.map((x) => x.statusName),
    ['STATUS_CANCELLED', 'STATUS_SUCCESS'],
  );
});

test('IoSetCancelRoutine is an exchange: it returns the routine set before; NULL once IoCancelIrp took it', () => {
  const got: (DRIVER_CANCEL | null)[] = [];
  let routine: DRIVER_CANCEL | null = null;
  const { r } = run(
    {
      control: (_d, irp) => {
        const c: DRIVER_CANCEL = (_o, i) => {
          IoReleaseCancelSpinLock(i.CancelIrql);
          // Inside the Cancel routine the routine is gone: a dequeuer would see NULL.
          got.push(IoSetCancelRoutine(i, null));
          complete(i, STATUS_CANCELLED);
        };
        routine = c;
        got.push(IoSetCancelRoutine(irp, c));
        got.push(IoSetCancelRoutine(irp, c));
        IoMarkIrpPending(irp);
        return STATUS_PENDING;
      },
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(2 * ns.s)],
  );
  assert.deepEqual(rules(r), []);
  assert.equal(got.length, 3);
  assert.equal(got[0], null);
  assert.equal(got[1], routine);
  assert.equal(got[2], null);
});

test('NdisSim_CancelSpinLock: a Cancel routine that returns holding the cancel spin lock; one that releases it passes', () => {
  const bad = run(
    {
      cancel: (_d, irp) => {
        irp.IoStatus.Status = STATUS_CANCELLED; // BUG: never IoReleaseCancelSpinLock
      },
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(2 * ns.s)],
  );
  assert.deepEqual(rules(bad.r), ['NdisSim_CancelSpinLock']);
  assert.match(bad.r.violations[0]!.message, /returned holding the cancel spin lock/);
  // The model let it go: the tool's thread is back at PASSIVE and nothing else is reported.
  const good = run({}, [open(ns.s / 2), ioctl(ns.s), cancel(2 * ns.s)]);
  assert.deepEqual(rules(good.r), []);
  // In bugcheck mode the machine stops with the model's code.
  const stop = run({ cancel: () => {} }, [open(ns.s / 2), ioctl(ns.s), cancel(2 * ns.s)], 'bugcheck');
  assert.equal(stop.r.verdict, 'bugcheck');
  assert.equal(stop.r.bugCheck?.bugCheck.code, 0xc4);
  assert.equal(stop.r.bugCheck?.bugCheck.params[0], 0x4e5300b5);
});

test('NdisSim_CancelSpinLock: IoAcquireCancelSpinLock by its holder, IoReleaseCancelSpinLock without it, and a release with the wrong IRQL', () => {
  const twice = run(
    {
      cancel: (_d, irp) => {
        IoAcquireCancelSpinLock(); // BUG: IoCancelIrp holds it for the routine already
        IoReleaseCancelSpinLock(irp.CancelIrql);
        complete(irp, STATUS_CANCELLED);
      },
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(2 * ns.s)],
  );
  assert.deepEqual(rules(twice.r), ['NdisSim_CancelSpinLock']);
  assert.match(twice.r.violations[0]!.message, /spins for ever/);
  const unheld = run(
    {
      control: (_d, irp) => {
        IoReleaseCancelSpinLock(0); // BUG: never acquired
        return complete(irp, STATUS_SUCCESS);
      },
    },
    [open(ns.s / 2), ioctl(ns.s)],
  );
  assert.deepEqual(rules(unheld.r), ['NdisSim_CancelSpinLock']);
  const wrong = run(
    {
      cancel: (_d, irp) => {
        IoReleaseCancelSpinLock(2); // BUG: DISPATCH_LEVEL, not irp.CancelIrql
        complete(irp, STATUS_CANCELLED);
      },
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(2 * ns.s)],
  );
  assert.deepEqual(rules(wrong.r), ['NdisSim_CancelSpinLock']);
  assert.match(wrong.r.violations[0]!.message, /another IRQL than Irp->CancelIrql/);
  // The acquire and release pair, outside a Cancel routine, passes and restores the IRQL.
  let after = -1;
  const pair = run(
    {
      control: (_d, irp) => {
        const irql = IoAcquireCancelSpinLock();
        IoSetCancelRoutine(irp, null);
        IoReleaseCancelSpinLock(irql);
        after = irql;
        return complete(irp, STATUS_SUCCESS);
      },
    },
    [open(ns.s / 2), ioctl(ns.s)],
  );
  assert.deepEqual(rules(pair.r), []);
  assert.equal(after, 0);
  // A dispatch routine that returns holding it breaks the balance every routine keeps.
  const kept = run(
    {
      control: (_d, irp) => {
        complete(irp, STATUS_SUCCESS);
        IoAcquireCancelSpinLock(); // BUG: never released
        return STATUS_SUCCESS;
      },
    },
    [open(ns.s / 2), ioctl(ns.s), ioctl(2 * ns.s)],
  );
  // Once for each request: the model lets the lock go at each return.
  assert.deepEqual(rules(kept.r), ['SpinLockBalanced', 'SpinLockBalanced']);
});

test('a Cancel routine that completes the IRP holding the cancel spin lock is R8.11 (NdisSim_LockHeldAcrossCall)', () => {
  const { r } = run(
    {
      cancel: (_d, irp) => {
        complete(irp, STATUS_CANCELLED); // BUG: release first
        IoReleaseCancelSpinLock(irp.CancelIrql);
      },
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(2 * ns.s)],
  );
  assert.deepEqual(rules(r), ['NdisSim_LockHeldAcrossCall']);
});

test('NdisSim_IrpCompletedWithCancelRoutine (0xC9/0x07): IoCompleteRequest with the Cancel routine still set; cleared first, it passes', () => {
  const queue: Irp[] = [];
  const pend: DRIVER_DISPATCH = (_d, irp) => {
    IoSetCancelRoutine(irp, () => {});
    IoMarkIrpPending(irp);
    queue.push(irp);
    return STATUS_PENDING;
  };
  const bad = run(
    {
      control: pend,
      cleanup: (_d, irp) => {
        for (const q of queue.splice(0)) complete(q, STATUS_CANCELLED); // BUG: routine still set
        return complete(irp, STATUS_SUCCESS);
      },
    },
    [open(ns.s / 2), ioctl(ns.s), close(2 * ns.s)],
    'bugcheck',
  );
  assert.equal(bad.r.verdict, 'bugcheck');
  assert.equal(bad.r.violations[0]?.rule, 'NdisSim_IrpCompletedWithCancelRoutine');
  assert.equal(bad.r.bugCheck?.bugCheck.code, 0xc9);
  assert.equal(bad.r.bugCheck?.bugCheck.params[0], 0x07);
  const good = run(
    {
      control: pend,
      cleanup: (_d, irp) => {
        for (const q of queue.splice(0))
          if (IoSetCancelRoutine(q, null) !== null) complete(q, STATUS_CANCELLED);
        return complete(irp, STATUS_SUCCESS);
      },
    },
    [open(ns.s / 2), ioctl(ns.s), close(2 * ns.s)],
  );
  assert.deepEqual(rules(good.r), []);
  assert.deepEqual(
    good.w.ioResults.map((x) => x.statusName),
    ['STATUS_CANCELLED'],
  );
});

test('exit: the I/O manager cancels every pending request, then cleans up and closes each handle; with a Cancel routine nothing is left (NdisSim_IrpPendingAtClose not raised)', () => {
  const { w, r, queue } = run({}, [
    open(ns.s / 4),
    open(ns.s / 4 + ns.ms, 'other'),
    ioctl(ns.s),
    ioctl(ns.s + ns.ms),
    ioctl(ns.s + ns.ms / 2, 'other'),
    exit(2 * ns.s),
  ]);
  assert.deepEqual(rules(r), []);
  assert.equal(queue.length, 0);
  assert.deepEqual(
    w.ioResults.map((x) => [x.handle, x.statusName]),
    [
      ['tool', 'STATUS_CANCELLED'],
      ['other', 'STATUS_CANCELLED'],
      ['tool', 'STATUS_CANCELLED'],
    ],
    'oldest first, across handles',
  );
  assert.equal(w.ndis.io?.pending.length, 0);
  // The cancels come before the first cleanup, and both handles are closed.
  const order = w.trace.events
    .filter((e) => e.what.startsWith('IoCancelIrp') || e.what.startsWith('CloseHandle'))
    .map((e) => e.what);
  assert.deepEqual(order, [
    'IoCancelIrp tool',
    'IoCancelIrp other',
    'IoCancelIrp tool',
    'CloseHandle tool',
    'CloseHandle other',
  ]);
  assert.equal(w.ndis.io?.handles.get('tool'), null);
  assert.equal(w.ndis.io?.handles.get('other'), null);
});

test("canceling-irps: at the exit, a request without a Cancel routine keeps the exit waiting, and the handles close only when it completes or 5 minutes are up (a warning); the cleanup routine gets it then, and one it leaves holds the handle's IRP_MJ_CLOSE (irp-mj-cleanup)", () => {
  const held: Irp[] = [];
  const pendPlain: DRIVER_DISPATCH = (_d, irp) => {
    IoMarkIrpPending(irp);
    held.push(irp);
    return STATUS_PENDING;
  };
  const actions = [open(ns.s / 2), ioctl(ns.s), exit(2 * ns.s)];
  const late = 2 * ns.s + 5 * 60 * ns.s + ns.s;
  // Within the 5 minutes: the exit waits; no IRP_MJ_CLEANUP yet.
  const waiting = run({ control: pendPlain, cleanup: (_d, irp) => complete(irp, STATUS_SUCCESS) }, actions);
  assert.deepEqual(rules(waiting.r), []);
  assert.equal(held[0]?.Cancel, true);
  assert.match(
    waiting.r.pending.join('\n'),
    /the application's exit \(at 2\.000000 s\) waits for 1 request\(s\) it cancelled and that no Cancel routine completed: its 1 handle\(s\) close when they complete, or after 5 minutes/,
  );
  assert.ok(!waiting.w.trace.events.some((e) => e.what === 'DispatchCleanup'));
  held.length = 0;
  // After them: a warning, the handle closes, and a cleanup that leaves the request holds the close.
  const bad = run(
    { control: pendPlain, cleanup: (_d, irp) => complete(irp, STATUS_SUCCESS) },
    actions,
    'collect',
    late,
  );
  assert.deepEqual(rules(bad.r), []);
  assert.deepEqual(
    bad.r.warnings.map((x) => x.rule),
    ['canceling-irps'],
  );
  assert.match(
    bad.r.warnings[0]!.message,
    /1 request\(s\) the application cancelled as it exited .* were not completed in 5 minutes/,
  );
  assert.match(
    bad.r.pending.join('\n'),
    /the IRP_MJ_CLOSE of handle tool \(closed by the application\) waits for its 1 pending request/,
  );
  held.length = 0;
  const cleans = run(
    {
      control: pendPlain,
      cleanup: (_d, irp) => {
        for (const q of held.splice(0)) complete(q, q.Cancel ? STATUS_CANCELLED : STATUS_SUCCESS);
        return complete(irp, STATUS_SUCCESS);
      },
    },
    actions,
    'collect',
    late,
  );
  assert.deepEqual(rules(cleans.r), []);
  assert.deepEqual(
    cleans.w.ioResults.map((x) => [x.statusName, x.completedNs >= 2 * ns.s + 5 * 60 * ns.s]),
    [['STATUS_CANCELLED', true]],
  );
  assert.deepEqual(cleans.r.pending, []);
});

test('cancel of a handle with nothing pending, or not open: traced, nothing called', () => {
  let calls = 0;
  const { w, r } = run(
    {
      cancel: (_d, irp) => {
        calls++;
        IoReleaseCancelSpinLock(irp.CancelIrql);
        complete(irp, STATUS_CANCELLED);
      },
    },
    [open(ns.s / 2), cancel(ns.s), cancel(ns.s + 1, 'nobody'), close(2 * ns.s), cancel(2 * ns.s + 1)],
  );
  assert.deepEqual(rules(r), []);
  assert.equal(calls, 0);
  const lines = w.trace.events.filter((e) => e.what.startsWith('CancelIoEx')).map((e) => e.data);
  assert.equal(lines.length, 3);
  assert.match(String(lines[0]?.result), /ERROR_NOT_FOUND/);
  assert.equal(lines[1]?.Status, 'STATUS_INVALID_HANDLE');
  assert.equal(lines[2]?.Status, 'STATUS_INVALID_HANDLE');
});

test('scenario: cancel names a handle an open opens; exit takes no handle or device', () => {
  const check = (actions: unknown[]): string[] => {
    try {
      validateScenario({ devices: [{ name: 'nic0', driver: 'healthy-nic' }], actions }, 's.yaml', [
        'healthy-nic',
      ]);
      return [];
    } catch (e) {
      return (e as { problems?: string[] }).problems ?? [String(e)];
    }
  };
  assert.deepEqual(
    check([
      { at: '1s', do: 'open', handle: 't', link: 'X' },
      { at: '2s', do: 'cancel', handle: 't' },
      { at: '3s', do: 'exit' },
    ]),
    [],
  );
  assert.match(
    check([{ at: '2s', do: 'cancel' }]).join('\n'),
    /handle: expected the application's handle name for "cancel"/,
  );
  assert.match(
    check([{ at: '2s', do: 'cancel', handle: 'x' }]).join('\n'),
    /actions\[0\]\.handle: expected a handle an "open" action opens/,
  );
  assert.match(check([{ at: '2s', do: 'exit', handle: 't' }]).join('\n'), /expected no handle for "exit"/);
  assert.match(check([{ at: '2s', do: 'exit', device: 'nic0' }]).join('\n'), /expected no device for "exit"/);
  assert.match(
    check([
      { at: '1s', do: 'open', handle: 't', link: 'X' },
      { at: '2s', do: 'cancel', handle: 't', code: 1 },
    ]).join('\n'),
    /expected only handle for "cancel", got code/,
  );
});

test('event-queue: the race-free pattern passes under explore (random, 300 seeds); its scenario cancels, exits, and leaves nothing pending', () => {
  const drivers = [eventQueue];
  const s = exampleScenario('examples/event-queue.yaml', drivers, 'event-queue');
  const { w, r } = runExample(s, drivers, s.seed);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  const statuses = new Set(w.ioResults.map((x) => x.statusName));
  assert.deepEqual([...statuses].sort(), ['STATUS_CANCELLED', 'STATUS_SUCCESS']);
  assert.equal(w.ndis.io?.pending.length, 0);
  const ex = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, 300);
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
  assert.equal(ex.passed, 300);
});

test('named I/O control codes (DriverModule.ioControlCodes): the scenario says code: IOCTL_EVENTQ_WAIT, the timeline shows the name; a name no driver gives is bad input (exit 2, with the names there are)', () => {
  const ok = cli('run', 'examples/event-queue.yaml', '--driver', 'examples/event-queue.ts');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(
    ok.stdout,
    /app +scenario: DeviceIoControl service \(IoControlCode=IOCTL_EVENTQ_WAIT, InputBufferLength=0, OutputBufferLength=4\)/,
  );
  assert.match(
    ok.stdout,
    /→ DispatchDeviceControl\(device=\\Device\\EventQueue, handle=service, IoControlCode=IOCTL_EVENTQ_WAIT\)/,
  );
  const bad = cli('run', 'test/fixtures/bad-ioctl-name.yaml', '--driver', 'examples/event-queue.ts');
  assert.equal(bad.status, 2, bad.stderr);
  assert.equal(
    bad.stderr.trim(),
    'test/fixtures/bad-ioctl-name.yaml: actions[1].code: expected an I/O control code, as a number or as a name the drivers give (IOCTL_EVENTQ_WAIT), got "IOCTL_EVENTQ_WIAT"; did you mean IOCTL_EVENTQ_WAIT?',
  );
  // From code, a world whose drivers do not name the code says so.
  const s = exampleScenario('test/fixtures/bad-ioctl-name.yaml', [eventQueue], 'event-queue');
  assert.throws(
    () => runExample(s, [eventQueue], 1),
    /an ioctl names the I\/O control code IOCTL_EVENTQ_WIAT, which none of the world's drivers gives/,
  );
});

test('a code name no driver gives is reported with every other problem of the file, in file order, by run and by explore (not only once the rest is fixed)', () => {
  const f = 'test/fixtures/bad-ioctl-name-and-more.yaml';
  for (const command of [['run'], ['explore', '--runs', '2']]) {
    const r = cli(...command, f, '--driver', 'examples/event-queue.ts');
    assert.equal(r.status, 2, r.stderr);
    // In the order of the file: the code names among the schema's problems, not after them.
    assert.deepEqual(r.stderr.trim().split('\n'), [
      `${f}: until: expected a duration such as "1.5s", "200ms", "50us" or "30min", got "1sx"`,
      `${f}: actions[1].code: expected an I/O control code, as a number or as a name the drivers give (IOCTL_EVENTQ_WAIT), got "IOCTL_EVENTQ_WIAT"; did you mean IOCTL_EVENTQ_WAIT?`,
      `${f}: actions[2].oid: expected an OID name such as OID_GEN_STATISTICS (run ndis-sim oids for the list) or an OID number such as 0x00010202, got "OID_GEN_XMIT_OKK"; did you mean OID_GEN_XMIT_OK?`,
      `${f}: actions[3].code: expected an I/O control code, as a number or as a name the drivers give (IOCTL_EVENTQ_WAIT), got "IOCTL_NOSUCH"`,
    ]);
  }
});

test('NdisSim_CallbackReturnValue, R8.1: an async Cancel routine (its Promise, the rest of its body after an await outside the model) is reported as an async handler is', () => {
  const { r } = run(
    {
      cancel: (async (_d: unknown, irp: Irp) => {
        IoReleaseCancelSpinLock(irp.CancelIrql);
        complete(irp, STATUS_CANCELLED);
      }) as unknown as DRIVER_CANCEL,
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(ns.s + ns.ms)],
  );
  assert.deepEqual(
    r.violations.filter((v) => v.rule === 'NdisSim_CallbackReturnValue').map((v) => v.message),
    ['Cancel returned a Promise — handlers must be synchronous (async handler?)'],
  );
});

test('a Cancel routine written as a generator function (none of its body would run) stops the run as not-modelled, naming it', () => {
  let ran = false;
  const { r } = run(
    {
      cancel: function* () {
        ran = true;
        yield NdisMSleep(10);
      } as unknown as DRIVER_CANCEL,
    },
    [open(ns.s / 2), ioctl(ns.s), cancel(ns.s + ns.ms)],
  );
  assert.equal(ran, false);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /^Cancel is not modelled by ndis-sim: a resumable Cancel \(a generator function/,
  );
});
