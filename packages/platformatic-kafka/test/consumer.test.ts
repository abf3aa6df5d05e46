// Consumer-side guarantees through a real broker: bad headers are ignored (a new trace starts)
// and the app sees every message exactly as an untraced consumer does; errors reach the app
// unchanged; a stream destroyed mid-batch leaves no span open and loses or repeats nothing that
// an untraced consumer would not; trust modes; the 'data' listener's promise is never chained.
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { messageTracer, traceHandler } from '@tracewire/platformatic-kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import {
  type Client,
  type Consumer,
  type Message,
  type MessagesStream,
  type Producer,
  brokers,
  consume,
  createTopics,
  loadClient,
  producer as newProducer,
  readN,
  unique,
} from './support.js';

const tracing = setupTracing();
let client: Client;
let raw: Producer;

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const OTHER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

beforeAll(async () => {
  client = await loadClient();
  raw = newProducer(client);
});

afterAll(async () => {
  await raw.close();
  await tracing.shutdown();
});

const header = (name: string, value: string | Buffer): [Buffer, Buffer] => [
  Buffer.from(name),
  typeof value === 'string' ? Buffer.from(value) : value,
];

/** Everything the app can observe of a delivered message. */
function observe(message: Message): string {
  const headers = [...message.headers].map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`);
  return JSON.stringify([
    message.offset.toString(),
    message.key?.toString('hex'),
    message.value?.toString('hex'),
    headers,
  ]);
}

function processSpans(topic: string): ReadableSpan[] {
  return tracing.spans().filter((span) => span.name === `process ${topic}`);
}

describe('bad headers', () => {
  const cases: Array<{ name: string; headers: Array<[Buffer, Buffer]>; continues?: string }> = [
    { name: 'malformed traceparent', headers: [header('traceparent', '00-not-a-trace-01')] },
    {
      name: 'all-zero trace id',
      headers: [header('traceparent', '00-00000000000000000000000000000000-b7ad6b7169203331-01')],
    },
    { name: 'duplicated traceparent', headers: [header('traceparent', VALID), header('traceparent', OTHER)] },
    {
      name: 'binary traceparent',
      headers: [header('traceparent', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x2d]))],
    },
    { name: '100 KB traceparent', headers: [header('traceparent', `${VALID}${'x'.repeat(100 * 1024)}`)] },
    { name: 'binary key and value, no context', headers: [header('x-bin', Buffer.from([0xc3, 0x28]))] },
    { name: 'upper-case name, valid', headers: [header('TRACEPARENT', VALID)], continues: VALID },
    {
      name: 'valid traceparent, 100 KB tracestate',
      headers: [header('traceparent', VALID), header('tracestate', `a=${'b'.repeat(100 * 1024)}`)],
      continues: VALID,
    },
  ];

  it('each is ignored (a new trace) or continued, and the app sees what an untraced consumer sees', async () => {
    const topic = unique('bad-headers');
    await createTopics(client, [topic]);
    await raw.send({
      messages: cases.map(({ name, headers }) => ({
        topic,
        key: name.startsWith('binary key') ? Buffer.from([0xc3, 0x28]) : Buffer.from(name),
        value: Buffer.from([0, 1, 2, 0xff]),
        headers: new Map(headers),
      })),
    });
    tracing.reset();

    const control = await consume(client, [topic]);
    const plain: string[] = [];
    await readN(control.stream, control.consumer, cases.length, (message) => {
      plain.push(observe(message));
    });

    const tracedRun = await consume(client, [topic]);
    const traceMessage = messageTracer();
    const tracedSeen: string[] = [];
    const active: Array<string | undefined> = [];
    await readN(tracedRun.stream, tracedRun.consumer, cases.length, (message) =>
      traceMessage(message, () => {
        tracedSeen.push(observe(message));
        active.push(trace.getActiveSpan()?.spanContext().spanId);
      }),
    );

    expect(tracedSeen).toEqual(plain);
    const spans = processSpans(topic);
    expect(spans).toHaveLength(cases.length);
    cases.forEach(({ name, continues }, i) => {
      const span = spans.find((candidate) => candidate.attributes['kafka.offset'] === i);
      expect(span, name).toBeDefined();
      expect(active[i], name).toBe(span?.spanContext().spanId);
      if (continues) {
        expect(span?.spanContext().traceId, name).toBe(continues.slice(3, 35));
        expect(parentSpanId(span!), name).toBe(continues.slice(36, 52));
        expect(span?.links, name).toHaveLength(1);
      } else {
        expect(parentSpanId(span!), name).toBeUndefined();
        expect(span?.links, name).toHaveLength(0);
      }
    });
    // The key is recorded only when it is UTF-8 text.
    const binaryKey = spans.find((span) => span.attributes['kafka.offset'] === 5);
    expect(binaryKey?.attributes['kafka.message.key']).toBeUndefined();
    expect(spans.find((span) => span.attributes['kafka.offset'] === 0)?.attributes['kafka.message.key']).toBe(
      'malformed traceparent',
    );
  });
});

describe('errors', () => {
  it('a throw and a rejection reach the app unchanged and mark the span ERROR', async () => {
    const topic = unique('errors');
    await createTopics(client, [topic]);
    await raw.send({
      messages: ['sync', 'async', 'ok'].map((value) => ({ topic, value: Buffer.from(value) })),
    });
    tracing.reset();
    const { consumer, stream } = await consume(client, [topic]);
    const traceMessage = messageTracer();
    const thrown = new RangeError('sync failure');
    const rejected = new TypeError('async failure');
    const caught: unknown[] = [];
    await readN(stream, consumer, 3, async (message) => {
      const value = message.value.toString();
      try {
        await traceMessage(message, () => {
          if (value === 'sync') throw thrown;
          if (value === 'async') return Promise.reject(rejected);
          return 'fine';
        });
      } catch (error) {
        caught.push(error);
      }
    });
    expect(caught).toEqual([thrown, rejected]);
    expect(caught[0]).toBe(thrown);
    expect(caught[1]).toBe(rejected);
    const spans = processSpans(topic).sort(
      (a, b) => Number(a.attributes['kafka.offset']) - Number(b.attributes['kafka.offset']),
    );
    expect(spans.map((span) => span.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    expect(spans.map((span) => span.attributes['error.type'])).toEqual([
      'RangeError',
      'TypeError',
      undefined,
    ]);
  });

  it("a 'data' listener's rejected promise is returned as is and nothing new goes unhandled", async () => {
    const topic = unique('listener-reject');
    await createTopics(client, [topic]);
    await raw.send({ messages: [{ topic, value: Buffer.from('boom') }] });
    tracing.reset();
    const { consumer, stream } = await consume(client, [topic]);
    const failure = new Error('listener failed');
    const made: Array<Promise<void>> = [];
    const listener = traceHandler((_message: Message) => {
      const promise = Promise.reject(failure);
      made.push(promise);
      promise.catch(() => undefined); // the app handles its own promise
      return promise;
    });
    // Boxed: resolving with the promise itself would adopt its rejection.
    const returned = await new Promise<{ value: unknown }>((resolve) => {
      stream.once('data', (message: Message) => resolve({ value: listener(message) }));
    });
    await stream.close();
    await consumer.close(true);
    expect(returned.value).toBe(made[0]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const [span] = processSpans(topic);
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.kind).toBe(SpanKind.CONSUMER);
    // The invariants setup fails this test if a chained promise rejected with nobody listening.
  });

  it("traceMessage returns fn's own promise: its properties kept, a rejection the app handled stays handled", async () => {
    const topic = unique('trace-message-own');
    await createTopics(client, [topic]);
    await raw.send({ messages: [{ topic, value: Buffer.from('job') }] });
    tracing.reset();
    const { consumer, stream } = await consume(client, [topic]);
    const traceMessage = messageTracer();
    const failure = new Error('bill failed');
    let returned: unknown;
    let work: Promise<void> | undefined;
    try {
      for await (const message of stream) {
        const job = Object.assign(Promise.resolve('ok'), { child: 'the child process' });
        const traced = traceMessage(message, () => job);
        expect(traced).toBe(job);
        expect(traced.child).toBe('the child process');
        await traced;
        // Handled on the app's own promise, traceMessage's value ignored: as untraced, no crash.
        work = Promise.reject(failure);
        work.catch(() => undefined);
        returned = traceMessage(message, () => work);
        break;
      }
    } finally {
      await stream.close();
      await consumer.close(true);
    }
    expect(returned).toBe(work);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const spans = processSpans(topic);
    expect(spans.map((span) => span.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    // The invariants setup fails this test if a chained promise rejected with nobody listening.
  });

  it('an offset beyond the safe integers and a non-UTF-8 key are left out; a safe one is a number', () => {
    const traceMessage = messageTracer({ groupId: 'given' });
    const base = { topic: 't', partition: 3, headers: new Map() };
    traceMessage({ ...base, offset: 2n ** 60n, key: Buffer.from([0xc3, 0x28]) }, () => undefined);
    traceMessage({ ...base, offset: 9_007_199_254_740_991n, key: 'text' }, () => undefined);
    const [unsafe, safe] = tracing.spans().slice(-2);
    expect(unsafe?.attributes['kafka.offset']).toBeUndefined();
    expect(unsafe?.attributes['kafka.message.key']).toBeUndefined();
    expect(safe?.attributes['kafka.offset']).toBe(Number.MAX_SAFE_INTEGER);
    expect(safe?.attributes['kafka.message.key']).toBe('text');
    expect(safe?.attributes['messaging.consumer.group.name']).toBe('given');
    expect(safe?.attributes['messaging.destination.partition.id']).toBe('3');
  });

  it('traceHandler rethrows a listener throw unchanged', () => {
    const failure = new Error('sync listener failure');
    const listener = traceHandler(() => {
      throw failure;
    });
    const message = { topic: 't', partition: 0, offset: 1n, headers: new Map() };
    expect(() => listener(message)).toThrow(failure);
    expect(tracing.spans().at(-1)?.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('consumer errors and redelivery', () => {
  it('a failed message, left uncommitted, comes again after a restart exactly as without tracing', async () => {
    const topic = unique('redeliver');
    await createTopics(client, [topic]);
    await raw.send({
      messages: ['a', 'fail-once', 'c'].map((value) => ({ topic, value: Buffer.from(value) })),
    });
    tracing.reset();

    /** Commits each message after handling it; on a failure stops without committing, then resumes in the group. */
    async function run(traced: boolean): Promise<string[]> {
      const traceMessage = messageTracer();
      const deliveries: string[] = [];
      let failed = false;
      const handle = (message: Message): void => {
        const value = message.value.toString();
        deliveries.push(value);
        if (value === 'fail-once' && !failed) {
          failed = true;
          throw new Error('first attempt fails');
        }
      };
      const groupId = unique('redeliver-group');
      for (let session = 0; session < 2; session++) {
        const consumer: Consumer = new client.Consumer({
          groupId,
          clientId: 'tracewire-tests',
          bootstrapBrokers: brokers(),
          maxWaitTime: 200,
          autocommit: false,
        });
        const stream = (await consumer.consume({
          topics: [topic],
          mode: client.MessagesStreamModes.COMMITTED,
          fallbackMode: client.MessagesStreamFallbackModes.EARLIEST,
          autocommit: false,
        })) as MessagesStream;
        try {
          for await (const message of stream) {
            try {
              if (traced) traceMessage(message, () => handle(message));
              else handle(message);
            } catch {
              break; // not committed: it comes again in the next session
            }
            await message.commit();
            if (message.value.toString() === 'c') break;
          }
        } finally {
          await stream.close().catch(() => undefined);
          await consumer.close(true);
        }
        if (deliveries.at(-1) === 'c') break;
      }
      return deliveries;
    }

    const plain = await run(false);
    const tracedDeliveries = await run(true);
    expect(plain).toEqual(['a', 'fail-once', 'fail-once', 'c']);
    expect(tracedDeliveries).toEqual(plain);
    const spans = processSpans(topic).sort(
      (x, y) => x.startTime[0] - y.startTime[0] || x.startTime[1] - y.startTime[1],
    );
    expect(spans).toHaveLength(plain.length);
    expect(spans.map((span) => span.status.code)).toEqual([
      SpanStatusCode.UNSET,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
      SpanStatusCode.UNSET,
    ]);
  });
});

describe('stream destroyed mid-batch', () => {
  it('every span ends, and the deliveries match an untraced consumer destroyed at the same point', async () => {
    const topic = unique('destroy');
    await createTopics(client, [topic]);
    const total = 12;
    await raw.send({
      messages: Array.from({ length: total }, (_, i) => ({ topic, value: Buffer.from(`m${i}`) })),
    });
    tracing.reset();

    /** Reads until the 5th message, destroys the stream while processing it, then resumes in the same group. */
    async function run(traced: boolean): Promise<string[]> {
      const traceMessage = messageTracer();
      const seen: string[] = [];
      const first = await consume(client, [topic]);
      const handle = async (message: Message): Promise<void> => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        seen.push(message.value.toString());
      };
      try {
        for await (const message of first.stream) {
          const work = async (): Promise<void> => {
            if (seen.length === 4) first.stream.destroy();
            await handle(message);
          };
          await (traced ? traceMessage(message, work) : work());
          if (seen.length >= 5) break;
        }
      } catch {
        // A destroyed stream may end the loop with an error; both runs treat it alike.
      }
      await first.consumer.close(true);
      const second = await consume(client, [topic], first.groupId);
      await readN(second.stream, second.consumer, total - seen.length, (message) =>
        traced ? traceMessage(message, () => handle(message)) : handle(message),
      );
      return seen;
    }

    const plain = await run(false);
    const tracedSeen = await run(true);
    expect(tracedSeen).toEqual(plain);
    expect(processSpans(topic)).toHaveLength(tracedSeen.length);
  });
});

describe('trust', () => {
  it("restart starts a new trace linked to the producer's context; ignore has no link; a function runs once per message", async () => {
    const topic = unique('trust');
    await createTopics(client, [topic]);
    await raw.send({
      messages: ['restart', 'ignore', 'continue'].map((mode) => ({
        topic,
        key: Buffer.from(mode),
        value: Buffer.from(mode),
        headers: new Map([header('traceparent', VALID)]),
      })),
    });
    tracing.reset();
    const calls: string[] = [];
    const traceMessage = messageTracer({
      trust: (message) => {
        const mode = String(message.key) as 'restart' | 'ignore' | 'continue';
        calls.push(mode);
        return mode;
      },
    });
    const { consumer, stream } = await consume(client, [topic]);
    await readN(stream, consumer, 3, (message) => traceMessage(message, () => undefined));
    expect(calls).toEqual(['restart', 'ignore', 'continue']);
    const byKey = (key: string) =>
      processSpans(topic).find((span) => span.attributes['kafka.message.key'] === key);
    const restart = byKey('restart');
    expect(parentSpanId(restart!)).toBeUndefined();
    expect(restart?.spanContext().traceId).not.toBe(VALID.slice(3, 35));
    expect(restart?.links.map((link) => link.context.spanId)).toEqual([VALID.slice(36, 52)]);
    const ignore = byKey('ignore');
    expect(parentSpanId(ignore!)).toBeUndefined();
    expect(ignore?.links).toHaveLength(0);
    const continued = byKey('continue');
    expect(parentSpanId(continued!)).toBe(VALID.slice(36, 52));
    expect(continued?.links.map((link) => link.context.spanId)).toEqual([VALID.slice(36, 52)]);
  });

  it('bad options fail when the helper is made', () => {
    expect(() => messageTracer({ trust: 'sometimes' as 'continue' })).toThrow(TypeError);
    expect(() => messageTracer({ groupId: 7 as unknown as string })).toThrow(TypeError);
    expect(() => traceHandler(undefined as unknown as () => void)).toThrow(TypeError);
  });
});
