// A driver callback that never returns because it polls: register and port accesses
// cost a polling thread time (limits.accessesFreeMax free, then 1 µs each), so the
// watchdogs Windows has catch the loop deterministically (R8.11 0x133 at DISPATCH,
// R2.13 NDIS's halt watchdog in MiniportHaltEx), and a loop no watchdog watches ends
// with the run. Before, each of these runs hung the simulation for ever.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_STATUS_SUCCESS,
  NdisMSleep,
  NdisReadRegisterUlong,
  NdisStallExecution,
  SimNicReg,
  SimNicStatus,
} from '../src/index.ts';
import type { NdisOptions } from '../src/ndis/ndis.ts';
import { limits } from '../src/sim/limits.ts';
import { type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** nic0 with `hooks`; its link drops at 1 s (a DPC runs), or PnP removes it at 1 s (MiniportHaltEx runs). */
function spinWorld(hooks: Hooks, at1s: 'link-down' | 'remove', ndis: Partial<NdisOptions> = {}) {
  const drv = scriptedDriver('spin-nic', hooks);
  return testWorld({
    drivers: [drv],
    devices: [
      { name: 'nic0', driver: drv.name, faults: at1s === 'link-down' ? { linkDownAtNs: 1 * ns.s } : {} },
    ],
    actions: at1s === 'remove' ? [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }] : [],
    options: { ndis },
  });
}

test('R8.11 a DPC that polls a register with no stall, for a link that never comes back, is DPC_WATCHDOG_VIOLATION (0x133), not a hang', () => {
  const w = spinWorld(
    {
      dpc: (a) => {
        const status = a.space!.at(SimNicReg.STATUS);
        while ((NdisReadRegisterUlong(status) & SimNicStatus.LINK_UP) === 0) {}
      },
    },
    'link-down',
    { dpcWatchdogNs: 100 * ns.ms },
  );
  const r = w.run(10 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.rule, 'NdisSim_DpcWatchdog');
  assert.equal(r.bugCheck?.ddi, 'NdisReadRegisterUlong');
  assert.equal(r.bugCheck?.bugCheck.code, 0x133);
  // The free accesses take no time; each after them 1 µs: 100 ms of them past the DPC's start.
  const spun = r.bugCheck!.timeNs - 1 * ns.s;
  assert.ok(spun > 100 * ns.ms && spun < 101 * ns.ms, `${spun} ns`);
  assert.deepEqual(r.bugCheck!.bugCheck.params, [0, 7, 6, 0]);
});

test("R2.13 MiniportHaltEx that spins on a register at PASSIVE until the link drops meets NDIS's halt watchdog", () => {
  const w = spinWorld(
    {
      halt: (a) => {
        const status = a.space!.at(SimNicReg.STATUS);
        while ((NdisReadRegisterUlong(status) & SimNicStatus.LINK_UP) !== 0) {}
      },
    },
    'remove',
    { haltWatchdogNs: 2 * ns.s },
  );
  const r = w.run(30 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_HaltWatchdog');
  assert.match(r.bugCheck!.message, /MiniportHaltEx has not returned after 2 s \(R2\.13\)/);
  assert.ok(r.bugCheck!.timeNs > 3 * ns.s && r.bugCheck!.timeNs < 3.01 * ns.s, `${r.bugCheck!.timeNs}`);
});

test('R2.13 MiniportHaltEx that loops on NdisStallExecution (each stall short, R8.12 holds) meets the halt watchdog too', () => {
  const w = spinWorld(
    {
      halt: () => {
        for (;;) NdisStallExecution(10);
      },
    },
    'remove',
    { haltWatchdogNs: 2 * ns.s },
  );
  const r = w.run(30 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_HaltWatchdog');
  assert.equal(r.bugCheck?.ddi, 'MiniportHaltEx');
});

test('a PASSIVE poll that no watchdog watches (MiniportInitializeEx) ends with the run: the thread is reported spinning, not a hang', () => {
  const drv = scriptedDriver('spin-nic', {
    initialize: (a) => {
      const status = a.space!.at(SimNicReg.STATUS);
      while ((NdisReadRegisterUlong(status) & 0x8000_0000) === 0) {} // a bit SimNic never sets
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(r.endNs, 2 * ns.s);
  assert.ok(
    r.pending.includes(
      'a driver thread was spinning in NdisReadRegisterUlong when the run ended (a loop that never returns?)',
    ),
    r.pending.join('\n'),
  );
});

test(`R8.11 up to ${limits.accessesFreeMax} register accesses take no time; a wait starts the count afresh, so a poll with NdisMSleep is never charged`, () => {
  const reads = (n: number, sleepEvery = 0): number => {
    let endNs = -1;
    const w = spinWorld(
      {
        halt: (a) => {
          const status = a.space!.at(SimNicReg.STATUS);
          const t0 = w.kernel.now;
          for (let i = 1; i <= n; i++) {
            NdisReadRegisterUlong(status);
            if (sleepEvery > 0 && i % sleepEvery === 0) NdisMSleep(1);
          }
          endNs = w.kernel.now - t0;
        },
      },
      'remove',
    );
    w.run(5 * ns.s);
    return endNs;
  };
  assert.equal(reads(limits.accessesFreeMax), 0);
  assert.equal(reads(limits.accessesFreeMax + 3), 3 * ns.us);
  // Two sleeps of 1 µs, after the 50,000th and the 100,000th read: the clock moves by
  // them alone (without the fresh count the last three reads would cost 3 µs more).
  assert.equal(reads(limits.accessesFreeMax + 3, 50_000), 2 * ns.us);
});
