// Conventions of issue #12 (items 10-13, 15), each named after its scenario.
import type { IncomingMessage } from 'node:http';
import { SpanKind } from '@opentelemetry/api';
import { traceInterceptor } from '@tracewire/http';
import { Client, Pool, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';
import { describeRequest } from '../src/client-attributes.js';
import { isKnownMethod, knownMethodsFrom } from '../src/http-method.js';
import { serverRequestAttributes } from '../src/server-attributes.js';
import { type EchoServer, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
let server: EchoServer;
beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(async () => {
  await server.close();
  await tracing.shutdown();
});
afterEach(() => tracing.reset());

function incoming(method: string): IncomingMessage {
  return {
    method,
    headers: { host: 'example.test:8080' },
    socket: { remoteAddress: '127.0.0.1' },
    httpVersion: '1.1',
  } as unknown as IncomingMessage;
}

describe('known methods', () => {
  it('QUERY is a known method on both sides', () => {
    expect(isKnownMethod('QUERY')).toBe(true);
    expect(describeRequest('QUERY', 'http://example.test/search').name).toBe('QUERY');
    expect(serverRequestAttributes(incoming('QUERY'), '/search')['http.request.method']).toBe('QUERY');
  });

  it('OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS replaces the whole list, case-sensitive', () => {
    const known = knownMethodsFrom('GET, PURGE,');
    expect([...known]).toEqual(['GET', 'PURGE']);
    expect(known.has('POST')).toBe(false);
    expect(known.has('purge')).toBe(false);
  });

  it('an empty OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS keeps the default list', () => {
    expect(knownMethodsFrom(' ').has('QUERY')).toBe(true);
    expect(knownMethodsFrom(undefined).has('PATCH')).toBe(true);
  });
});

it('server url.query redacts the same credentials as the client url.full, X-Amz-* included', () => {
  const query = 'X-Amz-Signature=s&X-Amz-Credential=c&X-Amz-Security-Token=t&sig=g&page=2';
  const server = serverRequestAttributes(incoming('GET'), `/file?${query}`)['url.query'];
  expect(server).toBe(
    'X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&sig=REDACTED&page=2',
  );
  const client = describeRequest('GET', `https://example.test/file?${query}`).attributes['url.full'];
  expect(String(client)).toContain(`?${server}`);
});

it('an absolute-form request target reports only its path and query', () => {
  const attributes = serverRequestAttributes(incoming('GET'), 'http://example.com/p/1?x=1');
  expect(attributes['url.path']).toBe('/p/1');
  expect(attributes['url.query']).toBe('x=1');
  expect(serverRequestAttributes(incoming('GET'), 'http://example.com')['url.path']).toBe('/');
});

it.each([
  ['Pool', (origin: string) => new Pool(origin)],
  ['Client', (origin: string) => new Client(origin)],
])(
  'a composed %s given the request URL reports url.full, server.address and server.port',
  async (_kind, make) => {
    const pool = make(server.url).compose(traceInterceptor());
    try {
      const response = await request(`${server.url}/pooled?q=1`, { dispatcher: pool });
      await response.body.text();
      const [span] = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT);
      expect(span!.attributes).toMatchObject({
        'url.full': `${server.url}/pooled?q=1`,
        'server.address': '127.0.0.1',
        'server.port': server.port,
      });
    } finally {
      await pool.close();
    }
  },
);
