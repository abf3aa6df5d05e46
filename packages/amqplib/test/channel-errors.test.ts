// Issue #11 items 4 and 13: unroutable returns, broker channel errors and dropped sockets.
import { EventEmitter } from 'node:events';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import amqp from 'amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Broker, type Message, collector, sleep, useBrokerTracing } from './support/broker.js';

const { tracing, broker: currentBroker } = useBrokerTracing();
let broker: Broker;
beforeAll(() => {
  broker = currentBroker();
});

const byKind = (kind: SpanKind): ReadableSpan[] => tracing.spans().filter((s) => s.kind === kind);

async function waitFor(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !predicate(); i++) await sleep(10);
  expect(predicate()).toBe(true);
}

describe('mandatory publishes the broker returns as unroutable', () => {
  it('on a confirm channel the send span ends ERROR NO_ROUTE; the app still gets its return event and its (null) confirm', async () => {
    const exchange = await broker.exchange('unroutable', 'direct');
    const channel = traceChannel(await broker.confirmChannel());
    const returned = collector<Message>(1);
    channel.on('return', (message: Message) => returned.push(message));
    const confirmed = collector<unknown[]>(2);
    channel.publish(exchange, 'nowhere', Buffer.from('x'), { mandatory: true }, (...args: unknown[]) =>
      confirmed.push(args),
    );
    const queue = await broker.queue('routable');
    await broker.admin.bindQueue(queue, exchange, 'somewhere');
    channel.publish(exchange, 'somewhere', Buffer.from('y'), { mandatory: true }, (...args: unknown[]) =>
      confirmed.push(args),
    );
    expect(await confirmed.done).toEqual([[null], [null]]);
    const [message] = await returned.done;
    expect(message!.fields).toMatchObject({ replyCode: 312, replyText: 'NO_ROUTE', routingKey: 'nowhere' });
    const sends = byKind(SpanKind.PRODUCER);
    expect(sends.map((s) => [s.status.code, s.attributes['error.type']])).toEqual([
      [SpanStatusCode.ERROR, 'NO_ROUTE'],
      [SpanStatusCode.UNSET, undefined],
    ]);
  });
});

describe('error.type names the broker reply, not channel_closed', () => {
  it('publish to a missing exchange: the confirm fails with amqplib’s own error, the span says NOT_FOUND, and so do open process spans', async () => {
    const queue = await broker.queue('open-handler');
    const channel = traceChannel(await broker.confirmChannel());
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      return new Promise(() => {});
    });
    broker.admin.sendToQueue(queue, Buffer.from('m'));
    await delivered.done;
    const errors: unknown[] = [];
    channel.on('error', (error: unknown) => errors.push(error));
    const confirmed = collector<unknown[]>(1);
    channel.publish(broker.name('missing'), 'key', Buffer.from('x'), {}, (...args: unknown[]) =>
      confirmed.push(args),
    );
    const [args] = await confirmed.done;
    expect((args![0] as Error).message).toBe('channel closed');
    await waitFor(() => byKind(SpanKind.CONSUMER).length === 1);
    const [send] = byKind(SpanKind.PRODUCER);
    expect(send!.status.code).toBe(SpanStatusCode.ERROR);
    expect(send!.attributes['error.type']).toBe('NOT_FOUND');
    expect(send!.status.message).toMatch(/404/);
    const [process] = byKind(SpanKind.CONSUMER);
    expect(process!.attributes).toMatchObject({
      'error.type': 'NOT_FOUND',
      'tracewire.rabbitmq.settlement': 'channel_closed',
    });
    expect(errors).toHaveLength(1);
    expect(String((errors[0] as Error).message)).toMatch(/NOT_FOUND/);
  });

  it('ack of an unknown delivery tag: the broker closes the channel, open spans say PRECONDITION_FAILED', async () => {
    const queue = await broker.queue('unknown-tag');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      return new Promise(() => {});
    });
    broker.admin.sendToQueue(queue, Buffer.from('m'));
    const [message] = await delivered.done;
    const closed = collector<true>(1);
    channel.on('close', () => closed.push(true));
    channel.ack({ ...message!, fields: { ...message!.fields, deliveryTag: 999 } });
    await closed.done;
    await waitFor(() => byKind(SpanKind.CONSUMER).length === 1);
    expect(byKind(SpanKind.CONSUMER)[0]!.attributes['error.type']).toBe('PRECONDITION_FAILED');
    // The message was never acked: it is back in the queue.
    expect(await broker.messageCount(queue)).toBe(1);
  });

  it('an app without an error listener still gets the crash it would get untraced', () => {
    // errorMonitor observes without counting as a listener.
    const emitter = new EventEmitter() as EventEmitter & { publish(): void };
    emitter.publish = () => {};
    const traced = traceChannel(emitter as unknown as Parameters<typeof traceChannel>[0]);
    expect(traced).toBeDefined();
    expect(emitter.listenerCount('error')).toBe(0);
    expect(() => emitter.emit('error', new Error('boom'))).toThrow('boom');
  });
});

describe('socket.destroy(): amqplib sees no close, spans still end', () => {
  it('an unconfirmed publish and a running handler end ERROR connection_closed when the socket closes', async () => {
    const connection = await amqp.connect(broker.url);
    const channel = traceChannel(await connection.createConfirmChannel());
    channel.on('error', () => {});
    const queue = await broker.queue('destroyed');
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      delivered.push(message!);
      return new Promise(() => {});
    });
    broker.admin.sendToQueue(queue, Buffer.from('m'));
    await delivered.done;
    const callbacks: unknown[] = [];
    channel.sendToQueue(queue, Buffer.from('never confirmed'), {}, (error: unknown) => callbacks.push(error));
    (connection as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await waitFor(() => tracing.spans().length === 2);
    for (const span of tracing.spans()) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes['error.type']).toBe('connection_closed');
    }
    // What amqplib does about it is amqplib's business: tracing calls no callback of the app's.
    expect(callbacks).toEqual([]);
  });
});
