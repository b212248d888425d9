// The scenario action cancel-sends: the protocol cancels its sends in flight
// (NdisCancelSendNetBufferLists with their cancel ID), down through the filters'
// FilterCancelSendNetBufferLists to MiniportCancelSend (R6.9: what is cancelled comes
// back with NDIS_STATUS_SEND_ABORTED). Filter trial: nothing built in ever cancelled.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { variantOfMonitorLwf, withStatusPassedOn } from '../src/drivers/lwf.ts';
import {
  NDIS_STATUS_SEND_ABORTED,
  NdisFCancelSendNetBufferLists,
  NdisFSendNetBufferLists,
  NdisFSendNetBufferListsComplete,
  type NET_BUFFER_LIST,
} from '../src/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';

/** Holds each send until the next one comes, then passes it on; cancels what it holds. */
const holder = variantOfMonitorLwf('send-holder', 'holds each send until the next', (c) => {
  let held: NET_BUFFER_LIST[] = [];
  c.SendNetBufferListsHandler = (m, nbls, port, flags) => {
    for (const x of held) NdisFSendNetBufferLists(m.handle, x, port, flags);
    held = [];
    for (let x: NET_BUFFER_LIST | null = nbls; x !== null; ) {
      const next: NET_BUFFER_LIST | null = x.Next;
      x.Next = null;
      held.push(x);
      x = next;
    }
  };
  c.SendNetBufferListsCompleteHandler = (m, nbls, flags) =>
    NdisFSendNetBufferListsComplete(m.handle, nbls, flags);
  c.CancelSendNetBufferListsHandler = (m, cancelId) => {
    const mine = held.filter((x) => x.CancelId === cancelId);
    held = held.filter((x) => x.CancelId !== cancelId);
    for (const x of mine) {
      x.Status = NDIS_STATUS_SEND_ABORTED;
      NdisFSendNetBufferListsComplete(m.handle, x, 0);
    }
    NdisFCancelSendNetBufferLists(m.handle, cancelId);
  };
  withStatusPassedOn(c);
});

test('cancel-sends: the protocol cancels its sends in flight; a filter holding one completes it with NDIS_STATUS_SEND_ABORTED and passes the cancel down to MiniportCancelSend', () => {
  const text = `until: 300ms
filters: [{ driver: send-holder }]
protocols: [{ name: tcpip, traffic: { rate: 100 } }]
devices: [{ name: nic0, driver: healthy-nic }]
actions: [{ at: 105ms, do: cancel-sends, device: nic0 }]
`;
  const s = parseScenarioText(text, 'cancel.yaml', driverNames([holder]));
  const w = buildWorld(s, { drivers: [holder] });
  assert.equal(w.run(untilNs(s)).verdict, 'ok');
  const calls = w.trace.events.filter((e) => e.kind === 'call').map((e) => e.what);
  const i = calls.indexOf('FilterCancelSendNetBufferLists');
  assert.ok(i >= 0 && calls.indexOf('MiniportCancelSend', i) > i, 'the cancel goes down through the filter');
  const view = w.summary().protocols[0]!.bindings[0]!;
  assert.equal(view.sendStatus[NDIS_STATUS_SEND_ABORTED], 1, JSON.stringify(view.sendStatus));
  // All but the last, which the filter holds until a next that never comes.
  assert.equal(view.sendCompleted, view.sent - 1);
  // Sends after the cancel carry a new cancel ID and go through.
  assert.ok(view.sent > 20, `${view.sent} sent`);
});

test('cancel-sends is an action on a device: without one it is bad input', () => {
  assert.throws(
    () => parseScenarioText('actions: [{ at: 1s, do: cancel-sends }]\n', 'c.yaml', driverNames()),
    /c\.yaml: actions\[0\]\.device: /,
  );
});
