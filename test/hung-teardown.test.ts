// A teardown that never finishes (R4.16: "a reset never completed blocks removal forever
// (model: liveness error)"; R5.8): a miniport whose MiniportResetEx pends for good hangs
// the removal on Windows, with no bug check (no NDIS watchdog
// times a reset). A run that ends so, with nothing left to happen that could finish it,
// fails with the verdict `hang` (World.hungTeardowns); one cut off by its end time while
// the completion is still scheduled does not.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../src/errors.ts';
import { exploreSeeds, judge } from '../src/explore/explore.ts';
import {
  type NDIS_HANDLE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisFreeTimerObject,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisSetTimerObject,
  type World,
} from '../src/index.ts';
import { formatSummary } from '../src/report/summary.ts';
import { buildWorld, checkExpectations, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { after, scriptedDriver, type TestAdapter, timerCharacteristics } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/**
 * The reviewer's miniport: a periodic heartbeat timer (`periodMs`, first due at 100 ms)
 * keeps the event queue busy; the first check-for-hang tick (2 s) asks for a reset, and
 * MiniportResetEx gives up on the adapter with NdisMRemoveMiniport and pends. With
 * `completeAfterMs` a one-shot timer completes the reset that much later; without, it
 * never completes.
 */
function hungResetNic(name: string, periodMs: number, completeAfterMs?: number) {
  return scriptedDriver(name, {
    initialize: (a) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => {}),
      );
      if (t.TimerObject === null) return t.Status;
      a.state.beat = t.TimerObject;
      NdisSetTimerObject(t.TimerObject, -1_000_000, periodMs, null);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      const t = a.state.beat as NDIS_HANDLE;
      NdisCancelTimerObject(t);
      NdisFreeTimerObject(t);
    },
    checkForHang: (a) => {
      a.state.ticks = ((a.state.ticks as number | undefined) ?? 0) + 1;
      return a.state.ticks === 1;
    },
    reset: (a: TestAdapter) => {
      NdisMRemoveMiniport(a.handle);
      if (completeAfterMs !== undefined)
        after(a, completeAfterMs, () => NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false));
      return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
    },
  });
}

function world(name: string, periodMs: number, completeAfterMs?: number, hung?: 'fail' | 'warning'): World {
  return testWorld({
    drivers: [hungResetNic(name, periodMs, completeAfterMs)],
    devices: [{ name: 'nic0', driver: name }],
    ...(hung === undefined ? {} : { options: { ndis: { hungTeardown: hung } } }),
  });
}

const hangText =
  /^the (surprise )?removal of nic0 never finished: MiniportResetEx pended at 2\.\d{6} s and NdisMResetComplete never came; Windows would hang here \(no NDIS watchdog times a reset\)$/;

test('R4.16, R5.8: a MiniportResetEx that pends for good hangs the removal: verdict hang, not "no rule broken", though a periodic timer still fires', () => {
  const w = world('hung-reset-nic', 7);
  const r = w.run(10 * ns.s);
  assert.equal(r.verdict, 'hang', r.message ?? '');
  assert.equal(r.bugCheck, null, 'Windows has no watchdog over a reset: no bug check');
  assert.match(r.message ?? '', hangText);
  assert.deepEqual(
    r.hangs.map((h) => h.key),
    [
      r.hangs[0]!.key.startsWith('the surprise')
        ? 'the surprise removal of nic0: MiniportResetEx pended'
        : 'the removal of nic0: MiniportResetEx pended',
    ],
  );
  assert.ok(
    r.pending.includes('nic0: reset in progress (MiniportResetEx not completed)'),
    r.pending.join('\n'),
  );
  assert.ok(r.pending.includes('IRP_MN_REMOVE_DEVICE to nic0 not completed'), r.pending.join('\n'));
  // The summary's verdict line says it, where it said "no rule broken".
  const lines = formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null });
  assert.match(
    lines[lines.length - 1]!,
    /^Verdict: the (surprise )?removal of nic0 never finished: MiniportResetEx pended/,
  );
});

test("R4.16, R5.8: the reviewer's case through explore: every seed fails, grouped as one hang, where it used to pass", () => {
  const drv = hungResetNic('hung-reset-nic', 7);
  const text = 'until: 10s\ndevices: [{ name: nic0, driver: hung-reset-nic }]\n';
  const s = parseScenarioText(text, 'hung.yaml', [drv.name]);
  const report = exploreSeeds(
    { scenario: s, drivers: [drv], untilNs: untilNs(s), verifier: 'bugcheck' },
    1,
    5,
  );
  assert.equal(report.passed, 0);
  assert.equal(report.groups.length, 1, report.groups.map((g) => g.signature).join('; '));
  assert.match(report.groups[0]!.signature, /^hang the (surprise )?removal of nic0: MiniportResetEx pended$/);
  assert.deepEqual(report.groups[0]!.seeds, [1, 2, 3, 4, 5]);
});

test('R4.16: a run cut off by its end time while the reset is still scheduled to complete is work in flight, not a hang; run on, the removal finishes', () => {
  // The reset pends at about 2 s and its completion is due 5 s later.
  const cut = world('late-reset-nic', 7, 5000).run(4 * ns.s);
  assert.equal(cut.verdict, 'ok', cut.message ?? '');
  assert.deepEqual(cut.hangs, []);
  assert.ok(
    cut.pending.includes('nic0: reset in progress (MiniportResetEx not completed)'),
    cut.pending.join('\n'),
  );
  const whole = world('late-reset-nic', 7, 5000).run(10 * ns.s);
  assert.equal(whole.verdict, 'ok', whole.message ?? '');
  assert.ok(!whole.pending.some((p) => p.includes('not completed')), whole.pending.join('\n'));
});

test('R4.16: a periodic timer that has not run since the removal got stuck could still finish it: no hang until it has had its chance', () => {
  // Due at 100 ms, then every 5 s: it runs at 0.1 s and 5.1 s; the reset pends at about 2 s.
  const before = world('slow-beat-nic', 5000).run(4 * ns.s);
  assert.equal(before.verdict, 'ok', before.message ?? '');
  const afterIt = world('slow-beat-nic', 5000).run(6 * ns.s);
  assert.equal(afterIt.verdict, 'hang', afterIt.message ?? '');
});

test('R4.16 ndis: hungTeardown: warning keeps the old verdict (no rule broken) and says it in a warning', () => {
  const r = world('hung-reset-nic', 7, undefined, 'warning').run(10 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(r.hangs.length, 1);
  assert.deepEqual(
    r.warnings.map((x) => x.rule),
    ['R4.16'],
  );
  assert.match(
    r.warnings[0]!.message,
    /^hung: the (surprise )?removal of nic0 never finished: MiniportResetEx pended/,
  );
  // The same from a scenario's ndis: block, checked like the other options.
  const drv = hungResetNic('hung-reset-nic', 7);
  const text = (v: string) =>
    `until: 10s\nndis: { hungTeardown: ${v} }\ndevices: [{ name: nic0, driver: hung-reset-nic }]\n`;
  const s = parseScenarioText(text('warning'), 'hung.yaml', [drv.name]);
  assert.equal(buildWorld(s, { drivers: [drv] }).run(untilNs(s)).verdict, 'ok');
  assert.throws(
    () => parseScenarioText(text('ignore'), 'hung.yaml', [drv.name]),
    (e: unknown) =>
      e instanceof InputError &&
      e.problems.some((p) => /ndis\.hungTeardown: expected one of fail, warning/.test(p)),
  );
});

test('R4.16 expect: a hang is the `settled` expectation missed, as before (same signature); with settled: false it is the verdict missed', () => {
  const drv = hungResetNic('hung-reset-nic', 7);
  const base = 'until: 10s\ndevices: [{ name: nic0, driver: hung-reset-nic }]\n';
  for (const [extra, sig] of [
    ['expect: { devices: { nic0: { problem: 0 } } }\n', /^settled=/],
    ['expect: { settled: false }\n', /^verdict=hang$/],
  ] as const) {
    const s = parseScenarioText(base + extra, 'hung.yaml', [drv.name]);
    const w = buildWorld(s, { drivers: [drv] });
    const r = w.run(untilNs(s));
    assert.equal(r.verdict, 'hang');
    const e = checkExpectations(s, r, w.expectView())!;
    assert.equal(e.met, false);
    assert.match(e.signatures.join(', '), sig);
    if (extra.includes('settled: false'))
      assert.match(
        e.problems.join('\n'),
        /^verdict: expected ok, got hang \(the (surprise )?removal of nic0 never finished/,
      );
    else assert.ok(!e.signatures.some((x) => x.startsWith('verdict')), e.signatures.join(', '));
    const o = judge({ scenario: s, drivers: [drv], untilNs: untilNs(s), verifier: 'bugcheck' }, r, w);
    assert.equal(o.kind, 'fail');
  }
  // expect: verdict: hang is met.
  const s = parseScenarioText(`${base}expect: { verdict: hang, settled: false }\n`, 'hung.yaml', [drv.name]);
  const w = buildWorld(s, { drivers: [drv] });
  assert.equal(checkExpectations(s, w.run(untilNs(s)), w.expectView())!.met, true);
});

test('R4.16, R5.4: a disable that a reset pended for good hangs is called the disable, an uninstall the removal', () => {
  for (const [action, what] of [
    ['disable', 'the disable of nic0'],
    ['remove', 'the removal of nic0'],
  ] as const) {
    const w = testWorld({
      drivers: [
        scriptedDriver(`reset-pends-${action}`, {
          checkForHang: (a) => {
            a.state.ticks = ((a.state.ticks as number | undefined) ?? 0) + 1;
            return a.state.ticks === 1;
          },
          reset: () => ({ Status: NDIS_STATUS_PENDING, AddressingReset: false }),
        }),
      ],
      devices: [{ name: 'nic0', driver: `reset-pends-${action}` }],
      actions: [{ atNs: 3 * ns.s, action: { kind: action, device: 'nic0' } }],
    });
    const r = w.run(10 * ns.s);
    assert.equal(r.verdict, 'hang', r.message ?? '');
    assert.deepEqual(
      r.hangs.map((h) => h.key),
      [`${what}: MiniportResetEx pended`],
    );
  }
});
