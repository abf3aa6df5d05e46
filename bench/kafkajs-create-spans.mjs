// The cost of the batch-send span shapes of traceProducer, without a broker: a send of N messages
// to a stand-in producer that answers at once (it costs next to nothing, so the time is
// tracing's), with `createSpans: true` (a PRODUCER create span per message plus a CLIENT send
// span) and `createSpans: false` (one PRODUCER send span injected into every message). An SDK
// records every span and ends it into a processor that only counts. Reported as time per send and
// per message, and the ratio true/false measured in the same run; nothing passes or fails.
// For the cost against a real broker, end to end, see kafkajs.mjs.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { traceProducer } from '@tracewire/kafkajs';
import { compareOpsPerSecond, formatRate, printTable } from './measure.mjs';

const counter = { ended: 0 };
trace.setGlobalTracerProvider(
  new BasicTracerProvider({
    spanProcessors: [
      {
        onStart() {},
        onEnd() {
          counter.ended++;
        },
        forceFlush: async () => {},
        shutdown: async () => {},
      },
    ],
  }),
);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

/** Answers like KafkaJS (one RecordMetadata for the partition), synchronously, so a loop can time it. */
const standIn = {
  send: (record) => [{ topicName: record.topic, partition: 0, errorCode: 0, baseOffset: '0' }],
  sendBatch: () => [],
};
const withCreateSpans = traceProducer(standIn);
const withoutCreateSpans = traceProducer(standIn, { createSpans: false });

for (const size of [1, 10, 100]) {
  const messages = Array.from({ length: size }, (_, i) => ({ key: `key-${i}`, value: 'x'.repeat(1024) }));
  const record = { topic: 'orders', messages };
  const iterations = Math.max(500, Math.round(20_000 / size));
  const rates = compareOpsPerSecond(
    {
      'createSpans: true': () => withCreateSpans.send(record),
      'createSpans: false': () => withoutCreateSpans.send(record),
    },
    { iterations, rounds: 7, warmup: iterations },
  );
  const baseline = rates['createSpans: false'];
  printTable(
    `send of ${size} message${size === 1 ? '' : 's'}`,
    Object.entries(rates).map(([name, rate]) => [
      name,
      formatRate(rate),
      `${(1e6 / rate).toFixed(1)} us/send, ${(1e6 / rate / size).toFixed(2)} us/message, x${(baseline / rate).toFixed(2)} of createSpans: false`,
    ]),
  );
}
console.log(`\n(${counter.ended.toLocaleString('en-US')} spans recorded)`);
