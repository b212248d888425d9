// A bus-master driver whose bug shows only under some schedules, for `ndis-sim explore`:
//   ndis-sim explore examples/sg-race.yaml
//
// sg-race sends the bus-master way. MiniportSendNetBufferLists asks NDIS for a
// scatter/gather list of each NET_BUFFER (NdisMAllocateNetBufferSGList, with a
// per-send record as Context); NDIS gives the list to MiniportProcessSGList, which
// writes it into the send record. The NIC of this example is instant: "posting" a
// send means giving the list back (NdisMFreeNetBufferSGList) and completing the NBL.
//
// THE BUG: the send path posts the send right after NdisMAllocateNetBufferSGList
// returns SUCCESS, reading the list from the send record as if MiniportProcessSGList
// had already run. Usually it has: NDIS calls it inside the call when the HAL has map
// registers to spare (answer 0 of ChoiceSite.ProcessSGList, the simplest schedule).
// But the pages say NDIS may call it after the call returns, and that a driver must
// not touch the list before MiniportProcessSGList. When NDIS puts the callback off
// (answer 1), the record holds no list yet and the send path dereferences null: a
// crash in MiniportSendNetBufferLists (NdisSim_DriverException, 0x1E).
//
// THE FIX (sg-race-fixed): post the send from MiniportProcessSGList, which has the
// list whichever order NDIS picks; the send path only asks for it.
import * as N from 'ndis-sim';

interface Adapter {
  handle: N.NDIS_HANDLE;
  dma: N.NDIS_HANDLE | null;
  /** Bytes handed to the NIC's TX descriptors (it has no ring to write in this example). */
  txBytes: number;
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
}

/** One send in flight: what MiniportProcessSGList and the send path share. */
interface TxRecord {
  nbl: N.NET_BUFFER_LIST;
  sgl: N.SCATTER_GATHER_LIST | null;
}

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS;
const none = (): void => {};

/** Hands the send to the (instant) NIC: the list goes back, the NBL completes. DISPATCH_LEVEL. */
function post(a: Adapter, tx: TxRecord, sgl: N.SCATTER_GATHER_LIST): void {
  // A real driver writes each element's Address and Length into a TX descriptor here.
  for (const e of sgl.Elements) a.txBytes += e.Length;
  N.NdisMFreeNetBufferSGList(a.dma!, sgl, tx.nbl.FirstNetBuffer!);
  tx.nbl.Status = N.NDIS_STATUS_SUCCESS;
  N.NdisMSendNetBufferListsComplete(a.handle, tx.nbl, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
}

function send(a: Adapter, chain: N.NET_BUFFER_LIST, fixed: boolean): void {
  // NdisMAllocateNetBufferSGList needs DISPATCH_LEVEL; sends may come at PASSIVE.
  const old = N.NDIS_RAISE_IRQL_TO_DISPATCH();
  for (let nbl: N.NET_BUFFER_LIST | null = chain; nbl !== null; ) {
    const next: N.NET_BUFFER_LIST | null = nbl.Next;
    nbl.Next = null;
    const tx: TxRecord = { nbl, sgl: null };
    const s = N.NdisMAllocateNetBufferSGList(
      a.dma!,
      nbl.FirstNetBuffer!,
      tx,
      N.NDIS_SG_LIST_WRITE_TO_DEVICE,
      null,
      0,
    );
    if (s !== N.NDIS_STATUS_SUCCESS) {
      nbl.Status = s;
      N.NdisMSendNetBufferListsComplete(a.handle, nbl, N.NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL);
    } else if (!fixed) {
      // BUG: MiniportProcessSGList may not have run yet; then tx.sgl is still null.
      post(a, tx, tx.sgl!);
    }
    nbl = next;
  }
  N.NDIS_LOWER_IRQL(old, 2);
}

/** MiniportProcessSGList, DISPATCH_LEVEL: inside NdisMAllocateNetBufferSGList or later. */
function processSgList(a: Adapter, sgl: N.SCATTER_GATHER_LIST, tx: TxRecord, fixed: boolean): void {
  tx.sgl = sgl;
  if (fixed) post(a, tx, sgl);
}

function initialize(handle: N.NDIS_HANDLE, fixed: boolean): N.NDIS_STATUS {
  const a: Adapter = { handle, dma: null, txBytes: 0, packetFilter: 0 };
  const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
  N.NdisMSetMiniportAttributes(handle, {
    Header: reg,
    MiniportAdapterContext: a,
    AttributeFlags: N.NDIS_MINIPORT_ATTRIBUTES_BUS_MASTER,
  });
  // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link).
  const s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x5e, 0x01]));
  if (s !== N.NDIS_STATUS_SUCCESS) return s;
  const r = N.NdisMRegisterScatterGatherDma(handle, {
    Header: { Type: N.NDIS_OBJECT_TYPE_SG_DMA_DESCRIPTION, Revision: N.NDIS_SG_DMA_DESCRIPTION_REVISION_1 },
    Flags: N.NDIS_SG_DMA_64_BIT_ADDRESS,
    MaximumPhysicalMapping: 1514,
    ProcessSGListHandler: (_pDO, _Reserved, sgl, tx) => processSgList(a, sgl, tx as TxRecord, fixed),
    SharedMemAllocateCompleteHandler: null,
    ScatterGatherListSize: 0,
  });
  if (r.Status !== N.NDIS_STATUS_SUCCESS) return r.Status;
  a.dma = r.NdisMiniportDmaHandle;
  return N.NDIS_STATUS_SUCCESS;
}

function driverEntry(fixed: boolean) {
  return (driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS => {
    const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      InitializeHandlerEx: (handle) => initialize(handle, fixed),
      HaltHandlerEx: (a) => N.NdisMDeregisterScatterGatherDma(a.dma!),
      // Every send is completed before MiniportSendNetBufferLists or the list's
      // MiniportProcessSGList returns, so there is nothing to wait for.
      PauseHandler: ok,
      RestartHandler: ok,
      OidRequestHandler: N.packetFilterOidRequest, // R6.1: the one OID every miniport must take
      DevicePnPEventNotifyHandler: none,
      ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
      SendNetBufferListsHandler: (a, chain) => send(a, chain, fixed),
      ReturnNetBufferListsHandler: none,
      CancelSendHandler: none,
      CancelOidRequestHandler: none,
      ShutdownHandlerEx: none,
      UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
    });
    return r.Status;
  };
}

export const sgRace: N.DriverModule = {
  name: 'sg-race',
  description:
    'a bus-master send path that reads the scatter/gather list right after NdisMAllocateNetBufferSGList, before MiniportProcessSGList may have run',
  load: () => ({ DriverEntry: driverEntry(false) }),
};

export const sgRaceFixed: N.DriverModule = {
  name: 'sg-race-fixed',
  description: 'sg-race fixed: the send is posted from MiniportProcessSGList, in either order',
  load: () => ({ DriverEntry: driverEntry(true) }),
};
