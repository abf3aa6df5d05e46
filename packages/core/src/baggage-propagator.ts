import {
  type BaggageEntry,
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  baggageEntryMetadataFromString,
  propagation,
} from '@opentelemetry/api';
import { type BaggageMember, formatBaggage, parseBaggage } from './baggage.js';
import { reportOnce } from './report.js';
import { isTracingSuppressed } from './suppressed.js';

export const BAGGAGE_HEADER = 'baggage';

/** W3C Baggage as an OpenTelemetry `TextMapPropagator`, properties kept as entry metadata. */
export class BaggagePropagator implements TextMapPropagator {
  /** Never throws: a failing setter or a hostile baggage is reported once through `diag`. */
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    try {
      this.#inject(context, carrier, setter);
    } catch (error) {
      reportOnce('@tracewire/core: baggage could not be injected', error);
    }
  }

  #inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const baggage = propagation.getBaggage(context);
    if (!baggage || isTracingSuppressed(context)) return;
    const header = formatBaggage(toMembers(baggage.getAllEntries()));
    if (header) setter.set(carrier, BAGGAGE_HEADER, header);
  }

  /** Never throws: when the getter or carrier throws, the context comes back as it was. */
  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    try {
      return this.#extract(context, carrier, getter);
    } catch (error) {
      reportOnce('@tracewire/core: baggage could not be extracted', error);
      return context;
    }
  }

  #extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const members = parseBaggage(getter.get(carrier, BAGGAGE_HEADER));
    if (!members) return context;
    // A null prototype: `__proto__` is a valid baggage key and must stay plain data.
    const entries: Record<string, BaggageEntry> = Object.create(null);
    for (const member of members) {
      entries[member.key] = member.properties
        ? { value: member.value, metadata: baggageEntryMetadataFromString(member.properties) }
        : { value: member.value };
    }
    return propagation.setBaggage(context, propagation.createBaggage(entries));
  }

  fields(): string[] {
    return [BAGGAGE_HEADER];
  }
}

/** An entry that cannot be read (its metadata's `toString` throws, say) is left out. */
function* toMembers(entries: Array<[string, BaggageEntry]>): Iterable<BaggageMember> {
  for (const item of entries) {
    let member: BaggageMember;
    try {
      const [key, entry] = item;
      const properties: unknown = entry.metadata?.toString();
      member =
        typeof properties === 'string' && properties !== ''
          ? { key, value: entry.value, properties }
          : { key, value: entry.value };
    } catch {
      continue;
    }
    yield member;
  }
}
