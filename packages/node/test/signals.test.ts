import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { flushOnSignals } from '../src/signals.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const appFile = `${root}node_modules/.cache/tracewire-node-tests/signal-app.mjs`;

/** Runs the bundled signal app in a child process, signals it once ready, and reports how it ended. */
function runSignalApp(
  signal: NodeJS.Signals,
  args: string[] = [],
): Promise<{ stdout: string; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [appFile, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const before = stdout;
    stdout += chunk.toString();
    if (!before.includes('ready') && stdout.includes('ready')) child.kill(signal);
  });
  return new Promise((resolve) => {
    child.on('exit', (code, exitSignal) => resolve({ stdout, code, signal: exitSignal }));
  });
}

describe('startTracing in a real process', () => {
  // Bundle test/fixtures/signal-app.ts with the package sources, so a plain `node` runs it.
  beforeAll(async () => {
    await build({
      entryPoints: [fileURLToPath(new URL('./fixtures/signal-app.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      alias: {
        '@tracewire/node': `${root}packages/node/src/index.ts`,
        '@tracewire/core': `${root}packages/core/src/index.ts`,
      },
      outfile: appFile,
      logLevel: 'warning',
    });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('flushes on %s, then ends by that signal', async (signal) => {
    const result = await runSignalApp(signal);
    expect(result.stdout).toBe('ready\nexported work\n');
    expect(result.signal).toBe(signal);
  });

  it("flushes on SIGTERM and leaves the exit to the app's own handler", async () => {
    const result = await runSignalApp('SIGTERM', ['--own-handler']);
    expect(result.stdout).toContain('exported work\n');
    expect(result.stdout).toContain('app handler\n');
    expect(result).toMatchObject({ code: 7, signal: null });
  });
});

type Listener = (...args: unknown[]) => void;

describe('flushOnSignals', () => {
  // The test runner may listen to signals itself; set its listeners aside so that "does the
  // application listen?" is decided by what each test adds.
  const saved = new Map<NodeJS.Signals, Listener[]>();
  let uninstall: () => void = () => {};
  beforeEach(() => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      saved.set(signal, process.listeners(signal) as Listener[]);
      process.removeAllListeners(signal);
    }
  });
  afterEach(() => {
    uninstall();
    for (const [signal, listeners] of saved) {
      process.removeAllListeners(signal);
      for (const listener of listeners) process.on(signal, listener);
    }
  });

  const deferred = (): { promise: Promise<void>; resolve: () => void } => {
    let resolve: () => void = () => {};
    const promise = new Promise<void>((done) => {
      resolve = done;
    });
    return { promise, resolve };
  };

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s flushes, then re-raises the signal with its listener gone',
    async (signal) => {
      const flushed = deferred();
      const flush = vi.fn(() => flushed.promise);
      const kill = vi.fn();
      uninstall = flushOnSignals(flush, { kill });
      process.emit(signal);
      expect(flush).toHaveBeenCalledTimes(1);
      expect(kill).not.toHaveBeenCalled();
      flushed.resolve();
      await vi.waitFor(() => expect(kill).toHaveBeenCalledWith(signal));
      expect(process.listenerCount('SIGTERM')).toBe(0);
      expect(process.listenerCount('SIGINT')).toBe(0);
    },
  );

  it('leaves the exit to the application when it listens to the signal too', async () => {
    const flush = vi.fn(async () => {});
    const kill = vi.fn();
    const appListener = vi.fn();
    process.on('SIGTERM', appListener);
    uninstall = flushOnSignals(flush, { kill });
    process.emit('SIGTERM');
    await vi.waitFor(() => expect(flush).toHaveBeenCalledTimes(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(appListener).toHaveBeenCalledTimes(1);
    expect(kill).not.toHaveBeenCalled();
    expect(process.listenerCount('SIGTERM')).toBe(2);
  });

  it('leaves the exit to the application whose listener was added with once, before or after', async () => {
    for (const order of ['before', 'after'] as const) {
      const flush = vi.fn(async () => {});
      const kill = vi.fn();
      const appListener = vi.fn();
      if (order === 'before') process.once('SIGTERM', appListener);
      uninstall = flushOnSignals(flush, { kill });
      if (order === 'after') process.once('SIGTERM', appListener);
      process.emit('SIGTERM');
      await vi.waitFor(() => expect(flush).toHaveBeenCalledTimes(1));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(appListener, order).toHaveBeenCalledTimes(1);
      expect(kill, order).not.toHaveBeenCalled();
      uninstall();
    }
  });

  it('does not wait for the flush again on a second signal', () => {
    const flush = vi.fn(() => new Promise<void>(() => {}));
    const kill = vi.fn();
    uninstall = flushOnSignals(flush, { kill, timeoutMillis: 60_000 });
    process.emit('SIGINT');
    expect(kill).not.toHaveBeenCalled();
    process.emit('SIGINT');
    expect(kill).toHaveBeenCalledWith('SIGINT');
    expect(flush).toHaveBeenCalledTimes(1);
  });

  it('gives up waiting for a flush that hangs after timeoutMillis', async () => {
    const kill = vi.fn();
    uninstall = flushOnSignals(() => new Promise<void>(() => {}), { kill, timeoutMillis: 20 });
    process.emit('SIGTERM');
    await vi.waitFor(() => expect(kill).toHaveBeenCalledWith('SIGTERM'));
  });

  it('still re-raises when the flush fails', async () => {
    const kill = vi.fn();
    uninstall = flushOnSignals(() => Promise.reject(new Error('collector down')), { kill });
    process.emit('SIGTERM');
    await vi.waitFor(() => expect(kill).toHaveBeenCalledWith('SIGTERM'));
  });

  it('removes its listeners when uninstalled', () => {
    uninstall = flushOnSignals(async () => {}, { kill: vi.fn() });
    expect(process.listenerCount('SIGTERM')).toBe(1);
    expect(process.listenerCount('SIGINT')).toBe(1);
    uninstall();
    expect(process.listenerCount('SIGTERM')).toBe(0);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });
});
