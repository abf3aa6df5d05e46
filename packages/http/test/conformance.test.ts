// The examples/w3c-conformance service, in-process, for both frameworks: a few of the W3C
// harness's checks, plus the one the harness cannot make (the parent-id it receives is the id of
// the CLIENT span that made the call). The full harness run is described in that example's README.
import http from 'node:http';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FRAMEWORKS, type RunningService, startService } from '../../../examples/w3c-conformance/app.mjs';
import { parentSpanId, setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, type Received, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
const TRACE_ID = '12345678901234567890123456789012';
const PARENT_ID = '1234567890123456';
let harness: EchoServer;

beforeAll(async () => {
  harness = await startEchoServer();
});
afterAll(async () => {
  await harness.close();
  await tracing.shutdown();
});
afterEach(() => {
  tracing.reset();
  harness.received.length = 0;
});

/** Sends the harness's request: raw header lines (duplicates kept), `count` calls back. */
function sendTest(service: RunningService, headers: string[], count = 1): Promise<number> {
  const url = new URL(service.url);
  const body = JSON.stringify(
    Array.from({ length: count }, (_, i) => ({ url: `${harness.url}/cb.${i}`, arguments: [] })),
  );
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method: 'POST',
      headers: [
        'Host',
        url.host,
        'Content-Type',
        'application/json',
        'Content-Length',
        String(Buffer.byteLength(body)),
        ...headers,
      ],
    });
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    request.end(body);
  });
}

function traceparentOf(received: Received | undefined): { traceId: string; parentId: string; flags: number } {
  const [version, traceId = '', parentId = '', flags = ''] = String(received?.headers.traceparent).split('-');
  expect(version).toBe('00');
  return { traceId, parentId, flags: Number.parseInt(flags, 16) };
}

describe.each(FRAMEWORKS)('W3C conformance service on %s', (framework) => {
  let service: RunningService;
  beforeAll(async () => {
    service = await startService({ framework, port: 0 });
  });
  afterAll(() => service.close());

  it('continues the trace; the parent-id sent is the CLIENT span, child of the SERVER span', async () => {
    expect(await sendTest(service, ['traceparent', `00-${TRACE_ID}-${PARENT_ID}-01`])).toBe(200);
    const sent = traceparentOf(harness.received[0]);
    const spans = await tracing.waitForSpans(2);
    const server = spans.find((span) => span.kind === SpanKind.SERVER)!;
    const client = spans.find((span) => span.kind === SpanKind.CLIENT)!;
    expect(sent.traceId).toBe(TRACE_ID);
    expect(sent.parentId).toBe(client.spanContext().spanId);
    expect(parentSpanId(client)).toBe(server.spanContext().spanId);
    expect(parentSpanId(server)).toBe(PARENT_ID);
    expect(sent.flags & 1).toBe(1);
  });

  it('passes tracestate through, several headers combined in order', async () => {
    await sendTest(service, [
      'traceparent',
      `00-${TRACE_ID}-${PARENT_ID}-01`,
      'tracestate',
      'foo=1,bar=2',
      'TraceState',
      'rojo=00f067aa0ba902b7',
    ]);
    expect(harness.received[0]?.headers.tracestate).toBe('foo=1,bar=2,rojo=00f067aa0ba902b7');
  });

  it('keeps the random flag of the incoming trace', async () => {
    await sendTest(service, ['traceparent', `00-${TRACE_ID}-${PARENT_ID}-03`]);
    const sent = traceparentOf(harness.received[0]);
    expect(sent.traceId).toBe(TRACE_ID);
    expect(sent.flags & 2).toBe(2);
  });

  it('gives every call its own parent-id, each a CLIENT span', async () => {
    await sendTest(service, ['traceparent', `00-${TRACE_ID}-${PARENT_ID}-01`], 3);
    const parentIds = harness.received.map((received) => traceparentOf(received).parentId);
    const spans: ReadableSpan[] = await tracing.waitForSpans(4);
    const clientIds = spans
      .filter((span) => span.kind === SpanKind.CLIENT)
      .map((span) => span.spanContext().spanId);
    expect(new Set(parentIds).size).toBe(3);
    expect(parentIds.sort()).toEqual(clientIds.sort());
  });

  const invalid: Array<[string, string[]]> = [
    ['version ff', ['traceparent', `ff-${TRACE_ID}-${PARENT_ID}-01`]],
    ['all-zero trace-id', ['traceparent', `00-${'0'.repeat(32)}-${PARENT_ID}-01`]],
    ['all-zero parent-id', ['traceparent', `00-${TRACE_ID}-${'0'.repeat(16)}-01`]],
    ['version 00 with trailing data', ['traceparent', `00-${TRACE_ID}-${PARENT_ID}-01-extra`]],
    ['upper-case hex parent-id', ['traceparent', `00-${TRACE_ID}-ABCDEF0123456789-01`]],
    ['flags too short', ['traceparent', `00-${TRACE_ID}-${PARENT_ID}-1`]],
    [
      'two traceparent headers',
      ['traceparent', `00-${TRACE_ID}-${PARENT_ID}-01`, 'traceparent', `00-${TRACE_ID}-${PARENT_ID}-01`],
    ],
  ];
  it.each(invalid)(
    'restarts the trace and drops tracestate on an invalid traceparent: %s',
    async (_case, headers) => {
      await sendTest(service, [...headers, 'tracestate', 'foo=1']);
      const sent = traceparentOf(harness.received[0]);
      expect(sent.traceId).not.toBe(TRACE_ID);
      expect(sent.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(sent.traceId).not.toBe('0'.repeat(32));
      expect(harness.received[0]?.headers.tracestate).toBeUndefined();
    },
  );
});
