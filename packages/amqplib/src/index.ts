import { type AdapterIdentity, checkTrust, reportOnce } from '@tracewire/core';
import { channelPeer } from './attributes.js';
import { type ConsumerChannel, consumerMethods } from './consumer.js';
import { type ProducerChannel, producerMethods } from './producer.js';
import { offSocketClose, onSocketClose, watchClose } from './close-reason.js';
import type { AmqpHeaders, AmqpMessage, AmqplibTracingOptions, TraceableChannel } from './types.js';
import { VERSION } from './version.js';

export type { AmqpHeaders, AmqpMessage, AmqplibTracingOptions, TraceableChannel };
export { VERSION };

const PACKAGE_NAME = '@tracewire/amqplib';
const IDENTITY: AdapterIdentity = { packageName: PACKAGE_NAME, version: VERSION };
const DEFAULT_SETTLE_TIMEOUT_MS = 5 * 60 * 1000;
const OPTIONS_IGNORED = `${PACKAGE_NAME}: the channel is already traced; the options of this traceChannel call are ignored`;

type Method = (...args: unknown[]) => unknown;

/** Traced channels by original, so tracing a channel twice yields the same wrapper. */
const tracedByChannel = new WeakMap<object, object>();
const tracedChannels = new WeakSet<object>();

/**
 * Traces an amqplib `Channel` or `ConfirmChannel` and returns the same type: `publish` and
 * `sendToQueue` make PRODUCER spans and inject the trace context into the message headers;
 * `consume` makes a CONSUMER `process` span per delivery, child of the publisher's context,
 * covering the handler; `get` a CLIENT `receive` span covering the call; settlement is recorded on
 * the process span or, with `settleSpans`, as CLIENT settle spans. Everything else is the channel.
 */
export function traceChannel<C extends TraceableChannel>(channel: C, options: AmqplibTracingOptions = {}): C {
  if (channel === null || typeof channel !== 'object' || typeof channel.publish !== 'function') {
    throw new TypeError(`${PACKAGE_NAME}: traceChannel expects an amqplib Channel or ConfirmChannel`);
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${PACKAGE_NAME}: options must be an object, got ${String(options)}`);
  }
  const { settleTimeoutMs = DEFAULT_SETTLE_TIMEOUT_MS, settleSpans = false } = options;
  if (typeof settleTimeoutMs !== 'number' || !(settleTimeoutMs > 0) || settleTimeoutMs > 2 ** 31 - 1) {
    throw new TypeError(`${PACKAGE_NAME}: settleTimeoutMs must be a positive number of milliseconds`);
  }
  if (typeof settleSpans !== 'boolean') {
    throw new TypeError(`${PACKAGE_NAME}: settleSpans must be a boolean, got ${typeof settleSpans}`);
  }
  if (options.trust !== undefined) checkTrust(options.trust, PACKAGE_NAME);
  const existing = tracedChannels.has(channel) ? channel : (tracedByChannel.get(channel) as C | undefined);
  if (existing) {
    // One wrapper per channel: a second call's options cannot apply to the first one's spans.
    if (Object.values(options).some((value) => value !== undefined)) reportOnce(OPTIONS_IGNORED);
    return existing;
  }

  const target = channel as unknown as Record<PropertyKey, unknown>;
  const peer = channelPeer(channel);
  const confirm = typeof target['waitForConfirms'] === 'function';
  let proxy: object | undefined;
  const closeReason = watchClose(channel);
  const producer = producerMethods(
    target as unknown as ProducerChannel,
    options,
    IDENTITY,
    peer,
    confirm,
    closeReason,
  );
  const consumer = consumerMethods(
    target as unknown as ConsumerChannel,
    options,
    IDENTITY,
    peer,
    { settleTimeoutMs, settleSpans },
    () => proxy ?? target,
  );
  const overrides: Record<PropertyKey, unknown> = {
    publish: producer.publish,
    sendToQueue: producer.sendToQueue,
    consume: consumer.consume,
    get: consumer.get,
    ack: consumer.ack,
    nack: consumer.nack,
    reject: consumer.reject,
    ackAll: consumer.ackAll,
    nackAll: consumer.nackAll,
    recover: consumer.recover,
  };
  // Only what this channel has: a method it lacks stays missing.
  for (const name of Object.keys(overrides)) {
    if (typeof target[name] !== 'function') delete overrides[name];
  }
  const socketClosed = (): void => {
    const closing = closeReason.connectionLost();
    consumer.closed(closing);
    producer.closed(closing);
  };
  channel.on('close', () => {
    offSocketClose(channel, socketClosed);
    const closing = closeReason.channelClosed();
    consumer.closed(closing);
    producer.closed(closing);
  });
  onSocketClose(channel, socketClosed);

  proxy = tracingProxy(target, overrides);
  tracedByChannel.set(channel, proxy);
  tracedChannels.add(proxy);
  return proxy as C;
}

/**
 * A Proxy whose traced methods are `overrides` and whose every other property is the channel's:
 * methods are bound to the real channel (so `this` inside amqplib is never the proxy), and a
 * method returning the channel itself (callback API chaining) returns the proxy instead.
 */
function tracingProxy(target: Record<PropertyKey, unknown>, overrides: Record<PropertyKey, unknown>): object {
  const bound = new Map<PropertyKey, { source: Method; method: Method }>();
  const wrap = (method: Method): Method =>
    function (this: unknown, ...args: unknown[]): unknown {
      const result = method.apply(target, args);
      return result === target ? proxy : result;
    };
  const proxy: object = new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property];
      const value = Reflect.get(object, property, object);
      if (typeof value !== 'function' || property === 'constructor') return value;
      const cached = bound.get(property);
      if (cached?.source === value) return cached.method;
      const method = wrap(value as Method);
      bound.set(property, { source: value as Method, method });
      return method;
    },
    set(object, property, value) {
      return Reflect.set(object, property, value, object);
    },
  });
  return proxy;
}
