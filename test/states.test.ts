// R1.1, R1.2, R1.4: the adapter state table, every state × event.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AdapterEvent,
  type AdapterState,
  adapterEvents,
  adapterStates,
  adapterTable,
  deferred,
  eventCause,
  transition,
} from '../src/ndis/states.ts';

// R1.2, transcribed from ../shared/ndis/01-states.md independently of the table.
const r12: [AdapterState[], AdapterEvent, AdapterState][] = [
  [['Halted'], 'MiniportInitializeEx', 'Initializing'],
  [['Initializing'], 'InitializeSucceeded', 'Paused'],
  [['Initializing'], 'InitializeFailed', 'Halted'],
  [['Paused'], 'MiniportRestart', 'Restarting'],
  [['Restarting'], 'RestartSucceeded', 'Running'],
  [['Restarting'], 'RestartFailed', 'Paused'],
  [['Running'], 'MiniportPause', 'Pausing'],
  [['Pausing'], 'PauseCompleted', 'Paused'],
  [['Paused'], 'MiniportHaltEx', 'Halted'],
  [['Paused', 'Restarting', 'Running', 'Pausing'], 'MiniportShutdownEx', 'Shutdown'],
];

function expected(state: AdapterState, event: AdapterEvent): AdapterState | null {
  for (const [from, ev, to] of r12) if (ev === event && from.includes(state)) return to;
  return null;
}

test('R1.1: seven states, Halted first', () => {
  assert.deepEqual([...adapterStates].sort(), [
    'Halted',
    'Initializing',
    'Paused',
    'Pausing',
    'Restarting',
    'Running',
    'Shutdown',
  ]);
  assert.deepEqual(Object.keys(adapterTable).sort(), [...adapterStates].sort());
});

for (const state of adapterStates) {
  for (const event of adapterEvents) {
    const want = expected(state, event);
    test(`R1.2: ${state} × ${event} → ${want ?? 'violation'}`, () => {
      assert.equal(transition(state, event), want);
    });
  }
}

test('R1.3: halt only from Paused', () => {
  for (const s of adapterStates) assert.equal(transition(s, 'MiniportHaltEx') !== null, s === 'Paused', s);
});

test('R1.6: nothing leaves Shutdown', () => {
  for (const e of adapterEvents) assert.equal(transition('Shutdown', e), null, e);
});

test('R1.4: NDIS defers PnP operations while Pausing or Restarting', () => {
  for (const e of ['MiniportHaltEx', 'MiniportInitializeEx', 'MiniportPause', 'MiniportRestart'] as const) {
    assert.equal(deferred('Pausing', e), true, `Pausing defers ${e}`);
  }
  for (const e of ['MiniportHaltEx', 'MiniportInitializeEx', 'MiniportPause'] as const) {
    assert.equal(deferred('Restarting', e), true, `Restarting defers ${e}`);
  }
  assert.equal(deferred('Running', 'MiniportPause'), false);
  assert.equal(deferred('Paused', 'MiniportHaltEx'), false);
});

test('R1.10: completions are caused by the driver, calls by NDIS', () => {
  assert.equal(eventCause.PauseCompleted, 'driver');
  assert.equal(eventCause.RestartSucceeded, 'driver');
  assert.equal(eventCause.MiniportPause, 'ndis');
  assert.equal(eventCause.MiniportHaltEx, 'ndis');
});
