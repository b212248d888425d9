// packet-filter (examples/packet-filter.ts), an ndislwf-style lightweight filter tried as
// an outside developer would: every filter handler, a global module list under a lock,
// a control device (NdisRegisterDeviceEx) with counters and a drop rule set by IOCTL,
// drops both ways with NDIS_RECEIVE_FLAGS_RESOURCES honoured, OID clones and a request
// of its own, a pause that pends until its own frames are back, NdisFRestartFilter, and
// the miniport below giving up (NdisMRemoveMiniport) while the application's handle is
// open. The reference filter runs clean; each mistake switched on (packetFilterWith) is
// caught by the rule that fits.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  counterNames,
  IOCTL_PKTFLT_GET_COUNTERS,
  IOCTL_PKTFLT_RESTART,
  type PacketFilterBugs,
  packetFilter,
  packetFilterWith,
} from '../examples/packet-filter.ts';
import { driverNames } from '../src/drivers/index.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import {
  CTL_CODE,
  type DriverModule,
  FILE_ANY_ACCESS,
  FILE_DEVICE_PHYSICAL_NETCARD,
  METHOD_BUFFERED,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PAUSED,
  type World,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario, parseScenarioText } from '../src/scenario/load.ts';
import type { TraceEvent } from '../src/trace/trace.ts';

const yaml = 'examples/packet-filter.yaml';

/** The example scenario with `driver` as its filter. */
function scenario(driver: DriverModule) {
  const s = loadScenario(yaml, driverNames([packetFilter, driver]));
  s.filters = s.filters.map((f) => ({ ...f, driver: driver.name }));
  return s;
}

function run(driver: DriverModule, seed = 1, trace = true): World {
  const s = scenario(driver);
  const w = buildWorld(s, { seed, trace, drivers: [packetFilter, driver] });
  w.run(untilNs(s));
  return w;
}

/** The counters of each IOCTL_PKTFLT_GET_COUNTERS the tool made, by time. */
function counterReads(ev: readonly TraceEvent[]): { t: number; c: Record<string, number> }[] {
  const out: { t: number; c: Record<string, number> }[] = [];
  for (const e of ev) {
    if (e.actor !== 'app' || e.what !== 'DeviceIoControl tool completes') continue;
    if (e.data?.IoControlCode !== 'IOCTL_PKTFLT_GET_COUNTERS') continue;
    assert.equal(e.data?.Status, 'STATUS_SUCCESS', `counters at ${e.t}`);
    const bytes = String(e.data?.output)
      .split(' ')
      .map((h) => Number.parseInt(h, 16));
    const c: Record<string, number> = {};
    counterNames.forEach((name, i) => {
      c[name] =
        (bytes[i * 4]! | (bytes[i * 4 + 1]! << 8) | (bytes[i * 4 + 2]! << 16) | (bytes[i * 4 + 3]! << 24)) >>>
        0;
    });
    out.push({ t: e.t, c });
  }
  return out;
}

/** The sum of `count` over the calls of a callback. */
const nbls = (ev: readonly TraceEvent[], what: string): number =>
  ev.filter((e) => e.kind === 'call' && e.what === what).reduce((k, e) => k + Number(e.data?.count ?? 0), 0);

const ioctlResult = (ev: readonly TraceEvent[], code: string) =>
  ev
    .filter(
      (e) =>
        e.actor === 'app' && e.what === 'DeviceIoControl tool completes' && e.data?.IoControlCode === code,
    )
    .map((e) => ({ t: e.t, status: e.data?.Status, output: e.data?.output }));

test('packet-filter: the example runs as its scenario expects: drops both ways, the pause pends for its own frames in the hung NIC, the stack restarts, and the adapter ends at Code 43 under an open handle', () => {
  const w = run(packetFilter);
  const r = w.lastResult!;
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('\n'));
  assert.deepEqual(r.violations, []);
  const sum = w.summary();
  assert.equal(sum.devices.find((d) => d.name === 'nic0')?.problem, 43);
  const ev = w.trace.events;
  // ndislwf's codes: CTL_CODE(FILE_DEVICE_PHYSICAL_NETCARD, 0x800.., METHOD_BUFFERED, FILE_ANY_ACCESS).
  assert.equal(IOCTL_PKTFLT_GET_COUNTERS, 0x00172000);
  assert.equal(
    IOCTL_PKTFLT_RESTART,
    CTL_CODE(FILE_DEVICE_PHYSICAL_NETCARD, 0x803, METHOD_BUFFERED, FILE_ANY_ACCESS),
  );
  // R7.6: the restart's pause pended (heartbeats stuck in the hung NIC) and the last
  // send completion ended it.
  const pauses = ev.filter((e) => e.kind === 'return' && e.what === 'FilterPause').map((e) => e.data?.result);
  assert.deepEqual(pauses, ['NDIS_STATUS_PENDING', 'NDIS_STATUS_SUCCESS']);
  const completed = ev.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisFPauseComplete');
  assert.ok(completed > 0, 'NdisFPauseComplete');
  assert.ok(
    ev
      .slice(0, completed)
      .reverse()
      .find((e) => e.kind === 'call')?.what === 'FilterSendNetBufferListsComplete',
    'from the send completion that brought the last heartbeat back',
  );
  // R7.10 through NdisFRestartFilter: FilterSetModuleOptions, then FilterRestart again.
  const restarts = ev.filter((e) => e.kind === 'call' && /^Filter(SetModuleOptions|Restart)$/.test(e.what));
  assert.deepEqual(
    restarts.map((e) => e.what),
    ['FilterSetModuleOptions', 'FilterRestart', 'FilterSetModuleOptions', 'FilterRestart'],
  );
  // R7.11: detached, and the device still answers the tool.
  const f = sum.filters.find((x) => x.driver === 'packet-filter')!;
  assert.equal(f.state, 'Detached');
  const reads = counterReads(ev);
  assert.deepEqual(
    reads.map((x) => x.c.modules),
    [1, 1, 1, 0],
    'one module until the detach, none after',
  );
  const stats = ioctlResult(ev, 'IOCTL_PKTFLT_QUERY_NIC_STATS');
  assert.deepEqual(
    stats.map((x) => x.status),
    ['STATUS_SUCCESS', 'STATUS_DEVICE_REMOVED'],
  );
  // The service stopped while the tool's handle was open: the unload waited for the close.
  const close = ev.findIndex((e) => e.kind === 'call' && e.what === 'DispatchClose');
  const unload = ev.findIndex((e) => e.kind === 'call' && e.what === 'FilterDriverUnload');
  assert.ok(close > 0 && unload > close, 'FilterDriverUnload after the handle closed');
  assert.deepEqual(
    ev
      .slice(unload)
      .filter((e) => e.kind === 'ddi')
      .map((e) => e.what),
    ['NdisDeregisterDeviceEx', 'NdisFDeregisterFilterDriver'],
  );
  // FilterAttach read HeartbeatMs from the module's configuration (filters[].registry).
  assert.ok(
    ev.some(
      (e) =>
        e.kind === 'ddi' &&
        e.what === 'NdisReadConfiguration' &&
        e.data?.Keyword === 'HeartbeatMs' &&
        e.data?.value === 50,
    ),
  );
  // The filter's own OID_GEN_STATISTICS went down, NDIS's own went past it.
  const own = ev.filter(
    (e) => e.kind === 'ddi' && e.what === 'NdisFOidRequest' && e.data?.Oid === 'OID_GEN_STATISTICS',
  );
  assert.equal(own.length, 1);
  const forwarded = ev
    .filter((e) => e.kind === 'call' && e.what === 'FilterOidRequest')
    .map((e) => e.data?.Oid);
  assert.ok(!forwarded.includes('OID_GEN_STATISTICS'), 'NDIS’s own query bypasses the modules');
});

test('packet-filter: the counters the tool reads by IOCTL match the traffic the trace and the summary show', () => {
  const w = run(packetFilter);
  const ev = w.trace.events;
  const reads = counterReads(ev);
  const last = reads.at(-1)!.c; // after the detach: every module's counters folded in
  const sum = w.summary();
  const f = sum.filters.find((x) => x.driver === 'packet-filter')!.data!;
  const binding = sum.protocols.find((p) => p.name === 'tcpip')!.bindings[0]!;
  // Sends: each NBL FilterSendNetBufferLists got is passed, dropped or rejected.
  assert.equal(
    last.sendPassed! + last.sendDropped! + last.sendRejected!,
    nbls(ev, 'FilterSendNetBufferLists'),
  );
  assert.equal(last.sendPassed, f.sendsPassed, 'passed down, as NDIS counted them');
  assert.equal(last.heartbeats, f.sendsOriginated, 'its own frames, as NDIS counted them');
  assert.equal(
    last.sendDropped,
    binding.sendStatus[NDIS_STATUS_FAILURE] ?? 0,
    'tcpip got each drop back failed',
  );
  assert.equal(last.sendRejected, binding.sendStatus[NDIS_STATUS_PAUSED] ?? 0);
  assert.equal(
    last.sendDropped! + last.sendRejected!,
    f.sendsCompleted,
    'completed by it, as NDIS counted them',
  );
  assert.ok(last.sendDropped! > 100 && last.sendPassed! > 50, JSON.stringify(last));
  // Receives: each NBL FilterReceiveNetBufferLists got is passed up or dropped.
  assert.equal(last.recvPassed! + last.recvDropped!, nbls(ev, 'FilterReceiveNetBufferLists'));
  assert.equal(last.recvPassed, f.receivesPassed);
  assert.equal(last.recvPassed, nbls(ev, 'ProtocolReceiveNetBufferLists'), 'what tcpip got');
  assert.equal(
    last.recvDropped,
    f.receivesDropped,
    'dropped by it, RESOURCES ones included, as NDIS counted them',
  );
  assert.ok(last.recvDropped! > 50, JSON.stringify(last));
  // RESOURCES trains came, with frames kept and dropped in one chain.
  const resources = ev.filter(
    (e) =>
      e.kind === 'call' &&
      e.what === 'FilterReceiveNetBufferLists' &&
      String(e.data?.ReceiveFlags).includes('NDIS_RECEIVE_FLAGS_RESOURCES'),
  );
  assert.ok(resources.length > 5, `${resources.length} RESOURCES indications`);
  // OIDs: every request FilterOidRequest got was forwarded as a clone.
  assert.equal(
    last.oidsForwarded,
    ev.filter((e) => e.kind === 'call' && e.what === 'FilterOidRequest').length,
  );
  // Each read is the traffic up to its time, and the counts only grow.
  for (const name of counterNames.filter((n) => n !== 'modules'))
    for (let i = 1; i < reads.length; i++)
      assert.ok(reads[i]!.c[name]! >= reads[i - 1]!.c[name]!, `${name} went down at ${reads[i]!.t}`);
  const first = reads[0]!;
  assert.equal(
    first.c.sendPassed! + first.c.sendDropped! + first.c.sendRejected!,
    nbls(
      ev.filter((e) => e.t <= first.t),
      'FilterSendNetBufferLists',
    ),
  );
  assert.equal(first.c.sendDropped, 0, 'no rule yet');
});

test('packet-filter: determinism: the same seed gives the same trace, event for event; another seed another run, as clean', () => {
  const a = run(packetFilter, 3).trace.events;
  const b = run(packetFilter, 3).trace.events;
  assert.equal(a.length, b.length);
  assert.deepEqual(JSON.stringify(a), JSON.stringify(b));
  const c = run(packetFilter, 4);
  assert.notDeepEqual(JSON.stringify(c.trace.events), JSON.stringify(a));
  assert.equal(c.lastResult!.verdict, 'ok');
  assert.deepEqual(counterReads(a), counterReads(b));
});

test('packet-filter: explored, 40 seeds pass (the pause, the restart and the removal in every schedule drawn)', () => {
  const s = scenario(packetFilter);
  const ex = exploreSeeds(
    { scenario: s, drivers: [packetFilter], untilNs: untilNs(s), verifier: s.verifier },
    1,
    40,
  );
  assert.deepEqual(
    ex.groups.map((g) => g.signature),
    [],
  );
  assert.equal(ex.passed, 40);
});

/** The rule that stopped (or first broke in) the run of `bugs`, with its message. */
function caught(bugs: PacketFilterBugs, seed = 1): { rule: string; message: string } {
  const w = run(packetFilterWith(bugs), seed, false);
  const r = w.lastResult!;
  const v = r.bugCheck ?? r.violations[0];
  assert.ok(v, `${Object.keys(bugs).join()} passed: a false negative`);
  return { rule: v.rule, message: v.message };
}

const variants: { bugs: PacketFilterBugs; rule: string; says: RegExp; why: string }[] = [
  {
    bugs: { sendWhilePaused: true },
    rule: 'NdisSim_FilterDataState',
    says: /NdisFSendNetBufferLists from packet-filter-buggy@nic0 while it is (Pausing|Paused): 1 NBL\(s\) it originated/,
    why: 'R7.6 pausing-a-filter-module: a module in Pausing or Paused originates no send',
  },
  {
    bugs: { returnResourcesNbl: true },
    rule: 'NdisSim_FilterNblOwnership',
    says: /came with NDIS_RECEIVE_FLAGS_RESOURCES: it goes back when FilterReceiveNetBufferLists returns, not with NdisFReturnNetBufferLists/,
    why: 'R6.13 nc-ndis-filter_receive_net_buffer_lists: discard a RESOURCES receive by returning',
  },
  {
    bugs: { pauseBeforeDrained: true },
    rule: 'NdisSim_FilterPauseNotDrained',
    says: /packet-filter-buggy/,
    why: 'R7.6 nc-ndis-filter_pause: the pause waits for the sends the module originated',
  },
  {
    bugs: { freeCloneEarly: true },
    rule: 'NdisSim_FilterOidClone',
    says: /NdisFreeCloneOidRequest from packet-filter-buggy@nic0 for a clone \(OID_GEN_CURRENT_PACKET_FILTER[^)]*\) the drivers below have not completed yet/,
    why: 'nc-ndis-filter_oid_request_complete: the clone is freed in FilterOidRequestComplete',
  },
  {
    bugs: { freeCloneAfterComplete: true },
    rule: 'NdisSim_FilterOidClone',
    says: /while its clone is not freed: a filter calls NdisFreeCloneOidRequest before it completes the original/,
    why: 'nc-ndis-filter_oid_request_complete: free the clone, then complete the original',
  },
  {
    bugs: { handleAfterDetach: true },
    rule: 'NdisSim_StaleHandle',
    says: /NdisFOidRequest/,
    why: 'R7.5 nc-ndis-filter_detach: the NdisFilterHandle is dead once FilterDetach returns',
  },
  {
    bugs: { lockAcrossSend: true },
    rule: 'NdisSim_LockHeldAcrossCall',
    says: /NdisFSendNetBufferLists/,
    why: 'R8.11: no spin lock held across a call that runs other drivers',
  },
  {
    bugs: { completeOwnSendUp: true },
    rule: 'NdisSim_FilterNblOwnership',
    says: /packet-filter-buggy/,
    why: 'sending-data-from-a-filter-driver: a module does not pass the completion of its own sends up',
  },
  {
    bugs: { keepChainSplit: true },
    rule: 'NdisSim_FilterNblOwnership',
    says: /returned with the chain of an NDIS_RECEIVE_FLAGS_RESOURCES indication changed/,
    why: 'R6.13 nc-ndis-filter_receive_net_buffer_lists: restore the original linked list',
  },
  {
    bugs: { completeOwnOidUp: true },
    rule: 'NdisSim_FilterOidComplete',
    says: /for OID_GEN_STATISTICS, a request it originated with NdisFOidRequest: such a request ends in its own FilterOidRequestComplete/,
    why: 'generating-oid-requests-from-an-ndis-filter-driver: no NdisFOidRequestComplete for its own requests',
  },
  {
    bugs: { dispatchFlagAlways: true },
    rule: 'NdisSim_DispatchLevelFlag',
    says: /NdisFSendNetBufferListsComplete: the DISPATCH_LEVEL flag is set but the caller is at PASSIVE/,
    why: 'R6.14: a *_DISPATCH_LEVEL flag states the IRQL the caller runs at',
  },
  {
    bugs: { stampSourceHandle: true },
    rule: 'NdisSim_FilterDataState',
    says: /1 NBL\(s\) it got from above carry its own NdisFilterHandle in SourceHandle/,
    why: 'sending-data-from-a-filter-driver: a filter does not change the SourceHandle of NBLs it did not originate',
  },
  {
    bugs: { listLockAcrossOid: true },
    rule: 'NdisSim_LockHeldAcrossCall',
    says: /called NdisFOidRequest holding 1 spin lock/,
    why: 'R8.11: no spin lock held across a call that runs other drivers',
  },
  {
    bugs: { configLeftOpen: true },
    rule: 'NdisSim_ResourceNotFreed',
    says: /FilterDetach of packet-filter-buggy@nic0 returned without freeing 1 configuration handle\(s\) \(NdisCloseConfiguration\)/,
    why: 'accessing-configuration-information-for-a-filter-driver: close the handle; it serves until FilterDetach returns',
  },
  {
    bugs: { successWhilePending: true },
    rule: 'NdisSim_FilterOidComplete',
    says: /FilterOidRequest of packet-filter-buggy@nic0 returned NDIS_STATUS_SUCCESS, a final status, for OID_GEN_CURRENT_PACKET_FILTER while its clone is still below/,
    why: 'nc-ndis-filter_oid_request: PENDING when the forwarded clone pends',
  },
  {
    bugs: { wrongReceiveCount: true },
    rule: 'NdisSim_FilterNblOwnership',
    says: /NumberOfNetBufferLists/,
    why: 'nf-ndis-ndisfindicatereceivenetbufferlists: the count is the chain’s',
  },
];

for (const v of variants) {
  test(`packet-filter mistake ${Object.keys(v.bugs).join()}: caught as ${v.rule} (${v.why})`, () => {
    for (const seed of [1, 2]) {
      const got = caught(v.bugs, seed);
      assert.equal(got.rule, v.rule, got.message);
      assert.match(got.message, v.says);
    }
  });
}

/**
 * The tool restarts every module 15 times while a healthy NIC with four receive buffers
 * indicates frames in trains of four (each train with NDIS_RECEIVE_FLAGS_RESOURCES): at
 * each stack pause the module is Paused while the miniport still indicates.
 */
const restartStorm = `name: packet filter restart storm
until: 1s
protocols: [{ name: tcpip, traffic: { rate: 200, frameBytes: 600, returnDelay: 60ms } }]
filters: [{ driver: DRIVER }]
devices:
  - name: nic0
    driver: healthy-nic
    registry: { ReceiveBuffers: 4 }
    wire: { rxRate: 50000, frameBytes: 100..700, burst: 4 }
actions:
  - { at: 10ms, do: open, handle: tool, link: PacketFilter }
  - { at: 20ms, do: ioctl, handle: tool, code: IOCTL_PKTFLT_RESTART, outputLength: 4, every: 50ms, times: 15 }
`;

function stormRun(driver: DriverModule, seed: number) {
  const s = parseScenarioText(
    restartStorm.replace('DRIVER', driver.name),
    'storm.yaml',
    driverNames([packetFilter, driver]),
  );
  const w = buildWorld(s, { seed, trace: false, drivers: [packetFilter, driver] });
  return w.run(untilNs(s));
}

test('packet-filter mistake returnWhenPausedIgnoringResources: caught as NdisSim_FilterNblOwnership when receives reach the Paused module during a restart storm (pausing-a-filter-module: RESOURCES NBLs are not returned with NdisFReturnNetBufferLists); the reference passes', () => {
  for (const seed of [1, 2]) {
    const r = stormRun(packetFilterWith({ returnWhenPausedIgnoringResources: true }), seed);
    const v = r.bugCheck ?? r.violations[0];
    assert.equal(v?.rule, 'NdisSim_FilterNblOwnership', v?.message);
    assert.match(
      v!.message,
      /came with NDIS_RECEIVE_FLAGS_RESOURCES: it goes back when FilterReceiveNetBufferLists returns/,
    );
    const ok = stormRun(packetFilter, seed);
    assert.equal(ok.verdict, 'ok', ok.violations.map((x) => x.message).join('\n'));
  }
});

test('packet-filter mistake lockAfterRegistration: with ndis filterAttach in-registration, FilterAttach comes inside NdisFRegisterFilterDriver and takes the list lock DriverEntry allocates only after that call: NdisSim_BadParameter, saying why (initializing-a-filter-driver); the reference, which allocates it first, passes', () => {
  const text = (d: string) => `until: 300ms
ndis: { filterAttach: in-registration }
filters: [{ driver: ${d}, registry: { HeartbeatMs: 50 } }]
protocols: [{ name: tcpip, traffic: { rate: 200, frameBytes: 600 } }]
devices: [{ name: nic0, driver: healthy-nic, wire: { rxRate: 500, frameBytes: 100..700 } }]
actions:
  - { at: 10ms, do: open, handle: tool, link: PacketFilter }
  - { at: 20ms, do: ioctl, handle: tool, code: IOCTL_PKTFLT_GET_COUNTERS, outputLength: 32 }
`;
  const go = (driver: DriverModule) => {
    const s = parseScenarioText(text(driver.name), 'early.yaml', driverNames([packetFilter, driver]));
    return buildWorld(s, { seed: 1, trace: false, drivers: [packetFilter, driver] }).run(untilNs(s));
  };
  const r = go(packetFilterWith({ lockAfterRegistration: true }));
  const v = r.bugCheck ?? r.violations[0];
  assert.equal(v?.rule, 'NdisSim_BadParameter', v?.message);
  assert.match(
    v!.message,
    /spin lock not allocated.*inside NdisFRegisterFilterDriver of packet-filter-buggy/,
  );
  const ok = go(packetFilter);
  assert.equal(ok.verdict, 'ok', ok.violations.map((x) => x.message).join('\n'));
});

test('packet-filter: the reference passes the seeds the mistakes are tried on', () => {
  for (const seed of [1, 2]) {
    const r = run(packetFilter, seed, false).lastResult!;
    assert.equal(r.verdict, 'ok', r.violations.map((x) => x.message).join('\n'));
  }
});
