// Session-26 hunt for false positives and negatives in the control-device checks
// (reads and writes, direct I/O and MDLs, cleanup and close, cancel-safe queues, a
// protocol driver's own device). Each test names the Microsoft page the driver follows
// or breaks, and what the model did before the fix.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import {
  type DISPATCH_IO_STACK_LOCATION,
  DO_BUFFERED_IO,
  DO_DIRECT_IO,
  type DRIVER_DISPATCH,
  type DRIVER_OBJECT,
  type DriverModule,
  FILE_DEVICE_NETWORK,
  type FILE_OBJECT,
  IO_CSQ,
  IO_CSQ_IRP_CONTEXT,
  IO_NO_INCREMENT,
  IoCompleteRequest,
  IoCreateDevice,
  IoCreateSymbolicLink,
  IoCsqInitialize,
  IoCsqInitializeEx,
  IoCsqInsertIrp,
  IoCsqRemoveIrp,
  IoCsqRemoveNextIrp,
  IoDeleteDevice,
  IoDeleteSymbolicLink,
  IoMarkIrpPending,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_READ,
  IRP_MJ_WRITE,
  MmGetMdlByteCount,
  MmGetSystemAddressForMdlSafe,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireSpinLock,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCloseAdapterEx,
  NdisCompleteBindAdapterEx,
  NdisCompleteUnbindAdapterEx,
  NdisDeregisterProtocolDriver,
  NdisFreeNetBufferList,
  NdisOpenAdapterEx,
  NdisRegisterDeviceEx,
  NdisRegisterProtocolDriver,
  NdisReleaseSpinLock,
  NdisSendNetBufferLists,
  NdisSetTimerObject,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NormalPagePriority,
  type NTSTATUS,
  STATUS_CANCELLED,
  STATUS_DEVICE_BUSY,
  STATUS_PENDING,
  STATUS_SUCCESS,
  World,
} from '../src/index.ts';
import type { WorldAction } from '../src/world.ts';
import { openParameters } from './helpers/protocol.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

/** A miniport driver with one control device (\\.\Hunt26) and a driver-handle timer `later` arms. */
interface Dev {
  flags: number;
  majors: Partial<Record<number, DRIVER_DISPATCH>>;
  entry?: () => void;
}

let timer: unknown = null;
let onTimer: (() => void) | null = null;

/** Runs `fn` from the driver's timer (at DISPATCH_LEVEL) `ms` from now. */
function later(ms: number, fn: () => void): void {
  onTimer = fn;
  NdisSetTimerObject(timer as never, -ms * 10_000, 0, null);
}

function run(
  d: Dev,
  actions: { atNs: number; action: WorldAction }[],
  link = '\\DosDevices\\Hunt26',
  opens = 'Hunt26',
) {
  const m: DRIVER_DISPATCH[] = [];
  m[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLOSE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLEANUP] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  for (const [k, f] of Object.entries(d.majors)) m[Number(k)] = f!;
  const drv = scriptedDriver('hunt26-nic', {
    driverEntry: (driver) => {
      timer = NdisAllocateTimerObject(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0x36326e68,
        TimerFunction: () => onTimer?.(),
        FunctionContext: null,
      }).TimerObject;
      d.entry?.();
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\Hunt26',
        SymbolicName: link,
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      r.pDeviceObject!.Flags |= d.flags;
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'hunt26-nic' }],
    actions: [{ atNs: ns.s / 2, action: { kind: 'open', handle: 'app', link: opens } }, ...actions],
    options: { verifier: 'collect' },
  });
  return { w, r: w.run(3 * ns.s) };
}

const act = (atNs: number, action: WorldAction) => ({ atNs, action });
const rules = (r: { violations: { rule: string }[] }) => r.violations.map((v) => v.rule);
const results = (w: World) => w.ioResults.map((x) => `${x.request} ${x.statusName} ${x.output.join(',')}`);

/** A cancel-safe queue over a list, locked with an NDIS spin lock; a peek context is a FILE_OBJECT or NULL. */
class Queue {
  readonly csq = new IO_CSQ();
  readonly lock = new NDIS_SPIN_LOCK();
  readonly irps: Irp[] = [];

  init(o: { release?: () => void; refuse?: NTSTATUS } = {}): NTSTATUS {
    NdisAllocateSpinLock(this.lock);
    const peek = (_c: IO_CSQ, irp: Irp | null, file: unknown): Irp | null => {
      for (let i = irp === null ? 0 : this.irps.indexOf(irp) + 1; i < this.irps.length; i++) {
        const q = this.irps[i]!;
        if (file === null || q.Tail.Overlay.CurrentStackLocation.FileObject === (file as FILE_OBJECT))
          return q;
      }
      return null;
    };
    const remove = (_c: IO_CSQ, irp: Irp): void => {
      this.irps.splice(this.irps.indexOf(irp), 1);
    };
    const acquire = (): number => {
      NdisAcquireSpinLock(this.lock);
      return 0;
    };
    const release = o.release ?? ((): void => NdisReleaseSpinLock(this.lock));
    const cancelled = (_c: IO_CSQ, irp: Irp): void => {
      complete(irp, STATUS_CANCELLED);
    };
    if (o.refuse !== undefined) {
      const refuse = o.refuse;
      return IoCsqInitializeEx(this.csq, () => refuse, remove, peek, acquire, release, cancelled);
    }
    const insert = (_c: IO_CSQ, irp: Irp): void => {
      this.irps.push(irp);
    };
    return IoCsqInitialize(this.csq, insert, remove, peek, acquire, release, cancelled);
  }
}

test("irp-mj-cleanup, dispatchcleanup-routines: a cleanup routine that pends its IRP and empties the handle's queue from its timer before completing it is not NdisSim_IrpPendingAtClose (it was reported when the routine returned); one that completes it with the queue still full is, at that completion", () => {
  for (const drains of [true, false]) {
    const q = new Queue();
    const { w, r } = run(
      {
        flags: DO_BUFFERED_IO,
        entry: () => q.init(),
        majors: {
          [IRP_MJ_READ]: (_d, irp) => {
            IoCsqInsertIrp(q.csq, irp, null);
            return STATUS_PENDING;
          },
          [IRP_MJ_CLEANUP]: (_d, irp) => {
            const file = irp.Tail.Overlay.CurrentStackLocation.FileObject;
            IoMarkIrpPending(irp);
            later(2, () => {
              if (drains)
                for (let x = IoCsqRemoveNextIrp(q.csq, file); x !== null; x = IoCsqRemoveNextIrp(q.csq, file))
                  complete(x, STATUS_CANCELLED);
              complete(irp, STATUS_SUCCESS);
            });
            return STATUS_PENDING;
          },
        },
      },
      [
        act(ns.s, { kind: 'read', handle: 'app', length: 2 }),
        act(2 * ns.s, { kind: 'close', handle: 'app' }),
      ],
    );
    if (drains) {
      assert.deepEqual(rules(r), []);
      assert.deepEqual(results(w), ['ReadFile STATUS_CANCELLED ']);
      assert.deepEqual(r.pending, []);
      // IRP_MJ_CLOSE came after the pended cleanup completed.
      const ev = w.trace.events;
      const done = ev.findIndex((e) => e.what === 'ReadFile app completes');
      const close = ev.findIndex((e) => e.kind === 'call' && e.what === 'DispatchClose');
      assert.ok(done > 0 && close > done);
    } else {
      assert.deepEqual(rules(r), ['NdisSim_IrpPendingAtClose']);
      assert.match(
        r.violations[0]!.message,
        /still queued, their Cancel routine set, when IRP_MJ_CLEANUP for it was completed \(the cleanup routine had pended it\)/,
      );
    }
  }
});

test('methods-for-accessing-data-buffers: zero-length reads and writes (no buffer, no MDL) and a direct read filled from a timer pass', () => {
  const held: Irp[] = [];
  const { w, r } = run(
    {
      flags: DO_DIRECT_IO,
      majors: {
        [IRP_MJ_READ]: (_d, irp) => {
          if (irp.MdlAddress === null) return complete(irp, STATUS_SUCCESS);
          IoMarkIrpPending(irp);
          held.push(irp);
          later(1, () => {
            for (const x of held.splice(0)) {
              const b = MmGetSystemAddressForMdlSafe(x.MdlAddress!, NormalPagePriority)!;
              b.fill(9);
              complete(x, STATUS_SUCCESS, MmGetMdlByteCount(x.MdlAddress!));
            }
          });
          return STATUS_PENDING;
        },
        [IRP_MJ_WRITE]: (_d, irp) =>
          complete(irp, STATUS_SUCCESS, irp.MdlAddress === null ? 0 : MmGetMdlByteCount(irp.MdlAddress)),
      },
    },
    [
      act(ns.s, { kind: 'read', handle: 'app', length: 0 }),
      act(ns.s + 1, { kind: 'write', handle: 'app', data: [] }),
      act(ns.s + 2, { kind: 'read', handle: 'app', length: 2 }),
      act(2 * ns.s, { kind: 'close', handle: 'app' }),
    ],
  );
  assert.deepEqual(rules(r), []);
  assert.deepEqual(results(w), [
    'ReadFile STATUS_SUCCESS ',
    'WriteFile STATUS_SUCCESS ',
    'ReadFile STATUS_SUCCESS 9,9',
  ]);
});

test('implementing-an-iocompletion-routine (the caller of IoCompleteRequest must not access the just-completed IRP), using-buffered-i-o: Irp->IoStatus.Status returned after IoCompleteRequest, the system buffer written after it and MmGetMdlByteCount after it are NdisSim_ObjectFreedInUse; all passed before', () => {
  // The classic: return Irp->IoStatus.Status after completing.
  const a = run(
    {
      flags: DO_BUFFERED_IO,
      majors: {
        [IRP_MJ_WRITE]: (_d, irp) => {
          irp.IoStatus.Status = STATUS_SUCCESS;
          irp.IoStatus.Information = 1;
          IoCompleteRequest(irp, IO_NO_INCREMENT);
          return irp.IoStatus.Status; // BUG
        },
      },
    },
    [act(ns.s, { kind: 'write', handle: 'app', data: [1] })],
  );
  assert.deepEqual(rules(a.r), ['NdisSim_ObjectFreedInUse']);
  assert.match(
    a.r.violations[0]!.message,
    /DispatchWrite of hunt26-nic used Irp->IoStatus\.Status of a request of handle app \(WriteFile \(1 bytes\)\) after IoCompleteRequest completed it/,
  );

  // A read completed, then its system buffer written from the same timer routine.
  const held: Irp[] = [];
  const b = run(
    {
      flags: DO_BUFFERED_IO,
      majors: {
        [IRP_MJ_READ]: (_d, irp) => {
          IoMarkIrpPending(irp);
          held.push(irp);
          later(1, () => {
            const x = held.pop()!;
            complete(x, STATUS_SUCCESS, 1);
            x.AssociatedIrp.SystemBuffer![0] = 7; // BUG: freed with the IRP
          });
          return STATUS_PENDING;
        },
      },
    },
    [act(ns.s, { kind: 'read', handle: 'app', length: 1 })],
  );
  assert.deepEqual(rules(b.r), ['NdisSim_ObjectFreedInUse']);
  assert.match(
    b.r.violations[0]!.message,
    /NdisTimerFunction of hunt26-nic used Irp->AssociatedIrp\.SystemBuffer/,
  );
  assert.deepEqual(
    results(b.w),
    ['ReadFile STATUS_SUCCESS 0'],
    'the late write never reached the application',
  );

  // Direct I/O: the MDL (in a local, or read again from the IRP) measured after the completion.
  for (const viaIrp of [false, true]) {
    const c = run(
      {
        flags: DO_DIRECT_IO,
        majors: {
          [IRP_MJ_WRITE]: (_d, irp) => {
            const mdl = irp.MdlAddress!;
            complete(irp, STATUS_SUCCESS, 2);
            MmGetMdlByteCount(viaIrp ? irp.MdlAddress! : mdl); // BUG
            return STATUS_SUCCESS;
          },
        },
      },
      [act(ns.s, { kind: 'write', handle: 'app', data: [1, 2] })],
    );
    assert.deepEqual(rules(c.r), ['NdisSim_ObjectFreedInUse']);
    assert.match(
      c.r.violations[0]!.message,
      /MmGetMdlByteCount on the MDL of a request that IoCompleteRequest completed already/,
    );
  }
});

test('cancel-safe-irp-queues: a queue drained by IoCsqRemoveNextIrp with a FILE_OBJECT peek context at cleanup, an IRP taken out and inserted again, and a METHOD_OUT_DIRECT control with no output buffer all pass', () => {
  const q = new Queue();
  const OUT_DIRECT = 0x00222002;
  const { w, r } = run(
    {
      flags: DO_BUFFERED_IO,
      entry: () => q.init(),
      majors: {
        [IRP_MJ_READ]: (_d, irp) => {
          IoCsqInsertIrp(q.csq, irp, null);
          return STATUS_PENDING;
        },
        [IRP_MJ_WRITE]: (_d, irp) => {
          const x = IoCsqRemoveNextIrp(q.csq, null);
          if (x !== null) IoCsqInsertIrp(q.csq, x, null); // back in the queue: allowed
          return complete(irp, STATUS_SUCCESS, 1);
        },
        [IRP_MJ_DEVICE_CONTROL]: (_d, irp) => complete(irp, STATUS_SUCCESS, irp.MdlAddress === null ? 0 : 1),
        [IRP_MJ_CLEANUP]: (_d, irp) => {
          const file = irp.Tail.Overlay.CurrentStackLocation.FileObject;
          for (let x = IoCsqRemoveNextIrp(q.csq, file); x !== null; x = IoCsqRemoveNextIrp(q.csq, file))
            complete(x, STATUS_CANCELLED);
          return complete(irp, STATUS_SUCCESS);
        },
      },
    },
    [
      act(ns.s, { kind: 'read', handle: 'app', length: 2 }),
      act(ns.s + 1, { kind: 'write', handle: 'app', data: [1] }),
      act(ns.s + 2, { kind: 'ioctl', handle: 'app', code: OUT_DIRECT, input: [1], outputLength: 0 }),
      act(2 * ns.s, { kind: 'close', handle: 'app' }),
    ],
  );
  assert.deepEqual(rules(r), []);
  assert.deepEqual(results(w), [
    'WriteFile STATUS_SUCCESS ',
    'DeviceIoControl STATUS_SUCCESS ',
    'ReadFile STATUS_CANCELLED ',
  ]);
  assert.deepEqual(q.irps, []);
});

test('cancel-safe-irp-queues (CsqAcquireLock and CsqReleaseLock are a pair): a CsqReleaseLock that releases nothing is SpinLockBalanced at CsqReleaseLock, naming the pair; it was blamed on DispatchRead, IoCompleteRequest and the Cancel routine', () => {
  const q = new Queue();
  const { r } = run(
    {
      flags: DO_BUFFERED_IO,
      entry: () => q.init({ release: () => {} }), // BUG: the lock stays held
      majors: {
        [IRP_MJ_READ]: (_d, irp) => {
          IoCsqInsertIrp(q.csq, irp, null);
          return STATUS_PENDING;
        },
      },
    },
    [act(ns.s, { kind: 'read', handle: 'app', length: 2 }), act(2 * ns.s, { kind: 'exit' })],
  );
  // Once at the insert, once at the cancel (the library takes the lock again there).
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [
      ['SpinLockBalanced', 'CsqReleaseLock'],
      ['SpinLockBalanced', 'CsqReleaseLock'],
    ],
  );
  assert.match(
    r.violations[0]!.message,
    /CsqReleaseLock returned with 1 spin lock\(s\) still held that CsqAcquireLock took/,
  );
});

test('nf-wdm-iocsqinsertirp, nf-wdm-iocsqremoveirp: an IO_CSQ_IRP_CONTEXT given to a second IoCsqInsertIrp while its IRP is still queued, and IoCsqRemoveIrp with a context of another queue, are NdisSim_BadParameter; both passed silently', () => {
  const q = new Queue();
  const shared = new IO_CSQ_IRP_CONTEXT();
  const a = run(
    {
      flags: DO_BUFFERED_IO,
      entry: () => q.init(),
      majors: {
        [IRP_MJ_READ]: (_d, irp) => {
          IoCsqInsertIrp(q.csq, irp, shared); // BUG on the second read
          return STATUS_PENDING;
        },
      },
    },
    [
      act(ns.s, { kind: 'read', handle: 'app', length: 1 }),
      act(ns.s + 1, { kind: 'read', handle: 'app', length: 1 }),
    ],
  );
  assert.deepEqual(rules(a.r), ['NdisSim_BadParameter']);
  assert.match(
    a.r.violations[0]!.message,
    /IoCsqInsertIrp: Context still names an IRP in a cancel-safe queue/,
  );

  const one = new Queue();
  const two = new Queue();
  const ctx = new IO_CSQ_IRP_CONTEXT();
  let got: unknown = 'not called';
  const b = run(
    {
      flags: DO_BUFFERED_IO,
      entry: () => {
        one.init();
        two.init();
      },
      majors: {
        [IRP_MJ_READ]: (_d, irp) => {
          IoCsqInsertIrp(one.csq, irp, ctx);
          return STATUS_PENDING;
        },
        [IRP_MJ_WRITE]: (_d, irp) => {
          got = IoCsqRemoveIrp(two.csq, ctx); // BUG: inserted in `one`
          return complete(irp, STATUS_SUCCESS, 1);
        },
      },
    },
    [
      act(ns.s, { kind: 'read', handle: 'app', length: 1 }),
      act(ns.s + 1, { kind: 'write', handle: 'app', data: [1] }),
    ],
  );
  assert.deepEqual(rules(b.r), ['NdisSim_BadParameter']);
  assert.match(
    b.r.violations[0]!.message,
    /IoCsqRemoveIrp: Context names an IRP that IoCsqInsertIrp put in another IO_CSQ/,
  );
  assert.equal(got, 'not called');
});

test('cancel-safe-irp-queues: IoCsqInsertIrp (VOID) on an IoCsqInitializeEx queue whose CsqInsertIrpEx refuses the IRP is NdisSim_BadParameter naming IoCsqInsertIrpEx; it was reported as a dispatch routine that returned STATUS_PENDING without IoMarkIrpPending', () => {
  const q = new Queue();
  const { r } = run(
    {
      flags: DO_BUFFERED_IO,
      entry: () => q.init({ refuse: STATUS_DEVICE_BUSY }),
      majors: {
        [IRP_MJ_READ]: (_d, irp) => {
          IoCsqInsertIrp(q.csq, irp, null); // BUG: cannot see the refusal
          return STATUS_PENDING;
        },
      },
    },
    [act(ns.s, { kind: 'read', handle: 'app', length: 1 })],
  );
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_BadParameter', 'CsqInsertIrpEx']],
  );
  assert.match(
    r.violations[0]!.message,
    /refused an IRP .* with STATUS_DEVICE_BUSY under IoCsqInsertIrp, which returns nothing/,
  );
});

/** A protocol driver with a control device \Device\Hunt26P and its link, deleted by its Unload routine as `unload` says. */
function protocolWithDevice(
  unload: (dev: NonNullable<ReturnType<typeof IoCreateDevice>['DeviceObject']>) => void,
  link = '\\DosDevices\\Hunt26P',
  flags = DO_BUFFERED_IO,
): DriverModule {
  return {
    name: 'hunt26-proto',
    load: () => ({
      DriverEntry: (obj: DRIVER_OBJECT) => {
        const r = NdisRegisterProtocolDriver(null, {
          Header: {
            Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
            Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
          },
          MajorNdisVersion: 6,
          MinorNdisVersion: 0,
          Name: 'hunt26-proto',
          BindAdapterHandlerEx: () => NDIS_STATUS_FAILURE,
          UnbindAdapterHandlerEx: () => NDIS_STATUS_SUCCESS,
          OpenAdapterCompleteHandlerEx: () => {},
          CloseAdapterCompleteHandlerEx: () => {},
          NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
          OidRequestCompleteHandler: () => {},
          ReceiveNetBufferListsHandler: () => {},
          SendNetBufferListsCompleteHandler: () => {},
        });
        const proto = r.NdisProtocolHandle!;
        obj.MajorFunction[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
        obj.MajorFunction[IRP_MJ_CLEANUP] = (_d, irp) => complete(irp, STATUS_SUCCESS);
        obj.MajorFunction[IRP_MJ_CLOSE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
        const d = IoCreateDevice(obj, 0, '\\Device\\Hunt26P', FILE_DEVICE_NETWORK, 0, false).DeviceObject!;
        d.Flags |= flags;
        assert.equal(IoCreateSymbolicLink(link, '\\Device\\Hunt26P'), STATUS_SUCCESS);
        obj.MajorFunction[IRP_MJ_WRITE] = (_d, irp) => complete(irp, STATUS_SUCCESS, 1);
        obj.DriverUnload = () => {
          unload(d);
          NdisDeregisterProtocolDriver(proto);
        };
        return r.Status;
      },
    }),
  };
}

test('unload-routine-functionality (an Unload routine undoes what DriverEntry did): a protocol whose Unload routine deletes its device but not its symbolic link is NdisSim_ResourceNotFreed (it passed; the link outlives the driver and its next IoCreateSymbolicLink collides); deleting the link after the device passes', () => {
  const go = (unload: Parameters<typeof protocolWithDevice>[0]) => {
    const w = new World({ seed: 1, verifier: 'collect' });
    const p = protocolWithDevice(unload);
    w.addDriver(healthyNic);
    w.addDriver(p);
    w.addProtocolDriver(p.name);
    w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(ns.s / 2, { kind: 'open', handle: 'app', link: 'Hunt26P' });
    w.at(ns.s / 2 + 1, { kind: 'close', handle: 'app' });
    w.at(ns.s, { kind: 'stop-protocol', driver: p.name });
    return w.run(2 * ns.s);
  };
  const leaves = go((d) => IoDeleteDevice(d)); // BUG: the link stays
  assert.deepEqual(
    leaves.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_ResourceNotFreed', 'DriverUnload']],
  );
  assert.match(
    leaves.violations[0]!.message,
    /its Unload routine returned with the symbolic link \\DosDevices\\Hunt26P to its device not deleted \(IoDeleteSymbolicLink/,
  );
  const after = go((d) => {
    IoDeleteDevice(d);
    IoDeleteSymbolicLink('\\DosDevices\\Hunt26P');
  });
  assert.deepEqual(after.violations, []);
  const before = go((d) => {
    IoDeleteSymbolicLink('\\DosDevices\\Hunt26P');
    IoDeleteDevice(d);
  });
  assert.deepEqual(before.violations, []);
});

/**
 * ndisprot's write path: a protocol whose device (DO_DIRECT_IO) sends each write's MDL
 * down as an NBL, and completes the write in its send-complete handler, or (`early`)
 * before it sends.
 */
function sendingProtocol(early: boolean): DriverModule {
  const g: {
    proto: NDIS_HANDLE | null;
    pool: NDIS_HANDLE | null;
    ctx: { handle: NDIS_HANDLE | null; bind: NDIS_HANDLE | null; unbind: NDIS_HANDLE | null };
    writes: Map<NET_BUFFER_LIST, Irp>;
  } = { proto: null, pool: null, ctx: { handle: null, bind: null, unbind: null }, writes: new Map() };
  return {
    name: 'hunt26-send',
    load: () => ({
      DriverEntry: (obj: DRIVER_OBJECT) => {
        const r = NdisRegisterProtocolDriver<typeof g.ctx>(null, {
          Header: {
            Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
            Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
          },
          MajorNdisVersion: 6,
          MinorNdisVersion: 0,
          Name: 'hunt26-send',
          BindAdapterHandlerEx: (_d, bindContext, p) => {
            g.pool = NdisAllocateNetBufferListPool(g.proto!, {
              Header: {
                Type: NDIS_OBJECT_TYPE_DEFAULT,
                Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
              },
              ProtocolId: 0,
              fAllocateNetBuffer: true,
              ContextSize: 0,
              PoolTag: 0x36326e68,
              DataSize: 0,
            });
            g.ctx.bind = bindContext;
            const o = NdisOpenAdapterEx(g.proto!, g.ctx, openParameters(p.AdapterName), bindContext);
            g.ctx.handle = o.NdisBindingHandle;
            return o.Status;
          },
          UnbindAdapterHandlerEx: (u, c) => {
            c.unbind = u;
            return NdisCloseAdapterEx(c.handle!) === NDIS_STATUS_PENDING
              ? NDIS_STATUS_PENDING
              : NDIS_STATUS_SUCCESS;
          },
          OpenAdapterCompleteHandlerEx: (c, s) => NdisCompleteBindAdapterEx(c.bind!, s),
          CloseAdapterCompleteHandlerEx: (c) => NdisCompleteUnbindAdapterEx(c.unbind!),
          NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
          OidRequestCompleteHandler: () => {},
          ReceiveNetBufferListsHandler: () => {},
          SendNetBufferListsCompleteHandler: (_c, chain) => {
            for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
              const next: NET_BUFFER_LIST | null = x.Next;
              x.Next = null;
              const irp = g.writes.get(x);
              g.writes.delete(x);
              NdisFreeNetBufferList(x);
              if (irp !== undefined) complete(irp, STATUS_SUCCESS, 60);
              x = next;
            }
          },
        });
        g.proto = r.NdisProtocolHandle;
        obj.MajorFunction[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
        obj.MajorFunction[IRP_MJ_CLEANUP] = (_d, irp) => complete(irp, STATUS_SUCCESS);
        obj.MajorFunction[IRP_MJ_CLOSE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
        obj.MajorFunction[IRP_MJ_WRITE] = (_d, irp) => {
          const mdl = irp.MdlAddress!;
          const nbl = NdisAllocateNetBufferAndNetBufferList(g.pool!, 0, 0, mdl, 0, MmGetMdlByteCount(mdl))!;
          nbl.SourceHandle = g.ctx.handle;
          if (early) {
            complete(irp, STATUS_SUCCESS, 60); // BUG: the pages go before the send is done
            NdisSendNetBufferLists(g.ctx.handle!, nbl, 0, 0);
            return STATUS_SUCCESS;
          }
          IoMarkIrpPending(irp);
          g.writes.set(nbl, irp);
          NdisSendNetBufferLists(g.ctx.handle!, nbl, 0, 0);
          return STATUS_PENDING;
        };
        const d = IoCreateDevice(obj, 0, '\\Device\\Hunt26S', FILE_DEVICE_NETWORK, 0, false).DeviceObject!;
        d.Flags |= DO_DIRECT_IO;
        IoCreateSymbolicLink('\\DosDevices\\Hunt26S', '\\Device\\Hunt26S');
        return r.Status;
      },
    }),
  };
}

test('irp-mj-write, docs/model.md "Reads and writes": a protocol that sends a write\'s MDL and completes the write in its send-complete handler passes; one that completes it first and sends its MDL after is NdisSim_ObjectFreedInUse at NdisSendNetBufferLists (it passed; only the receive side was checked)', () => {
  for (const early of [false, true]) {
    const w = new World({ seed: 1, verifier: 'collect' });
    const p = sendingProtocol(early);
    w.addDriver(healthyNic);
    w.addDriver(p);
    w.addProtocolDriver(p.name);
    w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(ns.s / 2, { kind: 'open', handle: 'app', link: 'Hunt26S' });
    w.at(ns.s / 2 + 1, {
      kind: 'write',
      handle: 'app',
      data: new Array(60).fill(1),
      everyNs: ns.ms,
      times: 3,
    });
    const r = w.run(ns.s);
    assert.deepEqual(
      w.ioResults.map((x) => x.statusName),
      ['STATUS_SUCCESS', 'STATUS_SUCCESS', 'STATUS_SUCCESS'],
    );
    if (!early) assert.deepEqual(r.violations, []);
    else {
      assert.deepEqual(
        r.violations.map((v) => [v.rule, v.ddi]),
        // One for each write's NBL.
        Array(3).fill(['NdisSim_ObjectFreedInUse', 'NdisSendNetBufferLists']),
      );
      assert.match(
        r.violations[0]!.message,
        /^hunt26-send sent NBL #\d+ with a NET_BUFFER over the MDL of a read or write request that IoCompleteRequest completed already/,
      );
    }
  }
});

test('methods-for-accessing-data-buffers: the MDL of a METHOD_OUT_DIRECT control mapped after its completion is NdisSim_ObjectFreedInUse, and the message names such a control (it said "a read or write request")', () => {
  const OUT_DIRECT = 0x00222002;
  const { r } = run(
    {
      flags: 0,
      majors: {
        [IRP_MJ_DEVICE_CONTROL]: (_d, irp) => {
          const mdl = irp.MdlAddress!;
          complete(irp, STATUS_SUCCESS, 0);
          MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority); // BUG
          return STATUS_SUCCESS;
        },
      },
    },
    [act(ns.s, { kind: 'ioctl', handle: 'app', code: OUT_DIRECT, input: [], outputLength: 4 })],
  );
  assert.deepEqual(rules(r), ['NdisSim_ObjectFreedInUse']);
  assert.match(
    r.violations[0]!.message,
    /MmGetSystemAddressForMdlSafe on the MDL of a request \(a read, a write or a METHOD_IN_DIRECT or METHOD_OUT_DIRECT control\) that IoCompleteRequest completed already/,
  );
});

/** A miniport's device (NdisRegisterDeviceEx) with SymbolicName `link`, opened as `opens`, written once. */
function runWithLink(link: string, opens: string) {
  return run(
    { flags: DO_BUFFERED_IO, majors: { [IRP_MJ_WRITE]: (_d, irp) => complete(irp, STATUS_SUCCESS, 1) } },
    [act(ns.s, { kind: 'write', handle: 'app', data: [1] })],
    link,
    opens,
  );
}

test("local-and-global-ms-dos-device-names: ndisprot's link \\GLOBAL??\\Ndisprot (it stopped the run as NdisSim_BadParameter) and \\DosDevices\\Global\\X (it could not be opened) name the device the application opens as \\\\.\\X or \\\\.\\Global\\X; NdisRegisterDeviceEx takes a global SymbolicName too (it failed with NDIS_STATUS_INVALID_PARAMETER)", () => {
  for (const [link, open] of [
    ['\\Global??\\Hunt26P', 'Hunt26P'],
    ['\\DosDevices\\Global\\Hunt26P', 'Hunt26P'],
    ['\\DosDevices\\Hunt26P', 'Global\\Hunt26P'],
  ] as const) {
    const w = new World({ seed: 1, verifier: 'collect' });
    const p = protocolWithDevice((d) => {
      assert.equal(IoDeleteSymbolicLink(link), STATUS_SUCCESS);
      IoDeleteDevice(d);
    }, link);
    w.addDriver(healthyNic);
    w.addDriver(p);
    w.addProtocolDriver(p.name);
    w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(ns.s / 2, { kind: 'open', handle: 'app', link: open });
    w.at(ns.s / 2 + 1, { kind: 'write', handle: 'app', data: [1] });
    w.at(ns.s / 2 + 2, { kind: 'close', handle: 'app' });
    w.at(ns.s, { kind: 'stop-protocol', driver: p.name });
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'ok', `${link}: ${r.violations[0]?.message}`);
    assert.deepEqual(results(w), ['WriteFile STATUS_SUCCESS '], link);
  }
  const { w, r } = runWithLink('\\DosDevices\\Global\\Hunt26G', 'Hunt26G');
  assert.deepEqual(rules(r), []);
  assert.deepEqual(results(w), ['WriteFile STATUS_SUCCESS ']);
});

test("ns-wdm-_file_object: FsContext and FsContext2 hold the driver's state for one open from IRP_MJ_CREATE to IRP_MJ_CLOSE, one per handle (ndisprot keeps its open context there; FILE_OBJECT had neither)", () => {
  const seen: string[] = [];
  const fileOf = (irp: Irp) => irp.Tail.Overlay.CurrentStackLocation.FileObject;
  const { r } = run(
    {
      flags: DO_BUFFERED_IO,
      majors: {
        [IRP_MJ_CREATE]: (_d, irp) => {
          const f = fileOf(irp);
          assert.equal(f.FsContext, null);
          f.FsContext = { writes: 0 };
          return complete(irp, STATUS_SUCCESS);
        },
        [IRP_MJ_WRITE]: (_d, irp) => {
          (fileOf(irp).FsContext as { writes: number }).writes++;
          return complete(irp, STATUS_SUCCESS, 1);
        },
        [IRP_MJ_CLOSE]: (_d, irp) => {
          const f = fileOf(irp);
          seen.push(`close ${(f.FsContext as { writes: number }).writes}`);
          f.FsContext = null;
          return complete(irp, STATUS_SUCCESS);
        },
      },
    },
    [
      act(ns.s, { kind: 'open', handle: 'two', link: 'Hunt26' }),
      act(ns.s + 1, { kind: 'write', handle: 'app', data: [1], everyNs: ns.ms, times: 3 }),
      act(ns.s + 2, { kind: 'write', handle: 'two', data: [1] }),
      act(2 * ns.s, { kind: 'close', handle: 'app' }),
      act(2 * ns.s + 1, { kind: 'close', handle: 'two' }),
    ],
  );
  assert.deepEqual(rules(r), []);
  assert.deepEqual(seen, ['close 3', 'close 1']);
});

test('a protocol device of IoCreateDevice with neither DO_BUFFERED_IO nor DO_DIRECT_IO: the not-modelled stop names IoCreateDevice, where the flag is set (it said NdisRegisterDeviceEx)', () => {
  const w = new World({ seed: 1, verifier: 'collect' });
  const p = protocolWithDevice(
    (d) => {
      IoDeleteSymbolicLink('\\DosDevices\\Hunt26P');
      IoDeleteDevice(d);
    },
    '\\DosDevices\\Hunt26P',
    0, // BUG: neither flag
  );
  w.addDriver(healthyNic);
  w.addDriver(p);
  w.addProtocolDriver(p.name);
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(ns.s / 2, { kind: 'open', handle: 'app', link: 'Hunt26P' });
  w.at(ns.s / 2 + 1, { kind: 'write', handle: 'app', data: [1] });
  const r = w.run(ns.s);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', /DO_DIRECT_IO after IoCreateDevice$/);
});
