import { ServerInterceptingCall, type ServerInterceptor, status as grpcStatus } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE, ATTR_RPC_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import { clientInterceptor, serverInterceptor } from '@tracewire/grpc';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';
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
  sleep,
  startServers,
} from './harness.js';

const tracing = setupTracing();
let servers: EchoServer;
let client: EchoClient;

beforeAll(async () => {
  servers = await startServers([serverInterceptor()]);
  client = echoClient(servers.target, { interceptors: [clientInterceptor()] });
});
afterAll(async () => {
  client.close();
  await servers.close();
  await tracing.shutdown();
});
beforeEach(() => tracing.reset());

function spansOf(type: CallType): { client: ReadableSpan[]; server: ReadableSpan[] } {
  const name = `tracewire.test.Echo/${METHOD_OF[type]}`;
  const spans = tracing.spans().filter((span) => span.name === name);
  return {
    client: spans.filter((span) => span.kind === SpanKind.CLIENT),
    server: spans.filter((span) => span.kind === SpanKind.SERVER),
  };
}

/** Both spans of the last call, once each side has ended one. */
async function bothSpans(type: CallType): Promise<{ client: ReadableSpan; server: ReadableSpan }> {
  await tracing.waitForSpans(2);
  const { client, server } = spansOf(type);
  expect(client).toHaveLength(1);
  expect(server).toHaveLength(1);
  return { client: client[0]!, server: server[0]! };
}

function expectStatus(span: ReadableSpan, code: string, isError: boolean, side: string): void {
  expect(span.attributes[ATTR_RPC_STATUS_CODE], side).toBe(code);
  if (isError) {
    expect(span.status.code, side).toBe(SpanStatusCode.ERROR);
    expect(span.attributes[ATTR_ERROR_TYPE], side).toBe(code);
  } else {
    expect(span.status.code, side).toBe(SpanStatusCode.UNSET);
    expect(span.attributes[ATTR_ERROR_TYPE], side).toBeUndefined();
  }
}

const STATUS_CASES: {
  name: string;
  type: CallType;
  request: EchoRequest;
  code: string;
  serverError: boolean;
}[] = [
  {
    name: 'NOT_FOUND (unary)',
    type: 'unary',
    request: { failWith: 5 },
    code: 'NOT_FOUND',
    serverError: false,
  },
  {
    name: 'INVALID_ARGUMENT (unary)',
    type: 'unary',
    request: { failWith: 3 },
    code: 'INVALID_ARGUMENT',
    serverError: false,
  },
  { name: 'INTERNAL (unary)', type: 'unary', request: { failWith: 13 }, code: 'INTERNAL', serverError: true },
  {
    name: 'UNAVAILABLE (unary)',
    type: 'unary',
    request: { failWith: 14 },
    code: 'UNAVAILABLE',
    serverError: true,
  },
  {
    name: 'handler throws (unary)',
    type: 'unary',
    request: { text: 'throw' },
    code: 'UNKNOWN',
    serverError: true,
  },
  {
    name: 'NOT_FOUND (server stream)',
    type: 'serverStream',
    request: { failWith: 5 },
    code: 'NOT_FOUND',
    serverError: false,
  },
  {
    name: 'INTERNAL (client stream)',
    type: 'clientStream',
    request: { failWith: 13 },
    code: 'INTERNAL',
    serverError: true,
  },
  { name: 'NOT_FOUND (bidi)', type: 'bidi', request: { failWith: 5 }, code: 'NOT_FOUND', serverError: false },
];

describe('status mapping: every non-OK is ERROR on the client, only server faults on the server', () => {
  it.each(STATUS_CASES)('$name', async ({ type, request, code, serverError }) => {
    const outcome = await callEcho(client, type, [{ text: 'x', ...request }]);
    expect(outcome.error?.code).toBe(grpcStatus[code as keyof typeof grpcStatus]);
    const spans = await bothSpans(type);
    expectStatus(spans.client, code, true, 'client');
    expectStatus(spans.server, code, serverError, 'server');
    if (request.failWith) expect(spans.client.status.message).toBe(`asked to fail with ${request.failWith}`);
  });
});

describe.each(CALL_TYPES)('%s call', (type) => {
  it('past its deadline ends one span per side, DEADLINE_EXCEEDED and ERROR on both', async () => {
    const started = servers.nextHandler();
    const outcome = await callEcho(client, type, [{ text: 'slow', delayMs: 10_000 }], { deadlineMs: 150 });
    expect(outcome.error?.code).toBe(grpcStatus.DEADLINE_EXCEEDED);
    const handler = await started;
    // The handler still answers after the deadline; that must not end a second span.
    await handler.done;
    await sleep(50);
    const spans = await bothSpans(type);
    expectStatus(spans.client, 'DEADLINE_EXCEEDED', true, 'client');
    expectStatus(spans.server, 'DEADLINE_EXCEEDED', true, 'server');
  });

  it("past the server's own deadline (grpc-timeout from a client with none) is DEADLINE_EXCEEDED on both", async () => {
    const started = servers.nextHandler();
    const metadata = new Metadata();
    metadata.set('grpc-timeout', '150m');
    const outcome = await callEcho(client, type, [{ text: 'slow', delayMs: 10_000 }], { metadata });
    expect(outcome.error?.code).toBe(grpcStatus.DEADLINE_EXCEEDED);
    const handler = await started;
    await handler.done;
    await sleep(50);
    const spans = await bothSpans(type);
    expectStatus(spans.client, 'DEADLINE_EXCEEDED', true, 'client');
    expectStatus(spans.server, 'DEADLINE_EXCEEDED', true, 'server');
  });

  it('cancelled by the client ends one span per side: CANCELLED, an error only on the client', async () => {
    const started = servers.nextHandler();
    let cancel = (): void => {};
    const settled = callEcho(client, type, [{ text: 'slow', delayMs: 10_000 }], {
      onCall: (call) => {
        cancel = () => call.cancel();
      },
    });
    const handler = await started;
    cancel();
    const outcome = await settled;
    expect(outcome.error?.code).toBe(grpcStatus.CANCELLED);
    await handler.done;
    await sleep(50);
    const spans = await bothSpans(type);
    expectStatus(spans.client, 'CANCELLED', true, 'client');
    expectStatus(spans.server, 'CANCELLED', false, 'server');
  });
});

describe('with another server interceptor after it', () => {
  // An auth check that rejects every call before the handler runs.
  const rejectAll: ServerInterceptor = (_method, call) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(_metadata, _next) {
            call.sendStatus({ code: grpcStatus.UNAUTHENTICATED, details: 'no token' });
          },
        });
      },
    });
  let guarded: EchoServer;
  let guardedClient: EchoClient;
  beforeAll(async () => {
    guarded = await startServers([serverInterceptor(), rejectAll]);
    guardedClient = echoClient(guarded.target, { interceptors: [clientInterceptor()] });
  });
  afterAll(async () => {
    guardedClient.close();
    await guarded.close();
  });

  it('records the status that interceptor sends', async () => {
    const outcome = await callEcho(guardedClient, 'unary', [{ text: 'x' }]);
    expect(outcome.error?.code).toBe(grpcStatus.UNAUTHENTICATED);
    expect(guarded.handled).toHaveLength(0);
    const spans = await bothSpans('unary');
    expectStatus(spans.client, 'UNAUTHENTICATED', true, 'client');
    expectStatus(spans.server, 'UNAUTHENTICATED', false, 'server');
  });
});
