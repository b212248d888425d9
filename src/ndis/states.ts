// The adapter's operational state machine (R1.1, R1.2) as a table: every state
// lists the events it accepts and where they lead; anything unlisted is a
// violation. `defer` lists the NDIS operations that must wait in that state (R1.4).
// What each state permits (R1.7) is checked where the activity enters NDIS:
// datapath.ts (sends, receives), oid.ts (requests), api/adapter.ts (status
// indications) and reset.ts (resets).

export const adapterStates = [
  'Halted',
  'Shutdown',
  'Initializing',
  'Paused',
  'Restarting',
  'Running',
  'Pausing',
] as const;
export type AdapterState = (typeof adapterStates)[number];

/**
 * Events are named after the call that causes them. NDIS causes the calls into
 * the driver; the driver causes the completions (`...Complete` DDIs, or the
 * return value of the call).
 */
export const adapterEvents = [
  'MiniportInitializeEx',
  'InitializeSucceeded',
  'InitializeFailed',
  'MiniportRestart',
  'RestartSucceeded',
  'RestartFailed',
  'MiniportPause',
  'PauseCompleted',
  'MiniportHaltEx',
  'MiniportShutdownEx',
] as const;
export type AdapterEvent = (typeof adapterEvents)[number];

/** Who makes the event happen; a bad event from the driver is the driver's bug, from NDIS the model's. */
export const eventCause: Readonly<Record<AdapterEvent, 'ndis' | 'driver'>> = {
  MiniportInitializeEx: 'ndis',
  InitializeSucceeded: 'driver',
  InitializeFailed: 'driver',
  MiniportRestart: 'ndis',
  RestartSucceeded: 'driver',
  RestartFailed: 'driver',
  MiniportPause: 'ndis',
  PauseCompleted: 'driver',
  MiniportHaltEx: 'ndis',
  MiniportShutdownEx: 'ndis',
};

export interface StateSpec {
  readonly on: Partial<Readonly<Record<AdapterEvent, AdapterState>>>;
  /** NDIS operations that wait while the adapter is in this state (R1.4); the teardown asks `deferred`. */
  readonly defer: readonly AdapterEvent[];
}

const shutdown: Partial<Record<AdapterEvent, AdapterState>> = { MiniportShutdownEx: 'Shutdown' };

export const adapterTable = {
  Halted: {
    on: { MiniportInitializeEx: 'Initializing' },
    defer: [],
  },
  Shutdown: {
    // R1.6: terminal until reboot.
    on: {},
    defer: [],
  },
  Initializing: {
    on: { InitializeSucceeded: 'Paused', InitializeFailed: 'Halted' },
    defer: [],
  },
  Paused: {
    on: { MiniportRestart: 'Restarting', MiniportHaltEx: 'Halted', ...shutdown },
    defer: [],
  },
  Restarting: {
    on: { RestartSucceeded: 'Running', RestartFailed: 'Paused', ...shutdown },
    defer: ['MiniportHaltEx', 'MiniportInitializeEx', 'MiniportPause'],
  },
  Running: {
    on: { MiniportPause: 'Pausing', ...shutdown },
    defer: [],
  },
  Pausing: {
    on: { PauseCompleted: 'Paused', ...shutdown },
    defer: ['MiniportHaltEx', 'MiniportInitializeEx', 'MiniportPause', 'MiniportRestart'],
  },
} as const satisfies Record<AdapterState, StateSpec>;

/** One edge of the table: an event a state accepts, and the state it leads to. */
export interface Edge {
  readonly event: AdapterEvent;
  readonly to: AdapterState;
  /** `to`'s position in adapterStates. */
  readonly toIndex: number;
}

/**
 * The table by state index, for MiniportBlock.move on the hot path. A state accepts
 * at most three events, and comparing a few interned strings is quicker than any
 * keyed lookup (about 10 ns a lookup on node 20, Map or object alike).
 */
const edges: readonly (readonly Edge[])[] = adapterStates.map((s) =>
  Object.entries((adapterTable[s] as StateSpec).on).map(([event, to]) => ({
    event: event as AdapterEvent,
    to: to as AdapterState,
    toIndex: adapterStates.indexOf(to as AdapterState),
  })),
);

/** The edge `event` takes from the state at `stateIndex`, or null when the table has none. */
export function edgeFrom(stateIndex: number, event: AdapterEvent): Edge | null {
  for (const e of edges[stateIndex]!) if (e.event === event) return e;
  return null;
}

/** The next state, or null when the table does not allow `event` in `state`. */
export function transition(state: AdapterState, event: AdapterEvent): AdapterState | null {
  return edgeFrom(adapterStates.indexOf(state), event)?.to ?? null;
}

export function deferred(state: AdapterState, event: AdapterEvent): boolean {
  return (adapterTable[state] as StateSpec).defer.includes(event);
}

/** The states that defer `event`, from the table, for a check on the hot path. */
export function statesDeferring(event: AdapterEvent): ReadonlySet<AdapterState> {
  return new Set(adapterStates.filter((s) => deferred(s, event)));
}
