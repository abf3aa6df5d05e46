// Shared pieces of this package's real-broker suites: the client major that fits the running
// Node (2.x needs Node >= 22.22 or >= 24.6; 1.x runs on Node 20), unique names, topics, and
// consumers that read a topic from its beginning.
import { randomBytes } from 'node:crypto';

export type Client = typeof import('@platformatic/kafka');
export type Producer = import('@platformatic/kafka').Producer<Buffer, Buffer, Buffer, Buffer>;
export type Consumer = import('@platformatic/kafka').Consumer<Buffer, Buffer, Buffer, Buffer>;
export type Message = import('@platformatic/kafka').Message<Buffer, Buffer, Buffer, Buffer>;
export type MessagesStream = import('@platformatic/kafka').MessagesStream<Buffer, Buffer, Buffer, Buffer>;

/** True when this Node can run @platformatic/kafka 2.x. */
export function runs2x(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 24 || (major === 24 && minor >= 6) || (major === 22 && minor >= 22) || major === 23;
}

/** 2.x (the root's `@platformatic/kafka`) where Node allows it, else 1.x (the `platformatic-kafka1` alias). */
export async function loadClient(): Promise<Client> {
  if (runs2x()) return import('@platformatic/kafka');
  return (await import('platformatic-kafka1' as string)) as Client;
}

export function brokers(): string[] {
  const list = process.env.KAFKA_BROKERS?.trim();
  if (!list) throw new Error('KAFKA_BROKERS is not set: run these tests in the vitest "brokers" project');
  return list.split(',');
}

/** A name no other run or test uses: topics and groups never collide. */
export function unique(prefix: string): string {
  return `tracewire-plt-${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export async function createTopics(client: Client, topics: string[], partitions = 1): Promise<void> {
  const admin = new client.Admin({ clientId: 'tracewire-tests', bootstrapBrokers: brokers() });
  try {
    await admin.createTopics({ topics, partitions, replicas: 1 });
    // Produce only once every partition has a leader: a send racing the election can be retried
    // by the client and written twice, which would blur differential comparisons.
    await eventually(`leaders for ${topics.join(', ')}`, async () => {
      const metadata = await admin.metadata({ topics, forceUpdate: true }).catch(() => undefined);
      const ready = topics.every((topic) => {
        const found = metadata?.topics.get(topic);
        return (
          found !== undefined &&
          found.partitions.length === partitions &&
          found.partitions.every((p) => p.leader >= 0)
        );
      });
      return ready ? true : undefined;
    });
  } finally {
    await admin.close();
  }
}

/**
 * A producer; `idempotent` where a test compares offsets: the client may repeat a send it thinks
 * failed (stale metadata), which without idempotence the broker writes twice.
 */
export function producer(client: Client, { idempotent = false } = {}): Producer {
  return new client.Producer({ clientId: 'tracewire-tests', bootstrapBrokers: brokers(), idempotent });
}

/** A consumer in its own group reading `topics` from the beginning. */
export async function consume(
  client: Client,
  topics: string[],
  groupId = unique('group'),
): Promise<{ consumer: Consumer; stream: MessagesStream; groupId: string }> {
  const consumer: Consumer = new client.Consumer({
    groupId,
    clientId: 'tracewire-tests',
    bootstrapBrokers: brokers(),
    maxWaitTime: 200,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
  });
  const stream = (await consumer.consume({
    topics,
    mode: client.MessagesStreamModes.EARLIEST,
  })) as MessagesStream;
  return { consumer, stream, groupId };
}

/** Reads `count` messages with `for await`, handing each to `each`; then closes the stream and consumer. */
export async function readN(
  stream: MessagesStream,
  consumer: Consumer,
  count: number,
  each: (message: Message) => unknown | Promise<unknown>,
): Promise<void> {
  let seen = 0;
  try {
    if (count > 0) {
      for await (const message of stream) {
        await each(message);
        if (++seen >= count) break;
      }
    }
  } finally {
    await stream.close().catch(() => undefined);
    await consumer.close(true);
  }
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
