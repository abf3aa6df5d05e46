import type { OutgoingSpans, SpanScope } from '@tracewire/core';
import { reportOnce } from '@tracewire/core';
import { type OwnContext, appContextLink } from './app-context.js';
import type { Injected } from './headers.js';

/** The headers `scope`'s context propagates as, in a fresh record; empty if the propagator fails. */
export function injectedHeaders(outgoing: OutgoingSpans<Injected>, scope: SpanScope): Injected {
  const injected: Injected = {};
  outgoing.inject(scope, injected);
  return injected;
}

/**
 * The headers to add for `scope`: none when the caller's headers carry their own `traceparent`
 * (`own`, see app-context.ts), whose context the span then links to; else what the propagator
 * injects.
 */
export function headersToAdd(outgoing: OutgoingSpans<Injected>, scope: SpanScope, own: OwnContext): Injected {
  if (own.traceparent === undefined) return injectedHeaders(outgoing, scope);
  const link = appContextLink(own.traceparent);
  if (link !== undefined) scope.span.addLink(link);
  return {};
}

/** Reports a tracing failure once; the request then goes out as the caller made it. */
export function reportTracingFailure(error: unknown): void {
  reportOnce('@tracewire/http: tracing a request failed; it was sent untraced', error);
}
