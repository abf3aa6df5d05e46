import type { Attributes } from '@opentelemetry/api';
import {
  type MessageCarrier,
  type MessageSend,
  type MessageSendOptions,
  type MessageSendSpans,
  type SpanScope,
  createMessageSendSpans,
  isPromiseLike as isThenable,
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
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_SYSTEM_NAME,
  MESSAGING_SYSTEM_KAFKA,
} from './attributes.js';
import { kafkaErrorType } from './errors.js';
import { IDENTITY, PACKAGE_NAME } from './identity.js';
import { kafkaHeaderGetter, kafkaHeaderSetter, messageKeyText } from './kafka-headers.js';

/** Options of {@link traceProducer}. */
export interface ProducerTracingOptions extends MessageSendOptions {
  /**
   * How long the spans of messages sent in a transaction wait for its `commit` or `abort` before
   * they end anyway (`tracewire.kafka.transaction` = `unfinished`). Default 60 000, KafkaJS's own
   * default `transactionTimeout`, after which the broker aborts the transaction.
   */
  transactionTimeoutMs?: number;
}

/** What {@link traceProducer} wraps: a KafkaJS `Producer`, or anything with its `send` and `sendBatch`. */
export interface KafkaSender {
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
}

/** One message on its way: where it goes as far as known before sending. */
interface Placed {
  readonly topic: string;
  readonly partition: number | undefined;
}

/** How a send call ends: the default ends its spans at once; a transaction holds them for its outcome. */
interface SendOutcome {
  sent(send: MessageSend): void;
}

const ATTR_TRANSACTION = 'tracewire.kafka.transaction';
const DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000;
const PREPARE_FAILED = `${PACKAGE_NAME}: tracing a send failed; the messages go out untraced`;
const FINISH_FAILED = `${PACKAGE_NAME}: reading the send result failed`;

const headersCarrier: MessageCarrier<IHeaders> = {
  getter: kafkaHeaderGetter,
  setter: kafkaHeaderSetter,
  remove(carrier, key) {
    for (const name of Object.keys(carrier)) if (name.toLowerCase() === key) delete carrier[name];
  },
};

const endAtOnce: SendOutcome = { sent: (send) => send.succeed() };

/**
 * Wraps a KafkaJS producer so that `send`, `sendBatch` and the `send`/`sendBatch` of its
 * transactions trace their messages as the messaging conventions lay out: a single message is one
 * PRODUCER `send {topic}` span whose context goes into its headers; several are a PRODUCER
 * `create {topic}` span per message (its context in that message) and one CLIENT `send` span
 * linking to them (`createSpans: false`: one PRODUCER `send` span in every message). A message
 * that already carries a creation context (re-produced, forwarded) keeps its headers untouched and
 * the send span links to it. Messages are copied, never changed in place. Everything else
 * (connect, events, `on`, `logger`, ...) is the producer's own.
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
  const { transactionTimeoutMs = DEFAULT_TRANSACTION_TIMEOUT_MS } = options;
  if (
    typeof transactionTimeoutMs !== 'number' ||
    !(transactionTimeoutMs > 0) ||
    transactionTimeoutMs > 2 ** 31 - 1
  ) {
    throw new TypeError(`${PACKAGE_NAME}: transactionTimeoutMs must be a positive number of milliseconds`);
  }
  const spans = createMessageSendSpans(options, IDENTITY, headersCarrier, kafkaErrorType);
  return wrapSender(producer, spans, endAtOnce, transactionTimeoutMs);
}

const tracedSenders = new WeakSet<object>();

/** A proxy that replaces `send`, `sendBatch` and `transaction` and forwards everything else. */
function wrapSender<Target extends object>(
  target: Target,
  spans: MessageSendSpans<IHeaders>,
  outcome: SendOutcome,
  transactionTimeoutMs: number,
): Target {
  const original = (name: string): ((...args: unknown[]) => unknown) =>
    Reflect.get(target, name) as (...args: unknown[]) => unknown;

  function send(this: unknown, record: ProducerRecord): unknown {
    return sendTraced(original('send'), this, record, outcome, () => {
      if (!isObject(record)) return undefined;
      const prepared = prepare(spans, [{ topic: record.topic, messages: record.messages }], record.topic);
      if (!prepared) return undefined;
      const [messages] = prepared.perTopic;
      return { ...prepared, argument: messages === record.messages ? record : { ...record, messages } };
    });
  }

  function sendBatch(this: unknown, batch: ProducerBatch): unknown {
    return sendTraced(original('sendBatch'), this, batch, outcome, () => {
      if (!isObject(batch) || !Array.isArray(batch.topicMessages)) return undefined;
      const entries = batch.topicMessages.map((entry) =>
        isObject(entry)
          ? { topic: entry.topic, messages: entry.messages }
          : { topic: undefined, messages: undefined },
      );
      const topics = new Set(entries.map((entry) => entry.topic));
      const prepared = prepare(spans, entries, topics.size === 1 ? entries[0]?.topic : undefined);
      if (!prepared) return undefined;
      let changed = false;
      const topicMessages = batch.topicMessages.map((entry, i) => {
        const messages = prepared.perTopic[i];
        if (!isObject(entry) || messages === entry.messages) return entry;
        changed = true;
        return { ...entry, messages };
      });
      return { ...prepared, argument: changed ? { ...batch, topicMessages } : batch };
    });
  }

  function transaction(this: unknown, ...args: unknown[]): unknown {
    const result = original('transaction').apply(this, args);
    if (!isThenable(result)) return result;
    return result.then((opened: unknown) =>
      isObject(opened) && typeof (opened as Partial<KafkaSender>).send === 'function'
        ? wrapTransaction(opened, spans, transactionTimeoutMs)
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
 * A transaction's sends hold their spans until it ends: `commit` ends them OK, `abort` ERROR
 * `transaction_aborted` (consumers reading committed data never see those messages), a failed
 * commit with its error; and `transactionTimeoutMs` bounds the wait for an app that does neither.
 */
function wrapTransaction<Target extends object>(
  target: Target,
  spans: MessageSendSpans<IHeaders>,
  timeoutMs: number,
): Target {
  const held = new Set<MessageSend>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finishAll = (finish: (send: MessageSend) => void): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const sends = [...held];
    held.clear();
    for (const each of sends) finish(each);
  };
  const outcome: SendOutcome = {
    sent(send) {
      held.add(send);
      if (timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        finishAll((each) => {
          each.send.setAttributes({ [ATTR_TRANSACTION]: 'unfinished' });
          each.succeed();
        });
      }, timeoutMs);
      timer.unref?.();
    },
  };
  const sender = wrapSender(target, spans, outcome, timeoutMs);
  const settleWith =
    (name: 'commit' | 'abort') =>
    (...args: unknown[]): unknown => {
      const method = Reflect.get(target, name) as (...a: unknown[]) => unknown;
      let result: unknown;
      try {
        result = method.apply(target, args);
      } catch (error) {
        finishAll((each) => each.fail(error));
        throw error;
      }
      const done = (): void =>
        finishAll((each) => {
          each.send.setAttributes({ [ATTR_TRANSACTION]: name === 'commit' ? 'committed' : 'aborted' });
          if (name === 'commit') each.succeed();
          else each.failWith('transaction_aborted', 'the transaction was aborted');
        });
      if (!isThenable(result)) {
        done();
        return result;
      }
      // Chained, as the app awaits commit/abort: its outcome reaches the app unchanged.
      return result.then(
        (value: unknown) => {
          done();
          return value;
        },
        (error: unknown) => {
          finishAll((each) => each.fail(error));
          throw error;
        },
      );
    };
  const commit = settleWith('commit');
  const abort = settleWith('abort');
  return new Proxy(sender, {
    get(object, property, receiver) {
      if (property === 'commit') return commit;
      if (property === 'abort') return abort;
      return Reflect.get(object, property, receiver);
    },
  });
}

interface Prepared {
  send: MessageSend;
  placed: Placed[];
  /** Per topic entry, the messages to send (the same array when none could be traced). */
  perTopic: unknown[];
}

/**
 * Starts the spans of one call and returns copies of the messages with their context in new
 * headers. Undefined when nothing could be traced (KafkaJS then reports the bad input itself).
 */
function prepare(
  spans: MessageSendSpans<IHeaders>,
  entries: Array<{ topic: unknown; messages: unknown }>,
  destination: unknown,
): Prepared | undefined {
  const outgoing: Array<{ carrier: IHeaders; destination: string; attributes: Attributes | undefined }> = [];
  const placed: Placed[] = [];
  const slots: Array<{ entry: number; index: number; message: Message }> = [];
  const perTopic: unknown[] = entries.map((entry) => entry.messages);
  entries.forEach(({ topic, messages }, entry) => {
    if (typeof topic !== 'string' || topic === '' || !Array.isArray(messages)) return;
    messages.forEach((message: unknown, index) => {
      if (!isObject(message)) return;
      const { headers } = message as Message;
      if (headers !== undefined && headers !== null && typeof headers !== 'object') return;
      const carrier: IHeaders = { ...headers };
      const { partition } = message as Message;
      // The attributes come after the loop, once the count says whether they are recorded.
      outgoing.push({ carrier, destination: topic, attributes: undefined });
      placed.push({ topic, partition: Number.isInteger(partition) ? partition : undefined });
      slots.push({ entry, index, message: message as Message });
    });
  });
  if (outgoing.length === 0) return undefined;
  if (spans.recordsMessageAttributes(outgoing.length)) {
    for (let i = 0; i < outgoing.length; i++) {
      outgoing[i]!.attributes = messageAttributes(outgoing[i]!.destination, slots[i]!.message);
    }
  }
  const call: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_SYSTEM_NAME]: MESSAGING_SYSTEM_KAFKA,
  };
  const topic = typeof destination === 'string' && destination !== '' ? destination : undefined;
  if (topic !== undefined) call[ATTR_MESSAGING_DESTINATION_NAME] = topic;
  const send = spans.start({ destination: topic, attributes: call }, outgoing);
  const copies = new Map<number, unknown[]>();
  slots.forEach(({ entry, index, message }, i) => {
    // A message that carries its own creation context goes out as the app gave it.
    if (send.preserved(i)) return;
    let copy = copies.get(entry);
    if (!copy) {
      copy = [...(entries[entry]!.messages as unknown[])];
      copies.set(entry, copy);
    }
    // Object.assign, then the key: on Node 20 a spread then a key the message lacks takes a slow
    // path (~0.4-2 µs a message).
    const traced = Object.assign({}, message);
    traced.headers = outgoing[i]!.carrier;
    copy[index] = traced;
  });
  for (const [entry, copy] of copies) perTopic[entry] = copy;
  return { send, placed, perTopic };
}

/**
 * Calls the producer's own method with the traced copy of its argument; the spans end when it
 * settles. A result or error reaches the caller unchanged.
 */
function sendTraced(
  original: (...args: unknown[]) => unknown,
  thisArg: unknown,
  argument: unknown,
  outcome: SendOutcome,
  trace: () => (Prepared & { argument: unknown }) | undefined,
): unknown {
  let prepared: (Prepared & { argument: unknown }) | undefined;
  try {
    prepared = trace();
  } catch (error) {
    reportOnce(PREPARE_FAILED, error);
    prepared = undefined;
  }
  if (!prepared) return original.call(thisArg, argument);
  const { send } = prepared;
  let result: unknown;
  try {
    result = original.call(thisArg, prepared.argument);
  } catch (error) {
    send.fail(error);
    throw error;
  }
  if (!isThenable(result)) {
    finish(prepared, result, outcome);
    return result;
  }
  // A new promise, not handlers on the original: the app awaits send, and a rejection it leaves
  // unhandled stays unhandled.
  return result.then(
    (metadata: unknown) => {
      finish(prepared, metadata, outcome);
      return metadata;
    },
    (error: unknown) => {
      send.fail(error);
      throw error;
    },
  );
}

function messageAttributes(topic: string, { key, value, partition }: Message): Attributes {
  // A literal, not a spread of shared defaults: V8 builds it several times faster.
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_SYSTEM_NAME]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_DESTINATION_NAME]: topic,
  };
  const keyText = messageKeyText(key);
  if (keyText !== undefined) attributes[ATTR_KAFKA_MESSAGE_KEY] = keyText;
  if (Number.isInteger(partition)) attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = String(partition);
  if (typeof value === 'string') attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = Buffer.byteLength(value);
  else if (Buffer.isBuffer(value)) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = value.length;
  else if (value === null) attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE] = true;
  return attributes;
}

/** Records where each message landed, when the send result says so unambiguously, then ends the spans. */
function finish({ send, placed }: Prepared, metadata: unknown, outcome: SendOutcome): void {
  try {
    if (Array.isArray(metadata) && metadata.length > 0) recordPlacement(send, placed, metadata);
  } catch (error) {
    reportOnce(FINISH_FAILED, error);
  }
  outcome.sent(send);
}

/**
 * KafkaJS answers per topic-partition with the offset of the first message written there; the
 * others follow in order. A message maps to its partition when it named one or its topic went to
 * a single partition; offsets are only counted for topics where every message maps. Recorded on
 * each message's own span (its create span, or the send span of a single message).
 */
function recordPlacement(send: MessageSend, pending: Placed[], metadata: unknown[]): void {
  const scopes = pending.map((_, i) => send.messageScope(i));
  if (scopes.every((scope) => scope === undefined)) return;
  if (metadata.length === 1 && recordSinglePartition(scopes, pending, metadata[0] as RecordMetadata)) return;
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
  pending.forEach(({ topic, partition }, i) => {
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
    scopes[i]?.setAttributes(placement);
  });
}

/** The common case, one topic-partition answered for every message, without the maps. */
function recordSinglePartition(
  scopes: Array<SpanScope | undefined>,
  pending: Placed[],
  entry: RecordMetadata,
): boolean {
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
  pending.forEach(({ partition: given }, i) => {
    const placement: Attributes = {};
    if (given === undefined) placement[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = partitionId;
    if (withOffsets) placement[ATTR_KAFKA_OFFSET] = baseOffset + i;
    scopes[i]?.setAttributes(placement);
  });
  return true;
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}
