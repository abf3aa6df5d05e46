// RabbitMQ connection dropped (its socket destroyed) and broker restarted with publishes
// unconfirmed and deliveries unsettled: those spans end with ERROR, nothing stays open, and the
// application's own reconnect-and-republish loop delivers everything. The broker is this suite's
// own instance (tools/brokers startInstance), never the shared one.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PrivateBroker, privateBroker } from './support/private-broker.js';
import { setupFaultTracing } from './support/span-tracking.js';

const tracing = setupFaultTracing();
let broker: PrivateBroker;

const SETTLEMENT = 'tracewire.rabbitmq.settlement';
const HELD = 5; // delivered and left unsettled when the fault hits
const IN_FLIGHT = 30; // published without waiting for their confirms when the fault hits

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  broker = await privateBroker('rabbitmq');
}, 180_000);
beforeEach(() => tracing.memory?.reset());
afterAll(async () => {
  await tracing.shutdown();
});

/** The socket under an amqplib promise-API connection (ChannelModel -> Connection -> stream). */
function socketOf(model: ChannelModel): { destroy(error?: Error): void } {
  return (model as unknown as { connection: { stream: { destroy(error?: Error): void } } }).connection.stream;
}

/**
 * A connection reset as the kernel reports one. (A bare `destroy()` emits neither 'error' nor
 * 'end', so amqplib never learns the socket is gone: the app and its spans wait for a heartbeat.)
 */
const reset = (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

/**
 * The application: one connection with a traced confirm channel for publishing and a traced
 * channel consuming `queue`; when the connection closes it reconnects (retrying until the broker
 * answers), consumes again and republishes every message whose confirm it did not get.
 */
class App {
  model: ChannelModel | undefined;
  publisher: ConfirmChannel | undefined;
  consumer: Channel | undefined;
  /** Values confirmed by the broker. */
  readonly confirmed = new Set<string>();
  /** Values whose confirm failed (nack or closed channel), waiting to be republished. */
  readonly failed = new Set<string>();
  /** Errors the confirm callbacks received. */
  readonly confirmErrors: string[] = [];
  /** Values acked by the consumer, in order (a redelivery shows twice). */
  readonly acked: string[] = [];
  /** Deliveries the consumer holds unsettled while `hold` is true. */
  readonly held: ConsumeMessage[] = [];
  hold = false;
  connections = 0;
  closes = 0;
  #stopping = false;
  #reconnecting: Promise<void> | undefined;

  constructor(
    readonly url: string,
    readonly queue: string,
  ) {}

  async connect(): Promise<void> {
    const model = await amqp.connect(this.url);
    this.connections++;
    model.on('error', () => {}); // a dropped socket is reported here and by 'close'
    model.on('close', () => {
      this.closes++;
      this.model = undefined;
      this.publisher = undefined;
      this.consumer = undefined;
      if (!this.#stopping) this.#reconnecting = this.#reconnect();
    });
    const publisher = traceChannel(await model.createConfirmChannel());
    const consumer = traceChannel(await model.createChannel());
    publisher.on('error', () => {});
    consumer.on('error', () => {});
    await consumer.prefetch(100);
    await consumer.consume(this.queue, (msg) => {
      if (!msg) return;
      if (this.hold) this.held.push(msg);
      else {
        consumer.ack(msg);
        this.acked.push(msg.content.toString());
      }
    });
    this.model = model;
    this.publisher = publisher;
    this.consumer = consumer;
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 0; !this.#stopping; attempt++) {
      try {
        await this.connect();
        break;
      } catch {
        await sleep(Math.min(100 * 2 ** attempt, 1_000));
      }
    }
    for (const value of [...this.failed]) this.publish(value);
  }

  /** Publishes `value` persistently; the confirm callback records the outcome. */
  publish(value: string): void {
    const channel = this.publisher;
    if (!channel) return; // not connected: it stays in `failed` for the reconnect to republish
    this.failed.delete(value);
    channel.sendToQueue(this.queue, Buffer.from(value), { persistent: true }, (error) => {
      if (error) {
        this.confirmErrors.push(String((error as Error).message ?? error));
        if (!this.confirmed.has(value)) this.failed.add(value);
      } else this.confirmed.add(value);
    });
  }

  /** Resolves once the connection was lost and is back. */
  async reconnected(previous: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.connections <= previous || !this.model) && Date.now() < deadline) await sleep(20);
    await this.#reconnecting;
    if (this.connections <= previous) throw new Error('the app did not reconnect');
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.model?.close().catch(() => {});
  }
}

async function untracedCheck(url: string, queue: string): Promise<amqp.Replies.AssertQueue> {
  const model = await amqp.connect(url);
  try {
    const channel = await model.createChannel();
    return await channel.checkQueue(queue);
  } finally {
    await model.close().catch(() => {});
  }
}

const values = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

/** Publishes HELD messages and waits until the consumer holds them, then IN_FLIGHT more, unconfirmed. */
async function holdAndPublish(app: App): Promise<string[]> {
  app.hold = true;
  const sent = values('held', HELD);
  for (const value of sent) app.publish(value);
  const deadline = Date.now() + 10_000;
  while (app.held.length < HELD && Date.now() < deadline) await sleep(10);
  expect(app.held, 'held deliveries before the fault').toHaveLength(HELD);
  const inFlight = values('flight', IN_FLIGHT);
  for (const value of inFlight) app.publish(value);
  return [...sent, ...inFlight];
}

async function everythingAcked(app: App, sent: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const missing = (): string[] => sent.filter((v) => !app.acked.includes(v));
  while (missing().length > 0 && Date.now() < deadline) await sleep(20);
  expect(missing(), 'values never acked after the reconnect').toEqual([]);
}

function expectFaultSpans(spans: ReadableSpan[], heldBeforeFault: number, confirmErrors: number): void {
  const process = spans.filter((s) => s.kind === SpanKind.CONSUMER);
  const sends = spans.filter((s) => s.kind === SpanKind.PRODUCER);
  // A process span covers its handler, not the wait for an ack (#11): the held deliveries'
  // handlers returned at once, so their spans ended then; a span a closed channel had to end
  // (a handler still running) is an ERROR.
  expect(process.length, 'process spans of the held deliveries').toBeGreaterThanOrEqual(heldBeforeFault);
  const closed = process.filter((s) => s.attributes[SETTLEMENT] === 'channel_closed');
  for (const span of closed) expect(span.status.code).toBe(SpanStatusCode.ERROR);
  // Acked deliveries' spans are not errors.
  for (const span of process.filter((s) => s.attributes[SETTLEMENT] === 'ack')) {
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  }
  // Every failed confirm is an ERROR send span, and every ERROR send span a failed confirm.
  expect(sends.filter((s) => s.status.code === SpanStatusCode.ERROR)).toHaveLength(confirmErrors);
}

describe('RabbitMQ faults with unconfirmed publishes and unsettled deliveries', () => {
  it('connection dropped: unconfirmed and unsettled spans end with ERROR, the app reconnects and delivers all', async () => {
    const queue = `tw-fault-drop-${Date.now().toString(36)}`;
    const app = new App(broker.address, queue);
    const setup = await amqp.connect(broker.address);
    await (await setup.createChannel()).assertQueue(queue, { durable: true });
    await setup.close();
    await app.connect();

    const sent = await holdAndPublish(app);
    const connections = app.connections;
    // The fault: the TCP connection dies under amqplib, with confirms and acks outstanding.
    socketOf(app.model as ChannelModel).destroy(reset());
    app.hold = false;
    await app.reconnected(connections);
    await everythingAcked(app, sent);
    await app.stop();

    console.log(
      `rabbitmq socket destroyed: ${app.confirmErrors.length} confirms failed (${[
        ...new Set(app.confirmErrors),
      ].join(', ')}), ${app.acked.length} acks for ${sent.length} messages, ${app.closes} closes`,
    );
    expect(app.closes).toBeGreaterThanOrEqual(1);
    expect(app.confirmErrors.length, 'confirms outstanding at the drop failed').toBeGreaterThan(0);
    const after = await untracedCheck(broker.address, queue);
    expect(after.messageCount, 'messages left in the queue').toBe(0);

    await tracing.settled();
    expect(tracing.open.size).toBe(0);
    expectFaultSpans(tracing.spans(), HELD, app.confirmErrors.length);
  });

  it('broker restarted: unconfirmed and unsettled spans end with ERROR, the app reconnects and delivers all', async () => {
    const queue = `tw-fault-restart-${Date.now().toString(36)}`;
    const app = new App(broker.address, queue);
    const setup = await amqp.connect(broker.address);
    await (await setup.createChannel()).assertQueue(queue, { durable: true });
    await setup.close();
    await app.connect();

    const sent = await holdAndPublish(app);
    const connections = app.connections;
    // The fault: the broker stops (closing every connection) and starts again on its data dir,
    // while the app keeps publishing.
    let live = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        const value = `live-${live++}`;
        sent.push(value);
        if (app.publisher) app.publish(value);
        else app.failed.add(value);
        await sleep(10);
      }
    })();
    const restarted = broker.restart();
    app.hold = false;
    const { downForMs } = await restarted;
    await app.reconnected(connections);
    publishing = false;
    await publisher;
    await everythingAcked(app, sent);
    await app.stop();

    console.log(
      `rabbitmq restart (down ${downForMs} ms): ${app.confirmErrors.length} confirms failed, ` +
        `${app.acked.length} acks for ${sent.length} messages, ${app.closes} closes`,
    );
    expect(app.closes).toBeGreaterThanOrEqual(1);
    const after = await untracedCheck(broker.address, queue);
    expect(after.messageCount, 'messages left in the queue').toBe(0);

    await tracing.settled();
    expect(tracing.open.size).toBe(0);
    expectFaultSpans(tracing.spans(), HELD, app.confirmErrors.length);
  });
});
