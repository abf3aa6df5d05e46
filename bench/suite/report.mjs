// Turns the results of a run (one entry per Node version) into text tables, the target verdicts,
// BENCHMARKS.md and the SVG chart. Pure functions of the results: nothing here measures.
import { ROWS } from './rows.mjs';
import { median } from './stats.mjs';

export const TARGETS = { tracewireOverFloor: 1.15, otelOverTracewire: 2, propagation: 1.2 };
const fixed = (value, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** Ratios of added costs for one row; n/a where the denominator is not a positive cost. */
export function ratios(row) {
  if (row.unavailable) return {};
  const added = (name) => row.variants[name]?.addedUs;
  const over = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : Number.NaN);
  return {
    tracewireOverFloor: over(added('tracewire'), added('floor')),
    otelOverTracewire: over(added('otel'), added('tracewire')),
    otelOverFloor: over(added('otel'), added('floor')),
  };
}

/** A seeded generator: a report rewritten from saved results draws the same resamples. */
function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** The `p` quantile of sorted numbers. */
const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/**
 * The 90% interval of `statistic(added)` over resamples of the row's rounds, drawn with
 * replacement, a round of every variant together, as the run pairs them; `added(name)` is a
 * variant's added cost in the resample. It shows what the spread between rounds leaves uncertain;
 * a process's own bias (the same for all its rounds) is not in it.
 */
function resampledInterval(row, names, statistic, draws = 2000) {
  const bare = row.variants.bare?.samples;
  const samples = names.map((name) => row.variants[name]?.samples);
  if (!bare || bare.length < 4 || samples.some((list) => list?.length !== bare.length)) return undefined;
  const random = seeded(bare.length * 7919 + Math.round(bare[0] * 1000));
  const n = bare.length;
  const picks = new Array(n);
  const values = [];
  for (let draw = 0; draw < draws; draw++) {
    for (let k = 0; k < n; k++) picks[k] = Math.floor(random() * n);
    const bareMedian = median(picks.map((i) => bare[i]));
    const added = (name) => {
      const list = samples[names.indexOf(name)];
      return (median(picks.map((i) => list[i] / bare[i])) - 1) * bareMedian;
    };
    values.push(statistic(added));
  }
  values.sort((x, y) => x - y);
  return { low: quantile(values, 0.05), high: quantile(values, 0.95) };
}

/** The 90% interval of `top`/`bottom` (ratios of added costs); unbounded where `bottom` added nothing. */
export function ratioInterval(row, top, bottom, draws = 2000) {
  return resampledInterval(
    row,
    [top, bottom],
    (added) => {
      const over = added(bottom);
      return over > 0 ? added(top) / over : Number.POSITIVE_INFINITY;
    },
    draws,
  );
}

/** The 90% interval of the added cost of `top` minus that of `bottom`, in µs per operation. */
export function differenceInterval(row, top, bottom, draws = 2000) {
  return resampledInterval(row, [top, bottom], (added) => added(top) - added(bottom), draws);
}

/**
 * A target's verdict, from the point value and its interval: met or MISSED only when the whole
 * interval is on that side of the threshold; otherwise the run's noise cannot tell ('noise').
 */
function judge(value, interval, threshold, atMost) {
  if (!Number.isFinite(value)) return 'n/a';
  const ok = atMost ? value <= threshold : value >= threshold;
  if (!interval) return ok ? 'met' : 'MISSED';
  const surelyOk = atMost ? interval.high <= threshold : interval.low >= threshold;
  const surelyNot = atMost ? interval.low > threshold : interval.high < threshold;
  return surelyOk ? 'met' : surelyNot ? 'MISSED' : 'noise';
}

/**
 * The verdicts of a row's two targets. `otel/tracewire >= 2` is 'unreachable' where OpenTelemetry's
 * instrumentation adds surely less than twice the floor (the whole otel/floor interval below 2):
 * making the same spans costs at least the floor, so no adapter could be twice as cheap there,
 * and the row is judged by `tracewire/floor` alone.
 */
export function verdicts(row) {
  const { tracewireOverFloor, otelOverTracewire, otelOverFloor } = ratios(row);
  const tfInterval = ratioInterval(row, 'tracewire', 'floor');
  const otInterval = row.variants?.otel ? ratioInterval(row, 'otel', 'tracewire') : undefined;
  const ofInterval = row.variants?.otel ? ratioInterval(row, 'otel', 'floor') : undefined;
  const tf = judge(tracewireOverFloor, tfInterval, TARGETS.tracewireOverFloor, true);
  let ot = !row.variants?.otel
    ? 'n/a'
    : judge(otelOverTracewire, otInterval, TARGETS.otelOverTracewire, false);
  if (ot !== 'met' && ot !== 'n/a' && ofInterval !== undefined && ofInterval.high < TARGETS.otelOverTracewire)
    ot = 'unreachable';
  return { tf, ot, tfInterval, otInterval, otelOverFloor, ofInterval };
}

/** The verdict of `otel/tracewire` as the tables print it, with the bound when it is unreachable. */
function otelVerdictText({ ot, otelOverFloor, ofInterval }) {
  return ot === 'unreachable' ? `unreachable: otel/floor ${ratioText(otelOverFloor, ofInterval)}` : ot;
}

/** `1.23 [0.98–1.61]`: a ratio and its interval. */
export function ratioText(value, interval) {
  const bound = (x) => (x === Number.POSITIVE_INFINITY ? '∞' : fixed(x, 2));
  return interval ? `${fixed(value, 2)} [${bound(interval.low)}–${bound(interval.high)}]` : fixed(value, 2);
}

function checkText(row) {
  const parts = [];
  for (const [name, entry] of Object.entries(row.variants)) {
    if (name === 'bare') continue;
    let text = `${name} ${fixed(entry.spansPerOp, 2)} spans`;
    if (entry.headersPerOp) text += `, ${fixed(entry.headersPerOp.propagated, 2)} own ctx/req at server`;
    else if (entry.check)
      text += entry.check.propagated
        ? ', ctx in msg'
        : entry.check.header
          ? ', const ctx in msg'
          : ', NO ctx in msg';
    else if (row.id.startsWith('grpc')) text += `, ${fixed(entry.withParentPerOp, 2)} joined`;
    else text += `, ${fixed(entry.inCallerTracePerOp, 2)} in caller's trace`;
    parts.push(text);
  }
  return parts.join('; ');
}

/** One Markdown table (also readable as text) of a Node version's rows. */
export function rowsTable(result) {
  const lines = [
    '| transport | unit | bare µs/op | floor +µs | tracewire +µs | otel +µs | tracewire/floor [90% interval] | otel/tracewire [90% interval] | spans per op, propagation check |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const row of result.rows) {
    if (row.unavailable) {
      lines.push(`| ${row.label} | ${row.unit} | n/a | n/a | n/a | n/a | n/a | n/a | ${row.unavailable} |`);
      continue;
    }
    const v = row.variants;
    const { tracewireOverFloor, otelOverTracewire } = ratios(row);
    const verdict = verdicts(row);
    const { tf, tfInterval, otInterval } = verdict;
    lines.push(
      `| ${row.label} | ${row.unit} | ${fixed(v.bare.cpuUs)} | ${fixed(v.floor?.addedUs)} | ${fixed(v.tracewire.addedUs)} | ${v.otel ? fixed(v.otel.addedUs) : 'n/a'} | ${ratioText(tracewireOverFloor, tfInterval)} (${tf}) | ${v.otel ? `${ratioText(otelOverTracewire, otInterval)} (${otelVerdictText(verdict)})` : 'n/a'} | ${checkText(row)}${row.shapeDiff?.length ? `; FLOOR DIFFERS: ${row.shapeDiff.join(' / ')}` : ''} |`,
    );
  }
  return lines.join('\n');
}

export function exportTable(result) {
  const lines = [
    '| transport | bare µs/op | tracewire +µs (recording SDK) | tracewire +µs (OTLP export on) | export − recording [90% interval] | serialization in the export path µs/op | serializer alone, warm µs/op | within serialization | spans received/op |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|',
  ];
  for (const row of result.export) {
    const v = row.variants;
    const recording = v.tracewire.addedUs;
    const exported = v['tracewire:export'].addedUs;
    const { serialize } = v['tracewire:export'];
    const warm = serialize.usPerSpan * v['tracewire:export'].spansPerOp;
    // Older results (before the in-path meter) have only the warm figure.
    const inPath = Number.isFinite(serialize.inPathUsPerOp) ? serialize.inPathUsPerOp : warm;
    const extra = exported - recording;
    const interval = differenceInterval(row, 'tracewire:export', 'tracewire');
    lines.push(
      `| ${row.label} | ${fixed(v.bare.cpuUs)} | ${fixed(recording)} | ${fixed(exported)} | ${differenceText(extra, interval)} | ${fixed(inPath, 2)} | ${fixed(warm, 2)} | ${withinSerialization(extra, interval, inPath)} | ${fixed(row.receivedPerOp, 2)} |`,
    );
  }
  return lines.join('\n');
}

/** `20.5 [4.1–31.0]`: a difference of added costs and its interval. */
const differenceText = (value, interval) =>
  interval ? `${fixed(value)} [${fixed(interval.low)}–${fixed(interval.high)}]` : fixed(value);

/**
 * Whether the export path costs at most the serialization it does: 'yes' or 'no' only when the
 * whole interval of (export − recording) is on that side of the serialization figure.
 */
export function withinSerialization(extra, interval, serialization) {
  if (!Number.isFinite(extra) || !Number.isFinite(serialization)) return 'n/a';
  if (!interval) return extra <= serialization ? 'yes' : 'no';
  if (interval.high <= serialization) return 'yes';
  if (interval.low > serialization) return 'no';
  return 'noise';
}

export function propagationTable(results) {
  const lines = ['| node | extract tracewire/otel | inject tracewire/otel |', '|---|---:|---:|'];
  for (const result of results) {
    const p = result.propagation;
    if (!p) continue;
    const mark = (value) => `${fixed(value, 2)}x (${value >= TARGETS.propagation ? 'met' : 'MISSED'})`;
    lines.push(`| ${result.node} | ${mark(p.extractRatio)} | ${mark(p.injectRatio)} |`);
  }
  return lines.join('\n');
}

/** Every target, per Node version: [{node, row, target, value, verdict}]. */
export function targetList(results) {
  const list = [];
  for (const result of results) {
    for (const row of result.rows) {
      if (row.unavailable) continue;
      const r = ratios(row);
      const verdict = verdicts(row);
      const { tf, ot, tfInterval, otInterval } = verdict;
      list.push({
        node: result.node,
        row: row.label,
        target: 'tracewire/floor <= 1.15',
        value: r.tracewireOverFloor,
        interval: tfInterval,
        verdict: tf,
      });
      if (row.variants.otel)
        list.push({
          node: result.node,
          row: row.label,
          target: 'otel/tracewire >= 2',
          value: r.otelOverTracewire,
          interval: otInterval,
          verdict: ot,
          ...(ot === 'unreachable'
            ? { bound: verdict.otelOverFloor, boundInterval: verdict.ofInterval }
            : {}),
        });
    }
    if (result.propagation) {
      for (const key of ['extract', 'inject']) {
        const value = result.propagation[`${key}Ratio`];
        list.push({
          node: result.node,
          row: `propagation ${key}`,
          target: '>= 1.2x OTel',
          value,
          verdict: value >= TARGETS.propagation ? 'met' : 'MISSED',
        });
      }
    }
  }
  return list;
}

// --- the chart ----------------------------------------------------------------------------------

const COLOURS = { floor: '#9aa5b1', tracewire: '#2b7bb9', otel: '#e07b39' };
const escapeXml = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal grouped bars: added µs per operation (bare = 0), a panel per Node version. */
export function chartSvg(results) {
  const labelWidth = 250;
  const plotWidth = 520;
  const bar = 7;
  const rowHeight = 3 * bar + 8;
  const panels = results.map((result) => result.rows.filter((row) => !row.unavailable));
  const max = Math.max(
    1,
    ...panels
      .flat()
      .flatMap((row) => ['floor', 'tracewire', 'otel'].map((name) => row.variants[name]?.addedUs ?? 0)),
  );
  const scale = plotWidth / max;
  const parts = [];
  let y = 40;
  results.forEach((result, index) => {
    parts.push(
      `<text x="10" y="${y}" font-weight="bold">Node ${escapeXml(result.node)}: CPU added per operation over the bare library (µs)</text>`,
    );
    y += 12;
    for (const row of panels[index]) {
      parts.push(
        `<text x="${labelWidth - 6}" y="${y + rowHeight / 2 + 2}" text-anchor="end">${escapeXml(row.label)}</text>`,
      );
      ['floor', 'tracewire', 'otel'].forEach((name, i) => {
        const value = row.variants[name]?.addedUs;
        if (!Number.isFinite(value)) return;
        const width = Math.max(0, value) * scale;
        const top = y + 2 + i * bar;
        parts.push(
          `<rect x="${labelWidth}" y="${top}" width="${width.toFixed(1)}" height="${bar - 1}" fill="${COLOURS[name]}"/>`,
        );
        parts.push(
          `<text x="${labelWidth + width + 3}" y="${top + bar - 1}" font-size="8">${value.toFixed(0)}</text>`,
        );
      });
      y += rowHeight;
    }
    y += 28;
  });
  const legend = Object.entries(COLOURS)
    .map(
      ([name, colour], i) =>
        `<rect x="${labelWidth + i * 110}" y="10" width="12" height="12" fill="${colour}"/><text x="${labelWidth + 16 + i * 110}" y="20">${name}</text>`,
    )
    .join('');
  const width = labelWidth + plotWidth + 60;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="11">
<title>CPU added per operation over the bare library, floor / tracewire / otel, per transport and Node version</title>
<rect width="100%" height="100%" fill="white"/>
${legend}
${parts.join('\n')}
</svg>
`;
}

export const rowIds = () => Object.keys(ROWS);
