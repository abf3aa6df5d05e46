import type { IncomingHttpHeaders } from 'node:http';
import type { TextMapGetter } from '@opentelemetry/api';

/**
 * Reads the headers of a Node request. Node lower-cases incoming names, so one lookup answers,
 * also for the absent headers asked on every request (tracestate, baggage); core's headerGetter
 * would then scan every header for other spellings. A propagator asking in another case still
 * finds its header.
 */
export const incomingHeaders: TextMapGetter<IncomingHttpHeaders> = {
  keys(headers: IncomingHttpHeaders): string[] {
    return Object.keys(headers);
  },
  get(headers: IncomingHttpHeaders, key: string): string | string[] | undefined {
    const value = headers[key];
    if (value !== undefined) return value;
    const lower = key.toLowerCase();
    return lower === key ? undefined : headers[lower];
  },
};
