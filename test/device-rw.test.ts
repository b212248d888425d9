// ReadFile and WriteFile on a control device (NdisRegisterDeviceEx): IRP_MJ_READ and
// IRP_MJ_WRITE with the buffer passed as DO_BUFFERED_IO or DO_DIRECT_IO say
// (irp-mj-read, irp-mj-write, methods-for-accessing-data-buffers), the MDL routines a
// driver maps Irp->MdlAddress with, the scenario actions `read` and `write`, and a
// request in progress at the handle's cleanup (irp-mj-cleanup).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tapLoop } from '../examples/tap-loop.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import {
  CTL_CODE,
  type DISPATCH_IO_STACK_LOCATION,
  DO_BUFFERED_IO,
  DO_DIRECT_IO,
  type DRIVER_DISPATCH,
  FILE_ANY_ACCESS,
  FILE_DEVICE_UNKNOWN,
  IO_NO_INCREMENT,
  IoCompleteRequest,
  IoMarkIrpPending,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_READ,
  IRP_MJ_WRITE,
  LowPagePriority,
  MdlMappingNoExecute,
  METHOD_IN_DIRECT,
  METHOD_NEITHER,
  METHOD_OUT_DIRECT,
  MmGetMdlByteCount,
  MmGetSystemAddressForMdlSafe,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_SUCCESS,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisFreeNetBufferList,
  NdisRegisterDeviceEx,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NormalPagePriority,
  type NTSTATUS,
  STATUS_INVALID_HANDLE,
  STATUS_PENDING,
  STATUS_SUCCESS,
} from '../src/index.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { untilNs } from '../src/scenario/build.ts';
import { validateScenario } from '../src/scenario/load.ts';
import type { WorldAction } from '../src/world.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';
import { ns, testWorld } from './helpers/world.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

/** What each read or write dispatch routine saw of its IRP. */
interface Seen {
  major: number;
  length: number;
  system: Uint8Array | null;
  mdl: Uint8Array | null;
}

/**
 * A miniport whose DriverEntry registers \Device\RwCtl with `flags` in its
 * DEVICE_OBJECT Flags; `read` and `write` are its routines (by default: a write is
 * kept, a read gets the last write's bytes).
 */
function run(o: {
  flags: number;
  read?: DRIVER_DISPATCH;
  write?: DRIVER_DISPATCH;
  cleanup?: DRIVER_DISPATCH;
  control?: DRIVER_DISPATCH;
  actions: { atNs: number; action: WorldAction }[];
  untilNs?: number;
}) {
  const seen: Seen[] = [];
  const calls: string[] = [];
  let last = new Uint8Array(0);
  const look = (irp: Irp): void => {
    const s = irp.Tail.Overlay.CurrentStackLocation;
    const p = s.MajorFunction === IRP_MJ_READ ? s.Parameters.Read! : s.Parameters.Write!;
    seen.push({
      major: s.MajorFunction,
      length: p.Length,
      system: irp.AssociatedIrp.SystemBuffer,
      mdl: irp.MdlAddress,
    });
  };
  const buffer = (irp: Irp): Uint8Array | null =>
    irp.MdlAddress !== null
      ? MmGetSystemAddressForMdlSafe(irp.MdlAddress, NormalPagePriority | MdlMappingNoExecute)
      : irp.AssociatedIrp.SystemBuffer;
  const m: DRIVER_DISPATCH[] = [];
  m[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  if (o.control !== undefined) m[IRP_MJ_DEVICE_CONTROL] = o.control;
  m[IRP_MJ_CLEANUP] = o.cleanup ?? ((_d, irp) => complete(irp, STATUS_SUCCESS));
  m[IRP_MJ_CLOSE] = (_d, irp) => {
    calls.push('close');
    return complete(irp, STATUS_SUCCESS);
  };
  m[IRP_MJ_WRITE] =
    o.write ??
    ((_d, irp) => {
      look(irp);
      const b = buffer(irp);
      last = b === null ? new Uint8Array(0) : b.slice();
      return complete(irp, STATUS_SUCCESS, last.length);
    });
  m[IRP_MJ_READ] =
    o.read ??
    ((_d, irp) => {
      look(irp);
      const b = buffer(irp);
      const n = Math.min(last.length, b?.length ?? 0);
      b?.set(last.subarray(0, n));
      return complete(irp, STATUS_SUCCESS, n);
    });
  const drv = scriptedDriver('rw-nic', {
    driverEntry: (driver) => {
      const r = NdisRegisterDeviceEx(driver, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
          Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
        },
        DeviceName: '\\Device\\RwCtl',
        SymbolicName: '\\DosDevices\\RwCtl',
        MajorFunctions: m,
        ExtensionSize: 0,
      });
      if (r.pDeviceObject !== null) r.pDeviceObject.Flags |= o.flags;
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'rw-nic' }],
    actions: [{ atNs: ns.s / 2, action: { kind: 'open', handle: 'app', link: 'RwCtl' } }, ...o.actions],
    options: { verifier: 'collect' },
  });
  const r = w.run(o.untilNs ?? 3 * ns.s);
  return { w, r, seen, calls };
}

const write = (atNs: number, data: number[]) => ({
  atNs,
  action: { kind: 'write', handle: 'app', data } as WorldAction,
});
const read = (atNs: number, length: number) => ({
  atNs,
  action: { kind: 'read', handle: 'app', length } as WorldAction,
});
const close = (atNs: number) => ({ atNs, action: { kind: 'close', handle: 'app' } as WorldAction });
const rules = (r: { violations: { rule: string }[] }) => r.violations.map((v) => v.rule);

test('irp-mj-write / irp-mj-read with DO_BUFFERED_IO: the data in AssociatedIrp.SystemBuffer, Parameters.Write/Read.Length, no MDL; the application gets Information bytes', () => {
  const { r, w, seen } = run({
    flags: DO_BUFFERED_IO,
    actions: [write(ns.s, [1, 2, 3, 4, 5]), read(ns.s + 1, 3), read(ns.s + 2, 8)],
  });
  assert.deepEqual(rules(r), []);
  assert.deepEqual(
    seen.map((s) => [s.major, s.length, s.system?.length ?? null, s.mdl]),
    [
      [IRP_MJ_WRITE, 5, 5, null],
      [IRP_MJ_READ, 3, 3, null],
      [IRP_MJ_READ, 8, 8, null],
    ],
  );
  assert.deepEqual(
    w.ioResults.map((x) => [x.request, x.statusName, x.information, x.output]),
    [
      ['WriteFile', 'STATUS_SUCCESS', 5, []],
      ['ReadFile', 'STATUS_SUCCESS', 3, [1, 2, 3]],
      ['ReadFile', 'STATUS_SUCCESS', 5, [1, 2, 3, 4, 5]],
    ],
  );
});

test("DO_DIRECT_IO: the application's bytes behind Irp->MdlAddress, which MmGetSystemAddressForMdlSafe maps and MmGetMdlByteCount measures; a zero-length request has no MDL", () => {
  let count = -1;
  const writes: Seen[] = [];
  const { r, w, seen } = run({
    flags: DO_DIRECT_IO,
    actions: [write(ns.s, [9, 8, 7]), read(ns.s + 1, 2), read(ns.s + 2, 0)],
    write: (_d, irp) => {
      writes.push({
        major: IRP_MJ_WRITE,
        length: irp.Tail.Overlay.CurrentStackLocation.Parameters.Write!.Length,
        system: irp.AssociatedIrp.SystemBuffer,
        mdl: irp.MdlAddress,
      });
      count = MmGetMdlByteCount(irp.MdlAddress!);
      return complete(irp, STATUS_SUCCESS, count);
    },
  });
  assert.deepEqual(rules(r), []);
  assert.equal(count, 3);
  assert.deepEqual(
    [...writes, ...seen].map((s) => [s.major, s.length, s.system, s.mdl === null ? null : [...s.mdl]]),
    [
      [IRP_MJ_WRITE, 3, null, [9, 8, 7]],
      [IRP_MJ_READ, 2, null, [0, 0]],
      [IRP_MJ_READ, 0, null, null],
    ],
  );
  assert.deepEqual(
    w.ioResults.map((x) => [x.request, x.information]),
    [
      ['WriteFile', 3],
      ['ReadFile', 0],
      ['ReadFile', 0],
    ],
  );
});

test('a device with neither DO_BUFFERED_IO nor DO_DIRECT_IO (neither I/O) stops the run as not modelled, naming the flags to set', () => {
  const { r } = run({ flags: 0, actions: [write(ns.s, [1])] });
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /IRP_MJ_WRITE is not modelled by ndis-sim: \\Device\\RwCtl has neither DO_BUFFERED_IO nor DO_DIRECT_IO/,
  );
});

test('NdisSim_IrpInformationOverrun (0xC9/0x312): a buffered read completed with more bytes than its Length; a direct one is not copied back, so not reported', () => {
  const overrun: DRIVER_DISPATCH = (_d, irp) => complete(irp, STATUS_SUCCESS, 16);
  const buffered = run({ flags: DO_BUFFERED_IO, read: overrun, actions: [read(ns.s, 4)] });
  assert.deepEqual(
    buffered.r.violations.map((v) => [v.rule, v.bugCheck.code, v.bugCheck.params[0]]),
    [['NdisSim_IrpInformationOverrun', 0xc9, 0x312]],
  );
  assert.match(buffered.r.violations[0]!.message, /ReadFile \(4 bytes\)\) whose Length is 4/);
  assert.deepEqual(buffered.w.ioResults[0]?.output, [0, 0, 0, 0]);
  const direct = run({ flags: DO_DIRECT_IO, read: overrun, actions: [read(ns.s, 4)] });
  assert.deepEqual(rules(direct.r), []);
});

test("nf-wdm-mmgetsystemaddressformdlsafe: a Priority that is no MM_PAGE_PRIORITY is NdisSim_BadParameter; the MDL of a completed request is unlocked (NdisSim_ObjectFreedInUse), as an NBL's MDL chain too", () => {
  let kept: Uint8Array | null = null;
  let pool: NDIS_HANDLE | null = null;
  const { r } = run({
    flags: DO_DIRECT_IO,
    actions: [write(ns.s, [1, 2, 3, 4]), write(ns.s + 1, [5, 6])],
    write: (_d, irp) => {
      pool ??= NdisAllocateNetBufferListPool(null, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 0x77726e64,
        DataSize: 0,
      });
      if (kept === null) {
        // The write's own MDL is a NET_BUFFER's MDL chain (ndisprot's way): fine while the IRP is ours.
        const nbl = NdisAllocateNetBufferAndNetBufferList(pool!, 0, 0, irp.MdlAddress, 0, 4);
        assert.equal(nbl?.FirstNetBuffer?.Data, irp.MdlAddress);
        NdisFreeNetBufferList(nbl!);
        MmGetSystemAddressForMdlSafe(irp.MdlAddress!, LowPagePriority);
        kept = irp.MdlAddress;
        return complete(irp, STATUS_SUCCESS, 4);
      }
      MmGetSystemAddressForMdlSafe(kept, NormalPagePriority); // BUG: the first write's pages are unlocked
      const nbl = NdisAllocateNetBufferAndNetBufferList(pool!, 0, 0, kept, 0, 4); // BUG: the same
      if (nbl !== null) NdisFreeNetBufferList(nbl);
      MmGetSystemAddressForMdlSafe(irp.MdlAddress!, 7); // BUG: no such priority (a fatal check: last)
      return complete(irp, STATUS_SUCCESS, 2);
    },
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [
      ['NdisSim_ObjectFreedInUse', 'MmGetSystemAddressForMdlSafe'],
      ['NdisSim_ObjectFreedInUse', 'NdisAllocateNetBufferAndNetBufferList'],
      ['NdisSim_BadParameter', 'MmGetSystemAddressForMdlSafe'],
    ],
  );
});

test('irp-mj-cleanup: a write in progress (pended, not cancelable) outlives the cleanup without a report, and IRP_MJ_CLOSE waits for it; a write after the close fails with STATUS_INVALID_HANDLE', () => {
  let held: Irp | null = null;
  const { r, w, calls } = run({
    flags: DO_DIRECT_IO,
    write: (_d, irp) => {
      IoMarkIrpPending(irp);
      held = irp;
      return STATUS_PENDING;
    },
    // The second write comes after the close: its handle is gone.
    actions: [write(ns.s, [1, 2]), close(ns.s + ns.ms), write(ns.s + 2 * ns.ms, [3])],
    untilNs: ns.s + 10 * ns.ms,
  });
  assert.deepEqual(rules(r), []);
  assert.deepEqual(calls, []);
  assert.match(
    r.pending.join('\n'),
    /the IRP_MJ_CLOSE of handle app \(closed by the application\) waits for its 1 pending request/,
  );
  assert.match(r.pending.join('\n'), /WriteFile \(2 bytes\) of handle app/);
  assert.deepEqual(
    w.ioResults.map((x) => [x.request, x.status]),
    [['WriteFile', STATUS_INVALID_HANDLE]],
  );
  assert.ok(held !== null);
});

const problems = (actions: unknown[]): string[] => {
  try {
    validateScenario({ devices: [{ name: 'nic0', driver: 'healthy-nic' }], actions }, 's.yaml', [
      'healthy-nic',
    ]);
    return [];
  } catch (e) {
    return (e as { problems?: string[] }).problems ?? [String(e)];
  }
};

test('scenario: read and write validate; each bad one gets one clear message', () => {
  const open = { at: '1s', do: 'open', handle: 'app', link: 'X' };
  assert.deepEqual(
    problems([
      open,
      { at: '1s', do: 'read', handle: 'app', length: 1514, every: '1ms', times: 3 },
      { at: '1s', do: 'write', handle: 'app', data: [1, 2, 3] },
    ]),
    [],
  );
  const bad = (action: Record<string, unknown>): string[] => problems([open, action]);
  assert.deepEqual(bad({ at: '1s', do: 'read', handle: 'app' }), [
    's.yaml: actions[1].length: expected how many bytes "read" asks for (length: 1514), got nothing',
  ]);
  assert.deepEqual(bad({ at: '1s', do: 'write', handle: 'app' }), [
    's.yaml: actions[1].data: expected the bytes "write" gives (data: [1, 2, 3]), got nothing',
  ]);
  assert.deepEqual(bad({ at: '1s', do: 'read', handle: 'app', length: 4, data: [1] }), [
    's.yaml: actions[1].data: expected only handle, length, every, times for "read", got data',
  ]);
  assert.deepEqual(bad({ at: '1s', do: 'write', handle: 'nope', data: [1] }), [
    's.yaml: actions[1].handle: expected a handle an "open" action opens (app), got "nope"',
  ]);
  assert.deepEqual(bad({ at: '1s', do: 'write', handle: 'app', data: [1], times: 2 }), [
    's.yaml: actions[1].times: expected times only with every (how often the request repeats)',
  ]);
  assert.equal(bad({ at: '1s', do: 'write', handle: 'app', data: [256] }).length, 1);
});

test('tap-loop: writes go up as receives over their own MDL and complete on return, sends fill queued reads; a close waits for writes up the stack; explore passes 150 seeds', () => {
  const drivers = [tapLoop];
  const s = exampleScenario('examples/tap-loop.yaml', drivers, 'tap-loop');
  const { w, r } = runExample(s, drivers, s.seed, true);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(r.pending, []);
  const count = (request: string, status: string): number =>
    w.ioResults.filter((x) => x.request === request && x.statusName === status).length;
  assert.ok(count('WriteFile', 'STATUS_SUCCESS') > 50);
  assert.ok(count('ReadFile', 'STATUS_SUCCESS') > 20);
  assert.ok(count('WriteFile', 'STATUS_DEVICE_REMOVED') > 0, 'writes after the halt fail');
  // A read that completed with a frame holds the frame's bytes (tcpip's 128-byte frames).
  assert.ok(
    w.ioResults.some((x) => x.request === 'ReadFile' && x.information === 128 && x.output.length === 128),
  );
  // The first handle's close waited for its writes up the stack.
  const lines = w.trace.events.map((e) => e.what);
  const waits = lines.indexOf('CloseHandle vpn: IRP_MJ_CLOSE waits');
  assert.ok(waits >= 0);
  const close = w.trace.events.findIndex(
    (e, i) => i > waits && e.what === 'DispatchClose' && e.data?.handle === 'vpn',
  );
  assert.ok(close > waits);
  // The timeline folds the data path away, but not the application's completions inside it.
  const timeline = formatTimeline(w.trace.events, { color: false }).join('\n');
  assert.match(
    timeline,
    /DISPATCH app +scenario: WriteFile vpn completes \(Status=STATUS_SUCCESS, Information=18/,
  );
  assert.doesNotMatch(timeline, /MiniportReturnNetBufferLists/);
  const ex = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, 150);
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
  assert.equal(ex.passed, 150);
});

test('METHOD_OUT_DIRECT / METHOD_IN_DIRECT controls: the input in SystemBuffer, the output behind Irp.MdlAddress (no 0xC9/0x312: nothing is copied back); METHOD_NEITHER is not modelled', () => {
  const OUT_DIRECT = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x810, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
  const IN_DIRECT = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x811, METHOD_IN_DIRECT, FILE_ANY_ACCESS);
  const NEITHER = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x812, METHOD_NEITHER, FILE_ANY_ACCESS);
  const seen: [number, number | null, number | null][] = [];
  const control: DRIVER_DISPATCH = (_d, irp) => {
    const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
    seen.push([
      p.IoControlCode,
      irp.AssociatedIrp.SystemBuffer?.length ?? null,
      irp.MdlAddress?.length ?? null,
    ]);
    const out =
      irp.MdlAddress === null ? null : MmGetSystemAddressForMdlSafe(irp.MdlAddress, NormalPagePriority);
    // Echo the input, reversed, into the output; claim one byte more than the buffer.
    const input = irp.AssociatedIrp.SystemBuffer ?? new Uint8Array(0);
    out?.set([...input].reverse().slice(0, out.length));
    return complete(irp, STATUS_SUCCESS, (out?.length ?? 0) + 1);
  };
  const ioctl = (atNs: number, code: number, input: number[], outputLength: number) => ({
    atNs,
    action: { kind: 'ioctl', handle: 'app', code, input, outputLength } as WorldAction,
  });
  const { r, w } = run({
    flags: 0,
    control,
    actions: [
      ioctl(ns.s, OUT_DIRECT, [1, 2, 3], 2),
      ioctl(ns.s + 1, IN_DIRECT, [], 0),
      ioctl(ns.s + 2, NEITHER, [1], 1),
    ],
  });
  assert.deepEqual(rules(r), []);
  assert.deepEqual(seen, [
    [OUT_DIRECT, 3, 2],
    [IN_DIRECT, null, null],
  ]);
  assert.deepEqual(
    w.ioResults.map((x) => [x.information, x.output]),
    [
      [3, [3, 2]],
      [1, []],
    ],
  );
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /IRP_MJ_DEVICE_CONTROL is not modelled by ndis-sim: the I\/O control code 0x0022204B uses METHOD_NEITHER/,
  );
});

test('a status that is no NTSTATUS: a dispatch routine that returns undefined, or IoCompleteRequest with IoStatus.Status undefined (a constant ndis-sim does not export, under tsx), is NdisSim_BadParameter naming it', () => {
  const returnsNothing = run({
    flags: DO_BUFFERED_IO,
    read: (_d, irp) => {
      complete(irp, STATUS_SUCCESS);
      return undefined as unknown as NTSTATUS; // BUG: no status returned
    },
    actions: [read(ns.s, 4)],
  });
  assert.deepEqual(
    returnsNothing.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_BadParameter', 'DispatchRead']],
  );
  assert.match(
    returnsNothing.r.violations[0]!.message,
    /DispatchRead returned undefined, which is not an NTSTATUS/,
  );
  const unknownStatus = run({
    flags: DO_BUFFERED_IO,
    read: (_d, irp) => complete(irp, (globalThis as { STATUS_NOPE?: number }).STATUS_NOPE!), // BUG
    actions: [read(ns.s, 4)],
  });
  assert.deepEqual(
    unknownStatus.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_BadParameter', 'IoCompleteRequest']],
  );
  assert.match(
    unknownStatus.r.violations[0]!.message,
    /IoCompleteRequest found Irp->IoStatus.Status undefined, which is not an NTSTATUS/,
  );
});
