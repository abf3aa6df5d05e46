// @platformatic/kafka end to end through a real broker: produce 10,000 messages of 1 KB (100 per
// send, 4 sends in flight) and consume them with `for await`, in four variants:
//   bare      the client alone;
//   floor     the same spans as tracewire made by hand with the bare OTel API, plus the header:
//             a PRODUCER create span per message with its traceparent written into the message,
//             a CLIENT send span linking to them; per message a CONSUMER process span parented
//             on (and linked to) the parsed traceparent, the handler run in its context;
//   tracewire traceProducer + messageTracer;
//   channels  the alternative design, a subscriber to the client's diagnostics channels
//             (plt:kafka:producer:sends start: spans + headers; plt:kafka:consumer:receives:
//             a span per message around the client's push, which is all that channel brackets).
// Target (issue #15): tracewire/floor <= 1.15, the median of per-round ratios of paired,
// alternating rounds. 2.x on Node >= 22.22 / 24.6, 1.x (the `platformatic-kafka1` alias) else.
// Broker: KAFKA_BROKERS, else the repo's launcher (tools/brokers) finds or starts one.
import { randomBytes } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { SpanKind, TraceFlags, context, trace } from '@opentelemetry/api';
import { messageTracer, traceProducer } from '@tracewire/platformatic-kafka';
import { up } from '../tools/brokers/index.mjs';
import { median, printTable } from './measure.mjs';
import { registerRecordingSdk } from './recording-sdk.mjs';

const MESSAGES = Number(process.env.BENCH_KAFKA_MESSAGES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_KAFKA_ROUNDS ?? 4);
const PER_SEND = Number(process.env.BENCH_KAFKA_PER_SEND ?? 100);
const IN_FLIGHT = Number(process.env.BENCH_KAFKA_IN_FLIGHT ?? 4);
const VALUE = Buffer.from(randomBytes(512).toString('hex')); // 1 KB
const VARIANTS = ['bare', 'floor', 'tracewire', 'channels'];

const [major, minor] = process.versions.node.split('.').map(Number);
const has2x = major > 24 || (major === 24 && minor >= 6) || (major === 22 && minor >= 22) || major === 23;
const kafka = await import(has2x ? '@platformatic/kafka' : 'platformatic-kafka1');
const manifest = new URL(
  `../node_modules/${has2x ? '@platformatic/kafka' : 'platformatic-kafka1'}/package.json`,
  import.meta.url,
);
const { version } = JSON.parse(readFileSync(manifest, 'utf8'));

const { provider, counter } = registerRecordingSdk({ maxQueueSize: 8 * MESSAGES });
const tracer = provider.getTracer('bench-floor');

const brokers = (process.env.KAFKA_BROKERS?.trim() || (await up({ docker: false })).kafkaBrokers).split(',');
const admin = new kafka.Admin({ clientId: 'tracewire-bench', bootstrapBrokers: brokers });
const rawProducer = new kafka.Producer({ clientId: 'tracewire-bench', bootstrapBrokers: brokers });
const tracedProducer = traceProducer(rawProducer);

function attributes(operation, topic) {
  return {
    'messaging.system': 'kafka',
    'messaging.system.name': 'kafka',
    'messaging.operation.type': operation,
    'messaging.operation.name': operation,
    'messaging.destination.name': topic,
  };
}

const TRACEPARENT = Buffer.from('traceparent');

function traceparentOf(span) {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return Buffer.from(`00-${traceId}-${spanId}-${traceFlags & TraceFlags.SAMPLED ? '01' : '00'}`, 'latin1');
}

/** The floor's producer: create spans with their header, one linking CLIENT send span. */
const floorProducer = {
  async send(options) {
    const parent = context.active();
    const links = [];
    const creates = [];
    const messages = options.messages.map((message) => {
      const topic = message.topic;
      const messageAttributes = attributes('create', topic);
      messageAttributes['kafka.message.key'] = message.key.toString();
      messageAttributes['messaging.message.body.size'] = message.value.length;
      const span = tracer.startSpan(
        `create ${topic}`,
        { kind: SpanKind.PRODUCER, attributes: messageAttributes },
        parent,
      );
      creates.push(span);
      links.push({ context: span.spanContext() });
      const headers = new Map(message.headers);
      headers.set(TRACEPARENT, traceparentOf(span));
      return { ...message, headers };
    });
    const sendAttributes = attributes('send', options.messages[0].topic);
    sendAttributes['messaging.batch.message_count'] = messages.length;
    const send = tracer.startSpan(
      `send ${options.messages[0].topic}`,
      { kind: SpanKind.CLIENT, attributes: sendAttributes, links },
      parent,
    );
    try {
      return await rawProducer.send({ ...options, messages });
    } finally {
      for (const span of creates) span.end();
      send.end();
    }
  },
};

const HEX = /^[0-9a-f]+$/;

/** The floor's consumer span: the traceparent parsed by hand, parent and link, handler in context. */
function floorProcess(message, handle) {
  let parent = context.active();
  let links;
  for (const [name, value] of message.headers) {
    if (name.length !== 11 || name.toString('latin1') !== 'traceparent' || value.length !== 55) continue;
    const text = value.toString('latin1');
    const traceId = text.slice(3, 35);
    const spanId = text.slice(36, 52);
    if (!HEX.test(traceId) || !HEX.test(spanId)) continue;
    const remote = {
      traceId,
      spanId,
      traceFlags: Number.parseInt(text.slice(53, 55), 16) & 1,
      isRemote: true,
    };
    parent = trace.setSpanContext(parent, remote);
    links = [{ context: remote }];
  }
  const processAttributes = attributes('process', message.topic);
  processAttributes['messaging.destination.partition.id'] = String(message.partition);
  processAttributes['messaging.consumer.group.name'] = message.metadata.consumer.groupId;
  processAttributes['kafka.offset'] = Number(message.offset);
  processAttributes['kafka.message.key'] = message.key.toString();
  processAttributes['messaging.message.body.size'] = message.value.length;
  const span = tracer.startSpan(
    `process ${message.topic}`,
    { kind: SpanKind.CONSUMER, attributes: processAttributes, links },
    parent,
  );
  try {
    return context.with(trace.setSpan(parent, span), handle);
  } finally {
    span.end();
  }
}

/** The channels design, subscribed only while its own rounds run (the channels are process-wide). */
const channels = {
  sends: diagnostics.tracingChannel('plt:kafka:producer:sends'),
  receives: diagnostics.tracingChannel('plt:kafka:consumer:receives'),
  spans: new WeakMap(),
  handlers: undefined,
  subscribe() {
    const spans = this.spans;
    const sends = {
      start(event) {
        const created = [];
        event.options.messages = event.options.messages.map((message) => {
          const span = tracer.startSpan(`create ${message.topic}`, {
            kind: SpanKind.PRODUCER,
            attributes: attributes('create', message.topic),
          });
          created.push(span);
          const headers = new Map(message.headers);
          headers.set(TRACEPARENT, traceparentOf(span));
          return { ...message, headers };
        });
        spans.set(event, created);
      },
      asyncStart(event) {
        for (const span of spans.get(event) ?? []) span.end();
      },
      end() {},
      asyncEnd() {},
      error() {},
    };
    const receives = {
      start() {},
      asyncStart(event) {
        const message = event.result;
        const span = tracer.startSpan(`process ${message.topic}`, {
          kind: SpanKind.CONSUMER,
          attributes: attributes('process', message.topic),
        });
        spans.set(event, span);
      },
      asyncEnd(event) {
        spans.get(event)?.end();
      },
      end() {},
      error() {},
    };
    this.sends.subscribe(sends);
    this.receives.subscribe(receives);
    this.handlers = { sends, receives };
  },
  unsubscribe() {
    if (!this.handlers) return;
    this.sends.unsubscribe(this.handlers.sends);
    this.receives.unsubscribe(this.handlers.receives);
    this.handlers = undefined;
  },
};

const created = [];

/** A consumer stream per variant on its own topic, read with for await until the benchmark ends. */
async function startLane(variant) {
  const id = randomBytes(4).toString('hex');
  const lane = {
    topic: `tracewire-bench-plt-${variant}-${id}`,
    count: 0,
    target: Number.POSITIVE_INFINITY,
    done: () => {},
  };
  await admin.createTopics({ topics: [lane.topic], partitions: 1, replicas: 1 });
  created.push(lane.topic);
  lane.consumer = new kafka.Consumer({
    groupId: `tracewire-bench-${id}`,
    clientId: 'tracewire-bench',
    bootstrapBrokers: brokers,
    maxWaitTime: 100,
  });
  lane.stream = await lane.consumer.consume({
    topics: [lane.topic],
    mode: kafka.MessagesStreamModes.EARLIEST,
  });
  const traceMessage = messageTracer();
  const handle = () => {
    lane.count++;
    if (lane.count >= lane.target) lane.done();
  };
  lane.reading = (async () => {
    for await (const message of lane.stream) {
      if (variant === 'tracewire') traceMessage(message, handle);
      else if (variant === 'floor') floorProcess(message, handle);
      else handle();
    }
  })().catch(() => {});
  return lane;
}

/** One timed run: produce MESSAGES into the lane's topic and wait until its reader drained them. */
async function run(lane, variant) {
  const drained = new Promise((resolve) => {
    lane.done = resolve;
  });
  lane.target = lane.count + MESSAGES;
  const producer = {
    bare: rawProducer,
    floor: floorProducer,
    tracewire: tracedProducer,
    channels: rawProducer,
  }[variant];
  if (variant === 'channels') channels.subscribe();
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  let next = 0;
  const sender = async () => {
    while (next < MESSAGES) {
      const from = next;
      next = Math.min(MESSAGES, next + PER_SEND);
      const messages = [];
      for (let i = from; i < next; i++)
        messages.push({ topic: lane.topic, key: Buffer.from(`key-${i}`), value: VALUE });
      await producer.send({ messages });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
  await drained;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  channels.unsubscribe();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const samples = Object.fromEntries(VARIANTS.map((variant) => [variant, []]));
const lanes = {};
try {
  for (const variant of VARIANTS) lanes[variant] = await startLane(variant);
  for (const variant of VARIANTS) await run(lanes[variant], variant); // warm-up, not counted
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...VARIANTS].reverse() : VARIANTS;
    for (const variant of order) samples[variant].push(await run(lanes[variant], variant));
  }
} finally {
  for (const lane of Object.values(lanes)) {
    await lane.stream.close().catch(() => {});
    await lane.consumer.close(true).catch(() => {});
  }
  await admin.deleteTopics({ topics: created }).catch(() => {});
  await rawProducer.close();
  await admin.close();
  await provider.forceFlush();
  await provider.shutdown();
}

const rate = (list) =>
  `${Math.round(MESSAGES / median(list.map((r) => r.seconds))).toLocaleString('en-US')} msg/s`;
const cpu = (list) => `cpu ${median(list.map((r) => r.cpuSeconds)).toFixed(2)} s`;
/** Median of the per-round ratios: each round's runs ran back to back, so they share conditions. */
const ratio = (over, under, field) => median(over.map((result, i) => result[field] / under[i][field]));
const rows = VARIANTS.map((variant) => [variant, rate(samples[variant]), cpu(samples[variant])]);
const { bare, floor, tracewire } = samples;
const time = ratio(tracewire, floor, 'seconds');
rows.push([
  'tracewire/floor time',
  `${time.toFixed(3)}x`,
  `target <= 1.15 ${time <= 1.15 ? 'met' : 'MISSED'}`,
]);
rows.push([
  'tracewire/floor CPU',
  `${ratio(tracewire, floor, 'cpuSeconds').toFixed(3)}x`,
  'this process only',
]);
rows.push(['floor/bare time', `${ratio(floor, bare, 'seconds').toFixed(3)}x`, 'the spans and header alone']);
rows.push(['tracewire/bare time', `${ratio(tracewire, bare, 'seconds').toFixed(3)}x`]);
rows.push([
  'channels/bare time',
  `${ratio(samples.channels, bare, 'seconds').toFixed(3)}x`,
  'fewer attributes; receive spans only',
]);
printTable(
  `@platformatic/kafka ${version} produce + consume, ${MESSAGES.toLocaleString('en-US')} x 1 KB per run (${PER_SEND} per send, ${IN_FLIGHT} in flight), median of ${ROUNDS} paired rounds (node ${process.version}; ${counter.exported.toLocaleString('en-US')} spans exported)`,
  rows,
);
