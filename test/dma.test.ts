// Bus-master DMA: NdisMRegisterScatterGatherDma, NdisMDeregisterScatterGatherDma,
// NdisMAllocateSharedMemory and NdisMFreeSharedMemory. A bus master declares itself in
// its registration attributes, registers its one channel and takes its shared memory in
// MiniportInitializeEx, and gives both back in MiniportHaltEx.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_ERROR_CODE_OUT_OF_RESOURCES,
  type NDIS_HANDLE,
  NDIS_LOWER_IRQL,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_SG_DMA_64_BIT_ADDRESS,
  type NDIS_SG_DMA_DESCRIPTION,
  NDIS_SG_DMA_DESCRIPTION_REVISION_1,
  NDIS_SG_DMA_DESCRIPTION_REVISION_2,
  type NDIS_STATUS,
  NDIS_STATUS_BAD_VERSION,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisMAllocateSharedMemory,
  NdisMDeregisterScatterGatherDma,
  NdisMFreeSharedMemory,
  NdisMRegisterScatterGatherDma,
  NdisWriteErrorLogEntry,
} from '../src/index.ts';
import { BugCheckCode } from '../src/verifier/bugcheck.ts';
import { busMaster } from './helpers/dma.ts';
import {
  type Hooks,
  removedScripted,
  scriptedDriver,
  stoppedThenRemoved,
  type TestAdapter,
} from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

function description(Flags = 0, Revision = NDIS_SG_DMA_DESCRIPTION_REVISION_1): NDIS_SG_DMA_DESCRIPTION {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, Revision },
    Flags,
    MaximumPhysicalMapping: 64 * 1024,
    ProcessSGListHandler: () => {},
    SharedMemAllocateCompleteHandler: null,
    ScatterGatherListSize: 0,
  };
}

interface Block {
  va: Uint8Array;
  pa: number;
  len: number;
}

/** Registers a channel (flags) in init and takes `lengths` of shared memory; frees all in halt. */
function dmaHooks(flags: number, lengths: number[], seen: { blocks: Block[][]; sgSize: number[] }): Hooks {
  return {
    registrationAttributes: busMaster,
    initialize: (a) => {
      const d = description(flags);
      const r = NdisMRegisterScatterGatherDma(a.handle, d);
      assert.equal(r.Status, NDIS_STATUS_SUCCESS);
      seen.sgSize.push(d.ScatterGatherListSize);
      a.state.dma = r.NdisMiniportDmaHandle;
      const blocks: Block[] = [];
      for (const len of lengths) {
        const m = NdisMAllocateSharedMemory(a.handle, len, true);
        assert.ok(m.VirtualAddress instanceof Uint8Array);
        blocks.push({ va: m.VirtualAddress, pa: m.PhysicalAddress, len });
      }
      a.state.blocks = blocks;
      seen.blocks.push(blocks);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      for (const m of a.state.blocks as Block[]) NdisMFreeSharedMemory(a.handle, m.len, true, m.va, m.pa);
      NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE);
    },
  };
}

const rules = (r: { violations: readonly { rule: string; ddi: string }[] }) =>
  r.violations.map((v) => [v.rule, v.ddi]);

test('NdisMAllocateSharedMemory: a 32-bit bus master gets zeroed, page-aligned, distinct blocks below 4 GiB, a 64-bit one from 4 GiB up; all given back in halt is no violation', () => {
  for (const [flags, low] of [
    [0, true],
    [NDIS_SG_DMA_64_BIT_ADDRESS, false],
  ] as const) {
    const seen = { blocks: [] as Block[][], sgSize: [] as number[] };
    const { r } = removedScripted(`dma-ok-${flags}`, dmaHooks(flags, [100, 8192, 5000], seen));
    assert.deepEqual(rules(r), []);
    const blocks = seen.blocks[0]!;
    assert.deepEqual(
      blocks.map((m) => m.va.length),
      [100, 8192, 5000],
    );
    assert.ok(blocks.every((m) => m.va.every((x) => x === 0)));
    for (const m of blocks) {
      assert.equal(m.pa % 4096, 0);
      assert.equal(m.pa < 2 ** 32, low, `0x${m.pa.toString(16)}`);
    }
    // No two blocks overlap: each starts past the end of the one before.
    assert.ok(blocks[1]!.pa >= blocks[0]!.pa + 100 && blocks[2]!.pa >= blocks[1]!.pa + 8192);
  }
});

test('NdisMRegisterScatterGatherDma: ScatterGatherListSize is filled in on success, big enough for a list of MaximumPhysicalMapping bytes on any page offset', () => {
  const seen = { blocks: [] as Block[][], sgSize: [] as number[] };
  const { r } = removedScripted('dma-sgsize', dmaHooks(0, [], seen));
  assert.deepEqual(rules(r), []);
  // SCATTER_GATHER_LIST on x64: 16 bytes, then 24 per element; 64 KiB touches 17 pages.
  assert.deepEqual(seen.sgSize, [16 + 24 * 17]);
});

test('NdisMRegisterScatterGatherDma: the trace names the Flags (NDIS_SG_DMA_64_BIT_ADDRESS), 0 for none, as it names the send flags', () => {
  const flags: unknown[] = [];
  for (const f of [NDIS_SG_DMA_64_BIT_ADDRESS, 0]) {
    const seen = { blocks: [] as Block[][], sgSize: [] as number[] };
    const { r, w } = removedScripted(`dma-trace-${f}`, dmaHooks(f, [], seen));
    assert.deepEqual(rules(r), []);
    for (const e of w.trace.events) if (e.what === 'NdisMRegisterScatterGatherDma') flags.push(e.data?.Flags);
  }
  assert.deepEqual(flags, ['NDIS_SG_DMA_64_BIT_ADDRESS', 0]);
});

test('NdisMAllocateSharedMemory: addresses are deterministic, and the memory one initialization freed is handed out again at the next', () => {
  const seen = { blocks: [] as Block[][], sgSize: [] as number[] };
  const drv = scriptedDriver('dma-again', dmaHooks(0, [4096, 4096], seen));
  const r = stoppedThenRemoved(drv);
  assert.deepEqual(rules(r), []);
  assert.equal(seen.blocks.length, 2);
  assert.deepEqual(
    seen.blocks[1]!.map((m) => m.pa),
    seen.blocks[0]!.map((m) => m.pa),
  );
  assert.notEqual(seen.blocks[0]![0]!.pa, seen.blocks[0]![1]!.pa);
});

test('NdisMRegisterScatterGatherDma: NOT_SUPPORTED without NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER, BAD_VERSION for an unknown Revision, RESOURCES for a second channel', () => {
  const statuses: NDIS_STATUS[] = [];
  const register = (a: TestAdapter, d: NDIS_SG_DMA_DESCRIPTION) => {
    const r = NdisMRegisterScatterGatherDma(a.handle, d);
    statuses.push(r.Status);
    assert.equal(r.NdisMiniportDmaHandle === null, r.Status !== NDIS_STATUS_SUCCESS);
    return r.NdisMiniportDmaHandle;
  };
  const plain = removedScripted('dma-not-bus-master', {
    initialize: (a) => {
      register(a, description());
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(plain.r), []);
  const master = removedScripted('dma-statuses', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      register(a, description(0, 3));
      const h = register(a, description(0, NDIS_SG_DMA_DESCRIPTION_REVISION_2));
      register(a, description());
      NdisMDeregisterScatterGatherDma(h!);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(master.r), []);
  assert.deepEqual(statuses, [
    NDIS_STATUS_NOT_SUPPORTED,
    NDIS_STATUS_BAD_VERSION,
    NDIS_STATUS_SUCCESS,
    NDIS_STATUS_RESOURCES,
  ]);
});

test('NdisMRegisterScatterGatherDma: a DmaDescription that is no NDIS_SG_DMA_DESCRIPTION is NdisSim_BadParameter (fatal)', () => {
  const { r } = removedScripted('dma-bad-header', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      const d = description();
      d.Header.Type = NDIS_OBJECT_TYPE_DEFAULT;
      NdisMRegisterScatterGatherDma(a.handle, d);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisMRegisterScatterGatherDma']]);
  assert.match(r.violations[0]!.message, /not an NDIS_SG_DMA_DESCRIPTION/);
});

test('Init_RegisterSG: a channel still registered when MiniportHaltEx returns, or when a failing MiniportInitializeEx returns, is reported; deregistering it again later is NdisSim_ObjectFreedInUse', () => {
  let kept: NDIS_HANDLE | null = null;
  const halted = removedScripted('dma-sg-halt', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      kept = NdisMRegisterScatterGatherDma(a.handle, description()).NdisMiniportDmaHandle;
      return NDIS_STATUS_SUCCESS;
    },
    unload: () => NdisMDeregisterScatterGatherDma(kept!),
  });
  assert.deepEqual(rules(halted.r), [
    ['Init_RegisterSG', 'MiniportHaltEx'],
    ['NdisSim_ObjectFreedInUse', 'NdisMDeregisterScatterGatherDma'],
  ]);
  const failed = removedScripted('dma-sg-init', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      NdisMRegisterScatterGatherDma(a.handle, description());
      return NDIS_STATUS_RESOURCES;
    },
  });
  assert.deepEqual(rules(failed.r), [['Init_RegisterSG', 'MiniportInitializeEx']]);
  assert.match(
    failed.r.violations[0]!.message,
    /failed with its scatter\/gather DMA channel still registered/,
  );
});

test('R2.10 NdisMFreeSharedMemory: shared memory not freed by MiniportHaltEx is NdisSim_ResourceNotFreed; freeing it after the halt is NdisSim_StaleHandle', () => {
  let late: (() => void) | null = null;
  const { r } = removedScripted('dma-leak', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      a.state.dma = NdisMRegisterScatterGatherDma(a.handle, description()).NdisMiniportDmaHandle;
      const m = NdisMAllocateSharedMemory(a.handle, 2048, false);
      late = () => NdisMFreeSharedMemory(a.handle, 2048, false, m.VirtualAddress!, m.PhysicalAddress);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => NdisMDeregisterScatterGatherDma(a.state.dma as NDIS_HANDLE),
    unload: () => late!(),
  });
  assert.deepEqual(rules(r), [
    ['NdisSim_ResourceNotFreed', 'MiniportHaltEx'],
    ['NdisSim_StaleHandle', 'NdisMFreeSharedMemory'],
  ]);
  assert.match(r.violations[0]!.message, /1 block\(s\) of shared memory \(NdisMFreeSharedMemory\)/);
});

test('NdisMAllocateSharedMemory: before NdisMRegisterScatterGatherDma it is NdisSim_SharedMemoryWithoutDma and returns NULL', () => {
  let got: unknown = 'not called';
  const { r } = removedScripted('dma-no-channel', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      got = NdisMAllocateSharedMemory(a.handle, 4096, true);
      // The failure is logged, so WriteErrorLog has nothing to say.
      NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_OUT_OF_RESOURCES, 0);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), [['NdisSim_SharedMemoryWithoutDma', 'NdisMAllocateSharedMemory']]);
  assert.deepEqual(got, { VirtualAddress: null, PhysicalAddress: 0 });
});

test('WriteErrorLog: NdisMAllocateSharedMemory returning NULL (Length 0, or past the 64 MiB limit) in MiniportInitializeEx needs an NdisWriteErrorLogEntry after it', () => {
  const got: unknown[] = [];
  const run = (name: string, log: boolean) =>
    removedScripted(name, {
      registrationAttributes: busMaster,
      initialize: (a) => {
        const h = NdisMRegisterScatterGatherDma(a.handle, description()).NdisMiniportDmaHandle!;
        got.push(NdisMAllocateSharedMemory(a.handle, 0, true));
        got.push(NdisMAllocateSharedMemory(a.handle, 64 * 1024 * 1024 + 1, true));
        if (log) NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_OUT_OF_RESOURCES, 0);
        NdisMDeregisterScatterGatherDma(h);
        return NDIS_STATUS_FAILURE;
      },
    }).r;
  assert.deepEqual(rules(run('dma-nolog', false)), [['WriteErrorLog', 'MiniportInitializeEx']]);
  assert.deepEqual(rules(run('dma-log', true)), []);
  assert.deepEqual(got, Array(4).fill({ VirtualAddress: null, PhysicalAddress: 0 }));
});

test('NdisMFreeSharedMemory: a Length, Cached or PhysicalAddress other than the allocation is NdisSim_SharedMemoryFreeMismatch (the block is freed); a second free is NdisSim_SharedMemoryFreeInvalid, 0x7C/0x03', () => {
  const { r } = removedScripted('dma-free-bad', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      const h = NdisMRegisterScatterGatherDma(a.handle, description()).NdisMiniportDmaHandle!;
      const m = NdisMAllocateSharedMemory(a.handle, 6000, true);
      const va = m.VirtualAddress!;
      NdisMFreeSharedMemory(a.handle, 4096, false, va, m.PhysicalAddress + 4096);
      NdisMFreeSharedMemory(a.handle, 6000, true, va, m.PhysicalAddress);
      NdisMDeregisterScatterGatherDma(h);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), [
    ['NdisSim_SharedMemoryFreeMismatch', 'NdisMFreeSharedMemory'],
    ['NdisSim_SharedMemoryFreeInvalid', 'NdisMFreeSharedMemory'],
  ]);
  assert.match(
    r.violations[0]!.message,
    /Length 4096, allocated 6000; Cached false, allocated true; PhysicalAddress/,
  );
  const bc = r.violations[1]!.bugCheck;
  assert.equal(bc.code, BugCheckCode.BUGCODE_NDIS_DRIVER);
  assert.equal(bc.params[0], 0x03);
});

test('NdisSim_SharedMemoryHighIrql: NdisMAllocateSharedMemory above PASSIVE is 0x7C/0x01 (block, length, IRQL) and returns NULL; Irql_Gather_DMA_Function: NdisMRegisterScatterGatherDma above PASSIVE', () => {
  let got: unknown = 'not called';
  const { r } = removedScripted('dma-irql', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      const h = NdisMRegisterScatterGatherDma(a.handle, description()).NdisMiniportDmaHandle!;
      got = NdisMAllocateSharedMemory(a.handle, 512, true);
      NDIS_LOWER_IRQL(old, 2);
      NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_OUT_OF_RESOURCES, 0);
      NdisMDeregisterScatterGatherDma(h);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), [
    ['Irql_Gather_DMA_Function', 'NdisMRegisterScatterGatherDma'],
    ['NdisSim_SharedMemoryHighIrql', 'NdisMAllocateSharedMemory'],
  ]);
  assert.deepEqual(r.violations[1]!.bugCheck.params, [0x01, 'nic0 miniport block', 512, 2]);
  assert.deepEqual(got, { VirtualAddress: null, PhysicalAddress: 0 });
});

test('NdisSim_DmaOutsideInitHalt: registering or allocating shared memory outside MiniportInitializeEx, or deregistering outside MiniportInitializeEx and MiniportHaltEx, is reported', () => {
  const { r } = removedScripted('dma-outside', {
    registrationAttributes: busMaster,
    restart: (a) => {
      const h = NdisMRegisterScatterGatherDma(a.handle, description()).NdisMiniportDmaHandle!;
      const m = NdisMAllocateSharedMemory(a.handle, 128, true);
      NdisMFreeSharedMemory(a.handle, 128, true, m.VirtualAddress!, m.PhysicalAddress);
      NdisMDeregisterScatterGatherDma(h);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), [
    ['NdisSim_DmaOutsideInitHalt', 'NdisMRegisterScatterGatherDma'],
    ['NdisSim_DmaOutsideInitHalt', 'NdisMAllocateSharedMemory'],
    ['NdisSim_DmaOutsideInitHalt', 'NdisMDeregisterScatterGatherDma'],
  ]);
});

test('NdisMFreeSharedMemory (SDV rule): freeing shared memory in MiniportShutdownEx is reported', () => {
  const drv = scriptedDriver('dma-shutdown', {
    ...dmaHooks(0, [1024], { blocks: [], sgSize: [] }),
    shutdown: (a) => {
      for (const m of a.state.blocks as Block[]) NdisMFreeSharedMemory(a.handle, m.len, true, m.va, m.pa);
    },
  });
  const r = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
    actions: [{ atNs: 300 * ns.ms, action: { kind: 'shutdown' } }],
  }).run(1 * ns.s);
  assert.deepEqual(rules(r), [['NdisMFreeSharedMemory', 'NdisMFreeSharedMemory']]);
});

test('NdisMDeregisterScatterGatherDma: anything but a handle from NdisMRegisterScatterGatherDma is NdisSim_BadParameter; NdisMFreeSharedMemory of a stranger buffer is NdisSim_SharedMemoryFreeInvalid, not a TypeError', () => {
  const free = removedScripted('dma-free-stranger', {
    registrationAttributes: busMaster,
    initialize: (a) => {
      NdisMFreeSharedMemory(a.handle, 16, true, new Uint8Array(16), undefined as unknown as number);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(free.r), [['NdisSim_SharedMemoryFreeInvalid', 'NdisMFreeSharedMemory']]);
  const dereg = removedScripted('dma-dereg-stranger', {
    initialize: (a) => {
      NdisMDeregisterScatterGatherDma(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(dereg.r), [['NdisSim_BadParameter', 'NdisMDeregisterScatterGatherDma']]);
});
