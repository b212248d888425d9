// Tests use the gallery's scriptable miniport (src/drivers/buggy/base.ts).

export {
  after,
  type Hooks,
  idleInterrupt,
  type ScriptedDriver,
  scriptedDriver,
  type TestAdapter,
  timerCharacteristics,
} from '../../src/drivers/buggy/base.ts';
