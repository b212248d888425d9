// A miniport whose link watch is a work item that polls in a loop, written as a
// resumable routine (a generator function that yields its waits):
//   ndis-sim run examples/link-watch.yaml
//   ndis-sim explore examples/link-watch.yaml
//
// The watch reads the PHY every 250 ms. When the PHY has answered nothing three polls
// in a row, the adapter is beyond recovery: the watch calls NdisMRemoveMiniport, and
// NDIS tears the adapter down. MiniportHaltEx tells the watch to stop and waits on an
// event the watch sets as it ends, then frees the work item: a halt must not return
// while a work item of the adapter still runs (R2.10).
//
// The watch sleeps between polls with `yield NdisMSleep(…)`. Written as a plain
// function, its sleep would run the rest of the machine nested on the host's stack,
// the halt inside it, and the halt's wait for the watch could never end there: the
// run would end as not-modelled (docs/model.md, "Resumable work-item routines").
// `link-watch-plain`, in this module, is that version. `link-watch-hasty` is a
// resumable watch whose halt waits at most 100 ms for it: the verifier catches the
// halt returning while the watch still runs.
import * as N from 'ndis-sim';

const pollUs = 250_000;
const deadPollsMax = 3;

interface Adapter {
  handle: N.NDIS_HANDLE;
  watch: N.NDIS_HANDLE | null;
  /** Set by MiniportHaltEx: the watch ends at its next poll. */
  stopping: boolean;
  /** Set by the watch as it ends. */
  readonly watchEnded: N.NDIS_EVENT;
  polls: number;
  deadPolls: number;
  removed: boolean;
  /** The PnP manager said the device is gone (NdisDevicePnPEventSurpriseRemoved). */
  gone: boolean;
  /** OID_GEN_CURRENT_PACKET_FILTER as the protocols set it (R6.1). */
  packetFilter: number;
}

/** The PHY of this model answers for the first 3 s (12 polls), then never again. */
function phyAnswers(a: Adapter): boolean {
  return a.polls <= 12;
}

/** One poll of the link; true once the adapter should be given up. */
function poll(a: Adapter): boolean {
  a.polls++;
  a.deadPolls = phyAnswers(a) ? 0 : a.deadPolls + 1;
  return a.deadPolls >= deadPollsMax && !a.removed;
}

function* watch(a: Adapter): N.ResumableRoutine {
  while (!a.stopping) {
    if (poll(a)) {
      a.removed = true;
      N.NdisMRemoveMiniport(a.handle);
    }
    yield N.NdisMSleep(pollUs);
  }
  N.NdisSetEvent(a.watchEnded);
}

/** The same watch as a plain function: its sleeps nest, and the halt deadlocks in the model. */
function watchPlain(a: Adapter): void {
  while (!a.stopping) {
    if (poll(a)) {
      a.removed = true;
      N.NdisMRemoveMiniport(a.handle);
    }
    N.NdisMSleep(pollUs);
  }
  N.NdisSetEvent(a.watchEnded);
}

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS;
const none = (): void => {};

/**
 * `haltWaitMs`: how long MiniportHaltEx waits for the watch (0: as long as it takes).
 */
function driver(name: string, routine: (a: Adapter) => void, haltWaitMs = 0): N.DriverModule {
  function initialize(handle: N.NDIS_HANDLE): N.NDIS_STATUS {
    const a: Adapter = {
      handle,
      watch: null,
      stopping: false,
      watchEnded: new N.NDIS_EVENT(),
      polls: 0,
      deadPolls: 0,
      removed: false,
      gone: false,
      packetFilter: 0,
    };
    const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
    N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: a });
    // R2.4: what an Ethernet adapter must tell NDIS (MTU, MAC address, filters, link).
    const s = N.NdisMSetMiniportAttributes(handle, N.ethernetGeneralAttributes([0x02, 0, 0, 0, 0x1e, 0x01]));
    if (s !== N.NDIS_STATUS_SUCCESS) return s;
    N.NdisInitializeEvent(a.watchEnded);
    a.watch = N.NdisAllocateIoWorkItem(handle);
    if (a.watch === null) return N.NDIS_STATUS_RESOURCES;
    N.NdisQueueIoWorkItem(a.watch, routine, a);
    return N.NDIS_STATUS_SUCCESS;
  }

  function halt(a: Adapter): void {
    // R2.10: stop the watch and wait until it has ended before freeing what it uses.
    a.stopping = true;
    N.NdisWaitEvent(a.watchEnded, haltWaitMs);
    N.NdisFreeIoWorkItem(a.watch!);
    a.watch = null;
  }

  function DriverEntry(driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS {
    const r = N.NdisMRegisterMiniportDriver<Adapter>(driverObject, registryPath, null, {
      Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
      MajorNdisVersion: 6,
      MinorNdisVersion: 30,
      InitializeHandlerEx: initialize,
      HaltHandlerEx: halt,
      PauseHandler: ok,
      RestartHandler: ok,
      // R5.7: once the device is gone, requests fail at once.
      OidRequestHandler: (a, req) => (a.gone ? N.NDIS_STATUS_NOT_ACCEPTED : N.packetFilterOidRequest(a, req)),
      SendNetBufferListsHandler(a, nbls) {
        for (let nbl: N.NET_BUFFER_LIST | null = nbls; nbl !== null; nbl = nbl.Next) nbl.Status = ok();
        N.NdisMSendNetBufferListsComplete(a.handle, nbls, 0);
      },
      ReturnNetBufferListsHandler: none,
      CancelSendHandler: none,
      CancelOidRequestHandler: none,
      ShutdownHandlerEx: none,
      DevicePnPEventNotifyHandler(a, e) {
        if (e.DevicePnPEvent === N.NdisDevicePnPEventSurpriseRemoved) a.gone = true;
      },
      UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
    });
    return r.Status;
  }

  return {
    name,
    description: `polls its PHY every 250 ms in a ${routine === watch ? 'resumable' : 'plain'} work item; gives up on the adapter when the PHY goes quiet`,
    load: () => ({ DriverEntry }),
  };
}

export const linkWatch: N.DriverModule = driver('link-watch', watch);
export const linkWatchPlain: N.DriverModule = driver('link-watch-plain', watchPlain);
/**
 * A halt that waits at most 100 ms for the watch, and frees its work item anyway: the
 * watch, asleep for up to 250 ms, goes on after the halt (NdisSim_CallbackAfterHalt).
 */
export const linkWatchHasty: N.DriverModule = driver('link-watch-hasty', watch, 100);
