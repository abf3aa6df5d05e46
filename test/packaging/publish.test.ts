// What a user gets from npm: every package (discovered from packages/*, so a new one is checked
// too) publishes cleanly (`npm publish --dry-run`) with its LICENSE, README, both builds and both
// declaration files, public access, and a changelog for changesets to extend.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packageDirs, repoRoot } from '../support/packages.js';

const run = promisify(execFile);
const license = readFileSync(join(repoRoot, 'LICENSE'), 'utf8');

interface DryRunReport {
  name: string;
  version: string;
  files: { path: string }[];
}

describe('every package publishes with what a user needs', () => {
  it('finds the packages', () => {
    expect(packageDirs().length).toBeGreaterThanOrEqual(8);
  });

  it('the root LICENSE is the Apache-2.0 text', () => {
    expect(license).toContain('Apache License');
    expect(license).toContain('Version 2.0, January 2004');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
  });

  for (const dir of packageDirs()) {
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    it(`${manifest.name}: npm publish --dry-run passes and ships LICENSE, README, ESM, CJS and types`, async () => {
      expect(manifest.license).toBe('Apache-2.0');
      expect(
        manifest.publishConfig?.access,
        'scoped packages are private on npm unless published public',
      ).toBe('public');
      expect(readFileSync(join(dir, 'LICENSE'), 'utf8'), 'packages/*/LICENSE is a copy of the root one').toBe(
        license,
      );
      expect(existsSync(join(dir, 'README.md')), 'README.md').toBe(true);
      expect(readFileSync(join(dir, 'CHANGELOG.md'), 'utf8')).toMatch(new RegExp(`^# ${manifest.name}\\n`));

      const { stdout, stderr } = await run('npm', ['publish', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: dir,
        env: { ...process.env, npm_config_loglevel: 'notice' },
      });
      const report = JSON.parse(stdout)[manifest.name] as DryRunReport;
      expect(report.version).toBe(manifest.version);
      expect(stderr).toContain('public access');
      const files = report.files.map((file) => file.path);
      for (const file of [
        'LICENSE',
        'README.md',
        'package.json',
        'dist/index.js',
        'dist/index.cjs',
        'dist/index.d.ts',
        'dist/index.d.cts',
      ]) {
        expect(files, `${manifest.name} tarball has ${file}`).toContain(file);
      }
      expect(files.filter((file) => file.startsWith('src/') || file.includes('.test.'))).toEqual([]);
    });
  }
});
