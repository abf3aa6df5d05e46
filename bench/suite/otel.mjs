// OpenTelemetry's own instrumentation of each transport, as users install it: registered with the
// tracer provider before the library is first required (they patch through require hooks).
import { registerInstrumentations } from '@opentelemetry/instrumentation';

const INSTRUMENTATIONS = {
  'http-server': async (row) => {
    const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
    const list = [new HttpInstrumentation()];
    if (row.id === 'express') {
      const { ExpressInstrumentation } = await import('@opentelemetry/instrumentation-express');
      list.push(new ExpressInstrumentation());
    }
    // @fastify/otel is a plugin the app registers (see transports/http-server.mjs).
    return list;
  },
  'http-client': async (row) => {
    if (row.id === 'node-http') {
      const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
      return [new HttpInstrumentation()];
    }
    const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
    return [new UndiciInstrumentation()];
  },
  kafkajs: async () => {
    const { KafkaJsInstrumentation } = await import('@opentelemetry/instrumentation-kafkajs');
    return [new KafkaJsInstrumentation()];
  },
  amqplib: async () => {
    const { AmqplibInstrumentation } = await import('@opentelemetry/instrumentation-amqplib');
    return [new AmqplibInstrumentation()];
  },
  grpc: async () => {
    const { GrpcInstrumentation } = await import('@opentelemetry/instrumentation-grpc');
    return [new GrpcInstrumentation()];
  },
};

export async function registerOtel(row, provider) {
  const instrumentations = await INSTRUMENTATIONS[row.transport](row);
  registerInstrumentations({ tracerProvider: provider, instrumentations });
}
