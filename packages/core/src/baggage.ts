import { joinHeaderValues, skipOws, trimOwsEnd } from './chars.js';
import { percentDecode, percentEncode } from './percent-coding.js';

/** One baggage list-member: the decoded value and its raw `;`-separated properties, if any. */
export interface BaggageMember {
  readonly key: string;
  readonly value: string;
  /** Properties as sent, e.g. `ttl=30;sensitive`, white space around them removed. */
  readonly properties?: string;
}

/** The W3C limits: a header of at most 8192 bytes and 180 list-members (at least 64 must pass). */
export const MAX_BAGGAGE_LENGTH = 8192;
export const MAX_BAGGAGE_MEMBERS = 180;

/**
 * Parses one or several `baggage` header values. Malformed members are skipped, members past 180
 * are dropped, a header over 8192 characters is discarded unread; `undefined` when nothing valid
 * remains. Values are percent-decoded octet by octet and read as UTF-8, each invalid sequence
 * becoming U+FFFD; a `%` not followed by two hex digits drops its member. Never throws.
 */
export function parseBaggage(value: unknown): BaggageMember[] | undefined {
  const header = joinHeaderValues(value, MAX_BAGGAGE_LENGTH);
  if (header === undefined) return undefined;
  const members: BaggageMember[] = [];
  let position = 0;
  while (position <= header.length && members.length < MAX_BAGGAGE_MEMBERS) {
    let comma = header.indexOf(',', position);
    if (comma < 0) comma = header.length;
    const member = parseMember(header, position, comma);
    if (member) members.push(member);
    position = comma + 1;
  }
  return members.length > 0 ? members : undefined;
}

function parseMember(text: string, from: number, to: number): BaggageMember | undefined {
  const start = skipOws(text, from, to);
  const end = trimOwsEnd(text, start, to);
  if (start === end) return undefined;
  const semicolon = text.indexOf(';', start);
  const pairEnd = semicolon < 0 || semicolon > end ? end : semicolon;
  const pair = parsePair(text, start, pairEnd, false);
  if (!pair || pair.value === undefined) return undefined;
  const decoded = percentDecode(pair.value);
  if (decoded === undefined) return undefined;
  if (pairEnd === end) return { key: pair.key, value: decoded };
  const properties = parseProperties(text, pairEnd + 1, end);
  if (properties === undefined) return undefined;
  return properties === ''
    ? { key: pair.key, value: decoded }
    : { key: pair.key, value: decoded, properties };
}

/** `key OWS "=" OWS value`, or with `keyOnly` allowed, a bare `key OWS` (a property). */
function parsePair(
  text: string,
  from: number,
  to: number,
  keyOnly: boolean,
): { key: string; value?: string } | undefined {
  const start = skipOws(text, from, to);
  const end = trimOwsEnd(text, start, to);
  const equals = text.indexOf('=', start);
  if (equals < 0 || equals >= end) {
    if (!keyOnly || !isToken(text, start, end)) return undefined;
    return { key: text.slice(start, end) };
  }
  const keyEnd = trimOwsEnd(text, start, equals);
  const valueStart = skipOws(text, equals + 1, end);
  if (!isToken(text, start, keyEnd) || !isBaggageOctets(text, valueStart, end)) return undefined;
  return { key: text.slice(start, keyEnd), value: text.slice(valueStart, end) };
}

/** Validates `property *( OWS ";" OWS property )` and returns it normalised, or undefined. */
function parseProperties(text: string, from: number, to: number): string | undefined {
  const properties: string[] = [];
  let position = from;
  while (position <= to) {
    let semicolon = text.indexOf(';', position);
    if (semicolon < 0 || semicolon > to) semicolon = to;
    const property = parsePair(text, position, semicolon, true);
    if (!property) return undefined;
    properties.push(property.value === undefined ? property.key : `${property.key}=${property.value}`);
    position = semicolon + 1;
  }
  return properties.join(';');
}

/** RFC 7230 `token`: ALPHA, DIGIT and ``!#$%&'*+-.^_`|~``, at least one. */
function isToken(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    if (!isTokenCode(text.charCodeAt(i))) return false;
  }
  return true;
}

export function isBaggageKey(key: unknown): key is string {
  return typeof key === 'string' && isToken(key, 0, key.length);
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

/**
 * Formats members as a `baggage` header value, percent-encoding values. Members with a key that
 * is not a token, or invalid properties, are left out, as are members that would take the header
 * past 180 members or 8192 characters. `undefined` when nothing is left.
 */
export function formatBaggage(members: Iterable<BaggageMember>): string | undefined {
  let header = '';
  let count = 0;
  for (const member of members) {
    if (count === MAX_BAGGAGE_MEMBERS) break;
    if (!member || !isBaggageKey(member.key)) continue;
    const value = percentEncode(member.value);
    if (value === undefined) continue;
    let text = `${member.key}=${value}`;
    if (member.properties) {
      const properties = parseProperties(member.properties, 0, member.properties.length);
      if (properties) text += `;${properties}`;
    }
    const next = header === '' ? text : `${header},${text}`;
    if (next.length > MAX_BAGGAGE_LENGTH) continue;
    header = next;
    count++;
  }
  return header === '' ? undefined : header;
}
