// Running the ndis-sim command in a child process, colours off, for the CLI tests.

import { spawnSync } from 'node:child_process';

/** `node bin/ndis-sim.js …args` from the repository, with NO_COLOR set and FORCE_COLOR not. */
export function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  const r = spawnSync(process.execPath, ['bin/ndis-sim.js', ...args], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
