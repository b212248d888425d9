// The second half of `npm run build`, after tsc has written the package's JavaScript
// and declarations to dist/: the files the built code reads or loads beside itself,
// which tsc does not copy. The HTML report's script and style sheet, and the modules
// node loads as they are (the CLI's resolution hooks, the explorer's worker entry).
// Then the source maps: only the drivers' are kept (src/report/source-map.ts maps a
// call site in them back to the TypeScript line); the rest would add 1.6 MB to the
// package for nothing ndis-sim reads, so they go, with the comment that names them.
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

for (const file of [
  'src/report/html-client.js',
  'src/report/html-report.css',
  'src/cli/hooks.mjs',
  'src/explore/worker.mjs',
])
  copyFileSync(file, `dist/${file}`);

const comment = /\n\/\/# sourceMappingURL=[^\n]*\n?$/;
for (const entry of readdirSync('dist', { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.js.map')) continue;
  const map = `${entry.parentPath}/${entry.name}`;
  if (map.startsWith('dist/src/drivers/')) continue;
  rmSync(map);
  const js = map.slice(0, -'.map'.length);
  writeFileSync(js, readFileSync(js, 'utf8').replace(comment, '\n'));
}
