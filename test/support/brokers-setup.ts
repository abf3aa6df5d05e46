// Vitest global setup for suites that need Kafka or RabbitMQ: the same launcher as
// `npm run brokers -- up`. It throws when a broker cannot be had; tests never skip.
// @ts-expect-error plain ESM module without type declarations
import { setupForTests } from '../../tools/brokers/index.mjs';

export default async function setup(): Promise<void> {
  await setupForTests();
}
