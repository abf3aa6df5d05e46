// Shared by the Express and Fastify tests: a Node server on port 0, a byte-exact raw request, the
// signals of the apps' slow handler, what a handler sees of tracing, and the caller's context.
import { type RequestListener, type Server, createServer } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { context, propagation, trace } from '@opentelemetry/api';

export interface Listening {
  port: number;
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1, port 0, accepting headers up to 256 KB (tests send 100 KB ones). */
export async function listen(handler: RequestListener): Promise<Listening> {
  const server = createServer({ maxHeaderSize: 256 * 1024 }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string[]>;
  body: string;
}

/**
 * Sends one request byte for byte (duplicate headers, non-ASCII bytes and all) on a fresh
 * connection, and reads the whole response.
 */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: ReadonlyArray<readonly [string, string | Buffer]> = [],
  body?: string,
): Promise<RawResponse> {
  const parts: Buffer[] = [
    Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`, 'latin1'),
  ];
  for (const [name, value] of headers) {
    parts.push(
      Buffer.from(`${name}: `, 'latin1'),
      Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'),
    );
    parts.push(Buffer.from('\r\n'));
  }
  if (body !== undefined) parts.push(Buffer.from(`Content-Length: ${Buffer.byteLength(body)}\r\n`));
  parts.push(Buffer.from('Connection: close\r\n\r\n'));
  if (body !== undefined) parts.push(Buffer.from(body));
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    });
    socket.write(Buffer.concat(parts));
  });
}

function parseResponse(data: Buffer): RawResponse {
  const split = data.indexOf('\r\n\r\n');
  const head = data.subarray(0, split).toString('latin1').split('\r\n');
  const status = Number(head[0]!.split(' ')[1]);
  const headers: Record<string, string[]> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const values = headers[name] ?? [];
    values.push(line.slice(colon + 1).trim());
    headers[name] = values;
  }
  let body = data.subarray(split + 4);
  if (headers['transfer-encoding']?.[0] === 'chunked') body = dechunk(body);
  return { status, headers, body: body.toString('utf8') };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!size) return Buffer.concat(out);
    out.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/** A promise with its resolve function, to hand signals between a handler and a test. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Signals from the apps' slow handler, for the aborted-request tests. */
export const slow = {
  started: deferred(),
  release: deferred(),
  finished: deferred(),
  reset(): void {
    slow.started = deferred();
    slow.release = deferred();
    slow.finished = deferred();
  },
};

/** What a handler or hook sees of tracing: the active span and the baggage. */
export function seen(): { traceId?: string; spanId?: string; baggage: Record<string, string> } {
  const spanContext = trace.getActiveSpan()?.spanContext();
  const baggage = propagation.getBaggage(context.active());
  return {
    traceId: spanContext?.traceId,
    spanId: spanContext?.spanId,
    baggage: Object.fromEntries((baggage?.getAllEntries() ?? []).map(([key, entry]) => [key, entry.value])),
  };
}

export const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const CALLER_SPAN_ID = '00f067aa0ba902b7';
export const CALLER_TRACEPARENT = `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`;
