import type { IncomingHttpHeaders } from 'node:http';
import { type Span, SpanKind } from '@opentelemetry/api';
import {
  type AdapterIdentity,
  type IncomingOptions,
  type IncomingSpans,
  createIncomingSpans,
  reportOnce,
  reportRejection,
} from '@tracewire/core';
import { incomingHeaders } from './incoming-headers.js';

/** The options every HTTP server adapter takes, over its framework's request and response. */
export interface HttpServerOptions<Req, Res> extends IncomingOptions<Req> {
  /** Requests to leave untraced (health checks): no span, the request runs untouched. */
  ignore?: (req: Req) => boolean;
  /** The span name; default `{method} {route}`, or `{method}` when no route matched. */
  spanName?: (req: Req) => string;
  /** Called once the span has started, to add attributes. */
  requestHook?: (span: Span, req: Req) => void;
  /** Called when the response ends, before the span ends. */
  responseHook?: (span: Span, req: Req, res: Res) => void;
  /** Adds `Server-Timing: traceparent;desc="00-<trace-id>-<span-id>-<flags>"` to responses. Default false. */
  responseHeader?: boolean;
}

/** {@link HttpServerOptions}, checked, with the incoming ones turned into the SERVER span factory. */
export interface ServerTracingOptions<Req, Res> {
  readonly spans: IncomingSpans<Req, IncomingHttpHeaders>;
  readonly ignore: ((req: Req) => boolean) | undefined;
  readonly spanName: ((req: Req) => string) | undefined;
  readonly requestHook: ((span: Span, req: Req) => void) | undefined;
  readonly responseHook: ((span: Span, req: Req, res: Res) => void) | undefined;
  readonly responseHeader: boolean;
}

/**
 * Checks a server adapter's options once, when its factory runs: a bad one throws a `TypeError`
 * named after the adapter's package. The options left over (tracer, propagator, trust...) make the
 * adapter's SERVER spans, read from Node's incoming headers.
 */
export function serverTracingOptions<Req, Res>(
  options: HttpServerOptions<Req, Res>,
  identity: AdapterIdentity,
): ServerTracingOptions<Req, Res> {
  const packageName = identity.packageName;
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${packageName}: options must be an object, got ${String(options)}`);
  }
  const { ignore, spanName, requestHook, responseHook, responseHeader = false, ...incoming } = options;
  checkFunction(packageName, ignore, 'ignore');
  checkFunction(packageName, spanName, 'spanName');
  checkFunction(packageName, requestHook, 'requestHook');
  checkFunction(packageName, responseHook, 'responseHook');
  if (typeof responseHeader !== 'boolean') {
    throw new TypeError(`${packageName}: responseHeader must be a boolean, got ${typeof responseHeader}`);
  }
  const spans = createIncomingSpans<Req, IncomingHttpHeaders>(
    incoming,
    identity,
    SpanKind.SERVER,
    incomingHeaders,
  );
  return { spans, ignore, spanName, requestHook, responseHook, responseHeader };
}

function checkFunction(packageName: string, value: unknown, name: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`${packageName}: ${name} must be a function, got ${typeof value}`);
  }
}

/**
 * Whether `ignore` leaves `req` untraced; one that throws traces it, reported once. Only `true`
 * ignores: a promise (an async `ignore`) decides nothing in time, and its rejection is reported.
 */
export function isIgnored<Req>(ignore: (req: Req) => boolean, req: Req, packageName: string): boolean {
  try {
    const ignored = ignore(req);
    if (ignored === true) return true;
    reportRejection(ignored, packageName, 'ignore');
  } catch (error) {
    reportOnce(`${packageName}: ignore threw; tracing the request`, error);
  }
  return false;
}

/**
 * Calls a `requestHook` or `responseHook`: a throw, or the rejection of an async hook's promise,
 * is reported once and never reaches the application.
 */
export function callHook<A, B, C>(
  hook: (span: A, req: B, res: C) => void,
  name: string,
  packageName: string,
  span: A,
  req: B,
  res?: C,
): void {
  try {
    reportRejection(hook(span, req, res as C), packageName, name);
  } catch (error) {
    reportOnce(`${packageName}: ${name} threw`, error);
  }
}

/**
 * The name `spanName` gives `req`, or `undefined` for the adapter's default when it throws or
 * gives no name (reported once).
 */
export function customSpanName<Req>(
  spanName: (req: Req) => string,
  req: Req,
  packageName: string,
): string | undefined {
  try {
    const name = spanName(req);
    if (typeof name === 'string' && name !== '') return name;
    reportRejection(name, packageName, 'spanName');
    reportOnce(`${packageName}: spanName returned no name; using the default`);
  } catch (error) {
    reportOnce(`${packageName}: spanName threw; using the default`, error);
  }
  return undefined;
}
