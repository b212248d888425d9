// trialnic: a PCI Ethernet miniport ported to ndis-sim (examples/pcinic.ts), and the
// gaps the port found in ndis-sim, each with a test here.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NDIS_STATUS_SUCCESS, NdisMDeregisterScatterGatherDma, NdisMGetDmaAlignment } from '../src/index.ts';
import { healthyNic } from '../src/scenario.ts';
import { busMaster, dma, registerChannel } from './helpers/dma.ts';
import { removedScripted } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const rules = (r: { violations: readonly { rule: string; ddi: string }[] }) =>
  r.violations.map((v) => [v.rule, v.ddi]);

test('NdisMGetDmaAlignment: 64 (the cache line) after NdisMRegisterScatterGatherDma; before it NdisSim_SharedMemoryWithoutDma (R2.3), and still 64', () => {
  const got: number[] = [];
  const { w, r } = removedScripted('dma-align', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      got.push(NdisMGetDmaAlignment(a.handle));
      registerChannel(a, 0, {});
      got.push(NdisMGetDmaAlignment(a.handle));
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisMDeregisterScatterGatherDma(dma(a)),
  });
  assert.deepEqual(got, [64, 64], 'the alignment, with and without a channel');
  assert.deepEqual(rules(r), [['NdisSim_SharedMemoryWithoutDma', 'NdisMGetDmaAlignment']]);
  const traced = w.trace.events.filter((e) => e.what === 'NdisMGetDmaAlignment');
  assert.equal(traced.length, 2, 'each call is in the trace');
});

test('the trace has NdisMUnmapIoSpace and NdisFreeNetBufferListPool, as it has their NdisMMapIoSpace and NdisAllocateNetBufferListPool', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  w.run(200 * ns.ms);
  const ddis = w.trace.events.filter((e) => e.kind === 'ddi').map((e) => e.what);
  for (const d of [
    'NdisMMapIoSpace',
    'NdisAllocateNetBufferListPool',
    'NdisFreeNetBufferListPool',
    'NdisMUnmapIoSpace',
  ])
    assert.ok(ddis.includes(d), `${d} is traced: ${[...new Set(ddis)].join(', ')}`);
  const unmap = w.trace.events.find((e) => e.what === 'NdisMUnmapIoSpace');
  assert.equal(unmap?.data?.VirtualAddress, '0xF0000000', 'the unmap names the range NdisMMapIoSpace mapped');
});
