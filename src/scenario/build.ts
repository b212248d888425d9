// Scenario → World, and the check of a finished run against `expect`.

import { builtinDrivers } from '../drivers/index.ts';
import { NdisSimUsageError } from '../errors.ts';
import { magicPacket } from '../hw/simnic.ts';
import type { DriverModule } from '../ndis/driver.ts';
import type { NdisOptions } from '../ndis/ndis.ts';
import { fmtTime } from '../report/format.ts';
import type { Decision, Strategy } from '../sim/choice.ts';
import { ns } from '../sim/limits.ts';
import {
  type DeviceSpec,
  type ExpectView,
  type InjectSpec,
  type RunResult,
  type WolPatternSpec,
  World,
  type WorldAction,
  type WorldOptions,
} from '../world.ts';
import { injectWindowProblems } from './load.ts';
import {
  bufferBytes,
  ioctlName,
  ioctlValue,
  ipv4Bytes,
  ipv6Bytes,
  oidTimeoutS,
  oidValue,
  parseDuration,
  parseFrameBytes,
  parseProbability,
  type Scenario,
} from './schema.ts';

export interface BuildOptions {
  seed?: number;
  trace?: boolean;
  /** The most trace events kept (WorldOptions.traceMax). */
  traceMax?: number;
  untilNs?: number;
  drivers?: readonly DriverModule[];
  replay?: readonly Decision[];
  /** Who answers the choices after `replay` (default: the seeded random strategy). */
  strategy?: Strategy;
  /** Keep the decision log (WorldOptions.recordDecisions; default true). */
  recordDecisions?: boolean;
  /** Note the situations the run reaches (WorldOptions.situations; default false). */
  situations?: boolean;
  verifier?: WorldOptions['verifier'];
}

function dur(v: string | number): number {
  const n = parseDuration(v);
  if (n === null) throw new Error(`unvalidated duration ${String(v)}`);
  return n;
}

function range(v: string): { minNs: number; maxNs: number } {
  const [a, b] = v.split('..');
  return { minNs: dur(a!), maxNs: dur(b!) };
}

/** Compiles only when every scenario `ndis:` name (but the durations) is an NdisOptions name. */
type OnlyOptionNames<T extends never> = T;
export type ScenarioNdisNamesChecked = OnlyOptionNames<
  Exclude<
    keyof Omit<
      Scenario['ndis'],
      'pauseWatchdog' | 'haltWatchdog' | 'oidWatchdog' | 'idleWatchdog' | 'dpcWatchdog' | 'powerWatchdog'
    >,
    keyof NdisOptions
  >
>;

/** The fields of `o` that are set. */
function definedOnly<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: { [K in keyof T]?: Exclude<T[K], undefined> } = {};
  for (const k of Object.keys(o) as (keyof T)[]) {
    const v = o[k];
    if (v !== undefined) out[k] = v as Exclude<T[keyof T], undefined>;
  }
  return out;
}

/** What buildWorld makes of a scenario, the same for every world built from it. */
interface Plan {
  readonly ndis: WorldOptions['ndis'];
  readonly drivers: readonly DriverModule[];
  readonly protocols: readonly { name: string; options: Parameters<World['addProtocol']>[1] }[];
  readonly devices: readonly { spec: DeviceSpec; start: boolean }[];
  /** `codeName`: an ioctl's code as a driver names it, resolved when the world's drivers are known. */
  readonly actions: readonly { atNs: number; action: WorldAction; codeName?: string }[];
  readonly inject: readonly InjectSpec[];
}

/**
 * Plans by scenario: the explorer builds a world a run from one scenario, and parsing
 * its durations and probabilities again each time took a tenth of a world's building.
 * Nothing in a plan is changed by the worlds that read it (World copies what it keeps).
 */
const plans = new WeakMap<Scenario, Plan>();

function planOf(s: Scenario): Plan {
  const known = plans.get(s);
  if (known !== undefined) return known;
  // The scenario's `ndis:` names are NdisOptions' names, except the two durations.
  const { pauseWatchdog, haltWatchdog, oidWatchdog, idleWatchdog, dpcWatchdog, powerWatchdog, ...same } =
    s.ndis;
  const ndis: WorldOptions['ndis'] = definedOnly(same);
  if (pauseWatchdog !== undefined) ndis.pauseWatchdogNs = dur(pauseWatchdog);
  if (haltWatchdog !== undefined) ndis.haltWatchdogNs = dur(haltWatchdog);
  if (oidWatchdog !== undefined) ndis.oidWatchdogNs = dur(oidWatchdog);
  if (idleWatchdog !== undefined) ndis.idleWatchdogNs = dur(idleWatchdog);
  if (dpcWatchdog !== undefined) ndis.dpcWatchdogNs = dur(dpcWatchdog);
  if (powerWatchdog !== undefined) ndis.powerWatchdogNs = dur(powerWatchdog);
  // Only the built-in drivers the scenario names: adding all 119 to every world took
  // a tenth of a reset-storm run.
  const named = new Set<string>();
  for (const d of s.devices) named.add(d.driver);
  for (const f of s.filters) named.add(f.driver);
  for (const d of s.protocolDrivers) named.add(d.driver);
  for (const a of s.actions) if (a.driver !== undefined) named.add(a.driver);
  const protocols = s.protocols.map((p) => {
    const t = p.traffic;
    return {
      name: p.name,
      options: {
        vetoQueryRemove: p.vetoQueryRemove,
        traffic:
          t === undefined
            ? undefined
            : {
                ratePerSecond: t.rate,
                frameBytes: t.frameBytes,
                returnDelayNs: dur(t.returnDelay),
                statisticsEveryNs: dur(t.statisticsEvery),
                nblsPerSend: t.nblsPerSend,
                netBuffersPerNbl: t.netBuffersPerNbl,
                sendIrql: t.sendIrql,
              },
      },
    };
  });
  const devices = s.devices.map((d) => {
    const f = d.faults;
    const hangChance = f.hangEvery ? parseProbability(f.hangEvery.chance) : null;
    const spec: DeviceSpec = {
      name: d.name,
      driver: d.driver,
      hardware: d.hardware,
      registry: d.registry,
      faults: {
        hangAtNs: f.hangAt !== undefined ? dur(f.hangAt) : null,
        hangEvery:
          f.hangEvery && hangChance ? { periodNs: dur(f.hangEvery.period), chance: hangChance } : null,
        rehangAfterReset: f.rehangAfterReset !== undefined ? range(f.rehangAfterReset) : null,
        resetNs: f.resetTime !== undefined ? dur(f.resetTime) : 2 * ns.ms,
        vanishAtNs: f.vanishAt !== undefined ? dur(f.vanishAt) : null,
        linkDownAtNs: f.linkDownAt !== undefined ? dur(f.linkDownAt) : null,
        linkDownForNs: f.linkDownFor !== undefined ? dur(f.linkDownFor) : null,
        ...(f.deadOnResume === true ? { deadOnResume: true } : {}),
        ...(f.deadOnResumeAfter !== undefined ? { deadOnResumeAfterNs: dur(f.deadOnResumeAfter) } : {}),
        ...(f.sharedIrqEvery !== undefined ? { sharedIrqEveryNs: dur(f.sharedIrqEvery) } : {}),
      },
      wire:
        d.wire === undefined
          ? undefined
          : {
              rxPerSecond: d.wire.rxRate,
              rxFrameBytes: parseFrameBytes(d.wire.frameBytes)!.lo,
              rxFrameBytesMax: parseFrameBytes(d.wire.frameBytes)!.hi,
              rxBurst: d.wire.burst,
            },
      ...(d.msi === undefined ? {} : { msi: d.msi }),
    };
    return { spec, start: d.start };
  });
  const plan: Plan = {
    ndis,
    drivers: builtinDrivers.filter((d) => named.has(d.name)),
    protocols,
    devices,
    actions: s.actions.map((a) =>
      a.do === 'ioctl' && ioctlName(a.code)
        ? { atNs: dur(a.at), action: toAction(a), codeName: a.code }
        : { atNs: dur(a.at), action: toAction(a) },
    ),
    inject: s.inject.map(toInject),
  };
  plans.set(s, plan);
  return plan;
}

/**
 * A world of the scenario. The scenario is read once, at its first world (planOf):
 * change a copy, not a scenario worlds were built from.
 */
export function buildWorld(s: Scenario, o: BuildOptions = {}): World {
  const p = planOf(s);
  const w = new World({
    seed: o.seed ?? s.seed,
    cpus: s.cpus,
    trace: o.trace ?? true,
    ...(o.traceMax === undefined ? {} : { traceMax: o.traceMax }),
    verifier: o.verifier ?? s.verifier,
    ndis: p.ndis,
    replay: o.replay ?? [],
    ...(o.strategy === undefined ? {} : { strategy: o.strategy }),
    ...(o.recordDecisions === undefined ? {} : { recordDecisions: o.recordDecisions }),
    ...(o.situations === undefined ? {} : { situations: o.situations }),
  });
  for (const d of p.drivers) w.addDriver(d);
  // A built-in driver given again itself is the one already added (World.addDriver
  // refuses a name twice; scenarioWorld and exploreScenario report another clash first).
  for (const d of o.drivers ?? []) if (w.ndis.modules.get(d.name) !== d) w.addDriver(d);
  for (const f of s.filters)
    w.addFilter(f.driver, {
      mandatory: f.mandatory,
      ...(f.registry === undefined ? {} : { registry: f.registry }),
    });
  for (const x of p.protocols) w.addProtocol(x.name, x.options);
  for (const d of s.protocolDrivers) w.addProtocolDriver(d.driver);
  for (const d of p.devices) {
    w.addDevice(d.spec);
    if (d.start) w.at(0, { kind: 'start', device: d.spec.name });
  }
  let codes: ReadonlyMap<string, number> | null = null;
  for (const a of p.actions) {
    if (a.codeName === undefined || a.action.kind !== 'ioctl') {
      w.at(a.atNs, a.action);
      continue;
    }
    codes ??= namedCodes([...p.drivers, ...(o.drivers ?? [])]);
    const code = codes.get(a.codeName);
    if (code === undefined)
      throw new NdisSimUsageError(
        `an ioctl names the I/O control code ${a.codeName}, which none of the world's drivers gives (ioControlCodes); ${ioctlCodeHint(codes)}`,
      );
    w.at(a.atNs, { ...a.action, code });
  }
  for (const x of p.inject) w.inject(x);
  return w;
}

/**
 * What in a valid scenario cannot do what it seems to, as warnings to print before the
 * run: an action after a `shutdown` never runs, since nothing follows a shutdown (R1.6),
 * unless the system is asleep at the shutdown, which ignores it (review-pnp #4). Actions
 * at the shutdown's own time run in file order: those listed after it count as after.
 */
export function scenarioWarnings(s: Scenario): string[] {
  const acts = s.actions.map((a, i) => ({ i, atNs: dur(a.at), what: a.do, device: a.device }));
  let off: { i: number; atNs: number } | null = null;
  for (const a of acts)
    if (a.what === 'shutdown' && (off === null || a.atNs < off.atNs || (a.atNs === off.atNs && a.i < off.i)))
      off = a;
  if (off === null) return [];
  const shut = off;
  const late = acts.filter((a) => a.atNs > shut.atNs || (a.atNs === shut.atNs && a.i > shut.i));
  return late.map(
    (a) =>
      `actions[${a.i}]: ${a.what}${a.device === undefined ? '' : ` ${a.device}`} at ${fmtTime(a.atNs)} comes after the shutdown at ${fmtTime(shut.atNs)} (actions[${shut.i}]) and will not run: nothing follows a shutdown (R1.6), unless the system is asleep then and ignores it`,
  );
}

/** The I/O control codes the drivers name (DriverModule.ioControlCodes), by name. */
export function namedCodes(drivers: readonly DriverModule[]): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  for (const d of drivers)
    for (const [name, code] of Object.entries(d.ioControlCodes ?? {})) out.set(name, code >>> 0);
  return out;
}

function ioctlCodeHint(codes: ReadonlyMap<string, number>): string {
  return codes.size === 0 ? 'they name none' : `they name ${[...codes.keys()].join(', ')}`;
}

/**
 * The I/O control codes an `ioctl` of a scenario may name (ValidateOptions.ioctlCodes):
 * those of the built-in drivers the scenario's raw data names (as its world will have
 * them, planOf) and of every module in `drivers`.
 */
export function ioctlCodesFor(
  drivers: readonly DriverModule[],
): (data: unknown) => ReadonlyMap<string, number> {
  return (data) => {
    const named = new Set<string>();
    const d = data as Record<string, unknown> | null;
    const add = (list: unknown): void => {
      if (Array.isArray(list))
        for (const x of list) {
          const name = (x as { driver?: unknown } | null)?.driver;
          if (typeof name === 'string') named.add(name);
        }
    };
    if (typeof d === 'object' && d !== null)
      for (const k of ['devices', 'filters', 'protocolDrivers', 'actions']) add(d[k]);
    return namedCodes([...builtinDrivers.filter((x) => named.has(x.name)), ...drivers]);
  };
}

/**
 * An injected event whose window starts at or after the run's end could never fire
 * (`injectWindowProblems`, which `parseScenarioText` runs with the schema's checks
 * when asked to): the same check on a scenario already read.
 */
export function injectWindowsProblems(s: Scenario, file: string, runUntilNs: number): string[] {
  return injectWindowProblems(s, file, runUntilNs);
}

function toInject(x: Scenario['inject'][number]): InjectSpec {
  const { minNs, maxNs } = range(x.within);
  const chance = parseProbability(x.chance);
  if (chance === null) throw new Error(`unvalidated probability ${String(x.chance)}`);
  const device = x.device ?? '';
  const event: InjectSpec['event'] =
    x.do === 'sleep'
      ? { kind: 'sleep', state: x.state ?? 'S3', durationNs: dur(x.for ?? '1s') }
      : x.do === 'link-down'
        ? { kind: 'link-down', device, forNs: x.for === undefined ? null : dur(x.for) }
        : x.do === 'frame'
          ? { kind: 'frame', device, data: frameData(x) }
          : { kind: x.do, device };
  return { event, fromNs: minNs, toNs: maxNs, chance };
}

/** A `frame`'s bytes (an action's or an injected one's): a magic packet for `magic`, else `data`. */
function frameData(a: { magic?: string | undefined; data?: readonly number[] | undefined }): Uint8Array {
  return a.magic === undefined
    ? Uint8Array.from(a.data ?? [])
    : magicPacket(a.magic.split(/[:-]/).map((h) => Number.parseInt(h, 16)));
}

/** An application request's repetition: `every` and `times`, as World's ioctl, read and write take them. */
function repeats(a: Scenario['actions'][number]): { everyNs?: number; times?: number } {
  return {
    ...(a.every === undefined ? {} : { everyNs: dur(a.every) }),
    ...(a.times === undefined ? {} : { times: a.times }),
  };
}

/** An OID_PM_ADD_WOL_PATTERN value (schema.ts checked it) as World takes it; null for any other value. */
function wolSpec(v: Scenario['actions'][number]['value']): WolPatternSpec | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const bytes = (b: unknown): number[] => (b === undefined ? [] : (bufferBytes(b) as number[]));
  const priority = typeof v.priority === 'number' ? { priority: v.priority } : {};
  switch (v.type) {
    case 'bitmap':
      return { wolPattern: 'bitmap', mask: bytes(v.mask), pattern: bytes(v.pattern), ...priority };
    case 'ipv4-tcp-syn':
    case 'ipv6-tcp-syn': {
      const address = v.type === 'ipv4-tcp-syn' ? ipv4Bytes : ipv6Bytes;
      return {
        wolPattern: v.type,
        ...(v.source === undefined ? {} : { source: address(v.source)! }),
        ...(v.dest === undefined ? {} : { dest: address(v.dest)! }),
        ...(typeof v.sourcePort === 'number' ? { sourcePort: v.sourcePort } : {}),
        ...(typeof v.destPort === 'number' ? { destPort: v.destPort } : {}),
        ...priority,
      };
    }
    case 'eapol-request-id':
      return { wolPattern: 'eapol-request-id', ...priority };
    default:
      return { wolPattern: 'magic-packet', ...priority };
  }
}

function toAction(a: Scenario['actions'][number]): WorldAction {
  const device = a.device ?? '';
  switch (a.do) {
    case 'shutdown':
      return { kind: 'shutdown' };
    case 'sleep':
      return { kind: 'sleep', state: a.state ?? 'S3', durationNs: dur(a.for ?? 0) };
    case 'oid': {
      const oid = a.oid === undefined ? 0 : (oidValue(a.oid) ?? 0);
      return {
        kind: 'oid',
        device,
        oid,
        set: a.request === 'set',
        value: wolSpec(a.value) ?? a.value ?? null,
        timeoutS: a.timeout === undefined ? 0 : (oidTimeoutS(a.timeout) ?? 0),
        ...(a.bufferLength === undefined ? {} : { bufferLength: a.bufferLength }),
        ...(a.direct === true ? { direct: true } : {}),
        ...(a.synchronous === true ? { synchronous: true } : {}),
      };
    }
    case 'start-filter':
      return { kind: 'start-filter', driver: a.driver ?? '', mandatory: a.mandatory === true };
    case 'stop-filter':
      return { kind: 'stop-filter', driver: a.driver ?? '' };
    case 'stop-protocol':
      return { kind: 'stop-protocol', driver: a.driver ?? '' };
    case 'open':
      return { kind: 'open', handle: a.handle ?? '', link: a.link ?? '' };
    case 'close':
      return { kind: 'close', handle: a.handle ?? '' };
    case 'cancel':
      return { kind: 'cancel', handle: a.handle ?? '' };
    case 'exit':
      return { kind: 'exit' };
    case 'ioctl':
      return {
        kind: 'ioctl',
        handle: a.handle ?? '',
        code: a.code === undefined ? 0 : (ioctlValue(a.code) ?? 0),
        input: a.input ?? [],
        outputLength: a.outputLength ?? 0,
        ...repeats(a),
      };
    case 'read':
      return { kind: 'read', handle: a.handle ?? '', length: a.length ?? 0, ...repeats(a) };
    case 'write':
      return { kind: 'write', handle: a.handle ?? '', data: a.data ?? [], ...repeats(a) };
    case 'frame':
      return { kind: 'frame', device, data: frameData(a) };
    case 'remove':
    case 'disable':
    case 'stop':
      return a.vetoBelow === true ? { kind: a.do, device, vetoBelow: true } : { kind: a.do, device };
    default:
      return { kind: a.do, device };
  }
}

export function untilNs(s: Scenario, o: BuildOptions = {}): number {
  return o.untilNs ?? dur(s.until);
}

/** A finished run against the scenario's `expect:`. */
export interface Expectation {
  readonly met: boolean;
  /** Each expectation missed, for people: `devices.nic0.problem: expected Code 43, got Code 0`. */
  readonly problems: string[];
  /**
   * The same, as runs that fail the same way share it (the explorer's groups, and what
   * shrinking must keep): the field and the value found (`devices.nic0.problem=0`), for
   * a count whether it came out under or over (`dumps<1`), for `settled` what was still
   * under way.
   */
  readonly signatures: string[];
}

/**
 * Compares a finished run with the scenario's `expect` (null when it has none); `mode`: the verifier mode the
 * run used (the CLI's --verifier may override the scenario's). A `rule:` without a
 * `verdict:` expects the run to stop on it, or in collect mode to record it (a rule
 * that stops the machine in every mode still stops it there).
 */
export function checkExpectations(
  s: Scenario,
  r: RunResult,
  sum: ExpectView,
  mode: Scenario['verifier'] = s.verifier,
): Expectation | null {
  const e = s.expect;
  if (e === undefined) return null;
  const problems: string[] = [];
  const signatures: string[] = [];
  const miss = (signature: string, problem: string): void => {
    signatures.push(signature);
    problems.push(problem);
  };
  // A count missed says which way: fewer dumps is a removal that never came, more is one too many.
  const way = (got: number, want: number): string => `${got < want ? '<' : '>'}${want}`;
  const verdict = r.verdict;
  const wantVerdict =
    e.verdict ?? (e.rule !== undefined ? (mode === 'collect' ? 'violations' : 'bugcheck') : 'ok');
  const stoppedAnyway = e.verdict === undefined && mode === 'collect' && verdict === 'bugcheck';
  // A hang (World.hungTeardowns) is what `settled` (on by default) reports already, as
  // it did before the verdict existed: the same failure, the same signature. With
  // `settled: false` it is a verdict missed: the run did not merely end with work in flight.
  const settledSaysIt = verdict === 'hang' && wantVerdict === 'ok' && (e.settled ?? true);
  if (verdict !== wantVerdict && !stoppedAnyway && !settledSaysIt)
    miss(
      `verdict=${verdict}`,
      `verdict: expected ${wantVerdict}, got ${verdict}${verdict === 'hang' && r.message !== null ? ` (${r.message})` : ''}`,
    );
  if (e.rule !== undefined && !r.violations.some((v) => v.rule === e.rule)) {
    miss('rule', `rule: expected ${e.rule}, got ${r.violations.map((v) => v.rule).join(', ') || 'none'}`);
  }
  for (const [name, want] of Object.entries(e.adapters ?? {})) {
    const a = [...sum.adapters].reverse().find((x) => x.name === name);
    if (a === undefined) {
      miss(`adapters.${name}=none`, `adapters.${name}: expected an adapter, got none (it never started)`);
      continue;
    }
    if (want.state !== undefined && a.state !== want.state) {
      miss(
        `adapters.${name}.state=${a.state}`,
        `adapters.${name}.state: expected ${want.state}, got ${a.state}`,
      );
    }
    if (want.haltAction !== undefined && a.haltAction !== want.haltAction) {
      const got = a.haltAction ?? 'none';
      miss(
        `adapters.${name}.haltAction=${got}`,
        `adapters.${name}.haltAction: expected ${want.haltAction}, got ${got}`,
      );
    }
    if (want.resets !== undefined && a.resets !== want.resets) {
      miss(
        `adapters.${name}.resets${way(a.resets, want.resets)}`,
        `adapters.${name}.resets: expected ${want.resets}, got ${a.resets}`,
      );
    }
  }
  for (const [name, want] of Object.entries(e.devices ?? {})) {
    const d = sum.devices.find((x) => x.name === name);
    if (d === undefined) continue;
    if (want.problem !== undefined && d.problem !== want.problem) {
      miss(
        `devices.${name}.problem=${d.problem}`,
        `devices.${name}.problem: expected Code ${want.problem}, got Code ${d.problem}`,
      );
    }
    if (want.status !== undefined && d.status !== want.status) {
      miss(
        `devices.${name}.status=${d.status}`,
        `devices.${name}.status: expected ${want.status}, got ${d.status}`,
      );
    }
    const wakes = d.wakes ?? null;
    if (want.wakes !== undefined && wakes !== want.wakes) {
      miss(
        wakes === null ? `devices.${name}.wakes=none` : `devices.${name}.wakes${way(wakes, want.wakes)}`,
        wakes === null
          ? `devices.${name}.wakes: expected ${want.wakes}, got none (the device has no SimNic)`
          : `devices.${name}.wakes: expected ${want.wakes}, got ${wakes}`,
      );
    }
  }
  if (e.dumps !== undefined && sum.dumps.length !== e.dumps) {
    miss(`dumps${way(sum.dumps.length, e.dumps)}`, `dumps: expected ${e.dumps}, got ${sum.dumps.length}`);
  }
  if ((e.settled ?? true) && (r.verdict === 'ok' || r.verdict === 'hang') && r.unsettled.length > 0) {
    // What is under way, without the asides in brackets (a request's time, the DDI not
    // called) and with counts as N: "waits for 116 send(s)" and "for 480" are one failure.
    const what = r.unsettled.map((u) => u.replace(/ \([^)]*\)/g, '').replace(/\b\d+(\.\d+)?\b/g, 'N'));
    miss(
      `settled=${[...new Set(what)].sort().join('; ')}`,
      `settled: expected nothing under way at the end, got: ${r.unsettled.join('; ')}`,
    );
  }
  return { met: problems.length === 0, problems, signatures };
}
