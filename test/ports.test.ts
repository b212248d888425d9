// NDIS ports (docs/model.md "NDIS ports"; R7.12): NdisMAllocatePort, NdisMFreePort,
// NdisMNetPnPEvent with NetEventPortActivation / NetEventPortDeactivation, the events
// NDIS passes up to filters and protocols, ports in the data path and status
// indications, ports left at halt (NdisSim_PortState), NdisMNetPnPEventInOIDRequest,
// and a default port the miniport controls (NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activatePorts, deactivatePorts, portCharacteristics } from '../src/drivers/buggy/gallery-ports.ts';
import { rxNbl, rxPool, workItem } from '../src/drivers/buggy/kit.ts';
import { linkStateIndication } from '../src/drivers/common.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { monitorLwf as lwf, variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  type NDIS_HANDLE,
  NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_OBJECT_TYPE_DEFAULT,
  type NDIS_OID_REQUEST,
  type NDIS_PORT,
  type NDIS_PORT_ARRAY,
  type NDIS_PORT_CHARACTERISTICS,
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_CLOSING,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_DATA,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_INVALID_PORT,
  NDIS_STATUS_INVALID_PORT_STATE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisFreeIoWorkItem,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisMAllocatePort,
  NdisMFreePort,
  NdisMIndicateReceiveNetBufferLists,
  NdisMIndicateStatusEx,
  NdisMNetPnPEvent,
  NdisMOidRequestComplete,
  NdisOidRequest,
  NdisPortTypeMax,
  NdisQueueIoWorkItem,
  NdisRequestQueryInformation,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  type NET_PNP_EVENT_NOTIFICATION,
  NET_PNP_EVENT_NOTIFICATION_REVISION_1,
  NetEventPortActivation,
  NetEventPortDeactivation,
  NetEventQueryPower,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_ENUMERATE_PORTS,
  OID_GEN_STATISTICS,
} from '../src/index.ts';
import { oidRequest } from '../src/ndis/oid.ts';
import { World } from '../src/world.ts';
import { bindingProtocol, nicWithProtocol, protocolStep } from './helpers/protocol.ts';
import { after, type Hooks, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { findEvent, is, ns } from './helpers/world.ts';

/** Runs `fn` at PASSIVE `ms` after now, from an I/O work item the halt frees (halt: freeWork). */
function passiveAt(a: TestAdapter, ms: number, fn: (a: TestAdapter) => void): void {
  const wi = workItem(a);
  if (a.state.work === undefined) a.state.work = [];
  (a.state.work as NDIS_HANDLE[]).push(wi);
  after(a, ms, (x) => NdisQueueIoWorkItem(wi, (y: TestAdapter) => fn(y), x));
}
function freeWork(a: TestAdapter): void {
  for (const wi of (a.state.work ?? []) as NDIS_HANDLE[]) NdisFreeIoWorkItem(wi);
  a.state.work = [];
}

interface Run {
  w: World;
  drv: ReturnType<typeof scriptedDriver>;
  r: ReturnType<World['run']>;
}

function run(
  hooks: Hooks,
  o: { name?: string; removeAtMs?: number; untilMs?: number; filter?: boolean; extraProtocol?: boolean } = {},
): Run {
  const drv = scriptedDriver(o.name ?? 'port-nic', { halt: freeWork, ...hooks });
  const w = new World({ seed: 1, verifier: 'collect', trace: true });
  w.addDriver(drv);
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 0, frameBytes: 64, returnDelayNs: ns.ms, statisticsEveryNs: 0 },
  });
  if (o.filter === true) {
    w.addDriver(lwf);
    w.addFilter(lwf.name);
  }
  w.addDevice({ name: 'nic0', driver: drv.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  if (o.removeAtMs !== undefined) w.at(o.removeAtMs * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run((o.untilMs ?? 1000) * ns.ms);
  return { w, drv, r };
}

const rules = (r: Run): string[] => r.r.violations.map((v) => v.rule);
const st = (r: Run): Record<string, unknown> => r.drv.adapters[0]!.state;

/**
 * Runs `calls` in MiniportInitializeEx (which then succeeds) and returns the statuses
 * they gave, in order, once it asserted that the run broke no rule.
 */
function statusesInInitialize(calls: (a: TestAdapter) => number[]): number[] {
  const x = run({
    initialize: (a) => {
      a.state.s = calls(a);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(x), []);
  return st(x).s as number[];
}

/** Two new port characteristics, allocated with NdisMAllocatePort in order (ports 1 and 2 of a fresh miniport). */
function twoPorts(a: TestAdapter): [NDIS_PORT_CHARACTERISTICS, NDIS_PORT_CHARACTERISTICS] {
  const c1 = portCharacteristics();
  const c2 = portCharacteristics();
  NdisMAllocatePort(a.handle, c1);
  NdisMAllocatePort(a.handle, c2);
  return [c1, c2];
}

/** NdisMNetPnPEvent from the miniport on the default port: `NetEvent` with this buffer. */
const miniportEvent = (a: TestAdapter, NetEvent: number, Buffer: unknown, BufferLength: number): number =>
  NdisMNetPnPEvent(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1 },
    PortNumber: 0,
    NetPnPEvent: { NetEvent, Buffer, BufferLength },
  });

/** An NDIS_PORT list entry for `c`, followed by `Next`. */
const portEntry = (c: NDIS_PORT_CHARACTERISTICS, Next: NDIS_PORT | null): NDIS_PORT => ({
  Next,
  NdisReserved: null,
  MiniportReserved: null,
  ProtocolReserved: null,
  PortCharacteristics: c,
});

/** A protocol's query of `oid` on `PortNumber` with a buffer of `length` bytes. */
const portQuery = (oid: number, PortNumber: number, RequestId: string, length: number): NDIS_OID_REQUEST => ({
  ...oidRequest(NdisRequestQueryInformation, oid, null, length, RequestId),
  PortNumber,
});

test('nf-ndis-ndismallocateport: port numbers go from 1, NdisMAllocatePort writes them to PortCharacteristics.PortNumber, and a freed number is used again (nf-ndis-ndismfreeport); bad characteristics are INVALID_DATA', () => {
  let numbers: number[] = [];
  const s = statusesInInitialize((a) => {
    const c1 = portCharacteristics();
    const c2 = portCharacteristics();
    const c3 = portCharacteristics();
    const bad = portCharacteristics();
    bad.Type = NdisPortTypeMax;
    const badHeader = portCharacteristics();
    badHeader.Header = { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: 0 };
    const statuses = [
      NdisMAllocatePort(a.handle, c1),
      NdisMAllocatePort(a.handle, c2),
      NdisMFreePort(a.handle, c1.PortNumber),
      NdisMAllocatePort(a.handle, c3),
      NdisMAllocatePort(a.handle, bad),
      NdisMAllocatePort(a.handle, badHeader),
      NdisMFreePort(a.handle, c2.PortNumber),
      NdisMFreePort(a.handle, c3.PortNumber),
    ];
    numbers = [c1.PortNumber, c2.PortNumber, c3.PortNumber, bad.PortNumber];
    return statuses;
  });
  const S = NDIS_STATUS_SUCCESS;
  assert.deepEqual(s, [S, S, S, S, NDIS_STATUS_INVALID_DATA, NDIS_STATUS_INVALID_DATA, S, S]);
  assert.deepEqual(numbers, [1, 2, 1, 0]);
});

test('nf-ndis-ndismfreeport: 0 (the default port) and numbers past 0xffffff are INVALID_DATA, a number never allocated INVALID_PORT, an activated port INVALID_PORT_STATE until its NetEventPortDeactivation', () => {
  const s = statusesInInitialize((a) => {
    const c = portCharacteristics();
    NdisMAllocatePort(a.handle, c);
    const k = c.PortNumber;
    return [
      NdisMFreePort(a.handle, 0),
      NdisMFreePort(a.handle, 0x1000000),
      NdisMFreePort(a.handle, 7),
      activatePorts(a.handle, [c]),
      NdisMFreePort(a.handle, k),
      deactivatePorts(a.handle, [k]),
      NdisMFreePort(a.handle, k),
      NdisMFreePort(a.handle, k),
    ];
  });
  const S = NDIS_STATUS_SUCCESS;
  assert.deepEqual(s, [
    NDIS_STATUS_INVALID_DATA,
    NDIS_STATUS_INVALID_DATA,
    NDIS_STATUS_INVALID_PORT,
    S,
    NDIS_STATUS_INVALID_PORT_STATE,
    S,
    S,
    NDIS_STATUS_INVALID_PORT,
  ]);
});

test('activating-an-ndis-port, deactivating-an-ndis-port: NdisMNetPnPEvent is all or nothing: INVALID_PORT for a port that does not exist or a default port not alone, INVALID_PORT_STATE for one active already (or not active, to deactivate), INVALID_PARAMETER without a buffer', () => {
  const s = statusesInInitialize((a) => {
    const [c1, c2] = twoPorts(a);
    const ghost = { ...portCharacteristics(), PortNumber: 9 };
    const dflt = { ...portCharacteristics(), PortNumber: 0 };
    return [
      activatePorts(a.handle, [c1, ghost]), // 9 does not exist: c1 stays allocated
      deactivatePorts(a.handle, [c1.PortNumber]), // so it is not active
      activatePorts(a.handle, [c1]),
      activatePorts(a.handle, [c1, c2]), // c1 active already: c2 stays allocated
      NdisMFreePort(a.handle, c2.PortNumber), // and can be freed
      activatePorts(a.handle, [dflt, c1]), // the default port must be alone
      activatePorts(a.handle, [dflt]), // NDIS activated it: the miniport does not control it
      miniportEvent(a, NetEventPortDeactivation, null, 0),
      deactivatePorts(a.handle, [c1.PortNumber, c1.PortNumber]),
      deactivatePorts(a.handle, [c1.PortNumber]),
      NdisMFreePort(a.handle, c1.PortNumber),
    ];
  });
  const S = NDIS_STATUS_SUCCESS;
  assert.deepEqual(s, [
    NDIS_STATUS_INVALID_PORT,
    NDIS_STATUS_INVALID_PORT_STATE,
    S,
    NDIS_STATUS_INVALID_PORT_STATE,
    S,
    NDIS_STATUS_INVALID_PORT,
    NDIS_STATUS_INVALID_PORT_STATE,
    NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_INVALID_PORT_STATE,
    S,
    S,
  ]);
});

test('deactivating-an-ndis-port: the NDIS_PORT_NUMBER array may be a Uint32Array and only BufferLength / 4 of it counts; an NDIS_PORT list that loops back on itself is INVALID_PARAMETER', () => {
  const s = statusesInInitialize((a) => {
    const [c1, c2] = twoPorts(a);
    const p1 = portEntry(c1, null);
    p1.Next = portEntry(c2, p1);
    return [
      miniportEvent(a, NetEventPortActivation, p1, 192),
      activatePorts(a.handle, [c1, c2]),
      // Only the first element counts: port 2 stays active.
      miniportEvent(a, NetEventPortDeactivation, new Uint32Array([1, 2]), 4),
      NdisMFreePort(a.handle, 1),
      NdisMFreePort(a.handle, 2),
      miniportEvent(a, NetEventPortDeactivation, new Uint32Array([2]), 4),
      NdisMFreePort(a.handle, 2),
    ];
  });
  const S = NDIS_STATUS_SUCCESS;
  assert.deepEqual(s, [NDIS_STATUS_INVALID_PARAMETER, S, S, S, NDIS_STATUS_INVALID_PORT_STATE, S, S]);
});

test('nf-ndis-ndismnetpnpevent: the call is PASSIVE only; from a timer callback at DISPATCH it breaks Irql_Protocol_Driver_Function (the IRQL rule its page names), while NdisMAllocatePort and NdisMFreePort are fine there (<= DISPATCH)', () => {
  const x = run(
    {
      initialize: (a) => {
        after(a, 100, (y) => {
          const c = portCharacteristics();
          y.state.alloc = NdisMAllocatePort(y.handle, c);
          y.state.free = NdisMFreePort(y.handle, c.PortNumber);
          y.state.c = portCharacteristics();
          NdisMAllocatePort(y.handle, y.state.c as NDIS_PORT_CHARACTERISTICS);
          activatePorts(y.handle, [y.state.c as NDIS_PORT_CHARACTERISTICS]);
        });
        return NDIS_STATUS_SUCCESS;
      },
    },
    { untilMs: 300 },
  );
  assert.equal(st(x).alloc, NDIS_STATUS_SUCCESS);
  assert.equal(st(x).free, NDIS_STATUS_SUCCESS);
  assert.deepEqual(rules(x), ['Irql_Protocol_Driver_Function']);
  assert.match(x.r.violations[0]!.ddi, /NdisMNetPnPEvent/);
});

test('NdisSim_IMNetPnPEvent, nf-ndis-ndismnetpnpevent: a miniport that is not an intermediate driver sends an event other than port activation and deactivation; NDIS does not deliver it and returns NDIS_STATUS_INVALID_PARAMETER', () => {
  let status = -1;
  const x = run({
    initialize: (a) => {
      status = miniportEvent(a, NetEventQueryPower, 4, 4);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(x), ['NdisSim_IMNetPnPEvent']);
  assert.match(x.r.violations[0]!.message, /^NetEventQueryPower from nic0, which is not a virtual miniport/);
  assert.equal(status, NDIS_STATUS_INVALID_PARAMETER);
  assert.ok(
    !x.w.trace.events.some(
      (e) => e.what === 'ProtocolNetPnPEvent' && e.data?.NetEvent === 'NetEventQueryPower',
    ),
  );
});

test("handling-the-port-activation-pnp-event: NDIS passes the miniport's activation and deactivation up to the filter module (FilterNetPnPEvent, forwarded with NdisFNetPnPEvent) and to each bound protocol (ProtocolNetPnPEvent), with the miniport's own buffer", () => {
  const seen: { code: number; buffer: unknown; length: number }[] = [];
  const proto = bindingProtocol('portproto', { handle: null }, 30, {
    NetPnPEventHandler: (_ctx, note: NET_PNP_EVENT_NOTIFICATION) => {
      const e = note.NetPnPEvent;
      if (e.NetEvent === NetEventPortActivation || e.NetEvent === NetEventPortDeactivation)
        seen.push({ code: e.NetEvent, buffer: e.Buffer, length: e.BufferLength });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const drv = scriptedDriver('port-nic', {
    halt: (a) => {
      freeWork(a);
      NdisMFreePort(a.handle, a.state.port as number);
    },
    initialize: (a) => {
      const c = portCharacteristics();
      NdisMAllocatePort(a.handle, c);
      a.state.port = c.PortNumber;
      passiveAt(a, 200, (y) => {
        y.state.on = activatePorts(y.handle, [c]);
      });
      passiveAt(a, 300, (y) => {
        const numbers = [c.PortNumber];
        y.state.numbers = numbers;
        y.state.off = miniportEvent(y, NetEventPortDeactivation, numbers, 4);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = new World({ seed: 1, verifier: 'collect', trace: true });
  w.addDriver(drv);
  w.addDriver(lwf);
  w.addFilter(lwf.name);
  w.addDriver(proto);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: drv.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(500 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(1 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    [],
  );
  const a = drv.adapters[0]!;
  assert.equal(a.state.on, NDIS_STATUS_SUCCESS);
  assert.equal(a.state.off, NDIS_STATUS_SUCCESS);
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.code, NetEventPortActivation);
  assert.equal(
    (seen[0]!.buffer as { PortCharacteristics: { PortNumber: number } }).PortCharacteristics.PortNumber,
    1,
  );
  assert.equal(seen[0]!.length, 96);
  assert.equal(seen[1]!.code, NetEventPortDeactivation);
  assert.equal(seen[1]!.buffer, a.state.numbers, 'the same NDIS_PORT_NUMBER array the miniport gave');
  assert.equal(seen[1]!.length, 4);
  const ev = w.trace.events;
  const filterCall = findEvent(
    ev,
    (e) => is('call', 'FilterNetPnPEvent')(e) && e.data?.NetEvent === 'NetEventPortActivation',
  );
  const protoCall = findEvent(
    ev,
    (e) => is('call', 'ProtocolNetPnPEvent')(e) && e.data?.NetEvent === 'NetEventPortActivation',
  );
  assert.ok(filterCall >= 0 && protoCall > filterCall, 'the filter module hears it before the protocol');
});

/** A miniport with one port it activates in MiniportInitializeEx; `use` runs at 200 ms at DISPATCH with the port number. */
function withPort(activate: boolean, use: (a: TestAdapter, port: number) => void): Hooks {
  return {
    initialize: (a) => {
      a.state.pool = rxPool(a);
      const c = portCharacteristics();
      NdisMAllocatePort(a.handle, c);
      a.state.port = c.PortNumber;
      if (activate) activatePorts(a.handle, [c]);
      after(a, 200, (x) => use(x, c.PortNumber));
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      freeWork(a);
      if (activate) deactivatePorts(a.handle, [a.state.port as number]);
      NdisMFreePort(a.handle, a.state.port as number);
    },
  };
}

const receiveOn = (a: TestAdapter, port: number): void =>
  NdisMIndicateReceiveNetBufferLists(
    a.handle,
    rxNbl(a, a.state.pool as NDIS_HANDLE),
    port,
    1,
    NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  );

test('R6.12, activating-an-ndis-port: a receive on a port the miniport activated is accepted; on a port only allocated it is NdisSim_ReceiveIndication naming the state', () => {
  const good = run(withPort(true, receiveOn), { removeAtMs: 500 });
  assert.deepEqual(rules(good), []);
  const bad = run(withPort(false, receiveOn), { removeAtMs: 500 });
  assert.deepEqual(rules(bad), ['NdisSim_ReceiveIndication']);
  assert.match(bad.r.violations[0]!.message, /PortNumber 1 of nic0 is allocated but not activated/);
});

test('activating-an-ndis-port: a status indication on an activated port is accepted; on a port never allocated it is NdisSim_PortState', () => {
  const status = (port: (p: number) => number) => (a: TestAdapter, p: number) => {
    const s = linkStateIndication(a.handle, true, 1_000_000_000);
    s.PortNumber = port(p);
    NdisMIndicateStatusEx(a.handle, s);
  };
  const good = run(
    withPort(
      true,
      status((p) => p),
    ),
    { removeAtMs: 500 },
  );
  assert.deepEqual(rules(good), []);
  const bad = run(
    withPort(
      true,
      status(() => 5),
    ),
    { removeAtMs: 500 },
  );
  assert.deepEqual(rules(bad), ['NdisSim_PortState']);
  assert.match(
    bad.r.violations[0]!.message,
    /NDIS_STATUS_LINK_STATE indicated: PortNumber 5 is not a port of nic0/,
  );
});

test("handling-the-port-activation-pnp-event: a protocol's OID request on an activated port is accepted; once the miniport deactivated the port the same request is NdisSim_ProtocolDataState", () => {
  const p = { handle: null as NDIS_HANDLE | null };
  const proto = bindingProtocol('portproto', p, 30);
  const drv = scriptedDriver('port-nic', {
    initialize: (a) => {
      const c = portCharacteristics();
      NdisMAllocatePort(a.handle, c);
      activatePorts(a.handle, [c]);
      passiveAt(a, 400, (y) => deactivatePorts(y.handle, [c.PortNumber]));
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      freeWork(a);
      NdisMFreePort(a.handle, 1);
    },
  });
  const w = nicWithProtocol(drv, proto);
  const request = (id: string): NDIS_OID_REQUEST => portQuery(OID_GEN_STATISTICS, 1, id, 0);
  const status: number[] = [];
  protocolStep(w, 300 * ns.ms, 'portproto', () =>
    status.push(NdisOidRequest(p.handle!, request('on-active'))),
  );
  protocolStep(w, 500 * ns.ms, 'portproto', () =>
    status.push(NdisOidRequest(p.handle!, request('on-deactivated'))),
  );
  const r = w.run(600 * ns.ms);
  assert.equal(status.length, 2, 'both requests were made');
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.timeNs > 450 * ns.ms]),
    [['NdisSim_ProtocolDataState', true]],
  );
  assert.match(
    r.violations[0]!.message,
    /portproto issued an OID request on PortNumber 1: PortNumber 1 of nic0 is allocated but not activated/,
  );
});

test('OID_GEN_ENUMERATE_PORTS: NDIS answers it itself with an NDIS_PORT_ARRAY of the active ports, default port first, leaving out ports only allocated (nf-ndis-ndismallocateport); a short buffer is BUFFER_TOO_SHORT with BytesNeeded; the miniport never sees it', () => {
  const p = { handle: null as NDIS_HANDLE | null };
  const proto = bindingProtocol('portproto', p, 30);
  const seenByMiniport: number[] = [];
  const drv = scriptedDriver('port-nic', {
    initialize: (a) => {
      const [, c2] = twoPorts(a);
      passiveAt(a, 400, (y) => activatePorts(y.handle, [c2]));
      return NDIS_STATUS_SUCCESS;
    },
    oid: (_a, req) => {
      seenByMiniport.push(req.DATA.Oid);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      freeWork(a);
      deactivatePorts(a.handle, [2]);
      NdisMFreePort(a.handle, 1);
      NdisMFreePort(a.handle, 2);
    },
  });
  const w = nicWithProtocol(drv, proto);
  const query = (length: number): NDIS_OID_REQUEST => portQuery(OID_GEN_ENUMERATE_PORTS, 0, 'ports', length);
  const answers: { status: number; ports: number[]; bytes: number; needed: number }[] = [];
  const ask = (length: number) => () => {
    const q = query(length);
    const status = NdisOidRequest(p.handle!, q);
    const d = q.DATA.QUERY_INFORMATION;
    const arr = d.InformationBuffer as NDIS_PORT_ARRAY | null;
    answers.push({
      status,
      ports: status === NDIS_STATUS_SUCCESS ? arr!.Ports.map((c) => c.PortNumber) : [],
      bytes: d.BytesWritten,
      needed: d.BytesNeeded,
    });
  };
  protocolStep(w, 300 * ns.ms, 'portproto', ask(1024));
  protocolStep(w, 500 * ns.ms, 'portproto', ask(1024));
  protocolStep(w, 500 * ns.ms, 'portproto', ask(16));
  w.at(700 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(1 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    [],
  );
  assert.deepEqual(answers, [
    { status: NDIS_STATUS_SUCCESS, ports: [0], bytes: 16 + 64, needed: 0 },
    { status: NDIS_STATUS_SUCCESS, ports: [0, 2], bytes: 16 + 2 * 64, needed: 0 },
    { status: NDIS_STATUS_BUFFER_TOO_SHORT, ports: [], bytes: 0, needed: 16 + 2 * 64 },
  ]);
  assert.ok(!seenByMiniport.includes(OID_GEN_ENUMERATE_PORTS));
});

test('activating-an-ndis-port: ProtocolBindAdapterEx gets every port active then in NDIS_BIND_PARAMETERS.ActivePorts, the default port first; ports only allocated are not in it', () => {
  const lists: number[][] = [];
  const proto = bindingProtocol(
    'portproto',
    {
      handle: null,
      onBind: (bp) => {
        const a = bp.ActivePorts;
        lists.push(a === null ? [] : a.Ports.map((c) => c.PortNumber));
        assert.equal(a?.NumberOfPorts, a?.Ports.length);
      },
    },
    30,
  );
  const drv = scriptedDriver('port-nic', {
    initialize: (a) => {
      const [, c2] = twoPorts(a);
      activatePorts(a.handle, [c2]);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = nicWithProtocol(drv, proto);
  w.run(300 * ns.ms);
  assert.deepEqual(lists, [[0, 2]]);
});

test("handling-the-port-activation-pnp-event: a filter module originating a send on a port the miniport never allocated is NdisSim_FilterDataState; the protocol's sends it passes on (port 0) are not", () => {
  let sentOwn = false;
  let pool: NDIS_HANDLE | null = null;
  const portFilter = variantOfMonitorLwf('port-lwf', 'sends one frame of its own on port 3', (c) => {
    c.SendNetBufferListsHandler = (m, nbl, port, flags) => {
      if (!sentOwn) {
        sentOwn = true;
        pool ??= NdisAllocateNetBufferListPool(m.handle, {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
          ProtocolId: 0,
          fAllocateNetBuffer: true,
          ContextSize: 0,
          PoolTag: 0,
          DataSize: 0,
        });
        const own = NdisAllocateNetBufferAndNetBufferList(pool!, 0, 0, new Uint8Array(60), 0, 60)!;
        own.SourceHandle = m.handle;
        NdisFSendNetBufferLists(m.handle, own, 3, flags);
      }
      NdisFSendNetBufferLists(m.handle, nbl, port, flags);
    };
    c.SendNetBufferListsCompleteHandler = (m, chain, flags) => {
      let pass: NET_BUFFER_LIST | null = null;
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        if (x.SourceHandle !== m.handle) {
          x.Next = pass;
          pass = x;
        } else x.Next = null;
        x = next;
      }
      if (pass !== null) NdisFSendNetBufferListsComplete(m.handle, pass, flags);
    };
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(portFilter);
  w.addFilter(portFilter.name);
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 100, frameBytes: 64, returnDelayNs: ns.ms, statisticsEveryNs: 0 },
  });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(300 * ns.ms);
  assert.ok(sentOwn);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_FilterDataState'],
  );
  assert.match(
    r.violations[0]!.message,
    /NdisFSendNetBufferLists from port-lwf@nic0: PortNumber 3 is not a port of nic0/,
  );
});

test('NdisSim_PortState: MiniportHaltEx that returns with a port still allocated is reported, naming the port and its state; a failing MiniportInitializeEx with a port is too', () => {
  const leak = run(
    {
      initialize: (a) => {
        const [, c2] = twoPorts(a);
        activatePorts(a.handle, [c2]);
        return NDIS_STATUS_SUCCESS;
      },
    },
    { removeAtMs: 300 },
  );
  assert.deepEqual(rules(leak), ['NdisSim_PortState']);
  assert.match(
    leak.r.violations[0]!.message,
    /MiniportHaltEx returned without freeing port\(s\) 1 \(allocated\), 2 \(activated\)/,
  );
  const failed = run({
    initialize: (a) => {
      NdisMAllocatePort(a.handle, portCharacteristics());
      return NDIS_STATUS_FAILURE;
    },
  });
  assert.deepEqual(rules(failed), ['NdisSim_PortState']);
  assert.match(
    failed.r.violations[0]!.message,
    /MiniportInitializeEx failed without freeing port\(s\) 1 \(allocated\)/,
  );
  // Freed in the halt: nothing.
  const clean = run(
    withPort(true, () => {}),
    { removeAtMs: 300 },
  );
  assert.deepEqual(rules(clean), []);
});

test('allocating-an-ndis-port: NdisMAllocatePort once NDIS calls MiniportHaltEx is NDIS_STATUS_CLOSING', () => {
  const x = run(
    {
      halt: (a) => {
        freeWork(a);
        a.state.s = NdisMAllocatePort(a.handle, portCharacteristics());
      },
    },
    { removeAtMs: 300 },
  );
  assert.equal(st(x).s, NDIS_STATUS_CLOSING);
  assert.deepEqual(rules(x), []);
});

test('NdisMNetPnPEventInOIDRequest: NdisMNetPnPEvent while an OID request the miniport pended is not completed is reported; after NdisMOidRequestComplete it is not', () => {
  const hooks = (completeFirst: boolean): Hooks => ({
    initialize: (a) => {
      const c = portCharacteristics();
      NdisMAllocatePort(a.handle, c);
      a.state.chars = c;
      return NDIS_STATUS_SUCCESS;
    },
    oid: (a, req) => {
      if (req.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER || a.state.pended === true)
        return NDIS_STATUS_SUCCESS;
      a.state.pended = true;
      passiveAt(a, 10, (y) => {
        if (completeFirst) NdisMOidRequestComplete(y.handle, req, NDIS_STATUS_SUCCESS);
        y.state.s = activatePorts(y.handle, [y.state.chars as never]);
        if (!completeFirst) NdisMOidRequestComplete(y.handle, req, NDIS_STATUS_SUCCESS);
      });
      return NDIS_STATUS_PENDING;
    },
  });
  const bad = run(hooks(false));
  assert.deepEqual(rules(bad), ['NdisMNetPnPEventInOIDRequest']);
  assert.match(bad.r.violations[0]!.message, /while an OID request the miniport pended is not completed/);
  assert.equal(st(bad).s, NDIS_STATUS_SUCCESS, 'the event goes on');
  const good = run(hooks(true));
  assert.deepEqual(rules(good), []);
});

test('R7.12: with NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT, NDIS attaches no filter and binds no protocol until the miniport activates the default port; without the activation nothing binds', () => {
  const controls = (activateAtMs: number | null): Hooks => ({
    registrationAttributes: {
      AttributeFlags:
        NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_CONTROLS_DEFAULT_PORT,
    },
    initialize: (a) => {
      if (activateAtMs !== null)
        passiveAt(a, activateAtMs, (y) => {
          y.state.on = activatePorts(y.handle, [{ ...portCharacteristics(), PortNumber: 0 }]);
        });
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      freeWork(a);
      if (a.state.on === NDIS_STATUS_SUCCESS) deactivatePorts(a.handle, [0]);
    },
  });
  const late = run(controls(200), { filter: true, untilMs: 1000 });
  assert.equal(st(late).on, NDIS_STATUS_SUCCESS);
  const ev = late.w.trace.events;
  const attach = findEvent(ev, is('call', 'FilterAttach'));
  const bind = findEvent(ev, is('call', 'ProtocolBindAdapterEx'));
  assert.ok(attach >= 0 && bind > attach, 'attach, then bind');
  assert.ok(
    ev[attach]!.t >= 200 * ns.ms,
    `FilterAttach at ${ev[attach]!.t} ns, before the default port was active`,
  );
  assert.deepEqual(rules(late), []);
  const never = run(controls(null), { filter: true, untilMs: 1000 });
  assert.equal(findEvent(never.w.trace.events, is('call', 'ProtocolBindAdapterEx')), -1);
  assert.equal(findEvent(never.w.trace.events, is('call', 'FilterAttach')), -1);
  // A controlled default port left activated at the halt is NdisSim_PortState.
  const left = run(
    {
      ...controls(100),
      halt: freeWork,
    },
    { removeAtMs: 500 },
  );
  assert.deepEqual(rules(left), ['NdisSim_PortState']);
  assert.match(left.r.violations[0]!.message, /default port it controls still activated/);
});
