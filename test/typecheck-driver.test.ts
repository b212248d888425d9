// README "In a project of your own": the CLI runs a driver through tsx, which strips
// its types without checking them, so a driver written outside the repository is
// type-checked with `tsc --noEmit` against ndis-sim's declarations. This does it the
// way the README shows for a clone (a tsconfig whose `paths` maps 'ndis-sim' to the
// built declarations), with `types: []` so that no @types/node is in the check: the
// public declarations must not need node's types (src/report/stack.ts imports
// node:path, but none of the declarations of 'ndis-sim' reaches it).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

const root = resolve('.');
const tsc = join(root, 'node_modules/typescript/bin/tsc');
let dir = '';

function run(project: string) {
  return spawnSync(process.execPath, [tsc, '-p', project], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
}

before(() => {
  // Outside the repository, so nothing above the driver's folder holds node_modules.
  dir = mkdtempSync(join(tmpdir(), 'ndis-sim-typecheck-'));
  // The declarations `npm run build` writes to dist/src, written here instead.
  writeFileSync(
    join(dir, 'tsconfig.decl.json'),
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      compilerOptions: {
        outDir: join(dir, 'decl'),
        rootDir: root,
        emitDeclarationOnly: true,
        typeRoots: [join(root, 'node_modules/@types')],
      },
      include: [join(root, 'src')],
    }),
  );
  const d = run('tsconfig.decl.json');
  assert.equal(d.status, 0, d.stdout + d.stderr);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022'],
        strict: true,
        noEmit: true,
        types: [],
        skipLibCheck: false,
        paths: { 'ndis-sim': [join(dir, 'decl/src/index.d.ts')] },
      },
      files: ['driver.ts'],
    }),
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A project that also uses 'ndis-sim/scenario' and node: its declarations bring zod's,
 * which name URL, so @types/node is in this check (README), and zod comes from the
 * clone's node_modules, as it would from the project's.
 */
function typesProject(files: string[], extra: Record<string, unknown> = {}) {
  writeFileSync(
    join(dir, 'tsconfig.types.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022'],
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
        skipLibCheck: false,
        paths: {
          'ndis-sim': [join(dir, 'decl/src/index.d.ts')],
          'ndis-sim/scenario': [join(dir, 'decl/src/scenario.d.ts')],
          zod: [join(root, 'node_modules/zod')],
        },
        ...extra,
      },
      files,
    }),
  );
  return run('tsconfig.types.json');
}

const driver = (oid: string) => `import * as N from 'ndis-sim';
export function oidRequest(_ctx: unknown, req: N.NDIS_OID_REQUEST): N.NDIS_STATUS {
  return ${oid} === N.OID_GEN_CURRENT_PACKET_FILTER ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_NOT_SUPPORTED;
}
`;

test('an out-of-tree driver type-checks against the declarations with no @types/node', () => {
  writeFileSync(join(dir, 'driver.ts'), driver('req.DATA.Oid'));
  const r = run('.');
  assert.equal(r.status, 0, r.stdout);
});

test('the type check catches req.Oid, which the CLI (tsx, no type check) would run as undefined', () => {
  writeFileSync(join(dir, 'driver.ts'), driver('req.Oid'));
  const r = run('.');
  assert.notEqual(r.status, 0);
  assert.match(
    r.stdout,
    /driver\.ts\(3,14\): error TS2339: Property 'Oid' does not exist on type 'NDIS_OID_REQUEST'/,
  );
});

// T4, T5, T6, T7, T11 of the stop-36 review. Each @ts-expect-error fails the check when its line
// compiles: a type left loose, or an internal member back in the declarations.
const consumer = `import * as N from 'ndis-sim';
import { InputError, type Scenario, type Situation, type StrategySpec } from 'ndis-sim/scenario';

// Every type World's options, methods and results name, by name.
export type Named = [
  N.Verdict, N.Violation, N.ViolationOrigin, N.Warning, N.BugCheckParam, N.Hang,
  N.Trace, N.TraceEvent, N.TraceKind, N.AdapterSummary, N.DeviceSummary, N.ProtocolDriverSummary,
  N.AdapterState, N.HaltActionName, N.DeviceNode, N.DeviceStatus, N.BindingState, N.FilterState,
  N.DataStats, N.WorldAction, N.InjectSpec, N.InjectedEvent, N.WolPatternSpec, N.SystemSleepState,
  N.VerifierMode, N.NdisOptions, N.FaultPlan, N.WireOptions, N.NsRange, N.Decision, N.Strategy,
  N.ChoiceSite, N.LiveDump, N.EventLogEntry, N.SimNic, N.SimProtocol, N.ProtocolView,
  N.DriverModule, N.DriverImage, N.TrafficInput, N.IoResult, Scenario, Situation, StrategySpec,
];
export function problems(e: unknown): string[] {
  return e instanceof InputError ? e.problems : [];
}
export const failed: N.DeviceSummary['status'] = 'failed';
export const halted: N.AdapterSummary['haltAction'] = 'NdisHaltDeviceFailed';
// @ts-expect-error DeviceSummary.status is the devnode's state, a union
export const badStatus: N.DeviceSummary['status'] = 'sideways';
// @ts-expect-error AdapterSummary.haltAction names an NDIS_HALT_ACTION value (R2.11)
export const badHalt: N.AdapterSummary['haltAction'] = 'NdisHaltDeviceExploded';
export function internals(w: N.World, e: N.TraceEvent): void {
  // @ts-expect-error World's internals are left out of the declarations
  w.fire(0, null);
  // @ts-expect-error the model's parts too
  w.kernel.now;
  // @ts-expect-error and NDIS's adapter block
  w.adapter('nic0');
  // @ts-expect-error a project reads the trace; only the model adds to it
  w.trace.add(0, 0, 0, 'me', 'action', 'x');
  // @ts-expect-error the events are read-only
  w.trace.events.push(e);
}
// @ts-expect-error a class whose members are all internal stays nominal: a spin lock is no event
N.NdisInitializeEvent(new N.NDIS_SPIN_LOCK());
// A timer handle remembers its timer function's context type (T6).
export function timer(h: N.NDIS_HANDLE): void {
  const t = N.NdisAllocateTimerObject(h, {
    Header: { Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: 1 },
    AllocationTag: 0,
    TimerFunction: (_s, ctx: { n: number }) => {
      ctx.n++;
    },
    FunctionContext: { n: 0 },
  });
  if (t.TimerObject === null) return;
  N.NdisSetTimerObject(t.TimerObject, -10_000, 0, { n: 1 });
  // @ts-expect-error FunctionContext is the context its timer function takes
  N.NdisSetTimerObject(t.TimerObject, -10_000, 0, 'not the context');
  // @ts-expect-error the coalescable one too
  N.NdisSetCoalescableTimerObject(t.TimerObject, -10_000, 0, 'not the context', 0);
  // Kept as a plain NDIS_HANDLE it takes any context, as before.
  const kept: N.NDIS_HANDLE = t.TimerObject;
  N.NdisSetTimerObject(kept, -10_000, 0, 'any');
}
export function direct(c: N.NDIS_MINIPORT_DRIVER_CHARACTERISTICS<{ n: number }>): void {
  c.DirectOidRequestHandler = (a, req) => (a.n === req.DATA.Oid ? N.NDIS_STATUS_SUCCESS : N.NDIS_STATUS_NOT_SUPPORTED);
  c.CancelDirectOidRequestHandler = null;
  // @ts-expect-error MINIPORT_DIRECT_OID_REQUEST, not anything (T7)
  c.DirectOidRequestHandler = 42;
  // @ts-expect-error MINIPORT_CANCEL_DIRECT_OID_REQUEST
  c.CancelDirectOidRequestHandler = 'cancel';
}
`;

test('a project names the types of the public API from the declarations, and not the internals (T4, T5, T6, T7, T11)', () => {
  writeFileSync(join(dir, 'consumer.ts'), consumer);
  const r = typesProject(['consumer.ts']);
  assert.equal(r.status, 0, r.stdout);
});

test('the examples type-check against the declarations, internals left out (stripInternal)', () => {
  // Each example as a project would copy it: 'ndis-sim' is the built declarations.
  const r = typesProject(
    readdirSync(join(root, 'examples'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(root, 'examples', f)),
    { allowImportingTsExtensions: true },
  );
  assert.equal(r.status, 0, r.stdout);
});
