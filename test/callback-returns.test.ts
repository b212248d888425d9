// R2.2: what each driver callback returns, from the generated table (data/extra.json:
// callbackReturns), and NdisSim_CallbackReturnValue, which checks that a callback whose
// result its caller reads returned one: an NDIS_STATUS (a number), or a BOOLEAN.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { genCallbacks } from '../scripts/gen-tables.ts';
import { NDIS_STATUS_SUCCESS } from '../src/index.ts';
import {
  booleanReturnCallbacks,
  callbackReturns,
  statusReturnCallbacks,
} from '../src/ndis/generated/callbacks.ts';
import { ddiIrql } from '../src/ndis/generated/irql.ts';
import { isrAnswerRun, removedScripted } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** Rule and message of every NdisSim_CallbackReturnValue of a collect-mode run. */
const bad = (r: { violations: readonly { rule: string; message: string }[] }) =>
  r.violations.filter((v) => v.rule === 'NdisSim_CallbackReturnValue').map((v) => v.message);

test('R2.2: the table carries the return type of each callback as its page declares it', () => {
  assert.equal(callbackReturns.get('MiniportInitializeEx'), 'NDIS_STATUS');
  assert.equal(callbackReturns.get('DriverEntry'), 'NTSTATUS');
  assert.equal(callbackReturns.get('MiniportHaltEx'), 'VOID');
  // R4.3: MINIPORT_CHECK_FOR_HANG and MINIPORT_ISR return a BOOLEAN.
  assert.equal(callbackReturns.get('MiniportCheckForHangEx'), 'BOOLEAN');
  assert.equal(callbackReturns.get('MiniportInterrupt'), 'BOOLEAN');
  // The FILTER_OID_REQUEST_COMPLETE page's example says NDIS_STATUS; the type is VOID.
  assert.equal(callbackReturns.get('FilterOidRequestComplete'), 'VOID');
  assert.deepEqual([...booleanReturnCallbacks].sort(), [
    'MiniportCheckForHangEx',
    'MiniportInterrupt',
    'MiniportMessageInterrupt',
    'MiniportSynchronizeInterrupt',
    'MiniportSynchronizeMessageInterrupt',
  ]);
});

test('R2.2: the callbacks NdisSim_CallbackReturnValue reads an NDIS_STATUS from are the NDIS_STATUS and NTSTATUS ones of the table, none missing', () => {
  // The set ndis.ts held by hand before it was generated, with MiniportResetEx (whose
  // answer the model reads as an object, where it is read): a callback dropped from the
  // table, or given another type, fails here.
  assert.deepEqual([...statusReturnCallbacks].sort(), [
    'DriverEntry',
    'FilterAttach',
    'FilterDirectOidRequest',
    'FilterNetPnPEvent',
    'FilterOidRequest',
    'FilterPause',
    'FilterRestart',
    'FilterSetModuleOptions',
    'FilterSetOptions',
    'FilterSynchronousOidRequest',
    'MiniportAddDevice',
    'MiniportDirectOidRequest',
    'MiniportIdleNotification',
    'MiniportInitializeEx',
    'MiniportOidRequest',
    'MiniportPause',
    'MiniportResetEx',
    'MiniportRestart',
    'MiniportSetOptions',
    'MiniportStartDevice',
    'MiniportSynchronousOidRequest',
    'ProtocolBindAdapterEx',
    'ProtocolNetPnPEvent',
    'ProtocolSetOptions',
    'ProtocolUnbindAdapterEx',
  ]);
});

/** The .ts files under `dir`, the generated tables left out. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'generated') out.push(...sources(p));
    } else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('R2.2: every NDIS callback the model names in src/ has its return type in the table (data/extra.json: callbackReturns)', () => {
  const named = new Set<string>();
  for (const f of sources('src'))
    for (const m of readFileSync(f, 'utf8').matchAll(/'([A-Z][A-Za-z]+)'/g))
      if (ddiIrql[m[1]!]?.kind === 'callback') named.add(m[1]!);
  // The scan finds the callbacks the model calls.
  for (const fn of ['MiniportInitializeEx', 'FilterAttach', 'ProtocolBindAdapterEx', 'NdisPoll'])
    assert.ok(named.has(fn), fn);
  const missing = [...named].filter((fn) => !callbackReturns.has(fn)).sort();
  assert.deepEqual(missing, [], `callbacks without a return type in data/extra.json: ${missing.join(', ')}`);
});

test('R2.2: the generator refuses a callback twice, an unknown return type, and a page other than the IRQL table cites', () => {
  const irql = [
    {
      name: 'MiniportHaltEx',
      kind: 'callback',
      source: 'wdk-ddi-src/content/ndis/nc-ndis-miniport_halt.md',
    },
  ] as unknown as Parameters<typeof genCallbacks>[1];
  const page = 'https://learn.microsoft.com/windows-hardware/drivers/ddi/ndis/nc-ndis-miniport_halt';
  const extra = (callbacks: { name: string; returns: string; source: string }[]) =>
    ({ callbackReturns: { callbacks } }) as unknown as Parameters<typeof genCallbacks>[0];
  assert.match(
    genCallbacks(extra([{ name: 'MiniportHaltEx', returns: 'VOID', source: page }]), irql, []),
    /"MiniportHaltEx", "VOID"/,
  );
  assert.throws(
    () =>
      genCallbacks(
        extra([
          { name: 'MiniportHaltEx', returns: 'VOID', source: page },
          { name: 'MiniportHaltEx', returns: 'VOID', source: page },
        ]),
        irql,
        [],
      ),
    /MiniportHaltEx twice/,
  );
  assert.throws(
    () => genCallbacks(extra([{ name: 'MiniportHaltEx', returns: 'void', source: page }]), irql, []),
    /returns must be one of NDIS_STATUS, NTSTATUS, BOOLEAN, VOID/,
  );
  assert.throws(
    () => genCallbacks(extra([{ name: 'MiniportHaltEx', returns: 'VOID', source: `${page}x` }]), irql, []),
    /the source must be .*nc-ndis-miniport_halt, the page the IRQL table cites/,
  );
});

test('NdisSim_CallbackReturnValue, R4.3: MiniportCheckForHangEx answering 1 or undefined, not a BOOLEAN, is reported (the model reads only true as a hang)', () => {
  for (const [answer, text] of [
    [1, 'the number 1, not a boolean'],
    [undefined, 'undefined (no return statement?)'],
    ['TRUE', 'the string "TRUE", not a boolean'],
  ] as const) {
    const { r } = removedScripted(
      'hang-not-boolean',
      { checkForHang: () => answer as unknown as boolean },
      3 * ns.s,
      4 * ns.s,
    );
    const s = bad(r);
    assert.ok(s.length > 0, String(answer));
    assert.deepEqual(
      [...new Set(s)],
      [`MiniportCheckForHangEx returned ${text}; its caller reads a BOOLEAN from it: answer true or false`],
    );
  }
  for (const answer of [true, false]) {
    const { r } = removedScripted('hang-boolean', { checkForHang: () => answer }, 3 * ns.s, 4 * ns.s);
    assert.deepEqual(bad(r), [], String(answer));
  }
});

/** A driver whose MiniportInterrupt returns `out` (isrAnswerRun), in collect mode. */
const isrRun = (out: unknown) => isrAnswerRun('isr-answer', out).r;

test('NdisSim_CallbackReturnValue, R8.1: MiniportInterrupt answering InterruptRecognized 1, not a BOOLEAN, is reported; true and false are not', () => {
  const r = isrRun({ InterruptRecognized: 1, QueueDefaultInterruptDpc: true, TargetProcessors: 0 });
  assert.deepEqual(bad(r), [
    'MiniportInterrupt returned the number 1, not a boolean; its caller reads a BOOLEAN from it: answer true or false',
  ]);
  for (const InterruptRecognized of [true, false])
    assert.deepEqual(
      bad(isrRun({ InterruptRecognized, QueueDefaultInterruptDpc: true, TargetProcessors: 0 })),
      [],
    );
});

test('NdisSim_CallbackReturnValue, R8.1: a MiniportInterrupt answering a bare BOOLEAN (as in C) or nothing is reported, and the interrupt counts as not recognized', () => {
  for (const [out, text] of [
    [true, 'the boolean true, not an object'],
    [undefined, 'undefined (no return statement?)'],
  ] as const) {
    // The run goes on (a TypeError inside the model before), with this one report.
    const r = isrRun(out);
    assert.deepEqual(bad(r), [
      `MiniportInterrupt returned ${text}; it answers { InterruptRecognized, QueueDefaultInterruptDpc, TargetProcessors }, the BOOLEAN of MINIPORT_ISR and its two out parameters`,
    ]);
  }
});

test('NdisSim_CallbackReturnValue, R8.1: MiniportResetEx answering no { Status, AddressingReset } is reported, and the reset read as failed (a TypeError inside the model before)', () => {
  for (const [answer, text] of [
    [undefined, 'undefined (no return statement?)'],
    [0, 'the number 0, not an object'],
    [{ AddressingReset: false }, 'an object with no Status'],
  ] as const) {
    let hangs = 0;
    const { r } = removedScripted(
      'reset-answer',
      { checkForHang: () => ++hangs === 2, reset: () => answer as never },
      5 * ns.s,
      6 * ns.s,
    );
    assert.deepEqual(
      bad(r),
      [
        `MiniportResetEx returned ${text}; it answers { Status, AddressingReset }, the NDIS_STATUS of MINIPORT_RESET and its out parameter`,
      ],
      String(answer),
    );
    // Read as HARD_ERRORS, a result MiniportResetEx may give: nothing else is reported.
    assert.deepEqual(
      [...new Set(r.violations.map((v) => v.rule))],
      ['NdisSim_CallbackReturnValue'],
      String(answer),
    );
  }
  let hangs = 0;
  const { r } = removedScripted(
    'reset-answer',
    {
      checkForHang: () => ++hangs === 2,
      reset: () => ({ Status: NDIS_STATUS_SUCCESS, AddressingReset: false }),
    },
    5 * ns.s,
    6 * ns.s,
  );
  assert.deepEqual(bad(r), []);
});
