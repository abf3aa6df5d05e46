import {
  type AdapterIdentity,
  type MessageCarrier,
  type MessageSend,
  type MessageSendSpans,
  createMessageSendSpans,
  errorType,
  parseTraceparent,
  reportOnce,
} from '@tracewire/core';
import { type Peer, sendAttributes, sendExchangeName } from './attributes.js';
import type { CloseReason } from './close-reason.js';
import { amqpHeaderGetter, newHeaders, withInjectedHeaders } from './header-carrier.js';
import type { Closing } from './open-spans.js';
import type { AmqpHeaders, AmqplibTracingOptions } from './types.js';

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
  /** The channel or its connection closed: confirms that can no longer come end their spans. */
  closed(closing: Closing): void;
}

/** The real channel; its methods are called on it, so `this` inside amqplib is the channel. */
export type ProducerChannel = Pick<ProducerMethods, 'publish' | 'sendToQueue'> & {
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
};

/** One publish's headers as the send helper sees them: the user's, read; the new ones, written. */
interface PublishCarrier {
  user: AmqpHeaders | undefined;
  injected: Record<string, unknown>;
  dropped: string[] | undefined;
}

const publishCarrier: MessageCarrier<PublishCarrier> = {
  getter: {
    keys: (carrier) => amqpHeaderGetter.keys(carrier.user),
    get: (carrier, key) => amqpHeaderGetter.get(carrier.user, key),
  },
  setter: {
    set(carrier, key, value) {
      carrier.injected[key] = value;
    },
  },
  remove(carrier, key) {
    // Only user headers can hold a field to drop: without them, no list per publish.
    if (carrier.user === undefined) return;
    if (carrier.dropped) carrier.dropped.push(key);
    else carrier.dropped = [key];
  },
};

interface Started {
  send: MessageSend;
  options: unknown;
  /** The headers read and written: what {@link outgoingSpanId} reads for a `mandatory` publish. */
  carrier: PublishCarrier;
}

/** A confirm-channel publish waiting for the broker's ack or nack. */
interface Pending {
  send: MessageSend;
  key: string | undefined;
  /** Set when the broker returned the message as unroutable (a `mandatory` publish). */
  returned?: { type: string; message: string };
}

/**
 * `publish` and `sendToQueue` of one traced channel: one PRODUCER `send` span per message, child
 * of the active context, injected into a copy of the options, unless the message already carries
 * a creation context of the app's (a re-published message): then its headers go out untouched and
 * the span links to that context. On a confirm channel the span ends with the broker's confirm (a
 * nack, an unroutable return of a `mandatory` message, or a close marks it ERROR); otherwise when
 * the call returns.
 */
export function producerMethods(
  target: ProducerChannel,
  options: AmqplibTracingOptions,
  identity: AdapterIdentity,
  peer: Peer,
  confirm: boolean,
  closeReason: CloseReason,
): ProducerMethods {
  const spans: MessageSendSpans<PublishCarrier> = createMessageSendSpans(
    { tracer: options.tracer, tracerProvider: options.tracerProvider, propagator: options.propagator },
    identity,
    publishCarrier,
    errorType,
  );
  const startFailed = `${identity.packageName}: could not start a publish span; publishing untraced`;

  const start = (
    exchange: unknown,
    routingKey: unknown,
    content: unknown,
    userOptions: unknown,
  ): Started | undefined => {
    let send: MessageSend | undefined;
    try {
      const user = userHeaders(userOptions);
      const carrier: PublishCarrier = { user, injected: newHeaders(), dropped: undefined };
      const destination = sendExchangeName(exchange);
      send = spans.start({ destination, attributes: {} }, [
        {
          carrier,
          destination,
          attributes: sendAttributes(exchange, routingKey, content, userOptions, peer),
        },
      ]);
      return {
        send,
        options: withInjectedHeaders(userOptions, carrier.injected, carrier.dropped),
        carrier,
      };
    } catch (error) {
      reportOnce(startFailed, error);
      send?.succeed();
      return undefined;
    }
  };

  if (!confirm) {
    return {
      publish(exchange, routingKey, content, userOptions) {
        const started = start(exchange, routingKey, content, userOptions);
        if (!started) return target.publish(exchange, routingKey, content, userOptions);
        return sendNow(started.send, () => target.publish(exchange, routingKey, content, started.options));
      },
      sendToQueue(queue, content, userOptions) {
        const started = start('', queue, content, userOptions);
        if (!started) return target.sendToQueue(queue, content, userOptions);
        return sendNow(started.send, () => target.sendToQueue(queue, content, started.options));
      },
      closed() {},
    };
  }

  const pending = new Set<Pending>();
  const returnable = new Map<string, Pending>();
  let watchingReturns = false;
  const watchReturns = (): void => {
    if (watchingReturns || typeof target.on !== 'function') return;
    watchingReturns = true;
    // A 'return' listener changes nothing for amqplib, which emits returns whether or not anyone listens.
    target.on('return', (message: unknown) => {
      try {
        const headers = (message as { properties?: { headers?: AmqpHeaders } }).properties?.headers;
        const traceparent = amqpHeaderGetter.get(headers, 'traceparent');
        const key = typeof traceparent === 'string' ? parseTraceparent(traceparent)?.spanId : undefined;
        const entry = key === undefined ? undefined : returnable.get(key);
        if (!entry) return;
        const fields = (message as { fields?: { replyCode?: unknown; replyText?: unknown } }).fields;
        const text = typeof fields?.replyText === 'string' ? fields.replyText : 'returned';
        entry.returned = {
          type: text,
          message: `message returned by the broker: ${fields?.replyCode} ${text}`,
        };
      } catch (error) {
        reportOnce(startFailed, error);
      }
    });
  };

  const confirmed = (entry: Pending, callback: unknown): ((...args: unknown[]) => unknown) => {
    return (...args: unknown[]): unknown => {
      settle(entry, args[0]);
      // amqplib calls a truthy callback whatever it is; so do we, with exactly its arguments.
      return callback ? (callback as (...a: unknown[]) => unknown)(...args) : undefined;
    };
  };

  const settle = (entry: Pending, error: unknown): void => {
    pending.delete(entry);
    if (entry.key !== undefined && returnable.get(entry.key) === entry) returnable.delete(entry.key);
    if (error) {
      const { type, message } = confirmError(error, closeReason);
      entry.send.failWith(type, message);
    } else if (entry.returned) {
      entry.send.failWith(entry.returned.type, entry.returned.message);
    } else {
      entry.send.succeed();
    }
  };

  const track = (started: Started, userOptions: unknown): Pending => {
    const entry: Pending = { send: started.send, key: undefined };
    pending.add(entry);
    if (isMandatory(userOptions)) {
      const outgoing = outgoingSpanId(started);
      if (outgoing !== undefined) {
        watchReturns();
        entry.key = outgoing;
        returnable.set(outgoing, entry);
      }
    }
    return entry;
  };

  return {
    publish(exchange, routingKey, content, userOptions, callback) {
      const started = start(exchange, routingKey, content, userOptions);
      if (!started) return target.publish(exchange, routingKey, content, userOptions, callback);
      const entry = track(started, userOptions);
      try {
        return target.publish(exchange, routingKey, content, started.options, confirmed(entry, callback));
      } catch (error) {
        pending.delete(entry);
        started.send.fail(error);
        throw error;
      }
    },
    sendToQueue(queue, content, userOptions, callback) {
      const started = start('', queue, content, userOptions);
      if (!started) return target.sendToQueue(queue, content, userOptions, callback);
      const entry = track(started, userOptions);
      try {
        return target.sendToQueue(queue, content, started.options, confirmed(entry, callback));
      } catch (error) {
        pending.delete(entry);
        started.send.fail(error);
        throw error;
      }
    },
    closed(closing) {
      // amqplib fails pending confirms itself on a channel close (before this runs); after a lost
      // socket it never does, so whatever is left ends here.
      for (const entry of [...pending]) {
        pending.delete(entry);
        entry.send.failWith(closing.type, closing.message);
      }
      returnable.clear();
    },
  };
}

/** A plain-channel publish: the span ends when the call returns; a throw marks it and is rethrown. */
function sendNow(send: MessageSend, call: () => unknown): unknown {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    send.fail(error);
    throw error;
  }
  send.succeed();
  return result;
}

/**
 * The span id in the `traceparent` that went out (the message's own when it kept it): how a
 * returned message finds its publish. Read only for `mandatory` publishes, the ones a broker returns.
 */
function outgoingSpanId({ send, carrier }: Started): string | undefined {
  const traceparent = send.preserved(0)
    ? amqpHeaderGetter.get(carrier.user, 'traceparent')
    : carrier.injected['traceparent'];
  return typeof traceparent === 'string' ? parseTraceparent(traceparent)?.spanId : undefined;
}

function userHeaders(options: unknown): AmqpHeaders | undefined {
  if (options === null || typeof options !== 'object') return undefined;
  const headers = (options as { headers?: unknown }).headers;
  return headers !== null && typeof headers === 'object' ? (headers as AmqpHeaders) : undefined;
}

function isMandatory(options: unknown): boolean {
  return (
    options !== null && typeof options === 'object' && Boolean((options as { mandatory?: unknown }).mandatory)
  );
}

function confirmError(
  error: unknown,
  closeReason: CloseReason,
): { type: string; message: string | undefined } {
  const message = error instanceof Error ? error.message : undefined;
  if (message === 'message nacked') return { type: 'nack', message };
  if (message === 'channel closed') {
    const broker = closeReason.brokerError();
    return broker ?? { type: 'channel_closed', message };
  }
  return { type: errorType(error), message };
}
