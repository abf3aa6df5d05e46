import type {
  EachBatchHandler,
  EachBatchPayload,
  EachMessageHandler,
  EachMessagePayload,
  KafkaMessage,
} from 'kafkajs';
import { type ConsumerTracingOptions, createConsumerSpans } from './consumer-spans.js';
import { PACKAGE_NAME } from './identity.js';
import { type IncomingCaller, runInScope as runTraced, runInScopeAsIs } from '@tracewire/core';
import { context } from '@opentelemetry/api';

/** The `eachBatch` payload a {@link traceEachBatch} handler gets: KafkaJS's own, plus `traceMessage`. */
export interface TracedEachBatchPayload extends EachBatchPayload {
  /**
   * Runs `fn` in a CONSUMER span `process {topic}` for one message of this batch: the child of
   * that message's producer context (its baggage active), linked to it and to the batch span; a message without a
   * valid context (or one `trust` does not continue) is the batch span's child. Returns what `fn`
   * returns, itself; a throw or rejection marks the span ERROR and reaches the caller unchanged.
   */
  traceMessage<T>(message: KafkaMessage, fn: () => T): T;
}

/** An `eachBatch` handler that receives {@link TracedEachBatchPayload}. */
export type TracedEachBatchHandler = (payload: TracedEachBatchPayload) => Promise<void>;

/**
 * Wraps an `eachMessage` handler: each message is processed in a CONSUMER span `process {topic}`,
 * the child of the producer's context found in the message headers (a new trace when there is
 * none, it is invalid, or `trust` says so). The payload reaches the handler unchanged, and so do
 * its errors, so KafkaJS retries and commits exactly as without tracing.
 */
export function traceEachMessage(
  handler: EachMessageHandler,
  options: ConsumerTracingOptions = {},
): EachMessageHandler {
  if (typeof handler !== 'function') {
    throw new TypeError(`${PACKAGE_NAME}: traceEachMessage needs an eachMessage handler function`);
  }
  const spans = createConsumerSpans(options);
  return function tracedEachMessage(this: unknown, payload: EachMessagePayload): Promise<void> {
    const scope = spans.message(payload);
    if (!scope) return handler.call(this, payload);
    return runTraced(scope, () => handler.call(this, payload));
  };
}

/**
 * Wraps an `eachBatch` handler: the batch is processed in one CONSUMER span `process {topic}`
 * with a link to every message's context (`messaging.batch.message_count`), and the handler gets
 * `traceMessage(message, fn)` to process each message in its own span, parented on its producer.
 * Every other payload member is KafkaJS's own function or object, passed through.
 */
export function traceEachBatch(
  handler: TracedEachBatchHandler,
  options: ConsumerTracingOptions = {},
): EachBatchHandler {
  if (typeof handler !== 'function') {
    throw new TypeError(`${PACKAGE_NAME}: traceEachBatch needs an eachBatch handler function`);
  }
  const spans = createConsumerSpans(options);
  return function tracedEachBatch(this: unknown, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const messages = Array.isArray(batch?.messages) ? batch.messages : [];
    const topic = batch?.topic;
    const partition = batch?.partition;
    const batchSpan = messages.length > 0 ? spans.batch(topic, partition, messages) : undefined;
    const scope = batchSpan?.scope;
    const links = scope ? [{ context: scope.span.spanContext() }] : undefined;
    /** The message after the last one traced: handlers mostly trace the batch in order. */
    let next = 0;
    const traced: TracedEachBatchPayload = {
      ...payload,
      traceMessage<T>(message: KafkaMessage, fn: () => T): T {
        let caller: IncomingCaller | undefined;
        // The batch's reading of a message holds only if it is the one read (a handler may pass
        // any message) and the context is still the batch's, as when it was read.
        if (batchSpan && context.active() === batchSpan.scope.context) {
          if (messages[next] === message) caller = batchSpan.callers[next++];
          else if (next > 0 && messages[next - 1] === message) caller = batchSpan.callers[next - 1];
        }
        const messageScope = spans.message({ topic, partition, message }, links, scope, caller);
        return messageScope ? runInScopeAsIs(messageScope, fn) : fn();
      },
    };
    if (!scope) return handler.call(this, traced);
    return runTraced(scope, () => handler.call(this, traced));
  };
}
