// The DATA union of NDIS_OID_REQUEST and the buffer lengths in it: R6.1, R6.3 and
// bug check 0x7C/0x1D (NDIS_BUGCHECK_OID_REQUEST_INVALID_BUFFER).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { oidLoggingLwf } from '../src/drivers/lwf.ts';
import { vmini } from '../src/drivers/vmini.ts';
import {
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_OID_REQUEST_REVISION_1,
  NDIS_SIZEOF_STATISTICS_INFO_REVISION_1,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_INDICATION_REVISION_1,
  NDIS_STATUS_MEDIA_SPECIFIC_INDICATION,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisMediaStateConnected,
  NdisMIndicateStatusEx,
  NdisMOidRequestComplete,
  NdisRequestMethod,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_MEDIA_CONNECT_STATUS,
  OID_GEN_STATISTICS,
  OID_GEN_SUPPORTED_LIST,
  oidRequestData,
} from '../src/index.ts';
import { cloneOidRequestData } from '../src/ndis/oid.ts';
import { NdisOidRequest } from '../src/ndis/protocol-api.ts';
import type { NDIS_OID_REQUEST } from '../src/ndis/types.ts';
import type { WorldAction } from '../src/world.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns, statisticsQuery, testWorld } from './helpers/world.ts';

test('NDIS_OID_REQUEST.DATA is a union: DATA.Oid, QUERY_INFORMATION and SET_INFORMATION are one storage, and BytesRead shares its slot with BytesWritten', () => {
  const d = oidRequestData(OID_GEN_CURRENT_PACKET_FILTER, 0x0b, 4);
  assert.equal(d.QUERY_INFORMATION.Oid, OID_GEN_CURRENT_PACKET_FILTER);
  assert.equal(d.SET_INFORMATION.InformationBuffer, 0x0b);
  assert.equal(d.SET_INFORMATION.InformationBufferLength, 4);
  // As after NdisZeroMemory.
  assert.equal(d.QUERY_INFORMATION.BytesWritten, 0);
  assert.equal(d.SET_INFORMATION.BytesNeeded, 0);

  d.SET_INFORMATION.BytesRead = 4;
  assert.equal(d.QUERY_INFORMATION.BytesWritten, 4);
  d.QUERY_INFORMATION.BytesWritten = 6;
  assert.equal(d.SET_INFORMATION.BytesRead, 6);
  d.QUERY_INFORMATION.BytesNeeded = 152;
  assert.equal(d.SET_INFORMATION.BytesNeeded, 152);
  d.SET_INFORMATION.Oid = OID_GEN_STATISTICS;
  assert.equal(d.Oid, OID_GEN_STATISTICS);
  assert.equal(d.QUERY_INFORMATION.Oid, OID_GEN_STATISTICS);
});

test("R6.1 DATA.METHOD_INFORMATION: Oid, InformationBuffer and InputBufferLength are the union's Oid, buffer and InformationBufferLength; OutputBufferLength, MethodId and its counts are its own, zero at first; a clone copies them", () => {
  const d = oidRequestData(OID_GEN_CURRENT_PACKET_FILTER, 0x0b, 4);
  const m = d.METHOD_INFORMATION;
  assert.equal(m, d.METHOD_INFORMATION, 'one view, not a copy per read');
  assert.deepEqual(
    [m.Oid, m.InformationBuffer, m.InputBufferLength],
    [OID_GEN_CURRENT_PACKET_FILTER, 0x0b, 4],
  );
  assert.deepEqual(
    [m.OutputBufferLength, m.MethodId, m.BytesWritten, m.BytesRead, m.BytesNeeded],
    [0, 0, 0, 0, 0],
  );
  m.InputBufferLength = 12;
  m.InformationBuffer = 'in';
  m.Oid = OID_GEN_STATISTICS;
  assert.deepEqual(
    [d.Oid, d.SET_INFORMATION.InformationBuffer, d.SET_INFORMATION.InformationBufferLength],
    [OID_GEN_STATISTICS, 'in', 12],
  );
  m.OutputBufferLength = 24;
  m.MethodId = 7;
  m.BytesWritten = 20;
  m.BytesRead = 12;
  m.BytesNeeded = 3;
  // The set and query views' counts are a different storage (types.ts: NDIS_OID_REQUEST_DATA).
  d.SET_INFORMATION.BytesRead = 99;
  d.QUERY_INFORMATION.BytesNeeded = 98;
  assert.deepEqual(
    [m.OutputBufferLength, m.MethodId, m.BytesWritten, m.BytesRead, m.BytesNeeded],
    [24, 7, 20, 12, 3],
  );

  const original: NDIS_OID_REQUEST = {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: NDIS_OID_REQUEST_REVISION_1 },
    RequestType: NdisRequestMethod,
    PortNumber: 0,
    Timeout: 0,
    RequestId: null,
    RequestHandle: null,
    DATA: d,
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
  const c = cloneOidRequestData(original).METHOD_INFORMATION;
  assert.deepEqual(
    [
      c.Oid,
      c.InformationBuffer,
      c.InputBufferLength,
      c.OutputBufferLength,
      c.MethodId,
      c.BytesWritten,
      c.BytesRead,
      c.BytesNeeded,
    ],
    [OID_GEN_STATISTICS, 'in', 12, 24, 7, 20, 12, 3],
  );
  c.BytesWritten = 5;
  assert.equal(m.BytesWritten, 20, "the clone's counts are its own");
});

/** A miniport that reads `bytesRead` bytes of every packet-filter set and completes it late. */
function filterReader(name: string, bytesRead: number) {
  return scriptedDriver(name, {
    oid: (a, req) => {
      const d = req.DATA.SET_INFORMATION;
      if (req.RequestType !== NdisRequestSetInformation || d.Oid !== OID_GEN_CURRENT_PACKET_FILTER)
        return NDIS_STATUS_SUCCESS;
      d.BytesRead = bytesRead;
      NdisMOidRequestComplete(a.handle, req, NDIS_STATUS_SUCCESS);
      return NDIS_STATUS_PENDING;
    },
  });
}

test('R6.1, R6.3: a set completed through NdisMOidRequestComplete with BytesRead past InformationBufferLength is bug check 0x7C/0x1D', () => {
  // The protocol sets the packet filter at bind: a ULONG, 4 bytes.
  const w = testWorld({
    drivers: [filterReader('over-nic', 8)],
    devices: [{ name: 'ov0', driver: 'over-nic' }],
  });
  const r = w.run(1 * ns.s);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_OidInvalidBuffer');
  assert.equal(v.ddi, 'NdisMOidRequestComplete');
  assert.equal(v.bugCheck.code, 0x7c);
  assert.deepEqual(v.bugCheck.params, [
    0x1d,
    'ov0 miniport block',
    'NDIS_OID_REQUEST of OID_GEN_CURRENT_PACKET_FILTER',
    0,
  ]);
  assert.match(v.message, /BytesRead 8, more than its InformationBufferLength of 4/);

  // Reading exactly the buffer is fine.
  const ok = testWorld({
    drivers: [filterReader('fit-nic', 4)],
    devices: [{ name: 'fit0', driver: 'fit-nic' }],
  });
  assert.equal(ok.run(1 * ns.s).verdict, 'ok');
});

function statisticsRequest(length: number): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: NDIS_OID_REQUEST_REVISION_1 },
    RequestType: NdisRequestQueryInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: 'stats',
    RequestHandle: null,
    DATA: oidRequestData(OID_GEN_STATISTICS, null, length),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
}

for (const [driver, hardware] of [
  [healthyNic, 'simnic'],
  [vmini, 'none'],
] as const) {
  test(`${driver.name}: OID_GEN_STATISTICS into a buffer shorter than an NDIS_STATISTICS_INFO fails with BUFFER_TOO_SHORT and BytesNeeded 152; a whole one gets 152 bytes`, () => {
    const w = testWorld({ drivers: [driver], devices: [{ name: 'st0', driver: driver.name, hardware }] });
    w.run(100 * ns.ms);
    const bd = w.adapter('st0')!.bindings[0]!;

    // The protocol's requests complete through ProtocolOidRequestComplete.
    const statuses = (): unknown[] =>
      w.trace.events
        .filter((e) => e.kind === 'call' && e.what === 'ProtocolOidRequestComplete')
        .map((e) => e.data?.status);
    const before = statuses().length;
    const short = statisticsRequest(24);
    const whole = statisticsRequest(NDIS_SIZEOF_STATISTICS_INFO_REVISION_1);
    for (const r of [short, whole]) assert.equal(NdisOidRequest(bd, r), NDIS_STATUS_PENDING);
    w.run(1 * ns.s);
    assert.deepEqual(statuses().slice(before), ['NDIS_STATUS_BUFFER_TOO_SHORT', 'NDIS_STATUS_SUCCESS']);
    assert.equal(short.DATA.QUERY_INFORMATION.BytesNeeded, NDIS_SIZEOF_STATISTICS_INFO_REVISION_1);
    assert.equal(short.DATA.QUERY_INFORMATION.BytesWritten, 0);
    assert.equal(whole.DATA.QUERY_INFORMATION.BytesWritten, NDIS_SIZEOF_STATISTICS_INFO_REVISION_1);
    assert.equal(w.adapter('st0')!.oid, null, 'the request is complete');
  });
}

test("R6.1: NDIS's and the scenario's queries offer room for the answer: 152 bytes for OID_GEN_STATISTICS unless the action says otherwise", () => {
  const seen: number[] = [];
  const drv = scriptedDriver('len-query', {
    oid: (_a, req) => {
      if (req.DATA.Oid === OID_GEN_STATISTICS) seen.push(req.DATA.QUERY_INFORMATION.InformationBufferLength);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'lq0', driver: 'len-query' }],
    actions: [
      { atNs: 100 * ns.ms, action: statisticsQuery('lq0') },
      {
        atNs: 200 * ns.ms,
        action: {
          kind: 'oid',
          device: 'lq0',
          oid: OID_GEN_STATISTICS,
          set: false,
          value: null,
          timeoutS: 0,
          bufferLength: 24,
        },
      },
    ],
  });
  assert.equal(w.run(1 * ns.s).verdict, 'ok');
  assert.deepEqual(seen, [NDIS_SIZEOF_STATISTICS_INFO_REVISION_1, 24]);
});

/**
 * A miniport that answers every statistics query with a status indication as well,
 * sent where `destination` says: to the request's source, to nobody in particular, or
 * to a handle of its choosing.
 */
function answersWithStatus(name: string, destination: (req: NDIS_OID_REQUEST) => unknown, requestId = true) {
  return scriptedDriver(name, {
    oid: (a, req) => {
      if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_SUCCESS;
      NdisMIndicateStatusEx(a.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: NDIS_STATUS_INDICATION_REVISION_1 },
        SourceHandle: a.handle,
        PortNumber: 0,
        StatusCode: NDIS_STATUS_MEDIA_SPECIFIC_INDICATION,
        Flags: 0,
        DestinationHandle: destination(req) as NDIS_HANDLE | null,
        RequestId: requestId ? req.RequestId : null,
        StatusBuffer: null,
        StatusBufferSize: 0,
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
}

/** p1 and p2 bound to st0 of `drv`; p1 queries statistics; who heard the indication, and with what RequestId. */
function whoHeard(drv: ReturnType<typeof scriptedDriver>, ndisQuery = false) {
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'st0', driver: drv.name }],
    protocols: ['p1', 'p2'],
    options: { verifier: 'collect' },
    actions: ndisQuery ? [{ atNs: 100 * ns.ms, action: statisticsQuery('st0') }] : [],
  });
  w.run(50 * ns.ms);
  if (!ndisQuery) {
    const p1 = w.adapter('st0')!.bindings.find((x) => x.protocol.name === 'p1')!;
    const req = statisticsRequest(NDIS_SIZEOF_STATISTICS_INFO_REVISION_1);
    req.RequestId = 'p1-stats';
    NdisOidRequest(p1, req);
  }
  const r = w.run(1 * ns.s);
  const heard = w.trace.events
    .filter(
      (e) =>
        e.kind === 'call' &&
        e.what === 'ProtocolStatusEx' &&
        e.data?.StatusCode === 'NDIS_STATUS_MEDIA_SPECIFIC_INDICATION',
    )
    .map((e) => [e.actor, e.data?.RequestId ?? null]);
  return { heard, r };
}

test("R6.16: a status indication whose DestinationHandle is a request's RequestHandle goes to that request's source only, with its RequestId", () => {
  assert.deepEqual(whoHeard(answersWithStatus('to-source', (req) => req.RequestHandle)).heard, [
    ['p1', 'p1-stats'],
  ]);
  // No DestinationHandle: every bound protocol hears it.
  assert.deepEqual(whoHeard(answersWithStatus('to-all', () => null)).heard, [
    ['p1', null],
    ['p2', null],
  ]);
  // The answer to a request NDIS issued itself reaches no protocol.
  const ndis = whoHeard(
    answersWithStatus('to-ndis', (req) => req.RequestHandle),
    true,
  );
  assert.deepEqual(ndis.heard, []);
  assert.deepEqual(ndis.r.violations, []);
});

test('R6.16: a DestinationHandle that is no RequestHandle of the adapter, or one without a RequestId, is NdisSim_BadParameter and reaches nobody', () => {
  const stranger = whoHeard(answersWithStatus('to-stranger', () => ({ __ndisHandle: 'NDIS_BINDING' })));
  assert.deepEqual(stranger.heard, []);
  assert.deepEqual(
    stranger.r.violations.map((v) => [v.rule, v.ddi, v.message]),
    [
      [
        'NdisSim_BadParameter',
        'NdisMIndicateStatusEx',
        'DestinationHandle is not the RequestHandle of an OID request to this adapter (R6.16)',
      ],
    ],
  );
  const noId = whoHeard(answersWithStatus('no-request-id', (req) => req.RequestHandle, false));
  assert.deepEqual(noId.heard, []);
  assert.match(noId.r.violations[0]!.message, /needs the RequestId of the request it answers/);
});

test("R6.16, oid-logging-lwf (withOidForwarding): an answer to its clone on one adapter goes to that adapter's requester, not to a clone of the same RequestId on another adapter", () => {
  // st0's statistics query stays pending; st1's is answered with an indication to its source.
  let queries = 0;
  const drv = scriptedDriver('answers-st1', {
    oid: (a, req) => {
      if (req.DATA.Oid !== OID_GEN_STATISTICS) return NDIS_STATUS_SUCCESS;
      queries++;
      if (a.handle === w.adapter('st0')) return NDIS_STATUS_PENDING;
      NdisMIndicateStatusEx(a.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: NDIS_STATUS_INDICATION_REVISION_1 },
        SourceHandle: a.handle,
        PortNumber: 0,
        StatusCode: NDIS_STATUS_MEDIA_SPECIFIC_INDICATION,
        Flags: 0,
        DestinationHandle: req.RequestHandle,
        RequestId: req.RequestId,
        StatusBuffer: null,
        StatusBufferSize: 0,
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv, oidLoggingLwf],
    devices: [
      { name: 'st0', driver: drv.name },
      { name: 'st1', driver: drv.name },
    ],
    protocols: ['p1'],
    options: { verifier: 'collect' },
  });
  w.addFilter(oidLoggingLwf.name);
  w.run(50 * ns.ms);
  for (const device of ['st0', 'st1']) {
    const bd = w.adapter(device)!.bindings.find((x) => x.protocol.name === 'p1')!;
    const req = statisticsRequest(NDIS_SIZEOF_STATISTICS_INFO_REVISION_1);
    req.RequestId = 'same-id';
    NdisOidRequest(bd, req);
  }
  const r = w.run(1 * ns.s);
  assert.equal(queries, 2);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    [],
  );
  const heard = w.trace.events
    .filter(
      (e) =>
        e.kind === 'call' &&
        e.what === 'ProtocolStatusEx' &&
        e.data?.StatusCode === 'NDIS_STATUS_MEDIA_SPECIFIC_INDICATION',
    )
    .map((e) => [e.actor, e.data?.adapter, e.data?.RequestId ?? null]);
  // Sent on with st0's requester as DestinationHandle, NDIS would refuse it (not a
  // RequestHandle of st1) and nobody would hear it.
  assert.deepEqual(heard, [['p1', 'st1', 'same-id']]);
});

/** A query NDIS itself sends (the scenario's `oid` action). */
function ndisQuery(device: string, oid: number): WorldAction {
  return { kind: 'oid', device, oid, set: false, value: null, timeoutS: 0 };
}

test('OID_GEN_SUPPORTED_LIST and OID_GEN_MEDIA_CONNECT_STATUS pages: NDIS answers them for an NDIS 6 miniport, which never sees them; a protocol gets the list without statistics OIDs', () => {
  const seen: number[] = [];
  const drv = scriptedDriver('listing-nic', {
    generalAttributes: { SupportedOidList: [OID_GEN_CURRENT_PACKET_FILTER, OID_GEN_STATISTICS] },
    oid: (_a, req) => {
      seen.push(req.DATA.Oid);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'ls0', driver: 'listing-nic' }],
    actions: [
      { atNs: 100 * ns.ms, action: ndisQuery('ls0', OID_GEN_SUPPORTED_LIST) },
      { atNs: 100 * ns.ms, action: ndisQuery('ls0', OID_GEN_MEDIA_CONNECT_STATUS) },
    ],
  });
  w.run(50 * ns.ms);
  const bd = w.adapter('ls0')!.bindings[0]!;
  const ask = (oid: number, length: number): NDIS_OID_REQUEST => {
    const r = statisticsRequest(length);
    r.DATA.Oid = oid;
    return r;
  };
  const list = ask(OID_GEN_SUPPORTED_LIST, 64);
  const media = ask(OID_GEN_MEDIA_CONNECT_STATUS, 4);
  // Answered at once, as NDIS does without the miniport.
  assert.equal(NdisOidRequest(bd, list), NDIS_STATUS_SUCCESS);
  assert.deepEqual(list.DATA.QUERY_INFORMATION.InformationBuffer, [OID_GEN_CURRENT_PACKET_FILTER]);
  assert.equal(list.DATA.QUERY_INFORMATION.BytesWritten, 4);
  assert.equal(NdisOidRequest(bd, media), NDIS_STATUS_SUCCESS);
  assert.equal(media.DATA.QUERY_INFORMATION.InformationBuffer, NdisMediaStateConnected);
  assert.equal(w.run(1 * ns.s).verdict, 'ok');
  assert.ok(
    !seen.includes(OID_GEN_SUPPORTED_LIST) && !seen.includes(OID_GEN_MEDIA_CONNECT_STATUS),
    String(seen),
  );
  // NDIS's own query (the scenario's) gets the whole list, statistics included: 8 bytes.
  const answered = w.trace.events.filter(
    (e) => e.kind === 'ndis' && e.what === 'OID request answered by NDIS',
  );
  // (Sorted: the order of two actions at one instant is not what this test is about.)
  assert.deepEqual(
    answered
      .map((e) => `${String(e.data?.Oid)} ${String(e.data?.status)} ${String(e.data?.BytesWritten)}`)
      .sort(),
    [
      'OID_GEN_MEDIA_CONNECT_STATUS NDIS_STATUS_SUCCESS 4',
      'OID_GEN_MEDIA_CONNECT_STATUS NDIS_STATUS_SUCCESS 4',
      'OID_GEN_SUPPORTED_LIST NDIS_STATUS_SUCCESS 4',
      'OID_GEN_SUPPORTED_LIST NDIS_STATUS_SUCCESS 8',
    ],
  );
});

test('an NDIS-answered query into too small a buffer fails with BUFFER_TOO_SHORT and says how many bytes it needs', () => {
  const w = testWorld({ drivers: [healthyNic], devices: [{ name: 'ts0', driver: 'healthy-nic' }] });
  w.run(50 * ns.ms);
  const bd = w.adapter('ts0')!.bindings[0]!;
  const r = statisticsRequest(2);
  r.DATA.Oid = OID_GEN_MEDIA_CONNECT_STATUS;
  assert.equal(NdisOidRequest(bd, r), NDIS_STATUS_BUFFER_TOO_SHORT);
  assert.equal(r.DATA.QUERY_INFORMATION.BytesNeeded, 4);
});

test('R7.5 the trace line of NdisFOidRequest shows the status it returned, as NdisOidRequest and NdisAllocateCloneOidRequest show theirs', () => {
  const w = testWorld({
    drivers: [healthyNic, oidLoggingLwf],
    devices: [{ name: 'nic0', driver: 'healthy-nic' }],
  });
  w.addFilter(oidLoggingLwf.name);
  w.run(100 * ns.ms);
  const lines = w.trace.events.filter((e) => e.kind === 'ddi' && e.what === 'NdisFOidRequest');
  assert.ok(lines.length > 0, 'oid-logging-lwf forwarded requests');
  for (const e of lines) assert.match(String(e.data?.result), /^NDIS_STATUS_(SUCCESS|PENDING)$/);
});
