// "Works everywhere", as a user would find it: tracewire installed from `npm pack` tarballs into a
// fresh app outside the workspace, the Express -> fetch -> Fastify app run in every setup of
// setups.ts, its spans asserted (names and parentage). OpenTelemetry's patching instrumentations
// run in the same setups as a contrast: recorded in the README table, never a failure.
import { spawn } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { type App, type Entry, entryFile, prepareApp } from './install.js';
import { type Setup, command, platformaticClient, setups } from './setups.js';
import { type AppRun, chainProblem, expectedBody, otelOutcome, parseRun } from './spans.js';
import { type Row, committedTable, normalizeTable, renderTable, writeTable } from './table.js';

let app: App;
const rows = new Map<string, Row>(
  setups.map((setup) => [
    setup.id,
    {
      label: setup.label,
      tracewire: '',
      messaging: '-',
      platformatic: '',
      otelAfter: '',
      otelFirst: '',
      otelPreload: '',
    },
  ]),
);

function runApp(
  setup: Setup,
  entry: Entry | 'messaging',
  env: Record<string, string> = {},
  preload?: string,
): Promise<AppRun> {
  const file = entry === 'messaging' ? 'messaging.mjs' : entryFile(setup, entry);
  const [binary, ...args] = command(setup, file, preload);
  return new Promise((resolve) => {
    const child = spawn(binary!, args, {
      cwd: app.dir,
      env: { ...process.env, ...env, NODE_OPTIONS: '', DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(parseRun(stdout, stderr, code));
    });
  });
}

function preloadFile(setup: Setup): string {
  return setup.format === 'cjs' && setup.runtime === 'node' ? './otel-preload.cjs' : './otel-preload.mjs';
}

beforeAll(async () => {
  app = await prepareApp();
}, 900_000);

describe('compatibility: installed from the packed tarballs', () => {
  it('installs every package from its tarball, without a peer-dependency warning from @tracewire', () => {
    expect(app.packages.length).toBeGreaterThanOrEqual(8);
    for (const name of app.packages) {
      expect(lstatSync(join(app.dir, 'node_modules', name)).isSymbolicLink(), `${name} is not a link`).toBe(
        false,
      );
    }
    const peerWarnings = app.installLog
      .split('\n')
      .filter((line) => /peer/i.test(line) && /@tracewire/.test(line));
    expect(peerWarnings).toEqual([]);
  });

  for (const setup of setups) {
    it(`${setup.label}: tracewire parents client -> Express GET /orders/:id -> fetch -> Fastify GET /items/:id`, async () => {
      const results = await Promise.all(
        ['startTracing', 'sdk'].map((tracing) => runApp(setup, 'tracewire', { COMPAT_TRACING: tracing })),
      );
      const problems = results.map((run) =>
        run.failure
          ? `app failed: ${run.failure}`
          : JSON.stringify(run.body) !== JSON.stringify(expectedBody)
            ? `body ${JSON.stringify(run.body)}`
            : chainProblem(run.spans, 'GET /items/:id'),
      );
      rows.get(setup.id)!.tracewire = problems.every((problem) => problem === undefined)
        ? '✅ / ✅'
        : `❌ ${problems.join(' / ')}`;
      expect(problems, 'startTracing() / bare SDK').toEqual([undefined, undefined]);
    });

    if (setup.messaging) {
      it(`${setup.label}: KafkaJS, @platformatic/kafka, amqplib and gRPC round trips, each consumer or server span the child of its sender`, async () => {
        const id = `${setup.id}-${process.pid}-${Date.now()}`;
        const run = await runApp(setup, 'messaging', {
          COMPAT_ID: id,
          COMPAT_PLT_CLIENT: platformaticClient(setup),
        });
        expect(run.failure).toBeUndefined();
        expect(run.body).toEqual({
          kafka: 'kafka-hello',
          platformatic: 'platformatic-hello',
          amqp: 'amqp-hello',
          grpc: 'grpc-hello',
        });
        const pairs = {
          KafkaJS: [`send compat-${id}`, SpanKind.PRODUCER, `process compat-${id}`, SpanKind.CONSUMER],
          '@platformatic/kafka': [
            `send compat-plt-${id}`,
            SpanKind.PRODUCER,
            `process compat-plt-${id}`,
            SpanKind.CONSUMER,
          ],
          amqplib: ['send amq.default', SpanKind.PRODUCER, `process compat-queue-${id}`, SpanKind.CONSUMER],
          gRPC: ['compat.Echo/Echo', SpanKind.CLIENT, 'compat.Echo/Echo', SpanKind.SERVER],
        } as const;
        const results = Object.entries(pairs).map(
          ([system, [parentName, parentKind, childName, childKind]]) => {
            const parent = run.spans.find((span) => span.name === parentName && span.kind === parentKind);
            const child = run.spans.find((span) => span.name === childName && span.kind === childKind);
            const ok =
              parent && child && child.parentSpanId === parent.spanId && child.traceId === parent.traceId;
            return ok
              ? undefined
              : `${system}: ${SpanKind[childKind]} ${childName} is not the child of ${SpanKind[parentKind]} ${parentName}`;
          },
        );
        rows.get(setup.id)!.messaging = results.map((problem) => (problem ? '❌' : '✅')).join(' / ');
        expect(results).toEqual([undefined, undefined, undefined, undefined]);
      });
    }

    it(`${setup.label}: @platformatic/kafka imported before tracing, each process span the child of its send span`, async () => {
      const id = `${setup.id}-${process.pid}-${Date.now()}`;
      const run = await runApp(setup, 'platformatic', { COMPAT_ID: id });
      expect(run.failure).toBeUndefined();
      expect(run.body).toEqual({ loop: 'loop-hello', listener: 'listener-hello' });
      const results = ['loop', 'listener'].map((way) => {
        const topic = `compat-plt-${way}-${id}`;
        const send = run.spans.find(
          (span) => span.name === `send ${topic}` && span.kind === SpanKind.PRODUCER,
        );
        const consumer = run.spans.find(
          (span) => span.name === `process ${topic}` && span.kind === SpanKind.CONSUMER,
        );
        const ok =
          send && consumer && consumer.parentSpanId === send.spanId && consumer.traceId === send.traceId;
        return ok
          ? undefined
          : `${way}: CONSUMER process ${topic} is not the child of PRODUCER send ${topic}`;
      });
      rows.get(setup.id)!.platformatic = results.map((problem) => (problem ? '❌' : '✅')).join(' / ');
      expect(results).toEqual([undefined, undefined]);
    });

    it(`${setup.label}: OpenTelemetry's instrumentations, recorded as a contrast`, async () => {
      const [after, first, preloaded] = await Promise.all([
        runApp(setup, 'otel-after'),
        runApp(setup, 'otel-first'),
        runApp(setup, 'plain', {}, preloadFile(setup)),
      ]);
      const row = rows.get(setup.id)!;
      row.otelAfter = otelOutcome(after!);
      row.otelFirst = otelOutcome(first!);
      row.otelPreload = otelOutcome(preloaded!);
      for (const outcome of [row.otelAfter, row.otelFirst, row.otelPreload]) {
        expect(outcome).toMatch(
          /^(full trace|one trace, server span named|trace broken|no server spans|nothing recorded|app failed)/,
        );
      }
    });
  }

  it('the README compatibility table is the one this run produced', () => {
    const node = process.versions.node.split('.')[0]!;
    const table = renderTable([...rows.values()], node);
    console.log(`compatibility table of this run:\n${table}`);
    if (process.env.UPDATE_COMPAT_TABLE === '1') writeTable(table);
    const committed = normalizeTable(committedTable() ?? '');
    expect(committed, 'README.md has the compat-table markers').not.toBe('');
    const committedNode = /\(Node (\d+)\)/.exec(committed)?.[1];
    // OTel's outcomes may differ between Node majors; the table is generated on one (npm test's
    // first pass) and compared in full there. On the others tracewire's column still must match.
    if (committedNode === node) expect(normalizeTable(table)).toBe(committed);
    else expect(tracewireColumn(normalizeTable(table))).toEqual(tracewireColumn(committed));
  });
});

function tracewireColumn(table: string): string[] {
  return table
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| ---') && !line.startsWith('| setup'))
    .map((line) => line.split(' | ').slice(0, 3).join(' | '));
}
