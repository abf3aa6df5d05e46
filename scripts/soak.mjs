// `npm run soak`: the soak suite (test/soak) at full counts, SOAK_SCALE=1 unless set: 200,000
// HTTP requests, 200,000 Kafka and 200,000 RabbitMQ messages, 50,000 gRPC calls of each type.
// `npm test` runs the same file at SOAK_SCALE=0.025. Brokers come from the vitest global setup.
import { spawnSync } from 'node:child_process';

const env = { ...process.env, SOAK_SCALE: process.env.SOAK_SCALE ?? '1' };
console.log(`=== soak at SOAK_SCALE=${env.SOAK_SCALE}`);
const result = spawnSync(
  process.execPath,
  ['node_modules/vitest/vitest.mjs', 'run', '--project', 'brokers', 'test/soak/'],
  { stdio: 'inherit', env },
);
process.exit(result.status ?? 1);
