// Device Manager's actions on devnodes in every state (05-removal.md): a disable or an
// uninstall of a device with no driver stack, actions that have nothing to do (their
// line says why), a vetoed disable (review-pnp #1, #4, #6).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { NDIS_STATUS_FAILURE, NDIS_STATUS_SUCCESS, NdisMRemoveMiniport } from '../src/index.ts';
import { buildWorld, scenarioWarnings } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { WorldAction } from '../src/world.ts';
import { after, scriptedDriver } from './helpers/scripted.ts';
import { inOrder, is, ns, testWorld } from './helpers/world.ts';

/** A NIC whose driver gives up on it (NdisMRemoveMiniport) 1 s after each initialization. */
const giveUp = () =>
  scriptedDriver('t-giveup', {
    initialize: (a) => {
      after(a, 1000, () => NdisMRemoveMiniport(a.handle));
      return NDIS_STATUS_SUCCESS;
    },
  });

const run = (drv: ReturnType<typeof scriptedDriver>, actions: { atNs: number; action: WorldAction }[]) => {
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }], actions });
  const r = w.run(4 * ns.s);
  return { w, r };
};

const actionLines = (ev: readonly TraceEvent[], kind: string) =>
  ev.filter((e) => e.kind === 'action' && e.actor === 'scenario' && e.what === kind);

const irpsAfter = (ev: readonly TraceEvent[], t: number) =>
  ev.filter((e) => e.kind === 'irp' && e.t >= t && e.data?.phase === 'sent').map((e) => e.what);

test('R5.8, R5.12: a disable of a Code 43 device (no FDO) leaves it disabled, Code 22, with no IRP and a line that says so', () => {
  const { w, r } = run(giveUp(), [{ atNs: 2 * ns.s, action: { kind: 'disable', device: 'nic0' } }]);
  assert.equal(r.verdict, 'ok');
  assert.equal(w.device('nic0').status, 'disabled');
  assert.equal(w.device('nic0').problem, 22);
  assert.deepEqual(irpsAfter(w.trace.events, 2 * ns.s), []);
  inOrder(w.trace.events, [
    ['Code 43', (e) => is('device', 'failed')(e) && e.data?.problem === 43],
    ['disable', (e) => e.kind === 'action' && e.what === 'disable'],
    ['no stack', is('device', 'disabled with no driver stack: no IRP to send')],
    ['Code 22', (e) => is('device', 'disabled')(e) && e.data?.problem === 22],
  ]);
});

test('R5.12: an uninstall (remove) of a Code 43 device deletes the devnode (removed), with no IRP', () => {
  const { w } = run(giveUp(), [{ atNs: 2 * ns.s, action: { kind: 'remove', device: 'nic0' } }]);
  assert.equal(w.device('nic0').status, 'removed');
  assert.equal(w.device('nic0').problem, 0);
  assert.deepEqual(irpsAfter(w.trace.events, 2 * ns.s), []);
  assert.ok(w.trace.events.some(is('device', 'uninstalled with no driver stack: no IRP to send')));
});

test('R2.5, R5.16: a disable of a Code 10 device (failed start) leaves it disabled, Code 22', () => {
  const drv = scriptedDriver('t-initfail', { initialize: () => NDIS_STATUS_FAILURE });
  const { w } = run(drv, [{ atNs: 1 * ns.s, action: { kind: 'disable', device: 'nic0' } }]);
  assert.equal(w.device('nic0').problem, 22);
  assert.equal(w.device('nic0').status, 'disabled');
});

test('R5.8, R5.12: a disable that arrives while the failed-device teardown runs takes effect after it: Code 22, not 43', () => {
  // Each offset from the NdisMRemoveMiniport call lands in another part of the
  // teardown (state query, surprise removal, REMOVE_DEVICE); all end at Code 22.
  const probe = run(giveUp(), []).w.trace.events;
  const failedAt = probe.find(is('ndis', 'device-failed flag set'))!.t;
  const codeAt = probe.find((e) => is('device', 'failed')(e) && e.data?.problem === 43)!.t;
  assert.ok(codeAt - failedAt > 200 * ns.us, 'the teardown takes long enough to land actions in it');
  for (const offsetUs of [1, 60, 150, (codeAt - failedAt) / ns.us - 1]) {
    const { w, r } = run(giveUp(), [
      { atNs: failedAt + Math.round(offsetUs * ns.us), action: { kind: 'disable', device: 'nic0' } },
    ]);
    assert.equal(r.verdict, 'ok');
    assert.equal(w.device('nic0').problem, 22, `disable ${offsetUs} µs after the give-up`);
    inOrder(w.trace.events, [
      ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
      ['Code 43', (e) => is('device', 'failed')(e) && e.data?.problem === 43],
      ['Code 22', (e) => is('device', 'disabled')(e) && e.data?.problem === 22],
    ]);
  }
});

test('R5.15: a start after the no-stack disable enables the device again: a new FDO, started', () => {
  let inits = 0;
  const drv = scriptedDriver('t-once', {
    initialize: (a) => {
      inits++;
      if (inits === 1) after(a, 500, () => NdisMRemoveMiniport(a.handle));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const { w } = run(drv, [
    { atNs: 1 * ns.s, action: { kind: 'disable', device: 'nic0' } },
    { atNs: 2 * ns.s, action: { kind: 'start', device: 'nic0' } },
  ]);
  assert.equal(w.device('nic0').status, 'started');
  assert.equal(w.device('nic0').problem, 0);
  assert.equal(inits, 2);
});

test('review-pnp #4: actions with nothing to do say why on their own line', () => {
  const { w } = run(giveUp(), [
    // The default start at 0 s and this one: the second finds the device started.
    { atNs: 0, action: { kind: 'start', device: 'nic0' } },
    { atNs: 500 * ns.ms, action: { kind: 'start', device: 'nic0' } },
    { atNs: 2 * ns.s, action: { kind: 'stop', device: 'nic0' } },
    { atNs: 2 * ns.s + 1 * ns.ms, action: { kind: 'disable', device: 'nic0' } },
    { atNs: 2 * ns.s + 2 * ns.ms, action: { kind: 'disable', device: 'nic0' } },
    { atNs: 2 * ns.s + 3 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
    { atNs: 2 * ns.s + 4 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
    { atNs: 2 * ns.s + 5 * ns.ms, action: { kind: 'stop', device: 'nic0' } },
  ]);
  const ev = w.trace.events;
  assert.deepEqual(
    actionLines(ev, 'start').map((e) => e.data?.ignored),
    [undefined, 'already started', 'already started'],
  );
  assert.deepEqual(
    actionLines(ev, 'stop').map((e) => e.data?.ignored),
    ['not started: Code 43', 'not started: uninstalled'],
  );
  assert.deepEqual(
    actionLines(ev, 'disable').map((e) => e.data?.ignored),
    [undefined, 'already disabled'],
  );
  assert.deepEqual(
    actionLines(ev, 'remove').map((e) => e.data?.ignored),
    [undefined, 'already uninstalled'],
  );
});

test('review-pnp #4, R5.5: a start or a second unplug after the device was unplugged is ignored: not present', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    actions: [
      { atNs: 1 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } },
      { atNs: 2 * ns.s, action: { kind: 'start', device: 'nic0' } },
      { atNs: 3 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } },
    ],
  });
  w.run(4 * ns.s);
  assert.equal(w.device('nic0').status, 'gone');
  assert.equal(actionLines(w.trace.events, 'start')[1]?.data?.ignored, 'not present: unplugged');
  assert.deepEqual(
    actionLines(w.trace.events, 'surprise-remove').map((e) => e.data?.ignored),
    [undefined, 'not present: unplugged'],
  );
});

test('R5.1, R5.3: a vetoed disable is reported as a disable vetoed, and the device keeps running', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'disable', device: 'nic0', vetoBelow: true } }],
  });
  w.run(2 * ns.s);
  const ev = w.trace.events;
  assert.ok(
    ev.some((e) => e.kind === 'device' && e.what.startsWith('disable vetoed: the device keeps running')),
  );
  assert.ok(!ev.some((e) => e.kind === 'device' && e.what.startsWith('removal vetoed')));
  assert.equal(w.device('nic0').status, 'started');
});

test('R5.1, R5.3: a vetoed uninstall is still reported as a removal vetoed', () => {
  const w = testWorld({
    drivers: [healthyNic],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0', vetoBelow: true } }],
  });
  w.run(2 * ns.s);
  assert.ok(w.trace.events.some((e) => e.kind === 'device' && e.what.startsWith('removal vetoed')));
  assert.equal(w.device('nic0').status, 'started');
});

const shutdownScenario = `
name: shutdown then start
until: 20s
protocols: [{ name: tcpip }]
devices:
  - { name: nic0, driver: healthy-nic }
actions:
  - { at: 12s, do: start, device: nic0 }
  - { at: 10s, do: shutdown }
  - { at: 10s, do: disable, device: nic0 }
  - { at: 5s, do: stop, device: nic0 }
`;

test('R1.6, review-pnp #4: the scenario check warns of every action after a shutdown, in time and file order', () => {
  const s = parseScenarioText(shutdownScenario, 'sd.yaml', driverNames([]));
  const warnings = scenarioWarnings(s);
  assert.equal(warnings.length, 2);
  assert.match(
    warnings[0]!,
    /^actions\[0\]: start nic0 at 12\.000000 s comes after the shutdown at 10\.000000 s \(actions\[1\]\)/,
  );
  assert.match(warnings[1]!, /^actions\[2\]: disable nic0 at 10\.000000 s comes after the shutdown/);
  const none = parseScenarioText(
    shutdownScenario.replace('do: shutdown', 'do: send, device: nic0'),
    's.yaml',
    driverNames([]),
  );
  assert.deepEqual(scenarioWarnings(none), []);
});

test('R1.6, review-pnp #4: the actions a shutdown leaves queued are traced as not taken', () => {
  const s = parseScenarioText(shutdownScenario, 'sd.yaml', driverNames([]));
  const w = buildWorld(s);
  w.run(20 * ns.s);
  const lines = w.trace.events.filter((e) => e.kind === 'action').map((e) => e.what);
  assert.deepEqual(lines.slice(-3), [
    'shutdown',
    'disable nic0 at 10.000000 s not taken: the machine is off',
    'start nic0 at 12.000000 s not taken: the machine is off',
  ]);
});

test('R1.8, R2.5: a start that fails after a successful stop: SURPRISE_REMOVAL, then REMOVE_DEVICE, Code 10; the summary names the stop halt', () => {
  let inits = 0;
  const drv = scriptedDriver('t-restart-fail', {
    initialize: () => (++inits === 1 ? NDIS_STATUS_SUCCESS : NDIS_STATUS_FAILURE),
  });
  const { w, r } = run(drv, [{ atNs: 1 * ns.s, action: { kind: 'stop', device: 'nic0' } }]);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(irpsAfter(w.trace.events, 1 * ns.s), [
    'IRP_MN_QUERY_STOP_DEVICE',
    'IRP_MN_STOP_DEVICE',
    'IRP_MN_START_DEVICE',
    'IRP_MN_SURPRISE_REMOVAL',
    'IRP_MN_REMOVE_DEVICE',
  ]);
  assert.equal(w.device('nic0').problem, 10);
  assert.equal(w.device('nic0').status, 'failed');
  const a = w.summary().adapters.find((x) => x.name === 'nic0')!;
  assert.equal(a.state, 'Halted');
  assert.equal(a.haltAction, 'NdisHaltDeviceStopped');
});

test('R1.8: after a stop whose restart succeeds, the running adapter shows no halt action', () => {
  const { w } = run(scriptedDriver('t-restart-ok'), [
    { atNs: 1 * ns.s, action: { kind: 'stop', device: 'nic0' } },
  ]);
  const a = w.summary().adapters.find((x) => x.name === 'nic0')!;
  assert.equal(a.state, 'Running');
  assert.equal(a.haltAction, null);
});
