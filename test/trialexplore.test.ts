// The explorer used as a driver developer uses it (examples/dpc-races.ts): three
// teardown races of a SimNic miniport, each found by `explore`, shrunk and replayed,
// and what the reports say about the interleaving that breaks each.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { dpcRaces } from '../examples/dpc-races.ts';
import { driverNames } from '../src/drivers/index.ts';
import { variantOfMonitorLwf } from '../src/drivers/lwf.ts';
import { InputError } from '../src/errors.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import * as N from '../src/index.ts';
import { fmtTime } from '../src/report/format.ts';
import { buildWorld, checkExpectations, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { loadDriverModules } from '../src/scenario/modules.ts';
import { exploreScenario } from '../src/scenario.ts';
import { exampleScenario, runExample } from './helpers/seeds.ts';

const drivers = dpcRaces;
const scenario = (name: string, driver = name) => exampleScenario(`examples/${name}.yaml`, drivers, driver);

test("the three races pass their scenario's own seed, and dpc-races-fixed passes the seeds that break them", () => {
  const cases: [string, number][] = [
    // Seed 133: since a CPU runs its queued DPCs before PASSIVE work (Kernel.enter), the
    // pool is freed first only when the ISR's DPC is queued on the other CPU than the halt.
    ['rxpool-race', 133],
    ['pausetx-race', 2],
    ['giveup-race', 1],
  ];
  for (const [name, failing] of cases) {
    const s = scenario(name);
    const own = runExample(s, drivers, s.seed);
    assert.equal(own.r.verdict, 'ok', `${name} seed ${s.seed}: ${own.r.bugCheck?.message}`);
    assert.deepEqual(checkExpectations(s, own.r, own.w.summary())?.problems ?? [], [], name);
    const bad = runExample(s, drivers, failing);
    const missed = checkExpectations(s, bad.r, bad.w.summary())?.problems ?? [];
    assert.ok(bad.r.verdict !== 'ok' || missed.length > 0, `${name} seed ${failing} should fail`);
    const f = scenario(name, 'dpc-races-fixed');
    const fixed = runExample(f, drivers, failing);
    assert.equal(
      fixed.r.verdict,
      'ok',
      `dpc-races-fixed on ${name} seed ${failing}: ${fixed.r.bugCheck?.message}`,
    );
    assert.deepEqual(checkExpectations(f, fixed.r, fixed.w.summary())?.problems ?? [], [], name);
  }
});

test('R3.10 NdisMPauseComplete from a DPC while MiniportPause sleeps, then SUCCESS: the report names the DPC, its CPU and time, not MiniportPause', () => {
  const { w, r } = runExample(scenario('pausetx-race'), drivers, 2, true);
  assert.equal(r.verdict, 'bugcheck');
  assert.deepEqual(
    r.violations.map((v) => [v.rule, v.ddi, v.adapter]),
    [['NdisSim_PauseCompleteUnexpected', 'MiniportPause', 'nic0']],
  );
  const msg = r.bugCheck!.message;
  // The completion the trace shows: the DPC's, inside the sleep.
  const ev = w.trace.events;
  const done = ev.findLast((e) => e.what === 'NdisMPauseComplete');
  assert.ok(done !== undefined, 'the DPC called NdisMPauseComplete');
  const fmt = fmtTime(done.t);
  assert.ok(
    msg.includes(`NdisMPauseComplete came from MiniportInterruptDPC on CPU ${done.cpu} at ${fmt}`),
    `the message names the DPC, its CPU and its time: ${msg}`,
  );
  assert.doesNotMatch(msg, /MiniportPause called NdisMPauseComplete/, 'MiniportPause did not make the call');
  assert.ok(
    w.pending().includes('nic0: pause pending (NdisMPauseComplete called before MiniportPause returned)'),
    `under way: ${w.pending().join('; ')}`,
  );
});

test('explore shrinks rxpool-race to the removal time, the ISR on the other CPU than the halt and one DPC latency (with the worker latencies that place the halt), names what the fault draw meant, and its HTML report lists that schedule, each choice linked to the trace at its time', async () => {
  const out = mkdtempSync(join(tmpdir(), 'ndis-sim-trialexplore-'));
  try {
    const r = await exploreScenario('examples/rxpool-race.yaml', {
      driverFiles: ['examples/dpc-races.ts'],
      firstSeed: 133,
      runs: 1,
      out,
      html: true,
    });
    assert.equal(r.failed, 1, r.text);
    // The injected removal's time draw says which injection and when it came. A CPU runs
    // its queued DPCs before PASSIVE work (Kernel.enter, as Windows: a DPC runs once its
    // CPU's IRQL drops below DISPATCH), so a DPC queued on the halt's CPU runs before
    // MiniportHaltEx frees the pool: the race needs the ISR (and so its DPC) on CPU 1,
    // the halt on CPU 0, and the DPC held back (DpcLatency 1). The four worker latencies
    // in the removal place the halt's thread inside that window. Retiming no longer takes
    // out the two start-up latencies (it did for the old seed 57: 8 choices became 2): no
    // shifted removal time it tries fails the same way without them.
    assert.deepEqual(
      r.failures[0]!.shrunk!.choices.map((c) => [c.site, c.answer]),
      [
        ['Fault', 639681],
        ['PnpLatency', 1],
        ['WorkerLatency', 1],
        ['WorkerLatency', 7],
        ['WorkerLatency', 5],
        ['WorkerLatency', 7],
        ['WorkerLatency', 4],
        ['Cpu', 1],
        ['DpcLatency', 1],
      ],
      r.text,
    );
    assert.match(r.text, /Fault answered 639681 of 0–800000 \(inject remove nic0 at 0\.739681 s\)/, r.text);
    // So does --json, and only there: the scheduling answers have no note.
    const choices = r.failures[0]!.shrunk!.choices;
    assert.deepEqual(
      choices.map((c) => c.note),
      ['inject remove nic0 at 0.739681 s', null, null, null, null, null, null, null, null],
    );
    const page = readFileSync(r.failures[0]!.report!, 'utf8');
    assert.match(page, /<section id="choices"><h2>The schedule<\/h2>/, 'a schedule section');
    assert.match(page, /Choices not the simplest: 9 of \d+ \(shrunk: the failure needs each\)/);
    // The CPU choice and the DPC latency that let the halt in: both linked to the ISR on
    // CPU 1 that queued that DPC.
    const cpu =
      /<tr><td>116<\/td><td>0\.740080 s<\/td><td>Cpu answered 1 of 0–1<\/td><td><\/td><td><a href="#e(\d+)"[^>]*>([^<]*)<\/a>/.exec(
        page,
      );
    assert.ok(cpu !== null, 'the Cpu row with its trace link');
    assert.match(cpu[2]!, /0\.740080 s {2}cpu 1 {2}rxpool-race {2}→ MiniportInterrupt\(nic0\)/);
    const row =
      /<tr><td>117<\/td><td>0\.740080 s<\/td><td>DpcLatency answered 1 of 0–3<\/td><td><\/td><td><a href="#e(\d+)"[^>]*>([^<]*)<\/a>/.exec(
        page,
      );
    assert.ok(row !== null, 'the DpcLatency row with its trace link');
    assert.match(row[2]!, /0\.740080 s {2}cpu 1 {2}rxpool-race {2}→ MiniportInterrupt\(nic0\)/);
    assert.match(page, /inject remove nic0 at 0\.739681 s/, 'the meaning column');
    // In a browser (where there is one: test/html-browser.test.ts says how to get it),
    // the link selects that event and the details name it.
    const chromium = ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find((p) => existsSync(p));
    if (chromium !== undefined) {
      const { chromium: pw } = await import('playwright-core');
      const browser = await pw.launch({ executablePath: chromium });
      try {
        const tab = await browser.newPage();
        await tab.goto(pathToFileURL(r.failures[0]!.report!).href);
        await tab.click(`#choices a[data-event="${row[1]}"]`);
        assert.match(
          (await tab.textContent('#details')) ?? '',
          new RegExp(`^Trace event ${row[1]} at 0\\.740080 s`),
        );
        assert.match((await tab.textContent('#details')) ?? '', /MiniportInterrupt\(nic0\)/);
      } finally {
        await browser.close();
      }
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("a SimNic's fault-plan draws carry their meaning in the decision log (rehangAfterReset, hangEvery), and only they", () => {
  const s = scenario('giveup-race');
  s.devices[0]!.faults!.hangEvery = { period: '1s', chance: '25%' };
  const { w } = runExample(s, drivers, 3);
  const notes = w.decisions().flatMap((d) => (d.note === undefined ? [] : [`${d.site}:${d.note}`]));
  assert.ok(
    notes.some((n) => /^5:nic0: hangs again \d+\.\d{6} s after the reset$/.test(n)),
    notes.join('\n'),
  );
  assert.ok(
    notes.some((n) => /^5:nic0: hangEvery draw: (no )?hang$/.test(n)),
    notes.join('\n'),
  );
  // Every note is on a Fault decision (site 5), none on the scheduling answers.
  assert.deepEqual(
    notes.filter((n) => !n.startsWith('5:')),
    [],
  );
});

test('R8.4 NdisAllocateNetBufferAndNetBufferList on a pool MiniportHaltEx freed before NdisMDeregisterInterruptEx ran the queued DPC: the message says where the pool was freed, the trace that the DPC ran from the deregistration', () => {
  const { w, r } = runExample(scenario('rxpool-race'), drivers, 133, true);
  const ev = w.trace.events;
  const dereg = ev.findIndex((e) => e.what === 'NdisMDeregisterInterruptEx');
  assert.ok(dereg > 0, 'the halt deregisters');
  // The halt runs on CPU 0 and the DPC was queued on CPU 1 by the ISR there: a schedule
  // Windows can produce (a DPC queued on the halt's own CPU runs before PASSIVE work).
  assert.equal(ev[dereg]!.cpu, 0);
  assert.deepEqual(
    ev.slice(dereg + 1, dereg + 3).map((e) => [e.kind, e.what, e.data?.queuedOn ?? null, e.cpu]),
    [
      ['ndis', 'NdisMDeregisterInterruptEx runs a DPC still queued before it returns', 'CPU 1', 0],
      ['call', 'MiniportInterruptDPC', null, 1],
    ],
  );
  assert.equal(r.bugCheck?.rule, 'NdisSim_ObjectFreedInUse', r.bugCheck?.message);
  assert.equal(r.bugCheck?.ddi, 'NdisAllocateNetBufferAndNetBufferList');
  assert.match(
    r.bugCheck!.message,
    /on a freed pool: NdisFreeNetBufferListPool freed it in MiniportHaltEx on CPU 0 at 0\.740193 s$/,
    r.bugCheck!.message,
  );
});

test('bad input: an inject entry given a fixed time (at:) is told of within:, not "did you mean do?"', () => {
  const text = [
    'devices:',
    '  - { name: nic0, driver: rxpool-race }',
    'inject:',
    '  - { do: remove, device: nic0, at: 1s }',
    'actions:',
    '  - { at: 1s, do: remove, device: nic0, atx: 2 }',
    '',
  ].join('\n');
  let problems: string[] = [];
  try {
    parseScenarioText(text, 'mine.yaml', driverNames(drivers));
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    problems = e.problems;
  }
  assert.ok(
    problems.includes(
      'mine.yaml: inject[0]: unknown field "at"; an injected event comes at a time each run draws from within: a..b (a fixed time is an action\'s at:, under actions:)',
    ),
    problems.join('\n'),
  );
  // Elsewhere the nearest field is still suggested.
  assert.ok(
    problems.some((p) => p.startsWith('mine.yaml: actions[0]: unknown field "atx"; did you mean at?')),
    problems.join('\n'),
  );
});

test('situations: a halt or pause that comes between an interrupt and its DPC says so (interrupt DPC queued), and for rxpool-race those are exactly the failing runs', () => {
  const s = scenario('rxpool-race');
  // Seeds 121..220 hold two of the three failing seeds of 1..300 (133, 213, 288).
  const r = exploreSeeds({ scenario: s, drivers, untilNs: untilNs(s), verifier: 'bugcheck' }, 121, 100);
  const failing = r.groups.flatMap((g) => g.seeds);
  assert.deepEqual(failing, [133, 213], r.groups.map((g) => g.signature).join('; '));
  const queued = r.situations.find((t) => t.what === 'MiniportHaltEx in Paused, interrupt DPC queued');
  assert.deepEqual(queued, {
    what: 'MiniportHaltEx in Paused, interrupt DPC queued',
    runs: 2,
    firstSeed: 133,
  });
  assert.deepEqual(
    r.situations.find((t) => t.what === 'MiniportHaltEx in Paused'),
    { what: 'MiniportHaltEx in Paused', runs: 98, firstSeed: 121 },
  );
});

test('bad input: a mistyped --driver path is "no such file", with the nearest module beside it, not node\'s loader error naming ndis-sim\'s own file', async () => {
  await assert.rejects(loadDriverModules(['examples/dpc-race.ts']), (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.deepEqual(e.problems, [
      `--driver: expected a module file (.ts or .js), got "examples/dpc-race.ts": no such file from ${process.cwd()}; did you mean examples/dpc-races.ts?`,
    ]);
    return true;
  });
});

test("R4.7, R4.8 giveup-race: a reset never completed holds the unbind's OID requests (tcpip holds them until RESET_END); what is still under way says so, beside the reset itself", () => {
  const { w, r } = runExample(scenario('giveup-race'), drivers, 1);
  // No rule broken, but nothing left could finish the removal: a hang (R5.8).
  assert.equal(r.verdict, 'hang', r.message ?? '');
  assert.match(
    r.message ?? '',
    /^the surprise removal of nic0 never finished: MiniportResetEx pended at \d+\.\d{6} s and NdisMResetComplete never came; Windows would hang here \(no NDIS watchdog times a reset\)$/,
  );
  assert.deepEqual(w.pending(true), [
    "nic0: the surprise removal waits for the unbind of protocol tcpip (ProtocolUnbindAdapterEx): protocol tcpip (Closing) holds its unbind's clean-up OID requests until RESET_END (R4.8)",
    'nic0: reset in progress (MiniportResetEx not completed)',
    'IRP_MN_REMOVE_DEVICE to nic0 not completed',
  ]);
});

test('R7.6 NdisFPauseComplete from a timer while FilterPause sleeps, then SUCCESS: the report names the timer routine, not FilterPause', () => {
  const early = variantOfMonitorLwf(
    'early-pause-lwf',
    'a timer completes the pause FilterPause then answers',
    (c) => {
      c.PauseHandler = (m) => {
        const t = N.NdisAllocateTimerObject(m.handle, {
          Header: {
            Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
            Revision: N.NDIS_TIMER_CHARACTERISTICS_REVISION_1,
          },
          AllocationTag: 0x656c7265,
          TimerFunction: () => N.NdisFPauseComplete(m.handle),
          FunctionContext: null,
        });
        N.NdisSetTimerObject(t.TimerObject!, -500, 0, null); // 50 us
        N.NdisMSleep(200); // the timer's callback runs meanwhile
        N.NdisFreeTimerObject(t.TimerObject!);
        return N.NDIS_STATUS_SUCCESS;
      };
    },
  );
  const text = `until: 300ms
filters: [{ driver: early-pause-lwf }]
devices: [{ name: nic0, driver: healthy-nic }]
actions: [{ at: 100ms, do: stop, device: nic0 }]
`;
  const s = parseScenarioText(text, 'early.yaml', driverNames([early]));
  const r = buildWorld(s, { drivers: [early] }).run(untilNs(s));
  assert.equal(r.bugCheck?.rule, 'NdisFilterTimedPauseComplete', r.bugCheck?.message ?? r.verdict);
  assert.match(
    r.bugCheck!.message,
    /^NdisFPauseComplete for \S+ came from \S+ on CPU \d at 0\.1\d{5} s, while FilterPause had not returned yet, and FilterPause then returned SUCCESS: the pause completed twice/,
    r.bugCheck!.message,
  );
  assert.doesNotMatch(r.bugCheck!.message, /came from FilterPause/);
});
