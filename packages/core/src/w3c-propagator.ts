import {
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  diag,
  propagation,
} from '@opentelemetry/api';
import { BaggagePropagator } from './baggage-propagator.js';
import { TraceContextPropagator } from './trace-context-propagator.js';

/**
 * Trace context and baggage together: what tracewire propagates when nobody registered a
 * propagator. A failing part is reported through `diag` and skipped, never thrown.
 */
export class W3CPropagator implements TextMapPropagator {
  readonly #parts: readonly TextMapPropagator[];
  readonly #fields: string[];

  constructor(parts: readonly TextMapPropagator[] = [new TraceContextPropagator(), new BaggagePropagator()]) {
    this.#parts = parts;
    this.#fields = [...new Set(parts.flatMap((part) => part.fields()))];
  }

  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    for (const part of this.#parts) {
      try {
        part.inject(context, carrier, setter);
      } catch (error) {
        diag.warn('@tracewire/core: a propagator failed to inject', error);
      }
    }
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    let result = context;
    for (const part of this.#parts) {
      try {
        result = part.extract(result, carrier, getter);
      } catch (error) {
        diag.warn('@tracewire/core: a propagator failed to extract', error);
      }
    }
    return result;
  }

  fields(): string[] {
    return this.#fields;
  }
}

const fallback = new W3CPropagator();

/**
 * The propagator an adapter uses when given none: the globally registered one, looked up on each
 * call so a registration made after the adapter was created still counts; tracewire's W3C
 * propagator while only the API's no-op is registered (its `fields()` is empty).
 */
export const defaultPropagator: TextMapPropagator = {
  inject(context, carrier, setter) {
    if (propagation.fields().length > 0) propagation.inject(context, carrier, setter);
    else fallback.inject(context, carrier, setter);
  },
  extract(context, carrier, getter) {
    return propagation.fields().length > 0
      ? propagation.extract(context, carrier, getter)
      : fallback.extract(context, carrier, getter);
  },
  fields() {
    const fields = propagation.fields();
    return fields.length > 0 ? fields : fallback.fields();
  },
};

/** The adapter's `propagator` option, else {@link defaultPropagator}. */
export function resolvePropagator(propagator: TextMapPropagator | undefined): TextMapPropagator {
  return propagator ?? defaultPropagator;
}
