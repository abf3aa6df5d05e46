import {
  type Attributes,
  type TextMapPropagator,
  type TracerProvider,
  context,
  diag,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  type Resource,
  defaultResource,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { W3CPropagator, reportOnce } from '@tracewire/core';
import { type ConsoleExporterOptions, consoleWaterfallExporter } from './console-exporter.js';
import { type ExporterName, type TracingEnv, readTracingEnv } from './env.js';
import { type OtlpExporterOptions, createOtlpExporter } from './otlp-exporter.js';
import { type SamplerName, createSampler, isSamplerName, samplerRatio } from './sampler.js';
import { flushOnSignals } from './signals.js';

export type ExporterChoice = ExporterName | SpanExporter;

export interface StartTracingOptions {
  /** `service.name`; when omitted: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else unknown_service:node. */
  serviceName?: string;
  /** `service.version`. */
  serviceVersion?: string;
  /** `deployment.environment.name`. */
  environment?: string;
  /** More resource attributes; the three options above win over these, these over OTEL_RESOURCE_ATTRIBUTES. */
  resourceAttributes?: Attributes;
  /**
   * Where spans go: `'otlp'` (OTLP/HTTP, batched), `'console'` (a waterfall per trace on stdout),
   * `'none'`, a SpanExporter (batched), or several of these. Default: OTEL_TRACES_EXPORTER, else otlp.
   */
  exporter?: ExporterChoice | readonly ExporterChoice[];
  /** For the otlp exporter. */
  otlp?: OtlpExporterOptions;
  /** For the console exporter. */
  console?: ConsoleExporterOptions;
  /** A Sampler or an OTEL_TRACES_SAMPLER name; default: OTEL_TRACES_SAMPLER, else parentbased_always_on. */
  sampler?: Sampler | SamplerName;
  /** The ratio for the traceidratio samplers; default OTEL_TRACES_SAMPLER_ARG, else 1. */
  samplerRatio?: number;
  /** Default: tracewire's W3C trace context + baggage propagator. */
  propagator?: TextMapPropagator;
  /** Extra span processors, added after the exporters'. */
  spanProcessors?: SpanProcessor[];
  /** Flush on SIGTERM/SIGINT (and before a natural exit); default true. */
  handleSignals?: boolean;
}

export interface TracingHandle {
  /** The provider (also registered globally); the API's no-op one when OTEL_SDK_DISABLED=true. */
  tracerProvider: TracerProvider;
  /** Exports what is pending; never rejects (failures are reported through diag). */
  forceFlush(): Promise<void>;
  /** Flushes, stops exporting and unregisters the globals, so startTracing can run again. */
  shutdown(): Promise<void>;
}

const ATTR_SERVICE_NAME = 'service.name';
const ATTR_SERVICE_VERSION = 'service.version';
const ATTR_DEPLOYMENT_ENVIRONMENT_NAME = 'deployment.environment.name';
const EXPORTER_NAMES: readonly string[] = ['otlp', 'console', 'none'];
const PROTOCOLS: readonly string[] = ['http/protobuf', 'http/json'];
// One handle per process, even when both the ESM and the CJS build of this package are loaded.
const CURRENT = Symbol.for('@tracewire/node.tracing');
const registry = globalThis as { [CURRENT]?: TracingHandle };

function isExporter(value: unknown): value is SpanExporter {
  return typeof value === 'object' && value !== null && typeof (value as SpanExporter).export === 'function';
}

function fail(message: string): never {
  throw new TypeError(`@tracewire/node: ${message}`);
}

function validate(options: StartTracingOptions): void {
  for (const key of ['serviceName', 'serviceVersion', 'environment'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'string') fail(`${key} must be a string`);
  }
  const exporters = options.exporter === undefined ? [] : [options.exporter].flat();
  for (const exporter of exporters) {
    if (!isExporter(exporter) && !EXPORTER_NAMES.includes(exporter as string)) {
      fail(`exporter must be 'otlp', 'console', 'none' or a SpanExporter, got ${String(exporter)}`);
    }
  }
  const { sampler, samplerRatio: ratio, otlp } = options;
  if (
    typeof sampler === 'string' ? !isSamplerName(sampler) : sampler !== undefined && !sampler.shouldSample
  ) {
    fail(`sampler must be a Sampler or an OTEL_TRACES_SAMPLER name, got ${String(sampler)}`);
  }
  if (ratio !== undefined && !(typeof ratio === 'number' && ratio >= 0 && ratio <= 1)) {
    fail('samplerRatio must be a number from 0 to 1');
  }
  if (otlp?.protocol !== undefined && !PROTOCOLS.includes(otlp.protocol)) {
    fail(`otlp.protocol must be 'http/protobuf' or 'http/json', got ${String(otlp.protocol)}`);
  }
}

function buildResource(options: StartTracingOptions): Resource {
  const attributes: Attributes = { ...options.resourceAttributes };
  if (options.serviceName) attributes[ATTR_SERVICE_NAME] = options.serviceName;
  if (options.serviceVersion) attributes[ATTR_SERVICE_VERSION] = options.serviceVersion;
  if (options.environment) attributes[ATTR_DEPLOYMENT_ENVIRONMENT_NAME] = options.environment;
  // Later merges win: SDK defaults < OTEL_RESOURCE_ATTRIBUTES < OTEL_SERVICE_NAME < code.
  return defaultResource()
    .merge(resourceFromAttributes(envDetector.detect().attributes ?? {}))
    .merge(resourceFromAttributes(attributes));
}

function buildSampler(options: StartTracingOptions, env: TracingEnv): Sampler {
  const { sampler } = options;
  if (sampler !== undefined && typeof sampler !== 'string') return sampler;
  const name = sampler ?? env.sampler ?? 'parentbased_always_on';
  // OTEL_TRACES_SAMPLER_ARG is read (and checked) only for the samplers that take a ratio.
  const ratio = name.endsWith('traceidratio')
    ? (options.samplerRatio ?? samplerRatio(env.samplerArg, 'OTEL_TRACES_SAMPLER_ARG'))
    : 1;
  return createSampler(name, ratio);
}

function buildProcessors(options: StartTracingOptions, env: TracingEnv): SpanProcessor[] {
  const choices: ExporterChoice[] =
    options.exporter !== undefined ? [options.exporter].flat() : (env.exporters ?? ['otlp']);
  const { otlp = {} } = options;
  const processors: SpanProcessor[] = [];
  for (const choice of choices) {
    if (isExporter(choice)) processors.push(new BatchSpanProcessor(choice));
    else if (choice === 'otlp') {
      const protocol = otlp.protocol ?? env.protocol ?? 'http/protobuf';
      processors.push(new BatchSpanProcessor(createOtlpExporter(protocol, otlp)));
    } else if (choice === 'console') {
      processors.push(new SimpleSpanProcessor(consoleWaterfallExporter(options.console)));
    }
  }
  return processors;
}

/**
 * No SDK: no tracer provider, so nothing is recorded or exported. The context manager and the
 * propagator are still registered: with the API's no-op tracer an adapter's span carries the
 * caller's context, and the context manager lets it reach the outgoing calls made while handling,
 * so services behind this one stay in the caller's trace.
 */
function disabledHandle(options: StartTracingOptions): TracingHandle {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const registered = {
    context: context.setGlobalContextManager(contextManager),
    propagation: propagation.setGlobalPropagator(options.propagator ?? new W3CPropagator()),
  };
  if (!registered.context) contextManager.disable();
  const handle: TracingHandle = {
    tracerProvider: trace.getTracerProvider(),
    forceFlush: async () => {},
    shutdown: async () => {
      if (registered.context) context.disable();
      if (registered.propagation) propagation.disable();
      if (registry[CURRENT] === handle) delete registry[CURRENT];
    },
  };
  return handle;
}

function start(options: StartTracingOptions, env: TracingEnv): TracingHandle {
  const { propagator = new W3CPropagator(), spanProcessors = [], handleSignals = true } = options;
  let ended = 0;
  let flushedAt = 0;
  // Counts ended spans, so a natural exit flushes only when something is waiting.
  const counter: SpanProcessor = {
    onStart: () => {},
    onEnd: () => {
      ended++;
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new BasicTracerProvider({
    resource: buildResource(options),
    sampler: buildSampler(options, env),
    spanProcessors: [counter, ...buildProcessors(options, env), ...spanProcessors],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  const registered = {
    trace: trace.setGlobalTracerProvider(provider),
    context: context.setGlobalContextManager(contextManager),
    propagation: propagation.setGlobalPropagator(propagator),
  };
  if (!registered.context) contextManager.disable();
  for (const [what, ok] of Object.entries(registered)) {
    if (!ok) reportOnce(`@tracewire/node: a global ${what} API was already registered; left in place`);
  }

  const forceFlush = async (): Promise<void> => {
    flushedAt = ended;
    try {
      await provider.forceFlush();
    } catch (error) {
      reportOnce('@tracewire/node: flushing spans failed', error);
    }
  };
  const onBeforeExit = (): void => {
    if (ended !== flushedAt) void forceFlush();
  };
  const removeSignalListeners = handleSignals ? flushOnSignals(forceFlush) : () => {};
  if (handleSignals) process.on('beforeExit', onBeforeExit);

  let stopping: Promise<void> | undefined;
  const handle: TracingHandle = {
    tracerProvider: provider,
    forceFlush,
    shutdown() {
      stopping ??= (async () => {
        removeSignalListeners();
        process.off('beforeExit', onBeforeExit);
        try {
          await provider.shutdown();
        } catch (error) {
          reportOnce('@tracewire/node: shutting tracing down failed', error);
        } finally {
          if (registered.trace) trace.disable();
          if (registered.context) context.disable();
          if (registered.propagation) propagation.disable();
          if (registry[CURRENT] === handle) delete registry[CURRENT];
        }
      })();
      return stopping;
    },
  };
  return handle;
}

/**
 * Sets up OpenTelemetry tracing in one call: a tracer provider with the service's resource, the
 * AsyncLocalStorage context manager and tracewire's W3C propagator registered globally, and the
 * exporter(s). Calling it again returns the first handle until that one is shut down.
 */
export function startTracing(options: StartTracingOptions = {}): TracingHandle {
  const existing = registry[CURRENT];
  if (existing) {
    diag.warn('@tracewire/node: startTracing was already called; returning the first handle');
    return existing;
  }
  validate(options);
  const env = readTracingEnv();
  let handle: TracingHandle;
  if (env.disabled) handle = disabledHandle(options);
  else {
    try {
      handle = start(options, env);
    } catch (error) {
      reportOnce('@tracewire/node: tracing could not start; continuing without it', error);
      handle = disabledHandle(options);
    }
  }
  registry[CURRENT] = handle;
  return handle;
}
