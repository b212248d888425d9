// trialpm: a PCI miniport with power management ported to ndis-sim (examples/pmnic.ts),
// its power-management mistakes and the rules that catch them, and the gaps the port
// found in ndis-sim, each with a test here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { pmnic, pmnicBugs } from '../examples/pmnic.ts';
import { pmHooks, rxNbl, rxPool, setPowerState, ssHooks, workItem } from '../src/drivers/buggy/kit.ts';
import { statusIndication } from '../src/drivers/common.ts';
import {
  type DriverModule,
  type NDIS_HANDLE,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_PM_CAPABILITIES_REVISION_2,
  type NDIS_PM_PARAMETERS,
  NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED,
  NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED,
  NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_PM_WAKE_REASON,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisMGetBusData,
  NdisMIdleNotificationConfirm,
  NdisMIndicateReceiveNetBufferLists,
  NdisMIndicateStatusEx,
  NdisMOidRequestComplete,
  NdisMSetBusData,
  NdisQueueIoWorkItem,
  NdisReadRegisterUlong,
  NdisRequestSetInformation,
  NdisWakeReasonMediaConnect,
  NdisWakeReasonPacket,
  NdisWriteRegisterUlong,
  type NET_BUFFER_LIST,
  OID_PM_PARAMETERS,
  OID_PNP_QUERY_POWER,
  OID_PNP_SET_POWER,
  PCI_WHICHSPACE_CONFIG,
  SimNicFlxdCompare,
  SimNicPciConfig,
  SimNicReg,
  SimNicWake,
  simNicMagicPacket,
} from '../src/index.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { exploreScenario, scenarioWorld } from '../src/scenario.ts';
import type { World } from '../src/world.ts';
import { after, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const drivers = [pmnic, ...pmnicBugs];
const example = readFileSync('examples/pmnic.yaml', 'utf8');
/** The example without its expect: block, for the bug variants. */
const base = example.replace(/expect:[\s\S]*$/, '');

const timelineLines = (w: World): string[] => formatTimeline(w.trace.events, { color: false });

/** An event's own fields (its arguments, its result). */
const data = (e: { data?: Record<string, unknown> }): Record<string, unknown> => e.data ?? {};

test('examples/pmnic.yaml: sleep and resume, selective suspend twice, then a resume the NIC never finishes: NdisMRemoveMiniport from a work item, Code 43 (R5.8, R5.21)', () => {
  const s = scenarioWorld('examples/pmnic.yaml', { drivers: [pmnic] });
  const { result, expectation } = s.run();
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(expectation?.problems, [], 'the example runs as its expect: says');
  const w = s.world;
  // The power OIDs the miniport saw, in order.
  const oids = w.trace.events
    .filter((e) => e.kind === 'call' && e.what === 'MiniportOidRequest')
    .map((e) => String(data(e).Oid))
    .filter((o) => /^OID_P/.test(o));
  assert.deepEqual(
    oids,
    [
      'OID_PNP_QUERY_POWER', // the first sleep
      'OID_PM_PARAMETERS',
      'OID_PNP_SET_POWER',
      'OID_PNP_SET_POWER', // its resume
      'OID_PM_PARAMETERS', // selective suspend, woken by a send
      'OID_PNP_SET_POWER',
      'OID_PNP_SET_POWER',
      'OID_PM_PARAMETERS', // selective suspend, woken by the device's wake signal
      'OID_PNP_SET_POWER',
      'OID_PNP_SET_POWER',
      'OID_PNP_QUERY_POWER', // the second sleep
      'OID_PM_PARAMETERS',
      'OID_PNP_SET_POWER',
      'OID_PNP_SET_POWER', // the resume the NIC never finishes
    ],
    'the power OIDs of two sleeps and two selective suspends',
  );
  // The last OID_PNP_SET_POWER(D0) pends while the driver polls the dark NIC, and
  // completes with SUCCESS before the work item gives up.
  const call = w.trace.events.findLastIndex(
    (e) => e.what === 'MiniportOidRequest' && e.kind === 'call' && data(e).Oid === 'OID_PNP_SET_POWER',
  );
  const last = w.trace.events.findIndex(
    (e, i) => i > call && e.what === 'MiniportOidRequest' && e.kind === 'return',
  );
  assert.equal(data(w.trace.events[last]!).result, 'NDIS_STATUS_PENDING');
  const completed = w.trace.events.findIndex(
    (e, i) => i > last && e.what === 'NdisMOidRequestComplete' && data(e).Status === 'NDIS_STATUS_SUCCESS',
  );
  const removed = w.trace.events.findIndex((e) => e.what === 'NdisMRemoveMiniport');
  assert.ok(
    completed > last && removed > completed,
    'OID_PNP_SET_POWER(D0) completes, then NdisMRemoveMiniport',
  );
  const item = w.trace.events.findLastIndex((e, i) => i < removed && e.kind === 'call');
  assert.equal(
    w.trace.events[item]!.what,
    'NdisIoWorkItemFunction',
    'NdisMRemoveMiniport comes from the work item',
  );
  assert.ok(
    w.trace.events.some((e) => e.what === 'wake signal ignored: not selectively suspended') === false,
    'the wake signal comes while the adapter is selectively suspended',
  );
  // A readable timeline: the data path folded away.
  const lines = timelineLines(w);
  assert.ok(lines.length < 320, `${lines.length} timeline lines`);
});

/** Runs `driver` in the example's scenario, changed by `edit`; the first violation. */
function runBug(driver: string, edit: (text: string) => string = (t) => t) {
  const text = edit(base.replace('driver: pmnic\n', `driver: ${driver}\n`));
  const s = scenarioWorld(`${driver}.yaml`, { drivers, text, trace: false });
  const { result } = s.run();
  return { result, first: result.bugCheck ?? result.violations[0] ?? null };
}

/** With traffic, and a NIC that hangs just before the first sleep: it holds the sends. */
const busySleep = (t: string) =>
  t
    .replace('  - name: tcpip\n', '  - name: tcpip\n    traffic: { rate: 1000 }\n')
    .replace('faults: {', 'faults: { hangAt: 1990ms,');

const bugCases: [string, string, RegExp, ((t: string) => string)?][] = [
  [
    'pmnic-timer-in-d3',
    'NdisSim_SetPowerTimerSet',
    /OID_PNP_SET_POWER\(NdisDeviceStateD3\) completed with 1 NDIS timer/,
  ],
  [
    'pmnic-shutdown-in-d3',
    'NdisSim_HardwareAccessInLowPower',
    /NdisWriteRegisterUlong while the bus driver has the device in D3/,
    (t) => `${t}  - { at: 7500ms, do: shutdown }\n`,
  ],
  [
    'pmnic-cancel-reads-nic',
    'NdisSim_HardwareAccessInLowPower',
    /NdisReadRegisterUlong while the bus driver has the device in D3/,
  ],
  [
    'pmnic-idle-never-completes',
    'NdisSim_PowerIrpWatchdog',
    /waiting for NdisMIdleNotificationComplete after MiniportCancelIdleNotification/,
    (t) => `${t.replace('until: 16s', 'until: 60s')}ndis: { powerWatchdog: 30s }\n`,
  ],
  [
    'pmnic-idle-returns-success',
    'NdisSim_IdleNotificationStatus',
    /returned NDIS_STATUS_SUCCESS: it must return NDIS_STATUS_PENDING/,
  ],
  [
    'pmnic-confirm-d0',
    'NdisSim_IdleNotificationConfirm',
    /IdlePowerState NdisDeviceStateD0 is not a low-power state/,
  ],
  ['pmnic-idle-complete-twice', 'NdisSim_IdleNotificationComplete', /no idle notification is outstanding/],
  ['pmnic-query-power-veto', 'NdisSim_QueryPowerFailed', /OID_PNP_QUERY_POWER did not succeed/],
  ['pmnic-set-power-d0-fails', 'NdisOidComplete', /OID_PNP_SET_POWER completed with NDIS_STATUS_FAILURE/],
  [
    'pmnic-remove-not-complete',
    'NdisTimedOidComplete',
    /OID_PNP_SET_POWER not completed within 12 s/,
    (t) => t.replace('until: 16s', 'until: 40s'),
  ],
  [
    'pmnic-d3-keeps-sends',
    'NdisSim_SetPowerSendsPending',
    /completed with \d+ send NBL\(s\) still in the miniport/,
    busySleep,
  ],
  [
    'pmnic-wake-reason-late',
    'NdisSim_WakeReasonOutsideSetPower',
    /NDIS_STATUS_PM_WAKE_REASON indicated while no OID_PNP_SET_POWER\(D0\) is in the miniport/,
  ],
];

for (const [driver, rule, message, edit] of bugCases) {
  test(`${driver}: ${rule}`, () => {
    const { first } = runBug(driver, edit);
    assert.ok(first !== null, `${driver}: no rule broken`);
    assert.equal(first.rule, rule, first.message);
    assert.match(first.message, message);
  });
}

test("NdisSim_QueryPowerFailed: a failed OID_PNP_QUERY_POWER is ndis-sim's own 0x4E53 code, not Driver Verifier's NdisOidComplete (0x91001)", () => {
  const { first } = runBug('pmnic-query-power-veto');
  assert.ok(first !== null);
  assert.equal(first.rule, 'NdisSim_QueryPowerFailed');
  assert.deepEqual(first.bugCheck.params.slice(0, 2), [0x4e5300d4, 0xc0000001]);
  assert.equal(first.windowsRule, null);
});

test('every bug variant of pmnic has its case here, and the driver itself passes each case scenario', () => {
  const named = new Set(bugCases.map(([d]) => d));
  // pmnic-removal-race needs the explorer, pmnic-wol-not-programmed the scenario's expect: (below).
  for (const d of pmnicBugs)
    if (d.name !== 'pmnic-removal-race' && d.name !== 'pmnic-wol-not-programmed')
      assert.ok(named.has(d.name), d.name);
  for (const [, , , edit] of bugCases) {
    const { result } = runBug('pmnic', edit);
    assert.equal(result.verdict, 'ok', result.bugCheck?.message ?? result.violations[0]?.message);
  }
});

test('SimNic deadOnResumeAfter: the NIC comes back from a power-down before that time, not from one after it', () => {
  const text = (after: string) =>
    base.replace('deadOnResumeAfter: 12s', `deadOnResumeAfter: ${after}`).replace('until: 16s', 'until: 5s');
  for (const [after, dead] of [
    ['1s', true],
    ['2500ms', false],
  ] as const) {
    const s = scenarioWorld('x.yaml', { drivers, text: text(after) });
    s.run();
    const notes = s.world.trace.events.filter((e) => e.actor === 'hw/nic0').map((e) => e.what);
    assert.equal(
      notes.includes('did not power up (fault plan): registers read 0xFFFFFFFF'),
      dead,
      `${after}: ${notes}`,
    );
    assert.equal(notes.includes('powered up (D0)'), !dead, `${after}: ${notes}`);
  }
});

/** A miniport that reports `caps` and records the power OIDs it gets; fails OID_PM_PARAMETERS with `pmStatus`. */
function pmRecorder(name: string, caps: Record<string, unknown>, pmStatus: number = NDIS_STATUS_SUCCESS) {
  const seen: string[] = [];
  const drv = scriptedDriver(name, {
    registrationAttributes: { AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE },
    generalAttributes: caps,
    oid: (_a, req) => {
      if (req.RequestType !== NdisRequestSetInformation) {
        if (req.DATA.Oid === OID_PNP_QUERY_POWER) seen.push('QUERY_POWER');
        return NDIS_STATUS_SUCCESS;
      }
      const d = req.DATA.SET_INFORMATION;
      if (d.Oid === OID_PNP_SET_POWER) seen.push(`SET_POWER(${d.InformationBuffer as number})`);
      if (d.Oid === OID_PM_PARAMETERS) {
        const p = d.InformationBuffer as NDIS_PM_PARAMETERS;
        seen.push(
          `PM_PARAMETERS(len=${d.InformationBufferLength}, WoL=0x${p.EnabledWoLPacketPatterns.toString(16)}, WakeUpFlags=0x${p.WakeUpFlags.toString(16)})`,
        );
        return pmStatus;
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  return { drv, seen };
}

function sleepOnce(drv: DriverModule, registry: Record<string, number> = {}) {
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name, registry }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    options: { verifier: 'collect' },
  });
  return { w, r: w.run(4 * ns.s) };
}

const pmCaps = (patterns: number) => ({
  PowerManagementCapabilitiesEx: {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
    Flags: 0,
    SupportedWoLPacketPatterns: patterns,
  },
});

test('system sleep: NDIS sets OID_PM_PARAMETERS (wake on LAN, no wake on link change) before OID_PNP_SET_POWER(D3) of an NDIS 6.20 power-managed adapter (R5.8)', () => {
  // obtaining-and-updating-power-management-parameters: "Before NDIS transitions the
  // network adapter to the low power state, NDIS sends a set request [of OID_PM_PARAMETERS]";
  // low-power-for-wake-on-lan: NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED cleared; magic packet
  // from *WakeOnMagicPacket (default 1).
  const magic = pmRecorder('pm-magic', pmCaps(NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED));
  const r1 = sleepOnce(magic.drv).r;
  assert.deepEqual(r1.violations, []);
  assert.deepEqual(magic.seen, [
    'QUERY_POWER',
    `PM_PARAMETERS(len=${NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2}, WoL=0x${NDIS_PM_WOL_MAGIC_PACKET_ENABLED.toString(16)}, WakeUpFlags=0x0)`,
    `SET_POWER(${NdisDeviceStateD3})`,
    `SET_POWER(${NdisDeviceStateD0})`,
  ]);
  const off = pmRecorder('pm-magic-off', pmCaps(NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED));
  sleepOnce(off.drv, { '*WakeOnMagicPacket': 0 });
  assert.match(off.seen[1]!, /WoL=0x0,/, 'the user turned wake on magic packet off');
  const none = pmRecorder('pm-no-wol', pmCaps(0));
  sleepOnce(none.drv);
  assert.match(none.seen[1]!, /WoL=0x0,/, 'an adapter that supports no magic packet gets none enabled');
  // NDIS 6.0/6.1 power management (NDIS_PNP_CAPABILITIES only): no OID_PM_PARAMETERS.
  const old = pmRecorder('pm-old', { PowerManagementCapabilities: {} });
  sleepOnce(old.drv);
  assert.deepEqual(old.seen, [
    'QUERY_POWER',
    `SET_POWER(${NdisDeviceStateD3})`,
    `SET_POWER(${NdisDeviceStateD0})`,
  ]);
});

test('system sleep: a failed OID_PM_PARAMETERS before D3 fails the device as a failed power OID does (R5.8): no OID_PNP_SET_POWER, Code 43', () => {
  const bad = pmRecorder('pm-fails', pmCaps(NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED), NDIS_STATUS_FAILURE);
  const { w } = sleepOnce(bad.drv);
  assert.deepEqual(bad.seen.slice(0, 2), ['QUERY_POWER', bad.seen[1]!]);
  assert.ok(!bad.seen.includes(`SET_POWER(${NdisDeviceStateD3})`), bad.seen.join(', '));
  assert.equal(w.device('nic0').problem, 43);
  assert.ok(
    w.trace.events.some((e) => /OID_PM_PARAMETERS before D3 failed/.test(String(e.data?.why ?? ''))),
    'the device-failed line names the OID',
  );
});

/** PMCSR as the driver reads it with NdisMGetBusData. */
function readPmcsr(a: TestAdapter): number {
  const b = new Uint8Array(2);
  NdisMGetBusData(a.handle, PCI_WHICHSPACE_CONFIG, SimNicPciConfig.PM_PMCSR, b, 2);
  return b[0]! | (b[1]! << 8);
}

test('SimNic: a PCI power management capability; a wake signal while powered down latches PMCSR.PME_Status, which survives D0 and clears on a write of 1', () => {
  const seen: string[] = [];
  const drv = scriptedDriver('pme-reader', {
    ...ssHooks((a) => {
      NdisMIdleNotificationConfirm(a.handle, NdisDeviceStateD3);
      return NDIS_STATUS_PENDING;
    }),
    initialize: (a) => {
      const cap = new Uint8Array(4);
      NdisMGetBusData(a.handle, PCI_WHICHSPACE_CONFIG, SimNicPciConfig.CAPABILITIES_PTR, cap, 1);
      NdisMGetBusData(a.handle, PCI_WHICHSPACE_CONFIG, cap[0]!, cap, 4);
      seen.push(`cap at 0x${SimNicPciConfig.PM_CAPABILITY.toString(16)}: id ${cap[0]}, next ${cap[1]}`);
      return NDIS_STATUS_SUCCESS;
    },
    oid: (a, req) => {
      if (setPowerState(req) !== NdisDeviceStateD0) return NDIS_STATUS_SUCCESS;
      const v = readPmcsr(a);
      seen.push(`D0: PME_Status ${(v >> 15) & 1}`);
      if (v & 0x8000) {
        // Write 1 to clear, PME_En kept.
        NdisMSetBusData(
          a.handle,
          PCI_WHICHSPACE_CONFIG,
          SimNicPciConfig.PM_PMCSR,
          new Uint8Array([0, 0x81]),
          2,
        );
        seen.push(`cleared: 0x${readPmcsr(a).toString(16)}`);
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name, registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 1 } }],
    actions: [
      { atNs: 500 * ns.ms, action: { kind: 'wake-signal', device: 'nic0' } }, // not powered down: nothing
      { atNs: 2 * ns.s, action: { kind: 'wake-signal', device: 'nic0' } }, // suspended since 1 s
      { atNs: 4 * ns.s, action: { kind: 'send', device: 'nic0' } }, // suspended again since 3 s
    ],
    options: { verifier: 'collect' },
  });
  const r = w.run(5 * ns.s);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(seen, [
    'cap at 0x40: id 1, next 0',
    'D0: PME_Status 1',
    'cleared: 0x100',
    'D0: PME_Status 0', // woken by a send: the device signalled nothing
  ]);
  const notes = w.trace.events.filter((e) => e.what === 'wake signalled (PME_Status set)');
  assert.equal(notes.length, 1, 'the signal at 500 ms, with the NIC in D0, latches nothing');
});

test('NdisSim_WakeReasonOutsideSetPower: pmnic reports the wake reason inside OID_PNP_SET_POWER(D0), first; the gallery driver from MiniportRestart is caught; a wake reason without its buffer is NdisSim_StatusIndicationInvalid', () => {
  const s = scenarioWorld('examples/pmnic.yaml', { drivers: [pmnic] });
  s.run();
  const ev = s.world.trace.events;
  const reasons = ev.flatMap((e, i) =>
    e.what === 'NdisMIndicateStatusEx' && data(e).StatusCode === 'NDIS_STATUS_PM_WAKE_REASON' ? [i] : [],
  );
  // The magic packet that ends the first sleep (a wake packet, no pattern added: ID 0),
  // and the link that ends the second selective suspend.
  assert.deepEqual(
    reasons.map((i) => [data(ev[i]!).WakeReason, data(ev[i]!).PatternId]),
    [
      ['NdisWakeReasonPacket', 0],
      ['NdisWakeReasonMediaConnect', undefined],
    ],
    'the timeline names each reason',
  );
  for (const reason of reasons) {
    const call = ev.findLastIndex((e, i) => i < reason && e.kind === 'call');
    assert.equal(data(ev[call]!).Oid, 'OID_PNP_SET_POWER', 'inside OID_PNP_SET_POWER(D0)');
    const link = ev.findIndex(
      (e, i) =>
        i > call && e.what === 'NdisMIndicateStatusEx' && data(e).StatusCode === 'NDIS_STATUS_LINK_STATE',
    );
    assert.ok(link > reason, 'before the link state the wake brought');
  }

  // The example's description names the reasons the run indicates, and what woke it.
  const description = String(parse(example).description).replace(/\s+/g, ' ');
  for (const i of reasons) assert.ok(description.includes(String(data(ev[i]!).WakeReason)), description);
  assert.equal(data(ev.find((e) => e.what === 'frame')!).got, 'woke the NIC: magic packet (MAG)');
  assert.match(description, /a magic packet for 02:50:4d:00:00:01 arrives/);

  const g = scenarioWorld('examples/gallery/NdisSim_WakeReasonOutsideSetPower.yaml', {});
  const gr = g.run().result;
  assert.equal(gr.bugCheck?.rule, 'NdisSim_WakeReasonOutsideSetPower', gr.bugCheck?.message);

  const drv = scriptedDriver('wake-reason-no-buffer', {
    ...pmHooks(),
    oid: (a, req) => {
      if (setPowerState(req) === NdisDeviceStateD0)
        NdisMIndicateStatusEx(a.handle, statusIndication(a.handle, NDIS_STATUS_PM_WAKE_REASON, null, 0));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const r = sleepOnce(drv).r;
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_StatusIndicationInvalid'],
    r.violations.map((v) => v.message).join('\n'),
  );
  assert.match(
    r.violations[0]!.message,
    /NDIS_STATUS_PM_WAKE_REASON needs an NDIS_PM_WAKE_REASON, StatusBufferSize 20 at least/,
  );
});

test('examples/pmnic-explore.yaml: explore finds pmnic-removal-race (a surprise removal during the pended OID_PNP_SET_POWER(D0) poll: NdisOidDoubleComplete, R6.3); with driver: pmnic the same seeds pass', async () => {
  const r = await exploreScenario('examples/pmnic-explore.yaml', {
    drivers,
    firstSeed: 300,
    runs: 10,
    shrinkRuns: 0,
  });
  assert.equal(r.failed, 1, r.text);
  assert.equal(r.failures[0]!.rule, 'NdisOidDoubleComplete', r.text);
  assert.deepEqual(r.failures[0]!.seeds, [302], r.text);
  const text = readFileSync('examples/pmnic-explore.yaml', 'utf8').replace(
    'driver: pmnic-removal-race\n',
    'driver: pmnic\n',
  );
  const fixed = await exploreScenario('pmnic-explore.yaml', { drivers, text, firstSeed: 300, runs: 10 });
  assert.equal(fixed.failed, 0, fixed.text);
});

test("scenario input: an oid action with NDIS's own power OIDs is bad input that says why, on the oid field", () => {
  const yaml = (oid: string, request = 'set', value = ', value: 4') =>
    `devices:\n  - { name: nic0, driver: pmnic }\nactions:\n  - { at: 1s, do: oid, device: nic0, oid: ${oid}, request: ${request}${value} }\n`;
  for (const [oid, request, value, why] of [
    [
      'OID_PNP_SET_POWER',
      'set',
      ', value: 4',
      /NDIS sends it itself around a power change .* `sleep` action/,
    ],
    ['OID_PNP_QUERY_POWER', 'query', '', /NDIS sends it itself around a power change/],
  ] as const) {
    assert.throws(
      () => scenarioWorld('bad.yaml', { drivers, text: yaml(oid, request, value) }),
      (e: { problems?: string[] }) => {
        assert.equal(e.problems?.length, 1, String(e.problems));
        assert.match(e.problems![0]!, /^bad\.yaml: actions\[0\]\.oid: expected an OID /);
        assert.match(e.problems![0]!, why);
        return true;
      },
    );
  }
  // A removal by pattern ID, and an add of a pattern (test/wol-pattern.test.ts), are taken.
  assert.doesNotThrow(() => scenarioWorld('ok.yaml', { drivers, text: yaml('OID_PM_REMOVE_WOL_PATTERN') }));
  assert.doesNotThrow(() =>
    scenarioWorld('ok.yaml', {
      drivers,
      text: yaml('0xFD01010A', 'set', ', value: { type: magic-packet }'),
    }),
  );
});

test('system sleep: a wake-signal while asleep wakes the system early when NDIS armed the device (its OID_PM_PARAMETERS enabled a wake-up); otherwise it is lost and the sleep runs its length', () => {
  // low-power-for-wake-on-lan: the adapter asserts PME#, the bus completes NDIS's
  // IRP_MN_WAIT_WAKE, NDIS sets the device to D0.
  const run = (registry: Record<string, number>) => {
    const x = pmRecorder(
      `pm-wol-${Object.keys(registry).length}`,
      pmCaps(NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED),
    );
    const w = testWorld({
      drivers: [x.drv],
      devices: [{ name: 'nic0', driver: x.drv.name, registry }],
      actions: [
        { atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 10 * ns.s } },
        { atNs: 2 * ns.s, action: { kind: 'wake-signal', device: 'nic0' } },
      ],
      options: { verifier: 'collect' },
    });
    const r = w.run(15 * ns.s);
    assert.deepEqual(r.violations, []);
    const wake = w.trace.events.find((e) => e.what === 'wake')!;
    const signal = w.trace.events.find((e) => e.what === 'wake-signal')!;
    return {
      at: wake.t,
      by: data(wake).by,
      ignored: data(signal).ignored,
      pme: w.trace.events.some((e) => e.what === 'wake signalled (PME_Status set)'),
    };
  };
  assert.deepEqual(run({}), { at: 2 * ns.s, by: 'nic0', ignored: undefined, pme: true });
  const off = run({ '*WakeOnMagicPacket': 0 });
  assert.deepEqual(off, {
    at: 11 * ns.s,
    by: undefined,
    ignored: 'not armed for wake-up (no wake-up enabled by OID_PM_PARAMETERS)',
    pme: false,
  });
});

test('NdisSim_ReceiveNotAllowed (R1.7): a NO_PAUSE_ON_SUSPEND adapter that indicates a receive after its OID_PNP_SET_POWER(D3) completed; before the completion it may', () => {
  const run = (after: boolean) => {
    const drv = scriptedDriver(`late-rx-${after}`, {
      ...pmHooks({}, NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND),
      initialize: (a) => {
        a.state.work = workItem(a);
        a.state.nbl = rxNbl(a, rxPool(a));
        return NDIS_STATUS_SUCCESS;
      },
      returnNbls: () => {},
      oid: (a, req) => {
        if (setPowerState(req) !== NdisDeviceStateD3) return NDIS_STATUS_SUCCESS;
        // The work item flushes the last frame of the receive ring, and completes the
        // request before (the mistake) or after it.
        NdisQueueIoWorkItem(
          a.state.work as NDIS_HANDLE,
          (x: TestAdapter) => {
            if (after) NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS);
            NdisMIndicateReceiveNetBufferLists(x.handle, x.state.nbl as NET_BUFFER_LIST, 0, 1, 0);
            if (!after) NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS);
          },
          a,
        );
        return NDIS_STATUS_PENDING;
      },
    });
    return sleepOnce(drv).r;
  };
  const late = run(true);
  assert.deepEqual(
    late.violations.map((v) => v.rule),
    ['NdisSim_ReceiveNotAllowed'],
    late.violations.map((v) => v.message).join('\n'),
  );
  assert.match(
    late.violations[0]!.message,
    /receive indicated after OID_PNP_SET_POWER to a low-power state completed \(the adapter is Running, not paused for it\)/,
  );
  const inTime = run(false);
  assert.deepEqual(inTime.violations, [], inTime.violations.map((v) => v.message).join('\n'));
});

test('a NIC that falls off the bus while entering D3 (vanishAt just before the sleep): the magic packet finds no NIC, and after the wake pmnic gives up on it with NdisMRemoveMiniport: Code 43 (R5.8, R5.21)', () => {
  const text = base
    .replace(
      'faults: { linkDownAt: 5s, linkDownFor: 6s, deadOnResumeAfter: 12s }',
      'faults: { vanishAt: 1999ms }',
    )
    .replace('until: 16s', 'until: 14s');
  const s = scenarioWorld('vanish.yaml', { drivers, text });
  const { result } = s.run();
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  const ev = s.world.trace.events;
  const frame = ev.find((e) => e.what === 'frame')!;
  assert.equal(data(frame).got, 'lost: the device is gone');
  const wake = ev.find((e) => e.what === 'wake')!;
  assert.equal(wake.t, 12 * ns.s, 'the sleep runs its length');
  assert.equal(s.world.device('nic0').problem, 43);
  assert.equal(s.world.summary().adapters[0]!.haltAction, 'NdisHaltDeviceFailed');
  assert.ok(
    ev.some((e) => e.what === 'NdisMRemoveMiniport' && e.t > wake.t),
    'the driver gives up after the wake',
  );
});

test('a NIC that does not come back from selective suspend (deadOnResumeAfter before the first idle): OID_PNP_SET_POWER(D0) pends, completes with SUCCESS, and the work item gives up: Code 43, no rule broken (R5.8, R5.21)', () => {
  const text = base
    .replace('deadOnResumeAfter: 12s', 'deadOnResumeAfter: 6s')
    .replace('until: 16s', 'until: 10s');
  const s = scenarioWorld('ss-dead.yaml', { drivers, text });
  const { result } = s.run();
  assert.equal(result.verdict, 'ok', result.bugCheck?.message);
  assert.deepEqual(result.violations, []);
  const ev = s.world.trace.events;
  const dark = ev.findIndex((e) => e.what === 'did not power up (fault plan): registers read 0xFFFFFFFF');
  const cancel = ev.findLastIndex((e, i) => i < dark && e.what === 'MiniportCancelIdleNotification');
  assert.ok(cancel > 0 && dark > cancel, 'the NIC stays dark on the way back from selective suspend');
  const removed = ev.findIndex((e) => e.what === 'NdisMRemoveMiniport');
  assert.ok(removed > dark, 'then the driver gives up');
  assert.equal(s.world.device('nic0').problem, 43);
});

test('pmnic-wol-not-programmed: OID_PNP_SET_POWER(D3) leaves the wake-up filters off, so the magic packet is dropped and the system sleeps on; no rule sees it, the scenario expect: (devices.nic0.wakes: 2) does', () => {
  const text = example.replace('driver: pmnic\n', 'driver: pmnic-wol-not-programmed\n');
  const s = scenarioWorld('wol-bug.yaml', { drivers, text });
  const { result, expectation } = s.run();
  assert.equal(result.verdict, 'ok', 'no rule is broken');
  assert.deepEqual(result.violations, []);
  assert.deepEqual(expectation?.problems, ['devices.nic0.wakes: expected 2, got 0']);
  assert.deepEqual(expectation?.signatures, ['devices.nic0.wakes<2']);
  const ev = s.world.trace.events;
  assert.equal(
    data(ev.find((e) => e.what === 'frame')!).got,
    'dropped: powered down, no wake-up filter matches',
  );
  assert.equal(ev.find((e) => e.what === 'wake')!.t, 12 * ns.s, 'the first sleep runs its 10 s');
  // The fixed driver, same scenario: both wakes, no expectation missed.
  const fixed = scenarioWorld('wol.yaml', { drivers, text: example }).run();
  assert.deepEqual(fixed.expectation?.problems, []);
});

/** A driver that programs the SimNic's wake-up logic itself before D3, and reads it back in D0. */
function wolDriver(name: string, program: (a: TestAdapter) => void, seen: string[]) {
  return scriptedDriver(name, {
    registrationAttributes: { AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE },
    generalAttributes: pmCaps(NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED | NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED),
    oid: (a, req) => {
      const state = setPowerState(req);
      if (state === null) return NDIS_STATUS_SUCCESS;
      const r = (off: number) => a.space!.at(off);
      if (state === NdisDeviceStateD3) program(a);
      else {
        const wupm = NdisReadRegisterUlong(r(SimNicReg.WUPM));
        seen.push(
          `D0: PME_Status ${(readPmcsr(a) >> 15) & 1}, WUS 0x${NdisReadRegisterUlong(r(SimNicReg.WUS)).toString(16)}, WUPL ${NdisReadRegisterUlong(r(SimNicReg.WUPL))}, WUPM[0..3] 0x${wupm.toString(16)}`,
        );
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
}

/** Bitmap pattern slot `slot`: compare the frame's bytes at `at` with `bytes`. */
function writePattern(a: TestAdapter, slot: number, at: number, bytes: number[]): void {
  NdisWriteRegisterUlong(a.space!.at(SimNicReg.FLXA), slot | (at << 8));
  for (const b of bytes) NdisWriteRegisterUlong(a.space!.at(SimNicReg.FLXD), b | SimNicFlxdCompare);
}

/** An Ethernet frame of `bytes` bytes to a broadcast address with EtherType `type`. */
function ethFrame(type: number, bytes = 64): number[] {
  const f = new Array<number>(bytes).fill(0);
  f.fill(0xff, 0, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  return f;
}

test('SimNic wake-up filters: in D3 a frame wakes only through a filter armed in WUFC (bitmap pattern slot, magic packet for RAL/RAH) with PME_En set; others are dropped; WUS, WUPL and WUPM tell the driver which and what (R5.8)', () => {
  const run = (registry: Record<string, number>) => {
    const seen: string[] = [];
    const drv = wolDriver(
      `wol-${Object.keys(registry).length}`,
      (a) => {
        const r = (off: number) => a.space!.at(off);
        NdisWriteRegisterUlong(r(SimNicReg.RAL), 0x00_00_00_02); // 02:00:00:00:00:01
        NdisWriteRegisterUlong(r(SimNicReg.RAH), 0x01_00);
        writePattern(a, 0, 12, [0x88, 0xb5]); // EtherType 0x88B5
        NdisWriteRegisterUlong(r(SimNicReg.WUFC), SimNicWake.MAG | SimNicWake.FLX0);
      },
      seen,
    );
    const frame = (atNs: number, data: Uint8Array | number[]) => ({
      atNs,
      action: { kind: 'frame' as const, device: 'nic0', data: Uint8Array.from(data) },
    });
    const w = testWorld({
      drivers: [drv],
      devices: [{ name: 'nic0', driver: drv.name, registry }],
      actions: [
        { atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 10 * ns.s } },
        frame(1500 * ns.ms, ethFrame(0x0800)), // IPv4: no filter
        frame(1600 * ns.ms, simNicMagicPacket([2, 0, 0, 0, 0, 2])), // a magic packet for another NIC
        frame(2 * ns.s, ethFrame(0x88b5, 80)), // the pattern
      ],
      options: { verifier: 'collect' },
    });
    const r = w.run(13 * ns.s);
    assert.deepEqual(r.violations, []);
    const ev = w.trace.events;
    return {
      got: ev.filter((e) => e.what === 'frame').map((e) => data(e).got),
      wake: ev.find((e) => e.what === 'wake')!.t / ns.ms,
      seen,
      wakes: w.expectView().devices[0]!.wakes,
    };
  };
  assert.deepEqual(run({}), {
    got: [
      'dropped: powered down, no wake-up filter matches',
      'dropped: powered down, no wake-up filter matches',
      'woke the NIC: bitmap pattern slot 0 (FLX0)',
    ],
    wake: 2000,
    seen: [`D0: PME_Status 1, WUS 0x${SimNicWake.FLX0.toString(16)}, WUPL 80, WUPM[0..3] 0xffffffff`],
    wakes: 1,
  });
  // NDIS enabled no wake-up (*WakeOnMagicPacket 0): the bus leaves PME_En clear, and the
  // matching frame wakes nothing; the sleep runs its 10 s.
  assert.deepEqual(run({ '*WakeOnMagicPacket': 0 }), {
    got: [
      'dropped: powered down, no wake-up filter matches',
      'dropped: powered down, no wake-up filter matches',
      'dropped: bitmap pattern slot 0 (FLX0) matches, but PME_En is clear',
    ],
    wake: 11000,
    seen: ['D0: PME_Status 0, WUS 0x0, WUPL 0, WUPM[0..3] 0x0'],
    wakes: 0,
  });
});

test("NdisSim_StatusIndicationInvalid: an NDIS_PM_WAKE_REASON whose information buffer breaks its page: one on a reason other than NdisWakeReasonPacket, one off a 64-bit boundary, one past StatusBufferSize; pmnic's wake packet passes (examples/pmnic.yaml above)", () => {
  const run = (WakeReason: number, InfoBufferOffset: number, InfoBufferSize: number, size: number) => {
    const drv = scriptedDriver(`wake-info-${WakeReason}-${InfoBufferOffset}-${size}`, {
      ...pmHooks(),
      // It may pass a wake packet (NdisSim_WakeReasonContent looks at that, not this test).
      generalAttributes: {
        PowerManagementCapabilitiesEx: {
          Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
          Flags: NDIS_PM_WAKE_PACKET_INDICATION_SUPPORTED,
          MaxWoLPacketSaveBuffer: 128,
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
                WakeReason,
                InfoBufferOffset,
                InfoBufferSize,
              },
              size,
            ),
          );
        return NDIS_STATUS_SUCCESS;
      },
    });
    const r = sleepOnce(drv).r;
    return r.violations.map((v) => `${v.rule}: ${v.message}`);
  };
  assert.deepEqual(run(NdisWakeReasonMediaConnect, 0, 0, 20), []);
  assert.deepEqual(run(NdisWakeReasonPacket, 24, 160, 184), []);
  const connect = run(NdisWakeReasonMediaConnect, 24, 160, 184);
  assert.equal(connect.length, 1, connect.join('\n'));
  assert.match(
    connect[0]!,
    /^NdisSim_StatusIndicationInvalid: .*WakeReason NdisWakeReasonMediaConnect carries no information buffer: InfoBufferOffset and InfoBufferSize must be 0 .*got 24 and 160/,
  );
  assert.match(run(NdisWakeReasonPacket, 20, 160, 180)[0]!, /64-bit boundary; got InfoBufferOffset 20/);
  assert.match(run(NdisWakeReasonPacket, 24, 160, 100)[0]!, /runs past StatusBufferSize 100/);
});

test("scenario input: a frame action takes one of magic (a station address) or data (14 to 1514 bytes), and says why on the field otherwise; in D0 its frame is received like the wire's", () => {
  const yaml = (fields: string) =>
    `devices:\n  - { name: nic0, driver: pmnic }\nactions:\n  - { at: 1s, do: frame, device: nic0${fields} }\n`;
  for (const [fields, field, why] of [
    ['', 'magic', /expected one of magic .* or data .* for "frame", got neither/],
    [", magic: '02:50:4d:00:00:01', data: [1]", 'data', /got both/],
    [
      ", magic: '02:50:4d:00:00'",
      'magic',
      /expected a station address such as "02:50:4d:00:00:01", got "02:50:4d:00:00"/,
    ],
    [', data: [1, 2, 3]', 'data', /expected an Ethernet frame of 14 to 1514 bytes .* got 3 bytes/],
    [
      ", magic: '02:50:4d:00:00:01', handle: h",
      'handle',
      /expected only device and magic or data for "frame", got handle/,
    ],
  ] as const) {
    assert.throws(
      () => scenarioWorld('bad.yaml', { drivers, text: yaml(fields) }),
      (e: { problems?: string[] }) => {
        assert.equal(e.problems?.length, 1, String(e.problems));
        assert.match(e.problems![0]!, new RegExp(`^bad\\.yaml: actions\\[0\\]\\.${field}: `));
        assert.match(e.problems![0]!, why);
        return true;
      },
    );
  }
  assert.throws(
    () =>
      scenarioWorld('bad.yaml', {
        drivers,
        text: yaml('').replace('do: frame', "do: send, magic: '02:50:4d:00:00:01'"),
      }),
    /actions\[0\]\.magic: expected magic only with "frame", got it with "send"/,
  );
  // In D0 with receive on, the frame is taken like the wire's (its length on the queue, an RX interrupt).
  const s = scenarioWorld('d0.yaml', {
    drivers,
    text: `${yaml(', data: "ff ff ff ff ff ff 02 00 00 00 00 09 08 00 45 00"')}until: 2s\n`,
  });
  s.run();
  const frame = s.world.trace.events.find((e) => e.what === 'frame')!;
  assert.deepEqual(data(frame), { device: 'nic0', bytes: 16, got: 'received' });
});

test('SimNic wake-up filters: a magic packet that matches at an armed NIC already in D3, while another adapter still pends its OID_PNP_SET_POWER(D3), wakes the system as soon as it can, as a wake-signal does (low-power-for-wake-on-lan)', () => {
  const seen: string[] = [];
  const armed = wolDriver(
    'wol-early',
    (a) => {
      NdisWriteRegisterUlong(a.space!.at(SimNicReg.RAL), 0x00_00_00_02); // 02:00:00:00:00:01
      NdisWriteRegisterUlong(a.space!.at(SimNicReg.RAH), 0x01_00);
      NdisWriteRegisterUlong(a.space!.at(SimNicReg.WUFC), SimNicWake.MAG);
    },
    seen,
  );
  // `peer` completes its OID_PNP_SET_POWER(D3) 1.5 s late: the system is not asleep meanwhile.
  const slow = scriptedDriver('slow-d3', {
    ...pmHooks(),
    oid: (a, req) => {
      const state = setPowerState(req);
      if (state === null || state === NdisDeviceStateD0) return NDIS_STATUS_SUCCESS;
      after(a, 1500, (x) => NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS));
      return NDIS_STATUS_PENDING;
    },
  });
  const w = testWorld({
    drivers: [armed, slow],
    devices: [
      { name: 'nic0', driver: armed.name },
      { name: 'peer', driver: slow.name },
    ],
    actions: [
      { atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 10 * ns.s } },
      {
        atNs: 1500 * ns.ms,
        action: { kind: 'frame', device: 'nic0', data: simNicMagicPacket([2, 0, 0, 0, 0, 1]) },
      },
    ],
    options: { verifier: 'collect' },
  });
  const r = w.run(15 * ns.s);
  assert.deepEqual(r.violations, []);
  const ev = w.trace.events;
  assert.equal(data(ev.find((e) => e.what === 'frame')!).got, 'woke the NIC: magic packet (MAG)');
  const wake = ev.find((e) => e.what === 'wake')!;
  assert.equal(data(wake).by, 'nic0');
  assert.ok(wake.t < 3 * ns.s, `woken at ${wake.t / ns.ms} ms, not at the sleep's end (11 s)`);
  assert.equal(seen.length, 1, 'nic0 came back to D0 once');
});

test('examples/pmnic.yaml timeline: configuration-space offsets in hex (NdisMGetBusData(Offset=0x34): the capabilities pointer, PMCSR at 0x44) and the idle time of selective suspend as a time, not raw nanoseconds (R8.12)', () => {
  const s = scenarioWorld('examples/pmnic.yaml', { drivers: [pmnic] });
  s.run();
  const lines = formatTimeline(s.world.trace.events, { color: false });
  const bus = lines.filter((l) => /NdisM[GS]etBusData\(/.test(l));
  assert.ok(
    bus.some((l) => l.endsWith('NdisMGetBusData(Offset=0x34, Length=1) = 1')),
    bus.join('\n'),
  );
  assert.ok(
    bus.some((l) => l.endsWith('NdisMSetBusData(Offset=0x44, Length=2) = 2')),
    bus.join('\n'),
  );
  assert.ok(
    bus.every((l) => /Offset=0x[0-9A-F]+,/.test(l)),
    bus.join('\n'),
  );
  const idle = lines.filter((l) => l.includes('selective suspend: adapter idle'));
  assert.ok(idle.length > 0);
  for (const l of idle) assert.match(l, /adapter idle \(idle=\d+\.\d{6} s\)$/);
});

test('examples/pmnic.yaml timeline: the system sleep and wake lines say what they count, the events the sleep held (eventsHeld=3), not a bare held=3', () => {
  const s = scenarioWorld('examples/pmnic.yaml', { drivers: [pmnic] });
  s.run();
  const lines = formatTimeline(s.world.trace.events, { color: false });
  const power = lines.filter((l) => /scenario: (asleep \(S3\)|wake) /.test(l));
  assert.equal(power.length, 4, power.join('\n'));
  assert.match(power[0]!, /scenario: asleep \(S3\) \(eventsHeld=3, until=12\.000000 s\)$/);
  assert.match(power[1]!, /scenario: wake \(eventsHeld=3, by=nic0\)$/);
  assert.ok(
    power.every((l) => !/\bheld=/.test(l)),
    power.join('\n'),
  );
});
