// A tracewire Kafka consumer for test/cross-language: KafkaJS with traceEachMessage, spans exported
// by startTracing over OTLP/HTTP. Creates TOPIC, prints `ready` once in GROUP, then for each message
// prints `consumed {json}` with the `tenant` baggage entry it received and the headers it saw.
// Env: KAFKA_BROKERS, TOPIC, GROUP, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (and _PROTOCOL).
import { propagation, trace } from '@opentelemetry/api';
import { traceEachMessage } from '@tracewire/kafkajs';
import { startTracing } from '@tracewire/node';
import { Kafka, logLevel } from 'kafkajs';

const tracing = startTracing({ serviceName: 'tracewire-consumer', exporter: 'otlp' });
const { KAFKA_BROKERS, TOPIC, GROUP } = process.env;

const kafka = new Kafka({
  clientId: 'tracewire-consumer',
  brokers: KAFKA_BROKERS.split(','),
  logLevel: logLevel.WARN,
});
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }], waitForLeaders: true });
await admin.disconnect();

const consumer = kafka.consumer({ groupId: GROUP });
consumer.on(consumer.events.GROUP_JOIN, () => console.log('ready'));
// Leave the group and flush, then exit; startTracing leaves the exit to this listener.
process.on('SIGTERM', () => {
  consumer
    .disconnect()
    .finally(() => tracing.shutdown())
    .finally(() => process.exit(0));
});

await consumer.connect();
await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
await consumer.run({
  eachMessage: traceEachMessage(
    async ({ message }) => {
      const tenant = propagation.getActiveBaggage()?.getEntry('tenant')?.value;
      if (tenant !== undefined) trace.getActiveSpan()?.setAttribute('app.tenant', tenant);
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([key, value]) => [key, String(value)]),
      );
      console.log(
        `consumed ${JSON.stringify({ tenant: tenant ?? null, headers, value: String(message.value) })}`,
      );
    },
    { groupId: GROUP },
  ),
});
