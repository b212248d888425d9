// fc.assert with the failing check's own message in the test output: fast-check 4
// keeps it as `cause`, which node's test runner does not print.

import fc from 'fast-check';

export function assertProperty<T>(p: fc.IProperty<T>, params: fc.Parameters<T>): void {
  try {
    fc.assert(p, params);
  } catch (e) {
    const cause = (e as Error & { cause?: unknown }).cause;
    if (cause === undefined) throw e;
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new Error(
      `${(e as Error).message}\nGot: ${why}\n(replay: pass { seed, path } from above to fc.assert)`,
    );
  }
}
