// The World API used wrongly is the user's mistake, not a bug of ndis-sim: each case is
// an NdisSimUsageError that names the call, what it expected and what it got, never
// an "internal error" (exit 3 in the CLI).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lifecycleNic } from '../bench/lifecycle-driver.ts';
import { scriptedDriver } from '../src/drivers/buggy/base.ts';
import { flakyNic } from '../src/drivers/flaky-nic.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { NdisSimUsageError } from '../src/errors.ts';
import { trafficDefaults } from '../src/index.ts';
import { buildWorld } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { World } from '../src/world.ts';
import { ns } from './helpers/world.ts';

function usage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof NdisSimUsageError, `an NdisSimUsageError, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

test('new World checks cpus (a whole number from 1 to 64) and seed (a whole number from 0)', () => {
  usage(() => new World({ cpus: 0 }), /^new World: cpus must be a whole number from 1 to 64, got 0$/);
  usage(() => new World({ cpus: 65 }), /got 65$/);
  usage(() => new World({ cpus: 1.5 }), /got 1\.5$/);
  usage(() => new World({ seed: -1 }), /^new World: seed must be a whole number from 0 up, got -1$/);
  assert.equal(new World({ cpus: 64 }).kernel.cpuCount, 64);
});

test('addDevice refuses a second device of the same name and a driver that was not added', () => {
  const w = new World();
  w.addDriver(lifecycleNic);
  w.addDevice({ name: 'nic0', driver: 'lifecycle-nic' });
  usage(
    () => w.addDevice({ name: 'nic0', driver: 'lifecycle-nic' }),
    /a device named 'nic0' was added already/,
  );
  usage(
    () => w.addDevice({ name: 'nic1', driver: 'lifecycle-nik' }),
    /device 'nic1' names driver 'lifecycle-nik', which was not added \(call addDriver first\); added: lifecycle-nic$/,
  );
});

test('addDevice refuses an unknown fault or wire key with a did-you-mean, a scenario-file name with its code name, and a value of the wrong kind (README: a wrong call throws NdisSimUsageError)', () => {
  const w = new World();
  w.addDriver(lifecycleNic);
  const add = (extra: object) => () =>
    w.addDevice({ name: 'nic0', driver: 'lifecycle-nic', ...extra } as never);
  usage(
    add({ faults: { hangAtNs: 1.5e9, rehangAfterResetNs: 5 } }),
    /^World\.addDevice: device 'nic0' faults: unknown field "rehangAfterResetNs"; did you mean rehangAfterReset\? \(known: hangAtNs, /,
  );
  usage(
    add({ faults: { hangAt: '1.5s' } }),
    /faults: unknown field "hangAt" \(the scenario file's name, a duration there\); in code it is hangAtNs, in nanoseconds/,
  );
  usage(add({ faults: { resetTime: 5 } }), /unknown field "resetTime" .*in code it is resetNs/);
  usage(
    add({ faults: { hangAtNs: '1.5s' } }),
    /expected faults\.hangAtNs, a whole number of nanoseconds from 0 up, or null, got "1\.5s"/,
  );
  usage(
    add({ faults: { rehangAfterReset: { minNs: 3, maxNs: 1 } } }),
    /expected faults\.rehangAfterReset, \{ minNs, maxNs \}/,
  );
  // A shared line's period: a whole number of nanoseconds from 1 up (0 would never end).
  usage(
    add({ faults: { sharedIrqEveryNs: 0 } }),
    /expected faults\.sharedIrqEveryNs, a whole number of nanoseconds from 1 up, got 0/,
  );
  usage(
    add({ faults: { sharedIrqEvery: '5ms' } }),
    /unknown field "sharedIrqEvery" .*in code it is sharedIrqEveryNs/,
  );
  usage(add({ wire: { rxRate: 100 } }), /wire: unknown field "rxRate" .*in code it is rxPerSecond/);
  usage(add({ wire: { rxPerSecnd: 100 } }), /wire: unknown field "rxPerSecnd"; did you mean rxPerSecond\?/);
  // Nothing was added by the refused calls; a right spec (undefined fields allowed) is taken.
  w.addDevice({
    name: 'nic0',
    driver: 'lifecycle-nic',
    faults: { hangAtNs: 1_500_000_000, rehangAfterReset: { minNs: 1, maxNs: 2 }, deadOnResume: true },
    wire: { rxPerSecond: 10, rxFrameBytesMax: undefined },
  } as never);
  assert.equal(w.nic('nic0').name, 'nic0');
});

test('device(), nic() and an action name the device they did not find, and the devices there are', () => {
  const w = new World();
  w.addDriver(lifecycleNic);
  w.addDevice({ name: 'nic0', driver: 'lifecycle-nic' });
  w.addDevice({ name: 'vm0', driver: 'lifecycle-nic', hardware: 'none' });
  usage(() => w.device('nic9'), /^World\.device: no device named 'nic9'; devices: nic0, vm0$/);
  usage(() => w.nic('vm0'), /^World\.nic: device 'vm0' has no SimNic \(hardware: none\)$/);
  usage(() => w.at(Number.NaN, { kind: 'start', device: 'nic0' }), /whole nanoseconds from 0 up, got NaN/);
  w.at(1 * ns.ms, { kind: 'start', device: 'nic9' });
  usage(() => w.run(1 * ns.s), /^World\.at\(start\): no device named 'nic9'/);
});

test("the benchmark's lifecycle driver is a clean one: its lifecycle ends at Code 43 with no violation and no warning (it heeds R5.7), so the bench measures no reporting", () => {
  const w = new World();
  w.addDriver(lifecycleNic);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'lifecycle-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(r.violations, []);
  assert.deepEqual(r.warnings, []);
  assert.equal(w.device('nic0').problem, 43);
});

test('addProtocol takes a traffic object with only its rate and fills the rest with the defaults a YAML scenario gets (one table, trafficDefaults)', () => {
  const w = new World();
  const p = w.addProtocol('tcpip', { traffic: { ratePerSecond: 100 } });
  const fromYaml = buildWorld(
    parseScenarioText(
      'devices:\n  - { name: nic0, driver: healthy-nic }\nprotocols:\n  - name: tcpip\n    traffic: { rate: 100 }\n',
      'traffic.yaml',
      driverNames(),
    ),
  ).protocols[0]!;
  assert.deepEqual(p.options.traffic, fromYaml.options.traffic);
  assert.deepEqual(p.options.traffic, { ratePerSecond: 100, ...trafficDefaults });
  assert.equal(trafficDefaults.frameBytes, 512);
  // A field given wins; one given as undefined still takes its default.
  const q = w.addProtocol('ip6', { traffic: { ratePerSecond: 5, frameBytes: 60, returnDelayNs: undefined } });
  assert.deepEqual(q.options.traffic, {
    ratePerSecond: 5,
    frameBytes: 60,
    returnDelayNs: 0,
    statisticsEveryNs: 0,
    nblsPerSend: 1,
    netBuffersPerNbl: 1,
    sendIrql: 'dispatch',
  });
});

test('run and at check their arguments: a time that is not whole nanoseconds from 0, an unknown action kind (with a did-you-mean), a missing field', () => {
  const w = new World();
  w.addDriver(lifecycleNic);
  w.addDevice({ name: 'nic0', driver: 'lifecycle-nic' });
  // run(-5) and run(NaN) ran nothing and returned verdict ok.
  usage(
    () => w.run(-5),
    /^World\.run: expected untilNs, the virtual time to stop at in whole nanoseconds from 0 up \(such as 5 \* ns\.s\), got -5$/,
  );
  usage(() => w.run(Number.NaN), /^World\.run: .*, got NaN$/);
  usage(() => w.run(Number.POSITIVE_INFINITY), /got Infinity$/);
  // A misspelt kind was accepted and ignored when it fired.
  const at = (action: unknown): void => w.at(0, action as Parameters<World['at']>[1]);
  usage(
    () => at({ kind: 'strat', device: 'nic0' }),
    /^World\.at: expected an action kind, one of start, surprise-remove, .*, got "strat" \(did you mean 'start'\?\)$/,
  );
  usage(() => at({ kind: 'zzzzzz' }), /got "zzzzzz"$/);
  usage(() => at(null), /^World\.at: expected an action \(\{ kind, … \}\), got null$/);
  usage(
    () => at({ kind: 'start' }),
    /^World\.at\(start\): expected device, the name of a device added with addDevice, got undefined$/,
  );
  usage(
    () => at({ kind: 'sleep', state: 'S5', durationNs: 0 }),
    /^World\.at\(sleep\): expected state 'S3' or 'S4', got "S5"$/,
  );
  usage(
    () => at({ kind: 'oid', device: 'nic0', oid: 0x00010202, set: false, value: 0, timeoutS: 1.5 }),
    /^World\.at\(oid\): expected timeoutS, NDIS_OID_REQUEST\.Timeout in whole seconds from 0 up \(0: none\), got 1\.5$/,
  );
  usage(
    () => at({ kind: 'oid', device: 'nic0', oid: 'OID_GEN_STATISTICS', set: false, timeoutS: 0 }),
    /expected oid, an OID, a number/,
  );
  usage(
    () => w.addDriver({ name: 'x' } as never),
    /^World\.addDriver: expected a DriverModule \(\{ name, load\(\) \}\), got an object with name$/,
  );
  usage(
    () => w.addDevice({ name: 'nic1', driver: 'lifecycle-nic', hardware: 'simnik' as never }),
    /^World\.addDevice: device 'nic1': expected hardware 'simnic' \(the default\) or 'none', got "simnik"$/,
  );
  // Nothing was scheduled by the refused calls; the right ones still work.
  w.at(0, { kind: 'start', device: 'nic0' });
  assert.equal(w.run(1 * ns.s).verdict, 'ok');
});

test('T8 a world runs forward: run() to an earlier time than the last run, and at() before it, are NdisSimUsageErrors; the same time again, or later, runs on', () => {
  const w = new World();
  w.addDriver(healthyNic);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  assert.equal(w.run(3 * ns.s).verdict, 'ok');
  // run(1 s) after run(3 s) ran nothing and returned 'ok'.
  usage(
    () => w.run(1 * ns.s),
    /^World\.run: expected a time from 3000000000 ns \(3\.000000 s\) up, where the last run stopped \(a world only runs forward\), got 1000000000 ns \(1\.000000 s\)$/,
  );
  // An action at 0.5 s fired at once in the next run, at the clock's last event.
  usage(
    () => w.at(500 * ns.ms, { kind: 'remove', device: 'nic0' }),
    /^World\.at\(remove\): expected a time from 3000000000 ns \(3\.000000 s\) up, where the world has run to already, got 500000000 ns \(0\.500000 s\): an action cannot go in the past$/,
  );
  assert.equal(w.device('nic0').status, 'started');
  usage(
    () =>
      w.inject({
        event: { kind: 'remove', device: 'nic0' },
        fromNs: 2 * ns.s,
        toNs: 4 * ns.s,
        chance: { num: 1, den: 1 },
      }),
    /^World\.inject: expected a window from 3000000000 ns \(3\.000000 s\) up, where the world has run to already, got 2000000000\.\.4000000000$/,
  );
  // The time reached, and later, are the future.
  w.at(3 * ns.s, { kind: 'remove', device: 'nic0' });
  assert.equal(w.run(3 * ns.s).verdict, 'ok');
  assert.equal(w.run(4 * ns.s).verdict, 'ok');
  assert.equal(w.device('nic0').status, 'removed');
  const actions = w.trace.events.filter((e) => e.kind === 'action').map((e) => [e.t, e.what]);
  assert.deepEqual(actions, [
    [0, 'start'],
    [3 * ns.s, 'remove'],
  ]);
});

test('T8 a world whose machine stopped (a bug check, a shutdown) runs no more: a second run() is an NdisSimUsageError, not a "livelock" verdict with the bug check\'s message', () => {
  const thrower = scriptedDriver('pause-throws', {
    pause: () => {
      throw new TypeError('oops in my pause');
    },
  });
  const w = new World();
  w.addDriver(thrower);
  w.addDevice({ name: 'nic0', driver: 'pause-throws' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(1 * ns.s, { kind: 'remove', device: 'nic0' });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  usage(
    () => w.run(10 * ns.s),
    /^World\.run: the machine stopped at 1\.\d{6} s in an earlier run \(bug check KMODE_EXCEPTION_NOT_HANDLED \(NdisSim_DriverException\)\), and a world runs no more after that: build a new World to run again$/,
  );
  // A shutdown powers the machine off (R1.6): nothing runs after it either.
  const off = new World();
  off.addDriver(lifecycleNic);
  off.addDevice({ name: 'nic0', driver: 'lifecycle-nic' });
  off.at(0, { kind: 'start', device: 'nic0' });
  off.at(1 * ns.s, { kind: 'shutdown' });
  assert.equal(off.run(2 * ns.s).verdict, 'ok');
  usage(
    () => off.run(3 * ns.s),
    /^World\.run: the machine stopped at 1\.\d{6} s in an earlier run \(a shutdown powered it off\)/,
  );
});

test('T8 addDriver and addProtocol refuse a name already added, as addDevice does (a second driver of the same name replaced the first without a word)', () => {
  const w = new World();
  w.addDriver(healthyNic);
  usage(
    () => w.addDriver({ ...flakyNic, name: healthyNic.name }),
    /^World\.addDriver: a driver named 'healthy-nic' was added already$/,
  );
  usage(
    () => w.addDriver(healthyNic),
    /^World\.addDriver: a driver named 'healthy-nic' was added already \(the same module, twice\)$/,
  );
  assert.equal(w.ndis.modules.get('healthy-nic'), healthyNic);
  w.addProtocol('tcpip');
  usage(() => w.addProtocol('tcpip'), /^World\.addProtocol: a protocol named 'tcpip' was added already$/);
  usage(() => w.addProtocol(''), /^World\.addProtocol: expected a name for the protocol, got ""$/);
  assert.deepEqual(
    w.protocols.map((p) => p.name),
    ['tcpip'],
  );
});
