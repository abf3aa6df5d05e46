import { SpanKind } from '@opentelemetry/api';
import { traceChannel } from '@tracewire/amqplib';
import callbackApi from 'amqplib/callback_api';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type Message, collector } from './support/broker.js';
import { randomBytes } from 'node:crypto';

const tracing = setupTracing();
let connection: callbackApi.Connection;
beforeAll(async () => {
  connection = await new Promise((resolve, reject) =>
    callbackApi.connect(process.env.AMQP_URL!, (error, opened) => (error ? reject(error) : resolve(opened))),
  );
});
afterAll(async () => {
  await new Promise<void>((resolve) => connection.close(() => resolve()));
  await tracing.shutdown();
});

const promised = <T>(run: (callback: (error: unknown, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));

it('the callback API: confirm publish, consume, get and chaining go through the traced channel', async () => {
  const raw = await promised<callbackApi.ConfirmChannel>((cb) => connection.createConfirmChannel(cb));
  const channel = traceChannel(raw);
  const queue = `tw-callback-${randomBytes(4).toString('hex')}`;
  await promised((cb) => channel.assertQueue(queue, { durable: false }, cb));
  try {
    const confirms = collector<unknown[]>(2);
    channel.sendToQueue(queue, Buffer.from('first'), {}, (...args: unknown[]) => confirms.push(args));
    channel.sendToQueue(queue, Buffer.from('second'), {}, (...args: unknown[]) => confirms.push(args));
    expect(await confirms.done).toEqual([[null], [null]]);

    const got = await promised<Message | false>((cb) => channel.get(queue, {}, cb));
    expect((got as Message).content.toString()).toBe('first');
    // Callback-API methods return the channel for chaining: the traced one.
    expect(channel.ack(got as Message)).toBe(channel);

    const delivered = collector<Message>(1);
    await promised((cb) =>
      channel.consume(
        queue,
        (message) => {
          if (!message) return;
          delivered.push(message);
          channel.ack(message);
        },
        {},
        cb,
      ),
    );
    await delivered.done;
    const spans = await tracing.waitForSpans(4);
    const producers = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    const receive = spans.find((s) => s.name === `receive ${queue}`)!;
    const process = spans.find((s) => s.name === `process ${queue}`)!;
    // get is a pull: a CLIENT receive span of the caller's, linked to the message's creation context.
    expect(receive.kind).toBe(SpanKind.CLIENT);
    expect(parentSpanId(receive)).toBeUndefined();
    expect(receive.links.map((link) => link.context.spanId)).toEqual([producers[0]!.spanContext().spanId]);
    expect(parentSpanId(process)).toBe(producers[1]!.spanContext().spanId);
    // The handler acked synchronously, while its process span was open.
    expect(process.attributes['tracewire.rabbitmq.settlement']).toBe('ack');
  } finally {
    await promised((cb) => channel.deleteQueue(queue, {}, cb));
    await new Promise<void>((resolve) => channel.close(() => resolve()));
  }
});
