import {
  type AttributeValue,
  type Attributes,
  type Context,
  type Span,
  SpanStatusCode,
  type TimeInput,
  context,
} from '@opentelemetry/api';
import { reportOnce } from './report.js';

export const ATTR_ERROR_TYPE = 'error.type';

const SPAN_THREW =
  "tracewire: a span of the registered tracer threw; the call was skipped, the app's work goes on";

/**
 * A started span and the context it is active in. Every adapter ends its spans through this, so
 * `span.end()` runs exactly once whatever mix of finish, error and close events arrives. A span
 * that throws (a broken tracer) is reported, never thrown: these run in the app's error paths.
 */
export class SpanScope {
  readonly span: Span;
  readonly context: Context;
  #ended = false;

  constructor(span: Span, context: Context) {
    this.span = span;
    this.context = context;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Runs `fn` with this span active. */
  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  setAttributes(attributes: Attributes): this {
    try {
      if (!this.#ended) this.span.setAttributes(attributes);
    } catch (error) {
      reportOnce(SPAN_THREW, error);
    }
    return this;
  }

  /** One attribute, unless the span ended: no record for the SDK to iterate. */
  setAttribute(key: string, value: AttributeValue): this {
    try {
      if (!this.#ended) this.span.setAttribute(key, value);
    } catch (error) {
      reportOnce(SPAN_THREW, error);
    }
    return this;
  }

  /** Records `error` as an exception event and marks the span ERROR with `error.type`. */
  fail(error: unknown): this {
    if (this.#ended) return this;
    try {
      this.span.recordException(toException(error));
    } catch (thrown) {
      reportOnce(SPAN_THREW, thrown);
    }
    return this.failWith(errorType(error), errorMessage(error));
  }

  /** Marks the span ERROR with `error.type` set to `type` (an exception name or a status code). */
  failWith(type: string, message?: string): this {
    if (this.#ended) return this;
    try {
      this.span.setAttribute(ATTR_ERROR_TYPE, type);
      this.span.setStatus(message ? { code: SpanStatusCode.ERROR, message } : { code: SpanStatusCode.ERROR });
    } catch (error) {
      reportOnce(SPAN_THREW, error);
    }
    return this;
  }

  /** Ends the span; later calls do nothing. */
  end(endTime?: TimeInput): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.span.end(endTime);
    } catch (error) {
      reportOnce(SPAN_THREW, error);
    }
  }
}

/**
 * Runs `fn` with the scope's span active and ends the span when it settles: a throw or rejection
 * marks it ERROR and reaches the caller unchanged. For a library that awaits what it is given
 * (KafkaJS's handlers): a promise result is chained, not observed from the side, so a rejection
 * nobody handles stays unhandled, exactly as it would be without tracing. Any other thenable (a
 * query builder) is adopted, see {@link adoptInScope}. Where the application gets the value
 * itself, use `runInScopeAsIs`, which returns fn's own promise.
 */
export function runInScope<T>(scope: SpanScope, fn: () => T): T {
  let result: T;
  try {
    result = scope.run(fn);
  } catch (error) {
    scope.fail(error).end();
    throw error;
  }
  if (!isPromiseLike(result)) {
    scope.end();
    return result;
  }
  return chainInScope(scope, isNativePromise(result) ? result : adoptInScope(scope, result)) as T;
}

/**
 * A promise that settles as `thenable` does, its `then` called in the span's context, so what a
 * lazy thenable (a query builder) does when it runs joins the trace: its own `then` may return
 * nothing at all.
 */
export function adoptInScope(scope: SpanScope, thenable: PromiseLike<unknown>): Promise<unknown> {
  return scope.run(() => Promise.resolve(thenable));
}

/** `promise` followed by the span's end (ERROR on a rejection, which is passed on). */
export function chainInScope(scope: SpanScope, promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      scope.end();
      return value;
    },
    (error: unknown) => {
      scope.fail(error).end();
      throw error;
    },
  );
}

/**
 * The low-cardinality `error.type` of a thrown value: its class name, or `_OTHER`. Never throws:
 * an error whose `constructor` or `name` cannot be read (a getter, a Proxy) is `_OTHER`.
 */
export function errorType(error: unknown): string {
  if (!isError(error)) return '_OTHER';
  try {
    const name = error.constructor?.name;
    if (typeof name === 'string' && name !== '' && name !== 'Object') return name;
  } catch {}
  try {
    const name = error.name;
    if (typeof name === 'string' && name !== '') return name;
  } catch {}
  return '_OTHER';
}

/** `instanceof Error`, false for a Proxy whose prototype cannot be read. */
function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

/** An Error's message for a span status, `undefined` for another value or one that cannot be read. */
export function errorMessageOf(error: unknown): string | undefined {
  try {
    if (isError(error) && typeof error.message === 'string') return error.message;
  } catch {}
  return undefined;
}

function errorMessage(error: unknown): string {
  try {
    return isError(error) ? String(error.message) : String(error);
  } catch {
    return 'unknown error';
  }
}

function toException(error: unknown): Error | string {
  return isError(error) ? error : errorMessage(error);
}

/**
 * True for a promise or any other thenable. Never throws: a value whose `then` cannot be read (a
 * revoked proxy) is not one.
 */
export function isPromiseLike<T>(value: T): value is T & PromiseLike<unknown> {
  try {
    return (
      value !== null &&
      (typeof value === 'object' || typeof value === 'function') &&
      typeof (value as { then?: unknown }).then === 'function'
    );
  } catch {
    return false;
  }
}

/**
 * True for a real promise, of this realm or another (`vm`, some test runners), not for other
 * thenables. Never throws (a proxy's traps may).
 */
export function isNativePromise(value: unknown): value is Promise<unknown> {
  if (value === null || typeof value !== 'object') return false;
  try {
    return value instanceof Promise || Object.prototype.toString.call(value) === '[object Promise]';
  } catch {
    return false;
  }
}
