// What NDIS makes of an adapter's NDIS_PM_CAPABILITIES (PowerManagementCapabilitiesEx of
// the general attributes, NDIS 6.20 power management), from the NDIS_PM_CAPABILITIES
// page, "How NDIS sets the power policy for a network adapter" and "Reporting wake reason
// status indication capabilities":
// - the Min*WakeUp members name the lowest device power state a wake type works from;
//   NdisDeviceStateUnspecified: not supported; NdisDeviceStateD0: no longer supported from
//   NDIS 6.20. NDIS sets the device's state for a sleep from them, and a wake type that
//   cannot work from that state is not one NDIS enables (the model's system sleep is D3,
//   so a type enabled for it needs a minimum of D3: wakeEnabledFromD3 below);
// - members that contradict each other are the driver's mistake, warned of once (R2.4):
//   NDIS does not check them (pmCapabilitiesProblems below).
// A member the driver left out of the model's object is not gated on: the model's drivers
// are partial objects, and one that names no minimum leaves NDIS as it was before the
// members were read (docs/decisions.md "A wake type NDIS cannot arm for D3 is left out").

import {
  NDIS_DEVICE_POWER_STATE_NAMES,
  NDIS_PM_CAPABILITIES_REVISION_1,
  NDIS_PM_CAPABILITIES_REVISION_2,
  NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED,
  NDIS_PM_WAKE_ON_MEDIA_DISCONNECT_ENABLED,
  NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED,
  NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_1,
  NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_2,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisDeviceStateUnspecified,
} from './generated/status.ts';
import type { NDIS_PM_CAPABILITIES, NDIS_PM_PARAMETERS } from './types.ts';

/** A ULONG member of the capabilities, or undefined when the driver left it out. */
function member(caps: NDIS_PM_CAPABILITIES, name: string): number | undefined {
  const v = caps[name];
  return typeof v === 'number' ? v >>> 0 : undefined;
}

function stateName(s: number): string {
  return NDIS_DEVICE_POWER_STATE_NAMES[s] ?? String(s);
}

/** The WoL pattern bits other than the magic packet's: the pattern types (MinPatternWakeUp). */
const patternBits = ~NDIS_PM_WOL_MAGIC_PACKET_ENABLED >>> 0;
/** The media-independent WakeUpFlags (MinLinkChangeWakeUp covers SupportedWakeUpEvents from NDIS 6.30). */
const linkBits = NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED | NDIS_PM_WAKE_ON_MEDIA_DISCONNECT_ENABLED;

/**
 * `pm` with the wake types the adapter cannot signal from D3 taken out, and what was
 * taken out and why, for the trace. A minimum of D3 allows the type; Unspecified, D0
 * (no longer a wake from NDIS 6.20), D1 or D2 rule it out for D3. A member left out
 * rules nothing out.
 */
export function wakeEnabledFromD3(
  caps: NDIS_PM_CAPABILITIES,
  pm: NDIS_PM_PARAMETERS,
): { pm: NDIS_PM_PARAMETERS; dropped: string[] } {
  const dropped: string[] = [];
  const out = { ...pm };
  const gate = (name: string, field: 'EnabledWoLPacketPatterns' | 'WakeUpFlags', bits: number): void => {
    const min = member(caps, name);
    if (min === undefined || min === NdisDeviceStateD3 || (out[field] & bits) === 0) return;
    dropped.push(`${field} 0x${(out[field] & bits).toString(16)} (${name} ${stateName(min)})`);
    out[field] = (out[field] & ~bits) >>> 0;
  };
  gate('MinMagicPacketWakeUp', 'EnabledWoLPacketPatterns', NDIS_PM_WOL_MAGIC_PACKET_ENABLED);
  gate('MinPatternWakeUp', 'EnabledWoLPacketPatterns', patternBits);
  gate('MinLinkChangeWakeUp', 'WakeUpFlags', linkBits);
  return { pm: out, dropped };
}

/**
 * The ways `caps` contradicts itself or its page, each in words; none: []. `mtu` is the
 * general attributes' MtuSize (MaxWoLPacketSaveBuffer may hold an MTU and a MAC header).
 */
export function pmCapabilitiesProblems(caps: NDIS_PM_CAPABILITIES, mtu: number): string[] {
  const out: string[] = [];
  const h = caps.Header;
  const rev = h?.Revision;
  const size =
    rev === NDIS_PM_CAPABILITIES_REVISION_1
      ? NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_1
      : rev === NDIS_PM_CAPABILITIES_REVISION_2
        ? NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_2
        : null;
  if (size === null)
    out.push(`Header.Revision ${String(rev)} is neither NDIS_PM_CAPABILITIES_REVISION_1 nor _2`);
  else if (h.Size !== undefined && h.Size !== size)
    out.push(
      `Header.Size ${h.Size} is not NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_${rev} (${size}) for revision ${rev}`,
    );
  const patterns = member(caps, 'SupportedWoLPacketPatterns') ?? 0;
  const magicMin = member(caps, 'MinMagicPacketWakeUp');
  const patternMin = member(caps, 'MinPatternWakeUp');
  const linkMin = member(caps, 'MinLinkChangeWakeUp');
  if (magicMin === NdisDeviceStateUnspecified && (patterns & NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED) !== 0)
    out.push(
      'MinMagicPacketWakeUp is NdisDeviceStateUnspecified (no magic-packet wake-up) but SupportedWoLPacketPatterns has NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED',
    );
  if (patternMin === NdisDeviceStateUnspecified && (patterns & patternBits) !== 0)
    out.push(
      `MinPatternWakeUp is NdisDeviceStateUnspecified (no pattern wake-up) but SupportedWoLPacketPatterns has 0x${(patterns & patternBits).toString(16)} beside the magic packet`,
    );
  const events = member(caps, 'SupportedWakeUpEvents') ?? 0;
  if (linkMin === NdisDeviceStateUnspecified && events !== 0 && rev === NDIS_PM_CAPABILITIES_REVISION_2)
    out.push(
      `MinLinkChangeWakeUp is NdisDeviceStateUnspecified (no link-change wake-up) but SupportedWakeUpEvents is 0x${events.toString(16)} (it must be 0)`,
    );
  for (const [name, min] of [
    ['MinMagicPacketWakeUp', magicMin],
    ['MinPatternWakeUp', patternMin],
    ['MinLinkChangeWakeUp', linkMin],
  ] as const)
    if (min === NdisDeviceStateD0)
      out.push(`${name} is NdisDeviceStateD0: a wake-up from D0 is no longer supported from NDIS 6.20`);
  // NumTotalWoLPatterns counts the patterns other than the magic packet.
  const total = member(caps, 'NumTotalWoLPatterns');
  if (total === 0 && (patterns & patternBits) !== 0)
    out.push(
      `NumTotalWoLPatterns is 0 but SupportedWoLPacketPatterns has 0x${(patterns & patternBits).toString(16)} beside the magic packet: no pattern of those types could be added`,
    );
  // Flags and MaxWoLPacketSaveBuffer mean something from NDIS 6.30 (revision 2).
  if (rev === NDIS_PM_CAPABILITIES_REVISION_2) {
    const flags = member(caps, 'Flags') ?? 0;
    const save = member(caps, 'MaxWoLPacketSaveBuffer');
    if ((flags & NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED) !== 0 && (save ?? 0) === 0)
      out.push(
        'Flags has NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED but MaxWoLPacketSaveBuffer is 0 (it must be nonzero then)',
      );
    // The reporting page allows the MTU and the MAC header (14 bytes on 802.3).
    if (save !== undefined && mtu > 0 && save > mtu + 14)
      out.push(`MaxWoLPacketSaveBuffer ${save} is more than the MTU (${mtu}) and a MAC header`);
  }
  return out;
}

/**
 * How much of a wake packet the miniport may pass with NDIS_STATUS_PM_WAKE_REASON: null
 * when its capabilities do not let it pass one (no NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED
 * in a revision-2 structure, NDIS 6.30), else MaxWoLPacketSaveBuffer (Infinity when the
 * driver left it out of the model's object).
 */
export function wakePacketLimit(caps: NDIS_PM_CAPABILITIES | null | undefined): number | null {
  if (caps == null || caps.Header?.Revision !== NDIS_PM_CAPABILITIES_REVISION_2) return null;
  const flags = member(caps, 'Flags') ?? 0;
  if ((flags & NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED) === 0) return null;
  return member(caps, 'MaxWoLPacketSaveBuffer') ?? Number.POSITIVE_INFINITY;
}
