// Module resolution hooks for the CLI (node:module register). A driver module named
// with --driver may live anywhere: outside this repository, `import … from 'ndis-sim'`
// would find nothing, and a .ts file outside a "type": "module" package would load as
// CommonJS, which its imports cannot be. So 'ndis-sim' (and 'ndis-sim/scenario') is
// the API of the copy of ndis-sim these hooks belong to — the sources beside them, or
// the built JavaScript when they run from dist/ — so a driver shares its World's
// modules, and a .ts file outside node_modules is an ES module.

import { existsSync } from 'node:fs';

const built = !existsSync(new URL('../index.ts', import.meta.url));
const api = new URL(built ? '../index.js' : '../index.ts', import.meta.url).href;
const scenarioApi = new URL(built ? '../scenario.js' : '../scenario.ts', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'ndis-sim') return { url: api, format: 'module', shortCircuit: true };
  if (specifier === 'ndis-sim/scenario') return { url: scenarioApi, format: 'module', shortCircuit: true };
  const r = await next(specifier, context);
  if (!r.url.startsWith('file:') || r.url.includes('/node_modules/')) return r;
  // tsx marks a .ts file in a folder without a package.json for CommonJS: it appends
  // query parameters (tsx-commonjs-…, sometimes percent-encoded into the path) that
  // send the file through Node's CommonJS loader, where 'ndis-sim' resolves to nothing.
  // Drop them, so every module a driver imports loads as the entry does.
  const cut = r.url.search(/(\?|%3F)tsx-/i);
  const url = cut < 0 ? r.url : r.url.slice(0, cut);
  if (/\.m?tsx?$/.test(url.replace(/[?#].*$/, ''))) return { ...r, url, format: 'module' };
  return r;
}
