// The README's miniport is a real one: the first ```ts block of README.md is
// examples/readme-driver.ts, at most 40 lines, and it runs to Code 43.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const readme = readFileSync('README.md', 'utf8');

test('the README shows examples/readme-driver.ts, at most 40 lines, and it ends at Code 43', () => {
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, 'a ```ts block in the README');
  const lines = block.trimEnd().split('\n').length;
  assert.ok(lines <= 40, `the README miniport has ${lines} lines; at most 40`);
  const file = readFileSync('examples/readme-driver.ts', 'utf8');
  assert.equal(block, file, 'the README block and examples/readme-driver.ts differ');
  // It runs as-is anywhere in the repository: it imports the package by its own name.
  assert.match(file, /^import \* as N from 'ndis-sim';$/m);
  assert.doesNotMatch(file, /from '\.{1,2}\//, 'no relative imports');
  assert.match(file, /NdisMRegisterMiniportDriver/);
  assert.match(file, /NdisMSetMiniportAttributes/);
  assert.match(file, /NdisMRemoveMiniport/);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/readme-driver.ts'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok failed Code 43');
});

test("the README names the warnings its miniport's run has: R2.4 (general attributes), R6.1 (packet filter), R5.7 (after its own NdisMRemoveMiniport)", () => {
  // The example with its last line printing the run's warnings instead.
  const dir = mkdtempSync(join(tmpdir(), 'ndis-sim-readme-'));
  try {
    const file = join(dir, 'readme-driver.ts');
    writeFileSync(
      file,
      readFileSync('examples/readme-driver.ts', 'utf8')
        .replace("from 'ndis-sim'", `from '${resolve('src/index.ts')}'`)
        .replace(
          /^console\.log\(.*$/m,
          'console.log(world.lastResult!.warnings.map((w) => w.rule).join(" "));',
        ),
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split(' ').sort(), ['R2.4', 'R5.7', 'R6.1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const text = readme.replace(/\s+/g, ' ');
  assert.match(text, /cuts three corners, and the run's summary says so with three warnings/);
  for (const id of ['(R2.4)', '(R6.1)', '(R5.7)']) assert.ok(text.includes(id), id);
});

test('the README names the commands', () => {
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /npm ci && npm test/);
  assert.match(readme, /npm run bench/);
  assert.match(
    readme,
    /ndis-sim run <scenario\.yaml> \[--driver my-driver\.ts\] \[--seed N\] \[--until 30s\]\n +\[--trace out\.jsonl\] \[--quiet\]/,
  );
});

test('the README says which classic bug cannot be written (a MiniportPause with work outstanding, R3.3) and which strategy suits injected events', () => {
  assert.match(
    readme,
    /One classic bug has no\s+entry because it cannot happen: a `MiniportPause` that returns with sends or\s+receives outstanding/,
  );
  assert.match(readme, /\(R3\.3 in docs\/model\.md\)/);
  assert.match(readme, /Explore with random first, always/);
  assert.match(readme, /For a scenario with `inject:`, use\s+random only/);
});
