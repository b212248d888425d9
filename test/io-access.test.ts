// 8- and 16-bit register access and I/O port ranges: the SimNic's 32-bit registers seen
// through byte lanes (little-endian), its I/O port resource decoding to the same
// registers, NdisMRegisterIoPortRange / NdisMDeregisterIoPortRange and the raw port
// accessors, and the rules around them.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  type CM_MEMORY_RANGE,
  CM_RESOURCE_PORT_IO,
  CmResourceShareDeviceExclusive,
  CmResourceTypeMemory,
  CmResourceTypePort,
  IoRegister,
  NDIS_ERROR_CODE_RESOURCE_CONFLICT,
  type NDIS_IO_SPACE,
  type NDIS_MINIPORT_INIT_PARAMETERS,
  NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
  NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
  type NDIS_RESOURCE_LIST,
  NDIS_STATUS_FAILURE,
  NDIS_STATUS_RESOURCE_CONFLICT,
  NDIS_STATUS_SUCCESS,
  NdisDevicePnPEventSurpriseRemoved,
  NdisMDeregisterIoPortRange,
  NdisMGetBusData,
  NdisMMapIoSpace,
  NdisMRegisterIoPortRange,
  NdisMUnmapIoSpace,
  NdisRawReadPortUchar,
  NdisRawReadPortUlong,
  NdisRawReadPortUshort,
  NdisRawWritePortUchar,
  NdisRawWritePortUlong,
  NdisRawWritePortUshort,
  NdisReadRegisterUchar,
  NdisReadRegisterUlong,
  NdisReadRegisterUshort,
  NdisSetOptionalHandlers,
  NdisWriteErrorLogEntry,
  NdisWriteRegisterUchar,
  NdisWriteRegisterUlong,
  NdisWriteRegisterUshort,
  PCI_ADDRESS_IO_SPACE,
  PCI_WHICHSPACE_CONFIG,
  SimNicCtrl,
  SimNicIcr,
  SimNicPciConfig,
  SimNicReg,
  SimNicStatus,
} from '../src/index.ts';
import { after, type Hooks, removedScripted, scriptedDriver, type TestAdapter } from './helpers/scripted.ts';
import { ns, testWorld } from './helpers/world.ts';

/** The device's I/O port range from AllocatedResources. */
function ports(params: NDIS_MINIPORT_INIT_PARAMETERS): CM_MEMORY_RANGE {
  const d = params.AllocatedResources!.PartialDescriptors.find((x) => x.Type === CmResourceTypePort);
  assert.ok(d !== undefined && d.Type === CmResourceTypePort, 'an I/O port resource');
  return d.u.Port;
}

const reg = (a: TestAdapter, offset: number) => a.space!.at(offset);
const rules = (r: { violations: readonly { rule: string; ddi: string }[] }) =>
  r.violations.map((v) => [v.rule, v.ddi]);

/** Runs `hooks` on nic0 in collect mode until the device is removed at 1 s. */
function run(name: string, hooks: Hooks) {
  return removedScripted(name, hooks).r;
}

/** Registers the whole port range in initialize, deregisters it in halt. */
function withPorts(body: (a: TestAdapter, base: number) => void, more: Hooks = {}): Hooks {
  return {
    ...more,
    initialize: (a, params) => {
      const p = ports(params);
      const r = NdisMRegisterIoPortRange(a.handle, p.Start, p.Length);
      assert.equal(r.Status, NDIS_STATUS_SUCCESS);
      a.state.p = p;
      a.state.base = r.PortOffset;
      body(a, r.PortOffset!);
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      const p = a.state.p as CM_MEMORY_RANGE;
      NdisMDeregisterIoPortRange(a.handle, p.Start, p.Length, a.state.base as number);
    },
  };
}

test('NdisReadRegisterUchar, NdisReadRegisterUshort: byte lanes of the 32-bit register, little-endian; a USHORT at offset 3 takes a byte of each register', () => {
  const got: number[] = [];
  const r = run('narrow-read', {
    initialize: (a) => {
      NdisWriteRegisterUlong(reg(a, SimNicReg.IMR), 0x12345678);
      for (let i = 0; i < 4; i++) got.push(NdisReadRegisterUchar(reg(a, SimNicReg.IMR + i)));
      for (const i of [0, 1, 2]) got.push(NdisReadRegisterUshort(reg(a, SimNicReg.IMR + i)));
      // Lane 3 of CTRL (0), then lane 0 of STATUS (LINK_UP | READY).
      got.push(NdisReadRegisterUshort(reg(a, SimNicReg.CTRL + 3)));
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), []);
  assert.deepEqual(got, [
    0x78,
    0x56,
    0x34,
    0x12,
    0x5678,
    0x3456,
    0x1234,
    (SimNicStatus.LINK_UP | SimNicStatus.READY) << 8,
  ]);
});

test('NdisWriteRegisterUchar, NdisWriteRegisterUshort: IMR and CTRL merge the lanes written; a CTRL reset only from the lane that holds RESET; TX_POST queues the written lanes; STATUS ignores writes', () => {
  const got: Record<string, number> = {};
  const drv = scriptedDriver('narrow-write', {
    initialize: (a) => {
      NdisWriteRegisterUlong(reg(a, SimNicReg.IMR), 0x12345678);
      NdisWriteRegisterUchar(reg(a, SimNicReg.IMR + 1), 0x1ab); // taken as a UCHAR
      got.imr1 = NdisReadRegisterUlong(reg(a, SimNicReg.IMR));
      NdisWriteRegisterUshort(reg(a, SimNicReg.IMR + 2), 0xcdef);
      got.imr2 = NdisReadRegisterUlong(reg(a, SimNicReg.IMR));
      // Across two registers: lane 3 of IMR takes 0xEF, read-only RESETS ignores 0x99.
      NdisWriteRegisterUshort(reg(a, SimNicReg.IMR + 3), 0x99ef);
      got.imr3 = NdisReadRegisterUlong(reg(a, SimNicReg.IMR));
      got.resets = NdisReadRegisterUlong(reg(a, SimNicReg.RESETS));
      NdisWriteRegisterUlong(reg(a, SimNicReg.IMR), 0); // no interrupts in this test
      NdisWriteRegisterUchar(reg(a, SimNicReg.CTRL), SimNicCtrl.TX_ENABLE);
      // Lane 1 holds no RESET bit: the merged value keeps TX_ENABLE and starts nothing.
      NdisWriteRegisterUchar(reg(a, SimNicReg.CTRL + 1), 0);
      got.ctrl = NdisReadRegisterUlong(reg(a, SimNicReg.CTRL));
      got.ready = NdisReadRegisterUlong(reg(a, SimNicReg.STATUS)) & SimNicStatus.READY;
      NdisWriteRegisterUchar(reg(a, SimNicReg.STATUS), 0);
      got.status = NdisReadRegisterUlong(reg(a, SimNicReg.STATUS));
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      NdisWriteRegisterUchar(reg(a, SimNicReg.CTRL), SimNicCtrl.RESET | SimNicCtrl.TX_ENABLE);
      got.resetting = NdisReadRegisterUlong(reg(a, SimNicReg.STATUS)) & SimNicStatus.READY;
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok');
  assert.equal(got.imr1, 0x1234ab78);
  assert.equal(got.imr2, 0xcdefab78);
  assert.equal(got.imr3, 0xefefab78);
  assert.equal(got.resets, 0);
  assert.equal(got.ctrl, SimNicCtrl.TX_ENABLE);
  assert.equal(got.ready, SimNicStatus.READY, 'no reset from the write of lane 1');
  assert.equal(got.status, SimNicStatus.LINK_UP | SimNicStatus.READY | SimNicStatus.TX_ENABLED);
  assert.equal(got.resetting, 0, 'a byte write of RESET starts a reset');
  assert.equal(w.nic('nic0').resetsDone, 1);
});

test('CTRL is read/write, as the datasheet (docs/model.md, src/hw/simnic.ts) says: it reads back the bits written, RESET always 0 (a command, not held), and a reset leaves the other bits as they were', () => {
  const got: number[] = [];
  const drv = scriptedDriver('ctrl-rw', {
    initialize: (a) => {
      NdisWriteRegisterUlong(reg(a, SimNicReg.IMR), 0); // no interrupts in this test
      NdisWriteRegisterUlong(reg(a, SimNicReg.CTRL), SimNicCtrl.TX_ENABLE | SimNicCtrl.RX_ENABLE);
      got.push(NdisReadRegisterUlong(reg(a, SimNicReg.CTRL)));
      // A read-modify-write, as a driver would do on a register that reads back.
      const v = NdisReadRegisterUlong(reg(a, SimNicReg.CTRL));
      NdisWriteRegisterUlong(reg(a, SimNicReg.CTRL), v | SimNicCtrl.RESET);
      got.push(NdisReadRegisterUlong(reg(a, SimNicReg.CTRL)));
      after(a, 50, () => got.push(NdisReadRegisterUlong(reg(a, SimNicReg.CTRL))));
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(100 * ns.ms);
  assert.equal(r.verdict, 'ok');
  const enables = SimNicCtrl.TX_ENABLE | SimNicCtrl.RX_ENABLE;
  assert.deepEqual(got, [enables, enables, enables]);
  assert.equal(w.nic('nic0').resetsDone, 1, 'the reset ran');
  for (const [file, row] of [
    ['docs/model.md', /^\| 0x00 \| CTRL \| RW \| /m],
    ['src/hw/simnic.ts', /^\/\/ {3}0x00 CTRL {7}RW {2}/m],
  ] as const)
    assert.match(readFileSync(file, 'utf8'), row, file);
});

test('NdisWriteRegisterUshort, NdisWriteRegisterUchar to TX_POST: the frame is as long as the written lanes say, the others zero', () => {
  const drv = scriptedDriver('narrow-tx', {
    initialize: (a) => {
      NdisWriteRegisterUlong(reg(a, SimNicReg.CTRL), SimNicCtrl.TX_ENABLE);
      NdisWriteRegisterUshort(reg(a, SimNicReg.TX_POST), 1514);
      NdisWriteRegisterUchar(reg(a, SimNicReg.TX_POST + 1), 2); // 0x200 = 512 bytes
      return NDIS_STATUS_SUCCESS;
    },
  });
  // 1 us a byte: from the initialization (0.27 ms) the first frame takes 1.514 ms, the
  // second 0.512 ms more; a 2-byte second frame would be out by 2 ms.
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name, wire: { txNsPerByte: 1000 } }],
  });
  const nic = w.nic('nic0');
  assert.equal(w.run(2 * ns.ms).verdict, 'ok');
  assert.equal(nic.txFrames, 1);
  assert.equal(w.run(3 * ns.ms).verdict, 'ok');
  assert.equal(nic.txFrames, 2);
});

test('NdisReadRegisterUchar of a read-to-clear register: a byte read of any lane of ICR clears every cause', () => {
  const got: number[] = [];
  const r = run('narrow-icr', {
    initialize: (a) => {
      NdisWriteRegisterUlong(reg(a, SimNicReg.IMR), 0); // causes are latched, not signalled
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      NdisWriteRegisterUlong(reg(a, SimNicReg.CTRL), SimNicCtrl.RESET);
      after(a, 10, () => {
        got.push(NdisReadRegisterUchar(reg(a, SimNicReg.ICR + 1)));
        got.push(NdisReadRegisterUlong(reg(a, SimNicReg.ICR)));
        NdisWriteRegisterUlong(reg(a, SimNicReg.CTRL), SimNicCtrl.RESET);
        after(a, 10, () => {
          got.push(NdisReadRegisterUshort(reg(a, SimNicReg.ICR)));
          got.push(NdisReadRegisterUlong(reg(a, SimNicReg.ICR)));
        });
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), []);
  assert.deepEqual(got, [0, 0, SimNicIcr.RESET_DONE, 0]);
});

test('NdisReadRegisterUchar and NdisRawReadPortUshort of a NIC that has vanished read all ones', () => {
  const got: number[] = [];
  const drv = scriptedDriver(
    'narrow-vanished',
    withPorts(() => {}, {
      devicePnPEventNotify: (a, ev) => {
        if (ev.DevicePnPEvent !== NdisDevicePnPEventSurpriseRemoved) return;
        const base = a.state.base as number;
        got.push(NdisReadRegisterUchar(reg(a, SimNicReg.STATUS)));
        got.push(NdisReadRegisterUshort(reg(a, SimNicReg.STATUS + 2)));
        got.push(NdisRawReadPortUchar(base + SimNicReg.RESETS));
        got.push(NdisRawReadPortUshort(base + SimNicReg.RESETS));
        got.push(NdisRawReadPortUlong(base + SimNicReg.RESETS));
      },
    }),
  );
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 300 * ns.ms, action: { kind: 'surprise-remove', device: 'nic0' } }],
  });
  assert.equal(w.run(1 * ns.s).verdict, 'ok');
  assert.deepEqual(got, [0xff, 0xffff, 0xff, 0xffff, 0xffffffff]);
});

test('NdisReadRegisterUshort of something not from NdisMMapIoSpace is NdisSim_BadParameter; NdisWriteRegisterUchar after NdisMUnmapIoSpace is NdisSim_ObjectFreedInUse', () => {
  const wrong = run('narrow-bad', {
    restart: () => {
      NdisReadRegisterUshort({ offset: 0 } as unknown as IoRegister);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(wrong).slice(0, 1), [['NdisSim_BadParameter', 'NdisReadRegisterUshort']]);
  const freed = run('narrow-unmapped', {
    // In MiniportInitializeEx: unmapping elsewhere is NdisSim_UnmapIoSpaceOutsideInitHalt.
    initialize: (a) => {
      const r = reg(a, SimNicReg.IMR);
      assert.ok(r instanceof IoRegister);
      NdisMUnmapIoSpace(a.handle, a.space!, a.spaceBytes);
      a.space = null;
      NdisWriteRegisterUchar(r, 1);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(freed).slice(0, 1), [['NdisSim_ObjectFreedInUse', 'NdisWriteRegisterUchar']]);
});

test('nf-ndis-ndismmapiospace: a mapping that starts inside the window reaches the registers from its PhysicalAddress on (at(0) of a mapping at Start + IMR is IMR)', () => {
  const got: number[] = [];
  const r = run('map-sub', {
    initialize: (a, params) => {
      const d = params.AllocatedResources!.PartialDescriptors.find((x) => x.Type === CmResourceTypeMemory);
      assert.ok(d !== undefined && d.Type === CmResourceTypeMemory, 'a memory resource');
      NdisWriteRegisterUlong(reg(a, SimNicReg.IMR), 0x05);
      const sub = NdisMMapIoSpace(a.handle, d.u.Memory.Start + SimNicReg.IMR, 4);
      assert.equal(sub.Status, NDIS_STATUS_SUCCESS);
      const space = sub.VirtualAddress!;
      got.push(NdisReadRegisterUlong(space.at(0)), NdisReadRegisterUchar(space.at(0)));
      NdisWriteRegisterUshort(space.at(0), 0x0a);
      got.push(NdisReadRegisterUlong(reg(a, SimNicReg.IMR)));
      NdisMUnmapIoSpace(a.handle, space, 4);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), []);
  assert.deepEqual(got, [0x05, 0x05, 0x0a]);
});

test('nf-ndis-ndisreadregisterulong: the register address falls within the range mapped; one past its end is NdisSim_BadParameter, at every width', () => {
  const calls: [string, (a: TestAdapter) => void][] = [
    ['NdisReadRegisterUlong', (a) => NdisReadRegisterUlong(a.state.sub as IoRegister)],
    ['NdisWriteRegisterUlong', (a) => NdisWriteRegisterUlong(a.state.sub as IoRegister, 1)],
    ['NdisReadRegisterUshort', (a) => NdisReadRegisterUshort(a.state.sub as IoRegister)],
    ['NdisWriteRegisterUchar', (a) => NdisWriteRegisterUchar(a.state.sub as IoRegister, 1)],
  ];
  for (const [ddi, call] of calls) {
    const r = run(`past-${ddi}`, {
      initialize: (a, params) => {
        const d = params.AllocatedResources!.PartialDescriptors.find((x) => x.Type === CmResourceTypeMemory);
        assert.ok(d !== undefined && d.Type === CmResourceTypeMemory, 'a memory resource');
        // A mapping of the first 16 bytes: offset 16 is the register after it.
        const m = NdisMMapIoSpace(a.handle, d.u.Memory.Start, 16);
        a.state.sub = m.VirtualAddress!.at(16);
        NdisReadRegisterUlong(m.VirtualAddress!.at(12)); // the last ULONG inside: fine
        call(a);
        return NDIS_STATUS_SUCCESS;
      },
    });
    assert.deepEqual(rules(r).slice(0, 1), [['NdisSim_BadParameter', ddi]], ddi);
  }
});

test('nf-ndis-ndismunmapiospace: a VirtualAddress NdisMMapIoSpace did not return is NdisSim_BadParameter; unmapping a range twice is NdisSim_ObjectFreedInUse', () => {
  const wrong = run('unmap-bad', {
    restart: (a) => {
      NdisMUnmapIoSpace(a.handle, { unmapped: false } as unknown as NDIS_IO_SPACE, 0);
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(wrong).slice(0, 1), [['NdisSim_BadParameter', 'NdisMUnmapIoSpace']]);
  const twice = run('unmap-twice', {
    // In MiniportInitializeEx: unmapping elsewhere is NdisSim_UnmapIoSpaceOutsideInitHalt.
    initialize: (a) => {
      const space = a.space!;
      NdisMUnmapIoSpace(a.handle, space, space.length);
      NdisMUnmapIoSpace(a.handle, space, space.length);
      a.space = null;
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(twice), [['NdisSim_ObjectFreedInUse', 'NdisMUnmapIoSpace']]);
});

test('The SimNic has an I/O port resource: CmResourceTypePort in u.Port (= u.Generic), 256 ports at 0x1000 + 0x100 x index, in BAR1 with PCI_ADDRESS_IO_SPACE; past the 64 K ports a device has none', () => {
  const seen: { list: NDIS_RESOURCE_LIST; bar1: number }[] = [];
  const drv = scriptedDriver('port-resource', {
    initialize: (a, params) => {
      const b = new Uint8Array(4);
      NdisMGetBusData(a.handle, PCI_WHICHSPACE_CONFIG, SimNicPciConfig.BAR1, b, 4);
      seen.push({ list: params.AllocatedResources!, bar1: new DataView(b.buffer).getUint32(0, true) });
      return NDIS_STATUS_SUCCESS;
    },
  });
  const devices = Array.from({ length: 241 }, (_, i) => ({ name: `nic${i}`, driver: drv.name }));
  const w = testWorld({ drivers: [drv], devices });
  assert.equal(w.run(2 * ns.s).verdict, 'ok');
  assert.equal(seen.length, 241);
  const memoryStart = (l: NDIS_RESOURCE_LIST) => {
    const m = l.PartialDescriptors[0]!;
    assert.ok(m.Type === CmResourceTypeMemory);
    return m.u.Memory.Start;
  };
  // In device order: the memory windows are 0x10000 apart.
  const byBase = seen.sort((x, y) => memoryStart(x.list) - memoryStart(y.list));
  for (const [i, s] of byBase.entries()) {
    const list = s.list;
    assert.equal(list.Count, list.PartialDescriptors.length);
    const port = list.PartialDescriptors.find((d) => d.Type === CmResourceTypePort);
    if (i === 240) {
      assert.equal(port, undefined, 'the 241st device finds the I/O space used up');
      assert.equal(s.bar1, 0);
      continue;
    }
    assert.ok(port !== undefined && port.Type === CmResourceTypePort);
    assert.deepEqual(port.u.Port, { Start: 0x1000 + i * 0x100, Length: 256 });
    assert.equal(port.u.Generic, port.u.Port);
    assert.equal(port.Flags, CM_RESOURCE_PORT_IO);
    assert.equal(port.ShareDisposition, CmResourceShareDeviceExclusive);
    assert.equal(s.bar1, (0x1000 + i * 0x100) | PCI_ADDRESS_IO_SPACE);
  }
});

test('NdisMRegisterIoPortRange returns InitialPort as PortOffset; NdisRawRead/WritePortUchar/Ushort/Ulong reach the registers of the memory window', () => {
  const got: number[] = [];
  let start = -1;
  const r = run(
    'ports-same-registers',
    withPorts((a, base) => {
      start = (a.state.p as CM_MEMORY_RANGE).Start;
      got.push(base);
      NdisRawWritePortUlong(base + SimNicReg.IMR, 0x11223344);
      got.push(NdisReadRegisterUlong(reg(a, SimNicReg.IMR)));
      NdisWriteRegisterUlong(reg(a, SimNicReg.IMR), 0xa1b2c3d4);
      got.push(NdisRawReadPortUlong(base + SimNicReg.IMR));
      got.push(NdisRawReadPortUchar(base + SimNicReg.IMR + 2));
      got.push(NdisRawReadPortUshort(base + SimNicReg.IMR + 1));
      NdisRawWritePortUchar(base + SimNicReg.IMR + 3, 0x0f);
      NdisRawWritePortUshort(base + SimNicReg.IMR, 0);
      got.push(NdisReadRegisterUlong(reg(a, SimNicReg.IMR)));
    }),
  );
  assert.deepEqual(rules(r), []);
  assert.deepEqual(got, [start, 0x11223344, 0xa1b2c3d4, 0xb2, 0xb2c3, 0x0fb20000]);
});

test("NdisMRegisterIoPortRange statuses: SUCCESS for a subrange, FAILURE outside the I/O space or for no ports, RESOURCE_CONFLICT (and an event log entry) for ports that are not the device's", () => {
  const got: [number, number | null][] = [];
  const drv = scriptedDriver('ports-status', {
    initialize: (a, params) => {
      const p = ports(params);
      const call = (first: number, count: number) => {
        const r = NdisMRegisterIoPortRange(a.handle, first, count);
        got.push([r.Status, r.PortOffset]);
        if (r.Status === NDIS_STATUS_SUCCESS)
          NdisMDeregisterIoPortRange(a.handle, first, count, r.PortOffset!);
      };
      call(p.Start + 0x10, 8);
      call(0xfff0, 0x20);
      call(p.Start, 0);
      call(p.Start + 0xf8, 16); // runs past the device's 256 ports
      call(0x60, 1); // the keyboard controller's
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(10 * ns.ms);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(got, [
    [NDIS_STATUS_SUCCESS, 0x1010],
    [NDIS_STATUS_FAILURE, null],
    [NDIS_STATUS_FAILURE, null],
    [NDIS_STATUS_RESOURCE_CONFLICT, null],
    [NDIS_STATUS_RESOURCE_CONFLICT, null],
  ]);
  assert.deepEqual(
    w.summary().eventLog.map((e) => [e.adapter, e.errorCode]),
    [
      ['nic0', NDIS_ERROR_CODE_RESOURCE_CONFLICT],
      ['nic0', NDIS_ERROR_CODE_RESOURCE_CONFLICT],
    ],
  );
});

test("nf-ndis-ndismmapiospace statuses: SUCCESS for the device's window, FAILURE for no length, RESOURCE_CONFLICT (and an event log entry) for memory that is not the device's; VirtualAddress NULL unless SUCCESS", () => {
  const got: [number, boolean][] = [];
  const drv = scriptedDriver('map-status', {
    initialize: (a, params) => {
      const d = params.AllocatedResources!.PartialDescriptors.find((x) => x.Type === CmResourceTypeMemory);
      assert.ok(d !== undefined && d.Type === CmResourceTypeMemory, 'a memory resource');
      const mem = d.u.Memory;
      const call = (start: number, length: number) => {
        const r = NdisMMapIoSpace(a.handle, start, length);
        got.push([r.Status, r.VirtualAddress !== null]);
        if (r.Status === NDIS_STATUS_SUCCESS) NdisMUnmapIoSpace(a.handle, r.VirtualAddress!, length);
      };
      call(mem.Start, mem.Length);
      call(mem.Start, 0);
      call(mem.Start + mem.Length - 4, 8); // runs past the device's window
      call(0x1000, 16); // host memory, no device's
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(10 * ns.ms);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(got, [
    [NDIS_STATUS_SUCCESS, true],
    [NDIS_STATUS_FAILURE, false],
    [NDIS_STATUS_RESOURCE_CONFLICT, false],
    [NDIS_STATUS_RESOURCE_CONFLICT, false],
  ]);
  assert.deepEqual(
    w.summary().eventLog.map((e) => [e.adapter, e.errorCode]),
    [
      ['nic0', NDIS_ERROR_CODE_RESOURCE_CONFLICT],
      ['nic0', NDIS_ERROR_CODE_RESOURCE_CONFLICT],
    ],
  );
});

test('NdisMRegisterIoPortRange (SDV rule): outside MiniportInitializeEx, or before the registration attributes, is reported', () => {
  const late = run('ports-late', {
    initialize: (a, params) => {
      a.state.p = ports(params);
      return NDIS_STATUS_SUCCESS;
    },
    restart: (a) => {
      const p = a.state.p as CM_MEMORY_RANGE;
      a.state.base = NdisMRegisterIoPortRange(a.handle, p.Start, p.Length).PortOffset;
      return NDIS_STATUS_SUCCESS;
    },
    halt: (a) => {
      const p = a.state.p as CM_MEMORY_RANGE;
      NdisMDeregisterIoPortRange(a.handle, p.Start, p.Length, a.state.base as number);
    },
  });
  assert.deepEqual(rules(late), [['NdisMRegisterIoPortRange', 'NdisMRegisterIoPortRange']]);
  const early = run('ports-early', {
    characteristics: (c) => {
      const init = c.InitializeHandlerEx;
      c.InitializeHandlerEx = (handle, ctx, params) => {
        const p = ports(params);
        const r = NdisMRegisterIoPortRange(handle, p.Start, p.Length);
        NdisMDeregisterIoPortRange(handle, p.Start, p.Length, r.PortOffset!);
        return init(handle, ctx, params);
      };
    },
  });
  assert.deepEqual(rules(early), [['NdisMRegisterIoPortRange', 'NdisMRegisterIoPortRange']]);
  assert.match(early.violations[0]!.message, /before NdisMSetMiniportAttributes/);
});

test('Irql_Miniport_Driver_Function: NdisMDeregisterIoPortRange from a timer at DISPATCH', () => {
  const r = run(
    'ports-dispatch',
    withPorts(() => {}, {
      restart: (a) => {
        const p = a.state.p as CM_MEMORY_RANGE;
        after(a, 10, () => {
          NdisMDeregisterIoPortRange(a.handle, p.Start, p.Length, a.state.base as number);
          a.state.base = null;
        });
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  assert.deepEqual(rules(r).slice(0, 1), [['Irql_Miniport_Driver_Function', 'NdisMDeregisterIoPortRange']]);
});

test('NdisSim_PortNotRegistered: a port past the range, an access running over its end, a port after deregistration; reads give all ones, writes go nowhere; a subrange cannot be deregistered', () => {
  const got: number[] = [];
  const r = run('ports-unregistered', {
    initialize: (a, params) => {
      const p = ports(params);
      const base = NdisMRegisterIoPortRange(a.handle, p.Start, 0x28).PortOffset!;
      got.push(NdisRawReadPortUchar(base + 0x28));
      got.push(NdisRawReadPortUlong(base + 0x26));
      NdisRawWritePortUlong(base + SimNicReg.IMR, 0x55);
      NdisMDeregisterIoPortRange(a.handle, p.Start, 0x10, base); // a subrange: released nothing
      got.push(NdisRawReadPortUlong(base + SimNicReg.IMR));
      NdisMDeregisterIoPortRange(a.handle, p.Start, 0x28, base);
      NdisRawWritePortUshort(base + SimNicReg.IMR, 0x66);
      got.push(NdisRawReadPortUshort(base + SimNicReg.IMR));
      got.push(NdisReadRegisterUlong(reg(a, SimNicReg.IMR)));
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.deepEqual(rules(r), [
    ['NdisSim_PortNotRegistered', 'NdisRawReadPortUchar'],
    ['NdisSim_PortNotRegistered', 'NdisRawReadPortUlong'],
    ['NdisSim_PortNotRegistered', 'NdisMDeregisterIoPortRange'],
    ['NdisSim_PortNotRegistered', 'NdisRawWritePortUshort'],
    ['NdisSim_PortNotRegistered', 'NdisRawReadPortUshort'],
  ]);
  assert.deepEqual(got, [0xff, 0xffffffff, 0x55, 0xffff, 0x55]);
});

test('NdisSim_ResourceNotFreed: a port range still registered when MiniportHaltEx returns is reported at halt and released', () => {
  const got: number[] = [];
  const drv = scriptedDriver('ports-leak', {
    initialize: (a, params) => {
      const p = ports(params);
      a.state.base = NdisMRegisterIoPortRange(a.handle, p.Start, p.Length).PortOffset;
      return NDIS_STATUS_SUCCESS;
    },
    unload: () => {
      // After the halt, the port is no longer the driver's.
      got.push(NdisRawReadPortUchar(0x1000 + SimNicReg.IMR));
    },
  });
  const w = testWorld({
    drivers: [drv],
    devices: [{ name: 'nic0', driver: drv.name }],
    actions: [{ atNs: 100 * ns.ms, action: { kind: 'remove', device: 'nic0' } }],
    options: { verifier: 'collect' },
  });
  const r = w.run(1 * ns.s);
  assert.deepEqual(rules(r), [
    ['NdisSim_ResourceNotFreed', 'MiniportHaltEx'],
    ['NdisSim_PortNotRegistered', 'NdisRawReadPortUchar'],
  ]);
  assert.match(r.violations[0]!.message, /1 I\/O port range\(s\) \(NdisMDeregisterIoPortRange\)/);
  assert.deepEqual(got, [0xff]);
});

test('NdisSim_ResourceNotFreed: a port range claimed in MiniportAddDevice goes with the FDO when MiniportAddDevice fails, or at REMOVE_DEVICE, reported; a later access is NdisSim_PortNotRegistered', () => {
  for (const addFails of [true, false]) {
    const drv = scriptedDriver(`ports-fdo-${addFails}`, {
      characteristics: (c) => {
        c.SetOptionsHandler = (h) =>
          NdisSetOptionalHandlers(h, {
            Header: {
              Type: NDIS_OBJECT_TYPE_MINIPORT_PNP_CHARACTERISTICS,
              Revision: NDIS_MINIPORT_PNP_CHARACTERISTICS_REVISION_1,
            },
            MiniportAddDeviceHandler: (a) => {
              NdisMRegisterIoPortRange(a, 0x1000, 16);
              return addFails ? NDIS_STATUS_FAILURE : NDIS_STATUS_SUCCESS;
            },
            // Without AddDevice failing, the start fails: no halt ever releases the range.
            MiniportStartDeviceHandler: () => NDIS_STATUS_FAILURE,
            MiniportRemoveDeviceHandler: null,
            MiniportFilterResourceRequirementsHandler: null,
          });
      },
    });
    const reader = scriptedDriver(`ports-reader-${addFails}`, {
      initialize: () => {
        NdisRawReadPortUchar(0x1000);
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = testWorld({
      drivers: [drv, reader],
      devices: [
        { name: 'nic0', driver: drv.name },
        { name: 'nic1', driver: reader.name },
      ],
      autostart: false,
      actions: [
        { atNs: 0, action: { kind: 'start', device: 'nic0' } },
        { atNs: 100 * ns.ms, action: { kind: 'start', device: 'nic1' } },
      ],
      options: { verifier: 'collect' },
    });
    const r = w.run(1 * ns.s);
    assert.deepEqual(rules(r), [
      ['NdisMRegisterIoPortRange', 'NdisMRegisterIoPortRange'],
      ['NdisSim_ResourceNotFreed', addFails ? 'MiniportAddDevice' : 'MiniportRemoveDevice'],
      ['NdisSim_PortNotRegistered', 'NdisRawReadPortUchar'],
    ]);
  }
});

test('nf-ndis-ndiswriteerrorlogentry: the record holds NumberOfErrorValues values up to ERROR_LOG_MAXIMUM_SIZE (50 ULONGs); the trace says what an entry lost', () => {
  const many = Array.from({ length: 60 }, (_, i) => i);
  const drv = scriptedDriver('errlog-limits', {
    initialize: (a) => {
      NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_RESOURCE_CONFLICT, 2, 7, 8);
      NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_RESOURCE_CONFLICT, 60, ...many);
      NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_RESOURCE_CONFLICT, 3, 1);
      NdisWriteErrorLogEntry(a.handle, NDIS_ERROR_CODE_RESOURCE_CONFLICT, 1, 1, 2, 3);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = testWorld({ drivers: [drv], devices: [{ name: 'nic0', driver: drv.name }] });
  const r = w.run(10 * ns.ms);
  assert.equal(r.verdict, 'ok');
  assert.deepEqual(
    w.summary().eventLog.map((e) => e.values),
    [[7, 8], many.slice(0, 50), [1], [1]],
  );
  const traced = w.trace.events.filter((e) => e.what === 'NdisWriteErrorLogEntry').map((e) => e.data ?? {});
  assert.equal(traced.length, 4);
  assert.deepEqual(
    traced.map((d) => [d.clipped, d.missing, d.ignored]),
    [
      [undefined, undefined, undefined],
      ['10 of 60 values past ERROR_LOG_MAXIMUM_SIZE (50 fit)', undefined, undefined],
      [undefined, 'NumberOfErrorValues 3 but 1 values given', undefined],
      [undefined, undefined, '2 values after the 1 NumberOfErrorValues counts'],
    ],
  );
});
