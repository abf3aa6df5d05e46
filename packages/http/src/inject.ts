import type { TextMapSetter } from '@opentelemetry/api';
import type { OutgoingSpans, SpanScope } from '@tracewire/core';
import { reportOnce } from '@tracewire/core';
import { type OwnContext, appContextLink } from './app-context.js';
import type { Injected } from './headers.js';

/**
 * The headers `scope`'s context propagates as, in a fresh record by lower-case name; empty if the
 * propagator fails. The outgoing spans write through {@link injectedSetter}, which leaves out a
 * header the client would reject or that would change the request's framing.
 */
export function injectedHeaders(outgoing: OutgoingSpans<Injected>, scope: SpanScope): Injected {
  const injected: Injected = {};
  outgoing.inject(scope, injected);
  return injected;
}

/**
 * The setter of the HTTP clients' outgoing spans. Each header is checked as it is written (one pass,
 * no second walk over the record), and one that cannot be sent is left out and reported once: a
 * propagator (or a `TraceState` of the app's) writing one must not make the request fail or hang.
 */
export const injectedSetter: TextMapSetter<Injected> = {
  set(carrier: Injected, key: string, value: string): void {
    if (typeof key !== 'string') return;
    // The W3C names are known good: only their values are checked.
    const w3c = key === 'traceparent' || key === 'tracestate' || key === 'baggage';
    const name = w3c ? key : key.toLowerCase();
    if (
      typeof value === 'string' &&
      isFieldValue(value) &&
      (w3c || (TOKEN.test(key) && !FRAMING.has(name)))
    ) {
      // A named store for the header every request has: cheaper than a keyed one on a fresh record.
      carrier[name] = value;
      return;
    }
    delete carrier[name];
    reportOnce(
      '@tracewire/http: the propagator wrote a header that cannot be sent; it was left out',
      new TypeError(`header ${JSON.stringify(name.slice(0, 64))}`),
    );
  },
};

// RFC 9110 field names (tokens) and values (no CR, LF, NUL or other controls but tab; node:http
// and undici throw on those).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Names that say how the message is framed or routed, not what it carries.
const FRAMING: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'upgrade',
  'expect',
  'te',
  'keep-alive',
  'trailer',
]);

/**
 * One pass over the characters. A regular expression is faster in a warm loop (~70 against ~130 ns
 * for a traceparent) but was slower inside real requests, with cold caches (~0.55-0.6 against
 * ~0.4 µs of self time in the profiles of the HTTP client rows).
 */
function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff) return false;
  }
  return true;
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
