// The scenario file: what machine to build and what happens to it. Validated with
// zod; every problem is reported as file, field path, what was expected, what was
// found. Scenario files name drivers; they never carry code.

import { z } from 'zod';
import { directOids } from '../ndis/direct-oid.ts';
import { NDIS_HALT_ACTION_NAMES, OID_NAMES, OID_REQUESTS } from '../ndis/generated/status.ts';
import { syncOids } from '../ndis/sync-oid.ts';
import { deviceStatuses } from '../pnp/pnp.ts';
import { maxMessages } from '../pnp/resources.ts';
import { ns } from '../sim/limits.ts';
import { distance, nearest } from '../sim/nearest.ts';
import { trafficDefaults } from '../stack/protocol.ts';
import { catalogue } from '../verifier/catalogue.ts';
import { actionKinds, appActionKinds } from './action-kinds.ts';

const unitNs: Record<string, number> = {
  ns: 1,
  us: ns.us,
  µs: ns.us,
  ms: ns.ms,
  s: ns.s,
  min: 60 * ns.s,
  h: 3600 * ns.s,
};

/**
 * Parses "1.5s", "200ms", "50us", "10ns", "30min", "1h", or an integer of nanoseconds
 * (ndis-sim's own values, such as the defaults; a scenario's `duration` refuses a bare
 * number but 0).
 */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|min|h)\s*$/.exec(v);
  if (m === null) return null;
  const n = Math.round(Number(m[1]) * unitNs[m[2]!]!);
  return Number.isSafeInteger(n) ? n : null;
}

const durationHint = 'a duration such as "1.5s", "200ms", "50us" or "30min"';

/**
 * A number without a unit, in a scenario or a flag: 0 alone says the same in every unit.
 * Another ("until: 5", "--until 5") is refused: five seconds or five nanoseconds, the
 * reader of the file cannot tell, and nanoseconds ran a 5 ns run that found nothing.
 */
export function bareDuration(v: unknown): boolean {
  return (
    (typeof v === 'number' && v !== 0) ||
    (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) && Number(v) !== 0)
  );
}

/** The message for a bare number where a duration goes. */
export function bareDurationText(v: unknown): string {
  return `expected a duration with a unit such as 30s or 500ms (ns, us, ms, s, min, h), got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
}

/** The longest duration: the clock counts whole nanoseconds in a double, up to 2^53 - 1. */
export const durationMaxText = '2501h (the clock counts whole nanoseconds up to 2^53 - 1, about 104 days)';

/**
 * A duration written well whose nanoseconds the clock cannot count ("99999h", 1e20):
 * its message says how long one may be, not that it is no duration.
 */
export function durationTooLong(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v) && v > Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'string') return false;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|min|h)\s*$/.exec(v);
  return m !== null && Math.round(Number(m[1]) * unitNs[m[2]!]!) > Number.MAX_SAFE_INTEGER;
}

/** A duration in a scenario: a number and its unit ("30s", "500ms"), or a bare 0. */
export const duration = z.custom<string | number>((v) => !bareDuration(v) && parseDuration(v) !== null, {
  error: (iss) =>
    bareDuration(iss.input)
      ? bareDurationText(iss.input)
      : durationTooLong(iss.input)
        ? `expected a duration of at most ${durationMaxText}, got ${show(iss.input)}`
        : `expected ${durationHint}, got ${show(iss.input)}`,
});

/**
 * An oid action's `timeout` as NDIS_OID_REQUEST.Timeout takes it, in whole seconds:
 * the integer itself, or a duration of whole seconds ("5s"); null for anything else.
 */
export function oidTimeoutS(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 && v <= 0xffffffff ? v : null;
  const n = typeof v === 'string' ? parseDuration(v) : null;
  if (n === null || n % ns.s !== 0 || n / ns.s > 0xffffffff) return null;
  return n / ns.s;
}

/** "1s..3s": a range of durations. */
export const durationRange = z.custom<string>(
  (v) => {
    if (typeof v !== 'string') return false;
    const parts = v.split('..');
    if (parts.length !== 2) return false;
    const a = parseDuration(parts[0]);
    const b = parseDuration(parts[1]);
    return a !== null && b !== null && a <= b;
  },
  { error: (iss) => `expected a range of durations such as "1s..3s" (low first), got ${show(iss.input)}` },
);

/** "30%" or a number in [0, 1]. */
export const probability = z.custom<string | number>((v) => parseProbability(v) !== null, {
  error: (iss) => `expected a probability such as "30%" or 0.3, got ${show(iss.input)}`,
});

export function parseProbability(v: unknown): { num: number; den: number } | null {
  if (typeof v === 'number' && v >= 0 && v <= 1) return { num: Math.round(v * 1_000_000), den: 1_000_000 };
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (m !== null) {
      const p = Number(m[1]);
      if (p <= 100) return { num: Math.round(p * 10_000), den: 1_000_000 };
    }
  }
  return null;
}

export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** The most bytes an `input` or `data` buffer holds. */
const maxBufferBytes = 65536;

/**
 * The bytes an `input` or `data` field gives, or what it is instead (for the message
 * after "got"). The forms: a
 * list of byte values (`[1, 0, 0x2a]`); a string of hex bytes, spaces allowed
 * (`"ff ff 02 5a"`); `{ utf16: "\\DEVICE\\nic0" }`, a WCHAR string as the
 * application's buffer holds it (UTF-16LE, no terminating NUL); `{ ascii: "text" }`.
 */
export function bufferBytes(v: unknown): number[] | string {
  let out: number[];
  if (Array.isArray(v)) {
    const bad = v.findIndex((b) => !Number.isInteger(b) || b < 0 || b > 255);
    if (bad >= 0) return `a list whose item ${bad} is ${show(v[bad])}, not a byte value from 0 to 255`;
    out = v as number[];
  } else if (typeof v === 'string') {
    const hex = v.replace(/\s+/g, '');
    if (!/^(?:[0-9A-Fa-f]{2})*$/.test(hex)) return `${show(v)}, which is not pairs of hex digits`;
    out = [];
    for (let i = 0; i < hex.length; i += 2) out.push(Number.parseInt(hex.slice(i, i + 2), 16));
  } else if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 0) return 'an empty mapping';
    const shown = keys.map(show).join(' and ');
    if (keys.length > 1) return `a mapping of ${shown}: give one key, utf16 or ascii`;
    const [key, text] = Object.entries(v)[0]!;
    if (key !== 'utf16' && key !== 'ascii') return `a mapping of ${shown}, not of utf16 or ascii`;
    if (typeof text !== 'string') return `a mapping of ${shown} to ${show(text)}, not to text`;
    out = [];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (key === 'utf16') out.push(c & 0xff, c >>> 8);
      else if (c > 0x7f) return `${show(text)}, which has a character that is not ASCII (use utf16)`;
      else out.push(c);
    }
  } else return `${show(v)}`;
  return out.length > maxBufferBytes ? `${out.length} bytes (at most ${maxBufferBytes})` : out;
}

/** An `input` or `data` buffer, as byte values (bufferBytes). */
const buffer = z
  .custom<unknown>((v) => typeof bufferBytes(v) !== 'string', {
    error: (iss) =>
      `expected bytes: a list of byte values such as [1, 0, 0x2a], a string of hex bytes such as "ff 00 2a", { utf16: "\\DEVICE\\nic0" } or { ascii: "text" }, got ${bufferBytes(iss.input)}`,
  })
  .transform((v) => bufferBytes(v) as number[]);

/** A station (MAC) address, as `frame`'s `magic` takes it. */
const stationAddress = z.string().regex(/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i, {
  error: (iss) => `expected a station address such as "02:50:4d:00:00:01", got ${show(iss.input)}`,
});

/**
 * A `frame` (an action, or an injected event) gives its bytes one way: `magic` (a magic
 * packet for a station address) or `data` (an Ethernet frame of 14 to 1514 bytes).
 */
function frameProblems(
  a: { data?: readonly number[] | undefined; magic?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((a.data === undefined) === (a.magic === undefined))
    ctx.addIssue({
      code: 'custom',
      path: [a.data === undefined ? 'magic' : 'data'],
      message:
        'expected one of magic (a magic packet for a station address) or data (the frame\'s bytes) for "frame", got ' +
        (a.data === undefined ? 'neither' : 'both'),
    });
  else if (a.data !== undefined && (a.data.length < 14 || a.data.length > 1514))
    ctx.addIssue({
      code: 'custom',
      path: ['data'],
      message: `expected an Ethernet frame of 14 to 1514 bytes (destination, source, type, payload) for "frame", got ${a.data.length} bytes`,
    });
}

const name = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, {
  error: (iss) =>
    `expected a name of letters, digits, - or _ (up to 32, starting with a letter), got ${show(iss.input)}`,
});

export const faultsSchema = z.strictObject({
  /** The NIC hangs at this time. */
  hangAt: duration.optional(),
  /** Every period, a healthy NIC hangs with this probability. */
  hangEvery: z.strictObject({ period: duration, chance: probability }).optional(),
  /** After each reset the NIC hangs again after a delay in this range. */
  rehangAfterReset: durationRange.optional(),
  /** How long a reset of the NIC takes. */
  resetTime: duration.optional(),
  /** The NIC vanishes (reads all ones) at this time, without PnP knowing. */
  vanishAt: duration.optional(),
  linkDownAt: duration.optional(),
  linkDownFor: duration.optional(),
  /** The NIC does not power up again after NDIS powered it down, for a system sleep or a selective suspend (reads all ones): R5.8. */
  deadOnResume: z.boolean().optional(),
  /** As deadOnResume, for a power-down that begins at or after this time only: the NIC comes back from those before. */
  deadOnResumeAfter: duration.optional(),
  /** Another device on the NIC's interrupt line interrupts every this period (not 0): the ISR runs for interrupts the NIC did not raise, also after vanishAt. */
  sharedIrqEvery: duration
    .refine((v) => parseDuration(v) !== 0, { error: 'expected a period longer than 0 for sharedIrqEvery' })
    .optional(),
});

const trafficSchema = z.strictObject({
  /** Frames per second sent on each binding while it runs. */
  rate: z.number().nonnegative().max(10_000_000).describe('frames per second on each binding'),
  frameBytes: z.number().int().min(14).max(9014).describe('bytes').default(trafficDefaults.frameBytes),
  /** How long received NBLs are held before they are returned. */
  returnDelay: duration.default(trafficDefaults.returnDelayNs),
  /** Period of OID_GEN_STATISTICS queries (0: none). */
  statisticsEvery: duration.default(trafficDefaults.statisticsEveryNs),
  /** NBLs chained in each NdisSendNetBufferLists call. */
  nblsPerSend: z
    .number()
    .int()
    .min(1)
    .max(64)
    .describe('NBLs a send chains')
    .default(trafficDefaults.nblsPerSend),
  /** NET_BUFFERs (frames) in each NBL. */
  netBuffersPerNbl: z
    .number()
    .int()
    .min(1)
    .max(64)
    .describe('NET_BUFFERs in each NBL')
    .default(trafficDefaults.netBuffersPerNbl),
  /** The IRQL of the sends: dispatch, passive, or explore (drawn per send). */
  sendIrql: z.enum(['dispatch', 'passive', 'explore']).default(trafficDefaults.sendIrql),
});

/** A frame size in bytes (14..9014), or a range of them such as "64..1514" (low first). */
export function parseFrameBytes(v: unknown): { lo: number; hi: number } | null {
  const ok = (x: number) => Number.isInteger(x) && x >= 14 && x <= 9014;
  if (typeof v === 'number') return ok(v) ? { lo: v, hi: v } : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+)\s*\.\.\s*(\d+)\s*$/.exec(v);
  if (m === null) return null;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  return ok(lo) && ok(hi) && lo <= hi ? { lo, hi } : null;
}

const frameBytesOrRange = z.custom<number | string>((v) => parseFrameBytes(v) !== null, {
  error: (iss) =>
    `expected a frame size in bytes from 14 to 9014, or a range of them such as "64..1514" (low first), got ${show(iss.input)}`,
});

const wireSchema = z.strictObject({
  /** Frames per second arriving from the wire. */
  rxRate: z.number().nonnegative().max(10_000_000).describe('frames per second').default(0),
  /** A size, or a range "a..b": each frame's size is then drawn from it by a fixed hash of its number. */
  frameBytes: frameBytesOrRange.default(512),
  /** Frames that arrive back to back with one interrupt (a train); the rate counts frames. */
  burst: z.number().int().min(1).max(256).describe('frames that arrive with one interrupt').default(1),
});

export const protocolSchema = z.strictObject({
  name,
  vetoQueryRemove: z.boolean().default(false),
  traffic: trafficSchema.optional(),
});

const expectAdapter = z.strictObject({
  state: z
    .enum(['Halted', 'Shutdown', 'Initializing', 'Paused', 'Restarting', 'Running', 'Pausing'])
    .optional(),
  haltAction: z.enum(NDIS_HALT_ACTION_NAMES as [string, ...string[]]).optional(),
  resets: z.number().int().nonnegative().optional(),
});

const expectDevice = z.strictObject({
  problem: z.number().int().nonnegative().optional(),
  status: z.enum(deviceStatuses).optional(),
  /** Wakes its SimNic signalled from a low-power state (a wake-up filter that matched, or a `wake-signal`). */
  wakes: z.number().int().nonnegative().optional(),
});

/** A rule the verifier knows (a typo here would only show as a run that failed). */
const ruleId = z.custom<string>((v) => typeof v === 'string' && catalogue.has(v), {
  error: (iss) => {
    const near = typeof iss.input === 'string' ? nearest(iss.input, [...catalogue.keys()]) : null;
    return `expected a rule id (ndis-sim rules lists them), got ${show(iss.input)}${near ? `; did you mean ${near}?` : ''}`;
  },
});

export const expectSchema = z.strictObject({
  verdict: z.enum(['ok', 'bugcheck', 'violations', 'hang']).optional(),
  /** The rule the run must stop on (bug check) or record (collect mode). */
  rule: ruleId.optional(),
  adapters: z.record(z.string(), expectAdapter).optional(),
  devices: z.record(z.string(), expectDevice).optional(),
  dumps: z.number().int().nonnegative().optional(),
  /** Nothing may be left under way when the run ends (default true). */
  settled: z.boolean().optional(),
});

/** "did you mean" (src/sim/nearest.ts, which the World's messages use too). */
export { distance, nearest };

/**
 * How the caller gives drivers of its own, for the message of a driver name no one
 * gave: the command line's flag, or the option of scenarioWorld and exploreScenario (T9).
 */
export const ownDriversByFlag = 'loaded with --driver <module>';

function driverName(drivers: readonly string[], own: string) {
  return z.string().refine((v) => drivers.includes(v), {
    error: (iss) => {
      const got = String(iss.input);
      const near = typeof iss.input === 'string' ? nearest(got, drivers) : null;
      const which = drivers.length <= 8 ? drivers.join(', ') : 'the drivers `ndis-sim drivers` lists';
      return `expected one of ${which} (or your own, ${own}), got ${show(iss.input)}${near ? `; did you mean ${near}?` : ''}`;
    },
  });
}

/**
 * A SimNic's interrupt messages: up to 16 with MSI (PCI 2.2), up to 2,048 with MSI-X
 * (PCI 3.0), as "Introduction to Message-Signaled Interrupts" gives them.
 */
const msiSchema = z
  .strictObject({
    messages: z.number().int().min(0).max(maxMessages.msix),
    msix: z.boolean().default(false),
  })
  .refine((m) => m.msix || m.messages <= maxMessages.msi, {
    message: `MSI allows at most ${maxMessages.msi} messages (MSI-X: ${maxMessages.msix}); set msix: true for more`,
    path: ['messages'],
  });

const deviceSchemaFor = (drivers: readonly string[], own: string) =>
  z.strictObject({
    name,
    driver: driverName(drivers, own),
    /** simnic (default): a SimNic with registers and an interrupt; none: a virtual device. */
    hardware: z.enum(['simnic', 'none']).default('simnic'),
    /** Start the device at time 0 (default true). */
    start: z.boolean().default(true),
    registry: z.record(z.string(), z.union([z.number().int(), z.string()])).default({}),
    faults: faultsSchema.default({}),
    wire: wireSchema.optional(),
    /** Message-signaled interrupts of the SimNic (absent or 0 messages: its line only). */
    msi: msiSchema.optional(),
  });

export { actionKinds, appActionKinds };

/** The fields only the application's actions have. */
const appFields = [
  'handle',
  'link',
  'code',
  'input',
  'outputLength',
  'length',
  'data',
  'every',
  'times',
] as const;

/** A name of an I/O control code, as a driver module's `ioControlCodes` gives it (IOCTL_EVENTQ_WAIT). */
export function ioctlName(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]{0,99}$/.test(v);
}

/**
 * The number of an I/O control code: a whole number from 0 to 0xFFFFFFFF, or such a
 * number in hex ("0x00222004"); null for anything else (a name included).
 */
export function ioctlValue(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : null;
  if (typeof v === 'string' && /^0x[0-9a-f]{1,8}$/i.test(v)) return Number.parseInt(v.slice(2), 16);
  return null;
}

const oidNames = [...OID_NAMES.values()];
const oidByName: ReadonlyMap<string, number> = new Map([...OID_NAMES].map(([n, name]) => [name, n]));

/**
 * The number of the OID an `oid` action names, or null: a name of OID_NAMES, a whole
 * number from 0 to 0xFFFFFFFF, or such a number in hex ("0x00010107"), for an OID the
 * table lacks.
 */
export function oidValue(v: string | number): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : null;
  if (/^0x[0-9a-f]{1,8}$/i.test(v)) return Number.parseInt(v.slice(2), 16);
  return oidByName.get(v) ?? null;
}

/** How an `oid` action names its OID in messages: its OID_NAMES name when it has one. */
function oidLabel(v: string | number): string {
  const n = oidValue(v);
  return n === null ? String(v) : (OID_NAMES.get(n) ?? `0x${n.toString(16).toUpperCase().padStart(8, '0')}`);
}

function isOid(v: unknown): boolean {
  return (typeof v === 'string' || typeof v === 'number') && oidValue(v) !== null;
}

/** What is wrong with the `oid` of an `oid` action that isOid refuses. */
function oidProblem(v: unknown): string {
  if (typeof v === 'number') return `expected an OID number from 0 to 0xFFFFFFFF, got ${show(v)}`;
  if (typeof v === 'string' && /^0x/i.test(v))
    return `expected an OID number of up to 8 hex digits, such as 0x00010202, got ${show(v)}`;
  const near = typeof v === 'string' ? nearest(v, oidNames) : null;
  return `expected an OID name such as OID_GEN_STATISTICS (run ndis-sim oids for the list) or an OID number such as 0x00010202, got ${show(v)}${near ? `; did you mean ${near}?` : ''}`;
}

/**
 * What is wrong with the OID of an `oid` action, or null: NDIS's own power requests, which
 * it sends around a power change and never takes from above.
 */
function ndisOnlyOidProblem(oid: string): string | null {
  if (oid === 'OID_PNP_SET_POWER' || oid === 'OID_PNP_QUERY_POWER')
    return `expected an OID a protocol may send, got ${oid}: NDIS sends it itself around a power change (docs/model.md "System sleep and resume"); a scenario changes the power state with a \`sleep\` action, or lets selective suspend do it`;
  return null;
}

/**
 * The `value` of a set of OID_PM_ADD_WOL_PATTERN: the NDIS_PM_WOL_PATTERN to add, as a
 * mapping. `type` names the NDIS_PM_WOL_PACKET: bitmap (with `mask` and `pattern`
 * bytes), magic-packet, ipv4-tcp-syn or ipv6-tcp-syn (the SYN's `source` and `dest`
 * addresses and `sourcePort` and `destPort`, each unspecified, zero, if not given), or
 * eapol-request-id. `priority`: the pattern's Priority (a ULONG,
 * NDIS_PM_WOL_PRIORITY_NORMAL if not given). Fields loose here, checked by wolPatternProblems.
 */
const wolPatternValue = z.strictObject({
  type: z.unknown(),
  mask: z.unknown().optional(),
  pattern: z.unknown().optional(),
  source: z.unknown().optional(),
  dest: z.unknown().optional(),
  sourcePort: z.unknown().optional(),
  destPort: z.unknown().optional(),
  priority: z.unknown().optional(),
});

export type WolPatternValue = z.infer<typeof wolPatternValue>;

/** The WoL pattern types a scenario names (NDIS_PM_WOL_PACKET), and the fields each takes besides type and priority. */
const wolPatternFields: Record<string, readonly (keyof WolPatternValue)[]> = {
  bitmap: ['mask', 'pattern'],
  'magic-packet': [],
  'ipv4-tcp-syn': ['source', 'dest', 'sourcePort', 'destPort'],
  'ipv6-tcp-syn': ['source', 'dest', 'sourcePort', 'destPort'],
  'eapol-request-id': [],
};
const wolPatternTypes = Object.keys(wolPatternFields);

function isWolPatternValue(v: unknown): v is WolPatternValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The 4 bytes of a dotted IPv4 address ("192.168.0.2"), or null. */
export function ipv4Bytes(v: unknown): number[] | null {
  if (typeof v !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(v)) return null;
  const out = v.split('.').map(Number);
  return out.every((b) => b <= 255) ? out : null;
}

/** The 16 bytes of an IPv6 address in hex groups, with at most one "::" ("fe80::1", "::"), or null. */
export function ipv6Bytes(v: unknown): number[] | null {
  if (typeof v !== 'string') return null;
  const halves = v.split('::');
  if (halves.length > 2) return null;
  const groups = (t: string): string[] => (t === '' ? [] : t.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return null;
  return all.flatMap((g) => {
    const x = Number.parseInt(g, 16);
    return [x >>> 8, x & 0xff];
  });
}

/** The bad input of an OID_PM_ADD_WOL_PATTERN value (a mapping), each as [field under value, message]. */
function wolPatternProblems(v: WolPatternValue): [string, string][] {
  const out: [string, string][] = [];
  const t = v.type;
  const fields = typeof t === 'string' ? wolPatternFields[t] : undefined;
  if (fields === undefined) {
    out.push(['type', `expected ${wolPatternTypes.join(', ')}, got ${show(t)}`]);
    return out;
  }
  for (const f of ['mask', 'pattern', 'source', 'dest', 'sourcePort', 'destPort'] as const)
    if (v[f] !== undefined && !fields.includes(f))
      out.push([
        f,
        `expected no ${f} for ${/^[aei]/.test(String(t)) ? 'an' : 'a'} ${t} pattern (it takes ${fields.join(', ') || 'only priority'}), got ${show(v[f])}`,
      ]);
  if (t === 'bitmap')
    for (const f of ['mask', 'pattern'] as const) {
      const bytes = v[f] === undefined ? 'nothing' : bufferBytes(v[f]);
      if (typeof bytes === 'string')
        out.push([
          f,
          `expected the ${f} bytes of a bitmap pattern, such as ${f === 'mask' ? '"3f" (bytes 0 to 5 compared)' : '"02 50 4d 00 00 01"'}, got ${bytes}`,
        ]);
      else if (bytes.length === 0) out.push([f, `expected at least one ${f} byte, got none`]);
    }
  if (t === 'ipv4-tcp-syn' || t === 'ipv6-tcp-syn') {
    const v4 = t === 'ipv4-tcp-syn';
    for (const f of ['source', 'dest'] as const)
      if (v[f] !== undefined && (v4 ? ipv4Bytes(v[f]) : ipv6Bytes(v[f])) === null)
        out.push([
          f,
          `expected the ${f === 'source' ? 'source' : 'destination'} ${v4 ? 'IPv4 address of the SYN, such as "192.168.0.2" ("0.0.0.0" unspecified)' : 'IPv6 address of the SYN, such as "fe80::2" ("::" unspecified)'}, got ${show(v[f])}`,
        ]);
    for (const f of ['sourcePort', 'destPort'] as const) {
      const port = v[f];
      if (
        port !== undefined &&
        !(typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 0xffff)
      )
        out.push([f, `expected a TCP port from 0 (unspecified) to 65535, got ${show(port)}`]);
    }
  }
  const p = v.priority;
  if (p !== undefined && !(typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 0xffffffff))
    out.push([
      'priority',
      `expected a ULONG priority (1 is NDIS_PM_WOL_PRIORITY_HIGHEST, 0x10000000 NORMAL, 0xFFFFFFFF LOWEST), got ${show(p)}`,
    ]);
  return out;
}

/**
 * A request type the OID's page does not give it, or null: a set of a statistic that
 * is queried only (OID_GEN_XMIT_OK), a query of one that is set only
 * (OID_GEN_LINK_PARAMETERS), or either of one that is a method request only
 * (OID_PM_GET_PROTOCOL_OFFLOAD). What NDIS does with such a request is nowhere said, so
 * the model does not guess. The types come from the docs (data/extra.json oidRequests,
 * OID_REQUESTS); an OID whose pages state none (a vendor's number, say) is not checked.
 */
export function oidRequestProblem(oid: number, request: 'query' | 'set' | undefined): string | null {
  const takes = OID_REQUESTS.get(oid);
  if (takes === undefined || takes.includes(request ?? 'query')) return null;
  const label = OID_NAMES.get(oid) ?? String(oid);
  const method =
    takes.includes('method') && takes.length === 1
      ? `; an oid action sends a method request only with synchronous: true, for the OIDs the synchronous path allows (${[...syncOids].map((o) => OID_NAMES.get(o)).join(', ')})`
      : '';
  return `expected a request ${label} takes (${takes.join(' or ')}, as its page in the docs says; ndis-sim oids lists them), got ${request ?? 'query (an oid action without request: is a query)'}${method}`;
}

/**
 * What is wrong with the value of an `oid` action, or null. A set carries what its
 * InformationBuffer holds: 6-byte addresses for OID_802_3_MULTICAST_LIST, a ULONG for
 * any other OID (the packet filter's bits, say); a query carries nothing.
 */
function oidValueProblem(
  oid: string,
  request: 'query' | 'set',
  value: number | number[][] | WolPatternValue | undefined,
): string | null {
  const got = Array.isArray(value) ? JSON.stringify(value) : show(value);
  if (request === 'query')
    return value === undefined ? null : `expected no value for a query of ${oid}, got ${got}`;
  if (oid === 'OID_PM_ADD_WOL_PATTERN')
    return isWolPatternValue(value)
      ? null
      : `expected the pattern to add for a set of ${oid}, such as { type: bitmap, mask: "3f", pattern: "02 50 4d 00 00 01" }, { type: magic-packet } or { type: ipv4-tcp-syn, dest: "192.168.0.2", destPort: 80 }, got ${got}`;
  if (isWolPatternValue(value))
    return `expected a ULONG (a whole number from 0 to 0xFFFFFFFF) for a set of ${oid}, got a mapping (a WoL pattern is the value of OID_PM_ADD_WOL_PATTERN only)`;
  if (oid === 'OID_802_3_MULTICAST_LIST') {
    const address = (m: number[]): boolean => m.length === 6 && m.every((x) => x >= 0 && x <= 255);
    if (Array.isArray(value) && value.every(address)) return null;
    return `expected a list of 6-byte addresses for a set of ${oid}, such as [[1, 0, 94, 0, 0, 1]], got ${got}`;
  }
  if (typeof value === 'number' && value >= 0 && value <= 0xffffffff) return null;
  return `expected a ULONG (a whole number from 0 to 0xFFFFFFFF) for a set of ${oid}, got ${got}`;
}

/**
 * The bad input of an `oid` action with `synchronous: true`: an OID the synchronous path
 * does not allow, `request` (its only OID is a method request), `timeout` (nothing times
 * out), `direct: true`, or a value that is not a ULONG.
 */
function syncOidProblems(
  a: {
    oid?: string | number;
    request?: string;
    value?: number | number[][] | WolPatternValue;
    timeout?: string | number;
    direct?: boolean;
  },
  ctx: z.RefinementCtx,
): void {
  const issue = (field: string, message: string): void => {
    ctx.addIssue({ code: 'custom', path: [field], message });
  };
  if (!syncOids.has(oidValue(a.oid!)!))
    issue(
      'oid',
      `expected an OID the synchronous OID path allows (${[...syncOids].map((o) => OID_NAMES.get(o)).join(', ')}) with synchronous: true, got ${oidLabel(a.oid!)}`,
    );
  if (a.request !== undefined)
    issue(
      'request',
      `expected no request with synchronous: true (OID_GEN_RSS_SET_INDIRECTION_TABLE_ENTRIES is a method request only), got ${a.request}`,
    );
  if (a.timeout !== undefined)
    issue(
      'timeout',
      `expected no timeout with synchronous: true (a synchronous request never waits), got ${a.timeout}`,
    );
  if (a.direct === true) issue('direct', 'expected direct or synchronous, not both, got direct: true');
  if (a.value !== undefined && !(typeof a.value === 'number' && a.value >= 0 && a.value <= 0xffffffff))
    issue(
      'value',
      `expected a ULONG (a whole number from 0 to 0xFFFFFFFF) as the input of the synchronous request, got ${Array.isArray(a.value) ? JSON.stringify(a.value) : show(a.value)}`,
    );
}

/** The fields only an `oid` action has. */
const oidFields = ['oid', 'request', 'value', 'timeout', 'bufferLength', 'direct', 'synchronous'] as const;

export const actionSchema = z
  .strictObject({
    at: duration,
    do: z.enum(actionKinds, {
      error: (iss) => `expected one of ${actionKinds.join(', ')}, got ${show(iss.input)}`,
    }),
    /** The device (every action but shutdown). */
    device: z.string().optional(),
    /** `oid`: which OID: a name such as OID_GEN_STATISTICS, or a number (0x00010202) for one OID_NAMES lacks. */
    oid: z.custom<string | number>(isOid, { error: (iss) => oidProblem(iss.input) }).optional(),
    /** `oid`: query (default) or set. */
    request: z.enum(['query', 'set']).optional(),
    /** `oid`: the value of a set. */
    value: z
      .union([z.number().int(), z.array(z.array(z.number().int())), wolPatternValue], {
        error: (iss) =>
          `expected a whole number (the ULONG of a set, such as a packet filter), for OID_802_3_MULTICAST_LIST a list of 6-byte addresses such as [[1, 0, 94, 0, 0, 1]], or for OID_PM_ADD_WOL_PATTERN a mapping of type and the pattern's fields (mask, pattern, source, dest, sourcePort, destPort, priority), got ${Array.isArray(iss.input) ? JSON.stringify(iss.input) : show(iss.input)}`,
      })
      .optional(),
    /**
     * `oid`: NDIS_OID_REQUEST.Timeout, in whole seconds (R6.4): the structure's ULONG
     * (5), or a duration that is whole seconds ("5s", "2min").
     */
    timeout: z
      .custom<string | number>((v) => oidTimeoutS(v) !== null, {
        error: (iss) =>
          `expected NDIS_OID_REQUEST.Timeout in whole seconds: an integer such as 5 or a duration of whole seconds such as "5s" (0: no timeout), got ${show(iss.input)}`,
      })
      .optional(),
    /** `oid`: InformationBufferLength in bytes, to override the size of the value (set) or of the answer (query). */
    bufferLength: z.number().int().nonnegative().max(0xffffffff).optional(),
    /** `oid`: a direct OID request (NDIS 6.1+): MiniportDirectOidRequest, not serialized; only the OIDs the direct path allows. */
    direct: z.boolean().optional(),
    /**
     * `oid`: a synchronous OID request (NDIS 6.80): down through FilterSynchronousOidRequest
     * to MiniportSynchronousOidRequest and back, at DISPATCH; a method request, only the
     * OIDs the synchronous path allows; `value` is its input.
     */
    synchronous: z.boolean().optional(),
    /** `remove`, `disable`, `stop`: NDIS accepts the query, the bus driver below fails it; PnP cancels (R5.3). */
    vetoBelow: z.boolean().optional(),
    /** `sleep`: the sleeping state (default S3). */
    state: z.enum(['S3', 'S4']).optional(),
    /** `sleep`: how long the system sleeps before it wakes. */
    for: duration.optional(),
    /** `start-filter`, `stop-filter`, `stop-protocol`: the driver whose service starts or stops. */
    driver: z.string().optional(),
    /** `start-filter`: its modules are mandatory. */
    mandatory: z.boolean().optional(),
    /** `open`, `ioctl`, `read`, `write`, `close`, `cancel`: the application's name for its handle. */
    handle: name.optional(),
    /** `open`: the symbolic link the application opens, as \\.\<link> (the driver's \DosDevices\<link>). */
    link: z
      .string()
      .regex(/^(\\\\\.\\)?(Global\\)?[A-Za-z0-9_.-]{1,64}$/i, {
        error: (iss) =>
          `expected a symbolic link name such as SimNicCtl (or \\\\.\\SimNicCtl, Global\\SimNicCtl), got ${show(iss.input)}`,
      })
      .optional(),
    /** `ioctl`: the I/O control code (METHOD_BUFFERED, METHOD_IN_DIRECT or METHOD_OUT_DIRECT), a number or hex ("0x00222004"). */
    code: z
      .custom<string | number>((v) => ioctlValue(v) !== null || ioctlName(v), {
        error: (iss) =>
          `expected an I/O control code from 0 to 0xFFFFFFFF, such as 0x00222004, or the name a driver gives one (its ioControlCodes), got ${show(iss.input)}`,
      })
      .optional(),
    /** `ioctl`: the input buffer (bufferBytes: byte values, hex, { utf16 } or { ascii }). */
    input: buffer.optional(),
    /** `ioctl`: the output buffer's length in bytes (default 0). */
    outputLength: z.number().int().nonnegative().max(65536).optional(),
    /** `read`: how many bytes ReadFile asks for (its buffer's length). */
    length: z.number().int().nonnegative().max(65536).optional(),
    /** `write`: the bytes WriteFile gives (as `input`); `frame`: the frame's bytes, from its destination address on. */
    data: buffer.optional(),
    /** `frame`: a magic packet for this station address ("02:50:4d:00:00:01"), instead of `data`. */
    magic: stationAddress.optional(),
    /** `ioctl`, `read`, `write`: send it again every so often (until the run ends, or `times` in all). */
    every: duration.optional(),
    /** `ioctl`, `read`, `write` with `every`: how many requests in all. */
    times: z.number().int().min(1).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.do === 'sleep') {
      if (a.for === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['for'],
          message: 'expected how long "sleep" lasts, got nothing',
        });
      if (a.device !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['device'],
          message: 'expected no device for "sleep": the whole system sleeps',
        });
    } else if (a.state !== undefined || a.for !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [a.state !== undefined ? 'state' : 'for'],
        message: `expected state and for only with "sleep", got them with "${a.do}"`,
      });
    }
    const filterAction = a.do === 'start-filter' || a.do === 'stop-filter';
    const serviceAction = filterAction || a.do === 'stop-protocol';
    if (serviceAction) {
      const what = filterAction ? 'filter' : 'protocol';
      if (a.driver === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['driver'],
          message: `expected the ${what} driver for "${a.do}", got nothing`,
        });
      if (a.device !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['device'],
          message: `expected no device for "${a.do}": a ${what} service covers every adapter`,
        });
    } else if (a.driver !== undefined || a.mandatory !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [a.driver !== undefined ? 'driver' : 'mandatory'],
        message: `expected driver and mandatory only with start-filter, stop-filter or stop-protocol, got them with "${a.do}"`,
      });
    }
    if (a.mandatory !== undefined && (a.do === 'stop-filter' || a.do === 'stop-protocol'))
      ctx.addIssue({
        code: 'custom',
        path: ['mandatory'],
        message: `expected mandatory only with start-filter, got it with "${a.do}"`,
      });
    const appAction = (appActionKinds as readonly string[]).includes(a.do);
    if (appAction) {
      if (a.device !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['device'],
          message:
            a.do === 'exit'
              ? 'expected no device for "exit": the whole application exits'
              : `expected no device for "${a.do}": the application names its handle (handle:)`,
        });
      if (a.handle === undefined && a.do !== 'exit')
        ctx.addIssue({
          code: 'custom',
          path: ['handle'],
          message: `expected the application's handle name for "${a.do}", got nothing`,
        });
      const allowed: Record<string, readonly string[]> = {
        open: ['handle', 'link'],
        ioctl: ['handle', 'code', 'input', 'outputLength', 'every', 'times'],
        read: ['handle', 'length', 'every', 'times'],
        write: ['handle', 'data', 'every', 'times'],
        close: ['handle'],
        cancel: ['handle'],
        exit: [],
      };
      const extra = appFields.filter((f) => a[f] !== undefined && !allowed[a.do]!.includes(f));
      if (extra.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: [extra[0]!],
          message:
            a.do === 'exit'
              ? `expected no ${extra.join(', ')} for "exit": the application exits with all its handles`
              : `expected only ${allowed[a.do]!.join(', ')} for "${a.do}", got ${extra.join(', ')}`,
        });
      if (a.do === 'open' && a.link === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['link'],
          message: 'expected the symbolic link "open" opens (link: SimNicCtl), got nothing',
        });
      if (a.do === 'read' && a.length === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['length'],
          message: 'expected how many bytes "read" asks for (length: 1514), got nothing',
        });
      if (a.do === 'write' && a.data === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['data'],
          message: 'expected the bytes "write" gives (data: [1, 2, 3]), got nothing',
        });
      if (a.do === 'ioctl') {
        const code = a.code === undefined ? null : ioctlValue(a.code);
        if (a.code === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['code'],
            message: 'expected the I/O control code of "ioctl" (code: 0x00222004), got nothing',
          });
        else if (code !== null && (code & 3) === 3)
          ctx.addIssue({
            code: 'custom',
            path: ['code'],
            message: `expected a code of METHOD_BUFFERED, METHOD_IN_DIRECT or METHOD_OUT_DIRECT (its two low bits 0, 1 or 2): METHOD_NEITHER is not modelled, got ${show(a.code)}`,
          });
      }
      if (a.do === 'ioctl' || a.do === 'read' || a.do === 'write') {
        if (a.times !== undefined && a.every === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['times'],
            message: 'expected times only with every (how often the request repeats)',
          });
        if (a.every !== undefined && parseDuration(a.every) === 0)
          ctx.addIssue({
            code: 'custom',
            path: ['every'],
            message: 'expected a period longer than 0 for every',
          });
      }
    } else if (a.do === 'frame') {
      frameProblems(a, ctx);
      const extra = appFields.filter((f) => f !== 'data' && a[f] !== undefined);
      if (extra.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: [extra[0]!],
          message: `expected only device and magic or data for "frame", got ${extra.join(', ')}`,
        });
    } else {
      const given = appFields.filter((f) => a[f] !== undefined);
      if (given.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: [given[0]!],
          message: `expected ${given.join(', ')} only with open, ioctl, read, write, close or cancel, got it with "${a.do}"`,
        });
    }
    if (a.do !== 'shutdown' && a.do !== 'sleep' && !serviceAction && !appAction && a.device === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['device'],
        message: `expected a device name for "${a.do}", got nothing`,
      });
    }
    if (a.magic !== undefined && a.do !== 'frame')
      ctx.addIssue({
        code: 'custom',
        path: ['magic'],
        message: `expected magic only with "frame", got it with "${a.do}"`,
      });
    if (a.vetoBelow !== undefined && a.do !== 'remove' && a.do !== 'disable' && a.do !== 'stop') {
      ctx.addIssue({
        code: 'custom',
        path: ['vetoBelow'],
        message: `expected vetoBelow only with remove, disable or stop, got it with "${a.do}"`,
      });
    }
    if (a.do === 'oid' && a.oid === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['oid'],
        message: 'expected an OID name or number for "oid", got nothing',
      });
    }
    if (a.do === 'oid' && a.oid !== undefined && a.synchronous === true) syncOidProblems(a, ctx);
    else if (a.do === 'oid' && a.oid !== undefined) {
      const wrong = ndisOnlyOidProblem(oidLabel(a.oid));
      // A request type the OID does not take: its value would be a follow-on error.
      const untaken = wrong === null ? oidRequestProblem(oidValue(a.oid)!, a.request) : null;
      if (untaken !== null) ctx.addIssue({ code: 'custom', path: ['request'], message: untaken });
      const problem =
        wrong ?? (untaken === null ? oidValueProblem(oidLabel(a.oid), a.request ?? 'query', a.value) : null);
      if (problem !== null)
        ctx.addIssue({ code: 'custom', path: [wrong === null ? 'value' : 'oid'], message: problem });
      else if (untaken === null && isWolPatternValue(a.value))
        for (const [field, message] of wolPatternProblems(a.value))
          ctx.addIssue({ code: 'custom', path: ['value', field], message });
      if (a.direct === true && !directOids.has(oidValue(a.oid)!))
        ctx.addIssue({
          code: 'custom',
          path: ['oid'],
          message: `expected an OID the direct OID path allows (${[...directOids].map((o) => OID_NAMES.get(o)).join(', ')}) with direct: true, got ${oidLabel(a.oid)}`,
        });
      if (a.direct === true && a.timeout !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['timeout'],
          message: `expected no timeout with direct: true (NDIS does not time out direct OID requests), got ${a.timeout}`,
        });
    }
    if (a.do !== 'oid') {
      const given = oidFields.filter((f) => a[f] !== undefined);
      if (given.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: [given[0]!],
          message: `expected no OID fields (${oidFields.join(', ')}) for "${a.do}", got ${given.join(', ')}`,
        });
    }
  });

/**
 * What `inject:` may inject: PnP and power events, SimNic faults, and a device's wake:
 * its wake signal, or a frame from the wire (a magic packet, a pattern) its wake-up
 * filters may match.
 */
export const injectKinds = [
  'surprise-remove',
  'remove',
  'disable',
  'stop',
  'sleep',
  'hang',
  'vanish',
  'link-down',
  'wake-signal',
  'frame',
] as const;

/** The kinds that act on a SimNic, so their device must have one. */
export const nicInjectKinds: readonly string[] = ['hang', 'vanish', 'link-down', 'frame'];

/**
 * An event the run may or may not get: with probability `chance` (default 50 %), at a
 * time drawn within `within`, both through the choice door, so each seed draws its own
 * and the explorer's shrinking can take it out (its answer 0 is "not injected").
 */
export const injectSchema = z
  .strictObject({
    do: z.enum(injectKinds, {
      error: (iss) => `expected one of ${injectKinds.join(', ')}, got ${show(iss.input)}`,
    }),
    /** The device (every kind but sleep). */
    device: z.string().optional(),
    /** The window the time is drawn from, to the microsecond: "0s..2s". */
    within: durationRange,
    chance: probability.default('50%'),
    /** `sleep`: how long the system sleeps (default 1s); `link-down`: how long the link stays down (default: for good). */
    for: duration.optional(),
    /** `sleep`: the sleeping state (default S3). */
    state: z.enum(['S3', 'S4']).optional(),
    /** `frame`: a magic packet for this station address, instead of `data`. */
    magic: stationAddress.optional(),
    /** `frame`: the frame's bytes, from its destination address on. */
    data: buffer.optional(),
  })
  .superRefine((a, ctx) => {
    if (a.do === 'frame') frameProblems(a, ctx);
    else {
      const given = (['magic', 'data'] as const).filter((f) => a[f] !== undefined);
      if (given.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: [given[0]!],
          message: `expected ${given.join(' and ')} only with frame, got it with "${a.do}"`,
        });
    }
    if (a.do === 'sleep' && a.device !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['device'],
        message: `expected no device for "sleep", got ${show(a.device)}`,
      });
    if (a.do !== 'sleep' && a.device === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['device'],
        message: `expected the device "${a.do}" acts on, got nothing`,
      });
    if (a.state !== undefined && a.do !== 'sleep')
      ctx.addIssue({
        code: 'custom',
        path: ['state'],
        message: `expected state only with sleep, got it with "${a.do}"`,
      });
    if (a.for !== undefined && a.do !== 'sleep' && a.do !== 'link-down')
      ctx.addIssue({
        code: 'custom',
        path: ['for'],
        message: `expected for only with sleep or link-down, got it with "${a.do}"`,
      });
  });

/** The scenario schema for a set of loadable drivers. */
export const scenarioSchemaFor = (drivers: readonly string[], own: string = ownDriversByFlag) =>
  z.strictObject({
    name: z.string().optional(),
    description: z.string().optional(),
    /**
     * Modules of drivers of your own the scenario names, relative to its file (as
     * --driver gives them). The command line loads them; `loadScenario` only checks
     * the field, since a library caller passes its drivers itself.
     */
    driverModules: z.array(z.string().min(1)).optional(),
    seed: z.number().int().nonnegative().max(0xffffffff).default(1),
    /** When the run ends: above 0 (a run that ends at 0 runs nothing but its first instant). */
    until: duration
      .refine((v) => parseDuration(v) !== 0, {
        error: (iss) => `expected a duration above 0 (when the run ends), got ${show(iss.input)}`,
      })
      .default('30s'),
    cpus: z.number().int().min(1).max(64).default(2),
    verifier: z.enum(['bugcheck', 'collect']).default('bugcheck'),
    ndis: z
      .strictObject({
        honourProtocolVeto: z.boolean().optional(),
        surpriseRemovalCompletes: z.enum(['early', 'after-halt']).optional(),
        pauseWatchdog: duration.optional(),
        haltWatchdog: duration.optional(),
        oidWatchdog: duration.optional(),
        idleWatchdog: duration.optional(),
        dpcWatchdog: duration.optional(),
        powerWatchdog: duration.optional(),
        callbackIrql: z.enum(['passive', 'dispatch', 'explore']).optional(),
        surpriseRemovalOrder: z.enum(['miniport-first', 'protocols-first']).optional(),
        resetsAfterSurpriseRemoval: z.boolean().optional(),
        pauseWaitsForOids: z.boolean().optional(),
        receivesWhilePausing: z.enum(['allowed', 'violation']).optional(),
        receivesWhilePaused: z.enum(['violation', 'returned']).optional(),
        missingHandlerStatus: z.enum(['bad-characteristics', 'failure']).optional(),
        removeInHalt: z.enum(['warning', 'silent']).optional(),
        filterAttach: z.enum(['after-driver-entry', 'in-registration']).optional(),
        directOidNoHandler: z.enum(['not-supported', 'invalid-oid']).optional(),
        syncOidNoHandler: z.enum(['not-supported', 'invalid-oid']).optional(),
        wolPatternEviction: z.enum(['once', 'repeat', 'off']).optional(),
        oidCallDown: z.enum(['queued', 'inline', 'explore']).optional(),
        hungTeardown: z.enum(['fail', 'warning']).optional(),
      })
      .default({}),
    protocols: z.array(protocolSchema).default([{ name: 'tcpip', vetoQueryRemove: false }]),
    /**
     * Filter drivers installed over every adapter, the one nearest the miniport first
     * (R7.8). A mandatory module that fails to attach stops the stack.
     */
    filters: z
      .array(
        z.strictObject({
          driver: driverName(drivers, own),
          mandatory: z.boolean().default(false),
          /** What NdisOpenConfigurationEx with a module's NdisFilterHandle reads (its instance key). */
          registry: z.record(z.string(), z.union([z.number().int(), z.string()])).optional(),
        }),
      )
      .default([]),
    /**
     * Protocol drivers of your own (NdisRegisterProtocolDriver), bound to every adapter
     * beside the built-in `protocols`.
     */
    protocolDrivers: z.array(z.strictObject({ driver: driverName(drivers, own) })).default([]),
    devices: z.array(deviceSchemaFor(drivers, own)).min(1),
    actions: z.array(actionSchema).default([]),
    /** Events each run draws whether and when to get (the explorer's faults). */
    inject: z.array(injectSchema).default([]),
    expect: expectSchema.optional(),
  });

export type Scenario = z.output<ReturnType<typeof scenarioSchemaFor>>;
