// R4.5: an OID request the miniport leaves pending over two check-for-hang ticks
// (four for the power OIDs) makes NDIS reset the adapter, whether or not the driver
// has a check-for-hang handler of its own.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type NDIS_OID_REQUEST,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  NdisHaltDeviceDisabled,
  NdisMOidRequestComplete,
  NdisMPauseComplete,
  NdisMResetComplete,
  NdisMSleep,
  NdisStallExecution,
  OID_802_3_MULTICAST_LIST,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_PNP_SET_POWER,
} from '../src/index.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { findEvent, inOrder, is, ns, statisticsQuery, testWorld } from './helpers/world.ts';

/** Pends `oid` and never answers it; the reset aborts it (R4.12). */
function stuckOid(oid: number, withCheckForHang: boolean): Hooks {
  return {
    checkForHang: () => false,
    oid: (a, req: NDIS_OID_REQUEST) => {
      if (req.DATA.Oid !== oid) return NDIS_STATUS_NOT_SUPPORTED;
      a.state.stuck = req;
      return NDIS_STATUS_PENDING;
    },
    reset: (a) => {
      const req = a.state.stuck as NDIS_OID_REQUEST | undefined;
      a.state.stuck = undefined;
      // OID_PNP_SET_POWER completes only with SUCCESS or NOT_ACCEPTED ("the miniport
      // driver is resetting": its page; NdisOidComplete), any other with REQUEST_ABORTED.
      if (req !== undefined)
        NdisMOidRequestComplete(
          a.handle,
          req,
          req.DATA.Oid === OID_PNP_SET_POWER ? NDIS_STATUS_NOT_ACCEPTED : NDIS_STATUS_REQUEST_ABORTED,
        );
      return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
    },
    characteristics: (c) => {
      if (!withCheckForHang) delete (c as Partial<typeof c>).CheckForHangHandlerEx;
    },
  };
}

function resetTimes(hooks: Hooks, untilS: number, oidAction: boolean): number[] {
  const drv = scriptedDriver('stuck-oid-nic', hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: oidAction
      ? [
          {
            atNs: 100 * ns.ms,
            action: { kind: 'oid', device: 'nic0', oid: OID_PNP_SET_POWER, set: true, value: 0, timeoutS: 0 },
          },
        ]
      : [],
  });
  const r = w.run(untilS * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const out: number[] = [];
  for (let i = 0; ; i++) {
    i = findEvent(
      w.trace.events,
      (e) => is('ndis', 'reset begins')(e) && e.data?.cause === 'OID request time-out',
      i,
    );
    if (i < 0) return out;
    out.push(w.trace.events[i]!.t / ns.s);
  }
}

test('R4.5: a request pending over two ticks (2 s each) leads to a reset at the second tick', () => {
  const t = resetTimes(stuckOid(OID_GEN_CURRENT_PACKET_FILTER, true), 7, false);
  assert.equal(t.length, 1);
  assert.ok(t[0]! > 3.9 && t[0]! < 4.5, `reset at ${t[0]} s`);
});

test('R4.5, R4.1: without a check-for-hang handler NDIS still resets a driver that has MiniportResetEx', () => {
  const t = resetTimes(stuckOid(OID_GEN_CURRENT_PACKET_FILTER, false), 7, false);
  assert.equal(t.length, 1);
  assert.ok(t[0]! > 3.9 && t[0]! < 4.5, `reset at ${t[0]} s`);
});

test('R4.5: OID_PNP_SET_POWER gets four ticks', () => {
  const t = resetTimes(stuckOid(OID_PNP_SET_POWER, true), 11, true);
  assert.equal(t.length, 1);
  assert.ok(t[0]! > 7.9 && t[0]! < 8.5, `reset at ${t[0]} s`);
});

test('R4.7, R4.8, R4.10: during a reset NDIS holds new requests; after an AddressingReset its restore requests pass them, then the reset ends', () => {
  // A removal during a pended reset: the protocol's unbind requests (R7.3) and a
  // scenario request arrive while the reset is in progress and are held.
  let hung = 0;
  const drv = scriptedDriver('addr-nic', {
    checkForHang: () => hung++ === 0,
    oid: () => NDIS_STATUS_SUCCESS,
    reset: (a) => {
      after(a, 1000, (x) => NdisMResetComplete(x.handle, NDIS_STATUS_SUCCESS, true));
      return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'addr-nic' }],
    actions: [
      { atNs: 2200 * ns.ms, action: statisticsQuery('nic0') },
      { atNs: 2500 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
    ],
  });
  const r = w.run(10 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(r.pending, []);
  const oidCall = (oid: string) => (e: { kind: string; what: string; data?: Record<string, unknown> }) =>
    e.kind === 'call' && e.what === 'MiniportOidRequest' && e.data?.Oid === oid;
  const start = findEvent(w.trace.events, is('ndis', /^reset begins/));
  const order = inOrder(w.trace.events.slice(start), [
    ['restore: packet filter', oidCall('OID_GEN_CURRENT_PACKET_FILTER')],
    ['restore: multicast list', oidCall('OID_802_3_MULTICAST_LIST')],
    ['reset complete (RESET_END)', is('ndis', 'reset complete')],
    ['held: statistics', oidCall('OID_GEN_STATISTICS')],
    ['halt', is('call', 'MiniportHaltEx')],
  ]);
  // Nothing reached the miniport between RESET_START and the restore requests.
  const firstDown = findEvent(w.trace.events, is('call', 'MiniportOidRequest'), start);
  assert.equal(firstDown, start + order[0]!);
  assert.equal(w.adapter('nic0')!.resetInProgress, false);
  assert.equal(w.device('nic0').status, 'removed');
});

test('R4.11, R5.1: no reset starts once a query-remove succeeded, nor while the removal that follows waits for a pause', () => {
  let pausing = false;
  const drv = scriptedDriver('rm-nic', {
    pause: (a) => {
      pausing = true;
      after(a, 5000, (x) => NdisMPauseComplete(x.handle));
      return NDIS_STATUS_PENDING;
    },
    // From the pause on, every tick reports a hang.
    checkForHang: () => pausing,
    reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'rm-nic' }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'remove', device: 'nic0' } }],
  });
  const r = w.run(20 * ns.s);
  assert.equal(r.verdict, 'ok');
  const refused = w.trace.events.filter((e) => e.what === 'reset not started (R4.11)').length;
  assert.ok(refused >= 2, `check-for-hang reported hangs during the removal (${refused})`);
  assert.ok(!drv.calls.includes('MiniportResetEx'));
  assert.equal(w.adapter('nic0')!.resets, 0);
  assert.deepEqual(
    drv.calls.filter((c) => c.startsWith('MiniportHaltEx')),
    [`MiniportHaltEx(${NdisHaltDeviceDisabled})`],
  );
});

test('R4.13: MiniportResetEx may wait 50 µs; NdisMSleep beyond that inside it, or NdisStallExecution calls adding up past it, is NdisSim_ResetBlocks; the same sleep elsewhere at PASSIVE is not', () => {
  const sleeper = (where: 'reset' | 'init' | 'stall', us: number) => {
    const drv = scriptedDriver(`reset-sleep-${where}-${us}`, {
      checkForHang: (a) => {
        const first = a.state.hung === undefined;
        a.state.hung = true;
        return first;
      },
      reset: () => {
        if (where === 'reset') NdisMSleep(us);
        if (where === 'stall') for (let i = 0; i < us; i++) NdisStallExecution(10);
        return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
      },
      initialize: () => {
        if (where === 'init') NdisMSleep(us);
        return NDIS_STATUS_SUCCESS;
      },
    });
    return testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name }],
      options: { verifier: 'collect', ndis: { callbackIrql: 'passive' } },
    }).run(3 * ns.s);
  };
  const rules = (r: ReturnType<typeof sleeper>) => r.violations.map((v) => [v.rule, v.ddi, v.adapter]);
  assert.deepEqual(rules(sleeper('reset', 50)), []);
  assert.deepEqual(rules(sleeper('reset', 51)), [['NdisSim_ResetBlocks', 'NdisMSleep', 'nic0']]);
  assert.deepEqual(rules(sleeper('init', 20_000)), []);
  // Polling in short stalls counts in all: five 10 µs stalls pass, six do not, once.
  assert.deepEqual(rules(sleeper('stall', 5)), []);
  assert.deepEqual(rules(sleeper('stall', 6)), [['NdisSim_ResetBlocks', 'NdisStallExecution', 'nic0']]);
});

test('R4.3, R4.11: a TRUE from check-for-hang before a slow MiniportInitializeEx returns starts no reset, and is a warning, once per initialization; FALSE is not', () => {
  const slowInit = (answer: boolean) => {
    const drv = scriptedDriver(`slow-init-${answer}`, {
      initialize: (a) => {
        a.state.initializing = true;
        NdisMSleep(4_500_000); // past the ticks at 2 s and 4 s
        a.state.initializing = false;
        return NDIS_STATUS_SUCCESS;
      },
      checkForHang: (a) => a.state.initializing === true && answer,
    });
    const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
    return { r: w.run(5 * ns.s), drv };
  };
  const hung = slowInit(true);
  assert.equal(hung.r.verdict, 'ok');
  assert.equal(
    hung.drv.calls.filter((c) => c === 'MiniportCheckForHangEx').length,
    2,
    'two ticks in the init',
  );
  assert.ok(!hung.drv.calls.includes('MiniportResetEx'), hung.drv.calls.join(', '));
  assert.deepEqual(
    hung.r.warnings.map((x) => [x.rule, x.ddi, x.adapter]),
    [['R4.3', 'MiniportCheckForHangEx', 'nic0']],
  );
  assert.deepEqual(slowInit(false).r.warnings, []);
});

test("R4.10: NDIS's own restore requests after an AddressingReset have a completion line in the trace, as a protocol's request has its ProtocolOidRequestComplete: the OID, the status by name and BytesRead, right after MiniportOidRequest returns", () => {
  let hung = 0;
  const drv = scriptedDriver('addr-trace-nic', {
    checkForHang: () => hung++ === 0,
    oid: (_a, r) => {
      if (r.DATA.Oid === OID_802_3_MULTICAST_LIST) return NDIS_STATUS_NOT_SUPPORTED;
      r.DATA.SET_INFORMATION.BytesRead = r.DATA.SET_INFORMATION.InformationBufferLength;
      return NDIS_STATUS_SUCCESS;
    },
    reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: true }),
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'addr-trace-nic' }] });
  assert.equal(w.run(4 * ns.s).verdict, 'ok');
  const ev = w.trace.events;
  const start = findEvent(ev, is('ndis', /^reset begins/));
  const lines = formatTimeline(ev.slice(start), { color: false })
    .map((l) => l.replace(/^.*?(→|←|nic0:)/, '$1'))
    .filter((l) => /OID_GEN_CURRENT_PACKET_FILTER|OID_802_3_MULTICAST_LIST|MiniportOidRequest/.test(l));
  assert.deepEqual(lines, [
    '→ MiniportOidRequest(nic0, Oid=OID_GEN_CURRENT_PACKET_FILTER, RequestType=NdisRequestSetInformation, InformationBufferLength=4)',
    '← MiniportOidRequest = NDIS_STATUS_SUCCESS',
    'nic0: OID request completed (Oid=OID_GEN_CURRENT_PACKET_FILTER, status=NDIS_STATUS_SUCCESS, BytesRead=4)',
    // The protocol's own multicast set failed too, so NDIS restores the empty list it keeps.
    '→ MiniportOidRequest(nic0, Oid=OID_802_3_MULTICAST_LIST, RequestType=NdisRequestSetInformation, InformationBufferLength=0)',
    '← MiniportOidRequest = NDIS_STATUS_NOT_SUPPORTED',
    'nic0: OID request completed (Oid=OID_802_3_MULTICAST_LIST, status=NDIS_STATUS_NOT_SUPPORTED, BytesRead=0)',
  ]);
});
