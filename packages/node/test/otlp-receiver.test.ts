import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode, TraceFlags, context, trace } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, TraceState } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import {
  type NormalisedSpan,
  type OtlpReceiver,
  normaliseReadableSpan,
  startOtlpReceiver,
} from '@tracewire/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOtlpExporter } from '../src/otlp-exporter.js';
import { spanAccounting } from '../../../test/support/span-accounting.js';

const REMOTE_PARENT = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };

/** Real SDK spans: a SERVER span under a remote parent (with tracestate) and a failing child. */
function sdkSpans(): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'receiver-test', 'service.version': '1.2.3' }),
    spanProcessors: [spanAccounting(), new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('@tracewire/test', '0.0.1');
  const parent = trace.setSpanContext(context.active(), {
    ...REMOTE_PARENT,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=value'),
  });
  const root = tracer.startSpan(
    'GET /orders/:id',
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        ratio: 1.5,
        cached: false,
        'tags.list': ['a', 'b'],
        'counts.list': [1, 2, 3],
      },
    },
    parent,
  );
  const child = tracer.startSpan(
    'SELECT orders',
    {
      kind: SpanKind.CLIENT,
      links: [
        { context: { ...REMOTE_PARENT, traceFlags: TraceFlags.SAMPLED }, attributes: { why: 'batch' } },
      ],
    },
    trace.setSpan(context.active(), root),
  );
  child.addEvent('query.sent', { 'db.rows': 3 });
  child.recordException(new TypeError('bad row'));
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'bad row' });
  child.end();
  root.end();
  return exporter.getFinishedSpans();
}

const bySpanId = (spans: NormalisedSpan[]): NormalisedSpan[] =>
  [...spans].sort((a, b) => a.spanId.localeCompare(b.spanId));

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

function post(url: string, body: Uint8Array | string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', body, headers });
}

// A tiny protobuf writer, independent of the receiver's reader, for payloads the SDK never sends.
const varint = (value: bigint): number[] => {
  const bytes: number[] = [];
  let rest = BigInt.asUintN(64, value);
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    bytes.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return bytes;
};
const key = (field: number, wire: number): number[] => varint(BigInt((field << 3) | wire));
const len = (field: number, bytes: number[]): number[] => [
  ...key(field, 2),
  ...varint(BigInt(bytes.length)),
  ...bytes,
];
const text = (field: number, value: string): number[] => len(field, [...Buffer.from(value)]);
const int = (field: number, value: bigint): number[] => [...key(field, 0), ...varint(value)];
const fixed64 = (field: number, value: bigint): number[] => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(value);
  return [...key(field, 1), ...bytes];
};
const double = (field: number, value: number): number[] => {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return [...key(field, 1), ...bytes];
};
const fixed32 = (field: number, value: number): number[] => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return [...key(field, 5), ...bytes];
};
const hex = (value: string): number[] => [...Buffer.from(value, 'hex')];
const kv = (name: string, anyValue: number[]): number[] => [...text(1, name), ...len(2, anyValue)];

describe('startOtlpReceiver', () => {
  let receiver: OtlpReceiver;
  beforeEach(async () => {
    receiver = await startOtlpReceiver();
  });
  afterEach(async () => {
    await receiver.close();
  });

  it('listens on a free local port and names its traces URL', () => {
    expect(receiver.port).toBeGreaterThan(0);
    expect(receiver.url).toBe(`http://127.0.0.1:${receiver.port}/v1/traces`);
  });

  it('receives OTLP/JSON from the real OTLP/HTTP exporter, decoded exactly', async () => {
    const spans = sdkSpans();
    const result = await exportWith(new OTLPTraceExporter({ url: receiver.url }), spans);
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    const received = await receiver.waitForSpans(2);
    expect(bySpanId(received)).toEqual(bySpanId(spans.map(normaliseReadableSpan)));
    const [root] = received.filter((span) => span.name === 'GET /orders/:id');
    expect(root).toMatchObject({
      parentSpanId: REMOTE_PARENT.spanId,
      traceState: 'vendor=value',
      kind: SpanKind.SERVER,
      serviceName: 'receiver-test',
      scope: { name: '@tracewire/test', version: '0.0.1' },
      attributes: { 'http.response.status_code': 200, ratio: 1.5, cached: false, 'tags.list': ['a', 'b'] },
    });
    expect(receiver.requests()).toEqual([
      { contentType: 'application/json', contentEncoding: 'identity', spanCount: 2 },
    ]);
  });

  it('receives gzip-compressed OTLP/JSON', async () => {
    const spans = sdkSpans();
    const exporter = new OTLPTraceExporter({ url: receiver.url, compression: CompressionAlgorithm.GZIP });
    expect((await exportWith(exporter, spans)).code).toBe(ExportResultCode.SUCCESS);
    expect(bySpanId(await receiver.waitForSpans(2))).toEqual(bySpanId(spans.map(normaliseReadableSpan)));
    expect(receiver.requests()[0]?.contentEncoding).toBe('gzip');
  });

  it('receives OTLP/protobuf serialized by @opentelemetry/otlp-transformer, and answers in protobuf', async () => {
    const spans = sdkSpans();
    const response = await post(receiver.url, ProtobufTraceSerializer.serializeRequest(spans)!, {
      'Content-Type': 'application/x-protobuf',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    expect((await response.arrayBuffer()).byteLength).toBe(0);
    expect(bySpanId(receiver.spans())).toEqual(bySpanId(spans.map(normaliseReadableSpan)));
  });

  it('receives gzip-compressed OTLP/protobuf', async () => {
    const spans = sdkSpans();
    const body = gzipSync(ProtobufTraceSerializer.serializeRequest(spans)!);
    const response = await post(receiver.url, body, {
      'Content-Type': 'application/x-protobuf',
      'Content-Encoding': 'gzip',
    });
    expect(response.status).toBe(200);
    expect(bySpanId(receiver.spans())).toEqual(bySpanId(spans.map(normaliseReadableSpan)));
  });

  it("receives what tracewire's own protobuf exporter sends", async () => {
    const spans = sdkSpans();
    const exporter = createOtlpExporter('http/protobuf', { url: receiver.url });
    expect((await exportWith(exporter, spans)).code).toBe(ExportResultCode.SUCCESS);
    expect(bySpanId(await receiver.waitForSpans(2))).toEqual(bySpanId(spans.map(normaliseReadableSpan)));
    expect(receiver.requests()[0]?.contentType).toBe('application/x-protobuf');
    await exporter.shutdown();
  });

  it('decodes every AnyValue kind, int64 edges and out-of-order fields, skipping unknown fields', async () => {
    const traceId = '5b8efff798038103d269b633813fc60c';
    const spanId = 'eee19b7ec3c1b174';
    const span = [
      ...len(1, hex(traceId)),
      ...len(2, hex(spanId)),
      ...text(5, 'process jobs'),
      ...int(6, 5n), // SPAN_KIND_CONSUMER
      ...fixed64(7, 1_700_000_000_123_456_789n),
      ...fixed64(8, 1_700_000_000_223_456_789n),
      ...fixed32(16, 0x301), // flags: not decoded, skipped by wire type
      ...int(10, 7n), // dropped_attributes_count: skipped
      ...len(9, kv('negative', int(3, -5n))),
      ...len(9, kv('huge', int(3, 2n ** 60n))),
      ...len(9, kv('ratio', double(4, 0.25))),
      ...len(9, kv('flag', int(2, 1n))),
      ...len(9, kv('raw', len(7, [1, 2, 3]))),
      ...len(9, kv('empty', [])),
      ...len(
        9,
        kv(
          'nested',
          len(6, [
            ...len(1, kv('a', text(1, 'x'))),
            ...len(1, kv('list', len(5, [...len(1, int(3, 1n)), ...len(1, text(1, 'two'))]))),
          ]),
        ),
      ),
      ...len(11, [
        ...fixed64(1, 1_700_000_000_150_000_000n),
        ...text(2, 'retry'),
        ...len(3, kv('attempt', int(3, 2n))),
        ...int(4, 0n),
      ]),
      ...len(13, [
        ...len(1, hex(traceId)),
        ...len(2, hex('00f067aa0ba902b7')),
        ...text(3, 'a=b'),
        ...len(4, kv('k', text(1, 'v'))),
      ]),
      ...len(15, [...text(2, 'bad input'), ...int(3, 2n)]),
      ...len(99, [1, 2, 3]), // an unknown embedded field
    ];
    const scopeSpans = [
      ...len(2, span),
      ...len(1, [...text(1, 'worker-lib'), ...text(2, '9.9.9')]),
      ...text(3, 'schema'),
    ];
    const resource = [...len(1, kv('service.name', text(1, 'jobs'))), ...int(2, 0n)];
    // scope_spans before resource, and an unknown varint field in ResourceSpans.
    const request = len(1, [...len(2, scopeSpans), ...int(42, 1n), ...len(1, resource)]);
    const response = await post(receiver.url, new Uint8Array(request), {
      'Content-Type': 'application/x-protobuf',
    });
    expect(response.status).toBe(200);
    expect(receiver.spans()).toEqual([
      {
        traceId,
        spanId,
        name: 'process jobs',
        kind: SpanKind.CONSUMER,
        startTimeUnixNano: '1700000000123456789',
        endTimeUnixNano: '1700000000223456789',
        status: { code: SpanStatusCode.ERROR, message: 'bad input' },
        attributes: {
          negative: -5,
          huge: '1152921504606846976',
          ratio: 0.25,
          flag: true,
          raw: new Uint8Array([1, 2, 3]),
          empty: null,
          nested: { a: 'x', list: [1, 'two'] },
        },
        events: [{ name: 'retry', timeUnixNano: '1700000000150000000', attributes: { attempt: 2 } }],
        links: [{ traceId, spanId: '00f067aa0ba902b7', traceState: 'a=b', attributes: { k: 'v' } }],
        serviceName: 'jobs',
        resourceAttributes: { 'service.name': 'jobs' },
        scope: { name: 'worker-lib', version: '9.9.9' },
      },
    ]);
  });

  it('decodes OTLP/JSON int64 strings, enum names, special doubles and base64 ids', async () => {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-svc' } }] },
          scopeSpans: [
            {
              scope: { name: 'lib' },
              spans: [
                {
                  traceId: Buffer.from('5b8efff798038103d269b633813fc60c', 'hex').toString('base64'),
                  spanId: 'EEE19B7EC3C1B174',
                  parentSpanId: '',
                  name: 'json span',
                  kind: 'SPAN_KIND_PRODUCER',
                  startTimeUnixNano: '1700000000123456789',
                  endTimeUnixNano: 1_700_000_001_000_000_000,
                  attributes: [
                    { key: 'big', value: { intValue: '9007199254740993' } },
                    { key: 'small', value: { intValue: '-3' } },
                    { key: 'nan', value: { doubleValue: 'NaN' } },
                    { key: 'bytes', value: { bytesValue: 'AQID' } },
                  ],
                  status: { code: 'STATUS_CODE_OK' },
                },
              ],
            },
          ],
        },
      ],
    };
    const response = await post(receiver.url, JSON.stringify(body), { 'Content-Type': 'application/json' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    expect(receiver.spans()).toEqual([
      {
        traceId: '5b8efff798038103d269b633813fc60c',
        spanId: 'eee19b7ec3c1b174',
        name: 'json span',
        kind: SpanKind.PRODUCER,
        startTimeUnixNano: '1700000000123456789',
        endTimeUnixNano: '1700000001000000000',
        status: { code: SpanStatusCode.OK },
        attributes: { big: '9007199254740993', small: -3, nan: Number.NaN, bytes: new Uint8Array([1, 2, 3]) },
        events: [],
        links: [],
        serviceName: 'json-svc',
        resourceAttributes: { 'service.name': 'json-svc' },
        scope: { name: 'lib' },
      },
    ]);
  });

  it.each([
    {
      name: 'another path',
      path: '/v1/metrics',
      method: 'POST',
      type: 'application/json',
      body: '{}',
      status: 404,
    },
    {
      name: 'GET',
      path: '/v1/traces',
      method: 'GET',
      type: 'application/json',
      body: undefined,
      status: 405,
    },
    { name: 'text/plain', path: '/v1/traces', method: 'POST', type: 'text/plain', body: '{}', status: 415 },
    {
      name: 'invalid JSON',
      path: '/v1/traces',
      method: 'POST',
      type: 'application/json',
      body: 'nope',
      status: 400,
    },
    {
      name: 'a JSON array',
      path: '/v1/traces',
      method: 'POST',
      type: 'application/json',
      body: '[]',
      status: 400,
    },
    {
      name: 'truncated protobuf',
      path: '/v1/traces',
      method: 'POST',
      type: 'application/x-protobuf',
      body: new Uint8Array([0x0a, 0x05, 0x01]),
      status: 400,
    },
    {
      name: 'a protobuf group',
      path: '/v1/traces',
      method: 'POST',
      type: 'application/x-protobuf',
      body: new Uint8Array([0x0b, 0x0c]),
      status: 400,
    },
    {
      name: 'gzip that is not',
      path: '/v1/traces',
      method: 'POST',
      type: 'application/json',
      encoding: 'gzip',
      body: '{}',
      status: 400,
    },
    {
      name: 'brotli',
      path: '/v1/traces',
      method: 'POST',
      type: 'application/json',
      encoding: 'br',
      body: '{}',
      status: 415,
    },
  ])('answers $status to $name and keeps nothing', async ({ path, method, type, encoding, body, status }) => {
    const headers: Record<string, string> = { 'Content-Type': type };
    if (encoding) headers['Content-Encoding'] = encoding;
    const response = await fetch(new URL(path, receiver.url), { method, headers, body: body ?? null });
    expect(response.status).toBe(status);
    expect(receiver.spans()).toEqual([]);
    expect(receiver.requests()).toEqual([]);
  });

  it('refuses bodies over maxBodyBytes with 413, before and after decompression', async () => {
    const small = await startOtlpReceiver({ maxBodyBytes: 1024 });
    try {
      const big = JSON.stringify({ resourceSpans: [], padding: 'x'.repeat(4096) });
      const plain = await post(small.url, big, { 'Content-Type': 'application/json' });
      expect(plain.status).toBe(413);
      const zipped = await post(small.url, gzipSync(big), {
        'Content-Type': 'application/json',
        'Content-Encoding': 'gzip',
      });
      expect(zipped.status).toBe(400);
      expect(await zipped.text()).toMatch(/cannot decompress/);
      expect(small.spans()).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('groups spans by trace and waits for a count or a condition', async () => {
    const first = sdkSpans();
    const second = sdkSpans();
    const waitingForCount = receiver.waitForSpans(4);
    const waitingForCondition = receiver.waitForSpans((spans) =>
      spans.some((span) => span.spanId === second[0]!.spanContext().spanId),
    );
    const exporter = new OTLPTraceExporter({ url: receiver.url });
    await exportWith(exporter, first);
    await exportWith(exporter, second);
    expect(await waitingForCount).toHaveLength(4);
    expect(await waitingForCondition).toHaveLength(4);
    // The SDK spans all continue the same remote parent's trace, so they share one trace id.
    expect([...receiver.traces().keys()]).toEqual([REMOTE_PARENT.traceId]);
    expect(receiver.traces().get(REMOTE_PARENT.traceId)).toHaveLength(4);
    receiver.clear();
    expect(receiver.spans()).toEqual([]);
    expect(receiver.requests()).toEqual([]);
  });

  it('rejects waitForSpans after the timeout, naming what arrived', async () => {
    await exportWith(new OTLPTraceExporter({ url: receiver.url }), sdkSpans());
    await expect(receiver.waitForSpans(3, 50)).rejects.toThrow(
      /timed out waiting for 3 spans; received 2: (SELECT orders|GET \/orders\/:id), /,
    );
    await expect(receiver.waitForSpans(() => false, 50)).rejects.toThrow(/the expected spans/);
  });
});
