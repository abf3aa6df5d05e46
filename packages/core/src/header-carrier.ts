import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { reportOnce } from './report.js';

/** A plain header record, such as Node's `IncomingHttpHeaders` or `OutgoingHttpHeaders`. */
export type HeaderRecord = Record<string, string | string[] | number | undefined>;

/**
 * Reads a plain header record. Names match case-insensitively: the exact lower-case key is
 * tried first (Node lower-cases incoming names), then a scan for other spellings. A carrier that
 * cannot be read (not an object, a Proxy or getter that throws) has no headers.
 */
export const headerGetter: TextMapGetter<HeaderRecord> = {
  keys(carrier: HeaderRecord): string[] {
    if (!isObjectLike(carrier)) return [];
    try {
      return Object.keys(carrier);
    } catch {
      return [];
    }
  },
  get(carrier: HeaderRecord, key: string): string | string[] | undefined {
    if (!isObjectLike(carrier)) return undefined;
    try {
      const direct = carrier[key];
      if (direct !== undefined) return asHeaderValue(direct);
      for (const name in carrier) {
        if (name.length === key.length && name.toLowerCase() === key) return asHeaderValue(carrier[name]);
      }
    } catch {
      // An unreadable carrier has no headers.
    }
    return undefined;
  },
};

/**
 * Writes into a plain header record, replacing any spelling of the same name already there so a
 * header is never sent twice. A carrier that cannot be written (frozen, a Proxy that throws) is
 * left as it is and reported once through `diag`.
 */
export const headerSetter: TextMapSetter<HeaderRecord> = {
  set(carrier: HeaderRecord, key: string, value: string): void {
    if (!isObjectLike(carrier)) return;
    try {
      // Set first: a carrier that refuses the new header never loses its old spelling.
      carrier[key] = value;
      for (const name in carrier) {
        if (name !== key && name.length === key.length && name.toLowerCase() === key) delete carrier[name];
      }
    } catch (error) {
      reportOnce('@tracewire/core: a header could not be set on the carrier', error);
    }
  },
};

/** Strings and arrays as they are, numbers (Node allows them) as strings, anything else unusable. */
function asHeaderValue(value: unknown): string | string[] | undefined {
  if (typeof value === 'string' || Array.isArray(value)) return value as string | string[];
  return typeof value === 'number' ? String(value) : undefined;
}

function isObjectLike(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}
