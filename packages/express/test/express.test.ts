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
import { type ExpressTraceOptions, traceContext } from '@tracewire/express';
import express from 'express';
import express4 from 'express4';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CALLER_SPAN_ID,
  CALLER_TRACEPARENT,
  CALLER_TRACE_ID,
  type Listening,
  listen,
  rawRequest,
  slow,
} from '../../../test/support/http-server.js';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type ExpressModule, buildApp } from './app.js';

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

/** Serves an app built with `options` for the body of `fn`. */
async function withApp<T>(
  ex: ExpressModule,
  options: Parameters<typeof buildApp>[1],
  fn: (app: Listening) => Promise<T>,
): Promise<T> {
  const app = await listen(buildApp(ex, options));
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

const versions: Array<[string, ExpressModule, number]> = [
  ['Express 5', express, 5],
  ['Express 4', express4 as ExpressModule, 4],
];

describe.each(versions)('%s', (_label, ex, major) => {
  let traced: Listening;
  let control: Listening;

  beforeAll(async () => {
    traced = await listen(buildApp(ex, { tracing: {} }));
    control = await listen(buildApp(ex));
  });
  afterAll(async () => {
    await traced.close();
    await control.close();
  });

  it('continues the caller trace in a SERVER span with the HTTP attributes', async () => {
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
    expect(span.ended).toBe(true);
  });

  it.each([
    ['/', 'GET /'],
    ['/books', 'GET /books'],
    ['/api/users/7', 'GET /api/users/:id'],
    ['/orgs/acme/members/9', 'GET /orgs/:orgId/members/:memberId'],
    ['/v1/items/3', 'GET /v1/items/:itemId'],
    ['/v2/items/3', 'GET /v2/items/:itemId'],
    ['/admin/stats', 'GET /admin/stats'],
    ['/admin/reports/2024', 'GET /admin/reports/:year'],
  ])('names the span after the route template: %s', async (path, name) => {
    const response = await get(traced.url, path);
    expect(response.status).toBe(200);
    const span = await oneSpan();
    expect(span.name).toBe(name);
    expect(span.attributes[ATTR_HTTP_ROUTE]).toBe(name.slice(4));
    expect(span.attributes[ATTR_URL_PATH]).toBe(path);
  });

  it('keeps the route template stable across requests with other parameter values', async () => {
    for (const org of ['a', 'b', 'c']) await get(traced.url, `/orgs/${org}/members/${org}1`);
    const spans = await tracing.waitForSpans(3);
    expect(new Set(spans.map((span) => span.name))).toEqual(new Set(['GET /orgs/:orgId/members/:memberId']));
  });

  it('names an unmatched request by its method only, and a 404 is not an error', async () => {
    const response = await get(traced.url, '/no/such/path');
    expect(response.status).toBe(404);
    const span = await oneSpan();
    expect(span.name).toBe('GET');
    expect(span.attributes[ATTR_HTTP_ROUTE]).toBeUndefined();
    expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(404);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('reports a method the conventions do not know as _OTHER and names the span HTTP', async () => {
    const response = await rawRequest(traced.port, 'PROPFIND', '/dav/notes');
    expect(response.status).toBe(207);
    const span = await oneSpan();
    expect(span.name).toBe('HTTP /dav/:name');
    expect(span.attributes[ATTR_HTTP_REQUEST_METHOD]).toBe('_OTHER');
    expect(span.attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL]).toBe('PROPFIND');
  });

  it.each([
    ['a synchronous handler', '/seen'],
    ['an async handler, after awaits', '/seen-async'],
  ])('makes the span active in %s', async (_case, path) => {
    const response = await get(traced.url, path, { traceparent: CALLER_TRACEPARENT });
    const span = await oneSpan();
    expect(JSON.parse(response.body)).toMatchObject({
      traceId: CALLER_TRACE_ID,
      spanId: span.spanContext().spanId,
    });
  });

  it('makes the span active in a handler after the body parser', async () => {
    const response = await request(`${traced.url}/seen-json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: CALLER_TRACEPARENT },
      body: JSON.stringify({ hello: 'world' }),
    });
    const body = (await response.body.json()) as Record<string, unknown>;
    const span = await oneSpan();
    expect(body).toMatchObject({ body: { hello: 'world' }, spanId: span.spanContext().spanId });
    expect(span.name).toBe('POST /seen-json');
  });

  it('makes the incoming baggage visible in the handler', async () => {
    const response = await get(traced.url, '/seen', {
      traceparent: CALLER_TRACEPARENT,
      baggage: 'userId=alice,tenant=acme%20corp',
    });
    expect(JSON.parse(response.body).baggage).toEqual({ userId: 'alice', tenant: 'acme corp' });
  });

  const errorCases: Array<[string, string, string, boolean]> = [
    ['a synchronous throw', '/error/sync', 'TypeError', true],
    ['next(err)', '/error/next', 'RangeError', true],
  ];
  // Express 4 does not catch rejected promises; Express 5 does.
  if (major === 5) errorCases.push(['a throw in an async handler', '/error/async', 'SyntaxError', true]);
  it.each(errorCases)('marks %s ERROR with the exception class as error.type', async (_case, path, type) => {
    const response = await get(traced.url, path);
    expect(response.status).toBe(500);
    const span = await oneSpan();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe(type);
    expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(500);
    expect(span.events.map((event) => event.name)).toEqual(['exception']);
    expect(span.name).toBe(`GET ${path}`);
  });

  it('without traceErrors(), marks a thrown error ERROR with the status code as error.type', async () => {
    await withApp(ex, { tracing: {}, recordErrors: false }, async (app) => {
      const response = await get(app.url, '/error/sync');
      expect(response.status).toBe(500);
      const span = await oneSpan();
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes[ATTR_ERROR_TYPE]).toBe('500');
    });
  });

  it.each([
    [503, SpanStatusCode.ERROR, '503'],
    [500, SpanStatusCode.ERROR, '500'],
    [404, SpanStatusCode.UNSET, undefined],
    [400, SpanStatusCode.UNSET, undefined],
    [201, SpanStatusCode.UNSET, undefined],
  ])('a %i response gives status %i', async (code, status, type) => {
    const response = await get(traced.url, `/status/${code}`);
    expect(response.status).toBe(code);
    const span = await oneSpan();
    expect(span.status.code).toBe(status);
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe(type);
    expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(code);
    expect(span.name).toBe('GET /status/:code');
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

  it('ends the span of an aborted request exactly once, as an error', async () => {
    slow.reset();
    const controller = new AbortController();
    const pending = request(`${traced.url}/slow`, { signal: controller.signal }).catch(
      (error: Error) => error,
    );
    await slow.started.promise;
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    const span = await oneSpan();
    expect(span.name).toBe('GET /slow');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes[ATTR_ERROR_TYPE]).toBe('aborted');
    expect(span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBeUndefined();
    // The handler answers late, into a closed connection: still one span.
    slow.release.resolve();
    await slow.finished.promise;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(tracing.spans()).toHaveLength(1);
  });

  describe('bad trace headers: the request is served as without tracing', () => {
    const big = 'a'.repeat(100 * 1024);
    const valid = CALLER_TRACEPARENT;
    const cases: Array<[string, Array<[string, string | Buffer]>, 'new trace' | 'continued']> = [
      ['malformed traceparent', [['traceparent', 'not-a-traceparent']], 'new trace'],
      ['all-zero trace id', [['traceparent', `00-${'0'.repeat(32)}-${CALLER_SPAN_ID}-01`]], 'new trace'],
      ['version ff', [['traceparent', `ff-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`]], 'new trace'],
      ['upper-case hex', [['traceparent', valid.toUpperCase()]], 'new trace'],
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
        'duplicated tracestate',
        [
          ['traceparent', valid],
          ['tracestate', 'a=1'],
          ['tracestate', 'A=2'],
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
      await withApp(ex, { tracing: { trust: 'restart' } }, async (app) => {
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
      await withApp(ex, { tracing: { trust: 'ignore' } }, async (app) => {
        const seen = JSON.parse((await get(app.url, '/seen', callerHeaders)).body);
        const span = await oneSpan();
        expect(span.spanContext().traceId).not.toBe(CALLER_TRACE_ID);
        expect(parentSpanId(span)).toBeUndefined();
        expect(span.links).toEqual([]);
        expect(seen.baggage).toEqual({});
      });
    });

    it('a trust function decides per request, from the Express request', async () => {
      const paths: string[] = [];
      const trust: ExpressTraceOptions['trust'] = (req) => {
        paths.push(req.path);
        return req.get('x-internal') === 'yes' ? 'continue' : 'restart';
      };
      await withApp(ex, { tracing: { trust } }, async (app) => {
        await get(app.url, '/users/1', { ...callerHeaders, 'x-internal': 'yes' });
        const internal = await oneSpan();
        tracing.reset();
        await get(app.url, '/users/2', callerHeaders);
        const external = await oneSpan();
        expect(internal.spanContext().traceId).toBe(CALLER_TRACE_ID);
        expect(internal.links).toEqual([]);
        expect(external.spanContext().traceId).not.toBe(CALLER_TRACE_ID);
        expect(external.links[0]!.context.spanId).toBe(CALLER_SPAN_ID);
        expect(paths).toEqual(['/users/1', '/users/2']);
      });
    });
  });

  it('ignore(req) leaves a request untraced and its chain untouched', async () => {
    const ignore = (req: { path: string }) => req.path === '/health';
    await withApp(ex, { tracing: { ignore } }, async (app) => {
      const health = await get(app.url, '/health', { traceparent: CALLER_TRACEPARENT });
      expect(JSON.parse(health.body)).toEqual({ ok: true, baggage: {} });
      await get(app.url, '/users/3');
      const span = await oneSpan();
      expect(span.name).toBe('GET /users/:id');
    });
  });

  it('registered twice, still makes one span per request', async () => {
    await withApp(ex, { tracing: {}, twice: true }, async (app) => {
      const seen = JSON.parse((await get(app.url, '/seen')).body);
      const span = await oneSpan();
      expect(seen.spanId).toBe(span.spanContext().spanId);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(tracing.spans()).toHaveLength(1);
    });
  });

  describe('responseHeader', () => {
    it('is off by default', async () => {
      const response = await get(traced.url, '/users/1');
      expect(response.headers['server-timing']).toBeUndefined();
    });

    it.each([
      ['no Server-Timing of its own', '/users/1', ''],
      ['Server-Timing set with setHeader', '/timing', 'db;dur=53, '],
      ['Server-Timing passed to writeHead', '/timing-write-head', 'app;dur=1, '],
    ])('adds the server span after the app entries: %s', async (_case, path, before) => {
      await withApp(ex, { tracing: { responseHeader: true } }, async (app) => {
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
      const options: ExpressTraceOptions = {
        requestHook: (span, req) => span.setAttribute('app.tenant', req.get('x-tenant') ?? 'none'),
        responseHook: (span, req, res) => span.setAttribute('app.answer', `${req.path} ${res.statusCode}`),
        spanName: (req) => `${req.method} custom ${req.route ? 'routed' : 'unrouted'}`,
      };
      await withApp(ex, { tracing: options }, async (app) => {
        await get(app.url, '/users/1', { 'x-tenant': 'acme' });
        const span = await oneSpan();
        expect(span.name).toBe('GET custom routed');
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
    ] as Array<[string, ExpressTraceOptions]>)(
      'a throwing %s does not break the request',
      async (_case, options) => {
        await withApp(ex, { tracing: options }, async (app) => {
          const expected = await get(control.url, '/users/8');
          const response = await get(app.url, '/users/8', { traceparent: CALLER_TRACEPARENT });
          expect(response.status).toBe(expected.status);
          expect(response.body).toBe(expected.body);
          const span = await oneSpan();
          expect(span.name).toBe('GET /users/:id');
          expect(span.ended).toBe(true);
        });
      },
    );
  });
});

describe('options', () => {
  it.each([
    ['trust', { trust: 'sometimes' }],
    ['ignore', { ignore: 'health' }],
    ['spanName', { spanName: 'name' }],
    ['requestHook', { requestHook: {} }],
    ['responseHook', { responseHook: 1 }],
    ['responseHeader', { responseHeader: 'yes' }],
    ['options', null],
  ])('a bad %s fails when the middleware is created', (name, options) => {
    expect(() => traceContext(options as unknown as ExpressTraceOptions)).toThrow(TypeError);
    expect(() => traceContext(options as unknown as ExpressTraceOptions)).toThrow(
      new RegExp(`^@tracewire/express: ${name}`),
    );
  });
});
