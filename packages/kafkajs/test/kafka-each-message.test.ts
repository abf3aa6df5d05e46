// Through a real broker: a traced producer and a traced eachMessage consumer form one trace;
// foreign and broken headers; retries after a handler error; transactions.
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_OFFSET,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
} from '@opentelemetry/semantic-conventions/incubating';
import { traceEachMessage, traceProducer } from '@tracewire/kafkajs';
import type { Admin, Consumer, EachMessagePayload, IHeaders, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import {
  committedPast,
  createTopics,
  eventually,
  kafkaClient,
  startConsumer,
  unique,
} from './kafka-support.js';

const tracing = setupTracing();

const topic = unique('each-message');
const retryTopic = unique('retry');
const txTopic = unique('tx');
const tracedGroup = unique('traced');
const plainGroup = unique('plain');

interface Delivery {
  topic: string;
  offset: string;
  value: string;
  headers: IHeaders;
  traceId?: string;
  spanId?: string;
  tenant?: string;
}

/** Deliveries per message key, per consumer. */
const traced = new Map<string, Delivery[]>();
const plain = new Map<string, Delivery[]>();

/** The same handler behind both consumers: a key starting `fail-once` throws on its first delivery. */
function recordingHandler(into: Map<string, Delivery[]>) {
  return async ({ topic, message }: EachMessagePayload): Promise<void> => {
    const key = message.key?.toString() ?? '';
    const span = trace.getActiveSpan()?.spanContext();
    const list = into.get(key) ?? [];
    into.set(key, list);
    list.push({
      topic,
      offset: message.offset,
      value: message.value?.toString() ?? '',
      headers: message.headers ?? {},
      traceId: span?.traceId,
      spanId: span?.spanId,
      tenant: propagation.getBaggage(context.active())?.getEntry('tenant')?.value,
    });
    if (key.startsWith('fail-once') && list.length === 1) throw new Error(`first delivery of ${key}`);
  };
}

let kafka: Kafka;
let admin: Admin;
let plainProducer: Producer;
let producer: Producer;
const consumers: Consumer[] = [];

beforeAll(async () => {
  kafka = kafkaClient('tracewire-kafkajs-test');
  admin = kafka.admin();
  await admin.connect();
  await createTopics(admin, [topic, retryTopic, txTopic]);
  plainProducer = kafka.producer();
  await plainProducer.connect();
  producer = traceProducer(plainProducer);
  consumers.push(
    await startConsumer(kafka, tracedGroup, [topic, retryTopic, txTopic], {
      eachMessage: traceEachMessage(recordingHandler(traced), { groupId: tracedGroup }),
    }),
    await startConsumer(kafka, plainGroup, [retryTopic], { eachMessage: recordingHandler(plain) }),
  );
});

afterAll(async () => {
  await Promise.allSettled(consumers.map((consumer) => consumer.disconnect()));
  await plainProducer?.disconnect();
  await admin?.deleteTopics({ topics: [topic, retryTopic, txTopic] }).catch(() => {});
  await admin?.deleteGroups([tracedGroup, plainGroup]).catch(() => {});
  await admin?.disconnect();
  await tracing.shutdown();
});

async function delivered(key: string, count = 1): Promise<Delivery[]> {
  return eventually(`${count} deliveries of ${key}`, () => {
    const list = traced.get(key);
    return list && list.length >= count ? list : undefined;
  });
}

async function exported(spanId: string | undefined): Promise<ReadableSpan> {
  return eventually(`span ${spanId}`, () =>
    tracing.spans().find((span) => span.spanContext().spanId === spanId),
  );
}

describe('traced producer -> traced eachMessage consumer', () => {
  it("is one trace: the consumer span is the producer span's child, baggage and payload arrive", async () => {
    const parent = trace.getTracer('test').startSpan('checkout');
    const active = propagation.setBaggage(
      trace.setSpan(context.active(), parent),
      propagation.createBaggage({ tenant: { value: 'acme' } }),
    );
    const message = { key: 'one-trace', value: 'order #1', headers: { 'x-user': 'alice' } };
    await context.with(active, () => producer.send({ topic, messages: [message] }));
    parent.end();
    expect(message.headers).toEqual({ 'x-user': 'alice' });

    const [delivery] = await delivered('one-trace');
    const consumerSpan = await exported(delivery!.spanId);
    const producerSpan = tracing
      .spans()
      .find(
        (span) => span.kind === SpanKind.PRODUCER && span.attributes[ATTR_KAFKA_MESSAGE_KEY] === 'one-trace',
      )!;

    expect(producerSpan.name).toBe(`send ${topic}`);
    expect(parentSpanId(producerSpan)).toBe(parent.spanContext().spanId);
    expect(consumerSpan.name).toBe(`process ${topic}`);
    expect(consumerSpan.kind).toBe(SpanKind.CONSUMER);
    expect(consumerSpan.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(parentSpanId(consumerSpan)).toBe(producerSpan.spanContext().spanId);
    expect(delivery!.tenant).toBe('acme');
    expect(delivery!.value).toBe('order #1');
    expect(delivery!.headers['x-user']?.toString()).toBe('alice');

    // Where the broker put it, seen from both sides.
    expect(producerSpan.attributes[ATTR_KAFKA_OFFSET]).toBe(Number(delivery!.offset));
    expect(producerSpan.attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID]).toBe('0');
    expect(consumerSpan.attributes).toMatchObject({
      [ATTR_MESSAGING_DESTINATION_NAME]: topic,
      [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: '0',
      [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: tracedGroup,
      [ATTR_KAFKA_OFFSET]: Number(delivery!.offset),
      [ATTR_KAFKA_MESSAGE_KEY]: 'one-trace',
    });
  });

  it('gives every message of a sendBatch its own producer span and parent', async () => {
    await producer.sendBatch({
      topicMessages: [
        {
          topic,
          messages: [
            { key: 'batch-a', value: 'a' },
            { key: 'batch-b', value: 'b' },
          ],
        },
      ],
    });
    for (const key of ['batch-a', 'batch-b']) {
      const [delivery] = await delivered(key);
      const consumerSpan = await exported(delivery!.spanId);
      const producerSpan = tracing
        .spans()
        .find((span) => span.kind === SpanKind.PRODUCER && span.attributes[ATTR_KAFKA_MESSAGE_KEY] === key)!;
      expect(parentSpanId(consumerSpan)).toBe(producerSpan.spanContext().spanId);
      expect(consumerSpan.spanContext().traceId).toBe(producerSpan.spanContext().traceId);
      expect(producerSpan.attributes[ATTR_KAFKA_OFFSET]).toBe(Number(delivery!.offset));
    }
  });
});

describe('messages from other producers', () => {
  const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
  const SPAN_ID = 'b7ad6b7169203331';
  const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

  const joining: Array<[string, IHeaders]> = [
    [
      'a traceparent written as bytes (as Java and Python producers do)',
      { traceparent: Buffer.from(TRACEPARENT) },
    ],
    ['a mixed-case header name', { TraceParent: TRACEPARENT }],
    [
      'tracestate and baggage as bytes',
      {
        traceparent: Buffer.from(TRACEPARENT),
        tracestate: Buffer.from('vendor=v1'),
        baggage: Buffer.from('tenant=globex'),
      },
    ],
  ];
  it.each(joining)('joins the trace of %s', async (name, headers) => {
    const key = `join ${name}`;
    await plainProducer.send({ topic, messages: [{ key, value: 'v', headers }] });
    const [delivery] = await delivered(key);
    const span = await exported(delivery!.spanId);
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(parentSpanId(span)).toBe(SPAN_ID);
    if (headers.tracestate) {
      expect(span.spanContext().traceState?.get('vendor')).toBe('v1');
      expect(delivery!.tenant).toBe('globex');
    }
  });

  const roots: Array<[string, IHeaders | undefined]> = [
    ['no headers', undefined],
    ['a corrupt traceparent', { traceparent: Buffer.from('00-this-is-not-a-traceparent-01') }],
    ['an all-zero trace id', { traceparent: Buffer.from(`00-${'0'.repeat(32)}-${SPAN_ID}-01`) }],
    [
      'an oversized traceparent (64 KiB)',
      { traceparent: Buffer.concat([Buffer.from(TRACEPARENT), Buffer.alloc(65_536, 0x20)]) },
    ],
    ['two traceparent headers', { traceparent: [Buffer.from(TRACEPARENT), Buffer.from(TRACEPARENT)] }],
    ['non-ASCII bytes', { traceparent: Buffer.from([0xff, 0xfe, 0x00, 0x41]) }],
  ];
  it.each(roots)(
    'starts a new trace for %s and processes the message exactly once',
    async (name, headers) => {
      const key = `root ${name}`;
      await plainProducer.send({ topic, messages: [{ key, value: 'payload', headers }] });
      const [delivery] = await delivered(key);
      const span = await exported(delivery!.spanId);
      expect(parentSpanId(span)).toBeUndefined();
      expect(span.spanContext().traceId).not.toBe(TRACE_ID);
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(delivery!.value).toBe('payload');
      await committedPast(admin, tracedGroup, topic, delivery!.offset);
      expect(traced.get(key)).toHaveLength(1);
    },
  );
});

describe('a handler that throws', () => {
  it('is retried by KafkaJS exactly as without tracing; nothing lost or duplicated', async () => {
    const keys = ['ok-before', 'fail-once-1', 'ok-after'];
    await producer.send({ topic: retryTopic, messages: keys.map((key) => ({ key, value: key })) });

    for (const [group, deliveries] of [
      [tracedGroup, traced],
      [plainGroup, plain],
    ] as const) {
      await eventually(`${group} to finish`, () => (deliveries.get('ok-after')?.length ? true : undefined));
      await committedPast(admin, group, retryTopic, '2');
    }
    const counts = (deliveries: Map<string, Delivery[]>): number[] =>
      keys.map((key) => deliveries.get(key)?.filter((d) => d.topic === retryTopic).length ?? 0);
    expect(counts(plain)).toEqual([1, 2, 1]);
    expect(counts(traced)).toEqual(counts(plain));

    const attempts = traced.get('fail-once-1')!;
    const spans = await Promise.all(attempts.map((attempt) => exported(attempt.spanId)));
    expect(spans.map((span) => span.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.UNSET]);
    expect(spans[0]!.status.message).toBe('first delivery of fail-once-1');
    // Both attempts continue the producer's trace.
    const producerSpan = tracing
      .spans()
      .find(
        (span) =>
          span.kind === SpanKind.PRODUCER && span.attributes[ATTR_KAFKA_MESSAGE_KEY] === 'fail-once-1',
      )!;
    for (const span of spans) expect(parentSpanId(span)).toBe(producerSpan.spanContext().spanId);
  });
});

describe('transactions', () => {
  it('traces send and sendBatch inside a committed transaction', async () => {
    const transactional = traceProducer(
      kafka.producer({ transactionalId: unique('tx-id'), idempotent: true, maxInFlightRequests: 1 }),
    );
    await transactional.connect();
    try {
      const transaction = await transactional.transaction();
      await transaction.send({ topic: txTopic, messages: [{ key: 'tx-send', value: '1' }] });
      await transaction.sendBatch({
        topicMessages: [{ topic: txTopic, messages: [{ key: 'tx-batch', value: '2' }] }],
      });
      await transaction.commit();
    } finally {
      await transactional.disconnect();
    }
    for (const key of ['tx-send', 'tx-batch']) {
      const [delivery] = await delivered(key);
      const consumerSpan = await exported(delivery!.spanId);
      const producerSpan = tracing
        .spans()
        .find((span) => span.kind === SpanKind.PRODUCER && span.attributes[ATTR_KAFKA_MESSAGE_KEY] === key)!;
      expect(producerSpan.name).toBe(`send ${txTopic}`);
      expect(parentSpanId(consumerSpan)).toBe(producerSpan.spanContext().spanId);
    }
  });
});
