import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { type FetchFunction, traceFetch } from '@tracewire/http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, type Received, closedPort, headerCount, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
let server: EchoServer;
const fetch = traceFetch();
const tracer = trace.getTracer('test');

beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(async () => {
  await server.close();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  server.received.length = 0;
});

function traceparentOf(received: Received): string[] {
  return String(received.headers.traceparent).split('-');
}

describe('traceFetch', () => {
  it('makes a CLIENT span, the child of the active span, and sends its context', async () => {
    const parent = tracer.startSpan('parent');
    const response = await context.with(trace.setSpan(context.active(), parent), () =>
      fetch(`${server.url}/orders?id=7`),
    );
    parent.end();
    expect(response.status).toBe(200);
    const [client] = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
    expect(client?.name).toBe('GET');
    expect(client?.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(parentSpanId(client!)).toBe(parent.spanContext().spanId);
    expect(client?.attributes).toMatchObject({
      [ATTR_HTTP_REQUEST_METHOD]: 'GET',
      [ATTR_URL_FULL]: `${server.url}/orders?id=7`,
      [ATTR_SERVER_ADDRESS]: '127.0.0.1',
      [ATTR_SERVER_PORT]: server.port,
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
    });
    expect(client?.status.code).toBe(SpanStatusCode.UNSET);
    const [version, traceId, parentId, flags] = traceparentOf(server.received[0]!);
    expect([version, traceId, parentId, flags]).toEqual([
      '00',
      parent.spanContext().traceId,
      client?.spanContext().spanId,
      '01',
    ]);
  });

  it('starts a new trace when no span is active', async () => {
    await fetch(server.url, { method: 'POST', body: 'x' });
    const [client] = tracing.spans();
    expect(client?.name).toBe('POST');
    expect(client?.parentSpanContext).toBeUndefined();
    expect(traceparentOf(server.received[0]!)[2]).toBe(client?.spanContext().spanId);
  });

  const userTraceparent = '00-11111111111111111111111111111111-2222222222222222-01';
  const headerForms: Array<[string, () => Parameters<typeof fetch>]> = [
    [
      'Headers instance',
      () => [server.url, { headers: new Headers({ 'X-Custom': 'a', TraceParent: userTraceparent }) }],
    ],
    ['plain object', () => [server.url, { headers: { 'X-Custom': 'a', TraceParent: userTraceparent } }]],
    [
      'array of pairs',
      () => [
        server.url,
        {
          headers: [
            ['X-Custom', 'a'],
            ['TRACEPARENT', userTraceparent],
          ],
        },
      ],
    ],
    [
      'Request input',
      () => [new Request(server.url, { headers: { 'x-custom': 'a', traceparent: userTraceparent } })],
    ],
  ];
  it.each(headerForms)(
    "keeps user headers and the user's own traceparent, linked: %s",
    async (_form, args) => {
      const call = args();
      const init = call[1];
      const before = init?.headers instanceof Headers ? [...init.headers] : JSON.stringify(init?.headers);
      await fetch(...call);
      const [received] = server.received;
      expect(received?.headers['x-custom']).toBe('a');
      expect(headerCount(received!.rawHeaders, 'traceparent')).toBe(1);
      expect(received?.headers.traceparent).toBe(userTraceparent);
      expect(tracing.spans()[0]?.links.map((link) => link.context.spanId)).toEqual(['2222222222222222']);
      // The caller's headers are left as they were.
      const after = init?.headers instanceof Headers ? [...init.headers] : JSON.stringify(init?.headers);
      expect(after).toEqual(before);
    },
  );

  it("keeps the user's tracestate and baggage next to the user's own traceparent (one context, never mixed)", async () => {
    const baggage = propagation.createBaggage({ tenant: { value: 'acme' } });
    await context.with(propagation.setBaggage(context.active(), baggage), () =>
      fetch(server.url, {
        headers: { traceparent: userTraceparent, tracestate: 'user=1', baggage: 'app=1' },
      }),
    );
    expect(server.received[0]?.headers.traceparent).toBe(userTraceparent);
    expect(server.received[0]?.headers.tracestate).toBe('user=1');
    expect(server.received[0]?.headers.baggage).toBe('app=1');
  });

  it("without a traceparent of the user's, drops the user's tracestate and replaces a baggage the context has", async () => {
    const baggage = propagation.createBaggage({ tenant: { value: 'acme' } });
    await context.with(propagation.setBaggage(context.active(), baggage), () =>
      fetch(server.url, { headers: { tracestate: 'user=1', baggage: 'app=1', 'x-custom': 'a' } }),
    );
    await fetch(server.url, { headers: { baggage: 'app=1' } });
    const [withBaggage, without] = server.received;
    const [client] = tracing.spans();
    expect(withBaggage?.headers.traceparent).toContain(client?.spanContext().spanId);
    expect(withBaggage?.headers.tracestate).toBeUndefined();
    expect(withBaggage?.headers.baggage).toBe('tenant=acme');
    expect(withBaggage?.headers['x-custom']).toBe('a');
    // No baggage in the context: nothing written in its place, the user's own goes out.
    expect(without?.headers.baggage).toBe('app=1');
  });

  it('propagates baggage from the active context', async () => {
    const baggage = propagation.createBaggage({ tenant: { value: 'acme' }, userId: { value: 'a b,c' } });
    await context.with(propagation.setBaggage(context.active(), baggage), () => fetch(server.url));
    const header = String(server.received[0]?.headers.baggage);
    expect(header.split(',').sort()).toEqual(['tenant=acme', 'userId=a%20b%2Cc']);
  });

  it.each([404, 500])('marks status %i as ERROR with error.type', async (status) => {
    const response = await fetch(`${server.url}/?status=${status}`);
    expect(response.status).toBe(status);
    const [client] = tracing.spans();
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
    expect(client?.attributes[ATTR_ERROR_TYPE]).toBe(String(status));
    expect(client?.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(status);
  });

  it('marks a refused connection as ERROR and rethrows fetch’s own error', async () => {
    const port = await closedPort();
    const error = await fetch(`http://127.0.0.1:${port}/`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toBe('fetch failed');
    expect(((error as TypeError).cause as { code?: string }).code).toBe('ECONNREFUSED');
    const [client] = tracing.spans();
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
    expect(client?.attributes[ATTR_ERROR_TYPE]).toBe('ECONNREFUSED');
    expect(client?.events.map((event) => event.name)).toEqual(['exception']);
  });

  it('returns the very response and rethrows the very error of the wrapped fetch', async () => {
    const response = new Response('ok', { status: 201 });
    const failure = new Error('boom');
    const ok = traceFetch<FetchFunction>(async () => response);
    const broken = traceFetch<FetchFunction>(async () => {
      throw failure;
    });
    await expect(ok('http://example.test/')).resolves.toBe(response);
    await expect(broken('http://example.test/')).rejects.toBe(failure);
    const [first, second] = tracing.spans();
    expect(first?.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(201);
    expect(second?.attributes[ATTR_ERROR_TYPE]).toBe('Error');
  });

  it('ends an aborted fetch’s span once, not as an error (the caller cancelled on purpose)', async () => {
    const controller = new AbortController();
    const pending = fetch(`${server.url}/?delay=2000`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await pending.catch((caught: unknown) => caught);
    expect((error as Error).name).toBe('AbortError');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const spans = tracing.spans();
    expect(spans).toHaveLength(1);
    expect(spans[0]?.status.code).toBe(SpanStatusCode.UNSET);
    expect(spans[0]?.attributes[ATTR_ERROR_TYPE]).toBeUndefined();
  });

  it('names an unknown method HTTP and keeps the original', async () => {
    const seen: Array<string | undefined> = [];
    const traced = traceFetch(async (_input, init) => {
      seen.push(init?.method);
      return new Response(null, { status: 204 });
    });
    await traced('http://example.test/', { method: 'purge' });
    expect(seen).toEqual(['purge']);
    const [client] = tracing.spans();
    expect(client?.name).toBe('HTTP');
    expect(client?.attributes).toMatchObject({
      [ATTR_HTTP_REQUEST_METHOD]: '_OTHER',
      'http.request.method_original': 'purge',
    });
  });

  it('redacts signature query values in url.full', async () => {
    await traceFetch<FetchFunction>(async () => new Response(null))(
      'https://example.test:8443/a?sig=secret&x=1',
    );
    expect(tracing.spans()[0]?.attributes).toMatchObject({
      [ATTR_URL_FULL]: 'https://example.test:8443/a?sig=REDACTED&x=1',
      [ATTR_SERVER_PORT]: 8443,
    });
  });

  it('sends the request untraced when the propagator throws', async () => {
    const traced = traceFetch(globalThis.fetch, {
      propagator: {
        inject() {
          throw new Error('broken propagator');
        },
        extract: (ctx) => ctx,
        fields: () => ['traceparent'],
      },
    });
    const response = await traced(server.url, { headers: { 'x-custom': 'kept' } });
    expect(response.status).toBe(200);
    expect(server.received[0]?.headers['x-custom']).toBe('kept');
    expect(server.received[0]?.headers.traceparent).toBeUndefined();
  });

  it('returns the fetch itself when disabled', () => {
    const original = async (): Promise<Response> => new Response(null);
    expect(traceFetch(original, { enabled: false })).toBe(original);
  });
});
