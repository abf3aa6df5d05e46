// The SDK of one variant process. `recording`: every span recorded and batched, then dropped by an
// exporter that only counts, so the cost measured is tracing's, not an exporter's. `export`: the
// real path users run, @tracewire/node's startTracing() with OTLP http/protobuf to a receiver.
// Either way a recorder processor counts spans and keeps the shapes of a sampled operation.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { TRACE_ID } from './constants.mjs';

/** Counts ended spans by kind; while sampling, keeps each one's shape (and the spans themselves). */
export class Recorder {
  ended = 0;
  byKind = [0, 0, 0, 0, 0];
  /** Spans in the caller's trace (TRACE_ID): incoming context was continued. */
  inCallerTrace = 0;
  /** SERVER/CONSUMER spans with a parent: propagation inside one process (gRPC) worked. */
  withParent = 0;
  sampling = false;
  samples = [];
  keep = 0;
  kept = [];

  onStart() {}
  onEnd(span) {
    this.ended++;
    this.byKind[span.kind]++;
    const spanContext = span.spanContext();
    if (spanContext.traceId === TRACE_ID) this.inCallerTrace++;
    if ((span.kind === 1 || span.kind === 4) && span.parentSpanContext?.spanId) this.withParent++;
    if (this.sampling) this.samples.push(shapeOf(span));
    if (this.kept.length < this.keep) this.kept.push(span);
  }
  forceFlush() {
    return Promise.resolve();
  }
  shutdown() {
    return Promise.resolve();
  }
  counts() {
    const { ended, byKind, inCallerTrace, withParent } = this;
    return { ended, byKind: [...byKind], inCallerTrace, withParent };
  }
}

/** What the floor copies from tracewire's spans: name, kind, attributes, links, events. */
export function shapeOf(span) {
  return {
    name: span.name,
    kind: span.kind,
    attributes: { ...span.attributes },
    links: span.links.length,
    events: span.events.map((event) => ({ name: event.name, attributes: { ...event.attributes } })),
    status: span.status.code,
    hasParent: Boolean(span.parentSpanContext?.spanId),
    start: Number(span.startTime[0]) * 1e9 + span.startTime[1],
  };
}

export async function startSdk({ mode, variant, otlpUrl }) {
  const recorder = new Recorder();
  if (mode === 'export') {
    const { startTracing } = await import('@tracewire/node');
    const serializing = await meterSerializer();
    const handle = startTracing({
      serviceName: `bench-${variant}`,
      exporter: 'otlp',
      otlp: { url: otlpUrl, protocol: 'http/protobuf' },
      spanProcessors: [recorder],
      handleSignals: false,
    });
    if (variant === 'otel') propagation.setGlobalPropagator(otelPropagator());
    return { recorder, provider: handle.tracerProvider, flush: () => handle.forceFlush(), serializing };
  }
  const discard = {
    export(_spans, done) {
      done({ code: 0 });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  const provider = new BasicTracerProvider({
    sampler: new AlwaysOnSampler(),
    spanProcessors: [
      recorder,
      new BatchSpanProcessor(discard, { maxQueueSize: 65_536, maxExportBatchSize: 2048 }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // What the OpenTelemetry Node SDK registers by default; tracewire needs none (its own W3C one).
  if (variant === 'otel') propagation.setGlobalPropagator(otelPropagator());
  return { recorder, provider, flush: () => provider.forceFlush() };
}

/**
 * The CPU the exporter's own protobuf serialization takes inside the export path, while `measuring`
 * is set (the measured rounds): a bench-only wrapper around the serializer object the exporter calls
 * through, so it is counted where and when it really runs (cold caches, interleaved with requests),
 * not only in a warm loop of its own.
 */
async function meterSerializer() {
  const { ProtobufTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  const meter = { measuring: false, cpuUs: 0, calls: 0, ops: 0 };
  const serialize = ProtobufTraceSerializer.serializeRequest;
  ProtobufTraceSerializer.serializeRequest = function metered(...args) {
    if (!meter.measuring) return serialize.apply(this, args);
    const before = process.cpuUsage();
    try {
      return serialize.apply(this, args);
    } finally {
      const { user, system } = process.cpuUsage(before);
      meter.cpuUs += user + system;
      meter.calls++;
    }
  };
  return meter;
}

function otelPropagator() {
  return new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
}
