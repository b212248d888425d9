// Situations a run reaches, for the explorer's count of what its seeds covered: a
// removal, a system sleep, a selective suspend, a reset, a protocol driver's pended
// open or close or busy pause, and the adapter's state and what was under way when it came. Kept as small
// numbers while the run goes (one push each, only when the world counts them) and
// named only for the report.

import type { MiniportBlock } from './block.ts';
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
  return (kind * adapterStates.length + adapterStates.indexOf(b.state)) * flagSpan + flags;
}

/** "surprise removal in Running, reset pending" */
export function situationName(code: number): string {
  const flags = code % flagSpan;
  const rest = (code - flags) / flagSpan;
  const state = rest % adapterStates.length;
  const kind = (rest - state) / adapterStates.length;
  let s = `${kindNames[kind]} in ${adapterStates[state]}`;
  for (let i = 0; i < flagNames.length; i++) if ((flags & (1 << i)) !== 0) s += `, ${flagNames[i]}`;
  return s;
}
