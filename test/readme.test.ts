// The README's miniport is a real one: the file, at most 40 lines, and it runs.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

test('the README shows examples/readme-driver.ts, at most 40 lines, and it ends at Code 43', () => {
  const readme = readFileSync('README.md', 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, 'a ```ts block in the README');
  const file = readFileSync('examples/readme-driver.ts', 'utf8');
  assert.equal(block, file, 'the README block and examples/readme-driver.ts differ');
  assert.ok(file.trimEnd().split('\n').length <= 40, 'at most 40 lines');
  assert.match(file, /NdisMRemoveMiniport/);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/readme-driver.ts'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok failed Code 43');
});

test('the README names the two commands', () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /npm ci && npm test/);
});
