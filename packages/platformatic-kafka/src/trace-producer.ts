import type { Attributes } from '@opentelemetry/api';
import {
  type MessageSend,
  type MessageSendOptions,
  type MessageSendSpans,
  type OutgoingMessage,
  createMessageSendSpans,
  isPromiseLike,
  reportOnce,
} from '@tracewire/core';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_MESSAGE_TOMBSTONE,
  ATTR_KAFKA_OFFSET,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_SYSTEM_NAME,
  MESSAGING_SYSTEM_KAFKA,
} from './attributes.js';
import { keyText } from './consumer-spans.js';
import {
  type HeaderFormat,
  type OutgoingHeaders,
  kafkaHeaderGetter,
  kafkaHeaderSetter,
  removeKafkaHeader,
} from './headers.js';
import { IDENTITY, PACKAGE_NAME } from './identity.js';

/** Options of {@link traceProducer}. */
export interface ProducerTracingOptions extends MessageSendOptions {
  /**
   * How the trace headers are written, to suit the producer's header serializers: `'buffer'`
   * (default) for a producer without serializers, `'string'` for `stringSerializers` or any
   * header serializer that takes strings.
   */
  headerFormat?: HeaderFormat;
}

/** What {@link traceProducer} wraps: a `Producer`, or anything with its `send(options, callback?)`. */
export interface KafkaSender {
  send(...args: never[]): unknown;
}

type Callback = (error: unknown, result?: unknown) => unknown;
type Method = (...args: unknown[]) => unknown;

interface MessageLike {
  topic?: unknown;
  key?: unknown;
  value?: unknown;
  partition?: unknown;
  headers?: unknown;
}

/** A send in flight: its spans, and per message where it goes as far as known before sending. */
interface Pending {
  readonly scope: MessageSend;
  readonly topics: string[];
  readonly partitions: Array<number | undefined>;
}

const PREPARE_FAILED = `${PACKAGE_NAME}: tracing a send failed; the messages go out untraced`;
const FINISH_FAILED = `${PACKAGE_NAME}: reading the send result failed`;
const STRING_HEADERS =
  `${PACKAGE_NAME}: a message's headers hold strings, but trace headers are written as Buffers; ` +
  "if the producer uses stringSerializers (or any string header serializer), pass headerFormat: 'string'";

/**
 * Wraps a @platformatic/kafka producer so that `send` (promise or callback style) and the `send`
 * of the transactions `beginTransaction` opens trace their messages: one PRODUCER `send {topic}`
 * span for a single message; for several, a PRODUCER `create {topic}` span per message and one
 * CLIENT `send` span linking to them (or, with `createSpans: false`, one PRODUCER `send` span in
 * every message). Messages are copied, never changed in place; a message that already carries a
 * trace context is sent as it is. Everything else is the producer's own, called on the producer
 * itself (its private fields need the real `this`).
 */
export function traceProducer<Sender extends KafkaSender>(
  producer: Sender,
  options: ProducerTracingOptions = {},
): Sender {
  if (producer === null || typeof producer !== 'object' || typeof producer.send !== 'function') {
    throw new TypeError(
      `${PACKAGE_NAME}: traceProducer needs a @platformatic/kafka producer, got ${String(producer)}`,
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${PACKAGE_NAME}: options must be an object, got ${String(options)}`);
  }
  // Wrapping twice would send two span sets per message; the first wrapper is enough.
  if (traced.has(producer)) return producer;
  const { headerFormat = 'buffer' } = options;
  if (headerFormat !== 'buffer' && headerFormat !== 'string') {
    throw new TypeError(
      `${PACKAGE_NAME}: headerFormat must be 'buffer' or 'string', got ${String(headerFormat)}`,
    );
  }
  const spans = createMessageSendSpans<OutgoingHeaders>(options, IDENTITY, {
    getter: kafkaHeaderGetter,
    setter: kafkaHeaderSetter(headerFormat),
    remove: (carrier, key) => removeKafkaHeader(carrier, key, headerFormat),
  });
  return wrapSender(producer, { spans, headerFormat });
}

/** What every wrapper of one traceProducer call shares. */
interface SendTracing {
  readonly spans: MessageSendSpans<OutgoingHeaders>;
  readonly headerFormat: HeaderFormat;
}

const traced = new WeakSet<object>();

/** A proxy that replaces `send` (and `beginTransaction`, when there is one) and forwards the rest. */
function wrapSender<Target extends object>(target: Target, tracing: SendTracing): Target {
  const original = (name: string): Method => Reflect.get(target, name) as Method;

  function send(sendOptions: unknown, callback?: unknown): unknown {
    const pending = prepare(tracing, sendOptions);
    const sendMethod = original('send');
    if (!pending) return sendMethod.call(target, sendOptions, callback);
    const tracedOptions = pending.options;
    if (typeof callback === 'function') {
      const tracedCallback = function tracedCallback(
        this: unknown,
        error: unknown,
        result?: unknown,
      ): unknown {
        finish(pending, error, result);
        return (callback as Callback).call(this, error, result);
      };
      try {
        return sendMethod.call(target, tracedOptions, tracedCallback);
      } catch (error) {
        finish(pending, error ?? new Error('send threw'), undefined);
        throw error;
      }
    }
    let result: unknown;
    try {
      result = sendMethod.call(target, tracedOptions);
    } catch (error) {
      finish(pending, error ?? new Error('send threw'), undefined);
      throw error;
    }
    if (!isPromiseLike(result)) {
      finish(pending, undefined, result);
      return result;
    }
    // A new promise, not handlers on the original: an unhandled rejection stays unhandled.
    return result.then(
      (value: unknown) => {
        finish(pending, undefined, value);
        return value;
      },
      (error: unknown) => {
        finish(pending, error ?? new Error('send rejected'), undefined);
        throw error;
      },
    );
  }

  function beginTransaction(...args: unknown[]): unknown {
    const begin = original('beginTransaction');
    const last = args.length > 0 ? args[args.length - 1] : undefined;
    if (typeof last === 'function') {
      args[args.length - 1] = function tracedBegin(
        this: unknown,
        error: unknown,
        transaction?: unknown,
      ): unknown {
        return (last as Callback).call(
          this,
          error,
          error ? transaction : wrapTransaction(transaction, tracing),
        );
      };
      return begin.apply(target, args);
    }
    const result = begin.apply(target, args);
    if (!isPromiseLike(result)) return result;
    return result.then((transaction: unknown) => wrapTransaction(transaction, tracing));
  }

  const replacements: Record<string, unknown> = { send };
  if (typeof Reflect.get(target, 'beginTransaction') === 'function')
    replacements.beginTransaction = beginTransaction;
  const bound = new Map<unknown, unknown>();
  const proxy: Target = new Proxy(target, {
    get(object, property) {
      if (typeof property === 'string' && Object.hasOwn(replacements, property))
        return replacements[property];
      // The target as receiver: getters and methods read private fields, which a proxy lacks.
      const value = Reflect.get(object, property);
      if (typeof value !== 'function' || property === 'constructor') return value;
      let method = bound.get(value);
      if (method === undefined) {
        method = onTarget(value as Method, object, proxy);
        bound.set(value, method);
      }
      return method;
    },
    set(object, property, value) {
      return Reflect.set(object, property, value);
    },
  });
  traced.add(proxy);
  return proxy;
}

/**
 * `method` called on the real object (its private fields need it), under the method's own name.
 * A method returning the object itself (`on`, `once`: chaining) returns the wrapper instead, so a
 * chained `send` is traced too.
 */
function onTarget(method: Method, object: object, wrapper: object): Method {
  const called = function (this: unknown, ...args: unknown[]): unknown {
    const result = Reflect.apply(method, object, args);
    return result === object ? wrapper : result;
  };
  Object.defineProperty(called, 'name', { value: method.name });
  return called;
}

function wrapTransaction(transaction: unknown, tracing: SendTracing): unknown {
  if (transaction === null || typeof transaction !== 'object') return transaction;
  if (typeof (transaction as Partial<KafkaSender>).send !== 'function' || traced.has(transaction))
    return transaction;
  return wrapSender(transaction, tracing);
}

interface Prepared extends Pending {
  readonly options: unknown;
}

/** The traced copy of the send options and its spans; undefined to send untraced (the client then validates). */
function prepare({ spans, headerFormat }: SendTracing, sendOptions: unknown): Prepared | undefined {
  if (sendOptions === null || typeof sendOptions !== 'object') return undefined;
  const given = (sendOptions as { messages?: unknown }).messages;
  // The client takes any iterable of messages (a Set); a copy is an array. A one-shot iterator
  // (a generator) is left alone: reading it here would leave the client nothing to send.
  const messages = Array.isArray(given) ? given : isReiterable(given) ? Array.from(given) : undefined;
  if (messages === undefined || messages.length === 0) return undefined;
  try {
    const count = messages.length;
    const described = spans.recordsMessageAttributes(count);
    const copies: unknown[] = new Array(count);
    const outgoing: Array<OutgoingMessage<OutgoingHeaders>> = new Array(count);
    const topics: string[] = new Array(count);
    const partitions: Array<number | undefined> = new Array(count);
    let oneTopic: string | undefined;
    for (let i = 0; i < count; i++) {
      const message = messages[i] as MessageLike;
      if (message === null || typeof message !== 'object') return undefined;
      const { topic, headers } = message;
      if (typeof topic !== 'string' || topic === '') return undefined;
      if (headers !== undefined && headers !== null && typeof headers !== 'object') return undefined;
      if (headerFormat === 'buffer' && hasStringValues(headers)) reportOnce(STRING_HEADERS);
      const carrier: OutgoingHeaders =
        headers instanceof Map
          ? new Map(headers)
          : headers
            ? { ...(headers as Record<string, unknown>) }
            : new Map();
      // Object.assign, then the key: on Node 20 a spread then a key the message lacks takes a
      // slow path (~0.4-2 µs a message).
      const traced = Object.assign({}, message);
      traced.headers = carrier;
      copies[i] = traced;
      outgoing[i] = {
        carrier,
        destination: topic,
        attributes: described
          ? messageAttributes(topic, message, count === 1 ? 'send' : 'create')
          : undefined,
      };
      topics[i] = topic;
      partitions[i] = Number.isInteger(message.partition) ? (message.partition as number) : undefined;
      oneTopic = i === 0 || oneTopic === topic ? topic : undefined;
    }
    const scope = spans.start({ destination: oneTopic, attributes: callAttributes(oneTopic) }, outgoing);
    return { options: { ...sendOptions, messages: copies }, scope, topics, partitions };
  } catch (error) {
    reportOnce(PREPARE_FAILED, error);
    return undefined;
  }
}

/** Whether headers the app wrote hold a string value: a hint that its serializers take strings. */
function hasStringValues(headers: unknown): boolean {
  if (headers instanceof Map) {
    for (const value of headers.values()) if (typeof value === 'string') return true;
    return false;
  }
  if (headers === null || typeof headers !== 'object') return false;
  for (const name in headers) {
    if (typeof (headers as Record<string, unknown>)[name] === 'string') return true;
  }
  return false;
}

function isReiterable(value: unknown): value is Iterable<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function' &&
    typeof (value as { next?: unknown }).next !== 'function'
  );
}

function messageAttributes(
  topic: string,
  { key, value, partition }: MessageLike,
  operation: 'send' | 'create',
): Attributes {
  // A literal, not a spread of shared defaults: V8 builds it several times faster. The operation
  // is core's to set; naming it here already keeps the copy core makes in one object shape.
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_SYSTEM_NAME]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_OPERATION_TYPE]: operation,
    [ATTR_MESSAGING_OPERATION_NAME]: operation,
    [ATTR_MESSAGING_DESTINATION_NAME]: topic,
  };
  const text = keyText(key);
  if (text !== undefined) attributes[ATTR_KAFKA_MESSAGE_KEY] = text;
  if (Number.isInteger(partition)) attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = String(partition);
  if (typeof value === 'string') attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = Buffer.byteLength(value);
  else if (value instanceof Uint8Array) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = value.length;
  else if (value === null || value === undefined) attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE] = true;
  return attributes;
}

/** What the send span of the call records besides the operation (core adds it, and the batch count). */
function callAttributes(topic: string | undefined): Attributes {
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_SYSTEM_NAME]: MESSAGING_SYSTEM_KAFKA,
  };
  if (topic !== undefined) attributes[ATTR_MESSAGING_DESTINATION_NAME] = topic;
  return attributes;
}

/** Records the outcome, then ends every span of the send. */
function finish(pending: Pending, error: unknown, result: unknown): void {
  const { scope } = pending;
  if (error) {
    scope.fail(error);
    return;
  }
  try {
    const offsets = (result as { offsets?: unknown } | undefined)?.offsets;
    if (Array.isArray(offsets) && offsets.length > 0) recordPlacement(pending, offsets);
  } catch (failure) {
    reportOnce(FINISH_FAILED, failure);
  }
  scope.succeed();
}

type OffsetEntry = { topic?: unknown; partition?: unknown; offset?: unknown };

/**
 * The client answers per topic-partition with the offset of the first message written there.
 * A message's partition is known when it named one answered, or its topic went to a single
 * partition; its offset only when every message of that topic maps, counting in order. Every message placed
 * counts, with a span of its own or not (one that kept its own context still takes an offset).
 */
function recordPlacement(pending: Pending, offsets: unknown[]): void {
  if (offsets.length === 1 && recordOnePartition(pending, offsets[0] as OffsetEntry)) return;
  const { scope, topics, partitions } = pending;
  const base = new Map<string, Map<number, bigint | undefined>>();
  for (const entry of offsets as OffsetEntry[]) {
    if (entry === null || typeof entry !== 'object') continue;
    const { topic, partition, offset } = entry;
    if (typeof topic !== 'string' || !Number.isInteger(partition)) continue;
    let byPartition = base.get(topic);
    if (!byPartition) {
      byPartition = new Map();
      base.set(topic, byPartition);
    }
    byPartition.set(partition as number, typeof offset === 'bigint' && offset >= 0n ? offset : undefined);
  }
  const placed = topics.map((topic, i): number | undefined => {
    const byPartition = base.get(topic);
    if (!byPartition) return undefined;
    const given = partitions[i];
    if (given !== undefined && byPartition.has(given)) return given;
    // The client takes a partition number modulo the topic's partition count: one it names that
    // was not answered went elsewhere, known only when the topic went to one partition.
    return byPartition.size === 1 ? (byPartition.keys().next().value as number) : undefined;
  });
  const unmapped = new Set(topics.filter((_, i) => placed[i] === undefined));
  // The next message's offset per topic and partition, counted in numbers: exact while the first
  // offset leaves room for every message of the send below 2^53 (else the offset is left out).
  const next = new Map<string, Map<number, number>>();
  const safeBelow = safeFirstOffset(topics.length);
  for (let i = 0; i < topics.length; i++) {
    const at = placed[i];
    if (at === undefined) continue;
    // The span of this message alone; none when it shares the send span or kept its own context.
    const target = scope.messageScope(i);
    const topic = topics[i] as string;
    // One attribute at a time: no record for the SDK to iterate, per message.
    if (target && partitions[i] !== at)
      target.setAttribute(ATTR_MESSAGING_DESTINATION_PARTITION_ID, String(at));
    if (unmapped.has(topic)) continue;
    const first = base.get(topic)?.get(at);
    if (first === undefined || first > safeBelow) continue;
    let counted = next.get(topic);
    if (!counted) {
      counted = new Map();
      next.set(topic, counted);
    }
    const offset = counted.get(at) ?? Number(first);
    counted.set(at, offset + 1);
    target?.setAttribute(ATTR_KAFKA_OFFSET, offset);
  }
}

/**
 * The common answer: one topic-partition, which every message went to (one that named another
 * partition too: the client takes the number modulo the partition count). Each message's offset
 * is then the first one plus its index, with no maps to build. False when the
 * answer is not of that kind: {@link recordPlacement} then does the general count.
 */
function recordOnePartition({ scope, topics, partitions }: Pending, entry: OffsetEntry): boolean {
  if (entry === null || typeof entry !== 'object') return false;
  const { topic, partition, offset } = entry;
  if (typeof topic !== 'string' || !Number.isInteger(partition)) return false;
  for (let i = 0; i < topics.length; i++) {
    if (topics[i] !== topic) return false;
  }
  const exact = typeof offset === 'bigint' && offset >= 0n && offset <= safeFirstOffset(topics.length);
  const first = exact ? Number(offset) : 0;
  const partitionId = String(partition);
  for (let i = 0; i < topics.length; i++) {
    const target = scope.messageScope(i);
    if (!target) continue;
    if (partitions[i] !== partition)
      target.setAttribute(ATTR_MESSAGING_DESTINATION_PARTITION_ID, partitionId);
    if (exact) target.setAttribute(ATTR_KAFKA_OFFSET, first + i);
  }
  return true;
}

/** The largest first offset that leaves `count` messages below 2^53. */
function safeFirstOffset(count: number): bigint {
  return BigInt(Number.MAX_SAFE_INTEGER - count);
}
