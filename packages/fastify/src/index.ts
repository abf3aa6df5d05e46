import type { IncomingHttpHeaders } from 'node:http';
import { type Span, type Tracer, context } from '@opentelemetry/api';
import { type IncomingSpans, SpanScope, reportOnce, resolveTracer } from '@tracewire/core';
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
import type {
  FastifyError,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import fp from 'fastify-plugin';
import { VERSION } from './version.js';

const PACKAGE = '@tracewire/fastify';

/** Options of the {@link traceContext} plugin; `responseHook` is called once the response is sent. */
export interface FastifyTraceOptions extends HttpServerOptions<FastifyRequest, FastifyReply> {}

const TRACE = Symbol('tracewire.fastify');

type TracedRequest = FastifyRequest & { [TRACE]: RequestTrace | null };

/** One traced request: the span, and what the end of the response needs. */
class RequestTrace {
  /** The error fastify reported through onError, for `error.type` of a 5xx. */
  error: unknown = undefined;

  constructor(
    readonly scope: SpanScope,
    /** Set when the span is OpenTelemetry http instrumentation's: enriched, not ended, here. */
    readonly http: HttpServerMetadata | undefined,
  ) {}
}

/** The registration's options, resolved once, and the per-request work. */
class FastifyTracing {
  readonly ignore: ((request: FastifyRequest) => boolean) | undefined;
  readonly responseHeader: boolean;
  readonly #spans: IncomingSpans<FastifyRequest, IncomingHttpHeaders>;
  readonly #spanName: ((request: FastifyRequest) => string) | undefined;
  readonly #requestHook: ((span: Span, request: FastifyRequest) => void) | undefined;
  readonly #responseHook: ((span: Span, request: FastifyRequest, reply: FastifyReply) => void) | undefined;

  /** Spans of requests answered before the onRequest hook: the same, with a start time given. */
  readonly #lateSpans: IncomingSpans<FastifyRequest, IncomingHttpHeaders>;
  #lateStart: number | undefined = undefined;

  constructor(options: FastifyTraceOptions) {
    const identity = { packageName: PACKAGE, version: VERSION };
    const { spans, ignore, spanName, requestHook, responseHook, responseHeader } = serverTracingOptions(
      options,
      identity,
    );
    this.#spans = spans;
    // The same tracer, dating the span from `#lateStart`: core's span start takes no start time.
    const tracer = resolveTracer(options, PACKAGE, VERSION);
    const dated: Tracer = {
      startSpan: (name, spanOptions, parent) =>
        tracer.startSpan(name, { ...spanOptions, startTime: this.#lateStart }, parent),
      startActiveSpan: tracer.startActiveSpan.bind(tracer) as Tracer['startActiveSpan'],
    };
    this.#lateSpans = serverTracingOptions({ ...options, tracer: dated }, identity).spans;
    this.ignore = ignore;
    this.responseHeader = responseHeader;
    this.#spanName = spanName;
    this.#requestHook = requestHook;
    this.#responseHook = responseHook;
  }

  /** Starts the request's span (or adopts instrumentation-http's, named after the route). */
  begin(
    request: TracedRequest,
    spans: IncomingSpans<FastifyRequest, IncomingHttpHeaders> = this.#spans,
  ): RequestTrace {
    const active = context.active();
    const http = httpServerSpan(active);
    const route = request.routeOptions.url;
    const name = this.#name(request, route);
    let scope: SpanScope;
    if (http === undefined) {
      const raw = request.raw;
      // The target the client sent: `originalUrl` is the URL before a `rewriteUrl`.
      const target = request.originalUrl ?? raw.url ?? '/';
      scope = spans.start(request, raw.headers, name, serverRequestAttributes(raw, target, route));
    } else {
      scope = new SpanScope(http.span, active);
      if (route !== undefined) {
        // instrumentation-http names its span `{method} {route}` from this when the response ends.
        http.route = route;
        scope.span.setAttribute(ATTR_HTTP_ROUTE, route);
      }
      scope.span.updateName(name);
    }
    const trace = new RequestTrace(scope, http);
    request[TRACE] = trace;
    if (this.#requestHook !== undefined)
      callHook(this.#requestHook, 'requestHook', PACKAGE, scope.span, request);
    return trace;
  }

  /** The span of a request answered before {@link begin} could run, started at `reply`'s start. */
  beginLate(request: TracedRequest, reply: FastifyReply): RequestTrace {
    const elapsed = reply.elapsedTime;
    this.#lateStart = typeof elapsed === 'number' && elapsed >= 0 ? Date.now() - elapsed : undefined;
    try {
      return this.begin(request, this.#lateSpans);
    } finally {
      this.#lateStart = undefined;
    }
  }

  /** Sets the outcome of a sent response and ends the span. */
  finish(trace: RequestTrace, request: FastifyRequest, reply: FastifyReply): void {
    const { scope, http } = trace;
    if (scope.ended) return;
    try {
      const status = reply.statusCode;
      if (http === undefined) scope.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (status >= 500) {
        const error = trace.error;
        if (error === undefined) {
          scope.failWith(String(status));
        } else {
          scope.fail(error);
        }
      }
      this.#respond(scope.span, request, reply);
    } catch (error) {
      reportOnce(`${PACKAGE}: could not complete a request span`, error);
    }
    if (http === undefined) scope.end();
  }

  /** Ends the span of a request that never got its response: the client left, or it timed out. */
  cut(trace: RequestTrace, request: FastifyRequest, reply: FastifyReply | undefined, type: string): void {
    const { scope, http } = trace;
    if (scope.ended) return;
    scope.failWith(
      type,
      type === 'aborted'
        ? 'the client closed the connection before the response was sent'
        : 'the connection timed out before the response was sent',
    );
    if (reply !== undefined) this.#respond(scope.span, request, reply);
    if (http === undefined) scope.end();
  }

  #respond(span: Span, request: FastifyRequest, reply: FastifyReply): void {
    if (this.#responseHook !== undefined)
      callHook(this.#responseHook, 'responseHook', PACKAGE, span, request, reply);
  }

  #name(request: FastifyRequest, route: string | undefined): string {
    if (this.#spanName !== undefined) {
      const name = customSpanName(this.#spanName, request, PACKAGE);
      if (name !== undefined) return name;
    }
    const method = nameMethod(request.method);
    return route === undefined ? method : `${method} ${route}`;
  }
}

const traceContextPlugin: FastifyPluginCallback<FastifyTraceOptions> = function traceContextPlugin(
  fastify,
  options,
  done,
) {
  let tracing: FastifyTracing;
  try {
    tracing = new FastifyTracing(options);
  } catch (error) {
    done(error as Error);
    return;
  }
  const ignore = tracing.ignore;
  // Registered twice (say in two encapsulated scopes): one decorator, and one span per request.
  if (!fastify.hasRequestDecorator(TRACE)) fastify.decorateRequest(TRACE, null);

  // Callback hooks: no promise per request. The rest of the lifecycle (later hooks, body parsing,
  // the handler, async or not) runs from `done`, so running `done` inside the span's context
  // makes the span active there; Node's async context carries it across awaits.
  fastify.addHook('onRequest', function startSpan(request, reply, next: HookHandlerDoneFunction) {
    const traced = request as TracedRequest;
    if (traced[TRACE] !== null || (ignore !== undefined && isIgnored(ignore, request, PACKAGE))) {
      next();
      return;
    }
    let trace: RequestTrace;
    try {
      trace = tracing.begin(traced);
    } catch (error) {
      reportOnce(`${PACKAGE}: could not start a request span`, error);
      next();
      return;
    }
    // onResponse needs 'finish' and onRequestAbort fires only while the body is unread: a client
    // that leaves a POST during the handler or a stream is seen here only.
    const raw = reply.raw;
    raw.once('close', () => {
      if (!raw.writableFinished) tracing.cut(trace, request, reply, 'aborted');
    });
    if (tracing.responseHeader) {
      try {
        addServerTiming(raw, serverTimingEntry(trace.scope.span.spanContext()), PACKAGE);
      } catch (error) {
        reportOnce(`${PACKAGE}: could not add the Server-Timing response header`, error);
      }
    }
    if (trace.http === undefined) trace.scope.run(next);
    else next();
  });

  fastify.addHook('onError', function recordError(request, _reply, error: FastifyError, next) {
    const trace = (request as TracedRequest)[TRACE];
    if (trace !== null) trace.error = error;
    next();
  });

  fastify.addHook('onResponse', function endSpan(request, reply, next) {
    const traced = request as TracedRequest;
    let trace = traced[TRACE];
    // Answered by an onRequest hook that ran before this plugin's (added before it registered):
    // the span is made now, dated from when Fastify received the request.
    if (trace === null && !(ignore !== undefined && isIgnored(ignore, request, PACKAGE))) {
      try {
        trace = tracing.beginLate(traced, reply);
      } catch (error) {
        reportOnce(`${PACKAGE}: could not start a request span`, error);
      }
    }
    if (trace !== null) tracing.finish(trace, request, reply);
    next();
  });

  fastify.addHook('onRequestAbort', function abortSpan(request, next) {
    const trace = (request as TracedRequest)[TRACE];
    if (trace !== null) tracing.cut(trace, request, undefined, 'aborted');
    next();
  });

  fastify.addHook('onTimeout', function timeoutSpan(request, reply, next) {
    const trace = (request as TracedRequest)[TRACE];
    if (trace !== null) tracing.cut(trace, request, reply, 'timeout');
    next();
  });

  done();
};

/**
 * Fastify plugin that continues the caller's W3C trace context and wraps each request in a
 * SERVER span named `{method} {route}`, active in hooks and handlers.
 */
export const traceContext = fp(traceContextPlugin, { fastify: '5.x', name: PACKAGE });

export default traceContext;
export { VERSION } from './version.js';
