import { type Context, type Span, createContextKey } from '@opentelemetry/api';

/** The key `trace.setSpan` writes (context keys are `Symbol.for`, so this is the same symbol). */
const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN');

/**
 * What `trace.setSpan(parent, span)` returns, without copying `parent` up front: the API's contexts
 * copy their whole Map on every `setValue`, and a span's context is mostly only read (a child's
 * parent, inject, `context.with`). Other keys are read from `parent`; the first write or delete
 * builds the real context once and derives from it, so every result is the same as the API's.
 */
export class ContextWithSpan implements Context {
  readonly #parent: Context;
  readonly #span: Span;
  #flat: Context | undefined;

  private constructor(parent: Context, span: Span) {
    this.#parent = parent;
    this.#span = span;
  }

  /**
   * `parent` with `span` as its span. Never a layer over a layer: over one, the new span hides the
   * old, so it goes over that one's parent. A read stays one hop, and no chain of contexts can grow
   * however deeply spans nest or loops re-enter their own context.
   */
  static of(parent: Context, span: Span): Context {
    return new ContextWithSpan(parent instanceof ContextWithSpan ? parent.#parent : parent, span);
  }

  getValue(key: symbol): unknown {
    return key === SPAN_KEY ? this.#span : this.#parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    // Another span over this one (a child made active) replaces ours: still no copy.
    if (key === SPAN_KEY) return new ContextWithSpan(this.#parent, value as Span);
    return this.#flatten().setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    // `parent` may hold a span of its own (the caller's), so it is deleted there too.
    if (key === SPAN_KEY) return this.#parent.deleteValue(key);
    return this.#flatten().deleteValue(key);
  }

  #flatten(): Context {
    if (this.#flat === undefined) this.#flat = this.#parent.setValue(SPAN_KEY, this.#span);
    return this.#flat;
  }
}
