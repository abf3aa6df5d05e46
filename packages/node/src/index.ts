export type { ExporterChoice, StartTracingOptions, TracingHandle } from './start-tracing.js';
export { startTracing } from './start-tracing.js';
export type { ExporterName } from './env.js';
export type { OtlpExporterOptions, OtlpProtocol } from './otlp-exporter.js';
export type { SamplerName } from './sampler.js';
export type { ConsoleExporterOptions } from './console-exporter.js';
export { consoleWaterfallExporter } from './console-exporter.js';
export type { WaterfallInput, WaterfallOptions, WaterfallSpan } from './waterfall.js';
export { renderWaterfall } from './waterfall.js';
export type {
  NormalisedAttributes,
  NormalisedEvent,
  NormalisedLink,
  NormalisedSpan,
  NormalisedValue,
  ReadableSpanLike,
} from './normalised-span.js';
export { normaliseReadableSpan } from './normalised-span.js';
export type { OtlpReceiver, OtlpReceiverOptions, ReceivedRequest, SpanCondition } from './otlp-receiver.js';
export { startOtlpReceiver } from './otlp-receiver.js';
export { VERSION } from './version.js';
