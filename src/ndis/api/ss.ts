// NDIS selective suspend, the miniport's side (NDIS 6.30): the two calls with which a
// miniport answers NDIS's idle notification. NDIS's side is in ../ss.ts.

import { ddiIrql } from '../generated/irql.ts';
import { NDIS_DEVICE_POWER_STATE_NAMES } from '../generated/status.ts';
import { ssComplete, ssConfirm } from '../ss.ts';
import type { NDIS_HANDLE } from '../types.ts';
import { adapterHandle, stale } from './common.ts';

const irql = {
  NdisMIdleNotificationConfirm: ddiIrql.NdisMIdleNotificationConfirm!,
  NdisMIdleNotificationComplete: ddiIrql.NdisMIdleNotificationComplete!,
};

/**
 * VOID NdisMIdleNotificationConfirm(MiniportAdapterHandle, IdlePowerState). PASSIVE.
 * The adapter NDIS issued an idle notification for (MiniportIdleNotification) may go to
 * IdlePowerState, the lowest state it supports (D2 for USB). NDIS then sends
 * OID_PM_PARAMETERS and OID_PNP_SET_POWER(IdlePowerState) and has the bus power the
 * device down. On Windows the call returns once the device is down; in the model it
 * returns at once and the OID requests follow (docs/decisions.md). Without an
 * outstanding, unconfirmed notification, or with a state that is not D1 to D3, it is
 * NdisSim_IdleNotificationConfirm and does nothing.
 */
export function NdisMIdleNotificationConfirm(
  MiniportAdapterHandle: NDIS_HANDLE,
  IdlePowerState: number,
): void {
  const ddi = 'NdisMIdleNotificationConfirm';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMIdleNotificationConfirm, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on)
    n.traceDdi(ddi, b, { IdlePowerState: NDIS_DEVICE_POWER_STATE_NAMES[IdlePowerState] ?? IdlePowerState });
  if (b.ss === null) {
    n.verifier.report(
      'NdisSim_IdleNotificationConfirm',
      ddi,
      b.name,
      `${ddi}: the adapter has no selective suspend (handlers registered and NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED reported), so NDIS issued no idle notification; NDIS ignores the call`,
    );
    return;
  }
  ssConfirm(n, b, IdlePowerState);
}

/**
 * VOID NdisMIdleNotificationComplete(MiniportAdapterHandle). <= DISPATCH. Completes the
 * outstanding idle notification: after MiniportCancelIdleNotification, or on the
 * miniport's own account. NDIS brings the adapter back to D0 (IRP_MN_SET_POWER, then
 * OID_PNP_SET_POWER(D0)) if it was powered down, lets the sends and OID requests it held
 * go down, and watches for idleness again. With no notification outstanding (a second
 * completion, say) it is NdisSim_IdleNotificationComplete and does nothing.
 */
export function NdisMIdleNotificationComplete(MiniportAdapterHandle: NDIS_HANDLE): void {
  const ddi = 'NdisMIdleNotificationComplete';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMIdleNotificationComplete, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on) n.traceDdi(ddi, b, {});
  ssComplete(n, b);
}
