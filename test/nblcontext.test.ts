// NBL context space (ns-nbl-net_buffer_list_context, NdisAllocateNetBufferListContext,
// NdisFreeNetBufferListContext, NET_BUFFER_LIST_CONTEXT_DATA_START/SIZE): a stack every
// driver an NBL passes through shares. Filters that time their sends in it, stacked
// two deep, each read back their own bytes; a driver that leaves its space in place
// when it gives the NBL back up, or frees another's, is NdisSim_NblContext (R6.9,
// R6.13, R7.5); sizes that are not whole pointers, or a free of more than is in use,
// are NdisSim_BadParameter.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scriptedDriver } from '../src/drivers/buggy/base.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisAllocateNetBufferList,
  NdisAllocateNetBufferListContext,
  NdisAllocateNetBufferListPool,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListContext,
  NdisFreeNetBufferListPool,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisMSendNetBufferListsComplete,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_CONTEXT_DATA_SIZE,
  NET_BUFFER_LIST_CONTEXT_DATA_START,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  World,
} from '../src/index.ts';
import { ns } from './helpers/world.ts';

interface TimerOptions {
  /** Bytes it takes per send (default 8) and backfill it asks for (default 8). */
  size?: number;
  backFill?: number;
  /** Bytes it frees at completion (default: what it took). */
  freeSize?: number;
  /** Also stamp receives and return them without freeing the space. */
  keepOnReceive?: boolean;
}

interface Tally {
  stamped: number;
  matched: number;
  contextGone: number;
}

/** A filter that stamps each send with its own mark and serial in context space and checks them at completion. */
function timingLwf(name: string, mark: number, tally: Tally, o: TimerOptions = {}): DriverModule {
  const size = o.size ?? 8;
  return variantOfMonitorLwf(name, 'times its sends in NBL context space', (c) => {
    let serial = 0;
    const stampOf = (x: NET_BUFFER_LIST) => {
      const v = NET_BUFFER_LIST_CONTEXT_DATA_START(x);
      return new DataView(v.buffer, v.byteOffset, 8);
    };
    c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
        assert.equal(
          NdisAllocateNetBufferListContext(x, size, o.backFill ?? 8, 0x656d6974),
          NDIS_STATUS_SUCCESS,
        );
        const d = stampOf(x);
        d.setUint32(0, mark, true);
        d.setUint32(4, ++serial, true);
        x.MiniportReserved[0] = serial;
        tally.stamped++;
      }
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    c.SendNetBufferListsCompleteHandler = (m, nbls, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
        const d = stampOf(x);
        if (d.getUint32(0, true) === mark) tally.matched++;
        NdisFreeNetBufferListContext(x, o.freeSize ?? size);
        if (x.Context === null) tally.contextGone++;
      }
      NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
    };
    if (o.keepOnReceive) {
      c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
        for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
          NdisAllocateNetBufferListContext(x, 8, 0, 0x656d6974);
        NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
      };
      c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
    }
    withStatusPassedOn(c);
  });
}

/** A run with `filters` installed over nic0, the one nearest the miniport first. */
function run(filters: DriverModule[], rxPerSecond = 0): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  for (const f of filters) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 200, returnDelayNs: ns.ms } });
  w.addDevice({
    name: 'nic0',
    driver: 'healthy-nic',
    wire: rxPerSecond > 0 ? { rxPerSecond, rxFrameBytes: 100 } : undefined,
  });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(300 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run(ns.s);
  return w;
}

const violations = (w: World) => (w.lastResult?.violations ?? []).map((v) => `${v.rule}: ${v.message}`);

test('two filters that time their sends in NBL context space each read back their own stamp, and the space NDIS added is gone when the NBL leaves the upper one: no rule broken', () => {
  const upper: Tally = { stamped: 0, matched: 0, contextGone: 0 };
  const lower: Tally = { stamped: 0, matched: 0, contextGone: 0 };
  const w = run([timingLwf('timing-b', 0xb, lower), timingLwf('timing-a', 0xa, upper)]);
  assert.deepEqual(violations(w), []);
  assert.ok(upper.stamped > 20, `${upper.stamped} sends stamped`);
  assert.equal(lower.stamped, upper.stamped);
  // Each reads its own mark, not the other's: the stack keeps them apart.
  assert.equal(upper.matched, upper.stamped);
  assert.equal(lower.matched, lower.stamped);
  // The upper filter's 8 + 8 backfill made the block; the lower one's 8 fitted in the
  // backfill, so only the upper one's free empties the block NDIS added.
  assert.equal(upper.contextGone, upper.stamped);
  assert.equal(lower.contextGone, 0);
  assert.equal(w.device('nic0').status, 'removed');
});

test('NdisSim_NblContext: a filter that completes sends up with its context space still in use is reported at NdisFSendNetBufferListsComplete, once per NBL', () => {
  const t: Tally = { stamped: 0, matched: 0, contextGone: 0 };
  const leaky = variantOfMonitorLwf('leaky-timing', 'never frees its context space', (c) => {
    c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next) {
        NdisAllocateNetBufferListContext(x, 8, 0, 0);
        t.stamped++;
      }
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    c.SendNetBufferListsCompleteHandler = (m, nbls, flags) =>
      NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
    withStatusPassedOn(c);
  });
  const w = run([leaky]);
  const v = w.lastResult!.violations;
  assert.ok(t.stamped > 20, `${t.stamped} sends`);
  assert.equal(v.length, t.stamped, violations(w).join('\n'));
  assert.ok(
    v.every((x) => x.rule === 'NdisSim_NblContext' && x.ddi === 'NdisFSendNetBufferListsComplete'),
    violations(w).join('\n'),
  );
  assert.match(v[0]!.message, /leaky-timing gave NBL #\d+ back with 8 byte\(s\) of context space/);
});

test('NdisSim_NblContext: a filter that returns receives with context space it took is reported at NdisFReturnNetBufferLists', () => {
  const t: Tally = { stamped: 0, matched: 0, contextGone: 0 };
  const w = run([timingLwf('timing-rx', 0xc, t, { keepOnReceive: true })], 500);
  const v = w.lastResult!.violations;
  assert.ok(v.length > 20, violations(w).join('\n'));
  assert.ok(
    v.every((x) => x.rule === 'NdisSim_NblContext' && x.ddi === 'NdisFReturnNetBufferLists'),
    violations(w).join('\n'),
  );
});

test('NdisSim_NblContext: the lower filter frees 16 bytes where it took 8, taking the upper one’s space: reported at NdisFreeNetBufferListContext, naming the owner', () => {
  const upper: Tally = { stamped: 0, matched: 0, contextGone: 0 };
  const lower: Tally = { stamped: 0, matched: 0, contextGone: 0 };
  const w = run([
    // Its free takes the upper filter's bytes too.
    timingLwf('timing-down', 0xb, lower, { freeSize: 16 }),
    timingLwf('timing-up', 0xa, upper),
  ]);
  const v = w.lastResult!.violations;
  assert.ok(v.length > 0, 'reported');
  assert.equal(v[0]!.rule, 'NdisSim_NblContext', violations(w).join('\n'));
  assert.equal(v[0]!.ddi, 'NdisFreeNetBufferListContext');
  assert.match(
    v[0]!.message,
    /timing-down freed 8 byte\(s\) of NBL #\d+'s context space that timing-up allocated/,
  );
});

test('NdisSim_BadParameter: a context size that is not a multiple of sizeof(void*), and a free of more than is in use, stop the run', () => {
  const t: Tally = { stamped: 0, matched: 0, contextGone: 0 };
  const odd = run([timingLwf('timing-odd', 1, t, { size: 12 })]);
  assert.equal(odd.lastResult!.verdict, 'bugcheck');
  assert.equal(odd.lastResult!.bugCheck?.rule, 'NdisSim_BadParameter');
  assert.match(
    odd.lastResult!.bugCheck!.message,
    /ContextSize 12 and ContextBackFill 8 must be multiples of sizeof\(void\*\) \(8\)/,
  );
  const over = run([timingLwf('timing-over', 1, t, { freeSize: 24 })]);
  assert.equal(over.lastResult!.bugCheck?.rule, 'NdisSim_BadParameter');
  assert.match(
    over.lastResult!.bugCheck!.message,
    /ContextSize 24 but only 8 byte\(s\) of its current context block are in use/,
  );
});

test('NdisAllocateNetBufferList: the pool’s ContextSize is preallocated, the call’s ContextSize is in use at the front of it, and a later allocation that fits takes from the unused part', () => {
  const seen: number[] = [];
  const f = variantOfMonitorLwf('context-pool', 'allocates an NBL with context', (c) => {
    const restart = c.RestartHandler;
    c.RestartHandler = (m, p) => {
      const pool = NdisAllocateNetBufferListPool(m.handle, {
        Header: {
          Type: NDIS_OBJECT_TYPE_DEFAULT,
          Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
          Size: 0,
        },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 48,
        PoolTag: 0x6c6f6f70,
        DataSize: 64,
      })!;
      const nbl = NdisAllocateNetBufferList(pool, 16, 0)!;
      seen.push(
        NET_BUFFER_LIST_CONTEXT_DATA_SIZE(nbl),
        nbl.Context!.Offset,
        NET_BUFFER_LIST_CONTEXT_DATA_START(nbl).length,
      );
      NdisAllocateNetBufferListContext(nbl, 16, 0, 0);
      seen.push(nbl.Context!.Offset, nbl.Context!.Next === null ? 1 : 0);
      NdisFreeNetBufferListContext(nbl, 16);
      seen.push(nbl.Context!.Offset);
      NdisFreeNetBufferList(nbl);
      NdisFreeNetBufferListPool(pool);
      return restart!(m, p);
    };
  });
  const w = run([f]);
  assert.deepEqual(violations(w), []);
  // Size 48 (the pool's), 16 in use (Offset 32); a 16-byte allocation fits (Offset 16, no
  // new block); the free gives it back (Offset 32).
  assert.deepEqual(seen.slice(0, 6), [48, 32, 16, 16, 1, 32]);
});

test('NET_BUFFER_LIST_CONTEXT_DATA_START on an NBL without context space is the driver’s null dereference: a driver exception naming the macro', () => {
  const f = variantOfMonitorLwf('reads-no-context', 'reads context it never allocated', (c) => {
    c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
      NET_BUFFER_LIST_CONTEXT_DATA_START(nbls);
      NdisFSendNetBufferLists(m.handle, nbls, port, flags);
    };
    withStatusPassedOn(c);
  });
  const w = run([f]);
  assert.equal(w.lastResult!.bugCheck?.rule, 'NdisSim_DriverException');
  assert.match(
    w.lastResult!.bugCheck!.message,
    /NET_BUFFER_LIST_CONTEXT_DATA_START: NBL #\d+ has no context space/,
  );
});

test('NdisSim_NblContext: a miniport that keeps per-send state in NBL context space and completes the sends without freeing it is reported at NdisMSendNetBufferListsComplete; freeing first passes', () => {
  for (const free of [false, true]) {
    const name = free ? 'ctx-miniport-frees' : 'ctx-miniport-keeps';
    const w = new World({ seed: 1, verifier: 'collect' });
    w.addDriver(
      scriptedDriver(name, {
        send(a, chain, _port, flags) {
          for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
            NdisAllocateNetBufferListContext(x, 16, 0, 0);
            x.Status = NDIS_STATUS_SUCCESS;
            if (free) NdisFreeNetBufferListContext(x, 16);
          }
          const dispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
          NdisMSendNetBufferListsComplete(
            a.handle,
            chain,
            dispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
          );
        },
      }),
    );
    w.addProtocol('tcpip', { traffic: { ratePerSecond: 100 } });
    w.addDevice({ name: 'nic0', driver: name });
    w.at(0, { kind: 'start', device: 'nic0' });
    const r = w.run(200 * ns.ms);
    if (free) assert.deepEqual(violations(w), []);
    else {
      assert.ok(r.violations.length > 5, violations(w).join('\n'));
      assert.ok(
        r.violations.every(
          (v) => v.rule === 'NdisSim_NblContext' && v.ddi === 'NdisMSendNetBufferListsComplete',
        ),
        violations(w).join('\n'),
      );
      assert.match(r.violations[0]!.message, /ctx-miniport-keeps gave NBL #\d+ back with 16 byte\(s\)/);
    }
  }
});
