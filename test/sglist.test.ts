// Scatter/gather lists of bus-master sends: NdisMAllocateNetBufferSGList builds a list
// for a NET_BUFFER, NDIS hands it to MiniportProcessSGList inside the call or later
// (ChoiceSite.ProcessSGList), and NdisMFreeNetBufferSGList gives it back.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
  NDIS_SG_DMA_64_BIT_ADDRESS,
  type NDIS_SG_DMA_DESCRIPTION,
  NDIS_SG_DMA_DESCRIPTION_REVISION_1,
  type NDIS_SG_DMA_HANDLE,
  NDIS_SG_LIST_WRITE_TO_DEVICE,
  type NDIS_STATUS,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisMAllocateNetBufferSGList,
  NdisMDeregisterScatterGatherDma,
  NdisMFreeNetBufferSGList,
  NdisMRegisterScatterGatherDma,
  type NET_BUFFER,
  type SCATTER_GATHER_LIST,
} from '../src/index.ts';
import { ChoiceSite, type Strategy } from '../src/sim/choice.ts';
import { BugCheckCode } from '../src/verifier/bugcheck.ts';
import { busMaster, dma, registerChannel } from './helpers/dma.ts';
import { after, type Hooks, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** What a test driver saw: each MiniportProcessSGList, and the order of calls and returns. */
interface Seen {
  lists: { list: SCATTER_GATHER_LIST; context: unknown; atNs: number }[];
  log: string[];
}

/** Registers a channel in init (with `flags`, and a handler unless `noHandler`); deregisters it in halt. */
function sgHooks(seen: Seen, flags = 0, noHandler = false): Hooks {
  return {
    registrationAttributes: busMaster,
    initialize: (a) => {
      registerChannel(a, flags, {
        process: noHandler
          ? null
          : (_pDO, _Reserved, pSGL, Context) => {
              seen.log.push(`process ${String(Context)}`);
              seen.lists.push({ list: pSGL, context: Context, atNs: now(a) });
            },
      });
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisMDeregisterScatterGatherDma(dma(a)),
  };
}

/** The virtual time, as the scripted adapter's world keeps it (set by `run`). */
let clock: () => number = () => 0;
const now = (_a: TestAdapter) => clock();

/** A NET_BUFFER over `bytes` of a larger buffer that starts `pageOffset` bytes into a page. */
function netBuffer(pageOffset: number, DataOffset: number, DataLength: number): NET_BUFFER {
  const Data = new Uint8Array(new ArrayBuffer(pageOffset + DataOffset + DataLength), pageOffset);
  return { Next: null, DataOffset, DataLength, Data };
}

/** Answers 0 everywhere but at the ProcessSGList site, where it answers `sg`. */
function sgStrategy(sg: number): Strategy {
  return { name: `sg-${sg}`, pick: (site) => (site === ChoiceSite.ProcessSGList ? sg : 0) };
}

/** One device of a scripted driver, removed at 1 s, run to 2 s in collect mode. */
function run(name: string, hooks: Hooks, strategy?: Strategy, trace = false) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect', trace, ...(strategy === undefined ? {} : { strategy }) },
  });
  clock = () => w.machine.now;
  return { w, r: w.run(2 * ns.s) };
}

const rules = (r: { violations: readonly { rule: string; ddi: string }[] }) =>
  r.violations.map((v) => [v.rule, v.ddi]);

/** Maps `nbs` at 100 ms in a timer (DISPATCH), each with its index as Context; frees every list at 500 ms. */
function mapAndFree(seen: Seen, nbs: NET_BUFFER[], flags = 0, statuses: NDIS_STATUS[] = []): Hooks {
  const base = sgHooks(seen, flags);
  return {
    ...base,
    initialize: (a) => {
      const s = base.initialize!(a, undefined as never);
      after(a, 100, () => {
        nbs.forEach((nb, i) => {
          seen.log.push(`call ${i}`);
          statuses.push(NdisMAllocateNetBufferSGList(dma(a), nb, i, NDIS_SG_LIST_WRITE_TO_DEVICE, null, 0));
          seen.log.push(`returned ${i}`);
        });
      });
      after(a, 500, () => {
        for (const l of seen.lists) NdisMFreeNetBufferSGList(dma(a), l.list, nbs[l.context as number]!);
      });
      return s;
    },
  };
}

test("NdisMAllocateNetBufferSGList: the list covers the data from the start of its MDL (DataOffset + DataLength bytes), one element per page, the first at the buffer's page offset; below 4 GiB for a 32-bit channel, from 4 GiB up for a 64-bit one; freeing every list is no violation", () => {
  for (const [flags, low] of [
    [0, true],
    [NDIS_SG_DMA_64_BIT_ADDRESS, false],
  ] as const) {
    const seen: Seen = { lists: [], log: [] };
    // 4000 bytes into a page, 100 bytes of backfill, 9000 of data: 13,100 bytes from the
    // page's start, so four pages: 96 + 4096 + 4096 + 812 bytes.
    const nbs = [netBuffer(4000, 100, 9000), netBuffer(0, 0, 60)];
    const { r } = run(`sg-map-${flags}`, mapAndFree(seen, nbs, flags));
    assert.deepEqual(rules(r), []);
    assert.equal(seen.lists.length, 2);
    // In the order of the calls (a callback NDIS put off comes later).
    const [big, small] = [...seen.lists]
      .sort((x, y) => Number(x.context) - Number(y.context))
      .map((l) => l.list);
    assert.deepEqual(
      big!.Elements.map((e) => e.Length),
      [96, 4096, 4096, 812],
    );
    assert.equal(big!.NumberOfElements, 4);
    assert.equal(big!.Elements[0]!.Address % 4096, 4000);
    for (const e of big!.Elements.slice(1)) assert.equal(e.Address % 4096, 0);
    assert.deepEqual(
      small!.Elements.map((e) => [e.Address % 4096, e.Length]),
      [[0, 60]],
    );
    const all = [...big!.Elements, ...small!.Elements];
    for (const e of all) assert.equal(e.Address < 2 ** 32, low, `0x${e.Address.toString(16)}`);
    // No two elements share a page.
    assert.equal(new Set(all.map((e) => Math.floor(e.Address / 4096))).size, all.length);
  }
});

test('NdisMAllocateNetBufferSGList: answer 0 calls MiniportProcessSGList inside the call, answer 1 from a DPC after it returned; a run draws both', () => {
  const order = (sg: number) => {
    const seen: Seen = { lists: [], log: [] };
    const { w, r } = run(`sg-order-${sg}`, mapAndFree(seen, [netBuffer(0, 0, 100)]), sgStrategy(sg), true);
    assert.deepEqual(rules(r), []);
    const call = w.trace.events.find((e) => e.kind === 'call' && e.what === 'MiniportProcessSGList');
    assert.equal(call?.irql, 2, 'MiniportProcessSGList runs at DISPATCH_LEVEL');
    return seen.log;
  };
  assert.deepEqual(order(0), ['call 0', 'process 0', 'returned 0']);
  assert.deepEqual(order(1), ['call 0', 'returned 0', 'process 0']);
  // Under the random strategy the seeds draw both orders.
  const seenOrders = new Set<string>();
  for (let seed = 1; seed <= 12 && seenOrders.size < 2; seed++) {
    const seen: Seen = { lists: [], log: [] };
    const drv = scriptedDriver(`sg-seed-${seed}`, mapAndFree(seen, [netBuffer(0, 0, 100)]));
    const w = testWorld({
      seed,
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      options: { verifier: 'collect' },
    });
    w.run(1 * ns.s);
    seenOrders.add(seen.log.join(','));
  }
  assert.deepEqual([...seenOrders].sort(), ['call 0,process 0,returned 0', 'call 0,returned 0,process 0']);
});

test('NdisMAllocateNetBufferSGList: a list whose callback NDIS put off still reaches MiniportProcessSGList with its Context, and one list per NET_BUFFER', () => {
  const seen: Seen = { lists: [], log: [] };
  const nbs = [netBuffer(0, 0, 100), netBuffer(0, 14, 1500), netBuffer(2048, 0, 4096)];
  const statuses: NDIS_STATUS[] = [];
  const { r } = run('sg-later', mapAndFree(seen, nbs, 0, statuses), sgStrategy(1));
  assert.deepEqual(rules(r), []);
  assert.deepEqual(statuses, [NDIS_STATUS_SUCCESS, NDIS_STATUS_SUCCESS, NDIS_STATUS_SUCCESS]);
  assert.deepEqual(
    seen.lists.map((l) => [l.context, l.list.Elements.reduce((s, e) => s + e.Length, 0)]),
    [
      [0, 100],
      [1, 1514],
      [2, 4096],
    ],
  );
  assert.deepEqual(seen.log.slice(0, 6), [
    'call 0',
    'returned 0',
    'call 1',
    'returned 1',
    'call 2',
    'returned 2',
  ]);
  assert.ok(seen.lists.every((l) => l.atNs > 100 * ns.ms));
});

test("NdisMFreeNetBufferSGList: gives the list's pages back, so the next list gets the same address; lists out at once get different ones", () => {
  const seen: Seen = { lists: [], log: [] };
  const nb = netBuffer(0, 0, 1000);
  const base = sgHooks(seen);
  const { r } = run(
    'sg-reuse',
    {
      ...base,
      initialize: (a) => {
        const s = base.initialize!(a, undefined as never);
        after(a, 100, () => {
          NdisMAllocateNetBufferSGList(dma(a), nb, 0, 0, null, 0);
          NdisMFreeNetBufferSGList(dma(a), seen.lists[0]!.list, nb);
          NdisMAllocateNetBufferSGList(dma(a), nb, 1, 0, null, 0);
          NdisMAllocateNetBufferSGList(dma(a), nb, 2, 0, null, 0);
          NdisMFreeNetBufferSGList(dma(a), seen.lists[1]!.list, nb);
          NdisMFreeNetBufferSGList(dma(a), seen.lists[2]!.list, nb);
        });
        return s;
      },
    },
    sgStrategy(0),
  );
  assert.deepEqual(rules(r), []);
  const at = seen.lists.map((l) => l.list.Elements[0]!.Address);
  assert.equal(at[1], at[0]);
  assert.notEqual(at[2], at[1]);
});

test("NdisMAllocateNetBufferSGList: RESOURCES and no MiniportProcessSGList when the NIC's address range cannot hold the list", () => {
  const seen: Seen = { lists: [], log: [] };
  const statuses: NDIS_STATUS[] = [];
  // A NET_BUFFER that carries only a length: 3.5 GiB plus a byte, more than the range below 4 GiB.
  const huge: NET_BUFFER = { Next: null, DataOffset: 0, DataLength: 0xe000_0001, Data: null };
  const { r } = run('sg-full', mapAndFree(seen, [huge], 0, statuses));
  assert.deepEqual(rules(r), []);
  assert.deepEqual(statuses, [NDIS_STATUS_RESOURCES]);
  assert.deepEqual(seen.lists, []);
});

test('Irql_Gather_DMA_Function: NdisMAllocateNetBufferSGList and NdisMFreeNetBufferSGList at PASSIVE_LEVEL (they need exactly DISPATCH)', () => {
  const seen: Seen = { lists: [], log: [] };
  const nb = netBuffer(0, 0, 64);
  const base = sgHooks(seen);
  const { r } = run('sg-passive', {
    ...base,
    restart: (a) => {
      NdisMAllocateNetBufferSGList(dma(a), nb, 0, 0, null, 0);
      NdisMFreeNetBufferSGList(dma(a), seen.lists[0]!.list, nb);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), [
    ['Irql_Gather_DMA_Function', 'NdisMAllocateNetBufferSGList'],
    ['Irql_Gather_DMA_Function', 'NdisMFreeNetBufferSGList'],
  ]);
  assert.match(r.violations[0]!.message, /called at PASSIVE; it must be called exactly DISPATCH/);
});

test("NdisSim_SgListFreedTwice: NdisMFreeNetBufferSGList of a list already freed is Driver Verifier's 0xE6/0x06 (lists built, lists freed)", () => {
  const seen: Seen = { lists: [], log: [] };
  const nb = netBuffer(0, 0, 64);
  const base = mapAndFree(seen, [nb]);
  const { r } = run('sg-double', {
    ...base,
    initialize: (a) => {
      const s = base.initialize!(a, undefined as never);
      after(a, 600, () => NdisMFreeNetBufferSGList(dma(a), seen.lists[0]!.list, nb));
      return s;
    },
  });
  assert.deepEqual(rules(r), [['NdisSim_SgListFreedTwice', 'NdisMFreeNetBufferSGList']]);
  const bc = r.violations[0]!.bugCheck;
  assert.equal(bc.code, BugCheckCode.DRIVER_VERIFIER_DMA_VIOLATION);
  assert.deepEqual(bc.params, [0x06, 1, 2, 0]);
});

test('R2.10 NdisSim_ResourceNotFreed: a scatter/gather list not freed when MiniportHaltEx returns, with the channel left registered (Init_RegisterSG); freeing it after the halt (from MiniportDriverUnload, at PASSIVE) is NdisSim_StaleHandle', () => {
  const seen: Seen = { lists: [], log: [] };
  const nb = netBuffer(0, 0, 64);
  let late: (() => void) | null = null;
  const base = mapAndFree(seen, [nb]);
  const { r } = run('sg-leak', {
    ...base,
    initialize: (a) => {
      const s = sgHooks(seen).initialize!(a, undefined as never);
      after(a, 100, () => NdisMAllocateNetBufferSGList(dma(a), nb, 0, 0, null, 0));
      late = () => NdisMFreeNetBufferSGList(dma(a), seen.lists[0]!.list, nb);
      return s;
    },
    halt: () => {},
    unload: () => late!(),
  });
  assert.deepEqual(rules(r), [
    ['Init_RegisterSG', 'MiniportHaltEx'],
    ['NdisSim_ResourceNotFreed', 'MiniportHaltEx'],
    ['Irql_Gather_DMA_Function', 'NdisMFreeNetBufferSGList'],
    ['NdisSim_StaleHandle', 'NdisMFreeNetBufferSGList'],
  ]);
  assert.match(r.violations[1]!.message, /1 scatter\/gather list\(s\) \(NdisMFreeNetBufferSGList\)/);
});

test('NdisSim_SgListsOutstanding: NdisMDeregisterScatterGatherDma with lists not freed is 0xE6/0x0A (how many); NDIS takes them back, so a later free is NdisSim_ObjectFreedInUse and the halt reports no leak', () => {
  const seen: Seen = { lists: [], log: [] };
  const nbs = [netBuffer(0, 0, 64), netBuffer(0, 0, 64)];
  const base = mapAndFree(seen, nbs);
  const { r } = run('sg-dereg', {
    ...base,
    initialize: (a) => {
      const s = sgHooks(seen).initialize!(a, undefined as never);
      after(a, 100, () => {
        for (const [i, nb] of nbs.entries()) NdisMAllocateNetBufferSGList(dma(a), nb, i, 0, null, 0);
      });
      return s;
    },
    halt: (a) => {
      NdisMDeregisterScatterGatherDma(dma(a));
      NdisMFreeNetBufferSGList(dma(a), seen.lists[0]!.list, nbs[0]!);
    },
  });
  assert.deepEqual(rules(r), [
    ['NdisSim_SgListsOutstanding', 'NdisMDeregisterScatterGatherDma'],
    ['Irql_Gather_DMA_Function', 'NdisMFreeNetBufferSGList'],
    ['NdisSim_ObjectFreedInUse', 'NdisMFreeNetBufferSGList'],
  ]);
  const bc = r.violations[0]!.bugCheck;
  assert.equal(bc.code, BugCheckCode.DRIVER_VERIFIER_DMA_VIOLATION);
  assert.deepEqual(bc.params, [0x0a, 'NDIS_SG_DMA handle', 2, 0]);
  // Where to look: the oldest list's time and the driver call that built it (a timer's, here).
  assert.match(r.violations[0]!.message, /the oldest was built at 0\.\d+ s in \w+$/);
});

test("NdisMFreeNetBufferSGList: another NET_BUFFER than the list's, or a pSGL NDIS never gave, is NdisSim_BadParameter (fatal)", () => {
  const seen: Seen = { lists: [], log: [] };
  const nbs = [netBuffer(0, 0, 64), netBuffer(0, 0, 64)];
  const base = mapAndFree(seen, nbs);
  const wrong = run('sg-free-wrong-nb', {
    ...base,
    initialize: (a) => {
      const s = sgHooks(seen).initialize!(a, undefined as never);
      after(a, 100, () => NdisMAllocateNetBufferSGList(dma(a), nbs[0]!, 0, 0, null, 0));
      after(a, 200, () => NdisMFreeNetBufferSGList(dma(a), seen.lists[0]!.list, nbs[1]!));
      return s;
    },
  });
  assert.deepEqual(rules(wrong.r), [['NdisSim_BadParameter', 'NdisMFreeNetBufferSGList']]);
  assert.match(wrong.r.violations[0]!.message, /NetBuffer is not the NET_BUFFER the list was built for/);
  const stranger = run('sg-free-stranger', {
    ...sgHooks({ lists: [], log: [] }),
    restart: (a) => {
      after(a, 10, () =>
        NdisMFreeNetBufferSGList(dma(a), { NumberOfElements: 0, Reserved: 0, Elements: [] }, nbs[0]!),
      );
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(stranger.r), [['NdisSim_BadParameter', 'NdisMFreeNetBufferSGList']]);
  assert.match(
    stranger.r.violations[0]!.message,
    /not a scatter\/gather list NDIS passed to MiniportProcessSGList/,
  );
});

test('NdisMAllocateNetBufferSGList: a channel without ProcessSGListHandler, an adapter handle for the DMA handle, or a NetBuffer that is none is NdisSim_BadParameter (fatal), not a TypeError', () => {
  const cases: [string, Hooks, RegExp][] = [
    [
      'sg-no-handler',
      {
        ...sgHooks({ lists: [], log: [] }, 0, true),
        restart: (a) => {
          after(a, 10, () => NdisMAllocateNetBufferSGList(dma(a), netBuffer(0, 0, 64), 0, 0, null, 0));
          return NDIS_STATUS_SUCCESS;
        },
      },
      /registered without a ProcessSGListHandler/,
    ],
    [
      'sg-adapter-handle',
      {
        ...sgHooks({ lists: [], log: [] }),
        restart: (a) => {
          after(a, 10, () => NdisMAllocateNetBufferSGList(a.handle, netBuffer(0, 0, 64), 0, 0, null, 0));
          return NDIS_STATUS_SUCCESS;
        },
      },
      /not a handle from NdisMRegisterScatterGatherDma/,
    ],
    [
      'sg-not-nb',
      {
        ...sgHooks({ lists: [], log: [] }),
        restart: (a) => {
          after(a, 10, () => NdisMAllocateNetBufferSGList(dma(a), {} as NET_BUFFER, 0, 0, null, 0));
          return NDIS_STATUS_SUCCESS;
        },
      },
      /not a NET_BUFFER/,
    ],
  ];
  for (const [name, hooks, message] of cases) {
    const { r } = run(name, hooks);
    assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisMAllocateNetBufferSGList']], name);
    assert.match(r.violations[0]!.message, message);
  }
});

test('typed scatter/gather contexts: MiniportProcessSGList declares the Context type, NdisMRegisterScatterGatherDma<C> takes it without a cast, and NdisMAllocateNetBufferSGList on the typed handle accepts only that type (tsc checks this file)', () => {
  /** What a send path hands NDIS with each NET_BUFFER. */
  interface SendCtx {
    nb: NET_BUFFER;
    tag: string;
  }
  const seen: string[] = [];
  let channel: NDIS_SG_DMA_HANDLE<SendCtx> | null = null;
  const nb = netBuffer(0, 0, 60);
  const drv = scriptedDriver('sg-typed', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      const desc: NDIS_SG_DMA_DESCRIPTION<SendCtx> = {
        Header: { Type: NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, Revision: NDIS_SG_DMA_DESCRIPTION_REVISION_1 },
        Flags: 0,
        MaximumPhysicalMapping: 64 * 1024,
        // No cast: Context is a SendCtx.
        ProcessSGListHandler: (_pDO, _Reserved, pSGL, Context) => {
          seen.push(`${Context.tag} ${Context.nb.DataLength} ${pSGL.NumberOfElements}`);
          NdisMFreeNetBufferSGList(channel!, pSGL, Context.nb);
        },
        SharedMemAllocateCompleteHandler: null,
        ScatterGatherListSize: 0,
      };
      channel = NdisMRegisterScatterGatherDma(a.handle, desc).NdisMiniportDmaHandle;
      after(a, 100, () => {
        NdisMAllocateNetBufferSGList(
          channel!,
          nb,
          { nb, tag: 'send' },
          NDIS_SG_LIST_WRITE_TO_DEVICE,
          null,
          0,
        );
        if (seen.length < 0) {
          // Never runs; tsc rejects a Context of another type on the typed handle.
          // @ts-expect-error a number is not a SendCtx
          NdisMAllocateNetBufferSGList(channel!, nb, 7, NDIS_SG_LIST_WRITE_TO_DEVICE, null, 0);
        }
      });
      return NDIS_STATUS_SUCCESS;
    },
    halt: () => NdisMDeregisterScatterGatherDma(channel!),
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'sg-typed' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect' },
  });
  const r = w.run(2 * ns.s);
  assert.deepEqual(rules(r), []);
  assert.deepEqual(seen, ['send 60 1']);
});
