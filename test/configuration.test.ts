// The configuration DDIs as their pages give them: NdisReadConfiguration (the
// conversion of REG_SZ digits, the predefined keywords), NDIS_CONFIGURATION_PARAMETER
// (a hexadecimal read comes back typed NdisParameterInteger), NdisWriteConfiguration
// and NdisReadNetworkAddress. Drivers call them in MiniportInitializeEx (R2.3) at
// PASSIVE, which rule Irql_Miscellaneous_Function checks from the generated table.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  type NDIS_CONFIGURATION_PARAMETER,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NdisCloseConfiguration,
  NdisEnvironmentWindowsNt,
  NdisOpenConfigurationEx,
  NdisParameterHexInteger,
  NdisParameterInteger,
  NdisParameterString,
  NdisProcessorAmd64,
  NdisReadConfiguration,
  NdisReadNetworkAddress,
  NdisWriteConfiguration,
} from '../src/index.ts';
import type { World, WorldAction } from '../src/world.ts';
import { after, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

function openConfig(a: TestAdapter): NDIS_HANDLE {
  const r = NdisOpenConfigurationEx({
    Header: { Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1 },
    NdisHandle: a.handle,
    Flags: 0,
  });
  assert.equal(r.Status, NDIS_STATUS_SUCCESS);
  return r.ConfigurationHandle!;
}

/**
 * Runs `body` in MiniportInitializeEx of nic0 between NdisOpenConfigurationEx and
 * NdisCloseConfiguration, with `registry` as the device's parameters; the world runs
 * 100 ms with the verifier in bugcheck mode and must end ok.
 */
function inInitialize(
  registry: Record<string, number | string>,
  body: (config: NDIS_HANDLE) => void,
  actions: { atNs: number; action: WorldAction }[] = [],
): World {
  const drv = scriptedDriver('config-nic', {
    initialize: (a) => {
      const config = openConfig(a);
      body(config);
      NdisCloseConfiguration(config);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name, registry }], actions });
  const r = w.run(100 * ns.ms + (actions.at(-1)?.atNs ?? 0));
  assert.equal(r.verdict, 'ok', JSON.stringify(r.violations));
  return w;
}

/** Status, ParameterType and data of one read. */
function read(config: NDIS_HANDLE, Keyword: string, type: number): [number, number | null, unknown] {
  const r = NdisReadConfiguration(config, Keyword, type);
  const p = r.ParameterValue;
  if (p === null) return [r.Status, null, null];
  const d = p.ParameterData;
  return [r.Status, p.ParameterType, 'IntegerData' in d ? d.IntegerData : d.StringData];
}

const ok = NDIS_STATUS_SUCCESS;
const fail = NDIS_STATUS_FAILURE;
const int = NdisParameterInteger;
const hex = NdisParameterHexInteger;
const str = NdisParameterString;

// --------------------------------------------------------- NdisReadConfiguration

test('R2.3, NdisReadConfiguration and NDIS_PARAMETER_TYPE pages: a REG_SZ of decimal digits ("1514", as INF advanced properties are) reads as NdisParameterInteger 1514', () => {
  const got: unknown[] = [];
  inInitialize({ MaxFrameSize: '1514', Zero: '0', Largest: '4294967295' }, (c) => {
    got.push(read(c, 'MaxFrameSize', int), read(c, 'Zero', int), read(c, 'Largest', int));
    got.push(read(c, 'MaxFrameSize', str)); // the string itself is still there
  });
  assert.deepEqual(got, [
    [ok, int, 1514],
    [ok, int, 0],
    [ok, int, 0xffffffff],
    [ok, str, '1514'],
  ]);
});

test('R2.3, NDIS_PARAMETER_TYPE page: NdisParameterHexInteger converts a REG_SZ from hexadecimal digits ("1F" is 31, "1514" is 0x1514)', () => {
  const got: unknown[] = [];
  inInitialize({ Mask: '1F', Lower: 'ff', Frame: '1514', Largest: 'FFFFFFFF' }, (c) => {
    got.push(read(c, 'Mask', hex), read(c, 'Lower', hex), read(c, 'Frame', hex), read(c, 'Largest', hex));
  });
  assert.deepEqual(got, [
    [ok, int, 31],
    [ok, int, 255],
    [ok, int, 0x1514],
    [ok, int, 0xffffffff],
  ]);
});

test('R2.3, NDIS_CONFIGURATION_PARAMETER page: a read with NdisParameterHexInteger returns ParameterType NdisParameterInteger; the others return the type asked for', () => {
  const got: unknown[] = [];
  inInitialize({ Dword: 0x40, Text: 'abc' }, (c) => {
    got.push(read(c, 'Dword', hex), read(c, 'Dword', int), read(c, 'Dword', str), read(c, 'Text', str));
  });
  assert.deepEqual(got, [
    [ok, int, 0x40],
    [ok, int, 0x40],
    [ok, str, '64'],
    [ok, str, 'abc'],
  ]);
});

test('R2.3, NdisReadConfiguration page: a string that is not all digits of the notation asked for, or exceeds a ULONG, is NDIS_STATUS_FAILURE with no ParameterValue', () => {
  const bad: Record<string, string> = {
    Mixed: '15x4',
    Empty: '',
    Signed: '-1',
    Blank: ' 12',
    Prefixed: '0x1F',
    Hex: '1F', // no decimal
    Huge: '4294967296',
    HugeHex: '100000000',
  };
  const got: Record<string, unknown> = {};
  inInitialize(bad, (c) => {
    for (const k of Object.keys(bad)) {
      const type = k === 'HugeHex' || k === 'Prefixed' ? hex : int;
      got[k] = read(c, k, type);
    }
    got.Absent = read(c, 'Absent', int);
  });
  for (const k of [...Object.keys(bad), 'Absent']) assert.deepEqual(got[k], [fail, null, null], k);
});

test('R2.3, NdisReadConfiguration page: the predefined keywords give a 64-bit Windows NT machine and the newest NDIS version the model registers (6.89 = 0x00060059)', () => {
  const got: unknown[] = [];
  const drv = scriptedDriver('nic689', {
    // The version NdisVersion gives is one a driver may declare (R2.2: else BAD_VERSION).
    characteristics: (ch) => {
      ch.MinorNdisVersion = 89;
    },
    initialize: (a) => {
      const c = openConfig(a);
      got.push(read(c, 'Environment', int), read(c, 'ProcessorType', int), read(c, 'NdisVersion', hex));
      got.push(read(c, 'NdisVersion', int)); // the registry's value of that name does not hide it
      NdisCloseConfiguration(c);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name, registry: { NdisVersion: 5 } }],
  });
  assert.equal(w.run(100 * ns.ms).verdict, 'ok');
  assert.equal(w.device('nic0').status, 'started');
  assert.deepEqual(got, [
    [ok, int, NdisEnvironmentWindowsNt],
    [ok, int, NdisProcessorAmd64],
    [ok, int, 0x00060059],
    [ok, int, 0x00060059],
  ]);
});

// ------------------------------------------------------- NdisWriteConfiguration

test('R2.3, NdisWriteConfiguration page: a write replaces an entry or adds one, and NdisReadConfiguration reads it back', () => {
  const got: unknown[] = [];
  const w = inInitialize({ Speed: '100' }, (c) => {
    const write = (k: string, p: NDIS_CONFIGURATION_PARAMETER) => NdisWriteConfiguration(c, k, p);
    got.push(write('Speed', { ParameterType: int, ParameterData: { IntegerData: 1000 } }));
    got.push(write('Name', { ParameterType: str, ParameterData: { StringData: 'lab' } }));
    got.push(write('Mask', { ParameterType: hex, ParameterData: { IntegerData: 0xff } }));
    got.push(read(c, 'Speed', int), read(c, 'Name', str), read(c, 'Mask', hex));
  });
  assert.deepEqual(got, [ok, ok, ok, [ok, int, 1000], [ok, str, 'lab'], [ok, int, 0xff]]);
  // The device's registry parameters hold them: integers as REG_DWORD, strings as REG_SZ.
  assert.deepEqual(Object.fromEntries(w.device('nic0').registry), { Speed: 1000, Name: 'lab', Mask: 0xff });
});

test('R2.3, NdisWriteConfiguration page: what one start writes, the next start of the device reads (the registry outlives the adapter)', () => {
  const seen: unknown[] = [];
  const w = inInitialize(
    {},
    (c) => {
      const r = read(c, 'Starts', int);
      seen.push(r);
      const starts = r[0] === ok ? (r[2] as number) : 0;
      NdisWriteConfiguration(c, 'Starts', { ParameterType: int, ParameterData: { IntegerData: starts + 1 } });
    },
    [
      { atNs: 200 * ns.ms, action: { kind: 'disable', device: 'nic0' } },
      { atNs: 400 * ns.ms, action: { kind: 'start', device: 'nic0' } },
    ],
  );
  assert.deepEqual(seen, [
    [fail, null, null],
    [ok, int, 1],
  ]);
  assert.equal(w.device('nic0').registry.get('Starts'), 2);
});

test('R2.3, NdisWriteConfiguration page: NDIS_STATUS_NOT_SUPPORTED for a ParameterType that is no NDIS_PARAMETER_TYPE, NDIS_STATUS_FAILURE for data that is not of the type or a closed handle; nothing is written', () => {
  const got: unknown[] = [];
  const w = inInitialize({ Keep: 7 }, (c) => {
    const write = (p: unknown) => NdisWriteConfiguration(c, 'Keep', p as NDIS_CONFIGURATION_PARAMETER);
    got.push(write({ ParameterType: 9, ParameterData: { IntegerData: 1 } }));
    got.push(write({ ParameterType: int, ParameterData: { IntegerData: -1 } })); // no ULONG
    got.push(write({ ParameterType: int, ParameterData: { IntegerData: 1.5 } }));
    got.push(write({ ParameterType: int, ParameterData: { IntegerData: 0x1_0000_0000 } }));
    got.push(write({ ParameterType: int, ParameterData: { StringData: '1' } }));
    got.push(write({ ParameterType: str, ParameterData: { IntegerData: 1 } }));
    got.push(read(c, 'Keep', int));
  });
  assert.deepEqual(got, [NDIS_STATUS_NOT_SUPPORTED, fail, fail, fail, fail, fail, [ok, int, 7]]);
  assert.deepEqual(Object.fromEntries(w.device('nic0').registry), { Keep: 7 });

  let closed: unknown = null;
  const drv = scriptedDriver('closed-nic', {
    initialize: (a) => {
      const c = openConfig(a);
      NdisCloseConfiguration(c);
      closed = NdisWriteConfiguration(c, 'Late', { ParameterType: int, ParameterData: { IntegerData: 1 } });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w2 = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
  });
  // The handle was released: the write fails, and the use of a freed handle is reported.
  const r2 = w2.run(100 * ns.ms);
  assert.deepEqual(
    r2.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_ObjectFreedInUse', 'NdisWriteConfiguration']],
  );
  assert.equal(closed, fail);
  assert.equal(w2.device('nic0').registry.has('Late'), false);
});

test('NdisSim_ObjectFreedInUse: NdisCloseConfiguration twice, or a read through the closed handle (nf-ndis-ndiscloseconfiguration)', () => {
  let read2: unknown = null;
  const drv = scriptedDriver('close-twice-nic', {
    initialize: (a) => {
      const c = openConfig(a);
      NdisCloseConfiguration(c);
      read2 = NdisReadConfiguration(c, 'Anything', int).Status;
      NdisCloseConfiguration(c);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const r = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
  }).run(100 * ns.ms);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [
      ['NdisSim_ObjectFreedInUse', 'NdisReadConfiguration'],
      ['NdisSim_ObjectFreedInUse', 'NdisCloseConfiguration'],
    ],
  );
  assert.equal(read2, fail);
});

// ------------------------------------------------------- NdisReadNetworkAddress

test('R2.3, NdisReadNetworkAddress page: NetworkAddress hex digits become bytes, with or without hyphens between the pairs; the length is not checked', () => {
  const cases = ['02004C4F4F50', '02-00-4c-4f-4f-50', '0A0B0C'];
  const got: unknown[] = [];
  for (const NetworkAddress of cases) {
    inInitialize({ NetworkAddress }, (c) => {
      const r = NdisReadNetworkAddress(c);
      got.push([r.Status, r.NetworkAddress, r.NetworkAddressLength]);
    });
  }
  assert.deepEqual(got, [
    [ok, [0x02, 0x00, 0x4c, 0x4f, 0x4f, 0x50], 6],
    [ok, [0x02, 0x00, 0x4c, 0x4f, 0x4f, 0x50], 6],
    [ok, [0x0a, 0x0b, 0x0c], 3], // NDIS does not validate the value: the driver does
  ]);
});

test('R2.3, NdisReadNetworkAddress page: NDIS_STATUS_FAILURE when NetworkAddress is absent, not a string, or not hex digit pairs', () => {
  const cases: Record<string, number | string>[] = [
    {},
    { NetworkAddress: 0x1234 }, // a REG_DWORD ("4660" in decimal): "the value stored was not a string"
    { NetworkAddress: '02-00-ZZ-00-00-01' },
    { NetworkAddress: '0200A' }, // a last digit without its pair
    { NetworkAddress: '' },
    { NetworkAddress: '---' },
  ];
  const got: unknown[] = [];
  for (const registry of cases) {
    inInitialize(registry, (c) => {
      const r = NdisReadNetworkAddress(c);
      got.push([r.Status, r.NetworkAddress, r.NetworkAddressLength]);
    });
  }
  assert.deepEqual(
    got,
    cases.map(() => [fail, null, 0]),
  );
});

test('R2.3: NdisReadNetworkAddress reads a NetworkAddress that NdisWriteConfiguration wrote', () => {
  let got: unknown = null;
  inInitialize({}, (c) => {
    NdisWriteConfiguration(c, 'NetworkAddress', {
      ParameterType: str,
      ParameterData: { StringData: '02-11-22-33-44-55' },
    });
    const r = NdisReadNetworkAddress(c);
    got = [r.Status, r.NetworkAddress];
  });
  assert.deepEqual(got, [ok, [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]]);
});

// ----------------------------------------------------------------------- IRQL

test('R8.2, Irql_Miscellaneous_Function: each configuration DDI at DISPATCH is reported against its PASSIVE entry in the generated table', () => {
  const drv = scriptedDriver('dispatch-config', {
    initialize: (a) => {
      const c = openConfig(a);
      a.state.config = c;
      // A timer callback runs at DISPATCH.
      after(a, 10, () => {
        NdisReadConfiguration(c, 'X', int);
        NdisWriteConfiguration(c, 'X', { ParameterType: int, ParameterData: { IntegerData: 1 } });
        NdisReadNetworkAddress(c);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
  });
  const r = w.run(100 * ns.ms);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.irql]),
    [
      ['Irql_Miscellaneous_Function', 'NdisReadConfiguration', 2],
      ['Irql_Miscellaneous_Function', 'NdisWriteConfiguration', 2],
      ['Irql_Miscellaneous_Function', 'NdisReadNetworkAddress', 2],
    ],
  );
});

test("NdisOpenConfigurationEx with the driver handle opens the driver's own parameters: written in DriverEntry, read back in the next DriverEntry after a reload, and apart from the adapter's", () => {
  const openWith = (NdisHandle: NDIS_HANDLE) =>
    NdisOpenConfigurationEx({
      Header: { Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1 },
      NdisHandle,
      Flags: 0,
    });
  const seen: unknown[] = [];
  const drv = scriptedDriver('driver-config', {
    driverEntry: (handle) => {
      const r = openWith(handle);
      assert.equal(r.Status, NDIS_STATUS_SUCCESS);
      const c = r.ConfigurationHandle!;
      // What the driver's last load wrote (nothing the first time), then this load's count.
      const before = NdisReadConfiguration(c, 'Loads', NdisParameterInteger);
      const loads =
        before.Status === NDIS_STATUS_SUCCESS
          ? (before.ParameterValue!.ParameterData as { IntegerData: number }).IntegerData
          : 0;
      seen.push(loads);
      const w = NdisWriteConfiguration(c, 'Loads', {
        ParameterType: NdisParameterInteger,
        ParameterData: { IntegerData: loads + 1 },
      });
      assert.equal(w, NDIS_STATUS_SUCCESS);
      NdisCloseConfiguration(c);
      return NDIS_STATUS_SUCCESS;
    },
    initialize: (a) => {
      const c = openConfig(a);
      seen.push(NdisReadConfiguration(c, 'Loads', NdisParameterInteger).Status);
      NdisCloseConfiguration(c);
      return NDIS_STATUS_SUCCESS;
    },
  });
  // Removal unloads the driver; the start after it loads it again.
  const r = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [
      { atNs: 300 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
      { atNs: 600 * ns.ms, action: { kind: 'start', device: 'nic0' } },
    ],
  }).run(1 * ns.s);
  assert.equal(r.verdict, 'ok', r.violations.map((v) => v.message).join('; '));
  assert.deepEqual(seen, [0, NDIS_STATUS_FAILURE, 1, NDIS_STATUS_FAILURE]);
});
