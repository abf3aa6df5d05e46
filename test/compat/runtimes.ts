// Bun and Deno from their npm registry packages, pinned, installed once into the tracewire cache
// (like scripts/node-runtime.mjs does for Node 22 and 24).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error plain ESM module without type declarations
import { cacheDir } from '../../scripts/node-runtime.mjs';

export const BUN_VERSION = '1.4.5';
export const DENO_VERSION = '2.9.6';

function install(name: string, version: string, candidates: string[]): string {
  const prefix = join(cacheDir() as string, `${name}-${version}`);
  const found = (): string | undefined =>
    candidates
      .map((path) => join(prefix, 'node_modules', path))
      // bun's package ships a placeholder until its postinstall puts the binary there
      .find((path) => existsSync(path) && statSync(path).size > 1_000_000);
  let binary = found();
  if (!binary) {
    mkdirSync(prefix, { recursive: true });
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
        `${name}@${version}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    binary = found();
  }
  if (!binary) throw new Error(`${name}@${version}: no binary found under ${prefix}`);
  return binary;
}

let bun: string | undefined;
let deno: string | undefined;

export function bunBinary(): string {
  bun ??= install('bun', BUN_VERSION, ['bun/bin/bun.exe', '@oven/bun-linux-x64/bin/bun', 'bun/bin/bun']);
  return bun;
}

export function denoBinary(): string {
  deno ??= install('deno', DENO_VERSION, ['@deno/linux-x64-glibc/deno', 'deno/deno']);
  return deno;
}
