// The shared in-memory tracing set-up for tests: an SDK that records every span, the
// AsyncLocalStorage context manager, and helpers to read finished spans.
import { type TextMapPropagator, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { spanAccounting } from './span-accounting.js';

export interface TestTracing {
  exporter: InMemorySpanExporter;
  provider: BasicTracerProvider;
  /** Finished spans so far, in the order they ended. */
  spans(): ReadableSpan[];
  /** Waits until `count` spans have ended (or fails after `timeoutMs`). */
  waitForSpans(count: number, timeoutMs?: number): Promise<ReadableSpan[]>;
  reset(): void;
  shutdown(): Promise<void>;
}

/**
 * Registers the SDK globally, with span accounting (see invariants.ts). A global propagator is registered only when given, so by default
 * the adapters fall back to tracewire's own W3C propagator.
 */
export function setupTracing({ propagator }: { propagator?: TextMapPropagator } = {}): TestTracing {
  trace.disable();
  context.disable();
  propagation.disable();
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    spanProcessors: [spanAccounting(), new SimpleSpanProcessor(exporter)],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  if (propagator) propagation.setGlobalPropagator(propagator);
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  return {
    exporter,
    provider,
    spans,
    async waitForSpans(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (spans().length < count) {
        if (Date.now() > deadline) {
          throw new Error(
            `expected ${count} spans, got ${spans().length}: ${spans()
              .map((s) => s.name)
              .join(', ')}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return spans();
    },
    reset() {
      exporter.reset();
    },
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The parent span id of a finished span (SDK 2.x keeps it in `parentSpanContext`). */
export function parentSpanId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
