// The device-failure teardown of each adapter, read back out of a trace: from the
// device-failed flag (NdisMRemoveMiniport, or another reason of R5.8) to Code 43,
// step by step with the rules each step comes from, and the steps the run never got
// to. The summary and the HTML report show it; nothing here runs in the simulation.

import { PNP_DEVICE_FAILED } from '../ndis/generated/status.ts';
import type { TraceEvent } from '../trace/trace.ts';
import { stateEntered } from './perfetto.ts';

export interface RemovalStep {
  /** What happens, for a human. */
  what: string;
  /** The rule-book rules it comes from. */
  rules: string;
  /** Index of the trace event that shows it; null when the trace does not. */
  at: number | null;
  /**
   * For a step not reached (`at` null) that began all the same: the index of the event
   * where it began (FilterPause called, the module Pausing), so a report can say it is
   * under way rather than not reached; null otherwise.
   */
  began: number | null;
}

export interface RemovalStory {
  adapter: string;
  /**
   * Whether the teardown followed the device-failed flag; false for a start that failed
   * after a stop, which PnP tears down with no flag (R2.5, R1.8: surprise removal, then
   * removal, Code 10).
   */
  flagged: boolean;
  /** Why the device was marked failed ("NdisMRemoveMiniport", "MiniportRestart failed", …). */
  why: string;
  /**
   * How the device ends: failed with Code 43 (R5.8, R5.12); gone, because it was
   * unplugged (surprise-removed by the scenario) before PnP could fail it; or removed
   * or disabled, because an orderly removal (R5.4) was under way when the flag was set,
   * so the invalidation lapsed and no surprise removal came; or Code 10, because the
   * flag was set in a MiniportInitializeEx that then failed (R5.16).
   */
  end: 'Code 43' | 'unplugged' | 'removed' | 'disabled' | 'Code 10';
  /** The steps in the order they happened, then those that did not. */
  steps: RemovalStep[];
  /**
   * Index of the trace event of a system shutdown that cut the teardown short (R1.6:
   * nothing follows a shutdown, not even the halt), or null: the steps not reached were
   * never to come, and a report says so rather than list them as a stall.
   */
  shutDownAt: number | null;
}

type Match = (e: TraceEvent) => boolean;

/** The adapter (or device: same name) an event concerns. */
function whose(e: TraceEvent): unknown {
  return e.data?.adapter ?? e.data?.device;
}

const isFlag = (e: TraceEvent): boolean => e.kind === 'ndis' && e.what === 'device-failed flag set';

/**
 * The teardowns of the trace: one per device-failed flag, which NDIS sets once per
 * FDO (R5.14, R5.15), so a device started again can fail again and tell a second; and
 * one per start that failed after a stop with no flag set (R2.5, R1.8).
 */
export function removalStories(events: readonly TraceEvent[]): RemovalStory[] {
  const stories: RemovalStory[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind === 'state' && e.data?.event === 'InitializeFailed') {
      const st = failedRestartStory(events, i);
      if (st !== null) stories.push(st);
      continue;
    }
    if (!isFlag(e)) continue;
    const adapter = String(e.data?.adapter);
    let limit = i + 1;
    while (limit < events.length && !(isFlag(events[limit]!) && whose(events[limit]!) === adapter)) limit++;
    stories.push(story(events, i, limit, adapter, String(e.data?.why ?? 'unknown')));
  }
  return stories;
}

function story(
  events: readonly TraceEvent[],
  flag: number,
  limit: number,
  adapter: string,
  why: string,
): RemovalStory {
  /** The first event in [from, limit) of this adapter that matches, or null. */
  const find = (m: Match, from = flag): number | null => {
    for (let i = from; i < limit; i++) {
      const e = events[i]!;
      if (whose(e) === adapter && m(e)) return i;
    }
    return null;
  };
  // Where this FDO's adapter began: its last initialization before the flag (or the
  // first event kept, when the trace dropped it).
  let begin = 0;
  for (let i = flag; i >= 0; i--) {
    const e = events[i]!;
    if (e.kind === 'state' && whose(e) === adapter && e.data?.event === 'MiniportInitializeEx') {
      begin = i;
      break;
    }
  }
  const byCall = why === 'NdisMRemoveMiniport';
  const own = byCall ? 'R5.11' : 'R5.8';
  const steps: RemovalStep[] = [];
  const step = (what: string, rules: string, at: number | null, began: number | null = null): void => {
    steps.push({ what, rules, at, began: at === null ? began : null });
  };
  if (byCall) {
    // The call that set the flag: the last one before it. Not found only when the
    // trace dropped it (a trace keeps its last events); then it is not listed.
    let call: number | null = null;
    for (let i = flag; i >= begin && call === null; i--) {
      const e = events[i]!;
      if (e.kind === 'ddi' && e.what === 'NdisMRemoveMiniport' && whose(e) === adapter) call = i;
    }
    if (call !== null)
      step('the driver calls NdisMRemoveMiniport; it returns NDIS_STATUS_SUCCESS', 'R5.9, R5.10', call);
  }
  step(`NDIS sets the device-failed flag (${why})`, own, flag);
  // R5.14: the driver's later calls before the halt find the flag set and only return
  // SUCCESS; the first is listed (with how many there were), as a step that happened.
  let repeats = 0;
  let firstRepeat: number | null = null;
  for (let i = flag + 1; i < limit; i++) {
    const e = events[i]!;
    // A new adapter of the device (started again, R5.15) makes calls of its own.
    if (e.kind === 'state' && whose(e) === adapter && e.data?.event === 'MiniportInitializeEx') break;
    if (e.kind === 'ddi' && e.what === 'NdisMRemoveMiniport' && whose(e) === adapter) {
      repeats++;
      firstRepeat ??= i;
    }
  }
  if (firstRepeat !== null)
    step(
      `the driver calls NdisMRemoveMiniport${byCall ? ' again' : ''}${repeats > 1 ? ` (${repeats} times)` : ''}: the flag is set already, so it only returns NDIS_STATUS_SUCCESS`,
      'R5.14',
      firstRepeat,
    );
  // NDIS writes its live dump as it sets the flag, for the failures the 0x15E page
  // lists (NdisMRemoveMiniport, a failed MiniportRestart, a failed OID_PNP_SET_POWER);
  // NdisMRemoveMiniport's is listed even when the trace lost it.
  const next = events[flag + 1];
  const dump = next !== undefined && next.kind === 'dump' && whose(next) === adapter ? flag + 1 : null;
  if (byCall || dump !== null) {
    const reason = dump === null ? '' : `, reason ${String((events[dump]!.data?.params as unknown[])?.[3])}`;
    step(`a live dump: BUGCODE_NDIS_DRIVER_LIVE_DUMP (0x15E)${reason}, not a crash`, own, dump);
  }
  step(
    'NDIS calls IoInvalidateDeviceState',
    own,
    find((e) => e.kind === 'device' && e.what === 'IoInvalidateDeviceState'),
  );
  const surprise = find(
    (e) => e.kind === 'irp' && e.what === 'IRP_MN_SURPRISE_REMOVAL' && e.data?.phase === 'sent',
    begin,
  );
  // Unplugged: the scenario surprise-removed the device, before the flag or before
  // PnP acted on it. Then there is no state query to answer and no Code 43: the
  // device is gone (S-d).
  // A device unplugged only after the failure path got it to Code 43 ended that
  // teardown at Code 43: the unplugging is a later event, not this story's end.
  const failedAt = find((e) => e.kind === 'device' && e.data?.problem === 43);
  const goneAt = find((e) => e.kind === 'device' && e.what === 'gone');
  // R5.16: set in a MiniportInitializeEx that then fails: the start fails (Code 10), no
  // halt follows, and the flag dies with the FDO; the invalidation lapses. An unplugging
  // after that is a later event, not this story's end.
  const initFailed = find((e) => e.kind === 'state' && e.data?.event === 'InitializeFailed');
  const failedStart =
    initFailed !== null &&
    (surprise === null || surprise > initFailed) &&
    (goneAt === null || goneAt > initFailed)
      ? initFailed
      : null;
  const gone =
    failedStart === null && goneAt !== null && (failedAt === null || goneAt < failedAt) ? goneAt : null;
  const unplugged = failedStart === null && (gone !== null || (surprise !== null && surprise < flag));
  // An orderly removal or disable (R5.4) under way, or queued ahead of the state query:
  // when PnP gets to the invalidation the device is no longer started, so it lapses
  // (docs/model.md, step 8). No state query and no surprise removal follow; the halt
  // is still Failed (R2.12), and the devnode ends removed or disabled, not at Code 43.
  const orderlyEnd =
    surprise === null && !unplugged && failedStart === null
      ? find((e) => e.kind === 'device' && (e.what === 'removed' || e.what === 'disabled'))
      : null;
  const removeSent =
    surprise === null && !unplugged && failedStart === null
      ? find((e) => e.kind === 'irp' && e.what === 'IRP_MN_REMOVE_DEVICE' && e.data?.phase === 'sent', begin)
      : null;
  let orderly: 'removed' | 'disabled' | null =
    orderlyEnd === null ? null : (events[orderlyEnd]!.what as 'removed' | 'disabled');
  // One still under way when the run ended: its REMOVE_DEVICE is out, and the scenario's
  // disable or remove before it says which it is (R5.4).
  if (orderly === null && removeSent !== null)
    for (let i = removeSent; i >= begin && orderly === null; i--) {
      const e = events[i]!;
      if (e.kind === 'action' && e.actor === 'scenario' && whose(e) === adapter)
        if (e.what === 'disable') orderly = 'disabled';
        else if (e.what === 'remove') orderly = 'removed';
    }
  if (failedStart !== null) {
    step('MiniportInitializeEx fails: the start fails, and the invalidation lapses', 'R5.16', failedStart);
    // A start that failed after a stop (the restart of a rebalance): PnP surprise-removes
    // the device before it removes it; the adapter is halted, so NDIS tells nobody (R5.5).
    if (surprise !== null && surprise > failedStart) step(failedRestartSurprise, 'R1.8, R5.5', surprise);
  }
  const early = orderly !== null || failedStart !== null ? true : null;
  if (orderly !== null)
    step(
      `IRP_MN_REMOVE_DEVICE of an orderly ${orderly === 'disabled' ? 'disable' : 'removal'}: the invalidation lapses`,
      'R5.4',
      removeSent,
    );
  if (!unplugged && early === null)
    step(
      'IRP_MN_QUERY_PNP_DEVICE_STATE: NDIS reports PNP_DEVICE_FAILED',
      'R5.12',
      find(
        (e) =>
          e.kind === 'irp' &&
          e.what === 'IRP_MN_QUERY_PNP_DEVICE_STATE' &&
          e.data?.phase === 'completed' &&
          (Number(e.data?.information) & PNP_DEVICE_FAILED) !== 0,
      ),
    );
  // A halt before any surprise removal: a system sleep's or a stop's (rebalance), which
  // NDIS makes with NdisHaltDeviceFailed once the flag is set (R2.12, power.ts). The
  // adapter stays halted until the removal: the wake or the restart does not initialize
  // a failed FDO again (R5.15), and the removal owes it no SurpriseRemoved notification
  // (R5.5: only an adapter not halted gets one) and no second halt.
  const isHalt: Match = (e) => e.kind === 'call' && e.what === 'MiniportHaltEx';
  const halt = find(isHalt);
  const stayedHalted = halt !== null && early === null && (surprise === null || halt < surprise);
  // What the early halt was for: the last system sleep or STOP_DEVICE before it.
  let haltFor: 'sleep' | 'stop' | null = null;
  if (stayedHalted)
    for (let i = halt - 1; i >= begin && haltFor === null; i--) {
      const e = events[i]!;
      if (e.kind === 'ndis' && e.what.startsWith('system sleep (')) haltFor = 'sleep';
      else if (
        whose(e) === adapter &&
        e.kind === 'irp' &&
        e.what === 'IRP_MN_STOP_DEVICE' &&
        e.data?.phase === 'sent'
      )
        haltFor = 'stop';
    }
  const teardownFrom = Math.min(flag, surprise ?? flag);
  // The filter modules attached at the flag, top-down (R7.8 attaches them bottom-up).
  const moduleStates = stateAt(events, 'filter', begin, flag, limit, adapter);
  const modules = [...moduleStates]
    .filter(([, st]) => st !== 'Detached')
    .map(([m]) => m)
    .toReversed();
  if (early === null) {
    step(
      surprise !== null && surprise < flag
        ? 'IRP_MN_SURPRISE_REMOVAL: the device was unplugged first'
        : 'the PnP manager sends IRP_MN_SURPRISE_REMOVAL',
      surprise !== null && surprise < flag ? 'R5.5' : 'R5.12',
      surprise,
    );
    // R5.5: the device PnP event goes down the stack, through each filter module
    // (FilterDevicePnPEventNotify, passed on with NdisFDevicePnPEventNotify) to the miniport.
    if (!stayedHalted)
      for (const m of modules)
        step(
          `${m}'s FilterDevicePnPEventNotify(NdisDevicePnPEventSurpriseRemoved)`,
          'R5.5',
          find(
            (e) =>
              e.kind === 'call' &&
              e.actor === m &&
              e.what === 'FilterDevicePnPEventNotify' &&
              e.data?.DevicePnPEvent === 'NdisDevicePnPEventSurpriseRemoved',
            begin,
          ),
        );
    if (!stayedHalted)
      step(
        'MiniportDevicePnPEventNotify(NdisDevicePnPEventSurpriseRemoved)',
        'R5.5, R5.7',
        find(
          (e) =>
            e.kind === 'call' &&
            e.what === 'MiniportDevicePnPEventNotify' &&
            e.data?.DevicePnPEvent === 'NdisDevicePnPEventSurpriseRemoved',
          begin,
        ),
      );
    // R5.5, R7.7: then NetEventQueryRemoveDevice goes up, through each filter module
    // bottom-up (FilterNetPnPEvent, passed on with NdisFNetPnPEvent) to the protocols.
    if (!stayedHalted)
      for (const m of modules.toReversed())
        step(
          `${m}'s FilterNetPnPEvent(NetEventQueryRemoveDevice)`,
          'R5.5, R7.7',
          find(
            (e) =>
              e.kind === 'call' &&
              e.actor === m &&
              e.what === 'FilterNetPnPEvent' &&
              e.data?.NetEvent === 'NetEventQueryRemoveDevice',
            teardownFrom,
          ),
        );
  }
  // The stack comes down in the teardown's order (R7.9, R7.11, R5.5): the protocols
  // bound at the flag pause, then the filter modules top-down, then the miniport; the
  // protocols unbind, the modules detach top-down, and the miniport halts. A step not
  // reached is listed in that order, so the first of them is the one the teardown waits on.
  const bindings = [...stateAt(events, 'binding', begin, flag, limit, adapter)].filter(
    ([, st]) => st !== 'Unbound',
  );
  const binding = (p: string, to: string): number | null =>
    find((e) => e.kind === 'binding' && e.actor === p && e.what.endsWith(`→ ${to}`), teardownFrom);
  const module = (m: string, to: string): number | null =>
    find((e) => e.kind === 'filter' && e.actor === m && e.what.endsWith(`→ ${to}`), teardownFrom);
  const called = (who: string, fn: string): number | null =>
    find((e) => e.kind === 'call' && e.actor === who && e.what === fn, teardownFrom);
  // A binding already Closing (its unbind under way, say for a stop-protocol) is past
  // its pause: only its unbind is left.
  for (const [p, st] of bindings)
    if (st !== 'Paused' && st !== 'Closing')
      step(`${p}'s binding is paused`, 'R5.5, R7.1', binding(p, 'Paused'), binding(p, 'Pausing'));
  for (const m of modules)
    if (
      moduleStates.get(m) === 'Running' ||
      moduleStates.get(m) === 'Restarting' ||
      moduleStates.get(m) === 'Pausing'
    )
      step(
        `${m}'s filter module pauses (FilterPause)`,
        'R7.9, R7.6',
        module(m, 'Paused'),
        module(m, 'Pausing') ?? called(m, 'FilterPause'),
      );
  // The adapter's state at the flag, which the flag's event records.
  const state = String(events[flag]!.data?.state ?? '');
  if (state === 'Running' || state === 'Restarting') {
    const paused = find((e) => e.kind === 'state' && e.data?.event === 'MiniportPause', teardownFrom);
    step(
      'MiniportPause',
      'R5.5, R3.1',
      paused === null ? null : find((e) => e.kind === 'state' && e.what.startsWith('Pausing →'), paused),
      paused,
    );
  }
  for (const [p] of bindings)
    step(`${p} unbinds`, 'R5.5, R7.1', binding(p, 'Unbound'), binding(p, 'Closing'));
  for (const m of modules)
    step(
      `${m}'s filter module detaches (FilterDetach)`,
      'R7.11, R7.6',
      module(m, 'Detached'),
      called(m, 'FilterDetach'),
    );
  const action = halt === null ? 'NdisHaltDeviceFailed' : String(events[halt]!.data?.HaltAction);
  if (failedStart === null)
    step(
      stayedHalted
        ? `MiniportHaltEx(${action})${haltFor === null ? '' : ` for the ${haltFor === 'sleep' ? 'system sleep' : 'stop'}`}, before the surprise removal: no SurpriseRemoved notification is due`
        : `MiniportHaltEx(${action})`,
      stayedHalted
        ? haltFor === 'sleep'
          ? 'R2.11, R2.12, R5.15, R5.5'
          : 'R2.12, R5.15, R5.5'
        : 'R5.5, R2.12',
      halt,
    );
  step(
    'IRP_MN_REMOVE_DEVICE completes',
    'R5.12, R5.4',
    find((e) => e.kind === 'irp' && e.what === 'IRP_MN_REMOVE_DEVICE' && e.data?.phase === 'completed'),
  );
  if (unplugged) step('the device is gone (unplugged): no Code 43', 'R5.5', gone);
  else if (failedStart !== null)
    step(
      'the device failed to start: Code 10 (CM_PROB_FAILED_START), no halt',
      'R5.16',
      find((e) => e.kind === 'device' && e.data?.problem === 10),
    );
  else if (orderly !== null)
    step(
      orderly === 'disabled'
        ? 'the device is disabled: Code 22 (CM_PROB_DISABLED), no Code 43'
        : 'the device is removed: no Code 43',
      'R5.4',
      orderlyEnd,
    );
  else step('the device is failed: Code 43 (CM_PROB_FAILED_POST_START)', 'R5.8, R5.12', failedAt);
  // In the order they happened; those that did not, last, in the order above.
  const happened = steps.filter((s) => s.at !== null).sort((a, b) => a.at! - b.at!);
  // R1.6: a shutdown (one a sleeping system did not ignore) ends the machine; the flag may
  // come after it, set in MiniportShutdownEx.
  let shutDownAt: number | null = null;
  if (steps.some((s) => s.at === null))
    for (let i = begin; i < limit && shutDownAt === null; i++) {
      const e = events[i]!;
      if (e.kind !== 'action' || e.actor !== 'scenario' || e.what !== 'shutdown') continue;
      if (!String(events[i + 1]?.what ?? '').startsWith('shutdown ignored')) shutDownAt = i;
    }
  return {
    adapter,
    flagged: true,
    why,
    end: unplugged ? 'unplugged' : orderly !== null ? orderly : failedStart !== null ? 'Code 10' : 'Code 43',
    steps: [...happened, ...steps.filter((s) => s.at === null)],
    shutDownAt,
  };
}

const failedRestartSurprise =
  'the PnP manager sends IRP_MN_SURPRISE_REMOVAL (a start failed after a stop): the adapter is halted, so no SurpriseRemoved notification and no halt';

/**
 * The teardown of a start that failed after a stop, with no device-failed flag set in
 * it (a flag set there is told by its own story, R5.16): MiniportInitializeEx fails, the
 * devnode gets Code 10 (R2.5), and PnP sends IRP_MN_SURPRISE_REMOVAL, then
 * IRP_MN_REMOVE_DEVICE (R1.8; docs/model.md, Stop). The stop's halt was the adapter's
 * last; none follows. Null for a failure the PnP manager sends no surprise removal for
 * (a first start's: REMOVE_DEVICE alone).
 */
function failedRestartStory(events: readonly TraceEvent[], failed: number): RemovalStory | null {
  const adapter = String(whose(events[failed]!));
  // A flag set in this MiniportInitializeEx: its own story tells the failure.
  for (let i = failed - 1; i >= 0; i--) {
    const e = events[i]!;
    if (whose(e) !== adapter) continue;
    if (e.kind === 'state' && e.data?.event === 'MiniportInitializeEx') break;
    if (isFlag(e)) return null;
  }
  let surprise: number | null = null;
  let removed: number | null = null;
  let code10: number | null = null;
  for (let i = failed + 1; i < events.length; i++) {
    const e = events[i]!;
    if (whose(e) !== adapter) continue;
    if (e.kind === 'state' && e.data?.event === 'MiniportInitializeEx') break;
    if (e.kind === 'device' && e.data?.problem === 10) code10 ??= i;
    if (e.kind === 'irp' && e.what === 'IRP_MN_SURPRISE_REMOVAL' && e.data?.phase === 'sent') surprise ??= i;
    if (e.kind === 'irp' && e.what === 'IRP_MN_REMOVE_DEVICE' && e.data?.phase === 'completed') {
      removed = i;
      break;
    }
  }
  if (surprise === null) return null;
  const steps: RemovalStep[] = [
    {
      what: 'MiniportInitializeEx fails: the start after the stop fails',
      rules: 'R1.8, R2.5',
      at: failed,
      began: null,
    },
    { what: failedRestartSurprise, rules: 'R1.8, R5.5', at: surprise, began: null },
    { what: 'IRP_MN_REMOVE_DEVICE completes', rules: 'R5.4', at: removed, began: null },
    {
      what: "the device failed to start: Code 10 (CM_PROB_FAILED_START); the stop's MiniportHaltEx was the adapter's last halt",
      rules: 'R2.5',
      at: code10,
      began: null,
    },
  ];
  const happened = steps.filter((x) => x.at !== null).sort((a, b) => a.at! - b.at!);
  return {
    adapter,
    flagged: false,
    why: 'the start after a stop failed',
    end: 'Code 10',
    steps: [...happened, ...steps.filter((x) => x.at === null)],
    shutDownAt: null,
  };
}

/**
 * Each protocol with a binding to `adapter` (kind 'binding'), or each filter driver with
 * a module on it ('filter'), in the order they first appear, and that binding's or
 * module's state at event `flag`: the state its last change before the flag entered, or,
 * when the trace dropped that, the state its first change after the flag left.
 */
function stateAt(
  events: readonly TraceEvent[],
  kind: 'binding' | 'filter',
  begin: number,
  flag: number,
  limit: number,
  adapter: string,
): Map<string, string> {
  const at = new Map<string, string>();
  for (let i = begin; i < limit; i++) {
    const e = events[i]!;
    if (e.kind !== kind || whose(e) !== adapter) continue;
    if (i < flag) at.set(e.actor, stateEntered(e.what));
    else if (!at.has(e.actor)) at.set(e.actor, e.what.split('→')[0]!.trim());
  }
  return at;
}
