// The terminal timeline: indentation follows the thread an event ran on, callbacks
// name their adapter, and the actor column is as wide as the widest actor.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkWatch } from '../examples/link-watch.ts';
import { packetFilter } from '../examples/packet-filter.ts';
import { sgRace, sgRaceFixed } from '../examples/sg-race.ts';
import { driverNames } from '../src/drivers/index.ts';
import { NDIS_RAISE_IRQL_TO_DISPATCH, NDIS_STATUS_SUCCESS, NdisMSleep } from '../src/index.ts';
import { formatBugCheckReport } from '../src/report/summary.ts';
import { callDepths, formatTimeline } from '../src/report/timeline.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario, parseScenarioText } from '../src/scenario/load.ts';
import { Trace } from '../src/trace/trace.ts';
import { World } from '../src/world.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';
import { ns } from './helpers/world.ts';

function timeline(file: string): string[] {
  const s = loadScenario(file, driverNames());
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  return formatTimeline(w.trace.events, { color: false });
}

test('R8.12: a thread asleep in NdisMSleep keeps its depth; what other threads do meanwhile is not indented under it', () => {
  // A work item sleeps in a loop from 0.2 s; the removal at 1.05 s runs on other threads.
  const lines = timeline('examples/gallery/NdisSim_StaleHandle.yaml');
  const sleep = lines.findIndex((l) =>
    / {3}NdisMSleep\(MicrosecondsToSleep=100000\)( \(×\d+ in a row.*\))?$/.test(l),
  );
  assert.ok(sleep > 0, 'the work item sleeps one level inside NdisIoWorkItemFunction');
  const halt = lines.find((l) => l.includes('MiniportHaltEx('));
  assert.match(
    halt ?? '',
    /PASSIVE +bad-remove-after-halt → MiniportHaltEx\(nic0, HaltAction=NdisHaltDeviceDisabled\)$/,
  );
  const irp = lines.find((l) => l.includes('IRP_MN_QUERY_REMOVE_DEVICE → nic0'));
  assert.match(irp ?? '', /PASSIVE +pnp +IRP_MN_QUERY_REMOVE_DEVICE/);
  assert.doesNotMatch(irp ?? '', /pnp {22}/, 'at depth 0, not under the sleeping work item');
});

test('callbacks name their adapter first; the actor column fits the widest actor', () => {
  const lines = timeline('examples/gallery/NdisSim_StaleHandle.yaml');
  const width = 'bad-remove-after-halt'.length;
  assert.equal(lines[0], `${'time'.padStart(14)}  cpu ${'irql'.padEnd(8)} ${'actor'.padEnd(width)} event`);
  const event = lines[0]!.indexOf('event');
  // Every row but the footer (what was folded), which is no column.
  for (const l of lines.slice(1).filter((x) => !x.trimStart().startsWith('…')))
    assert.equal(l[event - 1], ' ', `column: ${l}`);
  assert.ok(lines.some((l) => l.endsWith('→ ProtocolBindAdapterEx(nic0)')));
  assert.ok(lines.some((l) => l.endsWith('→ MiniportPause(nic0, PauseReason=NDIS_PAUSE_NDIS_INTERNAL)')));
});

test('the data path is folded away unless asked for; the count of what was folded accounts for every missing line, and the control path all stays', () => {
  const s = loadScenario('examples/simnic-traffic.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  const all = formatTimeline(w.trace.events, { color: false, dataPath: true });
  const folded = formatTimeline(w.trace.events, { color: false });
  const footer = folded[folded.length - 1]!;
  const n = Number(/… ([\d,]+) trace events of the data path not shown/.exec(footer)?.[1]?.replace(/,/g, ''));
  assert.ok(n > 100_000, footer);
  // Header and footer aside, shown and folded make up the whole timeline.
  assert.equal(folded.length - 2 + n, all.length - 1);
  const dataPath =
    /(MiniportSendNetBufferLists|MiniportReturnNetBufferLists|ProtocolReceiveNetBufferLists|ProtocolSendNetBufferListsComplete)|sends completed/;
  assert.ok(all.some((l) => dataPath.test(l)));
  assert.equal(folded.filter((l) => dataPath.test(l)).length, 0);
  // Everything that is not a line of the data path or of a callback that only served
  // it is still there, in order: the check-for-hang calls, the resets, the removal.
  const control = (l: string) =>
    /MiniportCheckForHangEx|MiniportResetEx|NdisMRemoveMiniport|MiniportHaltEx|IRP_MN_|binding|Code 43/.test(
      l,
    );
  assert.deepEqual(folded.filter(control), all.filter(control));
  assert.ok(folded.some((l) => l.includes('→ MiniportHaltEx(nic1, HaltAction=NdisHaltDeviceFailed)')));
});

test("a bug check's last events keep the data path: the rule it breaks may be there", () => {
  const s = loadScenario('examples/gallery/NdisSim_SendCompleteUnexpected.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  const r = w.run(untilNs(s));
  assert.equal(r.bugCheck?.rule, 'NdisSim_SendCompleteUnexpected');
  const report = formatBugCheckReport(r.bugCheck!, w.trace, false);
  assert.ok(report.some((l) => l.includes('MiniportSendNetBufferLists')));
  assert.ok(!report.some((l) => l.includes('not shown')));
});

test("a timer's or work item's callback names the driver's routine, since they all run as NdisTimerFunction or NdisIoWorkItemFunction", () => {
  const s = loadScenario('examples/vmini-traffic.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  const all = formatTimeline(w.trace.events, { color: false, dataPath: true });
  assert.ok(all.some((l) => l.endsWith('→ NdisIoWorkItemFunction(vm0, WorkItemRoutine=statisticsWork)')));
  const timers = formatTimeline(w.trace.events, { color: false, dataPath: true }).filter((l) =>
    l.includes('→ NdisTimerFunction('),
  );
  assert.ok(timers.length > 0);
  for (const l of timers) assert.match(l, /→ NdisTimerFunction\(vm\d, TimerFunction=\w+\)$/);
});

test('a trace keeps at most traceMax events, dropping the oldest quarter when full, so the events before a late bug check are still the right ones', () => {
  const t = new Trace(true, 8);
  for (let i = 0; i < 20; i++) t.add(i, 0, 0, 'x', 'ndis', `e${i}`);
  assert.ok(t.events.length <= 8);
  assert.equal(t.dropped + t.events.length, 20);
  assert.equal(t.position, 20);
  assert.equal(t.events.at(-1)!.what, 'e19');
  assert.equal(t.events[0]!.what, `e${t.dropped}`);
  // A long traffic run that ends in a bug check: a small trace reports the same last
  // events as the whole one.
  const s = loadScenario('examples/gallery/NdisSim_SendCompleteUnexpected.yaml', driverNames());
  const report = (traceMax?: number) => {
    const w = buildWorld(s, { seed: 1, ...(traceMax === undefined ? {} : { traceMax }) });
    const r = w.run(untilNs(s));
    return { report: formatBugCheckReport(r.bugCheck!, w.trace, false), w };
  };
  const whole = report();
  const small = report(64);
  assert.ok(small.w.trace.dropped > 0, 'the small trace dropped events');
  assert.equal(whole.w.trace.dropped, 0);
  assert.deepEqual(small.report, whole.report);
});

test('a filter module in the stack: its data handlers are folded with the rest of the data path, its control path stays', () => {
  const s = parseScenarioText(
    `until: 300ms
protocols: [{ name: tcpip, traffic: { rate: 200, frameBytes: 512, returnDelay: 1ms } }]
filters: [{ driver: counting-lwf }]
devices:
  - { name: nic0, driver: healthy-nic, wire: { rxRate: 200, frameBytes: 256 } }
actions: [{ at: 200ms, do: surprise-remove, device: nic0 }]
`,
    'filter-traffic.yaml',
    driverNames(),
  );
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  const all = formatTimeline(w.trace.events, { color: false, dataPath: true });
  const folded = formatTimeline(w.trace.events, { color: false });
  const filterData =
    /Filter(SendNetBufferLists|SendNetBufferListsComplete|ReceiveNetBufferLists|ReturnNetBufferLists)\(|NdisF(SendNetBufferLists|SendNetBufferListsComplete|IndicateReceiveNetBufferLists|ReturnNetBufferLists)\(/;
  assert.ok(all.filter((l) => filterData.test(l)).length > 100);
  assert.deepEqual(
    folded.filter((l) => filterData.test(l)),
    [],
  );
  const control = (l: string) =>
    /FilterAttach|FilterRestart|FilterPause|FilterDetach|FilterNetPnPEvent/.test(l);
  assert.ok(folded.filter(control).length >= 5);
  assert.deepEqual(folded.filter(control), all.filter(control));
});

test("a bus-master send path is folded: its scatter/gather lists asked for and freed, and a MiniportProcessSGList NDIS calls from its own DPC, are the data path's", () => {
  const s = exampleScenario('examples/sg-race.yaml', [sgRace, sgRaceFixed], 'sg-race-fixed');
  s.protocols[0]!.traffic!.rate = 2000;
  const { w, r } = runExample(s, [sgRace, sgRaceFixed], 1, true);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  const sg = /NdisMAllocateNetBufferSGList|NdisMFreeNetBufferSGList|MiniportProcessSGList/;
  const all = formatTimeline(w.trace.events, { color: false, dataPath: true });
  assert.ok(all.filter((l) => sg.test(l)).length > 1000, 'the run sends through SG lists');
  // Some of the callbacks came from NDIS's DPC, after the allocation returned: at depth 0.
  const depths = callDepths(w.trace.events);
  assert.ok(
    w.trace.events.some((e, i) => e.kind === 'call' && e.what === 'MiniportProcessSGList' && depths[i] === 0),
    'a MiniportProcessSGList at the top of a DPC, not inside a send',
  );
  const folded = formatTimeline(w.trace.events, { color: false });
  assert.deepEqual(
    folded.filter((l) => sg.test(l)),
    [],
  );
  assert.ok(folded.length < 100, `${folded.length} lines`);
});

test('a bug check cut short a DPC: the interrupt held back before it is printed before it, as it ran', () => {
  const t = new Trace(true);
  const at = (what: string, kind: 'call' | 'return' | 'ddi' | 'violation', irql: number) =>
    t.add(1000, 0, irql, 'drv', kind, what, kind === 'call' ? { adapter: 'nic0' } : undefined);
  at('MiniportInterrupt', 'call', 3);
  at('MiniportInterrupt', 'return', 3);
  at('MiniportInterruptDPC', 'call', 2);
  at('NdisMIndicateReceiveNetBufferLists', 'ddi', 2);
  at('NdisSim_ReceiveNotAllowed', 'violation', 2);
  const lines = formatTimeline(t.events, { color: false });
  const isr = lines.findIndex((l) => l.includes('→ MiniportInterrupt('));
  const dpc = lines.findIndex((l) => l.includes('→ MiniportInterruptDPC('));
  assert.ok(isr > 0 && dpc > isr, lines.join('\n'));
});

test('an actor longer than the column (32) keeps the columns in line: its start and end around an ellipsis', () => {
  const t = new Trace(true);
  const long = 'pcie-nic-bug-halt-leaves-nic-enabled';
  t.add(1000, 0, 0, 'ndis', 'ndis', 'note');
  t.add(2000, 0, 0, long, 'call', 'MiniportPause', { adapter: 'nic0' });
  t.add(3000, 0, 0, long, 'return', 'MiniportPause', { adapter: 'nic0' });
  const lines = formatTimeline(t.events, { color: false });
  const event = lines[0]!.indexOf('event');
  assert.equal(event - lines[0]!.indexOf('actor'), 33, 'a column of 32 and a space');
  // Every row but the footer (what was folded), which is no column.
  for (const l of lines.slice(1).filter((x) => !x.trimStart().startsWith('…')))
    assert.equal(l[event - 1], ' ', `column: ${l}`);
  assert.ok(
    lines.some((l) => l.includes('pcie-nic-bug-hal…ves-nic-enabled → MiniportPause(nic0)')),
    lines.join('\n'),
  );
});

test('an IRP completed with a failure shows its NTSTATUS by name (a failed start: STATUS_UNSUCCESSFUL), a value the table lacks as hex', () => {
  const t = new Trace(true);
  t.add(1000, 0, 0, 'pnp', 'irp', 'IRP_MN_START_DEVICE', {
    device: 'nic0',
    phase: 'completed',
    status: 0xc0000001,
  });
  t.add(2000, 0, 0, 'pnp', 'irp', 'IRP_MN_START_DEVICE', {
    device: 'nic0',
    phase: 'completed',
    status: 0xc0001234,
  });
  const lines = formatTimeline(t.events, { color: false });
  assert.ok(lines[1]!.endsWith('IRP_MN_START_DEVICE completed (Status=STATUS_UNSUCCESSFUL)'), lines[1]);
  assert.ok(lines[2]!.endsWith('IRP_MN_START_DEVICE completed (Status=0xC0001234)'), lines[2]);
});

test('with traffic, a work item that only re-arms a timer is folded, but one that cancels a timer (a watchdog stopped for a pause or a power-down) stays', () => {
  const t = new Trace(true);
  const item = (at: number, ddi: string) => {
    t.add(at, 0, 0, 'drv', 'call', 'NdisIoWorkItemFunction', { adapter: 'nic0' });
    t.add(at, 0, 0, 'drv', 'ddi', ddi);
    t.add(at, 0, 0, 'drv', 'return', 'NdisIoWorkItemFunction');
  };
  // Traffic: the timeline folds the data path's clockwork.
  t.add(500, 0, 2, 'drv', 'call', 'MiniportSendNetBufferLists', { adapter: 'nic0' });
  t.add(500, 0, 2, 'drv', 'return', 'MiniportSendNetBufferLists');
  item(1000, 'NdisSetTimerObject');
  item(2000, 'NdisCancelTimerObject');
  const lines = formatTimeline(t.events, { color: false });
  assert.equal(lines.filter((l) => l.includes('NdisIoWorkItemFunction(nic0)')).length, 1, lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('NdisCancelTimerObject')));
  assert.ok(!lines.some((l) => l.includes('NdisSetTimerObject')));
});

test('R7.6: a pause a filter completes from its last send completion stays in the folded timeline (NdisFPauseComplete, Pausing → Paused, and the data-path call around them); the other send completions fold', () => {
  const s = loadScenario('examples/packet-filter.yaml', driverNames([packetFilter]));
  const w = buildWorld(s, { seed: 1, drivers: [packetFilter] });
  w.run(untilNs(s));
  const folded = formatTimeline(w.trace.events, { color: false });
  const all = formatTimeline(w.trace.events, { color: false, dataPath: true });
  const at = folded.findIndex((l) => /NdisFPauseComplete\(module=packet-filter@nic0\)/.test(l));
  assert.ok(at > 0, 'the pause completion is shown');
  assert.match(folded[at - 1]!, /→ FilterSendNetBufferListsComplete\(nic0/, 'with the call it came from');
  assert.match(folded[at + 1]!, /filter module Pausing → Paused/);
  assert.match(folded[at + 2]!, /← FilterSendNetBufferListsComplete/);
  const completions = (ls: string[]) => ls.filter((l) => /→ FilterSendNetBufferListsComplete/.test(l)).length;
  assert.equal(completions(folded), 1, 'only the completion that finished the pause is shown');
  assert.ok(completions(all) > 100, 'the rest were folded');
  const count = Number(/… ([\d,]+) trace events/.exec(folded.at(-1)!)?.[1]?.replace(/,/g, ''));
  assert.equal(folded.length - 2 + count, all.length - 1, 'the fold count accounts for every missing line');
});

test('statistics queries a protocol polls fold with the data path when they succeed; a failed one, and those a scenario asks for, stay', () => {
  // vmini-traffic polls every 5 ms on three adapters: about 1,800 queries, 8 lines each.
  const s = loadScenario('examples/vmini-traffic.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  const all = formatTimeline(w.trace.events, { color: false, dataPath: true });
  const folded = formatTimeline(w.trace.events, { color: false });
  const stats = (ls: string[]) => ls.filter((l) => l.includes('OID_GEN_STATISTICS'));
  assert.ok(stats(all).length > 5000, `${stats(all).length} statistics lines with --datapath`);
  assert.ok(folded.length < 400, `${folded.length} lines folded`);
  // vm1's query pending at its NdisMRemoveMiniport is refused at surprise removal: shown.
  assert.deepEqual(
    stats(folded).map((l) => l.trim().replace(/^.*? (→ |Ndis)/, '$1')),
    [
      'NdisMOidRequestComplete(Oid=OID_GEN_STATISTICS, Status=NDIS_STATUS_NOT_ACCEPTED)',
      '→ ProtocolOidRequestComplete(vm1, Oid=OID_GEN_STATISTICS, status=NDIS_STATUS_NOT_ACCEPTED, BytesWritten=0)',
    ],
  );
  assert.ok(
    !folded.some((l) => l.includes('WorkItemRoutine=statisticsWork')),
    'the work item that only completed a query folds too',
  );
  assert.match(folded.at(-1)!, /statistics queries that succeeded/);
  // A scenario that asks a device for its statistics sees every query of that device.
  const asked = parseScenarioText(
    `name: asked
seed: 1
until: 40ms
protocols: [{ name: tcpip, traffic: { rate: 100, statisticsEvery: 5ms } }]
devices: [{ name: vm0, driver: vmini, hardware: none }, { name: vm1, driver: vmini, hardware: none }]
actions: [{ at: 20ms, do: oid, device: vm0, oid: OID_GEN_STATISTICS }]
`,
    'asked.yaml',
    driverNames(),
  );
  const wa = buildWorld(asked, { seed: 1 });
  wa.run(untilNs(asked));
  const lines = formatTimeline(wa.trace.events, { color: false });
  const calls = (dev: string) =>
    lines.filter((l) => l.includes(`→ MiniportOidRequest(${dev}, Oid=OID_GEN_STATISTICS`)).length;
  assert.ok(calls('vm0') >= 5, `${calls('vm0')} vm0 queries shown`);
  assert.equal(calls('vm1'), 0);
  assert.ok(lines.some((l) => l.includes('vm0: OID request completed (Oid=OID_GEN_STATISTICS')));
});

test('statistics queries a protocol polls through a filter module (FilterOidRequest, its clone, FilterOidRequestComplete) fold as they do without one', () => {
  const text = (filters: string) => `name: stats through a filter
seed: 1
until: 40ms
${filters}
protocols: [{ name: tcpip, traffic: { rate: 100, statisticsEvery: 5ms } }]
devices: [{ name: vm0, driver: vmini, hardware: none }]
`;
  const lines = (filters: string) => {
    const s = parseScenarioText(text(filters), 'stats.yaml', driverNames());
    const w = buildWorld(s, { seed: 1 });
    w.run(untilNs(s));
    return formatTimeline(w.trace.events, { color: false }).filter((l) => l.includes('OID_GEN_STATISTICS'));
  };
  assert.deepEqual(lines(''), [], 'no filter: every successful poll folds');
  assert.deepEqual(
    lines('filters: [{ driver: oid-logging-lwf }]'),
    [],
    "a filter's share of a successful poll folds with the rest of it",
  );
});

test('R2.13: a halt that polls with NdisMSleep in a loop is one timeline line with the count and the time the sleeps span; --datapath shows every sleep', () => {
  const s = loadScenario('examples/gallery/NdisSim_HaltWatchdog.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  const all = formatTimeline(w.trace.events, { color: false, dataPath: true });
  const folded = formatTimeline(w.trace.events, { color: false });
  const sleeps = all.filter((l) => l.includes('NdisMSleep(MicrosecondsToSleep=10000)'));
  assert.ok(sleeps.length > 100, `the halt sleeps ${sleeps.length} times`);
  const shown = folded.filter((l) => l.includes('NdisMSleep('));
  assert.equal(shown.length, 1, shown.join('\n'));
  assert.match(
    shown[0]!,
    new RegExp(
      `^ +1\\.000670 s +0 PASSIVE +bad-halt-waits-forever +NdisMSleep\\(MicrosecondsToSleep=10000\\) \\(×${sleeps.length} in a row over 2\\.000000 s, the last at 3\\.000670 s\\)$`,
    ),
  );
  assert.match(folded.at(-1)!, new RegExp(`… ${sleeps.length - 1} more of a line repeated in a row`));
  // What follows the loop is still there: the watchdog's rule and the bug check.
  assert.ok(folded.some((l) => l.includes('violation NdisSim_HaltWatchdog')));
});

test('R8.12: a resumable routine that polls with NdisMSleep folds the same way, whichever CPU each wake ran on; a sleep after other lines starts a new run', () => {
  const s = exampleScenario('examples/link-watch.yaml', [linkWatch], 'link-watch');
  const { w } = runExample(s, [linkWatch], 1, true);
  const lines = formatTimeline(w.trace.events, { color: false });
  const sleeps = lines.filter((l) => l.includes('NdisMSleep(MicrosecondsToSleep=250000)'));
  assert.match(
    sleeps[1]!,
    /set aside until 0\.500310 s \(×13 in a row over 3\.000000 s, the last at 3\.250310 s\)$/,
  );
  assert.ok(sleeps.length >= 2 && sleeps.length < 5, sleeps.join('\n'));
});

test('Irql_Miniport_Driver_Function: a DDI call the bug check stops before it returns still has its line, before the violation and the bug check', () => {
  const drv = scriptedDriver('restart-sleeps-at-dispatch', {
    restart: () => {
      NDIS_RAISE_IRQL_TO_DISPATCH();
      NdisMSleep(10);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = new World({ seed: 1 });
  w.addDriver(drv);
  w.addDevice({ name: 'nic0', driver: drv.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  assert.equal(r.bugCheck?.rule, 'Irql_Miniport_Driver_Function');
  const lines = formatTimeline(w.trace.events, { color: false });
  const call = lines.findIndex((l) => /NdisMSleep\(\) = no return \(bug check\)$/.test(l));
  assert.ok(call > 0, lines.slice(-5).join('\n'));
  assert.match(lines[call]!, /DISPATCH/);
  assert.match(lines[call + 1]!, /Irql_Miniport_Driver_Function/);
  assert.match(lines[call + 2]!, /DRIVER_IRQL_NOT_LESS_OR_EQUAL/);
  assert.equal(lines.filter((l) => l.includes('NdisMSleep(')).length, 1);
  const report = formatBugCheckReport(r.bugCheck!, w.trace, false);
  assert.ok(report.some((l) => l.includes('NdisMSleep() = no return (bug check)')));
});

test('NBL allocations fold with the data path (a receive ring of 64 filled in MiniportInitializeEx was 64 lines); --datapath shows each, and the pool allocation stays', () => {
  const s = loadScenario('examples/simnic-traffic.yaml', driverNames());
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  const allocs = (ls: string[]) =>
    ls.filter((l) => /NdisAllocateNetBuffer(AndNetBuffer)?List\(/.test(l)).length;
  assert.ok(
    allocs(formatTimeline(w.trace.events, { color: false, dataPath: true })) > 100,
    'every allocation',
  );
  const folded = formatTimeline(w.trace.events, { color: false });
  assert.equal(allocs(folded), 0, 'folded');
  assert.ok(
    folded.some((l) => l.includes('NdisAllocateNetBufferListPool(')),
    'the pool allocation stays',
  );
});
