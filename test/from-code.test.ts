// Scenario files and the built-in drivers from code (README "Using it from code"):
// scenarioWorld builds the machine `ndis-sim run` builds, and the reference drivers
// are exported by the names scenarios give them.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { eventQueue } from '../examples/event-queue.ts';
import { slowPauseNic } from '../examples/own-driver.ts';
import { InputError, ns, World } from '../src/index.ts';
import { toJsonLines } from '../src/report/jsonl.ts';
import { flakyNic, healthyNic, scenarioWorld, vmini } from '../src/scenario.ts';
import { cli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-from-code-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('scenarioWorld: the reset storm from code traces what `ndis-sim run --trace` writes, byte for byte, and meets its expect:', () => {
  const s = scenarioWorld('examples/reset-storm.yaml');
  const { result, expectation } = s.run();
  assert.equal(result.verdict, 'ok');
  assert.deepEqual(expectation, { met: true, problems: [], signatures: [] });
  assert.equal(s.world.device('nic0').problem, 43);
  const file = join(dir, 'storm.jsonl');
  assert.equal(cli('run', 'examples/reset-storm.yaml', '--trace', file, '--quiet').status, 0);
  assert.equal(toJsonLines(s.world.trace.events), readFileSync(file, 'utf8'));
});

test('scenarioWorld: your drivers beside the built-in ones, a seed of your own, and an expect: missed is reported, not thrown', () => {
  const own = scenarioWorld('examples/own-driver.yaml', { drivers: [slowPauseNic], seed: 7 });
  assert.equal(own.run().expectation?.met, true);
  const missed = scenarioWorld('missed.yaml', {
    text: 'until: 2s\ndevices: [{ name: nic0, driver: healthy-nic }]\nexpect: { devices: { nic0: { problem: 43 } } }\n',
    trace: false,
  });
  assert.deepEqual(missed.run().expectation, {
    met: false,
    problems: ['devices.nic0.problem: expected Code 43, got Code 0'],
    signatures: ['devices.nic0.problem=0'],
  });
});

test('scenarioWorld: bad input throws an InputError with a line per problem: file, field, expected, got', () => {
  assert.throws(
    () => scenarioWorld('bad.yaml', { text: 'until: soon\ndevices: [{ name: nic0, driver: own-nic }]\n' }),
    (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.problems.join('\n'), /^bad\.yaml: until: expected a duration .*, got "soon"$/m);
      assert.match(
        e.problems.join('\n'),
        /^bad\.yaml: devices\[0\]\.driver: expected one of .*, got "own-nic"/m,
      );
      return true;
    },
  );
  assert.throws(() => scenarioWorld(join(dir, 'none.yaml')), InputError);
});

test("scenarioWorld: an ioctl's code name no driver gives is an InputError with the file's other problems, in file order, as the command reports it (not an error once the world is built)", () => {
  const f = 'test/fixtures/bad-ioctl-name-and-more.yaml';
  assert.throws(
    () => scenarioWorld(f, { drivers: [eventQueue] }),
    (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.deepEqual(
        e.problems,
        cli('run', f, '--driver', 'examples/event-queue.ts').stderr.trimEnd().split('\n'),
      );
      assert.equal(e.problems.filter((p) => /actions\[\d\]\.code: /.test(p)).length, 2);
      return true;
    },
  );
  // A name alone: the same InputError, from the text.
  const text = readFileSync('test/fixtures/bad-ioctl-name.yaml', 'utf8');
  assert.throws(
    () => scenarioWorld('b.yaml', { text, drivers: [eventQueue] }),
    (e: unknown) =>
      e instanceof InputError &&
      e.problems.length === 1 &&
      e.problems[0]!.startsWith('b.yaml: actions[1].code: expected an I/O control code'),
  );
});

test('scenarioWorld on a scenario whose driverModules: the command loads: a driver not passed in drivers is bad input that says to pass it', () => {
  assert.throws(
    () => scenarioWorld('examples/own-driver.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.deepEqual(e.problems.slice(1), [
        'examples/own-driver.yaml: driverModules: scenarioWorld loads no modules (own-driver.ts): import the drivers they export and pass them in its drivers option',
      ]);
      assert.match(e.problems[0]!, /devices\[0\]\.driver: .*got "slow-pause-nic"/);
      return true;
    },
  );
  // Without driverModules: the schema's line alone; with the driver passed: no error.
  assert.throws(
    () => scenarioWorld('x.yaml', { text: 'devices: [{ name: n, driver: own-nic }]\n' }),
    (e: unknown) => e instanceof InputError && e.problems.length === 1,
  );
  assert.equal(
    scenarioWorld('examples/own-driver.yaml', { drivers: [slowPauseNic] }).scenario.devices.length,
    1,
  );
});

test('examples/own-driver.ts, the driver to start from, runs its scenario without a warning: after SurpriseRemoved its OIDs fail with NOT_ACCEPTED (R5.7)', () => {
  const own = scenarioWorld('examples/own-driver.yaml', { drivers: [slowPauseNic] });
  const { result, expectation } = own.run();
  assert.equal(expectation?.met, true);
  assert.deepEqual(result.warnings, []);
  // The tcpip unbind's OIDs came after the notification, and got NOT_ACCEPTED.
  const late = own.world.trace.events.filter(
    (e) =>
      e.kind === 'return' && e.what === 'MiniportOidRequest' && e.data?.result === 'NDIS_STATUS_NOT_ACCEPTED',
  );
  assert.ok(late.length > 0);
});

test("the reference drivers are exported under their scenario names, for a World built by hand; 'ndis-sim/scenario' is the package's", async () => {
  const viaPackage = await import('ndis-sim/scenario');
  assert.equal(viaPackage.scenarioWorld, scenarioWorld);
  assert.equal(viaPackage.vmini, vmini);
  assert.deepEqual(
    [healthyNic, flakyNic, vmini, viaPackage.echoProto].map((d) => d.name),
    ['healthy-nic', 'flaky-nic', 'vmini', 'echo-proto'],
  );
  const w = new World({ seed: 1 });
  w.addDriver(vmini);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'vm0', driver: 'vmini', hardware: 'none' });
  w.at(0, { kind: 'start', device: 'vm0' });
  assert.equal(w.run(ns.s).verdict, 'ok');
  assert.equal(w.summary().adapters[0]!.state, 'Running');
});

test('durations carry their unit: a bare number but 0 is bad input naming the field; an oid timeout (NDIS_OID_REQUEST.Timeout, R6.4) takes whole seconds as 5 or "5s"', () => {
  const problems = (text: string): string[] => {
    try {
      scenarioWorld('units.yaml', { text, trace: false });
    } catch (e) {
      assert.ok(e instanceof InputError);
      return e.problems;
    }
    return [];
  };
  const unit = 'expected a duration with a unit such as 30s or 500ms (ns, us, ms, s, min, h)';
  assert.deepEqual(
    problems(
      'until: 5\ndevices: [{ name: nic0, driver: flaky-nic, faults: { hangAt: 2 } }]\nactions:\n  - { at: 0, do: sleep, for: 2 }\n',
    ),
    [
      `units.yaml: until: ${unit}, got 5`,
      `units.yaml: devices[0].faults.hangAt: ${unit}, got 2`,
      `units.yaml: actions[0].for: ${unit}, got 2`,
    ],
  );
  // 0 needs no unit; units as before.
  assert.deepEqual(
    problems('until: 2s\ndevices: [{ name: nic0, driver: flaky-nic, faults: { hangAt: 0 } }]\n'),
    [],
  );
  // The timeout mirrors the structure's ULONG of seconds: the integer, or whole seconds.
  const oid = (timeout: string): string =>
    `until: 2s\ndevices: [{ name: nic0, driver: healthy-nic }]\nactions:\n  - { at: 1s, do: oid, device: nic0, oid: OID_GEN_STATISTICS, timeout: ${timeout} }\n`;
  assert.deepEqual(problems(oid('1500ms')), [
    'units.yaml: actions[0].timeout: expected NDIS_OID_REQUEST.Timeout in whole seconds: an integer such as 5 or a duration of whole seconds such as "5s" (0: no timeout), got "1500ms"',
  ]);
  const given: number[] = [];
  const at = World.prototype.at;
  World.prototype.at = function (this: World, t, action) {
    if (action.kind === 'oid') given.push(action.timeoutS);
    return at.call(this, t, action);
  };
  try {
    for (const t of ['5', '5s', '2min', '0']) scenarioWorld('units.yaml', { text: oid(t), trace: false });
  } finally {
    World.prototype.at = at;
  }
  assert.deepEqual(given, [5, 5, 120, 0]);
});

test('T9 scenarioWorld names its own option, not a CLI flag: a driver missing from `drivers` says "passed in drivers: [...]"; a driver object whose name is taken is drivers[i] (T8: World.addDriver refuses a name twice)', () => {
  const problems = (f: () => unknown): string[] => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof InputError, String(e));
      return e.problems;
    }
    return [];
  };
  const text = 'until: 1s\ndevices: [{ name: nic0, driver: my-nic }]\n';
  assert.deepEqual(
    problems(() => scenarioWorld('x.yaml', { text })),
    [
      'x.yaml: devices[0].driver: expected one of the drivers `ndis-sim drivers` lists (or your own, passed in drivers: [...]), got "my-nic"',
    ],
  );
  // A driver of the same name as a built-in one, or as one given before it.
  const mine = { ...flakyNic, name: 'my-nic' };
  assert.deepEqual(
    problems(() => scenarioWorld('x.yaml', { text, drivers: [{ ...flakyNic, name: 'healthy-nic' }, mine] })),
    ["drivers[0]: driver name 'healthy-nic' is taken by a built-in driver"],
  );
  assert.deepEqual(
    problems(() => scenarioWorld('x.yaml', { text, drivers: [mine, { ...healthyNic, name: 'my-nic' }] })),
    ["drivers[1]: driver name 'my-nic' is taken by drivers[0]"],
  );
  // The same module twice, or a built-in driver given itself, is one driver.
  const healthy =
    'until: 1s\ndevices: [{ name: nic0, driver: healthy-nic }, { name: nic1, driver: my-nic }]\n';
  const w = scenarioWorld('x.yaml', { text: healthy, drivers: [healthyNic, mine, mine], trace: false });
  assert.equal(w.run().result.verdict, 'ok');
  assert.equal(w.world.ndis.modules.get('healthy-nic'), healthyNic);
});
