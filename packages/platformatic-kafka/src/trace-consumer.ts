import { observeInScope, runInScopeAsIs } from '@tracewire/core';
import { type ConsumedMessage, type ConsumerTracingOptions, createConsumerSpans } from './consumer-spans.js';
import { PACKAGE_NAME } from './identity.js';

/**
 * Runs `fn` in the CONSUMER span `process {topic}` of `message` and returns what `fn` returns,
 * itself; a promise is watched, so the span covers the whole processing. A throw or rejection
 * marks the span ERROR and reaches you unchanged.
 */
export type TraceMessage = <T>(message: ConsumedMessage, fn: () => T) => T;

/**
 * For `for await (const message of stream)` loops: returns `traceMessage(message, fn)`. Each
 * call processes one message in a CONSUMER span `process {topic}`, the child of the producer's
 * context found in the message headers and linked to it (a new trace when there is none, it is
 * invalid, or `trust` says so), with `fn` running in that span's context and the producer's
 * baggage active.
 */
export function messageTracer(options: ConsumerTracingOptions = {}): TraceMessage {
  const spans = createConsumerSpans(options);
  return function traceMessage<T>(message: ConsumedMessage, fn: () => T): T {
    // Not a function: let the call fail exactly as it would untraced.
    if (typeof fn !== 'function') return (fn as () => T)();
    const scope = spans.message(message);
    return scope ? runInScopeAsIs(scope, fn) : fn();
  };
}

/**
 * For `stream.on('data', handler)`: wraps a listener so that each message is processed in its
 * CONSUMER span, as {@link messageTracer} does. The listener's own return value is returned
 * untouched: an event emitter ignores it (or, with `captureRejections`, handles it), so a
 * promise is only watched from the side to end the span, never replaced by a chained one that
 * could reject with nobody listening.
 */
export function traceHandler<Message extends ConsumedMessage, Result, Rest extends unknown[] = []>(
  handler: (message: Message, ...rest: Rest) => Result,
  options: ConsumerTracingOptions = {},
): (message: Message, ...rest: Rest) => Result {
  if (typeof handler !== 'function') {
    throw new TypeError(`${PACKAGE_NAME}: traceHandler needs a listener function`);
  }
  const spans = createConsumerSpans(options);
  return function tracedHandler(this: unknown, message: Message, ...rest: Rest): Result {
    const scope = spans.message(message);
    if (!scope) return handler.call(this, message, ...rest);
    return observeInScope(scope, () => handler.call(this, message, ...rest));
  };
}
