// Hand-made spans for the waterfall tests: times in milliseconds from a fixed epoch instant.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { WaterfallSpan } from '@tracewire/node';

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const EPOCH_NANOS = 1_700_000_000_000_000_000n;

export function at(ms: number): string {
  return (EPOCH_NANOS + BigInt(Math.round(ms * 1e6))).toString();
}

export function span(
  spanId: string,
  parentSpanId: string | undefined,
  name: string,
  [from, to]: [number, number],
  extra: Partial<WaterfallSpan> = {},
): WaterfallSpan {
  const result: WaterfallSpan = {
    traceId: TRACE_ID,
    spanId: spanId.padStart(16, '0'),
    name,
    kind: SpanKind.INTERNAL,
    startTimeUnixNano: at(from),
    endTimeUnixNano: at(to),
    serviceName: 'api',
    ...extra,
  };
  if (parentSpanId) result.parentSpanId = parentSpanId.padStart(16, '0');
  return result;
}

/** A checkout: an API calling a database, publishing to a worker, and a failing HTTP call. */
export function checkoutTrace(): WaterfallSpan[] {
  return [
    span('a1', undefined, 'POST /checkout', [0, 120], { kind: SpanKind.SERVER, serviceName: 'api-gateway' }),
    span('a2', 'a1', 'SELECT orders', [5, 25], { kind: SpanKind.CLIENT, serviceName: 'api-gateway' }),
    span('a3', 'a1', 'send orders', [25, 30], { kind: SpanKind.PRODUCER, serviceName: 'api-gateway' }),
    span('b1', 'a3', 'process orders', [40, 100], {
      kind: SpanKind.CONSUMER,
      serviceName: 'worker',
      events: [{ name: 'retry', timeUnixNano: at(60), attributes: { attempt: 2, reason: 'lock timeout' } }],
    }),
    span('a4', 'a1', 'GET', [32, 70], {
      kind: SpanKind.CLIENT,
      serviceName: 'api-gateway',
      status: { code: SpanStatusCode.ERROR, message: 'connect ECONNREFUSED' },
      events: [
        {
          name: 'exception',
          timeUnixNano: at(70),
          attributes: {
            'exception.type': 'Error',
            'exception.message': 'connect ECONNREFUSED',
            'exception.stacktrace': 'Error: connect ECONNREFUSED\n    at ...',
          },
        },
      ],
    }),
  ];
}
