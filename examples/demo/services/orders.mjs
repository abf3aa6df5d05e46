// orders: accepts an order over HTTP (Fastify) and publishes it to Kafka.
// Env: PORT, KAFKA_BROKERS, ORDERS_TOPIC.
import { traceContext } from '@tracewire/fastify';
import { traceProducer } from '@tracewire/kafkajs';
import { startTracing } from '@tracewire/node';
import Fastify from 'fastify';
import { Kafka, logLevel } from 'kafkajs';

startTracing({ serviceName: 'orders', exporter: 'otlp' });

const { PORT, KAFKA_BROKERS, ORDERS_TOPIC } = process.env;
const kafka = new Kafka({ clientId: 'orders', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.WARN });
// Each message sent gets a PRODUCER span `send {topic}` and its context in the message headers.
const producer = traceProducer(kafka.producer());
await producer.connect();

const app = Fastify();
// SERVER spans named after the route (`PUT /orders/:id`), children of the caller's CLIENT span.
await app.register(traceContext);

const item = {
  type: 'object',
  required: ['sku', 'quantity'],
  properties: { sku: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } },
};
const body = { type: 'object', required: ['items'], properties: { items: { type: 'array', items: item } } };

app.put('/orders/:id', { schema: { body } }, async (request, reply) => {
  const order = { id: request.params.id, items: request.body.items };
  await producer.send({ topic: ORDERS_TOPIC, messages: [{ key: order.id, value: JSON.stringify(order) }] });
  return reply.code(202).send({ id: order.id, status: 'accepted' });
});

await app.listen({ port: Number(PORT), host: '127.0.0.1' });
console.log(`orders ready on http://127.0.0.1:${PORT}`);
