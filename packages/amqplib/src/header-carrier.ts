import type { TextMapGetter } from '@opentelemetry/api';
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

/**
 * The headers object a publish injects into. Its prototype is null: amqplib chains its own header
 * object onto it and walks the chain with for-in, which is markedly cheaper without
 * Object.prototype in it.
 */
export function newHeaders(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

/**
 * The publish options to send: copies of the user's options and headers (never the user's
 * objects) with the injected headers (made by {@link newHeaders}, completed here with the user's)
 * in place. A user header spelled like an injected one in any case (`TraceParent`), or one the
 * propagator owns (`dropped`: a stale `tracestate` or `baggage`), is not sent, so a message's trace
 * headers always come from one context. Returns the user's own `options` when nothing was injected
 * or the options are not injectable (amqplib then fails on them as it would untraced).
 */
export function withInjectedHeaders(
  options: unknown,
  injected: Record<string, unknown>,
  dropped: readonly string[] = [],
): unknown {
  const names = Object.keys(injected);
  if (names.length === 0) return options;
  if (options !== undefined && options !== null && typeof options !== 'object') return options;
  const userHeaders = options == null ? undefined : (options as { headers?: unknown }).headers;
  if (userHeaders !== undefined && userHeaders !== null && typeof userHeaders !== 'object') return options;
  if (userHeaders) {
    // for-in, as amqplib's codec reads headers: inherited enumerable ones are sent too.
    for (const name in userHeaders as Record<string, unknown>) {
      const lower = name.toLowerCase();
      if (names.includes(lower) || dropped.includes(lower)) continue;
      injected[name] = (userHeaders as Record<string, unknown>)[name];
    }
  }
  return withHeaders(options as object | null | undefined, injected);
}

/**
 * A copy of publish options with `headers` replaced. A plain object is copied (all amqplib
 * reads of one); anything else (a class instance, an `Object.create` chain) is seen
 * through a new object whose prototype it is, so inherited properties and getters still count.
 */
function withHeaders(options: object | null | undefined, headers: Record<string, unknown>): object {
  if (options == null) return { headers };
  const prototype = Object.getPrototypeOf(options);
  if (prototype === Object.prototype || prototype === null) {
    // A for-in copy: measurably cheaper for amqplib to read afterwards than a spread copy.
    const copy: Record<string, unknown> = {};
    for (const name in options) copy[name] = (options as Record<string, unknown>)[name];
    copy['headers'] = headers;
    return copy;
  }
  const copy = Object.create(options) as object;
  // defineProperty, not assignment: a read-only `headers` up the chain would make `=` throw.
  Object.defineProperty(copy, 'headers', {
    value: headers,
    writable: true,
    enumerable: true,
    configurable: true,
  });
  return copy;
}
