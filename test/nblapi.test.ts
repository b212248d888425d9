// NET_BUFFER, NET_BUFFER_LIST and MDL helpers (src/ndis/api/nblapi.ts): NBLs without
// NET_BUFFERs, NET_BUFFER pools, MDLs, NdisGetDataBuffer, the retreat and advance of
// the data start (per NET_BUFFER and per NBL), NdisCopyFromNetBufferToNetBuffer; what a driver leaves at halt (SDV's NdisAllocateNetBuffer and
// NdisAllocateMdl, NdisSim_ResourceNotFreed for the pools).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisAdvanceNetBufferDataStart,
  NdisAdvanceNetBufferListDataStart,
  NdisAllocateCloneNetBufferList,
  NdisAllocateMdl,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateNetBuffer,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateNetBufferMdlAndData,
  NdisAllocateNetBufferPool,
  NdisCopyFromNetBufferToNetBuffer,
  NdisFreeCloneNetBufferList,
  NdisFreeMdl,
  NdisFreeMemory,
  NdisFreeNetBuffer,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisFreeNetBufferPool,
  NdisGetDataBuffer,
  NdisRetreatNetBufferDataStart,
  NdisRetreatNetBufferListDataStart,
  type NET_BUFFER,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
  World,
} from '../src/index.ts';
import {
  type Hooks,
  removedScripted,
  scriptedDriver,
  stoppedThenRemoved,
  type TestAdapter,
} from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

const tag = 0x6c62656e; // 'nebl'

function nblPool(a: TestAdapter, fAllocateNetBuffer: boolean, DataSize = 0): NDIS_HANDLE {
  return NdisAllocateNetBufferListPool(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer,
    ContextSize: 0,
    PoolTag: tag,
    DataSize,
  })!;
}

function nbPool(a: TestAdapter, DataSize = 0): NDIS_HANDLE {
  return NdisAllocateNetBufferPool(a.handle, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
    PoolTag: tag,
    DataSize,
  })!;
}

/** `body` in MiniportInitializeEx (PASSIVE, adapter handle), `halt` in MiniportHaltEx; collect mode. */
function run(
  name: string,
  body: (a: TestAdapter) => void,
  halt: (a: TestAdapter) => void = () => {},
  more: Hooks = {},
) {
  const { r } = removedScripted(name, {
    ...more,
    initialize: (a) => {
      body(a);
      return NDIS_STATUS_SUCCESS;
    },
    halt,
  });
  return r;
}

const rules = (r: ReturnType<typeof run>) => r.violations.map((v) => [v.rule, v.ddi]);

test('NdisAllocateNetBufferList: a pool with fAllocateNetBuffer FALSE gives NBLs without a NET_BUFFER; one from NdisAllocateNetBuffer is chained and freed apart', () => {
  const seen: { first?: unknown; chained?: number } = {};
  const r = run(
    'nbl-no-nb',
    (a) => {
      const lp = nblPool(a, false);
      const bp = nbPool(a);
      const nbl = NdisAllocateNetBufferList(lp, 0, 0)!;
      seen.first = nbl.FirstNetBuffer;
      const frame = new Uint8Array(64);
      const nb = NdisAllocateNetBuffer(bp, frame, 0, 60)!;
      nbl.FirstNetBuffer = nb;
      seen.chained = nbl.FirstNetBuffer.DataLength;
      Object.assign(a.state, { lp, bp, nbl, nb });
    },
    (a) => {
      const s = a.state as { lp: NDIS_HANDLE; bp: NDIS_HANDLE; nbl: never; nb: NET_BUFFER };
      NdisFreeNetBufferList(s.nbl);
      NdisFreeNetBuffer(s.nb);
      NdisFreeNetBufferPool(s.bp);
      NdisFreeNetBufferListPool(s.lp);
    },
  );
  assert.equal(seen.first, null);
  assert.equal(seen.chained, 60);
  assert.deepEqual(rules(r), []);
});

test('NdisAllocateNetBufferList: from a pool with fAllocateNetBuffer TRUE and a DataSize, the NBL comes with a NET_BUFFER of DataSize bytes', () => {
  const seen: { len?: number; bytes?: number } = {};
  const r = run(
    'nbl-with-nb',
    (a) => {
      const lp = nblPool(a, true, 256);
      const nbl = NdisAllocateNetBufferList(lp, 0, 0)!;
      seen.len = nbl.FirstNetBuffer?.DataLength;
      seen.bytes = nbl.FirstNetBuffer?.Data?.length;
      Object.assign(a.state, { lp, nbl });
    },
    (a) => {
      NdisFreeNetBufferList(a.state.nbl as never);
      NdisFreeNetBufferListPool(a.state.lp as NDIS_HANDLE);
    },
  );
  assert.deepEqual([seen.len, seen.bytes], [256, 256]);
  assert.deepEqual(rules(r), []);
});

// NdisSim_BadParameter is fatal: the run ends at the report, as a bug check would.

test('NdisSim_BadParameter NdisAllocateNetBufferAndNetBufferList: a pool allocated with fAllocateNetBuffer FALSE is the wrong kind', () => {
  const r = run('nbl-kind', (a) => {
    NdisAllocateNetBufferAndNetBufferList(nblPool(a, false), 0, 0, null, 0, 0);
  });
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAllocateNetBufferAndNetBufferList']]);
  assert.match(r.violations[0]!.message, /fAllocateNetBuffer FALSE/);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter');
});

test('NdisSim_BadParameter NdisAllocateNetBufferAndNetBufferList (its page): the pool has DataSize 0; with no MdlChain DataOffset and DataLength are 0; a chain holds them', () => {
  const cases: [number, Uint8Array | null, number, number, RegExp][] = [
    [1514, new Uint8Array(60), 0, 60, /DataSize is 1514, not 0/],
    [0, null, 0, 60, /with no MdlChain, DataOffset and DataLength must be 0/],
    [0, new Uint8Array(60), 14, 60, /holds 60 bytes, fewer than DataOffset \+ DataLength \(74\)/],
  ];
  for (const [dataSize, chain, offset, length, message] of cases) {
    const r = run('nbl-lengths', (a) => {
      const right = NdisAllocateNetBufferAndNetBufferList(nblPool(a, true), 0, 0, new Uint8Array(60), 0, 60)!;
      assert.equal(right.FirstNetBuffer?.Data?.length, 60);
      NdisFreeNetBufferList(right);
      NdisAllocateNetBufferAndNetBufferList(nblPool(a, true, dataSize), 0, 0, chain, offset, length);
    });
    assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAllocateNetBufferAndNetBufferList']]);
    assert.match(r.violations[0]!.message, message);
  }
});

test('NdisSim_BadParameter NdisAllocateNetBufferList: ContextSize not a multiple of MEMORY_ALLOCATION_ALIGNMENT (16 and 32 are)', () => {
  const r = run('nbl-context', (a) => {
    const lp = nblPool(a, false);
    NdisFreeNetBufferList(NdisAllocateNetBufferList(lp, 16, 32)!);
    NdisAllocateNetBufferList(lp, 12, 0);
  });
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAllocateNetBufferList']]);
  assert.match(r.violations[0]!.message, /ContextSize 12/);
});

test('NdisSim_BadParameter NdisAllocateNetBufferAndNetBufferList (nf-nblapi-ndisallocatenetbufferandnetbufferlist): ContextBackFill not a multiple of MEMORY_ALLOCATION_ALIGNMENT (16 and 32 are)', () => {
  const r = run('nbl-nb-context', (a) => {
    const lp = nblPool(a, true);
    NdisFreeNetBufferList(NdisAllocateNetBufferAndNetBufferList(lp, 16, 32, new Uint8Array(60), 0, 60)!);
    NdisAllocateNetBufferAndNetBufferList(lp, 0, 8, new Uint8Array(60), 0, 60);
  });
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAllocateNetBufferAndNetBufferList']]);
  assert.match(r.violations[0]!.message, /ContextBackFill 8/);
});

test('NdisSim_BadParameter NdisAllocateNetBufferListPool (ns-nblapi-net_buffer_list_pool_parameters): a ContextSize that is not a multiple of MEMORY_ALLOCATION_ALIGNMENT, a DataSize with fAllocateNetBuffer FALSE', () => {
  const params = (ContextSize: number, fAllocateNetBuffer: boolean, DataSize: number) => ({
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer,
    ContextSize,
    PoolTag: tag,
    DataSize,
  });
  const cases: [number, boolean, number, RegExp][] = [
    [8, true, 0, /ContextSize 8 is not a multiple of MEMORY_ALLOCATION_ALIGNMENT/],
    [0, false, 256, /DataSize 256 with fAllocateNetBuffer FALSE/],
  ];
  for (const [context, nb, dataSize, message] of cases) {
    const r = run('nbl-pool-params', (a) => {
      // 16 with data buffers is right.
      NdisFreeNetBufferListPool(NdisAllocateNetBufferListPool(a.handle, params(16, true, 256))!);
      NdisAllocateNetBufferListPool(a.handle, params(context, nb, dataSize));
    });
    assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAllocateNetBufferListPool']]);
    assert.match(r.violations[0]!.message, message);
  }
});

test('NdisSim_BadParameter NdisAllocateNetBuffer: an NBL pool handle is not a NET_BUFFER pool (fatal, named)', () => {
  const r = run('nb-wrong-pool', (a) => {
    NdisAllocateNetBuffer(nblPool(a, true), null, 0, 0);
  });
  assert.deepEqual(rules(r).slice(0, 1), [['NdisSim_BadParameter', 'NdisAllocateNetBuffer']]);
  assert.match(r.violations[0]!.message, /an NBL pool/);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter');
});

test('NdisSim_BadParameter NdisAllocateNetBuffer: with no MdlChain DataOffset and DataLength must be 0; a chain must hold them', () => {
  const cases: [Uint8Array | null, number, number, RegExp][] = [
    [null, 0, 14, /with no MdlChain/],
    [new Uint8Array(10), 4, 8, /holds 10 bytes/],
  ];
  for (const [chain, offset, length, message] of cases) {
    const r = run('nb-lengths', (a) => {
      const bp = nbPool(a);
      NdisFreeNetBuffer(NdisAllocateNetBuffer(bp, new Uint8Array(12), 4, 8)!);
      NdisAllocateNetBuffer(bp, chain, offset, length);
    });
    assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAllocateNetBuffer']]);
    assert.match(r.violations[0]!.message, message);
  }
});

test('NdisSim_BadParameter NdisAllocateNetBuffer, NdisAllocateNetBufferPool page: a pool allocated with a DataSize gives its NET_BUFFERs through NdisAllocateNetBufferMdlAndData only', () => {
  const r = run('nb-datasize-pool', (a) => {
    NdisAllocateNetBuffer(nbPool(a, 1514), new Uint8Array(64), 0, 60);
  });
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAllocateNetBuffer']]);
  assert.match(r.violations[0]!.message, /DataSize is 1514, not 0.*NdisAllocateNetBufferMdlAndData/);
});

test('NdisAllocateNetBufferMdlAndData: from a pool with a DataSize, a NET_BUFFER over a buffer of its own of that size, all used data, counted until NdisFreeNetBuffer; from a pool with DataSize 0 it is NdisSim_BadParameter', () => {
  const seen: unknown[] = [];
  const r = run('nb-mdl-and-data', (a) => {
    const bp = nbPool(a, 256);
    const x = NdisAllocateNetBufferMdlAndData(bp)!;
    const y = NdisAllocateNetBufferMdlAndData(bp)!;
    seen.push(x.DataOffset, x.DataLength, x.Data?.length, x.Data !== y.Data);
    NdisFreeNetBuffer(x);
    NdisFreeNetBufferPool(bp); // y is still out: NdisSim_ObjectFreedInUse
    NdisAllocateNetBufferMdlAndData(nbPool(a)); // fatal: no data buffers
  });
  assert.deepEqual(seen, [0, 256, 256, true]);
  assert.deepEqual(rules(r), [
    ['NdisSim_ObjectFreedInUse', 'NdisFreeNetBufferPool'],
    ['NdisSim_BadParameter', 'NdisAllocateNetBufferMdlAndData'],
  ]);
});

test('NdisSim_ObjectFreedInUse NdisFreeNetBufferPool: the pool freed with a NET_BUFFER out; NdisFreeNetBuffer twice', () => {
  const r = run('nb-pool-in-use', (a) => {
    const bp = nbPool(a);
    const nb = NdisAllocateNetBuffer(bp, null, 0, 0)!;
    const nb2 = NdisAllocateNetBuffer(bp, null, 0, 0)!;
    NdisFreeNetBuffer(nb2);
    NdisFreeNetBuffer(nb2);
    NdisFreeNetBufferPool(bp);
    void nb;
  });
  assert.deepEqual(rules(r), [
    ['NdisSim_ObjectFreedInUse', 'NdisFreeNetBuffer'],
    ['NdisSim_ObjectFreedInUse', 'NdisFreeNetBufferPool'],
  ]);
  assert.match(r.violations[1]!.message, /1 NET_BUFFER/);
});

test('NdisAllocateNetBuffer NdisAllocateMdl NdisSim_ResourceNotFreed: a NET_BUFFER pool, a NET_BUFFER and an MDL of the adapter left at halt', () => {
  const r = run(
    'nb-leak',
    (a) => {
      const bp = nbPool(a);
      const mem = NdisAllocateMemoryWithTagPriority(a.handle, 128, tag, 0)!;
      const mdl = NdisAllocateMdl(a.handle, mem, 128)!;
      NdisAllocateNetBuffer(bp, mdl, 0, 128);
      a.state.mem = mem;
    },
    (a) => NdisFreeMemory(a.state.mem as Uint8Array, 0, 0),
  );
  assert.deepEqual(rules(r), [
    ['NdisAllocateNetBuffer', 'MiniportHaltEx'],
    ['NdisAllocateMdl', 'MiniportHaltEx'],
    ['NdisSim_ResourceNotFreed', 'MiniportHaltEx'],
  ]);
  assert.match(r.violations[2]!.message, /1 NET_BUFFER pool\(s\) \(NdisFreeNetBufferPool\)/);
});

test('NdisAllocateMdl NdisFreeMdl: the MDL is the buffer (same bytes, its own identity); freed once, a second free is NdisSim_BadParameter', () => {
  const seen: { same?: boolean; distinct?: boolean; len?: number } = {};
  const r = run('mdl', (a) => {
    const mem = NdisAllocateMemoryWithTagPriority(a.handle, 64, tag, 0)!;
    const mdl = NdisAllocateMdl(a.handle, mem, 32)!;
    mdl[3] = 0x5a;
    seen.same = mem[3] === 0x5a;
    seen.distinct = mdl !== mem;
    seen.len = mdl.length;
    NdisFreeMdl(mdl);
    NdisFreeMdl(mdl);
    NdisFreeMemory(mem, 0, 0);
  });
  assert.deepEqual(seen, { same: true, distinct: true, len: 32 });
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisFreeMdl']]);
});

test('NdisGetDataBuffer: a view of the used data; NULL when the NET_BUFFER has fewer bytes; a misaligned start copies to Storage, or NULL without it', () => {
  const seen: Record<string, unknown> = {};
  const r = run('get-data', (a) => {
    const bp = nbPool(a);
    const frame = new Uint8Array(64).map((_, i) => i);
    const nb = NdisAllocateNetBuffer(bp, frame, 2, 60)!;
    const v = NdisGetDataBuffer(nb, 14, null, 1, 0)!;
    v[0] = 0xee;
    seen.view = [v.length, frame[2]];
    seen.short = NdisGetDataBuffer(nb, 61, null, 1, 0);
    seen.aligned = NdisGetDataBuffer(nb, 4, null, 2, 0)?.[0];
    seen.misalignedNull = NdisGetDataBuffer(nb, 4, null, 4, 0);
    const storage = new Uint8Array(8);
    const c = NdisGetDataBuffer(nb, 4, storage, 4, 0);
    seen.copied = [c === storage, Array.from(storage.subarray(0, 4))];
    seen.offsetOk = NdisGetDataBuffer(nb, 4, null, 4, 2)?.[1];
    NdisFreeNetBuffer(nb);
    NdisFreeNetBufferPool(bp);
  });
  assert.deepEqual(seen, {
    view: [14, 0xee],
    short: null,
    aligned: 0xee,
    misalignedNull: null,
    copied: [true, [0xee, 3, 4, 5]],
    offsetOk: 3,
  });
  assert.deepEqual(rules(r), []);
});

test('NdisRetreatNetBufferDataStart NdisAdvanceNetBufferDataStart: within the unused space only the offsets move; an advance past DataLength is NdisSim_BadParameter', () => {
  const seen: number[][] = [];
  const r = run('retreat-in-place', (a) => {
    const bp = nbPool(a);
    const frame = new Uint8Array(64);
    const nb = NdisAllocateNetBuffer(bp, frame, 20, 40)!;
    const s = NdisRetreatNetBufferDataStart(nb, 14, 0, null);
    seen.push([s, nb.DataOffset, nb.DataLength, nb.Data === frame ? 1 : 0]);
    NdisAdvanceNetBufferDataStart(nb, 14, true, null);
    seen.push([nb.DataOffset, nb.DataLength]);
    NdisAdvanceNetBufferDataStart(nb, 41, false, null); // fatal: the run ends here
  });
  assert.deepEqual(seen, [
    [NDIS_STATUS_SUCCESS, 6, 54, 1],
    [20, 40],
  ]);
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAdvanceNetBufferDataStart']]);
});

test("NdisRetreatNetBufferDataStart: without enough unused space the driver's NetAllocateMdl gives the memory in front; the advance with FreeMdl hands it to NetFreeMdl and the data is the driver's buffer again", () => {
  const seen: Record<string, unknown> = {};
  const r = run('retreat-alloc', (a) => {
    const bp = nbPool(a);
    const frame = new Uint8Array(32).map((_, i) => i);
    const nb = NdisAllocateNetBuffer(bp, frame, 4, 28)!;
    const asked: number[] = [];
    const freed: Uint8Array[] = [];
    let given: Uint8Array | null = null;
    const s = NdisRetreatNetBufferDataStart(nb, 14, 2, (size) => {
      asked.push(size);
      given = new Uint8Array(size);
      return given;
    });
    seen.retreat = [s, asked, nb.DataOffset, nb.DataLength, nb.Data![nb.DataOffset + 14]];
    nb.Data![nb.DataOffset + 14] = 0x77; // the first byte of the old data, through the new chain
    const failed = NdisRetreatNetBufferDataStart(nb, 64, 0, () => null);
    seen.failed = [failed, nb.DataLength];
    NdisAdvanceNetBufferDataStart(nb, 14, true, (m) => freed.push(m));
    seen.advance = [
      nb.Data === frame,
      nb.DataOffset,
      nb.DataLength,
      frame[4],
      freed.length,
      freed[0] === given,
    ];
    NdisFreeNetBuffer(nb);
    NdisFreeNetBufferPool(bp);
  });
  assert.deepEqual(seen, {
    retreat: [NDIS_STATUS_SUCCESS, [16], 2, 42, 4],
    failed: [NDIS_STATUS_RESOURCES, 42],
    advance: [true, 4, 28, 0x77, 1, true],
  });
  assert.deepEqual(rules(r), []);
});

test('NdisGetDataBuffer: a NET_BUFFER whose bytes the model does not carry (Data null) reads as zeroed bytes of its length', () => {
  const seen: unknown[] = [];
  const r = run('get-data-null', (a) => {
    const lp = nblPool(a, true);
    const nbl = NdisAllocateNetBufferAndNetBufferList(lp, 0, 0, null, 0, 0)!;
    const nb = nbl.FirstNetBuffer!;
    nb.DataLength = 20; // as the simulated protocol's sends: a length, no bytes
    const v = NdisGetDataBuffer(nb, 20, null, 1, 0);
    seen.push(
      v?.length,
      v?.every((x) => x === 0),
      nb.Data === null,
    );
    NdisFreeNetBufferList(nbl);
    NdisFreeNetBufferListPool(lp);
  });
  assert.deepEqual(seen, [20, true, false]);
  assert.deepEqual(rules(r), []);
});

test('NdisAllocateMdl: an MDL left at one halt is reported once, not again at the next halt of the adapter (stop, then remove)', () => {
  let made = false;
  const r = stoppedThenRemoved(
    scriptedDriver('mdl-once', {
      initialize: (a) => {
        if (!made) {
          made = true;
          NdisAllocateMdl(a.handle, NdisAllocateMemoryWithTagPriority(a.handle, 16, tag, 0)!, 16);
        }
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  assert.deepEqual(
    r.violations.filter((v) => v.rule === 'NdisAllocateMdl').map((v) => v.ddi),
    ['MiniportHaltEx'],
  );
});

test('NdisAllocateNetBufferPool NdisAllocateMdl: a filter driver allocates with its NdisFilterHandle and its filter driver handle (any handle of its initialization), not as a bad handle', () => {
  const done: string[] = [];
  const lwf = variantOfMonitorLwf('nbl-lwf', 'a filter that builds frames of its own', (c, driver) => {
    const restart = c.RestartHandler;
    c.RestartHandler = (m, p) => {
      for (const h of [m.handle, driver.handle!]) {
        const pool = NdisAllocateNetBufferPool(h, {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
          PoolTag: tag,
          DataSize: 0,
        });
        assert.ok(pool !== null);
        const bytes = new Uint8Array(64);
        const mdl = NdisAllocateMdl(h, bytes, 64);
        assert.ok(mdl !== null);
        const nb = NdisAllocateNetBuffer(pool, mdl, 4, 60);
        assert.ok(nb !== null);
        NdisFreeNetBuffer(nb);
        NdisFreeMdl(mdl);
        NdisFreeNetBufferPool(pool);
        done.push(h === m.handle ? 'module' : 'driver');
      }
      return restart(m, p);
    };
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(lwf);
  w.addFilter(lwf.name);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(done, ['module', 'driver']);
});

test('FilterDetach: a NET_BUFFER pool (with a NET_BUFFER out) and an MDL the module allocated with its NdisFilterHandle and did not free are reported (NdisSim_ResourceNotFreed)', () => {
  const lwf = variantOfMonitorLwf('nbl-lwf-leaks', 'a filter that keeps its frame buffers', (c) => {
    const restart = c.RestartHandler;
    c.RestartHandler = (m, p) => {
      const pool = NdisAllocateNetBufferPool(m.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
        PoolTag: tag,
        DataSize: 0,
      });
      const mdl = NdisAllocateMdl(m.handle, new Uint8Array(64), 64);
      assert.ok(pool !== null && mdl !== null);
      assert.ok(NdisAllocateNetBuffer(pool, mdl, 0, 64) !== null);
      return restart(m, p);
    };
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(lwf);
  w.addFilter(lwf.name);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(ns.s);
  assert.deepEqual(
    r.violations.map((v) => `${v.rule} ${v.ddi}`),
    ['NdisSim_ResourceNotFreed FilterDetach'],
  );
  assert.match(
    r.violations[0]!.message,
    /1 NET_BUFFER pool\(s\) \(NdisFreeNetBufferPool\) with 1 NET_BUFFER\(s\) out and 1 MDL\(s\) \(NdisFreeMdl\)/,
  );
});

test('nf-nblapi-ndisallocateclonenetbufferlist: a clone made with a NetBufferPoolHandle takes its NET_BUFFERs from that pool until NdisFreeCloneNetBufferList; freeing the pool first is NdisSim_ObjectFreedInUse', () => {
  const go = (poolFirst: boolean) =>
    run(`clone-nb-pool-${poolFirst}`, (a) => {
      const lp = nblPool(a, true);
      const bp = nbPool(a);
      const nbl = NdisAllocateNetBufferAndNetBufferList(lp, 0, 0, new Uint8Array(64), 0, 60)!;
      const clone = NdisAllocateCloneNetBufferList(nbl, lp, bp, 0)!;
      if (poolFirst) NdisFreeNetBufferPool(bp);
      NdisFreeCloneNetBufferList(clone, 0);
      if (!poolFirst) NdisFreeNetBufferPool(bp);
      NdisFreeNetBufferList(nbl);
      NdisFreeNetBufferListPool(lp);
    });
  assert.deepEqual(rules(go(false)), []);
  const r = go(true);
  assert.deepEqual(rules(r), [['NdisSim_ObjectFreedInUse', 'NdisFreeNetBufferPool']]);
  assert.match(r.violations[0]!.message, /1 NET_BUFFER\(s\) still allocated/);
});

test('R5.20: after MiniportHaltEx, NdisAllocateNetBufferList and NdisAllocateNetBufferAndNetBufferList on a pool of the adapter handle are both NdisSim_StaleHandle and return NULL', () => {
  let lp: NDIS_HANDLE | null = null;
  const got: unknown[] = [];
  const r = run(
    'nbl-after-halt',
    (a) => {
      lp = nblPool(a, true);
    },
    () => {},
    {
      unload: () => {
        got.push(NdisAllocateNetBufferList(lp!, 0, 0));
        got.push(NdisAllocateNetBufferAndNetBufferList(lp!, 0, 0, new Uint8Array(64), 0, 60));
      },
    },
  );
  assert.deepEqual(got, [null, null]);
  assert.deepEqual(
    rules(r).filter(([rule]) => rule === 'NdisSim_StaleHandle'),
    [
      ['NdisSim_StaleHandle', 'NdisAllocateNetBufferList'],
      ['NdisSim_StaleHandle', 'NdisAllocateNetBufferAndNetBufferList'],
    ],
  );
});

test('NdisRetreatNetBufferListDataStart NdisAdvanceNetBufferListDataStart: every NET_BUFFER moves; when one cannot get memory the ones before it are advanced back (their new memory to FreeMdlHandler) and the status is the failure; an advance past one NET_BUFFER’s data is NdisSim_BadParameter', () => {
  const seen: Record<string, unknown> = {};
  const r = run('nbl-retreat', (a) => {
    const lp = nblPool(a, false);
    const bp = nbPool(a);
    const f1 = new Uint8Array(64);
    const f2 = new Uint8Array(64);
    const nbl = NdisAllocateNetBufferList(lp, 0, 0)!;
    const nb1 = NdisAllocateNetBuffer(bp, f1, 2, 40)!;
    const nb2 = NdisAllocateNetBuffer(bp, f2, 2, 30)!;
    nbl.FirstNetBuffer = nb1;
    nb1.Next = nb2;
    // Both need new memory for 10 bytes: the first gets it, the second does not.
    let calls = 0;
    let given: Uint8Array | null = null;
    const freed: Uint8Array[] = [];
    const failed = NdisRetreatNetBufferListDataStart(
      nbl,
      10,
      0,
      (size) => {
        calls++;
        if (calls > 1) return null;
        given = new Uint8Array(size);
        return given;
      },
      (m) => freed.push(m),
    );
    seen.failed = [
      failed,
      calls,
      nb1.Data === f1,
      nb1.DataOffset,
      nb1.DataLength,
      freed.length,
      freed[0] === given,
    ];
    seen.unchanged = [nb2.Data === f2, nb2.DataOffset, nb2.DataLength];
    const ok = NdisRetreatNetBufferListDataStart(nbl, 2, 0, null, null);
    seen.ok = [ok, nb1.DataOffset, nb1.DataLength, nb2.DataOffset, nb2.DataLength];
    NdisAdvanceNetBufferListDataStart(nbl, 2, false, null);
    seen.back = [nb1.DataOffset, nb1.DataLength, nb2.DataOffset, nb2.DataLength];
    NdisAdvanceNetBufferListDataStart(nbl, 31, false, null); // fatal: the second holds 30
  });
  assert.deepEqual(seen, {
    failed: [NDIS_STATUS_RESOURCES, 2, true, 2, 40, 1, true],
    unchanged: [true, 2, 30],
    ok: [NDIS_STATUS_SUCCESS, 0, 42, 0, 32],
    back: [2, 40, 2, 30],
  });
  assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisAdvanceNetBufferListDataStart']]);
  assert.match(
    r.violations[0]!.message,
    /31 is more than the 30 bytes of used data space of NET_BUFFER 2 of 2/,
  );
});

test('NdisCopyFromNetBufferToNetBuffer: offsets count from each data start; the copy stops where the source’s data or the destination’s memory ends, says how much it copied, and leaves the destination’s lengths to the caller', () => {
  const seen: Record<string, unknown> = {};
  const r = run('nb-copy', (a) => {
    const bp = nbPool(a);
    const src = NdisAllocateNetBuffer(
      bp,
      new Uint8Array(32).map((_, i) => i),
      4,
      20,
    )!;
    const dstBytes = new Uint8Array(16);
    const dst = NdisAllocateNetBuffer(bp, dstBytes, 2, 0)!;
    // From byte 4 + 3 of the source, to byte 2 + 1 of the destination: 13 bytes fit.
    const c = NdisCopyFromNetBufferToNetBuffer(dst, 1, 100, src, 3);
    seen.copy = [
      c.Status,
      c.BytesCopied,
      [...dstBytes.subarray(3, 16)],
      dstBytes[2],
      dst.DataOffset,
      dst.DataLength,
    ];
    // The source holds 20 bytes of data: 5 are left past SourceOffset 15.
    const d = NdisCopyFromNetBufferToNetBuffer(dst, 0, 8, src, 15);
    seen.short = [d.BytesCopied, [...dstBytes.subarray(2, 7)]];
    seen.none = NdisCopyFromNetBufferToNetBuffer(dst, 0, 8, src, 25).BytesCopied;
    NdisFreeNetBuffer(src);
    NdisFreeNetBuffer(dst);
    NdisFreeNetBufferPool(bp);
  });
  assert.deepEqual(seen, {
    copy: [NDIS_STATUS_SUCCESS, 13, [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], 0, 2, 0],
    short: [5, [19, 20, 21, 22, 23]],
    none: 0,
  });
  assert.deepEqual(rules(r), []);
});
