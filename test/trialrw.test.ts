// Drivers from the session-25 outside-developer trial of control-device reads and
// writes, direct I/O and cancel-safe queues (test/fixtures/trialrw): a capture miniport
// whose reads wait in a CSQ filled by a receive timer (DO_DIRECT_IO) and whose writes
// a work item indicates up, and a diagnostics device (DO_BUFFERED_IO) with a bounded
// CSQ (IoCsqInitializeEx) and waits named by IO_CSQ_IRP_CONTEXT. Correct, both pass
// explore through cancel, close, sleep, removal and exit; each mistake switched on is
// caught by the rule that fits, with a message that says what to change.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exploreSeeds } from '../src/explore/explore.ts';
import {
  type DriverModule,
  FILE_DEVICE_NETWORK,
  NDIS_STATUS_FAILURE,
  STATUS_DEVICE_BUSY,
  STATUS_INSUFFICIENT_RESOURCES,
} from '../src/index.ts';
import { ntStatusName } from '../src/report/format.ts';
import { untilNs } from '../src/scenario/build.ts';
import { type DiagBug, diagDriver, trialDiag } from './fixtures/trialrw/diag.ts';
import { type PcapBug, pcapDriver, trialPcap } from './fixtures/trialrw/pcap.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';
import { ns, testWorld } from './helpers/world.ts';

const pcapYaml = 'test/fixtures/trialrw/pcap.yaml';
const diagYaml = 'test/fixtures/trialrw/diag.yaml';

/** Seed 1 of the scenario with `driver` (a mistake switched on) in place of `correct`: its violations. */
function violations(yaml: string, correct: DriverModule, driver: DriverModule) {
  const drivers = [correct, driver];
  const s = exampleScenario(yaml, drivers, driver.name);
  return runExample(s, drivers, 1).r.violations.map((v) => [v.rule, v.ddi, v.message] as const);
}

test('trial drivers: the capture miniport (CSQ reads, DO_DIRECT_IO, work-item writes, METHOD_OUT_DIRECT stats) and the diagnostics device (IoCsqInsertIrpEx, IoCsqRemoveIrp) pass 100 explored seeds', () => {
  for (const [yaml, drv] of [
    [pcapYaml, trialPcap],
    [diagYaml, trialDiag],
  ] as const) {
    const drivers = [drv];
    const s = exampleScenario(yaml, drivers, drv.name);
    const { r, w } = runExample(s, drivers, 1, true);
    assert.equal(r.verdict, 'ok', r.bugCheck?.message);
    assert.deepEqual(r.pending, []);
    assert.ok(w.ioResults.some((x) => x.request === 'ReadFile' && x.statusName === 'STATUS_SUCCESS'));
    const ex = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: s.verifier }, 1, 100);
    assert.deepEqual(
      ex.groups.map((g) => g.signature),
      [],
    );
  }
});

test('ntstatus.h codes a driver completes with: STATUS_INSUFFICIENT_RESOURCES and STATUS_DEVICE_BUSY are exported and named in the timeline; FILE_DEVICE_NETWORK for CTL_CODE', () => {
  assert.equal(STATUS_INSUFFICIENT_RESOURCES, 0xc000009a);
  assert.equal(ntStatusName(STATUS_INSUFFICIENT_RESOURCES), 'STATUS_INSUFFICIENT_RESOURCES');
  assert.equal(STATUS_DEVICE_BUSY, 0x80000011);
  assert.equal(ntStatusName(STATUS_DEVICE_BUSY), 'STATUS_DEVICE_BUSY');
  assert.equal(FILE_DEVICE_NETWORK, 0x12);
});

const pcapBug = (bug: PcapBug) => violations(pcapYaml, trialPcap, pcapDriver(bug));
const diagBug = (bug: DiagBug) => violations(diagYaml, trialDiag, diagDriver(bug));

test('cancel-safe-irp-queues: completing an IRP still in the CSQ names the queue and IoCsqRemoveNextIrp/IoCsqRemoveIrp (0xC9/0x07)', () => {
  const v = pcapBug('complete-in-queue');
  assert.equal(v[0]?.[0], 'NdisSim_IrpCompletedWithCancelRoutine');
  assert.match(v[0]![2], /still in a cancel-safe queue .*IoCsqRemoveNextIrp or IoCsqRemoveIrp/);
});

test('nf-wdm-iocsqremovenextirp: a CsqRemoveIrp that leaves the IRP in the driver list makes CsqPeekNextIrp return a completed IRP: NdisSim_ObjectFreedInUse (it passed before)', () => {
  const v = pcapBug('remove-noop');
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_ObjectFreedInUse', 'CsqPeekNextIrp']],
  );
  assert.match(v[0]![2], /its CsqRemoveIrp did not take out the IRP/);
});

test('irp-mj-write over its own MDL: a write completed while its NBL is still up the stack (no NDIS_RECEIVE_FLAGS_RESOURCES) is NdisSim_ObjectFreedInUse when the NBL comes back (it passed before)', () => {
  const v = pcapBug('complete-before-return');
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_ObjectFreedInUse', 'MiniportReturnNetBufferLists']],
  );
  assert.match(v[0]![2], /complete the request when the NBL comes back/);
});

test('methods-for-accessing-data-buffers: Irp->MdlAddress of a DO_BUFFERED_IO request is NULL, and the message says so', () => {
  for (const v of [pcapBug('buffered-mdl'), diagBug('mdl-on-buffered')]) {
    assert.equal(v[0]?.[0], 'NdisSim_BadParameter');
    assert.match(v[0]![2], /Mdl is NULL\. Irp->MdlAddress is NULL for a request of a DO_BUFFERED_IO device/);
  }
});

test('a dispatch routine that returns STATUS_SUCCESS after IoCsqInsertIrpEx queued its IRP: NdisSim_IrpNotCompleted names IoCsqInsertIrpEx, not an IoMarkIrpPending the driver never called', () => {
  const v = diagBug('insertex-return-status');
  assert.equal(v[0]?.[0], 'NdisSim_IrpNotCompleted');
  assert.match(
    v[0]![2],
    /gave the IRP to IoCsqInsertIrpEx, which marked it pending, then returned STATUS_SUCCESS/,
  );
});

test('a status that is no NTSTATUS (a constant ndis-sim does not export reads as undefined under tsx) from CsqInsertIrpEx is NdisSim_BadParameter; it was taken as success (NT_SUCCESS(undefined)) and the IRP queued', () => {
  const v = diagBug('unexported-status');
  assert.deepEqual(
    v.map(([rule, ddi]) => [rule, ddi]),
    [['NdisSim_BadParameter', 'CsqInsertIrpEx']],
  );
  assert.match(v[0]![2], /CsqInsertIrpEx returned undefined, which is not an NTSTATUS/);
});

test('the other mistakes are caught by the rules that were there: pending without queueing, MDL after completion, reads left at cleanup, a buffered read overrun', () => {
  const rules = (v: readonly (readonly [string, string, string])[]) => v.map(([rule]) => rule)[0];
  assert.equal(rules(pcapBug('pending-no-insert')), 'NdisSim_IrpNotCompleted');
  assert.equal(rules(pcapBug('mdl-after-complete')), 'NdisSim_ObjectFreedInUse');
  assert.equal(rules(pcapBug('cleanup-leaves-reads')), 'NdisSim_IrpPendingAtClose');
  assert.equal(rules(diagBug('cleanup-forgets-wait')), 'NdisSim_IrpPendingAtClose');
  assert.equal(rules(diagBug('read-overrun')), 'NdisSim_IrpInformationOverrun');
});

test("a driver that loaded a second copy of ndis-sim's modules (tsx src/cli/main.ts on a file outside the repository) is told so, not only that no world runs", async () => {
  // A second instance of api/common.ts, as a driver importing 'ndis-sim' through
  // tsconfig paths gets: its `current` is never set by the world.
  const url = new URL('../src/ndis/api/common.ts?second-copy', import.meta.url).href;
  const copy = (await import(url)) as { currentNdis: (ddi: string) => unknown };
  const messages: string[] = [];
  const drv: DriverModule = {
    name: 'second-copy',
    load: () => ({
      DriverEntry: () => {
        try {
          copy.currentNdis('NdisMRegisterMiniportDriver');
        } catch (e) {
          messages.push((e as Error).message);
        }
        return NDIS_STATUS_FAILURE;
      },
    }),
  };
  testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: 'second-copy' }] }).run(ns.s);
  assert.equal(messages.length, 1);
  assert.match(messages[0]!, /called from a second copy of ndis-sim's modules.*bin\/ndis-sim\.js/);
  // Outside any world, the plain message (docs/decisions.md, "DDIs only while a world runs").
  assert.throws(
    () => copy.currentNdis('NdisMSleep'),
    /NdisMSleep was called while no ndis-sim world is running, outside any callback: from a Promise continuation/,
  );
});
