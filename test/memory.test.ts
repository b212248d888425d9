// DESIGN.md "Performance": the explorer runs thousands of worlds in a row, so a
// finished world must cost nothing once it is dropped. Two ways it did not:
// - NDIS handed the verifier a closure by assignment; on node 20 such a closure
//   survives young-generation collections with all it captures, so every finished
//   world was promoted and lived until a full collection (11 KB a lifecycle, and
//   V8 then started allocating in the old generation: 5× slower runs);
// - the gallery's drivers, registered for the life of the process, wrote down the
//   adapters of every run they took part in (19 KB a run, never freed).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { lifecycle } from '../bench/workloads.ts';
import { dpcRaces } from '../examples/dpc-races.ts';
import { eventQueue } from '../examples/event-queue.ts';
import { ioctlRace, ioctlRaceFixed } from '../examples/ioctl-race.ts';
import { linkWatch, linkWatchHasty, linkWatchPlain } from '../examples/link-watch.ts';
import { ndisprotLite } from '../examples/ndisprot-lite.ts';
import { slowPauseNic } from '../examples/own-driver.ts';
import { packetFilter } from '../examples/packet-filter.ts';
import { pcinic, pcinicBugs } from '../examples/pcinic.ts';
import { pmnic, pmnicBugs } from '../examples/pmnic.ts';
import { pollRace, pollRaceFixed } from '../examples/poll-race.ts';
import { removalRace, removalRaceFixed } from '../examples/removal-race.ts';
import { sgRace, sgRaceFixed } from '../examples/sg-race.ts';
import { sleepyProto } from '../examples/sleepy-proto.ts';
import { tapLoop } from '../examples/tap-loop.ts';
import { timerRace, timerRaceFixed } from '../examples/timer-race.ts';
import { driverNames } from '../src/drivers/index.ts';
import { buildWorld, untilNs } from '../src/scenario/build.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { ns } from '../src/sim/limits.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;

/** Bytes in use in the young and old generations. */
function heapUsed(): number {
  let used = 0;
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space' || s.space_name === 'old_space') used += s.space_used_size;
  }
  return used;
}

/** Bytes still in use per run after `runs` runs of `fn` and then `collect`. */
function keptPerRun(runs: number, fn: (i: number) => void, collect: () => void): number {
  for (let i = 0; i < 20; i++) fn(i); // compiled code and feedback are not the runs' cost
  gc();
  gc();
  const before = heapUsed();
  for (let i = 0; i < runs; i++) fn(i);
  collect();
  return (heapUsed() - before) / runs;
}

test('a finished lifecycle does not outlive two young-generation collections', () => {
  const kept = keptPerRun(
    300,
    (i) => lifecycle(i + 1, 'bugcheck'),
    () => {
      gc({ type: 'minor' });
      gc({ type: 'minor' });
    },
  );
  // Measured: under 500 bytes a lifecycle; 11 KB when the world was kept.
  assert.ok(kept < 2048, `${Math.round(kept)} bytes a lifecycle kept after two minor collections`);
});

test('no built-in driver keeps anything of the runs it took part in', () => {
  // Every example and gallery scenario, at most 100 ms of it: a driver that writes
  // down each run in module-level state shows up as kilobytes a run. The example of a
  // driver of your own (--driver) is one of them, and so are the explorer's timer race,
  // removal race, scatter/gather race, control-device race, poll race and event queue,
  // the protocol driver that pends its set-power, the resumable link watch, and the
  // packet filter.
  const own = [
    slowPauseNic,
    sleepyProto,
    timerRace,
    timerRaceFixed,
    removalRace,
    removalRaceFixed,
    sgRace,
    sgRaceFixed,
    ioctlRace,
    ioctlRaceFixed,
    pollRace,
    pollRaceFixed,
    eventQueue,
    tapLoop,
    linkWatch,
    linkWatchPlain,
    linkWatchHasty,
    ndisprotLite,
    packetFilter,
    pcinic,
    ...pcinicBugs,
    ...dpcRaces,
    pmnic,
    ...pmnicBugs,
  ];
  const files = [
    ...readdirSync('examples')
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `examples/${f}`),
    ...readdirSync('examples/gallery').map((f) => `examples/gallery/${f}`),
  ];
  const kept: string[] = [];
  for (const file of files) {
    const sc = loadScenario(file, driverNames(own));
    const until = Math.min(untilNs(sc), 100 * ns.ms);
    const bytes = keptPerRun(
      100,
      (i) => buildWorld(sc, { seed: i + 1, trace: false, drivers: own }).run(until),
      () => gc(),
    );
    // Measured: at most 2.6 KB a run (code warming up); 19 KB when gallery drivers
    // listed their adapters.
    if (bytes > 8192) kept.push(`${file}: ${Math.round(bytes)} bytes a run`);
  }
  assert.equal(files.length > 60, true, 'the scenarios were found');
  assert.deepEqual(kept, [], 'kept after a full collection');
});

test('no class of ndis-sim stores a capturing arrow function in a field (docs/decisions.md, "No closure is stored")', () => {
  // A class field initialised with an arrow function, or `this.f = () => …`, is such a
  // closure: it captures `this`, and on node 20 it kept every finished world alive
  // through young collections. The lifecycle bench ran 6× slower with one field of World
  // (keepAsleep) that did so; the measure above is too noisy to catch 600 bytes a run.
  const field =
    /^ {2}(?:(?:private|protected|public|readonly|static|override)\s+)*[A-Za-z_$][\w$]*\??(?:\s*:\s*[^=]+?)?\s*=\s*(?:async\s*)?(?:\([^)]*\)|[A-Za-z_$][\w$]*)\s*(?::\s*[^=]+?)?\s*=>/;
  const assign =
    /\bthis\.[A-Za-z_$][\w$]*\s*=\s*(?:async\s*)?(?:\([^)]*\)|[A-Za-z_$][\w$]*)\s*(?::\s*[^=]+?)?\s*=>/;
  const files = (readdirSync('src', { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.includes('generated'))
    .map((f) => `src/${f}`);
  assert.ok(files.length > 50);
  const found: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (!/^\s*(export\s+)?(abstract\s+)?class\s/m.test(text)) continue;
    text.split('\n').forEach((line, i) => {
      if (field.test(line) || assign.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
  // The check itself sees the shape it is for.
  assert.ok(field.test('  private readonly keepAsleep = (ev: SimEvent): boolean => {'));
  assert.ok(assign.test('    this.onDone = () => this.finish();'));
});

test('no class field initialiser of ndis-sim reads `this` (it would break under define semantics, docs/decisions.md)', () => {
  // With define semantics (useDefineForClassFields, the default of a tsconfig that is
  // not ours) field initialisers run before the constructor's parameter properties are
  // set: `handlers = this.driver.chars` read an undefined driver, and the CLI crashed
  // on every filter scenario when it ran from another directory.
  const field =
    /^ {2}(?:(?:private|protected|public|readonly|static|override)\s+)*[A-Za-z_$][\w$]*\??(?:\s*:\s*[^=]+?)?\s*=\s*.*\bthis\./;
  const files = (readdirSync('src', { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.includes('generated'))
    .map((f) => `src/${f}`);
  const found: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (!/^\s*(export\s+)?(abstract\s+)?class\s/m.test(text)) continue;
    text.split('\n').forEach((line, i) => {
      if (field.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
  assert.ok(field.test('  handlers: FilterDataHandlers = this.driver.chars;'));
});
