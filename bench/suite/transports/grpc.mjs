// gRPC on loopback, client and server in this process (the CPU of both sides is measured, as both
// make spans): unary, server-streaming, client-streaming and bidi calls, STREAM messages a stream.
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { TRACEPARENT } from '../constants.mjs';
import { endLike, floorTracer, pick, startFrom } from '../floor.mjs';

const require = createRequire(import.meta.url);
const CONCURRENCY = 8;
const STREAM = 10;
const PAYLOAD = Buffer.from('tracewire grpc benchmark payload');
const identity = (buffer) => buffer;
const method = (name, requestStream, responseStream) => ({
  path: `/bench.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
  originalName: name,
});
const SERVICE = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
};
const HANDLERS = {
  Unary: (call, callback) => callback(null, call.request),
  ServerStream: (call) => {
    for (let i = 0; i < STREAM; i++) call.write(call.request);
    call.end();
  },
  ClientStream: (call, callback) => {
    let last;
    call.on('data', (message) => {
      last = message;
    });
    call.on('end', () => callback(null, last));
  },
  Bidi: (call) => {
    call.on('data', (message) => call.write(message));
    call.on('end', () => call.end());
  },
};

export async function setup(row, variant, { template, parent }) {
  const grpc = require('@grpc/grpc-js');
  const serverOptions = {};
  const clientOptions = {};
  if (variant === 'tracewire') {
    const tracewire = await import('@tracewire/grpc');
    serverOptions.interceptors = [tracewire.serverInterceptor()];
    clientOptions.interceptors = [tracewire.clientInterceptor()];
  } else if (variant === 'floor') {
    serverOptions.interceptors = [floorServer(grpc, pick(template, 1), parent)];
    clientOptions.interceptors = [floorClient(grpc, pick(template, 2))];
  }
  const server = new grpc.Server(serverOptions);
  server.addService(SERVICE, HANDLERS);
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), clientOptions);
  const once = CALLS[row.id](client);
  const run = async (n) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, n) }, async () => {
        while (next++ < n) await once();
      }),
    );
  };
  return {
    run,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

const CALLS = {
  'grpc-unary': (client) => () =>
    new Promise((resolve, reject) => client.Unary(PAYLOAD, (error) => (error ? reject(error) : resolve()))),
  'grpc-server-stream': (client) => () =>
    new Promise((resolve, reject) => {
      const call = client.ServerStream(PAYLOAD);
      call.on('data', () => {});
      call.on('error', reject);
      call.on('end', resolve);
    }),
  'grpc-client-stream': (client) => () =>
    new Promise((resolve, reject) => {
      const call = client.ClientStream((error) => (error ? reject(error) : resolve()));
      for (let i = 0; i < STREAM; i++) call.write(PAYLOAD);
      call.end();
    }),
  'grpc-bidi': (client) => () =>
    new Promise((resolve, reject) => {
      const call = client.Bidi();
      call.on('data', () => {});
      call.on('error', reject);
      call.on('end', resolve);
      for (let i = 0; i < STREAM; i++) call.write(PAYLOAD);
      call.end();
    }),
};

/** The floor's client side: a CLIENT span per call and a constant traceparent in the metadata. */
function floorClient(grpc, shape) {
  const tracer = floorTracer();
  return (options, nextCall) => {
    const span = startFrom(tracer, shape, undefined);
    return new grpc.InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        metadata.set('traceparent', TRACEPARENT);
        next(metadata, {
          onReceiveStatus(status, nextStatus) {
            endLike(span, shape);
            nextStatus(status);
          },
        });
      },
    });
  };
}

/**
 * The floor's server side: the metadata read with grpc-js's own API, a SERVER span under the
 * caller's constant context, the handler's callbacks run in it, ended with the status.
 */
function floorServer(grpc, shape, parent) {
  const tracer = floorTracer();
  return (_descriptor, call) => {
    let span;
    let active;
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            if (metadata.get('traceparent').length === 0) throw new Error('no traceparent');
            span = startFrom(tracer, shape, parent);
            active = trace.setSpan(parent, span);
            context.with(active, () => nextMetadata(metadata));
          },
          onReceiveMessage(message, nextMessage) {
            context.with(active, () => nextMessage(message));
          },
          onReceiveHalfClose(nextHalfClose) {
            context.with(active, nextHalfClose);
          },
        });
      },
      sendStatus(status, next) {
        if (span !== undefined) endLike(span, shape);
        next(status);
      },
    });
  };
}
