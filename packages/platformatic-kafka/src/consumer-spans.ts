import { isUtf8 } from 'node:buffer';
import { type Attributes, SpanKind } from '@opentelemetry/api';
import { type IncomingOptions, type SpanScope, createIncomingSpans, reportOnce } from '@tracewire/core';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_MESSAGE_TOMBSTONE,
  ATTR_KAFKA_OFFSET,
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
import { type KafkaHeaders, kafkaHeaderGetter } from './headers.js';
import { IDENTITY, PACKAGE_NAME } from './identity.js';

/**
 * What the helpers read from a consumed message: the parts of @platformatic/kafka's `Message`
 * (1.x and 2.x) that tracing needs. A `Message` of any key, value and header types fits.
 */
export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key?: unknown;
  readonly value?: unknown;
  readonly headers?: ReadonlyMap<unknown, unknown>;
  /** 2.x: every header in order, duplicates included; preferred over `headers` when present. */
  readonly headerEntries?: ReadonlyArray<readonly [unknown, unknown]>;
  /** The client puts `consumer.groupId` here. */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** Options of `messageTracer` and `traceHandler`. */
export interface ConsumerTracingOptions extends IncomingOptions<ConsumedMessage> {
  /**
   * Recorded as `messaging.consumer.group.name`. Default: the group the client puts on each
   * message (`message.metadata.consumer.groupId`).
   */
  groupId?: string;
}

/** The CONSUMER spans of one helper; options resolved once. */
export interface ConsumerSpans {
  /** The span of one message, child of and linked to its creation context. Undefined if tracing failed. */
  message(message: ConsumedMessage): SpanScope | undefined;
}

const START_FAILED = `${PACKAGE_NAME}: starting a consumer span failed; the message is processed untraced`;
const MAX_SAFE_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

export function createConsumerSpans(options: ConsumerTracingOptions): ConsumerSpans {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${PACKAGE_NAME}: options must be an object, got ${String(options)}`);
  }
  const { groupId } = options;
  if (groupId !== undefined && typeof groupId !== 'string') {
    throw new TypeError(`${PACKAGE_NAME}: groupId must be a string, got ${typeof groupId}`);
  }
  // The creation context is the parent and also a link, as the messaging conventions ask.
  const incoming = createIncomingSpans<ConsumedMessage, KafkaHeaders | undefined>(
    options,
    IDENTITY,
    SpanKind.CONSUMER,
    kafkaHeaderGetter,
    { linkParent: true },
  );

  return {
    message(message) {
      try {
        return incoming.start(
          message,
          headersOf(message),
          `process ${message.topic}`,
          processAttributes(message, groupId),
        );
      } catch (error) {
        reportOnce(START_FAILED, error);
        return undefined;
      }
    },
  };
}

function headersOf(message: ConsumedMessage): KafkaHeaders | undefined {
  const entries = message.headerEntries;
  return Array.isArray(entries) ? entries : message.headers;
}

function processAttributes(message: ConsumedMessage, groupId: string | undefined): Attributes {
  // A literal, not a spread of shared defaults: V8 builds it several times faster.
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_SYSTEM_NAME]: MESSAGING_SYSTEM_KAFKA,
    [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR_MESSAGING_OPERATION_NAME]: 'process',
    [ATTR_MESSAGING_DESTINATION_NAME]: message.topic,
  };
  const { partition, offset, key, value } = message;
  if (Number.isInteger(partition)) attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = String(partition);
  const group = groupId ?? groupOf(message);
  if (group) attributes[ATTR_MESSAGING_CONSUMER_GROUP_NAME] = group;
  if (typeof offset === 'bigint' && offset >= 0n && offset <= MAX_SAFE_OFFSET) {
    attributes[ATTR_KAFKA_OFFSET] = Number(offset);
  }
  const text = keyText(key);
  if (text !== undefined) attributes[ATTR_KAFKA_MESSAGE_KEY] = text;
  if (value instanceof Uint8Array) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = value.length;
  else if (value === null || value === undefined) attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE] = true;
  return attributes;
}

function groupOf(message: ConsumedMessage): string | undefined {
  const consumer = message.metadata?.consumer as { groupId?: unknown } | undefined;
  const group = consumer?.groupId;
  return typeof group === 'string' ? group : undefined;
}

/** The key as text: a string, or bytes that are valid UTF-8; anything else is not recorded. */
export function keyText(key: unknown): string | undefined {
  if (typeof key === 'string') return key;
  if (!(key instanceof Uint8Array) || !isUtf8(key)) return undefined;
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('utf8');
}
