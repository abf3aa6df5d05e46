// Regression: with undici 7, `traceFetch(undici.fetch)` did not compile (undici's Request and
// Response types are not the global ones), so the type of the wrapper was the scenario under test.
import { SpanKind } from '@opentelemetry/api';
import { type FetchFunction, traceFetch } from '@tracewire/http';
import * as undici from 'undici';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';
import { type EchoServer, startEchoServer } from './echo-server.js';

const tracing = setupTracing();
let server: EchoServer;

beforeAll(async () => {
  server = await startEchoServer();
});
afterAll(async () => {
  await server.close();
  await tracing.shutdown();
});

describe("traceFetch wraps undici's own fetch (undici 7 types)", () => {
  it("keeps undici's fetch type and traces its requests", async () => {
    const fetch = traceFetch(undici.fetch);
    expectTypeOf(fetch).toEqualTypeOf<typeof undici.fetch>();
    const response = await fetch(`${server.url}/undici`, { method: 'POST', body: 'x' });
    expectTypeOf(response).toEqualTypeOf<undici.Response>();
    expect(response.status).toBe(200);
    const [client] = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
    expect(client?.name).toBe('POST');
    expect(server.received[0]?.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/);
  });

  it('the global fetch still gives the global types', () => {
    expectTypeOf(traceFetch()).toEqualTypeOf<FetchFunction>();
    expectTypeOf(traceFetch(globalThis.fetch)).toEqualTypeOf<typeof globalThis.fetch>();
  });
});
