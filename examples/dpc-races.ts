// Three teardown races of a SimNic miniport, for `ndis-sim explore`, one mistake each.
// Each passes the scenario's own seed; only some schedules break a rule.
//   ndis-sim explore examples/rxpool-race.yaml
//   ndis-sim explore examples/pausetx-race.yaml
//   ndis-sim explore examples/giveup-race.yaml
//
// rxpool-race: MiniportHaltEx frees the receive NBL pool, then deregisters the
//   interrupt. NdisMDeregisterInterruptEx runs the DPCs still queued before it returns,
//   and a receive DPC queued by an interrupt just before the halt allocates from the
//   freed pool (NdisSim_ObjectFreedInUse). Only a halt that falls between an interrupt
//   and its DPC shows it, and only with that DPC queued on the other CPU (a CPU runs
//   its own queued DPCs before PASSIVE work). The fix: the interrupt goes first, then what its DPC uses.
// pausetx-race: sends are copied to the NIC and completed at once, so MiniportPause
//   waits for the transmit ring itself: it sleeps 200 us, looks again, and answers
//   SUCCESS or PENDING. The TX-done DPC completes a pause when it sees `paused` and an
//   empty ring; `paused` is set before the sleep, so a DPC inside the sleep completes
//   the pause, and MiniportPause then answers SUCCESS: completed twice
//   (NdisSim_PauseCompleteUnexpected, R3.10). The fix: a `pausePending` flag, set only
//   where MiniportPause decides to return PENDING, under the lock.
// giveup-race: at the third hang check-for-hang asks for one last reset and queues a
//   give-up work item, which sets `removing`, waits up to 1 s for a firmware dump, and
//   calls NdisMRemoveMiniport. The reset-done DPC skips NdisMResetComplete once
//   `removing` is set: when the work item starts before the NIC's reset is done, the
//   reset never completes and NDIS's removal waits behind it for ever (expect: settled).
//   The fix: a reset NDIS asked for is always completed.
// dpc-races-fixed has the three fixes.
import * as N from 'ndis-sim';

const REG_CTRL = 0x00;
const REG_STATUS = 0x04;
const REG_HEARTBEAT = 0x08;
const REG_ICR = 0x0c;
const REG_IMR = 0x10;
const REG_TX_POST = 0x18;
const REG_TX_DONE = 0x1c;
const REG_RX_POP = 0x20;
const CTRL_RESET = 1;
const CTRL_INTR = 2;
const CTRL_TX = 4;
const CTRL_RX = 8;
const ICR_RESET_DONE = 1;
const ICR_TX_DONE = 4;
const ICR_RX = 8;
const ICR_ALL = 0xf;
const ALL_ONES = 0xffffffff;

type Bug = 'rxpool' | 'giveup' | 'pausetx' | null;

interface Adapter {
  handle: N.NDIS_HANDLE;
  lock: N.NDIS_SPIN_LOCK;
  regs: N.NDIS_IO_SPACE;
  bytes: number;
  ctrl: N.IoRegister;
  icr: N.IoRegister;
  imr: N.IoRegister;
  heartbeat: N.IoRegister;
  txPost: N.IoRegister;
  txDone: N.IoRegister;
  rxPop: N.IoRegister;
  interrupt: N.NDIS_HANDLE | null;
  causes: number;
  pool: N.NDIS_HANDLE | null;
  rxBuf: Uint8Array;
  paused: boolean;
  pausePending: boolean;
  /** Frames posted to the NIC whose TX_DONE has not come (their NBLs are completed). */
  txBusy: number;
  // hang and reset
  lastBeat: number;
  resetting: boolean;
  resets: number;
  removing: boolean;
  gone: boolean;
  giveUp: N.NDIS_HANDLE | null;
  giveUpQueued: boolean;
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
  /** Causes the DPC took from the ISR. */
  lastCauses: number;
  /** pausetx-race: the pause was answered (inside MiniportPause or by the DPC). */
  pauseDone: boolean;
}

const ok = N.NDIS_STATUS_SUCCESS;

function make(name: string, description: string, bug: Bug): N.DriverModule {
  function initialize(
    handle: N.NDIS_HANDLE,
    _dc: unknown,
    params: N.NDIS_MINIPORT_INIT_PARAMETERS,
  ): N.NDIS_STATUS {
    const a = {
      handle,
      lock: new N.NDIS_SPIN_LOCK(),
      interrupt: null,
      causes: 0,
      lastCauses: 0,
      pool: null,
      rxBuf: new Uint8Array(2048),
      paused: true,
      pausePending: false,
      pauseDone: false,
      txBusy: 0,
      resetting: false,
      resets: 0,
      removing: false,
      gone: false,
      giveUp: null,
      giveUpQueued: false,
      packetFilter: 0,
    } as unknown as Adapter; // the registers come with NdisMMapIoSpace below
    N.NdisAllocateSpinLock(a.lock);
    N.NdisMSetMiniportAttributes(handle, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 },
      MiniportAdapterContext: a,
      AttributeFlags:
        N.NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE | N.NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK,
      CheckForHangTimeInSeconds: 1,
      InterfaceType: N.NdisInterfacePci,
    });
    const mem = params.AllocatedResources?.PartialDescriptors.find((d) => d.Type === N.CmResourceTypeMemory);
    if (mem === undefined || mem.Type !== N.CmResourceTypeMemory) return N.NDIS_STATUS_RESOURCES;
    const m = N.NdisMMapIoSpace(handle, mem.u.Memory.Start, mem.u.Memory.Length);
    if (m.Status !== ok || m.VirtualAddress === null) return N.NDIS_STATUS_FAILURE;
    a.regs = m.VirtualAddress;
    a.bytes = mem.u.Memory.Length;
    const r = a.regs;
    a.ctrl = r.at(REG_CTRL);
    a.icr = r.at(REG_ICR);
    a.imr = r.at(REG_IMR);
    a.heartbeat = r.at(REG_HEARTBEAT);
    a.txPost = r.at(REG_TX_POST);
    a.txDone = r.at(REG_TX_DONE);
    a.rxPop = r.at(REG_RX_POP);
    N.NdisWriteRegisterUlong(a.ctrl, 0);
    const up = (N.NdisReadRegisterUlong(r.at(REG_STATUS)) & 1) !== 0;
    // R2.4: an Ethernet adapter's attributes (MTU, MAC address, filters, 1 Gb/s), with the link the NIC reports.
    N.NdisMSetMiniportAttributes(
      handle,
      N.ethernetGeneralAttributes([2, 0, 0, 0, 0, 1], {
        MediaConnectState: up ? N.MediaConnectStateConnected : N.MediaConnectStateDisconnected,
      }),
    );
    a.pool = N.NdisAllocateNetBufferListPool(handle, {
      Header: { Type: N.NDIS_OBJECT_TYPE_DEFAULT, Revision: N.NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1 },
      ProtocolId: 0,
      fAllocateNetBuffer: true,
      ContextSize: 0,
      PoolTag: 0x72616365,
      DataSize: 0,
    });
    if (a.pool === null) return N.NDIS_STATUS_RESOURCES;
    const w = N.NdisAllocateIoWorkItem(handle);
    a.giveUp = w;
    const irq = N.NdisMRegisterInterruptEx<Adapter>(handle, a, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_INTERRUPT, Revision: N.NDIS_MINIPORT_INTERRUPT_REVISION_1 },
      InterruptHandler: isr,
      InterruptDpcHandler: (ctx) => dpc(ctx),
      DisableInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, 0),
      EnableInterruptHandler: (ctx) => N.NdisWriteRegisterUlong(ctx.imr, ICR_ALL),
    });
    if (irq.Status !== ok) return N.NDIS_STATUS_FAILURE;
    a.interrupt = irq.NdisInterruptHandle;
    a.lastBeat = N.NdisReadRegisterUlong(a.heartbeat);
    N.NdisWriteRegisterUlong(a.imr, ICR_ALL);
    N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR | CTRL_TX);
    return ok;
  }

  function isr(a: Adapter) {
    const c = N.NdisReadRegisterUlong(a.icr);
    if (c === 0 || c === ALL_ONES)
      return { InterruptRecognized: false, QueueDefaultInterruptDpc: false, TargetProcessors: 0 };
    a.causes |= c;
    return { InterruptRecognized: true, QueueDefaultInterruptDpc: true, TargetProcessors: 0 };
  }

  function take(a: Adapter): boolean {
    const c = a.causes;
    a.causes = 0;
    a.lastCauses = c;
    return true;
  }

  function dpc(a: Adapter): void {
    N.NdisMSynchronizeWithInterruptEx(a.interrupt!, 0, take, a);
    const c = a.lastCauses;
    if (c & ICR_RESET_DONE) resetDone(a);
    if (c & ICR_TX_DONE) txDone(a);
    if (c & ICR_RX) rx(a);
  }

  function rx(a: Adapter): void {
    for (;;) {
      const len = N.NdisReadRegisterUlong(a.rxPop);
      if (len === 0 || len === ALL_ONES) return;
      // BUG (rxpool): allocates before it looks at the state; a paused adapter drops.
      const nbl = N.NdisAllocateNetBufferAndNetBufferList(a.pool!, 0, 0, a.rxBuf, 0, Math.min(len, 2048));
      if (nbl === null) continue;
      N.NdisDprAcquireSpinLock(a.lock);
      const drop = a.paused;
      N.NdisDprReleaseSpinLock(a.lock);
      if (drop) {
        N.NdisFreeNetBufferList(nbl);
        continue;
      }
      nbl.SourceHandle = a.handle;
      N.NdisMIndicateReceiveNetBufferLists(a.handle, nbl, 0, 1, N.NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL);
    }
  }

  function returnNbls(_a: Adapter, chain: N.NET_BUFFER_LIST): void {
    for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; ) {
      const next: N.NET_BUFFER_LIST | null = nbl.Next;
      nbl.Next = null;
      N.NdisFreeNetBufferList(nbl);
      nbl = next;
    }
  }

  function send(a: Adapter, chain: N.NET_BUFFER_LIST, _port: number, flags: number): void {
    // Copy-and-complete: each frame goes to the NIC's own buffer, the NBL back at once.
    N.NdisAcquireSpinLock(a.lock);
    const refuse = a.paused || a.resetting || a.gone;
    for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; nbl = nbl.Next) {
      nbl.Status = refuse ? N.NDIS_STATUS_PAUSED : ok;
      if (refuse) continue;
      for (let nb = N.NET_BUFFER_LIST_FIRST_NB(nbl); nb !== null; nb = N.NET_BUFFER_NEXT_NB(nb)) {
        a.txBusy++;
        N.NdisWriteRegisterUlong(a.txPost, nb.DataLength);
      }
    }
    N.NdisReleaseSpinLock(a.lock);
    const dispatch = (flags & N.NDIS_SEND_FLAGS_DISPATCH_LEVEL) !== 0;
    N.NdisMSendNetBufferListsComplete(
      a.handle,
      chain,
      dispatch ? N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL : 0,
    );
  }

  function txDone(a: Adapter): void {
    const n = N.NdisReadRegisterUlong(a.txDone);
    if (n === ALL_ONES) return;
    N.NdisDprAcquireSpinLock(a.lock);
    a.txBusy = Math.max(0, a.txBusy - n);
    // BUG (pausetx): `paused` is not "a pause is pending": MiniportPause may still be
    // running, asleep, and about to answer SUCCESS itself.
    const finish = a.txBusy === 0 && (bug === 'pausetx' ? a.paused && !a.pauseDone : a.pausePending);
    if (finish) {
      a.pausePending = false;
      a.pauseDone = true;
    }
    N.NdisDprReleaseSpinLock(a.lock);
    if (finish) N.NdisMPauseComplete(a.handle);
  }

  function pause(a: Adapter): N.NDIS_STATUS {
    N.NdisAcquireSpinLock(a.lock);
    a.paused = true;
    a.pauseDone = false;
    let busy = a.txBusy > 0;
    N.NdisReleaseSpinLock(a.lock);
    if (busy) {
      N.NdisMSleep(200); // most rings drain in this time: spare NDIS a pended pause
      N.NdisAcquireSpinLock(a.lock);
      busy = a.txBusy > 0;
      if (busy) a.pausePending = true;
      else a.pauseDone = true;
      N.NdisReleaseSpinLock(a.lock);
    }
    return busy ? N.NDIS_STATUS_PENDING : ok;
  }

  function restart(a: Adapter): N.NDIS_STATUS {
    N.NdisAcquireSpinLock(a.lock);
    a.paused = false;
    N.NdisReleaseSpinLock(a.lock);
    if (!a.gone) N.NdisWriteRegisterUlong(a.ctrl, CTRL_INTR | CTRL_TX | CTRL_RX);
    return ok;
  }

  function checkForHang(a: Adapter): boolean {
    if (a.resetting || a.removing || a.gone) return false;
    const beat = N.NdisReadRegisterUlong(a.heartbeat);
    const hung = beat === a.lastBeat;
    a.lastBeat = beat;
    // The third hang: one last reset, and the give-up work item starts beside it.
    if (hung && a.resets >= 2 && !a.giveUpQueued && a.giveUp !== null) {
      a.giveUpQueued = true;
      N.NdisQueueIoWorkItem(a.giveUp, giveUpWork, a);
    }
    return hung;
  }

  function reset(a: Adapter): { Status: N.NDIS_STATUS; AddressingReset: boolean } {
    if (a.gone) return { Status: N.NDIS_STATUS_NOT_ACCEPTED, AddressingReset: false };
    N.NdisAcquireSpinLock(a.lock);
    a.resetting = true;
    a.resets++;
    N.NdisReleaseSpinLock(a.lock);
    N.NdisWriteRegisterUlong(a.ctrl, CTRL_RESET | CTRL_INTR | CTRL_TX | (a.paused ? 0 : CTRL_RX));
    return { Status: N.NDIS_STATUS_PENDING, AddressingReset: false };
  }

  function resetDone(a: Adapter): void {
    // BUG (giveup): `removing` is read without the lock the work item never takes
    // either, and a reset NDIS is waiting for is dropped when it is set.
    if (bug === 'giveup' && a.removing) return;
    N.NdisDprAcquireSpinLock(a.lock);
    const was = a.resetting;
    a.resetting = false;
    a.txBusy = 0;
    N.NdisDprReleaseSpinLock(a.lock);
    if (!was) return;
    N.NdisMResetComplete(a.handle, ok, false);
  }

  function* giveUpWork(a: Adapter): Generator<unknown, void, unknown> {
    a.removing = true; // no more resets: we are going (no lock, and none read it under one)
    N.NdisWriteErrorLogEntry(a.handle, N.NDIS_ERROR_CODE_HARDWARE_FAILURE, 1, a.resets);
    // Give the firmware up to 1 s to write its crash dump (it reports it in STATUS).
    for (let i = 0; i < 10; i++) yield N.NdisMSleep(100_000);
    N.NdisMRemoveMiniport(a.handle);
  }

  function halt(a: Adapter): void {
    N.NdisWriteRegisterUlong(a.imr, 0);
    N.NdisWriteRegisterUlong(a.ctrl, 0);
    if (bug === 'rxpool') {
      // BUG: the pool goes before the interrupt; a DPC still queued runs inside the
      // deregistration below.
      N.NdisFreeNetBufferListPool(a.pool!);
      N.NdisMDeregisterInterruptEx(a.interrupt!);
    } else {
      N.NdisMDeregisterInterruptEx(a.interrupt!);
      N.NdisFreeNetBufferListPool(a.pool!);
    }
    a.interrupt = null;
    if (a.giveUp !== null) N.NdisFreeIoWorkItem(a.giveUp);
    N.NdisMUnmapIoSpace(a.handle, a.regs, a.bytes);
    N.NdisFreeSpinLock(a.lock);
  }

  function driverEntry(obj: N.DRIVER_OBJECT, path: string): N.NDIS_STATUS {
    const r = N.NdisMRegisterMiniportDriver<Adapter>(obj, path, null, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      InitializeHandlerEx: initialize,
      HaltHandlerEx: halt,
      PauseHandler: pause,
      RestartHandler: restart,
      OidRequestHandler: (a, req) => (a.gone ? N.NDIS_STATUS_NOT_ACCEPTED : N.packetFilterOidRequest(a, req)),
      DevicePnPEventNotifyHandler(a, e) {
        if (e.DevicePnPEvent === N.NdisDevicePnPEventSurpriseRemoved) a.gone = true;
      },
      CheckForHangHandlerEx: checkForHang,
      ResetHandlerEx: reset,
      SendNetBufferListsHandler: send,
      ReturnNetBufferListsHandler: returnNbls,
      CancelSendHandler: () => {},
      CancelOidRequestHandler: () => {},
      ShutdownHandlerEx: () => {},
      UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
    });
    return r.Status;
  }
  return { name, description, load: () => ({ DriverEntry: driverEntry }) };
}

export const dpcRaces: N.DriverModule[] = [
  make(
    'rxpool-race',
    'halt frees the RX NBL pool before NdisMDeregisterInterruptEx runs a queued DPC',
    'rxpool',
  ),
  make(
    'giveup-race',
    'reset-done DPC drops NdisMResetComplete once a give-up work item set removing',
    'giveup',
  ),
  make(
    'pausetx-race',
    'TX-done DPC completes a pause MiniportPause is still running and will answer itself',
    'pausetx',
  ),
  make('dpc-races-fixed', 'rxpool-race, pausetx-race and giveup-race fixed', null),
];
