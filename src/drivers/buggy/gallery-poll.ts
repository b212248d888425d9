// Gallery, NDIS Poll Mode: NDIS 6.85 miniports whose receive path runs on a poll
// object. Each driver is the scriptable SimNic miniport with one poll object and one
// realistic mistake in how it registers, uses or gives it up. See index.ts.

import {
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_POLL_CHARACTERISTICS_REVISION_1,
  type NDIS_POLL_DATA,
  NDIS_STATUS_SUCCESS,
  NdisAllocateNetBufferAndNetBufferList,
  NdisAllocateNetBufferListPool,
  NdisDeregisterPoll,
  NdisReadRegisterUlong,
  NdisRegisterPoll,
  NdisRequestPoll,
  type NET_BUFFER_LIST,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
  SimNicReg,
} from '../../index.ts';
import { after, galleryDriver, type Hooks, type TestAdapter } from './base.ts';
import type { GalleryEntry } from './entry.ts';

const removeAt1s = { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] };

/** What the poll drivers keep per adapter (in `a.state`). */
interface Rx {
  poll: NDIS_HANDLE | null;
  /** Receive buffers the driver owns. */
  free: NET_BUFFER_LIST[];
  /** Frames waiting in the (simulated) receive ring. */
  ring: number;
}
const rx = (a: TestAdapter): Rx => a.state as unknown as Rx;

/**
 * A 6.85 miniport (`minor` to declare another) with a receive pool and one poll object
 * registered in MiniportInitializeEx; `poll` is its NdisPoll (default: `drain`), and
 * `frames` arrive in the ring at 500 ms with an NdisRequestPoll, as its ISR would make.
 * The halt deregisters the object unless `hooks.halt` says otherwise.
 */
function pollDriver(
  poll: (a: TestAdapter, d: NDIS_POLL_DATA) => void,
  hooks: Hooks = {},
  o: { minor?: number; frames?: number } = {},
): Hooks {
  return {
    ...hooks,
    characteristics: (c) => {
      c.MinorNdisVersion = o.minor ?? 85;
    },
    initialize: (a) => {
      const s: Rx = { poll: null, free: [], ring: 0 };
      a.state = s as unknown as Record<string, unknown>;
      const pool = NdisAllocateNetBufferListPool(a.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 0x6c6c6f70, // 'poll'
        DataSize: 0,
      });
      if (pool === null) return NDIS_STATUS_SUCCESS;
      a.pools.push(pool);
      for (let i = 0; i < 128; i++) {
        const nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, new Uint8Array(1514), 0, 60);
        if (nbl === null) break;
        nbl.SourceHandle = a.handle;
        a.nbls.push(nbl);
        s.free.push(nbl);
      }
      const r = NdisRegisterPoll(a.handle, a, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_POLL_CHARACTERISTICS_REVISION_1 },
        PollHandler: (ctx, d) => poll(ctx as TestAdapter, d),
        SetPollNotificationHandler: () => {},
      });
      // Without a poll object the driver would fall back to its DPC; this one just runs without receives.
      s.poll = r.Status === NDIS_STATUS_SUCCESS ? r.PollHandle : null;
      if (o.frames !== undefined && s.poll !== null)
        after(a, 500, () => {
          s.ring += o.frames!;
          NdisRequestPoll(s.poll!, null);
        });
      return NDIS_STATUS_SUCCESS;
    },
    returnNbls: (a, chain) => {
      for (let x: NET_BUFFER_LIST | null = chain; x !== null; ) {
        const next: NET_BUFFER_LIST | null = x.Next;
        x.Next = null;
        rx(a).free.push(x);
        x = next;
      }
    },
    halt:
      hooks.halt ??
      ((a) => {
        if (rx(a).poll !== null) NdisDeregisterPoll(rx(a).poll!);
        rx(a).poll = null;
      }),
  };
}

/** NdisPoll that takes at most `max` frames off the ring into one receive chain. */
function take(a: TestAdapter, d: NDIS_POLL_DATA, max: number): void {
  const s = rx(a);
  let head: NET_BUFFER_LIST | null = null;
  let k = 0;
  while (k < max && s.ring > 0 && s.free.length > 0) {
    const nbl = s.free.pop()!;
    nbl.Next = head;
    head = nbl;
    s.ring--;
    k++;
  }
  d.Receive.IndicatedNblChain = head;
  d.Receive.NumberOfIndicatedNbls = k;
}

/** The NdisPoll of a correct driver: no more than the iteration allows. */
const drain = (a: TestAdapter, d: NDIS_POLL_DATA): void => take(a, d, d.Receive.MaxNblsToIndicate);

export const galleryPoll: GalleryEntry[] = [
  {
    rule: 'NdisSim_PollNotDeregistered',
    mistake:
      'MiniportHaltEx stops the NIC, deregisters the interrupt and frees the receive buffers, but never deregisters the poll object MiniportInitializeEx registered for the receive queue.',
    driver: galleryDriver(
      'bad-poll-kept',
      pollDriver(drain, { halt: () => {} }, { frames: 8 }),
      'a poll-mode miniport whose halt forgets NdisDeregisterPoll',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_PollHandle',
    mistake:
      'MiniportHaltEx deregisters the poll object first, then runs the stop-receive routine it shares with MiniportPause, which asks for one last poll to flush the receive ring: NdisRequestPoll on the handle it just gave up.',
    driver: galleryDriver(
      'bad-poll-stale',
      pollDriver(drain, {
        halt: (a) => {
          const poll = rx(a).poll;
          if (poll !== null) NdisDeregisterPoll(poll);
          // stopReceive(): mask RX, then flush what is left through the poll object.
          if (poll !== null) NdisRequestPoll(poll, null);
        },
      }),
      'a poll-mode miniport whose halt requests a poll after deregistering it',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_PollData',
    mistake:
      'NdisPoll was ported from the interrupt DPC, which indicated everything in the receive ring: it chains the whole ring (100 frames) into one iteration and ignores MaxNblsToIndicate (64).',
    driver: galleryDriver(
      'bad-poll-over-limit',
      pollDriver((a, d) => take(a, d, Number.POSITIVE_INFINITY), {}, { frames: 100 }),
      'a poll-mode miniport that indicates past the work limit',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_PollModeVersion',
    mistake:
      'The driver took its poll-mode receive path from a newer sample but still declares NDIS 6.80 in its characteristics: NdisRegisterPoll is for NDIS 6.85 and later miniports, and NDIS fails it.',
    driver: galleryDriver(
      'bad-poll-old-version',
      pollDriver(drain, {}, { minor: 80 }),
      'a miniport that declares NDIS 6.80 and registers a poll object',
    ),
    scenario: removeAt1s,
  },
  {
    rule: 'NdisSim_PollDeregisterInPoll',
    mistake:
      'A 100 ms watchdog requests a poll in case an interrupt was lost; when the NIC stops answering (its registers read all ones), NdisPoll deregisters its own poll object to stop being polled, and that waits for the running poll: itself.',
    driver: galleryDriver(
      'bad-poll-self-deregister',
      pollDriver(
        (a, d) => {
          const gone = a.space !== null && NdisReadRegisterUlong(a.space.at(SimNicReg.STATUS)) === 0xffffffff;
          if (gone && rx(a).poll !== null) {
            NdisDeregisterPoll(rx(a).poll!);
            rx(a).poll = null;
            return;
          }
          drain(a, d);
        },
        {
          restart: (a) => {
            const tick = (x: TestAdapter): void => {
              if (rx(x).poll === null) return;
              NdisRequestPoll(rx(x).poll!, null);
              after(x, 100, tick);
            };
            after(a, 100, tick);
            return NDIS_STATUS_SUCCESS;
          },
        },
      ),
      'a poll-mode miniport whose NdisPoll deregisters its own poll object',
    ),
    // PASSIVE polls: at DISPATCH the IRQL rule of NdisDeregisterPoll would fire first.
    scenario: { ndis: { callbackIrql: 'passive' }, device: { faults: { vanishAt: '1s' } } },
  },
];
