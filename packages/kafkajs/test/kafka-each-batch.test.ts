// Through a real broker: traceEachBatch makes one batch span linked to every message's context,
// and traceMessage parents each message's processing on its own producer.
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
} from '@opentelemetry/semantic-conventions/incubating';
import { type TracedEachBatchPayload, traceEachBatch, traceProducer } from '@tracewire/kafkajs';
import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
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

const topic = unique('each-batch');
const retryTopic = unique('batch-retry');
const tracedGroup = unique('batch-traced');
const plainGroup = unique('batch-plain');

interface Processed {
  key: string;
  topic: string;
  spanId?: string;
  batchSpanId?: string;
  tenant?: string;
}

const traced: Processed[] = [];
const plain: Processed[] = [];

/** Processes message by message, resolving each; a key starting `fail-once` throws on its first try. */
async function processBatch(
  into: Processed[],
  { batch, resolveOffset, heartbeat }: EachBatchPayload,
  run: (message: EachBatchPayload['batch']['messages'][number], fn: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const batchSpanId = trace.getActiveSpan()?.spanContext().spanId;
  for (const message of batch.messages) {
    const key = message.key?.toString() ?? '';
    await run(message, async () => {
      into.push({
        key,
        topic: batch.topic,
        batchSpanId,
        spanId: trace.getActiveSpan()?.spanContext().spanId,
        tenant: propagation.getBaggage(context.active())?.getEntry('tenant')?.value,
      });
      if (key.startsWith('fail-once') && into.filter((p) => p.key === key).length === 1) {
        throw new Error(`first try of ${key}`);
      }
    });
    resolveOffset(message.offset);
    await heartbeat();
  }
}

let kafka: Kafka;
let admin: Admin;
let plainProducer: Producer;
let producer: Producer;
const consumers: Consumer[] = [];

beforeAll(async () => {
  kafka = kafkaClient('tracewire-kafkajs-batch-test');
  admin = kafka.admin();
  await admin.connect();
  await createTopics(admin, [topic, retryTopic]);
  plainProducer = kafka.producer();
  await plainProducer.connect();
  producer = traceProducer(plainProducer);
  consumers.push(
    await startConsumer(kafka, tracedGroup, [topic, retryTopic], {
      eachBatchAutoResolve: false,
      eachBatch: traceEachBatch(
        (payload: TracedEachBatchPayload) => processBatch(traced, payload, payload.traceMessage),
        { groupId: tracedGroup },
      ),
    }),
    await startConsumer(kafka, plainGroup, [retryTopic], {
      eachBatchAutoResolve: false,
      eachBatch: (payload) => processBatch(plain, payload, (_message, fn) => fn()),
    }),
  );
});

afterAll(async () => {
  await Promise.allSettled(consumers.map((consumer) => consumer.disconnect()));
  await plainProducer?.disconnect();
  await admin?.deleteTopics({ topics: [topic, retryTopic] }).catch(() => {});
  await admin?.deleteGroups([tracedGroup, plainGroup]).catch(() => {});
  await admin?.disconnect();
  await tracing.shutdown();
});

function producerSpan(key: string): ReadableSpan {
  return tracing
    .spans()
    .find((span) => span.kind === SpanKind.PRODUCER && span.attributes[ATTR_KAFKA_MESSAGE_KEY] === key)!;
}

async function exported(spanId: string | undefined): Promise<ReadableSpan> {
  return eventually(`span ${spanId}`, () =>
    tracing.spans().find((span) => span.spanContext().spanId === spanId),
  );
}

describe('traceEachBatch', () => {
  it("links the batch span to every message and parents each message's span on its producer", async () => {
    const keys = ['m1', 'm2', 'm3'];
    const parent = trace.getTracer('test').startSpan('publish');
    const active = propagation.setBaggage(
      trace.setSpan(context.active(), parent),
      propagation.createBaggage({ tenant: { value: 'acme' } }),
    );
    await context.with(active, () =>
      producer.send({ topic, messages: keys.map((key) => ({ key, value: `value ${key}` })) }),
    );
    parent.end();

    const processed = await eventually('all three messages', () => {
      const done = traced.filter((p) => p.topic === topic);
      return done.length >= keys.length ? done : undefined;
    });
    expect(processed.map((p) => p.key)).toEqual(keys);

    const batchSpans = await Promise.all([...new Set(processed.map((p) => p.batchSpanId))].map(exported));
    for (const batchSpan of batchSpans) {
      expect(batchSpan.name).toBe(`process ${topic}`);
      expect(batchSpan.kind).toBe(SpanKind.CONSUMER);
      expect(parentSpanId(batchSpan)).toBeUndefined();
      expect(batchSpan.attributes).toMatchObject({
        [ATTR_MESSAGING_DESTINATION_NAME]: topic,
        [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: tracedGroup,
      });
    }
    // However KafkaJS split the messages into batches, every message is counted and linked once.
    expect(
      batchSpans.reduce((sum, span) => sum + Number(span.attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT]), 0),
    ).toBe(3);
    expect(batchSpans.flatMap((span) => span.links.map((link) => link.context.spanId)).sort()).toEqual(
      keys.map((key) => producerSpan(key).spanContext().spanId).sort(),
    );

    for (const p of processed) {
      const span = await exported(p.spanId);
      const producer = producerSpan(p.key);
      expect(span.name).toBe(`process ${topic}`);
      expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(parentSpanId(span)).toBe(producer.spanContext().spanId);
      // Linked to its creation context (its parent, as the conventions ask) and to the batch span.
      expect(span.links.map((link) => link.context.spanId)).toEqual([
        producer.spanContext().spanId,
        p.batchSpanId,
      ]);
      expect(p.tenant).toBe('acme');
    }
  });

  it('is retried by KafkaJS exactly as without tracing when processing throws', async () => {
    const keys = ['ok-before', 'fail-once-b', 'ok-after'];
    await producer.send({ topic: retryTopic, messages: keys.map((key) => ({ key, value: key })) });
    for (const [group, into] of [
      [tracedGroup, traced],
      [plainGroup, plain],
    ] as const) {
      await eventually(`${group} to finish`, () =>
        into.some((p) => p.key === 'ok-after') ? true : undefined,
      );
      await committedPast(admin, group, retryTopic, '2');
    }
    const counts = (into: Processed[]): number[] =>
      keys.map((key) => into.filter((p) => p.key === key && p.topic === retryTopic).length);
    expect(counts(plain)).toEqual([1, 2, 1]);
    expect(counts(traced)).toEqual(counts(plain));

    const attempts = traced.filter((p) => p.key === 'fail-once-b');
    const messageSpans = await Promise.all(attempts.map((p) => exported(p.spanId)));
    expect(messageSpans.map((span) => span.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    const failedBatch = await exported(attempts[0]!.batchSpanId);
    expect(failedBatch.status.code).toBe(SpanStatusCode.ERROR);
  });
});
