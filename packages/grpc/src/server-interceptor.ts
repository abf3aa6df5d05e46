import {
  type Metadata,
  type ServerInterceptingCallInterface,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { type Attributes, SpanKind, context } from '@opentelemetry/api';
import {
  type IncomingOptions,
  type IncomingSpans,
  type SpanScope,
  createIncomingSpans,
  reportOnce,
} from '@tracewire/core';
import { hostPortAttributes, lastResult } from './address.js';
import {
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from './attributes.js';
import { IDENTITY } from './identity.js';
import { metadataGetter } from './metadata-carrier.js';
import { methodName } from './method.js';
import { STATUS_CANCELLED, STATUS_DEADLINE_EXCEEDED, isServerError, statusName } from './status.js';

/** What a `trust` function is given for each incoming call. */
export interface GrpcServerRequest {
  /** The method's path, `/package.Service/Method`. */
  method: string;
  /** The call's incoming metadata. */
  metadata: Metadata;
  /** The call, for its peer (`getPeer()`), authority (`getHost()`) or auth context. */
  call: ServerInterceptingCallInterface;
}

/** Options of {@link serverInterceptor}: tracer, propagator and how far to trust callers. */
export type ServerInterceptorOptions = IncomingOptions<GrpcServerRequest>;

type ServerSpans = IncomingSpans<GrpcServerRequest, Metadata>;
type InterceptingServerListener = Parameters<ServerInterceptingCall['start']>[0];
type PartialStatus = Parameters<ServerInterceptingCall['sendStatus']>[0];

const START_FAILED = '@tracewire/grpc: could not start a server span; the call is served untraced';
const END_FAILED = '@tracewire/grpc: could not record a server status';
/**
 * A client cancels at its own deadline, which the server sees up to a few scheduling delays
 * before its copy of that deadline (taken when the headers were processed): a cancel this close
 * to the deadline is counted as the deadline.
 */
const DEADLINE_SLACK_MS = 50;

/**
 * A grpc-js server interceptor (`new Server({ interceptors: [serverInterceptor()] })`): each
 * call gets a SERVER span, child of the caller's context from the metadata (per `trust`), active
 * while the handler and its stream events run, ended once with the status the server sends (or
 * CANCELLED / DEADLINE_EXCEEDED when the call ends without one).
 */
export function serverInterceptor(options: ServerInterceptorOptions = {}): ServerInterceptor {
  const spans = createIncomingSpans(options, IDENTITY, SpanKind.SERVER, metadataGetter);
  const hostAttributes = lastResult((host: string) => hostPortAttributes(host));
  return function tracewireServerInterceptor(
    method: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ): ServerInterceptingCall {
    return new TracedServerCall(call, spans, method.path, hostAttributes);
  };
}

/** Hands every event to the traced listener and ends the span with the status the server sends. */
class TracedServerCall extends ServerInterceptingCall {
  readonly #call: ServerInterceptingCallInterface;
  readonly #spans: ServerSpans;
  readonly #path: string;
  readonly #hostAttributes: (host: string) => Attributes;
  #traced: TracedServerListener | undefined;

  constructor(
    call: ServerInterceptingCallInterface,
    spans: ServerSpans,
    path: string,
    hostAttributes: (host: string) => Attributes,
  ) {
    super(call);
    this.#call = call;
    this.#spans = spans;
    this.#path = path;
    this.#hostAttributes = hostAttributes;
  }

  override start(listener: InterceptingServerListener): void {
    const traced = new TracedServerListener(
      listener,
      this.#call,
      this.#spans,
      this.#path,
      this.#hostAttributes,
    );
    this.#traced = traced;
    super.start(traced);
  }

  override sendStatus(status: PartialStatus): void {
    this.#traced?.end(status.code, status.details);
    super.sendStatus(status);
  }
}

/**
 * Starts the span when the metadata arrives and runs every later step of the handler inside it.
 * A class rather than closures: one allocation per call, and no closure per event.
 */
class TracedServerListener {
  readonly #listener: InterceptingServerListener;
  readonly #call: ServerInterceptingCallInterface;
  readonly #spans: ServerSpans;
  readonly #path: string;
  readonly #hostAttributes: (host: string) => Attributes;
  #scope: SpanScope | undefined;

  constructor(
    listener: InterceptingServerListener,
    call: ServerInterceptingCallInterface,
    spans: ServerSpans,
    path: string,
    hostAttributes: (host: string) => Attributes,
  ) {
    this.#listener = listener;
    this.#call = call;
    this.#spans = spans;
    this.#path = path;
    this.#hostAttributes = hostAttributes;
  }

  onReceiveMetadata(metadata: Metadata): void {
    const listener = this.#listener;
    const scope = this.#startSpan(metadata);
    if (scope) context.with(scope.context, listener.onReceiveMetadata, listener, metadata);
    else listener.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    const listener = this.#listener;
    const scope = this.#scope;
    if (scope) context.with(scope.context, listener.onReceiveMessage, listener, message);
    else listener.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    const listener = this.#listener;
    const scope = this.#scope;
    if (scope) context.with(scope.context, listener.onReceiveHalfClose, listener);
    else listener.onReceiveHalfClose();
  }

  onCancel(): void {
    this.#endWithoutStatus();
    const listener = this.#listener;
    const scope = this.#scope;
    if (scope) context.with(scope.context, listener.onCancel, listener);
    else listener.onCancel();
  }

  #startSpan(metadata: Metadata): SpanScope | undefined {
    try {
      const call = this.#call;
      const name = methodName(this.#path);
      // Optional calls: not every grpc-js 1.x release has both on the intercepting call.
      const peer = call.getConnectionInfo?.();
      const host = call.getHost?.();
      const attributes: Attributes = {
        [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC,
        [ATTR_RPC_METHOD]: name,
        ...(host ? this.#hostAttributes(host) : undefined),
      };
      if (peer?.remoteAddress) attributes[ATTR_NETWORK_PEER_ADDRESS] = peer.remoteAddress;
      if (peer?.remotePort) attributes[ATTR_NETWORK_PEER_PORT] = peer.remotePort;
      this.#scope = this.#spans.start({ method: this.#path, metadata, call }, metadata, name, attributes);
    } catch (error) {
      reportOnce(START_FAILED, error);
    }
    return this.#scope;
  }

  /** grpc-js reports every finished call as cancelled; only a call that sent no status is one. */
  #endWithoutStatus(): void {
    if (!this.#scope || this.#scope.ended) return;
    let deadline = Number.POSITIVE_INFINITY;
    try {
      const value = this.#call.getDeadline();
      deadline = value instanceof Date ? value.getTime() : value;
    } catch {}
    const expired = Date.now() + DEADLINE_SLACK_MS >= deadline;
    this.end(expired ? STATUS_DEADLINE_EXCEEDED : STATUS_CANCELLED);
  }

  /** Ends the span once with `code`; later calls do nothing. */
  end(code: number, details?: string): void {
    const scope = this.#scope;
    if (!scope || scope.ended) return;
    try {
      const name = statusName(code);
      scope.span.setAttribute(ATTR_RPC_STATUS_CODE, name);
      if (isServerError(code)) scope.failWith(name, details || undefined);
      scope.end();
    } catch (error) {
      reportOnce(END_FAILED, error);
    }
  }
}
