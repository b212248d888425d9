// The machine as a driver sees it: NdisGetVersion, the processor-group DDIs of NDIS 6.20
// (one group, every processor active), NdisCurrentProcessorIndex and NDIS_CURRENT_IRQL,
// each checked against what the world was built with and against its IRQL (R8.2).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ALL_PROCESSOR_GROUPS,
  APC_LEVEL,
  DISPATCH_LEVEL,
  HIGH_LEVEL,
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  NDIS_CURRENT_IRQL,
  NDIS_DEFAULT_PORT_NUMBER,
  NDIS_LOWER_IRQL,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_STATUS_SUCCESS,
  NdisActiveGroupCount,
  NdisCloseConfiguration,
  NdisCurrentProcessorIndex,
  NdisGetVersion,
  NdisGroupActiveProcessorCount,
  NdisGroupActiveProcessorMask,
  NdisGroupMaxProcessorCount,
  NdisMaxGroupCount,
  NdisMQueueDpcEx,
  NdisMSynchronizeWithInterruptEx,
  NdisOpenConfigurationEx,
  NdisParameterInteger,
  NdisReadConfiguration,
  PASSIVE_LEVEL,
} from '../src/index.ts';
import { after, removedScripted, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

test('NdisGetVersion page: the major version in the high 16 bits, the minor in the low 16, the same version NdisReadConfiguration gives as NdisVersion', () => {
  let version = -1;
  let configured: unknown = null;
  const { r } = removedScripted('ver', {
    initialize: (a) => {
      version = NdisGetVersion();
      const c = NdisOpenConfigurationEx({
        Header: {
          Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
          Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1,
        },
        NdisHandle: a.handle,
        Flags: 0,
      }).ConfigurationHandle!;
      const p = NdisReadConfiguration(c, 'NdisVersion', NdisParameterInteger).ParameterValue!.ParameterData;
      configured = 'IntegerData' in p ? p.IntegerData : null;
      NdisCloseConfiguration(c);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.equal(version >>> 16, 6);
  // NDIS 6.89 is the newest release a driver may declare.
  assert.equal(version & 0xffff, 89);
  assert.equal(configured, version);
});

test('NDIS 6.20 processor-group DDIs: one group; group 0 holds every processor of the world, all active; another group none', () => {
  for (const cpus of [1, 3, 8]) {
    let seen: number[] = [];
    const drv = scriptedDriver(`groups-${cpus}`, {
      initialize: () => {
        seen = [
          NdisActiveGroupCount(),
          NdisMaxGroupCount(),
          NdisGroupActiveProcessorCount(0),
          NdisGroupMaxProcessorCount(0),
          NdisGroupActiveProcessorMask(0),
          NdisGroupActiveProcessorCount(1),
          NdisGroupMaxProcessorCount(1),
          NdisGroupActiveProcessorMask(1),
        ];
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }], options: { cpus } });
    assert.equal(w.run(10 * ns.ms).verdict, 'ok');
    assert.deepEqual(seen, [1, 1, cpus, cpus, 2 ** cpus - 1, 0, 0, 0], `cpus ${cpus}`);
  }
});

test('NdisGroupActiveProcessorCount and NdisGroupMaxProcessorCount pages: Group ALL_PROCESSOR_GROUPS (0xFFFF) counts every processor of the machine; NdisGroupActiveProcessorMask has no such case, an absent group', () => {
  let seen: number[] = [];
  const drv = scriptedDriver('groups-all', {
    initialize: () => {
      seen = [
        NdisGroupActiveProcessorCount(ALL_PROCESSOR_GROUPS),
        NdisGroupMaxProcessorCount(ALL_PROCESSOR_GROUPS),
        NdisGroupActiveProcessorMask(ALL_PROCESSOR_GROUPS),
      ];
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { cpus: 3 },
  });
  assert.equal(w.run(10 * ns.ms).verdict, 'ok');
  assert.equal(ALL_PROCESSOR_GROUPS, 0xffff);
  assert.deepEqual(seen, [3, 3, 0]);
});

test('NdisCurrentProcessorIndex page: at DISPATCH, the index of the processor the caller runs on; at PASSIVE an IRQL violation', () => {
  const dpcAt: [number, number][] = [];
  const drv = scriptedDriver('proc-index', {
    restart: (a) => {
      // One DPC on CPU 2 only, one on CPU 0 only (later, so the first has run).
      NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b100, Group: 0 }, 2);
      after(a, 1, () => NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b1, Group: 0 }, 0));
      return NDIS_STATUS_SUCCESS;
    },
    dpc: (_a, _t, context) => dpcAt.push([context as number, NdisCurrentProcessorIndex()]),
    pause: () => {
      NdisCurrentProcessorIndex();
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 50 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    options: { cpus: 4, verifier: 'collect' },
  });
  const r = w.run(100 * ns.ms);
  assert.deepEqual(dpcAt, [
    [2, 2],
    [0, 0],
  ]);
  // The page gives no SDV rule for it: the model's own IRQL rule.
  assert.deepEqual(
    r.violations.map((v) => [v.ddi, v.rule, v.message]),
    [
      [
        'NdisCurrentProcessorIndex',
        'NdisSim_Irql',
        'NdisCurrentProcessorIndex called at PASSIVE; it must be called exactly DISPATCH',
      ],
    ],
  );
});

test('NDIS_CURRENT_IRQL: PASSIVE in MiniportHaltEx, DISPATCH in a timer callback, DIRQL in a routine synchronized with the interrupt', () => {
  const seen: Record<string, number> = {};
  const { r } = removedScripted('cur-irql', {
    initialize: (a) => {
      after(a, 1, () => {
        seen.timer = NDIS_CURRENT_IRQL();
        NdisMSynchronizeWithInterruptEx(
          a.interrupt!,
          0,
          () => {
            seen.sync = NDIS_CURRENT_IRQL();
            return true;
          },
          null,
        );
      });
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {
      seen.halt = NDIS_CURRENT_IRQL();
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  // PASSIVE_LEVEL 0, DISPATCH_LEVEL 2; a device IRQL is above DISPATCH.
  assert.deepEqual({ halt: seen.halt, timer: seen.timer }, { halt: PASSIVE_LEVEL, timer: DISPATCH_LEVEL });
  assert.ok((seen.sync ?? 0) > DISPATCH_LEVEL, `sync at ${seen.sync}`);
  assert.ok((seen.sync ?? 0) < HIGH_LEVEL, `sync at ${seen.sync}`);
});

test('WDK names: PASSIVE_LEVEL, APC_LEVEL and DISPATCH_LEVEL have their wdm.h values, NDIS_DEFAULT_PORT_NUMBER is port 0; NDIS_LOWER_IRQL takes DISPATCH_LEVEL as the current IRQL', () => {
  assert.deepEqual([PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL], [0, 1, 2]);
  assert.ok(HIGH_LEVEL > DISPATCH_LEVEL);
  assert.equal(NDIS_DEFAULT_PORT_NUMBER, 0);
  const seen: number[] = [];
  const { r } = removedScripted('wdk-irql', {
    initialize: () => {
      // The C idiom: raise, work at DISPATCH, lower with the level one is at.
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      seen.push(old, NDIS_CURRENT_IRQL());
      NDIS_LOWER_IRQL(old, DISPATCH_LEVEL);
      seen.push(NDIS_CURRENT_IRQL());
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(seen, [PASSIVE_LEVEL, DISPATCH_LEVEL, PASSIVE_LEVEL]);
});
