// flaky-nic: the SimNic miniport with hang detection and the give-up policy of
// R5.21 (src/drivers/simnic-miniport.ts): it resets a hung NIC, and after ResetLimit
// resets within ResetWindowSeconds writes an error log entry and calls
// NdisMRemoveMiniport once — the adapter "resetting very frequently and freezing the
// computer every few seconds" of NdisMRemoveMiniport's documentation.

import type { DriverModule } from '../index.ts';
import { simnicMiniport } from './simnic-miniport.ts';

export const flakyNic: DriverModule = simnicMiniport({
  name: 'flaky-nic',
  description: 'a SimNic miniport that resets a hung NIC and gives up with NdisMRemoveMiniport',
  checkForHang: true,
});
