// The drivers a scenario can name.

import type { DriverModule } from '../ndis/driver.ts';
import { flakyNic } from './flaky-nic.ts';
import { healthyNic } from './healthy-nic.ts';

export const builtinDrivers: readonly DriverModule[] = [healthyNic, flakyNic];

export function driverNames(extra: readonly DriverModule[] = []): string[] {
  return [...builtinDrivers, ...extra].map((d) => d.name);
}
