import type { SpanScope } from '@tracewire/core';

/**
 * Runs `fn` with the span active and ends it when `fn` settles; a throw or rejection marks it
 * ERROR and reaches the caller unchanged. A promise result is chained, not observed, so a
 * rejection nobody handles stays unhandled, as it would be without tracing.
 */
export function runTraced<T>(scope: SpanScope, fn: () => T): T {
  let result: T;
  try {
    result = scope.run(fn);
  } catch (error) {
    scope.fail(error).end();
    throw error;
  }
  if (!isThenable(result)) {
    scope.end();
    return result;
  }
  return result.then(
    (value) => {
      scope.end();
      return value;
    },
    (error: unknown) => {
      scope.fail(error).end();
      throw error;
    },
  ) as T;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
