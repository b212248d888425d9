// Clone NBLs (NdisAllocateCloneNetBufferList, NdisFreeCloneNetBufferList): a filter
// that passes clones of what it receives up and keeps the originals until the clones
// come back (cloned-net-buffer-list-structures,
// relationships-between-net-buffer-list-generations: the parent stays until every clone
// is freed, NdisSim_CloneOutlivesParent).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  NDIS_CLONE_FLAGS_RESERVED,
  NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS,
  NdisAllocateCloneNetBufferList,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisFreeCloneNetBufferList,
  NdisFreeNetBufferList,
  type NET_BUFFER_LIST,
  World,
} from '../src/index.ts';
import { ns } from './helpers/world.ts';

interface CloneOptions {
  /** Give the original back as soon as its clone is indicated, not when the clone is back. */
  parentFirst?: boolean;
  /** The flags NdisFreeCloneNetBufferList gets (default: those of the allocation). */
  freeFlags?: number;
  /** Free the clone with NdisFreeNetBufferList. */
  plainFree?: boolean;
}

const seen = { clones: 0, freed: 0, sameBytes: 0 };

/** A filter that indicates a clone of each receive and keeps the original for it. */
function cloningLwf(name: string, o: CloneOptions = {}): DriverModule {
  const flags = NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS;
  return variantOfMonitorLwf(name, 'passes clones of its receives up', (c) => {
    c.ReceiveNetBufferListsHandler = (m, nbls, port, _count, rflags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        const clone = NdisAllocateCloneNetBufferList(x, null, null, flags)!;
        clone.ParentNetBufferList = x;
        x.ChildRefCount++;
        clone.SourceHandle = m.handle;
        const a = x.FirstNetBuffer!;
        const b = clone.FirstNetBuffer!;
        // The clone describes the original's used bytes, from its own offset 0.
        if (b.DataOffset === 0 && b.DataLength === a.DataLength && b.Data?.[0] === a.Data?.[a.DataOffset])
          seen.sameBytes++;
        seen.clones++;
        NdisFIndicateReceiveNetBufferLists(m.handle, clone, port, 1, rflags);
        if (o.parentFirst) NdisFReturnNetBufferLists(m.handle, x, 0);
        x = next;
      }
    };
    c.ReturnNetBufferListsHandler = (m, nbls, rflags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        const parent = x.ParentNetBufferList;
        if (parent === null) NdisFReturnNetBufferLists(m.handle, x, rflags);
        else {
          if (o.plainFree) NdisFreeNetBufferList(x);
          else NdisFreeCloneNetBufferList(x, o.freeFlags ?? flags);
          seen.freed++;
          if (--parent.ChildRefCount === 0 && !o.parentFirst)
            NdisFReturnNetBufferLists(m.handle, parent, rflags);
        }
        x = next;
      }
    };
    withStatusPassedOn(c);
  });
}

function run(lwf: DriverModule): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(lwf);
  w.addFilter(lwf.name);
  // The protocol holds each receive 1 ms before it returns it.
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 1, returnDelayNs: ns.ms } });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 1000, rxFrameBytes: 100 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(300 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run(ns.s);
  return w;
}

const rules = (w: World) => (w.lastResult?.violations ?? []).map((v) => v.rule);

test('NdisAllocateCloneNetBufferList: clones over the original bytes go up, come back to the filter, are freed, and the originals go back down after them: no rule broken, every receive returned', () => {
  seen.clones = seen.freed = seen.sameBytes = 0;
  const w = run(cloningLwf('cloning-lwf'));
  assert.deepEqual(rules(w), []);
  assert.ok(seen.clones > 100, `${seen.clones} clones`);
  assert.equal(seen.freed, seen.clones);
  assert.equal(seen.sameBytes, seen.clones);
  const view = w.summary().protocols[0]!.bindings[0]!;
  assert.equal(view.returned, view.received);
  assert.equal(w.ndis.adapters[0]!.receivesOutstanding, 0);
  assert.equal(w.device('nic0').status, 'removed');
});

test('NdisSim_CloneOutlivesParent: the original given back down while its clone is still up is reported when the clone is freed', () => {
  seen.clones = seen.freed = seen.sameBytes = 0;
  const w = run(cloningLwf('parent-first-lwf', { parentFirst: true }));
  const r = rules(w);
  assert.ok(r.length > 0 && r.every((x) => x === 'NdisSim_CloneOutlivesParent'), r.join());
  const v = w.lastResult!.violations[0]!;
  assert.equal(v.ddi, 'NdisFreeCloneNetBufferList');
  assert.match(v.message, /a clone of NBL #\d+, freed after its parent was given on \(miniport\)/);
});

test('NdisFreeCloneNetBufferList with other MDL flags than the allocation, or a bit the allocation cannot have, and NdisFreeNetBufferList on a clone, are NdisSim_BadParameter', () => {
  const flags = run(cloningLwf('wrong-flags-lwf', { freeFlags: 0 }));
  assert.deepEqual(rules(flags), ['NdisSim_BadParameter']);
  assert.match(
    flags.lastResult!.violations[0]!.message,
    /cloned with NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS and is freed without it/,
  );
  // nf-nblapi-ndisfreeclonenetbufferlist: the same flags as the allocation, so no other bit.
  const reserved = run(
    cloningLwf('reserved-flag-lwf', {
      freeFlags: NDIS_CLONE_FLAGS_USE_ORIGINAL_MDLS | NDIS_CLONE_FLAGS_RESERVED,
    }),
  );
  assert.deepEqual(rules(reserved), ['NdisSim_BadParameter']);
  assert.match(
    reserved.lastResult!.violations[0]!.message,
    /FreeCloneFlags 0x3 has bits other than.*RESERVED/,
  );
  const plain = run(cloningLwf('plain-free-lwf', { plainFree: true }));
  assert.deepEqual(rules(plain), ['NdisSim_BadParameter']);
  assert.match(
    plain.lastResult!.violations[0]!.message,
    /is a clone .*; free it with NdisFreeCloneNetBufferList/,
  );
});
