// hunt30: defects found in what stop 29 added (direct OIDs, wake-up, driverModules, the
// timeline's statistics folding, the shrinker's retiming), each with the test that
// failed before its fix.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pmHooks, rxNbl, rxPool, setPowerState, workItem } from '../src/drivers/buggy/kit.ts';
import { driverNames } from '../src/drivers/index.ts';
import { variantOfMonitorLwf, withDirectOidForwarding } from '../src/drivers/lwf.ts';
import type { InputError } from '../src/errors.ts';
import {
  type DriverModule,
  NDIS_FILTER_CHARACTERISTICS_REVISION_1,
  type NDIS_HANDLE,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_OID_REQUEST,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  NDIS_PM_CAPABILITIES_REVISION_2,
  type NDIS_PM_PARAMETERS,
  NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED,
  NDIS_PM_WOL_BITMAP_PATTERN_ENABLED,
  NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED,
  NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
  NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
  NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisDeviceStateD0,
  NdisMIndicateReceiveNetBufferLists,
  NdisMOidRequestComplete,
  NdisOidRequest,
  NdisQueueIoWorkItem,
  NdisRegisterProtocolDriver,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  type NET_BUFFER_LIST,
  OID_GEN_STATISTICS,
  OID_PM_PARAMETERS,
  OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA,
  World,
} from '../src/index.ts';
import { oidRequestData } from '../src/ndis/oid.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { loadDriverModules } from '../src/scenario/modules.ts';
import { bindingProtocol, nicWithProtocol, protocolStep } from './helpers/protocol.ts';
import { after, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

function sleepOnce(drv: DriverModule) {
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s } }],
    options: { verifier: 'collect' },
  });
  return { w, r: w.run(4 * ns.s) };
}

test('R1.7 a NO_PAUSE_ON_SUSPEND adapter back from a system sleep may indicate receives once its OID_PNP_SET_POWER(D0) completed, before NDIS takes its next resume step (not NdisSim_ReceiveNotAllowed)', () => {
  let indicated = 0;
  // The miniport pends the D0 request; its work item powers the receive engine up,
  // completes the request and indicates the frame the NIC had for it.
  const drv = scriptedDriver('rx-after-d0', {
    ...pmHooks({}, NDIS_MINIPORT_ATTRIBUTES_NO_PAUSE_ON_SUSPEND),
    initialize: (a) => {
      a.state.work = workItem(a);
      a.state.nbl = rxNbl(a, rxPool(a));
      return NDIS_STATUS_SUCCESS;
    },
    returnNbls: () => {},
    oid: (a, req) => {
      if (setPowerState(req) !== NdisDeviceStateD0) return NDIS_STATUS_SUCCESS;
      NdisQueueIoWorkItem(
        a.state.work as NDIS_HANDLE,
        (x: TestAdapter) => {
          NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS);
          NdisMIndicateReceiveNetBufferLists(x.handle, x.state.nbl as NET_BUFFER_LIST, 0, 1, 0);
          indicated++;
        },
        a,
      );
      return NDIS_STATUS_PENDING;
    },
  });
  const { r } = sleepOnce(drv);
  assert.equal(indicated, 1, 'the receive was indicated');
  assert.deepEqual(
    r.violations.map((v) => v.message),
    [],
    'a receive after the D0 request completed is legal',
  );
});

test('bad input: an empty driverModules entry says a non-empty string was expected, not "at least 1"', () => {
  let problems: string[] = [];
  try {
    parseScenarioText(
      'name: m\nseed: 1\ndriverModules: [""]\ndevices: [{ name: nic0, driver: healthy-nic }]\n',
      'm.yaml',
      driverNames(),
    );
  } catch (e) {
    problems = (e as InputError).problems;
  }
  assert.deepEqual(problems, ['m.yaml: driverModules[0]: expected a non-empty string, got ""']);
});

test("bad input: a driver module path that is a directory (--driver, or a driverModules entry) is named as such, not with the loader error that names ndis-sim's own file", async () => {
  await assert.rejects(loadDriverModules(['examples']), (e: unknown) => {
    assert.deepEqual((e as InputError).problems, [
      '--driver: expected a module file (.ts or .js), got "examples": a directory',
    ]);
    return true;
  });
  const named = new Map([['examples', 'x.yaml: driverModules[0]']]);
  await assert.rejects(loadDriverModules(['examples'], named), (e: unknown) => {
    assert.deepEqual((e as InputError).problems, [
      'x.yaml: driverModules[0]: expected a module file (.ts or .js), got "examples": a directory',
    ]);
    return true;
  });
});

test("timeline: a statistics poll the miniport fails at once keeps its MiniportOidRequest and the failure it returned, not only the protocol's completion", () => {
  // A miniport early in its development: OID_GEN_STATISTICS not supported yet.
  const drv = scriptedDriver('no-stats', {
    oid: (_a, req) =>
      req.DATA.QUERY_INFORMATION.Oid === OID_GEN_STATISTICS ? NDIS_STATUS_NOT_SUPPORTED : NDIS_STATUS_SUCCESS,
  });
  const w = new World({ seed: 1 });
  w.addDriver(drv);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 100, statisticsEveryNs: 5 * ns.ms } });
  w.addDevice({ name: 'nic0', driver: drv.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.run(12 * ns.ms);
  const lines = formatTimeline(w.trace.events, { color: false });
  const at = lines.findIndex((l) => l.includes('→ MiniportOidRequest(nic0, Oid=OID_GEN_STATISTICS'));
  assert.ok(at > 0, 'the failed query reaches the timeline');
  assert.match(lines[at + 1]!, /← MiniportOidRequest = NDIS_STATUS_NOT_SUPPORTED$/);
  assert.ok(
    lines.some((l) =>
      /ProtocolOidRequestComplete\(nic0, Oid=OID_GEN_STATISTICS, status=NDIS_STATUS_NOT_SUPPORTED/.test(l),
    ),
    "and so does the protocol's completion",
  );
});

test('R2.1 a miniport whose characteristics are NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1 has no direct OID handlers for NDIS: its MiniportDirectOidRequest is never called, and a warning says why (implementing-an-ndis-6-1-driver)', () => {
  let called = 0;
  const drv = scriptedDriver('rev1-direct', {
    characteristics(c) {
      c.Header.Revision = NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_1;
      c.DirectOidRequestHandler = () => {
        called++;
        return NDIS_STATUS_SUCCESS;
      };
      c.CancelDirectOidRequestHandler = () => {};
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [
      {
        atNs: 300 * ns.ms,
        action: {
          kind: 'oid',
          device: 'nic0',
          oid: OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA,
          set: true,
          value: 1,
          timeoutS: 0,
          direct: true,
        },
      },
    ],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  assert.equal(called, 0, 'NDIS does not see a handler beyond the revision 1 structure');
  assert.ok(
    w.trace.events.some((e) => e.what === 'direct OID request: the miniport has no MiniportDirectOidRequest'),
    'the request is answered as for a miniport without the handler',
  );
  assert.deepEqual(r.violations, []);
  assert.deepEqual(
    r.warnings.map((x) => x.rule),
    ['R2.1'],
    r.warnings.map((x) => x.message).join('\n'),
  );
  assert.match(r.warnings[0]!.message, /Header\.Revision 1.*DirectOidRequestHandler.*REVISION_2/);
});

test('R2.1 the direct OID handlers of filter and protocol characteristics of Header.Revision 1 are not seen by NDIS (REVISION_2 members, implementing-an-ndis-6-1-driver): the filter module is bypassed on the direct path, and each registration warns', () => {
  const lwf = variantOfMonitorLwf('rev1-lwf', 'direct handlers in a revision 1 structure', (c) => {
    withDirectOidForwarding(c);
    c.Header.Revision = NDIS_FILTER_CHARACTERISTICS_REVISION_1;
  });
  const none = (): void => {};
  const proto: DriverModule = {
    name: 'rev1-proto',
    description: 'a protocol with ProtocolDirectOidRequestComplete in a revision 1 structure',
    load: () => ({
      DriverEntry: () =>
        NdisRegisterProtocolDriver(null, {
          Header: {
            Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
            Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
          },
          MajorNdisVersion: 6,
          MinorNdisVersion: 0,
          Name: 'rev1-proto',
          BindAdapterHandlerEx: () => NDIS_STATUS_NOT_SUPPORTED,
          UnbindAdapterHandlerEx: () => NDIS_STATUS_SUCCESS,
          OpenAdapterCompleteHandlerEx: none,
          CloseAdapterCompleteHandlerEx: none,
          NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
          OidRequestCompleteHandler: none,
          ReceiveNetBufferListsHandler: none,
          SendNetBufferListsCompleteHandler: none,
          DirectOidRequestCompleteHandler: none,
        }).Status,
    }),
  };
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(scriptedDriver('rev1-nic', {}));
  w.addDriver(lwf);
  w.addFilter(lwf.name);
  w.addDriver(proto);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: 'rev1-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(100 * ns.ms);
  assert.equal(w.ndis.filterDrivers.get(lwf.name)?.chars.DirectOidRequestHandler, undefined);
  assert.equal(w.ndis.protocolDrivers?.get(proto.name)?.chars.DirectOidRequestCompleteHandler, undefined);
  assert.deepEqual(r.violations, []);
  assert.deepEqual(
    r.warnings.map((x) => `${x.rule} ${x.ddi}`),
    ['R2.1 NdisFRegisterFilterDriver', 'R2.1 NdisRegisterProtocolDriver'],
    r.warnings.map((x) => x.message).join('\n'),
  );
});

// ------------------------------------------------ OID_PM_PARAMETERS from above

/** A protocol driver that binds and, when the test says, sets or queries OID_PM_PARAMETERS. */
function pmProto(p: { handle: NDIS_HANDLE | null }): DriverModule {
  return bindingProtocol('pm-proto', p, 30);
}

function pmRequest(set: boolean, value: NDIS_PM_PARAMETERS | null): NDIS_OID_REQUEST {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OID_REQUEST, Revision: 1 },
    RequestType: set ? NdisRequestSetInformation : NdisRequestQueryInformation,
    PortNumber: 0,
    Timeout: 0,
    RequestId: 'pm',
    RequestHandle: null,
    DATA: oidRequestData(OID_PM_PARAMETERS, set ? value : null, NDIS_SIZEOF_NDIS_PM_PARAMETERS_REVISION_2),
    SupportedRevision: 0,
    MiniportReserved: [null, null],
    SourceReserved: [null, null],
    SwitchId: 0,
    VPortId: 0,
    Flags: 0,
  };
}

/** A hardware miniport that advertises magic-packet and bitmap WoL patterns (NDIS_PM_CAPABILITIES). */
const wolCapable = {
  registrationAttributes: { AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE },
  generalAttributes: {
    PowerManagementCapabilitiesEx: {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
      Flags: 0,
      SupportedWoLPacketPatterns: NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED | NDIS_PM_WOL_BITMAP_PATTERN_SUPPORTED,
    },
  },
};

test('OID_PM_PARAMETERS from an overlying driver (oid-pm-parameters): NDIS answers the query and keeps the set without passing either to the miniport, and the set it sends before D3 combines what was set with its own', () => {
  const seen: string[] = [];
  const drv = scriptedDriver('pm-nic', {
    ...wolCapable,
    oid: (_a, req) => {
      if (req.DATA.Oid === OID_PM_PARAMETERS) {
        const p = req.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_PARAMETERS | null;
        seen.push(
          req.RequestType === NdisRequestSetInformation
            ? `set WoL=0x${p!.EnabledWoLPacketPatterns.toString(16)}`
            : 'query',
        );
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const p = { handle: null as NDIS_HANDLE | null };
  const proto = pmProto(p);
  const w = nicWithProtocol(drv, proto);
  w.at(1 * ns.s, { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s });
  const got: number[] = [];
  let answered: NDIS_PM_PARAMETERS | null = null;
  const step = (atNs: number, fn: () => void) => protocolStep(w, atNs, 'pm-proto', fn);
  step(300 * ns.ms, () => {
    const set = pmRequest(true, {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_PARAMETERS_REVISION_2 },
      EnabledWoLPacketPatterns: NDIS_PM_WOL_BITMAP_PATTERN_ENABLED,
      EnabledProtocolOffloads: 0,
      WakeUpFlags: 0,
      MediaSpecificWakeUpEvents: 0,
    });
    got.push(NdisOidRequest(p.handle!, set));
    const q = pmRequest(false, null);
    got.push(NdisOidRequest(p.handle!, q));
    answered = q.DATA.QUERY_INFORMATION.InformationBuffer as NDIS_PM_PARAMETERS;
  });
  const r = w.run(3 * ns.s);
  assert.deepEqual(got, [NDIS_STATUS_SUCCESS, NDIS_STATUS_SUCCESS], 'NDIS completes both at once');
  assert.equal(
    (answered as NDIS_PM_PARAMETERS | null)?.EnabledWoLPacketPatterns,
    NDIS_PM_WOL_BITMAP_PATTERN_ENABLED | NDIS_PM_WOL_MAGIC_PACKET_ENABLED,
    'the query answers the combined settings',
  );
  assert.deepEqual(
    seen,
    [`set WoL=0x${(NDIS_PM_WOL_MAGIC_PACKET_ENABLED | NDIS_PM_WOL_BITMAP_PATTERN_ENABLED).toString(16)}`],
    'the miniport sees only the combined set before D3',
  );
  assert.deepEqual(r.violations, []);
});

test('OID_PM_PARAMETERS from an overlying driver (oid-pm-parameters, low-power-for-wake-on-lan): for a system sleep NDIS clears NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED from what it stored, and once the protocol that set it is unbound its settings no longer count', () => {
  const seen: string[] = [];
  const drv = scriptedDriver('pm-nic-2', {
    ...wolCapable,
    oid: (_a, req) => {
      if (req.DATA.Oid === OID_PM_PARAMETERS && req.RequestType === NdisRequestSetInformation) {
        const p = req.DATA.SET_INFORMATION.InformationBuffer as NDIS_PM_PARAMETERS;
        seen.push(
          `WoL=0x${p.EnabledWoLPacketPatterns.toString(16)} WakeUpFlags=0x${p.WakeUpFlags.toString(16)}`,
        );
      }
      return NDIS_STATUS_SUCCESS;
    },
  });
  const p = { handle: null as NDIS_HANDLE | null, unloadable: true };
  const proto = pmProto(p);
  const w = nicWithProtocol(drv, proto);
  const got: number[] = [];
  protocolStep(w, 300 * ns.ms, 'pm-proto', () => {
    const set = pmRequest(true, {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_PARAMETERS_REVISION_2 },
      EnabledWoLPacketPatterns: NDIS_PM_WOL_BITMAP_PATTERN_ENABLED,
      EnabledProtocolOffloads: 0,
      WakeUpFlags: NDIS_PM_WAKE_ON_LINK_CHANGE_ENABLED,
      MediaSpecificWakeUpEvents: 0,
    });
    got.push(NdisOidRequest(p.handle!, set));
  });
  w.at(1 * ns.s, { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s });
  w.at(3 * ns.s, { kind: 'stop-protocol', driver: proto.name });
  w.at(4 * ns.s, { kind: 'sleep', state: 'S3', durationNs: 1 * ns.s });
  const r = w.run(6 * ns.s);
  assert.deepEqual(got, [NDIS_STATUS_SUCCESS]);
  assert.deepEqual(r.violations, []);
  const magic = NDIS_PM_WOL_MAGIC_PACKET_ENABLED.toString(16);
  const both = (NDIS_PM_WOL_MAGIC_PACKET_ENABLED | NDIS_PM_WOL_BITMAP_PATTERN_ENABLED).toString(16);
  assert.deepEqual(
    seen,
    [`WoL=0x${both} WakeUpFlags=0x0`, `WoL=0x${magic} WakeUpFlags=0x0`],
    "the protocol's bitmap while it is bound, never its wake on link change; NDIS's magic packet alone after",
  );
});

test('a wake signal from an armed device that is in D3 while another adapter still goes to sleep is not lost: the system wakes as soon as it can, not at the end of the sleep (low-power-for-wake-on-lan)', () => {
  const pmCaps = {
    PowerManagementCapabilitiesEx: {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_PM_CAPABILITIES_REVISION_2 },
      Flags: 0,
      SupportedWoLPacketPatterns: NDIS_PM_WOL_MAGIC_PACKET_SUPPORTED,
    },
  };
  // `peer` pends its OID_PNP_SET_POWER(D3) for 1.5 s: the system is not asleep meanwhile.
  const slow = scriptedDriver('slow-d3', {
    ...pmHooks({
      oid: (a, req) => {
        const state = setPowerState(req);
        if (state !== null && state !== NdisDeviceStateD0) {
          after(a, 1500, (x) => NdisMOidRequestComplete(x.handle, req, NDIS_STATUS_SUCCESS));
          return NDIS_STATUS_PENDING;
        }
        return NDIS_STATUS_SUCCESS;
      },
    }),
  });
  const armed = scriptedDriver('armed-nic', {
    registrationAttributes: { AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE },
    generalAttributes: pmCaps,
    oid: () => NDIS_STATUS_SUCCESS,
  });
  const w = testWorld({
    drivers: [armed, slow],
    devices: [
      { name: 'nic0', driver: armed.name },
      { name: 'peer', driver: slow.name },
    ],
    actions: [
      { atNs: 1 * ns.s, action: { kind: 'sleep', state: 'S3', durationNs: 10 * ns.s } },
      { atNs: 1500 * ns.ms, action: { kind: 'wake-signal', device: 'nic0' } },
    ],
    options: { verifier: 'collect', trace: true },
  });
  w.run(15 * ns.s);
  const wake = w.trace.events.find((e) => e.kind === 'action' && e.what === 'wake');
  assert.ok(wake !== undefined, 'the system woke');
  assert.equal(wake.data?.by, 'nic0', 'woken by the device');
  assert.ok(wake.t < 3 * ns.s, `woken at ${wake.t} ns, not at the sleep's end (11 s)`);
});
