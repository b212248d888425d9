// Direct OID requests (NDIS 6.1+; 06-oid-datapath.md R6.2, R6.3; 02-init-halt.md R2.9;
// 04-hang-reset.md R4.12; 07-protocols-filters.md R7.5): NdisDirectOidRequest through
// 0, 1 and 2 filter modules to MiniportDirectOidRequest and back, not serialized; the
// rules NdisSim_DirectOid, NdisSim_FilterOidComplete and NdisSim_Irql on that path.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packetFilter } from '../examples/packet-filter.ts';
import { type Hooks, scriptedDriver, type TestAdapter } from '../src/drivers/buggy/base.ts';
import { type LwfModule, variantOfMonitorLwf, withDirectOidForwarding } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  type NDIS_OID_REQUEST,
  NDIS_STATUS_INVALID_OID,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  NdisCancelDirectOidRequest,
  NdisDirectOidRequest,
  NdisFDirectOidRequestComplete,
  NdisMDirectOidRequestComplete,
  NdisMRemoveMiniport,
  NdisRequestSetInformation,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA,
  World,
  type WorldOptions,
} from '../src/index.ts';
import { oidRequestData } from '../src/ndis/oid.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { WorldAction } from '../src/world.ts';
import { bindingProtocol, protocolStep } from './helpers/protocol.ts';
import { ns } from './helpers/world.ts';

const PASSIVE = 0;
const DIRQL = 3;

// ------------------------------------------------------------ the protocol

/** What the test protocol saw: its binding handle and each ProtocolDirectOidRequestComplete. */
interface Proto {
  handle: NDIS_HANDLE | null;
  completed: { id: unknown; status: number }[];
}

/** A protocol driver that binds (no packet filter) and issues direct requests when the test says. */
function directProto(p: Proto, withComplete = true): DriverModule {
  return bindingProtocol(
    'dproto',
    p,
    30,
    withComplete
      ? {
          DirectOidRequestCompleteHandler: (_ctx, req: NDIS_OID_REQUEST, status: number) => {
            p.completed.push({ id: req.RequestId, status });
          },
        }
      : {},
  );
}

function directRequest(id: string, oid = OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
    RequestType: NdisRequestSetInformation,
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

/** What the miniport saw and keeps: the requests it pended. */
interface Mini {
  adapter: TestAdapter | null;
  pended: NDIS_OID_REQUEST[];
  cancels: unknown[];
}

/**
 * A scripted miniport with MiniportDirectOidRequest that pends every request (`pend`) or
 * answers SUCCESS at once, and MiniportCancelDirectOidRequest that aborts the matching
 * ones. `direct: false`: no direct handlers at all.
 */
function directNic(mini: Mini, o: { pend?: boolean; direct?: boolean; hooks?: Hooks } = {}): DriverModule {
  return scriptedDriver('dnic', {
    ...o.hooks,
    characteristics(c) {
      if (o.direct === false) return;
      c.DirectOidRequestHandler = (a: TestAdapter, req: NDIS_OID_REQUEST) => {
        mini.adapter = a;
        if (!o.pend) {
          req.DATA.SET_INFORMATION.BytesRead = 4;
          return NDIS_STATUS_SUCCESS;
        }
        mini.pended.push(req);
        return NDIS_STATUS_PENDING;
      };
      c.CancelDirectOidRequestHandler = (a: TestAdapter, id: unknown) => {
        mini.cancels.push(id);
        for (const r of mini.pended.filter((x) => x.RequestId === id)) {
          mini.pended.splice(mini.pended.indexOf(r), 1);
          NdisMDirectOidRequestComplete(a.handle, r, NDIS_STATUS_REQUEST_ABORTED);
        }
      };
    },
  });
}

/** The miniport completes every request it pended, SUCCESS. */
function completeAll(mini: Mini): void {
  for (const r of mini.pended.splice(0))
    NdisMDirectOidRequestComplete(mini.adapter!.handle, r, NDIS_STATUS_SUCCESS);
}

function directLwf(name: string): DriverModule {
  return variantOfMonitorLwf(name, 'forwards direct OID requests', (c) => withDirectOidForwarding(c));
}

function plainLwf(name: string): DriverModule {
  return variantOfMonitorLwf(name, 'no direct handlers', () => {});
}

// ------------------------------------------------------------ the world

type Step = [atMs: number, irql: number, run: () => void];

interface Setup {
  filters?: DriverModule[];
  collect?: boolean;
  ndis?: WorldOptions['ndis'];
  seed?: number;
  withComplete?: boolean;
  /** Test code at these times, in a context of the given IRQL. */
  steps?: Step[];
  /** Called with the world before it runs. */
  onWorld?: (w: World) => void;
  /** Scenario actions at these times. */
  actions?: [atMs: number, action: WorldAction][];
  removeAtMs?: number;
  untilMs?: number;
}

function run(mp: DriverModule, p: Proto, s: Setup): World {
  const w = new World({ seed: s.seed ?? 1, verifier: s.collect ? 'collect' : 'bugcheck', ndis: s.ndis });
  s.onWorld?.(w);
  w.addDriver(mp);
  for (const f of s.filters ?? []) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  const proto = directProto(p, s.withComplete ?? true);
  w.addDriver(proto);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: mp.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const [atMs, a] of s.actions ?? []) w.at(atMs * ns.ms, a);
  for (const [atMs, irql, fn] of s.steps ?? []) protocolStep(w, Math.round(atMs * ns.ms), 'dproto', fn, irql);
  if (s.removeAtMs !== undefined) w.at(s.removeAtMs * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run((s.untilMs ?? 1000) * ns.ms);
  return w;
}

function calls(ev: readonly TraceEvent[]): string[] {
  return ev.filter((e) => e.kind === 'call' && /DirectOid/.test(e.what)).map((e) => `${e.actor}:${e.what}`);
}

function rules(w: World): string[] {
  return (w.lastResult?.violations ?? []).map((v) => v.rule);
}

const fresh = (): { p: Proto; mini: Mini } => ({
  p: { handle: null, completed: [] },
  mini: { adapter: null, pended: [], cancels: [] },
});

// ------------------------------------------------------------ the path

test("R6.2 NdisDirectOidRequest with no filter: MiniportDirectOidRequest in the caller's context; its final status comes straight back, no completion", () => {
  const { p, mini } = fresh();
  const got: number[] = [];
  const w = run(directNic(mini), p, {
    steps: [[300, PASSIVE, () => got.push(NdisDirectOidRequest(p.handle!, directRequest('a')))]],
  });
  assert.deepEqual(got, [NDIS_STATUS_SUCCESS], "the miniport's SUCCESS is what NdisDirectOidRequest returns");
  assert.deepEqual(p.completed, [], 'a final status from the call means no ProtocolDirectOidRequestComplete');
  assert.deepEqual(calls(w.trace.events), ['dnic:MiniportDirectOidRequest']);
  assert.deepEqual(rules(w), []);
});

test('R6.2, R7.5 through one and two filter modules: clone by clone down, FilterDirectOidRequestComplete up, then ProtocolDirectOidRequestComplete', () => {
  for (const filters of [[directLwf('f-low')], [directLwf('f-low'), directLwf('f-high')]]) {
    const { p, mini } = fresh();
    const got: number[] = [];
    const w = run(directNic(mini, { pend: true }), p, {
      filters,
      steps: [
        [300, PASSIVE, () => got.push(NdisDirectOidRequest(p.handle!, directRequest('a')))],
        [400, 2, () => completeAll(mini)],
      ],
    });
    assert.deepEqual(
      got,
      [NDIS_STATUS_PENDING],
      'the miniport pended it, so every filter returns PENDING too',
    );
    assert.deepEqual(
      p.completed,
      [{ id: 'a', status: NDIS_STATUS_SUCCESS }],
      'the completion reached the protocol',
    );
    const names = filters.map((f) => f.name).reverse();
    assert.deepEqual(calls(w.trace.events), [
      ...names.map((n) => `${n}:FilterDirectOidRequest`),
      'dnic:MiniportDirectOidRequest',
      ...[...names].reverse().map((n) => `${n}:FilterDirectOidRequestComplete`),
      'dproto:ProtocolDirectOidRequestComplete',
    ]);
    // Its trace line shows what it returned, as NdisDirectOidRequest's does ('= NDIS_STATUS_PENDING').
    const results = w.trace.events
      .filter(
        (e) => e.kind === 'ddi' && (e.what === 'NdisFDirectOidRequest' || e.what === 'NdisDirectOidRequest'),
      )
      .map((e) => `${e.what} = ${String(e.data?.result)}`);
    assert.deepEqual(results, [
      'NdisDirectOidRequest = NDIS_STATUS_PENDING',
      ...names.map(() => 'NdisFDirectOidRequest = NDIS_STATUS_PENDING'),
    ]);
    assert.deepEqual(rules(w), []);
  }
});

test('R7.5 examples/packet-filter forwards direct requests as ndislwf does: a pended one completes up, a final status completes the original at once and returns PENDING', () => {
  for (const pend of [true, false]) {
    const { p, mini } = fresh();
    const got: number[] = [];
    const w = run(directNic(mini, { pend }), p, {
      filters: [packetFilter],
      steps: [
        [300, PASSIVE, () => got.push(NdisDirectOidRequest(p.handle!, directRequest('a')))],
        [400, PASSIVE, () => completeAll(mini)],
      ],
    });
    assert.deepEqual(got, [NDIS_STATUS_PENDING], `pend ${pend}: FilterDirectOidRequest returns PENDING`);
    assert.deepEqual(p.completed, [{ id: 'a', status: NDIS_STATUS_SUCCESS }], `pend ${pend}: completed once`);
    assert.deepEqual(rules(w), []);
  }
});

test('R7.5 a filter module without FilterDirectOidRequest is bypassed on the direct path', () => {
  const { p, mini } = fresh();
  const w = run(directNic(mini, { pend: true }), p, {
    filters: [directLwf('f-low'), plainLwf('f-plain')],
    steps: [
      [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
      [400, PASSIVE, () => completeAll(mini)],
    ],
  });
  const c = calls(w.trace.events);
  assert.ok(!c.some((x) => x.startsWith('f-plain:')), `f-plain is never called: ${c.join(', ')}`);
  assert.deepEqual(c.slice(0, 2), ['f-low:FilterDirectOidRequest', 'dnic:MiniportDirectOidRequest']);
  assert.equal(p.completed.length, 1, 'the protocol got its completion');
});

test('a miniport without MiniportDirectOidRequest: NDIS_STATUS_NOT_SUPPORTED by default, NDIS_STATUS_INVALID_OID with directOidNoHandler: invalid-oid (the pages are silent)', () => {
  for (const [opt, want] of [
    [undefined, NDIS_STATUS_NOT_SUPPORTED],
    ['invalid-oid', NDIS_STATUS_INVALID_OID],
  ] as const) {
    const { p, mini } = fresh();
    const got: number[] = [];
    const w = run(directNic(mini, { direct: false }), p, {
      filters: [directLwf('f-low')],
      ...(opt === undefined ? {} : { ndis: { directOidNoHandler: opt } }),
      steps: [[300, PASSIVE, () => got.push(NdisDirectOidRequest(p.handle!, directRequest('a')))]],
    });
    assert.deepEqual(
      got,
      [want],
      `the filter returns what NDIS answered for the miniport (${opt ?? 'default'})`,
    );
    assert.deepEqual(calls(w.trace.events), ['f-low:FilterDirectOidRequest']);
    assert.deepEqual(rules(w), []);
  }
});

test('R6.2 direct requests are not serialized: three are pending in the miniport at once, beside each other, and complete out of order', () => {
  const { p, mini } = fresh();
  const w = run(directNic(mini, { pend: true }), p, {
    filters: [directLwf('f-low')],
    steps: [
      [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
      [
        300,
        2,
        () => NdisDirectOidRequest(p.handle!, directRequest('b', OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA)),
      ],
      [301, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('c'))],
      [
        350,
        PASSIVE,
        () => {
          assert.equal(
            mini.pended.length,
            3,
            'all three reached MiniportDirectOidRequest before any completed',
          );
          const [a, b, c] = mini.pended.splice(0);
          for (const r of [c!, a!, b!])
            NdisMDirectOidRequestComplete(mini.adapter!.handle, r, NDIS_STATUS_SUCCESS);
        },
      ],
    ],
  });
  assert.deepEqual(
    p.completed.map((x) => x.id),
    ['c', 'a', 'b'],
    "each completion reaches its request, in the miniport's order",
  );
  assert.deepEqual(rules(w), []);
});

test('NdisCancelDirectOidRequest: through the filter (FilterCancelDirectOidRequest, NdisFCancelDirectOidRequest) to MiniportCancelDirectOidRequest; the request completes REQUEST_ABORTED', () => {
  const { p, mini } = fresh();
  const w = run(directNic(mini, { pend: true }), p, {
    filters: [directLwf('f-low')],
    steps: [
      [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
      [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('b'))],
      [350, PASSIVE, () => NdisCancelDirectOidRequest(p.handle!, 'a')],
      [400, PASSIVE, () => completeAll(mini)],
    ],
  });
  assert.deepEqual(mini.cancels, ['a']);
  assert.deepEqual(p.completed, [
    { id: 'a', status: NDIS_STATUS_REQUEST_ABORTED },
    { id: 'b', status: NDIS_STATUS_SUCCESS },
  ]);
  assert.ok(
    calls(w.trace.events).includes('f-low:FilterCancelDirectOidRequest'),
    "the filter's cancel handler ran",
  );
  assert.deepEqual(rules(w), []);
});

// ------------------------------------------------------------ the rules

test('NdisSim_DirectOid: NdisMDirectOidRequestComplete twice for one request', () => {
  const { p, mini } = fresh();
  const w = run(directNic(mini, { pend: true }), p, {
    collect: true,
    steps: [
      [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
      [
        400,
        PASSIVE,
        () => {
          const r = mini.pended[0]!;
          NdisMDirectOidRequestComplete(mini.adapter!.handle, r, NDIS_STATUS_SUCCESS);
          NdisMDirectOidRequestComplete(mini.adapter!.handle, r, NDIS_STATUS_SUCCESS);
        },
      ],
    ],
  });
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_DirectOid');
  assert.equal(v.length, 1, `one violation: ${rules(w).join(', ')}`);
  assert.match(v[0]!.message, /completed twice/);
  assert.equal(p.completed.length, 1, 'the protocol heard of it once');
});

test('NdisSim_DirectOid: MiniportDirectOidRequest completes the request and returns SUCCESS too', () => {
  const { p, mini } = fresh();
  const mp = scriptedDriver('dnic', {
    characteristics(c) {
      c.DirectOidRequestHandler = (a: TestAdapter, req: NDIS_OID_REQUEST) => {
        NdisMDirectOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
        return NDIS_STATUS_SUCCESS;
      };
      c.CancelDirectOidRequestHandler = () => {};
    },
  });
  void mini;
  const w = run(mp, p, {
    collect: true,
    steps: [[300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))]],
  });
  const v = w.lastResult!.violations.find((x) => x.rule === 'NdisSim_DirectOid');
  assert.ok(v !== undefined, `NdisSim_DirectOid reported: ${rules(w).join(', ')}`);
  assert.match(v.message, /and then returned NDIS_STATUS_SUCCESS/);
});

test('NdisSim_DirectOid: a completion for a request the miniport never got; an OID the direct path does not allow; a protocol without ProtocolDirectOidRequestComplete', () => {
  {
    const { p, mini } = fresh();
    const w = run(directNic(mini), p, {
      collect: true,
      steps: [
        [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
        [400, PASSIVE, () => NdisMDirectOidRequestComplete(mini.adapter!.handle, directRequest('x'), 0)],
        [
          500,
          PASSIVE,
          () => NdisDirectOidRequest(p.handle!, directRequest('g', OID_GEN_CURRENT_PACKET_FILTER)),
        ],
      ],
    });
    const m = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_DirectOid').map((x) => x.message);
    assert.equal(m.length, 2, m.join(' | '));
    assert.match(m[0]!, /not a direct OID request/);
    assert.match(m[1]!, /OID_GEN_CURRENT_PACKET_FILTER, which the direct OID path does not allow/);
  }
  {
    const { p, mini } = fresh();
    const got: number[] = [];
    const w = run(directNic(mini), p, {
      collect: true,
      withComplete: false,
      steps: [[300, PASSIVE, () => got.push(NdisDirectOidRequest(p.handle!, directRequest('a')))]],
    });
    assert.ok(rules(w).includes('NdisSim_DirectOid'), rules(w).join(', '));
    assert.equal(mini.adapter, null, 'the request never reached the miniport');
    assert.notEqual(got[0], NDIS_STATUS_SUCCESS);
  }
});

test('NdisSim_FilterOidComplete: NdisFDirectOidRequestComplete twice for one request', () => {
  const { p, mini } = fresh();
  let held: { handle: NDIS_HANDLE; req: NDIS_OID_REQUEST } | null = null;
  const twice = variantOfMonitorLwf('f-twice', 'completes a direct request twice', (c) => {
    withDirectOidForwarding(c);
    const complete = c.DirectOidRequestCompleteHandler!;
    c.DirectOidRequestHandler = (m: LwfModule, req: NDIS_OID_REQUEST) => {
      held = { handle: m.handle, req };
      return NDIS_STATUS_PENDING;
    };
    void complete;
  });
  const w = run(directNic(mini), p, {
    filters: [twice],
    collect: true,
    steps: [
      [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
      [
        400,
        PASSIVE,
        () => {
          const h = held!;
          NdisFDirectOidRequestComplete(h.handle, h.req, NDIS_STATUS_SUCCESS);
          NdisFDirectOidRequestComplete(h.handle, h.req, NDIS_STATUS_SUCCESS);
        },
      ],
    ],
  });
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_FilterOidComplete');
  assert.equal(v.length, 1, rules(w).join(', '));
  assert.match(v[0]!.message, /completed twice/);
  assert.equal(p.completed.length, 1);
});

test('NdisSim_Irql: NdisDirectOidRequest and NdisMDirectOidRequestComplete at DIRQL (their pages: <= DISPATCH_LEVEL, from the generated table)', () => {
  const { p, mini } = fresh();
  const w = run(directNic(mini, { pend: true }), p, {
    collect: true,
    steps: [
      [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
      [400, DIRQL, () => completeAll(mini)],
      [500, DIRQL, () => NdisDirectOidRequest(p.handle!, directRequest('b'))],
    ],
  });
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_Irql').map((x) => x.ddi);
  assert.deepEqual(v, ['NdisMDirectOidRequestComplete', 'NdisDirectOidRequest']);
});

test("R2.9 a PnP removal and NdisMRemoveMiniport wait with MiniportHaltEx until the pending direct requests (NDIS's own, the scenario action) complete", () => {
  for (const how of ['remove', 'NdisMRemoveMiniport'] as const) {
    const { p, mini } = fresh();
    let haltedAt = -1;
    let pendingAtHalt = -1;
    let world: World | null = null;
    const hooks: Hooks = {
      halt() {
        haltedAt = world!.kernel.now;
        pendingAtHalt = mini.pended.length;
      },
    };
    const direct: WorldAction = {
      kind: 'oid',
      device: 'nic0',
      oid: OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA,
      set: true,
      value: 1,
      timeoutS: 0,
      direct: true,
    };
    const w = run(directNic(mini, { pend: true, hooks }), p, {
      onWorld: (x) => {
        world = x;
      },
      actions: [
        [300, direct],
        [300, direct],
      ],
      steps: [
        [700, 2, () => completeAll(mini)],
        ...(how === 'NdisMRemoveMiniport'
          ? [[400, PASSIVE, () => NdisMRemoveMiniport(mini.adapter!.handle)] as Step]
          : []),
      ],
      ...(how === 'remove' ? { removeAtMs: 400 } : {}),
    });
    assert.ok(
      haltedAt >= 700 * ns.ms,
      `${how}: MiniportHaltEx only after the completions (at ${haltedAt / ns.ms} ms)`,
    );
    assert.equal(pendingAtHalt, 0);
    assert.ok(
      w.trace.events.some((e) => e.what === 'halt waits for the pending direct OID requests (R2.9)'),
      'the trace says what the halt waits for',
    );
    assert.equal(
      w.trace.events.filter((e) => e.what === 'direct OID request completed').length,
      2,
      'NDIS heard both completions',
    );
    assert.deepEqual(rules(w), []);
  }
});

test('NdisSim_ProtocolUnbind: a protocol that closes its binding with a direct request still pending breaks the rule of any OID request', () => {
  const { p, mini } = fresh();
  const w = run(directNic(mini, { pend: true }), p, {
    collect: true,
    steps: [[300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))]],
    removeAtMs: 400,
  });
  assert.ok(rules(w).includes('NdisSim_ProtocolUnbind'), rules(w).join(', '));
});

test("R7.11 a filter module that holds a direct request is detached only once it completes it; one never completed is in the run's pending list", () => {
  for (const completes of [true, false]) {
    const { p, mini } = fresh();
    let held: { handle: NDIS_HANDLE; req: NDIS_OID_REQUEST } | null = null;
    const holder = variantOfMonitorLwf('f-hold', 'holds direct requests', (c) => {
      withDirectOidForwarding(c);
      c.DirectOidRequestHandler = (m: LwfModule, req: NDIS_OID_REQUEST) => {
        held = { handle: m.handle, req };
        return NDIS_STATUS_PENDING;
      };
    });
    const w = run(directNic(mini), p, {
      filters: [holder],
      collect: true,
      steps: [
        [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
        ...(completes
          ? [
              [
                600,
                PASSIVE,
                () => NdisFDirectOidRequestComplete(held!.handle, held!.req, NDIS_STATUS_SUCCESS),
              ] as Step,
            ]
          : []),
      ],
      removeAtMs: 400,
    });
    // The test protocol closes its binding with its request still out (its own mistake).
    assert.deepEqual(rules(w), ['NdisSim_ProtocolUnbind']);
    const detach = w.trace.events.find((e) => e.kind === 'call' && e.what === 'FilterDetach');
    if (completes) {
      assert.ok(
        detach !== undefined && detach.t >= 600 * ns.ms,
        `FilterDetach after the completion (${detach?.t})`,
      );
      assert.equal(w.ndis.adapters[0]!.state, 'Halted', 'the removal went through');
    } else {
      assert.equal(detach, undefined, 'FilterDetach never comes');
      assert.match(w.lastResult!.pending.join(' | '), /filter module f-hold holds 1 direct OID request\(s\)/);
    }
  }
});

test('R5.7 a direct request that reaches the miniport after its SurpriseRemoved notification and completes with SUCCESS is warned about', () => {
  const { p, mini } = fresh();
  const w = run(directNic(mini), p, {
    // After the notification (300.2 ms), before the teardown pauses the binding.
    steps: [[300.25, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))]],
    onWorld: (x) => x.at(300 * ns.ms, { kind: 'surprise-remove', device: 'nic0' }),
  });
  const warned = (w.lastResult?.warnings ?? []).filter((x) => x.rule === 'R5.7');
  assert.equal(warned.length, 1, JSON.stringify(w.lastResult?.warnings));
  assert.match(warned[0]!.message, /direct OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA/);
});

test('R4.12 from NDIS 6.30 a reset that completes with direct requests still pending is NdisSim_ResetWithPendingWork; aborting them first is not', () => {
  for (const abort of [false, true]) {
    const { p, mini } = fresh();
    const hooks: Hooks = {
      checkForHang: () => mini.pended.length > 0,
      reset: (a) => {
        if (abort)
          for (const r of mini.pended.splice(0))
            NdisMDirectOidRequestComplete(a.handle, r, NDIS_STATUS_REQUEST_ABORTED);
        return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
      },
    };
    const w = run(directNic(mini, { pend: true, hooks }), p, {
      collect: true,
      steps: [[300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))]],
      untilMs: 5000,
    });
    const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_ResetWithPendingWork');
    if (abort) {
      assert.deepEqual(v, [], 'aborted before the reset completed');
      assert.deepEqual(p.completed, [{ id: 'a', status: NDIS_STATUS_REQUEST_ABORTED }]);
    } else {
      assert.ok(v.length > 0, `reported: ${rules(w).join(', ')}`);
      assert.match(v[0]!.message, /1 direct OID request\(s\)/);
    }
  }
});

test('determinism: the same seed gives the same direct-OID trace', () => {
  const once = (): string => {
    const { p, mini } = fresh();
    const w = run(directNic(mini, { pend: true }), p, {
      filters: [directLwf('f-low'), directLwf('f-high')],
      seed: 7,
      steps: [
        [300, PASSIVE, () => NdisDirectOidRequest(p.handle!, directRequest('a'))],
        [300, 2, () => NdisDirectOidRequest(p.handle!, directRequest('b'))],
        [400, PASSIVE, () => completeAll(mini)],
      ],
      removeAtMs: 500,
    });
    return JSON.stringify(w.trace.events.map((e) => [e.t, e.actor, e.what]));
  };
  assert.equal(once(), once());
});
