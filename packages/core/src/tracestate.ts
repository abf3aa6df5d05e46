import type { TraceState as OtelTraceState } from '@opentelemetry/api';
import { isDigitCode, isLowerAlphaCode, joinHeaderValues, skipOws, trimOwsEnd } from './chars.js';

export const MAX_TRACESTATE_MEMBERS = 32;
const MAX_KEY_LENGTH = 256;
const MAX_VALUE_LENGTH = 256;
/** Entries longer than this are the first to go when a header must be truncated. */
const LARGE_MEMBER_LENGTH = 128;
/**
 * Hard cap on the combined header: 32 members of the longest legal key and value, commas
 * included, plus room for optional white space. Anything longer is discarded unread.
 */
export const MAX_TRACESTATE_LENGTH = 32 * (MAX_KEY_LENGTH + 1 + MAX_VALUE_LENGTH) + 1024;

interface Members {
  readonly keys: readonly string[];
  readonly values: readonly string[];
  readonly serialized: string;
}

const NO_MEMBERS: Members = { keys: [], values: [], serialized: '' };

/** Builds an instance from validated members, or from a received header parsed on first use. */
let createTraceState!: (members: Members | undefined, pending?: string) => TraceState;

/**
 * An immutable W3C `tracestate` list. It implements OpenTelemetry's `TraceState`, so it can
 * sit in a `SpanContext`; every mutator returns a new instance.
 *
 * The propagator hands over the received header unvalidated and it is parsed on first use: a
 * leaf service that never reads or forwards it pays nothing. An invalid header then behaves as
 * an empty list, exactly as if it had been discarded on arrival.
 */
export class TraceState implements OtelTraceState {
  #members: Members | undefined;
  #pending: string | undefined;

  private constructor(members: Members | undefined, pending?: string) {
    this.#members = members;
    this.#pending = pending;
  }

  static {
    // The module's own way in: no public factory can be handed unvalidated members.
    createTraceState = (members, pending) => new TraceState(members, pending);
  }

  static empty(): TraceState {
    return EMPTY;
  }

  #resolve(): Members {
    if (this.#members === undefined) {
      this.#members = parseMembers(this.#pending!) ?? NO_MEMBERS;
      this.#pending = undefined;
    }
    return this.#members;
  }

  get size(): number {
    return this.#resolve().keys.length;
  }

  get(key: string): string | undefined {
    const { keys, values } = this.#resolve();
    const index = keys.indexOf(key);
    return index < 0 ? undefined : values[index];
  }

  /**
   * Adds or updates `key`, moving it to the front as the spec requires of a vendor updating its
   * entry. An invalid key or value leaves the list unchanged. Past 32 members the last is dropped.
   */
  set(key: string, value: string): TraceState {
    if (!isValidTracestateKey(key) || !isValidTracestateValue(value)) return this;
    const current = this.#resolve();
    const keys = [key];
    const values = [value];
    for (let i = 0; i < current.keys.length && keys.length < MAX_TRACESTATE_MEMBERS; i++) {
      if (current.keys[i] === key) continue;
      keys.push(current.keys[i]!);
      values.push(current.values[i]!);
    }
    return new TraceState(withSerialized(keys, values));
  }

  unset(key: string): TraceState {
    const current = this.#resolve();
    const index = current.keys.indexOf(key);
    if (index < 0) return this;
    const keep = (_: string, i: number): boolean => i !== index;
    return new TraceState(withSerialized(current.keys.filter(keep), current.values.filter(keep)));
  }

  /** `[key, value]` pairs in order, for iteration and tests. */
  entries(): Array<[string, string]> {
    const { keys, values } = this.#resolve();
    return keys.map((key, i) => [key, values[i]!]);
  }

  /** The header value, members joined by commas; the empty string when there are none. */
  serialize(): string {
    return this.#resolve().serialized;
  }

  /**
   * The header value shortened to at most `maxLength` characters by removing whole members:
   * first those longer than 128 characters, then from the end of the list. A limit that is not a
   * number, or NaN, gives `''` (nothing is sent).
   */
  serializeWithin(maxLength: number): string {
    if (typeof maxLength !== 'number' || Number.isNaN(maxLength)) return '';
    const full = this.serialize();
    if (full.length <= maxLength) return full;
    const members = this.entries().map(([key, value]) => `${key}=${value}`);
    let length = full.length;
    const drop = (index: number): void => {
      length -= members[index]!.length + (members.length > 1 ? 1 : 0);
      members.splice(index, 1);
    };
    for (let i = members.length - 1; i >= 0 && length > maxLength; i--) {
      if (members[i]!.length > LARGE_MEMBER_LENGTH) drop(i);
    }
    while (length > maxLength && members.length > 0) drop(members.length - 1);
    return members.join(',');
  }
}

const EMPTY = createTraceState(NO_MEMBERS);

function withSerialized(keys: readonly string[], values: readonly string[]): Members {
  return { keys, values, serialized: keys.map((key, i) => `${key}=${values[i]}`).join(',') };
}

/**
 * Parses one or several `tracestate` header values (several combine in order). The whole
 * header is discarded (`undefined`) when any member is invalid or there are more than 32
 * members; a repeated key keeps its first value; an empty header gives `undefined`. Never throws.
 */
export function parseTracestate(value: unknown): TraceState | undefined {
  const header = joinHeaderValues(value, MAX_TRACESTATE_LENGTH);
  if (header === undefined) return undefined;
  const members = parseMembers(header);
  return members ? createTraceState(members) : undefined;
}

/** The propagator's path: only the size cap is checked now, the rest on first use. */
export function deferTracestate(value: unknown): TraceState | undefined {
  const header = joinHeaderValues(value, MAX_TRACESTATE_LENGTH);
  return header ? createTraceState(undefined, header) : undefined;
}

function parseMembers(header: string): Members | undefined {
  const keys: string[] = [];
  const values: string[] = [];
  // The received text is reused as is unless white space, empty members or repeats were removed.
  let verbatim = true;
  let count = 0;
  const length = header.length;
  let position = 0;
  while (position <= length) {
    let comma = header.indexOf(',', position);
    if (comma < 0) comma = length;
    const start = skipOws(header, position, comma);
    const end = trimOwsEnd(header, start, comma);
    if (start !== position || end !== comma) verbatim = false;
    position = comma + 1;
    if (start === end) {
      verbatim = false; // empty members are allowed and skipped
      continue;
    }
    const equals = header.indexOf('=', start);
    if (equals < 0 || equals >= end) return undefined;
    if (!isValidKeyRange(header, start, equals) || !isValidValueRange(header, equals + 1, end))
      return undefined;
    if (++count > MAX_TRACESTATE_MEMBERS) return undefined;
    const key = header.slice(start, equals);
    // A repeated key keeps its first (left-most, most recent) value, as the Level 2 harness expects.
    if (keys.includes(key)) {
      verbatim = false;
      continue;
    }
    keys.push(key);
    values.push(header.slice(equals + 1, end));
  }
  if (keys.length === 0) return undefined;
  return verbatim ? { keys, values, serialized: header } : withSerialized(keys, values);
}

/** `(lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")` */
export function isValidTracestateKey(key: unknown): key is string {
  return typeof key === 'string' && isValidKeyRange(key, 0, key.length);
}

/** `0*255(%x20 / nblk-chr) nblk-chr`, nblk-chr being printable ASCII but `,` and `=`. */
export function isValidTracestateValue(value: unknown): value is string {
  return typeof value === 'string' && isValidValueRange(value, 0, value.length);
}

function isValidKeyRange(text: string, from: number, to: number): boolean {
  const length = to - from;
  if (length < 1 || length > MAX_KEY_LENGTH) return false;
  const first = text.charCodeAt(from);
  if (!isLowerAlphaCode(first) && !isDigitCode(first)) return false;
  for (let i = from + 1; i < to; i++) {
    const code = text.charCodeAt(i);
    if (
      !isLowerAlphaCode(code) &&
      !isDigitCode(code) &&
      code !== 0x5f && // _
      code !== 0x2d && // -
      code !== 0x2a && // *
      code !== 0x2f && // /
      code !== 0x40 // @
    ) {
      return false;
    }
  }
  return true;
}

function isValidValueRange(text: string, from: number, to: number): boolean {
  const length = to - from;
  if (length < 1 || length > MAX_VALUE_LENGTH) return false;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x2c || code === 0x3d) return false;
  }
  return text.charCodeAt(to - 1) !== 0x20;
}
