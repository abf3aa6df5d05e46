import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer, TraceExporterMetricsHelper } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface OtlpExporterOptions {
  /** Full URL of the traces endpoint; default from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
   * OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`, else http://localhost:4318/v1/traces. */
  url?: string;
  /** Default from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. */
  protocol?: OtlpProtocol;
  /** Extra request headers; OTEL_EXPORTER_OTLP_(TRACES_)HEADERS are added by the exporter. */
  headers?: Record<string, string>;
  timeoutMillis?: number;
}

/**
 * OTLP/HTTP with protobuf bodies: what @opentelemetry/exporter-trace-otlp-proto does, built from
 * the same transport and serializer packages the JSON exporter already brings.
 */
class OtlpProtobufTraceExporter extends OTLPExporterBase<ReadableSpan[]> implements SpanExporter {
  constructor(config: Omit<OtlpExporterOptions, 'protocol'>) {
    super(
      createOtlpHttpExportDelegate(
        convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
        ProtobufTraceSerializer,
        'otlp_http_span_exporter',
        TraceExporterMetricsHelper,
        undefined,
      ),
    );
  }
}

export function createOtlpExporter(protocol: OtlpProtocol, options: OtlpExporterOptions): SpanExporter {
  const config: Omit<OtlpExporterOptions, 'protocol'> = {};
  if (options.url !== undefined) config.url = options.url;
  if (options.headers !== undefined) config.headers = options.headers;
  if (options.timeoutMillis !== undefined) config.timeoutMillis = options.timeoutMillis;
  return protocol === 'http/json' ? new OTLPTraceExporter(config) : new OtlpProtobufTraceExporter(config);
}
