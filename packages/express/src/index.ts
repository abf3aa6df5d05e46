import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { type Context, type Span, context, createContextKey } from '@opentelemetry/api';
import { type IncomingSpans, SpanScope, errorMessageOf, errorType, reportOnce } from '@tracewire/core';
import {
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  type HttpServerMetadata,
  type HttpServerOptions,
  addServerTiming,
  callHook,
  customSpanName,
  httpServerSpan,
  isIgnored,
  nameMethod,
  serverRequestAttributes,
  serverTimingEntry,
  serverTracingOptions,
} from '@tracewire/http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { routeTemplate } from './route.js';
import { VERSION } from './version.js';

const PACKAGE = '@tracewire/express';

/** Options of {@link traceContext}; `spanName` is called when the response ends. */
export interface ExpressTraceOptions extends HttpServerOptions<Request, Response> {}

// The request's trace rides in the context the chain runs in, not on `req`/`res`: a new property
// on Node's request and response objects is a slow store on every request (seen in profiles).
const TRACE_KEY = createContextKey('@tracewire/express request');

/** The trace of `req` in the active context, if this middleware traces it. */
function currentTrace(req: Request, active: Context = context.active()): RequestTrace | undefined {
  const trace = active.getValue(TRACE_KEY) as RequestTrace | undefined;
  return trace !== undefined && trace.req === req ? trace : undefined;
}

/** One traced request: the span, and what the end of the response needs. */
class RequestTrace {
  /** The error last seen by {@link traceErrors}, for `error.type` of a 5xx. */
  error: unknown = undefined;
  /** The context the rest of the chain runs in: the span's, plus this trace. */
  readonly context: Context;

  constructor(
    readonly scope: SpanScope,
    readonly req: Request,
    /** Set when the span is OpenTelemetry http instrumentation's: enriched, not ended, here. */
    readonly http: HttpServerMetadata | undefined,
  ) {
    this.context = scope.context.setValue(TRACE_KEY, this);
  }
}

/** A factory's options, resolved once, and the per-request work. */
class ExpressTracing {
  readonly #spans: IncomingSpans<Request, IncomingHttpHeaders>;
  readonly #spanName: ((req: Request) => string) | undefined;
  readonly #requestHook: ((span: Span, req: Request) => void) | undefined;
  readonly #responseHook: ((span: Span, req: Request, res: Response) => void) | undefined;
  readonly #responseHeader: boolean;

  constructor(options: ExpressTraceOptions) {
    const { spans, spanName, requestHook, responseHook, responseHeader } = serverTracingOptions(options, {
      packageName: PACKAGE,
      version: VERSION,
    });
    this.#spans = spans;
    this.#spanName = spanName;
    this.#requestHook = requestHook;
    this.#responseHook = responseHook;
    this.#responseHeader = responseHeader;
  }

  /** Starts the request's span (or adopts instrumentation-http's) and watches the response. */
  begin(req: Request, res: ServerResponse, active: Context): RequestTrace {
    const http = httpServerSpan(active);
    const scope =
      http === undefined
        ? this.#spans.start(
            req,
            req.headers,
            nameMethod(req.method),
            serverRequestAttributes(req, req.originalUrl ?? req.url ?? '/'),
          )
        : new SpanScope(http.span, active);
    const trace = new RequestTrace(scope, req, http);
    // Prepended: instrumentation-http ends its span in its own 'close' listener, after this one.
    res.prependListener('close', () => this.finish(trace, res));
    if (this.#requestHook !== undefined) callHook(this.#requestHook, 'requestHook', PACKAGE, scope.span, req);
    if (this.#responseHeader) addServerTiming(res, serverTimingEntry(scope.span.spanContext()), PACKAGE);
    return trace;
  }

  /** Names the span after the matched route, sets the outcome and ends it. */
  finish(trace: RequestTrace, res: ServerResponse): void {
    const { scope, req, http } = trace;
    if (scope.ended) return;
    try {
      const span = scope.span;
      const route = routeTemplate(req);
      if (route !== undefined) {
        span.setAttribute(ATTR_HTTP_ROUTE, route);
        if (http !== undefined) http.route = route;
      }
      const name = this.#name(req, route);
      if (name !== undefined) span.updateName(name);
      const status = res.statusCode;
      if (http === undefined && res.headersSent) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (!res.writableFinished) {
        scope.failWith('aborted', 'the connection closed before the response was sent');
      } else if (status >= 500) {
        const error = trace.error;
        if (error === undefined) scope.failWith(String(status));
        else scope.failWith(errorType(error), errorMessageOf(error));
      }
      if (this.#responseHook !== undefined)
        callHook(this.#responseHook, 'responseHook', PACKAGE, span, req, res as Response);
    } catch (error) {
      reportOnce(`${PACKAGE}: could not complete a request span`, error);
    }
    if (http === undefined) scope.end();
  }

  #name(req: Request, route: string | undefined): string | undefined {
    if (this.#spanName !== undefined) {
      const name = customSpanName(this.#spanName, req, PACKAGE);
      if (name !== undefined) return name;
    }
    return route === undefined ? undefined : `${nameMethod(req.method)} ${route}`;
  }
}

/**
 * Express middleware (Express 4 and 5) that continues the caller's W3C trace context and wraps
 * the rest of the request in a SERVER span named `{method} {route}`. Register it first.
 */
export function traceContext(options: ExpressTraceOptions = {}): RequestHandler {
  const tracing = new ExpressTracing(options);
  const ignore = options.ignore;
  return function traceContext(req, res, next): void {
    const active = context.active();
    // Already traced by an earlier traceContext(): one span per request.
    if (
      currentTrace(req, active) !== undefined ||
      (ignore !== undefined && isIgnored(ignore, req, PACKAGE))
    ) {
      next();
      return;
    }
    let trace: RequestTrace;
    try {
      trace = tracing.begin(req, res, active);
    } catch (error) {
      reportOnce(`${PACKAGE}: could not start a request span`, error);
      next();
      return;
    }
    context.with(trace.context, next);
  };
}

/**
 * Optional error middleware, registered after the routes: records the error on the request's
 * span, so a 5xx reports the exception class as `error.type`. Passes the error on unchanged.
 */
export function traceErrors(): ErrorRequestHandler {
  return function traceErrors(error, req, _res, next): void {
    const trace = currentTrace(req);
    if (trace !== undefined && trace.error !== error && !trace.scope.ended) {
      trace.error = error;
      try {
        trace.scope.span.recordException(error instanceof Error ? error : String(error));
      } catch (failure) {
        reportOnce(`${PACKAGE}: could not record an error`, failure);
      }
    }
    next(error);
  };
}

export { VERSION } from './version.js';
