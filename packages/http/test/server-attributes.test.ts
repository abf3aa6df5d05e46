// The SERVER span helpers the Express and Fastify adapters share, on a request object alone.
import type { IncomingMessage } from 'node:http';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import { describe, expect, it } from 'vitest';
import { nameMethod } from '../src/http-method.js';
import { serverRequestAttributes } from '../src/server-attributes.js';

function incoming(method: string, host: string | undefined, encrypted = false): IncomingMessage {
  return {
    method,
    headers: host === undefined ? {} : { host },
    socket: { remoteAddress: '127.0.0.1', encrypted },
    httpVersion: '1.1',
  } as unknown as IncomingMessage;
}

describe('serverRequestAttributes', () => {
  it('sets http.route only when the route is given, in the same set of keys', () => {
    const without = serverRequestAttributes(incoming('GET', 'example.com'), '/users/7?x=1');
    const withRoute = serverRequestAttributes(incoming('GET', 'example.com'), '/users/7?x=1', '/users/:id');
    expect(without[ATTR_HTTP_ROUTE]).toBeUndefined();
    expect(withRoute[ATTR_HTTP_ROUTE]).toBe('/users/:id');
    expect(Object.keys(withRoute)).toEqual(Object.keys(without));
    expect(withRoute).toMatchObject({ [ATTR_URL_PATH]: '/users/7', [ATTR_URL_QUERY]: 'x=1' });
  });

  it.each([
    ['a known method', 'GET', 'GET', undefined],
    ['an unknown method', 'PROPFIND', '_OTHER', 'PROPFIND'],
    ['a lower-case method (kept as received, not upper-cased)', 'get', '_OTHER', 'get'],
  ])('%s', (_case, method, normalised, original) => {
    const attributes = serverRequestAttributes(incoming(method, 'example.com'), '/');
    expect(attributes[ATTR_HTTP_REQUEST_METHOD]).toBe(normalised);
    expect(attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL]).toBe(original);
  });

  it.each([
    ['a host with a port', 'example.com:8080', false, 'example.com', 8080, 'http'],
    ['a host without a port over TLS', 'example.com', true, 'example.com', 443, 'https'],
    ['a port out of range', 'example.com:70000', false, 'example.com', undefined, 'http'],
    ['no Host header', undefined, false, undefined, undefined, 'http'],
  ])('%s', (_case, host, encrypted, address, port, scheme) => {
    const attributes = serverRequestAttributes(incoming('GET', host, encrypted), '/');
    expect(attributes[ATTR_SERVER_ADDRESS]).toBe(address);
    expect(attributes[ATTR_SERVER_PORT]).toBe(port);
    expect(attributes[ATTR_URL_SCHEME]).toBe(scheme);
  });

  it('redacts credential query values only', () => {
    const attributes = serverRequestAttributes(incoming('GET', 'example.com'), '/f?sig=abc&page=2');
    expect(attributes[ATTR_URL_QUERY]).toBe('sig=REDACTED&page=2');
    // A percent-encoded key is the same key to the app reading it.
    const encoded = serverRequestAttributes(incoming('GET', 'example.com'), '/f?s%69g=abc&page=%32');
    expect(encoded[ATTR_URL_QUERY]).toBe('s%69g=REDACTED&page=%32');
  });
});

describe('nameMethod', () => {
  it.each([
    ['a known method', 'DELETE', 'DELETE'],
    ['an unknown method', 'PROPFIND', 'HTTP'],
    ['a lower-case method', 'get', 'HTTP'],
    ['no method', undefined, 'HTTP'],
  ])('names %s', (_case, method, name) => {
    expect(nameMethod(method)).toBe(name);
  });
});
