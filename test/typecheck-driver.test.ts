// README "In a project of your own": the CLI runs a driver through tsx, which strips
// its types without checking them, so a driver written outside the repository is
// type-checked with `tsc --noEmit` against ndis-sim's declarations. This does it the
// way the README shows for a clone (a tsconfig whose `paths` maps 'ndis-sim' to the
// built declarations), with `types: []` so that no @types/node is in the check: the
// public declarations must not need node's types (src/report/stack.ts imports
// node:path, but none of the declarations of 'ndis-sim' reaches it).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
