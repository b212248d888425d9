// R7.5, R7.11: what reaches the modules of a stack while one module's FilterDetach runs
// (here a FilterDetach that blocks in NdisMSleep, on a filter restack). The module is
// Detached from the start of FilterDetach (detaching-a-filter-module), and OID requests
// are not for a Detached module (filter-module-states-and-operations): requests from
// above and status indications from below go around it (docs/model.md, Filter modules).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import {
  type LwfModule,
  variantOfMonitorLwf,
  withDirectOidForwarding,
  withOidForwarding,
} from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  type NDIS_OID_REQUEST,
  NDIS_STATUS_PENDING,
  NdisFDirectOidRequest,
  NdisFOidRequest,
  NdisMSleep,
  NdisRequestQueryInformation,
  OID_GEN_STATISTICS,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA,
  World,
} from '../src/index.ts';
import { oidRequestData } from '../src/ndis/oid.ts';
import { ns } from './helpers/world.ts';

type Chars = NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>;

/** What the modules saw; `detaching` while f-sleepy's FilterDetach runs. */
class Log {
  detaching = false;
  lines: string[] = [];
  add(s: string): void {
    this.lines.push(this.detaching ? `${s} (f-sleepy detaching)` : s);
  }
}

/**
 * An OID- and status-forwarding monitor-lwf that logs its FilterOidRequest and
 * FilterStatus; with `sleepMs`, its FilterDetach sleeps that long first. With `asks`, a
 * status indication that reaches it makes it issue a query of its own (NdisFOidRequest).
 */
function lwf(
  name: string,
  log: Log,
  o: { sleepMs?: number; asks?: boolean; direct?: boolean } = {},
): DriverModule {
  return variantOfMonitorLwf(name, 'test filter', (c: Chars) => {
    withOidForwarding(c);
    withDirectOidForwarding(c);
    const direct = c.DirectOidRequestHandler!;
    const directDone = c.DirectOidRequestCompleteHandler!;
    c.DirectOidRequestHandler = (m, r) => {
      log.add(`${name}:FilterDirectOidRequest`);
      return direct(m, r);
    };
    const oid = c.OidRequestHandler!;
    const status = c.StatusHandler!;
    const complete = c.OidRequestCompleteHandler!;
    const detach = c.DetachHandler;
    const mine = new Set<NDIS_OID_REQUEST>();
    c.OidRequestHandler = (m, r) => {
      // A clone keeps the RequestId of the request it was made from.
      log.add(`${name}:FilterOidRequest ${r.RequestId === 'own' ? 'own' : ''}`.trimEnd());
      return oid(m, r);
    };
    c.StatusHandler = (m, s) => {
      log.add(`${name}:FilterStatus`);
      status(m, s);
      if (o.asks !== true) return;
      const r = ownQuery(o.direct === true ? OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA : OID_GEN_STATISTICS);
      mine.add(r);
      const ddi = o.direct === true ? 'NdisFDirectOidRequest' : 'NdisFOidRequest';
      const st = (o.direct === true ? NdisFDirectOidRequest : NdisFOidRequest)(m.handle, r);
      if (st !== NDIS_STATUS_PENDING) mine.delete(r);
      log.add(`${name}:${ddi} ${st === NDIS_STATUS_PENDING ? 'PENDING' : 'final'}`);
    };
    c.OidRequestCompleteHandler = (m, r, s) => {
      if (mine.delete(r)) log.add(`${name}:own request completed`);
      else complete(m, r, s);
    };
    c.DirectOidRequestCompleteHandler = (m, r, s) => {
      if (mine.delete(r)) log.add(`${name}:own direct request completed`);
      else directDone(m, r, s);
    };
    c.DetachHandler = (m) => {
      if (o.sleepMs !== undefined) {
        log.detaching = true;
        for (let i = 0; i < o.sleepMs; i++) NdisMSleep(1000);
        log.detaching = false;
      }
      detach(m);
    };
  });
}

/** A query of `oid` (the direct path allows only a few OIDs: an IPsec one there). */
function ownQuery(oid: number): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
    RequestType: NdisRequestQueryInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: 'own',
    RequestHandle: null,
    DATA: oidRequestData(oid, null, 8),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
}

/**
 * nic0 with f-low, f-sleepy, f-high (bottom first) and tcpip. At 200 ms the filter
 * service stops f-sleepy (a restack: tcpip stays bound); its FilterDetach sleeps 100 ms,
 * and at 260 ms the link goes down: the miniport's status indication climbs the stack,
 * and f-high asks a query of its own when it sees it.
 */
function run(log: Log, direct = false): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  for (const f of [
    lwf('f-low', log),
    lwf('f-sleepy', log, { sleepMs: 100 }),
    lwf('f-high', log, { asks: true, direct }),
  ]) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: healthyNic.name, faults: { linkDownAtNs: 260 * ns.ms } });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(200 * ns.ms, { kind: 'stop-filter', driver: 'f-sleepy' });
  w.run(ns.s);
  return w;
}

test('R7.5, R7.11: while a module FilterDetach blocks, a status indication from below and an OID request from a module above go around it (Detached from the start of FilterDetach; no OID requests in Detached)', () => {
  const log = new Log();
  const w = run(log);
  assert.deepEqual(w.lastResult!.violations, []);
  // Before the restack tcpip's requests went through every module, f-sleepy included.
  assert.deepEqual(log.lines.slice(0, 3), [
    'f-high:FilterOidRequest',
    'f-sleepy:FilterOidRequest',
    'f-low:FilterOidRequest',
  ]);
  const during = log.lines.filter((s) => s.endsWith('(f-sleepy detaching)'));
  assert.deepEqual(during, [
    'f-low:FilterStatus (f-sleepy detaching)',
    'f-high:FilterStatus (f-sleepy detaching)',
    'f-high:NdisFOidRequest PENDING (f-sleepy detaching)',
    'f-low:FilterOidRequest own (f-sleepy detaching)',
    'f-high:own request completed (f-sleepy detaching)',
  ]);
  // The indication still reaches the protocol, past the detaching module.
  const ev = w.trace.events;
  const status = ev.filter(
    (e) =>
      e.kind === 'call' && (e.what === 'FilterStatus' || e.what === 'ProtocolStatusEx') && e.t >= 260 * ns.ms,
  );
  assert.deepEqual(
    status.map((e) => `${e.actor}:${e.what}`),
    ['f-low:FilterStatus', 'f-high:FilterStatus', 'tcpip:ProtocolStatusEx'],
  );
});

test('R7.5, R7.11, R6.2: a direct OID request (NdisFDirectOidRequest) from a module above goes around a module whose FilterDetach blocks, to the next module below', () => {
  const log = new Log();
  const w = run(log, true);
  assert.deepEqual(w.lastResult!.violations, []);
  const during = log.lines.filter((s) => s.endsWith('(f-sleepy detaching)'));
  assert.ok(during.includes('f-low:FilterDirectOidRequest (f-sleepy detaching)'), during.join('\n'));
  assert.ok(!during.some((s) => s.startsWith('f-sleepy:')), during.join('\n'));
  const ev = w.trace.events;
  assert.equal(
    ev.filter((e) => e.kind === 'call' && e.what === 'FilterDirectOidRequest' && e.actor === 'f-sleepy')
      .length,
    0,
  );
});
