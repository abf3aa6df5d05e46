// The SDK the messaging benchmarks trace with: every span recorded and batched, then dropped by
// an exporter that only counts them, so the cost measured is tracing's, not an exporter's.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Registers it globally (no global propagator: adapters use tracewire's own W3C one). */
export function registerRecordingSdk({ maxQueueSize }) {
  const counter = { exported: 0 };
  const discard = {
    export(spans, done) {
      counter.exported += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const provider = new BasicTracerProvider({
    spanProcessors: [
      new BatchSpanProcessor(discard, { maxQueueSize, maxExportBatchSize: 2048, scheduledDelayMillis: 500 }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return { provider, counter };
}
