// The device-failure teardown of each adapter, read back out of a trace: from the
// device-failed flag (NdisMRemoveMiniport, or another reason of R5.8) to Code 43,
// step by step with the rule each step comes from, and the steps the run never got
// to. The HTML report shows it; nothing here runs in the simulation.

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
}

export interface RemovalStory {
  adapter: string;
  /** Why the device was marked failed ("NdisMRemoveMiniport", "MiniportRestart failed", …). */
  why: string;
  /** The steps in the order they happened, then those that did not. */
  steps: RemovalStep[];
}

type Match = (e: TraceEvent) => boolean;

/** The adapter (or device: same name) an event concerns. */
function whose(e: TraceEvent): unknown {
  return e.data?.adapter ?? e.data?.device;
}

/** The teardowns of the trace, one per adapter whose device was marked failed. */
export function removalStories(events: readonly TraceEvent[]): RemovalStory[] {
  const stories: RemovalStory[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.kind !== 'ndis' || e.what !== 'device-failed flag set') continue;
    const adapter = String(e.data?.adapter);
    if (seen.has(adapter)) continue;
    seen.add(adapter);
    stories.push(story(events, i, adapter, String(e.data?.why ?? 'unknown')));
  }
  return stories;
}

function story(events: readonly TraceEvent[], flag: number, adapter: string, why: string): RemovalStory {
  const mine =
    (m: Match): Match =>
    (e) =>
      whose(e) === adapter && m(e);
  /** The first event from `from` on that matches, or null. */
  const find = (m: Match, from = flag): number | null => {
    for (let i = from; i < events.length; i++) if (mine(m)(events[i]!)) return i;
    return null;
  };
  const steps: RemovalStep[] = [];
  const step = (what: string, rules: string, at: number | null): void => {
    steps.push({ what, rules, at });
  };
  if (why === 'NdisMRemoveMiniport') {
    // The call that set the flag: the last one before it.
    let call: number | null = null;
    for (let i = flag; i >= 0 && call === null; i--) {
      const e = events[i]!;
      if (e.kind === 'ddi' && e.what === 'NdisMRemoveMiniport' && whose(e) === adapter) call = i;
    }
    // Not found only when the trace dropped it (it keeps the last events): then not listed.
    if (call !== null)
      step('the driver calls NdisMRemoveMiniport; it returns NDIS_STATUS_SUCCESS', 'R5.9, R5.10', call);
  }
  step(`NDIS sets the device-failed flag (${why})`, 'R5.11, R5.8', flag);
  const dump = find((e) => e.kind === 'dump');
  const reason = dump === null ? '' : `, reason ${String((events[dump]!.data?.params as unknown[])?.[3])}`;
  step(`a live dump: BUGCODE_NDIS_DRIVER_LIVE_DUMP (0x15E)${reason}, not a crash`, 'R5.11', dump);
  step(
    'NDIS calls IoInvalidateDeviceState',
    'R5.11',
    find((e) => e.kind === 'device' && e.what === 'IoInvalidateDeviceState'),
  );
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
  const surprise = find(
    (e) => e.kind === 'irp' && e.what === 'IRP_MN_SURPRISE_REMOVAL' && e.data?.phase === 'sent',
  );
  step('the PnP manager sends IRP_MN_SURPRISE_REMOVAL', 'R5.12', surprise);
  step(
    'MiniportDevicePnPEventNotify(NdisDevicePnPEventSurpriseRemoved)',
    'R5.5, R5.7',
    find(
      (e) =>
        e.kind === 'call' &&
        e.what === 'MiniportDevicePnPEventNotify' &&
        e.data?.DevicePnPEvent === 'NdisDevicePnPEventSurpriseRemoved',
    ),
  );
  // Each protocol bound at the flag: paused, then unbound.
  const protocols: string[] = [];
  for (let i = 0; i < flag; i++) {
    const e = events[i]!;
    if (e.kind === 'binding' && whose(e) === adapter && !protocols.includes(e.actor)) protocols.push(e.actor);
  }
  const teardownFrom = surprise ?? flag;
  for (const p of protocols) {
    const bound = lastBindingState(events, flag, adapter, p);
    if (bound === 'Unbound') continue;
    if (bound !== 'Paused')
      step(
        `${p}'s binding is paused`,
        'R5.5, R7.1',
        find((e) => e.kind === 'binding' && e.actor === p && e.what.endsWith('→ Paused'), teardownFrom),
      );
    step(
      `${p} unbinds`,
      'R5.5, R7.1',
      find((e) => e.kind === 'binding' && e.actor === p && e.what.endsWith('→ Unbound'), teardownFrom),
    );
  }
  const state = lastAdapterState(events, flag, adapter);
  if (state === 'Running' || state === 'Restarting')
    step(
      'MiniportPause',
      'R5.5, R3.1',
      find((e) => e.kind === 'state' && e.data?.event === 'MiniportPause', teardownFrom),
    );
  const halt = find((e) => e.kind === 'call' && e.what === 'MiniportHaltEx');
  const action = halt === null ? 'NdisHaltDeviceFailed' : String(events[halt]!.data?.HaltAction);
  step(`MiniportHaltEx(${action})`, 'R5.5, R2.12', halt);
  step(
    'IRP_MN_REMOVE_DEVICE completes',
    'R5.12, R5.4',
    find((e) => e.kind === 'irp' && e.what === 'IRP_MN_REMOVE_DEVICE' && e.data?.phase === 'completed'),
  );
  step(
    'the device is failed: Code 43 (CM_PROB_FAILED_POST_START)',
    'R5.8, R5.12',
    find((e) => e.kind === 'device' && e.data?.problem === 43),
  );
  // In the order they happened; those that did not, last, in the order above.
  const happened = steps.filter((s) => s.at !== null).sort((a, b) => a.at! - b.at!);
  return { adapter, why, steps: [...happened, ...steps.filter((s) => s.at === null)] };
}

/** The state a protocol's binding of `adapter` was in just before event `before`. */
function lastBindingState(
  events: readonly TraceEvent[],
  before: number,
  adapter: string,
  protocol: string,
): string {
  for (let i = before - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.kind === 'binding' && e.actor === protocol && whose(e) === adapter) return stateEntered(e.what);
  }
  return 'Unbound';
}

/** The adapter's state just before event `before`. */
function lastAdapterState(events: readonly TraceEvent[], before: number, adapter: string): string {
  for (let i = before - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.kind === 'state' && whose(e) === adapter) return stateEntered(e.what);
  }
  return 'Halted';
}
