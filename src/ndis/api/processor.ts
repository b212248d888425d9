// The machine a driver runs on: NDIS's version, its processors and the current IRQL.
// The simulated machine has one processor group, group 0, whose processors (World
// option `cpus`) are all active and numbered from 0; a processor's index is its number.

import { NotModelledError } from '../../errors.ts';
import { Irql } from '../../kernel/kernel.ts';
import { ddiIrql } from '../generated/irql.ts';
import { msRules } from '../generated/rules.ts';
import type { Ndis } from '../ndis.ts';
import { currentNdis } from './common.ts';
import { newestMinorVersion } from './driver.ts';

const irql = {
  NdisGetVersion: ddiIrql.NdisGetVersion!,
  NdisActiveGroupCount: ddiIrql.NdisActiveGroupCount!,
  NdisMaxGroupCount: ddiIrql.NdisMaxGroupCount!,
  NdisGroupActiveProcessorCount: ddiIrql.NdisGroupActiveProcessorCount!,
  NdisGroupMaxProcessorCount: ddiIrql.NdisGroupMaxProcessorCount!,
  NdisGroupActiveProcessorMask: ddiIrql.NdisGroupActiveProcessorMask!,
  NdisCurrentProcessorIndex: ddiIrql.NdisCurrentProcessorIndex!,
};

/**
 * UINT NdisGetVersion(). <= DISPATCH. The NDIS version of the system: the major number
 * in the high 16 bits, the minor in the low 16, the newest NDIS 6 release (as the
 * NdisVersion entry of NdisReadConfiguration says).
 */
export function NdisGetVersion(): number {
  const ddi = 'NdisGetVersion';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisGetVersion, ddi, null);
  return 6 * 0x10000 + newestMinorVersion;
}

/*
 * The KIRQL levels of wdm.h that the model has, under their WDK names, for comparing
 * with NDIS_CURRENT_IRQL() and for the _CurIrql argument of NDIS_LOWER_IRQL. PASSIVE,
 * APC and DISPATCH have their wdm.h values. Device IRQLs are one level here (DIRQL, 3,
 * which has no WDK constant: a device's IRQL is whatever its interrupt was given), so
 * HIGH_LEVEL is 4 rather than x64's 15; the order of the levels is Windows's.
 */
/** PASSIVE_LEVEL (0): threads, MiniportInitializeEx, MiniportHaltEx, work items. */
export const PASSIVE_LEVEL = Irql.Passive;
/** APC_LEVEL (1). */
export const APC_LEVEL = Irql.Apc;
/** DISPATCH_LEVEL (2): DPCs, timers, holders of a spin lock. */
export const DISPATCH_LEVEL = Irql.Dispatch;
/** HIGH_LEVEL: the top of the model's scale (4; 15 on x64), above every device IRQL. */
export const HIGH_LEVEL = Irql.High;

/**
 * The callbacks whose flags say whether they run at DISPATCH_LEVEL (SDV's Flags_Irql,
 * from rules.json): in them a driver trusts the flag and does not read the IRQL.
 */
const flagCallbacks: ReadonlySet<string> = new Set(
  msRules.find((r) => r.name === 'Flags_Irql')?.appliesTo ?? [],
);

/**
 * KIRQL NDIS_CURRENT_IRQL(): the IRQL the caller runs at (KeGetCurrentIrql). Any IRQL.
 * Called from a callback that got a *_DISPATCH_LEVEL flag, it is SDV's Flags_Irql
 * (R6.14, dispatch-irql-tracking): the flag says the IRQL, and reading it costs a call
 * the flag was made to save. Reported once per callback and adapter.
 */
export function NDIS_CURRENT_IRQL(): number {
  const n = currentNdis('NDIS_CURRENT_IRQL');
  const fn = n.runningFunction();
  if (fn !== null && flagCallbacks.has(fn)) flagsIrql(n, fn);
  return n.kernel.ctx.irql;
}

function flagsIrql(n: Ndis, fn: string): void {
  const adapter = n.runningAdapterName();
  const key = `${fn} ${adapter ?? ''}`;
  n.flagsIrqlSaid ??= new Set();
  if (n.flagsIrqlSaid.has(key)) return;
  n.flagsIrqlSaid.add(key);
  n.verifier.report(
    'Flags_Irql',
    'NDIS_CURRENT_IRQL',
    adapter,
    `${n.kernel.ctx.who} read the IRQL (NDIS_CURRENT_IRQL, KeGetCurrentIrql) in ${fn}, whose flags say whether it runs at DISPATCH_LEVEL: test the *_DISPATCH_LEVEL flag instead (dispatch-irql-tracking, R6.14)`,
  );
}

/** USHORT NdisActiveGroupCount(). Any IRQL (NDIS 6.20). The model has one group. */
export function NdisActiveGroupCount(): number {
  const ddi = 'NdisActiveGroupCount';
  currentNdis(ddi).verifier.irql(irql.NdisActiveGroupCount, ddi, null);
  return 1;
}

/** USHORT NdisMaxGroupCount(). Any IRQL (NDIS 6.20). No group can be added. */
export function NdisMaxGroupCount(): number {
  const ddi = 'NdisMaxGroupCount';
  currentNdis(ddi).verifier.irql(irql.NdisMaxGroupCount, ddi, null);
  return 1;
}

/**
 * ALL_PROCESSOR_GROUPS (wdm.h, 0xFFFF): the Group that NdisGroupActiveProcessorCount and
 * NdisGroupMaxProcessorCount take for every processor of the machine (their pages).
 */
export const ALL_PROCESSOR_GROUPS = 0xffff;

/**
 * The processors of `Group`, after the IRQL check: all of them in group 0, none
 * elsewhere. `all`: ALL_PROCESSOR_GROUPS counts the whole machine (the two count DDIs).
 */
function groupProcessors(Group: number, ddi: string, n: Ndis, all = false): number {
  if (!Number.isInteger(Group) || Group < 0 || Group > 0xffff)
    n.verifier.fatal('NdisSim_BadParameter', ddi, null, `${ddi}: Group must be a USHORT, got ${Group}`);
  return Group === 0 || (all && Group === ALL_PROCESSOR_GROUPS) ? n.kernel.cpuCount : 0;
}

/**
 * ULONG NdisGroupActiveProcessorCount(Group). Any IRQL (NDIS 6.20). ALL_PROCESSOR_GROUPS:
 * the active processors of the whole machine.
 */
export function NdisGroupActiveProcessorCount(Group: number): number {
  const ddi = 'NdisGroupActiveProcessorCount';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisGroupActiveProcessorCount, ddi, null);
  return groupProcessors(Group, ddi, n, true);
}

/**
 * ULONG NdisGroupMaxProcessorCount(Group). Any IRQL (NDIS 6.20). No processor can be
 * added. ALL_PROCESSOR_GROUPS: the most processors of the whole machine.
 */
export function NdisGroupMaxProcessorCount(Group: number): number {
  const ddi = 'NdisGroupMaxProcessorCount';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisGroupMaxProcessorCount, ddi, null);
  return groupProcessors(Group, ddi, n, true);
}

/**
 * KAFFINITY NdisGroupActiveProcessorMask(Group). Any IRQL (NDIS 6.20). Bit i stands for
 * processor i. A number holds 53 bits exactly, so a machine with more processors than
 * that cannot give its mask (the model allows 64).
 */
export function NdisGroupActiveProcessorMask(Group: number): number {
  const ddi = 'NdisGroupActiveProcessorMask';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisGroupActiveProcessorMask, ddi, null);
  const cpus = groupProcessors(Group, ddi, n);
  if (cpus > 53)
    throw new NotModelledError(
      ddi,
      `a KAFFINITY of ${cpus} processors does not fit a number exactly (53 bits)`,
    );
  return 2 ** cpus - 1;
}

/** ULONG NdisCurrentProcessorIndex(). DISPATCH (NDIS 6.20): the index of the caller's processor. */
export function NdisCurrentProcessorIndex(): number {
  const ddi = 'NdisCurrentProcessorIndex';
  const n = currentNdis(ddi);
  n.verifier.irql(irql.NdisCurrentProcessorIndex, ddi, null);
  return n.kernel.ctx.cpu;
}
