// A poll-mode miniport (NDIS 6.85) whose bug shows only under some schedules, for
// `ndis-sim explore`:
//   ndis-sim explore examples/poll-race.yaml
//
// poll-race receives through an NDIS poll object instead of an interrupt DPC. Its ISR
// masks the receive interrupt and calls NdisRequestPoll; NDIS calls NdisPoll, which
// takes up to MaxNblsToIndicate frames off the SimNic and hands them to NDIS in the poll
// data; when an iteration finds nothing, NDIS calls NdisSetPollNotification and the
// driver unmasks the interrupt again. A 100 ms watchdog requests a poll too, in case an
// interrupt was lost; the poll that finds the NIC gone (registers read all ones) gives
// up on the adapter with NdisMRemoveMiniport, and NDIS tears it down: pause, halt, where
// the driver stops the interrupt and the watchdog before it deregisters the poll object,
// so nothing can request a poll on a deregistered object.
//
// THE BUG: MiniportPause turns receive off at the NIC and masks the interrupt, and the
// driver takes that to mean no receive can reach NDIS any more. But a poll requested
// before the pause may not have run yet (NDIS may hold a requested poll a while: answer
// 1 of ChoiceSite.PollDelay), and the watchdog requests polls while the adapter is
// paused. NdisPoll does not look at the pause, so frames still in the NIC's FIFO go up
// to a Paused adapter: NdisSim_ReceiveNotAllowed (R1.7).
//
// THE FIX (poll-race-fixed): NdisPoll hands NDIS no receive while the driver is paused
// (the frames wait in the FIFO), and MiniportRestart requests a poll that picks them up.
import * as N from 'ndis-sim';

const allOnes = 0xffffffff;
const rxBuffers = 64;
const watchdogMs = 100;
const frameBytesMax = 1514;

interface Adapter {
  handle: N.NDIS_HANDLE;
  fixed: boolean;
  ctrl: N.IoRegister;
  status: N.IoRegister;
  icr: N.IoRegister;
  imr: N.IoRegister;
  rxPop: N.IoRegister;
  space: N.NDIS_IO_SPACE;
  /** The Length the window was mapped with: NdisMUnmapIoSpace repeats it. */
  spaceBytes: number;
  /** The value last written to IMR (the register is the NIC's; the driver keeps its copy). */
  imrValue: number;
  interrupt: N.NDIS_HANDLE | null;
  poll: N.NDIS_HANDLE | null;
  watchdog: N.NDIS_HANDLE | null;
  pool: N.NDIS_HANDLE | null;
  free: N.NET_BUFFER_LIST[];
  /** Receive NBLs NDIS holds. */
  outstanding: number;
  paused: boolean;
  pausePending: boolean;
  /** NdisMRemoveMiniport was called: the hardware is not touched again. */
  gone: boolean;
  /** In D3 for a system sleep (OID_PNP_SET_POWER): the registers read all ones. */
  lowPower: boolean;
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
}

const none = (): void => {};

function writeImr(a: Adapter, value: number): void {
  a.imrValue = value;
  N.NdisWriteRegisterUlong(a.imr, value);
}

/** MiniportInterrupt (DIRQL): a receive masks its interrupt and queues the poll object. */
function isr(a: Adapter): {
  InterruptRecognized: boolean;
  QueueDefaultInterruptDpc: boolean;
  TargetProcessors: number;
} {
  const causes = N.NdisReadRegisterUlong(a.icr);
  if (causes === 0 || causes === allOnes) {
    return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
  }
  if (causes & N.SimNicIcr.RX) {
    writeImr(a, a.imrValue & ~N.SimNicIcr.RX);
    N.NdisRequestPoll(a.poll!, null);
  }
  return { InterruptRecognized: true, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
}

/** NdisPoll (PASSIVE or DISPATCH): up to MaxNblsToIndicate frames off the NIC into the poll data. */
function poll(a: Adapter, d: N.NDIS_POLL_DATA): void {
  if (a.gone || a.lowPower) return;
  if (N.NdisReadRegisterUlong(a.status) === allOnes) {
    // The NIC is gone and PnP does not know: give up on the adapter (R5.21).
    a.gone = true;
    N.NdisMRemoveMiniport(a.handle);
    return;
  }
  // THE FIX: a paused adapter gets no receive; the frames wait in the FIFO for restart.
  if (a.fixed && a.paused) return;
  const rx = d.Receive;
  let head: N.NET_BUFFER_LIST | null = null;
  let tail: N.NET_BUFFER_LIST | null = null;
  let k = 0;
  while (k < rx.MaxNblsToIndicate && a.free.length > 0) {
    const len = N.NdisReadRegisterUlong(a.rxPop);
    if (len === 0 || len === allOnes) break;
    const nbl = a.free.pop()!;
    nbl.FirstNetBuffer!.DataLength = len;
    nbl.Next = null;
    if (tail === null) head = nbl;
    else tail.Next = nbl;
    tail = nbl;
    k++;
  }
  rx.IndicatedNblChain = head;
  rx.NumberOfIndicatedNbls = k;
  a.outstanding += k;
}

/** NdisSetPollNotification: NDIS stopped polling; unmask the receive interrupt (in step with the ISR). */
function setPollNotification(a: Adapter, n: N.NDIS_POLL_NOTIFICATION): void {
  if (a.gone || a.interrupt === null) return;
  N.NdisMSynchronizeWithInterruptEx(
    a.interrupt,
    0,
    () => {
      writeImr(a, n.Enabled ? a.imrValue | N.SimNicIcr.RX : a.imrValue & ~N.SimNicIcr.RX);
      return true;
    },
    null,
  );
}

function returnNbls(a: Adapter, chain: N.NET_BUFFER_LIST): void {
  for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; ) {
    const next: N.NET_BUFFER_LIST | null = nbl.Next;
    nbl.Next = null;
    a.free.push(nbl);
    a.outstanding--;
    nbl = next;
  }
  // R3.3: a pause completes once every indicated NBL is back.
  if (a.pausePending && a.outstanding === 0) {
    a.pausePending = false;
    N.NdisMPauseComplete(a.handle);
  }
}

function pause(a: Adapter): N.NDIS_STATUS {
  a.paused = true;
  // Receive off at the NIC. (The bug is to think this is enough.)
  if (!a.gone) N.NdisWriteRegisterUlong(a.ctrl, N.SimNicCtrl.INTR_ENABLE);
  if (a.outstanding === 0) return N.NDIS_STATUS_SUCCESS;
  a.pausePending = true;
  return N.NDIS_STATUS_PENDING;
}

function restart(a: Adapter): N.NDIS_STATUS {
  a.paused = false;
  if (!a.gone) N.NdisWriteRegisterUlong(a.ctrl, N.SimNicCtrl.INTR_ENABLE | N.SimNicCtrl.RX_ENABLE);
  // Frames that waited in the FIFO while paused: poll for them now.
  if (a.poll !== null) N.NdisRequestPoll(a.poll, null);
  return N.NDIS_STATUS_SUCCESS;
}

function oidRequest(a: Adapter, req: N.NDIS_OID_REQUEST): N.NDIS_STATUS {
  // R5.7: once the hardware is gone, requests fail at once.
  if (a.gone) return N.NDIS_STATUS_NOT_ACCEPTED;
  if (
    req.RequestType === N.NdisRequestSetInformation &&
    req.DATA.SET_INFORMATION.Oid === N.OID_PNP_SET_POWER
  ) {
    const d0 = req.DATA.SET_INFORMATION.InformationBuffer === N.NdisDeviceStateD0;
    if (!d0) {
      // Give the NIC's receive DMA 5 ms to stop before the bus takes its power (PASSIVE),
      // and cancel the watchdog: no NDIS timer may stay set in D3 (OID_PNP_SET_POWER page).
      N.NdisMSleep(5000);
      if (a.watchdog !== null) N.NdisCancelTimerObject(a.watchdog);
    } else if (a.watchdog !== null) {
      N.NdisSetTimerObject(a.watchdog, -watchdogMs * 10_000, watchdogMs, a);
    }
    a.lowPower = !d0;
    return N.NDIS_STATUS_SUCCESS;
  }
  const oid = req.DATA.QUERY_INFORMATION?.Oid;
  return oid === N.OID_PNP_QUERY_POWER ? N.NDIS_STATUS_SUCCESS : N.packetFilterOidRequest(a, req);
}

/** R2.10: stop what can request a poll (the interrupt, the watchdog), then the poll object; then the rest. */
function halt(a: Adapter): void {
  if (!a.gone) N.NdisWriteRegisterUlong(a.ctrl, 0);
  if (a.interrupt !== null) N.NdisMDeregisterInterruptEx(a.interrupt);
  a.interrupt = null;
  if (a.watchdog !== null) {
    // A periodic timer: the cancel waits for a callback already queued.
    N.NdisCancelTimerObject(a.watchdog);
    N.NdisFreeTimerObject(a.watchdog);
  }
  a.watchdog = null;
  if (a.poll !== null) N.NdisDeregisterPoll(a.poll);
  a.poll = null;
  free(a);
}

function free(a: Adapter): void {
  for (const nbl of a.free) N.NdisFreeNetBufferList(nbl);
  a.free.length = 0;
  if (a.pool !== null) N.NdisFreeNetBufferListPool(a.pool);
  a.pool = null;
  N.NdisMUnmapIoSpace(a.handle, a.space, a.spaceBytes);
}

function initialize(
  handle: N.NDIS_HANDLE,
  params: N.NDIS_MINIPORT_INIT_PARAMETERS,
  fixed: boolean,
): N.NDIS_STATUS {
  const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === N.CmResourceTypeMemory);
  if (mem === undefined || mem.Type !== N.CmResourceTypeMemory) return N.NDIS_STATUS_RESOURCES;
  const a = {
    handle,
    fixed,
    imrValue: 0,
    interrupt: null,
    poll: null,
    watchdog: null,
    pool: null,
    free: [],
    outstanding: 0,
    paused: true,
    pausePending: false,
    gone: false,
    lowPower: false,
    packetFilter: 0,
  } as unknown as Adapter;
  let s = N.NdisMSetMiniportAttributes(handle, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 },
    MiniportAdapterContext: a,
    // Sleep pauses the adapter and restarts it on wake (no halt).
    AttributeFlags:
      N.NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | N.NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
    InterfaceType: N.NdisInterfacePci,
  });
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  const mapped = N.NdisMMapIoSpace(handle, mem.u.Memory.Start, mem.u.Memory.Length);
  if (mapped.VirtualAddress === null) return mapped.Status;
  const space = mapped.VirtualAddress;
  Object.assign(a, {
    space,
    spaceBytes: mem.u.Memory.Length,
    ctrl: space.at(N.SimNicReg.CTRL),
    status: space.at(N.SimNicReg.STATUS),
    icr: space.at(N.SimNicReg.ICR),
    imr: space.at(N.SimNicReg.IMR),
    rxPop: space.at(N.SimNicReg.RX_POP),
  });
  // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link up, full duplex).
  s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x90, 0x01]));
  if (s === N.NDIS_STATUS_SUCCESS) {
    a.pool = N.NdisAllocateNetBufferListPool(handle, {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
      ProtocolId: 0,
      fAllocateNetBuffer: true,
      ContextSize: 0,
      PoolTag: 0x6c6c6f70, // 'poll'
      DataSize: 0, // the receive NBLs come with their MDL chain
    });
    // The NIC reports each frame's length, not its bytes (the model's NIC does no DMA), so the receive NBLs
    // share one frame-sized buffer as their MDL chain. A driver whose NIC writes the
    // frames gives each receive descriptor a buffer of its own.
    const memory = new Uint8Array(frameBytesMax);
    for (let i = 0; a.pool !== null && i < rxBuffers; i++) {
      const nbl = N.NdisAllocateNetBufferAndNetBufferList(a.pool, 0, 0, memory, 0, frameBytesMax);
      if (nbl === null) break;
      nbl.SourceHandle = handle;
      a.free.push(nbl);
    }
    if (a.pool === null || a.free.length < rxBuffers) s = N.NDIS_STATUS_RESOURCES;
  }
  if (s === N.NDIS_STATUS_SUCCESS) {
    // The poll object first: the ISR uses it from the first interrupt on.
    const p = N.NdisRegisterPoll(handle, a, {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NDIS_POLL_CHARACTERISTICS_REVISION_1 },
      PollHandler: (ctx, d) => poll(ctx, d),
      SetPollNotificationHandler: (ctx, n) => setPollNotification(ctx, n),
    });
    a.poll = p.PollHandle;
    s = p.Status;
    // One receive queue, polled on processor 0 (a driver with RSS has one object per RSS processor).
    if (a.poll !== null) N.NdisSetPollAffinity(a.poll, { Group: 0, Number: 0, Reserved: 0 });
  }
  if (s === N.NDIS_STATUS_SUCCESS) {
    const r = N.NdisMRegisterInterruptEx(handle, a, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: N.NDIS_MINIPORT_INTERRUPT_REVISION_1 },
      InterruptHandler: (ctx) => isr(ctx as Adapter),
      // Receives go through the poll object; the DPC is never queued.
      InterruptDpcHandler: none,
      DisableInterruptHandler: (ctx) => writeImr(ctx as Adapter, 0),
      EnableInterruptHandler: (ctx) => writeImr(ctx as Adapter, N.SimNicIcr.RX),
    });
    a.interrupt = r.NdisInterruptHandle;
    s = r.Status;
  }
  if (s === N.NDIS_STATUS_SUCCESS) {
    const t = N.NdisAllocateTimerObject(handle, {
      Header: {
        Type: N.NDIS_OBJECT_TYPE_TIMER_CHARACTERISTICS,
        Revision: N.NDIS_TIMER_CHARACTERISTICS_REVISION_1,
      },
      AllocationTag: 0x67646877, // 'whdg'
      TimerFunction: () => {
        // A lost interrupt costs at most one period.
        if (a.poll !== null) N.NdisRequestPoll(a.poll, null);
      },
      FunctionContext: a,
    });
    a.watchdog = t.TimerObject;
    s = t.Status;
  }
  if (s !== N.NDIS_STATUS_SUCCESS) {
    // R2.5: undo what was taken.
    if (a.interrupt !== null) N.NdisMDeregisterInterruptEx(a.interrupt);
    if (a.poll !== null) N.NdisDeregisterPoll(a.poll);
    free(a);
    return s === N.NDIS_STATUS_SUCCESS ? N.NDIS_STATUS_FAILURE : s;
  }
  N.NdisSetTimerObject(a.watchdog!, -watchdogMs * 10_000, watchdogMs, a);
  writeImr(a, N.SimNicIcr.RX);
  return N.NDIS_STATUS_SUCCESS;
}

function driverEntry(fixed: boolean) {
  return (driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS => {
    const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
      MajorNdisVersion: 6,
      MinorNdisVersion: 85,
      InitializeHandlerEx: (handle, _ctx, params) => initialize(handle, params, fixed),
      HaltHandlerEx: (a) => halt(a),
      PauseHandler: (a) => pause(a),
      RestartHandler: (a) => restart(a),
      OidRequestHandler: (a, req) => oidRequest(a, req),
      DevicePnPEventNotifyHandler: (a, ev) => {
        if (ev.DevicePnPEvent === N.NdisDevicePnPEventSurpriseRemoved) a.gone = true;
      },
      // No transmit in this example: every send completes at once.
      SendNetBufferListsHandler: (a, chain, _port, flags) => {
        for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; nbl = nbl.Next)
          nbl.Status = a.paused ? N.NDIS_STATUS_PAUSED : N.NDIS_STATUS_SUCCESS;
        const atDispatch = (flags & N.NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
        N.NdisMSendNetBufferListsComplete(
          a.handle,
          chain,
          atDispatch ? N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
        );
      },
      ReturnNetBufferListsHandler: (a, chain) => returnNbls(a, chain),
      CancelSendHandler: none,
      CancelOidRequestHandler: none,
      ShutdownHandlerEx: (a) => {
        if (!a.gone) N.NdisWriteRegisterUlong(a.ctrl, 0);
      },
      UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
    });
    return r.Status;
  };
}

export const pollRace: N.DriverModule = {
  name: 'poll-race',
  description:
    'a poll-mode receive path (NDIS 6.85) that hands frames to NDIS from NdisPoll even after MiniportPause returned',
  load: () => ({ DriverEntry: driverEntry(false) }),
};

export const pollRaceFixed: N.DriverModule = {
  name: 'poll-race-fixed',
  description: 'poll-race fixed: NdisPoll indicates nothing while paused, and restart polls for what waited',
  load: () => ({ DriverEntry: driverEntry(true) }),
};
