#!/usr/bin/env node
// ndis-sim is written in TypeScript; tsx compiles it on the fly.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
