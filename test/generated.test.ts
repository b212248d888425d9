// The generated tables are the committed output of scripts/gen-tables.ts over
// ../shared/ndis/data (present in CI and dev checkouts, absent in a user's clone).

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate } from '../scripts/gen-tables.ts';
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
