// The producer wrapper without a broker: option checks, wrapping once, the producer's own
// methods and getters through the proxy, and errors of a send reaching the caller unchanged.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { traceProducer } from '@tracewire/platformatic-kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());

/** A producer-shaped class with private state, as the client's `Producer` has. */
class FakeProducer {
  #sent: unknown[] = [];
  #fail: Error | undefined;
  constructor(fail?: Error) {
    this.#fail = fail;
  }
  get sent(): unknown[] {
    return this.#sent;
  }
  send(
    options: { messages: unknown[] },
    callback?: (error: Error | null, result?: unknown) => void,
  ): unknown {
    this.#sent.push(options);
    const result = { offsets: [{ topic: 't', partition: 2, offset: 41n }] };
    if (callback) {
      queueMicrotask(() => (this.#fail ? callback(this.#fail) : callback(null, result)));
      return undefined;
    }
    return this.#fail ? Promise.reject(this.#fail) : Promise.resolve(result);
  }
  close(): string {
    return `closed ${this.#sent.length}`;
  }
}

describe('traceProducer', () => {
  it('rejects bad options when wrapping', () => {
    expect(() => traceProducer({} as FakeProducer)).toThrow(TypeError);
    expect(() => traceProducer(new FakeProducer(), { createSpans: 'no' as unknown as boolean })).toThrow(
      TypeError,
    );
    expect(() => traceProducer(new FakeProducer(), { headerFormat: 'utf16' as 'string' })).toThrow(TypeError);
  });

  it('wraps once, and the producer keeps its own methods, getters and private state', async () => {
    const raw = new FakeProducer();
    const traced = traceProducer(raw);
    expect(traceProducer(traced)).toBe(traced);
    await traced.send({ messages: [{ topic: 't', value: Buffer.from('v') }] });
    expect(traced.sent).toHaveLength(1);
    expect(traced.close()).toBe('closed 1');
    expect(traced).toBeInstanceOf(FakeProducer);
  });

  it('records partition and offset from the result on the single send span', async () => {
    tracing.reset();
    const traced = traceProducer(new FakeProducer());
    await traced.send({
      messages: [{ topic: 't', key: Buffer.from([0xff, 0xfe]), value: Buffer.from('v') }],
    });
    const [span] = tracing.spans();
    expect(span?.kind).toBe(SpanKind.PRODUCER);
    expect(span?.attributes['messaging.destination.partition.id']).toBe('2');
    expect(span?.attributes['kafka.offset']).toBe(41);
    // A key that is not UTF-8 text is not recorded.
    expect(span?.attributes['kafka.message.key']).toBeUndefined();
  });

  it('a failing send rejects with its own error, callback style too, and the spans are ERROR', async () => {
    tracing.reset();
    const failure = new Error('broker said no');
    const traced = traceProducer(new FakeProducer(failure));
    await expect(traced.send({ messages: [{ topic: 't', value: Buffer.from('v') }] })).rejects.toBe(failure);
    const viaCallback = await new Promise((resolve) =>
      traced.send(
        {
          messages: [
            { topic: 't', value: Buffer.from('a') },
            { topic: 't', value: Buffer.from('b') },
          ],
        },
        (error) => resolve(error),
      ),
    );
    expect(viaCallback).toBe(failure);
    const spans = tracing.spans();
    expect(spans).toHaveLength(4);
    expect(spans.every((span) => span.status.code === SpanStatusCode.ERROR)).toBe(true);
  });

  it('anything that is not a traceable send goes to the producer as it is', async () => {
    const raw = new FakeProducer();
    const traced = traceProducer(raw);
    const odd = { messages: 'not an array' } as unknown as { messages: unknown[] };
    await traced.send(odd);
    expect(raw.sent[0]).toBe(odd);
  });
});
