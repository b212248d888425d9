// The terminal timeline: indentation follows the thread an event ran on, callbacks
// name their adapter, and the actor column is as wide as the widest actor.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';

function timeline(file: string): string[] {
  const s = loadScenario(file, driverNames());
  const w = buildWorld(s, { seed: 1 });
  w.run(untilNs(s));
  return formatTimeline(w.trace.events, { color: false });
}

test('R8.12: a thread asleep in NdisMSleep keeps its depth; what other threads do meanwhile is not indented under it', () => {
  // A work item sleeps in a loop from 0.2 s; the removal at 1.05 s runs on other threads.
  const lines = timeline('examples/gallery/NdisSim_StaleHandle.yaml');
  const sleep = lines.findIndex((l) => / {3}NdisMSleep\(MicrosecondsToSleep=100000\)$/.test(l));
  assert.ok(sleep > 0, 'the work item sleeps one level inside NdisIoWorkItemFunction');
  const halt = lines.find((l) => l.includes('MiniportHaltEx('));
  assert.match(
    halt ?? '',
    /PASSIVE +bad-remove-after-halt → MiniportHaltEx\(nic0, HaltAction=NdisHaltDeviceDisabled\)$/,
  );
  const irp = lines.find((l) => l.includes('IRP_MN_QUERY_REMOVE_DEVICE → nic0'));
  assert.match(irp ?? '', /PASSIVE +pnp +IRP_MN_QUERY_REMOVE_DEVICE/);
  assert.doesNotMatch(irp ?? '', /pnp {22}/, 'at depth 0, not under the sleeping work item');
});

test('callbacks name their adapter first; the actor column fits the widest actor', () => {
  const lines = timeline('examples/gallery/NdisSim_StaleHandle.yaml');
  const width = 'bad-remove-after-halt'.length;
  assert.equal(lines[0], `${'time'.padStart(14)}  cpu ${'irql'.padEnd(8)} ${'actor'.padEnd(width)} event`);
  const event = lines[0]!.indexOf('event');
  for (const l of lines.slice(1)) assert.equal(l[event - 1], ' ', `column: ${l}`);
  assert.ok(lines.some((l) => l.endsWith('→ ProtocolBindAdapterEx(nic0)')));
  assert.ok(lines.some((l) => l.endsWith('→ MiniportPause(nic0, PauseReason=NDIS_PAUSE_NDIS_INTERNAL)')));
});
