// One variant of one benchmark row, in a process of its own so that its CPU time (process.cpuUsage)
// is its own, and so that OpenTelemetry's instrumentations can be registered before the library
// loads. Driven over IPC by bench/suite/orchestrate.mjs.
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { REMOTE_CONTEXT } from './constants.mjs';
import { registerOtel } from './otel.mjs';
import { startSdk } from './sdk.mjs';
import { ROWS } from './rows.mjs';

const send = (message) => process.send(message);
const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let state;

// BENCH_PROFILE_DIR: a CPU profile of the measured rounds only (not start-up, not the sample).
const profileDir = process.env.BENCH_PROFILE_DIR;
const profiler = {
  started: false,
  ops: 0,
  session: undefined,
  async start() {
    this.started = true;
    if (!profileDir) return;
    const { Session } = await import('node:inspector/promises');
    this.session = new Session();
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.setSamplingInterval', { interval: 250 });
    await this.session.post('Profiler.start');
  },
  async stop({ row, variant }) {
    if (!this.session) return;
    const { profile } = await this.session.post('Profiler.stop');
    this.session.disconnect();
    this.session = undefined;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      `${profileDir}/${row.id}-${variant}.cpuprofile`,
      JSON.stringify({ ...profile, ops: this.ops }),
    );
  },
};

/** A round's set-up (filling a queue, say), traced by no one: an instrumentation must not see it. */
function prepare(instance, n) {
  if (!instance.prepare) return undefined;
  return context.with(suppressTracing(context.active()), () => instance.prepare(n));
}

async function init({ row: rowId, variant, mode, template, env }) {
  const row = ROWS[rowId];
  const sdk = await startSdk({ mode, variant, otlpUrl: env.otlpUrl });
  if (variant === 'otel') await registerOtel(row, sdk.provider);
  // Only now: the transport requires its library, after any instrumentation's require hook.
  const transport = await import(`./transports/${row.transport}.mjs`);
  const instance = await transport.setup(row, variant, { template, env, parent: REMOTE_CONTEXT });
  state = { row, variant, sdk, instance };
  send({ type: 'ready', port: instance.port, unavailable: instance.unavailable });
}

async function handle(message) {
  const { sdk, instance } = state ?? {};
  switch (message.type) {
    case 'init':
      return init(message);
    case 'cpu':
      if (message.ops && !profiler.started) await profiler.start();
      profiler.ops += message.ops ?? 0;
      // Rows driven from the parent: a round starts with the `cpu` asking for `ops` and ends with the next.
      if (sdk.serializing) {
        sdk.serializing.measuring = Boolean(message.ops);
        sdk.serializing.ops += message.ops ?? 0;
      }
      return send({ type: 'cpu', cpu: cpuNow() });
    case 'round': {
      if (!profiler.started) await profiler.start();
      profiler.ops += message.n;
      await prepare(instance, message.n);
      if (sdk.serializing) {
        sdk.serializing.measuring = true;
        sdk.serializing.ops += message.n;
      }
      const before = cpuNow();
      await instance.run(message.n);
      const cpu = cpuNow() - before;
      if (sdk.serializing) sdk.serializing.measuring = false;
      return send({ type: 'round', cpu });
    }
    case 'sample-start':
      await settle(50);
      sdk.recorder.samples = [];
      await prepare(instance, message.n);
      sdk.recorder.sampling = true;
      if (instance.run) await instance.run(message.n);
      return send({ type: 'sample-started' });
    case 'sample-end': {
      await settle(100);
      sdk.recorder.sampling = false;
      const shapes = sdk.recorder.samples.sort((a, b) => a.start - b.start);
      return send({ type: 'sample', shapes });
    }
    case 'keep':
      sdk.recorder.kept = [];
      sdk.recorder.keep = message.spans;
      return send({ type: 'kept' });
    case 'serialize': {
      const inPath = sdk.serializing;
      return send({
        type: 'serialize',
        ...(await serializeCost(sdk.recorder.kept)),
        inPathUsPerOp: inPath?.ops ? inPath.cpuUs / inPath.ops : Number.NaN,
      });
    }
    case 'stats': {
      await profiler.stop(state);
      await settle(100);
      await sdk.flush();
      const check = instance.verify ? await instance.verify() : undefined;
      return send({ type: 'stats', counts: sdk.recorder.counts(), check });
    }
    case 'exit':
      await instance?.close?.();
      await sdk?.flush?.();
      process.exit(0);
  }
}

/** CPU per span of turning recorded spans into an OTLP protobuf request: the exporter's own work. */
async function serializeCost(spans) {
  if (spans.length === 0) return { usPerSpan: Number.NaN, spans: 0 };
  const { ProtobufTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  const batch = spans.slice(0, 512);
  for (let i = 0; i < 20; i++) ProtobufTraceSerializer.serializeRequest(batch);
  const times = [];
  for (let round = 0; round < 9; round++) {
    const before = cpuNow();
    for (let i = 0; i < 20; i++) ProtobufTraceSerializer.serializeRequest(batch);
    times.push((cpuNow() - before) / (20 * batch.length));
  }
  times.sort((a, b) => a - b);
  return { usPerSpan: times[4], spans: batch.length };
}

// Never outlive the run that started this process.
process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  handle(message).catch((error) => {
    console.error(
      `[bench child ${state?.row?.id ?? message.row} ${state?.variant ?? message.variant}]`,
      error,
    );
    process.exit(1);
  });
});
