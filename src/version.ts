// The package's version, from its package.json (read outside the simulation): the
// command's --version, and what replay files and reports say wrote them.

import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
