// Session 32's follow-ups to the divergence hunt over 06-oid-datapath.md and
// 08-kernel-services.md: each test cites the rule it holds the model to.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LIST_ENTRY,
  NDIS_CURRENT_IRQL,
  NDIS_LOWER_IRQL,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_SUCCESS,
  NdisAcquireSpinLock,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateSpinLock,
  NdisDprAcquireSpinLock,
  NdisDprReleaseSpinLock,
  NdisFreeMemoryWithTagPriority,
  NdisFreeSpinLock,
  NdisInitializeListHead,
  NdisInterlockedInsertHeadList,
  NdisInterlockedInsertTailList,
  NdisInterlockedRemoveHeadList,
  NdisMSendNetBufferListsComplete,
  NdisReleaseSpinLock,
  type NET_BUFFER_LIST,
} from '../src/index.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { Trace } from '../src/trace/trace.ts';
import { World } from '../src/world.ts';
import { removedScripted, scriptedDriver } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** Two spin locks, allocated in this order (spin lock #1, #2 of the driver's messages). */
function twoLocks(): [NDIS_SPIN_LOCK, NDIS_SPIN_LOCK] {
  const a = new NDIS_SPIN_LOCK();
  const b = new NDIS_SPIN_LOCK();
  NdisAllocateSpinLock(a);
  NdisAllocateSpinLock(b);
  return [a, b];
}

test("R6.8: MiniportSendNetBufferLists runs at the sender's IRQL, never above DISPATCH, with NDIS_SEND_FLAGS_DISPATCH_LEVEL set exactly when it runs at DISPATCH, and gets every NBL the protocol sent", () => {
  for (const sendIrql of ['passive', 'dispatch'] as const) {
    const seen: { irql: number; flag: boolean }[] = [];
    let nbls = 0;
    const drv = scriptedDriver(`r68-${sendIrql}`, {
      send: (a, chain, _port, flags) => {
        seen.push({ irql: NDIS_CURRENT_IRQL(), flag: (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0 });
        for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
          x.Status = NDIS_STATUS_SUCCESS;
          nbls++;
        }
        NdisMSendNetBufferListsComplete(
          a.handle,
          chain,
          (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0 ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
        );
      },
    });
    const w = new World({ seed: 1, verifier: 'collect' });
    w.addDriver(drv);
    w.addProtocol('tcpip', {
      traffic: { ratePerSecond: 100, nblsPerSend: 3, sendIrql, returnDelayNs: ns.ms },
    });
    w.addDevice({ name: 'nic0', driver: drv.name });
    w.at(0, { kind: 'start', device: 'nic0' });
    const r = w.run(1 * ns.s);
    // The test driver reads the IRQL to check it, which Flags_Irql reports (R6.14); nothing else.
    assert.deepEqual(
      r.violations.filter((v) => v.rule !== 'Flags_Irql').map((v) => `${v.rule}: ${v.message}`),
      [],
    );
    assert.ok(seen.length > 10, `${sendIrql}: ${seen.length} sends`);
    const want = sendIrql === 'dispatch' ? { irql: 2, flag: true } : { irql: 0, flag: false };
    for (const s of seen) assert.deepEqual(s, want, sendIrql);
    // Every NBL the protocol sent reached the miniport, in chains of 3, and came back.
    const b = w.summary().protocols[0]!.bindings[0]!;
    assert.equal(nbls, seen.length * 3, sendIrql);
    assert.equal(b.sent, nbls, sendIrql);
    assert.equal(b.sendCompleted, nbls, sendIrql);
  }
});

test('R8.11: spin locks released out of order (A, B acquired at PASSIVE, A released first) are reported as that, naming both locks, under Irql_Synch_Function (0xC4) at the release that comes at the wrong IRQL; released in reverse order, nothing is reported', () => {
  const run = (name: string, aFirst: boolean) =>
    removedScripted(name, {
      initialize: () => {
        const [a, b] = twoLocks();
        NdisAcquireSpinLock(a);
        NdisAcquireSpinLock(b);
        NdisReleaseSpinLock(aFirst ? a : b);
        NdisReleaseSpinLock(aFirst ? b : a);
        NdisFreeSpinLock(a);
        NdisFreeSpinLock(b);
        return NDIS_STATUS_SUCCESS;
      },
    }).r;
  assert.deepEqual(
    run('lock-order-ok', false).violations.map((v) => v.rule),
    [],
  );
  const r = run('lock-order-bad', true);
  const v = r.violations[0]!;
  assert.equal(v.rule, 'Irql_Synch_Function', JSON.stringify(r.violations.map((x) => x.rule)));
  assert.equal(v.ddi, 'NdisReleaseSpinLock');
  assert.equal(v.bugCheck.code, 0xc4);
  assert.match(
    v.message,
    /called at PASSIVE; it must be called exactly DISPATCH: spin locks released out of order \(R8\.11\): NdisReleaseSpinLock released spin lock #1 \(allocated by lock-order-bad in MiniportInitializeEx \(nic0\)\) while spin lock #2 \(allocated by lock-order-bad in MiniportInitializeEx \(nic0\)\), acquired after it, was still held/,
  );
  assert.match(v.message, /leaves the caller at DISPATCH.*IRQL_NOT_LESS_OR_EQUAL/);
  // The later lock taken and released with the Dpr pair: its release below DISPATCH says the same.
  const dpr = removedScripted('lock-order-dpr', {
    initialize: () => {
      const [a, b] = twoLocks();
      NdisAcquireSpinLock(a);
      NdisDprAcquireSpinLock(b);
      NdisReleaseSpinLock(a);
      NdisDprReleaseSpinLock(b);
      return NDIS_STATUS_SUCCESS;
    },
  }).r.violations[0]!;
  assert.equal(dpr.rule, 'Irql_Synch_Function');
  assert.equal(dpr.ddi, 'NdisDprReleaseSpinLock');
  assert.deepEqual([dpr.bugCheck.code, dpr.bugCheck.params[0]], [0xc4, 0x41]);
  assert.match(
    dpr.message,
    /released out of order \(R8\.11\): NdisReleaseSpinLock released spin lock #1 .* while spin lock #2 /,
  );
  // The Dpr release restores nothing: the message does not say it leaves the caller at DISPATCH.
  assert.match(dpr.message, /NdisDprReleaseSpinLock changes no IRQL, so the caller goes on below DISPATCH/);
  assert.doesNotMatch(dpr.message, /leaves the caller at DISPATCH/);
  assert.deepEqual([v.bugCheck.code, v.bugCheck.params[0]], [0xc4, 0x32]);
  // A callback that returns still holding the later lock: SpinLockBalanced says why.
  const kept = removedScripted('lock-order-kept', {
    initialize: () => {
      const [a, b] = twoLocks();
      NdisAcquireSpinLock(a);
      NdisAcquireSpinLock(b);
      NdisReleaseSpinLock(a);
      return NDIS_STATUS_SUCCESS;
    },
  }).r.violations[0]!;
  assert.equal(kept.rule, 'SpinLockBalanced');
  assert.match(
    kept.message,
    /returned holding 1 lock\(s\) it acquired \(R8\.10\); spin locks released out of order \(R8\.11\): .*so spin lock #2 was held at PASSIVE\. Release spin locks in the reverse/,
  );
});

test('R8.11 regression: NdisReleaseSpinLock and NdisDprReleaseSpinLock of NULL or of no NDIS_SPIN_LOCK are NdisSim_BadParameter (spin lock not allocated), not a TypeError of the out-of-order check; NdisAllocateSpinLock and NdisFreeSpinLock of NULL are NdisSim_BadParameter too', () => {
  for (const [ddi, release] of [
    ['NdisReleaseSpinLock', NdisReleaseSpinLock],
    ['NdisDprReleaseSpinLock', NdisDprReleaseSpinLock],
  ] as const)
    for (const bad of [null, {}]) {
      const b = removedScripted(`release-${ddi}`, {
        initialize: () => {
          release(bad as unknown as NDIS_SPIN_LOCK);
          return NDIS_STATUS_SUCCESS;
        },
      }).r.bugCheck;
      assert.deepEqual([b?.rule, b?.ddi], ['NdisSim_BadParameter', ddi], b?.message);
      assert.match(b!.message, /spin lock not allocated \(NdisAllocateSpinLock\)/);
    }
  // NdisAllocateSpinLock and NdisFreeSpinLock of NULL: the same rule, naming the parameter.
  for (const [ddi, call] of [
    ['NdisAllocateSpinLock', NdisAllocateSpinLock],
    ['NdisFreeSpinLock', NdisFreeSpinLock],
  ] as const) {
    const b = removedScripted(`null-${ddi}`, {
      initialize: () => {
        call(null as unknown as NDIS_SPIN_LOCK);
        return NDIS_STATUS_SUCCESS;
      },
    }).r.bugCheck;
    assert.deepEqual([b?.rule, b?.ddi], ['NdisSim_BadParameter', ddi], b?.message);
    assert.match(b!.message, /SpinLock is not an NDIS_SPIN_LOCK, got NULL$/);
  }
});

test('R8.11: the same out-of-order release with both locks acquired at DISPATCH restores DISPATCH both times, leaves no code at the wrong IRQL, and is not reported', () => {
  const { r } = removedScripted('lock-order-dispatch', {
    initialize: () => {
      const [a, b] = twoLocks();
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      NdisAcquireSpinLock(a);
      NdisAcquireSpinLock(b);
      NdisReleaseSpinLock(a);
      NdisReleaseSpinLock(b);
      NDIS_LOWER_IRQL(old, 2);
      NdisFreeSpinLock(a);
      NdisFreeSpinLock(b);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(
    r.violations.map((v) => `${v.rule}: ${v.message}`),
    [],
  );
});

test('NdisAllocateMemoryWithTagPriority page, BAD_POOL_CALLER 0xC2 page (docs/decisions.md "A zero-byte NdisAllocateMemoryWithTagPriority"): Length 0 gives a block of no bytes, not NULL and not a bug check; it is pool like any other, freed cleanly, and left at unload it is NdisSim_PoolNotFreedAtUnload (R2.16)', () => {
  const tag = 0x6f72657a; // 'zero'
  let got: Uint8Array | null | undefined;
  const freed = removedScripted('zero-bytes-freed', {
    initialize: (a) => {
      got = NdisAllocateMemoryWithTagPriority(a.handle, 0, tag, 16);
      a.state.mem = got;
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisFreeMemoryWithTagPriority(a.handle, a.state.mem as Uint8Array, tag),
  }).r;
  assert.ok(got instanceof Uint8Array, String(got));
  assert.equal(got.length, 0);
  assert.deepEqual(
    freed.violations.map((v) => `${v.rule}: ${v.message}`),
    [],
  );
  const left = removedScripted('zero-bytes-left', {
    initialize: (a) => {
      a.state.mem = NdisAllocateMemoryWithTagPriority(a.handle, 0, tag, 16);
      return NDIS_STATUS_SUCCESS;
    },
  }).r;
  assert.deepEqual(
    left.violations.map((v) => v.rule),
    ['NdisSim_PoolNotFreedAtUnload'],
  );
  assert.match(left.violations[0]!.message, /1 pool allocation\(s\)/);
});

/** A driver's queued record: the C struct embeds the LIST_ENTRY; here it extends it. */
class Rec extends LIST_ENTRY {
  constructor(readonly id: number) {
    super();
  }
}

test('R8.10, NdisInterlocked...List pages: a queue kept with NdisInitializeListHead and the interlocked insert and remove calls keeps its order, returns what the pages say, takes the spin lock at DISPATCH for each call (the trace shows it) and gives the IRQL back', () => {
  const out: (number | null)[] = [];
  const inserted: (number | null)[] = [];
  const irqlAfter: number[] = [];
  const drv = scriptedDriver('list-queue', {
    initialize: () => {
      const head = new LIST_ENTRY();
      const lock = new NDIS_SPIN_LOCK();
      NdisAllocateSpinLock(lock);
      NdisInitializeListHead(head);
      const id = (e: LIST_ENTRY | null) => (e === null ? null : (e as Rec).id);
      inserted.push(id(NdisInterlockedInsertTailList(head, new Rec(1), lock)));
      inserted.push(id(NdisInterlockedInsertTailList(head, new Rec(2), lock)));
      inserted.push(id(NdisInterlockedInsertHeadList(head, new Rec(0), lock)));
      inserted.push(id(NdisInterlockedInsertTailList(head, new Rec(3), lock)));
      irqlAfter.push(NDIS_CURRENT_IRQL());
      for (let i = 0; i < 5; i++) out.push(id(NdisInterlockedRemoveHeadList(head, lock)));
      irqlAfter.push(NDIS_CURRENT_IRQL());
      // At DISPATCH the call leaves the IRQL at DISPATCH.
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      NdisInterlockedInsertTailList(head, new Rec(4), lock);
      irqlAfter.push(NDIS_CURRENT_IRQL());
      out.push(id(NdisInterlockedRemoveHeadList(head, lock)));
      NDIS_LOWER_IRQL(old, 2);
      NdisFreeSpinLock(lock);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(drv);
  w.addDevice({ name: 'nic0', driver: drv.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(100 * ns.ms);
  assert.deepEqual(
    r.violations.map((v) => `${v.rule}: ${v.message}`),
    [],
  );
  // Insert returns the entry that was first (head) or last (tail) before, NULL on an empty list.
  assert.deepEqual(inserted, [null, 1, 1, 2]);
  assert.deepEqual(out, [0, 1, 2, 3, null, 4]);
  assert.deepEqual(irqlAfter, [0, 0, 2]);
  const calls = w.trace.events.filter((e) => e.kind === 'ddi' && e.what.startsWith('NdisInterlocked'));
  assert.equal(calls.length, 11);
  for (const e of calls) {
    assert.equal(e.irql, 2, `${e.what} runs under the lock at DISPATCH`);
    assert.match(
      String(e.data?.SpinLock),
      /^spin lock #1 \(allocated by list-queue in MiniportInitializeEx \(nic0\)\)$/,
    );
  }
});

test('R8.10: an NdisInterlocked...List call on a spin lock the caller holds is SpinLock (it acquires the lock itself: a deadlock); a head never given to NdisInitializeListHead is NdisSim_BadParameter', () => {
  const held = removedScripted('list-lock-held', {
    initialize: () => {
      const head = new LIST_ENTRY();
      const lock = new NDIS_SPIN_LOCK();
      NdisAllocateSpinLock(lock);
      NdisInitializeListHead(head);
      NdisAcquireSpinLock(lock);
      NdisInterlockedInsertTailList(head, new Rec(1), lock);
      NdisReleaseSpinLock(lock);
      return NDIS_STATUS_SUCCESS;
    },
  }).r;
  assert.deepEqual(
    held.violations.map((v) => [v.rule, v.ddi]),
    [['SpinLock', 'NdisInterlockedInsertTailList']],
  );
  assert.match(
    held.violations[0]!.message,
    /already held by the caller: the call acquires it itself \(R8\.10\)/,
  );
  const raw = removedScripted('list-no-init', {
    initialize: () => {
      const lock = new NDIS_SPIN_LOCK();
      NdisAllocateSpinLock(lock);
      NdisInterlockedRemoveHeadList(new LIST_ENTRY(), lock);
      return NDIS_STATUS_SUCCESS;
    },
  }).r;
  assert.equal(raw.bugCheck?.rule, 'NdisSim_BadParameter', raw.verdict);
  assert.equal(raw.bugCheck?.ddi, 'NdisInterlockedRemoveHeadList');
  assert.match(raw.bugCheck!.message, /never initialized with NdisInitializeListHead/);
});

test('NdisInterlocked...List pages: a ListHead or ListEntry that is no LIST_ENTRY is NdisSim_BadParameter naming the parameter and what it got, and the list is left as it was', () => {
  const cases: [string, (head: LIST_ENTRY, lock: NDIS_SPIN_LOCK) => void, string, RegExp][] = [
    [
      'init-not-entry',
      () => NdisInitializeListHead({ Flink: null, Blink: null } as LIST_ENTRY),
      'NdisInitializeListHead',
      /ListHead is not a LIST_ENTRY, got an object of type Object$/,
    ],
    [
      'insert-null',
      (head, lock) => NdisInterlockedInsertHeadList(head, null as unknown as LIST_ENTRY, lock),
      'NdisInterlockedInsertHeadList',
      /ListEntry is not a LIST_ENTRY, got NULL$/,
    ],
    [
      'insert-number',
      (head, lock) => NdisInterlockedInsertTailList(head, 7 as unknown as LIST_ENTRY, lock),
      'NdisInterlockedInsertTailList',
      /ListEntry is not a LIST_ENTRY, got number 7$/,
    ],
    [
      'remove-head-null',
      (_head, lock) => NdisInterlockedRemoveHeadList(null as unknown as LIST_ENTRY, lock),
      'NdisInterlockedRemoveHeadList',
      /ListHead is not a LIST_ENTRY, got NULL$/,
    ],
  ];
  for (const [name, call, ddi, message] of cases) {
    let head: LIST_ENTRY | null = null;
    const r = removedScripted(name, {
      initialize: () => {
        head = new LIST_ENTRY();
        const lock = new NDIS_SPIN_LOCK();
        NdisAllocateSpinLock(lock);
        NdisInitializeListHead(head);
        call(head, lock);
        return NDIS_STATUS_SUCCESS;
      },
    }).r;
    assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', `${name}: ${r.verdict}`);
    assert.equal(r.bugCheck?.ddi, ddi, name);
    assert.match(r.bugCheck!.message, message, name);
    const h = head as LIST_ENTRY | null;
    assert.ok(h !== null && h.Flink === h && h.Blink === h, `${name}: the list is still empty`);
  }
});

test('NdisInterlocked...List pages (NdisAllocateSpinLock before any NdisInterlocked call): a spin lock never allocated is NdisSim_BadParameter and a freed one NdisSim_ObjectFreedInUse, as for NdisAcquireSpinLock', () => {
  const run = (name: string, freed: boolean) =>
    removedScripted(name, {
      initialize: () => {
        const head = new LIST_ENTRY();
        NdisInitializeListHead(head);
        const lock = new NDIS_SPIN_LOCK();
        if (freed) {
          NdisAllocateSpinLock(lock);
          NdisFreeSpinLock(lock);
        }
        NdisInterlockedInsertTailList(head, new Rec(1), lock);
        return NDIS_STATUS_SUCCESS;
      },
    }).r.bugCheck;
  const never = run('list-lock-never', false);
  assert.deepEqual([never?.rule, never?.ddi], ['NdisSim_BadParameter', 'NdisInterlockedInsertTailList']);
  assert.match(never!.message, /spin lock not allocated \(NdisAllocateSpinLock\)/);
  const freed = run('list-lock-freed', true);
  assert.deepEqual([freed?.rule, freed?.ddi], ['NdisSim_ObjectFreedInUse', 'NdisInterlockedInsertTailList']);
  assert.match(freed!.message, /on a freed spin lock: allocated by list-lock-freed in MiniportInitializeEx/);
});

test('R8.10: with traffic, a DPC that only queues and dequeues under its lock with the NdisInterlocked...List calls is folded with the data path, as one that takes a spin lock is; --datapath shows the calls', () => {
  const t = new Trace(true);
  t.add(500, 0, 2, 'drv', 'call', 'MiniportSendNetBufferLists', { adapter: 'nic0' });
  t.add(500, 0, 2, 'drv', 'return', 'MiniportSendNetBufferLists');
  t.add(1000, 0, 2, 'drv', 'call', 'MiniportInterruptDPC', { adapter: 'nic0' });
  for (const ddi of [
    'NdisInterlockedInsertTailList',
    'NdisInterlockedInsertHeadList',
    'NdisInterlockedRemoveHeadList',
  ])
    t.add(1000, 0, 2, 'drv', 'ddi', ddi, { SpinLock: 'spin lock #1', returned: 'NULL' });
  t.add(1000, 0, 2, 'drv', 'return', 'MiniportInterruptDPC');
  const folded = formatTimeline(t.events, { color: false });
  assert.ok(!folded.some((l) => l.includes('NdisInterlocked')), folded.join('\n'));
  const all = formatTimeline(t.events, { color: false, dataPath: true });
  assert.equal(all.filter((l) => l.includes('NdisInterlocked')).length, 3, all.join('\n'));
});
