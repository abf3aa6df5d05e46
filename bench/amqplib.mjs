// amqplib end to end through a real RabbitMQ: publish and consume 10,000 messages of 1 KB (each
// consumed message acked), bare channels against channels wrapped by traceChannel, with an SDK
// that records every span (BatchSpanProcessor into an exporter that discards them).
// Target: wrapped time / bare time <= 1.10, the median of paired, alternating rounds.
// A third variant, bare channels sending a fixed traceparent header, measures what carrying any
// header costs amqplib and the broker by itself, so the wrapper's own share can be read off.
// Broker: AMQP_URL, else the repo's launcher (tools/brokers) finds or starts one.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { traceChannel } from '@tracewire/amqplib';
import amqp from 'amqplib';
import { up } from '../tools/brokers/index.mjs';
import { median, printTable } from './measure.mjs';
import { registerRecordingSdk } from './recording-sdk.mjs';

const MESSAGES = Number(process.env.BENCH_AMQP_MESSAGES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_AMQP_ROUNDS ?? 7);
const PREFETCH = 200;
const BODY = randomBytes(1024);

const { provider, counter } = registerRecordingSdk({ maxQueueSize: 4 * MESSAGES });

const url = process.env.AMQP_URL?.trim() || (await up({ docker: false })).amqpUrl;
// Publisher and consumer on connections of their own, as two services would be.
const [publisherConnection, consumerConnection] = await Promise.all([amqp.connect(url), amqp.connect(url)]);
const admin = await publisherConnection.createChannel();

const FIXED_HEADERS = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
const VARIANTS = {
  bare: { traced: false, headers: undefined },
  'bare + header': { traced: false, headers: FIXED_HEADERS },
  wrapped: { traced: true, headers: undefined },
};

/** One round: publish MESSAGES (waiting on 'drain' when amqplib says so), consume and ack them all. */
async function round({ traced, headers }) {
  const { queue } = await admin.assertQueue(`tw-bench-${randomBytes(4).toString('hex')}`, {
    durable: false,
    autoDelete: false,
  });
  const rawPublisher = await publisherConnection.createChannel();
  const rawConsumer = await consumerConnection.createChannel();
  const publisher = traced ? traceChannel(rawPublisher) : rawPublisher;
  const consumer = traced ? traceChannel(rawConsumer) : rawConsumer;
  await consumer.prefetch(PREFETCH);

  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  let received = 0;
  const consumed = new Promise((resolve) => {
    consumer.consume(queue, (message) => {
      consumer.ack(message);
      if (++received === MESSAGES) resolve();
    });
  });
  for (let i = 0; i < MESSAGES; i++) {
    const options = { messageId: String(i), contentType: 'application/octet-stream', headers };
    if (!publisher.sendToQueue(queue, BODY, options)) await once(rawPublisher, 'drain');
  }
  await consumed;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);

  await Promise.all([rawPublisher.close(), rawConsumer.close()]);
  await admin.deleteQueue(queue);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

for (const variant of Object.values(VARIANTS)) await round(variant);
await provider.forceFlush();
counter.exported = 0;

const names = Object.keys(VARIANTS);
const samples = Object.fromEntries(names.map((name) => [name, []]));
const ratios = { wall: [], cpu: [], wallHeader: [], cpuHeader: [] };
for (let i = 0; i < ROUNDS; i++) {
  const order = i % 2 ? [...names].reverse() : names;
  const set = {};
  for (const name of order) {
    set[name] = await round(VARIANTS[name]);
    samples[name].push(set[name]);
  }
  ratios.wall.push(set.wrapped.seconds / set.bare.seconds);
  ratios.cpu.push(set.wrapped.cpuSeconds / set.bare.cpuSeconds);
  ratios.wallHeader.push(set.wrapped.seconds / set['bare + header'].seconds);
  ratios.cpuHeader.push(set.wrapped.cpuSeconds / set['bare + header'].cpuSeconds);
}
await provider.forceFlush();

const rate = (list) =>
  `${Math.round(MESSAGES / median(list.map((s) => s.seconds))).toLocaleString('en-US')} msg/s`;
const cpuPerMessage = (list) =>
  `${((median(list.map((s) => s.cpuSeconds)) / MESSAGES) * 1e6).toFixed(1)} µs CPU/msg`;
printTable(
  `amqplib: publish + consume + ack ${MESSAGES.toLocaleString('en-US')} x 1 KB, ${ROUNDS} alternating rounds`,
  [
    ['bare channels', rate(samples.bare), cpuPerMessage(samples.bare)],
    ['bare channels + fixed header', rate(samples['bare + header']), cpuPerMessage(samples['bare + header'])],
    ['traceChannel (publish + consume)', rate(samples.wrapped), cpuPerMessage(samples.wrapped)],
  ],
);
printTable('ratios (median over rounds; each ratio within one round)', [
  ['wrapped / bare wall time', median(ratios.wall).toFixed(3), 'target <= 1.10'],
  ['wrapped / bare CPU time (this process)', median(ratios.cpu).toFixed(3), 'the broker runs elsewhere'],
  ['wrapped / bare+header wall time', median(ratios.wallHeader).toFixed(3), "the wrapper's own share"],
  ['wrapped / bare+header CPU time', median(ratios.cpuHeader).toFixed(3), ''],
]);
console.log(
  `\n  spans exported: ${counter.exported.toLocaleString('en-US')} (expected ${(2 * MESSAGES * ROUNDS).toLocaleString('en-US')})`,
);

await Promise.all([publisherConnection.close(), consumerConnection.close()]);
await provider.shutdown();
