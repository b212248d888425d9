// The resources NDIS hands a miniport, in the shapes of ndis.h and wdm.h: the
// NDIS_RESOURCE_LIST of MiniportInitializeEx (a CM_PARTIAL_RESOURCE_LIST whose
// descriptors carry the C union `u`), and NdisMGetDeviceProperty's device objects and
// CM_RESOURCE_LISTs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE,
  CmResourceShareDeviceExclusive,
  CmResourceTypeInterrupt,
  CmResourceTypeMemory,
  type NDIS_HANDLE,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisMGetBusData,
  NdisMGetDeviceProperty,
  NdisMSetBusData,
  PCI_CLASS_NETWORK_CTLR,
  PCI_ENABLE_BUS_MASTER,
  PCI_ENABLE_IO_SPACE,
  PCI_ENABLE_MEMORY_SPACE,
  PCI_SUBCLASS_NET_ETHERNET_CTLR,
  PCI_WHICHSPACE_CONFIG,
  PCI_WHICHSPACE_ROM,
  PCIBus,
  SimNicPciConfig,
  simNicDeviceId,
  simNicVendorId,
} from '../src/index.ts';
import { after, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

type Property = ReturnType<typeof NdisMGetDeviceProperty>;

/** Runs nic0 with `cpus` CPUs; records the init parameters and NdisMGetDeviceProperty of every initialization. */
function seen(cpus: number, hardware: 'simnic' | 'none' = 'simnic', then: 'stop' | 'remove' | null = null) {
  const inits: NDIS_MINIPORT_INIT_PARAMETERS[] = [];
  const props: Property[] = [];
  const drv = scriptedDriver(`res-${cpus}-${hardware}-${then}`, {
    characteristics: (c) => {
      const init = c.InitializeHandlerEx;
      c.InitializeHandlerEx = (handle, ctx, params) => {
        inits.push(params);
        props.push(NdisMGetDeviceProperty(handle));
        return init(handle, ctx, params);
      };
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name, hardware }],
    options: { cpus },
    actions:
      then === null
        ? []
        : [
            { atNs: 300 * ns.ms, action: { kind: then, device: 'nic0' } },
            ...(then === 'remove'
              ? [{ atNs: 600 * ns.ms, action: { kind: 'start' as const, device: 'nic0' } }]
              : []),
          ],
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  return { inits, props };
}

test('MiniportInitializeEx gets an NDIS_RESOURCE_LIST: Count descriptors, the register window in u.Memory (the same storage as u.Generic), the interrupt in u.Interrupt with an affinity of every CPU', () => {
  for (const cpus of [1, 2, 4]) {
    const list = seen(cpus).inits[0]!.AllocatedResources!;
    assert.equal(list.Count, list.PartialDescriptors.length);
    const [mem, irq] = list.PartialDescriptors;
    assert.ok(mem!.Type === CmResourceTypeMemory && irq!.Type === CmResourceTypeInterrupt);
    assert.equal(mem.ShareDisposition, CmResourceShareDeviceExclusive);
    assert.deepEqual(mem.u.Memory, { Start: 0xf0000000, Length: 256 });
    assert.equal(mem.u.Generic, mem.u.Memory, 'one union, two names');
    assert.equal(irq.Flags, CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE);
    assert.deepEqual(irq.u.Interrupt, { Level: 16, Vector: 16, Affinity: 2 ** cpus - 1 });
  }
  assert.equal(seen(2, 'none').inits[0]!.AllocatedResources, null);
});

test('NdisMGetDeviceProperty: opaque PDO and FDO, the PDO next below the FDO; raw and translated CM_RESOURCE_LISTs of one PCI descriptor holding the init list; a stop keeps both objects, a removal deletes the FDO only', () => {
  const { inits, props } = seen(2, 'simnic', 'stop');
  assert.equal(props.length, 2, 'the stop initializes the adapter again');
  const [first, second] = props as [Property, Property];
  assert.equal(first.NextDeviceObject, first.PhysicalDeviceObject);
  assert.notEqual(first.FunctionalDeviceObject, first.PhysicalDeviceObject);
  assert.equal(second.PhysicalDeviceObject, first.PhysicalDeviceObject);
  assert.equal(second.FunctionalDeviceObject, first.FunctionalDeviceObject);
  const removed = seen(2, 'simnic', 'remove').props as [Property, Property];
  assert.equal(removed.length, 2, 'the start after the removal initializes a new FDO');
  assert.equal(removed[1].PhysicalDeviceObject, removed[0].PhysicalDeviceObject);
  assert.notEqual(removed[1].FunctionalDeviceObject, removed[0].FunctionalDeviceObject);
  for (const list of [first.AllocatedResources!, first.AllocatedResourcesTranslated!]) {
    assert.equal(list.Count, 1);
    assert.equal(list.List[0]!.InterfaceType, PCIBus);
    assert.deepEqual(list.List[0]!.PartialResourceList, inits[0]!.AllocatedResources);
  }
  assert.notEqual(first.AllocatedResources, first.AllocatedResourcesTranslated);
  const none = seen(2, 'none').props[0]!;
  assert.equal(none.AllocatedResources, null);
  assert.equal(none.AllocatedResourcesTranslated, null);
});

test('NdisMGetDeviceProperty is PASSIVE only: from a timer DPC it is Irql_Miniport_Driver_Function', () => {
  const drv = scriptedDriver('res-dpc', {
    restart: (a) => {
      after(a, 10, (x) => NdisMGetDeviceProperty(x.handle));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const r = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
  }).run(1 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['Irql_Miniport_Driver_Function', 'NdisMGetDeviceProperty']],
  );
});

test('NdisMGetBusData reads the SimNic PCI configuration space: its IDs, an Ethernet class, BAR0 at the register window, the interrupt line; all ones once the NIC is gone; NdisMSetBusData writes only what is writable', () => {
  const reads: Record<string, number[]> = {};
  const counts: number[] = [];
  const read = (handle: NDIS_HANDLE, offset: number, length: number) => {
    const buf = new Uint8Array(length);
    counts.push(NdisMGetBusData(handle, PCI_WHICHSPACE_CONFIG, offset, buf, length));
    return [...buf];
  };
  const drv = scriptedDriver('bus-data', {
    initialize: (a) => {
      reads.header = read(a.handle, 0, 16);
      reads.bar0 = read(a.handle, SimNicPciConfig.BAR0, 4);
      reads.irq = read(a.handle, SimNicPciConfig.INTERRUPT_LINE, 2);
      reads.tail = read(a.handle, 250, 16); // 6 bytes left in the space
      // The command register takes a write; the vendor ID does not.
      const cmd = new Uint8Array([0x06, 0x04]);
      counts.push(NdisMSetBusData(a.handle, PCI_WHICHSPACE_CONFIG, SimNicPciConfig.COMMAND, cmd, 2));
      counts.push(
        NdisMSetBusData(a.handle, PCI_WHICHSPACE_CONFIG, SimNicPciConfig.VENDOR_ID, new Uint8Array(2), 2),
      );
      reads.after = read(a.handle, 0, 6);
      reads.rom = [NdisMGetBusData(a.handle, PCI_WHICHSPACE_ROM, 0, new Uint8Array(4), 4)];
      return NDIS_STATUS_SUCCESS;
    },
    devicePnPEventNotify: (a, ev) => {
      if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved) reads.gone = read(a.handle, 0, 4);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 300 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
  });
  assert.equal(w.run(1 * ns.s).verdict, 'ok');
  const le16 = (b: number[], i: number) => b[i]! | (b[i + 1]! << 8);
  assert.equal(le16(reads.header!, 0), simNicVendorId);
  assert.equal(le16(reads.header!, 2), simNicDeviceId);
  assert.equal(le16(reads.header!, 4), PCI_ENABLE_IO_SPACE | PCI_ENABLE_MEMORY_SPACE | PCI_ENABLE_BUS_MASTER);
  assert.deepEqual(reads.header!.slice(0x0a, 0x0c), [PCI_SUBCLASS_NET_ETHERNET_CTLR, PCI_CLASS_NETWORK_CTLR]);
  assert.equal(le16(reads.bar0!, 0) + le16(reads.bar0!, 2) * 0x10000, 0xf0000000);
  assert.deepEqual(reads.irq, [16, 1]);
  assert.deepEqual(counts.slice(0, 4), [16, 4, 2, 6]);
  assert.deepEqual(counts.slice(4, 6), [2, 2], 'a write reports its bytes, read-only or not');
  assert.equal(le16(reads.after!, 0), simNicVendorId);
  assert.equal(le16(reads.after!, 4), 0x0406);
  assert.deepEqual(reads.rom, [0]);
  assert.deepEqual(reads.gone, [0xff, 0xff, 0xff, 0xff]);
});

test('NdisMGetBusData of a device with no bus (hardware: none) reads nothing', () => {
  let n = -1;
  const drv = scriptedDriver('bus-none', {
    initialize: (a) => {
      n = NdisMGetBusData(a.handle, PCI_WHICHSPACE_CONFIG, 0, new Uint8Array(4), 4);
      return NDIS_STATUS_SUCCESS;
    },
  });
  testWorld({ drivers: [drv], devices: [{ name: 'vm0', driver: drv.name, hardware: 'none' }] }).run(
    100 * ns.ms,
  );
  assert.equal(n, 0);
});

test('PCI power management: in D3 (D3hot: the bus powered the SimNic down for a sleep) its configuration space still answers, PMCSR.PowerState reads 3 and PME_En takes a write; back in D0 PowerState reads 0; a NIC dead on resume reads all ones', () => {
  const pmcsr = SimNicPciConfig.PM_PMCSR;
  const world = (deadOnResume: boolean) =>
    testWorld({
      drivers: [scriptedDriver('cfg-d3')],
      devices: [{ name: 'nic0', driver: 'cfg-d3', faults: { deadOnResume } }],
      actions: [{ atNs: 100 * ns.ms, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    });
  const w = world(false);
  w.run(500 * ns.ms);
  const nic = w.nic('nic0');
  assert.equal(nic.poweredOff, true, 'asleep: the bus took the NIC to D3');
  assert.equal(nic.readConfig(0) | (nic.readConfig(1) << 8), simNicVendorId);
  assert.equal(nic.readConfig(pmcsr) & 3, 3, 'PowerState D3');
  nic.writeConfig(pmcsr + 1, 0x01);
  assert.equal(nic.readConfig(pmcsr + 1) & 0x01, 0x01, 'PME_En written in D3');
  w.run(2 * ns.s);
  assert.equal(nic.poweredOff, false);
  assert.equal(nic.readConfig(pmcsr) & 3, 0, 'PowerState D0');
  const dead = world(true);
  dead.run(2 * ns.s);
  assert.deepEqual(
    [0, 1, pmcsr].map((o) => dead.nic('nic0').readConfig(o)),
    [0xff, 0xff, 0xff],
  );
});
