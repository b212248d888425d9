// Cancel-safe IRP queues (IoCsqXxx; cancel-safe-irp-queues, nf-wdm-iocsqinsertirp,
// nf-wdm-iocsqremovenextirp, nf-wdm-iocsqremoveirp): a control device whose reads wait
// in a CSQ for a write to answer them, cancelled by the application (CancelIoEx, exit)
// and emptied at cleanup; and the mistakes the library does not forgive.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DISPATCH_IO_STACK_LOCATION,
  DO_BUFFERED_IO,
  type DRIVER_DISPATCH,
  type FILE_OBJECT,
  IO_CSQ,
  IO_CSQ_IRP_CONTEXT,
  IO_NO_INCREMENT,
  IoCompleteRequest,
  IoCsqInitialize,
  IoCsqInitializeEx,
  IoCsqInsertIrp,
  IoCsqInsertIrpEx,
  IoCsqRemoveIrp,
  IoCsqRemoveNextIrp,
  IoMarkIrpPending,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_READ,
  IRP_MJ_WRITE,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisAllocateSpinLock,
  NdisRegisterDeviceEx,
  NdisReleaseSpinLock,
  type NTSTATUS,
  STATUS_CANCELLED,
  STATUS_DEVICE_NOT_READY,
  STATUS_PENDING,
  STATUS_SUCCESS,
} from '../src/index.ts';
import type { WorldAction } from '../src/world.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

/** The driver's queue behind the CSQ: a list under an NDIS spin lock; a peek context is a FILE_OBJECT or NULL. */
class ReadQueue {
  readonly csq = new IO_CSQ();
  readonly lock = new NDIS_SPIN_LOCK();
  readonly irps: Irp[] = [];
  readonly calls: string[] = [];

  init(o: { ex?: (irp: Irp) => NTSTATUS; peekStuck?: boolean } = {}): NTSTATUS {
    NdisAllocateSpinLock(this.lock);
    const remove = (_c: IO_CSQ, irp: Irp): void => {
      this.calls.push('remove');
      if (o.peekStuck !== true) this.irps.splice(this.irps.indexOf(irp), 1); // BUG with peekStuck: left in the list
    };
    const peek = (_c: IO_CSQ, irp: Irp | null, file: unknown): Irp | null => {
      if (o.peekStuck === true) return this.irps[0] ?? null; // BUG: ignores `irp`, never moves on
      let i = irp === null ? 0 : this.irps.indexOf(irp) + 1;
      for (; i < this.irps.length; i++) {
        const q = this.irps[i]!;
        if (file === null || q.Tail.Overlay.CurrentStackLocation.FileObject === (file as FILE_OBJECT))
          return q;
      }
      return null;
    };
    const acquire = (): number => {
      NdisAcquireSpinLock(this.lock);
      return 0; // NDIS_SPIN_LOCK keeps the IRQL itself
    };
    const release = (): void => NdisReleaseSpinLock(this.lock);
    const cancelled = (_c: IO_CSQ, irp: Irp): void => {
      this.calls.push('cancelled');
      complete(irp, STATUS_CANCELLED);
    };
    if (o.ex !== undefined) {
      const ex = o.ex;
      return IoCsqInitializeEx(
        this.csq,
        (_c, irp) => {
          const s = ex(irp);
          if (s === STATUS_SUCCESS) this.irps.push(irp);
          return s;
        },
        remove,
        peek,
        acquire,
        release,
        cancelled,
      );
    }
    return IoCsqInitialize(
      this.csq,
      (_c, irp) => {
        this.calls.push('insert');
        this.irps.push(irp);
      },
      remove,
      peek,
      acquire,
      release,
      cancelled,
    );
  }
}

interface Setup {
  q: ReadQueue;
  /** The routines, which a test may replace before the run. */
  read: DRIVER_DISPATCH;
  write: DRIVER_DISPATCH;
  cleanup: DRIVER_DISPATCH;
  init?: (q: ReadQueue) => NTSTATUS;
}

/** A read waits in the CSQ; a write answers the oldest read with its bytes; cleanup empties the handle's reads. */
function setup(): Setup {
  const q = new ReadQueue();
  return {
    q,
    read: (_d, irp) => {
      IoCsqInsertIrp(q.csq, irp, null);
      return STATUS_PENDING;
    },
    write: (_d, irp) => {
      const r = IoCsqRemoveNextIrp(q.csq, null);
      if (r === null) return complete(irp, STATUS_DEVICE_NOT_READY);
      const data = irp.AssociatedIrp.SystemBuffer!;
      const to = r.AssociatedIrp.SystemBuffer!;
      const n = Math.min(data.length, to.length);
      to.set(data.subarray(0, n));
      complete(r, STATUS_SUCCESS, n);
      return complete(irp, STATUS_SUCCESS, data.length);
    },
    cleanup: (_d, irp) => {
      const file = irp.Tail.Overlay.CurrentStackLocation.FileObject;
      for (let r = IoCsqRemoveNextIrp(q.csq, file); r !== null; r = IoCsqRemoveNextIrp(q.csq, file))
        complete(r, STATUS_CANCELLED);
      return complete(irp, STATUS_SUCCESS);
    },
  };
}

function run(s: Setup, actions: { atNs: number; action: WorldAction }[], cpus = 2, seed = 1) {
  const m: DRIVER_DISPATCH[] = [];
  m[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLOSE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLEANUP] = (d, irp) => s.cleanup(d, irp);
  m[IRP_MJ_READ] = (d, irp) => s.read(d, irp);
  m[IRP_MJ_WRITE] = (d, irp) => s.write(d, irp);
  const drv = scriptedDriver('csq-nic', {
    driverEntry: (driver) => {
      const st = s.init === undefined ? s.q.init() : s.init(s.q);
      assert.equal(st, STATUS_SUCCESS);
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\CsqCtl',
        SymbolicName: '\\DosDevices\\CsqCtl',
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      r.pDeviceObject!.Flags |= DO_BUFFERED_IO;
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    seed,
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'csq-nic' }],
    actions: [{ atNs: ns.s / 2, action: { kind: 'open', handle: 'app', link: 'CsqCtl' } }, ...actions],
    options: { verifier: 'collect', cpus },
  });
  const r = w.run(3 * ns.s);
  return { w, r };
}

const act = (atNs: number, action: WorldAction) => ({ atNs, action });
const read = (atNs: number, times = 1) =>
  act(atNs, { kind: 'read', handle: 'app', length: 4, ...(times > 1 ? { everyNs: ns.ms, times } : {}) });
const write = (atNs: number, data: number[]) => act(atNs, { kind: 'write', handle: 'app', data });
const rules = (r: { violations: { rule: string }[] }) => r.violations.map((v) => v.rule);
const results = (w: ReturnType<typeof run>['w']) =>
  w.ioResults.map((x) => `${x.request} ${x.statusName} ${x.output.join(',')}`);

test('IoCsqInsertIrp / IoCsqRemoveNextIrp: reads wait in the queue, a write answers the oldest; CancelIoEx cancels the rest through CsqCompleteCanceledIrp; exit and cleanup leave nothing', () => {
  for (const cpus of [1, 2, 4]) {
    const s = setup();
    const { w, r } = run(
      s,
      [
        read(ns.s, 3),
        write(ns.s + 10 * ns.ms, [7, 8]),
        act(ns.s + 20 * ns.ms, { kind: 'cancel', handle: 'app' }),
        read(ns.s + 30 * ns.ms, 2),
        act(2 * ns.s, { kind: 'exit' }),
      ],
      cpus,
    );
    assert.deepEqual(rules(r), [], `cpus ${cpus}`);
    assert.deepEqual(results(w), [
      'ReadFile STATUS_SUCCESS 7,8',
      'WriteFile STATUS_SUCCESS ',
      'ReadFile STATUS_CANCELLED ',
      'ReadFile STATUS_CANCELLED ',
      'ReadFile STATUS_CANCELLED ',
      'ReadFile STATUS_CANCELLED ',
    ]);
    assert.deepEqual(r.pending, []);
    assert.deepEqual(s.q.irps, []);
    assert.deepEqual(s.q.calls, [
      'insert',
      'insert',
      'insert',
      'remove', // the write's
      'remove', // CancelIoEx
      'cancelled',
      'remove',
      'cancelled',
      'insert',
      'insert',
      'remove', // exit: the I/O manager cancels before it closes
      'cancelled',
      'remove',
      'cancelled',
    ]);
  }
});

test('IoCsqRemoveIrp: the IRP its context names, or NULL once it has left the queue (cancelled)', () => {
  const s = setup();
  const contexts: IO_CSQ_IRP_CONTEXT[] = [];
  const got: (string | null)[] = [];
  s.read = (_d, irp) => {
    const c = new IO_CSQ_IRP_CONTEXT();
    contexts.push(c);
    IoCsqInsertIrp(s.q.csq, irp, c);
    assert.equal(c.Irp, irp);
    return STATUS_PENDING;
  };
  s.write = (_d, irp) => {
    // The first context's IRP was cancelled: NULL. The second is still queued.
    for (const c of contexts) {
      const r = IoCsqRemoveIrp(s.q.csq, c);
      got.push(r === null ? null : 'irp');
      if (r !== null) complete(r, STATUS_SUCCESS);
    }
    return complete(irp, STATUS_SUCCESS, 1);
  };
  const { r } = run(s, [
    read(ns.s),
    act(ns.s + ns.ms, { kind: 'cancel', handle: 'app' }),
    read(ns.s + 2 * ns.ms),
    write(ns.s + 3 * ns.ms, [1]),
  ]);
  assert.deepEqual(rules(r), []);
  assert.deepEqual(got, [null, 'irp']);
  assert.deepEqual(
    contexts.map((c) => c.Irp),
    [null, null],
  );
});

test("an IRP cancelled before IoCsqInsertIrp is not queued: it goes to CsqCompleteCanceledIrp; IoCsqInsertIrpEx passes CsqInsertIrpEx's refusal back", () => {
  const s = setup();
  const held: Irp[] = [];
  s.read = (_d, irp) => {
    IoMarkIrpPending(irp);
    held.push(irp); // queued later, when a write comes
    return STATUS_PENDING;
  };
  s.write = (_d, irp) => {
    for (const h of held.splice(0)) IoCsqInsertIrp(s.q.csq, h, null);
    return complete(irp, STATUS_SUCCESS, 1);
  };
  const { w, r } = run(s, [
    read(ns.s),
    act(ns.s + ns.ms, { kind: 'cancel', handle: 'app' }),
    write(ns.s + 2 * ns.ms, [1]),
  ]);
  assert.deepEqual(rules(r), []);
  assert.deepEqual(s.q.calls, ['cancelled']);
  assert.deepEqual(results(w), ['ReadFile STATUS_CANCELLED ', 'WriteFile STATUS_SUCCESS ']);

  const ex = setup();
  const statuses: NTSTATUS[] = [];
  ex.init = (q) => q.init({ ex: () => (q.irps.length >= 1 ? STATUS_DEVICE_NOT_READY : STATUS_SUCCESS) });
  ex.read = (_d, irp) => {
    const st = IoCsqInsertIrpEx(ex.q.csq, irp, null, 'room for one');
    statuses.push(st);
    return st === STATUS_SUCCESS ? STATUS_PENDING : complete(irp, st);
  };
  const two = run(ex, [read(ns.s, 2), act(2 * ns.s, { kind: 'exit' })]);
  assert.deepEqual(rules(two.r), []);
  assert.deepEqual(statuses, [STATUS_SUCCESS, STATUS_DEVICE_NOT_READY]);
  assert.deepEqual(results(two.w), ['ReadFile STATUS_DEVICE_NOT_READY ', 'ReadFile STATUS_CANCELLED ']);
});

test('the mistakes: completing a queued IRP without taking it out (0xC9/0x07), a cleanup that leaves the queue (NdisSim_IrpPendingAtClose), a queue used before IoCsqInitialize, a peek routine that does not move on', () => {
  const early = setup();
  early.write = (_d, irp) => {
    const r = early.q.irps[0]!; // BUG: straight from the driver's list, still in the CSQ
    complete(r, STATUS_SUCCESS);
    return complete(irp, STATUS_SUCCESS, 1);
  };
  const a = run(early, [read(ns.s), write(ns.s + ns.ms, [1])]);
  assert.deepEqual(rules(a.r), ['NdisSim_IrpCompletedWithCancelRoutine']);

  const forgets = setup();
  forgets.cleanup = (_d, irp) => complete(irp, STATUS_SUCCESS); // BUG: the handle's reads stay queued
  const b = run(forgets, [read(ns.s), act(2 * ns.s, { kind: 'close', handle: 'app' })]);
  assert.deepEqual(rules(b.r), ['NdisSim_IrpPendingAtClose']);

  const uninit = setup();
  uninit.init = () => STATUS_SUCCESS; // BUG: IoCsqInitialize never called
  const c = run(uninit, [read(ns.s)]);
  assert.deepEqual(rules(c.r), ['NdisSim_BadParameter']);
  assert.match(c.r.violations[0]!.message, /IoCsqInsertIrp: the IO_CSQ was not initialized/);

  const stuck = setup();
  stuck.init = (q) => q.init({ peekStuck: true });
  let first = true;
  const insert = stuck.read;
  stuck.read = (d, irp) => {
    if (!first) return insert(d, irp);
    first = false;
    IoMarkIrpPending(irp);
    stuck.q.irps.push(irp); // BUG: in the driver's list, never given to the CSQ
    return STATUS_PENDING;
  };
  // The write finds the head (not in the CSQ, so skipped), asks for the one after it,
  // and gets the head once more.
  const d = run(stuck, [read(ns.s, 2), write(ns.s + 10 * ns.ms, [1])]);
  assert.deepEqual(rules(d.r), ['NdisSim_BadParameter']);
  assert.match(
    d.r.violations[0]!.message,
    /CsqPeekNextIrp returned an IRP it had returned already in this IoCsqRemoveNextIrp/,
  );

  // A CsqRemoveIrp that leaves the IRP in the list: the next walk peeks a completed
  // IRP (freed, in C). The first write takes the head; the second peeks it again.
  const leaves = setup();
  leaves.init = (q) => q.init({ peekStuck: true });
  const e = run(leaves, [read(ns.s, 2), write(ns.s + 10 * ns.ms, [1]), write(ns.s + 11 * ns.ms, [2])]);
  assert.deepEqual(rules(e.r), ['NdisSim_ObjectFreedInUse']);
  assert.match(
    e.r.violations[0]!.message,
    /CsqPeekNextIrp returned an IRP .* that IoCompleteRequest completed already/,
  );
});

test('NdisSim_CallbackReturnValue, R8.1: an async queue routine (CsqInsertIrp here) is reported as an async handler is', () => {
  const s = setup();
  s.init = (q) => {
    NdisAllocateSpinLock(q.lock);
    return IoCsqInitialize(
      q.csq,
      (async () => {}) as unknown as Parameters<typeof IoCsqInitialize>[1],
      () => {},
      () => null,
      () => {
        NdisAcquireSpinLock(q.lock);
        return 0;
      },
      () => NdisReleaseSpinLock(q.lock),
      () => {},
    );
  };
  const { r } = run(s, [read(ns.s)]);
  assert.deepEqual(
    r.violations.filter((v) => v.rule === 'NdisSim_CallbackReturnValue').map((v) => v.message),
    ['CsqInsertIrp returned a Promise — handlers must be synchronous (async handler?)'],
  );
});

test('a queue routine written as a generator function (CsqInsertIrp here; none of its body would run) stops the run as not-modelled, naming it', () => {
  const s = setup();
  let ran = false;
  s.init = (q) => {
    NdisAllocateSpinLock(q.lock);
    return IoCsqInitialize(
      q.csq,
      function* () {
        ran = true;
        yield 0;
      } as unknown as Parameters<typeof IoCsqInitialize>[1],
      () => {},
      () => null,
      () => {
        NdisAcquireSpinLock(q.lock);
        return 0;
      },
      () => NdisReleaseSpinLock(q.lock),
      () => {},
    );
  };
  const { r } = run(s, [read(ns.s)]);
  assert.equal(ran, false);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', /^CsqInsertIrp is not modelled by ndis-sim: a resumable CsqInsertIrp/);
});
