// NdisCancelOidRequest (learn.microsoft.com: nf-ndis-ndiscanceloidrequest): a protocol
// cancels the requests it issued on that binding whose NDIS_OID_REQUEST carries the
// RequestId it names. Another binding's requests with the same RequestId are not its
// to cancel; queued ones complete with NDIS_STATUS_REQUEST_ABORTED, the one in the
// miniport goes to MiniportCancelOidRequest.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oidLoggingLwf } from '../src/drivers/lwf.ts';
import {
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateTimerObject,
  NdisMOidRequestComplete,
  NdisMSleep,
  NdisRequestQueryInformation,
  NdisSetTimerObject,
  OID_802_3_MULTICAST_LIST,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_STATISTICS,
  oidRequestData,
} from '../src/index.ts';
import type { Binding } from '../src/ndis/binding.ts';
import { NdisCancelOidRequest, NdisOidRequest } from '../src/ndis/protocol-api.ts';
import type { NDIS_OID_REQUEST } from '../src/ndis/types.ts';
import { protocolStep } from './helpers/protocol.ts';
import { abortPendingOid, scriptedDriver } from './helpers/scripted.ts';
import { ns, statisticsQuery, testWorld } from './helpers/world.ts';

function request(id: string): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
    RequestType: NdisRequestQueryInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: id,
    RequestHandle: null,
    DATA: oidRequestData(OID_GEN_STATISTICS),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
}

test("NdisCancelOidRequest cancels only the calling binding's requests with that RequestId, every one of them", () => {
  // The miniport keeps the test's requests pending until they are cancelled.
  const drv = scriptedDriver('oid-cancel', {
    oid: (a, req) => {
      if (typeof req.RequestId !== 'string' || !req.RequestId.startsWith('t-')) return 0xc00000bb;
      a.state.pending = req;
      return NDIS_STATUS_PENDING;
    },
    cancelOid: abortPendingOid,
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'oid-cancel' }],
    protocols: ['p1', 'p2'],
  });
  w.run(100 * ns.ms);
  const bindings = w.adapter('nic0')!.bindings;
  const on = (name: string): Binding => bindings.find((x) => x.protocol.name === name)!;
  const p1 = on('p1');
  const p2 = on('p2');

  // p1's first request reaches the miniport and stays there; the rest queue behind it.
  const inMiniport = request('t-same');
  const p2Same = request('t-same');
  const p1Twice = [request('t-twice'), request('t-twice')];
  for (const [bd, r] of [
    [p1, inMiniport],
    [p2, p2Same],
    [p1, p1Twice[0]!],
    [p1, p1Twice[1]!],
  ] as const)
    assert.equal(NdisOidRequest(bd, r), NDIS_STATUS_PENDING);
  w.run(200 * ns.ms);
  assert.equal(w.adapter('nic0')!.oid?.request, inMiniport);

  const completed = (): { protocol: string; status: unknown }[] =>
    w.trace.events
      .filter((e) => e.kind === 'call' && e.what === 'ProtocolOidRequestComplete')
      .map((e) => ({ protocol: e.actor, status: e.data?.status }));
  const before = completed().length;

  // Between runs, as the actor "setup" (World.call: DDIs only while a world runs).
  // p2 cancels "t-same": its own queued request goes, p1's request in the miniport stays.
  w.call(() => NdisCancelOidRequest(p2, 't-same'));
  assert.deepEqual(completed().slice(before), [{ protocol: 'p2', status: 'NDIS_STATUS_REQUEST_ABORTED' }]);
  assert.equal(w.adapter('nic0')!.oid?.request, inMiniport);

  // p1 cancels "t-twice": both of its queued requests with that RequestId go.
  w.call(() => NdisCancelOidRequest(p1, 't-twice'));
  assert.deepEqual(completed().slice(before + 1), [
    { protocol: 'p1', status: 'NDIS_STATUS_REQUEST_ABORTED' },
    { protocol: 'p1', status: 'NDIS_STATUS_REQUEST_ABORTED' },
  ]);

  // p1 cancels "t-same": now the request in the miniport goes to MiniportCancelOidRequest.
  w.call(() => NdisCancelOidRequest(p1, 't-same'));
  assert.deepEqual(completed().slice(before + 3), [
    { protocol: 'p1', status: 'NDIS_STATUS_REQUEST_ABORTED' },
  ]);
  const cancels = w.trace.events.filter((e) => e.kind === 'call' && e.what === 'MiniportCancelOidRequest');
  assert.equal(cancels.length, 1);
  assert.equal(w.adapter('nic0')!.oid, null);
});

test("R6.2, NdisFCancelOidRequest: through oid-logging-lwf, whose clones keep their original's RequestId, two protocols' requests with the same RequestId cannot both be below it (one regular request per adapter): p2's cancel aborts its own queued request and leaves p1's clone in the miniport; p1's cancel reaches that clone", () => {
  const drv = scriptedDriver('oid-cancel', {
    oid: (a, req) => {
      if (typeof req.RequestId !== 'string' || !req.RequestId.startsWith('t-')) return 0xc00000bb;
      a.state.pending = req;
      return NDIS_STATUS_PENDING;
    },
    cancelOid: abortPendingOid,
  });
  const w = testWorld({
    drivers: [drv, oidLoggingLwf],
    devices: [{ name: 'nic0', driver: 'oid-cancel' }],
    protocols: ['p1', 'p2'],
  });
  w.addFilter(oidLoggingLwf.name);
  w.run(100 * ns.ms);
  const bindings = w.adapter('nic0')!.bindings;
  const on = (name: string): Binding => bindings.find((x) => x.protocol.name === name)!;
  assert.equal(NdisOidRequest(on('p1'), request('t-same')), NDIS_STATUS_PENDING);
  assert.equal(NdisOidRequest(on('p2'), request('t-same')), NDIS_STATUS_PENDING);
  w.run(200 * ns.ms);
  const below = w.adapter('nic0')!.oid?.request;
  assert.equal(below?.RequestId, 't-same', "p1's clone is in the miniport");
  const aborted = (): string[] =>
    w.trace.events
      .filter(
        (e) =>
          e.kind === 'call' &&
          e.what === 'ProtocolOidRequestComplete' &&
          e.data?.status === 'NDIS_STATUS_REQUEST_ABORTED',
      )
      .map((e) => e.actor);
  const miniportCancels = () =>
    w.trace.events.filter((e) => e.kind === 'call' && e.what === 'MiniportCancelOidRequest').length;
  // From each protocol's own thread: p1's cancel runs the filter's FilterCancelOidRequest.
  protocolStep(w, 10 * ns.ms, 'p2', () => NdisCancelOidRequest(on('p2'), 't-same'));
  w.run(220 * ns.ms);
  assert.deepEqual(aborted(), ['p2']);
  assert.equal(miniportCancels(), 0, "p2's cancel did not reach p1's clone");
  assert.equal(w.adapter('nic0')!.oid?.request, below);
  protocolStep(w, 10 * ns.ms, 'p1', () => NdisCancelOidRequest(on('p1'), 't-same'));
  w.run(240 * ns.ms);
  assert.deepEqual(w.lastResult?.violations, []);
  assert.deepEqual(aborted(), ['p2', 'p1']);
  assert.equal(miniportCancels(), 1);
  assert.equal(w.adapter('nic0')!.oid, null);
});

test("R6.3: completing a request that is no longer pending stops with Driver Verifier's run-time code, 0xC4/0x91002", () => {
  const drv = scriptedDriver('dc-nic', {
    // Completes the request inside MiniportOidRequest and then returns a final status.
    oid: (a, req) => {
      NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'dc0', driver: 'dc-nic' }] });
  const r = w.run(1 * ns.s);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'DoubleComplete');
  assert.equal(v.bugCheck.code, 0xc4);
  // Parameters 2–4 as status.json gives them for 0x91002: the condition's string, the
  // rule state and the supplemental state (stand-ins).
  assert.deepEqual(v.bugCheck.params, [
    0x91002,
    'OID request completed twice',
    'dc0 rule state',
    'dc0 supplemental state',
  ]);
});

test("R6.6: Driver Verifier's 12 s for an OID runs from the call of MiniportOidRequest, so a handler that blocks past it is caught while it blocks", () => {
  // The statistics query sleeps 5 s and then 8 s in MiniportOidRequest before it answers.
  const drv = scriptedDriver('slow-oid', {
    oid: (_a, req) => {
      if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_SUCCESS;
      NdisMSleep(5_000_000);
      NdisMSleep(8_000_000);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'slow0', driver: 'slow-oid' }],
    actions: [{ atNs: 100 * ns.ms, action: statisticsQuery('slow0') }],
  });
  const r = w.run(30 * ns.s);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisTimedOidComplete');
  assert.deepEqual(v.bugCheck.params, [
    0x92003,
    'an OID request is not completed within 12 s',
    'slow0 rule state',
    'slow0 supplemental state',
  ]);
  const call = w.trace.events.find((e) => e.kind === 'call' && e.data?.Oid === 'OID_GEN_STATISTICS')!;
  assert.equal(r.endNs - call.t, 12 * ns.s);
});

test('R6.6: a request pended after a long block in MiniportOidRequest still has 12 s from the call, not from the return', () => {
  // Blocks 8 s, pends, and completes 8 s later: 16 s after the call.
  const drv = scriptedDriver('late-pend', {
    oid: (a, req) => {
      if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_SUCCESS;
      NdisMSleep(8_000_000);
      a.state.timer = NdisAllocateTimerObject(a.handle, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0,
        TimerFunction: () => NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS),
        FunctionContext: null,
      }).TimerObject;
      NdisSetTimerObject(a.state.timer as NDIS_HANDLE, -80_000_000, 0, null);
      return NDIS_STATUS_PENDING;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'late0', driver: 'late-pend' }],
    actions: [{ atNs: 100 * ns.ms, action: statisticsQuery('late0') }],
  });
  const r = w.run(30 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisTimedOidComplete');
  const call = w.trace.events.find((e) => e.kind === 'call' && e.data?.Oid === 'OID_GEN_STATISTICS')!;
  assert.equal(r.endNs - call.t, 12 * ns.s);
});

test("R6.1: a set's InformationBufferLength is the size of its buffer: 6 bytes an address for OID_802_3_MULTICAST_LIST, 4 for a ULONG", () => {
  const seen: [string, number][] = [];
  const drv = scriptedDriver('len-nic', {
    oid: (_a, req) => {
      if (typeof req.RequestId === 'string' && req.RequestId.startsWith('ndis:'))
        seen.push([String(req.DATA.Oid), req.DATA.SET_INFORMATION.InformationBufferLength]);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const set = (atMs: number, oid: number, value: unknown) => ({
    atNs: atMs * ns.ms,
    action: { kind: 'oid', device: 'len0', oid, set: true, value, timeoutS: 0 } as const,
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'len0', driver: 'len-nic' }],
    actions: [
      set(100, OID_802_3_MULTICAST_LIST, [
        [1, 0, 94, 0, 0, 1],
        [1, 0, 94, 0, 0, 2],
      ]),
      set(200, OID_GEN_CURRENT_PACKET_FILTER, 0x0b),
    ],
  });
  assert.equal(w.run(1 * ns.s).verdict, 'ok');
  assert.deepEqual(seen, [
    [String(OID_802_3_MULTICAST_LIST), 12],
    [String(OID_GEN_CURRENT_PACKET_FILTER), 4],
  ]);
});

test("R6.6: two handlers blocked at once, one's sleep inside the other's, are each caught 12 s after their own call", () => {
  const drv = scriptedDriver('slow2-nic', {
    oid: (_a, req) => {
      if (req.DATA.Oid === OID_GEN_STATISTICS) NdisMSleep(20_000_000);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [
      { name: 'nicA', driver: 'slow2-nic' },
      { name: 'nicB', driver: 'slow2-nic' },
    ],
    actions: [
      { atNs: 1 * ns.s, action: statisticsQuery('nicA') },
      { atNs: 6 * ns.s, action: statisticsQuery('nicB') },
    ],
    options: { verifier: 'collect' },
  });
  w.run(60 * ns.s);
  const calls = new Map(
    w.trace.events
      .filter((e) => e.kind === 'call' && e.data?.Oid === 'OID_GEN_STATISTICS')
      .map((e) => [String(e.data?.adapter), e.t]),
  );
  const caught = w.verifier.violations
    .filter((v) => v.rule === 'NdisTimedOidComplete')
    .map((v) => [v.adapter, v.timeNs - calls.get(String(v.adapter))!]);
  assert.deepEqual(caught, [
    ['nicA', 12 * ns.s],
    ['nicB', 12 * ns.s],
  ]);
});
