// NdisSim_StackOverflow: driver code and NDIS that call each other without end, or
// driver code that recurses by itself, run the kernel stack out. Windows stops with a
// double fault (UNEXPECTED_KERNEL_MODE_TRAP, 0x7F, trap 8: bug-check-0x7f page). The
// model stops at a fixed depth of nested callbacks, so the stop and its trace are the
// same on every machine, and reports the host's own stack overflow the same way instead
// of as an ordinary driver exception (0x1E).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { after, scriptedDriver } from '../src/drivers/buggy/base.ts';
import { rxNbl, rxPool } from '../src/drivers/buggy/kit.ts';
import {
  NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisMIndicateReceiveNetBufferLists,
  World,
} from '../src/index.ts';
import { ns } from './helpers/world.ts';

function reindicating(): World {
  const w = new World({ seed: 3, verifier: 'bugcheck', trace: true });
  w.addDriver(
    scriptedDriver('reindicator', {
      restart: (a) => {
        const pool = rxPool(a);
        after(a, 500, () =>
          NdisMIndicateReceiveNetBufferLists(
            a.handle,
            rxNbl(a, pool),
            0,
            1,
            NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL,
          ),
        );
        return NDIS_STATUS_SUCCESS;
      },
      returnNbls: (a, chain, flags) => {
        const dispatch = (flags & NDIS_RETURN_FLAGS_DISPATCH_LEVEL) !== 0;
        NdisMIndicateReceiveNetBufferLists(
          a.handle,
          chain,
          0,
          1,
          dispatch ? NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL : 0,
        );
      },
    }),
  );
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'reindicator' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.run(5 * ns.s);
  return w;
}

test('NdisSim_StackOverflow: a miniport that indicates again from MiniportReturnNetBufferLists, handed each NBL straight back, stops with 0x7F trap 8 naming both callbacks; the trace is the same every run', () => {
  const a = reindicating();
  const r = a.lastResult!;
  assert.equal(r.verdict, 'bugcheck');
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_StackOverflow');
  assert.equal(v.bugCheck.code, 0x7f);
  assert.equal(v.bugCheck.name, 'UNEXPECTED_KERNEL_MODE_TRAP');
  assert.equal(v.bugCheck.params[0], 0x08);
  assert.match(v.message, /MiniportReturnNetBufferLists/);
  assert.match(v.message, /ProtocolReceiveNetBufferLists/);
  assert.match(v.message, /nested 128 deep/);
  const b = reindicating();
  assert.deepEqual(
    b.trace.events.map((e) => JSON.stringify(e)),
    a.trace.events.map((e) => JSON.stringify(e)),
  );
});

test('NdisSim_StackOverflow: driver code that recurses by itself until the host stack runs out is the same kernel stack overflow, not a driver exception (0x1E)', () => {
  const deeper = (n: number): number => (n < 0 ? 0 : 1 + deeper(n + 1));
  const w = new World({ seed: 1, verifier: 'bugcheck' });
  w.addDriver(
    scriptedDriver('self-recursive', {
      initialize: () => {
        deeper(0);
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  w.addDevice({ name: 'nic0', driver: 'self-recursive' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_StackOverflow', r.bugCheck?.message);
  assert.equal(r.bugCheck!.ddi, 'MiniportInitializeEx');
  assert.match(
    r.bugCheck!.message,
    /the kernel stack ran out: driver code in MiniportInitializeEx recursed until the stack ran out/,
  );
});
