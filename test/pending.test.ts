// What a run that ends with an operation still under way says about it: a stack pause
// held up by a protocol whose sends a filter module keeps names the module (filter
// trial: "restack waiting at step pause" said nothing of who held it up).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import {
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAllocateTimerObject,
  NdisMRestartComplete,
  NdisSetTimerObject,
  World,
} from '../src/index.ts';
import { after, scriptedDriver, timerCharacteristics } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** A disable (or an orderly removal) of nic0 whose filter module keeps every send. */
function stuckAtPause(action: 'disable' | 'remove'): string {
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
  w.at(100 * ns.ms, { kind: action, device: 'nic0' });
  const r = w.run(200 * ns.ms);
  const line = r.pending.find((p) => p.startsWith('nic0: '));
  return line ?? r.pending.join('\n');
}

test('R3.4, R5.4: an operation stuck at a pause says once whose sends the pausing protocol waits for, and where they are; a disable is called the disable', () => {
  assert.match(
    stuckAtPause('disable'),
    /^nic0: the disable waits for protocol tcpip's pause \(NetEventPause\), which waits for (\d+) send\(s\) to complete \(\1 with filter module send-keeper@nic0\), before MiniportPause$/,
  );
});

test('R5.4: an orderly removal stuck at the same pause is called the removal', () => {
  assert.match(
    stuckAtPause('remove'),
    /^nic0: the removal waits for protocol tcpip's pause \(NetEventPause\), which waits for \d+ send/,
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

test('R3.9: a MiniportRestart pended for good is warned of in a short run though a periodic timer still ticks, once its routine ran since; a restart a later timer would complete is not', () => {
  // The driver's own 100 ms statistics timer keeps the event queue busy for ever.
  const run = (completeAtMs: number | null) => {
    const drv = scriptedDriver('restart-ticking', {
      restart: (a) => {
        const t = NdisAllocateTimerObject(
          a.handle,
          timerCharacteristics(() => {}),
        );
        NdisSetTimerObject(t.TimerObject!, -1_000_000, 100, null); // every 100 ms
        if (completeAtMs !== null)
          after(a, completeAtMs, () => NdisMRestartComplete(a.handle, NDIS_STATUS_SUCCESS));
        return NDIS_STATUS_PENDING;
      },
    });
    const w = new World({ seed: 1 });
    w.addDriver(drv);
    w.addDevice({ name: 'nic0', driver: 'restart-ticking' });
    w.at(0, { kind: 'start', device: 'nic0' });
    return w.run(1 * ns.s);
  };
  const stuck = run(null);
  assert.equal(stuck.verdict, 'ok');
  assert.deepEqual(
    stuck.warnings.map((x) => [x.rule, x.ddi, x.adapter]),
    [['R3.9', 'MiniportRestart', 'nic0']],
  );
  assert.match(
    stuck.warnings[0]!.message,
    /NdisMRestartComplete was not called, and nothing left to happen could complete it \(only periodic timers whose routines already ran since\)/,
  );
  // A one-shot timer due after the end would still complete it: work in flight.
  const late = run(5_000);
  assert.deepEqual(late.warnings, [], late.warnings.map((x) => x.message).join('\n'));
  assert.ok(
    late.pending.includes('nic0: restart pending (NdisMRestartComplete not called)'),
    late.pending.join('\n'),
  );
});
