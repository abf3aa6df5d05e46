// amqplib through the real RabbitMQ. publish: a round publishes its messages on a confirm channel
// and waits for the confirms (the queue is purged before each round, outside the measured CPU).
// consume: before each round the queue is filled with messages carrying the caller's traceparent;
// the round consumes and acks them all, PREFETCH unacked at a time.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { TRACEPARENT, TRACE_ID } from '../constants.mjs';
import { endLike, floorTracer, pick, startFrom, withKey } from '../floor.mjs';

const require = createRequire(import.meta.url);
const PREFETCH = 200;
const BODY = randomBytes(256);

export async function setup(row, variant, { template, env, parent }) {
  const amqp = require('amqplib');
  const connection = await amqp.connect(env.amqpUrl);
  const admin = await connection.createConfirmChannel();
  const queue = `tw-bench-${row.id}-${variant}-${randomBytes(4).toString('hex')}`;
  await admin.assertQueue(queue, { durable: false, autoDelete: false });
  const close = async () => {
    await admin.deleteQueue(queue).catch(() => {});
    await connection.close();
  };
  let traceChannel;
  if (variant === 'tracewire') ({ traceChannel } = await import('@tracewire/amqplib'));
  const tracer = floorTracer();

  if (row.id === 'amqp-publish') {
    const raw = await connection.createConfirmChannel();
    const channel = traceChannel ? traceChannel(raw) : raw;
    const shape = variant === 'floor' ? pick(template, 3) : undefined;
    // A headers object per message, as any instrumentation writing a per-message header needs:
    // amqplib makes the given headers the prototype of its own, which costs ~1 µs for an object
    // new to it, and nothing for one object reused for every publish.
    const header = () => ({ traceparent: TRACEPARENT });
    return {
      prepare: () => admin.purgeQueue(queue),
      async run(n) {
        for (let i = 0; i < n; i++) {
          const options = { messageId: String(i), contentType: 'application/octet-stream' };
          let ok;
          if (shape) {
            const span = startFrom(tracer, shape, undefined);
            ok = channel.publish('', queue, BODY, withKey(options, 'headers', header()), () =>
              endLike(span, shape),
            );
          } else ok = channel.publish('', queue, BODY, options);
          if (!ok) await once(raw, 'drain');
        }
        await channel.waitForConfirms();
      },
      async verify() {
        const message = await admin.get(queue, { noAck: true });
        const header = message ? message.properties.headers?.traceparent : undefined;
        return {
          header: header ?? null,
          propagated: typeof header === 'string' && !header.includes(TRACE_ID),
        };
      },
      close,
    };
  }

  // consume + ack
  const raw = await connection.createChannel();
  const channel = traceChannel ? traceChannel(raw) : raw;
  await channel.prefetch(PREFETCH);
  const shape = variant === 'floor' ? pick(template, 4) : undefined;
  const header = { traceparent: TRACEPARENT };
  return {
    async prepare(n) {
      for (let i = 0; i < n; i++) {
        const ok = admin.sendToQueue(queue, BODY, { messageId: String(i), headers: header });
        if (!ok) await once(admin, 'drain');
      }
      await admin.waitForConfirms();
    },
    async run(n) {
      let received = 0;
      let done;
      const consumed = new Promise((resolve) => {
        done = resolve;
      });
      const onMessage = shape
        ? (message) => {
            // The header read with amqplib's own API; no parsing.
            if (message.properties.headers.traceparent === undefined) throw new Error('no traceparent');
            const span = startFrom(tracer, shape, parent);
            context.with(trace.setSpan(parent, span), () => {
              channel.ack(message);
              endLike(span, shape);
              if (++received === n) done();
            });
          }
        : (message) => {
            channel.ack(message);
            if (++received === n) done();
          };
      const { consumerTag: tag } = await channel.consume(queue, onMessage);
      await consumed;
      await channel.cancel(tag);
    },
    close,
  };
}
