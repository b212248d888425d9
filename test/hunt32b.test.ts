// Session 32's follow-ups to the divergence hunt over 06-oid-datapath.md and
// 08-kernel-services.md: each test cites the rule it holds the model to.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_CURRENT_IRQL,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisMSendNetBufferListsComplete,
  type NET_BUFFER_LIST,
} from '../src/index.ts';
import { World } from '../src/world.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

test("R6.8: MiniportSendNetBufferLists runs at the sender's IRQL, never above DISPATCH, with NDIS_SEND_FLAGS_DISPATCH_LEVEL set exactly when it runs at DISPATCH, and gets every NBL the protocol sent", () => {
  for (const sendIrql of ['passive', 'dispatch'] as const) {
    const seen: { irql: number; flag: boolean }[] = [];
    let nbls = 0;
    const drv = scriptedDriver(`r68-${sendIrql}`, {
      send: (a, chain, _port, flags) => {
        seen.push({ irql: NDIS_CURRENT_IRQL(), flag: (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0 });
        for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
          x.Status = NDIS_STATUS_SUCCESS;
          nbls++;
        }
        NdisMSendNetBufferListsComplete(
          a.handle,
          chain,
          (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0 ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
        );
      },
    });
    const w = new World({ seed: 1, verifier: 'collect' });
    w.addDriver(drv);
    w.addProtocol('tcpip', {
      traffic: { ratePerSecond: 100, nblsPerSend: 3, sendIrql, returnDelayNs: ns.ms },
    });
    w.addDevice({ name: 'nic0', driver: drv.name });
    w.at(0, { kind: 'start', device: 'nic0' });
    const r = w.run(1 * ns.s);
    // The test driver reads the IRQL to check it, which Flags_Irql reports (R6.14); nothing else.
    assert.deepEqual(
      r.violations.filter((v) => v.rule !== 'Flags_Irql').map((v) => `${v.rule}: ${v.message}`),
      [],
    );
    assert.ok(seen.length > 10, `${sendIrql}: ${seen.length} sends`);
    const want = sendIrql === 'dispatch' ? { irql: 2, flag: true } : { irql: 0, flag: false };
    for (const s of seen) assert.deepEqual(s, want, sendIrql);
    // Every NBL the protocol sent reached the miniport, in chains of 3, and came back.
    const b = w.summary().protocols[0]!.bindings[0]!;
    assert.equal(nbls, seen.length * 3, sendIrql);
    assert.equal(b.sent, nbls, sendIrql);
    assert.equal(b.sendCompleted, nbls, sendIrql);
  }
});
