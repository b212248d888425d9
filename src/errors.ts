// Two kinds of failure, kept apart: a bug in ndis-sim itself
// (InternalError, exit 3) and a stop of the simulated machine (WorldStop), which
// carries a bug check or another reason and unwinds to the event loop.

export class InternalError extends Error {
  readonly detail: unknown[];
  constructor(what: string, detail: unknown[]) {
    super(`ndis-sim internal error: ${what}${detail.length ? ` (${detail.map(String).join(', ')})` : ''}`);
    this.name = 'InternalError';
    this.detail = detail;
  }
}

/**
 * Throws an InternalError when `ok` is false. Its rest parameter is an array built at
 * every call, even one that holds: the sites that run at every event (a context's exit, a
 * frame's leave, a state move, a DPC queued, an IRP completed) throw InternalError
 * themselves instead, which took 2 % off a lifecycle's instructions. Turning the
 * once-a-run sites too made it slower: their larger bytecode crowded other inlining
 * out of the step functions (docs/decisions.md, "Assertions on the hot path").
 */
export function assert(ok: boolean, what: string, ...detail: unknown[]): asserts ok {
  if (!ok) throw new InternalError(what, detail);
}

/** Bad input from a user (scenario file, command line): exit 2. */
export class InputError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'));
    this.name = 'InputError';
    this.problems = problems;
  }
}

/** A DDI the model does not implement, called anyway. */
export class NotModelledError extends Error {
  constructor(ddi: string, why: string) {
    super(`${ddi} is not modelled by ndis-sim: ${why}`);
    this.name = 'NotModelledError';
  }
}

/**
 * Thrown to unwind the simulated machine to its event loop once it has stopped
 * (a bug check in bugcheck mode). It is never caught by driver-call wrappers.
 */
export class WorldStop extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'WorldStop';
  }
}

/** The library was used wrongly from outside a simulation (not a driver bug). */
export class NdisSimUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NdisSimUsageError';
  }
}

/**
 * A DDI called while no world runs (kernel.ts notRunning): driver code that outlived
 * its callback, a Promise continuation or a setTimeout. The command tells it as the
 * driver's, after the run's report (cli/main.ts), not as a bug of ndis-sim.
 */
export class DriverOutsideRunError extends NdisSimUsageError {}
