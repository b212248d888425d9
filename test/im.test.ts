// Intermediate drivers (docs/model.md, "Intermediate drivers"; R5.23): mux-im's protocol
// edge binds to nic0 and asks for a virtual miniport (NdisIMInitializeDeviceInstanceEx);
// the teardown below cascades through NdisIMDeInitializeDeviceInstance and
// NdisHaltDeviceInstanceDeInitialized before the adapter below is halted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinDrivers, driverNames } from '../src/drivers/index.ts';
import { muxIntermediate } from '../src/drivers/mux-im.ts';
import {
  type DriverModule,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_SUCCESS,
  type NDIS_STRING,
  NdisDeviceStateD0,
  NdisDeviceStateD3,
  NdisHaltDeviceInstanceDeInitialized,
  NdisIMDeInitializeDeviceInstance,
  NdisIMGetBindingContext,
  NdisIMInitializeDeviceInstanceEx,
  NdisMNetPnPEvent,
  type NET_PNP_EVENT_NOTIFICATION,
  NET_PNP_EVENT_NOTIFICATION_REVISION_1,
  NetEventPause,
  NetEventQueryPower,
  NetEventQueryRemoveDevice,
  NetEventReconfigure,
  NetEventSetPower,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { World, type WorldAction } from '../src/world.ts';
import { protocolStep } from './helpers/protocol.ts';
import { inOrder, is, ns } from './helpers/world.ts';

/** nic0 (healthy-nic) with tcpip and the intermediate driver `im` installed above it. */
function imWorld(
  opts: { seed?: number; im?: string; verifier?: 'bugcheck' | 'collect'; at?: [number, WorldAction][] } = {},
): World {
  const w = new World({ seed: opts.seed ?? 1, verifier: opts.verifier ?? 'bugcheck' });
  for (const d of builtinDrivers) w.addDriver(d);
  w.addProtocol('tcpip');
  w.addProtocolDriver(opts.im ?? 'mux-im');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const [t, a] of opts.at ?? []) w.at(t, a);
  return w;
}

const call = (what: string, adapter: string) => (e: TraceEvent) =>
  e.kind === 'call' && e.what === what && e.data?.adapter === adapter;

/** The VELAN's MiniportHaltEx for NdisIMDeInitializeDeviceInstance (R5.23). */
const velanDeInitHalt = (e: TraceEvent): boolean =>
  call('MiniportHaltEx', 'nic0-velan')(e) && e.data?.HaltAction === 'NdisHaltDeviceInstanceDeInitialized';

/** mux-im's ProtocolNetPnPEvent for nic0 returning: its answer below. */
const imAnswersBelow = (e: TraceEvent): boolean =>
  e.kind === 'return' &&
  e.what === 'ProtocolNetPnPEvent' &&
  e.actor === 'mux-im' &&
  e.data?.adapter === 'nic0';

/** NdisMNetPnPEvent passing `netEvent` up from the VELAN. */
const passedUp = (netEvent: string) => (e: TraceEvent) =>
  e.what === 'NdisMNetPnPEvent' && e.data?.adapter === 'nic0-velan' && e.data?.NetEvent === netEvent;

function ustr(text: string): NDIS_STRING {
  const Buffer = new Uint8Array(2 * text.length + 2);
  for (let i = 0; i < text.length; i++) Buffer[2 * i] = text.charCodeAt(i);
  return { Length: 2 * text.length, MaximumLength: Buffer.length, Buffer };
}

test('an intermediate driver installed as a protocol driver registers both edges (NDIS_INTERMEDIATE_DRIVER, NdisIMAssociateMiniport) and its bind brings up a virtual miniport: a root-enumerated device named by DriverInstance, MiniportInitializeEx with IMDeviceInstanceContext, tcpip bound to it, the IM not bound to its own VELAN', () => {
  const w = imWorld();
  const r = w.run(20 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  inOrder(ev, [
    [
      'miniport edge',
      (e) => e.what === 'NdisMRegisterMiniportDriver' && e.data?.Flags === 'NDIS_INTERMEDIATE_DRIVER',
    ],
    ['protocol edge', is('ddi', 'NdisRegisterProtocolDriver')],
    ['associate', is('ddi', 'NdisIMAssociateMiniport')],
    ['IM binds below', call('ProtocolBindAdapterEx', 'nic0')],
    [
      'asks for the VELAN',
      (e) => e.what === 'NdisIMInitializeDeviceInstanceEx' && e.data?.DriverInstance === 'nic0-velan',
    ],
    [
      'VELAN start',
      (e) => e.kind === 'irp' && e.what === 'IRP_MN_START_DEVICE' && e.data?.device === 'nic0-velan',
    ],
    ['VELAN init', call('MiniportInitializeEx', 'nic0-velan')],
    ['tcpip binds above', call('ProtocolBindAdapterEx', 'nic0-velan')],
  ]);
  const s = w.summary();
  const dev = s.devices.find((d) => d.name === 'nic0-velan');
  assert.equal(dev?.status, 'started');
  assert.equal(dev?.driver, 'mux-im');
  assert.match(dev?.instanceId ?? '', /^ROOT\\NET\\/);
  assert.equal(s.adapters.find((a) => a.name === 'nic0-velan')?.state, 'Running');
  // IMDeviceInstanceContext was mux-im's binding below: the VELAN took nic0's MAC from it.
  assert.deepEqual(
    w.adapter('nic0-velan')?.general?.CurrentMacAddress,
    w.adapter('nic0')?.general?.CurrentMacAddress,
  );
  // The protocol edge declines its own virtual miniport; tcpip binds to both.
  assert.deepEqual(
    s.protocolDrivers[0]?.bindings.map((b) => b.adapter),
    ['nic0'],
  );
  assert.ok(ev.some((e) => call('ProtocolBindAdapterEx', 'nic0-velan')(e) && e.actor === 'tcpip'));
  assert.ok(!ev.some((e) => call('ProtocolBindAdapterEx', 'nic0-velan')(e) && e.actor === 'mux-im'));
});

test('R5.23, NdisHaltDeviceInstanceDeInitialized: the adapter below is surprise-removed; the IM unbind calls NdisIMDeInitializeDeviceInstance, tcpip is unbound from the VELAN, the VELAN is halted with NdisHaltDeviceInstanceDeInitialized, the IM closes its binding below, and only then is nic0 halted', () => {
  const w = imWorld({ at: [[20 * ns.ms, { kind: 'surprise-remove', device: 'nic0' }]] });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(r.pending, []);
  const ev = w.trace.events;
  const at = inOrder(ev, [
    ['IM unbind', (e) => call('ProtocolUnbindAdapterEx', 'nic0')(e) && e.actor === 'mux-im'],
    [
      'de-initialize',
      (e) => e.what === 'NdisIMDeInitializeDeviceInstance' && e.data?.result === 'NDIS_STATUS_SUCCESS',
    ],
    [
      'tcpip paused above',
      (e) => call('ProtocolNetPnPEvent', 'nic0-velan')(e) && e.data?.NetEvent === 'NetEventPause',
    ],
    ['VELAN paused', call('MiniportPause', 'nic0-velan')],
    ['tcpip unbound above', (e) => call('ProtocolUnbindAdapterEx', 'nic0-velan')(e) && e.actor === 'tcpip'],
    ['VELAN halted', velanDeInitHalt],
    ['IM closes below', (e) => e.what === 'NdisCloseAdapterEx' && e.actor === 'mux-im'],
    [
      'nic0 halted',
      (e) => call('MiniportHaltEx', 'nic0')(e) && e.data?.HaltAction === 'NdisHaltDeviceSurpriseRemoved',
    ],
  ]);
  assert.equal(at.length, 8);
  const s = w.summary();
  assert.equal(
    s.adapters.find((a) => a.name === 'nic0-velan')?.haltAction,
    'NdisHaltDeviceInstanceDeInitialized',
  );
  const dev = s.devices.find((d) => d.name === 'nic0-velan');
  assert.equal(dev?.status, 'not started');
  assert.equal(dev?.problem, 0);
  assert.equal(s.devices.find((d) => d.name === 'nic0')?.status, 'gone');
  assert.deepEqual(s.protocolDrivers[0]?.bindings, []);
});

test('R5.23: examples/im-mux.yaml — flaky-nic gives up with NdisMRemoveMiniport; the VELAN above goes with NdisHaltDeviceInstanceDeInitialized before nic0 is halted with NdisHaltDeviceFailed (Code 43)', () => {
  const sc = loadScenario('examples/im-mux.yaml', driverNames());
  const w = buildWorld(sc);
  const r = w.run(untilNs(sc));
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  inOrder(ev, [
    ['NdisMRemoveMiniport', (e) => e.what === 'NdisMRemoveMiniport' && e.data?.adapter === 'nic0'],
    ['VELAN halted', velanDeInitHalt],
    [
      'nic0 halted',
      (e) => call('MiniportHaltEx', 'nic0')(e) && e.data?.HaltAction === 'NdisHaltDeviceFailed',
    ],
  ]);
  assert.equal(w.summary().devices.find((d) => d.name === 'nic0')?.problem, 43);
});

test('a stop of the adapter below (resource rebalancing) takes the VELAN down with NdisHaltDeviceInstanceDeInitialized, and the rebind after the restart brings it up again on a new FDO', () => {
  const w = imWorld({ at: [[20 * ns.ms, { kind: 'stop', device: 'nic0' }]] });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(r.pending, []);
  inOrder(w.trace.events, [
    ['first init', call('MiniportInitializeEx', 'nic0-velan')],
    ['halt', velanDeInitHalt],
    [
      'nic0 stopped',
      (e) => call('MiniportHaltEx', 'nic0')(e) && e.data?.HaltAction === 'NdisHaltDeviceStopped',
    ],
    ['asked again', is('ddi', 'NdisIMInitializeDeviceInstanceEx')],
    ['second init', call('MiniportInitializeEx', 'nic0-velan')],
  ]);
  assert.equal(w.adapter('nic0-velan')?.state, 'Running');
  assert.equal(w.adapter('nic0')?.state, 'Running');
});

test("R7.11, R2.16: stopping the IM driver's service (stop-protocol): mux-im, like the MUX sample, sets no DRIVER_OBJECT.DriverUnload; NDIS's Unload routine (installed by NdisMRegisterMiniportDriver) calls its MiniportDriverUnload once, which deregisters the protocol edge, whose unbind de-initializes the VELAN (NdisHaltDeviceInstanceDeInitialized), then the miniport edge", () => {
  const w = imWorld({ verifier: 'collect', at: [[20 * ns.ms, { kind: 'stop-protocol', driver: 'mux-im' }]] });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(r.pending, []);
  assert.ok(!r.warnings.some((x) => x.rule === 'R7.11'), JSON.stringify(r.warnings));
  const ev = w.trace.events;
  inOrder(ev, [
    [
      "NDIS's Unload routine",
      (e) => e.kind === 'ndis' && /NDIS's Unload routine calls its MiniportDriverUnload/.test(e.what),
    ],
    ['MiniportDriverUnload', is('call', 'MiniportDriverUnload')],
    ['deregister protocol edge', is('ddi', 'NdisDeregisterProtocolDriver')],
    ['de-initialize', is('ddi', 'NdisIMDeInitializeDeviceInstance')],
    ['VELAN halted', velanDeInitHalt],
    ['deregister miniport edge', is('ddi', 'NdisMDeregisterMiniportDriver')],
  ]);
  assert.equal(ev.filter(is('call', 'MiniportDriverUnload')).length, 1);
  assert.ok(!ev.some(is('call', 'DriverUnload')));
  assert.equal(w.summary().protocolDrivers.find((p) => p.driver === 'mux-im')?.unloaded, true);
  assert.equal(w.adapter('nic0')?.state, 'Running');
});

test("R7.11: an IM driver that writes DRIVER_OBJECT.DriverUnload itself after registering replaced NDIS's Unload routine: stop-protocol calls that routine, and no MiniportDriverUnload comes after it", () => {
  const m = muxIntermediate('im-own-unload', 'its own Unload routine', { ownDriverUnload: true });
  const w = mistakeWorld('im-own-unload', m, {
    at: [[20 * ns.ms, { kind: 'stop-protocol', driver: 'im-own-unload' }]],
  });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(r.pending, []);
  const ev = w.trace.events;
  assert.equal(ev.filter(is('call', 'DriverUnload')).length, 1);
  assert.ok(!ev.some(is('call', 'MiniportDriverUnload')));
  assert.equal(ev.filter(is('ddi', 'NdisMDeregisterMiniportDriver')).length, 1);
});

test('R2.16, R5.23: stop-protocol of mux-im over several seeds: while its MiniportDriverUnload is blocked in NdisDeregisterProtocolDriver (the unbind de-initializes the VELAN, whose halt pends the close below), the removal of the last VELAN unloads nothing; the driver stops once, cleanly', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const w = imWorld({
      seed,
      verifier: 'collect',
      at: [[4 * ns.s, { kind: 'stop-protocol', driver: 'mux-im' }]],
    });
    const r = w.run(5 * ns.s);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.message ?? ''}`);
    assert.deepEqual(r.pending, [], `seed ${seed}`);
    const ev = w.trace.events;
    assert.equal(ev.filter(is('call', 'MiniportDriverUnload')).length, 1, `seed ${seed}`);
    assert.ok(!ev.some(is('call', 'DriverUnload')), `seed ${seed}`);
    assert.equal(ev.filter(is('ddi', 'NdisDeregisterProtocolDriver')).length, 1, `seed ${seed}`);
    assert.equal(w.adapter('nic0')?.state, 'Running', `seed ${seed}`);
  }
});

test('R5.8: a virtual miniport whose MiniportInitializeEx fails is a device failure: the VELAN is surprise-removed and shows Code 43 (not Code 10), with no halt; the adapter below runs on', () => {
  const refused = muxIntermediate('im-refuses-velan', 'refuses its VELAN', {
    initializeStatus: NDIS_STATUS_FAILURE,
  });
  const w = new World({ seed: 1 });
  for (const d of builtinDrivers) w.addDriver(d);
  w.addDriver(refused);
  w.addProtocol('tcpip');
  w.addProtocolDriver('im-refuses-velan');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(50 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  inOrder(ev, [
    [
      'init fails',
      (e) => e.kind === 'return' && e.what === 'MiniportInitializeEx' && e.data?.adapter === 'nic0-velan',
    ],
    ['device failed', (e) => e.what === 'device-failed flag set' && e.data?.adapter === 'nic0-velan'],
    [
      'surprise removal',
      (e) => e.kind === 'irp' && e.what === 'IRP_MN_SURPRISE_REMOVAL' && e.data?.device === 'nic0-velan',
    ],
  ]);
  assert.ok(!ev.some(call('MiniportHaltEx', 'nic0-velan')));
  const dev = w.summary().devices.find((d) => d.name === 'nic0-velan');
  assert.equal(dev?.status, 'failed');
  assert.equal(dev?.problem, 43);
  assert.equal(w.adapter('nic0')?.state, 'Running');
});

test('NdisIMCancelInitializeDeviceInstance: the adapter below goes before the VELAN started; the IM unbind cancels the queued start (SUCCESS), closes at once, and the VELAN never initializes (seed 2)', () => {
  const w = imWorld({ seed: 2, at: [[0, { kind: 'surprise-remove', device: 'nic0' }]] });
  const r = w.run(50 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  inOrder(ev, [
    ['asks for the VELAN', is('ddi', 'NdisIMInitializeDeviceInstanceEx')],
    [
      'cancel succeeds',
      (e) => e.what === 'NdisIMCancelInitializeDeviceInstance' && e.data?.result === 'NDIS_STATUS_SUCCESS',
    ],
    ['nic0 halted', call('MiniportHaltEx', 'nic0')],
    [
      'start lapses',
      (e) => e.what === 'start cancelled by its function driver' && e.data?.device === 'nic0-velan',
    ],
  ]);
  assert.ok(!ev.some(call('MiniportInitializeEx', 'nic0-velan')));
  assert.equal(w.summary().devices.find((d) => d.name === 'nic0-velan')?.status, 'not started');
});

test('NdisIMInitializeDeviceInstanceEx for an instance that is up already is NDIS_STATUS_NOT_ACCEPTED; after NdisIMDeInitializeDeviceInstance the same instance starts again with a new FDO', () => {
  const w = imWorld();
  const got: number[] = [];
  const handle = () => w.ndis.drivers.get('mux-im')!;
  // mux-im's DeviceContext (its binding below), as NDIS recorded it.
  let context: unknown = null;
  protocolStep(w, 20 * ns.ms, 'mux-im', () => {
    context = w.adapter('nic0-velan')!.im!.context;
    got.push(NdisIMInitializeDeviceInstanceEx(handle(), ustr('nic0-velan'), context));
    got.push(NdisIMDeInitializeDeviceInstance(w.adapter('nic0-velan')!));
  });
  protocolStep(w, 40 * ns.ms, 'mux-im', () => {
    got.push(NdisIMInitializeDeviceInstanceEx(handle(), ustr('nic0-velan'), context));
  });
  const r = w.run(60 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(got, [NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_SUCCESS, NDIS_STATUS_SUCCESS]);
  const ev = w.trace.events;
  inOrder(ev, [
    ['first init', call('MiniportInitializeEx', 'nic0-velan')],
    ['halt', velanDeInitHalt],
    ['FDO gone', (e) => e.what === 'FDO deleted (NdisIMDeInitializeDeviceInstance)'],
    ['second init', call('MiniportInitializeEx', 'nic0-velan')],
    ['tcpip binds again', (e) => call('ProtocolBindAdapterEx', 'nic0-velan')(e) && e.actor === 'tcpip'],
  ]);
  assert.equal(w.adapter('nic0-velan')?.state, 'Running');
  assert.equal(w.summary().devices.find((d) => d.name === 'nic0-velan')?.status, 'started');
});

test('NdisSim_IMRemoveMiniport (R5.23): an IM unbind that gives up its VELAN with NdisMRemoveMiniport breaks the rule; in collect mode the device below then waits, since the VELAN fails through the PnP manager that is busy with the removal below', () => {
  const stop = imWorld({
    im: 'im-remove-miniport',
    at: [[20 * ns.ms, { kind: 'surprise-remove', device: 'nic0' }]],
  });
  const r = stop.run(100 * ns.ms);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.rule, 'NdisSim_IMRemoveMiniport');
  assert.match(r.bugCheck?.message ?? '', /NdisIMDeInitializeDeviceInstance.*R5\.23/);
  // NdisMRemoveMiniport writes its trace line before this check: the bug check adds none.
  const removes = stop.trace.events.filter((e) => e.kind === 'ddi' && e.what === 'NdisMRemoveMiniport');
  assert.equal(removes.length, 1);
  assert.equal(removes[0]!.data?.result, undefined);
  const go = imWorld({
    im: 'im-remove-miniport',
    verifier: 'collect',
    at: [[20 * ns.ms, { kind: 'surprise-remove', device: 'nic0' }]],
  });
  const c = go.run(100 * ns.ms);
  assert.deepEqual(
    c.violations.map((v) => v.rule),
    ['NdisSim_IMRemoveMiniport'],
  );
  assert.ok(
    c.pending.some((p) => /unbind pending/.test(p)),
    c.pending.join('; '),
  );
  // The reference driver does the same teardown without a violation or a wait.
  const ok = imWorld({ at: [[20 * ns.ms, { kind: 'surprise-remove', device: 'nic0' }]] }).run(100 * ns.ms);
  assert.equal(ok.verdict, 'ok');
});

test('NdisSim_IMDeviceInstance: NdisIMDeInitializeDeviceInstance with the handle of an adapter that is not a virtual miniport returns NDIS_STATUS_FAILURE, and the adapter stays up', () => {
  const w = imWorld({ verifier: 'collect' });
  let got = -1;
  protocolStep(w, 20 * ns.ms, 'mux-im', () => {
    got = NdisIMDeInitializeDeviceInstance(w.adapter('nic0')!);
  });
  const r = w.run(40 * ns.ms);
  assert.equal(got, NDIS_STATUS_FAILURE);
  assert.deepEqual(
    r.violations.map((v) => v.rule),
    ['NdisSim_IMDeviceInstance'],
  );
  assert.equal(w.adapter('nic0')?.state, 'Running');
});

test('Irql_IM_Function: NdisIMInitializeDeviceInstanceEx at DISPATCH_LEVEL breaks the IRQL rule (PASSIVE_LEVEL only)', () => {
  const w = imWorld();
  protocolStep(
    w,
    20 * ns.ms,
    'mux-im',
    () => {
      NdisIMInitializeDeviceInstanceEx(w.ndis.drivers.get('mux-im')!, ustr('other-velan'), null);
    },
    2,
  );
  const r = w.run(40 * ns.ms);
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.rule, 'Irql_IM_Function');
});

test('not modelled, and says so: a scenario device of its own for a driver registered with NDIS_INTERMEDIATE_DRIVER', () => {
  const own: DriverModule = muxIntermediate('im-own-device', 'an IM driver named by a device');
  const v = new World({ seed: 1 });
  v.addDriver(own);
  v.addDevice({ name: 'vnic', driver: 'im-own-device', hardware: 'none' });
  v.at(0, { kind: 'start', device: 'vnic' });
  const r2 = v.run(10 * ns.ms);
  assert.equal(r2.verdict, 'not-modelled');
  // Its DriverEntry runs for the device, where its protocol edge has no place.
  assert.match(
    r2.message ?? '',
    /^NdisRegisterProtocolDriver is not modelled.*installed as a protocol driver/,
  );
});

/** A binding of protocol driver `protocol` to `adapter`, as its NdisBindingHandle. */
function bindingOfDriver(w: World, adapter: string, protocol: string): NDIS_HANDLE {
  const bd = w.adapter(adapter)?.bindings.find((x) => x.protocol.name === protocol && x.open !== null);
  assert.ok(bd, `${protocol} is bound to ${adapter}`);
  return bd;
}

test('nf-ndis-ndisimgetbindingcontext: a protocol bound to the VELAN reads the DeviceContext mux-im gave NdisIMInitializeDeviceInstanceEx (its binding below); over a physical adapter the answer is NULL', () => {
  const w = imWorld();
  w.addProtocolDriver('echo-proto');
  let above: unknown;
  let below: unknown = 'unset';
  let lower: unknown;
  protocolStep(w, 20 * ns.ms, 'echo-proto', () => {
    above = NdisIMGetBindingContext(bindingOfDriver(w, 'nic0-velan', 'echo-proto'));
    below = NdisIMGetBindingContext(bindingOfDriver(w, 'nic0', 'echo-proto'));
    lower = bindingOfDriver(w, 'nic0', 'mux-im');
  });
  const r = w.run(40 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.equal(below, null);
  // mux-im's DeviceContext is its record of the binding below, whose handle is mux-im's binding to nic0.
  assert.ok(above !== null && typeof above === 'object');
  assert.equal((above as { handle: unknown }).handle, lower);
  assert.equal(w.adapter('nic0-velan')?.im?.context, above);
});

test('nf-ndis-ndismnetpnpevent: an orderly removal of nic0; mux-im passes NetEventQueryRemoveDevice up to its VELAN from its ProtocolNetPnPEvent, tcpip above hears it there, and the SUCCESS it returns lets the removal go on', () => {
  const w = imWorld({ at: [[20 * ns.ms, { kind: 'remove', device: 'nic0' }]] });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  const at = inOrder(ev, [
    [
      'IM hears the query below',
      (e) =>
        call('ProtocolNetPnPEvent', 'nic0')(e) &&
        e.actor === 'mux-im' &&
        e.data?.NetEvent === 'NetEventQueryRemoveDevice',
    ],
    ['propagated', passedUp('NetEventQueryRemoveDevice')],
    [
      'tcpip above hears it',
      (e) =>
        call('ProtocolNetPnPEvent', 'nic0-velan')(e) &&
        e.actor === 'tcpip' &&
        e.data?.NetEvent === 'NetEventQueryRemoveDevice',
    ],
    ['answered', (e) => e.what === 'NdisMNetPnPEvent NetEventQueryRemoveDevice answered'],
    ['IM answers below', imAnswersBelow],
    ['VELAN halted', velanDeInitHalt],
  ]);
  assert.equal(ev[at[3]!]!.data?.status, 'NDIS_STATUS_SUCCESS');
  assert.equal(ev[at[4]!]!.data?.result, 'NDIS_STATUS_SUCCESS');
  assert.equal(w.summary().devices.find((d) => d.name === 'nic0')?.status, 'removed');
});

test('nf-ndis-ndismnetpnpevent, R5.1: a veto above the VELAN is the answer below: tcpip fails the propagated NetEventQueryRemoveDevice, NdisMNetPnPEvent returns its status, mux-im returns it, the removal of nic0 is refused, and the NetEventCancelRemoveDevice that follows is passed up too', () => {
  const w = new World({ seed: 1, verifier: 'bugcheck' });
  for (const d of builtinDrivers) w.addDriver(d);
  w.addProtocol('tcpip', { vetoQueryRemove: true });
  w.addProtocolDriver('mux-im');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(20 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(60 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  const at = inOrder(ev, [
    ['veto above', (e) => e.what === 'NdisMNetPnPEvent NetEventQueryRemoveDevice answered'],
    ['IM answers below', imAnswersBelow],
    ['cancel propagated', passedUp('NetEventCancelRemoveDevice')],
    [
      'tcpip above hears the cancel',
      (e) =>
        call('ProtocolNetPnPEvent', 'nic0-velan')(e) && e.data?.NetEvent === 'NetEventCancelRemoveDevice',
    ],
  ]);
  assert.equal(ev[at[0]!]!.data?.status, 'NDIS_STATUS_FAILURE');
  assert.equal(ev[at[1]!]!.data?.result, 'NDIS_STATUS_FAILURE');
  // Nothing came down: both adapters run on.
  assert.ok(!ev.some(call('MiniportHaltEx', 'nic0-velan')));
  assert.ok(!ev.some(call('MiniportHaltEx', 'nic0')));
});

/** A NET_PNP_EVENT_NOTIFICATION of `code` with no buffer. */
function netEvent(code: number): NET_PNP_EVENT_NOTIFICATION {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_PNP_EVENT_NOTIFICATION_REVISION_1 },
    PortNumber: 0,
    NetPnPEvent: { NetEvent: code, Buffer: null, BufferLength: 0 },
  };
}

test('NdisSim_IMNetPnPEvent (nf-ndis-ndismnetpnpevent): NetEventPause from the VELAN is not delivered (SUCCESS); NetEventQueryRemoveDevice from a physical miniport neither (NDIS_STATUS_INVALID_PARAMETER); both are reported', () => {
  const w = imWorld({ verifier: 'collect' });
  const got: number[] = [];
  protocolStep(w, 20 * ns.ms, 'mux-im', () => {
    got.push(NdisMNetPnPEvent(w.adapter('nic0-velan')!, netEvent(NetEventPause)));
    got.push(NdisMNetPnPEvent(w.adapter('nic0')!, netEvent(NetEventQueryRemoveDevice)));
  });
  const r = w.run(40 * ns.ms);
  assert.deepEqual(got, [NDIS_STATUS_SUCCESS, NDIS_STATUS_INVALID_PARAMETER]);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.adapter]),
    [
      ['NdisSim_IMNetPnPEvent', 'nic0-velan'],
      ['NdisSim_IMNetPnPEvent', 'nic0'],
    ],
  );
  const ev = w.trace.events.filter((e) => e.t >= 20 * ns.ms);
  assert.ok(!ev.some((e) => e.what === 'ProtocolNetPnPEvent' && e.data?.NetEvent === 'NetEventPause'));
  assert.ok(
    !ev.some((e) => e.what === 'ProtocolNetPnPEvent' && e.data?.NetEvent === 'NetEventQueryRemoveDevice'),
  );
});

test("nf-ndis-ndismnetpnpevent: NetEventQueryPower passed up from the VELAN reaches tcpip above with the caller's buffer (the device power state), and the call returns its answer; NetEventSetPower returns SUCCESS", () => {
  const w = imWorld();
  const got: number[] = [];
  protocolStep(w, 20 * ns.ms, 'mux-im', () => {
    const q = netEvent(NetEventQueryPower);
    q.NetPnPEvent.Buffer = NdisDeviceStateD3;
    q.NetPnPEvent.BufferLength = 4;
    got.push(NdisMNetPnPEvent(w.adapter('nic0-velan')!, q));
    const d0 = netEvent(NetEventSetPower);
    d0.NetPnPEvent.Buffer = NdisDeviceStateD0;
    d0.NetPnPEvent.BufferLength = 4;
    got.push(NdisMNetPnPEvent(w.adapter('nic0-velan')!, d0));
  });
  const r = w.run(40 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(got, [NDIS_STATUS_SUCCESS, NDIS_STATUS_SUCCESS]);
  const ev = w.trace.events.filter((e) => e.t >= 20 * ns.ms);
  const heard = ev.filter(
    (e) =>
      call('ProtocolNetPnPEvent', 'nic0-velan')(e) &&
      e.actor === 'tcpip' &&
      /Power/.test(String(e.data?.NetEvent)),
  );
  assert.deepEqual(
    heard.map((e) => e.data?.NetEvent),
    ['NetEventQueryPower', 'NetEventSetPower'],
  );
  assert.deepEqual(
    heard.map((e) => e.data?.Buffer),
    ['NdisDeviceStateD3', 'NdisDeviceStateD0'],
  );
  // Only the VELAN's protocols: nothing reached nic0's.
  assert.ok(
    !ev.some((e) => call('ProtocolNetPnPEvent', 'nic0')(e) && /Power/.test(String(e.data?.NetEvent))),
  );
});

test('not modelled, and says so: NdisMNetPnPEvent with NetEventReconfigure from a virtual miniport', () => {
  const w = imWorld();
  protocolStep(w, 20 * ns.ms, 'mux-im', () => {
    NdisMNetPnPEvent(w.adapter('nic0-velan')!, netEvent(NetEventReconfigure));
  });
  const r = w.run(40 * ns.ms);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', /^NdisMNetPnPEvent is not modelled.*NetEventReconfigure/);
});

/** nic0 with frames from the wire, tcpip sending on every binding, mux-im above nic0. */
function busyImWorld(seed: number, at: [number, WorldAction][] = []): World {
  const w = new World({ seed, verifier: 'collect' });
  for (const d of builtinDrivers) w.addDriver(d);
  w.addProtocol('tcpip', {
    traffic: { ratePerSecond: 2000, frameBytes: 300, returnDelayNs: ns.ms, statisticsEveryNs: 5 * ns.ms },
  });
  w.addProtocolDriver('mux-im');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 2000 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const [t, a] of at) w.at(t, a);
  return w;
}

/** What mux-im's VELAN counted (its MiniportAdapterContext). */
const velanOf = (w: World) =>
  w.adapter('nic0-velan')?.context as {
    forwardedOids: number;
    forwardedSends: number;
    forwardedReceives: number;
    sends: number;
    receives: number;
  };

test("data between the edges: tcpip's sends to the VELAN go down nic0 as mux-im's clones (NdisAllocateCloneNetBufferList, NdisSendNetBufferLists) and complete above (NdisMSendNetBufferListsComplete); nic0's receives go up the VELAN (NdisMIndicateReceiveNetBufferLists) and back below (NdisReturnNetBufferLists) when tcpip returns them", () => {
  const w = busyImWorld(1);
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(r.violations, []);
  const v = velanOf(w);
  assert.ok(v.forwardedSends > 20, `sends forwarded: ${v.forwardedSends}`);
  assert.ok(v.forwardedReceives > 20, `receives forwarded: ${v.forwardedReceives}`);
  const ev = w.trace.events;
  inOrder(ev, [
    ['a send to the VELAN', (e) => call('MiniportSendNetBufferLists', 'nic0-velan')(e)],
    ['cloned', (e) => e.what === 'NdisAllocateCloneNetBufferList' && e.actor === 'mux-im'],
    [
      'sent below',
      (e) => e.what === 'NdisSendNetBufferLists' && e.actor === 'mux-im' && e.data?.adapter === 'nic0',
    ],
    ['completed below', (e) => call('ProtocolSendNetBufferListsComplete', 'nic0')(e) && e.actor === 'mux-im'],
    [
      'completed above',
      (e) => call('ProtocolSendNetBufferListsComplete', 'nic0-velan')(e) && e.actor === 'tcpip',
    ],
  ]);
  inOrder(ev, [
    ['received below', (e) => call('ProtocolReceiveNetBufferLists', 'nic0')(e) && e.actor === 'mux-im'],
    ['indicated above', (e) => call('ProtocolReceiveNetBufferLists', 'nic0-velan')(e) && e.actor === 'tcpip'],
    ['returned above', (e) => call('MiniportReturnNetBufferLists', 'nic0-velan')(e)],
    ['returned below', (e) => e.what === 'NdisReturnNetBufferLists' && e.actor === 'mux-im'],
  ]);
  // The protocol edge sent exactly what the VELAN forwarded.
  const p = w.summary().protocolDrivers.find((x) => x.driver === 'mux-im');
  assert.equal(p?.sent, v.forwardedSends);
});

test("OID requests between the edges: the VELAN answers tcpip's packet filter set itself, and passes its OID_GEN_STATISTICS queries down as copies (NdisOidRequest on nic0) whose answer completes the original above (NdisMOidRequestComplete, with nic0's BytesWritten)", () => {
  const w = busyImWorld(1);
  const r = w.run(30 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(r.violations, []);
  const ev = w.trace.events;
  const filter = ev.find(
    (e) => call('MiniportOidRequest', 'nic0-velan')(e) && e.data?.Oid === 'OID_GEN_CURRENT_PACKET_FILTER',
  );
  assert.ok(filter !== undefined);
  // Answered by the VELAN: no packet filter goes down from mux-im.
  assert.ok(
    !ev.some(
      (e) => e.what === 'NdisOidRequest' && e.actor === 'mux-im' && e.data?.Oid !== 'OID_GEN_STATISTICS',
    ),
  );
  const at = inOrder(ev, [
    [
      'query to the VELAN',
      (e) => call('MiniportOidRequest', 'nic0-velan')(e) && e.data?.Oid === 'OID_GEN_STATISTICS',
    ],
    ['copy below', (e) => e.what === 'NdisOidRequest' && e.actor === 'mux-im' && e.data?.adapter === 'nic0'],
    ['nic0 answers', (e) => call('MiniportOidRequest', 'nic0')(e) && e.data?.Oid === 'OID_GEN_STATISTICS'],
    ['completed below', (e) => call('ProtocolOidRequestComplete', 'nic0')(e) && e.actor === 'mux-im'],
    ['completed above', (e) => e.what === 'NdisMOidRequestComplete' && e.data?.adapter === 'nic0-velan'],
    [
      'tcpip has the answer',
      (e) =>
        call('ProtocolOidRequestComplete', 'nic0-velan')(e) &&
        e.data?.Oid === 'OID_GEN_STATISTICS' &&
        e.data?.status === 'NDIS_STATUS_SUCCESS',
    ],
  ]);
  assert.ok(Number(ev[at[5]!]!.data?.BytesWritten) > 0);
  assert.ok(velanOf(w).forwardedOids >= 4, `queries forwarded: ${velanOf(w).forwardedOids}`);
});

test('data between the edges under teardown (R7.1, R3.3, R6.13): with sends and receives flowing, nic0 goes at different times and ways under several seeds; every send completes, every receive comes back, the VELAN pauses and halts (NdisHaltDeviceInstanceDeInitialized), and no rule is broken', () => {
  const ways = ['surprise-remove', 'remove', 'disable'] as const;
  let runs = 0;
  for (const seed of [1, 2, 3, 5]) {
    for (const [i, atMs] of [23, 47, 71].entries()) {
      const kind = ways[(seed + i) % ways.length]!;
      const w = busyImWorld(seed, [[atMs * ns.ms + seed * 137 * ns.us, { kind, device: 'nic0' }]]);
      const r = w.run(150 * ns.ms);
      const what = `seed ${seed}, ${kind} at ${atMs} ms`;
      assert.equal(r.verdict, 'ok', `${what}: ${r.message ?? ''}`);
      assert.deepEqual(
        r.violations.map((x) => `${x.rule}: ${x.message}`),
        [],
        what,
      );
      assert.deepEqual(r.pending, [], what);
      assert.equal(w.adapter('nic0-velan')?.haltAction, NdisHaltDeviceInstanceDeInitialized, what);
      const v = velanOf(w);
      assert.ok(v.forwardedSends > 0 && v.forwardedReceives > 0, what);
      assert.deepEqual([v.sends, v.receives], [0, 0], what);
      runs++;
    }
  }
  assert.equal(runs, 12);
});

test('determinism: examples/im-mux.yaml under one seed gives the same trace twice, byte for byte (seed 3), and another seed still ends the same way', () => {
  const sc = loadScenario('examples/im-mux.yaml', driverNames());
  const once = (seed: number) => {
    const w = buildWorld(sc, { seed });
    const r = w.run(untilNs(sc));
    assert.equal(r.verdict, 'ok', r.message ?? '');
    assert.equal(w.adapter('nic0-velan')?.haltAction, NdisHaltDeviceInstanceDeInitialized);
    return JSON.stringify(w.trace.events);
  };
  assert.equal(once(3), once(3));
  assert.notEqual(once(3), once(4));
});

/** nic0 and tcpip under the mux-im variant `m`, which goes by the name `name`. */
function mistakeWorld(
  name: string,
  m: DriverModule,
  opts: { seed?: number; at?: [number, WorldAction][]; sendsPerSecond?: number } = {},
): World {
  const w = new World({ seed: opts.seed ?? 1, verifier: 'collect' });
  for (const d of builtinDrivers) w.addDriver(d);
  w.addDriver(m);
  w.addProtocol(
    'tcpip',
    opts.sendsPerSecond === undefined ? {} : { traffic: { ratePerSecond: opts.sendsPerSecond } },
  );
  w.addProtocolDriver(name);
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const [t, a] of opts.at ?? []) w.at(t, a);
  return w;
}

test('R5.23: an intermediate driver whose DriverEntry never called NdisIMAssociateMiniport is a driver bug, reported once when DriverEntry returns (NdisSim_IMDeviceInstance naming the missing call, not "not modelled"); its NdisIMInitializeDeviceInstanceEx then fails (NDIS_STATUS_FAILURE) without a second report', () => {
  const log: string[] = [];
  const w = mistakeWorld(
    'im-no-assoc',
    muxIntermediate('im-no-assoc', 'no association', { noAssociate: true, log }),
  );
  const r = w.run(50 * ns.ms);
  assert.equal(r.verdict, 'violations', r.message ?? '');
  const vs = r.violations.filter((x) => x.rule === 'NdisSim_IMDeviceInstance');
  assert.equal(vs.length, 1, JSON.stringify(vs.map((x) => x.message)));
  assert.equal(vs[0]!.ddi, 'DriverEntry');
  assert.match(vs[0]!.message, /DriverEntry of im-no-assoc .*never called NdisIMAssociateMiniport/);
  assert.equal(w.adapter('nic0-velan'), undefined);
});

test('R5.23: an intermediate driver that never calls NdisIMAssociateMiniport is reported when its DriverEntry returns, before and whether or not it binds (the page: DriverEntry must call it); in bugcheck mode the run stops there, before any ProtocolBindAdapterEx', () => {
  const m = muxIntermediate('im-no-assoc-entry', 'no association', { noAssociate: true });
  const w = new World({ seed: 1, verifier: 'bugcheck' });
  for (const d of builtinDrivers) w.addDriver(d);
  w.addDriver(m);
  w.addProtocolDriver('im-no-assoc-entry');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(50 * ns.ms);
  assert.equal(r.verdict, 'bugcheck', r.message ?? '');
  assert.equal(r.violations[0]?.rule, 'NdisSim_IMDeviceInstance');
  assert.equal(r.violations[0]?.ddi, 'DriverEntry');
  const ev = w.trace.events;
  assert.ok(
    ev.some((e) => e.kind === 'return' && e.what === 'DriverEntry' && e.actor === 'im-no-assoc-entry'),
  );
  assert.ok(!ev.some((e) => e.what === 'ProtocolBindAdapterEx' && e.actor === 'im-no-assoc-entry'));
  // The reference driver associates: nothing to report.
  assert.equal(imWorld().run(50 * ns.ms).verdict, 'ok');
});

test('R5.23: a second NdisIMDeInitializeDeviceInstance for a VELAN being de-initialized returns NDIS_STATUS_FAILURE and is NdisSim_IMDeviceInstance; the teardown goes on', () => {
  const log: string[] = [];
  const m = muxIntermediate('im-deinit-twice', 'de-initializes twice', { deinitTwice: true, log });
  const w = mistakeWorld('im-deinit-twice', m, { at: [[20 * ns.ms, { kind: 'remove', device: 'nic0' }]] });
  const r = w.run(200 * ns.ms);
  assert.deepEqual(log, [`deinit 1: ${NDIS_STATUS_SUCCESS}`, `deinit 2: ${NDIS_STATUS_FAILURE}`]);
  assert.ok(
    r.violations.some((x) => x.rule === 'NdisSim_IMDeviceInstance' && /a second time/.test(x.message)),
  );
  assert.ok(w.trace.events.some(velanDeInitHalt));
  assert.deepEqual(r.pending, []);
});

test("R5.23: NdisIMDeInitializeDeviceInstance from the VELAN's own MiniportHaltEx (it would wait for itself) returns NDIS_STATUS_FAILURE and is NdisSim_IMDeviceInstance", () => {
  const log: string[] = [];
  const m = muxIntermediate('im-deinit-in-halt', 'de-initializes in its halt', { deinitInHalt: true, log });
  const w = mistakeWorld('im-deinit-in-halt', m, { at: [[20 * ns.ms, { kind: 'remove', device: 'nic0' }]] });
  const r = w.run(200 * ns.ms);
  assert.deepEqual(log, [`deinit in halt: ${NDIS_STATUS_FAILURE}`]);
  assert.ok(
    r.violations.some((x) => x.rule === 'NdisSim_IMDeviceInstance' && /own MiniportHaltEx/.test(x.message)),
  );
});

test('R5.23, R2.16: an IM unbind that closes below but never de-initializes its VELAN is warned of when the unbind completes; a later service stop that deregisters the miniport edge with that VELAN still up is NdisSim_IMDeviceInstance', () => {
  const m = muxIntermediate('im-skip-deinit', 'forgets its VELAN', { unbindSkipsDeinit: true });
  const w = mistakeWorld('im-skip-deinit', m, {
    sendsPerSecond: 200,
    at: [
      [20 * ns.ms, { kind: 'remove', device: 'nic0' }],
      [100 * ns.ms, { kind: 'stop-protocol', driver: 'im-skip-deinit' }],
    ],
  });
  const r = w.run(200 * ns.ms);
  const warned = r.warnings.find((x) => x.rule === 'R5.23');
  assert.ok(warned, JSON.stringify(r.warnings));
  assert.match(warned.message, /nic0-velan .*still initialized/);
  assert.equal(w.adapter('nic0-velan')?.state, 'Running');
  assert.ok(
    r.violations.some(
      (x) => x.rule === 'NdisSim_IMDeviceInstance' && /deregistered its miniport edge/.test(x.message),
    ),
    JSON.stringify(r.violations.map((x) => x.rule)),
  );
  // tcpip's sends reach the VELAN of the unloaded driver: driver code after its unload.
  const late = r.violations.filter((x) => x.rule === 'NdisSim_CallbackAfterHalt');
  assert.equal(late.length, 1, JSON.stringify(late.map((x) => x.message)));
  assert.match(late[0]!.message, /of nic0-velan after its driver im-skip-deinit unloaded/);
});

test("R5.23 (docs/decisions.md): the model's NdisIMDeInitializeDeviceInstance returns before the VELAN halts, so an unbind that closes below at once closes before the halt, which Windows (whose call returns after the halt) cannot do: the trace says so at the close", () => {
  const m = muxIntermediate('im-sync-deinit', 'closes right after de-initializing', {
    assumeSyncDeinit: true,
  });
  const w = mistakeWorld('im-sync-deinit', m, { at: [[20 * ns.ms, { kind: 'remove', device: 'nic0' }]] });
  w.run(200 * ns.ms);
  const ev = w.trace.events;
  const note = (e: TraceEvent) =>
    e.kind === 'ndis' && /closes its binding below before nic0-velan is halted/.test(e.what);
  inOrder(ev, [
    ['de-initialize', is('ddi', 'NdisIMDeInitializeDeviceInstance')],
    [
      'close below',
      (e) => e.kind === 'ddi' && e.what === 'NdisCloseAdapterEx' && e.actor === 'im-sync-deinit',
    ],
    ['the note', note],
    ['VELAN halted', velanDeInitHalt],
  ]);
  // The reference driver closes from the halt: no note.
  const ref = imWorld({ at: [[20 * ns.ms, { kind: 'remove', device: 'nic0' }]] });
  ref.run(200 * ns.ms);
  assert.ok(!ref.trace.events.some(note));
});
