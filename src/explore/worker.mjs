// A worker thread of the explorer's pool: TypeScript through tsx, with the CLI's
// resolution hooks (so a --driver module may import 'ndis-sim'), then the worker itself.
import { register as registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../tsconfig.json', import.meta.url)) });
registerHooks('../cli/hooks.mjs', import.meta.url);
await import('./worker.ts');
