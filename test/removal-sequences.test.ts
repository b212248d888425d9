// Worked sequences of 05-removal.md, driven by scripted miniports.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_HARD_ERRORS,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisHaltDeviceFailed,
  NdisHaltDeviceSurpriseRemoved,
  NdisMRemoveMiniport,
  NdisMResetComplete,
} from '../src/index.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { after, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { findEvent, inOrder, is, ns, testWorld } from './helpers/world.ts';

const halts = (calls: string[]): string[] => calls.filter((c) => c.startsWith('MiniportHaltEx'));
const count = (ev: readonly TraceEvent[], p: (e: TraceEvent) => boolean): number => ev.filter(p).length;
const sent = (minor: string) => (e: TraceEvent) =>
  e.kind === 'irp' && e.what === minor && e.data?.phase === 'sent';

/** A driver whose CheckForHang reports a hang once, at the first tick (2 s). */
const hangOnce = {
  checkForHang: (a: TestAdapter): boolean => {
    if (a.state.hung) return false;
    a.state.hung = true;
    return true;
  },
};

test('S-a: NdisMRemoveMiniport from a DPC while Running ends in MiniportHaltEx(NdisHaltDeviceFailed) and Code 43', () => {
  let returned: number | null = null;
  const drv = scriptedDriver('sa-nic', {
    // A link-change interrupt at 1 s: the DPC finds a fatal fault and gives up.
    dpc: (a) => {
      returned = NdisMRemoveMiniport(a.handle);
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'sa-nic', faults: { linkDownAtNs: 1 * ns.s } }],
  });
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok');
  assert.equal(returned, NDIS_STATUS_SUCCESS);
  const ev = w.trace.events;
  inOrder(ev, [
    ['NdisMRemoveMiniport', is('ddi', 'NdisMRemoveMiniport')],
    ['live dump', is('dump', /./)],
    ['QUERY_PNP_DEVICE_STATE', is('irp', 'IRP_MN_QUERY_PNP_DEVICE_STATE')],
    ['SURPRISE_REMOVAL', is('irp', 'IRP_MN_SURPRISE_REMOVAL')],
    ['MiniportPause', is('call', 'MiniportPause')],
    ['MiniportHaltEx', is('call', 'MiniportHaltEx')],
    [
      'REMOVE_DEVICE completed',
      (e) => e.kind === 'irp' && e.what === 'IRP_MN_REMOVE_DEVICE' && e.data?.phase === 'completed',
    ],
  ]);
  assert.ok(drv.calls.includes(`MiniportHaltEx(${NdisHaltDeviceFailed})`));
  assert.equal(w.device('nic0').problem, 43);
  assert.equal(w.ndis.dumps.length, 1);
  assert.equal(w.ndis.dumps[0]!.params[3], 71);
});

test('S-b, R5.14: NdisMRemoveMiniport twice before halt: both SUCCESS, one dump, one invalidation, one halt', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const results: number[] = [];
    const drv = scriptedDriver('sb-nic', {
      dpc: (a) => {
        results.push(NdisMRemoveMiniport(a.handle));
        // Again a moment later, from a timer, before NDIS has got round to the removal.
        after(a, 0.01, (x) => results.push(NdisMRemoveMiniport(x.handle)));
      },
    });
    const w = testWorld({
      seed,
      drivers: [drv],
      devices: [{ name: 'nic0', driver: 'sb-nic', faults: { linkDownAtNs: 1 * ns.s } }],
    });
    const r = w.run(5 * ns.s);
    assert.equal(r.verdict, 'ok');
    assert.deepEqual(results, [NDIS_STATUS_SUCCESS, NDIS_STATUS_SUCCESS]);
    const ev = w.trace.events;
    assert.equal(w.ndis.dumps.length, 1);
    assert.equal(count(ev, is('device', 'IoInvalidateDeviceState')), 1);
    assert.equal(count(ev, is('ndis', 'device already failed: nothing more to do (R5.14)')), 1);
    assert.equal(count(ev, sent('IRP_MN_SURPRISE_REMOVAL')), 1);
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
    assert.equal(w.adapter('nic0')!.removeCalls, 2);
    assert.equal(w.device('nic0').problem, 43);
  }
});

test('R5.14, R5.11: NdisMRemoveMiniport inside MiniportRestart, which then fails: the failed restart finds the device failed already, so one dump (reason 71), one invalidation, one halt', () => {
  const drv = scriptedDriver('sr-nic', {
    restart: (a) => {
      NdisMRemoveMiniport(a.handle);
      return NDIS_STATUS_FAILURE;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'sr-nic' }] });
  const r = w.run(3 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  const ev = w.trace.events;
  assert.deepEqual(
    w.ndis.dumps.map((d) => d.params[3]),
    [71],
    'the failed restart (reason 73) adds no second dump',
  );
  assert.equal(count(ev, is('device', 'IoInvalidateDeviceState')), 1);
  assert.equal(count(ev, is('ndis', 'device-failed flag set')), 1);
  assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
  assert.equal(w.device('nic0').problem, 43);
});

test('S-c 3a: NdisMRemoveMiniport inside MiniportResetEx, which returns HARD_ERRORS: RESET_END, teardown, Failed, Code 43', () => {
  for (const seed of [1, 2, 3]) {
    const drv = scriptedDriver('sc-nic', {
      ...hangOnce,
      reset: (a) => {
        NdisMRemoveMiniport(a.handle);
        return { Status: NDIS_STATUS_HARD_ERRORS, AddressingReset: false };
      },
    });
    const w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 'sc-nic' }] });
    const r = w.run(6 * ns.s);
    assert.equal(r.verdict, 'ok');
    inOrder(w.trace.events, [
      ['MiniportResetEx', is('call', 'MiniportResetEx')],
      ['NdisMRemoveMiniport', is('ddi', 'NdisMRemoveMiniport')],
      ['reset complete', is('ndis', 'reset complete')],
      [
        'RESET_END',
        (e) =>
          e.kind === 'call' &&
          e.what === 'ProtocolStatusEx' &&
          e.data?.StatusCode === 'NDIS_STATUS_RESET_END',
      ],
      ['SURPRISE_REMOVAL', sent('IRP_MN_SURPRISE_REMOVAL')],
      ['halt', is('call', 'MiniportHaltEx')],
    ]);
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
    const v = w.protocols[0]!.views[0]!;
    assert.equal(v.lastResetStatus, NDIS_STATUS_HARD_ERRORS);
    assert.equal(w.device('nic0').problem, 43);
  }
});

test('S-c 3b, R5.17, R4.16: the reset pends and completes later; MiniportHaltEx only after NdisMResetComplete', () => {
  for (const seed of [1, 2, 3]) {
    const drv = scriptedDriver('sc-nic', {
      ...hangOnce,
      reset: (a) => {
        NdisMRemoveMiniport(a.handle);
        // The hardware reset finishes (and fails) 300 ms later.
        after(a, 300, (x) => NdisMResetComplete(x.handle, NDIS_STATUS_HARD_ERRORS, false));
        return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
      },
    });
    const w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 'sc-nic' }] });
    const r = w.run(6 * ns.s);
    assert.equal(r.verdict, 'ok');
    const ev = w.trace.events;
    const [, complete, halt] = inOrder(ev, [
      ['SURPRISE_REMOVAL', sent('IRP_MN_SURPRISE_REMOVAL')],
      ['NdisMResetComplete', is('ddi', 'NdisMResetComplete')],
      ['halt', is('call', 'MiniportHaltEx')],
    ]);
    assert.ok(complete! < halt!);
    // The teardown got as far as it could while the reset was out, then waited.
    assert.ok(findEvent(ev, is('ndis', 'halt waits for the reset in progress (R2.9, R4.16)')) < complete!);
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
  }
});

test('R4.16: a reset that is never completed blocks the removal: no halt, the run says what is pending, and its verdict is hang (a liveness error)', () => {
  const drv = scriptedDriver('sc-nic', {
    ...hangOnce,
    reset: (a) => {
      NdisMRemoveMiniport(a.handle);
      return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'sc-nic' }] });
  const r = w.run(10 * ns.s);
  assert.equal(r.verdict, 'hang', r.message ?? '');
  assert.match(
    r.message ?? '',
    /^the (surprise )?removal of nic0 never finished: MiniportResetEx pended at /,
  );
  assert.deepEqual(halts(drv.calls), []);
  assert.ok(
    r.pending.some((p) => p.includes('reset in progress')),
    r.pending.join('; '),
  );
  assert.ok(
    r.pending.some((p) => /^nic0: the (surprise )?removal waits/.test(p)),
    r.pending.join('; '),
  );
});

/** S-d's driver: the reset pends; at the reset the test unplugs the NIC 1 ms later. */
function sdDriver(alsoRemove: boolean, unplug: () => void) {
  return scriptedDriver('sd-nic', {
    ...hangOnce,
    reset: (a) => {
      if (alsoRemove) NdisMRemoveMiniport(a.handle);
      a.state.resetPending = true;
      unplug();
      return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
    },
    devicePnPEventNotify: (a, ev) => {
      // S-d step 2: the hardware is gone; abandon the reset, complete it with failure.
      if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved && a.state.resetPending) {
        a.state.resetPending = false;
        NdisMResetComplete(a.handle, NDIS_STATUS_FAILURE, false);
      }
    },
  });
}

function sdWorld(seed: number, alsoRemove: boolean) {
  let w: ReturnType<typeof testWorld> | null = null;
  const unplug = (): void => w!.at(w!.kernel.now + 1 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const drv = sdDriver(alsoRemove, unplug);
  w = testWorld({ seed, drivers: [drv], devices: [{ name: 'nic0', driver: 'sd-nic' }] });
  return { w, drv };
}

test('S-d: surprise removal while a reset is pending: the reset completes, then MiniportHaltEx(SurpriseRemoved); the device is gone', () => {
  for (const seed of [1, 2, 3, 4]) {
    const { w, drv } = sdWorld(seed, false);
    const r = w.run(6 * ns.s);
    assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
    const ev = w.trace.events;
    const complete = findEvent(ev, is('ddi', 'NdisMResetComplete'));
    const halt = findEvent(ev, is('call', 'MiniportHaltEx'));
    const removed = findEvent(
      ev,
      (e) => e.kind === 'irp' && e.what === 'IRP_MN_REMOVE_DEVICE' && e.data?.phase === 'completed',
    );
    // R5.6: no order between the miniport's notification and the protocols'; halt after the reset, before the FDO goes.
    assert.ok(complete >= 0 && complete < halt && halt < removed);
    const resetEnd = findEvent(
      ev,
      (e) =>
        e.kind === 'call' && e.what === 'ProtocolStatusEx' && e.data?.StatusCode === 'NDIS_STATUS_RESET_END',
    );
    assert.ok(resetEnd > complete && resetEnd < halt);
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceSurpriseRemoved})`]);
    assert.equal(w.device('nic0').status, 'gone');
    assert.equal(w.device('nic0').problem, 0);
  }
});

test('S-d, R2.12: if the driver also called NdisMRemoveMiniport in time, the halt action is NdisHaltDeviceFailed', () => {
  for (const seed of [1, 2, 3]) {
    const { w, drv } = sdWorld(seed, true);
    const r = w.run(6 * ns.s);
    assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
    assert.deepEqual(halts(drv.calls), [`MiniportHaltEx(${NdisHaltDeviceFailed})`]);
  }
});

test('S-d step 4, R4.8: a binding whose unbind is under way (Closing) when the pended reset completes still gets RESET_END, then unbinds', () => {
  let w: ReturnType<typeof testWorld> | null = null;
  const drv = scriptedDriver('sd-closing-nic', {
    ...hangOnce,
    reset: (a) => {
      // The hardware reset takes 50 ms; a disable comes 1 ms in. Its teardown pauses the
      // stack (R4.14) and unbinds tcpip, which holds its clean-up OID requests until
      // RESET_END (R4.8), so tcpip is still Closing then.
      w!.at(w!.kernel.now + 1 * ns.ms, { kind: 'disable', device: 'nic0' });
      after(a, 50, (x) => NdisMResetComplete(x.handle, NDIS_STATUS_SUCCESS, false));
      return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
    },
  });
  w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(4 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  const ev = w.trace.events;
  const status = (code: string) => (e: TraceEvent) =>
    e.kind === 'call' && e.what === 'ProtocolStatusEx' && e.actor === 'tcpip' && e.data?.StatusCode === code;
  inOrder(ev, [
    ['RESET_START', status('NDIS_STATUS_RESET_START')],
    ['tcpip Closing', (e) => e.kind === 'binding' && e.actor === 'tcpip' && e.what.endsWith('→ Closing')],
    ['NdisMResetComplete', is('ddi', 'NdisMResetComplete')],
    ['RESET_END', status('NDIS_STATUS_RESET_END')],
    ['tcpip Unbound', (e) => e.kind === 'binding' && e.actor === 'tcpip' && e.what.endsWith('→ Unbound')],
    ['MiniportHaltEx', is('call', 'MiniportHaltEx')],
  ]);
  assert.equal(count(ev, status('NDIS_STATUS_RESET_START')), 1);
  assert.equal(count(ev, status('NDIS_STATUS_RESET_END')), 1);
  // R4.8: tcpip holds its clean-up requests until RESET_END, so no warning of a call
  // between the two (it made them inside RESET_START's unbind before).
  assert.deepEqual(
    r.warnings.filter((x) => x.rule === 'R4.8').map((x) => x.message),
    [],
  );
  assert.equal(w.device('nic0').problem, 22);
});
