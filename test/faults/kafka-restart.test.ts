// Kafka broker restarted while a traced producer sends and a traced consumer consumes, next to an
// untraced control consumer on the same topic: nothing is lost, the traced consumer is
// redelivered only what was in flight when the broker went away, and every span ends. The broker
// is this suite's own instance (tools/brokers startInstance), never the shared one.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { traceEachMessage, traceProducer } from '@tracewire/kafkajs';
import { type EachMessagePayload, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateBroker, privateBroker } from './support/private-broker.js';
import { setupFaultTracing } from './support/span-tracking.js';

const tracing = setupFaultTracing();
let broker: PrivateBroker;
let kafka: Kafka;

const suffix = `${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 8)}`;
const topic = `tw-fault-restart-${suffix}`;
const PARTITIONS = 2;
const BEFORE_RESTART = 60;
const AFTER_RESTART = 60;
const LANES = 4;

interface Delivery {
  partition: number;
  offset: string;
  value: string;
  at: number;
}

beforeAll(async () => {
  broker = await privateBroker('kafka');
  kafka = new Kafka({
    clientId: 'tw-faults',
    brokers: [broker.address],
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 200, retries: 10 },
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  await admin.disconnect();
}, 180_000);

afterAll(async () => {
  await tracing.shutdown();
  const admin = kafka?.admin();
  await admin?.connect();
  await admin?.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin?.disconnect();
}, 60_000);

async function startConsumer(groupId: string, eachMessage: (p: EachMessagePayload) => Promise<void>) {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 200, retries: 30 },
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({ eachMessage });
  await joined;
  return consumer;
}

function recorder(into: Delivery[]) {
  return async ({ partition, message }: EachMessagePayload): Promise<void> => {
    into.push({ partition, offset: message.offset, value: message.value?.toString() ?? '', at: Date.now() });
  };
}

const key = (d: Delivery): string => `${d.partition}:${d.offset}`;

/** Offsets delivered more than once (at-least-once redelivery after the restart). */
function redelivered(deliveries: Delivery[]): Delivery[] {
  const seen = new Set<string>();
  return deliveries.filter((d) => {
    const k = key(d);
    if (seen.has(k)) return true;
    seen.add(k);
    return false;
  });
}

describe('Kafka broker restarted under a traced producer and a traced consumer', () => {
  it('delivers every produced message, redelivers only in-flight ones as the control does, and ends every span', async () => {
    const traced: Delivery[] = [];
    const control: Delivery[] = [];
    const tracedConsumer = await startConsumer(`tw-traced-${suffix}`, traceEachMessage(recorder(traced)));
    const controlConsumer = await startConsumer(`tw-control-${suffix}`, recorder(control));
    const producer = traceProducer(
      kafka.producer({ retry: { initialRetryTime: 200, retries: 3 }, allowAutoTopicCreation: false }),
    );
    await producer.connect();

    // The application: LANES loops, each sending its values one by one until the broker
    // acknowledges each, retrying on a rejection; the broker restarts once 60 are acked.
    const acked: string[] = [];
    let attempts = 0;
    let rejections = 0;
    let sentWhileRestarting = 0;
    let restartStarted = 0;
    let restartEnded = 0;
    let restart: Promise<{ downForMs: number }> | undefined;
    const lane = async (id: number): Promise<void> => {
      for (let i = 0; restartEnded === 0 || acked.length < BEFORE_RESTART + AFTER_RESTART; i++) {
        const value = `m-${id}-${i}`;
        for (;;) {
          attempts++;
          if (restartStarted > 0 && restartEnded === 0) sentWhileRestarting++;
          try {
            await producer.send({ topic, messages: [{ key: `k-${i % 7}`, value }] });
            acked.push(value);
            break;
          } catch {
            rejections++;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }
        if (restart === undefined && acked.length >= BEFORE_RESTART) {
          restartStarted = Date.now();
          restart = broker.restart().then((r) => {
            restartEnded = Date.now();
            return r;
          });
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await Promise.all(Array.from({ length: LANES }, (_, id) => lane(id)));
    const { downForMs } = await (restart as unknown as Promise<{ downForMs: number }>);

    const expected = new Set(acked);
    const hasAll = (deliveries: Delivery[]): boolean => {
      const values = new Set(deliveries.map((d) => d.value));
      return [...expected].every((v) => values.has(v));
    };
    const deadline = Date.now() + 90_000;
    while (!(hasAll(traced) && hasAll(control)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Let late redeliveries arrive before comparing the two consumers.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await producer.disconnect();
    await tracedConsumer.disconnect();
    await controlConsumer.disconnect();

    const tracedRedelivered = redelivered(traced);
    const controlRedelivered = redelivered(control);
    console.log(
      `kafka restart: down ${downForMs} ms; ${acked.length} messages acked in ${attempts} sends ` +
        `(${rejections} rejected, ${sentWhileRestarting} while restarting); traced consumer ${traced.length} deliveries ` +
        `(${tracedRedelivered.length} redelivered), control ${control.length} (${controlRedelivered.length} redelivered)`,
    );

    // Nothing lost: every acknowledged message reached both consumers.
    expect(hasAll(traced), 'traced consumer got every acked message').toBe(true);
    expect(hasAll(control), 'control consumer got every acked message').toBe(true);
    // The same log: the same offsets with the same values (a retried send that the broker had
    // written after all shows up in both, so duplicates in the log are the control's too).
    const byOffset = (ds: Delivery[]): Map<string, string> => new Map(ds.map((d) => [key(d), d.value]));
    expect(byOffset(traced)).toEqual(byOffset(control));
    // Redelivered only what had been delivered before the broker came back, not committed yet.
    for (const d of tracedRedelivered) {
      const first = traced.find((x) => key(x) === key(d));
      expect(first?.at ?? Number.POSITIVE_INFINITY, `first delivery of ${key(d)}`).toBeLessThanOrEqual(
        restartEnded,
      );
    }
    // The fault really hit the app: sends were made while the broker was going down or coming back
    // (KafkaJS's own retries may absorb all of them, so a rejection is not always seen).
    expect(sentWhileRestarting, 'sends made while the broker restarted').toBeGreaterThan(0);

    // Every span ended: one producer span per send attempt, one process span per traced delivery.
    await tracing.settled();
    expect(tracing.open.size).toBe(0);
    const spans = tracing.spans();
    const sends = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    const processes = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    expect(sends).toHaveLength(attempts);
    expect(sends.filter((s) => s.status.code === SpanStatusCode.ERROR)).toHaveLength(rejections);
    expect(processes).toHaveLength(traced.length);
    // Each process span is the child of the send span whose context went into its message.
    const sendIds = new Set(sends.map((s) => s.spanContext().spanId));
    for (const span of processes) {
      expect(sendIds.has(span.parentSpanContext?.spanId ?? ''), `${span.name} parent`).toBe(true);
      expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
    }
    expect(tracing.open.started).toBe(tracing.open.ended);
  });
});
