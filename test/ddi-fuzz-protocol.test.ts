// The DDI fuzz for a protocol driver: echo-proto with random sets of its realistic
// mistakes switched on at once (src/drivers/echo-proto.ts, EchoMistakes), over an
// adapter that receives and a filter that may come and go, while the machine removes
// or unplugs the adapter, sleeps, or stops the protocol's service. However the mistakes
// combine, the run must end as the model says such a driver ends, never as a crash of
// ndis-sim itself (no InternalError or other exception out of World.run, no
// NdisSim_DriverException: echo-proto never throws) and the reports must format.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type EchoMistakes, echoProtocol } from '../src/drivers/echo-proto.ts';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import { countingLwf } from '../src/drivers/lwf.ts';
import { World } from '../src/index.ts';
import { formatSummary } from '../src/report/summary.ts';
import { formatTimeline } from '../src/report/timeline.ts';
import { ns } from './helpers/world.ts';

const flags = [
  'bindWithoutOpen',
  'unbindWithoutClose',
  'pauseWithoutWaiting',
  'pauseNeverCompleted',
  'noSourceHandle',
  'announceInBind',
  'returnsTwice',
  'pauseCompletedTwice',
  'pauseCompletedFromSendComplete',
  'rebindsFromBind',
  'deregistersFromUnbind',
  'unloadWithoutDeregister',
  'unloadKeepsPool',
  'noUnload',
  'keepsBindName',
  // Not countsEventsInContext: that mistake is a driver exception of its own (it reads
  // a field of the NULL context of a global event), which the property forbids.
] as const;

type Action = 'remove' | 'surprise-remove' | 'stop-protocol' | 'sleep' | 'filter-on' | 'filter-off' | 'stop';

interface Case {
  mistakes: (typeof flags)[number][];
  sendPort: 0 | 3;
  actions: { atMs: number; what: Action }[];
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  mistakes: fc.subarray([...flags], { maxLength: 4 }),
  sendPort: fc.constantFrom(0 as const, 3 as const),
  actions: fc.array(
    fc.record({
      atMs: fc.integer({ min: 50, max: 1400 }),
      what: fc.constantFrom<Action>(
        'remove',
        'surprise-remove',
        'stop-protocol',
        'sleep',
        'filter-on',
        'filter-off',
        'stop',
      ),
    }),
    { maxLength: 3 },
  ),
  seed: fc.integer({ min: 1, max: 1000 }),
});

function runCase(c: Case): void {
  const mistakes: EchoMistakes = { sendPort: c.sendPort };
  for (const f of c.mistakes) mistakes[f] = true;
  const proto = echoProtocol('fuzzed-proto', 'echo-proto with mistakes', mistakes);
  const w = new World({ seed: c.seed, verifier: 'collect', traceMax: 100_000 });
  w.addDriver(healthyNic);
  w.addDriver(proto);
  w.addDriver(countingLwf);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: 'healthy-nic', wire: { rxPerSecond: 200, rxFrameBytes: 80 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  for (const a of c.actions) {
    const at = a.atMs * ns.ms;
    if (a.what === 'stop-protocol') w.at(at, { kind: 'stop-protocol', driver: proto.name });
    else if (a.what === 'sleep') w.at(at, { kind: 'sleep', state: 'S3', durationNs: 100 * ns.ms });
    else if (a.what === 'filter-on') w.at(at, { kind: 'start-filter', driver: countingLwf.name });
    else if (a.what === 'filter-off') w.at(at, { kind: 'stop-filter', driver: countingLwf.name });
    else w.at(at, { kind: a.what, device: 'nic0' });
  }
  const r = w.run(2 * ns.s);
  const own = r.violations.find((v) => v.rule === 'NdisSim_DriverException');
  assert.equal(own, undefined, `ndis-sim's own code threw inside a DDI: ${own?.message}`);
  formatTimeline(w.trace.events, { color: false });
  formatSummary(w.summary(), r, { color: false, seed: c.seed, expectation: null });
}

test('DDI fuzz, protocol: echo-proto with random sets of its mistakes, under removal, sleep, filter restacks and service stops, never crashes ndis-sim', () => {
  fc.assert(
    fc.property(caseArb, (c) => runCase(c)),
    { numRuns: 80, seed: 27 },
  );
});
