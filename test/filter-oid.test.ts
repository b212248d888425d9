// OID requests and status indications through filter modules (07-protocols-filters.md
// R7.5, R7.6; 06-oid-datapath.md R6.2–R6.5, R6.16; 04-hang-reset.md R4.8).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lwfSyncOidCompletesTwice } from '../src/drivers/buggy/gallery-filter.ts';
import { flakyNic } from '../src/drivers/flaky-nic.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { type LwfModule, monitorLwf, variantOfMonitorLwf, withOidForwarding } from '../src/drivers/lwf.ts';
import { explore } from '../src/explore/explore.ts';
import {
  type DriverModule,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  type NDIS_OID_REQUEST,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
  NdisAllocateCloneOidRequest,
  NdisFCancelOidRequest,
  NdisFIndicateStatus,
  NdisFOidRequest,
  NdisFOidRequestComplete,
  NdisFreeCloneOidRequest,
  NdisMSleep,
  NdisRequestQueryInformation,
  OID_802_3_CURRENT_ADDRESS,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_STATISTICS,
  OID_GEN_VENDOR_DESCRIPTION,
  World,
} from '../src/index.ts';
import type { NdisOptions } from '../src/ndis/ndis.ts';
import { oidRequestData } from '../src/ndis/oid.ts';
import { formatSummary } from '../src/report/summary.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { choiceSiteNames } from '../src/sim/choice.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { ns, statisticsQuery } from './helpers/world.ts';

type Chars = NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>;

/** monitor-lwf under `name`, forwarding OIDs and status (withOidForwarding), then `edit`. */
function oidLwf(name: string, edit?: (c: Chars) => void): DriverModule {
  return variantOfMonitorLwf(name, 'test filter', (c) => {
    withOidForwarding(c);
    edit?.(c);
  });
}

interface Opts {
  miniport?: DriverModule;
  device?: Record<string, unknown>;
  removeAt?: number;
  until?: number;
  collect?: boolean;
  oidAt?: number;
  ndis?: Partial<NdisOptions>;
}

/** One nic0 (healthy-nic by default) with `filters` installed bottom first, and tcpip bound. */
function run(filters: DriverModule[], o: Opts = {}): World {
  const w = new World({ seed: 1, verifier: o.collect ? 'collect' : 'bugcheck', ndis: o.ndis ?? {} });
  const mp = o.miniport ?? healthyNic;
  w.addDriver(mp);
  for (const f of filters) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: mp.name, ...o.device });
  w.at(0, { kind: 'start', device: 'nic0' });
  if (o.oidAt !== undefined) w.at(o.oidAt, statisticsQuery('nic0'));
  if (o.removeAt !== undefined) w.at(o.removeAt, { kind: 'surprise-remove', device: 'nic0' });
  w.run(o.until ?? ns.s);
  return w;
}

function calls(ev: readonly TraceEvent[], re: RegExp): string[] {
  return ev.filter((e) => e.kind === 'call' && re.test(e.what)).map((e) => `${e.actor}:${e.what}`);
}

function rules(w: World): string[] {
  return (w.lastResult?.violations ?? []).map((v) => v.rule);
}

function query(oid: number): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
    RequestType: NdisRequestQueryInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: `own:${oid}`,
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

test('R7.5 FilterOidRequest, NdisFOidRequest: a protocol request goes top module first, clone by clone, and completes back up', () => {
  const w = run([oidLwf('f-low'), oidLwf('f-high')]);
  const c = calls(w.trace.events, /Oid/);
  // tcpip sets the packet filter and the multicast list at its first restart.
  assert.deepEqual(c.slice(0, 6), [
    'f-high:FilterOidRequest',
    'f-low:FilterOidRequest',
    'healthy-nic:MiniportOidRequest',
    'f-low:FilterOidRequestComplete',
    'f-high:FilterOidRequestComplete',
    'tcpip:ProtocolOidRequestComplete',
  ]);
  assert.deepEqual(rules(w), []);
  // R4.10: the setting NDIS keeps for a replay is the one the miniport took (a clone's).
  assert.notEqual(w.ndis.adapters[0]?.packetFilter ?? 0, 0);
});

test('R7.5: modules without FilterOidRequest and FilterStatus are bypassed; an adapter with only such modules takes the plain path', () => {
  const plain = run([]);
  const mon = run([monitorLwf]);
  const re = /Oid|Status/;
  assert.deepEqual(calls(mon.trace.events, re), calls(plain.trace.events, re));
  const mixed = run([oidLwf('f-oid'), monitorLwf]);
  assert.ok(!calls(mixed.trace.events, re).some((x) => x.startsWith('monitor-lwf:')));
  assert.ok(calls(mixed.trace.events, re).includes('f-oid:FilterOidRequest'));
});

test('R7.5 FilterOidRequest: a module that completes a request itself; the miniport never sees it', () => {
  const w = run(
    [
      oidLwf('f-answers', (c) => {
        const forward = c.OidRequestHandler!;
        c.OidRequestHandler = (m, r) => {
          if (r.DATA.Oid !== OID_GEN_CURRENT_PACKET_FILTER) return forward(m, r);
          r.DATA.SET_INFORMATION.BytesRead = 4;
          return NDIS_STATUS_SUCCESS;
        };
      }),
    ],
    { collect: true },
  );
  const ev = w.trace.events;
  const mp = ev.filter((e) => e.kind === 'call' && e.what === 'MiniportOidRequest');
  assert.ok(mp.every((e) => e.data?.Oid !== 'OID_GEN_CURRENT_PACKET_FILTER'));
  assert.ok(mp.length > 0, 'the multicast list still reaches the miniport');
  assert.equal(calls(ev, /ProtocolOidRequestComplete/).length, 2);
  assert.deepEqual(rules(w), []);
});

test('R7.5 NdisFOidRequest: a module’s own request completes to its FilterOidRequestComplete only', () => {
  const seen: string[] = [];
  const w = run(
    [
      oidLwf('f-own', (c) => {
        const restart = c.RestartHandler;
        const complete = c.OidRequestCompleteHandler!;
        c.RestartHandler = (m, p) => {
          const s = NdisFOidRequest(m.handle, query(OID_GEN_VENDOR_DESCRIPTION));
          seen.push(`issued:${s === NDIS_STATUS_PENDING ? 'PENDING' : s}`);
          return restart(m, p);
        };
        c.OidRequestCompleteHandler = (m, r, s) => {
          if (r.RequestId === `own:${OID_GEN_VENDOR_DESCRIPTION}`) seen.push(`own done:${s}`);
          else complete(m, r, s);
        };
      }),
    ],
    { collect: true },
  );
  // healthy-nic does not support the OID: the answer is its failure, but it is the module's.
  assert.deepEqual(seen.slice(0, 2), ['issued:PENDING', `own done:${NDIS_STATUS_NOT_SUPPORTED}`]);
  assert.ok(
    w.trace.events.some(
      (e) =>
        e.kind === 'call' && e.what === 'MiniportOidRequest' && e.data?.Oid === 'OID_GEN_VENDOR_DESCRIPTION',
    ),
  );
  // tcpip heard of its own two requests only.
  assert.equal(calls(w.trace.events, /ProtocolOidRequestComplete/).length, 2);
  assert.deepEqual(rules(w), []);
});

test('NdisSim_FilterOidComplete: FilterOidRequest that returns a final status while the clone it forwarded is still below is named at that return (nc-ndis-filter_oid_request)', () => {
  const w = run(
    [
      oidLwf('f-early-success', (c) => {
        const forward = c.OidRequestHandler!;
        c.OidRequestHandler = (m, r) => {
          forward(m, r);
          return NDIS_STATUS_SUCCESS; // whatever NdisFOidRequest said
        };
      }),
    ],
    { collect: true },
  );
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_FilterOidComplete');
  assert.ok(v.length > 0, rules(w).join());
  assert.equal(v[0]!.ddi, 'FilterOidRequest');
  assert.match(
    v[0]!.message,
    /f-early-success@nic0 returned NDIS_STATUS_SUCCESS, a final status, for OID_GEN_CURRENT_PACKET_FILTER while its clone is still below/,
  );
});

test('NdisSim_FilterOidComplete: NdisFOidRequestComplete for a request the module originated says so (generating-oid-requests-from-an-ndis-filter-driver), not "completed twice"', () => {
  const w = run(
    [
      oidLwf('f-own-up', (c) => {
        const restart = c.RestartHandler;
        const complete = c.OidRequestCompleteHandler!;
        c.RestartHandler = (m, p) => {
          NdisFOidRequest(m.handle, query(OID_GEN_VENDOR_DESCRIPTION));
          return restart(m, p);
        };
        c.OidRequestCompleteHandler = (m, r, s) => {
          if (r.RequestId === `own:${OID_GEN_VENDOR_DESCRIPTION}`) NdisFOidRequestComplete(m.handle, r, s);
          else complete(m, r, s);
        };
      }),
    ],
    { collect: true },
  );
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_FilterOidComplete');
  assert.equal(v.length, 1, v.map((x) => x.message).join('\n'));
  assert.match(
    v[0]!.message,
    /f-own-up@nic0 for OID_GEN_VENDOR_DESCRIPTION[^,]*, a request it originated with NdisFOidRequest: such a request ends in its own FilterOidRequestComplete/,
  );
  assert.doesNotMatch(v[0]!.message, /completed twice/);
});

test('NdisAllocateCloneOidRequest: the clone shares the original’s InformationBuffer (the pointer is copied in C), so the miniport’s answer reaches the original; BytesWritten is the clone’s own; SourceReserved keeps the original', () => {
  const got: { buffer: unknown; bytes: number; status: number }[] = [];
  let originalBytesAtClone = -1;
  // Above: issues its own query in FilterRestart and records what comes back.
  const top = oidLwf('f-asks', (c) => {
    const restart = c.RestartHandler;
    const complete = c.OidRequestCompleteHandler!;
    const mine = query(OID_802_3_CURRENT_ADDRESS);
    mine.DATA.QUERY_INFORMATION.InformationBufferLength = 6;
    c.RestartHandler = (m, p) => {
      const s = restart(m, p);
      if (got.length === 0) {
        const st = NdisFOidRequest(m.handle, mine);
        if (st !== NDIS_STATUS_PENDING)
          got.push({
            buffer: mine.DATA.QUERY_INFORMATION.InformationBuffer,
            bytes: mine.DATA.QUERY_INFORMATION.BytesWritten,
            status: st,
          });
      }
      return s;
    };
    c.OidRequestCompleteHandler = (m, r, status) => {
      if (r !== mine) return complete(m, r, status);
      const d = r.DATA.QUERY_INFORMATION;
      got.push({ buffer: d.InformationBuffer, bytes: d.BytesWritten, status });
    };
  });
  // Below: forwards clones, keeps the original in SourceReserved[0], and copies back only the counts.
  const below = variantOfMonitorLwf('f-clones', 'forwards clones, copying the counts back', (c) => {
    const finish = (m: LwfModule, clone: NDIS_OID_REQUEST, status: number) => {
      const orig = clone.SourceReserved[0] as NDIS_OID_REQUEST;
      orig.DATA.QUERY_INFORMATION.BytesWritten = clone.DATA.QUERY_INFORMATION.BytesWritten;
      orig.DATA.QUERY_INFORMATION.BytesNeeded = clone.DATA.QUERY_INFORMATION.BytesNeeded;
      NdisFreeCloneOidRequest(m.handle, clone);
      NdisFOidRequestComplete(m.handle, orig, status);
    };
    c.OidRequestHandler = (m, r) => {
      const { ClonedOidRequest: clone } = NdisAllocateCloneOidRequest(m.handle, r, 0x6f66774c);
      clone!.SourceReserved[0] = r;
      assert.equal(r.SourceReserved[0], null, 'the clone’s SourceReserved is its own storage');
      originalBytesAtClone = r.DATA.QUERY_INFORMATION.BytesWritten;
      const s = NdisFOidRequest(m.handle, clone!);
      if (s === NDIS_STATUS_PENDING) return NDIS_STATUS_PENDING;
      const orig = clone!.SourceReserved[0] as NDIS_OID_REQUEST;
      orig.DATA.QUERY_INFORMATION.BytesWritten = clone!.DATA.QUERY_INFORMATION.BytesWritten;
      NdisFreeCloneOidRequest(m.handle, clone!);
      return s;
    };
    c.OidRequestCompleteHandler = finish;
  });
  const w = run([below, top], { until: 300 * ns.ms });
  assert.deepEqual(rules(w), []);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.status, NDIS_STATUS_SUCCESS);
  assert.equal(originalBytesAtClone, 0);
  assert.equal(got[0]!.bytes, 6);
  assert.ok(
    Array.isArray(got[0]!.buffer) && (got[0]!.buffer as number[]).length === 6,
    `the original saw ${String(got[0]!.buffer)}`,
  );
});

test('R7.5: NDIS’s own requests (here the scenario’s statistics query) go straight to the miniport, past the modules', () => {
  const w = run([oidLwf('f-fwd')], { oidAt: 200 * ns.ms });
  const ev = w.trace.events;
  const i = ev.findIndex(
    (e) => e.kind === 'call' && e.what === 'MiniportOidRequest' && e.data?.Oid === 'OID_GEN_STATISTICS',
  );
  assert.ok(i >= 0);
  assert.ok(!ev.slice(i - 3, i).some((e) => e.kind === 'call' && e.what === 'FilterOidRequest'));
});

test('NdisSim_FilterState: NdisFOidRequest from FilterAttach (Attaching) is refused and reported', () => {
  let status = -1;
  const w = run(
    [
      oidLwf('f-early', (c) => {
        const attach = c.AttachHandler;
        c.AttachHandler = (h, ctx, p) => {
          const s = attach(h, ctx, p);
          status = NdisFOidRequest(h, query(OID_GEN_VENDOR_DESCRIPTION));
          return s;
        };
      }),
    ],
    { collect: true },
  );
  assert.equal(status, NDIS_STATUS_FAILURE);
  assert.deepEqual(rules(w), ['NdisSim_FilterState']);
});

test('NdisSim_FilterState: NdisFIndicateStatus before NdisFSetAttributes; allowed right after it (nf-ndis-ndisfindicatestatus)', () => {
  const ind = (h: unknown) => ({
    Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: 1 },
    SourceHandle: h as never,
    PortNumber: 0,
    StatusCode: NDIS_STATUS_LINK_STATE,
    Flags: 0,
    DestinationHandle: null,
    RequestId: null,
    StatusBuffer: null,
    StatusBufferSize: 0,
  });
  const w = run(
    [
      oidLwf('f-status-early', (c) => {
        const attach = c.AttachHandler;
        c.AttachHandler = (h, ctx, p) => {
          NdisFIndicateStatus(h, ind(h));
          const s = attach(h, ctx, p);
          NdisFIndicateStatus(h, ind(h));
          return s;
        };
      }),
    ],
    { collect: true },
  );
  assert.deepEqual(rules(w), ['NdisSim_FilterState']);
});

test('R7.5 NdisSim_FilterState: the module is Detached from the start of FilterDetach (detaching-a-filter-module): NdisFOidRequest there is refused and reported, and nothing completes into the detached module; NdisFIndicateStatus there is allowed (nf-ndis-ndisfindicatestatus: not after FilterDetach returns)', () => {
  const seen: string[] = [];
  const w = run(
    [
      oidLwf('f-oid-in-detach', (c) => {
        const complete = c.OidRequestCompleteHandler!;
        c.DetachHandler = (m) => {
          const s = NdisFOidRequest(m.handle, query(OID_GEN_STATISTICS));
          seen.push(`issued:${s === NDIS_STATUS_FAILURE ? 'FAILURE' : s}`);
          NdisFIndicateStatus(m.handle, {
            Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: 1 },
            SourceHandle: m.handle,
            PortNumber: 0,
            StatusCode: NDIS_STATUS_LINK_STATE,
            Flags: 0,
            DestinationHandle: null,
            RequestId: null,
            StatusBuffer: null,
            StatusBufferSize: 0,
          });
        };
        c.OidRequestCompleteHandler = (m, r, s) => {
          if (r.RequestId === `own:${OID_GEN_STATISTICS}`) seen.push(`own done:${s}`);
          else complete(m, r, s);
        };
      }),
    ],
    { collect: true, removeAt: 100 * ns.ms },
  );
  assert.deepEqual(seen, ['issued:FAILURE']);
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => `${x.rule}:${x.ddi}`),
    ['NdisSim_FilterState:NdisFOidRequest'],
  );
  assert.match(
    v[0]!.message,
    /inside its FilterDetach: the module is Detached from the start of FilterDetach/,
  );
  // The module's state line comes before its FilterDetach, and the request never went down.
  const ev = w.trace.events;
  const detached = ev.findIndex((e) => e.kind === 'filter' && e.what === 'Paused → Detached');
  const call = ev.findIndex((e) => e.kind === 'call' && e.what === 'FilterDetach');
  assert.ok(detached >= 0 && detached < call, `${detached} < ${call}`);
  assert.equal(
    ev.filter(
      (e) => e.kind === 'call' && e.what === 'MiniportOidRequest' && e.data?.Oid === 'OID_GEN_STATISTICS',
    ).length,
    0,
  );
});

test('NdisSim_FilterOidComplete: FilterOidRequest completes its request and returns SUCCESS as well', () => {
  const w = run(
    [
      oidLwf('f-twice', (c) => {
        c.OidRequestHandler = (m, r) => {
          NdisFOidRequestComplete(m.handle, r, NDIS_STATUS_SUCCESS);
          return NDIS_STATUS_SUCCESS;
        };
      }),
    ],
    { collect: true },
  );
  assert.ok(rules(w).includes('NdisSim_FilterOidComplete'));
  // The protocol heard of each request once.
  assert.equal(calls(w.trace.events, /ProtocolOidRequestComplete/).length, 2);
});

test('NdisSim_FilterOidComplete: NdisFOidRequestComplete for a request completed already', () => {
  const w = run(
    [
      oidLwf('f-late', (c) => {
        const complete = c.OidRequestCompleteHandler!;
        c.OidRequestHandler = (m, r) => {
          NdisFOidRequestComplete(m.handle, r, NDIS_STATUS_SUCCESS);
          return NDIS_STATUS_PENDING;
        };
        c.OidRequestCompleteHandler = complete;
        const restart = c.RestartHandler;
        c.RestartHandler = (m, p) => {
          const s = restart(m, p);
          NdisFOidRequestComplete(m.handle, query(OID_GEN_STATISTICS), NDIS_STATUS_SUCCESS);
          return s;
        };
      }),
    ],
    { collect: true },
  );
  assert.deepEqual(rules(w), ['NdisSim_FilterOidComplete']);
});

test('NdisSim_FilterOidComplete: an NdisFOidRequestComplete for a request the module no longer holds says which case it is: completed already (and when), completed by a final return, or never handed to it', () => {
  /** The message of the module's bad completion, with `edit` making it. */
  const message = (name: string, edit: (c: Chars) => void): string => {
    const w = run([oidLwf(name, edit)], { collect: true, removeAt: 100 * ns.ms });
    const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_FilterOidComplete');
    assert.equal(v.length >= 1, true, name);
    return v[0]!.message;
  };
  // Completed twice: the forwarding module completes the original twice in FilterOidRequestComplete.
  const twice = message('f-complete-twice', (c) => {
    const complete = c.OidRequestCompleteHandler!;
    const originals = new Map<NDIS_OID_REQUEST, NDIS_OID_REQUEST>();
    c.OidRequestHandler = (m, r) => {
      const clone = NdisAllocateCloneOidRequest(m.handle, r, 0).ClonedOidRequest!;
      originals.set(clone, r);
      return NdisFOidRequest(m.handle, clone);
    };
    c.OidRequestCompleteHandler = (m, clone, s) => {
      const r = originals.get(clone);
      if (r === undefined) return complete(m, clone, s);
      NdisFreeCloneOidRequest(m.handle, clone);
      NdisFOidRequestComplete(m.handle, r, s);
      NdisFOidRequestComplete(m.handle, r, s);
    };
  });
  assert.match(
    twice,
    /the module completed it already, with NdisFOidRequestComplete \(NDIS_STATUS_SUCCESS\) at \d+\.\d{6} s: the request is completed twice$/,
  );
  // After a final return: FilterOidRequest answers at once, then completes it later as well.
  let answered: NDIS_OID_REQUEST | null = null;
  const afterReturn = message('f-after-return', (c) => {
    c.OidRequestHandler = (_m, r) => {
      answered ??= r;
      return NDIS_STATUS_NOT_SUPPORTED;
    };
    const pause = c.PauseHandler;
    c.PauseHandler = (m, p) => {
      if (answered !== null) NdisFOidRequestComplete(m.handle, answered, NDIS_STATUS_SUCCESS);
      return pause(m, p);
    };
  });
  assert.match(
    afterReturn,
    /its FilterOidRequest completed it at \d+\.\d{6} s by returning NDIS_STATUS_NOT_SUPPORTED, a final status: a request is completed by that return or, after PENDING, by NdisFOidRequestComplete, never by both/,
  );
  // Never handed to it.
  const never = message('f-never-handed', (c) => {
    const restart = c.RestartHandler;
    c.RestartHandler = (m, p) => {
      NdisFOidRequestComplete(m.handle, query(OID_GEN_STATISTICS), NDIS_STATUS_SUCCESS);
      return restart(m, p);
    };
  });
  assert.match(
    never,
    /for a request \(OID_GEN_STATISTICS\) that is not in its FilterOidRequest nor pended by it: NDIS never handed it to its FilterOidRequest$/,
  );
  for (const m of [twice, afterReturn, never])
    assert.doesNotMatch(m, /completed twice, after a final return, or never handed/);
});

test('NdisSim_FilterOidClone: forwarding the original request; freeing what is not a clone; clones left at FilterDetach', () => {
  const original = run(
    [
      oidLwf('f-original', (c) => {
        c.OidRequestHandler = (m, r) => NdisFOidRequest(m.handle, r);
        c.OidRequestCompleteHandler = (m, r, s) => NdisFOidRequestComplete(m.handle, r, s);
      }),
    ],
    { collect: true },
  );
  assert.ok(rules(original).includes('NdisSim_FilterOidClone'));
  assert.equal(calls(original.trace.events, /ProtocolOidRequestComplete/).length, 2);

  const notClone = run(
    [
      oidLwf('f-free-other', (c) => {
        const restart = c.RestartHandler;
        c.RestartHandler = (m, p) => {
          NdisFreeCloneOidRequest(m.handle, query(OID_GEN_STATISTICS));
          return restart(m, p);
        };
      }),
    ],
    { collect: true },
  );
  assert.deepEqual(rules(notClone), ['NdisSim_FilterOidClone']);

  const leak = run(
    [
      oidLwf('f-leak', (c) => {
        const restart = c.RestartHandler;
        c.RestartHandler = (m, p) => {
          NdisAllocateCloneOidRequest(m.handle, query(OID_GEN_STATISTICS), 0);
          return restart(m, p);
        };
      }),
    ],
    { collect: true, removeAt: 100 * ns.ms },
  );
  const v = leak.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => `${x.rule}:${x.ddi}`),
    ['NdisSim_FilterOidClone:FilterDetach'],
  );
});

test('NdisSim_FilterOidClone: NdisFOidRequestComplete of the original while its clone is not freed yet (freed after, or still below); freed first, it passes (nc-ndis-filter_oid_request_complete)', () => {
  const clones = new Map<NDIS_OID_REQUEST, NDIS_OID_REQUEST>();
  const lateFree = run(
    [
      oidLwf('f-late-free', (c) => {
        c.OidRequestHandler = (m, r) => {
          const clone = NdisAllocateCloneOidRequest(m.handle, r, 0x656c436c).ClonedOidRequest!;
          clones.set(clone, r);
          return NdisFOidRequest(m.handle, clone);
        };
        c.OidRequestCompleteHandler = (m, clone, st) => {
          NdisFOidRequestComplete(m.handle, clones.get(clone)!, st);
          NdisFreeCloneOidRequest(m.handle, clone); // after: the original is gone by now
        };
      }),
    ],
    { collect: true },
  );
  const v = lateFree.lastResult!.violations.filter((x) => x.rule === 'NdisSim_FilterOidClone');
  assert.equal(v.length, 2, "each of tcpip's two requests");
  assert.equal(v[0]!.ddi, 'NdisFOidRequestComplete');
  assert.match(
    v[0]!.message,
    /f-late-free@nic0 for OID_GEN_CURRENT_PACKET_FILTER while its clone is not freed: a filter calls NdisFreeCloneOidRequest before it completes the original/,
  );
  assert.equal(
    calls(lateFree.trace.events, /ProtocolOidRequestComplete/).length,
    2,
    'the completions still climb',
  );
  const freedFirst = run([oidLwf('f-free-first')], { collect: true });
  assert.deepEqual(rules(freedFirst), []);
});

test('NdisAllocateCloneOidRequest: the clone copies the request, its DATA is its own structure', () => {
  let ok = false;
  run([
    oidLwf('f-clone', (c) => {
      const restart = c.RestartHandler;
      c.RestartHandler = (m, p) => {
        const q = query(OID_GEN_STATISTICS);
        q.DATA.QUERY_INFORMATION.BytesNeeded = 7;
        const r = NdisAllocateCloneOidRequest(m.handle, q, 0x41424344);
        const k = r.ClonedOidRequest!;
        ok =
          r.Status === NDIS_STATUS_SUCCESS &&
          k !== q &&
          k.DATA !== q.DATA &&
          k.RequestId === q.RequestId &&
          k.DATA.Oid === OID_GEN_STATISTICS &&
          k.DATA.QUERY_INFORMATION.InformationBufferLength === 8 &&
          k.DATA.QUERY_INFORMATION.BytesNeeded === 7;
        NdisFreeCloneOidRequest(m.handle, k);
        return restart(m, p);
      };
    }),
  ]);
  assert.ok(ok);
});

test('NdisSim_FilterOidWatchdog: a module that pends a request and never completes it → 0x7C/0x25/0x24', () => {
  const w = run(
    [
      oidLwf('f-stuck', (c) => {
        c.OidRequestHandler = () => NDIS_STATUS_PENDING;
      }),
    ],
    { until: 70 * ns.s },
  );
  const bc = w.lastResult!.bugCheck;
  assert.equal(bc?.rule, 'NdisSim_FilterOidWatchdog');
  assert.ok(bc!.timeNs >= 60 * ns.s && bc!.timeNs < 61 * ns.s);
  // bug-check-0x7c: parameter 4 of 0x24 is the OID of the stuck request.
  assert.match(bc!.message, /pended OID_GEN_CURRENT_PACKET_FILTER at 0\.\d{6} s /);
  // Which module pended it, when, and whose request it was (Pended by).
  assert.equal(bc!.origin?.label, 'Pended by');
  assert.match(
    bc!.origin!.at,
    /^FilterOidRequest of f-stuck\S* at 0\.\d{6} s \(OID_GEN_CURRENT_PACKET_FILTER, a request of tcpip\)$/,
  );
  assert.deepEqual(bc!.bugCheck.params, [
    0x25,
    0x24,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    OID_GEN_CURRENT_PACKET_FILTER,
  ]);
});

test('R7.13 NdisSim_FilterOidWatchdog: a FilterOidRequest that blocks past the watchdog is caught while it blocks, timed from its call; one that returns in time is not', () => {
  const blocking = (name: string, seconds: number) =>
    oidLwf(name, (c) => {
      c.OidRequestHandler = () => {
        for (let i = 0; i < seconds; i++) NdisMSleep(1_000_000);
        return NDIS_STATUS_SUCCESS;
      };
    });
  const w = run([blocking('f-blocks', 70)], { until: 90 * ns.s });
  const bc = w.lastResult!.bugCheck!;
  assert.equal(bc.rule, 'NdisSim_FilterOidWatchdog');
  assert.match(
    bc.message,
    /FilterOidRequest of f-blocks\S* for OID_GEN_CURRENT_PACKET_FILTER has not returned after 60 s/,
  );
  assert.deepEqual(bc.bugCheck.params, [
    0x25,
    0x24,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    OID_GEN_CURRENT_PACKET_FILTER,
  ]);
  const call = w.trace.events.find((e) => e.kind === 'call' && e.what === 'FilterOidRequest')!;
  assert.ok(bc.timeNs - call.t > 60 * ns.s && bc.timeNs - call.t < 61 * ns.s, `after ${bc.timeNs - call.t}`);
  assert.equal(run([blocking('f-slow-ok', 50)], { until: 90 * ns.s }).lastResult!.bugCheck, null);
});

test('R7.13 NdisSim_FilterOidWatchdog (0x24) is timed by oidWatchdog, as the miniport OID watchdog (0x23) is, not by pauseWatchdog: pended and blocked', () => {
  const ndis = { oidWatchdogNs: 5 * ns.s, pauseWatchdogNs: 120 * ns.s };
  const pended = run(
    [
      oidLwf('f-pends', (c) => {
        c.OidRequestHandler = () => NDIS_STATUS_PENDING;
      }),
    ],
    { until: 20 * ns.s, ndis },
  ).lastResult!.bugCheck!;
  assert.equal(pended.rule, 'NdisSim_FilterOidWatchdog');
  assert.ok(pended.timeNs >= 5 * ns.s && pended.timeNs < 6 * ns.s, `at ${pended.timeNs}`);
  assert.match(pended.message, /did not follow within 5 s/);
  const blocked = run(
    [
      oidLwf('f-sleeps', (c) => {
        c.OidRequestHandler = () => {
          for (let i = 0; i < 30; i++) NdisMSleep(1_000_000);
          return NDIS_STATUS_SUCCESS;
        };
      }),
    ],
    { until: 40 * ns.s, ndis },
  ).lastResult!.bugCheck!;
  assert.equal(blocked.rule, 'NdisSim_FilterOidWatchdog');
  assert.match(blocked.message, /has not returned after 5 s/);
});

test('R7.6: a module waiting for its own request below is not blamed by the watchdog', () => {
  // The lower module holds the request 70 s; the upper one forwards and waits.
  const w = run(
    [
      oidLwf('f-slow', (c) => {
        c.OidRequestHandler = () => NDIS_STATUS_PENDING;
      }),
      oidLwf('f-waits'),
    ],
    { until: 70 * ns.s },
  );
  assert.equal(w.lastResult!.bugCheck?.message.includes('f-slow'), true);
});

test('R7.5 FilterStatus, NdisFIndicateStatus; R4.8: RESET_START and RESET_END climb bottom-up through the modules to the protocol', () => {
  const w = run([oidLwf('f-low'), monitorLwf, oidLwf('f-high')], {
    miniport: flakyNic,
    device: { faults: { hangAtNs: 500 * ns.ms } },
    until: 8 * ns.s,
  });
  const ev = w.trace.events.filter(
    (e) => e.kind === 'call' && (e.what === 'FilterStatus' || e.what === 'ProtocolStatusEx'),
  );
  const codes = (code: string) =>
    ev
      .filter((e) => e.data?.StatusCode === code || e.data?.StatusCode === Number(code))
      .map((e) => `${e.actor}:${e.what}`);
  const start = codes('NDIS_STATUS_RESET_START').concat(codes(String(NDIS_STATUS_RESET_START)));
  const end = codes('NDIS_STATUS_RESET_END').concat(codes(String(NDIS_STATUS_RESET_END)));
  const order = ['f-low:FilterStatus', 'f-high:FilterStatus', 'tcpip:ProtocolStatusEx'];
  assert.deepEqual(start.slice(0, 3), order);
  assert.deepEqual(end.slice(0, 3), order);
});

test('R7.5 FilterStatus: a module that does not call NdisFIndicateStatus filters the indication out', () => {
  const w = run(
    [
      oidLwf('f-swallow', (c) => {
        c.StatusHandler = () => {};
      }),
    ],
    { miniport: flakyNic, device: { faults: { hangAtNs: 500 * ns.ms } }, until: 8 * ns.s },
  );
  const ev = w.trace.events.filter((e) => e.kind === 'call');
  assert.ok(ev.some((e) => e.what === 'FilterStatus'));
  assert.ok(!ev.some((e) => e.what === 'ProtocolStatusEx'));
});

test('R6.16 NdisFIndicateStatus: a DestinationHandle sends the module’s indication to that requester only, past the modules above', () => {
  let bad = 0;
  const w = run(
    [
      oidLwf('f-answer', (c) => {
        const forward = c.OidRequestHandler!;
        c.OidRequestHandler = (m, r) => {
          if (r.DATA.Oid === OID_GEN_CURRENT_PACKET_FILTER)
            NdisFIndicateStatus(m.handle, {
              Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: 1 },
              SourceHandle: m.handle,
              PortNumber: 0,
              StatusCode: 0x40020000,
              Flags: 0,
              DestinationHandle: r.RequestHandle,
              RequestId: r.RequestId,
              StatusBuffer: null,
              StatusBufferSize: 0,
            });
          return forward(m, r);
        };
      }),
      oidLwf('f-above', (c) => {
        const st = c.StatusHandler!;
        c.StatusHandler = (m, i) => {
          bad++;
          st(m, i);
        };
      }),
    ],
    { collect: true },
  );
  // f-above forwards the request, so f-answer sees f-above's clone: its RequestHandle is f-above's.
  assert.equal(bad, 1, 'the indication went to the module above that asked, only');
  // That module (withOidForwarding) sends it on to the protocol whose request it cloned.
  const ps = w.trace.events.filter((e) => e.kind === 'call' && e.what === 'ProtocolStatusEx');
  assert.equal(ps.length, 1);
  assert.match(String(ps[0]!.data?.RequestId), /^tcpip:/);
  assert.deepEqual(rules(w), []);
});

test('NdisSim_FilterStatusInvalid: an indication the module originates without its own SourceHandle', () => {
  const w = run(
    [
      oidLwf('f-nosource', (c) => {
        const restart = c.RestartHandler;
        c.RestartHandler = (m, p) => {
          NdisFIndicateStatus(m.handle, {
            Header: { Type: NDIS_OBJECT_TYPE_STATUS_INDICATION, Revision: 1 },
            SourceHandle: null as never,
            PortNumber: 0,
            StatusCode: NDIS_STATUS_LINK_STATE,
            Flags: 0,
            DestinationHandle: null,
            RequestId: null,
            StatusBuffer: null,
            StatusBufferSize: 0,
          });
          return restart(m, p);
        };
      }),
    ],
    { collect: true },
  );
  assert.deepEqual(rules(w), ['NdisSim_FilterStatusInvalid']);
  assert.ok(!calls(w.trace.events, /ProtocolStatusEx/).length);
});

test('R6.4 NdisFCancelOidRequest: a request still queued at the module below completes at once with REQUEST_ABORTED', () => {
  const seen: string[] = [];
  const lowSaw: unknown[] = [];
  const w = run(
    [
      oidLwf('f-below', (c) => {
        const forward = c.OidRequestHandler!;
        c.OidRequestHandler = (m, r) => {
          lowSaw.push(r.RequestId);
          return forward(m, r);
        };
      }),
      oidLwf('f-cancels', (c) => {
        const restart = c.RestartHandler;
        c.RestartHandler = (m, p) => {
          const q = query(OID_GEN_VENDOR_DESCRIPTION);
          seen.push(`issued:${NdisFOidRequest(m.handle, q)}`);
          NdisFCancelOidRequest(m.handle, q.RequestId);
          return restart(m, p);
        };
        const complete = c.OidRequestCompleteHandler!;
        c.OidRequestCompleteHandler = (m, r, s) => {
          if (r.RequestId === `own:${OID_GEN_VENDOR_DESCRIPTION}`) seen.push(`done:${s}`);
          else complete(m, r, s);
        };
      }),
    ],
    { collect: true },
  );
  assert.deepEqual(seen, [`issued:${NDIS_STATUS_PENDING}`, `done:${NDIS_STATUS_REQUEST_ABORTED}`]);
  assert.ok(!lowSaw.includes(`own:${OID_GEN_VENDOR_DESCRIPTION}`));
  assert.deepEqual(rules(w), []);
});

// ------------------------------------------------------------ R6.2: a request passed down inside the call

/** `run` with the option oidCallDown, tracing, and the rule ids broken. */
function runCallDown(filters: DriverModule[], how: 'queued' | 'inline' | 'explore'): World {
  const w = new World({ seed: 1, verifier: 'collect', ndis: { oidCallDown: how } });
  w.addDriver(healthyNic);
  for (const f of filters) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.run(200 * ns.ms);
  return w;
}

/** A filter that forwards clones and records what each NdisFOidRequest returned. */
function recordingLwf(name: string, got: number[]): DriverModule {
  return oidLwf(name, (c) => {
    c.OidRequestHandler = (m: LwfModule, r) => {
      const clone = NdisAllocateCloneOidRequest(m.handle, r, 1).ClonedOidRequest!;
      clone.SourceReserved[0] = r;
      const s = NdisFOidRequest(m.handle, clone);
      got.push(s);
      if (s !== NDIS_STATUS_PENDING) NdisFreeCloneOidRequest(m.handle, clone);
      return s;
    };
    c.OidRequestCompleteHandler = (m: LwfModule, clone, status) => {
      const r = clone.SourceReserved[0] as NDIS_OID_REQUEST;
      NdisFreeCloneOidRequest(m.handle, clone);
      NdisFOidRequestComplete(m.handle, r, status);
    };
  });
}

test('R6.2 oidCallDown inline: NdisFOidRequest and NdisOidRequest pass the request down inside the call; MiniportOidRequest’s final status comes back from them and no FilterOidRequestComplete or ProtocolOidRequestComplete runs', () => {
  const got: number[] = [];
  const w = runCallDown([recordingLwf('f-inline', got)], 'inline');
  const c = calls(w.trace.events, /Oid/);
  assert.deepEqual(c.slice(0, 2), ['f-inline:FilterOidRequest', 'healthy-nic:MiniportOidRequest']);
  assert.deepEqual(
    c.filter((x) => /RequestComplete/.test(x)),
    [],
    'a request finished inside the call has no completion handler',
  );
  // healthy-nic answers at once: each NdisFOidRequest returned its final status.
  assert.ok(got.length >= 2, `${got.length} requests`);
  assert.ok(
    got.every((s) => s === NDIS_STATUS_SUCCESS),
    got.join(' '),
  );
  assert.deepEqual(rules(w), []);
  // tcpip's packet filter reached the miniport and NDIS kept it (R4.10).
  assert.notEqual(w.ndis.adapters[0]?.packetFilter ?? 0, 0);
  // No filter: tcpip's NdisOidRequest itself returns the miniport's status, and no
  // ProtocolOidRequestComplete follows.
  const bare = runCallDown([], 'inline');
  const bc = calls(bare.trace.events, /Oid/);
  assert.ok(bc.includes('healthy-nic:MiniportOidRequest'), bc.join(' '));
  assert.ok(!bc.includes('tcpip:ProtocolOidRequestComplete'), bc.join(' '));
  assert.deepEqual(rules(bare), []);
  assert.notEqual(bare.ndis.adapters[0]?.packetFilter ?? 0, 0);
  assert.ok(
    calls(runCallDown([], 'queued').trace.events, /Oid/).includes('tcpip:ProtocolOidRequestComplete'),
  );
  // Queued, the same filter sees PENDING for each and its completion handler runs.
  const q: number[] = [];
  const wq = runCallDown([recordingLwf('f-inline', q)], 'queued');
  assert.ok(q.length >= 2 && q.every((s) => s === NDIS_STATUS_PENDING), q.join(' '));
  assert.ok(calls(wq.trace.events, /Oid/).includes('f-inline:FilterOidRequestComplete'));
});

test('R6.2 oidCallDown queued (the default): every request goes through NDIS’s worker, NdisFOidRequest returns PENDING and FilterOidRequestComplete follows', () => {
  const def = runCallDown([oidLwf('f-queued')], 'queued');
  const c = calls(def.trace.events, /Oid/);
  assert.deepEqual(c.slice(0, 4), [
    'f-queued:FilterOidRequest',
    'healthy-nic:MiniportOidRequest',
    'f-queued:FilterOidRequestComplete',
    'tcpip:ProtocolOidRequestComplete',
  ]);
  // No option given: the same as queued, decision for decision (no new question asked).
  const plain = run([oidLwf('f-queued')], { until: 200 * ns.ms });
  assert.deepEqual(calls(plain.trace.events, /Oid/), c);
  assert.equal(plain.machine.chooser.length, def.machine.chooser.length);
});

test('R6.2, NdisSim_FilterOidComplete: lwf-sync-oid-completes-twice completes a request NdisFOidRequest finished at once and returns its status too; queued it passes, inline it fails, and explore (oidCallDown: explore) finds it within a few seeds', () => {
  assert.deepEqual(rules(runCallDown([lwfSyncOidCompletesTwice], 'queued')), []);
  const bad = rules(runCallDown([lwfSyncOidCompletesTwice], 'inline'));
  assert.ok(bad.includes('NdisSim_FilterOidComplete'), bad.join(' '));
  const drivers = [lwfSyncOidCompletesTwice];
  const text = `name: sync oid\nuntil: 200ms\nndis: { oidCallDown: explore }\nfilters: [{ driver: ${lwfSyncOidCompletesTwice.name} }]\ndevices: [{ name: nic0, driver: healthy-nic }]\n`;
  const scenario = parseScenarioText(text, 'sync-oid.yaml', driverNames(drivers));
  const report = explore(
    { scenario, drivers, untilNs: untilNs(scenario), verifier: 'bugcheck' },
    { firstSeed: 1, runs: 8, shrinkRuns: 200 },
  );
  assert.ok(report.failed > 0, `failed ${report.failed} of 8`);
  const g = report.groups[0]!;
  assert.equal(g.signature, 'bugcheck NdisSim_FilterOidComplete');
  // Shrunk to a choice or two, the request passed down inside the call among them.
  const shrunk = g.shrunk!.decisions.filter((d) => d.pick !== 0);
  assert.ok(shrunk.length <= 2, shrunk.map((d) => choiceSiteNames[d.site]).join(' '));
  assert.ok(
    shrunk.some((d) => choiceSiteNames[d.site] === 'OidCallDown' && d.pick === 1),
    shrunk.map((d) => choiceSiteNames[d.site]).join(' '),
  );
  // Without the option, no seed can fail: the question is never asked.
  const plain = parseScenarioText(
    text.replace('ndis: { oidCallDown: explore }\n', ''),
    'sync-oid.yaml',
    driverNames(drivers),
  );
  const quiet = explore(
    { scenario: plain, drivers, untilNs: untilNs(plain), verifier: 'bugcheck' },
    { firstSeed: 1, runs: 8, shrinkRuns: 0 },
  );
  assert.equal(quiet.failed, 0);
  assert.equal(buildWorld(plain, { drivers }).ndis.options.oidCallDown, 'queued');
  assert.throws(
    () => parseScenarioText(text.replace('explore }', 'sometimes }'), 'sync-oid.yaml', driverNames(drivers)),
    /sync-oid\.yaml: ndis\.oidCallDown: expected/,
  );
});

test('R7.5, R6.3: a request a filter module pended and never completed is named under "Still under way": the module, the OID, its requester and since when', () => {
  const never = oidLwf('f-never', (c) => {
    c.OidRequestHandler = () => NDIS_STATUS_PENDING;
  });
  const w = run([never], { until: 2 * ns.s, collect: true });
  const p = w.lastResult!.pending;
  const line = p.find((x) => x.includes('f-never@nic0'));
  assert.ok(line !== undefined, p.join('; '));
  assert.match(
    line,
    /^nic0: an OID request is pending in filter module f-never@nic0: OID_GEN_CURRENT_PACKET_FILTER \(set\) from tcpip since \d+\.\d{6} s \(NdisFOidRequestComplete not called\); \d+ more queued for its FilterOidRequest$/,
  );
  // The run's summary prints it under "Still under way at the end".
  const text = formatSummary(w.summary(), w.lastResult!, { color: false, seed: 1, expectation: null }).join(
    '\n',
  );
  assert.match(
    text,
    /Still under way at the end\n(?:.*\n)*? {4}nic0: an OID request is pending in filter module f-never@nic0: OID_GEN_CURRENT_PACKET_FILTER/,
  );
  // A module whose clone is below is not the holder: the miniport's line names it.
  const slow = run([oidLwf('f-fwd')], { until: 2 * ns.s, collect: true, miniport: healthyNic });
  assert.ok(
    !slow.lastResult!.pending.some((x) => x.includes('filter module')),
    slow.lastResult!.pending.join('; '),
  );
});
