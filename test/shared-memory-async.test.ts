// Asynchronous shared memory: NdisMAllocateSharedMemoryAsyncEx returns PENDING, NDIS
// hands the block to MiniportSharedMemoryAllocateComplete at PASSIVE from a worker
// thread, at once or after holding the request (ChoiceSite.SharedMemoryAllocateComplete),
// and NdisMFreeSharedMemory gives it back. An allocation pending when the channel goes
// is NdisSim_SharedMemoryAllocationPending.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER,
  NDIS_EVENT,
  NDIS_SG_DMA_64_BIT_ADDRESS,
  type NDIS_STATUS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisInitializeEvent,
  NdisMAllocateSharedMemoryAsyncEx,
  NdisMDeregisterScatterGatherDma,
  NdisMFreeSharedMemory,
  NdisSetEvent,
  NdisWaitEvent,
} from '../src/index.ts';
import { ChoiceSite, type Strategy } from '../src/sim/choice.ts';
import { BugCheckCode } from '../src/verifier/bugcheck.ts';
import { busMaster, dma, registerChannel } from './helpers/dma.ts';
import { after, type Hooks, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** One completion as the driver saw it. */
interface Completion {
  adapterContext: unknown;
  va: Uint8Array | null;
  pa: number | null;
  length: number;
  context: unknown;
  atNs: number;
}

/** What a test driver saw: each completion, and the order of calls, returns and completions. */
interface Seen {
  /** Every completion. */
  all: Completion[];
  /** The completions whose blocks the driver still holds. */
  done: Completion[];
  log: string[];
  statuses: NDIS_STATUS[];
}
const seen = (): Seen => ({ all: [], done: [], log: [], statuses: [] });

/** The virtual time, as the running world keeps it (set by `run`). */
let clock: () => number = () => 0;

/**
 * Registers a channel in init (with `flags`, and a completion handler unless
 * `noHandler`; the handler records the completion, then runs `then`); in halt frees every block the completions brought, then deregisters.
 */
function asyncHooks(s: Seen, flags = 0, noHandler = false, then = () => {}): Hooks {
  const complete: MINIPORT_ALLOCATE_SHARED_MEM_COMPLETE_HANDLER = (ctx, va, pa, length, context) => {
    s.log.push(`complete ${String(context)}`);
    const c = { adapterContext: ctx, va, pa, length, context, atNs: clock() };
    s.all.push(c);
    s.done.push(c);
    then();
  };
  return {
    registrationAttributes: busMaster,
    initialize: (a) => {
      registerChannel(a, flags, { complete: noHandler ? null : complete });
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      freeAll(a, s);
      NdisMDeregisterScatterGatherDma(dma(a));
    },
  };
}

/** Frees every block a completion brought and the driver still holds. */
function freeAll(a: TestAdapter, s: Seen): void {
  for (const c of s.done.splice(0)) {
    if (c.va !== null) NdisMFreeSharedMemory(a.handle, c.length, false, c.va, c.pa!);
  }
}

/** Asks for `lengths` at `ms` in a timer (DISPATCH), each with its index as Context. */
function grow(s: Seen, base: Hooks, lengths: number[], ms = 100): Hooks {
  return {
    ...base,
    initialize: (a, p) => {
      const st = base.initialize!(a, p);
      after(a, ms, () => {
        lengths.forEach((length, i) => {
          s.log.push(`call ${i}`);
          s.statuses.push(NdisMAllocateSharedMemoryAsyncEx(dma(a), length, false, i));
          s.log.push(`returned ${i}`);
        });
      });
      return st;
    },
  };
}

/** Answers 0 everywhere but at the SharedMemoryAllocateComplete site, where it answers `pick`. */
function heldStrategy(pick: number): Strategy {
  return {
    name: `held-${pick}`,
    pick: (site) => (site === ChoiceSite.SharedMemoryAllocateComplete ? pick : 0),
  };
}

/** One device of a scripted driver, removed at `removeMs`, run to 2 s in collect mode. */
function run(name: string, hooks: Hooks, strategy?: Strategy, removeMs = 1000, trace = false) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions: [{ atNs: removeMs * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect', trace, ...(strategy === undefined ? {} : { strategy }) },
  });
  clock = () => w.machine.now;
  return { w, r: w.run(2 * ns.s), drv };
}

const rules = (r: { violations: readonly { rule: string; ddi: string }[] }) =>
  r.violations.map((v) => [v.rule, v.ddi]);

test('NdisMAllocateSharedMemoryAsyncEx: PENDING, then MiniportSharedMemoryAllocateComplete at PASSIVE after the call returned, with the adapter context, a zeroed block of Length bytes, its page-aligned address in the NIC range and Context; freed in halt, no violation', () => {
  for (const [flags, low] of [
    [0, true],
    [NDIS_SG_DMA_64_BIT_ADDRESS, false],
  ] as const) {
    const s = seen();
    const { w, r, drv } = run(
      `async-ok-${flags}`,
      grow(s, asyncHooks(s, flags), [6000, 100]),
      undefined,
      1000,
      true,
    );
    // In the order of the calls (the completions may come in either).
    const blocks = [...s.all].sort((x, y) => Number(x.context) - Number(y.context));
    assert.deepEqual(s.done, [], 'the halt freed both');
    assert.deepEqual(rules(r), []);
    assert.deepEqual(s.statuses, [NDIS_STATUS_PENDING, NDIS_STATUS_PENDING]);
    assert.deepEqual(s.log.slice(0, 4), ['call 0', 'returned 0', 'call 1', 'returned 1']);
    assert.deepEqual(
      blocks.map((c) => [c.context, c.length, c.va?.length, c.va?.every((x) => x === 0)]),
      [
        [0, 6000, 6000, true],
        [1, 100, 100, true],
      ],
    );
    for (const c of blocks) {
      assert.equal(c.adapterContext, drv.adapters[0]);
      assert.equal(c.pa! % 4096, 0);
      assert.equal(c.pa! < 2 ** 32, low, `0x${c.pa!.toString(16)}`);
    }
    // 6000 bytes take two pages: the second block starts after them.
    assert.notEqual(blocks[0]!.pa, blocks[1]!.pa);
    const calls = w.trace.events.filter(
      (e) => e.kind === 'call' && e.what === 'MiniportSharedMemoryAllocateComplete',
    );
    assert.equal(calls.length, 2);
    for (const e of calls)
      assert.equal(e.irql, 0, 'MiniportSharedMemoryAllocateComplete runs at PASSIVE_LEVEL');
  }
});

test('NdisMAllocateSharedMemoryAsyncEx: answer 0 completes from the next worker step, answer 1 after NDIS held the request 10 ms; seeds of the random strategy draw both', () => {
  const delay = (pick: number) => {
    const s = seen();
    const { r } = run(`async-held-${pick}`, grow(s, asyncHooks(s), [4096]), heldStrategy(pick));
    assert.deepEqual(rules(r), []);
    assert.deepEqual(s.log, ['call 0', 'returned 0', 'complete 0']);
    return s.all[0]!.atNs - 100 * ns.ms;
  };
  const early = delay(0);
  assert.ok(early > 0 && early < 100 * ns.us, `answer 0: ${early} ns`);
  const late = delay(1);
  assert.ok(late >= 10 * ns.ms && late < 11 * ns.ms, `answer 1: ${late} ns`);
  // Under the random strategy the seeds draw both.
  const kinds = new Set<string>();
  for (let seed = 1; seed <= 12 && kinds.size < 2; seed++) {
    const s = seen();
    const drv = scriptedDriver(`async-seed-${seed}`, grow(s, asyncHooks(s), [4096]));
    const w = testWorld({
      seed,
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      options: { verifier: 'collect' },
    });
    clock = () => w.machine.now;
    w.run(500 * ns.ms);
    kinds.add(s.all[0]!.atNs - 100 * ns.ms < 10 * ns.ms ? 'early' : 'late');
  }
  assert.deepEqual([...kinds].sort(), ['early', 'late']);
});

test('NdisMFreeSharedMemory: frees a block from NdisMAllocateSharedMemoryAsyncEx, so the next allocation gets its address; freeing it twice is NdisSim_SharedMemoryFreeInvalid', () => {
  const s = seen();
  const pas: number[] = [];
  let again: (() => void) | null = null;
  const base = asyncHooks(s);
  const { r } = run(
    'async-free',
    {
      ...base,
      initialize: (a, p) => {
        const st = base.initialize!(a, p);
        after(a, 100, () => NdisMAllocateSharedMemoryAsyncEx(dma(a), 8192, false, 'first'));
        after(a, 200, () => {
          const c = s.done.pop()!;
          pas.push(c.pa!);
          NdisMFreeSharedMemory(a.handle, c.length, false, c.va!, c.pa!);
          again = () => NdisMFreeSharedMemory(a.handle, c.length, false, c.va!, c.pa!);
          NdisMAllocateSharedMemoryAsyncEx(dma(a), 8192, false, 'second');
        });
        after(a, 300, () => {
          pas.push(s.done[0]!.pa!);
          again!();
        });
        return st;
      },
    },
    heldStrategy(0),
  );
  assert.deepEqual(rules(r), [['NdisSim_SharedMemoryFreeInvalid', 'NdisMFreeSharedMemory']]);
  assert.equal(pas.length, 2);
  assert.equal(pas[1], pas[0]);
});

test('R2.10 NdisSim_ResourceNotFreed: a block from NdisMAllocateSharedMemoryAsyncEx not freed when MiniportHaltEx returns is a leak, like one from NdisMAllocateSharedMemory', () => {
  const s = seen();
  const base = grow(s, asyncHooks(s), [4096, 4096]);
  const { r } = run('async-leak', { ...base, halt: (a) => NdisMDeregisterScatterGatherDma(dma(a)) });
  assert.equal(s.done.length, 2);
  assert.deepEqual(rules(r), [['NdisSim_ResourceNotFreed', 'MiniportHaltEx']]);
  assert.match(r.violations[0]!.message, /2 block\(s\) of shared memory \(NdisMFreeSharedMemory\)/);
});

test('NdisMAllocateSharedMemoryAsyncEx: Length 0, or more than the model grants one allocation, still returns PENDING and completes with NULL VirtualAddress and PhysicalAddress', () => {
  const s = seen();
  const { r } = run('async-null', grow(s, asyncHooks(s), [0, 128 * 1024 * 1024]), heldStrategy(0));
  assert.deepEqual(rules(r), []);
  assert.deepEqual(s.statuses, [NDIS_STATUS_PENDING, NDIS_STATUS_PENDING]);
  assert.deepEqual(s.all.map((c) => [c.context, c.va, c.pa, c.length]).sort(), [
    [0, null, null, 0],
    [1, null, null, 128 * 1024 * 1024],
  ]);
});

test('NdisMAllocateSharedMemoryAsyncEx: a channel without SharedMemAllocateCompleteHandler, or an adapter handle for the DMA handle, is NdisSim_BadParameter (fatal); a deregistered channel is NdisSim_ObjectFreedInUse and FAILURE', () => {
  const cases: [string, Hooks, RegExp][] = [
    [
      'async-no-handler',
      grow(seen(), asyncHooks(seen(), 0, true), [4096]),
      /NdisMAllocateSharedMemoryAsyncEx: the DMA channel was registered without a SharedMemAllocateCompleteHandler/,
    ],
    [
      'async-adapter-handle',
      {
        ...asyncHooks(seen()),
        restart: (a) => {
          after(a, 10, () => NdisMAllocateSharedMemoryAsyncEx(a.handle, 4096, false, null));
          return NDIS_STATUS_SUCCESS;
        },
      },
      /NdisMAllocateSharedMemoryAsyncEx: not a handle from NdisMRegisterScatterGatherDma/,
    ],
  ];
  for (const [name, hooks, message] of cases) {
    const { r } = run(name, hooks);
    assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisMAllocateSharedMemoryAsyncEx']], name);
    assert.match(r.violations[0]!.message, message);
    assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', `${name}: the run stops there`);
  }
  const s = seen();
  const base = asyncHooks(s);
  const { r } = run('async-deregistered', {
    ...base,
    initialize: (a, p) => {
      const st = base.initialize!(a, p);
      after(a, 100, () => s.statuses.push(NdisMAllocateSharedMemoryAsyncEx(dma(a), 4096, false, 0)));
      return st;
    },
    restart: (a) => {
      NdisMDeregisterScatterGatherDma(dma(a));
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => {},
  });
  assert.deepEqual(rules(r), [
    ['NdisSim_DmaOutsideInitHalt', 'NdisMDeregisterScatterGatherDma'],
    ['NdisSim_ObjectFreedInUse', 'NdisMAllocateSharedMemoryAsyncEx'],
  ]);
  assert.deepEqual(s.statuses, [NDIS_STATUS_FAILURE]);
  assert.deepEqual(s.all, []);
});

/** Asks for one block at 999 ms, just before the halt that the removal at 1 s brings (at about 1000.2 ms). */
const justBeforeHalt = (s: Seen, base: Hooks) => grow(s, base, [4096], 999);

test('NdisSim_SharedMemoryAllocationPending: an allocation still pending when MiniportHaltEx deregisters the channel (answer 1) is reported there and dropped: no completion comes, nothing leaks; answer 0 completes it before the halt', () => {
  const early = seen();
  const r0 = run('async-halt-early', justBeforeHalt(early, asyncHooks(early)), heldStrategy(0)).r;
  assert.deepEqual(rules(r0), []);
  assert.deepEqual(early.log, ['call 0', 'returned 0', 'complete 0']);

  const late = seen();
  const { r, drv } = run('async-halt-late', justBeforeHalt(late, asyncHooks(late)), heldStrategy(1));
  assert.deepEqual(rules(r), [['NdisSim_SharedMemoryAllocationPending', 'NdisMDeregisterScatterGatherDma']]);
  assert.match(
    r.violations[0]!.message,
    /NdisMDeregisterScatterGatherDma with 1 NdisMAllocateSharedMemoryAsyncEx allocation\(s\) pending \(MiniportSharedMemoryAllocateComplete not yet called\)/,
  );
  const bc = r.violations[0]!.bugCheck;
  assert.equal(bc.code, BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION);
  assert.equal(bc.params[0], 0x4e530070);
  // The run went on to 2 s, well past the 10 ms: the completion never came.
  assert.deepEqual(late.log, ['call 0', 'returned 0']);
  assert.ok(drv.calls.includes('MiniportDriverUnload'));
});

test('NdisSim_SharedMemoryAllocationPending: MiniportHaltEx that returns with an allocation pending and its channel registered is reported at the halt, with Init_RegisterSG; NDIS never calls the completion into the halted adapter', () => {
  const s = seen();
  const base = justBeforeHalt(s, asyncHooks(s));
  const { r } = run('async-halt-registered', { ...base, halt: () => {} }, heldStrategy(1));
  assert.deepEqual(rules(r), [
    ['Init_RegisterSG', 'MiniportHaltEx'],
    ['NdisSim_SharedMemoryAllocationPending', 'MiniportHaltEx'],
  ]);
  assert.match(
    r.violations[1]!.message,
    /^MiniportHaltEx returned with 1 NdisMAllocateSharedMemoryAsyncEx allocation/,
  );
  assert.deepEqual(s.log, ['call 0', 'returned 0']);
});

test('NdisMAllocateSharedMemoryAsyncEx: a MiniportHaltEx that waits (NdisWaitEvent) for the pending completion, then frees the block and deregisters, breaks no rule even when NDIS held the request', () => {
  const s = seen();
  const ev = new NDIS_EVENT();
  const base = justBeforeHalt(
    s,
    asyncHooks(s, 0, false, () => NdisSetEvent(ev)),
  );
  const { r } = run(
    'async-halt-waits',
    {
      ...base,
      initialize: (a, p) => {
        NdisInitializeEvent(ev);
        return base.initialize!(a, p);
      },
      halt: (a, action) => {
        if (s.statuses.length > s.all.length) assert.equal(NdisWaitEvent(ev, 0), true);
        base.halt!(a, action);
      },
    },
    heldStrategy(1),
  );
  assert.deepEqual(rules(r), []);
  assert.deepEqual(s.log, ['call 0', 'returned 0', 'complete 0']);
  // The completion came inside the halt's wait, and the halt freed the block.
  assert.ok(s.all[0]!.atNs >= 1009 * ns.ms);
  assert.deepEqual(s.done, []);
});

test('Irql_Gather_DMA_Function: NdisMAllocateSharedMemoryAsyncEx from MiniportInterrupt (DIRQL, above its DISPATCH_LEVEL) is reported naming the DDI', () => {
  const s = seen();
  const drv = scriptedDriver('async-isr', {
    ...asyncHooks(s),
    isr: (a) => {
      if (s.statuses.length === 0) s.statuses.push(NdisMAllocateSharedMemoryAsyncEx(dma(a), 4096, false, 0));
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name, faults: { linkDownAtNs: 500 * ns.ms } }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect' },
  });
  clock = () => w.machine.now;
  const r = w.run(2 * ns.s);
  assert.deepEqual(rules(r), [['Irql_Gather_DMA_Function', 'NdisMAllocateSharedMemoryAsyncEx']]);
  assert.equal(r.violations[0]!.irql, 3);
  assert.match(r.violations[0]!.message, /NdisMAllocateSharedMemoryAsyncEx called at DIRQL/);
});
