// A tracewire Kafka consumer for test/cross-language on @platformatic/kafka (2.x where Node allows
// it, else 1.x): `for await` over the stream with messageTracer, spans exported by startTracing
// over OTLP/HTTP. Creates TOPIC, prints `ready` once consuming in GROUP, then for each message
// prints `consumed {json}` with the `tenant` baggage entry it received and the headers it saw.
// Env: KAFKA_BROKERS, TOPIC, GROUP, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (and _PROTOCOL).
import { propagation, trace } from '@opentelemetry/api';
import { startTracing } from '@tracewire/node';
import { messageTracer } from '@tracewire/platformatic-kafka';

const tracing = startTracing({ serviceName: 'tracewire-consumer', exporter: 'otlp' });
const { KAFKA_BROKERS, TOPIC, GROUP } = process.env;
const bootstrapBrokers = KAFKA_BROKERS.split(',');

const [major, minor] = process.versions.node.split('.').map(Number);
const has2x = major > 24 || (major === 24 && minor >= 6) || (major === 22 && minor >= 22) || major === 23;
const { Admin, Consumer, MessagesStreamModes } = await import(
  has2x ? '@platformatic/kafka' : 'platformatic-kafka1'
);

const admin = new Admin({ clientId: 'tracewire-consumer', bootstrapBrokers });
await admin.createTopics({ topics: [TOPIC], partitions: 1, replicas: 1 });
await admin.close();

const consumer = new Consumer({
  groupId: GROUP,
  clientId: 'tracewire-consumer',
  bootstrapBrokers,
  maxWaitTime: 200,
});
const stream = await consumer.consume({ topics: [TOPIC], mode: MessagesStreamModes.EARLIEST });
console.log('ready');
// Leave the group and flush, then exit; startTracing leaves the exit to this listener.
process.on('SIGTERM', () => {
  stream
    .close()
    .then(() => consumer.close(true))
    .finally(() => tracing.shutdown())
    .finally(() => process.exit(0));
});

const traceMessage = messageTracer();
for await (const message of stream) {
  traceMessage(message, () => {
    const tenant = propagation.getActiveBaggage()?.getEntry('tenant')?.value;
    if (tenant !== undefined) trace.getActiveSpan()?.setAttribute('app.tenant', tenant);
    const headers = Object.fromEntries(
      [...message.headers].map(([key, value]) => [String(key), String(value)]),
    );
    console.log(
      `consumed ${JSON.stringify({ tenant: tenant ?? null, headers, value: String(message.value) })}`,
    );
  });
}
