import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { MAX_TRACESTATE_LENGTH } from '@tracewire/core';
import { isUtf8 } from 'node:buffer';
import type { IHeaders } from 'kafkajs';

/**
 * The longest byte header decoded: the largest legal W3C header (tracestate). A longer one is
 * read as {@link UNREADABLE} so a huge header costs nothing and still counts as present.
 */
const MAX_DECODED_BYTES = MAX_TRACESTATE_LENGTH;
/** Invalid in traceparent, tracestate and baggage alike: a value that is there but unusable. */
const UNREADABLE = '\u0000';

/**
 * Reads Kafka message headers. Names match case-insensitively; values may be strings or bytes
 * (what KafkaJS hands a consumer, and what Java and Python producers write), or arrays of
 * either when a header repeats. Several values come back as an array, in order.
 */
export const kafkaHeaderGetter: TextMapGetter<IHeaders | undefined> = {
  keys(carrier: IHeaders | undefined): string[] {
    return carrier !== null && typeof carrier === 'object' ? Object.keys(carrier) : [];
  },
  get(carrier: IHeaders | undefined, key: string): string | string[] | undefined {
    if (carrier === null || typeof carrier !== 'object') return undefined;
    const lowerKey = key.toLowerCase();
    let values: string[] | undefined;
    // for-in, not Object.keys: no array per lookup on the per-message path.
    for (const name in carrier) {
      if (name.length !== key.length || (name !== key && name.toLowerCase() !== lowerKey)) continue;
      if (Object.hasOwn(carrier, name)) values = collect(carrier[name], values);
    }
    if (values === undefined || values.length === 0) return undefined;
    return values.length === 1 ? values[0] : values;
  },
};

function collect(value: unknown, into: string[] | undefined): string[] | undefined {
  if (Array.isArray(value)) {
    let result = into;
    for (const item of value) result = collect(item, result);
    return result;
  }
  const text = decode(value);
  if (text === undefined) return into;
  if (into === undefined) return [text];
  into.push(text);
  return into;
}

function decode(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) {
    if (value.length > MAX_DECODED_BYTES) return UNREADABLE;
    // latin1: W3C headers are ASCII, and latin1 maps any other byte to a character the parsers reject.
    const buffer = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
    return buffer.toString('latin1');
  }
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

/**
 * Writes string headers, replacing any other spelling of the same name so a header is never
 * sent twice. Only ever given the wrapper's own copy of a message's headers.
 */
export const kafkaHeaderSetter: TextMapSetter<IHeaders> = {
  set(carrier: IHeaders, key: string, value: string): void {
    if (carrier === null || typeof carrier !== 'object') return;
    const lowerKey = key.toLowerCase();
    for (const name of Object.keys(carrier)) {
      if (name !== key && name.length === key.length && name.toLowerCase() === lowerKey) delete carrier[name];
    }
    carrier[key] = value;
  },
};

/**
 * `kafka.message.key` as the conventions want it: a string key as it is, a byte key only when it
 * is valid UTF-8 text (a binary key has no canonical string form, so it is left out).
 */
export function messageKeyText(key: unknown): string | undefined {
  if (typeof key === 'string') return key;
  if (Buffer.isBuffer(key)) return isUtf8(key) ? key.toString('utf8') : undefined;
  return undefined;
}
