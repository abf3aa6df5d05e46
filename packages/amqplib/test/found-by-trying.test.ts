// What an adversarial try of the packed package found (an app written from the README alone,
// against the real broker), one regression test each.
import vm from 'node:vm';
import { SpanKind, SpanStatusCode, diag } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { traceChannel } from '@tracewire/amqplib';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Broker, collector, sleep, useBrokerTracing } from './support/broker.js';

const { tracing, broker: currentBroker } = useBrokerTracing();
let broker: Broker;
beforeAll(() => {
  broker = currentBroker();
});

const processSpans = (queue: string): ReadableSpan[] =>
  tracing.spans().filter((span) => span.kind === SpanKind.CONSUMER && span.name === `process ${queue}`);

const durationMs = (span: ReadableSpan): number =>
  (span.endTime[0] - span.startTime[0]) * 1e3 + (span.endTime[1] - span.startTime[1]) / 1e6;

describe('what a consume handler returns', () => {
  it('a value whose prototype cannot be read (a revoked proxy) does not close the channel', async () => {
    const queue = await broker.queue('revoked-proxy');
    const channel = traceChannel(await broker.channel());
    const errors: unknown[] = [];
    channel.on('error', (error: unknown) => errors.push(error));
    const seen = collector<string>(2);
    await channel.consume(queue, (message) => {
      channel.ack(message!);
      seen.push(message!.content.toString());
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy as unknown as undefined;
    });
    broker.admin.sendToQueue(queue, Buffer.from('a'));
    broker.admin.sendToQueue(queue, Buffer.from('b'));
    // Before the fix: channel error 541 "Cannot perform 'getPrototypeOf' on a proxy that has been revoked".
    expect(await seen.done).toEqual(['a', 'b']);
    await sleep(50);
    expect(errors).toEqual([]);
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
    expect(processSpans(queue).map((span) => span.status.code)).toEqual([
      SpanStatusCode.UNSET,
      SpanStatusCode.UNSET,
    ]);
  });

  it("another realm's promise (vm, some test runners) is followed: its duration and its rejection", async () => {
    const queue = await broker.queue('other-realm');
    const channel = traceChannel(await broker.channel());
    const realm = vm.createContext({ setTimeout });
    const seen = collector<string>(2);
    await channel.consume(queue, (message) => {
      channel.ack(message!);
      const text = message!.content.toString();
      seen.push(text);
      return text === 'slow message'
        ? vm.runInContext('new Promise((resolve) => setTimeout(resolve, 200))', realm)
        : vm.runInContext(
            '(() => { const p = Promise.reject(new RangeError("boom")); p.catch(() => {}); return p; })()',
            realm,
          );
    });
    broker.admin.sendToQueue(queue, Buffer.from('slow message'));
    broker.admin.sendToQueue(queue, Buffer.from('fail'));
    await seen.done;
    // Both of this queue's spans: the slow one ends 200 ms after the other.
    const deadline = Date.now() + 10_000;
    while (processSpans(queue).length < 2 && Date.now() < deadline) await sleep(10);
    // Told apart by body size: 'slow message' is 12 bytes, 'fail' 4.
    const bySize = (size: number) =>
      processSpans(queue).find((span) => span.attributes['messaging.message.body.size'] === size);
    const slow = bySize(12);
    const failed = bySize(4);
    // Before the fix both ended when the handler returned, UNSET.
    expect(durationMs(slow!)).toBeGreaterThanOrEqual(150);
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('options of traceChannel', () => {
  it('are checked on every call; a second call on a traced channel says once that its options are ignored', async () => {
    const raw = await broker.channel();
    expect(() => traceChannel(raw, null as unknown as object)).toThrow(
      /@tracewire\/amqplib: options must be/,
    );
    expect(() => traceChannel(raw, 'x' as unknown as object)).toThrow(/@tracewire\/amqplib: options must be/);
    expect(() => traceChannel(raw, { trust: null as unknown as 'continue' })).toThrow(
      /@tracewire\/amqplib: trust must be/,
    );
    const first = traceChannel(raw);
    expect(() => traceChannel(raw, { settleSpans: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => traceChannel(raw, { trust: 'bogus' as 'continue' })).toThrow(TypeError);
    expect(() => traceChannel(first, { settleTimeoutMs: -1 })).toThrow(TypeError);
    const warnings: string[] = [];
    diag.setLogger(
      {
        error: () => {},
        warn: (text: string) => warnings.push(text),
        info: () => {},
        debug: () => {},
        verbose: () => {},
      },
      { logLevel: 50, suppressOverrideMessage: true },
    );
    try {
      expect(traceChannel(raw, { settleSpans: true })).toBe(first);
      expect(traceChannel(first, { settleSpans: true })).toBe(first);
      expect(traceChannel(raw)).toBe(first);
    } finally {
      diag.disable();
    }
    expect(warnings.filter((text) => text.includes('already traced'))).toHaveLength(1);
  });
});
