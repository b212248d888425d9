// The removal as the HTML report tells it (src/report/removal.ts): each step of the
// device-failure teardown (R5.11, R5.12, R5.5, R5.8) found in the trace, in order,
// and the steps a run never reached.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { NDIS_STATUS_PENDING, NDIS_STATUS_SUCCESS, NdisMRemoveMiniport } from '../src/index.ts';
import { toHtmlReport } from '../src/report/html.ts';
import { removalStories } from '../src/report/removal.ts';
import { formatSummary } from '../src/report/summary.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { after, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

test('R5.11, R5.12: the reset storm tells its removal from NdisMRemoveMiniport to Code 43, every step in trace order', () => {
  const s = loadScenario('examples/reset-storm.yaml', driverNames());
  const w = buildWorld(s, { seed: s.seed });
  w.run(untilNs(s));
  const stories = removalStories(w.trace.events);
  assert.equal(stories.length, 1);
  const [st] = stories;
  assert.equal(st!.adapter, 'nic0');
  assert.equal(st!.why, 'NdisMRemoveMiniport');
  assert.deepEqual(
    st!.steps.map((x) => x.what),
    [
      'the driver calls NdisMRemoveMiniport; it returns NDIS_STATUS_SUCCESS',
      'NDIS sets the device-failed flag (NdisMRemoveMiniport)',
      'a live dump: BUGCODE_NDIS_DRIVER_LIVE_DUMP (0x15E), reason 71, not a crash',
      'NDIS calls IoInvalidateDeviceState',
      'IRP_MN_QUERY_PNP_DEVICE_STATE: NDIS reports PNP_DEVICE_FAILED',
      'the PnP manager sends IRP_MN_SURPRISE_REMOVAL',
      'MiniportDevicePnPEventNotify(NdisDevicePnPEventSurpriseRemoved)',
      "tcpip's binding is paused",
      'MiniportPause',
      'tcpip unbinds',
      'MiniportHaltEx(NdisHaltDeviceFailed)',
      'IRP_MN_REMOVE_DEVICE completes',
      'the device is failed: Code 43 (CM_PROB_FAILED_POST_START)',
    ],
  );
  const at = st!.steps.map((x) => x.at);
  assert.ok(at.every((i) => i !== null));
  assert.deepEqual(
    [...at].sort((a, b) => a! - b!),
    at,
    'in the order they happened',
  );
  // Each step points at the event that shows it.
  const ev = (i: number | null) => w.trace.events[i!]!;
  assert.equal(ev(at[0]!).what, 'NdisMRemoveMiniport');
  assert.equal(ev(at[2]!).kind, 'dump');
  assert.equal(ev(at[10]!).data?.HaltAction, 'NdisHaltDeviceFailed');
  assert.equal(ev(at[12]!).data?.problem, 43);
});

test('R5.12: a pause that never completes leaves the unbind, the halt, the remove IRP and Code 43 not reached, listed last', () => {
  const drv = scriptedDriver('stuck-pause', {
    restart: (a) => {
      after(a, 100, () => {
        NdisMRemoveMiniport(a.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
    pause: () => NDIS_STATUS_PENDING,
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'stuck-pause' }],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  const [st] = removalStories(w.trace.events);
  const missing = st!.steps.filter((x) => x.at === null).map((x) => x.what);
  assert.deepEqual(missing, [
    'tcpip unbinds',
    'MiniportHaltEx(NdisHaltDeviceFailed)',
    'IRP_MN_REMOVE_DEVICE completes',
    'the device is failed: Code 43 (CM_PROB_FAILED_POST_START)',
  ]);
  assert.deepEqual(
    st!.steps.slice(-4).map((x) => x.at),
    [null, null, null, null],
  );
  assert.ok(st!.steps.some((x) => x.what === 'MiniportPause' && x.at !== null));
  const html = toHtmlReport({
    scenario: { name: 'stuck pause' },
    seed: 1,
    events: w.trace.events,
    dropped: 0,
    result: r,
    summary: w.summary(),
    expectation: null,
    version: '0.0.0-test',
  });
  assert.match(html, /<li class="missing">.*MiniportHaltEx\(NdisHaltDeviceFailed\).*<b>not reached<\/b>/);
  assert.match(html, /<a href="#removal">The removal<\/a>/);
  // The text summary names what was not reached.
  const text = formatSummary(w.summary(), r, {
    color: false,
    seed: 1,
    expectation: null,
    removals: removalStories(w.trace.events),
    events: w.trace.events,
  }).join('\n');
  assert.match(
    text,
    /Removal \(R5\.11, R5\.12\)\n {4}nic0 +NdisMRemoveMiniport at 0\.\d+ s; not reached: tcpip unbinds; MiniportHaltEx\(NdisHaltDeviceFailed\); IRP_MN_REMOVE_DEVICE completes; the device is failed: Code 43/,
  );
});

test('R5.5: a surprise removal with no device failure tells no removal story', () => {
  const s = loadScenario('examples/reset-storm.yaml', driverNames());
  const w = buildWorld(s, { seed: s.seed });
  w.run(3 * ns.s); // before the driver gives up
  assert.deepEqual(removalStories(w.trace.events), []);
  const drv = scriptedDriver('plain', {});
  const u = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'plain' }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
  });
  u.run(1 * ns.s);
  assert.ok(u.trace.events.some((e) => e.kind === 'irp' && e.what === 'IRP_MN_SURPRISE_REMOVAL'));
  assert.deepEqual(removalStories(u.trace.events), []);
});
