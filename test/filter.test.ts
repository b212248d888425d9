// Filter drivers and filter modules: attach, restart, pause, detach, and the PnP
// events that travel through them (07-protocols-filters.md R7.5–R7.13, 05-removal.md).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkStateIndication } from '../src/drivers/common.ts';
import { flakyNic } from '../src/drivers/flaky-nic.ts';
import { healthyNic, variantOfHealthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { countingLwf, monitorLwf, variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import { InputError } from '../src/errors.ts';
import {
  type DRIVER_OBJECT,
  type DriverModule,
  type NDIS_FILTER_ATTACH_PARAMETERS,
  NDIS_FILTER_ATTRIBUTES_REVISION_1,
  NDIS_FILTER_CHARACTERISTICS_REVISION_2,
  type NDIS_FILTER_DRIVER_CHARACTERISTICS,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateTimerObject,
  NdisCompleteNetPnPEvent,
  NdisFDeregisterFilterDriver,
  NdisFNetPnPEvent,
  NdisFOidRequestComplete,
  NdisFPauseComplete,
  NdisFRegisterFilterDriver,
  NdisFRestartComplete,
  NdisFRestartFilter,
  NdisFreeTimerObject,
  NdisFSetAttributes,
  NdisMIndicateStatusEx,
  NdisMSleep,
  NdisSetTimerObject,
  type NET_PNP_EVENT_NOTIFICATION,
  NetEventPause,
  NetEventQueryRemoveDevice,
  NormalPoolPriority,
  World,
} from '../src/index.ts';
import { Irql } from '../src/kernel/kernel.ts';
import {
  NDIS_BUGCHECK_WATCHDOG_FILTER_DETACH,
  NDIS_BUGCHECK_WATCHDOG_FILTER_NETPNPEVENT,
  NDIS_BUGCHECK_WATCHDOG_FILTER_PAUSE,
  NDIS_BUGCHECK_WATCHDOG_FILTER_STATUS_INDICATION,
} from '../src/ndis/generated/rules.ts';
import { formatSummary } from '../src/report/summary.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { WorldOptions } from '../src/world.ts';
import { filterIdentity } from './helpers/filter.ts';
import { type BoundProtocol, bindingProtocol, protocolStep } from './helpers/protocol.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { findEvent, inOrder, is, ns } from './helpers/world.ts';

/** The calls into driver code, as `actor:function`, in order. */
function calls(ev: readonly TraceEvent[]): string[] {
  return ev.filter((e) => e.kind === 'call').map((e) => `${e.actor}:${e.what}`);
}

interface TestFilterOptions {
  attach?: (h: NDIS_HANDLE) => number;
  pause?: (h: NDIS_HANDLE) => number;
  restart?: (h: NDIS_HANDLE) => number;
  netEvent?: (h: NDIS_HANDLE, e: NET_PNP_EVENT_NOTIFICATION) => number;
  register?: (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null>) => void;
}

/** A filter driver for tests; its module context is its NdisFilterHandle. */
function testFilter(name: string, o: TestFilterOptions = {}): DriverModule {
  const setAttributes = (h: NDIS_HANDLE): number =>
    NdisFSetAttributes(h, h, {
      Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 },
      Flags: 0,
    });
  return {
    name,
    load() {
      const chars: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null> = {
        ...filterIdentity(name, '{00000000-0000-0000-0000-00000000000a}'),
        AttachHandler: (h: NDIS_HANDLE, _c: null, _p: NDIS_FILTER_ATTACH_PARAMETERS) =>
          o.attach ? o.attach(h) : setAttributes(h),
        DetachHandler: () => {},
        RestartHandler: (h: NDIS_HANDLE) => (o.restart ? o.restart(h) : NDIS_STATUS_SUCCESS),
        PauseHandler: (h: NDIS_HANDLE) => (o.pause ? o.pause(h) : NDIS_STATUS_SUCCESS),
        NetPnPEventHandler: (h: NDIS_HANDLE, e: NET_PNP_EVENT_NOTIFICATION) =>
          o.netEvent ? o.netEvent(h, e) : NdisFNetPnPEvent(h, e),
      };
      o.register?.(chars);
      return {
        DriverEntry: (d: DRIVER_OBJECT) => NdisFRegisterFilterDriver(d, null, chars).Status,
      };
    },
  };
}

/** One healthy-nic with `filters` installed bottom first; `removeAt`: surprise removal then. */
function filtered(
  filters: { mod: DriverModule; mandatory?: boolean }[],
  opts: {
    removeAt?: number;
    until?: number;
    collect?: boolean;
    verifierOff?: boolean;
    ndis?: WorldOptions['ndis'];
  } = {},
): World {
  const w = new World({
    seed: 1,
    verifier: opts.verifierOff ? 'off' : opts.collect ? 'collect' : 'bugcheck',
    ...(opts.ndis === undefined ? {} : { ndis: opts.ndis }),
  });
  w.addDriver(healthyNic);
  for (const f of filters) {
    w.addDriver(f.mod);
    w.addFilter(f.mod.name, { mandatory: f.mandatory ?? false });
  }
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  if (opts.removeAt !== undefined) w.at(opts.removeAt, { kind: 'surprise-remove', device: 'nic0' });
  w.run(opts.until ?? ns.s);
  return w;
}

test('the built-in filter drivers each register a UniqueName GUID and a FriendlyName of their own, so their modules on one adapter have distinct FilterModuleGuidNames', () => {
  const w = filtered([{ mod: monitorLwf }, { mod: countingLwf }]);
  const modules = w.ndis.filterModules.map((m) => m.driver.chars);
  assert.equal(modules.length, 2);
  const [a, b] = modules;
  assert.match(a!.UniqueName, /^\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}$/);
  assert.notEqual(a!.UniqueName, b!.UniqueName);
  assert.notEqual(a!.FriendlyName, b!.FriendlyName);
  // The same name gives the same GUID in every run.
  assert.equal(filtered([{ mod: monitorLwf }]).ndis.filterModules[0]!.driver.chars.UniqueName, a!.UniqueName);
});

test('R7.8, R7.10: modules attach bottom-up after MiniportInitializeEx, before the bind; restart goes miniport, filters bottom-up, protocols', () => {
  const w = filtered([{ mod: testFilter('f-low') }, { mod: testFilter('f-high') }]);
  const c = calls(w.trace.events);
  const at = (x: string): number => {
    const i = c.indexOf(x);
    assert.ok(i >= 0, `${x} was not called`);
    return i;
  };
  assert.ok(at('healthy-nic:MiniportInitializeEx') < at('f-low:FilterAttach'));
  assert.ok(at('f-low:FilterAttach') < at('f-high:FilterAttach'));
  assert.ok(at('f-high:FilterAttach') < at('tcpip:ProtocolBindAdapterEx'));
  assert.ok(at('healthy-nic:MiniportRestart') < at('f-low:FilterRestart'));
  assert.ok(at('f-low:FilterRestart') < at('f-high:FilterRestart'));
  assert.ok(at('f-high:FilterRestart') < c.indexOf('tcpip:ProtocolNetPnPEvent'));
  assert.deepEqual(
    w.summary().filters.map((f) => `${f.driver}:${f.state}`),
    ['f-low:Running', 'f-high:Running'],
  );
});

test('R5.5, R7.9, R7.11: a surprise removal pauses protocols, filters top-down, the miniport; unbinds; detaches top-down; then halts', () => {
  const w = filtered([{ mod: testFilter('f-low') }, { mod: testFilter('f-high') }], {
    removeAt: 100 * ns.ms,
  });
  const ev = w.trace.events;
  const call = (actor: string, fn: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.actor === actor && e.what === fn;
  inOrder(ev, [
    ['surprise removal sent', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
    ['query-remove reaches the lowest filter', call('f-low', 'FilterNetPnPEvent')],
    ['then the next filter up', call('f-high', 'FilterNetPnPEvent')],
    ['then the protocol', call('tcpip', 'ProtocolNetPnPEvent')],
    ['protocol paused', is('binding', 'Pausing → Paused')],
    ['top filter paused first', call('f-high', 'FilterPause')],
    ['then the lower one', call('f-low', 'FilterPause')],
    ['miniport paused', call('healthy-nic', 'MiniportPause')],
    ['unbind', call('tcpip', 'ProtocolUnbindAdapterEx')],
    ['top filter detached first', call('f-high', 'FilterDetach')],
    ['then the lower one', call('f-low', 'FilterDetach')],
    ['halt', call('healthy-nic', 'MiniportHaltEx')],
  ]);
  assert.deepEqual(
    w.summary().filters.map((f) => f.state),
    ['Detached', 'Detached'],
  );
  assert.equal(w.lastResult?.bugCheck, null);
});

test('R7.9: with a protocol that pends NetEventPause, NDIS pauses the filters and the miniport only after NdisCompleteNetPnPEvent', () => {
  const bound: BoundProtocol = { handle: null };
  let pending: NET_PNP_EVENT_NOTIFICATION | null = null;
  const proto = bindingProtocol('slow-pauser', bound, 20, {
    NetPnPEventHandler: (_c, note) => {
      if (note.NetPnPEvent.NetEvent !== NetEventPause) return NDIS_STATUS_SUCCESS;
      pending = note;
      return NDIS_STATUS_PENDING;
    },
  });
  const w = new World({ seed: 1 });
  for (const d of [healthyNic, proto, testFilter('f-low'), testFilter('f-high')]) w.addDriver(d);
  w.addFilter('f-low');
  w.addFilter('f-high');
  w.addProtocolDriver('slow-pauser');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  protocolStep(w, 150 * ns.ms, 'slow-pauser', () =>
    NdisCompleteNetPnPEvent(bound.handle!, pending!, NDIS_STATUS_SUCCESS),
  );
  w.run(ns.s);
  assert.equal(w.lastResult?.bugCheck, null, w.lastResult?.message ?? '');
  const ev = w.trace.events;
  const call = (actor: string, fn: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.actor === actor && e.what === fn;
  inOrder(ev, [
    ['the protocol pends its pause', call('slow-pauser', 'ProtocolNetPnPEvent')],
    ['it completes it at 150 ms', (e) => e.kind === 'ddi' && e.what === 'NdisCompleteNetPnPEvent'],
    ['then the top filter pauses', call('f-high', 'FilterPause')],
    ['then the lower one', call('f-low', 'FilterPause')],
    ['then the miniport', call('healthy-nic', 'MiniportPause')],
  ]);
  const firstFilterPause = ev.find(call('f-high', 'FilterPause'))!;
  assert.ok(firstFilterPause.t >= 150 * ns.ms, String(firstFilterPause.t));
});

test('R7.7: a module that does not forward a net PnP event keeps it from the modules and protocols above; its answer is the answer', () => {
  const w = filtered(
    [{ mod: testFilter('f-low', { netEvent: () => NDIS_STATUS_FAILURE }) }, { mod: testFilter('f-high') }],
    { until: 200 * ns.ms },
  );
  // At the time the world ran to: one before it is refused (T8).
  w.at(200 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.run(ns.s);
  const c = calls(w.trace.events);
  assert.ok(c.includes('f-low:FilterNetPnPEvent'));
  assert.ok(!c.includes('f-high:FilterNetPnPEvent'), 'f-high heard an event f-low kept');
  const qr = w.trace.events.filter(
    (e) =>
      e.kind === 'call' &&
      e.what === 'ProtocolNetPnPEvent' &&
      e.data?.NetEvent === 'NetEventQueryRemoveDevice',
  );
  assert.equal(qr.length, 0, 'the protocol heard an event f-low kept');
  // R5.1 with honourProtocolVeto: the failure from below the protocols fails the query-remove.
  assert.ok(findEvent(w.trace.events, is('ndis', /query-remove vetoed/)) >= 0);
  assert.equal(w.device('nic0').problem, 0);
});

test('R7.7: NdisFNetPnPEvent carries NET_PNP_EVENT_NOTIFICATION with the NET_PNP_EVENT_CODE', () => {
  const seen: number[] = [];
  const w = filtered(
    [
      {
        mod: testFilter('f', {
          netEvent: (h, e) => {
            seen.push(e.NetPnPEvent.NetEvent);
            return NdisFNetPnPEvent(h, e);
          },
        }),
      },
    ],
    { removeAt: 100 * ns.ms },
  );
  assert.deepEqual(seen, [NetEventQueryRemoveDevice]);
  assert.equal(w.device('nic0').problem, 0);
});

test('device PnP events go down through the modules: the surprise-removal notification reaches the miniport through the filter', () => {
  const w = filtered([{ mod: monitorLwf }], { removeAt: 100 * ns.ms });
  const ev = w.trace.events;
  const filterCall = findEvent(ev, (e) => e.kind === 'call' && e.what === 'FilterDevicePnPEventNotify');
  const miniportCall = findEvent(
    ev,
    (e) =>
      e.kind === 'call' &&
      e.what === 'MiniportDevicePnPEventNotify' &&
      e.data?.DevicePnPEvent === 'NdisDevicePnPEventSurpriseRemoved',
  );
  assert.ok(filterCall >= 0 && miniportCall > filterCall);
});

test('R7.6: a FilterPause that pends holds the miniport pause until NdisFPauseComplete', () => {
  let handle: NDIS_HANDLE | null = null;
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDriver(
    testFilter('slow', {
      pause: (h) => {
        handle = h;
        return NDIS_STATUS_PENDING;
      },
    }),
  );
  w.addFilter('slow');
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  // The filter completes its pause 2 s later, from a system thread.
  w.machine.after(
    2100 * ns.ms,
    {
      fire() {
        const c = w.kernel.enter(0, Irql.Passive, 'slow', 'thread');
        try {
          NdisFPauseComplete(handle!);
        } finally {
          w.kernel.exit(c);
        }
      },
    },
    0,
    null,
  );
  w.run(5 * ns.s);
  const ev = w.trace.events;
  const done = findEvent(ev, (e) => e.kind === 'filter' && e.what === 'Pausing → Paused');
  const miniportPause = findEvent(ev, (e) => e.kind === 'call' && e.what === 'MiniportPause');
  assert.ok(done >= 0 && miniportPause > done, 'MiniportPause came before the filter pause completed');
  assert.ok(ev[miniportPause]!.t >= 2100 * ns.ms);
  assert.equal(w.lastResult?.bugCheck, null);
  assert.equal(w.device('nic0').status, 'gone');
});

test('NdisFilterTimedPauseComplete: a pended FilterPause not completed within 10 s is a bug check', () => {
  const w = filtered([{ mod: testFilter('stuck', { pause: () => NDIS_STATUS_PENDING }) }], {
    removeAt: 100 * ns.ms,
    until: 20 * ns.s,
  });
  const b = w.lastResult?.bugCheck;
  assert.equal(b?.rule, 'NdisFilterTimedPauseComplete');
  assert.ok(Math.abs(b!.timeNs - 10_100 * ns.ms) < ns.ms, `fired at ${b!.timeNs}`);
});

test('NdisFilterTimedPauseComplete: NdisFPauseComplete with no pause pending is reported', () => {
  const w = filtered(
    [
      {
        mod: testFilter('twice', {
          pause: (h) => {
            NdisFPauseComplete(h);
            return NDIS_STATUS_SUCCESS;
          },
        }),
      },
    ],
    { removeAt: 100 * ns.ms, collect: true },
  );
  assert.deepEqual(
    w.lastResult?.violations.map((v) => v.rule),
    ['NdisFilterTimedPauseComplete'],
  );
});

test('R7.5: FilterRestart may pend and complete with NdisFRestartComplete; a failed restart leaves the module and the protocols above it paused', () => {
  let h0: NDIS_HANDLE | null = null;
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDriver(
    testFilter('f', {
      restart: (h) => {
        h0 = h;
        return NDIS_STATUS_PENDING;
      },
    }),
  );
  w.addFilter('f');
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.machine.after(
    50 * ns.ms,
    {
      fire() {
        const c = w.kernel.enter(0, Irql.Passive, 'f', 'thread');
        try {
          NdisFRestartComplete(h0!, NDIS_STATUS_FAILURE);
        } finally {
          w.kernel.exit(c);
        }
      },
    },
    0,
    null,
  );
  w.run(ns.s);
  assert.deepEqual(
    w.summary().filters.map((f) => f.state),
    ['Paused'],
  );
  const restarts = w.trace.events.filter(
    (e) => e.kind === 'call' && e.what === 'ProtocolNetPnPEvent' && e.data?.NetEvent === 'NetEventRestart',
  );
  assert.equal(restarts.length, 0, 'the protocol restarted above a filter that failed to');
  assert.equal(w.lastResult?.bugCheck, null);
});

test('R7.5: a restart completed twice (NdisFRestartComplete inside FilterRestart, then SUCCESS) is NdisSim_FilterCompleteUnexpected with 0xC4 and a sim code, not 0x7C/0x1F, which the 0x7C page keeps for miniports', () => {
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDriver(
    testFilter('f-twice', {
      restart: (h) => {
        NdisFRestartComplete(h, NDIS_STATUS_SUCCESS);
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  w.addFilter('f-twice');
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const v = w.run(ns.s).bugCheck!;
  assert.equal(v.rule, 'NdisSim_FilterCompleteUnexpected');
  assert.equal(v.bugCheck.code, 0xc4);
  assert.equal(v.bugCheck.params[0], 0x4e5300eb);
});

test('R7.5: a FilterRestart that pends and is never completed ends the run "ok" (no watchdog covers it) but with a warning that it is pending for good, in the summary', () => {
  /** `later`: a removal at 10 s keeps something to happen after the run's end. */
  const run = (untilNs: number, later: boolean) => {
    const w = new World({ seed: 1, ndis: { pauseWatchdogNs: 2 * ns.s } });
    w.addDriver(healthyNic);
    w.addDriver(testFilter('f-stuck', { restart: () => NDIS_STATUS_PENDING }));
    w.addFilter('f-stuck');
    w.addProtocol('tcpip');
    w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    if (later) w.at(10 * ns.s, { kind: 'surprise-remove', device: 'nic0' });
    return { w, r: w.run(untilNs) };
  };
  const { w, r } = run(3 * ns.s, true);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(
    w.summary().filters.map((f) => f.state),
    ['Restarting'],
  );
  assert.deepEqual(
    r.warnings.map((x) => [x.rule, x.ddi, x.adapter]),
    [['R7.5', 'FilterRestart', 'nic0']],
  );
  assert.match(
    r.warnings[0]!.message,
    /^pending for good: FilterRestart of f-stuck@nic0 returned NDIS_STATUS_PENDING at .* and NdisFRestartComplete was not called in the /,
  );
  const text = formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null }).join('\n');
  assert.match(text, /Warnings\n.*R7\.5: pending for good: FilterRestart of f-stuck@nic0/);
  // Pended for less than the watchdog's time, with more to come: work in flight, no warning.
  assert.deepEqual(run(1 * ns.s, true).r.warnings, []);
  // Nothing left to happen: pending for good however short the run.
  const drained = run(1 * ns.s, false).r;
  assert.equal(drained.warnings.length, 1);
  assert.match(drained.warnings[0]!.message, /not called, and nothing was left to happen/);
});

test('attaching-a-filter-module: an optional module that fails to attach is left out; a mandatory one stops the stack', () => {
  const fail = testFilter('bad', { attach: () => NDIS_STATUS_FAILURE });
  const optional = filtered([{ mod: fail }, { mod: testFilter('good') }]);
  assert.deepEqual(
    optional.summary().filters.map((f) => `${f.driver}:${f.state}`),
    ['good:Running'],
  );
  assert.equal(optional.summary().adapters[0]!.state, 'Running');

  const mandatory = filtered([{ mod: testFilter('good') }, { mod: fail, mandatory: true }]);
  const a = mandatory.summary().adapters[0]!;
  assert.equal(a.state, 'Halted');
  assert.equal(a.haltAction, 'NdisHaltDeviceDisabled');
  assert.deepEqual(
    mandatory.summary().filters.map((f) => `${f.driver}:${f.state}`),
    ['good:Detached'],
  );
  assert.ok(
    !calls(mandatory.trace.events).includes('tcpip:ProtocolBindAdapterEx'),
    'the protocol bound to a stopped stack',
  );
});

test('R7.5: FilterAttach that returns SUCCESS without NdisFSetAttributes is a violation, and the module is left out', () => {
  const w = filtered([{ mod: testFilter('lazy', { attach: () => NDIS_STATUS_SUCCESS }) }], { collect: true });
  assert.deepEqual(
    w.lastResult?.violations.map((v) => v.rule),
    ['NdisSim_FilterAttach'],
  );
  assert.deepEqual(w.summary().filters, []);
});

test('nf-ndis-ndisfsetattributes: a wrong NDIS_FILTER_ATTRIBUTES header is NDIS_STATUS_FAILURE, one of the statuses the page gives (not INVALID_PARAMETER); the module is left out', () => {
  const got: number[] = [];
  const attach = (h: NDIS_HANDLE): number => {
    const s = NdisFSetAttributes(h, h, {
      Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 + 1 },
      Flags: 0,
    });
    got.push(s);
    return s;
  };
  const w = filtered([{ mod: testFilter('bad-header', { attach }) }], { collect: true });
  assert.deepEqual(got, [NDIS_STATUS_FAILURE]);
  assert.deepEqual(w.summary().filters, []);
});

test('NdisFRegisterFilterDriver: a missing required handler is NDIS_STATUS_BAD_CHARACTERISTICS, and no module attaches', () => {
  let status = -1;
  const mod = testFilter('nopause', {
    register: (c) => {
      (c as { PauseHandler: unknown }).PauseHandler = undefined;
    },
  });
  const wrapped: DriverModule = {
    name: mod.name,
    load() {
      const img = mod.load();
      return {
        DriverEntry: (d: DRIVER_OBJECT) => {
          status = img.DriverEntry(d, '');
          return status;
        },
      };
    },
  };
  const w = filtered([{ mod: wrapped }], { collect: true });
  assert.equal(status, NDIS_STATUS_BAD_CHARACTERISTICS);
  assert.deepEqual(w.summary().filters, []);
  assert.equal(w.summary().adapters[0]!.state, 'Running');
  // The refusal is the driver's bug (nf-ndis-ndisfregisterfilterdriver), named.
  assert.deepEqual(
    w.lastResult?.violations.map((v) => v.rule),
    ['NdisSim_BadCharacteristics'],
  );
  assert.match(
    w.lastResult!.violations[0]!.message,
    /nopause: NdisFRegisterFilterDriver returned NDIS_STATUS_BAD_CHARACTERISTICS: PauseHandler is missing/,
  );
});

test('A filter driver that does not load is in the summary with why; a mandatory one stops the stack, saying why (FilterOidRequest without FilterOidRequestComplete)', () => {
  const mod = testFilter('no-oid-complete', {
    register: (c) => {
      c.OidRequestHandler = () => NDIS_STATUS_SUCCESS;
      c.OidRequestCompleteHandler = null;
    },
  });
  // Optional: the stack runs without it, and the summary says it did not load.
  const w = filtered([{ mod }], { collect: true });
  const s = w.summary();
  assert.equal(s.adapters[0]!.state, 'Running');
  assert.equal(s.adapters[0]!.stackFailure, null);
  assert.equal(s.filterLoadFailures.length, 1);
  assert.equal(s.filterLoadFailures[0]!.driver, 'no-oid-complete');
  assert.match(
    s.filterLoadFailures[0]!.why,
    /DriverEntry returned NDIS_STATUS_BAD_CHARACTERISTICS .*FilterOidRequestComplete/,
  );
  assert.deepEqual(
    w.lastResult?.violations.map((v) => v.rule),
    ['NdisSim_BadCharacteristics'],
  );
  const text = formatSummary(s, w.lastResult!, { color: false, seed: 1, expectation: null }).join('\n');
  assert.match(
    text,
    /Filter driver no-oid-complete: did not load: DriverEntry returned NDIS_STATUS_BAD_CHARACTERISTICS/,
  );
  // Mandatory: NDIS stops the stack, and the adapter's line says why.
  const m = filtered([{ mod, mandatory: true }], { collect: true });
  const a = m.summary().adapters[0]!;
  assert.equal(a.state, 'Halted');
  assert.match(
    a.stackFailure ?? '',
    /^mandatory filter no-oid-complete did not load: DriverEntry returned NDIS_STATUS_BAD_CHARACTERISTICS/,
  );
  const mt = formatSummary(m.summary(), m.lastResult!, { color: false, seed: 1, expectation: null }).join(
    '\n',
  );
  assert.match(mt, /stack stopped: mandatory filter no-oid-complete did not load/);
  // A mandatory module whose FilterAttach fails: the line names FilterAttach's status.
  const fail = filtered([{ mod: testFilter('bad', { attach: () => NDIS_STATUS_FAILURE }), mandatory: true }]);
  assert.equal(
    fail.summary().adapters[0]!.stackFailure,
    'mandatory filter bad: FilterAttach failed (NDIS_STATUS_FAILURE)',
  );
});

test('summary: filter lines sorted by adapter, then stack position; each with its data counts (passed and originated) and numbered when an adapter had more than one module of the driver', () => {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(countingLwf);
  w.addDriver(monitorLwf);
  w.addFilter('counting-lwf');
  w.addFilter('monitor-lwf');
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 200, frameBytes: 64, returnDelayNs: ns.ms, statisticsEveryNs: 0 },
  });
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 300, rxFrameBytes: 64 } });
  w.addDevice({ name: 'nic1', driver: 'healthy-nic' });
  // nic1 first: its modules attach first, but nic0's lines come first.
  w.at(0, { kind: 'start', device: 'nic1' });
  w.at(50 * ns.ms, { kind: 'start', device: 'nic0' });
  // counting-lwf restarts on every stack: a second module of it on each adapter, above monitor-lwf.
  w.at(300 * ns.ms, { kind: 'stop-filter', driver: 'counting-lwf' });
  w.at(400 * ns.ms, { kind: 'start-filter', driver: 'counting-lwf' });
  w.run(700 * ns.ms);
  const s = w.summary();
  assert.deepEqual(
    s.filters.map((f) => `${f.adapter}:${f.position}:${f.driver}:${f.state}`),
    [
      'nic0:0:counting-lwf:Detached',
      'nic0:1:monitor-lwf:Running',
      'nic0:1:counting-lwf:Running',
      'nic1:0:counting-lwf:Detached',
      'nic1:1:monitor-lwf:Running',
      'nic1:1:counting-lwf:Running',
    ],
  );
  const first = s.filters[0]!.data!;
  assert.ok(first.sendsPassed > 0 && first.receivesPassed > 0, JSON.stringify(first));
  assert.equal(first.sendsOriginated + first.receivesOriginated, 0);
  assert.equal(s.filters[1]!.data, null, 'monitor-lwf is bypassed on the data path');
  const text = formatSummary(s, w.lastResult!, { color: false, seed: 1, expectation: null }).join('\n');
  assert.match(
    text,
    new RegExp(
      `Filter counting-lwf on nic0 \\(module 1 of 2\\): detached, sends ${first.sendsPassed} passed / 0 originated, receives ${first.receivesPassed} passed / 0 originated`,
    ),
  );
  assert.match(text, /Filter monitor-lwf on nic0: Running\n/);
});

test('R7.5 NdisFRegisterFilterDriver takes the synchronous OID handlers (NDIS 6.80, revision 3), each without the other; one that is not a routine is BAD_CHARACTERISTICS', () => {
  for (const [name, edit] of [
    [
      'sync-request-only',
      (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null>) => {
        c.SynchronousOidRequestHandler = () => NDIS_STATUS_SUCCESS;
      },
    ],
    [
      'sync-complete-only',
      (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null>) => {
        c.SynchronousOidRequestCompleteHandler = () => {};
      },
    ],
  ] as const) {
    const mod = testFilter(name, {
      register: (c) => {
        c.Header.Revision = 3;
        c.MinorNdisVersion = 80;
        edit(c);
      },
    });
    const w = filtered([{ mod }], { collect: true });
    assert.equal(w.lastResult!.verdict, 'ok', name);
    assert.deepEqual(w.summary().filterLoadFailures, [], `${name} loads`);
  }
  const bad = testFilter('sync-not-a-routine', {
    register: (c) => {
      (c as { SynchronousOidRequestHandler: unknown }).SynchronousOidRequestHandler = 42;
    },
  });
  const s = filtered([{ mod: bad }], { collect: true }).summary();
  assert.equal(s.filterLoadFailures.length, 1);
  assert.match(s.filterLoadFailures[0]!.why, /SynchronousOidRequestHandler is neither a routine nor NULL/);
});

test('NdisFRegisterFilterDriver takes the direct OID handlers; FilterDirectOidRequest without FilterDirectOidRequestComplete (or a cancel handler alone) is BAD_CHARACTERISTICS', () => {
  const ok = testFilter('direct-ok', {
    register: (c) => {
      // The direct handlers are members of the revision 2 structure (NDIS 6.1).
      c.Header.Revision = NDIS_FILTER_CHARACTERISTICS_REVISION_2;
      c.DirectOidRequestHandler = () => NDIS_STATUS_SUCCESS;
      c.DirectOidRequestCompleteHandler = () => {};
      c.CancelDirectOidRequestHandler = () => {};
    },
  });
  const w = filtered([{ mod: ok }], { collect: true });
  assert.deepEqual(w.summary().filterLoadFailures, [], 'the three handlers together load');
  for (const [name, edit, why] of [
    [
      'direct-no-complete',
      (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null>) => {
        c.Header.Revision = NDIS_FILTER_CHARACTERISTICS_REVISION_2;
        c.DirectOidRequestHandler = () => NDIS_STATUS_SUCCESS;
      },
      /FilterDirectOidRequest and FilterDirectOidRequestComplete come together/,
    ],
    [
      'direct-cancel-only',
      (c: NDIS_FILTER_DRIVER_CHARACTERISTICS<NDIS_HANDLE, null>) => {
        c.Header.Revision = NDIS_FILTER_CHARACTERISTICS_REVISION_2;
        c.CancelDirectOidRequestHandler = () => {};
      },
      /FilterCancelDirectOidRequest without FilterDirectOidRequest/,
    ],
  ] as const) {
    const s = filtered([{ mod: testFilter(name, { register: edit }) }], { collect: true }).summary();
    assert.equal(s.filterLoadFailures.length, 1, `${name} does not load`);
    assert.match(s.filterLoadFailures[0]!.why, why);
  }
});

test('Irql_Filter_Driver_Function: NdisFPauseComplete above DISPATCH is an IRQL violation', () => {
  let handle: NDIS_HANDLE | null = null;
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(
    testFilter('f', {
      pause: (h) => {
        handle = h;
        return NDIS_STATUS_PENDING;
      },
    }),
  );
  w.addFilter('f');
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  w.machine.after(
    200 * ns.ms,
    {
      fire() {
        const c = w.kernel.enter(0, Irql.Dirql, 'f', 'isr');
        try {
          NdisFPauseComplete(handle!);
        } finally {
          w.kernel.exit(c);
        }
      },
    },
    0,
    null,
  );
  w.run(ns.s);
  assert.ok(w.lastResult?.violations.some((v) => v.rule === 'Irql_Filter_Driver_Function'));
});

test('filters run deterministically: the same seed gives the same trace, with the flaky-nic removal', () => {
  const run = (): string => {
    const w = new World({ seed: 7 });
    w.addDriver(flakyNic);
    w.addDriver(monitorLwf);
    w.addFilter('monitor-lwf');
    w.addProtocol('tcpip');
    w.addDevice({
      name: 'nic0',
      driver: 'flaky-nic',
      registry: { ResetLimit: 3, ResetWindowSeconds: 30 },
      faults: { hangAtNs: 1500 * ns.ms, rehangAfterReset: { minNs: ns.s, maxNs: 3 * ns.s } },
    });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.run(40 * ns.s);
    assert.equal(w.device('nic0').problem, 43);
    return JSON.stringify(w.trace.events);
  };
  assert.equal(run(), run());
});

/** A healthy-nic running; `actions` at their times. */
function runningStack(
  drivers: DriverModule[],
  actions: { atNs: number; action: Parameters<World['at']>[1] }[],
  opts: { collect?: boolean; until?: number; install?: string[] } = {},
): World {
  const w = new World({ seed: 1, verifier: opts.collect ? 'collect' : 'bugcheck' });
  w.addDriver(healthyNic);
  for (const d of drivers) w.addDriver(d);
  for (const f of opts.install ?? []) w.addFilter(f);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const a of actions) w.at(a.atNs, a.action);
  w.run(opts.until ?? ns.s);
  return w;
}

test('R3.2: NDIS 6.40 drivers get NDIS_PAUSE_NDIS_INTERNAL for a filter attached and a sleep (a miniport NDIS_PAUSE_MINIPORT_DEVICE_REMOVE for a removal), where 6.30 drivers are given why', () => {
  const nic640 = variantOfHealthyNic('nic-640', 'healthy-nic at NDIS 6.40', (c) => {
    c.MinorNdisVersion = 40;
  });
  const lwf640 = variantOfMonitorLwf('lwf-640', 'monitor-lwf at NDIS 6.40', (c) => {
    c.MinorNdisVersion = 40;
  });
  const reasons = (nic: DriverModule, lwf: DriverModule): string[] => {
    const w = new World({ seed: 1 });
    w.addDriver(nic);
    w.addDriver(lwf);
    w.addProtocol('tcpip');
    w.addDevice({ name: 'nic0', driver: nic.name });
    w.at(0, { kind: 'start', device: 'nic0' });
    w.at(100 * ns.ms, { kind: 'start-filter', driver: lwf.name });
    w.at(300 * ns.ms, { kind: 'sleep', state: 'S3', durationNs: 100 * ns.ms });
    w.at(800 * ns.ms, { kind: 'remove', device: 'nic0' });
    assert.equal(w.run(2 * ns.s).verdict, 'ok');
    return w.trace.events
      .filter((e) => e.kind === 'call' && (e.what === 'MiniportPause' || e.what === 'FilterPause'))
      .map((e) => `${e.what} ${String(e.data?.PauseReason)}`);
  };
  assert.deepEqual(reasons(nic640, lwf640), [
    'MiniportPause NDIS_PAUSE_NDIS_INTERNAL',
    'FilterPause NDIS_PAUSE_NDIS_INTERNAL',
    'MiniportPause NDIS_PAUSE_NDIS_INTERNAL',
    'FilterPause NDIS_PAUSE_NDIS_INTERNAL',
    'MiniportPause NDIS_PAUSE_MINIPORT_DEVICE_REMOVE',
  ]);
  assert.deepEqual(reasons(healthyNic, monitorLwf), [
    'MiniportPause NDIS_PAUSE_ATTACH_FILTER',
    'FilterPause NDIS_PAUSE_LOW_POWER',
    'MiniportPause NDIS_PAUSE_LOW_POWER',
    'FilterPause NDIS_PAUSE_NDIS_INTERNAL',
    'MiniportPause NDIS_PAUSE_NDIS_INTERNAL',
  ]);
});

test('R7.8–R7.10: a filter service started on a running stack: the stack pauses (NDIS_PAUSE_ATTACH_FILTER), the module attaches, the stack restarts', () => {
  const w = runningStack(
    [monitorLwf],
    [{ atNs: 100 * ns.ms, action: { kind: 'start-filter', driver: 'monitor-lwf' } }],
  );
  const ev = w.trace.events;
  const call = (actor: string, fn: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.actor === actor && e.what === fn;
  const at = inOrder(ev, [
    ['action', is('action', 'start-filter')],
    ['protocol paused', is('binding', 'Pausing → Paused')],
    ['miniport paused', call('healthy-nic', 'MiniportPause')],
    ['attach', call('monitor-lwf', 'FilterAttach')],
    ['miniport restarts', call('healthy-nic', 'MiniportRestart')],
    ['filter restarts', call('monitor-lwf', 'FilterRestart')],
    ['protocol restarts', is('binding', 'Restarting → Running')],
  ]);
  assert.equal(ev[at[2]]!.data?.PauseReason, 'NDIS_PAUSE_ATTACH_FILTER');
  assert.deepEqual(
    w.summary().filters.map((f) => f.state),
    ['Running'],
  );
  assert.equal(w.summary().adapters[0]!.state, 'Running');
});

test('R7.11, NdisFDeregisterFilterDriver: a stopped filter service is detached from each stack (NDIS_PAUSE_DETACH_FILTER), then unloaded; its unload routine deregisters', () => {
  const w = runningStack(
    [monitorLwf],
    [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'monitor-lwf' } }],
    {
      install: ['monitor-lwf'],
    },
  );
  const ev = w.trace.events;
  const call = (actor: string, fn: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.actor === actor && e.what === fn;
  const at = inOrder(ev, [
    ['action', is('action', 'stop-filter')],
    ['filter paused', call('monitor-lwf', 'FilterPause')],
    ['miniport paused', call('healthy-nic', 'MiniportPause')],
    ['detach', call('monitor-lwf', 'FilterDetach')],
    ['miniport restarts', call('healthy-nic', 'MiniportRestart')],
    ['protocol restarts', is('binding', 'Restarting → Running')],
    ['unload', call('monitor-lwf', 'FilterDriverUnload')],
    ['deregister', (e) => e.kind === 'ddi' && e.what === 'NdisFDeregisterFilterDriver'],
  ]);
  assert.equal(ev[at[1]]!.data?.PauseReason, 'NDIS_PAUSE_DETACH_FILTER');
  assert.equal(w.lastResult?.bugCheck, null);
  assert.equal(w.summary().adapters[0]!.state, 'Running');
  assert.deepEqual(
    w.summary().filters.map((f) => f.state),
    ['Detached'],
  );
});

test('NdisFDeregisterFilterDriver: an unload routine that does not deregister is a violation', () => {
  const keeps = variantOfMonitorLwf('keeps', 'keeps its registration', (_c, d) => {
    d.unload = () => {};
  });
  const w = runningStack([keeps], [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'keeps' } }], {
    install: ['keeps'],
    collect: true,
  });
  assert.deepEqual(
    w.lastResult?.violations.map((v) => v.rule),
    ['NdisFDeregisterFilterDriver'],
  );
});

test('NdisSim_FilterRegistration: NdisFDeregisterFilterDriver from FilterDetach says it came from FilterDetach of the module and belongs in the unload routine (nf-ndis-ndisfderegisterfilterdriver)', () => {
  const early = variantOfMonitorLwf('deregisters-early', 'deregisters in FilterDetach', (c, d) => {
    c.DetachHandler = () => {
      if (d.handle !== null) NdisFDeregisterFilterDriver(d.handle);
    };
    d.unload = () => {};
  });
  const w = runningStack(
    [early],
    [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'deregisters-early' } }],
    { install: ['deregisters-early'], collect: true },
  );
  const v = w.lastResult!.violations.filter((x) => x.rule === 'NdisSim_FilterRegistration');
  assert.equal(v.length, 1);
  assert.equal(
    v[0]!.message,
    'deregisters-early: NdisFDeregisterFilterDriver called from FilterDetach of deregisters-early@nic0, with 1 filter module(s) still attached (that one included): a filter driver deregisters in its unload routine (FilterDriverUnload), which runs after NDIS has detached all its modules; FilterDetach frees only what belongs to its module (nf-ndis-ndisfderegisterfilterdriver, unloading-a-filter-driver)',
  );
});

test('stop-filter during a removal: the teardown detaches the module, and the service unloads after it', () => {
  const remove = { atNs: 100 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } as const };
  // The service stops just after the teardown began, while it is under way.
  const first = runningStack([monitorLwf], [remove], { install: ['monitor-lwf'] });
  const begins = first.trace.events[findEvent(first.trace.events, is('ndis', /^teardown begins/))]!.t;
  const w = runningStack(
    [monitorLwf],
    [remove, { atNs: begins + 1, action: { kind: 'stop-filter', driver: 'monitor-lwf' } }],
    { install: ['monitor-lwf'] },
  );
  assert.ok(
    findEvent(w.trace.events, is('ndis', /stack pauses to detach/)) < 0,
    'a restack ran over the teardown',
  );
  const c = calls(w.trace.events);
  assert.equal(c.filter((x) => x === 'monitor-lwf:FilterDetach').length, 1);
  assert.ok(c.indexOf('monitor-lwf:FilterDriverUnload') > c.indexOf('monitor-lwf:FilterDetach'));
  assert.equal(w.lastResult?.bugCheck, null);
  assert.equal(w.device('nic0').status, 'gone');
});

/**
 * A filter that answers every OID request itself, 300 ms later, from a timer of its
 * module (allocated in FilterAttach, freed in FilterDetach).
 */
const slowOidLwf = variantOfMonitorLwf('slow-oid', 'completes OID requests 300 ms late', (c) => {
  const timers = new Map<NDIS_HANDLE, { timer: NDIS_HANDLE; held: NDIS_OID_REQUEST[] }>();
  const attach = c.AttachHandler;
  c.AttachHandler = (h, ctx, p) => {
    const s = attach(h, ctx, p);
    const st: { timer: NDIS_HANDLE; held: NDIS_OID_REQUEST[] } = { timer: null as never, held: [] };
    st.timer = NdisAllocateTimerObject(h, {
      Header: {
        Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: 0x6c776f73,
      TimerFunction: () => {
        for (const r of st.held.splice(0)) NdisFOidRequestComplete(h, r, NDIS_STATUS_SUCCESS);
      },
      FunctionContext: null,
    }).TimerObject!;
    timers.set(h, st);
    return s;
  };
  c.OidRequestHandler = (m, request) => {
    const st = timers.get(m.handle)!;
    st.held.push(request);
    NdisSetTimerObject(st.timer, -300 * 10_000, 0, null);
    return NDIS_STATUS_PENDING;
  };
  c.OidRequestCompleteHandler = () => {};
  c.DetachHandler = (m) => {
    NdisFreeTimerObject(timers.get(m.handle)!.timer);
    timers.delete(m.handle);
  };
});

test('R7.11 stop-filter: the restack detaches a module only once the OID requests it holds are complete', () => {
  // tcpip's requests of its first restart are still with the module when the service stops.
  const w = runningStack(
    [slowOidLwf],
    [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'slow-oid' } }],
    { install: ['slow-oid'] },
  );
  const ev = w.trace.events;
  const completes = ev.filter((e) => e.kind === 'ddi' && e.what === 'NdisFOidRequestComplete');
  const detach = findEvent(ev, (e) => e.kind === 'call' && e.what === 'FilterDetach');
  assert.ok(completes.length > 0, 'the module never completed the requests it held');
  assert.ok(detach >= 0, 'no FilterDetach');
  assert.ok(
    completes.every((e) => e.t <= ev[detach]!.t),
    'FilterDetach came while the module still held OID requests',
  );
  assert.equal(w.lastResult?.bugCheck, null);
  assert.deepEqual(w.lastResult?.violations, []);
  assert.equal(w.summary().adapters[0]!.state, 'Running');
});

test('start-filter with a mandatory module that fails to attach to a running stack stops that stack', () => {
  const bad = testFilter('bad', { attach: () => NDIS_STATUS_FAILURE });
  const w = runningStack(
    [bad],
    [{ atNs: 100 * ns.ms, action: { kind: 'start-filter', driver: 'bad', mandatory: true } }],
  );
  const a = w.summary().adapters[0]!;
  assert.equal(a.state, 'Halted');
  assert.equal(a.haltAction, 'NdisHaltDeviceDisabled');
});

test('scenario: filters and the filter actions are checked, each problem with its path', () => {
  const problems = (yaml: string): string[] => {
    try {
      parseScenarioText(yaml, 'f.yaml', driverNames());
    } catch (e) {
      if (e instanceof InputError) return e.problems;
      throw e;
    }
    return [];
  };
  const base = 'devices: [{ name: nic0, driver: healthy-nic }]\n';
  assert.deepEqual(problems(`${base}filters: [{ driver: monitor-lwf, mandatory: true }]\n`), []);
  assert.match(
    problems(`${base}filters: [{ driver: monitor-lfw }]\n`).join('\n'),
    /f\.yaml: filters\[0\]\.driver: .*did you mean monitor-lwf/,
  );
  const p = problems(
    `${base}actions:\n  - { at: 1s, do: stop-filter }\n  - { at: 1s, do: start-filter, driver: monitor-lwf, device: nic0 }\n  - { at: 1s, do: remove, device: nic0, driver: monitor-lwf }\n  - { at: 1s, do: stop-filter, driver: nope }\n`,
  );
  assert.deepEqual(
    p.map((x) => x.split(': ').slice(0, 2).join(': ')),
    [
      'f.yaml: actions[0].driver',
      'f.yaml: actions[1].device',
      'f.yaml: actions[2].driver',
      'f.yaml: actions[3].driver',
    ],
  );
});

test('R7.7, R7.9, R7.10: a system sleep sends the power events up through the filter, pauses it before the miniport, and restarts it after the miniport on wake', () => {
  const w = runningStack(
    [monitorLwf],
    [{ atNs: 100 * ns.ms, action: { kind: 'sleep', state: 'S3', durationNs: 500 * ns.ms } }],
    { install: ['monitor-lwf'], until: 2 * ns.s },
  );
  const ev = w.trace.events;
  const call = (actor: string, fn: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.actor === actor && e.what === fn;
  const netEvent = (code: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.what === 'FilterNetPnPEvent' && e.data?.NetEvent === code;
  inOrder(ev, [
    ['query power through the filter', netEvent('NetEventQueryPower')],
    ['set power through the filter', netEvent('NetEventSetPower')],
    ['filter paused', call('monitor-lwf', 'FilterPause')],
    ['miniport paused', call('healthy-nic', 'MiniportPause')],
    ['wake', is('action', 'wake')],
    ['miniport restarts', call('healthy-nic', 'MiniportRestart')],
    ['filter restarts', call('monitor-lwf', 'FilterRestart')],
    ['protocol restarts', is('binding', 'Restarting → Running')],
  ]);
  // Both are NDIS 6.30 drivers, below R3.2's 6.40: they are given why NDIS pauses.
  const pause = ev[findEvent(ev, call('monitor-lwf', 'FilterPause'))]!;
  const miniportPause = ev[findEvent(ev, call('healthy-nic', 'MiniportPause'))]!;
  assert.equal(pause.data?.PauseReason, miniportPause.data?.PauseReason);
  assert.equal(pause.data?.PauseReason, 'NDIS_PAUSE_LOW_POWER');
  assert.equal(w.lastResult?.bugCheck, null);
  assert.deepEqual(
    w.summary().filters.map((f) => f.state),
    ['Running'],
  );
});

test('R7.13: FilterDetach that blocks past the halt watchdog is 0x7C/0x25 with the filter-detach operation; FilterPause that blocks 10 s is NdisFilterTimedPauseComplete', () => {
  const slowDetach = testFilter('slow-detach', {
    register: (c) => {
      // A second at a time: NdisMSleep is for short waits.
      c.DetachHandler = () => {
        for (let i = 0; i < 70; i++) NdisMSleep(1_000_000);
      };
    },
  });
  const d = filtered([{ mod: slowDetach }], { removeAt: 100 * ns.ms, until: 70 * ns.s });
  const b = d.lastResult!.bugCheck!;
  assert.equal(b.rule, 'NdisSim_FilterWatchdog');
  assert.deepEqual(b.bugCheck.params.slice(0, 2), [0x25, NDIS_BUGCHECK_WATCHDOG_FILTER_DETACH]);
  assert.match(b.message, /FilterDetach of slow-detach on nic0 has not returned after 60 s/);

  const slowPause = testFilter('slow-pause', {
    pause: () => {
      for (let i = 0; i < 11; i++) NdisMSleep(1_000_000);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const p = filtered([{ mod: slowPause }], { removeAt: 100 * ns.ms, until: 20 * ns.s });
  assert.equal(p.lastResult!.bugCheck?.rule, 'NdisFilterTimedPauseComplete');
  assert.match(
    p.lastResult!.bugCheck!.message,
    /FilterPause of slow-pause on nic0 has not returned after 10 s/,
  );
  assert.ok(Math.abs(p.lastResult!.bugCheck!.timeNs - 10_100 * ns.ms) < ns.ms);
});

test('R7.7, nc-ndis-filter_net_pnp_event: PENDING from FilterNetPnPEvent, which has no completion call, is NdisSim_FilterReturn and taken as a failure: the query-remove is vetoed', () => {
  const pends = testFilter('pends-event', {
    netEvent: (h, e) =>
      e.NetPnPEvent.NetEvent === NetEventQueryRemoveDevice ? NDIS_STATUS_PENDING : NdisFNetPnPEvent(h, e),
  });
  const w = runningStack([pends], [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }], {
    install: ['pends-event'],
    collect: true,
  });
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => `${x.rule} ${x.ddi}`),
    ['NdisSim_FilterReturn FilterNetPnPEvent'],
  );
  assert.match(v[0]!.message, /returned NDIS_STATUS_PENDING for NetEventQueryRemoveDevice/);
  assert.ok(w.trace.events.some((e) => e.kind === 'ndis' && /query-remove vetoed/.test(e.what)));
});

test("R7.13: a FilterNetPnPEvent that blocks past the pause watchdog is 0x7C/0x25/0x12 with the stuck event's NET_PNP_EVENT_CODE in parameter 4, naming the filter", () => {
  const slowEvent = testFilter('slow-event', {
    netEvent: (h, e) => {
      if (e.NetPnPEvent.NetEvent === NetEventQueryRemoveDevice)
        for (let i = 0; i < 61; i++) NdisMSleep(1_000_000);
      return NdisFNetPnPEvent(h, e);
    },
  });
  const w = runningStack([slowEvent], [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }], {
    install: ['slow-event'],
    until: 70 * ns.s,
  });
  const b = w.lastResult!.bugCheck!;
  assert.equal(b.rule, 'NdisSim_FilterWatchdog', w.lastResult!.message ?? '');
  assert.deepEqual(b.bugCheck.params, [
    0x25,
    NDIS_BUGCHECK_WATCHDOG_FILTER_NETPNPEVENT,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    NetEventQueryRemoveDevice,
  ]);
  assert.match(b.message, /FilterNetPnPEvent of slow-event on nic0 has not returned after 60 s/);
});

test('R7.13: a FilterStatus that blocks in a status indication at PASSIVE past the pause watchdog is 0x7C/0x25 with the filter-status operation (0x13), naming the filter; one that returns in time is not', () => {
  const run = (sleeps: number) => {
    // The miniport indicates its link state from MiniportRestart, at PASSIVE.
    const nic = scriptedDriver('status-at-restart', {
      restart: (a) => {
        NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, true, 1e9));
        return NDIS_STATUS_SUCCESS;
      },
    });
    const slowStatus = testFilter('slow-status', {
      register: (c) => {
        // A second at a time: NdisMSleep is for short waits.
        c.StatusHandler = () => {
          for (let i = 0; i < sleeps; i++) NdisMSleep(1_000_000);
        };
      },
    });
    const w = new World({ seed: 1 });
    w.addDriver(nic);
    w.addDriver(slowStatus);
    w.addFilter('slow-status');
    w.addProtocol('tcpip');
    w.addDevice({ name: 'nic0', driver: nic.name });
    w.at(0, { kind: 'start', device: 'nic0' });
    return w.run(70 * ns.s);
  };
  const r = run(61);
  assert.equal(r.bugCheck?.rule, 'NdisSim_FilterWatchdog', r.message ?? '');
  // Parameter 4: the NDIS_STATUS of the stuck indication (bug-check-0x7c).
  assert.deepEqual(r.bugCheck.bugCheck.params, [
    0x25,
    NDIS_BUGCHECK_WATCHDOG_FILTER_STATUS_INDICATION,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    NDIS_STATUS_LINK_STATE,
  ]);
  assert.match(r.bugCheck.message, /FilterStatus of slow-status on nic0 has not returned after 60 s/);
  assert.equal(run(2).bugCheck, null);
});

test('NdisSim_PoolNotFreedAtUnload: pool a filter driver allocated with its driver handle and never freed is reported when its service stops', () => {
  let allocated = false;
  const leaky = variantOfMonitorLwf('leaky', 'keeps a buffer of its driver handle', (c, d) => {
    const attach = c.AttachHandler;
    c.AttachHandler = (h, ctx, p) => {
      if (!allocated && d.handle !== null) {
        allocated = NdisAllocateMemoryWithTagPriority(d.handle, 64, 0x4b41454c, NormalPoolPriority) !== null;
      }
      return attach(h, ctx, p);
    };
  });
  const w = runningStack([leaky], [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'leaky' } }], {
    install: ['leaky'],
    collect: true,
  });
  assert.ok(allocated);
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => x.rule),
    ['NdisSim_PoolNotFreedAtUnload'],
  );
  assert.match(v[0]!.message, /leaky unloaded with 1 pool allocation\(s\)/);
});

test('NdisFRestartFilter: NDIS pauses the stack (NDIS_PAUSE_FILTER_RESTART_STACK) and restarts it, the module included; a module that is not running gets FAILURE', () => {
  let handle: NDIS_HANDLE | null = null;
  const statuses: number[] = [];
  const mod = testFilter('restarter', {
    attach: (h) => {
      handle = h;
      return NdisFSetAttributes(h, h, {
        Header: { Type: NDIS_OBJECT_TYPE_FILTER_ATTRIBUTES, Revision: NDIS_FILTER_ATTRIBUTES_REVISION_1 },
        Flags: 0,
      });
    },
  });
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDriver(mod);
  w.addFilter('restarter');
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  // At DISPATCH, from a DPC of the filter's (the DDI allows it), once running and once after removal.
  const callAt = (t: number) =>
    w.machine.after(
      t,
      {
        fire() {
          const c = w.kernel.enter(0, Irql.Dispatch, 'restarter', 'dpc');
          try {
            statuses.push(NdisFRestartFilter(handle!));
          } finally {
            w.kernel.exit(c);
          }
        },
      },
      0,
      null,
    );
  callAt(100 * ns.ms);
  w.run(ns.s);
  const ev = w.trace.events;
  const call = (actor: string, fn: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.actor === actor && e.what === fn;
  const at = inOrder(ev, [
    ['requested', is('ndis', /stack pauses to restart filter module restarter@nic0/)],
    ['protocol paused', is('binding', 'Pausing → Paused')],
    ['filter paused', call('restarter', 'FilterPause')],
    ['miniport paused', call('healthy-nic', 'MiniportPause')],
    ['miniport restarts', call('healthy-nic', 'MiniportRestart')],
    ['filter restarts', call('restarter', 'FilterRestart')],
    ['protocol restarts', is('binding', 'Restarting → Running')],
  ]);
  assert.equal(ev[at[2]]!.data?.PauseReason, 'NDIS_PAUSE_FILTER_RESTART_STACK');
  assert.equal(ev[at[3]]!.data?.PauseReason, 'NDIS_PAUSE_FILTER_RESTART_STACK');
  assert.deepEqual(statuses, [NDIS_STATUS_SUCCESS]);
  assert.equal(w.summary().adapters[0]!.state, 'Running');
  // Inside its own FilterRestart the module is not running yet: FAILURE.
  let pausedStatus = -1;
  const failing = testFilter('failing', {
    restart: (h) => {
      pausedStatus = NdisFRestartFilter(h);
      return NDIS_STATUS_FAILURE;
    },
  });
  filtered([{ mod: failing }]);
  assert.equal(pausedStatus, NDIS_STATUS_FAILURE);
});

test('R8.4, R8.8 at a filter driver unload: a driver-handle timer not freed is NdisSim_TimerNotFreed; one left set that fires after the unload is NdisSim_CallbackAfterHalt', () => {
  let fired = 0;
  const keepsTimer = variantOfMonitorLwf(
    'keeps-timer',
    'sets a driver-handle timer and never frees it',
    (c, d) => {
      const attach = c.AttachHandler;
      c.AttachHandler = (h, ctx, p) => {
        if (d.handle !== null) {
          const t = NdisAllocateTimerObject(d.handle, {
            Header: {
              Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
              Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
            },
            AllocationTag: 0x524d4954,
            TimerFunction: () => {
              fired++;
            },
            FunctionContext: null,
          });
          // Due in 300 ms: after the service stops at 100 ms.
          NdisSetTimerObject(t.TimerObject!, -3_000_000, 0, null);
        }
        return attach(h, ctx, p);
      };
    },
  );
  const w = runningStack(
    [keepsTimer],
    [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'keeps-timer' } }],
    {
      install: ['keeps-timer'],
      collect: true,
    },
  );
  assert.deepEqual(
    w.lastResult!.violations.map((v) => v.rule),
    ['NdisSim_CallbackAfterHalt'],
  );
  assert.match(w.lastResult!.violations[0]!.message, /fired after its FilterDriverUnload returned/);
  assert.equal(fired, 0, 'the routine of an unloaded driver ran');
  // A run that ends before it falls due lists it as still under way.
  const early = runningStack(
    [keepsTimer],
    [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'keeps-timer' } }],
    { install: ['keeps-timer'], collect: true, until: 200 * ns.ms },
  );
  assert.deepEqual(early.lastResult!.violations, []);
  assert.ok(
    early.lastResult!.pending.includes(
      'keeps-timer: a timer of its driver handle left set at FilterDriverUnload, not yet fired',
    ),
    early.lastResult!.pending.join('\n'),
  );
  assert.ok(!w.lastResult!.pending.some((p) => p.includes('left set')), 'once fired, it is no longer listed');

  const leaks = variantOfMonitorLwf(
    'leaks-timer',
    'allocates a driver-handle timer and never frees it',
    (c, d) => {
      const attach = c.AttachHandler;
      c.AttachHandler = (h, ctx, p) => {
        if (d.handle !== null)
          NdisAllocateTimerObject(d.handle, {
            Header: {
              Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
              Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
            },
            AllocationTag: 0x524d4954,
            TimerFunction: () => {},
            FunctionContext: null,
          });
        return attach(h, ctx, p);
      };
    },
  );
  const w2 = runningStack(
    [leaks],
    [{ atNs: 100 * ns.ms, action: { kind: 'stop-filter', driver: 'leaks-timer' } }],
    {
      install: ['leaks-timer'],
      collect: true,
    },
  );
  assert.deepEqual(
    w2.lastResult!.violations.map((v) => `${v.rule} ${v.ddi}`),
    ['NdisSim_TimerNotFreed FilterDriverUnload'],
  );
});

// ------------------------------------ R7.13: NDIS's watchdog over a pended FilterPause (0x11)

/** A filter whose FilterPause pends and completes `completeMs` later from a timer (never when null). */
function pausePends(name: string, completeMs: number | null): DriverModule {
  return testFilter(name, {
    pause: (h) => {
      if (completeMs === null) return NDIS_STATUS_PENDING;
      const t = NdisAllocateTimerObject(h, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0x7061756c,
        TimerFunction: () => {
          NdisFreeTimerObject(t.TimerObject!);
          NdisFPauseComplete(h);
        },
        FunctionContext: null,
      });
      NdisSetTimerObject(t.TimerObject!, -completeMs * 10_000, 0, null);
      return NDIS_STATUS_PENDING;
    },
  });
}

test("R7.13 NdisSim_FilterPauseWatchdog: a pended FilterPause never completed is NDIS's 0x7C/0x25/0x11 at the pause watchdog's time, after Driver Verifier's NdisFilterTimedPauseComplete at 10 s", () => {
  const w = filtered([{ mod: pausePends('f-pause-stuck', null) }], {
    removeAt: 100 * ns.ms,
    until: 90 * ns.s,
    collect: true,
  });
  const r = w.lastResult!;
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisFilterTimedPauseComplete', 'NdisSim_FilterPauseWatchdog'],
  );
  const bc = r.bugCheck!;
  assert.equal(bc.rule, 'NdisSim_FilterPauseWatchdog');
  assert.deepEqual(bc.bugCheck.params, [
    0x25,
    NDIS_BUGCHECK_WATCHDOG_FILTER_PAUSE,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    0,
  ]);
  const dv = r.violations[0]!;
  assert.ok(Math.abs(dv.timeNs - 10_100 * ns.ms) < ns.ms, `Driver Verifier at ${dv.timeNs}`);
  assert.equal(bc.timeNs - dv.timeNs, 50 * ns.s, 'DV at 10 s, NDIS at 60 s, both from the PENDING return');
  // The watchdog names when the module pended the pause (the removal's, at 100 ms).
  assert.match(
    bc.message,
    /FilterPause of f-pause-stuck\S* returned PENDING at 0\.100\d{3} s and NdisFPauseComplete did not follow within 60 s/,
  );
  assert.equal(bc.origin?.label, 'Pended by');
  assert.match(bc.origin!.at, /^FilterPause of f-pause-stuck\S* at 0\.100\d{3} s$/);
});

test("R7.13 NdisSim_FilterPauseWatchdog: without Driver Verifier's checks (verifier off) NDIS's own watchdog still stops the machine", () => {
  const w = filtered([{ mod: pausePends('f-pause-stuck-off', null) }], {
    removeAt: 100 * ns.ms,
    until: 90 * ns.s,
    verifierOff: true,
  });
  const bc = w.lastResult!.bugCheck;
  assert.equal(bc?.rule, 'NdisSim_FilterPauseWatchdog');
  assert.ok(Math.abs(bc!.timeNs - 60_100 * ns.ms) < ns.ms, `fired at ${bc!.timeNs}`);
});

test("R7.13 NdisSim_FilterPauseWatchdog: a completion just before the time-out is no bug check; just after, it is (pauseWatchdog 5 s, under Driver Verifier's 10 s)", () => {
  const ndis = { pauseWatchdogNs: 5 * ns.s };
  const ok = filtered([{ mod: pausePends('f-pause-4999', 4_999) }], {
    removeAt: 100 * ns.ms,
    until: 20 * ns.s,
    ndis,
  });
  assert.equal(ok.lastResult!.bugCheck, null, ok.lastResult!.bugCheck?.message);
  assert.equal(ok.device('nic0').status, 'gone');
  const late = filtered([{ mod: pausePends('f-pause-5001', 5_001) }], {
    removeAt: 100 * ns.ms,
    until: 20 * ns.s,
    ndis,
  });
  assert.equal(late.lastResult!.bugCheck?.rule, 'NdisSim_FilterPauseWatchdog');
});

test("R7.13: at a tie (pauseWatchdog 10 s) Driver Verifier's NdisFilterTimedPauseComplete is reported first", () => {
  const w = filtered([{ mod: pausePends('f-pause-tie', null) }], {
    removeAt: 100 * ns.ms,
    until: 30 * ns.s,
    collect: true,
    ndis: { pauseWatchdogNs: 10 * ns.s },
  });
  assert.deepEqual(
    w.lastResult!.violations.map((v) => v.rule),
    ['NdisFilterTimedPauseComplete', 'NdisSim_FilterPauseWatchdog'],
  );
});

test("R7.13: a FilterPause that blocks is NdisFilterTimedPauseComplete at 10 s (recorded, the wait goes on in collect mode), then NDIS's watchdog at the pause watchdog's time", () => {
  const slowPause = testFilter('slow-pause-70', {
    pause: () => {
      for (let i = 0; i < 70; i++) NdisMSleep(1_000_000);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = filtered([{ mod: slowPause }], { removeAt: 100 * ns.ms, until: 90 * ns.s, collect: true });
  const r = w.lastResult!;
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisFilterTimedPauseComplete', 'NdisSim_FilterPauseWatchdog'],
  );
  assert.match(r.bugCheck!.message, /FilterPause of slow-pause-70 on nic0 has not returned after 60 s/);
  assert.ok(Math.abs(r.bugCheck!.timeNs - 60_100 * ns.ms) < ns.ms, `fired at ${r.bugCheck!.timeNs}`);
});
