// Cross-language proof: a Python service traced with the OpenTelemetry Python SDK (from PyPI, in a
// cached virtualenv) calls a tracewire gateway (a separate node process running the built
// packages) with its trace context and baggage; the gateway calls the Python service back. All
// spans, exported over OTLP/HTTP (protobuf from Python, JSON from tracewire) to one local
// receiver, must form one trace with the right parents.
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import {
  type NormalisedSpan,
  type OtlpReceiver,
  type ReceivedRequest,
  startOtlpReceiver,
} from '@tracewire/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PythonVenv, ensurePythonVenv } from '../support/python-venv.js';
import {
  type Service,
  buildPackages,
  cleanEnv,
  lastJsonLine,
  only,
  runCommand,
  startNodeService,
} from './support.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const TENANT = 'acme/zürich';
// Percent-encoded the same way by both SDKs. (A space would not round-trip: Python encodes it '+'.)
const BAGGAGE_HEADER = 'tenant=acme%2Fz%C3%BCrich';
const PYTHON = 'python-client';
const GATEWAY = 'tracewire-gateway';

/** What service.py prints. */
interface PythonReport {
  traceId: string;
  rootSpanId: string;
  clientSpanId: string;
  sentHeaders: Record<string, string>;
  gatewayStatus: number;
  gatewayAnswer: { tenant: string | null; callback: { tenant: string | null } };
  gatewayTenantHeader: string | null;
  callbacks: {
    traceparent: string | null;
    baggage: string | null;
    tenant: string | null;
    traceId: string;
    spanId: string;
  }[];
}

/** Runs service.py to its end; rejects with its output unless it exits 0. */
async function runPython(venv: PythonVenv, env: Record<string, string>): Promise<PythonReport> {
  const stdout = await runCommand(venv.python, [here('./python/service.py')], {
    env: cleanEnv({ PYTHONUNBUFFERED: '1', ...env }),
    timeoutMs: 60_000,
  });
  return lastJsonLine<PythonReport>(stdout);
}

interface Outcome {
  report: PythonReport;
  spans: NormalisedSpan[];
  requests: ReceivedRequest[];
}

describe('cross-language: a Python OpenTelemetry SDK service and a tracewire service in one trace', () => {
  let receiver: OtlpReceiver | undefined;
  let gateway: Service | undefined;
  let gatewayPort = 0;
  let venv: PythonVenv | undefined;
  let outcome: Promise<Outcome> | undefined;

  // Missing Python, PyPI or a failed build fails the suite here; it never skips.
  beforeAll(async () => {
    await buildPackages();
    venv = await ensurePythonVenv({
      name: 'py-otel-venv',
      requirementsFile: here('./python/requirements.txt'),
    });
    receiver = await startOtlpReceiver();
    gateway = startNodeService(
      here('./gateway.mjs'),
      cleanEnv({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      }),
    );
    gatewayPort = Number((await gateway.waitForLine(/^listening (\d+)$/, 30_000))[1]);
  }, 600_000);

  afterAll(async () => {
    gateway?.child.kill('SIGKILL');
    await receiver?.close();
  });

  /** Runs the Python service once; every test asserts on the same outcome. */
  const scenario = (): Promise<Outcome> => {
    outcome ??= (async () => {
      if (!receiver || !gateway || !venv) throw new Error('the setup did not complete');
      const report = await runPython(venv, {
        GATEWAY_URL: `http://127.0.0.1:${gatewayPort}/relay`,
        OTLP_TRACES_URL: receiver.url,
        TENANT,
      });
      await gateway.stop();
      // Both processes flushed before ending; a missing span shows up in the assertions below.
      const spans = await receiver.waitForSpans(5, 10_000).catch(() => receiver?.spans() ?? []);
      return { report, spans, requests: receiver.requests() };
    })();
    return outcome;
  };

  it('Python sent W3C traceparent and baggage from its CLIENT span and got the callback through the gateway', async () => {
    const { report } = await scenario();
    expect(report.traceId).toMatch(/^[0-9a-f]{32}$/);
    // The pinned Python SDK sets the Level 2 random bit as well as sampled.
    expect(report.sentHeaders.traceparent).toBe(`00-${report.traceId}-${report.clientSpanId}-03`);
    expect(report.sentHeaders.baggage).toBe(BAGGAGE_HEADER);
    expect(report.gatewayStatus).toBe(200);
    expect(report.callbacks).toHaveLength(1);
    expect(report.callbacks[0]!.traceId).toBe(report.traceId);
  });

  it('every span carries the Python trace id; exactly one root (Python), no orphans, unique ids', async () => {
    const { report, spans } = await scenario();
    expect(spans).toHaveLength(5);
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([report.traceId]));
    const ids = new Set(spans.map((span) => span.spanId));
    expect(ids.size).toBe(spans.length);
    const roots = spans.filter((span) => span.parentSpanId === undefined);
    expect(roots.map((span) => [span.serviceName, span.spanId])).toEqual([[PYTHON, report.rootSpanId]]);
    const orphans = spans.filter((span) => span.parentSpanId !== undefined && !ids.has(span.parentSpanId));
    expect(orphans.map((span) => span.name)).toEqual([]);
    expect(new Set(spans.map((span) => span.serviceName))).toEqual(new Set([PYTHON, GATEWAY]));
  });

  it('parents hop by hop: Python CLIENT -> gateway SERVER -> gateway fetch CLIENT -> Python SERVER', async () => {
    const { report, spans } = await scenario();
    const root = only(spans, PYTHON, SpanKind.INTERNAL, 'checkout');
    expect(root.spanId).toBe(report.rootSpanId);
    const client = only(spans, PYTHON, SpanKind.CLIENT, 'POST');
    expect(client.spanId).toBe(report.clientSpanId);
    expect(client.parentSpanId).toBe(root.spanId);

    const server = only(spans, GATEWAY, SpanKind.SERVER, 'POST /relay');
    expect(server.parentSpanId).toBe(client.spanId);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/relay',
      'http.response.status_code': 200,
    });
    const fetchCall = only(spans, GATEWAY, SpanKind.CLIENT, 'POST');
    expect(fetchCall.parentSpanId).toBe(server.spanId);
    expect(fetchCall.attributes['url.full']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(fetchCall.attributes['http.response.status_code']).toBe(200);

    const callback = only(spans, PYTHON, SpanKind.SERVER, 'POST /callback');
    expect(callback.parentSpanId).toBe(fetchCall.spanId);
    expect(callback.spanId).toBe(report.callbacks[0]!.spanId);
    // tracewire keeps the random bit it received (W3C Trace Context Level 2).
    expect(report.callbacks[0]!.traceparent).toBe(`00-${report.traceId}-${fetchCall.spanId}-03`);
  });

  it('the baggage entry set in Python reaches the gateway and, through its fetch, the Python callback', async () => {
    const { report, spans } = await scenario();
    expect(report.gatewayAnswer.tenant).toBe(TENANT);
    expect(decodeURIComponent(report.gatewayTenantHeader ?? '')).toBe(TENANT);
    expect(only(spans, GATEWAY, SpanKind.SERVER, 'POST /relay').attributes['app.tenant']).toBe(TENANT);
    expect(report.callbacks[0]!.baggage).toBe(BAGGAGE_HEADER);
    expect(report.callbacks[0]!.tenant).toBe(TENANT);
    expect(report.gatewayAnswer.callback.tenant).toBe(TENANT);
    expect(only(spans, PYTHON, SpanKind.SERVER, 'POST /callback').attributes['app.tenant']).toBe(TENANT);
  });

  it('the receiver took Python spans as OTLP/HTTP protobuf and tracewire spans as OTLP/HTTP JSON', async () => {
    const { spans, requests } = await scenario();
    const countBy = (type: string): number =>
      requests
        .filter((request) => request.contentType === type)
        .reduce((sum, request) => sum + request.spanCount, 0);
    expect(countBy('application/x-protobuf')).toBe(
      spans.filter((span) => span.serviceName === PYTHON).length,
    );
    expect(countBy('application/x-protobuf')).toBe(3);
    expect(countBy('application/json')).toBe(2);
    const python = spans.filter((span) => span.serviceName === PYTHON);
    expect(new Set(python.map((span) => span.resourceAttributes['telemetry.sdk.language']))).toEqual(
      new Set(['python']),
    );
  });
});
