// One Node version's run: every chosen row, its variants each in a child process
// (bench/suite/child.mjs), in alternating rounds; prints progress and writes the results as JSON.
//   node bench/suite/orchestrate.mjs --out results.json [--quick] [--rows express,grpc-unary]
//        [--no-export] [--profile DIR]
// Numbers are compared only within the run; nothing passes or fails on an absolute time.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { CALLER_TRACE_ID, TRACEPARENT, VARIANTS } from './constants.mjs';
import { compareShapes } from './floor.mjs';
import { EXPORT_ROWS, ROWS } from './rows.mjs';
import { median } from './stats.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};
const QUICK = flag('--quick') || process.env.BENCH_QUICK === '1';
// 30 rounds: the 90% intervals of the ratios come out about 1.6x narrower than with 12 (√(30/12)).
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 2 : 30));
const WARMUP_ROUNDS = QUICK ? 1 : 2;
const PROFILE = option('--profile');
const chosen = option('--rows')?.split(',') ?? Object.keys(ROWS);
for (const id of chosen)
  if (!ROWS[id]) throw new Error(`unknown row ${id}; rows: ${Object.keys(ROWS).join(', ')}`);
const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const log = (...parts) => console.error(`[bench ${process.version}]`, ...parts);

// --- a variant's process ------------------------------------------------------------------------

/** Every variant process still running, so that a failed row leaves none behind. */
const live = new Set();

function startChild(row, variant, { mode = 'recording', template, env, profile }) {
  // The child profiles its measured rounds itself (bench/profile.mjs reads the files).
  const childEnv = profile ? { ...process.env, BENCH_PROFILE_DIR: profile } : process.env;
  const child = fork(CHILD, [row.id, variant], {
    env: childEnv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = [];
  child.on('message', (message) => waiting.shift()?.resolve(message));
  child.on('exit', (code) => {
    for (const waiter of waiting.splice(0))
      waiter.reject(new Error(`${row.id} ${variant} exited with code ${code}`));
  });
  const ask = (message) =>
    new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      child.send(message);
    });
  const handle = { row, variant, mode, child, ask, samples: [], ops: 0 };
  live.add(handle);
  child.on('exit', () => live.delete(handle));
  handle.ready = ask({ type: 'init', row: row.id, variant, mode, template, env });
  return handle;
}

/** One measured round of `n` operations: CPU µs per operation in the variant's process. */
async function round(handle, n) {
  let cpu;
  if (handle.row.driver === 'http') {
    const before = (await handle.ask({ type: 'cpu', ops: n })).cpu;
    await load(handle.pool, n);
    cpu = (await handle.ask({ type: 'cpu' })).cpu - before;
  } else cpu = (await handle.ask({ type: 'round', n })).cpu;
  handle.ops += n;
  return cpu / n;
}

async function sample(handle, n) {
  await handle.ask({ type: 'sample-start', n });
  if (handle.row.driver === 'http') await load(handle.pool, n);
  handle.ops += n;
  return (await handle.ask({ type: 'sample-end' })).shapes;
}

async function stop(handle) {
  handle.child.send({ type: 'exit' });
  await handle.pool?.close();
  await new Promise((resolve) =>
    handle.child.exitCode === null ? handle.child.once('exit', resolve) : resolve(),
  );
}

// --- load for the servers, and a server for the clients -----------------------------------------

const CONNECTIONS = 8;
const REQUEST_HEADERS = { traceparent: TRACEPARENT, 'user-agent': 'tracewire-bench' };
async function load(pool, n) {
  let left = n;
  const worker = async () => {
    while (left > 0) {
      left--;
      const { statusCode, body } = await pool.request({
        path: `/users/${left % 100}`,
        method: 'GET',
        headers: REQUEST_HEADERS,
      });
      await body.text();
      if (statusCode !== 200) throw new Error(`status ${statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECTIONS, n) }, worker));
}

/** A plain server per client variant that counts requests and the trace contexts they carried. */
async function targetServer() {
  const seen = { requests: 0, propagated: 0, constant: 0 };
  const server = createServer((req, res) => {
    seen.requests++;
    const header = req.headers.traceparent;
    if (header === TRACEPARENT) seen.constant++;
    // A context of the request's own (not the caller's span, whose ids are 1-8), in the caller's trace.
    else if (
      typeof header === 'string' &&
      header.length === 55 &&
      header.startsWith(`00-${CALLER_TRACE_ID}-`) &&
      !header.startsWith('00000000000000', 36)
    )
      seen.propagated++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() };
}

// --- one row ------------------------------------------------------------------------------------

const SAMPLE_OPS = {
  'kafka-producer': 100,
  'kafka-producer-nospans': 100,
  'kafka-each-batch': 4,
  'plt-producer': 100,
};

async function runRow(
  row,
  env,
  { variants = row.noOtel ? VARIANTS.filter((v) => v !== 'otel') : VARIANTS, modes = {}, profile } = {},
) {
  const n = QUICK ? row.quick : row.ops;
  const sampleOps = SAMPLE_OPS[row.id] ?? 1;
  const targets = {};
  const envFor = async (variant) => {
    if (row.transport !== 'http-client') return env;
    targets[variant] = await targetServer();
    return { ...env, url: targets[variant].url };
  };
  const connect = async (handle) => {
    const ready = await handle.ready;
    if (ready.unavailable) return ready;
    if (row.driver === 'http')
      handle.pool = new Pool(`http://127.0.0.1:${ready.port}`, { connections: CONNECTIONS, pipelining: 1 });
    return ready;
  };
  const handles = {};
  const names = variants.map((v) => (typeof v === 'string' ? v : v.name));
  const baseOf = (name) => name.split(':')[0];
  // tracewire first: the floor copies the shapes of the spans it made.
  const tracewireName = names.find((name) => baseOf(name) === 'tracewire');
  const start = async (name, template) => {
    const handle = startChild(row, baseOf(name), {
      mode: modes[name] ?? 'recording',
      template,
      env: await envFor(name),
      profile: profile?.includes(baseOf(name)) ? PROFILE : undefined,
    });
    handle.name = name;
    handles[name] = handle;
    return connect(handle);
  };
  // The variants that need no template start meanwhile.
  const others = Promise.all(
    names.filter((name) => name !== tracewireName && baseOf(name) !== 'floor').map((name) => start(name)),
  );
  const ready = await start(tracewireName);
  if (ready.unavailable) {
    await others;
    await Promise.all(Object.values(handles).map(stop));
    for (const target of Object.values(targets)) target.close();
    return { id: row.id, label: row.label, unit: row.unit, unavailable: ready.unavailable };
  }
  await round(handles[tracewireName], n); // warm, then sample a warm operation
  const template = await sample(handles[tracewireName], sampleOps);
  await Promise.all([
    others,
    ...names.filter((name) => baseOf(name) === 'floor').map((name) => start(name, template)),
  ]);
  const list = names.map((name) => handles[name]);
  for (let i = 0; i < WARMUP_ROUNDS; i++) for (const handle of list) await round(handle, n);
  let shapeDiff = [];
  if (handles.floor) shapeDiff = compareShapes(template, await sample(handles.floor, sampleOps));
  for (const handle of list)
    if (handle.name.includes('export')) await handle.ask({ type: 'keep', spans: 512 });
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...list].reverse() : list;
    const rotated = order.map((_, i) => order[(i + r) % order.length]);
    for (const handle of rotated) handle.samples.push(await round(handle, n));
  }
  const result = {
    id: row.id,
    label: row.label,
    unit: row.unit,
    opsPerRound: n,
    rounds: ROUNDS,
    shapeDiff,
    template: template.map(({ name, kind, links }) => ({ name, kind, links })),
    variants: {},
  };
  for (const handle of list) {
    const stats = await handle.ask({ type: 'stats' });
    const entry = {
      cpuUs: median(handle.samples),
      ops: handle.ops,
      samples: handle.samples,
      spansPerOp: stats.counts.ended / handle.ops,
      inCallerTracePerOp: stats.counts.inCallerTrace / handle.ops,
      withParentPerOp: stats.counts.withParent / handle.ops,
      check: stats.check,
    };
    if (targets[handle.name]) {
      const { seen } = targets[handle.name];
      entry.headersPerOp = {
        propagated: seen.propagated / seen.requests,
        constant: seen.constant / seen.requests,
      };
    }
    if (handle.name.includes('export')) entry.serialize = await handle.ask({ type: 'serialize' });
    result.variants[handle.name] = entry;
  }
  await Promise.all(list.map(stop));
  for (const target of Object.values(targets)) target.close();
  // Added cost over bare: the median over rounds of each round's ratio to bare (the two ran back to
  // back, so a burst of load from elsewhere inflates both alike), times bare's median cost.
  const bare = result.variants.bare.samples;
  const bareUs = median(bare);
  for (const entry of Object.values(result.variants)) {
    entry.overBare = median(entry.samples.map((value, i) => value / bare[i]));
    entry.addedUs = (entry.overBare - 1) * bareUs;
    entry.addedPairedUs = median(entry.samples.map((value, i) => value - bare[i]));
  }
  return result;
}

// --- the run ------------------------------------------------------------------------------------

/** One row failing (a broker too loaded to answer, say) is reported, and the run goes on. */
function failed(id, error) {
  log(`${id} FAILED: ${error.message}`);
  for (const handle of live) handle.child.kill();
  live.clear();
  return `failed in this run: ${error.message}`;
}

const needs = new Set(chosen.map((id) => ROWS[id].broker).filter(Boolean));
let env = {};
if (needs.size > 0) {
  const fromEnv = { kafkaBrokers: process.env.KAFKA_BROKERS?.trim(), amqpUrl: process.env.AMQP_URL?.trim() };
  if ((needs.has('kafka') && !fromEnv.kafkaBrokers) || (needs.has('amqp') && !fromEnv.amqpUrl)) {
    const { up } = await import('../../tools/brokers/index.mjs');
    const found = await up({ docker: false });
    env = {
      kafkaBrokers: fromEnv.kafkaBrokers || found.kafkaBrokers,
      amqpUrl: fromEnv.amqpUrl || found.amqpUrl,
    };
  } else env = fromEnv;
}

const output = {
  node: process.version,
  quick: QUICK,
  rounds: ROUNDS,
  machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30) },
  rows: [],
  export: [],
};
const started = Date.now();
for (const id of chosen) {
  const row = ROWS[id];
  log(`${id} ...`);
  const t0 = Date.now();
  let result;
  try {
    result = await runRow(row, env, { profile: PROFILE ? ['floor', 'tracewire'] : undefined });
  } catch (error) {
    result = { id: row.id, label: row.label, unit: row.unit, unavailable: failed(id, error) };
  }
  output.rows.push(result);
  log(`${id} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (!flag('--no-export') && !PROFILE) {
  const { startOtlpReceiver } = await import('@tracewire/node');
  for (const id of EXPORT_ROWS.filter((name) => chosen.includes(name))) {
    const receiver = await startOtlpReceiver({ port: 0 });
    const row = ROWS[id];
    log(`${id} with export ...`);
    let result;
    try {
      result = await runRow(
        row,
        { ...env, otlpUrl: receiver.url },
        { variants: ['bare', 'tracewire', 'tracewire:export'], modes: { 'tracewire:export': 'export' } },
      );
    } catch (error) {
      failed(`${id} with export`, error);
      await receiver.close();
      continue;
    }
    const spans = receiver.spans().length;
    result.received = spans;
    result.receivedPerOp = spans / result.variants['tracewire:export'].ops;
    await receiver.close();
    output.export.push(result);
  }
}

output.seconds = Math.round((Date.now() - started) / 1000);
const out = option('--out');
if (out) writeFileSync(out, JSON.stringify(output, null, 1));
else console.log(JSON.stringify(output, null, 1));
