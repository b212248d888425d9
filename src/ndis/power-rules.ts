// What the power pages ask of a miniport, checked where the model can see it:
// - the OID_PNP_SET_POWER page: before it completes a set to a low-power state the
//   miniport has completed the sends it held (NDIS_STATUS_LOW_POWER_STATE), and before
//   the adapter goes to D3 it has cancelled its NDIS timers; once the bus driver took
//   the adapter to D3 the miniport cannot access it (NdisSim_SetPowerSendsPending,
//   NdisSim_SetPowerTimerSet, NdisSim_HardwareAccessInLowPower);
// - Driver Verifier's NdisOidComplete rule: the statuses OID_PNP_SET_POWER and
//   OID_PM_REMOVE_WOL_PATTERN may complete with.

import { statusText } from '../verifier/bugcheck.ts';
import type { MiniportBlock } from './block.ts';
import {
  NDIS_DEVICE_POWER_STATE_NAMES,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_REQUEST_ABORTED,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisHaltDeviceSurpriseRemoved,
  NdisRequestSetInformation,
  OID_PM_REMOVE_WOL_PATTERN,
  OID_PNP_SET_POWER,
} from './generated/status.ts';
import { oidName, ruleParams } from './oid.ts';
import type { NDIS_OID_REQUEST } from './types.ts';

/**
 * The devtest page of NdisOidComplete: OID_PNP_SET_POWER may complete only with SUCCESS
 * or NOT_ACCEPTED (and be pended); OID_PM_REMOVE_WOL_PATTERN, one of its "delete" and
 * "free" OIDs, only with SUCCESS, NOT_ACCEPTED or REQUEST_ABORTED (a PatternId NDIS does
 * not know never reaches the miniport: NDIS fails it, wol.ts). The page's other such OIDs
 * (receive filters, NIC switches, offloads) are none NDIS or the built-in protocol sends;
 * they are left out, though a driver's own protocol or filter, or a scenario's oid action
 * by number, may send one (docs/model.md, R6 "Not modelled").
 */
const restricted = new Map<number, readonly number[]>([
  [OID_PNP_SET_POWER, [NDIS_STATUS_SUCCESS, NDIS_STATUS_NOT_ACCEPTED]],
  [OID_PM_REMOVE_WOL_PATTERN, [NDIS_STATUS_SUCCESS, NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_REQUEST_ABORTED]],
]);

/**
 * A request reached its final status in the miniport (MiniportOidRequest's return, or
 * NdisMOidRequestComplete): the NdisOidComplete statuses, and for a successful
 * OID_PNP_SET_POWER to a low-power state what the miniport must have done by then.
 */
export function checkOidFinalStatus(
  b: MiniportBlock,
  request: NDIS_OID_REQUEST,
  status: number,
  ddi: string,
): void {
  const oid = request.DATA.Oid;
  const allowed = restricted.get(oid);
  if (allowed === undefined) return;
  const n = b.ndis;
  if (status !== NDIS_STATUS_PENDING && !allowed.includes(status)) {
    n.verifier.report(
      'NdisOidComplete',
      ddi,
      b.name,
      `${oidName(oid)} completed with ${statusText(status)}: it may only complete with ${allowed.map(statusText).join(', ')} (Driver Verifier's NdisOidComplete rule)`,
      ruleParams(`${oidName(oid)} completed with a status it may not have`, b),
    );
  }
  if (oid !== OID_PNP_SET_POWER || status !== NDIS_STATUS_SUCCESS) return;
  if (request.RequestType !== NdisRequestSetInformation) return;
  const state = request.DATA.SET_INFORMATION.InformationBuffer;
  if (typeof state !== 'number' || state === NdisDeviceStateD0) return;
  const name = NDIS_DEVICE_POWER_STATE_NAMES[state] ?? String(state);
  if (b.sendsOutstanding > 0) {
    n.verifier.report(
      'NdisSim_SetPowerSendsPending',
      ddi,
      b.name,
      `OID_PNP_SET_POWER(${name}) completed with ${b.sendsOutstanding} send NBL(s) still in the miniport: it completes every pending send (NDIS_STATUS_LOW_POWER_STATE) before it completes the request (OID_PNP_SET_POWER page)`,
    );
  }
  if (state === NdisDeviceStateD3) {
    const set = b.timers.filter((t) => !t.freed && t.k.queued).length;
    if (set > 0)
      n.verifier.report(
        'NdisSim_SetPowerTimerSet',
        ddi,
        b.name,
        `OID_PNP_SET_POWER(${name}) completed with ${set} NDIS timer(s) of the adapter still set: the miniport cancels its NDIS timers before the adapter goes to D3 (OID_PNP_SET_POWER page)`,
      );
  }
}

/**
 * A register or I/O port DDI reached the adapter's hardware while the device is out of
 * D0 or surprise-removed (the callers test both first). Out of D0 (the bus driver took
 * it to a low-power state) that is NdisSim_HardwareAccessInLowPower, once per low-power
 * stay: the NIC does not decode the access (it reads all ones and drops writes). An
 * adapter already halted is left to the halt's own rules. Once the miniport heard of a
 * surprise removal the hardware is gone, whatever power state the bus last gave it: the
 * R5.7 warning below, not the low-power rule, in D0 and in D3 alike.
 */
export function lowPowerAccess(b: MiniportBlock, ddi: string): void {
  if (b.removalNotified !== null && !b.deviceFailed) {
    removedAccess(b, b.removalNotified, ddi);
    return;
  }
  const dev = b.dev;
  if (dev.powerState === 'D0' || dev.lowPowerAccessReported || b.handleDead) return;
  dev.lowPowerAccessReported = true;
  b.ndis.verifier.report(
    'NdisSim_HardwareAccessInLowPower',
    ddi,
    b.name,
    `${ddi} while the bus driver has the device in ${dev.powerState}: a miniport cannot access its network adapter once the bus driver took it out of D0 (OID_PNP_SET_POWER page); the NIC ignores the access${b.ss !== null && b.ss.phase === 'resuming' ? ". The idle notification is complete, but NdisMIdleNotificationComplete powers nothing up: NDIS's worker sends the bus the D0 IRP_MN_SET_POWER afterwards, then OID_PNP_SET_POWER(D0), from which on the miniport may touch the NIC again (canceling-the-ndis-selective-suspend-idle-notification page)" : ''}`,
  );
}

/**
 * R5.7: after its SurpriseRemoved notification the driver notes that the hardware is
 * gone and stops touching it; the MiniportHaltEx page says of NdisHaltDeviceSurpriseRemoved
 * that the hardware is not present. The access reaches nothing (a read gives all ones, a
 * write is lost) and Windows has no check for it, so a warning, once per removal. A
 * device-failed teardown (R5.8, NdisMRemoveMiniport) is not meant: its hardware may still
 * be there, and the low-power rule judges it.
 */
function removedAccess(
  b: MiniportBlock,
  late: NonNullable<MiniportBlock['removalNotified']>,
  ddi: string,
): void {
  if (late.touched || b.handleDead) return;
  late.touched = true;
  const where =
    b.inHalt && b.haltAction === NdisHaltDeviceSurpriseRemoved
      ? ' in MiniportHaltEx(NdisHaltDeviceSurpriseRemoved), whose page says the hardware is not present'
      : '';
  b.ndis.verifier.warn(
    'R5.7',
    ddi,
    b.name,
    `${ddi} after the SurpriseRemoved notification${where}: the NIC was surprise-removed, so the access reaches no hardware (a read gives all ones, a write is lost${b.dev.powerState === 'D0' ? '' : `; the bus last had the device in ${b.dev.powerState}`}). Once told of the surprise removal the driver stops touching the NIC's registers and ports`,
  );
}
