import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import type { NormalisedSpan } from './normalised-span.js';
import { decodeTraceRequestJson } from './otlp-json.js';
import { decodeTraceRequestProtobuf } from './otlp-protobuf.js';

export interface OtlpReceiverOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1: local use only. */
  host?: string;
  /** Largest request body accepted, before and after decompression; default 64 MiB. */
  maxBodyBytes?: number;
}

export type SpanCondition = number | ((spans: NormalisedSpan[]) => boolean);

/** How one accepted export request came in. */
export interface ReceivedRequest {
  /** `application/json` or `application/x-protobuf`. */
  contentType: string;
  /** `identity`, `gzip` or `deflate`. */
  contentEncoding: string;
  spanCount: number;
}

export interface OtlpReceiver {
  /** Where to send OTLP/HTTP traces: `http://host:port/v1/traces`. */
  url: string;
  port: number;
  /** Every span received so far, in arrival order. */
  spans(): NormalisedSpan[];
  /** The accepted export requests, in arrival order. */
  requests(): ReceivedRequest[];
  /** Received spans grouped by trace id. */
  traces(): Map<string, NormalisedSpan[]>;
  /**
   * Resolves with all spans received once there are at least `condition` of them, or once
   * `condition(spans)` is true; rejects after `timeoutMs` (default 10 s).
   */
  waitForSpans(condition: SpanCondition, timeoutMs?: number): Promise<NormalisedSpan[]>;
  /** Forgets the spans received so far. */
  clear(): void;
  close(): Promise<void>;
}

const TRACES_PATH = '/v1/traces';
const JSON_TYPE = 'application/json';
const PROTOBUF_TYPES = new Set(['application/x-protobuf', 'application/protobuf']);
const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // An oversized body is still read to its end (and dropped), so the client gets the 413.
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    request.on('end', () =>
      size > limit ? reject(new HttpError(413, 'request body too large')) : resolve(Buffer.concat(chunks)),
    );
    request.on('error', reject);
  });
}

async function decompress(body: Buffer, name: string, limit: number): Promise<Buffer> {
  try {
    if (name === 'identity') return body;
    if (name === 'gzip') return await gunzipAsync(body, { maxOutputLength: limit });
    if (name === 'deflate') return await inflateAsync(body, { maxOutputLength: limit });
  } catch (error) {
    throw new HttpError(400, `cannot decompress the body: ${(error as Error).message}`);
  }
  throw new HttpError(415, `unsupported Content-Encoding: ${name}`);
}

function decode(body: Buffer, mediaType: string): NormalisedSpan[] {
  try {
    if (mediaType === JSON_TYPE) return decodeTraceRequestJson(JSON.parse(body.toString('utf8')));
    return decodeTraceRequestProtobuf(body);
  } catch (error) {
    throw new HttpError(400, `cannot decode the request: ${(error as Error).message}`);
  }
}

/**
 * A local OTLP/HTTP trace receiver, for demos and end-to-end tests: accepts
 * `POST /v1/traces` as OTLP/JSON or OTLP/protobuf, gzip/deflate or not, and keeps the spans.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const { port = 0, host = '127.0.0.1', maxBodyBytes = 64 * 1024 * 1024 } = options;
  let received: NormalisedSpan[] = [];
  let requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();

  const ingest = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== TRACES_PATH) throw new HttpError(404, `not found: ${path}`);
    if (request.method !== 'POST') {
      response.setHeader('Allow', 'POST');
      throw new HttpError(405, 'only POST is allowed');
    }
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== JSON_TYPE && !PROTOBUF_TYPES.has(mediaType)) {
      throw new HttpError(415, `unsupported Content-Type: ${mediaType || '(none)'}`);
    }
    const raw = await readBody(request, maxBodyBytes);
    const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase() || 'identity';
    const spans = decode(await decompress(raw, encoding, maxBodyBytes), mediaType);
    received = received.concat(spans);
    requests.push({ contentType: mediaType, contentEncoding: encoding, spanCount: spans.length });
    for (const wake of [...waiters]) wake();
    // An empty ExportTraceServiceResponse, in the request's encoding.
    response.writeHead(200, { 'Content-Type': mediaType });
    response.end(mediaType === JSON_TYPE ? '{}' : undefined);
  };

  const server = createServer((request, response) => {
    ingest(request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (response.headersSent) return;
      response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      response.end(error instanceof Error ? error.message : String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}${TRACES_PATH}`,
    port: address.port,
    spans: () => [...received],
    requests: () => [...requests],
    traces() {
      const byTrace = new Map<string, NormalisedSpan[]>();
      for (const span of received) {
        const spans = byTrace.get(span.traceId);
        if (spans) spans.push(span);
        else byTrace.set(span.traceId, [span]);
      }
      return byTrace;
    },
    waitForSpans(condition, timeoutMs = 10_000) {
      const met = (): boolean =>
        typeof condition === 'number' ? received.length >= condition : condition([...received]);
      return new Promise((resolve, reject) => {
        const check = (): void => {
          let done: boolean;
          try {
            done = met();
          } catch (error) {
            finish();
            reject(error);
            return;
          }
          if (!done) return;
          finish();
          resolve([...received]);
        };
        const timer = setTimeout(() => {
          finish();
          const wanted = typeof condition === 'number' ? `${condition} spans` : 'the expected spans';
          const names = received.map((span) => span.name).join(', ');
          reject(new Error(`timed out waiting for ${wanted}; received ${received.length}: ${names}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    clear() {
      received = [];
      requests = [];
    },
    close() {
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
