#!/usr/bin/env node
// ndis-sim is written in TypeScript; tsx compiles it on the fly. The CLI's own hooks
// let a --driver module anywhere import 'ndis-sim' (src/cli/hooks.mjs).
import { register as registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// Our own tsconfig, wherever the command runs: tsx would otherwise look in the working
// directory, and without ours class fields get define semantics (docs/decisions.md).
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
registerHooks('../src/cli/hooks.mjs', import.meta.url);
await import('../src/cli/main.ts');
