// NDIS's own watchdogs of bug check 0x7C, parameter 1 0x25 (NDIS_BUGCHECK_WATCHDOG), for
// the operations the other test files do not cover: parameter 2 0x23
// NDIS_BUGCHECK_WATCHDOG_MINIPORT_OID (a miniport OID request pended and never
// completed). The idle watchdogs (0x25, 0x26) are in selective-suspend.test.ts, the
// filter pause (0x11) in filter.test.ts. Each time-out is undocumented and a documented option (docs/model.md,
// "Options for the points the docs leave open").

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import {
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisMOidRequestComplete,
  NdisMSleep,
  OID_GEN_STATISTICS,
} from '../src/index.ts';
import type { NdisOptions } from '../src/ndis/ndis.ts';
import type { NDIS_OID_REQUEST } from '../src/ndis/types.ts';
import { fmtTime } from '../src/report/format.ts';
import { buildWorld } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import type { WorldOptions } from '../src/world.ts';
import { after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { ns, statisticsQuery, testWorld } from './helpers/world.ts';

// ------------------------------------------------------------ 0x23 MINIPORT_OID

/**
 * A NIC that pends OID_GEN_STATISTICS and completes it `completeMs` later (never when
 * null); every other request succeeds at once. `extra` adds hooks (a reset handler).
 */
function statsNic(name: string, completeMs: number | null, extra: Hooks = {}) {
  return scriptedDriver(name, {
    ...extra,
    oid: (a, req) => {
      if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_SUCCESS;
      a.state.pended = req;
      if (completeMs !== null)
        after(a, completeMs, () =>
          NdisMOidRequestComplete(a.handle, a.state.pended as NDIS_OID_REQUEST, NDIS_STATUS_SUCCESS),
        );
      return NDIS_STATUS_PENDING;
    },
  });
}

function statsWorld(
  drv: ReturnType<typeof scriptedDriver>,
  ndis: Partial<NdisOptions> = {},
  options: Partial<WorldOptions> = {},
  seed = 1,
) {
  return testWorld({
    seed,
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 100 * ns.ms, action: statisticsQuery('nic0') }],
    options: { trace: true, ...options, ndis },
  });
}

function statsCallNs(w: ReturnType<typeof testWorld>): number {
  return w.trace.events.find((e) => e.kind === 'call' && e.data?.Oid === 'OID_GEN_STATISTICS')!.t;
}

test('R6.6 NdisSim_MiniportOidWatchdog: a pended request never completed is 0x7C/0x25/0x23 with the OID in parameter 4, the watchdog time after the PENDING return', () => {
  // A reset handler that leaves the request alone: NDIS's reset over the stuck request
  // (R4.5) comes first and does not stop the watchdog.
  const drv = statsNic('oid-stuck', null, {
    reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
  });
  const w = statsWorld(drv, {}, { verifier: 'collect' });
  const r = w.run(90 * ns.s);
  const bc = r.bugCheck!;
  assert.equal(bc.rule, 'NdisSim_MiniportOidWatchdog');
  assert.equal(bc.bugCheck.code, 0x7c);
  assert.deepEqual(bc.bugCheck.params, [0x25, 0x23, 'NDIS_WATCHDOG_TRIAGE_BLOCK', OID_GEN_STATISTICS]);
  assert.match(bc.message, /pended OID_GEN_STATISTICS .*NdisMOidRequestComplete did not follow within 60 s/);
  const call = statsCallNs(w);
  assert.equal(bc.timeNs - call, 60 * ns.s, 'the default oidWatchdog is 60 s');
  // Driver Verifier's 12 s came first (R6.6), and NDIS reset the adapter over it (R4.5).
  const dv = w.verifier.violations.find((v) => v.rule === 'NdisTimedOidComplete');
  assert.equal(dv?.timeNs, call + 12 * ns.s);
  assert.ok(w.ndis.adapters[0]!.resets >= 1, 'R4.5: NDIS reset the adapter over the stuck request');
  // Both name the callback that pended the request, when, and who asked (Pended by).
  const pended = `MiniportOidRequest at ${fmtTime(call)} (OID_GEN_STATISTICS, a request through NDIS)`;
  assert.ok(bc.message.includes(`pended OID_GEN_STATISTICS at ${fmtTime(call)}`), bc.message);
  assert.deepEqual(bc.origin, { label: 'Pended by', at: pended });
  assert.deepEqual(dv.origin, { label: 'Pended by', at: pended });
  assert.match(dv.message, /: MiniportOidRequest pended it at /);
});

test('R6.6 NdisSim_MiniportOidWatchdog: a completion just before the time-out is no bug check; just after, it is', () => {
  const ndis = { oidWatchdogNs: 5 * ns.s };
  const early = statsWorld(statsNic('oid-early', 4_999), ndis).run(20 * ns.s);
  assert.equal(early.verdict, 'ok', early.bugCheck?.message);
  const late = statsWorld(statsNic('oid-late', 5_001), ndis).run(20 * ns.s);
  assert.equal(late.bugCheck?.rule, 'NdisSim_MiniportOidWatchdog');
  assert.match(late.bugCheck!.message, /within 5 s/);
});

test("R6.6: with Driver Verifier's check on, the earlier limit fires; at a tie Driver Verifier's NdisTimedOidComplete goes first", () => {
  // Watchdog shorter than 12 s: NDIS's watchdog alone.
  const w5 = statsWorld(statsNic('oid-w5', null), { oidWatchdogNs: 5 * ns.s });
  const r5 = w5.run(30 * ns.s);
  assert.equal(r5.bugCheck?.rule, 'NdisSim_MiniportOidWatchdog');
  assert.equal(r5.endNs - statsCallNs(w5), 5 * ns.s);
  // Both at 12 s after the call, over seeds (the two timers are due at the same instant).
  for (let seed = 1; seed <= 6; seed++) {
    const w = statsWorld(statsNic('oid-w12', null), { oidWatchdogNs: 12 * ns.s }, {}, seed);
    const r = w.run(30 * ns.s);
    assert.equal(r.bugCheck?.rule, 'NdisTimedOidComplete', `seed ${seed}`);
  }
  // In collect mode both are recorded, Driver Verifier's first.
  const wc = statsWorld(statsNic('oid-w12c', null), { oidWatchdogNs: 12 * ns.s }, { verifier: 'collect' });
  wc.run(30 * ns.s);
  assert.deepEqual(
    wc.verifier.violations.map((v) => v.rule),
    ['NdisTimedOidComplete', 'NdisSim_MiniportOidWatchdog'],
  );
});

test('R6.6 NdisSim_MiniportOidWatchdog: a MiniportOidRequest that blocks past the watchdog is caught while it blocks, timed from its call', () => {
  const drv = scriptedDriver('oid-blocks', {
    oid: (_a, req) => {
      if (req.DATA.Oid === OID_GEN_STATISTICS) NdisMSleep(8_000_000);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = statsWorld(drv, { oidWatchdogNs: 5 * ns.s });
  const r = w.run(30 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_MiniportOidWatchdog');
  assert.match(r.bugCheck!.message, /has not returned after 5 s/);
  assert.equal(r.endNs - statsCallNs(w), 5 * ns.s);
  // The same handler with the default watchdog returns in time: no bug check.
  assert.equal(statsWorld(drv).run(30 * ns.s).verdict, 'ok');
});

test('R6.6: oidWatchdog and idleWatchdog are scenario durations under ndis:, 60 s when unset', () => {
  const yaml = (ndis: string) => `until: 1s
ndis: { ${ndis} }
devices: [{ name: nic0, driver: healthy-nic }]
`;
  const set = parseScenarioText(yaml('oidWatchdog: 7s, idleWatchdog: 9s'), 'o.yaml', driverNames());
  assert.equal(buildWorld(set).ndis.options.oidWatchdogNs, 7 * ns.s);
  assert.equal(buildWorld(set).ndis.options.idleWatchdogNs, 9 * ns.s);
  const unset = parseScenarioText(yaml(''), 'o.yaml', driverNames());
  assert.equal(buildWorld(unset).ndis.options.oidWatchdogNs, 60 * ns.s);
  assert.equal(buildWorld(unset).ndis.options.idleWatchdogNs, 60 * ns.s);
});
