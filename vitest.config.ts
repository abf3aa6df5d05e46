import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import every @tracewire package from its source, so they need no build step.
const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const alias = Object.fromEntries(
  readdirSync(packagesDir).map((name) => [`@tracewire/${name}`, `${packagesDir}${name}/src/index.ts`]),
);

// Suites that talk to Kafka or RabbitMQ; the brokers project starts them once, in global setup.
// test/faults and test/soak run here too: they use the brokers, and need the machine to themselves.
const brokerSuites = [
  'packages/kafkajs/**/*.test.ts',
  'packages/platformatic-kafka/**/*.test.ts',
  'packages/amqplib/**/*.test.ts',
  'test/faults/**/*.test.ts',
  'test/soak/**/*.test.ts',
  'test/**/*.test.ts',
];

// Checks that do not depend on the Node version running them (README code compiled by tsc, npm
// publish dry runs) and the OTLP fault run, which measures latency ratios for 100 s: `npm test`
// runs them on its first Node only, and sets TRACEWIRE_REPEAT_PASS on the passes after it.
const oncePerRun = ['test/docs/**', 'test/packaging/**', 'test/faults/otlp-endpoint-faults.test.ts'];
const repeatPass = process.env.TRACEWIRE_REPEAT_PASS === '1';

// Every project runs every test under the invariants (span accounting, process guards).
const invariants = { setupFiles: ['./test/support/invariants.ts'] };
const report = './test/support/invariants-report.ts';

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'test/invariants/*.test.ts',
            'bench/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', ...brokerSuites.filter((glob) => !glob.startsWith('test/'))],
          testTimeout: 20_000,
          ...invariants,
          globalSetup: [report],
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'brokers',
          include: brokerSuites,
          exclude: ['**/node_modules/**', 'test/invariants/**', ...(repeatPass ? oncePerRun : [])],
          ...invariants,
          globalSetup: ['./test/support/brokers-setup.ts', report],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One broker-heavy file at a time: the machine has two cores and brokers need one.
          fileParallelism: false,
        },
      },
    ],
  },
});
