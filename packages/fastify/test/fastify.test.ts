import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import traceContextDefault, { type FastifyTraceOptions, traceContext } from '@tracewire/fastify';
import Fastify from 'fastify';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CALLER_SPAN_ID,
  CALLER_TRACEPARENT,
  CALLER_TRACE_ID,
  rawRequest,
  slow,
} from '../../../test/support/http-server.js';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type AppOptions, type Started, buildApp, start } from './app.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());
afterEach(() => tracing.reset());

async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const response = await request(`${base}${path}`, { headers });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

async function oneSpan(): Promise<ReadableSpan> {
  const spans = await tracing.waitForSpans(1);
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

async function withApp<T>(options: AppOptions, fn: (app: Started) => Promise<T>): Promise<T> {
  const app = await start(options);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

let traced: Started;
let control: Started;

beforeAll(async () => {
  traced = await start({ tracing: {} });
  control = await start();
});
afterAll(async () => {
  await traced.close();
  await control.close();
});

it('exports the plugin as default and as traceContext', () => {
  expect(traceContextDefault).toBe(traceContext);
  expect((traceContext as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')]).toBe(
    '@tracewire/fastify',
  );
});

it('continues the caller trace in a SERVER span with the HTTP attributes (real listen)', async () => {
  const response = await get(traced.url, '/users/42?sig=secret&page=2', {
    traceparent: CALLER_TRACEPARENT,
    'user-agent': 'tracewire-test/1.0',
  });
  expect(response).toMatchObject({ status: 200, body: '{"id":"42"}' });
  const span = await oneSpan();
  expect(span.name).toBe('GET /users/:id');
  expect(span.kind).toBe(SpanKind.SERVER);
  expect(span.spanContext().traceId).toBe(CALLER_TRACE_ID);
  expect(parentSpanId(span)).toBe(CALLER_SPAN_ID);
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
  expect(span.attributes).toEqual({
    [ATTR_HTTP_REQUEST_METHOD]: 'GET',
    [ATTR_URL_PATH]: '/users/42',
    [ATTR_URL_QUERY]: 'sig=REDACTED&page=2',
    [ATTR_URL_SCHEME]: 'http',
    [ATTR_HTTP_ROUTE]: '/users/:id',
    [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
    [ATTR_SERVER_ADDRESS]: '127.0.0.1',
    [ATTR_SERVER_PORT]: traced.port,
    [ATTR_CLIENT_ADDRESS]: '127.0.0.1',
    [ATTR_USER_AGENT_ORIGINAL]: 'tracewire-test/1.0',
    [ATTR_NETWORK_PROTOCOL_VERSION]: '1.1',
  });
});

it('traces fastify.inject() requests too', async () => {
  const app = await buildApp({ tracing: {} });
  try {
    const response = await app.inject({ url: '/seen', headers: { traceparent: CALLER_TRACEPARENT } });
    const span = await oneSpan();
    expect(span.name).toBe('GET /seen');
    expect(parentSpanId(span)).toBe(CALLER_SPAN_ID);
    expect(response.json()).toMatchObject({ traceId: CALLER_TRACE_ID, spanId: span.spanContext().spanId });
  } finally {
    await app.close();
  }
});

it.each([
  ['/', 'GET /'],
  ['/early', 'GET /early'],
  ['/api/users/7', 'GET /api/users/:id'],
  ['/api/orgs/acme/members/9', 'GET /api/orgs/:orgId/members/:memberId'],
])('names the span after the route template: %s', async (path, name) => {
  expect((await get(traced.url, path)).status).toBe(200);
  const span = await oneSpan();
  expect(span.name).toBe(name);
  expect(span.attributes[ATTR_HTTP_ROUTE]).toBe(name.slice(4));
});

it('names an unmatched request by its method only, and a 404 is not an error', async () => {
  expect((await get(traced.url, '/no/such/path')).status).toBe(404);
  const span = await oneSpan();
  expect(span.name).toBe('GET');
  expect(span.attributes[ATTR_HTTP_ROUTE]).toBeUndefined();
  expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(404);
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
});

it('reports a method the conventions do not know as _OTHER and names the span HTTP', async () => {
  expect((await rawRequest(traced.port, 'PROPFIND', '/dav/notes')).status).toBe(207);
  const span = await oneSpan();
  expect(span.name).toBe('HTTP /dav/:name');
  expect(span.attributes[ATTR_HTTP_REQUEST_METHOD]).toBe('_OTHER');
  expect(span.attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL]).toBe('PROPFIND');
});

it.each([
  ['a callback handler', '/seen'],
  ['an async handler, after awaits', '/seen-async'],
])('makes the span active in %s', async (_case, path) => {
  const response = await get(traced.url, path, { traceparent: CALLER_TRACEPARENT });
  const span = await oneSpan();
  expect(JSON.parse(response.body)).toMatchObject({
    traceId: CALLER_TRACE_ID,
    spanId: span.spanContext().spanId,
  });
});

it('makes the span active in route hooks and in a handler after body parsing', async () => {
  const hooks = JSON.parse((await get(traced.url, '/seen-hooks')).body);
  const hookSpan = await oneSpan();
  expect(hooks).toMatchObject({ hook: hookSpan.spanContext().spanId, spanId: hookSpan.spanContext().spanId });
  tracing.reset();
  const response = await request(`${traced.url}/seen-json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hello: 'world' }),
  });
  const body = (await response.body.json()) as Record<string, unknown>;
  const span = await oneSpan();
  expect(body).toMatchObject({ body: { hello: 'world' }, spanId: span.spanContext().spanId });
});

it('makes the incoming baggage visible in the handler', async () => {
  const response = await get(traced.url, '/seen', {
    traceparent: CALLER_TRACEPARENT,
    baggage: 'userId=alice',
  });
  expect(JSON.parse(response.body).baggage).toEqual({ userId: 'alice' });
});

it.each([
  ['a synchronous throw', '/error/sync', 'TypeError'],
  ['a throw in an async handler', '/error/async', 'SyntaxError'],
])('marks %s ERROR with the exception class as error.type', async (_case, path, type) => {
  expect((await get(traced.url, path)).status).toBe(500);
  const span = await oneSpan();
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.attributes[ATTR_ERROR_TYPE]).toBe(type);
  expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(500);
  expect(span.events.map((event) => event.name)).toEqual(['exception']);
  expect(span.name).toBe(`GET ${path}`);
});

it('a thrown error that maps to a 4xx is not an error on the server', async () => {
  expect((await get(traced.url, '/error/client')).status).toBe(418);
  const span = await oneSpan();
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
  expect(span.attributes[ATTR_ERROR_TYPE]).toBeUndefined();
  expect(span.events).toEqual([]);
});

it.each([
  [503, SpanStatusCode.ERROR, '503'],
  [404, SpanStatusCode.UNSET, undefined],
  [201, SpanStatusCode.UNSET, undefined],
])('a %i response gives status %i', async (code, status, type) => {
  expect((await get(traced.url, `/status/${code}`)).status).toBe(code);
  const span = await oneSpan();
  expect(span.status.code).toBe(status);
  expect(span.attributes[ATTR_ERROR_TYPE]).toBe(type);
  expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(code);
});

it('ends the span of a streamed response only when the stream ends', async () => {
  const response = await request(`${traced.url}/stream`);
  const chunks: string[] = [];
  let spansWhileStreaming = -1;
  for await (const chunk of response.body) {
    if (chunks.length === 0) spansWhileStreaming = tracing.spans().length;
    chunks.push(String(chunk));
  }
  expect(chunks.join('')).toBe('one two three');
  expect(spansWhileStreaming).toBe(0);
  const span = await oneSpan();
  expect(span.name).toBe('GET /stream');
  expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(200);
});

it('ends the span of a hijacked reply written to the raw response', async () => {
  expect(await get(traced.url, '/hijacked')).toMatchObject({ status: 200, body: 'raw' });
  const span = await oneSpan();
  expect(span.name).toBe('GET /hijacked');
  expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(200);
});

it('ends the span of an aborted request exactly once, as an error', async () => {
  slow.reset();
  const controller = new AbortController();
  const pending = request(`${traced.url}/slow`, { signal: controller.signal }).catch((error: Error) => error);
  await slow.started.promise;
  controller.abort();
  expect(await pending).toBeInstanceOf(Error);
  const span = await oneSpan();
  expect(span.name).toBe('GET /slow');
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
  expect(span.attributes[ATTR_ERROR_TYPE]).toBe('aborted');
  slow.release.resolve();
  await slow.finished.promise;
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(tracing.spans()).toHaveLength(1);
});

it('ends the span of a timed-out connection exactly once, as an error', async () => {
  await withApp({ tracing: {}, connectionTimeout: 100 }, async (app) => {
    slow.reset();
    const pending = request(`${app.url}/slow`).catch((error: Error) => error);
    await slow.started.promise;
    expect(await pending).toBeInstanceOf(Error);
    const span = await oneSpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe('timeout');
    slow.release.resolve();
    await slow.finished.promise;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(tracing.spans()).toHaveLength(1);
  });
});

describe('bad trace headers: the request is served as without tracing', () => {
  const big = 'a'.repeat(100 * 1024);
  const valid = CALLER_TRACEPARENT;
  const cases: Array<[string, Array<[string, string | Buffer]>, 'new trace' | 'continued']> = [
    ['malformed traceparent', [['traceparent', 'not-a-traceparent']], 'new trace'],
    ['all-zero trace id', [['traceparent', `00-${'0'.repeat(32)}-${CALLER_SPAN_ID}-01`]], 'new trace'],
    ['version ff', [['traceparent', `ff-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`]], 'new trace'],
    [
      'duplicated traceparent',
      [
        ['traceparent', valid],
        ['traceparent', `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`],
      ],
      'new trace',
    ],
    ['oversized traceparent (100 KB)', [['traceparent', `00-${CALLER_TRACE_ID}-${big}`]], 'new trace'],
    [
      'non-ASCII bytes in traceparent',
      [['traceparent', Buffer.from(`00-${CALLER_TRACE_ID}\xe9\xff-01`, 'latin1')]],
      'new trace',
    ],
    [
      'malformed tracestate',
      [
        ['traceparent', valid],
        ['tracestate', '=,,==;;'],
      ],
      'continued',
    ],
    [
      'oversized tracestate (100 KB)',
      [
        ['traceparent', valid],
        ['tracestate', `k=${big}`],
      ],
      'continued',
    ],
    [
      'non-ASCII tracestate',
      [
        ['traceparent', valid],
        ['tracestate', Buffer.from('k=v\xe9', 'latin1')],
      ],
      'continued',
    ],
    [
      'malformed baggage',
      [
        ['traceparent', valid],
        ['baggage', ';;=,=%zz'],
      ],
      'continued',
    ],
    [
      'oversized baggage (100 KB)',
      [
        ['traceparent', valid],
        ['baggage', `k=${big}`],
      ],
      'continued',
    ],
    [
      'duplicated baggage',
      [
        ['traceparent', valid],
        ['baggage', 'a=1'],
        ['baggage', 'a=2'],
      ],
      'continued',
    ],
    [
      'non-ASCII baggage',
      [
        ['traceparent', valid],
        ['baggage', Buffer.from('k=\xe9\xff', 'latin1')],
      ],
      'continued',
    ],
  ];

  it.each(cases)('%s', async (_case, headers, outcome) => {
    const expected = await rawRequest(control.port, 'GET', '/users/5', headers);
    const actual = await rawRequest(traced.port, 'GET', '/users/5', headers);
    expect(actual.status).toBe(expected.status);
    expect(actual.body).toBe(expected.body);
    expect(actual.status).toBe(200);
    const span = await oneSpan();
    expect(span.name).toBe('GET /users/:id');
    if (outcome === 'new trace') {
      expect(span.spanContext().traceId).not.toBe(CALLER_TRACE_ID);
      expect(parentSpanId(span)).toBeUndefined();
    } else {
      expect(span.spanContext().traceId).toBe(CALLER_TRACE_ID);
      expect(parentSpanId(span)).toBe(CALLER_SPAN_ID);
    }
  });
});

describe('trust', () => {
  const callerHeaders = {
    traceparent: CALLER_TRACEPARENT,
    tracestate: 'vendor=opaque',
    baggage: 'userId=alice',
  };

  it("'restart' starts a new trace linked to the caller's context and drops its baggage", async () => {
    await withApp({ tracing: { trust: 'restart' } }, async (app) => {
      const seen = JSON.parse((await get(app.url, '/seen', callerHeaders)).body);
      const span = await oneSpan();
      expect(span.spanContext().traceId).not.toBe(CALLER_TRACE_ID);
      expect(parentSpanId(span)).toBeUndefined();
      expect(span.links).toHaveLength(1);
      expect(span.links[0]!.context).toMatchObject({ traceId: CALLER_TRACE_ID, spanId: CALLER_SPAN_ID });
      expect(span.links[0]!.context.traceState).toBeUndefined();
      expect(seen).toEqual({
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        baggage: {},
      });
    });
  });

  it("'ignore' starts a new trace with no link", async () => {
    await withApp({ tracing: { trust: 'ignore' } }, async (app) => {
      const seen = JSON.parse((await get(app.url, '/seen', callerHeaders)).body);
      const span = await oneSpan();
      expect(span.spanContext().traceId).not.toBe(CALLER_TRACE_ID);
      expect(span.links).toEqual([]);
      expect(seen.baggage).toEqual({});
    });
  });

  it('a trust function decides per request, from the Fastify request', async () => {
    const urls: string[] = [];
    const trust: FastifyTraceOptions['trust'] = (request) => {
      urls.push(request.url);
      return request.headers['x-internal'] === 'yes' ? 'continue' : 'restart';
    };
    await withApp({ tracing: { trust } }, async (app) => {
      await get(app.url, '/users/1', { ...callerHeaders, 'x-internal': 'yes' });
      const internal = await oneSpan();
      tracing.reset();
      await get(app.url, '/users/2', callerHeaders);
      const external = await oneSpan();
      expect(internal.spanContext().traceId).toBe(CALLER_TRACE_ID);
      expect(external.spanContext().traceId).not.toBe(CALLER_TRACE_ID);
      expect(external.links[0]!.context.spanId).toBe(CALLER_SPAN_ID);
      expect(urls).toEqual(['/users/1', '/users/2']);
    });
  });
});

it('ignore(request) leaves a request untraced and untouched', async () => {
  await withApp({ tracing: { ignore: (request) => request.url === '/health' } }, async (app) => {
    const health = await get(app.url, '/health', { traceparent: CALLER_TRACEPARENT });
    expect(JSON.parse(health.body)).toEqual({ ok: true, baggage: {} });
    await get(app.url, '/users/3');
    const span = await oneSpan();
    expect(span.name).toBe('GET /users/:id');
  });
});

it('registered twice, still makes one span per request', async () => {
  await withApp({ tracing: {}, twice: true }, async (app) => {
    const seen = JSON.parse((await get(app.url, '/seen')).body);
    const span = await oneSpan();
    expect(seen.spanId).toBe(span.spanContext().spanId);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(tracing.spans()).toHaveLength(1);
  });
});

describe('responseHeader', () => {
  it('is off by default', async () => {
    expect((await get(traced.url, '/users/1')).headers['server-timing']).toBeUndefined();
  });

  it.each([
    ['no Server-Timing of its own', '/users/1', ''],
    ['Server-Timing set by the route', '/timing', 'db;dur=53, '],
  ])('adds the server span after the app entries: %s', async (_case, path, before) => {
    await withApp({ tracing: { responseHeader: true } }, async (app) => {
      const expected = await get(control.url, path);
      const response = await get(app.url, path, { traceparent: CALLER_TRACEPARENT });
      expect(response.body).toBe(expected.body);
      const span = await oneSpan();
      const { traceId, spanId } = span.spanContext();
      expect(response.headers['server-timing']).toBe(
        `${before}traceparent;desc="00-${traceId}-${spanId}-01"`,
      );
    });
  });
});

describe('hooks', () => {
  it('requestHook, responseHook and spanName shape the span', async () => {
    const options: FastifyTraceOptions = {
      requestHook: (span, request) => span.setAttribute('app.tenant', String(request.headers['x-tenant'])),
      responseHook: (span, request, reply) =>
        span.setAttribute('app.answer', `${request.url} ${reply.statusCode}`),
      spanName: (request) => `${request.method} custom ${request.routeOptions.url}`,
    };
    await withApp({ tracing: options }, async (app) => {
      await get(app.url, '/users/1', { 'x-tenant': 'acme' });
      const span = await oneSpan();
      expect(span.name).toBe('GET custom /users/:id');
      expect(span.attributes).toMatchObject({ 'app.tenant': 'acme', 'app.answer': '/users/1 200' });
    });
  });

  const boom = () => {
    throw new Error('hook failure');
  };
  it.each([
    ['requestHook', { requestHook: boom }],
    ['responseHook', { responseHook: boom }],
    ['spanName', { spanName: boom }],
    ['ignore', { ignore: boom }],
    ['trust', { trust: boom }],
    ['spanName returning a non-string', { spanName: () => 42 as unknown as string }],
  ] as Array<[string, FastifyTraceOptions]>)(
    'a throwing %s does not break the request',
    async (_case, options) => {
      await withApp({ tracing: options }, async (app) => {
        const expected = await get(control.url, '/users/8');
        const response = await get(app.url, '/users/8', { traceparent: CALLER_TRACEPARENT });
        expect(response.status).toBe(expected.status);
        expect(response.body).toBe(expected.body);
        const span = await oneSpan();
        expect(span.name).toBe('GET /users/:id');
      });
    },
  );
});

describe('options', () => {
  it.each([
    ['trust', { trust: 'sometimes' }],
    ['ignore', { ignore: 'health' }],
    ['spanName', { spanName: 'name' }],
    ['requestHook', { requestHook: {} }],
    ['responseHook', { responseHook: 1 }],
    ['responseHeader', { responseHeader: 'yes' }],
  ])('a bad %s fails at register with a TypeError', async (name, options) => {
    const app = Fastify();
    const registered = app.register(traceContext, options as unknown as FastifyTraceOptions);
    const error = await Promise.resolve(registered).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    await app.close().catch(() => undefined);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(new RegExp(`^@tracewire/fastify: ${name}`));
  });
});
