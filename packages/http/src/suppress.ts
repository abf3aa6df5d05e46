import { channel } from 'node:diagnostics_channel';
import type { Context } from '@opentelemetry/api';
import { suppressTracing } from '@tracewire/core';
import { markTraced } from './options.js';

/**
 * The context a request runs in when an OpenTelemetry instrumentation would trace it too: the
 * CLIENT span's, marked as traced, with the instrumentation's span and headers suppressed.
 */
export function suppressed(parent: Context): Context {
  return suppressTracing(markTraced(parent));
}

// undici (npm's and the one in Node's fetch) publishes each request it creates here, in the
// context it was dispatched from. @opentelemetry/instrumentation-undici listens, starts a CLIENT
// span of its own and appends its traceparent to the request's headers: the server would get two.
const requestCreated = channel('undici:request:create');

/** Whether anything (instrumentation-undici, another tracer) watches the requests undici creates. */
export function undiciRequestsWatched(): boolean {
  return requestCreated.hasSubscribers;
}
