// Tests use the gallery's scriptable miniport (src/drivers/buggy/base.ts).

export {
  after,
  type Hooks,
  type ScriptedDriver,
  scriptedDriver,
  type TestAdapter,
} from '../../src/drivers/buggy/base.ts';
