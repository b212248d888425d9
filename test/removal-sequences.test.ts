// Worked sequences of 05-removal.md, driven by scripted miniports.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_STATUS_SUCCESS,
  NdisHaltDeviceFailed,
  NdisMRemoveMiniport,
  NdisSetTimerObject,
} from '../src/index.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { inOrder, is, ns, testWorld } from './helpers/world.ts';

void NdisSetTimerObject;

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
