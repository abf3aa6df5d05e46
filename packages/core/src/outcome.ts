import type { SpanScope } from './span-scope.js';
import { adoptInScope, chainInScope, errorType, isNativePromise, isPromiseLike } from './span-scope.js';

/** How a handler ended: `error` is set only when it threw or its promise rejected. */
export type Outcome = { ok: true } | { ok: false; error: unknown };

const promiseThen = Promise.prototype.then;

/**
 * Calls `onSettled` once with the outcome of `result`, and returns `result` itself. For a library
 * that ignores what its handler returns (amqplib's consume, event emitters): the promise stays the
 * application's own, and the only promise made here is the derived one of `then`, which cannot
 * reject (`onSettled` is guarded), so nothing can reach Node as an unhandled rejection. Where the
 * library awaits the handler (KafkaJS), use `runInScope`, which chains instead.
 */
export function observeOutcome<T>(result: T, onSettled: (outcome: Outcome) => void): T {
  // Only a real promise is watched. Another thenable may be lazy (a query builder runs when its
  // `then` is called) and the library ignores it, so it is never touched: its work is not timed.
  if (!isNativePromise(result)) {
    safely(onSettled, { ok: true });
    return result;
  }
  try {
    // The built-in `then`, not the promise's own: an override (a subclass's, or an own `then`
    // property) is the app's code, which untraced nobody calls here.
    promiseThen.call(
      result,
      () => safely(onSettled, { ok: true }),
      (error: unknown) => safely(onSettled, { ok: false, error }),
    );
  } catch (error) {
    // A promise subclass or another realm's promise whose `then` throws: the library would not look either.
    safely(onSettled, { ok: false, error });
  }
  return result;
}

/**
 * Runs `fn` with the scope's span active and ends the span when `fn` returns or its promise settles
 * (ERROR on a throw or rejection), without chaining: see {@link observeOutcome}. A synchronous throw
 * reaches the caller unchanged. `onSettled` runs just before the span ends.
 */
export function observeInScope<T>(scope: SpanScope, fn: () => T, onSettled?: (outcome: Outcome) => void): T {
  let result: T;
  try {
    result = scope.run(fn);
  } catch (error) {
    finish(scope, { ok: false, error }, onSettled);
    throw error;
  }
  return observeOutcome(result, (outcome) => finish(scope, outcome, onSettled));
}

/**
 * Runs `fn` with the scope's span active and returns what it returns, itself: for a function
 * whose value the application gets (`traceMessage`). A promise is watched from the side (see
 * {@link observeOutcome}), so it keeps its identity and its own properties (a child process's
 * `child`), and a rejection the application handles on it stays handled. The price, as for
 * `observeInScope`: a rejection nobody handles is recorded on the span and no longer reported by
 * Node; chaining instead would crash an application whose promise was handled. Any other
 * thenable (a query builder) is adopted in the span's context, as `runInScope` does: awaited, it
 * would run anyway, and so joins the trace.
 */
export function runInScopeAsIs<T>(scope: SpanScope, fn: () => T): T {
  let result: T;
  try {
    result = scope.run(fn);
  } catch (error) {
    finish(scope, { ok: false, error });
    throw error;
  }
  if (isNativePromise(result) || !isPromiseLike(result)) {
    return observeOutcome(result, (outcome) => finish(scope, outcome));
  }
  return chainInScope(scope, adoptInScope(scope, result)) as T;
}

function finish(scope: SpanScope, outcome: Outcome, onSettled?: (outcome: Outcome) => void): void {
  if (onSettled) safely(onSettled, outcome);
  if (!outcome.ok) scope.fail(outcome.error);
  scope.end();
}

function safely(fn: (outcome: Outcome) => void, outcome: Outcome): void {
  try {
    fn(outcome);
  } catch {
    // Tracing never throws into the application, nor into a promise reaction.
  }
}

/** Most `cause` links followed: a cycle or a hostile chain cannot loop. */
const MAX_CAUSE_DEPTH = 8;

/**
 * The innermost cause of an error: follows `cause` (ES2022, used by KafkaJS, undici, ...) through
 * Error instances. The error itself when it has none.
 */
export function innermostCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth++) {
    if (!(current instanceof Error)) return current;
    let cause: unknown;
    try {
      cause = current.cause;
    } catch {
      return current;
    }
    if (!(cause instanceof Error) || cause === current) return current;
    current = cause;
  }
  return current;
}

/** `error.type` of the innermost cause (see {@link innermostCause}, {@link errorType}). */
export function causeErrorType(error: unknown): string {
  return errorType(innermostCause(error));
}
