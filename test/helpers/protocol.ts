// A protocol driver of a test's own that binds to every adapter (no packet filter) and
// keeps its binding handle where the test can use it: the tests of the direct,
// synchronous and OID_PM_PARAMETERS paths issue their requests through it.

import {
  type DriverModule,
  type NDIS_BIND_PARAMETERS,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_OPEN_PARAMETERS,
  NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
  type NDIS_OPEN_PARAMETERS,
  NDIS_OPEN_PARAMETERS_REVISION_1,
  type NDIS_PROTOCOL_DRIVER_CHARACTERISTICS,
  NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
  NDIS_RECEIVE_FLAGS_RESOURCES,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisCloseAdapterEx,
  NdisCompleteBindAdapterEx,
  NdisCompleteUnbindAdapterEx,
  NdisDeregisterProtocolDriver,
  NdisMedium802_3,
  NdisOpenAdapterEx,
  NdisRegisterProtocolDriver,
  NdisReturnNetBufferLists,
} from '../../src/index.ts';
import { World } from '../../src/world.ts';

/** The NDIS_OPEN_PARAMETERS of a test protocol's NdisOpenAdapterEx: the adapter, the media it can use (802.3), no frame types. */
export function openParameters(
  AdapterName: string,
  media: number[] = [NdisMedium802_3],
): NDIS_OPEN_PARAMETERS {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_OPEN_PARAMETERS, Revision: NDIS_OPEN_PARAMETERS_REVISION_1 },
    AdapterName,
    MediumArray: media,
    MediumArraySize: media.length,
    SelectedMediumIndex: 0,
    FrameTypeArray: null,
    FrameTypeArraySize: 0,
  };
}

/** Where the protocol keeps its binding (one adapter at a time). */
export interface BoundProtocol {
  handle: NDIS_HANDLE | null;
  /** Give the driver an Unload routine (NdisDeregisterProtocolDriver), so a stop-protocol action unbinds and unloads it. */
  unloadable?: boolean;
  /** Sees each NDIS_BIND_PARAMETERS before the bind opens the adapter. */
  onBind?: (bp: NDIS_BIND_PARAMETERS) => void;
}

/** The binding's context: what NDIS gave the bind and the unbind, to complete them with. */
export interface BindingContext {
  bind: NDIS_HANDLE;
  unbind: NDIS_HANDLE | null;
}

/**
 * A protocol driver `name` of NDIS 6.`minor` that opens every adapter it is offered,
 * returns the receives it may keep, and closes on unbind; `extra` adds or replaces
 * characteristics (a completion handler, say).
 */
export function bindingProtocol(
  name: string,
  p: BoundProtocol,
  minor: number,
  extra: Partial<NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<BindingContext, null>> = {},
): DriverModule {
  return {
    name,
    description: `test protocol ${name}`,
    load: () => {
      let driver: NDIS_HANDLE | null = null;
      const chars: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS<BindingContext, null> = {
        Header: {
          Type: NDIS_OBJECT_TYPE_PROTOCOL_DRIVER_CHARACTERISTICS,
          Revision: NDIS_PROTOCOL_DRIVER_CHARACTERISTICS_REVISION_2,
        },
        MajorNdisVersion: 6,
        MinorNdisVersion: minor,
        Name: name,
        BindAdapterHandlerEx: (_d, BindContext, bp) => {
          p.onBind?.(bp);
          const ctx: BindingContext = { bind: BindContext, unbind: null };
          const r = NdisOpenAdapterEx(driver!, ctx, openParameters(bp.AdapterName), BindContext);
          p.handle = r.NdisBindingHandle;
          return r.Status;
        },
        OpenAdapterCompleteHandlerEx: (ctx, Status) => NdisCompleteBindAdapterEx(ctx.bind, Status),
        UnbindAdapterHandlerEx: (UnbindContext, ctx) => {
          ctx.unbind = UnbindContext;
          const s = NdisCloseAdapterEx(p.handle!);
          p.handle = null;
          return s === NDIS_STATUS_PENDING ? NDIS_STATUS_PENDING : NDIS_STATUS_SUCCESS;
        },
        CloseAdapterCompleteHandlerEx: (ctx) => NdisCompleteUnbindAdapterEx(ctx.unbind!),
        NetPnPEventHandler: () => NDIS_STATUS_SUCCESS,
        OidRequestCompleteHandler: () => {},
        ReceiveNetBufferListsHandler: (_ctx, chain, _port, _n, flags) => {
          if ((flags & NDIS_RECEIVE_FLAGS_RESOURCES) === 0) NdisReturnNetBufferLists(p.handle!, chain, 0);
        },
        SendNetBufferListsCompleteHandler: () => {},
        ...extra,
      };
      return {
        DriverEntry: (obj) => {
          const r = NdisRegisterProtocolDriver(null, chars);
          driver = r.NdisProtocolHandle;
          if (p.unloadable === true) obj.DriverUnload = () => NdisDeregisterProtocolDriver(driver!);
          return r.Status;
        },
      };
    },
  };
}

/**
 * Runs `fn` as code of the protocol driver `driver` at `atNs` of `w`'s virtual time: on a
 * worker thread, inside a frame at `irql` as one of its callbacks would be, so that the
 * DDIs it calls see their caller (its NdisOidRequest, its NdisCloseAdapterEx, …).
 */
export function protocolStep(w: World, atNs: number, driver: string, fn: () => void, irql = 0): void {
  w.machine.after(
    atNs,
    {
      fire() {
        const c = w.kernel.enter(0, 0, driver, 'worker');
        const f = w.ndis.enter(null, driver, 'TestStep', irql);
        try {
          fn();
        } finally {
          w.ndis.leaveVoid(f, undefined);
          w.kernel.exit(c);
        }
      },
    },
    0,
    null,
  );
}

/**
 * A world (seed 1, violations collected) with the miniport driver `nic` for device nic0,
 * started at time 0, and the protocol driver `proto` registered to bind to it.
 */
export function nicWithProtocol(nic: DriverModule, proto: DriverModule): World {
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(nic);
  w.addDriver(proto);
  w.addProtocolDriver(proto.name);
  w.addDevice({ name: 'nic0', driver: nic.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  return w;
}
