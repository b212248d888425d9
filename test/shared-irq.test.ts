// SimNic fault sharedIrqEvery: another device on the NIC's interrupt line interrupts, so
// NDIS calls MiniportInterrupt for interrupts the NIC did not raise, also after the NIC
// vanished (MINIPORT_ISR; "Handling interrupts": NDIS calls the ISR when the NIC or a
// device sharing its line interrupts, and the ISR returns FALSE when its NIC did not).
// An ISR that claims such an interrupt is warned of (MINIPORT_ISR), once per adapter.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** nic0 on a quiet wire (the NIC raises nothing of its own after start-up) with `faults`. */
function sharedWorld(hooks: Hooks, faults: object) {
  const drv = scriptedDriver('shared-irq-nic', hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name, faults }],
    options: { trace: true },
  });
  const r = w.run(2 * ns.s);
  const isrAt = w.trace.events
    .filter((e) => e.kind === 'call' && e.what === 'MiniportInterrupt')
    .map((e) => e.t);
  return { w, r, drv, isrAt };
}

const isrWarnings = (r: { warnings: { rule: string; message: string }[] }) =>
  r.warnings.filter((x) => x.rule === 'MINIPORT_ISR');

test('MINIPORT_ISR sharedIrqEvery: the ISR runs for interrupts of the other device on the line, and one that checks its causes returns FALSE: no warning', () => {
  const quiet = sharedWorld({}, {});
  const shared = sharedWorld({}, { sharedIrqEveryNs: 100 * ns.ms });
  assert.equal(shared.r.verdict, 'ok', shared.r.violations.map((v) => v.message).join('; '));
  // About one call per 100 ms besides the NIC's own start-up interrupts.
  assert.ok(
    shared.isrAt.length >= quiet.isrAt.length + 15,
    `${quiet.isrAt.length} vs ${shared.isrAt.length}`,
  );
  assert.deepEqual(isrWarnings(shared.r), []);
});

test('MINIPORT_ISR sharedIrqEvery: an ISR that claims every interrupt is warned of once: its NIC had no cause latched', () => {
  const { r } = sharedWorld({ isrClaims: () => true }, { sharedIrqEveryNs: 100 * ns.ms });
  const w = isrWarnings(r);
  assert.equal(w.length, 1, JSON.stringify(r.warnings));
  assert.match(
    w[0]!.message,
    /returned TRUE .* no unmasked cause latched \(another device on the shared line interrupted\)/,
  );
});

test('MINIPORT_ISR sharedIrqEvery after vanishAt: the ISR still runs, reads all ones; returning FALSE passes, claiming it is warned of', () => {
  const faults = { sharedIrqEveryNs: 100 * ns.ms, vanishAtNs: 1 * ns.s };
  const good = sharedWorld({}, faults);
  assert.ok(
    good.isrAt.some((t) => t > 1 * ns.s),
    'no ISR after the NIC vanished',
  );
  assert.deepEqual(isrWarnings(good.r), []);
  // Claims only what reads all ones (irq-isr-claims-ones of the review).
  const bad = sharedWorld({ isrClaims: (_a, causes) => causes !== 0 }, faults);
  const w = isrWarnings(bad.r);
  assert.equal(w.length, 1, JSON.stringify(bad.r.warnings));
  assert.match(w[0]!.message, /its registers read all ones/);
});

test('MINIPORT_ISR: a scenario takes sharedIrqEvery as a duration and refuses 0', () => {
  const yaml = (v: string) =>
    `devices:\n  - { name: nic0, driver: healthy-nic, faults: { sharedIrqEvery: ${v} } }\n`;
  parseScenarioText(yaml('5ms'), 'ok.yaml', driverNames());
  assert.throws(
    () => parseScenarioText(yaml('0s'), 'zero.yaml', driverNames()),
    /longer than 0 for sharedIrqEvery/,
  );
});
