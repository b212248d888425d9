// NdisMRemoveMiniport in every context (R5.14–R5.20), at the wrong IRQL, and the
// unsolicited completions of R1.10 and R4.15.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DriverModule,
  type NDIS_HANDLE,
  type NDIS_IO_SPACE,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAllocateMemoryWithTagPriority,
  NdisFreeMemoryWithTagPriority,
  NdisHaltDeviceDisabled,
  NdisHaltDeviceFailed,
  NdisHaltDevicePoweredDown,
  NdisHaltDeviceStopped,
  NdisMMapIoSpace,
  NdisMPauseComplete,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisMRestartComplete,
  NdisMUnmapIoSpace,
} from '../src/index.ts';
import { fmtTime } from '../src/report/format.ts';
import type { World } from '../src/world.ts';
import { after, scriptedDriver } from './helpers/scripted.ts';
import { findEvent, inOrder, irpDone, is, ns, type TestWorldSpec, testWorld } from './helpers/world.ts';

const halts = (calls: string[]): string[] => calls.filter((c) => c.startsWith('MiniportHaltEx'));

test('R5.16 (init fails): NdisMRemoveMiniport during MiniportInitializeEx, then failure: Code 10, no halt, no removal', () => {
  for (const seed of [1, 2, 3]) {
    const drv = scriptedDriver('init-nic', {
      initialize: (a) => {
        assert.equal(NdisMRemoveMiniport(a.handle), NDIS_STATUS_SUCCESS);
        return NDIS_STATUS_FAILURE;
      },
    });
    const w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 'init-nic' }] });
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok');
    assert.deepEqual(halts(drv.calls), []);
    assert.equal(w.device('nic0').problem, 10);
    assert.equal(findEvent(w.trace.events, is('irp', 'IRP_MN_SURPRISE_REMOVAL')), -1);
    assert.equal(
      findEvent(w.trace.events, is('irp', 'IRP_MN_QUERY_PNP_DEVICE_STATE')),
      -1,
      'the invalidation lapses',
    );
  }
});

test('R5.15, R5.16: the failed start removes the FDO with its flag; a later start builds a new FDO that starts clean', () => {
  for (const seed of [1, 2, 3]) {
    let inits = 0;
    const drv = scriptedDriver('init-nic', {
      initialize: (a) => {
        if (++inits > 1) return NDIS_STATUS_SUCCESS;
        NdisMRemoveMiniport(a.handle);
        return NDIS_STATUS_FAILURE;
      },
    });
    const w = testWorld({
      seed,
      drivers: [drv],
      devices: [{ name: 'nic0', driver: 'init-nic' }],
      actions: [{ atNs: 1 * ns.s, action: { kind: 'start', device: 'nic0' } }],
    });
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok');
    // IRP_MN_REMOVE_DEVICE follows a failed start (kernel/irp-mn-remove-device.md).
    inOrder(w.trace.events, [
      ['START fails', irpDone('IRP_MN_START_DEVICE')],
      ['REMOVE_DEVICE', is('irp', 'IRP_MN_REMOVE_DEVICE')],
      ['FDO deleted', is('ndis', 'FDO deleted')],
      ['new FDO', is('ndis', 'FDO created (AddDevice)')],
      ['second init', is('call', 'MiniportInitializeEx')],
      ['state query', is('ndis', 'reports device state OK')],
    ]);
    assert.equal(inits, 2);
    assert.deepEqual(halts(drv.calls), []);
    assert.equal(w.device('nic0').problem, 0);
    assert.equal(w.device('nic0').status, 'started');
    assert.equal(w.summary().dumps.length, 1, 'the one call made one dump');
    const adapters = w.summary().adapters;
    assert.deepEqual(
      adapters.map((a) => [a.state, a.haltAction]),
      [
        ['Halted', null],
        ['Running', null],
      ],
      'two FDOs: the failed one, never halted, and the new one',
    );
  }
});

test('R5.16 (init succeeds): the state query after the start reports failure: surprise removal, Failed, Code 43', () => {
  for (const seed of [1, 2, 3]) {
    const drv = scriptedDriver('init-nic', {
      initialize: (a) => {
        NdisMRemoveMiniport(a.handle);
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 'init-nic' }] });
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok');
    inOrder(w.trace.events, [
      ['START completed', irpDone('IRP_MN_START_DEVICE')],
      ['query reports failure', is('ndis', 'reports PNP_DEVICE_FAILED')],
      ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
    ]);
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
    assert.equal(w.device('nic0').problem, 43);
  }
});

test('R5.18: while a pause is pending nothing changes at once; the pause completes first, then the halt is Failed', () => {
  for (const seed of [1, 2, 3]) {
    const seen: string[] = [];
    let world: ReturnType<typeof testWorld> | null = null;
    const drv = scriptedDriver('pause-nic', {
      initialize: () => {
        world!.at(world!.kernel.now + 1 * ns.s, { kind: 'remove', device: 'nic0' });
        return NDIS_STATUS_SUCCESS;
      },
      // The orderly removal pauses the adapter; the driver pends the pause, and while
      // it is pending finds the hardware dead and gives up.
      pause: (a) => {
        after(a, 50, (x) => {
          NdisMRemoveMiniport(x.handle);
          seen.push(world!.adapter('nic0')!.state);
          after(x, 50, (y) => NdisMPauseComplete(y.handle));
        });
        return NDIS_STATUS_PENDING;
      },
    });
    const w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 'pause-nic' }] });
    world = w;
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok');
    assert.deepEqual(seen, ['Pausing']);
    inOrder(w.trace.events, [
      ['NdisMRemoveMiniport', is('ddi', 'NdisMRemoveMiniport')],
      ['pause completes', is('state', 'Pausing → Paused')],
      ['halt', is('call', 'MiniportHaltEx')],
    ]);
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
  }
});

test('R5.18: while a restart is pending nothing changes at once; the restart completes, then the removal runs', () => {
  for (const seed of [1, 2, 3]) {
    const seen: string[] = [];
    let world: ReturnType<typeof testWorld> | null = null;
    const drv = scriptedDriver('restart-nic', {
      restart: (a) => {
        after(a, 20, (x) => {
          NdisMRemoveMiniport(x.handle);
          seen.push(world!.adapter('nic0')!.state);
          after(x, 200, (y) => NdisMRestartComplete(y.handle, NDIS_STATUS_SUCCESS));
        });
        return NDIS_STATUS_PENDING;
      },
    });
    const w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 'restart-nic' }] });
    world = w;
    const r = w.run(3 * ns.s);
    assert.equal(r.verdict, 'ok');
    assert.deepEqual(seen, ['Restarting']);
    // R1.4: NDIS does not pause a Restarting adapter; the pause waits for the restart.
    inOrder(w.trace.events, [
      ['NdisMRemoveMiniport', is('ddi', 'NdisMRemoveMiniport')],
      ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
      ['restart completes', is('state', 'Restarting → Running')],
      ['MiniportPause', is('call', 'MiniportPause')],
      ['halt', is('call', 'MiniportHaltEx')],
    ]);
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
  }
});

test('R5.19: NdisMRemoveMiniport inside MiniportHaltEx: SUCCESS, a warning, nothing else', () => {
  let result: number | null = null;
  const drv = scriptedDriver('halt-nic', {
    halt: (a) => {
      result = NdisMRemoveMiniport(a.handle);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'halt-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(result, NDIS_STATUS_SUCCESS);
  assert.deepEqual(
    r.warnings.map((x) => x.rule),
    ['R5.19'],
  );
  assert.equal(w.ndis.dumps.length, 0);
  assert.equal(w.adapter('nic0')!.deviceFailed, false);
  assert.equal(w.device('nic0').status, 'removed');
});

test('R5.19, R5.11, R5.15: inside the halt of a PnP stop the call counts: the start that follows does not initialize the failed adapter again, and it is removed (Code 43), with a warning that says so', () => {
  const drv = scriptedDriver('stop-nic', {
    halt: (a, action) => {
      if (action === NdisHaltDeviceStopped) NdisMRemoveMiniport(a.handle);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'stop-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'stop', device: 'nic0' } }],
  });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok');
  // Honoured, and seldom meant: the warning names the halt and what follows.
  assert.deepEqual(
    r.warnings.map((x) => x.rule),
    ['R5.11'],
  );
  assert.match(r.warnings[0]!.message, /MiniportHaltEx\(NdisHaltDeviceStopped\).*ends at Code 43/);
  assert.equal(w.ndis.dumps.length, 1);
  // R5.15: the START_DEVICE after the stop does not initialize the failed adapter again;
  // the removal finds it halted (one init, one halt).
  assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceStopped})`]);
  assert.equal(drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 1);
  assert.equal(w.device('nic0').problem, 43);
});

test('R5.19, R5.11: inside the halt of a system sleep (NdisHaltDevicePoweredDown) the call counts too: the adapter is found failed after the wake, not initialized again (R5.15) and removed (Code 43), with a warning that says so', () => {
  const drv = scriptedDriver('sleep-nic', {
    halt: (a, action) => {
      if (action === NdisHaltDevicePoweredDown) NdisMRemoveMiniport(a.handle);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'sleep-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
  });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(
    r.warnings.map((x) => x.rule),
    ['R5.11'],
  );
  assert.match(
    r.warnings[0]!.message,
    /MiniportHaltEx\(NdisHaltDevicePoweredDown\).*ends at Code 43 instead of starting again after the wake/,
  );
  assert.equal(w.ndis.dumps.length, 1);
  // R5.15: the wake does not initialize the failed adapter again (one init, one halt).
  assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDevicePoweredDown})`]);
  assert.equal(drv.calls.filter((c) => c === 'MiniportInitializeEx').length, 1);
  assert.equal(w.device('nic0').problem, 43);
});

/** Keeps the adapter handle past halt and uses it from a later timer of another adapter. */
function staleDriver() {
  let kept: NDIS_HANDLE | null = null;
  return scriptedDriver('stale-nic', {
    initialize: (a) => {
      if (kept === null) kept = a.handle;
      else after(a, 1000, () => NdisMRemoveMiniport(kept!));
      return NDIS_STATUS_SUCCESS;
    },
  });
}

/**
 * nic0 goes away at 1 s; nic1, of the same driver, starts at 2 s (and can use a
 * handle the driver kept of nic0).
 */
function handOverWorld(drv: DriverModule, options: TestWorldSpec['options'] = {}): World {
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [
      { atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } },
      { atNs: 2 * ns.s, action: { kind: 'start', device: 'nic1' } },
    ],
    options,
  });
  w.addDevice({ name: 'nic1', driver: drv.name });
  return w;
}

test('R5.20: NdisMRemoveMiniport after MiniportHaltEx returned is a clear violation, not a crash', () => {
  // nic1 uses nic0's handle at 3 s.
  const w = handOverWorld(staleDriver());
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck!.rule, 'NdisSim_StaleHandle');
  assert.equal(r.bugCheck!.ddi, 'NdisMRemoveMiniport');
  assert.equal(r.bugCheck!.adapter, 'nic0');
  assert.deepEqual(r.bugCheck!.spec, ['R5.20', 'R2.8']);
  assert.equal(w.ndis.dumps.length, 0);
});

test('R2.8, R5.20: the handle is dead after halt and after a failed init; every use with it is reported', () => {
  type Kept = { space: NDIS_IO_SPACE | null; mem: Uint8Array | null };
  const stale = (ddi: string) => ['NdisSim_StaleHandle', ddi, 'nic0'];
  // [init fails, allocate memory, the later use, the violations expected]
  const cases: [boolean, boolean, (h: NDIS_HANDLE, k: Kept) => void, string[][]][] = [
    // Each keeps its register mapping past halt, or a failed init, to use it later:
    // a leak reported as the halt or the init returns (R2.10, R2.5).
    [
      false,
      false,
      (h, k) => NdisMUnmapIoSpace(h, k.space!, 256),
      [['NdisSim_ResourceNotFreed', 'MiniportHaltEx', 'nic0'], stale('NdisMUnmapIoSpace')],
    ],
    [
      false,
      true,
      (h, k) => NdisFreeMemoryWithTagPriority(h, k.mem!, 0),
      // The halt left the memory allocated, so the unload that follows leaks it (0xC4/0x62);
      // freeing it later with the dead handle is one more.
      [
        ['NdisAllocateMemoryWithTagPriority', 'NdisAllocateMemoryWithTagPriority', 'nic0'],
        ['NdisSim_ResourceNotFreed', 'MiniportHaltEx', 'nic0'],
        ['NdisSim_PoolNotFreedAtUnload', 'MiniportDriverUnload', 'nic0'],
        stale('NdisFreeMemoryWithTagPriority'),
      ],
    ],
    [
      true,
      false,
      (h) => NdisMRemoveMiniport(h),
      [['NdisSim_ResourceNotFreed', 'MiniportInitializeEx', 'nic0'], stale('NdisMRemoveMiniport')],
    ],
  ];
  for (const [failInit, alloc, use, expected] of cases) {
    let kept: NDIS_HANDLE | null = null;
    const res: Kept = { space: null, mem: null };
    const drv = scriptedDriver('stale-nic', {
      initialize: (a) => {
        if (kept !== null) {
          use(kept, res); // nic1, a second after nic0 went, uses nic0's handle
          return NDIS_STATUS_SUCCESS;
        }
        kept = a.handle;
        res.space = NdisMMapIoSpace(a.handle, 0xf000_0000, 256).VirtualAddress;
        if (alloc) res.mem = NdisAllocateMemoryWithTagPriority(a.handle, 64, 0, 0);
        return failInit ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS;
      },
    });
    const w = handOverWorld(drv, { verifier: 'collect' });
    const r = w.run(5 * ns.s);
    const last = expected[expected.length - 1]![1]!;
    assert.deepEqual(
      r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
      expected,
      last,
    );
    assert.match(
      r.violations.at(-1)!.message,
      failInit ? /MiniportInitializeEx failed/ : /MiniportHaltEx returned/,
    );
    assert.equal(w.ndis.dumps.length, 0, last);
  }
});

test('R5.20 (collect mode): the violation is recorded and the run goes on', () => {
  const w = handOverWorld(staleDriver(), { verifier: 'collect' });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'violations');
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_StaleHandle'],
  );
  assert.equal(w.adapter('nic1')!.state, 'Running');
  assert.equal(w.adapter('nic1')!.deviceFailed, false);
});

test('R5.9, R8.13: NdisMRemoveMiniport from MiniportInterrupt at DIRQL is a bug check naming Irql_Miniport_Driver_Function', () => {
  for (const seed of [1, 2, 3]) {
    const drv = scriptedDriver('isr-nic', { isr: (a) => NdisMRemoveMiniport(a.handle) });
    const w = testWorld({
      seed,
      drivers: [drv],
      devices: [{ name: 'nic0', driver: 'isr-nic', faults: { linkDownAtNs: 1 * ns.s } }],
    });
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'bugcheck');
    const v = r.bugCheck!;
    assert.equal(v.rule, 'Irql_Miniport_Driver_Function');
    assert.equal(v.ddi, 'NdisMRemoveMiniport');
    // The rule-book rules of NdisMRemoveMiniport with the generic IRQL one (specFor).
    assert.deepEqual(v.spec, ['R8.2', 'R5.9', 'R8.13']);
    assert.equal(v.irql, 3);
    assert.equal(v.bugCheck.code, 0xd1);
    assert.equal(v.bugCheck.name, 'DRIVER_IRQL_NOT_LESS_OR_EQUAL');
    assert.equal(v.bugCheck.params[1], 3, 'parameter 2 is the IRQL');
    assert.equal(w.ndis.dumps.length, 0, 'the call did not get to record a failure');
  }
});

test('R1.10: NdisMPauseComplete with no pause pending is BUGCODE_NDIS_DRIVER 0x7C/0x1F', () => {
  const drv = scriptedDriver('pc-nic', { dpc: (a) => NdisMPauseComplete(a.handle) });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'pc-nic', faults: { linkDownAtNs: 1 * ns.s } }],
  });
  const r = w.run(2 * ns.s);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_PauseCompleteUnexpected');
  assert.equal(v.bugCheck.code, 0x7c);
  assert.equal(v.bugCheck.params[0], 0x1f);
  assert.equal(v.bugCheck.params[1], 'PAUSE_COMPLETE');
});

test('R3.10 (collect mode): MiniportPause that completes the pause and returns SUCCESS is reported once, and the teardown goes on', () => {
  const drv = scriptedDriver('pc-nic', {
    pause: (a) => {
      NdisMPauseComplete(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'pc-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect' },
  });
  const r = w.run(3 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_PauseCompleteUnexpected', 'MiniportPause']],
  );
  assert.deepEqual(r.pending, []);
  assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceDisabled})`]);
  assert.equal(w.device('nic0').status, 'removed');
});

test('R3.7: a pended pause never completed trips the pause watchdog: 0x7C/0x25, operation 0x21, parameter 4 zero', () => {
  const drv = scriptedDriver('slow-pause', { pause: () => NDIS_STATUS_PENDING });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'slow-pause' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { ndis: { pauseWatchdogNs: 5 * ns.s } },
  });
  const r = w.run(10 * ns.s);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_PauseWatchdog');
  assert.equal(v.adapter, 'nic0');
  assert.deepEqual(v.bugCheck.params, [0x25, 0x21, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0]);
  assert.ok(v.timeNs >= 6 * ns.s);
  // It names when MiniportPause pended the pause: the watchdog time before it fired.
  const pended = v.timeNs - 5 * ns.s;
  assert.ok(pended >= 1 * ns.s && pended < 1.1 * ns.s, `pended at ${pended}`);
  assert.match(
    v.message,
    new RegExp(`^MiniportPause returned PENDING at ${fmtTime(pended).replace('.', '\\.')} `),
  );
  assert.deepEqual(v.origin, { label: 'Pended by', at: `MiniportPause at ${fmtTime(pended)}` });
});

test('R4.15: NdisMResetComplete with no reset pending is BUGCODE_NDIS_DRIVER 0x7C/0x0F', () => {
  const drv = scriptedDriver('rc-nic', {
    dpc: (a) => NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false),
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'rc-nic', faults: { linkDownAtNs: 1 * ns.s } }],
  });
  const r = w.run(2 * ns.s);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_ResetCompleteUnexpected');
  assert.equal(v.bugCheck.code, 0x7c);
  assert.equal(v.bugCheck.params[0], 0x0f);
  assert.equal(v.bugCheck.params[2], NDIS_STATUS_SUCCESS, 'parameter 3 is the reset status');
});

test('R3.9: NdisMRestartComplete with NDIS_STATUS_PENDING is NdisSim_RestartReturn; NDIS treats the restart as failed', () => {
  const drv = scriptedDriver('restart-nic', {
    restart: (a) => {
      after(a, 50, (x) => NdisMRestartComplete(x.handle, NDIS_STATUS_PENDING));
      return NDIS_STATUS_PENDING;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'restart-nic' }],
    options: { verifier: 'collect' },
  });
  const r = w.run(3 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_RestartReturn', 'NdisMRestartComplete']],
  );
  // R1.9: a failed restart leaves the adapter Paused and fails the device.
  assert.ok(findEvent(w.trace.events, is('state', 'Restarting → Paused')) > 0);
  assert.equal(w.device('nic0').problem, 43);
});

test('R5.10: NdisMRemoveMiniport returns NDIS_STATUS_SUCCESS wherever it is called: the first call, a repeat, inside MiniportHaltEx (in init: the R5.16 tests)', () => {
  const returned: [string, number][] = [];
  const call = (where: string, a: { handle: NDIS_HANDLE }) =>
    returned.push([where, NdisMRemoveMiniport(a.handle)]);
  let hangs = 0;
  const drv = scriptedDriver('r510-nic', {
    checkForHang: (a) => {
      if (++hangs === 1) {
        call('check-for-hang, first', a);
        call('check-for-hang, repeat', a);
      }
      return false;
    },
    halt: (a) => call('halt', a),
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'r510-nic' }],
    options: { verifier: 'collect' },
  });
  w.run(10 * ns.s);
  assert.deepEqual(
    returned.map(([where]) => where),
    ['check-for-hang, first', 'check-for-hang, repeat', 'halt'],
  );
  for (const [where, status] of returned) assert.equal(status, NDIS_STATUS_SUCCESS, where);
  // The calls were taken, not ignored: one failed device (R5.14 makes the repeat a no-op).
  assert.equal(w.ndis.dumps.length, 1);
  assert.equal(w.device('nic0').problem, 43);
});
