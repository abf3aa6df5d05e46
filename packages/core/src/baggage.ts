import {
  HeaderScan,
  type RawPair,
  isToken,
  joinProperties,
  parsePair,
  parseProperties,
} from './baggage-syntax.js';
import { joinHeaderValues, skipOws, trimOwsEnd } from './chars.js';
import { percentDecode, percentEncode } from './percent-coding.js';

/** One baggage list-member: the decoded value and its `;`-separated properties in wire form. */
export interface BaggageMember {
  readonly key: string;
  readonly value: string;
  /**
   * Properties as sent (still percent-encoded), e.g. `ttl=30;sensitive`, white space around them
   * removed; forwarded unchanged. {@link decodeBaggageProperties} gives the decoded view.
   */
  readonly properties?: string;
}

/** One property of a member, decoded: its key, and its value unless it is a bare key. */
export interface BaggageProperty {
  readonly key: string;
  /** Percent-decoded like member values; absent for a bare key (`;sensitive`), `''` for `;p=`. */
  readonly value?: string;
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
  const scan = new HeaderScan(header);
  const members: BaggageMember[] = [];
  let position = 0;
  while (position <= header.length && members.length < MAX_BAGGAGE_MEMBERS) {
    let comma = header.indexOf(',', position);
    if (comma < 0) comma = header.length;
    const member = parseMember(scan, position, comma);
    if (member) members.push(member);
    position = comma + 1;
  }
  return members.length > 0 ? members : undefined;
}

function parseMember(scan: HeaderScan, from: number, to: number): BaggageMember | undefined {
  const start = skipOws(scan.text, from, to);
  const end = trimOwsEnd(scan.text, start, to);
  if (start === end) return undefined;
  const pairEnd = scan.semicolon(start, end);
  const pair = parsePair(scan, start, pairEnd, false);
  if (!pair || pair.value === undefined) return undefined;
  const decoded = percentDecode(pair.value);
  if (decoded === undefined) return undefined;
  if (pairEnd === end) return { key: pair.key, value: decoded };
  const properties = parseProperties(scan, pairEnd + 1, end);
  if (properties === undefined) return undefined;
  return { key: pair.key, value: decoded, properties: joinProperties(properties) };
}

export function isBaggageKey(key: unknown): key is string {
  return typeof key === 'string' && isToken(key, 0, key.length);
}

/**
 * The decoded view of a member's properties: `{ key, value? }` in order, values percent-decoded
 * as member values are. Takes a member or a properties string in wire form (such as OTel's
 * `entry.metadata.toString()`). A property whose value has malformed `%` syntax is left out of
 * the view (it is still forwarded as sent). `[]` when there are none, when the properties are
 * invalid or longer than 8192 characters, and for any other input. Never throws.
 */
export function decodeBaggageProperties(member: BaggageMember | string): BaggageProperty[] {
  const text = typeof member === 'string' ? member : readProperties(member);
  if (!text || text.length > MAX_BAGGAGE_LENGTH) return [];
  const properties = parseProperties(new HeaderScan(text), 0, text.length);
  if (!properties) return [];
  const decoded: BaggageProperty[] = [];
  for (const { key, value } of properties) {
    if (value === undefined) {
      decoded.push({ key });
      continue;
    }
    const decodedValue = percentDecode(value);
    if (decodedValue !== undefined) decoded.push({ key, value: decodedValue });
  }
  return decoded;
}

function readProperties(member: unknown): string | undefined {
  if (member === null || typeof member !== 'object') return undefined;
  try {
    const properties = (member as BaggageMember).properties;
    return typeof properties === 'string' ? properties : undefined;
  } catch {
    return undefined;
  }
}

/** An infinite or huge iterable is read no further than this many items. */
const MAX_ITEMS_READ = MAX_BAGGAGE_LENGTH;

/**
 * Formats members as a `baggage` header value, percent-encoding values and sending valid
 * properties as they are. Members that are not objects, have a key that is not a token or a value
 * that is not a well-formed string, or throw when read, are left out, as are members that would
 * take the header past 180 members or 8192 characters; invalid properties are dropped from their
 * member. At most 8192 items are read. `undefined` when nothing is left, and when `members` is not
 * an iterable object or iterating it throws. Never throws.
 */
export function formatBaggage(members: Iterable<BaggageMember>): string | undefined {
  if (members === null || typeof members !== 'object') return undefined;
  let header = '';
  try {
    let count = 0;
    let read = 0;
    for (const member of members) {
      if (count === MAX_BAGGAGE_MEMBERS || ++read > MAX_ITEMS_READ) break;
      const text = formatMember(member);
      if (text === undefined) continue;
      const next = header === '' ? text : `${header},${text}`;
      if (next.length > MAX_BAGGAGE_LENGTH) continue;
      header = next;
      count++;
    }
  } catch {
    return undefined;
  }
  return header === '' ? undefined : header;
}

/** `key=value;properties`, each field read once (a getter cannot change it between checks). */
function formatMember(member: unknown): string | undefined {
  if (member === null || typeof member !== 'object') return undefined;
  let key: unknown;
  let value: unknown;
  let properties: unknown;
  try {
    ({ key, value, properties } = member as BaggageMember);
  } catch {
    return undefined;
  }
  if (!isBaggageKey(key)) return undefined;
  const encoded = percentEncode(value);
  if (encoded === undefined) return undefined;
  const text = `${key}=${encoded}`;
  if (typeof properties !== 'string' || properties === '' || properties.length > MAX_BAGGAGE_LENGTH) {
    return text;
  }
  const parsed: RawPair[] | undefined = parseProperties(new HeaderScan(properties), 0, properties.length);
  return parsed ? `${text};${joinProperties(parsed)}` : text;
}
