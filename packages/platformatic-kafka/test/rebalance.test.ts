// Rebalances mid-stream: a second member joins the group while the first is processing, then the
// first leaves, and partitions move between them. Deliveries during a rebalance vary from run to run (messages in
// flight on a revoked partition may come again on its new owner), so the traced group is compared
// with an untraced control group by what must hold for both: every message reached the app, the
// group's committed offsets end at the topic's end on every partition, and both members shared
// the work. On top of that, tracing must give each delivery, duplicates included, exactly one
// ended CONSUMER span, the child of the producer span named in that message's own headers.
import { SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { messageTracer, traceProducer } from '@tracewire/platformatic-kafka';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import {
  type Client,
  type Consumer,
  type Message,
  type MessagesStream,
  brokers,
  createTopics,
  loadClient,
  producer as newProducer,
  unique,
} from './support.js';

const tracing = setupTracing();
let client: Client;
// KafkaJS's admin is the oracle for offsets: it reads the same broker, whatever the client major.
const oracle = new Kafka({ clientId: 'tracewire-rebalance', brokers: brokers(), logLevel: logLevel.NOTHING });

const PARTITIONS = 4;
const TOTAL = 160;
/** Member B joins once member A has processed this many messages... */
const JOIN_AFTER = 30;
/** ...and A leaves once B has processed this many. */
const LEAVE_AFTER = 20;

beforeAll(async () => {
  client = await loadClient();
});

afterAll(async () => {
  await tracing.shutdown();
});

interface Delivery {
  member: 'A' | 'B';
  partition: number;
  offset: string;
  value: string;
  /** The span id of the traceparent the message carries (the producer's span). */
  senderSpanId: string | undefined;
  /** The active span while the app processed it (traced runs). */
  activeSpanId: string | undefined;
}

interface GroupRun {
  deliveries: Delivery[];
  /** Committed offset per partition after both members closed. */
  committed: Map<number, string>;
}

function owns(consumer: Consumer, message: Message): boolean {
  return (consumer.assignments ?? []).some(
    (assignment) => assignment.topic === message.topic && assignment.partitions.includes(message.partition),
  );
}

function senderSpanId(message: Message): string | undefined {
  for (const [name, value] of message.headers) {
    if (name.toString() === 'traceparent') return value.toString().split('-')[2];
  }
  return undefined;
}

async function highWatermarks(topic: string): Promise<Map<number, string>> {
  const admin = oracle.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((entry) => [entry.partition, entry.high]));
  } finally {
    await admin.disconnect();
  }
}

async function committedOffsets(groupId: string, topic: string): Promise<Map<number, string>> {
  const admin = oracle.admin();
  await admin.connect();
  try {
    const [found] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((found?.partitions ?? []).map((entry) => [entry.partition, entry.offset]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * One group, two members: A consumes from the start, committing each message after processing it;
 * B joins after A's JOIN_AFTER-th message, and A leaves after B's LEAVE_AFTER-th (two rebalances).
 * They run until the group committed every partition to `end` (or a minute passed), then close.
 */
async function runGroup(topic: string, end: Map<number, string>, traced: boolean): Promise<GroupRun> {
  const groupId = unique(traced ? 'rebalance-traced' : 'rebalance-plain');
  const traceMessage = messageTracer();
  const deliveries: Delivery[] = [];

  async function member(name: 'A' | 'B'): Promise<{ consumer: Consumer; loop: Promise<void> }> {
    const consumer: Consumer = new client.Consumer({
      groupId,
      clientId: `tracewire-rebalance-${name}`,
      bootstrapBrokers: brokers(),
      maxWaitTime: 200,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 300,
      autocommit: false,
    });
    const stream = (await consumer.consume({
      topics: [topic],
      mode: client.MessagesStreamModes.COMMITTED,
      fallbackMode: client.MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    })) as MessagesStream;
    const handle = async (message: Message): Promise<void> => {
      // Once B is joining, A stalls until it leaves: B surely gets partitions of its own first,
      // and A surely leaves work behind on its partitions for B to take over.
      if (name === 'A' && joined) await leave;
      await new Promise((resolve) => setTimeout(resolve, 5));
      const value = message.value.toString();
      deliveries.push({
        member: name,
        partition: message.partition,
        offset: message.offset.toString(),
        value,
        senderSpanId: senderSpanId(message),
        activeSpanId: trace.getActiveSpan()?.spanContext().spanId,
      });
    };
    const loop = (async () => {
      try {
        for await (const message of stream) {
          // As a careful app does: a message of a partition this member no longer owns (fetched
          // before the rebalance) is left to its new owner, which reads it from the committed
          // offset; committing it here could move that offset back.
          if (!owns(consumer, message)) continue;
          await (traced ? traceMessage(message, () => handle(message)) : handle(message));
          if (owns(consumer, message)) {
            try {
              await message.commit();
            } catch {
              // A partition revoked meanwhile refuses the commit; its new owner commits it instead.
            }
          }
          if (name === 'A' && deliveries.length === JOIN_AFTER) joinB();
          // Then A leaves the group mid-stream, and B takes its partitions over too.
          if (name === 'B' && ++processedByB === LEAVE_AFTER) {
            letALeave();
            void members[0]?.();
          }
        }
      } catch {
        // Closing the stream from outside may end the loop with an error, alike in both runs.
      }
    })();
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closed ??= (async () => {
        await stream.close().catch(() => undefined);
        await loop;
        await consumer.close(true).catch(() => undefined);
      })();
      return closed;
    };
    members.push(close);
    return { consumer, loop };
  }

  const members: Array<() => Promise<void>> = [];
  let processedByB = 0;
  let letALeave: () => void = () => undefined;
  const leave = new Promise<void>((resolve) => {
    letALeave = resolve;
  });
  let joined: Promise<unknown> | undefined;
  const joinB = (): void => {
    joined ??= member('B');
  };
  await member('A');
  let committed = new Map<number, string>();
  try {
    // Done when the group has committed every partition to its end, as a running app would be.
    const deadline = Date.now() + 60_000;
    for (;;) {
      committed = await committedOffsets(groupId, topic);
      if (sameOffsets(committed, end)) break;
      if (Date.now() > deadline) break; // asserted by the caller, with what was committed
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await joined;
  } finally {
    for (const close of members) await close();
  }
  return { deliveries, committed };
}

function sameOffsets(a: Map<number, string>, b: Map<number, string>): boolean {
  return a.size === b.size && [...b].every(([partition, offset]) => a.get(partition) === offset);
}

function processSpans(topic: string): ReadableSpan[] {
  return tracing
    .spans()
    .filter((span) => span.name === `process ${topic}` && span.kind === SpanKind.CONSUMER);
}

describe('rebalance', () => {
  it('a member joining, then one leaving, mid-stream: nothing lost, offsets committed to the end as untraced, one ended span per delivery', async () => {
    const topic = unique('rebalance');
    await createTopics(client, [topic], PARTITIONS);
    const producer = traceProducer(newProducer(client));
    const values = Array.from({ length: TOTAL }, (_, i) => `m${i}`);
    // One send per message, spread over the partitions: each message names its own PRODUCER span.
    for (const [i, value] of values.entries()) {
      await producer.send({ messages: [{ topic, partition: i % PARTITIONS, value: Buffer.from(value) }] });
    }
    await producer.close();
    const end = await highWatermarks(topic);
    expect([...end.values()].map(Number)).toEqual(Array(PARTITIONS).fill(TOTAL / PARTITIONS));
    const producerSpans = new Map(
      tracing
        .spans()
        .filter((span) => span.kind === SpanKind.PRODUCER && span.name === `send ${topic}`)
        .map((span) => [span.spanContext().spanId, span]),
    );
    expect(producerSpans.size).toBe(TOTAL);

    const plain = await runGroup(topic, end, false);
    const traced = await runGroup(topic, end, true);

    for (const [label, run] of [
      ['untraced', plain],
      ['traced', traced],
    ] as const) {
      const seen = new Set(run.deliveries.map((delivery) => delivery.value));
      expect(seen.size, `${label}: distinct values delivered`).toBe(TOTAL);
      expect(run.committed, `${label}: committed offsets`).toEqual(end);
      // Both rebalances happened: B processed messages of A's partitions too, once A had left.
      const partitionsOfB = new Set(
        run.deliveries.filter((delivery) => delivery.member === 'B').map((delivery) => delivery.partition),
      );
      expect(partitionsOfB.size, `${label}: partitions B processed`).toBe(PARTITIONS);
      expect(
        run.deliveries.filter((delivery) => delivery.member === 'A').length,
        `${label}: A's deliveries`,
      ).toBeGreaterThanOrEqual(JOIN_AFTER);
    }
    // Redeliveries are of the same messages only: (partition, offset) always carries the same value.
    const byPosition = new Map<string, string>();
    for (const delivery of [...plain.deliveries, ...traced.deliveries]) {
      const position = `${delivery.partition}:${delivery.offset}`;
      expect(byPosition.get(position) ?? delivery.value).toBe(delivery.value);
      byPosition.set(position, delivery.value);
    }

    const spans = processSpans(topic);
    expect(spans).toHaveLength(traced.deliveries.length);
    const spansById = new Map(spans.map((span) => [span.spanContext().spanId, span]));
    expect(spansById.size).toBe(spans.length);
    for (const delivery of traced.deliveries) {
      // The app ran inside the span of this delivery, and that span is the child of its sender.
      const span = spansById.get(delivery.activeSpanId ?? '');
      expect(span, `the span of ${delivery.value} as delivered to ${delivery.member}`).toBeDefined();
      const sender = producerSpans.get(delivery.senderSpanId ?? '');
      expect(sender, `the producer span of ${delivery.value}`).toBeDefined();
      expect(parentSpanId(span!)).toBe(sender!.spanContext().spanId);
      expect(span!.spanContext().traceId).toBe(sender!.spanContext().traceId);
      expect(span!.attributes['messaging.destination.partition.id']).toBe(String(delivery.partition));
      expect(String(span!.attributes['kafka.offset'])).toBe(delivery.offset);
    }
    const duplicates = (run: GroupRun) => run.deliveries.length - TOTAL;
    console.log(
      `[rebalance] deliveries beyond the ${TOTAL} messages: untraced ${duplicates(plain)}, traced ${duplicates(traced)}`,
    );
  }, 180_000);
});
