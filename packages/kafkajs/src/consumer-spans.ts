import { type Attributes, type Link, SpanKind } from '@opentelemetry/api';
import {
  type IncomingCaller,
  type IncomingOptions,
  type SpanScope,
  createIncomingSpans,
  reportOnce,
} from '@tracewire/core';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_MESSAGE_TOMBSTONE,
  ATTR_KAFKA_OFFSET,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_SYSTEM_NAME,
  MESSAGING_SYSTEM_KAFKA,
} from './attributes.js';
import { IDENTITY, PACKAGE_NAME } from './identity.js';
import { kafkaHeaderGetter, messageKeyText } from './kafka-headers.js';

/** One consumed message and where it came from: what a `trust` function decides on. */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/** Options of `traceEachMessage` and `traceEachBatch`. */
export interface ConsumerTracingOptions extends IncomingOptions<ConsumedMessage> {
  /**
   * The consumer group, recorded as `messaging.consumer.group.name`. KafkaJS does not pass it to
   * the handler, so give the `groupId` the consumer was created with.
   */
  groupId?: string;
}

/** A batch span, and each message's caller as read for its link, in the batch's order. */
export interface BatchSpan {
  scope: SpanScope;
  callers: IncomingCaller[];
}

/** The CONSUMER spans of one wrapped handler; options resolved once. */
export interface ConsumerSpans {
  /**
   * The span of one message: the child of its producer's context, linked to it. With `batch`, a
   * message without a valid context (or one `trust` does not continue) is the batch span's child.
   * `caller`: the message's caller as the batch read it, read again when not given.
   * Undefined if tracing failed.
   */
  message(
    consumed: ConsumedMessage,
    links?: Link[],
    batch?: SpanScope,
    caller?: IncomingCaller,
  ): SpanScope | undefined;
  /** The span of a batch: a new root linked to every message's context. Undefined if tracing failed. */
  batch(topic: string, partition: number, messages: readonly KafkaMessage[]): BatchSpan | undefined;
}

const START_FAILED = `${PACKAGE_NAME}: starting a consumer span failed; the handler runs untraced`;

export function createConsumerSpans(options: ConsumerTracingOptions): ConsumerSpans {
  const { groupId } = options;
  if (groupId !== undefined && typeof groupId !== 'string') {
    throw new TypeError(`${PACKAGE_NAME}: groupId must be a string, got ${typeof groupId}`);
  }
  const incoming = createIncomingSpans<ConsumedMessage, IHeaders | undefined>(
    options,
    IDENTITY,
    SpanKind.CONSUMER,
    kafkaHeaderGetter,
    { linkParent: true },
  );
  // Literals, not spreads of shared defaults: V8 builds them several times faster.
  const attributes = (topic: string, partition: number): Attributes => {
    const record: Attributes = {
      [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
      [ATTR_MESSAGING_SYSTEM_NAME]: MESSAGING_SYSTEM_KAFKA,
      [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
      [ATTR_MESSAGING_OPERATION_NAME]: 'process',
      [ATTR_MESSAGING_DESTINATION_NAME]: topic,
      [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(partition),
    };
    if (groupId) record[ATTR_MESSAGING_CONSUMER_GROUP_NAME] = groupId;
    return record;
  };

  return {
    message(consumed, links, batch, caller) {
      try {
        const { topic, partition, message } = consumed;
        const name = `process ${topic}`;
        const messageAttributes = addMessageAttributes(attributes(topic, partition), message);
        return caller
          ? incoming.startCaller(caller, name, messageAttributes, links, batch?.context)
          : incoming.start(consumed, message?.headers, name, messageAttributes, links, batch?.context);
      } catch (error) {
        reportOnce(START_FAILED, error);
        return undefined;
      }
    },
    batch(topic, partition, messages) {
      try {
        const links: Link[] = [];
        // Each message is read once: for its link here, and for its own span in traceMessage.
        const callers: IncomingCaller[] = new Array(messages.length);
        for (let i = 0; i < messages.length; i++) {
          const message = messages[i]!;
          const caller = incoming.caller({ topic, partition, message }, message?.headers);
          callers[i] = caller;
          const link = incoming.linkCaller(caller);
          if (link) links.push(link);
        }
        const batchAttributes = attributes(topic, partition);
        batchAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] = messages.length;
        return { scope: incoming.startRoot(`process ${topic}`, batchAttributes, links), callers };
      } catch (error) {
        reportOnce(START_FAILED, error);
        return undefined;
      }
    },
  };
}

function addMessageAttributes(attributes: Attributes, message: KafkaMessage | undefined): Attributes {
  if (!message) return attributes;
  const offset = Number(message.offset);
  if (Number.isSafeInteger(offset)) attributes[ATTR_KAFKA_OFFSET] = offset;
  const { key, value } = message;
  const keyText = messageKeyText(key);
  if (keyText !== undefined) attributes[ATTR_KAFKA_MESSAGE_KEY] = keyText;
  if (Buffer.isBuffer(value)) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = value.length;
  else if (value === null) attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE] = true;
  return attributes;
}
