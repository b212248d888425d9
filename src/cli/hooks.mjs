// Module resolution hooks for the CLI (node:module register). A driver module named
// with --driver may live anywhere: outside this repository, `import … from 'ndis-sim'`
// would find nothing, and a .ts file outside a "type": "module" package would load as
// CommonJS, which its imports cannot be. So 'ndis-sim' (and 'ndis-sim/scenario') is
// the API of the copy of ndis-sim these hooks belong to — the sources beside them, or
// the built JavaScript when they run from dist/ — so a driver shares its World's
// modules, and a .ts file outside node_modules is an ES module. A .js file with import
// or export statements and no package.json "type" above it is an ES module too, as
// Node (20.19 and later) detects it on its own: tsx would load it as CommonJS, and fail
// with "Cannot require() ES Module … in a cycle".

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFunction } from 'node:vm';

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
  const path = url.replace(/[?#].*$/, '');
  if (/\.m?tsx?$/.test(path)) return { ...r, url, format: 'module' };
  if (r.format === 'commonjs' && path.endsWith('.js') && hasModuleSyntax(path))
    return { ...r, url, format: 'module' };
  return r;
}

/** The "type" of the package.json nearest above `file`, or undefined when none says. */
function packageType(file) {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        return JSON.parse(readFileSync(p, 'utf8')).type;
      } catch {
        return undefined;
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Node's module syntax detection: a .js file under no package.json "type" that does not
 * compile as CommonJS because of import, export, import.meta or a top-level await is
 * an ES module. Any other file, or a file broken in another way, stays CommonJS.
 */
function hasModuleSyntax(url) {
  let file;
  let text;
  try {
    file = fileURLToPath(url);
    if (packageType(file) !== undefined) return false;
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  try {
    compileFunction(text, ['exports', 'require', 'module', '__filename', '__dirname']);
    return false;
  } catch (e) {
    return (
      e instanceof SyntaxError &&
      /Cannot use import statement outside a module|Unexpected token 'export'|Cannot use 'import\.meta' outside a module|await is only valid in async functions and the top level bodies of modules/.test(
        e.message,
      )
    );
  }
}
