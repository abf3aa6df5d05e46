import { type Attributes, type Link, SpanKind, context, trace } from '@opentelemetry/api';
import {
  type AdapterIdentity,
  type IncomingSpans,
  SpanScope,
  createIncomingSpans,
  observeOutcome,
  reportOnce,
  resolveTracer,
} from '@tracewire/core';
import {
  ATTR_ALL_UP_TO,
  ATTR_RABBITMQ_MESSAGE_DELIVERY_TAG,
  ATTR_REQUEUE,
  type Peer,
  receiveAttributes,
  settleAttributes,
} from './attributes.js';
import { amqpHeaderGetter } from './header-carrier.js';
import { type Closing, OpenSpans, type Settlement, record } from './open-spans.js';
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
  /** Ends every open process span: the channel or its connection closed. */
  closed(closing: Closing): void;
}

/** What the consuming side needs beyond the user's options, normalised once by `traceChannel`. */
export interface ConsumerSettings {
  settleTimeoutMs: number;
  settleSpans: boolean;
}

/**
 * The consuming side of one traced channel. Each delivery gets a CONSUMER `process {queue}` span,
 * child of (and linked to) its creation context, covering the handler: it ends when the handler
 * returns or its promise settles, never waiting for an ack. Settlement is recorded on the process
 * span while it is still open, or as a CLIENT settle span of its own with `settleSpans`. `get` is
 * a CLIENT `receive {queue}` span covering the call.
 */
export function consumerMethods(
  target: ConsumerChannel,
  options: AmqplibTracingOptions,
  identity: AdapterIdentity,
  peer: Peer,
  { settleTimeoutMs, settleSpans }: ConsumerSettings,
  traced: () => object,
): ConsumerMethods {
  // Callback-API methods return the channel for chaining: hand back the traced one instead.
  const chained = (result: unknown): unknown => (result === target ? traced() : result);
  const spans: IncomingSpans<AmqpMessage, AmqpHeaders | undefined> = createIncomingSpans(
    options,
    identity,
    SpanKind.CONSUMER,
    amqpHeaderGetter,
    { linkParent: true },
  );
  const tracer = resolveTracer(options, identity.packageName, identity.version);
  const open = new OpenSpans(settleTimeoutMs);
  /** The queue each delivered or got message came from, for the names of its settle spans. */
  const queues = new WeakMap<object, string>();
  const startFailed = `${identity.packageName}: could not start a consumer span; delivering untraced`;
  const settleFailed = `${identity.packageName}: could not record the settlement of a message`;

  const startProcess = (message: AmqpMessage, queue: string): SpanScope | undefined => {
    try {
      return spans.start(
        message,
        message.properties?.headers,
        `process ${queue}`,
        receiveAttributes(message, queue, 'process', peer),
      );
    } catch (error) {
      reportOnce(startFailed, error);
      return undefined;
    }
  };

  const client = (name: string, attributes: Attributes, links?: Link[]): SpanScope => {
    const parent = context.active();
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes, links }, parent);
    return new SpanScope(span, trace.setSpan(parent, span));
  };

  const creationLink = (message: AmqpMessage): Link | undefined => {
    try {
      return spans.link(message, message.properties?.headers);
    } catch (error) {
      reportOnce(startFailed, error);
      return undefined;
    }
  };

  // The handler running right now (synchronously), so an ack made inside it is recorded on its
  // span: its delivery tag, span (undefined: none, or noAck) and whether it settled. Variables, not
  // an object per delivery; a handler delivering another message synchronously saves and restores them.
  let runningTag: unknown;
  let runningScope: SpanScope | undefined;
  let runningSettled = false;
  /** Records a settlement on the running handler's span (the caller checked that one runs and is covered). */
  const settleRunning = (settlement: Settlement, requeue?: boolean): void => {
    runningSettled = true;
    record(runningScope!, settlement, requeue);
  };

  /** Runs the handler in the process span; the span ends when it returns or its promise settles. */
  const runHandler = (scope: SpanScope, handler: Handler, message: AmqpMessage, noAck: boolean): unknown => {
    let result: unknown;
    const tag = message.fields?.deliveryTag;
    const outerTag = runningTag;
    const outerScope = runningScope;
    const outerSettled = runningSettled;
    runningTag = tag;
    runningScope = noAck ? undefined : scope;
    runningSettled = false;
    let settledInside = false;
    try {
      result = context.with(scope.context, handler, undefined, message);
    } catch (error) {
      scope.fail(error).end();
      throw error;
    } finally {
      settledInside = runningSettled;
      runningTag = outerTag;
      runningScope = outerScope;
      runningSettled = outerSettled;
    }
    if (result === null || (typeof result !== 'object' && typeof result !== 'function')) {
      scope.end();
      return result;
    }
    const tracked = typeof tag === 'number';
    if (tracked) open.add(tag, scope, noAck, settledInside);
    // Observed, never chained: amqplib ignores the handler's promise, so a chained one nobody
    // handles would be an unhandled rejection the application never made.
    return observeOutcome(result, (outcome) => {
      if (tracked) open.remove(tag, scope);
      if (!outcome.ok) scope.fail(outcome.error);
      scope.end();
    });
  };

  /** Records one settlement call on the open process spans it covers; returns its settle span, if any. */
  const settled = (
    operation: Settlement & ('ack' | 'nack' | 'reject'),
    message: unknown,
    allUpTo: boolean,
    requeue: boolean | undefined,
  ): SpanScope | undefined => {
    let scope: SpanScope | undefined;
    try {
      const fields = (message as AmqpMessage | null)?.fields;
      const tag = fields?.deliveryTag;
      if (typeof tag === 'number') {
        open.settle(tag, allUpTo, operation, requeue);
        if (runningScope && covers(runningTag, tag, allUpTo)) settleRunning(operation, requeue);
      }
      if (settleSpans) scope = startSettle(operation, message, allUpTo, requeue);
    } catch (error) {
      reportOnce(settleFailed, error);
    }
    return scope;
  };

  const startSettle = (
    operation: 'ack' | 'nack' | 'reject',
    message: unknown,
    allUpTo: boolean,
    requeue: boolean | undefined,
  ): SpanScope => {
    const known = message !== null && typeof message === 'object';
    const queue = known ? queues.get(message) : undefined;
    const link = known ? creationLink(message as AmqpMessage) : undefined;
    const attributes = settleAttributes(operation, queue, peer);
    if (known) {
      const tag = (message as AmqpMessage).fields?.deliveryTag;
      if (typeof tag === 'number') attributes[ATTR_RABBITMQ_MESSAGE_DELIVERY_TAG] = tag;
    }
    if (allUpTo) attributes[ATTR_ALL_UP_TO] = true;
    if (requeue !== undefined) attributes[ATTR_REQUEUE] = requeue;
    return client(queue ? `${operation} ${queue}` : operation, attributes, link ? [link] : undefined);
  };

  const settledAll = (operation: 'ack' | 'nack', requeue: boolean | undefined): SpanScope | undefined => {
    let scope: SpanScope | undefined;
    try {
      open.settleAll(operation, requeue);
      if (runningScope) settleRunning(operation, requeue);
      if (settleSpans) {
        const attributes = settleAttributes(operation, undefined, peer);
        attributes[ATTR_ALL_UP_TO] = true;
        if (requeue !== undefined) attributes[ATTR_REQUEUE] = requeue;
        scope = client(operation, attributes);
      }
    } catch (error) {
      reportOnce(settleFailed, error);
    }
    return scope;
  };

  /** A CLIENT `receive {queue}` span around `get`, linked to the got message's creation context. */
  const startReceive = (queue: string): SpanScope | undefined => {
    try {
      return client(`receive ${queue}`, receiveAttributes(undefined, queue, 'receive', peer));
    } catch (error) {
      reportOnce(startFailed, error);
      return undefined;
    }
  };

  const received = (scope: SpanScope, message: unknown, queue: string): void => {
    try {
      if (message !== null && typeof message === 'object') {
        queues.set(message, queue);
        scope.setAttributes(receiveAttributes(message as AmqpMessage, queue, 'receive', peer));
        const link = creationLink(message as AmqpMessage);
        if (link) scope.span.addLink(link);
      }
    } catch (error) {
      reportOnce(startFailed, error);
    }
    scope.end();
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
        if (settleSpans && !noAck) queues.set(message, queueName);
        const scope = startProcess(message as AmqpMessage, queueName);
        if (!scope) return (handler as Handler)(message);
        return runHandler(scope, handler as Handler, message as AmqpMessage, noAck);
      };
      return chained(target.consume(queue, onMessage, consumeOptions, ...rest));
    },

    get(queue, getOptions, callback, ...rest) {
      const queueName = typeof queue === 'string' ? queue : String(queue);
      const scope = startReceive(queueName);
      if (!scope) return chained(target.get(queue, getOptions, callback, ...rest));
      if (typeof callback === 'function') {
        // The callback API: the message arrives as the callback's second argument.
        const got = (...args: unknown[]): unknown => {
          if (args[0]) scope.fail(args[0]).end();
          else received(scope, args[1], queueName);
          return callback(...args);
        };
        try {
          return chained(scope.run(() => target.get(queue, getOptions, got, ...rest)));
        } catch (error) {
          scope.fail(error).end();
          throw error;
        }
      }
      let result: unknown;
      try {
        result = scope.run(() => target.get(queue, getOptions, callback, ...rest));
      } catch (error) {
        scope.fail(error).end();
        throw error;
      }
      if (!(result instanceof Promise)) {
        scope.end();
        return chained(result);
      }
      // The app awaits get's promise: chaining keeps its outcome, rejection included, as it was.
      return result.then(
        (message: unknown) => {
          received(scope, message, queueName);
          return message;
        },
        (error: unknown) => {
          scope.fail(error).end();
          throw error;
        },
      );
    },

    // The settle calls are made here, not through a closure: no allocation per ack without settle spans.
    ack(message, allUpTo) {
      const scope = settled('ack', message, Boolean(allUpTo), undefined);
      return chained(
        scope ? callInSpan(scope, () => target.ack(message, allUpTo)) : target.ack(message, allUpTo),
      );
    },
    nack(message, allUpTo, requeue) {
      const requeued = requeue === undefined ? true : Boolean(requeue);
      const scope = settled('nack', message, Boolean(allUpTo), requeued);
      return chained(
        scope
          ? callInSpan(scope, () => target.nack(message, allUpTo, requeue))
          : target.nack(message, allUpTo, requeue),
      );
    },
    reject(message, requeue) {
      const requeued = requeue === undefined ? true : Boolean(requeue);
      const scope = settled('reject', message, false, requeued);
      return chained(
        scope ? callInSpan(scope, () => target.reject(message, requeue)) : target.reject(message, requeue),
      );
    },
    ackAll() {
      const scope = settledAll('ack', undefined);
      return chained(scope ? callInSpan(scope, () => target.ackAll()) : target.ackAll());
    },
    nackAll(requeue) {
      const requeued = requeue === undefined ? true : Boolean(requeue);
      const scope = settledAll('nack', requeued);
      return chained(scope ? callInSpan(scope, () => target.nackAll(requeue)) : target.nackAll(requeue));
    },
    recover(...args) {
      try {
        // The broker redelivers every unacked message, under new delivery tags.
        open.settleAll('recover');
        if (runningScope) settleRunning('recover');
      } catch (error) {
        reportOnce(settleFailed, error);
      }
      return chained(target.recover(...args));
    },
    closed(closing) {
      try {
        open.close(closing);
      } catch (error) {
        reportOnce(settleFailed, error);
      }
    },
  };
}

/** Whether settling `tag` (with `allUpTo`: every tag up to it, 0 meaning all) settles `running`. */
function covers(running: unknown, tag: number, allUpTo: boolean): boolean {
  if (typeof running !== 'number') return false;
  return running === tag || (allUpTo && (tag === 0 || running <= tag));
}

/** A settle call in its own span: what amqplib returns or throws reaches the app unchanged. */
function callInSpan(scope: SpanScope, call: () => unknown): unknown {
  let result: unknown;
  try {
    result = scope.run(call);
  } catch (error) {
    scope.fail(error).end();
    throw error;
  }
  scope.end();
  return result;
}

function readNoAck(options: unknown): boolean {
  try {
    return options !== null && typeof options === 'object' && Boolean((options as { noAck?: unknown }).noAck);
  } catch {
    return false;
  }
}
