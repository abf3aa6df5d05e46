import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId } from '../../../test/support/tracing.js';
import { type Broker, type Message, collector, useBrokerTracing, sleep } from './support/broker.js';

const { tracing, broker: currentBroker } = useBrokerTracing();
let broker: Broker;
beforeAll(() => {
  broker = currentBroker();
});

const tracer = trace.getTracer('test');
const SETTLEMENT = 'tracewire.rabbitmq.settlement';
const REQUEUE = 'tracewire.rabbitmq.requeue';

const consumerSpans = (): ReadableSpan[] => tracing.spans().filter((s) => s.kind === SpanKind.CONSUMER);
const producerSpan = (): ReadableSpan => tracing.spans().find((s) => s.kind === SpanKind.PRODUCER)!;

async function waitForConsumerSpans(count: number): Promise<ReadableSpan[]> {
  for (let i = 0; i < 500 && consumerSpans().length < count; i++) await sleep(10);
  expect(consumerSpans()).toHaveLength(count);
  return consumerSpans();
}

/** Publishes `count` messages through a traced channel inside an app span. */
async function publish(queue: string, count = 1): Promise<void> {
  const channel = traceChannel(await broker.channel());
  const span = tracer.startSpan('app');
  context.with(trace.setSpan(context.active(), span), () => {
    for (let i = 0; i < count; i++) channel.sendToQueue(queue, Buffer.from(`message ${i}`));
  });
  span.end();
}

describe('settling consumed messages', () => {
  it.each([
    { how: 'nack', settle: (ch: SettleChannel, m: Message) => ch.nack(m, false, true) },
    { how: 'reject', settle: (ch: SettleChannel, m: Message) => ch.reject(m, true) },
    { how: 'nack', settle: (ch: SettleChannel, m: Message) => ch.nack(m) },
  ])(
    '$how with requeue, then ack: two spans on the same trace, both children of the producer',
    async ({ how, settle }) => {
      const queue = await broker.queue('requeue');
      const channel = traceChannel(await broker.channel());
      const seen = collector<boolean>(2);
      await channel.consume(queue, (message) => {
        seen.push(message!.fields.redelivered);
        if (message!.fields.redelivered) channel.ack(message!);
        else settle(channel, message!);
      });
      await publish(queue);
      expect(await seen.done).toEqual([false, true]);
      const [first, second] = await waitForConsumerSpans(2);
      const producer = producerSpan();
      for (const span of [first!, second!]) {
        expect(span.spanContext().traceId).toBe(producer.spanContext().traceId);
        expect(parentSpanId(span)).toBe(producer.spanContext().spanId);
      }
      expect(first!.status.code).toBe(SpanStatusCode.ERROR);
      expect(first!.attributes).toMatchObject({ [SETTLEMENT]: how, [REQUEUE]: true, 'error.type': how });
      expect(second!.status.code).toBe(SpanStatusCode.UNSET);
      expect(second!.attributes[SETTLEMENT]).toBe('ack');
      expect(await broker.messageCount(queue)).toBe(0);
    },
  );

  it('nack without requeue records requeue=false', async () => {
    const queue = await broker.queue('nack-drop');
    const channel = traceChannel(await broker.channel());
    await channel.consume(queue, (message) => channel.nack(message!, false, false));
    await publish(queue);
    const [span] = await waitForConsumerSpans(1);
    expect(span!.attributes).toMatchObject({ [SETTLEMENT]: 'nack', [REQUEUE]: false });
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('ack with allUpTo ends the spans of every earlier message, and only those', async () => {
    const queue = await broker.queue('all-up-to');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(4);
    await channel.consume(queue, (message) => delivered.push(message!));
    await publish(queue, 4);
    const messages = await delivered.done;
    channel.ack(messages[2]!, true);
    const spans = await waitForConsumerSpans(3);
    expect(spans.map((s) => s.attributes['rabbitmq.message.delivery_tag']).sort()).toEqual([1, 2, 3]);
    channel.nack(messages[3]!, true, false);
    const all = await waitForConsumerSpans(4);
    expect(all[3]!.attributes).toMatchObject({ [SETTLEMENT]: 'nack', 'rabbitmq.message.delivery_tag': 4 });
    expect(await broker.messageCount(queue)).toBe(0);
  });

  it.each([
    {
      how: 'ackAll',
      settle: (ch: SettleChannel) => ch.ackAll(),
      status: SpanStatusCode.UNSET,
      settlement: 'ack',
    },
    {
      how: 'nackAll',
      settle: (ch: SettleChannel) => ch.nackAll(false),
      status: SpanStatusCode.ERROR,
      settlement: 'nack',
    },
  ])('$how ends every outstanding span', async ({ settle, status, settlement }) => {
    const queue = await broker.queue('all');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(3);
    await channel.consume(queue, (message) => delivered.push(message!));
    await publish(queue, 3);
    await delivered.done;
    expect(consumerSpans()).toHaveLength(0);
    settle(channel);
    const spans = await waitForConsumerSpans(3);
    expect(spans.map((s) => [s.status.code, s.attributes[SETTLEMENT]])).toEqual(
      Array.from({ length: 3 }, () => [status, settlement]),
    );
  });

  it('a noAck consumer span ends when its async handler settles', async () => {
    const queue = await broker.queue('no-ack');
    const channel = traceChannel(await broker.channel());
    const done = collector<boolean>(1);
    await channel.consume(
      queue,
      async () => {
        await sleep(20);
        tracer.startSpan('inside').end();
        done.push(consumerSpans().length === 0);
      },
      { noAck: true },
    );
    await publish(queue);
    expect(await done.done).toEqual([true]);
    const [span] = await waitForConsumerSpans(1);
    const inside = tracing.spans().find((s) => s.name === 'inside')!;
    expect(parentSpanId(inside)).toBe(span!.spanContext().spanId);
    expect(span!.attributes[SETTLEMENT]).toBeUndefined();
  });

  it('a handler that throws: the span records it and amqplib gets the same error', async () => {
    const queue = await broker.queue('throws');
    const channel = traceChannel(await broker.channel());
    const failure = new RangeError('bad order');
    const reported = collector<unknown>(1);
    channel.on('handler-error', (error: unknown) => reported.push(error));
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      throw failure;
    });
    await publish(queue);
    expect(await reported.done).toEqual([failure]);
    const [message] = await delivered.done;
    expect(consumerSpans()).toHaveLength(0);
    channel.ack(message!);
    const [span] = await waitForConsumerSpans(1);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes['error.type']).toBe('RangeError');
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('the settle timeout ends a never-settled span; a late ack changes nothing', async () => {
    const queue = await broker.queue('timeout');
    const channel = traceChannel(await broker.channel(), { settleTimeoutMs: 50 });
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => delivered.push(message!));
    await publish(queue);
    const [message] = await delivered.done;
    const [span] = await waitForConsumerSpans(1);
    expect(span!.attributes[SETTLEMENT]).toBe('timeout');
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    channel.ack(message!);
    await sleep(50);
    expect(consumerSpans()).toHaveLength(1);
    expect(await broker.messageCount(queue)).toBe(0);
  });

  it('channel closed mid-flight: outstanding spans end, nothing reaches the app but its own events', async () => {
    const queue = await broker.queue('closed');
    const channel = traceChannel(await broker.confirmChannel());
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => delivered.push(message!));
    await publish(queue);
    await delivered.done;
    const errors: unknown[] = [];
    channel.on('error', (error: unknown) => errors.push(error));
    const confirmed = collector<unknown[]>(1);
    // Publishing to a missing exchange makes the broker close the channel: the confirm never comes.
    channel.publish(broker.name('missing'), 'key', Buffer.from('x'), {}, (...args: unknown[]) =>
      confirmed.push(args),
    );
    const [args] = await confirmed.done;
    expect((args![0] as Error).message).toBe('channel closed');
    const [processSpan] = await waitForConsumerSpans(1);
    expect(processSpan!.status.code).toBe(SpanStatusCode.ERROR);
    expect(processSpan!.attributes[SETTLEMENT]).toBe('channel_closed');
    const send = tracing
      .spans()
      .find((s) => s.kind === SpanKind.PRODUCER && s.name.startsWith('send tw-missing'))!;
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes['error.type']).toBe('channel_closed');
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/NOT_FOUND/);
    // Settling after the close throws what amqplib throws, untouched.
    expect(() => channel.ackAll()).toThrow(/closed/);
  });

  it('closing the channel with unacked messages ends their spans', async () => {
    const queue = await broker.queue('close');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(2);
    await channel.consume(queue, (message) => delivered.push(message!));
    await publish(queue, 2);
    await delivered.done;
    await channel.close();
    const spans = await waitForConsumerSpans(2);
    expect(spans.map((s) => s.attributes[SETTLEMENT])).toEqual(['channel_closed', 'channel_closed']);
    expect(await broker.messageCount(queue)).toBe(2);
  });

  it('recover ends outstanding spans; the redeliveries get spans of their own', async () => {
    const queue = await broker.queue('recover');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(2);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      if (message!.fields.redelivered) channel.ack(message!);
    });
    await publish(queue);
    await sleep(20);
    await channel.recover();
    await delivered.done;
    const spans = await waitForConsumerSpans(2);
    expect(spans.map((s) => s.attributes[SETTLEMENT])).toEqual(['recover', 'ack']);
  });

  it('a consumer cancelled by the server gets null, untouched, and no span', async () => {
    const queue = await broker.queue('cancelled');
    const channel = traceChannel(await broker.channel());
    const received = collector<unknown>(1);
    await channel.consume(queue, (message) => received.push(message));
    await broker.admin.deleteQueue(queue);
    expect(await received.done).toEqual([null]);
    expect(tracing.spans()).toHaveLength(0);
  });
});

describe('get', () => {
  it('a got message gets a receive span, child of the producer, ended by its ack', async () => {
    const queue = await broker.queue('get');
    await publish(queue, 2);
    await sleep(20);
    const channel = traceChannel(await broker.channel());
    const message = await channel.get(queue);
    expect(message).not.toBe(false);
    expect(consumerSpans()).toHaveLength(0);
    channel.ack(message as Message);
    const [span] = await waitForConsumerSpans(1);
    expect(span!.name).toBe(`receive ${queue}`);
    expect(span!.attributes).toMatchObject({
      'messaging.operation.type': 'receive',
      'messaging.operation.name': 'receive',
      [SETTLEMENT]: 'ack',
    });
    expect(parentSpanId(span!)).toBe(
      tracing
        .spans()
        .find((s) => s.kind === SpanKind.PRODUCER)!
        .spanContext().spanId,
    );

    const noAck = (await channel.get(queue, { noAck: true })) as Message;
    expect(noAck.content.toString()).toBe('message 1');
    expect(consumerSpans()).toHaveLength(2);
    expect(await channel.get(queue)).toBe(false);
    expect(consumerSpans()).toHaveLength(2);
  });
});

type SettleChannel = {
  ack(message: Message, allUpTo?: boolean): void;
  nack(message: Message, allUpTo?: boolean, requeue?: boolean): void;
  reject(message: Message, requeue?: boolean): void;
  ackAll(): void;
  nackAll(requeue?: boolean): void;
};
