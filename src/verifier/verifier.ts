// The run-time verifier: every rule break goes out through `report`.
// In bugcheck mode the first one stops the machine, as Windows does; in collect
// mode it is recorded and the model goes on where it can.

import { assert, WorldStop } from '../errors.ts';
import { Irql, irqlNames, type Kernel, notRunning } from '../kernel/kernel.ts';
import { type DdiIrql, ddiIrql, ddiMacros } from '../ndis/generated/irql.ts';
import { driverCallSite } from '../report/stack.ts';
import type { Machine } from '../sim/machine.ts';
import type { Trace } from '../trace/trace.ts';
import { analyzeRule, type BugCheckParam, bugCheckName } from './bugcheck.ts';
import { type BugCheckSpec, catalogue, ownIrqlBugCheck, type RuleSpec, specFor } from './catalogue.ts';

/**
 * bugcheck: the first violation stops the machine, as on Windows (the default).
 * collect: violations are recorded and the model goes on where it can.
 * off: rule checks are skipped (to measure what they cost); what the model cannot
 * go on from (a driver exception, a bad handle) still stops it.
 */
export type VerifierMode = 'bugcheck' | 'collect' | 'off';

/** Driver Verifier's own code for `ddi` at the wrong IRQL (the catalogue's ddiBugChecks). */
export { ownIrqlBugCheck };

/** KeRaiseIrql asked to lower (0xC4/0x30): parameter 3 is the IRQL asked for. */
const raiseIrqlBadParameter = 0x30;

/** Driver Verifier's spin-lock codes of 0xC4, whose parameter 3 is the lock's address. */
const spinLockCodes: ReadonlySet<number> = new Set([0x32, 0x40, 0x41, 0x42]);

export interface Violation {
  rule: string;
  summary: string;
  spec: readonly string[];
  /** The DDI or callback where it happened. */
  ddi: string;
  adapter: string | null;
  cpu: number;
  irql: number;
  timeNs: number;
  /** Index of the trace event that records it (-1 with recording off). */
  tracePos: number;
  message: string;
  /**
   * The line of the driver's code that made the call `ddi` broke the rule in, and the
   * callback it ran in: `mynic.ts:41:7 (in MiniportPause)`. Null when the rule is about
   * a callback (its return) or NDIS found it later (a watchdog, a check at halt).
   */
  callSite: string | null;
  /**
   * For a violation NDIS or the kernel finds later (a watchdog, a check at halt or
   * unload), where in the driver it began: the callback that set the timer left set,
   * allocated the object not freed, pended the request that never completed, with the
   * virtual time. The summary and the HTML report show it as a line of its own under
   * `label` ("Set in", "Made in", "Pended by"); the message says it too. Null where the
   * rule has none (and for every violation with a call site).
   */
  origin: ViolationOrigin | null;
  bugCheck: { code: number; name: string; params: BugCheckParam[] };
  /**
   * The Driver Verifier rule Windows' `!analyze` names for this bug check when it is not
   * `rule` (0xC4/0x91002 is NdisOidDoubleComplete, found by the model as SDV's
   * DoubleComplete), else null (analyzeRule).
   */
  windowsRule: string | null;
  fatal: boolean;
}

/** Where a late violation began in the driver (Violation.origin). */
export interface ViolationOrigin {
  /** The report's label: "Set in", "Made in", "Pended by". */
  label: string;
  /** `MiniportResetEx at 2.400000 s (NdisSetTimerObject; timer function hangTimer)`. */
  at: string;
}

export interface Warning {
  rule: string;
  ddi: string;
  adapter: string | null;
  timeNs: number;
  message: string;
}

/** What the verifier asks to name the adapter whose code is running. */
export interface RunningAdapterSource {
  runningAdapterName(): string | null;
  /** The callback whose driver code runs now (the innermost), or null outside any. */
  runningFunction(): string | null;
}

/** The contexts that are not a driver's code (Kernel.enter's `who` for them). */
const systemActors: ReadonlySet<string> = new Set([
  'bus',
  'io',
  'kernel',
  'ndis',
  'pnp',
  'scenario',
  'verifier',
]);

/** A kernel routine's name, for a DDI the generated IRQL table does not list (IoCompleteRequest). */
const kernelRoutine = /^(?:Io|Ke|Mm|Ex|Rtl|Ob|Zw|Po|Ndis|NDIS_)/;

/** Verifier.gate: what a DDI's IRQL check does first. */
const GateCheck = 0;
const GateOff = 1;
const GateOutside = 2;
type Gate = typeof GateCheck | typeof GateOff | typeof GateOutside;

/**
 * Whether `ddi`, a violation's place, is a routine driver code calls rather than a
 * callback of the driver (MiniportPause, NdisTimerFunction, a Cancel routine): the IRQL
 * table's kind where it lists it, else the name of a kernel routine.
 */
function isDdiFunction(ddi: string): boolean {
  const spec = ddiIrql[ddi];
  return spec === undefined ? kernelRoutine.test(ddi) : spec.kind === 'function';
}

/** R8.11: the lock DDIs themselves, which a driver holding a lock may call. */
const lockDdis: ReadonlySet<string> = new Set([
  'NdisAllocateSpinLock',
  'NdisFreeSpinLock',
  'NdisAcquireSpinLock',
  'NdisReleaseSpinLock',
  'NdisDprAcquireSpinLock',
  'NdisDprReleaseSpinLock',
  'NdisAllocateRWLock',
  'NdisFreeRWLock',
  'NdisAcquireRWLockRead',
  'NdisAcquireRWLockWrite',
  'NdisReleaseRWLock',
]);

/**
 * R8.11: the DDIs that check NdisSim_LockHeldAcrossCall (`lockHeldUpCall` in
 * src/ndis/api/common.ts), an error: no warning besides it. The rule's catalogue list,
 * and the protocol and filter OID calls that check it too.
 */
const upCallDdis: ReadonlySet<string> = new Set([
  ...(catalogue.get('NdisSim_LockHeldAcrossCall')?.ddis ?? []),
  'NdisMDirectOidRequestComplete',
  'NdisSendNetBufferLists',
  'NdisReturnNetBufferLists',
  'NdisCancelSendNetBufferLists',
  'NdisOidRequest',
  'NdisDirectOidRequest',
  'NdisCancelOidRequest',
  'NdisCancelDirectOidRequest',
  'NdisFDirectOidRequest',
  'NdisFDirectOidRequestComplete',
  'NdisFCancelDirectOidRequest',
  'NdisFSynchronousOidRequest',
]);
export class Verifier {
  readonly violations: Violation[] = [];
  readonly warnings: Warning[] = [];
  /** The violation that stopped the machine, if one did. */
  stoppedBy: Violation | null = null;

  /**
   * Names the adapter whose driver code is running, for violations a DDI cannot tie
   * to an adapter itself (a spin lock, a stall). NDIS registers itself here.
   *
   * An object, not a closure: on node 20 a closure assigned to a property survives
   * every scavenge with all it captures, and one capturing NDIS kept each finished
   * world alive until a full collection (docs/decisions.md, "No closure is stored").
   */
  adapterSource: RunningAdapterSource | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly machine: Machine,
    readonly trace: Trace,
    public mode: VerifierMode,
  ) {}

  /**
   * What the IRQL checks do first, in one comparison on every DDI's way in: check
   * (GateCheck), skip (GateOff: mode off) or throw notRunning (GateOutside: the
   * world is not running). Set with the running world (api/common.ts setCurrentNdis).
   */
  private gate: Gate = GateOutside;

  /** This world runs (its DDIs act) or not (they throw notRunning): Kernel.running too. */
  setRunning(on: boolean): void {
    this.kernel.running = on;
    this.gate = !on ? GateOutside : this.mode === 'off' ? GateOff : GateCheck;
  }

  /**
   * A driver broke `ruleId`. `params` are bug-check parameters 2..4 (parameter 1
   * comes from the catalogue when the rule fixes it).
   */
  report(
    ruleId: string,
    ddi: string,
    adapter: string | null,
    message: string,
    params?: BugCheckParam[],
    bugCheck?: BugCheckSpec,
    origin?: ViolationOrigin,
  ): void {
    const rule = catalogue.get(ruleId);
    assert(
      rule !== undefined && rule.status.kind === 'enforced',
      'Verifier.report: not an enforced rule',
      ruleId,
    );
    if (this.mode === 'off' && !rule.fatal) return;
    const stops = this.mode === 'bugcheck' || rule.fatal;
    if (stops && this.trace.on) this.traceStoppedCall(ddi, adapter);
    const v = this.record(rule, ddi, adapter, message, params ?? [], bugCheck, origin);
    if (stops) this.stopWith(v);
  }

  /** A rule break the run cannot go on from, in any mode. */
  fatal(
    ruleId: string,
    ddi: string,
    adapter: string | null,
    message: string,
    params?: BugCheckParam[],
    origin?: ViolationOrigin,
  ): never {
    const rule = catalogue.get(ruleId);
    assert(
      rule !== undefined && rule.status.kind === 'enforced',
      'Verifier.fatal: not an enforced rule',
      ruleId,
    );
    if (this.trace.on) this.traceStoppedCall(ddi, adapter);
    this.stopWith(this.record(rule, ddi, adapter, message, params ?? [], undefined, origin));
  }

  /**
   * The machine stops inside a call of `ddi` by the running driver: its trace record,
   * which the DDI writes when it returns (most do) or begins (some do), may not be there.
   * This writes it, so that the timeline shows the failing call before the violation and
   * the bug check. Only on this path: a run without a bug check traces as before. Not
   * for a callback NDIS was running (the rule names the driver's routine, not a call it
   * made), nor when NDIS, the kernel or the PnP manager runs, nor when the driver's last
   * record at this instant is that call already. The record has no arguments: they are
   * the DDI's to format, and it did not get that far.
   */
  private traceStoppedCall(ddi: string, adapter: string | null): void {
    const spec = ddiIrql[ddi];
    if (spec === undefined || spec.kind !== 'function') return;
    const k = this.kernel;
    const who = k.ctx.who;
    if (systemActors.has(who)) return;
    const ev = this.trace.events;
    for (let i = ev.length - 1; i >= 0 && ev[i]!.t === k.now; i--) {
      const e = ev[i]!;
      if (e.actor !== who) continue;
      if (e.kind === 'ddi' && e.what === ddi) return;
      break;
    }
    const data: Record<string, unknown> = {};
    const at = adapter ?? (this.adapterSource === null ? null : this.adapterSource.runningAdapterName());
    if (at !== null) data.adapter = at;
    data.result = 'no return (bug check)';
    this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, who, 'ddi', ddi, data);
  }

  /** Something worth knowing that is not a rule break (R5.19: NdisMRemoveMiniport inside halt). */
  warn(rule: string, ddi: string, adapter: string | null, message: string): void {
    const k = this.kernel;
    this.warnings.push({ rule, ddi, adapter, timeNs: k.now, message });
    if (this.trace.on) {
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'verifier', 'violation', rule, {
        severity: 'warning',
        ddi,
        adapter,
        message,
      });
    }
  }

  /** IRQL check of a DDI entry point against the generated table (rule Irql_*). */
  irql(spec: DdiIrql, ddi: string, adapter: string | null, why?: string): void {
    // The way every DDI comes in: kept small, the rest out of line (irqlOther).
    if (this.gate === GateCheck) {
      const ctx = this.kernel.ctx;
      if (ctx.held.length === 0) {
        if (spec.anyLevel) return;
        const irql = ctx.irql;
        if (irql <= spec.max && (!spec.exact || irql === spec.max)) return;
      }
    }
    this.irqlOther(spec, spec.anyLevel, spec.max, spec.exact, ddi, adapter, undefined, why);
  }

  /** The same for a conditional entry, with the bound the arguments select. */
  irqlBound(
    spec: DdiIrql,
    max: number,
    exact: boolean,
    ddi: string,
    adapter: string | null,
    rule?: string,
  ): void {
    if (this.gate === GateCheck) {
      const ctx = this.kernel.ctx;
      if (ctx.held.length === 0) {
        const irql = ctx.irql;
        if (irql <= max && (!exact || irql === max)) return;
      }
    }
    this.irqlOther(spec, false, max, exact, ddi, adapter, rule);
  }

  /**
   * An IRQL check that did not pass at once: the world not running, mode off, a lock
   * held (R8.11's warning), or a violation.
   */
  private irqlOther(
    spec: DdiIrql,
    anyLevel: boolean,
    max: number,
    exact: boolean,
    ddi: string,
    adapter: string | null,
    ruleOverride?: string,
    why?: string,
  ): void {
    // A DDI whose world is not running: a usage error, whatever the verifier's mode.
    if (this.gate === GateOutside) notRunning(ddi);
    if (this.gate === GateOff) return;
    if (this.kernel.ctx.held.length > 0) this.lockHeldAtCall(spec, ddi, adapter);
    if (anyLevel) return;
    const irql = this.kernel.ctx.irql;
    if (irql <= max && (!exact || irql === max)) return;
    this.irqlViolation(spec, max, exact, ddi, adapter, ruleOverride, why);
  }

  /** Driver and DDI pairs R8.11's warning has named already ("driver\0DDI"). */
  private lockWarned: Set<string> | null = null;

  /**
   * R8.11 (synchronization-and-notification-in-network-drivers, "Avoiding Spin Lock
   * Problems"): a driver should release every NDIS spin lock before it calls an NDIS
   * function other than the NdisXxxSpinLock ones, since the function may take a lock of
   * NDIS's own that another thread holds while it waits for the driver's: a warning,
   * once per driver and DDI, for each function with locks the caller acquired held
   * (only called when some lock is held: no cost on the common path). Not covered: the
   * spin-lock functions and the read/write lock ones (nested locks are allowed in a
   * fixed order, R8.11's other half); ndis.h macros (`ddiMacros`: they expand to kernel
   * or memory primitives, no NDIS function runs); and the DDIs that break
   * NdisSim_LockHeldAcrossCall, an error of their own. docs/decisions.md.
   */
  private lockHeldAtCall(spec: DdiIrql, ddi: string, adapter: string | null): void {
    if (spec.kind !== 'function' || this.mode === 'off') return;
    if (lockDdis.has(ddi) || ddiMacros.has(ddi) || upCallDdis.has(ddi)) return;
    const ctx = this.kernel.ctx;
    const caller = ctx.who;
    let own = 0;
    for (const s of ctx.held) if (s.by === undefined || s.by === caller) own++;
    if (own === 0) return;
    const key = `${caller}\0${ddi}`;
    this.lockWarned ??= new Set();
    if (this.lockWarned.has(key)) return;
    this.lockWarned.add(key);
    this.warn(
      'R8.11',
      ddi,
      adapter,
      `${caller} called ${ddi} holding ${own} spin lock(s) it acquired: release them before an NDIS function other than the spin-lock ones, or a lock NDIS takes inside ${ddi} may deadlock against a thread that holds it and waits for the driver's (R8.11; said once per driver and DDI)`,
    );
  }

  private irqlViolation(
    spec: DdiIrql,
    max: number,
    exact: boolean,
    ddi: string,
    adapter: string | null,
    ruleOverride?: string,
    why?: string,
  ): void {
    const irql = this.kernel.ctx.irql;
    const ruleId = ruleOverride ?? spec.irqlRule ?? 'NdisSim_Irql';
    const want = exact ? `exactly ${irqlNames[max]}` : `at most ${irqlNames[max]}`;
    const message = `${ddi} called at ${irqlNames[irql]}; it must be called ${want}${why === undefined ? '' : `: ${why}`}`;
    // A spin lock or IRQL call at the wrong IRQL: Driver Verifier's own code; parameter 2
    // is the current IRQL, and for KeRaiseIrql parameter 3 the IRQL asked for (0xC4 page).
    const own = ownIrqlBugCheck(ddi, irql < max);
    if (own !== null) {
      // The spin-lock codes (0x32, 0x40, 0x41, 0x42): parameter 3 is the spin lock's
      // address (0xC4 page), a stand-in as for other kernel addresses (review-dv #5).
      const third =
        own.p1 === raiseIrqlBadParameter ? max : spinLockCodes.has(own.p1 ?? -1) ? 'spin lock' : 0;
      this.report(ruleId, ddi, adapter, message, [irql, third, 0], own);
      return;
    }
    // DRIVER_IRQL_NOT_LESS_OR_EQUAL: parameter 1 the address (none here), 2 the IRQL, 3 the access (read).
    this.report(ruleId, ddi, adapter, message, [0, irql, 0, 0]);
  }

  private record(
    rule: RuleSpec,
    ddi: string,
    adapter: string | null,
    message: string,
    params: BugCheckParam[],
    override?: BugCheckSpec,
    origin?: ViolationOrigin,
  ): Violation {
    const k = this.kernel;
    const bc = override ?? rule.bugCheck;
    assert(bc !== null, 'Verifier.record: an enforced rule without a bug check', rule.id);
    const p: BugCheckParam[] = [];
    if (bc.p1 !== null) p.push(bc.p1);
    if (bc.p2 !== undefined && bc.p2 !== null) p.push(bc.p2);
    for (const x of params) p.push(x);
    while (p.length < 4) p.push(0);
    p.length = 4;
    adapter ??= this.adapterSource === null ? null : this.adapterSource.runningAdapterName();
    const v: Violation = {
      rule: rule.id,
      summary: rule.summaryIn?.[ddi] ?? rule.summary,
      // R8.2: an IRQL rule cites the rule-book rules of the DDI that was called.
      spec: specFor(rule, ddi),
      ddi,
      adapter,
      cpu: k.ctx.cpu,
      irql: k.ctx.irql,
      timeNs: k.now,
      tracePos: this.trace.on ? this.trace.position : -1,
      message,
      callSite: this.callSite(ddi),
      origin: origin ?? null,
      bugCheck: { code: bc.code, name: bugCheckName(bc.code), params: p },
      windowsRule: analyzeRule(bc.code, p, rule.id),
      fatal: rule.fatal,
    };
    this.violations.push(v);
    if (this.trace.on) {
      const data: Record<string, unknown> = { severity: 'violation', ddi, adapter, message };
      // Only with a call site: violations NDIS finds on its own keep their bytes.
      if (v.callSite !== null) data.at = v.callSite;
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'verifier', 'violation', rule.id, data);
    }
    return v;
  }

  /**
   * Where driver code called `ddi`, for a violation raised inside it: the first frame of
   * the JS stack that is the driver's (src/report/stack.ts), with the callback it ran
   * in. Null for a rule about a callback itself (`ddi` is a callback: NDIS checks what it
   * returned), when NDIS, the kernel or the PnP manager is running (a watchdog, a check
   * at halt), or when no frame of driver code is on the stack. Called only as a
   * violation is recorded.
   */
  private callSite(ddi: string): string | null {
    const who = this.kernel.ctx.who;
    if (systemActors.has(who)) return null;
    if (!isDdiFunction(ddi)) return null;
    const src = this.adapterSource;
    const cb = src === null ? null : src.runningFunction();
    if (cb === null || cb === ddi) return null;
    const top = driverCallSite();
    return top === null ? null : `${top} (in ${cb})`;
  }

  /** Stops the machine with `v` as its bug check; unwinds to the event loop. */
  stopWith(v: Violation): never {
    this.stoppedBy = v;
    const k = this.kernel;
    if (this.trace.on) {
      const data: Record<string, unknown> = {
        code: v.bugCheck.code,
        params: v.bugCheck.params,
        rule: v.rule,
      };
      // Only where !analyze names another rule than the model's: other traces keep their bytes.
      if (v.windowsRule !== null) data.windowsRule = v.windowsRule;
      this.trace.add(k.now, k.ctx.cpu, Irql.High, 'kernel', 'bugcheck', v.bugCheck.name, data);
    }
    this.machine.stopped = `bug check ${v.bugCheck.name} (${v.rule})`;
    throw new WorldStop(this.machine.stopped);
  }
}
