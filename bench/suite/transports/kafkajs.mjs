// KafkaJS through the real broker. Consumer rows: before each round the topic is filled (by a bare
// producer, outside the measured CPU) with messages carrying the caller's traceparent, while the
// consumer is paused; the round resumes it and ends when it has processed them all. Producer rows:
// the round sends the messages (PER_SEND a send, IN_FLIGHT sends at once) and waits for the acks.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { REMOTE_LINK, TRACEPARENT, TRACE_ID } from '../constants.mjs';
import { endLike, floorSender, floorTracer, pick, startFrom, withKey } from '../floor.mjs';

const require = createRequire(import.meta.url);
export const PER_SEND = 100;
const IN_FLIGHT = 4;
const VALUE = randomBytes(128).toString('hex');
const isBatchSpan = (shape) => 'messaging.batch.message_count' in shape.attributes;

export async function setup(row, variant, { template, env, parent }) {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({
    clientId: `bench-${variant}`,
    brokers: env.kafkaBrokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const id = randomBytes(4).toString('hex');
  const topic = `tracewire-bench-${row.id}-${variant}-${id}`;
  const groups = [];
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  await createTopic(admin, topic);
  const close = async (consumer) => {
    await consumer?.disconnect();
    await admin.deleteGroups(groups).catch(() => {});
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await producer.disconnect();
    await admin.disconnect();
  };
  const sendAll = async (sender, n, withHeader) => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const from = next;
        next = Math.min(n, next + PER_SEND);
        const messages = [];
        for (let i = from; i < next; i++)
          messages.push(
            withHeader
              ? { key: `key-${i}`, value: VALUE, headers: { traceparent: TRACEPARENT } }
              : { key: `key-${i}`, value: VALUE },
          );
        await sender.send({ topic, messages });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  };

  if (row.id.startsWith('kafka-producer')) {
    const sender = await producerVariant(row, variant, producer, template);
    return {
      run: (n) => sendAll(sender, n, false),
      verify: () => readOneHeader(kafka, topic, groups),
      close: () => close(),
    };
  }

  // A consumer row.
  const groupId = `tracewire-bench-${id}`;
  groups.push(groupId);
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 30_000 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const lane = { count: 0, target: Number.POSITIVE_INFINITY, done: () => {} };
  const counted = (handler) =>
    async function counted(payload) {
      await handler(payload);
      if (lane.count >= lane.target) lane.done();
    };
  const handle = async () => {
    lane.count++;
  };
  const config =
    row.id === 'kafka-each-message'
      ? { eachMessage: counted(eachMessageVariant(variant, handle, groupId, template, parent)) }
      : { eachBatch: counted(eachBatchVariant(variant, handle, groupId, template, parent)) };
  const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
  await consumer.run(config);
  await joined;
  consumer.pause([{ topic }]);
  return {
    prepare: (n) => sendAll(producer, n, true),
    async run(n) {
      const drained = new Promise((resolve) => {
        lane.done = resolve;
      });
      lane.target = lane.count + n;
      consumer.resume([{ topic }]);
      await drained;
      consumer.pause([{ topic }]);
    },
    close: () => close(consumer),
  };
}

/** A loaded shared broker can be slow to elect the new topic's leader: wait for it, a few times. */
async function createTopic(admin, topic) {
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      await admin.fetchTopicMetadata({ topics: [topic] });
      return;
    } catch (error) {
      if (attempt === 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2000 * attempt));
    }
  }
}

async function producerVariant(row, variant, producer, template) {
  if (variant === 'tracewire') {
    const { traceProducer } = await import('@tracewire/kafkajs');
    return row.id === 'kafka-producer-nospans'
      ? traceProducer(producer, { createSpans: false })
      : traceProducer(producer);
  }
  if (variant !== 'floor') return producer;
  // The floor copies tracewire's structure: the spans it made once per message, and once per send.
  return floorSender(
    template,
    PER_SEND,
    (record) => producer.send(record),
    // A headers object per message, as the adapter's (the value constant).
    (message) => withKey(message, 'headers', { traceparent: TRACEPARENT }),
  );
}

function eachMessageVariant(variant, handle, groupId, template, parent) {
  if (variant === 'tracewire') {
    const { traceEachMessage } = require('@tracewire/kafkajs');
    return traceEachMessage(handle, { groupId });
  }
  if (variant !== 'floor') return handle;
  const tracer = floorTracer();
  const shape = pick(template, 4);
  return async (payload) => {
    // The header read with KafkaJS's own API; no parsing.
    if (payload.message.headers.traceparent === undefined) throw new Error('no traceparent');
    const span = startFrom(tracer, shape, parent);
    try {
      return await context.with(trace.setSpan(parent, span), handle, undefined, payload);
    } finally {
      endLike(span, shape);
    }
  };
}

function eachBatchVariant(variant, handle, groupId, template, parent) {
  if (variant === 'tracewire') {
    const { traceEachBatch } = require('@tracewire/kafkajs');
    return traceEachBatch(
      async ({ batch, traceMessage }) => {
        for (const message of batch.messages) await traceMessage(message, handle);
      },
      { groupId },
    );
  }
  const plain = async ({ batch }) => {
    for (const _message of batch.messages) await handle();
  };
  if (variant !== 'floor') return plain;
  const tracer = floorTracer();
  const batchShape = pick(template, 4, isBatchSpan);
  const messageShape = pick(template, 4, (shape) => !isBatchSpan(shape));
  return async ({ batch }) => {
    const links = [];
    for (const message of batch.messages) {
      if (message.headers.traceparent === undefined) throw new Error('no traceparent');
      links.push(REMOTE_LINK);
    }
    const batchSpan = startFrom(tracer, batchShape, undefined, batchShape.links > 0 ? links : undefined);
    try {
      await context.with(trace.setSpan(context.active(), batchSpan), async () => {
        for (const _message of batch.messages) {
          const span = startFrom(tracer, messageShape, parent);
          try {
            await context.with(trace.setSpan(parent, span), handle);
          } finally {
            endLike(span, messageShape);
          }
        }
      });
    } finally {
      endLike(batchSpan, batchShape);
    }
  };
}

/** Reads the first message of the topic back: did the producer put a trace context of its own in it? */
async function readOneHeader(kafka, topic, groups) {
  const groupId = `tracewire-bench-check-${randomBytes(4).toString('hex')}`;
  groups.push(groupId);
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const header = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 30_000);
    consumer.run({
      eachMessage: async ({ message }) => {
        clearTimeout(timer);
        resolve(message.headers.traceparent?.toString() ?? null);
      },
    });
  });
  await consumer.disconnect();
  return { header, propagated: typeof header === 'string' && !header.includes(TRACE_ID) };
}
