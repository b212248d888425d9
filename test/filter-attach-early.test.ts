// ndis: filterAttach (initializing-a-filter-driver, nf-ndis-ndisfregisterfilterdriver):
// "Drivers that call NdisFRegisterFilterDriver must be prepared for an immediate call to
// any of their FilterXxx functions"; NDIS may call FilterAttach "at any time after the
// call to FilterSetOptions returns". With `in-registration` the stack that loads a filter
// driver gets its module inside NdisFRegisterFilterDriver, before DriverEntry goes on.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { monitorLwf, variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_FAILURE,
  NdisAcquireSpinLock,
  NdisAllocateSpinLock,
  NdisReleaseSpinLock,
  World,
} from '../src/index.ts';
import type { NdisOptions } from '../src/ndis/ndis.ts';
import { ns } from './helpers/world.ts';

function world(f: DriverModule, filterAttach: NdisOptions['filterAttach'], mandatory = false): World {
  const w = new World({ seed: 1, verifier: 'collect', ndis: { filterAttach } });
  w.addDriver(healthyNic);
  w.addDriver(f);
  w.addFilter(f.name, { mandatory });
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.run(100 * ns.ms);
  return w;
}

/** Indexes of FilterAttach's call and of NdisFRegisterFilterDriver's trace line. */
function order(w: World): { attach: number; register: number } {
  const ev = w.trace.events;
  return {
    attach: ev.findIndex((e) => e.kind === 'call' && e.what === 'FilterAttach'),
    register: ev.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisFRegisterFilterDriver'),
  };
}

test('filterAttach in-registration: FilterAttach runs inside NdisFRegisterFilterDriver; after-driver-entry (the default): after DriverEntry returned; the stack runs either way', () => {
  const early = world(monitorLwf, 'in-registration');
  const o = order(early);
  assert.ok(o.attach > 0 && o.attach < o.register, JSON.stringify(o));
  assert.deepEqual(early.lastResult!.violations, []);
  assert.equal(early.summary().filters[0]!.state, 'Running');
  const late = world(monitorLwf, 'after-driver-entry');
  const p = order(late);
  assert.ok(p.register > 0 && p.attach > p.register, JSON.stringify(p));
  assert.equal(late.summary().filters[0]!.state, 'Running');
});

/** A monitor-lwf whose FilterAttach takes a lock its DriverEntry allocates only after NdisFRegisterFilterDriver. */
function lateLock(name: string): DriverModule {
  let lock = new NDIS_SPIN_LOCK();
  const base = variantOfMonitorLwf(name, 'allocates its list lock after registering', (c) => {
    const attach = c.AttachHandler;
    c.AttachHandler = (h, ctx, p) => {
      NdisAcquireSpinLock(lock);
      NdisReleaseSpinLock(lock);
      return attach(h, ctx, p);
    };
  });
  return {
    ...base,
    load: () => {
      lock = new NDIS_SPIN_LOCK(); // a driver global, one per load
      const image = base.load();
      return {
        DriverEntry: (o, p) => {
          const s = image.DriverEntry(o, p); // NdisFRegisterFilterDriver
          NdisAllocateSpinLock(lock); // too late when NDIS attached inside the registration
          return s;
        },
      };
    },
  };
}

test('NdisSim_BadParameter: a filter whose DriverEntry allocates the spin lock FilterAttach takes only after NdisFRegisterFilterDriver is caught when NDIS attaches inside the registration, and the message says why; by default it passes', () => {
  const w = world(lateLock('late-lock'), 'in-registration');
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_BadParameter');
  assert.ok(v.length > 0, JSON.stringify(w.lastResult!.violations.map((x) => x.message)));
  assert.match(
    v[0]!.message,
    /spin lock not allocated \(NdisAllocateSpinLock\); NDIS is attaching a module inside NdisFRegisterFilterDriver of late-lock/,
  );
  assert.deepEqual(world(lateLock('late-lock-2'), 'after-driver-entry').lastResult!.violations, []);
});

test('a DriverEntry that fails after a module was attached inside its registration: the module leaves the stack without a call into the unloaded driver; a mandatory one stops the stack', () => {
  const failing = variantOfMonitorLwf('fails-late', 'registers, then fails DriverEntry', () => {});
  const entry = failing.load;
  const module: DriverModule = {
    ...failing,
    load: () => {
      const image = entry();
      return {
        DriverEntry: (o, p) => {
          const s = image.DriverEntry(o, p);
          return s === 0 ? NDIS_STATUS_FAILURE : s; // a later step of DriverEntry failed
        },
      };
    },
  };
  const w = world(module, 'in-registration', true);
  const rules = w.lastResult!.violations.map((x) => x.rule);
  assert.ok(rules.includes('NdisSim_DriverEntryLeak'), rules.join());
  const f = w.summary().filters.find((x) => x.driver === 'fails-late');
  assert.ok(f === undefined || f.state === 'Detached', JSON.stringify(f));
  assert.ok(
    !w.trace.events.some((e) => e.kind === 'call' && e.what === 'FilterDetach'),
    'no FilterDetach into a driver that did not load',
  );
  assert.equal(w.summary().adapters[0]!.state, 'Halted', 'the mandatory filter stopped the stack');
});
