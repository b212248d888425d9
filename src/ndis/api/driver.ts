// Driver registration DDIs (R2.1, R2.2, R2.16) and NdisSetOptionalHandlers.

import { NotModelledError } from '../../errors.ts';
import { Irql } from '../../kernel/kernel.ts';
import { statusText } from '../../verifier/bugcheck.ts';
import { Binding } from '../binding.ts';
import { MiniportDriverBlock } from '../driver.ts';
import type { NDIS_FILTER_PARTIAL_CHARACTERISTICS } from '../filter.ts';
import { ddiIrql } from '../generated/irql.ts';
import {
  NDIS_INTERMEDIATE_DRIVER,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
  NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_CO_CALL_MANAGER_OPTIONAL_HANDLERS,
  NDIS_OBJECT_TYPE_CO_MINIPORT_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_SHARED_MEMORY_PROVIDER_CHARACTERISTICS,
  NDIS_STATUS_BAD_CHARACTERISTICS,
  NDIS_STATUS_BAD_VERSION,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_SUCCESS,
  NDIS_WDM_DRIVER,
} from '../generated/status.ts';
import { describe, type Ndis } from '../ndis.ts';
import { ProtocolDriverBlock } from '../protocol-driver.ts';
import { syncHandlersUnseen } from '../sync-oid.ts';
import type {
  DRIVER_OBJECT,
  NDIS_DRIVER_OPTIONAL_HANDLERS,
  NDIS_HANDLE,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_MINIPORT_PNP_CHARACTERISTICS,
  NDIS_MINIPORT_SS_CHARACTERISTICS,
  NDIS_STATUS,
} from '../types.ts';
import { currentNdis, driverHandle } from './common.ts';
import { checkDevicesAtDeregistration } from './device.ts';
import { filterSetOptionalHandlers, isFilterHandle } from './filter-options.ts';

const irqlRegister = ddiIrql.NdisMRegisterMiniportDriver!;
const irqlDeregister = ddiIrql.NdisMDeregisterMiniportDriver!;
const irqlSetOptionalHandlers = ddiIrql.NdisSetOptionalHandlers!;

/** NDIS 6 minor versions a miniport may declare (6.0 … 6.89 as released). */
export const knownMinorVersions: ReadonlySet<number> = new Set([
  0, 1, 20, 30, 40, 50, 51, 60, 70, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89,
]);

/** The newest NDIS version the model accepts: NDIS 6, this minor version. */
export const newestMinorVersion = Math.max(...knownMinorVersions);

/** NDIS_MINIPORT_DRIVER_CHARACTERISTICS.Flags as the trace shows them. */
function flagsText(flags: number): string {
  if (flags === NDIS_WDM_DRIVER) return 'NDIS_WDM_DRIVER';
  if (flags === NDIS_INTERMEDIATE_DRIVER) return 'NDIS_INTERMEDIATE_DRIVER';
  return `0x${flags.toString(16)}`;
}

/** A refusal of a driver's characteristics: the status NDIS returns, and why. */
export type Refusal = { status: number; why: string };

/** NDIS_STATUS_BAD_VERSION for a driver that does not declare a known NDIS 6 version, else null. */
export function versionRefusal(c: { MajorNdisVersion: number; MinorNdisVersion: number }): Refusal | null {
  if (c.MajorNdisVersion === 6 && knownMinorVersions.has(c.MinorNdisVersion)) return null;
  return {
    status: NDIS_STATUS_BAD_VERSION,
    why: `NDIS ${c.MajorNdisVersion}.${c.MinorNdisVersion} is not an NDIS 6 version`,
  };
}

/**
 * NDIS_STATUS_BAD_CHARACTERISTICS for a characteristics header whose Type is not `type`
 * (named `typeName`) or whose Revision is not 1 to `lastRevision`, else the version's
 * refusal (filter and protocol drivers; a miniport's page orders the checks otherwise).
 */
export function headerRefusal(
  c: { Header?: { Type: number; Revision: number }; MajorNdisVersion: number; MinorNdisVersion: number },
  type: number,
  typeName: string,
  lastRevision: number,
): Refusal | null {
  if (c.Header?.Type !== type)
    return { status: NDIS_STATUS_BAD_CHARACTERISTICS, why: `Header.Type is not ${typeName}` };
  if (c.Header.Revision < 1 || c.Header.Revision > lastRevision)
    return {
      status: NDIS_STATUS_BAD_CHARACTERISTICS,
      why: `Header.Revision ${c.Header.Revision} is unknown`,
    };
  return versionRefusal(c);
}

/**
 * The first handler NDIS requires that `c` lacks, or null (R2.2). Read one by one
 * rather than by a loop over their names: a keyed read with a varying name is a
 * megamorphic lookup, and every world registers its drivers afresh.
 */
function missingHandler(c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS): string | null {
  if (typeof c.InitializeHandlerEx !== 'function') return 'InitializeHandlerEx';
  if (typeof c.HaltHandlerEx !== 'function') return 'HaltHandlerEx';
  if (typeof c.UnloadHandler !== 'function') return 'UnloadHandler';
  if (typeof c.PauseHandler !== 'function') return 'PauseHandler';
  if (typeof c.RestartHandler !== 'function') return 'RestartHandler';
  if (typeof c.OidRequestHandler !== 'function') return 'OidRequestHandler';
  if (typeof c.SendNetBufferListsHandler !== 'function') return 'SendNetBufferListsHandler';
  if (typeof c.ReturnNetBufferListsHandler !== 'function') return 'ReturnNetBufferListsHandler';
  if (typeof c.CancelSendHandler !== 'function') return 'CancelSendHandler';
  if (typeof c.DevicePnPEventNotifyHandler !== 'function') return 'DevicePnPEventNotifyHandler';
  if (typeof c.ShutdownHandlerEx !== 'function') return 'ShutdownHandlerEx';
  if (typeof c.CancelOidRequestHandler !== 'function') return 'CancelOidRequestHandler';
  return null;
}

/** Why the characteristics are rejected, or null. */
function checkCharacteristics(
  c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  missing: 'bad-characteristics' | 'failure',
): Refusal | null {
  const version = versionRefusal(c);
  if (version !== null) return version;
  if (c.Header?.Type !== NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS) {
    return {
      status: NDIS_STATUS_BAD_CHARACTERISTICS,
      why: 'Header.Type is not MINIPORT_DRIVER_CHARACTERISTICS',
    };
  }
  if (c.Header.Revision < 1 || c.Header.Revision > 3) {
    return { status: NDIS_STATUS_BAD_VERSION, why: `Header.Revision ${c.Header.Revision} is unknown` };
  }
  // R2.2 (Ambiguity, option missingHandlerStatus: BAD_CHARACTERISTICS by default).
  const missingStatus = missing === 'failure' ? NDIS_STATUS_FAILURE : NDIS_STATUS_BAD_CHARACTERISTICS;
  const missingName = missingHandler(c);
  if (missingName !== null) return { status: missingStatus, why: `${missingName} is missing` };
  // ResetHandlerEx is required once CheckForHangHandlerEx is there: a missing required handler too.
  if (typeof c.CheckForHangHandlerEx === 'function' && typeof c.ResetHandlerEx !== 'function') {
    return { status: missingStatus, why: 'CheckForHangHandlerEx needs ResetHandlerEx' };
  }
  if (c.Header.Revision >= NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2) {
    if ((c.DirectOidRequestHandler == null) !== (c.CancelDirectOidRequestHandler == null))
      return {
        status: NDIS_STATUS_BAD_CHARACTERISTICS,
        why: 'DirectOidRequestHandler and CancelDirectOidRequestHandler go together',
      };
    // R2.2: an entry point that is not a routine is refused here, as
    // SynchronousOidRequestHandler below, not found at the first direct OID request as
    // "h is not a function" in the driver's name (stop-36 review T7). A revision 1
    // structure ends before these members: NDIS never reads them (the warning below).
    if (c.DirectOidRequestHandler != null && typeof c.DirectOidRequestHandler !== 'function')
      return {
        status: NDIS_STATUS_BAD_CHARACTERISTICS,
        why: 'DirectOidRequestHandler is neither a routine nor NULL',
      };
    if (c.CancelDirectOidRequestHandler != null && typeof c.CancelDirectOidRequestHandler !== 'function')
      return {
        status: NDIS_STATUS_BAD_CHARACTERISTICS,
        why: 'CancelDirectOidRequestHandler is neither a routine nor NULL',
      };
  }
  if (c.SynchronousOidRequestHandler != null && typeof c.SynchronousOidRequestHandler !== 'function')
    return {
      status: NDIS_STATUS_BAD_CHARACTERISTICS,
      why: 'SynchronousOidRequestHandler is neither a routine nor NULL',
    };
  return null;
}

/**
 * NDIS_STATUS NdisMRegisterMiniportDriver(DriverObject, RegistryPath, MiniportDriverContext,
 * MiniportDriverCharacteristics, *NdisMiniportDriverHandle). PASSIVE. NDIS copies the
 * characteristics and calls MiniportSetOptions inside the call (R2.1).
 */
export function NdisMRegisterMiniportDriver<C = unknown, D = unknown>(
  DriverObject: DRIVER_OBJECT,
  RegistryPath: string,
  MiniportDriverContext: D,
  Characteristics: NDIS_MINIPORT_DRIVER_CHARACTERISTICS<C, D>,
): { Status: NDIS_STATUS; NdisMiniportDriverHandle: NDIS_HANDLE | null } {
  // NDIS hands each handler back the contexts the driver gave it, so it can hold them
  // untyped: the driver's types end at this boundary.
  const MiniportDriverCharacteristics = Characteristics as unknown as NDIS_MINIPORT_DRIVER_CHARACTERISTICS;
  const n: Ndis = currentNdis('NdisMRegisterMiniportDriver');
  n.verifier.irql(irqlRegister, 'NdisMRegisterMiniportDriver', null);
  const mod = n.loading;
  // The page's second registration from one DriverEntry is a miniport-intermediate
  // driver's virtual miniport (NDIS_INTERMEDIATE_DRIVER); the model would replace the
  // first registration with it.
  const prev = mod === null ? undefined : n.drivers.get(mod.name);
  if (prev !== undefined && prev.driverObject === DriverObject && !prev.deregistered)
    throw new NotModelledError(
      'NdisMRegisterMiniportDriver',
      `a second registration by ${prev.name} (a miniport-intermediate driver registering its virtual miniport next to its physical one is not modelled; an intermediate driver with NDIS_INTERMEDIATE_DRIVER and a protocol edge is, installed as a protocol driver)`,
    );
  // The characteristics page's Flags: NDIS_INTERMEDIATE_DRIVER marks an intermediate
  // driver, whose adapters are virtual miniports over its own protocol edge (im.ts).
  // NDIS_WDM_DRIVER (a WDM lower edge, USB say) is taken: the model's lower edge is its
  // simulated device either way.
  const flags = MiniportDriverCharacteristics.Flags ?? 0;
  const bad = checkCharacteristics(MiniportDriverCharacteristics, n.options.missingHandlerStatus);
  const tr = n.trace.on
    ? n.traceDdi('NdisMRegisterMiniportDriver', null, {
        RegistryPath,
        NdisVersion: `${MiniportDriverCharacteristics.MajorNdisVersion}.${MiniportDriverCharacteristics.MinorNdisVersion}`,
        ...(flags === 0 ? {} : { Flags: flagsText(flags) }),
      })
    : null;
  let status: number = NDIS_STATUS_SUCCESS;
  let handle: MiniportDriverBlock | null = null;
  if (mod === null || DriverObject.DriverName !== n.loadingObject?.DriverName) {
    status = NDIS_STATUS_FAILURE;
  } else if (bad !== null) {
    status = bad.status;
  } else {
    const copy = { ...MiniportDriverCharacteristics };
    // implementing-an-ndis-6-1-driver: the direct OID handlers are members of
    // NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 (its Size reaches them); NDIS reads
    // a revision 1 structure only up to CancelOidRequestHandler, so it never sees them.
    if (
      copy.Header.Revision < NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 &&
      (copy.DirectOidRequestHandler != null || copy.CancelDirectOidRequestHandler != null)
    ) {
      copy.DirectOidRequestHandler = undefined;
      copy.CancelDirectOidRequestHandler = undefined;
      n.verifier.warn(
        'R2.1',
        'NdisMRegisterMiniportDriver',
        null,
        `${mod.name} registers with Header.Revision 1 and sets DirectOidRequestHandler or CancelDirectOidRequestHandler: those members come with NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2 (NDIS 6.1), so NDIS ignores them and never calls MiniportDirectOidRequest (implementing-an-ndis-6-1-driver)`,
      );
    }
    // MiniportSynchronousOidRequest that NDIS 6.80 would not see (sync-oid.ts, docs/decisions.md).
    const unseen = copy.SynchronousOidRequestHandler == null ? null : syncHandlersUnseen(copy);
    if (unseen !== null) {
      copy.SynchronousOidRequestHandler = null;
      n.verifier.warn(
        'R2.2',
        'NdisMRegisterMiniportDriver',
        null,
        `${mod.name} registers MiniportSynchronousOidRequest, but ${unseen}: NDIS never calls it (ns-ndis-_ndis_miniport_driver_characteristics)`,
      );
    }
    handle = new MiniportDriverBlock(mod.name, DriverObject, copy, MiniportDriverContext);
    handle.intermediate = (flags & NDIS_INTERMEDIATE_DRIVER) !== 0;
    n.registerDriver(handle);
    // R4.1: the MINIPORT_CHECK_FOR_HANG and MINIPORT_RESET pages discourage both
    // handlers for NDIS 6.83 and later drivers; NDIS still calls them.
    const c = MiniportDriverCharacteristics;
    if (
      c.MinorNdisVersion >= 83 &&
      (typeof c.CheckForHangHandlerEx === 'function' || typeof c.ResetHandlerEx === 'function')
    )
      n.verifier.warn(
        'R4.1',
        'NdisMRegisterMiniportDriver',
        null,
        `${mod.name} declares NDIS 6.${c.MinorNdisVersion} and registers ${typeof c.CheckForHangHandlerEx === 'function' ? 'MiniportCheckForHangEx' : 'MiniportResetEx'}: check-for-hang and reset are discouraged for NDIS 6.83 and later drivers (without them, a driver that must notice a stuck NIC watches it itself, from a timer of its own or its DPC, and gives up with NdisMRemoveMiniport, R5.21)`,
      );
    const setOptions = handle.chars.SetOptionsHandler;
    if (typeof setOptions === 'function') {
      const f = n.enter(null, mod.name, 'MiniportSetOptions', Irql.Passive);
      let s: number;
      handle.inSetOptions = true;
      try {
        s = setOptions(handle, MiniportDriverContext);
      } catch (e) {
        n.driverThrew(e, 'MiniportSetOptions', null);
      } finally {
        handle.inSetOptions = false;
      }
      n.leave(f, s);
      if (s !== NDIS_STATUS_SUCCESS) {
        n.drivers.delete(mod.name);
        handle = null;
        status = s;
      }
    }
  }
  if (tr !== null) {
    tr.result = describe(status);
    if (bad !== null) tr.why = bad.why;
  }
  // R2.2: the refusal is the driver's bug; its DriverEntry fails and the device shows Code 37.
  if (bad !== null && mod !== null)
    n.verifier.report(
      'NdisSim_BadCharacteristics',
      'NdisMRegisterMiniportDriver',
      null,
      `${mod.name}: NdisMRegisterMiniportDriver returned ${statusText(status)}: ${bad.why} (R2.2, ns-ndis-_ndis_miniport_driver_characteristics)`,
    );
  return { Status: status, NdisMiniportDriverHandle: handle };
}

/** VOID NdisMDeregisterMiniportDriver(NdisMiniportDriverHandle). PASSIVE. */
export function NdisMDeregisterMiniportDriver(NdisMiniportDriverHandle: NDIS_HANDLE): void {
  const d = driverHandle(NdisMiniportDriverHandle, 'NdisMDeregisterMiniportDriver');
  const n = currentNdis('NdisMDeregisterMiniportDriver');
  n.verifier.irql(irqlDeregister, 'NdisMDeregisterMiniportDriver', null);
  if (d.deregistered) {
    // The handle was released by the first call: this one uses a freed object.
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      'NdisMDeregisterMiniportDriver',
      null,
      `${d.name}: NdisMDeregisterMiniportDriver called a second time with the same driver handle`,
    );
    return;
  }
  if (n.io !== null) checkDevicesAtDeregistration(n, d, 'NdisMDeregisterMiniportDriver');
  // R5.23, R2.16: an intermediate driver deregisters its miniport edge in its unload,
  // once its unbinds gave up every virtual miniport; one still up would be called in
  // code that is about to go (unloading-an-intermediate-driver).
  if (d.intermediate && d.adapterCount > 0) {
    const live = n.adapters
      .filter((b) => b.driver === d && !b.fdoDeleted && !b.handleDead)
      .map((b) => b.name);
    if (live.length > 0)
      n.verifier.report(
        'NdisSim_IMDeviceInstance',
        'NdisMDeregisterMiniportDriver',
        live[0]!,
        `${d.name} deregistered its miniport edge with virtual miniport(s) ${live.join(', ')} not halted: its unbinds never gave them up (NdisIMDeInitializeDeviceInstance), and NDIS goes on calling their handlers in a driver that is unloading (unloading-an-intermediate-driver)`,
      );
  }
  d.deregistered = true;
  if (n.trace.on) n.traceDdi('NdisMDeregisterMiniportDriver', null, { driver: d.name });
}

/**
 * Optional handler sets a miniport may pass (the NdisSetOptionalHandlers page) that the
 * model leaves out, with what each is for.
 */
const notModelledSets: ReadonlyMap<number, string> = new Map([
  [
    NDIS_OBJECT_TYPE_CO_MINIPORT_CHARACTERISTICS,
    'NDIS_MINIPORT_CO_CHARACTERISTICS (connection-oriented miniports)',
  ],
  [
    NDIS_OBJECT_TYPE_NDK_PROVIDER_CHARACTERISTICS,
    'NDIS_NDK_PROVIDER_CHARACTERISTICS (Network Direct kernel providers)',
  ],
  [
    NDIS_OBJECT_TYPE_CO_CALL_MANAGER_OPTIONAL_HANDLERS,
    'NDIS_CO_CALL_MANAGER_OPTIONAL_HANDLERS (connection-oriented call managers)',
  ],
  [
    NDIS_OBJECT_TYPE_SHARED_MEMORY_PROVIDER_CHARACTERISTICS,
    'NDIS_SHARED_MEMORY_PROVIDER_CHARACTERISTICS (shared memory providers)',
  ],
  [
    NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
    'NDIS_CLIENT_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS (TCP chimney offload)',
  ],
  [
    NDIS_OBJECT_TYPE_CLIENT_CHIMNEY_OFFLOAD_CHARACTERISTICS,
    'NDIS_CLIENT_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS (TCP chimney offload)',
  ],
  [
    NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS,
    'NDIS_PROVIDER_CHIMNEY_OFFLOAD_GENERIC_CHARACTERISTICS (TCP chimney offload)',
  ],
  [
    NDIS_OBJECT_TYPE_PROVIDER_CHIMNEY_OFFLOAD_CHARACTERISTICS,
    'NDIS_PROVIDER_CHIMNEY_OFFLOAD_TCP_CHARACTERISTICS (TCP chimney offload)',
  ],
]);

/** The PnP handler members, for the check that each is a routine or NULL. */
const pnpHandlerNames = [
  'MiniportAddDeviceHandler',
  'MiniportRemoveDeviceHandler',
  'MiniportFilterResourceRequirementsHandler',
  'MiniportStartDeviceHandler',
] as const;

/**
 * NDIS_STATUS NdisSetOptionalHandlers(NdisHandle, OptionalHandlers). PASSIVE. A miniport
 * calls it inside MiniportSetOptions with the NdisDriverHandle NDIS passed there, to set
 * or change optional entry points. The model takes NDIS_MINIPORT_PNP_CHARACTERISTICS
 * (MiniportAddDevice, MiniportStartDevice, MiniportRemoveDevice; a
 * MiniportFilterResourceRequirements is kept but never called) and, from NDIS 6.30,
 * NDIS_MINIPORT_SS_CHARACTERISTICS (selective suspend, ss.ts); the other sets a
 * miniport may pass are not modelled. A call outside MiniportSetOptions, a structure
 * that is no miniport's, a wrong revision or a member that is not a routine is
 * NdisSim_OptionalHandlers, and the call returns NDIS_STATUS_FAILURE ("none of the
 * other values applies") without changing anything. Filter drivers' calls are in
 * api/filter-options.ts.
 */
export function NdisSetOptionalHandlers<D = unknown, A = unknown>(
  NdisHandle: NDIS_HANDLE,
  OptionalHandlers:
    | NDIS_MINIPORT_PNP_CHARACTERISTICS<D, A>
    | NDIS_MINIPORT_SS_CHARACTERISTICS<A>
    | NDIS_FILTER_PARTIAL_CHARACTERISTICS<A>
    | NDIS_DRIVER_OPTIONAL_HANDLERS,
): NDIS_STATUS {
  const ddi = 'NdisSetOptionalHandlers';
  // A filter driver's or filter module's handle (FilterSetOptions, FilterSetModuleOptions).
  if (isFilterHandle(NdisHandle))
    return filterSetOptionalHandlers(currentNdis(ddi), NdisHandle, OptionalHandlers);
  // The page allows a protocol driver's handle (in ProtocolSetOptions) and a binding
  // handle: the sets a protocol passes there are CoNDIS client and chimney ones.
  if (NdisHandle instanceof ProtocolDriverBlock || NdisHandle instanceof Binding)
    throw new NotModelledError(
      ddi,
      `with a protocol driver's ${NdisHandle instanceof Binding ? 'binding' : 'driver'} handle: the optional handler sets a protocol registers (CoNDIS client, TCP chimney offload) are not modelled`,
    );
  const d = driverHandle(NdisHandle, ddi);
  const n = currentNdis(ddi);
  n.verifier.irql(irqlSetOptionalHandlers, ddi, null);
  const type: unknown = OptionalHandlers?.Header?.Type;
  const tr = n.trace.on ? n.traceDdi(ddi, null, { driver: d.name, Type: type }) : null;
  const why = optionalHandlersRejected(d.inSetOptions, d.ndisVersion, type, OptionalHandlers);
  let status: number = NDIS_STATUS_SUCCESS;
  if (why !== null) {
    n.verifier.report('NdisSim_OptionalHandlers', ddi, null, `${d.name}: ${why}`);
    status = NDIS_STATUS_FAILURE;
  } else if (type === NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS) {
    // Selective suspend (NDIS 6.30): NDIS uses it on an adapter that also reports it (ss.ts).
    d.ss = { ...(OptionalHandlers as unknown as NDIS_MINIPORT_SS_CHARACTERISTICS) };
    // nf-ndis-miniport_synchronous_oid_request: a selective suspend miniport must not
    // register MiniportSynchronousOidRequest; the two are incompatible.
    if (d.chars.SynchronousOidRequestHandler != null)
      n.verifier.report(
        'NdisSim_SyncOid',
        ddi,
        null,
        `${d.name} registers NDIS_MINIPORT_SS_CHARACTERISTICS and also has MiniportSynchronousOidRequest: miniports that implement NDIS selective suspend are incompatible with synchronous OIDs and must not register that handler (nf-ndis-miniport_synchronous_oid_request)`,
      );
  } else {
    // A copy, as for the driver characteristics: the entry points are those of this call.
    d.pnp = { ...(OptionalHandlers as unknown as NDIS_MINIPORT_PNP_CHARACTERISTICS) };
    if (typeof d.pnp.MiniportFilterResourceRequirementsHandler === 'function') {
      const note = `${d.name}: MiniportFilterResourceRequirements registered (NdisSetOptionalHandlers), but the model's PnP manager sends no IRP_MN_FILTER_RESOURCE_REQUIREMENTS, so it is never called`;
      if (!n.modelNotes.includes(note)) n.modelNotes.push(note);
    }
  }
  if (tr !== null) tr.result = describe(status);
  return status;
}

/** Why NdisSetOptionalHandlers refuses the call, or null; a set the model leaves out throws. */
function optionalHandlersRejected(
  inSetOptions: boolean,
  ndisVersion: number,
  type: unknown,
  h: NDIS_DRIVER_OPTIONAL_HANDLERS,
): string | null {
  const ddi = 'NdisSetOptionalHandlers';
  if (!inSetOptions) return `${ddi} called outside MiniportSetOptions, the one place a miniport may call it`;
  if (typeof type !== 'number') return `${ddi}: OptionalHandlers has no NDIS_OBJECT_HEADER`;
  if (type === NDIS_OBJECT_TYPE_MINIPORT_SS_CHARACTERISTICS) return ssHandlersRejected(ndisVersion, h);
  if (type !== NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS) {
    const set = notModelledSets.get(type);
    if (set !== undefined) throw new NotModelledError(ddi, `${set} is not modelled`);
    return `${ddi}: Header.Type 0x${type.toString(16)} is not a characteristics structure a miniport may register`;
  }
  if (h.Header.Revision !== NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1)
    return `${ddi}: NDIS_MINIPORT_PNP_CHARACTERISTICS with Header.Revision ${h.Header.Revision}, not NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1`;
  const p = h as NDIS_MINIPORT_PNP_CHARACTERISTICS;
  for (const name of pnpHandlerNames) {
    const f: unknown = p[name];
    if (f != null && typeof f !== 'function') return `${ddi}: ${name} is neither a routine nor NULL`;
  }
  return null;
}

/**
 * The selective suspend set: NDIS 6.30 and later, NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1,
 * and both handlers, which the MiniportIdleNotification and MiniportCancelIdleNotification
 * pages call required.
 */
function ssHandlersRejected(ndisVersion: number, h: NDIS_DRIVER_OPTIONAL_HANDLERS): string | null {
  const ddi = 'NdisSetOptionalHandlers';
  if (ndisVersion < 630)
    return `${ddi}: NDIS_MINIPORT_SS_CHARACTERISTICS from an NDIS ${Math.floor(ndisVersion / 100)}.${ndisVersion % 100} driver (selective suspend is NDIS 6.30 and later)`;
  if (h.Header.Revision !== NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1)
    return `${ddi}: NDIS_MINIPORT_SS_CHARACTERISTICS with Header.Revision ${h.Header.Revision}, not NDIS_MINIPORT_SS_CHARACTERISTICS_REVISION_1`;
  const s = h as NDIS_MINIPORT_SS_CHARACTERISTICS;
  for (const name of ['IdleNotificationHandler', 'CancelIdleNotificationHandler'] as const)
    if (typeof s[name] !== 'function')
      return `${ddi}: NDIS_MINIPORT_SS_CHARACTERISTICS.${name} is not a routine (both handlers are required)`;
  return null;
}
