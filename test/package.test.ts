// The package as another project gets it: `npm pack`, unpacked into a project of its own
// beside the packages it depends on, then used the four ways README "In a project of
// your own" names — typechecked under the strictest options a project commonly sets,
// imported from plain JavaScript with no TypeScript loader, explored from a test with
// worker threads, and driven through its command.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

const root = resolve('.');
let dir = '';
let files: string[] = [];

function node(args: string[]) {
  return spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ndis-sim-package-'));
  // npm pack runs the prepare script, which builds dist/ (the build's own output is
  // checked here: a file it forgets is missing from the package, not just from dist/).
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [pack] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  files = pack.files.map((f) => f.path);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, 'ndis-sim'), { recursive: true });
  execFileSync('tar', [
    'xzf',
    join(dir, pack.filename),
    '-C',
    join(modules, 'ndis-sim'),
    '--strip-components=1',
  ]);
  // The packages ndis-sim depends on, and TypeScript for the typecheck, as npm install
  // would have put them (without the network).
  for (const name of readdirSync(join(root, 'node_modules')))
    if (!name.startsWith('.')) symlinkSync(join(root, 'node_modules', name), join(modules, name));
  writeFileSync(
    join(dir, 'package.json'),
    '{ "name": "my-driver-tests", "private": true, "type": "module" }\n',
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('npm pack ships the built JavaScript, its declarations and what they load beside them, and no tests', () => {
  for (const f of [
    'bin/ndis-sim.js',
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'dist/src/scenario.js',
    'dist/src/scenario.d.ts',
    'dist/src/report/html-client.js',
    'dist/src/report/html-report.css',
    'dist/src/cli/hooks.mjs',
    'dist/src/explore/worker.mjs',
    'src/index.ts',
    'tsconfig.json',
    'examples/reset-storm.yaml',
    'LICENSE',
  ])
    assert.ok(files.includes(f), `the package lacks ${f}`);
  assert.deepEqual(
    files.filter((f) => /^(test|bench|scripts|data|\.ci)\//.test(f) || f.startsWith('dist/bench/')),
    [],
  );
  // Source maps for the built drivers only: their call sites map back to the .ts lines.
  assert.ok(files.includes('dist/src/drivers/lwf.js.map'));
  assert.ok(files.includes('dist/src/drivers/buggy/gallery-a.js.map'));
  assert.deepEqual(
    files.filter((f) => f.endsWith('.map') && !f.startsWith('dist/src/drivers/')),
    [],
  );
});

test("a built-in driver's call site (R8.2) from the package's JavaScript is the one its command prints from the TypeScript", () => {
  const yaml = 'node_modules/ndis-sim/examples/gallery/Irql_Filter_Driver_Function.yaml';
  writeFileSync(
    join(dir, 'site.mjs'),
    `import { scenarioWorld } from 'ndis-sim/scenario';
console.log(scenarioWorld(${JSON.stringify(yaml)}).run().result.bugCheck.callSite);
`,
  );
  const api = node(['site.mjs']);
  assert.equal(api.stderr, '');
  const cli = node(['node_modules/ndis-sim/bin/ndis-sim.js', 'run', yaml, '--quiet']);
  assert.equal(cli.status, 0, cli.stderr);
  const shown = /^ {2}Call site: at (.+)$/m.exec(cli.stdout)?.[1];
  assert.match(shown ?? '', /^src\/drivers\/lwf\.ts:\d+:\d+ \(in FilterAttach\)$/);
  assert.equal(api.stdout.trim(), shown);
});

test("a project's strictest tsconfig typechecks against the declarations, libraries checked too", () => {
  copyFileSync(join(root, 'examples/readme-driver.ts'), join(dir, 'driver.ts'));
  writeFileSync(
    join(dir, 'bad.ts'),
    "import * as N from 'ndis-sim';\nexport const wrong: string = N.NDIS_STATUS_SUCCESS;\n",
  );
  const options = {
    target: 'es2020',
    lib: ['es2020'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noPropertyAccessFromIndexSignature: true,
    noImplicitOverride: true,
    noImplicitReturns: true,
    skipLibCheck: false,
    noEmit: true,
    types: ['node'],
  };
  const tsc = join(dir, 'node_modules/typescript/bin/tsc');
  const check = (file: string) => {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: [file] }));
    return spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: dir, encoding: 'utf8' });
  };
  // Against the sources, the first of these gave 194 errors in ndis-sim's own files.
  const good = check('driver.ts');
  assert.equal(good.status, 0, good.stdout);
  // The declarations are what the project sees: a wrong use of the API is an error.
  const bad = check('bad.ts');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /bad\.ts\(2,14\): error TS2322: Type 'number' is not assignable to type 'string'/);
});

test('plain JavaScript imports ndis-sim with no TypeScript loader and runs a miniport to Code 43', () => {
  writeFileSync(
    join(dir, 'plain.mjs'),
    `import * as N from 'ndis-sim';
const ok = () => N.NDIS_STATUS_SUCCESS, none = () => {};
function DriverEntry(driverObject, registryPath) {
  let ticks = 0;
  const r = N.NdisMRegisterMiniportDriver(driverObject, registryPath, null, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
    MajorNdisVersion: 6, MinorNdisVersion: 30,
    InitializeHandlerEx(handle) {
      N.NdisMSetMiniportAttributes(handle, { Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 }, MiniportAdapterContext: handle });
      return N.NdisMSetMiniportAttributes(handle, { Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, Revision: 2 }, MediaType: N.NdisMedium802_3 });
    },
    CheckForHangHandlerEx(context) { if (++ticks === 3) N.NdisMRemoveMiniport(context); return false; },
    ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
    SendNetBufferListsHandler(context, nbls) {
      for (let nbl = nbls; nbl !== null; nbl = nbl.Next) nbl.Status = ok();
      N.NdisMSendNetBufferListsComplete(context, nbls, 0);
    },
    OidRequestHandler: () => N.NDIS_STATUS_NOT_SUPPORTED, PauseHandler: ok, RestartHandler: ok,
    HaltHandlerEx: none, ShutdownHandlerEx: none, DevicePnPEventNotifyHandler: none,
    ReturnNetBufferListsHandler: none, CancelSendHandler: none, CancelOidRequestHandler: none,
    UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle),
  });
  return r.Status;
}
const world = new N.World({ seed: 1 });
world.addDriver({ name: 'plain-nic', load: () => ({ DriverEntry }) });
world.addProtocol('tcpip');
world.addDevice({ name: 'nic0', driver: 'plain-nic' });
world.at(0, { kind: 'start', device: 'nic0' });
const { verdict } = world.run(10 * N.ns.s);
console.log(verdict, world.device('nic0').status, 'Code ' + world.device('nic0').problem);
`,
  );
  const r = node(['plain.mjs']);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'ok failed Code 43\n');
});

test("exploreScenario from a project's test: the driver file loads in the thread and in worker threads", () => {
  for (const f of ['timer-race.ts', 'timer-race.yaml']) copyFileSync(join(root, 'examples', f), join(dir, f));
  writeFileSync(
    join(dir, 'explore.mjs'),
    `import { exploreScenario } from 'ndis-sim/scenario';
for (const jobs of [1, 2]) {
  const r = await exploreScenario('timer-race.yaml', { driverFiles: ['timer-race.ts'], runs: 30, jobs, shrinkRuns: 0 });
  console.log(jobs, r.runs, r.failed, r.failures.map((f) => f.rule).join());
}
`,
  );
  // tsx for the driver's TypeScript, as a project's test runner would bring.
  const r = node(['--import', 'tsx', 'explore.mjs']);
  assert.equal(r.status, 0, r.stderr);
  const [one, two] = r.stdout.trim().split('\n');
  assert.match(one, /^1 30 [1-9]\d* NdisSim_TimerFreedWhileSet$/);
  // The worker threads run the same seeds the same way.
  assert.equal(two, one.replace(/^1/, '2'));
});

test("the package's command runs a project's own TypeScript driver, with the package's tsconfig", () => {
  for (const f of ['own-driver.ts', 'own-driver.yaml']) copyFileSync(join(root, 'examples', f), join(dir, f));
  const r = node([
    'node_modules/ndis-sim/bin/ndis-sim.js',
    'run',
    'own-driver.yaml',
    '--driver',
    'own-driver.ts',
    '--quiet',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /own0 +slow-pause-nic +Halted +halt action: NdisHaltDeviceFailed/);
});
