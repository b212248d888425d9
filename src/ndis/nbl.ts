// NET_BUFFER_LIST and NET_BUFFER: the unit of the data path. Chains are linked
// through `Next` as in C. The model tracks ownership (who holds an NBL now) so
// that completion exactly once and return exactly once can be checked (R6.9, R6.13).

import type { NDIS_HANDLE, NDIS_STATUS } from './types.ts';

export interface NET_BUFFER {
  Next: NET_BUFFER | null;
  DataLength: number;
  DataOffset: number;
  /** Frame bytes, or null when the model only tracks lengths. */
  Data: Uint8Array | null;
}

export interface NET_BUFFER_LIST {
  Next: NET_BUFFER_LIST | null;
  FirstNetBuffer: NET_BUFFER | null;
  Status: NDIS_STATUS;
  SourceHandle: NDIS_HANDLE | null;
  Flags: number;
  NblFlags: number;
  /** Scratch space the current owner may use (MiniportReserved in C). */
  MiniportReserved: [unknown, unknown];
  ProtocolReserved: [unknown, unknown, unknown, unknown];
  /** NDIS_GET/SET_NET_BUFFER_LIST_CANCEL_ID. */
  CancelId: unknown;
}

/** Walks a chain; `fn` must not relink it. */
export function forEachNbl(first: NET_BUFFER_LIST | null, fn: (nbl: NET_BUFFER_LIST) => void): void {
  for (let n = first; n !== null; ) {
    const next = n.Next;
    fn(n);
    n = next;
  }
}

export function nblCount(first: NET_BUFFER_LIST | null): number {
  let c = 0;
  for (let n = first; n !== null; n = n.Next) c++;
  return c;
}
