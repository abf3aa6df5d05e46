import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { type ConsoleExporterOptions, consoleWaterfallExporter } from '@tracewire/node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { spanAccounting } from '../../../test/support/span-accounting.js';

function setup(options: ConsoleExporterOptions = {}) {
  const output: string[] = [];
  const exporter = consoleWaterfallExporter({
    write: (text) => output.push(text),
    width: 80,
    color: false,
    ...options,
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop' }),
    spanProcessors: [spanAccounting(), new SimpleSpanProcessor(exporter)],
  });
  return { output, exporter, tracer: provider.getTracer('console-test'), provider };
}

describe('consoleWaterfallExporter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('draws a trace graceMillis after its root ends, with children that end in the grace period', async () => {
    const { output, tracer } = setup({ graceMillis: 100 });
    const root = tracer.startSpan('POST /orders', { kind: SpanKind.SERVER });
    const late = tracer.startSpan('audit', {}, trace.setSpan(ROOT_CONTEXT, root));
    root.end();
    await vi.advanceTimersByTimeAsync(50);
    late.end();
    await vi.advanceTimersByTimeAsync(99);
    expect(output).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(output).toHaveLength(1);
    const lines = output[0]!.split('\n');
    // Span times come from the real clock, so durations are not asserted.
    expect(lines[0]).toMatch(new RegExp(`^Trace ${root.spanContext().traceId} · .+ · 2 spans · shop$`));
    expect(lines[2]).toMatch(/^shop {4}POST \/orders +server +\S+ (µs|ms) █+$/);
    expect(lines[3]).toMatch(/^shop {4}└─ audit +internal +\S+ (µs|ms) █+$/);
    expect(output[0]!.endsWith('\n\n')).toBe(true);
  });

  it('treats a span under a remote parent as the local root', async () => {
    const { output, tracer } = setup({ graceMillis: 10 });
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    tracer.startSpan('process orders', { kind: SpanKind.CONSUMER }, remote).end();
    await vi.advanceTimersByTimeAsync(10);
    expect(output).toHaveLength(1);
    expect(output[0]).toContain('? process orders');
    expect(output[0]).toContain('? parent b7ad6b7169203331 is not in this trace');
  });

  it('keeps a trace whose root has not ended until a flush (or 10 s of quiet)', async () => {
    const { output, tracer, provider } = setup({ graceMillis: 10 });
    const root = tracer.startSpan('long request');
    tracer.startSpan('step', {}, trace.setSpan(ROOT_CONTEXT, root)).end();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(output).toEqual([]);
    await provider.forceFlush();
    expect(output).toHaveLength(1);
    expect(output[0]).toContain('1 span');
    tracer.startSpan('another step', {}, trace.setSpan(ROOT_CONTEXT, root)).end();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(output).toHaveLength(2);
    root.end();
  });

  it('draws each trace on its own', async () => {
    const { output, tracer } = setup({ graceMillis: 10 });
    tracer.startSpan('first').end();
    tracer.startSpan('second').end();
    await vi.advanceTimersByTimeAsync(10);
    expect(output).toHaveLength(2);
    expect(output.map((text) => text.split('\n')[2]?.slice(0, 15).trimEnd())).toEqual([
      'shop    first',
      'shop    second',
    ]);
  });

  it('never fails an export, nor a flush, because writing failed', async () => {
    const write = vi.fn(() => {
      throw new Error('EPIPE');
    });
    const recorder = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [spanAccounting(), new SimpleSpanProcessor(recorder)],
    });
    provider.getTracer('t').startSpan('x').end();
    const exporter = consoleWaterfallExporter({ write, color: false });
    const result = await new Promise((resolve) => exporter.export(recorder.getFinishedSpans(), resolve));
    expect(result).toEqual({ code: ExportResultCode.SUCCESS });
    await expect(exporter.forceFlush!()).resolves.toBeUndefined();
    expect(write).toHaveBeenCalledTimes(1);
  });
});
