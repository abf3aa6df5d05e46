import http from 'node:http';
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { injectHeaders, traceRequest } from '@tracewire/http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, closedPort, headerCount, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
const tracer = trace.getTracer('test');
let server: EchoServer;

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

/** Ends `request`, reads the response, resolves with its status once the request has closed. */
function finish(request: http.ClientRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    request.on('response', (response) => {
      response.resume();
      request.on('close', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    if (!request.writableEnded) request.end();
  });
}

describe('injectHeaders', () => {
  it('writes the active context into a node:http request’s headers, replacing a user traceparent', async () => {
    const parent = tracer.startSpan('parent');
    const baggage = propagation.createBaggage({ tenant: { value: 'acme' } });
    const active = propagation.setBaggage(trace.setSpan(context.active(), parent), baggage);
    const headers = context.with(active, () =>
      injectHeaders({
        'X-Custom': 'a',
        TraceParent: '00-11111111111111111111111111111111-2222222222222222-01',
      }),
    );
    await finish(http.request(server.url, { headers }));
    parent.end();
    const [received] = server.received;
    expect(received?.headers['x-custom']).toBe('a');
    expect(headerCount(received!.rawHeaders, 'traceparent')).toBe(1);
    expect(received?.headers.traceparent).toBe(
      `00-${parent.spanContext().traceId}-${parent.spanContext().spanId}-01`,
    );
    expect(received?.headers.baggage).toBe('tenant=acme');
  });

  it('leaves the headers alone when there is nothing to propagate', () => {
    const headers = { 'x-custom': 'a' };
    expect(injectHeaders(headers)).toBe(headers);
    expect(headers).toEqual({ 'x-custom': 'a' });
  });

  it('creates the header object when given none', () => {
    const span = tracer.startSpan('parent');
    const headers = context.with(trace.setSpan(context.active(), span), () => injectHeaders());
    span.end();
    expect(headers.traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
  });
});

describe('traceRequest', () => {
  const request = traceRequest()(http.request);
  const get = traceRequest()(http.get);

  it('makes a CLIENT span, the child of the active span, and sends its context', async () => {
    const parent = tracer.startSpan('parent');
    const status = await context.with(trace.setSpan(context.active(), parent), () =>
      finish(request(`${server.url}/items?x=1`, { method: 'PUT', headers: { 'x-custom': 'a' } })),
    );
    parent.end();
    expect(status).toBe(200);
    const client = (await tracing.waitForSpans(2)).find((span) => span.kind === SpanKind.CLIENT)!;
    expect(client.name).toBe('PUT');
    expect(parentSpanId(client)).toBe(parent.spanContext().spanId);
    expect(client.attributes).toMatchObject({
      [ATTR_HTTP_REQUEST_METHOD]: 'PUT',
      [ATTR_URL_FULL]: `${server.url}/items?x=1`,
      [ATTR_SERVER_ADDRESS]: '127.0.0.1',
      [ATTR_SERVER_PORT]: server.port,
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200,
    });
    expect(server.received[0]?.headers['x-custom']).toBe('a');
    expect(server.received[0]?.headers.traceparent).toBe(
      `00-${parent.spanContext().traceId}-${client.spanContext().spanId}-01`,
    );
  });

  const forms: Array<[string, () => http.ClientRequest]> = [
    ['url only (get)', () => get(`${server.url}/?status=404`)],
    ['options only', () => request({ host: '127.0.0.1', port: server.port, path: '/?status=404' })],
    [
      'url and raw header array',
      () =>
        request(`${server.url}/?status=404`, {
          // A raw header list gets no automatic Host header.
          headers: ['Host', `127.0.0.1:${server.port}`, 'X-Custom', 'a'],
        }),
    ],
    ['url and callback', () => get(new URL(`${server.url}/?status=404`), (response) => response.resume())],
  ];
  it.each(forms)('accepts every call form and records the status: %s', async (_form, make) => {
    const status = await finish(make());
    expect(status).toBe(404);
    const [client] = await tracing.waitForSpans(1);
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
    expect(client?.attributes[ATTR_ERROR_TYPE]).toBe('404');
    expect(client?.attributes[ATTR_URL_FULL]).toBe(`${server.url}/?status=404`);
    const [received] = server.received;
    expect(headerCount(received!.rawHeaders, 'traceparent')).toBe(1);
    expect(received?.headers.traceparent).toContain(client?.spanContext().spanId);
  });

  // node:http reads an `undefined` or `null` options argument as none, and still takes the
  // callback after it; traced, the options went in before it, and the callback was lost.
  it.each([
    ['undefined', undefined],
    ['null', null],
  ])('keeps the callback of request(url, %s, callback), as untraced', async (_form, none) => {
    const parent = tracer.startSpan('parent');
    const called = await context.with(
      trace.setSpan(context.active(), parent),
      () =>
        new Promise<[number | undefined, string | undefined]>((resolve, reject) => {
          const call = request as unknown as (
            url: string,
            options: null | undefined,
            callback: (response: http.IncomingMessage) => void,
          ) => http.ClientRequest;
          call(`${server.url}/?status=201`, none, (response) => {
            response.resume();
            resolve([response.statusCode, trace.getActiveSpan()?.spanContext().spanId]);
          })
            .on('error', reject)
            .end();
        }),
    );
    parent.end();
    expect(called).toEqual([201, parent.spanContext().spanId]);
    const client = (await tracing.waitForSpans(2)).find((span) => span.kind === SpanKind.CLIENT);
    expect(server.received[0]?.headers.traceparent).toContain(client?.spanContext().spanId);
  });

  // The URL string is read directly only when nothing changes where node:http sends the request;
  // each override below must still give the URL of the server that answered.
  const targets: Array<[string, () => http.ClientRequest, () => string]> = [
    [
      'a URL string alone',
      () => request(`${server.url}/a?b=1`, { method: 'GET' }),
      () => `${server.url}/a?b=1`,
    ],
    [
      'options.path over the URL',
      () => request(`${server.url}/ignored`, { path: '/p?q=1' }),
      () => `${server.url}/p?q=1`,
    ],
    [
      'options.port over the URL',
      () => request('http://127.0.0.1:1/x', { port: server.port }),
      () => `${server.url}/x`,
    ],
    [
      'options.hostname over the URL',
      () => request(`http://example.invalid:${server.port}/x`, { hostname: '127.0.0.1' }),
      () => `${server.url}/x`,
    ],
    [
      "an agent's default port for a URL without one",
      () => {
        const agent = new http.Agent();
        // A real property of node:http's agents, missing from @types/node's Agent.
        (agent as http.Agent & { defaultPort: number }).defaultPort = server.port;
        return request('http://127.0.0.1/x', { agent });
      },
      () => `${server.url}/x`,
    ],
  ];
  it.each(targets)(
    'names the server that answered in url.full and server.port: %s',
    async (_case, make, url) => {
      expect(await finish(make())).toBe(200);
      const [client] = await tracing.waitForSpans(1);
      expect(client?.attributes[ATTR_URL_FULL]).toBe(url());
      expect(client?.attributes[ATTR_SERVER_ADDRESS]).toBe('127.0.0.1');
      expect(client?.attributes[ATTR_SERVER_PORT]).toBe(server.port);
      expect(server.received).toHaveLength(1);
    },
  );

  it("leaves the app's own traceparent untouched, even a malformed one, and links only a valid one", async () => {
    const app = '00-11111111111111111111111111111111-2222222222222222-01';
    for (const [value, links] of [
      ['bogus', []],
      [app, ['2222222222222222']],
    ] as const) {
      await finish(request(`${server.url}/`, { headers: { Traceparent: value } }));
      const [client] = await tracing.waitForSpans(1);
      expect(server.received[0]?.headers.traceparent).toBe(value);
      expect(client?.links.map((link) => link.context.spanId)).toEqual(links);
      tracing.reset();
      server.received.length = 0;
    }
  });

  it("runs the request's and the response's listeners in the caller's context, and can remove them", async () => {
    const parent = tracer.startSpan('parent');
    const seen: Array<[string, string | undefined]> = [];
    const note = (event: string) => (): void => {
      seen.push([event, trace.getActiveSpan()?.spanContext().spanId]);
    };
    const removed = note('removed');
    await context.with(trace.setSpan(context.active(), parent), () => {
      const clientRequest = request(`${server.url}/`);
      clientRequest.on('socket', note('socket'));
      clientRequest.once('finish', note('finish'));
      clientRequest.on('close', removed);
      clientRequest.removeListener('close', removed);
      return new Promise<void>((resolve, reject) => {
        clientRequest.on('response', (response) => {
          note('response')();
          response.on('data', note('data'));
          response.on('end', () => {
            note('end')();
            resolve();
          });
        });
        clientRequest.on('error', reject);
        clientRequest.end();
      });
    });
    parent.end();
    expect(seen.map(([event]) => event)).toEqual(['socket', 'finish', 'response', 'data', 'end']);
    for (const [, spanId] of seen) expect(spanId).toBe(parent.spanContext().spanId);
  });

  it("sends from the caller's context, and on a socket kept alive for another caller's request runs this one's listeners in its caller's context", async () => {
    // Answers '/drop' with half its body, then drops the connection: those events come from the
    // socket, which keeps the context of the request it was opened for.
    const dropping = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': '100' });
      if (req.url === '/drop') {
        res.write('x');
        setTimeout(() => res.socket?.destroy(), 20);
      } else res.end('x'.repeat(100));
    });
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    const { port } = dropping.address() as import('node:net').AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const opened: Array<string | undefined> = [];
    const createConnection = agent.createConnection.bind(agent);
    agent.createConnection = ((...args: Parameters<typeof createConnection>) => {
      opened.push(trace.getActiveSpan()?.spanContext().spanId);
      return createConnection(...args);
    }) as typeof agent.createConnection;
    const first = tracer.startSpan('first caller');
    const second = tracer.startSpan('second caller');
    try {
      const status = await context.with(trace.setSpan(context.active(), first), () =>
        finish(request({ host: '127.0.0.1', port, path: '/', agent })),
      );
      expect(status).toBe(200);
      const seen: Array<[string, string | undefined]> = [];
      const note = (event: string) => (): void => {
        seen.push([event, trace.getActiveSpan()?.spanContext().spanId]);
      };
      await context.with(trace.setSpan(context.active(), second), () => {
        const clientRequest = request({ host: '127.0.0.1', port, path: '/drop', agent });
        return new Promise<void>((resolve) => {
          clientRequest.on('socket', note('socket'));
          clientRequest.on('response', (response) => {
            note('response')();
            response.on('data', note('data'));
            response.on('aborted', note('aborted'));
            response.on('error', note('response error'));
          });
          clientRequest.on('error', note('error'));
          clientRequest.on('close', () => {
            note('close')();
            resolve();
          });
          clientRequest.end();
        });
      });
      // One socket, opened from the first caller's context: not from its CLIENT span's.
      expect(opened).toEqual([first.spanContext().spanId]);
      expect(seen.map(([event]) => event)).toEqual(
        expect.arrayContaining(['socket', 'response', 'data', 'close']),
      );
      expect(seen.some(([event]) => event === 'aborted' || event.endsWith('error'))).toBe(true);
      for (const [event, spanId] of seen)
        expect([event, spanId]).toEqual([event, second.spanContext().spanId]);
      const clients = (await tracing.waitForSpans(2)).filter((span) => span.kind === SpanKind.CLIENT);
      expect(clients.map((span) => parentSpanId(span))).toEqual([
        first.spanContext().spanId,
        second.spanContext().spanId,
      ]);
    } finally {
      first.end();
      second.end();
      agent.destroy();
      await new Promise<void>((resolve) => {
        dropping.closeAllConnections();
        dropping.close(() => resolve());
      });
    }
  });

  it('switches no context for a request on a kept-alive socket (its events arrive in the caller’s)', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const parent = tracer.startSpan('parent');
    const get = (): Promise<number> =>
      context.with(trace.setSpan(context.active(), parent), () =>
        finish(request(`${server.url}/`, { agent })),
      );
    const api = context as { with: typeof context.with };
    let switches = 0;
    await get();
    // Counts the wrapper's own switches: not the test's, nor the span processor's export.
    api.with = function countedWith(this: typeof context, ...args: Parameters<typeof context.with>) {
      if (/packages[\\/]http[\\/](dist|src)[\\/]/.test(new Error().stack ?? '')) switches++;
      return Reflect.apply(Object.getPrototypeOf(context).with, this, args);
    } as typeof context.with;
    try {
      for (let i = 0; i < 20; i++) expect(await get()).toBe(200);
      expect(switches).toBe(0);
    } finally {
      delete (api as { with?: unknown }).with;
      parent.end();
      agent.destroy();
    }
  });

  it('dumps a response nobody listens to, as untraced: the request closes and its kept-alive socket serves the next', async () => {
    // Keeps idle connections open (the echo server's 100 ms would free the socket anyway).
    const patient = http.createServer((req, res) => {
      req.resume();
      res.end('x'.repeat(100_000));
    });
    patient.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => patient.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(patient.address() as import('node:net').AddressInfo).port}/`;
    const run = async (send: typeof http.request): Promise<string[]> => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const seen: string[] = [];
      try {
        // node:http dumps the body of a 'response' that `emit` reports no listener for.
        const ignored = send(url, { agent });
        const closed = new Promise<void>((resolve) => ignored.on('close', resolve));
        ignored.end();
        const next = finish(send(url, { agent }));
        const hung = new Promise<string>((resolve) => setTimeout(resolve, 5_000, 'still waiting')).then(
          String,
        );
        seen.push(await Promise.race([closed.then(() => 'first closed'), hung]));
        seen.push(await Promise.race([next.then((status) => `second ${status}`), hung]));
      } finally {
        agent.destroy();
      }
      return seen;
    };
    try {
      const bare = await run(http.request);
      expect(bare).toEqual(['first closed', 'second 200']);
      expect(await run(request)).toEqual(bare);
      expect(await tracing.waitForSpans(2)).toHaveLength(2);
    } finally {
      patient.closeAllConnections();
      await new Promise<void>((resolve) => patient.close(() => resolve()));
    }
  });

  it('throws for an odd-length raw header list exactly as untraced (no traceparent in the message)', () => {
    const thrown = (send: typeof http.request): unknown => {
      try {
        send(`${server.url}/`, { headers: ['a', '1', 'b'] as unknown as http.OutgoingHttpHeaders });
      } catch (error) {
        const { name, code, message } = error as NodeJS.ErrnoException;
        return { name, code, message };
      }
      return 'no error';
    };
    const parent = tracer.startSpan('parent');
    const [bare, traced] = context.with(trace.setSpan(context.active(), parent), () => [
      thrown(http.request),
      thrown(request),
    ]);
    parent.end();
    expect(bare).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(traced).toEqual(bare);
  });

  it('wrapped twice (an app and a library), makes one CLIENT span, whose context goes out', async () => {
    const twice = traceRequest()(traceRequest()(http.request));
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    expect(await finish(twice(`${server.url}/plain`))).toBe(200);
    expect(await finish(twice(`${server.url}/own`, { headers: { traceparent: own } }))).toBe(200);
    const spans = await tracing.waitForSpans(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(tracing.spans()).toHaveLength(2);
    const { traceId, spanId } = spans[0]!.spanContext();
    expect(server.received[0]?.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    expect(server.received[1]?.headers.traceparent).toBe(own);
    expect(spans[1]!.links.map((link) => link.context.spanId)).toEqual(['b7ad6b7169203331']);
  });

  it('wrapped twice, with headers as a flat list, makes one CLIENT span (the mark is on the merged list)', async () => {
    const twice = traceRequest()(traceRequest()(http.request));
    // A flat list is sent as it is: node:http adds no Host to it.
    const headers = ['host', 'localhost', 'x-app', 'kept'];
    expect(await finish(twice(`${server.url}/list`, { headers }))).toBe(200);
    const [span] = await tracing.waitForSpans(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(tracing.spans()).toHaveLength(1);
    const { traceId, spanId } = span!.spanContext();
    expect(server.received[0]?.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    expect(server.received[0]?.headers['x-app']).toBe('kept');
    // The caller's list is not the one sent, and carries no mark.
    expect(headers).toEqual(['host', 'localhost', 'x-app', 'kept']);
    expect(Object.getOwnPropertySymbols(headers)).toEqual([]);
  });

  it('wrapped twice with a library copying the options in between, makes one CLIENT span', async () => {
    const copying = (inner: typeof http.request) =>
      ((url: string, options: http.RequestOptions) =>
        inner(url, { ...options, timeout: 5000 })) as typeof http.request;
    const twice = traceRequest()(copying(traceRequest()(http.request)));
    expect(await finish(twice(`${server.url}/plain`, {}))).toBe(200);
    const [span] = await tracing.waitForSpans(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(tracing.spans()).toHaveLength(1);
    const { traceId, spanId } = span!.spanContext();
    expect(server.received[0]?.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
  });

  it('adds no listener to the request or the response: the app sees the listeners it added', async () => {
    const listeners = (emitter: NodeJS.EventEmitter) =>
      emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]);
    const seen = async (send: typeof http.request) => {
      const clientRequest = send(`${server.url}/plain`);
      const onRequest = listeners(clientRequest);
      const closed = new Promise((resolve) => clientRequest.on('close', resolve));
      const onResponse = await new Promise<unknown>((resolve, reject) => {
        clientRequest.on('response', (response) => {
          resolve(listeners(response));
          response.resume();
        });
        clientRequest.on('error', reject);
        clientRequest.end();
      });
      await closed;
      return { onRequest, onResponse };
    };
    const bare = await seen(http.request);
    const traced = await seen(request);
    expect(traced).toEqual(bare);
    expect(await tracing.waitForSpans(1)).toHaveLength(1);
  });

  it('observes a connection error without handling it for the app', async () => {
    const port = await closedPort();
    const clientRequest = request({ host: '127.0.0.1', port, path: '/' });
    // Only the app's listener handles the error: the wrapper sees it in its emit wrapper.
    expect(clientRequest.listenerCount('error')).toBe(0);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      clientRequest.on('error', resolve);
      clientRequest.end();
    });
    expect(error.code).toBe('ECONNREFUSED');
    const [client] = await tracing.waitForSpans(1);
    expect(client?.status.code).toBe(SpanStatusCode.ERROR);
    expect(client?.attributes[ATTR_ERROR_TYPE]).toBe('ECONNREFUSED');
  });

  it('ends a destroyed request’s span once, as ERROR', async () => {
    const clientRequest = request(`${server.url}/?delay=2000`);
    clientRequest.on('error', () => {});
    clientRequest.end();
    setTimeout(() => clientRequest.destroy(new Error('gave up')), 50);
    await new Promise((resolve) => clientRequest.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const spans = tracing.spans();
    expect(spans).toHaveLength(1);
    expect(spans[0]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(spans[0]?.attributes[ATTR_ERROR_TYPE]).toBe('Error');
  });

  it('returns the request function itself when disabled', () => {
    expect(traceRequest({ enabled: false })(http.request)).toBe(http.request);
  });
});
