import type { Attributes } from '@opentelemetry/api';
import type { AmqpMessage } from './types.js';

// Names as @opentelemetry/semantic-conventions (incubating) exports them today (1.45).
/** Deprecated there for `messaging.system.name`, still emitted: backends and DESIGN.md key on it. */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
export const ATTR_MESSAGING_SYSTEM_NAME = 'messaging.system.name';
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id';
export const ATTR_MESSAGING_MESSAGE_CONVERSATION_ID = 'messaging.message.conversation_id';
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = 'messaging.message.body.size';
/** Formerly `messaging.rabbitmq.destination.routing_key`. */
export const ATTR_RABBITMQ_DESTINATION_ROUTING_KEY = 'rabbitmq.destination.routing_key';
/** Formerly `messaging.rabbitmq.message.delivery_tag`. */
export const ATTR_RABBITMQ_MESSAGE_DELIVERY_TAG = 'rabbitmq.message.delivery_tag';
export const ATTR_NETWORK_PEER_ADDRESS = 'network.peer.address';
export const ATTR_NETWORK_PEER_PORT = 'network.peer.port';
// tracewire's own: how the span of a consumed message ended; semconv has no name for these.
export const ATTR_SETTLEMENT = 'tracewire.rabbitmq.settlement';
export const ATTR_REQUEUE = 'tracewire.rabbitmq.requeue';
export const ATTR_ALL_UP_TO = 'tracewire.rabbitmq.all_up_to';

const RABBITMQ = 'rabbitmq';
/** RabbitMQ's name for the nameless default exchange; semconv uses it too. */
export const DEFAULT_EXCHANGE = 'amq.default';

/** The exchange a publish span is named after (`send {exchange}`): low-cardinality, routing keys are not. */
export function sendExchangeName(exchange: unknown): string {
  return typeof exchange === 'string' && exchange !== '' ? exchange : DEFAULT_EXCHANGE;
}

/** Producer side: `{exchange}:{routing key}`, else whichever is set, else `amq.default`. */
export function sendDestination(exchange: string, routingKey: string): string {
  if (exchange !== '' && routingKey !== '') return `${exchange}:${routingKey}`;
  return exchange || routingKey || DEFAULT_EXCHANGE;
}

/** Consumer side: `{exchange}:{routing key}:{queue}` without empty parts, the routing key once when it is the queue. */
export function receiveDestination(exchange: string, routingKey: string, queue: string): string {
  let name = exchange;
  if (routingKey !== '' && routingKey !== queue) name = name === '' ? routingKey : `${name}:${routingKey}`;
  if (queue !== '') name = name === '' ? queue : `${name}:${queue}`;
  return name || DEFAULT_EXCHANGE;
}

/** The broker end of the channel's connection, read once per traced channel. */
export interface Peer {
  address: string | undefined;
  port: number | undefined;
}

export function channelPeer(channel: unknown): Peer {
  try {
    const stream = (
      channel as { connection?: { stream?: { remoteAddress?: unknown; remotePort?: unknown } } }
    ).connection?.stream;
    return {
      address: typeof stream?.remoteAddress === 'string' ? stream.remoteAddress : undefined,
      port: typeof stream?.remotePort === 'number' ? stream.remotePort : undefined,
    };
  } catch {
    return { address: undefined, port: undefined };
  }
}

function setPeer(attributes: Attributes, peer: Peer): void {
  if (peer.address !== undefined) attributes[ATTR_NETWORK_PEER_ADDRESS] = peer.address;
  if (peer.port !== undefined) attributes[ATTR_NETWORK_PEER_PORT] = peer.port;
}

export function sendAttributes(
  exchange: unknown,
  routingKey: unknown,
  content: unknown,
  options: unknown,
  peer: Peer,
): Attributes {
  const exchangeName = typeof exchange === 'string' ? exchange : '';
  const key = typeof routingKey === 'string' ? routingKey : '';
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: RABBITMQ,
    [ATTR_MESSAGING_SYSTEM_NAME]: RABBITMQ,
    [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
    [ATTR_MESSAGING_OPERATION_NAME]: 'send',
    [ATTR_MESSAGING_DESTINATION_NAME]: sendDestination(exchangeName, key),
  };
  setPeer(attributes, peer);
  if (key !== '') attributes[ATTR_RABBITMQ_DESTINATION_ROUTING_KEY] = key;
  if (ArrayBuffer.isView(content)) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = content.byteLength;
  if (options !== null && typeof options === 'object') {
    const { messageId, correlationId } = options as { messageId?: unknown; correlationId?: unknown };
    setText(attributes, ATTR_MESSAGING_MESSAGE_ID, messageId);
    setText(attributes, ATTR_MESSAGING_MESSAGE_CONVERSATION_ID, correlationId);
  }
  return attributes;
}

/** Attributes of a consumed (`process`) or got (`receive`) message; of the queue alone when none (yet). */
export function receiveAttributes(
  message: AmqpMessage | undefined,
  queue: string,
  operation: 'process' | 'receive',
  peer: Peer,
): Attributes {
  const fields: Partial<AmqpMessage['fields']> = message?.fields ?? {};
  const exchange = typeof fields.exchange === 'string' ? fields.exchange : '';
  const key = typeof fields.routingKey === 'string' ? fields.routingKey : '';
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: RABBITMQ,
    [ATTR_MESSAGING_SYSTEM_NAME]: RABBITMQ,
    [ATTR_MESSAGING_OPERATION_TYPE]: operation,
    [ATTR_MESSAGING_OPERATION_NAME]: operation,
    [ATTR_MESSAGING_DESTINATION_NAME]: receiveDestination(exchange, key, queue),
  };
  setPeer(attributes, peer);
  if (key !== '') attributes[ATTR_RABBITMQ_DESTINATION_ROUTING_KEY] = key;
  if (typeof fields.deliveryTag === 'number')
    attributes[ATTR_RABBITMQ_MESSAGE_DELIVERY_TAG] = fields.deliveryTag;
  if (ArrayBuffer.isView(message?.content))
    attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = message.content.byteLength;
  const properties = message?.properties;
  if (properties) {
    setText(attributes, ATTR_MESSAGING_MESSAGE_ID, properties.messageId);
    setText(attributes, ATTR_MESSAGING_MESSAGE_CONVERSATION_ID, properties.correlationId);
  }
  return attributes;
}

/** Attributes of a settle span: `ack`, `nack` or `reject` of messages from `queue` (when known). */
export function settleAttributes(operation: string, queue: string | undefined, peer: Peer): Attributes {
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM]: RABBITMQ,
    [ATTR_MESSAGING_SYSTEM_NAME]: RABBITMQ,
    [ATTR_MESSAGING_OPERATION_TYPE]: 'settle',
    [ATTR_MESSAGING_OPERATION_NAME]: operation,
  };
  if (queue !== undefined) attributes[ATTR_MESSAGING_DESTINATION_NAME] = queue;
  setPeer(attributes, peer);
  return attributes;
}

function setText(attributes: Attributes, name: string, value: unknown): void {
  if (typeof value === 'string') {
    if (value !== '') attributes[name] = value;
  } else if (typeof value === 'number' || typeof value === 'bigint') {
    attributes[name] = String(value);
  }
}
