// Regression tests of issue #12 for the outgoing wrappers, each named after its scenario.
import http from 'node:http';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import { injectHeaders, traceFetch, traceInterceptor, traceRequest } from '@tracewire/http';
import { Agent, interceptors, request } from 'undici';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
const tracer = trace.getTracer('test');
let server: EchoServer;
let flaky: http.Server;
let flakyUrl: string;
const flakyHeaders: http.IncomingHttpHeaders[] = [];
const BIG_BODY = 32 * 1024 * 1024;

beforeAll(async () => {
  server = await startEchoServer();
  // Fails the first two requests with 503, then answers; /redirect sends a 302 to /landed.
  flaky = http.createServer((req, res) => {
    flakyHeaders.push(req.headers);
    req.resume();
    if (req.url === '/big') {
      // More than undici's and the sockets' buffers hold: an unread body stalls the transfer.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.alloc(BIG_BODY));
    } else if (req.url === '/early-hints') {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(500).end('failed');
    } else if (req.url === '/redirect') {
      res.writeHead(302, { location: '/landed' }).end();
    } else if (req.url === '/retry' && flakyHeaders.length < 3) {
      res.writeHead(503).end('busy');
    } else {
      res.writeHead(200).end('ok');
    }
  });
  flaky.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
  flakyUrl = `http://127.0.0.1:${(flaky.address() as { port: number }).port}`;
});
afterAll(async () => {
  await server.close();
  flaky.closeAllConnections();
  await new Promise((resolve) => flaky.close(resolve));
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  server.received.length = 0;
  flakyHeaders.length = 0;
});

it('a traceFetch call made from a traceRequest response callback continues the trace', async () => {
  const request = traceRequest()(http.get);
  const fetch = traceFetch();
  const parent = tracer.startSpan('parent');
  await context.with(trace.setSpan(context.active(), parent), async () => {
    await new Promise<void>((resolve, reject) => {
      request(`${server.url}/first`, (response) => {
        response.resume();
        fetch(`${server.url}/second`)
          .then((second) => second.text())
          .then(() => resolve(), reject);
      }).on('error', reject);
    });
  });
  parent.end();
  expect(server.received).toHaveLength(2);
  expect(server.received[1]!.headers.traceparent).toMatch(new RegExp(`^00-${parent.spanContext().traceId}-`));
  const clients = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
  expect(clients).toHaveLength(2);
  for (const client of clients) expect(parentSpanId(client)).toBe(parent.spanContext().spanId);
});

it('retries by undici interceptors.retry() composed outside traceInterceptor each carry a traceparent', async () => {
  const agent = new Agent().compose(
    traceInterceptor(),
    interceptors.retry({ maxRetries: 3, minTimeout: 1, timeoutFactor: 1, statusCodes: [503] }),
  );
  try {
    const response = await request(`${flakyUrl}/retry`, { dispatcher: agent });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    expect(flakyHeaders.map((headers) => typeof headers.traceparent)).toEqual(['string', 'string', 'string']);
    const clients = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
    expect(clients.map((span) => span.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE])).toEqual([503, 503, 200]);
  } finally {
    await agent.close();
  }
});

it('two traceInterceptors with retry() and dns() between them make one CLIENT span for the call and its retries', async () => {
  const agent = new Agent().compose(
    traceInterceptor(),
    interceptors.dns(),
    interceptors.retry({ maxRetries: 3, minTimeout: 1, timeoutFactor: 1, statusCodes: [503] }),
    traceInterceptor(),
  );
  try {
    const response = await request(`${flakyUrl}/retry`, { dispatcher: agent });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const clients = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
    expect(clients).toHaveLength(1);
    const { traceId, spanId } = clients[0]!.spanContext();
    // Every attempt carries the one span's context, the retries (dispatched after a timer) too.
    expect(flakyHeaders.map((headers) => headers.traceparent)).toEqual(
      Array(3).fill(`00-${traceId}-${spanId}-01`),
    );
    expect(clients[0]!.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(200);
  } finally {
    await agent.close();
  }
});

it('the second hop of undici interceptors.redirect() composed outside traceInterceptor carries a traceparent', async () => {
  const agent = new Agent().compose(traceInterceptor(), interceptors.redirect({ maxRedirections: 2 }));
  try {
    const response = await request(`${flakyUrl}/redirect`, { dispatcher: agent });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    expect(flakyHeaders.map((headers) => typeof headers.traceparent)).toEqual(['string', 'string']);
    expect(tracing.spans().filter((span) => span.kind === SpanKind.CLIENT)).toHaveLength(2);
  } finally {
    await agent.close();
  }
});

it('an undici interceptor request whose response body is never read ends its span at the response headers', async () => {
  const agent = new Agent().compose(traceInterceptor());
  try {
    const response = await request(`${flakyUrl}/big`, { dispatcher: agent });
    expect(response.statusCode).toBe(200);
    const [span] = await tracing.waitForSpans(1, 3000);
    expect(span!.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(200);
    response.body.destroy();
  } finally {
    await agent.destroy();
  }
});

it('a traceRequest request whose response body is never read ends its span at the response headers', async () => {
  const request = traceRequest()(http.get);
  const agent = new http.Agent({ keepAlive: false });
  let unread: http.IncomingMessage | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      request(`${flakyUrl}/big`, { agent }, (response) => {
        unread = response;
        resolve();
      }).on('error', reject);
    });
    expect(unread?.statusCode).toBe(200);
    const [span] = await tracing.waitForSpans(1, 3000);
    expect(span!.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(200);
  } finally {
    unread?.destroy();
    agent.destroy();
  }
});

it('injectHeaders on a frozen object returns a new object with the headers and never throws', () => {
  const frozen = Object.freeze({ 'x-app': '1' });
  const parent = tracer.startSpan('parent');
  const headers = context.with(trace.setSpan(context.active(), parent), () => injectHeaders(frozen));
  parent.end();
  expect(frozen).toEqual({ 'x-app': '1' });
  expect(headers).toMatchObject({ 'x-app': '1' });
  expect((headers as Record<string, string>).traceparent).toContain(parent.spanContext().spanId);
});

it('a traceRequest request aborted by AbortSignal.timeout ends its span as ERROR TimeoutError', async () => {
  const request = traceRequest()(http.request);
  const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
    request(`${server.url}/?delay=2000`, { signal: AbortSignal.timeout(20) }, (response) => response.resume())
      .on('error', resolve)
      .end();
  });
  // node:http's own error: an AbortError whose cause is the signal's TimeoutError.
  expect(error.code).toBe('ABORT_ERR');
  expect((error.cause as Error).name).toBe('TimeoutError');
  const [span] = await tracing.waitForSpans(1);
  expect(span!.status.code).toBe(SpanStatusCode.ERROR);
  expect(span!.attributes[ATTR_ERROR_TYPE]).toBe('TimeoutError');
});

it('an undici interceptor request answered with 103 Early Hints then 500 records the final status', async () => {
  const agent = new Agent().compose(traceInterceptor());
  try {
    const response = await request(`${flakyUrl}/early-hints`, { dispatcher: agent });
    expect(response.statusCode).toBe(500);
    expect(await response.body.text()).toBe('failed');
    const [span] = await tracing.waitForSpans(1);
    expect(span!.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE]).toBe(500);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes[ATTR_ERROR_TYPE]).toBe('500');
  } finally {
    await agent.close();
  }
});

it.each([
  ['headers: null', (): RequestInit => ({ headers: null as unknown as RequestInit['headers'] })],
  [
    'a header record with a symbol key',
    (): RequestInit => ({ headers: { [Symbol('s')]: 'x', a: '1' } as RequestInit['headers'] }),
  ],
  ['a string as headers', (): RequestInit => ({ headers: 'x-a: 1' as unknown as RequestInit['headers'] })],
])('traceFetch given %s rejects with fetch’s own TypeError, as the bare fetch does', async (_, init) => {
  const bare = await fetch(`${server.url}/`, init()).then(
    () => 'resolved',
    (error: Error) => `${error.name}: ${error.message}`,
  );
  const traced = await traceFetch()(`${server.url}/`, init()).then(
    () => 'resolved',
    (error: Error) => `${error.name}: ${error.message}`,
  );
  expect(bare).toMatch(/^TypeError: /);
  expect(traced).toBe(bare);
  expect(server.received).toHaveLength(0);
});

it('traceFetch given a Request and headers: null rejects as the bare fetch does', async () => {
  const init = { headers: null as unknown as RequestInit['headers'] };
  const bare = await fetch(new Request(`${server.url}/`), init).then(
    () => 'resolved',
    (error: Error) => error.name,
  );
  const traced = await traceFetch()(new Request(`${server.url}/`), init).then(
    () => 'resolved',
    (error: Error) => error.name,
  );
  expect(bare).toBe('TypeError');
  expect(traced).toBe(bare);
  expect(server.received).toHaveLength(0);
});

it.each([
  ['a string', 'x-a: 1'],
  ['a number', 5],
  ['a function', Object.assign(() => undefined, { a: '1' })],
])('an undici interceptor request given %s as headers rejects as the bare Agent does', async (_, headers) => {
  const bareAgent = new Agent();
  const tracedAgent = new Agent().compose(traceInterceptor());
  const outcome = (dispatcher: Agent | ReturnType<Agent['compose']>): Promise<string> =>
    request(`${server.url}/`, { dispatcher, headers: headers as unknown as Record<string, string> }).then(
      async (response) => `${response.statusCode} ${await response.body.text()}`,
      (error: Error & { code?: string }) => `${error.name} ${error.code}: ${error.message}`,
    );
  try {
    const bare = await outcome(bareAgent);
    expect(bare).toMatch(/^InvalidArgumentError UND_ERR_INVALID_ARG/);
    expect(await outcome(tracedAgent)).toBe(bare);
    expect(server.received).toHaveLength(0);
  } finally {
    await bareAgent.close();
    await tracedAgent.close();
  }
});
