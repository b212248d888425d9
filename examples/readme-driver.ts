import * as N from 'ndis-sim';

const [ok, none] = [(): number => N.NDIS_STATUS_SUCCESS, (): void => {}];
const tinyNic: N.DriverModule = {
  name: 'tiny-nic',
  load: () => ({
    DriverEntry(driverObject, registryPath) {
      let ticks = 0; // driver globals live here: one copy per simulated machine
      const r = N.NdisMRegisterMiniportDriver(driverObject, registryPath, null, {
        Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
        ...{ MajorNdisVersion: 6, MinorNdisVersion: 30 },
        InitializeHandlerEx(handle) { // the adapter handle doubles as the adapter context
          const reg = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES, Revision: 2 };
          N.NdisMSetMiniportAttributes(handle, { Header: reg, MiniportAdapterContext: handle, CheckForHangTimeInSeconds: 2 });
          const gen = { Type: N.NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES, Revision: 2 };
          return N.NdisMSetMiniportAttributes(handle, { Header: gen, MediaType: N.NdisMedium802_3, MtuSize: 1500 });
        },
        CheckForHangHandlerEx(context) {
          if (++ticks === 3) N.NdisMRemoveMiniport(context as N.NDIS_HANDLE); // the third tick: beyond recovery
          return false;
        },
        UnloadHandler: () => N.NdisMDeregisterMiniportDriver(r.NdisMiniportDriverHandle!),
        ...{ HaltHandlerEx: none, PauseHandler: ok, RestartHandler: ok, CancelSendHandler: none, ShutdownHandlerEx: none },
        ...{ ReturnNetBufferListsHandler: none, CancelOidRequestHandler: none, DevicePnPEventNotifyHandler: none },
        ResetHandlerEx: () => ({ Status: ok(), AddressingReset: false }), OidRequestHandler: () => N.NDIS_STATUS_NOT_SUPPORTED,
        SendNetBufferListsHandler(context, nbl) {
          for (let n: N.NET_BUFFER_LIST | null = nbl; n !== null; n = n.Next) n.Status = N.NDIS_STATUS_SUCCESS;
          N.NdisMSendNetBufferListsComplete(context as N.NDIS_HANDLE, nbl, 0);
        },
      });
      return r.Status;
    },
  }),
};
const world = new N.World({ seed: 1 }); // one simulated machine, seed 1
world.addDriver(tinyNic);
world.addProtocol('tcpip'); // a protocol binds to the adapter, like TCP/IP
world.addDevice({ name: 'nic0', driver: 'tiny-nic' }); // a SimNic, started by PnP at time 0
world.at(0, { kind: 'start', device: 'nic0' });
console.log(world.run(10 * N.ns.s).verdict, world.device('nic0').status, `Code ${world.device('nic0').problem}`);
