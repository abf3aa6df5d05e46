import { diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
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
  const exporter =
    protocol === 'http/json' ? new OTLPTraceExporter(config) : new OtlpProtobufTraceExporter(config);
  return reportingOnce(exporter, options.url ?? 'the OTLP endpoint');
}

/**
 * Reports failed exports through `diag` once per outage (again only after an export has worked),
 * and tells the span processor every export worked: otherwise the SDK's global error handler logs
 * each failed batch, flooding the app's logs while a collector is down. Spans of a failed export
 * are dropped either way; the SDK does not retry a batch.
 */
export function reportingOnce(exporter: SpanExporter, target: string): SpanExporter {
  let failing = false;
  return {
    export(spans, resultCallback) {
      exporter.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) failing = false;
        else if (!failing) {
          failing = true;
          diag.warn(
            `@tracewire/node: exporting spans to ${target} failed; spans are dropped until an export works again`,
            result.error,
          );
        }
        resultCallback({ code: ExportResultCode.SUCCESS });
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}
