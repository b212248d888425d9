// The drivers a scenario can name.

import type { DriverModule } from '../ndis/driver.ts';
import { gallery } from './buggy/index.ts';
import { echoProto } from './echo-proto.ts';
import { flakyNic } from './flaky-nic.ts';
import { healthyNic } from './healthy-nic.ts';
import { countingLwf, monitorLwf, oidLoggingLwf } from './lwf.ts';
import { muxIm } from './mux-im.ts';
import { vmini } from './vmini.ts';

/** Reference drivers (miniports, then the filter), then the gallery of buggy ones (drivers/buggy) and the miniports some of them run over. */
export const builtinDrivers: readonly DriverModule[] = [
  healthyNic,
  flakyNic,
  vmini,
  monitorLwf,
  oidLoggingLwf,
  countingLwf,
  echoProto,
  muxIm,
  ...gallery.flatMap((g) => (g.miniport === undefined ? [g.driver] : [g.driver, g.miniport])),
];

export function driverNames(extra: readonly DriverModule[] = []): string[] {
  return [...builtinDrivers, ...extra].map((d) => d.name);
}
