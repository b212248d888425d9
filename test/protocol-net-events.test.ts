// A protocol driver of one's own may pend every net PnP event NDIS sends to a binding
// (nc-ndis-protocol_net_pnp_event, nf-ndis-ndiscompletenetpnpevent): query-remove,
// cancel-remove, query-power and set-power, besides pause and restart. NDIS's thread
// waits for NdisCompleteNetPnPEvent, whose Status is the answer (R5.1, R5.3, R7.4),
// under NDIS's watchdog (R7.13); misuse of the completion is NdisSim_ProtocolNetPnPEvent.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sleepyProto } from '../examples/sleepy-proto.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { monitorLwf } from '../src/drivers/lwf.ts';
import {
  DelayedWorkQueue,
  type DRIVER_OBJECT,
  type DriverModule,
  type IO_WORKITEM,
  IoAllocateWorkItem,
  IoQueueWorkItemEx,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateTimerObject,
  NdisCloseAdapterEx,
  NdisCompleteBindAdapterEx,
  NdisCompleteNetPnPEvent,
  NdisCompleteUnbindAdapterEx,
  NdisDeregisterProtocolDriver,
  NdisOpenAdapterEx,
  NdisRegisterProtocolDriver,
  NdisSetTimerObject,
  type NET_PNP_EVENT_NOTIFICATION,
  NetEventCancelRemoveDevice,
  NetEventQueryPower,
  NetEventQueryRemoveDevice,
  NetEventSetPower,
  World,
} from '../src/index.ts';
import { fmtTime } from '../src/report/format.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { exploreScenario } from '../src/scenario.ts';
import { cli } from './helpers/cli.ts';
import { openParameters } from './helpers/protocol.ts';
import { ns } from './helpers/world.ts';

const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-net-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Ctx {
  handle: NDIS_HANDLE | null;
  bindContext: NDIS_HANDLE;
  unbindContext: NDIS_HANDLE | null;
  work: IO_WORKITEM | null;
}

/**
 * How the test protocol answers the event `event`: 'sync' returns `status`; 'pend'
 * returns PENDING and completes with `status` from a WDM work item (PASSIVE);
 * 'never' pends and never completes; 'inside' completes inside the handler and returns
 * `ret`; 'twice' completes from the work item twice; 'late' returns SUCCESS and completes
 * from the work item all the same; 'dispatch' pends and completes from a timer (DISPATCH).
 */
interface Answer {
  event: number;
  how: 'sync' | 'pend' | 'never' | 'inside' | 'twice' | 'late' | 'dispatch';
  status?: number;
  ret?: number;
  /** Complete with another handle than the event's binding (needs two adapters). */
  otherBinding?: boolean;
}

function protocol(name: string, a: Answer): DriverModule {
  return {
    name,
    description: 'test protocol that pends a net PnP event',
    load: () => {
      const g: { obj: DRIVER_OBJECT | null; handle: NDIS_HANDLE | null; bound: Ctx[] } = {
        obj: null,
        handle: null,
        bound: [],
      };
      const complete = (c: Ctx, note: NET_PNP_EVENT_NOTIFICATION) => {
        const h = a.otherBinding ? g.bound.find((x) => x !== c)!.handle! : c.handle!;
        NdisCompleteNetPnPEvent(h, note, a.status ?? NDIS_STATUS_SUCCESS);
        if (a.how === 'twice') NdisCompleteNetPnPEvent(h, note, a.status ?? NDIS_STATUS_SUCCESS);
      };
      const chars: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<Ctx> = {
        Header: {
          Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
          Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: 0,
        Name: name,
        BindAdapterHandlerEx: (_d, bindContext, p) => {
          const c: Ctx = {
            handle: null,
            bindContext,
            unbindContext: null,
            work: IoAllocateWorkItem(g.obj!),
          };
          const o = openParameters(p.AdapterName);
          const r = NdisOpenAdapterEx(g.handle!, c, o, bindContext);
          c.handle = r.NdisBindingHandle;
          g.bound.push(c);
          return r.Status;
        },
        UnbindAdapterHandlerEx: (u, c) => {
          c.unbindContext = u;
          return NdisCloseAdapterEx(c.handle!) === NDIS_STATUS_PENDING
            ? NDIS_STATUS_PENDING
            : NDIS_STATUS_SUCCESS;
        },
        OpenAdapterCompleteHandlerEx: (c, Status) => NdisCompleteBindAdapterEx(c.bindContext, Status),
        CloseAdapterCompleteHandlerEx: (c) => NdisCompleteUnbindAdapterEx(c.unbindContext!),
        NetPnPEventHandler: (c, note) => {
          if (c === null || note.NetPnPEvent.NetEvent !== a.event) return NDIS_STATUS_SUCCESS;
          switch (a.how) {
            case 'sync':
              return a.status ?? NDIS_STATUS_SUCCESS;
            case 'inside':
              NdisCompleteNetPnPEvent(c.handle!, note, a.status ?? NDIS_STATUS_SUCCESS);
              return a.ret ?? NDIS_STATUS_PENDING;
            case 'never':
              return NDIS_STATUS_PENDING;
            case 'late':
              IoQueueWorkItemEx(c.work!, () => complete(c, note), DelayedWorkQueue, null);
              return NDIS_STATUS_SUCCESS;
            case 'dispatch': {
              const t = NdisAllocateTimerObject(g.handle!, {
                Header: {
                  Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
                  Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1,
                },
                AllocationTag: 0x74736554,
                TimerFunction: () => complete(c, note),
                FunctionContext: null,
              });
              NdisSetTimerObject(t.TimerObject!, -10_000, 0, null);
              return NDIS_STATUS_PENDING;
            }
            default:
              IoQueueWorkItemEx(c.work!, () => complete(c, note), DelayedWorkQueue, null);
              return NDIS_STATUS_PENDING;
          }
        },
        OidRequestCompleteHandler: () => {},
        ReceiveNetBufferListsHandler: () => {},
        SendNetBufferListsCompleteHandler: () => {},
      };
      return {
        DriverEntry: (obj) => {
          g.obj = obj;
          const r = NdisRegisterProtocolDriver(null, chars);
          g.handle = r.NdisProtocolHandle;
          if (r.Status === NDIS_STATUS_SUCCESS)
            obj.DriverUnload = () => NdisDeregisterProtocolDriver(g.handle!);
          return r.Status;
        },
      };
    },
  };
}

function world(p: DriverModule, o: { collect?: boolean; adapters?: number; filter?: boolean } = {}) {
  const w = new World({ seed: 1, verifier: o.collect ? 'collect' : 'bugcheck' });
  w.addDriver(healthyNic);
  if (o.filter) {
    w.addDriver(monitorLwf);
    w.addFilter(monitorLwf.name);
  }
  w.addDriver(p);
  w.addProtocolDriver(p.name);
  for (let i = 0; i < (o.adapters ?? 1); i++) {
    w.addDevice({ name: `nic${i}`, driver: 'healthy-nic' });
    w.at(0, { kind: 'start', device: `nic${i}` });
  }
  return w;
}

/** Indexes in the trace of the first event matching each predicate. */
function at(w: World, ...preds: ((e: World['trace']['events'][number]) => boolean)[]): number[] {
  return preds.map((p) => w.trace.events.findIndex(p));
}

const irpDone = (minor: string) => (e: World['trace']['events'][number]) =>
  e.kind === 'irp' && e.what === minor && e.data?.phase === 'completed';

test('R5.1, R7.4: a NetEventQueryRemoveDevice pended and completed with a failure vetoes the disable as a synchronous failure does; completed with SUCCESS, the disable goes on', () => {
  const outcome = (how: Answer['how'], status: number) => {
    const w = world(protocol(`qr-${how}-${status}`, { event: NetEventQueryRemoveDevice, how, status }));
    w.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
    const r = w.run(200 * ns.ms);
    assert.equal(r.verdict, 'ok', r.message ?? '');
    const irp = w.trace.events.find(irpDone('IRP_MN_QUERY_REMOVE_DEVICE'));
    return { status: irp?.data?.status, device: w.device('nic0').status, state: w.adapter('nic0')!.state, w };
  };
  const syncVeto = outcome('sync', NDIS_STATUS_FAILURE);
  const pendVeto = outcome('pend', NDIS_STATUS_FAILURE);
  assert.notEqual(syncVeto.status, 0);
  assert.deepEqual(
    { status: pendVeto.status, device: pendVeto.device, state: pendVeto.state },
    { status: syncVeto.status, device: syncVeto.device, state: syncVeto.state },
  );
  assert.equal(pendVeto.state, 'Running');
  // The IRP completes only after NdisCompleteNetPnPEvent: NDIS's thread waited for it.
  const [complete, vetoed, done] = at(
    pendVeto.w,
    (e) => e.kind === 'ddi' && e.what === 'NdisCompleteNetPnPEvent',
    (e) => e.what === 'query-remove vetoed by a protocol (R5.1)',
    irpDone('IRP_MN_QUERY_REMOVE_DEVICE'),
  );
  assert.ok(complete! > 0 && vetoed! > complete! && done! > vetoed!, `${complete} ${vetoed} ${done}`);
  const ok = outcome('pend', NDIS_STATUS_SUCCESS);
  assert.equal(ok.status, 0);
  assert.equal(ok.device, 'disabled');
  // A completion inside the handler that then returns PENDING stands, and its Status is the answer.
  const inside = outcome('inside', NDIS_STATUS_FAILURE);
  assert.equal(inside.state, 'Running');
  assert.equal(inside.status, syncVeto.status);
});

test('R7.7, nf-ndis-ndisfnetpnpevent: beneath a filter module that forwards the event, NdisFNetPnPEvent waits for the pended answer and returns it, so the veto still fails the query-remove', () => {
  const w = world(
    protocol('qr-under-filter', {
      event: NetEventQueryRemoveDevice,
      how: 'pend',
      status: NDIS_STATUS_FAILURE,
    }),
    {
      filter: true,
    },
  );
  w.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
  const r = w.run(200 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const ev = w.trace.events;
  const fwd = ev.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisFNetPnPEvent');
  const complete = ev.findIndex((e) => e.kind === 'ddi' && e.what === 'NdisCompleteNetPnPEvent');
  const filterReturns = ev.findIndex(
    (e, i) => i > complete && e.kind === 'return' && e.what === 'FilterNetPnPEvent',
  );
  assert.ok(fwd > 0 && complete > fwd && filterReturns > complete, `${fwd} ${complete} ${filterReturns}`);
  assert.notEqual(ev.find(irpDone('IRP_MN_QUERY_REMOVE_DEVICE'))?.data?.status, 0);
  assert.equal(w.adapter('nic0')!.state, 'Running');
});

test('R5.5: the NetEventQueryRemoveDevice of a surprise removal may pend too: NDIS waits for it before it pauses the binding, and a failure changes nothing', () => {
  const w = world(
    protocol('qr-surprise', { event: NetEventQueryRemoveDevice, how: 'pend', status: NDIS_STATUS_FAILURE }),
  );
  w.at(50 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = w.run(200 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const [complete, resumes, pause] = at(
    w,
    (e) => e.kind === 'ddi' && e.what === 'NdisCompleteNetPnPEvent',
    (e) => e.kind === 'wake' && e.what === 'ProtocolNetPnPEvent(NetEventQueryRemoveDevice)',
    (e) => e.kind === 'call' && e.actor === 'qr-surprise' && e.data?.NetEvent === 'NetEventPause',
  );
  assert.ok(complete! > 0 && resumes! > complete! && pause! > resumes!, `${complete} ${resumes} ${pause}`);
  assert.equal(w.adapter('nic0')!.state, 'Halted');
  assert.deepEqual(w.summary().protocolDrivers[0]?.bindings, []);
});

test('R5.3, R7.4: a pended NetEventCancelRemoveDevice holds IRP_MN_CANCEL_REMOVE_DEVICE until NdisCompleteNetPnPEvent, and the adapter carries on', () => {
  const w = world(protocol('cancel-pends', { event: NetEventCancelRemoveDevice, how: 'pend' }));
  w.at(50 * ns.ms, { kind: 'remove', device: 'nic0', vetoBelow: true });
  const r = w.run(200 * ns.ms);
  assert.equal(r.verdict, 'ok', r.message ?? '');
  const [call, complete, done] = at(
    w,
    (e) =>
      e.kind === 'call' &&
      e.what === 'ProtocolNetPnPEvent' &&
      e.data?.NetEvent === 'NetEventCancelRemoveDevice' &&
      e.actor === 'cancel-pends',
    (e) => e.kind === 'ddi' && e.what === 'NdisCompleteNetPnPEvent',
    irpDone('IRP_MN_CANCEL_REMOVE_DEVICE'),
  );
  assert.ok(call! > 0 && complete! > call! && done! > complete!, `${call} ${complete} ${done}`);
  assert.equal(w.adapter('nic0')!.state, 'Running');
  assert.equal(w.device('nic0').status, 'started');
});

test('R7.13: a NetEventQueryPower pended and never completed is NdisSim_ProtocolWatchdog after the pause watchdog time, 0x7C/0x25 with NDIS_BUGCHECK_WATCHDOG_PROTOCOL_NETPNPEVENT and the event code, naming the event and the binding', () => {
  const w = world(protocol('query-power-stuck', { event: NetEventQueryPower, how: 'never' }));
  w.at(50 * ns.ms, { kind: 'sleep', state: 'S3', durationNs: 100 * ns.ms });
  const r = w.run(70 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolWatchdog', r.message ?? '');
  assert.equal(r.bugCheck!.bugCheck.code, 0x7c);
  assert.deepEqual(r.bugCheck!.bugCheck.params, [
    0x25,
    0x02,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    NetEventQueryPower,
  ]);
  assert.match(
    r.bugCheck!.message,
    /ProtocolNetPnPEvent\(NetEventQueryPower\) of query-power-stuck on the binding query-power-stuck→nic0 returned NDIS_STATUS_PENDING at 0\.0\d{5} s and NdisCompleteNetPnPEvent did not follow within 60 s \(R7\.13\)/,
  );
  assert.ok(Math.abs(r.bugCheck!.timeNs - (50 * ns.ms + 60 * ns.s)) < 10 * ns.ms, String(r.bugCheck!.timeNs));
  // Pended by: the handler that pended the event, and when (the watchdog time before).
  assert.deepEqual(r.bugCheck!.origin, {
    label: 'Pended by',
    at: `ProtocolNetPnPEvent(NetEventQueryPower) of query-power-stuck at ${fmtTime(r.bugCheck!.timeNs - 60 * ns.s)}`,
  });
});

test('nf-ndis-ndiscompletenetpnpevent: a pended query-remove completed twice, or completed inside the handler that then returns SUCCESS, is NdisSim_ProtocolNetPnPEvent naming the event', () => {
  const twice = world(protocol('qr-twice', { event: NetEventQueryRemoveDevice, how: 'twice' }));
  twice.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
  const r = twice.run(200 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolNetPnPEvent', r.message ?? '');
  assert.match(
    r.bugCheck!.message,
    /NdisCompleteNetPnPEvent for NetEventQueryRemoveDevice again: the event completed twice/,
  );
  const inside = world(
    protocol('qr-inside-success', {
      event: NetEventQueryRemoveDevice,
      how: 'inside',
      ret: NDIS_STATUS_SUCCESS,
    }),
  );
  inside.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
  const r2 = inside.run(200 * ns.ms);
  assert.equal(r2.bugCheck?.rule, 'NdisSim_ProtocolNetPnPEvent', r2.message ?? '');
  assert.match(
    r2.bugCheck!.message,
    /NdisCompleteNetPnPEvent inside ProtocolNetPnPEvent\(NetEventQueryRemoveDevice\) and then returned NDIS_STATUS_SUCCESS/,
  );
});

test('nf-ndis-ndiscompletenetpnpevent: completing an event the handler answered itself is NdisSim_ProtocolNetPnPEvent naming the event; so is completing with the handle of another binding', () => {
  const notPended = world(protocol('qr-not-pended', { event: NetEventQueryRemoveDevice, how: 'late' }));
  notPended.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
  const r = notPended.run(200 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolNetPnPEvent', r.message ?? '');
  assert.match(
    r.bugCheck!.message,
    /qr-not-pended called NdisCompleteNetPnPEvent for NetEventQueryRemoveDevice with no network PnP event of it pending/,
  );
  const other = world(
    protocol('qr-other-handle', { event: NetEventQueryRemoveDevice, how: 'pend', otherBinding: true }),
    { adapters: 2 },
  );
  other.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
  const r2 = other.run(200 * ns.ms);
  assert.equal(r2.bugCheck?.rule, 'NdisSim_ProtocolNetPnPEvent', r2.message ?? '');
  assert.match(
    r2.bugCheck!.message,
    /NdisCompleteNetPnPEvent for NetEventQueryRemoveDevice with the NdisBindingHandle of qr-other-handle→nic1, but NDIS indicated that event on qr-other-handle→nic0/,
  );
});

test('Irql_Protocol_Driver_Function: NdisCompleteNetPnPEvent of a pended NetEventSetPower from a timer callback (DISPATCH) breaks the IRQL rule: it is PASSIVE only', () => {
  const w = world(protocol('sp-dispatch', { event: NetEventSetPower, how: 'dispatch' }));
  w.at(50 * ns.ms, { kind: 'sleep', state: 'S3', durationNs: 100 * ns.ms });
  const r = w.run(300 * ns.ms);
  assert.equal(r.bugCheck?.rule, 'Irql_Protocol_Driver_Function', r.message ?? '');
  assert.equal(r.bugCheck!.ddi, 'NdisCompleteNetPnPEvent');
});

test('examples/sleepy-proto: NetEventSetPower(D3) pended until the echoes are back; NDIS pauses the stack only after NdisCompleteNetPnPEvent, and the machine sleeps and wakes clean', () => {
  const r = cli('run', 'examples/sleepy-proto.yaml', '--driver', 'examples/sleepy-proto.ts');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Verdict: as expected/);
  const lines = r.stdout.split('\n');
  const find = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const setPower = find(
    /sleepy-proto → ProtocolNetPnPEvent\(nic0, NetEvent=NetEventSetPower, Buffer=NdisDeviceStateD3\)/,
  );
  const pended = find(/sleepy-proto ← ProtocolNetPnPEvent = NDIS_STATUS_PENDING/);
  const waits = find(/waits for NdisCompleteNetPnPEvent\(NetEventSetPower\) of sleepy-proto/);
  const complete = find(/sleepy-proto +NdisCompleteNetPnPEvent\(Status=NDIS_STATUS_SUCCESS\)/);
  const pause = find(/sleepy-proto nic0: binding Running → Pausing/);
  const asleep = find(/nic0: asleep \(S3, D3\)/);
  const d0 = find(
    /sleepy-proto → ProtocolNetPnPEvent\(nic0, NetEvent=NetEventSetPower, Buffer=NdisDeviceStateD0\)/,
  );
  const order = [setPower, pended, waits, complete, pause, asleep, d0];
  assert.ok(
    order.every((x, i) => x > 0 && (i === 0 || x > order[i - 1]!)),
    order.join(' '),
  );
});

test('examples/sleepy-proto under the explorer: 24 seeds of the sleep, none breaks a rule', async () => {
  const r = await exploreScenario('examples/sleepy-proto.yaml', {
    driverFiles: ['examples/sleepy-proto.ts'],
    runs: 24,
    out: dir,
  });
  assert.equal(r.failed, 0, r.text);
  assert.equal(r.runs, 24);
  // The seeds do take the pended path: in most of them echoes are out at the set-power.
  const sc = loadScenario('examples/sleepy-proto.yaml', driverNames([sleepyProto]));
  let pended = 0;
  for (let seed = 1; seed <= 6; seed++) {
    const w = buildWorld(sc, { seed, drivers: [sleepyProto] });
    w.run(untilNs(sc));
    if (w.trace.events.some((e) => e.kind === 'wake' && e.what === 'ProtocolNetPnPEvent(NetEventSetPower)'))
      pended++;
  }
  assert.ok(pended >= 3, `${pended} of 6 seeds pended the set-power`);
});

test("R7.13: beneath a forwarding filter module, a query-remove the protocol never completes is the protocol's watchdog, not the filter's", () => {
  const w = world(protocol('qr-never-filter', { event: NetEventQueryRemoveDevice, how: 'never' }), {
    filter: true,
  });
  w.at(50 * ns.ms, { kind: 'disable', device: 'nic0' });
  const r = w.run(70 * ns.s);
  assert.equal(r.bugCheck?.rule, 'NdisSim_ProtocolWatchdog', r.message ?? '');
  assert.deepEqual(r.bugCheck!.bugCheck.params, [
    0x25,
    0x02,
    'NDIS_WATCHDOG_TRIAGE_BLOCK',
    NetEventQueryRemoveDevice,
  ]);
  assert.match(
    r.bugCheck!.message,
    /ProtocolNetPnPEvent\(NetEventQueryRemoveDevice\) of qr-never-filter on the binding qr-never-filter→nic0/,
  );
});
