// Found by trying @tracewire/http as an application would (installed from its tarball, against
// real servers), each named after its scenario; every one failed before its fix.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DiagLogLevel,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  context,
  diag,
  trace,
} from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_URL_FULL } from '@opentelemetry/semantic-conventions';
import { traceFetch, traceInterceptor, traceRequest } from '@tracewire/http';
import { Agent, Pool, ProxyAgent, fetch as undiciFetch, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
const warnings: string[] = [];
diag.setLogger(
  {
    warn: (message: string) => warnings.push(message),
    error: () => {},
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  DiagLogLevel.WARN,
);
let server: EchoServer;
/** Answers once its request's body is read, after `?delay=` ms, so a caller has time to abort. */
let slow: http.Server;
let slowUrl: string;

beforeAll(async () => {
  server = await startEchoServer();
  slow = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end('late'), 300).unref();
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
});
afterAll(async () => {
  slow.closeAllConnections();
  await new Promise((resolve) => slow.close(resolve));
  await server.close();
  diag.disable();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  server.received.length = 0;
  warnings.length = 0;
});

const clientSpans = () => tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);

/** A promise of `get`'s outcome (status, or the error), with the response drained. */
function nodeGet(
  get: typeof http.get,
  url: string | URL,
  options: http.RequestOptions = {},
): Promise<number | Error> {
  return new Promise((resolve) => {
    get(url, options, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    }).on('error', resolve);
  });
}

describe('node:http credentials show as REDACTED:REDACTED in url.full, and still go out', () => {
  const get = traceRequest()(http.get);
  it.each([
    ['a URL string', () => `http://alice:s3cret@127.0.0.1:${server.port}/p?x=1`, {}],
    ['a URL object', () => new URL(`http://alice:s3cret@127.0.0.1:${server.port}/p?x=1`), {}],
    ['the auth option', () => `http://127.0.0.1:${server.port}/p?x=1`, { auth: 'alice:s3cret' }],
  ])('given as %s', async (_how, url, options) => {
    expect(await nodeGet(get, url(), options)).toBe(200);
    expect(server.received[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('alice:s3cret').toString('base64')}`,
    );
    expect(clientSpans()[0]?.attributes[ATTR_URL_FULL]).toBe(
      `http://REDACTED:REDACTED@127.0.0.1:${server.port}/p?x=1`,
    );
  });

  it('a URL without credentials has none in url.full', async () => {
    expect(await nodeGet(get, `http://127.0.0.1:${server.port}/p?a@b`)).toBe(200);
    expect(clientSpans()[0]?.attributes[ATTR_URL_FULL]).toBe(`http://127.0.0.1:${server.port}/p?a@b`);
  });
});

describe("who aborted decides the span's status, not the error's name", () => {
  const agent = new Agent().compose(traceInterceptor());
  afterAll(() => agent.close());

  it('a proxy refusing the tunnel (undici names it an abort) is an ERROR', async () => {
    const proxy = http.createServer();
    proxy.on('connect', (_req, socket) =>
      socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'),
    );
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const dispatcher = new ProxyAgent({
      uri: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    }).compose(traceInterceptor());
    try {
      const error = await request(`${server.url}/tunnel`, { dispatcher }).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('UND_ERR_ABORTED');
      const [span] = clientSpans();
      expect(span?.status.code).toBe(SpanStatusCode.ERROR);
      expect(span?.attributes[ATTR_ERROR_TYPE]).toBe('UND_ERR_ABORTED');
    } finally {
      await dispatcher.close();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it.each([
    ['undici.request', (signal: AbortSignal) => request(`${slowUrl}/r`, { dispatcher: agent, signal })],
    ['undici.fetch', (signal: AbortSignal) => undiciFetch(`${slowUrl}/f`, { dispatcher: agent, signal })],
    ['traceFetch', (signal: AbortSignal) => traceFetch(globalThis.fetch)(`${slowUrl}/t`, { signal })],
  ])('%s aborted by the caller with a reason of its own is not an error', async (_client, send) => {
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    const pending = send(controller.signal).catch((e: unknown) => e);
    setTimeout(() => controller.abort(reason), 50);
    expect(await pending).toBe(reason);
    const [span] = clientSpans();
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.attributes[ATTR_ERROR_TYPE]).toBeUndefined();
  });

  it('undici.request timing out (AbortSignal.timeout) is still an ERROR', async () => {
    const error = await request(`${slowUrl}/timeout`, {
      dispatcher: agent,
      signal: AbortSignal.timeout(50),
    }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
    expect(clientSpans()[0]?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("node:http req.abort() is the caller's cancel, not an error", async () => {
    const get = traceRequest()(http.get);
    const outcome = await new Promise<string>((resolve) => {
      const req = get(`${slowUrl}/abort`, () => resolve('response'));
      req.on('error', (error) => resolve((error as NodeJS.ErrnoException).code ?? 'error'));
      req.on('close', () => resolve('closed'));
      setTimeout(() => req.abort(), 50);
    });
    expect(['ECONNRESET', 'closed']).toContain(outcome);
    const [span] = clientSpans();
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
    expect(span?.attributes[ATTR_ERROR_TYPE]).toBeUndefined();
  });
});

describe('a header the propagator writes that cannot be sent is left out; the request goes as untraced', () => {
  // Writes a valid traceparent, then a value with a line break and a framing header.
  const propagator: TextMapPropagator = {
    inject(_context, carrier, setter) {
      setter.set(carrier, 'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      setter.set(carrier, 'x-tenant', 'a\r\nx-injected: 1');
      setter.set(carrier, 'content-length', '999');
    },
    extract: (ctx) => ctx,
    fields: () => ['traceparent', 'x-tenant', 'content-length'],
  };
  const agent = new Agent().compose(traceInterceptor({ propagator }));
  afterAll(() => agent.close());
  const cannotSend: string[] = [];

  it.each([
    [
      'undici.request',
      async () => {
        const response = await request(`${server.url}/u`, { dispatcher: agent, method: 'POST', body: 'x' });
        await response.body.text();
        return response.statusCode;
      },
    ],
    [
      'traceFetch',
      async () => {
        const response = await traceFetch(globalThis.fetch, { propagator })(`${server.url}/f`, {
          method: 'POST',
          body: 'x',
        });
        await response.text();
        return response.status;
      },
    ],
    [
      'traceRequest',
      () =>
        new Promise<number | Error>((resolve) => {
          const req = traceRequest({ propagator })(http.request)(
            `${server.url}/h`,
            { method: 'POST' },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', resolve);
          req.end('x');
        }),
    ],
  ])('%s', async (_client, send) => {
    // Twice: a wrong content-length would break the kept-alive socket's next request.
    expect(await send()).toBe(200);
    expect(await send()).toBe(200);
    for (const { headers } of server.received) {
      expect(headers.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      expect(headers['x-tenant']).toBeUndefined();
      expect(headers['x-injected']).toBeUndefined();
      expect(headers['content-length']).toBe('1');
    }
    cannotSend.push(...warnings.filter((w) => w.includes('cannot be sent')));
  });

  it('reports it once through diag, not once a request', () => {
    expect(cannotSend).toHaveLength(1);
  });
});

describe("a header the propagator writes in mixed case replaces the caller's own spelling of it", () => {
  // Header names are case-insensitive: the caller's `x-tenant` and the propagator's `X-Tenant` are
  // one header, which must go out once, with the propagator's value (not joined with the caller's).
  const propagator: TextMapPropagator = {
    inject(_context, carrier, setter) {
      setter.set(carrier, 'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      setter.set(carrier, 'X-Tenant', 'from-propagator');
    },
    extract: (ctx) => ctx,
    fields: () => ['traceparent', 'X-Tenant'],
  };
  const agent = new Agent().compose(traceInterceptor({ propagator }));
  afterAll(() => agent.close());

  it.each([
    [
      'undici.request',
      async () => {
        const response = await request(`${server.url}/u`, {
          dispatcher: agent,
          headers: { 'x-tenant': 'mine' },
        });
        await response.body.text();
      },
    ],
    [
      'traceFetch',
      async () => {
        const response = await traceFetch(globalThis.fetch, { propagator })(`${server.url}/f`, {
          headers: { 'x-tenant': 'mine' },
        });
        await response.text();
      },
    ],
    [
      'traceRequest',
      () =>
        new Promise<void>((resolve, reject) => {
          const req = traceRequest({ propagator })(http.request)(
            `${server.url}/h`,
            { headers: { 'x-tenant': 'mine' } },
            (res) => {
              res.resume();
              res.on('end', resolve);
            },
          );
          req.on('error', reject);
          req.end();
        }),
    ],
  ])('%s', async (_client, send) => {
    await send();
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.headers['x-tenant']).toBe('from-propagator');
  });
});

it('a composed Pool called with a path only still makes its span and sends its traceparent', async () => {
  const pool = new Pool(server.url).compose(traceInterceptor());
  try {
    const response = await pool.request({ path: '/pooled', method: 'GET' });
    await response.body.text();
    const [span] = clientSpans();
    const { traceId, spanId } = span!.spanContext();
    expect(server.received[0]?.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    // No origin reached the interceptor (see the README): no URL attributes rather than wrong ones.
    expect(span!.attributes[ATTR_URL_FULL]).toBeUndefined();
  } finally {
    await pool.close();
  }
});

it('the span of a request sent from a span is its child, aborted or not', async () => {
  const parent = trace.getTracer('test').startSpan('parent');
  const controller = new AbortController();
  const agent = new Agent().compose(traceInterceptor());
  try {
    await context.with(trace.setSpan(context.active(), parent), async () => {
      const pending = request(`${slowUrl}/child`, { dispatcher: agent, signal: controller.signal }).catch(
        () => undefined,
      );
      setTimeout(() => controller.abort(), 20);
      await pending;
    });
  } finally {
    parent.end();
    await agent.close();
  }
  expect(clientSpans()[0]?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
});

describe('node:http: the response callback is the one node:http registers, as untraced', () => {
  it.each([
    ['request', http.request],
    ['get', http.get],
  ])(
    '%s: a callback the app removes again is not called, and the response is dumped',
    async (_name, send) => {
      const traced = traceRequest()(send);
      const outcome = (fn: typeof http.request) =>
        new Promise<[boolean, number, boolean]>((resolve, reject) => {
          let called = false;
          const callback = () => {
            called = true;
          };
          const req = fn(`${server.url}/removed`, callback);
          const listed = req.listeners('response').includes(callback);
          req.removeListener('response', callback);
          const left = req.listenerCount('response');
          req.on('error', reject).on('close', () => resolve([listed, left, called]));
          if (send === http.request) req.end();
        });
      const untraced = await outcome(send);
      expect(untraced).toEqual([true, 0, false]);
      expect(await outcome(traced)).toEqual(untraced);
      expect(clientSpans()).toHaveLength(1);
    },
  );
});

it.each([
  ['a string', 'x'],
  ['a number', 5],
  ['false', false],
])('node:http: %s in the options place is read as no options, as untraced', async (_what, odd) => {
  const call = traceRequest()(http.request) as unknown as (
    url: string,
    options: unknown,
    callback: (response: http.IncomingMessage) => void,
  ) => http.ClientRequest;
  const status = await new Promise<number | undefined>((resolve, reject) => {
    call(`${server.url}/odd`, odd, (response) => {
      response.resume();
      resolve(response.statusCode);
    })
      .on('error', reject)
      .end();
  });
  expect(status).toBe(200);
  expect(server.received[0]?.headers.traceparent).toContain(clientSpans()[0]?.spanContext().spanId);
});

it('node:http: a tracer whose spans throw on every write and on end still gives the app its request', async () => {
  const real = trace.getTracer('test');
  // End really ends (the span accounting sees it), then throws, as a broken SDK might.
  const tracer = {
    startSpan: (...args: Parameters<typeof real.startSpan>) => {
      const span = real.startSpan(...args);
      return new Proxy(span, {
        get(target, key) {
          if (key === 'setAttributes' || key === 'setAttribute' || key === 'setStatus')
            return () => {
              throw new Error(`span ${String(key)} failed`);
            };
          if (key === 'end')
            return () => {
              target.end();
              throw new Error('span end failed');
            };
          const value = Reflect.get(target, key);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
    startActiveSpan: real.startActiveSpan.bind(real),
  } as typeof real;
  const get = traceRequest({ tracer })(http.get);
  expect(await nodeGet(get, `${server.url}/broken-tracer`)).toBe(200);
  expect(server.received).toHaveLength(1);
  expect(warnings.some((message) => /a span of the registered tracer threw/.test(message))).toBe(true);
});
