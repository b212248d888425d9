// How many distinct interleavings (order of trace events, ignoring times and CPUs)
// the reset-storm scenario shows across seeds 1..N. Usage: node --import tsx bench/interleavings.ts [N]
import { createHash } from 'node:crypto';
import { driverNames } from '../src/drivers/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';

const n = Number(process.argv[2] ?? 50);
const s = loadScenario(process.argv[3] ?? 'examples/reset-storm.yaml', driverNames());
const seen = new Set<string>();
for (let seed = 1; seed <= n; seed++) {
  const w = buildWorld(s, { seed });
  w.run(untilNs(s));
  seen.add(
    createHash('sha256')
      .update(w.trace.events.map((e) => `${e.actor}|${e.kind}|${e.what}`).join('\n'))
      .digest('hex'),
  );
}
console.log(`${seen.size} distinct interleavings across seeds 1..${n}`);
