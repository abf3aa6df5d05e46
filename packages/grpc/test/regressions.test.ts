// Regression tests of issue #12 for the gRPC interceptors, each named after its scenario.
import {
  type Client,
  InterceptingCall,
  type InterceptorOptions,
  Metadata,
  type NextCall,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  credentials,
  makeGenericClientConstructor,
} from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { clientInterceptor } from '@tracewire/grpc';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
const tracer = trace.getTracer('test');

const identity = (value: Buffer): Buffer => value;
const service: ServiceDefinition = {
  Echo: {
    path: '/regressions.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
const EchoClient = makeGenericClientConstructor(service, 'Echo');
type Unary = (
  request: Buffer,
  metadata: Metadata,
  callback: (error: Error | null, reply?: Buffer) => void,
) => unknown;

let server: Server;
let target: string;
const received: Metadata[] = [];

beforeAll(async () => {
  server = new Server();
  server.addService(service, {
    Echo: (call: { metadata: Metadata; request: Buffer }, callback: (e: null, r: Buffer) => void) => {
      received.push(call.metadata);
      callback(null, call.request);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  target = `127.0.0.1:${port}`;
});
afterAll(async () => {
  server.forceShutdown();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  received.length = 0;
});

function call(client: Client, metadata: Metadata): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    (client as unknown as { Echo: Unary }).Echo(Buffer.from('hi'), metadata, (error, reply) =>
      error ? reject(error) : resolve(reply!),
    ),
  );
}

const APP_TRACEPARENT = '00-11111111111111111111111111111111-2222222222222222-01';

it("metadata carrying the app's traceparent and tracestate goes out untouched; the CLIENT span links to it", async () => {
  const client = new EchoClient(target, credentials.createInsecure(), {
    interceptors: [clientInterceptor()],
  });
  try {
    const metadata = new Metadata();
    metadata.set('traceparent', APP_TRACEPARENT);
    metadata.set('tracestate', 'app=1');
    metadata.set('baggage', 'app=yes');
    const parent = tracer.startSpan('parent');
    await context.with(trace.setSpan(context.active(), parent), () => call(client, metadata));
    parent.end();
    expect(received[0]!.get('traceparent')).toEqual([APP_TRACEPARENT]);
    expect(received[0]!.get('tracestate')).toEqual(['app=1']);
    expect(received[0]!.get('baggage')).toEqual(['app=yes']);
    const [span] = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(parentSpanId(span!)).toBe(parent.spanContext().spanId);
    expect(span!.links.map((link) => link.context.spanId)).toEqual(['2222222222222222']);
  } finally {
    client.close();
  }
});

it('two stacked clientInterceptor()s make one CLIENT span, whose context goes out', async () => {
  const client = new EchoClient(target, credentials.createInsecure(), {
    interceptors: [clientInterceptor(), clientInterceptor()],
  });
  try {
    await call(client, new Metadata());
    const clients = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(clients).toHaveLength(1);
    const { traceId, spanId } = clients[0]!.spanContext();
    expect(received[0]!.get('traceparent')).toEqual([`00-${traceId}-${spanId}-01`]);
  } finally {
    client.close();
  }
});

// Found by trying it as an app: the span stayed open for good.
it('an interceptor inside clientInterceptor() that throws in start: the app sees the throw, the CLIENT span ends ERROR', () => {
  const failure = new Error('inner start() throws');
  const throwing = (options: InterceptorOptions, nextCall: NextCall) =>
    new InterceptingCall(nextCall(options), {
      start() {
        throw failure;
      },
    });
  const client = new EchoClient(target, credentials.createInsecure(), {
    interceptors: [clientInterceptor(), throwing],
  });
  try {
    expect(() =>
      (client as unknown as { Echo: Unary }).Echo(Buffer.from('hi'), new Metadata(), () => {}),
    ).toThrow(failure);
    const [span, ...rest] = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(rest).toEqual([]);
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes['error.type']).toBe('Error');
  } finally {
    client.close();
  }
});

// Found by trying it as an app: the interceptor between copied the metadata, and the mark with it
// was lost: two sibling CLIENT spans.
it('two clientInterceptor()s with one between that clones the metadata make one CLIENT span', async () => {
  const cloning = (options: InterceptorOptions, nextCall: NextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata.clone(), listener);
      },
    });
  const client = new EchoClient(target, credentials.createInsecure(), {
    interceptors: [clientInterceptor(), cloning, clientInterceptor()],
  });
  try {
    const metadata = new Metadata({ waitForReady: true });
    await call(client, metadata);
    const clients = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(clients).toHaveLength(1);
    const { traceId, spanId } = clients[0]!.spanContext();
    expect(received[0]!.get('traceparent')).toEqual([`00-${traceId}-${spanId}-01`]);
    // The app's own Metadata is not marked: its next call is traced again.
    expect(metadata.getOptions()).toEqual({ waitForReady: true });
    await call(client, metadata);
    expect(tracing.spans().filter((s) => s.kind === SpanKind.CLIENT)).toHaveLength(2);
  } finally {
    client.close();
  }
});
