// The package's version, from its package.json (read outside the simulation): the
// command's --version, and what replay files and reports say wrote them.

import { existsSync, readFileSync } from 'node:fs';

export function packageVersion(): string {
  // src/version.ts, or dist/src/version.js in the built package.
  let file = new URL('../package.json', import.meta.url);
  if (!existsSync(file)) file = new URL('../../package.json', import.meta.url);
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
  return pkg.version;
}
