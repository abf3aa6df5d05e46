// Incoming HTTP benchmark: the server CPU time per request of @tracewire/express and
// @tracewire/fastify against the bare frameworks and OpenTelemetry's own instrumentation, in
// the same run. Each variant is a server in its own process (bench/http-server-child.mjs) with an
// SDK that records every span; this process sends the same number of keep-alive requests to
// each, in alternating rounds, and reads each server's process.cpuUsage() around every round.
//   node bench/http-server.mjs     (build first: npm run build -w @tracewire/express -w @tracewire/fastify)
// Targets (issue): bare/traced >= 0.90 for both frameworks; Express OTel cost / tracewire cost
// >= 1.6; Fastify tracewire cheaper than @fastify/otel.
import { fork } from 'node:child_process';
import { Pool } from 'undici';
import { median, printTable } from './measure.mjs';

const REQUESTS = Number(process.env.REQUESTS ?? 500);
const ROUNDS = Number(process.env.ROUNDS ?? 15);
const WARMUP = Number(process.env.WARMUP ?? 1500);
const CONNECTIONS = 8;
const ALL = [
  'express-bare',
  'express-tracewire',
  'express-otel',
  'express-floor',
  'fastify-bare',
  'fastify-tracewire',
  'fastify-otel',
  'fastify-floor',
];
// DIAGNOSE=1 adds servers that only make a context active (no span): the share of the cost that is
// Node's AsyncLocalStorage (async_hooks on Node 20) rather than spans. VARIANTS=a,b runs a subset.
const DIAGNOSTICS = ['express-ctx', 'fastify-ctx'];
const VARIANTS = process.env.VARIANTS
  ? process.env.VARIANTS.split(',')
  : process.env.DIAGNOSE
    ? [...ALL, ...DIAGNOSTICS]
    : ALL;
const subset =
  VARIANTS.some((variant) => !ALL.includes(variant)) || ALL.some((variant) => !VARIANTS.includes(variant));
// Every request comes from a traced caller.
const HEADERS = {
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'user-agent': 'bench',
};

function start(variant) {
  const child = fork(new URL('./http-server-child.mjs', import.meta.url), [variant], { stdio: 'inherit' });
  const pending = [];
  child.on('message', (message) => pending.shift()?.resolve(message));
  // A child that dies (a missing build, say) fails the run instead of leaving it waiting.
  child.on('exit', (code) => {
    for (const waiter of pending.splice(0))
      waiter.reject(new Error(`${variant} server exited with code ${code}`));
  });
  const next = () => new Promise((resolve, reject) => pending.push({ resolve, reject }));
  const ask = (command) => {
    const reply = next();
    child.send(command);
    return reply;
  };
  return next().then(({ port }) => ({
    variant,
    child,
    ask,
    pool: new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 }),
    samples: [],
    sent: 0,
  }));
}

/** Sends `count` GET requests over the pool's keep-alive connections, CONNECTIONS at a time. */
async function load(server, count) {
  let left = count;
  const worker = async () => {
    while (left > 0) {
      left--;
      const { statusCode, body } = await server.pool.request({
        path: `/users/${left % 100}`,
        method: 'GET',
        headers: HEADERS,
      });
      await body.text();
      if (statusCode !== 200) throw new Error(`${server.variant}: status ${statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  server.sent += count;
}

async function measure(server) {
  const before = await server.ask('measure');
  await load(server, REQUESTS);
  const after = await server.ask('measure');
  server.samples.push((after.cpu - before.cpu) / REQUESTS);
}

const servers = [];
for (const variant of VARIANTS) servers.push(await start(variant));
for (const server of servers) await load(server, WARMUP);
for (let round = 0; round < ROUNDS; round++) {
  for (const server of round % 2 ? [...servers].reverse() : servers) await measure(server);
}

const cpu = {};
const spansPerRequest = {};
for (const server of servers) {
  cpu[server.variant] = median(server.samples);
  const { spans } = await server.ask('flush');
  spansPerRequest[server.variant] = spans / server.sent;
  server.child.send('exit');
  await server.pool.close();
}
for (const variant of VARIANTS.filter((name) => ALL.includes(name))) {
  const expected = variant.endsWith('-bare') ? 0 : 1;
  const got = spansPerRequest[variant];
  if (variant.endsWith('-otel') ? got < 1 : got !== expected)
    throw new Error(`${variant} exported ${got} spans per request, expected ${expected}`);
}

if (subset && !process.env.DIAGNOSE) {
  for (const server of servers)
    console.log(server.variant, server.samples.map((sample) => sample.toFixed(0)).join(' '));
  process.exit(0);
}
const target = (value, goal) => `target >= ${goal}: ${value >= goal ? 'met' : 'MISSED'}`;
const us = (variant) => `${cpu[variant].toFixed(1)} µs/req`;
const samples = Object.fromEntries(servers.map((server) => [server.variant, server.samples]));
// Ratios are the median of per-round ratios: the two variants of a pair ran back to back, under
// the same load from whatever else shares the machine.
const ratio = (a, b) => median(samples[a].map((value, round) => value / samples[b][round]));
const added = (variant, bare) => median(samples[variant].map((value, round) => value - samples[bare][round]));

printTable(
  `http-server: server CPU per request (node ${process.version}; ${ROUNDS} rounds x ${REQUESTS} requests, median)`,
  VARIANTS.map((variant) => [variant, us(variant), `${spansPerRequest[variant].toFixed(2)} spans/req`]),
);
const expressKept = ratio('express-bare', 'express-tracewire');
const fastifyKept = ratio('fastify-bare', 'fastify-tracewire');
const expressOtel = ratio('express-otel', 'express-tracewire');
const fastifyOtel = ratio('fastify-otel', 'fastify-tracewire');
printTable('ratios', [
  ['express bare/tracewire', expressKept.toFixed(3), target(expressKept, 0.9)],
  [
    'express bare/floor (1 span, no attributes)',
    ratio('express-bare', 'express-floor').toFixed(3),
    'the floor',
  ],
  ['express bare/otel', ratio('express-bare', 'express-otel').toFixed(3)],
  ['express otel/tracewire (CPU per request)', expressOtel.toFixed(2), target(expressOtel, 1.6)],
  [
    'express otel/tracewire (cost added to bare)',
    median(
      samples['express-otel'].map(
        (value, round) =>
          (value - samples['express-bare'][round]) /
          (samples['express-tracewire'][round] - samples['express-bare'][round]),
      ),
    ).toFixed(2),
  ],
  ['fastify bare/tracewire', fastifyKept.toFixed(3), target(fastifyKept, 0.9)],
  [
    'fastify bare/floor (1 span, no attributes)',
    ratio('fastify-bare', 'fastify-floor').toFixed(3),
    'the floor',
  ],
  ['fastify bare/otel', ratio('fastify-bare', 'fastify-otel').toFixed(3)],
  [
    'fastify otel/tracewire (CPU per request)',
    fastifyOtel.toFixed(2),
    `tracewire cheaper: ${fastifyOtel > 1 ? 'met' : 'MISSED'}`,
  ],
  [
    'added µs/req: express tracewire, floor, otel',
    [
      added('express-tracewire', 'express-bare'),
      added('express-floor', 'express-bare'),
      added('express-otel', 'express-bare'),
    ]
      .map((value) => value.toFixed(1))
      .join(' / '),
  ],
  ...(process.env.DIAGNOSE
    ? [
        ['express bare/ctx (context switch only)', ratio('express-bare', 'express-ctx').toFixed(3)],
        ['fastify bare/ctx (context switch only)', ratio('fastify-bare', 'fastify-ctx').toFixed(3)],
        [
          'added µs/req: express ctx, fastify ctx',
          `${added('express-ctx', 'express-bare').toFixed(1)} / ${added('fastify-ctx', 'fastify-bare').toFixed(1)}`,
        ],
      ]
    : []),
  [
    'added µs/req: fastify tracewire, floor, otel',
    [
      added('fastify-tracewire', 'fastify-bare'),
      added('fastify-floor', 'fastify-bare'),
      added('fastify-otel', 'fastify-bare'),
    ]
      .map((value) => value.toFixed(1))
      .join(' / '),
  ],
]);
