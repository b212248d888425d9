// ndis-sim/scenario: scenario files and the built-in drivers, from code. Apart from the
// front door ('ndis-sim') because the built-in drivers are written against it.

export { echoProto } from './drivers/echo-proto.ts';
export { flakyNic } from './drivers/flaky-nic.ts';
export { healthyNic } from './drivers/healthy-nic.ts';
export { countingLwf, monitorLwf, oidLoggingLwf } from './drivers/lwf.ts';
export { vmini } from './drivers/vmini.ts';
// What the functions below throw on bad input (T5 of the stop-36 review).
export { InputError } from './errors.ts';
export type { Situation, StrategySpec } from './explore/explore.ts';
export type { ChoiceJson, ExploreJson, FailureJson } from './explore/format.ts';
export {
  type Exploration,
  type ExploredFailure,
  type ExploreScenarioOptions,
  exploreScenario,
} from './explore/from-code.ts';
export type { Expectation } from './scenario/build.ts';
export { type ScenarioWorld, type ScenarioWorldOptions, scenarioWorld } from './scenario/from-code.ts';
export type { Scenario } from './scenario/schema.ts';
