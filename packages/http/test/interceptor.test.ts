import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { traceFetch, traceInterceptor } from '@tracewire/http';
import { Agent, type Dispatcher, getGlobalDispatcher, request, setGlobalDispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, closedPort, headerCount, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
const tracer = trace.getTracer('test');
let server: EchoServer;
const agent = new Agent();
const traced = agent.compose(traceInterceptor());

beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(async () => {
  await agent.close();
  await server.close();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  server.received.length = 0;
});

const userTraceparent = '00-11111111111111111111111111111111-2222222222222222-01';

describe('traceInterceptor', () => {
  const headerForms: Array<[string, () => Dispatcher.DispatchOptions['headers']]> = [
    ['record', () => ({ 'X-Custom': 'a', TraceParent: userTraceparent, tracestate: 'user=1' })],
    ['flat array', () => ['X-Custom', 'a', 'TRACEPARENT', userTraceparent]],
    [
      'Map',
      () =>
        new Map([
          ['X-Custom', 'a'],
          ['traceparent', userTraceparent],
        ]),
    ],
    [
      'generator',
      () =>
        (function* pairs(): Generator<[string, string]> {
          yield ['X-Custom', 'a'];
          yield ['Traceparent', userTraceparent];
        })(),
    ],
  ];
  it.each(headerForms)(
    "continues the active span, keeps headers and the app's own traceparent, linked from the span: %s",
    async (_form, make) => {
      const parent = tracer.startSpan('parent');
      const response = await context.with(trace.setSpan(context.active(), parent), () =>
        request(`${server.url}/path?q=1`, { dispatcher: traced, headers: make() }),
      );
      await response.body.json();
      parent.end();
      const client = tracing.spans().find((span) => span.kind === SpanKind.CLIENT)!;
      expect(client.name).toBe('GET');
      expect(parentSpanId(client)).toBe(parent.spanContext().spanId);
      expect(client.attributes[ATTR_URL_FULL]).toBe(`${server.url}/path?q=1`);
      expect(client.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(200);
      const [received] = server.received;
      expect(received?.headers['x-custom']).toBe('a');
      expect(headerCount(received!.rawHeaders, 'traceparent')).toBe(1);
      // The app's own context goes out untouched (never mixed with the span's), and is linked.
      expect(received?.headers.traceparent).toBe(userTraceparent);
      expect(received?.headers.tracestate).toBe(_form === 'record' ? 'user=1' : undefined);
      expect(client.links.map((link) => link.context.spanId)).toEqual(['2222222222222222']);
    },
  );

  it('marks a 500 response as ERROR', async () => {
    const response = await request(`${server.url}/?status=500`, {
      dispatcher: traced,
      method: 'POST',
      body: '{}',
    });
    await response.body.text();
    expect(response.statusCode).toBe(500);
    const [client] = await tracing.waitForSpans(1);
    expect(client?.name).toBe('POST');
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
    expect(client?.attributes[ATTR_ERROR_TYPE]).toBe('500');
  });

  it('marks a refused connection as ERROR and lets undici’s error through', async () => {
    const port = await closedPort();
    const plain = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent }).catch(
      (error: unknown) => error,
    );
    const error = await request(`http://127.0.0.1:${port}/`, { dispatcher: traced }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf((plain as Error).constructor);
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    const [client] = await tracing.waitForSpans(1);
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
    expect(client?.attributes[ATTR_ERROR_TYPE]).toBe('ECONNREFUSED');
  });

  it('ends an aborted request’s span once, not as an error (the caller cancelled on purpose)', async () => {
    const controller = new AbortController();
    const pending = request(`${server.url}/?delay=2000`, { dispatcher: traced, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await pending.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const spans = tracing.spans();
    expect(spans).toHaveLength(1);
    expect(spans[0]?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('traces the global fetch through setGlobalDispatcher, once even under traceFetch', async () => {
    const previous = getGlobalDispatcher();
    const globalAgent = new Agent().compose(traceInterceptor());
    setGlobalDispatcher(globalAgent);
    try {
      await (await fetch(`${server.url}/plain`)).text();
      await (await traceFetch(fetch)(`${server.url}/wrapped`)).text();
    } finally {
      setGlobalDispatcher(previous);
      await globalAgent.close();
    }
    const spans = tracing.spans();
    expect(spans.map((span) => span.name)).toEqual(['GET', 'GET']);
    expect(server.received).toHaveLength(2);
    for (const [index, received] of server.received.entries()) {
      expect(headerCount(received.rawHeaders, 'traceparent')).toBe(1);
      expect(String(received.headers.traceparent).split('-')[2]).toBe(spans[index]?.spanContext().spanId);
    }
  });

  it('runs every handler call and body listener in its own caller’s context on a socket another caller opened', async () => {
    const oneSocket = new Agent({ connections: 1 }).compose(traceInterceptor());
    try {
      // One request's handler, dispatched from `parent`'s context: the span active in each call.
      const handled = (parent: ReturnType<typeof tracer.startSpan>) =>
        new Promise<string[]>((resolve, reject) => {
          const seen: string[] = [];
          const note = (method: string) =>
            seen.push(`${method} ${trace.getActiveSpan()?.spanContext().spanId}`);
          const handler = {
            onRequestStart: () => note('start'),
            onResponseStart: () => note('headers'),
            onResponseData: () => note('data'),
            onResponseEnd: () => {
              note('end');
              resolve(seen);
            },
            onResponseError: (_controller: unknown, error: Error) => reject(error),
          };
          context.with(trace.setSpan(context.active(), parent), () =>
            oneSocket.dispatch({ origin: server.url, path: '/', method: 'GET' }, handler),
          );
        });
      const first = tracer.startSpan('first');
      const second = tracer.startSpan('second');
      const [seenFirst, seenSecond] = await Promise.all([handled(first), handled(second)]);
      for (const [seen, parent] of [
        [seenFirst, first],
        [seenSecond, second],
      ] as const) {
        expect(seen.length).toBeGreaterThanOrEqual(4);
        for (const entry of seen) expect(entry.split(' ')[1]).toBe(parent.spanContext().spanId);
      }
      // undici.request's body stream: its listeners too, and a request made from one is a child.
      const third = tracer.startSpan('third');
      const inListener = await context.with(trace.setSpan(context.active(), third), async () => {
        const response = await request(`${server.url}/`, { dispatcher: oneSocket });
        return new Promise<string | undefined>((resolve, reject) => {
          response.body.once('data', () => {
            const active = trace.getActiveSpan()?.spanContext().spanId;
            request(`${server.url}/nested`, { dispatcher: oneSocket })
              .then((nested) => nested.body.dump())
              .then(() => resolve(active), reject);
          });
          response.body.resume();
        });
      });
      expect(inListener).toBe(third.spanContext().spanId);
      for (const span of [first, second, third]) span.end();
      const clients = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
      expect(clients).toHaveLength(4);
      const nested = server.received.at(-1);
      const nestedSpan = clients.find((span) => span.attributes[ATTR_URL_FULL] === `${server.url}/nested`);
      expect(parentSpanId(nestedSpan!)).toBe(third.spanContext().spanId);
      expect(nested?.headers.traceparent).toContain(nestedSpan!.spanContext().spanId);
    } finally {
      await oneSocket.close();
    }
  });

  it('supports legacy (onHeaders / onComplete) handlers and returns their answers', async () => {
    const dispatch = traceInterceptor()(agent.dispatch.bind(agent));
    const calls: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const handler = {
        onConnect: () => calls.push('connect'),
        onHeaders: (status: number) => {
          calls.push(`headers ${status}`);
          return true;
        },
        onData: () => true,
        onComplete: () => {
          calls.push('complete');
          resolve();
        },
        onError: reject,
      };
      dispatch(
        { origin: server.url, path: '/?status=404', method: 'GET', headers: { 'x-custom': 'a' } },
        handler,
      );
    });
    await done;
    expect(calls).toEqual(['connect', 'headers 404', 'complete']);
    const [client] = tracing.spans();
    expect(client?.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(404);
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
    expect(server.received[0]?.headers['x-custom']).toBe('a');
    expect(server.received[0]?.headers.traceparent).toContain(client?.spanContext().spanId);
  });

  it('hands a legacy handler dispatched through a composed Agent the raw headers undici gives it bare', async () => {
    // The names of the response's raw headers, with their case and repeats (the echo server's
    // body, and so content-length, differs with the traceparent sent).
    const rawHeaders = (dispatcher: Dispatcher): Promise<string[]> =>
      new Promise((resolve, reject) => {
        let names: string[] = [];
        dispatcher.dispatch({ origin: server.url, path: '/', method: 'GET' }, {
          onConnect: () => {},
          onHeaders: (_status: number, raw: Buffer[]) => {
            names = raw.filter((_, at) => at % 2 === 0).map((entry) => String(entry));
            return true;
          },
          onData: () => true,
          onComplete: () => resolve(names),
          onError: reject,
        } as unknown as Dispatcher.DispatchHandler);
      });
    const bare = await rawHeaders(agent);
    const withTracing = await rawHeaders(traced);
    expect(bare).toContain('Content-Length');
    expect(withTracing).toEqual(bare);
    expect(tracing.spans().filter((span) => span.kind === SpanKind.CLIENT)).toHaveLength(1);
  });

  it('ends the span when a legacy handler gets an error', async () => {
    const dispatch = traceInterceptor()(agent.dispatch.bind(agent));
    const port = await closedPort();
    const error = await new Promise<unknown>((resolve) => {
      dispatch(
        { origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' },
        {
          onConnect: () => {},
          onHeaders: () => true,
          onData: () => true,
          onComplete: () => {},
          onError: resolve,
        },
      );
    });
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    const [client] = tracing.spans();
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('returns dispatch itself when disabled', () => {
    const dispatch = agent.dispatch.bind(agent);
    expect(traceInterceptor({ enabled: false })(dispatch)).toBe(dispatch);
  });
});
