// The summary's account of a run's end (src/report/summary.ts): how long the run went,
// a filter module whose restart failed (R7.10), the watchdogs a stalled removal waits
// for (R3.7, R6.6, R7.13), and the pause watchdog's rule text (R3.7).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisMRemoveMiniport,
} from '../src/index.ts';
import { removalStories } from '../src/report/removal.ts';
import { formatSummary } from '../src/report/summary.ts';
import { buildWorld } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { catalogue } from '../src/verifier/catalogue.ts';
import type { RunResult, World } from '../src/world.ts';
import { after, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

function summaryOf(w: World, r: RunResult): string {
  return formatSummary(w.summary(), r, {
    color: false,
    seed: 1,
    expectation: null,
    removals: removalStories(w.trace.events),
    events: w.trace.events,
    dropped: w.trace.dropped,
  }).join('\n');
}

/**
 * nic0 gives up 100 ms after its restart (NdisMRemoveMiniport), and its MiniportPause
 * pends for good: the removal waits for NDIS's pause watchdog (R3.7).
 */
function stuckPauseWorld(): World {
  return testWorld({
    drivers: [
      scriptedDriver('stuck-pause', {
        restart: (a) => {
          after(a, 100, () => {
            NdisMRemoveMiniport(a.handle);
          });
          return NDIS_STATUS_SUCCESS;
        },
        pause: () => NDIS_STATUS_PENDING,
      }),
    ],
    devices: [{ name: 'nic0', driver: 'stuck-pause' }],
  });
}

test('a run that went its whole time says so: "ran to" its end, with its last event apart; one a bug check stopped "ended at"', () => {
  const w = testWorld({
    drivers: [scriptedDriver('calm', {})],
    devices: [{ name: 'nic0', driver: 'calm' }],
  });
  const r = w.run(2 * ns.s);
  assert.ok(r.endNs < 2 * ns.s, 'the queue ran dry before the end');
  assert.equal(r.untilNs, 2 * ns.s);
  assert.match(summaryOf(w, r), /Summary {2}seed 1, ran to 2\.000000 s \(last event at \d\.\d{6} s\),/);
  const bad = stuckPauseWorld();
  const rb = bad.run(90 * ns.s);
  assert.equal(rb.verdict, 'bugcheck');
  assert.match(summaryOf(bad, rb), /Summary {2}seed 1, ended at 60\.\d{6} s,/);
});

test("R3.7, R7.13: a removal stuck behind a pended pause says when NDIS's pause watchdog fires and how far to run to see it", () => {
  const w = stuckPauseWorld();
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  const [wd] = w.summary().adapters[0]!.watchdogs;
  assert.ok(wd !== undefined && wd.dueNs > 60 * ns.s && wd.dueNs < 61 * ns.s, JSON.stringify(wd));
  assert.match(
    summaryOf(w, r),
    /still under way when the run ended.*\n {4}nic0: NDIS's pause watchdog over the pended MiniportPause \(NdisSim_PauseWatchdog, R3\.7\) fires at 60\.\d{6} s if nothing completes it first; run it to 61 s or later \(--until 61s\)/,
  );
  // And it does, there.
  const w2 = stuckPauseWorld();
  assert.equal(w2.run(61 * ns.s).bugCheck?.rule, 'NdisSim_PauseWatchdog');
});

test('R7.10: a filter module whose restart failed has a summary line: when, the status, how long the stack above stayed paused', () => {
  let restarts = 0;
  const lwf = variantOfMonitorLwf('restart-fails-lwf', 'fails its second restart', (c) => {
    c.RestartHandler = () => (++restarts === 2 ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS);
  });
  const text = `name: filter restart fails
seed: 1
until: 10s
filters: [{ driver: restart-fails-lwf }]
devices:
  - { name: nic0, driver: healthy-nic }
actions:
  - { at: 1s, do: sleep, for: 1s }
  - { at: 5s, do: disable, device: nic0 }
`;
  const s = parseScenarioText(text, 'restart-fails.yaml', driverNames([lwf]));
  const w = buildWorld(s, { seed: 1, drivers: [lwf] });
  const r = w.run(10 * ns.s);
  assert.match(
    summaryOf(w, r),
    /\n {2}Filter restart-fails-lwf on nic0: restart failed at 2\.\d{6} s \(NDIS_STATUS_FAILURE\); the stack above it stayed paused for [23]\.\d{6} s, until tcpip's unbind at 5\.\d{6} s \(R7\.10\)\n/,
  );
});

test('R3.7: the pause watchdog rule covers a MiniportPause that never returned as well as one pended and never completed', () => {
  const summary = catalogue.get('NdisSim_PauseWatchdog')!.summary;
  assert.match(summary, /NDIS_STATUS_PENDING and NdisMPauseComplete never followed/);
  assert.match(summary, /MiniportPause itself never returned/);
});
