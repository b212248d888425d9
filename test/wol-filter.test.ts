// Wake-on-LAN patterns through filter modules (src/ndis/wol.ts, docs/model.md "Wake-on-LAN
// patterns"): a protocol's OID_PM_ADD_WOL_PATTERN and OID_PM_REMOVE_WOL_PATTERN go down
// through the modules' FilterOidRequest; a module's own add gets its PatternId from NDIS
// too. The pages: OID_PM_ADD_WOL_PATTERN ("before NDIS sends this OID request down to the
// underlying NDIS drivers ... sets PatternId"), Adding and Deleting Wake on LAN Patterns
// ("NDIS returns the identifier to the overlying driver that added the WOL pattern"),
// NdisAllocateCloneOidRequest and FilterOidRequestComplete. And what becomes of a
// protocol's patterns when it closes its binding: the same page has the protocol remove
// them first, and NDIS remove only an application's (NdisSim_ProtocolWolPatterns).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LwfModule } from '../src/drivers/lwf.ts';
import { monitorLwf, oidLoggingLwf, variantOfMonitorLwf, withOidForwarding } from '../src/drivers/lwf.ts';
import {
  bitmapWolPattern,
  type DriverModule,
  magicPacketWolPattern,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NDIS_HANDLE,
  type NDIS_OID_REQUEST,
  type NDIS_PM_WOL_PATTERN,
  NDIS_PM_WOL_PRIORITY_HIGHEST,
  NDIS_PM_WOL_PRIORITY_LOWEST,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL,
  NDIS_STATUS_PM_WOL_PATTERN_REJECTED,
  NDIS_STATUS_SUCCESS,
  NdisFOidRequest,
  NdisOidRequest,
  NdisRequestSetInformation,
  OID_PM_ADD_WOL_PATTERN,
  OID_PM_REMOVE_WOL_PATTERN,
} from '../src/index.ts';
import { oidRequest } from '../src/ndis/oid.ts';
import { World } from '../src/world.ts';
import { bindingProtocol, protocolStep } from './helpers/protocol.ts';
import { scriptedDriver, wolPatternAttributes } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** What the miniport saw of a pattern request: the OID, the PatternId, the request object. */
interface Seen {
  oid: 'add' | 'remove';
  id: number;
  request: NDIS_OID_REQUEST;
}

/**
 * A miniport (NDIS 6.30) with bitmap and magic-packet patterns that takes every pattern
 * request, up to `capacity` patterns (beyond: NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL).
 */
function wolMiniport(
  name: string,
  removeStatus: number = NDIS_STATUS_SUCCESS,
  capacity = Number.POSITIVE_INFINITY,
) {
  const seen: Seen[] = [];
  const held = new Set<number>();
  const drv = scriptedDriver(name, {
    generalAttributes: wolPatternAttributes,
    characteristics: (c) => {
      c.MinorNdisVersion = 30;
    },
    oid: (_a, req) => {
      if (req.RequestType === NdisRequestSetInformation && req.DATA.Oid === OID_PM_ADD_WOL_PATTERN) {
        const id = (req.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_WOL_PATTERN).PatternId;
        seen.push({ oid: 'add', id, request: req });
        if (held.size >= capacity) return NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL;
        held.add(id);
      } else if (
        req.RequestType === NdisRequestSetInformation &&
        req.DATA.Oid === OID_PM_REMOVE_WOL_PATTERN
      ) {
        seen.push({ oid: 'remove', id: req.DATA.SET_INFORMATION.InformationBuffer as number, request: req });
        if (removeStatus === NDIS_STATUS_SUCCESS)
          held.delete(req.DATA.SET_INFORMATION.InformationBuffer as number);
        return removeStatus;
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  return { drv, seen };
}

const set = (oid: number, buffer: unknown, length: number) =>
  oidRequest(NdisRequestSetInformation, oid, buffer, length);

/**
 * A world (seed 1, violations collected) of the pattern miniport `mp` for nic0, started at
 * 0, with `filter` attached above it (when given) and the protocol driver `proto`.
 */
function patternWorld(
  mp: DriverModule,
  filter: DriverModule | null,
  proto: DriverModule,
  trace = false,
): World {
  const w = new World({ seed: 1, verifier: 'collect', trace });
  w.addDriver(mp);
  if (filter !== null) {
    w.addDriver(filter);
    w.addFilter(filter.name);
  }
  w.addDriver(proto);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: mp.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  return w;
}

/**
 * A filter that forwards OID requests by clone (withOidForwarding) and sends requests of
 * its own from its first module: `sendOwn` sends one (NdisFOidRequest) and returns the
 * status; their completions go to `ownCompleted`, not up. `more` adds to its handlers.
 */
function ownRequestLwf(
  name: string,
  ownCompleted: (status: number, request: NDIS_OID_REQUEST) => void,
  more?: (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<LwfModule, null>) => void,
) {
  const modules: LwfModule[] = [];
  const mine = new Set<NDIS_OID_REQUEST>();
  const lwf = variantOfMonitorLwf(name, 'a filter that adds a WoL pattern of its own', (c) => {
    withOidForwarding(c);
    const attach = c.AttachHandler;
    c.AttachHandler = (h, ctx, ap) => {
      const s = attach(h, ctx, ap);
      modules.push({ handle: h } as LwfModule);
      return s;
    };
    const forwarded = c.OidRequestCompleteHandler!;
    c.OidRequestCompleteHandler = (m, request, status) => {
      if (mine.delete(request)) ownCompleted(status, request);
      else forwarded(m, request, status);
    };
    more?.(c);
  });
  const sendOwn = (request: NDIS_OID_REQUEST): number => {
    mine.add(request);
    return NdisFOidRequest(modules[0]!.handle, request);
  };
  return { lwf, sendOwn };
}

/**
 * A world of the pattern miniport, `filter` attached above it and a protocol that adds a
 * bitmap pattern at 500 ms and removes it by the PatternId it got back at 1 s.
 */
function protocolThroughFilter(filter: DriverModule) {
  const mp = wolMiniport(`wol-mp-${filter.name}`);
  const p = { handle: null as NDIS_HANDLE | null };
  const completed: { oid: number; status: number; request: NDIS_OID_REQUEST }[] = [];
  const proto = bindingProtocol('wol-proto', p, 30, {
    OidRequestCompleteHandler: (_ctx, request, status) =>
      completed.push({ oid: request.DATA.Oid, status, request }),
  });
  const w = patternWorld(mp.drv, filter, proto, true);
  const pattern = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1));
  const add = set(OID_PM_ADD_WOL_PATTERN, pattern.pattern, pattern.length);
  const returned: number[] = [];
  protocolStep(w, 500 * ns.ms, proto.name, () => returned.push(NdisOidRequest(p.handle!, add)));
  const listAfterAdd: number[] = [];
  protocolStep(w, 1 * ns.s, proto.name, () => {
    listAfterAdd.push(...w.ndis.adapters[0]!.wolPatterns.keys());
    const id = (add.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_WOL_PATTERN).PatternId;
    returned.push(NdisOidRequest(p.handle!, set(OID_PM_REMOVE_WOL_PATTERN, id, 4)));
  });
  const r = w.run(2 * ns.s);
  return { w, r, mp, add, pattern, returned, completed, listAfterAdd };
}

test("WoL patterns through oid-logging-lwf: a protocol's OID_PM_ADD_WOL_PATTERN goes down through FilterOidRequest as a clone carrying the PatternId NDIS set before it went down; the completion comes back up and the protocol removes the pattern by that ID (OID_PM_ADD_WOL_PATTERN page, Adding and Deleting Wake on LAN Patterns, NdisAllocateCloneOidRequest)", () => {
  const t = protocolThroughFilter(oidLoggingLwf);
  assert.deepEqual(t.r.violations, []);
  assert.deepEqual(t.returned, [NDIS_STATUS_PENDING, NDIS_STATUS_PENDING]);
  assert.deepEqual(
    t.mp.seen.map((s) => [s.oid, s.id]),
    [
      ['add', 1],
      ['remove', 1],
    ],
  );
  // The miniport got the module's clone, not the protocol's request; its buffer is the protocol's.
  assert.notEqual(t.mp.seen[0]!.request, t.add);
  assert.equal(t.mp.seen[0]!.request.DATA.SET_INFORMATION.InformationBuffer, t.pattern.pattern);
  // The completions reached the protocol: the add with its PatternId, then the remove.
  assert.deepEqual(
    t.completed.map((c) => [c.oid, c.status]),
    [
      [OID_PM_ADD_WOL_PATTERN, NDIS_STATUS_SUCCESS],
      [OID_PM_REMOVE_WOL_PATTERN, NDIS_STATUS_SUCCESS],
    ],
  );
  assert.equal(t.completed[0]!.request, t.add);
  assert.equal(t.pattern.pattern.PatternId, 1);
  // NDIS kept the pattern for the binding, then dropped it on the remove.
  assert.deepEqual(t.listAfterAdd, [1]);
  assert.equal(t.w.ndis.adapters[0]!.wolPatterns.size, 0);
  // One ID, given once, at the top: the module's forwarding does not get a second.
  const assigned = t.w.trace.events.filter((e) => e.what === 'WoL pattern ID assigned');
  assert.equal(assigned.length, 1);
  // The module saw both requests on their way down.
  const atFilter = t.w.trace.events.filter(
    (e) => e.what === 'FilterOidRequest' && /WOL_PATTERN/.test(JSON.stringify(e.data ?? {})),
  );
  assert.equal(atFilter.length, 2, 'FilterOidRequest of the add and of the remove');
});

test("WoL patterns through monitor-lwf (no FilterOidRequest): NDIS passes the protocol's pattern requests by the module to the miniport; the same PatternId, the same completions (FilterOidRequest page: a filter without it is bypassed)", () => {
  const t = protocolThroughFilter(monitorLwf);
  assert.deepEqual(t.r.violations, []);
  assert.deepEqual(
    t.mp.seen.map((s) => [s.oid, s.id]),
    [
      ['add', 1],
      ['remove', 1],
    ],
  );
  // No module in the way: the miniport got the protocol's own request.
  assert.equal(t.mp.seen[0]!.request, t.add);
  assert.deepEqual(
    t.completed.map((c) => [c.oid, c.status]),
    [
      [OID_PM_ADD_WOL_PATTERN, NDIS_STATUS_SUCCESS],
      [OID_PM_REMOVE_WOL_PATTERN, NDIS_STATUS_SUCCESS],
    ],
  );
  assert.deepEqual(t.listAfterAdd, [1]);
  assert.equal(t.w.ndis.adapters[0]!.wolPatterns.size, 0);
});

test("WoL patterns: a filter module's own OID_PM_ADD_WOL_PATTERN (NdisFOidRequest) gets its PatternId from NDIS like a protocol's; NDIS keeps the pattern as the module's, and a protocol's next pattern gets the next ID (Adding and Deleting Wake on LAN Patterns: 'NDIS assigns an identifier ... to every WOL pattern')", () => {
  const own: { status: number; request: NDIS_OID_REQUEST }[] = [];
  const { lwf, sendOwn } = ownRequestLwf('wol-lwf', (status, request) => own.push({ status, request }));
  const mp = wolMiniport('wol-mp-own');
  const p = { handle: null as NDIS_HANDLE | null };
  const proto = bindingProtocol('wol-proto', p, 30);
  const w = patternWorld(mp.drv, lwf, proto);
  const filterPattern = bitmapWolPattern(Uint8Array.of(0x03), Uint8Array.of(2, 0x50));
  const protoPattern = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1));
  const returned: number[] = [];
  protocolStep(w, 500 * ns.ms, lwf.name, () =>
    returned.push(sendOwn(set(OID_PM_ADD_WOL_PATTERN, filterPattern.pattern, filterPattern.length))),
  );
  protocolStep(w, 700 * ns.ms, proto.name, () =>
    returned.push(
      NdisOidRequest(p.handle!, set(OID_PM_ADD_WOL_PATTERN, protoPattern.pattern, protoPattern.length)),
    ),
  );
  const r = w.run(1 * ns.s);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(returned, [NDIS_STATUS_PENDING, NDIS_STATUS_PENDING]);
  assert.deepEqual(
    own.map((o) => o.status),
    [NDIS_STATUS_SUCCESS],
    "the module's own request completes to its FilterOidRequestComplete",
  );
  assert.equal(filterPattern.pattern.PatternId, 1);
  assert.equal(protoPattern.pattern.PatternId, 2);
  assert.deepEqual(
    mp.seen.map((s) => [s.oid, s.id]),
    [
      ['add', 1],
      ['add', 2],
    ],
  );
  const list = w.ndis.adapters[0]!.wolPatterns;
  const owner1 = list.get(1)?.owner;
  const owner2 = list.get(2)?.owner;
  assert.ok(owner1 != null && 'gone' in owner1, "pattern 1 is the filter module's");
  assert.ok(owner2 != null && !('gone' in owner2), "pattern 2 is the protocol binding's");
});

/**
 * The pattern miniport and a protocol (no filter) that adds a bitmap pattern at 500 ms,
 * removes it at 1 s when `removes`, and is stopped (unbound, its binding closed) at 2 s.
 */
function protocolStopped(removes: boolean, removeStatus: number = NDIS_STATUS_SUCCESS) {
  const mp = wolMiniport('wol-mp-close', removeStatus);
  const p = { handle: null as NDIS_HANDLE | null, unloadable: true };
  const proto = bindingProtocol('wol-proto', p, 30);
  const w = patternWorld(mp.drv, null, proto, true);
  const pattern = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1));
  protocolStep(w, 500 * ns.ms, proto.name, () =>
    NdisOidRequest(p.handle!, set(OID_PM_ADD_WOL_PATTERN, pattern.pattern, pattern.length)),
  );
  if (removes)
    protocolStep(w, 1 * ns.s, proto.name, () =>
      NdisOidRequest(p.handle!, set(OID_PM_REMOVE_WOL_PATTERN, pattern.pattern.PatternId, 4)),
    );
  w.at(2 * ns.s, { kind: 'stop-protocol', driver: proto.name });
  const r = w.run(3 * ns.s);
  return { w, r, mp };
}

test('NdisSim_ProtocolWolPatterns: a protocol that closes its binding (NdisCloseAdapterEx, from its unbind) with a WoL pattern it added still on the adapter breaks the rule; NDIS sends no OID_PM_REMOVE_WOL_PATTERN for it and keeps the pattern in its list (Adding and Deleting Wake on LAN Patterns: protocols must remove their patterns before they close a binding)', () => {
  const t = protocolStopped(false);
  assert.deepEqual(
    t.r.violations.map((v) => v.rule),
    ['NdisSim_ProtocolWolPatterns'],
  );
  const v = t.r.violations[0]!;
  assert.equal(v.ddi, 'NdisCloseAdapterEx');
  assert.match(v.message, /PatternId 1\b/);
  // NDIS does not remove a binding's patterns itself: the miniport saw only the add.
  assert.deepEqual(
    t.mp.seen.map((s) => s.oid),
    ['add'],
  );
  assert.deepEqual([...t.w.ndis.adapters[0]!.wolPatterns.keys()], [1]);
});

test('NdisSim_ProtocolWolPatterns: a protocol that removed its pattern (OID_PM_REMOVE_WOL_PATTERN) before it is unbound breaks nothing; one whose removal the miniport failed (NDIS_STATUS_NOT_ACCEPTED) did its part too, and the pattern stays in the list (Adding and Deleting Wake on LAN Patterns, OID_PM_REMOVE_WOL_PATTERN page)', () => {
  const ok = protocolStopped(true);
  assert.deepEqual(ok.r.violations, []);
  assert.deepEqual(
    ok.mp.seen.map((s) => [s.oid, s.id]),
    [
      ['add', 1],
      ['remove', 1],
    ],
  );
  assert.equal(ok.w.ndis.adapters[0]!.wolPatterns.size, 0);
  const failed = protocolStopped(true, NDIS_STATUS_NOT_ACCEPTED);
  assert.deepEqual(failed.r.violations, []);
  assert.deepEqual([...failed.w.ndis.adapters[0]!.wolPatterns.keys()], [1]);
});

test("WoL pattern priorities through a filter module (Adding and Deleting Wake on LAN Patterns: NDIS 'notifies the overlying driver that set the deleted pattern'): a module's own lowest-priority pattern makes room for a protocol's highest-priority one; NDIS removes it below the module, tells the module alone through FilterStatus (StatusBuffer its PatternId, a ULONG), never the protocol, and the protocol's request, passed down once by the module, completes once with SUCCESS", () => {
  const filterHeard: [unknown, number][] = [];
  const protoHeard: number[] = [];
  const { lwf, sendOwn } = ownRequestLwf(
    'wol-evict-lwf',
    () => {},
    (c) => {
      // It keeps the rejection of its own pattern to itself and passes the rest up.
      const status = c.StatusHandler!;
      c.StatusHandler = (m, ind) => {
        if (ind.StatusCode === NDIS_STATUS_PM_WOL_PATTERN_REJECTED)
          filterHeard.push([ind.StatusBuffer, ind.StatusBufferSize]);
        else status(m, ind);
      };
    },
  );
  const mp = wolMiniport('wol-mp-evict', NDIS_STATUS_SUCCESS, 1);
  const p = { handle: null as NDIS_HANDLE | null };
  const completed: number[] = [];
  const proto = bindingProtocol('wol-proto', p, 30, {
    OidRequestCompleteHandler: (_ctx, _request, status) => completed.push(status),
    StatusHandlerEx: (_ctx, ind) => {
      if (ind.StatusCode === NDIS_STATUS_PM_WOL_PATTERN_REJECTED) protoHeard.push(ind.StatusCode);
    },
  });
  const w = patternWorld(mp.drv, lwf, proto);
  const low = magicPacketWolPattern(NDIS_PM_WOL_PRIORITY_LOWEST);
  const high = bitmapWolPattern(
    Uint8Array.of(0x3f),
    Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1),
    NDIS_PM_WOL_PRIORITY_HIGHEST,
  );
  protocolStep(w, 500 * ns.ms, lwf.name, () => sendOwn(set(OID_PM_ADD_WOL_PATTERN, low.pattern, low.length)));
  protocolStep(w, 700 * ns.ms, proto.name, () =>
    NdisOidRequest(p.handle!, set(OID_PM_ADD_WOL_PATTERN, high.pattern, high.length)),
  );
  const r = w.run(1 * ns.s);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(
    mp.seen.map((x) => [x.oid, x.id]),
    [
      ['add', 1],
      ['add', 2],
      ['remove', 1],
      ['add', 2],
    ],
  );
  assert.deepEqual(filterHeard, [[1, 4]]);
  assert.deepEqual(protoHeard, [], 'NDIS indicated it to the module, not to the bindings above it');
  assert.deepEqual(completed, [NDIS_STATUS_SUCCESS]);
  assert.deepEqual([...w.ndis.adapters[0]!.wolPatterns.keys()], [2]);
});
