import { SpanKind } from '@opentelemetry/api';
import {
  type AdapterIdentity,
  type OutgoingSpans,
  type SpanScope,
  createOutgoingSpans,
  errorType,
  reportOnce,
} from '@tracewire/core';
import { type Peer, sendAttributes, sendSpanName } from './attributes.js';
import { injectedSetter, newHeaders, withInjectedHeaders } from './header-carrier.js';
import type { AmqplibTracingOptions } from './types.js';

type Publish = (
  exchange: unknown,
  routingKey: unknown,
  content: unknown,
  options?: unknown,
  callback?: unknown,
) => unknown;
type SendToQueue = (queue: unknown, content: unknown, options?: unknown, callback?: unknown) => unknown;

export interface ProducerMethods {
  publish: Publish;
  sendToQueue: SendToQueue;
}

/** The real channel; its methods are called on it, so `this` inside amqplib is the channel. */
export type ProducerChannel = ProducerMethods;

interface Started {
  scope: SpanScope;
  options: unknown;
}

/**
 * `publish` and `sendToQueue` of one traced channel: a PRODUCER span, child of the active
 * context, injected into a copy of the options. On a confirm channel the span ends with the
 * broker's confirm (a nack or a close marks it ERROR); otherwise when the call returns.
 */
export function producerMethods(
  target: ProducerChannel,
  options: AmqplibTracingOptions,
  identity: AdapterIdentity,
  peer: Peer,
  confirm: boolean,
): ProducerMethods {
  const spans: OutgoingSpans<Record<string, unknown>> = createOutgoingSpans(
    options,
    identity,
    SpanKind.PRODUCER,
    injectedSetter,
  );
  const startFailed = `${identity.packageName}: could not start a publish span; publishing untraced`;

  const start = (
    exchange: unknown,
    routingKey: unknown,
    content: unknown,
    userOptions: unknown,
  ): Started | undefined => {
    let scope: SpanScope | undefined;
    try {
      const injected = newHeaders();
      scope = spans.start(
        injected,
        sendSpanName(exchange),
        sendAttributes(exchange, routingKey, content, userOptions, peer),
      );
      return { scope, options: withInjectedHeaders(userOptions, injected) };
    } catch (error) {
      reportOnce(startFailed, error);
      scope?.end();
      return undefined;
    }
  };

  if (!confirm) {
    return {
      publish(exchange, routingKey, content, userOptions) {
        const started = start(exchange, routingKey, content, userOptions);
        if (!started) return target.publish(exchange, routingKey, content, userOptions);
        const { scope } = started;
        let result: unknown;
        try {
          result = target.publish(exchange, routingKey, content, started.options);
        } catch (error) {
          scope.fail(error).end();
          throw error;
        }
        scope.end();
        return result;
      },
      sendToQueue(queue, content, userOptions) {
        const started = start('', queue, content, userOptions);
        if (!started) return target.sendToQueue(queue, content, userOptions);
        const { scope } = started;
        let result: unknown;
        try {
          result = target.sendToQueue(queue, content, started.options);
        } catch (error) {
          scope.fail(error).end();
          throw error;
        }
        scope.end();
        return result;
      },
    };
  }

  return {
    publish(exchange, routingKey, content, userOptions, callback) {
      const started = start(exchange, routingKey, content, userOptions);
      if (!started) return target.publish(exchange, routingKey, content, userOptions, callback);
      const { scope } = started;
      try {
        return target.publish(exchange, routingKey, content, started.options, confirmed(scope, callback));
      } catch (error) {
        scope.fail(error).end();
        throw error;
      }
    },
    sendToQueue(queue, content, userOptions, callback) {
      const started = start('', queue, content, userOptions);
      if (!started) return target.sendToQueue(queue, content, userOptions, callback);
      const { scope } = started;
      try {
        return target.sendToQueue(queue, content, started.options, confirmed(scope, callback));
      } catch (error) {
        scope.fail(error).end();
        throw error;
      }
    },
  };
}

/**
 * The confirm callback amqplib gets: ends the span, then calls the user's callback with exactly
 * the arguments amqplib gave (`null` on ack, an Error on nack or close), letting it throw as is.
 */
function confirmed(scope: SpanScope, callback: unknown): (...args: unknown[]) => unknown {
  return (...args: unknown[]): unknown => {
    const error = args[0];
    if (error) scope.failWith(confirmErrorType(error), error instanceof Error ? error.message : undefined);
    scope.end();
    // amqplib calls a truthy callback whatever it is; so do we.
    return callback ? (callback as (...a: unknown[]) => unknown)(...args) : undefined;
  };
}

function confirmErrorType(error: unknown): string {
  if (error instanceof Error) {
    if (error.message === 'message nacked') return 'nack';
    if (error.message === 'channel closed') return 'channel_closed';
  }
  return errorType(error);
}
