// Types for expect.mjs.
import type { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { NormalisedSpan } from '@tracewire/node';
import type { DemoOrder, RunNames } from './system.mjs';

export interface ExpectedSpan {
  service: string;
  kind: SpanKind;
  name: string;
  status: SpanStatusCode;
  attributes: Record<string, unknown>;
  children: ExpectedSpan[];
}

export declare const RESERVE: string;
export declare function expectedSpanCount(order: DemoOrder): number;
export declare function expectedTree(order: DemoOrder, names: RunNames): ExpectedSpan;
export declare function describeSpan(span: NormalisedSpan): string;
export declare function checkTrace(
  spans: NormalisedSpan[],
  expected: { traceId: string; rootSpanId: string; order: DemoOrder; names: RunNames },
): string[];
export declare function hops(spans: NormalisedSpan[]): string[];
