// The built-in protocol's traffic (src/stack/protocol.ts): NBL chains of several NBLs,
// NBLs of several NET_BUFFERs, and sends at DISPATCH, at PASSIVE or either (drawn per
// send), so that a miniport's chain handling and its send path at both IRQLs get runs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import type { InputError } from '../src/errors.ts';
import {
  DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisFIndicateReceiveNetBufferLists,
  NdisFReturnNetBufferLists,
  NdisMSendNetBufferListsComplete,
  type NET_BUFFER_LIST,
  type World,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { scriptedDriver } from './helpers/scripted.ts';

/** Each MiniportSendNetBufferLists call: its NBLs' NET_BUFFER counts, and its IRQL. */
function sends(traffic: string) {
  const calls: { nbs: number[]; irql: number }[] = [];
  let world: World | null = null;
  const drv = scriptedDriver('traffic-sink', {
    send: (a, chain, _port, flags) => {
      const nbs: number[] = [];
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
        let k = 0;
        for (let nb = x.FirstNetBuffer; nb !== null; nb = nb.Next) k++;
        nbs.push(k);
        x.Status = NDIS_STATUS_SUCCESS;
      }
      // The IRQL NDIS called at, read from the model (NDIS_CURRENT_IRQL here would be
      // Flags_Irql); the flag must say the same (R6.14).
      const irql = world!.kernel.ctx.irql;
      assert.equal(
        (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0,
        irql === DISPATCH_LEVEL,
        `NDIS_SEND_FLAGS_DISPATCH_LEVEL ${flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL ? 'set' : 'clear'} at IRQL ${irql}`,
      );
      calls.push({ nbs, irql });
      NdisMSendNetBufferListsComplete(a.handle, chain, 0);
    },
  });
  const s = parseScenarioText(
    `until: 200ms\nprotocols: [{ name: tcpip, traffic: ${traffic} }]\ndevices: [{ name: nic0, driver: traffic-sink }]\n`,
    'traffic.yaml',
    driverNames([drv]),
  );
  const w = buildWorld(s, { seed: 1, drivers: [drv] });
  world = w;
  const r = w.run(untilNs(s));
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(w.summary().adapters[0]!.sendsOutstanding, 0);
  return calls;
}

test('traffic nblsPerSend and netBuffersPerNbl: each send is a chain of that many NBLs of that many NET_BUFFERs; the defaults send one NBL of one', () => {
  const chained = sends('{ rate: 1000, nblsPerSend: 3, netBuffersPerNbl: 4 }');
  assert.ok(chained.length > 50);
  for (const c of chained) assert.deepEqual(c.nbs, [4, 4, 4]);
  for (const c of sends('{ rate: 1000 }')) assert.deepEqual(c.nbs, [1]);
});

test('traffic sendIrql: dispatch sends from the timer DPC, passive from a work item, explore draws per send (ChoiceSite.SendIrql)', () => {
  const irqls = (how: string) => new Set(sends(`{ rate: 1000, sendIrql: ${how} }`).map((c) => c.irql));
  assert.deepEqual([...irqls('dispatch')], [2]);
  assert.deepEqual([...irqls('passive')], [0]);
  assert.deepEqual([...irqls('explore')].sort(), [0, 2]);
});

test('the reference miniports put every NET_BUFFER of an NBL on the wire: vmini delivers each to the other hub port, the SimNic driver posts each to the NIC (hunt: only the first went)', () => {
  const text = `until: 500ms
protocols: [{ name: tcpip, traffic: { rate: 100, frameBytes: 200, netBuffersPerNbl: 4, nblsPerSend: 2 } }]
devices:
  - { name: vm0, driver: vmini, hardware: none }
  - { name: vm1, driver: vmini, hardware: none }
  - { name: nic0, driver: healthy-nic }
`;
  const s = parseScenarioText(text, 'frames.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  const r = w.run(untilNs(s));
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const a = new Map(w.summary().adapters.map((x) => [x.name, x]));
  // NBLs sent and completed; frames: four for each NBL.
  const vm0 = a.get('vm0')!;
  assert.ok(vm0.data.sent > 50);
  assert.equal(vm0.data.completed, vm0.data.sent);
  assert.equal(a.get('vm1')!.data.indicated, 4 * vm0.data.sent);
  const nic0 = a.get('nic0')!;
  assert.equal(nic0.data.completed, nic0.data.sent);
  assert.equal(w.nic('nic0').txFrames, 4 * nic0.data.sent);
});

test("traffic statisticsEvery: one query at a time, so a miniport slower than the period gets no pile of them (hunt: a protocol driver's unbind waited behind them for ever)", () => {
  // vmini answers a statistics query after 5 ms; tcpip's tick comes every millisecond.
  const text = `until: 200ms
protocols: [{ name: tcpip, traffic: { rate: 0, statisticsEvery: 1ms } }]
devices: [{ name: vm0, driver: vmini, hardware: none, registry: { StatisticsDelayUs: 5000 } }]
`;
  const s = parseScenarioText(text, 'stats.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  assert.equal(w.run(untilNs(s)).verdict, 'ok');
  const a = w.adapter('vm0')!;
  const data = w.summary().adapters[0]!.data;
  // About one query every 5 ms (the start's own requests aside), and none waiting in NDIS's queue.
  assert.ok(data.oidsRequested < 50, `${data.oidsRequested} requests`);
  assert.ok(data.oidsRequested > 30, `${data.oidsRequested} requests`);
  assert.equal(a.oidQueue.length, 0);
});

test('traffic frameBytes over the MTU: the protocol sends frames of MtuSize + 14 bytes and says so in a model note; at or under it, as asked (NDIS_BIND_PARAMETERS.MtuSize)', () => {
  const run = (frameBytes: number) => {
    const lengths = new Set<number>();
    const drv = scriptedDriver('mtu-sink', {
      send: (a, chain) => {
        for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) {
          for (let nb = x.FirstNetBuffer; nb !== null; nb = nb.Next) lengths.add(nb.DataLength);
          x.Status = NDIS_STATUS_SUCCESS;
        }
        NdisMSendNetBufferListsComplete(a.handle, chain, 0);
      },
    });
    const s = parseScenarioText(
      `until: 50ms\nprotocols: [{ name: tcpip, traffic: { rate: 1000, frameBytes: ${frameBytes}, netBuffersPerNbl: 2 } }]\ndevices: [{ name: nic0, driver: mtu-sink }]\n`,
      'mtu.yaml',
      driverNames([drv]),
    );
    const r = buildWorld(s, { seed: 1, drivers: [drv] }).run(untilNs(s));
    assert.equal(r.verdict, 'ok', r.message ?? '');
    return { lengths: [...lengths], notes: r.modelNotes.filter((m) => m.includes('MtuSize')) };
  };
  const jumbo = run(9014);
  assert.deepEqual(jumbo.lengths, [1514], 'every NET_BUFFER clipped to MtuSize 1500 + 14');
  assert.equal(jumbo.notes.length, 1, `one note: ${jumbo.notes.join(' | ')}`);
  assert.match(
    jumbo.notes[0]!,
    /frameBytes 9014 is over nic0's MtuSize 1500 plus the 14-byte Ethernet header: its frames there were 1514 bytes/,
  );
  assert.deepEqual(run(1514), { lengths: [1514], notes: [] });
  assert.deepEqual(run(60), { lengths: [60], notes: [] });
});

/** The DataLength of every frame tcpip gets from nic0 (a healthy-nic) under `wire`, in 300 ms. */
function received(wire: string, seed = 1): number[] {
  const lengths: number[] = [];
  const lwf = variantOfMonitorLwf('length-tap', 'notes the size of every received frame', (c) => {
    c.ReceiveNetBufferListsHandler = (m, nbls, port, count, flags) => {
      for (let x: NET_BUFFER_LIST | null = nbls; x !== null; x = x.Next)
        lengths.push(x.FirstNetBuffer!.DataLength);
      NdisFIndicateReceiveNetBufferLists(m.handle, nbls, port, count, flags);
    };
    c.ReturnNetBufferListsHandler = (m, nbls, flags) => NdisFReturnNetBufferLists(m.handle, nbls, flags);
    withStatusPassedOn(c);
  });
  const s = parseScenarioText(
    `until: 300ms\nfilters: [{ driver: length-tap }]\ndevices: [{ name: nic0, driver: healthy-nic, wire: ${wire} }]\n`,
    'wire.yaml',
    driverNames([lwf]),
  );
  buildWorld(s, { seed, drivers: [lwf] }).run(untilNs(s));
  return lengths;
}

test('wire frameBytes "a..b": frames arrive in sizes across the range, the same in every run whatever the seed; a single size stays one size; a range the other way round is refused with file, field, expected and found', () => {
  const mixed = received('{ rxRate: 2000, frameBytes: "100..700", burst: 4 }');
  assert.ok(mixed.length > 300, `${mixed.length} frames`);
  assert.ok(
    mixed.every((n) => n >= 100 && n <= 700),
    'every size inside the range',
  );
  assert.ok(new Set(mixed).size > mixed.length / 3, 'the sizes vary');
  assert.ok(mixed.some((n) => n < 300) && mixed.some((n) => n > 500), 'both ends of the range come');
  assert.deepEqual(received('{ rxRate: 2000, frameBytes: "100..700", burst: 4 }'), mixed, 'deterministic');
  const other = received('{ rxRate: 2000, frameBytes: "100..700", burst: 4 }', 7);
  const k = Math.min(other.length, mixed.length);
  assert.deepEqual(other.slice(0, k), mixed.slice(0, k), 'the sizes follow the frame count, not the seed');
  assert.deepEqual(new Set(received('{ rxRate: 500, frameBytes: 400 }')), new Set([400]));
  assert.throws(
    () =>
      parseScenarioText(
        'devices: [{ name: nic0, driver: healthy-nic, wire: { frameBytes: "700..100" } }]\n',
        'w.yaml',
        driverNames(),
      ),
    (e: InputError) =>
      e.problems.some((p) =>
        /^w\.yaml: devices\[0\]\.wire\.frameBytes: expected a frame size in bytes from 14 to 9014, or a range of them such as "64\.\.1514" \(low first\), got "700\.\.100"/.test(
          p,
        ),
      ),
  );
});
