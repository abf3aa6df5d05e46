import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from '@opentelemetry/semantic-conventions';
import { clientInterceptor, serverInterceptor } from '@tracewire/grpc';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import {
  CALL_TYPES,
  type CallType,
  type EchoClient,
  type EchoRequest,
  type EchoServer,
  METHOD_OF,
  Metadata,
  callEcho,
  echoClient,
  startServers,
} from './harness.js';

const tracing = setupTracing();
let servers: EchoServer;
let client: EchoClient;
let bareClient: EchoClient;

beforeAll(async () => {
  servers = await startServers([serverInterceptor()]);
  client = echoClient(servers.target, { interceptors: [clientInterceptor()] });
  bareClient = echoClient(servers.target);
});
afterAll(async () => {
  client.close();
  bareClient.close();
  await servers.close();
  await tracing.shutdown();
});
beforeEach(() => tracing.reset());

const ECHO = 'tracewire.test.Echo';
const PING = 'tracewire.test.Downstream/Ping';

function only(spans: ReadableSpan[], kind: SpanKind, name: string): ReadableSpan {
  const found = spans.filter((span) => span.kind === kind && span.name === name);
  expect(found, `${SpanKind[kind]} ${name} spans`).toHaveLength(1);
  return found[0]!;
}

const REQUESTS: Record<CallType, EchoRequest[]> = {
  unary: [{ text: 'a', callDownstream: true }],
  serverStream: [{ text: 'a', callDownstream: true }],
  clientStream: [{ text: 'a' }, { text: 'b', callDownstream: true }],
  bidi: [{ text: 'a' }, { text: 'b', callDownstream: true }],
};
const REPLIES: Record<CallType, string[]> = {
  unary: ['a'],
  serverStream: ['a-1', 'a-2'],
  clientStream: ['a+b'],
  bidi: ['a', 'b'],
};

describe.each(CALL_TYPES)('%s call', (type) => {
  const name = `${ECHO}/${METHOD_OF[type]}`;

  it('is one trace: caller -> CLIENT -> SERVER -> its own CLIENT call -> downstream SERVER', async () => {
    const root = trace.getTracer('test').startSpan('caller');
    const outcome = await context.with(trace.setSpan(context.active(), root), () =>
      callEcho(client, type, REQUESTS[type]),
    );
    root.end();
    expect(outcome.error).toBeUndefined();
    expect(outcome.replies).toEqual(REPLIES[type]);

    const spans = await tracing.waitForSpans(5);
    const traceId = root.spanContext().traceId;
    const clientSpan = only(spans, SpanKind.CLIENT, name);
    const serverSpan = only(spans, SpanKind.SERVER, name);
    const pingClient = only(spans, SpanKind.CLIENT, PING);
    const pingServer = only(spans, SpanKind.SERVER, PING);
    for (const span of [clientSpan, serverSpan, pingClient, pingServer]) {
      expect(span.spanContext().traceId, span.name).toBe(traceId);
      expect(span.status.code, span.name).toBe(SpanStatusCode.UNSET);
      expect(span.attributes[ATTR_RPC_SYSTEM_NAME]).toBe(RPC_SYSTEM_NAME_VALUE_GRPC);
      expect(span.attributes[ATTR_RPC_STATUS_CODE]).toBe('OK');
    }
    expect(parentSpanId(clientSpan)).toBe(root.spanContext().spanId);
    expect(parentSpanId(serverSpan)).toBe(clientSpan.spanContext().spanId);
    expect(parentSpanId(pingClient)).toBe(serverSpan.spanContext().spanId);
    expect(parentSpanId(pingServer)).toBe(pingClient.spanContext().spanId);

    expect(clientSpan.attributes).toMatchObject({
      [ATTR_RPC_METHOD]: name,
      [ATTR_SERVER_ADDRESS]: '127.0.0.1',
      [ATTR_SERVER_PORT]: servers.port,
    });
    expect(serverSpan.attributes).toMatchObject({
      [ATTR_RPC_METHOD]: name,
      [ATTR_SERVER_ADDRESS]: '127.0.0.1',
      [ATTR_SERVER_PORT]: servers.port,
      [ATTR_NETWORK_PEER_ADDRESS]: '127.0.0.1',
    });

    // The handler and each of its stream events ran with the SERVER span active...
    const handled = servers.handled.at(-1)!;
    expect(handled.method).toBe(type);
    expect(new Set(handled.activeSpanIds)).toEqual(new Set([serverSpan.spanContext().spanId]));
    // ...and the application got its result back in its own context.
    expect(outcome.resultSpanId).toBe(root.spanContext().spanId);
  });

  it('joins a hand-written traceparent sent by a client without the interceptor', async () => {
    const metadata = new Metadata();
    metadata.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    metadata.set('tracestate', 'vendor=value');
    const outcome = await callEcho(bareClient, type, REQUESTS[type], { metadata });
    expect(outcome.replies).toEqual(REPLIES[type]);

    const spans = await tracing.waitForSpans(3);
    const serverSpan = only(spans, SpanKind.SERVER, name);
    expect(serverSpan.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(parentSpanId(serverSpan)).toBe('b7ad6b7169203331');
    expect(serverSpan.spanContext().traceState?.get('vendor')).toBe('value');
    const pingClient = only(spans, SpanKind.CLIENT, PING);
    expect(pingClient.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(parentSpanId(pingClient)).toBe(serverSpan.spanContext().spanId);
  });
});

describe('client interceptor', () => {
  it("leaves the application's Metadata object untouched", async () => {
    const metadata = new Metadata();
    metadata.set('x-app', 'kept');
    const outcome = await callEcho(client, 'unary', [{ text: 'a' }], { metadata });
    expect(outcome.replies).toEqual(['a']);
    expect(metadata.get('traceparent')).toEqual([]);
    expect(metadata.get('x-app')).toEqual(['kept']);
    const spans = await tracing.waitForSpans(2);
    expect(only(spans, SpanKind.SERVER, `${ECHO}/Unary`).spanContext().traceId).toBe(
      only(spans, SpanKind.CLIENT, `${ECHO}/Unary`).spanContext().traceId,
    );
  });

  it('works as a per-call interceptor too', async () => {
    const outcome = await new Promise<string | undefined>((resolve, reject) =>
      bareClient.Unary(
        { text: 'x' },
        new Metadata(),
        { interceptors: [clientInterceptor()] },
        (error, reply) => (error ? reject(error) : resolve(reply?.text)),
      ),
    );
    expect(outcome).toBe('x');
    const spans = await tracing.waitForSpans(2);
    const clientSpan = only(spans, SpanKind.CLIENT, `${ECHO}/Unary`);
    expect(parentSpanId(only(spans, SpanKind.SERVER, `${ECHO}/Unary`))).toBe(clientSpan.spanContext().spanId);
  });

  it('starts a new trace when no span is active', async () => {
    await callEcho(client, 'unary', [{ text: 'a' }]);
    const spans = await tracing.waitForSpans(2);
    const clientSpan = only(spans, SpanKind.CLIENT, `${ECHO}/Unary`);
    expect(parentSpanId(clientSpan)).toBeUndefined();
    expect(parentSpanId(only(spans, SpanKind.SERVER, `${ECHO}/Unary`))).toBe(clientSpan.spanContext().spanId);
  });
});
