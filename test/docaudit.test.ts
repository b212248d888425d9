// The session-27 documentation audit: where the docs and the code disagreed and the
// code was the side at fault. Each test names the Microsoft page it follows.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scriptedDriver } from '../src/drivers/buggy/base.ts';
import {
  IoAllocateWorkItem,
  IoFreeWorkItem,
  NDIS_STATUS_SUCCESS,
  NdisMGetDeviceProperty,
} from '../src/index.ts';
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
