// A team migrating between clients keeps its traces: a traced KafkaJS producer -> a traced
// @platformatic/kafka consumer, and a traced @platformatic/kafka producer -> a traced KafkaJS
// consumer, each one trace with the right parents.
import { SpanKind, context, trace } from '@opentelemetry/api';
import { traceEachMessage, traceProducer as traceKafkajsProducer } from '@tracewire/kafkajs';
import { messageTracer, traceProducer } from '@tracewire/platformatic-kafka';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import {
  type Client,
  brokers,
  consume,
  createTopics,
  eventually,
  loadClient,
  producer as newProducer,
  readN,
  unique,
} from './support.js';

const tracing = setupTracing();
let client: Client;
const kafka = new Kafka({ clientId: 'tracewire-interop', brokers: brokers(), logLevel: logLevel.NOTHING });

beforeAll(async () => {
  client = await loadClient();
});

afterAll(async () => {
  await tracing.shutdown();
});

describe('KafkaJS <-> @platformatic/kafka', () => {
  it('a traced KafkaJS producer and a platformatic consumer: one trace, the process span its child', async () => {
    const topic = unique('from-kafkajs');
    await createTopics(client, [topic]);
    const producer = traceKafkajsProducer(kafka.producer());
    await producer.connect();
    const root = trace.getTracer('test').startSpan('request');
    await context.with(trace.setSpan(context.active(), root), () =>
      producer.send({ topic, messages: [{ key: 'k', value: 'from kafkajs', headers: { tenant: 'acme' } }] }),
    );
    root.end();
    await producer.disconnect();

    const { consumer, stream } = await consume(client, [topic]);
    const traceMessage = messageTracer();
    const seen: Array<{ value: string; tenant: string | undefined; spanId: string | undefined }> = [];
    await readN(stream, consumer, 1, (message) =>
      traceMessage(message, () => {
        const tenant = [...message.headers].find(([name]) => name.toString() === 'tenant')?.[1].toString();
        seen.push({
          value: message.value.toString(),
          tenant,
          spanId: trace.getActiveSpan()?.spanContext().spanId,
        });
      }),
    );
    const send = tracing.spans().find((span) => span.name === `send ${topic}`);
    const processSpan = tracing.spans().find((span) => span.name === `process ${topic}`);
    expect(send?.kind).toBe(SpanKind.PRODUCER);
    expect(processSpan?.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(parentSpanId(processSpan!)).toBe(send?.spanContext().spanId);
    expect(processSpan?.attributes['kafka.message.key']).toBe('k');
    expect(seen).toEqual([
      { value: 'from kafkajs', tenant: 'acme', spanId: processSpan?.spanContext().spanId },
    ]);
  });

  it('a traced platformatic producer and a KafkaJS eachMessage consumer: one trace, the process span its child', async () => {
    const topic = unique('to-kafkajs');
    await createTopics(client, [topic]);
    const raw = newProducer(client);
    const producer = traceProducer(raw);
    const root = trace.getTracer('test').startSpan('request');
    await context.with(trace.setSpan(context.active(), root), () =>
      producer.send({
        messages: [{ topic, key: Buffer.from('k2'), value: Buffer.from('from platformatic') }],
      }),
    );
    root.end();
    await raw.close();

    const groupId = unique('kafkajs-group');
    const consumer = kafka.consumer({
      groupId,
      maxWaitTimeInMs: 100,
      sessionTimeout: 6_000,
      heartbeatInterval: 500,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const seen: Array<{ value: string; spanId: string | undefined }> = [];
    await consumer.run({
      eachMessage: traceEachMessage(
        async ({ message }) => {
          seen.push({
            value: message.value?.toString() ?? '',
            spanId: trace.getActiveSpan()?.spanContext().spanId,
          });
        },
        { groupId },
      ),
    });
    await eventually('the KafkaJS consumer to get the message', () => (seen.length > 0 ? true : undefined));
    await consumer.disconnect();
    const send = tracing.spans().find((span) => span.name === `send ${topic}`);
    const processSpan = tracing.spans().find((span) => span.name === `process ${topic}`);
    expect(processSpan?.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(parentSpanId(processSpan!)).toBe(send?.spanContext().spanId);
    expect(seen).toEqual([{ value: 'from platformatic', spanId: processSpan?.spanContext().spanId }]);
  });
});
