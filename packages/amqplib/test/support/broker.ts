import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { type TestTracing, setupTracing } from '../../../../test/support/tracing.js';
// A RabbitMQ connection for one test file: unique names per test, and everything a test creates
// (queues, exchanges, channels, extra connections) deleted or closed after it.
import { randomBytes } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Message } from 'amqplib';

export interface Broker {
  url: string;
  connection: ChannelModel;
  /** A raw, untraced channel for set-up, checks and untraced publishing. */
  admin: Channel;
  /** A name unique to this run: `tw-{label}-{random}`. */
  name(label: string): string;
  /** An auto-deleted-after-test queue (exclusive to nothing; deleted in `cleanup`). */
  queue(label: string, options?: amqp.Options.AssertQueue): Promise<string>;
  exchange(label: string, type: string): Promise<string>;
  channel(options?: { confirm?: boolean; highWaterMark?: number }): Promise<Channel>;
  confirmChannel(): Promise<ConfirmChannel>;
  /** Ready messages in `queue` (unacked ones do not count). */
  messageCount(queue: string): Promise<number>;
  /** Closes the channels this test opened (unacked messages go back to their queues). */
  cleanupChannels(): Promise<void>;
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

export async function openBroker(): Promise<Broker> {
  const url = process.env.AMQP_URL;
  if (!url) throw new Error('AMQP_URL is not set: the brokers global setup should have set it');
  const connection = await amqp.connect(url);
  const admin = await connection.createChannel();
  const queues = new Set<string>();
  const exchanges = new Set<string>();
  const channels = new Set<Channel>();

  const track = <C extends Channel>(channel: C): C => {
    channels.add(channel);
    // A test may provoke a channel error on purpose; never let it crash the run.
    channel.on('error', () => {});
    return channel;
  };

  const cleanupChannels = async (): Promise<void> => {
    for (const channel of channels) await channel.close().catch(() => {});
    channels.clear();
  };

  return {
    url,
    connection,
    admin,
    name: (label) => `tw-${label}-${randomBytes(4).toString('hex')}`,
    async queue(label, options = {}) {
      const name = `tw-${label}-${randomBytes(4).toString('hex')}`;
      await admin.assertQueue(name, { durable: false, ...options });
      queues.add(name);
      return name;
    },
    async exchange(label, type) {
      const name = `tw-${label}-${randomBytes(4).toString('hex')}`;
      await admin.assertExchange(name, type, { durable: false });
      exchanges.add(name);
      return name;
    },
    async channel(options = {}) {
      return track(await connection.createChannel({ highWaterMark: options.highWaterMark }));
    },
    async confirmChannel() {
      return track(await connection.createConfirmChannel());
    },
    async messageCount(queue) {
      return (await admin.checkQueue(queue)).messageCount;
    },
    cleanupChannels,
    async cleanup() {
      await cleanupChannels();
      for (const queue of queues) await admin.deleteQueue(queue).catch(() => {});
      queues.clear();
      for (const exchange of exchanges) await admin.deleteExchange(exchange).catch(() => {});
      exchanges.clear();
    },
    async close() {
      await connection.close().catch(() => {});
    },
  };
}

/** Resolves with the first `count` values `push` receives. */
export function collector<T>(count: number): { push(value: T): void; done: Promise<T[]>; values: T[] } {
  const values: T[] = [];
  let resolve: (values: T[]) => void = () => {};
  const done = new Promise<T[]>((r) => {
    resolve = r;
  });
  return {
    values,
    done,
    push(value) {
      values.push(value);
      if (values.length === count) resolve(values);
    },
  };
}

export type { Message };

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const SPAN_ID = '00f067aa0ba902b7';
export const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The lifecycle every broker test file shares: an in-memory SDK, one broker connection for the
 * file, spans reset before each test and the test's queues and exchanges deleted after it.
 */
export function useBrokerTracing(): { tracing: TestTracing; broker: () => Broker } {
  const tracing = setupTracing();
  let broker: Broker | undefined;
  beforeAll(async () => {
    broker = await openBroker();
  });
  afterAll(async () => {
    await broker?.close();
    await tracing.shutdown();
  });
  beforeEach(() => tracing.reset());
  afterEach(() => broker?.cleanup());
  return { tracing, broker: () => broker! };
}
