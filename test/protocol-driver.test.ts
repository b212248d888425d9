// Protocol drivers of one's own (NdisRegisterProtocolDriver): bind with
// NdisOpenAdapterEx, pause and restart, the data path, unbind with NdisCloseAdapterEx,
// and what NDIS checks of each (07-protocols-filters.md R7.1-R7.4, R7.8-R7.13;
// 05-removal.md R5.12 with a protocol of one's own above).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linkStateIndication } from '../src/drivers/common.ts';
import { echoProto, echoProtocol } from '../src/drivers/echo-proto.ts';
import { flakyNic } from '../src/drivers/flaky-nic.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { countingLwf, monitorLwf } from '../src/drivers/lwf.ts';
import {
  CriticalWorkQueue,
  DelayedWorkQueue,
  type DISPATCH_IO_STACK_LOCATION,
  DO_BUFFERED_IO,
  type DRIVER_OBJECT,
  type DriverModule,
  FILE_DEVICE_NETWORK,
  IF_TYPE_ETHERNET_CSMACD,
  IO_NO_INCREMENT,
  type IO_WORKITEM,
  type IO_WORKITEM_ROUTINE_EX,
  IoAllocateWorkItem,
  IoCompleteRequest,
  IoCreateDevice,
  IoCreateSymbolicLink,
  IoDeleteDevice,
  IoDeleteSymbolicLink,
  IoFreeWorkItem,
  IoQueueWorkItem,
  IoQueueWorkItemEx,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_WRITE,
  LOCK_STATE_EX,
  type NDIS_BIND_PARAMETERS,
  NDIS_CONFIGURATION_OBJECT_REVISION_1,
  NDIS_CURRENT_IRQL,
  type NDIS_DRIVER_OPTIONAL_HANDLERS,
  NDIS_EVENT,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  NDIS_PACKET_TYPE_DIRECTED,
  NDIS_PAUSE_LOW_POWER,
  NDIS_PAUSE_NDIS_INTERNAL,
  NDIS_PAUSE_UNBIND_PROTOCOL,
  type NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
  type NDIS_PROTOCOL_RESTART_PARAMETERS,
  NDIS_RW_LOCK_EX,
  NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_LINK_STATE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESET_END,
  NDIS_STATUS_RESET_START,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_UNSUPPORTED_MEDIA,
  type NDIS_STRING,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAcquireRWLockWrite,
  NdisAllocateCloneOidRequest,
  NdisAllocateIoWorkItem,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateRWLock,
  NdisAllocateTimerObject,
  NdisCloseAdapterEx,
  NdisCompleteBindAdapterEx,
  NdisCompleteNetPnPEvent,
  NdisCompleteUnbindAdapterEx,
  NdisDeregisterProtocolDriver,
  NdisFreeMemory,
  NdisFreeMemoryWithTagPriority,
  NdisFreeNetBufferList,
  NdisFreeRWLock,
  NdisFreeTimerObject,
  NdisGetDeviceReservedExtension,
  NdisInitializeEvent,
  NdisMedium802_3,
  NdisMIndicateStatusEx,
  NdisMResetComplete,
  NdisMSleep,
  NdisOidRequest,
  NdisOpenAdapterEx,
  NdisOpenConfigurationEx,
  NdisQueryAdapterInstanceName,
  NdisQueryBindInstanceName,
  NdisQueueIoWorkItem,
  NdisReEnumerateProtocolBindings,
  NdisRegisterProtocolDriver,
  NdisReleaseRWLock,
  NdisRequestQueryInformation,
  NdisRequestSetInformation,
  NdisReturnNetBufferLists,
  NdisSendNetBufferLists,
  NdisSetOptionalHandlers,
  NdisSetTimerObject,
  NdisUnbindAdapter,
  NdisWaitEvent,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NetEventBindsComplete,
  NetEventPause,
  NetEventRestart,
  NormalPoolPriority,
  OID_GEN_CURRENT_PACKET_FILTER,
  OID_GEN_MAXIMUM_FRAME_SIZE,
  OID_GEN_MAXIMUM_LOOKAHEAD,
  PASSIVE_LEVEL,
  STATUS_OBJECT_NAME_COLLISION,
  STATUS_SUCCESS,
  World,
  type WorldOptions,
} from '../src/index.ts';
import { oidRequest } from '../src/ndis/oid.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { ChoiceSite, type Strategy } from '../src/sim/choice.ts';
import { openParameters } from './helpers/protocol.ts';
import { after as afterMs, scriptedDriver } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** NdisMediumWan of NDIS_MEDIUM (ndis.h numbers the enum from NdisMedium802_3 = 0). */
const NdisMediumWan = 3;

/** nic0 (healthy-nic) with the protocol driver `p` above it, and frames from the wire. */
function world(
  p: DriverModule,
  o: {
    seed?: number;
    rxRate?: number;
    rxBurst?: number;
    strategy?: Strategy;
    collect?: boolean;
    situations?: boolean;
    ndis?: WorldOptions['ndis'];
  } = {},
) {
  const w = new World({
    seed: o.seed ?? 1,
    verifier: o.collect ? 'collect' : 'bugcheck',
    ...(o.strategy === undefined ? {} : { strategy: o.strategy }),
    ...(o.situations === undefined ? {} : { situations: o.situations }),
    ...(o.ndis === undefined ? {} : { ndis: o.ndis }),
  });
  w.addDriver(healthyNic);
  w.addDriver(p);
  w.addProtocolDriver(p.name);
  w.addDevice({
    name: 'nic0',
    driver: 'healthy-nic',
    wire: {
      rxPerSecond: o.rxRate ?? 0,
      rxFrameBytes: 128,
      ...(o.rxBurst === undefined ? {} : { rxBurst: o.rxBurst }),
    },
  });
  w.at(0, { kind: 'start', device: 'nic0' });
  return w;
}

/** A binding's states from bind to unbind (R7.1), as the trace names the moves. */
const bindingLife = [
  'Unbound → Opening',
  'Opening → Paused',
  'Paused → Restarting',
  'Restarting → Running',
  'Running → Pausing',
  'Pausing → Paused',
  'Paused → Closing',
  'Closing → Unbound',
];

/** Answers `site` with `answer`, every other question with 0. */
function always(site: number, answer: number): Strategy {
  return { name: 'always', pick: (s) => (s === site ? answer : 0) };
}

/** The results NdisOpenAdapterEx and NdisCloseAdapterEx returned in the trace. */
function openClose(w: World): string[] {
  return w.trace.events
    .filter((e) => e.kind === 'ddi' && (e.what === 'NdisOpenAdapterEx' || e.what === 'NdisCloseAdapterEx'))
    .map((e) => `${e.what}=${String(e.data?.result)}`);
}

test('R7.1, R7.3, R7.8: echo-proto binds, echoes every frame, and unbinds at a surprise removal; the run is clean', () => {
  const w = world(echoProto, { rxRate: 2000 });
  w.at(500 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = w.run(ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const s = w.summary();
  const p = s.protocolDrivers.find((x) => x.driver === 'echo-proto');
  assert.ok(p);
  assert.equal(p.binds, 1);
  assert.equal(p.bindsFailed, 0);
  assert.ok(p.received > 500, `received ${p.received}`);
  assert.equal(p.returned, p.received, 'every receive returned (R6.13)');
  assert.equal(p.sent, p.received, 'one echo per frame');
  assert.deepEqual(p.bindings, [], 'unbound at the teardown (R7.11)');
  const states = w.trace.events
    .filter((e) => e.kind === 'binding' && e.actor === 'echo-proto')
    .map((e) => e.what.replace('nic0: binding ', ''));
  assert.deepEqual(states, bindingLife);
});

test('ChoiceSite.ProtocolOpenClose: answer 1 pends the open and the close, and NDIS completes them in ProtocolOpenAdapterCompleteEx and ProtocolCloseAdapterCompleteEx', () => {
  const at = world(echoProto, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  at.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  assert.equal(at.run(ns.s).verdict, 'ok');
  assert.deepEqual(openClose(at), [
    'NdisOpenAdapterEx=NDIS_STATUS_SUCCESS',
    'NdisCloseAdapterEx=NDIS_STATUS_SUCCESS',
  ]);
  const pended = world(echoProto, { strategy: always(ChoiceSite.ProtocolOpenClose, 1) });
  pended.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  assert.equal(pended.run(ns.s).verdict, 'ok');
  assert.deepEqual(openClose(pended), [
    'NdisOpenAdapterEx=NDIS_STATUS_PENDING',
    'NdisCloseAdapterEx=NDIS_STATUS_PENDING',
  ]);
  const calls = pended.trace.events
    .filter((e) => e.kind === 'call' && e.actor === 'echo-proto')
    .map((e) => e.what);
  assert.ok(calls.includes('ProtocolOpenAdapterCompleteEx'));
  assert.ok(calls.includes('ProtocolCloseAdapterCompleteEx'));
  assert.deepEqual(pended.summary().protocolDrivers[0]?.bindings, []);
});

test('ChoiceSite.ProtocolOpenClose answer 2: a pended close completes before NdisCloseAdapterEx returns; echo-proto copes, a driver that stores its UnbindContext after the call does not', () => {
  const early = world(echoProto, { strategy: always(ChoiceSite.ProtocolOpenClose, 2) });
  early.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  assert.equal(early.run(ns.s).verdict, 'ok');
  const ev = early.trace.events;
  const closeAt = ev.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisCloseAdapterEx');
  const completeAt = ev.findIndex((e) => e.kind === 'call' && e.what === 'ProtocolCloseAdapterCompleteEx');
  const unbindReturn = ev.findIndex((e) => e.kind === 'return' && e.what === 'ProtocolUnbindAdapterEx');
  assert.ok(
    closeAt >= 0 && completeAt > closeAt && unbindReturn > completeAt,
    `${closeAt} ${completeAt} ${unbindReturn}`,
  );
  // An open has no answer 2 (NDIS writes the handle through C's out parameter first): it pends.
  assert.equal(
    ev.find((e) => e.kind === 'ddi' && e.what === 'NdisOpenAdapterEx')?.data?.result,
    'NDIS_STATUS_PENDING',
  );
  // The C race: the completion reads the UnbindContext the caller has not stored yet.
  const late = protocolDriver(
    'stores-unbind-context-late',
    (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status,
    {
      UnbindAdapterHandlerEx: (u, c) => {
        const s = NdisCloseAdapterEx(c.handle!);
        c.unbindContext = u;
        return s === NDIS_STATUS_PENDING ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS;
      },
    },
  );
  const lw = world(late, { strategy: always(ChoiceSite.ProtocolOpenClose, 2) });
  lw.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = lw.run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /NdisCompleteUnbindAdapterEx/);
});

test("R5.12: NdisMRemoveMiniport tears the stack down through a protocol driver of one's own: paused, unbound, then MiniportHaltEx(NdisHaltDeviceFailed) and Code 43", () => {
  const w = new World({ seed: 3 });
  w.addDriver(flakyNic);
  w.addDriver(echoProto);
  w.addProtocolDriver('echo-proto');
  w.addDevice({
    name: 'nic0',
    driver: 'flaky-nic',
    faults: { hangAtNs: 2 * ns.s, rehangAfterReset: { minNs: 0, maxNs: 0 } },
  });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(60 * ns.s);
  assert.equal(r.bugCheck, null, r.message ?? '');
  assert.equal(w.device('nic0').problem, 43);
  const ev = w.trace.events;
  const pause = ev.findIndex(
    (e) =>
      e.kind === 'call' &&
      e.actor === 'echo-proto' &&
      e.what === 'ProtocolNetPnPEvent' &&
      e.data?.NetEvent === 'NetEventPause',
  );
  const unbind = ev.findIndex(
    (e) => e.kind === 'call' && e.actor === 'echo-proto' && e.what === 'ProtocolUnbindAdapterEx',
  );
  const halt = ev.findIndex((e) => e.kind === 'call' && e.what === 'MiniportHaltEx');
  assert.ok(pause > 0 && unbind > pause && halt > unbind, `pause ${pause}, unbind ${unbind}, halt ${halt}`);
  assert.equal(ev[halt]?.data?.HaltAction, 'NdisHaltDeviceFailed');
});

test('the scenario key protocolDrivers binds a protocol driver; an unknown driver name is bad input', () => {
  const s = parseScenarioText(
    'until: 200ms\nprotocolDrivers:\n  - driver: echo-proto\ndevices:\n  - { name: nic0, driver: healthy-nic }\n',
    's.yaml',
    driverNames(),
  );
  assert.deepEqual(s.protocolDrivers, [{ driver: 'echo-proto' }]);
  assert.throws(
    () =>
      parseScenarioText(
        'protocolDrivers:\n  - driver: echo-prot\ndevices:\n  - { name: nic0, driver: healthy-nic }\n',
        's.yaml',
        driverNames(),
      ),
    /s\.yaml: protocolDrivers\[0\]\.driver: expected .*got "echo-prot"; did you mean echo-proto\?/,
  );
});

/** Its ProtocolBindingContext: the binding handle once the open returns it. */
interface Ctx {
  handle: NDIS_HANDLE | null;
  bindContext: NDIS_HANDLE | null;
  unbindContext: NDIS_HANDLE | null;
}

/**
 * A minimal protocol driver: `bind` is its ProtocolBindAdapterEx body, given a fresh
 * context to open with; unbind closes the handle kept there.
 */
function protocolDriver(
  name: string,
  bind: (
    proto: NDIS_HANDLE,
    bindContext: NDIS_HANDLE,
    adapterName: string,
    ctx: Ctx,
    params: NDIS_BIND_PARAMETERS,
  ) => number,
  more: Partial<NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<Ctx>> = {},
  /** After registering in DriverEntry; by default it sets an Unload routine that deregisters. */
  entry: (proto: NDIS_HANDLE, obj: DRIVER_OBJECT) => void = (proto, obj) => {
    obj.DriverUnload = () => NdisDeregisterProtocolDriver(proto);
  },
): DriverModule {
  return {
    name,
    description: 'test protocol',
    load: () => {
      const g: { handle: NDIS_HANDLE | null } = { handle: null };
      const chars: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<Ctx> = {
        Header: {
          Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
          Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: 0,
        Name: name,
        BindAdapterHandlerEx: (_d, bindContext, p) =>
          bind(g.handle!, bindContext, p.AdapterName, { handle: null, bindContext, unbindContext: null }, p),
        UnbindAdapterHandlerEx: (u, c) => {
          c.unbindContext = u;
          return NdisCloseAdapterEx(c.handle!) === NDIS_STATUS_PENDING
            ? NDIS_STATUS_PENDING
            : NDIS_STATUS_SUCCESS;
        },
        // A pended open or close completes the bind or unbind.
        OpenAdapterCompleteHandlerEx: (c, Status) => NdisCompleteBindAdapterEx(c.bindContext!, Status),
        CloseAdapterCompleteHandlerEx: (c) => NdisCompleteUnbindAdapterEx(c.unbindContext!),
        NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
        OidRequestCompleteHandler: () => {},
        ReceiveNetBufferListsHandler: () => {},
        SendNetBufferListsCompleteHandler: () => {},
        ...more,
      };
      return {
        DriverEntry: (obj) => {
          const r = NdisRegisterProtocolDriver(null, chars);
          g.handle = r.NdisProtocolHandle;
          if (r.Status === NDIS_STATUS_SUCCESS) entry(g.handle!, obj);
          return r.Status;
        },
      };
    },
  };
}

/** Opens the adapter for `bind` with `ctx` as the ProtocolBindingContext, keeping the handle there. */
function open(
  proto: NDIS_HANDLE,
  bindContext: NDIS_HANDLE,
  name: string,
  ctx: Ctx,
  media = [NdisMedium802_3],
) {
  const o = openParameters(name, media);
  const r = NdisOpenAdapterEx(proto, ctx, o, bindContext);
  ctx.handle = r.NdisBindingHandle;
  return { ...r, params: o };
}

test("nf-ndis-ndisopenadapterex: an open whose MediumArray lacks the adapter's medium fails with NDIS_STATUS_UNSUPPORTED_MEDIA; the bind fails cleanly", () => {
  let got = -1;
  const p = protocolDriver('wan-only', (proto, bc, name, ctx) => {
    got = open(proto, bc, name, ctx, [NdisMediumWan]).Status;
    return got;
  });
  const w = world(p);
  const r = w.run(200 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.equal(got, NDIS_STATUS_UNSUPPORTED_MEDIA);
  const s = w.summary().protocolDrivers[0]!;
  assert.equal(s.binds, 1);
  assert.equal(s.bindsFailed, 1);
  assert.deepEqual(s.bindings, []);
});

test("nf-ndis-ndisopenadapterex: SelectedMediumIndex names the adapter's medium in MediumArray", () => {
  let index = -1;
  const p = protocolDriver('two-media', (proto, bc, name, ctx) => {
    const r = open(proto, bc, name, ctx, [NdisMediumWan, NdisMedium802_3]);
    index = r.params.SelectedMediumIndex;
    return r.Status;
  });
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  assert.equal(w.run(200 * ns.ms).verdict, 'ok');
  assert.equal(index, 1);
});

test('R7.1: a bind that returns SUCCESS without NdisOpenAdapterEx is NdisSim_ProtocolBinding', () => {
  const w = world(echoProtocol('no-open', 'test', { bindWithoutOpen: true }));
  const r = w.run(200 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolBinding');
  assert.match(r.bugCheck?.message ?? '', /without a successful NdisOpenAdapterEx/);
});

test('R7.1: a bind completed while the pended open has not completed is NdisSim_ProtocolBinding', () => {
  const p = protocolDriver('no-wait-for-open', (proto, bc, name, ctx) => {
    open(proto, bc, name, ctx);
    return NDIS_STATUS_SUCCESS;
  });
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 1) });
  const r = w.run(200 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolBinding');
  assert.match(r.bugCheck?.message ?? '', /before its pended NdisOpenAdapterEx completed/);
});

test('NdisSendNetBufferLists: an NBL without the binding handle in SourceHandle is NdisSim_ProtocolNblOwnership', () => {
  const w = world(echoProtocol('no-source', 'test', { noSourceHandle: true }), { rxRate: 1000 });
  const r = w.run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolNblOwnership');
  assert.match(r.bugCheck?.message ?? '', /SourceHandle/);
});

test('nf-ndis-ndissendnetbufferlists: a PortNumber other than the default port 0, on an adapter that allocated no ports, is NdisSim_ProtocolDataState; the echoes still go', () => {
  const w = world(echoProtocol('port-5', 'test', { sendPort: 5 }), { rxRate: 1000 });
  const r = w.run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolDataState', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /PortNumber 5, which is not a port of nic0/);
});

test('ns-ndis-_ndis_open_parameters: a MediumArraySize or FrameTypeArraySize past the end of its array fails the open (NDIS_STATUS_FAILURE) and is NdisSim_ProtocolBinding', () => {
  for (const [bad, what] of [
    [{ MediumArraySize: 2 }, /MediumArraySize 2 is not the number of elements of MediumArray \(1\)/],
    [
      { FrameTypeArraySize: 1 },
      /FrameTypeArraySize 1 is not the number of elements of FrameTypeArray \(NULL\)/,
    ],
    [{ FrameTypeArray: [0x0800], FrameTypeArraySize: 3 }, /FrameTypeArraySize 3 .*\(1\)/],
  ] as const) {
    let got = -1;
    const p = protocolDriver('bad-sizes', (proto, bc, name, ctx) => {
      const o = { ...openParameters(name, [NdisMedium802_3]), ...bad };
      got = NdisOpenAdapterEx(proto, ctx, o, bc).Status;
      return got === NDIS_STATUS_SUCCESS ? got : NDIS_STATUS_FAILURE;
    });
    const r = world(p, { collect: true }).run(200 * ns.ms);
    assert.equal(got, NDIS_STATUS_FAILURE);
    assert.deepEqual(
      r.violations.map((v) => v.rule),
      ['NdisSim_ProtocolBinding'],
    );
    assert.match(r.violations[0]!.message, what);
  }
});

test('a binding handle used after NdisCloseAdapterEx is NdisSim_StaleHandle', () => {
  const g: { pool: NDIS_HANDLE | null } = { pool: null };
  const p = protocolDriver(
    'send-after-close',
    (proto, bc, name, ctx) => {
      g.pool = NdisAllocateNetBufferListPool(proto, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 1,
        DataSize: 0,
      });
      return open(proto, bc, name, ctx).Status;
    },
    {
      UnbindAdapterHandlerEx: (_u, c) => {
        NdisCloseAdapterEx(c.handle!);
        // A goodbye frame, too late: the handle died with the close.
        const nbl = NdisAllocateNetBufferAndNetBufferList(g.pool!, 0, 0, new Uint8Array(60), 0, 60)!;
        nbl.SourceHandle = c.handle;
        NdisSendNetBufferLists(c.handle!, nbl, 0, 0);
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  w.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = w.run(200 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_StaleHandle', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /after NdisCloseAdapterEx/);
});

test('NdisRegisterProtocolDriver: a missing required handler is NDIS_STATUS_BAD_CHARACTERISTICS; the driver does not load and the summary says why', () => {
  let status = -1;
  const p: DriverModule = {
    name: 'no-receive',
    description: 'test',
    load: () => ({
      DriverEntry: () => {
        const c = {
          Header: {
            Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
            Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
          },
          MajorNdisVersion: 6,
          MinorNdisVersion: 0,
          Name: 'no-receive',
          BindAdapterHandlerEx: () => NDIS_STATUS_SUCCESS,
          UnbindAdapterHandlerEx: () => NDIS_STATUS_SUCCESS,
          OpenAdapterCompleteHandlerEx: () => {},
          CloseAdapterCompleteHandlerEx: () => {},
          NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
          OidRequestCompleteHandler: () => {},
          SendNetBufferListsCompleteHandler: () => {},
        } as unknown as NDIS_PROTOCOL_DRIVER_CHARACTERISTICS;
        status = NdisRegisterProtocolDriver(null, c).Status;
        return status;
      },
    }),
  };
  const w = world(p, { collect: true });
  w.run(100 * ns.ms);
  assert.equal(status, NDIS_STATUS_BAD_CHARACTERISTICS);
  const s = w.summary();
  assert.deepEqual(s.protocolDrivers, []);
  assert.equal(s.protocolLoadFailures.length, 1);
  assert.match(s.protocolLoadFailures[0]!.why, /ReceiveNetBufferListsHandler is missing/);
  assert.ok(w.verifier.violations.some((v) => v.rule === 'NdisSim_BadCharacteristics'));
});

test('obtaining-pool-handles: a timer object and memory take the NdisProtocolHandle, a WDM work item (nf-wdm-ioallocateworkitem) its DRIVER_OBJECT; the timer and the work item run as the protocol', () => {
  const ran: string[] = [];
  let obj: DRIVER_OBJECT | null = null;
  const p = protocolDriver(
    'with-services',
    (proto, bc, name, ctx) => {
      const mem = NdisAllocateMemoryWithTagPriority(proto, 64, 0x74736554, NormalPoolPriority);
      assert.ok(mem !== null && mem.length === 64);
      NdisFreeMemoryWithTagPriority(proto, mem, 0x74736554);
      const t = NdisAllocateTimerObject(proto, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0x74736554,
        TimerFunction: () => {
          ran.push('timer');
        },
        FunctionContext: null,
      });
      assert.equal(t.Status, NDIS_STATUS_SUCCESS);
      NdisSetTimerObject(t.TimerObject!, -10_000, 0, null);
      const w = IoAllocateWorkItem(obj!);
      assert.ok(w !== null);
      IoQueueWorkItemEx(
        w,
        () => {
          ran.push('work');
        },
        DelayedWorkQueue,
        null,
      );
      return open(proto, bc, name, ctx).Status;
    },
    {},
    (proto, o) => {
      obj = o;
      o.DriverUnload = () => NdisDeregisterProtocolDriver(proto);
    },
  );
  const w = world(p);
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual([...ran].sort(), ['timer', 'work']);
  const actors = new Set(
    w.trace.events
      .filter((e) => e.kind === 'call' && (e.what === 'NdisTimerFunction' || e.what === 'WorkItemEx'))
      .map((e) => e.actor),
  );
  assert.deepEqual([...actors], ['with-services']);
});

test('NdisAllocateMemoryWithTagPriority, NdisFreeMemoryWithTagPriority pages: a protocol driver may pass the NdisBindingHandle of NdisOpenAdapterEx; after NdisCloseAdapterEx it is NdisSim_StaleHandle', () => {
  let got: number | null = null;
  let late: Uint8Array | null | undefined;
  const p = protocolDriver(
    'memory-on-binding',
    (proto, bc, name, ctx) => {
      const r = open(proto, bc, name, ctx);
      const mem = NdisAllocateMemoryWithTagPriority(ctx.handle!, 32, 0x74736554, NormalPoolPriority);
      got = mem === null ? null : mem.length;
      if (mem !== null) NdisFreeMemoryWithTagPriority(ctx.handle!, mem, 0x74736554);
      return r.Status;
    },
    {
      UnbindAdapterHandlerEx: (_u, c) => {
        assert.equal(NdisCloseAdapterEx(c.handle!), NDIS_STATUS_SUCCESS);
        late = NdisAllocateMemoryWithTagPriority(c.handle!, 32, 0x74736554, NormalPoolPriority);
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0), collect: true });
  w.at(50 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(200 * ns.ms);
  assert.equal(got, 32);
  assert.equal(late, null);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_StaleHandle', 'NdisAllocateMemoryWithTagPriority']],
  );
});

test('an NdisBindingHandle where the page wants the NdisProtocolHandle is NdisSim_BadParameter, naming the right handle', () => {
  const p = protocolDriver('timer-on-binding', (proto, bc, name, ctx) => {
    const r = open(proto, bc, name, ctx);
    NdisAllocateTimerObject(ctx.handle!, {
      Header: {
        Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: 0,
      TimerFunction: () => {},
      FunctionContext: null,
    });
    return r.Status;
  });
  const r = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) }).run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter');
  assert.match(r.bugCheck?.message ?? '', /passes its NdisProtocolHandle .*not an NdisBindingHandle/);
});

test('nf-ndis-ndisallocaterwlock: the page names the NdisOpenAdapterEx handle, so a lock allocated with an open NdisBindingHandle works and nothing is reported', () => {
  let locked = false;
  const p = protocolDriver('rwlock-on-binding', (proto, bc, name, ctx) => {
    const r = open(proto, bc, name, ctx);
    const lock = NdisAllocateRWLock(ctx.handle!);
    assert.ok(lock instanceof NDIS_RW_LOCK_EX);
    const st = new LOCK_STATE_EX();
    NdisAcquireRWLockWrite(lock, st, 0);
    locked = true;
    NdisReleaseRWLock(lock, st);
    NdisFreeRWLock(lock);
    return r.Status;
  });
  const r = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) }).run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.ok(locked);
});

test('nf-ndis-ndisopenconfigurationex: a protocol driver handle or NDIS_BIND_PARAMETERS, which the page allows, is not modelled (not blamed on the driver as a bad parameter)', () => {
  const config = (h: NDIS_HANDLE) =>
    NdisOpenConfigurationEx({
      Header: { Type: NDIS_OBJECT_TYPE_CONFIGURATION_OBJECT, Revision: NDIS_CONFIGURATION_OBJECT_REVISION_1 },
      NdisHandle: h,
      Flags: 0,
    });
  const cases: [string, (proto: NDIS_HANDLE, params: NDIS_BIND_PARAMETERS) => NDIS_HANDLE, RegExp][] = [
    ['config-proto', (proto) => proto, /protocol driver config-proto/],
    ['config-bind', (_p, params) => params as unknown as NDIS_HANDLE, /NDIS_BIND_PARAMETERS/],
  ];
  for (const [name, handle, what] of cases) {
    const p = protocolDriver(name, (proto, bc, adapter, ctx, params) => {
      config(handle(proto, params));
      return open(proto, bc, adapter, ctx).Status;
    });
    const r = world(p).run(100 * ns.ms);
    assert.equal(r.verdict, 'not-modelled', name);
    assert.match(r.message ?? '', /^NdisOpenConfigurationEx is not modelled/, name);
    assert.match(r.message ?? '', what, name);
  }
});

test('nf-ndis-ndiscompletenetpnpevent: a pause completed inside ProtocolNetPnPEvent stands when the handler returns PENDING, and is NdisSim_ProtocolNetPnPEvent when it returns SUCCESS too', () => {
  const pauses = (then: number) =>
    protocolDriver(`completes-inside-${then}`, (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status, {
      NetPnPEventHandler: (c, note) => {
        if (note.NetPnPEvent.NetEvent !== NetEventPause) return NDIS_STATUS_SUCCESS;
        NdisCompleteNetPnPEvent(c!.handle!, note, NDIS_STATUS_SUCCESS);
        return then;
      },
    });
  const good = world(pauses(NDIS_STATUS_PENDING), { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  good.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = good.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(good.summary().protocolDrivers[0]?.bindings, []);
  const twice = world(pauses(NDIS_STATUS_SUCCESS), { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  twice.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r2 = twice.run(100 * ns.ms);
  assert.equal(r2.bugCheck?.rule, 'NdisSim_ProtocolNetPnPEvent');
  assert.match(r2.bugCheck?.message ?? '', /completed twice/);
});

test("NdisRegisterProtocolDriver from a miniport driver's DriverEntry (an intermediate driver) is not modelled, and says so", () => {
  const im: DriverModule = {
    ...healthyNic,
    name: 'im-driver',
    load: () => {
      const inner = healthyNic.load();
      return {
        DriverEntry: (obj, path) => {
          NdisRegisterProtocolDriver(null, {} as NDIS_PROTOCOL_DRIVER_CHARACTERISTICS);
          return inner.DriverEntry(obj, path);
        },
      };
    },
  };
  const w = new World({ seed: 1 });
  w.addDriver(im);
  w.addDevice({ name: 'nic0', driver: 'im-driver' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(10 * ns.ms);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(r.message ?? '', /NdisRegisterProtocolDriver is not modelled.*intermediate driver/);
});

test('R7.2, pausing-a-binding: a pause completed while the protocol still holds receives is NdisSim_ProtocolPauseNotDrained, and the miniport is not blamed', () => {
  const kept: { h: NDIS_HANDLE | null; nbl: NET_BUFFER_LIST | null } = { h: null, nbl: null };
  const p = protocolDriver('keeps-one', (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status, {
    ReceiveNetBufferListsHandler: (c, chain) => {
      // Keeps the first frame for later, returns the rest.
      if (kept.nbl === null && chain.Next === null) {
        kept.h = c.handle;
        kept.nbl = chain;
        return;
      }
      NdisReturnNetBufferLists(c.handle!, chain, 1);
    },
  });
  const w = world(p, { rxRate: 1000, collect: true, strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  w.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
  w.run(200 * ns.ms);
  const rules = w.verifier.violations.map((v) => v.rule);
  assert.ok(rules.includes('NdisSim_ProtocolPauseNotDrained'), rules.join(', '));
  assert.ok(!rules.includes('NdisSim_PauseNotDrained'), rules.join(', '));
  const v = w.verifier.violations.find((x) => x.rule === 'NdisSim_ProtocolPauseNotDrained')!;
  assert.match(v.message, /1 receive\(s\) not yet returned/);
});

test('NDIS_PROTOCOL_PAUSE_PARAMETERS: NetEventPause carries a PauseReason, NDIS_PAUSE_NDIS_INTERNAL for an NDIS 6.40 protocol', () => {
  const seen: unknown[] = [];
  const p = protocolDriver('reads-pause', (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status, {
    MinorNdisVersion: 40,
    NetPnPEventHandler: (_c, note) => {
      if (note.NetPnPEvent.NetEvent === NetEventPause) seen.push(note.NetPnPEvent.Buffer);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = world(p);
  w.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  assert.equal(w.run(100 * ns.ms).verdict, 'ok');
  assert.equal(seen.length, 1);
  assert.equal((seen[0] as { PauseReason: number }).PauseReason, NDIS_PAUSE_NDIS_INTERNAL);
});

test("R3.2, NDIS_PROTOCOL_PAUSE_PARAMETERS: the pause before an unbind of the binding alone (stop-protocol) carries NDIS_PAUSE_UNBIND_PROTOCOL, not the reason of the last stack pause (a sleep's NDIS_PAUSE_LOW_POWER)", () => {
  const reasons: number[] = [];
  const p = protocolDriver(
    'reads-unbind-pause',
    (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status,
    {
      MinorNdisVersion: 20,
      NetPnPEventHandler: (_c, note) => {
        if (note.NetPnPEvent.NetEvent === NetEventPause)
          reasons.push((note.NetPnPEvent.Buffer as { PauseReason: number }).PauseReason);
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  const w = world(p);
  w.at(100 * ns.ms, { kind: 'sleep', state: 'S3', durationNs: 100 * ns.ms });
  w.at(500 * ns.ms, { kind: 'stop-protocol', driver: p.name });
  assert.equal(w.run(ns.s).verdict, 'ok');
  assert.deepEqual(reasons, [NDIS_PAUSE_LOW_POWER, NDIS_PAUSE_UNBIND_PROTOCOL]);
});

test("ndis.callbackIrql: a protocol driver of one's own may get ProtocolOidRequestComplete at DISPATCH (the page allows it), and a PASSIVE-only call from there is Irql_Protocol_Driver_Function", () => {
  const p = protocolDriver(
    'closes-in-oid-complete',
    (proto, bc, name, ctx) => {
      const r = open(proto, bc, name, ctx);
      return r.Status;
    },
    {
      NetPnPEventHandler: (c, note) => {
        if (note.NetPnPEvent.NetEvent !== NetEventRestart) return NDIS_STATUS_SUCCESS;
        NdisOidRequest(
          c!.handle!,
          oidRequest(NdisRequestSetInformation, OID_GEN_CURRENT_PACKET_FILTER, 0, 4),
        );
        return NDIS_STATUS_SUCCESS;
      },
      OidRequestCompleteHandler: (c) => {
        NdisCloseAdapterEx(c.handle!);
      },
    },
  );
  const run = (callbackIrql: 'passive' | 'dispatch') => world(p, { ndis: { callbackIrql } }).run(100 * ns.ms);
  // At PASSIVE the close is merely misplaced (no unbind under way); at DISPATCH the IRQL rule comes first.
  assert.equal(run('passive').bugCheck?.rule, 'NdisSim_ProtocolUnbind');
  assert.equal(run('dispatch').bugCheck?.rule, 'Irql_Protocol_Driver_Function');
});

test("OID_GEN_MAXIMUM_FRAME_SIZE and OID_GEN_MAXIMUM_LOOKAHEAD are answered by NDIS from the general attributes (their pages), at once; BindParameters carry the miniport's SupportedPacketFilters", () => {
  const got: Record<string, unknown> = {};
  const query = (h: NDIS_HANDLE, oid: number, name: string) => {
    const req = oidRequest(NdisRequestQueryInformation, oid, null, 4);
    got[`${name} status`] = NdisOidRequest(h, req);
    got[name] = req.DATA.QUERY_INFORMATION.InformationBuffer;
  };
  let filters = -1;
  const q = protocolDriver('queries', (proto, bc, name, ctx, params) => {
    filters = params.SupportedPacketFilters;
    const r = open(proto, bc, name, ctx);
    query(ctx.handle!, OID_GEN_MAXIMUM_FRAME_SIZE, 'frame');
    query(ctx.handle!, OID_GEN_MAXIMUM_LOOKAHEAD, 'lookahead');
    return r.Status;
  });
  const w = world(q, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  assert.equal(w.run(100 * ns.ms).verdict, 'ok');
  assert.deepEqual(got, {
    'frame status': NDIS_STATUS_SUCCESS,
    frame: 1500,
    'lookahead status': NDIS_STATUS_SUCCESS,
    lookahead: 1500,
  });
  assert.equal(
    w.trace.events.some(
      (e) => e.what === 'MiniportOidRequest' && String(e.data?.Oid).startsWith('OID_GEN_MAXIMUM'),
    ),
    false,
    'the miniport never sees them',
  );
  assert.equal(filters & NDIS_PACKET_TYPE_DIRECTED, NDIS_PACKET_TYPE_DIRECTED);
});

test("the explorer's situations name a protocol driver's pended open and close, and a pause with sends in flight", () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 12; seed++) {
    const w = world(echoProto, { seed, situations: true, rxRate: 500_000, rxBurst: 16 });
    w.at(20 * ns.ms, { kind: 'disable', device: 'nic0' });
    w.run(40 * ns.ms);
    for (const k of w.situations().keys()) seen.add(k);
  }
  for (const want of [
    "a protocol driver's NdisOpenAdapterEx pended in Paused",
    "a protocol driver's NdisCloseAdapterEx completed before it returned in Paused",
    "a protocol driver's NdisCloseAdapterEx pended in Paused",
    "a protocol driver's NetEventPause with its sends in flight in Running",
  ])
    assert.ok(seen.has(want), `${want} not in: ${[...seen].join('; ')}`);
});

test('nf-ndis-ndisunbindadapter, nf-ndis-ndisreenumerateprotocolbindings: a protocol gives up its binding from a timer and is bound again only when it re-enumerates', () => {
  const timers: NDIS_HANDLE[] = [];
  let binding: NDIS_HANDLE | null = null;
  let unbindStatus = -1;
  const timer = (proto: NDIS_HANDLE, fn: () => void) =>
    NdisAllocateTimerObject(proto, {
      Header: {
        Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: 0x74736554,
      TimerFunction: fn,
      FunctionContext: null,
    }).TimerObject!;
  let obj: DRIVER_OBJECT | null = null;
  const p = protocolDriver(
    'gives-up',
    (proto, bc, name, ctx) => {
      const r = open(proto, bc, name, ctx);
      binding = ctx.handle;
      if (timers.length === 0) {
        const item = IoAllocateWorkItem(obj!)!;
        timers.push(
          timer(proto, () => {
            unbindStatus = NdisUnbindAdapter(binding!);
          }),
          // NdisReEnumerateProtocolBindings is PASSIVE: the DISPATCH timer queues a work item for it.
          timer(proto, () =>
            IoQueueWorkItemEx(item, () => NdisReEnumerateProtocolBindings(proto), DelayedWorkQueue, null),
          ),
        );
        NdisSetTimerObject(timers[0]!, -10 * 10_000, 0, null);
        NdisSetTimerObject(timers[1]!, -40 * 10_000, 0, null);
      }
      return r.Status;
    },
    {},
    (proto, o) => {
      obj = o;
      o.DriverUnload = () => NdisDeregisterProtocolDriver(proto);
    },
  );
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  const r = w.run(60 * ns.ms);
  assert.equal(r.bugCheck, null, r.message ?? '');
  assert.equal(unbindStatus, NDIS_STATUS_SUCCESS);
  const states = w.trace.events
    .filter((e) => e.kind === 'binding' && e.actor === 'gives-up')
    .map((e) => `${(e.t / ns.ms).toFixed(0)}ms ${e.what.replace('nic0: binding ', '')}`);
  // Bound at start; unbound on its own at 10 ms; bound again only by the
  // re-enumeration at 40 ms.
  assert.deepEqual(
    states.map((x) => x.replace(/^\d+ms /, '')),
    [...bindingLife, ...bindingLife.slice(0, 4)],
    states.join('; '),
  );
  assert.ok(states[8]!.startsWith('40ms'), states[8]);
  assert.deepEqual(w.summary().protocolDrivers[0]?.bindings, [{ adapter: 'nic0', state: 'Running' }]);
});

test("a query-remove that reaches a binding while its pause waits in another thread leaves the pause alone (the protocol trial's false positive)", () => {
  const waited: boolean[] = [];
  const p = protocolDriver('slow-pause', (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status, {
    NetPnPEventHandler: (_c, note) => {
      if (note.NetPnPEvent.NetEvent !== NetEventPause) return NDIS_STATUS_SUCCESS;
      // The pause waits 5 ms (for sends, say) in a blocking wait: other threads run meanwhile.
      const ev = new NDIS_EVENT();
      NdisInitializeEvent(ev);
      waited.push(NdisWaitEvent(ev, 5));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  w.at(50 * ns.ms, { kind: 'sleep', state: 'S3', durationNs: 100 * ns.ms });
  w.at(51 * ns.ms, { kind: 'remove', device: 'nic0' });
  const r = w.run(200 * ns.ms);
  assert.equal(r.bugCheck, null, r.message ?? '');
  assert.deepEqual(waited, [false]);
  const events = w.trace.events
    .filter((e) => e.kind === 'call' && e.actor === 'slow-pause' && e.what === 'ProtocolNetPnPEvent')
    .map((e) => e.data?.NetEvent);
  assert.ok(events.includes('NetEventQueryRemoveDevice'), events.join(', '));
});

test('determinism: the same seed gives the same trace with a protocol driver that pends at random', () => {
  const text = (seed: number) => {
    const w = world(echoProto, { seed, rxRate: 5000 });
    w.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
    w.run(100 * ns.ms);
    return JSON.stringify(w.trace.events);
  };
  assert.equal(text(7), text(7));
  const kinds = new Set<string>();
  for (let seed = 1; seed <= 12; seed++) {
    const w = world(echoProto, { seed });
    w.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
    assert.equal(w.run(100 * ns.ms).verdict, 'ok');
    kinds.add(openClose(w).join(' '));
  }
  assert.ok(kinds.size > 1, 'seeds reach both the at-once and the pended open or close');
});

// ------------------------------------------- deregistering, unloading, global events

/** nic0 and nic1 (healthy-nic) with the protocol driver `p` above both. */
function twoAdapters(p: DriverModule, o: Parameters<typeof world>[1] = {}) {
  const w = world(p, o);
  w.addDevice({
    name: 'nic1',
    driver: 'healthy-nic',
    wire: { rxPerSecond: o.rxRate ?? 0, rxFrameBytes: 128 },
  });
  w.at(0, { kind: 'start', device: 'nic1' });
  return w;
}

/** The trace from the first `call` of `fn` to its `return` (the thread's call, others' events in between). */
function inside(w: World, actor: string, fn: string) {
  const ev = w.trace.events;
  const from = ev.findIndex((e) => e.kind === 'call' && e.what === fn && e.actor === actor);
  assert.ok(from >= 0, `${fn} was called`);
  const to = ev.findIndex((e, i) => i > from && e.kind === 'return' && e.what === fn && e.actor === actor);
  assert.ok(to > from, `${fn} returned`);
  return ev.slice(from, to + 1);
}

test('nf-ndis-ndisderegisterprotocoldriver, R7.3: stop-protocol calls the Unload routine, whose NdisDeregisterProtocolDriver pauses and unbinds every binding inside the call; the adapters and tcpip run on', () => {
  const w = twoAdapters(echoProto, { rxRate: 2000 });
  w.at(500 * ns.ms, { kind: 'stop-protocol', driver: 'echo-proto' });
  const r = w.run(ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const unload = inside(w, 'echo-proto', 'DriverUnload');
  const moves = (adapter: string) =>
    unload.filter((e) => e.kind === 'binding' && e.data?.adapter === adapter).map((e) => e.what);
  // Each binding: paused first, then unbound, all before DriverUnload returns.
  for (const a of ['nic0', 'nic1'])
    assert.deepEqual(
      moves(a),
      ['Running → Pausing', 'Pausing → Paused', 'Paused → Closing', 'Closing → Unbound'],
      a,
    );
  assert.ok(unload.some((e) => e.kind === 'ddi' && e.what === 'NdisDeregisterProtocolDriver'));
  const s = w.summary();
  const echo = s.protocolDrivers.find((p) => p.driver === 'echo-proto')!;
  assert.deepEqual(echo.bindings, []);
  assert.equal(echo.unloaded, true);
  // Nothing reaches it after the unload; the miniports and tcpip are untouched.
  const after = w.trace.events.filter(
    (e) => e.actor === 'echo-proto' && e.t > unload[unload.length - 1]!.t && e.kind === 'call',
  );
  assert.deepEqual(after, []);
  assert.deepEqual(
    s.adapters.map((a) => a.state),
    ['Running', 'Running'],
  );
  assert.ok(s.protocols.every((p) => p.bindings.every((b) => !b.unbound)));
});

test('nf-ndis-ndisderegisterprotocoldriver: a pended unbind (NdisCloseAdapterEx pends) is waited for; the call returns only after NdisCompleteUnbindAdapterEx', () => {
  const w = world(echoProto, { strategy: always(ChoiceSite.ProtocolOpenClose, 1) });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'echo-proto' });
  const r = w.run(200 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const unload = inside(w, 'echo-proto', 'DriverUnload');
  const what = unload.map((e) => `${e.kind} ${e.what}`);
  const unbindReturned = what.indexOf('return ProtocolUnbindAdapterEx');
  const completed = what.indexOf('ddi NdisCompleteUnbindAdapterEx');
  const woke = what.indexOf('wake NdisDeregisterProtocolDriver');
  assert.equal(unload[unbindReturned]!.data?.result, 'NDIS_STATUS_PENDING');
  assert.ok(unbindReturned < completed && completed < woke, what.join('\n'));
  // The call goes on after its wait: the timeline says it resumes, not that it returns.
  assert.equal(unload[woke]!.data?.goesOn, true);
  assert.match(
    formatTimeline([unload[woke]!], { color: false }).join('\n'),
    /NdisDeregisterProtocolDriver resumes \(its wait is over\)/,
  );
  assert.ok(unload[unload.length - 1]!.t > unload[0]!.t, 'the wait took virtual time');
});

test('R7.13: an unbind pended inside NdisDeregisterProtocolDriver and never completed is NDIS watchdog 0x7C/0x25 while the call waits', () => {
  const p = protocolDriver('never-unbinds', (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status, {
    UnbindAdapterHandlerEx: (_u, c) => {
      NdisCloseAdapterEx(c.handle!);
      return NDIS_STATUS_PENDING;
    },
  });
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'never-unbinds' });
  const r = w.run(70 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolWatchdog');
  assert.match(r.bugCheck.message, /ProtocolUnbindAdapterEx of never-unbinds returned NDIS_STATUS_PENDING/);
  // The 0x7C page: parameter 2 the operation (0x04, NDIS_BUGCHECK_WATCHDOG_PROTOCOL_UNBIND).
  assert.deepEqual(r.bugCheck.bugCheck.params, [0x25, 0x04, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0]);
  // The Unload routine is still inside its call when the watchdog fires.
  assert.ok(!w.trace.events.some((e) => e.kind === 'return' && e.what === 'DriverUnload'));
});

test('R7.13: a NetEventPause pended and never completed is NDIS watchdog 0x7C/0x25 with operation 0x01 (NDIS_BUGCHECK_WATCHDOG_PROTOCOL_PAUSE)', () => {
  const w = world(echoProtocol('echo-pause-never-done', 'x', { pauseNeverCompleted: true }));
  w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = w.run(70 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolWatchdog');
  assert.match(r.bugCheck.message, /ProtocolNetPnPEvent\(NetEventPause\) of echo-pause-never-done/);
  assert.deepEqual(r.bugCheck.bugCheck.params, [0x25, 0x01, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0]);
  // Pended by: the handler that pended the pause, at the surprise removal (100 ms).
  assert.equal(r.bugCheck.origin?.label, 'Pended by');
  assert.match(
    r.bugCheck.origin!.at,
    /^ProtocolNetPnPEvent\(NetEventPause\) of echo-pause-never-done at 0\.1\d{5} s$/,
  );
});

test('R7.1, R7.10: a binding whose NetEventRestart fails goes back to Paused and stays there; the removal does not pause it again but unbinds it, and the built-in protocol beside it runs', () => {
  const p = protocolDriver('no-restart', (proto, bc, adapter, ctx) => open(proto, bc, adapter, ctx).Status, {
    NetPnPEventHandler: (_c, note) =>
      note.NetPnPEvent.NetEvent === NetEventRestart ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS,
  });
  const w = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  w.addProtocol('tcpip');
  w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const states = (): string[] =>
    w.trace.events
      .filter((e) => e.kind === 'binding' && e.actor === 'no-restart')
      .map((e) => e.what.replace('nic0: binding ', ''));
  w.run(50 * ns.ms);
  assert.deepEqual(states(), [
    'Unbound → Opening',
    'Opening → Paused',
    'Paused → Restarting',
    'Restarting → Paused',
  ]);
  assert.deepEqual(w.summary().protocolDrivers[0]!.bindings, [{ adapter: 'nic0', state: 'Paused' }]);
  assert.equal(w.adapter('nic0')!.bindings.find((b) => b.protocol.name === 'tcpip')?.state, 'Running');
  const r = w.run(ns.s);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.deepEqual(states().slice(4), ['Paused → Closing', 'Closing → Unbound']);
  const pauses = w.trace.events.filter(
    (e) => e.kind === 'call' && e.actor === 'no-restart' && e.data?.NetEvent === 'NetEventPause',
  );
  assert.equal(pauses.length, 0, 'a Paused binding gets no NetEventPause');
});

test("ns-ndis-_ndis_protocol_restart_parameters: NetEventRestart names the filter modules below, and FilterModuleNameBufferLength is the buffer's length in bytes (a USHORT and UTF-16 characters per name), not a count", () => {
  const seen: NDIS_PROTOCOL_RESTART_PARAMETERS[] = [];
  const p = protocolDriver(
    'reads-restart',
    (proto, bc, adapter, ctx) => open(proto, bc, adapter, ctx).Status,
    {
      NetPnPEventHandler: (_c, note) => {
        if (note.NetPnPEvent.NetEvent === NetEventRestart)
          seen.push(note.NetPnPEvent.Buffer as NDIS_PROTOCOL_RESTART_PARAMETERS);
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  const w = world(p);
  for (const f of [monitorLwf, countingLwf]) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  assert.equal(w.run(100 * ns.ms).verdict, 'ok');
  assert.equal(seen.length, 1);
  const r = seen[0]!;
  const names = w
    .adapter('nic0')!
    .filters.map((m) => m.name)
    .reverse();
  assert.equal(names.length, 2);
  assert.deepEqual(r.FilterModuleNameBuffer, names);
  assert.equal(
    r.FilterModuleNameBufferLength,
    names.reduce((bytes, x) => bytes + 2 + 2 * x.length, 0),
  );
});

test('ns-ifdef-net_luid_lh: BoundIfNetluid and LowestIfNetluid are NET_LUIDs (IfType IF_TYPE_ETHERNET_CSMACD in bits 48-63, an NDIS-allocated NetLuidIndex in bits 24-47), not the IfIndex', () => {
  let bind: NDIS_BIND_PARAMETERS | null = null;
  const restarts: NDIS_PROTOCOL_RESTART_PARAMETERS[] = [];
  const p = protocolDriver(
    'reads-luids',
    (proto, bc, adapter, ctx, params) => {
      bind = params;
      return open(proto, bc, adapter, ctx).Status;
    },
    {
      NetPnPEventHandler: (_c, note) => {
        if (note.NetPnPEvent.NetEvent === NetEventRestart)
          restarts.push(note.NetPnPEvent.Buffer as NDIS_PROTOCOL_RESTART_PARAMETERS);
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  const w = world(p);
  for (const f of [monitorLwf, countingLwf]) {
    w.addDriver(f);
    w.addFilter(f.name);
  }
  assert.equal(w.run(100 * ns.ms).verdict, 'ok');
  const b = w.adapter('nic0')!;
  const top = b.filters[b.filters.length - 1]!;
  const luid = (index: number) => (6n << 48n) | (BigInt(index) << 24n);
  const got = bind as NDIS_BIND_PARAMETERS | null;
  assert.ok(got !== null);
  assert.equal(b.netLuid.Info.IfType, IF_TYPE_ETHERNET_CSMACD);
  assert.equal(got.LowestIfNetluid.Value, luid(b.netLuid.Info.NetLuidIndex));
  assert.equal(got.LowestIfNetluid, b.netLuid);
  assert.equal(got.BoundIfNetluid, top.netLuid);
  assert.equal(got.BoundIfNetluid.Value, luid(top.netLuid.Info.NetLuidIndex));
  assert.equal(got.BoundIfNetluid.Info.IfType, IF_TYPE_ETHERNET_CSMACD);
  assert.notEqual(got.BoundIfNetluid.Value, BigInt(got.BoundIfIndex));
  // Every interface has its own index.
  const indexes = new Set([b.netLuid, ...b.filters.map((m) => m.netLuid)].map((l) => l.Info.NetLuidIndex));
  assert.equal(indexes.size, 1 + b.filters.length);
  assert.equal(restarts.length, 1);
  assert.equal(restarts[0]!.BoundIfNetluid, top.netLuid);
});

/** Blocks the calling thread for good: NdisWaitEvent with no time limit on an event nobody sets. */
function blockForGood(): void {
  const ev = new NDIS_EVENT();
  NdisInitializeEvent(ev);
  NdisWaitEvent(ev, 0);
}

test('R7.13: a ProtocolNetPnPEvent(NetEventPause) or ProtocolUnbindAdapterEx that blocks and never returns is NDIS watchdog 0x7C/0x25, as the same step pended is (0x01 pause, 0x04 unbind)', () => {
  const blocked = (name: string, more: Partial<NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<Ctx>>) => {
    const w = world(
      protocolDriver(name, (proto, bc, adapter, ctx) => open(proto, bc, adapter, ctx).Status, more),
    );
    w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
    return w.run(70 * ns.s);
  };
  const pause = blocked('pause-blocks', {
    NetPnPEventHandler: (_c, note) => {
      if (note.NetPnPEvent.NetEvent === NetEventPause) blockForGood();
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(pause.bugCheck?.rule, 'NdisSim_ProtocolWatchdog', pause.message ?? '');
  assert.deepEqual(pause.bugCheck.bugCheck.params, [0x25, 0x01, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0]);
  assert.match(
    pause.bugCheck.message,
    /ProtocolNetPnPEvent\(NetEventPause\) of pause-blocks on the binding pause-blocks→nic0 has not returned after 60 s/,
  );
  // At the watchdog's time, not before: the pause began at 100.3 ms, after the surprise removal.
  assert.ok(Math.abs(pause.bugCheck.timeNs - 60_100.3 * ns.ms) < ns.ms, String(pause.bugCheck.timeNs));
  const unbind = blocked('unbind-blocks', {
    UnbindAdapterHandlerEx: () => {
      blockForGood();
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(unbind.bugCheck?.rule, 'NdisSim_ProtocolWatchdog', unbind.message ?? '');
  assert.deepEqual(unbind.bugCheck.bugCheck.params, [0x25, 0x04, 'NDIS_WATCHDOG_TRIAGE_BLOCK', 0]);
  assert.match(
    unbind.bugCheck.message,
    /ProtocolUnbindAdapterEx of unbind-blocks .* has not returned after 60 s/,
  );
});

test('R7.13: a ProtocolStatusEx that blocks in a status indication at PASSIVE is NDIS watchdog 0x7C/0x25 with operation 0x03 (NDIS_BUGCHECK_WATCHDOG_PROTOCOL_STATUS_INDICATION); one that returns in time is not', () => {
  const run = (waitMs: number) => {
    // The miniport indicates its link state from MiniportRestart, at PASSIVE.
    const nic = scriptedDriver('status-at-restart', {
      restart: (a) => {
        NdisMIndicateStatusEx(a.handle, linkStateIndication(a.handle, true, 1e9));
        return NDIS_STATUS_SUCCESS;
      },
    });
    const p = protocolDriver(
      'status-blocks',
      (proto, bc, adapter, ctx) => open(proto, bc, adapter, ctx).Status,
      {
        StatusHandlerEx: () => {
          if (waitMs === 0) blockForGood();
          else NdisMSleep(waitMs * 1000);
        },
      },
    );
    const w = testWorld({ drivers: [nic, p], devices: [{ name: 'nic0', driver: nic.name }], protocols: [] });
    w.addProtocolDriver(p.name);
    return w.run(70 * ns.s);
  };
  const r = run(0);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolWatchdog', r.message ?? '');
  // Parameter 4: the NDIS_STATUS of the stuck indication (bug-check-0x7c).
  assert.deepEqual(r.bugCheck.bugCheck.params, [
    0x25,
    0x03,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    NDIS_STATUS_LINK_STATE,
  ]);
  assert.match(
    r.bugCheck.message,
    /ProtocolStatusEx\(NDIS_STATUS_LINK_STATE\) of status-blocks .* has not returned after 60 s/,
  );
  assert.equal(run(20).bugCheck, null);
});

test('nf-ndis-ndisderegisterprotocoldriver: the call from an entry point NDIS called (its unbind handler, its NetEventBindsComplete) is NdisSim_ProtocolDeregister (0xF7), and the driver stays registered', () => {
  const fromUnbind = echoProtocol('echo-deregisters-in-unbind', 'x', { deregistersFromUnbind: true });
  const w = world(fromUnbind, { collect: true });
  w.at(100 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  w.run(ns.s);
  const v = w.verifier.violations.find((x) => x.rule === 'NdisSim_ProtocolDeregister');
  assert.ok(v !== undefined, w.verifier.violations.map((x) => x.rule).join(', '));
  assert.equal(v.ddi, 'NdisDeregisterProtocolDriver');
  assert.match(v.message, /inside ProtocolUnbindAdapterEx.*deadlock/);
  assert.equal(v.bugCheck.code, 0xc4);
  assert.equal(v.bugCheck.params[0], 0x4e5300f7);
  // The unbind went on and completed; the driver is still registered.
  assert.deepEqual(w.summary().protocolDrivers[0]!.bindings, []);
  // A global event is an entry point too.
  let proto: NDIS_HANDLE | null = null;
  const fromGlobal = protocolDriver(
    'deregisters-in-binds-complete',
    (ph, bc, name, ctx) => open(ph, bc, name, ctx).Status,
    {
      NetPnPEventHandler: (c, note) => {
        if (c === null && note.NetPnPEvent.NetEvent === NetEventBindsComplete)
          NdisDeregisterProtocolDriver(proto!);
        return NDIS_STATUS_SUCCESS;
      },
    },
    (ph) => {
      proto = ph;
    },
  );
  const r = world(fromGlobal).run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolDeregister');
  assert.match(r.bugCheck.message, /inside ProtocolNetPnPEvent/);
});

test('initializing-a-protocol-driver: an Unload routine that returns without NdisDeregisterProtocolDriver is NdisSim_ProtocolUnload (0xF8); NDIS binds the driver no more', () => {
  const p = echoProtocol('echo-unload-no-deregister', 'x', { unloadWithoutDeregister: true });
  const w = world(p, { collect: true });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: p.name });
  w.at(200 * ns.ms, { kind: 'stop', device: 'nic0' });
  w.run(ns.s);
  const v = w.verifier.violations.filter((x) => x.rule === 'NdisSim_ProtocolUnload');
  assert.equal(v.length, 1, w.verifier.violations.map((x) => x.rule).join(', '));
  assert.equal(v[0]!.ddi, 'DriverUnload');
  assert.match(v[0]!.message, /without NdisDeregisterProtocolDriver, with 1 binding\(s\) still open/);
  assert.equal(v[0]!.bugCheck.params[0], 0x4e5300f8);
  // The stop and start for rebalance unbinds it, and the new start does not bind it again.
  const binds = w.trace.events.filter((e) => e.kind === 'call' && e.what === 'ProtocolBindAdapterEx');
  assert.equal(binds.length, 1);
});

test('R8.4, R8.8, DriverUnload: an NBL pool, a timer object and memory of the NdisProtocolHandle left at unload are NdisSim_ResourceNotFreed, NdisSim_TimerNotFreed and NdisSim_PoolNotFreedAtUnload', () => {
  const p = protocolDriver(
    'leaky-unload',
    (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status,
    {},
    (proto, obj) => {
      NdisAllocateNetBufferListPool(proto, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 0x6b61654c,
        DataSize: 1514,
      });
      NdisAllocateTimerObject(proto, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0x6b61654c,
        TimerFunction: () => {},
        FunctionContext: null,
      });
      NdisAllocateMemoryWithTagPriority(proto, 32, 0x6b61654c, NormalPoolPriority);
      obj.DriverUnload = () => NdisDeregisterProtocolDriver(proto);
    },
  );
  const w = world(p, { collect: true });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'leaky-unload' });
  w.run(200 * ns.ms);
  const at = w.verifier.violations.filter((v) => v.ddi === 'DriverUnload').map((v) => v.rule);
  assert.deepEqual(at.sort(), [
    'NdisSim_PoolNotFreedAtUnload',
    'NdisSim_ResourceNotFreed',
    'NdisSim_TimerNotFreed',
  ]);
  // A driver that frees them all unloads clean: echo-proto frees its pool after deregistering.
  const clean = world(echoProto, { rxRate: 2000 });
  clean.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'echo-proto' });
  assert.equal(clean.run(200 * ns.ms).verdict, 'ok');
});

test('R8.8, R2.16: a timer of the NdisProtocolHandle left set at unload that fires afterwards is NdisSim_CallbackAfterHalt, and its code does not run', () => {
  let ran = 0;
  const p = protocolDriver(
    'timer-after-unload',
    (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status,
    {},
    (proto, obj) => {
      const t = NdisAllocateTimerObject(proto, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0x6b61654c,
        TimerFunction: () => {
          ran++;
        },
        FunctionContext: null,
      });
      obj.DriverUnload = () => {
        NdisDeregisterProtocolDriver(proto);
        NdisSetTimerObject(t.TimerObject!, -1_000_000, 0, null);
      };
    },
  );
  const w = world(p, { collect: true });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'timer-after-unload' });
  w.run(ns.s);
  const v = w.verifier.violations.find((x) => x.rule === 'NdisSim_CallbackAfterHalt');
  assert.ok(v !== undefined, w.verifier.violations.map((x) => x.rule).join(', '));
  assert.match(v.message, /fired after its DriverUnload returned/);
  assert.equal(ran, 0);
});

test('releasing-driver-allocated-resources: an IO_WORKITEM queued inside the Unload routine, which returns without waiting for it, runs after it as NdisSim_CallbackAfterHalt, and the message says the Unload must make sure it ran (hunt)', () => {
  let ran = 0;
  const p = protocolDriver(
    'item-after-unload',
    (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status,
    {},
    (proto, obj) => {
      obj.DriverUnload = () => {
        NdisDeregisterProtocolDriver(proto);
        const item = IoAllocateWorkItem(obj);
        IoQueueWorkItemEx(
          item!,
          (_o, _c, it) => {
            ran++;
            IoFreeWorkItem(it);
          },
          DelayedWorkQueue,
          null,
        );
      };
    },
  );
  const w = world(p, { collect: true });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'item-after-unload' });
  w.run(ns.s);
  const v = w.verifier.violations.find((x) => x.rule === 'NdisSim_CallbackAfterHalt');
  assert.ok(v !== undefined, w.verifier.violations.map((x) => x.rule).join(', '));
  assert.equal(v.ddi, 'WorkItemEx');
  assert.match(
    v.message,
    /an IO_WORKITEM was queued during or after the unload .* an Unload routine ensures the work items it queued have completed/,
  );
  assert.equal(ran, 0);
});

test('nc-wdm-driver_unload: a protocol driver without an Unload routine cannot be stopped: a warning, and it stays loaded and bound', () => {
  const p = echoProtocol('echo-no-unload', 'x', { noUnload: true });
  const w = world(p, { rxRate: 2000 });
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: p.name });
  const r = w.run(300 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.ok(r.warnings.some((x) => x.ddi === 'DriverUnload' && /has no Unload routine/.test(x.message)));
  const s = w.summary().protocolDrivers[0]!;
  assert.deepEqual(s.bindings, [{ adapter: 'nic0', state: 'Running' }]);
  assert.equal(s.unloaded, undefined);
  const sentAt = (t: number) =>
    w.trace.events.filter(
      (e) => e.actor === p.name && e.kind === 'ddi' && e.what === 'NdisSendNetBufferLists' && e.t > t,
    ).length;
  assert.ok(sentAt(100 * ns.ms) > 0, 'it goes on echoing');
});

test('nc-ndis-protocol_net_pnp_event, ns-netpnp-_net_pnp_event: NDIS indicates NetEventBindsComplete once, with a NULL ProtocolBindingContext and a NULL buffer, after the driver is bound to every adapter that starts', () => {
  const seen: { ctx: unknown; buffer: unknown; length: number; bound: number }[] = [];
  let bound = 0;
  const p = protocolDriver(
    'notes-binds-complete',
    (proto, bc, name, ctx) => {
      bound++;
      return open(proto, bc, name, ctx).Status;
    },
    {
      NetPnPEventHandler: (c, note) => {
        if (note.NetPnPEvent.NetEvent === NetEventBindsComplete)
          seen.push({
            ctx: c,
            buffer: note.NetPnPEvent.Buffer,
            length: note.NetPnPEvent.BufferLength,
            bound,
          });
        return NDIS_STATUS_SUCCESS;
      },
    },
  );
  for (const seed of [1, 2, 3, 4]) {
    seen.length = 0;
    bound = 0;
    const w = twoAdapters(p, { seed });
    // A stop for rebalance and the new start bind nic1 again, with no second indication.
    w.at(200 * ns.ms, { kind: 'stop', device: 'nic1' });
    const r = w.run(500 * ns.ms);
    assert.equal(r.verdict, 'ok', r.message ?? '');
    // Once, after both first binds.
    assert.deepEqual(seen, [{ ctx: null, buffer: null, length: 0, bound: 2 }], `seed ${seed}`);
    assert.equal(bound, 3);
    const opened = w.trace.events.filter(
      (e) => e.kind === 'binding' && e.what === 'Opening → Paused' && e.actor === p.name,
    );
    const indicated = w.trace.events.findIndex(
      (e) => e.kind === 'call' && e.data?.NetEvent === 'NetEventBindsComplete',
    );
    assert.ok(indicated > w.trace.events.indexOf(opened[1]!), `seed ${seed}: after both binds completed`);
  }
});

test('nc-ndis-protocol_net_pnp_event: a driver that reads its binding context in NetEventBindsComplete (NULL) gets 0x1E, and the message says the context was NULL', () => {
  const p = echoProtocol('echo-counts-events', 'x', { countsEventsInContext: true });
  const r = world(p).run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_DriverException');
  assert.equal(r.bugCheck.bugCheck.code, 0x1e);
  assert.match(
    r.bugCheck.message,
    /ProtocolNetPnPEvent threw TypeError.*NetEventBindsComplete with a NULL ProtocolBindingContext/,
  );
  // echo-proto itself takes the NULL context in its stride.
  const w = world(echoProto);
  assert.equal(w.run(100 * ns.ms).verdict, 'ok');
  assert.ok(
    w.trace.events.some(
      (e) =>
        e.kind === 'return' &&
        e.what === 'ProtocolNetPnPEvent' &&
        e.data?.result === 'NDIS_STATUS_SUCCESS' &&
        e.actor === 'echo-proto',
    ),
  );
});

test('bad input: stop-protocol names a protocol driver the scenario installs, and no device', () => {
  const base =
    'protocolDrivers:\n  - driver: echo-proto\ndevices:\n  - { name: nic0, driver: healthy-nic }\n';
  assert.throws(
    () =>
      parseScenarioText(
        `${base}actions:\n  - { at: 1s, do: stop-protocol, driver: echo-prot }\n`,
        's.yaml',
        driverNames(),
      ),
    /s\.yaml: actions\[0\]\.driver: expected a protocol driver the scenario installs \(protocolDrivers: echo-proto\), got "echo-prot"; did you mean echo-proto\?/,
  );
  assert.throws(
    () =>
      parseScenarioText(
        `${base}actions:\n  - { at: 1s, do: stop-protocol, driver: echo-proto, device: nic0 }\n`,
        's.yaml',
        driverNames(),
      ),
    /actions\[0\]\.device: expected no device for "stop-protocol": a protocol service covers every adapter/,
  );
  assert.throws(
    () => parseScenarioText(`${base}actions:\n  - { at: 1s, do: stop-protocol }\n`, 's.yaml', driverNames()),
    /actions\[0\]\.driver: expected the protocol driver for "stop-protocol", got nothing/,
  );
  assert.throws(
    () => world(echoProto).at(ns.ms, { kind: 'stop-protocol', driver: 'healthy-nic' }),
    /World\.at\(stop-protocol\): 'healthy-nic' is not installed as a protocol driver \(call addProtocolDriver first\); installed: echo-proto/,
  );
  const ok = parseScenarioText(
    `${base}actions:\n  - { at: 1s, do: stop-protocol, driver: echo-proto }\n`,
    's.yaml',
    driverNames(),
  );
  assert.ok(ok !== undefined);
});

test('stop-protocol while a driver thread is blocked in a wait (echo-proto waits for its packet filter in a restart): the Unload waits for the waits to end, instead of a model deadlock', () => {
  let deferred = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const w = twoAdapters(echoProto, { seed, rxRate: 2000 });
    w.at(300 * ns.us, { kind: 'stop-protocol', driver: 'echo-proto' });
    const r = w.run(100 * ns.ms);
    assert.equal(r.verdict, 'ok', `seed ${seed}: ${r.message ?? ''}`);
    // A seed whose first bind comes after 300 µs stops a service not started yet: nothing happens.
    if (w.trace.events.some((e) => e.kind === 'ndis' && /echo-proto is not running/.test(e.what))) continue;
    const s = w.summary().protocolDrivers[0]!;
    assert.equal(s.unloaded, true, `seed ${seed}`);
    assert.deepEqual(s.bindings, [], `seed ${seed}`);
    if (w.trace.events.some((e) => e.kind === 'ndis' && /its Unload waits/.test(e.what))) deferred++;
  }
  assert.ok(deferred > 0, 'some seed lands the stop inside a wait');
});

test('nf-ndis-ndisderegisterprotocoldriver: called from a work item of the driver (not an NDIS entry point), it unbinds inside the call, and NDIS binds the driver no more', () => {
  let proto: NDIS_HANDLE | null = null;
  let obj: DRIVER_OBJECT | null = null;
  let queued = false;
  const p = protocolDriver(
    'deregisters-from-work',
    (ph, bc, name, ctx) => open(ph, bc, name, ctx).Status,
    {
      NetPnPEventHandler: (_c, note) => {
        if (note.NetPnPEvent.NetEvent === NetEventRestart && !queued) {
          queued = true;
          const item = IoAllocateWorkItem(obj!);
          IoQueueWorkItemEx(item!, () => NdisDeregisterProtocolDriver(proto!), DelayedWorkQueue, null);
        }
        return NDIS_STATUS_SUCCESS;
      },
    },
    (ph, o) => {
      proto = ph;
      obj = o;
    },
  );
  const w = world(p, { collect: true });
  w.at(200 * ns.ms, { kind: 'stop', device: 'nic0' });
  w.run(ns.s);
  const work = inside(w, 'deregisters-from-work', 'WorkItemEx');
  assert.ok(work.some((e) => e.kind === 'call' && e.what === 'ProtocolUnbindAdapterEx'));
  const binds = w.trace.events.filter((e) => e.kind === 'call' && e.what === 'ProtocolBindAdapterEx');
  assert.equal(binds.length, 1, 'the start after the stop does not bind it');
  assert.deepEqual(
    w.verifier.violations.map((v) => v.rule),
    [],
  );
});

test("NdisQueryBindInstanceName and NdisQueryAdapterInstanceName: the adapter's friendly name from the BindContext before the open, and from the NdisBindingHandle once the open completed; before a pended open completes it is NdisSim_ProtocolBinding", () => {
  const names: string[] = [];
  const text = (s: NDIS_STRING) => new TextDecoder('utf-16le').decode(s.Buffer.subarray(0, s.Length));
  const take = (q: { AdapterInstanceName: NDIS_STRING | null }) => {
    const s = q.AdapterInstanceName!;
    names.push(text(s));
    NdisFreeMemory(s.Buffer, s.MaximumLength, 0);
  };
  const p = protocolDriver(
    'names-proto',
    (proto, bc, name, ctx) => {
      take(NdisQueryBindInstanceName(bc));
      const r = open(proto, bc, name, ctx);
      // The mistake: the handle of a pended open is not usable before its completion.
      NdisQueryAdapterInstanceName(ctx.handle!);
      return r.Status;
    },
    {
      OpenAdapterCompleteHandlerEx: (c, Status) => {
        take(NdisQueryAdapterInstanceName(c.handle!));
        NdisCompleteBindAdapterEx(c.bindContext!, Status);
      },
    },
  );
  const w = world(p, { collect: true, strategy: always(ChoiceSite.ProtocolOpenClose, 1) });
  const r = w.run(100 * ns.ms);
  assert.deepEqual(names, ['ndis-sim SimNic Ethernet Adapter', 'ndis-sim SimNic Ethernet Adapter']);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_ProtocolBinding', 'NdisQueryAdapterInstanceName']],
  );
});

test("nf-ndis-ndisreenumerateprotocolbindings: the call inside a ProtocolNetPnPEvent with a NULL ProtocolBindingContext (NetEventBindsComplete) is allowed; inside a binding's ProtocolNetPnPEvent it is the rule of the same name", () => {
  const run = (onBinding: boolean) => {
    let proto: NDIS_HANDLE | null = null;
    let calls = 0;
    const p = protocolDriver(
      onBinding ? 're-enumerates-in-restart' : 're-enumerates-in-binds-complete',
      (ph, bc, name, ctx) => open(ph, bc, name, ctx).Status,
      {
        NetPnPEventHandler: (c, note) => {
          const e = note.NetPnPEvent.NetEvent;
          if (
            calls === 0 &&
            (onBinding ? c !== null && e === NetEventRestart : c === null && e === NetEventBindsComplete)
          ) {
            calls++;
            NdisReEnumerateProtocolBindings(proto!);
          }
          return NDIS_STATUS_SUCCESS;
        },
      },
      (ph, obj) => {
        proto = ph;
        obj.DriverUnload = () => NdisDeregisterProtocolDriver(ph);
      },
    );
    const w = world(p, { collect: true });
    w.run(100 * ns.ms);
    assert.equal(calls, 1);
    return w.verifier.violations.filter((v) => v.rule === 'NdisReEnumerateProtocolBindings');
  };
  assert.deepEqual(run(false), []);
  const v = run(true);
  assert.equal(v.length, 1);
  assert.match(v[0]!.message, /inside ProtocolNetPnPEvent/);
});

test("nf-ndis-ndissendnetbufferlists: a send with NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK (ndisprot sets it on every send) goes down with the flag and completes; no copy comes back (loopback is not modelled) and the run's model notes say so, once", () => {
  const g: { pool: NDIS_HANDLE | null; obj: DRIVER_OBJECT | null; completed: number } = {
    pool: null,
    obj: null,
    completed: 0,
  };
  const send = (ctx: Ctx) => {
    const nbl = NdisAllocateNetBufferAndNetBufferList(g.pool!, 0, 0, new Uint8Array(60), 0, 60)!;
    nbl.SourceHandle = ctx.handle;
    NdisSendNetBufferLists(ctx.handle!, nbl, 0, NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK);
  };
  const p = protocolDriver(
    'asks-loopback',
    (proto, bc, name, ctx) => {
      g.pool ??= NdisAllocateNetBufferListPool(proto, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 1,
        DataSize: 0,
      });
      return open(proto, bc, name, ctx).Status;
    },
    {
      // Once Running (the restart returned), two sends from a work item.
      NetPnPEventHandler: (ctx, note) => {
        if (ctx !== null && note.NetPnPEvent.NetEvent === NetEventRestart) {
          const item = IoAllocateWorkItem(g.obj!)!;
          IoQueueWorkItemEx(
            item,
            (_o, _c, it) => {
              IoFreeWorkItem(it);
              send(ctx);
              send(ctx);
            },
            DelayedWorkQueue,
            null,
          );
        }
        return NDIS_STATUS_SUCCESS;
      },
      SendNetBufferListsCompleteHandler: (_c, chain) => {
        for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
          const next: NET_BUFFER_LIST | null = x.Next;
          x.Next = null;
          NdisFreeNetBufferList(x);
          g.completed++;
          x = next;
        }
      },
    },
    (_proto, obj) => {
      g.obj = obj;
    },
  );
  const r = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) }).run(50 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  assert.equal(g.completed, 2);
  assert.deepEqual(
    r.modelNotes.filter((x) => /NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK/.test(x)),
    [
      'asks-loopback: NdisSendNetBufferLists with NDIS_SEND_FLAGS_CHECK_FOR_LOOPBACK: loopback is not modelled, so the sends went down and no copy of them was indicated back to the sender',
    ],
  );
});

test("nf-ndis-ndisallocatecloneoidrequest: a protocol binding as SourceHandle (the page's intermediate-driver case) stops the run as not modelled, not as a wild handle", () => {
  const p = protocolDriver('clones-on-binding', (proto, bc, name, ctx) => {
    const r = open(proto, bc, name, ctx);
    NdisAllocateCloneOidRequest(
      ctx.handle!,
      oidRequest(NdisRequestQueryInformation, OID_GEN_MAXIMUM_FRAME_SIZE, null, 4),
      0,
    );
    return r.Status;
  });
  const r = world(p, { strategy: always(ChoiceSite.ProtocolOpenClose, 0) }).run(50 * ns.ms);
  assert.equal(r.verdict, 'not-modelled', r.message ?? '');
  assert.match(r.message ?? '', /NdisAllocateCloneOidRequest is not modelled.*intermediate driver/);
});

test('nf-ndis-ndiscompletebindadapterex, nf-ndis-ndiscompletenetpnpevent: a completion with NDIS_STATUS_PENDING, which is no final status, is reported', () => {
  // A pended open whose completion completes the bind with PENDING.
  const bind = protocolDriver(
    'completes-bind-pending',
    (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status,
    {
      OpenAdapterCompleteHandlerEx: (c) => NdisCompleteBindAdapterEx(c.bindContext!, NDIS_STATUS_PENDING),
    },
  );
  const w = world(bind, { collect: true, strategy: always(ChoiceSite.ProtocolOpenClose, 1) });
  const r = w.run(100 * ns.ms);
  assert.ok(
    r.violations.some(
      (v) =>
        v.rule === 'NdisSim_ProtocolBinding' &&
        v.ddi === 'NdisCompleteBindAdapterEx' &&
        /final status/.test(v.message),
    ),
    r.violations.map((v) => `${v.rule} ${v.ddi}: ${v.message}`).join('\n'),
  );
  // A restart completed inside the handler with PENDING (and PENDING returned).
  const restart = protocolDriver(
    'completes-restart-pending',
    (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status,
    {
      NetPnPEventHandler: (c, note) => {
        if (c === null || note.NetPnPEvent.NetEvent !== NetEventRestart) return NDIS_STATUS_SUCCESS;
        NdisCompleteNetPnPEvent(c.handle!, note, NDIS_STATUS_PENDING);
        return NDIS_STATUS_PENDING;
      },
    },
  );
  const w2 = world(restart, { collect: true, strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  const r2 = w2.run(100 * ns.ms);
  assert.deepEqual(
    r2.violations.map((v) => [
      v.rule,
      v.ddi,
      /NetEventRestart with NDIS_STATUS_PENDING: a completion needs a final status/.test(v.message),
    ]),
    [['NdisSim_ProtocolNetPnPEvent', 'NdisCompleteNetPnPEvent', true]],
  );
});

test('nf-ndis-ndissendnetbufferlists: NetBufferLists NULL is NdisSim_BadParameter of the protocol, not a fault of the miniport it would reach', () => {
  const p = protocolDriver('sends-null', (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status, {
    // Receives come on a Running binding: the send is otherwise a proper one.
    ReceiveNetBufferListsHandler: (c) =>
      NdisSendNetBufferLists(c.handle!, null as unknown as NET_BUFFER_LIST, 0, 0),
  });
  const r = world(p, { rxRate: 1000, strategy: always(ChoiceSite.ProtocolOpenClose, 0) }).run(50 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.message ?? '');
  assert.equal(r.bugCheck.ddi, 'NdisSendNetBufferLists');
});

test('nf-ndis-ndisreenumerateprotocolbindings: the call from a work item while the driver\'s bind sleeps in NdisWaitEvent on another thread is not "inside ProtocolBindAdapterEx"', () => {
  const calls: number[] = [];
  const p = protocolDriver(
    'sleepy-bind',
    (proto, bc, name, ctx) => {
      const r = open(proto, bc, name, ctx);
      // The bind waits 20 ms; the work item below runs meanwhile, on its own thread.
      const ev = new NDIS_EVENT();
      NdisInitializeEvent(ev);
      NdisWaitEvent(ev, 20);
      return r.Status;
    },
    {},
    (proto, obj) => {
      obj.DriverUnload = () => NdisDeregisterProtocolDriver(proto);
      // A protocol's work item is a WDM one, of its DRIVER_OBJECT (nf-ndis-ndisallocateioworkitem).
      const item = IoAllocateWorkItem(obj)!;
      const t = NdisAllocateTimerObject(proto, {
        Header: {
          Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
          Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
        },
        AllocationTag: 0x74736554,
        TimerFunction: () =>
          IoQueueWorkItemEx(
            item,
            () => {
              calls.push(0);
              NdisReEnumerateProtocolBindings(proto);
            },
            DelayedWorkQueue,
            null,
          ),
        FunctionContext: null,
      }).TimerObject!;
      NdisSetTimerObject(t, -5 * 10_000, 0, null);
    },
  );
  const w = world(p, { collect: true, strategy: always(ChoiceSite.ProtocolOpenClose, 0) });
  const r = w.run(100 * ns.ms);
  assert.equal(calls.length, 1);
  assert.deepEqual(
    r.violations.map((v) => `${v.rule}: ${v.message}`),
    [],
  );
});
// ---------------------------------------------------------------- WDM work items

/** A protocol whose bind runs `work(obj, proto)` once, with the DRIVER_OBJECT its DriverEntry got. */
function workProto(name: string, work: (obj: DRIVER_OBJECT, proto: NDIS_HANDLE) => void): DriverModule {
  let obj: DRIVER_OBJECT | null = null;
  let done = false;
  return protocolDriver(
    name,
    (proto, bc, adapter, ctx) => {
      if (!done) {
        done = true;
        work(obj!, proto);
      }
      return open(proto, bc, adapter, ctx).Status;
    },
    {},
    (proto, o) => {
      obj = o;
      o.DriverUnload = () => NdisDeregisterProtocolDriver(proto);
    },
  );
}

test('nf-ndis-ndisallocateioworkitem (Note): a protocol driver cannot pass its NdisProtocolHandle: NdisSim_BadParameter, naming IoAllocateWorkItem and the DRIVER_OBJECT', () => {
  const p = workProto('ndis-item', (_obj, proto) => {
    const w = NdisAllocateIoWorkItem(proto);
    if (w !== null) NdisQueueIoWorkItem(w, () => {}, null);
  });
  const r = world(p).run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /NdisProtocolHandle.*IoAllocateWorkItem with its DRIVER_OBJECT/);
});

test('nf-wdm-ioqueueworkitemex, nc-wdm-io_workitem_routine_ex: queued at DISPATCH from a timer, the WorkItemEx routine runs at PASSIVE as the protocol with its IoObject, Context and IoWorkItem; IoFreeWorkItem from inside it is fine', () => {
  const got: { io: unknown; ctx: unknown; item: unknown; irql: number }[] = [];
  let item: IO_WORKITEM | null = null;
  let drvObj: DRIVER_OBJECT | null = null;
  const p = workProto('wdm-work', (obj, proto) => {
    drvObj = obj;
    item = IoAllocateWorkItem(obj);
    const t = NdisAllocateTimerObject(proto, {
      Header: {
        Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: 0,
      TimerFunction: () =>
        IoQueueWorkItemEx(
          item!,
          (io, ctx, it) => {
            got.push({ io, ctx, item: it, irql: NDIS_CURRENT_IRQL() });
            IoFreeWorkItem(it);
            NdisFreeTimerObject(t.TimerObject!);
          },
          DelayedWorkQueue,
          'ctx-1',
        ),
      FunctionContext: null,
    });
    NdisSetTimerObject(t.TimerObject!, -10 * 10_000, 0, null);
  });
  const w = world(p);
  w.at(300 * ns.ms, { kind: 'stop-protocol', driver: 'wdm-work' });
  const r = w.run(ns.s);
  assert.equal(r.bugCheck, null, r.message ?? '');
  assert.equal(got.length, 1);
  assert.equal(got[0]!.io, drvObj);
  assert.equal(got[0]!.ctx, 'ctx-1');
  assert.equal(got[0]!.item, item);
  assert.equal(got[0]!.irql, PASSIVE_LEVEL);
  assert.ok(
    w.trace.events.some((e) => e.kind === 'call' && e.what === 'WorkItemEx' && e.actor === 'wdm-work'),
  );
  assert.deepEqual(
    w.verifier.violations.map((v) => v.rule),
    [],
  );
});

test('nf-wdm-ioallocateworkitem: IoQueueWorkItem needs a work item of a device object; one of a DRIVER_OBJECT is NdisSim_BadParameter', () => {
  const p = workProto('plain-on-driver', (obj) => {
    IoQueueWorkItem(IoAllocateWorkItem(obj)!, () => {}, DelayedWorkQueue, null);
  });
  const r = world(p).run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /IoQueueWorkItem needs one of a device object/);
});

test('nf-wdm-ioqueueworkitemex: QueueType other than DelayedWorkQueue is NdisSim_BadParameter', () => {
  const p = workProto('critical-queue', (obj) => {
    IoQueueWorkItemEx(IoAllocateWorkItem(obj)!, () => {}, CriticalWorkQueue, null);
  });
  const r = world(p).run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /must specify DelayedWorkQueue/);
});

test('system-worker-threads, nf-wdm-iofreeworkitem: queuing an IO_WORKITEM still queued is NdisSim_WorkItemRequeued (the routine runs once); freeing one still queued is NdisSim_WorkItemFreedWhileQueued (it never runs)', () => {
  const runs: unknown[] = [];
  const p = workProto('misuse', (obj) => {
    const a = IoAllocateWorkItem(obj)!;
    IoQueueWorkItemEx(
      a,
      (_o, c, it) => {
        runs.push(c);
        IoFreeWorkItem(it);
      },
      DelayedWorkQueue,
      'first',
    );
    IoQueueWorkItemEx(a, (_o, c) => runs.push(c), DelayedWorkQueue, 'second');
    const b = IoAllocateWorkItem(obj)!;
    IoQueueWorkItemEx(b, () => runs.push('freed'), DelayedWorkQueue, null);
    IoFreeWorkItem(b);
  });
  const w = world(p, { collect: true });
  w.run(100 * ns.ms);
  assert.deepEqual(runs, ['first']);
  const rules = w.verifier.violations.map((v) => `${v.rule} ${v.ddi}`);
  assert.deepEqual(rules, [
    'NdisSim_WorkItemRequeued IoQueueWorkItemEx',
    'NdisSim_WorkItemFreedWhileQueued IoFreeWorkItem',
  ]);
});

test('nf-wdm-ioallocateworkitem: an IO_WORKITEM not freed when the Unload routine returns is NdisSim_WorkItemNotFreed naming IoFreeWorkItem', () => {
  const p = workProto('leaks-item', (obj) => {
    IoAllocateWorkItem(obj);
  });
  const w = world(p);
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'leaks-item' });
  w.run(300 * ns.ms);
  const v = w.verifier.violations.filter((x) => x.rule === 'NdisSim_WorkItemNotFreed');
  assert.equal(v.length, 1);
  assert.match(v[0]!.message, /IoFreeWorkItem/);
});

test('releasing-driver-allocated-resources: a queued IO_WORKITEM keeps the protocol driver loaded: a stop waits until its routine returned, then the Unload routine runs', () => {
  const order: string[] = [];
  let clock: (() => number) | null = null;
  let obj: DRIVER_OBJECT | null = null;
  let queued = false;
  // The routine queues its item again until 150 ms: the item is queued or running all along.
  const again: IO_WORKITEM_ROUTINE_EX<null> = (_o, _c, it) => {
    if (clock!() < 150 * ns.ms) IoQueueWorkItemEx(it, again, DelayedWorkQueue, null);
    else {
      order.push('work done');
      IoFreeWorkItem(it);
    }
  };
  const p = protocolDriver(
    'holds-driver',
    (proto, bc, adapter, ctx) => {
      if (!queued) {
        queued = true;
        IoQueueWorkItemEx(IoAllocateWorkItem(obj!)!, again, DelayedWorkQueue, null);
      }
      return open(proto, bc, adapter, ctx).Status;
    },
    {},
    (proto, o) => {
      obj = o;
      o.DriverUnload = () => {
        order.push(`unload at ${clock!() >= 150 * ns.ms ? 'or after 150' : 'before 150'} ms`);
        NdisDeregisterProtocolDriver(proto);
      };
    },
  );
  const w = world(p);
  clock = () => w.kernel.now;
  w.at(100 * ns.ms, { kind: 'stop-protocol', driver: 'holds-driver' });
  const r = w.run(300 * ns.ms);
  assert.equal(r.bugCheck, null, r.message ?? '');
  assert.deepEqual(order, ['work done', 'unload at or after 150 ms']);
  assert.ok(w.trace.events.some((e) => e.kind === 'ndis' && /Unload waits: an IO_WORKITEM/.test(e.what)));
  assert.deepEqual(
    w.verifier.violations.map((v) => v.rule),
    [],
  );
});

test("nf-wdm-ioallocateworkitem: DeviceObject is the caller's own driver or device object; another driver's DRIVER_OBJECT, or an object that is none, is NdisSim_BadParameter", () => {
  let first: DRIVER_OBJECT | null = null;
  const a = workProto('owner-proto', (obj) => {
    first = obj;
  });
  const b = workProto('borrower-proto', () => {
    IoAllocateWorkItem(first!);
  });
  const w = world(a);
  w.addDriver(b);
  w.addProtocolDriver(b.name);
  const r = w.run(100 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.message ?? '');
  assert.match(r.bugCheck?.message ?? '', /is owner-proto's, not the caller's \(borrower-proto\)/);
  const c = workProto('made-up', () => {
    IoAllocateWorkItem({ DriverName: '\\Driver\\made-up', MajorFunction: [] });
  });
  const r2 = world(c).run(100 * ns.ms);
  assert.equal(r2.bugCheck?.rule, 'NdisSim_BadParameter', r2.message ?? '');
  assert.match(r2.bugCheck?.message ?? '', /neither the DRIVER_OBJECT of a loaded driver/);
});

test('nf-ndis-ndissetoptionalhandlers: a protocol driver handle in ProtocolSetOptions, which the page allows, stops the run as not modelled (the sets are CoNDIS client and chimney ones), not a BadParameter against the driver', () => {
  const p = protocolDriver('set-options', () => NDIS_STATUS_FAILURE, {
    SetOptionsHandler: (h) =>
      NdisSetOptionalHandlers(h, {
        Header: { Type: 0x88, Revision: 1, Size: 0 },
      } as NDIS_DRIVER_OPTIONAL_HANDLERS),
  });
  const r = world(p, { collect: true }).run(ns.s);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /NdisSetOptionalHandlers is not modelled by ndis-sim: with a protocol driver's driver handle: the optional handler sets a protocol registers/,
  );
  assert.deepEqual(r.violations, []);
});

/** A control device's dispatch table that opens, closes, and takes every write whole. */
function writeOnlyDispatch(obj: DRIVER_OBJECT): void {
  const done = (irp: IRP<DISPATCH_IO_STACK_LOCATION>, status: number, info = 0): number => {
    irp.IoStatus.Status = status;
    irp.IoStatus.Information = info;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return status;
  };
  obj.MajorFunction[IRP_MJ_CREATE] = (_d, irp) => done(irp, STATUS_SUCCESS);
  obj.MajorFunction[IRP_MJ_CLEANUP] = (_d, irp) => done(irp, STATUS_SUCCESS);
  obj.MajorFunction[IRP_MJ_CLOSE] = (_d, irp) => done(irp, STATUS_SUCCESS);
  obj.MajorFunction[IRP_MJ_WRITE] = (_d, irp) =>
    done(irp, STATUS_SUCCESS, irp.Tail.Overlay.CurrentStackLocation.Parameters.Write!.Length);
}

test("a protocol driver's own control device (IoCreateDevice, IoCreateSymbolicLink, DRIVER_OBJECT.MajorFunction; ndisprot's way): the application opens \\\\.\\X and writes; the Unload routine deletes the device and its link, or NdisSim_DeviceNotDeregistered", () => {
  const make = (deletes: boolean) =>
    protocolDriver(
      'proto-ctl',
      () => NDIS_STATUS_FAILURE,
      {},
      (proto, obj) => {
        writeOnlyDispatch(obj);
        const r = IoCreateDevice(obj, 8, '\\Device\\ProtoCtl', FILE_DEVICE_NETWORK, 0, false);
        assert.equal(r.Status, STATUS_SUCCESS);
        assert.equal(r.DeviceObject!.DeviceExtension!.length, 8);
        assert.equal(NdisGetDeviceReservedExtension(r.DeviceObject!), null);
        r.DeviceObject!.Flags |= DO_BUFFERED_IO;
        assert.equal(IoCreateSymbolicLink('\\DosDevices\\ProtoCtl', '\\Device\\ProtoCtl'), STATUS_SUCCESS);
        assert.equal(
          IoCreateSymbolicLink('\\DosDevices\\ProtoCtl', '\\Device\\ProtoCtl'),
          STATUS_OBJECT_NAME_COLLISION,
        );
        assert.equal(
          IoCreateDevice(obj, 0, '\\Device\\ProtoCtl', FILE_DEVICE_NETWORK, 0, false).Status,
          STATUS_OBJECT_NAME_COLLISION,
        );
        obj.DriverUnload = () => {
          if (deletes) {
            IoDeleteSymbolicLink('\\DosDevices\\ProtoCtl');
            IoDeleteDevice(r.DeviceObject!);
          }
          NdisDeregisterProtocolDriver(proto);
        };
      },
    );
  const go = (deletes: boolean) => {
    const w = world(make(deletes), { collect: true });
    w.at(ns.s / 2, { kind: 'open', handle: 'app', link: 'ProtoCtl' });
    w.at(ns.s / 2 + 1, { kind: 'write', handle: 'app', data: [1, 2, 3] });
    w.at(ns.s / 2 + 2, { kind: 'close', handle: 'app' });
    w.at(ns.s, { kind: 'stop-protocol', driver: 'proto-ctl' });
    w.at(ns.s + 1, { kind: 'open', handle: 'late', link: 'ProtoCtl' });
    return { w, r: w.run(2 * ns.s) };
  };
  const good = go(true);
  assert.deepEqual(good.r.violations, []);
  assert.deepEqual(
    good.w.ioResults.map((x) => [x.request, x.statusName, x.information]),
    [['WriteFile', 'STATUS_SUCCESS', 3]],
  );
  assert.ok(
    good.w.trace.events.some(
      (e) => e.actor === 'proto-ctl' && e.kind === 'call' && e.what === 'DispatchWrite',
    ),
  );
  // After the unload the name is gone: the late open fails.
  assert.ok(
    good.w.trace.events.some(
      (e) => e.data?.handle === 'late' && e.data?.Status === 'STATUS_OBJECT_NAME_NOT_FOUND',
    ),
  );
  const bad = go(false);
  assert.deepEqual(
    bad.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_DeviceNotDeregistered', 'DriverUnload']],
  );
  assert.match(
    bad.r.violations[0]!.message,
    /proto-ctl: its Unload routine returned with \\Device\\ProtoCtl not deleted/,
  );
  // The late open reaches a device whose driver is gone: it fails, and the run says why.
  assert.ok(
    bad.w.trace.events.some(
      (e) => e.data?.handle === 'late' && e.data?.Status === 'STATUS_OBJECT_NAME_NOT_FOUND',
    ),
    'the late open fails',
  );
  assert.deepEqual(bad.r.modelNotes, [
    "the application used \\Device\\ProtoCtl after proto-ctl unloaded with the device left (NdisSim_DeviceNotDeregistered); on Windows its requests would reach the driver's unloaded code, the model failed them with STATUS_NO_SUCH_DEVICE",
  ]);
});

test("unload-routine-environment: a protocol driver's service stop waits to call Unload while the application holds a handle to its device; meanwhile no new handle opens, and the open one still works", () => {
  const p = protocolDriver(
    'proto-held',
    () => NDIS_STATUS_FAILURE,
    {},
    (proto, obj) => {
      writeOnlyDispatch(obj);
      const r = IoCreateDevice(obj, 0, '\\Device\\ProtoHeld', FILE_DEVICE_NETWORK, 0, false);
      r.DeviceObject!.Flags |= DO_BUFFERED_IO;
      IoCreateSymbolicLink('\\DosDevices\\ProtoHeld', '\\Device\\ProtoHeld');
      obj.DriverUnload = () => {
        IoDeleteSymbolicLink('\\DosDevices\\ProtoHeld');
        IoDeleteDevice(r.DeviceObject!);
        NdisDeregisterProtocolDriver(proto);
      };
    },
  );
  const w = world(p, { collect: true });
  w.at(ns.s / 2, { kind: 'open', handle: 'app', link: 'ProtoHeld' });
  w.at(ns.s, { kind: 'stop-protocol', driver: 'proto-held' });
  w.at(1.1 * ns.s, { kind: 'open', handle: 'late', link: 'ProtoHeld' });
  w.at(1.2 * ns.s, { kind: 'write', handle: 'app', data: [1, 2] });
  w.at(1.5 * ns.s, { kind: 'close', handle: 'app' });
  const r = w.run(2 * ns.s);
  assert.deepEqual(r.violations, []);
  const ev = w.trace.events;
  const unload = ev.find((e) => e.kind === 'call' && e.what === 'DriverUnload' && e.actor === 'proto-held');
  assert.ok(
    unload !== undefined && unload.t >= 1.5 * ns.s && unload.t <= 1.502 * ns.s,
    `Unload at ${unload?.t}`,
  );
  assert.ok(
    ev.some(
      (e) =>
        e.kind === 'ndis' &&
        /proto-held: its Unload waits: the application has a handle to \\Device\\ProtoHeld open/.test(e.what),
    ),
    'the stop says why it waits',
  );
  assert.ok(
    ev.some((e) => e.data?.handle === 'late' && e.data?.Status === 'STATUS_NO_SUCH_DEVICE'),
    'no new handle while the unload is pending',
  );
  assert.deepEqual(
    w.ioResults.map((x) => [x.request, x.statusName, x.information]),
    [['WriteFile', 'STATUS_SUCCESS', 2]],
  );
  // Before the close, the stop still waiting is work pending.
  const w2 = world(p, { collect: true });
  w2.at(ns.s / 2, { kind: 'open', handle: 'app', link: 'ProtoHeld' });
  w2.at(ns.s, { kind: 'stop-protocol', driver: 'proto-held' });
  const r2 = w2.run(2 * ns.s);
  assert.ok(
    r2.pending.some((x) =>
      /^protocol driver proto-held: its service stop waits to call its Unload routine: the application has a handle/.test(
        x,
      ),
    ),
    r2.pending.join('\n'),
  );
});

test('unload-routine-environment: a protocol DriverEntry that fails with its device and link in place is NdisSim_DriverEntryLeak; they go with the driver, so the application cannot open them', () => {
  const p: DriverModule = {
    name: 'proto-fails',
    load: () => ({
      DriverEntry: (obj: DRIVER_OBJECT) => {
        obj.MajorFunction[IRP_MJ_CREATE] = (_d, irp) => {
          irp.IoStatus.Status = STATUS_SUCCESS;
          IoCompleteRequest(irp, IO_NO_INCREMENT);
          return STATUS_SUCCESS;
        };
        IoCreateDevice(obj, 0, '\\Device\\ProtoFails', FILE_DEVICE_NETWORK, 0, false);
        IoCreateSymbolicLink('\\DosDevices\\ProtoFails', '\\Device\\ProtoFails');
        return NDIS_STATUS_FAILURE; // before NdisRegisterProtocolDriver, say
      },
    }),
  };
  const w = world(p, { collect: true });
  w.at(ns.s / 2, { kind: 'open', handle: 'app', link: 'ProtoFails' });
  const r = w.run(ns.s);
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_DriverEntryLeak', 'DriverEntry']],
  );
  assert.match(
    r.violations[0]!.message,
    /^DriverEntry of proto-fails returned NDIS_STATUS_FAILURE with \\Device\\ProtoFails, \\DosDevices\\ProtoFails still in place/,
  );
  assert.ok(
    w.trace.events.some((e) => e.data?.handle === 'app' && e.data?.Status === 'STATUS_OBJECT_NAME_NOT_FOUND'),
    'the open finds nothing',
  );
});

test("IoCreateDevice from a miniport driver's DRIVER_OBJECT is not modelled (NDIS owns its dispatch table: NdisRegisterDeviceEx)", () => {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver({
    name: 'mini-iocreate',
    load: () => ({
      DriverEntry: (obj) => {
        IoCreateDevice(obj, 0, '\\Device\\MiniCtl', FILE_DEVICE_NETWORK, 0, false);
        return NDIS_STATUS_SUCCESS;
      },
    }),
  });
  w.addDevice({ name: 'nic0', driver: 'mini-iocreate' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(ns.s);
  assert.equal(r.verdict, 'not-modelled');
  assert.match(
    r.message ?? '',
    /IoCreateDevice is not modelled by ndis-sim: for mini-iocreate, which is not installed as a protocol driver/,
  );
});

/**
 * A protocol driver whose unbind pends and ends 100 ms later, from a timer's work item
 * (or the ProtocolCloseAdapterCompleteEx of a close NDIS pended, whichever is last);
 * with `closeFirst` it calls NdisCloseAdapterEx at once in ProtocolUnbindAdapterEx, else
 * only in that work item. It records the status codes it is given.
 */
function lateUnbindProtocol(name: string, closeFirst: boolean, seen: number[]): DriverModule {
  let obj: DRIVER_OBJECT | null = null;
  let proto: NDIS_HANDLE | null = null;
  let closed = false;
  let workDone = false;
  return protocolDriver(
    name,
    (p, bc, adapter, ctx) => open(p, bc, adapter, ctx).Status,
    {
      StatusHandlerEx: (_c, ind) => {
        seen.push(ind.StatusCode);
      },
      UnbindAdapterHandlerEx: (u, c) => {
        c.unbindContext = u;
        if (closeFirst) closed = NdisCloseAdapterEx(c.handle!) !== NDIS_STATUS_PENDING;
        const work = IoAllocateWorkItem(obj!)!;
        const t = NdisAllocateTimerObject(proto!, {
          Header: {
            Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
            Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
          },
          AllocationTag: 0x74736554,
          TimerFunction: () =>
            IoQueueWorkItemEx(
              work,
              () => {
                NdisFreeTimerObject(t.TimerObject!);
                IoFreeWorkItem(work);
                workDone = true;
                // A close NDIS pends ends the unbind in ProtocolCloseAdapterCompleteEx.
                if (!closeFirst && NdisCloseAdapterEx(c.handle!) === NDIS_STATUS_PENDING) return;
                if (closeFirst && !closed) return;
                NdisCompleteUnbindAdapterEx(c.unbindContext!);
              },
              DelayedWorkQueue,
              null,
            ),
          FunctionContext: null,
        });
        NdisSetTimerObject(t.TimerObject!, -100 * 10_000, 0, null);
        return NDIS_STATUS_PENDING;
      },
      // A pended close ends the unbind once the work item has run.
      CloseAdapterCompleteHandlerEx: (c) => {
        closed = true;
        if (workDone) NdisCompleteUnbindAdapterEx(c.unbindContext!);
      },
    },
    (p, o) => {
      obj = o;
      proto = p;
      o.DriverUnload = () => NdisDeregisterProtocolDriver(p);
    },
  );
}

test('S-d step 4, R4.8, nf-ndis-ndiscloseadapterex: RESET_END reaches a Closing binding of a protocol driver that has not called NdisCloseAdapterEx, and not one that has', () => {
  for (const closeFirst of [false, true]) {
    const seen: number[] = [];
    const p = lateUnbindProtocol(closeFirst ? 'closes-first' : 'closes-late', closeFirst, seen);
    let w: World | null = null;
    let hung = false;
    const nic = scriptedDriver('reset-then-disable', {
      checkForHang: () => {
        if (hung) return false;
        hung = true;
        return true;
      },
      // The reset takes 50 ms; a disable 1 ms in unbinds the protocol meanwhile.
      reset: (a) => {
        w!.at(w!.kernel.now + 1 * ns.ms, { kind: 'disable', device: 'nic0' });
        afterMs(a, 50, (x) => NdisMResetComplete(x.handle, NDIS_STATUS_SUCCESS, false));
        return { Status: NDIS_STATUS_PENDING, AddressingReset: false };
      },
    });
    w = testWorld({ drivers: [nic, p], devices: [{ name: 'nic0', driver: nic.name }] });
    w.addProtocolDriver(p.name);
    const r = w.run(4 * ns.s);
    assert.equal(
      r.verdict,
      'ok',
      `${closeFirst}: ${r.bugCheck?.rule} ${r.bugCheck?.message ?? r.message ?? ''}`,
    );
    const unbound = w.trace.events.findIndex(
      (e) => e.kind === 'binding' && e.actor === p.name && e.what.endsWith('→ Unbound'),
    );
    const resetDone = w.trace.events.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisMResetComplete');
    assert.ok(resetDone >= 0 && resetDone < unbound, 'the reset completes while the binding is Closing');
    assert.deepEqual(
      seen.filter((c) => c === NDIS_STATUS_RESET_START || c === NDIS_STATUS_RESET_END),
      closeFirst ? [NDIS_STATUS_RESET_START] : [NDIS_STATUS_RESET_START, NDIS_STATUS_RESET_END],
    );
  }
});

test('R4.8, ndis-status-reset-start: a protocol driver that makes an OID request between RESET_START and RESET_END is warned of once per reset; one made inside RESET_END is not', () => {
  const calls: string[] = [];
  const p = protocolDriver('asks-during-reset', (proto, bc, name, ctx) => open(proto, bc, name, ctx).Status, {
    StatusHandlerEx: (c, ind) => {
      const ask = (when: string) => {
        calls.push(when);
        NdisOidRequest(
          c!.handle!,
          oidRequest(NdisRequestQueryInformation, OID_GEN_MAXIMUM_FRAME_SIZE, null, 4),
        );
      };
      if (ind.StatusCode === NDIS_STATUS_RESET_START) {
        ask('start');
        ask('start again');
      } else if (ind.StatusCode === NDIS_STATUS_RESET_END) ask('end');
    },
    OidRequestCompleteHandler: () => {},
  });
  let hung = false;
  const nic = scriptedDriver('resets-once', {
    checkForHang: () => {
      if (hung) return false;
      hung = true;
      return true;
    },
  });
  const w = testWorld({ drivers: [nic, p], devices: [{ name: 'nic0', driver: nic.name }] });
  w.addProtocolDriver(p.name);
  const r = w.run(4 * ns.s);
  assert.equal(r.verdict, 'ok', r.bugCheck?.message ?? r.message ?? '');
  assert.deepEqual(calls, ['start', 'start again', 'end']);
  assert.deepEqual(
    r.warnings.filter((x) => x.rule === 'R4.8').map((x) => [x.ddi, x.adapter]),
    [['NdisOidRequest', 'nic0']],
  );
  assert.match(
    r.warnings.find((x) => x.rule === 'R4.8')!.message,
    /^asks-during-reset called NdisOidRequest on nic0 after RESET_START and before RESET_END/,
  );
});
