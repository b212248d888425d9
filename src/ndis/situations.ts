// Situations a run reaches, for the explorer's count of what its seeds covered: a
// removal, a system sleep, a selective suspend, a reset, a protocol driver's pended
// open or close or busy pause, and the adapter's state and what was under way when it came:
// the flags, the device's power state, where selective suspend was, a system sleep or
// resume under way, and which request the miniport had. Kept as small numbers while the
// run goes (one push each, only when the world counts them) and named only for the report.

import type { MiniportBlock } from './block.ts';
import { OID_NAMES, OID_PNP_QUERY_POWER, OID_PNP_SET_POWER } from './generated/status.ts';
import type { SsPhase } from './ss.ts';
import { adapterStates } from './states.ts';

export const SituationKind = {
  /** The miniport called NdisMRemoveMiniport. */
  RemoveMiniport: 0,
  /** NDIS got IRP_MN_SURPRISE_REMOVAL for the adapter's device. */
  SurpriseRemoval: 1,
  /** A system sleep (S3, S4) reached the adapter: NDIS begins to take it to D3. */
  SystemSleep: 2,
  /** NDIS calls MiniportIdleNotification: selective suspend begins. */
  IdleNotification: 3,
  /** NDIS calls MiniportResetEx. */
  Reset: 4,
  /** NDIS calls MiniportPause. */
  Pause: 5,
  /** NDIS calls MiniportHaltEx. */
  Halt: 6,
  /** A protocol driver's NdisOpenAdapterEx pended. */
  ProtocolOpenPended: 7,
  /** Its NdisCloseAdapterEx pended; the completion comes later, or before the call returned. */
  ProtocolClosePended: 8,
  ProtocolCloseCompletedEarly: 9,
  /** NDIS pauses a protocol driver's binding while sends it made are in flight. */
  ProtocolPauseWithSends: 10,
} as const;

const kindNames = [
  'NdisMRemoveMiniport',
  'surprise removal',
  'system sleep',
  'selective suspend (MiniportIdleNotification)',
  'MiniportResetEx',
  'MiniportPause',
  'MiniportHaltEx',
  "a protocol driver's NdisOpenAdapterEx pended",
  "a protocol driver's NdisCloseAdapterEx pended",
  "a protocol driver's NdisCloseAdapterEx completed before it returned",
  "a protocol driver's NetEventPause with its sends in flight",
];
const flagNames = [
  'reset pending',
  'OID pending',
  'in MiniportHaltEx',
  'surprise-removed',
  'device failed',
  'interrupt DPC queued',
];
/** The flags' span in a code. */
const flagSpan = 2 ** flagNames.length;
/** The device's power state as its bus driver has it (DeviceNode.powerState); D0 goes unnamed. */
const devicePowerStates = ['D0', 'D1', 'D2', 'D3'];
/**
 * Where selective suspend was (AdapterSs.phase): not under way (no `ss` record,
 * `monitoring` or `off`) goes unnamed; else the phase in words.
 */
const ssPhases: readonly (SsPhase | null)[] = [
  null,
  'notifying',
  'suspending',
  'suspended',
  'cancelling',
  'resuming',
];
const ssPhaseNames = [
  '',
  'idle notification pending',
  'selective suspend powering down',
  'selectively suspended',
  'idle notification being cancelled',
  'resuming from selective suspend',
];
/** A system power operation NDIS had under way on the adapter (b.op): none, a sleep, a resume. */
const powerOpNames = ['', 'system sleep under way', 'system resume under way'];
/** The span of a situation without its request (the flags and the power dimensions). */
const powerSpan = flagSpan * adapterStates.length * kindNames.length;
const baseSpan = powerSpan * devicePowerStates.length * ssPhases.length * powerOpNames.length;

/**
 * The requests the miniport had in MiniportOidRequest when a situation came, by
 * name (`OID_PNP_SET_POWER(D3)`), numbered from 1 in the order the thread first met
 * them: a code holds the number, and only this thread's report names it. The numbers
 * are only names' stand-ins, so the order they come in changes no report.
 */
const requestNames: string[] = [''];
const requestNumbers = new Map<number, number>();

/** The miniport's request as a situation names it: its OID, and for a power OID the state asked for. */
function requestNumber(b: MiniportBlock): number {
  const r = b.oid;
  if (r === null) return 0;
  const oid = r.request.DATA.Oid;
  const v = r.request.DATA.SET_INFORMATION.InformationBuffer;
  // NdisDeviceStateD0 … D3 are 1 … 4.
  const dx =
    (oid === OID_PNP_SET_POWER || oid === OID_PNP_QUERY_POWER) && typeof v === 'number' && v >= 1 && v <= 4
      ? v
      : 0;
  const key = oid * 8 + dx;
  let i = requestNumbers.get(key);
  if (i === undefined) {
    const name = OID_NAMES.get(oid) ?? `OID 0x${oid.toString(16).toUpperCase().padStart(8, '0')}`;
    i = requestNames.push(dx === 0 ? name : `${name}(${devicePowerStates[dx - 1]})`) - 1;
    requestNumbers.set(key, i);
  }
  return i;
}

/** The situation of `b` for an event of `kind`, as a number (situationName names it). */
export function situationCode(kind: number, b: MiniportBlock): number {
  const flags =
    (b.resetInProgress ? 1 : 0) |
    (b.oid !== null ? 2 : 0) |
    (b.inHalt ? 4 : 0) |
    (b.surpriseRemoved ? 8 : 0) |
    (b.deviceFailed ? 16 : 0) |
    // A pause or halt between an interrupt and its DPC: the DPC runs after MiniportPause
    // returned, or inside NdisMDeregisterInterruptEx (R2.10, R3.3).
    ((kind === SituationKind.Pause || kind === SituationKind.Halt) &&
    b.interrupt !== null &&
    b.ndis.interruptDpcQueued(b.interrupt)
      ? 32
      : 0);
  const device = devicePowerStates.indexOf(b.dev.powerState);
  const ss = b.ss === null || kind === SituationKind.IdleNotification ? 0 : ssPhases.indexOf(b.ss.phase);
  // A system sleep situation is the sleep reaching the adapter: not named twice.
  const op = b.op?.kind === 'sleep' && kind !== SituationKind.SystemSleep ? 1 : b.op?.kind === 'wake' ? 2 : 0;
  const power = (Math.max(device, 0) * ssPhases.length + Math.max(ss, 0)) * powerOpNames.length + op;
  return (
    (b.oid === null ? 0 : requestNumber(b)) * baseSpan +
    power * powerSpan +
    (kind * adapterStates.length + adapterStates.indexOf(b.state)) * flagSpan +
    flags
  );
}

/**
 * "surprise removal in Running, reset pending", "surprise removal in Paused,
 * OID_PNP_SET_POWER(D3) pending, device in D3, selectively suspended".
 */
export function situationName(code: number): string {
  const request = Math.floor(code / baseSpan);
  let rest = code - request * baseSpan;
  let power = Math.floor(rest / powerSpan);
  rest -= power * powerSpan;
  const flags = rest % flagSpan;
  rest = (rest - flags) / flagSpan;
  const state = rest % adapterStates.length;
  const kind = (rest - state) / adapterStates.length;
  const op = power % powerOpNames.length;
  power = (power - op) / powerOpNames.length;
  const ss = power % ssPhases.length;
  const device = (power - ss) / ssPhases.length;
  let s = `${kindNames[kind]} in ${adapterStates[state]}`;
  for (let i = 0; i < flagNames.length; i++)
    if ((flags & (1 << i)) !== 0)
      s += `, ${i === 1 && request > 0 ? `${requestNames[request]} pending` : flagNames[i]}`;
  if (device > 0) s += `, device in ${devicePowerStates[device]}`;
  if (ss > 0) s += `, ${ssPhaseNames[ss]}`;
  if (op > 0) s += `, ${powerOpNames[op]}`;
  return s;
}
