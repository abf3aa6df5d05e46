// The soak: hundreds of thousands of operations through traced adapters with a recording SDK
// (spans counted by the exporter, never kept). The heap after GC at the end is within 10% of the
// heap after the warm-up, with the same servers, clients and consumers alive, and no span is left
// open. `npm run soak` runs the full counts (SOAK_SCALE=1); inside `npm test` it runs 1/40 of them.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { setupFaultTracing } from '../faults/support/span-tracking.js';
import { type Workload, grpcWorkload, httpWorkload, kafkaWorkload, rabbitWorkload } from './workloads.js';

const SCALE = Number(process.env.SOAK_SCALE ?? 0.025);
// Full counts: 200,000 HTTP requests (half Express, half Fastify), 200,000 Kafka messages,
// 200,000 RabbitMQ messages, 50,000 gRPC calls of each of the four types.
const FULL: { make: () => Promise<Workload>; count: number }[] = [
  { make: () => httpWorkload('express'), count: 100_000 },
  { make: () => httpWorkload('fastify'), count: 100_000 },
  { make: () => kafkaWorkload((process.env.KAFKA_BROKERS ?? '').split(',')), count: 200_000 },
  { make: () => rabbitWorkload(process.env.AMQP_URL ?? ''), count: 200_000 },
  { make: () => grpcWorkload(), count: 50_000 },
];
const MAX_HEAP_RATIO = 1.1;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

const tracing = setupFaultTracing({ count: true });
const workloads: Workload[] = [];
afterAll(async () => {
  for (const w of workloads) await w.close().catch(() => {});
  await tracing.shutdown();
});

describe(`soak at scale ${SCALE}`, () => {
  it(
    'keeps the heap flat and leaves no span open',
    async () => {
      if (!(SCALE > 0))
        throw new Error(`SOAK_SCALE must be a positive number, got ${process.env.SOAK_SCALE}`);
      const plan = FULL.map(({ count }) => {
        const main = Math.max(1, Math.round(count * SCALE));
        // A short soak warms up with as many operations as it measures: its heap after a tenth of
        // them is not yet at steady state (JIT code, pools, caches), and 10% of a small heap is noise.
        const warmup = SCALE < 0.2 ? main : Math.min(main, Math.max(200, Math.round(main / 10)));
        return { main, warmup };
      });
      for (const { make } of FULL) workloads.push(await make());

      for (const [i, w] of workloads.entries()) await w.run(plan[i]?.warmup ?? 0);
      await tracing.settled(30_000);
      const warmHeap = await heapAfterGc();

      const rows = [];
      for (const [i, w] of workloads.entries()) {
        const count = plan[i]?.main ?? 0;
        const t0 = performance.now();
        await w.run(count);
        const seconds = (performance.now() - t0) / 1000;
        rows.push({
          workload: w.name,
          operations: w.name.startsWith('gRPC') ? `${count} x 4` : count,
          spans: w.spansPer(count),
          seconds: Number(seconds.toFixed(1)),
          'ops/s': Math.round((w.name.startsWith('gRPC') ? 4 * count : count) / seconds),
        });
      }
      await tracing.settled(60_000);
      const endHeap = await heapAfterGc();

      const expectedSpans = workloads.reduce(
        (sum, w, i) => sum + w.spansPer(plan[i]?.warmup ?? 0) + w.spansPer(plan[i]?.main ?? 0),
        0,
      );
      const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
      console.log(`soak at scale ${SCALE} (SOAK_SCALE), Node ${process.version}`);
      console.table(rows);
      console.log(
        `heap after GC: ${mb(warmHeap)} MB after warm-up, ${mb(endHeap)} MB at the end ` +
          `(ratio ${(endHeap / warmHeap).toFixed(3)}, limit ${MAX_HEAP_RATIO}); ` +
          `spans started ${tracing.open.started}, ended ${tracing.open.ended}, exported ${tracing.counting?.total}, open ${tracing.open.size}`,
      );

      expect(tracing.open.size, 'open spans').toBe(0);
      expect(tracing.open.started, 'spans started').toBe(expectedSpans);
      expect(tracing.open.ended, 'spans ended').toBe(expectedSpans);
      expect(tracing.counting?.total, 'spans exported').toBe(expectedSpans);
      expect(endHeap / warmHeap, 'heap after GC, end / after warm-up').toBeLessThanOrEqual(MAX_HEAP_RATIO);
    },
    180_000 + SCALE * 3_600_000,
  );
});
