// Shared by the cross-language tests: building the packages, running services as child
// processes, fetching a Maven classpath once into the user cache dir.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import type { NormalisedSpan } from '@tracewire/node';
import { expect } from 'vitest';
import { cacheDir } from '../support/python-venv.js';

/** Runs a command to its end; rejects with the tail of its output unless it exits 0. */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-8000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else {
        const output = `${stdout.slice(-8000)}\n${stderr}`.trim();
        reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output}`));
      }
    });
  });
}

/**
 * `npx turbo run build` (cached when nothing changed), as examples/demo/build.mjs does, but
 * without blocking the worker: a cold build outlasts vitest's worker RPC timeout.
 */
export async function buildPackages(): Promise<void> {
  await runCommand('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
    timeoutMs: 300_000,
  });
}

/** The process environment without OTEL_* settings, so only what a test sets applies. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
  return { ...env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', ...extra };
}

/** The last line of a program's stdout, parsed as JSON. */
export function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}

export interface Service {
  child: ChildProcess;
  /** Resolves with the first stdout line (so far or to come) that matches. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** SIGTERM (tracewire's startTracing flushes pending spans on it), then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts a long-running node script (a tracewire service). */
export function startNodeService(script: string, env: NodeJS.ProcessEnv): Service {
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let output = '';
  const waiters = new Set<() => void>();
  const take = (chunk: Buffer, isStdout: boolean): void => {
    const text = chunk.toString('utf8');
    if (isStdout) stdout += text;
    output = (output + text).slice(-8000);
    for (const wake of [...waiters]) wake();
  };
  child.stdout?.on('data', (chunk: Buffer) => take(chunk, true));
  child.stderr?.on('data', (chunk: Buffer) => take(chunk, false));
  child.on('exit', () => {
    for (const wake of [...waiters]) wake();
  });
  const ended = (): boolean => child.exitCode !== null || child.signalCode !== null;

  return {
    child,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const check = (): void => {
          for (const line of stdout.split('\n')) {
            const match = pattern.exec(line);
            if (match) {
              finish();
              resolve(match);
              return;
            }
          }
          if (ended()) {
            finish();
            reject(
              new Error(
                `${script} ended (${child.signalCode ?? child.exitCode}) before ${pattern}:\n${output}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no ${pattern} from ${script} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (ended()) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The runtime jars of a pom (`mvn dependency:copy-dependencies`) in the user cache dir, fetched
 * from Maven Central once per pom text; returns a `-cp` value (`dir/*`).
 */
export async function mavenClasspath(name: string, pomFile: string): Promise<string> {
  const dir = join(cacheDir(), name);
  const marker = join(dir, '.tracewire-pom.xml');
  const pom = await readFile(pomFile, 'utf8');
  const cached = existsSync(marker) ? await readFile(marker, 'utf8') : undefined;
  if (cached !== pom) {
    const tmp = `${dir}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await runCommand(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        pomFile,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${tmp}`,
      ],
      { timeoutMs: 600_000 },
    );
    if ((await readdir(tmp)).length === 0) throw new Error(`mvn copied no jars for ${pomFile}`);
    await writeFile(join(tmp, '.tracewire-pom.xml'), pom);
    // Swapped in whole: a half-fetched classpath is never used.
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  }
  return join(dir, '*');
}

/** The single span of `service` with this kind and name. */
export function only(spans: NormalisedSpan[], service: string, kind: SpanKind, name: string): NormalisedSpan {
  const found = spans.filter(
    (span) => span.serviceName === service && span.kind === kind && span.name === name,
  );
  expect(found, `${service} ${SpanKind[kind]} "${name}"`).toHaveLength(1);
  return found[0]!;
}
