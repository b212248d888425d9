// Shrinking a failure's scenario (src/explore/reduce.ts): what the failure does not
// need goes out of the YAML text, which keeps its comments and still validates.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scriptedDriver } from '../src/drivers/buggy/base.ts';
import { driverNames } from '../src/drivers/index.ts';
import { explore, GuidedStrategy, runOnce, shrink, shrinkHorizonNs } from '../src/explore/explore.ts';
import { durationText, reduceScenario, roundNumbersBetween, shrinkAndReduce } from '../src/explore/reduce.ts';
import {
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  type NET_BUFFER_LIST,
} from '../src/index.ts';
import { untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { FixedStrategy } from '../src/sim/choice.ts';
import { ns } from '../src/sim/limits.ts';
import { sleepsInReset } from './fixtures/sleeps-in-reset.ts';

// The failure (MiniportResetEx calling NdisMSleep at DISPATCH, R8.1) needs nic0 only;
// the rest is noise the reduction must take out, and `keep` is a comment it must keep.
const noisy = `# keep: this comment stays
until: 6s
ndis: { pauseWatchdog: 30s }
protocols: [{ name: tcpip, traffic: { rate: 100 } }]
devices:
  - { name: spare, driver: healthy-nic, faults: { linkDownAt: 1s } }
  - { name: nic0, driver: sleeps-in-reset, registry: { Unused: 1 } }
actions:
  - { at: 500ms, do: oid, device: spare, oid: OID_GEN_STATISTICS }
  - { at: 1500ms, do: disable, device: spare }
inject:
  - { do: sleep, within: 3s..4s, chance: 50%, for: 10ms }
`;

const drivers = [sleepsInReset];
const names = driverNames(drivers);
const file = 'reduce.test.yaml';

function setupOf(text: string) {
  const scenario = parseScenarioText(text, file, names);
  return { scenario, drivers, untilNs: untilNs(scenario), verifier: 'bugcheck' as const };
}

function firstFailing(setup: ReturnType<typeof setupOf>): number {
  const g = explore(setup, { firstSeed: 1, runs: 30, shrinkRuns: 0 }).groups[0];
  assert.ok(g !== undefined, 'no seed fails');
  return g.seeds[0]!;
}

test('reduceScenario: everything but the failing device goes; the text keeps its comment and still fails the same way', () => {
  const setup = setupOf(noisy);
  const seed = firstFailing(setup);
  const s = shrink(setup, seed, 500);
  const r = reduceScenario(
    setup,
    { text: noisy, file, driverNames: names },
    seed,
    s.decisions,
    s.outcome.key,
    500,
    s.outcome.endNs,
  );
  assert.deepEqual(
    [...r.removed].sort(),
    [
      'actions[0]',
      'actions[1]',
      'devices[0]',
      'devices[1].registry',
      'inject[0]',
      'ndis.pauseWatchdog',
      'protocols[0]',
    ].sort(),
  );
  assert.match(r.text, /^# keep: this comment stays\n/);
  assert.doesNotMatch(r.text, /spare|actions|inject|ndis|Unused|traffic/);
  // The cut scenario validates, and its own run fails as the original did.
  const cut = setupOf(r.text);
  assert.deepEqual(
    cut.scenario.devices.map((d) => d.name),
    ['nic0'],
  );
  const again = runOnce(cut, seed, { replay: r.decisions, strategy: new FixedStrategy([]) });
  assert.equal(again.outcome.signature, s.outcome.signature);
  // No protocol is not the same as the default one: the list stays, empty.
  assert.deepEqual(cut.scenario.protocols, []);
});

test('reduceScenario: what the failure needs stays: the device an expectation names and the action that upsets it', () => {
  // Seeds whose nic0 survives to 1.5 s fail the expectation, because of the disable.
  const text = `${noisy}expect:
  devices:
    spare: { status: started }
`;
  const setup = setupOf(text);
  const g = explore(setup, { firstSeed: 1, runs: 30, shrinkRuns: 0 }).groups.find(
    (x) => x.signature === 'expect devices.spare.status=disabled',
  );
  assert.ok(g !== undefined, 'no seed fails the expectation');
  const seed = g.seeds[0]!;
  const s = shrink(setup, seed, 500);
  const r = reduceScenario(
    setup,
    { text, file, driverNames: names },
    seed,
    s.decisions,
    g.signature,
    500,
    s.outcome.endNs,
  );
  // nic0 (devices[1]) goes; spare and its disable stay.
  assert.ok(r.removed.includes('devices[1]'), r.removed.join(', '));
  assert.ok(!r.removed.includes('devices[0]') && !r.removed.includes('actions[1]'), r.removed.join(', '));
  const cut = setupOf(r.text).scenario;
  assert.deepEqual(
    cut.devices.map((d) => d.name),
    ['spare'],
  );
  assert.deepEqual(
    cut.actions.map((a) => a.do),
    ['disable'],
  );
});

test('shrinkAndReduce: the group keeps its first seed and the original count, and its shrunk run is of the cut scenario', () => {
  const setup = setupOf(noisy);
  const report = explore(setup, { firstSeed: 1, runs: 20, shrinkRuns: 0 });
  shrinkAndReduce(setup, report, 500, { text: noisy, file, driverNames: names });
  const g = report.groups[0]!;
  assert.ok(g.reduced !== null && g.shrunk !== null);
  const cut = setupOf(g.reduced.text);
  const r = runOnce(cut, g.seeds[0]!, { replay: g.shrunk.decisions, strategy: new FixedStrategy([]) });
  assert.equal(r.outcome.signature, g.signature);
  // Without the scenario step nothing is cut.
  const plain = explore(setup, { firstSeed: 1, runs: 20, shrinkRuns: 0 });
  shrinkAndReduce(setup, plain, 500, null);
  assert.equal(plain.groups[0]!.reduced, null);
});

test('reduceScenario: a failure far into a long log is still found once traffic and a device are cut (the guide matches by instant)', () => {
  // With traffic, the reset at DISPATCH comes after about 1,200 other decisions; cut the
  // spare device and the protocol and it is the 26th: a guide that only looked a fixed
  // distance ahead lost it and kept both.
  const text = `until: 3s
protocols: [{ name: tcpip, traffic: { rate: 300 } }]
devices:
  - { name: spare, driver: healthy-nic }
  - { name: nic0, driver: sleeps-in-reset }
`;
  const setup = setupOf(text);
  const seed = firstFailing(setup);
  const s = shrink(setup, seed, 500);
  assert.ok(s.decisions.length > 1000, `${s.decisions.length} decisions`);
  const r = reduceScenario(
    setup,
    { text, file, driverNames: names },
    seed,
    s.decisions,
    s.outcome.key,
    500,
    s.outcome.endNs,
  );
  assert.deepEqual([...r.removed].sort(), ['devices[0]', 'protocols[0]']);
  assert.ok(r.decisions.length < 100, `${r.decisions.length} decisions after the cut`);
});

// A send handler that sleeps (NdisMSleep needs PASSIVE; sends come at DISPATCH, R8.1):
// the first frame fails, so traffic is needed but not its rate.
const sleepsInSend = scriptedDriver('sleeps-in-send', {
  send: () => {
    NdisMSleep(10);
  },
});

test('reduceScenario: values are lowered to the smallest round number that still fails the same way', () => {
  const text = `until: 30s
cpus: 4
protocols: [{ name: tcpip, traffic: { rate: 3000 } }]
devices:
  - { name: nic0, driver: sleeps-in-send }
`;
  const own = [sleepsInSend];
  const ownNames = driverNames(own);
  const scenario = parseScenarioText(text, file, ownNames);
  const setup = { scenario, drivers: own, untilNs: untilNs(scenario), verifier: 'bugcheck' as const };
  const first = runOnce(setup, 1, { record: true });
  assert.equal(first.outcome.kind, 'fail');
  const r = reduceScenario(
    setup,
    { text, file, driverNames: ownNames },
    1,
    first.world.decisions(),
    first.outcome.key,
    500,
    first.outcome.endNs,
  );
  assert.deepEqual(r.removed, []);
  // The first frame comes within a second of the binding at rate 1, so the run needs
  // a second or two, not thirty; one CPU is enough.
  assert.deepEqual(r.lowered, ['cpus: 4 → 1', 'protocols[0].traffic.rate: 3000 → 1', 'until: 30s → 2s']);
  assert.match(r.text, /^until: 2s\ncpus: 1\nprotocols: \[ \{ name: tcpip, traffic: \{ rate: 1 \} \} \]\n/);
  assert.equal(r.untilNs, 2 * ns.s);
  // The lowered scenario, run for its own length with the decisions found, fails the same way.
  const cut = parseScenarioText(r.text, file, ownNames);
  const again = runOnce({ ...setup, scenario: cut, untilNs: untilNs(cut) }, 1, {
    replay: r.decisions,
    strategy: new FixedStrategy([]),
  });
  assert.equal(again.outcome.signature, first.outcome.signature);
  // Each value is the smallest round one: a lower one does not fail in time.
  const lower = parseScenarioText(r.text.replace('until: 2s', 'until: 1s'), file, ownNames);
  assert.equal(runOnce({ ...setup, scenario: lower, untilNs: untilNs(lower) }, 1).outcome.kind, 'pass');
});

test("reduceScenario: the run's length stays when the explore's --until set it", () => {
  const text = `until: 30s
protocols: [{ name: tcpip, traffic: { rate: 3000 } }]
devices:
  - { name: nic0, driver: sleeps-in-send }
`;
  const own = [sleepsInSend];
  const ownNames = driverNames(own);
  const scenario = parseScenarioText(text, file, ownNames);
  const setup = { scenario, drivers: own, untilNs: 20 * ns.s, verifier: 'bugcheck' as const };
  const first = runOnce(setup, 1, { record: true });
  const r = reduceScenario(
    setup,
    { text, file, driverNames: ownNames },
    1,
    first.world.decisions(),
    first.outcome.key,
    500,
    first.outcome.endNs,
  );
  assert.deepEqual(r.lowered, ['protocols[0].traffic.rate: 3000 → 1']);
  assert.equal(r.untilNs, 20 * ns.s);
});

test('roundNumbersBetween and durationText: the values the reduction tries', () => {
  assert.deepEqual(roundNumbersBetween(1, 100), [1, 2, 5, 10, 20, 50]);
  assert.deepEqual(roundNumbersBetween(3, 21), [5, 10, 20]);
  assert.deepEqual(roundNumbersBetween(7, 7), []);
  assert.equal(durationText(2 * ns.s), '2s');
  assert.equal(durationText(500 * ns.ms), '500ms');
  assert.equal(durationText(50 * ns.us), '50us');
  assert.equal(durationText(7), '7ns');
});

/** Seed 1 of `text`, which fails with `signature`, and its scenario reduced (200 runs at most). */
function reduceSeed1(text: string, signature: string) {
  const setup = setupOf(text);
  const first = runOnce(setup, 1, { record: true });
  assert.equal(first.outcome.signature, signature);
  return reduceScenario(
    setup,
    { text, file, driverNames: names },
    1,
    first.world.decisions(),
    first.outcome.key,
    200,
    first.outcome.endNs,
  );
}

test('reduceScenario: an expectation missed keeps its cause, not only its field (a run without the disable misses it with another value); the disable comes down to 1 ms', () => {
  // The disable at 2 s leaves nic0 Halted, not the Paused the scenario asks for. A run cut
  // to before the disable, or without it, misses the same field with Running: the
  // signature holds the value found, so neither cut is taken.
  const text = `until: 5s
protocols: [{ name: tcpip }]
devices:
  - { name: nic0, driver: healthy-nic }
actions:
  - { at: 2s, do: disable, device: nic0 }
expect:
  adapters:
    nic0: { state: Paused }
`;
  const r = reduceSeed1(text, 'expect adapters.nic0.state=Halted');
  assert.ok(!r.removed.includes('actions[0]'), r.removed.join(', '));
  assert.equal(r.outcome.signature, 'expect adapters.nic0.state=Halted');
  // The disable itself may come earlier (a time is lowered like a count), and the run
  // still reaches it.
  assert.deepEqual(r.lowered, ['actions[0].at: 2s → 1ms', 'until: 5s → 2ms']);
  assert.deepEqual(
    r.scenario.actions.map((a) => [a.do, a.at]),
    [['disable', '1ms']],
  );
});

test('reduceScenario: a fault time comes down to the smallest round time that fails the same way', () => {
  // flaky-nic resets once its NIC hangs: any hang time gives the resets the expectation
  // forbids, the earliest round one too.
  const text = `until: 20s
devices:
  - { name: nic0, driver: flaky-nic, faults: { hangAt: 7300ms } }
expect:
  adapters:
    nic0: { resets: 0 }
`;
  const r = reduceSeed1(text, 'expect adapters.nic0.resets>0');
  assert.deepEqual(r.lowered, ['devices[0].faults.hangAt: 7300ms → 1ms']);
  assert.equal(r.scenario.devices[0]!.faults?.hangAt, '1ms');
});

test('shrinkAndReduce tells of each run with the group it shrinks, and of none when shrinking is off', () => {
  const setup = setupOf(noisy);
  const report = explore(setup, { firstSeed: 1, runs: 20, shrinkRuns: 0 });
  const seen: number[] = [];
  shrinkAndReduce(setup, report, 300, { text: noisy, file, driverNames: names }, (g) => seen.push(g));
  assert.ok(report.groups.length > 0);
  // Every group's runs, in group order; at least the shrinking's and the reduction's own.
  assert.deepEqual([...new Set(seen)], [...report.groups.keys()]);
  const g = report.groups[0]!;
  assert.ok(seen.filter((x) => x === 0).length >= g.shrunk!.runs + (g.reduced?.runs ?? 0));
  const none: number[] = [];
  shrinkAndReduce(setup, explore(setup, { firstSeed: 1, runs: 20, shrinkRuns: 0 }), 0, null, (x) =>
    none.push(x),
  );
  assert.deepEqual(none, []);
});

// A miniport wrong only early in a run and only under some schedules: one of its first
// ten sends made at PASSIVE (traffic sendIrql: explore) is completed twice. Sends after
// the 300th (about 0.3 s in) are counted in `lateSends`, to see how far runs go.
let lateSends = 0;
const earlyDouble = scriptedDriver('early-double', {
  send: (a, chain, _port, flags) => {
    const n = ((a.state.sends as number | undefined) ?? 0) + 1;
    a.state.sends = n;
    if (n > 300) lateSends++;
    for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
    NdisMSendNetBufferListsComplete(a.handle, chain, flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL);
    if (n <= 10 && (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) === 0)
      NdisMSendNetBufferListsComplete(a.handle, chain, 0);
  },
});

test('shrink: a failure early in a long run is shrunk with candidates that stop a little past it (shrinkHorizonNs), and the shrunk run fails the same way when run to the end', () => {
  assert.equal(shrinkHorizonNs(20 * ns.ms, 20 * ns.s), 140 * ns.ms);
  assert.equal(shrinkHorizonNs(19 * ns.s, 20 * ns.s), 20 * ns.s, 'never past the run');
  assert.equal(
    shrinkHorizonNs(20 * ns.s, 20 * ns.s),
    20 * ns.s,
    'a failure judged at the end keeps the whole run',
  );
  const own = [earlyDouble];
  const scenario = parseScenarioText(
    'until: 5s\nprotocols: [{ name: tcpip, traffic: { rate: 1000, sendIrql: explore } }]\ndevices: [{ name: nic0, driver: early-double }]\n',
    file,
    driverNames(own),
  );
  const setup = { scenario, drivers: own, untilNs: untilNs(scenario), verifier: 'bugcheck' as const };
  const g = explore(setup, { firstSeed: 1, runs: 20, shrinkRuns: 0 }).groups[0];
  assert.ok(g !== undefined, 'no seed fails');
  assert.ok(g.signature.includes('NdisSim_SendCompleteUnexpected'), g.signature);
  lateSends = 0;
  const s = shrink(setup, g.seeds[0]!, 500);
  assert.ok(s.runs > 3, `${s.runs} candidate runs`);
  // The seed's own run (the first of shrink's) fails within 20 ms: no candidate got to 0.3 s.
  assert.equal(lateSends, 0, 'candidates ran to the end of the 5 s run');
  const whole = runOnce(setup, g.seeds[0]!, { strategy: new GuidedStrategy(s.decisions) });
  assert.equal(whole.outcome.signature, g.signature);
  assert.equal(whole.outcome.endNs, s.outcome.endNs);
});
