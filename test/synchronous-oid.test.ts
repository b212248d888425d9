// Synchronous OID requests (NDIS 6.80; 06-oid-datapath.md R6.2; 02-init-halt.md R2.2;
// 05-removal.md R5.7; 07-protocols-filters.md R7.5): NdisSynchronousOidRequest and
// NdisFSynchronousOidRequest through 0, 1 and 2 filter modules to
// MiniportSynchronousOidRequest and back, iteratively, inside the call; interception,
// CallContext and Status rewriting; the rule NdisSim_SyncOid; the version gate; the
// scenario action `synchronous: true`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hooks, scriptedDriver } from '../src/drivers/buggy/base.ts';
import { type LwfModule, variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NDIS_HANDLE,
  type NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  type NDIS_OID_REQUEST,
  NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID,
  NDIS_STATUS_ALREADY_COMPLETE,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_OID,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisAllocateCloneOidRequest,
  NdisFCancelOidRequest,
  NdisFSynchronousOidRequest,
  NdisMPauseComplete,
  NdisMResetComplete,
  NdisRequestMethod,
  NdisRequestSetInformation,
  NdisSetOptionalHandlers,
  NdisSynchronousOidRequest,
  OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES,
  OID_GEN_STATISTICS,
  World,
  type WorldOptions,
} from '../src/index.ts';
import { oidRequestData } from '../src/ndis/oid.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { WorldAction } from '../src/world.ts';
import { bindingProtocol, protocolStep } from './helpers/protocol.ts';
import { ns } from './helpers/world.ts';

const PASSIVE = 0;
const DISPATCH = 2;
const RSS = OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES;

// ------------------------------------------------------------ the protocol

interface Proto {
  handle: NDIS_HANDLE | null;
}

/** A protocol driver (NDIS `minor`) that binds and issues synchronous requests when the test says; no completion handlers. */
function syncProto(p: Proto, minor = 80): DriverModule {
  return bindingProtocol('sproto', p, minor);
}

/** The scenario's synchronous request to nic0 (`do: oid`, `synchronous: true`, value 1). */
const syncAction: WorldAction = {
  kind: 'oid',
  device: 'nic0',
  oid: RSS,
  set: false,
  value: 1,
  timeoutS: 0,
  synchronous: true,
};

/** A method request for `oid` whose input is the ULONG 1. */
function syncRequest(id: string, oid = RSS, type = NdisRequestMethod): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
    RequestType: type,
    PortNumber: 0,
    Timeout: 0,
    RequestId: id,
    RequestHandle: null,
    DATA: oidRequestData(oid, 1, 4),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
}

// ------------------------------------------------------------ the miniport

/** What the miniport saw: each request's RequestId and the IRQL it ran at. */
interface Mini {
  seen: { id: unknown; irql: number }[];
}

/**
 * A scripted NDIS 6.80 miniport (characteristics revision 3) whose
 * MiniportSynchronousOidRequest answers `answer` (SUCCESS by default). `sync: false`:
 * no handler. `minor`, `revision`: what it declares.
 */
function syncNic(
  mini: Mini,
  o: {
    answer?: number;
    sync?: boolean;
    minor?: number;
    revision?: number;
    edit?: Hooks['characteristics'];
    hooks?: Hooks;
  } = {},
): DriverModule {
  return scriptedDriver('snic', {
    ...o.hooks,
    characteristics(c) {
      c.Header.Revision = o.revision ?? 3;
      c.MinorNdisVersion = o.minor ?? 80;
      if (o.sync !== false)
        c.SynchronousOidRequestHandler = (_a: unknown, req: NDIS_OID_REQUEST) => {
          mini.seen.push({ id: req.RequestId, irql: current!.kernel.ctx.irql });
          req.DATA.METHOD_INFORMATION.BytesRead = 4;
          return o.answer ?? NDIS_STATUS_SUCCESS;
        };
      o.edit?.(c);
    },
  });
}

// ------------------------------------------------------------ the filters

/** What a test filter saw, in order: `name:Request` / `name:Complete ctx=… status=…`. */
type Log = string[];

interface FilterPlan {
  /** FilterSynchronousOidRequest: its return value (SUCCESS by default); null: none registered. */
  request?: ((m: LwfModule, r: NDIS_OID_REQUEST) => number) | null;
  /** FilterSynchronousOidRequestComplete: the status it writes (unchanged by default); null: none. */
  complete?: ((status: number) => number) | null;
  /** What it writes to CallContext. */
  context?: unknown;
  /** Gets the module's context (its NdisFilterHandle is `handle`) at each FilterRestart. */
  onRestart?: (m: LwfModule) => void;
  revision?: number;
  minor?: number;
}

/** A monitor-lwf variant with synchronous OID handlers that log what they see. */
function syncLwf(name: string, log: Log, plan: FilterPlan = {}): DriverModule {
  return variantOfMonitorLwf(
    name,
    'synchronous OID handlers',
    (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>) => {
      c.Header.Revision = plan.revision ?? 3;
      c.MinorNdisVersion = plan.minor ?? 80;
      const restart = c.RestartHandler;
      c.RestartHandler = (m, params) => {
        plan.onRestart?.(m);
        return restart(m, params);
      };
      if (plan.request !== null)
        c.SynchronousOidRequestHandler = (m, r, cc) => {
          log.push(`${name}:Request`);
          cc.value = plan.context ?? `${name}-ctx`;
          return plan.request ? plan.request(m, r) : NDIS_STATUS_SUCCESS;
        };
      if (plan.complete !== null)
        c.SynchronousOidRequestCompleteHandler = (_m, _r, status, cc) => {
          log.push(`${name}:Complete ctx=${String(cc)} status=0x${status.value.toString(16)}`);
          if (plan.complete) status.value = plan.complete(status.value);
        };
    },
  );
}

// ------------------------------------------------------------ the world

type Step = [atMs: number, irql: number, run: () => void];

interface Setup {
  filters?: DriverModule[];
  collect?: boolean;
  ndis?: WorldOptions['ndis'];
  proto?: DriverModule;
  steps?: Step[];
  actions?: [atMs: number, action: WorldAction][];
  untilMs?: number;
}

/** The world being run: the test drivers read the IRQL they run at from it. */
let current: World | null = null;

function run(mp: DriverModule, p: Proto, s: Setup): World {
  const w = new World({ seed: 1, verifier: s.collect ? 'collect' : 'bugcheck', ndis: s.ndis });
  current = w;
  w.addDriver(mp);
  for (const f of s.filters ?? []) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  const proto = s.proto ?? syncProto(p);
  w.addDriver(proto);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: mp.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const [atMs, a] of s.actions ?? []) w.at(atMs * ns.ms, a);
  for (const [atMs, irql, fn] of s.steps ?? []) protocolStep(w, Math.round(atMs * ns.ms), 'sproto', fn, irql);
  w.run((s.untilMs ?? 1000) * ns.ms);
  return w;
}

function calls(ev: readonly TraceEvent[]): string[] {
  return ev
    .filter((e) => e.kind === 'call' && /SynchronousOid/.test(e.what))
    .map((e) => `${e.actor}:${e.what}`);
}

function rules(w: World): string[] {
  return (w.lastResult?.violations ?? []).map((v) => v.rule);
}

function messages(w: World): string {
  return (w.lastResult?.violations ?? []).map((v) => v.message).join('\n');
}

const fresh = (): { p: Proto; mini: Mini; log: Log } => ({
  p: { handle: null },
  mini: { seen: [] },
  log: [],
});

// ------------------------------------------------------------ the path

test("R6.2 NdisSynchronousOidRequest with no filter: MiniportSynchronousOidRequest in the caller's context and IRQL; its status is what the call returns", () => {
  const { p, mini } = fresh();
  const got: number[] = [];
  const w = run(syncNic(mini), p, {
    steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
  });
  assert.deepEqual(got, [NDIS_STATUS_SUCCESS]);
  assert.deepEqual(mini.seen, [{ id: 'a', irql: DISPATCH }], 'the miniport ran inside the call, at DISPATCH');
  assert.deepEqual(calls(w.trace.events), ['snic:MiniportSynchronousOidRequest']);
  assert.deepEqual(rules(w), []);
});

test('R6.2, R7.5 through two filter modules: request handlers top down, the miniport, complete handlers bottom up with the CallContext each request handler wrote', () => {
  const { p, mini, log } = fresh();
  const got: number[] = [];
  // f-low attaches first, so it sits nearer the miniport.
  const w = run(syncNic(mini), p, {
    filters: [syncLwf('f-low', log), syncLwf('f-high', log)],
    steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
  });
  assert.deepEqual(got, [NDIS_STATUS_SUCCESS]);
  assert.deepEqual(log, [
    'f-high:Request',
    'f-low:Request',
    'f-low:Complete ctx=f-low-ctx status=0x0',
    'f-high:Complete ctx=f-high-ctx status=0x0',
  ]);
  assert.deepEqual(calls(w.trace.events), [
    'f-high:FilterSynchronousOidRequest',
    'f-low:FilterSynchronousOidRequest',
    'snic:MiniportSynchronousOidRequest',
    'f-low:FilterSynchronousOidRequestComplete',
    'f-high:FilterSynchronousOidRequestComplete',
  ]);
  assert.deepEqual(rules(w), []);
});

test('R6.2 a complete handler may rewrite *Status: the caller gets the status the topmost one left', () => {
  const { p, mini, log } = fresh();
  const got: number[] = [];
  run(syncNic(mini, { answer: NDIS_STATUS_NOT_SUPPORTED }), p, {
    filters: [syncLwf('f-low', log, { complete: () => NDIS_STATUS_RESOURCES }), syncLwf('f-high', log)],
    steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
  });
  assert.deepEqual(got, [NDIS_STATUS_RESOURCES]);
  assert.equal(log.at(-1), `f-high:Complete ctx=f-high-ctx status=0x${NDIS_STATUS_RESOURCES.toString(16)}`);
});

test('R6.2 interception: NDIS_STATUS_ALREADY_COMPLETE stops the request at the module, the caller gets SUCCESS; another status comes back as it is; only the modules above see the completion', () => {
  for (const [answer, expected] of [
    [NDIS_STATUS_ALREADY_COMPLETE, NDIS_STATUS_SUCCESS],
    [NDIS_STATUS_INVALID_DATA, NDIS_STATUS_INVALID_DATA],
  ] as const) {
    const { p, mini, log } = fresh();
    const got: number[] = [];
    run(syncNic(mini), p, {
      filters: [syncLwf('f-low', log, { request: () => answer }), syncLwf('f-high', log)],
      steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
    });
    assert.deepEqual(got, [expected]);
    assert.deepEqual(mini.seen, [], 'the miniport never saw it');
    assert.deepEqual(log, [
      'f-high:Request',
      'f-low:Request',
      `f-high:Complete ctx=f-high-ctx status=0x${expected.toString(16)}`,
    ]);
  }
});

test('R6.2 a module with only a complete handler gets CallContext zero; a module with neither is bypassed', () => {
  const { p, mini, log } = fresh();
  run(syncNic(mini), p, {
    filters: [
      syncLwf('f-low', log, { request: null }),
      syncLwf('f-mid', log, { request: null, complete: null }),
      syncLwf('f-high', log),
    ],
    steps: [[300, DISPATCH, () => NdisSynchronousOidRequest(p.handle!, syncRequest('a'))]],
  });
  assert.deepEqual(log, [
    'f-high:Request',
    'f-low:Complete ctx=null status=0x0',
    'f-high:Complete ctx=f-high-ctx status=0x0',
  ]);
});

test('R7.5 NdisFSynchronousOidRequest from a module: through the modules below it and the miniport only, none above; the call returns the final status', () => {
  const { p, mini, log } = fresh();
  const got: number[] = [];
  let mid: LwfModule | null = null;
  const w = run(syncNic(mini, { answer: NDIS_STATUS_NOT_SUPPORTED }), p, {
    filters: [
      syncLwf('f-low', log),
      syncLwf('f-mid', log, { onRestart: (m) => (mid = m) }),
      syncLwf('f-high', log),
    ],
    steps: [[300, DISPATCH, () => got.push(NdisFSynchronousOidRequest(mid!.handle, syncRequest('own')))]],
  });
  assert.deepEqual(got, [NDIS_STATUS_NOT_SUPPORTED]);
  // The trace line of the call shows the status it returned, as every DDI's.
  assert.deepEqual(
    w.trace.events
      .filter((e) => e.kind === 'ddi' && e.what === 'NdisFSynchronousOidRequest')
      .map((e) => e.data?.result),
    ['NDIS_STATUS_NOT_SUPPORTED'],
  );
  assert.deepEqual(mini.seen, [{ id: 'own', irql: DISPATCH }]);
  assert.deepEqual(log, [
    'f-low:Request',
    `f-low:Complete ctx=f-low-ctx status=0x${NDIS_STATUS_NOT_SUPPORTED.toString(16)}`,
  ]);
  assert.deepEqual(rules(w), []);
});

// ------------------------------------------------------------ the rules

test('R6.2 NdisSim_SyncOid: MiniportSynchronousOidRequest that returns NDIS_STATUS_PENDING stops the run (NDIS bug checks), in collect mode too', () => {
  const { p, mini } = fresh();
  const w = run(syncNic(mini, { answer: NDIS_STATUS_PENDING }), p, {
    collect: true,
    steps: [[300, DISPATCH, () => NdisSynchronousOidRequest(p.handle!, syncRequest('a'))]],
  });
  assert.equal(w.lastResult?.verdict, 'bugcheck');
  assert.deepEqual(rules(w), ['NdisSim_SyncOid']);
  assert.match(messages(w), /MiniportSynchronousOidRequest returned NDIS_STATUS_PENDING/);
});

test('R7.5 NdisSim_SyncOid: FilterSynchronousOidRequest that returns NDIS_STATUS_PENDING stops the run', () => {
  const { p, mini, log } = fresh();
  const w = run(syncNic(mini), p, {
    collect: true,
    filters: [syncLwf('f-low', log, { request: () => NDIS_STATUS_PENDING })],
    steps: [[300, DISPATCH, () => NdisSynchronousOidRequest(p.handle!, syncRequest('a'))]],
  });
  assert.equal(w.lastResult?.verdict, 'bugcheck');
  assert.deepEqual(rules(w), ['NdisSim_SyncOid']);
  assert.match(messages(w), /FilterSynchronousOidRequest of f-low@nic0 returned NDIS_STATUS_PENDING/);
  assert.deepEqual(mini.seen, []);
});

test('R6.2 NdisSim_SyncOid: MiniportSynchronousOidRequest returning NDIS_STATUS_REQUEST_ABORTED, and a complete handler writing PENDING or ALREADY_COMPLETE to *Status (the model keeps the status it had)', () => {
  {
    const { p, mini } = fresh();
    const got: number[] = [];
    const w = run(syncNic(mini, { answer: NDIS_STATUS_REQUEST_ABORTED }), p, {
      collect: true,
      steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
    });
    assert.deepEqual(rules(w), ['NdisSim_SyncOid']);
    assert.match(messages(w), /REQUEST_ABORTED/);
    assert.deepEqual(got, [NDIS_STATUS_REQUEST_ABORTED], 'the run goes on with what the miniport said');
  }
  for (const bad of [NDIS_STATUS_PENDING, NDIS_STATUS_ALREADY_COMPLETE]) {
    const { p, mini, log } = fresh();
    const got: number[] = [];
    const w = run(syncNic(mini), p, {
      collect: true,
      filters: [syncLwf('f-low', log, { complete: () => bad })],
      steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
    });
    assert.deepEqual(rules(w), ['NdisSim_SyncOid']);
    assert.match(messages(w), /FilterSynchronousOidRequestComplete of f-low@nic0 wrote/);
    assert.deepEqual(got, [NDIS_STATUS_SUCCESS]);
  }
});

test('R6.2 NdisSim_SyncOid: an OID the synchronous path does not allow, OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES as a set, at PASSIVE or with VPORT_ID_VALID, and a caller below NDIS 6.80; each still goes down', () => {
  const cases: [string, () => NDIS_OID_REQUEST, number, RegExp, number?][] = [
    ['other OID', () => syncRequest('a', OID_GEN_STATISTICS), DISPATCH, /does not allow/],
    ['a set', () => syncRequest('a', RSS, NdisRequestSetInformation), DISPATCH, /is a method request only/],
    ['at PASSIVE', () => syncRequest('a'), PASSIVE, /is issued only at DISPATCH_LEVEL/],
    [
      'VPORT_ID_VALID',
      () => ({ ...syncRequest('a'), Flags: NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID }),
      DISPATCH,
      /NDIS_OID_REQUEST_FLAGS_VPORT_ID_VALID cleared/,
    ],
    [
      'NDIS 6.30 caller',
      () => syncRequest('a'),
      DISPATCH,
      /declares NDIS 6\.30, called NdisSynchronousOidRequest/,
      30,
    ],
  ];
  for (const [what, req, irql, why, minor] of cases) {
    const { p, mini } = fresh();
    const w = run(syncNic(mini), p, {
      collect: true,
      proto: syncProto(p, minor ?? 80),
      steps: [[300, irql, () => NdisSynchronousOidRequest(p.handle!, req())]],
    });
    assert.deepEqual(rules(w), ['NdisSim_SyncOid'], what);
    assert.match(messages(w), why, what);
    assert.equal(mini.seen.length, 1, `${what}: the miniport still got it`);
  }
});

test('R7.5 NdisSim_SyncOid: a filter that clones the synchronous request it got, cancels it, or passes it on with NdisFSynchronousOidRequest', () => {
  for (const [what, act, why] of [
    [
      'cancel',
      (m: LwfModule, r: NDIS_OID_REQUEST) => {
        NdisFCancelOidRequest(m.handle, r.RequestId);
        return NDIS_STATUS_SUCCESS;
      },
      /synchronous requests cannot be cancelled/,
    ],
    [
      'clone',
      (m: LwfModule, r: NDIS_OID_REQUEST) => NdisAllocateCloneOidRequest(m.handle, r, 0x53594e43).Status,
      /clones/,
    ],
    [
      'reissue',
      (m: LwfModule, r: NDIS_OID_REQUEST) => {
        NdisFSynchronousOidRequest(m.handle, r);
        return NDIS_STATUS_ALREADY_COMPLETE;
      },
      /must not reissue a request its FilterSynchronousOidRequest/,
    ],
  ] as const) {
    const { p, mini, log } = fresh();
    const w = run(syncNic(mini), p, {
      collect: true,
      filters: [syncLwf('f-low', log, { request: act })],
      steps: [[300, DISPATCH, () => NdisSynchronousOidRequest(p.handle!, syncRequest('a'))]],
    });
    assert.deepEqual(rules(w), ['NdisSim_SyncOid'], what);
    assert.match(messages(w), why, what);
  }
});

test('R6.2 a miniport without MiniportSynchronousOidRequest: the request fails with NDIS_STATUS_NOT_SUPPORTED, or INVALID_OID (option syncOidNoHandler)', () => {
  for (const [option, expected] of [
    [undefined, NDIS_STATUS_NOT_SUPPORTED],
    ['invalid-oid', NDIS_STATUS_INVALID_OID],
  ] as const) {
    const { p, mini } = fresh();
    const got: number[] = [];
    const w = run(syncNic(mini, { sync: false }), p, {
      ndis: option === undefined ? undefined : { syncOidNoHandler: option },
      steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
    });
    assert.deepEqual(got, [expected]);
    assert.deepEqual(rules(w), []);
  }
});

test('R2.2, R7.5 version gate: synchronous handlers of a driver below NDIS 6.80 or with characteristics revision 2 are never called, with a warning', () => {
  for (const o of [{ minor: 60 }, { revision: 2 }]) {
    const { p, mini, log } = fresh();
    const got: number[] = [];
    const w = run(syncNic(mini, o), p, {
      filters: [syncLwf('f-low', log, { minor: o.minor, revision: o.revision })],
      steps: [[300, DISPATCH, () => got.push(NdisSynchronousOidRequest(p.handle!, syncRequest('a')))]],
    });
    assert.deepEqual(got, [NDIS_STATUS_NOT_SUPPORTED], 'as if the miniport had no handler');
    assert.deepEqual(mini.seen, []);
    assert.deepEqual(log, [], 'the module is bypassed');
    const warned = (w.lastResult?.warnings ?? []).map((x) => `${x.rule} ${x.ddi}`);
    assert.deepEqual(warned, ['R2.2 NdisMRegisterMiniportDriver', 'R7.5 NdisFRegisterFilterDriver']);
    assert.deepEqual(rules(w), []);
  }
});

test('R6.2 NdisSim_SyncOid: a selective suspend miniport must not register MiniportSynchronousOidRequest', () => {
  const { p, mini } = fresh();
  const edit = (c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS): void => {
    c.SetOptionsHandler = (h: NDIS_HANDLE) =>
      NdisSetOptionalHandlers(h, {
        Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS, Revision: 1 },
        IdleNotificationHandler: () => NDIS_STATUS_PENDING,
        CancelIdleNotificationHandler: () => {},
      });
  };
  const w = run(syncNic(mini, { edit }), p, { collect: true, untilMs: 100 });
  assert.deepEqual(rules(w), ['NdisSim_SyncOid']);
  assert.match(messages(w), /selective suspend are incompatible with synchronous OIDs/);
});

test('R5.7 a synchronous request that reaches the miniport after its SurpriseRemoved notification and succeeds is warned about; NOT_ACCEPTED is not', () => {
  for (const [answer, warns] of [
    [NDIS_STATUS_SUCCESS, 1],
    [NDIS_STATUS_NOT_ACCEPTED, 0],
  ] as const) {
    const { p, mini } = fresh();
    const w = run(syncNic(mini, { answer }), p, {
      actions: [[300, { kind: 'surprise-remove', device: 'nic0' }]],
      // After the notification (300.2 ms), before the teardown pauses the binding.
      steps: [[300.25, DISPATCH, () => NdisSynchronousOidRequest(p.handle!, syncRequest('a'))]],
    });
    assert.equal(mini.seen.length, 1, 'the miniport got it');
    const r57 = (w.lastResult?.warnings ?? []).filter((x) => x.rule === 'R5.7');
    assert.equal(r57.length, warns, `answer 0x${answer.toString(16)}`);
    if (warns > 0) assert.match(r57[0]!.message, /synchronous OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES/);
  }
});

// ------------------------------------------------------------ NDIS's own

test("R6.2 a scenario oid action with synchronous: true: a method request from above the topmost module, at DISPATCH, through each module's handlers to the miniport", () => {
  const { p, mini, log } = fresh();
  const w = run(syncNic(mini), p, {
    filters: [syncLwf('f-low', log)],
    actions: [[300, syncAction]],
  });
  assert.deepEqual(
    mini.seen.map((x) => x.irql),
    [DISPATCH],
  );
  assert.deepEqual(log, ['f-low:Request', 'f-low:Complete ctx=f-low-ctx status=0x0']);
  assert.deepEqual(rules(w), []);
  const done = w.trace.events.find((e) => e.what === 'synchronous OID request completed');
  assert.ok(done !== undefined, 'the trace says how it ended');
});

/** A method request as syncRequest builds it, with METHOD_INFORMATION's parameters set as a requester would. */
function methodRequest(id: string): NDIS_OID_REQUEST {
  const r = syncRequest(id);
  const m = r.DATA.METHOD_INFORMATION;
  m.InputBufferLength = 12;
  m.OutputBufferLength = 24;
  m.MethodId = 7;
  return r;
}

/** What a handler saw through DATA.METHOD_INFORMATION. */
type MethodSeen = Record<string, unknown>;

function methodSeen(r: NDIS_OID_REQUEST): MethodSeen {
  const m = r.DATA.METHOD_INFORMATION;
  return {
    Oid: m.Oid,
    InformationBuffer: m.InformationBuffer,
    InputBufferLength: m.InputBufferLength,
    OutputBufferLength: m.OutputBufferLength,
    MethodId: m.MethodId,
  };
}

const issued: MethodSeen = {
  Oid: RSS,
  InformationBuffer: 1,
  InputBufferLength: 12,
  OutputBufferLength: 24,
  MethodId: 7,
};

test('R6.1, R6.2 DATA.METHOD_INFORMATION: MiniportSynchronousOidRequest reads InputBufferLength, OutputBufferLength and MethodId as issued; the BytesRead, BytesWritten and BytesNeeded it writes come back to the NdisSynchronousOidRequest caller', () => {
  const { p, mini } = fresh();
  const seen: MethodSeen[] = [];
  let req: NDIS_OID_REQUEST | null = null;
  const w = run(
    syncNic(mini, {
      edit: (c) => {
        c.SynchronousOidRequestHandler = (_a: unknown, r: NDIS_OID_REQUEST) => {
          seen.push(methodSeen(r));
          const m = r.DATA.METHOD_INFORMATION;
          m.BytesRead = 12;
          m.BytesWritten = 20;
          m.BytesNeeded = 3;
          return NDIS_STATUS_SUCCESS;
        };
      },
    }),
    p,
    {
      steps: [
        [
          300,
          DISPATCH,
          () => {
            req = methodRequest('a');
            NdisSynchronousOidRequest(p.handle!, req);
          },
        ],
      ],
    },
  );
  assert.deepEqual(seen, [issued]);
  const m = (req as NDIS_OID_REQUEST | null)!.DATA.METHOD_INFORMATION;
  assert.deepEqual(
    [m.BytesRead, m.BytesWritten, m.BytesNeeded],
    [12, 20, 3],
    'the caller reads the counts back',
  );
  assert.deepEqual(
    [m.InputBufferLength, m.OutputBufferLength, m.MethodId],
    [12, 24, 7],
    'the counts do not overwrite the parameters',
  );
  // InputBufferLength is the union's InformationBufferLength slot, as in C.
  assert.equal((req as NDIS_OID_REQUEST | null)!.DATA.SET_INFORMATION.InformationBufferLength, 12);
  assert.deepEqual(rules(w), []);
});

test('R7.5 DATA.METHOD_INFORMATION through a filter: FilterSynchronousOidRequest of a module issuing NdisFSynchronousOidRequest sees the parameters as issued, the one below it too; what the miniport writes comes back to the module', () => {
  const { p, mini, log } = fresh();
  const seen: MethodSeen[] = [];
  let mid: LwfModule | null = null;
  let req: NDIS_OID_REQUEST | null = null;
  run(
    syncNic(mini, {
      edit: (c) => {
        c.SynchronousOidRequestHandler = (_a: unknown, r: NDIS_OID_REQUEST) => {
          seen.push(methodSeen(r));
          r.DATA.METHOD_INFORMATION.BytesRead = 12;
          r.DATA.METHOD_INFORMATION.BytesWritten = 16;
          return NDIS_STATUS_SUCCESS;
        };
      },
    }),
    p,
    {
      filters: [
        syncLwf('f-low', log, {
          request: (_m, r) => {
            seen.push(methodSeen(r));
            return NDIS_STATUS_SUCCESS;
          },
        }),
        syncLwf('f-mid', log, { onRestart: (m) => (mid = m) }),
      ],
      steps: [
        [
          300,
          DISPATCH,
          () => {
            req = methodRequest('own');
            NdisFSynchronousOidRequest(mid!.handle, req);
          },
        ],
      ],
    },
  );
  assert.deepEqual(seen, [issued, issued], 'f-low, then the miniport');
  const m = (req as NDIS_OID_REQUEST | null)!.DATA.METHOD_INFORMATION;
  assert.deepEqual([m.BytesRead, m.BytesWritten], [12, 16]);
});

test('R6.2 the scenario synchronous request: METHOD_INFORMATION has the value as input, InputBufferLength and OutputBufferLength the buffer length, MethodId 0; the trace line shows the BytesRead and BytesWritten the miniport wrote', () => {
  const { p, mini } = fresh();
  const seen: MethodSeen[] = [];
  const w = run(
    syncNic(mini, {
      edit: (c) => {
        c.SynchronousOidRequestHandler = (_a: unknown, r: NDIS_OID_REQUEST) => {
          seen.push(methodSeen(r));
          r.DATA.METHOD_INFORMATION.BytesRead = 4;
          r.DATA.METHOD_INFORMATION.BytesWritten = 2;
          return NDIS_STATUS_SUCCESS;
        };
      },
    }),
    p,
    { actions: [[300, syncAction]] },
  );
  assert.deepEqual(seen, [
    { Oid: RSS, InformationBuffer: 1, InputBufferLength: 4, OutputBufferLength: 4, MethodId: 0 },
  ]);
  const done = w.trace.events.find((e) => e.what === 'synchronous OID request completed');
  assert.equal(done?.data?.BytesRead, 4);
  assert.equal(done?.data?.BytesWritten, 2);
});

test('R6.2 not serialized against a pause: a synchronous request reaches MiniportSynchronousOidRequest while its MiniportPause is pending; once the adapter is halted it returns NDIS_STATUS_CLOSING unseen', () => {
  const { p, mini } = fresh();
  let pausing: { handle: NDIS_HANDLE } | null = null;
  const states: string[] = [];

  const w = run(
    syncNic(mini, {
      hooks: {
        pause: (a) => {
          pausing = a;
          return NDIS_STATUS_PENDING;
        },
      },
    }),
    p,
    {
      actions: [
        [300, { kind: 'remove', device: 'nic0' }],
        [400, syncAction],
        [600, syncAction],
      ],
      steps: [
        [401, PASSIVE, () => states.push(current!.ndis.adapters[0]!.state)],
        [500, PASSIVE, () => NdisMPauseComplete(pausing!.handle)],
        [599, PASSIVE, () => states.push(current!.ndis.adapters[0]!.state)],
      ],
    },
  );
  assert.deepEqual(states, ['Pausing', 'Halted']);
  assert.equal(
    mini.seen.length,
    1,
    'the request during the pause reached the miniport; the one after the halt did not',
  );
  assert.deepEqual(rules(w), []);
  const done = w.trace.events
    .filter((e) => e.what === 'synchronous OID request completed')
    .map((e) => e.data?.status);
  assert.deepEqual(done, ['NDIS_STATUS_SUCCESS', 'NDIS_STATUS_CLOSING']);
});

test('NdisSim_Irql: NdisSynchronousOidRequest at DIRQL (its page: <= DISPATCH_LEVEL, from the generated table)', () => {
  const { p, mini } = fresh();
  const w = run(syncNic(mini), p, {
    collect: true,
    steps: [[300, 3, () => NdisSynchronousOidRequest(p.handle!, syncRequest('a'))]],
  });
  const v = (w.lastResult?.violations ?? []).filter((x) => x.rule === 'NdisSim_Irql').map((x) => x.ddi);
  assert.ok(v.includes('NdisSynchronousOidRequest'), JSON.stringify(rules(w)));
});

test('R6.2 not serialized against a reset: a synchronous request reaches MiniportSynchronousOidRequest while MiniportResetEx is pending', () => {
  const { p, mini } = fresh();
  let resetting: { handle: NDIS_HANDLE } | null = null;
  const inReset: boolean[] = [];

  const w = run(
    syncNic(mini, {
      hooks: {
        checkForHang: () => resetting === null,
        reset: (a) => {
          resetting = a;
          return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
        },
      },
    }),
    p,
    {
      actions: [[2500, syncAction]],
      steps: [
        [2500.5, PASSIVE, () => inReset.push(current!.ndis.adapters[0]!.resetInProgress)],
        [2600, PASSIVE, () => NdisMResetComplete(resetting!.handle, NDIS_STATUS_SUCCESS, false)],
      ],
      untilMs: 3000,
    },
  );
  assert.ok(resetting !== null, 'NDIS reset the adapter');
  assert.deepEqual(inReset, [true], 'the request came during the reset');
  assert.equal(mini.seen.length, 1, 'and reached the miniport');
  assert.deepEqual(rules(w), []);
});
