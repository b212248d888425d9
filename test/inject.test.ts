// Injected events (scenario `inject:`, World.inject): whether and when a run gets each
// one is drawn through the choice door, so seeds vary it, a replay repeats it, and the
// explorer's shrinking takes out what a failure does not need.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pmnic } from '../examples/pmnic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { InputError, NdisSimUsageError } from '../src/errors.ts';
import { deviationHorizon, exploreSeeds, runOnce, shrink } from '../src/explore/explore.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { exploreScenario } from '../src/scenario.ts';
import { ChoiceSite, FixedStrategy } from '../src/sim/choice.ts';
import { ns } from '../src/sim/limits.ts';

const base = `
until: 3s
devices:
  - { name: nic0, driver: healthy-nic }
`;

function scenario(text: string) {
  return parseScenarioText(text, 'inject.test.yaml', driverNames());
}

function problems(text: string): string[] {
  try {
    scenario(text);
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    return e.problems;
  }
  assert.fail('no InputError');
}

test('inject: a surprise removal drawn at a time within its window, traced, and carried out', () => {
  const s = scenario(`${base}
inject:
  - { do: surprise-remove, device: nic0, within: 1s..2s, chance: 100% }
`);
  const seen = new Set<number>();
  for (let seed = 1; seed <= 6; seed++) {
    const w = buildWorld(s, { seed });
    const r = w.run(untilNs(s));
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.message}`);
    const drawn = w.trace.events.find((e) => e.what === 'inject surprise-remove');
    assert.ok(drawn !== undefined, `seed ${seed}: no inject event`);
    const done = w.trace.events.find((e) => e.kind === 'action' && e.what === 'surprise-remove');
    assert.ok(done !== undefined && done.t >= 1 * ns.s && done.t <= 2 * ns.s, `seed ${seed}: at ${done?.t}`);
    assert.equal(drawn.data?.at, `${(done.t / ns.s).toFixed(6)} s`);
    assert.equal(w.device('nic0').status, 'gone');
    seen.add(done.t);
  }
  assert.ok(seen.size > 3, `times drawn: ${[...seen].join(', ')}`);
});

test('inject: answer 0 of the draws is "not injected"; the chance sets how often seeds get it', () => {
  const s = scenario(`${base}
inject:
  - { do: vanish, device: nic0, within: 0s..2s, chance: 25% }
`);
  // The simplest schedule injects nothing.
  const w0 = buildWorld(s, { strategy: new FixedStrategy([]) });
  w0.run(untilNs(s));
  assert.equal(w0.device('nic0').status, 'started');
  assert.equal(
    w0.trace.events.some((e) => e.what.startsWith('inject')),
    false,
  );
  // Its first decision is the fire draw: a Fault question of 4 answers (25 % = 1/4).
  const d0 = w0.decisions()[0]!;
  assert.deepEqual([d0.site, d0.count, d0.pick], [ChoiceSite.Fault, 4, 0]);
  // Answer 3 (the top quarter) injects it, at the window's start with the time draw at 0.
  const w1 = buildWorld(s, { strategy: new FixedStrategy([3, 0]) });
  w1.run(untilNs(s));
  const inj = w1.trace.events.find((e) => e.what === 'inject vanish');
  assert.equal(inj?.data?.at, '0.000000 s');
  let got = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const w = buildWorld(s, { seed, trace: false });
    if (w.decisions()[0]!.pick === 3) got++;
  }
  assert.ok(got > 60 && got < 140, `${got} of 400 seeds injected at 25 %`);
});

test('inject: a SimNic link-down with `for` comes back up; without it, stays down', () => {
  const withFor = scenario(`${base}
inject:
  - { do: link-down, device: nic0, within: 1s..1s, chance: 100%, for: 200ms }
`);
  const w = buildWorld(withFor, { seed: 1 });
  w.run(untilNs(withFor));
  const notes = w.trace.events.filter((e) => e.kind === 'hw' && /link (down|up)/.test(e.what));
  assert.deepEqual(
    notes.map((e) => [e.what, e.t]),
    [
      ['link down', 1 * ns.s],
      ['link up', 1.2 * ns.s],
    ],
  );
  const forGood = scenario(`${base}
inject:
  - { do: link-down, device: nic0, within: 1s..1s, chance: 100% }
`);
  const w2 = buildWorld(forGood, { seed: 1 });
  w2.run(untilNs(forGood));
  assert.deepEqual(
    w2.trace.events.filter((e) => e.kind === 'hw' && /link (down|up)/.test(e.what)).map((e) => e.what),
    ['link down'],
  );
});

test('inject: the explorer shrinks away the injections a failure does not need', () => {
  // The expectation fails only when the device is disabled; the other two injections
  // are noise the shrunk run must not keep.
  const text = `${base}
inject:
  - { do: link-down, device: nic0, within: 0s..2s, chance: 50%, for: 10ms }
  - { do: disable, device: nic0, within: 0s..2s, chance: 50% }
  - { do: sleep, within: 0s..2s, chance: 50%, for: 100ms }
expect:
  devices:
    nic0: { status: started }
`;
  const setup = { scenario: scenario(text), drivers: [], untilNs: 3 * ns.s, verifier: 'bugcheck' as const };
  let seed = 1;
  for (; seed < 200; seed++) {
    const r = runOnce(setup, seed, { record: true });
    // A failing seed that also drew the link-down and the sleep: each injection drawn
    // takes two Fault answers (whether, when), each not drawn one.
    const faults = r.world.decisions().filter((x) => x.site === ChoiceSite.Fault).length;
    if (r.outcome.kind === 'fail' && faults === 6) break;
  }
  assert.ok(seed < 200, 'no seed drew all three');
  const s = shrink(setup, seed, 500);
  assert.equal(s.outcome.signature, 'expect devices.nic0.status=disabled');
  const faultAnswers = s.decisions.filter((d) => d.site === ChoiceSite.Fault && d.pick !== 0);
  // Only the disable's fire draw is left (its time went to the window's start).
  assert.equal(faultAnswers.length, 1, JSON.stringify(s.decisions));
  assert.equal(s.decisions.filter((d) => d.pick !== 0).length, 1);
});

test('inject: bad entries are one line each, with the field, in the order of the file', () => {
  assert.deepEqual(
    problems(`${base}
inject:
  - { do: explode, device: nic0, within: 0s..1s }
  - { do: hang, within: 0s..1s }
  - { do: sleep, device: nic0, within: 0s..1s }
  - { do: vanish, device: nic9, within: 1s..0s }
  - { do: remove, device: nic0, within: 0s..1s, for: 1s, state: S4 }
`),
    [
      'inject.test.yaml: inject[0].do: expected one of surprise-remove, remove, disable, stop, sleep, hang, vanish, link-down, wake-signal, frame, got "explode"',
      'inject.test.yaml: inject[1].device: expected the device "hang" acts on, got nothing',
      'inject.test.yaml: inject[2].device: expected no device for "sleep", got "nic0"',
      'inject.test.yaml: inject[3].device: expected one of the devices (nic0), got "nic9"; did you mean nic0?',
      'inject.test.yaml: inject[3].within: expected a range of durations such as "1s..3s" (low first), got "1s..0s"',
      'inject.test.yaml: inject[4].for: expected for only with sleep or link-down, got it with "remove"',
      'inject.test.yaml: inject[4].state: expected state only with sleep, got it with "remove"',
    ],
  );
  assert.deepEqual(
    problems(`
devices:
  - { name: v0, driver: vmini, hardware: none }
inject:
  - { do: hang, device: v0, within: 0s..1s }
`),
    [
      'inject.test.yaml: inject[0].device: expected a device with a SimNic for "hang", got "v0" (hardware: none)',
    ],
  );
});

test('World.inject: a wrong window, chance or device is a usage error', () => {
  const w = buildWorld(scenario(base), { seed: 1 });
  const event = { kind: 'hang', device: 'nic0' } as const;
  const half = { num: 1, den: 2 };
  assert.throws(() => w.inject({ event, fromNs: 5, toNs: 1, chance: half }), NdisSimUsageError);
  assert.throws(() => w.inject({ event, fromNs: 0, toNs: 1, chance: { num: 3, den: 2 } }), /chance/);
  assert.throws(
    () => w.inject({ event: { kind: 'hang', device: 'nic7' }, fromNs: 0, toNs: 1, chance: half }),
    /nic7/,
  );
});

test('explore counts the situations runs reached: each removal with the adapter state it came in (R5.8, R5.11)', () => {
  // The reset storm gives up with NdisMRemoveMiniport while its last reset is pending, and
  // NDIS surprise-removes the failed device; an injected removal of a healthy NIC comes
  // in Running, in the runs whose draw says so.
  const storm = parseScenarioText(
    readFileSync('examples/reset-storm.yaml', 'utf8'),
    'reset-storm.yaml',
    driverNames(),
  );
  const r = exploreSeeds(
    { scenario: storm, drivers: [], untilNs: untilNs(storm), verifier: 'bugcheck' },
    1,
    20,
  );
  assert.deepEqual(r.situations, [
    { what: 'MiniportHaltEx in Paused, surprise-removed, device failed', runs: 20, firstSeed: 1 },
    { what: 'MiniportPause in Running, surprise-removed, device failed', runs: 20, firstSeed: 1 },
    { what: 'MiniportResetEx in Running', runs: 20, firstSeed: 1 },
    { what: 'NdisMRemoveMiniport in Running, reset pending', runs: 20, firstSeed: 1 },
    { what: 'surprise removal in Running, device failed', runs: 20, firstSeed: 1 },
  ]);
  const s = scenario(`${base}
inject:
  - { do: surprise-remove, device: nic0, within: 1s..2s, chance: 50% }
`);
  const inj = exploreSeeds({ scenario: s, drivers: [], untilNs: untilNs(s), verifier: 'bugcheck' }, 1, 40);
  const removals = inj.situations.filter((t) => t.what.startsWith('surprise removal'));
  assert.equal(removals.length, 1);
  const x = removals[0]!;
  // A system sleep and a selective suspend are situations too (the power trial could not
  // tell whether its seeds reached them).
  const sleep = scenario(`${base}
actions:
  - { at: 1s, do: sleep, state: S3, for: 100ms }
`);
  const slept = exploreSeeds(
    { scenario: sleep, drivers: [], untilNs: untilNs(sleep), verifier: 'bugcheck' },
    1,
    5,
  );
  assert.deepEqual(
    slept.situations.map((t) => [t.what, t.runs]),
    [
      // healthy-nic is not power-management aware: halted for the sleep (R2.11), which
      // the pause and the halt say is under way.
      ['MiniportHaltEx in Paused, system sleep under way', 5],
      ['MiniportPause in Running, system sleep under way', 5],
      ['system sleep in Running', 5],
    ],
  );
  assert.equal(x.what, 'surprise removal in Running');
  assert.ok(x.runs > 8 && x.runs < 32, `${x.runs} of 40`);
  // The first seed that got it did; the one before it (if any) did not.
  const w = buildWorld(s, { seed: x.firstSeed, trace: false, situations: true });
  w.run(untilNs(s));
  assert.equal(w.situations().get('surprise removal in Running'), 1);
  // A world notes none unless asked to: a run outside the explorer pays nothing.
  const off = buildWorld(s, { seed: x.firstSeed, trace: false });
  off.run(untilNs(s));
  assert.equal(off.situations().size, 0);
  assert.equal(off.device('nic0').status, w.device('nic0').status);
  if (x.firstSeed > 1) {
    const before = buildWorld(s, { seed: x.firstSeed - 1, trace: false, situations: true });
    before.run(untilNs(s));
    assert.equal(before.situations().size, 0);
  }
});

test('why the README sends inject: scenarios to the random strategy: the simplest schedule draws no injection, so 40 deviation seeds (depth 2) reach no injected removal where 40 random seeds reach several', () => {
  const s = scenario(`
until: 10s
protocols:
  - name: tcpip
    traffic: { rate: 200 }
devices:
  - { name: nic0, driver: healthy-nic, wire: { rxRate: 200 } }
inject:
  - { do: surprise-remove, device: nic0, within: 1s..8s, chance: 50% }
`);
  const setup = { scenario: s, drivers: [], untilNs: untilNs(s), verifier: 'bugcheck' as const };
  const horizon = deviationHorizon(setup);
  assert.ok(horizon > 5000, `${horizon} choices in the simplest run`);
  const random = exploreSeeds(setup, 1, 40);
  const deviations = exploreSeeds({ ...setup, strategy: { kind: 'deviations', depth: 2, horizon } }, 1, 40);
  assert.ok((random.situations[0]?.runs ?? 0) >= 5, JSON.stringify(random.situations));
  assert.deepEqual(deviations.situations, []);
  assert.match(
    readFileSync('README.md', 'utf8'),
    /For a scenario with `inject:`, use\s+random only: the simplest schedule draws no injected event/,
  );
});

/**
 * pmnic sleeps at 1 s for 1 s; the system is asleep (nic0 in D3, its wake-up filters
 * armed) a little under half a millisecond later, when exactly depends on the seed's
 * schedule. An injected magic packet drawn within 1 s..1.001 s comes before D3 in some
 * seeds (received, or dropped once the NIC has stopped receiving) and in D3 in others,
 * where it matches the magic-packet filter and wakes the system early.
 */
const wakeRace = `
until: 3s
devices:
  - { name: nic0, driver: pmnic }
actions:
  - { at: 1s, do: sleep, state: S3, for: 1s }
inject:
  - { do: frame, device: nic0, magic: '02:50:4d:00:00:01', within: 1s..1001ms, chance: 100% }
`;

test('inject frame: a magic packet drawn around the moment the NIC enters D3 wakes the system in some seeds and not in others (low-power-for-wake-on-lan, R5.8)', () => {
  const s = parseScenarioText(wakeRace, 'wake-race.yaml', [...driverNames(), pmnic.name]);
  const setup = { scenario: s, drivers: [pmnic], untilNs: untilNs(s), verifier: 'bugcheck' as const };
  const outcomes = new Map<string, number>();
  for (let seed = 1; seed <= 12; seed++) {
    const r = runOnce(setup, seed, { record: true, trace: true });
    assert.equal(r.result.verdict, 'ok', `seed ${seed}: ${r.result.message}`);
    const ev = r.world.trace.events;
    const frame = ev.find((e) => e.kind === 'action' && e.what === 'frame');
    assert.ok(
      frame !== undefined && frame.t >= 1 * ns.s && frame.t <= 1.001 * ns.s,
      `seed ${seed}: ${frame?.t}`,
    );
    // The explorer's note on the draw names the kind, the device and the time.
    const note = r.world.decisions().find((d) => d.note?.startsWith('inject frame nic0 at'))?.note;
    assert.equal(note, `inject frame nic0 at ${(frame.t / ns.s).toFixed(6)} s`);
    const wake = ev.find((e) => e.what === 'wake')!;
    const woke = frame.data?.got === 'woke the NIC: magic packet (MAG)';
    // Woken by the frame: at once and by nic0; else the sleep runs its second.
    assert.deepEqual(
      [wake.t, wake.data?.by],
      woke ? [frame.t, 'nic0'] : [2 * ns.s, undefined],
      `seed ${seed}`,
    );
    assert.equal(r.world.nic('nic0').wakes, woke ? 1 : 0);
    const k = woke ? 'woke' : String(frame.data?.got);
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  }
  assert.ok((outcomes.get('woke') ?? 0) > 0, JSON.stringify([...outcomes]));
  assert.ok(outcomes.size > 1 && (outcomes.get('woke') ?? 0) < 12, JSON.stringify([...outcomes]));
});

test('explore: seeds whose injected magic packet wakes the system fail `wakes: 0`; the shrunk failure keeps the frame, its note and entry in the replay file; the other injection is dropped', async () => {
  const text = `${wakeRace.replace('chance: 100%', 'chance: 50%')}  - { do: link-down, device: nic0, within: 2500ms..2600ms, for: 10ms }
expect:
  devices:
    nic0: { wakes: 0 }
`;
  const r = await exploreScenario('wake-race.yaml', { text, drivers: [pmnic], runs: 30, shrinkRuns: 300 });
  assert.equal(r.failures.length, 1, r.text);
  const f = r.failures[0]!;
  assert.equal(f.signature, 'expect devices.nic0.wakes>0');
  assert.ok(f.seeds.length > 1 && f.seeds.length < 20, `${f.seeds.length} of 30 seeds woke`);
  // Of the draws only the frame's "yes" is left: the link-down's went, and the frame's
  // time went to its window's start once the scenario's reduction moved the sleep early
  // (it is then asleep at 1 s, and the frame wakes it).
  assert.deepEqual(
    f.shrunk!.choices.map((c) => [c.site, c.note]),
    [['Fault', 'inject frame nic0: yes']],
    r.text,
  );
  assert.match(r.text, /took out inject\[1\]/);
  const replayed = String(JSON.parse(f.replayText).scenario.text);
  assert.match(replayed, /do: frame,\s+device: nic0,\s+magic: '02:50:4d:00:00:01',\s+within: 1s..1001ms/);
  assert.doesNotMatch(replayed, /link-down/, 'the scenario was shrunk too');
});

test('inject wake-signal: a device armed for wake signals during the sleep and the system wakes at once (R5.8)', () => {
  const s = parseScenarioText(
    `
until: 3s
devices:
  - { name: nic0, driver: pmnic }
actions:
  - { at: 1s, do: sleep, state: S3, for: 1s }
inject:
  - { do: wake-signal, device: nic0, within: 1500ms..1500ms, chance: 100% }
`,
    'wake-signal.yaml',
    [...driverNames(), pmnic.name],
  );
  const w = buildWorld(s, { seed: 1, drivers: [pmnic] });
  w.run(untilNs(s));
  const wake = w.trace.events.find((e) => e.what === 'wake')!;
  assert.deepEqual([wake.t, wake.data?.by], [1.5 * ns.s, 'nic0']);
  assert.equal(w.nic('nic0').wakes, 1);
});

test('inject frame and wake-signal: bad entries, each with its field, as the frame action reports them', () => {
  assert.deepEqual(
    problems(`${base}
inject:
  - { do: wake-signal, within: 0s..1s }
  - { do: frame, within: 0s..1s, magic: '02:50:4d:00:00:01' }
  - { do: frame, device: nic0, within: 0s..1s, magic: '02:50:4d:00:00:01', data: [1, 2] }
  - { do: frame, device: nic0, within: 0s..1s }
  - { do: frame, device: nic0, within: 0s..1s, data: [1, 2, 3] }
  - { do: frame, device: nic0, within: 0s..1s, magic: '02:50:4d' }
  - { do: sleep, within: 0s..1s, magic: '02:50:4d:00:00:01' }
  - { do: wake-signal, device: nic0, within: 0s..1s, data: [1] }
`),
    [
      'inject.test.yaml: inject[0].device: expected the device "wake-signal" acts on, got nothing',
      'inject.test.yaml: inject[1].device: expected the device "frame" acts on, got nothing',
      'inject.test.yaml: inject[2].data: expected one of magic (a magic packet for a station address) or data (the frame\'s bytes) for "frame", got both',
      'inject.test.yaml: inject[3].magic: expected one of magic (a magic packet for a station address) or data (the frame\'s bytes) for "frame", got neither',
      'inject.test.yaml: inject[4].data: expected an Ethernet frame of 14 to 1514 bytes (destination, source, type, payload) for "frame", got 3 bytes',
      'inject.test.yaml: inject[5].magic: expected a station address such as "02:50:4d:00:00:01", got "02:50:4d"',
      'inject.test.yaml: inject[6].magic: expected magic only with frame, got it with "sleep"',
      'inject.test.yaml: inject[7].data: expected data only with frame, got it with "wake-signal"',
    ],
  );
  assert.deepEqual(
    problems(`
devices:
  - { name: v0, driver: vmini, hardware: none }
inject:
  - { do: frame, device: v0, within: 0s..1s, magic: '02:50:4d:00:00:01' }
`),
    [
      'inject.test.yaml: inject[0].device: expected a device with a SimNic for "frame", got "v0" (hardware: none)',
    ],
  );
  // `ndis-sim explore` says so, file and field first, and exits 2.
  const dir = mkdtempSync(join(tmpdir(), 'inject-frame-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `${base}inject:\n  - { do: frame, device: nic0, within: 0s..1s, magic: '02:50:4d:00:00:01', data: [1, 2] }\n`,
    );
    const r = spawnSync(process.execPath, ['bin/ndis-sim.js', 'explore', file, '--runs', '2'], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `${file}: inject[0].data: expected one of magic (a magic packet for a station address) or data (the frame's bytes) for "frame", got both`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inject wake-signal: drawn before or during a selective suspend, it does nothing or makes NDIS cancel the idle notification (MiniportCancelIdleNotification, R5.8)', () => {
  const s = parseScenarioText(
    `
until: 5s
devices:
  - { name: nic0, driver: pmnic, registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 2 } }
inject:
  - { do: wake-signal, device: nic0, within: 0s..4s, chance: 100% }
`,
    'ss-wake.yaml',
    [...driverNames(), pmnic.name],
  );
  let before = 0;
  let during = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const w = buildWorld(s, { seed, drivers: [pmnic] });
    const r = w.run(untilNs(s));
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.message}`);
    const ev = w.trace.events;
    const signal = ev.find((e) => e.kind === 'action' && e.what === 'wake-signal')!;
    // The idle timeout (2 s) puts the idle adapter into selective suspend a little after 2 s.
    const idle = ev.find((e) => e.what === 'MiniportIdleNotification')!;
    const cancel = ev.find((e) => e.what === 'MiniportCancelIdleNotification');
    if (signal.t < idle.t) {
      before++;
      assert.equal(cancel, undefined, `seed ${seed}: a signal at ${signal.t} before the suspend`);
    } else {
      during++;
      assert.ok(
        cancel !== undefined && cancel.t - signal.t < 1 * ns.ms,
        `seed ${seed}: ${cancel?.t} after ${signal.t}`,
      );
    }
  }
  assert.ok(before > 0 && during > 0, `${before} before, ${during} during`);
});
