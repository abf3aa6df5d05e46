import type { OutgoingSpans, SpanScope } from '@tracewire/core';
import { reportOnce } from '@tracewire/core';
import type { Injected } from './headers.js';

/** The headers `scope`'s context propagates as, in a fresh record; empty if the propagator fails. */
export function injectedHeaders(outgoing: OutgoingSpans<Injected>, scope: SpanScope): Injected {
  const injected: Injected = {};
  outgoing.inject(scope, injected);
  return injected;
}

/** Reports a tracing failure once; the request then goes out as the caller made it. */
export function reportTracingFailure(error: unknown): void {
  reportOnce('@tracewire/http: tracing a request failed; it was sent untraced', error);
}
