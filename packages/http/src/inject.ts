import type { OutgoingSpans, SpanScope } from '@tracewire/core';
import { reportOnce } from '@tracewire/core';
import { type OwnContext, appContextLink } from './app-context.js';
import type { Injected } from './headers.js';

/**
 * The headers `scope`'s context propagates as, in a fresh record; empty if the propagator fails.
 * A header the client would reject or that would change the request's framing is left out (and
 * reported once): a propagator (or a `TraceState` of the app's) writing one must not make the
 * request fail or hang.
 */
export function injectedHeaders(outgoing: OutgoingSpans<Injected>, scope: SpanScope): Injected {
  const injected: Injected = {};
  outgoing.inject(scope, injected);
  for (const name in injected) {
    if (!isSendable(name, injected[name])) {
      delete injected[name];
      reportOnce(
        '@tracewire/http: the propagator wrote a header that cannot be sent; it was left out',
        new TypeError(`header ${JSON.stringify(name.slice(0, 64))}`),
      );
    }
  }
  return injected;
}

// RFC 9110 field names (tokens) and values (no CR, LF, NUL or other controls but tab; node:http
// and undici throw on those). The W3C names are known good: only their values are checked.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const W3C_NAMES: ReadonlySet<string> = new Set(['traceparent', 'tracestate', 'baggage']);
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

function isSendable(name: string, value: unknown): boolean {
  if (typeof value !== 'string' || !isFieldValue(value)) return false;
  return W3C_NAMES.has(name) || (TOKEN.test(name) && !FRAMING.has(name.toLowerCase()));
}

/** One pass over the characters: a loop beats a regular expression on these short values. */
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
