// The Perfetto sink (src/report/perfetto.ts): the trace as Chrome trace events, and
// `--perfetto <file>` on the command line.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import {
  type ChromeTrace,
  type ChromeTraceEvent,
  machinePid,
  toPerfettoJson,
} from '../src/report/perfetto.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import type { RunResult } from '../src/world.ts';
import { cli } from './helpers/cli.ts';

function runScenario(file: string): { events: readonly TraceEvent[]; result: RunResult; json: string } {
  const s = loadScenario(file, driverNames());
  const w = buildWorld(s, { seed: s.seed });
  const result = w.run(untilNs(s));
  const json = toPerfettoJson(w.trace.events, { endNs: result.endNs, dropped: w.trace.dropped });
  return { events: w.trace.events, result, json };
}

const trackOf = (e: ChromeTraceEvent): string => `${e.pid}/${e.tid}`;

/** The names of the threads (tracks) by pid/tid, from the metadata events. */
function trackNames(t: ChromeTrace): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of t.traceEvents)
    if (e.ph === 'M' && e.name === 'thread_name') m.set(trackOf(e), String(e.args?.name));
  return m;
}

/**
 * Checks that every track's B and E events nest, in file order: each E ends the
 * innermost open B of its name, timestamps never go back, nothing stays open.
 * Returns the slices (B events) by track.
 */
function checkBalanced(t: ChromeTrace): Map<string, ChromeTraceEvent[]> {
  const open = new Map<string, ChromeTraceEvent[]>();
  const slices = new Map<string, ChromeTraceEvent[]>();
  const lastTs = new Map<string, number>();
  for (const e of t.traceEvents) {
    if (e.ph === 'M') continue;
    assert.equal(typeof e.ts, 'number', `an event without a timestamp: ${JSON.stringify(e)}`);
    assert.ok(typeof e.pid === 'number' && typeof e.tid === 'number', JSON.stringify(e));
    const k = trackOf(e);
    assert.ok(e.ts! >= (lastTs.get(k) ?? 0), `track ${k}: time goes back at ${JSON.stringify(e)}`);
    lastTs.set(k, e.ts!);
    if (e.ph === 'i') continue;
    const stack = open.get(k) ?? [];
    open.set(k, stack);
    if (e.ph === 'B') {
      stack.push(e);
      const list = slices.get(k) ?? [];
      list.push(e);
      slices.set(k, list);
    } else {
      assert.equal(e.ph, 'E', JSON.stringify(e));
      const b = stack.pop();
      assert.ok(b !== undefined, `track ${k}: an E with no open slice: ${JSON.stringify(e)}`);
      assert.equal(e.name, b.name, `track ${k}: ${JSON.stringify(e)} ends ${b.name}`);
    }
  }
  for (const [k, stack] of open)
    assert.equal(stack.length, 0, `track ${k}: left open: ${stack.map((e) => e.name).join(', ')}`);
  return slices;
}

test('Perfetto: the reset storm becomes a Chrome trace whose slices balance on every track', () => {
  const { events, result, json } = runScenario('examples/reset-storm.yaml');
  const t = JSON.parse(json) as ChromeTrace;
  assert.equal(t.displayTimeUnit, 'ns');
  assert.equal(t.metadata.traceEvents, events.length);
  assert.equal(t.metadata.droppedTraceEvents, 0);
  const slices = checkBalanced(t);
  // Timestamps: the trace's nanoseconds in microseconds, and the last slices end when the run did.
  const reset = events.find((e) => e.kind === 'call' && e.what === 'MiniportResetEx')!;
  const b = t.traceEvents.find((e) => e.ph === 'B' && e.name === 'MiniportResetEx')!;
  assert.equal(b.ts, reset.t / 1000);
  const last = t.traceEvents[t.traceEvents.length - 1]!;
  assert.equal(last.ts! * 1000, result.endNs);
  // The adapter's state machine: a slice per state entered, in the trace's order.
  const names = trackNames(t);
  const stateKey = [...names].find(([, n]) => n === 'state and NDIS steps')?.[0];
  assert.ok(stateKey !== undefined, 'no state track');
  const entered = events.filter((e) => e.kind === 'state').map((e) => e.what.split('→')[1]!.trim());
  const stateSlices = slices.get(stateKey)!.filter((e) => e.cat === 'state');
  assert.deepEqual(
    stateSlices.map((e) => e.name),
    entered,
  );
  assert.deepEqual(entered.slice(0, 2), ['Initializing', 'Paused']);
  // IRPs are slices from sent to completed on the device's PnP track.
  const pnpKey = [...names].find(([, n]) => n === 'PnP')![0];
  const irps = slices.get(pnpKey)!.filter((e) => e.cat === 'irp');
  assert.deepEqual(
    irps.map((e) => e.name),
    events.filter((e) => e.kind === 'irp' && e.data?.phase === 'sent').map((e) => e.what),
  );
  // The live dump and the event-log entry are on the adapter's track.
  assert.ok(slices.get(stateKey)!.some((e) => e.cat === 'dump' && e.name.includes('LIVE_DUMP')));
  assert.ok(slices.get(stateKey)!.some((e) => e.name === 'event log NDIS_ERROR_CODE_HARDWARE_FAILURE'));
});

test('Perfetto: the callback slices on each CPU track are the trace call/return pairs, by name and IRQL', () => {
  const { events, json } = runScenario('examples/filter-stack.yaml');
  const t = JSON.parse(json) as ChromeTrace;
  const slices = checkBalanced(t);
  const names = trackNames(t);
  const cpus = [...new Set(events.map((e) => e.cpu))].sort();
  assert.ok(cpus.length >= 2, 'the run used one CPU only');
  let total = 0;
  for (const cpu of cpus) {
    const key = [...names].find(([k, n]) => n === `CPU ${cpu}` && k.startsWith(`${machinePid}/`))?.[0];
    assert.ok(key !== undefined, `no track for CPU ${cpu}`);
    const calls = events.filter((e) => e.kind === 'call' && e.cpu === cpu);
    const got = slices.get(key)!.filter((e) => e.cat === 'callback');
    assert.deepEqual(
      got.map((e) => e.name),
      calls.map((e) => e.what),
    );
    assert.deepEqual(
      got.map((e) => e.args?.irql),
      calls.map((e) => ['PASSIVE', 'APC', 'DISPATCH', 'DIRQL', 'HIGH'][e.irql]),
    );
    // The ends carry the results, in the order the callbacks returned.
    const ends = t.traceEvents.filter((e) => e.ph === 'E' && trackOf(e) === key && e.cat === 'callback');
    const returns = events.filter((e) => e.kind === 'return' && e.cpu === cpu);
    assert.deepEqual(
      ends.map((e) => [e.name, e.args?.result]),
      returns.map((e) => [e.what, e.data?.result]),
    );
    total += got.length;
  }
  assert.equal(total, events.filter((e) => e.kind === 'call').length);
  // The filter module's and the binding's states have tracks of their own.
  const trackList = [...names.values()];
  assert.ok(trackList.includes('filter monitor-lwf'), trackList.join(', '));
  assert.ok(trackList.includes('binding tcpip'), trackList.join(', '));
});

test('Perfetto: a bug check is a global instant named after the rule, and closes the callback it stopped', () => {
  const { events, result, json } = runScenario('examples/gallery/NdisMIndicateStatusEx.yaml');
  assert.equal(result.verdict, 'bugcheck');
  const rule = result.bugCheck!.rule;
  const t = JSON.parse(json) as ChromeTrace;
  checkBalanced(t);
  const bugAt = events.find((e) => e.kind === 'bugcheck')!.t / 1000;
  const global = t.traceEvents.filter((e) => e.ph === 'i' && e.s === 'g');
  assert.deepEqual(
    global.map((e) => [e.name, e.ts, e.cat]),
    [
      [rule, bugAt, 'violation'],
      [`BUG CHECK ${result.bugCheck!.bugCheck.name} (0xC4) 0x4E530015, 0x0, 0x0, 0x0`, bugAt, 'bugcheck'],
    ],
  );
  assert.equal(global[1]!.args?.rule, rule);
  // The work item that broke the rule never returned: its slice ends at the bug check, marked so.
  const ends = t.traceEvents.filter((e) => e.ph === 'E' && e.args?.unfinished !== undefined);
  assert.deepEqual(
    ends.map((e) => [e.name, e.ts, e.args?.unfinished]),
    [['NdisIoWorkItemFunction', bugAt, 'the run ended before it returned']],
  );
  // Its sleeps are slices from NdisMSleep to the wake-up, inside it.
  const sleeps = t.traceEvents.filter((e) => e.cat === 'wait' && e.name === 'NdisMSleep');
  const b = sleeps.filter((e) => e.ph === 'B');
  assert.equal(b.length, events.filter((e) => e.kind === 'ddi' && e.what === 'NdisMSleep').length);
  assert.ok(b.length >= 2);
  assert.equal(sleeps[1]!.ts! - sleeps[0]!.ts!, 100_000, 'a sleep of 100 ms');
});

test('Perfetto: the same run gives the same bytes', () => {
  const a = runScenario('examples/filter-stack.yaml').json;
  const b = runScenario('examples/filter-stack.yaml').json;
  assert.ok(a.length > 10_000);
  assert.equal(a, b);
  // One event a line: the processes and tracks named first, each event's keys in one order.
  const lines = a.split('\n');
  assert.equal(lines[0], '{"traceEvents":[');
  assert.equal(lines[1], '{"name":"process_name","ph":"M","pid":1,"args":{"name":"ndis-sim machine"}},');
  const firstSlice = lines.find((l) => l.includes('"ph":"B"'))!;
  assert.match(
    firstSlice,
    /^\{"name":"[^"]+","cat":"[a-z]+","ph":"B","ts":[\d.]+,"pid":\d+,"tid":\d+,"args":\{/,
  );
});

test('--perfetto: run writes the Chrome trace, the whole trace even with --quiet; an unwritable path exits 2 before the run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-perfetto-'));
  try {
    const file = join(dir, 'storm.json');
    const r = cli('run', 'examples/reset-storm.yaml', '--quiet', '--perfetto', file);
    assert.equal(r.status, 0, r.stderr);
    const t = JSON.parse(readFileSync(file, 'utf8')) as ChromeTrace;
    checkBalanced(t);
    assert.equal(t.metadata.scenario, 'reset storm');
    assert.equal(t.metadata.verdict, 'ok');
    assert.ok(t.traceEvents.some((e) => e.ph === 'B' && e.name === 'MiniportResetEx'));

    // --quiet alone keeps the last 4,096 trace events; with --perfetto, all of them.
    const long = join(dir, 'long.json');
    const q = cli('run', 'examples/simnic-traffic.yaml', '--quiet', '--until', '200ms', '--perfetto', long);
    assert.ok(q.status === 0 || q.status === 1, q.stderr);
    const lt = JSON.parse(readFileSync(long, 'utf8')) as ChromeTrace;
    assert.equal(lt.metadata.droppedTraceEvents, 0);
    assert.ok(Number(lt.metadata.traceEvents) > 4096, `${String(lt.metadata.traceEvents)} trace events`);

    const bad = cli(
      'run',
      'examples/reset-storm.yaml',
      '--perfetto',
      join(dir, 'no', 'such', 'dir', 'p.json'),
    );
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--perfetto: expected a file that can be written, got ".*p\.json" \(ENOENT\)/);
    assert.equal(bad.stdout, '', 'the run did not start');
    assert.ok(!existsSync(join(dir, 'no')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
