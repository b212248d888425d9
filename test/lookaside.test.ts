// Nonpaged lookaside lists (NdisInitializeNPagedLookasideList and its family): entries
// of one size, reused once freed to the list, the driver's own Allocate and Free
// routines, the reserved parameters, and entries counted as the driver's pool
// (R2.16: pool left at unload is 0xC4/0x62).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_STATUS_SUCCESS,
  NdisAllocateFromNPagedLookasideList,
  NdisDeleteNPagedLookasideList,
  NdisFreeToNPagedLookasideList,
  NdisInitializeNPagedLookasideList,
  NPAGED_LOOKASIDE_LIST,
} from '../src/index.ts';
import { type Hooks, removedScripted, type TestAdapter } from './helpers/scripted.ts';

const tag = 0x6b6f6f6c; // 'look'

/** nic0 of `hooks`, removed at 1 s so the driver unloads; collect mode. */
function removedAt1s(name: string, hooks: Hooks) {
  return removedScripted(name, hooks).r;
}

/** A list made in MiniportInitializeEx; `body` runs right after, `halt` in MiniportHaltEx. */
function withList(
  name: string,
  body: (l: NPAGED_LOOKASIDE_LIST, a: TestAdapter) => void,
  halt: (l: NPAGED_LOOKASIDE_LIST, a: TestAdapter) => void = (l) => NdisDeleteNPagedLookasideList(l),
) {
  return removedAt1s(name, {
    initialize: (a) => {
      const l = new NPAGED_LOOKASIDE_LIST();
      NdisInitializeNPagedLookasideList(l, null, null, 0, 128, tag, 0);
      a.state.list = l;
      body(l, a);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => halt(a.state.list as NPAGED_LOOKASIDE_LIST, a),
  });
}

const rules = (r: ReturnType<typeof removedAt1s>) => r.violations.map((v) => [v.rule, v.ddi]);

test('lookaside: entries have the list size, are distinct while out, and an entry freed to the list comes back on the next allocation', () => {
  let same = false;
  const r = withList('la-reuse', (l) => {
    const a = NdisAllocateFromNPagedLookasideList(l)!;
    const b = NdisAllocateFromNPagedLookasideList(l)!;
    assert.equal(a.length, 128);
    assert.notEqual(a, b);
    NdisFreeToNPagedLookasideList(l, a);
    same = NdisAllocateFromNPagedLookasideList(l) === a;
    NdisFreeToNPagedLookasideList(l, a);
    NdisFreeToNPagedLookasideList(l, b);
  });
  assert.ok(same);
  assert.deepEqual(rules(r), []);
});

test('lookaside, R2.16: an entry never freed, or a list never deleted with entries on it, is pool left at unload (0xC4/0x62)', () => {
  const kept = withList('la-kept', (l) => {
    NdisAllocateFromNPagedLookasideList(l);
  });
  assert.deepEqual(rules(kept), [['NdisSim_PoolNotFreedAtUnload', 'MiniportDriverUnload']]);
  assert.match(kept.violations[0]!.message, /1 pool allocation\(s\) .*128 bytes/);
  const undeleted = withList(
    'la-undeleted',
    (l) => {
      const e = [1, 2, 3].map(() => NdisAllocateFromNPagedLookasideList(l)!);
      for (const x of e) NdisFreeToNPagedLookasideList(l, x);
    },
    () => {},
  );
  assert.deepEqual(rules(undeleted), [['NdisSim_PoolNotFreedAtUnload', 'MiniportDriverUnload']]);
  assert.match(undeleted.violations[0]!.message, /3 pool allocation\(s\)/);
});

test("lookaside: the driver's Allocate routine makes entries when the list has none, and its Free routine takes them back at delete", () => {
  const log: string[] = [];
  const r = removedAt1s('la-own', {
    initialize: () => {
      const l = new NPAGED_LOOKASIDE_LIST();
      NdisInitializeNPagedLookasideList(
        l,
        (pool, size, t) => {
          log.push(`allocate(${pool}, ${size}, ${t === tag})`);
          return new Uint8Array(size);
        },
        () => log.push('free'),
        0,
        64,
        tag,
        0,
      );
      const e = NdisAllocateFromNPagedLookasideList(l)!;
      NdisFreeToNPagedLookasideList(l, e);
      NdisFreeToNPagedLookasideList(l, NdisAllocateFromNPagedLookasideList(l)!); // reused: no call
      NdisDeleteNPagedLookasideList(l);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(log, ['allocate(0, 64, true)', 'free']);
  assert.deepEqual(rules(r), []);
});

test('lookaside: a foreign or twice-freed entry, nonzero Flags or Depth, and an Allocate without a Free are NdisSim_BadParameter (fatal: a corrupt list); a deleted list is NdisSim_ObjectFreedInUse', () => {
  // NdisSim_BadParameter stops the run even in collect mode, so one mistake a world.
  const twice = withList('la-twice', (l) => {
    const e = NdisAllocateFromNPagedLookasideList(l)!;
    NdisFreeToNPagedLookasideList(l, e);
    NdisFreeToNPagedLookasideList(l, e);
  });
  const foreign = withList('la-foreign', (l) => NdisFreeToNPagedLookasideList(l, new Uint8Array(128)));
  for (const r of [twice, foreign]) {
    assert.deepEqual(rules(r), [['NdisSim_BadParameter', 'NdisFreeToNPagedLookasideList']]);
    assert.match(r.violations[0]!.message, /not one this list gave out, or it was freed already/);
  }
  const cases = [
    [1, 0, true, 'Flags is 1; it is reserved and must be 0'],
    [0, 4, true, 'Depth is 4; it is reserved and must be 0'],
    [0, 0, false, 'an Allocate routine without a Free routine'],
  ] as const;
  for (const [flags, depth, withFree, message] of cases) {
    const r = removedAt1s(`la-reserved-${flags}-${depth}-${withFree}`, {
      initialize: () => {
        const l = new NPAGED_LOOKASIDE_LIST();
        NdisInitializeNPagedLookasideList(l, () => null, withFree ? () => {} : null, flags, 64, tag, depth);
        NdisDeleteNPagedLookasideList(l);
        return NDIS_STATUS_SUCCESS;
      },
    });
    assert.deepEqual(
      r.violations.map((v) => [v.rule, v.message]),
      [['NdisSim_BadParameter', `NdisInitializeNPagedLookasideList: ${message}`]],
    );
  }
  const deleted = withList(
    'la-deleted',
    (l) => {
      NdisDeleteNPagedLookasideList(l);
      NdisAllocateFromNPagedLookasideList(l);
    },
    () => {},
  );
  assert.deepEqual(rules(deleted), [['NdisSim_ObjectFreedInUse', 'NdisAllocateFromNPagedLookasideList']]);
});

test('lookaside, R2.16: a list made in DriverEntry before the driver registered still counts its entries as the driver pool; an entry larger than the model grants is NULL', () => {
  const l = new NPAGED_LOOKASIDE_LIST();
  let huge: unknown = 'not called';
  const r = removedAt1s('la-early', {
    // Runs in DriverEntry, before NdisMRegisterMiniportDriver.
    characteristics: () => NdisInitializeNPagedLookasideList(l, null, null, 0, 256, tag, 0),
    initialize: () => {
      NdisAllocateFromNPagedLookasideList(l); // kept: a leak at unload
      const big = new NPAGED_LOOKASIDE_LIST();
      NdisInitializeNPagedLookasideList(big, null, null, 0, 2 ** 31, tag, 0);
      huge = NdisAllocateFromNPagedLookasideList(big);
      NdisDeleteNPagedLookasideList(big);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(huge, null);
  assert.deepEqual(rules(r), [['NdisSim_PoolNotFreedAtUnload', 'MiniportDriverUnload']]);
  assert.match(r.violations[0]!.message, /1 pool allocation\(s\) .*256 bytes/);
});
