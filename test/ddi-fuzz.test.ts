// A robustness hunt over the DDIs a miniport calls most: random programs of timer,
// spin lock, work item, event, memory, NBL pool, NBL context, data-start, status,
// error-log, receive-indication, completion (pause, restart, reset, sends, OIDs),
// interrupt, I/O space, shared memory, resumable work item and NdisMRemoveMiniport calls, run from random callbacks (initialize, restart, pause,
// send, check-for-hang, reset, OID request, return, halt), on handles the driver made
// earlier, freed or not, with the driver pending what NDIS asks or not. Whatever the program does wrong, the run must end as the model says a
// misbehaving driver ends (rules reported, a bug check, a not-modelled stop) and never
// as a crash of ndis-sim itself: no InternalError or other exception out of World.run,
// no NdisSim_DriverException (the programs never throw, so one means ndis-sim's own
// code threw inside a DDI), and the timeline and summary format. fast-check shrinks a
// failure to its shortest program.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Hooks, scriptedDriver, type TestAdapter } from '../src/drivers/buggy/base.ts';
import { linkStateIndication } from '../src/drivers/common.ts';
import {
  NDIS_EVENT,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  type NDIS_OID_REQUEST,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireSpinLock,
  NdisAdvanceNetBufferListDataStart,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListContext,
  NdisAllocateNetBufferListPool,
  NdisAllocateSpinLock,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeIoWorkItem,
  NdisFreeMemory,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListContext,
  NdisFreeNetBufferListPool,
  NdisFreeSpinLock,
  NdisFreeTimerObject,
  NdisInitializeEvent,
  NdisMAllocateSharedMemory,
  NdisMDeregisterInterruptEx,
  NdisMFreeSharedMemory,
  NdisMIndicateReceiveNetBufferLists,
  NdisMIndicateStatusEx,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMRemoveMiniport,
  NdisMResetComplete,
  NdisMRestartComplete,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  NdisMUnmapIoSpace,
  NdisQueueIoWorkItem,
  NdisReleaseSpinLock,
  NdisResetEvent,
  NdisRetreatNetBufferListDataStart,
  NdisSetEvent,
  NdisSetTimerObject,
  NdisStallExecution,
  NdisWaitEvent,
  NdisWriteErrorLogEntry,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_CONTEXT_DATA_START,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NormalPoolPriority,
  OID_GEN_STATISTICS,
  type ResumableRoutine,
  World,
} from '../src/index.ts';
import { formatSummary } from '../src/report/summary.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { ns } from './helpers/world.ts';

type Op =
  | { k: 'timer' }
  | { k: 'setTimer'; i: number; ms: number; periodic: boolean }
  | { k: 'cancelTimer' | 'freeTimer'; i: number }
  | { k: 'lock' }
  | { k: 'acquire' | 'release' | 'dprAcquire' | 'dprRelease' | 'freeLock'; i: number }
  | { k: 'workItem' }
  | { k: 'queueWorkItem' | 'freeWorkItem'; i: number }
  | { k: 'event' }
  | { k: 'setEvent' | 'resetEvent'; i: number }
  | { k: 'waitEvent'; i: number; ms: number }
  | { k: 'sleep'; us: number }
  | { k: 'stall'; us: number }
  | { k: 'memory'; bytes: number }
  | { k: 'freeMemory'; i: number }
  | { k: 'pool'; context: number }
  | { k: 'freePool'; i: number }
  | { k: 'nbl'; i: number; context: number }
  | { k: 'freeNbl'; i: number }
  | { k: 'allocContext' | 'freeContext'; i: number; bytes: number }
  | { k: 'readContext'; i: number }
  | { k: 'retreat' | 'advance'; i: number; bytes: number }
  | { k: 'remove' | 'linkDown' | 'errorLog' }
  | { k: 'indicate'; i: number; resources: boolean }
  | { k: 'pauseComplete' | 'restartComplete' | 'resetComplete' | 'completeSends' | 'completeOids' }
  | { k: 'deregisterInterrupt' | 'unmapIoSpace' }
  | { k: 'sharedMemory'; bytes: number }
  | { k: 'freeSharedMemory'; i: number }
  | { k: 'resumable'; sleeps: number; after: 'none' | 'remove' | 'free' };

const index = fc.nat(5);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ k: 'timer' as const }),
  fc.record({ k: fc.constant('setTimer' as const), i: index, ms: fc.nat(300), periodic: fc.boolean() }),
  fc.record({ k: fc.constantFrom('cancelTimer' as const, 'freeTimer' as const), i: index }),
  fc.constant({ k: 'lock' as const }),
  fc.record({
    k: fc.constantFrom(
      'acquire' as const,
      'release' as const,
      'dprAcquire' as const,
      'dprRelease' as const,
      'freeLock' as const,
    ),
    i: index,
  }),
  fc.constant({ k: 'workItem' as const }),
  fc.record({ k: fc.constantFrom('queueWorkItem' as const, 'freeWorkItem' as const), i: index }),
  fc.constant({ k: 'event' as const }),
  fc.record({ k: fc.constantFrom('setEvent' as const, 'resetEvent' as const), i: index }),
  fc.record({ k: fc.constant('waitEvent' as const), i: index, ms: fc.nat(50) }),
  fc.record({ k: fc.constant('sleep' as const), us: fc.nat(20_000) }),
  fc.record({ k: fc.constant('stall' as const), us: fc.nat(100) }),
  fc.record({ k: fc.constant('memory' as const), bytes: fc.integer({ min: 1, max: 4096 }) }),
  fc.record({ k: fc.constant('freeMemory' as const), i: index }),
  fc.record({ k: fc.constant('pool' as const), context: fc.constantFrom(0, 16, 32) }),
  fc.record({ k: fc.constant('freePool' as const), i: index }),
  fc.record({ k: fc.constant('nbl' as const), i: index, context: fc.constantFrom(0, 16) }),
  fc.record({ k: fc.constant('freeNbl' as const), i: index }),
  fc.record({
    k: fc.constantFrom('allocContext' as const, 'freeContext' as const),
    i: index,
    bytes: fc.constantFrom(8, 16, 24),
  }),
  fc.record({ k: fc.constant('readContext' as const), i: index }),
  fc.record({
    k: fc.constantFrom('retreat' as const, 'advance' as const),
    i: index,
    bytes: fc.constantFrom(4, 14, 80),
  }),
  fc.constantFrom({ k: 'remove' as const }, { k: 'linkDown' as const }, { k: 'errorLog' as const }),
  fc.record({ k: fc.constant('indicate' as const), i: index, resources: fc.boolean() }),
  fc.constantFrom(
    { k: 'pauseComplete' as const },
    { k: 'restartComplete' as const },
    { k: 'resetComplete' as const },
    { k: 'completeSends' as const },
    { k: 'completeOids' as const },
  ),
  fc.constantFrom({ k: 'deregisterInterrupt' as const }, { k: 'unmapIoSpace' as const }),
  fc.record({ k: fc.constant('sharedMemory' as const), bytes: fc.integer({ min: 1, max: 8192 }) }),
  fc.record({ k: fc.constant('freeSharedMemory' as const), i: index }),
  fc.record({
    k: fc.constant('resumable' as const),
    sleeps: fc.nat(4),
    after: fc.constantFrom('none' as const, 'remove' as const, 'free' as const),
  }),
);

const sites = [
  'initialize',
  'restart',
  'pause',
  'send',
  'checkForHang',
  'halt',
  'oid',
  'reset',
  'returned',
] as const;
type Site = (typeof sites)[number];
type Program = Record<Site, Op[]>;

/** How the driver answers NDIS: which of its requests it pends (completing them in a later op, or never). */
interface Style {
  pendPause: boolean;
  pendRestart: boolean;
  pendReset: boolean;
  holdSends: boolean;
  pendOids: boolean;
  hang: boolean;
}

interface Case {
  program: Program;
  style: Style;
  ending: 'none' | 'remove' | 'surprise-remove';
  /** Send NDIS OID requests at these times (ms). */
  oidsAtMs: number[];
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  program: fc.record(
    Object.fromEntries(sites.map((s) => [s, fc.array(opArb, { maxLength: 8 })])) as Record<
      Site,
      fc.Arbitrary<Op[]>
    >,
  ),
  style: fc.record({
    pendPause: fc.boolean(),
    pendRestart: fc.boolean(),
    pendReset: fc.boolean(),
    holdSends: fc.boolean(),
    pendOids: fc.boolean(),
    hang: fc.boolean(),
  }),
  ending: fc.constantFrom('none' as const, 'remove' as const, 'surprise-remove' as const),
  oidsAtMs: fc.array(fc.integer({ min: 1, max: 2500 }), { maxLength: 3 }),
  seed: fc.integer({ min: 1, max: 1000 }),
});

/** What a program made, per adapter: the handles its later ops pick from (by index, wrapping). */
interface Bag {
  timers: NDIS_HANDLE[];
  locks: NDIS_SPIN_LOCK[];
  items: NDIS_HANDLE[];
  events: NDIS_EVENT[];
  memory: Uint8Array[];
  pools: NDIS_HANDLE[];
  nbls: NET_BUFFER_LIST[];
  /** Sends the driver holds (holdSends) and OID requests it pended (pendOids). */
  sends: NET_BUFFER_LIST[];
  oids: NDIS_OID_REQUEST[];
  shared: { va: Uint8Array; pa: number; length: number }[];
}

const pick = <T>(xs: readonly T[], i: number): T | undefined =>
  xs.length === 0 ? undefined : xs[i % xs.length];

function bagOf(a: TestAdapter): Bag {
  a.state.bag ??= {
    timers: [],
    locks: [],
    items: [],
    events: [],
    memory: [],
    pools: [],
    nbls: [],
    sends: [],
    oids: [],
    shared: [],
  };
  return a.state.bag as Bag;
}

function newTimer(a: TestAdapter, bag: Bag): void {
  const t = NdisAllocateTimerObject(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
    AllocationTag: 0x7a7a7566,
    TimerFunction: () => {},
    FunctionContext: null,
  });
  if (t.TimerObject !== null) bag.timers.push(t.TimerObject);
}

function newLock(bag: Bag): void {
  const l = new NDIS_SPIN_LOCK();
  NdisAllocateSpinLock(l);
  bag.locks.push(l);
}

function newEvent(bag: Bag): void {
  const e = new NDIS_EVENT();
  NdisInitializeEvent(e);
  bag.events.push(e);
}

function newPool(a: TestAdapter, bag: Bag, context: number): void {
  const p = NdisAllocateNetBufferListPool(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: true,
    ContextSize: context,
    PoolTag: 0x7a7a7566,
    DataSize: 0,
  });
  if (p !== null) bag.pools.push(p);
}

function newNbl(a: TestAdapter, bag: Bag, i: number, context: number): void {
  if (bag.pools.length === 0) newPool(a, bag, 16);
  const p = pick(bag.pools, i);
  if (p === undefined) return;
  const nbl = NdisAllocateNetBufferAndNetBufferList(p, context, 0, new Uint8Array(64), 16, 48);
  if (nbl === null) return;
  nbl.SourceHandle = a.handle;
  bag.nbls.push(nbl);
}

/**
 * Runs `ops`. An op on a kind of object the bag has none of makes one first, so that
 * short programs reach the use of what they make, not only its making.
 */
function runOps(a: TestAdapter, ops: readonly Op[]): void {
  const bag = bagOf(a);
  for (const op of ops) {
    if ((op.k === 'setTimer' || op.k === 'cancelTimer' || op.k === 'freeTimer') && bag.timers.length === 0)
      newTimer(a, bag);
    if (
      (op.k === 'acquire' ||
        op.k === 'release' ||
        op.k === 'dprAcquire' ||
        op.k === 'dprRelease' ||
        op.k === 'freeLock') &&
      bag.locks.length === 0
    )
      newLock(bag);
    if ((op.k === 'setEvent' || op.k === 'resetEvent' || op.k === 'waitEvent') && bag.events.length === 0)
      newEvent(bag);
    if (
      (op.k === 'freeNbl' ||
        op.k === 'allocContext' ||
        op.k === 'freeContext' ||
        op.k === 'readContext' ||
        op.k === 'retreat' ||
        op.k === 'advance' ||
        op.k === 'indicate') &&
      bag.nbls.length === 0
    )
      newNbl(a, bag, 0, 0);
    switch (op.k) {
      case 'timer':
        newTimer(a, bag);
        break;
      case 'setTimer': {
        const t = pick(bag.timers, op.i);
        if (t !== undefined) NdisSetTimerObject(t, -op.ms * 10_000, op.periodic ? op.ms + 1 : 0, null);
        break;
      }
      case 'cancelTimer':
      case 'freeTimer': {
        const t = pick(bag.timers, op.i);
        if (t !== undefined) (op.k === 'cancelTimer' ? NdisCancelTimerObject : NdisFreeTimerObject)(t);
        break;
      }
      case 'lock':
        newLock(bag);
        break;
      case 'acquire':
      case 'release':
      case 'dprAcquire':
      case 'dprRelease':
      case 'freeLock': {
        const l = pick(bag.locks, op.i);
        if (l === undefined) break;
        const f = {
          acquire: NdisAcquireSpinLock,
          release: NdisReleaseSpinLock,
          dprAcquire: NdisDprAcquireSpinLock,
          dprRelease: NdisDprReleaseSpinLock,
          freeLock: NdisFreeSpinLock,
        }[op.k];
        f(l);
        break;
      }
      case 'workItem': {
        const w = NdisAllocateIoWorkItem(a.handle);
        if (w !== null) bag.items.push(w);
        break;
      }
      case 'queueWorkItem':
      case 'freeWorkItem': {
        const w = pick(bag.items, op.i);
        if (w === undefined) break;
        if (op.k === 'queueWorkItem') NdisQueueIoWorkItem(w, () => {}, null);
        else NdisFreeIoWorkItem(w);
        break;
      }
      case 'event':
        newEvent(bag);
        break;
      case 'setEvent':
      case 'resetEvent': {
        const e = pick(bag.events, op.i);
        if (e !== undefined) (op.k === 'setEvent' ? NdisSetEvent : NdisResetEvent)(e);
        break;
      }
      case 'waitEvent': {
        const e = pick(bag.events, op.i);
        if (e !== undefined) NdisWaitEvent(e, op.ms);
        break;
      }
      case 'sleep':
        NdisMSleep(op.us);
        break;
      case 'stall':
        NdisStallExecution(op.us);
        break;
      case 'memory': {
        const m = NdisAllocateMemoryWithTagPriority(a.handle, op.bytes, 0x7a7a7566, NormalPoolPriority);
        if (m !== null) bag.memory.push(m);
        break;
      }
      case 'freeMemory': {
        const m = pick(bag.memory, op.i);
        if (m !== undefined) NdisFreeMemory(m, 0, 0);
        break;
      }
      case 'pool':
        newPool(a, bag, op.context);
        break;
      case 'freePool': {
        const p = pick(bag.pools, op.i);
        if (p !== undefined) NdisFreeNetBufferListPool(p);
        break;
      }
      case 'nbl':
        newNbl(a, bag, op.i, op.context);
        break;
      case 'freeNbl': {
        const x = pick(bag.nbls, op.i);
        if (x !== undefined) NdisFreeNetBufferList(x);
        break;
      }
      case 'allocContext':
      case 'freeContext': {
        const x = pick(bag.nbls, op.i);
        if (x === undefined) break;
        if (op.k === 'allocContext') NdisAllocateNetBufferListContext(x, op.bytes, 8, 0);
        else NdisFreeNetBufferListContext(x, op.bytes);
        break;
      }
      case 'readContext': {
        const x = pick(bag.nbls, op.i);
        if (x?.Context != null) NET_BUFFER_LIST_CONTEXT_DATA_START(x).fill(0x5a);
        break;
      }
      case 'retreat':
      case 'advance': {
        const x = pick(bag.nbls, op.i);
        if (x === undefined) break;
        if (op.k === 'retreat') NdisRetreatNetBufferListDataStart(x, op.bytes, 0, null, null);
        else NdisAdvanceNetBufferListDataStart(x, op.bytes, true, null);
        break;
      }
      case 'remove':
        NdisMRemoveMiniport(a.handle);
        break;
      case 'linkDown':
        NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, false, 0));
        break;
      case 'errorLog':
        NdisWriteErrorLogEntry(a.handle, 0xc0001234, 2, 1, 2);
        break;
      case 'indicate': {
        const x = pick(bag.nbls, op.i);
        if (x === undefined) break;
        x.Next = null;
        NdisMIndicateReceiveNetBufferLists(
          a.handle,
          x,
          0,
          1,
          op.resources ? NDIS_RECEIVE_FLAGS_RESOURCES : 0,
        );
        break;
      }
      case 'pauseComplete':
        NdisMPauseComplete(a.handle);
        break;
      case 'restartComplete':
        NdisMRestartComplete(a.handle, NDIS_STATUS_SUCCESS);
        break;
      case 'resetComplete':
        NdisMResetComplete(a.handle, NDIS_STATUS_SUCCESS, false);
        break;
      case 'completeSends':
        for (const x of bag.sends.splice(0)) {
          x.Status = NDIS_STATUS_SUCCESS;
          x.Next = null;
          NdisMSendNetBufferListsComplete(a.handle, x, 0);
        }
        break;
      case 'completeOids':
        for (const r of bag.oids.splice(0)) NdisMOidRequestComplete(a.handle, r, NDIS_STATUS_SUCCESS);
        break;
      case 'deregisterInterrupt':
        if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
        break;
      case 'unmapIoSpace':
        if (a.space !== null) NdisMUnmapIoSpace(a.handle, a.space, 0x100);
        break;
      case 'sharedMemory': {
        const m = NdisMAllocateSharedMemory(a.handle, op.bytes, false);
        if (m.VirtualAddress !== null)
          bag.shared.push({ va: m.VirtualAddress, pa: m.PhysicalAddress, length: op.bytes });
        break;
      }
      case 'freeSharedMemory': {
        const m = pick(bag.shared, op.i);
        if (m !== undefined) NdisMFreeSharedMemory(a.handle, m.length, false, m.va, m.pa);
        break;
      }
      case 'resumable': {
        const w = NdisAllocateIoWorkItem(a.handle);
        if (w === null) break;
        bag.items.push(w);
        const { sleeps, after } = op;
        NdisQueueIoWorkItem(
          w,
          function* (): ResumableRoutine {
            for (let i = 0; i < sleeps; i++) yield NdisMSleep(50_000);
            if (after === 'remove') NdisMRemoveMiniport(a.handle);
            else if (after === 'free') NdisFreeIoWorkItem(w);
          },
          null,
        );
        break;
      }
    }
  }
}

function hooks(c: Case): Hooks {
  const { program: p, style } = c;
  return {
    initialize: (a) => {
      runOps(a, p.initialize);
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      runOps(a, p.restart);
      return style.pendRestart ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS;
    },
    pause: (a) => {
      runOps(a, p.pause);
      return style.pendPause ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS;
    },
    send: (a, chain, _port, flags) => {
      runOps(a, p.send);
      if (style.holdSends) {
        for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) bagOf(a).sends.push(x);
        return;
      }
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) x.Status = NDIS_STATUS_SUCCESS;
      const dispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
      NdisMSendNetBufferListsComplete(
        a.handle,
        chain,
        dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
      );
    },
    checkForHang: (a) => {
      runOps(a, p.checkForHang);
      return style.hang;
    },
    reset: (a) => {
      runOps(a, p.reset);
      return { Status: style.pendReset ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS, AddressingReset: false };
    },
    oid: (a, req) => {
      runOps(a, p.oid);
      if (!style.pendOids) return NDIS_STATUS_NOT_SUPPORTED;
      bagOf(a).oids.push(req);
      return NDIS_STATUS_PENDING;
    },
    returnNbls: (a) => runOps(a, p.returned),
    halt: (a) => runOps(a, p.halt),
    registrationAttributes: { CheckForHangTimeInSeconds: 1 },
  };
}

function runProgram(c: Case): void {
  const w = new World({ seed: c.seed, verifier: 'collect', traceMax: 100_000 });
  w.addDriver(scriptedDriver('fuzzed', hooks(c)));
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 50 } });
  w.addDevice({ name: 'nic0', driver: 'fuzzed' });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const ms of c.oidsAtMs)
    w.at(ms * ns.ms, {
      kind: 'oid',
      device: 'nic0',
      oid: OID_GEN_STATISTICS,
      set: false,
      value: null,
      timeoutS: 0,
    });
  if (c.ending !== 'none') w.at(1500 * ns.ms, { kind: c.ending, device: 'nic0' });
  // An exception out of run() (InternalError above all) fails the property as it is.
  const r = w.run(3 * ns.s);
  const own = r.violations.find((v) => v.rule === 'NdisSim_DriverException');
  assert.equal(own, undefined, `ndis-sim's own code threw inside a DDI: ${own?.message}`);
  // The reports read the run: they must not crash on what it left.
  formatTimeline(w.trace.events, { color: false });
  formatSummary(w.summary(), r, { color: false, seed: c.seed, expectation: null });
}

test('DDI fuzz: random programs of common miniport DDIs, right or wrong, never crash ndis-sim (no InternalError, no exception of its own inside a DDI, the reports format)', () => {
  fc.assert(
    fc.property(caseArb, (c) => runProgram(c)),
    { numRuns: 300, seed: 27 },
  );
});
