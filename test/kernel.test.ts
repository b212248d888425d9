// Kernel services (08-kernel-services.md): what the kernel model must carry without
// limits of its own, and the documented details of timers, interrupts and pool.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateTimerObject,
  NdisSetTimerObject,
} from '../src/index.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

test('R8.5: 1,100 timers due at the same instant on one CPU all run their DPCs (a DPC queue has no depth limit)', () => {
  let fired = 0;
  const drv = scriptedDriver('many-timers', {
    initialize: (a) => {
      for (let i = 0; i < 1100; i++) {
        const t = NdisAllocateTimerObject(a.handle, {
          Header: {
            Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
            Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
          },
          AllocationTag: 0x74657374,
          TimerFunction: () => {
            fired++;
          },
          FunctionContext: null,
        });
        NdisSetTimerObject(t.TimerObject!, -10_000, 0, null);
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'many-timers' }],
    options: { cpus: 1 },
  });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? undefined);
  assert.equal(fired, 1100);
});
