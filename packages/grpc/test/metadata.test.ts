import { SpanKind, type TextMapPropagator, type Tracer } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { type GrpcServerRequest, clientInterceptor, serverInterceptor } from '@tracewire/grpc';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoClient, type EchoServer, Metadata, callEcho, echoClient, startServers } from './harness.js';

const tracing = setupTracing();
const UNARY = 'tracewire.test.Echo/Unary';
const PING = 'tracewire.test.Downstream/Ping';
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

afterAll(() => tracing.shutdown());
beforeEach(() => tracing.reset());

function only(spans: ReadableSpan[], kind: SpanKind, name: string): ReadableSpan {
  const found = spans.filter((span) => span.kind === kind && span.name === name);
  expect(found, `${SpanKind[kind]} ${name} spans`).toHaveLength(1);
  return found[0]!;
}

/** Servers with the given server interceptor options, and a client without any interceptor. */
function withServers(options: Parameters<typeof serverInterceptor>[0]): {
  servers: () => EchoServer;
  bare: () => EchoClient;
} {
  let servers: EchoServer;
  let bare: EchoClient;
  beforeAll(async () => {
    servers = await startServers([serverInterceptor(options)]);
    bare = echoClient(servers.target);
  });
  afterAll(async () => {
    bare.close();
    await servers.close();
  });
  return { servers: () => servers, bare: () => bare };
}

const BAD_METADATA: { name: string; fill: (metadata: Metadata) => void }[] = [
  { name: 'malformed traceparent', fill: (m) => m.set('traceparent', 'not-a-traceparent') },
  { name: 'upper-case traceparent', fill: (m) => m.set('traceparent', TRACEPARENT.toUpperCase()) },
  { name: 'all-zero trace id', fill: (m) => m.set('traceparent', `00-${'0'.repeat(32)}-${SPAN_ID}-01`) },
  { name: 'version ff', fill: (m) => m.set('traceparent', `ff-${TRACE_ID}-${SPAN_ID}-01`) },
  {
    name: 'two traceparent values',
    fill: (m) => {
      m.add('traceparent', TRACEPARENT);
      m.add('traceparent', `00-${TRACE_ID}-00f067aa0ba902b7-01`);
    },
  },
  { name: 'binary traceparent-bin key', fill: (m) => m.set('traceparent-bin', Buffer.from(TRACEPARENT)) },
  {
    name: 'oversized traceparent (future version, 4 KB)',
    fill: (m) => m.set('traceparent', `cc-${TRACE_ID}-${SPAN_ID}-01-${'x'.repeat(4096)}`),
  },
];

describe('bad trace metadata starts a new trace and the call is served as usual', () => {
  const { servers, bare } = withServers({});

  it.each(BAD_METADATA)('$name', async ({ fill }) => {
    const metadata = new Metadata();
    fill(metadata);
    const outcome = await callEcho(bare(), 'unary', [{ text: 'ok', callDownstream: true }], { metadata });
    expect(outcome.error).toBeUndefined();
    expect(outcome.replies).toEqual(['ok']);
    const spans = await tracing.waitForSpans(3);
    const server = only(spans, SpanKind.SERVER, UNARY);
    expect(parentSpanId(server)).toBeUndefined();
    expect(server.spanContext().traceId).not.toBe(TRACE_ID);
    expect(server.links).toEqual([]);
    // The new trace still reaches the handler's own calls.
    const ping = only(spans, SpanKind.CLIENT, PING);
    expect(parentSpanId(ping)).toBe(server.spanContext().spanId);
    expect(servers().handled.at(-1)?.activeSpanIds).toContain(server.spanContext().spanId);
  });

  it('a valid traceparent next to binary and repeated metadata is continued', async () => {
    const metadata = new Metadata();
    metadata.set('traceparent', TRACEPARENT);
    metadata.set('x-trace-bin', Buffer.from([0, 1, 2, 255]));
    metadata.add('x-repeated', 'one');
    metadata.add('x-repeated', 'two');
    const outcome = await callEcho(bare(), 'unary', [{ text: 'ok' }], { metadata });
    expect(outcome.replies).toEqual(['ok']);
    const [server] = await tracing.waitForSpans(1);
    expect(server?.spanContext().traceId).toBe(TRACE_ID);
    expect(parentSpanId(server!)).toBe(SPAN_ID);
  });
});

describe("trust: 'restart'", () => {
  const { bare } = withServers({ trust: 'restart' });

  it("starts a new trace linked to the caller's context, without its tracestate", async () => {
    const metadata = new Metadata();
    metadata.set('traceparent', TRACEPARENT);
    metadata.set('tracestate', 'vendor=value');
    await callEcho(bare(), 'unary', [{ text: 'ok' }], { metadata });
    const [server] = await tracing.waitForSpans(1);
    expect(server?.kind).toBe(SpanKind.SERVER);
    expect(server?.spanContext().traceId).not.toBe(TRACE_ID);
    expect(parentSpanId(server!)).toBeUndefined();
    expect(server?.spanContext().traceState).toBeUndefined();
    expect(server?.links).toHaveLength(1);
    expect(server?.links[0]?.context.traceId).toBe(TRACE_ID);
    expect(server?.links[0]?.context.spanId).toBe(SPAN_ID);
    expect(server?.links[0]?.context.traceState).toBeUndefined();
  });
});

describe("trust: 'ignore'", () => {
  const { bare } = withServers({ trust: 'ignore' });

  it('starts a new trace with no link', async () => {
    const metadata = new Metadata();
    metadata.set('traceparent', TRACEPARENT);
    await callEcho(bare(), 'unary', [{ text: 'ok' }], { metadata });
    const [server] = await tracing.waitForSpans(1);
    expect(server?.spanContext().traceId).not.toBe(TRACE_ID);
    expect(parentSpanId(server!)).toBeUndefined();
    expect(server?.links).toEqual([]);
  });
});

describe('trust as a function', () => {
  const seen: (GrpcServerRequest & { peer: string })[] = [];
  const { bare } = withServers({
    trust: (request) => {
      seen.push({ ...request, peer: request.call.getPeer() });
      return request.metadata.get('x-caller')[0] === 'internal' ? 'continue' : 'restart';
    },
  });

  it.each([
    { name: 'internal caller is continued', caller: 'internal', continued: true },
    { name: 'other caller is restarted', caller: 'partner', continued: false },
  ])('$name', async ({ caller, continued }) => {
    seen.length = 0;
    const metadata = new Metadata();
    metadata.set('traceparent', TRACEPARENT);
    metadata.set('x-caller', caller);
    await callEcho(bare(), 'unary', [{ text: 'ok' }], { metadata });
    const [server] = await tracing.waitForSpans(1);
    expect(server?.spanContext().traceId === TRACE_ID).toBe(continued);
    expect(server?.links).toHaveLength(continued ? 0 : 1);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('/tracewire.test.Echo/Unary');
    expect(seen[0]?.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

describe('tracing failures never reach the application', () => {
  const throwingPropagator: TextMapPropagator = {
    inject() {
      throw new Error('inject failed');
    },
    extract() {
      throw new Error('extract failed');
    },
    fields: () => ['traceparent'],
  };
  const throwingTracer = {
    startSpan() {
      throw new Error('startSpan failed');
    },
    startActiveSpan() {
      throw new Error('startActiveSpan failed');
    },
  } as unknown as Tracer;

  describe('a propagator that throws', () => {
    const { servers } = withServers({ propagator: throwingPropagator });
    it('still serves the call and records both spans', async () => {
      const client = echoClient(servers().target, {
        interceptors: [clientInterceptor({ propagator: throwingPropagator })],
      });
      const outcome = await callEcho(client, 'bidi', [{ text: 'a' }, { text: 'b' }]);
      client.close();
      expect(outcome.error).toBeUndefined();
      expect(outcome.replies).toEqual(['a', 'b']);
      const spans = await tracing.waitForSpans(2);
      expect(spans.map((span) => span.kind).sort()).toEqual([SpanKind.SERVER, SpanKind.CLIENT].sort());
    });
  });

  describe('a tracer that throws', () => {
    const { servers } = withServers({ tracer: throwingTracer });
    it.each(['unary', 'serverStream', 'clientStream', 'bidi'] as const)(
      'still serves a %s call',
      async (type) => {
        const client = echoClient(servers().target, {
          interceptors: [clientInterceptor({ tracer: throwingTracer })],
        });
        const outcome = await callEcho(client, type, [{ text: 'a' }]);
        client.close();
        expect(outcome.error).toBeUndefined();
        expect(outcome.replies.length).toBeGreaterThan(0);
      },
    );
  });
});
