// Wake-on-LAN patterns added from above (src/ndis/wol.ts, docs/model.md "Wake-on-LAN
// patterns"): OID_PM_ADD_WOL_PATTERN and OID_PM_REMOVE_WOL_PATTERN through NDIS to pmnic
// (examples/pmnic.ts), which programs the SimNic's bitmap pattern slots and names the
// pattern that woke it in its NDIS_STATUS_PM_WAKE_REASON. The pages: OID_PM_ADD_WOL_PATTERN,
// OID_PM_REMOVE_WOL_PATTERN, NDIS_PM_WOL_PATTERN, "Adding and Deleting Wake on LAN
// Patterns", and Driver Verifier's NdisOidComplete rule.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { pmnic } from '../examples/pmnic.ts';
import {
  bitmapWolPattern,
  ipv4TcpSynWolPattern,
  magicPacketWolPattern,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  type NDIS_PM_PARAMETERS,
  NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_PM_WOL_BITMAP_PATTERN_ENABLED,
  NDIS_PM_WOL_EAPOL_REQUEST_ID_MESSAGE_ENABLED,
  NDIS_PM_WOL_IPV4_DEST_ADDR_WILDCARD_ENABLED,
  NDIS_PM_WOL_IPV4_TCP_SYN_ENABLED,
  NDIS_PM_WOL_IPV6_TCP_SYN_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
  type NDIS_PM_WOL_PATTERN,
  NDIS_PM_WOL_PATTERN_REVISION_2,
  NDIS_PM_WOL_PRIORITY_HIGHEST,
  NDIS_PM_WOL_PRIORITY_LOWEST,
  NDIS_PM_WOL_PRIORITY_NORMAL,
  NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1,
  NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2,
  NDIS_STATUS_BUFFER_TOO_SHORT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL,
  NDIS_STATUS_PM_WOL_PATTERN_REJECTED,
  NDIS_STATUS_SUCCESS,
  NdisOidRequest,
  NdisPMWoLPacketEapolRequestIdMessage,
  NdisPMWoLPacketIPv4TcpSyn,
  NdisPMWoLPacketIPv6TcpSyn,
  NdisPMWoLPacketUnspecified,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  OID_PM_ADD_WOL_PATTERN,
  OID_PM_PARAMETERS,
  OID_PM_REMOVE_WOL_PATTERN,
  OID_PM_WOL_PATTERN_LIST,
} from '../src/index.ts';
import { oidRequest } from '../src/ndis/oid.ts';
import { wolPatternList } from '../src/ndis/wol.ts';
import { scenarioWorld } from '../src/scenario.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { World } from '../src/world.ts';
import { bindingProtocol, protocolStep } from './helpers/protocol.ts';
import { scriptedDriver, wolPatternAttributes } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const data = (e: TraceEvent): Record<string, unknown> => (e.data ?? {}) as Record<string, unknown>;

/** A pmnic scenario with these actions (YAML flow mappings, one a line). */
function pmnicScenario(actions: string[], until = '5s'): string {
  return `seed: 1\nuntil: ${until}\nprotocols: [{ name: tcpip }]\ndevices:\n  - { name: nic0, driver: pmnic }\nactions:\n${actions.map((a) => `  - ${a}`).join('\n')}\n`;
}

const IPV4_TO_PMNIC = "{ type: bitmap, mask: '3f 30', pattern: '02 50 4d 00 00 01 00 00 00 00 00 00 08 00' }";
const add = (at: string, value: string) =>
  `{ at: ${at}, do: oid, device: nic0, oid: OID_PM_ADD_WOL_PATTERN, request: set, value: ${value} }`;
const remove = (at: string, id: number, extra = '') =>
  `{ at: ${at}, do: oid, device: nic0, oid: OID_PM_REMOVE_WOL_PATTERN, request: set, value: ${id}${extra} }`;
/** An IPv4 frame for pmnic's station address (matches IPV4_TO_PMNIC), and one of another EtherType. */
const ipv4Frame = "'02 50 4d 00 00 01 02 00 00 00 00 09 08 00 45 00 00 1c'";
const arpFrame = "'02 50 4d 00 00 01 02 00 00 00 00 09 08 06 00 01 08 00'";

function run(text: string) {
  const s = scenarioWorld('wol.yaml', { drivers: [pmnic], text });
  const out = s.run();
  return { ...out, w: s.world };
}

/** The scenario's OID requests as NDIS completed them: OID, status, PatternId. */
function completions(w: World): string[] {
  return w.trace.events
    .filter((e) => e.what === 'OID request completed')
    .filter((e) => /WOL_PATTERN/.test(String(data(e).Oid)))
    .map(
      (e) =>
        `${data(e).Oid} ${String(data(e).status)}${data(e).PatternId === undefined ? '' : ` id=${data(e).PatternId}`}`,
    );
}

/** What MiniportOidRequest saw of the pattern requests. */
function miniportSaw(w: World): string[] {
  return w.trace.events
    .filter(
      (e) => e.kind === 'call' && e.what === 'MiniportOidRequest' && /WOL_PATTERN/.test(String(data(e).Oid)),
    )
    .map((e) => `${data(e).Oid} id=${data(e).PatternId}`);
}

/** A testWorld action: at `atNs`, a set of `oid` to nic0 with `value` (no timeout). */
function setAt(atNs: number, oid: number, value: unknown, bufferLength?: number) {
  return {
    atNs,
    action: { kind: 'oid' as const, device: 'nic0', oid, set: true, value, timeoutS: 0, bufferLength },
  };
}

test('OID_PM_ADD_WOL_PATTERN: NDIS gives each pattern a PatternId unique on the adapter before MiniportOidRequest sees it, and never gives one twice; the trace and the summary show it (OID_PM_ADD_WOL_PATTERN page)', () => {
  const { result, w } = run(
    pmnicScenario([
      add('1s', IPV4_TO_PMNIC),
      add('1100ms', '{ type: magic-packet }'),
      remove('1200ms', 1),
      add('1300ms', IPV4_TO_PMNIC),
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(miniportSaw(w), [
    'OID_PM_ADD_WOL_PATTERN id=1',
    'OID_PM_ADD_WOL_PATTERN id=2',
    'OID_PM_REMOVE_WOL_PATTERN id=1',
    'OID_PM_ADD_WOL_PATTERN id=3',
  ]);
  assert.deepEqual(completions(w), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=3',
  ]);
  // NDIS's list: what was added and not removed.
  assert.deepEqual(w.summary().adapters[0]!.wolPatterns, [
    { PatternId: 2, type: 'NdisPMWoLPacketMagicPacket' },
    { PatternId: 3, type: 'NdisPMWoLPacketBitmapPattern' },
  ]);
});

test('OID_PM_REMOVE_WOL_PATTERN: a PatternId NDIS does not know is NDIS_STATUS_FILE_NOT_FOUND and a buffer under a ULONG NDIS_STATUS_INVALID_LENGTH, from NDIS: the miniport never sees either (OID_PM_REMOVE_WOL_PATTERN page)', () => {
  const { result, w } = run(
    pmnicScenario([
      add('1s', '{ type: magic-packet }'),
      remove('1100ms', 7),
      remove('1200ms', 1, ', bufferLength: 2'),
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(completions(w), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_FILE_NOT_FOUND id=7',
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_INVALID_LENGTH id=1',
  ]);
  assert.deepEqual(miniportSaw(w), ['OID_PM_ADD_WOL_PATTERN id=1']);
  assert.deepEqual(w.summary().adapters[0]!.wolPatterns, [
    { PatternId: 1, type: 'NdisPMWoLPacketMagicPacket' },
  ]);
});

test("OID_PM_ADD_WOL_PATTERN: pmnic's NIC has four bitmap slots (NumTotalWoLPatterns 4): a fifth bitmap pattern is NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL and NDIS keeps no pattern for it; a magic-packet pattern takes no slot; a mask that compares nothing is NDIS_STATUS_INVALID_PARAMETER (NDIS_PM_CAPABILITIES, OID_PM_ADD_WOL_PATTERN pages)", () => {
  const { result, w } = run(
    pmnicScenario([
      add('1s', IPV4_TO_PMNIC),
      add('1010ms', IPV4_TO_PMNIC),
      add('1020ms', IPV4_TO_PMNIC),
      add('1030ms', IPV4_TO_PMNIC),
      add('1040ms', IPV4_TO_PMNIC),
      add('1050ms', '{ type: magic-packet }'),
      remove('1060ms', 2),
      add('1070ms', IPV4_TO_PMNIC),
      // A mask that compares no byte: pmnic's NIC cannot match it.
      add('1080ms', "{ type: bitmap, mask: '00', pattern: '02' }"),
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(completions(w), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=3',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=4',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL id=5',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=6',
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
    // The slot pattern 2 freed.
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=7',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_INVALID_PARAMETER id=8',
  ]);
  assert.deepEqual(
    w.summary().adapters[0]!.wolPatterns.map((p) => p.PatternId),
    [1, 3, 4, 6, 7],
    'the refused pattern 5 is not in NDIS list',
  );
});

test('OID_PM_ADD_WOL_PATTERN of a type the adapter does not support: NDIS passes it down and pmnic answers NDIS_STATUS_NOT_SUPPORTED (OID_PM_ADD_WOL_PATTERN page); an IPv4 TCP SYN without its IPv4TcpSynParameters is NDIS_STATUS_INVALID_PARAMETER from pmnic', () => {
  // World-level requests with structures built by hand: NdisPMWoLPacketUnspecified, and a
  // SYN whose union member is missing.
  const header = (type: number): NDIS_PM_WOL_PATTERN => ({
    Header: {
      Type: NDIS_OBJECT_TYPE_DEFAULT,
      Revision: NDIS_PM_WOL_PATTERN_REVISION_2,
      Size: NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2,
    },
    Flags: 0,
    Priority: 1,
    WoLPacketType: type,
    PatternId: 0,
    NextWoLPatternOffset: 0,
    WoLPattern: {},
  });
  const w = testWorld({
    drivers: [pmnic],
    devices: [{ name: 'nic0', driver: 'pmnic' }],
    actions: [
      setAt(
        1 * ns.s,
        OID_PM_ADD_WOL_PATTERN,
        header(NdisPMWoLPacketUnspecified),
        NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2,
      ),
      setAt(
        1.5 * ns.s,
        OID_PM_ADD_WOL_PATTERN,
        header(NdisPMWoLPacketIPv4TcpSyn),
        NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2,
      ),
    ],
  });
  const r = w.run(2 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(miniportSaw(w), ['OID_PM_ADD_WOL_PATTERN id=1', 'OID_PM_ADD_WOL_PATTERN id=2']);
  assert.deepEqual(completions(w), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_NOT_SUPPORTED id=1',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_INVALID_PARAMETER id=2',
  ]);
  assert.deepEqual(w.summary().adapters[0]!.wolPatterns, []);
});

/** An Ethernet frame to pmnic from 02:00:00:00:00:09 with this EtherType and payload (hex), as a scenario's data. */
const toPmnic = (etherType: string, payload: string) =>
  `'02 50 4d 00 00 01 02 00 00 00 00 09 ${etherType} ${payload}'`;
/** An IPv4 TCP SYN (IHL 5, flags 0x02) from 192.168.0.9:49152 to 192.168.0.2:`port`, as a frame to pmnic. */
const ipv4Syn = (port: number, flags = '02') =>
  toPmnic(
    '08 00',
    `45 00 00 28 00 01 00 00 40 06 00 00 c0 a8 00 09 c0 a8 00 02 c0 00 ${(port >>> 8).toString(16).padStart(2, '0')} ${(port & 0xff).toString(16).padStart(2, '0')} 00 00 00 00 00 00 00 00 50 ${flags} 20 00 00 00 00 00`,
  );
/** An IPv6 TCP SYN from fe80::9 port 49152 to fe80::2 port 445. */
const ipv6Syn = toPmnic(
  '86 dd',
  `60 00 00 00 00 14 06 40 fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 09 fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 02 c0 00 01 bd 00 00 00 00 00 00 00 00 50 02 20 00 00 00 00 00`,
);
/** An EAPOL (802.1X v2) EAP-Request/Identity, and an EAP-Success. */
const eapolRequestId = toPmnic('88 8e', '02 00 00 05 01 07 00 05 01');
const eapolSuccess = toPmnic('88 8e', '02 00 00 04 03 07 00 04');

/** The PatternId of the wake reason pmnic indicated, or null without one. */
function wokeBy(w: World): unknown {
  const ev = w.trace.events.find(
    (e) => e.what === 'NdisMIndicateStatusEx' && data(e).PatternId !== undefined,
  );
  return ev === undefined ? null : data(ev).PatternId;
}

test('WoL patterns of the protocol types wake pmnic (SimNic wake-up filters, NDIS_PM_WOL_PATTERN and NDIS_PM_CAPABILITIES pages): pmnic advertises the IPv4 and IPv6 TCP SYN and EAPOL request-identifier patterns and writes each into a flexible filter slot; a matching SYN or EAPOL-Request/Identity frame in S3 wakes the system with the PatternId NDIS gave; a SYN to another port, a SYN-ACK, an EAP-Success wake nothing', () => {
  const syn4 =
    "{ type: ipv4-tcp-syn, source: '192.168.0.9', dest: '192.168.0.2', sourcePort: 49152, destPort: 3389 }";
  const syn6 = "{ type: ipv6-tcp-syn, source: 'fe80::9', dest: 'fe80::2', sourcePort: 49152, destPort: 445 }";
  const sleepThen = (frame: string) =>
    run(
      pmnicScenario(
        [
          add('0.1s', syn4),
          add('0.2s', syn6),
          add('0.3s', '{ type: eapol-request-id }'),
          '{ at: 1s, do: sleep, state: S3, for: 10s }',
          `{ at: 2s, do: frame, device: nic0, data: ${frame} }`,
        ],
        '15s',
      ),
    );
  const woke = (frame: string) => {
    const { result, w } = sleepThen(frame);
    assert.equal(result.verdict, 'ok', result.bugCheck?.message);
    assert.deepEqual(completions(w).slice(0, 3), [
      'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
      'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
      'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=3',
    ]);
    const wake = w.trace.events.find((e) => e.what === 'wake');
    return { by: wokeBy(w), at: wake?.t ?? null };
  };
  assert.deepEqual(woke(ipv4Syn(3389)), { by: 1, at: 2 * ns.s });
  assert.deepEqual(woke(ipv6Syn), { by: 2, at: 2 * ns.s });
  assert.deepEqual(woke(eapolRequestId), { by: 3, at: 2 * ns.s });
  // Frames no pattern matches: the system sleeps its 10 s.
  for (const f of [ipv4Syn(80), ipv4Syn(3389, '12'), eapolSuccess]) {
    const r = woke(f);
    assert.equal(r.by, null, f);
    assert.equal(r.at, 11 * ns.s, f);
  }
});

test('examples/pmnic-wol.yaml: a bitmap pattern added from above, programmed into a SimNic slot before D3, wakes the system on a matching frame; the wake reason is NdisWakeReasonPacket with the PatternId NDIS gave (NDIS_PM_WAKE_PACKET page)', () => {
  const s = scenarioWorld('examples/pmnic-wol.yaml', { drivers: [pmnic] });
  const { result, expectation } = s.run();
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(expectation?.problems, []);
  const reasons = s.world.trace.events
    .filter((e) => e.what === 'NdisMIndicateStatusEx' && data(e).StatusCode === 'NDIS_STATUS_PM_WAKE_REASON')
    .map((e) => `${data(e).WakeReason} ${data(e).PatternId}`);
  assert.deepEqual(reasons, ['NdisWakeReasonPacket 1']);
});

test('examples/pmnic-wol-syn.yaml: an IPv4 TCP SYN pattern at the highest priority, four lowest-priority bitmap patterns of which the fourth finds pmnic full (no lower priority to remove), an EAPOL pattern that makes NDIS remove the last-added bitmap pattern; a SYN to another port wakes nothing, the SYN to 3389 wakes the system with PatternId 1 (Adding and Deleting Wake on LAN Patterns, NDIS_PM_WOL_PATTERN pages)', () => {
  const s = scenarioWorld('examples/pmnic-wol-syn.yaml', { drivers: [pmnic] });
  const { result, expectation } = s.run();
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(expectation?.problems, []);
  assert.deepEqual(completions(s.world), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=3',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=4',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL id=5',
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_SUCCESS id=4',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=6',
  ]);
  assert.deepEqual(miniportSaw(s.world).slice(-3), [
    'OID_PM_ADD_WOL_PATTERN id=6',
    'OID_PM_REMOVE_WOL_PATTERN id=4',
    'OID_PM_ADD_WOL_PATTERN id=6',
  ]);
  const wake = s.world.trace.events.find((e) => e.what === 'wake');
  assert.equal(wake?.t, 4 * ns.s);
  assert.equal(wokeBy(s.world), 1);
});

test('WoL patterns: a frame a pattern does not match, or a pattern removed before the sleep, wakes nothing: the system sleeps its length (SimNic wake-up filters, OID_PM_REMOVE_WOL_PATTERN page)', () => {
  const sleep = '{ at: 2s, do: sleep, state: S3, for: 2s }';
  const frame = (bytes: string) => `{ at: 3s, do: frame, device: nic0, data: ${bytes} }`;
  const wakes = (actions: string[]) => {
    const { result, w } = run(pmnicScenario(actions));
    assert.equal(result.verdict, 'ok', result.bugCheck?.message);
    const woke = w.trace.events
      .filter((e) => e.what === 'wake')
      .map((e) => String(data(e).by ?? 'end of sleep'));
    return woke;
  };
  assert.deepEqual(wakes([add('1s', IPV4_TO_PMNIC), sleep, frame(ipv4Frame)]), ['nic0']);
  assert.deepEqual(
    wakes([add('1s', IPV4_TO_PMNIC), sleep, frame(arpFrame)]),
    ['end of sleep'],
    "woken by the sleep's end",
  );
  assert.deepEqual(wakes([add('1s', IPV4_TO_PMNIC), remove('1500ms', 1), sleep, frame(ipv4Frame)]), [
    'end of sleep',
  ]);
});

test('WoL patterns: the OID_PM_PARAMETERS NDIS sends before D3 enables the types of the patterns it holds (bitmap, magic packet) and not of those removed (OID_PM_PARAMETERS, Adding and Deleting Wake on LAN Patterns pages)', () => {
  const seen: number[] = [];
  const drv = scriptedDriver('wol-rec', {
    generalAttributes: wolPatternAttributes,
    oid: (_a, req) => {
      if (req.RequestType === NdisRequestSetInformation && req.DATA.Oid === OID_PM_PARAMETERS)
        seen.push(
          (req.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_PARAMETERS).EnabledWoLPacketPatterns,
        );
      return NDIS_STATUS_SUCCESS;
    },
  });
  const pattern = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1));
  const magic = magicPacketWolPattern();
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'wol-rec', registry: { '*WakeOnMagicPacket': 0 } }],
    actions: [
      setAt(1 * ns.s, OID_PM_ADD_WOL_PATTERN, pattern.pattern, pattern.length),
      setAt(1.5 * ns.s, OID_PM_ADD_WOL_PATTERN, magic.pattern, magic.length),
      { atNs: 2 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } },
      setAt(4 * ns.s, OID_PM_REMOVE_WOL_PATTERN, 1, 4),
      { atNs: 5 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } },
    ],
  });
  const r = w.run(7 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message);
  assert.deepEqual(
    seen,
    [NDIS_PM_WOL_BITMAP_PATTERN_ENABLED | NDIS_PM_WOL_MAGIC_PACKET_ENABLED, NDIS_PM_WOL_MAGIC_PACKET_ENABLED],
    "NDIS's own magic packet off by *WakeOnMagicPacket; the magic-packet pattern 2 enables it all the same; bitmap while pattern 1 is held",
  );
  assert.notEqual(NDIS_PM_WOL_BITMAP_PATTERN_ENABLED, NDIS_PM_WOL_MAGIC_PACKET_ENABLED);
});

test('WoL patterns of the protocol types (NDIS_PM_WOL_PATTERN page): a scenario adds an IPv4 TCP SYN, an IPv6 TCP SYN and an EAPOL request-identifier pattern; MiniportOidRequest sees each with its WoLPattern member (addresses, ports, zeros for what is unspecified), each gets a PatternId, OID_PM_WOL_PATTERN_LIST gives them back, and the OID_PM_PARAMETERS before D3 enables NDIS_PM_WOL_IPV4_TCP_SYN_ENABLED, IPV6 and EAPOL_REQUEST_ID_MESSAGE (NDIS_PM_PARAMETERS page)', () => {
  const rec = wolRecorder('wol-types');
  const text = `seed: 1\nuntil: 5s\ndevices:\n  - { name: nic0, driver: wol-types, registry: { '*WakeOnMagicPacket': 0 } }\nactions:\n${[
    "{ type: ipv4-tcp-syn, source: '192.168.0.9', dest: '192.168.0.2', destPort: 3389, priority: 1 }",
    "{ type: ipv6-tcp-syn, dest: 'fe80::250:4dff:fe00:1', sourcePort: 0, destPort: 445 }",
    '{ type: eapol-request-id }',
  ]
    .map((v, i) => `  - ${add(`${1 + i / 10}s`, v)}`)
    .join(
      '\n',
    )}\n  - { at: 1.5s, do: oid, device: nic0, oid: OID_PM_WOL_PATTERN_LIST }\n  - { at: 2s, do: sleep, state: S3, for: 1s }\n`;
  const s = scenarioWorld('types.yaml', { drivers: [rec.drv], text });
  const { result } = s.run();
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(
    rec.added.map((p) => [p.PatternId, p.WoLPacketType, p.Priority]),
    [
      [1, NdisPMWoLPacketIPv4TcpSyn, 1],
      [2, NdisPMWoLPacketIPv6TcpSyn, NDIS_PM_WOL_PRIORITY_NORMAL],
      [3, NdisPMWoLPacketEapolRequestIdMessage, NDIS_PM_WOL_PRIORITY_NORMAL],
    ],
  );
  assert.deepEqual(rec.added[0]!.WoLPattern, {
    IPv4TcpSynParameters: {
      Flags: 0,
      IPv4SourceAddress: Uint8Array.of(192, 168, 0, 9),
      IPv4DestAddress: Uint8Array.of(192, 168, 0, 2),
      TCPSourcePortNumber: 0,
      TCPDestPortNumber: 3389,
    },
  });
  assert.deepEqual(rec.added[1]!.WoLPattern, {
    IPv6TcpSynParameters: {
      Flags: 0,
      IPv6SourceAddress: new Uint8Array(16),
      IPv6DestAddress: Uint8Array.of(0xfe, 0x80, 0, 0, 0, 0, 0, 0, 2, 0x50, 0x4d, 0xff, 0xfe, 0, 0, 1),
      TCPSourcePortNumber: 0,
      TCPDestPortNumber: 445,
    },
  });
  assert.deepEqual(rec.added[2]!.WoLPattern, { EapolRequestIdMessageParameters: { Flags: 0 } });
  assert.ok(rec.added.every((p) => p.Header.Size === NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_2));
  // NDIS's answer to the list: the three, with their members, 196 bytes apart.
  const list = s.world.trace.events.find(
    (e) => e.what === 'OID request completed' && data(e).Oid === 'OID_PM_WOL_PATTERN_LIST',
  );
  assert.equal(data(list!).PatternIds, '1,2,3');
  assert.deepEqual(
    s.world.summary().adapters[0]!.wolPatterns.map((p) => p.type),
    ['NdisPMWoLPacketIPv4TcpSyn', 'NdisPMWoLPacketIPv6TcpSyn', 'NdisPMWoLPacketEapolRequestIdMessage'],
  );
  assert.deepEqual(rec.enabled, [
    NDIS_PM_WOL_IPV4_TCP_SYN_ENABLED |
      NDIS_PM_WOL_IPV6_TCP_SYN_ENABLED |
      NDIS_PM_WOL_EAPOL_REQUEST_ID_MESSAGE_ENABLED,
  ]);
  // The values of ntddndis.h (the WDI_TLV_PM_CAPABILITIES page lists them): EAPOL is bit 16.
  assert.deepEqual(
    [
      NDIS_PM_WOL_IPV4_TCP_SYN_ENABLED,
      NDIS_PM_WOL_IPV6_TCP_SYN_ENABLED,
      NDIS_PM_WOL_EAPOL_REQUEST_ID_MESSAGE_ENABLED,
    ],
    [0x4, 0x8, 0x10000],
  );
});

test('OID_PM_ADD_WOL_PATTERN once NDIS has begun to take the adapter to a low-power state: NDIS fails it (NDIS_STATUS_FAILURE) and the miniport never sees it (OID_PM_ADD_WOL_PATTERN page)', () => {
  // The sleep begins at 2 s; the add comes while NDIS is on its way down.
  const { result, w } = run(
    pmnicScenario(['{ at: 2s, do: sleep, state: S3, for: 1s }', add('2000001us', '{ type: magic-packet }')]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(completions(w), ['OID_PM_ADD_WOL_PATTERN NDIS_STATUS_FAILURE']);
  assert.deepEqual(miniportSaw(w), []);
});

test('NdisOidComplete (Driver Verifier): OID_PM_REMOVE_WOL_PATTERN may complete only with SUCCESS, NOT_ACCEPTED or REQUEST_ABORTED; a miniport that fails it breaks the rule', () => {
  const drv = scriptedDriver('wol-remove-fails', {
    oid: (_a, req) =>
      req.DATA.Oid === OID_PM_REMOVE_WOL_PATTERN ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS,
  });
  const pattern = bitmapWolPattern(Uint8Array.of(1), Uint8Array.of(2));
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'wol-remove-fails' }],
    options: { verifier: 'collect' },
    actions: [
      setAt(1 * ns.s, OID_PM_ADD_WOL_PATTERN, pattern.pattern, pattern.length),
      setAt(2 * ns.s, OID_PM_REMOVE_WOL_PATTERN, 1),
    ],
  });
  const r = w.run(3 * ns.s);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisOidComplete'],
  );
  assert.match(r.violations[0]!.message, /OID_PM_REMOVE_WOL_PATTERN completed with NDIS_STATUS_FAILURE/);
  // The failed removal leaves the pattern in NDIS's list.
  assert.deepEqual(
    w.summary().adapters[0]!.wolPatterns.map((p) => p.PatternId),
    [1],
  );
});

test('WoL patterns: two runs of examples/pmnic-wol.yaml give the same trace, line for line (determinism: PatternIds come from a per-adapter count, not from the clock or a draw)', () => {
  const text = readFileSync('examples/pmnic-wol.yaml', 'utf8');
  const once = () => {
    const s = scenarioWorld('pmnic-wol.yaml', { drivers: [pmnic], text });
    s.run();
    return s.world.trace.events.map((e) => JSON.stringify(e));
  };
  const a = once();
  assert.ok(a.some((e) => e.includes('"PatternId":1')));
  assert.deepEqual(once(), a);
});

test("WoL patterns: a PnP stop halts pmnic, and NDIS's list of the adapter starts again empty when it is initialized again; PatternIds go on counting (docs/decisions.md, R1.8)", () => {
  const { result, w } = run(
    pmnicScenario([
      add('1s', IPV4_TO_PMNIC),
      '{ at: 2s, do: stop, device: nic0 }',
      add('3s', '{ type: magic-packet }'),
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.ok(
    w.trace.events.some((e) => e.what === 'MiniportHaltEx'),
    'the stop halted the adapter',
  );
  assert.deepEqual(w.summary().adapters[0]!.wolPatterns, [
    { PatternId: 2, type: 'NdisPMWoLPacketMagicPacket' },
  ]);
});

test("OID_PM_WOL_PATTERN_LIST: NDIS answers the query from its list, the miniport never sees it: none gives SUCCESS with BytesWritten 0; the patterns one after the other (196 bytes each and a bitmap's mask and pattern), BUFFER_TOO_SHORT with BytesNeeded for a short buffer (OID_PM_WOL_PATTERN_LIST page)", () => {
  const list = (at: string, extra = '') =>
    `{ at: ${at}, do: oid, device: nic0, oid: OID_PM_WOL_PATTERN_LIST${extra} }`;
  const { result, w } = run(
    pmnicScenario([
      list('900ms'),
      add('1s', '{ type: magic-packet }'),
      add('1100ms', IPV4_TO_PMNIC),
      list('1200ms'),
      list('1300ms', ', bufferLength: 8'),
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  const answers = w.trace.events
    .filter((e) => e.what === 'OID request completed' && data(e).Oid === 'OID_PM_WOL_PATTERN_LIST')
    .map((e) => {
      const d = data(e);
      return `${d.status} written=${d.BytesWritten ?? 0} needed=${d.BytesNeeded ?? '-'} ids=${d.PatternIds ?? '-'}`;
    });
  // 196 + 2 mask bytes + 14 pattern bytes = 212 for the bitmap pattern, after the 196 of the magic packet.
  assert.deepEqual(answers, [
    'NDIS_STATUS_SUCCESS written=0 needed=- ids=-',
    'NDIS_STATUS_SUCCESS written=408 needed=- ids=1,2',
    'NDIS_STATUS_BUFFER_TOO_SHORT written=0 needed=408 ids=-',
  ]);
  assert.ok(
    !w.trace.events.some(
      (e) =>
        e.kind === 'call' && e.what === 'MiniportOidRequest' && data(e).Oid === 'OID_PM_WOL_PATTERN_LIST',
    ),
    'NDIS handles the query for miniport drivers',
  );
  // The structures: NextWoLPatternOffset from the buffer's start, 0 on the last; PatternIds NDIS gave.
  const q = oidRequest(NdisRequestQueryInformation, OID_PM_WOL_PATTERN_LIST, null, 4096);
  assert.equal(wolPatternList(w.ndis.adapters[0]!, q), NDIS_STATUS_SUCCESS);
  const got = q.DATA.QUERY_INFORMATION.InformationBuffer as NDIS_PM_WOL_PATTERN[];
  assert.deepEqual(
    got.map((p) => [p.PatternId, p.NextWoLPatternOffset, p.WoLPattern.WoLBitMapPattern?.MaskSize ?? null]),
    [
      [1, 196, null],
      [2, 0, 2],
    ],
  );
});

/** A scripted miniport with bitmap and magic-packet WoL that records the pattern requests it sees and the EnabledWoLPacketPatterns NDIS sets before D3. */
/**
 * A scripted miniport that takes every WoL pattern request (or answers an add with
 * `addStatus`), recording what it saw: 'add'/'remove', the patterns added (copies), and
 * the EnabledWoLPacketPatterns of each OID_PM_PARAMETERS.
 */
function wolRecorder(
  name: string,
  minor = 30,
  addStatus: (p: NDIS_PM_WOL_PATTERN) => number = () => NDIS_STATUS_SUCCESS,
) {
  const saw: string[] = [];
  const enabled: number[] = [];
  const added: NDIS_PM_WOL_PATTERN[] = [];
  const drv = scriptedDriver(name, {
    generalAttributes: wolPatternAttributes,
    characteristics: (c) => {
      c.MinorNdisVersion = minor;
    },
    oid: (_a, req) => {
      if (req.RequestType === NdisRequestSetInformation && req.DATA.Oid === OID_PM_PARAMETERS)
        enabled.push(
          (req.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_PARAMETERS).EnabledWoLPacketPatterns,
        );
      if (req.DATA.Oid === OID_PM_ADD_WOL_PATTERN || req.DATA.Oid === OID_PM_REMOVE_WOL_PATTERN)
        saw.push(req.DATA.Oid === OID_PM_ADD_WOL_PATTERN ? 'add' : 'remove');
      if (req.DATA.Oid === OID_PM_ADD_WOL_PATTERN && req.RequestType === NdisRequestSetInformation) {
        const p = req.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_WOL_PATTERN;
        added.push(structuredClone(p));
        return addStatus(p);
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  return { drv, saw, enabled, added };
}

test('OID_PM_ADD_WOL_PATTERN that NDIS fails itself (OID_PM_ADD_WOL_PATTERN, NDIS_PM_WOL_PATTERN pages): to a miniport older than NDIS 6.20 NDIS_STATUS_NOT_SUPPORTED; a buffer shorter than an NDIS_PM_WOL_PATTERN NDIS_STATUS_BUFFER_TOO_SHORT with BytesNeeded; a buffer with no NDIS_PM_WOL_PATTERN NDIS_STATUS_INVALID_PARAMETER; the miniport sees none of them and NDIS keeps no pattern', () => {
  const pattern = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1));
  const runOn = (minor: number, value: unknown, bufferLength: number) => {
    const rec = wolRecorder(`wol-ndis-${minor}`, minor);
    const w = testWorld({
      drivers: [rec.drv],
      devices: [{ name: 'nic0', driver: rec.drv.name }],
      actions: [setAt(1 * ns.s, OID_PM_ADD_WOL_PATTERN, value, bufferLength)],
    });
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'ok', r.bugCheck?.message);
    const done = w.trace.events
      .filter((e) => e.what === 'OID request completed' && data(e).Oid === 'OID_PM_ADD_WOL_PATTERN')
      .map((e) => `${String(data(e).status)} needed=${data(e).BytesNeeded ?? '-'}`);
    return { done, saw: rec.saw, kept: w.summary().adapters[0]!.wolPatterns };
  };
  // NDIS 6.20 takes the same pattern: the refusals below are NDIS's, not the driver's.
  assert.deepEqual(runOn(20, pattern.pattern, pattern.length), {
    done: ['NDIS_STATUS_SUCCESS needed=-'],
    saw: ['add'],
    kept: [{ PatternId: 1, type: 'NdisPMWoLPacketBitmapPattern' }],
  });
  assert.deepEqual(runOn(1, pattern.pattern, pattern.length), {
    done: ['NDIS_STATUS_NOT_SUPPORTED needed=-'],
    saw: [],
    kept: [],
  });
  assert.deepEqual(runOn(30, pattern.pattern, 8), {
    done: [`NDIS_STATUS_BUFFER_TOO_SHORT needed=${NDIS_SIZEOF_NDIS_PM_WOL_PATTERN_REVISION_1}`],
    saw: [],
    kept: [],
  });
  assert.deepEqual(runOn(30, null, pattern.length), {
    done: ['NDIS_STATUS_INVALID_PARAMETER needed=-'],
    saw: [],
    kept: [],
  });
});

test('OID_PM_WOL_PATTERN_LIST: each NDIS_PM_WOL_PATTERN starts at a 4-byte boundary, so a bitmap pattern of 203 bytes (196, a 1-byte mask, a 6-byte pattern) puts the next at offset 204 (OID_PM_WOL_PATTERN_LIST page)', () => {
  const { result, w } = run(
    pmnicScenario([
      add('1s', "{ type: bitmap, mask: '3f', pattern: '02 50 4d 00 00 01' }"),
      add('1100ms', '{ type: magic-packet }'),
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  const q = oidRequest(NdisRequestQueryInformation, OID_PM_WOL_PATTERN_LIST, null, 4096);
  assert.equal(wolPatternList(w.ndis.adapters[0]!, q), NDIS_STATUS_SUCCESS);
  const got = q.DATA.QUERY_INFORMATION.InformationBuffer as NDIS_PM_WOL_PATTERN[];
  assert.deepEqual(
    got.map((p) => [p.PatternId, p.NextWoLPatternOffset]),
    [
      [1, 204],
      [2, 0],
    ],
  );
  assert.equal(q.DATA.QUERY_INFORMATION.BytesWritten, 204 + 196);
  // One byte short of the last structure: BUFFER_TOO_SHORT, 400 needed.
  const short = oidRequest(NdisRequestQueryInformation, OID_PM_WOL_PATTERN_LIST, null, 399);
  assert.equal(wolPatternList(w.ndis.adapters[0]!, short), NDIS_STATUS_BUFFER_TOO_SHORT);
  assert.equal(short.DATA.QUERY_INFORMATION.BytesNeeded, 400);
});

test('WoL patterns: a pattern a protocol added no longer enables its type once the protocol is unbound: the OID_PM_PARAMETERS NDIS sends before D3 counts the patterns whose owner is still there (docs/decisions.md, Adding and Deleting Wake on LAN Patterns page)', () => {
  const rec = wolRecorder('wol-owner');
  const p = { handle: null as NDIS_HANDLE | null, unloadable: true };
  const proto = bindingProtocol('wol-proto', p, 30);
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(rec.drv);
  w.addDriver(proto);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: rec.drv.name, registry: { '*WakeOnMagicPacket': 0 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  const pattern = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1));
  const statuses: number[] = [];
  protocolStep(w, 500 * ns.ms, 'wol-proto', () => {
    const req = oidRequest(
      NdisRequestSetInformation,
      OID_PM_ADD_WOL_PATTERN,
      pattern.pattern,
      pattern.length,
    );
    statuses.push(NdisOidRequest(p.handle!, req));
  });
  w.at(1 * ns.s, { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s });
  w.at(3 * ns.s, { kind: 'stop-protocol', driver: proto.name });
  w.at(4 * ns.s, { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s });
  const r = w.run(6 * ns.s);
  // It closes with its pattern still added: the one rule it breaks (test/wol-filter.test.ts).
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_ProtocolWolPatterns'],
  );
  // The miniport's queue: NDIS pends the request and completes it to ProtocolOidRequestComplete.
  assert.deepEqual(statuses, [NDIS_STATUS_PENDING]);
  assert.deepEqual(rec.saw, ['add']);
  assert.deepEqual(
    rec.enabled,
    [NDIS_PM_WOL_BITMAP_PATTERN_ENABLED, 0],
    'bitmap while wol-proto is bound; nothing once it is gone (magic packet off by *WakeOnMagicPacket)',
  );
});

test('OID_PM_ADD_WOL_PATTERN page (NDIS sets PatternId to a unique value before the request goes down): the same NDIS_PM_WOL_PATTERN buffer added again after its add completed, as a driver with one static buffer does, gets a new PatternId, and NDIS keeps both patterns', () => {
  const rec = wolRecorder('wol-same-buffer');
  const pattern = bitmapWolPattern(Uint8Array.of(0x3f), Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1));
  const w = testWorld({
    drivers: [rec.drv],
    devices: [{ name: 'nic0', driver: rec.drv.name }],
    actions: [
      setAt(1 * ns.s, OID_PM_ADD_WOL_PATTERN, pattern.pattern, pattern.length),
      setAt(2 * ns.s, OID_PM_ADD_WOL_PATTERN, pattern.pattern, pattern.length),
      setAt(3 * ns.s, OID_PM_REMOVE_WOL_PATTERN, 1),
      setAt(4 * ns.s, OID_PM_ADD_WOL_PATTERN, pattern.pattern, pattern.length),
    ],
  });
  const r = w.run(5 * ns.s);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(miniportSaw(w), [
    'OID_PM_ADD_WOL_PATTERN id=1',
    'OID_PM_ADD_WOL_PATTERN id=2',
    'OID_PM_REMOVE_WOL_PATTERN id=1',
    'OID_PM_ADD_WOL_PATTERN id=3',
  ]);
  assert.deepEqual(
    w.summary().adapters[0]!.wolPatterns.map((p) => p.PatternId),
    [2, 3],
  );
});

test("WoL patterns: before NDIS halts the adapter (a PnP stop) it removes the patterns applications added: an OID_PM_REMOVE_WOL_PATTERN of its own for each reaches MiniportOidRequest, and the halt waits for it (Adding and Deleting Wake on LAN Patterns: 'NDIS deletes all of the WOL patterns that an application added ... before it halts the network adapter')", () => {
  const { result, w } = run(
    pmnicScenario([
      add('1s', IPV4_TO_PMNIC),
      add('1100ms', '{ type: magic-packet }'),
      '{ at: 2s, do: stop, device: nic0 }',
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  const ev = w.trace.events;
  const removals = ev
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => e.what === 'MiniportOidRequest' && data(e).Oid === 'OID_PM_REMOVE_WOL_PATTERN');
  assert.deepEqual(
    removals.map(({ e }) => data(e).PatternId),
    [1, 2],
  );
  const halt = ev.findIndex((e) => e.what === 'MiniportHaltEx');
  assert.ok(halt > 0, 'the stop halted the adapter');
  assert.ok(removals[1]!.i < halt, 'both removals reached the miniport before MiniportHaltEx');
  const waited = ev.findIndex((e) => e.what === "halt waits for the removal of applications' WoL patterns");
  assert.ok(waited > 0 && waited < removals[0]!.i, 'the halt waited for them');
  // pmnic took both: NDIS's list is empty, and stays so through the start that follows.
  assert.deepEqual(w.summary().adapters[0]!.wolPatterns, []);
});

test("WoL patterns: a surprise removal halts pmnic too, and NDIS's removal of an application's pattern still goes down before MiniportHaltEx; the run ends without a rule broken, and the pattern whose removal pmnic refused is gone with the halted adapter (Adding and Deleting Wake on LAN Patterns, docs/decisions.md)", () => {
  const { result, w } = run(
    pmnicScenario([add('1s', '{ type: magic-packet }'), '{ at: 2s, do: surprise-remove, device: nic0 }']),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  const ev = w.trace.events;
  const removal = ev.findIndex(
    (e) =>
      e.what === 'MiniportOidRequest' &&
      data(e).Oid === 'OID_PM_REMOVE_WOL_PATTERN' &&
      data(e).PatternId === 1,
  );
  const halt = ev.findIndex((e) => e.what === 'MiniportHaltEx');
  assert.ok(removal > 0 && halt > removal, `removal at ${removal}, halt at ${halt}`);
  // pmnic refuses the removal (R5.7: its NIC is gone), yet the pattern went with the
  // halted adapter: the summary lists none (it used to list PatternId 1).
  assert.deepEqual(data(ev[removal + 1]!), { result: 'NDIS_STATUS_NOT_ACCEPTED', adapter: 'nic0' });
  assert.deepEqual(w.summary().adapters[0]!.wolPatterns, []);
  assert.equal(w.ndis.adapters[0]!.wolPatterns.size, 0);
});

/**
 * A scripted miniport with room for `capacity` patterns (of any type): an add beyond it is
 * NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL. `seen`: what MiniportOidRequest got, in order.
 */
function wolTable(name: string, capacity: number) {
  const held = new Set<number>();
  const seen: string[] = [];
  const drv = scriptedDriver(name, {
    generalAttributes: wolPatternAttributes,
    oid: (_a, req) => {
      if (req.RequestType !== NdisRequestSetInformation) return NDIS_STATUS_SUCCESS;
      const d = req.DATA.SET_INFORMATION;
      if (d.Oid === OID_PM_ADD_WOL_PATTERN) {
        const id = (d.InformationBuffer as NDIS_PM_WOL_PATTERN).PatternId;
        if (held.size >= capacity) {
          seen.push(`add ${id} full`);
          return NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL;
        }
        held.add(id);
        seen.push(`add ${id}`);
      } else if (d.Oid === OID_PM_REMOVE_WOL_PATTERN) {
        held.delete(d.InformationBuffer as number);
        seen.push(`remove ${d.InformationBuffer}`);
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  return { drv, seen };
}

test('WoL pattern priorities (Adding and Deleting Wake on LAN Patterns, NDIS_STATUS_PM_WOL_PATTERN_REJECTED pages): after NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL NDIS removes the lowest-priority pattern with an OID_PM_REMOVE_WOL_PATTERN of its own, indicates NDIS_STATUS_PM_WOL_PATTERN_REJECTED (a ULONG PatternId) to the binding that added it alone, and adds again; the requester sees one SUCCESS. No pattern of lower priority: the LIST_FULL goes back and nothing is removed; option wolPatternEviction: off never removes', () => {
  const runWith = (eviction?: 'off') => {
    const table = wolTable(`wol-table-${eviction ?? 'on'}`, 2);
    const got: [number, unknown, number][] = [];
    const others: number[] = [];
    const p = { handle: null as NDIS_HANDLE | null };
    const proto = bindingProtocol('wol-owner-proto', p, 30, {
      StatusHandlerEx: (_ctx, ind) => {
        if (ind.StatusCode === NDIS_STATUS_PM_WOL_PATTERN_REJECTED)
          got.push([ind.StatusCode, ind.StatusBuffer, ind.StatusBufferSize]);
      },
    });
    const other = bindingProtocol('wol-other-proto', { handle: null }, 30, {
      StatusHandlerEx: (_ctx, ind) => {
        if (ind.StatusCode === NDIS_STATUS_PM_WOL_PATTERN_REJECTED) others.push(ind.StatusCode);
      },
    });
    const w = new World({
      seed: 1,
      verifier: 'collect',
      ...(eviction ? { ndis: { wolPatternEviction: eviction } } : {}),
    });
    w.addDriver(table.drv);
    w.addDriver(proto);
    w.addDriver(other);
    w.addProtocolDriver(proto.name);
    w.addProtocolDriver(other.name);
    w.addDevice({ name: 'nic0', driver: table.drv.name });
    w.at(0, { kind: 'start', device: 'nic0' });
    const low = bitmapWolPattern(
      Uint8Array.of(0x3f),
      Uint8Array.of(2, 0x50, 0x4d, 0, 0, 1),
      NDIS_PM_WOL_PRIORITY_LOWEST,
    );
    protocolStep(w, 500 * ns.ms, proto.name, () => {
      NdisOidRequest(
        p.handle!,
        oidRequest(NdisRequestSetInformation, OID_PM_ADD_WOL_PATTERN, low.pattern, low.length),
      );
    });
    const normal = magicPacketWolPattern();
    const high = magicPacketWolPattern(NDIS_PM_WOL_PRIORITY_HIGHEST);
    const normal2 = magicPacketWolPattern();
    w.at(600 * ns.ms, setAt(0, OID_PM_ADD_WOL_PATTERN, normal.pattern, normal.length).action);
    w.at(1 * ns.s, setAt(0, OID_PM_ADD_WOL_PATTERN, high.pattern, high.length).action);
    w.at(1.5 * ns.s, setAt(0, OID_PM_ADD_WOL_PATTERN, normal2.pattern, normal2.length).action);
    const r = w.run(2 * ns.s);
    assert.equal(r.verdict, 'ok', r.bugCheck?.message);
    return { table, got, others, w };
  };
  const on = runWith();
  assert.deepEqual(on.table.seen, ['add 1', 'add 2', 'add 3 full', 'remove 1', 'add 3', 'add 4 full']);
  assert.deepEqual(on.got, [[NDIS_STATUS_PM_WOL_PATTERN_REJECTED, 1, 4]]);
  assert.deepEqual(on.others, [], 'only the binding that added the pattern hears of it');
  assert.deepEqual(completions(on.w), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
    // NDIS's own removal of the lowest-priority pattern, completed before the add goes again.
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=3',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL id=4',
  ]);
  assert.deepEqual(
    on.w.summary().adapters[0]!.wolPatterns.map((x) => x.PatternId),
    [2, 3],
  );
  const off = runWith('off');
  assert.deepEqual(off.table.seen, ['add 1', 'add 2', 'add 3 full', 'add 4 full']);
  assert.deepEqual(off.got, []);
  assert.deepEqual(
    off.w.summary().adapters[0]!.wolPatterns.map((x) => x.PatternId),
    [1, 2],
  );
});

test('WoL pattern priorities, option wolPatternEviction (the page does not say whether NDIS tries again after a second LIST_FULL): pmnic has four bitmap slots and a magic packet takes none; a highest-priority bitmap pattern evicts the lowest-priority magic-packet pattern, which frees no slot: once (default) the add ends with LIST_FULL, repeat removes the last-added of the normal bitmap patterns too and the add succeeds', () => {
  const bitmap = (priority = '') =>
    `{ type: bitmap, mask: '3f', pattern: '02 50 4d 00 00 01'${priority === '' ? '' : `, priority: ${priority}`} }`;
  const actions = [
    ...[1, 2, 3, 4].map((i) => add(`${i / 10}s`, bitmap())),
    add('0.5s', '{ type: magic-packet, priority: 0xFFFFFFFF }'),
    add('1s', bitmap('1')),
  ];
  const runWith = (mode: string) => {
    const text = pmnicScenario(actions).replace(
      'seed: 1\n',
      `seed: 1\nndis: { wolPatternEviction: ${mode} }\n`,
    );
    return run(text);
  };
  const once = runWith('once');
  assert.equal(once.result.verdict, 'ok', once.result.bugCheck?.message);
  assert.deepEqual(miniportSaw(once.w).slice(5), [
    'OID_PM_ADD_WOL_PATTERN id=6',
    'OID_PM_REMOVE_WOL_PATTERN id=5',
    'OID_PM_ADD_WOL_PATTERN id=6',
  ]);
  assert.deepEqual(completions(once.w).slice(-1), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_PM_WOL_PATTERN_LIST_FULL id=6',
  ]);
  assert.deepEqual(
    once.w.summary().adapters[0]!.wolPatterns.map((x) => x.PatternId),
    [1, 2, 3, 4],
  );
  const repeat = runWith('repeat');
  assert.deepEqual(miniportSaw(repeat.w).slice(5), [
    'OID_PM_ADD_WOL_PATTERN id=6',
    'OID_PM_REMOVE_WOL_PATTERN id=5',
    'OID_PM_ADD_WOL_PATTERN id=6',
    'OID_PM_REMOVE_WOL_PATTERN id=4',
    'OID_PM_ADD_WOL_PATTERN id=6',
  ]);
  assert.deepEqual(completions(repeat.w).slice(-1), ['OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=6']);
  assert.deepEqual(
    repeat.w.summary().adapters[0]!.wolPatterns.map((x) => x.PatternId),
    [1, 2, 3, 6],
  );
  // An application's pattern has no binding to tell: the trace says so.
  assert.ok(
    repeat.w.trace.events.some(
      (e) => /WoL pattern rejected: an application's/.test(e.what) && data(e).PatternId === 4,
    ),
  );
});

test('WoL patterns: a TCP SYN pattern with its source left unspecified (zeros) matches only a SYN from 0.0.0.0 port 0 unless an overlying driver enabled NDIS_PM_WOL_IPV4_DEST_ADDR_WILDCARD_ENABLED in its OID_PM_PARAMETERS; with it pmnic leaves the zeros out and any source wakes the system (NDIS_PM_CAPABILITIES, NDIS_PM_PARAMETERS and NDIS_PM_WOL_PATTERN pages)', () => {
  const hex = (t: string): Uint8Array =>
    Uint8Array.from(t.replace(/'/g, '').trim().split(/\s+/), (x) => Number.parseInt(x, 16));
  const wakeAt = (wildcard: boolean) => {
    const p = { handle: null as NDIS_HANDLE | null };
    const proto = bindingProtocol('wildcard-proto', p, 30);
    const w = new World({ seed: 1, verifier: 'collect', trace: true });
    w.addDriver(pmnic);
    w.addDriver(proto);
    w.addProtocolDriver(proto.name);
    w.addDevice({ name: 'nic0', driver: 'pmnic' });
    w.at(0, { kind: 'start', device: 'nic0' });
    if (wildcard)
      protocolStep(w, 500 * ns.ms, proto.name, () => {
        const pm: NDIS_PM_PARAMETERS = {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_PARAMETERS_REVISION_2 },
          EnabledWoLPacketPatterns: NDIS_PM_WOL_IPV4_DEST_ADDR_WILDCARD_ENABLED,
          EnabledProtocolOffloads: 0,
          WakeUpFlags: 0,
          MediaSpecificWakeUpEvents: 0,
        };
        NdisOidRequest(
          p.handle!,
          oidRequest(
            NdisRequestSetInformation,
            OID_PM_PARAMETERS,
            pm,
            NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2,
          ),
        );
      });
    const syn = ipv4TcpSynWolPattern(new Uint8Array(4), Uint8Array.of(192, 168, 0, 2), 0, 3389);
    w.at(600 * ns.ms, setAt(0, OID_PM_ADD_WOL_PATTERN, syn.pattern, syn.length).action);
    w.at(1 * ns.s, { kind: 'sleep', state: 'S3', durationNs: 10 * ns.s });
    w.at(2 * ns.s, { kind: 'frame', device: 'nic0', data: hex(ipv4Syn(3389)) });
    const r = w.run(15 * ns.s);
    assert.equal(r.verdict, 'ok', r.bugCheck?.message);
    return { at: w.trace.events.find((e) => e.what === 'wake')?.t, by: wokeBy(w) };
  };
  assert.deepEqual(wakeAt(false), { at: 11 * ns.s, by: null });
  assert.deepEqual(wakeAt(true), { at: 2 * ns.s, by: 1 });
});

test("WoL patterns: NDIS's own OID_PM_REMOVE_WOL_PATTERN before a halt has a completion line in the trace, as the application's requests have: the status by name, BytesRead and the PatternId, each before MiniportHaltEx (Adding and Deleting Wake on LAN Patterns page)", () => {
  const { result, w } = run(
    pmnicScenario([
      add('1s', IPV4_TO_PMNIC),
      add('1100ms', '{ type: magic-packet }'),
      '{ at: 2s, do: stop, device: nic0 }',
    ]),
  );
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(completions(w), [
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_ADD_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
    // NDIS's own, before the halt.
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_SUCCESS id=1',
    'OID_PM_REMOVE_WOL_PATTERN NDIS_STATUS_SUCCESS id=2',
  ]);
  const ev = w.trace.events;
  const halt = ev.findIndex((e) => e.what === 'MiniportHaltEx');
  const done = ev
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => e.what === 'OID request completed' && data(e).Oid === 'OID_PM_REMOVE_WOL_PATTERN');
  assert.ok(done.length === 2 && done.every(({ i }) => i < halt), 'both completed before MiniportHaltEx');
  assert.deepEqual(
    done.map(({ e }) => [data(e).adapter, data(e).BytesRead]),
    [
      ['nic0', 4],
      ['nic0', 4],
    ],
  );
});
