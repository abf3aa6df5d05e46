import { SpanKind, context } from '@opentelemetry/api';
import {
  type AdapterIdentity,
  type IncomingSpans,
  type SpanScope,
  createIncomingSpans,
  reportOnce,
} from '@tracewire/core';
import { type Peer, receiveAttributes } from './attributes.js';
import { amqpHeaderGetter } from './header-carrier.js';
import { Outstanding, type Settlement } from './outstanding.js';
import type { AmqpHeaders, AmqpMessage, AmqplibTracingOptions } from './types.js';

type Method = (...args: unknown[]) => unknown;
type Handler = (message: unknown) => unknown;

/** The real channel; its methods are called on it, so `this` inside amqplib is the channel. */
export type ConsumerChannel = Record<
  'consume' | 'get' | 'ack' | 'nack' | 'reject' | 'ackAll' | 'nackAll' | 'recover',
  Method
>;

export interface ConsumerMethods {
  consume: Method;
  get: Method;
  ack: Method;
  nack: Method;
  reject: Method;
  ackAll: Method;
  nackAll: Method;
  recover: Method;
  /** Ends every outstanding span: the channel closed, so those messages go back to the queue. */
  closed(): void;
}

/**
 * The consuming side of one traced channel. Each delivery (and each message `get` returns) gets a
 * CONSUMER span, child of its producer's context, that ends when the message is settled through
 * this channel, on return of the handler for `noAck`, when the channel closes, or after the
 * settle timeout.
 */
export function consumerMethods(
  target: ConsumerChannel,
  options: AmqplibTracingOptions,
  identity: AdapterIdentity,
  peer: Peer,
  settleTimeoutMs: number,
  traced: () => object,
): ConsumerMethods {
  // Callback-API methods return the channel for chaining: hand back the traced one instead.
  const chained = (result: unknown): unknown => (result === target ? traced() : result);
  const spans: IncomingSpans<AmqpMessage, AmqpHeaders | undefined> = createIncomingSpans(
    options,
    identity,
    SpanKind.CONSUMER,
    amqpHeaderGetter,
  );
  const outstanding = new Outstanding(settleTimeoutMs);
  const startFailed = `${identity.packageName}: could not start a consumer span; delivering untraced`;
  const settleFailed = `${identity.packageName}: could not end the span of a settled message`;

  const start = (
    message: AmqpMessage,
    queue: string,
    operation: 'process' | 'receive',
  ): SpanScope | undefined => {
    try {
      return spans.start(
        message,
        message.properties?.headers,
        `${operation} ${queue}`,
        receiveAttributes(message, queue, operation, peer),
      );
    } catch (error) {
      reportOnce(startFailed, error);
      return undefined;
    }
  };

  const track = (message: AmqpMessage, scope: SpanScope): void => {
    const tag = message.fields?.deliveryTag;
    if (typeof tag === 'number') outstanding.add(tag, scope);
    else scope.end();
  };

  const settle = (message: unknown, allUpTo: unknown, settlement: Settlement, requeue?: boolean): void => {
    try {
      const tag = (message as AmqpMessage).fields.deliveryTag;
      outstanding.settle(tag, Boolean(allUpTo), settlement, requeue);
    } catch (error) {
      reportOnce(settleFailed, error);
    }
  };

  const settleAll = (settlement: Settlement, requeue?: boolean): void => {
    try {
      outstanding.settleAll(settlement, requeue);
    } catch (error) {
      reportOnce(settleFailed, error);
    }
  };

  const received = (message: unknown, queue: string, noAck: boolean): void => {
    if (message === null || typeof message !== 'object') return;
    const scope = start(message as AmqpMessage, queue, 'receive');
    if (!scope) return;
    if (noAck) scope.end();
    else track(message as AmqpMessage, scope);
  };

  return {
    consume(queue, handler, consumeOptions, ...rest) {
      if (typeof handler !== 'function')
        return chained(target.consume(queue, handler, consumeOptions, ...rest));
      const queueName = typeof queue === 'string' ? queue : String(queue);
      const noAck = readNoAck(consumeOptions);
      const onMessage = (message: unknown): unknown => {
        // null: the server cancelled the consumer; the handler sees it untouched.
        if (message === null || typeof message !== 'object') return (handler as Handler)(message);
        const scope = start(message as AmqpMessage, queueName, 'process');
        if (!scope) return (handler as Handler)(message);
        if (noAck) return runUntilSettled(scope, handler as Handler, message);
        track(message as AmqpMessage, scope);
        return runRecordingErrors(scope, handler as Handler, message);
      };
      return chained(target.consume(queue, onMessage, consumeOptions, ...rest));
    },

    get(queue, getOptions, callback, ...rest) {
      const queueName = typeof queue === 'string' ? queue : String(queue);
      const noAck = readNoAck(getOptions);
      if (typeof callback === 'function') {
        // The callback API: the message arrives as the callback's second argument.
        const got = (...args: unknown[]): unknown => {
          if (!args[0]) received(args[1], queueName, noAck);
          return callback(...args);
        };
        return chained(target.get(queue, getOptions, got, ...rest));
      }
      const result = target.get(queue, getOptions, callback, ...rest);
      if (!(result instanceof Promise)) return chained(result);
      return result.then((message: unknown) => {
        if (message) received(message, queueName, noAck);
        return message;
      });
    },

    ack(message, allUpTo) {
      const result = target.ack(message, allUpTo);
      settle(message, allUpTo, 'ack');
      return chained(result);
    },
    nack(message, allUpTo, requeue) {
      const result = target.nack(message, allUpTo, requeue);
      settle(message, allUpTo, 'nack', requeue === undefined ? true : Boolean(requeue));
      return chained(result);
    },
    reject(message, requeue) {
      const result = target.reject(message, requeue);
      settle(message, false, 'reject', requeue === undefined ? true : Boolean(requeue));
      return chained(result);
    },
    ackAll() {
      const result = target.ackAll();
      settleAll('ack');
      return chained(result);
    },
    nackAll(requeue) {
      const result = target.nackAll(requeue);
      settleAll('nack', requeue === undefined ? true : Boolean(requeue));
      return chained(result);
    },
    recover(...args) {
      const result = target.recover(...args);
      // The broker redelivers every unacked message, under new delivery tags.
      settleAll('recover');
      return chained(result);
    },
    closed() {
      settleAll('channel_closed');
    },
  };
}

function readNoAck(options: unknown): boolean {
  try {
    return options !== null && typeof options === 'object' && Boolean((options as { noAck?: unknown }).noAck);
  } catch {
    return false;
  }
}

/**
 * Runs an acknowledging consumer's handler in its span. A throw or rejection marks the span ERROR
 * and reaches amqplib unchanged; the span stays open until the message is settled.
 */
function runRecordingErrors(scope: SpanScope, handler: Handler, message: unknown): unknown {
  let result: unknown;
  try {
    result = context.with(scope.context, handler, undefined, message);
  } catch (error) {
    scope.fail(error);
    throw error;
  }
  if (result instanceof Promise) {
    // Rethrown so a rejection nobody handles is still reported as unhandled, as without tracing.
    result.then(undefined, (error: unknown) => {
      scope.fail(error);
      throw error;
    });
  }
  return result;
}

/** For `noAck` consumers: the message is settled on delivery, so the span ends with the handler. */
function runUntilSettled(scope: SpanScope, handler: Handler, message: unknown): unknown {
  let result: unknown;
  try {
    result = context.with(scope.context, handler, undefined, message);
  } catch (error) {
    scope.fail(error).end();
    throw error;
  }
  if (result instanceof Promise) {
    result.then(
      () => scope.end(),
      (error: unknown) => {
        scope.fail(error).end();
        throw error;
      },
    );
  } else {
    scope.end();
  }
  return result;
}
