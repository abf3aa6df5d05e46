// gRPC benchmark: unary calls on loopback (client and server in one process), three variants
// measured in alternating rounds with the same number of calls each:
//   bare       grpc-js with no tracing
//   tracewire  @tracewire/grpc client + server interceptors
//   otel       @opentelemetry/instrumentation-grpc, which patches grpc-js through a require
//              hook, so it runs in a child process that registers it before loading grpc-js
// Both traced variants record every span with the SDK (BatchSpanProcessor, an exporter that
// counts and discards). Prints calls/s and the ratios tracewire/bare and tracewire/otel.
//
//   node bench/grpc.mjs            (build first: cd packages/grpc && npm run build)
//   CALLS=2000 ROUNDS=7 CONCURRENCY=8 node bench/grpc.mjs   (the defaults)
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { median, printTable } from './measure.mjs';

const CALLS = Number(process.env.CALLS ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const WARMUP_ROUNDS = 1;
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const require = createRequire(import.meta.url);

// --- shared by the parent and the OTel child -------------------------------------------------

const identity = (buffer) => buffer;
const SERVICE = {
  Echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'echo',
  },
};
const PAYLOAD = Buffer.from('tracewire grpc benchmark payload');

/** Counts what the SDK would export, then drops it. */
class CountingExporter {
  spans = 0;
  client = 0;
  server = 0;
  joined = 0;
  export(spans, done) {
    for (const span of spans) {
      this.spans++;
      if (span.kind === 2) this.client++;
      if (span.kind === 1) {
        this.server++;
        if (span.parentSpanContext?.spanId) this.joined++;
      }
    }
    done({ code: 0 });
  }
  shutdown() {
    return Promise.resolve();
  }
  forceFlush() {
    return Promise.resolve();
  }
}

function startSdk() {
  const exporter = new CountingExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 1024 })],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return { exporter, provider };
}

async function startPair(grpc, { serverOptions = {}, clientOptions = {} } = {}) {
  const server = new grpc.Server(serverOptions);
  server.addService(SERVICE, { Echo: (call, callback) => callback(null, call.request) });
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), clientOptions);
  const call = (callback) => client.Echo(PAYLOAD, callback);
  await runCalls(call, 50, 1); // connect
  return {
    call,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

/**
 * `calls` unary calls, `concurrency` in flight at a time; resolves with the wall-clock seconds
 * taken and the process's CPU seconds (user + system), which other load on the machine disturbs less.
 */
function runCalls(call, calls, concurrency) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    let started = 0;
    let finished = 0;
    const next = () => {
      if (started >= calls) return;
      started++;
      call((error) => {
        if (error) return reject(error);
        if (++finished === calls) {
          const cpu = process.cpuUsage(cpuStart);
          resolve({
            seconds: Number(process.hrtime.bigint() - start) / 1e9,
            cpu: (cpu.user + cpu.system) / 1e6,
          });
        } else next();
      });
    };
    for (let i = 0; i < Math.min(concurrency, calls); i++) next();
  });
}

// --- the OTel child ----------------------------------------------------------------------------

async function otelChild() {
  const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
  const { GrpcInstrumentation } = await import('@opentelemetry/instrumentation-grpc');
  const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } = await import(
    '@opentelemetry/core'
  );
  const { exporter, provider } = startSdk();
  // What the OTel Node SDK registers by default.
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  registerInstrumentations({ instrumentations: [new GrpcInstrumentation()], tracerProvider: provider });
  // Only now, so the require hook patches it.
  const grpc = require('@grpc/grpc-js');
  const pair = await startPair(grpc);
  let calls = 0;
  process.on('message', async (message) => {
    if (message.type === 'round') {
      const result = await runCalls(pair.call, message.calls, message.concurrency);
      calls += message.calls;
      process.send({ type: 'round', result });
    } else if (message.type === 'finish') {
      await provider.forceFlush();
      pair.close();
      process.send({ type: 'finish', counts: countsOf(exporter, calls) });
      process.disconnect();
    }
  });
  process.send({ type: 'ready' });
}

function countsOf(exporter, calls) {
  const { spans, client, server, joined } = exporter;
  return { calls, spans, client, server, joined };
}

function childVariant() {
  const child = fork(fileURLToPath(import.meta.url), ['--otel-child'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replies = [];
  let waiting;
  child.on('message', (message) => {
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve(message);
    } else replies.push(message);
  });
  const nextMessage = () =>
    replies.length > 0 ? Promise.resolve(replies.shift()) : new Promise((resolve) => (waiting = resolve));
  return {
    ready: nextMessage(),
    async run(calls, concurrency) {
      child.send({ type: 'round', calls, concurrency });
      return (await nextMessage()).result;
    },
    async finish() {
      child.send({ type: 'finish' });
      return (await nextMessage()).counts;
    },
  };
}

// --- the parent --------------------------------------------------------------------------------

async function main() {
  const grpc = require('@grpc/grpc-js');
  let tracewire;
  try {
    tracewire = await import('@tracewire/grpc');
  } catch (error) {
    console.error('Build @tracewire/grpc first: cd packages/grpc && npm run build\n', error);
    process.exit(1);
  }
  const { exporter, provider } = startSdk();
  const bare = await startPair(grpc);
  const traced = await startPair(grpc, {
    serverOptions: { interceptors: [tracewire.serverInterceptor()] },
    clientOptions: { interceptors: [tracewire.clientInterceptor()] },
  });
  const otel = childVariant();
  await otel.ready;

  const variants = {
    bare: (calls) => runCalls(bare.call, calls, CONCURRENCY),
    tracewire: (calls) => runCalls(traced.call, calls, CONCURRENCY),
    otel: (calls) => otel.run(calls, CONCURRENCY),
  };
  const names = Object.keys(variants);
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  const cpuSamples = Object.fromEntries(names.map((name) => [name, []]));
  let tracewireCalls = 0;
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    // Rotate the order so no variant always runs first or last.
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const { seconds, cpu } = await variants[name](CALLS);
      if (name === 'tracewire') tracewireCalls += CALLS;
      if (round >= WARMUP_ROUNDS) {
        samples[name].push(CALLS / seconds);
        cpuSamples[name].push((cpu / CALLS) * 1e6);
      }
    }
  }

  await provider.forceFlush();
  const tracewireCounts = countsOf(exporter, tracewireCalls);
  const otelCounts = await otel.finish();
  bare.close();
  traced.close();

  const rate = Object.fromEntries(names.map((name) => [name, median(samples[name])]));
  const cpuPerCall = Object.fromEntries(names.map((name) => [name, median(cpuSamples[name])]));
  const format = (value) => `${Math.round(value).toLocaleString('en-US')} calls/s`;
  printTable(
    `gRPC unary calls on loopback (${CALLS} calls x ${ROUNDS} rounds per variant, ${CONCURRENCY} in flight, median)`,
    names.map((name) => [name, format(rate[name]), `${cpuPerCall[name].toFixed(1)} µs CPU/call`]),
  );
  const tracewireVsBare = rate.tracewire / rate.bare;
  const tracewireVsOtel = rate.tracewire / rate.otel;
  printTable('Ratios', [
    [
      'tracewire / bare',
      tracewireVsBare.toFixed(3),
      `target >= 0.85 ${tracewireVsBare >= 0.85 ? 'met' : 'NOT met'}`,
    ],
    ['tracewire / otel', tracewireVsOtel.toFixed(3), `target > 1 ${tracewireVsOtel > 1 ? 'met' : 'NOT met'}`],
    ['otel / bare', (rate.otel / rate.bare).toFixed(3)],
    [
      'by CPU time: tracewire / bare',
      (cpuPerCall.bare / cpuPerCall.tracewire).toFixed(3),
      '(bare CPU/call ÷ tracewire CPU/call)',
    ],
    ['by CPU time: tracewire / otel', (cpuPerCall.otel / cpuPerCall.tracewire).toFixed(3)],
  ]);
  const describe = ({ calls, spans, client, server, joined }) =>
    `${(spans / calls).toFixed(2)} spans/call (CLIENT ${client}, SERVER ${server}, SERVER spans with a parent ${joined})`;
  printTable('Spans recorded (check that both traced variants trace)', [
    ['tracewire', describe(tracewireCounts)],
    ['otel', describe(otelCounts)],
  ]);
  for (const [name, counts] of [
    ['tracewire', tracewireCounts],
    ['otel', otelCounts],
  ]) {
    if (counts.client < counts.calls || counts.server < counts.calls || counts.joined < counts.calls) {
      console.warn(`\nWARNING: ${name} did not record a CLIENT and a joined SERVER span for every call.`);
    }
  }
}

if (process.argv.includes('--otel-child')) await otelChild();
else await main();
