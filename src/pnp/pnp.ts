// The PnP manager: device nodes, and IRPs sent to their function driver as events.
// Like Windows, it works through one device action at a time; each action is a
// short step machine that sends an IRP and waits for its completion.
//
// Flows modelled (05-removal.md):
//   start                START_DEVICE, then QUERY_PNP_DEVICE_STATE (R5.16)
//   IoInvalidateDeviceState → QUERY_PNP_DEVICE_STATE; PNP_DEVICE_FAILED →
//                        SURPRISE_REMOVAL → REMOVE_DEVICE → Code 43 (R5.8, R5.12)
//   unplug               SURPRISE_REMOVAL → REMOVE_DEVICE; the devnode is gone (R5.5)
//   remove / disable     QUERY_REMOVE_DEVICE → REMOVE_DEVICE, or CANCEL_REMOVE_DEVICE on a veto (R5.1–R5.4)
//   stop (rebalance)     QUERY_STOP_DEVICE → STOP_DEVICE → START_DEVICE (R1.8); a failed
//                        restart → SURPRISE_REMOVAL → REMOVE_DEVICE, Code 10

import { assert, InternalError } from '../errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { Irql } from '../kernel/kernel.ts';
import {
  CM_PROB_DISABLED,
  CM_PROB_FAILED_POST_START,
  CM_PROB_FAILED_START,
  IRP_MN_CANCEL_REMOVE_DEVICE,
  IRP_MN_CANCEL_STOP_DEVICE,
  IRP_MN_NAMES,
  IRP_MN_QUERY_PNP_DEVICE_STATE,
  IRP_MN_QUERY_REMOVE_DEVICE,
  IRP_MN_QUERY_STOP_DEVICE,
  IRP_MN_REMOVE_DEVICE,
  IRP_MN_START_DEVICE,
  IRP_MN_STOP_DEVICE,
  IRP_MN_SURPRISE_REMOVAL,
  NTSTATUS_NAMES,
  PNP_DEVICE_FAILED,
  PNP_DEVICE_REMOVED,
  STATUS_SUCCESS,
} from '../ndis/generated/status.ts';
import { ChoiceSite } from '../sim/choice.ts';
import type { EventTarget } from '../sim/queue.ts';
import type { Trace } from '../trace/trace.ts';
import type { DeviceResources } from './resources.ts';

/** IRPs carry NTSTATUS values (the generated table, from ntstatus.h). */
export { STATUS_SUCCESS, STATUS_UNSUCCESSFUL } from '../ndis/generated/status.ts';

export function irpName(minor: number): string {
  return IRP_MN_NAMES.get(minor) ?? `IRP_MN_0x${minor.toString(16)}`;
}

export class Irp {
  status = STATUS_SUCCESS;
  information = 0;
  completed = false;
  /** When the PnP manager sent it (World.hungTeardowns). */
  sentNs = 0;
  constructor(
    readonly minor: number,
    readonly device: DeviceNode,
  ) {}
}

/** The function driver of a device (NDIS, for network adapters). */
export interface FunctionDriver {
  /**
   * AddDevice: loads the driver if needed and creates the FDO. Returns 0, or on failure
   * the Device Manager problem code the device shows.
   */
  addDevice(dev: DeviceNode): number;
  /** Handles a PnP IRP; completes it later through `PnpManager.completeIrp`. */
  dispatchPnp(dev: DeviceNode, irp: Irp): void;
  /** The PnP manager has no action left to work on. */
  pnpIdle?(): void;
}

/** A devnode's status, as a device list shows it; 'gone': unplugged, no longer present. */
export const deviceStatuses = [
  'not started',
  'started',
  'failed',
  'disabled',
  'removed',
  'stopped',
  'gone',
] as const;
export type DeviceStatus = (typeof deviceStatuses)[number];

export class DeviceNode {
  status: DeviceStatus = 'not started';
  problem = 0;
  /** A function driver object exists for the device (AddDevice ran, REMOVE_DEVICE not yet). */
  hasFdo = false;
  /** The function driver's extension of its FDO (NDIS's miniport block), while there is one. */
  fdoExtension: object | null = null;
  /** Set by a removal flow so that REMOVE_DEVICE knows what the devnode becomes. */
  removalReason: 'failed' | 'unplugged' | 'disabled' | 'removed' | null = null;
  /** Register window and interrupt line, when the device has hardware. */
  resources: DeviceResources | null = null;
  /** The device's registry parameters (what NdisReadConfiguration reads). */
  registry: Map<string, number | string> = new Map();
  /**
   * The hardware the bus driver powers (D0 on, D3 off), when there is some. An object,
   * not a closure: on node 20 a closure stored in a field outlives young-generation
   * collections with the whole world it captures (test/memory.test.ts).
   */
  hardware: {
    setPower(on: boolean, state?: string): void;
    armWake?(on: boolean): void;
    /** Why an interrupt now is not the device's own (MINIPORT_ISR must not claim it), or null. */
    isrNotOurs?(): string | null;
  } | null = null;
  /**
   * The device power state the bus driver last set ('D0', or the low-power state it took
   * the device to). The DDIs that reach the hardware check it (a driver cannot touch its
   * NIC once the bus took it out of D0: the OID_PNP_SET_POWER page).
   */
  powerState = 'D0';
  /** A register or port access in the current low-power stay was reported already. */
  lowPowerAccessReported = false;
  /**
   * The function driver called off the start queued for this device before it began (an
   * intermediate driver's NdisIMCancelInitializeDeviceInstance): the start lapses.
   */
  startCancelled = false;
  /**
   * The bus driver arms the device for wake-up (IRP_MN_WAIT_WAKE: PME_En set) or disarms
   * it (the IRP completed or was cancelled: PME_En clear).
   */
  armWake(on: boolean): void {
    this.hardware?.armWake?.(on);
  }
  /** The bus driver takes the device to D0 (`on`) or to the low-power `state`, and its hardware with it. */
  setPower(on: boolean, state = 'D3'): void {
    if (on) this.powerState = 'D0';
    else if (this.powerState === 'D0') {
      this.powerState = state;
      this.lowPowerAccessReported = false;
    }
    this.hardware?.setPower(on, state);
  }
  constructor(
    readonly name: string,
    readonly instanceId: string,
    readonly driverName: string,
  ) {}
}

/**
 * The trace data of the scenario action that asked for a PnP action, when the trace is
 * on: an action the PnP manager drops gets `ignored` (why) written into it, so the
 * action's own line says so (the timeline formats the trace after the run).
 */
export type ActionNote = Record<string, unknown> | null;

type Action =
  | { kind: 'start'; dev: DeviceNode; note?: ActionNote }
  | { kind: 'query-state'; dev: DeviceNode; note?: ActionNote }
  | { kind: 'surprise-remove'; dev: DeviceNode; reason: 'failed' | 'unplugged'; note?: ActionNote }
  /** `vetoBelow`: the bus driver under the FDO fails the query that the FDO passed. */
  | { kind: 'remove'; dev: DeviceNode; disable: boolean; vetoBelow: boolean; note?: ActionNote }
  | { kind: 'stop'; dev: DeviceNode; vetoBelow: boolean; note?: ActionNote };

/** Why an action finds nothing to do on a devnode (the action line's `ignored`). */
function statusReason(dev: DeviceNode): string {
  switch (dev.status) {
    case 'gone':
      return 'not present: unplugged';
    case 'started':
      return 'already started';
    case 'disabled':
      return 'already disabled';
    case 'removed':
      return 'already uninstalled';
    case 'failed':
      return `not started: Code ${dev.problem}`;
    default:
      return dev.status;
  }
}

/** PnP worker latency: a few steps of this size, drawn through the choice door. */
const stepNs = 50_000;
const steps = 4;

const Op = { Next: 0, Completed: 1 } as const;

export class PnpManager implements EventTarget {
  readonly devices: DeviceNode[] = [];
  fdoDriver: FunctionDriver | null = null;
  private readonly actions: Action[] = [];
  /** Index of the next action in `actions` (a queue without O(n) shifts). */
  private head = 0;
  /** Actions that go before the queue, last in first (a failed device's removal, R5.8). */
  private readonly urgent: Action[] = [];
  private cur: Action | null = null;
  private step = 0;
  private irp: Irp | null = null;
  private kicked = false;

  constructor(
    readonly kernel: Kernel,
    readonly trace: Trace,
  ) {}

  addDevice(name: string, instanceId: string, driverName: string): DeviceNode {
    const d = new DeviceNode(name, instanceId, driverName);
    this.devices.push(d);
    return d;
  }

  /** Enumerates and starts a device. */
  start(dev: DeviceNode, note: ActionNote = null): void {
    this.enqueue({ kind: 'start', dev, note });
  }

  /** IoInvalidateDeviceState: PnP will query the device's PnP state. */
  invalidateDeviceState(dev: DeviceNode): void {
    if (this.trace.on) this.note(dev, 'IoInvalidateDeviceState');
    this.enqueue({ kind: 'query-state', dev });
  }

  /** The bus reports the device gone: surprise removal. */
  unplug(dev: DeviceNode, note: ActionNote = null): void {
    this.enqueue({ kind: 'surprise-remove', dev, reason: 'unplugged', note });
  }

  /**
   * An orderly removal (uninstall) or a disable from Device Manager. With `vetoBelow`
   * the query passes the FDO and fails in the bus driver beneath it: a cancel follows.
   */
  requestRemoval(dev: DeviceNode, disable: boolean, vetoBelow = false, note: ActionNote = null): void {
    this.enqueue({ kind: 'remove', dev, disable, vetoBelow, note });
  }

  /** A stop for resource rebalancing, then a new start; `vetoBelow` as for a removal. */
  requestStop(dev: DeviceNode, vetoBelow = false, note: ActionNote = null): void {
    this.enqueue({ kind: 'stop', dev, vetoBelow, note });
  }

  /** A device start is under way or queued (NDIS's NetEventBindsComplete waits for them). */
  startsPending(): boolean {
    if (this.cur?.kind === 'start') return true;
    for (let i = this.head; i < this.actions.length; i++) if (this.actions[i]!.kind === 'start') return true;
    return this.urgent.some((a) => a.kind === 'start');
  }

  /** The IRP sent and not completed yet, or null (World.hungTeardowns). */
  get outstanding(): Irp | null {
    return this.irp !== null && !this.irp.completed ? this.irp : null;
  }

  /** Anything the PnP manager is still working on, for `pending()` reports. */
  pending(): string | null {
    if (this.irp !== null && !this.irp.completed) {
      return `${irpName(this.irp.minor)} to ${this.irp.device.name} not completed`;
    }
    // An IRP that completed just before the run stopped: the worker had not taken it up.
    if (this.irp !== null) {
      const st = NTSTATUS_NAMES.get(this.irp.status) ?? `0x${(this.irp.status >>> 0).toString(16)}`;
      return `${irpName(this.irp.minor)} to ${this.irp.device.name} completed (${st}), not yet processed by PnP`;
    }
    if (this.cur !== null) return `PnP action ${this.cur.kind} on ${this.cur.dev.name} in progress`;
    return null;
  }

  /**
   * The IRP the PnP manager has out to `dev`: sent and not completed, or completed and
   * not yet processed (its worker runs a few steps later), as a summary reports it; null
   * when there is none.
   */
  irpOf(dev: DeviceNode): { name: string; completed: boolean; status: number } | null {
    const irp = this.irp;
    if (irp === null || irp.device !== dev) return null;
    return { name: irpName(irp.minor), completed: irp.completed, status: irp.status };
  }

  /**
   * The function driver tore down the stack of a started device on its own and deleted
   * its FDO, without a removal IRP (an intermediate driver's virtual miniport after
   * NdisIMDeInitializeDeviceInstance): the devnode stays installed, not started, and a
   * later start builds a new FDO.
   */
  stackGone(dev: DeviceNode): void {
    dev.hasFdo = false;
    this.setStatus(dev, 'not started', 0);
    if (this.trace.on) this.note(dev, 'device stack gone (its function driver tore it down)');
  }

  completeIrp(irp: Irp, status: number, information = 0): void {
    if (irp.completed) throw new InternalError('completeIrp: IRP completed twice', [irp.minor]);
    if (irp !== this.irp) throw new InternalError('completeIrp: not the IRP in flight', [irp.minor]);
    irp.completed = true;
    irp.status = status;
    irp.information = information;
    if (this.trace.on) {
      const k = this.kernel;
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'pnp', 'irp', irpName(irp.minor), {
        device: irp.device.name,
        phase: 'completed',
        status,
        information,
      });
    }
    if (irp.minor === IRP_MN_REMOVE_DEVICE && status === STATUS_SUCCESS) this.removed(irp.device);
    this.kick();
  }

  /**
   * REMOVE_DEVICE succeeded: the stack is gone, and the devnode shows what the removal
   * made of it. Recorded as the IRP completes, before the function driver may unload,
   * so a driver that breaks a rule in its unload leaves the device list right.
   */
  private removed(dev: DeviceNode): void {
    dev.hasFdo = false;
    const why = dev.removalReason;
    dev.removalReason = null;
    // The bus driver takes power from a device still present ("Removing a Device in a
    // Bus Driver"): a NIC its driver left running goes quiet here, not at the end of
    // the run.
    if (why !== 'unplugged') dev.setPower(false, 'D3');
    if (why === 'failed') this.setStatus(dev, 'failed', CM_PROB_FAILED_POST_START);
    else if (why === 'disabled') this.setStatus(dev, 'disabled', CM_PROB_DISABLED);
    else if (why === 'removed') this.setStatus(dev, 'removed', 0);
    else if (why === 'unplugged') this.setStatus(dev, 'gone', 0);
    // null: the stack of a failed start goes, and the devnode keeps its Code 10.
  }

  // ------------------------------------------------------------- machinery

  private enqueue(a: Action): void {
    this.actions.push(a);
    this.kick();
  }

  private kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    const n = this.kernel.machine.choose(ChoiceSite.PnpLatency, steps);
    this.kernel.machine.after((n + 1) * stepNs, this, Op.Next, null);
  }

  fire(_op: number, _arg: unknown): void {
    this.kicked = false;
    const k = this.kernel;
    const c = k.enter(k.pickCpu(), Irql.Passive, 'pnp', 'worker');
    try {
      this.advance();
    } finally {
      k.exit(c);
    }
  }

  private send(minor: number, dev: DeviceNode): void {
    const irp = new Irp(minor, dev);
    irp.sentNs = this.kernel.now;
    this.irp = irp;
    if (this.trace.on) {
      const k = this.kernel;
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'pnp', 'irp', irpName(minor), {
        device: dev.name,
        phase: 'sent',
      });
    }
    assert(this.fdoDriver !== null, 'PnpManager: no function driver');
    this.fdoDriver.dispatchPnp(dev, irp);
  }

  private setStatus(dev: DeviceNode, status: DeviceStatus, problem: number): void {
    dev.status = status;
    dev.problem = problem;
    if (this.trace.on) {
      const k = this.kernel;
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'pnp', 'device', status, { device: dev.name, problem });
    }
  }

  private note(dev: DeviceNode, what: string): void {
    if (this.trace.on) {
      const k = this.kernel;
      this.trace.add(k.now, k.ctx.cpu, k.ctx.irql, 'pnp', 'device', what, { device: dev.name });
    }
  }

  /**
   * The current action has nothing to do: like Windows, the PnP manager drops it, and
   * the scenario action's line says why (review-pnp #4). Returns false (the action is over).
   */
  private ignore(why: string): false {
    const note = this.cur?.note;
    if (note !== undefined && note !== null) note.ignored = why;
    return false;
  }

  private nextAction(): Action | undefined {
    if (this.urgent.length > 0) return this.urgent.pop();
    if (this.head === this.actions.length) return undefined;
    const a = this.actions[this.head++];
    if (this.head > 1024 && this.head * 2 > this.actions.length) {
      this.actions.splice(0, this.head);
      this.head = 0;
    }
    return a;
  }

  /** Runs the current action as far as it can go; takes the next one when it ends. */
  private advance(): void {
    for (;;) {
      if (this.irp !== null && !this.irp.completed) return; // waiting for the function driver
      // Each completed IRP is handed to exactly one step.
      const done = this.irp;
      this.irp = null;
      if (this.cur === null) {
        const next = this.nextAction();
        if (next === undefined) {
          this.fdoDriver?.pnpIdle?.();
          return;
        }
        this.cur = next;
        this.step = 0;
      }
      if (!this.stepAction(this.cur, done)) this.cur = null;
      // An IRP was sent: its completion kicks the worker again, as a new event.
      if (this.irp !== null) return;
    }
  }

  /** One step of `a`; false when the action is over. */
  private stepAction(a: Action, irp: Irp | null): boolean {
    const dev = a.dev;
    switch (a.kind) {
      case 'start':
        return this.stepStart(dev, irp);
      case 'query-state':
        return this.stepQueryState(dev, irp);
      case 'surprise-remove':
        return this.stepSurpriseRemove(dev, irp, a.reason);
      case 'remove':
        return this.stepRemove(dev, irp, a.disable, a.vetoBelow);
      case 'stop':
        return this.stepStop(dev, irp, a.vetoBelow);
    }
  }

  private stepStart(dev: DeviceNode, irp: Irp | null): boolean {
    if (this.step === 0) {
      if (dev.startCancelled) {
        dev.startCancelled = false;
        if (this.trace.on) this.note(dev, 'start cancelled by its function driver');
        return false;
      }
      if (dev.status === 'gone' || dev.status === 'started') return this.ignore(statusReason(dev));
      if (!dev.hasFdo) {
        assert(this.fdoDriver !== null, 'PnpManager: no function driver');
        const problem = this.fdoDriver.addDevice(dev);
        if (problem !== 0) {
          this.setStatus(dev, 'failed', problem);
          return false;
        }
        dev.hasFdo = true;
      }
      // Powered down by an earlier removal: the bus driver powers it up to start it.
      dev.setPower(true);
      this.step = 1;
      this.send(IRP_MN_START_DEVICE, dev);
      return true;
    }
    if (this.step === 1) {
      assert(irp !== null, 'start: no IRP');
      if (irp.status !== STATUS_SUCCESS) return this.failStart(dev, 3);
      this.setStatus(dev, 'started', 0);
      // After a successful start the PnP manager queries the device state (R5.16).
      this.step = 2;
      this.send(IRP_MN_QUERY_PNP_DEVICE_STATE, dev);
      return true;
    }
    // Step 3: the failed start's REMOVE_DEVICE is done (`removed`).
    if (this.step === 3) return false;
    assert(irp !== null, 'start: no query IRP');
    this.afterStateQuery(dev, irp);
    return false;
  }

  /**
   * A start failed: the devnode shows Code 10 (R2.5), and the PnP manager removes the
   * device's stack with IRP_MN_REMOVE_DEVICE, so the FDO, and its device-failed flag
   * with it, goes (R5.16); a later start builds a new one (R5.15).
   */
  private failStart(dev: DeviceNode, next: number): boolean {
    this.setStatus(dev, 'failed', CM_PROB_FAILED_START);
    dev.removalReason = null;
    this.step = next;
    this.send(IRP_MN_REMOVE_DEVICE, dev);
    return true;
  }

  private stepQueryState(dev: DeviceNode, irp: Irp | null): boolean {
    if (this.step === 0) {
      // Only a started device is queried; an invalidation of anything else lapses (R5.16).
      if (dev.status !== 'started') return false;
      this.step = 1;
      this.send(IRP_MN_QUERY_PNP_DEVICE_STATE, dev);
      return true;
    }
    assert(irp !== null, 'query-state: no IRP');
    this.afterStateQuery(dev, irp);
    return false;
  }

  private afterStateQuery(dev: DeviceNode, irp: Irp): void {
    if (irp.status !== STATUS_SUCCESS) return;
    if ((irp.information & PNP_DEVICE_FAILED) !== 0 || (irp.information & PNP_DEVICE_REMOVED) !== 0) {
      // R5.8: a device that reports itself failed is surprise-removed.
      this.urgent.push({ kind: 'surprise-remove', dev, reason: 'failed' });
    }
  }

  private stepSurpriseRemove(dev: DeviceNode, irp: Irp | null, reason: 'failed' | 'unplugged'): boolean {
    switch (this.step) {
      case 0:
        if (reason === 'unplugged' && dev.status === 'gone') return this.ignore(statusReason(dev));
        if (reason === 'unplugged' && dev.status !== 'started') {
          // Nothing is running on it: the devnode just goes away.
          if (dev.hasFdo) {
            dev.removalReason = 'unplugged';
            this.step = 2;
            this.send(IRP_MN_REMOVE_DEVICE, dev);
            return true;
          }
          this.setStatus(dev, 'gone', 0);
          return false;
        }
        if (dev.status !== 'started') return false;
        dev.removalReason = reason;
        this.step = 1;
        this.send(IRP_MN_SURPRISE_REMOVAL, dev);
        return true;
      case 1:
        // R5.5: the surprise-removal IRP cannot fail. REMOVE_DEVICE follows once
        // every handle to the device is closed; the model has no open handles.
        this.step = 2;
        this.send(IRP_MN_REMOVE_DEVICE, dev);
        return true;
      default:
        // The devnode's status was recorded as REMOVE_DEVICE completed (`removed`).
        assert(irp !== null && irp.minor === IRP_MN_REMOVE_DEVICE, 'surprise-remove: no remove IRP');
        return false;
    }
  }

  /**
   * A query the FDO passed that the bus driver beneath it fails (`vetoBelow`): the IRP's
   * status on its way back up. The FDO saw success; the PnP manager sees the failure.
   */
  private failedBelow(dev: DeviceNode, irp: Irp, vetoBelow: boolean): boolean {
    if (irp.status !== STATUS_SUCCESS) return true;
    if (!vetoBelow) return false;
    if (this.trace.on) this.note(dev, `${irpName(irp.minor)} failed by the bus driver below the FDO`);
    return true;
  }

  private stepRemove(dev: DeviceNode, irp: Irp | null, disable: boolean, vetoBelow: boolean): boolean {
    switch (this.step) {
      case 0:
        if (dev.status === 'gone' || dev.status === 'removed' || (disable && dev.status === 'disabled'))
          return this.ignore(statusReason(dev));
        if (!dev.hasFdo) {
          // No driver stack (Code 43, 10 or 31, or never started): nothing to send an IRP
          // to. Device Manager's disable still leaves the devnode disabled (Code 22), and an
          // uninstall still deletes it (review-pnp #1; device-manager-error-messages).
          if (this.trace.on)
            this.note(dev, `${disable ? 'disabled' : 'uninstalled'} with no driver stack: no IRP to send`);
          if (disable) this.setStatus(dev, 'disabled', CM_PROB_DISABLED);
          else this.setStatus(dev, 'removed', 0);
          return false;
        }
        if (dev.status !== 'started') {
          // A device that never started (or failed) is removed without a query.
          this.step = 2;
          dev.removalReason = disable ? 'disabled' : 'removed';
          this.send(IRP_MN_REMOVE_DEVICE, dev);
          return true;
        }
        this.step = 1;
        this.send(IRP_MN_QUERY_REMOVE_DEVICE, dev);
        return true;
      case 1:
        assert(irp !== null, 'remove: no query IRP');
        if (this.failedBelow(dev, irp, vetoBelow)) {
          // A veto: the removal is cancelled (R5.1, R5.3).
          this.step = 3;
          this.send(IRP_MN_CANCEL_REMOVE_DEVICE, dev);
          return true;
        }
        dev.removalReason = disable ? 'disabled' : 'removed';
        this.step = 2;
        this.send(IRP_MN_REMOVE_DEVICE, dev);
        return true;
      case 2:
        // The devnode's status was recorded as REMOVE_DEVICE completed (`removed`).
        return false;
      default:
        // A vetoed disable leaves the device running. Windows then keeps the disable for
        // the next restart and asks for one (the Win32_PnPEntity Disable method's
        // rebootNeeded); the model has no restart, so the device stays started (review-pnp #6).
        this.note(
          dev,
          disable
            ? 'disable vetoed: the device keeps running (Windows would disable it at the next restart)'
            : 'removal vetoed: the device keeps running',
        );
        return false;
    }
  }

  private stepStop(dev: DeviceNode, irp: Irp | null, vetoBelow: boolean): boolean {
    switch (this.step) {
      case 0:
        if (dev.status !== 'started')
          return this.ignore(
            dev.status === 'gone'
              ? statusReason(dev)
              : dev.problem !== 0
                ? `not started: Code ${dev.problem}`
                : dev.status === 'removed'
                  ? 'not started: uninstalled'
                  : 'not started',
          );
        this.step = 1;
        this.send(IRP_MN_QUERY_STOP_DEVICE, dev);
        return true;
      case 1:
        assert(irp !== null, 'stop: no query IRP');
        if (this.failedBelow(dev, irp, vetoBelow)) {
          this.step = 4;
          this.send(IRP_MN_CANCEL_STOP_DEVICE, dev);
          return true;
        }
        this.step = 2;
        this.send(IRP_MN_STOP_DEVICE, dev);
        return true;
      case 2:
        this.setStatus(dev, 'stopped', 0);
        // Resources rebalanced: start again (R1.8).
        this.step = 3;
        this.send(IRP_MN_START_DEVICE, dev);
        return true;
      case 3:
        assert(irp !== null, 'stop: no start IRP');
        if (irp.status !== STATUS_SUCCESS) {
          // A start that fails after a successful stop: the PnP manager surprise-removes
          // the device, which is probably still there, and removes its stack (Handling
          // an IRP_MN_SURPRISE_REMOVAL Request; review-pnp #3). The devnode keeps its
          // Code 10 (R2.5), as after any failed start (R5.16).
          this.setStatus(dev, 'failed', CM_PROB_FAILED_START);
          dev.removalReason = null;
          this.step = 5;
          this.send(IRP_MN_SURPRISE_REMOVAL, dev);
          return true;
        }
        this.setStatus(dev, 'started', 0);
        return false;
      case 5:
        // R5.5: the surprise-removal IRP cannot fail; REMOVE_DEVICE follows.
        this.step = 6;
        this.send(IRP_MN_REMOVE_DEVICE, dev);
        return true;
      default:
        // 6: the failed restart's REMOVE_DEVICE is done (`removed`).
        return false;
    }
  }
}
