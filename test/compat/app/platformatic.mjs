// @platformatic/kafka with tracewire, the client imported before anything of tracing (messaging.mjs
// loads it after): a traced producer sends two messages, one read in a `for await` loop through
// `traceMessage`, one in a 'data' listener through `traceHandler`. Every setup runs this file,
// bundled ones included. Env: KAFKA_BROKERS, COMPAT_ID (makes the topic names unique).
import { Admin, Consumer, MessagesStreamModes, Producer } from '@platformatic/kafka';
import { Buffer } from 'node:buffer';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '@tracewire/node';
import { messageTracer, traceHandler, traceProducer } from '@tracewire/platformatic-kafka';
import { report } from './app.mjs';

const exporter = new InMemorySpanExporter();
globalThis.__compatExporter = exporter;
startTracing({
  serviceName: 'compat',
  exporter: 'none',
  spanProcessors: [new SimpleSpanProcessor(exporter)],
  handleSignals: false,
});
const id = process.env.COMPAT_ID;
const bootstrapBrokers = process.env.KAFKA_BROKERS.split(',');

async function consumeOne(topic, read) {
  const consumer = new Consumer({ groupId: topic, clientId: 'compat', bootstrapBrokers, maxWaitTime: 200 });
  const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });
  try {
    return await read(stream);
  } finally {
    // A stream a loop already left is destroyed; close() may then reject, which is fine here.
    await stream.close().catch(() => undefined);
    await consumer.close(true);
  }
}

async function roundTrips() {
  const loopTopic = `compat-plt-loop-${id}`;
  const listenerTopic = `compat-plt-listener-${id}`;
  const admin = new Admin({ clientId: 'compat', bootstrapBrokers });
  await admin.createTopics({ topics: [loopTopic, listenerTopic], partitions: 1, replicas: 1 });
  await admin.close();
  const producer = traceProducer(new Producer({ clientId: 'compat', bootstrapBrokers }));
  await producer.send({ messages: [{ topic: loopTopic, value: Buffer.from('loop-hello') }] });
  await producer.send({ messages: [{ topic: listenerTopic, value: Buffer.from('listener-hello') }] });
  await producer.close();

  const traceMessage = messageTracer();
  const loop = await consumeOne(loopTopic, async (stream) => {
    for await (const message of stream) return traceMessage(message, async () => String(message.value));
  });
  const listener = await consumeOne(
    listenerTopic,
    (stream) =>
      new Promise((resolve) =>
        stream.on(
          'data',
          traceHandler((message) => resolve(String(message.value))),
        ),
      ),
  );
  return { loop, listener };
}

// No top-level await: the CommonJS setups run this same file converted.
roundTrips()
  .then(async (body) => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    report(body);
    process.exit(0);
  })
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
