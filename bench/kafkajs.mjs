// KafkaJS end to end through a real broker: produce and consume 10,000 messages of 1 KB, bare
// against wrapped (traceProducer + traceEachMessage, and traceEachBatch with traceMessage), with an
// SDK that records every span (BatchSpanProcessor into an exporter that discards them).
// Target (issue): wrapped time / bare time <= 1.10, the median of paired, alternating rounds.
// Anchor `otel`: the same spans made by hand with the bare OTel API and no propagation, so
// wrapped/otel is what tracewire costs beyond the spans any instrumentation has to record.
// Broker: KAFKA_BROKERS, else the repo's launcher (tools/brokers) finds or starts one.
import { randomBytes } from 'node:crypto';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { traceEachBatch, traceEachMessage, traceProducer } from '@tracewire/kafkajs';
import { Kafka, logLevel } from 'kafkajs';
import { up } from '../tools/brokers/index.mjs';
import { median, printTable } from './measure.mjs';
import { registerRecordingSdk } from './recording-sdk.mjs';

const MESSAGES = Number(process.env.BENCH_KAFKA_MESSAGES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_KAFKA_ROUNDS ?? 4);
// 100 messages per send() call, 4 calls in flight: a throughput-bound producer, where per-message
// tracing costs weigh most. BENCH_KAFKA_PER_SEND=1 BENCH_KAFKA_IN_FLIGHT=32 models one send per request.
const PER_SEND = Number(process.env.BENCH_KAFKA_PER_SEND ?? 100);
const IN_FLIGHT = Number(process.env.BENCH_KAFKA_IN_FLIGHT ?? 4);
const VALUE = randomBytes(512).toString('hex'); // 1 KB

const { provider, counter } = registerRecordingSdk({ maxQueueSize: 4 * MESSAGES });

const brokers = (process.env.KAFKA_BROKERS?.trim() || (await up({ docker: false })).kafkaBrokers).split(',');
const kafka = new Kafka({ clientId: 'tracewire-bench', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const rawProducer = kafka.producer();
await Promise.all([admin.connect(), rawProducer.connect()]);
const tracedProducer = traceProducer(rawProducer);
const tracer = provider.getTracer('bench-anchor');

/** The `otel` anchor's producer: one PRODUCER span per message around the send, nothing injected. */
const handMadeProducer = {
  async send(record) {
    const spans = record.messages.map((message) =>
      tracer.startSpan(`send ${record.topic}`, {
        kind: SpanKind.PRODUCER,
        attributes: spanAttributes('send', record.topic, message.key),
      }),
    );
    try {
      return await rawProducer.send(record);
    } finally {
      for (const span of spans) span.end();
    }
  },
};

/** The `otel` anchor's eachMessage: one CONSUMER span around the handler, nothing extracted. */
function handMadeEachMessage(handler, groupId) {
  return async (payload) => {
    const attributes = spanAttributes('process', payload.topic, payload.message.key);
    attributes['messaging.consumer.group.name'] = groupId;
    const span = tracer.startSpan(`process ${payload.topic}`, { kind: SpanKind.CONSUMER, attributes });
    try {
      return await context.with(trace.setSpan(context.active(), span), () => handler(payload));
    } finally {
      span.end();
    }
  };
}

/** The `otel` anchor's eachBatch: a batch span, and a span per message linked to it; nothing extracted. */
function handMadeEachBatch(handle, groupId) {
  return async ({ batch }) => {
    const attributes = spanAttributes('process', batch.topic, '');
    attributes['messaging.consumer.group.name'] = groupId;
    attributes['messaging.batch.message_count'] = batch.messages.length;
    const batchSpan = tracer.startSpan(`process ${batch.topic}`, { kind: SpanKind.CONSUMER, attributes });
    const links = [{ context: batchSpan.spanContext() }];
    try {
      await context.with(trace.setSpan(context.active(), batchSpan), async () => {
        for (const message of batch.messages) {
          const messageAttributes = spanAttributes('process', batch.topic, message.key);
          const span = tracer.startSpan(`process ${batch.topic}`, {
            kind: SpanKind.CONSUMER,
            attributes: messageAttributes,
            links,
          });
          try {
            await context.with(trace.setSpan(context.active(), span), handle);
          } finally {
            span.end();
          }
        }
      });
    } finally {
      batchSpan.end();
    }
  };
}

function spanAttributes(operation, topic, key) {
  return {
    'messaging.system': 'kafka',
    'messaging.system.name': 'kafka',
    'messaging.operation.type': operation,
    'messaging.operation.name': operation,
    'messaging.destination.name': topic,
    'kafka.message.key': String(key),
  };
}
const created = [];

/** Per consumer kind, the variants compared and how each builds its eachMessage/eachBatch config. */
const KINDS = { eachMessage: ['bare', 'otel', 'wrapped'], eachBatch: ['bare', 'otel', 'wrapped'] };
const consumers = {
  eachMessage: (variant, lane) => {
    const handler = async () => {
      lane.count++;
    };
    if (variant === 'otel') return { eachMessage: handMadeEachMessage(handler, lane.groupId) };
    return {
      eachMessage: variant === 'wrapped' ? traceEachMessage(handler, { groupId: lane.groupId }) : handler,
    };
  },
  eachBatch: (variant, lane) => {
    const handle = async () => {
      lane.count++;
    };
    if (variant === 'otel') return { eachBatch: handMadeEachBatch(handle, lane.groupId) };
    if (variant === 'bare') {
      return {
        eachBatch: async ({ batch }) => {
          for (const _message of batch.messages) await handle();
        },
      };
    }
    return {
      eachBatch: traceEachBatch(
        async ({ batch, traceMessage }) => {
          for (const message of batch.messages) await traceMessage(message, handle);
        },
        { groupId: lane.groupId },
      ),
    };
  },
};

/**
 * A consumer per kind and variant, each on its own topic and group, joined once and kept running
 * (long-polling while idle), so that a timed run is only producing and draining.
 */
async function startLane(kind, variant) {
  const id = randomBytes(4).toString('hex');
  const lane = {
    topic: `tracewire-bench-${kind}-${variant}-${id}`,
    groupId: `tracewire-bench-${id}`,
    count: 0,
    target: Number.POSITIVE_INFINITY,
    done: () => {},
  };
  await admin.createTopics({ topics: [{ topic: lane.topic, numPartitions: 1 }], waitForLeaders: true });
  created.push(lane.topic);
  groups.push(lane.groupId);
  lane.consumer = kafka.consumer({ groupId: lane.groupId, maxWaitTimeInMs: 1_000, sessionTimeout: 10_000 });
  await lane.consumer.connect();
  await lane.consumer.subscribe({ topics: [lane.topic], fromBeginning: true });
  const joined = new Promise((resolve) => lane.consumer.on(lane.consumer.events.GROUP_JOIN, resolve));
  const config = consumers[kind](variant, lane);
  const counted = (handler) =>
    async function counted(payload) {
      await handler.call(this, payload);
      if (lane.count >= lane.target) lane.done();
    };
  await lane.consumer.run(
    config.eachMessage
      ? { eachMessage: counted(config.eachMessage) }
      : { eachBatch: counted(config.eachBatch) },
  );
  await joined;
  return lane;
}

/** One timed run: produce MESSAGES into the lane's topic and wait until its consumer drained them. */
async function run(lane, variant) {
  const drained = new Promise((resolve) => {
    lane.done = resolve;
  });
  lane.target = lane.count + MESSAGES;
  const producer = { bare: rawProducer, otel: handMadeProducer, wrapped: tracedProducer }[variant];
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  let next = 0;
  const sender = async () => {
    while (next < MESSAGES) {
      const from = next;
      next = Math.min(MESSAGES, next + PER_SEND);
      const messages = [];
      for (let i = from; i < next; i++) messages.push({ key: `key-${i}`, value: VALUE });
      await producer.send({ topic: lane.topic, messages });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
  await drained;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const groups = [];
const results = {};
try {
  for (const [kind, variants] of Object.entries(KINDS)) {
    const lanes = {};
    for (const variant of variants) lanes[variant] = await startLane(kind, variant);
    for (const variant of variants) await run(lanes[variant], variant); // warm-up, not counted
    const samples = Object.fromEntries(variants.map((variant) => [variant, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...variants].reverse() : variants;
      for (const variant of order) samples[variant].push(await run(lanes[variant], variant));
    }
    results[kind] = samples;
    await Promise.all(Object.values(lanes).map((lane) => lane.consumer.disconnect()));
  }
} finally {
  await admin.deleteGroups(groups).catch(() => {});
  await admin.deleteTopics({ topics: created }).catch(() => {});
  await rawProducer.disconnect();
  await admin.disconnect();
  await provider.forceFlush();
  await provider.shutdown();
}

const rows = [];
const rate = (list) =>
  `${Math.round(MESSAGES / median(list.map((r) => r.seconds))).toLocaleString('en-US')} msg/s`;
const cpu = (list) => `cpu ${median(list.map((r) => r.cpuSeconds)).toFixed(2)} s`;
/** Median of the per-round ratios: each round's runs ran back to back, so they share conditions. */
const ratio = (over, under, field) => median(over.map((run, i) => run[field] / under[i][field]));
for (const [kind, samples] of Object.entries(results)) {
  for (const [variant, list] of Object.entries(samples))
    rows.push([`${kind} ${variant}`, rate(list), cpu(list)]);
  const { bare, otel, wrapped } = samples;
  const time = ratio(wrapped, bare, 'seconds');
  rows.push([
    `${kind} wrapped/bare time`,
    `${time.toFixed(3)}x`,
    `target <= 1.10 ${time <= 1.1 ? 'met' : 'MISSED'}`,
  ]);
  rows.push([
    `${kind} wrapped/bare client CPU`,
    `${ratio(wrapped, bare, 'cpuSeconds').toFixed(3)}x`,
    'this process only',
  ]);
  if (otel) {
    rows.push([
      `${kind} otel/bare time`,
      `${ratio(otel, bare, 'seconds').toFixed(3)}x`,
      'the spans alone, made by hand',
    ]);
    rows.push([
      `${kind} wrapped/otel time`,
      `${ratio(wrapped, otel, 'seconds').toFixed(3)}x`,
      "tracewire's own share",
    ]);
    rows.push([`${kind} wrapped/otel client CPU`, `${ratio(wrapped, otel, 'cpuSeconds').toFixed(3)}x`]);
  }
}
printTable(
  `kafkajs produce + consume, ${MESSAGES.toLocaleString('en-US')} x 1 KB per run (${PER_SEND} per send, ${IN_FLIGHT} in flight), median of ${ROUNDS} paired rounds (node ${process.version}; ${counter.exported.toLocaleString('en-US')} spans exported)`,
  rows,
);
