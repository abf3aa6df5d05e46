import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const packagesDir = new URL('../../', import.meta.url);

describe('each package reports its own version to getTracer', () => {
  for (const name of readdirSync(packagesDir)) {
    it(name, () => {
      const pkg = JSON.parse(readFileSync(new URL(`${name}/package.json`, packagesDir), 'utf8'));
      const source = readFileSync(new URL(`${name}/src/version.ts`, packagesDir), 'utf8');
      expect(source).toContain(`export const VERSION = '${pkg.version}';`);
    });
  }
});
