// A filter driver's configuration (accessing-configuration-information-for-a-filter-driver):
// NdisOpenConfigurationEx with a module's NdisFilterHandle reads the module's instance
// key (the values its install gives, scenario `filters[].registry`), usable until
// FilterDetach returns; with the NdisFilterDriverHandle, the driver's own parameters,
// usable until NdisFDeregisterFilterDriver.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { type LwfDriver, type LwfModule, variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import {
  type DriverModule,
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NdisCloseConfiguration,
  NdisOpenConfigurationEx,
  NdisParameterInteger,
  NdisParameterString,
  NdisReadConfiguration,
  NdisWriteConfiguration,
  World,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { ns } from './helpers/world.ts';

const open = (NdisHandle: NDIS_HANDLE) =>
  NdisOpenConfigurationEx({
    Header: { Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1 },
    NdisHandle,
    Flags: 0,
  });

const readInt = (c: NDIS_HANDLE, k: string): number | null => {
  const r = NdisReadConfiguration(c, k, NdisParameterInteger);
  return r.Status === NDIS_STATUS_SUCCESS
    ? (r.ParameterValue!.ParameterData as { IntegerData: number }).IntegerData
    : null;
};

/** A filter whose FilterAttach runs `attach` with its module handle and driver record. */
function configFilter(
  name: string,
  attach: (h: NDIS_HANDLE, m: LwfModule, d: LwfDriver) => void,
): DriverModule {
  return variantOfMonitorLwf(name, 'reads its configuration in FilterAttach', (c, d) => {
    const base = c.AttachHandler;
    c.AttachHandler = (h, ctx, p) => {
      const s = base(h, ctx, p);
      if (s === NDIS_STATUS_SUCCESS) attach(h, { handle: h } as LwfModule, d);
      return s;
    };
  });
}

function world(f: DriverModule, registry?: Record<string, number | string>): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(healthyNic);
  w.addDriver(f);
  w.addFilter(f.name, registry === undefined ? {} : { registry });
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.addDevice({ name: 'nic1', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(0, { kind: 'start', device: 'nic1' });
  return w;
}

const rules = (w: World) => (w.lastResult?.violations ?? []).map((v) => `${v.rule}: ${v.message}`);

test('NdisOpenConfigurationEx with an NdisFilterHandle reads the module instance key its install gives; each adapter has its own, kept across a stop-filter and start-filter; the NdisFilterDriverHandle reads the driver parameters (accessing-configuration-information-for-a-filter-driver)', () => {
  const seen: string[] = [];
  let attaches = 0;
  const f = configFilter('cfg-reader', (h, _m, d) => {
    const c = open(h);
    assert.equal(c.Status, NDIS_STATUS_SUCCESS);
    const name = NdisReadConfiguration(c.ConfigurationHandle!, 'Label', NdisParameterString);
    const runs = readInt(c.ConfigurationHandle!, 'Attaches') ?? 0;
    seen.push(
      `${readInt(c.ConfigurationHandle!, 'Period')}:${(name.ParameterValue!.ParameterData as { StringData: string }).StringData}:${runs}`,
    );
    NdisWriteConfiguration(c.ConfigurationHandle!, 'Attaches', {
      ParameterType: NdisParameterInteger,
      ParameterData: { IntegerData: runs + 1 },
    });
    NdisCloseConfiguration(c.ConfigurationHandle!);
    const dc = open(d.handle!);
    assert.equal(dc.Status, NDIS_STATUS_SUCCESS);
    const total = readInt(dc.ConfigurationHandle!, 'Total') ?? 0;
    NdisWriteConfiguration(dc.ConfigurationHandle!, 'Total', {
      ParameterType: NdisParameterInteger,
      ParameterData: { IntegerData: total + 1 },
    });
    NdisCloseConfiguration(dc.ConfigurationHandle!);
    attaches = total + 1;
  });
  const w = world(f, { Period: 25, Label: 'edge' });
  w.at(100 * ns.ms, { kind: 'stop-filter', driver: f.name });
  w.at(200 * ns.ms, { kind: 'start-filter', driver: f.name });
  w.run(400 * ns.ms);
  assert.deepEqual(rules(w), []);
  // Two adapters, attached twice each: each module key counts its own attaches.
  assert.deepEqual(seen.sort(), ['25:edge:0', '25:edge:0', '25:edge:1', '25:edge:1']);
  assert.equal(attaches, 4, 'the driver parameters are one key for all modules');
});

test('NdisSim_ResourceNotFreed: FilterDetach returns with a configuration handle of its module still open; NdisSim_StaleHandle: the handle used after the detach', () => {
  const kept: NDIS_HANDLE[] = [];
  const f = configFilter('cfg-leaker', (h) => {
    const c = open(h);
    kept.push(c.ConfigurationHandle!);
  });
  const w = world(f, { Period: 25 });
  w.at(100 * ns.ms, { kind: 'stop-filter', driver: f.name });
  w.run(200 * ns.ms);
  const v = w.lastResult!.violations;
  assert.deepEqual(
    v.map((x) => `${x.rule}:${x.ddi}`),
    ['NdisSim_ResourceNotFreed:FilterDetach', 'NdisSim_ResourceNotFreed:FilterDetach'],
  );
  assert.match(v[0]!.message, /without freeing 1 configuration handle\(s\) \(NdisCloseConfiguration\)/);
  // After the detach the handle is dead: a read is reported and fails.
  const late = configFilter('cfg-late', (h) => kept.push(open(h).ConfigurationHandle!));
  kept.length = 0;
  const w2 = world(late);
  let status = 0;
  const reader = variantOfMonitorLwf('cfg-late-reader', 'reads a dead handle', (c) => {
    const base = c.AttachHandler;
    c.AttachHandler = (h, ctx, p) => {
      if (kept.length > 0) status = NdisReadConfiguration(kept[0]!, 'Period', NdisParameterInteger).Status;
      return base(h, ctx, p);
    };
  });
  w2.addDriver(reader);
  w2.at(100 * ns.ms, { kind: 'stop-filter', driver: late.name });
  w2.at(150 * ns.ms, { kind: 'start-filter', driver: reader.name });
  w2.run(300 * ns.ms);
  const stale = w2.lastResult!.violations.filter((x) => x.rule === 'NdisSim_StaleHandle');
  assert.ok(stale.length > 0, rules(w2).join('\n'));
  assert.match(
    stale[0]!.message,
    /configuration handle of filter module cfg-late@nic[01], which was detached/,
  );
  assert.equal(status, NDIS_STATUS_FAILURE);
});

test('scenario filters[].registry is what the module reads; a value that is neither an integer nor a string is refused with file, field, expected and found', () => {
  let period: number | null = null;
  const f = configFilter('cfg-yaml', (h) => {
    const c = open(h);
    period = readInt(c.ConfigurationHandle!, 'Period');
    NdisCloseConfiguration(c.ConfigurationHandle!);
  });
  const s = parseScenarioText(
    'until: 50ms\nfilters: [{ driver: cfg-yaml, registry: { Period: 75 } }]\ndevices: [{ name: nic0, driver: healthy-nic }]\n',
    'cfg.yaml',
    driverNames([f]),
  );
  const w = buildWorld(s, { seed: 1, drivers: [f] });
  w.run(untilNs(s));
  assert.equal(period, 75);
  assert.throws(
    () =>
      parseScenarioText(
        'filters: [{ driver: cfg-yaml, registry: { Period: [1] } }]\ndevices: [{ name: nic0, driver: healthy-nic }]\n',
        'cfg.yaml',
        driverNames([f]),
      ),
    (e: { problems?: string[] }) =>
      (e.problems ?? []).some((p) => p.startsWith('cfg.yaml: filters[0].registry.Period:')),
  );
});
