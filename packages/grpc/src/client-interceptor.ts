import {
  InterceptingCall,
  type InterceptingListener,
  type Interceptor,
  type InterceptorOptions,
  type Metadata,
  type NextCall,
  type StatusObject,
} from '@grpc/grpc-js';
import { type Attributes, type Context, SpanKind, context } from '@opentelemetry/api';
import { type SpanScope, type TracingOptions, createOutgoingSpans, reportOnce } from '@tracewire/core';
import { lastResult, targetAttributes } from './address.js';
import { appContextLink, isTraced, markTraced } from './app-context.js';
import {
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from './attributes.js';
import { IDENTITY } from './identity.js';
import { metadataSetter } from './metadata-carrier.js';
import { methodName } from './method.js';
import { STATUS_OK, statusName } from './status.js';

/** Options of {@link clientInterceptor}: which tracer and propagator to use. */
export type ClientInterceptorOptions = TracingOptions;

/** The call below this interceptor (grpc-js does not export its interface). */
type NextCallInterface = ReturnType<NextCall>;

const TRACEPARENT = 'traceparent';
const START_FAILED = '@tracewire/grpc: could not start a client span; the call goes on untraced';
const END_FAILED = '@tracewire/grpc: could not record a client status';

/**
 * A grpc-js client interceptor: each call gets a CLIENT span, child of the context active when
 * the call was made, whose context travels in the call's metadata. The span ends once, with the
 * call's final status (every non-OK status is an error on the client), and the application's
 * callbacks and stream events run in the caller's context again.
 */
export function clientInterceptor(options: ClientInterceptorOptions = {}): Interceptor {
  const spans = createOutgoingSpans(options, IDENTITY, SpanKind.CLIENT, metadataSetter);
  const serverAttributes = lastResult(targetAttributes);

  const startSpan = (
    call: NextCallInterface,
    path: string,
    carrier: Metadata | undefined,
    parent: Context,
  ): SpanScope => {
    const name = methodName(path);
    const attributes: Attributes = {
      [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC,
      [ATTR_RPC_METHOD]: name,
      // Before it starts, grpc-js reports a call's peer as its channel's target.
      ...serverAttributes(call.getPeer()),
    };
    return spans.start(carrier, name, attributes, parent);
  };

  return function tracewireClientInterceptor(
    callOptions: InterceptorOptions,
    nextCall: NextCall,
  ): InterceptingCall {
    // The call is created synchronously by the client method, so this is the caller's context.
    const parent = context.active();
    const next = nextCall(callOptions);
    return new InterceptingCall(next, {
      start(metadata, listener, startNext) {
        // Stacked under another tracewire interceptor: that one's span is the call's only one.
        if (isTraced(metadata)) {
          startNext(metadata, listener);
          return;
        }
        let scope: SpanScope | undefined;
        let carrier = metadata;
        try {
          // A copy: the application may reuse its Metadata object for other calls.
          carrier = markTraced(metadata.clone());
          const own = metadata.get(TRACEPARENT);
          if (own.length > 0) {
            // The application's own context goes out untouched; the span links to it.
            scope = startSpan(next, callOptions.method_definition.path, undefined, parent);
            const link = appContextLink(own.length === 1 ? own[0] : own);
            if (link !== undefined) scope.span.addLink(link);
          } else {
            scope = startSpan(next, callOptions.method_definition.path, carrier, parent);
          }
        } catch (error) {
          reportOnce(START_FAILED, error);
        }
        const traced = scope
          ? new TracedListener(listener, scope, parent, callOptions.method_definition.responseStream)
          : listener;
        try {
          startNext(carrier, traced);
        } catch (error) {
          // An interceptor inside this one threw: the call never starts, so no status will come.
          scope?.fail(error).end();
          throw error;
        }
      },
    });
  };
}

/**
 * Ends the span with the status and gives the application its events back in the caller's
 * context. A single response message only reaches the application with the status, so it needs
 * no context of its own. (One-argument methods: grpc-js passes an intercepting listener on as is.)
 * A class rather than closures: one allocation per call, and no closure per event.
 */
class TracedListener {
  readonly #listener: InterceptingListener;
  readonly #scope: SpanScope;
  readonly #parent: Context;
  readonly #responseStream: boolean;

  constructor(listener: InterceptingListener, scope: SpanScope, parent: Context, responseStream: boolean) {
    this.#listener = listener;
    this.#scope = scope;
    this.#parent = parent;
    this.#responseStream = responseStream;
  }

  onReceiveMetadata(metadata: Metadata): void {
    const listener = this.#listener;
    const parent = this.#parent;
    // Already the caller's context: entering it again would change nothing the callback sees.
    if (context.active() === parent) listener.onReceiveMetadata(metadata);
    else context.with(parent, listener.onReceiveMetadata, listener, metadata);
  }

  onReceiveMessage(message: unknown): void {
    const listener = this.#listener;
    const parent = this.#parent;
    if (!this.#responseStream || context.active() === parent) listener.onReceiveMessage(message);
    else context.with(parent, listener.onReceiveMessage, listener, message);
  }

  onReceiveStatus(status: StatusObject): void {
    endClientSpan(this.#scope, status);
    const listener = this.#listener;
    const parent = this.#parent;
    if (context.active() === parent) listener.onReceiveStatus(status);
    else context.with(parent, listener.onReceiveStatus, listener, status);
  }
}

function endClientSpan(scope: SpanScope, status: StatusObject): void {
  try {
    const name = statusName(status.code);
    if (!scope.ended) scope.span.setAttribute(ATTR_RPC_STATUS_CODE, name);
    if (status.code !== STATUS_OK) scope.failWith(name, status.details || undefined);
    scope.end();
  } catch (error) {
    reportOnce(END_FAILED, error);
  }
}
