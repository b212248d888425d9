// The public API's names at run time (T5, T11 of the stop-36 review); the declarations
// a project type-checks against are tested in test/typecheck-driver.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError as FrontDoorInputError, NDIS_HALT_ACTION_NAMES } from '../src/index.ts';
import { InputError, scenarioWorld } from '../src/scenario.ts';
import type { HaltActionName } from '../src/world.ts';

test("'ndis-sim/scenario' exports the InputError its functions throw (T5)", () => {
  assert.equal(InputError, FrontDoorInputError);
  assert.throws(
    () => scenarioWorld('bad.yaml', { text: 'devices: 3\n' }),
    (e: unknown) => e instanceof InputError && e.problems.length > 0,
  );
});

test('AdapterSummary.haltAction names are the NDIS_HALT_ACTION values, in order (R2.11, T11)', () => {
  // The union is written out in world.ts; the names come from data/status.json.
  const names: readonly HaltActionName[] = [
    'NdisHaltDeviceDisabled',
    'NdisHaltDeviceInstanceDeInitialized',
    'NdisHaltDevicePoweredDown',
    'NdisHaltDeviceSurpriseRemoved',
    'NdisHaltDeviceFailed',
    'NdisHaltDeviceInitializationFailed',
    'NdisHaltDeviceStopped',
  ];
  assert.deepEqual(NDIS_HALT_ACTION_NAMES, names);
});
