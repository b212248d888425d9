// NDIS events (R8.12): NdisInitializeEvent, NdisSetEvent, NdisResetEvent and
// NdisWaitEvent. A wait blocks its thread while other threads run, ends when the event
// is set or its time runs out, and is checked for IRQL, for waits inside a reset
// (R4.13) and against the halt watchdog (R2.13).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_EVENT,
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisFreeIoWorkItem,
  NdisInitializeEvent,
  NdisMSleep,
  NdisMSynchronizeWithInterruptEx,
  NdisQueueIoWorkItem,
  NdisResetEvent,
  NdisSetEvent,
  NdisWaitEvent,
} from '../src/index.ts';
import { currentNdis } from '../src/ndis/api/common.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { after, removedScripted, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** What a wait saw: its result and how long it blocked (virtual ns). */
interface Seen {
  result: boolean;
  tookNs: number;
}

/** The virtual clock of the world whose driver code is running, ns. */
function nowNs(): number {
  return currentNdis('test').now;
}

function timedWait(e: NDIS_EVENT, ms: number): Seen {
  const t0 = nowNs();
  const result = NdisWaitEvent(e, ms);
  return { result, tookNs: nowNs() - t0 };
}

test('R8.12 NdisWaitEvent: a halt waits, without a time limit, for an event a timer sets 5 ms later; it returns TRUE then', () => {
  const seen: Seen[] = [];
  const { r, drv } = removedScripted('ev-halt', {
    halt: (a) => {
      const e = new NDIS_EVENT();
      NdisInitializeEvent(e);
      after(a, 5, () => NdisSetEvent(e));
      seen.push(timedWait(e, 0));
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(
    seen.map((s) => s.result),
    [true],
  );
  // The timer's DPC runs a microsecond after its due time.
  assert.ok(seen[0]!.tookNs >= 5 * ns.ms && seen[0]!.tookNs < 5.01 * ns.ms, `took ${seen[0]!.tookNs} ns`);
  assert.ok(drv.calls.includes('MiniportDriverUnload'), 'the halt returned and the driver unloaded');
});

test('R8.12 NdisWaitEvent: an event never set ends the wait after MsToWait with FALSE; a set one returns TRUE at once', () => {
  const seen: Seen[] = [];
  const { r } = removedScripted('ev-timeout', {
    halt: () => {
      const e = new NDIS_EVENT();
      NdisInitializeEvent(e);
      seen.push(timedWait(e, 7));
      NdisSetEvent(e);
      seen.push(timedWait(e, 7));
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(seen, [
    { result: false, tookNs: 7 * ns.ms },
    { result: true, tookNs: 0 },
  ]);
});

test('R8.12 NdisSetEvent, NdisResetEvent: a notification event stays set for every later wait until it is reset', () => {
  const seen: boolean[] = [];
  const { r } = removedScripted('ev-reset', {
    halt: () => {
      const e = new NDIS_EVENT();
      NdisInitializeEvent(e);
      NdisSetEvent(e);
      seen.push(NdisWaitEvent(e, 1), NdisWaitEvent(e, 1));
      NdisResetEvent(e);
      seen.push(NdisWaitEvent(e, 1));
      // Initialization also leaves it not set.
      NdisSetEvent(e);
      NdisInitializeEvent(e);
      seen.push(NdisWaitEvent(e, 1));
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(seen, [true, true, false, false]);
});

/**
 * The halt waits `msToWait` on an event while a work item of the adapter sleeps 10 ms
 * nested above that wait; timers set the event at `setAtMs` and reset it at `resetAtMs`.
 */
function haltWaitsUnderASleep(name: string, msToWait: number, setAtMs: number, resetAtMs?: number) {
  let halt: Seen | null = null;
  const { r } = removedScripted(name, {
    halt: (a) => {
      const e = new NDIS_EVENT();
      NdisInitializeEvent(e);
      const wi = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(
        wi,
        () => {
          NdisMSleep(10_000);
          NdisFreeIoWorkItem(wi);
        },
        null,
      );
      after(a, setAtMs, () => NdisSetEvent(e));
      if (resetAtMs !== undefined) after(a, resetAtMs, () => NdisResetEvent(e));
      halt = timedWait(e, msToWait);
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  return { r, halt: halt! as Seen };
}

test('R8.12 NdisWaitEvent: a waiter the event was set for is released even if the event is reset before it runs again', () => {
  // The event is set at 2 ms and reset at 3 ms, while the nested sleep holds the halt.
  // On Windows the halt's wait was satisfied at the set.
  const { r, halt } = haltWaitsUnderASleep('ev-pulse', 0, 2, 3);
  assert.equal(halt.result, true);
  // It resumes when the nested 10 ms sleep ends (the work item began 70 µs after the
  // queueing), 8.07 ms after its event was set: the model's lateness, noted as such.
  assert.equal(halt.tookNs, 10.07 * ns.ms);
  assert.match(r.modelNotes.join('\n'), /^1 NdisWaitEvent call returned up to 0\.00807\d* s late/m);
});

test('R8.12 NdisWaitEvent: a waiter whose time ran out before the event was set returns FALSE, even when the model resumes it later', () => {
  // The halt waits 3 ms and the timer sets the event at 5 ms, while the nested sleep
  // still holds the halt: on Windows the halt's wait had timed out at 3 ms.
  const { halt } = haltWaitsUnderASleep('ev-late-set', 3, 5);
  assert.equal(halt.result, false);
  assert.equal(halt.tookNs, 10.07 * ns.ms);
});

test('R8.12, R8.2 NdisWaitEvent at DISPATCH (a timer callback) breaks Irql_Miscellaneous_Function with NDIS 0x7C/0x14; NdisSetEvent at DIRQL breaks Irql_Synch_Function, at DISPATCH it does not', () => {
  const e = new NDIS_EVENT();
  const { r } = removedScripted('ev-irql', {
    initialize: (a) => {
      NdisInitializeEvent(e);
      NdisSetEvent(e);
      after(a, 1, () => {
        NdisSetEvent(e);
        NdisWaitEvent(e, 1);
        NdisMSynchronizeWithInterruptEx(
          a.interrupt!,
          0,
          () => {
            NdisResetEvent(e);
            return true;
          },
          null,
        );
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const rules = r.violations.map((v) => `${v.rule} ${v.ddi}`);
  assert.deepEqual(rules, [
    'Irql_Miscellaneous_Function NdisWaitEvent',
    'Irql_Synch_Function NdisResetEvent',
  ]);
  // NDIS itself stops a wait above PASSIVE: BUGCODE_NDIS_DRIVER 0x7C, subcode 0x14 (R8.2).
  const wait = r.violations[0]!.bugCheck;
  assert.deepEqual([wait.code, wait.params[0]], [0x7c, 0x14]);
});

test('R8.12 NdisWaitEvent on an event nobody initialized is a bad parameter that stops the run, not a crash of ndis-sim', () => {
  const { r } = removedScripted('ev-uninit', {
    halt: () => {
      NdisWaitEvent(new NDIS_EVENT(), 1);
    },
  });
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter');
  assert.match(
    r.bugCheck?.message ?? '',
    /NdisWaitEvent: not an NDIS_EVENT initialized by NdisInitializeEvent/,
  );
});

test('R4.13 NdisWaitEvent inside MiniportResetEx on an event not set is NdisSim_ResetBlocks; on a set one it is not', () => {
  for (const preset of [false, true]) {
    const drv = scriptedDriver(`ev-reset-${preset}`, {
      checkForHang: () => true,
      reset: () => {
        const e = new NDIS_EVENT();
        NdisInitializeEvent(e);
        if (preset) NdisSetEvent(e);
        NdisWaitEvent(e, 1);
        return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
      },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      options: { verifier: 'collect' },
    });
    const r = w.run(5 * ns.s);
    const blocks = r.violations.filter((v) => v.rule === 'NdisSim_ResetBlocks');
    assert.equal(
      blocks.length > 0,
      !preset,
      `preset ${preset}: ${r.violations.map((v) => v.rule).join(', ')}`,
    );
    if (!preset) assert.equal(blocks[0]!.ddi, 'NdisWaitEvent');
  }
});

test('R2.13 NdisWaitEvent: a halt waiting for an event that is never set meets the halt watchdog at its time', () => {
  const drv = scriptedDriver('ev-stuck', {
    halt: () => {
      const e = new NDIS_EVENT();
      NdisInitializeEvent(e);
      NdisWaitEvent(e, 0);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { ndis: { haltWatchdogNs: 3 * ns.s } },
  });
  const r = w.run(60 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_HaltWatchdog');
  // The halt began just after the remove at 1 s; the watchdog fires 3 s into it.
  assert.ok(r.endNs > 4 * ns.s && r.endNs < 4.01 * ns.s, `at ${r.endNs}`);
});

test('R8.12 NdisWaitEvent: a work item waiting forever when the run ends is reported as blocked in NdisWaitEvent', () => {
  const { r } = removedScripted(
    'ev-forever',
    {
      initialize: (a) => {
        const wi = NdisAllocateIoWorkItem(a.handle)!;
        a.state.wi = wi;
        NdisQueueIoWorkItem(
          wi,
          () => {
            const e = new NDIS_EVENT();
            NdisInitializeEvent(e);
            NdisWaitEvent(e, 0);
          },
          null,
        );
        return NDIS_STATUS_SUCCESS;
      },
    },
    10 * ns.s,
  );
  assert.ok(
    r.pending.includes('a driver thread was blocked in NdisWaitEvent when the run ended'),
    r.pending.join('; '),
  );
});

test('R8.12 the timeline shows the wait and what it returned, and indents other threads as for NdisMSleep', () => {
  const drv = scriptedDriver('ev-line', {
    halt: (a) => {
      const e = new NDIS_EVENT();
      NdisInitializeEvent(e);
      after(a, 2, () => NdisSetEvent(e));
      NdisWaitEvent(e, 50);
      NdisWaitEvent(e, 50);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { trace: true },
  });
  w.run(2 * ns.s);
  const text = formatTimeline(w.trace.events, { color: false }).join('\n');
  // While the halt waits, the timer's callback runs from depth 0, not under the halt;
  // the wake line is back inside the halt.
  const m = text.match(
    /\n(.*)→ MiniportHaltEx[\s\S]*?\n(.*) {2}NdisWaitEvent\(MsToWait=50\)\n(.*)→ NdisTimerFunction.*\n.* {2}NdisSetEvent\(\)\n.*\n(.*) {2}NdisWaitEvent returns TRUE\n/,
  );
  assert.ok(m !== null, text);
  const col = (s: string | undefined): number => (s ?? '').length;
  assert.equal(col(m[3]), col(m[1]));
  assert.equal(col(m[2]), col(m[1]));
  assert.equal(col(m[4]), col(m[1]));
  // The second wait finds the event set: one line with its result, no wake.
  assert.match(text, /NdisWaitEvent\(MsToWait=50\) = TRUE/);
});
