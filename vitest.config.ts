import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import every @tracewire package from its source, so they need no build step.
const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const alias = Object.fromEntries(
  readdirSync(packagesDir).map((name) => [`@tracewire/${name}`, `${packagesDir}${name}/src/index.ts`]),
);

// Suites that talk to Kafka or RabbitMQ; the brokers project starts them once, in global setup.
const brokerSuites = ['packages/kafkajs/**/*.test.ts', 'packages/amqplib/**/*.test.ts', 'test/**/*.test.ts'];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...brokerSuites],
          testTimeout: 20_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'brokers',
          include: brokerSuites,
          globalSetup: ['./test/support/brokers-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One broker-heavy file at a time: the machine has two cores and brokers need one.
          fileParallelism: false,
        },
      },
    ],
  },
});
