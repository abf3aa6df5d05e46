import { type Context, type Span, createContextKey } from '@opentelemetry/api';

/** The key `trace.setSpan` writes (context keys are `Symbol.for`, so this is the same symbol). */
const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN');

/**
 * What `trace.setSpan(parent, span)` returns, without copying `parent` up front: the API's contexts
 * copy their whole Map on every `setValue`, and a span's context is mostly only read (a child's
 * parent, inject, `context.with`). It may also hold one more entry over `parent`, because adapters
 * write one right after the span (the request's trace, the "already traced" mark). Other keys are
 * read from `parent`; any further write or delete builds the real context once and derives from it,
 * so every result is the same as the API's.
 */
export class ContextWithSpan implements Context {
  readonly #parent: Context;
  readonly #span: Span;
  /** The one extra entry; `#key` undefined when there is none. */
  readonly #key: symbol | undefined;
  readonly #value: unknown;
  #flat: Context | undefined;

  private constructor(parent: Context, span: Span, key: symbol | undefined, value: unknown) {
    this.#parent = parent;
    this.#span = span;
    this.#key = key;
    this.#value = value;
  }

  /**
   * `parent` with `span` as its span. Never a layer over a layer: over one, the new span hides the
   * old, so it goes over that one's parent, keeping its extra entry. A read stays one hop, and no
   * chain of contexts can grow however deeply spans nest or loops re-enter their own context.
   */
  static of(parent: Context, span: Span): Context {
    if (parent instanceof ContextWithSpan)
      return new ContextWithSpan(parent.#parent, span, parent.#key, parent.#value);
    return new ContextWithSpan(parent, span, undefined, undefined);
  }

  getValue(key: symbol): unknown {
    if (key === SPAN_KEY) return this.#span;
    if (key === this.#key) return this.#value;
    return this.#parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    // Another span over this one (a child made active) replaces ours: still no copy.
    if (key === SPAN_KEY) return new ContextWithSpan(this.#parent, value as Span, this.#key, this.#value);
    // The extra entry, written for the first time or again.
    if (this.#key === undefined || key === this.#key)
      return new ContextWithSpan(this.#parent, this.#span, key, value);
    return this.#flatten().setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    // `parent` may hold a value of its own for either key (the caller's span), so it is deleted there.
    if (key === SPAN_KEY) {
      const without = this.#parent.deleteValue(key);
      return this.#key === undefined ? without : without.setValue(this.#key, this.#value);
    }
    if (key === this.#key) return ContextWithSpan.of(this.#parent.deleteValue(key), this.#span);
    return this.#flatten().deleteValue(key);
  }

  #flatten(): Context {
    if (this.#flat === undefined) {
      const withSpan = this.#parent.setValue(SPAN_KEY, this.#span);
      this.#flat = this.#key === undefined ? withSpan : withSpan.setValue(this.#key, this.#value);
    }
    return this.#flat;
  }
}
