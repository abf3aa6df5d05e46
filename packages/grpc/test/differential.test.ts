// Differential suite (issue #10 §3): each call runs against a bare grpc-js server and client and
// against the same pair traced by tracewire (server interceptor, two stacked client interceptors),
// and what the application observes is compared: status code and details, response metadata and
// trailers (less trace keys), and the messages, for all four call types. Never the spans.
import {
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientWritableStream,
  type Interceptor,
  Metadata,
  Server,
  ServerCredentials,
  type ServerInterceptor,
  type ServiceDefinition,
  type ServiceError,
  type StatusObject,
  credentials,
  makeGenericClientConstructor,
  status,
} from '@grpc/grpc-js';
import { clientInterceptor, serverInterceptor } from '@tracewire/grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());

/** A request: what the handler does. */
interface Ask {
  reply?: string;
  /** Fails with this status code (and details, trailers). */
  fail?: number;
  /** Throws from the handler. */
  throws?: boolean;
  delayMs?: number;
  /** Messages a streaming reply sends. */
  count?: number;
}

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString()),
};
function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/differential.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  };
}
const service: ServiceDefinition = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
};
const EchoClient = makeGenericClientConstructor(service, 'Echo');

const TRACE_KEYS = new Set(['traceparent', 'tracestate', 'baggage', 'date']);
function visible(metadata: Metadata | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const map = metadata?.getMap() ?? {};
  for (const key of Object.keys(map).sort()) if (!TRACE_KEYS.has(key)) out[key] = String(map[key]);
  return out;
}

function outcome(ask: Ask): { error: Partial<StatusObject> & { metadata?: Metadata } } | undefined {
  if (ask.fail === undefined) return undefined;
  const metadata = new Metadata();
  metadata.set('x-reason', 'asked');
  return { error: { code: ask.fail, details: `failed with ${ask.fail}`, metadata } };
}

// biome-ignore lint/suspicious/noExplicitAny: grpc-js handler calls, typed per call type by grpc-js.
type AnyCall = any;

function handlers(seen: string[]) {
  const headers = (call: { sendMetadata(m: Metadata): void; metadata: Metadata }): void => {
    const metadata = new Metadata();
    metadata.set('x-echo', String(call.metadata.get('x-app')[0] ?? 'none'));
    call.sendMetadata(metadata);
  };
  return {
    Unary(call: AnyCall, callback: AnyCall) {
      const ask = call.request as Ask;
      call.on('cancelled', () => seen.push('unary cancelled'));
      if (ask.throws) throw new Error('handler threw');
      headers(call);
      setTimeout(() => {
        const failed = outcome(ask);
        if (failed) callback(failed.error);
        else callback(null, { reply: ask.reply }, undefined);
      }, ask.delayMs ?? 0);
    },
    ServerStream(call: AnyCall) {
      const ask = call.request as Ask;
      headers(call);
      let sent = 0;
      call.on('cancelled', () => seen.push('stream cancelled'));
      const timer = setInterval(() => {
        if (call.cancelled) {
          clearInterval(timer);
          return;
        }
        if (sent < (ask.count ?? 2)) {
          call.write({ reply: `${ask.reply} ${sent++}` });
          return;
        }
        clearInterval(timer);
        const failed = outcome(ask);
        if (failed) call.emit('error', failed.error);
        else call.end();
      }, ask.delayMs ?? 1);
    },
    ClientStream(call: AnyCall, callback: AnyCall) {
      const got: string[] = [];
      headers(call);
      call.on('data', (ask: Ask) => got.push(String(ask.reply)));
      call.on('end', () => callback(null, { reply: got.join(',') }));
    },
    Bidi(call: AnyCall) {
      headers(call);
      call.on('data', (ask: Ask) => call.write({ reply: `re ${ask.reply}` }));
      call.on('end', () => call.end());
    },
  };
}

interface Pair {
  client: Client;
  seen: string[];
  close(): Promise<void>;
}

async function pair(
  serverInterceptors: ServerInterceptor[],
  clientInterceptors: Interceptor[],
): Promise<Pair> {
  const seen: string[] = [];
  const server = new Server({ interceptors: serverInterceptors });
  server.addService(service, handlers(seen));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const client = new EchoClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    interceptors: clientInterceptors,
  });
  return {
    client,
    seen,
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

interface Observed {
  status?: { code: number; details: string; trailers: Record<string, unknown> };
  headers?: Record<string, unknown>;
  messages: unknown[];
  error?: { code?: number; details?: string };
  seen?: string[];
}

type Scenario = { name: string; run(client: AnyCall): Promise<Observed> };

function appMetadata(): Metadata {
  const metadata = new Metadata();
  metadata.set('x-app', 'from-app');
  return metadata;
}

/** A deadline's details hold timings: only their first words are the app's to compare. */
function comparableDetails(s: { code: number; details: string }): string {
  return s.code === status.DEADLINE_EXCEEDED ? (s.details.split(' after ')[0] ?? '') : s.details;
}

function watch(call: AnyCall, observed: Observed, done: () => void): void {
  call.on('metadata', (metadata: Metadata) => {
    observed.headers = visible(metadata);
  });
  call.on('status', (s: StatusObject) => {
    observed.status = { code: s.code, details: comparableDetails(s), trailers: visible(s.metadata) };
    setImmediate(done);
  });
}

function unary(
  ask: Ask,
  options: { deadlineMs?: number; cancelAfterHeaders?: boolean } = {},
): Scenario['run'] {
  return (client) =>
    new Promise((resolve) => {
      const observed: Observed = { messages: [] };
      const callOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
      const call = client.Unary(
        ask,
        appMetadata(),
        callOptions,
        (error: ServiceError | null, reply: unknown) => {
          if (error) observed.error = { code: error.code, details: comparableDetails(error) };
          else observed.messages.push(reply);
        },
      );
      watch(call, observed, () => resolve(observed));
      // Once the response headers arrived (not at a fixed time: the machine's load varies).
      if (options.cancelAfterHeaders) call.on('metadata', () => setImmediate(() => call.cancel()));
    });
}

function serverStream(ask: Ask, cancelAfter?: number): Scenario['run'] {
  return (client) =>
    new Promise((resolve) => {
      const observed: Observed = { messages: [] };
      const call: ClientReadableStream<unknown> = client.ServerStream(ask, appMetadata());
      call.on('data', (message: unknown) => {
        observed.messages.push(message);
        if (cancelAfter !== undefined && observed.messages.length === cancelAfter) call.cancel();
      });
      call.on('error', (error: ServiceError) => {
        observed.error = { code: error.code, details: comparableDetails(error) };
      });
      watch(call, observed, () => resolve(observed));
    });
}

function clientStream(parts: string[]): Scenario['run'] {
  return (client) =>
    new Promise((resolve) => {
      const observed: Observed = { messages: [] };
      const call: ClientWritableStream<unknown> = client.ClientStream(
        appMetadata(),
        (error: ServiceError | null, reply: unknown) => {
          if (error) observed.error = { code: error.code, details: comparableDetails(error) };
          else observed.messages.push(reply);
        },
      );
      watch(call, observed, () => resolve(observed));
      for (const reply of parts) call.write({ reply });
      call.end();
    });
}

function bidi(parts: string[]): Scenario['run'] {
  return (client) =>
    new Promise((resolve) => {
      const observed: Observed = { messages: [] };
      const call: ClientDuplexStream<unknown, unknown> = client.Bidi(appMetadata());
      call.on('data', (message: unknown) => observed.messages.push(message));
      call.on('error', (error: ServiceError) => {
        observed.error = { code: error.code, details: comparableDetails(error) };
      });
      watch(call, observed, () => resolve(observed));
      for (const reply of parts) call.write({ reply });
      call.end();
    });
}

const scenarios: Scenario[] = [
  { name: 'unary: handler returns', run: unary({ reply: 'hi' }) },
  {
    name: 'unary: handler fails with a status, details and trailers',
    run: unary({ fail: status.INVALID_ARGUMENT }),
  },
  { name: 'unary: handler fails with INTERNAL', run: unary({ fail: status.INTERNAL }) },
  { name: 'unary: handler throws', run: unary({ throws: true }) },
  {
    name: 'unary: slow handler past the deadline',
    run: unary({ reply: 'late', delayMs: 200 }, { deadlineMs: 50 }),
  },
  {
    name: 'unary: the client cancels',
    run: unary({ reply: 'late', delayMs: 200 }, { cancelAfterHeaders: true }),
  },
  { name: 'server stream: read in full', run: serverStream({ reply: 'part', count: 3 }) },
  {
    name: 'server stream: ends with an error status',
    run: serverStream({ reply: 'part', count: 2, fail: status.ABORTED }),
  },
  {
    name: 'server stream: the client cancels mid-stream',
    run: serverStream({ reply: 'part', count: 50, delayMs: 5 }, 2),
  },
  { name: 'client stream', run: clientStream(['a', 'b', 'c']) },
  { name: 'bidi stream', run: bidi(['x', 'y']) },
];

describe('grpc-js: traced behaves as bare', () => {
  let bare: Pair;
  let traced: Pair;
  beforeAll(async () => {
    bare = await pair([], []);
    traced = await pair([serverInterceptor()], [clientInterceptor(), clientInterceptor()]);
    // Connected first, so a deadline or a cancel finds both channels in the same state.
    await unary({ reply: 'warm-up' })(bare.client);
    await unary({ reply: 'warm-up' })(traced.client);
  });
  afterAll(async () => {
    await bare.close();
    await traced.close();
  });

  it.each(scenarios)('$name', async ({ run }) => {
    const observe = async (side: Pair): Promise<Observed> => {
      side.seen.length = 0;
      const observed = await run(side.client);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { ...observed, seen: [...side.seen].sort() };
    };
    const withoutTracing = await observe(bare);
    const withTracing = await observe(traced);
    expect(withTracing).toEqual(withoutTracing);
    expect(withoutTracing.status?.code).toBeTypeOf('number');
  });
});
