// Blocking waits (R8.12): NdisMSleep blocks its thread while other threads run. The
// model runs a wait that begins during another one inside it, so the outer thread can
// resume only when the inner one does. The lateness that causes is the model's: it
// must not count against the outer callback's watchdog, and the run says it happened.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisFreeIoWorkItem,
  NdisMSleep,
  NdisQueueIoWorkItem,
} from '../src/index.ts';
import type { MiniportBlock } from '../src/ndis/block.ts';
import { formatSummary } from '../src/report/summary.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { after, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/**
 * nicA's MiniportHaltEx sleeps `haltSleepUs`; just after it begins, a work item of
 * nicB sleeps `chunks` times `chunkUs` (each call at most 30 s, as NdisMSleep asks).
 */
function nested(haltSleepUs: number, chunks: number, chunkUs: number, haltWatchdogNs?: number) {
  // The handle is NDIS's block for the adapter, named after its device.
  const isA = (a: TestAdapter): boolean => (a.handle as unknown as MiniportBlock).name === 'nicA';
  const drv = scriptedDriver('nest-nic', {
    initialize: (a) => {
      if (!isA(a)) {
        // nicA is removed at 1 s; its halt is asleep by 1.0008 s.
        after(a, 1000.8, (b) => {
          const wi = NdisAllocateIoWorkItem(b.handle)!;
          NdisQueueIoWorkItem(
            wi,
            () => {
              for (let i = 0; i < chunks; i++) NdisMSleep(chunkUs);
              NdisFreeIoWorkItem(wi);
            },
            null,
          );
        });
      }
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      // In calls of at most 30 s, as NdisMSleep asks.
      if (isA(a))
        for (let left = haltSleepUs; left > 0; left -= 25_000_000) NdisMSleep(Math.min(left, 25_000_000));
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [
      { name: 'nicA', driver: 'nest-nic' },
      { name: 'nicB', driver: 'nest-nic' },
    ],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nicA' } }],
    options: { trace: true, ...(haltWatchdogNs === undefined ? {} : { ndis: { haltWatchdogNs } }) },
  });
  return { w, r: w.run(120 * ns.s), drv };
}

test('R8.12, R2.13: a 1 ms sleep in MiniportHaltEx held up 90 s by a nested 3 × 30 s sleep of another thread is no halt watchdog; the run notes the late wake', () => {
  const { w, r } = nested(1000, 3, 30_000_000);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.equal(w.device('nicA').status, 'removed');
  assert.equal(r.modelNotes.length, 1);
  assert.match(
    r.modelNotes[0]!,
    /^1 NdisMSleep call returned up to 89\.99\d* s late: a wait of another thread/,
  );
  const wake = w.trace.events.find((e) => e.kind === 'wake' && e.data?.lateNs !== undefined);
  assert.ok(wake !== undefined && wake.t > 90 * ns.s, 'the late wake is in the trace where it happens');
  const line = formatTimeline(w.trace.events, { color: false }).find((l) =>
    l.includes('NdisMSleep returns, '),
  );
  assert.match(
    line ?? '',
    /NdisMSleep returns, 89\.99\d* s late: a wait of another thread, nested above this one, held it past its wake-up time/,
  );
  const text = formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null }).join('\n');
  assert.match(text, /Model notes\n {4}1 NdisMSleep call returned up to/);
});

test('R8.12, R2.13: a halt that sleeps past the watchdog in its own time is caught, the delay the model adds not counted', () => {
  // The halt sleeps 25 s and then 25 s, with a 30 s watchdog. nicB's work item, nested
  // above the first sleep from 1 s, sleeps until 61 s: the halt's first sleep, due at
  // 26 s, returns 35 s late, and the watchdog counts 25 s of it. 30 s into the halt's
  // own time, at 66 s, 5 s into the second sleep, the watchdog fires: it does not wait
  // for the sleep to end (R2.13).
  const { r } = nested(50_000_000, 3, 20_000_000, 30 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_HaltWatchdog');
  assert.ok(r.endNs > 66 * ns.s && r.endNs < 66.01 * ns.s, `caught at 66 s, not at ${r.endNs}`);
  assert.match(r.modelNotes[0] ?? '', /^1 NdisMSleep call returned up to 35(\.\d+)? s late/);
});

test('R8.12: a halt that polls for a work item asleep beneath it deadlocks in the model; the run says so (not-modelled), it does not pass', () => {
  // The work item starts in MiniportPause and sleeps 1 ms; the halt, which begins
  // during that sleep, polls every 100 µs for it to finish. On Windows both go on.
  const drv = scriptedDriver('poll-nic', {
    pause: (a) => {
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      a.state.busy = true;
      NdisQueueIoWorkItem(
        wi,
        () => {
          NdisMSleep(1000);
          a.state.busy = false;
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      while (a.state.busy) NdisMSleep(100);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'poll-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /^the run ended with NdisIoWorkItemFunction of nic0 blocked in NdisMSleep since its wake-up time 1\.00\d+ s, held up by a wait of another thread nested above it/,
  );
});
