// The HTML report (src/report/html.ts): what the page says and the data its script
// draws from, checked without a browser; test/html-browser.test.ts drives the page.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gallery, galleryScenario } from '../src/drivers/buggy/index.ts';
import { driverNames } from '../src/drivers/index.ts';
import { NDIS_STATUS_SUCCESS, NdisMPauseComplete } from '../src/index.ts';
import { type HtmlReportData, toHtmlReport } from '../src/report/html.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { buildWorld, checkExpectations, untilNs } from '../src/scenario/build.ts';
import { loadScenario, parseScenarioText } from '../src/scenario/load.ts';
import type { RunResult, World } from '../src/world.ts';
import { cli } from './helpers/cli.ts';
import { scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** The report of a finished run of `w`. */
function htmlOf(
  w: World,
  result: RunResult,
  scenario: { name?: string },
  seed: number,
  expectation: { met: boolean; problems: string[] } | null = null,
): string {
  return toHtmlReport({
    scenario,
    seed,
    events: w.trace.events,
    dropped: w.trace.dropped,
    result,
    summary: w.summary(),
    expectation,
    version: '0.0.0-test',
  });
}

function report(w: World): { html: string; result: RunResult } {
  const result = w.run(2 * ns.s);
  return { html: htmlOf(w, result, { name: 'test' }, 1), result };
}

function scenarioReport(
  file: string,
  seed?: number,
  traceMax?: number,
): { html: string; w: World; result: RunResult } {
  const s = loadScenario(file, driverNames());
  const w = buildWorld(s, { seed: seed ?? s.seed, ...(traceMax === undefined ? {} : { traceMax }) });
  const result = w.run(untilNs(s));
  const expectation = checkExpectations(s, result, w.summary(), s.verifier);
  return { html: htmlOf(w, result, s, seed ?? s.seed, expectation), w, result };
}

/** The JSON the page's script reads. */
function dataOf(html: string): HtmlReportData {
  const m = /<script type="application\/json" id="ndis-sim-data">([^<]*)<\/script>/.exec(html);
  assert.ok(m !== null, 'the page carries its data');
  return JSON.parse(m[1]!) as HtmlReportData;
}

test('the same scenario and seed give the same HTML bytes; another seed another file', () => {
  const a = scenarioReport('examples/reset-storm.yaml', 7).html;
  const b = scenarioReport('examples/reset-storm.yaml', 7).html;
  const c = scenarioReport('examples/reset-storm.yaml', 8).html;
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('the page says the verdict, the Code 43 device and the live dump of the reset storm (R5.12)', () => {
  const { html } = scenarioReport('examples/reset-storm.yaml');
  assert.match(html, /<p id="verdict" class="verdict good">Verdict: as expected \(no rule broken\)<\/p>/);
  assert.match(html, /Code 43: stopped after it reported a failure/);
  assert.match(html, /BUGCODE_NDIS_DRIVER_LIVE_DUMP \(0x15E\)/);
  assert.match(html, /NdisHaltDeviceFailed/);
  assert.doesNotMatch(html, /id="bugcheck"/);
});

test("the page has a table of the protocol drivers of one's own: binds, data counts and the bindings left", () => {
  const { html, w } = scenarioReport('examples/echo-protocol.yaml');
  const m = /<table class="protocol-drivers">.*?<tbody>\n(.*?)\n<\/tbody>/s.exec(html);
  assert.ok(m !== null, 'no protocol-drivers table');
  const p = w.summary().protocolDrivers[0]!;
  // nic0 failed (Code 43) and its binding went; nic1's went when the service stopped
  // at 20 s. Every frame echoed once.
  assert.equal(p.sent, p.received);
  assert.deepEqual(m[1]!.split('\n'), [
    `<tr><td>echo-proto</td><td>2 (0)</td><td>${p.sent}</td><td>${p.received} (${p.returned})</td><td>${p.oidRequests}</td><td>none (unloaded)</td></tr>`,
  ]);
  assert.ok(p.sent > 1000, `sent ${p.sent}`);
});

test('the page has a table of the protocol bindings and one of the filter modules, with their data counts', () => {
  const { html } = scenarioReport('examples/filter-stack.yaml');
  const rows = (cls: string) => {
    const m = new RegExp(`<table class="${cls}">.*?<tbody>\\n(.*?)\\n</tbody>`, 's').exec(html);
    assert.ok(m !== null, `no ${cls} table`);
    return m[1]!.split('\n');
  };
  assert.deepEqual(rows('bindings'), [
    '<tr><td>tcpip</td><td>nic0</td><td>unbound</td><td>0 (0)</td><td>0 (0)</td><td>4 (4)</td><td>-</td></tr>',
    '<tr><td>tcpip</td><td>nic1</td><td>bound</td><td>0 (0)</td><td>0 (0)</td><td>2 (2)</td><td>-</td></tr>',
  ]);
  // monitor-lwf has no data handlers: bypassed. nic1's module was detached at 200 ms and
  // a new one attached at 400 ms; nic0's too, and then it went with the adapter.
  assert.deepEqual(
    rows('filters').map((r) =>
      r
        .replace(/<\/?td>/g, ' ')
        .replace(/<\/?tr>/g, '')
        .trim()
        .split(/\s+/),
    ),
    [
      ['monitor-lwf', 'nic0', '0', 'Detached', 'bypassed', 'bypassed'],
      ['monitor-lwf', 'nic0', '0', 'Detached', 'bypassed', 'bypassed'],
      ['monitor-lwf', 'nic1', '0', 'Detached', 'bypassed', 'bypassed'],
      ['monitor-lwf', 'nic1', '0', 'Running', 'bypassed', 'bypassed'],
    ],
  );
  // A module on the data path: what it passed on each way.
  const text = `until: 300ms
filters: [{ driver: counting-lwf }]
protocols: [{ name: tcpip, traffic: { rate: 100 } }]
devices: [{ name: nic0, driver: healthy-nic, wire: { rxRate: 100 } }]
`;
  const sc = parseScenarioText(text, 'c.yaml', driverNames());
  const w = buildWorld(sc, { seed: 1 });
  const counted = htmlOf(w, w.run(untilNs(sc)), sc, 1);
  const f = w.summary().filters[0]!;
  assert.ok(f.data !== null && f.data.sendsPassed > 10 && f.data.receivesPassed > 10);
  assert.ok(
    counted.includes(
      `<td>${f.data.sendsPassed} / ${f.data.sendsOriginated}</td><td>${f.data.receivesPassed} / ${f.data.receivesOriginated}</td>`,
    ),
  );
});

test('each trace event is in the data once, with its text as the terminal writes it', () => {
  const { html, w } = scenarioReport('examples/reset-storm.yaml');
  const d = dataOf(html);
  const n = w.trace.events.length;
  for (const col of [d.ev.t, d.ev.cpu, d.ev.irql, d.ev.actor, d.ev.kind, d.ev.depth, d.ev.text, d.ev.folded])
    assert.equal(col.length, n);
  const lines = formatTimeline(w.trace.events, { color: false, dataPath: true });
  // Every event's text is on some line of the terminal timeline (a wake after a plain sleep has none).
  let found = 0;
  for (const text of d.ev.text) if (lines.some((l) => l.endsWith(text))) found++;
  assert.ok(found >= n - 5, `${found} of ${n} event texts are lines of the terminal timeline`);
  assert.deepEqual(
    d.ev.t.map((t, i) => [t, d.strings[d.ev.kind[i]!]]),
    w.trace.events.map((e) => [e.t, e.kind]),
  );
});

test('the slices nest inside the trace, and every callback called is a slice on its CPU', () => {
  const { html, w } = scenarioReport('examples/reset-storm.yaml');
  const d = dataOf(html);
  const n = w.trace.events.length;
  let callbacks = 0;
  for (const tr of d.tracks) {
    assert.equal(tr.slices.length % 5, 0);
    for (let k = 0; k < tr.slices.length; k += 5) {
      const [from, to, level, , cat] = tr.slices.slice(k, k + 5) as [number, number, number, number, number];
      assert.ok(
        from >= 0 && from <= to && to <= n,
        `slice ${k / 5} of ${d.strings[tr.name]}: ${from}..${to}`,
      );
      assert.ok(level < tr.levels);
      if (k > 0) assert.ok(tr.slices[k - 5]! <= from, 'slices are in order of their start');
      if (d.strings[cat] === 'callback') {
        callbacks++;
        assert.equal(w.trace.events[from]!.kind, 'call');
        assert.equal(w.trace.events[to]!.kind, 'return');
        assert.equal(w.trace.events[to]!.what, w.trace.events[from]!.what);
      }
    }
  }
  assert.equal(callbacks, w.trace.events.filter((e) => e.kind === 'call').length);
  const names = d.tracks.map((t) => `${d.strings[t.group]} / ${d.strings[t.name]}`);
  assert.ok(names.includes('ndis-sim machine / CPU 0'), names.join('; '));
  assert.ok(names.includes('nic0 (flaky-nic) / state and NDIS steps'), names.join('; '));
});

test('"hide the data path" hides exactly what the terminal timeline folds away', () => {
  const { html, w } = scenarioReport('examples/vmini-traffic.yaml');
  const d = dataOf(html);
  const shown = d.ev.folded.filter((f) => f === 0).length;
  assert.ok(shown < d.ev.folded.length / 10, `${shown} of ${d.ev.folded.length} shown`);
  // The folded timeline: a header, a line per event shown, and the note of what was folded.
  const lines = formatTimeline(w.trace.events, { color: false });
  assert.match(lines.at(-1)!, /trace events of the data path not shown/);
  assert.equal(shown, lines.length - 2);
});

test('the state table marks each transition the run took, with how often (R1.2)', () => {
  const { html, w } = scenarioReport('examples/reset-storm.yaml');
  const taken = [...html.matchAll(/<td class="edge taken"[^>]*>→ (\w+)<br><small>([^<]*)<\/small><\/td>/g)];
  const states = w.trace.events.filter((e) => e.kind === 'state');
  assert.equal(taken.length, new Set(states.map((e) => `${e.what}|${String(e.data?.event)}`)).size);
  const total = taken.reduce((sum, m) => sum + Number(/×(\d+)/.exec(m[2]!)![1]), 0);
  assert.equal(total, states.length);
  assert.ok(taken.some((m) => m[1] === 'Initializing' && m[2] === 'nic0 ×1'));
});

test('a bug check: its box names the rule and links to its trace event, and the rule is explained (R3.5)', () => {
  // NdisMPauseComplete with no pause under way: NdisSim_PauseCompleteUnexpected, 0x7C.
  const drv = scriptedDriver('unsolicited', {
    restart: (a) => {
      NdisMPauseComplete(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'unsolicited' }] });
  const { html, result } = report(w);
  assert.equal(result.verdict, 'bugcheck');
  const v = result.bugCheck!;
  assert.match(html, /<p id="verdict" class="verdict bad">/);
  assert.match(html, /<section id="bugcheck" class="bugcheck">/);
  assert.match(html, /BUGCODE_NDIS_DRIVER \(0x7C\)/);
  const link = new RegExp(`<a href="#e${v.tracePos}" class="ev-link" data-event="${v.tracePos}">`);
  assert.match(html, link);
  assert.equal(w.trace.events[v.tracePos]!.what, v.rule);
  assert.match(html, new RegExp(`<div class="rule" id="rule-${v.rule}">`));
  assert.match(
    html,
    /href="https:\/\/learn\.microsoft\.com\/en-us\/windows-hardware\/drivers\/debugger\/bug-check-0x7c/,
  );
});

test('text from a driver is escaped everywhere: no tag of its own, no end of the data script', () => {
  const evil = '</script><img src=x onerror="alert(1)"><!--';
  const drv = scriptedDriver('evil-nic', {
    restart: () => {
      throw new Error(evil);
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'evil-nic' }] });
  const { html } = report(w);
  assert.ok(!html.includes('<img'), 'the message made an element');
  assert.equal(html.split('</script>').length - 1, 2, 'only the two scripts end');
  assert.match(html, /&#60;\/script&#62;&#60;img src=x onerror=&#34;alert\(1\)&#34;&#62;&#60;!--/);
  // The data still says it as it was.
  assert.ok(dataOf(html).ev.text.some((t) => t.includes(evil)));
});

test('with the oldest events dropped, links and slices count from the first event kept', () => {
  const { html, w } = scenarioReport('examples/reset-storm.yaml', 1, 40);
  assert.ok(w.trace.dropped > 0);
  assert.match(
    html,
    new RegExp(`${w.trace.events.length} trace events \\(the first ${w.trace.dropped} were dropped\\)`),
  );
  const d = dataOf(html);
  assert.equal(d.dropped, w.trace.dropped);
  assert.equal(d.ev.t.length, w.trace.events.length);
  for (const tr of d.tracks)
    for (let k = 0; k < tr.slices.length; k += 5) assert.ok(tr.slices[k + 1]! <= w.trace.events.length);
  // A bug check's link names its event's index among those kept.
  const b = scenarioReport(galleryScenario('DoubleComplete'), undefined, 20);
  const v = b.result.bugCheck!;
  assert.ok(b.w.trace.dropped > 0 && v.tracePos > b.w.trace.dropped);
  const pos = Number(/<a href="#e(\d+)" class="ev-link"/.exec(b.html)?.[1]);
  assert.equal(pos, v.tracePos - b.w.trace.dropped);
  assert.equal(b.w.trace.events[pos]!.what, v.rule);
});

test('every gallery run gives a report whose slices nest in its trace, with its rule explained', () => {
  for (const g of gallery) {
    const { html, w } = scenarioReport(galleryScenario(g.rule));
    const d = dataOf(html);
    const n = w.trace.events.length;
    assert.equal(d.ev.t.length, n, g.rule);
    for (const tr of d.tracks)
      for (let k = 0; k < tr.slices.length; k += 5) {
        const from = tr.slices[k]!;
        const to = tr.slices[k + 1]!;
        assert.ok(
          0 <= from && from <= to && to <= n && tr.slices[k + 2]! < tr.levels,
          `${g.rule}: slice ${k / 5}`,
        );
      }
    assert.match(html, new RegExp(`<div class="rule" id="rule-${g.rule}">`), g.rule);
  }
});

test('--html writes the report; a path that cannot be written is exit 2 before the run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-html-'));
  try {
    const file = join(dir, 'r.html');
    const r = cli('run', 'examples/reset-storm.yaml', '--quiet', '--html', file);
    assert.equal(r.status, 0, r.stderr);
    const html = readFileSync(file, 'utf8');
    assert.ok(html.startsWith('<!doctype html>'));
    assert.match(html, /<title>reset storm — seed 1 — ndis-sim<\/title>/);
    // --quiet keeps only a bug check's last events, unless a file wants the whole trace.
    const jsonl = join(dir, 't.jsonl');
    const big = join(dir, 'big.html');
    assert.equal(cli('run', 'examples/vmini-traffic.yaml', '--until', '100ms', '--trace', jsonl).status, 1);
    const q = cli('run', 'examples/vmini-traffic.yaml', '--until', '100ms', '--quiet', '--html', big);
    assert.equal(q.status, 1, q.stderr); // its expect: is for the whole second
    const traced = readFileSync(jsonl, 'utf8').trimEnd().split('\n').length;
    assert.ok(traced > 4096, `${traced} events`);
    assert.equal(dataOf(readFileSync(big, 'utf8')).ev.t.length, traced);
    const bad = cli('run', 'examples/reset-storm.yaml', '--html', join(dir, 'no', 'such', 'r.html'));
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--html: expected a file that can be written, got ".*r\.html" \(ENOENT\)/);
    assert.doesNotMatch(bad.stdout, /Summary/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
