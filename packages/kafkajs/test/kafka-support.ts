// Shared pieces of the real-broker suites: the broker list from the brokers project's global
// setup, unique names, quiet clients, and consumers that are ready before anything is produced.
import { randomBytes } from 'node:crypto';
import { type Admin, type Consumer, type ConsumerRunConfig, Kafka, logLevel } from 'kafkajs';

export function brokers(): string[] {
  const list = process.env.KAFKA_BROKERS?.trim();
  if (!list) throw new Error('KAFKA_BROKERS is not set: run these tests in the vitest "brokers" project');
  return list.split(',');
}

/** A name no other run or test uses: topics and groups never collide. */
export function unique(prefix: string): string {
  return `tracewire-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: brokers(), logLevel: logLevel.NOTHING });
}

export async function createTopics(admin: Admin, topics: string[]): Promise<void> {
  await admin.createTopics({
    topics: topics.map((topic) => ({ topic, numPartitions: 1 })),
    waitForLeaders: true,
  });
}

/** Connects, subscribes from the beginning, runs, and resolves once the group is joined. */
export async function startConsumer(
  kafka: Kafka,
  groupId: string,
  topics: string[],
  run: ConsumerRunConfig,
): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 100, retries: 8 },
  });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run(run);
  await joined;
  return consumer;
}

/** Waits until the group committed partition 0 of `topic` past `offset`: that message will not come again. */
export async function committedPast(
  admin: Admin,
  groupId: string,
  topic: string,
  offset: string,
): Promise<void> {
  await eventually(`${groupId} to commit ${topic} past ${offset}`, async () => {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committed = Number(entry?.partitions.find((p) => p.partition === 0)?.offset ?? -1);
    return committed > Number(offset) ? true : undefined;
  });
}

/** Polls `check` until it returns a value other than undefined. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
