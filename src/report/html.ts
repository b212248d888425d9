// The HTML report: one self-contained file (no network, no other files) that shows a
// run: its verdict, the bug check, devices and adapters at the end, the trace as a
// zoomable timeline of tracks (the Perfetto file's layout) and as a searchable list
// of events, the adapter state table with the transitions this run took, and the
// rules it broke with their documentation. Built after the run from the recorded
// trace; nothing here runs in the simulation.
//
// What does not need a script is HTML from here; the timeline and the event list
// are drawn by the script in html-client.js from the run's data, which the page
// carries as JSON. The same run always gives the same bytes: nothing in the file
// depends on the wall clock, the machine or where it was written.

import { readFileSync } from 'node:fs';
import pc from 'picocolors';
import { irqlNames } from '../kernel/kernel.ts';
import { ruleBook } from '../ndis/generated/rulebook.ts';
import { NDIS_ERROR_CODE_NAMES } from '../ndis/generated/status.ts';
import { adapterEvents, adapterStates, adapterTable, type StateSpec } from '../ndis/states.ts';
import { choiceSiteNames, type Decision } from '../sim/choice.ts';
import type { TraceEvent } from '../trace/trace.ts';
import { formatBugCheck } from '../verifier/bugcheck.ts';
import { catalogue } from '../verifier/catalogue.ts';
import type { Violation } from '../verifier/verifier.ts';
import type { AdapterSummary, RunResult, Summary } from '../world.ts';
import { fmtIrql, fmtTime, foldRepeats, repeatNote } from './format.ts';
import { chromeTraceWithSources } from './perfetto.ts';
import { type RemovalStory, removalStories } from './removal.ts';
import { ruleDocs } from './rules.ts';
import {
  adapterOrdinals,
  bindingStateText,
  deviceStatusColumn,
  deviceStatusText,
  endText,
  formatSummary,
  removeCallsText,
  sdvIrqlNote,
  storyOrdinals,
  unfinishedRemovals,
  windowsCheckNote,
} from './summary.ts';
import { callDepths, describeEvent, formatTimeline } from './timeline.ts';

export interface HtmlReportInput {
  scenario: { name?: string | undefined; description?: string | undefined };
  seed: number;
  /** How the seed is named ("seed", or a replay's "shrunk from seed"). */
  seedLabel?: string;
  /** The recorded trace: `Trace.events`, after `dropped` older ones. */
  events: readonly TraceEvent[];
  dropped: number;
  result: RunResult;
  summary: Summary;
  expectation: { met: boolean; problems: string[] } | null;
  /** ndis-sim's version, for the footer. */
  version: string;
  /**
   * A replayed run's decisions (`replay`, and `explore --html` beside each replay
   * file): the page lists the answers that are not 0 of a shrunk run, each with the
   * trace at its time, as the terminal lists them after the summary.
   */
  choices?: { decisions: readonly Decision[]; shrunk: boolean } | undefined;
}

/** The data the page's script reads: see html-client.js. */
export interface HtmlReportData {
  endNs: number;
  dropped: number;
  /** Strings the other fields name by index. */
  strings: string[];
  /** The trace events, column by column. */
  ev: {
    t: number[];
    cpu: number[];
    irql: number[];
    actor: number[];
    kind: number[];
    depth: number[];
    text: string[];
    /** 1 where the terminal timeline folds the event away as the data path (`formatTimeline`). */
    folded: number[];
  };
  /** IRQL names by level. */
  irqls: readonly string[];
  /** Tracks in the order shown: group (process) name, track name, and slices. */
  tracks: HtmlTrack[];
}

export interface HtmlTrack {
  group: number;
  name: number;
  /** Nesting levels of its slices. */
  levels: number;
  /**
   * Its slices, by start, five numbers each: the trace event that began it and the
   * one that ended it (the event count when the run's end closed it), its level,
   * its name and its category (string indexes).
   */
  slices: number[];
}

const plain = pc.createColors(false);

class Strings {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();
  of(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

/** The run's data for the page's script. */
export function reportData(events: readonly TraceEvent[], endNs: number, dropped: number): HtmlReportData {
  const strings = new Strings();
  const depths = callDepths(events);
  // What the terminal timeline shows by default; the rest is "the data path".
  const shown: boolean[] = [];
  formatTimeline(events, { color: false, shown });
  const ev: HtmlReportData['ev'] = {
    t: [],
    cpu: [],
    irql: [],
    actor: [],
    kind: [],
    depth: [],
    text: [],
    folded: [],
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    ev.t.push(e.t);
    ev.cpu.push(e.cpu);
    ev.irql.push(e.irql);
    ev.actor.push(strings.of(e.actor));
    ev.kind.push(strings.of(e.kind));
    ev.depth.push(depths[i]!);
    ev.text.push(describeEvent(e, plain));
    ev.folded.push(shown[i] === true ? 0 : 1);
  }
  const { trace, sources } = chromeTraceWithSources(events, { endNs });
  // Processes and tracks by their metadata, then each track's slices from its B/E pairs.
  const procName = new Map<number, string>();
  const trackInfo = new Map<string, { pid: number; name: string; sort: number }>();
  const key = (pid: number, tid: number | undefined): string => `${pid}/${tid ?? 0}`;
  for (const e of trace.traceEvents) {
    if (e.ph !== 'M') continue;
    const name = String(e.args?.name ?? '');
    if (e.name === 'process_name') procName.set(e.pid, name);
    else if (e.name === 'thread_name') trackInfo.set(key(e.pid, e.tid), { pid: e.pid, name, sort: 0 });
    else if (e.name === 'thread_sort_index') {
      const t = trackInfo.get(key(e.pid, e.tid));
      if (t !== undefined) t.sort = Number(e.args?.sort_index ?? 0);
    }
  }
  const open = new Map<string, { from: number; name: string; cat: string }[]>();
  const slices = new Map<string, { from: number; to: number; level: number; name: string; cat: string }[]>();
  for (let i = 0; i < trace.traceEvents.length; i++) {
    const e = trace.traceEvents[i]!;
    if (e.ph !== 'B' && e.ph !== 'E') continue;
    const k = key(e.pid, e.tid);
    let stack = open.get(k);
    if (stack === undefined) {
      stack = [];
      open.set(k, stack);
    }
    if (e.ph === 'B') stack.push({ from: sources[i]!, name: e.name, cat: e.cat ?? '' });
    else {
      const b = stack.pop();
      if (b === undefined) continue;
      let list = slices.get(k);
      if (list === undefined) {
        list = [];
        slices.set(k, list);
      }
      list.push({ from: b.from, to: sources[i]!, level: stack.length, name: b.name, cat: b.cat });
    }
  }
  const order = [...trackInfo.entries()].sort(
    ([, a], [, b]) => a.pid - b.pid || a.sort - b.sort || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const tracks: HtmlTrack[] = [];
  for (const [k, info] of order) {
    const list = slices.get(k) ?? [];
    if (list.length === 0) continue;
    // By start; a slice before the slices inside it.
    list.sort((a, b) => a.from - b.from || a.level - b.level);
    const flat: number[] = [];
    let levels = 1;
    for (const s of list) {
      flat.push(s.from, s.to, s.level, strings.of(s.name), strings.of(s.cat));
      if (s.level + 1 > levels) levels = s.level + 1;
    }
    tracks.push({
      group: strings.of(procName.get(info.pid) ?? ''),
      name: strings.of(info.name),
      levels,
      slices: flat,
    });
  }
  return { endNs, dropped, strings: strings.list, ev, irqls: irqlNames, tracks };
}

/** Text for HTML: & < > " ' escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside a <script> element: no "</script" or "<!--" can end or change it. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

const h = escapeHtml;

function table(head: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  const th = head.map((x) => `<th>${h(x)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((x) => `<td>${x}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

/** A link to event `index` of the recorded trace (the page selects it). */
function eventLink(tracePos: number, dropped: number, label: string): string {
  const i = tracePos - dropped;
  return i < 0 ? h(label) : `<a href="#e${i}" class="ev-link" data-event="${i}">${h(label)}</a>`;
}

/**
 * Text with each rule-book id (R5.11 …) it cites marked up with the rule's title, shown
 * when the pointer rests on it: the rule book itself is not beside the report.
 */
function withBookTitles(text: string): string {
  return h(text).replace(/\bR\d+\.\d+\b/g, (id) => {
    const e = ruleBook.get(id);
    return e === undefined
      ? id
      : `<abbr title="${h(`${id}: ${e.title} (ndis-sim rules ${id})`)}">${id}</abbr>`;
  });
}

function ruleLink(rule: string): string {
  return `<a href="#rule-${h(rule)}">${h(rule)}</a>`;
}

function verdictText(r: RunResult): string {
  switch (r.verdict) {
    case 'ok':
      return 'no rule broken';
    case 'bugcheck':
      return `bug check ${r.bugCheck?.bugCheck.name ?? ''} (${r.bugCheck?.rule ?? ''})`;
    case 'violations':
      return `${r.violations.length} violation(s)`;
    case 'not-modelled':
      return `not modelled: ${r.message ?? ''}`;
    default:
      return r.message ?? r.verdict;
  }
}

function headerSection(i: HtmlReportInput, removals: readonly RemovalStory[]): string {
  const r = i.result;
  // A removal still under way at the end is said beside the verdict, as in the text (R5.8).
  const stuck = unfinishedRemovals(i.summary, r, removals);
  const good = i.expectation === null ? r.verdict === 'ok' : i.expectation.met;
  const verdict =
    (i.expectation === null
      ? verdictText(r)
      : `${i.expectation.met ? 'as expected' : 'not as expected'} (${verdictText(r)})`) +
    (stuck === null ? '' : `; but ${stuck.text}`);
  const hints =
    stuck === null || stuck.hints.length === 0
      ? ''
      : `<ul class="hints">${stuck.hints.map((x) => `<li>${h(x)}</li>`).join('')}</ul>`;
  const problems =
    i.expectation !== null && !i.expectation.met
      ? `<ul class="problems">${i.expectation.problems.map((p) => `<li>${h(p)}</li>`).join('')}</ul>`
      : '';
  const name = i.scenario.name ?? 'ndis-sim run';
  return `<header>
<h1>${h(name)}</h1>
${i.scenario.description ? `<p class="description">${h(i.scenario.description.trim())}</p>` : ''}
<p class="facts">${h(i.seedLabel ?? 'seed')} ${i.seed} · ${h(endText(r))} · ${r.events} queue events · ${r.decisions} decisions · ${i.events.length} trace events${i.dropped > 0 ? ` (the first ${i.dropped} were dropped)` : ''}</p>
<p id="verdict" class="verdict ${good ? (stuck === null ? 'good' : 'unfinished') : 'bad'}">Verdict: ${h(verdict)}</p>
${hints}${problems}
</header>`;
}

/** Most decisions the schedule section lists, as the terminal's replay does. */
const choicesMax = 40;

/**
 * The answers that are not 0, of a shrunk run: what the failure needs. Each links to
 * the first trace event at or after its time, where its effect shows (the ISR whose
 * DPC a DpcLatency answer delays, say).
 */
function choicesSection(c: HtmlReportInput['choices'], events: readonly TraceEvent[]): string {
  if (c === undefined) return '';
  const needed = c.decisions.flatMap((d, k) => (d.pick === 0 ? [] : [{ d, k }]));
  const why = !c.shrunk
    ? " (the seed's own; explore shrinks them)"
    : needed.length === 0
      ? ' (shrunk: the simplest schedule fails, so the failure needs no choice)'
      : ' (shrunk: the failure needs each)';
  const head = `<p>Choices not the simplest: ${needed.length} of ${c.decisions.length}${h(why)}</p>`;
  if (!c.shrunk || needed.length === 0)
    return `<section id="choices"><h2>The schedule</h2>\n${head}\n</section>`;
  const plain = pc.createColors(false);
  const rows = needed.slice(0, choicesMax).map(({ d, k }) => {
    const at = d.atNs ?? 0;
    // The trace is in time order: the first event at or after the decision's time.
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events[mid]!.t < at) lo = mid + 1;
      else hi = mid;
    }
    const e = events[lo];
    const trace =
      e === undefined
        ? ''
        : `<a href="#e${lo}" class="ev-link" data-event="${lo}">${h(`${fmtTime(e.t)}  cpu ${e.cpu}  ${e.actor}  ${describeEvent(e, plain)}`)}</a>`;
    return [
      String(k + 1),
      h(fmtTime(at)),
      h(`${choiceSiteNames[d.site]} answered ${d.pick} of 0–${d.count - 1}`),
      h(d.note ?? ''),
      trace,
    ];
  });
  const more = needed.length > choicesMax ? `<p>… ${needed.length - choicesMax} more</p>` : '';
  return `<section id="choices"><h2>The schedule</h2>
${head}
${table(['Decision', 'Time', 'Answer', 'Meaning', 'The trace from then'], rows, 'choices')}
${more}</section>`;
}

function bugCheckSection(v: Violation, dropped: number): string {
  const rows: [string, string][] = [
    [
      'Rule',
      v.windowsRule === null
        ? `${ruleLink(v.rule)} — ${h(v.summary)}`
        : `${h(v.windowsRule)} — ${h(catalogue.get(v.windowsRule)?.summary ?? '')} (Driver Verifier's rule of this code, as !analyze names it)<br>${ruleLink(v.rule)} — ${h(v.summary)} (found as this rule)`,
    ],
    ['Where', h(`${v.ddi}${v.adapter !== null ? ` on adapter ${v.adapter}` : ''}`)],
    ...(v.callSite === null ? [] : [['Call site', h(`at ${v.callSite}`)] as [string, string]]),
    ...(v.origin === null ? [] : [[h(v.origin.label), h(v.origin.at)] as [string, string]]),
    ['Context', h(`CPU ${v.cpu}, IRQL ${fmtIrql(v.irql)}, virtual time ${fmtTime(v.timeNs)}`)],
    ['What', h(v.message)],
  ];
  if (v.spec.length > 0) rows.splice(1, 0, ['Rule book', withBookTitles(v.spec.join(', '))]);
  // Right under the rule, as in the text report.
  const why = sdvIrqlNote(v);
  if (why !== null) rows.splice(1, 0, ['Why 0xD1', h(why)]);
  // Whether Windows stops here, and which checker: right under the rule (review-dv #2).
  rows.splice(1, 0, ['Windows', h(windowsCheckNote(v))]);
  if (v.tracePos >= 0) rows.push(['Trace', eventLink(v.tracePos, dropped, 'show it in the trace')]);
  return `<section id="bugcheck" class="bugcheck">
<h2>Bug check</h2>
<p class="code">${h(formatBugCheck(v.bugCheck.code, v.bugCheck.params))}</p>
<dl>${rows.map(([k, x]) => `<dt>${k}</dt><dd>${x}</dd>`).join('')}</dl>
</section>`;
}

function endSection(i: HtmlReportInput, removals: readonly RemovalStory[]): string {
  const s = i.summary;
  const parts: string[] = ['<section id="end"><h2>At the end of the run</h2>'];
  parts.push('<h3>Devices</h3>');
  parts.push(
    table(
      ['Device', 'Instance', 'Driver', 'Status', 'Device Manager says'],
      s.devices.map((d) => [
        h(d.name),
        h(d.instanceId),
        h(d.driver),
        h(deviceStatusColumn(d)),
        `<span class="${d.problem !== 0 ? 'bad' : ''}">${h(deviceStatusText(d))}</span>`,
      ]),
      'devices',
    ),
  );
  parts.push('<h3>Adapters</h3>');
  const ordinals = adapterOrdinals(s.adapters);
  parts.push(
    s.adapters.length === 0
      ? '<p>none</p>'
      : table(
          ['Adapter', 'Driver', 'State', 'Halt action', 'Resets', 'NdisMRemoveMiniport calls'],
          s.adapters.map((a, k) => [
            h(a.name) + (ordinals[k] === '' ? '' : ` <span class="dim">(${h(ordinals[k]!)})</span>`),
            h(a.driver),
            h(a.state),
            h(a.haltAction ?? '-'),
            String(a.resets),
            h(removeCallsText(a)),
          ]),
          'adapters',
        ),
  );
  const bindings = s.protocols.flatMap((p) => p.bindings.map((b) => ({ name: p.name, b })));
  if (bindings.length > 0) {
    parts.push('<h3>Protocol bindings</h3>');
    parts.push(
      table(
        [
          'Protocol',
          'Adapter',
          'Binding',
          'Sends (completed)',
          'Receives (returned)',
          'OIDs (completed)',
          'Problems',
        ],
        bindings.map(({ name, b }) => [
          h(name),
          h(b.adapter),
          h(bindingStateText(b)),
          `${b.sent} (${b.sendCompleted})`,
          `${b.received} (${b.returned})`,
          `${b.oidsIssued} (${b.oidsCompleted})`,
          b.problems.length === 0 ? '-' : `<span class="bad">${h(b.problems.join('; '))}</span>`,
        ]),
        'bindings',
      ),
    );
  }
  if (s.protocolDrivers.length > 0 || s.protocolLoadFailures.length > 0) {
    parts.push('<h3>Protocol drivers</h3>');
    parts.push(
      table(
        [
          'Protocol driver',
          'Binds (failed)',
          'Sends',
          'Receives (returned)',
          'OID requests',
          'Bindings at the end',
        ],
        [
          ...s.protocolDrivers.map((p) => [
            h(p.driver),
            `${p.binds} (${p.bindsFailed})`,
            String(p.sent),
            `${p.received} (${p.returned})`,
            String(p.oidRequests),
            (p.bindings.length === 0
              ? 'none'
              : h(p.bindings.map((b) => `${b.adapter} ${b.state}`).join(', '))) +
              (p.unloaded ? ' (unloaded)' : ''),
          ]),
          ...s.protocolLoadFailures.map((x) => [
            h(x.driver),
            `<span class="bad">did not load: ${h(x.why)}</span>`,
            '-',
            '-',
            '-',
            '-',
          ]),
        ],
        'protocol-drivers',
      ),
    );
  }
  if (s.filters.length > 0 || s.filterLoadFailures.length > 0) {
    parts.push('<h3>Filter modules</h3>');
    parts.push(
      table(
        [
          'Filter driver',
          'Adapter',
          'Place (0: above the miniport)',
          'State',
          'Sends passed / own',
          'Receives passed / own',
        ],
        [
          ...s.filters.map((f) => [
            h(f.driver),
            h(f.adapter),
            String(f.position),
            h(f.state),
            f.data === null
              ? 'bypassed'
              : `${f.data.sendsPassed} / ${f.data.sendsOriginated}${f.data.sendsCompleted > 0 ? ` (${f.data.sendsCompleted} completed by it)` : ''}`,
            f.data === null
              ? 'bypassed'
              : `${f.data.receivesPassed} / ${f.data.receivesOriginated}${f.data.receivesDropped > 0 ? ` (${f.data.receivesDropped} dropped by it)` : ''}`,
          ]),
          ...s.filterLoadFailures.map((x) => [
            h(x.driver),
            '-',
            '-',
            `<span class="bad">did not load: ${h(x.why)}</span>`,
            '-',
            '-',
          ]),
        ],
        'filters',
      ),
    );
  }
  parts.push('<h3>Live dumps</h3>');
  parts.push(
    s.dumps.length === 0
      ? '<p>none</p>'
      : table(
          ['Time', 'Bug check', 'Adapter', 'Reason'],
          s.dumps.map((d) => [
            h(fmtTime(d.timeNs)),
            h(formatBugCheck(d.code, d.params)),
            h(d.adapter),
            h(`${String(d.params[3])} (${d.reason})`),
          ]),
        ),
  );
  parts.push('<h3>System event log</h3>');
  parts.push(
    s.eventLog.length === 0
      ? '<p>empty</p>'
      : table(
          ['Time', 'Source', 'Adapter', 'Error code', 'Values'],
          s.eventLog.map((e) => [
            h(fmtTime(e.timeNs)),
            h(e.source),
            h(e.adapter),
            h(NDIS_ERROR_CODE_NAMES.get(e.errorCode) ?? `0x${e.errorCode.toString(16)}`),
            h(e.values.join(', ') || '-'),
          ]),
        ),
  );
  const r = i.result;
  if (r.violations.length > 0) {
    parts.push('<h3>Rules broken</h3>');
    parts.push(
      table(
        ['Time', 'Rule', 'Where', 'What'],
        foldRepeats(r.violations).map((f) => {
          const v = f.first;
          return [
            v.tracePos >= 0 ? eventLink(v.tracePos, i.dropped, fmtTime(v.timeNs)) : h(fmtTime(v.timeNs)),
            ruleLink(v.rule),
            h(`${v.ddi}${v.adapter !== null ? ` on ${v.adapter}` : ''}`),
            h(`${v.message}${repeatNote(f)}`),
          ];
        }),
        'violations',
      ),
    );
  }
  if (r.warnings.length > 0) {
    parts.push('<h3>Warnings</h3>');
    parts.push(
      table(
        ['Time', 'Rule', 'What'],
        foldRepeats(r.warnings).map((f) => [
          h(fmtTime(f.first.timeNs)),
          ruleLink(f.first.rule),
          h(`${f.first.message}${repeatNote(f)}`),
        ]),
      ),
    );
  }
  const text = formatSummary(s, r, {
    color: false,
    seed: i.seed,
    ...(i.seedLabel === undefined ? {} : { seedLabel: i.seedLabel }),
    expectation: i.expectation,
    removals,
    events: i.events,
    dropped: i.dropped,
  });
  parts.push(
    `<details><summary>The summary as <code>ndis-sim run</code> prints it</summary><pre>${h(text.join('\n').trim())}</pre></details>`,
  );
  parts.push('</section>');
  return parts.join('\n');
}

function timelineSection(): string {
  return `<section id="timeline-section">
<h2>Timeline</h2>
<div class="controls">
<button type="button" id="zoom-in" title="zoom in (or the mouse wheel)">+</button>
<button type="button" id="zoom-out" title="zoom out">−</button>
<button type="button" id="zoom-fit" title="show the whole run">whole run</button>
<label>x axis <select id="axis"><option value="order">one column per trace event</option><option value="time">virtual time</option></select></label>
<span id="range" class="dim"></span>
</div>
<div id="timeline-box"><canvas id="timeline" width="1200" height="200" role="img" aria-label="The run's tracks over time; the trace events below say the same as text"></canvas><div id="tip" hidden></div></div>
<p class="dim">Drag to move, wheel to zoom, click a slice to select its trace event. In a simulated machine a callback takes no virtual time, so by virtual time it is a tick; by trace event, it spans the events inside it.</p>
<noscript><p class="bad">The timeline and the event list need JavaScript; the rest of this page does not.</p></noscript>
</section>`;
}

function eventsSection(count: number): string {
  return `<section id="events-section">
<h2>Trace events</h2>
<div class="controls">
<input id="filter" type="search" placeholder="filter: text, actor or kind" size="40">
<select id="kind-filter"><option value="">every kind</option></select>
<label><input id="hide-data" type="checkbox"> hide the data path</label>
<span id="shown" class="dim">${count} events</span>
</div>
<div id="events" tabindex="0" role="listbox" aria-label="Trace events (arrow keys move the selection)"><div id="events-spacer" role="presentation"></div></div>
<div id="details" class="details"><p class="dim">Select an event in the list or a slice in the timeline.</p></div>
</section>`;
}

/** Each adapter's teardown after its device was marked failed, step by step (R5.11, R5.12). */
function removalSection(
  stories: readonly RemovalStory[],
  adapters: readonly AdapterSummary[],
  events: readonly TraceEvent[],
  dropped: number,
  endNs: number,
): string {
  if (stories.length === 0) return '';
  const parts = [
    `<section id="removal">
<h2>The removal</h2>
<p class="dim">What followed the device-failed flag (or a start that failed after a stop: R1.8, R2.5), in the order it happened, with the rule-book rules each step comes from (rest the pointer on one for its title; <code>ndis-sim rules R5.11</code> tells more): R5.11 for what NdisMRemoveMiniport does at once, R5.8 for a device failed for another reason, R5.12 and R5.5 for what PnP and NDIS do next. A step the run did not reach is listed last, in the teardown's order: the first of them, or one under way, is what the rest wait on.</p>`,
  ];
  const ordinals = storyOrdinals(stories, adapters);
  stories.forEach((st, k) => {
    parts.push(
      `<h3>${h(st.adapter)}${ordinals[k] === '' ? '' : ` (${h(ordinals[k]!)})`}: ${h(st.why)}${st.end === 'unplugged' ? ', and the device was unplugged' : st.end === 'removed' || st.end === 'disabled' ? `, and an orderly ${st.end === 'disabled' ? 'disable' : 'removal'} got there first` : st.end === 'Code 10' && st.flagged ? ', and MiniportInitializeEx failed (Code 10)' : ''}${st.shutDownAt !== null ? ', cut short: the machine shut down' : ''}</h3>\n<ol class="removal">`,
    );
    for (const s of st.steps) {
      if (s.at === null) {
        // R1.6: after a shutdown the step was never to come; otherwise the run stopped first.
        const why =
          st.shutDownAt === null
            ? s.began !== null
              ? `<b>under way</b> since ${eventLink(s.began + dropped, dropped, fmtTime(events[s.began]!.t))}, not finished by the end of the run at ${h(fmtTime(endNs))}`
              : `<b>not reached</b> by the end of the run at ${h(fmtTime(endNs))}`
            : `<b>never comes</b>: the machine shut down at ${h(fmtTime(events[st.shutDownAt]!.t))}, and nothing follows a shutdown (${withBookTitles('R1.6')})`;
        parts.push(
          `<li class="missing"><span class="t">—</span> ${h(s.what)} <span class="dim">(${withBookTitles(s.rules)})</span> — ${why}</li>`,
        );
        continue;
      }
      parts.push(
        `<li><span class="t">${h(fmtTime(events[s.at]!.t))}</span> ${eventLink(s.at + dropped, dropped, s.what)} <span class="dim">(${withBookTitles(s.rules)})</span></li>`,
      );
    }
    parts.push('</ol>');
  });
  parts.push('</section>');
  return parts.join('\n');
}

/** R1.2 as a table, each cell a transition with how often each adapter took it in this run. */
function stateSection(events: readonly TraceEvent[]): string {
  const taken = new Map<string, Map<string, number>>();
  for (const e of events) {
    if (e.kind !== 'state' || typeof e.data?.event !== 'string') continue;
    const from = e.what.split('→')[0]!.trim();
    const cell = `${from}|${e.data.event}`;
    let m = taken.get(cell);
    if (m === undefined) {
      m = new Map();
      taken.set(cell, m);
    }
    const a = String(e.data.adapter ?? '');
    m.set(a, (m.get(a) ?? 0) + 1);
  }
  const head = `<tr><th>event \\ state</th>${adapterStates.map((s) => `<th>${s}</th>`).join('')}</tr>`;
  const rows = adapterEvents.map((ev) => {
    const cells = adapterStates.map((s) => {
      const spec = adapterTable[s] as StateSpec;
      const to = spec.on[ev];
      if (to !== undefined) {
        const m = taken.get(`${s}|${ev}`);
        if (m === undefined) return `<td class="edge">→ ${to}</td>`;
        const who = [...m].map(([a, n]) => `${a} ×${n}`).join(', ');
        return `<td class="edge taken" title="taken in this run: ${h(who)}">→ ${to}<br><small>${h(who)}</small></td>`;
      }
      if (spec.defer.includes(ev)) return '<td class="deferred">deferred</td>';
      return '<td class="never">·</td>';
    });
    return `<tr><th>${ev}</th>${cells.join('')}</tr>`;
  });
  return `<section id="states">
<h2>Adapter state table (R1.2)</h2>
<p class="dim">Each cell: what the event does in that state. → a transition, highlighted where this run took it (with how often, per adapter); deferred: NDIS waits (R1.4); ·: a violation.</p>
<table class="states"><thead>${head}</thead><tbody>
${rows.join('\n')}
</tbody></table>
</section>`;
}

/** Every rule the run broke or warned about, explained. */
function rulesSection(r: RunResult): string {
  const ids = [
    ...new Set([
      ...(r.bugCheck === null ? [] : [r.bugCheck.rule]),
      ...r.violations.map((v) => v.rule),
      ...r.warnings.map((w) => w.rule),
    ]),
  ];
  if (ids.length === 0) return '';
  const items = ids.map((id) => {
    const spec = catalogue.get(id);
    if (spec === undefined) return `<div class="rule" id="rule-${h(id)}"><h3>${h(id)}</h3></div>`;
    const how =
      spec.status.kind === 'enforced'
        ? `enforced at run time — ${spec.status.how}`
        : `not applicable — ${spec.status.reason}`;
    return `<div class="rule" id="rule-${h(id)}">
<h3>${h(id)}</h3>
<p>${h(spec.summary)}</p>
<dl>
<dt>In ndis-sim</dt><dd>${h(how)}</dd>
${spec.spec.length > 0 ? `<dt>Rule book</dt><dd>${spec.spec.map((x) => `${withBookTitles(x)} ${h(ruleBook.get(x)?.title ?? '')}`).join('<br>')}</dd>` : ''}
${spec.ddis.length > 0 ? `<dt>DDIs</dt><dd>${h(spec.ddis.join(', '))}</dd>` : ''}
<dt>Documentation</dt><dd>${ruleDocs(spec)
      .map((d) => (d.startsWith('https://') ? `<a href="${h(d)}">${h(d)}</a>` : h(d)))
      .join('<br>')}</dd>
</dl>
</div>`;
  });
  return `<section id="rules"><h2>Rules</h2>\n${items.join('\n')}\n</section>`;
}

let clientScript: string | null = null;
let styleSheet: string | null = null;

/** The page's script and style sheet, read once from beside this module. */
function assets(): { script: string; style: string } {
  clientScript ??= readFileSync(new URL('./html-client.js', import.meta.url), 'utf8');
  styleSheet ??= readFileSync(new URL('./html-report.css', import.meta.url), 'utf8');
  return { script: clientScript, style: styleSheet };
}

/** The whole report as one HTML document. */
export function toHtmlReport(i: HtmlReportInput): string {
  const data = reportData(i.events, Math.max(i.result.endNs, i.events.at(-1)?.t ?? 0), i.dropped);
  const { script, style } = assets();
  const stories = removalStories(i.events);
  const title = `${i.scenario.name ?? 'ndis-sim run'} — seed ${i.seed} — ndis-sim`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ndis-sim ${h(i.version)}">
<title>${h(title)}</title>
<style>
${style}</style>
</head>
<body>
${headerSection(i, stories)}
<nav>${stories.length > 0 ? '<a href="#removal">The removal</a> ' : ''}${i.choices !== undefined ? '<a href="#choices">The schedule</a> ' : ''}<a href="#timeline-section">Timeline</a> <a href="#events-section">Trace events</a> <a href="#end">At the end</a> <a href="#states">State table</a>${i.result.bugCheck !== null || i.result.violations.length > 0 || i.result.warnings.length > 0 ? ' <a href="#rules">Rules</a>' : ''}</nav>
${i.result.bugCheck === null ? '' : bugCheckSection(i.result.bugCheck, i.dropped)}
${choicesSection(i.choices, i.events)}
${removalSection(stories, i.summary.adapters, i.events, i.dropped, i.result.endNs)}
${timelineSection()}
${eventsSection(i.events.length)}
${endSection(i, stories)}
${stateSection(i.events)}
${rulesSection(i.result)}
<footer class="dim">Written by ndis-sim ${h(i.version)}. The same scenario and seed give the same file.</footer>
<script type="application/json" id="ndis-sim-data">${scriptJson(data)}</script>
<script>
${script}</script>
</body>
</html>
`;
}
