// The adapter's operational state machine (R1.1, R1.2) as a table: every state
// lists the events it accepts and where they lead; anything unlisted is a
// violation. `defer` lists the NDIS operations that must wait in that state (R1.4).

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
  /** NDIS operations that wait while the adapter is in this state (R1.4). */
  readonly defer: readonly AdapterEvent[];
  /** Activities allowed in this state (R1.7). */
  readonly allows: {
    readonly sends: boolean;
    readonly receives: boolean;
    readonly oids: boolean;
    readonly status: boolean;
    readonly reset: boolean;
  };
}

const shutdown: Partial<Record<AdapterEvent, AdapterState>> = { MiniportShutdownEx: 'Shutdown' };

export const adapterTable = {
  Halted: {
    on: { MiniportInitializeEx: 'Initializing' },
    defer: [],
    allows: { sends: false, receives: false, oids: false, status: false, reset: false },
  },
  Shutdown: {
    // R1.6: terminal until reboot.
    on: {},
    defer: [],
    allows: { sends: false, receives: false, oids: false, status: false, reset: false },
  },
  Initializing: {
    on: { InitializeSucceeded: 'Paused', InitializeFailed: 'Halted' },
    defer: [],
    // Status indications are legal once registration attributes are set (R6.16), checked by the DDI.
    allows: { sends: false, receives: false, oids: false, status: true, reset: false },
  },
  Paused: {
    on: { MiniportRestart: 'Restarting', MiniportHaltEx: 'Halted', ...shutdown },
    defer: [],
    allows: { sends: true, receives: false, oids: true, status: true, reset: true },
  },
  Restarting: {
    on: { RestartSucceeded: 'Running', RestartFailed: 'Paused', ...shutdown },
    defer: ['MiniportHaltEx', 'MiniportInitializeEx', 'MiniportPause'],
    allows: { sends: true, receives: true, oids: true, status: true, reset: true },
  },
  Running: {
    on: { MiniportPause: 'Pausing', ...shutdown },
    defer: [],
    allows: { sends: true, receives: true, oids: true, status: true, reset: true },
  },
  Pausing: {
    on: { PauseCompleted: 'Paused', ...shutdown },
    defer: ['MiniportHaltEx', 'MiniportInitializeEx', 'MiniportPause', 'MiniportRestart'],
    allows: { sends: true, receives: true, oids: true, status: true, reset: true },
  },
} as const satisfies Record<AdapterState, StateSpec>;

/**
 * The table as prototype-less dictionaries, for `transition` on the hot path: a keyed
 * load on one costs half a Map.get with a string key, and `on` itself, with its
 * spread-in entries, has a shape of its own per state.
 */
const edges: Record<string, Record<string, AdapterState | undefined>> = Object.create(null);
for (const s of adapterStates) edges[s] = Object.assign(Object.create(null), adapterTable[s].on);

/** The next state, or null when the table does not allow `event` in `state`. */
export function transition(state: AdapterState, event: AdapterEvent): AdapterState | null {
  return edges[state]![event] ?? null;
}

export function deferred(state: AdapterState, event: AdapterEvent): boolean {
  return (adapterTable[state] as StateSpec).defer.includes(event);
}
