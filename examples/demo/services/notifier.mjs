// notifier: consumes order outcomes from RabbitMQ. Env: AMQP_URL, NOTIFY_EXCHANGE, NOTIFY_QUEUE.
import { traceChannel } from '@tracewire/amqplib';
import { startTracing } from '@tracewire/node';
import amqp from 'amqplib';

startTracing({ serviceName: 'notifier', exporter: 'otlp' });

const { AMQP_URL, NOTIFY_EXCHANGE, NOTIFY_QUEUE } = process.env;
const connection = await amqp.connect(AMQP_URL);
const channel = traceChannel(await connection.createChannel());
await channel.assertExchange(NOTIFY_EXCHANGE, 'topic', { durable: false, autoDelete: true });
await channel.assertQueue(NOTIFY_QUEUE, { durable: false, autoDelete: true });
await channel.bindQueue(NOTIFY_QUEUE, NOTIFY_EXCHANGE, 'order.*');

// Each delivery runs in a CONSUMER span `process {queue}`, child of the publisher's span; the
// span covers the handler, and the ack made in it is recorded on the span.
await channel.consume(NOTIFY_QUEUE, (message) => {
  const { id, event } = JSON.parse(message.content.toString());
  console.log(`${event}: order ${id}`);
  channel.ack(message);
});
console.log(`notifier ready on queue ${NOTIFY_QUEUE}`);
