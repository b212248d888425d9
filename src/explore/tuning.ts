// V8's allocation-site pretenuring, turned off for a process that runs many worlds
// (docs/decisions.md, "Allocation-site pretenuring is off where ndis-sim runs worlds").
// With it on, a driver that stores a capturing closure in an object — as
// `MajorFunctions[IRP_MJ_CREATE] = (d, irp) => …` does — makes V8 allocate what some
// sites make straight in the old generation, which then fills with dead worlds and
// slows every young collection. The setting changes no result, only the speed.

import { setFlagsFromString } from 'node:v8';

let off = false;

/** Whether this process turned it off (a test's question). */
export function pretenuringIsOff(): boolean {
  return off;
}

export function pretenuringOff(): void {
  if (off) return;
  off = true;
  setFlagsFromString('--no-allocation-site-pretenuring');
}
