// Message-signaled interrupts (MSI, MSI-X): NdisMRegisterInterruptEx granting messages,
// the per-message ISR and DPC, NdisMQueueDpcEx and NdisMSynchronizeWithInterruptEx by
// MessageId, NdisMDeregisterInterruptEx, the resources and the SimNic's messages.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import {
  CM_RESOURCE_INTERRUPT_LATCHED,
  CM_RESOURCE_INTERRUPT_MESSAGE,
  CmResourceShareDeviceExclusive,
  CmResourceTypeInterrupt,
  InterruptRisingEdge,
  Latched,
  NDIS_CONNECT_LINE_BASED,
  NDIS_CONNECT_MESSAGE_BASED,
  NDIS_CURRENT_IRQL,
  NDIS_INDICATE_ALL_NBLS,
  type NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
  type NDIS_RECEIVE_THROTTLE_PARAMETERS,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_SUCCESS,
  NdisMDeregisterInterruptEx,
  NdisMGetDeviceProperty,
  NdisMQueueDpcEx,
  NdisMRegisterInterruptEx,
  NdisMSleep,
  NdisMSynchronizeWithInterruptEx,
  NdisReadRegisterUlong,
  NdisWriteRegisterUlong,
  SimNicCtrl,
  SimNicIcr,
  SimNicReg,
  simNicMessageOf,
} from '../src/index.ts';
import { buildWorld } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import type { DeviceSpec, WorldAction } from '../src/world.ts';
import { type Hooks, idleInterrupt, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

const Irql = { Dispatch: 2, Dirql: 3 };

/** What a run saw: each ISR and DPC with its MessageId (or 'line'), CPU and IRQL. */
interface Seen {
  isr: { id: number | 'line'; causes: number }[];
  dpc: { id: number | 'line'; context: unknown; throttle: NDIS_RECEIVE_THROTTLE_PARAMETERS | null }[];
}

/**
 * Interrupt characteristics with MSI service functions: each ISR reads (and so
 * clears) ICR and returns `isrOut` (default: the default DPC); both log to `seen`.
 */
function msiChars(
  seen: Seen,
  isrOut: (id: number) => { QueueDefaultInterruptDpc: boolean; TargetProcessors: number } = () => ({
    QueueDefaultInterruptDpc: true,
    TargetProcessors: 0,
  }),
): NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<TestAdapter> {
  return {
    ...(idleInterrupt() as NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<TestAdapter>),
    InterruptHandler: (a) => {
      seen.isr.push({ id: 'line', causes: NdisReadRegisterUlong(a.space!.at(SimNicReg.ICR)) });
      return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
    },
    InterruptDpcHandler: (_a, context, throttle) => {
      seen.dpc.push({ id: 'line', context, throttle });
    },
    MsiSupported: true,
    MessageInterruptHandler: (a, MessageId) => {
      seen.isr.push({ id: MessageId, causes: NdisReadRegisterUlong(a.space!.at(SimNicReg.ICR)) });
      return { InterruptRecognized: true, ...isrOut(MessageId) };
    },
    MessageInterruptDpcHandler: (_a, MessageId, context, throttle) => {
      seen.dpc.push({ id: MessageId, context, throttle: throttle === null ? null : { ...throttle } });
    },
    DisableMessageInterruptHandler: () => {},
    EnableMessageInterruptHandler: () => {},
  };
}

interface MsiRun {
  /** The device's messages (0: none) and kind. */
  msi?: DeviceSpec['msi'];
  /** The characteristics to register in place of the scripted driver's line interrupt. */
  chars: (seen: Seen) => NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<TestAdapter>;
  /** Interrupt causes unmasked after registration (RESET_DONE: the driver resets the NIC). */
  imr?: number;
  reset?: boolean;
  device?: Partial<DeviceSpec>;
  cpus?: number;
  hooks?: Hooks;
  actions?: { atNs: number; action: WorldAction }[];
  untilNs?: number;
}

/**
 * A scripted driver that swaps its line interrupt for `chars` in MiniportInitializeEx,
 * unmasks `imr` and, with `reset`, resets the NIC (RESET_DONE interrupts once).
 */
function msiRun(o: MsiRun) {
  const seen: Seen = { isr: [], dpc: [] };
  let chars: NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<TestAdapter> | null = null;
  let status = -1;
  const drv = scriptedDriver('msi', {
    ...o.hooks,
    initialize: (a, params) => {
      NdisMDeregisterInterruptEx(a.interrupt!);
      chars = o.chars(seen);
      const r = NdisMRegisterInterruptEx(a.handle, a, chars);
      status = r.Status;
      a.interrupt = r.NdisInterruptHandle;
      a.state.resources = params.AllocatedResources;
      NdisWriteRegisterUlong(a.space!.at(SimNicReg.IMR), o.imr ?? SimNicIcr.RESET_DONE);
      NdisWriteRegisterUlong(
        a.space!.at(SimNicReg.CTRL),
        SimNicCtrl.INTR_ENABLE | SimNicCtrl.RX_ENABLE | (o.reset === false ? 0 : SimNicCtrl.RESET),
      );
      return o.hooks?.initialize?.(a, params) ?? NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'msi', ...(o.msi === undefined ? {} : { msi: o.msi }), ...o.device }],
    options: { cpus: o.cpus ?? 2, verifier: 'collect' },
    actions: o.actions,
  });
  const r = w.run(o.untilNs ?? 200 * ns.ms);
  return { w, r, seen, status, chars: chars!, drv, a: drv.adapters[0]! };
}

const calls = (w: ReturnType<typeof msiRun>['w'], what: string) =>
  w.trace.events.filter((e) => e.kind === 'call' && e.what === what);

// ------------------------------------------------------------ registration

test("NdisMRegisterInterruptEx page: MsiSupported on a device with MSI messages connects message-based, writing InterruptType NDIS_CONNECT_MESSAGE_BASED and an IO_INTERRUPT_MESSAGE_INFO of one entry per message into the driver's own characteristics", () => {
  const { r, status, chars } = msiRun({ msi: { messages: 4 }, chars: msiChars, cpus: 2 });
  assert.equal(r.verdict, 'ok', r.message ?? undefined);
  assert.equal(status, NDIS_STATUS_SUCCESS);
  assert.equal(chars.InterruptType, NDIS_CONNECT_MESSAGE_BASED);
  const t = chars.MessageInfoTable!;
  assert.equal(t.MessageCount, 4);
  assert.equal(t.UnifiedIrql, Irql.Dirql);
  assert.equal(t.MessageInfo.length, 4);
  t.MessageInfo.forEach((e, id) => {
    // MSI (PCI 2.2): one address for every message, the low bits of the data name it.
    assert.equal(e.MessageAddress, 0xfee00000);
    assert.equal(e.MessageData & 0xf, id);
    assert.equal(e.Vector, t.MessageInfo[0]!.Vector + id);
    assert.equal(e.Irql, Irql.Dirql);
    assert.equal(e.Mode, Latched);
    assert.equal(e.Polarity, InterruptRisingEdge);
    assert.equal(e.TargetProcessorSet, 0b11);
    assert.ok(e.InterruptObject !== null && e.InterruptObject !== undefined);
  });
  assert.equal(
    new Set(t.MessageInfo.map((e) => e.InterruptObject)).size,
    4,
    'an interrupt object per message',
  );
  // MSI-X (PCI 3.0): each message its own address.
  const x = msiRun({ msi: { messages: 3, msix: true }, chars: msiChars });
  assert.equal(x.chars.InterruptType, NDIS_CONNECT_MESSAGE_BASED);
  assert.equal(new Set(x.chars.MessageInfoTable!.MessageInfo.map((e) => e.MessageAddress)).size, 3);
});

test('NdisMRegisterInterruptEx page: line-based when NDIS has no messages to grant (a device without them) or the driver does not set MsiSupported: InterruptType NDIS_CONNECT_LINE_BASED, MessageInfoTable NULL, MiniportInterrupt runs', () => {
  // MSI-capable driver, device with its line only ("even if the driver supports MSI").
  const lineOnly = msiRun({ chars: msiChars });
  assert.equal(lineOnly.status, NDIS_STATUS_SUCCESS);
  assert.equal(lineOnly.chars.InterruptType, NDIS_CONNECT_LINE_BASED);
  assert.equal(lineOnly.chars.MessageInfoTable, null);
  assert.deepEqual(
    lineOnly.seen.isr.map((s) => s.id),
    ['line'],
  );
  assert.deepEqual(
    lineOnly.seen.dpc.map((s) => s.id),
    ['line'],
  );
  // Device with messages, driver without MsiSupported: the device keeps its line.
  const noMsi = msiRun({ msi: { messages: 4 }, chars: (s) => ({ ...msiChars(s), MsiSupported: false }) });
  assert.equal(noMsi.chars.InterruptType, NDIS_CONNECT_LINE_BASED);
  assert.equal(noMsi.chars.MessageInfoTable, null);
  assert.deepEqual(
    noMsi.seen.isr.map((s) => s.id),
    ['line'],
  );
  assert.equal(calls(noMsi.w, 'MiniportMessageInterrupt').length, 0);
});

test('NdisMRegisterInterruptEx, NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS page: MsiSupported without any one of the four MSI service functions is NDIS_STATUS_BAD_CHARACTERISTICS, whether or not the device has messages', () => {
  for (const drop of [
    'MessageInterruptHandler',
    'MessageInterruptDpcHandler',
    'DisableMessageInterruptHandler',
    'EnableMessageInterruptHandler',
  ] as const) {
    for (const msi of [undefined, { messages: 2 }]) {
      const run = msiRun({ msi, chars: (s) => ({ ...msiChars(s), [drop]: null }) });
      assert.equal(run.status, NDIS_STATUS_BAD_CHARACTERISTICS, `${drop}, ${msi?.messages ?? 0} messages`);
      assert.equal(run.chars.InterruptType, undefined, 'nothing written on failure');
      assert.equal(run.seen.isr.length, 0);
    }
  }
});

test('NdisMRegisterInterruptEx page: the driver must give MiniportInterrupt, MiniportInterruptDPC, MiniportDisableInterruptEx and MiniportEnableInterruptEx; without one, or with a Header other than NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT revision 1 (characteristics page), NDIS_STATUS_BAD_CHARACTERISTICS and no interrupt', () => {
  const line = (s: Seen) => ({ ...msiChars(s), MsiSupported: false });
  const bad: [string, (s: Seen) => NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<TestAdapter>][] = [
    ...(
      [
        'InterruptHandler',
        'InterruptDpcHandler',
        'DisableInterruptHandler',
        'EnableInterruptHandler',
      ] as const
    ).map((drop): [string, (s: Seen) => NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<TestAdapter>] => [
      drop,
      (s) =>
        ({ ...line(s), [drop]: null }) as unknown as NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS<TestAdapter>,
    ]),
    ['Revision 2', (s) => ({ ...line(s), Header: { ...line(s).Header, Revision: 2 } })],
  ];
  for (const [what, chars] of bad) {
    const run = msiRun({ chars });
    assert.equal(run.status, NDIS_STATUS_BAD_CHARACTERISTICS, what);
    assert.equal(run.chars.InterruptType, undefined, `${what}: nothing written on failure`);
    assert.equal(run.seen.isr.length, 0, what);
  }
  // The same characteristics with all four are granted the line.
  assert.equal(msiRun({ chars: line }).status, NDIS_STATUS_SUCCESS);
});

// --------------------------------------------------------------- resources

test('CM_PARTIAL_RESOURCE_DESCRIPTOR u.MessageInterrupt, "Using Interrupt Resource Descriptors": MSI is one CmResourceTypeInterrupt descriptor with Flags LATCHED | MESSAGE and Raw.MessageCount in place of the line; MSI-X one per message; the translated list has u.MessageInterrupt.Translated at DIRQL', () => {
  const interrupts = (msi: DeviceSpec['msi']) => {
    let got: ReturnType<typeof NdisMGetDeviceProperty> | null = null;
    const run = msiRun({
      msi,
      chars: msiChars,
      hooks: {
        initialize: (a) => {
          got = NdisMGetDeviceProperty(a.handle);
          return NDIS_STATUS_SUCCESS;
        },
      },
    });
    const ints = (list: { Type: number }[]) => list.filter((d) => d.Type === CmResourceTypeInterrupt);
    const init = (run.a.state.resources as { PartialDescriptors: { Type: number }[]; Count: number }) ?? null;
    const g = got as unknown as ReturnType<typeof NdisMGetDeviceProperty>;
    return {
      init: ints(init.PartialDescriptors),
      count: init.Count === init.PartialDescriptors.length,
      raw: ints(g.AllocatedResources!.List[0]!.PartialResourceList.PartialDescriptors),
      translated: ints(g.AllocatedResourcesTranslated!.List[0]!.PartialResourceList.PartialDescriptors),
    };
  };
  const flags = CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE;
  const msi = interrupts({ messages: 8 });
  assert.ok(msi.count, 'Count matches the descriptors');
  assert.equal(msi.init.length, 1, 'one descriptor for every MSI message, no line');
  const d = msi.init[0] as unknown as { Flags: number; ShareDisposition: number; u: Record<string, unknown> };
  assert.equal(d.Flags, flags);
  assert.equal(d.ShareDisposition, CmResourceShareDeviceExclusive);
  assert.equal(d.u.Interrupt, undefined);
  const raw = (d.u.MessageInterrupt as { Raw: { MessageCount: number; Vector: number; Affinity: number } })
    .Raw;
  assert.equal(raw.MessageCount, 8);
  assert.equal(raw.Affinity, 0b11);
  assert.deepEqual(msi.raw, msi.init, 'NdisMGetDeviceProperty raw list = what MiniportInitializeEx got');
  assert.deepEqual((msi.translated[0] as unknown as { u: unknown }).u, {
    MessageInterrupt: { Translated: { Level: Irql.Dirql, Vector: raw.Vector, Affinity: 0b11 } },
  });
  const x = interrupts({ messages: 3, msix: true });
  assert.ok(x.count);
  assert.equal(x.init.length, 3, 'MSI-X: a descriptor per message');
  assert.deepEqual(
    x.init.map(
      (e) =>
        (e as unknown as { u: { MessageInterrupt: { Raw: { MessageCount: number } } } }).u.MessageInterrupt
          .Raw.MessageCount,
    ),
    [1, 1, 1],
  );
  assert.deepEqual(
    x.translated.map((e) => (e as unknown as { Flags: number }).Flags),
    [flags, flags, flags],
  );
});

// ------------------------------------------------------------- ISR and DPC

test('SimNic messages (simNicMessageOf): ICR bit k goes on message k when the device has more than k messages, else on message 0', () => {
  const { RESET_DONE, LINK_CHANGE, TX_DONE, RX } = SimNicIcr;
  assert.deepEqual(
    [RESET_DONE, LINK_CHANGE, TX_DONE, RX].map((c) => simNicMessageOf(c, 4)),
    [0, 1, 2, 3],
  );
  assert.deepEqual(
    [RESET_DONE, LINK_CHANGE, TX_DONE, RX].map((c) => simNicMessageOf(c, 2)),
    [0, 1, 0, 0],
  );
  assert.deepEqual(
    [RESET_DONE, LINK_CHANGE, TX_DONE, RX].map((c) => simNicMessageOf(c, 1)),
    [0, 0, 0, 0],
  );
});

test("MINIPORT_MESSAGE_INTERRUPT, MINIPORT_MESSAGE_INTERRUPT_DPC pages: each cause runs MiniportMessageInterrupt with its message's MessageId at DIRQL, and its default DPC MiniportMessageInterruptDPC with the same MessageId at DISPATCH on the ISR's CPU, NULL MiniportDpcContext, the 6.20 throttle parameters; a masked cause sends nothing", () => {
  const run = msiRun({
    msi: { messages: 4 },
    chars: msiChars,
    // RESET_DONE (message 0) and RX (message 3) unmasked; LINK_CHANGE (1) masked.
    imr: SimNicIcr.RESET_DONE | SimNicIcr.RX,
    device: { wire: { rxPerSecond: 100 }, faults: { linkDownAtNs: 150 * ns.ms } },
  });
  assert.equal(run.r.verdict, 'ok', run.r.message ?? undefined);
  const ids = run.seen.isr.map((s) => s.id);
  assert.equal(ids[0], 0, 'the reset comes on message 0');
  assert.equal(run.seen.isr[0]!.causes & SimNicIcr.RESET_DONE, SimNicIcr.RESET_DONE);
  assert.ok(ids.filter((id) => id === 3).length >= 10, `frames come on message 3: ${ids.join(',')}`);
  assert.deepEqual(
    [...new Set(ids)].sort(),
    [0, 3],
    'no message 1 for the masked link change, none on the line',
  );
  assert.deepEqual(
    run.seen.dpc.map((d) => d.id),
    ids,
    'one DPC per ISR, with its MessageId',
  );
  for (const d of run.seen.dpc) {
    assert.equal(d.context, null);
    assert.deepEqual(d.throttle, { MaxNblsToIndicate: NDIS_INDICATE_ALL_NBLS, MoreNblsPending: false });
  }
  const isrs = calls(run.w, 'MiniportMessageInterrupt');
  const dpcs = calls(run.w, 'MiniportMessageInterruptDPC');
  assert.equal(isrs.length, ids.length);
  assert.ok(isrs.every((e) => e.irql === Irql.Dirql));
  assert.ok(dpcs.every((e) => e.irql === Irql.Dispatch));
  isrs.forEach((e, k) => {
    assert.equal(e.data?.MessageId, ids[k]);
    assert.equal(dpcs[k]!.cpu, e.cpu, 'the default DPC runs on the CPU of the ISR');
    assert.equal(dpcs[k]!.data?.MessageId, ids[k]);
  });
  assert.equal(calls(run.w, 'MiniportInterrupt').length, 0);
  // One message: everything on message 0.
  const one = msiRun({
    msi: { messages: 1 },
    chars: msiChars,
    imr: SimNicIcr.RESET_DONE | SimNicIcr.RX,
    device: { wire: { rxPerSecond: 100 } },
  });
  assert.ok(one.seen.isr.length > 10);
  assert.deepEqual([...new Set(one.seen.isr.map((s) => s.id))], [0]);
});

test("MINIPORT_MESSAGE_INTERRUPT page: QueueDefaultInterruptDpc FALSE queues the message's DPC on each CPU of TargetProcessors, with MessageId and a NULL MiniportDpcContext", () => {
  const run = msiRun({
    msi: { messages: 2 },
    cpus: 4,
    chars: (s) => msiChars(s, () => ({ QueueDefaultInterruptDpc: false, TargetProcessors: 0b1010 })),
  });
  assert.equal(run.r.verdict, 'ok', run.r.message ?? undefined);
  assert.deepEqual(
    run.seen.isr.map((s) => s.id),
    [0],
  );
  const dpcs = calls(run.w, 'MiniportMessageInterruptDPC');
  assert.deepEqual(dpcs.map((e) => e.cpu).sort(), [1, 3]);
  assert.deepEqual(
    run.seen.dpc.map((d) => [d.id, d.context]),
    [
      [0, null],
      [0, null],
    ],
  );
});

test('MINIPORT_MESSAGE_INTERRUPT_DPC, Receive Side Throttle: a message DPC that returns MoreNblsPending TRUE runs again with the same MessageId on the same CPU', () => {
  let left = 2;
  const run = msiRun({
    msi: { messages: 2 },
    chars: (s) => {
      const c = msiChars(s);
      const dpc = c.MessageInterruptDpcHandler!;
      c.MessageInterruptDpcHandler = (a, id, ctx, t, r) => {
        dpc(a, id, ctx, t, r);
        if (t !== null && left-- > 0) t.MoreNblsPending = true;
      };
      return c;
    },
  });
  assert.equal(run.r.verdict, 'ok', run.r.message ?? undefined);
  assert.deepEqual(
    run.seen.dpc.map((d) => d.id),
    [0, 0, 0],
  );
  const cpus = calls(run.w, 'MiniportMessageInterruptDPC').map((e) => e.cpu);
  assert.equal(new Set(cpus).size, 1);
});

// ------------------------------------------------------- queue DPC and sync

test('NdisMQueueDpcEx page, message-based: queues the DPCs of message MessageId with MiniportDpcContext; a MessageId past the table is NdisSim_MessageIdOutOfRange and queues nothing', () => {
  const returned: number[] = [];
  const run = msiRun({
    msi: { messages: 3 },
    chars: msiChars,
    reset: false,
    hooks: {
      restart: (a) => {
        returned.push(NdisMQueueDpcEx(a.interrupt!, 2, { Mask: 0b11, Group: 0 }, 'ctx-2'));
        returned.push(NdisMQueueDpcEx(a.interrupt!, 1, { Mask: 0b1, Group: 0 }, 'ctx-1'));
        // Message 2's DPC on CPU 0 is still queued: left out.
        returned.push(NdisMQueueDpcEx(a.interrupt!, 2, { Mask: 0b1, Group: 0 }, 'ctx-x'));
        returned.push(NdisMQueueDpcEx(a.interrupt!, 3, { Mask: 0b1, Group: 0 }, 'ctx-3'));
        return NDIS_STATUS_SUCCESS;
      },
    },
  });
  assert.deepEqual(returned, [0b11, 0b1, 0, 0]);
  assert.deepEqual(run.seen.dpc.map((d) => `${d.id}:${String(d.context)}`).sort(), [
    '1:ctx-1',
    '2:ctx-2',
    '2:ctx-2',
  ]);
  assert.deepEqual(
    run.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_MessageIdOutOfRange', 'NdisMQueueDpcEx']],
  );
  // Line-based, MessageId is not used.
  const line: number[] = [];
  const l = msiRun({
    chars: msiChars,
    reset: false,
    hooks: {
      restart: (a) => {
        line.push(NdisMQueueDpcEx(a.interrupt!, 7, { Mask: 0b1, Group: 0 }, 'ctx'));
        return NDIS_STATUS_SUCCESS;
      },
    },
  });
  assert.deepEqual(line, [0b1]);
  assert.deepEqual(
    l.seen.dpc.map((d) => [d.id, d.context]),
    [['line', 'ctx']],
  );
  assert.deepEqual(l.r.violations, []);
});

test('NdisMSynchronizeWithInterruptEx page, message-based: runs MiniportSynchronizeMessageInterrupt for MessageId at DIRQL and returns its value; a MessageId past the table is NdisSim_MessageIdOutOfRange, runs nothing and returns FALSE', () => {
  const results: boolean[] = [];
  const irqls: number[] = [];
  const run = msiRun({
    msi: { messages: 2 },
    chars: msiChars,
    reset: false,
    hooks: {
      restart: (a) => {
        const fn = (v: boolean) => {
          irqls.push(NDIS_CURRENT_IRQL());
          return v;
        };
        results.push(NdisMSynchronizeWithInterruptEx(a.interrupt!, 1, fn, true));
        results.push(NdisMSynchronizeWithInterruptEx(a.interrupt!, 0, fn, false));
        results.push(NdisMSynchronizeWithInterruptEx(a.interrupt!, 2, fn, true));
        return NDIS_STATUS_SUCCESS;
      },
    },
  });
  assert.deepEqual(results, [true, false, false]);
  assert.deepEqual(irqls, [Irql.Dirql, Irql.Dirql], 'the routine ran for messages 1 and 0 only, at DIRQL');
  const sync = calls(run.w, 'MiniportSynchronizeMessageInterrupt');
  assert.deepEqual(
    sync.map((e) => [e.data?.MessageId, e.irql]),
    [
      [1, Irql.Dirql],
      [0, Irql.Dirql],
    ],
  );
  assert.deepEqual(
    run.r.violations.map((v) => [v.rule, v.ddi]),
    [['NdisSim_MessageIdOutOfRange', 'NdisMSynchronizeWithInterruptEx']],
  );
});

test('NdisSim_InterruptSyncDeadlock (R8.10): NdisMSynchronizeWithInterruptEx from under the lock it takes; messages with locks of their own may synchronize with each other, not with themselves; with MsiSyncWithAllMessages they share one', () => {
  const run = (all: boolean) => {
    const results: boolean[] = [];
    const r = msiRun({
      msi: { messages: 2 },
      chars: (seen) => ({ ...msiChars(seen), MsiSyncWithAllMessages: all }),
      reset: false,
      hooks: {
        restart: (a) => {
          // Inside the routine for message 1: once with message 0, once with message 1 itself.
          const outer = () => {
            results.push(NdisMSynchronizeWithInterruptEx(a.interrupt!, 0, () => true, null));
            results.push(NdisMSynchronizeWithInterruptEx(a.interrupt!, 1, () => true, null));
            return true;
          };
          results.push(NdisMSynchronizeWithInterruptEx(a.interrupt!, 1, outer, null));
          return NDIS_STATUS_SUCCESS;
        },
      },
    });
    return {
      results,
      rules: r.r.violations.map((v) => [v.rule, v.ddi]),
      messages: r.r.violations.map((v) => v.message),
    };
  };
  const own = run(false);
  assert.deepEqual(own.results, [true, false, true]);
  assert.deepEqual(own.rules, [['NdisSim_InterruptSyncDeadlock', 'NdisMSynchronizeWithInterruptEx']]);
  assert.match(own.messages[0]!, /inside MiniportSynchronizeMessageInterrupt of message 1/);
  const shared = run(true);
  assert.deepEqual(shared.results, [false, false, true]);
  assert.equal(shared.rules.length, 2);
});

// ---------------------------------------------------------------- teardown

test('R2.10 NdisMDeregisterInterruptEx, message-based: the queued DPCs of every message run before it returns, no message ISR or DPC runs afterwards, and the NIC goes back to its line', () => {
  const order: string[] = [];
  const run = msiRun({
    msi: { messages: 3 },
    chars: (s) => {
      const c = msiChars(s);
      c.MessageInterruptDpcHandler = (_a, id, ctx) => {
        order.push(`dpc ${id} ${String(ctx)}`);
      };
      return c;
    },
    reset: false,
    imr: SimNicIcr.RX,
    device: { wire: { rxPerSecond: 1000 } },
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    hooks: {
      halt: (a) => {
        NdisMQueueDpcEx(a.interrupt!, 0, { Mask: 0b1, Group: 0 }, 'a');
        NdisMQueueDpcEx(a.interrupt!, 2, { Mask: 0b10, Group: 0 }, 'b');
        order.push('deregister');
        NdisMDeregisterInterruptEx(a.interrupt!);
        order.push('returned');
        a.interrupt = null;
        // The NIC, powered until REMOVE_DEVICE, goes on taking frames meanwhile (50 ms
        // at 1,000 a second), signalling its line, which no ISR serves any more.
        NdisMSleep(50_000);
      },
    },
    untilNs: 300 * ns.ms,
  });
  assert.equal(run.r.verdict, 'ok', run.r.message ?? undefined);
  assert.deepEqual(order.slice(order.indexOf('deregister')), [
    'deregister',
    'dpc 0 a',
    'dpc 2 b',
    'returned',
  ]);
  assert.ok(order.indexOf('deregister') > 50, 'frames came as messages until the halt');
  const ev = run.w.trace.events;
  const dereg = ev.findLastIndex((e) => e.kind === 'ddi' && e.what === 'NdisMDeregisterInterruptEx');
  const later = ev.filter(
    (e, k) => k > dereg && e.kind === 'call' && e.what.startsWith('MiniportMessageInterrupt'),
  );
  assert.deepEqual(
    later.map((e) => e.data?.MessageId),
    [0, 2],
    'only the two flushed DPCs after the call',
  );
  const msi = run.w.device('nic0').resources!.msi!;
  assert.equal(msi.enabled, false, 'the NIC signals its line again');
  assert.deepEqual(msi.connected, [null, null, null]);
  // About 100 frames before the halt at 100 ms, 50 more while it slept.
  assert.ok(
    run.w.nic('nic0').rxFrames > 140,
    `frames kept arriving after the deregistration: ${run.w.nic('nic0').rxFrames}`,
  );
  const off = ev.findIndex((e) => e.kind === 'hw' && e.what === 'powered down (D3)');
  assert.ok(off > dereg, 'the bus driver powers the NIC down at REMOVE_DEVICE, after the halt');
});

test('SimNic vanish: a NIC that has vanished sends no message', () => {
  const vanishNs = 50 * ns.ms;
  const run = msiRun({
    msi: { messages: 4 },
    chars: msiChars,
    reset: false,
    imr: SimNicIcr.RX,
    device: { wire: { rxPerSecond: 1000 }, faults: { vanishAtNs: vanishNs } },
  });
  const isrs = calls(run.w, 'MiniportMessageInterrupt');
  assert.ok(isrs.length > 40, `messages before the NIC vanished: ${isrs.length}`);
  // A message sent just before the vanish is taken 500 ns later; none after that.
  assert.deepEqual(
    isrs.filter((e) => e.t > vanishNs + 1000),
    [],
  );
});

// ---------------------------------------------------------------- scenarios

test('scenario devices[].msi: messages (0 to 16 for MSI, to 2048 for MSI-X) and msix, validated with a message naming the field; World.addDevice refuses a bad count', () => {
  const yaml = (msi: string) => `
name: msi
until: 10ms
devices:
  - name: nic0
    driver: healthy-nic
    msi: ${msi}
`;
  const ok = parseScenarioText(yaml('{ messages: 4, msix: true }'), 'msi.yaml', driverNames());
  assert.deepEqual(ok.devices[0]!.msi, { messages: 4, msix: true });
  const w = buildWorld(ok);
  const msi = w.device('nic0').resources!.msi!;
  assert.equal(msi.count, 4);
  assert.equal(msi.msix, true);
  assert.equal(
    buildWorld(parseScenarioText(yaml('{ messages: 0 }'), 'msi.yaml', driverNames())).device('nic0')
      .resources!.msi,
    null,
  );
  for (const bad of [
    '{ messages: 17 }',
    '{ messages: 2049, msix: true }',
    '{ messages: -1 }',
    '{ count: 2 }',
  ]) {
    assert.throws(
      () => parseScenarioText(yaml(bad), 'msi.yaml', driverNames()),
      (e: Error) => /devices\[0\]\.msi/.test(e.message),
      bad,
    );
  }
  assert.throws(
    () => msiRun({ msi: { messages: 17 }, chars: msiChars }),
    /World\.addDevice: device 'nic0' asks for 17 interrupt messages; MSI allows a whole number from 0 to 16/,
  );
});

test('NdisMRegisterInterruptEx with the reference SimNic miniport (healthy-nic): on an MSI-X device it is granted its messages and carries traffic through MiniportMessageInterrupt; on a line-only device it stays line-based', () => {
  const run = (msi: string) => {
    const s = parseScenarioText(
      `
name: msi traffic
until: 300ms
protocols:
  - name: tcpip
    traffic: { rate: 500, frameBytes: 600, returnDelay: 1ms }
devices:
  - name: nic0
    driver: healthy-nic
    wire: { rxRate: 1000, frameBytes: 400 }
${msi}
`,
      'msi.yaml',
      driverNames(),
    );
    const w = buildWorld(s);
    const r = w.run(300 * ns.ms);
    const count = (what: string) => w.trace.events.filter((e) => e.kind === 'call' && e.what === what).length;
    return {
      r,
      msg: count('MiniportMessageInterrupt'),
      line: count('MiniportInterrupt'),
      nic: w.nic('nic0'),
    };
  };
  const x = run('    msi: { messages: 4, msix: true }');
  assert.equal(x.r.verdict, 'ok', x.r.message ?? undefined);
  assert.ok(x.msg > 300 && x.line === 0, `${x.msg} message ISRs, ${x.line} line ISRs`);
  assert.ok(x.nic.rxFrames > 250 && x.nic.txFrames > 100);
  const l = run('');
  assert.equal(l.r.verdict, 'ok', l.r.message ?? undefined);
  assert.ok(l.line > 300 && l.msg === 0);
});

test('R2.10, NdisMDeregisterInterruptEx page: a NIC that still signals its line after the driver deregistered its interrupt is warned about, once; a driver that masks the NIC first is not', () => {
  const halting = (maskFirst: boolean) =>
    msiRun({
      chars: msiChars,
      reset: false,
      imr: SimNicIcr.RX,
      device: { wire: { rxPerSecond: 1000 } },
      actions: [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
      hooks: {
        halt: (a) => {
          if (maskFirst) NdisWriteRegisterUlong(a.space!.at(SimNicReg.IMR), 0);
          NdisMDeregisterInterruptEx(a.interrupt!);
          a.interrupt = null;
          // Frames keep coming for 20 ms while the halt goes on.
          NdisMSleep(20_000);
        },
      },
    });
  const leaky = halting(false);
  assert.equal(leaky.r.verdict, 'ok', leaky.r.message ?? undefined);
  assert.deepEqual(
    leaky.r.warnings.map((w) => [w.rule, w.ddi, w.adapter]),
    [['R2.10', 'NdisMDeregisterInterruptEx', 'nic0']],
  );
  assert.match(leaky.r.warnings[0]!.message, /signalled an interrupt after NdisMDeregisterInterruptEx/);
  assert.deepEqual(halting(true).r.warnings, []);
});
