#!/usr/bin/env node
// ndis-sim is written in TypeScript; tsx compiles it on the fly. The CLI's own hooks
// let a --driver module anywhere import 'ndis-sim' (src/cli/hooks.mjs).
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

register();
registerHooks('../src/cli/hooks.mjs', import.meta.url);
await import('../src/cli/main.ts');
