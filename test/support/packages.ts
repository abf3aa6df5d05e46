// The published packages, discovered from packages/* so a new package joins every packaging,
// doc and compatibility check without being listed anywhere.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute directories of every non-private package under packages/, sorted by name. */
export function packageDirs(): string[] {
  const root = join(repoRoot, 'packages');
  return readdirSync(root)
    .sort()
    .map((name) => join(root, name))
    .filter((dir) => {
      const file = join(dir, 'package.json');
      return existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).private !== true;
    });
}

/** `@tracewire/x` names of every package, in the same order. */
export function packageNames(): string[] {
  return packageDirs().map(
    (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name as string,
  );
}
