// Real grpc-js servers and clients on loopback for the adapter tests: an Echo server with one
// method per call type whose handlers call a Downstream service through their own traced client.
import { fileURLToPath } from 'node:url';
import {
  type CallOptions,
  type Client,
  type ClientOptions,
  type ClientReadableStream,
  Metadata,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServerInterceptor,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceClientConstructor,
  type ServiceError,
  credentials,
  loadPackageDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { trace } from '@opentelemetry/api';
import { clientInterceptor } from '@tracewire/grpc';

export interface EchoRequest {
  text?: string;
  failWith?: number;
  delayMs?: number;
  callDownstream?: boolean;
}
export interface EchoReply {
  text: string;
}

export type CallType = 'unary' | 'serverStream' | 'clientStream' | 'bidi';
export const CALL_TYPES: readonly CallType[] = ['unary', 'serverStream', 'clientStream', 'bidi'];
export const METHOD_OF: Record<CallType, string> = {
  unary: 'Unary',
  serverStream: 'ServerStream',
  clientStream: 'ClientStream',
  bidi: 'Bidi',
};

/** A client call the test may cancel. */
interface Cancellable {
  cancel(): void;
}
/** A server call, which tells its handler when it is cancelled. */
interface ServerCall {
  on(event: 'cancelled', listener: () => void): unknown;
}

type UnaryMethod = (
  request: EchoRequest,
  metadata: Metadata,
  options: CallOptions,
  callback: (error: ServiceError | null, reply?: EchoReply) => void,
) => Cancellable;
type ServerStreamMethod = (
  request: EchoRequest,
  metadata: Metadata,
  options: CallOptions,
) => ClientReadableStream<EchoReply>;
interface ClientWritable extends Cancellable {
  write(message: EchoRequest): boolean;
  end(): void;
}
type ClientStreamMethod = (
  metadata: Metadata,
  options: CallOptions,
  callback: (error: ServiceError | null, reply?: EchoReply) => void,
) => ClientWritable;
interface ClientDuplex extends ClientWritable {
  on(event: string, listener: (...args: never[]) => void): unknown;
}
type BidiMethod = (metadata: Metadata, options: CallOptions) => ClientDuplex;

export type EchoClient = Client & {
  Unary: UnaryMethod;
  ServerStream: ServerStreamMethod;
  ClientStream: ClientStreamMethod;
  Bidi: BidiMethod;
};
type DownstreamClient = Client & { Ping: UnaryMethod };

const protoPath = fileURLToPath(new URL('./fixtures/echo.proto', import.meta.url));
const proto = loadPackageDefinition(
  loadSync(protoPath, { keepCase: false, defaults: true, longs: Number }),
) as unknown as {
  tracewire: { test: { Echo: ServiceClientConstructor; Downstream: ServiceClientConstructor } };
};
const { Echo, Downstream } = proto.tracewire.test;

export { Metadata };

/** What a handler saw: the span active in it (and in its stream events), and when it ended. */
export interface HandlerRecord {
  method: CallType;
  activeSpanIds: (string | undefined)[];
  cancelled: boolean;
  done: Promise<void>;
}

export interface EchoServer {
  port: number;
  target: string;
  /** Handler records, newest last. */
  handled: HandlerRecord[];
  /** Resolves when the next handler starts. */
  nextHandler(): Promise<HandlerRecord>;
  close(): Promise<void>;
}

function bind(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
}

function shutdown(server: Server): Promise<void> {
  return new Promise((resolve) => server.tryShutdown(() => resolve()));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function activeSpanId(): string | undefined {
  return trace.getActiveSpan()?.spanContext().spanId;
}

/** Starts a Downstream server and an Echo server whose handlers call Downstream with a traced client. */
export async function startServers(interceptors: ServerInterceptor[]): Promise<EchoServer> {
  const downstream = new Server({ interceptors });
  downstream.addService(Downstream.service, {
    Ping(_call: ServerUnaryCall<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) {
      callback(null, { text: 'pong' });
    },
  });
  const downstreamPort = await bind(downstream);
  const downstreamClient = new Downstream(`127.0.0.1:${downstreamPort}`, credentials.createInsecure(), {
    interceptors: [clientInterceptor()],
  }) as unknown as DownstreamClient;
  const ping = (): Promise<void> =>
    new Promise((resolve, reject) =>
      downstreamClient.Ping({ text: 'ping' }, new Metadata(), {}, (error) =>
        error ? reject(error) : resolve(),
      ),
    );

  const handled: HandlerRecord[] = [];
  let waiting: ((record: HandlerRecord) => void)[] = [];
  const begin = (method: CallType, cancellable: ServerCall): [HandlerRecord, () => void] => {
    let finish = (): void => {};
    const record: HandlerRecord = {
      method,
      activeSpanIds: [activeSpanId()],
      cancelled: false,
      done: new Promise<void>((resolve) => {
        finish = resolve;
      }),
    };
    cancellable.on('cancelled', () => {
      record.cancelled = true;
    });
    handled.push(record);
    const notify = waiting;
    waiting = [];
    for (const resolve of notify) resolve(record);
    return [record, finish];
  };
  /** Waits `delayMs`, or until the call is cancelled (client cancel or deadline). */
  const wait = (record: HandlerRecord, call: ServerCall, delayMs: number): Promise<void> =>
    delayMs > 0
      ? new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          call.on('cancelled', () => {
            clearTimeout(timer);
            resolve();
          });
          if (record.cancelled) resolve();
        })
      : Promise.resolve();
  const statusError = (code: number): Partial<ServiceError> => ({
    code,
    details: `asked to fail with ${code}`,
  });

  const echo = new Server({ interceptors });
  echo.addService(Echo.service, {
    Unary(call: ServerUnaryCall<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) {
      const [record, finish] = begin('unary', call);
      const request = call.request;
      if (request.text === 'throw') {
        finish();
        throw new Error('handler threw');
      }
      void (async () => {
        await wait(record, call, request.delayMs ?? 0);
        if (request.callDownstream) await ping();
        record.activeSpanIds.push(activeSpanId());
        if (request.failWith) callback(statusError(request.failWith));
        else callback(null, { text: request.text ?? '' });
        finish();
      })();
    },
    async ServerStream(call: ServerWritableStream<EchoRequest, EchoReply>) {
      const [record, finish] = begin('serverStream', call);
      const request = call.request;
      call.write({ text: `${request.text}-1` });
      await wait(record, call, request.delayMs ?? 0);
      if (request.callDownstream) await ping();
      record.activeSpanIds.push(activeSpanId());
      if (request.failWith) call.emit('error', statusError(request.failWith));
      else {
        call.write({ text: `${request.text}-2` });
        call.end();
      }
      finish();
    },
    ClientStream(call: ServerReadableStream<EchoRequest, EchoReply>, callback: sendUnaryData<EchoReply>) {
      const [record, finish] = begin('clientStream', call);
      const texts: string[] = [];
      let last: EchoRequest = {};
      call.on('data', (request: EchoRequest) => {
        record.activeSpanIds.push(activeSpanId());
        texts.push(request.text ?? '');
        last = request;
      });
      call.on('end', async () => {
        record.activeSpanIds.push(activeSpanId());
        await wait(record, call, last.delayMs ?? 0);
        if (last.callDownstream) await ping();
        if (last.failWith) callback(statusError(last.failWith));
        else callback(null, { text: texts.join('+') });
        finish();
      });
      call.on('cancelled', () => finish());
    },
    Bidi(call: ServerDuplexStream<EchoRequest, EchoReply>) {
      const [record, finish] = begin('bidi', call);
      let last: EchoRequest = {};
      call.on('data', (request: EchoRequest) => {
        record.activeSpanIds.push(activeSpanId());
        last = request;
        call.write({ text: request.text ?? '' });
      });
      call.on('end', async () => {
        record.activeSpanIds.push(activeSpanId());
        await wait(record, call, last.delayMs ?? 0);
        if (last.callDownstream) await ping();
        if (last.failWith) call.emit('error', statusError(last.failWith));
        else call.end();
        finish();
      });
      call.on('cancelled', () => finish());
    },
  });
  const port = await bind(echo);
  return {
    port,
    target: `127.0.0.1:${port}`,
    handled,
    nextHandler: () => new Promise((resolve) => waiting.push(resolve)),
    async close() {
      downstreamClient.close();
      await Promise.all([shutdown(echo), shutdown(downstream)]);
    },
  };
}

export function echoClient(target: string, options: ClientOptions = {}): EchoClient {
  return new Echo(target, credentials.createInsecure(), options) as unknown as EchoClient;
}

export interface Outcome {
  replies: string[];
  error?: ServiceError;
  /** The span active where the application got the result (callback, 'end' or 'error' event). */
  resultSpanId: string | undefined;
}

export interface CallControl {
  metadata?: Metadata;
  deadlineMs?: number;
  /** Called with the client call right after it is made (to cancel it later). */
  onCall?: (call: Cancellable) => void;
}

/** Makes one call of `type` with `requests` (one for unary and server-stream) and settles with its outcome. */
export function callEcho(
  client: EchoClient,
  type: CallType,
  requests: EchoRequest[],
  { metadata = new Metadata(), deadlineMs, onCall }: CallControl = {},
): Promise<Outcome> {
  const options: CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
  const first = requests[0] ?? {};
  return new Promise((resolve) => {
    const replies: string[] = [];
    const settle = (error: ServiceError | null | undefined): void =>
      resolve({ replies, resultSpanId: activeSpanId(), ...(error ? { error } : {}) });
    const onReply = (error: ServiceError | null, reply?: EchoReply): void => {
      if (reply) replies.push(reply.text);
      settle(error);
    };
    const streamEvents = (stream: { on(event: string, listener: (...args: never[]) => void): unknown }) => {
      stream.on('data', (reply: EchoReply) => replies.push(reply.text));
      stream.on('error', (error: ServiceError) => settle(error));
      stream.on('end', () => settle(null));
    };
    if (type === 'unary') {
      // Not `onCall?.(client.Unary(...))`: an optional call skips evaluating its arguments.
      const call = client.Unary(first, metadata, options, onReply);
      onCall?.(call);
    } else if (type === 'serverStream') {
      const stream = client.ServerStream(first, metadata, options);
      streamEvents(stream);
      onCall?.(stream);
    } else if (type === 'clientStream') {
      const stream = client.ClientStream(metadata, options, onReply);
      for (const request of requests) stream.write(request);
      stream.end();
      onCall?.(stream);
    } else {
      const stream = client.Bidi(metadata, options);
      streamEvents(stream);
      for (const request of requests) stream.write(request);
      stream.end();
      onCall?.(stream);
    }
  });
}

export { sleep };
