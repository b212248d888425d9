// Registration checks of NdisMRegisterMiniportDriver (R2.2, R4.1: handler pairs and the
// NDIS version), status indications before the registration attributes (R1.7), the
// connect state NDIS answers OID_GEN_MEDIA_CONNECT_STATUS with (R6.17), and timer
// return values and the periodic-timer cancel that waits for a queued callback (R8.5, R8.6).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkStateIndication } from '../src/drivers/common.ts';
import {
  CM_PROB_FAILED_ADD,
  CM_PROB_FAILED_DRIVER_ENTRY,
  CM_PROB_OUT_OF_MEMORY,
  type DriverModule,
  MediaConnectStateConnected,
  MediaConnectStateDisconnected,
  type NDIS_HANDLE,
  NDIS_INTERMEDIATE_DRIVER,
  type NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  type NDIS_OID_REQUEST,
  NDIS_OID_REQUEST_REVISION_1,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_BAD_VERSION,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NDIS_WDM_DRIVER,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisFreeTimerObject,
  NdisGetCurrentSystemTime,
  NdisMDeregisterMiniportDriver,
  NdisMediaStateConnected,
  NdisMediaStateDisconnected,
  NdisMIndicateStatusEx,
  NdisMSleep,
  NdisRequestQueryInformation,
  NdisSetTimerObject,
  OID_GEN_MEDIA_CONNECT_STATUS,
  oidRequestData,
} from '../src/index.ts';
import type { NdisOptions } from '../src/ndis/ndis.ts';
import { NdisOidRequest } from '../src/ndis/protocol-api.ts';
import { ChoiceSite, RandomStrategy, type Strategy } from '../src/sim/choice.ts';
import {
  after,
  type Hooks,
  removedScripted,
  scriptedDriver,
  timerCharacteristics,
} from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

// ------------------------------------------------------------------ registration

/**
 * Loads the scripted driver with its characteristics edited by `edit` for one device
 * and runs 500 ms. The scripted DriverEntry returns what NdisMRegisterMiniportDriver
 * returned when registration fails, so the status DriverEntry returns is recorded.
 */
function register(
  name: string,
  edit: (c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS) => void,
  ndis: Partial<NdisOptions> = {},
) {
  const drv = scriptedDriver(name, { characteristics: edit });
  const statuses: number[] = [];
  const mod: DriverModule = {
    name,
    load: () => {
      const image = drv.load();
      return {
        DriverEntry: (o, p) => {
          const s = image.DriverEntry(o, p);
          statuses.push(s);
          return s;
        },
      };
    },
  };
  const w = testWorld({
    drivers: [mod],
    devices: [{ name: 'nic0', driver: name }],
    options: { verifier: 'collect', ndis },
  });
  const r = w.run(500 * ns.ms);
  assert.equal(statuses.length, 1, `${name}: DriverEntry runs once`);
  return { status: statuses[0]!, drv, w, r };
}

/** A registration NDIS refused: the driver never gets an adapter, nor an unload call. */
function assertRefused(x: ReturnType<typeof register>, status: number, label: string): void {
  assert.equal(x.status, status, `${label}: status 0x${x.status.toString(16)}`);
  assert.deepEqual(x.drv.calls, [], `${label}: no callback at all`);
  assert.equal(x.drv.adapters.length, 0, label);
  assert.equal(x.w.ndis.adapters.length, 0, `${label}: no FDO`);
  const dev = x.w.device('nic0');
  assert.notEqual(dev.status, 'started', label);
  // The DriverEntry returned the refusal: Device Manager's Code 37.
  assert.equal(dev.problem, CM_PROB_FAILED_DRIVER_ENTRY, label);
}

/** A registration NDIS accepted: the adapter is initialized and the run is clean. */
function assertAccepted(x: ReturnType<typeof register>, label: string): void {
  assert.equal(x.status, NDIS_STATUS_SUCCESS, label);
  assert.ok(x.drv.calls.includes('MiniportInitializeEx'), label);
  assert.equal(x.w.device('nic0').status, 'started', label);
  assert.equal(x.r.verdict, 'ok', `${label}: ${x.r.message ?? ''}`);
}

test("nf-ndis-ndismregisterminiportdriver: a second registration from one DriverEntry (the page's miniport-intermediate case) is not modelled, and says so; it replaced the first", () => {
  const drv = scriptedDriver('twice-nic');
  const mod: DriverModule = {
    name: 'twice-nic',
    load: () => {
      const image = drv.load();
      return {
        DriverEntry: (o, p) => {
          image.DriverEntry(o, p);
          return image.DriverEntry(o, p);
        },
      };
    },
  };
  const r = testWorld({ drivers: [mod], devices: [{ name: 'nic0', driver: mod.name }] }).run(100 * ns.ms);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /^NdisMRegisterMiniportDriver is not modelled.*second registration by twice-nic/,
  );
});

test('ns-ndis-_ndis_miniport_driver_characteristics: a device of its own for a driver registered with NDIS_INTERMEDIATE_DRIVER is not modelled, and says so (its adapters are virtual miniports: test/im.test.ts); NDIS_WDM_DRIVER is taken and shown in the trace', () => {
  const go = (Flags: number) => {
    const drv = scriptedDriver(`flags-${Flags}-nic`, {
      characteristics: (c) => {
        c.Flags = Flags;
      },
    });
    const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
    return { w, r: w.run(100 * ns.ms) };
  };
  const im = go(NDIS_INTERMEDIATE_DRIVER);
  assert.equal(im.r.verdict, 'not-modelled');
  assert.match(
    im.r.message ?? '',
    /^NdisMRegisterMiniportDriver is not modelled.*device nic0 names .*NDIS_INTERMEDIATE_DRIVER.*a device of its own/,
  );
  const wdm = go(NDIS_WDM_DRIVER);
  assert.equal(wdm.r.verdict, 'ok', wdm.r.message ?? '');
  const reg = wdm.w.trace.events.find((e) => e.what === 'NdisMRegisterMiniportDriver');
  assert.equal(reg?.data?.Flags, 'NDIS_WDM_DRIVER');
});

test('R2.1: a device whose driver fails DriverEntry shows Code 37, or Code 3 for NDIS_STATUS_RESOURCES; one that loads without registering shows Code 31, with a warning that it did not register', () => {
  // install/cm-prob-failed-driver-entry.md, cm-prob-out-of-memory.md, cm-prob-failed-add.md
  const problem = (entry: () => number) => {
    const mod: DriverModule = { name: 'entry-nic', load: () => ({ DriverEntry: entry }) };
    const w = testWorld({ drivers: [mod], devices: [{ name: 'nic0', driver: mod.name }] });
    const r = w.run(100 * ns.ms);
    const dev = w.device('nic0');
    assert.equal(dev.status, 'failed');
    // Only a DriverEntry that succeeds without registering is warned of: the others
    // tell their failure themselves.
    assert.deepEqual(
      r.warnings.filter((x) => x.ddi === 'DriverEntry').map((x) => x.message),
      dev.problem === CM_PROB_FAILED_ADD
        ? [
            'DriverEntry of entry-nic returned NDIS_STATUS_SUCCESS without calling NdisMRegisterMiniportDriver: NDIS has no registration of it, so its device gets no AddDevice and ends at Code 31 (CM_PROB_FAILED_ADD)',
          ]
        : [],
    );
    return dev.problem;
  };
  assert.equal(
    problem(() => NDIS_STATUS_FAILURE),
    CM_PROB_FAILED_DRIVER_ENTRY,
  );
  assert.equal(
    problem(() => NDIS_STATUS_RESOURCES),
    CM_PROB_OUT_OF_MEMORY,
  );
  assert.equal(
    problem(() => NDIS_STATUS_SUCCESS),
    CM_PROB_FAILED_ADD,
  );
});

test('R4.1, R2.2: MiniportCheckForHangEx without MiniportResetEx is a missing required handler (BAD_CHARACTERISTICS, or FAILURE with missingHandlerStatus) and no adapter; with it, accepted', () => {
  const hang = () => false;
  const refused = register('hang-no-reset', (c) => {
    c.CheckForHangHandlerEx = hang;
    c.ResetHandlerEx = null;
  });
  assertRefused(refused, NDIS_STATUS_BAD_CHARACTERISTICS, 'CheckForHang alone');
  // A reset handler is then a required one: option missingHandlerStatus decides the status.
  const failure = register(
    'hang-no-reset-failure',
    (c) => {
      c.CheckForHangHandlerEx = hang;
      c.ResetHandlerEx = null;
    },
    { missingHandlerStatus: 'failure' },
  );
  assertRefused(failure, NDIS_STATUS_FAILURE, 'CheckForHang alone, missingHandlerStatus failure');
  // Both present, or neither (CheckForHang is optional): accepted.
  assertAccepted(
    register('hang-and-reset', (c) => {
      c.CheckForHangHandlerEx = hang;
      c.ResetHandlerEx = () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false });
    }),
    'both',
  );
  assertAccepted(
    register('neither-hang-nor-reset', (c) => {
      c.CheckForHangHandlerEx = null;
      c.ResetHandlerEx = null;
    }),
    'neither',
  );
});

test('R2.2: DirectOidRequestHandler and CancelDirectOidRequestHandler come as a pair; either one alone is BAD_CHARACTERISTICS and no adapter', () => {
  const direct = () => NDIS_STATUS_SUCCESS;
  const cancelDirect = () => {};
  assertRefused(
    register('direct-only', (c) => {
      c.DirectOidRequestHandler = direct;
    }),
    NDIS_STATUS_BAD_CHARACTERISTICS,
    'direct without cancel',
  );
  assertRefused(
    register('cancel-direct-only', (c) => {
      c.CancelDirectOidRequestHandler = cancelDirect;
    }),
    NDIS_STATUS_BAD_CHARACTERISTICS,
    'cancel without direct',
  );
  assertAccepted(
    register('direct-pair', (c) => {
      c.DirectOidRequestHandler = direct;
      c.CancelDirectOidRequestHandler = cancelDirect;
    }),
    'both',
  );
});

test('R2.2: a DirectOidRequestHandler or CancelDirectOidRequestHandler that is not a routine is BAD_CHARACTERISTICS at registration, not a crash at the first direct OID request (stop-36 review T7)', () => {
  const direct = () => NDIS_STATUS_SUCCESS;
  const cancelDirect = () => {};
  // A JavaScript driver (no type check) or a cast: the values the characteristics type refuses.
  const notRoutine = 42 as unknown as typeof direct;
  for (const [label, edit, why] of [
    [
      'direct 42',
      (c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS) => {
        c.DirectOidRequestHandler = notRoutine;
        c.CancelDirectOidRequestHandler = cancelDirect;
      },
      /DirectOidRequestHandler is neither a routine nor NULL/,
    ],
    [
      'cancel direct 42',
      (c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS) => {
        c.DirectOidRequestHandler = direct;
        c.CancelDirectOidRequestHandler = notRoutine;
      },
      /CancelDirectOidRequestHandler is neither a routine nor NULL/,
    ],
  ] as const) {
    const x = register(label.replaceAll(' ', '-'), edit);
    assertRefused(x, NDIS_STATUS_BAD_CHARACTERISTICS, label);
    const reg = x.w.trace.events.find((e) => e.what === 'NdisMRegisterMiniportDriver');
    assert.match(String(reg?.data?.why), why, label);
  }
  // A revision 1 structure ends before these members: NDIS never reads them (R2.1's warning).
  const rev1 = register('direct-42-rev1', (c) => {
    c.Header.Revision = 1;
    c.DirectOidRequestHandler = notRoutine;
    c.CancelDirectOidRequestHandler = notRoutine;
  });
  assertAccepted(rev1, 'revision 1');
  assert.ok(
    rev1.r.warnings.some((wn) => /Header\.Revision 1 and sets DirectOidRequestHandler/.test(wn.message)),
  );
});

test('R2.1, R2.2: an NDIS 6 minor version that was never released (6.2, 6.31, 6.90) is BAD_VERSION and no adapter; released ones (6.0, 6.30, 6.89) are accepted', () => {
  // Released NDIS 6 versions: 6.0, 6.1, 6.20, 6.30, 6.40, 6.50, 6.51, 6.60, 6.70, 6.80–6.89.
  for (const minor of [2, 31, 90]) {
    const x = register(`ndis-6-${minor}`, (c) => {
      c.MinorNdisVersion = minor;
    });
    assertRefused(x, NDIS_STATUS_BAD_VERSION, `6.${minor}`);
  }
  for (const minor of [0, 30, 89]) {
    assertAccepted(
      register(`ndis-6-${minor}-ok`, (c) => {
        c.MinorNdisVersion = minor;
      }),
      `6.${minor}`,
    );
  }
});

// ----------------------------------------------------------- status indications

test('R2.7, R6.16 NdisSim_StatusBeforeRegistration: NdisMIndicateStatusEx before the registration attributes is reported and dropped; right after them it is allowed', () => {
  const run = (name: string, hooks: Hooks) => {
    const drv = scriptedDriver(name, hooks);
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: name }],
      options: { verifier: 'collect' },
    });
    return w.run(500 * ns.ms);
  };
  const early = run('status-too-early', {
    // The scripted MiniportInitializeEx sets the registration attributes first thing:
    // indicate before handing over to it.
    characteristics: (c) => {
      const init = c.InitializeHandlerEx;
      c.InitializeHandlerEx = (handle, ctx, params) => {
        NdisMIndicateStatusEx(handle, linkStateIndication(handle, true, 1e9));
        return init(handle, ctx, params);
      };
    },
  });
  assert.deepEqual(
    early.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_StatusBeforeRegistration', 'NdisMIndicateStatusEx', 'nic0']],
  );
  assert.match(early.violations[0]!.message, /before the registration attributes/);
  // The hook runs after the scripted init set its attributes: the same indication is fine.
  const inTime = run('status-in-time', {
    initialize: (a) => {
      NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, true, 1e9));
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(inTime.violations, []);
  assert.equal(inTime.verdict, 'ok');
});

// ------------------------------------------------- OID_GEN_MEDIA_CONNECT_STATUS

/** OID_GEN_MEDIA_CONNECT_STATUS as a protocol asks it, answered by NDIS at once. */
function connectStatus(w: ReturnType<typeof testWorld>): unknown {
  const req: NDIS_OID_REQUEST = {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: NDIS_OID_REQUEST_REVISION_1 },
    RequestType: NdisRequestQueryInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: 'media',
    RequestHandle: null,
    DATA: oidRequestData(OID_GEN_MEDIA_CONNECT_STATUS, null, 4),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
  assert.equal(NdisOidRequest(w.adapter('nic0')!.bindings[0]!, req), NDIS_STATUS_SUCCESS);
  return req.DATA.QUERY_INFORMATION.InformationBuffer;
}

test('R6.17: NDIS answers OID_GEN_MEDIA_CONNECT_STATUS from the MediaConnectState of the general attributes until a link-state indication changes it', () => {
  for (const [initial, expected] of [
    [MediaConnectStateConnected, NdisMediaStateConnected],
    [MediaConnectStateDisconnected, NdisMediaStateDisconnected],
  ] as const) {
    const drv = scriptedDriver(`initial-link-${initial}`, {
      generalAttributes: { MediaConnectState: initial },
    });
    const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
    assert.equal(w.run(100 * ns.ms).verdict, 'ok');
    assert.equal(connectStatus(w), expected, `initial MediaConnectState ${initial}`);
  }
});

test('R6.17: after NDIS_STATUS_LINK_STATE indications NDIS answers OID_GEN_MEDIA_CONNECT_STATUS with the last indicated state', () => {
  // Connected at init, down at 200 ms, up again at 400 ms.
  const drv = scriptedDriver('link-flap', {
    initialize: (a) => {
      after(a, 200, (x) => NdisMIndicateStatusEx(x.handle, linkStateIndication(x.handle, false, 0)));
      after(a, 400, (x) => NdisMIndicateStatusEx(x.handle, linkStateIndication(x.handle, true, 1e9)));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
  });
  const seen: unknown[] = [];
  for (const t of [100, 300, 500]) {
    w.run(t * ns.ms);
    seen.push(connectStatus(w));
  }
  assert.deepEqual(seen, [NdisMediaStateConnected, NdisMediaStateDisconnected, NdisMediaStateConnected]);
  assert.deepEqual(w.run(600 * ns.ms).violations, []);
});

// ------------------------------------------------------------------------ timers

test('R8.5: NdisSetTimerObject returns TRUE only when the timer was still queued, which re-arms it (one expiry, at the new time)', () => {
  const returned: boolean[] = [];
  const firedAfterMs: number[] = [];
  let setAt = 0;
  const drv = scriptedDriver('set-timer-result', {
    initialize: (a) => {
      const t: NDIS_HANDLE = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => {
          firedAfterMs.push((NdisGetCurrentSystemTime() - setAt) / 10_000);
          // Fired, so no longer queued: setting it again is not a re-arm.
          if (firedAfterMs.length === 1) returned.push(NdisSetTimerObject(t, -10 * 10_000, 0, null));
        }),
      ).TimerObject!;
      a.state.timer = t;
      setAt = NdisGetCurrentSystemTime();
      returned.push(NdisSetTimerObject(t, -10 * 10_000, 0, null)); // idle: FALSE
      returned.push(NdisSetTimerObject(t, -20 * 10_000, 0, null)); // queued: TRUE, now due at 20 ms
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      NdisCancelTimerObject(a.state.timer as NDIS_HANDLE);
      NdisFreeTimerObject(a.state.timer as NDIS_HANDLE);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 500 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(returned, [false, true, false]);
  // The re-armed expiry replaced the first: 20 ms, then 10 ms after that one; DPC latency aside.
  assert.equal(firedAfterMs.length, 2);
  assert.ok(firedAfterMs[0]! >= 20 && firedAfterMs[0]! < 21, String(firedAfterMs));
  assert.ok(firedAfterMs[1]! >= 30 && firedAfterMs[1]! < 31, String(firedAfterMs));
});

/** Seeded random choices, except that every DPC waits as long as the model allows. */
function slowDpcs(seed: number): Strategy {
  const random = new RandomStrategy(seed);
  return {
    name: 'slow-dpcs',
    pick: (site, count) => (site === ChoiceSite.DpcLatency ? count - 1 : random.pick(site, count)),
  };
}

test('R8.6: NdisCancelTimerObject on a periodic timer at PASSIVE runs the callback already queued before it returns, so the timer can be freed at once', () => {
  const log: string[] = [];
  let fired = 0;
  const drv = scriptedDriver('periodic-cancel', {
    initialize: (a) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => {
          fired++;
        }),
      ).TimerObject!;
      // Due in 1 ms, then every second. Sleep 1 ms + 1 µs: the expiry happens during the
      // sleep and queues the timer's DPC, which (DPC latency at its maximum) has not run yet.
      NdisSetTimerObject(t, -10_000, 1000, null);
      NdisMSleep(1001);
      log.push(`before cancel: ${fired}`);
      // The next period is queued: TRUE. The queued callback runs before the call returns.
      log.push(`cancel: ${NdisCancelTimerObject(t)}`);
      log.push(`after cancel: ${fired}`);
      NdisFreeTimerObject(t);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect', strategy: slowDpcs(1) },
  });
  const r = w.run(3 * ns.s);
  assert.deepEqual(log, ['before cancel: 0', 'cancel: true', 'after cancel: 1']);
  // Freed with nothing queued: no NdisSim_TimerFreedWhileSet; and no later expiry.
  assert.deepEqual(r.violations, []);
  assert.equal(fired, 1);
});

test('R4.1: an NDIS 6.83 or later driver that registers check-for-hang or reset gets a warning (the pages discourage them); 6.82, or 6.89 without them, does not', () => {
  const warned = (minor: number, handlers: boolean) => {
    const x = register(`cfh-${minor}-${handlers}`, (c) => {
      c.MinorNdisVersion = minor;
      c.CheckForHangHandlerEx = handlers ? () => false : null;
      c.ResetHandlerEx = handlers ? () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }) : null;
    });
    assertAccepted(x, `6.${minor}`);
    return x.r.warnings.map((w) => [w.rule, w.ddi]);
  };
  assert.deepEqual(warned(89, true), [['R4.1', 'NdisMRegisterMiniportDriver']]);
  assert.deepEqual(warned(83, true), [['R4.1', 'NdisMRegisterMiniportDriver']]);
  assert.deepEqual(warned(82, true), []);
  assert.deepEqual(warned(89, false), []);
});

test('NdisSim_ObjectFreedInUse: NdisMDeregisterMiniportDriver a second time with the same handle (nf-ndis-ndismderegisterminiportdriver)', () => {
  // The scripted driver's MiniportDriverUnload deregisters after the hook; the hook
  // deregistering first makes the driver's own call the second one.
  const twice = removedScripted('dereg-twice', { unload: (h) => NdisMDeregisterMiniportDriver(h) });
  assert.deepEqual(
    twice.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_ObjectFreedInUse', 'NdisMDeregisterMiniportDriver']],
  );
  assert.match(
    twice.r.violations[0]!.message,
    /dereg-twice: NdisMDeregisterMiniportDriver called a second time/,
  );
  assert.deepEqual(removedScripted('dereg-once', {}).r.violations, []);
});
