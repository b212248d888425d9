// Adapter DDIs: attributes, completions, status indications, the error log,
// configuration, register access and NdisMRemoveMiniport. Each one checks
// (handle, IRQL, state) and then delegates to the block's procedures.

import { NotModelledError } from '../../errors.ts';
import { notRunning } from '../../kernel/kernel.ts';
import type { PciConfigSpace } from '../../pnp/resources.ts';
import { fmtTime } from '../../report/format.ts';
import { statusText } from '../../verifier/bugcheck.ts';
import { Binding, OidSourceHandle } from '../binding.ts';
import { MiniportBlock, removeFrom } from '../block.ts';
import { MiniportDriverBlock } from '../driver.ts';
import { FilterDriverBlock, FilterModule } from '../filter.ts';
import { type DdiIrql, ddiIrql } from '../generated/irql.ts';
import {
  MediaConnectStateUnknown,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_1,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1,
  NDIS_OBJECT_TYPE_BIND_PARAMETERS,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_OBJECT_TYPE_HD_SPLIT_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NDK_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_STATUS_INDICATION,
  NDIS_SIZEOF_LINK_STATE_REVISION_1,
  NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1,
  NDIS_STATUS_BAD_VERSION,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_MEDIA_CONNECT,
  NDIS_STATUS_MEDIA_DISCONNECT,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PM_WAKE_REASON,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_RESOURCE_CONFLICT,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisEnvironmentWindowsNt,
  NdisMedium802_3,
  NdisParameterBinary,
  NdisParameterHexInteger,
  NdisParameterInteger,
  NdisParameterMultiString,
  NdisParameterString,
  NdisProcessorAmd64,
  NdisRequestSetInformation,
  NdisWakeReasonMediaConnect,
  NdisWakeReasonMediaDisconnect,
  NdisWakeReasonPacket,
  OID_PNP_SET_POWER,
  PCI_WHICHSPACE_CONFIG,
} from '../generated/status.ts';
import * as life from '../lifecycle.ts';
import { describe } from '../ndis.ts';
import { IoRegister, NDIS_IO_SPACE, NdisConfiguration } from '../objects.ts';
import { pmCapabilitiesProblems, wakePacketLimit } from '../pm-caps.ts';
import { cmResourcesOf } from '../pnp-handlers.ts';
import { portProblem } from '../ports.ts';
import { lowPowerAccess } from '../power-rules.ts';
import { ProtocolDriverBlock } from '../protocol-driver.ts';
import { completeReset, indicateToProtocols, requestReset, startHangTimer } from '../reset.ts';
import type {
  CM_RESOURCE_LIST,
  DEVICE_OBJECT,
  NDIS_HANDLE,
  NDIS_LINK_STATE,
  NDIS_MINIPORT_ADAPTER_ATTRIBUTES,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES,
  NDIS_STATUS,
  NDIS_STATUS_INDICATION,
} from '../types.ts';
import {
  adapterHandle,
  claimsHardware,
  currentNdis,
  lockHeldUpCall,
  logResourceConflict,
  ownerHandle,
  stale,
  staleModule,
} from './common.ts';
import { newestMinorVersion } from './driver.ts';
import { registerAccessed } from './kernel.ts';

const irql = {
  NdisMSetMiniportAttributes: ddiIrql.NdisMSetMiniportAttributes!,
  NdisMPauseComplete: ddiIrql.NdisMPauseComplete!,
  NdisMRestartComplete: ddiIrql.NdisMRestartComplete!,
  NdisMResetComplete: ddiIrql.NdisMResetComplete!,
  NdisMRemoveMiniport: ddiIrql.NdisMRemoveMiniport!,
  NdisMResetMiniport: ddiIrql.NdisMResetMiniport!,
  NdisMIndicateStatusEx: ddiIrql.NdisMIndicateStatusEx!,
  NdisWriteErrorLogEntry: ddiIrql.NdisWriteErrorLogEntry!,
  NdisOpenConfigurationEx: ddiIrql.NdisOpenConfigurationEx!,
  NdisReadConfiguration: ddiIrql.NdisReadConfiguration!,
  NdisReadNetworkAddress: ddiIrql.NdisReadNetworkAddress!,
  NdisWriteConfiguration: ddiIrql.NdisWriteConfiguration!,
  NdisCloseConfiguration: ddiIrql.NdisCloseConfiguration!,
  NdisMMapIoSpace: ddiIrql.NdisMMapIoSpace!,
  NdisMUnmapIoSpace: ddiIrql.NdisMUnmapIoSpace!,
  NdisReadRegisterUlong: ddiIrql.NdisReadRegisterUlong!,
  NdisWriteRegisterUlong: ddiIrql.NdisWriteRegisterUlong!,
  NdisReadRegisterUchar: ddiIrql.NdisReadRegisterUchar!,
  NdisReadRegisterUshort: ddiIrql.NdisReadRegisterUshort!,
  NdisWriteRegisterUchar: ddiIrql.NdisWriteRegisterUchar!,
  NdisWriteRegisterUshort: ddiIrql.NdisWriteRegisterUshort!,
  NdisMGetDeviceProperty: ddiIrql.NdisMGetDeviceProperty!,
  NdisMGetBusData: ddiIrql.NdisMGetBusData!,
  NdisMSetBusData: ddiIrql.NdisMSetBusData!,
};

// ----------------------------------------------------------- attributes

/**
 * NDIS_STATUS NdisMSetMiniportAttributes(NdisMiniportAdapterHandle, MiniportAttributes).
 * PASSIVE, inside MiniportInitializeEx: registration attributes first, then general (R2.4).
 */
export function NdisMSetMiniportAttributes(
  NdisMiniportAdapterHandle: NDIS_HANDLE,
  MiniportAttributes: NDIS_MINIPORT_ADAPTER_ATTRIBUTES,
): NDIS_STATUS {
  const ddi = 'NdisMSetMiniportAttributes';
  const b = adapterHandle(NdisMiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMSetMiniportAttributes, ddi, b.name);
  if (stale(b, ddi)) return NDIS_STATUS_FAILURE;
  const status = setAttributes(b, MiniportAttributes);
  if (n.trace.on) n.traceDdi(ddi, b, { Type: MiniportAttributes.Header.Type, result: status });
  return status;
}

/**
 * R2.4: general attributes that leave at 0 a member an 802.3 adapter cannot do without,
 * as a driver that sets only MediaType does. Setting them is mandatory (the structure's
 * page), each member is what NDIS answers for its OID, and MacAddressLength is the
 * medium's (6 bytes for 802.3). NDIS does not check them, so this is a warning, once per
 * adapter: MtuSize 0 leaves the protocols that bind no MTU (tcpip sends its frames
 * unclipped), SupportedPacketFilters 0 says the adapter filters nothing, and the link
 * speeds 0 that it has no link. MtuSize is checked for any medium.
 */
function generalAttributesWarning(b: MiniportBlock, g: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES): void {
  const missing: string[] = [];
  if ((g.MtuSize ?? 0) === 0)
    missing.push(
      'MtuSize 0 (OID_GEN_MAXIMUM_FRAME_SIZE; 1500 for Ethernet: the protocols that bind have no MTU to keep to)',
    );
  if (g.MediaType === NdisMedium802_3) {
    if ((g.MacAddressLength ?? 0) !== 6)
      missing.push(
        `MacAddressLength ${g.MacAddressLength ?? 0} (an 802.3 address is 6 bytes; with PermanentMacAddress and CurrentMacAddress)`,
      );
    if ((g.SupportedPacketFilters ?? 0) === 0)
      missing.push(
        'SupportedPacketFilters 0 (OID_GEN_SUPPORTED_PACKET_FILTERS: the NDIS_PACKET_TYPE_* the adapter filters on)',
      );
    const speeds = (['MaxXmitLinkSpeed', 'MaxRcvLinkSpeed'] as const).filter((m) => (g[m] ?? 0) === 0);
    if (speeds.length > 0)
      missing.push(`${speeds.join(' and ')} 0 (OID_GEN_MAX_LINK_SPEED, bits per second)`);
  }
  pmCapabilitiesWarning(b, g);
  if (missing.length === 0) return;
  const medium = g.MediaType === NdisMedium802_3 ? 'an 802.3 adapter' : 'an adapter';
  b.ndis.verifier.warn(
    'R2.4',
    'NdisMSetMiniportAttributes',
    b.name,
    `${b.name}'s NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES leave members ${medium} must set: ${missing.join('; ')}. NDIS does not check them and answers their OIDs from them`,
  );
}

/**
 * R2.4: an NDIS_PM_CAPABILITIES (PowerManagementCapabilitiesEx) that contradicts itself or
 * its page (pm-caps.ts): a Header.Size that is not its revision's, a wake type supported
 * with no state to wake from, wake packets with no room to save one. NDIS does not check
 * it; it enables no wake type the minimum wake states rule out for D3. A warning, once
 * per adapter.
 */
function pmCapabilitiesWarning(b: MiniportBlock, g: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES): void {
  const caps = g.PowerManagementCapabilitiesEx;
  if (caps == null) return;
  const problems = pmCapabilitiesProblems(caps, g.MtuSize ?? 0);
  if (problems.length === 0) return;
  b.ndis.verifier.warn(
    'R2.4',
    'NdisMSetMiniportAttributes',
    b.name,
    `${b.name}'s NDIS_PM_CAPABILITIES contradicts itself: ${problems.join('; ')} (ns-ntddndis-_ndis_pm_capabilities). NDIS does not check it, and enables no wake type whose minimum wake state rules out D3`,
  );
}

function setAttributes(b: MiniportBlock, a: NDIS_MINIPORT_ADAPTER_ATTRIBUTES): number {
  const n = b.ndis;
  const ddi = 'NdisMSetMiniportAttributes';
  if (a.Header.Type === NDIS_OBJECT_TYPE_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES)
    return setAddDeviceAttributes(b, a);
  if (!b.inInitialize) {
    n.verifier.report('NdisSim_AttributesOrder', ddi, b.name, `${ddi} outside MiniportInitializeEx (R2.4)`);
    return NDIS_STATUS_FAILURE;
  }
  switch (a.Header.Type) {
    case NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES: {
      const r = a as NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES;
      if (
        r.Header.Revision !== NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_1 &&
        r.Header.Revision !== NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2
      ) {
        return NDIS_STATUS_BAD_VERSION;
      }
      if (b.registration !== null) {
        n.verifier.report('NdisSim_AttributesOrder', ddi, b.name, 'registration attributes set twice (R2.4)');
        return NDIS_STATUS_FAILURE;
      }
      b.registration = { ...r };
      startHangTimer(n, b);
      return NDIS_STATUS_SUCCESS;
    }
    case NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES: {
      const g = a as NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES;
      if (
        g.Header.Revision !== NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_1 &&
        g.Header.Revision !== NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2
      ) {
        return NDIS_STATUS_BAD_VERSION;
      }
      if (b.registration === null) {
        n.verifier.report(
          'NdisSim_AttributesOrder',
          ddi,
          b.name,
          'general attributes before registration attributes (R2.4)',
        );
        return NDIS_STATUS_FAILURE;
      }
      b.general = { ...g };
      generalAttributesWarning(b, g);
      return NDIS_STATUS_SUCCESS;
    }
  }
  const other = otherAttributes.get(a.Header.Type);
  if (other !== undefined) {
    // R2.4: any other kind comes after the general attributes.
    if (b.general === null) {
      n.verifier.report(
        'NdisSim_AttributesOrder',
        ddi,
        b.name,
        `${other} attributes before general attributes (R2.4)`,
      );
      return NDIS_STATUS_FAILURE;
    }
    // Kept, as NDIS keeps them; what NDIS would do with them is outside the model.
    const note = `${b.name}: ${other} attributes accepted (NdisMSetMiniportAttributes), but what NDIS does with them is not modelled`;
    if (!n.modelNotes.includes(note)) n.modelNotes.push(note);
    return NDIS_STATUS_SUCCESS;
  }
  throw new NotModelledError(
    ddi,
    `attribute object type 0x${a.Header.Type.toString(16)} (registration, general, offload, hardware-assist, NDK, native 802.11 and header-data split attributes are known)`,
  );
}

/**
 * NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES: only inside MiniportAddDevice (its
 * page); NDIS keeps MiniportAddDeviceContext for MiniportStartDevice,
 * MiniportRemoveDevice and NDIS_MINIPORT_INIT_PARAMETERS. A second call replaces it.
 */
function setAddDeviceAttributes(b: MiniportBlock, a: NDIS_MINIPORT_ADAPTER_ATTRIBUTES): number {
  const ddi = 'NdisMSetMiniportAttributes';
  if (!b.inAddDevice) {
    b.ndis.verifier.report(
      'NdisSim_AttributesOrder',
      ddi,
      b.name,
      `${ddi}: add-device registration attributes outside MiniportAddDevice (R2.4)`,
    );
    return NDIS_STATUS_FAILURE;
  }
  const r = a as NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES;
  if (r.Header.Revision !== NDIS_MINIPORT_ADD_DEVICE_REGISTRATION_ATTRIBUTES_REVISION_1) {
    return NDIS_STATUS_BAD_VERSION;
  }
  b.addDeviceContext = r.MiniportAddDeviceContext;
  return NDIS_STATUS_SUCCESS;
}

/** Attribute kinds NDIS takes after the general ones (R2.4) whose use the model leaves out. */
const otherAttributes: ReadonlyMap<number, string> = new Map([
  [NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES, 'offload'],
  [NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_HARDWARE_ASSIST_ATTRIBUTES, 'hardware-assist (VMQ, SR-IOV, RSS)'],
  [NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NDK_ATTRIBUTES, 'NDK'],
  [NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_NATIVE_802_11_ATTRIBUTES, 'native 802.11'],
  [NDIS_OBJECT_TYPE_HD_SPLIT_ATTRIBUTES, 'header-data split'],
]);

// ----------------------------------------------------------- completions

/** VOID NdisMPauseComplete(MiniportAdapterHandle). <= DISPATCH; only for a pended pause (R3.5, R1.10). */
export function NdisMPauseComplete(MiniportAdapterHandle: NDIS_HANDLE): void {
  const ddi = 'NdisMPauseComplete';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMPauseComplete, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on) n.traceDdi(ddi, b, {});
  const p = b.pause;
  if (p === null || p.completed || b.state !== 'Pausing') {
    n.verifier.report(
      'NdisSim_PauseCompleteUnexpected',
      ddi,
      b.name,
      `NdisMPauseComplete with no pause pending (adapter ${b.state}) (R1.10)`,
      ['PAUSE_COMPLETE', `${b.name} miniport block`, 0],
    );
    return;
  }
  p.completed = true;
  if (p.returned) {
    life.finishPause(n, b);
    return;
  }
  // Inside MiniportPause's own call, or from elsewhere while it sleeps or waits: the
  // report of a pause completed twice names the second (R3.10).
  const fn = n.runningFunction();
  if (fn !== 'MiniportPause')
    p.completedBy = `${fn ?? b.driver.name} on CPU ${n.kernel.ctx.cpu} at ${fmtTime(n.now)}`;
}

/** VOID NdisMRestartComplete(MiniportAdapterHandle, Status). <= DISPATCH; only for a pended restart. */
export function NdisMRestartComplete(MiniportAdapterHandle: NDIS_HANDLE, Status: NDIS_STATUS): void {
  const ddi = 'NdisMRestartComplete';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMRestartComplete, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on) n.traceDdi(ddi, b, { Status });
  if (b.restart === null || b.state !== 'Restarting') {
    n.verifier.report(
      'NdisSim_RestartCompleteUnexpected',
      ddi,
      b.name,
      `NdisMRestartComplete with no restart pending (adapter ${b.state}) (R1.10)`,
      ['RESTART_COMPLETE', `${b.name} miniport block`, 0],
    );
    return;
  }
  // PENDING is no completion status: NdisSim_RestartReturn, then treated as a failure (R3.9).
  life.finishRestart(n, b, Status, ddi);
}

/** VOID NdisMResetComplete(MiniportAdapterHandle, Status, AddressingReset). <= DISPATCH; once per pended reset (R4.15). */
export function NdisMResetComplete(
  MiniportAdapterHandle: NDIS_HANDLE,
  Status: NDIS_STATUS,
  AddressingReset: boolean,
): void {
  const ddi = 'NdisMResetComplete';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMResetComplete, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on) n.traceDdi(ddi, b, { Status, AddressingReset });
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, b.name, ddi, 'R4.15, R8.11');
  if (b.reset === null) {
    // R4.15: NDIS's 0x7C/0x0F either way; the message says whether the pending reset
    // was already completed (a double completion) or none was ever started.
    // A reset is pending from MiniportResetEx to its completion, so with none pending a
    // completion after one that was completed is a second one.
    const done = b.lastResetCompletion;
    const what =
      done === null
        ? 'NdisMResetComplete with no reset pending: NDIS started none on this adapter (R4.15)'
        : `NdisMResetComplete for a reset already completed by ${done.via} at ${fmtTime(done.timeNs)}: a double completion, and no reset is pending (R4.15, R3.10)`;
    n.verifier.report('NdisSim_ResetCompleteUnexpected', ddi, b.name, what, [
      `${b.name} miniport block`,
      Status,
      AddressingReset ? 1 : 0,
    ]);
    return;
  }
  completeReset(n, b, Status, AddressingReset, ddi);
}

// ------------------------------------------------- NdisMRemoveMiniport

/**
 * NDIS_STATUS NdisMRemoveMiniport(MiniportHandle). <= DISPATCH. Marks the device
 * failed, writes the live dump (reason 71), asks PnP to re-query the device, and
 * returns NDIS_STATUS_SUCCESS ("recorded"); the teardown follows asynchronously
 * (R5.9–R5.20).
 */
export function NdisMRemoveMiniport(MiniportHandle: NDIS_HANDLE): NDIS_STATUS {
  const ddi = 'NdisMRemoveMiniport';
  // A call that never reaches the flag (R5.11) is counted as refused, so the summary
  // does not say "0 calls" beside a bug check about one: a handle NDIS did not issue
  // (counted on the adapter whose callback made it), a wrong IRQL or an intermediate
  // driver's call the verifier stops, a handle dead after its halt (R5.20).
  if (!(MiniportHandle instanceof MiniportBlock)) {
    const running = currentNdis(ddi).runningAdapter();
    if (running !== null) running.removeCallsRefused++;
  }
  const b = adapterHandle(MiniportHandle, ddi);
  const n = b.ndis;
  // After the last run: a usage error, not a refused call counted on a finished world.
  if (!n.kernel.running) notRunning(ddi);
  let reached = false;
  try {
    n.verifier.irql(irql.NdisMRemoveMiniport, ddi, b.name);
    if (stale(b, ddi)) return NDIS_STATUS_SUCCESS;
    const t = n.trace.on ? n.traceDdi(ddi, b, {}) : null;
    // R5.23: an intermediate driver gives up its virtual miniport another way.
    if (b.driver.intermediate)
      n.verifier.report(
        'NdisSim_IMRemoveMiniport',
        ddi,
        b.name,
        `${b.driver.name} called ${ddi} for its virtual miniport ${b.name}: an intermediate driver tears a virtual miniport down with NdisIMDeInitializeDeviceInstance (halt action NdisHaltDeviceInstanceDeInitialized), not NdisMRemoveMiniport (R5.23, nc-ndis-miniport_halt)`,
      );
    reached = true;
    const status = life.removeMiniport(n, b);
    if (t !== null) t.result = describe(status);
    return status;
  } finally {
    if (!reached) b.removeCallsRefused++;
  }
}

/**
 * VOID NdisMResetMiniport(MiniportAdapterHandle). <= DISPATCH (NDIS 6.30). NDIS queues
 * a work item that calls MiniportResetEx (R4.6).
 */
export function NdisMResetMiniport(MiniportAdapterHandle: NDIS_HANDLE): void {
  const ddi = 'NdisMResetMiniport';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMResetMiniport, ddi, b.name);
  if (stale(b, ddi)) return;
  if (n.trace.on) n.traceDdi(ddi, b, {});
  requestReset(n, b);
}

// ---------------------------------------------------- status indications

const connectStates = [
  'MediaConnectStateUnknown',
  'MediaConnectStateConnected',
  'MediaConnectStateDisconnected',
];

/** NDIS_PM_WAKE_REASON_TYPE's media-independent values, for the trace. */
const wakeReasons: Record<number, string> = {
  0: 'NdisWakeReasonUnspecified',
  1: 'NdisWakeReasonPacket',
  2: 'NdisWakeReasonMediaDisconnect',
  3: 'NdisWakeReasonMediaConnect',
};

/**
 * What the trace shows of an indication: its StatusCode, and for a link state what the
 * link is (connected or not, and its transmit speed), the news it carries.
 */
function statusTraceData(s: NDIS_STATUS_INDICATION): Record<string, unknown> {
  // A StatusCode the driver left out (`{}`) is "missing", as the violation's message
  // says (R6.16); the generic rendering of an absent value, NULL, would read as a
  // pointer, and NDIS reads a ULONG (0 in a zeroed struct, bug check parameter 2).
  const data: Record<string, unknown> = { StatusCode: s.StatusCode === undefined ? 'missing' : s.StatusCode };
  const buf = s.StatusBuffer as { MediaConnectState?: unknown; XmitLinkSpeed?: unknown } | null;
  if (s.StatusCode === NDIS_STATUS_LINK_STATE && typeof buf === 'object' && buf !== null) {
    const m = buf.MediaConnectState;
    data.MediaConnectState = typeof m === 'number' ? (connectStates[m] ?? m) : m;
    if (typeof buf.XmitLinkSpeed === 'number')
      data.XmitLinkSpeed = buf.XmitLinkSpeed >= 2 ** 64 ? 'NDIS_LINK_SPEED_UNKNOWN' : buf.XmitLinkSpeed;
  }
  if (s.StatusCode === NDIS_STATUS_PM_WAKE_REASON && typeof buf === 'object' && buf !== null) {
    const r = (buf as { WakeReason?: unknown }).WakeReason;
    data.WakeReason = typeof r === 'number' ? (wakeReasons[r] ?? r) : r;
    // A wake packet's pattern (the model's stand-in for the NDIS_PM_WAKE_PACKET at InfoBufferOffset).
    const id = (buf as { WakePacket?: { PatternId?: unknown } }).WakePacket?.PatternId;
    if (typeof id === 'number') data.PatternId = id;
  }
  return data;
}

/**
 * The NDIS_PM_WAKE_REASON page: the information buffer (an NDIS_PM_WAKE_PACKET and the
 * wake packet) is for NdisWakeReasonPacket only, any other reason has InfoBufferOffset
 * and InfoBufferSize 0; the buffer starts on a 64-bit boundary and lies inside the
 * indication's StatusBuffer. Null when it does.
 */
function wakeReasonProblem(s: NDIS_STATUS_INDICATION): string | null {
  const r = s.StatusBuffer as { WakeReason?: unknown; InfoBufferOffset?: unknown; InfoBufferSize?: unknown };
  const at = typeof r.InfoBufferOffset === 'number' ? r.InfoBufferOffset : 0;
  const size = typeof r.InfoBufferSize === 'number' ? r.InfoBufferSize : 0;
  if (r.WakeReason !== NdisWakeReasonPacket) {
    if (at === 0 && size === 0) return null;
    const reason =
      typeof r.WakeReason === 'number' ? (wakeReasons[r.WakeReason] ?? r.WakeReason) : r.WakeReason;
    return `WakeReason ${String(reason)} carries no information buffer: InfoBufferOffset and InfoBufferSize must be 0 (only NdisWakeReasonPacket has one); got ${at} and ${size}`;
  }
  if (size === 0) return null;
  if (at % 8 !== 0 || at < NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1)
    return `the wake packet's information buffer must follow the NDIS_PM_WAKE_REASON on a 64-bit boundary; got InfoBufferOffset ${at}`;
  if (at + size > s.StatusBufferSize)
    return `the information buffer (InfoBufferOffset ${at}, InfoBufferSize ${size}) runs past StatusBufferSize ${s.StatusBufferSize}`;
  return null;
}

/**
 * What an NDIS_STATUS_PM_WAKE_REASON says that its pages forbid, in words, or null
 * (NdisSim_WakeReasonContent, a violation):
 * - a wake packet from an adapter whose NDIS_PM_CAPABILITIES does not let it pass one
 *   (no NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED, reporting-wake-reason-status-indication-capabilities),
 *   or with a SavedPacketSize past MaxWoLPacketSaveBuffer (issuing-ndis-wake-reason-indications);
 * - a PatternId that names no WoL pattern of the adapter: it is the PatternId NDIS gave the
 *   OID_PM_ADD_WOL_PATTERN that matched, and NDIS fills PatternFriendlyName from it
 *   (ns-ntddndis-_ndis_pm_wake_packet). 0 names none (a magic packet NDIS enabled with
 *   OID_PM_PARAMETERS alone, docs/decisions.md); NDIS gives IDs from 1.
 */
function wakeReasonContentProblem(b: MiniportBlock, s: NDIS_STATUS_INDICATION): string | null {
  const r = s.StatusBuffer as { WakeReason?: unknown; InfoBufferSize?: unknown; WakePacket?: unknown };
  if (r.WakeReason !== NdisWakeReasonPacket) return null;
  const size = typeof r.InfoBufferSize === 'number' ? r.InfoBufferSize : 0;
  const wp =
    typeof r.WakePacket === 'object' && r.WakePacket !== null
      ? (r.WakePacket as Record<string, unknown>)
      : null;
  if (size === 0 && wp === null) return null;
  const limit = wakePacketLimit(b.general?.PowerManagementCapabilitiesEx);
  if (limit === null)
    return "it passes a wake packet, but the adapter's NDIS_PM_CAPABILITIES does not set NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED in a revision-2 structure: it reported it cannot save one (reporting-wake-reason-status-indication-capabilities)";
  const saved = wp !== null && typeof wp.SavedPacketSize === 'number' ? wp.SavedPacketSize : null;
  if (saved !== null && saved > limit)
    return `the wake packet's SavedPacketSize ${saved} is more than MaxWoLPacketSaveBuffer ${limit} of the adapter's NDIS_PM_CAPABILITIES (issuing-ndis-wake-reason-indications)`;
  const id = wp?.PatternId;
  if (typeof id === 'number' && id !== 0 && !b.wolPatterns.has(id))
    return `the wake packet's PatternId ${id} names no WoL pattern of the adapter (${b.wolPatterns.size === 0 ? 'none was added' : `it has ${[...b.wolPatterns.keys()].join(', ')}`}): it is the PatternId NDIS gave the OID_PM_ADD_WOL_PATTERN that matched, and NDIS takes PatternFriendlyName from that pattern (ns-ntddndis-_ndis_pm_wake_packet)`;
  return null;
}

/**
 * A wake reason the verifier knows to be wrong, in words, or null (a warning: NDIS cannot
 * tell): the device sent no wake-up signal since NDIS armed it for its low-power state (the
 * system woke for another reason, or selective suspend ended on activity), so there is no
 * wake-up event to report (issuing-ndis-wake-reason-indications: the indication follows the
 * adapter's wake-up event); or the SimNic's wake-up filter that fired says a packet woke it
 * and the reason is a media event, or the other way round.
 */
function wakeReasonCauseProblem(b: MiniportBlock, s: NDIS_STATUS_INDICATION): string | null {
  const reason = (s.StatusBuffer as { WakeReason?: unknown }).WakeReason;
  const name = typeof reason === 'number' ? (wakeReasons[reason] ?? String(reason)) : String(reason);
  if (b.wakeCause === null)
    return `WakeReason ${name}, but the device sent no wake-up signal since NDIS took it to low power: the system woke, or selective suspend ended, for another reason, and there is no wake-up event of the adapter to report`;
  const media = reason === NdisWakeReasonMediaConnect || reason === NdisWakeReasonMediaDisconnect;
  if (b.wakeCause === 'packet' && media)
    return `WakeReason ${name}, but a packet (a magic packet or a WoL pattern) woke the adapter: NdisWakeReasonPacket, with the wake packet`;
  if (b.wakeCause === 'link' && reason === NdisWakeReasonPacket)
    return `WakeReason ${name}, but a link change woke the adapter: NdisWakeReasonMediaConnect or NdisWakeReasonMediaDisconnect`;
  return null;
}

/** An OID_PNP_SET_POWER(D0) is in the miniport: given to MiniportOidRequest and not completed yet. */
function settingD0(b: MiniportBlock): boolean {
  const o = b.oid;
  if (o === null || (o.state !== 'in-miniport' && o.state !== 'pending')) return false;
  const r = o.request;
  return (
    r.RequestType === NdisRequestSetInformation &&
    r.DATA.Oid === OID_PNP_SET_POWER &&
    r.DATA.SET_INFORMATION.InformationBuffer === NdisDeviceStateD0
  );
}

/** VOID NdisMIndicateStatusEx(MiniportAdapterHandle, StatusIndication). <= DISPATCH (R6.16, R6.17). */
export function NdisMIndicateStatusEx(
  MiniportAdapterHandle: NDIS_HANDLE,
  StatusIndication: NDIS_STATUS_INDICATION,
): void {
  const ddi = 'NdisMIndicateStatusEx';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMIndicateStatusEx, ddi, b.name);
  const code = StatusIndication.StatusCode;
  if (n.trace.on) n.traceDdi(ddi, b, statusTraceData(StatusIndication));
  if (b.handleDead) {
    // SDV NdisMIndicateStatusEx: no indication once MiniportHaltEx returned (R2.8).
    n.verifier.report(
      'NdisMIndicateStatusEx',
      ddi,
      b.name,
      'status indicated after MiniportHaltEx returned (R2.8)',
    );
    return;
  }
  if (b.registration === null) {
    n.verifier.report(
      'NdisSim_StatusBeforeRegistration',
      ddi,
      b.name,
      'status indicated before the registration attributes were set (R2.7, R6.16)',
    );
    return;
  }
  if (code === NDIS_STATUS_RESET_START || code === NDIS_STATUS_RESET_END) {
    n.verifier.report(
      'NdisSim_StatusFromNdisOnly',
      ddi,
      b.name,
      'RESET_START and RESET_END are indicated by NDIS, never by the miniport (R4.13)',
    );
    return;
  }
  // 0x7C/0x20: an indication NDIS cannot read. Its header names its type, it comes from
  // the adapter's own handle (R6.16), and a link state carries an NDIS_LINK_STATE (R6.17).
  // A StatusCode that is no number (a driver's `{}`): NDIS reads the ULONG the struct
  // holds, 0 in a zeroed one, so the bug check's parameter 2 is a number either way (R6.16).
  const codeNumber = typeof code === 'number' ? code : 0;
  const headerType = StatusIndication.Header?.Type;
  const bad =
    headerType !== NDIS_OBJECT_TYPE_STATUS_INDICATION
      ? `Header.Type is ${typeof headerType === 'number' ? `0x${headerType.toString(16)}` : 'missing'}, not NDIS_OBJECT_TYPE_STATUS_INDICATION`
      : typeof code !== 'number'
        ? `StatusCode is ${code === undefined ? 'missing' : `a ${code === null ? 'null' : typeof code} value`}, not an NDIS_STATUS (R6.16)`
        : StatusIndication.SourceHandle !== MiniportAdapterHandle
          ? 'SourceHandle is not the adapter handle NDIS gave MiniportInitializeEx (R6.16)'
          : code === NDIS_STATUS_LINK_STATE &&
              (StatusIndication.StatusBuffer == null ||
                StatusIndication.StatusBufferSize < NDIS_SIZEOF_LINK_STATE_REVISION_1)
            ? `NDIS_STATUS_LINK_STATE needs an NDIS_LINK_STATE, StatusBufferSize ${NDIS_SIZEOF_LINK_STATE_REVISION_1}; got StatusBufferSize ${StatusIndication.StatusBufferSize}${StatusIndication.StatusBuffer == null ? ' and no buffer' : ''} (R6.17)`
            : code === NDIS_STATUS_PM_WAKE_REASON &&
                (StatusIndication.StatusBuffer == null ||
                  StatusIndication.StatusBufferSize < NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1)
              ? `NDIS_STATUS_PM_WAKE_REASON needs an NDIS_PM_WAKE_REASON, StatusBufferSize ${NDIS_SIZEOF_PM_WAKE_REASON_REVISION_1} at least; got StatusBufferSize ${StatusIndication.StatusBufferSize}${StatusIndication.StatusBuffer == null ? ' and no buffer' : ''}`
              : code === NDIS_STATUS_PM_WAKE_REASON
                ? wakeReasonProblem(StatusIndication)
                : null;
  if (bad !== null) {
    const what = typeof code === 'number' ? statusText(code) : 'an indication without a StatusCode';
    n.verifier.report('NdisSim_StatusIndicationInvalid', ddi, b.name, `${what}: ${bad}`, [
      codeNumber,
      `${b.name} miniport block`,
      'StatusBuffer',
    ]);
    return;
  }
  // Activating / Deactivating an NDIS Port: status only on the default port or on a
  // port the miniport activated (ports.ts). NDIS passes it on.
  if (StatusIndication.PortNumber !== 0) {
    const why = portProblem(b, StatusIndication.PortNumber);
    if (why !== null)
      n.verifier.report('NdisSim_PortState', ddi, b.name, `${statusText(code)} indicated: ${why}`);
  }
  // The wake-reason pages: issued while the miniport handles OID_PNP_SET_POWER(D0).
  if (code === NDIS_STATUS_PM_WAKE_REASON && !settingD0(b))
    n.verifier.report(
      'NdisSim_WakeReasonOutsideSetPower',
      ddi,
      b.name,
      'NDIS_STATUS_PM_WAKE_REASON indicated while no OID_PNP_SET_POWER(D0) is in the miniport: it is issued while the miniport handles that request, before it completes it (issuing-ndis-wake-reason-indications); NDIS passes it on',
    );
  if (code === NDIS_STATUS_PM_WAKE_REASON) {
    const wrong = wakeReasonContentProblem(b, StatusIndication);
    if (wrong !== null)
      n.verifier.report(
        'NdisSim_WakeReasonContent',
        ddi,
        b.name,
        `NDIS_STATUS_PM_WAKE_REASON: ${wrong}; NDIS passes it on`,
      );
    // Judged inside OID_PNP_SET_POWER(D0) only: outside it the rule above speaks.
    const cause = settingD0(b) ? wakeReasonCauseProblem(b, StatusIndication) : null;
    if (cause !== null)
      n.verifier.warn('NdisSim_WakeReasonContent', ddi, b.name, `NDIS_STATUS_PM_WAKE_REASON: ${cause}`);
  }
  // The NDIS 5 connect codes: an NDIS 6 miniport indicates NDIS_STATUS_LINK_STATE
  // (the OID_GEN_MEDIA_CONNECT_STATUS page); NDIS passes them on.
  if (code === NDIS_STATUS_MEDIA_CONNECT || code === NDIS_STATUS_MEDIA_DISCONNECT)
    n.verifier.warn(
      'R6.17',
      ddi,
      b.name,
      `${statusText(code)} is how NDIS 5 miniports report the link; an NDIS 6 miniport indicates NDIS_STATUS_LINK_STATE`,
    );
  // R6.16: a DestinationHandle (a request's RequestHandle) sends the indication to the
  // request's source only, and then the RequestId must name the request.
  const dest = StatusIndication.DestinationHandle;
  let to: Binding | FilterModule | null | undefined;
  if (dest !== null && dest !== undefined) {
    const ours =
      dest instanceof OidSourceHandle &&
      (dest.module !== null
        ? dest.module.block === b
        : dest.binding === null
          ? dest === b.ndisRequestHandle
          : dest.binding.block === b);
    if (!ours || StatusIndication.RequestId === null || StatusIndication.RequestId === undefined) {
      n.verifier.fatal(
        'NdisSim_BadParameter',
        ddi,
        b.name,
        ours
          ? 'a status indication with a DestinationHandle needs the RequestId of the request it answers (R6.16)'
          : 'DestinationHandle is not the RequestHandle of an OID request to this adapter (R6.16)',
      );
      return;
    }
    // A filter module's request (filter-oid.ts): the answer goes to its FilterStatus.
    to = (dest as OidSourceHandle).module ?? (dest as OidSourceHandle).binding;
  }
  if (code === NDIS_STATUS_LINK_STATE) {
    const ls = StatusIndication.StatusBuffer as NDIS_LINK_STATE | null;
    b.mediaConnectState = ls?.MediaConnectState ?? MediaConnectStateUnknown;
  }
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, b.name, ddi, 'R8.11');
  indicateToProtocols(n, b, code, StatusIndication.StatusBuffer, StatusIndication, to);
}

// -------------------------------------------------------- device objects

/** A DEVICE_OBJECT handle: the devnode's PDO, or the FDO NDIS made for the adapter. */
class DeviceObject implements DEVICE_OBJECT {
  readonly __ndisHandle = 'DEVICE_OBJECT';
  /** The bus driver's (PDO) or NDIS's (FDO): a miniport driver reads none of its bits. */
  Flags = 0;
  constructor(
    /** For traces and debugging: which object of which device. */
    readonly name: string,
    /** The PDO is the bus driver's; the FDO NDIS makes with the miniport's DRIVER_OBJECT. */
    readonly role: 'PDO' | 'FDO',
  ) {}
}

/**
 * VOID NdisMGetDeviceProperty(MiniportAdapterHandle, *PhysicalDeviceObject,
 * *FunctionalDeviceObject, *NextDeviceObject, *AllocatedResources,
 * *AllocatedResourcesTranslated). PASSIVE. The device objects are opaque handles; the
 * next object below NDIS's FDO is the PDO (the model has no lower filter). The
 * resource lists are CM_RESOURCE_LISTs with one PCI bus descriptor, null for a device
 * without hardware; the HAL's translation leaves the model's addresses as they are
 * (message interrupts come as `u.MessageInterrupt.Raw`, then `.Translated`).
 */
export function NdisMGetDeviceProperty(MiniportAdapterHandle: NDIS_HANDLE): {
  PhysicalDeviceObject: DEVICE_OBJECT;
  FunctionalDeviceObject: DEVICE_OBJECT;
  NextDeviceObject: DEVICE_OBJECT;
  AllocatedResources: CM_RESOURCE_LIST | null;
  AllocatedResourcesTranslated: CM_RESOURCE_LIST | null;
} {
  const ddi = 'NdisMGetDeviceProperty';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMGetDeviceProperty, ddi, b.name);
  stale(b, ddi);
  // One PDO per devnode, kept across the FDOs that come and go on it; one FDO per adapter.
  let pdo = n.deviceObjects.get(b.dev);
  if (pdo === undefined) {
    pdo = new DeviceObject(`PDO of ${b.dev.instanceId}`, 'PDO');
    n.deviceObjects.set(b.dev, pdo);
  }
  let fdo = n.deviceObjects.get(b);
  if (fdo === undefined) {
    fdo = new DeviceObject(`FDO of ${b.name}`, 'FDO');
    n.deviceObjects.set(b, fdo);
  }
  if (n.trace.on) n.traceDdi(ddi, b, {});
  return {
    PhysicalDeviceObject: pdo,
    FunctionalDeviceObject: fdo,
    NextDeviceObject: pdo,
    AllocatedResources: cmResourcesOf(b),
    AllocatedResourcesTranslated: cmResourcesOf(b, true),
  };
}

// -------------------------------------------------------------- error log

/**
 * ERROR_LOG_MAXIMUM_SIZE (wdm.h: 240 bytes), the limit the NdisWriteErrorLogEntry page
 * puts on the record, less the IO_ERROR_LOG_PACKET fields before DumpData (40 bytes on
 * x64): the most ULONG error values one record holds.
 */
const maxErrorValues = (240 - 40) / 4;

/**
 * VOID NdisWriteErrorLogEntry(NdisAdapterHandle, ErrorCode, NumberOfErrorValues, ...).
 * <= DISPATCH. Writes to the world's system event log the first NumberOfErrorValues
 * values, as the C call reads that many ULONGs after the count. The record cannot
 * outgrow ERROR_LOG_MAXIMUM_SIZE (the page's system-enforced limit): past
 * `maxErrorValues` the rest are dropped. Fewer values than NumberOfErrorValues (a C
 * caller would have NDIS read past its arguments) logs those given. Either way the
 * trace says what the entry lost.
 */
export function NdisWriteErrorLogEntry(
  NdisAdapterHandle: NDIS_HANDLE,
  ErrorCode: number,
  NumberOfErrorValues: number,
  ...ErrorValues: number[]
): void {
  const ddi = 'NdisWriteErrorLogEntry';
  const b = adapterHandle(NdisAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisWriteErrorLogEntry, ddi, b.name);
  if (stale(b, ddi)) return;
  const count = Math.max(0, NumberOfErrorValues);
  const kept = Math.min(count, maxErrorValues);
  const values = ErrorValues.slice(0, kept);
  n.eventLog.push({ timeNs: n.now, source: b.driver.name, adapter: b.name, errorCode: ErrorCode, values });
  if (n.trace.on) {
    const k = n.kernel;
    const notes: Record<string, unknown> = {};
    if (count > maxErrorValues)
      notes.clipped = `${count - maxErrorValues} of ${count} values past ERROR_LOG_MAXIMUM_SIZE (${maxErrorValues} fit)`;
    if (ErrorValues.length < kept)
      notes.missing = `NumberOfErrorValues ${count} but ${ErrorValues.length} values given`;
    else if (ErrorValues.length > count)
      notes.ignored = `${ErrorValues.length - count} values after the ${count} NumberOfErrorValues counts`;
    n.trace.add(k.now, k.ctx.cpu, k.ctx.irql, k.ctx.who, 'eventlog', ddi, {
      adapter: b.name,
      ErrorCode: errorCodeName(ErrorCode),
      values,
      ...notes,
    });
  }
}

function errorCodeName(code: number): string {
  return ndisErrorCodeNames.get(code) ?? `0x${code.toString(16).toUpperCase()}`;
}

import { NDIS_ERROR_CODE_NAMES as ndisErrorCodeNames } from '../generated/status.ts';

// ---------------------------------------------------------- configuration
//
// The device's registry parameters (the scenario's `registry:`) are what the Parameters
// key holds on Windows: an integer is a REG_DWORD and a string a REG_SZ, which is what
// INF advanced properties write. Every DDI here runs at PASSIVE (rule
// Irql_Miscellaneous_Function, from the generated table); MiniportInitializeEx is
// where drivers call them (R2.3), and a handle left open is reported at the end of
// MiniportHaltEx or of a failing MiniportInitializeEx (R2.5, R2.10, SDV rule
// NdisOpenConfigurationEx).

export interface NDIS_CONFIGURATION_OBJECT {
  Header: { Type: number; Revision: number; Size?: number };
  NdisHandle: NDIS_HANDLE;
  Flags: number;
}

export interface NDIS_CONFIGURATION_PARAMETER {
  ParameterType: number;
  ParameterData: { IntegerData: number } | { StringData: string };
}

/**
 * Keywords NDIS answers itself, for a 64-bit (x64) Windows NT machine, before it
 * looks in the registry: a registry value of the same name does not hide them.
 * ProcessorType and NdisVersion are the predefined entries of the NdisReadConfiguration
 * page; NdisVersion packs the major version in the high 16 bits and the minor in the
 * low 16. Environment is not on the NDIS 6 page but on the older NDIS 5 ones, and
 * ndis.h still defines its NDIS_ENVIRONMENT_TYPE values for it.
 */
const predefinedKeywords: ReadonlyMap<string, number> = new Map([
  ['Environment', NdisEnvironmentWindowsNt],
  ['ProcessorType', NdisProcessorAmd64],
  // The "highest version supported by the system": the newest the model registers.
  ['NdisVersion', 6 * 0x10000 + newestMinorVersion],
]);

/**
 * NDIS_STATUS NdisOpenConfigurationEx(ConfigObject, *ConfigurationHandle). PASSIVE. The
 * model's registry holds a miniport adapter's and a miniport driver's parameters, a
 * filter driver's (its NdisFilterDriverHandle: usable until NdisFDeregisterFilterDriver)
 * and a filter module's (its NdisFilterHandle: the values its install gives, scenario
 * `filters[].registry`; usable until FilterDetach returns, and closed by then)
 * (accessing-configuration-information-for-a-filter-driver). A protocol driver's, a
 * binding's or its NDIS_BIND_PARAMETERS are not modelled.
 */
export function NdisOpenConfigurationEx(ConfigObject: NDIS_CONFIGURATION_OBJECT): {
  Status: NDIS_STATUS;
  ConfigurationHandle: NDIS_HANDLE | null;
} {
  const ddi = 'NdisOpenConfigurationEx';
  const fh = ConfigObject?.NdisHandle;
  if (fh instanceof FilterModule || fh instanceof FilterDriverBlock)
    return openFilterConfiguration(ConfigObject, fh);
  const other = otherConfigurationOwner(ConfigObject.NdisHandle);
  if (other !== null)
    throw new NotModelledError(
      ddi,
      `the configuration of ${other} (the model's registry holds miniport adapters' and miniport drivers' parameters)`,
    );
  const owner = ownerHandle(ConfigObject.NdisHandle, ddi);
  const n = currentNdis(ddi);
  const b = owner instanceof MiniportDriverBlock ? null : owner;
  n.verifier.irql(irql.NdisOpenConfigurationEx, ddi, b?.name ?? null);
  // The driver's key serves until NdisMDeregisterMiniportDriver; an adapter's until its halt.
  if (b === null ? (owner as MiniportDriverBlock).deregistered : stale(b, ddi))
    return { Status: NDIS_STATUS_FAILURE, ConfigurationHandle: null };
  if (ConfigObject.Header.Type !== NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT) {
    return { Status: NDIS_STATUS_INVALID_PARAMETER, ConfigurationHandle: null };
  }
  const values = b === null ? n.driverParameters(owner.name) : b.dev.registry;
  const h = new NdisConfiguration(n, b, values);
  b?.configurations.push(h);
  if (n.trace.on) n.traceDdi(ddi, b, { result: NDIS_STATUS_SUCCESS });
  return { Status: NDIS_STATUS_SUCCESS, ConfigurationHandle: h };
}

/** NdisOpenConfigurationEx with a filter module's or a filter driver's handle. */
function openFilterConfiguration(
  ConfigObject: NDIS_CONFIGURATION_OBJECT,
  h: FilterModule | FilterDriverBlock,
): { Status: NDIS_STATUS; ConfigurationHandle: NDIS_HANDLE | null } {
  const ddi = 'NdisOpenConfigurationEx';
  const n = currentNdis(ddi);
  const module = h instanceof FilterModule ? h : null;
  n.verifier.irql(irql.NdisOpenConfigurationEx, ddi, module?.block.name ?? null);
  const fail = { Status: NDIS_STATUS_FAILURE, ConfigurationHandle: null };
  if (module !== null ? staleModule(module, ddi, n) : (h as FilterDriverBlock).deregistered) return fail;
  if (ConfigObject.Header?.Type !== NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT)
    return { Status: NDIS_STATUS_INVALID_PARAMETER, ConfigurationHandle: null };
  const values =
    module !== null ? n.moduleParameters(module.driver.name, module.block.name) : n.driverParameters(h.name);
  const c = new NdisConfiguration(n, null, values, module);
  if (module !== null) {
    module.configurations ??= [];
    module.configurations.push(c);
  }
  if (n.trace.on)
    n.traceDdi(ddi, module?.block ?? null, {
      ...(module !== null ? { module: module.name } : { driver: h.name }),
      result: NDIS_STATUS_SUCCESS,
    });
  return { Status: NDIS_STATUS_SUCCESS, ConfigurationHandle: c };
}

/** What a handle the NdisOpenConfigurationEx page names, but the model does not keep parameters for, is; else null. */
function otherConfigurationOwner(h: unknown): string | null {
  if (h instanceof ProtocolDriverBlock) return `protocol driver ${h.name}`;
  if (h instanceof Binding) return `a binding of protocol driver ${h.protocol.name}`;
  const header = (h as { Header?: { Type?: unknown } } | null)?.Header;
  if (header?.Type === NDIS_OBJECT_TYPE_BIND_PARAMETERS) return 'a binding (its NDIS_BIND_PARAMETERS)';
  return null;
}

/**
 * VOID NdisReadConfiguration(*Status, *ParameterValue, ConfigurationHandle, Keyword, ParameterType).
 * PASSIVE. The two out-parameters come back as fields. FAILURE when the keyword is
 * neither predefined nor in the registry, or its value cannot be read as the type
 * asked for (see readAs).
 */
export function NdisReadConfiguration(
  ConfigurationHandle: NDIS_HANDLE,
  Keyword: string,
  ParameterType: number,
): { Status: NDIS_STATUS; ParameterValue: NDIS_CONFIGURATION_PARAMETER | null } {
  const ddi = 'NdisReadConfiguration';
  const h = configHandle(ConfigurationHandle, ddi, irql.NdisReadConfiguration);
  const b = h.block;
  const n = h.ndis;
  const v = h.closed ? undefined : (predefinedKeywords.get(Keyword) ?? h.values.get(Keyword));
  const ParameterValue = v === undefined ? null : readAs(v, ParameterType);
  const Status = ParameterValue === null ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS;
  if (n.trace.on) n.traceDdi(ddi, b, { Keyword, result: Status, value: v ?? null });
  return { Status, ParameterValue };
}

/**
 * A registry value read as `type`, or null (FAILURE).
 * - NdisParameterInteger, NdisParameterHexInteger: a REG_DWORD as it is; a REG_SZ
 *   converted from decimal or hexadecimal digits, the notations NDIS_PARAMETER_TYPE
 *   gives the two types. The result is typed NdisParameterInteger either way, as the
 *   NDIS_CONFIGURATION_PARAMETER page says of a hexadecimal read.
 * - NdisParameterString: a REG_SZ as it is, a REG_DWORD in decimal.
 * - Multi-strings and binary data: the model's registry holds neither.
 */
function readAs(v: number | string, type: number): NDIS_CONFIGURATION_PARAMETER | null {
  if (type === NdisParameterInteger || type === NdisParameterHexInteger) {
    const x = typeof v === 'number' ? v : stringToUlong(v, type === NdisParameterHexInteger ? 16 : 10);
    if (x === null) return null;
    return { ParameterType: NdisParameterInteger, ParameterData: { IntegerData: x } };
  }
  if (type === NdisParameterString) {
    return { ParameterType: NdisParameterString, ParameterData: { StringData: String(v) } };
  }
  return null;
}

const decimalDigits = /^[0-9]+$/;
const hexDigits = /^[0-9A-Fa-f]+$/;

/**
 * The ULONG a string of digits in `radix` stands for, or null when it holds anything
 * else (a sign, blanks, a 0x prefix, nothing at all) or does not fit in 32 bits. The
 * pages say nothing of such strings; the model refuses them rather than guess.
 */
function stringToUlong(s: string, radix: 10 | 16): number | null {
  if (!(radix === 16 ? hexDigits : decimalDigits).test(s)) return null;
  const x = Number.parseInt(s, radix);
  return x <= 0xffffffff ? x : null;
}

/**
 * VOID NdisWriteConfiguration(*Status, ConfigurationHandle, Keyword, ParameterValue).
 * PASSIVE. The one out-parameter, Status, is the return value. The value replaces an
 * entry of that name or adds one, in the device's registry parameters, so later reads
 * and later starts of the device see it. Statuses: NOT_SUPPORTED for a ParameterType
 * that is no NDIS_PARAMETER_TYPE; FAILURE for a closed handle or data that does not
 * match the type (an integer that is not a ULONG, a missing field).
 */
export function NdisWriteConfiguration(
  ConfigurationHandle: NDIS_HANDLE,
  Keyword: string,
  ParameterValue: NDIS_CONFIGURATION_PARAMETER,
): NDIS_STATUS {
  const ddi = 'NdisWriteConfiguration';
  const h = configHandle(ConfigurationHandle, ddi, irql.NdisWriteConfiguration);
  const b = h.block;
  const n = h.ndis;
  if (typeof ParameterValue !== 'object' || ParameterValue === null) {
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b?.name ?? null,
      `${ddi}: ParameterValue is not a structure`,
    );
  }
  const v = registryValue(ParameterValue, ddi);
  let Status: NDIS_STATUS = NDIS_STATUS_SUCCESS;
  if (v === 'not-supported') Status = NDIS_STATUS_NOT_SUPPORTED;
  else if (v === null || h.closed) Status = NDIS_STATUS_FAILURE;
  else h.values.set(Keyword, v);
  if (n.trace.on) n.traceDdi(ddi, b, { Keyword, result: Status, value: v === 'not-supported' ? null : v });
  return Status;
}

/** What a written NDIS_CONFIGURATION_PARAMETER stores: a REG_DWORD, a REG_SZ, or why not. */
function registryValue(
  p: NDIS_CONFIGURATION_PARAMETER,
  ddi: string,
): number | string | null | 'not-supported' {
  const d = p.ParameterData as { IntegerData?: unknown; StringData?: unknown } | null;
  switch (p.ParameterType) {
    case NdisParameterInteger:
    case NdisParameterHexInteger: {
      const x = d?.IntegerData;
      return Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff ? (x as number) : null;
    }
    case NdisParameterString:
      return typeof d?.StringData === 'string' ? d.StringData : null;
    case NdisParameterMultiString:
    case NdisParameterBinary:
      // Valid types on Windows, but NDIS_CONFIGURATION_PARAMETER here has no field for them.
      throw new NotModelledError(
        ddi,
        'multi-string and binary values (the registry model holds integers and strings)',
      );
    default:
      return 'not-supported';
  }
}

/**
 * VOID NdisReadNetworkAddress(*Status, *NetworkAddress, *NetworkAddressLength, ConfigurationHandle).
 * PASSIVE. Reads the NetworkAddress keyword: a string of hexadecimal digits, each
 * pair one byte, hyphens between pairs dropped. FAILURE when the keyword is absent,
 * its value is not a string (a REG_DWORD), or the string is no whole number of hex
 * digit pairs. The length is not checked: the page leaves that to the driver, which
 * falls back on its permanent address when the value does not suit it.
 */
export function NdisReadNetworkAddress(ConfigurationHandle: NDIS_HANDLE): {
  Status: NDIS_STATUS;
  NetworkAddress: number[] | null;
  NetworkAddressLength: number;
} {
  const ddi = 'NdisReadNetworkAddress';
  const h = configHandle(ConfigurationHandle, ddi, irql.NdisReadNetworkAddress);
  const b = h.block;
  const n = h.ndis;
  const v = h.closed ? undefined : h.values.get('NetworkAddress');
  const NetworkAddress = typeof v === 'string' ? addressBytes(v) : null;
  const Status = NetworkAddress === null ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS;
  if (n.trace.on) n.traceDdi(ddi, b, { result: Status, value: v ?? null });
  return { Status, NetworkAddress, NetworkAddressLength: NetworkAddress?.length ?? 0 };
}

/**
 * The bytes of a NetworkAddress string, or null. Which malformed strings fail is not
 * documented: the model fails any character but a hex digit or a hyphen, and an odd
 * number of digits (a last digit with no pair is no byte).
 */
function addressBytes(s: string): number[] | null {
  const digits = s.replace(/-/g, '');
  if (digits.length % 2 !== 0 || !hexDigits.test(digits)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < digits.length; i += 2) bytes.push(Number.parseInt(digits.slice(i, i + 2), 16));
  return bytes;
}

/** VOID NdisCloseConfiguration(ConfigurationHandle). PASSIVE. */
export function NdisCloseConfiguration(ConfigurationHandle: NDIS_HANDLE): void {
  const ddi = 'NdisCloseConfiguration';
  const h = configHandle(ConfigurationHandle, ddi, irql.NdisCloseConfiguration);
  h.closed = true;
  if (h.block !== null) removeFrom(h.block.configurations, h);
  if (h.module?.configurations) removeFrom(h.module.configurations, h);
}

/** The configuration handle a DDI was given, its IRQL rule checked; anything else is fatal. */
function configHandle(x: unknown, ddi: string, bound: DdiIrql): NdisConfiguration {
  if (!(x instanceof NdisConfiguration))
    return currentNdis(ddi).verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: not a configuration handle`,
    );
  x.ndis.verifier.irql(bound, ddi, x.block?.name ?? null);
  // NdisCloseConfiguration released the handle: a later call uses freed memory. The
  // call then fails (reads and writes return NDIS_STATUS_FAILURE), as before.
  if (x.closed)
    x.ndis.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      x.block?.name ?? null,
      `${ddi} with a configuration handle NdisCloseConfiguration released already (nf-ndis-ndiscloseconfiguration)`,
    );
  else if (x.module?.gone === true) {
    // accessing-configuration-information-for-a-filter-driver: a module's handle serves
    // until FilterDetach returns; NDIS freed what was left open then.
    x.ndis.verifier.report(
      'NdisSim_StaleHandle',
      ddi,
      x.module.block.name,
      `${ddi} with a configuration handle of filter module ${x.module.name}, which was detached: the handle served until its FilterDetach returned (accessing-configuration-information-for-a-filter-driver)`,
    );
    x.closed = true;
  }
  return x;
}

// ----------------------------------------------------- registers (I/O space)

/**
 * NDIS_STATUS NdisMMapIoSpace(*VirtualAddress, MiniportAdapterHandle, PhysicalAddress, Length).
 * PASSIVE; expected inside MiniportInitializeEx (SDV NdisMMapIoSpace). Statuses, as
 * NdisMRegisterIoPortRange's for ports:
 * - FAILURE: PhysicalAddress or Length is no address or length (Length 0, say)
 * - RESOURCE_CONFLICT: the range is not inside the memory resource PnP gave the device,
 *   so NDIS cannot claim it; NDIS logs NDIS_ERROR_CODE_RESOURCE_CONFLICT, as the page
 *   says it logs an error
 * VirtualAddress is NULL unless the status is SUCCESS.
 */
export function NdisMMapIoSpace(
  MiniportAdapterHandle: NDIS_HANDLE,
  PhysicalAddress: number,
  Length: number,
): { Status: NDIS_STATUS; VirtualAddress: NDIS_IO_SPACE | null } {
  const ddi = 'NdisMMapIoSpace';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMMapIoSpace, ddi, b.name);
  if (stale(b, ddi)) return { Status: NDIS_STATUS_FAILURE, VirtualAddress: null };
  if (!b.inInitialize) {
    n.verifier.report('NdisMMapIoSpace', ddi, b.name, 'NdisMMapIoSpace outside MiniportInitializeEx');
  } else {
    claimsHardware(b, ddi);
  }
  const r = b.dev.resources;
  const refuse = (Status: NDIS_STATUS) => {
    if (n.trace.on) n.traceDdi(ddi, b, { PhysicalAddress, Length, result: Status });
    return { Status, VirtualAddress: null };
  };
  if (!Number.isInteger(PhysicalAddress) || PhysicalAddress < 0 || !Number.isInteger(Length) || Length <= 0)
    return refuse(NDIS_STATUS_FAILURE);
  if (
    r === null ||
    PhysicalAddress < r.memoryBase ||
    PhysicalAddress + Length > r.memoryBase + r.memoryLength
  ) {
    // Memory PnP did not give the device: NDIS cannot claim it for the adapter, and logs it.
    logResourceConflict(b);
    return refuse(NDIS_STATUS_RESOURCE_CONFLICT);
  }
  const space = new NDIS_IO_SPACE(b, r.mmio, PhysicalAddress, Length, PhysicalAddress - r.memoryBase);
  b.ioSpaces.push(space);
  if (n.trace.on)
    n.traceDdi(ddi, b, {
      PhysicalAddress: `0x${PhysicalAddress.toString(16).toUpperCase()}`,
      Length,
      result: NDIS_STATUS_SUCCESS,
    });
  return { Status: NDIS_STATUS_SUCCESS, VirtualAddress: space };
}

/**
 * VOID NdisMUnmapIoSpace(MiniportAdapterHandle, VirtualAddress, Length). PASSIVE.
 * VirtualAddress must be a space NdisMMapIoSpace mapped for this adapter
 * (NdisSim_BadParameter otherwise); one unmapped already is NdisSim_ObjectFreedInUse and
 * unmaps nothing. The page: "The Length passed to NdisMUnmapIoSpace must match the
 * Length originally passed to NdisMMapIoSpace"; another is NdisSim_UnmapIoSpaceLength,
 * and the space is unmapped all the same. Its other demand, a call from
 * MiniportInitializeEx or MiniportHaltEx only (while either runs, as for
 * NdisMMapIoSpace), is NdisSim_UnmapIoSpaceOutsideInitHalt, and the space is unmapped.
 */
export function NdisMUnmapIoSpace(
  MiniportAdapterHandle: NDIS_HANDLE,
  VirtualAddress: NDIS_IO_SPACE,
  Length: number,
): void {
  const ddi = 'NdisMUnmapIoSpace';
  const b = adapterHandle(MiniportAdapterHandle, ddi);
  const n = b.ndis;
  n.verifier.irql(irql.NdisMUnmapIoSpace, ddi, b.name);
  // After halt the handle is dead (R2.8): reported, and the space unmapped all the same.
  const dead = stale(b, ddi);
  if (!(VirtualAddress instanceof NDIS_IO_SPACE) || VirtualAddress.block !== b) {
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      VirtualAddress instanceof NDIS_IO_SPACE
        ? `${ddi}: VirtualAddress was mapped for ${VirtualAddress.block.name}, not for ${b.name}`
        : `${ddi}: VirtualAddress is not a range NdisMMapIoSpace mapped`,
    );
    return;
  }
  if (VirtualAddress.unmapped) {
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      b.name,
      `${ddi} of a range unmapped already (NdisMUnmapIoSpace called twice)`,
    );
    return;
  }
  if (!dead && !b.inInitialize && !b.inHalt)
    n.verifier.report(
      'NdisSim_UnmapIoSpaceOutsideInitHalt',
      ddi,
      b.name,
      `${n.kernel.ctx.who} called ${ddi} in ${n.runningFunction() ?? 'code NDIS did not call'}: it can be called only from MiniportInitializeEx and MiniportHaltEx (nf-ndis-ndismunmapiospace); the range is unmapped all the same`,
    );
  if (Length !== VirtualAddress.length)
    n.verifier.report(
      'NdisSim_UnmapIoSpaceLength',
      ddi,
      b.name,
      `${ddi} with Length ${String(Length)} for a range NdisMMapIoSpace mapped with Length ${VirtualAddress.length}: the lengths must match (nf-ndis-ndismunmapiospace)`,
    );
  VirtualAddress.unmapped = true;
  removeFrom(b.ioSpaces, VirtualAddress);
  if (n.trace.on)
    n.traceDdi(ddi, b, {
      VirtualAddress: `0x${VirtualAddress.physicalAddress.toString(16).toUpperCase()}`,
      Length,
    });
}

/** NdisReadRegisterUlong(Register, *Data): any IRQL. The one out-parameter is the return value. */
export function NdisReadRegisterUlong(Register: IoRegister): number {
  if (!(Register instanceof IoRegister)) {
    return currentNdis('NdisReadRegisterUlong').verifier.fatal(
      'NdisSim_BadParameter',
      'NdisReadRegisterUlong',
      null,
      'NdisReadRegisterUlong: not a register address from NdisMMapIoSpace',
    );
  }
  const s = Register.space;
  if (s.unmapped) {
    s.block.ndis.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      'NdisReadRegisterUlong',
      s.block.name,
      'register read after NdisMUnmapIoSpace',
    );
  }
  outsideMapping(Register, 4, 'NdisReadRegisterUlong');
  if (s.block.dev.powerState !== 'D0' || s.block.removalNotified !== null)
    lowPowerAccess(s.block, 'NdisReadRegisterUlong');
  registerAccessed(s.block.ndis, 'NdisReadRegisterUlong');
  return s.mmio.read32(s.deviceOffset + Register.offset) >>> 0;
}

/** NdisWriteRegisterUlong(Register, Data): any IRQL. */
export function NdisWriteRegisterUlong(Register: IoRegister, Data: number): void {
  if (!(Register instanceof IoRegister)) {
    currentNdis('NdisWriteRegisterUlong').verifier.fatal(
      'NdisSim_BadParameter',
      'NdisWriteRegisterUlong',
      null,
      'NdisWriteRegisterUlong: not a register address from NdisMMapIoSpace',
    );
  }
  const s = Register.space;
  if (s.unmapped) {
    s.block.ndis.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      'NdisWriteRegisterUlong',
      s.block.name,
      'register write after NdisMUnmapIoSpace',
    );
  }
  outsideMapping(Register, 4, 'NdisWriteRegisterUlong');
  if (s.block.dev.powerState !== 'D0' || s.block.removalNotified !== null)
    lowPowerAccess(s.block, 'NdisWriteRegisterUlong');
  registerAccessed(s.block.ndis, 'NdisWriteRegisterUlong');
  s.mmio.write32(s.deviceOffset + Register.offset, Data >>> 0);
}

/**
 * The register pages: the address falls within a range NdisMMapIoSpace mapped. An
 * access that runs outside its mapping (a negative offset, or past its Length) is a
 * wild pointer: NdisSim_BadParameter.
 */
function outsideMapping(Register: IoRegister, width: number, ddi: string): void {
  const s = Register.space;
  const o = Register.offset;
  if (Number.isInteger(o) && o >= 0 && o + width <= s.length) return;
  s.block.ndis.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    s.block.name,
    `${ddi}: offset ${String(o)}, ${width} byte(s), is outside the ${s.length} bytes NdisMMapIoSpace mapped`,
  );
}

void irql.NdisReadRegisterUlong;
void irql.NdisWriteRegisterUlong;

/**
 * The register of an 8- or 16-bit access, checked: an address from NdisMMapIoSpace
 * (NdisSim_BadParameter) in a space still mapped (NdisSim_ObjectFreedInUse). The
 * SimNic answers byte lanes of its 32-bit registers; see SimNic.readNarrow/writeNarrow
 * and docs/model.md for what a partial access does to each register.
 */
function narrowRegister(
  Register: IoRegister,
  ddi: string,
  bound: DdiIrql,
  what: string,
  width: 1 | 2,
): IoRegister {
  if (!(Register instanceof IoRegister))
    return currentNdis(ddi).verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      null,
      `${ddi}: not a register address from NdisMMapIoSpace`,
    );
  const s = Register.space;
  s.block.ndis.verifier.irql(bound, ddi, s.block.name);
  if (s.unmapped)
    s.block.ndis.verifier.fatal(
      'NdisSim_ObjectFreedInUse',
      ddi,
      s.block.name,
      `register ${what} after NdisMUnmapIoSpace`,
    );
  outsideMapping(Register, width, ddi);
  if (s.block.dev.powerState !== 'D0' || s.block.removalNotified !== null) lowPowerAccess(s.block, ddi);
  registerAccessed(s.block.ndis, ddi);
  return Register;
}

/** NdisReadRegisterUchar(Register, *Data): any IRQL. The byte at the register address. */
export function NdisReadRegisterUchar(Register: IoRegister): number {
  const r = narrowRegister(Register, 'NdisReadRegisterUchar', irql.NdisReadRegisterUchar, 'read', 1);
  return r.space.mmio.readNarrow(r.space.deviceOffset + r.offset, 1);
}

/** NdisReadRegisterUshort(Register, *Data): any IRQL. The two bytes at the address, little-endian. */
export function NdisReadRegisterUshort(Register: IoRegister): number {
  const r = narrowRegister(Register, 'NdisReadRegisterUshort', irql.NdisReadRegisterUshort, 'read', 2);
  return r.space.mmio.readNarrow(r.space.deviceOffset + r.offset, 2);
}

/** NdisWriteRegisterUchar(Register, Data): any IRQL. Data is taken as a UCHAR. */
export function NdisWriteRegisterUchar(Register: IoRegister, Data: number): void {
  const r = narrowRegister(Register, 'NdisWriteRegisterUchar', irql.NdisWriteRegisterUchar, 'write', 1);
  r.space.mmio.writeNarrow(r.space.deviceOffset + r.offset, 1, Data & 0xff);
}

/** NdisWriteRegisterUshort(Register, Data): any IRQL. Data is taken as a USHORT. */
export function NdisWriteRegisterUshort(Register: IoRegister, Data: number): void {
  const r = narrowRegister(Register, 'NdisWriteRegisterUshort', irql.NdisWriteRegisterUshort, 'write', 2);
  r.space.mmio.writeNarrow(r.space.deviceOffset + r.offset, 2, Data & 0xffff);
}

// ------------------------------------------------------ PCI configuration space

/**
 * ULONG NdisMGetBusData(NdisMiniportHandle, WhichSpace, Offset, Buffer, Length). Any
 * IRQL. Reads the device's PCI configuration space (PCI_WHICHSPACE_CONFIG) into Buffer
 * and returns the bytes read: fewer past the end of the space, none for a device
 * without a bus (hardware: none) or another WhichSpace (a SimNic has no option ROM).
 * A vanished NIC reads 0xFF in every byte, which is how a driver tells it is gone
 * (R5.7).
 */
export function NdisMGetBusData(
  NdisMiniportHandle: NDIS_HANDLE,
  WhichSpace: number,
  Offset: number,
  Buffer: Uint8Array,
  Length: number,
): number {
  const ddi = 'NdisMGetBusData';
  const r = busAccess(NdisMiniportHandle, ddi, irql.NdisMGetBusData, WhichSpace, Offset, Buffer, Length);
  if (r === null) return 0;
  for (let i = 0; i < r.count; i++) Buffer[i] = r.space.readConfig(Offset + i);
  return r.count;
}

/**
 * ULONG NdisMSetBusData(NdisMiniportHandle, WhichSpace, Offset, Buffer, Length). Any
 * IRQL. Writes Buffer to the configuration space and returns the bytes written;
 * read-only bytes keep their value, as the hardware ignores such writes.
 */
export function NdisMSetBusData(
  NdisMiniportHandle: NDIS_HANDLE,
  WhichSpace: number,
  Offset: number,
  Buffer: Uint8Array,
  Length: number,
): number {
  const ddi = 'NdisMSetBusData';
  const r = busAccess(NdisMiniportHandle, ddi, irql.NdisMSetBusData, WhichSpace, Offset, Buffer, Length);
  if (r === null) return 0;
  for (let i = 0; i < r.count; i++) r.space.writeConfig(Offset + i, Buffer[i]!);
  return r.count;
}

/** What both bus-data DDIs check: the handle, the buffer, and how many bytes the space holds from Offset. */
function busAccess(
  h: NDIS_HANDLE,
  ddi: string,
  bound: DdiIrql,
  WhichSpace: number,
  Offset: number,
  Buffer: Uint8Array,
  Length: number,
): { space: PciConfigSpace; count: number } | null {
  const b = adapterHandle(h, ddi);
  const n = b.ndis;
  n.verifier.irql(bound, ddi, b.name);
  if (stale(b, ddi)) return null;
  if (!(Buffer instanceof Uint8Array) || !Number.isInteger(Length) || Length < 0 || Buffer.length < Length)
    return n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      b.name,
      `${ddi}: Buffer must be a Uint8Array of at least Length (${String(Length)}) bytes`,
    );
  const space = b.dev.resources?.config ?? null;
  if (space === null || WhichSpace !== PCI_WHICHSPACE_CONFIG || !Number.isInteger(Offset) || Offset < 0)
    return null;
  const count = Math.max(0, Math.min(Length, space.configBytes - Offset));
  // The offset in hex, as PCI registers are named (0x34 the capabilities pointer, not 52).
  if (n.trace.on)
    n.traceDdi(ddi, b, { Offset: `0x${Offset.toString(16).toUpperCase()}`, Length, result: count });
  return { space, count };
}
