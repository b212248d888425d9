// A scriptable miniport, written only against the public API: it does what a plain
// SimNic driver does (attributes, registers, interrupt, sends completed at once)
// and lets a hook replace any callback. Every callback NDIS makes is logged in
// `calls`. The gallery's buggy drivers and the tests are built on it.

import {
  CmResourceTypeMemory,
  type DRIVER_OBJECT,
  type DriverModule,
  MediaConnectStateConnected,
  MediaDuplexStateFull,
  type MINIPORT_ISR,
  type NDIS_HANDLE,
  type NDIS_IO_SPACE,
  type NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
  type NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
  NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
  type NDIS_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  type NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS,
  NDIS_MINIPORT_INTERRUPT_REVISION_1,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
  NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
  NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT,
  NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
  type NDIS_OID_REQUEST,
  type NDIS_RECEIVE_THROTTLE_PARAMETERS,
  NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL,
  NDIS_SEND_FLAGS_DISPATCH_LEVEL,
  type NDIS_STATUS,
  NDIS_STATUS_NOT_ACCEPTED,
  NDIS_STATUS_NOT_SUPPORTED,
  NDIS_STATUS_SUCCESS,
  type NDIS_TIMER_CHARACTERISTICS,
  NDIS_TIMER_CHARACTERISTICS_REVISION_1,
  NdisAllocateTimerObject,
  NdisCancelTimerObject,
  NdisDevicePnPEventSurpriseRemoved,
  NdisFreeNetBufferList,
  NdisFreeNetBufferListPool,
  NdisFreeTimerObject,
  NdisInterfacePci,
  NdisMDeregisterInterruptEx,
  NdisMDeregisterMiniportDriver,
  NdisMedium802_3,
  NdisMMapIoSpace,
  NdisMRegisterInterruptEx,
  NdisMRegisterMiniportDriver,
  NdisMSendNetBufferListsComplete,
  NdisMSetMiniportAttributes,
  NdisMSleep,
  NdisMUnmapIoSpace,
  NdisReadRegisterUlong,
  NdisRequestSetInformation,
  NdisSetTimerObject,
  NdisWriteRegisterUlong,
  type NET_BUFFER_LIST,
  type NET_DEVICE_PNP_EVENT,
  OID_GEN_CURRENT_PACKET_FILTER,
  SimNicCtrl,
  SimNicIcr,
  SimNicReg,
} from '../../index.ts';
import { supportedPacketFilters } from '../common.ts';

export interface TestAdapter {
  handle: NDIS_HANDLE;
  space: NDIS_IO_SPACE | null;
  /** The Length the register window was mapped with, for NdisMUnmapIoSpace. */
  spaceBytes: number;
  interrupt: NDIS_HANDLE | null;
  /** Free-form state a test keeps per adapter. */
  state: Record<string, unknown>;
  /** One-shot timers from `after`, stopped and freed by the base in halt (or a failing init). */
  timers: { handle: NDIS_HANDLE; armed: boolean }[];
  /** NBL pools from `rxPool` and the NBLs from `rxNbl`, freed by the base in halt (or a failing init). */
  pools: NDIS_HANDLE[];
  nbls: NET_BUFFER_LIST[];
}

/** Timer characteristics with the test pool tag and no context of its own. */
export function timerCharacteristics(fn: () => void): NDIS_TIMER_CHARACTERISTICS {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS, Revision: NDIS_TIMER_CHARACTERISTICS_REVISION_1 },
    AllocationTag: 0x74736574, // 'test'
    TimerFunction: fn,
    FunctionContext: null,
  };
}

/** Interrupt characteristics whose ISR never claims an interrupt and asks for no DPC. */
export function idleInterrupt(): NDIS_MINIPORT_INTERRUPT_CHARACTERISTICS {
  return {
    Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: NDIS_MINIPORT_INTERRUPT_REVISION_1 },
    InterruptHandler: () => ({
      InterruptRecognized: false,
      QueueDefaultInterruptDpc: false,
      TargetProcessors: 0,
    }),
    InterruptDpcHandler: () => {},
    DisableInterruptHandler: () => {},
    EnableInterruptHandler: () => {},
  };
}

/**
 * Runs `fn` at DISPATCH in a one-shot NDIS timer callback `ms` milliseconds from now
 * (NdisAllocateTimerObject with the adapter handle, NdisSetTimerObject).
 */
export function after(a: TestAdapter, ms: number, fn: (a: TestAdapter) => void): void {
  const entry: { handle: NDIS_HANDLE; armed: boolean } = {
    handle: null as unknown as NDIS_HANDLE,
    armed: true,
  };
  const t = NdisAllocateTimerObject(
    a.handle,
    timerCharacteristics(() => {
      entry.armed = false;
      fn(a);
    }),
  );
  if (t.TimerObject === null) return;
  entry.handle = t.TimerObject;
  a.timers.push(entry);
  NdisSetTimerObject(t.TimerObject, -Math.round(ms * 10_000), 0, null);
}

/** Hooks a test may set; each returns what the real callback returns. */
export interface Hooks {
  /** After the default initialization succeeded; return a failure to fail it (the hook must undo its own work). */
  initialize?(a: TestAdapter, params: NDIS_MINIPORT_INIT_PARAMETERS): NDIS_STATUS;
  pause?(a: TestAdapter): NDIS_STATUS;
  restart?(a: TestAdapter): NDIS_STATUS;
  halt?(a: TestAdapter, action: number): void;
  checkForHang?(a: TestAdapter): boolean;
  reset?(a: TestAdapter): { Status: NDIS_STATUS; AddressingReset: boolean };
  devicePnPEventNotify?(a: TestAdapter, ev: NET_DEVICE_PNP_EVENT): void;
  /** Runs in MiniportInterrupt at DIRQL, after the causes were read. */
  isr?(a: TestAdapter, causes: number): void;
  /**
   * Whether MiniportInterrupt claims the interrupt whose ICR read `causes`; default: when
   * a cause is set and the NIC does not read all ones (MINIPORT_ISR).
   */
  isrClaims?(a: TestAdapter, causes: number): boolean;
  /** Runs in MiniportInterruptDPC at DISPATCH. */
  dpc?(a: TestAdapter, throttle: NDIS_RECEIVE_THROTTLE_PARAMETERS | null, dpcContext: unknown): void;
  /** MiniportSendNetBufferLists; default: complete every NBL at once with SUCCESS. */
  send?(a: TestAdapter, chain: NET_BUFFER_LIST, port: number, flags: number): void;
  returnNbls?(a: TestAdapter, chain: NET_BUFFER_LIST, flags: number): void;
  /**
   * MiniportOidRequest; default: the mandatory set of OID_GEN_CURRENT_PACKET_FILTER
   * succeeds (R6.1), anything else is NDIS_STATUS_NOT_SUPPORTED.
   */
  oid?(a: TestAdapter, req: NDIS_OID_REQUEST): NDIS_STATUS;
  cancelOid?(a: TestAdapter, requestId: unknown): void;
  shutdown?(a: TestAdapter, action: number): void;
  /** Leave out the general attributes: NDIS halts the adapter right after init (R2.6). */
  noGeneralAttributes?: boolean;
  /** Members to set in the general attributes besides the defaults (SupportedOidList, say). */
  generalAttributes?: Partial<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES>;
  /** Members to set in the registration attributes besides the defaults (CheckForHangTimeInSeconds, say). */
  registrationAttributes?: Partial<NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES>;
  /** Edits the characteristics before registration (e.g. to drop a handler). */
  characteristics?(c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS<TestAdapter>): void;
  /** Runs in DriverEntry after a successful registration; its status is DriverEntry's. */
  driverEntry?(driverHandle: NDIS_HANDLE): NDIS_STATUS;
  /** Runs in MiniportDriverUnload before NdisMDeregisterMiniportDriver. */
  unload?(driverHandle: NDIS_HANDLE): void;
}

export interface ScriptedDriver extends DriverModule {
  /** Every callback NDIS made, in order: "MiniportPause", "MiniportHaltEx(4)", ... */
  readonly calls: string[];
  /** Adapters by name of their last initialization. */
  readonly adapters: TestAdapter[];
}

const mac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x09];

function generalAttributes(
  handle: NDIS_HANDLE,
  extra: Partial<NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES> = {},
): NDIS_STATUS {
  return NdisMSetMiniportAttributes(handle, {
    Header: {
      Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
      Revision: NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
    },
    MediaType: NdisMedium802_3,
    MtuSize: 1500,
    MaxXmitLinkSpeed: 1e9,
    MaxRcvLinkSpeed: 1e9,
    XmitLinkSpeed: 1e9,
    RcvLinkSpeed: 1e9,
    MediaConnectState: MediaConnectStateConnected,
    MediaDuplexState: MediaDuplexStateFull,
    LookaheadSize: 1500,
    MacAddressLength: 6,
    PermanentMacAddress: mac,
    CurrentMacAddress: mac,
    SupportedPacketFilters: supportedPacketFilters,
    ...extra,
  });
}

/**
 * A miniport whose behaviour the hooks script. It writes down every callback and
 * adapter context in `calls` and `adapters` for a test to read, across every world
 * it runs in: make one per test.
 */
export function scriptedDriver(
  name: string,
  hooks: Hooks = {},
  description = 'scriptable miniport',
): ScriptedDriver {
  return scripted(name, hooks, description, true);
}

/**
 * The same miniport for the gallery, which stays registered for the life of the
 * process: it writes nothing down (`calls` and `adapters` stay empty), or it would
 * keep alive every world it ever ran in.
 */
/**
 * The scripted driver's MiniportOidRequest without an `oid` hook, for a hook to fall back
 * on: NOT_ACCEPTED once surprise-removed (R5.7), SUCCESS for the mandatory set of
 * OID_GEN_CURRENT_PACKET_FILTER (R6.1; the filter itself is not kept), NOT_SUPPORTED
 * for anything else.
 */
export function defaultOid(a: TestAdapter, req: NDIS_OID_REQUEST): NDIS_STATUS {
  if (a.state.surpriseRemoved === true) return NDIS_STATUS_NOT_ACCEPTED;
  if (req.RequestType === NdisRequestSetInformation && req.DATA.Oid === OID_GEN_CURRENT_PACKET_FILTER) {
    req.DATA.SET_INFORMATION.BytesRead = 4;
    return NDIS_STATUS_SUCCESS;
  }
  return NDIS_STATUS_NOT_SUPPORTED;
}

export function galleryDriver(name: string, hooks: Hooks, description: string): ScriptedDriver {
  return scripted(name, hooks, description, false);
}

function scripted(name: string, hooks: Hooks, description: string, record: boolean): ScriptedDriver {
  const calls: string[] = [];
  const adapters: TestAdapter[] = [];
  const note = (call: string): void => {
    if (record) calls.push(call);
  };

  function initialize(
    handle: NDIS_HANDLE,
    _ctx: unknown,
    params: NDIS_MINIPORT_INIT_PARAMETERS,
  ): NDIS_STATUS {
    note('MiniportInitializeEx');
    const a: TestAdapter = {
      handle,
      space: null,
      spaceBytes: 0,
      interrupt: null,
      state: {},
      timers: [],
      pools: [],
      nbls: [],
    };
    let s = NdisMSetMiniportAttributes(handle, {
      Header: {
        Type: NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
        Revision: NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
      },
      MiniportAdapterContext: a,
      AttributeFlags: NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE,
      CheckForHangTimeInSeconds: 2,
      InterfaceType: NdisInterfacePci,
      ...hooks.registrationAttributes,
    });
    if (s !== NDIS_STATUS_SUCCESS) return s;
    if (hooks.noGeneralAttributes !== true) s = generalAttributes(handle, hooks.generalAttributes);
    if (s !== NDIS_STATUS_SUCCESS) return s;
    const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === CmResourceTypeMemory);
    if (mem !== undefined && mem.Type === CmResourceTypeMemory) {
      const m = NdisMMapIoSpace(handle, mem.u.Memory.Start, mem.u.Memory.Length);
      a.space = m.VirtualAddress;
      a.spaceBytes = mem.u.Memory.Length;
      const r = NdisMRegisterInterruptEx(handle, a, {
        Header: { Type: NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: NDIS_MINIPORT_INTERRUPT_REVISION_1 },
        InterruptHandler: isr,
        InterruptDpcHandler: (ctx, dpcContext, throttle) => {
          note('MiniportInterruptDPC');
          hooks.dpc?.(ctx as TestAdapter, throttle, dpcContext);
        },
        DisableInterruptHandler: () => {},
        EnableInterruptHandler: () => {},
      });
      a.interrupt = r.NdisInterruptHandle;
      if (a.space !== null) {
        NdisWriteRegisterUlong(a.space.at(SimNicReg.IMR), SimNicIcr.RESET_DONE | SimNicIcr.LINK_CHANGE);
        NdisWriteRegisterUlong(a.space.at(SimNicReg.CTRL), SimNicCtrl.INTR_ENABLE);
      }
    }
    if (record) adapters.push(a);
    if (hooks.initialize) {
      const h = hooks.initialize(a, params);
      if (h !== NDIS_STATUS_SUCCESS) {
        undo(a);
        return h;
      }
    }
    return NDIS_STATUS_SUCCESS;
  }

  function undo(a: TestAdapter): void {
    // R8.6, R8.7: cancel each timer; one whose callback is already queued is waited for.
    for (const t of a.timers) {
      if (NdisCancelTimerObject(t.handle)) t.armed = false;
      while (t.armed) NdisMSleep(100);
      NdisFreeTimerObject(t.handle);
    }
    a.timers = [];
    if (a.interrupt !== null) NdisMDeregisterInterruptEx(a.interrupt);
    a.interrupt = null;
    if (a.space !== null) NdisMUnmapIoSpace(a.handle, a.space, a.spaceBytes);
    a.space = null;
    for (const nbl of a.nbls) NdisFreeNetBufferList(nbl);
    a.nbls = [];
    for (const p of a.pools) NdisFreeNetBufferListPool(p);
    a.pools = [];
  }

  const isr: MINIPORT_ISR = (ctx) => {
    const a = ctx as TestAdapter;
    note('MiniportInterrupt');
    const causes = a.space === null ? 0 : NdisReadRegisterUlong(a.space.at(SimNicReg.ICR));
    const claims = hooks.isrClaims?.(a, causes) ?? (causes !== 0 && causes !== 0xffffffff);
    if (!claims) return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
    hooks.isr?.(a, causes);
    return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
  };

  function DriverEntry(DriverObject: DRIVER_OBJECT, RegistryPath: string): NDIS_STATUS {
    let driverHandle: NDIS_HANDLE | null = null;
    const hangAndReset = hooks.checkForHang !== undefined || hooks.reset !== undefined;
    const c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS<TestAdapter> = {
      Header: {
        Type: NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
        Revision: NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
      },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      InitializeHandlerEx: initialize,
      HaltHandlerEx: (ctx, action) => {
        note(`MiniportHaltEx(${action})`);
        const a = ctx as TestAdapter;
        hooks.halt?.(a, action);
        undo(a);
      },
      UnloadHandler: () => {
        note('MiniportDriverUnload');
        if (driverHandle !== null) {
          hooks.unload?.(driverHandle);
          NdisMDeregisterMiniportDriver(driverHandle);
        }
      },
      PauseHandler: (ctx) => {
        note('MiniportPause');
        return hooks.pause ? hooks.pause(ctx as TestAdapter) : NDIS_STATUS_SUCCESS;
      },
      RestartHandler: (ctx) => {
        note('MiniportRestart');
        return hooks.restart ? hooks.restart(ctx as TestAdapter) : NDIS_STATUS_SUCCESS;
      },
      OidRequestHandler: (ctx, req) => {
        note('MiniportOidRequest');
        return hooks.oid ? hooks.oid(ctx as TestAdapter, req) : defaultOid(ctx as TestAdapter, req);
      },
      SendNetBufferListsHandler: (ctx, chain, port, flags) => {
        if (hooks.send) {
          hooks.send(ctx as TestAdapter, chain, port, flags);
          return;
        }
        const status =
          (ctx as TestAdapter).state.surpriseRemoved === true
            ? NDIS_STATUS_NOT_ACCEPTED
            : NDIS_STATUS_SUCCESS;
        for (let n: NET_BUFFER_LIST | null = chain; n !== null; n = n.Next) n.Status = status;
        const atDispatch = (flags & NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
        NdisMSendNetBufferListsComplete(
          (ctx as TestAdapter).handle,
          chain,
          atDispatch ? NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
        );
      },
      ReturnNetBufferListsHandler: (ctx, chain, flags) =>
        hooks.returnNbls?.(ctx as TestAdapter, chain, flags),
      CancelSendHandler: () => {},
      DevicePnPEventNotifyHandler: (ctx, ev) => {
        note(`MiniportDevicePnPEventNotify(${ev.DevicePnPEvent})`);
        if (ev.DevicePnPEvent === NdisDevicePnPEventSurpriseRemoved)
          (ctx as TestAdapter).state.surpriseRemoved = true;
        hooks.devicePnPEventNotify?.(ctx as TestAdapter, ev);
      },
      ShutdownHandlerEx: (ctx, action) => {
        note('MiniportShutdownEx');
        hooks.shutdown?.(ctx as TestAdapter, action);
      },
      CancelOidRequestHandler: (ctx, id) => hooks.cancelOid?.(ctx as TestAdapter, id),
      // In the literal, not assigned after it: see docs/decisions.md, "No closure is stored".
      CheckForHangHandlerEx: hangAndReset
        ? (ctx) => {
            note('MiniportCheckForHangEx');
            return hooks.checkForHang ? hooks.checkForHang(ctx as TestAdapter) : false;
          }
        : null,
      ResetHandlerEx: hangAndReset
        ? (ctx) => {
            note('MiniportResetEx');
            return hooks.reset
              ? hooks.reset(ctx as TestAdapter)
              : { Status: NDIS_STATUS_SUCCESS, AddressingReset: false };
          }
        : null,
    };
    hooks.characteristics?.(c);
    const r = NdisMRegisterMiniportDriver(DriverObject, RegistryPath, null, c);
    driverHandle = r.NdisMiniportDriverHandle;
    if (r.Status === NDIS_STATUS_SUCCESS && driverHandle !== null && hooks.driverEntry) {
      return hooks.driverEntry(driverHandle);
    }
    return r.Status;
  }

  return { name, description, load: () => ({ DriverEntry }), calls, adapters };
}
