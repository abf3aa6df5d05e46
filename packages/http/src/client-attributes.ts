import type { Attributes } from '@opentelemetry/api';
import { errorType } from '@tracewire/core';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from './attribute-names.js';
import { isKnownMethod } from './http-method.js';
import { REDACTED, redactQuery } from './redaction.js';
import { type SimpleUrl, simpleUrl } from './simple-url.js';

/** What a CLIENT span is named and starts with. */
export interface ClientRequestInfo {
  name: string;
  attributes: Attributes;
}

/**
 * The span name and start attributes of a request. An unknown method is `_OTHER` (name `HTTP`)
 * with the original kept, so a caller cannot blow up cardinality; a URL that does not parse only
 * loses its URL attributes.
 */
export function describeRequest(
  method: string | undefined,
  url: string | URL | undefined,
  simple: SimpleUrl | undefined = typeof url === 'string' ? simpleUrl(url) : undefined,
): ClientRequestInfo {
  const original = method ?? 'GET';
  const upper = original.toUpperCase();
  const known = isKnownMethod(upper);
  const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: known ? upper : '_OTHER' };
  if (!known || upper !== original) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = original;
  if (simple) {
    attributes[ATTR_URL_FULL] = simple.href;
    attributes[ATTR_SERVER_ADDRESS] = simple.host;
    attributes[ATTR_SERVER_PORT] = simple.port;
    return { name: known ? upper : 'HTTP', attributes };
  }
  const parsed = parseUrl(url);
  if (parsed) {
    attributes[ATTR_URL_FULL] = redactUrl(parsed);
    attributes[ATTR_SERVER_ADDRESS] = hostOf(parsed);
    const port = portOf(parsed);
    if (port !== undefined) attributes[ATTR_SERVER_PORT] = port;
  }
  return { name: known ? upper : 'HTTP', attributes };
}

/** The span name of a request with this method (as {@link describeRequest} names it). */
export function requestName(method: string | undefined): string {
  const upper = (method ?? 'GET').toUpperCase();
  return isKnownMethod(upper) ? upper : 'HTTP';
}

function parseUrl(url: string | URL | undefined): URL | undefined {
  if (url instanceof URL) return url;
  if (typeof url !== 'string') return undefined;
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * The URL without credentials (`REDACTED:REDACTED@`) or signature query values; the rest of the
 * query as the parser wrote it (not re-encoded, as `URLSearchParams` would).
 */
function redactUrl(url: URL): string {
  let href = url.href;
  if (url.username || url.password) {
    const copy = new URL(href);
    copy.username = REDACTED;
    copy.password = REDACTED;
    href = copy.href;
  }
  const query = url.search.slice(1);
  const redacted = query === '' ? query : redactQuery(query);
  if (redacted === query) return href;
  // The href ends with the search, then the fragment.
  const hash = url.hash;
  const end = href.length - hash.length;
  return `${href.slice(0, end - query.length)}${redacted}${hash}`;
}

function hostOf(url: URL): string {
  const host = url.hostname;
  // IPv6 literals come bracketed in URLs; server.address holds the bare address.
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function portOf(url: URL): number | undefined {
  if (url.port) return Number(url.port);
  if (url.protocol === 'http:' || url.protocol === 'ws:') return 80;
  if (url.protocol === 'https:' || url.protocol === 'wss:') return 443;
  return undefined;
}

/**
 * `error.type` of a failed request: the Node error code (`ECONNREFUSED`) of the error or of its
 * cause (fetch wraps network errors in `TypeError('fetch failed')`), an `AbortError` /
 * `TimeoutError` name, else the error's class name.
 */
export function requestErrorType(error: unknown): string {
  if (isTimeout(error)) return 'TimeoutError';
  const code = errorCode(error) ?? errorCode(causeOf(error));
  if (code) return code;
  if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))
    return error.name;
  return errorType(error);
}

/**
 * Whether the caller cancelled the request on purpose (`AbortController.abort()` with no reason of
 * its own): not an error for the span (semantic conventions v1.41). A timeout stays one.
 */
export function isCallerAbort(error: unknown): boolean {
  if (!(error instanceof Error) || isTimeout(error)) return false;
  const code = errorCode(error);
  return error.name === 'AbortError' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED';
}

// node:http wraps an `AbortSignal.timeout()` expiry in an AbortError whose cause is the TimeoutError.
export function isTimeout(error: unknown): boolean {
  const name = (value: unknown): unknown => (value instanceof Error ? value.name : undefined);
  return name(error) === 'TimeoutError' || name(causeOf(error)) === 'TimeoutError';
}

function causeOf(error: unknown): unknown {
  return error instanceof Error ? error.cause : undefined;
}

function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.length > 0 && code.length <= 64 ? code : undefined;
}
