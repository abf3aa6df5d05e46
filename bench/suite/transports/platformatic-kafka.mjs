// @platformatic/kafka through the real broker (2.x where Node runs it, else 1.x). Consumer row: a
// `for await` loop over the client's stream, held between rounds; before each round the topic is
// filled (by a bare producer, outside the measured CPU) with messages carrying the caller's
// traceparent, and the round lets the loop process them all. Producer row: the round sends the
// messages (PER_SEND a send, IN_FLIGHT sends at once) and waits for the acks.
import { randomBytes } from 'node:crypto';
import { context, trace } from '@opentelemetry/api';
import { TRACEPARENT, TRACE_ID } from '../constants.mjs';
import { endLike, floorSender, floorTracer, pick, startFrom, withKey } from '../floor.mjs';

export const PER_SEND = 100;
const IN_FLIGHT = 4;
const VALUE = Buffer.from(randomBytes(128).toString('hex'));
const TRACEPARENT_NAME = Buffer.from('traceparent');
const TRACEPARENT_VALUE = Buffer.from(TRACEPARENT);

function runs2x() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 24 || (major === 24 && minor >= 6) || (major === 22 && minor >= 22) || major === 23;
}

export async function setup(row, variant, { template, env, parent }) {
  const kafka = await import(runs2x() ? '@platformatic/kafka' : 'platformatic-kafka1');
  const bootstrapBrokers = env.kafkaBrokers.split(',');
  const id = randomBytes(4).toString('hex');
  const topic = `tracewire-bench-${row.id}-${variant}-${id}`;
  const admin = new kafka.Admin({ clientId: `bench-${variant}`, bootstrapBrokers });
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  const producer = new kafka.Producer({ clientId: `bench-${variant}`, bootstrapBrokers });
  const consumers = [];
  const newConsumer = () => {
    const consumer = new kafka.Consumer({
      groupId: `tracewire-bench-${randomBytes(4).toString('hex')}`,
      clientId: `bench-${variant}`,
      bootstrapBrokers,
      maxWaitTime: 100,
    });
    consumers.push(consumer);
    return consumer;
  };
  const close = async (stream) => {
    await stream?.close().catch(() => {});
    for (const consumer of consumers) await consumer.close(true).catch(() => {});
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await producer.close();
    await admin.close();
  };
  const sendAll = async (sender, n, withHeader) => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const from = next;
        next = Math.min(n, next + PER_SEND);
        const messages = [];
        for (let i = from; i < next; i++) {
          const message = { topic, key: Buffer.from(`key-${i}`), value: VALUE };
          if (withHeader) message.headers = new Map([[TRACEPARENT_NAME, TRACEPARENT_VALUE]]);
          messages.push(message);
        }
        await sender.send({ messages });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  };

  if (row.id === 'plt-producer') {
    const sender = await producerVariant(variant, producer, template);
    return {
      run: (n) => sendAll(sender, n, false),
      verify: () => readOneHeader(kafka, newConsumer(), topic),
      close: () => close(),
    };
  }

  // The consumer row: the loop waits at its gate whenever it has processed what the round asked.
  const lane = { count: 0, target: 0, done: () => {}, open: undefined };
  const handle = () => {
    lane.count++;
  };
  const processOne = await processVariant(variant, handle, template, parent);
  const stream = await newConsumer().consume({ topics: [topic], mode: kafka.MessagesStreamModes.EARLIEST });
  (async () => {
    for await (const message of stream) {
      if (lane.count >= lane.target) await new Promise((resolve) => (lane.open = resolve));
      processOne(message);
      if (lane.count >= lane.target) lane.done();
    }
  })().catch(() => {});
  return {
    prepare: (n) => sendAll(producer, n, true),
    async run(n) {
      const drained = new Promise((resolve) => {
        lane.done = resolve;
      });
      lane.target = lane.count + n;
      lane.open?.();
      lane.open = undefined;
      await drained;
    },
    close: () => close(stream),
  };
}

async function producerVariant(variant, producer, template) {
  if (variant === 'tracewire') {
    const { traceProducer } = await import('@tracewire/platformatic-kafka');
    return traceProducer(producer);
  }
  if (variant !== 'floor') return producer;
  // The floor copies tracewire's structure: the spans it made once per message, and once per send.
  return floorSender(
    template,
    PER_SEND,
    (record) => producer.send(record),
    (message) => withKey(message, 'headers', new Map([[TRACEPARENT_NAME, TRACEPARENT_VALUE]])),
  );
}

async function processVariant(variant, handle, template, parent) {
  if (variant === 'tracewire') {
    const { messageTracer } = await import('@tracewire/platformatic-kafka');
    const traceMessage = messageTracer();
    return (message) => traceMessage(message, handle);
  }
  if (variant !== 'floor') return () => handle();
  const tracer = floorTracer();
  const shape = pick(template, 4);
  return (message) => {
    // The header found with the client's own API (a Map of Buffers); no parsing.
    let found = false;
    for (const [name] of message.headers) if (name.equals(TRACEPARENT_NAME)) found = true;
    if (!found) throw new Error('no traceparent');
    const span = startFrom(tracer, shape, parent);
    try {
      return context.with(trace.setSpan(parent, span), handle);
    } finally {
      endLike(span, shape);
    }
  };
}

/** Reads the first message of the topic back: did the producer put a trace context of its own in it? */
async function readOneHeader(kafka, consumer, topic) {
  const stream = await consumer.consume({ topics: [topic], mode: kafka.MessagesStreamModes.EARLIEST });
  let header = null;
  for await (const message of stream) {
    for (const [name, value] of message.headers) if (name.equals(TRACEPARENT_NAME)) header = value.toString();
    break;
  }
  await stream.close().catch(() => {});
  return { header, propagated: typeof header === 'string' && !header.includes(TRACE_ID) };
}
