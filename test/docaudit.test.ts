// The session-27 documentation audit: where the docs and the code disagreed and the
// code was the side at fault. Each test names the Microsoft page it follows.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scriptedDriver } from '../src/drivers/buggy/base.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { InputError } from '../src/errors.ts';
import {
  DelayedWorkQueue,
  type DriverModule,
  FILE_DEVICE_NETWORK,
  IoAllocateWorkItem,
  IoCreateDevice,
  IoDeleteDevice,
  IoFreeWorkItem,
  IoQueueWorkItem,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NdisDeregisterProtocolDriver,
  NdisMGetDeviceProperty,
  NdisRegisterProtocolDriver,
} from '../src/index.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { World } from '../src/world.ts';
import { ns, testWorld } from './helpers/world.ts';

/** A miniport that allocates an IO_WORKITEM of a device object NdisMGetDeviceProperty gave it. */
function itemOf(which: 'FunctionalDeviceObject' | 'PhysicalDeviceObject') {
  const drv = scriptedDriver('property-item', {
    initialize(a) {
      const item = IoAllocateWorkItem(NdisMGetDeviceProperty(a.handle)[which]);
      if (item !== null) IoFreeWorkItem(item);
      return NDIS_STATUS_SUCCESS;
    },
  });
  return testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'property-item' }] }).run(ns.s);
}

test("nf-wdm-ioallocateworkitem: IoAllocateWorkItem with the FDO of NdisMGetDeviceProperty (one of the caller's device objects, which NDIS makes with its DRIVER_OBJECT) stops the run as not modelled, not as NdisSim_BadParameter against the driver", () => {
  const r = itemOf('FunctionalDeviceObject');
  assert.equal(r.verdict, 'not-modelled', r.bugCheck?.message ?? r.message ?? '');
  assert.match(r.message ?? '', /IoAllocateWorkItem is not modelled by ndis-sim: a work item of the FDO/);
});

test("nf-wdm-ioallocateworkitem: IoAllocateWorkItem with the PDO of NdisMGetDeviceProperty (the bus driver's, not the caller's) is NdisSim_BadParameter naming the PDO", () => {
  const r = itemOf('PhysicalDeviceObject');
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /the PDO from NdisMGetDeviceProperty, the bus driver's/);
});

/**
 * A protocol driver that makes its own device (IoCreateDevice, as ndisprot does) and
 * queues a work item of that device object; its Unload frees the item.
 */
function protocolWithDeviceItem(ran: unknown[], deleteFirst = false): DriverModule {
  return {
    name: 'device-item',
    load: () => ({
      DriverEntry: (obj) => {
        const r = NdisRegisterProtocolDriver(null, {
          Header: {
            Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
            Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
          },
          MajorNdisVersion: 6,
          MinorNdisVersion: 30,
          Name: 'device-item',
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
        const dev = IoCreateDevice(obj, 0, '\\Device\\DeviceItem', FILE_DEVICE_NETWORK, 0, false)
          .DeviceObject!;
        if (deleteFirst) IoDeleteDevice(dev);
        const item = IoAllocateWorkItem(dev)!;
        IoQueueWorkItem(item, (d) => ran.push(d), DelayedWorkQueue, null);
        obj.DriverUnload = () => {
          IoFreeWorkItem(item);
          NdisDeregisterProtocolDriver(r.NdisProtocolHandle!);
          IoDeleteDevice(dev);
        };
        return r.Status;
      },
    }),
  };
}

test("nf-wdm-ioallocateworkitem: a protocol driver's IoAllocateWorkItem with the device object of its own IoCreateDevice device (one of the caller's device objects) gives a work item whose routine gets that device object; it threw a TypeError inside ndis-sim, blamed on the driver as NdisSim_DriverException", () => {
  const ran: unknown[] = [];
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDriver(protocolWithDeviceItem(ran));
  w.addProtocolDriver('device-item');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'device-item' });
  const r = w.run(200 * ns.ms);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message ?? r.message ?? '');
  assert.deepEqual(r.violations, []);
  assert.equal(ran.length, 1, 'the routine ran once');
  assert.equal(
    (ran[0] as { __ndisHandle?: string }).__ndisHandle,
    'DEVICE_OBJECT',
    'it got the device object',
  );
});

test('docs/model.md "Determinism" and docs/decisions.md: nothing in the simulation is module-level but the current-world pointer (no top-level let, no module-level WeakMap keyed by one world\'s objects)', () => {
  const roots = ['src/ndis', 'src/kernel', 'src/sim', 'src/pnp', 'src/hw'];
  const files = [
    'src/world.ts',
    ...roots.flatMap((r) =>
      readdirSync(r, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.ts') && !f.includes('generated'))
        .map((f) => join(r, f)),
    ),
  ];
  const found: string[] = [];
  for (const f of files)
    for (const line of readFileSync(f, 'utf8').split('\n'))
      if (/^(export )?let /.test(line) || /^(export )?const \w+(: [^=]+)? = new WeakMap/.test(line))
        found.push(`${f}: ${line}`);
  assert.deepEqual(found, ['src/ndis/api/common.ts: let current: Ndis | null = null;']);
});

test("IoAllocateWorkItem with the device object of a protocol driver's device it deleted (IoDeleteDevice) is NdisSim_ObjectFreedInUse naming IoDeleteDevice, not NdisDeregisterDeviceEx", () => {
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDriver(protocolWithDeviceItem([], true));
  w.addProtocolDriver('device-item');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(10 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ObjectFreedInUse', r.message ?? '');
  assert.match(
    r.bugCheck?.message ?? '',
    /device object of \\Device\\DeviceItem, deleted already \(IoDeleteDevice\)/,
  );
});

test('docs/model.md "A protocol driver\'s own device": a scenario\'s open may name the link Global\\X or \\\\.\\Global\\X (the global directory is the one directory of the model); the schema refused it, and its message showed \\.X for \\\\.\\X', () => {
  const scenario = (link: string): string =>
    `devices: [{ name: nic0, driver: healthy-nic }]\nactions:\n  - { at: 1ms, do: open, handle: tool, link: '${link}' }\n`;
  for (const link of ['SimNicCtl', '\\\\.\\SimNicCtl', 'Global\\SimNicCtl', '\\\\.\\Global\\SimNicCtl'])
    assert.doesNotThrow(() => parseScenarioText(scenario(link), 's.yaml', driverNames()), link);
  assert.throws(
    () => parseScenarioText(scenario('a b'), 's.yaml', driverNames()),
    (e: unknown) =>
      e instanceof InputError &&
      e.problems.some((p) => p.includes('such as SimNicCtl (or \\\\.\\SimNicCtl, Global\\SimNicCtl)')),
  );
});
