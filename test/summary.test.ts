// The end-of-run summary as a reader takes it: data-path counts that say where the
// NBLs are, one distinguishable line per protocol binding, and columns that stay in
// line whatever the drivers are called.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { healthyNic } from '../src/drivers/healthy-nic.ts';
import {
  type NDIS_HANDLE,
  NDIS_RAISE_IRQL_TO_DISPATCH,
  NDIS_STATUS_PENDING,
  NDIS_STATUS_SUCCESS,
  NdisMRemoveMiniport,
  NdisMSleep,
  NdisWriteRegisterUlong,
  SimNicCtrl,
  SimNicReg,
} from '../src/index.ts';
import { removalStories } from '../src/report/removal.ts';
import { formatSummary, removeCallsText } from '../src/report/summary.ts';
import { World } from '../src/world.ts';
import { worldHtml } from './helpers/report.ts';
import { after, type Hooks, scriptedDriver } from './helpers/scripted.ts';
import { ns } from './helpers/world.ts';

/** Runs `w` to `until` and formats its summary. */
function summaryOf(w: World, until: number): string[] {
  const r = w.run(until);
  return formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null });
}

/** Two healthy-nic devices, nic0 and nic1, started at 0, with tcpip bound to both. */
function twoNics(): World {
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.addDevice({ name: 'nic1', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(0, { kind: 'start', device: 'nic1' });
  return w;
}

test('data-path counts: "(accounted for: N still in the miniport)" for sends a miniport holds, "(all completed)" / "(all returned)" when none is out, never "balanced, N out"', () => {
  // A miniport that keeps every send (R6.9 allows it until the pause or the halt).
  const holder = scriptedDriver('holding-nic', { send: () => {} });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(holder);
  w.addDriver(healthyNic);
  w.addProtocol('tcpip', { traffic: { ratePerSecond: 100 } });
  w.addDevice({ name: 'nic0', driver: 'holding-nic' });
  w.addDevice({ name: 'nic1', driver: 'healthy-nic', wire: { rxPerSecond: 100, rxFrameBytes: 100 } });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(0, { kind: 'start', device: 'nic1' });
  const text = summaryOf(w, 500 * ns.ms).join('\n');
  const held = w.summary().adapters.find((a) => a.name === 'nic0')!.sendsOutstanding;
  assert.ok(held > 10, `held ${held}`);
  assert.match(
    text,
    new RegExp(`sends: ${held} sent, 0 completed \\(accounted for: ${held} still in the miniport\\)`),
  );
  assert.match(
    text,
    /sends: \d+ sent, \d+ completed \(all completed\) {3}receives: \d+ indicated, \d+ returned \(all returned\)/,
  );
  assert.doesNotMatch(text, /balanced/);
});

test('after a PnP stop and start the protocol has two bindings to the adapter: the summary numbers them ("binding 1 of 2") instead of printing two identical lines', () => {
  const w = twoNics();
  w.at(1 * ns.s, { kind: 'stop', device: 'nic0' });
  const lines = summaryOf(w, 3 * ns.s).filter((l) => l.startsWith('  Protocol'));
  assert.deepEqual(
    lines.map((l) => l.slice(0, l.indexOf(':'))),
    [
      '  Protocol tcpip on nic0 (binding 1 of 2)',
      '  Protocol tcpip on nic0 (binding 2 of 2)',
      '  Protocol tcpip on nic1',
    ],
  );
  assert.equal(new Set(lines).size, lines.length);
});

test('a driver name longer than the column (32, its last place blank) is shortened in its middle, so the adapter and device rows of every driver keep their columns', () => {
  const long = 'pcie-nic-bug-halt-leaves-the-nic-enabled-after-removal';
  const w = new World({ seed: 1 });
  w.addDriver(scriptedDriver(long));
  w.addDriver(scriptedDriver('short-nic'));
  w.addDevice({ name: 'nic0', driver: long });
  w.addDevice({ name: 'nic1', driver: 'short-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(0, { kind: 'start', device: 'nic1' });
  const lines = summaryOf(w, 100 * ns.ms);
  const shown = 'pcie-nic-bug-ha…d-after-removal';
  assert.equal(shown.length, 31);
  for (const [section, state] of [
    ['Adapters', 'Running'],
    ['Devices', 'started'],
  ] as const) {
    const from = lines.indexOf(`  ${section}`);
    const rows = lines.slice(from + 1, from + 3);
    assert.ok(rows[0]!.includes(shown) && !rows[0]!.includes(long), rows[0]);
    assert.ok(rows[1]!.includes('short-nic'), rows[1]);
    // The column after the driver starts at the same place on both rows.
    assert.equal(
      rows[0]!.indexOf(` ${state}`),
      rows[1]!.indexOf(` ${state}`),
      `${section}:\n${rows.join('\n')}`,
    );
  }
});

test('names of 17 characters and more: the name and driver columns are one wider than the longest, so two spaces part each from the next column and the rows stay in line', () => {
  const w = new World({ seed: 1 });
  w.addDriver(scriptedDriver('mynic-pause-twice'));
  w.addDriver(scriptedDriver('short-nic'));
  w.addDevice({ name: 'adapter-with-a-long-name', driver: 'mynic-pause-twice' });
  w.addDevice({ name: 'nic1', driver: 'short-nic' });
  w.at(0, { kind: 'start', device: 'adapter-with-a-long-name' });
  w.at(0, { kind: 'start', device: 'nic1' });
  const lines = summaryOf(w, 100 * ns.ms);
  const adapters = lines.indexOf('  Adapters');
  // Was "adapter-with-a-long-name mynic-pause-twice Running": three names run together.
  assert.match(
    lines[adapters + 1]!,
    /^ {4}adapter-with-a-long-name {2}mynic-pause-twice {2}Running {6}halt action: -/,
  );
  const nic1 = lines.slice(adapters + 1).find((l) => l.startsWith('    nic1 '))!;
  assert.equal(nic1.indexOf('short-nic'), lines[adapters + 1]!.indexOf('mynic-pause-twice'));
  assert.equal(nic1.indexOf('Running'), lines[adapters + 1]!.indexOf('Running'));
  const devices = lines.indexOf('  Devices');
  assert.match(
    lines[devices + 1]!,
    /^ {4}adapter-with-a-long-name {2}PCI\\\S+ +mynic-pause-twice {2}started/,
  );
  assert.equal(lines[devices + 2]!.indexOf('short-nic'), lines[devices + 1]!.indexOf('mynic-pause-twice'));
});

test('R5.16: a bug check between START_DEVICE completing and the PnP manager taking the completion up: the device line says START_DEVICE completed and the devnode state (DeviceNodeStartCompletion), not just "not started"', () => {
  // MiniportRestart runs after NDIS completed START_DEVICE (the stack restarts on its
  // own) and before the PnP worker marks the devnode started; it breaks an IRQL rule.
  const drv = scriptedDriver('restart-sleeps-at-dispatch', {
    restart: () => {
      NDIS_RAISE_IRQL_TO_DISPATCH();
      NdisMSleep(10);
      return NDIS_STATUS_SUCCESS;
    },
  });
  const w = new World({ seed: 1 });
  w.addDriver(drv);
  w.addDevice({ name: 'nic0', driver: drv.name });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  assert.equal(r.verdict, 'bugcheck');
  const dev = w.summary().devices[0]!;
  assert.equal(dev.status, 'not started');
  assert.deepEqual(dev.irp, { name: 'IRP_MN_START_DEVICE', completed: true, status: 0 });
  // "Under way when it stopped" says the same, rather than "PnP action start in progress".
  assert.ok(
    r.pending.includes('IRP_MN_START_DEVICE to nic0 completed (STATUS_SUCCESS), not yet processed by PnP'),
    r.pending.join('\n'),
  );
  const line = formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null }).find((l) =>
    l.includes('PCI\\VEN_'),
  )!;
  assert.match(
    line,
    /not started {2}installed, no problem code; IRP_MN_START_DEVICE completed \(STATUS_SUCCESS\), but the run stopped before PnP processed the completion \(devnode DeviceNodeStartCompletion\)$/,
  );
});

test('a device the run left with no PnP IRP under way has a plain status line', () => {
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const line = summaryOf(w, 100 * ns.ms).find((l) => l.includes('PCI\\VEN_'))!;
  assert.equal(w.summary().devices[0]!.irp, null);
  assert.match(line, /started {6}working$/);
});

test('a device the run never started says "not started" once, in the status column, and that it has no problem code', () => {
  const w = new World({ seed: 1 });
  w.addDriver(healthyNic);
  w.addDevice({ name: 'nic0', driver: 'healthy-nic' });
  const line = summaryOf(w, 100 * ns.ms).find((l) => l.includes('PCI\\VEN_'))!;
  assert.equal(w.summary().devices[0]!.status, 'not started');
  assert.match(line, /not started {2}installed, no problem code$/);
  assert.equal(line.split('not started').length, 2, line);
});

/** Runs a scripted nic0 whose hooks may call NdisMRemoveMiniport wrongly; its summary's adapter lines. */
function refusedRun(
  name: string,
  hooks: Hooks,
  verifier: 'bugcheck' | 'collect' = 'bugcheck',
  extra: (w: World) => void = () => {},
) {
  const w = new World({ seed: 1, verifier });
  w.addDriver(scriptedDriver(name, hooks));
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: name });
  w.at(0, { kind: 'start', device: 'nic0' });
  extra(w);
  const r = w.run(1 * ns.s);
  const text = formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null });
  return {
    w,
    r,
    html: worldHtml(w, r, name),
    adapters: text.filter((l) => l.includes('NdisMRemoveMiniport calls')),
  };
}

test('R5.9, R8.13: an NdisMRemoveMiniport call the bug check stopped (from the ISR, at DIRQL) is counted "1 (refused)", not "0" beside the bug check about it', () => {
  const { r, adapters, html } = refusedRun('isr-remover', {
    initialize: (a) => {
      NdisWriteRegisterUlong(a.space!.at(SimNicReg.CTRL), SimNicCtrl.RESET | SimNicCtrl.INTR_ENABLE);
      return NDIS_STATUS_SUCCESS;
    },
    isr: (a) => {
      NdisMRemoveMiniport(a.handle);
    },
  });
  assert.equal(r.verdict, 'bugcheck');
  assert.equal(r.bugCheck?.ddi, 'NdisMRemoveMiniport');
  assert.match(adapters[0]!, /NdisMRemoveMiniport calls: 1 \(refused\)$/);
  assert.match(html, /<td>1 \(refused\)<\/td>/);
});

test('R5.9: an NdisMRemoveMiniport call with a handle NDIS did not issue (a timer handle) counts as refused on the adapter whose callback made it', () => {
  const { r, adapters } = refusedRun('bad-handle-remover', {
    restart: (a) => {
      after(a, 100, () => {
        NdisMRemoveMiniport(a.timers[0]!.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
  });
  assert.equal(r.bugCheck?.rule, 'NdisSim_BadParameter');
  assert.match(adapters[0]!, /NdisMRemoveMiniport calls: 1 \(refused\)$/);
});

test("R5.20, R5.14: a call on a handle dead after its halt counts as refused on the dead adapter, beside the new adapter's own two calls", () => {
  let dead: NDIS_HANDLE | null = null;
  const { r, adapters } = refusedRun(
    'late-remover',
    {
      restart: (a) => {
        if (dead !== null) {
          // The adapter of the second start: the first one's handle, and its own twice.
          after(a, 100, () => {
            NdisMRemoveMiniport(dead!);
            NdisMRemoveMiniport(a.handle);
            NdisMRemoveMiniport(a.handle);
          });
        }
        return NDIS_STATUS_SUCCESS;
      },
      halt: (a) => {
        dead = a.handle;
      },
    },
    // Collected, not stopped: the stale call is reported (R5.20) and has no effect.
    'collect',
    (w) => {
      w.at(200 * ns.ms, { kind: 'remove', device: 'nic0' });
      w.at(400 * ns.ms, { kind: 'start', device: 'nic0' });
    },
  );
  assert.ok(r.violations.some((v) => v.rule === 'NdisSim_StaleHandle'));
  const counts = adapters.map((l) => l.slice(l.indexOf('calls: ') + 7));
  assert.deepEqual(counts, ["1 (refused)   (nic0's adapter 1 of 2)", "2   (nic0's adapter 2 of 2)"]);
});

test('R5.5, R7.1: a device surprise-removed whose teardown waits says "surprise-removed" and not present, not "started  working", and its binding says Closing, not "bound"', () => {
  // A reset that never completes holds the unbind's OID requests (R4.16): the teardown
  // stops at the unbind, with IRP_MN_REMOVE_DEVICE out (the review's seed 95).
  const drv = scriptedDriver('reset-pends', {
    checkForHang: () => true,
    reset: () => ({ Status: NDIS_STATUS_PENDING, AddressingReset: false }),
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(drv);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'reset-pends' });
  w.at(0, { kind: 'start', device: 'nic0' });
  w.at(2500 * ns.ms, { kind: 'surprise-remove', device: 'nic0' });
  const r = w.run(4 * ns.s);
  const s = w.summary();
  assert.equal(s.devices[0]!.status, 'started');
  assert.equal(s.devices[0]!.surpriseRemoved, 'unplugged');
  assert.equal(s.protocols[0]!.bindings[0]!.state, 'Closing');
  const text = formatSummary(s, r, { color: false, seed: 1, expectation: null });
  const dev = text.find((l) => l.includes('PCI\\VEN_'))!;
  assert.match(
    dev,
    /reset-pends {2}surprise-removed {2}not present \(unplugged\), its stack not yet removed; IRP_MN_REMOVE_DEVICE sent, not completed when the run stopped$/,
  );
  assert.doesNotMatch(dev, /working/);
  assert.match(
    text.join('\n'),
    /Protocol tcpip on nic0: Closing \(its unbind not completed\), RESET_START 1 \/ RESET_END 0/,
  );
  const html = worldHtml(w, r, 'sr', s);
  assert.match(html, /<td>surprise-removed<\/td>/);
  assert.match(html, /<td>Closing \(its unbind not completed\)<\/td>/);
});

test('R5.12: a device that reported PNP_DEVICE_FAILED and is being surprise-removed says so and that Code 43 follows; a binding paused by the teardown says "bound, Paused"', () => {
  const drv = scriptedDriver('pause-hangs', {
    restart: (a) => {
      after(a, 100, () => {
        NdisMRemoveMiniport(a.handle);
      });
      return NDIS_STATUS_SUCCESS;
    },
    pause: () => NDIS_STATUS_PENDING,
  });
  const w = new World({ seed: 1, verifier: 'collect' });
  w.addDriver(drv);
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'pause-hangs' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  const text = formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null }).join('\n');
  assert.match(
    text,
    /surprise-removed {2}it reported PNP_DEVICE_FAILED \(R5\.12\); Code 43 once its stack is removed/,
  );
  assert.match(text, /Protocol tcpip on nic0: bound, Paused,/);
});

test('R5.15: a device started again after its removal has two adapters of one name: the summary and the HTML number them ("adapter 1 of 2") so the rows can be told apart', () => {
  const w = twoNics();
  w.at(100 * ns.ms, { kind: 'remove', device: 'nic0' });
  w.at(200 * ns.ms, { kind: 'start', device: 'nic0' });
  const r = w.run(400 * ns.ms);
  const rows = formatSummary(w.summary(), r, { color: false, seed: 1, expectation: null }).filter((l) =>
    l.includes('NdisMRemoveMiniport calls'),
  );
  assert.equal(rows.length, 3);
  assert.match(rows[0]!, /^ {4}nic0 +healthy-nic +Halted .*calls: 0 {3}\(nic0's adapter 1 of 2\)$/);
  assert.match(rows[1]!, /^ {4}nic0 +healthy-nic +Running .*calls: 0 {3}\(nic0's adapter 2 of 2\)$/);
  assert.match(rows[2]!, /^ {4}nic1 .*calls: 0$/);
  const html = worldHtml(w, r, 'two');
  assert.match(html, /<td>nic0 <span class="dim">\(adapter 1 of 2\)<\/span><\/td>/);
  assert.match(html, /<td>nic0 <span class="dim">\(adapter 2 of 2\)<\/span><\/td>/);
  assert.match(html, /<td>nic1<\/td>/);
});

test('R5.11: removeCallsText adds refused calls to accepted ones: "2", "1 (refused)", "3 (1 refused)"', () => {
  assert.equal(removeCallsText({ removeCalls: 2, removeCallsRefused: 0 }), '2');
  assert.equal(removeCallsText({ removeCalls: 0, removeCallsRefused: 1 }), '1 (refused)');
  assert.equal(removeCallsText({ removeCalls: 2, removeCallsRefused: 1 }), '3 (1 refused)');
});

test("R5.8, R6.11: a removal stuck behind sends the miniport holds is said on the verdict line, with when Driver Verifier's send time-outs would come; running that long gets them", () => {
  const make = () => {
    const drv = scriptedDriver('send-holder', {
      send: () => {},
      restart: (a) => {
        after(a, 500, () => {
          NdisMRemoveMiniport(a.handle);
        });
        return NDIS_STATUS_SUCCESS;
      },
    });
    const w = new World({ seed: 1 });
    w.addDriver(drv);
    w.addProtocol('tcpip', { traffic: { ratePerSecond: 100 } });
    w.addDevice({ name: 'nic0', driver: 'send-holder' });
    w.at(0, { kind: 'start', device: 'nic0' });
    return w;
  };
  const w = make();
  const r = w.run(5 * ns.s);
  assert.equal(r.verdict, 'ok');
  const a = w.summary().adapters[0]!;
  assert.ok(a.sendsOutstanding > 10);
  // No completion ever: NdisTimedDataHang is due 22 s after the first send.
  assert.ok(a.sendLimitDueNs! > 22 * ns.s && a.sendLimitDueNs! < 23 * ns.s, String(a.sendLimitDueNs));
  const opts = {
    color: false,
    seed: 1,
    expectation: null,
    removals: removalStories(w.trace.events),
    events: w.trace.events,
  };
  const text = formatSummary(w.summary(), r, opts);
  const at = text.findIndex((l) => l.startsWith('Verdict:'));
  assert.equal(
    text[at],
    'Verdict: no rule broken; but the removal of nic0 was still under way when the run ended (see "Still under way")\n' +
      `    nic0's miniport holds ${a.sendsOutstanding} send(s): if none completes, Driver Verifier's send time-outs (NdisTimedDataHang at 22 s without a completion, NdisTimedDataSend at 30 s per NBL; R6.11) come by 24 s; run it to 24 s or later (--until 24s) to see whether they do`,
  );
  const html = worldHtml(w, r, 'held');
  assert.match(
    html,
    /class="verdict unfinished">Verdict: no rule broken; but the removal of nic0 was still under way/,
  );
  assert.match(html, /<ul class="hints"><li>nic0&#39;s miniport holds \d+ send\(s\)/);
  // The hint holds: run to its time, the verifier stops the run.
  const longer = make().run(24 * ns.s);
  assert.equal(longer.verdict, 'bugcheck');
  assert.equal(longer.bugCheck?.rule, 'NdisTimedDataHang');
});

test('R5.8: a removal that finished, or a run with none, leaves the verdict line as it was', () => {
  const w = new World({ seed: 1 });
  w.addDriver(
    scriptedDriver('quick-remover', {
      restart: (a) => {
        after(a, 100, () => {
          NdisMRemoveMiniport(a.handle);
        });
        return NDIS_STATUS_SUCCESS;
      },
    }),
  );
  w.addProtocol('tcpip');
  w.addDevice({ name: 'nic0', driver: 'quick-remover' });
  w.at(0, { kind: 'start', device: 'nic0' });
  const r = w.run(1 * ns.s);
  const text = formatSummary(w.summary(), r, {
    color: false,
    seed: 1,
    expectation: null,
    removals: removalStories(w.trace.events),
    events: w.trace.events,
  });
  assert.equal(text.at(-1), 'Verdict: no rule broken');
});
