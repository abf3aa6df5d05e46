import { diag } from '@opentelemetry/api';
import type { OtlpProtocol } from './otlp-exporter.js';
import { type SamplerName, isSamplerName } from './sampler.js';

export type ExporterName = 'otlp' | 'console' | 'none';

/** The OTEL_* variables startTracing reads itself (the OTLP exporter reads its own). */
export interface TracingEnv {
  disabled: boolean;
  exporters: ExporterName[] | undefined;
  sampler: SamplerName | undefined;
  samplerArg: number | undefined;
  protocol: OtlpProtocol | undefined;
}

/** A variable's trimmed value; empty counts as unset, as the OTel spec says. */
function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function exportersFrom(value: string | undefined): ExporterName[] | undefined {
  if (value === undefined) return undefined;
  const names: ExporterName[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === 'otlp' || name === 'console' || name === 'none') names.push(name);
    else if (name) diag.warn(`@tracewire/node: OTEL_TRACES_EXPORTER "${name}" is not supported; ignored`);
  }
  if (names.includes('none')) return ['none'];
  return names.length > 0 ? [...new Set(names)] : undefined;
}

function protocolFrom(value: string | undefined): OtlpProtocol | undefined {
  if (value === undefined) return undefined;
  if (value === 'http/protobuf' || value === 'http/json') return value;
  diag.warn(
    `@tracewire/node: OTLP protocol "${value}" is not supported (only http/protobuf and http/json); using http/protobuf`,
  );
  return 'http/protobuf';
}

export function readTracingEnv(env: NodeJS.ProcessEnv = process.env): TracingEnv {
  const sampler = read(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase();
  if (sampler !== undefined && !isSamplerName(sampler)) {
    diag.warn(
      `@tracewire/node: OTEL_TRACES_SAMPLER "${sampler}" is not supported; using parentbased_always_on`,
    );
  }
  const arg = read(env, 'OTEL_TRACES_SAMPLER_ARG');
  return {
    disabled: read(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true',
    exporters: exportersFrom(read(env, 'OTEL_TRACES_EXPORTER')),
    sampler: sampler !== undefined && isSamplerName(sampler) ? sampler : undefined,
    samplerArg: arg === undefined ? undefined : Number(arg),
    protocol: protocolFrom(
      read(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? read(env, 'OTEL_EXPORTER_OTLP_PROTOCOL'),
    ),
  };
}
