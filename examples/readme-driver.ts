import * as N from 'ndis-sim';

const ok = (): N.NDIS_STATUS => N.NDIS_STATUS_SUCCESS, none = (): void => {};

// A miniport that gives up on its adapter at the third check-for-hang tick.
function DriverEntry(driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS {
  let ticks = 0; // a driver global: each load of the driver gets its own
  const r = N.NdisMRegisterMiniportDriver(driverObject, registryPath, null, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
    MajorNdisVersion: 6, MinorNdisVersion: 30,
    InitializeHandlerEx(handle) { // the adapter handle doubles as our adapter context
      const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
      N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: handle });
      const gen = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, Revision: 2 };
      return N.NdisMSetMiniportAttributes(handle, { Header: gen, MediaType: N.NdisMedium802_3 });
    },
    CheckForHangHandlerEx(context) { // NDIS asks every 2 s
      if (++ticks === 3) N.NdisMRemoveMiniport(context as N.NDIS_HANDLE); // beyond recovery: give up
      return false;
    },
    ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }),
    SendNetBufferListsHandler(context, nbls) { // every frame is "sent" at once
      for (let nbl: N.NET_BUFFER_LIST | null = nbls; nbl !== null; nbl = nbl.Next) nbl.Status = ok();
      N.NdisMSendNetBufferListsComplete(context as N.NDIS_HANDLE, nbls, 0);
    },
    OidRequestHandler: () => N.NDIS_STATUS_NOT_SUPPORTED, PauseHandler: ok, RestartHandler: ok,
    HaltHandlerEx: none, ShutdownHandlerEx: none, DevicePnPEventNotifyHandler: none,
    ReturnNetBufferListsHandler: none, CancelSendHandler: none, CancelOidRequestHandler: none,
    UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
  });
  return r.Status;
}

const world = new N.World({ seed: 1 }); // one simulated machine: CPUs, PnP, NDIS, a virtual clock
world.addDriver({ name: 'tiny-nic', load: () => ({ DriverEntry }) }); // load() = loading the driver image
world.addProtocol('tcpip'); // a protocol that binds to every adapter, as TCP/IP does
world.addDevice({ name: 'nic0', driver: 'tiny-nic' }); // a SimNic on the simulated PCI bus
world.at(0, { kind: 'start', device: 'nic0' }); // PnP starts it at time 0
const { verdict } = world.run(10 * N.ns.s), nic0 = world.device('nic0'); // ten seconds of virtual time
console.log(verdict, nic0.status, `Code ${nic0.problem}`); // ok failed Code 43
