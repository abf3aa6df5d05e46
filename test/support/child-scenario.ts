// Differential scenarios run in a child process, so what Node itself does on an unhandled
// rejection, an uncaught exception or a warning (print, exit code) is observed as an app would
// see it, not through the vitest worker's own guards. The child script is TypeScript importing
// @tracewire/* from source: it is bundled once with esbuild (the packages resolve to src, the
// libraries stay external and load from node_modules).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));
const packagesDir = join(root, 'packages');
// Inside the repository, so the bundle's external imports resolve from its node_modules.
const outDir = join(root, 'node_modules', '.cache', 'tracewire-differential');

/** Bundles `script` (a path from the repository root) and returns the bundle's path. */
export async function bundleScenarioScript(script: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const alias = Object.fromEntries(
    readdirSync(packagesDir).map((name) => [
      `@tracewire/${name}`,
      join(packagesDir, name, 'src', 'index.ts'),
    ]),
  );
  const outfile = join(outDir, `${script.replace(/[^a-z0-9]+/gi, '-')}-${process.pid}.mjs`);
  await build({
    entryPoints: [join(root, script)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    alias,
    packages: 'external',
    logLevel: 'error',
  });
  return outfile;
}

/** What a scenario child reported, and how its process ended. */
export interface ChildRun<Observed> {
  /** The child's own JSON report (written at exit), undefined if it wrote none. */
  observed: Observed | undefined;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Lines of stderr mentioning an unhandled rejection, an uncaught exception or a warning. */
  processEvents: string[];
  stderr: string;
}

const REPORT_PREFIX = 'SCENARIO-REPORT ';

/** Runs the bundled child with `args`; kills it after `timeoutMs`. */
export function runChild<Observed>(
  bundle: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 90_000,
): Promise<ChildRun<Observed>> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bundle, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(REPORT_PREFIX));
      const observed = line ? (JSON.parse(line.slice(REPORT_PREFIX.length)) as Observed) : undefined;
      const processEvents = stderr
        .split('\n')
        .filter((l) => /UnhandledPromiseRejection|unhandledRejection|Uncaught|Warning:/i.test(l))
        .map((l) => l.replace(/\(node:\d+\)/, '(node)').trim());
      resolve({ observed, exitCode, signal, processEvents, stderr });
    });
  });
}

/** For the child: writes its report synchronously, so it survives a crash exit. */
export const SCENARIO_REPORT_PREFIX = REPORT_PREFIX;
