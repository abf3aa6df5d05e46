import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { type AmqpMessage, type AmqplibTracingOptions, traceChannel } from '@tracewire/amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId } from '../../../test/support/tracing.js';
import {
  type Broker,
  type Message,
  SPAN_ID,
  TRACEPARENT,
  TRACE_ID,
  collector,
  useBrokerTracing,
  sleep,
} from './support/broker.js';

const { tracing, broker: currentBroker } = useBrokerTracing();
let broker: Broker;
beforeAll(() => {
  broker = currentBroker();
});

const body = Buffer.from('payload');

/**
 * Publishes one message with `headers` through an untraced channel and consumes it through a
 * traced one that acks it. Returns what the handler saw and the consumer span.
 */
async function deliver(
  headers: Record<string, unknown> | undefined,
  options: AmqplibTracingOptions = {},
): Promise<{ message: Message; span: ReadableSpan; queue: string }> {
  const queue = await broker.queue('headers');
  const channel = traceChannel(await broker.channel(), options);
  const delivered = collector<Message>(1);
  await channel.consume(queue, (message) => {
    delivered.push(message!);
    channel.ack(message!);
  });
  broker.admin.sendToQueue(queue, body, headers === undefined ? {} : { headers });
  const [message] = await delivered.done;
  for (let i = 0; i < 300 && tracing.spans().length === 0; i++) await sleep(10);
  const [span] = tracing.spans();
  expect(span?.kind).toBe(SpanKind.CONSUMER);
  return { message: message!, span: span!, queue };
}

/** Settled as without tracing: acked, so the queue is empty once the consumer's channel is gone. */
async function expectAcked(queue: string): Promise<void> {
  await broker.cleanupChannels();
  expect(await broker.messageCount(queue)).toBe(0);
}

const huge = 'x'.repeat(60_000);

describe('headers that carry no usable context start a new root, and the message flows as untraced', () => {
  const cases: { name: string; headers: Record<string, unknown> | undefined }[] = [
    { name: 'no headers at all', headers: undefined },
    { name: 'garbage traceparent', headers: { traceparent: 'not-a-traceparent' } },
    { name: 'all-zero trace id', headers: { traceparent: `00-${'0'.repeat(32)}-${SPAN_ID}-01` } },
    { name: 'version ff', headers: { traceparent: `ff-${TRACE_ID}-${SPAN_ID}-01` } },
    { name: 'uppercase hex', headers: { traceparent: TRACEPARENT.toUpperCase() } },
    { name: 'version 00 with trailing data', headers: { traceparent: `${TRACEPARENT}-extra` } },
    { name: 'oversized string traceparent', headers: { traceparent: huge } },
    {
      name: 'oversized byte-array traceparent',
      headers: { traceparent: Buffer.from(`${TRACEPARENT}${huge}`) },
    },
    { name: 'traceparent as a number', headers: { traceparent: 12345 } },
    { name: 'traceparent as a boolean', headers: { traceparent: true } },
    { name: 'traceparent as null', headers: { traceparent: null } },
    { name: 'traceparent as a table', headers: { traceparent: { value: TRACEPARENT } } },
    { name: 'two traceparents in an array', headers: { traceparent: [TRACEPARENT, TRACEPARENT] } },
    { name: 'a huge array', headers: { traceparent: Array.from({ length: 1000 }, () => TRACEPARENT) } },
    { name: 'an array holding a table', headers: { traceparent: [{ nested: TRACEPARENT }] } },
    {
      name: 'oversized tracestate and baggage with a bad traceparent',
      headers: { traceparent: 'nope', tracestate: 'a=1,'.repeat(7_000), baggage: 'k=v,'.repeat(7_000) },
    },
  ];

  it.each(cases)('$name', async ({ headers }) => {
    const { message, span, queue } = await deliver(headers);
    expect(parentSpanId(span)).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(message.content).toEqual(body);
    expect(message.properties.headers).toEqual(headers ?? {});
    await expectAcked(queue);
  });
});

describe('trace context written by other clients is read', () => {
  const cases: { name: string; headers: Record<string, unknown> }[] = [
    { name: 'a string (longstr)', headers: { traceparent: TRACEPARENT } },
    { name: 'a byte array (Buffer)', headers: { traceparent: Buffer.from(TRACEPARENT) } },
    { name: 'an array of one value', headers: { traceparent: [TRACEPARENT] } },
    { name: 'an array of one byte array', headers: { traceparent: [Buffer.from(TRACEPARENT)] } },
    { name: 'a differently cased name', headers: { TraceParent: TRACEPARENT } },
    { name: 'surrounding whitespace', headers: { traceparent: ` ${TRACEPARENT}\t` } },
  ];

  it.each(cases)('traceparent as $name', async ({ headers }) => {
    const { span, queue } = await deliver(headers);
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(parentSpanId(span)).toBe(SPAN_ID);
    await expectAcked(queue);
  });

  it('tracestate as a byte array is kept with the traceparent', async () => {
    const { span } = await deliver({
      traceparent: Buffer.from(TRACEPARENT),
      tracestate: Buffer.from('vendor=opaque'),
    });
    expect(span.spanContext().traceState?.serialize()).toBe('vendor=opaque');
  });
});

describe('trust', () => {
  const headers = { traceparent: TRACEPARENT, 'x-edge': 'public' };

  it('restart: a new root with a link to the publisher', async () => {
    const { span } = await deliver(headers, { trust: 'restart' });
    expect(parentSpanId(span)).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[TRACE_ID, SPAN_ID]]);
  });

  it('ignore: a new root without a link', async () => {
    const { span } = await deliver(headers, { trust: 'ignore' });
    expect(parentSpanId(span)).toBeUndefined();
    expect(span.links).toEqual([]);
  });

  it('a function decides per message and receives the message', async () => {
    const seen: AmqpMessage[] = [];
    const trust = (message: AmqpMessage) => {
      seen.push(message);
      return message.properties.headers?.['x-edge'] === 'public' ? 'restart' : 'continue';
    };
    const { span, message } = await deliver(headers, { trust });
    expect(seen).toEqual([message]);
    expect(span.links).toHaveLength(1);
    tracing.reset();
    const internal = await deliver({ traceparent: TRACEPARENT }, { trust });
    expect(parentSpanId(internal.span)).toBe(SPAN_ID);
  });

  it("a function typed with amqplib's own Message type is accepted", async () => {
    const trust = (message: Message) => (message.fields.redelivered ? 'ignore' : 'continue');
    const { span } = await deliver(headers, { trust });
    expect(parentSpanId(span)).toBe(SPAN_ID);
  });
});
