// The removal as the HTML report tells it (src/report/removal.ts): each step of the
// device-failure teardown (R5.11, R5.12, R5.5, R5.8) found in the trace, in order,
// and the steps a run never reached.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { echoProto } from '../src/drivers/echo-proto.ts';
import { driverNames } from '../src/drivers/index.ts';
import { variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisMRemoveMiniport,
} from '../src/index.ts';
import { removalStories } from '../src/report/removal.ts';
import { formatSummary } from '../src/report/summary.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario, parseScenarioText } from '../src/scenario/load.ts';
import type { RunResult, World } from '../src/world.ts';
import { worldHtml } from './helpers/report.ts';
import { after, pauseRemoveWorld, scriptedDriver } from './helpers/scripted.ts';
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
  assert.equal(st!.end, 'Code 43');
  // Each step points at the event that shows it.
  const ev = (i: number | null) => w.trace.events[i!]!;
  assert.equal(ev(at[0]!).what, 'NdisMRemoveMiniport');
  assert.equal(ev(at[2]!).kind, 'dump');
  assert.equal(ev(at[10]!).data?.HaltAction, 'NdisHaltDeviceFailed');
  assert.equal(ev(at[12]!).data?.problem, 43);
});

test('R5.12, R3.7: a pause that never completes is under way, and leaves the unbind, the halt, the remove IRP and Code 43 not reached, listed last', () => {
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
    'MiniportPause',
    'tcpip unbinds',
    'MiniportHaltEx(NdisHaltDeviceFailed)',
    'IRP_MN_REMOVE_DEVICE completes',
    'the device is failed: Code 43 (CM_PROB_FAILED_POST_START)',
  ]);
  assert.deepEqual(
    st!.steps.slice(-5).map((x) => x.at),
    [null, null, null, null, null],
  );
  // MiniportPause began (it pended) and never finished: under way, from its call.
  const pause = st!.steps.find((x) => x.what === 'MiniportPause')!;
  assert.equal(w.trace.events[pause.began!]!.data?.event, 'MiniportPause');
  assert.ok(st!.steps.filter((x) => x.what !== 'MiniportPause').every((x) => x.began === null));
  const html = worldHtml(w, r, 'stuck pause');
  assert.match(html, /<li class="missing">.*MiniportHaltEx\(NdisHaltDeviceFailed\).*<b>not reached<\/b>/);
  assert.match(html, /<li class="missing">.*MiniportPause .*<b>under way<\/b> since <a href="#e\d+"/);
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
    /Removal \(R5\.8, R5\.12\)\n {4}nic0 +NdisMRemoveMiniport at 0\.\d+ s; under way since 0\.\d+ s: MiniportPause; not reached: tcpip unbinds; MiniportHaltEx\(NdisHaltDeviceFailed\); IRP_MN_REMOVE_DEVICE completes; the device is failed: Code 43/,
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

/** The summary's lines of a finished world's run, with its removals. */
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

test('R5.8: a device failed by a failed MiniportRestart tells its teardown with the live dump of reason 73 and no NdisMRemoveMiniport', () => {
  let restarts = 0;
  const drv = scriptedDriver('restart-fails', {
    restart: () => (restarts++ === 0 ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS),
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'restart-fails' }] });
  const r = w.run(1 * ns.s);
  const [st] = removalStories(w.trace.events);
  assert.match(st!.why, /^MiniportRestart failed/);
  assert.ok(
    st!.steps.every((x) => x.at !== null),
    JSON.stringify(st!.steps),
  );
  assert.ok(!st!.steps.some((x) => /calls NdisMRemoveMiniport/.test(x.what)));
  // The 0x15E page: parameter 4 = 73 when MiniportRestart fails.
  const dump = st!.steps.find((x) => x.what.startsWith('a live dump'));
  assert.equal(dump?.what, 'a live dump: BUGCODE_NDIS_DRIVER_LIVE_DUMP (0x15E), reason 73, not a crash');
  assert.equal(dump?.rules, 'R5.8');
  assert.deepEqual(
    w.summary().dumps.map((d) => [d.params, d.reason]),
    [[[0x01, 'nic0 miniport block', 'nic0 PDO', 73], 'MiniportRestart failed']],
  );
  assert.equal(st!.steps.find((x) => x.what.startsWith('NDIS sets the device-failed flag'))!.rules, 'R5.8');
  assert.match(
    summaryOf(w, r),
    /nic0 +MiniportRestart failed.* at 0\.\d+ s: every step to Code 43, in 0\.\d+ s/,
  );
});

test('R5.5, S-d: unplugged, then NdisMRemoveMiniport from the SurpriseRemoved notification: every step, the device gone, no Code 43 expected', () => {
  const drv = scriptedDriver('unplugged-first', {
    devicePnPEventNotify: (a, ev) => {
      if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved) NdisMRemoveMiniport(a.handle);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'unplugged-first' }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
  });
  const r = w.run(1 * ns.s);
  const [st] = removalStories(w.trace.events);
  assert.equal(st!.end, 'unplugged');
  assert.ok(
    st!.steps.every((x) => x.at !== null),
    JSON.stringify(st!.steps),
  );
  assert.equal(st!.steps[0]!.what, 'IRP_MN_SURPRISE_REMOVAL: the device was unplugged first');
  assert.ok(!st!.steps.some((x) => /QUERY_PNP_DEVICE_STATE|Code 43 \(/.test(x.what)));
  assert.match(summaryOf(w, r), /every step to the unplugged device gone, no Code 43/);
});

test('R5.15: a device started again after its removal and failed again tells two teardowns', () => {
  const s = loadScenario('examples/reset-storm.yaml', driverNames());
  const w = buildWorld(s, { seed: s.seed });
  w.at(25 * ns.s, { kind: 'start', device: 'nic0' });
  // The bus driver powered the NIC down at the removal: fresh from that, it needs a
  // new first hang to start the storm again.
  w.nic('nic0').inject('hang', 27 * ns.s, null);
  w.run(60 * ns.s);
  const stories = removalStories(w.trace.events);
  assert.equal(stories.length, 2);
  assert.ok(stories[1]!.steps[0]!.at! > stories[0]!.steps.at(-1)!.at!, 'the second after the first');
  for (const st of stories) assert.ok(st.steps.every((x) => x.at !== null));
  assert.equal(w.summary().dumps.length, 2);
});

test('a failed adapter whose flag the trace dropped is said to be, not left out', () => {
  const drv = scriptedDriver('dropped-flag', {
    restart: (a) => {
      after(a, 100, () => {
        NdisMRemoveMiniport(a.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'dropped-flag' }],
    options: { traceMax: 8 },
  });
  const r = w.run(1 * ns.s);
  assert.ok(w.trace.dropped > 0);
  assert.deepEqual(removalStories(w.trace.events), []);
  assert.match(
    summaryOf(w, r),
    /nic0 +its device failed before the \d+ trace events the run kept, so its removal is not shown/,
  );
});

for (const kind of ['disable', 'remove'] as const) {
  test(`R5.4, R2.12: NdisMRemoveMiniport in the MiniportPause of a ${kind}: the orderly removal gets there first, and the story ends there, not at a Code 43 never reached`, () => {
    const drv = scriptedDriver(`pause-${kind}`, {
      pause: (a) => {
        NdisMRemoveMiniport(a.handle);
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      actions: [{ atNs: 100 * ns.ms, action: { kind, device: 'nic0' } }],
    });
    const r = w.run(1 * ns.s);
    // The device is no longer started when PnP gets to the invalidation, so it lapses:
    // no state query, no surprise removal; the halt is Failed (R2.12).
    assert.equal(w.device('nic0').problem, kind === 'disable' ? 22 : 0);
    const [st] = removalStories(w.trace.events);
    assert.equal(st!.end, kind === 'disable' ? 'disabled' : 'removed');
    assert.ok(
      st!.steps.every((x) => x.at !== null),
      JSON.stringify(st!.steps),
    );
    assert.ok(
      !st!.steps.some((x) =>
        /QUERY_PNP_DEVICE_STATE|SURPRISE_REMOVAL|SurpriseRemoved|POST_START/.test(x.what),
      ),
    );
    assert.ok(st!.steps.some((x) => x.what === 'MiniportHaltEx(NdisHaltDeviceFailed)'));
    const to = kind === 'disable' ? 'the device disabled \\(Code 22\\)' : 'the device removed';
    // The line starts at the call, not at the IRP_MN_REMOVE_DEVICE listed before it.
    const call = w.trace.events.find((e) => e.kind === 'ddi' && e.what === 'NdisMRemoveMiniport')!;
    const at = (call.t / 1e9).toFixed(6);
    assert.match(
      summaryOf(w, r),
      new RegExp(`NdisMRemoveMiniport at ${at} s: every step to ${to}, no Code 43`),
    );
    assert.doesNotMatch(summaryOf(w, r), /not reached/);
  });
}

test('R5.12, R5.5: a device unplugged only after its failure reached Code 43 tells the teardown to Code 43, not "no Code 43"', () => {
  const drv = scriptedDriver('unplugged-after', {
    initialize: (a) => {
      after(a, 100, () => {
        NdisMRemoveMiniport(a.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  // The failure path is over within a millisecond of the call at 100 ms.
  w.at(900 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = w.run(1 * ns.s);
  const ev = w.trace.events;
  const code43 = ev.findIndex((e) => e.kind === 'device' && e.data?.problem === 43);
  const gone = ev.findIndex((e) => e.kind === 'device' && e.what === 'gone');
  assert.ok(code43 >= 0 && gone > code43, 'Code 43, then the unplug');
  const [st] = removalStories(ev);
  assert.equal(st!.end, 'Code 43');
  assert.ok(
    st!.steps.every((x) => x.at !== null),
    JSON.stringify(st!.steps),
  );
  assert.ok(st!.steps.some((x) => x.what.startsWith('IRP_MN_QUERY_PNP_DEVICE_STATE')));
  assert.equal(st!.steps.at(-1)!.at, code43);
  assert.match(summaryOf(w, r), /every step to Code 43/);
});

test('R5.16: NdisMRemoveMiniport in a MiniportInitializeEx that then fails ends at Code 10 with no halt, not at "not reached: ... Code 43"', () => {
  const drv = scriptedDriver('init-fails', {
    initialize: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_FAILURE;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(1 * ns.s);
  assert.equal(w.device('nic0').problem, 10);
  const [st] = removalStories(w.trace.events);
  assert.equal(st!.end, 'Code 10');
  assert.ok(
    st!.steps.every((x) => x.at !== null),
    JSON.stringify(st!.steps),
  );
  assert.ok(
    !st!.steps.some((x) =>
      /QUERY_PNP_DEVICE_STATE|SURPRISE_REMOVAL|SurpriseRemoved|MiniportHaltEx|POST_START/.test(x.what),
    ),
  );
  // PnP marks the devnode as it sends IRP_MN_REMOVE_DEVICE for the failed start, so the
  // Code 10 step comes just before the IRP's completion.
  assert.deepEqual(
    st!.steps.slice(-2).map((x) => x.what),
    ['the device failed to start: Code 10 (CM_PROB_FAILED_START), no halt', 'IRP_MN_REMOVE_DEVICE completes'],
  );
  assert.match(
    summaryOf(w, r),
    /NdisMRemoveMiniport at 0\.\d+ s: every step to Code 10 \(a failed start, no halt\)/,
  );
  assert.doesNotMatch(summaryOf(w, r), /not reached/);
});

test('R5.16, R5.5: a failed start unplugged later still ends at Code 10; the unplugging is not its end', () => {
  const drv = scriptedDriver('init-fails-unplugged', {
    initialize: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_FAILURE;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 500 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
  });
  w.run(1 * ns.s);
  assert.equal(w.device('nic0').status, 'gone');
  const [st] = removalStories(w.trace.events);
  assert.equal(st!.end, 'Code 10');
  assert.ok(
    st!.steps.every((x) => x.at !== null),
    JSON.stringify(st!.steps),
  );
});

test('R7.1, R5.5: a protocol whose unbind was already under way when the device failed is listed as unbinding, not as a pause never reached', () => {
  let world: ReturnType<typeof testWorld> | null = null;
  const drv = scriptedDriver('fails-while-unbinding', {
    initialize: (a) => {
      world!.at(world!.kernel.now + 500 * ns.ms - 20 * ns.us, {
        kind: 'stop-protocol',
        driver: 'echo-proto',
      });
      // echo-proto's service stops just before this timer: its unbind clears its packet
      // filter first, and the driver gives up on the adapter while the binding is Closing.
      after(a, 500, () => {
        NdisMRemoveMiniport(a.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv, echoProto], devices: [{ name: 'nic0', driver: drv.name }] });
  world = w;
  w.addProtocolDriver('echo-proto');
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(w.device('nic0').problem, 43);
  const [st] = removalStories(w.trace.events);
  const flag = st!.steps.find((x) => x.what.startsWith('NDIS sets the device-failed flag'))!.at!;
  const closing = w.trace.events.findLastIndex(
    (e, i) => i < flag && e.kind === 'binding' && e.actor === 'echo-proto' && e.what.endsWith('→ Closing'),
  );
  const unbound = w.trace.events.findIndex(
    (e, i) => i > flag && e.kind === 'binding' && e.actor === 'echo-proto' && e.what.endsWith('→ Unbound'),
  );
  assert.ok(closing >= 0 && unbound > flag, "the flag falls inside echo-proto's unbind");
  assert.ok(
    st!.steps.every((x) => x.at !== null),
    JSON.stringify(st!.steps),
  );
  assert.ok(!st!.steps.some((x) => x.what === "echo-proto's binding is paused"));
  assert.ok(st!.steps.some((x) => x.what === 'echo-proto unbinds'));
});

/** pauseRemoveWorld's run (a driver that gives up in the sleep's MiniportPause), told. */
function sleepPauseRemoval(seed: number) {
  const { w, r } = pauseRemoveWorld(seed);
  const stories = removalStories(w.trace.events);
  const text = formatSummary(w.summary(), r, {
    color: false,
    seed,
    expectation: null,
    removals: stories,
    events: w.trace.events,
  }).join('\n');
  return { r, stories, text };
}

test('R2.12, R5.5: a device failed in the sleep\'s MiniportPause and halted (NdisHaltDeviceFailed) before its surprise removal reaches Code 43 with every step; no SurpriseRemoved notification is due, none is "not reached"', () => {
  // Seed 3: the surprise removal comes after the sleep's halt, and the adapter stays halted.
  const { r, stories, text } = sleepPauseRemoval(3);
  assert.equal(r.verdict, 'ok');
  assert.equal(stories.length, 1);
  const st = stories[0]!;
  assert.equal(st.end, 'Code 43');
  assert.ok(
    st.steps.every((x) => x.at !== null),
    JSON.stringify(st.steps),
  );
  assert.ok(!st.steps.some((x) => x.what.startsWith('MiniportDevicePnPEventNotify')));
  assert.ok(
    st.steps.some(
      (x) =>
        x.what ===
        'MiniportHaltEx(NdisHaltDeviceFailed) for the system sleep, before the surprise removal: no SurpriseRemoved notification is due',
    ),
  );
  assert.match(
    text,
    /Removal \(R5\.8, R5\.12\)\n {4}nic0 +NdisMRemoveMiniport at 1\.\d+ s: every step to Code 43, in /,
  );
  assert.doesNotMatch(text, /not reached/);
  assert.match(text, /halt action: NdisHaltDeviceFailed/);
});

test('R2.12, R5.15, R5.5: when the state query waits for the wake, the wake does not initialize the failed adapter again: the story tells one halt, for the sleep, and no SurpriseRemoved notification', () => {
  // Seed 1: PnP's state query waits for the wake; the adapter stays halted through it.
  const { r, stories, text } = sleepPauseRemoval(1);
  assert.equal(r.verdict, 'ok');
  const st = stories[0]!;
  assert.equal(st.end, 'Code 43');
  assert.ok(
    st.steps.every((x) => x.at !== null),
    JSON.stringify(st.steps),
  );
  const whats = st.steps.map((x) => x.what);
  assert.ok(
    whats.includes(
      'MiniportHaltEx(NdisHaltDeviceFailed) for the system sleep, before the surprise removal: no SurpriseRemoved notification is due',
    ),
    JSON.stringify(whats),
  );
  assert.ok(!whats.some((x) => x.includes('MiniportInitializeEx again')), JSON.stringify(whats));
  assert.ok(!whats.some((x) => x.startsWith('MiniportDevicePnPEventNotify')), JSON.stringify(whats));
  assert.match(text, /nic0 +NdisMRemoveMiniport at 1\.\d+ s: every step to Code 43, in /);
  assert.doesNotMatch(text, /not reached/);
});

test('R1.6, R5.11: NdisMRemoveMiniport from MiniportShutdownEx: the removal line and the HTML say the machine shut down, not a list of steps "not reached" as if the teardown stalled', () => {
  const drv = scriptedDriver('shutdown-remover', {
    shutdown: (a) => {
      NdisMRemoveMiniport(a.handle);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'shutdown-remover' }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'shutdown' } }],
  });
  const r = w.run(1 * ns.s);
  const [st] = removalStories(w.trace.events);
  assert.ok(st!.shutDownAt !== null);
  assert.equal(w.trace.events[st!.shutDownAt!]!.what, 'shutdown');
  const text = summaryOf(w, r);
  assert.match(
    text,
    /nic0 +NdisMRemoveMiniport at 0\.1\d* s; nothing follows a shutdown \(R1\.6\), so its \d+ later step\(s\), to Code 43, never come: machine shut down at 0\.100000 s$/m,
  );
  assert.doesNotMatch(text, /not reached/);
  const html = worldHtml(w, r, 'shutdown');
  assert.match(html, /cut short: the machine shut down<\/h3>/);
  assert.match(html, /<b>never comes<\/b>: the machine shut down at 0\.100000 s/);
  assert.doesNotMatch(html, /not reached<\/b>/);
  // A removal cut short by the end of the run, not by a shutdown, keeps its "not reached".
  const u = testWorld({
    drivers: [
      scriptedDriver('late-remover', {
        restart: (a) => {
          after(a, 100, () => {
            NdisMRemoveMiniport(a.handle);
          });
          return NDIS_STATUS_SUCCESS;
        },
        pause: () => NDIS_STATUS_PENDING,
      }),
    ],
    devices: [{ name: 'nic0', driver: 'late-remover' }],
    options: { verifier: 'collect' },
  });
  u.run(1 * ns.s);
  const [cut] = removalStories(u.trace.events);
  assert.ok(cut!.steps.some((x) => x.at === null));
  assert.equal(cut!.shutDownAt, null);
});

test('R5.14: a second NdisMRemoveMiniport call before the halt is a step of the removal (a no-op that returns SUCCESS), in the story and the HTML steps', () => {
  const drv = scriptedDriver('twice-remover', {
    restart: (a) => {
      after(a, 100, () => {
        NdisMRemoveMiniport(a.handle);
        NdisMRemoveMiniport(a.handle);
        NdisMRemoveMiniport(a.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'twice-remover' }] });
  const r = w.run(1 * ns.s);
  const [st] = removalStories(w.trace.events);
  const again = st!.steps.find((x) => x.rules === 'R5.14');
  assert.equal(
    again?.what,
    'the driver calls NdisMRemoveMiniport again (2 times): the flag is set already, so it only returns NDIS_STATUS_SUCCESS',
  );
  const flagAt = st!.steps.find((x) => x.what.startsWith('NDIS sets the device-failed flag'))!.at!;
  assert.ok(again!.at! > flagAt);
  assert.equal(w.trace.events[again!.at!]!.what, 'NdisMRemoveMiniport');
  assert.ok(st!.steps.every((x) => x.at !== null));
  const html = worldHtml(w, r, 'twice');
  assert.match(html, /the driver calls NdisMRemoveMiniport again \(2 times\): the flag is set already/);
  assert.match(summaryOf(w, r), /every step to Code 43/);
});

/** filter-stack.yaml's stack (tcpip, a filter module, flaky-nic giving up) with `filter` in it. */
function filterStackWorld(filter: ReturnType<typeof variantOfMonitorLwf>): World {
  const text = `name: filter removal
seed: 1
until: 30s
filters: [{ driver: ${filter.name} }]
devices:
  - name: nic0
    driver: flaky-nic
    registry: { ResetLimit: 3, ResetWindowSeconds: 30 }
    faults: { hangAt: 1.5s, rehangAfterReset: 1s..3s }
`;
  const s = parseScenarioText(text, 'filter-removal.yaml', driverNames([filter]));
  return buildWorld(s, { seed: 1, drivers: [filter] });
}

test('R5.5, R7.7, R7.9, R7.11: the removal lists the filter module: its device PnP notification, the query-remove, its FilterPause and its FilterDetach, in the teardown order', () => {
  const w = filterStackWorld(variantOfMonitorLwf('plain-lwf', 'monitor-lwf as is'));
  w.run(30 * ns.s);
  const [st] = removalStories(w.trace.events);
  const from = st!.steps.findIndex((x) => x.what === 'the PnP manager sends IRP_MN_SURPRISE_REMOVAL');
  assert.deepEqual(
    st!.steps.slice(from + 1, -3).map((x) => x.what),
    [
      "plain-lwf's FilterDevicePnPEventNotify(NdisDevicePnPEventSurpriseRemoved)",
      'MiniportDevicePnPEventNotify(NdisDevicePnPEventSurpriseRemoved)',
      "plain-lwf's FilterNetPnPEvent(NetEventQueryRemoveDevice)",
      "tcpip's binding is paused",
      "plain-lwf's filter module pauses (FilterPause)",
      'MiniportPause',
      'tcpip unbinds',
      "plain-lwf's filter module detaches (FilterDetach)",
    ],
  );
  assert.ok(st!.steps.every((x) => x.at !== null));
  // Each points at its event.
  const ev = (what: string) => w.trace.events[st!.steps.find((x) => x.what === what)!.at!]!;
  assert.equal(ev("plain-lwf's filter module pauses (FilterPause)").what, 'Pausing → Paused');
  assert.equal(ev("plain-lwf's filter module detaches (FilterDetach)").what, 'Paused → Detached');
  assert.equal(ev("plain-lwf's FilterNetPnPEvent(NetEventQueryRemoveDevice)").what, 'FilterNetPnPEvent');
});

test('R7.9, R7.13: a FilterPause that never completes is named first, under way, in the removal line, the HTML and "Still under way"; the rest not reached in the teardown order', () => {
  const stuck = variantOfMonitorLwf('stuck-pause-lwf', 'pends its pause forever', (c) => {
    c.PauseHandler = () => NDIS_STATUS_PENDING;
  });
  const w = filterStackWorld(stuck);
  const r = w.run(25 * ns.s);
  const text = summaryOf(w, r);
  assert.match(
    text,
    /nic0 +NdisMRemoveMiniport at [\d.]+ s; under way since [\d.]+ s: stuck-pause-lwf's filter module pauses \(FilterPause\); not reached: MiniportPause; tcpip unbinds; stuck-pause-lwf's filter module detaches \(FilterDetach\); MiniportHaltEx\(NdisHaltDeviceFailed\);/,
  );
  // "Still under way" names the module first, in words, with no step name of the model's.
  assert.match(
    r.pending[0]!,
    /^nic0: the surprise removal waits for filter module stuck-pause-lwf's FilterPause \(it returned NDIS_STATUS_PENDING; NdisFPauseComplete not called\), before MiniportPause$/,
  );
  assert.ok(!r.pending.some((p) => /at step|step=|pause-protocols/.test(p)), r.pending.join('\n'));
  const html = worldHtml(w, r, 'stuck filter pause');
  assert.match(
    html,
    /<li class="missing">.*stuck-pause-lwf&#39;s filter module pauses \(FilterPause\).*<b>under way<\/b>/,
  );
});

test('R5.5, R7.9: a run stopped early lists the steps not reached in the teardown order (binding paused, MiniportPause, unbind), and "Still under way" uses no step names of the model', () => {
  const drv = scriptedDriver('early-stop', {
    restart: (a) => {
      after(a, 100, () => {
        NdisMRemoveMiniport(a.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'early-stop' }] });
  // Just past the surprise removal: its teardown has not run its first step.
  w.run(1 * ns.s);
  const all = removalStories(w.trace.events)[0]!;
  const surprise = all.steps.find((x) => x.what === 'the PnP manager sends IRP_MN_SURPRISE_REMOVAL')!;
  const t = w.trace.events[surprise.at!]!.t;
  const w2 = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'early-stop' }] });
  const r = w2.run(t);
  const [st] = removalStories(w2.trace.events);
  const missing = st!.steps.filter((x) => x.at === null).map((x) => x.what);
  assert.deepEqual(missing.slice(0, 4), [
    "tcpip's binding is paused",
    'MiniportPause',
    'tcpip unbinds',
    'MiniportHaltEx(NdisHaltDeviceFailed)',
  ]);
  assert.ok(
    r.pending.some((p) => p.startsWith('nic0: the surprise removal ')),
    r.pending.join('\n'),
  );
  assert.ok(!r.pending.some((p) => /at step|teardown waiting|\bnotify\b/.test(p)), r.pending.join('\n'));
});

test('R5.15: the HTML removal headings and the summary say which adapter of the device each teardown is', () => {
  const s = loadScenario('examples/reset-storm.yaml', driverNames());
  const w = buildWorld(s, { seed: s.seed });
  w.at(25 * ns.s, { kind: 'start', device: 'nic0' });
  w.nic('nic0').inject('hang', 27 * ns.s, null);
  const r = w.run(60 * ns.s);
  const html = worldHtml(w, r, 'two removals');
  assert.match(html, /<h3>nic0 \(adapter 1 of 2\): NdisMRemoveMiniport<\/h3>/);
  assert.match(html, /<h3>nic0 \(adapter 2 of 2\): NdisMRemoveMiniport<\/h3>/);
  const text = summaryOf(w, r);
  assert.match(
    text,
    /every step to Code 43, in [\d.]+ s {3}\(nic0's adapter 1 of 2\)\n.*every step to Code 43, in [\d.]+ s {3}\(nic0's adapter 2 of 2\)/,
  );
});

test("R5.15, R2.12, R5.5: NdisMRemoveMiniport in the MiniportPause of a stop: the stop halts with NdisHaltDeviceFailed, the restart does not initialize it again, and the story names the halt the stop's", () => {
  const drv = scriptedDriver('pause-stop', {
    pause: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'stop', device: 'nic0' } }],
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(w.device('nic0').problem, 43);
  const inits = w.trace.events.filter((e) => e.kind === 'state' && e.data?.event === 'MiniportInitializeEx');
  assert.equal(inits.length, 1, 'R5.15: the failed FDO is not initialized again');
  const [st] = removalStories(w.trace.events);
  assert.equal(st!.end, 'Code 43');
  assert.ok(
    st!.steps.every((x) => x.at !== null),
    JSON.stringify(st!.steps),
  );
  const whats = st!.steps.map((x) => x.what);
  assert.ok(
    whats.includes(
      'MiniportHaltEx(NdisHaltDeviceFailed) for the stop, before the surprise removal: no SurpriseRemoved notification is due',
    ),
    JSON.stringify(whats),
  );
  assert.ok(!whats.some((x) => x.includes('MiniportInitializeEx again')), JSON.stringify(whats));
});

/** A miniport whose MiniportInitializeEx succeeds the first time only; `flag`: it calls NdisMRemoveMiniport before failing. */
function restartFailsWorld(name: string, flag: boolean, stop = true): World {
  let inits = 0;
  const drv = scriptedDriver(name, {
    initialize: (a) => {
      if (++inits === 1) return NDIS_STATUS_SUCCESS;
      if (flag) NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_FAILURE;
    },
  });
  return testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: stop ? [{ atNs: 100 * ns.ms, action: { kind: 'stop', device: 'nic0' } }] : [],
  });
}

test('R1.8, R2.5, R5.5: a start that fails after a stop (no flag) has its teardown told: the failed init, Code 10, IRP_MN_SURPRISE_REMOVAL, IRP_MN_REMOVE_DEVICE, in the summary and the HTML', () => {
  const w = restartFailsWorld('restart-fails-noflag', false);
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(w.device('nic0').problem, 10);
  const stories = removalStories(w.trace.events);
  assert.equal(stories.length, 1);
  const st = stories[0]!;
  assert.equal(st.flagged, false);
  assert.equal(st.end, 'Code 10');
  assert.deepEqual(
    st.steps.map((x) => [x.what, x.at !== null]),
    [
      ['MiniportInitializeEx fails: the start after the stop fails', true],
      [
        "the device failed to start: Code 10 (CM_PROB_FAILED_START); the stop's MiniportHaltEx was the adapter's last halt",
        true,
      ],
      [
        'the PnP manager sends IRP_MN_SURPRISE_REMOVAL (a start failed after a stop): the adapter is halted, so no SurpriseRemoved notification and no halt',
        true,
      ],
      ['IRP_MN_REMOVE_DEVICE completes', true],
    ],
  );
  assert.match(
    summaryOf(w, r),
    /Removal \(R5\.8, R5\.12\)\n {4}nic0 +the start after a stop failed at 0\.\d+ s: every step to Code 10 \(a failed start; the stop's halt was the last\), in /,
  );
  const html = worldHtml(w, r, 'restart fails');
  assert.match(html, /<h3>nic0: the start after a stop failed<\/h3>/);
  assert.match(html, /IRP_MN_SURPRISE_REMOVAL \(a start failed after a stop\)/);
});

test('R2.5: a first start that fails (no stop before it) gets no surprise removal and no removal story', () => {
  let inits = 0;
  const drv = scriptedDriver('first-start-fails', {
    initialize: () => (++inits === 1 ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS),
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  w.run(1 * ns.s);
  assert.equal(w.device('nic0').problem, 10);
  assert.deepEqual(removalStories(w.trace.events), []);
});

test('R5.16, R1.8, R5.5: NdisMRemoveMiniport in the MiniportInitializeEx of a restart after a stop that then fails: one story, to Code 10, with the surprise removal PnP sends', () => {
  const w = restartFailsWorld('restart-fails-flag', true);
  const r = w.run(1 * ns.s);
  assert.equal(w.device('nic0').problem, 10);
  const stories = removalStories(w.trace.events);
  assert.equal(stories.length, 1, JSON.stringify(stories.map((s) => s.why)));
  const st = stories[0]!;
  assert.equal(st.flagged, true);
  assert.equal(st.end, 'Code 10');
  assert.ok(
    st.steps.every((x) => x.at !== null),
    JSON.stringify(st.steps),
  );
  const whats = st.steps.map((x) => x.what);
  const fail = whats.indexOf('MiniportInitializeEx fails: the start fails, and the invalidation lapses');
  const surprise = whats.indexOf(
    'the PnP manager sends IRP_MN_SURPRISE_REMOVAL (a start failed after a stop): the adapter is halted, so no SurpriseRemoved notification and no halt',
  );
  assert.ok(fail >= 0 && surprise > fail, JSON.stringify(whats));
  assert.ok(!whats.some((x) => /MiniportHaltEx|POST_START|SurpriseRemoved\)/.test(x)), JSON.stringify(whats));
  assert.match(
    summaryOf(w, r),
    /NdisMRemoveMiniport at 0\.\d+ s: every step to Code 10 \(a failed start, no halt\)/,
  );
});

test("R5.4, R2.12: NdisMRemoveMiniport in a MiniportPause of a disable that never completes: the story is the disable's, still under way, not a Code 43 path; the verdict and the HTML say the disable", () => {
  const drv = scriptedDriver('pause-disable-stuck', {
    pause: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_PENDING;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'disable', device: 'nic0' } }],
  });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  const [st] = removalStories(w.trace.events);
  assert.equal(st!.end, 'disabled');
  const whats = st!.steps.map((x) => x.what);
  assert.ok(
    whats.includes('IRP_MN_REMOVE_DEVICE of an orderly disable: the invalidation lapses'),
    JSON.stringify(whats),
  );
  assert.ok(
    !whats.some((x) => /QUERY_PNP_DEVICE_STATE|SURPRISE_REMOVAL|Code 43 \(/.test(x)),
    JSON.stringify(whats),
  );
  assert.equal(st!.steps.at(-1)!.what, 'the device is disabled: Code 22 (CM_PROB_DISABLED), no Code 43');
  assert.equal(st!.steps.at(-1)!.at, null);
  const text = summaryOf(w, r);
  assert.match(
    text,
    /Verdict: no rule broken; but the disable of nic0 was still under way when the run ended/,
  );
  assert.match(worldHtml(w, r, 'stuck disable'), /the disable of nic0 was still under way/);
});
