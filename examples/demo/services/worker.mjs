// worker: consumes orders from Kafka, reserves every item at inventory (gRPC, in parallel), then
// publishes the outcome to RabbitMQ. Env: KAFKA_BROKERS, ORDERS_TOPIC, KAFKA_GROUP,
// INVENTORY_ADDRESS, AMQP_URL, NOTIFY_EXCHANGE; WORKER_KAFKA_CLIENT=platformatic consumes with
// @platformatic/kafka (a `for await` stream with messageTracer) instead of KafkaJS.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { traceChannel } from '@tracewire/amqplib';
import { clientInterceptor } from '@tracewire/grpc';
import { traceEachMessage } from '@tracewire/kafkajs';
import { startTracing } from '@tracewire/node';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';

const tracing = startTracing({ serviceName: 'worker', exporter: 'otlp' });

const { KAFKA_BROKERS, ORDERS_TOPIC, KAFKA_GROUP, INVENTORY_ADDRESS, AMQP_URL, NOTIFY_EXCHANGE } =
  process.env;

// gRPC client: each call is a CLIENT span, child of the span active when the call is made.
const proto = protoLoader.loadSync(fileURLToPath(new URL('../proto/inventory.proto', import.meta.url)));
const { inventory } = grpc.loadPackageDefinition(proto);
const stock = new inventory.Inventory(INVENTORY_ADDRESS, grpc.credentials.createInsecure(), {
  interceptors: [clientInterceptor()],
});
const reserve = (item) =>
  new Promise((resolve, reject) =>
    stock.Reserve(item, (error, reply) => (error ? reject(error) : resolve(reply))),
  );

// RabbitMQ: publishing on the traced channel makes a PRODUCER span and carries its context.
const connection = await amqp.connect(AMQP_URL);
const channel = traceChannel(await connection.createChannel());
await channel.assertExchange(NOTIFY_EXCHANGE, 'topic', { durable: false, autoDelete: true });

async function handleOrder({ message }) {
  const order = JSON.parse(message.value.toString());
  // All reservations at once: sibling CLIENT spans under this message's CONSUMER span.
  const results = await Promise.allSettled(order.items.map(reserve));
  const failures = results.filter((result) => result.status === 'rejected').map((result) => result.reason);
  if (failures.length > 0) {
    // Handled here, not thrown (KafkaJS would retry the message), so mark the span ourselves.
    const span = trace.getActiveSpan();
    span?.setAttribute('error.type', 'reservation_failed');
    span?.setStatus({
      code: SpanStatusCode.ERROR,
      message: failures.map((error) => error.details).join('; '),
    });
  }
  const event = failures.length > 0 ? 'order.rejected' : 'order.confirmed';
  channel.publish(NOTIFY_EXCHANGE, event, Buffer.from(JSON.stringify({ id: order.id, event })));
}

/** KafkaJS: each message is processed in a CONSUMER span `process {topic}`, child of the producer's span. */
async function consumeWithKafkajs() {
  const kafka = new Kafka({ clientId: 'worker', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.WARN });
  const consumer = kafka.consumer({ groupId: KAFKA_GROUP });
  consumer.on(consumer.events.GROUP_JOIN, () => console.log(`worker ready in group ${KAFKA_GROUP}`));
  await consumer.connect();
  await consumer.subscribe({ topics: [ORDERS_TOPIC], fromBeginning: true });
  await consumer.run({ eachMessage: traceEachMessage(handleOrder, { groupId: KAFKA_GROUP }) });
  return () => consumer.disconnect();
}

/** @platformatic/kafka (2.x where Node allows it, else 1.x): the same span, from `traceMessage`. */
async function consumeWithPlatformatic() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  const has2x = major > 24 || (major === 24 && minor >= 6) || (major === 22 && minor >= 22) || major === 23;
  const { Consumer, MessagesStreamModes } = await import(
    has2x ? '@platformatic/kafka' : 'platformatic-kafka1'
  );
  const { messageTracer } = await import('@tracewire/platformatic-kafka');
  const consumer = new Consumer({
    groupId: KAFKA_GROUP,
    clientId: 'worker',
    bootstrapBrokers: KAFKA_BROKERS.split(','),
  });
  const stream = await consumer.consume({ topics: [ORDERS_TOPIC], mode: MessagesStreamModes.EARLIEST });
  console.log(`worker ready in group ${KAFKA_GROUP} (@platformatic/kafka)`);
  const traceMessage = messageTracer();
  const reading = (async () => {
    for await (const message of stream) await traceMessage(message, () => handleOrder({ message }));
  })();
  return async () => {
    await stream.close();
    await reading.catch(() => {});
    await consumer.close(true);
  };
}

const stopConsuming = await (process.env.WORKER_KAFKA_CLIENT === 'platformatic'
  ? consumeWithPlatformatic()
  : consumeWithKafkajs());

// A graceful stop: finish the current message and leave the group, then flush the last spans.
// `on`, not `once`: while the app still listens, startTracing only flushes and lets the app exit.
process.on('SIGTERM', async () => {
  try {
    await stopConsuming();
    await connection.close();
  } finally {
    await tracing.shutdown();
    process.exit(0);
  }
});
