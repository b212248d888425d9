// What NDIS's PnP or power operation on an adapter waits on, in words a driver writer
// reads ("the surprise removal waits for filter module lwf's FilterPause"), for the
// "Still under way" lines (World.pending) and the timeline: the model's own step names
// (pause-protocols, wait-replay) are its bookkeeping and say nothing to a reader.
// Nothing here runs in the simulation.

import type { MiniportBlock, PnpOp, SleepStep, TeardownWhy, WakeStep } from '../ndis/block.ts';

/**
 * What a pausing binding's pause waits for ("2 send(s) to complete (2 with the
 * miniport)"), or null; World gives it, as it knows where each send is.
 */
export type PauseSends = (bd: MiniportBlock['bindings'][number]) => string | null;
const noSends: PauseSends = () => null;

/**
 * Whether opWaitText names the pausing bindings of `b` (its operation is at the step that
 * pauses the protocols), so what each waits for is said there and not again.
 */
export function opNamesPauses(b: MiniportBlock): boolean {
  const op = b.op;
  if (op === null) return false;
  if (op.kind === 'teardown') return op.step === 'pause-protocols';
  return (op.kind === 'bring-up' || op.kind === 'restack') && op.step === 'pause';
}

/** The operation, named as a user would: "the surprise removal", "the sleep". */
function opName(b: MiniportBlock, op: PnpOp): string {
  switch (op.kind) {
    case 'teardown':
      return teardownName(op.why, b.dev.removalReason === 'disabled');
    case 'bring-up':
      return 'the start';
    case 'sleep':
      return 'the sleep';
    case 'wake':
      return 'the resume';
    case 'restack':
      return 'restart' in op.change
        ? `the restart of filter module ${op.change.restart.driver.name}`
        : 'attach' in op.change
          ? 'the attach of a filter module to the running stack'
          : `the detach of filter module ${op.change.detach.name} from the running stack`;
  }
}

/**
 * A disable and an orderly removal share NDIS's teardown (R5.4: the same REMOVE_DEVICE,
 * the same NdisHaltDeviceDisabled); the devnode's removal reason tells the user which.
 */
function teardownName(why: TeardownWhy, disable: boolean): string {
  switch (why) {
    case 'remove':
      return disable ? 'the disable' : 'the removal';
    case 'surprise-removal':
      return 'the surprise removal';
    case 'stop':
      return 'the stop';
    case 'stack-failed':
      return 'the teardown after the stack failed';
    case 'im-deinit':
      return 'the teardown (NdisIMDeInitializeDeviceInstance)';
  }
}

/**
 * What a power operation is doing at `step`, as a phrase ("waiting for OID_PNP_SET_POWER
 * to complete"); the timeline says it of a sleep or resume a removal took over.
 */
export function powerStepText(kind: 'sleep' | 'wake', step: SleepStep | WakeStep | string): string {
  switch (step) {
    case 'query-power':
      return 'about to query the power change (OID_PNP_QUERY_POWER)';
    case 'wait-query-power':
      return 'waiting for OID_PNP_QUERY_POWER to complete';
    case 'set-power-protocols':
      return 'telling the filter modules and protocols of the power change (NetEventSetPower)';
    case 'pause-protocols':
      return 'pausing the protocols and filter modules';
    case 'pause-miniport':
      return 'pausing the miniport (MiniportPause)';
    case 'power-down':
      return 'powering the miniport down';
    case 'wait-pm-parameters':
      return 'waiting for OID_PM_PARAMETERS to complete';
    case 'wait-set-power':
      return `waiting for OID_PNP_SET_POWER(${kind === 'sleep' ? 'D3' : 'D0'}) to complete`;
    case 'power-up':
      return 'powering the device up (D0)';
    case 'replay':
      return 'about to set the packet filter and multicast list again';
    case 'wait-replay':
      return 'waiting for the packet filter and multicast list OID requests to complete';
    case 'restart':
      return 'restarting the miniport (MiniportRestart)';
    case 'restart-protocols':
      return 'restarting the filter modules and protocols';
    case 'done':
      return 'finishing';
    default:
      return 'under way';
  }
}

/**
 * Who holds up the pause of the stack above the miniport (R7.9: the protocols first,
 * then the filter modules top-down): a filter module whose FilterPause has not finished
 * first, then the bindings still pausing. Empty when nobody is pausing yet.
 */
function pauseHolders(b: MiniportBlock, sends: PauseSends): string[] {
  const out: string[] = [];
  for (const m of b.filters)
    if (m.state === 'Pausing')
      out.push(
        `filter module ${m.driver.name}'s FilterPause${m.pending?.kind === 'pause' ? (m.pending.returned ? ' (it returned NDIS_STATUS_PENDING; NdisFPauseComplete not called)' : ' (it has not returned)') : ''}`,
      );
  for (const bd of b.bindings)
    if (bd.state === 'Pausing') {
      // What the pause waits for itself, said here once, not again after the line (R3.4).
      const held = sends(bd);
      out.push(
        `protocol ${bd.protocol.name}'s pause (NetEventPause)${held === null ? '' : `, which waits for ${held}`}`,
      );
    }
  return out;
}

/** The wait of a teardown at its step, a phrase after its name. */
function teardownWait(b: MiniportBlock, step: string, sends: PauseSends): string {
  switch (step) {
    case 'notify':
      return `has yet to tell ${b.filters.length > 0 ? 'the filter modules and protocols' : 'the protocols'} (NetEventQueryRemoveDevice)`;
    case 'pause-protocols': {
      const held = pauseHolders(b, sends);
      return held.length > 0
        ? `waits for ${held.join(' and ')}, before MiniportPause`
        : 'waits to pause the protocols and filter modules, before MiniportPause';
    }
    case 'pause-miniport':
      return b.pause !== null
        ? 'waits for MiniportPause to complete (NdisMPauseComplete)'
        : 'waits to pause the miniport (MiniportPause)';
    case 'unbind': {
      const closing = b.bindings.filter((x) => x.state === 'Closing').map((x) => x.protocol.name);
      return closing.length > 0
        ? `waits for the unbind of ${closing.map((p) => `protocol ${p}`).join(' and ')} (ProtocolUnbindAdapterEx)`
        : 'waits to unbind the protocols';
    }
    case 'detach': {
      const inDetach = b.filters.filter((m) => m.inDetach).map((m) => m.driver.name);
      return inDetach.length > 0
        ? `waits for filter module ${inDetach.join(' and ')}'s FilterDetach to return`
        : 'waits to detach the filter modules (FilterDetach)';
    }
    case 'halt':
      return 'waits to halt the miniport (MiniportHaltEx)';
    case 'done':
      return 'is finishing';
    default:
      return 'is under way';
  }
}

/** The wait of a start (R7.8, R7.10) or a filter restack at its step. */
function stackWait(
  b: MiniportBlock,
  op: PnpOp & { kind: 'bring-up' | 'restack' },
  sends: PauseSends,
): string {
  switch (op.step) {
    case 'init':
      return 'waits for MiniportInitializeEx';
    case 'attach':
      return 'waits to attach the filter modules (FilterAttach)';
    case 'bind':
      return 'waits to bind the protocols';
    case 'pause': {
      const held = pauseHolders(b, sends);
      return held.length > 0
        ? `waits for ${held.join(' and ')}`
        : 'waits to pause the protocols and filter modules';
    }
    case 'pause-miniport':
      return b.pause !== null
        ? 'waits for MiniportPause to complete (NdisMPauseComplete)'
        : 'waits to pause the miniport (MiniportPause)';
    case 'change':
      return 'waits to attach or detach the filter module';
    case 'restart':
      return b.restart !== null
        ? 'waits for MiniportRestart to complete (NdisMRestartComplete)'
        : 'waits to restart the miniport (MiniportRestart)';
    case 'restart-protocols':
      return 'waits to restart the filter modules and protocols';
    case 'done':
      return 'is finishing';
    default:
      return 'is under way';
  }
}

/**
 * The operation under way on `b` and what it waits on, without the adapter's name:
 * "the surprise removal waits for filter module lwf's FilterPause (…), before
 * MiniportPause"; "" when there is none. A filter module that holds the stack up is
 * named first. `power`: for a sleep or resume, what power.ts says of its step.
 */
export function opWaitText(
  b: MiniportBlock,
  power: string | null = null,
  sends: PauseSends = noSends,
): string {
  const op = b.op;
  if (op === null) return '';
  const name = opName(b, op);
  switch (op.kind) {
    case 'teardown':
      return `${name} ${teardownWait(b, op.step, sends)}`;
    case 'sleep':
    case 'wake':
      // `power`: what power.ts's pendingPowerStep knows of the step, when it names it.
      return `${name} is ${power !== null && !power.startsWith('at step') ? power : powerStepText(op.kind, op.step)}`;
    default:
      return `${name} ${stackWait(b, op, sends)}`;
  }
}
