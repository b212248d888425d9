// healthy-nic: the SimNic miniport without check-for-hang (src/drivers/simnic-miniport.ts).

import type { DriverModule, NDIS_MINIPORT_DRIVER_CHARACTERISTICS } from '../index.ts';
import { simnicMiniport } from './simnic-miniport.ts';

export const healthyNic: DriverModule = simnicMiniport({
  name: 'healthy-nic',
  description: 'a well-behaved SimNic miniport (NDIS 6.30, no check-for-hang)',
  checkForHang: false,
});

/**
 * healthy-nic with some handlers changed: the base of the gallery's buggy drivers,
 * each of which breaks one rule the way a real driver does.
 */
export function variantOfHealthyNic(
  name: string,
  description: string,
  edit: (c: NDIS_MINIPORT_DRIVER_CHARACTERISTICS) => void,
): DriverModule {
  return simnicMiniport({ name, description, checkForHang: false }, edit);
}
