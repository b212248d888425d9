// MiniportSetOptions and NdisSetOptionalHandlers: the PnP handler set
// (NDIS_MINIPORT_PNP_CHARACTERISTICS) and when NDIS calls each handler: MiniportAddDevice
// as the FDO is made, MiniportStartDevice on IRP_MN_START_DEVICE before
// MiniportInitializeEx, MiniportRemoveDevice after the halt as the FDO goes. A driver
// registers them the way NetKVM does (ParaNdis6_SetOptions, ParaNdis6_AddDevice).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CM_PROB_FAILED_ADD,
  CM_PROB_FAILED_START,
  CmResourceTypeMemory,
  type IRP,
  IRP_MJ_PNP,
  IRP_MN_START_DEVICE,
  type MINIPORT_SET_OPTIONS,
  type NDIS_HANDLE,
  NDIS_LOWER_IRQL,
  NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  type NDIS_MINIPORT_PNP_CHARACTERISTICS,
  NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
  NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_CO_MINIPORT_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_STATUS_BAD_VERSION,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisMSetMiniportAttributes,
  NdisSetOptionalHandlers,
} from '../src/index.ts';
import { type Hooks, type ScriptedDriver, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const pnpHeader = {
  Type: NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
  Revision: NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
};

/** MiniportAddDevice's part, as NetKVM's: the add-device context is what the test gives (NetKVM: the handle). */
function addDeviceAttributes(handle: NDIS_HANDLE, context: unknown): number {
  return NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1,
    },
    MiniportAddDeviceContext: context,
    Flags: 0,
  });
}

interface Run {
  drv: ScriptedDriver;
  w: ReturnType<typeof testWorld>;
  r: ReturnType<ReturnType<typeof testWorld>['run']>;
  /** What NdisSetOptionalHandlers returned in MiniportSetOptions, once per load. */
  statuses: number[];
}

/**
 * A scripted driver whose MiniportSetOptions registers `chars` (built per call with the
 * driver's call log), one device nic0, run in collect mode with `actions`.
 */
function run(
  name: string,
  chars: (log: string[]) => NDIS_MINIPORT_PNP_CHARACTERISTICS,
  actions: { atNs: number; action: { kind: 'remove' | 'stop'; device: string } }[] = [],
  hooks: Hooks = {},
  setOptions?: (log: string[]) => MINIPORT_SET_OPTIONS,
): Run {
  const statuses: number[] = [];
  // One log, in order: the scripted driver's callbacks and the PnP handlers.
  const log = (): string[] => drv.calls;
  const drv: ScriptedDriver = scriptedDriver(name, {
    ...hooks,
    characteristics: (c) => {
      c.SetOptionsHandler =
        setOptions?.(log()) ??
        ((NdisDriverHandle) => {
          log().push('MiniportSetOptions');
          const s = NdisSetOptionalHandlers(NdisDriverHandle, chars(log()));
          statuses.push(s);
          return s;
        });
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions,
    options: { verifier: 'collect' },
  });
  return { drv, w, r: w.run(2 * ns.s), statuses };
}

/** The full PnP set, each handler logging its call; MiniportAddDevice sets `context(handle)`. */
function fullSet(
  seen: { irps: IRP[]; removed: unknown[]; started: unknown[] },
  context: (handle: NDIS_HANDLE) => unknown,
  add: (handle: NDIS_HANDLE) => number = (h) => addDeviceAttributes(h, context(h)),
) {
  return (log: string[]): NDIS_MINIPORT_PNP_CHARACTERISTICS => ({
    Header: pnpHeader,
    MiniportAddDeviceHandler: (h) => {
      log.push('MiniportAddDevice');
      return add(h);
    },
    MiniportRemoveDeviceHandler: (ctx) => {
      log.push('MiniportRemoveDevice');
      seen.removed.push(ctx);
    },
    MiniportStartDeviceHandler: (ctx, Irp) => {
      log.push('MiniportStartDevice');
      seen.started.push(ctx);
      seen.irps.push(Irp);
      return NDIS_STATUS_SUCCESS;
    },
    MiniportFilterResourceRequirementsHandler: () => {
      log.push('MiniportFilterResourceRequirements');
      return NDIS_STATUS_SUCCESS;
    },
  });
}

test('NdisSetOptionalHandlers: a driver registering the PnP set as NetKVM does gets MiniportAddDevice, then MiniportStartDevice with the START_DEVICE resources, then MiniportInitializeEx with MiniportAddDeviceContext, and MiniportRemoveDevice after the halt', () => {
  const seen = { irps: [] as IRP[], removed: [] as unknown[], started: [] as unknown[] };
  const inits: { handle: NDIS_HANDLE; params: NDIS_MINIPORT_INIT_PARAMETERS }[] = [];
  const x = run(
    'pnp-netkvm',
    // NetKVM's ParaNdis6_AddDevice: the add-device context is the miniport handle itself.
    fullSet(seen, (h) => h),
    [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    {
      initialize: (a, params) => {
        inits.push({ handle: a.handle, params });
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  assert.equal(x.r.verdict, 'ok', x.r.message ?? '');
  assert.deepEqual(x.statuses, [NDIS_STATUS_SUCCESS]);
  // The lifecycle callbacks and the PnP handlers, in order (OIDs and interrupts left out).
  const lifecycle =
    /^Miniport(SetOptions|AddDevice|StartDevice|InitializeEx|Restart|Pause|HaltEx|RemoveDevice|DriverUnload)\b/;
  assert.deepEqual(
    x.drv.calls.filter((c) => lifecycle.test(c)).map((c) => c.replace(/\(.*/, '')),
    [
      'MiniportSetOptions',
      'MiniportAddDevice',
      'MiniportStartDevice',
      'MiniportInitializeEx',
      'MiniportRestart',
      'MiniportPause',
      'MiniportHaltEx',
      'MiniportRemoveDevice',
      'MiniportDriverUnload',
    ],
  );
  const [init] = inits;
  assert.ok(init !== undefined);
  // The context MiniportAddDevice registered comes back to every handler that takes it.
  assert.equal(init.params.MiniportAddDeviceContext, init.handle);
  assert.deepEqual(seen.started, [init.handle]);
  assert.deepEqual(seen.removed, [init.handle]);
  // The IRP is IRP_MN_START_DEVICE with the resources MiniportInitializeEx gets.
  const stack = seen.irps[0]!.Tail.Overlay.CurrentStackLocation;
  assert.equal(stack.MajorFunction, IRP_MJ_PNP);
  assert.equal(stack.MinorFunction, IRP_MN_START_DEVICE);
  const raw = stack.Parameters.StartDevice.AllocatedResources;
  assert.ok(raw !== null);
  assert.deepEqual(raw.List[0]!.PartialResourceList, init.params.AllocatedResources);
  assert.ok(raw.List[0]!.PartialResourceList.PartialDescriptors.some((d) => d.Type === CmResourceTypeMemory));
  assert.deepEqual(stack.Parameters.StartDevice.AllocatedResourcesTranslated, raw);
  // MiniportFilterResourceRequirements is kept but never called: the run says so.
  assert.ok(x.r.modelNotes.some((m) => /MiniportFilterResourceRequirements .*never called/.test(m)));
});

test('NdisSetOptionalHandlers: a stop and restart calls MiniportStartDevice again with the same add-device context; MiniportAddDevice and MiniportRemoveDevice run once per FDO', () => {
  const seen = { irps: [] as IRP[], removed: [] as unknown[], started: [] as unknown[] };
  const ctx = { mine: 'add-device context' };
  const contexts: unknown[] = [];
  const x = run(
    'pnp-rebalance',
    fullSet(seen, () => ctx),
    [
      { atNs: 500 * ns.ms, action: { kind: 'stop', device: 'nic0' } },
      { atNs: 1500 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
    ],
    {
      initialize: (_a, p) => {
        contexts.push(p.MiniportAddDeviceContext);
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  assert.equal(x.r.verdict, 'ok', x.r.message ?? '');
  const count = (c: string) => x.drv.calls.filter((k) => k === c).length;
  assert.equal(count('MiniportAddDevice'), 1);
  assert.equal(count('MiniportStartDevice'), 2);
  assert.equal(count('MiniportInitializeEx'), 2);
  assert.equal(count('MiniportRemoveDevice'), 1);
  assert.deepEqual(seen.started, [ctx, ctx]);
  assert.deepEqual(contexts, [ctx, ctx]);
  assert.deepEqual(seen.removed, [ctx]);
  assert.equal(seen.irps.length, 2);
});

test('NdisSetOptionalHandlers: without add-device attributes NDIS passes a NULL MiniportAddDeviceContext', () => {
  const seen = { irps: [] as IRP[], removed: [] as unknown[], started: [] as unknown[] };
  const contexts: unknown[] = [];
  const x = run(
    'pnp-no-context',
    fullSet(
      seen,
      () => null,
      () => NDIS_STATUS_SUCCESS,
    ),
    [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    {
      initialize: (_a, p) => {
        contexts.push(p.MiniportAddDeviceContext);
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  assert.equal(x.r.verdict, 'ok', x.r.message ?? '');
  assert.deepEqual(contexts, [null]);
  assert.deepEqual(seen.started, [null]);
  assert.deepEqual(seen.removed, [null]);
});

test('MiniportAddDevice failing: the device shows Code 31 (CM_PROB_FAILED_ADD); NDIS calls neither MiniportStartDevice, MiniportInitializeEx nor MiniportRemoveDevice, and unloads the driver', () => {
  const seen = { irps: [] as IRP[], removed: [] as unknown[], started: [] as unknown[] };
  const x = run(
    'pnp-add-fails',
    fullSet(
      seen,
      () => null,
      () => NDIS_STATUS_RESOURCES,
    ),
  );
  assert.equal(x.r.verdict, 'ok', x.r.message ?? '');
  assert.deepEqual(x.drv.calls, ['MiniportSetOptions', 'MiniportAddDevice', 'MiniportDriverUnload']);
  const dev = x.w.device('nic0');
  assert.equal(dev.status, 'failed');
  assert.equal(dev.problem, CM_PROB_FAILED_ADD);
  assert.equal(x.w.ndis.adapters.length, 0);
});

test('MiniportStartDevice failing: the start fails with Code 10 (CM_PROB_FAILED_START) before MiniportInitializeEx; the REMOVE_DEVICE that follows calls MiniportRemoveDevice', () => {
  const removed: unknown[] = [];
  const x = run('pnp-start-fails', (log) => ({
    Header: pnpHeader,
    MiniportAddDeviceHandler: (h) => {
      log.push('MiniportAddDevice');
      return addDeviceAttributes(h, 'ctx');
    },
    MiniportStartDeviceHandler: () => {
      log.push('MiniportStartDevice');
      return NDIS_STATUS_FAILURE;
    },
    MiniportRemoveDeviceHandler: (c) => {
      log.push('MiniportRemoveDevice');
      removed.push(c);
    },
  }));
  assert.equal(x.r.verdict, 'ok', x.r.message ?? '');
  assert.deepEqual(x.drv.calls, [
    'MiniportSetOptions',
    'MiniportAddDevice',
    'MiniportStartDevice',
    'MiniportRemoveDevice',
    'MiniportDriverUnload',
  ]);
  assert.deepEqual(removed, ['ctx']);
  const dev = x.w.device('nic0');
  assert.equal(dev.status, 'failed');
  assert.equal(dev.problem, CM_PROB_FAILED_START);
});

test('NdisSim_OptionalHandlers NdisSetOptionalHandlers: called from DriverEntry after registration (outside MiniportSetOptions) it fails, and the handlers are not registered', () => {
  let status = -1;
  const added: string[] = [];
  const drv = scriptedDriver('pnp-late', {
    driverEntry: (h) => {
      status = NdisSetOptionalHandlers(h, {
        Header: pnpHeader,
        MiniportAddDeviceHandler: () => {
          added.push('MiniportAddDevice');
          return NDIS_STATUS_SUCCESS;
        },
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'pnp-late' }],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  assert.equal(status, NDIS_STATUS_FAILURE);
  assert.deepEqual(added, []);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_OptionalHandlers', 'NdisSetOptionalHandlers']],
  );
  assert.match(r.violations[0]!.message, /outside MiniportSetOptions/);
  assert.equal(w.device('nic0').status, 'started');
});

test('NdisSim_OptionalHandlers NdisSetOptionalHandlers: a structure no miniport registers, a missing header, a wrong revision or a member that is no routine each fail with NDIS_STATUS_FAILURE and register nothing', () => {
  const cases: [string, unknown, RegExp][] = [
    [
      'driver chars',
      { Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 1 } },
      /0x8a/,
    ],
    ['no header', {}, /no NDIS_OBJECT_HEADER/],
    ['revision', { Header: { ...pnpHeader, Revision: 2 } }, /Revision 2/],
    ['not a routine', { Header: pnpHeader, MiniportStartDeviceHandler: 42 }, /MiniportStartDeviceHandler/],
  ];
  for (const [label, chars, why] of cases) {
    const x = run(`pnp-bad-${label.replace(/ /g, '-')}`, (log) => {
      log.push('chars');
      return chars as NDIS_MINIPORT_PNP_CHARACTERISTICS;
    });
    assert.deepEqual(x.statuses, [NDIS_STATUS_FAILURE], label);
    assert.deepEqual(
      x.r.violations.map((v) => [v.rule, v.ddi]),
      [['NdisSim_OptionalHandlers', 'NdisSetOptionalHandlers']],
      label,
    );
    assert.match(x.r.violations[0]!.message, why, label);
    // MiniportSetOptions failed with it, so the registration failed: the device never starts.
    assert.ok(!x.drv.calls.includes('MiniportInitializeEx'), label);
  }
});

test('NdisSetOptionalHandlers: NDIS_MINIPORT_CO_CHARACTERISTICS (connection-oriented) is not modelled, and the run says which DDI and set', () => {
  const x = run('pnp-co', () => ({
    Header: { Type: NDIS_OBJECT_TYPE_CO_MINIPORT_CHARACTERISTICS, Revision: 1 },
  }));
  assert.equal(x.r.verdict, 'not-modelled');
  assert.match(
    x.r.message ?? '',
    /^NdisSetOptionalHandlers is not modelled.*NDIS_MINIPORT_CO_CHARACTERISTICS/,
  );
});

test('NdisSim_OptionalHandlers NdisSetOptionalHandlers: NDIS_MINIPORT_SS_CHARACTERISTICS without both handlers is refused', () => {
  const x = run('pnp-ss', () => ({
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
      Revision: NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
    },
  }));
  assert.deepEqual(x.statuses, [NDIS_STATUS_FAILURE]);
  assert.deepEqual(
    x.r.violations.map((v) => v.rule),
    ['NdisSim_OptionalHandlers'],
  );
  assert.match(x.r.violations[0]!.message, /IdleNotificationHandler is not a routine/);
});

test('Irql_Miscellaneous_Function NdisSetOptionalHandlers: called at DISPATCH_LEVEL in MiniportSetOptions', () => {
  const x = run(
    'pnp-dispatch',
    () => ({ Header: pnpHeader }),
    [],
    {},
    () => (h) => {
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      const s = NdisSetOptionalHandlers(h, { Header: pnpHeader });
      NDIS_LOWER_IRQL(old, 2);
      return s;
    },
  );
  assert.deepEqual(
    x.r.violations.map((v) => [v.rule, v.ddi]),
    [['Irql_Miscellaneous_Function', 'NdisSetOptionalHandlers']],
  );
});

test('NdisSim_BadParameter NdisSetOptionalHandlers: a handle that is not the NdisDriverHandle of MiniportSetOptions stops the machine', () => {
  const x = run(
    'pnp-bad-handle',
    () => ({ Header: pnpHeader }),
    [],
    {},
    () => (_h, ctx) => NdisSetOptionalHandlers(ctx as unknown as NDIS_HANDLE, { Header: pnpHeader }),
  );
  assert.equal(x.r.verdict, 'bugcheck');
  assert.equal(x.r.bugCheck?.rule, 'NdisSim_BadParameter');
  assert.equal(x.r.bugCheck?.ddi, 'NdisSetOptionalHandlers');
});

test('NdisSim_AttributesOrder NdisMSetMiniportAttributes: add-device registration attributes only in MiniportAddDevice (FAILURE in MiniportInitializeEx); a wrong revision is NDIS_STATUS_BAD_VERSION', () => {
  const got: number[] = [];
  const x = run(
    'pnp-attrs',
    (log) => ({
      Header: pnpHeader,
      MiniportAddDeviceHandler: (h) => {
        log.push('MiniportAddDevice');
        got.push(
          NdisMSetMiniportAttributes(h, {
            Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES, Revision: 2 },
            MiniportAddDeviceContext: 'x',
          }),
        );
        return NDIS_STATUS_SUCCESS;
      },
    }),
    [],
    {
      initialize: (a) => {
        got.push(addDeviceAttributes(a.handle, 'late'));
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  assert.deepEqual(got, [NDIS_STATUS_BAD_VERSION, NDIS_STATUS_FAILURE]);
  assert.deepEqual(
    x.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_AttributesOrder', 'NdisMSetMiniportAttributes']],
  );
  assert.match(x.r.violations[0]!.message, /outside MiniportAddDevice/);
});
