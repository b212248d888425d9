// Session 32's divergence hunt over the kernel-service rules (08-kernel-services.md) and
// the data-path rules (06-oid-datapath.md): each test pins a place where the model
// differed from the rule or its Microsoft page, and cites both.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type DriverModule,
  type GROUP_AFFINITY,
  type NDIS_HANDLE,
  NDIS_LOWER_IRQL,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_SUCCESS,
  NdisAllocateMemoryWithTagPriority,
  NdisAllocateNetBuffer,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisAllocateNetBufferPool,
  NdisAllocateTimerObject,
  NdisCompleteBindAdapterEx,
  NdisFreeMemoryWithTagPriority,
  NdisMQueueDpc,
  NdisMQueueDpcEx,
  NdisMSendNetBufferListsComplete,
  NdisMSleep,
  NdisOpenAdapterEx,
  NdisRegisterProtocolDriver,
  NdisSendNetBufferLists,
  NdisSetCoalescableTimerObject,
  NdisSetTimerObject,
  NdisStallExecution,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  NET_BUFFER_POOL_PARAMETERS_REVISION_1,
} from '../src/index.ts';
import { World } from '../src/world.ts';
import { nicWithProtocol, openParameters } from './helpers/protocol.ts';
import {
  after,
  type Hooks,
  removedScripted,
  scriptedDriver,
  type TestAdapter,
  timerCharacteristics,
} from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** nic0 of a scripted driver with `hooks` under a protocol sending 200 frames a second, run 1 s, collect mode. */
function sending(name: string, hooks: Hooks) {
  const drv = scriptedDriver(name, hooks);
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(drv);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 200, returnDelayNs: ns.ms } });
  w.addDevice({ name: 'nic0', driver: name });
  w.at(0, { kind: 'start', device: 'nic0' });
  return w.run(1 * ns.s);
}

/** Completes `nbls` (an array) as one chain with SUCCESS, flagged as the send was. */
function completeAll(a: TestAdapter, nbls: NET_BUFFER_LIST[], sendFlags: number): void {
  if (nbls.length === 0) return;
  for (let i = 0; i < nbls.length; i++) {
    nbls[i]!.Status = NDIS_STATUS_SUCCESS;
    nbls[i]!.Next = nbls[i + 1] ?? null;
  }
  const atDispatch = (sendFlags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
  NdisMSendNetBufferListsComplete(
    a.handle,
    nbls[0]!,
    atDispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
  );
}

function listOf(chain: NET_BUFFER_LIST): NET_BUFFER_LIST[] {
  const out: NET_BUFFER_LIST[] = [];
  for (let x: NET_BUFFER_LIST | null = chain; x !== null; x = x.Next) out.push(x);
  return out;
}

test('R6.9, NdisMSendNetBufferListsComplete page: a miniport that completes an NBL with its NET_BUFFER list changed is NdisSim_SendCompleteUnexpected', () => {
  const r = sending('nb-dropper', {
    send: (a, chain, _port, flags) => {
      const nbls = listOf(chain);
      // A driver that consumes the NET_BUFFERs it sent and leaves the NBL without them.
      for (const x of nbls) x.FirstNetBuffer = null;
      completeAll(a, nbls, flags);
    },
  });
  const v = r.violations.filter((x) => x.rule === 'NdisSim_SendCompleteUnexpected');
  assert.ok(v.length > 0, JSON.stringify(r.violations.map((x) => x.rule)));
  assert.equal(v[0]!.ddi, 'NdisMSendNetBufferListsComplete');
  assert.match(v[0]!.message, /NET_BUFFER list changed \(FirstNetBuffer is NULL now\).*\(R6\.9\)/);
  // One that swaps the NET_BUFFER for a copy of its own: the same count, another buffer.
  const swapped = sending('nb-swapper', {
    send: (a, chain, _port, flags) => {
      const nbls = listOf(chain);
      for (const x of nbls) x.FirstNetBuffer = { ...x.FirstNetBuffer!, Next: x.FirstNetBuffer!.Next };
      completeAll(a, nbls, flags);
    },
  }).violations.filter((x) => x.rule === 'NdisSim_SendCompleteUnexpected');
  assert.ok(swapped.length > 0, 'the swap is reported');
  assert.match(swapped[0]!.message, /NET_BUFFER list changed \(FirstNetBuffer is another NET_BUFFER\)/);
});

test('R6.9: an NBL completed with a NET_BUFFER chained onto its list is reported; one split from its chain, held and completed in reverse order with others is not', () => {
  const r = sending('nb-appender', {
    send: (a, chain, _port, flags) => {
      const nbls = listOf(chain);
      // Chains a NET_BUFFER of its own onto the sender's list.
      const nb = nbls[0]!.FirstNetBuffer!;
      let last = nb;
      while (last.Next !== null) last = last.Next;
      last.Next = { ...nb, Next: null };
      completeAll(a, nbls, flags);
    },
  });
  const v = r.violations.filter((x) => x.rule === 'NdisSim_SendCompleteUnexpected');
  assert.ok(v.length > 0, JSON.stringify(r.violations.map((x) => x.rule)));
  assert.match(v[0]!.message, /\(2 NET_BUFFER\(s\), 1 sent\)/);

  const held: NET_BUFFER_LIST[] = [];
  const ok = sending('nbl-regrouper', {
    send: (a, chain, _port, flags) => {
      for (const x of listOf(chain)) {
        x.Next = null;
        held.push(x);
      }
      // Every third send completes what is held, newest first: chains merged and split.
      if (held.length >= 3) completeAll(a, held.splice(0).reverse(), flags);
    },
    pause: (a) => {
      completeAll(a, held.splice(0), 0);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(
    ok.violations.map((x) => `${x.rule}: ${x.message}`),
    [],
  );
});

test('R8.12, NdisMSleep and NdisStallExecution pages: a delay that is no unsigned 32-bit count of microseconds (negative, a fraction) is NdisSim_BadParameter; 0 and whole counts pass', () => {
  const cases: [string, () => void][] = [
    ['NdisMSleep', () => NdisMSleep(-1)],
    ['NdisMSleep', () => NdisMSleep(1.5)],
    ['NdisStallExecution', () => NdisStallExecution(-20)],
    ['NdisStallExecution', () => NdisStallExecution(0.5)],
  ];
  for (const [i, [ddi, call]] of cases.entries()) {
    const { r } = removedScripted(`bad-delay-${i}`, {
      initialize: () => {
        call();
        return NDIS_STATUS_SUCCESS;
      },
    });
    assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', `case ${i}: ${r.verdict}`);
    assert.equal(r.bugCheck?.ddi, ddi);
    assert.match(r.bugCheck!.message, /unsigned 32-bit count of microseconds, got -?[0-9.]+/);
  }
  const { r } = removedScripted('good-delays', {
    initialize: () => {
      NdisMSleep(0);
      NdisMSleep(1000);
      NdisStallExecution(0);
      NdisStallExecution(50);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.verdict, 'ok', JSON.stringify(r.violations));
});

test("NdisFreeMemoryWithTagPriority page, bug check 0xC2 page: freeing with a Tag other than the allocation's is NdisSim_PoolTagMismatch, BAD_POOL_CALLER 0x0A with both tags; the allocation's own tag passes", () => {
  const tag = 0x74736574; // 'tset'
  const run = (freeTag: number) =>
    removedScripted(`pool-tag-${freeTag.toString(16)}`, {
      initialize: (a) => {
        const mem = NdisAllocateMemoryWithTagPriority(a.handle, 64, tag, 16);
        NdisFreeMemoryWithTagPriority(a.handle, mem!, freeTag);
        return NDIS_STATUS_SUCCESS;
      },
    }).r;
  assert.deepEqual(run(tag).violations, []);
  const r = run(0x52696e67); // 'Ring'
  assert.equal(r.violations.length, 1, JSON.stringify(r.violations.map((v) => v.rule)));
  const v = r.violations[0]!;
  assert.equal(v.rule, 'NdisSim_PoolTagMismatch');
  assert.equal(v.ddi, 'NdisFreeMemoryWithTagPriority');
  assert.match(
    v.message,
    /with Tag 'Ring' \(0x52696E67\), but the memory was allocated with Tag 'tset' \(0x74736574\)/,
  );
  assert.equal(v.bugCheck.code, 0xc2);
  assert.deepEqual(v.bugCheck.params, [0x0a, '64-byte pool block', tag, 0x52696e67]);
});

/**
 * A protocol driver that, 200 ms after it binds, sends one NBL of its own and sends the
 * same NBL again each time it comes back with SUCCESS (as a driver with a fixed set of
 * send NBLs does). With `twoNetBuffers` the NBL carries a second NET_BUFFER chained
 * after the first.
 */
function resendingProtocol(twoNetBuffers = false): DriverModule {
  return {
    name: 'nbl-resender',
    description: 'test protocol: sends one NBL over and over',
    load: () => {
      const g: { proto: NDIS_HANDLE | null; binding: NDIS_HANDLE | null; own: NET_BUFFER_LIST | null } = {
        proto: null,
        binding: null,
        own: null,
      };
      const send = (flags: number) => NdisSendNetBufferLists(g.binding!, g.own!, 0, flags);
      return {
        DriverEntry: () => {
          const r = NdisRegisterProtocolDriver(null, {
            Header: {
              Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
              Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_1,
            },
            MajorNdisVersion: 6,
            MinorNdisVersion: 0,
            Name: 'nbl-resender',
            BindAdapterHandlerEx: (_d, BindContext, bp) => {
              const o = NdisOpenAdapterEx(g.proto!, BindContext, openParameters(bp.AdapterName), BindContext);
              g.binding = o.NdisBindingHandle;
              const pool = NdisAllocateNetBufferListPool(g.proto, {
                Header: {
                  Type: NDIS_OBJECT_TYPE_DEFAULT,
                  Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
                },
                ProtocolId: 0,
                fAllocateNetBuffer: true,
                ContextSize: 0,
                PoolTag: 0x736e6572,
                DataSize: 0,
              });
              g.own = NdisAllocateNetBufferAndNetBufferList(pool!, 0, 0, new Uint8Array(60), 0, 60);
              if (twoNetBuffers) {
                const nbPool = NdisAllocateNetBufferPool(g.proto, {
                  Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_POOL_PARAMETERS_REVISION_1 },
                  PoolTag: 0x736e6572,
                  DataSize: 0,
                });
                g.own!.FirstNetBuffer!.Next = NdisAllocateNetBuffer(nbPool!, new Uint8Array(60), 0, 60);
              }
              g.own!.SourceHandle = g.binding;
              g.own!.ProtocolReserved[0] = 'resent';
              const t = NdisAllocateTimerObject(
                g.proto!,
                timerCharacteristics(() => send(NDIS_SEND_FLAGS_DISPATCH_LEVEL)),
              ).TimerObject!;
              NdisSetTimerObject(t, -2_000_000, 0, null);
              return o.Status;
            },
            OpenAdapterCompleteHandlerEx: (ctx, Status) =>
              NdisCompleteBindAdapterEx(ctx as NDIS_HANDLE, Status),
            UnbindAdapterHandlerEx: () => NDIS_STATUS_SUCCESS,
            CloseAdapterCompleteHandlerEx: () => {},
            NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
            OidRequestCompleteHandler: () => {},
            ReceiveNetBufferListsHandler: () => {},
            SendNetBufferListsCompleteHandler: (_ctx, nbls, flags) => {
              if (nbls === g.own && nbls.Status === NDIS_STATUS_SUCCESS)
                send(
                  (flags & NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL) !== 0
                    ? NDIS_SEND_FLAGS_DISPATCH_LEVEL
                    : 0,
                );
            },
          });
          g.proto = r.NdisProtocolHandle;
          return r.Status;
        },
      };
    },
  };
}

test('R6.11 NdisTimedDataSend: an NBL the miniport held past 30 s, completed and sent again, is reported again when it is held past 30 s once more', () => {
  // A miniport that holds each send 31 s before it completes it.
  const holder = scriptedDriver('holds-31s', {
    send: (a, chain) => {
      for (const x of listOf(chain)) {
        x.Next = null;
        after(a, 31_000, (ta) => completeAll(ta, [x], NDIS_SEND_FLAGS_DISPATCH_LEVEL));
      }
    },
  });
  const proto = resendingProtocol();
  const w = nicWithProtocol(holder, proto);
  const r = w.run(70 * ns.s);
  const timedOut = r.violations.filter((v) => v.rule === 'NdisTimedDataSend');
  // Sent at 0.2 s and held to 31.2 s, sent again then and held to 62.2 s: two reports.
  assert.equal(timedOut.length, 2, JSON.stringify(r.violations.map((v) => `${v.rule} ${v.message}`)));
  assert.equal(timedOut[0]!.message, timedOut[1]!.message, 'the same NBL both times');
  assert.ok(timedOut[1]!.timeNs > 60 * ns.s, `${timedOut[1]!.timeNs}`);
  // Each names its own send: when the miniport got the NBL, and whose it is.
  assert.deepEqual(
    timedOut.map((v) => [v.origin?.label, v.origin?.at]),
    [
      ['Sent in', 'MiniportSendNetBufferLists at 0.200342 s (an NBL of nbl-resender)'],
      ['Sent in', 'MiniportSendNetBufferLists at 31.200342 s (an NBL of nbl-resender)'],
    ],
  );
  // NdisTimedDataHang (22 s with none completed) counts from the first send, then from
  // the last completion.
  assert.deepEqual(
    r.violations.filter((v) => v.rule === 'NdisTimedDataHang').map((v) => v.origin?.at),
    [
      'since 0.200342 s (the first pending send reached MiniportSendNetBufferLists)',
      'since 31.200342 s (its last NdisMSendNetBufferListsComplete)',
    ],
  );
});

test('R6.9, NdisMSendNetBufferListsComplete page: a miniport that gives back an NBL of two NET_BUFFERs with the second replaced by its own is NdisSim_SendCompleteUnexpected ("its last NET_BUFFER is another one"); the same NBL given back as sent is not', () => {
  const run = (swapLast: boolean) => {
    const drv = scriptedDriver(swapLast ? 'nb-tail-swapper' : 'nb-keeper', {
      send: (a, chain, _port, flags) => {
        const nbls = listOf(chain);
        for (const x of nbls) {
          const first = x.FirstNetBuffer!;
          if (swapLast && first.Next !== null) first.Next = { ...first.Next, Next: null };
        }
        // Later, not inside the send: the protocol sends the NBL again from its completion.
        after(a, 1, (ta) => completeAll(ta, nbls, flags));
      },
    });
    const proto = resendingProtocol(true);
    const w = nicWithProtocol(drv, proto);
    return w.run(1 * ns.s);
  };
  assert.deepEqual(
    run(false).violations.map((v) => `${v.rule}: ${v.message}`),
    [],
  );
  const v = run(true).violations.filter((x) => x.rule === 'NdisSim_SendCompleteUnexpected');
  assert.ok(v.length > 0, 'the swapped tail is reported');
  assert.match(v[0]!.message, /NET_BUFFER list changed \(its last NET_BUFFER is another one\)/);
});

test('R8.5, NdisSetTimerObject page: a DueTime that is no LARGE_INTEGER (NaN, a fraction, an infinity, beyond 64 bits) is NdisSim_BadParameter, for NdisSetCoalescableTimerObject too; whole counts either side of 0 pass', () => {
  const cases: [string, number][] = [
    ['NdisSetTimerObject', Number.NaN],
    ['NdisSetTimerObject', -1.5],
    ['NdisSetTimerObject', Number.NEGATIVE_INFINITY],
    ['NdisSetTimerObject', 2 ** 70],
    ['NdisSetCoalescableTimerObject', -0.25],
  ];
  for (const [i, [ddi, due]] of cases.entries()) {
    const { r } = removedScripted(`bad-due-${i}`, {
      initialize: (a) => {
        const t = NdisAllocateTimerObject(
          a.handle,
          timerCharacteristics(() => {}),
        ).TimerObject!;
        if (ddi === 'NdisSetTimerObject') NdisSetTimerObject(t, due, 0, null);
        else NdisSetCoalescableTimerObject(t, due, 0, null, 5);
        return NDIS_STATUS_SUCCESS;
      },
    });
    assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', `case ${i}: ${r.verdict}`);
    assert.equal(r.bugCheck?.ddi, ddi);
    assert.match(r.bugCheck!.message, /DueTime is a LARGE_INTEGER count of 100 ns units/);
  }
  let fired = 0;
  const { r } = removedScripted('good-due', {
    initialize: (a) => {
      const t = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => fired++),
      ).TimerObject!;
      const u = NdisAllocateTimerObject(
        a.handle,
        timerCharacteristics(() => fired++),
      ).TimerObject!;
      NdisSetTimerObject(t, -10_000, 0, null); // 1 ms from now
      NdisSetTimerObject(u, 0, 0, null); // an absolute time long past: at once
      return NDIS_STATUS_SUCCESS;
    },
  });
  // Both fired; the timers are left unfreed, which halt reports, but nothing else.
  assert.equal(fired, 2);
  assert.ok(
    r.violations.every((v) => v.rule !== 'NdisSim_BadParameter'),
    JSON.stringify(r.violations),
  );
});

test("R8.1, NdisMQueueDpc and NdisMQueueDpcEx pages: TargetProcessors that is no bitmap (NaN, a fraction) is NdisSim_BadParameter; a bitmap queues, and a negative one is its two's complement as in C (~0: every processor)", () => {
  const cases: [string, (a: TestAdapter) => number][] = [
    ['NdisMQueueDpc', (a) => NdisMQueueDpc(a.interrupt!, 0, 1.5, null)],
    ['NdisMQueueDpcEx', (a) => NdisMQueueDpcEx(a.interrupt!, 0, { Mask: Number.NaN, Group: 0 }, null)],
    ['NdisMQueueDpcEx', (a) => NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0.5, Group: 1 }, null)],
  ];
  for (const [i, [ddi, call]] of cases.entries()) {
    const { r } = removedScripted(`bad-mask-${i}`, {
      initialize: (a) => {
        call(a);
        return NDIS_STATUS_SUCCESS;
      },
    });
    assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', `case ${i}: ${r.verdict}`);
    assert.equal(r.bugCheck?.ddi, ddi);
    assert.match(r.bugCheck!.message, /is a bitmap of processors \(bit n for processor n\), got /);
  }
  const queued: number[] = [];
  const { r } = removedScripted('good-mask', {
    initialize: (a) => {
      queued.push(NdisMQueueDpc(a.interrupt!, 0, 0b1, null));
      queued.push(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b10, Group: 0 }, null));
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.verdict, 'ok', JSON.stringify(r.violations));
  assert.deepEqual(queued, [0b1, 0b10]);
  // Two CPUs: ~0 names both, ~1 (…11110) only CPU 1.
  const all: number[] = [];
  removedScripted('complement-mask', {
    initialize: (a) => {
      all.push(NdisMQueueDpc(a.interrupt!, 0, ~1, null));
      all.push(NdisMQueueDpcEx(a.interrupt!, 0, { Mask: ~0, Group: 0 }, null));
      return NDIS_STATUS_SUCCESS;
    },
  });
  // The second call finds CPU 1's DPC still queued: only CPU 0's is new.
  assert.deepEqual(all, [0b10, 0b01]);
});

test('R8.3, NDIS_LOWER_IRQL page: an _OldIrql or _CurIrql that is no KIRQL (NaN, negative, a fraction) is NdisSim_BadParameter; the code never runs at no IRQL', () => {
  const cases: [number, number][] = [
    [Number.NaN, 2],
    [-1, 2],
    [0.5, 2],
    [0, Number.NaN],
  ];
  for (const [i, [oldIrql, curIrql]] of cases.entries()) {
    const { r } = removedScripted(`bad-lower-${i}`, {
      initialize: () => {
        NDIS_RAISE_IRQL_TO_DISPATCH();
        NDIS_LOWER_IRQL(oldIrql, curIrql);
        return NDIS_STATUS_SUCCESS;
      },
    });
    assert.equal(
      r.bugCheck?.rule,
      'NdisSim_BadParameter',
      `case ${i}: ${r.verdict} ${JSON.stringify(r.violations)}`,
    );
    assert.equal(r.bugCheck?.ddi, 'NDIS_LOWER_IRQL');
    assert.match(r.bugCheck!.message, /(_OldIrql|_CurIrql) is a KIRQL, got /);
  }
  const { r } = removedScripted('good-lower', {
    initialize: () => {
      const old = NDIS_RAISE_IRQL_TO_DISPATCH();
      NDIS_LOWER_IRQL(old, 2);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.verdict, 'ok', JSON.stringify(r.violations));
});

test('R8.1, NdisMQueueDpcEx page: a NULL TargetProcessors is NdisSim_BadParameter naming the GROUP_AFFINITY, not an exception inside ndis-sim', () => {
  const { r } = removedScripted('null-affinity', {
    initialize: (a) => {
      NdisMQueueDpcEx(a.interrupt!, 0, null as unknown as GROUP_AFFINITY, null);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter', r.verdict);
  assert.equal(r.bugCheck?.ddi, 'NdisMQueueDpcEx');
  assert.match(r.bugCheck!.message, /TargetProcessors points to a GROUP_AFFINITY \(Mask, Group\), got null/);
});
