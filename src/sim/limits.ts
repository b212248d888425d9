// A bound on everything that could run away. Units last in the names.

export const limits = {
  /**
   * A run that executes more events than this at one instant, the clock not moving,
   * is stopped as a livelock. A run whose clock moves is bounded by its end time.
   */
  eventsAtOneInstantMax: 1_000_000,
  /** Nested waits (NdisMSleep inside a callback that another wait ran). */
  waitNestingMax: 16,
  /** Trace events kept in one run. */
  traceEventsMax: 2_000_000,
  /**
   * Register and port accesses one thread makes without a blocking wait before each
   * costs it time (R8.11): past this it is polling, and a poll that never ends meets
   * the watchdogs (docs/model.md).
   */
  accessesFreeMax: 100_000,
} as const;

export const ns = {
  us: 1_000,
  ms: 1_000_000,
  s: 1_000_000_000,
} as const;
