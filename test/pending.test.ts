// What a run that ends with an operation still under way says about it: a stack pause
// held up by a protocol whose sends a filter module keeps names the module (filter
// trial: "restack waiting at step pause" said nothing of who held it up).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import { NDIS_STATUS_PENDING, World } from '../src/index.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

test('an operation stuck at a pause says whose sends the pausing protocol waits for, and where they are', () => {
  // Keeps every send from above, never passing it on or completing it.
  const keeper = variantOfMonitorLwf('send-keeper', 'keeps the sends it gets', (c) => {
    c.SendNetBufferListsHandler = () => {};
    c.SendNetBufferListsCompleteHandler = () => {};
    withStatusPassedOn(c);
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(keeper);
  w.addFilter('send-keeper');
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 100 } });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'disable', device: 'nic0' });
  const r = w.run(200 * ns.ms);
  const line = r.pending.find((p) => p.startsWith('nic0: '));
  assert.match(
    line ?? r.pending.join('\n'),
    /^nic0: \w+ waiting at step pause-protocols: protocol tcpip's pause waits for (\d+) send\(s\) to complete \(\1 with filter module send-keeper@nic0\)$/,
  );
});

test('R3.9: a MiniportRestart that pends and is never completed: the run ends "ok" with a warning that it is pending for good (no watchdog covers a restart)', () => {
  const w = new World({ seed: 1 });
  w.addDriver(scriptedDriver('restart-never-done', { restart: () => NDIS_STATUS_PENDING }));
  w.addDevice({ name: 'nic0', driver: 'restart-never-done' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.ok(
    r.pending.includes('nic0: restart pending (NdisMRestartComplete not called)'),
    r.pending.join('\n'),
  );
  assert.deepEqual(
    r.warnings.map((x) => [x.rule, x.ddi, x.adapter]),
    [['R3.9', 'MiniportRestart', 'nic0']],
  );
  assert.match(
    r.warnings[0]!.message,
    /^pending for good: MiniportRestart of nic0 returned NDIS_STATUS_PENDING/,
  );
});
