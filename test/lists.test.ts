// LIST_ENTRY corruption under the NdisInterlocked...List calls: the ndis.h macros are the
// kernel's ExInterlocked...List routines, which do what wdm.h's checked InsertHeadList,
// InsertTailList and RemoveHeadList do, under the spin lock. A neighbour whose link does
// not point back fails fast: KERNEL_SECURITY_CHECK_FAILURE (0x139), parameter 1 = 3
// (bug-check-0x139 page), NdisSim_ListEntryCorruption. The links are the model: what is
// found, and where, follows from the C routines' steps.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LIST_ENTRY,
  NDIS_SPIN_LOCK,
  NDIS_STATUS_SUCCESS,
  NdisAllocateSpinLock,
  NdisInitializeListHead,
  NdisInterlockedInsertHeadList,
  NdisInterlockedInsertTailList,
  NdisInterlockedRemoveHeadList,
} from '../src/index.ts';
import { removedScripted } from './helpers/scripted.ts';

/** A driver's queued record: the C struct embeds the LIST_ENTRY; here it extends it. */
class Packet extends LIST_ENTRY {
  constructor(readonly id: number) {
    super();
  }
}

/** Runs `body` in MiniportInitializeEx with a fresh list head and spin lock; records each step it got through. */
function run(name: string, body: (head: LIST_ENTRY, lock: NDIS_SPIN_LOCK, steps: string[]) => void) {
  const steps: string[] = [];
  const { r } = removedScripted(name, {
    initialize: () => {
      const head = new LIST_ENTRY();
      const lock = new NDIS_SPIN_LOCK();
      NdisAllocateSpinLock(lock);
      NdisInitializeListHead(head);
      body(head, lock, steps);
      return NDIS_STATUS_SUCCESS;
    },
  });
  return { r, steps };
}

const id = (e: LIST_ENTRY | null): number | null => (e === null ? null : (e as Packet).id);

function assertCorruption(r: ReturnType<typeof run>['r'], ddi: string, found: RegExp): void {
  const v = r.bugCheck;
  assert.ok(v !== null, `expected a bug check, got ${r.verdict}: ${JSON.stringify(r.violations)}`);
  assert.equal(v.rule, 'NdisSim_ListEntryCorruption');
  assert.equal(v.ddi, ddi);
  assert.equal(v.bugCheck.code, 0x139);
  assert.equal(v.bugCheck.name, 'KERNEL_SECURITY_CHECK_FAILURE');
  assert.deepEqual(v.bugCheck.params, [
    3,
    'trap frame of the fail fast',
    'exception record of the fail fast',
    0,
  ]);
  assert.ok(v.fatal, 'the fail fast stops the machine, in collect mode too');
  // The message names the DDI, the list (its head, who initialized it, its lock) and what it found.
  assert.match(
    v.message,
    new RegExp(
      `^${ddi}: LIST_ENTRY corruption in list head #1 \\(initialized by \\S+ in MiniportInitializeEx \\(nic0\\)\\) under spin lock #1 \\(allocated by \\S+ in MiniportInitializeEx \\(nic0\\)\\): `,
    ),
  );
  assert.match(v.message, found);
}

test('0x139 page (a double insert): an entry inserted at the tail twice is not caught by the inserts (its neighbour still points back at the head); the remove that meets it is NdisSim_ListEntryCorruption, KERNEL_SECURITY_CHECK_FAILURE 3', () => {
  const { r, steps } = run('list-double-tail', (head, lock, steps) => {
    const a = new Packet(1);
    steps.push(`insert ${id(NdisInterlockedInsertTailList(head, a, lock))}`);
    steps.push(`insert ${id(NdisInterlockedInsertTailList(head, a, lock))}`);
    // wdm.h's InsertTailList: a's Blink is now a itself, and a is the head's Flink.
    steps.push(`links ${a.Flink === a} ${a.Blink === a} ${head.Flink === a} ${head.Blink === a}`);
    steps.push(`remove ${id(NdisInterlockedRemoveHeadList(head, lock))}`);
  });
  assert.deepEqual(steps, ['insert null', 'insert 1', 'links true true true true']);
  assertCorruption(
    r,
    'NdisInterlockedRemoveHeadList',
    /: the first entry \(Packet\) has Blink pointing to itself, not the head\./,
  );
});

test('0x139 page (a double insert): an entry inserted again at the head while two others follow it is caught by the next insert at the head, whose neighbour no longer points back', () => {
  const { r, steps } = run('list-double-head', (head, lock, steps) => {
    const a = new Packet(1);
    const b = new Packet(2);
    NdisInterlockedInsertTailList(head, a, lock);
    NdisInterlockedInsertTailList(head, b, lock);
    // a again, at the tail: b's Flink and the head's Blink go to a; the head's Flink is still a, whose Blink is now b.
    steps.push(`insert ${id(NdisInterlockedInsertTailList(head, a, lock))}`);
    NdisInterlockedInsertHeadList(head, new Packet(3), lock);
    steps.push('not reached');
  });
  assert.deepEqual(steps, ['insert 2']);
  assertCorruption(
    r,
    'NdisInterlockedInsertHeadList',
    /: the head's Flink is entry 1 of the list \(Packet\), whose Blink is an entry \(Packet\) the Flinks from the head do not reach, not the head\./,
  );
});

test('0x139 page (a double insert): the last entry inserted again at the head turns the Flinks into a loop that misses the head; inserts at the head still pass, the next insert at the tail fails, and the message places both entries on the list', () => {
  const { r, steps } = run('list-tail-to-head', (head, lock, steps) => {
    const [a, b, c] = [new Packet(1), new Packet(2), new Packet(3)];
    for (const p of [a, b, c]) NdisInterlockedInsertTailList(head, p, lock);
    steps.push(`insert ${id(NdisInterlockedInsertHeadList(head, c, lock))}`);
    // head → c → a → b → c …: the Flinks never come back to the head.
    steps.push(`loop ${head.Flink === c && c.Flink === a && a.Flink === b && b.Flink === c}`);
    steps.push(`insert ${id(NdisInterlockedInsertHeadList(head, new Packet(4), lock))}`);
    NdisInterlockedInsertTailList(head, new Packet(5), lock);
    steps.push('not reached');
  });
  assert.deepEqual(steps, ['insert 1', 'loop true', 'insert 3']);
  assertCorruption(
    r,
    'NdisInterlockedInsertTailList',
    /: the head's Blink is entry 2 of the list \(Packet\), whose Flink is entry 3 of the list \(Packet\), not the head\./,
  );
});

test('0x139 page: an entry inserted on a second list while still on the first leaves the first list pointing at it; the next insert there finds its Blink on the other list head, and names it', () => {
  const { r, steps } = run('list-two-lists', (head, lock, steps) => {
    const other = new LIST_ENTRY();
    NdisInitializeListHead(other); // list head #2
    const a = new Packet(1);
    NdisInterlockedInsertTailList(head, a, lock);
    steps.push(`other ${id(NdisInterlockedInsertTailList(other, a, lock))}`);
    // The second list is whole: a alone on it.
    steps.push(
      `other-links ${other.Flink === a} ${other.Blink === a} ${a.Flink === other} ${a.Blink === other}`,
    );
    NdisInterlockedInsertHeadList(head, new Packet(2), lock);
    steps.push('not reached');
  });
  assert.deepEqual(steps, ['other null', 'other-links true true true true']);
  assertCorruption(
    r,
    'NdisInterlockedInsertHeadList',
    /: the head's Flink is entry 1 of the list \(Packet\), whose Blink is list head #2 \(initialized by \S+ in MiniportInitializeEx \(nic0\)\), not the head\./,
  );
});

test('0x139 page: the same entry on two lists, found from the tail side: an insert at the tail of the first list finds its last entry pointing forward to the other head', () => {
  const { r } = run('list-two-lists-tail', (head, lock) => {
    const other = new LIST_ENTRY();
    NdisInitializeListHead(other);
    const a = new Packet(1);
    NdisInterlockedInsertTailList(head, a, lock);
    NdisInterlockedInsertHeadList(other, a, lock);
    NdisInterlockedInsertTailList(head, new Packet(2), lock);
  });
  assertCorruption(
    r,
    'NdisInterlockedInsertTailList',
    /: the head's Blink is entry 1 of the list \(Packet\), whose Flink is list head #2 \(.*\), not the head\./,
  );
});

test('NdisInterlockedRemoveHeadList page: a remove from an empty list returns NULL and is no corruption (ExInterlockedRemoveHeadList tests for an empty list; wdm.h RemoveHeadList finds nothing wrong with it either), and the list stays empty and usable', () => {
  const { r, steps } = run('list-empty-remove', (head, lock, steps) => {
    steps.push(`remove ${id(NdisInterlockedRemoveHeadList(head, lock))}`);
    steps.push(`remove ${id(NdisInterlockedRemoveHeadList(head, lock))}`);
    steps.push(`empty ${head.Flink === head && head.Blink === head}`);
    NdisInterlockedInsertTailList(head, new Packet(7), lock);
    steps.push(`remove ${id(NdisInterlockedRemoveHeadList(head, lock))}`);
    steps.push(`remove ${id(NdisInterlockedRemoveHeadList(head, lock))}`);
  });
  assert.deepEqual(r.violations, []);
  assert.equal(r.bugCheck, null);
  assert.deepEqual(steps, ['remove null', 'remove null', 'empty true', 'remove 7', 'remove null']);
});

test('NdisInterlocked...List pages: a correct driver is unaffected: entries moved from one list to another after their remove, reused again and again, at head and tail, raise nothing and come out in order', () => {
  const { r, steps } = run('list-correct', (head, lock, steps) => {
    const free = new LIST_ENTRY();
    NdisInitializeListHead(free);
    const pool = [new Packet(1), new Packet(2), new Packet(3)];
    for (const p of pool) NdisInterlockedInsertTailList(free, p, lock);
    for (let round = 0; round < 3; round++) {
      // Take every packet off the free list, queue it on the busy list, then give it back.
      for (let i = 0; i < 3; i++) {
        const p = NdisInterlockedRemoveHeadList(free, lock)!;
        if (i === 0) NdisInterlockedInsertHeadList(head, p, lock);
        else NdisInterlockedInsertTailList(head, p, lock);
      }
      const order: (number | null)[] = [];
      for (let i = 0; i < 3; i++) {
        const p = NdisInterlockedRemoveHeadList(head, lock);
        order.push(id(p));
        NdisInterlockedInsertTailList(free, p!, lock);
      }
      steps.push(order.join(','));
    }
    steps.push(`busy empty ${id(NdisInterlockedRemoveHeadList(head, lock))}`);
  });
  assert.deepEqual(r.violations, []);
  assert.equal(r.bugCheck, null);
  assert.deepEqual(steps, ['1,2,3', '1,2,3', '1,2,3', 'busy empty null']);
});
