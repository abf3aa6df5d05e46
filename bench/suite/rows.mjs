// Every row of the report: which transport module runs it, what one operation is, how many
// operations a round holds (full and quick mode), and whether the parent drives it (servers).
const row = (id, label, transport, unit, ops, quick, extra = {}) => ({
  id,
  label,
  transport,
  unit,
  ops,
  quick,
  ...extra,
});

export const ROWS = Object.fromEntries(
  [
    row('express', 'Express', 'http-server', 'request', 1000, 100, { driver: 'http' }),
    row('fastify', 'Fastify', 'http-server', 'request', 1000, 100, { driver: 'http' }),
    row('fetch', 'fetch (undici)', 'http-client', 'request', 600, 75),
    row('undici', 'undici.request', 'http-client', 'request', 1000, 100),
    row('node-http', 'node:http client', 'http-client', 'request', 1000, 100),
    row('kafka-each-message', 'KafkaJS eachMessage', 'kafkajs', 'message', 2000, 200, { broker: 'kafka' }),
    row('kafka-each-batch', 'KafkaJS eachBatch', 'kafkajs', 'message', 2000, 200, { broker: 'kafka' }),
    row('kafka-producer', 'KafkaJS producer', 'kafkajs', 'message', 2000, 200, { broker: 'kafka' }),
    row('kafka-producer-nospans', 'KafkaJS producer, createSpans: false', 'kafkajs', 'message', 2000, 200, {
      broker: 'kafka',
      // OpenTelemetry's instrumentation has no such mode: its cost is the producer row's.
      noOtel: true,
    }),
    // OpenTelemetry has no instrumentation for @platformatic/kafka.
    row(
      'plt-consume',
      '@platformatic/kafka consume (for await)',
      'platformatic-kafka',
      'message',
      2000,
      200,
      {
        broker: 'kafka',
        noOtel: true,
      },
    ),
    row('plt-producer', '@platformatic/kafka producer', 'platformatic-kafka', 'message', 2000, 200, {
      broker: 'kafka',
      noOtel: true,
    }),
    row('amqp-publish', 'amqplib publish (confirm channel)', 'amqplib', 'message', 1000, 100, {
      broker: 'amqp',
    }),
    row('amqp-consume', 'amqplib consume + ack', 'amqplib', 'message', 1000, 100, { broker: 'amqp' }),
    row('grpc-unary', 'gRPC unary', 'grpc', 'call', 400, 50),
    row('grpc-server-stream', 'gRPC server-streaming (10 msgs)', 'grpc', 'call', 200, 25),
    row('grpc-client-stream', 'gRPC client-streaming (10 msgs)', 'grpc', 'call', 200, 25),
    row('grpc-bidi', 'gRPC bidi (10 msgs each way)', 'grpc', 'call', 200, 25),
  ].map((entry) => [entry.id, entry]),
);

/** End to end with the real export path: these rows again, with `bare` and `tracewire` only. */
export const EXPORT_ROWS = ['express', 'kafka-each-message'];
