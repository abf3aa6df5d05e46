import { reportOnce } from '@tracewire/core';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { type WaterfallOptions, renderWaterfall } from './waterfall.js';

export interface ConsoleExporterOptions extends WaterfallOptions {
  /** Where each drawn trace goes; default `process.stdout.write`. */
  write?: (text: string) => void;
  /** How long to wait for late spans once a trace's local root span ended; default 250 ms. */
  graceMillis?: number;
}

interface Pending {
  spans: ReadableSpan[];
  timer: NodeJS.Timeout | undefined;
  rootEnded: boolean;
}

/** A trace whose local root never ends (or never comes) is drawn after this much quiet. */
const IDLE_MILLIS = 10_000;
/** Bounds the memory held for traces that never finish: the oldest is drawn early. */
const MAX_PENDING_TRACES = 1_000;

/**
 * A SpanExporter that draws each finished trace as a waterfall. Spans are grouped by trace id; a
 * trace is drawn `graceMillis` after a span whose parent is not in this process (a local root)
 * ends, so its children from other async work still make it in.
 */
export function consoleWaterfallExporter(options: ConsoleExporterOptions = {}): SpanExporter {
  const { write = (text: string) => process.stdout.write(text), graceMillis = 250, width, color } = options;
  const render: WaterfallOptions = {};
  if (width !== undefined) render.width = width;
  if (color !== undefined) render.color = color;
  const pending = new Map<string, Pending>();

  const print = (traceId: string): void => {
    const trace = pending.get(traceId);
    if (!trace) return;
    clearTimeout(trace.timer);
    pending.delete(traceId);
    try {
      write(`${renderWaterfall(trace.spans, render)}\n\n`);
    } catch (error) {
      reportOnce('@tracewire/node: the console exporter could not print a trace', error);
    }
  };
  const schedule = (traceId: string, trace: Pending, delay: number): void => {
    clearTimeout(trace.timer);
    trace.timer = setTimeout(() => print(traceId), delay);
    trace.timer.unref();
  };

  return {
    export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
      for (const span of spans) {
        const traceId = span.spanContext().traceId;
        let trace = pending.get(traceId);
        if (!trace) {
          trace = { spans: [], timer: undefined, rootEnded: false };
          pending.set(traceId, trace);
          if (pending.size > MAX_PENDING_TRACES) print(pending.keys().next().value as string);
        }
        trace.spans.push(span);
        if (!span.parentSpanContext || span.parentSpanContext.isRemote === true) trace.rootEnded = true;
        schedule(traceId, trace, trace.rootEnded ? graceMillis : IDLE_MILLIS);
      }
      resultCallback({ code: ExportResultCode.SUCCESS });
    },
    async forceFlush(): Promise<void> {
      for (const traceId of [...pending.keys()]) print(traceId);
    },
    async shutdown(): Promise<void> {
      for (const traceId of [...pending.keys()]) print(traceId);
    },
  };
}
