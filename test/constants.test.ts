// The scenario's `oid:` field: a name from OID_NAMES (generated from data/extra.json),
// or a number for an OID the table lacks, reaches MiniportOidRequest as that OID.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { InputError } from '../src/errors.ts';
import {
  NDIS_STATUS_NOT_SUPPORTED,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  OID_802_3_XMIT_ONE_COLLISION,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_RCV_DISCARDS,
  OID_NAMES,
  OID_PNP_ENABLE_WAKE_UP,
  OID_REQUESTS,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { subcodeName } from '../src/verifier/bugcheck.ts';
import { scriptedDriver } from './helpers/scripted.ts';

/** A vendor-specific OID (0xFF...), which no table of public OIDs will ever name. */
const VENDOR_OID = 0xff010203;

interface Seen {
  Oid: number;
  RequestType: number;
  traced: unknown;
}

/** Runs one oid action given as YAML fields; returns what MiniportOidRequest saw. */
function runOid(fields: string): Seen[] {
  const seen: Seen[] = [];
  const drv = scriptedDriver('oid-nic', {
    oid(_a, req) {
      seen.push({ Oid: req.DATA.Oid, RequestType: req.RequestType, traced: undefined });
      return NDIS_STATUS_NOT_SUPPORTED;
    },
  });
  const yaml = `until: 1s
protocols: []
devices: [{ name: nic0, driver: oid-nic }]
actions:
  - { at: 100ms, do: oid, device: nic0, ${fields} }
`;
  const s = parseScenarioText(yaml, 'oid.yaml', [...driverNames(), drv.name]);
  const w = buildWorld(s, { drivers: [drv], trace: true });
  w.run(untilNs(s));
  const action = w.trace.events.find((e) => e.actor === 'scenario' && e.what === 'oid');
  for (const x of seen) x.traced = (action?.data as { Oid?: unknown } | undefined)?.Oid;
  return seen;
}

function problems(yaml: string): string[] {
  try {
    parseScenarioText(yaml, 'oid.yaml', driverNames());
  } catch (e) {
    if (e instanceof InputError) return e.problems;
    throw e;
  }
  assert.fail('the scenario was accepted');
}

test('oid: a name the table gained (OID_GEN_RCV_DISCARDS, OID_802_3_*, OID_PNP_*) reaches MiniportOidRequest with its number, and the trace names it', () => {
  for (const [name, oid] of [
    ['OID_GEN_RCV_DISCARDS', OID_GEN_RCV_DISCARDS],
    ['OID_802_3_XMIT_ONE_COLLISION', OID_802_3_XMIT_ONE_COLLISION],
    ['OID_PNP_ENABLE_WAKE_UP', OID_PNP_ENABLE_WAKE_UP],
  ] as const) {
    const seen = runOid(`oid: ${name}`);
    assert.deepEqual(
      seen.map((x) => [x.Oid, x.RequestType, x.traced]),
      [[oid, NdisRequestQueryInformation, name]],
      name,
    );
  }
});

test('oid: a number, in YAML hex, in decimal or as a quoted hex string, reaches MiniportOidRequest as that OID', () => {
  assert.equal(OID_NAMES.has(VENDOR_OID), false);
  for (const form of ['0xFF010203', String(VENDOR_OID), '"0xff010203"']) {
    const seen = runOid(`oid: ${form}`);
    assert.deepEqual(
      seen.map((x) => [x.Oid, x.traced]),
      [[VENDOR_OID, '0xFF010203']],
      form,
    );
  }
  // A number the table has is that OID, with its name, and a set carries its value.
  const set = runOid(`oid: ${OID_GEN_CURRENT_PACKET_FILTER}, request: set, value: 7`);
  assert.deepEqual(
    set.map((x) => [x.Oid, x.RequestType, x.traced]),
    [[OID_GEN_CURRENT_PACKET_FILTER, NdisRequestSetInformation, 'OID_GEN_CURRENT_PACKET_FILTER']],
  );
});

test('oid: a bad name says a number is allowed and where the names are, with did you mean; bad numbers are refused', () => {
  const yaml = (oid: string, more = '') =>
    `devices: [{ name: nic0, driver: healthy-nic }]\nactions: [{ at: 1s, do: oid, device: nic0, oid: ${oid}${more} }]\n`;
  const [p] = problems(yaml('OID_GEN_RCV_DISCARD'));
  assert.equal(
    p,
    'oid.yaml: actions[0].oid: expected an OID name such as OID_GEN_STATISTICS (run ndis-sim oids for the list) or an OID number such as 0x00010202, got "OID_GEN_RCV_DISCARD"; did you mean OID_GEN_RCV_DISCARDS?',
  );
  // The command the message points a user at lists the names, with their numbers.
  const listed = spawnSync(process.execPath, ['bin/ndis-sim.js', 'oids'], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^OID_GEN_RCV_DISCARDS +0x0002021B +query$/m);
  assert.match(listed.stdout, /^OID_GEN_STATISTICS +0x00020106 +query$/m);
  assert.equal(listed.stdout.trim().split('\n').length, OID_NAMES.size);
  assert.deepEqual(problems(yaml('0x100000000')), [
    'oid.yaml: actions[0].oid: expected an OID number from 0 to 0xFFFFFFFF, got 4294967296',
  ]);
  assert.deepEqual(problems(yaml('-1')), [
    'oid.yaml: actions[0].oid: expected an OID number from 0 to 0xFFFFFFFF, got -1',
  ]);
  assert.deepEqual(problems(yaml('"0x123456789"')), [
    'oid.yaml: actions[0].oid: expected an OID number of up to 8 hex digits, such as 0x00010202, got "0x123456789"',
  ]);
  // A number checks the value of a set as its name would.
  assert.deepEqual(problems(yaml('0x01010103', ', request: set, value: 5')), [
    'oid.yaml: actions[0].value: expected a list of 6-byte addresses for a set of OID_802_3_MULTICAST_LIST, such as [[1, 0, 94, 0, 0, 1]], got 5',
  ]);
  // Addresses written as text: a list, but of the wrong items; the message says what the list holds.
  assert.deepEqual(
    problems(yaml('OID_802_3_MULTICAST_LIST', ', request: set, value: ["01:00:5e:00:00:01"]')),
    [
      'oid.yaml: actions[0].value: expected a whole number (the ULONG of a set, such as a packet filter), for OID_802_3_MULTICAST_LIST a list of 6-byte addresses such as [[1, 0, 94, 0, 0, 1]], or for OID_PM_ADD_WOL_PATTERN a mapping of type and the pattern\'s fields (mask, pattern, source, dest, sourcePort, destPort, priority), got ["01:00:5e:00:00:01"]',
    ],
  );
});

test('oid: the command line reports every bad oid of a file and exits 2', () => {
  const f = 'test/fixtures/bad-oid-names.yaml';
  const r = spawnSync(process.execPath, ['bin/ndis-sim.js', 'run', f], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  assert.equal(r.status, 2, r.stderr);
  for (const w of [
    `${f}: actions[0].oid: expected an OID name such as OID_GEN_STATISTICS (run ndis-sim oids for the list) or an OID number such as 0x00010202, got "OID_GEN_RCV_DISCARD"; did you mean OID_GEN_RCV_DISCARDS?`,
    `${f}: actions[1].oid: expected an OID number from 0 to 0xFFFFFFFF, got 4294967296`,
    `${f}: actions[2].oid: expected an OID number of up to 8 hex digits, such as 0x00010202, got "0x123456789"`,
    `${f}: actions[3].oid: expected an OID name such as OID_GEN_STATISTICS (run ndis-sim oids for the list) or an OID number such as 0x00010202, got a list`,
    `${f}: actions[4].value: expected a list of 6-byte addresses for a set of OID_802_3_MULTICAST_LIST, such as [[1, 0, 94, 0, 0, 1]], got 5`,
  ])
    assert.ok(r.stderr.includes(w), `missing: ${w}\n--- stderr:\n${r.stderr}`);
});

test("oid: a request type the OID's page does not give it (a set of a statistic, a query of a set-only or method-only OID) is bad input on request, every one of a file at once; ndis-sim oids lists the types", () => {
  const yaml = (...actions: string[]) =>
    `devices: [{ name: nic0, driver: healthy-nic }]\nactions:\n${actions.map((a) => `  - { at: 1s, do: oid, device: nic0, ${a} }\n`).join('')}`;
  assert.deepEqual(
    problems(
      yaml(
        'oid: OID_GEN_XMIT_OK, request: set, value: 3',
        'oid: OID_GEN_LINK_PARAMETERS',
        'oid: OID_PM_GET_PROTOCOL_OFFLOAD, request: set, value: 1',
        // A number the table names is checked as its name is; the missing value of the set is not a second problem.
        'oid: 0x00020106, request: set',
      ),
    ),
    [
      'oid.yaml: actions[0].request: expected a request OID_GEN_XMIT_OK takes (query, as its page in the docs says; ndis-sim oids lists them), got set',
      'oid.yaml: actions[1].request: expected a request OID_GEN_LINK_PARAMETERS takes (set, as its page in the docs says; ndis-sim oids lists them), got query (an oid action without request: is a query)',
      'oid.yaml: actions[2].request: expected a request OID_PM_GET_PROTOCOL_OFFLOAD takes (method, as its page in the docs says; ndis-sim oids lists them), got set; an oid action sends a method request only with synchronous: true, for the OIDs the synchronous path allows (OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES)',
      'oid.yaml: actions[3].request: expected a request OID_GEN_STATISTICS takes (query, as its page in the docs says; ndis-sim oids lists them), got set',
    ],
  );
  // Both types of an OID that takes both; an OID whose pages state none, and a vendor's, go unchecked.
  const ok = parseScenarioText(
    yaml(
      'oid: OID_GEN_CURRENT_PACKET_FILTER, request: set, value: 1',
      'oid: OID_GEN_CURRENT_PACKET_FILTER',
      'oid: OID_802_3_PERMANENT_ADDRESS, request: set, value: 1',
      `oid: ${VENDOR_OID}, request: set, value: 1`,
    ),
    'oid.yaml',
    driverNames(),
  );
  assert.equal(ok.actions.length, 4);
  assert.equal(
    OID_REQUESTS.has(0x01010101),
    false,
    'OID_802_3_PERMANENT_ADDRESS: its page states no request type',
  );
  const listed = spawnSync(process.execPath, ['bin/ndis-sim.js', 'oids'], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^OID_GEN_CURRENT_PACKET_FILTER +0x0001010E +query, set$/m);
  assert.match(listed.stdout, /^OID_GEN_LINK_PARAMETERS +0x00010208 +set$/m);
  assert.match(listed.stdout, /^OID_PM_GET_PROTOCOL_OFFLOAD +0xFD01010E +method$/m);
  assert.match(listed.stdout, /^OID_802_3_PERMANENT_ADDRESS +0x01010101 +not stated$/m);
});

test('bug-check subcodes: a named one gives its name, one the data names not gives null (not an empty string)', () => {
  assert.equal(subcodeName(0x7c, 0x08), 'NDIS_BUGCHECK_HALT_WITHOUT_INTERRUPT_DEREGISTER');
  assert.equal(subcodeName(0xe6, 0x06), null);
  assert.equal(subcodeName(0x7c, 0x07), null);
  assert.equal(subcodeName(0x7c, 0x999), null);
});
