// The NBL context area (ns-nbl-net_buffer_list_context, network/net-buffer-list-context-structure):
// scratch space that travels with a NET_BUFFER_LIST down and up the stack, shared by
// every driver it passes through as a stack. A driver takes space with
// NdisAllocateNetBufferListContext (the used part grows toward the front: Offset goes
// down), reads it at NET_BUFFER_LIST_CONTEXT_DATA_START, and gives it back with
// NdisFreeNetBufferListContext (Offset goes up). When the unused part of the current
// block is too small, NDIS puts a new block of ContextSize + ContextBackFill bytes in
// front, and takes it away once all of it is free again.
//
// The model's check (NdisSim_NblContext): the space is a stack, so a driver must give
// back what it took before the NBL goes back up to whoever handed it over (a send
// completed, a receive returned). Space left in place shifts every driver above off its
// own bytes: the one that handed the NBL over reads this one's context at
// NET_BUFFER_LIST_CONTEXT_DATA_START. Freeing space another driver took breaks it the
// same way from the other side.
//
// Nothing here runs unless a driver asks for context space: an NBL without any has
// `_ctx` null and the data path checks one field.

import { ddiIrql } from '../generated/irql.ts';
import { NDIS_STATUS_FAILURE, NDIS_STATUS_SUCCESS } from '../generated/status.ts';
import { NblImpl, type NblPool, type NET_BUFFER_LIST, type NET_BUFFER_LIST_CONTEXT } from '../nbl.ts';
import type { Ndis } from '../ndis.ts';
import type { NDIS_STATUS } from '../types.ts';
import { currentNdis } from './common.ts';

const irql = {
  NdisAllocateNetBufferListContext: ddiIrql.NdisAllocateNetBufferListContext!,
  NdisFreeNetBufferListContext: ddiIrql.NdisFreeNetBufferListContext!,
};

/** sizeof(void*) on the 64-bit Windows the model stands for: the pages' unit for these sizes. */
const POINTER_SIZE = 8;

/** A context block; `added` is one NDIS put in front for a call (taken away once all free). */
class ContextBlock implements NET_BUFFER_LIST_CONTEXT {
  constructor(
    public Next: NET_BUFFER_LIST_CONTEXT | null,
    public Size: number,
    public Offset: number,
    public ContextData: Uint8Array,
    readonly added: boolean,
  ) {}
}

/**
 * The context a new NBL of `pool` comes with: the pool's preallocated ContextSize, and
 * ContextSize bytes used by the caller of NdisAllocateNetBufferList (or
 * NdisAllocateNetBufferAndNetBufferList), with ContextBackFill more unused when the pool's
 * space is too small. Sizes were checked (contextSizes).
 */
export function initialContext(n: Ndis, nbl: NblImpl, pool: NblPool, used: number, backFill: number): void {
  const size = Math.max(pool.contextSize, used + backFill);
  if (size === 0) return;
  nbl.Context = new ContextBlock(null, size, size - used, new Uint8Array(size), false);
  if (used > 0) nbl._ctx = [{ who: n.kernel.ctx.who, size: used, reported: false, initial: true }];
}

/** The NBL a context DDI was given, or a stop (not an NBL; freed). */
function nblArg(n: Ndis, x: NET_BUFFER_LIST, ddi: string): NblImpl | null {
  if (!(x instanceof NblImpl))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      n.runningAdapterName(),
      `${ddi}: not an NBL NDIS allocated`,
    );
  if (x._place === 'free') {
    n.verifier.report(
      'NdisSim_ObjectFreedInUse',
      ddi,
      x._pool.block?.name ?? null,
      `${n.kernel.ctx.who} called ${ddi} on NBL #${x._id}, which its pool's owner freed already`,
    );
    return null;
  }
  return x;
}

/**
 * The driver that holds `nbl` on the send path, where NDIS knows it for sure: the
 * miniport it was sent to, the filter module that has it, or the protocol it went back
 * to. Null elsewhere: a receive passes through drivers above with
 * NDIS_RECEIVE_FLAGS_RESOURCES without changing hands, and an NBL at home with a
 * miniport or filter may be in such an indication.
 */
function sendHolder(nbl: NblImpl): string | null {
  switch (nbl._place) {
    case 'miniport-send':
      return nbl._block?.driver.name ?? null;
    case 'filter-send':
      return nbl._holder?.driver.name ?? null;
    case 'protocol':
      return nbl._pool.owner;
    default:
      return null;
  }
}

/**
 * NdisSim_NblContext: `who` takes or frees context space of an NBL another driver holds
 * (it passed the send on, or completed it, and used the NBL after): the space it
 * changes is under that driver's (ns-nbl-net_buffer_list_context). Reported; the call
 * goes on.
 */
function notHeld(n: Ndis, nbl: NblImpl, ddi: string, adapter: string | null): void {
  const holder = sendHolder(nbl);
  const who = n.kernel.ctx.who;
  if (holder === null || holder === who) return;
  n.verifier.report(
    'NdisSim_NblContext',
    ddi,
    adapter,
    `${who} called ${ddi} on NBL #${nbl._id}, which ${holder} holds: a driver uses the context space of an NBL only while it holds it, from when it gets it until it passes it on, completes or returns it (ns-nbl-net_buffer_list_context)`,
  );
}

function badSize(x: number): boolean {
  return !Number.isInteger(x) || x < 0 || x > 0xffff || x % POINTER_SIZE !== 0;
}

/**
 * NDIS_STATUS NdisAllocateNetBufferListContext(NetBufferList, ContextSize,
 * ContextBackFill, PoolTag). <= DISPATCH. ContextSize more bytes of used context space
 * for the caller: from the unused part of the current block when it is big enough (its
 * Offset goes down), else from a new block of ContextSize + ContextBackFill bytes NDIS
 * puts in front. Both sizes are multiples of sizeof(void*)
 * (nf-nblapi-ndisallocatenetbufferlistcontext); ContextSize 0 takes nothing. The model
 * never runs out of memory, so the answer is NDIS_STATUS_SUCCESS.
 */
export function NdisAllocateNetBufferListContext(
  NetBufferList: NET_BUFFER_LIST,
  ContextSize: number,
  ContextBackFill: number,
  PoolTag: number,
): NDIS_STATUS {
  const ddi = 'NdisAllocateNetBufferListContext';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql.NdisAllocateNetBufferListContext, ddi, adapter);
  const nbl = nblArg(n, NetBufferList, ddi);
  if (nbl === null) return NDIS_STATUS_FAILURE;
  notHeld(n, nbl, ddi, adapter);
  if (badSize(ContextSize) || badSize(ContextBackFill))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: ContextSize ${ContextSize} and ContextBackFill ${ContextBackFill} must be multiples of sizeof(void*) (${POINTER_SIZE})`,
    );
  // 0 is a multiple too: nothing to take, and nothing NDIS must allocate for it.
  if (ContextSize === 0) {
    if (n.trace.on) n.traceDdi(ddi, null, { nbl: nbl._id, ContextSize, PoolTag });
    return NDIS_STATUS_SUCCESS;
  }
  const c = nbl.Context;
  if (c !== null && c.Offset >= ContextSize) c.Offset -= ContextSize;
  else {
    const size = ContextSize + ContextBackFill;
    nbl.Context = new ContextBlock(c, size, ContextBackFill, new Uint8Array(size), true);
  }
  const piece = { who: n.kernel.ctx.who, size: ContextSize, reported: false };
  if (nbl._ctx === null) nbl._ctx = [piece];
  else nbl._ctx.push(piece);
  if (n.trace.on) n.traceDdi(ddi, null, { nbl: nbl._id, ContextSize, PoolTag });
  return NDIS_STATUS_SUCCESS;
}

/**
 * VOID NdisFreeNetBufferListContext(NetBufferList, ContextSize). <= DISPATCH. Gives back
 * ContextSize bytes at the front of the used space (Offset goes up); a block NDIS added
 * goes once all of it is free (nf-nblapi-ndisfreenetbufferlistcontext). Freeing more than
 * the current block holds in use is NdisSim_BadParameter; freeing another driver's space
 * is NdisSim_NblContext.
 */
export function NdisFreeNetBufferListContext(NetBufferList: NET_BUFFER_LIST, ContextSize: number): void {
  const ddi = 'NdisFreeNetBufferListContext';
  const n = currentNdis(ddi);
  const adapter = n.runningAdapterName();
  n.verifier.irql(irql.NdisFreeNetBufferListContext, ddi, adapter);
  const nbl = nblArg(n, NetBufferList, ddi);
  if (nbl === null) return;
  notHeld(n, nbl, ddi, adapter);
  const who = n.kernel.ctx.who;
  // ContextSize 0 (what a request of 0 took): nothing to give back.
  if (ContextSize === 0) {
    if (n.trace.on) n.traceDdi(ddi, null, { nbl: nbl._id, ContextSize });
    return;
  }
  // Bytes of the caller's that a driver freeing too much took already (reported then):
  // they are gone, and the caller is not blamed for freeing them again.
  let size = ContextSize;
  const owed = n.ctxOwed?.get(nbl);
  const credit = owed?.get(who) ?? 0;
  if (credit > 0 && !badSize(ContextSize)) {
    const use = Math.min(credit, size);
    size -= use;
    if (credit === use) owed!.delete(who);
    else owed!.set(who, credit - use);
    if (size === 0) {
      if (n.trace.on) n.traceDdi(ddi, null, { nbl: nbl._id, ContextSize });
      return;
    }
  }
  const c = nbl.Context;
  const inUse = c === null ? 0 : c.Size - c.Offset;
  // Space another driver left in place (reported already) may fill a block NDIS added on
  // top of the caller's: then the caller's free reaches into the blocks beneath.
  const othersLeft = nbl._ctx?.some((p) => p.reported && p.who !== who) ?? false;
  if (badSize(ContextSize) || (size > inUse && !othersLeft))
    n.verifier.fatal(
      'NdisSim_BadParameter',
      ddi,
      adapter,
      `${ddi}: NBL #${nbl._id}: ContextSize ${ContextSize} ${
        c === null
          ? 'but the NBL has no context space (NdisAllocateNetBufferListContext gave none)'
          : `but only ${inUse} byte(s) of its current context block are in use: free what NdisAllocateNetBufferListContext gave, no more`
      }`,
    );
  const initial = { bytes: 0 };
  const others = takePieces(n, nbl, size, who, initial);
  if (initial.bytes > 0)
    n.verifier.report(
      'NdisSim_NblContext',
      ddi,
      adapter,
      `${who} freed ${initial.bytes} byte(s) of NBL #${nbl._id}'s context space that NdisAllocateNetBufferList (or NdisAllocateNetBufferAndNetBufferList) gave with its ContextSize: that space goes with the NBL, and a driver must not free it with ${ddi} (nf-nblapi-ndisfreenetbufferlist)`,
    );
  if (others !== null)
    n.verifier.report(
      'NdisSim_NblContext',
      ddi,
      adapter,
      `${who} freed ${others.bytes} byte(s) of NBL #${nbl._id}'s context space that ${others.owners} allocated, not it: the context space is a stack, each driver frees only what it took (ns-nbl-net_buffer_list_context)`,
    );
  let left = size;
  for (let block = nbl.Context; left > 0 && block !== null; block = nbl.Context) {
    const take = Math.min(left, block.Size - block.Offset);
    block.Offset += take;
    left -= take;
    if (block.Offset !== block.Size || !(block instanceof ContextBlock && block.added)) break;
    nbl.Context = block.Next;
  }
  if (n.trace.on) n.traceDdi(ddi, null, { nbl: nbl._id, ContextSize });
}

/**
 * Takes `size` bytes off the top of the NBL's pieces; says how many of them other
 * drivers took (pieces reported already are not said again), or null. Space another
 * driver left in place, reported already, may lie on top of the caller's own: the
 * caller's free is counted against its own piece beneath, so that the driver that left
 * its space is the one blamed, not the caller again when it hands the NBL on.
 */
function takePieces(
  n: Ndis,
  nbl: NblImpl,
  size: number,
  who: string,
  initial: { bytes: number },
): { bytes: number; owners: string } | null {
  const pieces = nbl._ctx;
  let bytes = 0;
  const owners: string[] = [];
  for (let left = size; left > 0 && pieces !== null && pieces.length > 0; ) {
    let i = pieces.length - 1;
    while (i > 0 && pieces[i]!.reported && pieces[i]!.who !== who) i--;
    if (pieces[i]!.who !== who) i = pieces.length - 1;
    const top = pieces[i]!;
    const take = Math.min(left, top.size);
    if (top.who !== who && !top.reported) {
      bytes += take;
      if (!owners.includes(top.who)) owners.push(top.who);
      // The victim's own free of these bytes later finds them freed (ctxOwed).
      n.ctxOwed ??= new WeakMap();
      let owed = n.ctxOwed.get(nbl);
      if (owed === undefined) {
        owed = new Map();
        n.ctxOwed.set(nbl, owed);
      }
      owed.set(top.who, (owed.get(top.who) ?? 0) + take);
    }
    if (top.who === who && top.initial === true) initial.bytes += take;
    top.size -= take;
    left -= take;
    if (top.size === 0) pieces.splice(i, 1);
  }
  if (pieces !== null && pieces.length === 0) nbl._ctx = null;
  return bytes === 0 ? null : { bytes, owners: owners.join(' and ') };
}

/**
 * NdisSim_NblContext: `who` hands `nbl` back up (a send completed, a receive returned)
 * with context space it took still in use. Called by the data path only for NBLs whose
 * `_ctx` is not null. Each piece is reported once.
 */
export function contextLeft(n: Ndis, nbl: NblImpl, who: string, ddi: string, adapter: string | null): void {
  let bytes = 0;
  for (const p of nbl._ctx!)
    if (p.who === who && !p.reported) {
      bytes += p.size;
      p.reported = true;
    }
  if (bytes === 0) return;
  n.verifier.report(
    'NdisSim_NblContext',
    ddi,
    adapter,
    `${who} gave NBL #${nbl._id} back with ${bytes} byte(s) of context space it allocated (NdisAllocateNetBufferListContext) still in use: call NdisFreeNetBufferListContext first, or the driver it goes back to reads these bytes at NET_BUFFER_LIST_CONTEXT_DATA_START instead of its own (ns-nbl-net_buffer_list_context)`,
  );
}

/**
 * NdisSim_NblContext: `nbl` is back with `owner`, the driver that allocated it (a
 * receive returned to its miniport or filter, a send completed to its protocol or
 * filter), with context space of other drivers still in use. A driver that gives the
 * NBL back itself is checked there (contextLeft); this catches one NDIS bypassed on the
 * way back (a filter without FilterReturnNetBufferLists), which never got the chance.
 * Called only for NBLs whose `_ctx` is not null. Each piece is reported once.
 */
export function contextAtOwner(
  n: Ndis,
  nbl: NblImpl,
  owner: string,
  ddi: string,
  adapter: string | null,
): void {
  let left: Map<string, number> | null = null;
  for (const p of nbl._ctx!)
    if (p.who !== owner && !p.reported) {
      left ??= new Map();
      left.set(p.who, (left.get(p.who) ?? 0) + p.size);
      p.reported = true;
    }
  if (left === null) return;
  for (const [who, bytes] of left)
    n.verifier.report(
      'NdisSim_NblContext',
      ddi,
      adapter,
      `${who} left ${bytes} byte(s) of context space it allocated (NdisAllocateNetBufferListContext) in NBL #${nbl._id}, which is back with its owner ${owner}: a driver frees its space before the NBL leaves it, and one NDIS bypasses on the way back (no FilterReturnNetBufferLists or FilterSendNetBufferListsComplete) must not take any (ns-nbl-net_buffer_list_context)`,
    );
}

/**
 * NdisSim_NblContext: `nbl` is freed (NdisFreeNetBufferList) with context space from
 * NdisAllocateNetBufferListContext still in use (nf-nblapi-ndisfreenetbufferlist: free
 * it first). The space the allocation gave goes with the NBL. Called only for NBLs whose
 * `_ctx` is not null; pieces reported already are not said again.
 */
export function contextAtFree(n: Ndis, nbl: NblImpl, ddi: string, adapter: string | null): void {
  let left: Map<string, number> | null = null;
  for (const p of nbl._ctx!)
    if (p.initial !== true && !p.reported && p.size > 0) {
      left ??= new Map();
      left.set(p.who, (left.get(p.who) ?? 0) + p.size);
      p.reported = true;
    }
  if (left === null) return;
  const who = n.kernel.ctx.who;
  for (const [owner, bytes] of left)
    n.verifier.report(
      'NdisSim_NblContext',
      ddi,
      adapter,
      `${who} freed NBL #${nbl._id} with ${bytes} byte(s) of context space ${owner === who ? 'it' : owner} allocated (NdisAllocateNetBufferListContext) still in use: NdisFreeNetBufferListContext comes before ${ddi} (nf-nblapi-ndisfreenetbufferlist)`,
    );
}

function contextOf(nbl: NET_BUFFER_LIST, macro: string): NET_BUFFER_LIST_CONTEXT {
  const c = nbl.Context;
  // In C the macro dereferences a NULL Context; here the driver's code throws.
  if (c === null)
    throw new TypeError(
      `${macro}: NBL${nbl instanceof NblImpl ? ` #${nbl._id}` : ''} has no context space (its Context is NULL)`,
    );
  return c;
}

/**
 * PUCHAR NET_BUFFER_LIST_CONTEXT_DATA_START(_NBL): the used context space of the current
 * block, from Offset to its end: the bytes the caller's last NdisAllocateNetBufferListContext
 * gave come first. A view of ContextData, so writes stay with the NBL.
 */
export function NET_BUFFER_LIST_CONTEXT_DATA_START(_NBL: NET_BUFFER_LIST): Uint8Array {
  const c = contextOf(_NBL, 'NET_BUFFER_LIST_CONTEXT_DATA_START');
  return c.ContextData.subarray(c.Offset);
}

/** ULONG NET_BUFFER_LIST_CONTEXT_DATA_SIZE(_NBL): the Size of the current context block. */
export function NET_BUFFER_LIST_CONTEXT_DATA_SIZE(_NBL: NET_BUFFER_LIST): number {
  return contextOf(_NBL, 'NET_BUFFER_LIST_CONTEXT_DATA_SIZE').Size;
}
