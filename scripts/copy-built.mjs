// The second half of `npm run build`, after tsc has written the package's JavaScript
// and declarations to dist/: the files the built code reads or loads beside itself,
// which tsc does not copy. The HTML report's script and style sheet, and the modules
// node loads as they are (the CLI's resolution hooks, the explorer's worker entry).
import { copyFileSync } from 'node:fs';

for (const file of [
  'src/report/html-client.js',
  'src/report/html-report.css',
  'src/cli/hooks.mjs',
  'src/explore/worker.mjs',
])
  copyFileSync(file, `dist/${file}`);
