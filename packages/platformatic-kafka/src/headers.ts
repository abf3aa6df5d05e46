import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { MAX_TRACESTATE_LENGTH } from '@tracewire/core';

/**
 * Message headers as @platformatic/kafka hands them around: a `Map` (what a consumer gets, and
 * what a producer takes), the `headerEntries` array of a consumed message (2.x: every header,
 * duplicates included), or a plain record (a producer also takes one). Names and values are
 * strings or bytes, depending on the serializers.
 */
export type KafkaHeaders =
  | ReadonlyMap<unknown, unknown>
  | ReadonlyArray<readonly [unknown, unknown]>
  | Readonly<Record<string, unknown>>;

/**
 * The longest byte header decoded: the largest legal W3C header (tracestate). A longer one is
 * read as {@link UNREADABLE} so a huge header costs nothing and still counts as present.
 */
const MAX_DECODED_BYTES = MAX_TRACESTATE_LENGTH;
/** Invalid in traceparent, tracestate and baggage alike: a value that is there but unusable. */
const UNREADABLE = '\u0000';

/**
 * Reads message headers. Names match case-insensitively whether they are strings or bytes;
 * values may be strings or bytes (what Java, Python and KafkaJS producers write). A repeated
 * header comes back as an array, in order, so the propagator can reject a second traceparent.
 */
export const kafkaHeaderGetter: TextMapGetter<KafkaHeaders | undefined> = {
  keys(carrier: KafkaHeaders | undefined): string[] {
    const names: string[] = [];
    forEachHeader(carrier, (name) => {
      const text = decodeName(name);
      if (text !== undefined) names.push(text);
    });
    return names;
  },
  get(carrier: KafkaHeaders | undefined, key: string): string | string[] | undefined {
    if (carrier === null || typeof carrier !== 'object') return undefined;
    const lowerKey = key.toLowerCase();
    let values: string[] | undefined;
    // Plain loops per shape, no callback: this runs for every field of every message.
    if (carrier instanceof Map) {
      for (const [name, value] of carrier)
        if (nameMatches(name, key, lowerKey)) values = collect(value, values);
    } else if (Array.isArray(carrier)) {
      for (const entry of carrier) {
        if (Array.isArray(entry) && nameMatches(entry[0], key, lowerKey)) values = collect(entry[1], values);
      }
    } else {
      for (const name in carrier) {
        if (nameMatches(name, key, lowerKey) && Object.hasOwn(carrier, name)) {
          values = collect((carrier as Record<string, unknown>)[name], values);
        }
      }
    }
    if (values === undefined || values.length === 0) return undefined;
    return values.length === 1 ? values[0] : values;
  },
};

function forEachHeader(carrier: unknown, visit: (name: unknown, value: unknown) => void): void {
  if (carrier === null || typeof carrier !== 'object') return;
  if (carrier instanceof Map) {
    for (const [name, value] of carrier) visit(name, value);
  } else if (Array.isArray(carrier)) {
    for (const entry of carrier) if (Array.isArray(entry)) visit(entry[0], entry[1]);
  } else {
    // for-in, not Object.keys: no array per lookup on the per-message path.
    for (const name in carrier) {
      if (Object.hasOwn(carrier, name)) visit(name, (carrier as Record<string, unknown>)[name]);
    }
  }
}

function nameMatches(name: unknown, key: string, lowerKey: string): boolean {
  if (typeof name === 'string') {
    return name.length === key.length && (name === key || name.toLowerCase() === lowerKey);
  }
  if (!(name instanceof Uint8Array) || name.length !== key.length) return false;
  for (let i = 0; i < name.length; i++) {
    let byte = name[i] as number;
    if (byte >= 0x41 && byte <= 0x5a) byte += 0x20;
    if (byte !== lowerKey.charCodeAt(i)) return false;
  }
  return true;
}

function decodeName(name: unknown): string | undefined {
  if (typeof name === 'string') return name;
  if (name instanceof Uint8Array && name.length <= MAX_DECODED_BYTES) return latin1(name);
  return undefined;
}

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
  if (value instanceof Uint8Array) return value.length > MAX_DECODED_BYTES ? UNREADABLE : latin1(value);
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

/** latin1: W3C headers are ASCII, and latin1 maps any other byte to a character the parsers reject. */
function latin1(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  return buffer.toString('latin1');
}

/**
 * How tracewire writes its headers, matching the producer's header serializers: `'buffer'` for
 * the client's default (no serializers: keys and values are `Buffer`s), `'string'` for
 * `stringSerializers` and any serializer that takes strings.
 */
export type HeaderFormat = 'buffer' | 'string';

/** The headers of a message being produced: the wrapper's own copy, a `Map` or a plain record. */
export type OutgoingHeaders = Map<unknown, unknown> | Record<string, unknown>;

const bufferSetter = createSetter(true);
const stringSetter = createSetter(false);

/** The setter writing headers in `format`; it replaces any other spelling of the same name. */
export function kafkaHeaderSetter(format: HeaderFormat = 'buffer'): TextMapSetter<OutgoingHeaders> {
  return format === 'string' ? stringSetter : bufferSetter;
}

// The W3C names as bytes, made once: every message a propagator writes to carries them. The client
// only reads a header's name when it serializes the message.
const NAME_BYTES: ReadonlyMap<string, Buffer> = new Map(
  ['traceparent', 'tracestate', 'baggage'].map((name) => [name, Buffer.from(name, 'latin1')]),
);

function createSetter(bytes: boolean): TextMapSetter<OutgoingHeaders> {
  return {
    set(carrier: OutgoingHeaders, key: string, value: string): void {
      if (carrier === null || typeof carrier !== 'object') return;
      const known = NAME_BYTES.get(key);
      const lowerKey = known === undefined ? key.toLowerCase() : key;
      if (carrier instanceof Map) {
        // An empty Map (a message without headers: the common case) has no other spelling to remove.
        if (carrier.size > 0) {
          for (const name of carrier.keys()) {
            if (ofFormat(name, bytes) && nameMatches(name, key, lowerKey)) carrier.delete(name);
          }
        }
        if (bytes) carrier.set(known ?? Buffer.from(key, 'latin1'), Buffer.from(value, 'latin1'));
        else carrier.set(key, value);
        return;
      }
      for (const name of Object.keys(carrier)) {
        if (name !== key && nameMatches(name, key, lowerKey)) delete carrier[name];
      }
      // A record's names are always strings; its values follow the format.
      carrier[key] = bytes ? Buffer.from(value, 'latin1') : value;
    },
  };
}

/**
 * A `Map` name of the kind a format writes. Only those are replaced or removed: a name of the
 * other kind is one the producer's serializers cannot take, and the client must fail on it
 * exactly as it would untraced.
 */
function ofFormat(name: unknown, bytes: boolean): boolean {
  return bytes ? name instanceof Uint8Array : typeof name === 'string';
}

/**
 * Deletes every spelling of a header from the wrapper's own copy of a message's headers; with
 * `format`, only the `Map` names of that format's kind (strings or bytes).
 */
export function removeKafkaHeader(carrier: OutgoingHeaders, key: string, format?: HeaderFormat): void {
  if (carrier === null || typeof carrier !== 'object') return;
  const lowerKey = key.toLowerCase();
  if (carrier instanceof Map) {
    const bytes = format === 'buffer';
    for (const name of carrier.keys()) {
      if ((format === undefined || ofFormat(name, bytes)) && nameMatches(name, key, lowerKey)) {
        carrier.delete(name);
      }
    }
    return;
  }
  for (const name of Object.keys(carrier)) if (nameMatches(name, key, lowerKey)) delete carrier[name];
}
