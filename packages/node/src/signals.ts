import { reportOnce } from '@tracewire/core';

export interface SignalOptions {
  /** Re-raises the signal for its default action (termination); replaceable in tests. */
  kill?: (signal: NodeJS.Signals) => void;
  /** The longest a signal waits for the flush; default 5 s. */
  timeoutMillis?: number;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * On SIGTERM/SIGINT, flushes spans, then lets the signal do what it would have done without us:
 * if the application listens to it too, the application decides (we only flushed); otherwise the
 * signal is raised again with our listener gone, so the process ends by that signal (exit status
 * 128 + signal number). A second signal during the flush does not wait for it. Returns a function
 * that removes the listeners.
 */
export function flushOnSignals(flush: () => Promise<void>, options: SignalOptions = {}): () => void {
  const { kill = (signal: NodeJS.Signals) => process.kill(process.pid, signal), timeoutMillis = 5_000 } =
    options;
  const listeners = new Map<NodeJS.Signals, () => void>();
  const uninstall = (): void => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
    listeners.clear();
  };
  const boundedFlush = (): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMillis);
      timer.unref();
      flush()
        .catch((error: unknown) => reportOnce('@tracewire/node: flushing spans on a signal failed', error))
        .finally(() => {
          clearTimeout(timer);
          resolve();
        });
    });

  for (const signal of SIGNALS) {
    let flushing = false;
    const appListens = (): boolean => process.listeners(signal).some((listener) => listener !== onSignal);
    const reraise = (appHandles: boolean): void => {
      if (appHandles) return;
      uninstall();
      kill(signal);
    };
    function onSignal(): void {
      // Decided when the signal arrives: an app listener added with `once` is gone after it runs.
      const appHandles = appListens();
      if (flushing) {
        reraise(appHandles);
        return;
      }
      flushing = true;
      void boundedFlush().then(() => {
        flushing = false;
        reraise(appHandles);
      });
    }
    listeners.set(signal, onSignal);
    // First in line, so every app listener (including `once` ones) is still registered when we look.
    process.prependListener(signal, onSignal);
  }
  return uninstall;
}
