import { channel } from 'node:diagnostics_channel';
import { type Context, createContextKey } from '@opentelemetry/api';
import { markTraced } from './options.js';

// @opentelemetry/core's key (createContextKey uses Symbol.for): OpenTelemetry's SDK tracer makes no
// span, and its propagators inject nothing, in a context that carries it.
const SUPPRESS_TRACING_KEY = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/**
 * The context a request runs in when an OpenTelemetry instrumentation would trace it too: the
 * CLIENT span's, marked as traced, with the instrumentation's span and headers suppressed.
 */
export function suppressed(parent: Context): Context {
  return markTraced(parent).setValue(SUPPRESS_TRACING_KEY, true);
}

// undici (npm's and the one in Node's fetch) publishes each request it creates here, in the
// context it was dispatched from. @opentelemetry/instrumentation-undici listens, starts a CLIENT
// span of its own and appends its traceparent to the request's headers: the server would get two.
const requestCreated = channel('undici:request:create');

/** Whether anything (instrumentation-undici, another tracer) watches the requests undici creates. */
export function undiciRequestsWatched(): boolean {
  return requestCreated.hasSubscribers;
}
