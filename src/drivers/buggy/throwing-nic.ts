// Gallery (NdisSim_DriverException): MiniportRestart reads receive-ring state that
// MiniportInitializeEx never set up — in C a NULL dereference, here a TypeError.
// Nothing handles it: KMODE_EXCEPTION_NOT_HANDLED (0x1E).

import { NDIS_STATUS_SUCCESS } from '../../index.ts';
import { variantOfHealthyNic } from '../healthy-nic.ts';

interface RxRing {
  head: number;
}

const rings = new WeakMap<object, RxRing>();

export const throwingNic = variantOfHealthyNic(
  'throwing-nic',
  'buggy: MiniportRestart dereferences a receive ring it never allocated (0x1E)',
  (c) => {
    c.RestartHandler = (ctx) => {
      // The ring was meant to be allocated in MiniportInitializeEx.
      const ring = rings.get(ctx as object) as RxRing;
      ring.head = 0;
      return NDIS_STATUS_SUCCESS;
    };
  },
);
