// NDIS Poll Mode: NdisRegisterPoll, NdisRequestPoll, NdisPoll with its work limits and
// NDIS indicating and completing on the driver's behalf, NdisSetPollNotification when
// polling stops, NdisSetPollAffinity, NdisDeregisterPoll, and the rules
// NdisSim_PollNotDeregistered, NdisSim_PollHandle, NdisSim_PollData,
// NdisSim_PollModeVersion and NdisSim_PollDeregisterInPoll.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  NDIS_ANY_NUMBER_OF_NBLS,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_POLL_CHARACTERISTICS_REVISION_1,
  type NDIS_POLL_DATA,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisDeregisterPoll,
  NdisRegisterPoll,
  NdisRequestPoll,
  NdisSetPollAffinity,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
} from '../src/index.ts';
import { pollHoldNs } from '../src/ndis/api/poll.ts';
import { ChoiceSite, type Strategy } from '../src/sim/choice.ts';
import type { TraceEvent } from '../src/trace/trace.ts';
import { after, type Hooks, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** What a poll test driver keeps per adapter (in `a.state`). */
interface PollState {
  poll: NDIS_HANDLE | null;
  /** Receive buffers the driver owns, and frames "on the wire" waiting for them. */
  free: NET_BUFFER_LIST[];
  frames: number;
  /** Sends waiting for their completion. */
  sends: NET_BUFFER_LIST[];
  log: string[];
}
const ps = (a: TestAdapter): PollState => a.state as unknown as PollState;

interface Options {
  /** NBLs NdisPoll puts in one iteration: 'limit' respects MaxNblsToIndicate, a number forces that many. */
  take?: 'limit' | number;
  /** Leave the poll object registered at halt. */
  keep?: boolean;
  /** NDIS minor version the driver declares. */
  minor?: number;
  /** Runs inside NdisPoll after the work (a test's extra). */
  inPoll?: (a: TestAdapter, d: NDIS_POLL_DATA) => void;
  /** Runs in initialize after the registration. */
  init?: (a: TestAdapter) => void;
  /** Frames that arrive at 100 ms (with an NdisRequestPoll from a timer). */
  frames?: number;
}

/**
 * A scripted 6.85 miniport with one poll object: receives come from a count of frames
 * waiting, into NBLs of its own pool; sends wait for the next iteration to complete them.
 */
function pollHooks(o: Options = {}): Hooks {
  return {
    characteristics: (c) => {
      c.MinorNdisVersion = o.minor ?? 85;
    },
    initialize: (a) => {
      const s: PollState = { poll: null, free: [], frames: 0, sends: [], log: [] };
      a.state = s as unknown as Record<string, unknown>;
      const pool = NdisAllocateNetBufferListPool(a.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 0x6c6c6f70,
        DataSize: 0,
      })!;
      a.pools.push(pool);
      for (let i = 0; i < 200; i++) {
        const nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, new Uint8Array(1514), 0, 60)!;
        nbl.SourceHandle = a.handle;
        a.nbls.push(nbl);
        s.free.push(nbl);
      }
      const r = NdisRegisterPoll(a.handle, a, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_POLL_CHARACTERISTICS_REVISION_1 },
        PollHandler: (ctx, d) => poll(ctx, d, o),
        SetPollNotificationHandler: (ctx, n) => ps(ctx).log.push(`notify ${n.Enabled}`),
      });
      s.log.push(`register ${r.Status === NDIS_STATUS_SUCCESS ? 'ok' : `0x${r.Status.toString(16)}`}`);
      s.poll = r.PollHandle;
      o.init?.(a);
      if (o.frames !== undefined && s.poll !== null)
        after(a, 100, () => {
          s.frames += o.frames!;
          NdisRequestPoll(s.poll!, null);
        });
      return NDIS_STATUS_SUCCESS;
    },
    send: (a, chain) => {
      const s = ps(a);
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        s.sends.push(x);
        x = next;
      }
      NdisRequestPoll(s.poll!, null);
    },
    returnNbls: (a, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        ps(a).free.push(x);
        x = next;
      }
    },
    halt: (a) => {
      const s = ps(a);
      if (!o.keep && s.poll !== null) NdisDeregisterPoll(s.poll);
    },
  };
}

/** NdisPoll of the test driver: completes the waiting sends, indicates waiting frames. */
function poll(ctx: unknown, d: NDIS_POLL_DATA, o: Options): void {
  const a = ctx as TestAdapter;
  const s = ps(a);
  const rx = d.Receive;
  const tx = d.Transmit;
  const want = o.take === undefined || o.take === 'limit' ? rx.MaxNblsToIndicate : o.take;
  let head: NET_BUFFER_LIST | null = null;
  let k = 0;
  while (k < want && s.frames > 0 && s.free.length > 0) {
    const nbl = s.free.pop()!;
    nbl.Next = head;
    head = nbl;
    s.frames--;
    k++;
  }
  rx.IndicatedNblChain = head;
  rx.NumberOfIndicatedNbls = k;
  rx.NumberOfRemainingNbls = s.frames > 0 ? NDIS_ANY_NUMBER_OF_NBLS : 0;
  const done = s.sends.splice(0, tx.MaxNblsToComplete);
  for (let i = 0; i < done.length; i++) {
    done[i]!.Status = NDIS_STATUS_SUCCESS;
    done[i]!.Next = done[i + 1] ?? null;
  }
  tx.CompletedNblChain = done[0] ?? null;
  tx.NumberOfCompletedNbls = NDIS_ANY_NUMBER_OF_NBLS;
  s.log.push(`poll rx=${k} tx=${done.length}`);
  o.inPoll?.(a, d);
}

/** Answers `picks[site]` at the sites it names and 0 elsewhere. */
function at(picks: Partial<Record<number, number>>): Strategy {
  return { name: 'poll-test', pick: (site) => picks[site] ?? 0 };
}

function run(
  name: string,
  hooks: Hooks,
  o: {
    strategy?: Strategy;
    untilMs?: number;
    removeMs?: number;
    cpus?: number;
    callbackIrql?: 'passive' | 'dispatch';
  } = {},
) {
  const drv = scriptedDriver(name, hooks);
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: name }],
    actions: [{ atNs: (o.removeMs ?? 1000) * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    options: {
      verifier: 'collect',
      trace: true,
      cpus: o.cpus ?? 2,
      ...(o.strategy === undefined ? {} : { strategy: o.strategy }),
      ...(o.callbackIrql === undefined ? {} : { ndis: { callbackIrql: o.callbackIrql } }),
    },
  });
  const r = w.run((o.untilMs ?? 2000) * ns.ms);
  return { w, r, drv, log: () => ps(drv.adapters[0]!).log };
}

const rules = (r: { violations: readonly { rule: string }[] }) => r.violations.map((v) => v.rule);
const calls = (events: readonly TraceEvent[], what: string) =>
  events.filter((e) => e.kind === 'call' && e.what === what);

test('NdisRequestPoll → NdisPoll: NDIS indicates the NBLs of the poll data to the protocol, polls again, and after an iteration with none calls NdisSetPollNotification(Enabled TRUE); deregistered in halt, no violation', () => {
  const { w, r, log } = run('poll-basic', pollHooks({ frames: 3 }), { strategy: at({}) });
  assert.deepEqual(rules(r), []);
  assert.deepEqual(log(), ['register ok', 'poll rx=3 tx=0', 'poll rx=0 tx=0', 'notify true']);
  const adapter = w.ndis.adapters[0]!;
  assert.equal(adapter.data.indicated, 3);
  assert.equal(
    adapter.receivesOutstanding,
    0,
    'the protocol returned them, through MiniportReturnNetBufferLists',
  );
  // Answer 0 of PollIrql: DISPATCH, like the DPC a poll object replaces.
  for (const e of calls(w.trace.events, 'NdisPoll')) assert.equal(e.irql, 2);
  const recv = calls(w.trace.events, 'ProtocolReceiveNetBufferLists');
  assert.equal(recv.length, 1);
});

test('work limits: NdisPoll gets MaxNblsToIndicate 64; 100 frames take two iterations with NBLs and one without; more than the limit is NdisSim_PollData', () => {
  const ok = run('poll-limit', pollHooks({ frames: 100 }), { strategy: at({}) });
  assert.deepEqual(rules(ok.r), []);
  assert.deepEqual(ok.log().slice(1), [
    'poll rx=64 tx=0',
    'poll rx=36 tx=0',
    'poll rx=0 tx=0',
    'notify true',
  ]);
  const over = run('poll-over', pollHooks({ frames: 100, take: 80 }), { strategy: at({}) });
  assert.deepEqual(rules(over.r), ['NdisSim_PollData']);
  assert.match(over.r.violations[0]!.message, /80 receive NBL\(s\) in one iteration, above the 64/);
  assert.equal(over.w.ndis.adapters[0]!.data.indicated, 100, 'NDIS still indicates them');
});

test('NdisSim_PollData: a count that is not the chain length, and receive flags the structure does not take (RESOURCES)', () => {
  const miscount = run(
    'poll-miscount',
    pollHooks({
      frames: 2,
      inPoll: (_a, d) => {
        if (d.Receive.IndicatedNblChain !== null) d.Receive.NumberOfIndicatedNbls = 5;
      },
    }),
    { strategy: at({}) },
  );
  assert.deepEqual(rules(miscount.r), ['NdisSim_PollData']);
  assert.match(miscount.r.violations[0]!.message, /count says 5 but the chain has 2/);
  const flags = run(
    'poll-flags',
    pollHooks({
      frames: 2,
      inPoll: (_a, d) => {
        d.Receive.Flags = NDIS_RECEIVE_FLAGS_RESOURCES;
      },
    }),
    { strategy: at({}) },
  );
  assert.deepEqual(rules(flags.r), ['NdisSim_PollData']);
  assert.match(flags.r.violations[0]!.message, /no RESOURCES/);
});

test('transmit: sends completed through NDIS_POLL_TRANSMIT_DATA reach the protocol; every send completes once', () => {
  const drv = scriptedDriver('poll-tx', pollHooks());
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: 'poll-tx' }],
    actions: [
      { atNs: 100 * ns.ms, action: { kind: 'send', device: 'nic0' } },
      { atNs: 100 * ns.ms, action: { kind: 'send', device: 'nic0' } },
      { atNs: 200 * ns.ms, action: { kind: 'send', device: 'nic0' } },
      { atNs: 1000 * ns.ms, action: { kind: 'remove', device: 'nic0' } },
    ],
    options: { verifier: 'collect', trace: true, strategy: at({}) },
  });
  const r = w.run(2 * ns.s);
  assert.deepEqual(rules(r), []);
  const b = w.ndis.adapters[0]!;
  assert.equal(b.data.completed, 3);
  assert.equal(b.sendsOutstanding, 0);
  const txs = ps(drv.adapters[0]!).log.filter((l) => / tx=[1-9]/.test(l));
  assert.ok(txs.length >= 2, txs.join(', '));
});

test('ChoiceSite.PollLimit: answer 1 gives each iteration limits of 1; a driver that assumes 64 is NdisSim_PollData only then; one that writes over the limit is judged by the limit NDIS set', () => {
  const tight = run('poll-tight', pollHooks({ frames: 3 }), { strategy: at({ [ChoiceSite.PollLimit]: 1 }) });
  assert.deepEqual(rules(tight.r), []);
  assert.deepEqual(tight.log().slice(1), [
    'poll rx=1 tx=0',
    'poll rx=1 tx=0',
    'poll rx=1 tx=0',
    'poll rx=0 tx=0',
    'notify true',
  ]);
  for (const e of calls(tight.w.trace.events, 'NdisPoll'))
    assert.deepEqual([e.data?.MaxNblsToIndicate, e.data?.MaxNblsToComplete], [1, 1]);
  // Three at once whatever NDIS says: fine at 64, caught at 1.
  assert.deepEqual(rules(run('poll-3', pollHooks({ frames: 3, take: 3 }), { strategy: at({}) }).r), []);
  const caught = run('poll-3-tight', pollHooks({ frames: 3, take: 3 }), {
    strategy: at({ [ChoiceSite.PollLimit]: 1 }),
  });
  assert.deepEqual(rules(caught.r), ['NdisSim_PollData']);
  assert.match(
    caught.r.violations[0]!.message,
    /3 receive NBL\(s\) in one iteration, above the 1 NDIS allowed/,
  );
  // Raising MaxNblsToIndicate in the poll data does not raise the limit.
  const raise = (_a: TestAdapter, d: NDIS_POLL_DATA): void => {
    d.Receive.MaxNblsToIndicate = 64;
  };
  const raised = run('poll-raised', pollHooks({ frames: 3, take: 3, inPoll: raise }), {
    strategy: at({ [ChoiceSite.PollLimit]: 1 }),
  });
  assert.deepEqual(rules(raised.r), ['NdisSim_PollData']);
});

test('ChoiceSite.PollIrql: answer 1 runs NdisPoll and NdisSetPollNotification at PASSIVE; the callbackIrql option fixes it; at DISPATCH the protocol sees NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL', () => {
  const passive = run('poll-passive', pollHooks({ frames: 1 }), {
    strategy: at({ [ChoiceSite.PollIrql]: 1 }),
  });
  assert.deepEqual(rules(passive.r), []);
  for (const e of [
    ...calls(passive.w.trace.events, 'NdisPoll'),
    ...calls(passive.w.trace.events, 'NdisSetPollNotification'),
  ])
    assert.equal(e.irql, 0);
  const forced = run('poll-forced', pollHooks({ frames: 1 }), { callbackIrql: 'passive' });
  for (const e of calls(forced.w.trace.events, 'NdisPoll')) assert.equal(e.irql, 0);
  const dispatch = run('poll-dispatch', pollHooks({ frames: 1 }), { callbackIrql: 'dispatch' });
  for (const e of calls(dispatch.w.trace.events, 'NdisPoll')) assert.equal(e.irql, 2);
  const recv = calls(dispatch.w.trace.events, 'ProtocolReceiveNetBufferLists')[0]!;
  assert.equal(recv.irql, 2);
});

test('ChoiceSite.PollDelay: answer 0 runs the first iteration within a DPC latency, answer 1 after NDIS held it 1 ms', () => {
  const firstPollNs = (pick: number) => {
    const { w } = run(`poll-delay-${pick}`, pollHooks({ frames: 1 }), {
      strategy: at({ [ChoiceSite.PollDelay]: pick }),
    });
    const req = w.trace.events.find((e) => e.kind === 'ddi' && e.what === 'NdisRequestPoll')!;
    return calls(w.trace.events, 'NdisPoll')[0]!.t - req.t;
  };
  const soon = firstPollNs(0);
  assert.ok(soon > 0 && soon < 10 * ns.us, `answer 0: ${soon} ns`);
  const held = firstPollNs(1);
  assert.ok(held >= pollHoldNs && held < pollHoldNs + 10 * ns.us, `answer 1: ${held} ns`);
});

test('requests merge while queued; a request during NdisPoll makes NDIS poll at least once more, even without progress', () => {
  const twice = run(
    'poll-merge',
    pollHooks({
      init: (a) =>
        after(a, 100, () => {
          NdisRequestPoll(ps(a).poll!, null);
          NdisRequestPoll(ps(a).poll!, null);
        }),
    }),
    { strategy: at({}) },
  );
  assert.deepEqual(twice.log().slice(1), ['poll rx=0 tx=0', 'notify true']);
  let again = 1;
  const inside = run(
    'poll-again',
    pollHooks({
      frames: 0,
      inPoll: (a) => {
        if (again-- > 0) NdisRequestPoll(ps(a).poll!, null);
      },
    }),
    { strategy: at({}) },
  );
  assert.deepEqual(inside.log().slice(1), ['poll rx=0 tx=0', 'poll rx=0 tx=0', 'notify true']);
});

test('NdisSetPollAffinity: later iterations run on that processor; a processor the machine lacks is NdisSim_BadParameter', () => {
  const pinned = run(
    'poll-affinity',
    pollHooks({
      frames: 100,
      init: (a) => NdisSetPollAffinity(ps(a).poll!, { Group: 0, Number: 1, Reserved: 0 }),
    }),
    { strategy: at({}) },
  );
  assert.deepEqual(rules(pinned.r), []);
  const polls = calls(pinned.w.trace.events, 'NdisPoll');
  assert.equal(polls.length, 3);
  for (const e of polls) assert.equal(e.cpu, 1);
  const bad = run(
    'poll-affinity-bad',
    pollHooks({ init: (a) => NdisSetPollAffinity(ps(a).poll!, { Group: 0, Number: 7, Reserved: 0 }) }),
  );
  assert.deepEqual(rules(bad.r), ['NdisSim_BadParameter']);
});

test('NdisDeregisterPoll drops an iteration requested and not yet run: no NdisPoll after it returns', () => {
  const hooks: Hooks = {
    ...pollHooks(),
    halt: (a) => {
      // Frames are waiting and a poll is requested, then the object goes at once.
      ps(a).frames = 3;
      NdisRequestPoll(ps(a).poll!, null);
      NdisDeregisterPoll(ps(a).poll!);
    },
  };
  const { r, w, drv } = run('poll-dereg-queued', hooks, { strategy: at({}) });
  assert.deepEqual(rules(r), []);
  assert.equal(calls(w.trace.events, 'NdisPoll').length, 0, 'the queued iteration never ran');
  assert.equal(ps(drv.adapters[0]!).frames, 3);
});

test('a halt inside the 1 ms a held poll waits: the object left registered is dropped with the adapter, and the poll never runs', () => {
  const { r, w } = run(
    'poll-held-at-halt',
    pollHooks({
      init: (a) =>
        after(a, 100, () => {
          ps(a).frames = 5;
          NdisRequestPoll(ps(a).poll!, null);
        }),
      keep: true,
    }),
    { strategy: at({ [ChoiceSite.PollDelay]: 1 }), removeMs: 100.5 },
  );
  assert.deepEqual(rules(r), ['NdisSim_PollNotDeregistered']);
  assert.equal(calls(w.trace.events, 'NdisPoll').length, 0, 'the held iteration never ran');
});

test('NdisSim_PollNotDeregistered: MiniportHaltEx returns with the object registered; NDIS drops it', () => {
  const { r, w } = run('poll-kept', pollHooks({ keep: true, frames: 1 }));
  assert.deepEqual(rules(r), ['NdisSim_PollNotDeregistered']);
  assert.equal(r.violations[0]!.ddi, 'MiniportHaltEx');
  assert.equal(w.ndis.adapters[0]!.polls, null);
});

test('NdisDeregisterPoll is PASSIVE only: from a timer (DISPATCH) it is NdisSim_Irql', () => {
  const { r } = run(
    'poll-dereg-dispatch',
    pollHooks({ keep: true, init: (a) => after(a, 100, () => NdisDeregisterPoll(ps(a).poll!)) }),
  );
  assert.deepEqual(rules(r), ['NdisSim_Irql']);
});

test('NdisSim_PollHandle: NdisRequestPoll on a deregistered poll object stops the machine (fatal)', () => {
  const { r } = run(
    'poll-use-after',
    pollHooks({
      init: (a) => {
        const p = ps(a).poll!;
        NdisDeregisterPoll(p);
        NdisRequestPoll(p, null);
      },
    }),
  );
  assert.deepEqual(rules(r), ['NdisSim_PollHandle']);
  assert.equal(r.violations[0]!.fatal, true);
  assert.match(r.violations[0]!.message, /after NdisDeregisterPoll/);
  const foreign = run('poll-foreign', pollHooks({ init: (a) => NdisRequestPoll(a.handle, null) }));
  assert.deepEqual(rules(foreign.r), ['NdisSim_PollHandle']);
});

test("NdisSim_PollDeregisterInPoll: NdisDeregisterPoll from the object's own NdisPoll at PASSIVE; at DISPATCH it is the IRQL rule", () => {
  const hooks = pollHooks({ frames: 1, keep: true, inPoll: (a) => NdisDeregisterPoll(ps(a).poll!) });
  const passive = run('poll-self-dereg', hooks, { callbackIrql: 'passive' });
  assert.deepEqual(rules(passive.r), ['NdisSim_PollDeregisterInPoll']);
  const dispatch = run('poll-self-dereg-d', hooks, { callbackIrql: 'dispatch' });
  assert.equal(rules(dispatch.r)[0], 'NdisSim_Irql');
});

test('NdisSim_PollModeVersion: an NDIS 6.80 driver gets NDIS_STATUS_NOT_SUPPORTED; bad characteristics get NDIS_STATUS_INVALID_PARAMETER', () => {
  const old = run('poll-old', pollHooks({ minor: 80 }));
  assert.deepEqual(rules(old.r), ['NdisSim_PollModeVersion']);
  assert.deepEqual(old.log(), [`register 0x${NDIS_STATUS_NOT_SUPPORTED.toString(16)}`]);
  const drv = scriptedDriver('poll-badchars', {
    characteristics: (c) => {
      c.MinorNdisVersion = 85;
    },
    initialize: (a) => {
      const r = NdisRegisterPoll(a.handle, a, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: 2 },
        PollHandler: () => {},
        SetPollNotificationHandler: () => {},
      });
      a.state.status = r.Status;
      a.state.handle = r.PollHandle;
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    options: { verifier: 'collect' },
  });
  const r = w.run(100 * ns.ms);
  assert.deepEqual(rules(r), []);
  assert.equal(drv.adapters[0]!.state.status, NDIS_STATUS_INVALID_PARAMETER);
  assert.equal(drv.adapters[0]!.state.handle, null);
});

test('polling goes on across pause: NBLs an iteration hands NDIS after MiniportPause returned (adapter Paused) are NdisSim_ReceiveNotAllowed (R1.7)', () => {
  // The removal pauses the adapter; MiniportPause masks nothing and returns at once, but
  // a poll it requested (frames were waiting) runs after, and NdisPoll does not look at
  // the pause.
  const hooks: Hooks = {
    ...pollHooks(),
    pause: (a) => {
      ps(a).frames = 2;
      NdisRequestPoll(ps(a).poll!, null);
      return NDIS_STATUS_SUCCESS;
    },
  };
  const { r, log } = run('poll-paused', hooks, { strategy: at({}) });
  assert.deepEqual(rules(r), ['NdisSim_ReceiveNotAllowed']);
  assert.match(r.violations[0]!.message, /Paused/);
  assert.deepEqual(log().slice(1, 2), ['poll rx=2 tx=0']);
});
