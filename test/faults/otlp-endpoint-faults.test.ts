// An OTLP endpoint that is down, refuses connections, answers 500, or answers after 15 s (past
// the exporter's 10 s timeout: an answer racing the timeout could count as a working export),
// behind a traced Express service using startTracing(): its request latency is that of the same service
// exporting to a healthy endpoint (median and p99 as ratios, measured in the same run with the
// requests interleaved one by one across six identical child processes), its heap stays bounded
// by the SDK's queue, it does not crash, and it reports the failure through diag.
import { type Server as HttpServer, createServer } from 'node:http';
import { type AddressInfo, type Server as NetServer, createServer as createNetServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Service, buildPackages, startFixture } from './support/child-process.js';

// Two healthy services: the second one's ratio to the first is the noise floor of this run.
const MODES = ['healthy', 'healthy-2', 'down', 'refusing', 'http-500', 'slow-15s'] as const;
const FAULTS: readonly Mode[] = ['down', 'refusing', 'http-500', 'slow-15s'];
type Mode = (typeof MODES)[number];
const WARMUP = 300;
const REQUESTS = 2_000;
const BURST = 3_000;
// What the ratios may be: "unaffected" within 10%.
const MAX_RATIO = 1.1;
// The BatchSpanProcessor holds at most 2048 spans (maxQueueSize); a few MB of them at most.
const MAX_HEAP_GROWTH = 16 * 1024 * 1024;

interface Endpoint {
  url: string;
  /** Requests (or connections, for `refusing`) it received. */
  hits: number;
  close(): Promise<void>;
}

async function listen(server: HttpServer | NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: HttpServer | NetServer): Promise<void> {
  (server as HttpServer).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An OTLP/HTTP traces endpoint behaving as `mode` says. */
async function endpoint(mode: Mode): Promise<Endpoint> {
  const state = { hits: 0 };
  if (mode === 'healthy-2') return endpoint('healthy');
  if (mode === 'down') {
    // A port that was free a moment ago and has nothing listening now.
    const probe = createNetServer();
    const port = await listen(probe);
    await closeServer(probe);
    return {
      url: `http://127.0.0.1:${port}/v1/traces`,
      get hits() {
        return state.hits;
      },
      close: async () => {},
    };
  }
  if (mode === 'refusing') {
    const server = createNetServer((socket) => {
      state.hits++;
      socket.destroy();
    });
    const port = await listen(server);
    return {
      url: `http://127.0.0.1:${port}/v1/traces`,
      get hits() {
        return state.hits;
      },
      close: () => closeServer(server),
    };
  }
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    state.hits++;
    req.resume();
    req.on('end', () => {
      const answer = (): void => {
        res.statusCode = mode === 'http-500' ? 500 : 200;
        res.setHeader('content-type', 'application/x-protobuf');
        res.end();
      };
      if (mode !== 'slow-15s') answer();
      else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, 15_000);
        timers.add(timer);
      }
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    get hits() {
      return state.hits;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      await closeServer(server);
    },
  };
}

interface Stats {
  heapUsed: number;
  diag: string[];
}

interface Target {
  mode: Mode;
  endpoint: Endpoint;
  service: Service;
  client: Client;
  latencies: number[];
}

const targets: Target[] = [];

async function get(client: Client, path: string): Promise<string> {
  const { statusCode, body } = await client.request({ method: 'GET', path });
  const text = await body.text();
  if (statusCode !== 200) throw new Error(`GET ${path}: ${statusCode} ${text}`);
  return text;
}

const stats = async (t: Target): Promise<Stats> => JSON.parse(await get(t.client, '/__stats')) as Stats;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** One request to each service per round, in an order that rotates every round. */
async function interleaved(rounds: number, record: boolean): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(round + k) % targets.length] as Target;
      const t0 = performance.now();
      await get(t.client, `/work/${round}`);
      if (record) t.latencies.push(performance.now() - t0);
    }
  }
}

beforeAll(async () => {
  await buildPackages();
  for (const mode of MODES) {
    const ep = await endpoint(mode);
    const { service, port } = await startFixture('express-service.mjs', {
      OTLP_URL: ep.url,
      OTEL_SERVICE_NAME: `tw-fault-${mode}`,
    });
    targets.push({
      mode,
      endpoint: ep,
      service,
      client: new Client(`http://127.0.0.1:${port}`, { pipelining: 1 }),
      latencies: [],
    });
  }
}, 300_000);

afterAll(async () => {
  for (const t of targets) {
    await t.client.close();
    await t.service.stop();
    await t.endpoint.close();
  }
});

interface Row {
  mode: Mode;
  median: number;
  p99: number;
  growth: number;
  burstGrowth: number;
  diag: string[];
}
const rows = new Map<Mode, Row>();
let baseline = { median: 0, p99: 0 };

type Stat = 'median' | 'p99';
/** One measured pass: each mode's latency ratio to both healthy services pooled, and how far the
 * two identical healthy services differ from each other in it (at least 1). */
interface LatencyRun {
  ratios: Map<Mode, Record<Stat, number>>;
  spread: Record<Stat, number>;
}
const latencyRuns: LatencyRun[] = [];

function latencyRun(): LatencyRun {
  const sortedOf = (t: Target): number[] => [...t.latencies].sort((a, b) => a - b);
  const pooled = targets
    .filter((t) => t.mode.startsWith('healthy'))
    .flatMap((t) => t.latencies)
    .sort((a, b) => a - b);
  const base = { median: quantile(pooled, 0.5), p99: quantile(pooled, 0.99) };
  const ratios = new Map<Mode, Record<Stat, number>>();
  for (const t of targets) {
    const sorted = sortedOf(t);
    ratios.set(t.mode, {
      median: quantile(sorted, 0.5) / base.median,
      p99: quantile(sorted, 0.99) / base.p99,
    });
  }
  const twin = (stat: Stat): number => {
    const r =
      (ratios.get('healthy-2') as Record<Stat, number>)[stat] /
      (ratios.get('healthy') as Record<Stat, number>)[stat];
    return Math.max(r, 1 / r);
  };
  return { ratios, spread: { median: twin('median'), p99: twin('p99') } };
}

// Within 10% of the healthy services, beyond the spread the same pass shows between two identical
// healthy ones: on a quiet machine the spread is ~1 and the bound is 10%; on a loaded one a fault
// must still not move latency more than noise alone moves it, plus 10%.
function withinBounds(run: LatencyRun, mode: Mode): boolean {
  const ratio = run.ratios.get(mode) as Record<Stat, number>;
  return ratio.median <= MAX_RATIO * run.spread.median && ratio.p99 <= MAX_RATIO * run.spread.p99;
}

// The measurement, once for the file: warm-up, heap after GC, REQUESTS interleaved requests per
// service, then the heap and diag messages once every faulty exporter has failed at least once.
beforeAll(async () => {
  await interleaved(WARMUP, false);
  const before = new Map<Mode, Stats>();
  for (const t of targets) before.set(t.mode, await stats(t));
  const t0 = Date.now();
  await interleaved(REQUESTS, true);
  const measuredMs = Date.now() - t0;
  latencyRuns.push(latencyRun());
  // A second measured pass only when the first is out of bounds: a scheduling spike on a loaded
  // machine passes the next pass; an exporter that really slows requests fails both.
  if (FAULTS.some((mode) => !withinBounds(latencyRuns[0] as LatencyRun, mode))) {
    for (const t of targets) t.latencies = [];
    await interleaved(REQUESTS, true);
    latencyRuns.push(latencyRun());
  }
  // The slow endpoint's first export fails only when the exporter gives up on it (10 s).
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const faulty = await Promise.all(targets.filter((t) => FAULTS.includes(t.mode)).map(stats));
    if (faulty.every((s) => s.diag.length > 0)) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  // The baseline: both healthy services' latencies pooled, so the healthy p99 rests on twice the
  // samples; healthy-2 on its own against healthy-1 shows how far noise alone moves the ratios.
  const pooled = targets
    .filter((t) => t.mode.startsWith('healthy'))
    .flatMap((t) => t.latencies)
    .sort((a, b) => a - b);
  baseline = { median: quantile(pooled, 0.5), p99: quantile(pooled, 0.99) };
  for (const t of targets) {
    const after = await stats(t);
    const sorted = [...t.latencies].sort((a, b) => a - b);
    rows.set(t.mode, {
      mode: t.mode,
      median: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      growth: after.heapUsed - (before.get(t.mode)?.heapUsed ?? 0),
      burstGrowth: 0,
      diag: after.diag,
    });
  }
  // A burst well over the span queue (maxQueueSize 2048) into each service, faster than any
  // export cycle: where exports hang or fail, the queue overflows and spans are dropped; the heap
  // must not grow with the burst.
  for (const t of targets) {
    const start = await stats(t);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < BURST) await get(t.client, `/work/burst-${next++}`);
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const end = await stats(t);
    const r = rows.get(t.mode) as Row;
    r.burstGrowth = end.heapUsed - start.heapUsed;
    r.diag = end.diag;
  }
  const base = baseline;
  const twin = rows.get('healthy-2') as Row;
  const first = rows.get('healthy') as Row;
  console.log(
    `noise floor (healthy-2 / healthy): median ${(twin.median / first.median).toFixed(3)}, p99 ${(twin.p99 / first.p99).toFixed(3)}; ratios below are to both healthy services pooled`,
  );
  console.log(`OTLP endpoint faults: ${REQUESTS} requests per service, interleaved, in ${measuredMs} ms`);
  console.table(
    [...rows.values()].map((r) => ({
      mode: r.mode,
      'median ms': Number(r.median.toFixed(3)),
      'p99 ms': Number(r.p99.toFixed(3)),
      'median ratio': Number((r.median / base.median).toFixed(3)),
      'p99 ratio': Number((r.p99 / base.p99).toFixed(3)),
      'heap growth MB': Number((r.growth / 2 ** 20).toFixed(2)),
      [`after ${BURST} burst MB`]: Number((r.burstGrowth / 2 ** 20).toFixed(2)),
      'endpoint hits': targets.find((t) => t.mode === r.mode)?.endpoint.hits,
      diag: r.diag.length,
    })),
  );
  for (const r of rows.values()) {
    if (r.diag.length > 0)
      console.log(`${r.mode} diag:\n  ${r.diag.map((m) => m.slice(0, 160)).join('\n  ')}`);
  }
}, 300_000);

const row = (mode: Mode): Row => rows.get(mode) as Row;

describe('OTLP endpoint down, refusing, answering 500 or answering after 15 s', () => {
  it('exports to the healthy endpoints and tries each faulty one', () => {
    for (const t of targets.filter((x) => x.mode.startsWith('healthy'))) {
      expect(t.endpoint.hits, `${t.mode}: exports received`).toBeGreaterThan(0);
    }
    for (const t of targets.filter(
      (x) => x.mode === 'refusing' || x.mode.startsWith('http') || x.mode.startsWith('slow'),
    )) {
      expect(t.endpoint.hits, `${t.mode}: export attempts`).toBeGreaterThan(0);
    }
  });

  it.each(FAULTS)('%s: median and p99 latency within 10%% of the healthy service', (mode) => {
    const passes = latencyRuns.map((run) => ({
      ...run.ratios.get(mode),
      bound: { median: MAX_RATIO * run.spread.median, p99: MAX_RATIO * run.spread.p99 },
    }));
    expect(
      latencyRuns.some((run) => withinBounds(run, mode)),
      `ratios and bounds per pass: ${JSON.stringify(passes)}`,
    ).toBe(true);
  });

  it.each(MODES)('%s: heap after GC bounded by the span queue, process still running', (mode) => {
    const t = targets.find((x) => x.mode === mode) as Target;
    expect(row(mode).growth, 'heap growth after GC').toBeLessThan(MAX_HEAP_GROWTH);
    expect(row(mode).burstGrowth, `heap growth after GC over a ${BURST}-request burst`).toBeLessThan(
      MAX_HEAP_GROWTH,
    );
    expect(t.service.child.exitCode, 'exit code').toBeNull();
    expect(t.service.child.signalCode, 'signal').toBeNull();
  });

  it.each(FAULTS)('%s: the failing export is reported through diag', (mode) => {
    expect(row(mode).diag.length).toBeGreaterThan(0);
    expect(row('healthy').diag).toEqual([]);
  });

  // startTracing()'s OTLP exporter reports an outage once; without it the SDK's global error
  // handler logs every failed batch.
  // The burst overflows the span queue on purpose; the SDK's own "Dropped N spans" notice is a
  // different message, about the queue, and not the exporter's failure.
  it.each(FAULTS)('%s: a single diag message, not one per failed export', (mode) => {
    const aboutExport = row(mode).diag.filter(
      (message) => !/Dropped \d+ spans because maxQueueSize/.test(message),
    );
    expect(aboutExport, 'diag messages').toHaveLength(1);
    expect(aboutExport[0]).toContain('@tracewire/node: exporting spans to');
  });
});
