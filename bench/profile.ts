// Profiling harness: `node --cpu-prof dist/bench/profile.js` after `npm run build`.
import { ns } from '../src/sim/limits.ts';
import { World } from '../src/world.ts';
import { lifecycleNic } from './lifecycle-driver.ts';

let seed = 1;
const end = performance.now() + Number(process.env.BENCH_MS ?? 4000);
let n = 0;
while (performance.now() < end) {
  const w = new World({ seed: seed++, trace: false, recordDecisions: false });
  w.addDriver(lifecycleNic);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'lifecycle-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.run(1 * ns.s);
  n++;
}
console.log(`${n} lifecycles`);
