// `npm run bench`: every transport (Express, Fastify, fetch, undici, node:http, KafkaJS, amqplib,
// gRPC) with bare / floor / tracewire / otel rows, on Node 20 and Node 24, then the end-to-end
// export rows and the propagation micro-benchmark; prints the tables and the targets met/missed.
//   npm run bench -- --quick             a smoke run (BENCH_QUICK=1 does the same)
//   npm run bench -- --report            also writes BENCHMARKS.md, bench/chart.svg, bench/results.json
//   npm run bench -- --rows express,grpc-unary,propagation --node 24 --no-export
//   npm run bench -- --profile --rows express   CPU profiles of tracewire and floor (bench/profile.mjs)
//   npm run bench -- --report --from bench/results.json   rewrites the report from saved results
// The packages must be built first (`npm run build`). No absolute time passes or fails anything.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeBinary } from '../scripts/node-runtime.mjs';
import { writeReport } from './suite/markdown.mjs';
import { exportTable, propagationTable, ratioText, rowsTable, targetList } from './suite/report.mjs';
import { ROWS } from './suite/rows.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};
const quick = flag('--quick') || process.env.BENCH_QUICK === '1';
// Quick mode runs on this Node only unless --node says otherwise: a smoke run stays under 2 minutes.
const majors = (option('--node') ?? (quick ? process.versions.node.split('.')[0] : '20,24'))
  .split(',')
  .map(Number);
const wanted = option('--rows')?.split(',');
const rows = wanted ? wanted.filter((id) => ROWS[id]) : Object.keys(ROWS);
const withPropagation = !wanted || wanted.includes('propagation');
for (const id of wanted ?? [])
  if (!ROWS[id] && id !== 'propagation')
    throw new Error(`unknown row ${id}; rows: ${Object.keys(ROWS).join(', ')}, propagation`);

// The packages this suite loads.
const USED = [
  'core',
  'http',
  'express',
  'fastify',
  'kafkajs',
  'platformatic-kafka',
  'amqplib',
  'grpc',
  'node',
];
const missing = USED.filter((name) => !existsSync(join(root, 'packages', name, 'dist')));
if (missing.length > 0) {
  console.error(`bench: build the packages first (npm run build); no dist in ${missing.join(', ')}`);
  process.exit(1);
}

if (flag('--profile')) {
  const { profileRows } = await import('./profile.mjs');
  await profileRows(rows, { quick });
  process.exit(0);
}

const scratch = mkdtempSync(join(tmpdir(), 'tracewire-bench-'));
const from = option('--from');
const saved = from ? JSON.parse(readFileSync(from, 'utf8')) : { runs: [] };
const results = saved.runs;
const started = Date.now();
for (const major of from ? [] : majors) {
  const node = nodeBinary(major);
  const result = { rows: [], export: [] };
  if (rows.length > 0) {
    const out = join(scratch, `node${major}.json`);
    const extra = [...(quick ? ['--quick'] : []), ...(flag('--no-export') ? ['--no-export'] : [])];
    const run = spawnSync(
      node,
      [join(here, 'suite', 'orchestrate.mjs'), '--out', out, '--rows', rows.join(','), ...extra],
      { stdio: 'inherit' },
    );
    if (run.status !== 0) {
      console.error(`bench: the Node ${major} run failed (exit ${run.status ?? run.signal})`);
      process.exit(1);
    }
    Object.assign(result, JSON.parse(readFileSync(out, 'utf8')));
  }
  if (withPropagation) {
    const out = join(scratch, `propagation${major}.json`);
    const run = spawnSync(node, [join(here, 'propagation.mjs')], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, BENCH_JSON: out, ...(quick ? { BENCH_QUICK: '1' } : {}) },
    });
    if (run.status !== 0) process.exit(1);
    result.propagation = JSON.parse(readFileSync(out, 'utf8'));
    result.node ??= result.propagation.node;
  }
  results.push(result);
}
const seconds = from ? saved.seconds : Math.round((Date.now() - started) / 1000);

for (const result of results) {
  console.log(
    `\n## Node ${result.node}${result.quick ? ' (quick)' : ''}: CPU per operation, added over bare\n`,
  );
  if (result.rows.length) console.log(rowsTable(result));
  if (result.export.length) console.log(`\nEnd to end, OTLP export on:\n\n${exportTable(result)}`);
}
if (withPropagation) console.log(`\nPropagation:\n\n${propagationTable(results)}`);
const targets = targetList(results);
console.log('\nTargets:');
for (const t of targets)
  console.log(`  ${t.verdict.padEnd(6)} ${t.node} ${t.row}: ${t.target} (${ratioText(t.value, t.interval)})`);
const count = (verdict) => targets.filter((t) => t.verdict === verdict).length;
console.log(
  `\n${count('met')} met, ${count('MISSED')} missed, ${count('noise')} within this run's noise, ${count('unreachable')} unreachable, ${count('n/a')} n/a; ${seconds} s`,
);

if (flag('--report')) {
  if (!from) writeFileSync(join(here, 'results.json'), `${JSON.stringify({ seconds, runs: results })}\n`);
  writeReport(results, { root, seconds, quick });
  // In the repository's own Markdown and JSON style, so that lint passes on the committed files.
  spawnSync('npx', ['biome', 'format', '--write', 'BENCHMARKS.md', 'bench/results.json'], {
    cwd: root,
    stdio: 'ignore',
  });
  console.log('\nwrote BENCHMARKS.md, bench/chart.svg, bench/results.json');
}
