// Issue #10 §3 for KafkaJS: each scenario runs twice in a child process, through the bare library
// and through traceProducer / traceEachMessage / traceEachBatch, against the real broker, and
// everything the application can observe is compared: messages delivered per topic-partition in
// order (redeliveries included), the offsets the group committed, what the app's code saw
// (errors, headers), process events (uncaught exceptions, unhandled rejections, warnings) and the
// exit code. The traced run must also end every span it started.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ChildRun, bundleScenarioScript, runChild } from '../../../test/support/child-scenario.js';

interface Delivery {
  topic: string;
  partition: number;
  offset: string;
  key: string | undefined;
  value: string | undefined;
}
interface Observed {
  deliveries: Delivery[];
  app: string[];
  committed: Record<string, Array<{ partition: number; offset: string }>>;
  events: string[];
  code: number;
  spans: { started: number; ended: number; errors: string[] };
}

let bundle: string;
beforeAll(async () => {
  bundle = await bundleScenarioScript('packages/kafkajs/test/differential/child.ts');
}, 60_000);

async function run(mode: 'bare' | 'traced', scenario: string): Promise<ChildRun<Observed>> {
  const prefix = `tw-diff-${mode}-${randomBytes(4).toString('hex')}`;
  return runChild<Observed>(bundle, [mode, scenario, prefix], { KAFKA_BROKERS: process.env.KAFKA_BROKERS });
}

/** What the app observes: deliveries per topic-partition in arrival order (partitions interleave freely). */
function observable(result: ChildRun<Observed>) {
  const { observed } = result;
  const perPartition: Record<string, string[]> = {};
  for (const d of observed?.deliveries ?? []) {
    const slot = `${d.topic}/${d.partition}`;
    perPartition[slot] ??= [];
    perPartition[slot].push(`${d.offset}:${d.key}=${d.value}`);
  }
  // KafkaJS's own TimeoutNegativeWarning (Node 24) quotes a timestamp; the warning is compared, not it.
  const strip = (text: string): string =>
    text
      .replace(/tw-diff-(bare|traced)-[0-9a-f]{8}/g, '<prefix>')
      .replace(/-\d{9,} is a negative number/g, '-N is a negative number');
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    processEvents: result.processEvents.map(strip),
    perPartition,
    committed: observed?.committed,
    app: observed?.app.map(strip),
    events: observed?.events.map(strip),
  };
}

/** Each scenario, and the `error.type`s its traced run records (span operation: type). */
const scenarios: Array<[string, string[]]> = [
  ['returns', []],
  ['throws', ['process: Error']],
  ['rejects-handled', ['process: Error']],
  ['slow', []],
  ['each-batch', []],
  ['republish-consumed-headers', []],
  ['aborted-transaction', ['send: transaction_aborted']],
  ['send-to-missing-topic', ['send: UNKNOWN_TOPIC_OR_PARTITION']],
];

describe('kafkajs differential: traced behaves exactly as untraced', () => {
  it.each(scenarios)(
    '%s',
    async (name, errors) => {
      const bare = await run('bare', name);
      const traced = await run('traced', name);
      expect(bare.observed, bare.stderr).toBeDefined();
      expect(traced.observed, traced.stderr).toBeDefined();
      expect(observable(traced)).toEqual(observable(bare));
      const { started, ended } = traced.observed!.spans;
      expect(started).toBeGreaterThan(0);
      expect(ended).toBe(started);
      expect(traced.observed!.spans.errors).toEqual(errors);
    },
    180_000,
  );
});
