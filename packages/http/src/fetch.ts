import { SpanKind, context } from '@opentelemetry/api';
import { type SpanScope, createOutgoingSpans } from '@tracewire/core';
import { describeRequest, isCallerAbort, isTimeout } from './client-attributes.js';
import { type Injected, mergeFetchHeaders } from './headers.js';
import { ownContext } from './app-context.js';
import { headersToAdd, injectedSetter, reportTracingFailure } from './inject.js';
import { type HttpClientOptions, IDENTITY, isTraced, markTraced } from './options.js';
import { endWithError, recordStatus } from './outcome.js';
import { suppressed, undiciRequestsWatched } from './suppress.js';

/** A function with the global fetch's signature. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * What `traceFetch` can wrap: the global fetch, undici's own (its Request, RequestInit and Response
 * are undici's types, which differ from the global ones from version to version), a wrapper of
 * either. Only what the wrapper relies on is required; the result has the wrapped function's type.
 */
export type FetchLike = (input: string, init?: { method?: string }) => PromiseLike<{ status: number }>;

/** What fetch reads from a `Request` passed as its first argument. */
interface RequestLike {
  url: string;
  method: string;
  headers: unknown;
}

/**
 * Wraps `fetchImpl` (default: the global `fetch`, looked up now, so the result can replace it)
 * so each call runs in a CLIENT span named `{method}`, the child of the active span, whose context
 * goes out in the request headers. The span ends when the response headers arrive (ERROR for a
 * status >= 400) or when the call rejects. The promise, response and errors are fetch's own.
 */
export function traceFetch<F extends FetchLike = FetchFunction>(
  fetchImpl?: F,
  options?: HttpClientOptions,
): F;
export function traceFetch(
  fetchImpl: FetchFunction = globalThis.fetch,
  { enabled = true, ...tracing }: HttpClientOptions = {},
): FetchFunction {
  if (typeof fetchImpl !== 'function') {
    throw new TypeError('@tracewire/http: traceFetch needs a fetch function (none is global here)');
  }
  if (!enabled) return fetchImpl;
  const outgoing = createOutgoingSpans<Injected>(tracing, IDENTITY, SpanKind.CLIENT, injectedSetter);

  return function tracedFetch(input, init) {
    const active = context.active();
    if (isTraced(active)) return fetchImpl(input, init);
    let scope: SpanScope | undefined;
    let tracedInit: RequestInit;
    try {
      const request = asRequestLike(input);
      const method = init?.method ?? request?.method;
      const { name, attributes } = describeRequest(method, request ? request.url : (input as string | URL));
      scope = outgoing.start(undefined, name, attributes, active);
      // `headers: null` is given, not absent: fetch rejects it, even with a Request.
      const own = ownContext(init?.headers !== undefined ? init.headers : request?.headers);
      // Object.assign, not `{ ...init, headers }`: a small spread then a key is slow on Node 20.
      tracedInit = Object.assign({}, init);
      tracedInit.headers = mergeFetchHeaders(
        own.headers,
        headersToAdd(outgoing, scope, own),
      ) as RequestInit['headers'];
    } catch (error) {
      scope?.end();
      reportTracingFailure(error);
      return fetchImpl(input, init);
    }
    const span = scope;
    let pending: Promise<Response>;
    try {
      // Marked, so a traceInterceptor on the dispatcher passes it through; suppressed where
      // instrumentation-undici may watch the request, so it adds no span and no second traceparent.
      const sending = undiciRequestsWatched() ? suppressed(span.context) : markTraced(span.context);
      pending = context.with(sending, fetchImpl, undefined, input, tracedInit);
    } catch (error) {
      endWithError(span, error);
      throw error;
    }
    if (!isPromiseLike(pending)) {
      span.end();
      return pending;
    }
    // Chained rather than observed on the side, so a rejection the app leaves unhandled is still
    // reported as unhandled; the response and the error are fetch's own objects.
    return pending.then(
      (response) => {
        settle(span, response);
        return response;
      },
      (error: unknown) => {
        endWithError(span, error, cancelledByCaller(error, input, init));
        throw error;
      },
    );
  };
}

/**
 * Whether the caller aborted the call: fetch then rejects with the signal's reason, which may be
 * any value (`controller.abort(new Error('cancelled'))`). A timeout stays an error.
 */
function cancelledByCaller(error: unknown, input: unknown, init: RequestInit | undefined): boolean {
  if (isCallerAbort(error)) return true;
  if (isTimeout(error)) return false;
  try {
    const signal = init?.signal ?? (input as { signal?: AbortSignal } | null)?.signal;
    return signal?.aborted === true && signal.reason === error;
  } catch {
    return false;
  }
}

function settle(scope: SpanScope, response: Response): void {
  try {
    recordStatus(scope, response.status);
  } catch (error) {
    reportTracingFailure(error);
  }
  scope.end();
}

function isPromiseLike(value: unknown): value is Promise<Response> {
  return (
    value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'
  );
}

function asRequestLike(input: unknown): RequestLike | undefined {
  if (input === null || typeof input !== 'object' || input instanceof URL) return undefined;
  const { url, method } = input as Partial<RequestLike>;
  return typeof url === 'string' && typeof method === 'string' ? (input as RequestLike) : undefined;
}
