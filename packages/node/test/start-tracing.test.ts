import { readFileSync } from 'node:fs';
import {
  type DiagLogger,
  DiagLogLevel,
  type ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  TraceFlags,
  context,
  diag,
  propagation,
  trace,
} from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import {
  AlwaysOnSampler,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { headerGetter, headerSetter } from '@tracewire/core';
import { type StartTracingOptions, type TracingHandle, VERSION, startTracing } from '@tracewire/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spanAccounting } from '../../../test/support/span-accounting.js';

let handle: TracingHandle | undefined;
function start(options: StartTracingOptions): TracingHandle {
  handle = startTracing({
    handleSignals: false,
    ...options,
    spanProcessors: [spanAccounting(), ...(options.spanProcessors ?? [])],
  });
  return handle;
}

afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
  trace.disable();
  context.disable();
  propagation.disable();
  diag.disable();
  vi.unstubAllEnvs();
});

const tracer = () => trace.getTracer('start-tracing-test');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function exported(exporter: InMemorySpanExporter, tracing: TracingHandle) {
  await tracing.forceFlush();
  return exporter.getFinishedSpans();
}

describe('startTracing', () => {
  it('registers the provider, the AsyncLocalStorage context manager and the W3C propagator globally', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = start({ serviceName: 'orders', exporter });
    expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegate()).toBe(tracing.tracerProvider);
    expect(propagation.fields()).toEqual(['traceparent', 'tracestate', 'baggage']);

    const parent = tracer().startSpan('parent');
    const headers: Record<string, string> = {};
    await context.with(trace.setSpan(context.active(), parent), async () => {
      tracer().startSpan('before await').end();
      await sleep(5);
      // Still parented after an await: the AsyncLocalStorage context manager is in place.
      tracer().startSpan('after await').end();
      propagation.inject(context.active(), headers, headerSetter);
    });
    parent.end();

    const { traceId, spanId } = parent.spanContext();
    expect(headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    const extracted = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
    expect(trace.getSpanContext(extracted)).toMatchObject({ traceId, spanId, isRemote: true });

    const spans = await exported(exporter, tracing);
    const byName = Object.fromEntries(spans.map((span) => [span.name, span]));
    for (const name of ['before await', 'after await']) {
      expect(byName[name]?.spanContext().traceId, name).toBe(traceId);
      expect(byName[name]?.parentSpanContext?.spanId, name).toBe(spanId);
    }
  });

  it('describes the service in the resource', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = start({
      serviceName: 'orders',
      serviceVersion: '2.3.4',
      environment: 'staging',
      resourceAttributes: { 'service.namespace': 'shop' },
      exporter,
    });
    tracer().startSpan('work').end();
    const [span] = await exported(exporter, tracing);
    expect(span?.resource.attributes).toMatchObject({
      'service.name': 'orders',
      'service.version': '2.3.4',
      'deployment.environment.name': 'staging',
      'service.namespace': 'shop',
      'telemetry.sdk.language': 'nodejs',
    });
  });

  it('batches spans for a custom exporter, and shutdown flushes them', async () => {
    // Not the InMemorySpanExporter: its shutdown() forgets what it recorded.
    const names: string[] = [];
    const shutdown = vi.fn(async () => {});
    const exporter: SpanExporter = {
      export(spans, done) {
        names.push(...spans.map((span) => span.name));
        done({ code: ExportResultCode.SUCCESS });
      },
      shutdown,
    };
    const tracing = start({ serviceName: 'orders', exporter });
    tracer().startSpan('pending').end();
    expect(names).toEqual([]);
    await tracing.shutdown();
    expect(names).toEqual(['pending']);
    expect(shutdown).toHaveBeenCalledTimes(1);
  });

  it('unregisters its globals on shutdown, so tracing can start again', async () => {
    const first = start({ serviceName: 'first', exporter: 'none' });
    await first.shutdown();
    expect(tracer().startSpan('after shutdown').isRecording()).toBe(false);
    expect(propagation.fields()).toEqual([]);
    const exporter = new InMemorySpanExporter();
    const second = start({ serviceName: 'second', exporter });
    expect(second).not.toBe(first);
    tracer().startSpan('again').end();
    const [span] = await exported(exporter, second);
    expect(span?.resource.attributes['service.name']).toBe('second');
  });

  it('returns the first handle when called twice, with a diag warning', () => {
    const warn = vi.fn();
    const logger: DiagLogger = { error: vi.fn(), warn, info: vi.fn(), debug: vi.fn(), verbose: vi.fn() };
    diag.setLogger(logger, DiagLogLevel.WARN);
    const first = start({ serviceName: 'first', exporter: 'none' });
    const second = startTracing({ serviceName: 'second', exporter: 'console' });
    expect(second).toBe(first);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('startTracing was already called'));
  });

  it("sends spans only to extra span processors with exporter 'none'", async () => {
    const exporter = new InMemorySpanExporter();
    start({ serviceName: 'orders', exporter: 'none', spanProcessors: [new SimpleSpanProcessor(exporter)] });
    tracer().startSpan('kept').end();
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['kept']);
  });

  it('sends each span to every exporter given', async () => {
    const one = new InMemorySpanExporter();
    const two = new InMemorySpanExporter();
    const tracing = start({ serviceName: 'orders', exporter: [one, two] });
    tracer().startSpan('twice').end();
    await tracing.forceFlush();
    expect(one.getFinishedSpans()).toHaveLength(1);
    expect(two.getFinishedSpans()).toHaveLength(1);
  });

  it('registers the propagator given', () => {
    const propagator = { inject: vi.fn(), extract: vi.fn((ctx) => ctx), fields: () => ['x-custom'] };
    start({ serviceName: 'orders', exporter: 'none', propagator });
    expect(propagation.fields()).toEqual(['x-custom']);
  });

  it('flushes on signals only when asked (default on), and stops listening on shutdown', async () => {
    const before = process.listenerCount('SIGTERM');
    start({ serviceName: 'quiet', exporter: 'none', handleSignals: false });
    expect(process.listenerCount('SIGTERM')).toBe(before);
    await handle?.shutdown();
    const tracing = startTracing({ serviceName: 'default', exporter: 'none' });
    handle = tracing;
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    expect(process.listenerCount('SIGINT')).toBeGreaterThan(0);
    await tracing.shutdown();
    expect(process.listenerCount('SIGTERM')).toBe(before);
  });

  it('draws finished traces as waterfalls with the console exporter', async () => {
    const output: string[] = [];
    const tracing = start({
      serviceName: 'console-svc',
      exporter: 'console',
      console: { write: (text) => output.push(text), width: 80, color: false, graceMillis: 10 },
    });
    const root = tracer().startSpan('GET /items', { kind: SpanKind.SERVER });
    context.with(trace.setSpan(context.active(), root), () => tracer().startSpan('load items').end());
    root.end();
    await vi.waitFor(() => expect(output).toHaveLength(1));
    const lines = output[0]!.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^Trace ${root.spanContext().traceId} · .+ · 2 spans · console-svc$`),
    );
    expect(lines[2]).toMatch(/^console-svc GET \/items +server/);
    expect(lines[3]).toMatch(/^console-svc └─ load items +internal/);
    await tracing.shutdown();
    expect(output).toHaveLength(1);
  });

  it.each([
    {
      name: 'a non-string serviceName',
      options: { serviceName: 42 },
      message: /serviceName must be a string/,
    },
    { name: 'an unknown exporter', options: { exporter: 'zipkin' }, message: /exporter must be/ },
    { name: 'an unknown sampler', options: { sampler: 'sometimes' }, message: /sampler must be/ },
    { name: 'a sampler object without shouldSample', options: { sampler: {} }, message: /sampler must be/ },
    { name: 'a ratio above 1', options: { samplerRatio: 1.5 }, message: /samplerRatio/ },
    { name: 'an OTLP gRPC protocol', options: { otlp: { protocol: 'grpc' } }, message: /otlp.protocol/ },
  ])('throws a TypeError for $name, registering nothing', ({ options, message }) => {
    expect(() => startTracing(options as unknown as StartTracingOptions)).toThrow(TypeError);
    expect(() => startTracing(options as unknown as StartTracingOptions)).toThrow(message);
    expect((trace.getTracerProvider() as ProxyTracerProvider).getDelegate().constructor.name).toBe(
      'NoopTracerProvider',
    );
  });

  it('keeps VERSION equal to package.json', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(VERSION).toBe(manifest.version);
  });
});

describe('startTracing and OTEL_* variables', () => {
  it('takes service.name from OTEL_SERVICE_NAME when the code gives none', async () => {
    vi.stubEnv('OTEL_SERVICE_NAME', 'from-env');
    vi.stubEnv('OTEL_RESOURCE_ATTRIBUTES', 'service.namespace=shop,team=a%20b,service.version=0.0.1');
    const exporter = new InMemorySpanExporter();
    const tracing = start({ exporter, serviceVersion: '1.0.0' });
    tracer().startSpan('work').end();
    const [span] = await exported(exporter, tracing);
    expect(span?.resource.attributes).toMatchObject({
      'service.name': 'from-env',
      'service.namespace': 'shop',
      team: 'a b',
      'service.version': '1.0.0',
    });
  });

  it('lets serviceName in code win over OTEL_SERVICE_NAME', async () => {
    vi.stubEnv('OTEL_SERVICE_NAME', 'from-env');
    const exporter = new InMemorySpanExporter();
    const tracing = start({ serviceName: 'from-code', exporter });
    tracer().startSpan('work').end();
    const [span] = await exported(exporter, tracing);
    expect(span?.resource.attributes['service.name']).toBe('from-code');
  });

  it('exports nothing with OTEL_TRACES_SAMPLER=always_off', async () => {
    vi.stubEnv('OTEL_TRACES_SAMPLER', 'always_off');
    const exporter = new InMemorySpanExporter();
    const tracing = start({ serviceName: 'orders', exporter });
    const span = tracer().startSpan('dropped');
    expect(span.isRecording()).toBe(false);
    span.end();
    expect(await exported(exporter, tracing)).toEqual([]);
  });

  it.each([
    { sampler: 'always_on', arg: undefined, root: true, sampledParent: true, unsampledParent: true },
    { sampler: 'always_off', arg: undefined, root: false, sampledParent: false, unsampledParent: false },
    { sampler: 'traceidratio', arg: '0', root: false, sampledParent: false, unsampledParent: false },
    { sampler: 'traceidratio', arg: '1', root: true, sampledParent: true, unsampledParent: true },
    {
      sampler: 'parentbased_always_on',
      arg: undefined,
      root: true,
      sampledParent: true,
      unsampledParent: false,
    },
    {
      sampler: 'parentbased_always_off',
      arg: undefined,
      root: false,
      sampledParent: true,
      unsampledParent: false,
    },
    {
      sampler: 'parentbased_traceidratio',
      arg: '0',
      root: false,
      sampledParent: true,
      unsampledParent: false,
    },
    {
      sampler: 'PARENTBASED_TRACEIDRATIO',
      arg: '1',
      root: true,
      sampledParent: true,
      unsampledParent: false,
    },
    { sampler: 'unknown_sampler', arg: undefined, root: true, sampledParent: true, unsampledParent: false },
  ])(
    'samples with OTEL_TRACES_SAMPLER=$sampler OTEL_TRACES_SAMPLER_ARG=$arg',
    ({ sampler, arg, root, sampledParent, unsampledParent }) => {
      vi.stubEnv('OTEL_TRACES_SAMPLER', sampler);
      if (arg !== undefined) vi.stubEnv('OTEL_TRACES_SAMPLER_ARG', arg);
      start({ serviceName: 'orders', exporter: 'none' });
      const under = (flags: number) =>
        trace.setSpanContext(ROOT_CONTEXT, {
          traceId: '0af7651916cd43dd8448eb211c80319c',
          spanId: 'b7ad6b7169203331',
          traceFlags: flags,
          isRemote: true,
        });
      const spans = [
        tracer().startSpan('root'),
        tracer().startSpan('child', {}, under(TraceFlags.SAMPLED)),
        tracer().startSpan('child', {}, under(TraceFlags.NONE)),
      ];
      const recording = spans.map((span) => span.isRecording());
      for (const span of spans) span.end();
      expect(recording).toEqual([root, sampledParent, unsampledParent]);
    },
  );

  it('lets a sampler in code win over OTEL_TRACES_SAMPLER', () => {
    vi.stubEnv('OTEL_TRACES_SAMPLER', 'always_off');
    start({ serviceName: 'orders', exporter: 'none', sampler: new AlwaysOnSampler() });
    const kept = tracer().startSpan('kept');
    expect(kept.isRecording()).toBe(true);
    kept.end();
  });

  it('uses samplerRatio in code over OTEL_TRACES_SAMPLER_ARG', () => {
    vi.stubEnv('OTEL_TRACES_SAMPLER_ARG', '1');
    start({ serviceName: 'orders', exporter: 'none', sampler: 'traceidratio', samplerRatio: 0 });
    const dropped = tracer().startSpan('dropped');
    expect(dropped.isRecording()).toBe(false);
    dropped.end();
  });

  it('records nothing with OTEL_SDK_DISABLED=true, and still carries the caller context across async calls', async () => {
    vi.stubEnv('OTEL_SDK_DISABLED', 'true');
    const exporter = new InMemorySpanExporter();
    const tracing = start({ serviceName: 'orders', exporter, handleSignals: true });
    const span = tracer().startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    span.end();
    await tracing.forceFlush();
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(startTracing({ serviceName: 'again' })).toBe(tracing);
    // What an adapter does: the caller's context in, a (non-recording) span, an outgoing call later.
    const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const caller = propagation.extract(ROOT_CONTEXT, { traceparent: incoming, baggage: 'tenant=acme' });
    const server = tracer().startSpan('server', {}, caller);
    const outgoing: Record<string, string> = {};
    await context.with(trace.setSpan(caller, server), async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      propagation.inject(context.active(), outgoing);
    });
    server.end();
    expect(outgoing).toEqual({ traceparent: incoming, baggage: 'tenant=acme' });
  });

  it('prints waterfalls on stdout with OTEL_TRACES_EXPORTER=console', async () => {
    vi.stubEnv('OTEL_TRACES_EXPORTER', 'console');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const tracing = start({ serviceName: 'env-console' });
      tracer().startSpan('printed').end();
      await tracing.forceFlush();
      const printed = write.mock.calls.map(([text]) => String(text)).join('');
      expect(printed).toMatch(/Trace [0-9a-f]{32} · .+ · 1 span · env-console/);
      expect(printed).toContain('printed');
    } finally {
      write.mockRestore();
    }
  });
});
