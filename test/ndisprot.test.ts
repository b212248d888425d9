// ndisprot-lite (examples/ndisprot-lite.ts), an ndisprot-style protocol driver: its own
// control device (IoCreateDevice), writes sent over the write IRP's MDL and completed
// in ProtocolSendNetBufferListsComplete, reads pended in a queue and filled by
// ProtocolReceiveNetBufferLists, the reads failed at the unbind that
// NdisMRemoveMiniport sets off. The reference driver runs clean; each mistake switched
// on (ndisprotLiteWith) is caught by the rule that fits, or is shown to pass.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type NdisprotBugs, ndisprotLite, ndisprotLiteWith } from '../examples/ndisprot-lite.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import {
  type DISPATCH_IO_STACK_LOCATION,
  DO_BUFFERED_IO,
  type DriverModule,
  FILE_DEVICE_NETWORK,
  IO_NO_INCREMENT,
  IoCompleteRequest,
  IoCreateDevice,
  IoCreateSymbolicLink,
  IoDeleteDevice,
  IoDeleteSymbolicLink,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_WRITE,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NdisDeregisterProtocolDriver,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisGeneratePartialCancelId,
  NdisRegisterProtocolDriver,
  type NET_BUFFER_LIST,
  ns,
  STATUS_SUCCESS,
  World,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario, parseScenarioText } from '../src/scenario/load.ts';

const yaml = 'examples/ndisprot-lite.yaml';

/** Holds each send until the next one comes (or its pause), then passes it on. */
const holder = variantOfMonitorLwf('ndisprot-holder', 'holds each send until the next', (c) => {
  let held: NET_BUFFER_LIST[] = [];
  const flush = (h: unknown, port: number, flags: number) => {
    for (const x of held) NdisFSendNetBufferLists(h as never, x, port, flags);
    held = [];
  };
  c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
    flush(m.handle, port, flags);
    for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
      const next: NET_BUFFER_LIST | null = x.Next;
      x.Next = null;
      held.push(x);
      x = next;
    }
  };
  c.SendNetBufferListsCompleteHandler = (m, nbls, flags) =>
    NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
  const pause = c.PauseHandler;
  c.PauseHandler = (m, p) => {
    flush(m.handle, 0, 0);
    return pause(m, p);
  };
  withStatusPassedOn(c);
});

/** The example scenario with `driver` as its protocol driver (and `filters` over nic0). */
function scenario(driver: DriverModule, filters: DriverModule[] = []) {
  const s = loadScenario(yaml, driverNames([ndisprotLite, driver, ...filters]));
  s.filters = filters.map((f) => ({ driver: f.name, mandatory: true }));
  for (const p of s.protocolDrivers) p.driver = driver.name;
  for (const a of s.actions) if (a.do === 'stop-protocol') a.driver = driver.name;
  return s;
}

function run(driver: DriverModule, seed = 1, trace = false, filters: DriverModule[] = []) {
  const s = scenario(driver, filters);
  const w = buildWorld(s, { seed, trace, drivers: [ndisprotLite, driver, ...filters] });
  return { s, w, r: w.run(untilNs(s)) };
}

/** Seed 1 with one mistake switched on: the rules broken, where, and the messages. */
function caught(bug: keyof NdisprotBugs, filters: DriverModule[] = []) {
  const { r } = run(ndisprotLiteWith({ [bug]: true }, 'ndisprot-bug'), 1, false, filters);
  return r.violations.map((v) => [v.rule, v.ddi, v.message] as const);
}

test('ndisprot-lite: binds, writes over its MDL, reads, and at NdisMRemoveMiniport its pending reads fail at the unbind; clean under 50 explored seeds (the CLI explores 200)', () => {
  const { w, r } = run(ndisprotLite);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(r.pending, []);
  const results = w.ioResults.map((x) => `${x.request} ${x.statusName}`);
  assert.ok(results.includes('WriteFile STATUS_SUCCESS'));
  assert.ok(results.includes('ReadFile STATUS_SUCCESS'));
  // The reads pending when nic0 went were failed by the unbind; later ones find no binding.
  assert.ok(results.includes('ReadFile STATUS_CANCELLED'));
  assert.ok(results.includes('ReadFile STATUS_INVALID_HANDLE'));
  const s = scenario(ndisprotLite);
  const ex = exploreSeeds(
    { scenario: s, drivers: [ndisprotLite], untilNs: untilNs(s), verifier: s.verifier },
    1,
    50,
  );
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
});

test('sending-data-from-a-protocol-driver: a write IRP completed while the send built on its MDL is still in the miniport is NdisSim_ObjectFreedInUse at IoCompleteRequest (it passed before: only receives were checked)', () => {
  const v = caught('completeWriteEarly');
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_ObjectFreedInUse', 'IoCompleteRequest']],
  );
  assert.match(
    v[0]![2],
    /IoCompleteRequest of a request of handle tool \(WriteFile \(22 bytes\)\) whose MDL is the data of NBL #\d+, which ndisprot-bug sent and which is still in flaky-nic, the miniport of nic0: .*complete the request in ProtocolSendNetBufferListsComplete/,
  );
});

test('the same mistake with a filter module holding the send: the message says which module holds the NBL', () => {
  const v = caught('completeWriteEarly', [holder]);
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_ObjectFreedInUse', 'IoCompleteRequest']],
  );
  assert.match(
    v[0]![2],
    /which ndisprot-bug sent and which is still held by filter module ndisprot-holder@nic0:/,
  );
  // The reference driver passes through the same filter.
  assert.deepEqual(run(ndisprotLite, 1, false, [holder]).r.violations, []);
});

test('a write IRP completed before the NBL built on its MDL is sent is NdisSim_ObjectFreedInUse at NdisSendNetBufferLists', () => {
  const v = caught('completeBeforeSend');
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_ObjectFreedInUse', 'NdisSendNetBufferLists']],
  );
  assert.match(
    v[0]![2],
    /ndisprot-bug sent NBL #\d+ with a NET_BUFFER over the MDL of a read or write request that IoCompleteRequest completed already/,
  );
});

/**
 * nic0 hangs at 1 s with a write out and is removed (orderly) at 1.5 s: ndisprot-lite's
 * NetEventPause waits for that send, which the hung NIC never completes, so the binding
 * stays Pausing while the tool keeps writing.
 */
function pausingRun(driver: DriverModule) {
  const frame = '[255, 255, 255, 255, 255, 255, 2, 90, 90, 0, 0, 1, 136, 181, 1, 2, 3, 4, 5, 6, 7, 8]';
  const text = `until: 2s
protocolDrivers: [{ driver: ${driver.name} }]
devices: [{ name: nic0, driver: flaky-nic, faults: { hangAt: 1s } }]
actions:
  - { at: 100ms, do: open, handle: tool, link: NdisProtLite }
  - { at: 120ms, do: ioctl, handle: tool, code: IOCTL_NDISPROT_OPEN_DEVICE, input: [92, 0, 68, 0, 69, 0, 86, 0, 73, 0, 67, 0, 69, 0, 92, 0, 110, 0, 105, 0, 99, 0, 48, 0] }
  - { at: 900ms, do: write, handle: tool, data: ${frame}, every: 50ms, times: 20 }
  - { at: 1.5s, do: remove, device: nic0 }
`;
  const s = parseScenarioText(text, 'pausing.yaml', driverNames([driver]));
  const w = buildWorld(s, { seed: 1, trace: false, drivers: [driver] });
  return { w, r: w.run(untilNs(s)) };
}

test('R7.2: a write sent without checking the binding state, while NetEventPause waits for the sends, is NdisSim_ProtocolDataState; the reference driver fails it with STATUS_INVALID_HANDLE', () => {
  const good = pausingRun(ndisprotLite);
  assert.deepEqual(good.r.violations, []);
  assert.ok(
    good.w.ioResults.some((x) => x.request === 'WriteFile' && x.statusName === 'STATUS_INVALID_HANDLE'),
  );
  const bad = pausingRun(ndisprotLiteWith({ sendWhileUnbinding: true }, 'ndisprot-bug'));
  assert.deepEqual(
    bad.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_ProtocolDataState', 'NdisSendNetBufferLists']],
  );
  assert.match(
    bad.r.violations[0]!.message,
    /while the binding is Pausing: a protocol sends only while Running/,
  );
});

test('the same write after the unbind closed the binding: NdisAllocateNetBufferAndNetBufferList with the pool handle the driver cleared says the handle is NULL', () => {
  const v = caught('sendWhileUnbinding');
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_BadParameter', 'NdisAllocateNetBufferAndNetBufferList']],
  );
  assert.match(
    v[0]![2],
    /the NBL pool handle is NULL \(never allocated, or cleared when the driver freed the pool\)/,
  );
});

test('a read that copies the whole frame past the end of its MDL stops the run with the line that wrote past it (NdisSim_DriverException)', () => {
  const v = caught('readOverrun');
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_DriverException', 'DispatchRead']],
  );
  assert.match(v[0]![2], /RangeError.*at serviceReads \(examples\/ndisprot-lite\.ts:\d+/);
});

test("nf-wdm-iodeletedevice: IoDeleteDevice at the last unbind with the tool's handle open is allowed (the device is deleted once its references go); the handle's requests still reach the driver", () => {
  const { w, r } = run(ndisprotLiteWith({ deleteDeviceAtLastUnbind: true }, 'ndisprot-bug'), 1, true);
  assert.deepEqual(r.violations, []);
  const del = w.trace.events.findIndex((e) => e.what === 'IoDeleteDevice');
  assert.ok(del > 0 && w.trace.events[del]!.data?.openHandles === 1);
  assert.ok(
    w.trace.events.slice(del).some((e) => e.what === 'DispatchRead'),
    'a read after the delete reached DispatchRead',
  );
});

test("FILE_OBJECT.FsContext and FsContext2 (NULL at IRP_MJ_CREATE, kept per handle) and IRP Tail.Overlay.DriverContext (four NULLs as each IRP comes): ndisprot keeps its binding and a write's send there", () => {
  const seen: string[] = [];
  const proto: DriverModule = {
    name: 'fs-context',
    load: () => ({
      DriverEntry: (obj) => {
        let next = 0;
        const done = (irp: IRP<DISPATCH_IO_STACK_LOCATION>, info = 0): number => {
          irp.IoStatus.Status = STATUS_SUCCESS;
          irp.IoStatus.Information = info;
          IoCompleteRequest(irp, IO_NO_INCREMENT);
          return STATUS_SUCCESS;
        };
        obj.MajorFunction[IRP_MJ_CREATE] = (_d, irp) => {
          const f = irp.Tail.Overlay.CurrentStackLocation.FileObject;
          seen.push(`create ${String(f.FsContext)} ${String(f.FsContext2)}`);
          f.FsContext = ++next;
          return done(irp);
        };
        obj.MajorFunction[IRP_MJ_WRITE] = (_d, irp) => {
          seen.push(`write ${irp.Tail.Overlay.DriverContext.map(String).join(',')}`);
          irp.Tail.Overlay.DriverContext[0] = 'mine';
          return done(irp, irp.Tail.Overlay.CurrentStackLocation.FileObject.FsContext as number);
        };
        obj.MajorFunction[IRP_MJ_CLEANUP] = (_d, irp) => done(irp);
        obj.MajorFunction[IRP_MJ_CLOSE] = (_d, irp) => done(irp);
        const dev = IoCreateDevice(obj, 0, '\\Device\\FsCtx', FILE_DEVICE_NETWORK, 0, false);
        dev.DeviceObject!.Flags |= DO_BUFFERED_IO;
        IoCreateSymbolicLink('\\DosDevices\\FsCtx', '\\Device\\FsCtx');
        const r = NdisRegisterProtocolDriver(null, {
          Header: {
            Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
            Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
          },
          MajorNdisVersion: 6,
          MinorNdisVersion: 30,
          Name: 'fs-context',
          BindAdapterHandlerEx: () => NDIS_STATUS_FAILURE,
          UnbindAdapterHandlerEx: () => NDIS_STATUS_SUCCESS,
          OpenAdapterCompleteHandlerEx: () => {},
          CloseAdapterCompleteHandlerEx: () => {},
          NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
          OidRequestCompleteHandler: () => {},
          ReceiveNetBufferListsHandler: () => {},
          SendNetBufferListsCompleteHandler: () => {},
          StatusHandlerEx: () => {},
        });
        obj.DriverUnload = () => {
          NdisDeregisterProtocolDriver(r.NdisProtocolHandle!);
          IoDeleteSymbolicLink('\\DosDevices\\FsCtx');
          IoDeleteDevice(dev.DeviceObject!);
        };
        return r.Status;
      },
    }),
  };
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDriver(proto);
  w.addProtocolDriver('fs-context');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(ns.ms, { kind: 'open', handle: 'a', link: 'FsCtx' });
  w.at(2 * ns.ms, { kind: 'open', handle: 'b', link: 'FsCtx' });
  for (const [i, h] of ['b', 'a', 'b'].entries())
    w.at((3 + i) * ns.ms, { kind: 'write', handle: h, data: [1] });
  const r = w.run(10 * ns.ms);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(seen, [
    'create null null',
    'create null null',
    'write null,null,null,null',
    'write null,null,null,null',
    'write null,null,null,null',
  ]);
  assert.deepEqual(
    w.ioResults.map((x) => `${x.handle} ${x.information}`),
    ['b 2', 'a 1', 'b 2'],
  );
  // The trace names the DeviceType (FILE_DEVICE_NETWORK, 0x12), as it names statuses.
  const created = w.trace.events.filter((e) => e.what === 'IoCreateDevice');
  assert.deepEqual(
    created.map((e) => e.data?.DeviceType),
    ['FILE_DEVICE_NETWORK'],
  );
});

test('nf-ndis-ndisgeneratepartialcancelid: ndisprot-lite takes the high byte of its send cancel IDs from it in DriverEntry; each call gives the next value, 1 to 255 and round again, per machine', () => {
  const { w } = run(ndisprotLite, 1, true);
  const calls = w.trace.events.filter((e) => e.what === 'NdisGeneratePartialCancelId');
  assert.deepEqual(
    calls.map((e) => [e.actor, e.data?.result]),
    [['ndisprot-lite', 1]],
  );
  const ids: number[] = [];
  const probe: DriverModule = {
    name: 'cancel-ids',
    load: () => ({
      DriverEntry: () => {
        for (let i = 0; i < 257; i++) ids.push(NdisGeneratePartialCancelId());
        return NDIS_STATUS_FAILURE;
      },
    }),
  };
  const p = new World({ seed: 1, verifier: 'collect' });
  p.addDriver(healthyNic);
  p.addDriver(probe);
  p.addProtocolDriver('cancel-ids');
  p.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  p.at(0, { kind: 'start', device: 'nic0' });
  p.run(10 * ns.ms);
  assert.deepEqual([ids[0], ids[1], ids[254], ids[255], ids[256]], [1, 2, 255, 1, 2]);
});

/** The tool reads from nic0, where nothing arrives, and exits with its reads pending. */
function exitRun(driver: DriverModule) {
  const text = `until: 2s
protocolDrivers: [{ driver: ${driver.name} }]
devices: [{ name: nic0, driver: healthy-nic }]
actions:
  - { at: 100ms, do: open, handle: tool, link: NdisProtLite }
  - { at: 120ms, do: ioctl, handle: tool, code: IOCTL_NDISPROT_OPEN_DEVICE, input: [92, 0, 68, 0, 69, 0, 86, 0, 73, 0, 67, 0, 69, 0, 92, 0, 110, 0, 105, 0, 99, 0, 48, 0] }
  - { at: 200ms, do: read, handle: tool, length: 1514, every: 10ms, times: 3 }
  - { at: 1s, do: exit }
`;
  const s = parseScenarioText(text, 'exit.yaml', driverNames([driver]));
  const w = buildWorld(s, { seed: 1, trace: false, drivers: [driver] });
  return { w, r: w.run(untilNs(s)) };
}

test("canceling-irps: reads queued without a Cancel routine keep the tool's exit waiting (the run ends unsettled); with the Cancel routine they end STATUS_CANCELLED and the handle closes", () => {
  const good = exitRun(ndisprotLite);
  assert.deepEqual(good.r.violations, []);
  assert.deepEqual(good.r.unsettled, []);
  assert.deepEqual(
    good.w.ioResults.filter((x) => x.request === 'ReadFile').map((x) => x.statusName),
    ['STATUS_CANCELLED', 'STATUS_CANCELLED', 'STATUS_CANCELLED'],
  );
  const bad = exitRun(ndisprotLiteWith({ noCancelRoutine: true }, 'ndisprot-bug'));
  assert.deepEqual(bad.r.violations, []);
  assert.match(
    bad.r.unsettled.join('\n'),
    /the application's exit \(at 1\.000000 s\) waits for 3 request\(s\) it cancelled and that no Cancel routine completed/,
  );
});
