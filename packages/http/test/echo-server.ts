// A plain node:http server on port 0 that answers with the headers it received, so tests can
// check exactly what went over the wire. `?status=404` sets the status, `?delay=ms` delays.
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
}

export interface EchoServer {
  url: string;
  port: number;
  /** What the server received, in order. */
  received: Received[];
  close(): Promise<void>;
}

export async function startEchoServer(): Promise<EchoServer> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const entry = { headers: request.headers, rawHeaders: request.rawHeaders };
    received.push(entry);
    const answer = (): void => {
      response.statusCode = Number(url.searchParams.get('status') ?? 200);
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(entry));
    };
    request.resume();
    request.on('end', () => {
      const delay = Number(url.searchParams.get('delay') ?? 0);
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** How many times a header was sent (case-insensitive), from the raw header list. */
export function headerCount(rawHeaders: string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === name) count++;
  return count;
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
