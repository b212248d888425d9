// vmini, the virtual miniport: frames cross the hub, one adapter is unplugged,
// another removed through NdisMRemoveMiniport while an OID is pending and receives
// are outstanding; every count balances.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { buildWorld, checkExpectations, untilNs } from '../src/scenario/build.ts';
import { loadScenario, parseScenarioText } from '../src/scenario/load.ts';
import { findEvent, is } from './helpers/world.ts';

const s = loadScenario('examples/vmini-traffic.yaml', driverNames());

test('vmini-traffic: NdisMRemoveMiniport while an OID is pending and receives are outstanding, and it ends as expected', () => {
  const w = buildWorld(s);
  const r = w.run(untilNs(s));
  assert.equal(r.verdict, 'ok');
  // R5.11: NdisMRemoveMiniport leaves what is under way alone; the trace's
  // device-failed line records it.
  const i = findEvent(
    w.trace.events,
    (e) => is('ddi', 'NdisMRemoveMiniport')(e) && e.data?.adapter === 'vm1',
  );
  assert.ok(i >= 0);
  const j = findEvent(
    w.trace.events,
    (e) => is('ndis', 'device-failed flag set')(e) && e.data?.adapter === 'vm1',
    i,
  );
  assert.equal(j, i + 1);
  const at = w.trace.events[j]!.data!;
  assert.equal(at.why, 'NdisMRemoveMiniport');
  assert.equal(at.oidPending, true, 'an OID request was pending in vmini');
  assert.ok((at.receives as number) > 0, 'the protocol held received NBLs');
  assert.equal(at.state, 'Running');
  assert.ok(checkExpectations(s, r, w.summary())?.met);
});

test('vmini-traffic: frames sent on one adapter are received by the others; counts balance over 50 seeds', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const w = buildWorld(s, { seed, trace: false });
    const r = w.run(untilNs(s));
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.violations.map((v) => v.message).join('; ')}`);
    const sum = w.summary();
    for (const a of sum.adapters) {
      assert.equal(a.data.sent, a.data.completed + a.sendsOutstanding, `seed ${seed} ${a.name}`);
      assert.equal(a.data.indicated, a.data.returned + a.receivesOutstanding, `seed ${seed} ${a.name}`);
      assert.equal(
        a.data.oidsRequested,
        a.data.oidsCompleted + (w.adapter(a.name)!.oid ? 1 : 0) + w.adapter(a.name)!.oidQueue.length,
      );
      assert.ok(a.data.indicated > 0, `seed ${seed} ${a.name} received frames`);
    }
    const byName = new Map(sum.adapters.map((a) => [a.name, a]));
    assert.equal(byName.get('vm1')!.haltAction, 'NdisHaltDeviceFailed');
    assert.equal(byName.get('vm2')!.haltAction, 'NdisHaltDeviceSurpriseRemoved');
    assert.equal(w.device('vm1').problem, 43);
    assert.equal(w.device('vm2').status, 'gone');
    // Each of vm0's frames reached both other ports while they listened.
    const vm0 = byName.get('vm0')!;
    assert.ok(vm0.data.sent > 1000);
  }
});

test("expect: settled counts a stuck OID request, not one the miniport got a moment before the run's end", () => {
  // tcpip asks for statistics every millisecond and vmini answers each after 2 ms: an OID
  // request is always in flight, so every run ends with one in the miniport.
  const text = (until: string) =>
    `until: ${until}\nprotocols:\n  - { name: tcpip, traffic: { rate: 0, statisticsEvery: 1ms } }\ndevices:\n  - { name: vm0, driver: vmini, hardware: none }\nexpect:\n  verdict: ok\n`;
  const sc = parseScenarioText(text('200ms'), 'settled.yaml', driverNames());
  const w = buildWorld(sc);
  const r = w.run(untilNs(sc));
  // R6.3: the line names the OID, its requester and since when.
  assert.ok(
    r.pending.some((p) =>
      /^vm0: an OID request is pending in the miniport: OID_GEN_STATISTICS \(query\) from tcpip since \d+\.\d{6} s \(NdisMOidRequestComplete not called\)$/.test(
        p,
      ),
    ),
    r.pending.join('; '),
  );
  assert.deepEqual(r.unsettled, []);
  assert.equal(checkExpectations(sc, r, w.summary())?.met, true);
});

test('vmini-traffic: NdisAllocateNetBufferAndNetBufferList is traced as NdisAllocateNetBufferList is, with the NBL it gave and its data length', () => {
  const w = buildWorld(s);
  w.run(untilNs(s));
  const allocs = w.trace.events.filter(is('ddi', 'NdisAllocateNetBufferAndNetBufferList'));
  assert.ok(allocs.length > 0, 'vmini allocates its receive NBLs with it');
  for (const e of allocs) {
    assert.equal(typeof e.data?.nbl, 'number', JSON.stringify(e.data));
    assert.ok((e.data?.dataLength as number) > 0, JSON.stringify(e.data));
  }
});
