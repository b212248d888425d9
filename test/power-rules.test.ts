// What the OID_PNP_SET_POWER page asks of a miniport going to low power
// (src/ndis/power-rules.ts): NdisSim_SetPowerSendsPending, NdisSim_SetPowerTimerSet,
// NdisSim_HardwareAccessInLowPower, and Driver Verifier's NdisOidComplete statuses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pmHooks, setPowerState, ssHooks } from '../src/drivers/buggy/kit.ts';
import { echoProtocol } from '../src/drivers/echo-proto.ts';
import {
  type NDIS_HANDLE,
  NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
  NDIS_PACKET_TYPE_DIRECTED,
  NDIS_STATUS_LOW_POWER_STATE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisFreeIoWorkItem,
  NdisMIdleNotificationConfirm,
  NdisMOidRequestComplete,
  NdisMRemoveMiniport,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisReadRegisterUlong,
  NdisSetTimerObject,
  NdisWriteRegisterUlong,
  type NET_BUFFER_LIST,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_STATISTICS,
  OID_PNP_SET_POWER,
  SimNicReg,
  STATUS_SUCCESS,
} from '../src/index.ts';
import { World, type WorldAction } from '../src/world.ts';
import {
  after,
  type Hooks,
  scriptedDriver,
  type TestAdapter,
  timerCharacteristics,
} from './helpers/scripted.ts';
import { is, ns, testWorld } from './helpers/world.ts';

const sleepAt = 1 * ns.s;

function run(name: string, hooks: Hooks, extra: { atNs: number; action: WorldAction }[] = []) {
  const w = testWorld({
    drivers: [scriptedDriver(name, hooks)],
    devices: [{ name: 'nic0', driver: name }],
    actions: [...extra, { atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    options: { verifier: 'collect', trace: true },
  });
  const r = w.run(sleepAt + 2 * ns.s);
  return { w, r, rules: r.violations.map((v) => v.rule) };
}

/** A miniport that keeps every send until OID_PNP_SET_POWER(D3); `flush` completes them there first. */
function holdingSends(flush: boolean): Hooks {
  return pmHooks(
    {
      send: (a, chain) => {
        const held = (a.state.held as NET_BUFFER_LIST[] | undefined) ?? [];
        held.push(chain);
        a.state.held = held;
      },
      oid: (a, req) => {
        if (setPowerState(req) === NdisDeviceStateD3 && flush) {
          for (const nbl of (a.state.held as NET_BUFFER_LIST[] | undefined) ?? []) {
            for (let x: NET_BUFFER_LIST | null = nbl; x !== null; x = x.Next)
              x.Status = NDIS_STATUS_LOW_POWER_STATE;
            NdisMSendNetBufferListsComplete(a.handle, nbl, 0);
          }
          a.state.held = [];
        }
        return NDIS_STATUS_SUCCESS;
      },
    },
    NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
  );
}

const sendBefore = [{ atNs: sleepAt - 100 * ns.ms, action: { kind: 'send', device: 'nic0' } as WorldAction }];

test('NdisSim_SetPowerSendsPending: OID_PNP_SET_POWER(D3) succeeds with a send still in the miniport (NO_PAUSE_ON_SUSPEND)', () => {
  const { rules } = run('pr-sends', holdingSends(false), sendBefore);
  assert.deepEqual(rules, ['NdisSim_SetPowerSendsPending']);
});

test('OID_PNP_SET_POWER(D3) after the held sends completed with NDIS_STATUS_LOW_POWER_STATE: no violation', () => {
  const { w, r } = run('pr-sends-ok', holdingSends(true), sendBefore);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const d = w.adapter('nic0')!.data;
  assert.ok(d.sent > 0);
  assert.equal(d.completed, d.sent);
});

/** A miniport with a 100 ms periodic watchdog; `cancel` cancels it for D3 and sets it again in D0. */
function watchdog(cancel: boolean): Hooks {
  return pmHooks({
    initialize: (a) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => {}),
      );
      a.state.wd = t.TimerObject;
      NdisSetTimerObject(t.TimerObject!, -100 * 10_000, 100, null);
      return NDIS_STATUS_SUCCESS;
    },
    oid: (a, req) => {
      const s = setPowerState(req);
      if (!cancel || s === null) return NDIS_STATUS_SUCCESS;
      if (s === NdisDeviceStateD3) NdisCancelTimerObject(a.state.wd as NDIS_HANDLE);
      else NdisSetTimerObject(a.state.wd as NDIS_HANDLE, -100 * 10_000, 100, null);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      NdisCancelTimerObject(a.state.wd as NDIS_HANDLE);
    },
  });
}

test('NdisSim_SetPowerTimerSet: OID_PNP_SET_POWER(D3) succeeds with a periodic timer still set', () => {
  const { rules } = run('pr-timer', watchdog(false));
  assert.deepEqual(rules, ['NdisSim_SetPowerTimerSet']);
});

test('OID_PNP_SET_POWER(D3) with the timer cancelled first, set again at D0: no violation', () => {
  const { r } = run('pr-timer-ok', watchdog(true));
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
});

/**
 * A selectively suspended miniport (no freeze: the machine runs on with the NIC in D3)
 * whose OID_PNP_SET_POWER(D3) pends; a work item completes it, sleeps 1 ms (the bus
 * powers the NIC down meanwhile) and reads the STATUS register twice.
 */
function lateReader(seen: number[]): Hooks {
  return {
    ...ssHooks((a) => {
      NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD3);
      return NDIS_STATUS_PENDING;
    }),
    initialize: (a) => {
      a.state.work = NdisAllocateIoWorkItem(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
    oid: (a, req) => {
      if (setPowerState(req) !== NdisDeviceStateD3) return NDIS_STATUS_SUCCESS;
      NdisQueueIoWorkItem(
        a.state.work as NDIS_HANDLE,
        (x: TestAdapter) => {
          NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS);
          NdisMSleep(1000);
          seen.push(NdisReadRegisterUlong(x.space!.at(SimNicReg.STATUS)));
          seen.push(NdisReadRegisterUlong(x.space!.at(SimNicReg.STATUS)));
        },
        a,
      );
      return NDIS_STATUS_PENDING;
    },
  };
}

test('NdisSim_HardwareAccessInLowPower: a register read while the bus has the NIC in D3, once per stay; the NIC traces the access it ignores', () => {
  const seen: number[] = [];
  const w = testWorld({
    drivers: [scriptedDriver('pr-reg', lateReader(seen))],
    devices: [{ name: 'nic0', driver: 'pr-reg', registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 1 } }],
    options: { verifier: 'collect', trace: true },
  });
  const r = w.run(1900 * ns.ms);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_HardwareAccessInLowPower'],
  );
  assert.match(r.violations[0]!.message, /NdisReadRegisterUlong while the bus driver has the device in D3/);
  assert.deepEqual(seen, [0xffffffff, 0xffffffff]);
  assert.equal(w.trace.events.filter(is('hw', /^register read ignored: powered down \(D3\)/)).length, 1);
});

/** A miniport whose OID_PNP_SET_POWER(D0) answers `d0`. */
function d0Answer(d0: number): Hooks {
  return pmHooks({ oid: (_a, req) => (setPowerState(req) === NdisDeviceStateD0 ? d0 : NDIS_STATUS_SUCCESS) });
}

test('NdisOidComplete: OID_PNP_SET_POWER(D0) answered NDIS_STATUS_NOT_SUPPORTED is a violation (SUCCESS or NOT_ACCEPTED only)', () => {
  const { w, rules } = run('pr-d0-notsup', d0Answer(NDIS_STATUS_NOT_SUPPORTED));
  assert.deepEqual(rules, ['NdisOidComplete']);
  // The failed power OID still marks the device failed (R5.8).
  assert.equal(w.device('nic0').problem, 43);
});

test('NdisOidComplete: OID_PNP_SET_POWER answered NDIS_STATUS_NOT_ACCEPTED is a status the rule allows', () => {
  const { rules } = run('pr-d0-notacc', d0Answer(NDIS_STATUS_NOT_ACCEPTED));
  assert.deepEqual(rules, []);
});

// ------------------------------------------------------------- power IRP watchdog (0x9F)

/** A power-management aware miniport that pends OID_PNP_SET_POWER(D3) and never completes it. */
const neverD3 = (): Hooks =>
  pmHooks({
    oid: (_a, req) => (setPowerState(req) === NdisDeviceStateD3 ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS),
  });

test('NdisSim_PowerIrpWatchdog: a sleep whose OID_PNP_SET_POWER(D3) never completes is 0x9F/0x3 once powerWatchdog has run out', () => {
  const w = testWorld({
    drivers: [scriptedDriver('pr-hang-d3', neverD3())],
    devices: [{ name: 'nic0', driver: 'pr-hang-d3' }],
    actions: [{ atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    options: { verifier: 'collect', trace: true, ndis: { powerWatchdogNs: 5 * ns.s } },
  });
  const r = w.run(30 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  const v = r.violations.at(-1)!;
  assert.equal(v.rule, 'NdisSim_PowerIrpWatchdog');
  assert.equal(v.bugCheck.code, 0x9f);
  assert.deepEqual(v.bugCheck.params, [0x3, 'nic0 PDO', 'nt!_TRIAGE_9F_POWER', 'IRP_MN_SET_POWER (D3)']);
  assert.match(v.message, /waiting for OID_PNP_SET_POWER\(D3\) to complete/);
  // Sent at the sleep, so it fires powerWatchdog later.
  assert.ok(Math.abs(v.timeNs - (sleepAt + 5 * ns.s)) < 1 * ns.ms, `at ${v.timeNs}`);
});

test('power IRP watchdog: 10 minutes by default, so a 30 s run ends with the sleep listed as waiting, and for what', () => {
  const w = testWorld({
    drivers: [scriptedDriver('pr-hang-d3-default', neverD3())],
    devices: [{ name: 'nic0', driver: 'pr-hang-d3-default' }],
    actions: [{ atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    options: { verifier: 'collect' },
  });
  const r = w.run(30 * ns.s);
  assert.ok(!r.violations.some((v) => v.rule === 'NdisSim_PowerIrpWatchdog'));
  assert.ok(
    r.pending.includes('nic0: the sleep is waiting for OID_PNP_SET_POWER(D3) to complete'),
    r.pending.join('; '),
  );
});

test('a resume taken over by a removal: the D0 IRP_MN_SET_POWER completes with STATUS_SUCCESS (a function driver fails no system set-power request), "not resumed", nothing left open', () => {
  // The NIC vanishes on its way to D3: the device fails, and the surprise removal PnP
  // holds over the sleep comes right after the wake, while the resume has begun.
  const w = testWorld({
    drivers: [
      scriptedDriver(
        'pr-vanish',
        pmHooks({
          // Its D3 path checks the NIC: all ones means it is gone.
          oid: (a, req) => {
            if (
              setPowerState(req) === NdisDeviceStateD3 &&
              NdisReadRegisterUlong(a.space!.at(SimNicReg.STATUS)) === 0xffffffff
            )
              NdisMRemoveMiniport(a.handle);
            return NDIS_STATUS_SUCCESS;
          },
        }),
      ),
    ],
    devices: [{ name: 'nic0', driver: 'pr-vanish', faults: { vanishAtNs: sleepAt + 300 * ns.us } }],
    actions: [{ atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    options: { verifier: 'collect', trace: true, ndis: { powerWatchdogNs: 2 * ns.s } },
  });
  const r = w.run(sleepAt + 5 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(r.pending, []);
  const irps = w.trace.events.filter((e) => e.kind === 'irp' && e.what === 'IRP_MN_SET_POWER');
  const sent = irps.filter((e) => e.data?.phase === 'sent').length;
  const done = irps.filter((e) => e.data?.phase === 'completed');
  assert.equal(done.length, sent, 'every power IRP sent is completed');
  assert.ok(done.every((e) => e.data?.status === STATUS_SUCCESS));
  assert.ok(w.trace.events.some(is('ndis', /not resumed: the device is being removed/)));
  assert.equal(w.device('nic0').problem, 43);
});

// ------------------------------------------------------------- OIDs in low power

/** A NO_PAUSE_ON_SUSPEND miniport; `peer` pends its OID_PNP_SET_POWER(D3) 1.5 s, so the system is not frozen meanwhile. */
function noPauseWorld(oidAtNs: number) {
  const seen: { oid: number; at: number }[] = [];
  const hooks = (record: boolean): Hooks =>
    pmHooks(
      {
        oid: (a, req) => {
          if (record) seen.push({ oid: req.DATA.Oid, at: seen.length });
          if (!record && setPowerState(req) === NdisDeviceStateD3) {
            after(a, 1500, (x) => NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS));
            return NDIS_STATUS_PENDING;
          }
          return NDIS_STATUS_SUCCESS;
        },
      },
      NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
    );
  const w = testWorld({
    drivers: [scriptedDriver('pr-nopause', hooks(true)), scriptedDriver('pr-peer', hooks(false))],
    devices: [
      { name: 'nic0', driver: 'pr-nopause' },
      { name: 'peer', driver: 'pr-peer' },
    ],
    protocols: [],
    actions: [
      { atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: 3 * ns.s } },
      {
        atNs: oidAtNs,
        action: {
          kind: 'oid',
          device: 'nic0',
          oid: OID_GEN_CURRENT_PACKET_FILTER,
          set: true,
          value: NDIS_PACKET_TYPE_DIRECTED,
          timeoutS: 0,
        },
      },
    ],
    options: { verifier: 'collect', trace: true },
  });
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 100, statisticsEveryNs: 100 * ns.ms } });
  const r = w.run(6 * ns.s);
  return { w, r, seen };
}

test('In D3 only OID_PNP_SET_POWER reaches a NO_PAUSE_ON_SUSPEND miniport: the protocol stops its statistics queries, NDIS holds an OID from above until D0', () => {
  const { w, r, seen } = noPauseWorld(sleepAt + 500 * ns.ms);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const d3 = seen.findIndex((s) => s.oid === OID_PNP_SET_POWER);
  const d0 = seen.findIndex((s, i) => i > d3 && s.oid === OID_PNP_SET_POWER);
  assert.ok(d3 >= 0 && d0 > d3, JSON.stringify(seen));
  assert.deepEqual(
    seen.slice(d3 + 1, d0).map((s) => s.oid),
    [],
    'no OID request between OID_PNP_SET_POWER(D3) and OID_PNP_SET_POWER(D0)',
  );
  // The scenario's request was held, then went down after D0.
  assert.ok(w.trace.events.some(is('ndis', 'OID request held until D0')));
  assert.ok(seen.slice(d0 + 1).some((s) => s.oid === OID_GEN_CURRENT_PACKET_FILTER));
  // Statistics queries before the sleep and after the resume.
  assert.ok(seen.slice(0, d3).some((s) => s.oid === OID_GEN_STATISTICS));
  assert.ok(seen.slice(d0 + 1).some((s) => s.oid === OID_GEN_STATISTICS));
});

test('a wake signal while the cancelled idle notification awaits its completion says so, not "not selectively suspended"', () => {
  const hooks = ssHooks(
    (a) => {
      NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD3);
      return NDIS_STATUS_PENDING;
    },
    // Forgets NdisMIdleNotificationComplete.
    () => {},
  );
  const w = testWorld({
    drivers: [scriptedDriver('pr-wake', hooks)],
    devices: [{ name: 'nic0', driver: 'pr-wake', registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 1 } }],
    actions: [
      { atNs: 3 * ns.s, action: { kind: 'send', device: 'nic0' } },
      { atNs: 4 * ns.s, action: { kind: 'wake-signal', device: 'nic0' } },
    ],
    options: { verifier: 'collect', trace: true },
  });
  w.run(5 * ns.s);
  const ev = w.trace.events;
  assert.ok(ev.some(is('ndis', /^wake signal ignored: the idle notification is being cancelled already/)));
  assert.ok(!ev.some(is('ndis', 'wake signal ignored: not selectively suspended')));
});

test('oid-pnp-set-power: a NO_PAUSE_ON_SUSPEND adapter is not paused for a sleep when every driver above supports NDIS 6.30; an NDIS 6.20 protocol driver bound above makes NDIS pause it', () => {
  const pauses = (minor: number): number => {
    const w = new World({ seed: 1, verifier: 'collect' });
    w.addDriver(
      scriptedDriver('pr-nopause-proto', pmHooks({}, NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND)),
    );
    w.addDriver(echoProtocol('echo-old', 'echo', { minorNdisVersion: minor }));
    w.addProtocolDriver('echo-old');
    w.addDevice({ name: 'nic0', driver: 'pr-nopause-proto' });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(sleepAt, { kind: 'sleep', state: 'S3', durationNs: ns.s });
    const r = w.run(sleepAt + 2 * ns.s);
    assert.deepEqual(
      r.violations.map((v) => v.rule),
      [],
    );
    return w.trace.events.filter((e) => e.kind === 'call' && e.what === 'MiniportPause' && e.t >= sleepAt)
      .length;
  };
  assert.equal(pauses(30), 0);
  assert.equal(pauses(20), 1);
});

test('R5.7 a resume whose OID_PNP_SET_POWER(D0) is still queued when the surprise removal comes: NDIS drops it, the miniport hears no power OID after NdisDevicePnPEventSurpriseRemoved', () => {
  // The device fails on its way to D3 (NdisMRemoveMiniport from the work item that
  // completes the pended D3 request); the wake then queues the D0 request and PnP's
  // surprise removal of the failed device comes before NDIS's OID worker runs.
  const log: string[] = [];
  const w = testWorld({
    drivers: [
      scriptedDriver(
        'pr-d3-remove',
        pmHooks({
          initialize: (a) => {
            a.state.work = NdisAllocateIoWorkItem(a.handle);
            return NDIS_STATUS_SUCCESS;
          },
          halt: (a) => NdisFreeIoWorkItem(a.state.work as NDIS_HANDLE),
          oid: (a, req) => {
            const state = setPowerState(req);
            if (state !== null) log.push(`OID_PNP_SET_POWER(D${state - NdisDeviceStateD0})`);
            if (state === NdisDeviceStateD3) {
              NdisQueueIoWorkItem(
                a.state.work as NDIS_HANDLE,
                (x: TestAdapter) => {
                  NdisMRemoveMiniport(x.handle);
                  NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS);
                },
                a,
              );
              return NDIS_STATUS_PENDING;
            }
            return a.state.surpriseRemoved === true ? NDIS_STATUS_NOT_ACCEPTED : NDIS_STATUS_SUCCESS;
          },
          devicePnPEventNotify: (a) => {
            if (a.state.surpriseRemoved === true) log.push('SurpriseRemoved');
          },
        }),
      ),
    ],
    devices: [{ name: 'nic0', driver: 'pr-d3-remove' }],
    actions: [{ atNs: sleepAt, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    options: { verifier: 'collect', trace: true },
  });
  const r = w.run(sleepAt + 3 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    [],
    r.violations.map((v) => v.message).join('; '),
  );
  assert.deepEqual(log, ['OID_PNP_SET_POWER(D3)', 'SurpriseRemoved']);
  assert.ok(w.trace.events.some(is('ndis', /power OID not sent: the device was surprise-removed/)));
  assert.equal(w.device('nic0').problem, 43);
});

/** A selectively suspending miniport (D3) whose MiniportHaltEx stops the NIC whatever the halt action. */
function haltWriter(): Hooks {
  return {
    ...ssHooks((a) => {
      NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD3);
      return NDIS_STATUS_PENDING;
    }),
    halt: (a) => NdisWriteRegisterUlong(a.space!.at(SimNicReg.CTRL), 0),
  };
}

test('R5.7 a register write in MiniportHaltEx(NdisHaltDeviceSurpriseRemoved) is judged the same whether the removal came in selective suspend (D3) or in D0: one R5.7 warning naming the surprise removal, not NdisSim_HardwareAccessInLowPower', () => {
  const outcomes = [1, 60].map((idleS) => {
    const w = testWorld({
      drivers: [scriptedDriver(`pr-haltw-${idleS}`, haltWriter())],
      devices: [
        {
          name: 'nic0',
          driver: `pr-haltw-${idleS}`,
          registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': idleS },
        },
      ],
      actions: [{ atNs: 3 * ns.s, action: { kind: 'surprise-remove', device: 'nic0' } }],
      options: { verifier: 'collect', trace: true },
    });
    const r = w.run(4 * ns.s);
    const suspended = w.trace.events.some(is('ndis', /selective suspend: suspended/));
    return { r, suspended };
  });
  // The first adapter was in D3 (selective suspend) at the removal, the second in D0.
  assert.deepEqual(
    outcomes.map((o) => o.suspended),
    [true, false],
  );
  for (const { r } of outcomes) {
    assert.deepEqual(
      r.violations.map((v) => v.rule),
      [],
    );
    // (pmHooks answers every OID request SUCCESS: the R5.7 warning on those is another.)
    const warned = r.warnings.filter((x) => x.rule === 'R5.7' && x.ddi === 'NdisWriteRegisterUlong');
    assert.equal(warned.length, 1, r.warnings.map((x) => x.message).join('; '));
    assert.match(
      warned[0]!.message,
      /after the SurpriseRemoved notification in MiniportHaltEx\(NdisHaltDeviceSurpriseRemoved\).*surprise-removed/,
    );
  }
});
