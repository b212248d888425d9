// What every DDI does first: find its world, check its handle, check its IRQL.

import { NdisSimUsageError } from '../../errors.ts';
import { Irql, notRunning } from '../../kernel/kernel.ts';
import { statusText } from '../../verifier/bugcheck.ts';
import { Binding } from '../binding.ts';
import type { MiniportBlock } from '../block.ts';
import { MiniportBlock as Block } from '../block.ts';
import { MiniportDriverBlock } from '../driver.ts';
import { FilterDriverBlock, FilterModule } from '../filter.ts';
import { NDIS_ERROR_CODE_RESOURCE_CONFLICT } from '../generated/status.ts';
import type { Ndis } from '../ndis.ts';
import { ProtocolDriverBlock } from '../protocol-driver.ts';

let current: Ndis | null = null;

/**
 * Which copy of this module has a world running, kept where every copy sees it. A
 * driver that imports 'ndis-sim' as a module of its own (a file outside the repository
 * run with `tsx src/cli/main.ts`, whose tsconfig path loads a second copy, instead of
 * bin/ndis-sim.js with its hooks) calls DDIs whose `current` is always null; the
 * message then says why, not only that no world runs.
 */
const thisCopy = Symbol('ndis-sim api/common.ts');
const runningCopy = Symbol.for('ndis-sim: the copy of api/common.ts with a world running');
const shared = globalThis as { [runningCopy]?: symbol | null };

/** The world whose code is running (set by World while it runs; DDIs without a handle use it). */
export function setCurrentNdis(n: Ndis | null): Ndis | null {
  const old = current;
  // Only the world on top runs: its handles are live, the others' are not (Kernel.running).
  if (old !== null) old.verifier.setRunning(false);
  if (n !== null) n.verifier.setRunning(true);
  current = n;
  if (n !== null) shared[runningCopy] = thisCopy;
  else if (shared[runningCopy] === thisCopy) shared[runningCopy] = null;
  return old;
}

export function currentNdis(ddi: string): Ndis {
  if (current === null) {
    const other = shared[runningCopy];
    if (other !== undefined && other !== null && other !== thisCopy)
      throw new NdisSimUsageError(
        `${ddi} was called from a second copy of ndis-sim's modules: the driver imported 'ndis-sim' as other modules than its world's. Run the driver with bin/ndis-sim.js (npx ndis-sim), whose hooks give a --driver file anywhere the world's own 'ndis-sim'`,
      );
    notRunning(ddi);
  }
  // A resumable routine went on without yielding the wait it began (src/ndis/resumable.ts).
  if (current.resumablePending !== null) current.unyielded(ddi);
  return current;
}

/**
 * The adapter behind a MiniportAdapterHandle. Anything NDIS did not issue is a
 * fatal bad-parameter violation (a wild pointer in C).
 */
export function adapterHandle(h: unknown, ddi: string): MiniportBlock {
  // A live handle reaches its world without currentNdis: whether that world is running
  // is the next check, the DDI's IRQL check's (Verifier.irql throws notRunning).
  if (h instanceof Block) return h;
  const n = currentNdis(ddi);
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: the handle is not a MiniportAdapterHandle NDIS issued`,
  );
}

/** R5.20, R2.8: a handle whose MiniportHaltEx returned is dead. True when the DDI must stop. */
export function stale(b: MiniportBlock, ddi: string): boolean {
  if (!b.handleDead) return false;
  // After the last run: a usage error, not a bug check escaping as WorldStop.
  if (!b.ndis.kernel.running) notRunning(ddi);
  b.ndis.verifier.report(
    'NdisSim_StaleHandle',
    ddi,
    b.name,
    `${ddi} called with the handle of ${b.name} after its ${b.handleEnd} (R5.20)`,
  );
  return true;
}

export function driverHandle(h: unknown, ddi: string): MiniportDriverBlock {
  if (h instanceof MiniportDriverBlock) return h;
  const n = currentNdis(ddi);
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: the handle is not a miniport driver handle NDIS issued`,
  );
}

/** An adapter or driver handle (DDIs that take either, like NdisAllocateTimerObject). */
export function ownerHandle(h: unknown, ddi: string): MiniportBlock | MiniportDriverBlock {
  if (h instanceof Block || h instanceof MiniportDriverBlock) return h;
  const n = currentNdis(ddi);
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    null,
    `${ddi}: the handle is neither an adapter nor a driver handle`,
  );
}

/**
 * A handle of the kernel-service DDIs whose pages name filter handles as well: an
 * adapter or miniport driver handle, a filter module's NdisFilterHandle (FilterAttach)
 * or the NdisFilterDriverHandle (NdisFRegisterFilterDriver). `module` false: the page
 * names the filter driver handle only (NdisAllocateIoWorkItem), so a module handle is
 * refused as any handle NDIS does not take there.
 */
export type ServiceHandle = MiniportBlock | MiniportDriverBlock | FilterModule | FilterDriverBlock;

export function serviceHandle(h: unknown, ddi: string, module = true): ServiceHandle {
  if (h instanceof Block || h instanceof MiniportDriverBlock || h instanceof FilterDriverBlock) return h;
  if (h instanceof FilterModule && module) return h;
  return otherHandle(h, ddi);
}

/**
 * serviceHandle for the DDIs that also take a protocol driver's NdisProtocolHandle
 * (timer objects and I/O work items; obtaining-pool-handles).
 */
export function serviceOrProtocolHandle(
  h: unknown,
  ddi: string,
  module = true,
): ServiceHandle | ProtocolDriverBlock {
  if (h instanceof ProtocolDriverBlock) return h;
  return serviceHandle(h, ddi, module);
}

function otherHandle(h: unknown, ddi: string): never {
  const n = currentNdis(ddi);
  return n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    h instanceof FilterModule || h instanceof Binding ? h.block.name : null,
    h instanceof FilterModule
      ? `${ddi}: a filter driver passes its filter driver handle (NdisFRegisterFilterDriver), not the NdisFilterHandle of module ${h.name}`
      : h instanceof Binding
        ? `${ddi}: a protocol driver passes its NdisProtocolHandle (NdisRegisterProtocolDriver), not an NdisBindingHandle (obtaining-pool-handles)`
        : h instanceof ProtocolDriverBlock
          ? `${ddi}: the page does not take a protocol driver's NdisProtocolHandle`
          : `${ddi}: the handle is not an adapter, miniport driver, filter module or filter driver handle`,
  );
}

/** R7.5: the NdisFilterHandle of a detached module is dead. True when the DDI must stop. */
export function staleModule(m: FilterModule, ddi: string, n: Ndis): boolean {
  if (!m.gone) return false;
  n.verifier.report(
    'NdisSim_StaleHandle',
    ddi,
    m.block.name,
    `${ddi} called with the handle of filter module ${m.name} after it was detached (R7.5)`,
  );
  return true;
}

/**
 * A pool (NBL or NET_BUFFER) is as alive as the handle that allocated it. One of a filter
 * module's NdisFilterHandle serves until that module's FilterDetach (R7.5), whatever
 * happens to the miniport below: a halt for a sleep (NdisHaltDevicePoweredDown) leaves the
 * module attached and Paused (R7.9), so the pool stays valid across it. One of an adapter
 * handle dies with MiniportHaltEx (R5.20). A driver's or protocol's pool has neither.
 * True when the DDI must stop (reported).
 */
export function stalePool(
  pool: { readonly block: MiniportBlock | null; readonly module: FilterModule | null },
  ddi: string,
  n: Ndis,
): boolean {
  if (pool.module !== null) return staleModule(pool.module, ddi, n);
  return pool.block !== null && stale(pool.block, ddi);
}

/** R2.4: the registration attributes come before any call that claims the hardware. */
export function claimsHardware(b: MiniportBlock, ddi: string): void {
  if (b.registration !== null) return;
  b.ndis.verifier.report(
    'NdisSim_AttributesOrder',
    ddi,
    b.name,
    `${ddi} before the registration attributes were set (R2.4)`,
  );
}

/**
 * R8.11: a driver releases its spin locks before an NDIS call that runs other drivers'
 * code (synchronization-and-notification-in-network-drivers: release every NDIS spin
 * lock before calling an NDIS function other than the spin-lock ones). A completion, an
 * indication, a status, a send or a request passed on makes NDIS call the drivers above
 * or below, which may call straight back into the caller (a send, the next OID request,
 * a completion), whose handler takes the same lock: a deadlock. Only locks the calling
 * driver acquired count: a lock another driver holds further up the same thread was
 * reported at that driver's own call. The message names the driver that took each lock
 * and the DDI. `rule` names the rule text that says it for `ddi`; `why`, when given, says
 * what the deadlock would be instead of the NDIS call-back (IoCompleteRequest's page).
 */
export function lockHeldUpCall(
  n: Ndis,
  adapter: string | null,
  ddi: string,
  rule: string,
  why: string | null = null,
): void {
  const ctx = n.kernel.ctx;
  const caller = ctx.who;
  let own = 0;
  for (const s of ctx.held) if (s.by === undefined || s.by === caller) own++;
  if (own === 0) return;
  n.verifier.report(
    'NdisSim_LockHeldAcrossCall',
    ddi,
    adapter,
    `${caller} called ${ddi} holding ${own} spin lock(s) it acquired: ${why ?? `the drivers NDIS calls from ${ddi} may call back into ${caller}, whose handler takes the same lock`} (a deadlock; ${rule})`,
  );
}

/**
 * The NBL chain a send, a send completion, an indication or a return hands over: the
 * pages of those DDIs give it as a pointer to the first NBL of a list, never NULL. NDIS
 * walks it at once, so a NULL there crashes in NDIS: NdisSim_BadParameter (fatal).
 */
export function nullChain(n: Ndis, chain: unknown, ddi: string, param: string, adapter: string | null): void {
  if (chain !== null && chain !== undefined) return;
  n.verifier.fatal(
    'NdisSim_BadParameter',
    ddi,
    adapter,
    `${n.kernel.ctx.who} called ${ddi} with ${param} NULL: the page asks for a list of one NBL or more, and NDIS walks it at once`,
  );
}

/**
 * A PASSIVE caller outside MiniportInitializeEx and MiniportHaltEx of `b`, the places
 * the pages of the release DDIs (interrupt, DMA channel) allow. Above PASSIVE the IRQL
 * check has reported the call already, so this is false there.
 */
export function passiveOutsideInitHalt(n: Ndis, b: MiniportBlock): boolean {
  return (
    n.kernel.ctx.irql === Irql.Passive &&
    !n.insideCallback(b, 'MiniportInitializeEx') &&
    !n.insideCallback(b, 'MiniportHaltEx')
  );
}

/**
 * The end of a driver's registration (NdisFRegisterFilterDriver,
 * NdisRegisterProtocolDriver): the trace line, and a refusal of its characteristics
 * reported as the driver's bug (its DriverEntry fails; `page` is the DDI's page).
 */
export function registrationDone(
  n: Ndis,
  ddi: string,
  driver: string,
  traced: Record<string, unknown>,
  status: number,
  bad: { why: string } | null,
  page: string,
): void {
  if (n.trace.on) {
    const t = n.traceDdi(ddi, null, { ...traced, result: status });
    if (bad !== null) t.why = bad.why;
  }
  if (bad !== null)
    n.verifier.report(
      'NdisSim_BadCharacteristics',
      ddi,
      null,
      `${driver}: ${ddi} returned ${statusText(status)}: ${bad.why} (${page})`,
    );
}

/**
 * NDIS could not claim the I/O ports or memory a driver asked for (not the device's, as
 * PnP gave it): it logs NDIS_ERROR_CODE_RESOURCE_CONFLICT for the adapter, as the pages
 * of NdisMRegisterIoPortRange and NdisMMapIoSpace say it logs an error.
 */
export function logResourceConflict(b: MiniportBlock): void {
  b.ndis.eventLog.push({
    timeNs: b.ndis.now,
    source: b.driver.name,
    adapter: b.name,
    errorCode: NDIS_ERROR_CODE_RESOURCE_CONFLICT,
    values: [],
  });
}
