// R8.1 from NDIS's side: NDIS calls every driver and protocol callback at the IRQL
// its page documents (irql.json). NDIS checks raised calls as it makes them (an
// internal error otherwise); this test checks every call, PASSIVE ones included, in
// the runs of the healthy example scenarios, where no driver's IRQL mistake can be
// inherited by a nested call.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { ddiIrql } from '../src/ndis/generated/irql.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';

const healthy = [
  'examples/reset-storm.yaml',
  'examples/simnic-traffic.yaml',
  'examples/vmini-traffic.yaml',
  'examples/filter-stack.yaml',
];

test('R8.1: NDIS calls each callback at its documented IRQL in every healthy example run', () => {
  const seen = new Map<string, Set<number>>();
  for (const file of healthy) {
    const s = loadScenario(file, driverNames());
    for (let seed = 1; seed <= 4; seed++) {
      const w = buildWorld(s, { seed });
      const r = w.run(untilNs(s));
      assert.equal(r.verdict, 'ok', `${file} seed ${seed}: ${r.verdict}`);
      for (const e of w.trace.events) {
        if (e.kind !== 'call') continue;
        const doc = ddiIrql[e.what];
        if (doc === undefined || doc.kind !== 'callback' || doc.anyLevel) continue;
        const ok = doc.exact ? e.irql === doc.max : e.irql <= doc.max;
        assert.ok(
          ok,
          `${file} seed ${seed}: ${e.what} called at IRQL ${e.irql} at ${e.t} ns; documented ${doc.exact ? 'exactly' : 'at most'} ${doc.max}`,
        );
        const levels = seen.get(e.what) ?? new Set<number>();
        levels.add(e.irql);
        seen.set(e.what, levels);
      }
    }
  }
  // The runs reach the callbacks that must run raised, and the ones drawn at either level.
  assert.deepEqual([...(seen.get('MiniportInterrupt') ?? [])], [3]);
  assert.deepEqual([...(seen.get('MiniportInterruptDPC') ?? [])], [2]);
  assert.deepEqual([...(seen.get('NdisTimerFunction') ?? [])], [2]);
  assert.deepEqual([...(seen.get('MiniportInitializeEx') ?? [])], [0]);
  assert.deepEqual([...(seen.get('MiniportResetEx') ?? [])].sort(), [0, 2]);
  assert.ok(seen.size >= 15, `only ${seen.size} different callbacks were called`);
});
