// NDIS_PM_CAPABILITIES as NDIS reads it (src/ndis/pm-caps.ts), and the content of
// NDIS_STATUS_PM_WAKE_REASON (NdisSim_WakeReasonContent, src/ndis/api/adapter.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pmnic } from '../examples/pmnic.ts';
import { setPowerState } from '../src/drivers/buggy/kit.ts';
import { statusIndication } from '../src/drivers/common.ts';
import {
  bitmapWolPattern,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
  NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
  type NDIS_PM_CAPABILITIES,
  NDIS_PM_CAPABILITIES_REVISION_2,
  type NDIS_PM_PARAMETERS,
  NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED,
  NDIS_PM_WAKE_ON_MEDIA_CONNECT_SUPPORTED,
  NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED,
  NDIS_PM_WOL_BITMAP_PATTERN_ENABLED,
  NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED,
  NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_2,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WAKE_REASON,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisDeviceStateUnspecified,
  NdisMIdleNotificationComplete,
  NdisMIdleNotificationConfirm,
  NdisMIndicateStatusEx,
  NdisRequestSetInformation,
  NdisSetOptionalHandlers,
  NdisWakeReasonMediaConnect,
  NdisWakeReasonPacket,
  NdisWriteRegisterUlong,
  OID_PM_ADD_WOL_PATTERN,
  OID_PM_PARAMETERS,
  SimNicReg,
  SimNicWake,
  simNicMagicPacket,
} from '../src/index.ts';
import { scenarioWorld } from '../src/scenario.ts';
import type { World, WorldAction } from '../src/world.ts';
import { scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const MAC = [2, 0, 0, 0, 0, 1];

/** Revision-2 capabilities that agree with themselves: magic packet and bitmap patterns from D3, wake packets of 128 bytes. */
function goodCaps(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Header: {
      Type: NDIS_OBJECT_TYPE_DEFAULT,
      Revision: NDIS_PM_CAPABILITIES_REVISION_2,
      Size: NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_2,
    },
    Flags: NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED,
    SupportedWoLPacketPatterns: NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED | NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED,
    NumTotalWoLPatterns: 4,
    MaxWoLPacketSaveBuffer: 128,
    MinMagicPacketWakeUp: NdisDeviceStateD3,
    MinPatternWakeUp: NdisDeviceStateD3,
    MinLinkChangeWakeUp: NdisDeviceStateD3,
    SupportedWakeUpEvents: NDIS_PM_WAKE_ON_MEDIA_CONNECT_SUPPORTED,
    ...over,
  };
}

interface WakeReport {
  WakeReason: number;
  /** The wake packet's PatternId and SavedPacketSize; absent: no information buffer. */
  packet?: { PatternId: number; SavedPacketSize: number };
}

/**
 * A SimNic miniport with `caps`: it records the EnabledWoLPacketPatterns of each
 * OID_PM_PARAMETERS, arms the magic-packet filter for its address when NDIS enabled it,
 * and in OID_PNP_SET_POWER(D0) indicates `report` (if any) as NDIS_STATUS_PM_WAKE_REASON.
 */
function capsDriver(name: string, caps: Record<string, unknown>, report: WakeReport | null, seen: number[]) {
  let enabled = 0;
  return scriptedDriver(name, {
    registrationAttributes: { AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE },
    generalAttributes: { PowerManagementCapabilitiesEx: caps as unknown as NDIS_PM_CAPABILITIES },
    oid: (a: TestAdapter, req) => {
      if (req.RequestType === NdisRequestSetInformation && req.DATA.Oid === OID_PM_PARAMETERS) {
        enabled = (req.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_PARAMETERS).EnabledWoLPacketPatterns;
        seen.push(enabled);
        return NDIS_STATUS_SUCCESS;
      }
      const state = setPowerState(req);
      if (state === NdisDeviceStateD3) {
        const r = (off: number) => a.space!.at(off);
        NdisWriteRegisterUlong(
          r(SimNicReg.RAL),
          MAC[0]! | (MAC[1]! << 8) | (MAC[2]! << 16) | (MAC[3]! << 24),
        );
        NdisWriteRegisterUlong(r(SimNicReg.RAH), MAC[4]! | (MAC[5]! << 8));
        NdisWriteRegisterUlong(
          r(SimNicReg.WUFC),
          enabled & NDIS_PM_WOL_MAGIC_PACKET_ENABLED ? SimNicWake.MAG : 0,
        );
      } else if (state === NdisDeviceStateD0 && report !== null) {
        const p = report.packet;
        const wpSize = 160; // NDIS_PM_WAKE_PACKET, rounded to 64 bits
        const info = p === undefined ? 0 : wpSize + p.SavedPacketSize;
        NdisMIndicateStatusEx(
          a.handle,
          statusIndication(
            a.handle,
            NDIS_STATUS_PM_WAKE_REASON,
            {
              Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: 1 },
              Flags: 0,
              WakeReason: report.WakeReason,
              InfoBufferOffset: info === 0 ? 0 : 24,
              InfoBufferSize: info,
              ...(p === undefined
                ? {}
                : {
                    WakePacket: {
                      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: 1, Size: 156 },
                      Flags: 0,
                      PatternId: p.PatternId,
                      OriginalPacketSize: p.SavedPacketSize,
                      SavedPacketSize: p.SavedPacketSize,
                      SavedPacketOffset: wpSize,
                    },
                  }),
            },
            24 + info,
          ),
        );
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
}

/** A sleep at 1 s that a magic packet for the driver's address ends at 2 s (when armed); a bitmap pattern added first when `pattern`. */
function sleepWoken(name: string, caps: Record<string, unknown>, report: WakeReport | null, pattern = false) {
  const seen: number[] = [];
  const drv = capsDriver(name, caps, report, seen);
  const p = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(...MAC));
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [
      ...(pattern
        ? [
            {
              atNs: 500 * ns.ms,
              action: {
                kind: 'oid' as const,
                device: 'nic0',
                oid: OID_PM_ADD_WOL_PATTERN,
                set: true,
                value: p.pattern,
                timeoutS: 0,
                bufferLength: p.length,
              },
            },
          ]
        : []),
      { atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 3 * ns.s } },
      {
        atNs: 2 * ns.s,
        action: { kind: 'frame', device: 'nic0', data: simNicMagicPacket(MAC) },
      },
    ],
    options: { verifier: 'collect' },
  });
  const r = w.run(6 * ns.s);
  return { w, r, seen, wokeAt: wakeTime(w) };
}

function wakeTime(w: World): number {
  return w.trace.events.find((e) => e.what === 'wake')!.t / ns.ms;
}

const r24 = (w: { r: { warnings: { rule: string; message: string }[] } }) =>
  w.r.warnings.filter((x) => x.rule === 'R2.4').map((x) => x.message);

test('NDIS_PM_CAPABILITIES (R2.4): NDIS enables no wake type whose minimum wake state rules out D3: MinMagicPacketWakeUp NdisDeviceStateUnspecified leaves the magic packet out of OID_PM_PARAMETERS and the magic packet wakes nothing; D3 enables it and it wakes the system (NDIS_PM_CAPABILITIES, how-ndis-sets-the-power-policy pages)', () => {
  const ok = sleepWoken('caps-d3', goodCaps(), null);
  assert.deepEqual(ok.seen, [NDIS_PM_WOL_MAGIC_PACKET_ENABLED]);
  assert.equal(ok.wokeAt, 2000, 'the magic packet woke the system');
  assert.deepEqual(r24(ok), [], 'consistent capabilities: no warning');

  const none = sleepWoken(
    'caps-unspec',
    goodCaps({
      MinMagicPacketWakeUp: NdisDeviceStateUnspecified,
      SupportedWoLPacketPatterns: NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
      NumTotalWoLPatterns: 0,
    }),
    null,
  );
  assert.deepEqual(none.seen, [0], 'no magic packet enabled');
  assert.equal(none.wokeAt, 4000, 'the sleep runs its length');
  const left = none.w.trace.events.find((e) => /wake types not enabled/.test(e.what));
  assert.match(String(left?.data?.left), /MinMagicPacketWakeUp NdisDeviceStateUnspecified/);
  assert.equal(r24(none).length, 1);
  assert.match(
    r24(none)[0]!,
    /MinMagicPacketWakeUp is NdisDeviceStateUnspecified .* NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED/,
  );

  // A pattern the adapter can match only from D0 (no longer a wake from NDIS 6.20): the
  // bitmap bit stays off, the magic packet (D3) stays on.
  const d0 = sleepWoken('caps-pattern-d0', goodCaps({ MinPatternWakeUp: NdisDeviceStateD0 }), null, true);
  assert.deepEqual(d0.seen, [NDIS_PM_WOL_MAGIC_PACKET_ENABLED]);
  assert.notEqual(d0.seen[0]! & NDIS_PM_WOL_BITMAP_PATTERN_ENABLED, NDIS_PM_WOL_BITMAP_PATTERN_ENABLED);
  assert.match(
    r24(d0)[0]!,
    /MinPatternWakeUp is NdisDeviceStateD0: a wake-up from D0 is no longer supported/,
  );
  const withPattern = sleepWoken('caps-pattern-d3', goodCaps(), null, true);
  assert.deepEqual(withPattern.seen, [NDIS_PM_WOL_MAGIC_PACKET_ENABLED | NDIS_PM_WOL_BITMAP_PATTERN_ENABLED]);
});

test("NDIS_PM_CAPABILITIES (R2.4): a structure that contradicts itself is warned of once, at NdisMSetMiniportAttributes: Header.Size not its revision's, wake packets with MaxWoLPacketSaveBuffer 0, NumTotalWoLPatterns 0 with bitmap patterns, SupportedWakeUpEvents with MinLinkChangeWakeUp unspecified, a save buffer past the MTU (NDIS_PM_CAPABILITIES, reporting-wake-reason-status-indication-capabilities pages)", () => {
  const warned = (caps: Record<string, unknown>) =>
    r24(sleepWoken(`caps-${JSON.stringify(caps).length}`, goodCaps(caps), null));
  const size = warned({
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2, Size: 8 },
  });
  assert.equal(size.length, 1);
  assert.match(size[0]!, /Header\.Size 8 is not NDIS_SIZEOF_NDIS_PM_CAPABILITIES_REVISION_2 \(60\)/);
  assert.match(
    warned({ MaxWoLPacketSaveBuffer: 0 })[0]!,
    /NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED but MaxWoLPacketSaveBuffer is 0/,
  );
  assert.match(
    warned({ NumTotalWoLPatterns: 0 })[0]!,
    /NumTotalWoLPatterns is 0 but SupportedWoLPacketPatterns has 0x1/,
  );
  assert.match(
    warned({ MinLinkChangeWakeUp: NdisDeviceStateUnspecified })[0]!,
    /MinLinkChangeWakeUp is NdisDeviceStateUnspecified .* SupportedWakeUpEvents is 0x1/,
  );
  assert.match(
    warned({ MaxWoLPacketSaveBuffer: 4000 })[0]!,
    /MaxWoLPacketSaveBuffer 4000 is more than the MTU \(1500\)/,
  );
  // Members a model driver leaves out are not read as contradictions.
  assert.deepEqual(
    warned({
      MinMagicPacketWakeUp: undefined,
      MinPatternWakeUp: undefined,
      Header: { Type: 0, Revision: 2 },
    }),
    [],
  );
});

test('NdisSim_WakeReasonContent: a wake packet whose PatternId NDIS never gave, one from an adapter without NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED, one past MaxWoLPacketSaveBuffer are violations; PatternId 0 (the magic packet NDIS enabled itself) and the PatternId NDIS gave pass (NDIS_PM_WAKE_PACKET, issuing-ndis-wake-reason-indications pages)', () => {
  const rules = (caps: Record<string, unknown>, packet: WakeReport['packet'], pattern = false) => {
    const run = sleepWoken(
      `wr-${JSON.stringify([caps, packet, pattern]).length}`,
      goodCaps(caps),
      {
        WakeReason: NdisWakeReasonPacket,
        packet,
      },
      pattern,
    );
    assert.equal(run.wokeAt, 2000);
    return run.r.violations.map((v) => `${v.rule}: ${v.message}`);
  };
  assert.deepEqual(rules({}, { PatternId: 0, SavedPacketSize: 102 }), []);
  assert.deepEqual(rules({}, { PatternId: 1, SavedPacketSize: 102 }, true), [], 'NDIS gave PatternId 1');
  const unknown = rules({}, { PatternId: 42, SavedPacketSize: 102 });
  assert.equal(unknown.length, 1);
  assert.match(
    unknown[0]!,
    /^NdisSim_WakeReasonContent: .*PatternId 42 names no WoL pattern of the adapter \(none was added\)/,
  );
  assert.match(
    rules({}, { PatternId: 7, SavedPacketSize: 102 }, true)[0]!,
    /PatternId 7 names no WoL pattern of the adapter \(it has 1\)/,
  );
  assert.match(
    rules({ Flags: 0 }, { PatternId: 0, SavedPacketSize: 102 })[0]!,
    /passes a wake packet, but the adapter's NDIS_PM_CAPABILITIES does not set NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED/,
  );
  assert.match(
    rules({ MaxWoLPacketSaveBuffer: 64 }, { PatternId: 0, SavedPacketSize: 102 })[0]!,
    /SavedPacketSize 102 is more than MaxWoLPacketSaveBuffer 64/,
  );
});

test("NdisSim_WakeReasonContent (a warning): a wake reason with no wake-up signal behind it (the sleep ran its length), or a media event reported for a magic packet's wake; NdisWakeReasonPacket for the magic packet passes (issuing-ndis-wake-reason-indications)", () => {
  const warnings = (name: string, caps: Record<string, unknown>, report: WakeReport) =>
    sleepWoken(name, goodCaps(caps), report).r.warnings.filter((x) => x.rule === 'NdisSim_WakeReasonContent');
  // Not armed for the magic packet: nothing wakes the device, the system wakes at 4 s.
  const noWake = warnings(
    'wr-no-wake',
    { MinMagicPacketWakeUp: NdisDeviceStateUnspecified, SupportedWoLPacketPatterns: 0 },
    { WakeReason: NdisWakeReasonMediaConnect },
  );
  assert.equal(noWake.length, 1);
  assert.match(
    noWake[0]!.message,
    /NdisWakeReasonMediaConnect, but the device sent no wake-up signal since NDIS took it to low power/,
  );
  const wrong = warnings('wr-media', {}, { WakeReason: NdisWakeReasonMediaConnect });
  assert.equal(wrong.length, 1);
  assert.match(
    wrong[0]!.message,
    /NdisWakeReasonMediaConnect, but a packet \(a magic packet or a WoL pattern\) woke the adapter/,
  );
  assert.deepEqual(
    warnings(
      'wr-right',
      {},
      { WakeReason: NdisWakeReasonPacket, packet: { PatternId: 0, SavedPacketSize: 102 } },
    ),
    [],
  );
});

test('OID_PM_PARAMETERS on the timeline: MiniportOidRequest shows WakeUpFlags, EnabledWoLPacketPatterns and EnabledProtocolOffloads of the set (NDIS_PM_PARAMETERS page)', () => {
  const run = sleepWoken('pm-trace', goodCaps(), null);
  const call = run.w.trace.events.find(
    (e) => e.what === 'MiniportOidRequest' && e.data?.Oid === 'OID_PM_PARAMETERS',
  );
  assert.equal(call?.data?.WakeUpFlags, '0x0');
  assert.equal(call?.data?.EnabledWoLPacketPatterns, `0x${NDIS_PM_WOL_MAGIC_PACKET_ENABLED.toString(16)}`);
  assert.equal(call?.data?.EnabledProtocolOffloads, '0x0');
});

test('examples/pmnic.yaml: pmnic reports MaxWoLPacketSaveBuffer for the 128 bytes its NIC saves, so its capabilities agree with themselves (no R2.4 warning) and its wake packets pass NdisSim_WakeReasonContent', () => {
  const s = scenarioWorld('examples/pmnic.yaml', { drivers: [pmnic] });
  const { result } = s.run();
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(
    result.warnings.filter((x) => x.rule === 'R2.4' || x.rule === 'NdisSim_WakeReasonContent'),
    [],
  );
  const reasons = s.world.trace.events.filter((e) => e.data?.StatusCode === 'NDIS_STATUS_PM_WAKE_REASON');
  assert.ok(reasons.length > 0, 'pmnic reports wake reasons in this scenario');
});

test('NdisSim_WakeReasonContent (a warning): selective suspend that a send ends has no wake-up signal behind it, so a wake reason then is warned of; one a wake-signal ends passes (issuing-ndis-wake-reason-indications, NDIS selective suspend)', () => {
  const run = (name: string, end: WorldAction) => {
    const drv = scriptedDriver(name, {
      registrationAttributes: {
        AttributeFlags:
          NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
      },
      generalAttributes: {
        PowerManagementCapabilitiesEx: {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
          Flags: NDIS_PM_SELECTIVE_SUSPEND_SUPPORTED,
        },
      },
      oid: (a, req) => {
        if (setPowerState(req) === NdisDeviceStateD0)
          NdisMIndicateStatusEx(
            a.handle,
            statusIndication(
              a.handle,
              NDIS_STATUS_PM_WAKE_REASON,
              {
                Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: 1 },
                Flags: 0,
                WakeReason: NdisWakeReasonMediaConnect,
                InfoBufferOffset: 0,
                InfoBufferSize: 0,
              },
              24,
            ),
          );
        return NDIS_STATUS_SUCCESS;
      },
      characteristics: (c) => {
        c.SetOptionsHandler = (h) =>
          NdisSetOptionalHandlers(h, {
            Header: {
              Type: NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
              Revision: NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
            },
            IdleNotificationHandler: (a: TestAdapter) => {
              NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD3);
              return NDIS_STATUS_PENDING;
            },
            CancelIdleNotificationHandler: (a: TestAdapter) => NdisMIdleNotificationComplete(a.handle),
          });
      },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: name, registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 2 } }],
      actions: [{ atNs: 5 * ns.s, action: end }],
      options: { verifier: 'collect' },
    });
    const r = w.run(7 * ns.s);
    assert.ok(
      w.trace.events.some((e) => e.what === 'MiniportCancelIdleNotification'),
      'selective suspend was entered and ended',
    );
    assert.ok(
      w.trace.events.some((e) => e.data?.StatusCode === 'NDIS_STATUS_PM_WAKE_REASON'),
      'the driver reported a wake reason in OID_PNP_SET_POWER(D0)',
    );
    return r.warnings.filter((x) => x.rule === 'NdisSim_WakeReasonContent').map((x) => x.message);
  };
  const sent = run('ss-wr-send', { kind: 'send', device: 'nic0' });
  assert.equal(sent.length, 1);
  assert.match(sent[0]!, /the device sent no wake-up signal since NDIS took it to low power/);
  assert.deepEqual(run('ss-wr-signal', { kind: 'wake-signal', device: 'nic0' }), []);
});
