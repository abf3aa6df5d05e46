// One differential scenario, as an application would run it: `node child.mjs <bare|traced> <scenario> <prefix>`.
// Writes what the app observed as one JSON line at exit, and lets Node do whatever it does with
// unhandled rejections and warnings.
import { writeSync } from 'node:fs';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { traceEachBatch, traceEachMessage, traceProducer } from '@tracewire/kafkajs';
import {
  type Consumer,
  type EachMessageHandler,
  type IHeaders,
  Kafka,
  type KafkaMessage,
  type Producer,
  logLevel,
} from 'kafkajs';

const [mode, scenario, prefix] = process.argv.slice(2) as ['bare' | 'traced', string, string];
const brokers = process.env.KAFKA_BROKERS!.split(',');
const traced = mode === 'traced';

const spans = { started: 0, ended: 0, errors: [] as string[] };
if (traced) {
  const counting: SpanProcessor = {
    onStart: () => {
      spans.started++;
    },
    onEnd: (span) => {
      spans.ended++;
      const type = span.attributes['error.type'];
      if (typeof type === 'string') spans.errors.push(`${span.name.split(' ')[0]}: ${type}`);
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [counting] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

interface Delivery {
  topic: string;
  partition: number;
  offset: string;
  key: string | undefined;
  value: string | undefined;
}
const observed = {
  deliveries: [] as Delivery[],
  app: [] as string[],
  committed: {} as Record<string, Array<{ partition: number; offset: string }>>,
};
const events: string[] = [];
process.on('uncaughtExceptionMonitor', (error, origin) => {
  events.push(`${origin}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
});
process.on('warning', (warning) => events.push(`warning: ${warning.name}: ${warning.message}`));
process.on('exit', (code) => {
  writeSync(1, `SCENARIO-REPORT ${JSON.stringify({ ...observed, events, code, spans })}\n`);
});

const kafka = new Kafka({ clientId: `${prefix}-client`, brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const topics: string[] = [];
const groups: string[] = [];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const topic = async (label: string, partitions = 2): Promise<string> => {
  const name = `${prefix}-${label}`;
  topics.push(name);
  await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
  // waitForLeaders answers from the controller; the broker that serves produce requests may
  // learn of the new partitions a moment later (UNKNOWN_TOPIC_OR_PARTITION to a first send).
  const deadline = Date.now() + 15_000;
  for (;;) {
    const metadata = await admin.fetchTopicMetadata({ topics: [name] }).catch(() => undefined);
    const found = metadata?.topics.find((entry) => entry.name === name);
    const ready =
      found?.partitions.length === partitions && found.partitions.every((entry) => entry.leader >= 0);
    if (ready || Date.now() > deadline) break;
    await sleep(50);
  }
  return name;
};
const record = (topicName: string, partition: number, message: KafkaMessage): void => {
  observed.deliveries.push({
    topic: topicName.slice(prefix.length + 1),
    partition,
    offset: message.offset,
    key: message.key?.toString(),
    value: message.value?.toString(),
  });
};
const waitFor = async (predicate: () => boolean, ms = 30_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await sleep(10);
};

const producers: Producer[] = [];
async function producer(options: Parameters<Kafka['producer']>[0] = {}): Promise<Producer> {
  // Idempotent: KafkaJS retries a whole send when one partition of a fresh topic answers
  // NOT_LEADER, which would otherwise write the other partitions' messages twice, at random.
  const raw = kafka.producer({ idempotent: true, maxInFlightRequests: 1, ...options });
  await raw.connect();
  producers.push(raw);
  return traced ? traceProducer(raw) : raw;
}

const consumers: Consumer[] = [];
async function consume(
  subscribed: string[],
  run: Parameters<Consumer['run']>[0],
  options: { readUncommitted?: boolean } = {},
): Promise<Consumer> {
  const groupId = `${prefix}-group-${groups.length}`;
  groups.push(groupId);
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    readUncommitted: options.readUncommitted ?? false,
    retry: { initialRetryTime: 50, retries: 8 },
  });
  await consumer.connect();
  await consumer.subscribe({ topics: subscribed, fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run(run);
  await joined;
  consumers.push(consumer);
  return consumer;
}

const eachMessage = (handler: EachMessageHandler): EachMessageHandler =>
  traced ? traceEachMessage(handler, {}) : handler;

const fiveMessages = [0, 1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 2 }));

const scenarios: Record<string, () => Promise<void>> = {
  async returns() {
    const t = await topic('t');
    await (await producer()).send({ topic: t, messages: fiveMessages });
    await consume([t], {
      eachMessage: eachMessage(async ({ topic: at, partition, message }) => record(at, partition, message)),
    });
    await waitFor(() => observed.deliveries.length === 5);
  },

  async throws() {
    const t = await topic('t');
    await (await producer()).send({ topic: t, messages: fiveMessages });
    const failed = new Set<string>();
    await consume([t], {
      eachMessage: eachMessage(async ({ topic: at, partition, message }) => {
        record(at, partition, message);
        const key = message.key?.toString() ?? '';
        if (key === 'k2' && !failed.has(key)) {
          failed.add(key);
          throw new Error('first delivery of k2');
        }
      }),
    });
    await waitFor(() => observed.deliveries.length >= 6);
    await sleep(200);
  },

  async 'rejects-handled'() {
    const t = await topic('t');
    await (await producer()).send({ topic: t, messages: fiveMessages.slice(0, 2) });
    let failures = 0;
    await consume([t], {
      eachMessage: eachMessage(({ topic: at, partition, message }) => {
        record(at, partition, message);
        if (message.key?.toString() === 'k0' && failures++ === 0) {
          const promise = Promise.reject(new Error('handled by the app'));
          promise.catch((error: Error) => observed.app.push(`caught: ${error.message}`));
          return promise;
        }
        return Promise.resolve();
      }),
    });
    await waitFor(() => observed.deliveries.length >= 3);
    await sleep(200);
  },

  async slow() {
    const t = await topic('t');
    await (await producer()).send({ topic: t, messages: fiveMessages });
    await consume([t], {
      eachMessage: eachMessage(async ({ topic: at, partition, message }) => {
        await sleep(30);
        record(at, partition, message);
      }),
    });
    await waitFor(() => observed.deliveries.length === 5);
  },

  async 'each-batch'() {
    const t = await topic('t');
    await (await producer()).sendBatch({ topicMessages: [{ topic: t, messages: fiveMessages }] });
    const handler = async (payload: Parameters<Parameters<typeof traceEachBatch>[0]>[0]): Promise<void> => {
      for (const message of payload.batch.messages) {
        const work = (): void => record(payload.batch.topic, payload.batch.partition, message);
        if (traced) payload.traceMessage(message, work);
        else work();
        payload.resolveOffset(message.offset);
      }
    };
    await consume([t], {
      eachBatch: traced
        ? traceEachBatch(handler)
        : (payload) => handler({ ...payload, traceMessage: (_m, fn) => fn() }),
    });
    await waitFor(() => observed.deliveries.length === 5);
  },

  async 'republish-consumed-headers'() {
    const source = await topic('source', 1);
    const target = await topic('target', 1);
    const send = await producer();
    await send.send({
      topic: source,
      messages: [{ key: 'a', value: 'original', headers: { tenant: 'acme' } }],
    });
    let consumedTraceparent: string | undefined;
    await consume([source, target], {
      eachMessage: eachMessage(async ({ topic: at, partition, message }) => {
        record(at, partition, message);
        const headers: IHeaders = message.headers ?? {};
        if (at === source) {
          consumedTraceparent = headers.traceparent?.toString();
          await send.send({ topic: target, messages: [{ key: 'a', value: 'retry', headers }] });
          return;
        }
        const plain: Record<string, string> = {};
        for (const [name, value] of Object.entries(headers)) {
          if (!['traceparent', 'tracestate', 'baggage'].includes(name)) plain[name] = String(value);
        }
        observed.app.push(`target headers: ${JSON.stringify(plain)}`);
        const own = headers.traceparent?.toString();
        observed.app.push(`trace headers from one context: ${own === consumedTraceparent}`);
      }),
    });
    await waitFor(() => observed.deliveries.length === 2);
  },

  async 'aborted-transaction'() {
    const t = await topic('t', 1);
    const transactional = await producer({
      transactionalId: `${prefix}-tx`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    const aborted = await transactional.transaction();
    await aborted.send({ topic: t, messages: [{ key: 'aborted', value: 'never visible' }] });
    await aborted.abort();
    const committed = await transactional.transaction();
    await committed.send({ topic: t, messages: [{ key: 'committed', value: 'visible' }] });
    await committed.commit();
    await consume([t], {
      eachMessage: eachMessage(async ({ topic: at, partition, message }) => record(at, partition, message)),
    });
    await waitFor(() => observed.deliveries.length === 1);
    await sleep(300);
  },

  async 'send-to-missing-topic'() {
    const send = await producer({
      allowAutoTopicCreation: false,
      retry: { retries: 1, initialRetryTime: 50 },
    });
    try {
      await send.send({ topic: `${prefix}-missing`, messages: [{ value: 'x' }] });
      observed.app.push('sent');
    } catch (error) {
      const cause = (error as { cause?: { type?: string } }).cause;
      observed.app.push(`send failed: ${(error as Error).name} (${cause?.type})`);
    }
  },
};

async function main(): Promise<void> {
  await admin.connect();
  try {
    const run = scenarios[scenario];
    if (!run) throw new Error(`unknown scenario ${scenario}`);
    await run();
  } finally {
    await Promise.allSettled(consumers.map((consumer) => consumer.disconnect()));
    await Promise.allSettled(producers.map((p) => p.disconnect()));
    for (const groupId of groups) {
      const offsets = await admin.fetchOffsets({ groupId, topics }).catch(() => []);
      for (const entry of offsets) {
        const committed = entry.partitions
          .filter((p) => p.offset !== '-1')
          .map(({ partition, offset }) => ({ partition, offset }))
          .sort((a, b) => a.partition - b.partition);
        if (committed.length > 0) observed.committed[entry.topic.slice(prefix.length + 1)] = committed;
      }
    }
    await admin.deleteGroups(groups).catch(() => {});
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
  }
}

main().catch((error: unknown) => {
  observed.app.push(`scenario failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
});
