// The DDIs of protocol drivers (07-protocols-filters.md R7.1-R7.4, 06-oid-datapath.md):
// registration, the open and close of a binding inside bind and unbind, the completion
// of what the driver pended, and the data and OID calls on a binding. NDIS's side of
// each operation is in lifecycle.ts, datapath.ts and oid.ts; its record of a binding
// and its calls into the driver are in protocol-driver.ts.
//
// The model gives one object three roles: the BindContext of ProtocolBindAdapterEx, the
// NdisBindingHandle of NdisOpenAdapterEx and the UnbindContext of
// ProtocolUnbindAdapterEx are the same Binding. NDIS tells which operation a call
// belongs to by what the binding has under way (docs/decisions.md).

import { NotModelledError } from '../../errors.ts';
import { Irql } from '../../kernel/kernel.ts';
import { statusText } from '../../verifier/bugcheck.ts';
import { Binding } from '../binding.ts';
import type { MiniportBlock } from '../block.ts';
import * as data from '../datapath.ts';
import { directOids, directViolation, protocolCancelDirect, submitDirect } from '../direct-oid.ts';
import type { NET_PNP_EVENT_NOTIFICATION } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  NDIS_DEFAULT_PORT_NUMBER,
  NDIS_OBJECT_TYPE_OPEN_PARAMETERS,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_OPEN_PARAMETERS_REVISION_1,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_RETURN_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  NDIS_STATUS_ADAPTER_NOT_FOUND,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_INVALID_PARAMETER,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NDIS_STATUS_UNSUPPORTED_MEDIA,
  NET_PNP_EVENT_CODE_NAMES,
} from '../generated/status.ts';
import * as life from '../lifecycle.ts';
import type { NblImpl, NET_BUFFER_LIST } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import * as oid from '../oid.ts';
import { portProblem } from '../ports.ts';
import {
  adapterName,
  bindResult,
  type NDIS_OPEN_PARAMETERS,
  type NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
  openClosePends,
  type PendedNetEvent,
  ProtocolDriverBlock,
  type ProtocolOpen,
  pauseDrained,
  protocolEntryPoints,
  queueRebind,
  queueSelfUnbind,
  requiredProtocolHandlers,
  unbindAllOf,
  unbindChecks,
} from '../protocol-driver.ts';
import { checkSyncRequest, submitSync } from '../sync-oid.ts';
import type {
  DRIVER_OBJECT,
  NDIS_HANDLE,
  NDIS_OID_REQUEST,
  NDIS_PORT_NUMBER,
  NDIS_STATUS,
  ULONG,
} from '../types.ts';
import { wolPatternsLeftBy } from '../wol.ts';
import { currentNdis, lockHeldUpCall, nullChain, registrationDone } from './common.ts';
import { headerRefusal, type Refusal } from './driver.ts';

const irql = {
  NdisRegisterProtocolDriver: ddiIrql.NdisRegisterProtocolDriver!,
  NdisDeregisterProtocolDriver: ddiIrql.NdisDeregisterProtocolDriver!,
  NdisOpenAdapterEx: ddiIrql.NdisOpenAdapterEx!,
  NdisCloseAdapterEx: ddiIrql.NdisCloseAdapterEx!,
  NdisCompleteBindAdapterEx: ddiIrql.NdisCompleteBindAdapterEx!,
  NdisCompleteUnbindAdapterEx: ddiIrql.NdisCompleteUnbindAdapterEx!,
  NdisCompleteNetPnPEvent: ddiIrql.NdisCompleteNetPnPEvent!,
  NdisSendNetBufferLists: ddiIrql.NdisSendNetBufferLists!,
  NdisReturnNetBufferLists: ddiIrql.NdisReturnNetBufferLists!,
  NdisUnbindAdapter: ddiIrql.NdisUnbindAdapter!,
  NdisReEnumerateProtocolBindings: ddiIrql.NdisReEnumerateProtocolBindings!,
  NdisCancelSendNetBufferLists: ddiIrql.NdisCancelSendNetBufferLists!,
  NdisGeneratePartialCancelId: ddiIrql.NdisGeneratePartialCancelId!,
  NdisOidRequest: ddiIrql.NdisOidRequest!,
  NdisCancelOidRequest: ddiIrql.NdisCancelOidRequest!,
  NdisDirectOidRequest: ddiIrql.NdisDirectOidRequest!,
  NdisCancelDirectOidRequest: ddiIrql.NdisCancelDirectOidRequest!,
  NdisSynchronousOidRequest: ddiIrql.NdisSynchronousOidRequest!,
};
type ProtocolDdi = keyof typeof irql;

// ------------------------------------------------------------- registration

function checkCharacteristics(c: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS): Refusal | null {
  const header = headerRefusal(
    c,
    NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
    'PROTOCOL_DRIVER_CHARACTERISTICS',
    2,
  );
  if (header !== null) return header;
  for (const h of requiredProtocolHandlers)
    if (typeof c[h] !== 'function')
      return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: `${h} is missing` };
  for (const h of [
    'SetOptionsHandler',
    'UninstallHandler',
    'StatusHandlerEx',
    'DirectOidRequestCompleteHandler',
  ] as const) {
    const v = c[h];
    if (v != null && typeof v !== 'function')
      return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: `${h} is neither a routine nor NULL` };
  }
  if (typeof c.Name !== 'string' || c.Name === '')
    return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: 'Name (the service name) is empty' };
  return null;
}

/**
 * NDIS_STATUS NdisRegisterProtocolDriver(ProtocolDriverContext, ProtocolCharacteristics,
 * &NdisProtocolHandle). PASSIVE, from DriverEntry. NDIS copies the characteristics,
 * calls ProtocolSetOptions inside the call, and binds the driver to every adapter whose
 * stack comes up from then on (R7.8).
 */
export function NdisRegisterProtocolDriver<C = unknown, D = unknown>(
  ProtocolDriverContext: D,
  ProtocolCharacteristics: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<C, D>,
): { Status: NDIS_STATUS; NdisProtocolHandle: NDIS_HANDLE | null } {
  const ddi = 'NdisRegisterProtocolDriver';
  const n: Ndis = currentNdis(ddi);
  n.verifier.irql(irql.NdisRegisterProtocolDriver, ddi, null);
  const c = ProtocolCharacteristics as NDIS_PROTOCOL_DRIVER_CHARACTERISTICS;
  const mod = n.loading;
  const driverObject: DRIVER_OBJECT | null = n.loadingObject;
  if (mod !== null && !n.protocolInstalls.includes(mod.name))
    throw new NotModelledError(
      ddi,
      `the DriverEntry of ${mod.name}, which is not installed as a protocol driver (World.addProtocolDriver, scenario protocolDrivers: - driver:): an intermediate driver (a miniport upper edge with NDIS_INTERMEDIATE_DRIVER over this protocol edge) is installed as a protocol driver, and NDIS starts its virtual miniports when it calls NdisIMInitializeDeviceInstanceEx; a physical miniport with a protocol edge of its own is not modelled`,
    );
  if (mod === null || driverObject === null) {
    n.verifier.report(
      'NdisSim_ProtocolBinding',
      ddi,
      null,
      `${ddi} called outside the protocol driver's DriverEntry (nf-ndis-ndisregisterprotocoldriver)`,
    );
    return { Status: NDIS_STATUS_FAILURE, NdisProtocolHandle: null };
  }
  const bad = checkCharacteristics(c);
  let status: number = bad?.status ?? NDIS_STATUS_SUCCESS;
  let handle: ProtocolDriverBlock | null = null;
  if (bad !== null)
    n.protocolRefusal = { name: mod.name, why: `${ddi} returned ${statusText(status)}: ${bad.why}` };
  else if (n.protocolDrivers?.has(mod.name)) status = NDIS_STATUS_FAILURE;
  else {
    const copy = { ...c };
    // implementing-an-ndis-6-1-driver: ProtocolDirectOidRequestComplete is a member of
    // NDIS_PROTOCOL_DRIVER_CHARACTERISTICS from REVISION_2; NDIS does not read it in a
    // revision 1 structure.
    if (
      copy.Header.Revision < NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2 &&
      copy.DirectOidRequestCompleteHandler != null
    ) {
      copy.DirectOidRequestCompleteHandler = undefined;
      n.verifier.warn(
        'R2.1',
        ddi,
        null,
        `${mod.name} registers with Header.Revision 1 and sets DirectOidRequestCompleteHandler: that member comes with NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2 (NDIS 6.1), so NDIS ignores it (implementing-an-ndis-6-1-driver)`,
      );
    }
    handle = new ProtocolDriverBlock(n, mod.name, driverObject, copy, ProtocolDriverContext);
    n.protocolDrivers ??= new Map();
    n.protocolDrivers.set(mod.name, handle);
    const setOptions = c.SetOptionsHandler;
    if (typeof setOptions === 'function') {
      const f = n.enter(null, mod.name, 'ProtocolSetOptions', Irql.Passive);
      let s: number;
      try {
        s = setOptions(handle, ProtocolDriverContext);
      } catch (e) {
        n.driverThrew(e, 'ProtocolSetOptions', null);
      }
      n.leave(f, s);
      if (s !== NDIS_STATUS_SUCCESS) {
        n.protocolDrivers.delete(mod.name);
        handle = null;
        status = s;
      }
    }
    if (handle !== null) n.protocols.push(handle);
  }
  registrationDone(n, ddi, mod.name, { Name: c.Name }, status, bad, 'nf-ndis-ndisregisterprotocoldriver');
  return { Status: status, NdisProtocolHandle: handle };
}

/** The driver behind an NdisProtocolHandle; anything else is a bad parameter (a wild pointer in C). */
export function protocolHandle(n: Ndis, h: unknown, ddi: string): ProtocolDriverBlock {
  if (h instanceof ProtocolDriverBlock) return h;
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: the handle is not an NdisProtocolHandle from NdisRegisterProtocolDriver`,
  );
}

/**
 * VOID NdisDeregisterProtocolDriver(NdisProtocolHandle). PASSIVE, from the driver's
 * Unload routine or a failing DriverEntry; never from an entry point NDIS called
 * (a deadlock, reported as NdisSim_ProtocolDeregister). With bindings open, NDIS
 * unbinds each inside the call (pause, then ProtocolUnbindAdapterEx) and returns once
 * all are closed (nf-ndis-ndisderegisterprotocoldriver); NDIS binds the driver no more.
 */
export function NdisDeregisterProtocolDriver(NdisProtocolHandle: NDIS_HANDLE): void {
  const ddi = 'NdisDeregisterProtocolDriver';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisDeregisterProtocolDriver, ddi, null);
  const p = protocolHandle(n, NdisProtocolHandle, ddi);
  if (n.trace.on) n.traceDdi(ddi, null, { Name: p.chars.Name });
  if (p.deregistered) {
    n.verifier.report('NdisSim_ProtocolBinding', ddi, null, `${ddi}: ${p.name} is deregistered already`);
    return;
  }
  // The page: never from an entry point NDIS called. NDIS would wait there for the
  // bindings to close, and their unbinds for the handler that waits.
  const inside = n.threadCallbackOf(p.name, protocolEntryPoints);
  if (inside !== null) {
    n.verifier.report(
      'NdisSim_ProtocolDeregister',
      ddi,
      n.runningAdapterName(),
      `${p.name} called ${ddi} inside ${inside}, an entry point NDIS called: NDIS would unbind the driver's bindings inside the call and wait for them, and they wait for this handler to return, a deadlock (nf-ndis-ndisderegisterprotocoldriver); the model does not deregister it`,
    );
    return;
  }
  p.deregistered = true;
  // NDIS binds it no more, then unbinds what is bound (R7.3), all within the call.
  n.dropProtocolBinds(p);
  unbindAllOf(n, p, ddi);
}

// --------------------------------------------------------------- open, close

/**
 * The Binding behind a BindContext, NdisBindingHandle or UnbindContext of a registered
 * protocol driver; anything else is a bad parameter.
 */
export function bindingOf(n: Ndis, h: unknown, ddi: string, what: string): { bd: Binding; o: ProtocolOpen } {
  if (h instanceof Binding && h.open !== null) return { bd: h, o: h.open };
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    h instanceof Binding ? h.block.name : null,
    h === null || h === undefined
      ? `${ddi}: ${what} is NULL (a handle not stored yet, or cleared?)`
      : `${ddi}: the handle is not ${what} NDIS gave a protocol driver that registered with NdisRegisterProtocolDriver`,
  );
}

/**
 * Why the array sizes of NDIS_OPEN_PARAMETERS do not describe its arrays, or null:
 * each Size is the number of elements NDIS reads from its array, so a Size past the
 * array's end (or any Size with a NULL array) has NDIS read memory the caller never
 * filled. NDIS_MAX_FRAME_TYPES_PER_OPEN, the page's upper bound on FrameTypeArraySize,
 * is not checked: no page gives its value.
 */
function badArraySizes(p: NDIS_OPEN_PARAMETERS): string | null {
  const count = (a: readonly number[] | null | undefined) => (Array.isArray(a) ? a.length : 0);
  const m = p.MediumArraySize;
  if (!Number.isInteger(m) || m < 0 || m > count(p.MediumArray))
    return `OpenParameters.MediumArraySize ${String(m)} is not the number of elements of MediumArray (${count(p.MediumArray)})`;
  const f = p.FrameTypeArraySize;
  if (!Number.isInteger(f) || f < 0 || f > count(p.FrameTypeArray))
    return `OpenParameters.FrameTypeArraySize ${String(f)} is not the number of elements of FrameTypeArray (${p.FrameTypeArray == null ? 'NULL' : count(p.FrameTypeArray)})`;
  return null;
}

/**
 * NDIS_STATUS NdisOpenAdapterEx(NdisProtocolHandle, ProtocolBindingContext,
 * OpenParameters, BindContext, &NdisBindingHandle). PASSIVE, only inside
 * ProtocolBindAdapterEx (NDIS fails any other call). Chooses the adapter's medium from
 * OpenParameters.MediumArray. NDIS may pend the open (ChoiceSite.ProtocolOpenClose):
 * then ProtocolOpenAdapterCompleteEx follows from NDIS's worker, and the handle must
 * not be used before it. A MediumArraySize or FrameTypeArraySize larger than its array
 * is NdisSim_ProtocolBinding, and the open fails with NDIS_STATUS_FAILURE.
 */
export function NdisOpenAdapterEx<C>(
  NdisProtocolHandle: NDIS_HANDLE,
  ProtocolBindingContext: C,
  OpenParameters: NDIS_OPEN_PARAMETERS,
  BindContext: NDIS_HANDLE,
): { Status: NDIS_STATUS; NdisBindingHandle: NDIS_HANDLE | null } {
  const ddi = 'NdisOpenAdapterEx';
  const n = currentNdis(ddi);
  const p = protocolHandle(n, NdisProtocolHandle, ddi);
  const { bd, o } = bindingOf(n, BindContext, ddi, 'the BindContext');
  const b = bd.block;
  n.verifier.irql(irql.NdisOpenAdapterEx, ddi, b.name);
  const t = n.trace.on ? n.traceDdi(ddi, b, { protocol: p.name }) : null;
  const refuse = (status: number, why: string, violation: boolean) => {
    if (t !== null) {
      t.result = statusText(status);
      t.why = why;
    }
    if (violation) n.verifier.report('NdisSim_ProtocolBinding', ddi, b.name, `${p.name}: ${why}`);
    return { Status: status, NdisBindingHandle: null };
  };
  if (bd.protocol !== p)
    return refuse(
      NDIS_STATUS_INVALID_PARAMETER,
      `${ddi} with the BindContext of another protocol driver's bind`,
      true,
    );
  if (!o.inBind)
    return refuse(
      NDIS_STATUS_FAILURE,
      `${ddi} outside ProtocolBindAdapterEx: NDIS fails any open made elsewhere (nf-ndis-ndisopenadapterex)`,
      true,
    );
  if (o.state !== 'none')
    return refuse(NDIS_STATUS_FAILURE, `${ddi} called twice in one ProtocolBindAdapterEx`, true);
  const h = OpenParameters?.Header;
  if (h?.Type !== NDIS_OBJECT_TYPE_OPEN_PARAMETERS || h.Revision !== NDIS_OPEN_PARAMETERS_REVISION_1)
    return refuse(
      NDIS_STATUS_FAILURE,
      `${ddi}: OpenParameters.Header is not NDIS_OBJECT_TYPE_OPEN_PARAMETERS, NDIS_OPEN_PARAMETERS_REVISION_1`,
      true,
    );
  if (OpenParameters.AdapterName !== adapterName(b))
    return refuse(
      NDIS_STATUS_ADAPTER_NOT_FOUND,
      `OpenParameters.AdapterName ${JSON.stringify(OpenParameters.AdapterName)} is not the BindParameters.AdapterName of this bind (${JSON.stringify(adapterName(b))})`,
      false,
    );
  const sizes = badArraySizes(OpenParameters);
  if (sizes !== null)
    return refuse(NDIS_STATUS_FAILURE, `${ddi}: ${sizes} (ns-ndis-_ndis_open_parameters)`, true);
  const medium = b.general?.MediaType ?? 0;
  const media = OpenParameters.MediumArray.slice(0, OpenParameters.MediumArraySize);
  const index = media.indexOf(medium);
  if (index < 0)
    return refuse(
      NDIS_STATUS_UNSUPPORTED_MEDIA,
      `MediumArray [${media.join(', ')}] does not include the adapter's medium ${medium}`,
      false,
    );
  bd.protocolContext = ProtocolBindingContext;
  o.params = OpenParameters;
  o.selectedMedium = index;
  o.openStatus = NDIS_STATUS_SUCCESS;
  if (t !== null) t.result = statusText(NDIS_STATUS_PENDING);
  if (openClosePends(n, bd, 'opening')) return { Status: NDIS_STATUS_PENDING, NdisBindingHandle: bd };
  o.state = 'opened';
  OpenParameters.SelectedMediumIndex = index;
  if (t !== null) t.result = statusText(NDIS_STATUS_SUCCESS);
  return { Status: NDIS_STATUS_SUCCESS, NdisBindingHandle: bd };
}

/**
 * NDIS_STATUS NdisCloseAdapterEx(NdisBindingHandle). PASSIVE, inside
 * ProtocolUnbindAdapterEx (or ProtocolBindAdapterEx, to back out of a failed bind). The
 * handle is dead from the call on. NDIS may pend the close
 * (ChoiceSite.ProtocolOpenClose): ProtocolCloseAdapterCompleteEx follows.
 */
/**
 * R5.23: an intermediate driver closes a binding below while a virtual miniport over it
 * (IMDeviceInstanceContext = this binding's context) is being de-initialized and not yet
 * halted. The model's NdisIMDeInitializeDeviceInstance returns once the teardown has
 * begun; Windows' returns once the miniport is halted, so there this close would come
 * after the halt (docs/decisions.md). The trace says so; the order is the model's.
 */
function closeBeforeVelanHalt(n: Ndis, p: ProtocolDriverBlock, bd: Binding): void {
  for (const rec of n.imDevices!.values()) {
    if (rec.driver !== p.imMiniport || rec.context !== bd.protocolContext || rec.state !== 'deinitializing')
      continue;
    // From its MiniportHaltEx on, the close comes where Windows has it.
    const velan = n.adapters.find((a) => a.im === rec && !a.fdoDeleted);
    if (velan === undefined || velan.inHalt || velan.handleDead) continue;
    n.traceNdis(
      bd.block,
      `${p.name} closes its binding below before ${rec.name} is halted: the model's NdisIMDeInitializeDeviceInstance returned when the teardown began; on Windows it returns once the virtual miniport is halted, so this close would come after the halt (docs/decisions.md)`,
      {},
    );
  }
}

export function NdisCloseAdapterEx(NdisBindingHandle: NDIS_HANDLE): NDIS_STATUS {
  const ddi = 'NdisCloseAdapterEx';
  const n = currentNdis(ddi);
  const { bd, o } = bindingOf(n, NdisBindingHandle, ddi, 'an NdisBindingHandle');
  const b = bd.block;
  const p = bd.protocol as ProtocolDriverBlock;
  n.verifier.irql(irql.NdisCloseAdapterEx, ddi, b.name);
  const t = n.trace.on ? n.traceDdi(ddi, b, { protocol: p.name }) : null;
  if (!usable(n, bd, o, ddi)) return NDIS_STATUS_FAILURE;
  if (bd.pending !== 'bind' && bd.pending !== 'unbind') {
    n.verifier.report(
      'NdisSim_ProtocolUnbind',
      ddi,
      b.name,
      `${p.name} called ${ddi} with no bind or unbind under way: a protocol that must close a binding on its own asks NDIS with NdisUnbindAdapter (nf-ndis-ndiscloseadapterex, R7.3)`,
    );
    return NDIS_STATUS_FAILURE;
  }
  const left: string[] = [];
  if (o.sends > 0) left.push(`${o.sends} send(s) not completed`);
  if (o.oids > 0) left.push(`${o.oids} OID request(s) not completed`);
  if (o.held.size > 0) left.push(`${o.held.size} receive(s) not returned`);
  if (left.length > 0)
    n.verifier.report(
      'NdisSim_ProtocolUnbind',
      ddi,
      b.name,
      `${p.name} closed its binding with ${left.join(', ')}: wait for its sends and OID requests, and return its receives, before ${ddi} (the handle is dead after it; nf-ndis-ndiscloseadapterex, R7.3)`,
    );
  // Adding and Deleting Wake on LAN Patterns: the protocol removes its patterns before it
  // closes; NDIS does not remove them for it (only an application's, before a halt).
  const patterns = wolPatternsLeftBy(b, bd);
  if (patterns.length > 0)
    n.verifier.report(
      'NdisSim_ProtocolWolPatterns',
      ddi,
      b.name,
      `${p.name} closed its binding with WoL pattern(s) it added still on the adapter (PatternId ${patterns.join(', ')}): a protocol must remove each with OID_PM_REMOVE_WOL_PATTERN before ${ddi}; NDIS leaves them on the miniport (Adding and Deleting Wake on LAN Patterns)`,
    );
  if (n.trace.on && p.imMiniport !== null && n.imDevices !== null) closeBeforeVelanHalt(n, p, bd);
  if (t !== null) t.result = statusText(NDIS_STATUS_PENDING);
  if (openClosePends(n, bd, 'closing')) return NDIS_STATUS_PENDING;
  o.state = 'closed';
  if (t !== null) t.result = statusText(NDIS_STATUS_SUCCESS);
  return NDIS_STATUS_SUCCESS;
}

/**
 * NDIS_STATUS NdisUnbindAdapter(NdisBindingHandle). <= DISPATCH, outside
 * ProtocolBindAdapterEx and ProtocolUnbindAdapterEx: how a protocol gives up a binding
 * on its own. NDIS queues a work item that pauses the binding and calls
 * ProtocolUnbindAdapterEx, and returns at once; the handle may be dead by the time the
 * call returns. NDIS does not bind the driver to that adapter again until
 * NdisReEnumerateProtocolBindings, or the adapter's next start.
 */
export function NdisUnbindAdapter(NdisBindingHandle: NDIS_HANDLE): NDIS_STATUS {
  const ddi = 'NdisUnbindAdapter';
  const n = currentNdis(ddi);
  const { bd, o } = bindingOf(n, NdisBindingHandle, ddi, 'an NdisBindingHandle');
  const b = bd.block;
  const p = bd.protocol as ProtocolDriverBlock;
  n.verifier.irql(irql.NdisUnbindAdapter, ddi, b.name);
  if (n.trace.on) n.traceDdi(ddi, b, { protocol: p.name });
  if (!usable(n, bd, o, ddi)) return NDIS_STATUS_FAILURE;
  if (o.inBind || o.inUnbind) {
    n.verifier.report(
      'NdisSim_ProtocolUnbind',
      ddi,
      b.name,
      `${p.name} called ${ddi} inside ${o.inBind ? 'ProtocolBindAdapterEx' : 'ProtocolUnbindAdapterEx'}: there it fails the bind, or closes with NdisCloseAdapterEx (nf-ndis-ndisunbindadapter)`,
    );
    return NDIS_STATUS_FAILURE;
  }
  p.unboundFrom ??= new Map();
  p.unboundFrom.set(b, b.inits);
  queueSelfUnbind(n, bd);
  return NDIS_STATUS_SUCCESS;
}

/**
 * VOID NdisReEnumerateProtocolBindings(NdisProtocolHandle). PASSIVE, not inside
 * ProtocolBindAdapterEx, ProtocolUnbindAdapterEx or a binding's ProtocolNetPnPEvent (the
 * SDV rule of the same name). NDIS binds the driver again, from a work item, to each
 * adapter it is not bound to.
 */
export function NdisReEnumerateProtocolBindings(NdisProtocolHandle: NDIS_HANDLE): void {
  const ddi = 'NdisReEnumerateProtocolBindings';
  const n = currentNdis(ddi);
  const p = protocolHandle(n, NdisProtocolHandle, ddi);
  n.verifier.irql(irql.NdisReEnumerateProtocolBindings, ddi, null);
  if (n.trace.on) n.traceDdi(ddi, null, { protocol: p.name });
  // The page allows the call in a ProtocolNetPnPEvent with a NULL ProtocolBindingContext
  // (an event of all the driver's bindings, NDIS calls it for no adapter). Only the
  // calling thread counts: a bind asleep in NdisWaitEvent is not the caller's context.
  const inside =
    n.threadCallbackOf(p.name, ['ProtocolBindAdapterEx', 'ProtocolUnbindAdapterEx']) ??
    n.threadAdapterCallbackOf(p.name, ['ProtocolNetPnPEvent']);
  if (inside !== null) {
    n.verifier.report(
      'NdisReEnumerateProtocolBindings',
      ddi,
      null,
      `${p.name} called ${ddi} inside ${inside}: only outside its bind and unbind handlers and a binding's net PnP events (nf-ndis-ndisreenumerateprotocolbindings)`,
    );
    return;
  }
  p.unboundFrom = null;
  queueRebind(n, p);
}

/**
 * A binding handle the driver may call with: opened (not pended, not closed). Reports
 * a use before a pended open completed, or after the close.
 */
export function usable(n: Ndis, bd: Binding, o: ProtocolOpen, ddi: string): boolean {
  if (o.state === 'opened') return true;
  const p = bd.protocol as ProtocolDriverBlock;
  n.verifier.report(
    o.state === 'opening' ? 'NdisSim_ProtocolBinding' : 'NdisSim_StaleHandle',
    ddi,
    bd.block.name,
    o.state === 'opening'
      ? `${p.name} called ${ddi} with the NdisBindingHandle of a pended NdisOpenAdapterEx before ProtocolOpenAdapterCompleteEx (nf-ndis-ndisopenadapterex)`
      : o.state === 'none'
        ? `${p.name} called ${ddi} with a binding it never opened (NdisOpenAdapterEx failed or was not called)`
        : `${p.name} called ${ddi} with its NdisBindingHandle after NdisCloseAdapterEx (nf-ndis-ndiscloseadapterex)`,
  );
  return false;
}

// -------------------------------------------------------------- completions

/**
 * VOID NdisCompleteBindAdapterEx(BindAdapterContext, Status). <= DISPATCH. Completes a
 * ProtocolBindAdapterEx that returned PENDING.
 */
export function NdisCompleteBindAdapterEx(BindAdapterContext: NDIS_HANDLE, Status: NDIS_STATUS): void {
  const ddi = 'NdisCompleteBindAdapterEx';
  const n = currentNdis(ddi);
  const { bd, o } = bindingOf(n, BindAdapterContext, ddi, 'the BindContext');
  n.verifier.irql(irql.NdisCompleteBindAdapterEx, ddi, bd.block.name);
  if (n.trace.on) n.traceDdi(ddi, bd.block, { Status });
  if (bd.pending !== 'bind' || o.earlyBind !== null) {
    n.verifier.report(
      'NdisSim_ProtocolBinding',
      ddi,
      bd.block.name,
      `${(bd.protocol as ProtocolDriverBlock).name} called ${ddi} with no bind of it pending (a second completion, or one for a bind that returned its status)`,
    );
    return;
  }
  // The page: Status is the final status of the bind, SUCCESS or an error. PENDING is
  // neither; NDIS takes it as a failure.
  if (Status === NDIS_STATUS_PENDING)
    n.verifier.report(
      'NdisSim_ProtocolBinding',
      ddi,
      bd.block.name,
      `${(bd.protocol as ProtocolDriverBlock).name} called ${ddi} with NDIS_STATUS_PENDING: a completion needs a final status, SUCCESS or the error that failed the bind (nf-ndis-ndiscompletebindadapterex)`,
    );
  if (o.inBind) {
    o.earlyBind = Status;
    return;
  }
  life.completeBind(n, bd, bindResult(n, bd, Status, ddi));
}

/**
 * VOID NdisCompleteUnbindAdapterEx(UnbindContext). <= DISPATCH. Completes a
 * ProtocolUnbindAdapterEx that returned PENDING; the context is dead afterwards.
 */
export function NdisCompleteUnbindAdapterEx(UnbindContext: NDIS_HANDLE): void {
  const ddi = 'NdisCompleteUnbindAdapterEx';
  const n = currentNdis(ddi);
  const { bd, o } = bindingOf(n, UnbindContext, ddi, 'the UnbindContext');
  n.verifier.irql(irql.NdisCompleteUnbindAdapterEx, ddi, bd.block.name);
  if (n.trace.on) n.traceDdi(ddi, bd.block, {});
  if (bd.pending !== 'unbind' || o.earlyUnbind) {
    n.verifier.report(
      'NdisSim_ProtocolUnbind',
      ddi,
      bd.block.name,
      `${(bd.protocol as ProtocolDriverBlock).name} called ${ddi} with no unbind of it pending (a second completion, or one for an unbind that returned SUCCESS)`,
    );
    return;
  }
  if (o.inUnbind) {
    o.earlyUnbind = true;
    return;
  }
  unbindChecks(n, bd, ddi);
  life.completeUnbind(n, bd);
}

/**
 * VOID NdisCompleteNetPnPEvent(NdisBindingHandle, NetPnPEventNotification, Status).
 * PASSIVE. Completes the net PnP event the driver pended in ProtocolNetPnPEvent, with
 * the notification NDIS passed there: a pause or restart moves the binding on; for
 * another event (query-remove, cancel-remove, query-power, set-power) Status is the
 * answer NDIS's waiting thread takes (protocol-driver.ts awaitNetPnPEvent).
 */
export function NdisCompleteNetPnPEvent(
  NdisBindingHandle: NDIS_HANDLE,
  NetPnPEventNotification: NET_PNP_EVENT_NOTIFICATION,
  Status: NDIS_STATUS,
): void {
  const ddi = 'NdisCompleteNetPnPEvent';
  const n = currentNdis(ddi);
  const { bd, o } = bindingOf(n, NdisBindingHandle, ddi, 'an NdisBindingHandle');
  n.verifier.irql(irql.NdisCompleteNetPnPEvent, ddi, bd.block.name);
  if (n.trace.on) n.traceDdi(ddi, bd.block, { Status });
  const pending = bd.pending === 'NetEventPause' || bd.pending === 'NetEventRestart' ? bd.pending : null;
  if (pending === null || o.note === null || o.note !== NetPnPEventNotification) {
    // A query-remove, cancel-remove, query-power or set-power of this binding.
    const other = o.events?.find((e) => e.note === NetPnPEventNotification);
    if (other !== undefined) {
      completeOtherNetEvent(n, bd, other, Status);
      return;
    }
    const p = (bd.protocol as ProtocolDriverBlock).name;
    const code = (NetPnPEventNotification as NET_PNP_EVENT_NOTIFICATION | null)?.NetPnPEvent?.NetEvent;
    const name = code === undefined ? null : (NET_PNP_EVENT_CODE_NAMES.get(code) ?? null);
    const elsewhere = name === null ? null : bindingOfNote(n, bd, NetPnPEventNotification);
    n.verifier.report(
      'NdisSim_ProtocolNetPnPEvent',
      ddi,
      bd.block.name,
      elsewhere !== null
        ? `${p} called ${ddi} for ${name} with the NdisBindingHandle of ${bd.name}, but NDIS indicated that event on ${elsewhere.name}: the handle must be the binding's the event came on (nf-ndis-ndiscompletenetpnpevent)`
        : pending === null || o.note === null
          ? `${p} called ${ddi}${name === null ? '' : ` for ${name}`} with no network PnP event of it pending (R7.2)`
          : `${p} called ${ddi} with another NET_PNP_EVENT_NOTIFICATION than the one NDIS passed to ProtocolNetPnPEvent`,
    );
    return;
  }
  o.note = null;
  if (Status === NDIS_STATUS_PENDING) pendingNetEventStatus(n, bd, pending);
  if (pending === 'NetEventPause') {
    if (Status !== NDIS_STATUS_SUCCESS && Status !== NDIS_STATUS_PENDING)
      n.verifier.report(
        'NdisSim_ProtocolNetPnPEvent',
        ddi,
        bd.block.name,
        `${(bd.protocol as ProtocolDriverBlock).name} completed NetEventPause with ${statusText(Status)}: a protocol cannot fail a pause (R7.2)`,
      );
    pauseDrained(n, bd, ddi);
  } else if (o.watchdog !== null) {
    o.watchdog.cancelled = true;
    o.watchdog = null;
  }
  life.completeNetPnPEvent(n, bd, Status);
}

/**
 * NdisCompleteNetPnPEvent of a query-remove, cancel-remove, query-power or set-power:
 * its Status is the protocol's answer, which NDIS's waiting thread takes (R5.1, R7.4).
 * Inside the handler it is the answer too, and the handler must then return PENDING.
 */
function completeOtherNetEvent(n: Ndis, bd: Binding, e: PendedNetEvent, Status: NDIS_STATUS): void {
  if (e.status === null && Status === NDIS_STATUS_PENDING) pendingNetEventStatus(n, bd, e.event);
  if (e.status !== null) {
    n.verifier.report(
      'NdisSim_ProtocolNetPnPEvent',
      'NdisCompleteNetPnPEvent',
      bd.block.name,
      `${(bd.protocol as ProtocolDriverBlock).name} called NdisCompleteNetPnPEvent for ${e.event} again: the event completed twice (nf-ndis-ndiscompletenetpnpevent)`,
    );
    return;
  }
  e.status = Status;
  if (e.watchdog !== null) {
    e.watchdog.cancelled = true;
    e.watchdog = null;
  }
  if (e.waitSlot >= 0) n.waitSatisfied(e.waitSlot);
}

/**
 * NdisCompleteNetPnPEvent with NDIS_STATUS_PENDING: the page wants the driver's answer
 * to the event, and PENDING is no answer. NDIS takes it as it comes (a failure).
 */
function pendingNetEventStatus(n: Ndis, bd: Binding, event: string): void {
  n.verifier.report(
    'NdisSim_ProtocolNetPnPEvent',
    'NdisCompleteNetPnPEvent',
    bd.block.name,
    `${(bd.protocol as ProtocolDriverBlock).name} completed ${event} with NDIS_STATUS_PENDING: a completion needs a final status, the answer to the event (nf-ndis-ndiscompletenetpnpevent)`,
  );
}

/** Another binding of `bd`'s protocol driver on which NDIS indicated `note` and waits for it, or null. */
function bindingOfNote(n: Ndis, bd: Binding, note: NET_PNP_EVENT_NOTIFICATION): Binding | null {
  for (const b of n.adapters)
    for (const x of b.bindings)
      if (
        x !== bd &&
        x.protocol === bd.protocol &&
        x.open !== null &&
        (x.open.note === note || x.open.events?.some((e) => e.note === note) === true)
      )
        return x;
  return null;
}

// --------------------------------------------------------------- data path

/** The Binding of a data or OID call, after the IRQL check; null (reported) if the handle is not usable. */
function dataBinding(h: unknown, ddi: ProtocolDdi): { n: Ndis; bd: Binding; o: ProtocolOpen } | null {
  const n = currentNdis(ddi);
  const { bd, o } = bindingOf(n, h, ddi, 'an NdisBindingHandle');
  n.verifier.irql(irql[ddi], ddi, bd.block.name);
  if (!usable(n, bd, o, ddi)) return null;
  // R8.11: each of these runs the drivers below, which may call back into the protocol.
  if (n.kernel.ctx.held.length > 0) lockHeldUpCall(n, bd.block.name, ddi, 'R8.11');
  return { n, bd, o };
}

/**
 * What the three OID DDIs of a binding check first (dataBinding), and their trace line,
 * whose result the caller fills in.
 */
function oidBinding(
  h: unknown,
  ddi: 'NdisOidRequest' | 'NdisDirectOidRequest' | 'NdisSynchronousOidRequest',
  OidRequest: NDIS_OID_REQUEST,
): { n: Ndis; bd: Binding; o: ProtocolOpen; t: Record<string, unknown> | null } | null {
  const c = dataBinding(h, ddi);
  if (c === null) return null;
  const { n, bd } = c;
  const t = n.trace.on
    ? n.traceDdi(ddi, bd.block, { protocol: bd.protocol.name, Oid: oid.oidName(OidRequest.DATA.Oid) })
    : null;
  return { ...c, t };
}

/**
 * VOID NdisSendNetBufferLists(NdisBindingHandle, NetBufferLists, PortNumber, SendFlags).
 * <= DISPATCH. Sends NBLs the protocol allocated from its own pool, each with
 * SourceHandle = the binding handle; they come back in ProtocolSendNetBufferListsComplete.
 * Only a Running binding sends (R7.1, R7.2).
 */
export function NdisSendNetBufferLists(
  NdisBindingHandle: NDIS_HANDLE,
  NetBufferLists: NET_BUFFER_LIST,
  PortNumber: NDIS_PORT_NUMBER,
  SendFlags: ULONG,
): void {
  const ddi = 'NdisSendNetBufferLists';
  const c = dataBinding(NdisBindingHandle, ddi);
  if (c === null) return;
  const { n, bd, o } = c;
  const b = bd.block;
  const p = bd.protocol as ProtocolDriverBlock;
  if (n.trace.on) n.traceDdi(ddi, b, { protocol: p.name });
  data.checkDispatchFlag(n, b, ddi, SendFlags, NDIS_SEND_FLAGS_DISPATCH_LEVEL);
  data.noteLoopback(n, ddi, p.name, SendFlags);
  // The page: a pointer to a list of NBLs. NULL would reach MiniportSendNetBufferLists.
  if (NetBufferLists === null || NetBufferLists === undefined)
    n.verifier.fatal('NdisSim_BadParameter', ddi, b.name, `${p.name} called ${ddi} with NetBufferLists NULL`);
  let count = 0;
  for (let x: NET_BUFFER_LIST | null = NetBufferLists; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    const why =
      nbl._pool === undefined || nbl._pool.kind !== 'protocol' || nbl._pool.owner !== p.name
        ? 'is not from a pool the protocol allocated (NdisAllocateNetBufferListPool with its NdisProtocolHandle)'
        : nbl._place !== 'protocol'
          ? nbl._place === 'free'
            ? 'was freed'
            : 'was sent already and is not back in ProtocolSendNetBufferListsComplete'
          : nbl.SourceHandle !== bd
            ? 'does not carry the binding handle in SourceHandle (nf-ndis-ndissendnetbufferlists)'
            : null;
    if (why !== null) {
      n.verifier.report(
        'NdisSim_ProtocolNblOwnership',
        ddi,
        b.name,
        `${p.name} sent NBL #${nbl._id ?? '?'}, which ${why} (R6.9)`,
      );
      return;
    }
    if (++count > 1_000_000) break;
  }
  data.sentOverUnlockedPages(n, b, ddi, p.name, NetBufferLists, null);
  // The page: PortNumber names a miniport adapter port, and a protocol that uses no
  // ports sends on the default one, 0; another must be a port the miniport activated
  // (handling-the-port-activation-pnp-event). The send goes on, with the number given.
  if (PortNumber !== NDIS_DEFAULT_PORT_NUMBER)
    portMisused(n, b, ddi, p.name, `sent ${count} NBL(s) on`, PortNumber);
  // R7.1, R7.2: a protocol starts sends only in Running. R7.1's "data flows in Running
  // and Pausing" is what was under way: "Pausing a binding" says that in Pausing the
  // protocol should not initiate new sends and waits for its outstanding ones to
  // complete (and still handles receives), and in Paused must not send at all. So a
  // send made after NetEventPause is reported here as well; NDIS gives a paused
  // binding's sends back with NDIS_STATUS_PAUSED.
  if (bd.state !== 'Running')
    n.verifier.report(
      'NdisSim_ProtocolDataState',
      ddi,
      b.name,
      `${p.name} sent ${count} NBL(s) on its binding to ${b.name} while the binding is ${bd.state}: a protocol sends only while Running (R7.1, R7.2)`,
    );
  o.sends += count;
  p.sent += count;
  data.protocolSend(n, bd, NetBufferLists, PortNumber, SendFlags);
}

/**
 * VOID NdisReturnNetBufferLists(NdisBindingHandle, NetBufferLists, ReturnFlags).
 * <= DISPATCH. Gives back receives the protocol got without NDIS_RECEIVE_FLAGS_RESOURCES,
 * in any grouping.
 */
export function NdisReturnNetBufferLists(
  NdisBindingHandle: NDIS_HANDLE,
  NetBufferLists: NET_BUFFER_LIST,
  ReturnFlags: ULONG,
): void {
  const ddi = 'NdisReturnNetBufferLists';
  const c = dataBinding(NdisBindingHandle, ddi);
  if (c === null) return;
  const { n, bd, o } = c;
  const b = bd.block;
  const p = bd.protocol as ProtocolDriverBlock;
  if (n.trace.on) n.traceDdi(ddi, b, { protocol: p.name });
  nullChain(n, NetBufferLists, ddi, 'NetBufferLists', b.name);
  data.checkDispatchFlag(n, b, ddi, ReturnFlags, NDIS_RETURN_FLAGS_DISPATCH_LEVEL);
  const seen = new Set<NblImpl>();
  for (let x: NET_BUFFER_LIST | null = NetBufferLists; x !== null; x = x.Next) {
    const nbl = x as NblImpl;
    if (seen.has(nbl) || !o.held.has(nbl)) {
      n.verifier.report(
        'NdisSim_ProtocolNblOwnership',
        ddi,
        b.name,
        seen.has(nbl)
          ? `${p.name} returned a chain that loops back to NBL #${nbl._id}`
          : `${p.name} returned NBL #${nbl._id ?? '?'}, ${notHeldWhy(o, nbl, p)} (R6.13)`,
      );
      return;
    }
    seen.add(nbl);
  }
  o.returned ??= new WeakSet();
  for (const nbl of seen) {
    o.held.delete(nbl);
    o.returned.add(nbl);
  }
  p.returned += seen.size;
  data.protocolReturn(n, bd, NetBufferLists);
}

/** Why an NBL the protocol returns is not one it holds as a receive. */
function notHeldWhy(o: ProtocolOpen, nbl: NblImpl, p: ProtocolDriverBlock): string {
  if (o.resources?.has(nbl))
    return 'which came with NDIS_RECEIVE_FLAGS_RESOURCES: it went back when ProtocolReceiveNetBufferLists returned, and is not returned with NdisReturnNetBufferLists';
  if (o.returned?.has(nbl)) return 'which it returned already';
  if (nbl._pool?.kind === 'protocol' && nbl._pool.owner === p.name)
    return 'which is one of its own NBLs, not a receive (its sends come back in ProtocolSendNetBufferListsComplete)';
  return 'which NDIS never indicated to this binding';
}

/**
 * UCHAR NdisGeneratePartialCancelId(VOID). <= DISPATCH (Irql_Miscellaneous_Function).
 * A value for the high byte of the cancel IDs the caller gives its sends
 * (NET_BUFFER_LIST.CancelId, NDIS_SET_NET_BUFFER_LIST_CANCEL_ID), so that they are no
 * other driver's: 1, 2, … per machine, in the order of the calls, wrapping after 255 as
 * a UCHAR does. A protocol calls it once per client, typically in DriverEntry
 * (nf-ndis-ndisgeneratepartialcancelid; ndisprot does).
 */
export function NdisGeneratePartialCancelId(): number {
  const ddi = 'NdisGeneratePartialCancelId';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisGeneratePartialCancelId, ddi, null);
  const id = n.nextPartialCancelId;
  n.nextPartialCancelId = id === 0xff ? 1 : id + 1;
  if (n.trace.on) n.traceDdi(ddi, null, { result: id });
  return id;
}

/** VOID NdisCancelSendNetBufferLists(NdisBindingHandle, CancelId). <= DISPATCH. */
export function NdisCancelSendNetBufferLists(NdisBindingHandle: NDIS_HANDLE, CancelId: unknown): void {
  const ddi = 'NdisCancelSendNetBufferLists';
  const c = dataBinding(NdisBindingHandle, ddi);
  if (c === null) return;
  if (c.n.trace.on) c.n.traceDdi(ddi, c.bd.block, { protocol: c.bd.protocol.name });
  data.protocolCancelSend(c.n, c.bd, CancelId);
}

/**
 * NDIS_STATUS NdisOidRequest(NdisBindingHandle, OidRequest). <= DISPATCH. PENDING:
 * ProtocolOidRequestComplete follows; any other status is final and nothing follows.
 */
export function NdisOidRequest(NdisBindingHandle: NDIS_HANDLE, OidRequest: NDIS_OID_REQUEST): NDIS_STATUS {
  const c = oidBinding(NdisBindingHandle, 'NdisOidRequest', OidRequest);
  if (c === null) return NDIS_STATUS_FAILURE;
  const { n, bd, o, t } = c;
  // Handling the Port Activation PnP Event: a protocol uses a port number in a request
  // only once it heard the port is active.
  if (OidRequest.PortNumber !== NDIS_DEFAULT_PORT_NUMBER)
    portMisused(
      n,
      bd.block,
      'NdisOidRequest',
      bd.protocol.name,
      'issued an OID request on',
      OidRequest.PortNumber,
    );
  o.oids++;
  (bd.protocol as ProtocolDriverBlock).oidRequests++;
  const s = oid.submit(n, bd.block, OidRequest, { kind: 'binding', binding: bd });
  if (s !== NDIS_STATUS_PENDING) o.oids--;
  if (t !== null) t.result = statusText(s);
  return s;
}

/** VOID NdisCancelOidRequest(NdisBindingHandle, RequestId). <= DISPATCH. */
export function NdisCancelOidRequest(NdisBindingHandle: NDIS_HANDLE, RequestId: unknown): void {
  const ddi = 'NdisCancelOidRequest';
  const c = dataBinding(NdisBindingHandle, ddi);
  if (c === null) return;
  if (c.n.trace.on) c.n.traceDdi(ddi, c.bd.block, { protocol: c.bd.protocol.name });
  oid.protocolCancel(c.n, c.bd, RequestId);
}

/**
 * NDIS_STATUS NdisDirectOidRequest(NdisBindingHandle, OidRequest). <= DISPATCH. NDIS 6.1:
 * the request goes at once to the next driver below with a direct handler, in the
 * caller's context (direct-oid.ts); what that driver returns comes back here. PENDING:
 * ProtocolDirectOidRequestComplete follows. Only the OIDs the direct path allows.
 */
export function NdisDirectOidRequest(
  NdisBindingHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
): NDIS_STATUS {
  const ddi = 'NdisDirectOidRequest';
  const c = oidBinding(NdisBindingHandle, ddi, OidRequest);
  if (c === null) return NDIS_STATUS_FAILURE;
  const { n, bd, o, t } = c;
  const b = bd.block;
  const p = bd.protocol as ProtocolDriverBlock;
  if (p.chars.DirectOidRequestCompleteHandler == null) {
    directViolation(
      n,
      b,
      ddi,
      `${p.name} called ${ddi} but registered no ProtocolDirectOidRequestComplete (DirectOidRequestCompleteHandler): NDIS has no routine to complete a pended request with`,
    );
    if (t !== null) t.result = statusText(NDIS_STATUS_FAILURE);
    return NDIS_STATUS_FAILURE;
  }
  if (!directOids.has(OidRequest.DATA.Oid))
    directViolation(
      n,
      b,
      ddi,
      `${p.name} called ${ddi} with ${oid.oidText(OidRequest.DATA.Oid)}, which the direct OID path does not allow: use NdisOidRequest (direct-oid-request-interface-in-ndis-6-1)`,
    );
  o.oids++;
  const s = submitDirect(n, b, OidRequest, { kind: 'binding', binding: bd });
  if (s !== NDIS_STATUS_PENDING) o.oids--;
  if (t !== null) t.result = statusText(s);
  return s;
}

/** VOID NdisCancelDirectOidRequest(NdisBindingHandle, RequestId). <= DISPATCH. */
export function NdisCancelDirectOidRequest(NdisBindingHandle: NDIS_HANDLE, RequestId: unknown): void {
  const ddi = 'NdisCancelDirectOidRequest';
  const c = dataBinding(NdisBindingHandle, ddi);
  if (c === null) return;
  if (c.n.trace.on)
    c.n.traceDdi(ddi, c.bd.block, { protocol: c.bd.protocol.name, RequestId: String(RequestId) });
  protocolCancelDirect(c.n, c.bd, RequestId);
}

/**
 * NDIS_STATUS NdisSynchronousOidRequest(NdisBindingHandle, OidRequest). <= DISPATCH.
 * NDIS 6.80: the request goes down through each filter module's
 * FilterSynchronousOidRequest to MiniportSynchronousOidRequest and back up through
 * FilterSynchronousOidRequestComplete before the call returns (sync-oid.ts). Never
 * PENDING; no completion handler. Only the OIDs the synchronous path allows.
 */
export function NdisSynchronousOidRequest(
  NdisBindingHandle: NDIS_HANDLE,
  OidRequest: NDIS_OID_REQUEST,
): NDIS_STATUS {
  const ddi = 'NdisSynchronousOidRequest';
  const c = oidBinding(NdisBindingHandle, ddi, OidRequest);
  if (c === null) return NDIS_STATUS_FAILURE;
  const { n, bd, o, t } = c;
  const b = bd.block;
  const p = bd.protocol as ProtocolDriverBlock;
  checkSyncRequest(n, b, ddi, p.name, p.ndisVersion, OidRequest);
  // nf-ndis-ndissynchronousoidrequest: the binding stays open until the request is done,
  // which here is the return of this call.
  o.oids++;
  let s: number;
  try {
    s = submitSync(n, b, OidRequest, { kind: 'binding', binding: bd });
  } finally {
    o.oids--;
  }
  if (t !== null) t.result = statusText(s);
  return s;
}

/**
 * A protocol used PortNumber `port` (not the default port 0) in a send or a request: it
 * must be a port the miniport activated, which NDIS told the protocol of (its bind
 * parameters or NetEventPortActivation). Reported as NdisSim_ProtocolDataState.
 */
function portMisused(n: Ndis, b: MiniportBlock, ddi: string, who: string, what: string, port: number): void {
  const why =
    b.ports === null
      ? `PortNumber ${String(port)}, which is not a port of ${b.name}: it has only the default port, NDIS_DEFAULT_PORT_NUMBER (0), the one a protocol that uses no ports must give (nf-ndis-ndissendnetbufferlists)`
      : portProblem(b, port);
  if (why === null) return;
  n.verifier.report(
    'NdisSim_ProtocolDataState',
    ddi,
    b.name,
    b.ports === null ? `${who} ${what} ${why}` : `${who} ${what} PortNumber ${String(port)}: ${why}`,
  );
}
