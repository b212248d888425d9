// The end-of-run summary and the bug-check report (a short `!analyze`).

import pc from 'picocolors';
import { ruleBook } from '../ndis/generated/rulebook.ts';
import { NDIS_ERROR_CODE_NAMES } from '../ndis/generated/status.ts';
import type { Trace, TraceEvent } from '../trace/trace.ts';
import { BugCheckCode, formatBugCheck } from '../verifier/bugcheck.ts';
import { catalogue } from '../verifier/catalogue.ts';
import type { Violation } from '../verifier/verifier.ts';
import type { AdapterSummary, DeviceSummary, RunResult, Summary } from '../world.ts';
import { column, fmtIrql, fmtTime, foldRepeats, ntStatusName, problemText, repeatNote } from './format.ts';
import type { RemovalStory } from './removal.ts';
import { ruleDocs } from './ruledocs.ts';
import { formatTimeline } from './timeline.ts';

export interface SummaryOptions {
  color: boolean;
  seed: number;
  /** Printed before the seed (default "seed"). */
  seedLabel?: string;
  /** Verdict line from the scenario's expectations. */
  expectation: { met: boolean; problems: string[] } | null;
  /** Each failed adapter's teardown, read from the trace (`removalStories`); none when absent. */
  removals?: readonly RemovalStory[];
  /** The trace the removals' steps index. */
  events?: readonly TraceEvent[];
  /** Trace events dropped before `events` (a failed adapter whose flag went with them has no story). */
  dropped?: number;
}

/**
 * What Device Manager would say of a device at the end of the run, and the PnP IRP that
 * was under way to it when the run stopped: a START_DEVICE that completed just before a
 * bug check leaves the devnode "not started" until the PnP manager takes the completion
 * up, and the line says so (with the devnode state `!devnode` would show).
 */
export function deviceStatusText(d: DeviceSummary): string {
  const text = deviceState(d);
  const irp = d.irp;
  if (irp === null) return text;
  const start = irp.name === 'IRP_MN_START_DEVICE';
  if (!irp.completed)
    return `${text}; ${irp.name} sent, not completed when the run stopped${start ? ' (devnode DeviceNodeStartPending)' : ''}`;
  return `${text}; ${irp.name} completed (${ntStatusName(irp.status)}), but the run stopped before PnP processed the completion${start ? ' (devnode DeviceNodeStartCompletion)' : ''}`;
}

function deviceState(d: DeviceSummary): string {
  if (d.status === 'gone') return 'not present (unplugged)';
  // R5.5: surprise-removed, its stack not yet removed: neither working nor Code 43 yet.
  if (d.surpriseRemoved === 'unplugged') return 'not present (unplugged), its stack not yet removed';
  if (d.surpriseRemoved === 'failed')
    return 'it reported PNP_DEVICE_FAILED (R5.12); Code 43 once its stack is removed';
  if (d.problem !== 0) return problemText[d.problem] ?? `Code ${d.problem}`;
  if (d.status === 'started') return 'working';
  if (d.status === 'stopped') return 'stopped for a rebalance';
  // The status column says "not started" already: say what else is known, no problem code.
  if (d.status === 'not started') return 'installed, no problem code';
  return 'its driver stack is gone';
}

/**
 * An adapter's NdisMRemoveMiniport calls: "2", or with those that never reached the
 * device-failed flag (R5.11) because the verifier stopped them or the handle was dead
 * (R5.20), "1 (refused)" or "3 (1 refused)": a bug check about the call is never next
 * to "0".
 */
export function removeCallsText(a: Pick<AdapterSummary, 'removeCalls' | 'removeCallsRefused'>): string {
  const refused = a.removeCallsRefused;
  if (refused === 0) return String(a.removeCalls);
  if (a.removeCalls === 0) return `${refused} (refused)`;
  return `${a.removeCalls + refused} (${refused} refused)`;
}

/** A device's status column: the devnode's status, or "surprise-removed" while it is (R5.5). */
export function deviceStatusColumn(d: DeviceSummary): string {
  return d.surpriseRemoved !== null ? 'surprise-removed' : d.status;
}

/**
 * A protocol binding's state at the end, in the words of the summary: "bound" while it
 * runs, "unbound" when its unbind completed, else the NDIS binding state (R7.1), so a
 * binding whose ProtocolUnbindAdapterEx is still pending says "Closing", not "bound".
 */
export function bindingStateText(b: { unbound: boolean; state: string }): string {
  if (b.unbound || b.state === 'Unbound') return 'unbound';
  if (b.state === 'Running') return 'bound';
  if (b.state === 'Closing') return 'Closing (its unbind not completed)';
  return `bound, ${b.state}`;
}

/**
 * For each adapter, "adapter 2 of 2" when its device had more than one (a start after a
 * removal builds a new FDO and adapter, R5.15), in the order they were made; else "".
 * The summary's rows and the HTML table would otherwise list the same name twice.
 */
export function adapterOrdinals(adapters: readonly { name: string }[]): string[] {
  const of = new Map<string, number>();
  for (const a of adapters) of.set(a.name, (of.get(a.name) ?? 0) + 1);
  const nth = new Map<string, number>();
  return adapters.map((a) => {
    const n = of.get(a.name)!;
    const i = (nth.get(a.name) ?? 0) + 1;
    nth.set(a.name, i);
    return n > 1 ? `adapter ${i} of ${n}` : '';
  });
}

/**
 * For each removal story, the ordinal of its adapter as `adapterOrdinals` gives it
 * ("adapter 1 of 2"), or "": a device started again after its removal has a new adapter
 * that may fail too (R5.15), and two stories would otherwise bear the same name. Each
 * failed adapter has one story (the flag is set once per FDO), in the same order, but
 * a trace that dropped its first events may have lost the first stories: the stories
 * are matched from the last.
 */
export function storyOrdinals(
  stories: readonly RemovalStory[],
  adapters: readonly AdapterSummary[],
): string[] {
  const ordinals = adapterOrdinals(adapters);
  const failed = new Map<string, string[]>();
  adapters.forEach((a, k) => {
    if (!a.deviceFailed) return;
    const list = failed.get(a.name) ?? [];
    list.push(ordinals[k]!);
    failed.set(a.name, list);
  });
  const out: string[] = new Array<string>(stories.length).fill('');
  const seen = new Map<string, number>();
  for (let k = stories.length - 1; k >= 0; k--) {
    // A start that failed after a stop set no flag: its adapter is not among the failed.
    if (!stories[k]!.flagged) continue;
    const name = stories[k]!.adapter;
    const back = (seen.get(name) ?? 0) + 1;
    seen.set(name, back);
    const list = failed.get(name) ?? [];
    out[k] = list[list.length - back] ?? '';
  }
  return out;
}

/** The widest a name or driver column gets (as the timeline's actor column). */
const columnMax = 32;

/** A name in a column `width` wide whose last place stays blank (a longer name is shortened). */
function cell(text: string, width: number): string {
  return `${column(text, width - 1)} `;
}

/**
 * Whether a pair of data-path counts adds up, said plainly: "(all completed)", or
 * "(accounted for: 622 still in the miniport)" when NBLs are out, or "NOT accounted
 * for" when handed-out differs from done plus out (an ndis-sim bug: NDIS tracks every
 * NBL).
 */
function accounted(
  c: ReturnType<typeof pc.createColors>,
  ok: boolean,
  done: string,
  out: number,
  where: string,
): string {
  if (!ok) return `(${c.red('NOT accounted for')}${out ? `: ${out} still ${where}` : ''})`;
  return out === 0 ? `(${c.green(`all ${done}`)})` : `(${c.green('accounted for')}: ${out} still ${where})`;
}

/**
 * When the run ended: "ran to 20.000000 s (last event at 18.020459 s)" for a run that
 * went the whole time it was given (nothing was left to happen after its last event, so
 * the clock stops there), else "ended at" the time it stopped (a bug check, a livelock,
 * something not modelled), so a run that went to its end is not read as one cut short.
 */
export function endText(r: RunResult): string {
  const full = r.verdict === 'ok' || r.verdict === 'violations' || r.verdict === 'hang';
  if (!full || !Number.isFinite(r.untilNs) || r.untilNs <= r.endNs) return `ended at ${fmtTime(r.endNs)}`;
  return `ran to ${fmtTime(r.untilNs)} (last event at ${fmtTime(r.endNs)})`;
}

export function formatSummary(s: Summary, r: RunResult, o: SummaryOptions): string[] {
  const c = pc.createColors(o.color);
  const out: string[] = [];
  out.push('');
  out.push(
    c.bold('Summary') +
      c.dim(
        `  ${o.seedLabel ?? 'seed'} ${o.seed}, ${endText(r)}, ${r.events} queue events, ${r.decisions} decisions`,
      ),
  );
  // Name and driver columns as wide as their widest entry and one more, so at least two
  // spaces part a long name from the next column ("mynic-pause-twice  Pausing", not
  // "mynic-pause-twice Pausing", which reads as one field); 8 and 12 at least, at most
  // columnMax: a longer name is shortened in its middle so the columns stay in line,
  // still with the space after it).
  const nameW = Math.min(
    columnMax,
    Math.max(8, ...s.adapters.map((a) => a.name.length + 1), ...s.devices.map((d) => d.name.length + 1)),
  );
  const driverW = Math.min(
    columnMax,
    Math.max(12, ...s.adapters.map((a) => a.driver.length + 1), ...s.devices.map((d) => d.driver.length + 1)),
  );
  out.push(c.bold('  Adapters'));
  if (s.adapters.length === 0) out.push('    none');
  const ordinals = adapterOrdinals(s.adapters);
  s.adapters.forEach((a, k) => {
    out.push(
      `    ${cell(a.name, nameW)} ${cell(a.driver, driverW)} ${a.state.padEnd(12)} halt action: ${a.haltAction ?? '-'}` +
        `   resets: ${a.resets}   NdisMRemoveMiniport calls: ${removeCallsText(a)}` +
        (ordinals[k] === '' ? '' : c.dim(`   (${a.name}'s ${ordinals[k]})`)),
    );
    const d = a.data;
    if (d.sent + d.indicated + d.indicatedWithResources + d.oidsRequested + d.rejectedByNdis > 0) {
      out.push(
        c.dim(' '.repeat(5 + nameW)) +
          `sends: ${d.sent} sent, ${d.completed} completed ` +
          accounted(
            c,
            d.sent === d.completed + a.sendsOutstanding,
            'completed',
            a.sendsOutstanding,
            'in the miniport',
          ) +
          `${d.rejectedByNdis ? `, ${d.rejectedByNdis} failed by NDIS` : ''}   ` +
          `receives: ${d.indicated} indicated, ${d.returned} returned ` +
          accounted(
            c,
            d.indicated === d.returned + a.receivesOutstanding,
            'returned',
            a.receivesOutstanding,
            'up the stack',
          ) +
          `${d.indicatedWithResources ? `, ${d.indicatedWithResources} with RESOURCES` : ''}   ` +
          `OIDs: ${d.oidsRequested} requested, ${d.oidsCompleted} completed`,
      );
    }
    if (a.stackFailure !== null)
      out.push(`${' '.repeat(5 + nameW)}${c.red('stack stopped:')} ${a.stackFailure}`);
    if (a.wolPatterns.length > 0)
      out.push(
        `${c.dim(' '.repeat(5 + nameW))}WoL patterns: ${a.wolPatterns.map((p) => `PatternId ${p.PatternId} (${p.type})`).join(', ')}`,
      );
  });
  out.push(c.bold('  Devices'));
  const statusW = Math.max(12, ...s.devices.map((d) => deviceStatusColumn(d).length + 1));
  for (const d of s.devices) {
    const text = deviceStatusText(d);
    const status = d.problem !== 0 ? c.red(text) : text;
    out.push(
      `    ${cell(d.name, nameW)} ${d.instanceId.padEnd(28)} ${cell(d.driver, driverW)} ${deviceStatusColumn(d).padEnd(statusW)} ${status}`,
    );
  }
  out.push(c.bold('  Live dumps'));
  if (s.dumps.length === 0) out.push('    none');
  for (const d of s.dumps) {
    out.push(
      `    ${fmtTime(d.timeNs)}  ${formatBugCheck(d.code, d.params)}  ${d.adapter}: miniport fatal error, reason ${d.params[3]} (${d.reason})`,
    );
  }
  out.push(c.bold('  System event log'));
  if (s.eventLog.length === 0) out.push('    empty');
  for (const e of s.eventLog) {
    const name = NDIS_ERROR_CODE_NAMES.get(e.errorCode) ?? `0x${e.errorCode.toString(16)}`;
    out.push(
      `    ${fmtTime(e.timeNs)}  ${e.source} (${e.adapter})  ${name}  values: ${e.values.join(', ') || '-'}`,
    );
  }
  if (o.removals !== undefined && o.events !== undefined) {
    // A failed adapter with no story: its flag was among the trace events dropped.
    const lost = (o.dropped ?? 0) > 0 ? s.adapters.filter((a) => a.deviceFailed) : [];
    const told = new Set(o.removals.filter((st) => st.flagged).map((st) => st.adapter));
    const untold = lost.filter((a) => !told.has(a.name));
    if (o.removals.length > 0 || untold.length > 0) out.push(c.bold('  Removal (R5.8, R5.12)'));
    const storyOf = storyOrdinals(o.removals, s.adapters);
    o.removals.forEach((st, k) => {
      out.push(
        `    ${cell(st.adapter, nameW)} ${removalLine(st, o.events!, c)}${storyOf[k] === '' ? '' : c.dim(`   (${st.adapter}'s ${storyOf[k]})`)}`,
      );
    });
    for (const a of untold)
      out.push(
        `    ${cell(a.name, nameW)} ${c.dim(`its device failed before the ${(o.events.length).toLocaleString('en-US')} trace events the run kept, so its removal is not shown (without --quiet the run keeps far more)`)}`,
      );
  }
  for (const p of s.protocols) {
    // A stop and start (or a sleep) binds the protocol to an adapter again: one line per
    // binding, numbered in the order they were made when an adapter had more than one.
    const perAdapter = new Map<string, number>();
    for (const b of p.bindings) perAdapter.set(b.adapter, (perAdapter.get(b.adapter) ?? 0) + 1);
    const nth = new Map<string, number>();
    for (const b of p.bindings) {
      const of = perAdapter.get(b.adapter)!;
      const i = (nth.get(b.adapter) ?? 0) + 1;
      nth.set(b.adapter, i);
      out.push(
        c.dim(
          `  Protocol ${p.name} on ${b.adapter}${of > 1 ? ` (binding ${i} of ${of})` : ''}: ${bindingStateText(b)}, ` +
            `RESET_START ${b.resetStarts} / RESET_END ${b.resetEnds}, query-remove ${b.queryRemoves}`,
        ),
      );
    }
  }
  for (const f of s.protocolLoadFailures)
    out.push(`  Protocol driver ${f.driver}: ${c.red('did not load')}: ${f.why}`);
  for (const p of s.protocolDrivers)
    out.push(
      c.dim(
        `  Protocol driver ${p.driver}: ${p.binds} bind(s), ${p.bindsFailed} failed; ` +
          `sends ${p.sent}, receives ${p.received} indicated${p.receivedWithResources > 0 ? ` (${p.receivedWithResources} with RESOURCES)` : ''} / ${p.returned} returned, OID requests ${p.oidRequests}; ` +
          (p.bindings.length === 0
            ? 'no binding left'
            : `bindings: ${p.bindings.map((b) => `${b.adapter} ${b.state}`).join(', ')}`) +
          (p.unloaded ? '; unloaded' : ''),
      ),
    );
  for (const f of s.filterLoadFailures)
    out.push(`  Filter driver ${f.driver}: ${c.red('did not load')}: ${f.why}`);
  // A stop and start, a sleep or a filter restarted attaches a driver's module to an
  // adapter again: one line per module, numbered when an adapter had more than one.
  const modulesOf = new Map<string, number>();
  for (const f of s.filters)
    modulesOf.set(`${f.adapter}\0${f.driver}`, (modulesOf.get(`${f.adapter}\0${f.driver}`) ?? 0) + 1);
  const nthModule = new Map<string, number>();
  for (const f of s.filters) {
    const d = f.data;
    const key = `${f.adapter}\0${f.driver}`;
    const of = modulesOf.get(key)!;
    const i = (nthModule.get(key) ?? 0) + 1;
    nthModule.set(key, i);
    out.push(
      c.dim(
        `  Filter ${f.driver} on ${f.adapter}${of > 1 ? ` (module ${i} of ${of})` : ''}${f.mandatory ? ' (mandatory)' : ''}: ${f.state === 'Detached' ? 'detached' : f.state}` +
          (d === null
            ? ''
            : `, sends ${d.sendsPassed} passed / ${d.sendsOriginated} originated${d.sendsCompleted > 0 ? ` / ${d.sendsCompleted} completed by it` : ''}, receives ${d.receivesPassed} passed / ${d.receivesOriginated} originated${d.receivesDropped > 0 ? ` / ${d.receivesDropped} dropped by it` : ''}`),
      ),
    );
  }
  if (o.events !== undefined)
    for (const f of filterRestartFailures(o.events))
      out.push(
        `  Filter ${f.driver} on ${f.adapter}: ${c.red(`restart failed at ${fmtTime(f.atNs)}`)}${f.status === null ? '' : ` (${f.status})`}; the stack above it ${
          f.untilNs === null
            ? `was still paused when the run ended (${fmtTime(r.endNs - f.atNs)})`
            : `stayed paused for ${fmtTime(f.untilNs - f.atNs)}, until ${f.until} at ${fmtTime(f.untilNs)}`
        } (R7.10)`,
      );
  out.push(c.bold('  Bug checks'));
  if (r.bugCheck === null && r.violations.length === 0) out.push('    none');
  for (const f of foldRepeats(r.violations))
    out.push(`    ${fmtTime(f.first.timeNs)}  ${f.first.rule}: ${f.first.message}${c.dim(repeatNote(f))}`);
  if (r.warnings.length > 0) {
    out.push(c.bold('  Warnings'));
    for (const f of foldRepeats(r.warnings))
      out.push(`    ${fmtTime(f.first.timeNs)}  ${f.first.rule}: ${f.first.message}${c.dim(repeatNote(f))}`);
  }
  if (r.modelNotes.length > 0) {
    out.push(c.bold('  Model notes'));
    for (const m of r.modelNotes) out.push(`    ${m}`);
  }
  if (r.pending.length > 0) {
    // After a bug check: what the machine was doing when it stopped, which for a
    // watchdog's (a pause or a power change that never finished) is the story.
    out.push(
      c.bold(r.verdict === 'bugcheck' ? '  Under way when it stopped' : '  Still under way at the end'),
    );
    for (const p of r.pending) out.push(`    ${p}`);
  }
  out.push('');
  out.push(verdictLine(r, o, c, s));
  return out;
}

/**
 * Each filter module whose restart failed (R7.10: it stays Paused, and so does the stack
 * above it), read from the trace: when, with what status (FilterRestart's return or
 * NdisFRestartComplete's), and until when the stack above stayed paused: the first
 * binding of the adapter to leave Paused after it (restarted, or unbound), or null when
 * none did before the run ended.
 */
export function filterRestartFailures(events: readonly TraceEvent[]): {
  driver: string;
  adapter: string;
  atNs: number;
  status: string | null;
  untilNs: number | null;
  until: string;
}[] {
  const out = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind !== 'filter' || e.what !== 'Restarting → Paused') continue;
    const adapter = String(e.data?.adapter);
    let status: string | null = null;
    for (let k = i - 1; k >= 0 && status === null; k--) {
      const x = events[k]!;
      if (x.actor !== e.actor) continue;
      if (x.kind === 'return' && x.what === 'FilterRestart' && x.data?.result !== undefined)
        status = String(x.data.result);
      else if (x.kind === 'ddi' && x.what === 'NdisFRestartComplete' && x.data?.Status !== undefined)
        status = String(x.data.Status);
      else if (x.kind === 'call' && x.what === 'FilterRestart') break;
    }
    // NDIS_STATUS_PENDING is FilterRestart's return before its NdisFRestartComplete.
    if (status === 'NDIS_STATUS_PENDING') status = null;
    let untilNs: number | null = null;
    let until = '';
    for (let k = i + 1; k < events.length && untilNs === null; k++) {
      const x = events[k]!;
      if (x.kind !== 'binding' || x.data?.adapter !== adapter || !x.what.startsWith('Paused →')) continue;
      untilNs = x.t;
      until = x.what.endsWith('Closing') ? `${x.actor}'s unbind` : `${x.actor}'s restart`;
    }
    out.push({ driver: e.actor, adapter, atNs: e.t, status, untilNs, until });
  }
  return out;
}

/** A failed adapter's teardown in one line: from its first step to its last, or what it never reached. */
function removalLine(
  st: RemovalStory,
  events: readonly TraceEvent[],
  c: ReturnType<typeof pc.createColors>,
): string {
  const done = st.steps.filter((x) => x.at !== null);
  const missing = st.steps.filter((x) => x.at === null);
  // From the flag, the "why" the line names: an unplugging or an orderly removal that
  // came first is listed before it, but is not when the driver's call or failure was.
  const flag = done.find((x) => x.what.startsWith('NDIS sets the device-failed flag')) ?? done[0]!;
  const first = events[flag.at!]!.t;
  const from = `${st.why} at ${fmtTime(first)}`;
  const to =
    st.end === 'Code 43'
      ? 'Code 43'
      : st.end === 'unplugged'
        ? 'the unplugged device gone, no Code 43'
        : st.end === 'disabled'
          ? 'the device disabled (Code 22), no Code 43'
          : st.end === 'Code 10'
            ? st.flagged
              ? 'Code 10 (a failed start, no halt)'
              : "Code 10 (a failed start; the stop's halt was the last)"
            : 'the device removed, no Code 43';
  if (missing.length === 0) {
    const last = events[done[done.length - 1]!.at!]!.t;
    return `${from}: every step to ${to}, in ${fmtTime(last - first)}`;
  }
  // R1.6: the machine shut down: nothing was left to stall, the rest was never to come.
  if (st.shutDownAt !== null)
    return `${from}; nothing follows a shutdown (R1.6), so its ${missing.length} later step(s), to ${to}, never come: machine shut down at ${fmtTime(events[st.shutDownAt]!.t)}`;
  // In the teardown's order: a step that began and did not finish (a FilterPause
  // pended) is what the rest waits on, so it comes first, as under way.
  const parts = [
    ...missing
      .filter((x) => x.began !== null)
      .map((x) => `under way since ${fmtTime(events[x.began!]!.t)}: ${x.what}`),
  ];
  const notYet = missing.filter((x) => x.began === null);
  if (notYet.length > 0) parts.push(`not reached: ${notYet.map((x) => x.what).join('; ')}`);
  return `${from}; ${c.red(parts.join('; '))}`;
}

/**
 * The removals still under way when a run that broke no rule, or only some, ended: the
 * verdict is the rule book's (nothing broke yet), but a removal stuck until the end is
 * no pass, so the verdict line says so (R5.8), with a hint for one stuck behind sends
 * its miniport holds: Driver Verifier's send time-outs (R6.11) come only 22 to 30 s
 * after, so a run that ends first never sees them. `text` goes after the verdict,
 * `hints` under it; null when there is nothing to say. A removal a shutdown cut short
 * is finished (R1.6); one whose device reached its end state is too.
 */
export function unfinishedRemovals(
  s: Summary,
  r: RunResult,
  removals: readonly RemovalStory[] | undefined,
): { text: string; hints: string[] } | null {
  if (removals === undefined || (r.verdict !== 'ok' && r.verdict !== 'violations')) return null;
  const names: string[] = [];
  const disables: string[] = [];
  const hints: string[] = [];
  for (const st of removals) {
    if (st.shutDownAt !== null || st.steps.every((x) => x.at !== null) || names.includes(st.adapter))
      continue;
    // The device's latest adapter: a new one cannot start before the removal ends.
    const a = s.adapters.filter((x) => x.name === st.adapter).at(-1);
    const d = s.devices.find((x) => x.name === st.adapter);
    const open = a !== undefined && a.state !== 'Halted';
    if (!open && (d === undefined || (d.irp === null && d.surpriseRemoved === null))) continue;
    names.push(st.adapter);
    // A disable under way when the flag was set shares the removal's teardown (R5.4).
    if (st.end === 'disabled') disables.push(st.adapter);
    // NDIS's watchdogs over a pause or an OID request the stack pended (R3.7, R6.6,
    // R7.13): the bug check that ends such a stall comes only when they fire.
    for (const wd of a?.watchdogs ?? []) {
      const by = Math.ceil((wd.dueNs + 1) / 1_000_000_000);
      hints.push(
        `${st.adapter}: ${wd.what} fires at ${fmtTime(wd.dueNs)} if nothing completes it first; run it to ${by} s or later (--until ${by}s) to see whether it does`,
      );
    }
    if (a?.sendLimitDueNs === null || a?.sendLimitDueNs === undefined) continue;
    // SendWatch checks once a second: the report comes within a second of the due time.
    const by = Math.ceil((a.sendLimitDueNs + 1_000_000_000) / 1_000_000_000);
    hints.push(
      `${st.adapter}'s miniport holds ${a.sendsOutstanding} send(s): if none completes, Driver Verifier's send time-outs (NdisTimedDataHang at 22 s without a completion, NdisTimedDataSend at 30 s per NBL; R6.11) come by ${by} s; run it to ${by} s or later (--until ${by}s) to see whether they do`,
    );
  }
  if (names.length === 0) return null;
  return {
    text: `${disables.length === names.length ? 'the disable' : disables.length === 0 ? 'the removal' : 'the removal or disable'} of ${names.join(' and ')} was still under way when the run ended (see "Still under way")`,
    hints,
  };
}

function verdictLine(
  r: RunResult,
  o: SummaryOptions,
  c: ReturnType<typeof pc.createColors>,
  s: Summary,
): string {
  const e = o.expectation;
  const stuck = unfinishedRemovals(s, r, o.removals);
  const under =
    stuck === null
      ? ''
      : `${c.yellow(`; but ${stuck.text}`)}${stuck.hints.map((h) => `\n    ${h}`).join('')}`;
  const what =
    r.verdict === 'ok'
      ? 'no rule broken'
      : r.verdict === 'bugcheck'
        ? `bug check ${r.bugCheck?.bugCheck.name} (${r.bugCheck?.rule})`
        : r.verdict === 'violations'
          ? `${r.violations.length} violation(s)`
          : r.verdict === 'not-modelled'
            ? `not modelled: ${r.message ?? ''}`
            : (r.message ?? r.verdict);
  if (e === null) return `${c.bold('Verdict:')} ${what}${under}`;
  if (e.met) return `${c.bold('Verdict:')} ${c.green('as expected')} (${what})${under}`;
  return `${c.bold('Verdict:')} ${c.red('not as expected')} (${what})${under}\n${e.problems.map((p) => `    - ${p}`).join('\n')}`;
}

/** Who checks a rule on Windows, for the second Rule line. */
function originName(rule: string): string {
  const o = catalogue.get(rule)?.origin;
  return o === 'sdv'
    ? 'Static Driver Verifier'
    : o === 'driver-verifier'
      ? 'Driver Verifier'
      : o === 'ndis-sim'
        ? 'ndis-sim'
        : (o ?? 'ndis-sim');
}

/**
 * Why an IRQL mistake that Static Driver Verifier's rule names stops with 0xD1 and not
 * with Driver Verifier's 0xC4, for a reader who meets both families: SDV checks the rule
 * when the driver is built (rules.json `checkedBy`), so on a running Windows nothing
 * checks it: what happens depends on what the DDI does at that IRQL. 0xD1
 * DRIVER_IRQL_NOT_LESS_OR_EQUAL is the likely outcome, not a certain one, and the model's
 * 0xD1 is a convention (docs/decisions.md). Null for any other bug check.
 */
export function sdvIrqlNote(v: Violation): string | null {
  if (v.bugCheck.code !== BugCheckCode.DRIVER_IRQL_NOT_LESS_OR_EQUAL) return null;
  if (catalogue.get(v.rule)?.origin !== 'sdv') return null;
  return 'what the call does on Windows depends on what the DDI does at that IRQL: 0xD1 is the likely outcome (a DDI that touches pageable memory), not a certain one; ndis-sim stops every such call with 0xD1 (docs/decisions.md)';
}

/** Parameter 1 of 0xC4 in ndis-sim's own range (simCode): no Windows bug check. */
export function isSimCode(v: Violation): boolean {
  const p1 = v.bugCheck.params[0];
  return (
    v.bugCheck.code === BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION &&
    typeof p1 === 'number' &&
    p1 >= 0x4e530000 &&
    p1 <= 0x4e53ffff
  );
}

/** Driver Verifier's NDIS/WIFI rules: parameter 1 of 0xC4 from 0x91000 to 0x94FFF (0xC4 page). */
function isNdisWifiCode(p1: unknown): boolean {
  return typeof p1 === 'number' && p1 >= 0x91000 && p1 <= 0x94fff;
}

/**
 * Whether Windows would stop here, and which checker would, for the bug-check block's
 * `Windows:` line (review-dv #2): always (NDIS's 0x7C, the kernel's own codes), only
 * under Driver Verifier and which of its options (NDIS/WIFI verification for the NDIS
 * rule ids of 0xC4, its standard checks for the kernel's 0xC4 codes, 0xC9 and 0xE6),
 * or never (a Static Driver Verifier rule, or ndis-sim's own 0x4E53xxxx code). Decided
 * from the code the model raised, since a rule of one checker may stop with another's
 * code (an SDV rule NDIS also checks stops with 0x7C); the rule's origin names the
 * build-time checker where there is one.
 */
export function windowsCheckNote(v: Violation): string {
  const origin = catalogue.get(v.rule)?.origin;
  const sdv = origin === 'sdv' ? 'Static Driver Verifier, when the driver is built; at run time ' : '';
  const code = v.bugCheck.code;
  const p1 = v.bugCheck.params[0];
  if (isSimCode(v))
    return `${sdv}nothing checks it${origin === 'ndis-sim' ? " (ndis-sim's own rule)" : ''}: 0x${(p1 as number).toString(16).toUpperCase()} is ndis-sim's own code (0x4E53xxxx), not a Windows bug check`;
  switch (code) {
    case BugCheckCode.DRIVER_VERIFIER_DETECTED_VIOLATION:
      return isNdisWifiCode(p1)
        ? "only Driver Verifier with its NDIS/WIFI verification option (verifier /flags 0x200000); without it Windows does not raise this code (NDIS's own checks may still stop later)"
        : 'only Driver Verifier, its standard checks (verifier /standard: IRQL, spin-lock and pool checks); without it Windows does not raise this code';
    case BugCheckCode.DRIVER_VERIFIER_IOMANAGER_VIOLATION:
      return 'only Driver Verifier with I/O verification (verifier /flags 0x10, among the standard checks); without it Windows does not raise this code';
    case BugCheckCode.DRIVER_VERIFIER_DMA_VIOLATION:
      return 'only Driver Verifier with DMA checking (verifier /flags 0x80, among the standard checks); without it Windows does not raise this code';
    case BugCheckCode.BUGCODE_NDIS_DRIVER:
      return `${sdv}NDIS itself, on every machine, with or without Driver Verifier`;
    case BugCheckCode.DRIVER_IRQL_NOT_LESS_OR_EQUAL:
      return origin === 'sdv'
        ? `${sdv}nothing checks it (see Why 0xD1)`
        : 'no rule check at run time: the kernel stops when the call touches pageable memory at that IRQL; 0xD1 is the likely outcome, not a certain one';
    default:
      return `${sdv}the Windows kernel, on every machine, with or without Driver Verifier`;
  }
}

/** A bug check as `!analyze` would summarise it, with the events that led to it. */
export function formatBugCheckReport(v: Violation, trace: Trace, color: boolean): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  out.push('');
  out.push(c.bgRed(c.white(c.bold(' *** BUG CHECK *** '))));
  out.push(`  ${c.bold(formatBugCheck(v.bugCheck.code, v.bugCheck.params))}`);
  if (v.windowsRule === null) out.push(`  Rule:      ${c.bold(v.rule)} — ${v.summary}`);
  else {
    // Two rules meant: the one !analyze names from parameter 1, and the model's finding.
    const dv = catalogue.get(v.windowsRule);
    out.push(
      `  Rule:      ${c.bold(v.windowsRule)} — ${dv?.summary ?? ''} (Driver Verifier's rule of this code, as !analyze names it)`,
    );
    out.push(
      `             ${c.bold(v.rule)} — ${v.summary} (${originName(v.rule)}'s rule for the same mistake)`,
    );
  }
  out.push(`  Windows:   ${windowsCheckNote(v)}`);
  const why = sdvIrqlNote(v);
  if (why !== null) out.push(`  Why 0xD1:  ${why}`);
  // The rule-book rules, each with its title (`ndis-sim rules R8.6` tells more), under
  // the label `rules` and the HTML report give them.
  v.spec.forEach((id, i) => {
    out.push(`  ${i === 0 ? 'Rule book:' : '          '} ${id.padEnd(6)} ${ruleBook.get(id)?.title ?? ''}`);
  });
  // Where to read more: `ndis-sim rules` and the rule's Microsoft page (the link the
  // HTML report's rule entry gives), or the first page its rule-book rules cite.
  const named = v.windowsRule === null ? [v.rule] : [v.windowsRule, v.rule];
  named.forEach((id, i) => {
    const rule = catalogue.get(id);
    const page = rule === undefined ? undefined : ruleDocs(rule).find((d) => d.startsWith('https://'));
    out.push(
      `  ${i === 0 ? 'See:' : '    '}       ndis-sim rules ${id}${page === undefined ? '' : ` · ${page}`}`,
    );
  });
  out.push(`  Where:     ${v.ddi}${v.adapter !== null ? ` on adapter ${v.adapter}` : ''}`);
  // The driver's line that made the call, as a debugger's stack shows the faulting frame.
  if (v.callSite !== null) out.push(`  Call site: at ${v.callSite}`);
  // A violation found later (a watchdog, a check at halt): where in the driver it began.
  if (v.origin !== null) out.push(`  ${`${v.origin.label}:`.padEnd(10)} ${v.origin.at}`);
  out.push(`  Context:   CPU ${v.cpu}, IRQL ${fmtIrql(v.irql)}, virtual time ${fmtTime(v.timeNs)}`);
  out.push(`  What:      ${v.message}`);
  if (v.tracePos >= 0) {
    const from = Math.max(trace.dropped, v.tracePos - 12);
    out.push(`  Last events before it (trace events ${from}–${v.tracePos - 1}):`);
    const at = (p: number) => p - trace.dropped;
    const lines = formatTimeline(trace.events.slice(at(from), at(v.tracePos)), { color, dataPath: true });
    for (const l of lines.slice(1)) out.push(`  ${l}`);
  }
  return out;
}
