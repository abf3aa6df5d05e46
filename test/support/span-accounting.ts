// Span accounting: every span started by an SDK provider of the test process is tracked until it
// ends, and every second `end()` is recorded. The setup file (invariants.ts) fails the test that
// leaves a span open or ends one twice. Providers made by `setupTracing()` carry the processor;
// a suite that builds its own provider adds `spanAccounting()` to its span processors.
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface TrackedSpan {
  name: string;
  spanId: string;
  /** The test that was running when the span started; undefined in a file-level hook. */
  test: string | undefined;
}

interface Ledger {
  open: Map<Span, TrackedSpan>;
  doubleEnded: TrackedSpan[];
  currentTest: string | undefined;
  /** How many spans were started in the current test. */
  startedInTest: number;
}

const LEDGER = Symbol.for('tracewire.test.span-ledger');

/** The process-wide ledger, shared by every provider's processor and by the setup file. */
export function ledger(): Ledger {
  const holder = globalThis as { [LEDGER]?: Ledger };
  holder[LEDGER] ??= { open: new Map(), doubleEnded: [], currentTest: undefined, startedInTest: 0 };
  return holder[LEDGER];
}

/** A span processor that enters each started span in the ledger and wraps its `end`. */
export function spanAccounting(): SpanProcessor {
  return {
    onStart(span: Span, _parent: Context): void {
      const book = ledger();
      const entry: TrackedSpan = {
        name: span.name,
        spanId: span.spanContext().spanId,
        test: book.currentTest,
      };
      book.open.set(span, entry);
      book.startedInTest += 1;
      const end = span.end;
      let ends = 0;
      // Wrapped rather than read from onEnd: the SDK calls onEnd once, but a second end() is the bug.
      span.end = function accountedEnd(this: Span, ...args: Parameters<Span['end']>): void {
        ends += 1;
        if (ends === 2) ledger().doubleEnded.push(entry);
        end.apply(this, args);
      };
    },
    onEnd(span: ReadableSpan): void {
      ledger().open.delete(span as Span);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/** Open spans started in `test` (or, with `undefined`, every open span). */
export function openSpans(test?: string): TrackedSpan[] {
  const all = [...ledger().open.values()];
  return test === undefined ? all : all.filter((span) => span.test === test);
}

/** Forgets spans, so one failure is reported once, not again by every later test. */
export function forget(spans: TrackedSpan[]): void {
  const book = ledger();
  const ids = new Set(spans.map((span) => span.spanId));
  for (const [span, entry] of book.open) if (ids.has(entry.spanId)) book.open.delete(span);
}

export function describeSpans(spans: TrackedSpan[]): string {
  return spans.map((span) => `"${span.name}" (${span.spanId})`).join(', ');
}
