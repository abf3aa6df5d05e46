// The rule for a context the application put in the request itself: when its headers already
// carry a `traceparent`, the wrappers leave `traceparent`, `tracestate` and `baggage` exactly as
// the application set them (one context, never a mix of two), and the CLIENT span, still the
// child of the active context, links to the application's context.
import type { Link } from '@opentelemetry/api';
import { parseTraceparent } from '@tracewire/core';
import { isIterable } from './headers.js';

const TRACEPARENT = 'traceparent';

/** The caller's headers, safe to read again, and the `traceparent` they carry (if any). */
export interface OwnContext {
  headers: unknown;
  /** The value(s) of the caller's own `traceparent`; undefined when it has none. */
  traceparent: unknown;
}

/**
 * Finds the caller's own `traceparent` in any header form the clients take: a `Headers`, a flat
 * `[name, value, ...]` list, `[name, value]` pairs, a `Map`, a record. A one-shot iterable (a
 * generator) is read once into pairs, returned as a re-iterable that is not an array.
 */
export function ownContext(headers: unknown): OwnContext {
  if (headers === undefined) return NO_HEADERS;
  if (headers === null || typeof headers !== 'object') return { headers, traceparent: undefined };
  if (headers instanceof Headers) {
    return { headers, traceparent: headers.get(TRACEPARENT) ?? undefined };
  }
  if (Array.isArray(headers)) {
    const values: unknown[] = [];
    if (Array.isArray(headers[0])) {
      for (const pair of headers) if (Array.isArray(pair) && isTraceparent(pair[0])) values.push(pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2)
        if (isTraceparent(headers[i])) values.push(headers[i + 1]);
    }
    return { headers, traceparent: single(values) };
  }
  if (isIterable(headers)) {
    const pairs = headers instanceof Map ? [...headers.entries()] : [...headers];
    const values: unknown[] = [];
    for (const pair of pairs) if (Array.isArray(pair) && isTraceparent(pair[0])) values.push(pair[1]);
    const again = headers instanceof Map ? headers : { [Symbol.iterator]: () => pairs[Symbol.iterator]() };
    return { headers: again, traceparent: single(values) };
  }
  const values: unknown[] = [];
  const record = headers as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (isTraceparent(name) && record[name] !== undefined) values.push(record[name]);
  }
  return { headers, traceparent: single(values) };
}

/** The link from the CLIENT span to the caller's own context, when its traceparent is valid. */
export function appContextLink(traceparent: unknown): Link | undefined {
  const parsed = parseTraceparent(traceparent);
  if (parsed === undefined) return undefined;
  return {
    context: {
      traceId: parsed.traceId,
      spanId: parsed.spanId,
      traceFlags: parsed.traceFlags & 0x01,
      isRemote: true,
    },
  };
}

// Most requests carry no headers of their own: they share one answer instead of a new object each.
const NO_HEADERS: OwnContext = Object.freeze({ headers: undefined, traceparent: undefined });

function isTraceparent(name: unknown): boolean {
  return typeof name === 'string' && name.length === 11 && name.toLowerCase() === TRACEPARENT;
}

function single(values: unknown[]): unknown {
  if (values.length === 0) return undefined;
  return values.length === 1 ? values[0] : values;
}
