// `npm run bench`: every benchmark in this folder, one after another, each printing its own
// ratios against the anchors measured in the same run. `npm run bench -- propagation grpc`
// runs only those. The packages must be built first (`npm run build`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const helpers = new Set(['run.mjs', 'measure.mjs', 'http-server-child.mjs']);
const all = readdirSync(here)
  .filter((file) => file.endsWith('.mjs') && !helpers.has(file))
  .map((file) => file.slice(0, -'.mjs'.length));
const wanted = process.argv.slice(2);
const chosen = wanted.length > 0 ? all.filter((name) => wanted.includes(name)) : all;

let failed = 0;
for (const name of chosen) {
  console.log(`\n##### bench/${name}.mjs`);
  const result = spawnSync(process.execPath, [`${here}${name}.mjs`], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
