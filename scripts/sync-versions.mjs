// After `changeset version`: writes each package's version into its src/version.ts (tracers are
// named with it, and a unit test checks the two agree).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const packagesDir = new URL('../packages/', import.meta.url).pathname;
for (const name of readdirSync(packagesDir)) {
  const file = join(packagesDir, name, 'src', 'version.ts');
  if (!existsSync(file)) continue;
  const { version } = JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8'));
  const source = readFileSync(file, 'utf8');
  const next = source.replace(/export const VERSION = '[^']*';/, `export const VERSION = '${version}';`);
  if (next !== source) {
    writeFileSync(file, next);
    console.log(`${name}: VERSION = '${version}'`);
  }
}
