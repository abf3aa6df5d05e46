// Differential testing of the HTTP adapters (issue #10 §3): the same scenario runs through the bare
// library and through tracewire, and everything the application can observe is compared, never
// the spans. Shared by the Express, Fastify and HTTP client suites.
import { spawn } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/** Headers tracing may add or that differ between any two responses. */
const UNCOMPARED = new Set(['traceparent', 'tracestate', 'baggage', 'server-timing', 'date']);

/** What a client saw of one exchange. */
export interface Observed {
  status?: number;
  headers?: Record<string, string>;
  /** The body bytes, base64. */
  body?: string;
  /** How the exchange failed, as the client saw it (an error name or code). */
  error?: string;
}

/** Response headers as compared: lower-case names, sorted, less the trace headers and `date`. */
export function comparableHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers).sort()) {
    const lower = name.toLowerCase();
    const value = headers[name];
    if (UNCOMPARED.has(lower) || value === undefined) continue;
    out[lower] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** How a raw client behaves in a server scenario. */
export type ClientAction =
  /** Sends the request and reads the whole response. */
  | 'complete'
  /** Sends the headers and part of the declared body, then closes the connection. */
  | 'abort-before-body'
  /** Reads the response headers and the first body bytes, then closes. */
  | 'abort-mid-stream'
  /** Reads the response headers, then closes. */
  | 'abort-after-headers';

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  action?: ClientAction;
}

/**
 * One request on a fresh connection, driven byte by byte, so a scenario can leave at an exact
 * point. Resolves with what the client saw; a connection closed without a response is
 * `error: 'closed'`.
 */
export function rawExchange(port: number, request: RawRequest): Promise<Observed> {
  const { method, path, headers = {}, body, action = 'complete' } = request;
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (observed: Observed): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(observed);
    };
    socket.on('error', () => finish({ error: 'closed' }));
    socket.on('connect', () => {
      if (action === 'abort-before-body') {
        socket.write(head + (body ?? '').slice(0, Math.floor((body ?? '').length / 2)));
        setTimeout(() => finish({ error: 'left' }), 30);
        return;
      }
      socket.write(body === undefined ? head : head + body);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const received = Buffer.concat(chunks);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      const parsed = parseHead(received.subarray(0, end).toString('latin1'));
      if (action === 'abort-after-headers') finish(parsed);
      else if (action === 'abort-mid-stream' && received.length > end + 4) finish(parsed);
    });
    socket.on('end', () => {
      const received = Buffer.concat(chunks);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        finish({ error: 'closed' });
        return;
      }
      const parsed = parseHead(received.subarray(0, end).toString('latin1'));
      const rest = received.subarray(end + 4);
      const chunked = parsed.headers?.['transfer-encoding'] === 'chunked';
      finish({ ...parsed, body: (chunked ? dechunk(rest) : rest).toString('base64') });
    });
  });
}

function parseHead(text: string): Observed {
  const [statusLine = '', ...headerLines] = text.split('\r\n');
  const headers: Record<string, string[]> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const values = headers[name] ?? [];
    values.push(line.slice(colon + 1).trim());
    headers[name] = values;
  }
  return { status: Number(statusLine.split(' ')[1]), headers: comparableHeaders(headers) };
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** What a child process showed: its exit code and the process events its script reported. */
export interface ChildOutcome {
  code: number | null;
  /** The JSON the script printed on its last stdout line, if any. */
  report: unknown;
  /** The error line of Node's crash report on stderr (`Error: message`), if it crashed. */
  crashedWith: string | undefined;
}

/** Runs a plain Node script (it imports the built packages) and collects what it reported. */
export function runChild(script: string, args: string[], timeoutMs = 20_000): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      let report: unknown;
      try {
        report = last === '' ? undefined : JSON.parse(last);
      } catch {
        report = last;
      }
      // Node 20 prints `TypeError: fetch failed`; Node 24 prints `[TypeError: fetch failed] {`.
      const crash = code === 0 ? undefined : /^\[?(\w*Error|UnhandledPromiseRejection)[^\n]*$/m.exec(stderr);
      // Ports are the run's, not the app's: `127.0.0.1:41234` is compared as `127.0.0.1:PORT`.
      resolve({ code, report, crashedWith: crash?.[0].replace(/(127\.0\.0\.1|localhost):\d+/g, '$1:PORT') });
    });
  });
}

/** Waits until `check` holds, or `timeoutMs` passed (then resolves too: the comparison judges). */
export async function settle(check: () => boolean, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}
