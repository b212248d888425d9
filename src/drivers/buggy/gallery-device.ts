// Gallery, standalone device objects (NdisRegisterDeviceEx): each driver is the
// scriptable SimNic miniport with a control device for a diagnostic tool, and one
// realistic mistake in how it registers the device or completes the device's IRPs.
// The tool is the scenario's application (open, ioctl, close). See index.ts.

import {
  type DEVICE_OBJECT,
  type DISPATCH_IO_STACK_LOCATION,
  type DRIVER_DISPATCH,
  IO_NO_INCREMENT,
  IoCompleteRequest,
  IoMarkIrpPending,
  IoReleaseCancelSpinLock,
  IoSetCancelRoutine,
  type IRP,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IRP_MJ_PNP,
  NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
  type NDIS_HANDLE,
  NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
  NDIS_STATUS_SUCCESS,
  NdisDeregisterDeviceEx,
  NdisRegisterDeviceEx,
  type NTSTATUS,
  STATUS_BUFFER_TOO_SMALL,
  STATUS_CANCELLED,
  STATUS_INVALID_DEVICE_REQUEST,
  STATUS_PENDING,
  STATUS_SUCCESS,
} from '../../index.ts';
import { galleryDriver } from './base.ts';
import type { GalleryEntry } from './entry.ts';

type Irp = IRP<DISPATCH_IO_STACK_LOCATION>;

/** The tool's I/O control code for "read the counters" (METHOD_BUFFERED). */
const IOCTL_COUNTERS = 0x00222004;

function complete(irp: Irp, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(irp, IO_NO_INCREMENT);
  return status;
}

/** Create, cleanup and close succeed; device control is `control`. */
function dispatchTable(control: DRIVER_DISPATCH, cleanup?: DRIVER_DISPATCH): DRIVER_DISPATCH[] {
  const m: DRIVER_DISPATCH[] = [];
  m[IRP_MJ_CREATE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLOSE] = (_d, irp) => complete(irp, STATUS_SUCCESS);
  m[IRP_MJ_CLEANUP] = cleanup ?? ((_d, irp) => complete(irp, STATUS_SUCCESS));
  m[IRP_MJ_DEVICE_CONTROL] = control;
  return m;
}

/** Registers \Device\<name> with the link \DosDevices\<name>. */
function register(driver: NDIS_HANDLE, name: string, MajorFunctions: DRIVER_DISPATCH[]) {
  return NdisRegisterDeviceEx(driver, {
    Header: {
      Type: NDIS_OBJECT_TYPE_DEVICE_OBJECT_ATTRIBUTES,
      Revision: NDIS_DEVICE_OBJECT_ATTRIBUTES_REVISION_1,
    },
    DeviceName: `\\Device\\${name}`,
    SymbolicName: `\\DosDevices\\${name}`,
    MajorFunctions,
    ExtensionSize: 0,
  });
}

/** A device-control routine that answers IOCTL_COUNTERS with four bytes and fails the rest. */
const counters: DRIVER_DISPATCH = (_d, irp) => {
  const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
  if (p.IoControlCode !== IOCTL_COUNTERS) return complete(irp, STATUS_INVALID_DEVICE_REQUEST);
  const n = Math.min(4, p.OutputBufferLength);
  irp.AssociatedIrp.SystemBuffer!.set([1, 0, 0, 0].slice(0, n));
  return complete(irp, STATUS_SUCCESS, n);
};

/**
 * A driver that registers its control device in DriverEntry and deregisters it in
 * MiniportHaltEx with `deregister` (for the last adapter, as it should).
 */
function deviceDriver(
  name: string,
  description: string,
  o: {
    majors: () => DRIVER_DISPATCH[];
    deregister?: (device: NDIS_HANDLE, object: DEVICE_OBJECT) => void;
    unload?: (device: NDIS_HANDLE) => void;
  },
) {
  let device: NDIS_HANDLE | null = null;
  let object: DEVICE_OBJECT | null = null;
  return galleryDriver(
    name,
    {
      driverEntry: (driver) => {
        const r = register(driver, 'GalleryCtl', o.majors());
        device = r.NdisDeviceHandle;
        object = r.pDeviceObject;
        return r.Status;
      },
      halt: () => {
        if (device === null || o.deregister === undefined) return;
        o.deregister(device, object!);
        device = null;
      },
      unload: () => {
        if (device !== null) o.unload?.(device);
      },
    },
    description,
  );
}

/** A device's queue of pended requests, and those its Cancel routine set aside. */
interface Queues {
  queue: Irp[];
  cancelled: Irp[];
}

/**
 * A device-control routine that queues every request with the Cancel routine `cancel`
 * (the driver's lock left out: nothing else touches the queues at once here), and a
 * cleanup routine that completes the requests set aside and the queued ones, clearing
 * the Cancel routines of the queued ones first unless `keepRoutine`.
 */
function queueing(cancel: (q: Queues, irp: Irp) => void, keepRoutine = false): () => DRIVER_DISPATCH[] {
  return () => {
    const q: Queues = { queue: [], cancelled: [] };
    const { queue } = q;
    return dispatchTable(
      (_d, irp) => {
        IoSetCancelRoutine(irp, (_o, i) => cancel(q, i));
        IoMarkIrpPending(irp);
        queue.push(irp);
        return STATUS_PENDING;
      },
      (_d, irp) => {
        for (const c of q.cancelled.splice(0)) complete(c, STATUS_CANCELLED);
        for (const p of queue.splice(0)) {
          if (!keepRoutine && IoSetCancelRoutine(p, null) === null) continue; // the Cancel routine has it
          complete(p, STATUS_CANCELLED); // with keepRoutine, BUG: its Cancel routine is still set
        }
        return complete(irp, STATUS_SUCCESS);
      },
    );
  };
}

/** The tool opens the device at 0.5 s and closes it at 2 s. */
const toolOpen = { at: '500ms', do: 'open', handle: 'tool', link: 'GalleryCtl' };
const toolClose = { at: '2s', do: 'close', handle: 'tool' };

export const galleryDevice: readonly GalleryEntry[] = [
  {
    rule: 'NdisSim_DeviceRegistration',
    mistake:
      "DriverEntry registers the driver's control device with the dispatch table of its WDM days, IRP_MJ_PNP included.",
    driver: galleryDriver(
      'bad-device-pnp-dispatch',
      {
        driverEntry: (driver) => {
          const m = dispatchTable(counters);
          m[IRP_MJ_PNP] = (_d, irp) => complete(irp, STATUS_SUCCESS);
          const r = register(driver, 'GalleryCtl', m);
          return r.Status === NDIS_STATUS_SUCCESS ? r.Status : NDIS_STATUS_SUCCESS; // carries on without it
        },
      },
      'buggy: a control device with a PnP dispatch routine',
    ),
    noAdapter: true,
  },
  {
    rule: 'NdisSim_DeviceDeregister',
    followOn: ['NdisSim_DeviceNotDeregistered'],
    mistake:
      'MiniportHaltEx of the last adapter passes the DEVICE_OBJECT (pDeviceObject) to NdisDeregisterDeviceEx instead of the NdisDeviceHandle.',
    driver: deviceDriver(
      'bad-device-deregister-object',
      'buggy: deregisters its device by its DEVICE_OBJECT',
      {
        majors: () => dispatchTable(counters),
        deregister: (_device, object) => NdisDeregisterDeviceEx(object as unknown as NDIS_HANDLE),
      },
    ),
    scenario: { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] },
  },
  {
    rule: 'NdisSim_DeviceNotDeregistered',
    mistake:
      'The driver registers its control device in DriverEntry and deregisters it only in MiniportDriverUnload, which never comes while the device exists.',
    driver: deviceDriver('bad-device-kept', 'buggy: deregisters its device only at unload', {
      majors: () => dispatchTable(counters),
      unload: (device) => NdisDeregisterDeviceEx(device),
    }),
    scenario: { actions: [{ at: '1s', do: 'remove', device: 'nic0' }] },
    noAdapter: true,
  },
  {
    rule: 'NdisSim_IrpNotCompleted',
    mistake:
      'The device-control routine returns STATUS_INVALID_DEVICE_REQUEST for a code it does not know without completing the IRP.',
    driver: deviceDriver('bad-ioctl-not-completed', 'buggy: fails unknown IOCTLs without IoCompleteRequest', {
      majors: () =>
        dispatchTable((d, irp) => {
          const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
          if (p.IoControlCode !== IOCTL_COUNTERS) return STATUS_INVALID_DEVICE_REQUEST; // BUG: not completed
          return counters(d, irp);
        }),
      deregister: (device) => NdisDeregisterDeviceEx(device),
    }),
    scenario: {
      actions: [toolOpen, { at: '1s', do: 'ioctl', handle: 'tool', code: '0x00222008' }, toolClose],
    },
    noAdapter: true,
  },
  {
    rule: 'NdisSim_IrpPendingAtClose',
    mistake:
      'The tool waits for link changes with a request the driver queues, cancelable; the cleanup routine does not empty the queue when the tool closes its handle.',
    driver: deviceDriver('bad-ioctl-pending-at-close', 'buggy: leaves a queued IOCTL behind at cleanup', {
      majors: () => {
        const queue: Irp[] = [];
        return dispatchTable((_d, irp: Irp) => {
          // Completed when the link changes, or by the Cancel routine.
          IoSetCancelRoutine(irp, (_o, i) => {
            IoReleaseCancelSpinLock(i.CancelIrql);
            queue.splice(queue.indexOf(i), 1);
            complete(i, STATUS_CANCELLED);
          });
          IoMarkIrpPending(irp);
          queue.push(irp);
          return STATUS_PENDING;
        }); // BUG: the default cleanup routine leaves the queue as it is
      },
      deregister: (device) => NdisDeregisterDeviceEx(device),
    }),
    scenario: {
      actions: [toolOpen, { at: '1s', do: 'ioctl', handle: 'tool', code: '0x0022200c' }, toolClose],
    },
    noAdapter: true,
  },
  {
    rule: 'NdisSim_IrpDoubleComplete',
    mistake:
      'The device-control routine completes a too-short request with STATUS_BUFFER_TOO_SMALL, then falls through and completes it again with the counters.',
    driver: deviceDriver('bad-ioctl-double-complete', 'buggy: completes a short IOCTL twice', {
      majors: () =>
        dispatchTable((d, irp) => {
          const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
          if (p.OutputBufferLength < 4) complete(irp, STATUS_BUFFER_TOO_SMALL); // BUG: no return
          return counters(d, irp);
        }),
      deregister: (device) => NdisDeregisterDeviceEx(device),
    }),
    scenario: {
      actions: [
        toolOpen,
        { at: '1s', do: 'ioctl', handle: 'tool', code: '0x00222004', outputLength: 2 },
        toolClose,
      ],
    },
    noAdapter: true,
  },
  {
    rule: 'NdisSim_IrpInformationOverrun',
    mistake:
      'The counters IOCTL copies what fits into the output buffer but reports the size of the whole counters block (16 bytes) as IoStatus.Information, even when the tool asked for 4.',
    driver: deviceDriver('bad-ioctl-information', 'buggy: reports more output bytes than the buffer holds', {
      majors: () =>
        dispatchTable((_d, irp) => {
          const p = irp.Tail.Overlay.CurrentStackLocation.Parameters.DeviceIoControl!;
          if (p.IoControlCode !== IOCTL_COUNTERS) return complete(irp, STATUS_INVALID_DEVICE_REQUEST);
          const block = [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0];
          irp.AssociatedIrp.SystemBuffer!.set(block.slice(0, p.OutputBufferLength));
          return complete(irp, STATUS_SUCCESS, block.length); // BUG: at most OutputBufferLength
        }),
      deregister: (device) => NdisDeregisterDeviceEx(device),
    }),
    scenario: {
      actions: [
        toolOpen,
        { at: '1s', do: 'ioctl', handle: 'tool', code: '0x00222004', outputLength: 4 },
        toolClose,
      ],
    },
    noAdapter: true,
  },
  {
    rule: 'NdisSim_CancelSpinLock',
    mistake:
      'The Cancel routine takes the request off the queue for the cleanup routine to complete, and returns without IoReleaseCancelSpinLock(Irp->CancelIrql).',
    driver: deviceDriver('bad-cancel-keeps-lock', 'buggy: a Cancel routine that keeps the cancel spin lock', {
      majors: queueing((q, irp) => {
        q.queue.splice(q.queue.indexOf(irp), 1);
        q.cancelled.push(irp); // BUG: returns without IoReleaseCancelSpinLock(irp.CancelIrql)
      }),
      deregister: (device) => NdisDeregisterDeviceEx(device),
    }),
    scenario: {
      actions: [
        toolOpen,
        { at: '1s', do: 'ioctl', handle: 'tool', code: '0x00222010', outputLength: 4 },
        { at: '1500ms', do: 'cancel', handle: 'tool' },
        toolClose,
      ],
    },
    noAdapter: true,
  },
  {
    rule: 'NdisSim_IrpCompletedWithCancelRoutine',
    mistake:
      "The cleanup routine completes the handle's queued requests with STATUS_CANCELLED without clearing their Cancel routines (IoSetCancelRoutine(Irp, NULL)) first.",
    driver: deviceDriver(
      'bad-complete-cancelable',
      'buggy: completes a request whose Cancel routine is still set',
      {
        majors: queueing(() => {}, true),
        deregister: (device) => NdisDeregisterDeviceEx(device),
      },
    ),
    scenario: {
      actions: [
        toolOpen,
        { at: '1s', do: 'ioctl', handle: 'tool', code: '0x00222010', outputLength: 4 },
        toolClose,
      ],
    },
    noAdapter: true,
  },
];
