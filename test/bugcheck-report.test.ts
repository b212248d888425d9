// What the bug-check block tells a driver writer: the rule-book rules of the DDI that
// was called (R8.2), the way to the rule's documentation, which Windows rule names the
// code, the line of the driver that made the bad call, and a handler's bad return.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { galleryScenario } from '../src/drivers/buggy/index.ts';
import {
  NDIS_RAISE_IRQL_TO_DISPATCH,
  type NDIS_STATUS,
  type NDIS_STATUS_INDICATION,
  NDIS_STATUS_SUCCESS,
  NdisMIndicateStatusEx,
  NdisMSleep,
} from '../src/index.ts';
import { toHtmlReport } from '../src/report/html.ts';
import { ruleDocs } from '../src/report/rules.ts';
import { formatBugCheckReport, windowsCheckNote } from '../src/report/summary.ts';
import { analyzeRule, formatBugCheck, formatParam } from '../src/verifier/bugcheck.ts';
import { catalogue, specFor } from '../src/verifier/catalogue.ts';
import { World } from '../src/world.ts';
import { cli } from './helpers/cli.ts';
import { removedScripted, scriptedDriver } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** A one-device world of `drv`, started at 0 and run for `untilS` seconds. */
function runOne(drv: ReturnType<typeof scriptedDriver>, untilS = 1) {
  const w = new World({ seed: 1 });
  w.addDriver(drv);
  w.addDevice({ name: 'nic0', driver: drv.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(untilS * ns.s);
  return { w, r };
}

/** MiniportRestart raises to DISPATCH and sleeps there: Irql_Miniport_Driver_Function, an SDV rule (0xD1). */
const sleepsAtDispatch = () =>
  scriptedDriver('restart-sleeps-at-dispatch', {
    restart: () => {
      NDIS_RAISE_IRQL_TO_DISPATCH();
      NdisMSleep(10);
      return NDIS_STATUS_SUCCESS;
    },
  });

test('R8.2: NdisMSleep at DISPATCH cites R8.2 only, not the NdisMRemoveMiniport rules R5.9 and R8.13 of the same Irql_Miniport_Driver_Function', () => {
  const { w, r } = runOne(sleepsAtDispatch());
  const v = r.bugCheck!;
  assert.equal(v.rule, 'Irql_Miniport_Driver_Function');
  assert.deepEqual(v.spec, ['R8.2']);
  const block = formatBugCheckReport(v, w.trace, false).join('\n');
  assert.match(block, /Rule book: R8\.2 /);
  assert.doesNotMatch(block, /R5\.9|R8\.13/);
});

test('R6.3, R7.5: specFor keeps the rule-book rules that name no DDI and those naming the one called, for every Irql_* rule', () => {
  const oid = catalogue.get('Irql_OID_Function')!;
  assert.deepEqual(specFor(oid, 'NdisMOidRequestComplete'), ['R6.3', 'R7.5']);
  assert.deepEqual(specFor(oid, 'NdisFOidRequest'), ['R7.5']);
  // Rules other than the IRQL ones cite their whole list.
  const dc = catalogue.get('NdisOidDoubleComplete')!;
  assert.deepEqual(specFor(dc, 'MiniportOidRequest'), dc.spec);
});

test("R8.2: the bug-check block has a See line: `ndis-sim rules Irql_Miniport_Driver_Function` and the rule's Microsoft page, after the rule-book lines", () => {
  const { w, r } = runOne(sleepsAtDispatch());
  const lines = formatBugCheckReport(r.bugCheck!, w.trace, false);
  const see = lines.findIndex((l) => l.startsWith('  See:'));
  assert.ok(see > 0, lines.join('\n'));
  assert.match(lines[see - 1]!, /^ {2}Rule book: R8\.2 /);
  assert.equal(
    lines[see],
    '  See:       ndis-sim rules Irql_Miniport_Driver_Function · https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/ndis-irql-miniport-driver-function',
  );
  // The page is the one `ndis-sim rules` and the HTML report give for the rule.
  assert.ok(ruleDocs(catalogue.get('Irql_Miniport_Driver_Function')!).includes(lines[see]!.split(' · ')[1]!));
});

test("R3.10, R6.3: DoubleComplete raises 0xC4/0x91002, whose rule !analyze names NdisOidDoubleComplete: the block, the HTML report and the trace name both, Driver Verifier's first", () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-dc-'));
  const trace = join(dir, 't.jsonl');
  const html = join(dir, 'r.html');
  const r = cli('run', galleryScenario('DoubleComplete'), '--quiet', '--trace', trace, '--html', html);
  assert.equal(r.status, 0, r.stderr); // the gallery scenario expects its rule
  const lines = r.stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith('  Rule:'));
  assert.match(lines[at - 1]!, /^ {2}DRIVER_VERIFIER_DETECTED_VIOLATION \(0xC4\) 0x91002, /);
  assert.match(lines[at]!, /^ {2}Rule: +NdisOidDoubleComplete — .*as !analyze names it\)$/);
  assert.match(
    lines[at + 1]!,
    /^ {13}DoubleComplete — .*\(Static Driver Verifier's rule for the same mistake\)$/,
  );
  assert.ok(
    lines.includes(
      '             ndis-sim rules DoubleComplete · https://learn.microsoft.com/en-us/windows-hardware/drivers/devtest/ndis-doublecomplete',
    ),
  );
  const bc = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e.kind === 'bugcheck')!;
  assert.equal(bc.rule, 'DoubleComplete');
  assert.equal(bc.windowsRule, 'NdisOidDoubleComplete');
  assert.match(
    readFileSync(html, 'utf8'),
    /NdisOidDoubleComplete — [^<]*as !analyze names it\)<br><a href="#rule-DoubleComplete">/,
  );
  rmSync(dir, { recursive: true });
});

test('R6.3: NdisOidDoubleComplete, the rule 0x91002 belongs to, is named once; analyzeRule finds the rule of a 0xC4 code in rules.json', () => {
  assert.equal(analyzeRule(0xc4, [0x91002, 0, 0, 0], 'DoubleCompleteWorkItem'), 'NdisOidDoubleComplete');
  assert.equal(analyzeRule(0xc4, [0x91002, 0, 0, 0], 'NdisOidDoubleComplete'), null);
  assert.equal(analyzeRule(0xc4, [0x4e530014, 0, 0, 0], 'MiniportPause_Return'), null, 'an ndis-sim code');
  assert.equal(analyzeRule(0xd1, [0x91002, 2, 0, 0], 'Irql_Miniport_Driver_Function'), null);
  const r = cli('run', galleryScenario('NdisOidDoubleComplete'), '--quiet');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ {2}Rule: +NdisOidDoubleComplete — [^\n]*\n {2}Windows: [^\n]*\n {2}Rule book:/m);
});

/** Rule and message of every violation of a collect-mode run. */
const said = (r: { violations: readonly { rule: string; message: string }[] }) =>
  r.violations.map((v) => `${v.rule}: ${v.message}`);

test('NdisSim_CallbackReturnValue, R3.5: an async MiniportPause returns a Promise, reported as such, not as "an unknown status (0x00000000)"', () => {
  const { r } = removedScripted('async-pause', {
    pause: () => (async () => NDIS_STATUS_SUCCESS)() as unknown as NDIS_STATUS,
  });
  const s = said(r);
  assert.ok(
    s.includes(
      'NdisSim_CallbackReturnValue: MiniportPause returned a Promise — handlers must be synchronous (async handler?); NDIS reads an NDIS_STATUS from it',
    ),
    s.join('\n'),
  );
  // Reported once: the pause goes on as SUCCESS, with no MiniportPause_Return after it.
  assert.ok(!s.some((x) => x.startsWith('MiniportPause_Return:')), s.join('\n'));
  assert.ok(!s.some((x) => x.includes('0x00000000')), s.join('\n'));
});

test('NdisSim_CallbackReturnValue, R2.5: MiniportInitializeEx with no return statement returns undefined (no return statement?); in bugcheck mode 0xC4/0x4E5300EA', () => {
  const drv = scriptedDriver('init-no-return', {
    initialize: () => undefined as unknown as NDIS_STATUS,
  });
  const { r } = runOne(drv);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_CallbackReturnValue');
  assert.equal(v.ddi, 'MiniportInitializeEx');
  assert.equal(
    v.message,
    'MiniportInitializeEx returned undefined (no return statement?); NDIS reads an NDIS_STATUS from it',
  );
  assert.equal(v.bugCheck.code, 0xc4);
  assert.equal(v.bugCheck.params[0], 0x4e5300ea);
});

test('NdisSim_CallbackReturnValue, R6.1, R3.9: MiniportOidRequest returning undefined and MiniportRestart returning a string are reported with what they returned', () => {
  const { r } = removedScripted('oid-no-return', {
    oid: () => undefined as unknown as NDIS_STATUS,
    restart: () => 'SUCCESS' as unknown as NDIS_STATUS,
  });
  const s = said(r);
  assert.ok(
    s.includes(
      'NdisSim_CallbackReturnValue: MiniportOidRequest returned undefined (no return statement?); NDIS reads an NDIS_STATUS from it',
    ),
    s.join('\n'),
  );
  assert.ok(
    s.includes(
      'NdisSim_CallbackReturnValue: MiniportRestart returned the string "SUCCESS", not a number; NDIS reads an NDIS_STATUS from it',
    ),
    s.join('\n'),
  );
  // Where the callback's own check follows in collect mode, it names the value the same way.
  const own = s.find((x) => x.startsWith('NdisSim_RestartReturn:'));
  assert.match(own ?? '', /a string value, not a status/);
  assert.ok(!s.some((x) => x.includes('0x00000000')), s.join('\n'));
});

test('NdisSim_CallbackReturnValue, R4.2: a Promise from a BOOLEAN callback (async MiniportCheckForHangEx) is reported too; a plain false is not', () => {
  const a = removedScripted(
    'async-hang',
    {
      checkForHang: () => (async () => false)() as unknown as boolean,
    },
    3 * ns.s,
    4 * ns.s,
  );
  assert.ok(
    said(a.r).includes(
      'NdisSim_CallbackReturnValue: MiniportCheckForHangEx returned a Promise — handlers must be synchronous (async handler?); its caller reads a BOOLEAN from it: answer true or false',
    ),
    said(a.r).join('\n'),
  );
  const b = removedScripted('plain-hang', { checkForHang: () => false }, 3 * ns.s, 4 * ns.s);
  assert.deepEqual(
    b.r.violations.filter((v) => v.rule === 'NdisSim_CallbackReturnValue'),
    [],
  );
});

/** The line number of the frame that made `e`, in this file. */
function lineOf(e: Error): number {
  const m = /bugcheck-report\.test\.ts:(\d+):\d+/.exec(e.stack ?? '');
  assert.ok(m !== null, e.stack);
  return Number(m[1]);
}

test('R8.2, Irql_Miniport_Driver_Function: the bug check names the driver line that called NdisMSleep at DISPATCH and the callback it ran in', () => {
  let mark: Error | null = null;
  const drv = scriptedDriver('restart-sleeps-here', {
    restart: () => {
      NDIS_RAISE_IRQL_TO_DISPATCH();
      mark = new Error('mark');
      NdisMSleep(10);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const { w, r } = runOne(drv);
  const v = r.bugCheck!;
  const line = lineOf(mark!) + 1;
  assert.match(
    v.callSite ?? '',
    new RegExp(`^test/bugcheck-report\\.test\\.ts:${line}:\\d+ \\(in MiniportRestart\\)$`),
  );
  const block = formatBugCheckReport(v, w.trace, false);
  const where = block.findIndex((l) => l.startsWith('  Where:'));
  assert.equal(block[where + 1], `  Call site: at ${v.callSite}`);
  // The trace's violation event carries it as `at`.
  const ev = w.trace.events.find((e) => e.kind === 'violation')!;
  assert.equal(ev.data?.at, v.callSite);
});

test('SpinLock (R8.10): a built-in driver is driver code: the call site is its line in src/drivers/, relative to the working directory, in the trace and the HTML report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-cs-'));
  const trace = join(dir, 't.jsonl');
  const html = join(dir, 'r.html');
  const r = cli('run', galleryScenario('SpinLock'), '--quiet', '--trace', trace, '--html', html);
  assert.equal(r.status, 0, r.stderr);
  const ev = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e.kind === 'violation')!;
  assert.match(String(ev.at), /^src\/drivers\/buggy\/[\w-]+\.ts:\d+:\d+ \(in \w+\)$/);
  assert.match(r.stdout, new RegExp(`^ {2}Call site: at ${String(ev.at).replace(/[()]/g, '\\$&')}$`, 'm'));
  assert.ok(readFileSync(html, 'utf8').includes(`<dt>Call site</dt><dd>at ${String(ev.at)}</dd>`));
  rmSync(dir, { recursive: true });
});

test('CancelTimerObject (R8.7), NdisSim_PauseWatchdog (R3.7): what NDIS finds on its own, at halt or by a watchdog, has no call site, in the block or the trace', () => {
  for (const rule of ['CancelTimerObject', 'NdisSim_PauseWatchdog']) {
    const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-cs-'));
    const trace = join(dir, 't.jsonl');
    const r = cli('run', galleryScenario(rule), '--quiet', '--trace', trace);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^ {2}Rule: +${rule} `, 'm'));
    assert.doesNotMatch(r.stdout, /Call site:/);
    assert.doesNotMatch(readFileSync(trace, 'utf8'), /"at":/);
    rmSync(dir, { recursive: true });
  }
});

test('SpinLock (R8.10): the call site is the same from another working directory, so a replay elsewhere traces the same bytes', () => {
  const here = cli('run', galleryScenario('SpinLock'), '--quiet').stdout.split('\n');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  const away = spawnSync(
    process.execPath,
    [resolve('bin/ndis-sim.js'), 'run', resolve(galleryScenario('SpinLock')), '--quiet'],
    { encoding: 'utf8', env, cwd: tmpdir() },
  ).stdout.split('\n');
  const site = (lines: string[]) => lines.find((l) => l.startsWith('  Call site:'));
  assert.match(site(here) ?? '', /^ {2}Call site: at src\/drivers\/buggy\//);
  assert.equal(site(away), site(here));
});

test('NdisSim_DriverException: the thrown exception names the driver frames the same from another working directory, so a replay elsewhere traces the same bytes', () => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  const run = (cwd: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-ex-'));
    const trace = join(dir, 'trace.jsonl');
    const r = spawnSync(
      process.execPath,
      [
        resolve('bin/ndis-sim.js'),
        'run',
        resolve(galleryScenario('NdisSim_DriverException')),
        '--quiet',
        '--trace',
        trace,
      ],
      { encoding: 'utf8', env, cwd },
    );
    // 0: the gallery scenario expects this bug check.
    assert.equal(r.status, 0, r.stderr);
    const text = readFileSync(trace, 'utf8');
    rmSync(dir, { recursive: true });
    return text;
  };
  const here = run(process.cwd());
  assert.match(here, /threw [^"]* at [^"]*src\/drivers\/buggy\/[a-z-]+\.ts:\d+:\d+/);
  assert.equal(run(tmpdir()), here);
});

test('NdisSim_CallbackReturnValue: an async VOID callback (MiniportDevicePnPEventNotify) is reported too, without a status to read', () => {
  const drv = scriptedDriver('async-pnp-notify', {
    characteristics: (c) => {
      c.DevicePnPEventNotifyHandler = async () => {};
    },
  });
  const { r } = runOne(drv);
  assert.equal(r.bugCheck?.rule, 'NdisSim_CallbackReturnValue');
  assert.equal(
    r.bugCheck?.message,
    'MiniportDevicePnPEventNotify returned a Promise — handlers must be synchronous (async handler?)',
  );
});

test('R6.16, bug check 0x7C/0x20: an empty NDIS_STATUS_INDICATION ({}) is NdisSim_StatusIndicationInvalid with number parameters (StatusCode 0), its report prints, and its trace line says StatusCode=missing as the message does', () => {
  const drv = scriptedDriver('empty-status-indication', {
    restart: (a) => {
      NdisMIndicateStatusEx(a.handle, {} as NDIS_STATUS_INDICATION);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const { w, r } = runOne(drv);
  const v = r.bugCheck!;
  assert.equal(v.rule, 'NdisSim_StatusIndicationInvalid');
  // Parameter 2 is the status code NDIS read: 0 in a zeroed struct, not undefined.
  assert.deepEqual(v.bugCheck.params, [0x20, 0, 'nic0 miniport block', 'StatusBuffer']);
  assert.equal(
    v.message,
    'an indication without a StatusCode: Header.Type is missing, not NDIS_OBJECT_TYPE_STATUS_INDICATION',
  );
  // The report that threw "reading 'toString'" on the undefined parameter.
  const block = formatBugCheckReport(v, w.trace, false).join('\n');
  assert.match(block, /BUGCODE_NDIS_DRIVER \(0x7C\) 0x20, 0x0, nic0 miniport block, StatusBuffer/);
  // The trace line says what the message says, StatusCode missing, not NULL, a pointer
  // NDIS never read (R6.16); the JSON trace keeps the field too.
  assert.match(block, /NdisMIndicateStatusEx\(StatusCode=missing\)/);
  const ddi = w.trace.events.find((e) => e.kind === 'ddi' && e.what === 'NdisMIndicateStatusEx');
  assert.equal(ddi?.data?.StatusCode, 'missing');
});

test('formatParam: a parameter that is neither a number nor a string is shown, never thrown on (the bug-check report must get out)', () => {
  assert.equal(formatParam(0x7c), '0x7C');
  assert.equal(formatParam('StatusBuffer'), 'StatusBuffer');
  for (const p of [undefined, null, Number.NaN, {}] as unknown as number[])
    assert.doesNotThrow(() => formatParam(p));
  assert.equal(
    formatBugCheck(0x7c, [0x20, undefined as unknown as number]),
    'BUGCODE_NDIS_DRIVER (0x7C) 0x20, ?(undefined)',
  );
});

test('R8.2, Irql_Miniport_Driver_Function: a Static Driver Verifier IRQL rule that ends in 0xD1 gets a Windows line (nothing checks it at run time) and a line saying why 0xD1 is only likely, right under the rule, in the block and the HTML report; a Driver Verifier rule (0xC4) does not', () => {
  const { w, r } = runOne(sleepsAtDispatch());
  const v = r.bugCheck!;
  assert.equal(v.bugCheck.code, 0xd1);
  assert.equal(catalogue.get(v.rule)?.origin, 'sdv');
  const lines = formatBugCheckReport(v, w.trace, false);
  const at = lines.findIndex((l) => l.startsWith('  Rule:'));
  assert.equal(
    lines[at + 1],
    '  Windows:   Static Driver Verifier, when the driver is built; at run time nothing checks it (see Why 0xD1)',
  );
  assert.equal(
    lines[at + 2],
    '  Why 0xD1:  what the call does on Windows depends on what the DDI does at that IRQL: 0xD1 is the likely outcome (a DDI that touches pageable memory), not a certain one; ndis-sim stops every such call with 0xD1 (docs/decisions.md)',
  );
  const html = toHtmlReport({
    scenario: {},
    seed: 1,
    events: w.trace.events,
    dropped: w.trace.dropped,
    result: r,
    summary: w.summary(),
    expectation: null,
    version: '0.0.0-test',
  });
  assert.match(
    html,
    /<dt>Rule<\/dt><dd>[\s\S]*?<\/dd><dt>Windows<\/dt><dd>Static Driver Verifier, when the driver is built; at run time nothing checks it \(see Why 0xD1\)<\/dd><dt>Why 0xD1<\/dt><dd>what the call does on Windows depends on what the DDI does at that IRQL: 0xD1 is the likely outcome \(a DDI that touches pageable memory\), not a certain one; ndis-sim stops every such call with 0xD1 \(docs\/decisions\.md\)<\/dd>/,
  );
  // A rule Driver Verifier checks at run time stops with its own 0xC4 code: no such line.
  const dv = cli('run', galleryScenario('DoubleComplete'), '--quiet');
  assert.match(dv.stdout, /DRIVER_VERIFIER_DETECTED_VIOLATION \(0xC4\)/);
  assert.doesNotMatch(dv.stdout, /Why 0xD1/);
});

/** A violation of `rule` that stopped with `code` and parameter 1 `p1`, for windowsCheckNote. */
function stopped(rule: string, code: number, p1: number): Parameters<typeof windowsCheckNote>[0] {
  return { rule, bugCheck: { code, name: '', params: [p1, 0, 0, 0] } } as unknown as Parameters<
    typeof windowsCheckNote
  >[0];
}

test('review-dv #2: the Windows line says who stops here on Windows: NDIS always (0x7C), Driver Verifier and which option (0xC4 NDIS/WIFI ids, its standard checks), nobody for SDV rules and ndis-sim codes (0x4E53xxxx)', () => {
  // R6.6: NdisTimedOidComplete is Driver Verifier's NDIS/WIFI verification, /flags 0x200000.
  assert.match(
    windowsCheckNote(stopped('NdisTimedOidComplete', 0xc4, 0x92003)),
    /^only Driver Verifier with its NDIS\/WIFI verification option \(verifier \/flags 0x200000\)/,
  );
  // R8.10: Driver Verifier's own spin-lock code.
  assert.match(
    windowsCheckNote(stopped('Irql_Synch_Function', 0xc4, 0x40)),
    /^only Driver Verifier, its standard checks/,
  );
  // R8.10: SpinLock is SDV's; its 0x4E53 code is ndis-sim's.
  assert.equal(
    windowsCheckNote(stopped('SpinLock', 0xc4, 0x4e530010)),
    "Static Driver Verifier, when the driver is built; at run time nothing checks it: 0x4E530010 is ndis-sim's own code (0x4E53xxxx), not a Windows bug check",
  );
  assert.match(
    windowsCheckNote(stopped('NdisSim_QueryPowerFailed', 0xc4, 0x4e5300d4)),
    /^nothing checks it \(ndis-sim's own rule\): 0x4E5300D4 .*not a Windows bug check$/,
  );
  // R1.10: NDIS's own 0x7C.
  assert.equal(
    windowsCheckNote(stopped('NdisSim_PauseCompleteUnexpected', 0x7c, 0x1f)),
    'NDIS itself, on every machine, with or without Driver Verifier',
  );
  assert.match(
    windowsCheckNote(stopped('NdisSim_DriverException', 0x1e, 0)),
    /^the Windows kernel, on every machine/,
  );
  assert.match(
    windowsCheckNote(stopped('DoubleCompletion', 0xc9, 0x220)),
    /^only Driver Verifier with I\/O verification/,
  );
});
