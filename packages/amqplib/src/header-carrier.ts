import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import type { AmqpHeaders } from './types.js';

/** Longest Buffer header decoded; a longer one is ignored unread (propagators cap strings themselves). */
const MAX_BYTES = 32 * 1024;
/** Most values read from an array header; AMQP arrays stand in for repeated headers. */
const MAX_ARRAY_VALUES = 64;

/**
 * Reads AMQP header tables. A value of any AMQP type is tolerated: strings as they are, byte
 * arrays and long strings that arrive as Buffers decoded as UTF-8 (how other languages' clients
 * often write `traceparent`), numbers and booleans as text, arrays as repeated values; tables,
 * null and anything else count as absent. Names match case-insensitively, exact first.
 */
export const amqpHeaderGetter: TextMapGetter<AmqpHeaders | undefined> = {
  keys(carrier) {
    return carrier !== null && typeof carrier === 'object' ? Object.keys(carrier) : [];
  },
  get(carrier, key) {
    if (carrier === null || typeof carrier !== 'object') return undefined;
    let value = carrier[key];
    if (value === undefined) {
      for (const name in carrier) {
        if (name.length === key.length && name.toLowerCase() === key) {
          value = carrier[name];
          break;
        }
      }
    }
    return headerText(value);
  },
};

function headerText(value: unknown): string | string[] | undefined {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return scalarText(value);
  if (value.length > MAX_ARRAY_VALUES) return undefined;
  const texts: string[] = [];
  for (const item of value) {
    const text = scalarText(item);
    // One unreadable member makes the whole header unreadable, as a malformed header would be.
    if (text === undefined) return undefined;
    texts.push(text);
  }
  return texts;
}

function scalarText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'object':
      if (value === null) return undefined;
      if (ArrayBuffer.isView(value)) return bytesText(value);
      // amqplib's explicit-type form `{ '!': type, value }`.
      if (Object.hasOwn(value, '!')) {
        const typed = (value as { value?: unknown }).value;
        if (typeof typed === 'string') return typed;
        if (ArrayBuffer.isView(typed)) return bytesText(typed);
      }
      return undefined;
    default:
      return undefined;
  }
}

function bytesText(view: ArrayBufferView): string | undefined {
  if (view.byteLength > MAX_BYTES) return undefined;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('utf8');
}

/** Collects what the propagator injects, to be laid over the user's headers afterwards. */
export const injectedSetter: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

/**
 * The publish options to send: the user's options and headers untouched, seen through new
 * objects (prototype chains, as amqplib itself reads headers) with the injected headers on top.
 * A user header spelled differently from an injected one (`TraceParent`) is shadowed so it is not
 * sent twice, and so is a stale `tracestate` when a new `traceparent` goes out. Returns the
 * user's own `options` when there is nothing to inject or the options are not injectable.
 */
export function withInjectedHeaders(options: unknown, injected: Record<string, string>): unknown {
  const names = Object.keys(injected);
  if (names.length === 0) return options;
  if (options !== undefined && options !== null && typeof options !== 'object') return options;
  const userHeaders = options == null ? undefined : (options as { headers?: unknown }).headers;
  if (userHeaders !== undefined && userHeaders !== null && typeof userHeaders !== 'object') return options;

  const headers = Object.create((userHeaders as object | null | undefined) ?? null) as Record<
    string,
    unknown
  >;
  for (const name of names) define(headers, name, injected[name]);
  if (userHeaders) {
    const replaced = new Set(names);
    if (replaced.has('traceparent')) replaced.add('tracestate');
    for (const name in userHeaders) {
      if (!Object.hasOwn(injected, name) && replaced.has(name.toLowerCase()))
        define(headers, name, undefined);
    }
  }
  const copy = options == null ? {} : (Object.create(options) as object);
  define(copy, 'headers', headers);
  return copy;
}

// defineProperty, not assignment: a frozen prototype's same-named property would make `=` throw.
function define(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, writable: true, enumerable: true, configurable: true });
}
