// A real OpenTelemetry SDK, so every request gets a real SERVER span and every outgoing call a
// real CLIENT span: the harness then sees, as parent-id, the id of the span that made the call.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/**
 * Registers a tracer provider that samples every span and the AsyncLocalStorage context manager.
 * No propagator is registered, so the tracewire adapters use their own W3C one. `SPANS=console`
 * prints each finished span.
 */
export function registerTracing({ printSpans = process.env.SPANS === 'console' } = {}) {
  const spanProcessors = printSpans ? [new SimpleSpanProcessor(new ConsoleSpanExporter())] : [];
  const provider = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return provider;
}
