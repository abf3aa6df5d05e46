import { type Attributes, SpanKind } from '@opentelemetry/api';
import {
  type OutgoingSpans,
  type SpanScope,
  type TracingOptions,
  createOutgoingSpans,
  reportOnce,
} from '@tracewire/core';
import type { IHeaders, Message, ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs';
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
import { kafkaHeaderSetter } from './kafka-headers.js';
import { isPromiseLike as isThenable } from '@tracewire/core';
import { IDENTITY, PACKAGE_NAME } from './identity.js';

/** Options of {@link traceProducer}: which tracer and propagator to use. */
export type ProducerTracingOptions = TracingOptions;

/** What {@link traceProducer} wraps: a KafkaJS `Producer`, or anything with its `send` and `sendBatch`. */
export interface KafkaSender {
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
}

/** One message on its way: its span, and where it goes as far as known before sending. */
interface Pending {
  readonly scope: SpanScope;
  readonly topic: string;
  readonly partition: number | undefined;
}

const PREPARE_FAILED = `${PACKAGE_NAME}: tracing a send failed; the messages go out untraced`;
const FINISH_FAILED = `${PACKAGE_NAME}: reading the send result failed`;

/**
 * Wraps a KafkaJS producer so that `send`, `sendBatch` and the `send`/`sendBatch` of its
 * transactions start one PRODUCER span per message (`send {topic}`, a child of the active
 * context) and carry its context in that message's headers. Messages are copied, never changed
 * in place. Everything else (connect, events, `on`, `logger`, ...) is the producer's own.
 */
export function traceProducer<Sender extends KafkaSender>(
  producer: Sender,
  options: ProducerTracingOptions = {},
): Sender {
  if (producer === null || typeof producer !== 'object' || typeof producer.send !== 'function') {
    throw new TypeError(`${PACKAGE_NAME}: traceProducer needs a KafkaJS producer, got ${String(producer)}`);
  }
  // Wrapping twice would send two sibling spans per message; the first wrapper is enough.
  if (tracedSenders.has(producer)) return producer;
  const spans = createOutgoingSpans(options, IDENTITY, SpanKind.PRODUCER, kafkaHeaderSetter);
  return wrapSender(producer, spans);
}

const tracedSenders = new WeakSet<object>();

/** A proxy that replaces `send`, `sendBatch` and `transaction` and forwards everything else. */
function wrapSender<Target extends object>(target: Target, spans: OutgoingSpans<IHeaders>): Target {
  const original = (name: string): ((...args: unknown[]) => unknown) =>
    Reflect.get(target, name) as (...args: unknown[]) => unknown;

  function send(this: unknown, record: ProducerRecord): unknown {
    return sendTraced(original('send'), this, record, (pending) => {
      if (!isObject(record)) return record;
      const messages = traceMessages(spans, record.topic, record.messages, pending);
      return messages === record.messages ? record : { ...record, messages };
    });
  }

  function sendBatch(this: unknown, batch: ProducerBatch): unknown {
    return sendTraced(original('sendBatch'), this, batch, (pending) => {
      if (!isObject(batch) || !Array.isArray(batch.topicMessages)) return batch;
      let changed = false;
      const topicMessages = batch.topicMessages.map((entry) => {
        if (!isObject(entry)) return entry;
        const messages = traceMessages(spans, entry.topic, entry.messages, pending);
        if (messages === entry.messages) return entry;
        changed = true;
        return { ...entry, messages };
      });
      return changed ? { ...batch, topicMessages } : batch;
    });
  }

  function transaction(this: unknown, ...args: unknown[]): unknown {
    const result = original('transaction').apply(this, args);
    if (!isThenable(result)) return result;
    return result.then((opened: unknown) =>
      isObject(opened) && typeof (opened as Partial<KafkaSender>).send === 'function'
        ? wrapSender(opened, spans)
        : opened,
    );
  }

  const replacements: Record<string, unknown> = { send, sendBatch, transaction };
  const proxy = new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return Object.hasOwn(replacements, property) ? replacements[property] : value;
    },
  });
  tracedSenders.add(proxy);
  return proxy;
}

/**
 * Calls the producer's own method with the traced copy of its argument; the spans end when it
 * settles. A result or error reaches the caller unchanged.
 */
function sendTraced(
  original: (...args: unknown[]) => unknown,
  thisArg: unknown,
  argument: unknown,
  prepare: (pending: Pending[]) => unknown,
): unknown {
  const pending: Pending[] = [];
  let traced = argument;
  try {
    traced = prepare(pending);
  } catch (error) {
    reportOnce(PREPARE_FAILED, error);
    endAll(pending);
    pending.length = 0;
    traced = argument;
  }
  let result: unknown;
  try {
    result = original.call(thisArg, traced);
  } catch (error) {
    failAll(pending, error);
    throw error;
  }
  if (pending.length === 0) return result;
  if (!isThenable(result)) {
    finish(pending, result);
    return result;
  }
  // A new promise, not handlers on the original: an unhandled rejection stays unhandled.
  return result.then(
    (metadata: unknown) => {
      finish(pending, metadata);
      return metadata;
    },
    (error: unknown) => {
      failAll(pending, error);
      throw error;
    },
  );
}

/**
 * Starts one span per message of one topic and returns copies of the messages with the span's
 * context in new headers; the same array when nothing could be traced (KafkaJS then reports the
 * bad input itself).
 */
function traceMessages(
  spans: OutgoingSpans<IHeaders>,
  topic: unknown,
  messages: unknown,
  pending: Pending[],
): unknown {
  if (typeof topic !== 'string' || topic === '' || !Array.isArray(messages)) return messages;
  const name = `send ${topic}`;
  return messages.map((message: unknown) => {
    if (!isObject(message)) return message;
    const { headers: userHeaders } = message as Message;
    if (userHeaders !== undefined && userHeaders !== null && typeof userHeaders !== 'object') return message;
    const headers: IHeaders = { ...userHeaders };
    const partition = (message as Message).partition;
    const scope = spans.start(headers, name, messageAttributes(topic, message as Message));
    pending.push({ scope, topic, partition: Number.isInteger(partition) ? partition : undefined });
    return { ...message, headers };
  });
}

function messageAttributes(topic: string, { key, value, partition }: Message): Attributes {
  // A literal, not a spread of shared defaults: V8 builds it several times faster.
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_SYSTEM_NAME]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
    [ATTR_MESSAGING_OPERATION_NAME]: 'send',
    [ATTR_MESSAGING_DESTINATION_NAME]: topic,
  };
  if (typeof key === 'string') attributes[ATTR_KAFKA_MESSAGE_KEY] = key;
  else if (Buffer.isBuffer(key)) attributes[ATTR_KAFKA_MESSAGE_KEY] = key.toString();
  if (Number.isInteger(partition)) attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = String(partition);
  if (typeof value === 'string') attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = Buffer.byteLength(value);
  else if (Buffer.isBuffer(value)) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = value.length;
  else if (value === null) attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE] = true;
  return attributes;
}

/** Records where each message landed, when the send result says so unambiguously, then ends the spans. */
function finish(pending: Pending[], metadata: unknown): void {
  try {
    if (Array.isArray(metadata) && metadata.length > 0) recordPlacement(pending, metadata);
  } catch (error) {
    reportOnce(FINISH_FAILED, error);
  }
  endAll(pending);
}

/**
 * KafkaJS answers per topic-partition with the offset of the first message written there; the
 * others follow in order. A message maps to its partition when it named one or its topic went to
 * a single partition; offsets are only counted for topics where every message maps.
 */
function recordPlacement(pending: Pending[], metadata: unknown[]): void {
  if (metadata.length === 1 && recordSinglePartition(pending, metadata[0] as RecordMetadata)) return;
  const partitionsByTopic = new Map<string, Map<number, number>>();
  for (const entry of metadata as RecordMetadata[]) {
    if (!isObject(entry) || typeof entry.topicName !== 'string' || !Number.isInteger(entry.partition))
      continue;
    const baseOffset = Number(entry.baseOffset);
    let partitions = partitionsByTopic.get(entry.topicName);
    if (!partitions) {
      partitions = new Map();
      partitionsByTopic.set(entry.topicName, partitions);
    }
    partitions.set(entry.partition, Number.isSafeInteger(baseOffset) && baseOffset >= 0 ? baseOffset : -1);
  }
  const placed: Array<number | undefined> = pending.map(({ topic, partition }) => {
    const partitions = partitionsByTopic.get(topic);
    if (!partitions) return undefined;
    if (partition !== undefined) return partitions.has(partition) ? partition : undefined;
    return partitions.size === 1 ? partitions.keys().next().value : undefined;
  });
  const unmapped = new Set<string>();
  pending.forEach(({ topic }, i) => {
    if (placed[i] === undefined) unmapped.add(topic);
  });
  const nextOffset = new Map<string, number>();
  pending.forEach(({ scope, topic, partition }, i) => {
    const at = placed[i];
    if (at === undefined) return;
    const placement: Attributes = {};
    if (partition === undefined) placement[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = String(at);
    const base = partitionsByTopic.get(topic)!.get(at)!;
    if (!unmapped.has(topic) && base >= 0) {
      const slot = `${at}:${topic}`;
      const offset = nextOffset.get(slot) ?? base;
      nextOffset.set(slot, offset + 1);
      placement[ATTR_KAFKA_OFFSET] = offset;
    }
    scope.setAttributes(placement);
  });
}

/** The common case, one topic-partition answered for every message, without the maps. */
function recordSinglePartition(pending: Pending[], entry: RecordMetadata): boolean {
  if (!isObject(entry) || !Number.isInteger(entry.partition)) return false;
  const { topicName, partition } = entry;
  for (const message of pending) {
    if (message.topic !== topicName || (message.partition !== undefined && message.partition !== partition)) {
      return false;
    }
  }
  const baseOffset = Number(entry.baseOffset);
  const withOffsets = Number.isSafeInteger(baseOffset) && baseOffset >= 0;
  const partitionId = String(partition);
  pending.forEach(({ scope, partition: given }, i) => {
    const placement: Attributes = {};
    if (given === undefined) placement[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = partitionId;
    if (withOffsets) placement[ATTR_KAFKA_OFFSET] = baseOffset + i;
    scope.setAttributes(placement);
  });
  return true;
}

function failAll(pending: Pending[], error: unknown): void {
  for (const { scope } of pending) scope.fail(error).end();
}

function endAll(pending: Pending[]): void {
  for (const { scope } of pending) scope.end();
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}
