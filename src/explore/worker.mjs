// A worker thread of the explorer's pool: TypeScript through tsx, with the CLI's
// resolution hooks (so a --driver module may import 'ndis-sim'), then the worker itself:
// src/explore/worker.ts, or dist/src/explore/worker.js in the built package.
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

const built = !existsSync(new URL('./worker.ts', import.meta.url));
const tsconfig = new URL(built ? '../../../tsconfig.json' : '../../tsconfig.json', import.meta.url);
register({ tsconfig: fileURLToPath(tsconfig) });
registerHooks('../cli/hooks.mjs', import.meta.url);
await import(built ? './worker.js' : './worker.ts');
