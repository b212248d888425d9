// A filter driver's optional handler sets (07-protocols-filters.md): FilterSetOptions
// inside NdisFRegisterFilterDriver, FilterSetModuleOptions before every restart of a
// module, and NdisSetOptionalHandlers with NDIS_FILTER_PARTIAL_CHARACTERISTICS, which
// changes the data handlers of one module (data bypass mode).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { type LwfModule, variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  type FILTER_SEND_NET_BUFFER_LISTS,
  type FILTER_SEND_NET_BUFFER_LISTS_COMPLETE,
  type NDIS_FILTER_PARTIAL_CHARACTERISTICS,
  NDIS_FILTER_PARTIAL_CHARACTERISTICS_REVISION_1,
  type NDIS_HANDLE,
  NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_FILTER_PARTIAL_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisFRestartFilter,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  NdisSetOptionalHandlers,
  type NET_BUFFER_LIST,
  World,
} from '../src/index.ts';
import { Irql } from '../src/kernel/kernel.ts';
import type { FilterModule } from '../src/ndis/filter.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { ns } from './helpers/world.ts';

/** healthy-nic adapters `devices` under the filters `filters` (bottom first), tcpip sending 1000 frames a second. */
function stack(
  filters: DriverModule[],
  devices = ['nic0'],
  until = 500 * ns.ms,
  actions?: (w: World) => void,
): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  for (const f of filters) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 1000, frameBytes: 64, returnDelayNs: ns.ms, statisticsEveryNs: 0 },
  });
  for (const d of devices) {
    w.addDevice({ name: d, driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: d });
  }
  actions?.(w);
  w.run(until);
  return w;
}

function moduleOf(w: World, driver: string, adapter = 'nic0'): FilterModule {
  const m = w.ndis.filterModules.find((x) => x.driver.name === driver && x.block.name === adapter);
  assert.ok(m, `no module of ${driver} on ${adapter}`);
  return m;
}

const violations = (w: World) => w.lastResult?.violations ?? [];
const rules = (w: World): string[] => violations(w).map((v) => v.rule);

/** The calls into driver code, as `actor:function`, in order. */
function calls(ev: readonly TraceEvent[]): string[] {
  return ev.filter((e) => e.kind === 'call').map((e) => `${e.actor}:${e.what}`);
}

/** Runs `fn` at `t` from a DPC of `actor` (NdisFRestartFilter is <= DISPATCH). */
function atDispatch(w: World, t: number, actor: string, fn: () => void): void {
  w.machine.after(
    t,
    {
      fire() {
        const c = w.kernel.enter(0, Irql.Dispatch, actor, 'dpc');
        try {
          fn();
        } finally {
          w.kernel.exit(c);
        }
      },
    },
    0,
    null,
  );
}

const countSends: FILTER_SEND_NET_BUFFER_LISTS<LwfModule> = (m, nbl, port, flags) => {
  for (let x: NET_BUFFER_LIST | null = nbl; x !== null; x = x.Next) m.framesSent++;
  NdisFSendNetBufferLists(m.handle, nbl, port, flags);
};
const passCompletions: FILTER_SEND_NET_BUFFER_LISTS_COMPLETE<LwfModule> = (m, nbl, flags) =>
  NdisFSendNetBufferListsComplete(m.handle, nbl, flags);

/** A partial set that filters sends (counting them) and bypasses the rest. */
function countingPartial(
  o: Partial<NDIS_FILTER_PARTIAL_CHARACTERISTICS<LwfModule>> = {},
): NDIS_FILTER_PARTIAL_CHARACTERISTICS<LwfModule> {
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_FILTER_PARTIAL_CHARACTERISTICS,
      Revision: NDIS_FILTER_PARTIAL_CHARACTERISTICS_REVISION_1,
    },
    Flags: 0,
    SendNetBufferListsHandler: countSends,
    SendNetBufferListsCompleteHandler: passCompletions,
    ...o,
  };
}

test('FilterSetModuleOptions, NdisSetOptionalHandlers: after NdisFRestartFilter a bypassed module counts its sends through a partial set; its twin on another adapter stays bypassed', () => {
  const switched = new Set<NDIS_HANDLE>();
  const statuses: number[] = [];
  const switcher = variantOfMonitorLwf('switcher', 'bypassed until it asks for a restart', (c) => {
    c.SetFilterModuleOptionsHandler = (m) => {
      if (switched.has(m.handle)) statuses.push(NdisSetOptionalHandlers(m.handle, countingPartial()));
      return NDIS_STATUS_SUCCESS;
    };
  });
  let sentBefore = -1;
  const w = stack([switcher], ['nic0', 'nic1'], 500 * ns.ms, (w) =>
    atDispatch(w, 100 * ns.ms, 'switcher', () => {
      const m = moduleOf(w, 'switcher', 'nic0');
      sentBefore = w.ndis.adapters.find((b) => b.name === 'nic0')!.data.sent;
      switched.add(m);
      assert.equal(NdisFRestartFilter(m), NDIS_STATUS_SUCCESS);
    }),
  );
  assert.deepEqual(rules(w), []);
  assert.deepEqual(statuses, [NDIS_STATUS_SUCCESS]);
  const m0 = moduleOf(w, 'switcher', 'nic0');
  const m1 = moduleOf(w, 'switcher', 'nic1');
  const b0 = m0.block;
  const counted = (m0.context as LwfModule).framesSent;
  // Every send after the restart went through the module, none before it.
  assert.ok(sentBefore > 50, `sent before the restart: ${sentBefore}`);
  assert.ok(counted > 300, `counted ${counted}`);
  assert.equal(counted, b0.data.sent - sentBefore);
  assert.equal(m0.handlers.SendNetBufferListsHandler, countSends);
  assert.equal(b0.filterData?.sendTop, m0);
  // The other module of the same driver keeps the driver's (bypassed) handlers and the path without modules.
  assert.equal((m1.context as LwfModule).framesSent, 0);
  assert.equal(m1.handlers, m1.driver.chars);
  assert.equal(m1.block.filterData, null);
  assert.ok(m1.block.data.sent > 300);
  // NDIS called FilterSetModuleOptions before each FilterRestart: at the start and after NdisFRestartFilter.
  const c = calls(w.trace.events).filter((x) => /switcher:Filter(SetModuleOptions|Restart)$/.test(x));
  assert.deepEqual(c, [
    'switcher:FilterSetModuleOptions',
    'switcher:FilterRestart',
    'switcher:FilterSetModuleOptions',
    'switcher:FilterRestart',
    'switcher:FilterSetModuleOptions',
    'switcher:FilterRestart',
  ]);
  const sendCalls = w.trace.events.filter((e) => e.kind === 'call' && e.what === 'FilterSendNetBufferLists');
  assert.ok(sendCalls.length > 0 && sendCalls.every((e) => e.t > 100 * ns.ms));
});

test('FilterSetModuleOptions: a partial set with NULL data handlers puts a filtering module in bypass; the set stays over later restarts', () => {
  let restarts = 0;
  const bypasser = variantOfMonitorLwf('bypasser', 'filters sends until its second restart', (c) => {
    c.SendNetBufferListsHandler = countSends;
    c.SendNetBufferListsCompleteHandler = passCompletions;
    c.SetFilterModuleOptionsHandler = (m) => {
      restarts++;
      if (restarts === 2)
        NdisSetOptionalHandlers(
          m.handle,
          countingPartial({ SendNetBufferListsHandler: null, SendNetBufferListsCompleteHandler: null }),
        );
      return NDIS_STATUS_SUCCESS;
    };
  });
  let countedBefore = -1;
  const w = stack([bypasser], ['nic0'], 500 * ns.ms, (w) => {
    atDispatch(w, 100 * ns.ms, 'bypasser', () => {
      const m = moduleOf(w, 'bypasser');
      countedBefore = (m.context as LwfModule).framesSent;
      NdisFRestartFilter(m);
    });
    atDispatch(w, 200 * ns.ms, 'bypasser', () => NdisFRestartFilter(moduleOf(w, 'bypasser')));
  });
  assert.deepEqual(rules(w), []);
  assert.equal(restarts, 3);
  const m = moduleOf(w, 'bypasser');
  assert.ok(countedBefore > 50);
  assert.equal((m.context as LwfModule).framesSent, countedBefore);
  assert.equal(m.handlers.SendNetBufferListsHandler, null);
  assert.equal(m.block.filterData?.sendTop, null);
  assert.ok(m.block.data.sent > countedBefore + 300);
});

test('FilterSetModuleOptions: NDIS calls it for every module of the stack before the first FilterRestart', () => {
  const withOptions = (name: string) =>
    variantOfMonitorLwf(name, 'has FilterSetModuleOptions', (c) => {
      c.SetFilterModuleOptionsHandler = () => NDIS_STATUS_SUCCESS;
    });
  const w = stack([withOptions('lower'), withOptions('upper')], ['nic0'], 100 * ns.ms);
  assert.deepEqual(rules(w), []);
  const c = calls(w.trace.events).filter((x) => /:Filter(SetModuleOptions|Restart)$/.test(x));
  assert.deepEqual(c, [
    'lower:FilterSetModuleOptions',
    'upper:FilterSetModuleOptions',
    'lower:FilterRestart',
    'upper:FilterRestart',
  ]);
});

test('FilterSetModuleOptions: a failure fails the module restart: it stays Paused, the protocol above does not restart, and a set it made does not take effect; PENDING is NdisSim_FilterReturn', () => {
  for (const [result, expected] of [
    [NDIS_STATUS_RESOURCES, []],
    [NDIS_STATUS_PENDING, ['NdisSim_FilterReturn']],
  ] as const) {
    const failing = variantOfMonitorLwf('failing-options', 'FilterSetModuleOptions fails', (c) => {
      c.SetFilterModuleOptionsHandler = (m) => {
        assert.equal(NdisSetOptionalHandlers(m.handle, countingPartial()), NDIS_STATUS_SUCCESS);
        return result;
      };
    });
    const w = stack([failing], ['nic0'], 200 * ns.ms);
    assert.deepEqual(rules(w), expected);
    const m = moduleOf(w, 'failing-options');
    assert.equal(m.state, 'Paused');
    assert.equal(m.handlers, m.driver.chars);
    assert.equal(m.block.filterData, null);
    assert.ok(!calls(w.trace.events).includes('failing-options:FilterRestart'));
    assert.notEqual(m.block.bindings[0]!.state, 'Running');
  }
});

test('FilterSetOptions: NDIS calls it inside NdisFRegisterFilterDriver with the filter driver handle; a failure fails the registration with its status', () => {
  const seen: { handle: NDIS_HANDLE; context: unknown; registered: NDIS_HANDLE | null }[] = [];
  const make = (name: string, result: number) =>
    variantOfMonitorLwf(name, 'has FilterSetOptions', (c, d) => {
      c.SetOptionsHandler = (h, ctx) => {
        seen.push({ handle: h, context: ctx, registered: d.handle });
        return result;
      };
    });
  const w = stack([make('opts-ok', NDIS_STATUS_SUCCESS)], ['nic0'], 100 * ns.ms);
  assert.deepEqual(rules(w), []);
  assert.equal(seen.length, 1);
  // Inside the registration: the driver has no handle yet, and the one NDIS passes is the one it returns.
  assert.equal(seen[0]!.registered, null);
  assert.equal(seen[0]!.handle, w.ndis.filterDrivers.get('opts-ok'));
  assert.equal(seen[0]!.context, null);
  assert.equal(moduleOf(w, 'opts-ok').state, 'Running');
  const calledIn = w.trace.events.find((e) => e.kind === 'call' && e.what === 'FilterSetOptions');
  assert.equal(calledIn?.irql, Irql.Passive);

  const w2 = stack([make('opts-fail', NDIS_STATUS_RESOURCES)], ['nic0'], 100 * ns.ms);
  assert.equal(w2.ndis.filterDrivers.has('opts-fail'), false);
  assert.equal(w2.ndis.filterModules.length, 0);
  const reg = w2.trace.events.find((e) => e.kind === 'ddi' && e.what === 'NdisFRegisterFilterDriver');
  assert.equal(reg?.data?.result, 'NDIS_STATUS_RESOURCES');
});

test('NdisSim_OptionalHandlers: NdisSetOptionalHandlers from a filter outside FilterSetOptions / FilterSetModuleOptions, with a wrong structure, revision or member fails and changes nothing', () => {
  const cases: {
    name: string;
    edit: (c: Parameters<NonNullable<Parameters<typeof variantOfMonitorLwf>[2]>>[0], got: number[]) => void;
    why: RegExp;
  }[] = [
    {
      name: 'in-restart',
      edit: (c, got) => {
        c.RestartHandler = (m) => {
          got.push(NdisSetOptionalHandlers(m.handle, countingPartial()));
          m.running = true;
          return NDIS_STATUS_SUCCESS;
        };
      },
      why: /outside the module's FilterSetModuleOptions/,
    },
    {
      name: 'bad-revision',
      edit: (c, got) => {
        c.SetFilterModuleOptionsHandler = (m) => {
          const p = countingPartial();
          got.push(NdisSetOptionalHandlers(m.handle, { ...p, Header: { ...p.Header, Revision: 2 } }));
          return NDIS_STATUS_SUCCESS;
        };
      },
      why: /Header.Revision 2, not NDIS_FILTER_PARTIAL_CHARACTERISTICS_REVISION_1/,
    },
    {
      name: 'bad-type',
      edit: (c, got) => {
        c.SetFilterModuleOptionsHandler = (m) => {
          got.push(
            NdisSetOptionalHandlers(m.handle, {
              Header: {
                Type: NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
                Revision: NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
              },
            }),
          );
          return NDIS_STATUS_SUCCESS;
        };
      },
      why: /is not a characteristics structure a filter module may register/,
    },
    {
      name: 'bad-member',
      edit: (c, got) => {
        c.SetFilterModuleOptionsHandler = (m) => {
          const p = countingPartial({ SendNetBufferListsHandler: 42 as unknown as null });
          got.push(NdisSetOptionalHandlers(m.handle, p));
          return NDIS_STATUS_SUCCESS;
        };
      },
      why: /SendNetBufferListsHandler is neither a routine nor NULL/,
    },
    {
      name: 'driver-handle-late',
      edit: (c, got) => {
        const d = { h: null as NDIS_HANDLE | null };
        c.SetOptionsHandler = (h) => {
          d.h = h;
          return NDIS_STATUS_SUCCESS;
        };
        c.SetFilterModuleOptionsHandler = () => {
          got.push(NdisSetOptionalHandlers(d.h!, countingPartial()));
          return NDIS_STATUS_SUCCESS;
        };
      },
      why: /with the filter driver handle outside FilterSetOptions/,
    },
    {
      name: 'partial-for-driver',
      edit: (c, got) => {
        c.SetOptionsHandler = (h) => {
          got.push(NdisSetOptionalHandlers(h, countingPartial()));
          return NDIS_STATUS_SUCCESS;
        };
      },
      why: /NDIS_FILTER_PARTIAL_CHARACTERISTICS sets the handlers of one filter module/,
    },
  ];
  for (const k of cases) {
    const got: number[] = [];
    const drv = variantOfMonitorLwf(k.name, 'misuses NdisSetOptionalHandlers', (c) => k.edit(c, got));
    const w = stack([drv], ['nic0'], 100 * ns.ms);
    assert.deepEqual(rules(w), ['NdisSim_OptionalHandlers'], k.name);
    assert.match(violations(w)[0]!.message, k.why, k.name);
    assert.deepEqual(got, [NDIS_STATUS_FAILURE], k.name);
    const m = moduleOf(w, k.name);
    assert.equal(m.handlers, m.driver.chars, k.name);
    assert.equal(m.block.filterData, null, k.name);
    assert.equal(m.state, 'Running', k.name);
  }
});

test('NdisSim_OptionalHandlers: a partial set that filters receives for a driver without FilterStatus is reported, and the set stands', () => {
  const recv = variantOfMonitorLwf(
    'recv-no-status',
    'a receive handler through a partial set, no FilterStatus',
    (c) => {
      c.SetFilterModuleOptionsHandler = (m) => {
        NdisSetOptionalHandlers(
          m.handle,
          countingPartial({
            SendNetBufferListsHandler: null,
            SendNetBufferListsCompleteHandler: null,
            ReturnNetBufferListsHandler: () => {},
          }),
        );
        return NDIS_STATUS_SUCCESS;
      };
    },
  );
  const w = stack([recv], ['nic0'], 100 * ns.ms);
  assert.deepEqual(rules(w), ['NdisSim_OptionalHandlers']);
  assert.match(violations(w)[0]!.message, /FilterReturnNetBufferLists for a driver without FilterStatus/);
  const m = moduleOf(w, 'recv-no-status');
  assert.notEqual(m.handlers.ReturnNetBufferListsHandler, null);
  assert.notEqual(m.block.filterData, null);
});
