// Tracing for the fault and soak suites: a recording SDK whose extra processor tracks every span
// started and not yet ended, so a test can assert that a fault left nothing open.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { spanAccounting } from '../../support/span-accounting.js';

/** Spans started and not yet ended, by span id; also counts starts and ends. */
export class OpenSpans implements SpanProcessor {
  readonly #open = new Map<string, Span>();
  started = 0;
  ended = 0;

  onStart(span: Span): void {
    this.started++;
    this.#open.set(span.spanContext().spanId, span);
  }

  onEnd(span: ReadableSpan): void {
    this.ended++;
    this.#open.delete(span.spanContext().spanId);
  }

  get size(): number {
    return this.#open.size;
  }

  /** `name (kind)` of each open span, for failure messages. */
  names(): string[] {
    return [...this.#open.values()].map((span) => `${span.name} (kind ${span.kind})`);
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** An exporter that keeps nothing: counts spans by `name|status code`. */
export class CountingExporter implements SpanExporter {
  readonly counts = new Map<string, number>();
  total = 0;

  export(spans: ReadableSpan[], done: (result: { code: ExportResultCode }) => void): void {
    for (const span of spans) {
      const key = `${span.name}|${span.status.code}`;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
    this.total += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
}

export interface FaultTracing {
  open: OpenSpans;
  /** The in-memory exporter, when spans are kept. */
  memory: InMemorySpanExporter | undefined;
  counting: CountingExporter | undefined;
  spans(): ReadableSpan[];
  /** Resolves once no span is open; rejects naming the open ones after `timeoutMs`. */
  settled(timeoutMs?: number): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Registers a recording SDK globally: spans kept in memory, or only counted (`count: true`). The
 * shared span accounting (test/support) is one of its processors, so the invariants setup file
 * checks these suites as it checks every other; OpenSpans lets a test assert it mid-test.
 */
export function setupFaultTracing({ count = false }: { count?: boolean } = {}): FaultTracing {
  trace.disable();
  context.disable();
  propagation.disable();
  const open = new OpenSpans();
  const memory = count ? undefined : new InMemorySpanExporter();
  const counting = count ? new CountingExporter() : undefined;
  const exporter: SpanExporter = memory ?? (counting as CountingExporter);
  const provider = new BasicTracerProvider({
    spanProcessors: [spanAccounting(), open, new SimpleSpanProcessor(exporter)],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return {
    open,
    memory,
    counting,
    spans: () => memory?.getFinishedSpans() ?? [],
    async settled(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (open.size > 0) throw new Error(`${open.size} spans never ended: ${open.names().join(', ')}`);
    },
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
