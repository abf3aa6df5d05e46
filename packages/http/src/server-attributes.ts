import type { IncomingMessage } from 'node:http';
import type { Attributes } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from './attribute-names.js';
import { isKnownMethod } from './http-method.js';
import { redactQuery } from './redaction.js';

/**
 * The request attributes of an HTTP SERVER span, in one object of a fixed shape (absent values
 * are `undefined`, which the API allows and SDKs skip). `url` is the request target as received
 * (path and query); `route` is the matched route template, when the framework knows it this early.
 * The method is kept as received: a lower-case or unknown one is `_OTHER`, the original kept.
 */
export function serverRequestAttributes(req: IncomingMessage, target: string, route?: string): Attributes {
  const url = originForm(target);
  const method = req.method ?? 'GET';
  const known = isKnownMethod(method);
  const headers = req.headers;
  const socket = req.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | undefined;
  const secure = socket?.encrypted === true;
  const queryAt = url.indexOf('?');
  // HTTP/2 has no Host header: its `:authority` says the same.
  const host = headers.host ?? (headers[':authority'] as string | undefined);
  const portAt = host === undefined ? -1 : hostPortSeparator(host);
  return {
    [ATTR_HTTP_REQUEST_METHOD]: known ? method : '_OTHER',
    [ATTR_HTTP_REQUEST_METHOD_ORIGINAL]: known ? undefined : method,
    [ATTR_URL_PATH]: queryAt === -1 ? url : url.slice(0, queryAt),
    [ATTR_URL_QUERY]:
      queryAt === -1 || queryAt === url.length - 1 ? undefined : redactQuery(url.slice(queryAt + 1)),
    [ATTR_URL_SCHEME]: secure ? 'https' : 'http',
    [ATTR_HTTP_ROUTE]: route,
    [ATTR_SERVER_ADDRESS]:
      host === undefined || host === '' ? undefined : portAt === -1 ? host : host.slice(0, portAt),
    [ATTR_SERVER_PORT]:
      host === undefined || host === ''
        ? undefined
        : portAt === -1
          ? secure
            ? 443
            : 80
          : port(host, portAt),
    [ATTR_CLIENT_ADDRESS]: socket?.remoteAddress,
    [ATTR_USER_AGENT_ORIGINAL]: headers['user-agent'],
    [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion === '2.0' ? '2' : req.httpVersion,
  };
}

/**
 * The path and query of a request target: an absolute-form target (`GET http://host/p/1`, sent
 * to proxies) becomes `/p/1`; the origin form (`/p/1?q`) is returned as it is.
 */
function originForm(target: string): string {
  if (target.charCodeAt(0) === 0x2f) return target;
  const scheme = target.indexOf('://');
  if (scheme === -1) return target;
  const pathAt = target.indexOf('/', scheme + 3);
  const queryAt = target.indexOf('?', scheme + 3);
  if (pathAt !== -1 && (queryAt === -1 || pathAt < queryAt)) return target.slice(pathAt);
  return queryAt === -1 ? '/' : `/${target.slice(queryAt)}`;
}

/** Where `:port` starts in a Host header, or -1; an IPv6 literal keeps its brackets. */
function hostPortSeparator(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon === -1) return -1;
  const bracket = host.lastIndexOf(']');
  return bracket > colon ? -1 : colon;
}

function port(host: string, colon: number): number | undefined {
  const digits = host.length - colon - 1;
  if (digits < 1 || digits > 5) return undefined;
  let value = 0;
  for (let i = colon + 1; i < host.length; i++) {
    const code = host.charCodeAt(i) - 48;
    if (code < 0 || code > 9) return undefined;
    value = value * 10 + code;
  }
  return value <= 65535 ? value : undefined;
}
