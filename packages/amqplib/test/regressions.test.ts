// Regression tests of issue #11, named after the scenario each reproduces.
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import amqp, { type Channel } from 'amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Broker, type Message, collector, sleep, useBrokerTracing } from './support/broker.js';

const { tracing, broker: currentBroker } = useBrokerTracing();
let broker: Broker;
beforeAll(() => {
  broker = currentBroker();
});

const processSpans = (): ReadableSpan[] =>
  tracing.spans().filter((s) => s.kind === SpanKind.CONSUMER && s.name.startsWith('process '));

async function fill(queue: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) broker.admin.sendToQueue(queue, Buffer.from(`m${i}`));
  // The broker handles a channel's frames in order: once this answers, every message is queued.
  await broker.admin.checkQueue(queue);
}

describe('amqplib bug 1: a handler returns a rejected promise the app already handled', () => {
  it('traced, no unhandledRejection is raised and the process span records the rejection', async () => {
    const queue = await broker.queue('handled-rejection');
    const channel = traceChannel(await broker.channel());
    const unhandled: unknown[] = [];
    const listener = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', listener);
    const handled = collector<unknown>(3);
    try {
      await channel.consume(queue, (message) => {
        channel.ack(message!);
        const promise = Promise.reject(new RangeError('handled by the app'));
        promise.catch((error: unknown) => handled.push(error));
        return promise;
      });
      await fill(queue, 3);
      await handled.done;
      await sleep(50);
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(unhandled).toEqual([]);
    const spans = await tracing.waitForSpans(3);
    expect(spans.map((s) => s.attributes['error.type'])).toEqual(['RangeError', 'RangeError', 'RangeError']);
  });
});

describe('amqplib bug 2: a noAck handler whose promise never settles', () => {
  it('every process span ends when the channel and the connection close', async () => {
    const queue = await broker.queue('noack-never');
    const connection = await amqp.connect(broker.url);
    const channel = traceChannel(await connection.createChannel());
    const delivered = collector<Message>(100);
    await channel.consume(
      queue,
      (message) => {
        delivered.push(message!);
        return new Promise(() => {});
      },
      { noAck: true },
    );
    await fill(queue, 100);
    await delivered.done;
    await channel.close();
    await connection.close();
    await sleep(20);
    expect(processSpans()).toHaveLength(100);
  });

  it('a never-settling noAck handler span ends at the settle timeout', async () => {
    const queue = await broker.queue('noack-timeout');
    const channel = traceChannel(await broker.channel(), { settleTimeoutMs: 50 });
    const delivered = collector<Message>(1);
    await channel.consume(
      queue,
      (message) => {
        delivered.push(message!);
        return new Promise(() => {});
      },
      { noAck: true },
    );
    await fill(queue, 1);
    await delivered.done;
    for (let i = 0; i < 200 && processSpans().length === 0; i++) await sleep(10);
    expect(processSpans()).toHaveLength(1);
    expect(processSpans()[0]!.attributes['tracewire.rabbitmq.settlement']).toBe('timeout');
  });
});

const HELD = 20_000;

/**
 * Holds `HELD` messages on `channel`, then acks them in order, each with allUpTo or each alone,
 * in one synchronous loop: how long it blocks the event loop (ms), and what the queue holds
 * afterwards. With `pending`, every handler's promise is still unsettled during the acks (their
 * spans are open).
 */
async function holdThenAck(
  channel: Channel,
  queue: string,
  pending: boolean,
  allUpTo: boolean,
): Promise<{ blocked: number; left: number }> {
  await fill(queue, HELD);
  const held: Message[] = [];
  const all = collector<Message>(HELD);
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  await channel.consume(queue, (message) => {
    held.push(message!);
    all.push(message!);
    return pending ? released : undefined;
  });
  await all.done;
  const started = performance.now();
  for (const message of held) channel.ack(message, allUpTo);
  const blocked = performance.now() - started;
  release();
  await channel.close();
  const { messageCount } = await broker.admin.checkQueue(queue);
  return { blocked, left: messageCount };
}

describe('amqplib bug 3: bulk settlement with allUpTo over 20,000 held messages', () => {
  for (const pending of [false, true]) {
    const handlers = pending ? 'handlers still running' : 'handlers returned';
    it(`acking in order with allUpTo costs what acking each message alone costs, traced (${handlers})`, async () => {
      const bare = await holdThenAck(await broker.channel(), await broker.queue('bulk-bare'), pending, true);
      const single = await holdThenAck(
        traceChannel(await broker.channel()),
        await broker.queue('bulk-single'),
        pending,
        false,
      );
      if (pending) await tracing.waitForSpans(HELD);
      tracing.reset();
      const bulk = await holdThenAck(
        traceChannel(await broker.channel()),
        await broker.queue('bulk-traced'),
        pending,
        true,
      );
      // Both traced runs record one settlement per message; only the bulk walk differs. Comparing
      // them, not traced against untraced, keeps the span work (and its noise) on both sides.
      const ratio = bulk.blocked / Math.max(single.blocked, 1);
      console.log(
        `ack x${HELD} (${handlers}): untraced allUpTo ${bare.blocked.toFixed(1)} ms, traced single ${single.blocked.toFixed(1)} ms, traced allUpTo ${bulk.blocked.toFixed(1)} ms, ratio ${ratio.toFixed(2)}`,
      );
      // A walk that revisits settled tags is quadratic: measured 30-170x untraced (handlers returned)
      // and 3,400x (handlers running). A linear one does the same work as single acks, ~1x.
      expect(ratio).toBeLessThan(5);
      // Closing the channel after the acks requeues nothing: every ack reached the broker.
      expect({ bare: bare.left, single: single.left, bulk: bulk.left }).toEqual({
        bare: 0,
        single: 0,
        bulk: 0,
      });
      if (pending) {
        const spans = await tracing.waitForSpans(HELD);
        expect(spans.every((span) => span.attributes['tracewire.rabbitmq.settlement'] === 'ack')).toBe(true);
      }
    });
  }
});

describe('found by trying: what a handler throws or returns is the app’s, never inspected into a failure', () => {
  const oddError = (): Error => {
    const error = new Error('the app error');
    Object.defineProperty(error, 'constructor', {
      get() {
        throw new Error('constructor getter');
      },
    });
    return error;
  };

  it('a handled rejection with an error whose constructor cannot be read ends the span ERROR', async () => {
    const queue = await broker.queue('odd-rejection');
    const channel = traceChannel(await broker.channel());
    const handled = collector<unknown>(1);
    await channel.consume(queue, (message) => {
      channel.ack(message!);
      const promise = Promise.reject(oddError());
      promise.catch((error: unknown) => handled.push(error));
      return promise;
    });
    await fill(queue, 1);
    await handled.done;
    const [span] = await tracing.waitForSpans(1);
    expect(span?.status.code).toBe(2);
    expect(span?.attributes['error.type']).toBe('Error');
  });

  it("a sync throw of such an error reaches the channel's 'error' as the app's own error", async () => {
    const outcome = async (traced: boolean): Promise<string> => {
      const queue = await broker.queue(`odd-throw-${traced}`);
      const raw = await broker.channel();
      const channel = traced ? traceChannel(raw) : raw;
      const seen = collector<string>(1);
      channel.on('error', (error: Error) => seen.push(error.message));
      await channel.consume(queue, (message) => {
        channel.ack(message!);
        throw oddError();
      });
      await fill(queue, 1);
      const [message] = await seen.done;
      return message!;
    };
    expect(await outcome(false)).toBe('the app error');
    expect(await outcome(true)).toBe('the app error');
    expect(processSpans()).toHaveLength(1);
    expect(processSpans()[0]?.attributes['error.type']).toBe('Error');
  });

  it("a promise subclass's own then is not called: the span watches with the built-in one", async () => {
    let thenCalls = 0;
    class TrackedPromise<T> extends Promise<T> {
      // biome-ignore lint/suspicious/noThenProperty: the app's own override, which tracing must not call
      override then<A = T, B = never>(
        onFulfilled?: ((value: T) => A | PromiseLike<A>) | null,
        onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
      ): Promise<A | B> {
        thenCalls++;
        return super.then(onFulfilled, onRejected);
      }
    }
    const queue = await broker.queue('promise-subclass');
    const channel = traceChannel(await broker.channel());
    const delivered = collector<Message>(1);
    await channel.consume(queue, (message) => {
      channel.ack(message!);
      delivered.push(message!);
      return TrackedPromise.resolve(1);
    });
    await fill(queue, 1);
    await delivered.done;
    await tracing.waitForSpans(1);
    expect(thenCalls).toBe(0);
  });
});
