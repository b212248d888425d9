// Generic objects (src/ndis/api/generic.ts): NdisAllocateGenericObject gives code with
// no NDIS handle one for the pool calls (obtaining-pool-handles); NdisFreeGenericObject
// comes after those pools are freed; the SDV rule NdisAllocateGenericObject wants every
// one freed by the end of MiniportHaltEx (R2.10), and the driver's by its unload (R2.16).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type NDIS_GENERIC_OBJECT,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NdisAllocateGenericObject,
  NdisAllocateNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateNetBufferPool,
  NdisFreeGenericObject,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisFreeNetBufferPool,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
} from '../src/index.ts';
import { removedScripted, type TestAdapter } from './helpers/scripted.ts';

const tag = 0x6e656730; // '0gen'

const nblPool = (o: NDIS_GENERIC_OBJECT) =>
  NdisAllocateNetBufferListPool(o, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
    ProtocolId: 0,
    fAllocateNetBuffer: false,
    ContextSize: 0,
    PoolTag: tag,
    DataSize: 0,
  });

const nbPool = (o: NDIS_GENERIC_OBJECT) =>
  NdisAllocateNetBufferPool(o, {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
    PoolTag: tag,
    DataSize: 0,
  });

/** `init` in MiniportInitializeEx, `halt` in MiniportHaltEx; removed at 1 s, collect mode. */
function run(name: string, init: (a: TestAdapter) => void, halt: (a: TestAdapter) => void) {
  return removedScripted(name, {
    initialize: (a) => {
      init(a);
      return NDIS_STATUS_SUCCESS;
    },
    halt,
  });
}

const rules = (r: { violations: { rule: string; ddi: string }[] }) =>
  r.violations.map((v) => [v.rule, v.ddi]);

test('NdisAllocateGenericObject: its object is a handle for both pool calls; pools, then the object, freed in MiniportHaltEx: no rule broken', () => {
  const seen: { extension?: number; nbl?: boolean } = {};
  const { r } = run(
    'generic-ok',
    (a) => {
      const o = NdisAllocateGenericObject(null, tag, 24)!;
      seen.extension = o.Extension.length;
      a.state.o = o;
      a.state.nbl = nblPool(o);
      a.state.nb = nbPool(o);
      const nbl = NdisAllocateNetBufferList(a.state.nbl as NDIS_HANDLE, 0, 0);
      seen.nbl = nbl !== null;
      if (nbl !== null) NdisFreeNetBufferList(nbl);
    },
    (a) => {
      NdisFreeNetBufferListPool(a.state.nbl as NDIS_HANDLE);
      NdisFreeNetBufferPool(a.state.nb as NDIS_HANDLE);
      NdisFreeGenericObject(a.state.o as NDIS_GENERIC_OBJECT);
    },
  );
  assert.deepEqual(rules(r), []);
  assert.deepEqual(seen, { extension: 24, nbl: true });
});

test('NdisAllocateGenericObject (SDV, R2.10): an object the handlers allocated and MiniportHaltEx did not free is reported when the halt returns, once', () => {
  const { r } = run(
    'generic-kept',
    (a) => {
      a.state.o = NdisAllocateGenericObject(null, tag, 0);
    },
    () => {},
  );
  assert.deepEqual(rules(r), [['NdisAllocateGenericObject', 'MiniportHaltEx']]);
  assert.match(r.violations[0]!.message, /1 generic object\(s\)/);
  assert.equal(r.violations[0]!.adapter, 'nic0');
});

test("NdisAllocateGenericObject (SDV, R2.16): one the driver allocated in DriverEntry is not the halt's; the driver unloads without freeing it", () => {
  let kept: NDIS_GENERIC_OBJECT | null = null;
  const { r } = removedScripted('generic-driver', {
    driverEntry: () => {
      kept = NdisAllocateGenericObject(null, tag, 0);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.ok(kept !== null);
  assert.deepEqual(rules(r), [['NdisAllocateGenericObject', 'MiniportDriverUnload']]);
  // Freed in its unload, it is not reported.
  const { r: ok } = removedScripted('generic-driver-ok', {
    driverEntry: () => {
      kept = NdisAllocateGenericObject(null, tag, 0);
      return NDIS_STATUS_SUCCESS;
    },
    unload: () => NdisFreeGenericObject(kept!),
  });
  assert.deepEqual(rules(ok), []);
});

test('NdisFreeGenericObject: with a pool of it still allocated is NdisSim_ObjectFreedInUse; a second free is the SDV rule (allocation and free alternate)', () => {
  const { r } = run(
    'generic-early',
    (a) => {
      const o = NdisAllocateGenericObject(null, tag, 0)!;
      a.state.pool = nbPool(o);
      NdisFreeGenericObject(o);
      NdisFreeGenericObject(o);
    },
    (a) => NdisFreeNetBufferPool(a.state.pool as NDIS_HANDLE),
  );
  assert.deepEqual(rules(r), [
    ['NdisSim_ObjectFreedInUse', 'NdisFreeGenericObject'],
    ['NdisAllocateGenericObject', 'NdisFreeGenericObject'],
  ]);
  assert.match(r.violations[0]!.message, /1 pool\(s\)/);
});

test('NdisAllocateNetBufferListPool with a freed generic object stops the run (NdisSim_ObjectFreedInUse)', () => {
  const { r } = run(
    'generic-freed-handle',
    () => {
      const o = NdisAllocateGenericObject(null, tag, 0)!;
      NdisFreeGenericObject(o);
      nblPool(o);
    },
    () => {},
  );
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.rule, 'NdisSim_ObjectFreedInUse');
  assert.equal(r.bugCheck?.ddi, 'NdisAllocateNetBufferListPool');
});

test('NdisSim_ResourceNotFreed (R2.5): a failing MiniportInitializeEx that keeps its generic object names it with what else it left', () => {
  const { r } = removedScripted('generic-init-fails', {
    initialize: () => {
      NdisAllocateGenericObject(null, tag, 0);
      return NDIS_STATUS_FAILURE;
    },
  });
  assert.deepEqual(rules(r), [['NdisSim_ResourceNotFreed', 'MiniportInitializeEx']]);
  assert.match(r.violations[0]!.message, /1 generic object\(s\) \(NdisFreeGenericObject\)/);
});
