// Shared timing helpers for the benchmarks: alternating rounds, medians, ratios. Numbers are
// only compared within one run; nothing here passes or fails on absolute times.

/** Median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * A timing loop of its own for each variant: V8 then inlines each variant into a monomorphic
 * call site, instead of one shared, megamorphic site that would slow every variant alike and
 * hide the differences being measured.
 */
function timingLoop() {
  return new Function(
    'fn',
    'iterations',
    'let sink = 0; const start = process.hrtime.bigint();' +
      'for (let i = 0; i < iterations; i++) if (fn(i)) sink++;' +
      'return [Number(process.hrtime.bigint() - start) / 1e9, sink];',
  );
}

/**
 * Runs each variant `rounds` times in alternating order, `iterations` calls per round, after a
 * warm-up, and returns the median ops/s per variant.
 */
export function compareOpsPerSecond(variants, { iterations = 300_000, rounds = 9, warmup = 100_000 } = {}) {
  const names = Object.keys(variants);
  const loops = Object.fromEntries(names.map((name) => [name, timingLoop()]));
  const samples = Object.fromEntries(names.map((name) => [name, []]));
  for (const name of names) loops[name](variants[name], warmup);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...names].reverse() : names;
    for (const name of order) {
      const [seconds] = loops[name](variants[name], iterations);
      samples[name].push(iterations / seconds);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, median(list)]));
}

export function formatRate(opsPerSecond) {
  return `${Math.round(opsPerSecond).toLocaleString('en-US')} ops/s`;
}

/** Prints a small table: one row per entry of `rows` ([label, value, note]). */
export function printTable(title, rows) {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value, note = ''] of rows)
    console.log(`  ${label.padEnd(width)}  ${String(value).padStart(18)}  ${note}`);
}
