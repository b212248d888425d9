// The command line: the demo, exit codes, bad input, a throwing driver.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return cliEnv({ NO_COLOR: '1' }, ...args);
}

/** The CLI with these colour variables (and no others inherited). */
function cliEnv(
  colour: Record<string, string>,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  const r = spawnSync(process.execPath, ['bin/ndis-sim.js', ...args], {
    encoding: 'utf8',
    env: { ...env, ...colour },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Index of the first line containing `s` at or after `from`; fails if none. */
function lineAfter(lines: string[], s: string | RegExp, from: number): number {
  for (let i = from; i < lines.length; i++) {
    if (typeof s === 'string' ? lines[i]!.includes(s) : s.test(lines[i]!)) return i;
  }
  assert.fail(`"${String(s)}" not found after line ${from}`);
}

test('demo (npm start): the reset storm shows the whole removal in order and exits 0', () => {
  // How long it takes (under 5 s is the target) is measured, not tested: a timed test
  // fails on a busy machine (it took 6.8 s with four other test runs beside it).
  const r = cli('run', 'examples/reset-storm.yaml');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  let i = 0;
  i = lineAfter(lines, /← MiniportCheckForHangEx = TRUE/, i);
  i = lineAfter(lines, '→ MiniportResetEx', i);
  i = lineAfter(lines, '→ MiniportResetEx', i + 1);
  i = lineAfter(lines, 'NdisWriteErrorLogEntry', i);
  i = lineAfter(lines, 'NdisMRemoveMiniport() = NDIS_STATUS_SUCCESS', i);
  i = lineAfter(
    lines,
    /live dump BUGCODE_NDIS_DRIVER_LIVE_DUMP \(0x15E\) 0x1, .*, 0x47: miniport fatal error, reason 71/,
    i,
  );
  i = lineAfter(lines, 'reports PNP_DEVICE_FAILED', i);
  i = lineAfter(lines, 'IRP_MN_SURPRISE_REMOVAL → nic0', i);
  i = lineAfter(
    lines,
    '→ MiniportDevicePnPEventNotify(nic0, DevicePnPEvent=NdisDevicePnPEventSurpriseRemoved)',
    i,
  );
  i = lineAfter(lines, 'binding Running → Pausing', i);
  i = lineAfter(lines, 'binding Pausing → Paused', i);
  const pause = lineAfter(lines, '→ MiniportPause', i);
  i = lineAfter(lines, 'binding Closing → Unbound', pause);
  i = lineAfter(lines, '→ MiniportHaltEx(nic0, HaltAction=NdisHaltDeviceFailed)', i);
  i = lineAfter(lines, 'nic0: failed (Code 43)', i);
  i = lineAfter(lines, 'Summary', i);
  lineAfter(lines, /Code 43/, i);
  // The summary tells the teardown in one line (R5.11, R5.12).
  lineAfter(
    lines,
    /^ {4}nic0 +NdisMRemoveMiniport at 18\.003281 s: every step to Code 43, in 0\.000670 s$/,
    i,
  );
  lineAfter(lines, /Verdict: as expected/, i);
});

test('bad input: every wrong field is reported as file: path: expected …, got …, exit 2', () => {
  const f = 'test/fixtures/bad-fields.yaml';
  const r = cli('run', f);
  assert.equal(r.status, 2);
  const want = [
    `${f}: seed: expected at least 0, got -1`,
    `${f}: until: expected a duration`,
    `${f}: devices[0].driver: expected one of the drivers \`ndis-sim drivers\` lists (or your own, loaded with --driver <module>), got "flakey-nic"`,
    'did you mean flaky-nic?',
    `${f}: devices[0].faults.hangAt: expected a duration`,
    `${f}: devices[0].faults: unknown field "bogus"`,
    `${f}: actions[0].do: expected one of start, surprise-remove, remove, disable, stop, shutdown, oid, sleep, send, cancel-sends, wake-signal, frame, start-filter, stop-filter, stop-protocol, open, ioctl, read, write, close, cancel, exit, got "explode"`,
    `${f}: actions[0].device: expected one of the devices (nic0), got "nic9"`,
  ];
  for (const w of want) assert.ok(r.stderr.includes(w), `missing: ${w}\n--- stderr:\n${r.stderr}`);
  assert.equal(r.stdout, '');
});

test("bad input: an inject window after the run's end is reported with the file's other problems, not only once they are fixed (run and explore; --until moves the end)", () => {
  const f = 'test/fixtures/bad-inject-window.yaml';
  const window = `${f}: inject[0].within: expected a window that starts before the run ends at 1.000000 s, got 2s..3s: the event could never happen`;
  for (const cmd of ['run', 'explore']) {
    const r = cli(cmd, f, '--quiet');
    assert.equal(r.status, 2, r.stdout);
    for (const w of [`${f}: seed: expected at least 0, got -1`, window])
      assert.ok(r.stderr.includes(w), `${cmd}: missing: ${w}\n--- stderr:\n${r.stderr}`);
  }
  const later = cli('run', f, '--until', '5s', '--quiet');
  assert.equal(later.status, 2);
  assert.ok(!later.stderr.includes('inject[0]'), later.stderr);
});

test('bad input: a number field of the wrong type (wire.rxRate and the like) names file, field, what it takes (whole or not, range, unit) and what it got', () => {
  const f = 'test/fixtures/bad-numbers.yaml';
  const r = cli('run', f);
  assert.equal(r.status, 2);
  const want = [
    `${f}: cpus: expected a whole number from 1 to 64, got 1.5`,
    `${f}: devices[0].wire.rxRate: expected a number from 0 to 10000000 (frames per second), got "fast"`,
    `${f}: devices[0].wire.burst: expected a whole number from 1 to 256 (frames that arrive with one interrupt), got "2"`,
    `${f}: protocols[0].traffic.rate: expected a number from 0 to 10000000 (frames per second on each binding), got "lots"`,
  ];
  for (const w of want) assert.ok(r.stderr.includes(w), `missing: ${w}\n--- stderr:\n${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, want.length, r.stderr);
});

test('bad input: broken YAML names file, line and column, exit 2', () => {
  const r = cli('run', 'test/fixtures/bad-yaml.yaml');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^test\/fixtures\/bad-yaml\.yaml:\d+:\d+: /);
});

test('bad input: one YAML indentation mistake is one error with its line and a caret, and the count of those it caused; exit 2, also when the output is piped into a reader that quits (EPIPE)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-yaml-'));
  try {
    // An item indented a space too little: the parser reports 13 errors, all from this one.
    const file = join(dir, 'indent.yaml');
    writeFileSync(
      file,
      [
        'until: 30s',
        'devices:',
        '  - name: nic0',
        '   bad: [unclosed',
        '    driver: flaky-nic',
        '    registry:',
        '      ResetLimit: 3',
        '    faults:',
        '      hangAt: 1.5s',
        'expect:',
        '  devices:',
        '    nic0: { problem: 43 }',
        '',
      ].join('\n'),
    );
    const r = cli('run', file);
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], `${file}:4:1: Sequence item without - indicator`);
    assert.equal(lines[1], '  4 |    bad: [unclosed');
    assert.equal(lines[2], '    | ^');
    assert.match(
      lines[3]!,
      /^\(\d+ more YAML errors after it, most likely caused by it: fix this one first\)$/,
    );
    assert.equal(lines.length, 4, r.stderr);
    // `2>&1 | true`: the reader is gone before the message is written; the exit code
    // is still the command's 2, not node's 1 for an unhandled EPIPE.
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const args of [[file], [join(dir, 'none.yaml')]]) {
      const piped = spawnSync(
        'bash',
        [
          '-c',
          '"$1" bin/ndis-sim.js run "$2" 2>&1 | true; exit $PIPESTATUS',
          'sh',
          process.execPath,
          ...args,
        ],
        { encoding: 'utf8', env },
      );
      assert.equal(piped.status, 2, `${args[0]}: ${piped.stderr}`);
      assert.equal(piped.stderr, '');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: a missing file and a bad --seed exit 2 with a message', () => {
  const a = cli('run', 'no/such/file.yaml');
  assert.equal(a.status, 2);
  assert.match(
    a.stderr,
    /no\/such\/file\.yaml: expected a scenario file \(YAML or JSON\), got no such file from .* \(ENOENT\)/,
  );
  const b = cli('run', 'examples/reset-storm.yaml', '--seed', 'abc');
  assert.equal(b.status, 2);
  assert.match(b.stderr, /--seed: expected an integer from 0 to 4294967295, got "abc"/);
  const c = cli('frobnicate');
  assert.equal(c.status, 2);
});

test('bad input: an alias bomb, a registry value of the wrong type and a protocol named twice exit 2, one line each', () => {
  const a = cli('run', 'test/fixtures/alias-bomb.yaml');
  assert.equal(a.status, 2);
  assert.match(a.stderr, /^test\/fixtures\/alias-bomb\.yaml: .*alias/);
  assert.doesNotMatch(a.stderr, /internal error/);
  const f = 'test/fixtures/bad-registry.yaml';
  const b = cli('run', f);
  assert.equal(b.status, 2);
  for (const w of [
    `${f}: devices[0].registry.ResetLimit: expected a whole number or a string, got 1.5`,
    `${f}: devices[0].registry.Verbose: expected a whole number or a string, got true`,
    `${f}: protocols[1].name: expected a unique name, got "tcpip" twice`,
  ])
    assert.ok(b.stderr.includes(w), `missing: ${w}\n--- stderr:\n${b.stderr}`);
});

test('bad input: an oid action whose value its request cannot carry exits 2 (a set of addresses, a set of a ULONG, a query), and so do a bad bufferLength, OID fields on another action, vetoBelow on an action that has no query, and direct: true with an OID the direct path does not allow, not a boolean, or with a timeout, and synchronous: true (R6.2) with an OID the synchronous path does not allow, a request, a timeout, direct: true or a value that is not a ULONG', () => {
  const f = 'test/fixtures/bad-oid-values.yaml';
  const r = cli('run', f);
  assert.equal(r.status, 2);
  const list =
    'expected a list of 6-byte addresses for a set of OID_802_3_MULTICAST_LIST, such as [[1, 0, 94, 0, 0, 1]]';
  for (const w of [
    `${f}: actions[0].value: ${list}, got 5`,
    `${f}: actions[1].value: ${list}, got nothing`,
    `${f}: actions[2].value: ${list}, got [[1,2,3]]`,
    `${f}: actions[3].value: expected a ULONG (a whole number from 0 to 0xFFFFFFFF) for a set of OID_GEN_CURRENT_PACKET_FILTER, got [[1,0,94,0,0,1]]`,
    `${f}: actions[4].value: expected no value for a query of OID_GEN_STATISTICS, got 4`,
    `${f}: actions[5].bufferLength: expected at least 0, got -1`,
    `${f}: actions[6].bufferLength: expected no OID fields (oid, request, value, timeout, bufferLength, direct, synchronous) for "remove", got bufferLength`,
    `${f}: actions[7].vetoBelow: expected vetoBelow only with remove, disable or stop, got it with "surprise-remove"`,
    `${f}: actions[8].oid: expected an OID the direct OID path allows (OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA, OID_TCP_TASK_IPSEC_OFFLOAD_V2_DELETE_SA, OID_TCP_TASK_IPSEC_OFFLOAD_V2_UPDATE_SA, OID_TCP_TASK_IPSEC_OFFLOAD_V2_ADD_SA_EX) with direct: true, got OID_GEN_STATISTICS`,
    `${f}: actions[9].direct: expected true or false, got "yes"`,
    `${f}: actions[10].timeout: expected no timeout with direct: true (NDIS does not time out direct OID requests), got 2`,
    `${f}: actions[11].oid: expected an OID the synchronous OID path allows (OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES) with synchronous: true, got OID_GEN_STATISTICS`,
    `${f}: actions[12].request: expected no request with synchronous: true (OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES is a method request only), got set`,
    `${f}: actions[13].timeout: expected no timeout with synchronous: true (a synchronous request never waits), got 2`,
    `${f}: actions[13].direct: expected direct or synchronous, not both, got direct: true`,
    `${f}: actions[14].value: expected a ULONG (a whole number from 0 to 0xFFFFFFFF) as the input of the synchronous request, got [[1,2]]`,
  ])
    assert.ok(r.stderr.includes(w), `missing: ${w}\n--- stderr:\n${r.stderr}`);
});

test('bad input: a set of OID_PM_ADD_WOL_PATTERN whose pattern the model cannot take exits 2 on the field: an unknown type, a TCP SYN with a bad address or port, a field the type does not take (EAPOL with an address, a magic packet with a mask), a bitmap pattern without its bytes, a ULONG, bad bytes, a bad priority; a pattern as the value of another OID; an unknown field', () => {
  const f = 'test/fixtures/bad-wol-patterns.yaml';
  const r = cli('run', f);
  assert.equal(r.status, 2);
  for (const w of [
    `${f}: actions[0].value.dest: expected the destination IPv4 address of the SYN, such as "192.168.0.2" ("0.0.0.0" unspecified), got "192.168.0.300"`,
    `${f}: actions[0].value.destPort: expected a TCP port from 0 (unspecified) to 65535, got 70000`,
    `${f}: actions[1].value.source: expected no source for an eapol-request-id pattern (it takes only priority), got "::1"`,
    `${f}: actions[8].value.type: expected bitmap, magic-packet, ipv4-tcp-syn, ipv6-tcp-syn, eapol-request-id, got "wildcard"`,
    `${f}: actions[9].value.source: expected the source IPv6 address of the SYN, such as "fe80::2" ("::" unspecified), got "fe80:::1"`,
    `${f}: actions[9].value.sourcePort: expected a TCP port from 0 (unspecified) to 65535, got 1.5`,
    `${f}: actions[10].value.dest: expected the destination IPv6 address of the SYN, such as "fe80::2" ("::" unspecified), got "192.168.0.2"`,
    `${f}: actions[2].value.pattern: expected the pattern bytes of a bitmap pattern, such as "02 50 4d 00 00 01", got nothing`,
    `${f}: actions[3].value.mask: expected no mask for a magic-packet pattern (it takes only priority), got "3f"`,
    `${f}: actions[4].value: expected the pattern to add for a set of OID_PM_ADD_WOL_PATTERN, such as { type: bitmap, mask: "3f", pattern: "02 50 4d 00 00 01" }, { type: magic-packet } or { type: ipv4-tcp-syn, dest: "192.168.0.2", destPort: 80 }, got 4`,
    `${f}: actions[5].value.mask: expected the mask bytes of a bitmap pattern, such as "3f" (bytes 0 to 5 compared), got "zz", which is not pairs of hex digits`,
    `${f}: actions[5].value.priority: expected a ULONG priority (1 is NDIS_PM_WOL_PRIORITY_HIGHEST, 0x10000000 NORMAL, 0xFFFFFFFF LOWEST), got -1`,
    `${f}: actions[6].value: expected a ULONG (a whole number from 0 to 0xFFFFFFFF) for a set of OID_GEN_CURRENT_PACKET_FILTER, got a mapping (a WoL pattern is the value of OID_PM_ADD_WOL_PATTERN only)`,
    `${f}: actions[7].value: unknown field "id"`,
  ])
    assert.ok(r.stderr.includes(w), `missing: ${w}\n--- stderr:\n${r.stderr}`);
  assert.ok(!/at .*\.ts:\d+/.test(r.stderr), 'no stack trace');
});

test('bad input: a misspelled field, at any depth, is reported with the field it is nearest to; a device list that does not read whole brings no follow-on errors', () => {
  const f = 'test/fixtures/typo-fields.yaml';
  const r = cli('run', f);
  assert.equal(r.status, 2);
  for (const w of [
    `${f}: (top level): unknown field "untill"; did you mean until?`,
    `${f}: ndis: unknown field "pauseWatchdg"; did you mean pauseWatchdog?`,
    `${f}: protocols[0]: unknown field "trafic"; did you mean traffic?`,
    `${f}: devices[0].faults: unknown field "hangAtt"; did you mean hangAt?`,
    `${f}: actions[0]: unknown field "bufferLenght"; did you mean bufferLength?`,
    `${f}: expect: unknown field "verdic"; did you mean verdict?`,
  ])
    assert.ok(r.stderr.includes(w), `missing: ${w}\n--- stderr:\n${r.stderr}`);
  const m = 'test/fixtures/devices-mapping.yaml';
  const d = cli('run', m);
  assert.equal(d.status, 2);
  assert.equal(d.stderr.trim(), `${m}: devices: expected a list, got a mapping`);
});

/** examples/own-driver.yaml with its `driverModules:` line taken out, or naming `module`. */
function ownScenario(module?: string): string {
  const text = readFileSync('examples/own-driver.yaml', 'utf8');
  assert.match(text, /^driverModules: \[own-driver\.ts\]$/m);
  return text.replace(/^driverModules: .*\n/m, module === undefined ? '' : `driverModules: [${module}]\n`);
}

test('--driver: a .ts module outside the repository, in a folder with no package.json, imports ndis-sim and runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-driver-'));
  try {
    copyFileSync('examples/own-driver.ts', join(dir, 'my-driver.ts'));
    writeFileSync(join(dir, 'my.yaml'), ownScenario());
    const r = cli('run', join(dir, 'my.yaml'), '--driver', join(dir, 'my-driver.ts'), '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /own0 +slow-pause-nic +Halted/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--driver: a driver split across two .ts files in a folder with no package.json: the module the entry imports finds ndis-sim too; a helper that cannot load is one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-split-'));
  try {
    // own-driver.ts does `import * as N from 'ndis-sim'`; the entry only re-exports it.
    copyFileSync('examples/own-driver.ts', join(dir, 'nic.ts'));
    writeFileSync(join(dir, 'entry.ts'), "export * from './nic.ts';\n");
    writeFileSync(join(dir, 'my.yaml'), ownScenario());
    const r = cli('run', join(dir, 'my.yaml'), '--driver', join(dir, 'entry.ts'), '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /own0 +slow-pause-nic +Halted/);
    // A CommonJS helper that require()s ndis-sim cannot load: node reports it twice (a
    // rejection and an unhandled one); the CLI says it once, without a stack, and says
    // what to do (node's own "Cannot find module 'ndis-sim'" does not).
    writeFileSync(join(dir, 'helper.cts'), "require('ndis-sim');\nmodule.exports = {};\n");
    writeFileSync(join(dir, 'cjs.ts'), "export * from './helper.cts';\nexport * from './nic.ts';\n");
    const bad = cli('run', join(dir, 'my.yaml'), '--driver', join(dir, 'cjs.ts'), '--quiet');
    assert.equal(bad.status, 2, bad.stderr);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(
      bad.stderr,
      /^--driver: cannot load ".*cjs\.ts": helper\.cts calls require\('ndis-sim'\), but ndis-sim is an ES module that only import loads: rename helper\.cts to \.mts \(or \.ts\) and write import … from 'ndis-sim'$/m,
    );
    // The same helper as an ES module loads.
    writeFileSync(join(dir, 'helper.mts'), "import 'ndis-sim';\nexport {};\n");
    writeFileSync(join(dir, 'esm.ts'), "export * from './helper.mts';\nexport * from './nic.ts';\n");
    const good = cli('run', join(dir, 'my.yaml'), '--driver', join(dir, 'esm.ts'), '--quiet');
    assert.equal(good.status, 0, good.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--driver: a .js module with import syntax in a folder with no package.json loads as an ES module, as node detects it (tsx alone took it for CommonJS: "Cannot require() ES Module … in a cycle")', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-js-'));
  try {
    copyFileSync('examples/own-driver.ts', join(dir, 'nic.ts'));
    writeFileSync(
      join(dir, 'entry.js'),
      "import { NDIS_STATUS_SUCCESS } from 'ndis-sim';\nexport * from './nic.ts';\nexport const ok = NDIS_STATUS_SUCCESS;\n",
    );
    writeFileSync(join(dir, 'my.yaml'), ownScenario());
    const r = cli('run', join(dir, 'my.yaml'), '--driver', join(dir, 'entry.js'), '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /own0 +slow-pause-nic +Halted/);
    // A package.json that says "type": "commonjs" keeps it CommonJS, as in node: one
    // line of ours says what to do (node adds a warning of its own before it).
    writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
    const cjs = cli('run', join(dir, 'my.yaml'), '--driver', join(dir, 'entry.js'), '--quiet');
    assert.equal(cjs.status, 2, cjs.stderr);
    assert.match(
      cjs.stderr,
      /^--driver: cannot load ".*entry\.js": Cannot use import statement outside a module: the file is CommonJS \(named \.cjs or \.cts, or a \.js file under a package\.json with "type": "commonjs"\); name it \.mjs or \.ts to use import and export$/m,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('driverModules: a scenario names its own driver modules, relative to its file; --driver may name the same file again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-driver-'));
  try {
    copyFileSync('examples/own-driver.ts', join(dir, 'my-driver.ts'));
    writeFileSync(join(dir, 'my.yaml'), ownScenario('my-driver.ts'));
    // Run from the repository: the module is found beside the scenario, not here.
    const r = cli('run', join(dir, 'my.yaml'), '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /own0 +slow-pause-nic +Halted +halt action: NdisHaltDeviceFailed/);
    const twice = cli('run', join(dir, 'my.yaml'), '--driver', join(dir, 'my-driver.ts'), '--quiet');
    assert.equal(twice.status, 0, twice.stderr);
    // A module that is not there, or that exports no driver, is bad input naming the field.
    writeFileSync(join(dir, 'gone.yaml'), ownScenario('gone.ts'));
    const gone = cli('run', join(dir, 'gone.yaml'));
    assert.equal(gone.status, 2);
    assert.equal(
      gone.stderr.trim(),
      `${join(dir, 'gone.yaml')}: driverModules[0]: expected a driver module, relative to the scenario's directory, got "gone.ts" (no such file: ${join(dir, 'gone.ts')})`,
    );
    writeFileSync(join(dir, 'none.ts'), 'export const x = 1;\n');
    writeFileSync(join(dir, 'none.yaml'), ownScenario('none.ts'));
    const none = cli('run', join(dir, 'none.yaml'));
    assert.equal(none.status, 2);
    assert.match(
      none.stderr,
      /none\.yaml: driverModules\[0\]: expected a module that exports a DriverModule/,
    );
    writeFileSync(join(dir, 'typed.yaml'), ownScenario('[3]'));
    const typed = cli('run', join(dir, 'typed.yaml'));
    assert.equal(typed.status, 2);
    assert.match(typed.stderr, /typed\.yaml: driverModules\[0\]: expected a string, got/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run that reaches something not modelled exits 2; the verdict names the DDI and what it met, once', () => {
  const r = cli(
    'run',
    'test/fixtures/unmodelled.yaml',
    '--driver',
    'test/fixtures/unmodelled-driver.ts',
    '--quiet',
  );
  assert.equal(r.status, 2);
  assert.match(
    r.stdout,
    /Verdict: not modelled: NdisMSetMiniportAttributes is not modelled by ndis-sim: attribute object type 0x42/,
  );
  assert.equal(r.stderr, 'ndis-sim: the run reached something ndis-sim does not model (see the verdict)\n');
});

test('--driver: a scenario runs a driver of your own module; ndis-sim drivers lists it', () => {
  const r = cli('run', 'examples/own-driver.yaml', '--driver', 'examples/own-driver.ts', '--quiet');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /own0 +slow-pause-nic +Halted +halt action: NdisHaltDeviceFailed/);
  assert.match(r.stdout, /Verdict: as expected/);
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-driver-'));
  const bare = join(dir, 'own.yaml');
  writeFileSync(bare, ownScenario());
  const without = cli('run', bare);
  rmSync(dir, { recursive: true, force: true });
  assert.equal(without.status, 2);
  assert.match(
    without.stderr,
    /devices\[0\]\.driver: .*loaded with --driver <module>\), got "slow-pause-nic"/,
  );
  const list = cli('drivers', '--driver', 'examples/own-driver.ts');
  assert.equal(list.status, 0);
  assert.match(list.stdout, /^slow-pause-nic +pends MiniportPause for 500 ms/m);
  assert.match(list.stdout, /^healthy-nic /m);
});

test('--driver: a module that cannot load, exports no DriverModule, or reuses a built-in name is bad input, exit 2', () => {
  const cases: [string, RegExp][] = [
    [
      'no/such/driver.ts',
      /^--driver: expected a module file \(\.ts or \.js\), got "no\/such\/driver\.ts": no such file from /,
    ],
    [
      'test/fixtures/not-a-driver.ts',
      /^--driver test\/fixtures\/not-a-driver\.ts: expected a module that exports a DriverModule \(\{ name, load\(\) \}\), got exports almost, answer$/m,
    ],
    ['test/fixtures/clash-driver.ts', /driver name 'healthy-nic' is taken by a built-in driver$/m],
  ];
  for (const [module, message] of cases) {
    const r = cli('run', 'examples/reset-storm.yaml', '--driver', module);
    assert.equal(r.status, 2, `${module}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
});

test('--driver: a module that does not compile names the file, line and column of the error, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-syntax-'));
  try {
    const file = join(dir, 'broken.ts');
    writeFileSync(file, 'export const x = {;\n');
    const r = cli('run', 'examples/reset-storm.yaml', '--driver', file);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(
      r.stderr.includes(
        `--driver: cannot load ${JSON.stringify(file)}: ${file}:1:18: ERROR: Expected identifier`,
      ),
      r.stderr,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: a typo in expect: (a rule id, a halt action, a device status) is bad input, exit 2, with did you mean', () => {
  const f = 'test/fixtures/bad-expect.yaml';
  const r = cli('run', f);
  assert.equal(r.status, 2);
  for (const w of [
    `${f}: expect.rule: expected a rule id (ndis-sim rules lists them), got "SpinLockBalancd"; did you mean SpinLockBalanced?`,
    `${f}: expect.adapters.nic0.haltAction: expected one of NdisHaltDeviceDisabled,`,
    'got "NdisHaltDeviceDisabld"; did you mean NdisHaltDeviceDisabled?',
    `${f}: expect.devices.nic0.status: expected one of not started, started, failed, disabled, removed, stopped, gone, got "gon"; did you mean gone?`,
  ])
    assert.ok(r.stderr.includes(w), `missing: ${w}\n--- stderr:\n${r.stderr}`);
  assert.equal(r.stdout, '');
});

test('output files: a command that fails after making its --trace file (here a bad --html path after it) leaves no empty file behind', () => {
  const d = mkdtempSync(join(tmpdir(), 'ndis-sim-outputs-'));
  try {
    const trace = join(d, 't.jsonl');
    const r = cli('run', 'examples/reset-storm.yaml', '--trace', trace, '--html', join(d, 'no/such/r.html'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--html: expected a file that can be written/);
    assert.deepEqual(readdirSync(d), [], 'the --trace file made before the --html check is gone');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('bad input: an unwritable --trace path fails before the run, and unknown rules filters exit 2', () => {
  const a = cli('run', 'examples/reset-storm.yaml', '--trace', 'no/such/dir/t.jsonl');
  assert.equal(a.status, 2);
  assert.match(
    a.stderr,
    /--trace: expected a file that can be written, got "no\/such\/dir\/t\.jsonl" \(ENOENT\)/,
  );
  assert.equal(a.stdout, '', 'nothing ran');
  const b = cli('rules', '--category', 'nope');
  assert.equal(b.status, 2);
  assert.match(b.stderr, /rules --category: expected one of .*irql.*, got "nope"/);
  const c = cli('rules', '--ddi', 'NdisMRemoveMiniprt');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /did you mean NdisMRemoveMiniport\?/);
});

test('a driver callback that throws ends the run with KMODE_EXCEPTION_NOT_HANDLED, its message and the trace, exit 1', () => {
  const r = cli('run', 'test/fixtures/throwing.yaml');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /KMODE_EXCEPTION_NOT_HANDLED \(0x1E\)/);
  assert.match(r.stdout, /Rule: {6}NdisSim_DriverException/);
  assert.match(r.stdout, /MiniportRestart threw TypeError: Cannot set properties of undefined/);
  // Where in the driver: its frame, as a debugger's stack shows it, and 0x1E's
  // parameter 2 (the exception's address) as its file, line and column.
  const at = /threw .* at \S+ \((src\/drivers\/buggy\/throwing-nic\.ts:\d+:\d+)\)$/m.exec(r.stdout);
  assert.ok(at !== null, r.stdout);
  assert.ok(r.stdout.includes(`KMODE_EXCEPTION_NOT_HANDLED (0x1E) 0x0, ${at[1]}, 0x0, 0x0`), r.stdout);
  assert.match(r.stdout, /Last events before it/);
  assert.match(r.stdout, /→ MiniportRestart\(nic0\)/);
  // No stack trace of ndis-sim (or of the driver) anywhere.
  assert.doesNotMatch(r.stdout + r.stderr, /^\s+at .*\(.*:\d+:\d+\)$/m);
  assert.doesNotMatch(r.stdout + r.stderr, /internal error/);
});

test('--quiet prints the summary without the timeline', () => {
  const r = cli('run', 'examples/reset-storm.yaml', '--quiet');
  assert.equal(r.status, 0);
  assert.doesNotMatch(r.stdout, /→ MiniportInitializeEx/);
  assert.match(r.stdout, /Summary/);
});

test('colours: FORCE_COLOR turns them on off a terminal except as 0 or false; an empty NO_COLOR is no request', () => {
  const escapes = (env: Record<string, string>): boolean =>
    cliEnv(
      env,
      'run',
      'examples/own-driver.yaml',
      '--driver',
      'examples/own-driver.ts',
      '--quiet',
    ).stdout.includes('\u001b[');
  assert.equal(escapes({}), false, 'not a terminal: no colours');
  assert.equal(escapes({ FORCE_COLOR: '1' }), true);
  assert.equal(escapes({ FORCE_COLOR: '0' }), false);
  assert.equal(escapes({ FORCE_COLOR: 'false' }), false);
  assert.equal(escapes({ FORCE_COLOR: '1', NO_COLOR: '1' }), false);
  assert.equal(escapes({ FORCE_COLOR: '1', NO_COLOR: '' }), true);
  assert.equal(escapes({ FORCE_COLOR: '' }), false);
});

test('--version prints the package version; --help gives the exit codes and examples that run', () => {
  const v = cli('--version');
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  const h = cli('--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /Exit codes: 0 .*\n1 .*2 bad usage/s);
  // Every command's help, and every example any of them gives, which must exit 0 (no
  // example shows a failure) and pass no --driver its scenario loads already.
  const commands = [...h.stdout.matchAll(/^ {2}([a-z]+) .*$/gm)]
    .map((m) => m[1]!)
    .filter((c) => c !== 'help');
  assert.deepEqual(commands, ['run', 'explore', 'replay', 'rules', 'drivers', 'oids']);
  const examples = [h, ...commands.map((c) => cli(c, '--help'))].flatMap((x) =>
    x.stdout.split('\n').filter((l) => l.startsWith('  ndis-sim ')),
  );
  assert.ok(
    examples.some((l) => l.includes(' --driver ')),
    examples.join('\n'),
  );
  for (const line of examples) {
    const args = line.trim().split(/ +/).slice(1);
    checkDriverFlags(line, args);
    const r = cli(...args);
    assert.equal(r.status, 0, `${line}: ${r.stderr}`);
  }
});

/**
 * A command shown to a reader (help, an example module's header) passes with --driver
 * only modules its scenario does not load itself (driverModules:): the scenario file
 * must exist, and each --driver module too.
 */
function checkDriverFlags(line: string, args: readonly string[]): void {
  const scenario = args[0] === 'run' || args[0] === 'explore' ? args[1]! : null;
  const listed = new Set<string>();
  if (scenario !== null) {
    const text = readFileSync(scenario, 'utf8');
    const m = /^driverModules: \[(.*)\]$/m.exec(text);
    for (const f of m?.[1]?.split(',') ?? []) listed.add(join(dirname(scenario), f.trim()));
  }
  args.forEach((a, i) => {
    if (a !== '--driver') return;
    const module = args[i + 1]!;
    assert.ok(existsSync(module), `${line}: no ${module}`);
    assert.ok(!listed.has(join(module)), `${line}: ${scenario}'s driverModules: loads ${module} already`);
  });
}

test("the commands in the example modules' headers name scenarios that exist, and no --driver the scenario loads already", () => {
  let seen = 0;
  for (const f of readdirSync('examples').filter((x) => x.endsWith('.ts'))) {
    for (const m of readFileSync(join('examples', f), 'utf8').matchAll(/^\/\/ +(ndis-sim .*)$/gm)) {
      const args = m[1]!.split(/ +/).slice(1);
      if (args[0] === 'run' || args[0] === 'explore') assert.ok(existsSync(args[1]!), `${f}: ${m[1]}`);
      checkDriverFlags(`${f}: ${m[1]}`, args);
      seen++;
    }
  }
  assert.ok(seen > 20, `${seen} commands`);
});

test('--verifier collect: a gallery scenario that expects its rule is met by recording it', () => {
  const r = cli('run', 'examples/gallery/SpinLockBalanced.yaml', '--verifier', 'collect', '--quiet');
  assert.equal(r.status, 0, r.stdout.split('\n').slice(-4).join('\n'));
  assert.match(r.stdout, /Verdict: as expected/);
});

test('the timeline names object types, status codes, IRP statuses and device-state bits; a removed device is not "working"', () => {
  const storm = cli('run', 'examples/reset-storm.yaml').stdout;
  assert.match(
    storm,
    /NdisMSetMiniportAttributes\(Type=NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES\)/,
  );
  assert.match(
    storm,
    /IRP_MN_QUERY_PNP_DEVICE_STATE completed \(Status=STATUS_SUCCESS, Information=PNP_DEVICE_FAILED\)/,
  );
  const status = cli('run', 'examples/gallery/NdisSim_StatusFromNdisOnly.yaml').stdout;
  assert.match(status, /NdisMIndicateStatusEx\(StatusCode=NDIS_STATUS_RESET_START\)/);
  const removed = cli('run', 'examples/gallery/NdisSim_StaleHandle.yaml', '--quiet').stdout;
  assert.match(removed, /nic0 +PCI\\\S+ +bad-remove-after-halt +removed +its driver stack is gone/);
});

test('rules <id> gives the bug check of each DDI that stops with its own code (R8.10: spin locks under Driver Verifier)', () => {
  const r = cli('rules', 'Irql_Synch_Function', '--no-color');
  assert.equal(r.status, 0);
  assert.match(
    r.stdout,
    /Bug check: +DRIVER_IRQL_NOT_LESS_OR_EQUAL \(0xD1\), except:\n +NdisAcquireSpinLock: 0xC4\/0x42 called above its IRQL\n/,
  );
  assert.match(r.stdout, /NdisDprAcquireSpinLock: 0xC4\/0x40 called below its IRQL/);
});

test('--until takes minutes and hours as well as seconds; a unit it does not know is bad input', () => {
  const own = ['examples/own-driver.yaml', '--driver', 'examples/own-driver.ts', '--quiet'];
  assert.equal(cli('run', ...own, '--until', '1h').status, 0);
  const bad = cli('run', ...own, '--until', '2d');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--until: expected a duration such as "30s", "500ms" or "1h", got "2d"/);
});

test('--quiet with no --trace keeps a small trace, and prints the same bug check, last events included, as a full run', () => {
  const f = 'examples/gallery/NdisSim_SendCompleteUnexpected.yaml';
  const block = (stdout: string) =>
    stdout.slice(stdout.indexOf('*** BUG CHECK ***'), stdout.indexOf('\nSummary'));
  const full = cli('run', f);
  const quiet = cli('run', f, '--quiet');
  assert.equal(quiet.status, full.status);
  assert.match(full.stdout, /Last events before it \(trace events \d+–\d+\):/);
  assert.equal(block(quiet.stdout), block(full.stdout));
  assert.ok(!quiet.stdout.includes('trace events were dropped'), 'no timeline, so no note');
});

test('the CLI compiles with its own tsconfig wherever it runs: a --driver module and a filter scenario, from another directory', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'ndis-sim-cwd-'));
  const root = process.cwd();
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'bin/ndis-sim.js'), ...args], {
      encoding: 'utf8',
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
    });
  try {
    // Without ndis-sim's tsconfig the probe's class field throws as the module loads.
    const d = run('drivers', '--driver', join(root, 'test/fixtures/tsconfig-probe.ts'));
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /tsconfig-probe +class fields as ndis-sim compiles them \(2\)/);
    const r = run('run', join(root, 'examples/filter-stack.yaml'), '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Verdict: as expected/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('bad input the commands meet at the edges: each is one clear line, exit 2, nothing run and no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-edges-'));
  try {
    const file = (name: string, text: string): string => {
      const f = join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    const ok = file('ok.yaml', 'devices: [{ name: nic0, driver: healthy-nic }]\nuntil: 1s\n');
    const scenario = "a scenario: a mapping of its fields (devices:, actions: …, README 'Scenario files')";
    const cases: [string[], string][] = [
      // A directory, a file with nothing in it (or only a comment), one that is not a mapping.
      [['run', dir], `${dir}: expected a scenario file (YAML or JSON), got a directory (EISDIR)`],
      [['run', file('empty.yaml', '')], `${dir}/empty.yaml: expected ${scenario}, got an empty file`],
      [
        ['explore', file('comment.yaml', '# nothing yet\n')],
        `${dir}/comment.yaml: expected ${scenario}, got an empty file`,
      ],
      [
        ['run', file('list.yaml', '- a\n')],
        `${dir}/list.yaml: (top level): expected ${scenario}, got a list`,
      ],
      [['run', file('num.yaml', '42\n')], `${dir}/num.yaml: (top level): expected ${scenario}, got 42`],
      [
        ['run', file('nodev.yaml', 'devices: []\n')],
        `${dir}/nodev.yaml: devices: expected at least 1 device, got an empty list`,
      ],
      // A run that ends at 0 runs nothing (an exploration of it would pass every seed).
      [
        ['run', file('u0.yaml', 'devices: [{ name: nic0, driver: healthy-nic }]\nuntil: 0\n')],
        `${dir}/u0.yaml: until: expected a duration above 0 (when the run ends), got 0`,
      ],
      [['run', ok, '--until', '0'], '--until: expected a duration above 0, got "0"'],
      // A bare number is no duration: seconds or nanoseconds, nothing says (it ran 5 ns).
      [
        ['run', ok, '--until', '5'],
        '--until: expected a duration with a unit such as 30s or 500ms (ns, us, ms, s, min, h), got "5"',
      ],
      [
        ['explore', ok, '--seed-timeout', '60', '--runs', '2'],
        '--seed-timeout: expected a duration with a unit such as 30s or 500ms (ns, us, ms, s, min, h), got "60"',
      ],
      [['explore', ok, '--until', '0s', '--runs', '2'], '--until: expected a duration above 0, got "0s"'],
      // A duration written well that the clock cannot count says how long one may be.
      [
        ['run', ok, '--until', '99999h'],
        '--until: expected a duration of at most 2501h (the clock counts whole nanoseconds up to 2^53 - 1, about 104 days), got "99999h"',
      ],
      [
        ['run', file('long.yaml', 'devices: [{ name: nic0, driver: healthy-nic }]\nuntil: 3000h\n')],
        `${dir}/long.yaml: until: expected a duration of at most 2501h (the clock counts whole nanoseconds up to 2^53 - 1, about 104 days), got "3000h"`,
      ],
      // A scenario where a module belongs, and a replay file that is not one.
      [
        ['run', ok, '--driver', ok],
        `--driver: expected a module file (.ts or .js), got ${JSON.stringify(ok)} (a scenario? it goes first, without --driver)`,
      ],
      [
        ['replay', dir],
        `${dir}: expected a replay file (.replay.json) that explore wrote, got a directory (EISDIR)`,
      ],
      [
        ['replay', file('empty.replay.json', '')],
        `${dir}/empty.replay.json: expected a replay file (JSON) that explore wrote, got an empty file`,
      ],
    ];
    for (const [args, want] of cases) {
      const r = cli(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), want, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
    }
    // An output file that is a file the command reads (it would be overwritten, the
    // scenario lost) or another flag's: refused before anything is written.
    const before = readFileSync(ok, 'utf8');
    for (const [args, want] of [
      [
        ['run', ok, '--trace', ok],
        `--trace: expected a file other than the scenario (it would be overwritten), got ${JSON.stringify(ok)}`,
      ],
      [
        ['run', ok, '--trace', join(dir, 't.out'), '--html', `${dir}/./t.out`],
        `--html: expected a file other than the file of --trace (it would be overwritten), got "${dir}/./t.out"`,
      ],
      [
        ['run', ok, '--driver', 'examples/own-driver.ts', '--perfetto', 'examples/own-driver.ts'],
        '--perfetto: expected a file other than the driver module "examples/own-driver.ts" (it would be overwritten), got "examples/own-driver.ts"',
      ],
    ] as [string[], string][]) {
      const r = cli(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), want, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
    }
    assert.equal(readFileSync(ok, 'utf8'), before, 'the scenario is untouched');
    // Nesting past the parser's stack: one line, not its message twice (where it gave
    // out depends on the stack's size).
    const deep = cli('run', file('deep.yaml', `devices: ${'['.repeat(5000)}${']'.repeat(5000)}\n`));
    assert.equal(deep.status, 2, deep.stderr);
    assert.match(
      deep.stderr,
      /^.*deep\.yaml:1:\d+: expected YAML the parser can read, got lists or mappings nested too deeply\n$/,
    );
    const yamlReplay = cli('replay', ok);
    assert.equal(yamlReplay.status, 2);
    assert.match(
      yamlReplay.stderr,
      /ok\.yaml: expected a replay file \(JSON\), got text that does not parse: .* \(a scenario\? ndis-sim run or explore takes it\)$/m,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('driver code that outlives its run (an async handler continuing after an await, a setTimeout) and calls a DDI: one line saying so after the report, exit 1, not "internal error"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-stray-'));
  try {
    const handlers = {
      // NdisMPauseComplete after an await: a Promise continuation (unhandledRejection).
      'await-pause':
        'async PauseHandler(c) { await new Promise((r) => setTimeout(r, 5)); N.NdisMPauseComplete(c); return N.NDIS_STATUS_PENDING; }',
      // NdisMPauseComplete from a setTimeout the handler set (uncaughtException).
      'timeout-pause':
        'PauseHandler(c) { setTimeout(() => N.NdisMPauseComplete(c), 5); return N.NDIS_STATUS_PENDING; }',
    };
    const module = (name: string, pause: string) => `
import * as N from 'ndis-sim';
const ok = () => N.NDIS_STATUS_SUCCESS, none = () => {};
function DriverEntry(o: N.DRIVER_OBJECT, path: string): N.NDIS_STATUS {
  const r = N.NdisMRegisterMiniportDriver(o, path, null, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
    MajorNdisVersion: 6, MinorNdisVersion: 30,
    InitializeHandlerEx(h: N.NDIS_HANDLE) {
      N.NdisMSetMiniportAttributes(h, { Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 }, MiniportAdapterContext: h });
      return N.NdisMSetMiniportAttributes(h, { Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, Revision: 2 }, MediaType: N.NdisMedium802_3 });
    },
    ${pause},
    ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
    SendNetBufferListsHandler: (c: N.NDIS_HANDLE, nbls: N.NET_BUFFER_LIST) => N.NdisMSendNetBufferListsComplete(c, nbls, 0),
    OidRequestHandler: () => N.NDIS_STATUS_NOT_SUPPORTED, RestartHandler: ok,
    HaltHandlerEx: none, ShutdownHandlerEx: none, DevicePnPEventNotifyHandler: none,
    ReturnNetBufferListsHandler: none, CancelSendHandler: none, CancelOidRequestHandler: none,
    UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
  } as never);
  return r.Status;
}
export const drv: N.DriverModule = { name: '${name}', load: () => ({ DriverEntry }) };
`;
    for (const [name, pause] of Object.entries(handlers)) {
      writeFileSync(join(dir, `${name}.ts`), module(name, pause));
      writeFileSync(
        join(dir, `${name}.yaml`),
        `name: ${name}\ndriverModules: [${name}.ts]\nuntil: 3s\nprotocols:\n  - name: tcpip\ndevices:\n  - name: nic0\n    driver: ${name}\n    hardware: none\nactions:\n  - at: 1s\n    do: disable\n    device: nic0\n`,
      );
      const r = cli('run', join(dir, `${name}.yaml`), '--quiet');
      assert.equal(r.status, 1, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /^Verdict: /m, name);
      assert.match(
        r.stderr,
        /^ndis-sim: your driver's code ran after its run ended: NdisMPauseComplete was called while no ndis-sim world is running/m,
        name,
      );
      assert.doesNotMatch(r.stderr, /internal error|bug in ndis-sim|at .*\.ts:\d+/, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
