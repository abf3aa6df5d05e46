import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

/** A plain header record, such as Node's `IncomingHttpHeaders` or `OutgoingHttpHeaders`. */
export type HeaderRecord = Record<string, string | string[] | number | undefined>;

/**
 * Reads a plain header record. Names match case-insensitively: the exact lower-case key is
 * tried first (Node lower-cases incoming names), then a scan for other spellings.
 */
export const headerGetter: TextMapGetter<HeaderRecord> = {
  keys(carrier: HeaderRecord): string[] {
    return carrier ? Object.keys(carrier) : [];
  },
  get(carrier: HeaderRecord, key: string): string | string[] | undefined {
    if (!carrier) return undefined;
    const direct = carrier[key];
    if (direct !== undefined) return asHeaderValue(direct);
    for (const name in carrier) {
      if (name.length === key.length && name.toLowerCase() === key) return asHeaderValue(carrier[name]);
    }
    return undefined;
  },
};

/**
 * Writes into a plain header record, replacing any spelling of the same name already there so a
 * header is never sent twice.
 */
export const headerSetter: TextMapSetter<HeaderRecord> = {
  set(carrier: HeaderRecord, key: string, value: string): void {
    if (!carrier) return;
    for (const name in carrier) {
      if (name !== key && name.length === key.length && name.toLowerCase() === key) delete carrier[name];
    }
    carrier[key] = value;
  },
};

/** Strings and arrays as they are, numbers (Node allows them) as strings, anything else unusable. */
function asHeaderValue(value: unknown): string | string[] | undefined {
  if (typeof value === 'string' || Array.isArray(value)) return value as string | string[];
  return typeof value === 'number' ? String(value) : undefined;
}
