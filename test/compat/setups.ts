// The compatibility matrix: one entry per setup (runtime, module format, bundler). A new runtime
// or bundler row is one entry here, plus, for a new bundler, its branch in app/bundle.mjs.
import { bunBinary, denoBinary } from './runtimes.js';

export type Runtime = 'node' | 'bun' | 'deno';
export type Bundler = 'esbuild' | 'webpack' | 'rollup';

export interface Setup {
  id: string;
  /** What the README table calls it. */
  label: string;
  runtime: Runtime;
  format: 'esm' | 'cjs';
  bundler?: Bundler;
  /** Whether the KafkaJS, @platformatic/kafka, amqplib and gRPC round trips run in this setup too. */
  messaging?: boolean;
}

export const setups: Setup[] = [
  { id: 'node-esm', label: 'Node, ESM', runtime: 'node', format: 'esm', messaging: true },
  { id: 'node-cjs', label: 'Node, CommonJS', runtime: 'node', format: 'cjs' },
  {
    id: 'esbuild-esm',
    label: 'Node, esbuild bundle (ESM)',
    runtime: 'node',
    format: 'esm',
    bundler: 'esbuild',
  },
  {
    id: 'esbuild-cjs',
    label: 'Node, esbuild bundle (CJS)',
    runtime: 'node',
    format: 'cjs',
    bundler: 'esbuild',
  },
  {
    id: 'webpack',
    label: 'Node, webpack 5 bundle (CJS)',
    runtime: 'node',
    format: 'cjs',
    bundler: 'webpack',
  },
  { id: 'rollup', label: 'Node, rollup bundle (ESM)', runtime: 'node', format: 'esm', bundler: 'rollup' },
  { id: 'bun-esm', label: 'Bun, ESM', runtime: 'bun', format: 'esm', messaging: true },
  { id: 'bun-cjs', label: 'Bun, CommonJS', runtime: 'bun', format: 'cjs' },
  { id: 'deno-esm', label: 'Deno, ESM', runtime: 'deno', format: 'esm', messaging: true },
  { id: 'deno-cjs', label: 'Deno, CommonJS', runtime: 'deno', format: 'cjs' },
];

/** The command that runs `file` (relative to the app) in a setup's runtime, with an optional preload. */
export function command(setup: Setup, file: string, preload?: string): string[] {
  if (setup.runtime === 'bun') return [bunBinary(), 'run', ...(preload ? ['--preload', preload] : []), file];
  if (setup.runtime === 'deno')
    return [denoBinary(), 'run', '-A', ...(preload ? ['--preload', preload] : []), file];
  const flag = preload?.endsWith('.cjs') ? '--require' : '--import';
  return [process.execPath, ...(preload ? [flag, preload] : []), file];
}

/** True when this Node can run @platformatic/kafka 2.x (>= 22.22 or >= 24.6); 1.x runs on Node 20. */
export function nodeRuns2x(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 24 || (major === 24 && minor >= 6) || (major === 22 && minor >= 22) || major === 23;
}

/**
 * The installed name of the @platformatic/kafka the messaging app imports: on Node the app's own
 * peer (the major this Node runs, see install.ts); Bun and Deno run 2.x (1.x works there too).
 */
export function platformaticClient(setup: Setup): string {
  return setup.runtime === 'node' ? '@platformatic/kafka' : 'platformatic-kafka2';
}
