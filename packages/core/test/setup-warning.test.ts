import { DiagLogLevel, diag, SpanKind } from '@opentelemetry/api';
import { createOutgoingSpans, headerSetter } from '@tracewire/core';
import { expect, it } from 'vitest';

// No SDK and no context manager registered in this file, on purpose.
it('says once, through diag, that no context manager is registered, naming startTracing', () => {
  const warnings: string[] = [];
  diag.setLogger(
    {
      warn: (message: string) => warnings.push(message),
      error: () => {},
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  const outgoing = createOutgoingSpans({}, { packageName: 'p', version: '0' }, SpanKind.CLIENT, headerSetter);
  outgoing.start({}, 'GET').end();
  outgoing.start({}, 'GET').end();
  diag.disable();
  const mentions = warnings.filter((w) => w.includes('startTracing()'));
  expect(mentions).toHaveLength(1);
  expect(mentions[0]).toMatch(/no OpenTelemetry context manager is registered/);
});
