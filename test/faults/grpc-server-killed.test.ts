// gRPC server gone mid-call, for all four call types: the server process killed (SIGKILL) while
// every call is open, an in-process server force-shut-down, and calls to a server that is gone.
// Each client span ends once, with the status the application received.
import { fileURLToPath } from 'node:url';
import {
  Server,
  ServerCredentials,
  type ServiceClientConstructor,
  type ServiceError,
  loadPackageDefinition,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { clientInterceptor, serverInterceptor } from '@tracewire/grpc';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CALL_TYPES,
  type CallType,
  METHOD_OF,
  type Outcome,
  callEcho,
  echoClient,
} from '../../packages/grpc/test/harness.js';
import { buildPackages, startFixture } from './support/child-process.js';
import { setupFaultTracing } from './support/span-tracking.js';

const tracing = setupFaultTracing();

beforeAll(async () => {
  await buildPackages();
}, 300_000);
beforeEach(() => tracing.memory?.reset());
afterAll(async () => {
  await tracing.shutdown();
});

function loadEcho(): ServiceClientConstructor {
  const path = fileURLToPath(new URL('../../packages/grpc/test/fixtures/echo.proto', import.meta.url));
  const proto = loadPackageDefinition(loadSync(path, { keepCase: false, defaults: true })) as unknown as {
    tracewire: { test: { Echo: ServiceClientConstructor } };
  };
  return proto.tracewire.test.Echo;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The client span of each call type's method. */
function clientSpans(): Map<CallType, ReadableSpan[]> {
  const spans = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT);
  return new Map(
    CALL_TYPES.map((type) => [type, spans.filter((s) => s.name.endsWith(`/${METHOD_OF[type]}`))]),
  );
}

/** Every call failed, and its client span ended once with the code and message the app got. */
function expectSpansMatchOutcomes(outcomes: Map<CallType, Outcome>): void {
  const spans = clientSpans();
  for (const type of CALL_TYPES) {
    const error = outcomes.get(type)?.error as ServiceError | undefined;
    expect(error, `${type}: the app got an error`).toBeDefined();
    const found = spans.get(type) ?? [];
    expect(found, `${type}: one client span`).toHaveLength(1);
    const span = found[0] as ReadableSpan;
    expect(span.status.code, `${type}: span status`).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['rpc.status_code'], `${type}: rpc.status_code`).toBe(
      status[(error as ServiceError).code],
    );
  }
}

/** Starts one call of each type against `target` and resolves once `ready` says all are open. */
function startCalls(target: string): {
  client: ReturnType<typeof echoClient>;
  outcomes: Promise<Map<CallType, Outcome>>;
} {
  const client = echoClient(target, { interceptors: [clientInterceptor()] });
  const pending = CALL_TYPES.map(async (type) => {
    const requests = [{ text: `${type}-a` }];
    return [type, await callEcho(client, type, requests)] as const;
  });
  return { client, outcomes: Promise.all(pending).then((entries) => new Map(entries)) };
}

describe('gRPC server gone mid-call', () => {
  it('server process killed with every call type open: client spans end with the status the app got', async () => {
    const { service, port } = await startFixture('grpc-server.mjs');
    const { client, outcomes } = startCalls(`127.0.0.1:${port}`);
    for (const type of CALL_TYPES) await service.waitForLine(new RegExp(`^handling ${type}$`), 20_000);
    await sleep(50); // the streamed first replies reach the client
    service.child.kill('SIGKILL');
    const results = await outcomes;
    client.close();
    console.log(
      `grpc server killed: ${CALL_TYPES.map((t) => `${t} ${status[results.get(t)?.error?.code ?? 0]}`).join(', ')}`,
    );
    // What reached the client before the kill is still the app's.
    expect(results.get('serverStream')?.replies).toEqual(['serverStream-a-1']);
    expect(results.get('bidi')?.replies).toEqual(['bidi-a']);
    await tracing.settled();
    expectSpansMatchOutcomes(results);
  });

  it('calls to a server that is gone: client spans end with the status the app got', async () => {
    const { service, port } = await startFixture('grpc-server.mjs');
    service.child.kill('SIGKILL');
    await service.stop();
    const { client, outcomes } = startCalls(`127.0.0.1:${port}`);
    const results = await outcomes;
    client.close();
    for (const type of CALL_TYPES) expect(results.get(type)?.error?.code, type).toBe(status.UNAVAILABLE);
    await tracing.settled();
    expectSpansMatchOutcomes(results);
  });

  it('in-process server force-shut-down mid-call: client and server spans all end, client ones as the app saw', async () => {
    const server = new Server({ interceptors: [serverInterceptor()] });
    const Echo = loadEcho();
    const opened: string[] = [];
    server.addService(Echo.service, {
      Unary: () => void opened.push('unary'),
      ServerStream: (call: { write(m: object): void }) => {
        call.write({ text: 'serverStream-a-1' });
        opened.push('serverStream');
      },
      ClientStream: (call: { once(e: string, l: () => void): void }) =>
        call.once('data', () => opened.push('clientStream')),
      Bidi: (call: { once(e: string, l: (r: { text: string }) => void): void; write(m: object): void }) =>
        call.once('data', (request) => {
          call.write({ text: request.text });
          opened.push('bidi');
        }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const { client, outcomes } = startCalls(`127.0.0.1:${port}`);
    const deadline = Date.now() + 20_000;
    while (opened.length < CALL_TYPES.length && Date.now() < deadline) await sleep(10);
    expect(opened.sort()).toEqual([...CALL_TYPES].sort());
    await sleep(50);
    server.forceShutdown();
    const results = await outcomes;
    client.close();
    console.log(
      `grpc forceShutdown: ${CALL_TYPES.map((t) => `${t} ${status[results.get(t)?.error?.code ?? 0]}`).join(', ')}`,
    );
    await tracing.settled();
    expectSpansMatchOutcomes(results);
    const serverSpans = tracing.spans().filter((s) => s.kind === SpanKind.SERVER);
    expect(serverSpans, 'one server span per call').toHaveLength(CALL_TYPES.length);
    expect(tracing.open.size).toBe(0);
  });
});
