// KafkaJS, @platformatic/kafka, amqplib and gRPC round trips with tracewire, in one process: a
// message sent and consumed (Kafka, RabbitMQ) and a unary call (gRPC), each producing a parent and
// a child span. Env: KAFKA_BROKERS, AMQP_URL, COMPAT_ID (makes the topic and queue names unique),
// COMPAT_PLT_CLIENT (the installed name of the @platformatic/kafka major this runtime runs).
import { Buffer } from 'node:buffer';
import { Server, ServerCredentials, credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import { clientInterceptor, serverInterceptor } from '@tracewire/grpc';
import { traceEachMessage, traceProducer } from '@tracewire/kafkajs';
import { startTracing } from '@tracewire/node';
import { messageTracer, traceProducer as tracePlatformaticProducer } from '@tracewire/platformatic-kafka';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
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

async function kafkaRoundTrip() {
  const topic = `compat-${id}`;
  const kafka = new Kafka({
    clientId: 'compat',
    brokers: process.env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `compat-${id}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const received = new Promise((resolve) => {
    consumer.run({
      eachMessage: traceEachMessage(async ({ message }) => resolve(String(message.value)), {
        groupId: `compat-${id}`,
      }),
    });
  });
  const producer = traceProducer(kafka.producer());
  await producer.connect();
  await producer.send({ topic, messages: [{ value: 'kafka-hello' }] });
  const value = await received;
  await producer.disconnect();
  await consumer.disconnect();
  return value;
}

async function platformaticRoundTrip() {
  // Which major is chosen per runtime (2.x needs Node >= 22.22 or >= 24.6): see setups.ts.
  const { Admin, Consumer, MessagesStreamModes, Producer } = await import(process.env.COMPAT_PLT_CLIENT);
  const topic = `compat-plt-${id}`;
  const bootstrapBrokers = process.env.KAFKA_BROKERS.split(',');
  const admin = new Admin({ clientId: 'compat', bootstrapBrokers });
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  await admin.close();
  const producer = tracePlatformaticProducer(new Producer({ clientId: 'compat', bootstrapBrokers }));
  await producer.send({ messages: [{ topic, value: Buffer.from('platformatic-hello') }] });
  await producer.close();
  const consumer = new Consumer({ groupId: topic, clientId: 'compat', bootstrapBrokers, maxWaitTime: 200 });
  const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });
  const traceMessage = messageTracer();
  let value;
  for await (const message of stream) {
    value = await traceMessage(message, async () => String(message.value));
    break;
  }
  // Leaving the loop already destroyed the stream; close() may then reject, which is fine here.
  await stream.close().catch(() => undefined);
  await consumer.close(true);
  return value;
}

async function amqpRoundTrip() {
  const queue = `compat-queue-${id}`;
  const connection = await amqp.connect(process.env.AMQP_URL);
  const channel = traceChannel(await connection.createConfirmChannel());
  await channel.assertQueue(queue, { exclusive: true, autoDelete: true });
  const received = new Promise((resolve) => {
    channel.consume(queue, (message) => {
      if (!message) return;
      channel.ack(message);
      resolve(message.content.toString());
    });
  });
  channel.sendToQueue(queue, Buffer.from('amqp-hello'));
  await channel.waitForConfirms();
  const value = await received;
  await channel.close();
  await connection.close();
  return value;
}

const json = {
  serialize: (value) => Buffer.from(JSON.stringify(value)),
  deserialize: (buffer) => JSON.parse(buffer.toString()),
};
const echoService = {
  echo: {
    path: '/compat.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

async function grpcRoundTrip() {
  const server = new Server({ interceptors: [serverInterceptor()] });
  server.addService(echoService, { echo: (call, callback) => callback(null, { text: call.request.text }) });
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const Echo = makeGenericClientConstructor(echoService, 'Echo');
  const client = new Echo(`127.0.0.1:${port}`, credentials.createInsecure(), {
    interceptors: [clientInterceptor()],
  });
  const reply = await new Promise((resolve, reject) =>
    client.echo({ text: 'grpc-hello' }, (error, response) =>
      error ? reject(error) : resolve(response.text),
    ),
  );
  client.close();
  server.forceShutdown();
  return reply;
}

try {
  const body = {
    kafka: await kafkaRoundTrip(),
    platformatic: await platformaticRoundTrip(),
    amqp: await amqpRoundTrip(),
    grpc: await grpcRoundTrip(),
  };
  await new Promise((resolve) => setTimeout(resolve, 300));
  report(body);
  process.exit(0);
} catch (error) {
  console.error(error);
  process.exit(1);
}
