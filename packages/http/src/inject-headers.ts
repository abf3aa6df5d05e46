import { type Context, type TextMapPropagator, context } from '@opentelemetry/api';
import { type HeaderRecord, headerSetter, reportOnce, resolvePropagator } from '@tracewire/core';
import { type Injected, mergeIntoRecord, writeIntoRecord } from './headers.js';

/** Options of {@link injectHeaders}. */
export interface InjectHeadersOptions {
  /** Default: the globally registered propagator, or tracewire's W3C one when none is registered. */
  propagator?: TextMapPropagator;
  /** The context to propagate. Default: the active one. */
  context?: Context;
}

/**
 * Writes the context's `traceparent`, `tracestate` and `baggage` (whatever the propagator sends)
 * into a plain header object, for `node:http` or any other client, and returns that object. Any
 * spelling of those names already there is replaced. It starts no span: the active span (say, your
 * own CLIENT span, or the SERVER span handling a request) is the one the receiver continues.
 * An object that cannot be written (frozen, sealed, read-only names) is left as it is and a new
 * object, its headers plus the injected ones, is returned instead: use the return value.
 */
export function injectHeaders<H extends HeaderRecord>(
  headers: H = {} as H,
  { propagator, context: from = context.active() }: InjectHeadersOptions = {},
): H {
  const injected: Injected = {};
  try {
    resolvePropagator(propagator).inject(from, injected, headerSetter);
  } catch (error) {
    reportOnce('@tracewire/http: the propagator failed to inject', error);
    return headers;
  }
  // A frozen, sealed or read-only object cannot take the headers: a new one with them is returned.
  if (!Object.isExtensible(headers)) return mergeIntoRecord(headers, injected) as H;
  try {
    return writeIntoRecord(headers, injected) as H;
  } catch {
    return mergeIntoRecord(headers, injected) as H;
  }
}
