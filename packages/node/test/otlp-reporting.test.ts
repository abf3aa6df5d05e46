import { diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { reportingOnce } from '../src/otlp-exporter.js';

function flaky(outcomes: ExportResultCode[]): SpanExporter {
  return {
    export: (_spans, done) =>
      done({ code: outcomes.shift() ?? ExportResultCode.SUCCESS, error: new Error('ECONNREFUSED') }),
    shutdown: () => Promise.resolve(),
  };
}

function exportOnce(exporter: SpanExporter): Promise<ExportResultCode> {
  return new Promise((resolve) => exporter.export([] as ReadableSpan[], (result) => resolve(result.code)));
}

afterEach(() => vi.restoreAllMocks());

describe('reportingOnce (the OTLP exporter startTracing builds)', () => {
  it('reports an outage once, however many exports fail, and once more after a recovery', async () => {
    const warn = vi.spyOn(diag, 'warn').mockImplementation(() => {});
    const { FAILED, SUCCESS } = ExportResultCode;
    const exporter = reportingOnce(
      flaky([FAILED, FAILED, FAILED, SUCCESS, FAILED, FAILED]),
      'http://collector:4318/v1/traces',
    );
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push(await exportOnce(exporter));
    // The processor always hears success, so the SDK's global error handler stays quiet.
    expect(codes).toEqual([SUCCESS, SUCCESS, SUCCESS, SUCCESS, SUCCESS, SUCCESS]);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(String(warn.mock.calls[0]?.[0])).toContain(
      'exporting spans to http://collector:4318/v1/traces failed',
    );
  });
});
