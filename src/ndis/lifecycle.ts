// NDIS's PnP procedures on an adapter, as explicit step machines (docs/decisions.md,
// "Tables, layering and state"): bring-up after START_DEVICE (R2.3–R2.7, R7.8–R7.10) and teardown
// for surprise removal, removal and stop (R5.4–R5.8, R7.11), ending in halt
// (R2.8–R2.12). Every step either acts or waits; whatever completes a wait kicks
// the adapter's worker, which runs `advance` again. Steps are idempotent.

import { assert } from '../errors.ts';
import { Irql } from '../kernel/kernel.ts';
import type { Irp } from '../pnp/pnp.ts';
import { STATUS_SUCCESS, STATUS_UNSUCCESSFUL } from '../pnp/pnp.ts';
import type { MessageInterrupts } from '../pnp/resources.ts';
import { statusText } from '../verifier/bugcheck.ts';
import { ndisCheck } from '../verifier/catalogue.ts';
import { checkDmaAfterInit, dmaLeftAtEnd } from './api/dma.ts';
import { genericObjectsLeft } from './api/generic.ts';
import { nblApiLeftAtEnd } from './api/nblapi.ts';
import { pollsLeftAtEnd } from './api/poll.ts';
import type { Binding, NetEventCode } from './binding.ts';
import { Binding as BindingImpl } from './binding.ts';
import type { MiniportBlock, PendingPause, PnpOp, TeardownWhy } from './block.ts';
import { removeFrom } from './block.ts';
import {
  attachFilters,
  detachFilters,
  deviceEvent,
  devicePnPEventDown,
  netEventUp,
  pauseFilters,
  restartFilters,
  stepRestack,
} from './filter.ts';
import {
  NDIS_BUGCHECK_HALT_INIT_WITHOUT_CANCEL_TIMER,
  NDIS_BUGCHECK_HALT_INIT_WITHOUT_INTERRUPT_DEREGISTER,
} from './generated/rules.ts';
import {
  CM_RESOURCE_INTERRUPT_LATCHED,
  CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE,
  CM_RESOURCE_INTERRUPT_MESSAGE,
  CM_RESOURCE_MEMORY_READ_WRITE,
  CM_RESOURCE_PORT_IO,
  CmResourceShareDeviceExclusive,
  CmResourceShareShared,
  CmResourceTypeInterrupt,
  CmResourceTypeMemory,
  CmResourceTypePort,
  IRP_MN_CANCEL_REMOVE_DEVICE,
  IRP_MN_CANCEL_STOP_DEVICE,
  IRP_MN_QUERY_PNP_DEVICE_STATE,
  IRP_MN_QUERY_REMOVE_DEVICE,
  IRP_MN_QUERY_STOP_DEVICE,
  IRP_MN_REMOVE_DEVICE,
  IRP_MN_START_DEVICE,
  IRP_MN_STOP_DEVICE,
  IRP_MN_SURPRISE_REMOVAL,
  NDIS_DEVICE_PNP_EVENT_NAMES,
  NDIS_DEVICE_POWER_STATE_NAMES,
  NDIS_HALT_ACTION_NAMES,
  NDIS_MINIPORT_INIT_PARAMETERS_REVISION_1,
  NDIS_MINIPORT_PAUSE_PARAMETERS_REVISION_1,
  NDIS_MINIPORT_RESTART_PARAMETERS_REVISION_1,
  NDIS_OBJECT_TYPE_DEFAULT,
  NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS,
  NDIS_PAUSE_MINIPORT_DEVICE_REMOVE,
  NDIS_PAUSE_NDIS_INTERNAL,
  NDIS_PAUSE_REASON_NAMES,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_RESOURCES,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventPowerProfileChanged,
  NdisDevicePnPEventSurpriseRemoved,
  NdisHaltDeviceDisabled,
  NdisHaltDeviceFailed,
  NdisHaltDeviceInitializationFailed,
  NdisHaltDeviceInstanceDeInitialized,
  NdisHaltDevicePoweredDown,
  NdisHaltDeviceStopped,
  NdisHaltDeviceSurpriseRemoved,
  NdisPowerProfileAcOnLine,
  NdisShutdownPowerOff,
  PNP_DEVICE_FAILED,
} from './generated/status.ts';
import type { NblImpl } from './nbl.ts';
import type { Ndis } from './ndis.ts';
import { placeText } from './objects.ts';
import { kickOids } from './oid.ts';
import { callRemoveDevice, callStartDevice } from './pnp-handlers.ts';
import { defaultPortActive, portEventNumbers, portsAtEnd } from './ports.ts';
import { checkAsleep, powerTakenOver, powerUpForStart, stepPower } from './power.ts';
import { cancelHangTimer } from './reset.ts';
import { SituationKind, situationCode } from './situations.ts';
import { endSelectiveSuspend, ssSettled, startSelectiveSuspend } from './ss.ts';
import { statesDeferring } from './states.ts';
import type {
  CM_PARTIAL_RESOURCE_DESCRIPTOR,
  NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_RESOURCE_LIST,
  NET_DEVICE_PNP_EVENT,
} from './types.ts';
import { removeApplicationWolPatterns } from './wol.ts';

/**
 * Runs one step of the adapter's current PnP operation. NDIS does each step in a
 * worker thread; between steps other CPUs run, so each step is its own event.
 */
export function advance(n: Ndis, b: MiniportBlock): void {
  const op = b.op;
  if (op === null) return;
  // One step at a time (R1.2: one halt, one move to Halted). A handler that waits lets
  // other events run, and one of them may kick the worker: that step is not over yet.
  if (b.stepping) {
    b.rekick = true;
    return;
  }
  b.stepping = true;
  // No finally: a step that throws ends the run (bug check, driver exception).
  const moved =
    op.kind === 'bring-up'
      ? stepBringUp(n, b, op)
      : op.kind === 'teardown'
        ? stepTeardown(n, b, op)
        : op.kind === 'restack'
          ? stepRestack(n, b, op)
          : stepPower(n, b, op);
  b.stepping = false;
  if ((moved || b.rekick) && b.op !== null) {
    b.rekick = false;
    n.kick(b);
  }
  if (n.bindsCompleteWaiting) n.bindsProgress();
}

// ------------------------------------------------------------------ IRPs

export function dispatchPnp(n: Ndis, b: MiniportBlock, irp: Irp): void {
  switch (irp.minor) {
    case IRP_MN_START_DEVICE:
      startDevice(n, b, irp);
      return;
    case IRP_MN_QUERY_PNP_DEVICE_STATE: {
      // R5.12: a failed device reports PNP_DEVICE_FAILED.
      const info = b.deviceFailed ? PNP_DEVICE_FAILED : 0;
      if (n.trace.on)
        n.traceNdis(b, b.deviceFailed ? 'reports PNP_DEVICE_FAILED' : 'reports device state OK', {});
      n.pnp.completeIrp(irp, STATUS_SUCCESS, info);
      return;
    }
    case IRP_MN_SURPRISE_REMOVAL:
      surpriseRemoval(n, b, irp);
      return;
    case IRP_MN_REMOVE_DEVICE:
      removeDevice(n, b, irp);
      return;
    case IRP_MN_QUERY_REMOVE_DEVICE:
      queryRemove(n, b, irp);
      return;
    case IRP_MN_CANCEL_REMOVE_DEVICE:
      cancelRemove(n, b, irp);
      return;
    case IRP_MN_QUERY_STOP_DEVICE:
      queryStop(n, b, irp);
      return;
    case IRP_MN_CANCEL_STOP_DEVICE:
      b.pnpState = 'Started';
      n.pnp.completeIrp(irp, STATUS_SUCCESS);
      return;
    case IRP_MN_STOP_DEVICE:
      stopDevice(n, b, irp);
      return;
  }
  n.pnp.completeIrp(irp, STATUS_SUCCESS);
}

function startDevice(n: Ndis, b: MiniportBlock, irp: Irp): void {
  if (b.state !== 'Halted') {
    n.pnp.completeIrp(irp, STATUS_SUCCESS);
    return;
  }
  // R5.15: a start does not clear the device-failed flag of this FDO, and NDIS does not
  // start a miniport it marked failed again (a stop that passed its query before the
  // flag was set, say): no MiniportStartDevice, no MiniportInitializeEx. The start
  // completes with the adapter halted, and the state query that follows it reports
  // PNP_DEVICE_FAILED (R5.12), so PnP removes the device (Code 43).
  if (b.deviceFailed) {
    b.pnpState = 'Started';
    if (b.power !== null) powerUpForStart(n, b);
    if (n.trace.on) n.traceNdis(b, 'not initialized again: the device failed (R5.15)', {});
    n.pnp.completeIrp(irp, STATUS_SUCCESS);
    return;
  }
  // MiniportStartDevice comes before NDIS passes the IRP down, and so before
  // MiniportInitializeEx; its failure fails the start (Code 10).
  if (b.driver.pnp !== null && callStartDevice(n, b) !== NDIS_STATUS_SUCCESS) {
    if (n.trace.on) n.traceNdis(b, 'start failed: MiniportStartDevice failed', {});
    n.pnp.completeIrp(irp, STATUS_UNSUCCESSFUL);
    return;
  }
  b.pnpState = 'Started';
  // A device stopped while asleep (in D3) is in D0 again once started: the start
  // re-initializes it, so the resume has nothing left to do (power.ts).
  if (b.power !== null) powerUpForStart(n, b);
  b.op = { kind: 'bring-up', step: 'init', irp, restartCalled: false };
  n.kick(b);
}

/** R1.4: the states in which NDIS holds back MiniportPause (the state table's defer lists). */
const pauseDeferredIn = statesDeferring('MiniportPause');

/** The sends in the miniport at a SurpriseRemoved notification, when there are none. */
const noSends: ReadonlySet<NblImpl> = new Set();

function surpriseRemoval(n: Ndis, b: MiniportBlock, irp: Irp): void {
  if (n.situationsOn) n.noteSituation(situationCode(SituationKind.SurpriseRemoval, b));
  b.surpriseRemoved = true;
  b.pnpState = 'SurpriseRemoved';
  // R5.6 (option surpriseRemovalOrder; current ndis.sys: the miniport first), R5.7.
  const protocolsFirst = n.options.surpriseRemovalOrder === 'protocols-first';
  if (protocolsFirst) notifyProtocolsOfRemoval(n, b);
  if (b.initialized && b.state !== 'Halted') {
    devicePnPEventNotify(n, b, NdisDevicePnPEventSurpriseRemoved);
    const sends = b.inFlight.size === 0 ? noSends : new Set(b.inFlight);
    b.removalNotified = { sends, oid: b.oid, warned: 0, touched: false };
  }
  const op = beginTeardown(n, b, 'surprise-removal');
  if (op !== null && protocolsFirst && op.step === 'notify') op.step = 'pause-protocols';
  if (n.options.surpriseRemovalCompletes === 'early' || op === null) n.pnp.completeIrp(irp, STATUS_SUCCESS);
  else op.waiting.push(irp);
}

function removeDevice(n: Ndis, b: MiniportBlock, irp: Irp): void {
  b.pnpState = 'Removed';
  if (b.op !== null && b.op.kind === 'teardown') {
    // R5.4: after a surprise removal the remove IRP waits for that teardown; no second halt.
    b.op.waiting.push(irp);
    n.kick(b);
    return;
  }
  const op = beginTeardown(n, b, 'remove');
  if (op === null) finishRemove(n, b, irp);
  else op.waiting.push(irp);
}

function queryRemove(n: Ndis, b: MiniportBlock, irp: Irp): void {
  // R5.2: NDIS refuses when the device-failed flag is set.
  if (b.deviceFailed) {
    if (n.trace.on) n.traceNdis(b, 'query-remove refused: device failed (R5.2)', {});
    n.pnp.completeIrp(irp, STATUS_UNSUCCESSFUL);
    return;
  }
  // R5.1: the filter modules and every bound protocol hear of it (R7.7); a veto fails
  // the IRP if the option says so.
  const vetoed = netEventUp(n, b, 'NetEventQueryRemoveDevice', null) !== NDIS_STATUS_SUCCESS;
  if (vetoed && n.options.honourProtocolVeto) {
    if (n.trace.on) n.traceNdis(b, 'query-remove vetoed by a protocol (R5.1)', {});
    n.pnp.completeIrp(irp, STATUS_UNSUCCESSFUL);
    return;
  }
  b.pnpState = 'QueryRemoved';
  n.pnp.completeIrp(irp, STATUS_SUCCESS);
}

function cancelRemove(n: Ndis, b: MiniportBlock, irp: Irp): void {
  // R5.3: the adapter carries on.
  netEventUp(n, b, 'NetEventCancelRemoveDevice', null);
  if (b.pnpState === 'QueryRemoved') b.pnpState = 'Started';
  n.pnp.completeIrp(irp, STATUS_SUCCESS);
}

function queryStop(n: Ndis, b: MiniportBlock, irp: Irp): void {
  // R5.2 names query-remove; the model refuses a stop too, as the removal's query does
  // (docs/decisions.md): a failed device is not stopped and started again.
  if (b.deviceFailed) {
    if (n.trace.on) n.traceNdis(b, 'query-stop refused: device failed (R5.2)', {});
    n.pnp.completeIrp(irp, STATUS_UNSUCCESSFUL);
    return;
  }
  b.pnpState = 'QueryStopped';
  n.pnp.completeIrp(irp, STATUS_SUCCESS);
}

function stopDevice(n: Ndis, b: MiniportBlock, irp: Irp): void {
  b.pnpState = 'Stopped';
  const op = beginTeardown(n, b, 'stop');
  if (op === null) n.pnp.completeIrp(irp, STATUS_SUCCESS);
  else op.waiting.push(irp);
}

/** Starts a teardown unless the adapter is already down; returns it, or null when there is nothing to tear down. */
export function beginTeardown(
  n: Ndis,
  b: MiniportBlock,
  why: TeardownWhy,
): Extract<PnpOp, { kind: 'teardown' }> | null {
  if (b.op !== null && b.op.kind === 'teardown') return b.op;
  // A removal that takes over an adapter on its way to D3 ends that transition: if it
  // was the last one under way, the system reaches S3/S4 now (power.ts). Not while a step
  // of the sleep is in the driver (a power-down MiniportHaltEx that waits): that step
  // notices the removal when it returns, and checks then.
  const endsSleep = b.op !== null && b.op.kind === 'sleep' && !b.stepping;
  if (b.op !== null && (b.op.kind === 'sleep' || b.op.kind === 'wake'))
    powerTakenOver(n, b, b.op, why === 'stop');
  if (b.state === 'Halted' && b.bindings.length === 0) {
    b.op = null;
    if (endsSleep) checkAsleep(n);
    return null;
  }
  const op: Extract<PnpOp, { kind: 'teardown' }> = {
    kind: 'teardown',
    step: why === 'surprise-removal' ? 'notify' : 'pause-protocols',
    why,
    waiting: [],
    sinceNs: n.now,
  };
  b.op = op;
  if (n.trace.on) n.traceNdis(b, `teardown begins (${why})`, {});
  // Requests held while a sleep had the adapter in D3 go on now (oid.ts).
  if (b.oidQueue.length > 0) kickOids(n, b);
  n.kick(b);
  if (endsSleep) checkAsleep(n);
  return op;
}

function finishRemove(n: Ndis, b: MiniportBlock, irp: Irp): void {
  // The FDO goes; the driver unloads after its last adapter (R2.16, R5.12).
  assert(!b.fdoDeleted, 'finishRemove: the FDO was deleted already', b.name);
  // MiniportRemoveDevice undoes MiniportAddDevice, after the last halt, as the FDO goes.
  if (b.driver.pnp !== null) callRemoveDevice(n, b);
  // A port range claimed outside MiniportInitializeEx (MiniportAddDevice, say) that no
  // halt released goes with the FDO, reported.
  if (n.ioPortRanges !== null) portRangesAtFdoEnd(n, b, 'MiniportRemoveDevice', 'returned');
  b.fdoDeleted = true;
  b.pnpState = 'Removed';
  b.driver.adapterCount--;
  b.dev.fdoExtension = null;
  // A virtual miniport's instance may be initialized again (NdisIMInitializeDeviceInstanceEx).
  if (b.im !== null) b.im.state = 'idle';
  if (n.trace.on) n.traceNdis(b, 'FDO deleted', {});
  n.pnp.completeIrp(irp, STATUS_SUCCESS);
  n.unloadDriverIfIdle(b.driver);
}

/**
 * The end of NdisIMDeInitializeDeviceInstance: the virtual miniport is halted, and its
 * FDO goes as it would with a removal, without an IRP; the devnode stays installed and
 * not started, ready for the next NdisIMInitializeDeviceInstanceEx.
 */
export function finishImDeInit(n: Ndis, b: MiniportBlock): void {
  assert(!b.fdoDeleted, 'finishImDeInit: the FDO was deleted already', b.name);
  if (b.driver.pnp !== null) callRemoveDevice(n, b);
  if (n.ioPortRanges !== null) portRangesAtFdoEnd(n, b, 'MiniportRemoveDevice', 'returned');
  b.fdoDeleted = true;
  b.pnpState = 'Removed';
  b.driver.adapterCount--;
  b.dev.fdoExtension = null;
  if (b.im !== null) b.im.state = 'idle';
  if (n.trace.on) n.traceNdis(b, 'FDO deleted (NdisIMDeInitializeDeviceInstance)', {});
  n.pnp.stackGone(b.dev);
  n.unloadDriverIfIdle(b.driver);
}

// --------------------------------------------------------------- bring-up

function stepBringUp(n: Ndis, b: MiniportBlock, op: Extract<PnpOp, { kind: 'bring-up' }>): boolean {
  switch (op.step) {
    case 'init':
      return initialize(n, b, op);
    case 'attach':
      // R7.8: the filter modules attach bottom-up once the miniport is Paused; R7.12:
      // and once the default port is active (NdisMNetPnPEvent kicks the worker).
      if (b.state !== 'Paused' || !defaultPortActive(b)) return false;
      if (!attachFilters(n, b)) {
        // A mandatory module failed (attaching-a-filter-module): NDIS stops the stack.
        b.op = null;
        beginTeardown(n, b, 'stack-failed');
        return false;
      }
      op.step = 'bind';
      return true;
    case 'bind': {
      // R7.8: protocols bind once the miniport is Paused.
      if (b.state !== 'Paused' && b.state !== 'Restarting' && b.state !== 'Running') return false;
      if (op.irp !== null) return false;
      // R7.12: no binding while a default port the miniport controls is inactive.
      if (!defaultPortActive(b)) return false;
      // Protocol drivers' services start with the first stack that binds.
      if (n.protocolInstalls.length > 0) n.loadProtocolDrivers();
      for (const p of n.protocols) {
        if (b.bindings.some((x) => x.protocol === p) || p.declines?.(b) === true) continue;
        bindProtocol(n, b, new BindingImpl(p, b));
      }
      if (b.bindings.some((x) => x.state === 'Opening')) return false;
      op.step = 'restart';
      return true;
    }
    case 'restart':
    case 'restart-protocols': {
      const r = restartStackStep(n, b, op);
      if (r === 'advance') op.step = op.step === 'restart' ? 'restart-protocols' : 'done';
      else if (r === 'failed') b.op = null;
      return r === 'advance' || r === 'again';
    }
    case 'done':
      b.op = null;
      if (n.trace.on) n.traceNdis(b, 'stack running', {});
      return false;
  }
}

/**
 * A KAFFINITY of the first `cpus` CPUs. Like MINIPORT_ISR's TargetProcessors in the
 * model, it covers the first 32 CPUs (a ULONG; beyond, a number would lose bits).
 */
export function affinityOf(cpus: number): number {
  return 2 ** Math.min(cpus, 32) - 1;
}

/**
 * The device's resources as NDIS hands them over (NDIS_RESOURCE_LIST): its register
 * window, then its interrupt, then its I/O port range when it has one. The interrupt
 * is a level-sensitive line that any CPU may take, or, for an MSI-capable device, its
 * messages (see `messageDescriptors`). The lists are raw unless `translated`; the
 * model's HAL translates no address, so the two differ only in a message descriptor's
 * `u.MessageInterrupt.Raw` or `.Translated`.
 */
export function resourcesOf(b: MiniportBlock, translated = false): NDIS_RESOURCE_LIST | null {
  const r = b.dev.resources;
  if (r === null) return null;
  const memory = { Start: r.memoryBase, Length: r.memoryLength };
  const affinity = affinityOf(b.ndis.kernel.cpuCount);
  const list: NDIS_RESOURCE_LIST = {
    Version: 1,
    Revision: 1,
    Count: 2,
    PartialDescriptors: [
      {
        Type: CmResourceTypeMemory,
        ShareDisposition: CmResourceShareDeviceExclusive,
        Flags: CM_RESOURCE_MEMORY_READ_WRITE,
        u: { Memory: memory, Generic: memory },
      },
    ],
  };
  if (r.msi === null) {
    list.PartialDescriptors.push({
      Type: CmResourceTypeInterrupt,
      ShareDisposition: CmResourceShareShared,
      Flags: CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE,
      u: {
        Interrupt: {
          Level: r.line.vector,
          Vector: r.line.vector,
          Affinity: affinity,
        },
      },
    });
  } else {
    messageDescriptors(r.msi, affinity, translated, list.PartialDescriptors);
    list.Count = list.PartialDescriptors.length;
  }
  if (r.portBase !== null) {
    const ports = { Start: r.portBase, Length: r.portLength };
    list.PartialDescriptors.push({
      Type: CmResourceTypePort,
      ShareDisposition: CmResourceShareDeviceExclusive,
      Flags: CM_RESOURCE_PORT_IO,
      u: { Port: ports, Generic: ports },
    });
    list.Count = list.PartialDescriptors.length;
  }
  return list;
}

/**
 * "Using Interrupt Resource Descriptors": message interrupts are CmResourceTypeInterrupt
 * with Flags CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE; MSI has one
 * descriptor for all its messages (Raw.MessageCount says how many), MSI-X one per
 * message. The messages replace the line in the list, as when Windows grants a device
 * its messages.
 */
function messageDescriptors(
  msi: MessageInterrupts,
  Affinity: number,
  translated: boolean,
  out: CM_PARTIAL_RESOURCE_DESCRIPTOR[],
): void {
  const each = msi.msix ? msi.count : 1;
  for (let m = 0; m < each; m++) {
    const Vector = msi.vectorBase + m;
    out.push({
      Type: CmResourceTypeInterrupt,
      ShareDisposition: CmResourceShareDeviceExclusive,
      Flags: CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE,
      u: {
        MessageInterrupt: translated
          ? { Translated: { Level: Irql.Dirql, Vector, Affinity } }
          : { Raw: { Reserved: 0, MessageCount: msi.msix ? 1 : msi.count, Vector, Affinity } },
      },
    });
  }
}

function initialize(n: Ndis, b: MiniportBlock, op: Extract<PnpOp, { kind: 'bring-up' }>): boolean {
  const irp = op.irp;
  assert(irp !== null, 'initialize: no START IRP');
  op.irp = null;
  const ok = initializeAdapter(n, b);
  if (!ok) {
    b.op = null;
    // R5.8: a virtual miniport's failed initialization fails its device (surprise
    // removal, Code 43) rather than its start (Code 10).
    if (b.im !== null && !b.initialized) {
      markDeviceFailed(n, b, 'MiniportInitializeEx of a virtual miniport failed (R5.8)', null);
      n.pnp.completeIrp(irp, STATUS_SUCCESS);
      return false;
    }
    n.pnp.completeIrp(irp, STATUS_UNSUCCESSFUL);
    return false;
  }
  n.pnp.completeIrp(irp, STATUS_SUCCESS);
  // R2.7, R7.8: the rest of the bring-up (attach, bind, restart) goes on in NDIS's worker.
  op.step = n.filterInstalls.length > 0 ? 'attach' : 'bind';
  n.kick(b);
  return false;
}

/**
 * MiniportInitializeEx and what NDIS does with its result (R2.3–R2.6): true when the
 * adapter is Paused and initialized; false when the initialization failed (the adapter
 * is Halted, R2.5) or NDIS halted it at once (R2.6). Used by the bring-up after
 * START_DEVICE and by the resume after a power-down halt (R1.8).
 */
export function initializeAdapter(n: Ndis, b: MiniportBlock): boolean {
  b.move('MiniportInitializeEx');
  b.warnedHangInInit = false;
  b.inInitialize = true;
  b.inits++;
  // A virtual miniport: NdisIMCancelInitializeDeviceInstance can no longer call it off.
  if (b.im !== null) b.im.state = 'initialized';
  b.registration = null;
  b.general = null;
  const params: NDIS_MINIPORT_INIT_PARAMETERS = {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_INIT_PARAMETERS,
      Revision: NDIS_MINIPORT_INIT_PARAMETERS_REVISION_1,
    },
    Flags: 0,
    AllocatedResources: resourcesOf(b),
    // The DeviceContext of NdisIMInitializeDeviceInstanceEx, for a virtual miniport.
    IMDeviceInstanceContext: b.im === null ? null : b.im.context,
    MiniportAddDeviceContext: b.addDeviceContext,
    IfIndex: b.ifIndex,
    NetLuid: b.netLuid,
  };
  const f = n.enter(b, b.driver.name, 'MiniportInitializeEx', Irql.Passive);
  let status: number;
  try {
    status = b.driver.chars.InitializeHandlerEx(b, b.driver.context, params);
  } catch (e) {
    n.driverThrew(e, 'MiniportInitializeEx', b);
  } finally {
    b.inInitialize = false;
  }
  n.leave(f, status);
  if (b.dma !== null) checkDmaAfterInit(n, b, b.dma);

  if (
    status !== NDIS_STATUS_SUCCESS &&
    status !== NDIS_STATUS_NOT_ACCEPTED &&
    status !== NDIS_STATUS_RESOURCES &&
    status !== NDIS_STATUS_FAILURE
  ) {
    // R2.5: four results only (initialization cannot pend); NDIS fails the start.
    n.verifier.report(
      'NdisSim_InitializeReturn',
      'MiniportInitializeEx',
      b.name,
      `MiniportInitializeEx returned ${statusText(status)}: SUCCESS, NOT_ACCEPTED, RESOURCES or FAILURE only (R2.5)`,
    );
  }
  if (status === NDIS_STATUS_SUCCESS && b.registration === null) {
    n.verifier.report(
      'NdisSim_AttributesOrder',
      'MiniportInitializeEx',
      b.name,
      'MiniportInitializeEx returned SUCCESS without setting registration attributes (R2.4); NDIS fails the start',
    );
    status = NDIS_STATUS_FAILURE;
  }
  if (status !== NDIS_STATUS_SUCCESS) {
    // R2.5: the driver frees everything itself; NDIS never halts it; Code 10.
    checkInitFailureLeaks(n, b);
    b.move('InitializeFailed');
    // The handle dies with the failed initialization, as it does with a halt (R2.8).
    b.handleDead = true;
    cancelHangTimer(n, b);
    b.registration = null;
    return false;
  }
  b.move('InitializeSucceeded');
  b.initialized = true;
  // The driver set the attributes during the call; read them afresh.
  const general = (b as { general: MiniportBlock['general'] }).general;
  b.mediaConnectState = general?.MediaConnectState ?? 0;
  if (general === null) {
    // R2.6 (model trigger): SUCCESS without general attributes; NDIS halts it at once.
    if (n.trace.on) n.traceNdis(b, 'no general attributes: NDIS cannot finish bring-up (R2.6)', {});
    b.halting = true;
    cancelHangTimer(n, b);
    halt(n, b, NdisHaltDeviceInitializationFailed);
    return false;
  }
  // Initialization is complete: NDIS tells the miniport the power source (the
  // MINIPORT_DEVICE_PNP_EVENT_NOTIFY page). The machine is on AC power.
  devicePnPEventNotify(n, b, NdisDevicePnPEventPowerProfileChanged, NdisPowerProfileAcOnLine);
  if (b.driver.ss !== null || general.PowerManagementCapabilitiesEx != null) startSelectiveSuspend(n, b);
  return true;
}

/** NdisOpenConfigurationEx (SDV): configuration handles are closed before halt or a failing init returns. */
function checkConfigurationsClosed(n: Ndis, b: MiniportBlock, fn: string): void {
  if (b.configurations.length === 0) return;
  n.verifier.report(
    'NdisOpenConfigurationEx',
    fn,
    b.name,
    `${fn} returned with ${b.configurations.length} configuration handle(s) still open (NdisCloseConfiguration)`,
  );
  b.configurations.length = 0;
}

/**
 * R2.5, R2.10: what the adapter took from NDIS it gives back by the time its halt, or
 * its failing initialize, returns: NBL and NET_BUFFER pools (NdisFreeNetBufferListPool,
 * NdisFreeNetBufferPool; NET_BUFFERs and MDLs left are rules of their own), mapped I/O
 * space (NdisMUnmapIoSpace), registered I/O port ranges (NdisMDeregisterIoPortRange),
 * read/write locks of its handle (NdisFreeRWLock) and shared memory
 * (NdisMFreeSharedMemory; a DMA channel still registered is Init_RegisterSG).
 * Interrupts, timers and work items have rules of their own. Reported once: the lists
 * start empty for the adapter's next initialization.
 */
/** The I/O port ranges `b` still holds, released so that a later access is reported. */
function portRangesLeft(n: Ndis, b: MiniportBlock): number {
  const list = n.ioPortRanges;
  if (list === null) return 0;
  let left = 0;
  for (let i = list.length - 1; i >= 0; i--) {
    if (list[i]!.block !== b) continue;
    list.splice(i, 1);
    left++;
  }
  return left;
}

/**
 * The FDO goes (MiniportAddDevice failed, or IRP_MN_REMOVE_DEVICE): I/O port ranges it
 * still holds were claimed where no halt releases them; they are released and reported.
 */
export function portRangesAtFdoEnd(n: Ndis, b: MiniportBlock, fn: string, how: string): void {
  const ports = portRangesLeft(n, b);
  if (ports > 0)
    n.verifier.report(
      'NdisSim_ResourceNotFreed',
      fn,
      b.name,
      `${fn} ${how} without freeing ${ports} I/O port range(s) (NdisMDeregisterIoPortRange) (R2.5, R2.10)`,
    );
}

function checkResourcesReturned(n: Ndis, b: MiniportBlock, fn: string, how: string): void {
  const left: string[] = [];
  // The first pool left names where the driver allocated it (R2.10): NDIS finds it only now.
  const pool = b.pools.length > 0 ? b.pools[0]! : null;
  if (pool !== null)
    left.push(
      `${b.pools.length} NBL pool(s) (NdisFreeNetBufferListPool; ${b.pools.length > 1 ? 'the first ' : ''}allocated in ${placeText(pool.madeIn, pool.madeNs)})`,
    );
  if (b.ioSpaces.length > 0) left.push(`${b.ioSpaces.length} mapped I/O space(s) (NdisMUnmapIoSpace)`);
  if (b.rwLocks.length > 0) left.push(`${b.rwLocks.length} read/write lock(s) (NdisFreeRWLock)`);
  const ports = portRangesLeft(n, b);
  if (ports > 0) left.push(`${ports} I/O port range(s) (NdisMDeregisterIoPortRange)`);
  if (b.dma !== null) dmaLeftAtEnd(n, b, b.dma, fn, how, left);
  if (b.polls !== null) pollsLeftAtEnd(n, b, fn, how);
  if (n.nblApi !== null) nblApiLeftAtEnd(n, b, fn, how, left);
  // The halt's own rule reports them after a halt (checkHaltLeaks).
  const generic = fn === 'MiniportHaltEx' || n.genericObjects === null ? 0 : genericObjectsLeft(n, b);
  if (generic > 0) left.push(`${generic} generic object(s) (NdisFreeGenericObject)`);
  if (left.length === 0) return;
  b.pools.length = 0;
  b.ioSpaces.length = 0;
  b.rwLocks.length = 0;
  n.verifier.report(
    'NdisSim_ResourceNotFreed',
    fn,
    b.name,
    `${fn} ${how} without freeing ${left.join(' and ')} (R2.5, R2.10)`,
    undefined,
    undefined,
    pool === null ? undefined : pool.origin(),
  );
}

function checkInitFailureLeaks(n: Ndis, b: MiniportBlock): void {
  const who = b.name;
  checkConfigurationsClosed(n, b, 'MiniportInitializeEx');
  checkResourcesReturned(n, b, 'MiniportInitializeEx', 'failed');
  if (b.ports !== null) portsAtEnd(n, b, 'MiniportInitializeEx', 'failed');
  if (b.interrupt !== null && !b.interrupt.deregistered) {
    const i = b.interrupt;
    n.verifier.report(
      'Init_RegisterInterrupt',
      'MiniportInitializeEx',
      who,
      `MiniportInitializeEx failed with its interrupt still registered (R2.5): registered in ${placeText(i.madeIn, i.madeNs)}`,
      [b.name, 'NDIS_MINIPORT_INTERRUPT', 0],
      undefined,
      { label: 'Made in', at: `${placeText(i.madeIn, i.madeNs)} (NdisMRegisterInterruptEx)` },
    );
  }
  for (const t of b.timers) {
    if (t.k.queued) {
      // Which timer, and where the driver allocated and last set it: NDIS finds it only now.
      n.verifier.report(
        'NdisSim_InitFailedTimerSet',
        'MiniportInitializeEx',
        who,
        `MiniportInitializeEx failed with a timer still set (R2.5): ${t.story()}`,
        [b.name, 'timer queue', 0],
        undefined,
        t.origin(),
      );
      break;
    }
  }
  for (const w of b.workItems) {
    if (!w.freed) {
      n.verifier.report(
        'Init_NdisAllocateIoWorkItem',
        'MiniportInitializeEx',
        who,
        `MiniportInitializeEx failed without freeing an I/O work item it allocated (R8.8): ${w.story()}`,
        undefined,
        undefined,
        w.origin(),
      );
      break;
    }
  }
  checkTimersFreed(n, b, 'MiniportInitializeEx', who, 'failed');
}

/**
 * R8.4, R8.7, R2.5: a timer object allocated with the adapter handle must be freed
 * (NdisFreeTimerObject) by the time the adapter's halt, or its failing initialize,
 * returns, as its work items must (R8.8). A timer still set was reported already
 * (CancelTimerObject, NdisSim_InitFailedTimerSet); this is one merely not freed.
 * Freed timers leave b.timers, so what is left there was never freed.
 */
function checkTimersFreed(n: Ndis, b: MiniportBlock, fn: string, who: string, how: string): void {
  for (const t of b.timers) {
    if (!t.freed && !t.k.queued) {
      n.verifier.report(
        'NdisSim_TimerNotFreed',
        fn,
        who,
        `${fn} ${how} without freeing a timer object allocated with the adapter handle (NdisFreeTimerObject; R8.4, R8.7): ${t.story()}`,
        undefined,
        undefined,
        t.origin(),
      );
      return;
    }
  }
}

export function callRestart(n: Ndis, b: MiniportBlock): void {
  b.move('MiniportRestart');
  b.restart = { returned: false, sinceNs: n.now };
  const f = n.enter(b, b.driver.name, 'MiniportRestart', Irql.Passive);
  let status: number;
  try {
    status = b.driver.chars.RestartHandler(b.context, {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_MINIPORT_RESTART_PARAMETERS_REVISION_1 },
      RestartAttributes: null,
      Flags: 0,
    });
  } catch (e) {
    n.driverThrew(e, 'MiniportRestart', b);
  }
  n.leave(f, status);
  if (b.restart === null) {
    // NdisMRestartComplete ran inside MiniportRestart.
    if (status !== NDIS_STATUS_PENDING) {
      n.verifier.report(
        'NdisSim_RestartCompleteUnexpected',
        'MiniportRestart',
        b.name,
        'MiniportRestart called NdisMRestartComplete and then returned a final status (R3.10)',
        ['RESTART_COMPLETE', `${b.name} miniport block`, 0],
      );
    }
    return;
  }
  if (status === NDIS_STATUS_PENDING) {
    b.restart.returned = true;
    return;
  }
  finishRestart(n, b, status, 'MiniportRestart');
}

/** The restart completed with `status` (return value or NdisMRestartComplete). */
export function finishRestart(n: Ndis, b: MiniportBlock, status: number, via: string): void {
  if (status !== NDIS_STATUS_SUCCESS && status !== NDIS_STATUS_RESOURCES && status !== NDIS_STATUS_FAILURE) {
    n.verifier.report(
      'NdisSim_RestartReturn',
      via,
      b.name,
      `${via}: ${statusText(status)} is not a restart result (SUCCESS, RESOURCES or FAILURE; R3.9)`,
    );
  }
  b.restart = null;
  b.move(status === NDIS_STATUS_SUCCESS ? 'RestartSucceeded' : 'RestartFailed');
  // R1.9: a failed restart leaves the adapter Paused, and NDIS treats it as a device
  // failure, whatever operation waits for the restart (a bring-up or a removal).
  if (status !== NDIS_STATUS_SUCCESS)
    markDeviceFailed(n, b, 'MiniportRestart failed (R1.9)', LiveDumpReason.MiniportRestartFailed);
  n.kick(b);
}

// --------------------------------------------------------------- teardown

function stepTeardown(n: Ndis, b: MiniportBlock, op: Extract<PnpOp, { kind: 'teardown' }>): boolean {
  switch (op.step) {
    case 'notify':
      notifyProtocolsOfRemoval(n, b);
      op.step = 'pause-protocols';
      return true;
    case 'pause-protocols':
      // Selective suspend ends first: the adapter is back in D0, held sends go down
      // (docs/decisions.md), so the protocols' pause can drain them.
      if (b.ss !== null && !ssSettled(n, b)) return false;
      // R7.9: protocols pause first, then the filter modules.
      if (!pauseAbove(n, b, pauseReasonForRemoval(b))) return false;
      op.step = 'pause-miniport';
      return true;
    case 'pause-miniport':
      // R1.4: a pending pause or restart completes before NDIS pauses.
      if (pauseDeferredIn.has(b.state)) return false;
      switch (b.state) {
        case 'Initializing':
          return false; // the initialization finishes first
        case 'Paused':
        case 'Halted':
        case 'Shutdown':
          op.step = 'unbind';
          return true;
        default:
          // Running, or a state the table does not make NDIS wait in.
          // R3.4 (option pauseWaitsForOids): by default a pending OID does not hold up a pause.
          if (
            n.options.pauseWaitsForOids &&
            (b.oid !== null || b.oidQueue.length > 0 || b.directOids.length > 0)
          ) {
            if (n.trace.on) n.traceNdis(b, 'pause waits for the pending OID request (R3.4)', {});
            return false;
          }
          callPause(n, b, pauseReasonForRemoval(b));
          return true;
      }
    case 'unbind': {
      for (const bd of b.bindings.slice())
        if (bd.state === 'Paused' && bd.pending === null) unbindBinding(n, bd);
      if (b.bindings.length > 0) return false;
      op.step = b.filters.length > 0 ? 'detach' : 'halt';
      return true;
    }
    case 'detach':
      // R5.4, R7.11: the filter modules are detached top-down, before the halt.
      if (!detachFilters(n, b)) return false;
      op.step = 'halt';
      return true;
    case 'halt':
      if (b.state === 'Halted' || b.state === 'Shutdown') {
        op.step = 'done';
        return true;
      }
      // Adding and Deleting Wake on LAN Patterns: NDIS removes the patterns applications
      // added before it halts the adapter, and waits for the removals (wol.ts).
      if (!b.halting) {
        op.wolRemoving ??= removeApplicationWolPatterns(n, b);
        if (op.wolRemoving.left > 0) {
          if (n.trace.on)
            n.traceNdis(b, "halt waits for the removal of applications' WoL patterns", {
              pending: op.wolRemoving.left,
            });
          return false;
        }
      }
      // R2.9: mark halting (no new resets, no check-for-hang), then wait for a reset in progress.
      if (!b.halting) {
        b.halting = true;
        cancelHangTimer(n, b);
      }
      if (b.resetInProgress) {
        if (n.trace.on) n.traceNdis(b, 'halt waits for the reset in progress (R2.9, R4.16)', {});
        return false;
      }
      if (b.oid !== null || b.oidQueue.length > 0) {
        if (n.trace.on) n.traceNdis(b, 'halt waits for the pending OID request (R2.9, R6.5)', {});
        return false;
      }
      // R2.9: and for the direct requests the miniport pended (nc-ndis-miniport_halt).
      if (b.directOids.length > 0) {
        if (n.trace.on)
          n.traceNdis(b, 'halt waits for the pending direct OID requests (R2.9)', {
            pending: b.directOids.length,
          });
        return false;
      }
      assert(b.state === 'Paused', 'halt: not Paused', b.name, b.state);
      halt(n, b, haltActionFor(b, op.why));
      op.step = 'done';
      return true;
    case 'done': {
      b.op = null;
      const waiting = op.waiting.splice(0);
      // NdisIMDeInitializeDeviceInstance: no IRP waits; the FDO goes once halted (im.ts),
      // unless a removal IRP came meanwhile and takes it.
      if (op.why === 'im-deinit' && !waiting.some((irp) => irp.minor === IRP_MN_REMOVE_DEVICE))
        finishImDeInit(n, b);
      for (const irp of waiting) {
        if (irp.minor === IRP_MN_REMOVE_DEVICE) finishRemove(n, b, irp);
        else if (irp.minor === IRP_MN_STOP_DEVICE) {
          resetForRestart(b);
          n.pnp.completeIrp(irp, STATUS_SUCCESS);
        } else n.pnp.completeIrp(irp, STATUS_SUCCESS);
      }
      return false;
    }
  }
}

/**
 * R5.5: the filter modules and protocols hear NetEventQueryRemoveDevice (R7.7); the
 * answer cannot stop a surprise removal.
 */
function notifyProtocolsOfRemoval(n: Ndis, b: MiniportBlock): void {
  netEventUp(n, b, 'NetEventQueryRemoveDevice', null);
}

/**
 * One step of bringing a stack up (after a start, R7.10, or a resume): in `restart` the
 * miniport restarts, and in `restart-protocols` then its bindings. 'advance': the step
 * is done; 'again': it moved and has more to do; 'wait': it waits for a completion;
 * 'failed': MiniportRestart failed, and finishRestart marked the device failed (R1.9).
 */
export function restartStackStep(
  n: Ndis,
  b: MiniportBlock,
  op: { step: string; restartCalled: boolean },
): 'advance' | 'again' | 'wait' | 'failed' {
  if (op.step === 'restart') {
    if (b.state === 'Running') return 'advance';
    if (b.state !== 'Paused') return 'wait';
    if (op.restartCalled) return 'failed';
    op.restartCalled = true;
    callRestart(n, b);
    return 'again';
  }
  if (b.state !== 'Running') return 'wait';
  if (b.filters.length > 0) {
    // R7.10: the filter modules bottom-up, then the protocols. Above a module whose
    // restart failed the stack stays paused.
    const f = restartFilters(n, b);
    if (f === 'wait') return 'wait';
    if (f === 'failed') return 'advance';
  }
  for (const bd of b.bindings) if (bd.state === 'Paused' && bd.pending === null) restartBinding(n, bd);
  return b.bindings.some((x) => x.state === 'Restarting') ? 'wait' : 'advance';
}

/**
 * Pauses the stack above the miniport (R7.9): the running bindings first, then, once
 * none is still pausing, restarting or opening, the filter modules top-down. True when
 * all of it is paused; `reason` is the PauseReason the filter modules get.
 */
export function pauseAbove(n: Ndis, b: MiniportBlock, reason: number): boolean {
  b.stackPauseReason = reason;
  for (const bd of b.bindings) if (bd.state === 'Running' && bd.pending === null) pauseBinding(n, bd);
  if (b.bindings.some((x) => x.state === 'Pausing' || x.state === 'Restarting' || x.state === 'Opening'))
    return false;
  return b.filters.length === 0 || pauseFilters(n, b, reason);
}

/** After a stop the same FDO may be started again (R1.8): a fresh adapter context. */
export function resetForRestart(b: MiniportBlock): void {
  b.halting = false;
  b.handleDead = false;
  b.haltAction = null;
  b.registration = null;
  b.general = null;
  b.initialized = false;
  // NDIS's WoL pattern list went at the halt; a fresh start has none either (its IDs go
  // on counting; docs/decisions.md).
  b.wolPatterns.clear();
}

function pauseReasonForRemoval(b: MiniportBlock): number {
  // R3.2: from NDIS 6.40 a removal pause promises no restart will follow.
  return b.driver.ndisVersion >= 640 ? NDIS_PAUSE_MINIPORT_DEVICE_REMOVE : NDIS_PAUSE_NDIS_INTERNAL;
}

/**
 * R3.2: the PauseReason a driver of NDIS `version` (6.40 = 640) is given for a pause
 * NDIS makes for `reason`. From 6.40 a miniport gets NDIS_PAUSE_MINIPORT_DEVICE_REMOVE
 * when no restart will follow, else NDIS_PAUSE_NDIS_INTERNAL, and a filter always
 * NDIS_PAUSE_NDIS_INTERNAL (the two *_PAUSE_PARAMETERS pages). Below 6.40 the value is
 * unpredictable, and the model gives why it pauses (a sleep, a filter attached).
 */
export function pauseReasonSeen(reason: number, version: number, filter: boolean): number {
  if (version < 640) return reason;
  return !filter && reason === NDIS_PAUSE_MINIPORT_DEVICE_REMOVE ? reason : NDIS_PAUSE_NDIS_INTERNAL;
}

/** R2.12: the halt action NDIS picks. */
export function haltActionFor(b: MiniportBlock, why: TeardownWhy): number {
  if (b.deviceFailed) return NdisHaltDeviceFailed;
  if (b.surpriseRemoved) return NdisHaltDeviceSurpriseRemoved;
  // Halting a Virtual Miniport: the intermediate driver asked for it (R5.23).
  if (why === 'im-deinit') return NdisHaltDeviceInstanceDeInitialized;
  if (why === 'stop' || b.pnpState === 'Stopped') return NdisHaltDeviceStopped;
  return NdisHaltDeviceDisabled;
}

/**
 * The step of a stack pause that pauses the miniport, for a sleep and a restack (R1.4,
 * R7.9): 'wait' while a pause or restart is pending, 'pausing' once MiniportPause was
 * called (step again), 'paused' when it is Paused, 'not-running' in any other state.
 */
export function pauseMiniportStep(
  n: Ndis,
  b: MiniportBlock,
  reason: number,
): 'wait' | 'pausing' | 'paused' | 'not-running' {
  if (pauseDeferredIn.has(b.state)) return 'wait';
  if (b.state === 'Running') {
    callPause(n, b, reason);
    return 'pausing';
  }
  return b.state === 'Paused' ? 'paused' : 'not-running';
}

export function callPause(n: Ndis, b: MiniportBlock, why: number): void {
  const reason = pauseReasonSeen(why, b.driver.ndisVersion, false);
  if (n.situationsOn) n.noteSituation(situationCode(SituationKind.Pause, b));
  b.move('MiniportPause');
  const pending: PendingPause = { returned: false, completed: false, completedBy: null, watchdog: null };
  b.pause = pending;
  const f = n.enter(
    b,
    b.driver.name,
    'MiniportPause',
    Irql.Passive,
    n.trace.on ? { PauseReason: NDIS_PAUSE_REASON_NAMES.get(reason) ?? reason } : undefined,
  );
  let status: number;
  try {
    status = b.driver.chars.PauseHandler(b.context, {
      Header: { Type: NDIS_OBJECT_TYPE_DEFAULT, Revision: NDIS_MINIPORT_PAUSE_PARAMETERS_REVISION_1 },
      Flags: 0,
      PauseReason: reason,
    });
  } catch (e) {
    n.driverThrew(e, 'MiniportPause', b);
  }
  n.leave(f, status);
  // A value that is no number (an async MiniportPause's Promise) was reported as it came
  // back (NdisSim_CallbackReturnValue); in collect mode the pause goes on as SUCCESS.
  if (typeof status !== 'number') status = NDIS_STATUS_SUCCESS;
  if (status !== NDIS_STATUS_SUCCESS && status !== NDIS_STATUS_PENDING) {
    // R3.5: only SUCCESS or PENDING; the model goes on as if it had returned SUCCESS.
    n.verifier.report(
      'MiniportPause_Return',
      'MiniportPause',
      b.name,
      `MiniportPause returned ${statusText(status)}; only SUCCESS or PENDING are allowed (R3.5)`,
    );
    status = NDIS_STATUS_SUCCESS;
  }
  if (status === NDIS_STATUS_SUCCESS) {
    if (pending.completed) {
      n.verifier.report(
        'NdisSim_PauseCompleteUnexpected',
        'MiniportPause',
        b.name,
        pending.completedBy === null
          ? 'MiniportPause called NdisMPauseComplete and then returned SUCCESS: the pause completed twice (R3.10)'
          : `NdisMPauseComplete came from ${pending.completedBy}, while MiniportPause had not returned yet, and MiniportPause then returned SUCCESS: the pause completed twice; a pause that anything else may complete returns NDIS_STATUS_PENDING (R3.10)`,
        ['PAUSE_COMPLETE', b.name, 0],
      );
    }
    // Complete either way; in collect mode the run goes on from here.
    finishPause(n, b);
    return;
  }
  pending.returned = true;
  if (pending.completed) {
    finishPause(n, b);
    return;
  }
  n.armPauseWatchdog(b);
}

/** Receives the protocol drivers of one's own bound to `b` hold (not returned yet). */
function receivesHeldByProtocolDrivers(b: MiniportBlock): number {
  let k = 0;
  for (const bd of b.bindings) if (bd.open !== null) k += bd.open.held.size;
  return k;
}

/** The pause is complete: Pausing → Paused (R3.3 is checked by the data path). */
export function finishPause(n: Ndis, b: MiniportBlock): void {
  const p = b.pause;
  assert(p !== null, 'finishPause: no pause pending', b.name);
  if (p.watchdog !== null) {
    p.watchdog.cancelled = true;
    p.watchdog = null;
  }
  b.pause = null;
  if (
    (b.sendsOutstanding > 0 || b.receivesOutstanding > 0) &&
    // A protocol driver of one's own that kept receives past its own pause was reported
    // then (NdisSim_ProtocolPauseNotDrained); the miniport is not to blame.
    !(b.sendsOutstanding === 0 && receivesHeldByProtocolDrivers(b) >= b.receivesOutstanding)
  ) {
    n.verifier.report(
      'NdisSim_PauseNotDrained',
      'MiniportPause',
      b.name,
      `the pause completed with ${b.sendsOutstanding} send(s) not completed and ${b.receivesOutstanding} receive(s) not returned (R3.3)`,
    );
  }
  b.move('PauseCompleted');
  n.kick(b);
}

export function halt(n: Ndis, b: MiniportBlock, action: number): void {
  // R2.8, R2.9: NDIS halts nothing with a send, an OID, a reset or a receive out.
  b.haltSnapshot = {
    sends: b.sendsOutstanding,
    receives: b.receivesOutstanding,
    oid: b.oid !== null || b.oidQueue.length > 0 || b.directOids.length > 0,
    reset: b.resetInProgress,
  };
  if (n.situationsOn) n.noteSituation(situationCode(SituationKind.Halt, b));
  b.haltAction = action;
  b.lastHaltAction = action;
  b.inHalt = true;
  b.haltStartNs = n.now;
  const f = n.enter(b, b.driver.name, 'MiniportHaltEx', Irql.Passive, {
    HaltAction: NDIS_HALT_ACTION_NAMES[action],
  });
  let returned: unknown;
  try {
    returned = b.driver.chars.HaltHandlerEx(b.context, action);
  } catch (e) {
    n.driverThrew(e, 'MiniportHaltEx', b);
  } finally {
    b.inHalt = false;
  }
  n.leaveVoid(f, returned);
  b.move('MiniportHaltEx');
  // R2.8: the handle is dead from here on.
  b.handleDead = true;
  // The halted miniport holds no pattern: NDIS's list goes with it, also the patterns
  // whose removal the miniport refused (a surprise removal's NOT_ACCEPTED) and those of
  // a binding that closed without removing them (docs/decisions.md).
  b.wolPatterns.clear();
  if (b.ss !== null) endSelectiveSuspend(n, b);
  cancelHangTimer(n, b);
  checkHaltLeaks(n, b);
}

function checkHaltLeaks(n: Ndis, b: MiniportBlock): void {
  checkConfigurationsClosed(n, b, 'MiniportHaltEx');
  if (b.ports !== null) portsAtEnd(n, b, 'MiniportHaltEx', 'returned');
  checkResourcesReturned(n, b, 'MiniportHaltEx', 'returned');
  const generic = n.genericObjects === null ? 0 : genericObjectsLeft(n, b);
  if (generic > 0)
    n.verifier.report(
      'NdisAllocateGenericObject',
      'MiniportHaltEx',
      b.name,
      `MiniportHaltEx returned with ${generic} generic object(s) its handlers allocated not freed (NdisFreeGenericObject; R2.10)`,
    );
  // NDIS has subcodes of its own for the halt right after a successful initialize (R2.6).
  const afterInit = b.haltAction === NdisHaltDeviceInitializationFailed;
  if (b.interrupt !== null && !b.interrupt.deregistered) {
    const i = b.interrupt;
    n.verifier.report(
      'Init_DeRegisterInterrupt',
      'MiniportHaltEx',
      b.name,
      `MiniportHaltEx returned with the interrupt still registered (R2.10): registered in ${placeText(i.madeIn, i.madeNs)}`,
      [b.name, 'NDIS_MINIPORT_INTERRUPT', 0],
      afterInit ? ndisCheck(NDIS_BUGCHECK_HALT_INIT_WITHOUT_INTERRUPT_DEREGISTER) : undefined,
      { label: 'Made in', at: `${placeText(i.madeIn, i.madeNs)} (NdisMRegisterInterruptEx)` },
    );
  }
  for (const t of b.timers) {
    if (t.k.queued) {
      n.verifier.report(
        'CancelTimerObject',
        'MiniportHaltEx',
        b.name,
        `MiniportHaltEx returned with a timer still set (R8.7): ${t.story()}`,
        [b.name, 'timer queue', 0],
        afterInit ? ndisCheck(NDIS_BUGCHECK_HALT_INIT_WITHOUT_CANCEL_TIMER) : undefined,
        t.origin(),
      );
      break;
    }
  }
  if (b.ioWorkRunning > 0) {
    // As bad as a work item still queued (NdisSim_CallbackAfterHalt when it runs): the
    // routine goes on after the halt, against the adapter's freed state.
    n.verifier.report(
      'NdisSim_CallbackAfterHalt',
      'MiniportHaltEx',
      b.name,
      `MiniportHaltEx returned while ${b.ioWorkRunning} I/O work item(s) of the adapter were still running (blocked in a wait): the routine goes on after the halt; a halt waits for its work items to finish (R2.10, R8.8)`,
    );
  }
  for (const w of b.workItems) {
    if (!w.freed) {
      // SDV's rule is about items allocated in MiniportInitializeEx; one allocated in any
      // other callback (the halt itself, say) is ndis-sim's rule (R8.8, review-dv #7).
      n.verifier.report(
        w.madeIn === 'MiniportInitializeEx' ? 'Init_NdisAllocateIoWorkItem' : 'NdisSim_WorkItemNotFreed',
        'MiniportHaltEx',
        b.name,
        `MiniportHaltEx returned without freeing an I/O work item allocated with the adapter handle (R8.8): ${w.story()}`,
        undefined,
        undefined,
        w.origin(),
      );
      break;
    }
  }
  checkTimersFreed(n, b, 'MiniportHaltEx', b.name, 'returned');
}

/** MiniportDevicePnPEventNotify at PASSIVE; `info` is a ULONG at InformationBuffer, if any. */
function devicePnPEventNotify(n: Ndis, b: MiniportBlock, event: number, info: number | null = null): void {
  let args: Record<string, unknown> | undefined;
  if (n.trace.on) {
    args = { DevicePnPEvent: NDIS_DEVICE_PNP_EVENT_NAMES[event] ?? event };
    if (info !== null && event === NdisDevicePnPEventPowerProfileChanged)
      args.PowerProfile =
        info === NdisPowerProfileAcOnLine ? 'NdisPowerProfileAcOnLine' : 'NdisPowerProfileBattery';
  }
  const ev = deviceEvent(event, info);
  // The event goes down through the filter modules that handle it first.
  if (b.filters.length > 0) {
    devicePnPEventDown(n, b, ev, (e) => miniportDevicePnPEventNotify(n, b, e, args));
    return;
  }
  miniportDevicePnPEventNotify(n, b, ev, args);
}

function miniportDevicePnPEventNotify(
  n: Ndis,
  b: MiniportBlock,
  ev: NET_DEVICE_PNP_EVENT,
  args: Record<string, unknown> | undefined,
): void {
  const f = n.enter(b, b.driver.name, 'MiniportDevicePnPEventNotify', Irql.Passive, args);
  let returned: unknown;
  try {
    returned = b.driver.chars.DevicePnPEventNotifyHandler(b.context, ev);
  } catch (e) {
    n.driverThrew(e, 'MiniportDevicePnPEventNotify', b);
  }
  n.leaveVoid(f, returned);
}

// ----------------------------------------------------------------- shutdown

/**
 * System shutdown (R1.6, R2.15): every initialized adapter gets
 * MiniportShutdownEx(NdisShutdownPowerOff) at PASSIVE and is Shutdown; nothing follows.
 */
export function shutdownAll(n: Ndis): void {
  for (const b of n.adapters) {
    // A sleep or resume under way ends with the machine: nothing is left waiting.
    if (b.op !== null && (b.op.kind === 'sleep' || b.op.kind === 'wake')) b.op = null;
    if (b.state !== 'Paused' && b.state !== 'Restarting' && b.state !== 'Running' && b.state !== 'Pausing')
      continue;
    // A halt under way excludes the shutdown call (nc-ndis-miniport_halt): the adapter
    // is on its way to Halted, where no other callback comes.
    if (b.inHalt) continue;
    cancelHangTimer(n, b);
    b.op = null;
    const f = n.enter(
      b,
      b.driver.name,
      'MiniportShutdownEx',
      Irql.Passive,
      n.trace.on ? { ShutdownAction: 'NdisShutdownPowerOff' } : undefined,
    );
    let returned: unknown;
    try {
      returned = b.driver.chars.ShutdownHandlerEx(b.context, NdisShutdownPowerOff);
    } catch (e) {
      n.driverThrew(e, 'MiniportShutdownEx', b);
    }
    n.leaveVoid(f, returned);
    b.move('MiniportShutdownEx');
  }
}

// --------------------------------------------------- NdisMRemoveMiniport

/**
 * R5.9–R5.20. Synchronous part only: test-and-set the device-failed flag, write the
 * live dump (reason 71), IoInvalidateDeviceState. Returns what the DDI returns.
 */
export function removeMiniport(n: Ndis, b: MiniportBlock): number {
  if (n.situationsOn) n.noteSituation(situationCode(SituationKind.RemoveMiniport, b));
  b.removeCalls++;
  // R5.19: inside a halt for removal, removal is under way and the halt action fixed.
  // The halt of a PnP stop or of a system sleep is no removal: the adapter starts
  // again, so R5.11 applies.
  if (b.inHalt && b.haltAction !== NdisHaltDeviceStopped && b.haltAction !== NdisHaltDevicePoweredDown) {
    if (n.options.removeInHalt === 'silent') return NDIS_STATUS_SUCCESS;
    n.verifier.warn(
      'R5.19',
      'NdisMRemoveMiniport',
      b.name,
      'NdisMRemoveMiniport inside MiniportHaltEx has no effect: the adapter is already being removed',
    );
    return NDIS_STATUS_SUCCESS;
  }
  if (b.deviceFailed) {
    // R5.14: repeat calls are no-ops.
    if (n.trace.on) n.traceNdis(b, 'device already failed: nothing more to do (R5.14)', {});
    return NDIS_STATUS_SUCCESS;
  }
  // Honoured, but seldom meant: a halt for a sleep or a stop often finds the NIC
  // powered down or released (all ones) and takes it for gone.
  if (b.inHalt)
    n.verifier.warn(
      'R5.11',
      'NdisMRemoveMiniport',
      b.name,
      `NdisMRemoveMiniport inside MiniportHaltEx(${NDIS_HALT_ACTION_NAMES[b.haltAction ?? -1] ?? b.haltAction}): the adapter is not being removed, so NDIS fails its device, which ends at Code 43 instead of starting again${b.haltAction === NdisHaltDevicePoweredDown ? ' after the wake' : ''} (a halt that read all ones from a NIC already powered down?)`,
    );
  markDeviceFailed(n, b, 'NdisMRemoveMiniport', LiveDumpReason.NdisMRemoveMiniport);
  return NDIS_STATUS_SUCCESS;
}

/** R5.8, R5.11: the device is failed; PnP will query its state and surprise-remove it. */
/**
 * Parameter 4 of NDIS's live dump (BUGCODE_NDIS_DRIVER_LIVE_DUMP, parameter 1 = 0x01):
 * the fatal error that made NDIS fail the device, as the 0x15E page numbers them.
 */
export const LiveDumpReason = {
  NdisMRemoveMiniport: 71,
  MiniportRestartFailed: 73,
  SetPowerD0Failed: 74,
  SetPowerDxFailed: 75,
} as const;
export type LiveDumpReason = (typeof LiveDumpReason)[keyof typeof LiveDumpReason];
const liveDumpReasonNames: Readonly<Record<LiveDumpReason, string>> = {
  71: 'NdisMRemoveMiniport',
  73: 'MiniportRestart failed',
  74: 'OID_PNP_SET_POWER (D0) failed',
  75: 'OID_PNP_SET_POWER (Dx) failed',
};

/**
 * R5.11, R5.8: sets the device-failed flag, writes NDIS's live dump when the failure is
 * one the 0x15E page lists (`dump`, else null), and asks PnP to query the device.
 */
export function markDeviceFailed(n: Ndis, b: MiniportBlock, why: string, dump: LiveDumpReason | null): void {
  if (b.deviceFailed) return;
  b.deviceFailed = true;
  b.deviceFailedWhy = why;
  // R5.11: what is under way is left alone; the trace records it.
  if (n.trace.on) {
    n.traceNdis(b, 'device-failed flag set', {
      why,
      state: b.state,
      sends: b.sendsOutstanding,
      receives: b.receivesOutstanding,
      oidPending: b.oid !== null,
      reset: b.resetInProgress,
    });
  }
  if (dump !== null) {
    // Parameter 1 = 0x01 (miniport fatal error): the miniport block, the PDO, the reason.
    n.liveDump(b, [0x01, `${b.name} miniport block`, `${b.name} PDO`, dump], liveDumpReasonNames[dump]);
  }
  n.pnp.invalidateDeviceState(b.dev);
}

// --------------------------------------------------------------- bindings

export function isBound(bd: Binding): boolean {
  return bd.state !== 'Unbound' && bd.state !== 'Opening' && bd.state !== 'Closing';
}

export function bindProtocol(n: Ndis, b: MiniportBlock, bd: Binding): void {
  b.bindings.push(bd);
  bd.state = 'Opening';
  if (n.trace.on) n.traceBinding(bd, 'Unbound → Opening', {});
  bd.pending = 'bind';
  const status = callProtocol(n, bd, 'bind');
  if (status === NDIS_STATUS_PENDING) return;
  completeBind(n, bd, status);
}

/** NdisCompleteBindAdapterEx, or the bind handler's own result. */
export function completeBind(n: Ndis, bd: Binding, status: number): void {
  assert(bd.pending === 'bind', 'completeBind: no bind pending', bd.block.name);
  bd.pending = null;
  if (status === NDIS_STATUS_SUCCESS) setBinding(n, bd, 'Paused');
  else {
    setBinding(n, bd, 'Unbound');
    dropBinding(bd);
  }
  n.kick(bd.block);
}

export function restartBinding(n: Ndis, bd: Binding): void {
  setBinding(n, bd, 'Restarting');
  bd.pending = 'NetEventRestart';
  const s = callProtocol(n, bd, 'NetEventRestart');
  if (s !== NDIS_STATUS_PENDING) completeNetPnPEvent(n, bd, s);
}

/**
 * NetEventPause to `bd`. `reason`: the PauseReason of a pause of this binding alone
 * (NDIS_PAUSE_UNBIND_PROTOCOL before an unbind NDIS does outside a stack operation);
 * without it the binding gets the reason of the stack's pause (pauseAbove).
 */
export function pauseBinding(n: Ndis, bd: Binding, reason?: number): void {
  if (reason !== undefined) bd.block.stackPauseReason = reason;
  setBinding(n, bd, 'Pausing');
  bd.pending = 'NetEventPause';
  const s = callProtocol(n, bd, 'NetEventPause');
  if (s !== NDIS_STATUS_PENDING) completeNetPnPEvent(n, bd, s);
}

/** NdisCompleteNetPnPEvent for a pended pause or restart, or the handler's own result. */
export function completeNetPnPEvent(n: Ndis, bd: Binding, status: number): void {
  const p = bd.pending;
  assert(
    p === 'NetEventPause' || p === 'NetEventRestart',
    'completeNetPnPEvent: nothing pending',
    bd.block.name,
  );
  bd.pending = null;
  // R7.2: a pause cannot fail; a failed restart leaves the binding Paused.
  if (p === 'NetEventPause') setBinding(n, bd, 'Paused');
  else setBinding(n, bd, status === NDIS_STATUS_SUCCESS ? 'Running' : 'Paused');
  n.kick(bd.block);
}

export function unbindBinding(n: Ndis, bd: Binding): void {
  setBinding(n, bd, 'Closing');
  bd.pending = 'unbind';
  const s = callProtocol(n, bd, 'unbind');
  if (s !== NDIS_STATUS_PENDING) completeUnbind(n, bd);
}

/** NdisCompleteUnbindAdapterEx, or the handler's own return. */
export function completeUnbind(n: Ndis, bd: Binding): void {
  assert(bd.pending === 'unbind', 'completeUnbind: no unbind pending', bd.block.name);
  bd.pending = null;
  setBinding(n, bd, 'Unbound');
  dropBinding(bd);
  n.kick(bd.block);
}

function setBinding(n: Ndis, bd: Binding, to: Binding['state']): void {
  const from = bd.state;
  bd.state = to;
  if (n.trace.on) n.traceBinding(bd, `${from} → ${to}`, {});
}

function dropBinding(bd: Binding): void {
  removeFrom(bd.block.bindings, bd);
}

/**
 * Protocol handlers run at PASSIVE with the protocol as actor; a throw is a bug check
 * like a miniport's. `what` names the handler (bind, unbind) or the net PnP event to
 * send, rather than a closure per call: bindings come and go on the hot path.
 */
export function callProtocol(
  n: Ndis,
  bd: Binding,
  what: 'bind' | 'unbind' | NetEventCode,
  powerState: unknown = null,
): number {
  const p = bd.protocol;
  const fn =
    what === 'bind'
      ? 'ProtocolBindAdapterEx'
      : what === 'unbind'
        ? 'ProtocolUnbindAdapterEx'
        : 'ProtocolNetPnPEvent';
  let args: Record<string, unknown> | undefined;
  if (n.trace.on && fn === 'ProtocolNetPnPEvent')
    args =
      powerState === null
        ? { NetEvent: what }
        : what === 'NetEventPortActivation' || what === 'NetEventPortDeactivation'
          ? { NetEvent: what, ports: portEventNumbers(what, powerState).join(' ') }
          : { NetEvent: what, Buffer: NDIS_DEVICE_POWER_STATE_NAMES[powerState as number] ?? powerState };
  const f = n.enter(bd.block, p.name, fn, Irql.Passive, args);
  f.binding = bd;
  let s: number;
  try {
    if (what === 'bind') s = p.ProtocolBindAdapterEx(bd);
    else if (what === 'unbind') s = p.ProtocolUnbindAdapterEx(bd);
    else if (powerState !== null) s = p.ProtocolNetPnPEvent(bd, what, powerState);
    else s = p.ProtocolNetPnPEvent(bd, what);
  } catch (e) {
    n.driverThrew(e, fn, bd.block);
  }
  n.leave(f, s);
  return s;
}
