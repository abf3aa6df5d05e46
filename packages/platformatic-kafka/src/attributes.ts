// Span attribute names as @opentelemetry/semantic-conventions (1.45, `incubating`) exports them.
// Plain strings, so the package has no runtime dependency on semconv.

/** Deprecated in favour of `messaging.system.name`, but still what backends key on (Tempo service graphs). */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
export const ATTR_MESSAGING_SYSTEM_NAME = 'messaging.system.name';
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const ATTR_MESSAGING_DESTINATION_PARTITION_ID = 'messaging.destination.partition.id';
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name';
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count';
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = 'messaging.message.body.size';
/** Replaces `messaging.kafka.message.key`. */
export const ATTR_KAFKA_MESSAGE_KEY = 'kafka.message.key';
/** Replaces `messaging.kafka.offset` (and the older `messaging.kafka.message.offset`). */
export const ATTR_KAFKA_OFFSET = 'kafka.offset';
/** Replaces `messaging.kafka.message.tombstone`. */
export const ATTR_KAFKA_MESSAGE_TOMBSTONE = 'kafka.message.tombstone';

export const MESSAGING_SYSTEM_KAFKA = 'kafka';
