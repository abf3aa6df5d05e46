// The W3C Baggage grammar, checked by char code over index ranges of one header.
import { skipOws, trimOwsEnd } from './chars.js';

/** A `key` or `key=value` as it appears on the wire, white space around it removed. */
export interface RawPair {
  readonly key: string;
  /** Still percent-encoded; absent for a bare-key property. */
  readonly value?: string;
}

/**
 * A header being read left to right. The `;` and `=` searches use native `indexOf` and resume
 * past their last hit, so however the header is shaped each character is scanned at most once
 * per search: linear time, where a plain `indexOf` per member could run to the end every time.
 */
export class HeaderScan {
  readonly text: string;
  /** The first `;` at or after the last search's start (text.length when none); -1 before any. */
  #semicolon = -1;
  #equals = -1;

  constructor(text: string) {
    this.text = text;
  }

  /** Index of the first `;` in `[from, to)`, or `to`. Calls must not move `from` backwards. */
  semicolon(from: number, to: number): number {
    if (this.#semicolon < from) this.#semicolon = found(this.text.indexOf(';', from), this.text.length);
    return Math.min(this.#semicolon, to);
  }

  /** Index of the first `=` in `[from, to)`, or `to`. Calls must not move `from` backwards. */
  equals(from: number, to: number): number {
    if (this.#equals < from) this.#equals = found(this.text.indexOf('=', from), this.text.length);
    return Math.min(this.#equals, to);
  }
}

function found(index: number, length: number): number {
  return index < 0 ? length : index;
}

/** `key OWS "=" OWS value`, or with `keyOnly` allowed, a bare `key OWS` (a property). */
export function parsePair(scan: HeaderScan, from: number, to: number, keyOnly: boolean): RawPair | undefined {
  const text = scan.text;
  const start = skipOws(text, from, to);
  const end = trimOwsEnd(text, start, to);
  const equals = scan.equals(start, end);
  if (equals === end) {
    if (!keyOnly || !isToken(text, start, end)) return undefined;
    return { key: text.slice(start, end) };
  }
  const keyEnd = trimOwsEnd(text, start, equals);
  const valueStart = skipOws(text, equals + 1, end);
  if (!isToken(text, start, keyEnd) || !isBaggageOctets(text, valueStart, end)) return undefined;
  return { key: text.slice(start, keyEnd), value: text.slice(valueStart, end) };
}

/** `property *( OWS ";" OWS property )` in `[from, to)`; `undefined` when one is invalid. */
export function parseProperties(scan: HeaderScan, from: number, to: number): RawPair[] | undefined {
  const properties: RawPair[] = [];
  let position = from;
  while (position <= to) {
    const semicolon = scan.semicolon(position, to);
    const property = parsePair(scan, position, semicolon, true);
    if (!property) return undefined;
    properties.push(property);
    position = semicolon + 1;
  }
  return properties;
}

/** Properties back in wire form, joined by `;` with no white space. */
export function joinProperties(properties: readonly RawPair[]): string {
  let text = '';
  for (let i = 0; i < properties.length; i++) {
    const { key, value } = properties[i]!;
    if (i > 0) text += ';';
    text += value === undefined ? key : `${key}=${value}`;
  }
  return text;
}

/** RFC 7230 `token`: ALPHA, DIGIT and ``!#$%&'*+-.^_`|~``, at least one. */
export function isToken(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    if (!isTokenCode(text.charCodeAt(i))) return false;
  }
  return true;
}

function isTokenCode(code: number): boolean {
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) {
    return true;
  }
  // ! # $ % & ' * + - . ^ _ ` | ~
  return (
    code === 0x21 ||
    (code >= 0x23 && code <= 0x27) ||
    code === 0x2a ||
    code === 0x2b ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5e ||
    code === 0x5f ||
    code === 0x60 ||
    code === 0x7c ||
    code === 0x7e
  );
}

/** `*baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`. */
function isBaggageOctets(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x21 || code > 0x7e || code === 0x22 || code === 0x2c || code === 0x3b || code === 0x5c) {
      return false;
    }
  }
  return true;
}
