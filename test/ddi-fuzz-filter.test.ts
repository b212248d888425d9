// The DDI fuzz of test/ddi-fuzz.test.ts for a filter driver: random programs of the
// NdisF* data path (passing on, holding, completing and returning the NBLs it gets,
// sending and indicating NBLs of its own, clones, context space), pause and restart
// completion (pended or not), NdisFRestartFilter, status indications, send cancels,
// timers and work items of the module handle, run from random filter callbacks of a
// module over healthy-nic, with traffic both ways, while the stack may be removed,
// surprise-removed or the filter stopped and started again. The run must end as the
// model says a misbehaving filter ends, never as a crash of ndis-sim itself.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { linkStateIndication } from '../src/drivers/common.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { type LwfModule, variantOfMonitorLwf, withOidForwarding } from '../src/drivers/lwf.ts';
import {
  NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateCloneNetBufferList,
  NdisAllocateIoWorkItem,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListContext,
  NdisAllocateNetBufferListPool,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisFCancelSendNetBufferLists,
  NdisFIndicateReceiveNetBufferLists,
  NdisFIndicateStatus,
  NdisFPauseComplete,
  NdisFRestartComplete,
  NdisFRestartFilter,
  NdisFReturnNetBufferLists,
  NdisFreeCloneNetBufferList,
  NdisFreeIoWorkItem,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListContext,
  NdisFreeNetBufferListPool,
  NdisFreeTimerObject,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisQueueIoWorkItem,
  NdisSetTimerObject,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  World,
} from '../src/index.ts';
import { formatSummary } from '../src/report/summary.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { ns } from './helpers/world.ts';

type Op =
  | { k: 'sendOwn' | 'indicateOwn' | 'freeOwn' | 'allocOwn'; i: number }
  | { k: 'freePool' }
  | { k: 'completeHeld' | 'passHeldSends' | 'returnHeld' | 'passHeldRecvs' }
  | { k: 'cloneUp'; i: number }
  | { k: 'context' | 'freeContext'; i: number; held: boolean }
  | { k: 'pauseComplete' | 'restartComplete' | 'restartFilter' | 'status' | 'cancelSends' }
  | { k: 'timer' | 'workItem' | 'freeTimers' | 'freeItems' };

const index = fc.nat(4);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constantFrom('sendOwn' as const, 'indicateOwn' as const, 'freeOwn' as const, 'allocOwn' as const),
    i: index,
  }),
  fc.constant({ k: 'freePool' as const }),
  fc.constantFrom(
    { k: 'completeHeld' as const },
    { k: 'passHeldSends' as const },
    { k: 'returnHeld' as const },
    { k: 'passHeldRecvs' as const },
  ),
  fc.record({ k: fc.constant('cloneUp' as const), i: index }),
  fc.record({ k: fc.constantFrom('context' as const, 'freeContext' as const), i: index, held: fc.boolean() }),
  fc.constantFrom(
    { k: 'pauseComplete' as const },
    { k: 'restartComplete' as const },
    { k: 'restartFilter' as const },
    { k: 'status' as const },
    { k: 'cancelSends' as const },
  ),
  fc.constantFrom(
    { k: 'timer' as const },
    { k: 'workItem' as const },
    { k: 'freeTimers' as const },
    { k: 'freeItems' as const },
  ),
);

const sites = ['restart', 'pause', 'send', 'sendComplete', 'receive', 'returned', 'detach'] as const;
type Site = (typeof sites)[number];

interface Case {
  program: Record<Site, Op[]>;
  /** What the module does with what it gets: pass it on, hold it (for a later op), or give it back at once. */
  sends: 'pass' | 'hold' | 'complete';
  receives: 'pass' | 'hold' | 'return';
  pendPause: boolean;
  pendRestart: boolean;
  ending: 'none' | 'remove' | 'surprise-remove' | 'stop-filter' | 'restart-filter';
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  program: fc.record(
    Object.fromEntries(sites.map((s) => [s, fc.array(opArb, { maxLength: 6 })])) as Record<
      Site,
      fc.Arbitrary<Op[]>
    >,
  ),
  sends: fc.constantFrom('pass' as const, 'hold' as const, 'complete' as const),
  receives: fc.constantFrom('pass' as const, 'hold' as const, 'return' as const),
  pendPause: fc.boolean(),
  pendRestart: fc.boolean(),
  ending: fc.constantFrom(
    'none' as const,
    'remove' as const,
    'surprise-remove' as const,
    'stop-filter' as const,
    'restart-filter' as const,
  ),
  seed: fc.integer({ min: 1, max: 1000 }),
});

interface Bag {
  pool: NDIS_HANDLE | null;
  own: NET_BUFFER_LIST[];
  heldSends: NET_BUFFER_LIST[];
  heldRecvs: NET_BUFFER_LIST[];
  timers: NDIS_HANDLE[];
  items: NDIS_HANDLE[];
}

const bags = new WeakMap<LwfModule, Bag>();
function bagOf(m: LwfModule): Bag {
  let b = bags.get(m);
  if (b === undefined) {
    b = { pool: null, own: [], heldSends: [], heldRecvs: [], timers: [], items: [] };
    bags.set(m, b);
  }
  return b;
}

const pick = <T>(xs: readonly T[], i: number): T | undefined =>
  xs.length === 0 ? undefined : xs[i % xs.length];

function chain(xs: NET_BUFFER_LIST[]): NET_BUFFER_LIST | null {
  for (let i = 0; i < xs.length; i++) xs[i]!.Next = xs[i + 1] ?? null;
  return xs[0] ?? null;
}

function ownNbl(m: LwfModule, b: Bag): NET_BUFFER_LIST | null {
  b.pool ??= NdisAllocateNetBufferListPool(m.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: true,
    ContextSize: 0,
    PoolTag: 0x7a7a7566,
    DataSize: 0,
  });
  if (b.pool === null) return null;
  const x = NdisAllocateNetBufferAndNetBufferList(b.pool, 0, 0, new Uint8Array(128), 0, 64);
  if (x === null) return null;
  x.SourceHandle = m.handle;
  b.own.push(x);
  return x;
}

function runOps(m: LwfModule, ops: readonly Op[]): void {
  const b = bagOf(m);
  for (const op of ops) {
    switch (op.k) {
      case 'allocOwn':
        ownNbl(m, b);
        break;
      case 'sendOwn':
      case 'indicateOwn':
      case 'freeOwn': {
        const x = pick(b.own, op.i) ?? ownNbl(m, b);
        if (x === null || x === undefined) break;
        x.Next = null;
        if (op.k === 'sendOwn') NdisFSendNetBufferLists(m.handle, x, 0, 0);
        else if (op.k === 'indicateOwn') NdisFIndicateReceiveNetBufferLists(m.handle, x, 0, 1, 0);
        else {
          NdisFreeNetBufferList(x);
          b.own.splice(b.own.indexOf(x), 1);
        }
        break;
      }
      case 'freePool':
        if (b.pool !== null) NdisFreeNetBufferListPool(b.pool);
        b.pool = null;
        break;
      case 'completeHeld': {
        const c = chain(b.heldSends.splice(0));
        if (c !== null) NdisFSendNetBufferListsComplete(m.handle, c, 0);
        break;
      }
      case 'passHeldSends': {
        const c = chain(b.heldSends.splice(0));
        if (c !== null) NdisFSendNetBufferLists(m.handle, c, 0, 0);
        break;
      }
      case 'returnHeld': {
        const c = chain(b.heldRecvs.splice(0));
        if (c !== null) NdisFReturnNetBufferLists(m.handle, c, 0);
        break;
      }
      case 'passHeldRecvs': {
        const xs = b.heldRecvs.splice(0);
        const c = chain(xs);
        if (c !== null) NdisFIndicateReceiveNetBufferLists(m.handle, c, 0, xs.length, 0);
        break;
      }
      case 'cloneUp': {
        const x = pick(b.heldRecvs, op.i);
        if (x === undefined) break;
        const clone = NdisAllocateCloneNetBufferList(x, null, null, NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS);
        if (clone === null) break;
        clone.ParentNetBufferList = x;
        clone.SourceHandle = m.handle;
        NdisFIndicateReceiveNetBufferLists(m.handle, clone, 0, 1, 0);
        break;
      }
      case 'context':
      case 'freeContext': {
        const x = pick(op.held ? [...b.heldSends, ...b.heldRecvs] : b.own, op.i);
        if (x === undefined) break;
        if (op.k === 'context') NdisAllocateNetBufferListContext(x, 8, 8, 0);
        else NdisFreeNetBufferListContext(x, 8);
        break;
      }
      case 'pauseComplete':
        NdisFPauseComplete(m.handle);
        break;
      case 'restartComplete':
        NdisFRestartComplete(m.handle, NDIS_STATUS_SUCCESS);
        break;
      case 'restartFilter':
        NdisFRestartFilter(m.handle);
        break;
      case 'status':
        NdisFIndicateStatus(m.handle, linkStateIndication(m.handle, false, 0));
        break;
      case 'cancelSends':
        NdisFCancelSendNetBufferLists(m.handle, 1);
        break;
      case 'timer': {
        const t = NdisAllocateTimerObject(m.handle, {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
          AllocationTag: 0x7a7a7566,
          TimerFunction: () => runOps(m, [{ k: 'completeHeld' }, { k: 'returnHeld' }]),
          FunctionContext: null,
        });
        if (t.TimerObject === null) break;
        b.timers.push(t.TimerObject);
        NdisSetTimerObject(t.TimerObject, -10 * 10_000, 0, null);
        break;
      }
      case 'workItem': {
        const w = NdisAllocateIoWorkItem(m.handle);
        if (w === null) break;
        b.items.push(w);
        NdisQueueIoWorkItem(w, () => runOps(m, [{ k: 'restartFilter' }]), null);
        break;
      }
      case 'freeTimers':
        for (const t of b.timers.splice(0)) {
          NdisCancelTimerObject(t);
          NdisFreeTimerObject(t);
        }
        break;
      case 'freeItems':
        for (const w of b.items.splice(0)) NdisFreeIoWorkItem(w);
        break;
    }
  }
}

function fuzzedLwf(c: Case) {
  const p = c.program;
  return variantOfMonitorLwf('fuzzed-lwf', 'runs a random program', (chars) => {
    withOidForwarding(chars);
    chars.RestartHandler = (m) => {
      m.running = true;
      runOps(m, p.restart);
      return c.pendRestart ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS;
    };
    chars.PauseHandler = (m) => {
      m.running = false;
      runOps(m, p.pause);
      return c.pendPause ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS;
    };
    chars.DetachHandler = (m) => runOps(m, p.detach);
    chars.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      runOps(m, p.send);
      if (c.sends === 'pass') NdisFSendNetBufferLists(m.handle, nbls, port, flags);
      else if (c.sends === 'complete') NdisFSendNetBufferListsComplete(m.handle, nbls, 0);
      else for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) bagOf(m).heldSends.push(x);
    };
    chars.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
      runOps(m, p.sendComplete);
      const up: NET_BUFFER_LIST[] = [];
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
        if (!bagOf(m).own.includes(x)) up.push(x);
      const head = chain(up);
      if (head !== null) NdisFSendNetBufferListsComplete(m.handle, head, flags);
    };
    chars.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      runOps(m, p.receive);
      if (c.receives === 'pass') NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      else if (c.receives === 'return' || (flags & NDIS_RECEIVE_FLAGS_RESOURCES) !== 0)
        NdisFReturnNetBufferLists(m.handle, nbls, 0);
      else for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) bagOf(m).heldRecvs.push(x);
    };
    chars.ReturnNetBufferListsHandler = (m, nbls, flags) => {
      runOps(m, p.returned);
      const down: NET_BUFFER_LIST[] = [];
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
        if (x.ParentNetBufferList !== null) NdisFreeCloneNetBufferList(x, NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS);
        else if (!bagOf(m).own.includes(x)) down.push(x);
      }
      const head = chain(down);
      if (head !== null) NdisFReturnNetBufferLists(m.handle, head, flags);
    };
  });
}

function runCase(c: Case): void {
  const w = new World({ seed: c.seed, verifier: 'collect', traceMax: 100_000 });
  const lwf = fuzzedLwf(c);
  w.addDriver(healthyNic);
  w.addDriver(lwf);
  w.addFilter(lwf.name);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 100, returnDelayNs: ns.ms } });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 100, rxFrameBytes: 100 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  const at = 700 * ns.ms;
  if (c.ending === 'remove' || c.ending === 'surprise-remove') w.at(at, { kind: c.ending, device: 'nic0' });
  else if (c.ending === 'stop-filter') w.at(at, { kind: 'stop-filter', driver: lwf.name });
  else if (c.ending === 'restart-filter') {
    w.at(at, { kind: 'stop-filter', driver: lwf.name });
    w.at(at + 200 * ns.ms, { kind: 'start-filter', driver: lwf.name });
  }
  const r = w.run(1500 * ns.ms);
  const own = r.violations.find((v) => v.rule === 'NdisSim_DriverException');
  assert.equal(own, undefined, `ndis-sim's own code threw inside a DDI: ${own?.message}`);
  formatTimeline(w.trace.events, { color: false });
  formatSummary(w.summary(), r, { color: false, seed: c.seed, expectation: null });
}

test('DDI fuzz, filter: random programs of NdisF* data-path, pause/restart, status, clone and context calls never crash ndis-sim', () => {
  fc.assert(
    fc.property(caseArb, (c) => runCase(c)),
    { numRuns: 60, seed: 27 },
  );
});
