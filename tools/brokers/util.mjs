// Small helpers shared by the broker launchers: paths, logging, polling,
// pid files, child processes. No dependencies beyond Node itself.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Root of everything the launcher keeps: jars, data dirs, logs, pid files. */
export function cacheRoot() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'tracewire');
}

/** mkdir -p, returning the path. */
export function ensureDir(dir) {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Progress goes to stderr so that `cli.mjs up` can keep stdout machine-readable. */
export function log(tag, msg) {
  process.stderr.write(`[brokers:${tag}] ${msg}\n`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` with exponential backoff until it returns a truthy value.
 * `check` may throw; the last error is reported on timeout. `abort` lets the
 * caller fail fast (e.g. the process we launched has died).
 * @template T
 * @param {string} what
 * @param {() => Promise<T>} check
 * @param {{timeoutMs: number, abort?: () => string | undefined, minDelayMs?: number, maxDelayMs?: number}} o
 * @returns {Promise<T>}
 */
export async function waitFor(what, check, o) {
  const deadline = Date.now() + o.timeoutMs;
  let delay = o.minDelayMs ?? 250;
  let lastErr;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    const why = o.abort?.();
    if (why) throw new Error(`${what}: ${why}`);
    if (Date.now() >= deadline) {
      const detail = lastErr ? ` (last error: ${lastErr.message ?? lastErr})` : '';
      throw new Error(`${what}: not ready after ${Math.round(o.timeoutMs / 1000)}s${detail}`);
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
    delay = Math.min(delay * 1.5, o.maxDelayMs ?? 3000);
  }
}

/** True when something accepts TCP connections on host:port. */
export function tcpOpen(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Pid from a pid file, or undefined. */
export function readPid(file) {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Is `pid` alive and (when `marker` is given) is its command line ours?
 * The marker guards against a recycled pid after a reboot or a crash.
 */
export function isAlive(pid, marker) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code !== 'EPERM') return false;
  }
  if (!marker) return true;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes(marker);
  } catch {
    return true; // no /proc (macOS): trust the pid file
  }
}

/** Last `n` lines of a file, for error messages. */
export function tail(file, n = 15) {
  try {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

/**
 * Run a command to completion with output appended to `logFile`.
 * Rejects with a message naming the log file on a non-zero exit.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{logFile: string, env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number}} o
 */
export function run(cmd, args, o) {
  return new Promise((resolve, reject) => {
    const fd = openSync(o.logFile, 'a');
    writeFileSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined;
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd}: ${e.message} (log: ${o.logFile})`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(new Error(`${cmd} ${args[0] ?? ''} failed (${signal ?? `exit ${code}`}); log: ${o.logFile}`));
    });
  });
}

/**
 * Start a long-running process detached from us (own process group, output to
 * `logFile`, unref'd) so it outlives the CLI / test run. Returns the child.
 */
export function spawnDetached(cmd, args, o) {
  const fd = openSync(o.logFile, 'a');
  writeFileSync(fd, `\n=== ${new Date().toISOString()} $ ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  return child;
}

/** Find an executable on PATH (or an absolute candidate), else undefined. */
export function which(name, extra = []) {
  for (const p of extra) if (existsSync(p)) return p;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir || '.', name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  return undefined;
}

/**
 * Cross-process mutex (mkdir is atomic) so that a CLI `up` and a test run's
 * globalSetup do not both launch the same broker. A lock whose owner died is
 * taken over.
 * @template T
 * @param {string} dir lock directory
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function withLock(dir, fn, timeoutMs = 15 * 60_000) {
  const owner = join(dir, 'pid');
  await waitFor(
    `lock ${dir}`,
    async () => {
      try {
        mkdirSync(dir);
        writeFileSync(owner, String(process.pid));
        return true;
      } catch (e) {
        if (e.code !== 'EEXIST') throw e;
        const pid = readPid(owner);
        // An empty pid file may mean the owner is between mkdir and write.
        const young = Date.now() - statSync(dir).mtimeMs < 5000;
        if (!isAlive(pid) && !(pid === undefined && young)) rmSync(dir, { recursive: true, force: true });
        return false;
      }
    },
    { timeoutMs, maxDelayMs: 1000 },
  );
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Send `signal` to the process group (we spawn detached, so pid == pgid), then the pid. */
export function killTree(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. */
export async function terminate(pid, graceMs = 30_000) {
  killTree(pid, 'SIGTERM');
  try {
    await waitFor(`exit of pid ${pid}`, async () => !isAlive(pid), { timeoutMs: graceMs, maxDelayMs: 500 });
  } catch {
    killTree(pid, 'SIGKILL');
    await sleep(500);
  }
}

/** SIGKILL the process group and wait until `pid` (checked with `marker`) is gone. */
export async function kill(pid, marker) {
  killTree(pid, 'SIGKILL');
  await waitFor(`exit of pid ${pid}`, async () => !isAlive(pid, marker), {
    timeoutMs: 10_000,
    maxDelayMs: 100,
  });
}

/** Resolves once nothing accepts connections on 127.0.0.1:`port` (after a broker stopped). */
export async function portClosed(port, timeoutMs = 30_000) {
  await waitFor(`port ${port} to close`, async () => !(await tcpOpen('127.0.0.1', port, 500)), {
    timeoutMs,
    maxDelayMs: 200,
    minDelayMs: 50,
  });
}
