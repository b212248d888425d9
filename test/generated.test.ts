// The generated tables are the committed output of scripts/gen-tables.ts over
// ../shared/ndis/data (present in CI and dev checkouts, absent in a user's clone).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate, genRuleBook } from '../scripts/gen-tables.ts';
import { ddiIrql, miniportDdiCount } from '../src/ndis/generated/irql.ts';
import { msRules } from '../src/ndis/generated/rules.ts';
import { NDIS_STATUS_NOT_ACCEPTED, NDIS_STATUS_PAUSED, statusInfo } from '../src/ndis/generated/status.ts';

const shared = '../shared/ndis/data';

test('generated tables match their inputs (npm run gen)', {
  skip: !existsSync(shared) && 'no ../shared here',
}, () => {
  for (const f of generate(shared)) {
    const committed = readFileSync(join('src/ndis/generated', f.path), 'utf8');
    assert.equal(committed, f.text, `src/ndis/generated/${f.path} is stale: run npm run gen`);
  }
});

test('the tables carry what the model relies on', () => {
  assert.equal(miniportDdiCount, 335);
  assert.equal(msRules.length, 69);
  assert.equal(msRules.filter((r) => r.miniport).length, 57);
  // R5.9: NdisMRemoveMiniport at <= DISPATCH, checked by Irql_Miniport_Driver_Function.
  assert.deepEqual(
    { max: ddiIrql.NdisMRemoveMiniport!.max, rule: ddiIrql.NdisMRemoveMiniport!.irqlRule },
    { max: 2, rule: 'Irql_Miniport_Driver_Function' },
  );
  // R6.7: NOT_ACCEPTED has success severity.
  assert.equal(NDIS_STATUS_NOT_ACCEPTED, 0x00010003);
  assert.equal(statusInfo.get(NDIS_STATUS_NOT_ACCEPTED)!.severity, 'success');
  assert.equal(statusInfo.get(NDIS_STATUS_PAUSED)!.name, 'NDIS_STATUS_PAUSED');
});

test('the rule-book index refuses an id that two rules of the book use (its Map would keep only the second)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rulebook-'));
  try {
    const cite = '[windows-driver-docs: windows-driver-docs-pr/network/removing-a-nic.md]';
    writeFileSync(join(dir, '01-a.md'), `# 01 — A\n\n**R1.1** one. ${cite}\n`);
    writeFileSync(join(dir, '02-b.md'), `# 02 — B\n\n**R1.1** again. ${cite}\n`);
    writeFileSync(join(dir, 'titles.json'), JSON.stringify({ titles: { 'R1.1': 'One' } }));
    assert.throws(
      () => genRuleBook(dir, join(dir, 'titles.json')),
      /02-b\.md R1\.1: the id is taken by a rule of 01-a\.md/,
    );
    writeFileSync(join(dir, '02-b.md'), `# 02 — B\n\n**R2.1** two. ${cite}\n`);
    writeFileSync(join(dir, 'titles.json'), JSON.stringify({ titles: { 'R1.1': 'One', 'R2.1': 'Two' } }));
    assert.match(
      genRuleBook(dir, join(dir, 'titles.json')).text,
      /id: .R2\.1., title: .Two., file: .02-b\.md./,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
