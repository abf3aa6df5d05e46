// Outgoing HTTP benchmark: the cost of @tracewire/http's CLIENT spans and header injection,
// against the same client untraced, in the same run. A real OpenTelemetry SDK records every span
// (always-on sampler, no exporter). Numbers are only compared within this run.
//   node bench/http-client.mjs            (build packages/http first: npm run build -w @tracewire/http)
import http from 'node:http';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOnSampler, BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { traceFetch, traceInterceptor, traceRequest } from '@tracewire/http';
import { Agent, request as undiciRequest } from 'undici';
import { formatRate, median, printTable } from './measure.mjs';

const REQUESTS = Number(process.env.REQUESTS ?? 800);
const CONCURRENCY = 8;
const ROUNDS = Number(process.env.ROUNDS ?? 5);

trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler: new AlwaysOnSampler() }));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const tracer = trace.getTracer('bench');

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end('ok'));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/orders?id=1`;

const agent = new Agent({ connections: CONCURRENCY });
const tracedAgent = new Agent({ connections: CONCURRENCY }).compose(traceInterceptor());
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const tracedFetch = traceFetch(fetch);
const tracedRequest = traceRequest()(http.request);

function nodeGet(requestFn) {
  return () =>
    new Promise((resolve, reject) => {
      const req = requestFn(url, { agent: keepAlive });
      req.on('response', (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
}

// Pairs of [untraced, traced]; each request runs inside a parent span, as in a server handler.
const pairs = {
  fetch: [async () => (await fetch(url)).text(), async () => (await tracedFetch(url)).text()],
  'undici.request': [
    async () => (await undiciRequest(url, { dispatcher: agent })).body.text(),
    async () => (await undiciRequest(url, { dispatcher: tracedAgent })).body.text(),
  ],
  'http.request': [nodeGet(http.request), nodeGet(tracedRequest)],
};

async function run(fn) {
  let next = 0;
  const parent = tracer.startSpan('handler');
  const active = trace.setSpan(context.active(), parent);
  const start = process.hrtime.bigint();
  await context.with(active, () =>
    Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < REQUESTS) await fn();
      }),
    ),
  );
  parent.end();
  return REQUESTS / (Number(process.hrtime.bigint() - start) / 1e9);
}

const rows = [];
for (const [name, [plain, traced]] of Object.entries(pairs)) {
  await run(plain);
  await run(traced); // warm-up
  const samples = { plain: [], traced: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? ['traced', 'plain'] : ['plain', 'traced'];
    for (const variant of order) samples[variant].push(await run(variant === 'plain' ? plain : traced));
  }
  const plainRate = median(samples.plain);
  const tracedRate = median(samples.traced);
  rows.push([`${name} untraced`, formatRate(plainRate)]);
  rows.push([
    `${name} traced`,
    formatRate(tracedRate),
    `ratio traced/untraced ${(tracedRate / plainRate).toFixed(2)}`,
  ]);
}

// The wrapper alone, with no network: traceFetch over a fetch that answers at once.
const response = new Response(null, { status: 204 });
const stub = () => Promise.resolve(response);
const tracedStub = traceFetch(stub);
async function loop(fn, iterations) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(url);
  return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
}
await loop(stub, 20_000);
await loop(tracedStub, 20_000);
const stubSamples = { plain: [], traced: [] };
for (let round = 0; round < ROUNDS; round++) {
  stubSamples.plain.push(await loop(stub, 50_000));
  stubSamples.traced.push(await loop(tracedStub, 50_000));
}
const stubRate = median(stubSamples.plain);
const tracedStubRate = median(stubSamples.traced);
rows.push(['stub fetch', formatRate(stubRate)]);
rows.push([
  'traceFetch(stub fetch)',
  formatRate(tracedStubRate),
  `${((1 / tracedStubRate - 1 / stubRate) * 1e6).toFixed(1)} µs added per call (span + inject + headers)`,
]);

printTable(
  `@tracewire/http, ${REQUESTS} requests x ${ROUNDS} rounds, concurrency ${CONCURRENCY}, medians`,
  rows,
);

await Promise.all([agent.close(), tracedAgent.close()]);
keepAlive.destroy();
server.close();
