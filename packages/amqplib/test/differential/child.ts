// One differential scenario, as an application would run it: `node child.mjs <bare|traced> <scenario> <prefix>`.
// Writes what the app observed as one JSON line at exit (so a crash still reports), and lets
// Node do whatever it does with unhandled rejections and warnings.
import { writeSync } from 'node:fs';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Message } from 'amqplib';

const [mode, scenario, prefix] = process.argv.slice(2) as ['bare' | 'traced', string, string];
const url = process.env.AMQP_URL!;

const spans = { started: 0, ended: 0, errors: [] as string[] };
if (mode === 'traced') {
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

interface Observed {
  deliveries: Array<{ queue: string; body: string; redelivered: boolean }>;
  app: string[];
  queues: Record<string, { ready: number; consumers: number }>;
}
const observed: Observed = { deliveries: [], app: [], queues: {} };
const events: string[] = [];
process.on('uncaughtExceptionMonitor', (error, origin) => {
  events.push(`${origin}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
});
process.on('warning', (warning) => events.push(`warning: ${warning.name}: ${warning.message}`));
process.on('exit', (code) => {
  writeSync(1, `SCENARIO-REPORT ${JSON.stringify({ ...observed, events, code, spans })}\n`);
});

const wrap = <C extends Channel | ConfirmChannel>(channel: C, options?: object): C =>
  mode === 'traced' ? traceChannel(channel, options) : channel;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const names: string[] = [];
const queueName = (label: string): string => {
  const name = `${prefix}-${label}`;
  names.push(name);
  return name;
};
const deliver = (queue: string, message: Message): void => {
  observed.deliveries.push({
    queue,
    body: message.content.toString(),
    redelivered: message.fields.redelivered,
  });
};
const waitFor = async (predicate: () => boolean, ms = 20_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!predicate() && Date.now() < deadline) await sleep(5);
};
const countFor = (queue: string): number => observed.deliveries.filter((d) => d.queue === queue).length;

type Scenario = (connection: ChannelModel, admin: Channel) => Promise<void>;

async function fill(channel: Channel, queue: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) channel.sendToQueue(queue, Buffer.from(`m${i}`));
  await channel.checkQueue(queue);
}

const scenarios: Record<string, Scenario> = {
  async returns(connection, admin) {
    const queue = queueName('q');
    await admin.assertQueue(queue);
    const channel = wrap(await connection.createChannel());
    await fill(channel, queue, 5);
    await channel.consume(queue, (message) => {
      deliver(queue, message!);
      channel.ack(message!);
    });
    await waitFor(() => countFor(queue) === 5);
    await channel.close();
  },

  async throws(connection, admin) {
    const queue = queueName('q');
    await admin.assertQueue(queue);
    const channel = wrap(await connection.createChannel());
    channel.on('handler-error', (error: Error) => observed.app.push(`handler-error: ${error.message}`));
    await fill(channel, queue, 3);
    await channel.consume(queue, (message) => {
      deliver(queue, message!);
      if (message!.content.toString() === 'm1') throw new Error('bad m1');
      channel.ack(message!);
    });
    await waitFor(() => countFor(queue) === 3);
    await sleep(50);
    await channel.close();
  },

  async 'rejects-unhandled'(connection, admin) {
    const queue = queueName('q');
    await admin.assertQueue(queue);
    const channel = wrap(await connection.createChannel());
    await fill(channel, queue, 1);
    await channel.consume(queue, async (message) => {
      deliver(queue, message!);
      channel.ack(message!);
      throw new Error('async failure nobody handles');
    });
    await waitFor(() => countFor(queue) === 1);
    await sleep(100);
    await channel.close();
  },

  async 'rejects-handled'(connection, admin) {
    const queue = queueName('q');
    await admin.assertQueue(queue);
    const channel = wrap(await connection.createChannel());
    await fill(channel, queue, 3);
    await channel.consume(queue, (message) => {
      deliver(queue, message!);
      channel.ack(message!);
      const promise = Promise.reject(new Error('handled by the app'));
      promise.catch((error: Error) => observed.app.push(`caught: ${error.message}`));
      return promise;
    });
    await waitFor(() => countFor(queue) === 3);
    await sleep(100);
    await channel.close();
  },

  async slow(connection, admin) {
    const queue = queueName('q');
    await admin.assertQueue(queue);
    const channel = wrap(await connection.createChannel());
    await channel.prefetch(2);
    await fill(channel, queue, 6);
    await channel.consume(queue, async (message) => {
      deliver(queue, message!);
      await sleep(30);
      channel.ack(message!);
    });
    await waitFor(() => countFor(queue) === 6);
    await sleep(60);
    await channel.close();
  },

  async 'noack-never-settles'(connection, admin) {
    const queue = queueName('q');
    await admin.assertQueue(queue);
    const channel = wrap(await connection.createChannel());
    await fill(channel, queue, 20);
    await channel.consume(
      queue,
      (message) => {
        deliver(queue, message!);
        return new Promise(() => {});
      },
      { noAck: true },
    );
    await waitFor(() => countFor(queue) === 20);
    await channel.close();
  },

  ...bulk('ack-all-up-to', (channel, held) => channel.ack(held.at(-1)!, true)),
  ...bulk('ack-each-all-up-to', (channel, held) => {
    for (const message of held) channel.ack(message, true);
  }),
  ...bulk('ackAll', (channel) => channel.ackAll()),
  ...bulk('nackAll', (channel) => channel.nackAll(true)),

  async 'ack-unknown-tag'(connection, admin) {
    const queue = queueName('q');
    await admin.assertQueue(queue);
    const channel = wrap(await connection.createChannel());
    channel.on('error', (error: Error) => observed.app.push(`error: ${error.message}`));
    channel.on('close', () => observed.app.push('close'));
    await fill(channel, queue, 1);
    await channel.consume(queue, (message) => {
      deliver(queue, message!);
      channel.ack({ ...message!, fields: { ...message!.fields, deliveryTag: 999 } });
    });
    await waitFor(() => observed.app.includes('close'));
  },

  async 'publish-missing-exchange'(connection) {
    const channel = wrap(await connection.createConfirmChannel());
    channel.on('error', (error: Error) => observed.app.push(`error: ${error.message}`));
    channel.on('close', () => observed.app.push('close'));
    channel.publish(`${prefix}-missing`, 'k', Buffer.from('x'), {}, (error: unknown) =>
      observed.app.push(`confirm: ${error instanceof Error ? error.message : String(error)}`),
    );
    await waitFor(() => observed.app.includes('close'));
    await channel
      .waitForConfirms()
      .catch((error: Error) => observed.app.push(`waitForConfirms: ${error.message}`));
  },

  async 'mandatory-unroutable'(connection, admin) {
    const exchange = `${prefix}-x`;
    await admin.assertExchange(exchange, 'direct', { autoDelete: true });
    const channel = wrap(await connection.createConfirmChannel());
    channel.on('return', (message: Message) =>
      observed.app.push(
        `return: ${message.fields.routingKey} ${(message.fields as { replyText?: string }).replyText}`,
      ),
    );
    channel.publish(exchange, 'nowhere', Buffer.from('x'), { mandatory: true }, (error: unknown) =>
      observed.app.push(`confirm: ${String(error)}`),
    );
    await channel.waitForConfirms();
    await sleep(20);
    await channel.close();
  },

  async 'republish-consumed-headers'(connection, admin) {
    const source = queueName('source');
    const target = queueName('target');
    await admin.assertQueue(source);
    await admin.assertQueue(target);
    const channel = wrap(await connection.createChannel());
    let sourceTraceparent: unknown;
    channel.sendToQueue(source, Buffer.from('original'), { headers: { tenant: 'acme', attempt: 1 } });
    await channel.consume(source, (message) => {
      deliver(source, message!);
      sourceTraceparent = message!.properties.headers?.traceparent;
      channel.sendToQueue(target, Buffer.from('retry'), { headers: message!.properties.headers });
      channel.ack(message!);
    });
    await channel.consume(target, (message) => {
      deliver(target, message!);
      const headers = { ...message!.properties.headers };
      const own = [headers.traceparent, headers.tracestate, headers.baggage];
      delete headers.traceparent;
      delete headers.tracestate;
      delete headers.baggage;
      observed.app.push(`target headers: ${JSON.stringify(headers)}`);
      // What tracing may add, it must add consistently: the re-published traceparent is the consumed one.
      observed.app.push(
        `trace headers from one context: ${own[0] === undefined || sourceTraceparent === own[0]}`,
      );
      channel.ack(message!);
    });
    await waitFor(() => countFor(target) === 1);
    await channel.close();
  },
};

/** 20,000 messages held unacked by one consumer, then settled in bulk by `settle`. */
function bulk(name: string, settle: (channel: Channel, held: Message[]) => void): Record<string, Scenario> {
  return {
    async [name](connection, admin) {
      const queue = queueName('q');
      await admin.assertQueue(queue);
      const channel = wrap(await connection.createChannel());
      await fill(channel, queue, 20_000);
      const held: Message[] = [];
      const { consumerTag } = await channel.consume(queue, (message) => {
        held.push(message!);
      });
      await waitFor(() => held.length === 20_000, 60_000);
      observed.app.push(`held ${held.length}`);
      // Cancelled first, so requeued messages stay ready instead of racing back to this consumer.
      await channel.cancel(consumerTag);
      settle(channel, held);
      await channel.checkQueue(queue);
      const { messageCount } = await admin.checkQueue(queue);
      observed.app.push(`ready while the consumer is open: ${messageCount}`);
      await channel.close();
    },
  };
}

async function main(): Promise<void> {
  const connection = await amqp.connect(url);
  const admin = await connection.createChannel();
  admin.on('error', () => {});
  try {
    const run = scenarios[scenario];
    if (!run) throw new Error(`unknown scenario ${scenario}`);
    await run(connection, admin);
  } finally {
    // A fresh channel: the scenario may have broken its own.
    const checker = await connection.createChannel().catch(() => undefined);
    for (const name of names) {
      const state = await checker?.checkQueue(name).catch(() => undefined);
      if (state)
        observed.queues[name.slice(prefix.length + 1)] = {
          ready: state.messageCount,
          consumers: state.consumerCount,
        };
      await checker?.deleteQueue(name).catch(() => {});
    }
    await connection.close().catch(() => {});
  }
}

main().catch((error: unknown) => {
  observed.app.push(`scenario failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
});
