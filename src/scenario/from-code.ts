// A scenario file from code: the machine `ndis-sim run` builds from it, for a test of
// your own (README "Using it from code"). Bad input throws an InputError whose
// `problems` are the lines the CLI prints.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { driverNames } from '../drivers/index.ts';
import { InputError } from '../errors.ts';
import type { DriverModule } from '../ndis/driver.ts';
import type { RunResult, World } from '../world.ts';
import { buildWorld, checkExpectations, type Expectation, ioctlCodesFor, untilNs } from './build.ts';
import { parseScenarioText, readScenarioText } from './load.ts';
import { checkDriverObjects } from './modules.ts';
import type { Scenario } from './schema.ts';

export interface ScenarioWorldOptions {
  /** The scenario's text; `file` then only names it in messages. */
  readonly text?: string;
  /** Drivers of yours the scenario names, beside the built-in ones. */
  readonly drivers?: readonly DriverModule[];
  /** Default: the scenario's `seed:`. */
  readonly seed?: number;
  /** Record the trace (default true). */
  readonly trace?: boolean;
  /** Default: the scenario's `verifier:`. */
  readonly verifier?: Scenario['verifier'];
}

export interface ScenarioWorld {
  readonly scenario: Scenario;
  /** The machine, built and not yet run: add to it, or run it. */
  readonly world: World;
  /** The scenario's `until:`, in nanoseconds. */
  readonly untilNs: number;
  /**
   * Runs the world to `untilNs` and judges the run against the scenario's `expect:`
   * as `ndis-sim run` does (null when it has none).
   */
  run(): { result: RunResult; expectation: Expectation | null };
}

/**
 * The machine of a scenario file (YAML or JSON), with the built-in drivers and
 * `o.drivers`. Every problem of the file is an InputError thrown here, the I/O control
 * code names an `ioctl` gives among them (checked against the drivers' ioControlCodes,
 * as the command checks them), before any world is built.
 */
export function scenarioWorld(file: string, o: ScenarioWorldOptions = {}): ScenarioWorld {
  // A driver whose name is taken is bad input naming its place (drivers[1]), not a
  // World.addDriver error.
  checkDriverObjects(o.drivers ?? []);
  const names = driverNames(o.drivers);
  let scenario: Scenario;
  try {
    scenario = parseScenarioText(o.text ?? readScenarioText(file), file, names, {
      ioctlCodes: ioctlCodesFor(o.drivers ?? []),
      ownDrivers: 'passed in drivers: [...]',
    });
  } catch (e) {
    throw e instanceof InputError ? withModulesHint(e, file, o.text) : e;
  }
  const mode = o.verifier ?? scenario.verifier;
  const world = buildWorld(scenario, {
    drivers: o.drivers ?? [],
    verifier: mode,
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    ...(o.trace === undefined ? {} : { trace: o.trace }),
  });
  const until = untilNs(scenario);
  return {
    scenario,
    world,
    untilNs: until,
    run() {
      const result = world.run(until);
      return { result, expectation: checkExpectations(scenario, result, world.expectView(), mode) };
    },
  };
}

/**
 * A driver the scenario names but `drivers` lacks, in a scenario whose `driverModules:`
 * would give it to the command: say that code passes drivers itself (this function is
 * synchronous and loads no module), beside the schema's line.
 */
function withModulesHint(e: InputError, file: string, text: string | undefined): InputError {
  if (!e.problems.some((p) => /\bdriver: expected one of /.test(p))) return e;
  let listed: unknown;
  try {
    listed = (parse(text ?? readFileSync(file, 'utf8')) as { driverModules?: unknown } | null)?.driverModules;
  } catch {
    return e;
  }
  if (!Array.isArray(listed) || listed.length === 0) return e;
  return new InputError([
    ...e.problems,
    `${file}: driverModules: scenarioWorld loads no modules (${listed.map(String).join(', ')}): import the drivers they export and pass them in its drivers option`,
  ]);
}
