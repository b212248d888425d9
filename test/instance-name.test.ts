// Adapter instance names (src/ndis/api/instance-name.ts): the friendly name NDIS hands a
// miniport (NdisMQueryAdapterInstanceName, PASSIVE) in a buffer NDIS allocates and the
// driver frees with NdisFreeMemory (the DDI pages' remarks).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_STATUS_SUCCESS,
  type NDIS_STRING,
  NdisFreeMemory,
  NdisMQueryAdapterInstanceName,
} from '../src/index.ts';
import { scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const text = (s: NDIS_STRING) => new TextDecoder('utf-16le').decode(s.Buffer.subarray(0, s.Length));

/** Three devices of `drv` (two SimNics, one virtual), removed at 1 s; collect mode. */
function threeDevices(name: string, init: (a: TestAdapter) => void) {
  const drv = scriptedDriver(name, {
    initialize: (a) => {
      init(a);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const devices = ['nic0', 'nic1', 'vm0'];
  const w = testWorld({
    drivers: [drv],
    devices: devices.map((d) => ({
      name: d,
      driver: name,
      ...(d === 'vm0' ? { hardware: 'none' as const } : {}),
    })),
    actions: devices.map((d) => ({ atNs: 1 * ns.s, action: { kind: 'remove' as const, device: d } })),
    options: { verifier: 'collect' },
  });
  return w.run(2 * ns.s);
}

test('NdisMQueryAdapterInstanceName: each adapter its friendly name (the second of a description numbered #2), as a counted UTF-16 string; freed with NdisFreeMemory, nothing is reported', () => {
  const names: string[] = [];
  const r = threeDevices('names', (a) => {
    const q = NdisMQueryAdapterInstanceName(a.handle);
    assert.equal(q.Status, NDIS_STATUS_SUCCESS);
    const s = q.AdapterInstanceName!;
    assert.equal(s.MaximumLength, s.Length + 2);
    names.push(text(s));
    NdisFreeMemory(s.Buffer, s.MaximumLength, 0);
  });
  assert.deepEqual(r.violations, []);
  assert.deepEqual(names.sort(), [
    'ndis-sim SimNic Ethernet Adapter',
    'ndis-sim SimNic Ethernet Adapter #2',
    'ndis-sim Virtual Ethernet Adapter',
  ]);
});

test('NdisMQueryAdapterInstanceName: names never freed are reported when the driver unloads (NdisSim_ResourceNotFreed), not as its pool (NDIS allocated them)', () => {
  const r = threeDevices('names-kept', (a) => {
    NdisMQueryAdapterInstanceName(a.handle);
  });
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_ResourceNotFreed', 'MiniportDriverUnload']],
  );
  assert.match(r.violations[0]!.message, /3 from NdisMQueryAdapterInstanceName/);
});
