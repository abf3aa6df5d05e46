import { SpanKind, trace } from '@opentelemetry/api';
import { createIncomingSpans, headerGetter } from '@tracewire/core';
import { afterAll, describe, expect, it } from 'vitest';
import { setupTracing } from '../../../test/support/tracing.js';

const tracing = setupTracing();
afterAll(() => tracing.shutdown());

describe('smoke', () => {
  it('continues an incoming trace', () => {
    const incoming = createIncomingSpans(
      {},
      { packageName: 'x', version: '1' },
      SpanKind.SERVER,
      headerGetter,
    );
    const scope = incoming.start(
      {},
      { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      'GET',
    );
    scope.run(() => expect(trace.getActiveSpan()).toBe(scope.span));
    scope.end();
    const [span] = tracing.spans();
    expect(span?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
  });
});
