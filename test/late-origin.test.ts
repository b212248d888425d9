// Violations NDIS or the kernel finds later, at halt, at unload or by a watchdog, have
// no call site: no driver code is running then. They say instead where in the driver
// they began: the callback that allocated or last set the object left behind, and when
// (Violation.origin, the block's "Set in" / "Made in" line, and the message).
// R2.5, R2.10, R8.4, R8.7, R8.8.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { galleryScenario } from '../src/drivers/buggy/index.ts';
import {
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NdisAllocateIoWorkItem,
  NdisAllocateNetBufferListPool,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisQueueIoWorkItem,
  NdisSetTimerObject,
  NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
} from '../src/index.ts';
import { formatBugCheckReport } from '../src/report/summary.ts';
import type { Violation } from '../src/verifier/verifier.ts';
import { cli } from './helpers/cli.ts';
import { removedScripted, type TestAdapter, timerCharacteristics } from './helpers/scripted.ts';

/** A fixed-point time as the reports print it. */
const t = String.raw`\d+\.\d{6} s`;

/** A named timer function: the report names it. */
function statsTick(): void {}

function statsTimer(a: TestAdapter): NDIS_HANDLE {
  const r = NdisAllocateTimerObject(a.handle, timerCharacteristics(statsTick));
  assert.ok(r.TimerObject !== null);
  a.state.stats = r.TimerObject;
  return r.TimerObject;
}

function only(vs: readonly Violation[], rule: string): Violation {
  const found = vs.filter((v) => v.rule === rule);
  assert.equal(found.length, 1, vs.map((v) => `${v.rule}: ${v.message}`).join('\n'));
  return found[0]!;
}

test('CancelTimerObject (R8.7): a timer left set at MiniportHaltEx names where it was allocated, its function, and the callback that last set it', () => {
  const { w, r } = removedScripted('origin-halt-timer-set', {
    initialize: (a) => {
      statsTimer(a);
      return NDIS_STATUS_SUCCESS;
    },
    // Set again at each restart, due long after the removal: never cancelled.
    restart: (a) => {
      NdisSetTimerObject(a.state.stats as NDIS_HANDLE, -50_000_000, 0, null);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const v = only(r.violations, 'CancelTimerObject');
  assert.match(
    v.message,
    new RegExp(
      `^MiniportHaltEx returned with a timer still set \\(R8\\.7\\): the timer object allocated in MiniportInitializeEx at ${t}, function statsTick, last set in MiniportRestart at ${t}$`,
    ),
  );
  assert.equal(v.callSite, null);
  assert.equal(v.origin?.label, 'Set in');
  assert.match(
    v.origin!.at,
    new RegExp(
      `^MiniportRestart at ${t} \\(timer function statsTick; allocated in MiniportInitializeEx at ${t}\\)$`,
    ),
  );
  // The block shows it on a line of its own, under Where.
  const block = formatBugCheckReport(v, w.trace, false);
  const where = block.findIndex((l) => l.startsWith('  Where:'));
  assert.equal(block[where + 1], `  Set in:    ${v.origin!.at}`);
});

test('NdisSim_TimerNotFreed (R8.4): a timer object cancelled but not freed at MiniportHaltEx names where it was allocated', () => {
  const { r } = removedScripted('origin-halt-timer-kept', {
    initialize: (a) => {
      statsTimer(a);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      NdisCancelTimerObject(a.state.stats as NDIS_HANDLE);
    },
  });
  const v = only(r.violations, 'NdisSim_TimerNotFreed');
  assert.match(
    v.message,
    new RegExp(
      `: the timer object allocated in MiniportInitializeEx at ${t}, function statsTick, never set$`,
    ),
  );
  assert.equal(v.origin?.label, 'Made in');
  assert.match(
    v.origin!.at,
    new RegExp(`^MiniportInitializeEx at ${t} \\(NdisAllocateTimerObject; timer function statsTick\\)$`),
  );
});

test('NdisSim_InitFailedTimerSet (R2.5): a failing MiniportInitializeEx that leaves a timer set names the timer', () => {
  const { r } = removedScripted('origin-init-fails-timer-set', {
    initialize: (a) => {
      NdisSetTimerObject(statsTimer(a), -50_000_000, 0, null);
      return NDIS_STATUS_FAILURE;
    },
  });
  const v = only(r.violations, 'NdisSim_InitFailedTimerSet');
  assert.match(
    v.message,
    new RegExp(
      `still set \\(R2\\.5\\): the timer object allocated in MiniportInitializeEx at ${t}, function statsTick, last set in MiniportInitializeEx at ${t}$`,
    ),
  );
  assert.equal(v.origin?.label, 'Set in');
});

test('Init_NdisAllocateIoWorkItem (R8.8): a work item not freed at MiniportHaltEx names where it was allocated and last queued', () => {
  const { r } = removedScripted('origin-halt-workitem', {
    initialize: (a) => {
      a.state.work = NdisAllocateIoWorkItem(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      NdisQueueIoWorkItem(a.state.work as NDIS_HANDLE, () => {}, a);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const v = only(r.violations, 'Init_NdisAllocateIoWorkItem');
  assert.match(
    v.message,
    new RegExp(
      `\\(R8\\.8\\): the work item allocated in MiniportInitializeEx at ${t}, last queued in MiniportRestart at ${t}$`,
    ),
  );
  assert.equal(v.origin?.label, 'Made in');
  assert.match(v.origin!.at, new RegExp(`^MiniportInitializeEx at ${t} \\(NdisAllocateIoWorkItem\\)$`));
});

test("NdisSim_WorkItemNotFreed (R8.8): a work item allocated in MiniportRestart, not MiniportInitializeEx, and not freed at MiniportHaltEx is not SDV's Init_NdisAllocateIoWorkItem (review-dv #7)", () => {
  const { r } = removedScripted('origin-halt-workitem-restart', {
    restart: (a) => {
      NdisQueueIoWorkItem(NdisAllocateIoWorkItem(a.handle) as NDIS_HANDLE, () => {}, a);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.ok(!r.violations.some((x) => x.rule === 'Init_NdisAllocateIoWorkItem'));
  const v = only(r.violations, 'NdisSim_WorkItemNotFreed');
  assert.equal(v.ddi, 'MiniportHaltEx');
  assert.match(v.message, /the work item allocated in MiniportRestart at /);
});

test('NdisSim_WorkItemNotFreed (R8.8): a work item of the driver handle left at MiniportDriverUnload names DriverEntry', () => {
  const { r } = removedScripted('origin-unload-workitem', {
    driverEntry: (h) => {
      NdisAllocateIoWorkItem(h);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const v = only(r.violations, 'NdisSim_WorkItemNotFreed');
  assert.match(v.message, new RegExp(`: the work item allocated in DriverEntry at ${t}, never queued$`));
  assert.match(v.origin!.at, new RegExp(`^DriverEntry at ${t} \\(NdisAllocateIoWorkItem\\)$`));
});

test('NdisSim_ResourceNotFreed (R2.10): an NBL pool left at MiniportHaltEx names the callback that allocated it', () => {
  const { r } = removedScripted('origin-halt-pool', {
    restart: (a) => {
      a.state.jumbo ??= NdisAllocateNetBufferListPool(a.handle, {
        Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
        ProtocolId: 0,
        fAllocateNetBuffer: true,
        ContextSize: 0,
        PoolTag: 0x74736574,
        DataSize: 9014,
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const v = only(r.violations, 'NdisSim_ResourceNotFreed');
  assert.match(
    v.message,
    new RegExp(`1 NBL pool\\(s\\) \\(NdisFreeNetBufferListPool; allocated in MiniportRestart at ${t}\\)`),
  );
  assert.equal(v.origin?.label, 'Made in');
  assert.match(v.origin!.at, new RegExp(`^MiniportRestart at ${t} \\(NdisAllocateNetBufferListPool\\)$`));
});

test('CancelTimerObject (R8.7): the run report and the HTML report show the "Set in" line of a timer left set', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-origin-'));
  const html = join(dir, 'r.html');
  const out = cli('run', galleryScenario('CancelTimerObject'), '--quiet', '--html', html);
  assert.equal(out.status, 0, out.stderr);
  const line = new RegExp(
    `^ {2}Set in: {4}(MiniportInitializeEx at ${t} \\(timer function .+\\))$`,
    'm',
  ).exec(out.stdout);
  assert.ok(line !== null, out.stdout);
  assert.ok(readFileSync(html, 'utf8').includes(`<dt>Set in</dt><dd>${line[1]!}</dd>`));
  rmSync(dir, { recursive: true });
});

test('NdisSim_CallbackAfterHalt (R2.10): a timer that fires after MiniportHaltEx names where it was set, and a work item queued in the halt names the halt', () => {
  const { r } = removedScripted('origin-after-halt', {
    initialize: (a) => {
      a.state.work = NdisAllocateIoWorkItem(a.handle);
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      a.state.stats ??= statsTimer(a);
      NdisSetTimerObject(a.state.stats as NDIS_HANDLE, -15_000_000, 0, null);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      NdisQueueIoWorkItem(a.state.work as NDIS_HANDLE, () => {}, a);
    },
  });
  const late = r.violations.filter((v) => v.rule === 'NdisSim_CallbackAfterHalt');
  const timer = late.find((v) => v.ddi === 'NdisTimerFunction')!;
  assert.match(
    timer.message,
    new RegExp(
      `\\(the timer object allocated in MiniportRestart at ${t}, function statsTick, last set in MiniportRestart at ${t}\\)$`,
    ),
  );
  assert.equal(timer.origin?.label, 'Set in');
  assert.match(timer.origin!.at, new RegExp(`^MiniportRestart at ${t} \\(timer function statsTick;`));
  const work = late.find((v) => v.ddi === 'NdisIoWorkItemFunction')!;
  assert.match(
    work.message,
    new RegExp(
      `\\(the work item allocated in MiniportInitializeEx at ${t}, last queued in MiniportHaltEx at ${t}\\)$`,
    ),
  );
  assert.match(
    work.origin!.at,
    new RegExp(
      `^MiniportHaltEx at ${t} \\(allocated with NdisAllocateIoWorkItem in MiniportInitializeEx at ${t}\\)$`,
    ),
  );
  assert.equal(work.origin!.label, 'Queued in');
});

test('Init_DeRegisterInterrupt (R2.10): an interrupt still registered at MiniportHaltEx names where it was registered', () => {
  const { r } = removedScripted('origin-halt-interrupt', {
    // The base driver registers its interrupt in MiniportInitializeEx; this halt forgets it.
    halt: (a) => {
      a.interrupt = null;
    },
  });
  const v = only(r.violations, 'Init_DeRegisterInterrupt');
  assert.match(
    v.message,
    new RegExp(`still registered \\(R2\\.10\\): registered in MiniportInitializeEx at ${t}$`),
  );
  assert.equal(v.origin?.label, 'Made in');
  assert.match(v.origin!.at, new RegExp(`^MiniportInitializeEx at ${t} \\(NdisMRegisterInterruptEx\\)$`));
});
