// The gates around check-for-hang and reset (04-hang-reset.md): the tick's period
// (R4.2) and the states it runs in (R4.3); when NDIS refuses to start a reset (R4.11);
// what NDIS does around one (R4.6, R4.7: RESET_START, sends failed by NDIS; R4.12:
// work the driver leaves pending; R1.5/R4.14: a pause during a pended reset).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type NDIS_OID_REQUEST,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_IN_PROGRESS,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMResetComplete,
  NdisMResetMiniport,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  type NET_BUFFER_LIST,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_STATISTICS,
} from '../src/index.ts';
import type { Strategy } from '../src/sim/choice.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { WorldAction } from '../src/world.ts';
import { after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { findEvent, inOrder, irpDone, is, ns, statisticsQuery, testWorld } from './helpers/world.ts';

const resetSucceeds = () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false });
const calls = (list: readonly string[], name: string) => list.filter((c) => c === name).length;
const irpSent =
  (minor: string) =>
  (e: TraceEvent): boolean =>
    e.kind === 'irp' && e.what === minor && e.data?.phase === 'sent';
const notStarted = is('ndis', 'reset not started (R4.11)');
const statusTo = (name: string) => (e: TraceEvent) =>
  is('call', 'ProtocolStatusEx')(e) && e.data?.StatusCode === name;

// ------------------------------------------------------------------ R4.2, R4.3

/** A driver whose registration attributes ask for `seconds` between check-for-hang calls. */
function hangPeriodDriver(name: string, seconds: number) {
  return scriptedDriver(name, {
    checkForHang: () => false,
    registrationAttributes: { CheckForHangTimeInSeconds: seconds },
  });
}

test('R4.2: CheckForHangTimeInSeconds is rounded down to a multiple of 2 s (0 and 1 give 2 s, 3 gives 2 s, 5 gives 4 s)', () => {
  for (const [asked, periodS] of [
    [0, 2],
    [1, 2],
    [3, 2],
    [5, 4],
  ] as const) {
    const drv = hangPeriodDriver(`period-nic-${asked}`, asked);
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name, hardware: 'none' }],
    });
    const r = w.run(13 * ns.s);
    assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
    const times = w.trace.events.filter(is('call', 'MiniportCheckForHangEx')).map((e) => e.t);
    assert.ok(times.length >= 3, `${asked} s: ${times.length} ticks`);
    // Ticks are coalescable (up to a few ms late each) and reach the driver through a work item.
    for (let i = 1; i < times.length; i++) {
      const gap = times[i]! - times[i - 1]!;
      assert.ok(Math.abs(gap - periodS * ns.s) < 10 * ns.ms, `${asked} s: a gap of ${gap / ns.ms} ms`);
    }
  }
});

test('R4.3: check-for-hang goes on while the adapter is Paused (a removal waiting for the unbind)', () => {
  // The protocol's unbind clears the packet filter (R7.3); the miniport, Paused by then,
  // takes 2.5 s to answer, so the removal waits that long between pause and halt.
  const drv = scriptedDriver('paused-nic', {
    checkForHang: () => false,
    oid: (a, req: NDIS_OID_REQUEST) => {
      if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER || a.state.removing !== true)
        return NDIS_STATUS_SUCCESS;
      after(a, 2500, (x) => NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS));
      return NDIS_STATUS_PENDING;
    },
    pause: (a) => {
      a.state.removing = true;
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 500 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(6 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const pause = drv.calls.indexOf('MiniportPause');
  const halt = drv.calls.findIndex((c) => c.startsWith('MiniportHaltEx'));
  assert.ok(pause >= 0 && halt > pause, drv.calls.join(', '));
  // MiniportPause returned SUCCESS: the adapter was Paused from there to the halt.
  assert.ok(
    calls(drv.calls.slice(pause, halt), 'MiniportCheckForHangEx') >= 1,
    `no check-for-hang between pause and halt: ${drv.calls.join(', ')}`,
  );
});

test('R4.3: check-for-hang may run before a slow MiniportInitializeEx returns', () => {
  let initializing = false;
  const seen: boolean[] = [];
  const drv = scriptedDriver('slow-init-nic', {
    initialize: () => {
      // The tick starts with the registration attributes; this init takes 2.5 s more.
      initializing = true;
      NdisMSleep(2_500_000);
      initializing = false;
      return NDIS_STATUS_SUCCESS;
    },
    // As R4.3 advises, FALSE until the initialization is done.
    checkForHang: () => {
      seen.push(initializing);
      return false;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.equal(w.adapter('nic0')!.state, 'Running');
  assert.ok(seen.includes(true), `check-for-hang calls (during init?): ${seen.join(', ')}`);
});

// ------------------------------------------------------------------------ R4.11

/** Answers every choice with its first option: no slack, no latency beyond the minimum. */
const firstChoice: Strategy = { name: 'first', pick: () => 0 };

/**
 * A driver whose check-for-hang reports a hang at every tick, and a world where
 * `action` is scheduled at `atNs` (none if null).
 */
function alwaysHung(kind: 'remove' | 'stop', atNs: number | null) {
  const drv = scriptedDriver(`hung-${kind}-nic`, { checkForHang: () => true, reset: resetSucceeds });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: atNs === null ? [] : [{ atNs, action: { kind, device: 'nic0' } as WorldAction }],
    options: { strategy: firstChoice },
  });
  return { drv, w };
}

for (const [kind, query, state] of [
  ['remove', 'IRP_MN_QUERY_REMOVE_DEVICE', 'QueryRemoved'],
  ['stop', 'IRP_MN_QUERY_STOP_DEVICE', 'QueryStopped'],
] as const) {
  test(`R4.11: no reset starts while the device is ${state} (a hang reported between the query and what follows)`, () => {
    // A first run finds when the first tick calls MiniportCheckForHangEx; with every
    // choice fixed, the second run ticks at the same time. Its PnP action is placed so
    // that the query completes just before that tick and the next IRP comes just after.
    const probe = alwaysHung(kind, null);
    probe.w.run(2500 * ns.ms);
    const tick = probe.w.trace.events.find(is('call', 'MiniportCheckForHangEx'));
    assert.ok(tick !== undefined);
    const { drv, w } = alwaysHung(kind, tick.t - 75 * ns.us);
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
    const next = kind === 'remove' ? 'IRP_MN_REMOVE_DEVICE' : 'IRP_MN_STOP_DEVICE';
    inOrder(w.trace.events, [
      [`${query} completed`, irpDone(query)],
      ['check-for-hang reports a hang', is('call', 'MiniportCheckForHangEx')],
      ['the reset is refused', notStarted],
      [`${next} sent`, irpSent(next)],
    ]);
    assert.equal(calls(drv.calls, 'MiniportResetEx'), 0);
  });
}

test('R4.11: no reset starts while the device is Stopped (NdisMResetMiniport while the stop waits for a pause)', () => {
  const drv = scriptedDriver('stop-nic', {
    pause: (a) => {
      after(a, 50, (x) => NdisMResetMiniport(x.handle));
      after(a, 100, (x) => NdisMPauseComplete(x.handle));
      return NDIS_STATUS_PENDING;
    },
    reset: resetSucceeds,
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'stop', device: 'nic0' } }],
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    ['STOP_DEVICE sent', irpSent('IRP_MN_STOP_DEVICE')],
    ['NdisMResetMiniport', is('ddi', 'NdisMResetMiniport')],
    ['the reset is refused', notStarted],
    ['the halt', is('call', 'MiniportHaltEx')],
  ]);
  assert.equal(calls(drv.calls, 'MiniportResetEx'), 0);
  // The stop is a rebalance: the adapter comes back (R1.8).
  assert.equal(w.adapter('nic0')!.state, 'Running');
});

test('R4.11: no reset starts once halting began (a surprise removal whose halt waits for a request)', () => {
  // No protocol: the unbind is immediate, so the halt step (halting) is reached while
  // NDIS's statistics query is still pending in the miniport. A reset requested then is
  // refused, although resets may follow a surprise removal until halting begins.
  const drv = scriptedDriver('halting-nic', {
    oid: (a, req: NDIS_OID_REQUEST) => {
      if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_NOT_SUPPORTED;
      after(a, 300, (x) => NdisMResetMiniport(x.handle));
      after(a, 600, (x) => NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS));
      return NDIS_STATUS_PENDING;
    },
    reset: resetSucceeds,
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    protocols: [],
    actions: [
      { atNs: 100 * ns.ms, action: statisticsQuery('nic0') },
      { atNs: 150 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } },
    ],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    ['halt waits for the request', is('ndis', /^halt waits for the pending OID request/)],
    ['NdisMResetMiniport', is('ddi', 'NdisMResetMiniport')],
    ['the reset is refused', notStarted],
    ['the halt', is('call', 'MiniportHaltEx')],
  ]);
  assert.equal(calls(drv.calls, 'MiniportResetEx'), 0);
});

// ------------------------------------------------------------------ R4.6, R4.7

test('R4.6: NdisMResetMiniport queues the reset; MiniportResetEx runs after the call has returned', () => {
  let inCall = false;
  const during: boolean[] = [];
  const drv = scriptedDriver('request-nic', {
    restart: (a) => {
      after(a, 100, (x) => {
        inCall = true;
        NdisMResetMiniport(x.handle);
        inCall = false;
      });
      return NDIS_STATUS_SUCCESS;
    },
    reset: () => {
      during.push(inCall);
      return resetSucceeds();
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(during, [false]);
  const [asked, begins] = inOrder(w.trace.events, [
    ['NdisMResetMiniport', is('ddi', 'NdisMResetMiniport')],
    ['reset begins', (e) => is('ndis', 'reset begins')(e) && e.data?.cause === 'NdisMResetMiniport'],
  ]);
  assert.ok(w.trace.events[begins!]!.t > w.trace.events[asked!]!.t);
});

/** Reports one hang, at the first tick (about 2 s); the reset pends for `resetMs`. */
function oneHang(resetMs: number, more: Hooks = {}): Hooks {
  let hung = 0;
  return {
    checkForHang: () => hung++ === 0,
    reset: (a) => {
      after(a, resetMs, (x) => NdisMResetComplete(x.handle, NDIS_STATUS_SUCCESS, false));
      return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
    },
    ...more,
  };
}

test('R4.7: protocols hear RESET_START before MiniportResetEx and RESET_END after the reset completes', () => {
  const drv = scriptedDriver('start-nic', oneHang(200));
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    ['RESET_START to the protocol', statusTo('NDIS_STATUS_RESET_START')],
    ['MiniportResetEx', is('call', 'MiniportResetEx')],
    ['NdisMResetComplete', is('ddi', 'NdisMResetComplete')],
    ['RESET_END to the protocol', statusTo('NDIS_STATUS_RESET_END')],
  ]);
  const view = w.protocols[0]!.views[0]!;
  assert.equal(view.resetStarts, 1);
  assert.equal(view.resetEnds, 1);
});

test('R4.7: NDIS fails sends that arrive during a reset itself (RESET_IN_PROGRESS), passing none to the miniport', () => {
  // A protocol that ignores RESET_START and goes on sending (R4.8 asks it to hold them).
  const drv = scriptedDriver('send-nic', oneHang(500));
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }], protocols: [] });
  const p = w.addProtocol('rude', {
    traffic: { ratePerSecond: 100, frameBytes: 64, returnDelayNs: 0, statisticsEveryNs: 0 },
  });
  const heard = p.ProtocolStatusEx.bind(p);
  p.ProtocolStatusEx = (bd, ind) => {
    if (ind.StatusCode !== NDIS_STATUS_RESET_START) heard(bd, ind);
  };
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const [begins, ends] = inOrder(w.trace.events, [
    ['reset begins', is('ndis', 'reset begins')],
    ['reset complete', is('ndis', 'reset complete')],
  ]);
  const during = w.trace.events.slice(begins!, ends!);
  assert.equal(findEvent(during, is('call', 'MiniportSendNetBufferLists')), -1);
  const view = p.views[0]!;
  // About 50 sends in the 500 ms of the reset.
  const failed = view.sendStatus[NDIS_STATUS_RESET_IN_PROGRESS] ?? 0;
  assert.ok(failed >= 40, `sends failed with RESET_IN_PROGRESS: ${failed}`);
  assert.equal(w.adapter('nic0')!.data.rejectedByNdis, failed);
  // Before and after the reset the sends went down.
  assert.ok(w.adapter('nic0')!.data.sent > 0);
});

test('R1.5, R4.14: a removal pauses the miniport while its reset is still pending; the halt waits for the reset', () => {
  const drv = scriptedDriver('pause-nic', oneHang(1000));
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 2500 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  inOrder(w.trace.events, [
    ['MiniportResetEx', is('call', 'MiniportResetEx')],
    ['MiniportPause', is('call', 'MiniportPause')],
    ['NdisMResetComplete', is('ddi', 'NdisMResetComplete')],
    ['MiniportHaltEx', is('call', 'MiniportHaltEx')],
  ]);
  assert.equal(w.device('nic0').status, 'removed');
});

// ------------------------------------------------------------------------ R4.12

/**
 * The miniport holds every send; check-for-hang reports a hang once it holds some
 * (R4.4), and the reset answers SUCCESS, completing the held sends first if `flush`.
 */
function heldSends(name: string, flush: boolean, minor = 30) {
  const held: NET_BUFFER_LIST[] = [];
  const drv = scriptedDriver(name, {
    send: (_a, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        held.push(x);
        x = next;
      }
    },
    checkForHang: () => held.length > 0,
    reset: (a) => {
      if (flush) {
        for (const x of held.splice(0)) {
          x.Status = NDIS_STATUS_RESET_IN_PROGRESS;
          NdisMSendNetBufferListsComplete(a.handle, x, 0);
        }
      }
      return resetSucceeds();
    },
    characteristics: (c) => {
      c.MinorNdisVersion = minor;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }], protocols: [] });
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 10, frameBytes: 64, returnDelayNs: 0, statisticsEveryNs: 0 },
  });
  const r = w.run(2500 * ns.ms);
  return { r, w, drv };
}

test('R4.12: from NDIS 6.30 a reset that completes with sends still pending is a violation; completing them first is not', () => {
  const kept = heldSends('keep-nic', false);
  assert.equal(kept.drv.calls.includes('MiniportResetEx'), true);
  assert.equal(kept.r.bugCheck?.rule, 'NdisSim_ResetWithPendingWork');
  assert.match(kept.r.bugCheck?.message ?? '', /send\(s\) still pending/);
  const flushed = heldSends('flush-nic', true);
  assert.equal(flushed.drv.calls.includes('MiniportResetEx'), true);
  assert.equal(flushed.r.verdict, 'ok', flushed.r.violations.map((v) => v.message).join('; '));
});

test('R4.12: before NDIS 6.30 the driver may keep its sends across a reset', () => {
  const { r, drv } = heldSends('old-nic', false, 20);
  assert.equal(drv.calls.includes('MiniportResetEx'), true);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
});
