// The explorer's "Situations reached" (src/ndis/situations.ts) name the power side of
// the adapter when a removal, a pause, a halt or a sleep came: the device's power state
// (out of D0), where selective suspend was, a system sleep or resume under way, and
// which request the miniport had, with the state a power OID asked for.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { pmnic } from '../examples/pmnic.ts';
import { driverNames } from '../src/drivers/index.ts';
import { exploreSeeds } from '../src/explore/explore.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { parseScenarioText } from '../src/scenario/load.ts';

/** pmnic selectively suspended from about 1 s on (no wire, *SSIdleTimeout 1), then `action` at 3 s. */
function suspendedThen(action: string): Map<string, number> {
  const text = `
until: 5s
protocols: [{ name: tcpip }]
devices:
  - name: nic0
    driver: pmnic
    registry: { '*SelectiveSuspend': 1, '*SSIdleTimeout': 1 }
actions:
  - ${action}
`;
  const s = parseScenarioText(text, 'situations-power.yaml', driverNames([pmnic]));
  const w = buildWorld(s, { seed: 1, trace: false, situations: true, drivers: [pmnic] });
  assert.equal(w.run(untilNs(s)).verdict, 'ok');
  return w.situations();
}

test('situations: a surprise removal of a selectively suspended NIC says the device is in D3 and suspended (R5.6, selective suspend)', () => {
  assert.deepEqual(
    [...suspendedThen('{ at: 3s, do: surprise-remove, device: nic0 }').keys()],
    [
      'selective suspend (MiniportIdleNotification) in Running',
      'surprise removal in Running, device in D3, selectively suspended',
      // The bus driver never brings a device that is gone back to D0.
      'MiniportPause in Running, surprise-removed, device in D3',
      'MiniportHaltEx in Paused, surprise-removed, device in D3',
    ],
  );
});

test('situations: a system sleep that finds the NIC selectively suspended says so, and the pause it makes says a sleep is under way (R2.11)', () => {
  assert.deepEqual(
    [...suspendedThen('{ at: 3s, do: sleep, state: S3, for: 1s }').keys()],
    [
      'selective suspend (MiniportIdleNotification) in Running',
      'system sleep in Running, device in D3, selectively suspended',
      'MiniportPause in Running, system sleep under way',
    ],
  );
});

test('situations: which request the miniport had, and for OID_PNP_SET_POWER the state asked for (R5.7: a removal while OID_PNP_SET_POWER(D0) is pending)', () => {
  // pmnic-explore: the NIC does not come back from D3, pmnic pends OID_PNP_SET_POWER(D0)
  // while it polls, and each run draws when the NIC is unplugged during the poll.
  const text = readFileSync('examples/pmnic-explore.yaml', 'utf8').replace(
    'driver: pmnic-removal-race',
    'driver: pmnic',
  );
  const s = parseScenarioText(text, 'pmnic-explore.yaml', driverNames([pmnic]));
  const r = exploreSeeds({ scenario: s, drivers: [pmnic], untilNs: untilNs(s), verifier: 'bugcheck' }, 1, 20);
  assert.equal(r.failed, 0);
  const names = r.situations.map((x) => x.what);
  assert.ok(
    names.includes('surprise removal in Paused, OID_PNP_SET_POWER(D0) pending, system resume under way'),
    names.join('\n'),
  );
  assert.ok(names.includes('MiniportPause in Running, system sleep under way'), names.join('\n'));
  // "OID pending" no longer stands alone: the request is named.
  assert.ok(!names.some((n) => n.includes('OID pending')), names.join('\n'));
});
