// One simulated machine: clock, event queue, choice door, CPUs, PnP manager, NDIS,
// protocols, devices, verifier and trace, wired together. Many worlds can live in
// one process; nothing here is module-level state.

import { assert, NdisSimUsageError, NotModelledError, WorldStop } from './errors.ts';
import {
  type FaultPlan,
  noFaults,
  quietWire,
  registerWindowBytes,
  SimNic,
  Wake,
  type WireOptions,
} from './hw/simnic.ts';
import { Irql, Kernel } from './kernel/kernel.ts';
import { setCurrentNdis } from './ndis/api/common.ts';
import type { BindingState } from './ndis/binding.ts';
import type { MiniportBlock, TeardownWhy } from './ndis/block.ts';
import { type DataStats, sendLimitDueNs } from './ndis/datapath.ts';
import {
  type IoResult,
  ioPending,
  userCancel,
  userClose,
  userExit,
  userIoctl,
  userOpen,
  userRead,
  userWrite,
} from './ndis/device.ts';
import { issueDirectOid } from './ndis/direct-oid.ts';
import type { DriverModule } from './ndis/driver.ts';
import { type FilterState, startFilterService, stopFilterService } from './ndis/filter.ts';
import { filterOidHeld } from './ndis/filter-oid.ts';
import {
  IRP_MN_REMOVE_DEVICE,
  IRP_MN_START_DEVICE,
  IRP_MN_STOP_DEVICE,
  IRP_MN_SURPRISE_REMOVAL,
  NDIS_HALT_ACTION_NAMES,
} from './ndis/generated/status.ts';
import { shutdownAll } from './ndis/lifecycle.ts';
import {
  defaultNdisOptions,
  type EventLogEntry,
  type LiveDump,
  lateWakeNote,
  Ndis,
  type NdisOptions,
} from './ndis/ndis.ts';
import { issueOid, oidHeldText, oidName, oidVerifierLimitNs } from './ndis/oid.ts';
import {
  armedForWake,
  pendingPowerStep,
  type SystemSleepState,
  sleepSystem,
  wakeSystem,
} from './ndis/power.ts';
import { stopProtocolService } from './ndis/protocol-driver.ts';
import { situationName } from './ndis/situations.ts';
import { ssWaitText, ssWakeSignal } from './ndis/ss.ts';
import type { AdapterState } from './ndis/states.ts';
import { issueSyncOid } from './ndis/sync-oid.ts';
import {
  bitmapWolPattern,
  eapolRequestIdWolPattern,
  ipv4TcpSynWolPattern,
  ipv6TcpSynWolPattern,
  magicPacketWolPattern,
  WOL_PACKET_NAMES,
} from './ndis/wol.ts';
import { type DeviceNode, type DeviceStatus, irpName, PnpManager } from './pnp/pnp.ts';
import { InterruptLine, MessageInterrupts, maxMessages } from './pnp/resources.ts';
import { fmtTime } from './report/format.ts';
import { opNamesPauses, opWaitText } from './report/opwait.ts';
import { actionKinds } from './scenario/action-kinds.ts';
import { ChoiceSite, Chooser, type Decision, RandomStrategy, type Strategy } from './sim/choice.ts';
import { limits } from './sim/limits.ts';
import { Machine } from './sim/machine.ts';
import { nearest } from './sim/nearest.ts';
import type { SimEvent } from './sim/queue.ts';
import {
  type ProtocolView,
  SimProtocol,
  sendsOutstanding,
  type TrafficInput,
  trafficOf,
  unbindWaitsForReset,
} from './stack/protocol.ts';
import { Trace } from './trace/trace.ts';
import { Verifier, type VerifierMode, type Violation, type Warning } from './verifier/verifier.ts';

/** Where SimNics' I/O port ranges go: above the legacy ISA ports, up to the top of the 64 KB space. */
const portSpaceBase = 0x1000;
const portSpaceEnd = 0x1_0000;
/** The first interrupt vector of the SimNics' messages, above every line (16 + index). */
const msiVectorBase = 0x10_0000;

export interface WorldOptions {
  seed: number;
  cpus: number;
  /** Record the trace (off in the explorer's hot loop). */
  trace: boolean;
  /** The most trace events kept; past it the oldest go (default limits.traceEventsMax). */
  traceMax: number;
  verifier: VerifierMode;
  ndis: Partial<NdisOptions>;
  /** Answers the choice door; default: seeded random. */
  strategy: Strategy | null;
  /** Decisions to follow first (a replay). */
  replay: readonly Decision[];
  /** Keep the decision log (off in the explorer's hot loop). */
  recordDecisions: boolean;
  /** Note the situations the run reaches (World.situations); the explorer turns it on. */
  situations: boolean;
}

export const defaultWorldOptions: WorldOptions = {
  seed: 1,
  cpus: 2,
  trace: true,
  traceMax: limits.traceEventsMax,
  verifier: 'bugcheck',
  ndis: {},
  strategy: null,
  replay: [],
  recordDecisions: true,
  situations: false,
};

/**
 * What World.addProtocol takes: every field may be left out (no veto, no traffic), and
 * a traffic object needs only its rate (the rest as in a scenario's `traffic`).
 */
export interface ProtocolInput {
  /** Fail NetEventQueryRemoveDevice (a veto, R5.1). */
  vetoQueryRemove?: boolean;
  traffic?: TrafficInput;
}

export interface DeviceSpec {
  name: string;
  driver: string;
  /** 'none': a virtual (root-enumerated) device with no hardware resources. */
  hardware?: 'simnic' | 'none';
  faults?: Partial<FaultPlan>;
  wire?: Partial<WireOptions>;
  registry?: Record<string, number | string>;
  /**
   * Message-signaled interrupts of a SimNic: `messages` (0, the default: its line only)
   * and whether they are MSI-X (one resource descriptor per message) or MSI (one for all).
   */
  msi?: { messages: number; msix?: boolean };
}

/** What a World event is: a scenario action, or the end of a system sleep. */
const WorldOp = { Action: 0, Wake: 1 } as const;

/**
 * An event a run may or may not get (World.inject): a PnP or power action of the world,
 * or a fault of a device's SimNic.
 */
export type InjectedEvent =
  | { kind: 'surprise-remove' | 'remove' | 'disable' | 'stop'; device: string }
  | { kind: 'sleep'; state: SystemSleepState; durationNs: number }
  | { kind: 'hang' | 'vanish'; device: string }
  /** The link goes down, and up again `forNs` later (null: it stays down). */
  | { kind: 'link-down'; device: string; forNs: number | null }
  /** The device signals a wake (as the `wake-signal` action). */
  | { kind: 'wake-signal'; device: string }
  /** A frame with these bytes reaches the device's SimNic from the wire (as the `frame` action). */
  | { kind: 'frame'; device: string; data: Uint8Array };

export interface InjectSpec {
  event: InjectedEvent;
  /** The window the time is drawn from (to the microsecond). */
  fromNs: number;
  toNs: number;
  /** The probability the run gets it at all, as num / den. */
  chance: { num: number; den: number };
}

/** The most answers an injection's time draw has: a window past 35 minutes is coarser than a µs. */
const injectStepsMax = 2 ** 31;
/** The virtual time one answer of an injection's time draw stands for (the shrinker's retiming uses it too). */
export const injectStepNs = 1000;

/** Things a scenario makes happen at a given time. */
export type WorldAction =
  | { kind: 'shutdown' }
  /** The system sleeps in `state` and wakes `durationNs` later (power.ts). */
  | { kind: 'sleep'; state: SystemSleepState; durationNs: number }
  | { kind: 'start'; device: string }
  | { kind: 'surprise-remove'; device: string }
  /** Every protocol bound to the device's adapter sends one frame (NdisSendNetBufferLists). */
  | { kind: 'send'; device: string }
  /**
   * Every protocol bound to the device's adapter cancels the sends it has made since its
   * last cancel (NdisCancelSendNetBufferLists with their cancel ID).
   */
  | { kind: 'cancel-sends'; device: string }
  /**
   * The device signals a wake-up to its bus (IRP_MN_WAIT_WAKE completes), as a selectively
   * suspended adapter does on a matching packet or a link change (ss.ts).
   */
  | { kind: 'wake-signal'; device: string }
  /**
   * A frame with these bytes arrives from the wire at the device's SimNic: received in
   * D0, matched against the wake-up filters in a low-power state (SimNic.receiveFrame).
   */
  | { kind: 'frame'; device: string; data: Uint8Array }
  /**
   * An orderly removal, a disable, or a stop. `vetoBelow`: NDIS accepts the query, but
   * the bus driver beneath it fails the IRP, so PnP cancels (R5.3).
   */
  | { kind: 'remove' | 'disable' | 'stop'; device: string; vetoBelow?: boolean }
  /**
   * A filter service starts or stops while the machine runs: NDIS attaches a module to,
   * or detaches its module from, every running stack (filter.ts).
   */
  | { kind: 'start-filter'; driver: string; mandatory?: boolean }
  | { kind: 'stop-filter'; driver: string }
  /**
   * A protocol driver's service stops, as `net stop` does: the I/O manager calls its
   * Unload routine, which deregisters it, and NDIS unbinds it (protocol-driver.ts).
   */
  | { kind: 'stop-protocol'; driver: string }
  /**
   * The user-mode application (device.ts): CreateFile on \\.\`link` as `handle`;
   * DeviceIoControl on it (METHOD_BUFFERED `code`, `input` bytes, room for
   * `outputLength`), ReadFile of `length` bytes, WriteFile of `data`, each again every
   * `everyNs` while `times` lasts (no `times`: until the run ends); CloseHandle;
   * CancelIoEx on `handle` (the I/O manager cancels each of its pending requests); the
   * application's exit (its pending requests cancelled, then each open handle closed).
   */
  | { kind: 'open'; handle: string; link: string }
  | {
      kind: 'ioctl';
      handle: string;
      code: number;
      input: readonly number[];
      outputLength: number;
      everyNs?: number;
      times?: number;
    }
  | { kind: 'read'; handle: string; length: number; everyNs?: number; times?: number }
  | { kind: 'write'; handle: string; data: readonly number[]; everyNs?: number; times?: number }
  | { kind: 'close'; handle: string }
  | { kind: 'cancel'; handle: string }
  | { kind: 'exit' }
  /**
   * NDIS sends an OID request to the adapter (as NDIS or an overlying driver would). The
   * value of a set of OID_PM_ADD_WOL_PATTERN is a WolPatternSpec: each request gets a
   * fresh NDIS_PM_WOL_PATTERN built from it.
   */
  | {
      kind: 'oid';
      device: string;
      oid: number;
      set: boolean;
      value: unknown;
      timeoutS: number;
      /** InformationBufferLength in bytes; by default the size of the set's value, or room for the query's answer. */
      bufferLength?: number;
      /** A direct OID request (MiniportDirectOidRequest), not a regular one. */
      direct?: boolean;
      /** A synchronous OID request (NDIS 6.80; sync-oid.ts): a method request with `value` as its input, at DISPATCH. */
      synchronous?: boolean;
    };

/** Every WorldAction kind, for World.at's check of what it is given. */
const worldActionKinds: readonly string[] = actionKinds;

/** The kinds that name a device, and those that name a driver or an application handle. */
const deviceActionKinds = new Set<string>([
  'start',
  'surprise-remove',
  'send',
  'cancel-sends',
  'wake-signal',
  'frame',
  'remove',
  'disable',
  'stop',
  'oid',
]);
const driverActionKinds = new Set<string>(['start-filter', 'stop-filter', 'stop-protocol']);
const handleActionKinds = new Set<string>(['open', 'ioctl', 'read', 'write', 'close', 'cancel']);

/** A value as a usage message shows it: strings quoted, objects as JSON. */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) {
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

type FaultKind = 'ns' | 'ns?' | 'period' | 'hangEvery' | 'range' | 'boolean';

/**
 * The keys of a SimNic's FaultPlan and WireOptions World.addDevice takes, each with the
 * kind of value it wants, and the scenario file's names that mean the same in nanoseconds
 * (`hangAt: 1.5s` in YAML is `hangAtNs: 1.5e9` in code).
 */
// `satisfies`: a FaultPlan or WireOptions field added without its entry here fails to compile.
const faultKeys: Record<string, FaultKind> = {
  hangAtNs: 'ns?',
  hangEvery: 'hangEvery',
  rehangAfterReset: 'range',
  resetNs: 'ns',
  vanishAtNs: 'ns?',
  linkDownAtNs: 'ns?',
  linkDownForNs: 'ns?',
  deadOnResume: 'boolean',
  deadOnResumeAfterNs: 'ns',
  sharedIrqEveryNs: 'period',
} satisfies Record<keyof FaultPlan, FaultKind>;
const faultYamlNames: Record<string, string> = {
  hangAt: 'hangAtNs',
  resetTime: 'resetNs',
  vanishAt: 'vanishAtNs',
  linkDownAt: 'linkDownAtNs',
  linkDownFor: 'linkDownForNs',
  deadOnResumeAfter: 'deadOnResumeAfterNs',
  sharedIrqEvery: 'sharedIrqEveryNs',
};
const wireKeys = Object.keys({
  rxPerSecond: true,
  rxFrameBytes: true,
  rxFrameBytesMax: true,
  rxBurst: true,
  txNsPerByte: true,
} satisfies Record<keyof WireOptions, true>);
const wireYamlNames: Record<string, string> = {
  rxRate: 'rxPerSecond',
  frameBytes: 'rxFrameBytes',
  burst: 'rxBurst',
};

/** An unknown key of an addDevice sub-object, said with the name it may have meant. */
function unknownKey(
  where: string,
  key: string,
  known: readonly string[],
  yaml: Record<string, string>,
): string {
  const code = Object.hasOwn(yaml, key) ? yaml[key] : undefined;
  const near = code !== undefined ? null : nearest(key, known);
  return `${where}: unknown field ${JSON.stringify(key)}${
    code !== undefined
      ? ` (the scenario file's name, a duration there); in code it is ${code}, in nanoseconds`
      : near === null
        ? ''
        : `; did you mean ${near}?`
  } (known: ${known.join(', ')})`;
}

/**
 * What is wrong with a device spec's `faults` or `wire`, or null. Unchecked code (a cast,
 * JavaScript, a key of the YAML form) would otherwise have a fault that never fires and a
 * run that passes for the wrong reason; the scenario loader refuses the same mistakes.
 */
function deviceSpecProblem(spec: DeviceSpec): string | null {
  const fn = `World.addDevice: device '${spec.name}'`;
  const isNs = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const f = spec.faults as unknown;
  if (f !== undefined) {
    if (typeof f !== 'object' || f === null)
      return `${fn}: expected faults, an object of FaultPlan fields, got ${shown(f)}`;
    for (const [k, v] of Object.entries(f)) {
      const kind = Object.hasOwn(faultKeys, k) ? faultKeys[k] : undefined;
      if (kind === undefined) return unknownKey(`${fn} faults`, k, Object.keys(faultKeys), faultYamlNames);
      if (v === undefined) continue;
      const r = v as Record<string, unknown> | null;
      const ok =
        kind === 'ns'
          ? isNs(v)
          : kind === 'period'
            ? isNs(v) && Number(v) > 0
            : kind === 'ns?'
              ? v === null || isNs(v)
              : kind === 'boolean'
                ? typeof v === 'boolean'
                : kind === 'range'
                  ? v === null ||
                    (typeof r === 'object' &&
                      r !== null &&
                      isNs(r.minNs) &&
                      isNs(r.maxNs) &&
                      Number(r.minNs) <= Number(r.maxNs))
                  : v === null ||
                    (typeof r === 'object' &&
                      r !== null &&
                      isNs(r.periodNs) &&
                      Number(r.periodNs) > 0 &&
                      typeof r.chance === 'object' &&
                      r.chance !== null);
      if (!ok) {
        const want =
          kind === 'ns'
            ? 'a whole number of nanoseconds from 0 up'
            : kind === 'period'
              ? 'a whole number of nanoseconds from 1 up'
              : kind === 'ns?'
                ? 'a whole number of nanoseconds from 0 up, or null'
                : kind === 'boolean'
                  ? 'true or false'
                  : kind === 'range'
                    ? '{ minNs, maxNs } in whole nanoseconds, minNs <= maxNs, or null'
                    : '{ periodNs, chance: { num, den } }, or null';
        return `${fn}: expected faults.${k}, ${want}, got ${shown(v)}`;
      }
    }
  }
  const w = spec.wire as unknown;
  if (w !== undefined) {
    if (typeof w !== 'object' || w === null)
      return `${fn}: expected wire, an object of WireOptions fields, got ${shown(w)}`;
    for (const [k, v] of Object.entries(w)) {
      if (!wireKeys.includes(k)) return unknownKey(`${fn} wire`, k, wireKeys, wireYamlNames);
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        return `${fn}: expected wire.${k}, a number from 0 up, got ${shown(v)}`;
    }
  }
  return null;
}

/**
 * What is wrong with an action given to World.at, as "expected …, got …", or null. Code
 * that is not type-checked (JavaScript, a cast) may pass anything: a misspelt kind would
 * otherwise do nothing when it fires, and a missing field fail deep inside NDIS.
 */
function actionProblem(a: unknown): string | null {
  if (typeof a !== 'object' || a === null)
    return `World.at: expected an action ({ kind, … }), got ${shown(a)}`;
  const x = a as Record<string, unknown>;
  const kind = x.kind;
  if (typeof kind !== 'string' || !(worldActionKinds as readonly string[]).includes(kind)) {
    const near = typeof kind === 'string' ? nearest(kind, worldActionKinds) : null;
    return `World.at: expected an action kind, one of ${worldActionKinds.join(', ')}, got ${shown(kind)}${near === null ? '' : ` (did you mean '${near}'?)`}`;
  }
  const fn = `World.at(${kind})`;
  const str = (k: string, what: string): string | null =>
    typeof x[k] === 'string' && x[k] !== '' ? null : `${fn}: expected ${k}, ${what}, got ${shown(x[k])}`;
  const whole = (k: string, what: string, max = Number.MAX_SAFE_INTEGER): string | null => {
    const v = x[k];
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max
      ? null
      : `${fn}: expected ${k}, ${what}, got ${shown(v)}`;
  };
  if (deviceActionKinds.has(kind)) {
    const p = str('device', 'the name of a device added with addDevice');
    if (p !== null) return p;
  }
  if (driverActionKinds.has(kind)) {
    const p = str('driver', 'the name of a driver added with addDriver');
    if (p !== null) return p;
  }
  if (handleActionKinds.has(kind)) {
    const p = str('handle', "the application's name for its handle");
    if (p !== null) return p;
  }
  switch (kind) {
    case 'sleep':
      return x.state === 'S3' || x.state === 'S4'
        ? null
        : `${fn}: expected state 'S3' or 'S4', got ${shown(x.state)}`;
    case 'frame':
      return x.data instanceof Uint8Array
        ? null
        : `${fn}: expected data, the frame's bytes as a Uint8Array, got ${shown(x.data)}`;
    case 'open':
      return str('link', 'the symbolic link to open (such as SimNicCtl)');
    case 'ioctl':
      return (
        whole('code', 'an I/O control code from 0 to 0xFFFFFFFF', 0xffffffff) ??
        (Array.isArray(x.input)
          ? null
          : `${fn}: expected input, the input bytes as an array of numbers, got ${shown(x.input)}`) ??
        whole('outputLength', "the output buffer's length in bytes from 0 up")
      );
    case 'write':
      return Array.isArray(x.data)
        ? null
        : `${fn}: expected data, the bytes to write as an array of numbers, got ${shown(x.data)}`;
    case 'oid':
      return (
        whole('oid', 'an OID, a number from 0 to 0xFFFFFFFF such as OID_GEN_STATISTICS', 0xffffffff) ??
        (typeof x.set === 'boolean'
          ? null
          : `${fn}: expected set, true for a set request and false for a query, got ${shown(x.set)}`) ??
        whole('timeoutS', 'NDIS_OID_REQUEST.Timeout in whole seconds from 0 up (0: none)', 0xffffffff) ??
        (x.bufferLength === undefined
          ? null
          : whole('bufferLength', 'InformationBufferLength in bytes', 0xffffffff))
      );
    default:
      return null;
  }
}

/** A Wake-on-LAN pattern to add (OID_PM_ADD_WOL_PATTERN), as an `oid` action's value gives it. */
export interface WolPatternSpec {
  wolPattern: 'bitmap' | 'magic-packet' | 'ipv4-tcp-syn' | 'ipv6-tcp-syn' | 'eapol-request-id';
  /** A bitmap pattern's mask bytes: bit i (bit i % 8 of byte i / 8) says whether byte i is compared. */
  mask?: readonly number[];
  /** A bitmap pattern's bytes, from the frame's first byte. */
  pattern?: readonly number[];
  /** A TCP SYN's source and destination addresses (4 or 16 bytes; zeros, unspecified, if not given) and ports (0 if not given). */
  source?: readonly number[];
  dest?: readonly number[];
  sourcePort?: number;
  destPort?: number;
  /** NDIS_PM_WOL_PATTERN.Priority (NDIS_PM_WOL_PRIORITY_NORMAL if not given). */
  priority?: number;
}

function isWolPatternSpec(v: unknown): v is WolPatternSpec {
  return typeof v === 'object' && v !== null && 'wolPattern' in v;
}

/** The NDIS_PM_WOL_PATTERN of a spec, and its InformationBufferLength. */
function wolPatternOf(s: WolPatternSpec): { pattern: unknown; length: number } {
  const address = (a: readonly number[] | undefined, size: number): Uint8Array =>
    a === undefined ? new Uint8Array(size) : Uint8Array.from(a);
  switch (s.wolPattern) {
    case 'bitmap':
      return bitmapWolPattern(Uint8Array.from(s.mask ?? []), Uint8Array.from(s.pattern ?? []), s.priority);
    case 'magic-packet':
      return magicPacketWolPattern(s.priority);
    case 'ipv4-tcp-syn':
      return ipv4TcpSynWolPattern(
        address(s.source, 4),
        address(s.dest, 4),
        s.sourcePort ?? 0,
        s.destPort ?? 0,
        s.priority,
      );
    case 'ipv6-tcp-syn':
      return ipv6TcpSynWolPattern(
        address(s.source, 16),
        address(s.dest, 16),
        s.sourcePort ?? 0,
        s.destPort ?? 0,
        s.priority,
      );
    case 'eapol-request-id':
      return eapolRequestIdWolPattern(s.priority);
  }
}

/**
 * `hang`: no rule broken, but a removal, surprise removal, stop or other PnP IRP never
 * finished, nothing left to happen that could finish it (World.hungTeardowns): Windows
 * would hang there, with no bug check (ndis: hungTeardown).
 */
export type Verdict = 'ok' | 'bugcheck' | 'violations' | 'livelock' | 'not-modelled' | 'hang';

/** A teardown or PnP IRP that never finished and never could (RunResult.hangs). */
export interface Hang {
  /** For people: what never finished, why, and that Windows would hang there. */
  readonly text: string;
  /** The same without times, as runs that hang the same way share it: `the removal of nic0: MiniportResetEx pended`. */
  readonly key: string;
  /** The rule-book id: R4.16 behind a reset, R3.9 a restart, R7.5 a filter restart, else R5.8. */
  readonly rule: string;
}

export interface RunResult {
  verdict: Verdict;
  /** The virtual time of the last event: the queue may run dry before `untilNs`. */
  endNs: number;
  /** The virtual time the run was asked to go to (World.run's `untilNs`). */
  untilNs: number;
  events: number;
  decisions: number;
  bugCheck: Violation | null;
  violations: Violation[];
  warnings: Warning[];
  /** What was still under way when the run ended. */
  pending: string[];
  /** The part of `pending` that `expect: settled` judges (World.pending). */
  unsettled: string[];
  /** Where the run met a limit of the model that bent its timing (docs/model.md). */
  modelNotes: string[];
  /**
   * Teardowns and PnP IRPs still outstanding at the end that nothing left to happen
   * could finish (World.hungTeardowns); empty when none, or when the run stopped on a
   * bug check, a livelock or something not modelled.
   */
  hangs: Hang[];
  message: string | null;
}

export interface AdapterSummary {
  name: string;
  driver: string;
  state: AdapterState;
  /** The NDIS_HALT_ACTION of its last MiniportHaltEx (R2.11); null: never halted. */
  haltAction: HaltActionName | null;
  resets: number;
  hangsReported: number;
  removeCalls: number;
  /** NdisMRemoveMiniport calls that never reached the flag (a bug check stopped them, or a dead handle, R5.20). */
  removeCallsRefused: number;
  deviceFailed: boolean;
  initializations: number;
  /** Data path and requests (NDIS's counts). */
  data: DataStats;
  /** Still out at the end: sends not completed, receives not returned. */
  sendsOutstanding: number;
  /**
   * When Driver Verifier's send time-outs would stop the run for the sends still out if
   * none completed (datapath.ts sendLimitDueNs, R6.11); null when none is out.
   */
  sendLimitDueNs: number | null;
  /**
   * NDIS's watchdogs armed at the end over work the adapter's stack pended (a pause,
   * an OID request), each with when it would fire: a run that ends first does not see
   * them, and the summary says how far to run to (src/report/summary.ts).
   */
  watchdogs: { what: string; dueNs: number }[];
  receivesOutstanding: number;
  /** Why NDIS stopped the stack: a mandatory filter module that did not attach; else null. */
  stackFailure: string | null;
  /** The Wake-on-LAN patterns added and not removed, by PatternId (NDIS's list; wol.ts). */
  wolPatterns: { PatternId: number; type: string }[];
}

export interface DeviceSummary {
  name: string;
  instanceId: string;
  driver: string;
  status: DeviceStatus;
  problem: number;
  /**
   * The PnP IRP to the device still with the PnP manager when the run stopped: sent and
   * not completed, or completed and not yet taken up (a START_DEVICE that completed just
   * before a bug check: the devnode is not marked started until PnP processes it); null
   * when there is none.
   */
  irp: { name: string; completed: boolean; status: number } | null;
  /**
   * The PnP manager sent IRP_MN_SURPRISE_REMOVAL and the devnode's stack is not removed
   * yet (R5.5): 'unplugged' when the device left the bus, 'failed' when it reported
   * PNP_DEVICE_FAILED (R5.12); null otherwise. The status column still says "started"
   * until IRP_MN_REMOVE_DEVICE completes; a report says "surprise-removed" (R6 of the
   * newcomer review: "started  working" read as a healthy device).
   */
  surpriseRemoved: 'failed' | 'unplugged' | null;
}

export interface Summary {
  adapters: AdapterSummary[];
  devices: DeviceSummary[];
  dumps: LiveDump[];
  eventLog: EventLogEntry[];
  /** Each binding's view, with the NDIS state of the binding at the end (R7.1). */
  protocols: { name: string; bindings: (ProtocolView & { state: BindingState })[] }[];
  /** Every filter module the run attached, by adapter then stack position (bottom first), with its state at the end (R7.5). */
  filters: FilterSummary[];
  /** Filter drivers whose service failed to start (DriverEntry failed or did not register), with why. */
  filterLoadFailures: { driver: string; why: string }[];
  /** Protocol drivers that registered (World.addProtocolDriver), with their bindings at the end. */
  protocolDrivers: ProtocolDriverSummary[];
  /** Protocol drivers whose service failed to start, with why. */
  protocolLoadFailures: { driver: string; why: string }[];
}

export interface ProtocolDriverSummary {
  driver: string;
  /** Binds NDIS began, and how many of them failed (the driver's status, or a broken contract). */
  binds: number;
  bindsFailed: number;
  /** NBLs it sent, NBLs indicated to it (with or without NDIS_RECEIVE_FLAGS_RESOURCES), those it returned, OID requests it made. */
  sent: number;
  received: number;
  /** Of `received`, those that came with NDIS_RECEIVE_FLAGS_RESOURCES (NDIS took them back). */
  receivedWithResources: number;
  returned: number;
  oidRequests: number;
  /** The bindings left at the end, by adapter (none once every stack is torn down). */
  bindings: { adapter: string; state: BindingState }[];
  /** Its service stopped: its Unload routine ran (stop-protocol). */
  unloaded?: true;
}

/** What a scenario's `expect:` reads of a finished run (a Summary has all of it but the devices' `wakes`). */
export interface ExpectView {
  readonly adapters: readonly Pick<AdapterSummary, 'name' | 'state' | 'haltAction' | 'resets'>[];
  readonly devices: readonly (Pick<DeviceSummary, 'name' | 'status' | 'problem'> & {
    /** Wakes its SimNic signalled (PME_Status latched) from a low-power state; null: no SimNic (absent: not looked at). */
    wakes?: number | null;
  })[];
  readonly dumps: readonly unknown[];
}

export interface FilterSummary {
  driver: string;
  adapter: string;
  state: FilterState;
  mandatory: boolean;
  /** Its place in the stack when it attached: 0 right above the miniport. */
  position: number;
  /**
   * NBLs it handed on with NdisFSendNetBufferLists and NdisFIndicateReceiveNetBufferLists:
   * passed on from above or below, or its own; null for a module that never touched the
   * data path (bypassed).
   */
  data: {
    sendsPassed: number;
    sendsOriginated: number;
    /** Sends from above it completed itself instead of passing them on (dropped, or refused while pausing). */
    sendsCompleted: number;
    receivesPassed: number;
    receivesOriginated: number;
    /** Receives from below it did not pass on: returned itself, or left out of a RESOURCES indication. */
    receivesDropped: number;
  } | null;
}

interface DeviceEntry {
  node: DeviceNode;
  nic: SimNic | null;
}

const noSituations: readonly number[] = [];

/**
 * What a stack pause waits for, for the line of an operation still under way: each
 * pausing protocol's sends not yet completed, and who holds them (a filter module, the
 * miniport). Empty when no protocol is pausing with sends out.
 */
/** "the removal of nic0", for World.hungTeardowns. */
function teardownWhat(why: TeardownWhy, name: string, disable: boolean): string {
  switch (why) {
    case 'remove':
      // A disable shares the removal's teardown (R5.4); the devnode says which it is.
      return `the ${disable ? 'disable' : 'removal'} of ${name}`;
    case 'surprise-removal':
      return `the surprise removal of ${name}`;
    case 'stop':
      return `the stop of ${name}`;
    case 'stack-failed':
      return `the teardown of ${name} after its stack failed`;
    case 'im-deinit':
      return `the teardown of ${name} (NdisIMDeInitializeDeviceInstance)`;
  }
}

function irpWhat(minor: number, name: string, disable: boolean): string {
  if (minor === IRP_MN_REMOVE_DEVICE) return `the ${disable ? 'disable' : 'removal'} of ${name}`;
  if (minor === IRP_MN_SURPRISE_REMOVAL) return `the surprise removal of ${name}`;
  if (minor === IRP_MN_STOP_DEVICE) return `the stop of ${name}`;
  if (minor === IRP_MN_START_DEVICE) return `the start of ${name}`;
  return `${irpName(minor)} to ${name}`;
}

/**
 * What an adapter's teardown or IRP waits for that no watchdog of NDIS times, so
 * Windows would wait for it for good: a pended reset (R4.16), restart (R3.9) or filter
 * restart (R7.5), or direct OID requests; null when it is none of those.
 */
function hangCause(b: MiniportBlock): { text: string; key: string; rule: string; sinceNs: number } | null {
  const r = b.reset;
  if (b.resetInProgress && r?.returned)
    return {
      text: `MiniportResetEx pended at ${fmtTime(r.sinceNs)} and NdisMResetComplete never came; Windows would hang here (no NDIS watchdog times a reset)`,
      key: 'MiniportResetEx pended',
      rule: 'R4.16',
      sinceNs: r.sinceNs,
    };
  const s = b.restart;
  if (s?.returned)
    return {
      text: `MiniportRestart pended at ${fmtTime(s.sinceNs)} and NdisMRestartComplete never came; Windows would hang here (no NDIS watchdog times a restart)`,
      key: 'MiniportRestart pended',
      rule: 'R3.9',
      sinceNs: s.sinceNs,
    };
  for (const m of b.filters) {
    const p = m.pending;
    if (p === null || p.kind !== 'restart' || !p.returned || p.completed) continue;
    return {
      text: `FilterRestart of ${m.name} pended at ${fmtTime(p.sinceNs)} and NdisFRestartComplete never came; Windows would hang here (no NDIS watchdog times a filter restart)`,
      key: 'FilterRestart pended',
      rule: 'R7.5',
      sinceNs: p.sinceNs,
    };
  }
  if (b.directOids.length > 0)
    return {
      text: `${b.directOids.length} direct OID request(s) pended in the miniport and NdisMDirectOidRequestComplete never came; Windows would hang here (no NDIS watchdog times a direct OID request)`,
      key: 'direct OID requests pended',
      rule: 'R5.8',
      sinceNs: 0,
    };
  return null;
}

/** NDIS's watchdogs armed over `b`'s stack (AdapterSummary.watchdogs), soonest first. */
function armedWatchdogs(b: MiniportBlock): { what: string; dueNs: number }[] {
  const out: { what: string; dueNs: number }[] = [];
  const add = (ev: SimEvent | null | undefined, what: string): void => {
    if (ev != null && !ev.cancelled) out.push({ what, dueNs: ev.at });
  };
  add(b.pause?.watchdog, "NDIS's pause watchdog over the pended MiniportPause (NdisSim_PauseWatchdog, R3.7)");
  add(
    b.oid?.watchdog,
    `NDIS's OID watchdog over the OID request the miniport pended (NdisSim_MiniportOidWatchdog, R6.6)`,
  );
  for (const m of b.filters) {
    if (m.pending?.kind === 'pause')
      add(
        m.pending.ndisWatchdog,
        `NDIS's pause watchdog over filter module ${m.driver.name}'s pended FilterPause (NdisSim_FilterPauseWatchdog, R7.13)`,
      );
    add(
      m.oid?.current?.watchdog,
      `NDIS's OID watchdog over the OID request filter module ${m.driver.name} pended (NdisSim_FilterOidWatchdog, R7.13)`,
    );
  }
  return out.sort((x, y) => x.dueNs - y.dueNs);
}

/**
 * What a pausing binding's pause waits for: its sends not yet completed, and who holds
 * them ("2 send(s) to complete (2 with the miniport)"); null when none is out (R3.4).
 */
function pauseSendsText(bd: MiniportBlock['bindings'][number]): string | null {
  const sends = sendsOutstanding(bd);
  if (sends.length === 0) return null;
  const where = new Map<string, number>();
  for (const nbl of sends) {
    const who =
      nbl._holder !== null
        ? `filter module ${nbl._holder.name}`
        : nbl._place === 'miniport-send'
          ? 'the miniport'
          : nbl._place;
    where.set(who, (where.get(who) ?? 0) + 1);
  }
  const held = [...where].map(([who, k]) => `${k} with ${who}`).join(', ');
  return `${sends.length} send(s) to complete (${held})`;
}

function waitsFor(b: MiniportBlock): string {
  const parts: string[] = [];
  // A teardown's or a restack's pause waits first for selective suspend to end (ss.ts
  // ssSettled): the idle notification's cancel and completion, the return to D0.
  const ss = ssWaitText(b);
  if (ss !== null) parts.push(ss);
  // The operation's own text names each pausing protocol, and what it waits for, when
  // it is at the step that pauses them; else they are said here.
  if (!opNamesPauses(b))
    for (const bd of b.bindings) {
      const held = bd.state === 'Pausing' ? pauseSendsText(bd) : null;
      if (held !== null) parts.push(`protocol ${bd.protocol.name}'s pause waits for ${held}`);
    }
  // R4.7: a reset that never completes holds the OID requests of a protocol's unbind
  // (clearing its packet filter, say), and the teardown waits behind them; the model's
  // own protocol holds them itself until RESET_END (R4.8).
  if (b.resetInProgress)
    for (const bd of b.bindings) {
      let held = 0;
      for (const r of b.oidQueue) if (r.origin.kind === 'binding' && r.origin.binding === bd) held++;
      if (held > 0)
        parts.push(
          `protocol ${bd.protocol.name} (${bd.state}) has ${held} OID request(s) NDIS holds until the reset completes`,
        );
      else if (unbindWaitsForReset(bd))
        parts.push(
          `protocol ${bd.protocol.name} (${bd.state}) holds its unbind's clean-up OID requests until RESET_END (R4.8)`,
        );
    }
  return parts.length === 0 ? '' : `: ${parts.join('; ')}`;
}

/** The names of the NDIS_HALT_ACTION values (R2.11), in value order: AdapterSummary.haltAction. */
export type HaltActionName =
  | 'NdisHaltDeviceDisabled'
  | 'NdisHaltDeviceInstanceDeInitialized'
  | 'NdisHaltDevicePoweredDown'
  | 'NdisHaltDeviceSurpriseRemoved'
  | 'NdisHaltDeviceFailed'
  | 'NdisHaltDeviceInitializationFailed'
  | 'NdisHaltDeviceStopped';

/** NDIS only halts with one of the seven values (R2.11); test/public-types.test.ts checks the names match the generated list. */
/**
 * The halt action a summary shows: the current one, or for a Halted adapter whose
 * restart after a stop failed (its FDO went with no second halt), the last halt's
 * (NdisHaltDeviceStopped; review-pnp #3).
 */
function summaryHaltAction(b: MiniportBlock): number | null {
  return b.haltAction ?? (b.state === 'Halted' ? b.lastHaltAction : null);
}

function haltActionName(a: number | null): HaltActionName | null {
  if (a === null) return null;
  const name = NDIS_HALT_ACTION_NAMES[a];
  assert(name !== undefined, `halt action ${a} is not an NDIS_HALT_ACTION`);
  return name as HaltActionName;
}

// World is the event queue's target (EventTarget), the machine's sleep keeper and
// power.ts's sleep listener, checked where it is passed as each rather than with
// `implements`: those members are internal (left out of the package's declarations),
// and a declaration file that says `implements EventTarget` without `fire` fails a
// project's `skipLibCheck: false` (test/typecheck-driver.test.ts).
export class World {
  readonly options: WorldOptions;
  // The model's parts: internal, left out of the package's declarations (stripInternal in
  // tsconfig.build.json); ndis-sim's own tests reach them through the sources (T11 of the
  // stop-36 review). A project reads a run through run(), summary(), trace and the rest.
  /** @internal */
  readonly machine: Machine;
  /** @internal */
  readonly kernel: Kernel;
  /** The run's events (`trace.events`, the timeline as data). */
  readonly trace: Trace;
  /** @internal */
  readonly verifier: Verifier;
  /** @internal */
  readonly pnp: PnpManager;
  /** @internal */
  readonly ndis: Ndis;
  readonly protocols: SimProtocol[] = [];
  private readonly devices = new Map<string, DeviceEntry>();
  private result: RunResult | null = null;
  /**
   * The virtual time the runs so far went to (the largest `untilNs` of a finished run):
   * the world only runs forward, and an action goes at this time or later (T8).
   */
  private ranToNs = 0;
  /** The machine was shut down (a normal end of the run). */
  shutDown = false;
  /** A system sleep is on: from its action until its wake (sleeps do not nest). */
  private asleep = false;
  /** When the sleep under way ends (its wake event), while `asleep`. */
  private wakeAtNs = 0;
  /** The sleep's wake event, while `asleep`: a device's wake signal brings it forward. */
  private wakeEv: SimEvent | null = null;

  constructor(options: Partial<WorldOptions> = {}) {
    // Field by field rather than spread: a world per run is the explorer's hot loop, and
    // two object spreads were a tenth of a world's set-up.
    const d = defaultWorldOptions;
    const o: WorldOptions = {
      seed: options.seed ?? d.seed,
      cpus: options.cpus ?? d.cpus,
      trace: options.trace ?? d.trace,
      traceMax: options.traceMax ?? d.traceMax,
      verifier: options.verifier ?? d.verifier,
      ndis: options.ndis ?? d.ndis,
      strategy: options.strategy ?? d.strategy,
      replay: options.replay ?? d.replay,
      recordDecisions: options.recordDecisions ?? d.recordDecisions,
      situations: options.situations ?? d.situations,
    };
    if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > 64)
      throw new NdisSimUsageError(
        `new World: cpus must be a whole number from 1 to 64, got ${String(o.cpus)}`,
      );
    if (!Number.isSafeInteger(o.traceMax) || o.traceMax < 1)
      throw new NdisSimUsageError(
        `new World: traceMax must be a whole number from 1 up, got ${String(o.traceMax)}`,
      );
    if (!Number.isSafeInteger(o.seed) || o.seed < 0)
      throw new NdisSimUsageError(`new World: seed must be a whole number from 0 up, got ${String(o.seed)}`);
    this.options = o;
    const strategy = o.strategy ?? new RandomStrategy(o.seed);
    this.machine = new Machine(new Chooser(strategy, o.replay, o.recordDecisions));
    this.kernel = new Kernel(this.machine, o.cpus);
    this.trace = new Trace(o.trace, o.traceMax);
    this.verifier = new Verifier(this.kernel, this.machine, this.trace, o.verifier);
    this.pnp = new PnpManager(this.kernel, this.trace);
    // NDIS only reads its options: a world given none shares the frozen defaults.
    this.ndis = new Ndis(
      this.kernel,
      this.pnp,
      this.verifier,
      this.trace,
      o.ndis === d.ndis ? defaultNdisOptions : { ...defaultNdisOptions, ...o.ndis },
    );
    this.pnp.fdoDriver = this.ndis;
    this.ndis.situationsOn = o.situations;
  }

  addDriver(mod: DriverModule): void {
    const m = mod as unknown as Record<string, unknown> | null;
    if (
      typeof m !== 'object' ||
      m === null ||
      typeof m.name !== 'string' ||
      m.name === '' ||
      typeof m.load !== 'function'
    )
      throw new NdisSimUsageError(
        `World.addDriver: expected a DriverModule ({ name, load() }), got ${typeof m === 'object' && m !== null ? `an object with ${Object.keys(m).join(', ') || 'no fields'}` : shown(m)}`,
      );
    // A second module of the same name replaced the first without a word; a device,
    // a filter and an action name a driver by its name, so it must name one.
    if (this.ndis.modules.has(mod.name))
      throw new NdisSimUsageError(
        `World.addDriver: a driver named '${mod.name}' was added already${this.ndis.modules.get(mod.name) === mod ? ' (the same module, twice)' : ''}`,
      );
    this.ndis.modules.set(mod.name, mod);
  }

  /**
   * Installs a filter driver (added with addDriver) over every adapter, above the
   * filters installed before it (R7.8). NDIS loads it when the first stack starts.
   * `mandatory`: a module that fails to attach stops the stack.
   */
  addFilter(
    driver: string,
    options: { mandatory?: boolean; registry?: Readonly<Record<string, number | string>> } = {},
  ): void {
    if (!this.ndis.modules.has(driver))
      throw new NdisSimUsageError(
        `World.addFilter: '${driver}' was not added (call addDriver first); added: ${[...this.ndis.modules.keys()].join(', ') || 'none'}`,
      );
    if (this.ndis.filterInstalls.some((f) => f.name === driver))
      throw new NdisSimUsageError(`World.addFilter: filter driver '${driver}' is installed already`);
    this.ndis.filterInstalls.push({ name: driver, mandatory: options.mandatory ?? false });
    // The values the filter's INF writes to each module's instance key.
    if (options.registry !== undefined)
      this.ndis.filterDefaults.set(driver, new Map(Object.entries(options.registry)));
  }

  /**
   * Adds a protocol that binds to every adapter, as TCP/IP does. `traffic` needs only
   * ratePerSecond; frameBytes, returnDelayNs and statisticsEveryNs default as in YAML.
   */
  addProtocol(name: string, options: ProtocolInput = {}): SimProtocol {
    if (typeof name !== 'string' || name === '')
      throw new NdisSimUsageError(`World.addProtocol: expected a name for the protocol, got ${shown(name)}`);
    // The bindings, the summary and the trace tell protocols apart by name (a scenario's
    // `protocols:` takes unique names too).
    if (this.protocols.some((x) => x.name === name))
      throw new NdisSimUsageError(`World.addProtocol: a protocol named '${name}' was added already`);
    const p = new SimProtocol(name, {
      vetoQueryRemove: options.vetoQueryRemove ?? false,
      traffic: trafficOf(options.traffic),
    });
    this.protocols.push(p);
    this.ndis.protocols.push(p);
    return p;
  }

  /**
   * Installs a protocol driver (added with addDriver): NDIS starts its service (its
   * DriverEntry, which calls NdisRegisterProtocolDriver) when the first stack binds,
   * and binds it to every adapter after that, beside the protocols of addProtocol.
   */
  addProtocolDriver(driver: string): void {
    if (!this.ndis.modules.has(driver))
      throw new NdisSimUsageError(
        `World.addProtocolDriver: '${driver}' was not added (call addDriver first); added: ${[...this.ndis.modules.keys()].join(', ') || 'none'}`,
      );
    if (this.ndis.protocolInstalls.includes(driver))
      throw new NdisSimUsageError(
        `World.addProtocolDriver: protocol driver '${driver}' is installed already`,
      );
    this.ndis.protocolInstalls.push(driver);
  }

  addDevice(spec: DeviceSpec): DeviceNode {
    if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string' || spec.name === '')
      throw new NdisSimUsageError(
        `World.addDevice: expected a device spec with a name ({ name, driver, … }), got ${shown(typeof spec === 'object' && spec !== null ? spec.name : spec)} as its name`,
      );
    if (spec.hardware !== undefined && spec.hardware !== 'simnic' && spec.hardware !== 'none')
      throw new NdisSimUsageError(
        `World.addDevice: device '${spec.name}': expected hardware 'simnic' (the default) or 'none', got ${shown(spec.hardware)}`,
      );
    if (this.devices.has(spec.name))
      throw new NdisSimUsageError(`World.addDevice: a device named '${spec.name}' was added already`);
    // A fault key misspelt, or in its scenario-file form, would leave the fault unarmed.
    const problem = deviceSpecProblem(spec);
    if (problem !== null) throw new NdisSimUsageError(problem);
    if (!this.ndis.modules.has(spec.driver)) {
      throw new NdisSimUsageError(
        `World.addDevice: device '${spec.name}' names driver '${spec.driver}', which was not added (call addDriver first); added: ${[...this.ndis.modules.keys()].join(', ') || 'none'}`,
      );
    }
    const i = this.devices.size;
    const virtual = spec.hardware === 'none';
    if (spec.msi !== undefined) {
      const most = spec.msi.msix === true ? maxMessages.msix : maxMessages.msi;
      const m = spec.msi.messages;
      if (!Number.isInteger(m) || m < 0 || m > most)
        throw new NdisSimUsageError(
          `World.addDevice: device '${spec.name}' asks for ${m} interrupt messages; ${spec.msi.msix === true ? 'MSI-X' : 'MSI'} allows a whole number from 0 to ${most}`,
        );
    }
    const node = this.pnp.addDevice(
      spec.name,
      virtual ? `ROOT\\NET\\${String(i).padStart(4, '0')}` : `PCI\\VEN_5A5A&DEV_0001\\${i + 1}`,
      spec.driver,
    );
    let nic: SimNic | null = null;
    if (!virtual) {
      const line = new InterruptLine(this.kernel, 16 + i);
      const messages = spec.msi?.messages ?? 0;
      // Message vectors: a block of 2,048 (the most MSI-X allows) per device, above the lines.
      const msi =
        messages > 0
          ? new MessageInterrupts(this.kernel, messages, spec.msi?.msix ?? false, msiVectorBase + i * 2048)
          : null;
      nic = new SimNic(
        spec.name,
        this.kernel,
        this.trace,
        line,
        // The defaults are shared: SimNic only reads its plan and wire.
        spec.faults === undefined ? noFaults : { ...noFaults, ...spec.faults },
        spec.wire === undefined ? quietWire : { ...quietWire, ...spec.wire },
        msi,
      );
      const memoryBase = 0xf000_0000 + i * 0x1_0000;
      // The same registers in I/O space, while the 64 KB of ports last (above the
      // legacy 0x0000-0x0FFF): the first 240 devices; later ones get no I/O BAR.
      const portBase = portSpaceBase + i * registerWindowBytes;
      const ports = portBase + registerWindowBytes <= portSpaceEnd ? portBase : null;
      nic.placeAt(memoryBase, ports);
      node.hardware = nic;
      nic.wakeListener = this;
      node.resources = {
        memoryBase,
        memoryLength: registerWindowBytes,
        mmio: nic,
        portBase: ports,
        portLength: ports === null ? 0 : registerWindowBytes,
        line,
        msi,
        config: nic,
      };
    }
    if (spec.registry !== undefined)
      for (const [k, v] of Object.entries(spec.registry)) node.registry.set(k, v);
    this.devices.set(spec.name, { node, nic });
    return node;
  }

  device(name: string): DeviceNode {
    return this.deviceEntry('World.device', name).node;
  }

  nic(name: string): SimNic {
    const d = this.deviceEntry('World.nic', name);
    if (d.nic === null)
      throw new NdisSimUsageError(`World.nic: device '${name}' has no SimNic (hardware: none)`);
    return d.nic;
  }

  private deviceEntry(fn: string, name: string): { node: DeviceNode; nic: SimNic | null } {
    const d = this.devices.get(name);
    if (d === undefined) {
      throw new NdisSimUsageError(
        `${fn}: no device named '${name}'; devices: ${[...this.devices.keys()].join(', ') || 'none'}`,
      );
    }
    return d;
  }

  /** @internal NDIS's block for the adapter (summary().adapters has what a project reads). */
  adapter(name: string): MiniportBlock | undefined {
    let last: MiniportBlock | undefined;
    for (const a of this.ndis.adapters) if (a.name === name) last = a;
    return last;
  }

  /** Schedules a scenario action. */
  at(timeNs: number, action: WorldAction): void {
    if (!Number.isSafeInteger(timeNs) || timeNs < 0)
      throw new NdisSimUsageError(
        `World.at: the time must be whole nanoseconds from 0 up, got ${String(timeNs)}`,
      );
    const problem = actionProblem(action);
    if (problem !== null) throw new NdisSimUsageError(problem);
    if (action.kind === 'sleep' && (!Number.isSafeInteger(action.durationNs) || action.durationNs < 0))
      throw new NdisSimUsageError(
        `World.at(sleep): durationNs must be whole nanoseconds from 0 up, got ${String(action.durationNs)}`,
      );
    if (
      (action.kind === 'ioctl' || action.kind === 'read' || action.kind === 'write') &&
      ((action.everyNs !== undefined && (!Number.isSafeInteger(action.everyNs) || action.everyNs < 1)) ||
        (action.times !== undefined && (!Number.isSafeInteger(action.times) || action.times < 1)))
    )
      throw new NdisSimUsageError(
        `World.at(${action.kind}): everyNs must be whole nanoseconds from 1 up and times a whole number from 1 up, got ${String(action.everyNs)} and ${String(action.times)}`,
      );
    if (action.kind === 'read' && (!Number.isSafeInteger(action.length) || action.length < 0))
      throw new NdisSimUsageError(
        `World.at(read): length must be a whole number of bytes from 0 up, got ${String(action.length)}`,
      );
    if (
      (action.kind === 'start-filter' || action.kind === 'stop-filter' || action.kind === 'stop-protocol') &&
      !this.ndis.modules.has(action.driver)
    )
      throw new NdisSimUsageError(
        `World.at(${action.kind}): '${action.driver}' was not added (call addDriver first); added: ${[...this.ndis.modules.keys()].join(', ') || 'none'}`,
      );
    if (action.kind === 'stop-protocol' && !this.ndis.protocolInstalls.includes(action.driver))
      throw new NdisSimUsageError(
        `World.at(stop-protocol): '${action.driver}' is not installed as a protocol driver (call addProtocolDriver first); installed: ${this.ndis.protocolInstalls.join(', ') || 'none'}`,
      );
    // An action before the time the world has run to fired at once, at the clock's
    // last event, not when it was asked for (T8).
    if (timeNs < this.ranToNs)
      throw new NdisSimUsageError(
        `World.at(${action.kind}): expected a time from ${this.ranToNs} ns (${fmtTime(this.ranToNs)}) up, where the world has run to already, got ${timeNs} ns (${fmtTime(timeNs)}): an action cannot go in the past`,
      );
    this.machine.at(timeNs, this, WorldOp.Action, action);
    // Frozen in a system sleep: an action for the machine waits for the wake.
    if (this.machine.isFrozen) this.machine.freeze(this.wakeAtNs, this);
  }

  /**
   * Draws, through the choice door, whether this run gets `spec.event` and when, and
   * schedules it; returns its time, or null when the draw says no. Answer 0 of both
   * draws is the simplest: not injected, and the window's start. Call it before `run`.
   */
  inject(spec: InjectSpec): number | null {
    const { fromNs, toNs, chance } = spec;
    if (!Number.isSafeInteger(fromNs) || !Number.isSafeInteger(toNs) || fromNs < 0 || toNs < fromNs)
      throw new NdisSimUsageError(
        `World.inject: expected whole nanoseconds with 0 <= fromNs <= toNs, got ${String(fromNs)}..${String(toNs)}`,
      );
    if (
      !Number.isInteger(chance.num) ||
      !Number.isInteger(chance.den) ||
      chance.den < 1 ||
      chance.num < 0 ||
      chance.num > chance.den
    )
      throw new NdisSimUsageError(
        `World.inject: expected a chance num/den with 0 <= num <= den and den >= 1, got ${String(chance.num)}/${String(chance.den)}`,
      );
    // Before the draws: a window in the past is the caller's mistake, as at() says (T8).
    if (fromNs < this.ranToNs)
      throw new NdisSimUsageError(
        `World.inject: expected a window from ${this.ranToNs} ns (${fmtTime(this.ranToNs)}) up, where the world has run to already, got ${fromNs}..${toNs}`,
      );
    const e = spec.event;
    // Checked now, not when it fires: a wrong name is the caller's mistake either way.
    if (e.kind === 'hang' || e.kind === 'vanish' || e.kind === 'link-down' || e.kind === 'frame')
      this.nic(e.device);
    else if (e.kind !== 'sleep') this.deviceEntry('World.inject', e.device);
    const m = this.machine;
    const what = e.kind === 'sleep' ? 'inject sleep' : `inject ${e.kind} ${e.device}`;
    let k = m.chooser.length;
    const injected = m.chance(ChoiceSite.Fault, chance.num, chance.den);
    m.chooser.note(k, () => `${what}: ${injected ? 'yes' : 'no'}`);
    if (!injected) return null;
    const steps = Math.min(Math.floor((toNs - fromNs) / injectStepNs), injectStepsMax - 1) + 1;
    k = m.chooser.length;
    const pick = m.choose(ChoiceSite.Fault, steps);
    const atNs = steps === 1 ? fromNs : fromNs + Math.round((pick * (toNs - fromNs)) / (steps - 1));
    m.chooser.note(k, () => `${what} at ${fmtTime(atNs)}`);
    if (this.trace.on)
      this.trace.add(
        m.now,
        0,
        Irql.Passive,
        'scenario',
        'action',
        `inject ${e.kind}`,
        e.kind === 'sleep' ? { at: fmtTime(atNs) } : { device: e.device, at: fmtTime(atNs) },
      );
    switch (e.kind) {
      case 'hang':
      case 'vanish':
        this.nic(e.device).inject(e.kind, atNs, null);
        break;
      case 'link-down':
        this.nic(e.device).inject(e.kind, atNs, e.forNs);
        break;
      case 'sleep':
        this.at(atNs, { kind: 'sleep', state: e.state, durationNs: e.durationNs });
        break;
      case 'frame':
        this.at(atNs, { kind: 'frame', device: e.device, data: e.data });
        break;
      default:
        this.at(atNs, { kind: e.kind, device: e.device });
    }
    return atNs;
  }

  /**
   * @internal What still runs while the machine is frozen in S3/S4 (Machine.freeze): the wake, and
   * the scenario's sleep and shutdown, which the sleeping system ignores (power.ts).
   */
  keepsAsleep(ev: SimEvent): boolean {
    if (ev.target !== this) return false;
    if (ev.op === WorldOp.Wake) return true;
    const kind = (ev.arg as WorldAction).kind;
    // A device's wake signal is the one thing that can end a sleep early.
    // A frame on the wire reaches a sleeping NIC's wake-up filters.
    return kind === 'sleep' || kind === 'shutdown' || kind === 'wake-signal' || kind === 'frame';
  }

  /**
   * @internal A SimNic's wake-up filter fired (a magic packet, a pattern, a link change) with
   * PME_En set: the bus completes NDIS's IRP_MN_WAIT_WAKE. While the system sleeps it
   * wakes now (low-power-for-wake-on-lan); in selective suspend NDIS cancels the idle
   * notification (ss.ts), as for a `wake-signal`.
   */
  nicWoke(nic: SimNic, filter: number): void {
    const b = this.adapter(nic.name);
    if (b === undefined) return;
    // What woke it, for the wake reason's check (NdisSim_WakeReasonContent).
    b.wakeCause = filter === Wake.LNKC ? 'link' : 'packet';
    const k = this.kernel;
    const c = k.enter(0, Irql.Passive, 'bus', 'thread');
    try {
      // Asleep, or still going to sleep with this device in D3 and armed: the wake is
      // not lost (PME_Status stays latched), as for a `wake-signal`.
      if (this.asleep && armedForWake(b)) this.wake(nic.name);
      else if (!this.machine.isFrozen) ssWakeSignal(this.ndis, b);
    } finally {
      k.exit(c);
    }
  }

  /**
   * The sleep's end, at its time or brought forward by a device's wake signal (`by`):
   * the system is back in S0 (power.ts).
   */
  private wake(by: string | null): void {
    const k = this.kernel;
    const frozen = this.machine.isFrozen;
    if (this.wakeEv !== null) this.wakeEv.cancelled = true;
    this.wakeEv = null;
    const due = this.machine.thaw();
    if (this.trace.on) {
      // A sleep whose end comes before every adapter reached D3 never reached S3/S4: the
      // wake then ends a transition still under way, and the timeline says which.
      const s = this.ndis.systemSleep;
      const going =
        s !== null && !s.reached
          ? this.ndis.adapters.filter((b) => b.op !== null && b.op.kind === 'sleep').map((b) => b.name)
          : [];
      this.trace.add(k.now, 0, Irql.Passive, 'power', 'action', 'wake', {
        // The events (timers, DPCs, work items, interrupts) the sleep held, now run.
        ...(frozen ? { eventsHeld: due } : {}),
        ...(by === null ? {} : { by }),
        ...(s !== null && !s.reached
          ? {
              slept: `never: the system did not reach ${s.system}${going.length > 0 ? `, ${going.join(', ')} still on its way to D3` : ''}`,
            }
          : {}),
      });
    }
    this.asleep = false;
    wakeSystem(this.ndis);
  }

  /**
   * A `wake-signal` while the system sleeps: a device NDIS armed for wake-up before D3
   * (its OID_PM_PARAMETERS enabled one) latches PME_Status and wakes the system now (the
   * bus completes NDIS's IRP_MN_WAIT_WAKE: low-power-for-wake-on-lan); any other's signal
   * is lost.
   */
  private wakeSignalAsleep(device: string, nic: SimNic | null): void {
    const b = this.adapter(device);
    const armed = b !== undefined && armedForWake(b);
    // A NIC that left the bus (vanished, unplugged) signals nothing.
    const signalled = armed && (nic === null || nic.signalWake());
    if (this.trace.on)
      this.trace.add(this.kernel.now, 0, Irql.Passive, 'scenario', 'action', 'wake-signal', {
        device,
        ...(signalled
          ? {}
          : {
              ignored: armed
                ? 'the device is gone from the bus'
                : 'not armed for wake-up (no wake-up enabled by OID_PM_PARAMETERS)',
            }),
      });
    if (signalled) {
      b!.wakeCause = 'signal';
      this.wake(device);
    }
  }

  /** @internal power.ts: every adapter has finished going to D3 (sleepSystem's listener). */
  systemAsleep(state: SystemSleepState): void {
    this.freeze(state);
  }

  /**
   * Every adapter has finished going to D3: the system is in S3 or S4 and nothing runs
   * until the wake. Timers, DPCs, work items, interrupts, the NICs and the protocols'
   * traffic stop; what falls due meanwhile runs right after the wake (Machine.thaw).
   */
  private freeze(state: SystemSleepState): void {
    const held = this.machine.freeze(this.wakeAtNs, this);
    if (this.trace.on)
      this.trace.add(this.kernel.now, 0, Irql.Passive, 'power', 'action', `asleep (${state})`, {
        // Named for what they are: a bare "held=3" read as nothing in particular.
        eventsHeld: held,
        until: fmtTime(this.wakeAtNs),
      });
  }

  /** @internal The event queue's call (EventTarget): a scenario action or the wake falls due. */
  fire(op: number, arg: unknown): void {
    const a = arg as WorldAction;
    const k = this.kernel;
    const c = k.enter(0, Irql.Passive, 'scenario', 'thread');
    try {
      if (op === WorldOp.Wake) {
        this.wake(null);
        return;
      }
      if (a.kind === 'sleep') {
        if (this.trace.on)
          this.trace.add(k.now, 0, Irql.Passive, 'scenario', 'action', a.kind, {
            state: a.state,
            for: fmtTime(a.durationNs),
          });
        if (this.asleep) {
          // A sleeping system takes no second sleep, and its wake must not end the first.
          this.ignoredAsleep('sleep');
          return;
        }
        this.asleep = true;
        this.wakeAtNs = k.now + a.durationNs;
        this.wakeEv = this.machine.at(this.wakeAtNs, this, WorldOp.Wake, a);
        sleepSystem(this.ndis, a.state, this);
        return;
      }
      if (a.kind === 'shutdown') {
        if (this.trace.on) this.trace.add(k.now, 0, Irql.Passive, 'scenario', 'action', a.kind, {});
        if (this.asleep) {
          // A system in S3 or S4 runs nothing that could shut it down.
          this.ignoredAsleep('shutdown');
          return;
        }
        shutdownAll(this.ndis);
        // R1.6: nothing follows a shutdown; the machine is off. The scenario's actions
        // still to come say so, each on a line of its own (review-pnp #4).
        if (this.trace.on) this.traceNotTaken();
        this.machine.stopped = 'shutdown';
        this.machine.poweredOff = true;
        this.shutDown = true;
        return;
      }
      if (a.kind === 'start-filter' || a.kind === 'stop-filter') {
        if (this.trace.on)
          this.trace.add(k.now, 0, Irql.Passive, 'scenario', 'action', a.kind, { driver: a.driver });
        if (a.kind === 'start-filter') startFilterService(this.ndis, a.driver, a.mandatory === true);
        else stopFilterService(this.ndis, a.driver);
        return;
      }
      if (a.kind === 'stop-protocol') {
        if (this.trace.on)
          this.trace.add(k.now, 0, Irql.Passive, 'scenario', 'action', a.kind, { driver: a.driver });
        stopProtocolService(this.ndis, a.driver);
        return;
      }
      if (
        a.kind === 'open' ||
        a.kind === 'ioctl' ||
        a.kind === 'read' ||
        a.kind === 'write' ||
        a.kind === 'close' ||
        a.kind === 'cancel' ||
        a.kind === 'exit'
      ) {
        this.appAction(a);
        return;
      }
      const d = this.deviceEntry(`World.at(${a.kind})`, a.device);
      if (a.kind === 'wake-signal' && this.asleep && this.machine.isFrozen) {
        this.wakeSignalAsleep(a.device, d.nic);
        return;
      }
      if (a.kind === 'frame') {
        // The action's line first, then what the NIC made of the frame (filled in after).
        const data: Record<string, unknown> = { device: a.device, bytes: a.data.length };
        if (this.trace.on) this.trace.add(k.now, 0, Irql.Passive, 'scenario', 'action', a.kind, data);
        data.got = d.nic === null ? 'nothing: the device has no SimNic' : d.nic.receiveFrame(a.data);
        return;
      }
      // The action's trace data: a PnP action that turns out to have nothing to do gets
      // its reason written in (`ignored`), filled in after, as for a frame.
      const data: Record<string, unknown> | null = !this.trace.on
        ? null
        : a.kind === 'oid'
          ? {
              device: a.device,
              Oid: oidName(a.oid),
              request: a.synchronous === true ? 'method' : a.set ? 'set' : 'query',
              ...(a.direct === true ? { direct: true } : {}),
              ...(a.synchronous === true ? { synchronous: true } : {}),
            }
          : { device: a.device };
      if (data !== null) this.trace.add(k.now, 0, Irql.Passive, 'scenario', 'action', a.kind, data);
      switch (a.kind) {
        case 'start':
          this.pnp.start(d.node, data);
          break;
        case 'surprise-remove':
          d.nic?.unplug();
          this.pnp.unplug(d.node, data);
          break;
        case 'send': {
          const b = this.adapter(a.device);
          if (b !== undefined) for (const p of this.protocols) p.sendOnce(b);
          break;
        }
        case 'cancel-sends': {
          const b = this.adapter(a.device);
          if (b !== undefined) for (const p of this.protocols) p.cancelSends(b);
          break;
        }
        case 'wake-signal': {
          const b = this.adapter(a.device);
          // The system is still going to sleep, but this device is in D3 and armed: its
          // IRP_MN_WAIT_WAKE completes, and the system comes back as soon as the sleep
          // allows (adapters still going down finish first, as for an early wake).
          const armed = this.asleep && b !== undefined && armedForWake(b);
          const signalled = d.nic === null ? armed : d.nic.signalWake();
          if (signalled && b !== undefined) b.wakeCause = 'signal';
          if (armed && signalled) {
            this.wake(a.device);
            break;
          }
          if (b !== undefined) ssWakeSignal(this.ndis, b);
          break;
        }
        case 'remove':
          this.pnp.requestRemoval(d.node, false, a.vetoBelow === true, data);
          break;
        case 'disable':
          this.pnp.requestRemoval(d.node, true, a.vetoBelow === true, data);
          break;
        case 'stop':
          this.pnp.requestStop(d.node, a.vetoBelow === true, data);
          break;
        case 'oid': {
          const b = this.adapter(a.device);
          if (b === undefined) break;
          // A WoL pattern: a new NDIS_PM_WOL_PATTERN each time (NDIS writes its PatternId into it).
          const wol = isWolPatternSpec(a.value) ? wolPatternOf(a.value) : null;
          const value = wol === null ? a.value : wol.pattern;
          const bufferLength = a.bufferLength ?? wol?.length;
          if (a.synchronous === true) issueSyncOid(this.ndis, b, a.oid, value, bufferLength);
          else if (a.direct === true) issueDirectOid(this.ndis, b, a.oid, a.set, value, bufferLength);
          else issueOid(this.ndis, b, a.oid, a.set, value, a.timeoutS, bufferLength);
          break;
        }
      }
    } finally {
      k.exit(c);
    }
  }

  /** An action of the user-mode application (device.ts traces it). */
  private appAction(
    a: Extract<WorldAction, { kind: 'open' | 'ioctl' | 'read' | 'write' | 'close' | 'cancel' | 'exit' }>,
  ): void {
    if (a.kind === 'open') userOpen(this.ndis, a.handle, a.link);
    else if (a.kind === 'close') userClose(this.ndis, a.handle);
    else if (a.kind === 'cancel') userCancel(this.ndis, a.handle);
    else if (a.kind === 'exit') userExit(this.ndis);
    else {
      if (a.kind === 'ioctl') userIoctl(this.ndis, a.handle, a.code, a.input, a.outputLength);
      else if (a.kind === 'read') userRead(this.ndis, a.handle, a.length);
      else userWrite(this.ndis, a.handle, a.data);
      // A repeated request: the next one, as its own action (answers no choice).
      if (a.everyNs !== undefined && a.everyNs > 0 && (a.times === undefined || a.times > 1))
        this.at(this.kernel.now + a.everyNs, {
          ...a,
          ...(a.times === undefined ? {} : { times: a.times - 1 }),
        });
    }
  }

  /** What each DeviceIoControl, ReadFile and WriteFile of the application got back, in completion order. */
  get ioResults(): readonly IoResult[] {
    return this.ndis.io?.results ?? [];
  }

  /** Runs until `untilNs` of virtual time, or until the machine stops. */
  run(untilNs: number): RunResult {
    // -5 or NaN would run nothing and pass; a time already past, too.
    if (!Number.isSafeInteger(untilNs) || untilNs < 0)
      throw new NdisSimUsageError(
        `World.run: expected untilNs, the virtual time to stop at in whole nanoseconds from 0 up (such as 5 * ns.s), got ${String(untilNs)}`,
      );
    // A world runs on from where its last run stopped (T8). Once its machine stopped (a
    // bug check, a shutdown, the livelock bound, a wait the run ended in, what the model
    // leaves out) nothing runs in it again: a second run returned 'livelock' with the
    // first one's reason. A time before the last run's end ran nothing and returned 'ok'.
    const stopped = this.machine.stopped;
    if (stopped !== null)
      throw new NdisSimUsageError(
        `World.run: the machine stopped at ${fmtTime(this.machine.now)} in an earlier run (${stopped === 'shutdown' ? 'a shutdown powered it off' : stopped}), and a world runs no more after that: build a new World to run again`,
      );
    if (untilNs < this.ranToNs)
      throw new NdisSimUsageError(
        `World.run: expected a time from ${this.ranToNs} ns (${fmtTime(this.ranToNs)}) up, where the last run stopped (a world only runs forward), got ${untilNs} ns (${fmtTime(untilNs)})`,
      );
    const prev = setCurrentNdis(this.ndis);
    let verdict: Verdict = 'ok';
    let message: string | null = null;
    try {
      this.machine.runUntil(untilNs);
      if (this.machine.stopped !== null && !this.shutDown) verdict = 'livelock';
    } catch (e) {
      if (e instanceof WorldStop && this.machine.endedInWait) {
        verdict = this.verifier.violations.length > 0 ? 'violations' : 'ok';
      } else if (e instanceof WorldStop) {
        verdict = 'bugcheck';
      } else if (e instanceof NotModelledError) {
        verdict = 'not-modelled';
        message = e.message;
        this.machine.stopped = e.message;
      } else {
        throw e;
      }
    } finally {
      setCurrentNdis(prev);
      this.ranToNs = untilNs;
    }
    if (verdict === 'livelock') message = this.machine.stopped;
    if (verdict === 'ok' && this.verifier.violations.length > 0) verdict = 'violations';
    const held = this.ndis.heldAtEnd;
    if (held !== null && (verdict === 'ok' || verdict === 'violations')) {
      // The end state is the model's, not Windows': say so rather than pass the run.
      verdict = 'not-modelled';
      // A work item's or a dispatch routine can be written so that it does not nest
      // (src/ndis/resumable.ts).
      const resumable =
        /^(NdisIoWorkItemFunction|WorkItem|WorkItemEx|DispatchDeviceControl|DispatchRead|DispatchWrite)\b/.test(
          held.who,
        );
      message = `the run ended with ${held.who} blocked in ${held.ddi} since ${held.ddi === 'NdisMSleep' ? 'its wake-up time' : 'its event was set at'} ${fmtTime(held.dueNs)}, held up by a wait of another thread nested above it: the model runs blocking waits one inside another, so threads that wait for each other deadlock here where Windows would go on (docs/model.md)${resumable ? `; write ${held.who.split(' ')[0]} as a resumable routine, a generator function that yields its waits (\`yield ${held.ddi}(…)\`), and it is set aside at each wait instead` : ''}`;
    }
    // The queue ran dry: nothing that is pending now can ever complete.
    // The clock stops at the last event; the run lasted to `untilNs` all the same.
    let hangs: Hang[] = [];
    if (verdict === 'ok' || verdict === 'violations') {
      this.warnStuck(
        this.machine.drained,
        Number.isFinite(untilNs) ? Math.max(untilNs, this.machine.now) : this.machine.now,
      );
      hangs = this.hungTeardowns();
      // A hang fails a run that broke no rule (ndis: hungTeardown); beside violations,
      // or with the option set to warning, it is a warning.
      if (hangs.length > 0 && verdict === 'ok' && this.ndis.options.hungTeardown === 'fail') {
        verdict = 'hang';
        message = hangs.map((h) => h.text).join('; also ');
      } else
        for (const h of hangs) this.verifier.warn(h.rule, 'IRP_MN_REMOVE_DEVICE', null, `hung: ${h.text}`);
    }
    this.result = {
      verdict,
      endNs: this.machine.now,
      untilNs,
      events: this.machine.eventCount,
      decisions: this.machine.chooser.length,
      bugCheck: this.verifier.stoppedBy,
      violations: this.verifier.violations,
      warnings: this.verifier.warnings,
      pending: this.pending(),
      unsettled: this.pending(true),
      modelNotes: this.modelNotes(),
      hangs,
      message,
    };
    return this.result;
  }

  /**
   * A warning for each operation a driver pended that no watchdog of Windows covers, a
   * MiniportRestart or a FilterRestart (the 0x7C page lists no watchdog for either, R3.9,
   * R7.5), still not completed at the end: the pause watchdog's time or more after NDIS
   * called it, or at all when nothing was left to happen (`drained`) or nothing but the
   * periodic timers whose routines already ran since it pended (as World.hungTeardowns
   * judges). Windows would wait for it for good (a hang, not a bug check), so a run that
   * ends "ok" says so. Pended protocol events and filter pauses, OID requests and the rest
   * have a watchdog or Driver Verifier's limit, and end in a bug check; one not yet due is
   * work in flight, in "Still under way".
   */
  private warnStuck(drained: boolean, endNs: number): void {
    const n = this.ndis;
    const limit = n.options.pauseWatchdogNs;
    // As World.hungTeardowns judges a teardown: what is left to happen only repeats what
    // already ran since the operation pended (a periodic timer whose routine ran since).
    const events =
      drained || this.shutDown || this.machine.endedInWait || n.heldAtEnd !== null
        ? null
        : this.machine.liveEvents();
    const idle = (t: number): boolean => events?.every((ev) => this.kernel.repeatsOnly(ev, t)) === true;
    const stuck = (t: number): boolean => drained || endNs - t >= limit || idle(t);
    const since = (t: number) =>
      drained
        ? ', and nothing was left to happen'
        : endNs - t < limit
          ? `, and nothing left to happen could complete it (only periodic timers whose routines already ran since)`
          : ` in the ${fmtTime(endNs - t)} to the end of the run`;
    for (const b of n.adapters) {
      const r = b.restart;
      if (r?.returned && stuck(r.sinceNs))
        this.verifier.warn(
          'R3.9',
          'MiniportRestart',
          b.name,
          `pending for good: MiniportRestart of ${b.name} returned NDIS_STATUS_PENDING at ${fmtTime(r.sinceNs)} and NdisMRestartComplete was not called${since(r.sinceNs)}; no watchdog covers a restart, so Windows would leave the adapter Restarting for good (a hang)`,
        );
      for (const m of b.filters) {
        const p = m.pending;
        if (p === null || p.kind !== 'restart' || !p.returned || p.completed) continue;
        if (!stuck(p.sinceNs)) continue;
        this.verifier.warn(
          'R7.5',
          'FilterRestart',
          b.name,
          `pending for good: FilterRestart of ${m.name} returned NDIS_STATUS_PENDING at ${fmtTime(p.sinceNs)} and NdisFRestartComplete was not called${since(p.sinceNs)}; no watchdog covers a filter restart, so Windows would leave the module Restarting and the stack above it paused for good (a hang)`,
        );
      }
    }
  }

  /**
   * The teardowns (removal, surprise removal, stop) and the PnP IRP still outstanding at
   * the end for good: nothing left in the event queue could finish them. Windows has no
   * watchdog over a reset, a restart or a direct OID request (the 0x7C page's parameter 2
   * list for 0x25 has none), so a teardown waiting behind one never ends: the remove IRP
   * never completes, the device never goes, and a later sleep meets 0x9F. Conservative:
   * a run cut off by its end time while work is still scheduled is work in flight, not a
   * hang; so is one in a wait, asleep or shut down. Only events that repeat what already
   * ran since the thing got stuck (a periodic timer whose routine ran since, its DPC) are
   * taken as nothing new. R4.16 ("a reset never completed blocks removal forever (model:
   * liveness error)"), R5.8.
   */
  private hungTeardowns(): Hang[] {
    const n = this.ndis;
    if (this.shutDown || this.machine.endedInWait || n.heldAtEnd !== null) return [];
    const irp = this.pnp.outstanding;
    if (irp === null && !n.adapters.some((b) => b.op?.kind === 'teardown')) return [];
    const events = this.machine.liveEvents();
    if (events === null) return [];
    const out: Hang[] = [];
    const idleSince = (sinceNs: number): boolean =>
      events.every((ev) => this.kernel.repeatsOnly(ev, sinceNs));
    const seen = new Set<MiniportBlock>();
    const judge = (b: MiniportBlock | null, what: string, sinceNs: number): void => {
      const c = b === null ? null : hangCause(b);
      const since = Math.max(sinceNs, c?.sinceNs ?? 0);
      if (!idleSince(since)) return;
      const under = b === null ? [] : this.pending(true).filter((p) => p.startsWith(`${b.name}: `));
      const cause =
        c?.text ??
        `nothing left to happen could finish it${under.length > 0 ? ` (${under.map((p) => p.slice(b!.name.length + 2)).join('; ')})` : ''}; Windows would hang here`;
      out.push({
        text: `${what} never finished: ${cause}`,
        key: `${what}: ${c?.key ?? 'nothing left to happen'}`,
        rule: c?.rule ?? 'R5.8',
      });
    };
    for (const b of n.adapters) {
      const op = b.op;
      if (op === null || op.kind !== 'teardown') continue;
      seen.add(b);
      const own = irp !== null && irp.device === b.dev ? irp : null;
      judge(
        b,
        teardownWhat(op.why, b.name, b.dev.removalReason === 'disabled'),
        Math.max(op.sinceNs, own?.sentNs ?? 0),
      );
    }
    if (irp !== null) {
      const b = n.adapters.findLast((x) => x.dev === irp.device && !x.fdoDeleted) ?? null;
      if (b === null || !seen.has(b))
        judge(b, irpWhat(irp.minor, irp.device.name, irp.device.removalReason === 'disabled'), irp.sentNs);
    }
    return out;
  }

  /** The scenario actions a shutdown leaves queued, traced as not taken (at most 10 named). */
  private traceNotTaken(): void {
    const late = (this.machine.liveEvents() ?? [])
      .filter((e) => e.target === this && e.op === WorldOp.Action)
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    const k = this.kernel;
    for (const e of late.slice(0, 10)) {
      const a = e.arg as WorldAction;
      const device = 'device' in a ? ` ${a.device}` : 'driver' in a ? ` ${a.driver}` : '';
      this.trace.add(
        k.now,
        0,
        Irql.Passive,
        'scenario',
        'action',
        `${a.kind}${device} at ${fmtTime(e.at)} not taken: the machine is off`,
        {},
      );
    }
    if (late.length > 10)
      this.trace.add(
        k.now,
        0,
        Irql.Passive,
        'scenario',
        'action',
        `${late.length - 10} more actions not taken: the machine is off`,
        {},
      );
  }

  /** A scenario action the sleeping system does not take, traced. */
  private ignoredAsleep(what: 'sleep' | 'shutdown'): void {
    if (this.trace.on)
      this.trace.add(
        this.kernel.now,
        0,
        Irql.Passive,
        'power',
        'action',
        `${what} ignored: the system is asleep`,
        {},
      );
  }

  /** What the run asked of the model that it could only approximate (RunResult.modelNotes). */
  private modelNotes(): string[] {
    const notes = this.ndis.modelNotes.slice();
    if (this.ndis.lateWakes > 0)
      notes.push(lateWakeNote(this.ndis.lateWakes, this.ndis.lateWakeDdis, this.ndis.lateWakeMaxNs));
    if (this.machine.waitsAtBound > 0)
      notes.push(
        `${this.machine.waitsAtBound} wait(s) began ${limits.waitNestingMax} waits deep and only moved the clock: no other thread, timer or DPC ran meanwhile, so an event another thread would have set was not, and an NdisWaitEvent may have returned FALSE where Windows returns TRUE (limits.waitNestingMax; a limit of the model)`,
      );
    return notes;
  }

  /**
   * `settled`: only what counts against `expect: settled`, leaving out an OID request the
   * miniport has had for less than Driver Verifier's 12 s (NdisTimedOidComplete): work
   * in flight when the run ended, not work that never finished.
   */
  pending(settled = false): string[] {
    const out: string[] = [];
    for (const b of this.ndis.adapters) {
      if (b.fdoDeleted && b.op === null) continue;
      // In words (src/report/opwait.ts), not the model's step names.
      if (b.op !== null)
        out.push(
          b.op.kind === 'sleep' || b.op.kind === 'wake'
            ? `${b.name}: ${opWaitText(b, pendingPowerStep(b, b.op))}`
            : `${b.name}: ${opWaitText(b, null, pauseSendsText)}${waitsFor(b)}`,
        );
      if (b.resetInProgress) out.push(`${b.name}: reset in progress (MiniportResetEx not completed)`);
      if (b.pause !== null)
        out.push(
          `${b.name}: pause pending (${b.pause.completed ? 'NdisMPauseComplete called before MiniportPause returned' : 'NdisMPauseComplete not called'})`,
        );
      if (b.restart !== null) out.push(`${b.name}: restart pending (NdisMRestartComplete not called)`);
      if (b.oid !== null && !(settled && this.ndis.now - b.oid.dispatchedNs < oidVerifierLimitNs))
        out.push(
          `${b.name}: an OID request is pending in the miniport: ${oidHeldText(b.oid.request, b.oid.origin)} since ${fmtTime(b.oid.dispatchedNs)} (${b.oid.state === 'in-miniport' ? 'MiniportOidRequest has not returned' : 'NdisMOidRequestComplete not called'})${b.oidQueue.length > 0 ? `; ${b.oidQueue.length} more queued behind it (R6.2)` : ''}`,
        );
      // R7.5: a request a filter module holds (FilterOidRequest pended it and did not complete it).
      for (const m of b.filters) out.push(...filterOidHeld(this.ndis, m, settled, oidVerifierLimitNs));
      // Direct requests have no time limit of Driver Verifier's: each counts.
      if (b.directOids.length > 0)
        out.push(
          `${b.name}: ${b.directOids.length} direct OID request(s) pending in the miniport (NdisMDirectOidRequestComplete not called)`,
        );
      for (const m of b.filters) {
        const held = m.direct?.held.filter((r) => r.state === 'pending').length ?? 0;
        if (held > 0)
          out.push(
            `${b.name}: filter module ${m.driver.name} holds ${held} direct OID request(s) (NdisFDirectOidRequestComplete not called)`,
          );
      }
      for (const m of b.filters)
        if (m.pending !== null)
          out.push(
            `${b.name}: filter module ${m.driver.name} has a ${m.pending.kind} pending (${m.pending.kind === 'pause' ? 'NdisFPauseComplete' : 'NdisFRestartComplete'} not called)`,
          );
      // A protocol driver of one's own that pended a bind, an unbind, a pause or a restart.
      for (const bd of b.bindings)
        if (bd.open !== null && bd.pending !== null)
          out.push(
            `${b.name}: protocol driver ${bd.protocol.name} has its ${bd.pending === 'bind' ? 'bind' : bd.pending === 'unbind' ? 'unbind' : bd.pending} pending (${bd.pending === 'bind' ? 'NdisCompleteBindAdapterEx' : bd.pending === 'unbind' ? 'NdisCompleteUnbindAdapterEx' : 'NdisCompleteNetPnPEvent'} not called)`,
          );
    }
    // R1.6: nothing follows a shutdown. The PnP manager's action or IRP in flight (a
    // state query, a surprise removal waiting for NDIS's teardown) ends with the machine,
    // as a sleep or resume under way does (shutdownAll); it is no driver's work left undone.
    const p = this.shutDown ? null : this.pnp.pending();
    if (p !== null) out.push(p);
    if (this.ndis.io !== null) for (const x of ioPending(this.ndis)) out.push(x);
    for (const x of this.ndis.leftArmed) if (x.k.queued) out.push(`${x.what}, not yet fired`);
    // A protocol driver's service stop whose Unload routine is still held back.
    for (const p of this.ndis.protocolDrivers?.values() ?? [])
      if (p.stopWaits !== null && !p.unloaded)
        out.push(
          `protocol driver ${p.name}: its service stop waits to call its Unload routine: ${p.stopWaits}`,
        );
    for (const d of this.ndis.filterDrivers.values())
      if (d.unloadPending && !d.unloaded)
        out.push(
          `filter driver ${d.name}: its service stop waits to call its unload routine: the application has a handle to one of its devices open, or a request on it`,
        );
    // A resumable work-item routine set aside in a wait that never ended (src/ndis/resumable.ts).
    // One whose wait has a time-out (NdisMSleep, NdisWaitEvent with MsToWait) is work in
    // flight, as a thread of a plain routine in such a wait is below: not unsettled.
    for (const t of this.ndis.resumables)
      if (t.wait !== null && !(settled && t.wait.wakeNs !== Number.POSITIVE_INFINITY))
        out.push(
          `a driver thread (${t.describe()}) was blocked in ${t.wait.ddi} since ${fmtTime(t.sinceNs)} when the run ended${t.wait.wakeNs === Number.POSITIVE_INFINITY ? '' : `, due to go on at ${fmtTime(t.wait.wakeNs)} (work in flight: expect settled does not count it)`}`,
        );
    const n = this.ndis;
    const timedWait = n.spinningAtEnd === null && n.blockedAtEnd !== null && n.untimedWaitAtEnd === null;
    if (this.machine.endedInWait && !(settled && timedWait))
      out.push(
        this.ndis.spinningAtEnd !== null
          ? `a driver thread was spinning in ${this.ndis.spinningAtEnd} when the run ended (a loop that never returns?)`
          : `a driver thread was blocked in ${this.ndis.blockedAtEnd ?? 'a wait'} when the run ended${timedWait ? ' (a wait with a time-out: work in flight, which expect settled does not count)' : ''}`,
      );
    return out;
  }

  summary(): Summary {
    // In the order the devices were declared (adapters are created in start order).
    const order = new Map(this.pnp.devices.map((d, i) => [d.name, i]));
    const byDevice = (a: string, b: string): number => (order.get(a) ?? 0) - (order.get(b) ?? 0);
    const adapters: AdapterSummary[] = this.ndis.adapters.map((b) => ({
      name: b.name,
      driver: b.driver.name,
      state: b.state,
      haltAction: haltActionName(summaryHaltAction(b)),
      resets: b.resets,
      hangsReported: b.hangsReported,
      removeCalls: b.removeCalls,
      removeCallsRefused: b.removeCallsRefused,
      deviceFailed: b.deviceFailed,
      initializations: b.inits,
      data: { ...b.data },
      sendsOutstanding: b.sendsOutstanding,
      sendLimitDueNs: sendLimitDueNs(b),
      watchdogs: armedWatchdogs(b),
      receivesOutstanding: b.receivesOutstanding,
      stackFailure: b.stackFailure,
      wolPatterns: [...b.wolPatterns.values()].map((e) => ({
        PatternId: e.PatternId,
        type: WOL_PACKET_NAMES.get(e.WoLPacketType) ?? String(e.WoLPacketType),
      })),
    }));
    adapters.sort((a, b) => byDevice(a.name, b.name));
    const devices: DeviceSummary[] = this.pnp.devices.map((d) => ({
      name: d.name,
      instanceId: d.instanceId,
      driver: d.driverName,
      status: d.status,
      problem: d.problem,
      irp: this.pnp.irpOf(d),
      // A started devnode with a surprise-removal reason: IRP_MN_SURPRISE_REMOVAL went out
      // (PnpManager.stepSurpriseRemove sets the reason as it sends it).
      surpriseRemoved:
        d.status === 'started' && (d.removalReason === 'failed' || d.removalReason === 'unplugged')
          ? d.removalReason
          : null,
    }));
    return {
      adapters,
      devices,
      dumps: this.ndis.dumps,
      eventLog: this.ndis.eventLog,
      protocols: this.protocols.map((p) => ({
        name: p.name,
        bindings: p.viewsWithState().sort((a, b) => byDevice(a.adapter, b.adapter)),
      })),
      // By adapter, then place in the stack (bottom first), then attach order.
      filters: this.ndis.filterModules
        .map((m, i) => ({ m, i }))
        .sort((x, y) => byDevice(x.m.block.name, y.m.block.name) || x.m.position - y.m.position || x.i - y.i)
        .map(({ m }) => ({
          driver: m.driver.name,
          adapter: m.block.name,
          state: m.state,
          mandatory: m.mandatory,
          position: m.position,
          data:
            m.fdata === null
              ? null
              : {
                  sendsPassed: m.fdata.sendsPassed,
                  sendsOriginated: m.fdata.sendsOriginated,
                  sendsCompleted: Math.max(0, m.fdata.sendsCompleted - m.fdata.sendsBack),
                  receivesPassed: m.fdata.recvsPassed,
                  receivesOriginated: m.fdata.recvsOriginated,
                  receivesDropped: Math.max(0, m.fdata.recvsDropped - m.fdata.recvsBack),
                },
        })),
      filterLoadFailures: this.ndis.filterLoadFailures.map((f) => ({ driver: f.driver, why: f.why })),
      protocolDrivers: [...(this.ndis.protocolDrivers?.values() ?? [])].map((p) => ({
        driver: p.name,
        binds: p.bindingsMade,
        bindsFailed: p.bindingsFailed,
        sent: p.sent,
        received: p.received,
        receivedWithResources: p.receivedWithResources,
        returned: p.returned,
        oidRequests: p.oidRequests,
        bindings: this.ndis.adapters
          .flatMap((b) => b.bindings.filter((bd) => bd.protocol === p))
          .map((bd) => ({ adapter: bd.block.name, state: bd.state }))
          .sort((a, b) => byDevice(a.adapter, b.adapter)),
        ...(p.unloaded ? { unloaded: true as const } : {}),
      })),
      protocolLoadFailures: this.ndis.protocolLoadFailures.map((f) => ({ driver: f.driver, why: f.why })),
    };
  }

  /**
   * @internal The part of summary() a scenario's `expect:` reads, without the rest: the explorer
   * judges every run by it (a whole summary took a third of a reset-storm run).
   */
  expectView(): ExpectView {
    return {
      adapters: this.ndis.adapters.map((b) => ({
        name: b.name,
        state: b.state,
        haltAction: haltActionName(summaryHaltAction(b)),
        resets: b.resets,
      })),
      devices: this.pnp.devices.map((d) => ({
        name: d.name,
        status: d.status,
        problem: d.problem,
        wakes: this.devices.get(d.name)?.nic?.wakes ?? null,
      })),
      dumps: this.ndis.dumps,
    };
  }

  /**
   * The situations the run reached (a removal and the adapter's state when it came), by
   * name, counted; empty unless the world was made with `situations` on.
   */
  situations(): Map<string, number> {
    const m = new Map<string, number>();
    for (const code of this.situationCodes()) {
      const name = situationName(code);
      m.set(name, (m.get(name) ?? 0) + 1);
    }
    return m;
  }

  /** @internal The same as numbers (situations.ts), in the order reached: what the explorer adds up. */
  situationCodes(): readonly number[] {
    return this.ndis.situations ?? noSituations;
  }

  /** The decision log: every choice with more than one answer, in order (empty with recordDecisions off). */
  decisions(): Decision[] {
    return this.machine.chooser.decisions();
  }

  get lastResult(): RunResult | null {
    return this.result;
  }

  /**
   * Runs `fn` now, between runs, with this world running: the DDIs it calls act, as the
   * actor "setup" (CPU 0, PASSIVE, inside no callback), and their results come back
   * through `fn`'s. The one way test code calls a DDI outside World.run: a DDI called
   * while no world runs (from a Promise continuation or a setTimeout of driver code, after
   * run() returned) throws NdisSimUsageError (docs/decisions.md, "DDIs only while a world
   * runs"). A bug check inside `fn` stops the world and throws, as in run().
   */
  call<T>(fn: () => T): T {
    const prev = setCurrentNdis(this.ndis);
    try {
      return fn();
    } finally {
      setCurrentNdis(prev);
    }
  }
}
