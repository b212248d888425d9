// R2.4, R6.1: incomplete general attributes and an unsupported packet filter are
// warnings, not rule breaks: NDIS does not check them, and the run goes on. The
// NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES page makes the attributes mandatory and each
// member the answer to its OID; the "Mandatory OIDs for miniport drivers" page makes
// the set of OID_GEN_CURRENT_PACKET_FILTER mandatory.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ethernetGeneralAttributes,
  NDIS_PACKET_TYPE_BROADCAST,
  NDIS_PACKET_TYPE_DIRECTED,
  NDIS_STATUS_INVALID_LENGTH,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NdisMSetMiniportAttributes,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_STATISTICS,
  oidRequestData,
  packetFilterOidRequest,
} from '../src/index.ts';
import { trafficDefaults } from '../src/stack/protocol.ts';
import { type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

function run(name: string, hooks: Hooks, stop = false) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    // A PnP stop and start: a second initialization and a second bind.
    actions: stop ? [{ atNs: 500 * ns.ms, action: { kind: 'stop', device: 'nic0' } }] : [],
  });
  w.protocols[0]!.options.traffic = { ...trafficDefaults, ratePerSecond: 1000, statisticsEveryNs: 0 };
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  return { r, w };
}

test('R2.4: general attributes with only MediaType (802.3) warn once per initialization, naming each member left 0; the run goes on and tcpip binds and sends', () => {
  const { r, w } = run(
    'bare-attributes-nic',
    {
      generalAttributes: {
        MtuSize: 0,
        MacAddressLength: 0,
        SupportedPacketFilters: 0,
        MaxXmitLinkSpeed: 0,
        MaxRcvLinkSpeed: 0,
      },
    },
    true,
  );
  const r24 = r.warnings.filter((x) => x.rule === 'R2.4');
  assert.equal(r24.length, 2, 'one per MiniportInitializeEx (start, then the start after the stop)');
  for (const x of r24) {
    assert.equal(x.ddi, 'NdisMSetMiniportAttributes');
    assert.equal(x.adapter, 'nic0');
    for (const m of [
      'MtuSize 0',
      'MacAddressLength 0',
      'SupportedPacketFilters 0',
      'MaxXmitLinkSpeed and MaxRcvLinkSpeed 0',
    ])
      assert.ok(x.message.includes(m), `${m}: ${x.message}`);
  }
  assert.ok(w.summary().adapters[0]!.data.sent > 0, 'the adapter still carried traffic');
});

test('R2.4: only the members left out are named (a MAC address of 8 bytes for 802.3, say); complete attributes give no warning', () => {
  const { r } = run('long-mac-nic', { generalAttributes: { MacAddressLength: 8 } });
  const r24 = r.warnings.filter((x) => x.rule === 'R2.4');
  assert.equal(r24.length, 1);
  assert.match(r24[0]!.message, /MacAddressLength 8 \(an 802\.3 address is 6 bytes/);
  assert.doesNotMatch(r24[0]!.message, /MtuSize|SupportedPacketFilters|LinkSpeed/);
  assert.deepEqual(
    run('complete-nic', {}).r.warnings.filter((x) => x.rule === 'R2.4'),
    [],
  );
});

test('R6.1: a miniport that fails the mandatory set of OID_GEN_CURRENT_PACKET_FILTER with NOT_SUPPORTED is warned about once per adapter; one that takes it is not', () => {
  let filterSets = 0;
  const { r } = run(
    'no-filter-nic',
    {
      oid: (_a, req) => {
        if (req.RequestType === NdisRequestSetInformation && req.DATA.Oid === OID_GEN_CURRENT_PACKET_FILTER)
          filterSets++;
        return NDIS_STATUS_NOT_SUPPORTED;
      },
    },
    true,
  );
  assert.ok(filterSets >= 2, `tcpip set the filter at each bind (${filterSets})`);
  const r61 = r.warnings.filter((x) => x.rule === 'R6.1');
  assert.equal(r61.length, 1, r61.map((x) => x.message).join('\n'));
  assert.equal(r61[0]!.ddi, 'MiniportOidRequest');
  assert.match(
    r61[0]!.message,
    /OID_GEN_CURRENT_PACKET_FILTER with NDIS_STATUS_NOT_SUPPORTED: the set is mandatory/,
  );
  // Another OID's NOT_SUPPORTED, and the filter's SUCCESS (the scripted driver's default), are fine.
  const quiet = run('filter-nic', {
    oid: (_a, req) => {
      if (req.RequestType === NdisRequestSetInformation && req.DATA.Oid === OID_GEN_CURRENT_PACKET_FILTER) {
        req.DATA.SET_INFORMATION.BytesRead = 4;
        return NDIS_STATUS_SUCCESS;
      }
      return NDIS_STATUS_NOT_SUPPORTED;
    },
  });
  assert.deepEqual(
    quiet.r.warnings.filter((x) => x.rule === 'R6.1'),
    [],
  );
});

test("R2.4, R6.1: 'ndis-sim' helpers an example miniport uses: ethernetGeneralAttributes alone gives no R2.4 warning, and packetFilterOidRequest keeps tcpip's filter and gives no R6.1 warning", () => {
  const mac = [0x02, 0, 0, 0, 0, 0x77];
  const adapter = { packetFilter: 0 };
  const { r, w } = run(
    'helper-nic',
    {
      noGeneralAttributes: true,
      initialize: (a) => NdisMSetMiniportAttributes(a.handle, ethernetGeneralAttributes(mac)),
      oid: (_a, req) => packetFilterOidRequest(adapter, req),
    },
    true,
  );
  assert.deepEqual(
    r.warnings.filter((x) => x.rule === 'R2.4' || x.rule === 'R6.1').map((x) => x.message),
    [],
  );
  const g = ethernetGeneralAttributes(mac, { MaxMulticastListSize: 32 });
  assert.equal(g.MtuSize, 1500);
  assert.equal(g.MacAddressLength, 6);
  assert.deepEqual(g.CurrentMacAddress, mac);
  assert.equal(g.MaxMulticastListSize, 32, 'more adds a member');
  // tcpip's last set is the 0 of its unbind at the stop; the bind after the start set it again.
  assert.notEqual(adapter.packetFilter, 0, 'the filter tcpip set at its last bind is kept');
  assert.ok(w.summary().adapters[0]!.data.sent > 0);
});

test('R6.1: packetFilterOidRequest takes a filter of supported NDIS_PACKET_TYPE_* bits only, needs 4 bytes, and fails every other request with NOT_SUPPORTED', () => {
  const a = { packetFilter: 0 };
  const req = (type: number, oid: number, value: unknown, length: number) =>
    ({ RequestType: type, DATA: oidRequestData(oid, value, length) }) as Parameters<
      typeof packetFilterOidRequest
    >[1];
  const filter = NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST;
  const set = req(NdisRequestSetInformation, OID_GEN_CURRENT_PACKET_FILTER, filter, 4);
  assert.equal(packetFilterOidRequest(a, set), NDIS_STATUS_SUCCESS);
  assert.equal(a.packetFilter, filter);
  assert.equal(set.DATA.SET_INFORMATION.BytesRead, 4);
  const short = req(NdisRequestSetInformation, OID_GEN_CURRENT_PACKET_FILTER, 0, 2);
  assert.equal(packetFilterOidRequest(a, short), NDIS_STATUS_INVALID_LENGTH);
  assert.equal(short.DATA.SET_INFORMATION.BytesNeeded, 4);
  // 0x10 is NDIS_PACKET_TYPE_SOURCE_ROUTING (ntddndis.h), a Token Ring filter.
  const unsupported = req(NdisRequestSetInformation, OID_GEN_CURRENT_PACKET_FILTER, 0x10, 4);
  assert.equal(packetFilterOidRequest(a, unsupported), NDIS_STATUS_NOT_SUPPORTED);
  assert.equal(
    packetFilterOidRequest(a, req(NdisRequestQueryInformation, OID_GEN_CURRENT_PACKET_FILTER, null, 4)),
    NDIS_STATUS_NOT_SUPPORTED,
  );
  assert.equal(
    packetFilterOidRequest(a, req(NdisRequestSetInformation, OID_GEN_STATISTICS, 0, 4)),
    NDIS_STATUS_NOT_SUPPORTED,
  );
  assert.equal(a.packetFilter, filter, 'a failed set keeps the filter');
});
