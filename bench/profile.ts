// Profiling harness: `node --cpu-prof dist/bench/profile.js` after `npm run build`.
import { lifecycle } from './workloads.ts';

let seed = 1;
const end = performance.now() + Number(process.env.BENCH_MS ?? 4000);
let n = 0;
while (performance.now() < end) {
  lifecycle(seed++, 'bugcheck');
  n++;
}
console.log(`${n} lifecycles`);
