// Writes examples/gallery/<rule>.yaml for every gallery entry in src/drivers/buggy.
//
//   npm run gen:gallery            write the files
//   npm run gen:gallery -- --check exit 1 if a committed file differs

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { gallery, galleryScenario, galleryYaml } from '../src/drivers/buggy/index.ts';

const check = process.argv.includes('--check');
let stale = 0;
for (const g of gallery) {
  const path = galleryScenario(g.rule);
  const text = galleryYaml(g);
  const old = existsSync(path) ? readFileSync(path, 'utf8') : null;
  if (old === text) continue;
  if (check) {
    console.error(`${path} is out of date: run npm run gen:gallery`);
    stale++;
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
process.exit(stale > 0 ? 1 : 0);
