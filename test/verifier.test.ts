// The verifier: modes, the catalogue, the bug-check report, and the reference
// drivers across many seeds.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ms, rawTimer, rxNbl, rxPool, spinLock } from '../src/drivers/buggy/kit.ts';
import { linkStateIndication } from '../src/drivers/common.ts';
import { driverNames } from '../src/drivers/index.ts';
import {
  CmResourceTypeMemory,
  type NDIS_HANDLE,
  type NDIS_IO_WORKITEM_FUNCTION,
  NDIS_LOWER_IRQL,
  type NDIS_MINIPORT_ADAPTER_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_BAD_VERSION,
  NDIS_STATUS_FAILURE,
  type NDIS_STATUS_INDICATION,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_MEDIA_CONNECT,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateSpinLock,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeMemoryWithTagPriority,
  NdisFreeSpinLock,
  NdisMIndicateReceiveNetBufferLists,
  NdisMIndicateStatusEx,
  NdisMMapIoSpace,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMRegisterInterruptEx,
  NdisMSetMiniportAttributes,
  NdisMSleep,
  NdisQueueIoWorkItem,
  NdisReleaseSpinLock,
  NdisSetTimerObject,
  NdisStallExecution,
  OID_GEN_STATISTICS,
} from '../src/index.ts';
import { msRules } from '../src/ndis/generated/rules.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { catalogue, unknownMappings } from '../src/verifier/catalogue.ts';
import { after, type Hooks, idleInterrupt, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, statisticsQuery, testWorld } from './helpers/world.ts';

test('the catalogue has every rule of rules.json, each enforced or not applicable with a reason', () => {
  assert.deepEqual(unknownMappings, []);
  for (const r of msRules) {
    const c = catalogue.get(r.name);
    assert.ok(c !== undefined, r.name);
    if (c.status.kind === 'not-applicable')
      assert.ok(c.status.reason.length > 20, `${r.name}: a real reason`);
    else
      assert.ok(
        c.bugCheck !== null && c.spec.length > 0,
        `${r.name}: enforced rules name a bug check and spec rules`,
      );
  }
  const mini = msRules.filter((r) => r.miniport);
  assert.equal(mini.length, 57);
});

test("each of ndis-sim's own rules has a bug-check parameter 1 of its own (0x4E53xxxx), so a dump names one rule", () => {
  // Three branches merged in one stop once each gave its new rule 0x4E5300FB.
  const owners = new Map<number, string[]>();
  for (const [id, c] of catalogue) {
    const p1 = c.bugCheck?.p1;
    if (p1 === null || p1 === undefined || p1 >>> 16 !== 0x4e53) continue;
    owners.set(p1, [...(owners.get(p1) ?? []), id]);
  }
  assert.ok(owners.size > 100, `${owners.size} simCodes`);
  const shared = [...owners]
    .filter(([, ids]) => ids.length > 1)
    .map(([p1, ids]) => `0x${p1.toString(16)}: ${ids.join(', ')}`);
  assert.deepEqual(shared, []);
});

test('ndis-sim rules prints every rule and the counts; rules <id> explains one', () => {
  const r = spawnSync(process.execPath, ['bin/ndis-sim.js', 'rules', '--no-color'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const m of msRules) assert.match(r.stdout, new RegExp(`^${m.name} `, 'm'));
  const enforced = msRules.filter(
    (m) => m.miniport && catalogue.get(m.name)!.status.kind === 'enforced',
  ).length;
  assert.match(
    r.stdout,
    new RegExp(`about miniports: 57 — ${enforced} enforced, ${57 - enforced} not applicable`),
  );
  const one = spawnSync(
    process.execPath,
    ['bin/ndis-sim.js', 'rules', 'NdisTimedOidComplete', '--no-color'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(one.status, 0);
  assert.match(one.stdout, /DRIVER_VERIFIER_DETECTED_VIOLATION \(0xC4\/0x92003\)/);
  assert.match(
    one.stdout,
    /learn\.microsoft\.com\/en-us\/windows-hardware\/drivers\/devtest\/ndis-ndistimedoidcomplete/,
  );
  assert.match(one.stdout, /R6\.6/);
  const bad = spawnSync(process.execPath, ['bin/ndis-sim.js', 'rules', 'SpinLok'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /did you mean SpinLock\?/);
});

/** A driver that breaks three rules, none of which stops NDIS from going on. */
function threeRuleDriver() {
  return scriptedDriver('three-rules-nic', {
    initialize: (a) => {
      // NdisAllocateMemoryWithTagPriority: no pool tag of its own.
      const mem = NdisAllocateMemoryWithTagPriority(a.handle, 256, 0, 0);
      if (mem !== null) NdisFreeMemoryWithTagPriority(a.handle, mem, 0);
      return NDIS_STATUS_SUCCESS;
    },
    restart: () => {
      // NdisStallExecution_Delay: a 1 ms busy wait.
      NdisStallExecution(1000);
      return NDIS_STATUS_SUCCESS;
    },
    dpc: (a) => {
      // NdisSim_PauseCompleteUnexpected: no pause is pending.
      NdisMPauseComplete(a.handle);
    },
  });
}

test('collect mode reports every violation of a driver that breaks three rules in one run', () => {
  const drv = threeRuleDriver();
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'three-rules-nic', faults: { linkDownAtNs: 1 * ns.s } }],
    options: { verifier: 'collect' },
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'violations');
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisAllocateMemoryWithTagPriority', 'NdisStallExecution_Delay', 'NdisSim_PauseCompleteUnexpected'],
  );
  // The run went on to the end.
  assert.equal(w.adapter('nic0')!.state, 'Running');
  // In bugcheck mode the first one stops the machine.
  const b = testWorld({
    drivers: [threeRuleDriver()],
    devices: [{ name: 'nic0', driver: 'three-rules-nic', faults: { linkDownAtNs: 1 * ns.s } }],
  }).run(2 * ns.s);
  assert.equal(b.verdict, 'bugcheck');
  assert.equal(b.violations.length, 1);
  assert.equal(b.bugCheck!.rule, 'NdisAllocateMemoryWithTagPriority');
});

test('off mode skips the checks that cost time', () => {
  const r = testWorld({
    drivers: [threeRuleDriver()],
    devices: [{ name: 'nic0', driver: 'three-rules-nic', faults: { linkDownAtNs: 1 * ns.s } }],
    options: { verifier: 'off' },
  }).run(2 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(r.violations.length, 0);
});

test('a bug check names the rule, summary, DDI, adapter, CPU, IRQL, virtual time and the events before it', () => {
  const drv = threeRuleDriver();
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'three-rules-nic' }] });
  const r = w.run(1 * ns.s);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisAllocateMemoryWithTagPriority');
  assert.equal(v.ddi, 'NdisAllocateMemoryWithTagPriority');
  assert.equal(v.adapter, 'nic0');
  assert.equal(v.irql, 0);
  assert.ok(v.timeNs > 0);
  assert.ok(v.tracePos > 0 && v.tracePos <= w.trace.events.length);
  assert.equal(w.trace.events[w.trace.events.length - 1]!.kind, 'bugcheck');
});

// healthy-nic and flaky-nic (reset storm, SimNic traffic) and vmini (hub traffic, an
// unplug, NdisMRemoveMiniport with an OID pending); vmini's run is cut at 3 s, after
// both removals.
const referenceRuns: [string, number, number | null][] = [
  ['examples/reset-storm.yaml', 200, null],
  ['examples/simnic-traffic.yaml', 200, null],
  ['examples/vmini-traffic.yaml', 200, 3 * ns.s],
];

for (const [file, seeds, until] of referenceRuns) {
  test(`reference drivers break no rule: ${file} over ${seeds} seeds`, () => {
    const s = loadScenario(file, driverNames());
    for (let seed = 1; seed <= seeds; seed++) {
      const w = buildWorld(s, { seed, trace: false });
      const r = w.run(until ?? untilNs(s));
      assert.equal(
        r.verdict,
        'ok',
        `seed ${seed}: ${r.violations.map((v) => `${v.rule}: ${v.message}`).join('; ')}`,
      );
      for (const a of w.summary().adapters) {
        assert.equal(a.data.sent, a.data.completed + a.sendsOutstanding, `seed ${seed} ${a.name}: sends`);
        assert.equal(
          a.data.indicated,
          a.data.returned + a.receivesOutstanding,
          `seed ${seed} ${a.name}: receives`,
        );
        if (a.state === 'Halted') assert.equal(a.sendsOutstanding + a.receivesOutstanding, 0);
      }
    }
  });
}

test('R2.4: mapping registers or registering the interrupt before the registration attributes is NdisSim_AttributesOrder', () => {
  for (const early of ['NdisMMapIoSpace', 'NdisMRegisterInterruptEx'] as const) {
    const drv = scriptedDriver(`early-${early}`, {
      characteristics: (c) => {
        const init = c.InitializeHandlerEx;
        c.InitializeHandlerEx = (handle, ctx, params) => {
          // Claims the hardware first, as a driver that sets its attributes late would.
          const mem = params.AllocatedResources!.PartialDescriptors[0]!;
          if (early === 'NdisMMapIoSpace' && mem.Type === CmResourceTypeMemory)
            NdisMMapIoSpace(handle, mem.u.Memory.Start, 16);
          else NdisMRegisterInterruptEx(handle, null, idleInterrupt());
          return init(handle, ctx, params);
        };
      },
    });
    const r = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] }).run(1 * ns.s);
    assert.equal(r.verdict, 'bugcheck', early);
    assert.equal(r.bugCheck!.rule, 'NdisSim_AttributesOrder', early);
    assert.equal(r.bugCheck!.ddi, early);
    assert.match(r.bugCheck!.message, /before the registration attributes/);
  }
  // The base driver sets them first and passes.
  const ok = scriptedDriver('attributes-first');
  assert.equal(
    testWorld({ drivers: [ok], devices: [{ name: 'nic0', driver: ok.name }] }).run(1 * ns.s).verdict,
    'ok',
  );
});

test('R2.4: other attribute kinds (hardware assist, offload) come after the general ones; accepted, they leave a model note, and an unknown kind is not modelled', () => {
  const hw = (handle: NDIS_HANDLE) =>
    NdisMSetMiniportAttributes(handle, {
      Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES, Revision: 1 },
    } as unknown as NDIS_MINIPORT_ADAPTER_ATTRIBUTES);
  const statuses: number[] = [];
  const after = scriptedDriver('hw-assist-after', {
    initialize: (a) => {
      statuses.push(hw(a.handle));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const r = testWorld({ drivers: [after], devices: [{ name: 'nic0', driver: after.name }] }).run(1 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(statuses, [NDIS_STATUS_SUCCESS]);
  assert.deepEqual(r.modelNotes, [
    'nic0: hardware-assist (VMQ, SR-IOV, RSS) attributes accepted (NdisMSetMiniportAttributes), but what NDIS does with them is not modelled',
  ]);
  // Before the general attributes: out of order.
  const before = scriptedDriver('hw-assist-before', {
    characteristics: (c) => {
      const init = c.InitializeHandlerEx;
      c.InitializeHandlerEx = (handle, ctx, params) => {
        NdisMSetMiniportAttributes(handle, {
          Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 },
          MiniportAdapterContext: null,
          AttributeFlags: 0,
          CheckForHangTimeInSeconds: 2,
          InterfaceType: 5,
        });
        hw(handle);
        return init(handle, ctx, params);
      };
    },
  });
  const b = testWorld({ drivers: [before], devices: [{ name: 'nic0', driver: before.name }] }).run(1 * ns.s);
  assert.equal(b.bugCheck?.rule, 'NdisSim_AttributesOrder');
  assert.match(
    b.bugCheck!.message,
    /hardware-assist \(VMQ, SR-IOV, RSS\) attributes before general attributes/,
  );
  // A kind the model does not know at all stops the run as not modelled.
  const odd = scriptedDriver('odd-attributes', {
    initialize: (a) => {
      NdisMSetMiniportAttributes(a.handle, {
        Header: { Type: 0x42, Revision: 1 },
      } as unknown as NDIS_MINIPORT_ADAPTER_ATTRIBUTES);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const o = testWorld({ drivers: [odd], devices: [{ name: 'nic0', driver: odd.name }] }).run(1 * ns.s);
  assert.equal(o.verdict, 'not-modelled');
  assert.match(o.message ?? '', /NdisMSetMiniportAttributes.*attribute object type 0x42/);
});

test("R2.5, R2.6: leaks after a failed init, and after the halt right after a successful init, have NDIS's own 0x7C subcodes and parameters", () => {
  const keepInterrupt = (a: TestAdapter): void => {
    a.interrupt = null; // the cleanup skips NdisMDeregisterInterruptEx
  };
  const setTimer = (a: TestAdapter): void => {
    NdisSetTimerObject(
      rawTimer(a, () => {}),
      ms(2000),
      0,
      null,
    ); // not in a.timers: never cancelled
  };
  const cases: [string, Hooks, (string | number)[]][] = [
    [
      'init fails, interrupt left',
      {
        initialize: (a) => {
          keepInterrupt(a);
          return NDIS_STATUS_FAILURE;
        },
      },
      [0x0b, 'NDIS_MINIPORT_INTERRUPT'],
    ],
    [
      'init fails, timer left',
      {
        initialize: (a) => {
          setTimer(a);
          return NDIS_STATUS_FAILURE;
        },
      },
      [0x0c, 'timer queue'],
    ],
    [
      'halt after init, interrupt left',
      { noGeneralAttributes: true, halt: keepInterrupt },
      [0x0d, 'NDIS_MINIPORT_INTERRUPT'],
    ],
    [
      'halt after init, timer left',
      {
        noGeneralAttributes: true,
        initialize: (a) => {
          setTimer(a);
          return NDIS_STATUS_SUCCESS;
        },
      },
      [0x0e, 'timer queue'],
    ],
  ];
  for (const [what, hooks, [sub, p3]] of cases) {
    const w = testWorld({
      drivers: [scriptedDriver('leaky', hooks)],
      devices: [{ name: 'nic0', driver: 'leaky' }],
    });
    const r = w.run(1 * ns.s);
    assert.equal(r.verdict, 'bugcheck', what);
    assert.equal(r.bugCheck!.bugCheck.code, 0x7c, what);
    assert.deepEqual(r.bugCheck!.bugCheck.params, [sub, 'nic0', p3, 0], what);
  }
});

test('NdisSim_ObjectFreedInUse: a spin lock acquired after NdisFreeSpinLock names who allocated it and who freed it, when', () => {
  const l = new NDIS_SPIN_LOCK();
  const w = testWorld({
    drivers: [
      scriptedDriver('lock-uaf', {
        initialize: () => {
          NdisAllocateSpinLock(l);
          return NDIS_STATUS_SUCCESS;
        },
        pause: () => {
          NdisFreeSpinLock(l); // BUG: MiniportHaltEx still takes it
          return NDIS_STATUS_SUCCESS;
        },
        halt: () => NdisAcquireSpinLock(l),
      }),
    ],
    devices: [{ name: 'nic0', driver: 'lock-uaf' }],
    actions: [{ atNs: ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ObjectFreedInUse');
  assert.match(
    r.bugCheck!.message,
    /^NdisAcquireSpinLock on a freed spin lock: allocated by lock-uaf in MiniportInitializeEx \(nic0\), freed by lock-uaf in MiniportPause \(nic0\) at 1\.\d+ s \(a use after free\)/,
  );
});

test("R8.10: spin lock calls at the wrong IRQL stop with Driver Verifier's own 0xC4 codes, parameter 2 the IRQL, parameter 3 the lock's stand-in", () => {
  const lock = (): NDIS_SPIN_LOCK => {
    const l = new NDIS_SPIN_LOCK();
    NdisAllocateSpinLock(l);
    return l;
  };
  const cases: [string, Hooks, number, number][] = [
    // KeAcquireSpinLock above DISPATCH_LEVEL.
    ['acquire at DIRQL', { isr: () => NdisAcquireSpinLock(lock()) }, 0x42, 3],
    [
      'a second release at PASSIVE',
      {
        restart: () => {
          const l = lock();
          NdisAcquireSpinLock(l);
          NdisReleaseSpinLock(l);
          NdisReleaseSpinLock(l);
          return NDIS_STATUS_SUCCESS;
        },
      },
      0x32,
      0,
    ],
    [
      'Dpr acquire at PASSIVE',
      {
        restart: () => {
          NdisDprAcquireSpinLock(lock());
          return NDIS_STATUS_SUCCESS;
        },
      },
      0x40,
      0,
    ],
    [
      'Dpr release at PASSIVE',
      {
        restart: () => {
          NdisDprReleaseSpinLock(lock());
          return NDIS_STATUS_SUCCESS;
        },
      },
      0x41,
      0,
    ],
  ];
  for (const [what, hooks, sub, irql] of cases) {
    const w = testWorld({
      drivers: [scriptedDriver('locky', hooks)],
      devices: [{ name: 'nic0', driver: 'locky', faults: { linkDownAtNs: 1 * ns.s } }],
    });
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'bugcheck', what);
    assert.equal(r.bugCheck!.bugCheck.code, 0xc4, what);
    // Parameter 3 is the spin lock's address (0xC4 page): a stand-in, never 0 (review-dv #5).
    assert.deepEqual(r.bugCheck!.bugCheck.params.slice(0, 3), [sub, irql, 'spin lock'], what);
  }
});

test('R8.10: above DISPATCH the Dpr pair has no Driver Verifier code of its own: NdisDprAcquireSpinLock or NdisDprReleaseSpinLock in the ISR is 0xD1 under Irql_Synch_Function, parameter 2 the IRQL (docs/model.md says so)', () => {
  for (const [ddi, call] of [
    ['NdisDprAcquireSpinLock', NdisDprAcquireSpinLock],
    ['NdisDprReleaseSpinLock', NdisDprReleaseSpinLock],
  ] as const) {
    const l = new NDIS_SPIN_LOCK();
    const w = testWorld({
      drivers: [
        scriptedDriver('dpr-isr', {
          initialize: () => {
            NdisAllocateSpinLock(l);
            return NDIS_STATUS_SUCCESS;
          },
          isr: () => call(l),
        }),
      ],
      devices: [{ name: 'nic0', driver: 'dpr-isr', faults: { linkDownAtNs: 1 * ns.s } }],
    });
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'bugcheck', ddi);
    assert.deepEqual([r.bugCheck!.rule, r.bugCheck!.ddi], ['Irql_Synch_Function', ddi]);
    assert.equal(r.bugCheck!.bugCheck.code, 0xd1, ddi);
    assert.deepEqual(r.bugCheck!.bugCheck.params.slice(0, 3), [0, 3, 0], ddi);
  }
  // The sentence of docs/model.md that says it.
  const model = readFileSync('docs/model.md', 'utf8');
  assert.match(
    model,
    /Above DISPATCH the Dpr pair has no code of Driver\s+Verifier's: it is 0xD1 under `Irql_Synch_Function`/,
  );
});

test('R8.10: a lock taken with NdisAcquireSpinLock and released with NdisDprReleaseSpinLock is NdisSim_SpinLockPairMismatch; the IRQL stays raised', () => {
  const drv = scriptedDriver('pair-nic', {
    restart: () => {
      const l = new NDIS_SPIN_LOCK();
      NdisAllocateSpinLock(l);
      NdisAcquireSpinLock(l);
      NdisDprReleaseSpinLock(l);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'pair-nic' }],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [
      ['NdisSim_SpinLockPairMismatch', 'NdisDprReleaseSpinLock'],
      // The Dpr release did not lower the IRQL: MiniportRestart returns at DISPATCH.
      ['NdisSim_IrqlOnReturn', 'MiniportRestart'],
    ],
  );
});

test('R8.8: NdisQueueIoWorkItem without a routine is NdisSim_BadParameter, not a crash later in the worker', () => {
  const drv = scriptedDriver('wi-nic', {
    initialize: (a) => {
      const item = NdisAllocateIoWorkItem(a.handle)!;
      NdisQueueIoWorkItem(item, null as unknown as NDIS_IO_WORKITEM_FUNCTION, null);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'wi-nic' }] });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck!.rule, 'NdisSim_BadParameter');
  assert.equal(r.bugCheck!.ddi, 'NdisQueueIoWorkItem');
  assert.match(r.bugCheck!.message, /Routine is not a function/);
});

test('R8.3: NDIS_LOWER_IRQL lowers only when its two arguments differ; lowering to a higher IRQL is 0xC4/0x31', () => {
  const drv = scriptedDriver('lower-nic', {
    restart: () => {
      NDIS_LOWER_IRQL(2, 2); // equal arguments: the macro does nothing, whatever the IRQL
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      NDIS_LOWER_IRQL(old, 2);
      NdisMSleep(10); // PASSIVE only: the lower above went back to PASSIVE
      NDIS_LOWER_IRQL(2, 0); // KeLowerIrql(DISPATCH) at PASSIVE
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'lower-nic' }],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  // 0xC4/0x31: parameter 2 the current IRQL (PASSIVE), 3 the IRQL asked for (DISPATCH), 4 zero.
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.bugCheck.code, ...v.bugCheck.params]),
    [['Irql_IrqlSetting_Function', 0xc4, 0x31, 0, 2, 0]],
  );
});

test('nf-ndis-ndis_lower_irql: an _OldIrql the immediately preceding NDIS_RAISE_IRQL_TO_DISPATCH did not return is Irql_IrqlSetting_Function; inside a DPC, below DISPATCH, 0xC4/0x31 with parameter 4 one', () => {
  const drv = scriptedDriver('lower-order-nic', {
    restart: (a) => {
      const outer = NDIS_RAISE_IRQL_TO_DISPATCH(); // PASSIVE
      const inner = NDIS_RAISE_IRQL_TO_DISPATCH(); // DISPATCH
      NDIS_LOWER_IRQL(inner, 2); // equal: no KeLowerIrql; undoes the inner raise
      NDIS_LOWER_IRQL(outer, 2); // the right order: silent
      const first = NDIS_RAISE_IRQL_TO_DISPATCH(); // PASSIVE
      NDIS_RAISE_IRQL_TO_DISPATCH(); // DISPATCH, lowered next with the first's value
      NDIS_LOWER_IRQL(first, 2); // the preceding raise returned DISPATCH
      after(a, 10, () => NDIS_LOWER_IRQL(0, 2)); // a timer DPC lowering to PASSIVE, no raise
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'lower0', driver: 'lower-order-nic' }],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  const seen = r.violations.filter((v) => v.ddi === 'NDIS_LOWER_IRQL');
  assert.deepEqual(
    seen.map((v) => v.rule),
    ['Irql_IrqlSetting_Function', 'Irql_IrqlSetting_Function'],
  );
  assert.notEqual(seen[0]!.bugCheck.params[0], 0x31); // out of a DPC Driver Verifier has no code for it
  // 0xC4/0x31: the current IRQL (DISPATCH), the IRQL asked for (PASSIVE), 1: invalid inside a DPC.
  assert.deepEqual([seen[1]!.bugCheck.code, ...seen[1]!.bugCheck.params], [0xc4, 0x31, 2, 0, 1]);
  assert.match(seen[0]!.message, /immediately preceding NDIS_RAISE_IRQL_TO_DISPATCH returned DISPATCH;/);
  assert.match(seen[1]!.message, /no NDIS_RAISE_IRQL_TO_DISPATCH of this code is left to undo.*DPC routine/);
});

/** The gallery scenario of `rule`, run with the verifier in `mode`. */
function runGallery(rule: string, mode: 'bugcheck' | 'collect' = 'bugcheck') {
  const s = loadScenario(`examples/gallery/${rule}.yaml`, driverNames());
  const w = buildWorld(s, { verifier: mode });
  return { w, r: w.run(untilNs(s)) };
}

test('Irql_Synch_Function, Irql_IrqlSetting_Function (R8.10, R8.3): the catalogue gives the bug check of each DDI Driver Verifier checks itself, and `rules` prints it', () => {
  const synch = catalogue.get('Irql_Synch_Function')!;
  assert.deepEqual(synch.ddiBugChecks?.NdisAcquireSpinLock, [null, { code: 0xc4, p1: 0x42 }]);
  assert.deepEqual(synch.ddiBugChecks?.NdisDprAcquireSpinLock, [{ code: 0xc4, p1: 0x40 }, null]);
  const setting = catalogue.get('Irql_IrqlSetting_Function')!;
  assert.deepEqual(setting.ddiBugChecks?.NDIS_RAISE_IRQL_TO_DISPATCH, [null, { code: 0xc4, p1: 0x30 }]);
  const out = spawnSync(process.execPath, ['bin/ndis-sim.js', 'rules', 'Irql_Synch_Function'], {
    encoding: 'utf8',
  }).stdout;
  assert.match(out, /The bug check depends on the call/);
  assert.match(out, /NdisAcquireSpinLock above DISPATCH: 0xC4\/0x42/);
  assert.match(out, /NdisReleaseSpinLock at any IRQL but DISPATCH: 0xC4\/0x32/);
  assert.match(out, /DRIVER_IRQL_NOT_LESS_OR_EQUAL \(0xD1\) for any other call/);
  assert.doesNotMatch(out, /calls, with/);
});

test('Irql_IrqlSetting_Function (R8.3): NDIS_RAISE_IRQL_TO_DISPATCH at DIRQL is KeRaiseIrql asked to lower, 0xC4/0x30 with the current IRQL and the IRQL asked for', () => {
  const { r } = runGallery('Irql_IrqlSetting_Function');
  const v = r.bugCheck!;
  assert.equal(v.rule, 'Irql_IrqlSetting_Function');
  assert.equal(v.ddi, 'NDIS_RAISE_IRQL_TO_DISPATCH');
  assert.deepEqual([v.bugCheck.code, ...v.bugCheck.params], [0xc4, 0x30, 3, 2, 0]);
});

test('NdisOidComplete, NdisOidDoubleComplete (R6.3): 0xC4/0x91001 and 0x91002 carry the condition, the rule state and the supplemental state (status.json), and name the OID', () => {
  for (const [rule, p1, condition] of [
    ['NdisOidComplete', 0x91001, 'OID request completed with NDIS_STATUS_PENDING'],
    ['NdisOidDoubleComplete', 0x91002, 'OID request completed twice'],
  ] as const) {
    const v = runGallery(rule).r.bugCheck!;
    assert.equal(v.rule, rule);
    assert.deepEqual(v.bugCheck.params, [p1, condition, 'nic0 rule state', 'nic0 supplemental state']);
    assert.ok(!v.bugCheck.params.includes('NDIS_OID_REQUEST'), rule);
    assert.match(v.message, /OID_GEN_CURRENT_PACKET_FILTER/, rule);
  }
});

test('NdisSim_ResetDoubleComplete (R3.10, R4.15): NdisMResetComplete inside MiniportResetEx and then a final status is one reset completed twice, not 0x7C/0x0F', () => {
  const v = runGallery('NdisSim_ResetDoubleComplete').r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_ResetDoubleComplete');
  assert.equal(v.ddi, 'MiniportResetEx');
  assert.deepEqual([v.bugCheck.code, v.bugCheck.params[0]], [0xc4, 0x4e530026]);
  assert.match(v.message, /returned NDIS_STATUS_SUCCESS: .*completed twice \(R3\.10, R4\.15\)/);
});

test('NdisSim_ResetCompleteUnexpected (R4.15, R3.10): a second NdisMResetComplete for a pended reset is 0x7C/0x0F and says it is a double completion', () => {
  const v = runGallery('NdisSim_ResetCompleteUnexpected').r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_ResetCompleteUnexpected');
  assert.equal(v.ddi, 'NdisMResetComplete');
  assert.deepEqual([v.bugCheck.code, v.bugCheck.params[0]], [0x7c, 0x0f]);
  assert.match(v.message, /already completed by NdisMResetComplete at \d+\.\d{6} s: a double completion/);
});

test('NdisSim_InitializeReturn, MiniportPause_Return (R2.5, R3.5): the messages name the status, and give the hex of one that has no name', () => {
  for (const [status, want] of [
    [NDIS_STATUS_BAD_VERSION, /returned NDIS_STATUS_BAD_VERSION:/],
    [0xc0ff0001, /returned an unknown status \(0xC0FF0001\):/],
  ] as const) {
    const drv = scriptedDriver('init-status', { initialize: () => status });
    const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'init-status' }] });
    const v = w.run(1 * ns.s).bugCheck!;
    assert.equal(v.rule, 'NdisSim_InitializeReturn');
    assert.match(v.message, want);
  }
  const drv = scriptedDriver('pause-status', { pause: () => NDIS_STATUS_FAILURE });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'pause-status' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  const v = w.run(2 * ns.s).bugCheck!;
  assert.equal(v.rule, 'MiniportPause_Return');
  assert.match(v.message, /MiniportPause returned NDIS_STATUS_FAILURE;/);
});

test('R6.16, R6.17, bug check 0x7C/0x20: an indication with the wrong header type, a SourceHandle not the adapter, or a link state without its NDIS_LINK_STATE is NdisSim_StatusIndicationInvalid; NDIS 5 connect codes are a warning', () => {
  const indicate = (
    name: string,
    edit: (i: NDIS_STATUS_INDICATION, a: TestAdapter) => NDIS_STATUS_INDICATION,
  ) => {
    const drv = scriptedDriver(name, {
      restart: (a) => {
        NdisMIndicateStatusEx(a.handle, edit(linkStateIndication(a.handle, true, 1e9), a));
        return NDIS_STATUS_SUCCESS;
      },
    });
    return testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: name }],
      options: { verifier: 'collect' },
    }).run(1 * ns.s);
  };
  const cases: [string, (i: NDIS_STATUS_INDICATION) => NDIS_STATUS_INDICATION, RegExp][] = [
    ['si-header', (i) => ({ ...i, Header: { Type: 0, Revision: 1 } }), /Header.Type is 0x0/],
    [
      'si-source',
      (i) => ({ ...i, SourceHandle: { __ndisHandle: 'NDIS_MINIPORT' } }),
      /SourceHandle is not the adapter/,
    ],
    [
      'si-size',
      (i) => ({ ...i, StatusBufferSize: 8 }),
      /needs an NDIS_LINK_STATE, StatusBufferSize 40; got StatusBufferSize 8/,
    ],
    ['si-buffer', (i) => ({ ...i, StatusBuffer: null }), /and no buffer/],
  ];
  for (const [name, edit, message] of cases) {
    const r = indicate(name, edit);
    assert.deepEqual(
      r.violations.map((v) => [v.rule, v.bugCheck.code, v.bugCheck.params[0], v.bugCheck.params[1]]),
      [['NdisSim_StatusIndicationInvalid', 0x7c, 0x20, NDIS_STATUS_LINK_STATE]],
      name,
    );
    assert.match(r.violations[0]!.message, message, name);
  }
  // A well-formed link state passes; an NDIS 5 connect code is a warning only.
  assert.deepEqual(indicate('si-ok', (i) => i).violations, []);
  const old = indicate('si-media-connect', (i) => ({ ...i, StatusCode: NDIS_STATUS_MEDIA_CONNECT }));
  assert.deepEqual(old.violations, []);
  assert.deepEqual(
    old.warnings.map((w) => [w.rule, w.ddi]),
    [['R6.17', 'NdisMIndicateStatusEx']],
  );
});

test('R8.11: a driver spin lock held across NdisMIndicateStatusEx or NdisMOidRequestComplete, which run the protocols, is NdisSim_LockHeldAcrossCall; released first, both pass', () => {
  const locked = (what: 'status' | 'oid', hold: boolean) => {
    // Each answers from a DPC-level timer, taking the lock as a driver guarding its state does.
    const answer = (a: TestAdapter, call: () => void) =>
      after(a, 10, () => {
        const lock = spinLock();
        NdisDprAcquireSpinLock(lock);
        if (!hold) NdisDprReleaseSpinLock(lock);
        call();
        if (hold) NdisDprReleaseSpinLock(lock);
      });
    const drv = scriptedDriver(`held-${what}-${hold}`, {
      restart: (a) => {
        if (what === 'status')
          answer(a, () => NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, true, 1e9)));
        return NDIS_STATUS_SUCCESS;
      },
      oid: (a, req) => {
        if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_NOT_SUPPORTED;
        answer(a, () => NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_NOT_SUPPORTED));
        return NDIS_STATUS_PENDING;
      },
    });
    return testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      actions: what === 'oid' ? [{ atNs: 100 * ns.ms, action: statisticsQuery('nic0') }] : [],
      options: { verifier: 'collect' },
    }).run(1 * ns.s);
  };
  for (const [what, ddi] of [
    ['status', 'NdisMIndicateStatusEx'],
    ['oid', 'NdisMOidRequestComplete'],
  ] as const) {
    const bad = locked(what, true);
    assert.deepEqual(
      bad.violations.map((v) => [v.rule, v.ddi]),
      [['NdisSim_LockHeldAcrossCall', ddi]],
      what,
    );
    assert.match(
      bad.violations[0]!.message,
      new RegExp(
        `called ${ddi} holding 1 spin lock\\(s\\) it acquired: the drivers NDIS calls from ${ddi} may call back into \\S+, whose handler takes the same lock \\(a deadlock; R8\\.11\\)`,
      ),
    );
    assert.deepEqual(locked(what, false).violations, [], what);
  }
});

test('R8.10 SpinLockBalanced: a return handler that releases the lock its indication was made under is reported, and the model goes on (no crash of its own)', () => {
  const drv = scriptedDriver('nested-release', {
    initialize: (a) => {
      a.state.pool = rxPool(a);
      a.state.lock = spinLock();
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      a.state.held = true;
      NdisAcquireSpinLock(a.state.lock as NDIS_SPIN_LOCK);
      NdisMIndicateReceiveNetBufferLists(a.handle, rxNbl(a, a.state.pool as NDIS_HANDLE), 0, 1, 0);
      return NDIS_STATUS_SUCCESS;
    },
    returnNbls: (a) => {
      if (a.state.held !== true) return;
      a.state.held = false;
      NdisReleaseSpinLock(a.state.lock as NDIS_SPIN_LOCK);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
    actions: [{ atNs: 300 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(1 * ns.s);
  const balanced = r.violations.filter((v) => v.rule === 'SpinLockBalanced');
  assert.deepEqual(
    balanced.map((v) => [v.ddi, v.message]),
    [
      [
        'MiniportReturnNetBufferLists',
        'MiniportReturnNetBufferLists released 1 lock(s) taken before it was called (R8.10)',
      ],
    ],
  );
  // The run went on to the removal the scenario asked for.
  assert.equal(w.device('nic0').status, 'removed');
});

test("NdisSim_DriverException: a bad argument that makes a DDI throw inside ndis-sim names the driver's line that passed it, not ndis-sim's", () => {
  const drv = scriptedDriver('bad-status-argument', {
    restart: (a) => {
      NdisMIndicateStatusEx(a.handle, undefined as never);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  const v = r.violations[0]!;
  assert.equal(v.rule, 'NdisSim_DriverException');
  // The innermost frame shown is this file's: ndis-sim's own frames above it are skipped.
  const at = / at \S+ \(((test\/verifier\.test\.ts):(\d+):\d+)\)/.exec(v.message);
  assert.ok(at !== null, v.message);
  assert.match(
    readFileSync(at[2]!, 'utf8').split('\n')[Number(at[3]) - 1]!,
    /NdisMIndicateStatusEx\(a\.handle, undefined/,
  );
  // 0x1E's parameter 2, the address of the exception: that same place.
  assert.equal(v.bugCheck.params[1], at[1]);
  assert.doesNotMatch(v.message, /src\/ndis\//);
});
