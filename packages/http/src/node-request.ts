import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import type { EventEmitter } from 'node:events';
import { type Context, SpanKind, context } from '@opentelemetry/api';
import { type SpanScope, createOutgoingSpans } from '@tracewire/core';
import { callInCaller } from './call-in.js';
import { describeRequest, isCallerAbort, requestName } from './client-attributes.js';
import { type Injected, mergeIntoFlatList, mergeIntoRecord } from './headers.js';
import { ownContext } from './app-context.js';
import { type SimpleUrl, simpleUrl } from './simple-url.js';
import { suppressed } from './suppress.js';
import { REDACTED } from './redaction.js';
import { headersToAdd, injectedSetter, reportTracingFailure } from './inject.js';
import { type HttpClientOptions, IDENTITY } from './options.js';
import { endWithError, recordStatus } from './outcome.js';

/** `http.request`, `https.request`, `http.get` or `https.get`, with any of their overloads. */
export type RequestFunction = (...args: never[]) => ClientRequest;

/**
 * Wraps `http.request`-like functions (curried: `traceRequest(options)(http.request)`) so each
 * request runs in a CLIENT span named `{method}`, the child of the active span, whose context is
 * added to the request options' headers (a copy) before the request is made. The span ends when
 * the request closes, with the response status (ERROR for >= 400) or the request's error. The
 * wrapper only observes the request (through `errorMonitor` and `close`), so unhandled errors
 * and unread responses behave exactly as without it.
 */
export function traceRequest({
  enabled = true,
  ...tracing
}: HttpClientOptions = {}): <F extends RequestFunction>(request: F) => F {
  if (!enabled) return (request) => request;
  const outgoing = createOutgoingSpans<Injected>(tracing, IDENTITY, SpanKind.CLIENT, injectedSetter);

  return <F extends RequestFunction>(request: F): F => {
    const next = request as unknown as (...args: unknown[]) => ClientRequest;
    const instrumented = isInstrumented(request);
    return function tracedRequest(this: unknown, ...args: unknown[]): ClientRequest {
      // Wrapped twice (an app and a library): the outer wrapper's request is traced already.
      if (isSent(args[0]) || isSent(args[1])) return next.apply(this, args);
      const active = context.active();
      let scope: SpanScope | undefined;
      let url: string | URL | undefined;
      let options: RequestOptions;
      try {
        url = urlArgument(args);
        const at = url === undefined ? 0 : 1;
        const given = isOptions(args[at]) ? (args[at] as RequestOptions) : undefined;
        const method = typeof given?.method === 'string' ? given.method : 'GET';
        scope = outgoing.start(undefined, requestName(method), undefined, active);
        options = withHeaders(given, headersToAdd(outgoing, scope, ownContext(given?.headers)));
        // Last: a failure before this leaves the caller's arguments as they were.
        // Anything but the callback in the options' place (`undefined`, `null`, a primitive) is
        // read as options by node:http, so replaced by the copy, never pushed into the callback's.
        const slot = at < args.length && typeof args[at] !== 'function';
        sendWith(args, at, slot, options, instrumented ? active : undefined);
      } catch (error) {
        scope?.end();
        reportTracingFailure(error);
        return next.apply(this, args);
      }
      const span = scope;
      let clientRequest: ClientRequest;
      try {
        // Sent from the caller's context, as untraced: the socket, parser and timers node:http
        // makes keep it, so the app's listeners and callbacks run where they would without
        // tracing. An OpenTelemetry-instrumented request needs this span's context, suppressed.
        clientRequest = instrumented
          ? context.with(suppressed(span.context), () => next.apply(this, args))
          : next.apply(this, args);
      } catch (error) {
        endWithError(span, error);
        throw error;
      }
      try {
        observe(clientRequest, url, options, span, active);
      } catch (error) {
        reportTracingFailure(error);
        span.end();
      }
      return clientRequest;
    } as unknown as F;
  };
}

/**
 * A function wrapped by an OpenTelemetry instrumentation (shimmer marks it `__wrapped`), such as
 * `http.request` under @opentelemetry/instrumentation-http, which would make a second CLIENT span
 * for the same request and replace this one's traceparent with its own.
 */
function isInstrumented(request: unknown): boolean {
  return (request as { __wrapped?: unknown }).__wrapped === true;
}

/** The URL a `request(url?, options?, callback?)` call starts with, if any. */
function urlArgument(args: unknown[]): string | URL | undefined {
  const first = args[0];
  return typeof first === 'string' || first instanceof URL ? first : undefined;
}

/**
 * Rewrites `args` (the wrapper's own array) for the traced call: the options' place at `at`
 * (`slot`) given the wrapper's copy, or the copy inserted there. With `caller`, the response
 * callback is bound to it. Only then: node:http adds the callback itself as a listener, which
 * `emitIn` runs in the caller's context already, and the app may remove it again by identity.
 */
function sendWith(
  args: unknown[],
  at: number,
  slot: boolean,
  options: RequestOptions,
  caller: Context | undefined,
): void {
  const last = args.length - 1;
  // The callback is the last argument after the URL and options, if a function.
  if (caller !== undefined && last >= (slot ? at + 1 : at) && typeof args[last] === 'function')
    args[last] = callerCallback(args[last] as (...args: unknown[]) => unknown, caller);
  if (slot) args[at] = options;
  else args.splice(at, 0, options);
}

function isOptions(value: unknown): value is RequestOptions {
  return value !== null && typeof value === 'object' && !(value instanceof URL);
}

// A traced request's headers (the wrapper's own copy) carry this key (`Symbol.for`: the ESM and CJS
// builds share it), so a wrapper given them passes through. On the headers, not the options:
// node:http copies the options twice (into its URL options, then the agent's spread), a symbol key
// making each copy slower (~0.8 µs a request), and reads only the string keys of the headers. A
// plain symbol property, not a WeakSet entry or a non-enumerable property: both cost ~0.5 µs.
// When the wrapper sends no headers of its own (nothing injected), the mark goes on the options.
const SENT = Symbol.for('@tracewire/http: options of a traced request');

function isSent(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const marked = value as { [SENT]?: unknown; headers?: { [SENT]?: unknown } | null };
  return marked[SENT] === true || marked.headers?.[SENT] === true;
}

/** The wrapper's own copy of the caller's options (marked as sent), the injected headers added. */
function withHeaders(given: RequestOptions | undefined, injected: Injected): RequestOptions {
  // Object.assign: on Node 20 a spread of a small object (`{ ...options, headers }`, or a spread
  // then a new key) takes a slow path, ~1-2 µs.
  const options: RequestOptions = Object.assign({}, given);
  const headers = given?.headers;
  const merged =
    Object.keys(injected).length === 0
      ? undefined
      : Array.isArray(headers)
        ? mergeIntoFlatList(headers, injected)
        : mergeIntoRecord(headers as Record<string, unknown> | undefined, injected);
  // An odd-length list comes back as it was: the caller's, not to be marked.
  if (merged !== undefined && merged !== headers) {
    (merged as Record<symbol, unknown>)[SENT] = true;
    options.headers = merged as RequestOptions['headers'];
  } else (options as Record<symbol, unknown>)[SENT] = true;
  return options;
}

/**
 * The response callback, bound to the caller's context, for a request function an OpenTelemetry
 * instrumentation wraps: it binds the callback to the context it was called in, the CLIENT span's,
 * and a request made from the callback would then be a child of this one, or not traced at all
 * (the "already traced" mark).
 */
function callerCallback(callback: (...args: unknown[]) => unknown, caller: Context) {
  return function callerCallback(this: unknown, ...args: unknown[]): unknown {
    return callInCaller(caller, callback, this, args);
  };
}

/**
 * Makes every listener of `emitter` run in `caller`'s context, whoever added it and whichever
 * context the event comes from. One wrapper of `emit` per emitter: binding the emitter through the
 * context manager instead patches six methods and wraps every listener added, node:http's own.
 * `before` sees each event first, without being a listener: node:http reads what `emit` returns
 * (a `'response'` nobody listens to is dumped, which frees a kept-alive socket).
 */
function emitIn(
  caller: Context,
  emitter: EventEmitter,
  before?: (event: string | symbol, args: unknown[]) => void,
): void {
  const emit = emitter.emit;
  emitter.emit = function emitInCaller(
    this: EventEmitter,
    ...args: Parameters<EventEmitter['emit']>
  ): boolean {
    if (before !== undefined) {
      try {
        before(args[0], args);
      } catch (error) {
        reportTracingFailure(error);
      }
    }
    // An event nobody listens to runs no code: no context to switch (one fewer frame on Node 24).
    if (args[0] !== 'error' && this.listenerCount(args[0]) === 0) return Reflect.apply(emit, this, args);
    return callInCaller(caller, emit, this, args as unknown[]) as boolean;
  };
}

/**
 * Ends the span when the response headers arrive (the body is the application's to read, or
 * not), on the request's error, or when it closes without a response. The request's and the
 * response's listeners run in the caller's context, as without tracing. All three are seen in
 * the `emit` wrapper, before any listener, as `errorMonitor` would: a listener of the wrapper's
 * own would cost an add and a removal per request, and make node:http switch context for it.
 */
function observe(
  request: ClientRequest,
  url: string | URL | undefined,
  options: RequestOptions,
  scope: SpanScope,
  caller: Context,
): void {
  // `req.abort()` says 'abort' before the error it causes: the caller's cancel, not an error.
  let aborted = false;
  emitIn(caller, request, (event, args) => {
    if (event === 'response') endWithResponse(scope, caller, args[1] as IncomingMessage);
    else if (event === 'abort') aborted = true;
    else if (event === 'error') endWithError(scope, args[1], aborted || isCallerAbort(args[1]));
    else if (event === 'close') {
      const status = (request as { res?: IncomingMessage }).res?.statusCode;
      if (status !== undefined) recordStatus(scope, status);
      scope.end();
    }
  });
  const direct = directUrl(request, url, options);
  const described =
    direct === undefined
      ? describeRequest(request.method, requestUrl(request, url, options))
      : describeRequest(request.method, url, direct);
  scope.setAttributes(described.attributes);
}

function endWithResponse(scope: SpanScope, caller: Context, response: IncomingMessage): void {
  try {
    emitIn(caller, response);
    if (response.statusCode !== undefined) recordStatus(scope, response.statusCode);
  } finally {
    scope.end();
  }
}

/**
 * The call's URL string, read once, when node:http sends the request exactly there: no option
 * changes its protocol, host, port or path, and a URL without a port gets the scheme's default.
 * The rebuilt URL ({@link requestUrl}) would then be the same, at the price of a second scan.
 */
function directUrl(
  request: ClientRequest,
  url: string | URL | undefined,
  options: RequestOptions,
): SimpleUrl | undefined {
  if (typeof url !== 'string') return undefined;
  if (
    options.protocol != null ||
    options.host != null ||
    options.hostname != null ||
    options.port != null ||
    options.path != null ||
    options.socketPath != null ||
    options.defaultPort != null ||
    options.auth != null
  )
    return undefined;
  const simple = simpleUrl(url);
  if (simple === undefined) return undefined;
  // A URL without a port goes to the agent's default port, which may not be the scheme's.
  const schemeDefault = schemeDefaultPort(url);
  if (simple.port === schemeDefault && defaultPort(request) !== schemeDefault) return undefined;
  return simple;
}

/**
 * The request's URL, rebuilt from what node:http resolved. Credentials (the `auth` option, or a
 * URL's `user:password@`, which node:http sends as `Authorization`) are never in it: they show as
 * `REDACTED:REDACTED@`, as the conventions ask.
 */
function requestUrl(
  request: ClientRequest,
  url: string | URL | undefined,
  options: RequestOptions,
): string | undefined {
  const { protocol, host, path } = request;
  if (!protocol || !host) return undefined;
  const parsedPort = url === undefined ? '' : explicitPort(url);
  const port = Number(
    options?.port ?? (parsedPort || undefined) ?? options?.defaultPort ?? defaultPort(request),
  );
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const portPart = Number.isFinite(port) && port > 0 ? `:${port}` : '';
  const userinfo = hasCredentials(url, options) ? `${REDACTED}:${REDACTED}@` : '';
  return `${protocol}//${userinfo}${bracketed}${portPart}${path}`;
}

function hasCredentials(url: string | URL | undefined, options: RequestOptions | undefined): boolean {
  if (typeof options?.auth === 'string' && options.auth !== '') return true;
  if (url === undefined) return false;
  if (typeof url !== 'string') return url.username !== '' || url.password !== '';
  // Parsed only when an '@' could start one.
  if (!url.includes('@')) return false;
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}

function defaultPort(request: ClientRequest): number {
  const agentPort = (request as { agent?: { defaultPort?: unknown } }).agent?.defaultPort;
  if (typeof agentPort === 'number') return agentPort;
  return request.protocol === 'https:' ? 443 : 80;
}

/** The port written in `url`, as `URL#port` gives it: '' when none, or the scheme's default. */
function explicitPort(url: string | URL): string {
  if (typeof url !== 'string') return url.port;
  const simple = simpleUrl(url);
  if (simple === undefined) return new URL(url).port;
  return simple.port === schemeDefaultPort(url) ? '' : String(simple.port);
}

/** The default port of a simple URL's scheme (http or https). */
function schemeDefaultPort(url: string): number {
  return url.startsWith('https:') ? 443 : 80;
}
