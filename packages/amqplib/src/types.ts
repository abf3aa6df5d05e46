import type { IncomingOptions } from '@tracewire/core';

/** An AMQP header table as amqplib decodes it: strings, numbers, Buffers, tables, arrays, null. */
export type AmqpHeaders = Record<string, unknown>;

/**
 * A message as amqplib hands it to a consumer or returns it from `get`. Structural, so the
 * package needs no amqplib types; amqplib's `Message` has this shape.
 */
export interface AmqpMessage {
  content: Buffer;
  fields: {
    deliveryTag: number;
    redelivered: boolean;
    exchange: string;
    routingKey: string;
    consumerTag?: string;
    messageCount?: number;
  };
  properties: {
    headers: AmqpHeaders | undefined;
    contentType: unknown;
    contentEncoding: unknown;
    deliveryMode: unknown;
    priority: unknown;
    correlationId: unknown;
    replyTo: unknown;
    expiration: unknown;
    messageId: unknown;
    timestamp: unknown;
    type: unknown;
    userId: unknown;
    appId: unknown;
    clusterId: unknown;
  };
}

/** What `traceChannel` needs of a channel: an amqplib `Channel` or `ConfirmChannel` (promise or callback API). */
export interface TraceableChannel {
  publish(...args: never[]): unknown;
  sendToQueue(...args: never[]): unknown;
  consume(...args: never[]): unknown;
  ack(...args: never[]): unknown;
  on(event: 'close', listener: () => void): unknown;
}

export interface AmqplibTracingOptions extends IncomingOptions<AmqpMessage> {
  /**
   * How long a `process` span waits for a handler whose promise has not settled before it is
   * ended anyway (marked `tracewire.rabbitmq.settlement: timeout`), so no span leaks. The handler
   * itself keeps running. Default 300 000 (5 minutes).
   */
  settleTimeoutMs?: number;
  /**
   * Record each `ack`, `nack`, `reject`, `ackAll` and `nackAll` made through the traced channel
   * as a CLIENT settle span of its own (`ack {queue}`...), linked to the message's creation
   * context. Default `false`: the settlement is recorded on the message's `process` span when
   * that is still open (the handler has not settled yet).
   */
  settleSpans?: boolean;
}
