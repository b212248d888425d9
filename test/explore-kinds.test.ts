// Kinds of failure (docs/model.md, "The explorer"): the explorer groups failing runs by
// the rule broken and where in the driver it was broken (the call site, an exception's
// line, or where a violation found later began), not by the rule alone, so two bugs
// under one rule are two kinds, each shrunk on its own. And the warning of an
// exploration whose strategy cannot reach the scenario's `inject:` events.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { driverNames } from '../src/drivers/index.ts';
import { exploreSeeds, failureWhere, runOnce, shrink } from '../src/explore/explore.ts';
import { exploreJson, formatExploreReport } from '../src/explore/format.ts';
import { formatReplayFile, parseReplayFile, withContentDigest } from '../src/explore/replay-file.ts';
import { deviationsInjectWarning } from '../src/explore/session.ts';
import { NDIS_STATUS_SUCCESS, NdisMSleep } from '../src/index.ts';
import { untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';
import { cli } from './helpers/cli.ts';
import { scriptedDriver } from './helpers/scripted.ts';

// NdisMSleep needs PASSIVE, and NDIS calls MiniportResetEx at PASSIVE or DISPATCH, drawn
// per call (R8.1, callbackIrql `explore`). This driver sleeps on two lines, the odd
// resets on one and the even on the other: the first reset called at DISPATCH decides
// which line breaks the rule. Two bugs, one rule.
const twoPlaces = scriptedDriver('sleeps-in-reset-two-places', {
  registrationAttributes: { CheckForHangTimeInSeconds: 1 },
  checkForHang: () => true,
  reset: (a) => {
    const n = ((a.state.resets as number | undefined) ?? 0) + 1;
    a.state.resets = n;
    if (n % 2 === 1) NdisMSleep(10);
    else NdisMSleep(20);
    return { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
  },
});

const text = `
name: sleeps in reset at two places
until: 6s
protocols: [{ name: tcpip }]
devices:
  - { name: nic0, driver: sleeps-in-reset-two-places }
`;

function setup() {
  const drivers = [twoPlaces];
  const scenario = parseScenarioText(text, 'explore-kinds.test.yaml', driverNames(drivers));
  return { scenario, drivers, untilNs: untilNs(scenario), verifier: 'bugcheck' as const };
}

test('explore: one rule broken on two lines of the driver is two kinds of failure, each with its call site (R8.1)', () => {
  const s = setup();
  const r = exploreSeeds(s, 1, 40);
  assert.ok(r.failed > 0, `${r.failed} failed`);
  assert.equal(r.groups.length, 2, r.groups.map((g) => g.key).join('\n'));
  const [a, b] = r.groups as [(typeof r.groups)[number], (typeof r.groups)[number]];
  // The same rule, so the same signature; told apart by where.
  assert.equal(a.signature, b.signature);
  assert.match(a.signature, /^bugcheck Irql_/);
  assert.notEqual(a.where, b.where);
  for (const g of r.groups) {
    assert.match(g.where ?? '', /^at test\/explore-kinds\.test\.ts:\d+:\d+ \(in MiniportResetEx\)$/);
    assert.equal(g.key, `${g.signature} ${g.where}`);
  }
  // Every seed of a group broke the rule on the group's line.
  for (const g of r.groups)
    for (const seed of g.seeds.slice(0, 5))
      assert.equal(runOnce(s, seed).outcome.where, g.where, `seed ${seed}`);
  // The text report and the JSON say where; the JSON keeps `signature` as it was (format 1 only adds).
  const fo = {
    color: false,
    file: 'x.yaml',
    firstSeed: 1,
    wallMs: 1,
    shrinkMs: 0,
    strategy: null,
    replays: new Map(),
  };
  const lines = formatExploreReport(r, fo);
  assert.ok(lines.includes('Failures (2 kinds)'), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith(`  1. ${a.signature} ${a.where}  `)));
  const j = exploreJson(r, fo, 'test');
  assert.deepEqual(
    j.failures.map((f) => [f.signature, f.rule, f.where]),
    r.groups.map((g) => [g.signature, g.signature.replace(/^bugcheck /, ''), g.where]),
  );
});

test('explore: each kind is shrunk to a run that breaks the rule on its own line, not folded into the other (R8.1)', () => {
  const s = setup();
  const r = exploreSeeds(s, 1, 40);
  assert.equal(r.groups.length, 2);
  for (const g of r.groups) {
    const sh = shrink(s, g.seeds[0]!, 400);
    assert.equal(sh.outcome.key, g.key, `group ${g.key} shrunk to ${sh.outcome.key}`);
  }
});

test('failureWhere: a call site, an exception, or an origin without its times (the data-path time-outs by the callback alone)', () => {
  const bc = { code: 0, name: 'X', params: [0, 0, 0, 0] };
  const v = { rule: 'R', ddi: 'NdisX', callSite: null, origin: null, bugCheck: bc };
  assert.equal(
    failureWhere({ ...v, callSite: 'my.ts:4:5 (in MiniportPause)' }),
    'at my.ts:4:5 (in MiniportPause)',
  );
  assert.equal(failureWhere(v), null);
  assert.equal(
    failureWhere({
      ...v,
      rule: 'NdisSim_DriverException',
      ddi: 'MiniportSendNetBufferLists',
      bugCheck: { ...bc, params: [0, 'my.ts:44:23', 0, 0] },
    }),
    'thrown at my.ts:44:23 (in MiniportSendNetBufferLists)',
  );
  const origin = (label: string, at: string) => failureWhere({ ...v, origin: { label, at } });
  assert.equal(
    origin(
      'Set in',
      'MiniportResetEx at 2.400000 s (timer function hangTimer; allocated in MiniportInitializeEx at 0.000000 s)',
    ),
    'set in MiniportResetEx (timer function hangTimer; allocated in MiniportInitializeEx)',
  );
  assert.equal(
    origin('Pended by', "MiniportOidRequest at 1.000100 s (OID_PNP_SET_POWER, NDIS's own power request)"),
    "pended by MiniportOidRequest (OID_PNP_SET_POWER, NDIS's own power request)",
  );
  // R6.11: whose NBL it was, and how the stall was measured, make no other bug.
  assert.equal(
    origin('Sent in', 'MiniportSendNetBufferLists at 3.000000 s (an NBL of tcpip)'),
    'sent in MiniportSendNetBufferLists',
  );
  assert.equal(origin('Stalled', 'since 3.000000 s (its last NdisMSendNetBufferListsComplete)'), 'stalled');
});

const injectText = `
until: 2s
devices:
  - { name: nic0, driver: healthy-nic }
inject:
  - { do: surprise-remove, device: nic0, within: 1s..2s }
  - { do: remove, device: nic0, within: 1s..2s, chance: 100% }
`;

test('explore --strategy deviations warns of inject: events it will seldom give, with the odds (docs/model.md "Strategies")', () => {
  const s = parseScenarioText(injectText, 'inject.yaml', driverNames());
  const dev = { kind: 'deviations' as const, depth: 2, horizon: 5000 };
  assert.equal(deviationsInjectWarning(s, undefined), null);
  assert.equal(deviationsInjectWarning(s, { kind: 'random' }), null);
  // The chance-100% removal comes in the simplest schedule too: only the other is counted.
  assert.equal(
    deviationsInjectWarning(s, dev),
    'inject: its event drawn by chance is not injected in the simplest schedule, and --strategy deviations changes 2 of its 5,000 decisions a run: at most about 1 run in 2,500 gets it; use --strategy random for a scenario with inject:',
  );
  const none = parseScenarioText(injectText.replace(/inject:[\s\S]*$/, ''), 'none.yaml', driverNames());
  assert.equal(deviationsInjectWarning(none, dev), null);
});

test('ndis-sim explore --strategy deviations with inject: says so on stderr before the runs, and in the report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-kinds-'));
  const file = join(dir, 'inj.yaml');
  writeFileSync(file, injectText);
  const r = cli('explore', file, '--runs', '2', '--strategy', 'deviations', '--quiet', '--out', dir);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    /^ndis-sim: warning: .*inj\.yaml: inject: its event drawn by chance is not injected in the simplest schedule, and --strategy deviations changes 2 of its [\d,]+ decisions a run: at most about 1 run in [\d,]+ gets it; use --strategy random for a scenario with inject:\n/,
  );
  assert.match(r.stdout, /\n {2}warning: inject: its event drawn by chance is not injected/);
  const random = cli('explore', file, '--runs', '2', '--quiet', '--out', dir);
  assert.equal(random.stderr, '');
  assert.doesNotMatch(random.stdout, /warning/);
});

test('replay compares the kind: a driver that breaks the rule on another line fails otherwise than recorded; a file without `where` (older versions) is compared by the signature (R8.6)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-kinds-replay-'));
  const args = ['examples/timer-race.yaml', '--driver', 'examples/timer-race.ts', '--runs', '30', '--quiet'];
  assert.equal(cli('explore', ...args, '--out', dir).status, 1);
  const file = join(dir, 'timer-race.seed20.replay.json');
  const recorded = parseReplayFile(readFileSync(file, 'utf8'), file);
  assert.match(recorded.failure?.where ?? '', /^at examples\/timer-race\.ts:\d+:\d+ \(in MiniportHaltEx\)$/);
  // The same driver with a line more at its top: the same bug, one line down.
  const moved = join(dir, 'timer-race-moved.ts');
  writeFileSync(moved, `// one line more\n${readFileSync('examples/timer-race.ts', 'utf8')}`);
  const r = cli('replay', file, '--driver', moved, '--quiet');
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stdout,
    /fails otherwise than recorded: recorded: bugcheck NdisSim_TimerFreedWhileSet at examples\/timer-race\.ts:(\d+):\d+ \(in MiniportHaltEx\); this run: bugcheck NdisSim_TimerFreedWhileSet at timer-race-moved\.ts:\d+:\d+ \(in MiniportHaltEx\)\n/,
  );
  // The file as an older ndis-sim wrote it: no `where`, so the rule alone is compared.
  const old = join(dir, 'old.replay.json');
  const { where: _, ...failure } = recorded.failure!;
  writeFileSync(old, formatReplayFile(withContentDigest({ ...recorded, failure })));
  const o = cli('replay', old, '--driver', moved, '--quiet');
  assert.equal(o.status, 1, o.stderr);
  assert.match(
    o.stdout,
    /the run fails as recorded \(bugcheck NdisSim_TimerFreedWhileSet\), with another trace\n/,
  );
});
