// Propagation micro-benchmark: tracewire's TraceContextPropagator against
// @opentelemetry/core's W3CTraceContextPropagator, in the same process and run.
// Target (issue #13): extract and inject each >= 1.2x OTel's ops/s, with no caching by header value.
// BENCH_JSON=file writes the results there too (bench/run.mjs reads them).
import { writeFileSync } from 'node:fs';
import { ROOT_CONTEXT, defaultTextMapGetter, defaultTextMapSetter, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { TraceContextPropagator } from '@tracewire/core';
import { compareOpsPerSecond, formatRate, printTable } from './measure.mjs';

const headers = {
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
};
const tracewire = new TraceContextPropagator();
const otel = new W3CTraceContextPropagator();

// Each propagator injects a context it extracted itself (its own TraceState class).
const tracewireContext = tracewire.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
const otelContext = otel.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
if (!trace.getSpanContext(tracewireContext) || !trace.getSpanContext(otelContext))
  throw new Error('extract failed');

const sizes =
  process.env.BENCH_QUICK === '1' ? { iterations: 100_000, rounds: 5, warmup: 50_000 } : undefined;
const extract = compareOpsPerSecond(
  {
    tracewire: () => tracewire.extract(ROOT_CONTEXT, headers, defaultTextMapGetter),
    otel: () => otel.extract(ROOT_CONTEXT, headers, defaultTextMapGetter),
  },
  sizes,
);
const inject = compareOpsPerSecond(
  {
    tracewire: () => {
      const carrier = {};
      tracewire.inject(tracewireContext, carrier, defaultTextMapSetter);
      return carrier.traceparent;
    },
    otel: () => {
      const carrier = {};
      otel.inject(otelContext, carrier, defaultTextMapSetter);
      return carrier.traceparent;
    },
  },
  sizes,
);

const extractRatio = extract.tracewire / extract.otel;
const injectRatio = inject.tracewire / inject.otel;
printTable(`propagation (node ${process.version}; traceparent + 2-member tracestate)`, [
  ['extract tracewire', formatRate(extract.tracewire)],
  ['extract otel', formatRate(extract.otel)],
  [
    'extract ratio',
    `${extractRatio.toFixed(2)}x`,
    `target >= 1.2x ${extractRatio >= 1.2 ? 'met' : 'MISSED'}`,
  ],
  ['inject tracewire', formatRate(inject.tracewire)],
  ['inject otel', formatRate(inject.otel)],
  ['inject ratio', `${injectRatio.toFixed(2)}x`, `target >= 1.2x ${injectRatio >= 1.2 ? 'met' : 'MISSED'}`],
]);
if (process.env.BENCH_JSON)
  writeFileSync(
    process.env.BENCH_JSON,
    JSON.stringify({ node: process.version, extract, inject, extractRatio, injectRatio }),
  );
