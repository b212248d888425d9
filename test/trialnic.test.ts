// trialnic: a PCI Ethernet miniport ported to ndis-sim (examples/pcinic.ts), and the
// gaps the port found in ndis-sim, each with a test here.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NDIS_STATUS_SUCCESS, NdisMDeregisterScatterGatherDma, NdisMGetDmaAlignment } from '../src/index.ts';
import { busMaster, dma, registerChannel } from './helpers/dma.ts';
import { removedScripted } from './helpers/scripted.ts';

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
