// A fast path for the URL attributes of a CLIENT span. Most requests go to a URL the WHATWG parser
// would hand back unchanged (`http(s)://host[:port]/path?query`, lower-case host, plain characters);
// for those, `url.full`, `server.address` and `server.port` are read from the string with one scan
// and no `URL` object. Anything the parser might rewrite (upper case, credentials, IPv6, IDN, odd
// IPv4 forms, dot segments, characters it percent-encodes, a fragment, a secret query key) is not
// simple: `describeRequest` then parses it with `URL`, as before, so both paths give the same values.
import { SECRET_QUERY_KEYS, redactQuery } from './redaction.js';

/** The URL attributes of a simple URL. */
export interface SimpleUrl {
  href: string;
  host: string;
  port: number;
}

const HOST = 1; // [a-z0-9-], the characters of a host label kept as they are
const PATH = 2; // characters the parser keeps in a path
const QUERY = 4; // characters the parser keeps in a special scheme's query
const SECRET = 8; // a char that may start a secret query key, or encode one
const CHARS = new Uint8Array(128);
for (let code = 0; code < 128; code++) {
  const char = String.fromCharCode(code);
  if (/[a-z0-9-]/.test(char)) CHARS[code]! |= HOST;
  // Unreserved and sub-delimiters, ':', '@', '/', '%' (kept as is, valid or not).
  if (/[A-Za-z0-9\-._~!$&()*+,;=:@/%]/.test(char)) CHARS[code]! |= PATH | QUERY;
}
CHARS["'".charCodeAt(0)]! |= PATH; // percent-encoded in the query of http(s) URLs only
CHARS['?'.charCodeAt(0)]! |= QUERY;
for (const key of SECRET_QUERY_KEYS) CHARS[key.charCodeAt(0)]! |= SECRET;
CHARS['%'.charCodeAt(0)]! |= SECRET; // may encode a char of a key

const DOT = 46;
const SLASH = 47;
const COLON = 58;
const QUESTION = 63;
const PERCENT = 37;

/** The attributes of `url` when the WHATWG parser would keep it as it is; else undefined. */
export function simpleUrl(url: string): SimpleUrl | undefined {
  // 'http://' or 'https://', compared by code (startsWith costs more than the whole scan).
  if (url.charCodeAt(0) !== 104 || url.charCodeAt(1) !== 116 || url.charCodeAt(2) !== 116) return undefined;
  if (url.charCodeAt(3) !== 112) return undefined;
  let at = url.charCodeAt(4) === 115 ? 5 : 4;
  const defaultPort = at === 5 ? 443 : 80;
  if (url.charCodeAt(at) !== COLON || url.charCodeAt(at + 1) !== SLASH || url.charCodeAt(at + 2) !== SLASH)
    return undefined;
  at += 3;

  // The host: labels of [a-z0-9-] between single dots, none starting with 'xn--' (IDN).
  const length = url.length;
  const hostStart = at;
  let labelStart = at;
  let code = 0;
  for (; at < length; at++) {
    code = url.charCodeAt(at);
    if (code === DOT) {
      if (at === labelStart) return undefined;
      labelStart = at + 1;
      continue;
    }
    if (code >= 128 || (CHARS[code]! & HOST) === 0) break;
    if (at === labelStart && code === 120 && url.startsWith('xn--', at)) return undefined;
  }
  if (at === labelStart) return undefined; // no host, or a trailing dot
  const host = url.slice(hostStart, at);
  // A last label starting with a digit may be read as an IPv4 number (`127.1`, `0x7f.1`).
  const last = url.charCodeAt(labelStart);
  if (last >= 48 && last <= 57 && !canonicalIpv4(url, hostStart, at)) return undefined;

  let port = defaultPort;
  let portEnd = at;
  if (at < length && code === COLON) {
    const portStart = at + 1;
    let value = 0;
    for (portEnd = portStart; portEnd < length; portEnd++) {
      const digit = url.charCodeAt(portEnd) - 48;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    const digits = portEnd - portStart;
    // No digits, a leading zero or out of range: the parser decides.
    if (digits === 0 || digits > 5 || url.charCodeAt(portStart) === 48 || value > 65535) return undefined;
    port = value;
  }

  // The path and query: characters the parser keeps, no dot segment ('/.', '%2e'), no fragment.
  const first = url.charCodeAt(portEnd);
  if (portEnd < length && first !== SLASH && first !== QUESTION) return undefined;
  if (!isSimpleTail(url, portEnd)) return undefined;

  // The parser drops a default port, and makes an empty path '/'.
  const dropPort = portEnd !== at && port === defaultPort;
  if (!dropPort && first === SLASH) return { href: url, host, port };
  const origin = url.slice(0, dropPort ? at : portEnd);
  const href =
    portEnd === length
      ? `${origin}/`
      : first === QUESTION
        ? `${origin}/${url.slice(portEnd)}`
        : origin + url.slice(portEnd);
  return { href, host, port };
}

/**
 * Whether the path and query of `url` from `from` on are kept by the parser as they are: characters
 * it keeps, no dot segment ('/.', '%2e'), no fragment, no secret query value to redact.
 */
function isSimpleTail(url: string, from: number): boolean {
  const length = url.length;
  let code = 0;
  let query = -1;
  let maybeSecret = false;
  for (let i = from; i < length; i++) {
    code = url.charCodeAt(i);
    if (code >= 128) return false;
    const flags = CHARS[code]!;
    if (query !== -1) {
      if ((flags & QUERY) === 0) return false;
      if ((flags & SECRET) !== 0) maybeSecret = true;
    } else if (code === QUESTION) {
      query = i;
    } else {
      if ((flags & PATH) === 0) return false;
      if (code === DOT && i > from && url.charCodeAt(i - 1) === SLASH) return false;
      if (code === PERCENT && url.charCodeAt(i + 1) === 50 && (url.charCodeAt(i + 2) | 0x20) === 101)
        return false;
    }
  }
  // A query that could hold a secret key (a key's first char, or a '%' that may encode one) takes
  // the slow path only when something in it is redacted.
  if (maybeSecret) {
    const search = url.slice(query + 1);
    if (redactQuery(search) !== search) return false;
  }
  return true;
}

/** An origin (`scheme://host[:port]`, no path) as the parser writes it, with its attributes. */
interface SimpleOrigin {
  /** The origin without a default port and without a trailing '/'. */
  base: string;
  host: string;
  port: number;
}

// undici dispatches every request of a pool with the same origin string: its scan is done once.
// Bounded (emptied when full), so a client calling many origins keeps flat memory.
const ORIGINS = new Map<string, SimpleOrigin | null>();
const MAX_ORIGINS = 256;

/** How many origins are remembered (for the tests of the bound). */
export function rememberedOrigins(): number {
  return ORIGINS.size;
}

/**
 * The attributes of `origin` joined to `path` (a request's `/path?query`, or '' or `?query`), as
 * {@link simpleUrl} gives them for `origin + path`; undefined when either is not simple (the caller
 * then joins them and takes the slow path).
 */
export function simpleUrlOf(origin: string, path: string): SimpleUrl | undefined {
  let known = ORIGINS.get(origin);
  if (known === undefined) {
    known = simpleOrigin(origin) ?? null;
    if (ORIGINS.size >= MAX_ORIGINS) ORIGINS.clear();
    ORIGINS.set(origin, known);
  }
  if (known === null) return undefined;
  const first = path.charCodeAt(0);
  if (path.length > 0 && first !== SLASH && first !== QUESTION) return undefined;
  if (!isSimpleTail(path, 0)) return undefined;
  const href = first === SLASH ? known.base + path : `${known.base}/${path}`;
  return { href, host: known.host, port: known.port };
}

function simpleOrigin(origin: string): SimpleOrigin | undefined {
  const simple = simpleUrl(origin);
  if (simple === undefined || origin.includes('?')) return undefined;
  // No path but a trailing '/': the href is then the origin and '/'.
  const slash = origin.indexOf('/', origin.indexOf('//') + 2);
  if (slash !== -1 && slash !== origin.length - 1) return undefined;
  return { base: simple.href.slice(0, -1), host: simple.host, port: simple.port };
}

/** Whether `url` from `start` to `end` is a dotted quad the parser keeps: 4 numbers 0-255, no leading zero. */
function canonicalIpv4(url: string, start: number, end: number): boolean {
  let parts = 0;
  let value = 0;
  let digits = 0;
  for (let at = start; at <= end; at++) {
    const code = at === end ? DOT : url.charCodeAt(at);
    if (code === DOT) {
      if (digits === 0 || value > 255) return false;
      parts++;
      value = 0;
      digits = 0;
      continue;
    }
    const digit = code - 48;
    if (digit < 0 || digit > 9 || (digits === 1 && value === 0)) return false;
    value = value * 10 + digit;
    digits++;
  }
  return parts === 4;
}
